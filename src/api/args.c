/*
 * args.c
 *		The SQL API's arguments, one parser per kind, so that consumers and
 *		consumer groups (and cdc.stream / cdc.consume) accept the same
 *		values and refuse the same ones with the same errors: required
 *		arguments, consumer / group / member names, patterns (text[]),
 *		operations (cdc.operation[]), intervals and start positions.
 *
 * None of the API's functions is STRICT, so that a NULL never makes a call
 * silently return nothing; each argument that has no meaning as NULL is
 * refused here (22004) with a hint that says what to give.
 */
#include "cdc_api.h"

#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "cdc_glob.h"

/*
 * An argument that has no meaning as NULL: 22004 naming it, with hint.
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

/*
 * The name of a consumer, a consumer group or a member (kind says which):
 * 1 to 48 characters among letters, digits, "_", "." and "-", so that it
 * can be written in a lock tag, a log line and a URL without quoting.
 */
void
CdcCheckName(const char *kind, const char *name)
{
	size_t		len = strlen(name);

	if (len == 0 || len > 48 || strspn(name, "abcdefghijklmnopqrstuvwxyz"
									   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid %s name \"%s\"", kind, name),
				 errhint("A %s name has 1 to 48 characters among letters, digits, \"_\", \".\" and \"-\".", kind)));
}

/* The consumer name argument of the consumer functions: not null. */
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

/*
 * Bounds of an entity filter: every pattern of every consumer and group is
 * matched by the log's maintenance and the horizon's hooks, so their volume
 * is capped (a role with EXECUTE made 240 MB of patterns slow the writer's
 * retention to 1.3 s a cycle).  A qualified name is at most 127 bytes.
 */
#define CDC_MAX_PATTERNS	1000
#define CDC_MAX_PATTERN_LEN	1024

/* An array argument of one dimension (or none: empty); else 2202E. */
void
CdcRequireOneDim(ArrayType *arr, const char *argname)
{
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("argument \"%s\" must be a one-dimensional array", argname),
				 errhint("List the values in one dimension, such as '{a,b}'.")));
}

/*
 * The elements of an array argument (int4-aligned: text or an enum), none
 * of them null.
 */
static void
array_elements(ArrayType *arr, int elmlen, bool elmbyval, const char *argname,
			   Datum **elems, int *n)
{
	bool	   *nulls;

	CdcRequireOneDim(arr, argname);
	deconstruct_array(arr, ARR_ELEMTYPE(arr), elmlen, elmbyval, TYPALIGN_INT,
					  elems, &nulls, n);
	for (int i = 0; i < *n; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" must not contain nulls", argname)));
}

/*
 * A text[] argument of entity patterns (entities, exclude_entities) as a
 * list of C strings: NULL is NIL; no null elements, every one a valid,
 * non-empty glob.  (Patterns the extension stored, already checked, are
 * read back with CdcSpiTextList.)
 */
List *
CdcTextArrayToList(ArrayType *arr, const char *argname)
{
	Datum	   *elems;
	int			n;
	List	   *result = NIL;

	if (arr == NULL)
		return NIL;
	array_elements(arr, -1, false, argname, &elems, &n);
	if (n > CDC_MAX_PATTERNS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("argument \"%s\" has %d patterns, more than %d", argname, n, CDC_MAX_PATTERNS),
				 errhint("Use wildcards (\"public.orders_*\") to name many tables in one pattern.")));
	for (int i = 0; i < n; i++)
	{
		char	   *s = TextDatumGetCString(elems[i]);

		if (strlen(s) > CDC_MAX_PATTERN_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("a pattern in argument \"%s\" is longer than %d bytes", argname, CDC_MAX_PATTERN_LEN),
					 errhint("A table's qualified name is at most 127 bytes; a pattern needs little more.")));
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
 * Operation labels (C strings) to a CDC_OP_* mask, "message" apart in
 * *messages.  NIL means every table operation (not messages): how a filter
 * stored without operations reads back.  A group created by 1.1 with an
 * empty array stored '{}', which reads back as NIL, so it keeps meaning
 * every table operation.
 */
uint8
CdcOperationLabelsToMask(List *labels, bool *messages)
{
	uint8		mask = 0;
	ListCell   *lc;

	*messages = false;
	if (labels == NIL)
		return CDC_OP_ALL;
	foreach(lc, labels)
	{
		const char *label = lfirst(lc);
		int			op;

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
 * A filter the extension stored (a consumer's or a group's row, read
 * through SPI): its entities, exclude_entities (text[]) and operations
 * (text[] labels) in the columns given (1-based); messages apart.  Stored
 * values were checked when given, so they are only read back here.
 */
CdcFilter *
CdcStoredFilter(HeapTuple tup, TupleDesc desc, int entities_col, int exclude_col,
				int operations_col, bool *messages)
{
	CdcFilter  *f = palloc0(sizeof(CdcFilter));

	f->entities = CdcSpiTextList(tup, desc, entities_col);
	f->exclude_entities = CdcSpiTextList(tup, desc, exclude_col);
	f->operations = CdcOperationLabelsToMask(CdcSpiTextList(tup, desc, operations_col), messages);
	return f;
}

/*
 * The labels of a cdc.operation[] argument: NULL is NIL (every table
 * operation); an empty array or a null element is an error (an empty list
 * meaning "everything" would surprise; NULL says it).  The same rule for
 * consumers, groups and a call's filter of cdc.stream / cdc.consume.
 */
List *
CdcOperationArrayArg(ArrayType *arr, const char *argname)
{
	Datum	   *elems;
	int			n;
	List	   *labels = NIL;

	if (arr == NULL)
		return NIL;
	array_elements(arr, sizeof(Oid), true, argname, &elems, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must not be an empty array", argname),
				 errhint("Leave it NULL for insert, update, delete and truncate, or list the operations wanted.")));
	for (int i = 0; i < n; i++)
	{
		char	   *label = DatumGetCString(DirectFunctionCall1(enum_out, elems[i]));

		if (strcmp(label, "read") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"%s\" cannot hold \"read\"", argname),
					 errdetail("A backfill's rows (operation read) reach the consumer or group that asked for them, whatever its operations."),
					 errhint("List insert, update, delete, truncate or message; cdc.backfill() asks for the rows.")));
		labels = lappend(labels, label);
	}
	return labels;
}

