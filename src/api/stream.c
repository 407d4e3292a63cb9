/*
 * stream.c
 *		cdc.stream() and cdc.consume(): typed ChangeEntry rows read from the
 *		change log (cdc.log) by an index range scan in cursor order.
 *
 * The read is one prepared statement per backend (kept plan, generic):
 * rows with (commit_lsn, seq) after the start position, ordered by
 * (commit_lsn, seq), in partitions from the one the start position falls
 * in (cdc.log_chunk) onwards.  Its rows go straight from the executor into
 * a DestReceiver that applies the read filter (privileges.c) and puts what
 * passes into the function's tuplestore, and stops the executor once
 * batch_size rows passed: no per-row SPI, no per-row catalog lookup, and the
 * cost of a batch does not depend on how much log lies behind or around it.
 * Never compare commit_lsn alone: several changes share one commit_lsn.
 *
 * Reading never consumes.  cdc.stream writes nothing; cdc.consume moves the
 * consumer's checkpoint in the caller's transaction, under a row lock
 * (FOR UPDATE) taken before reading, so a second session consuming the same
 * consumer waits for the first's transaction and continues after what it
 * committed: the same change is never delivered to both.
 *
 * Trim racing a read: the read checks the log's horizon before it starts;
 * a trim committing while it runs (it waits for no reader that has not yet
 * locked the partitions) is noticed by a second look at the horizon after
 * the read, and the call fails with 40001 rather than return a result with
 * a silent hole.
 */
#include "cdc_api.h"

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "libpq/libpq.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "tcop/dest.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(cdc_stream);
PG_FUNCTION_INFO_V1(cdc_consume);

static SPIPlanPtr read_plan = NULL;
static SPIPlanPtr oldest_plan = NULL;
static SPIPlanPtr count_plan = NULL;

#define MAX_LSN ((XLogRecPtr) PG_UINT64_MAX)

/* A long poll looks again at least this often (no preload: no wakeups). */
#define POLL_SLICE_MS 1000

typedef struct ScanReceiver
{
	DestReceiver pub;
	CdcLogScan *scan;
	MemoryContext rowcxt;
	Datum		ev[CDC_ENTRY_NCOLUMNS];
	bool		en[CDC_ENTRY_NCOLUMNS];
} ScanReceiver;

