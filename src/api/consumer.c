/*
 * consumer.c
 *		Consumers over the change log: cdc.create_consumer,
 *		cdc.drop_consumer, cdc.checkpoint, and what the other SQL functions of
 *		the API share (the extension owner's SPI session, argument parsing,
 *		loading a consumer with its ownership and gap checks).
 *
 * A consumer is one row of cdc.consumer_state: its filters and its committed
 * checkpoint (commit_lsn, seq).  It owns no slot, so creating, dropping and
 * checkpointing are ordinary transactional writes: a rolled-back create,
 * drop or checkpoint leaves nothing changed, and a checkpoint written in the
 * sink's transaction makes processing exactly-once.
 *
 * Security: none of these functions is SECURITY DEFINER.  They run as their
 * caller, check that the caller has the privileges of the consumer's owner
 * (superusers and members of the owning role do), and run their statements
 * on the extension's tables as the extension's owner, with search_path
 * pinned to pg_catalog, pg_temp (CdcOwnerBegin/End).
 */
#include "cdc_api.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/pg_lsn.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "cdc_glob.h"

PG_FUNCTION_INFO_V1(cdc_create_consumer);
PG_FUNCTION_INFO_V1(cdc_drop_consumer);
PG_FUNCTION_INFO_V1(cdc_checkpoint);

static SPIPlanPtr load_plan = NULL;
static SPIPlanPtr load_lock_plan = NULL;
static SPIPlanPtr set_checkpoint_plan = NULL;

/*
 * A plan prepared once per backend and kept (inside CdcOwnerBegin/End, so
 * that it is parsed with the pinned search_path; plancache replans it after
 * DDL on what it reads, e.g. DROP and CREATE EXTENSION).
 */
SPIPlanPtr
CdcPreparePlan(SPIPlanPtr *cache, const char *query, int nargs, Oid *argtypes,
			   int cursor_options)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(query, nargs, argtypes, cursor_options);

		if (plan == NULL)
			elog(ERROR, "cdc_ext: preparing \"%s\" failed: %s", query,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "cdc_ext: SPI_keepplan failed");
		*cache = plan;
	}
	return *cache;
}

/* text[] argument to a list of C strings: no nulls, valid patterns. */
List *
CdcTextArrayToList(ArrayType *arr, const char *argname)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;

	if (arr == NULL)
		return NIL;
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		char	   *s;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" must not contain nulls", argname)));
		s = TextDatumGetCString(elems[i]);
		if (s[0] == '\0' || !cdc_glob_is_valid(s, strlen(s)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid pattern \"%s\" in argument \"%s\"", s, argname),
					 errhint("A pattern is a non-empty glob: \"*\" matches any text, \"?\" one character, and \"\\\" makes the next character literal.")));
		result = lappend(result, s);
	}
	return result;
}

/*
 * cdc.operation[] argument to a CDC_OP_* mask; NULL means every table
 * operation (not messages).  An empty array or a null element is an error.
 */
uint8
CdcOperationArrayToMask(ArrayType *arr, const char *argname, bool *messages)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	uint8		mask = 0;

	*messages = false;
	if (arr == NULL)
		return CDC_OP_ALL;
	deconstruct_array(arr, ARR_ELEMTYPE(arr), sizeof(Oid), true, TYPALIGN_INT,
					  &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must not be an empty array", argname),
				 errhint("Leave it NULL for insert, update, delete and truncate, or list the operations wanted.")));
	for (int i = 0; i < n; i++)
	{
		char	   *label;
		int			op;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" must not contain nulls", argname)));
		label = DatumGetCString(DirectFunctionCall1(enum_out, elems[i]));
		if (strcmp(label, "message") == 0)
		{
			*messages = true;
			continue;
		}
		op = CdcParseOperation(label);
		if (op == 0)
			elog(ERROR, "cdc_ext: unexpected operation \"%s\"", label);
		mask |= op;
	}
	return mask;
}

/*
 * An argument that has no meaning as NULL: 22004 naming it, with hint.
 * None of the API's functions is STRICT, so that a NULL never makes a call
 * silently return nothing (SELECT * FROM cdc.trim(NULL) once did).
 */
void
CdcRequireArg(FunctionCallInfo fcinfo, int argno, const char *argname, const char *hint)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", argname),
				 hint ? errhint("%s", hint) : 0));
}

