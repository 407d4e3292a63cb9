/*
 * stream.c
 *		cdc.stream(): typed ChangeEntry rows for a consumer, decoded in this
 *		backend by the cdc_ext plugin straight into a tuplestore.
 *
 * Reading never consumes: the slot is only moved up to the consumer's
 * committed checkpoint (before reading), never past it, and the read itself
 * confirms nothing.  A call that errors, is cancelled or belongs to a
 * transaction that rolls back therefore loses nothing: the next call reads
 * the same changes again.
 *
 * The slot restarts at a transaction boundary, so changes of the
 * checkpoint's own transaction up to its seq are decoded again and skipped
 * by the sink (sink_wants in decode.c), before any conversion.  batch_size
 * is an exact row cap: once full, the sink refuses the rest (still decoded,
 * since the reorder buffer replays a whole transaction at its commit).
 *
 * A consumer whose filters drop everything after its checkpoint would hold
 * WAL forever while other tables churn.  So when a call with no narrowing
 * (no call filters, no from_*) returns no row and saw whole transactions
 * after the checkpoint, it moves the checkpoint to the last of them, in the
 * caller's transaction; the slot follows on the next call.  It does so only
 * past QUIET_ADVANCE_BYTES of WAL, so that idle polling does not write.
 */
#include "cdc_api.h"

#include "access/xlog.h"
#include "access/xlogutils.h"
#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "replication/decode.h"
#include "replication/logical.h"
#include "replication/slot.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/pg_lsn.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(cdc_stream);

#define N_COLUMNS 11

/*
 * Move a quiet consumer's checkpoint only past this much WAL: each move is
 * a write, and an idle consumer polling in a loop should not write (and so
 * make more WAL to read) on every call.
 */
#define QUIET_ADVANCE_BYTES (64 * 1024)
#define N_OPERATIONS 5
static const char *const operation_labels[N_OPERATIONS] =
{"insert", "update", "delete", "truncate", "message"};

typedef struct StreamSink
{
	CdcSink		base;
	Tuplestorestate *store;
	TupleDesc	desc;
	int64		limit;
	int64		rows;
	bool		has_from_ts;
	TimestampTz from_ts;
	Oid			operation_oids[N_OPERATIONS];
	/* the last whole transaction seen after the starting position */
	XLogRecPtr	last_commit_lsn;
	int32		last_seq;
} StreamSink;

static void
stream_emit(CdcSink *sink, const CdcChange *c)
{
	StreamSink *ss = (StreamSink *) sink;
	Datum		values[N_COLUMNS];
	bool		nulls[N_COLUMNS] = {0};
	int			op;

	if (ss->has_from_ts && c->commit_time < ss->from_ts)
		return;
	for (op = 0; op < N_OPERATIONS; op++)
		if (strcmp(c->operation, operation_labels[op]) == 0)
			break;
	Assert(op < N_OPERATIONS);

	values[0] = LSNGetDatum(c->lsn);
	values[1] = LSNGetDatum(c->commit_lsn);
	values[2] = Int32GetDatum(c->seq);
	values[3] = Int64GetDatum((int64) c->xid);
	values[4] = TimestampTzGetDatum(c->commit_time);
	nulls[5] = c->entity == NULL;
	values[5] = c->entity ? CStringGetTextDatum(c->entity) : (Datum) 0;
	nulls[6] = c->entity_id == (Datum) 0;
	values[6] = c->entity_id;
	values[7] = ObjectIdGetDatum(ss->operation_oids[op]);
	nulls[8] = c->old_data == (Datum) 0;
	values[8] = c->old_data;
	nulls[9] = c->new_data == (Datum) 0;
	values[9] = c->new_data;
	nulls[10] = c->unchanged_toast == NIL;
	if (c->unchanged_toast != NIL)
	{
		int			n = list_length(c->unchanged_toast);
		Datum	   *names = palloc(sizeof(Datum) * n);
		ListCell   *lc;
		int			i = 0;

		foreach(lc, c->unchanged_toast)
			names[i++] = CStringGetTextDatum(lfirst(lc));
		values[10] = PointerGetDatum(construct_array(names, n, TEXTOID, -1, false,
													 TYPALIGN_INT));
	}
	tuplestore_putvalues(ss->store, ss->desc, values, nulls);
	if (++ss->rows >= ss->limit)
		sink->full = true;
}