static bool
scan_receive(TupleTableSlot *slot, DestReceiver *self)
{
	ScanReceiver *r = (ScanReceiver *) self;
	CdcLogScan *scan = r->scan;
	Datum	   *lv;
	bool	   *ln;
	MemoryContext old;

	slot_getallattrs(slot);
	lv = slot->tts_values;
	ln = slot->tts_isnull;
	scan->scanned++;
	scan->end_lsn = DatumGetLSN(lv[CDC_LOG_COMMIT_LSN]);
	scan->end_seq = DatumGetInt32(lv[CDC_LOG_SEQ]);
	if (scan->has_from_ts && DatumGetTimestampTz(lv[CDC_LOG_TIMESTAMP]) < scan->from_ts)
		return true;

	old = MemoryContextSwitchTo(r->rowcxt);
	if (CdcReadFilterApply(scan->rf, lv, ln, r->ev, r->en))
	{
		if (scan->store)
		{
			/* no TOAST pointers into the log in the result */
			for (int i = CDC_ENTRY_ENTITY_ID; i <= CDC_ENTRY_NEW_DATA; i++)
				if (!r->en[i] && i != CDC_ENTRY_OPERATION &&
					VARATT_IS_EXTERNAL(DatumGetPointer(r->ev[i])))
					r->ev[i] = PointerGetDatum(detoast_external_attr((struct varlena *) DatumGetPointer(r->ev[i])));
			tuplestore_putvalues(scan->store, scan->desc, r->ev, r->en);
		}
		if (scan->returned == 0)
			scan->first_ts = DatumGetTimestampTz(lv[CDC_LOG_TIMESTAMP]);
		scan->returned++;
		scan->last_lsn = scan->end_lsn;
		scan->last_seq = scan->end_seq;
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(r->rowcxt);
	return scan->returned < scan->limit;
}

static void
scan_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
scan_shutdown(DestReceiver *self)
{
}

static void
scan_destroy(DestReceiver *self)
{
}

/*
 * Run one scan (inside CdcOwnerBegin/End).  The partition lower bound is the
 * last chunk whose first change committed strictly before the start
 * position's commit_lsn: a transaction can span two chunks, so a chunk that
 * starts at that very commit_lsn may have a predecessor holding its first
 * changes.
 */
void
CdcLogScanRun(CdcLogScan *scan)
{
	Oid			argtypes[3] = {PG_LSNOID, INT4OID, PG_LSNOID};
	ParamListInfo params;
	SPIExecuteOptions options;
	ScanReceiver r;
	SPIPlanPtr	plan;
	int			rc;

	plan = CdcPreparePlan(&read_plan,
						  "SELECT " CDC_LOG_COLUMNS " "
						  "FROM cdc.log "
						  "WHERE (commit_lsn, seq) OPERATOR(pg_catalog.>) ($1, $2) "
						  "AND commit_lsn OPERATOR(pg_catalog.<) $3 "
						  "AND chunk OPERATOR(pg_catalog.>=) (SELECT coalesce(pg_catalog.max(chunk), -2147483648) "
						  "FROM cdc.log_chunk WHERE first_commit_lsn OPERATOR(pg_catalog.<) $1) "
						  "ORDER BY commit_lsn, seq",
						  3, argtypes, CURSOR_OPT_FAST_PLAN | CURSOR_OPT_GENERIC_PLAN);

	params = makeParamList(3);
	params->numParams = 3;
	params->params[0].value = LSNGetDatum(scan->after_lsn);
	params->params[0].ptype = PG_LSNOID;
	params->params[1].value = Int32GetDatum(scan->after_seq);
	params->params[1].ptype = INT4OID;
	params->params[2].value = LSNGetDatum(XLogRecPtrIsInvalid(scan->before_lsn) ?
										  MAX_LSN : scan->before_lsn);
	params->params[2].ptype = PG_LSNOID;
	for (int i = 0; i < 3; i++)
	{
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
	}

	memset(&r, 0, sizeof(r));
	r.pub.receiveSlot = scan_receive;
	r.pub.rStartup = scan_startup;
	r.pub.rShutdown = scan_shutdown;
	r.pub.rDestroy = scan_destroy;
	r.pub.mydest = DestNone;
	r.scan = scan;
	r.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "cdc_ext log row",
									 ALLOCSET_DEFAULT_SIZES);

	scan->returned = 0;
	scan->scanned = 0;
	scan->last_lsn = InvalidXLogRecPtr;
	scan->last_seq = 0;
	scan->end_lsn = InvalidXLogRecPtr;
	scan->end_seq = 0;
	if (scan->limit <= 0)
		return;

	memset(&options, 0, sizeof(options));
	options.params = params;
	options.read_only = false;
	options.dest = (DestReceiver *) &r;
	rc = SPI_execute_plan_extended(plan, &options);
	/* (SPI says UTILITY for a SELECT whose receiver is DestNone) */
	if (rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY)
		elog(ERROR, "cdc_ext: reading the change log failed: %s", SPI_result_code_string(rc));
	MemoryContextDelete(r.rowcxt);
}

/*
 * How many log rows after (after_lsn, after_seq) rf's role receives, and
 * the commit time of the oldest of them (*first_ts, when *count > 0): the
 * lag of a consumer or group as its owner sees it (cdc.consumers,
 * cdc.groups), so that it says nothing about tables the owner may not
 * read.  Decided once per (table, entity name, operation): the log is
 * grouped by them in one statement, so the cost is that of a count(*) over
 * the range, not of reading each row through the filter.  Inside CdcOwnerBegin/End.
 */