/* The consumer name argument: not null. */
char *
CdcConsumerNameArg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("consumer name must not be null"),
				 errhint("SELECT name FROM cdc.consumers lists the consumers you may use.")));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static void
check_consumer_name(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0 || len > 48 || strspn(name, "abcdefghijklmnopqrstuvwxyz"
										"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid consumer name \"%s\"", name),
				 errhint("A consumer name has 1 to 48 characters among letters, digits, \"_\", \".\" and \"-\".")));
}

/*
 * Load consumer name into *c, in the caller's memory context (inside
 * CdcOwnerBegin/End), or raise the error that says why the invoker may not
 * use it: 42704 when there is no such consumer, 42501 when it belongs to a
 * role whose privileges the invoker does not have (no check when invoker
 * is InvalidOid: the horizon hook).  With CDC_LOCK_UPDATE
 * the row is locked FOR UPDATE: a concurrent consume, checkpoint or drop of
 * it waits for this transaction, then sees what it committed.
 */
void
CdcConsumerGet(const char *name, CdcLockMode lock, Oid invoker, CdcConsumer *c)
{
	static const char *query =
		"SELECT c.id, c.owner, c.entities, c.exclude_entities, "
		"c.operations::pg_catalog.text[], c.checkpoint_lsn, c.checkpoint_seq, "
		"c.gap_from, c.gap_to, c.gap_reason, s.oldest_lsn, s.confirmed_lsn "
		"FROM cdc.consumer_state c, cdc.log_state s "
		"WHERE c.name OPERATOR(pg_catalog.=) $1";
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext old;
	SPIPlanPtr	plan;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;
	List	   *ops;
	ListCell   *lc;

	if (lock == CDC_LOCK_UPDATE)
		plan = CdcPreparePlan(&load_lock_plan,
							  psprintf("%s FOR UPDATE OF c", query), 1, argtypes, 0);
	else
		plan = CdcPreparePlan(&load_plan, query, 1, argtypes, 0);
	args[0] = CStringGetTextDatum(name);
	if (SPI_execute_plan(plan, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading consumer state failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer \"%s\" does not exist", name),
				 errhint("SELECT name FROM cdc.consumers lists the consumers you may use; cdc.create_consumer() makes one.")));

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	old = MemoryContextSwitchTo(cxt);
	memset(c, 0, sizeof(*c));
	c->name = pstrdup(name);
	c->id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	c->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
	/* the owner is not named: who owns what is not the invoker's business */
	if (OidIsValid(invoker) && !has_privs_of_role(invoker, c->owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for consumer \"%s\"", name),
				 errdetail("Consumer \"%s\" belongs to another role.", name),
				 errhint("Only its owner, members of the owning role and superusers may read, checkpoint or drop a consumer.")));
	c->entities = CdcSpiTextList(tup, desc, 3);
	c->exclude_entities = CdcSpiTextList(tup, desc, 4);
	c->operations = CDC_OP_ALL;
	ops = CdcSpiTextList(tup, desc, 5);
	if (ops != NIL)
		c->operations = 0;
	foreach(lc, ops)
	{
		if (strcmp(lfirst(lc), "message") == 0)
			c->messages = true;
		else
			c->operations |= CdcParseOperation(lfirst(lc));
	}
	c->checkpoint_lsn = DatumGetLSN(SPI_getbinval(tup, desc, 6, &isnull));
	c->checkpoint_seq = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
	d = SPI_getbinval(tup, desc, 8, &isnull);
	c->gap_from = isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
	d = SPI_getbinval(tup, desc, 9, &isnull);
	c->gap_to = isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
	d = SPI_getbinval(tup, desc, 10, &isnull);
	c->gap_reason = isnull ? NULL : TextDatumGetCString(d);
	c->oldest_lsn = DatumGetLSN(SPI_getbinval(tup, desc, 11, &isnull));
	c->confirmed_lsn = DatumGetLSN(SPI_getbinval(tup, desc, 12, &isnull));
	MemoryContextSwitchTo(old);
}

/* The consumer's stored filters as one filter layer. */
List *
CdcConsumerFilters(const CdcConsumer *c)
{
	CdcFilter  *f = palloc0(sizeof(CdcFilter));

	f->entities = c->entities;
	f->exclude_entities = c->exclude_entities;
	f->operations = c->operations;
	return list_make1(f);
}