static void
stream_txn_end(CdcSink *sink, XLogRecPtr commit_lsn, int32 last_seq, bool any_emitted)
{
	StreamSink *ss = (StreamSink *) sink;

	if (sink->full)
		return;
	if (commit_lsn > sink->after_commit_lsn ||
		(commit_lsn == sink->after_commit_lsn && last_seq >= sink->after_seq))
	{
		ss->last_commit_lsn = commit_lsn;
		ss->last_seq = last_seq;
	}
}

/* The typed path never writes text; these only satisfy the API. */
static void
stream_prepare_write(LogicalDecodingContext *ctx, XLogRecPtr lsn,
					 TransactionId xid, bool last_write)
{
	resetStringInfo(ctx->out);
}

static void
stream_write(LogicalDecodingContext *ctx, XLogRecPtr lsn, TransactionId xid,
			 bool last_write)
{
}

static void
lookup_operation_oids(StreamSink *ss)
{
	Oid			enum_type;

	/* cdc is not on the search_path necessarily: look the type up by schema */
	enum_type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
								CStringGetDatum("operation"),
								ObjectIdGetDatum(get_namespace_oid("cdc", false)));
	for (int i = 0; i < N_OPERATIONS; i++)
	{
		ss->operation_oids[i] = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
												ObjectIdGetDatum(enum_type),
												CStringGetDatum(operation_labels[i]));
		if (!OidIsValid(ss->operation_oids[i]))
			elog(ERROR, "cdc_ext: enum label cdc.operation '%s' is missing", operation_labels[i]);
	}
}

/*
 * Decode the slot from its confirmed position into the sink, up to the end
 * of WAL or, when upto is valid, the records that start before upto (as
 * pg_replication_slot_advance(upto) would).  With a deadline and rows
 * given, wait until then for a first row (long poll).
 */
static void
read_changes(CdcSink *sink, const char *slot_name, XLogRecPtr upto,
			 TimestampTz deadline, const int64 *rows)
{
	LogicalDecodingContext *volatile ctx = NULL;
	ResourceOwner old_owner = CurrentResourceOwner;

	CheckLogicalDecodingRequirements();
	ReplicationSlotAcquire(slot_name, true);

	PG_TRY();
	{
		if (strcmp(NameStr(MyReplicationSlot->data.plugin), "cdc_ext") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("replication slot \"%s\" uses output plugin \"%s\", not cdc_ext",
							slot_name, NameStr(MyReplicationSlot->data.plugin))));

		cdc_pending_sink = sink;
		ctx = CreateDecodingContext(InvalidXLogRecPtr, NIL, false,
									XL_ROUTINE(.page_read = read_local_xlog_page,
											   .segment_open = wal_segment_open,
											   .segment_close = wal_segment_close),
									stream_prepare_write, stream_write, NULL);
		cdc_pending_sink = NULL;

		XLogBeginRead(ctx->reader, MyReplicationSlot->data.restart_lsn);
		for (;;)
		{
			XLogRecPtr	end_of_wal = GetFlushRecPtr(NULL);

			if (!XLogRecPtrIsInvalid(upto) && upto < end_of_wal)
				end_of_wal = upto;
			while (ctx->reader->EndRecPtr < end_of_wal && !sink->full)
			{
				char	   *errm = NULL;
				XLogRecord *record = XLogReadRecord(ctx->reader, &errm);

				if (errm)
					elog(ERROR, "could not find record for logical decoding: %s", errm);
				if (record != NULL)
					LogicalDecodingProcessRecord(ctx, ctx->reader);
				CHECK_FOR_INTERRUPTS();
			}
			if (rows == NULL || *rows > 0 || sink->full ||
				!XLogRecPtrIsInvalid(upto) || GetCurrentTimestamp() >= deadline)
				break;
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 50L, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}

		/*
		 * Replaying a transaction runs it in an internal subtransaction,
		 * which leaves CurrentResourceOwner pointing elsewhere: give the
		 * executor back its own, or relations the calling query holds open
		 * end up released by the wrong owner.
		 */
		CurrentResourceOwner = old_owner;
		FreeDecodingContext(ctx);
		ReplicationSlotRelease();
		InvalidateSystemCaches();
	}
	PG_CATCH();
	{
		cdc_pending_sink = NULL;
		/* decoding ran with historic snapshots: forget what they cached */
		InvalidateSystemCaches();
		if (MyReplicationSlot != NULL)
			ReplicationSlotRelease();
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* The probe's sink: it only notes that something passed the filters. */
static void
probe_emit(CdcSink *sink, const CdcChange *c)
{
	sink->full = true;
}

/*
 * Would the consumer receive anything committed after its checkpoint and
 * before upto?  Decodes its slot (as the calling role) through the
 * consumer's filters, stopping at the first such change.  cdc.trim() asks
 * this to tell a consumer that falls behind from one that only has nothing
 * to read.
 */
bool
CdcConsumerHasChangesBefore(const CdcConsumer *c, XLogRecPtr upto)
{
	CdcSink		sink = {0};
	CdcFilter  *f = palloc0(sizeof(CdcFilter));

	f->entities = c->entities;
	f->exclude_entities = c->exclude_entities;
	f->operations = c->operations;
	sink.filters = list_make1(f);
	sink.messages = c->messages;
	sink.acl_role = InvalidOid;	/* every change counts, seen or not */
	sink.after_commit_lsn = c->checkpoint_lsn;
	sink.after_seq = c->checkpoint_seq;
	sink.emit = probe_emit;
	read_changes(&sink, c->slot_name, upto, 0, NULL);
	return sink.full;
}

static void
raise_gap(const CdcConsumer *c, XLogRecPtr from, XLogRecPtr to, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("consumer \"%s\" has a gap: changes committed between %X/%X and %X/%X are gone",
					c->name, LSN_FORMAT_ARGS(from), LSN_FORMAT_ARGS(to)),
			 errdetail("%s", why),
			 errhint("Re-sync the consumer's target from a snapshot of the tables, then accept the gap with SELECT cdc.checkpoint('%s', '%X/%X');",
					 c->name, LSN_FORMAT_ARGS(to))));
}

