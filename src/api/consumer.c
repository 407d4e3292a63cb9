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
	c->operations = CdcOperationLabelsToMask(CdcSpiTextList(tup, desc, 5), &c->messages);
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
			 errhint("Accept the gap with SELECT cdc.checkpoint('%s', '%X/%X'); then SELECT cdc.backfill('%s') sends the tables' current rows again, in order with the changes that follow.",
					 c->name, LSN_FORMAT_ARGS(to), c->name)));
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
	SET_CDC_LOCKTAG_READER(*tag, consumer_id);
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
	bool		snapshot;
	int			rc;
	CdcFilter  *filter = palloc0(sizeof(CdcFilter));

	CdcCheckInstalledVersion(fcinfo, 5);
	name = CdcConsumerNameArg(fcinfo, 0);
	CdcCheckName("consumer", name);
	filter->entities = CdcTextArrayToList(PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1), "entities");
	filter->exclude_entities = CdcTextArrayToList(PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2),
												  "exclude_entities");
	filter->operations = CdcOperationArrayToMask(PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3),
												 "operations", &messages);
	start = CdcStartArg(fcinfo, 4);
	snapshot = strcmp(start, "snapshot") == 0;
	if (snapshot)
		start = "now";			/* then the backfill, below */

	if (wal_level < WAL_LEVEL_LOGICAL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("change data capture needs wal_level = logical, but it is \"%s\"",
						GetConfigOption("wal_level", false, false)),
				 errhint("Set wal_level = logical in postgresql.conf (ALTER SYSTEM SET wal_level = logical) and restart the server.")));

	CdcOwnerBegin(&scope);
	lsn = CdcStartPosition(start, scope.saved_user, list_make1(filter), messages);

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
	if (snapshot)
		CdcBackfillOnCreate(false, name);
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