void
CdcLogCountReceived(CdcReadFilter *rf, XLogRecPtr after_lsn, int32 after_seq,
					int64 *count, TimestampTz *first_ts)
{
	Oid			argtypes[2] = {PG_LSNOID, INT4OID};
	Datum		args[2] = {LSNGetDatum(after_lsn), Int32GetDatum(after_seq)};
	SPIPlanPtr	plan;
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "cdc_ext lag",
												 ALLOCSET_DEFAULT_SIZES);

	plan = CdcPreparePlan(&count_plan,
						  "SELECT relid, entity, operation, pg_catalog.count(*), pg_catalog.min(\"timestamp\") "
						  "FROM cdc.log "
						  "WHERE (commit_lsn, seq) OPERATOR(pg_catalog.>) ($1, $2) "
						  "AND chunk OPERATOR(pg_catalog.>=) (SELECT coalesce(pg_catalog.max(chunk), -2147483648) "
						  "FROM cdc.log_chunk WHERE first_commit_lsn OPERATOR(pg_catalog.<) $1) "
						  "GROUP BY relid, entity, operation",
						  2, argtypes, 0);
	if (SPI_execute_plan(plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: counting the change log failed");
	*count = 0;
	*first_ts = 0;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum		lv[CDC_LOG_NCOLUMNS] = {0};
		bool		ln[CDC_LOG_NCOLUMNS];
		Datum		ev[CDC_ENTRY_NCOLUMNS];
		bool		en[CDC_ENTRY_NCOLUMNS];
		bool		isnull;
		bool		passes;
		MemoryContext old;

		/* a log row of that table, name and operation, without its values */
		for (int c = 0; c < CDC_LOG_NCOLUMNS; c++)
			ln[c] = true;
		lv[CDC_LOG_COMMIT_LSN] = LSNGetDatum(after_lsn);
		ln[CDC_LOG_COMMIT_LSN] = false;
		lv[CDC_LOG_SEQ] = Int32GetDatum(after_seq);
		ln[CDC_LOG_SEQ] = false;
		lv[CDC_LOG_RELID] = SPI_getbinval(tup, desc, 1, &ln[CDC_LOG_RELID]);
		lv[CDC_LOG_ENTITY] = SPI_getbinval(tup, desc, 2, &ln[CDC_LOG_ENTITY]);
		lv[CDC_LOG_OPERATION] = SPI_getbinval(tup, desc, 3, &ln[CDC_LOG_OPERATION]);
		old = MemoryContextSwitchTo(rowcxt);
		passes = CdcReadFilterApply(rf, lv, ln, ev, en);
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
		if (passes)
		{
			TimestampTz ts = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));

			if (*count == 0 || ts < *first_ts)
				*first_ts = ts;
			*count += DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		}
	}
	MemoryContextDelete(rowcxt);
}

/* The log's horizon, as committed now (inside CdcOwnerBegin/End). */
XLogRecPtr
CdcLogOldestLsn(void)
{
	SPIPlanPtr	plan = CdcPreparePlan(&oldest_plan, "SELECT oldest_lsn FROM cdc.log_state",
									  0, NULL, 0);
	bool		isnull;

	if (SPI_execute_plan(plan, NULL, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "cdc_ext: reading cdc.log_state failed");
	return DatumGetLSN(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* After a read from (after_lsn): did a trim remove part of what it should have seen? */
static void
check_trimmed_during_read(const char *name, XLogRecPtr oldest_before, XLogRecPtr after_lsn)
{
	XLogRecPtr	oldest = CdcLogOldestLsn();

	if (oldest != oldest_before && oldest > after_lsn)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("the change log was trimmed while consumer \"%s\" was being read", name),
				 errdetail("The log now starts at %X/%X.", LSN_FORMAT_ARGS(oldest)),
				 errhint("Retry the call.")));
}

/*
 * Wait until the log writer commits an ingest (seen is the generation read
 * before the scan that found nothing), the deadline, or at most
 * POLL_SLICE_MS; the caller then looks again.  Watches the client.
 */
static void
wait_for_log(uint64 seen, TimestampTz deadline)
{
	TimestampTz slice_end = Min(deadline,
								TimestampTzPlusMilliseconds(GetCurrentTimestamp(), POLL_SLICE_MS));

	while (GetCurrentTimestamp() < slice_end)
	{
		/* CdcLogWait ends the session if the client went away meanwhile */
		bool		woke = CdcLogWait(seen, slice_end);

		if (woke || CdcLogGeneration() != seen)
			return;
	}
}

static int32
batch_size_arg(FunctionCallInfo fcinfo, int argno)
{
	CdcRequireArg(fcinfo, argno, "batch_size", "batch_size is the most rows one call returns.");
	if (PG_GETARG_INT32(argno) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be at least 1"),
				 errhint("batch_size is the most rows one call returns.")));
	return PG_GETARG_INT32(argno);
}