Datum
cdc_stream(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext fn_cxt = CurrentMemoryContext;
	char	   *name;
	bool		from_beginning = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
	bool		narrowed = false;
	int64		batch_size = PG_ARGISNULL(7) ? 1000 : PG_GETARG_INT32(7);
	TimestampTz deadline = GetCurrentTimestamp();
	StreamSink	ss;
	CdcPriv		priv;
	CdcConsumer c;
	CdcSlotInfo slot;
	CdcFilter  *consumer_filter;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("consumer name must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (batch_size < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be at least 1, not %lld", (long long) batch_size)));
	if (!PG_ARGISNULL(8))
	{
		Interval   *iv = PG_GETARG_INTERVAL_P(8);
		int64		us = iv->time + (int64) iv->day * USECS_PER_DAY +
			(int64) iv->month * DAYS_PER_MONTH * USECS_PER_DAY;

		if (us < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("batch_timeout must not be negative")));
		deadline += us;
	}

	memset(&ss, 0, sizeof(ss));
	ss.base.emit = stream_emit;
	ss.base.txn_end = stream_txn_end;
	ss.limit = batch_size;
	if (!PG_ARGISNULL(2))
	{
		ss.has_from_ts = true;
		ss.from_ts = PG_GETARG_TIMESTAMPTZ(2);
		narrowed = true;
	}
	if (!PG_ARGISNULL(4) || !PG_ARGISNULL(5) || !PG_ARGISNULL(6))
	{
		CdcFilter  *f = palloc0(sizeof(CdcFilter));
		bool		messages;

		f->entities = CdcTextArrayToList(PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4), "entities");
		f->exclude_entities = CdcTextArrayToList(PG_ARGISNULL(5) ? NULL : PG_GETARG_ARRAYTYPE_P(5), "exclude_entities");
		f->operations = CdcOperationArrayToMask(PG_ARGISNULL(6) ? NULL : PG_GETARG_ARRAYTYPE_P(6), "operations", &messages);
		ss.base.filters = lappend(ss.base.filters, f);
		narrowed = true;
	}
	lookup_operation_oids(&ss);

	/* load the consumer, check its slot, bring the slot to the checkpoint */
	CdcPrivBegin(&priv);
	CdcConsumerRequire(name, false, &c, priv.invoker, fn_cxt);
	CdcSlotInfoGet(c.slot_name, &slot);
	if (!slot.exists)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("consumer \"%s\" has lost its replication slot \"%s\"", name, c.slot_name),
				 errdetail("Changes after %X/%X can no longer be read.", LSN_FORMAT_ARGS(c.checkpoint_lsn)),
				 errhint("Drop and re-create the consumer, then re-sync its target from a snapshot of the tables.")));
	if (slot.database != MyDatabaseId)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("replication slot \"%s\" of consumer \"%s\" belongs to another database", c.slot_name, name)));
	if (slot.lost)
		raise_gap(&c, c.checkpoint_lsn, GetFlushRecPtr(NULL),
				  "The consumer's replication slot was invalidated: the server removed WAL it still needed (see max_slot_wal_keep_size). Drop and re-create the consumer.");
	if (!XLogRecPtrIsInvalid(c.gap_to) && c.gap_to > c.checkpoint_lsn)
		raise_gap(&c, c.gap_from, c.gap_to,
				  c.gap_reason ? psprintf("Released by cdc.trim() (%s).", c.gap_reason) : "Released by cdc.trim().");
	if (slot.confirmed_flush > c.checkpoint_lsn)
		raise_gap(&c, c.checkpoint_lsn, slot.confirmed_flush,
				  "The consumer's replication slot was advanced past its checkpoint outside the cdc API.");
	if (slot.active_pid != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("consumer \"%s\" is being read by the process with PID %d", name, slot.active_pid),
				 errhint("Read a consumer from one session at a time; retry when that read ends.")));
	if (slot.confirmed_flush < c.checkpoint_lsn)
		slot.confirmed_flush = CdcSlotAdvance(c.slot_name, c.checkpoint_lsn);
	CdcPrivEnd(&priv);

	/* where this call starts */
	if (from_beginning)
	{
		ss.base.after_commit_lsn = slot.confirmed_flush;
		ss.base.after_seq = 0;
		narrowed = true;
	}
	else
	{
		ss.base.after_commit_lsn = c.checkpoint_lsn;
		ss.base.after_seq = c.checkpoint_seq;
	}
	if (!PG_ARGISNULL(1))
	{
		XLogRecPtr	from_lsn = PG_GETARG_LSN(1);

		if (from_lsn < slot.confirmed_flush)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("from_lsn %X/%X is before the oldest change consumer \"%s\" can read, %X/%X",
							LSN_FORMAT_ARGS(from_lsn), name, LSN_FORMAT_ARGS(slot.confirmed_flush)),
					 errhint("Use from_beginning => true to read everything still retained.")));
		if (from_lsn > ss.base.after_commit_lsn)
		{
			ss.base.after_commit_lsn = from_lsn;
			ss.base.after_seq = 0;
		}
		narrowed = true;
	}

	/* consumer's stored filters, then the call's, all must pass */
	consumer_filter = palloc0(sizeof(CdcFilter));
	consumer_filter->entities = c.entities;
	consumer_filter->exclude_entities = c.exclude_entities;
	consumer_filter->operations = c.operations;
	ss.base.filters = lcons(consumer_filter, ss.base.filters);
	ss.base.messages = c.messages;
	ss.base.acl_role = superuser_arg(priv.invoker) ? InvalidOid : priv.invoker;

	InitMaterializedSRF(fcinfo, 0);
	ss.store = rsinfo->setResult;
	ss.desc = rsinfo->setDesc;

	read_changes(&ss.base, c.slot_name, InvalidXLogRecPtr, deadline, &ss.rows);

	/* nothing for this consumer in what was read: move its position on */
	if (!narrowed && ss.rows == 0 && ss.last_commit_lsn != InvalidXLogRecPtr &&
		ss.last_commit_lsn >= c.checkpoint_lsn + QUIET_ADVANCE_BYTES)
	{
		Oid			t[3] = {TEXTOID, PG_LSNOID, INT4OID};
		Datum		a[3] = {CStringGetTextDatum(name), LSNGetDatum(c.checkpoint_lsn),
		Int32GetDatum(c.checkpoint_seq)};

		/*
		 * Only if nobody moved the checkpoint meanwhile, and without waiting
		 * for a session that is checkpointing right now.
		 */
		CdcPrivBegin(&priv);
		if (SPI_execute_with_args("SELECT 1 FROM cdc.consumer_state WHERE name OPERATOR(pg_catalog.=) $1 "
								  "AND checkpoint_lsn OPERATOR(pg_catalog.=) $2 "
								  "AND checkpoint_seq OPERATOR(pg_catalog.=) $3 FOR UPDATE SKIP LOCKED",
								  3, t, a, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "cdc_ext: reading consumer state failed");
		if (SPI_processed == 1)
			CdcConsumerSetCheckpoint(name, ss.last_commit_lsn, ss.last_seq);
		CdcPrivEnd(&priv);
	}
	return (Datum) 0;
}