/*
 * A consumer that has not read changes the log no longer holds gets an
 * ERROR naming the lost range, never an empty result.  Two causes:
 * trim or retention recorded a gap (it had not read a change it may see);
 * or its checkpoint is behind the log's horizon without a recorded
 * decision.  The way out is the same and is exactly what the hint says:
 * a checkpoint at the end of the range, which cdc.checkpoint accepts.
 */
void
CdcConsumerCheckGap(const CdcConsumer *c)
{
	XLogRecPtr	from;
	XLogRecPtr	to;
	bool		recorded = false;

	if (!XLogRecPtrIsInvalid(c->gap_to) && c->checkpoint_lsn < c->gap_to)
	{
		from = XLogRecPtrIsInvalid(c->gap_from) ? c->checkpoint_lsn : c->gap_from;
		to = c->gap_to;
		recorded = true;
	}
	else if (c->checkpoint_lsn < c->oldest_lsn)
	{
		from = c->checkpoint_lsn;
		to = c->oldest_lsn;
	}
	else
		return;

	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("consumer \"%s\" has lost changes committed between %X/%X and %X/%X",
					c->name, LSN_FORMAT_ARGS(from), LSN_FORMAT_ARGS(to)),
			 recorded && c->gap_reason &&
			 strncmp(c->gap_reason, CDC_NEVER_LOGGED, strlen(CDC_NEVER_LOGGED)) == 0 ?
			 errdetail("They were never logged: %s.", c->gap_reason + strlen(CDC_NEVER_LOGGED)) :
			 recorded ?
			 errdetail("They were removed from the change log (%s) before the consumer had read them.",
					   c->gap_reason ? c->gap_reason : "trim") :
			 errdetail("The change log no longer holds changes committed before %X/%X, and the consumer's checkpoint is behind that.",
					   LSN_FORMAT_ARGS(to)),
			 errhint("Re-sync the consumer's target from a snapshot of the tables, then accept the gap with SELECT cdc.checkpoint('%s', '%X/%X');",
					 c->name, LSN_FORMAT_ARGS(to))));
}

/* Store a new checkpoint (inside CdcOwnerBegin/End; the caller checked it).  Reaching
 * the end of a recorded gap accepts it. */
void
CdcConsumerSetCheckpoint(const char *name, XLogRecPtr lsn, int32 seq)
{
	Oid			argtypes[3] = {TEXTOID, PG_LSNOID, INT4OID};
	Datum		args[3];
	SPIPlanPtr	plan;

	plan = CdcPreparePlan(&set_checkpoint_plan,
						  "UPDATE cdc.consumer_state SET checkpoint_lsn = $2, checkpoint_seq = $3, "
						  "checkpoint_at = pg_catalog.now(), "
						  "gap_from = CASE WHEN gap_to OPERATOR(pg_catalog.<=) $2 THEN NULL ELSE gap_from END, "
						  "gap_reason = CASE WHEN gap_to OPERATOR(pg_catalog.<=) $2 THEN NULL ELSE gap_reason END, "
						  "gap_to = CASE WHEN gap_to OPERATOR(pg_catalog.<=) $2 THEN NULL ELSE gap_to END "
						  "WHERE name OPERATOR(pg_catalog.=) $1",
						  3, argtypes, 0);
	args[0] = CStringGetTextDatum(name);
	args[1] = LSNGetDatum(lsn);
	args[2] = Int32GetDatum(seq);
	if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "cdc_ext: updating the checkpoint failed");
}

/*
 * While a backend reads a consumer it holds a shared advisory lock on it,
 * for cdc.consumers' active_readers (counted from pg_locks).  Transaction
 * level, released by the reader when done, or by abort.
 */
static void
reader_locktag(LOCKTAG *tag, int32 consumer_id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, CDC_READER_LOCK_CLASSID,
						 (uint32) consumer_id, CDC_READER_LOCK_SUBID);
}

void
CdcReaderLockAcquire(int32 consumer_id)
{
	LOCKTAG		tag;

	reader_locktag(&tag, consumer_id);
	(void) LockAcquire(&tag, ShareLock, false, false);
}

void
CdcReaderLockRelease(int32 consumer_id)
{
	LOCKTAG		tag;

	reader_locktag(&tag, consumer_id);
	(void) LockRelease(&tag, ShareLock, false);
}