/*
 * Scan, and when nothing passed and a timeout was given, wait for the log
 * writer and scan again until something does or the deadline passes.
 */
static void
scan_with_long_poll(CdcLogScan *scan, const CdcConsumer *c, int64 timeout_usec)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 0) + timeout_usec;

	for (;;)
	{
		uint64		gen = CdcLogGeneration();

		CdcLogScanRun(scan);
		check_trimmed_during_read(c->name, c->oldest_lsn, scan->after_lsn);
		if (scan->returned > 0 || timeout_usec == 0 || GetCurrentTimestamp() >= deadline)
			break;
		wait_for_log(gen, deadline);
	}
}

/*
 * cdc.stream(consumer, from_lsn, from_timestamp, from_beginning, entities,
 * exclude_entities, operations, batch_size, batch_timeout,
 * numeric_as_string): at most batch_size changes after the consumer's
 * committed checkpoint, or from the position a from_* argument gives (the
 * whole retained log, whatever the consumer's age).  Writes nothing.
 */
Datum
cdc_stream(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name;
	int32		batch_size;
	int64		timeout;
	bool		nas;
	int			nfrom;
	CdcFilter  *call = palloc0(sizeof(CdcFilter));
	bool		call_messages;
	CdcOwnerScope scope;
	CdcConsumer c;
	CdcLogScan	scan;

	CdcCheckInstalledVersion(fcinfo, 10);
	CdcLogWarnIfBehind();
	name = CdcConsumerNameArg(fcinfo, 0);
	nfrom = !PG_ARGISNULL(1) + !PG_ARGISNULL(2) + (!PG_ARGISNULL(3) && PG_GETARG_BOOL(3));
	if (nfrom > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_lsn, from_timestamp and from_beginning exclude each other"),
				 errhint("Give at most one of them; without any, reading starts after the consumer's checkpoint.")));
	call->entities = CdcTextArrayToList(PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4), "entities");
	call->exclude_entities = CdcTextArrayToList(PG_ARGISNULL(5) ? NULL : PG_GETARG_ARRAYTYPE_P(5),
												"exclude_entities");
	call->operations = CdcOperationArrayToMask(PG_ARGISNULL(6) ? NULL : PG_GETARG_ARRAYTYPE_P(6),
											   "operations", &call_messages);
	if (PG_ARGISNULL(6))
	{
		/* no call filter: the consumer's own decides (schema entries too) */
		call_messages = true;
		call->operations = CDC_OP_FILTERABLE;
	}
	batch_size = batch_size_arg(fcinfo, 7);
	timeout = PG_ARGISNULL(8) ? 0 :
		CdcIntervalArg(fcinfo, 8, "batch_timeout", true, CDC_BATCH_TIMEOUT_HINT);
	nas = !PG_ARGISNULL(9) && PG_GETARG_BOOL(9);

	InitMaterializedSRF(fcinfo, 0);
	CdcOwnerBegin(&scope);
	CdcConsumerGet(name, CDC_LOCK_NONE, scope.saved_user, &c);

	memset(&scan, 0, sizeof(scan));
	scan.after_lsn = c.checkpoint_lsn;
	scan.after_seq = c.checkpoint_seq;
	if (!PG_ARGISNULL(1))
	{
		XLogRecPtr	from = PG_GETARG_LSN(1);

		if (from < c.oldest_lsn)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the change log no longer holds changes committed before %X/%X",
							LSN_FORMAT_ARGS(c.oldest_lsn)),
					 errhint("Use from_beginning => true for everything retained, or a from_lsn at or after %X/%X.",
							 LSN_FORMAT_ARGS(c.oldest_lsn))));
		scan.after_lsn = from;
		scan.after_seq = 0;
	}
	else if (!PG_ARGISNULL(2))
	{
		scan.after_lsn = InvalidXLogRecPtr;
		scan.after_seq = 0;
		scan.has_from_ts = true;
		scan.from_ts = PG_GETARG_TIMESTAMPTZ(2);
	}
	else if (nfrom == 1)
	{
		scan.after_lsn = InvalidXLogRecPtr;
		scan.after_seq = 0;
	}
	else
		CdcConsumerCheckGap(&c);
	/* a trim can leave rows before the horizon in the current chunk: gone all the same */
	if (scan.after_lsn < c.oldest_lsn)
	{
		scan.after_lsn = c.oldest_lsn;
		scan.after_seq = 0;
	}

	scan.before_lsn = InvalidXLogRecPtr;
	scan.limit = batch_size;
	scan.rf = CdcReadFilterCreate(scope.saved_user,
								  lappend(CdcConsumerFilters(&c), call),
								  c.messages && call_messages, nas);
	CdcReadFilterSetAudience(scan.rf, c.id);
	scan.store = rsinfo->setResult;
	scan.desc = rsinfo->setDesc;

	CdcReaderLockAcquire(c.id);
	scan_with_long_poll(&scan, &c, timeout);
	CdcReaderLockRelease(c.id);
	CdcOwnerEnd(&scope);
	return (Datum) 0;
}