/* A cdc.operation[] argument as a CDC_OP_* mask (CdcOperationArrayArg's rules). */
uint8
CdcOperationArrayToMask(ArrayType *arr, const char *argname, bool *messages)
{
	return CdcOperationLabelsToMask(CdcOperationArrayArg(arr, argname), messages);
}

/*
 * An interval argument in microseconds: not null, not negative, and not
 * zero unless allow_zero.  hint says what to give (it comes with each of
 * these errors).
 */
int64
CdcIntervalArg(FunctionCallInfo fcinfo, int argno, const char *argname, bool allow_zero,
			   const char *hint)
{
	Interval   *iv;
	int64		us;

	CdcRequireArg(fcinfo, argno, argname, hint);
	iv = PG_GETARG_INTERVAL_P(argno);
	if (!CdcIntervalUsec(iv, &us))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is out of range", argname),
				 errhint("%s", hint)));
	if (us < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", argname),
				 errhint("%s", hint)));
	if (us == 0 && !allow_zero)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be positive", argname),
				 errhint("%s", hint)));
	return us;
}

/* ---- start positions ---- */

#define START_HINT "start is 'now', 'beginning' (everything the log retains), a timestamptz such as '2026-01-31 12:00:00+00', an LSN such as '0/16B3748', or, for a new consumer or group, 'snapshot' (the tables' current rows, then the changes)."

/* The start argument: not null. */
char *
CdcStartArg(FunctionCallInfo fcinfo, int argno)
{
	CdcRequireArg(fcinfo, argno, "start", "start is 'now', 'beginning', 'snapshot', a timestamptz or an LSN.");
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * Is str a timestamptz written with a date or time (with a digit: the
 * special words 'now', 'today', 'epoch' and the like, in any case, are not a
 * start time; lower-case 'now' is the keyword)?  Sets *ts.  Never throws.
 */
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

	if (strlen(str) > MAXDATELEN || strpbrk(str, "0123456789") == NULL)
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

/* An unusable start: 22023, with detail (why) when given. */
static void
bad_start(const char *start, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid start value \"%s\"", start),
			 detail ? errdetail("%s", detail) : 0,
			 errhint(START_HINT)));
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
static XLogRecPtr
start_at_time(const char *start, TimestampTz ts, Oid role, List *filters, bool messages)
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
 * Where a consumer or a consumer group starts (cdc.create_consumer,
 * cdc.create_group, cdc.reset_group): the position (lsn, 0), i.e. it
 * receives the changes of transactions that committed at or after lsn.
 *   now:        the current WAL insert position (not during recovery);
 *   beginning:  the log's horizon (everything retained);
 *   an LSN:     that LSN, which must still be in the log and not beyond
 *               the end of WAL;
 *   a time:     not in the future; start_at_time, for filters as role
 *               receives them.
 * 'now' and 'beginning' are lower case, as the SQL functions' comments
 * write them, and a time has digits ('NOW', 'today' or 'epoch' are not
 * taken for one); anything else is an error saying what start may be.  Inside
 * CdcOwnerBegin/End.
 */
XLogRecPtr
CdcStartPosition(const char *start, Oid role, List *filters, bool messages)
{
	XLogRecPtr	oldest = CdcLogOldestLsn();
	XLogRecPtr	lsn;
	bool		have_error = false;
	TimestampTz ts;

	if (strcmp(start, "now") == 0)
	{
		if (RecoveryInProgress())
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot start at 'now' during recovery"),
					 errhint("Create consumers and consumer groups on the primary.")));
		CdcLogWaitStarted();
		return GetXLogInsertRecPtr();
	}
	if (strcmp(start, "beginning") == 0)
		return oldest;
	if (strcmp(start, "snapshot") == 0)
		bad_start(start, "'snapshot' starts a new consumer or group (cdc.create_consumer, cdc.create_group); cdc.backfill() sends the tables' current rows to an existing one.");

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
	{
		if (ts > GetCurrentTimestamp())
			bad_start(start, "It is in the future; 'now' starts with what commits from now on.");
		return start_at_time(start, ts, role, filters, messages);
	}
	bad_start(start, NULL);
	return InvalidXLogRecPtr;	/* keep compiler quiet */
}