/* Is str a timestamptz ('now' and the like excluded)?  Sets *ts.  Never throws. */
static bool
parse_timestamptz(const char *str, TimestampTz *ts)
{
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	struct pg_tm tt;
	fsec_t		fsec;
	int			tz;

	if (strlen(str) > MAXDATELEN)
		return false;
	if (ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype,
					  MAXDATEFIELDS, &nf) != 0)
		return false;
	if (CdcDecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, &tz) != 0)
		return false;
	if (dtype != DTK_DATE)
		return false;
	return tm2timestamp(&tt, fsec, &tz, ts) == 0 && IS_VALID_TIMESTAMP(*ts);
}

static void
bad_start(const char *start, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid start value \"%s\"", start),
			 detail ? errdetail("%s", detail) : 0,
			 errhint("start is 'now', 'beginning' (everything the log retains), a timestamptz such as '2026-01-31 12:00:00+00', or an LSN such as '0/16B3748'.")));
}

/*
 * A timestamp start (cdc.create_consumer, cdc.create_group,
 * cdc.reset_group): the commit_lsn of the first logged change committed at
 * or after ts that role receives through filters (its privileges now),
 * else where the log is complete.  Only changes the role may see decide the
 * position, so it tells nothing about tables the role may not read; a
 * change the role cannot see now is skipped, also if a later GRANT would
 * show it.  An ERROR (22023) when changes committed at or after ts were
 * removed from the log (cdc.log_state.horizon_time, the commit time of the
 * last removed change), however little of the log is left: such a start
 * would begin with a gap.  Inside CdcOwnerBegin/End.
 */