/*
 * cdc.consume(consumer, batch_size, batch_timeout, numeric_as_string): the
 * next batch after the checkpoint, and the checkpoint moved in the
 * caller's transaction: to the last row returned when the batch is full,
 * else to the last log row looked at, so that rows the consumer will never
 * receive (filtered, withheld) are not scanned again by every call.
 */
Datum
cdc_consume(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name;
	int32		batch_size;
	int64		timeout;
	bool		nas;
	CdcOwnerScope scope;
	CdcConsumer c;
	CdcLogScan	scan;

	CdcCheckInstalledVersion(fcinfo, 4);
	CdcLogWarnIfBehind();
	name = CdcConsumerNameArg(fcinfo, 0);
	batch_size = batch_size_arg(fcinfo, 1);
	timeout = PG_ARGISNULL(2) ? 0 :
		CdcIntervalArg(fcinfo, 2, "batch_timeout", true, CDC_BATCH_TIMEOUT_HINT);
	nas = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);

	InitMaterializedSRF(fcinfo, 0);
	CdcOwnerBegin(&scope);
	CdcConsumerGet(name, CDC_LOCK_UPDATE, scope.saved_user, &c);
	CdcConsumerCheckGap(&c);

	memset(&scan, 0, sizeof(scan));
	scan.after_lsn = c.checkpoint_lsn;
	scan.after_seq = c.checkpoint_seq;
	scan.before_lsn = InvalidXLogRecPtr;
	scan.limit = batch_size;
	scan.rf = CdcReadFilterCreate(scope.saved_user, CdcConsumerFilters(&c), c.messages, nas);
	CdcReadFilterSetAudience(scan.rf, c.id);
	scan.store = rsinfo->setResult;
	scan.desc = rsinfo->setDesc;

	CdcReaderLockAcquire(c.id);
	scan_with_long_poll(&scan, &c, timeout);
	CdcReaderLockRelease(c.id);

	if (scan.returned == batch_size)
		CdcConsumerSetCheckpoint(name, scan.last_lsn, scan.last_seq);
	else if (scan.scanned > 0)
		CdcConsumerSetCheckpoint(name, scan.end_lsn, scan.end_seq);
	CdcOwnerEnd(&scope);
	return (Datum) 0;
}