XLogRecPtr
CdcStartAtTime(const char *start, TimestampTz ts, Oid role, List *filters, bool messages)
{
	Oid			argtypes[2] = {TIMESTAMPTZOID, PG_LSNOID};
	Datum		args[2];
	XLogRecPtr	oldest;
	XLogRecPtr	confirmed;
	bool		isnull;
	Datum		d;
	CdcLogScan	scan;

	if (SPI_execute("SELECT oldest_lsn, confirmed_lsn, horizon_time FROM cdc.log_state", false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "cdc_ext: reading cdc.log_state failed");
	oldest = DatumGetLSN(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	confirmed = DatumGetLSN(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	if (!isnull && DatumGetTimestampTz(d) >= ts)
		bad_start(start, psprintf("Changes committed at or after it were removed from the change log, which now starts at %X/%X; 'beginning' starts there.",
								  LSN_FORMAT_ARGS(oldest)));

	/* the first retained change at or after ts, of any table */
	args[0] = TimestampTzGetDatum(ts);
	args[1] = LSNGetDatum(oldest);
	if (SPI_execute_with_args("SELECT l.commit_lsn, l.seq FROM cdc.log l WHERE l.chunk OPERATOR(pg_catalog.>=) "
							  "  coalesce((SELECT pg_catalog.min(c.chunk) FROM cdc.log_chunk c "
							  "   WHERE c.last_timestamp IS NULL OR c.last_timestamp OPERATOR(pg_catalog.>=) $1), 0) "
							  "AND l.\"timestamp\" OPERATOR(pg_catalog.>=) $1 AND l.commit_lsn OPERATOR(pg_catalog.>=) $2 "
							  "ORDER BY l.commit_lsn, l.seq LIMIT 1",
							  2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading cdc.log failed");
	if (SPI_processed == 0)
		return Max(confirmed, oldest);

	/* from there, the first one role receives */
	memset(&scan, 0, sizeof(scan));
	scan.after_lsn = DatumGetLSN(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	scan.after_seq = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)) - 1;
	scan.before_lsn = InvalidXLogRecPtr;
	scan.has_from_ts = true;
	scan.from_ts = ts;
	scan.limit = 1;
	scan.rf = CdcReadFilterCreate(role, filters, messages, false);
	CdcLogScanRun(&scan);
	if (scan.returned > 0)
		return scan.last_lsn;
	return Max(confirmed, oldest);
}

/*
 * Where a new consumer starts: the checkpoint (lsn, 0), i.e. it receives the
 * changes of transactions that committed at or after lsn.
 *   now:        the current WAL insert position;
 *   beginning:  the log's horizon (everything retained);
 *   an LSN:     that LSN, which must still be in the log and not in the future;
 *   a time:     CdcStartAtTime, for the consumer's filters and its creator.
 * Inside CdcOwnerBegin/End.
 */
static XLogRecPtr
start_position(const char *start, Oid role, List *filters, bool messages)
{
	XLogRecPtr	oldest;
	XLogRecPtr	lsn;
	bool		have_error = false;
	TimestampTz ts;
	bool		isnull;

	if (SPI_execute("SELECT oldest_lsn FROM cdc.log_state", false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "cdc_ext: reading cdc.log_state failed");
	oldest = DatumGetLSN(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	if (pg_strcasecmp(start, "now") == 0)
	{
		if (RecoveryInProgress())
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot create a consumer during recovery"),
					 errhint("Create consumers on the primary.")));
		CdcLogWaitStarted();
		return GetXLogInsertRecPtr();
	}
	if (pg_strcasecmp(start, "beginning") == 0)
		return oldest;

	lsn = pg_lsn_in_internal(start, &have_error);
	if (!have_error)
	{
		XLogRecPtr	end = RecoveryInProgress() ? GetXLogReplayRecPtr(NULL) : GetXLogInsertRecPtr();

		if (lsn < oldest)
			bad_start(start, psprintf("The change log no longer holds changes committed before %X/%X; 'beginning' starts there.",
									  LSN_FORMAT_ARGS(oldest)));
		if (lsn > end)
			bad_start(start, psprintf("It is beyond the end of WAL (%X/%X).", LSN_FORMAT_ARGS(end)));
		return lsn;
	}

	if (parse_timestamptz(start, &ts))
		return CdcStartAtTime(start, ts, role, filters, messages);
	bad_start(start, NULL);
	return InvalidXLogRecPtr;	/* keep compiler quiet */
}

/* Argument i as an SPI parameter, setting *null_flag as SPI wants it. */
static Datum
arg_for_spi(FunctionCallInfo fcinfo, int i, char *null_flag)
{
	*null_flag = PG_ARGISNULL(i) ? 'n' : ' ';
	return PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
}

/*
 * cdc.create_consumer(name, entities, exclude_entities, operations, start)
 * returns the LSN it starts at.  Two sessions creating one name: the
 * second waits for the first's transaction (ON CONFLICT) and then gets
 * 42710 if it committed, or creates the consumer if it rolled back.
 */
Datum
cdc_create_consumer(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *start;
	CdcOwnerScope scope;
	Oid			argtypes[6] = {TEXTOID, OIDOID, TEXTARRAYOID, TEXTARRAYOID, InvalidOid, PG_LSNOID};
	Datum		args[6];
	char		nulls[7] = "      ";
	XLogRecPtr	lsn;
	bool		messages;
	int			rc;
	CdcFilter  *filter = palloc0(sizeof(CdcFilter));

	CdcCheckInstalledVersion(fcinfo, 5);
	name = CdcConsumerNameArg(fcinfo, 0);
	check_consumer_name(name);
	filter->entities = CdcTextArrayToList(PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1), "entities");
	filter->exclude_entities = CdcTextArrayToList(PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2),
												  "exclude_entities");
	filter->operations = CdcOperationArrayToMask(PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3),
												 "operations", &messages);
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("start must not be null"),
				 errhint("start is 'now', 'beginning', a timestamptz or an LSN.")));
	start = text_to_cstring(PG_GETARG_TEXT_PP(4));

	if (wal_level < WAL_LEVEL_LOGICAL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("change data capture needs wal_level = logical, but it is \"%s\"",
						GetConfigOption("wal_level", false, false)),
				 errhint("Set wal_level = logical in postgresql.conf (ALTER SYSTEM SET wal_level = logical) and restart the server.")));

	CdcOwnerBegin(&scope);
	lsn = start_position(start, scope.saved_user, list_make1(filter), messages);

	args[0] = CStringGetTextDatum(name);
	args[1] = ObjectIdGetDatum(scope.saved_user);
	args[2] = arg_for_spi(fcinfo, 1, &nulls[2]);
	args[3] = arg_for_spi(fcinfo, 2, &nulls[3]);
	args[4] = arg_for_spi(fcinfo, 3, &nulls[4]);
	args[5] = LSNGetDatum(lsn);
	argtypes[4] = get_fn_expr_argtype(fcinfo->flinfo, 3);
	if (!OidIsValid(argtypes[4]))
		argtypes[4] = get_array_type(GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
													 CStringGetDatum("operation"),
													 ObjectIdGetDatum(get_namespace_oid("cdc", false))));
	rc = SPI_execute_with_args("INSERT INTO cdc.consumer_state (name, owner, entities, "
							   "exclude_entities, operations, checkpoint_lsn) "
							   "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
							   6, argtypes, args, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "cdc_ext: recording consumer \"%s\" failed", name);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("consumer \"%s\" already exists", name),
				 errhint("Choose another name, or drop it first with cdc.drop_consumer('%s').", name)));
	CdcOwnerEnd(&scope);
	PG_RETURN_LSN(lsn);
}

/* cdc.drop_consumer(name): transactional; waits for a consume in progress. */
Datum
cdc_drop_consumer(PG_FUNCTION_ARGS)
{
	char	   *name;
	CdcOwnerScope scope;
	CdcConsumer c;
	Oid			t[1] = {TEXTOID};
	Datum		a[1];

	CdcCheckInstalledVersion(fcinfo, 1);
	name = CdcConsumerNameArg(fcinfo, 0);
	CdcOwnerBegin(&scope);
	CdcConsumerGet(name, CDC_LOCK_UPDATE, scope.saved_user, &c);
	a[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args("DELETE FROM cdc.consumer_state WHERE name OPERATOR(pg_catalog.=) $1",
							  1, t, a, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "cdc_ext: deleting consumer failed");
	CdcOwnerEnd(&scope);
	PG_RETURN_BOOL(true);
}

/*
 * cdc.checkpoint(consumer, commit_lsn, seq): the consumer is done with every
 * change up to (commit_lsn, seq).  Transactional.  Backwards: a notice and
 * nothing changed.  Beyond what the log holds: an error, except for the end
 * of a gap (accepting it) or the horizon.
 */
Datum
cdc_checkpoint(PG_FUNCTION_ARGS)
{
	char	   *name;
	XLogRecPtr	lsn;
	int32		seq;
	XLogRecPtr	limit;
	CdcOwnerScope scope;
	CdcConsumer c;

	CdcCheckInstalledVersion(fcinfo, 3);
	name = CdcConsumerNameArg(fcinfo, 0);
	CdcRequireArg(fcinfo, 1, "commit_lsn",
				  "A checkpoint is the commit_lsn and seq of a change that cdc.stream() returned.");
	CdcRequireArg(fcinfo, 2, "seq",
				  "Give 0 for a transaction boundary, or the seq of the last change done.");
	lsn = PG_GETARG_LSN(1);
	seq = PG_GETARG_INT32(2);
	if (XLogRecPtrIsInvalid(lsn) || seq < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid checkpoint position (%X/%X, %d)", LSN_FORMAT_ARGS(lsn), seq),
				 errhint("A checkpoint is the commit_lsn and seq of a change that cdc.stream() returned; seq is 0 or more.")));

	CdcOwnerBegin(&scope);
	CdcConsumerGet(name, CDC_LOCK_UPDATE, scope.saved_user, &c);
	limit = Max(Max(c.confirmed_lsn, c.oldest_lsn), Max(c.gap_to, c.checkpoint_lsn));
	if (lsn > limit)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("checkpoint %X/%X is beyond the end of the change log (%X/%X)",
						LSN_FORMAT_ARGS(lsn), LSN_FORMAT_ARGS(limit)),
				 errhint("A checkpoint is the commit_lsn and seq of a change that cdc.stream() returned.")));
	if (lsn < c.checkpoint_lsn || (lsn == c.checkpoint_lsn && seq < c.checkpoint_seq))
		ereport(NOTICE,
				(errmsg("checkpoint (%X/%X, %d) is behind consumer \"%s\"'s checkpoint (%X/%X, %d); nothing changed",
						LSN_FORMAT_ARGS(lsn), seq, name,
						LSN_FORMAT_ARGS(c.checkpoint_lsn), c.checkpoint_seq)));
	else if (lsn != c.checkpoint_lsn || seq != c.checkpoint_seq)
		CdcConsumerSetCheckpoint(name, lsn, seq);
	CdcOwnerEnd(&scope);
	PG_RETURN_VOID();
}
