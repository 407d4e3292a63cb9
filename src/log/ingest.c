/*
 * ingest.c
 *		Decode WAL with the cdc_ext plugin in process and log every change
 *		into cdc.log, exactly once.  Used by the log writer (writer.c) in a
 *		loop, and by CALL cdc.ingest() where there is no writer.
 *
 * Exactly-once.  A cycle, in one transaction:
 *   1. reads the log head (logged_commit_lsn, logged_seq) from cdc.log_state;
 *   2. decodes the WAL flushed so far; the plugin hands every change of
 *      every transaction that commits in it to our sink, which skips
 *      positions at or before the head (a transaction decoded again after a
 *      crash) and buffers the rest in a tuplestore (spilling to disk: a
 *      2M-row transaction is logged in bounded memory);
 *   3. multi-inserts the buffer into the current partition, and moves the
 *      head and confirmed_lsn in the same transaction.
 * Only after that transaction commits is the slot confirmed (AfterCommit).
 * A crash before the commit loses the buffer and the decoding position,
 * both of which come back from the slot, still unconfirmed; a crash after
 * it and before the confirm decodes those transactions again, and step 1
 * skips them.  So nothing committed is lost and nothing is logged twice;
 * the primary key (commit_lsn, seq) would refuse a second copy anyway.
 *
 * The writer's own transactions (log rows, state) are stamped with a
 * replication origin of its own, which the plugin's origin filter drops
 * before the reorder buffer: the writer never decodes its own writes.
 *
 * Rows of one cycle become visible together at its commit, and every cycle
 * logs only positions after everything logged before it, so a reader never
 * sees a row appear behind one it has already seen (cdc_log.h).
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogutils.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "replication/decode.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/slot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "cdc_plugin.h"
#include "log_internal.h"

PG_FUNCTION_INFO_V1(cdc_ingest);

/* A cycle stops decoding after this many rows or this long, to commit. */
#define CDC_CYCLE_MAX_ROWS 50000
#define CDC_CYCLE_MAX_MS 200
/* Decoded WAL without rows to log, past which the writer records its progress. */
#define CDC_IDLE_CONFIRM_BYTES ((XLogRecPtr) 16 * 1024 * 1024)
/* Memory for one cycle's buffer before it spills to a temporary file. */
#define CDC_BUFFER_KB (64 * 1024)

/* The typed path writes no text; these only satisfy the decoding API. */
static void
ingest_prepare_write(LogicalDecodingContext *ctx, XLogRecPtr lsn,
					 TransactionId xid, bool last_write)
{
	resetStringInfo(ctx->out);
}

static void
ingest_write(LogicalDecodingContext *ctx, XLogRecPtr lsn, TransactionId xid,
			 bool last_write)
{
}

/* ---------------------------------------------------------------------- */
/* Open, cycle, close                                                     */

/*
 * Acquire the slot, set up our origin, read the capture settings and
 * create the decoding context (in the current transaction; the context
 * itself lives in ing->cxt, across transactions for the writer).
 */
bool
CdcIngestOpen(CdcIngest *ing, bool writer)
{
	CdcOwnerScope scope;
	CdcLogStateRow st;
	IngestSink *s;
	MemoryContext old;
	RepOriginId origin;

	memset(ing, 0, sizeof(*ing));
	ing->writer = writer;
	ing->cxt = AllocSetContextCreate(TopMemoryContext, "cdc_ext ingest",
									 ALLOCSET_DEFAULT_SIZES);
	s = ing->sink = CdcSinkCreate(ing->cxt);

	if (writer)
		CdcStartTransaction();
	PushActiveSnapshot(GetTransactionSnapshot());

	/*
	 * The extension first, then its tables: the order DROP EXTENSION takes
	 * them in (the other order deadlocked with a DROP EXTENSION that had
	 * locked the first of the tables this reads).
	 */
	if (CdcLogPresent() != CDC_LOG_PRESENT)
	{
		PopActiveSnapshot();
		if (writer)
			CommitTransactionCommand();
		CdcIngestClose(ing);
		return false;
	}
	CdcOwnerBegin(&scope);
	CdcLogStateLoad(&st);
	CdcSinkLoad(s, ing->cxt);
	ing->extension = get_extension_oid("cdc_ext", false);

	/* one backend per slot: a second ingest gets PostgreSQL's own error */
	CdcReplicationSlotAcquire(st.slot_name, true);
	PG_TRY();
	{
		if (strcmp(NameStr(MyReplicationSlot->data.plugin), "cdc_ext") != 0 ||
			MyReplicationSlot->data.database != MyDatabaseId)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("replication slot \"%s\" is not a cdc_ext slot of this database",
							st.slot_name),
					 errhint("Drop that slot; the log writer creates its own.")));
		/*
		 * The slot is never confirmed past cdc.log_state.confirmed_lsn
		 * (confirm_rule 1; see CdcIngestCycle).  A slot that is further
		 * was moved by someone else (pg_replication_slot_advance, or
		 * pg_logical_slot_get_changes) while no writer held it: the
		 * changes it skipped were never logged.  After an update from 1.1,
		 * whose writer confirmed idle progress without recording it, the
		 * first open takes the slot's position as it is.
		 */
		if (st.confirm_rule == 0)
		{
			Oid			t[1] = {PG_LSNOID};
			Datum		a[1] = {LSNGetDatum(MyReplicationSlot->data.confirmed_flush)};

			if (SPI_execute_with_args("UPDATE cdc.log_state SET confirm_rule = 1, "
									  "confirmed_lsn = GREATEST(confirmed_lsn, $1)",
									  1, t, a, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "cdc_ext: updating the log's state failed");
		}
		else if (MyReplicationSlot->data.confirmed_flush > st.confirmed_lsn)
			CdcLogRecordLostRange(st.confirmed_lsn, MyReplicationSlot->data.confirmed_flush,
							  "the log writer's replication slot was moved past changes it had not logged, by another session (pg_replication_slot_advance or pg_logical_slot_get_changes) while no writer held it");
		/* what a previous ingest committed but could not confirm yet */
		if (st.confirmed_lsn > MyReplicationSlot->data.confirmed_flush &&
			st.confirmed_lsn <= GetFlushRecPtr(NULL))
			CdcLogConfirmSlot(st.confirmed_lsn, GetFlushRecPtr(NULL));

		origin = replorigin_by_name(st.slot_name, true);
		if (origin == InvalidRepOriginId)
			origin = replorigin_create(st.slot_name);
		CdcReplOriginSessionSetup(origin);
		replorigin_session_origin = origin;
		ing->origin_set = true;
		s->base.skip_origin = origin;

		old = MemoryContextSwitchTo(ing->cxt);
		CdcDecodeSetSink(&s->base);
		ing->ctx = CreateDecodingContext(InvalidXLogRecPtr, NIL, false,
										 XL_ROUTINE(.page_read = read_local_xlog_page,
													.segment_open = wal_segment_open,
													.segment_close = wal_segment_close),
										 ingest_prepare_write, ingest_write, NULL);
		CdcDecodeSetSink(NULL);
		MemoryContextSwitchTo(old);
		XLogBeginRead(ing->ctx->reader, MyReplicationSlot->data.restart_lsn);
		ing->start_lsn = MyReplicationSlot->data.confirmed_flush;
		ing->processed = ing->start_lsn;
	}
	PG_CATCH();
	{
		CdcDecodeSetSink(NULL);
		CdcIngestClose(ing);
		PG_RE_THROW();
	}
	PG_END_TRY();
	CdcOwnerEnd(&scope);
	PopActiveSnapshot();
	if (writer)
		CommitTransactionCommand();
	return true;
}

/*
 * Buffers that grow to the largest record or change ever met and are kept:
 * the reader's record buffer (a record bigger than a WAL page is put
 * together there), its decoded copy of a record bigger than the decode
 * buffer (kept until the next read), and the reorder buffer's buffer for
 * spilling and restoring a change.  A 100 MB logical message left the
 * writer holding 600 MB in them (t/102_writer_hostile.pl) until it
 * restarted, however idle.  Between two cycles none holds anything the next
 * read needs (a record is read whole before it is decoded, and a
 * transaction is replayed within the record that commits it), so outsized
 * ones are given back; the next such record grows them again.
 */
#define CDC_DECODER_KEEP_BYTES (4 * 1024 * 1024)

static void
decoder_shrink(CdcIngest *ing)
{
	XLogReaderState *r = ing->ctx->reader;
	ReorderBuffer *rb = ing->ctx->reorder;

	if (r->record != NULL && r->record->oversized)
		(void) XLogReleasePreviousRecord(r);
	if (r->readRecordBuf != NULL && r->readRecordBufSize > CDC_DECODER_KEEP_BYTES)
	{
		/* the size the reader starts with (xlogreader.c's allocate_recordbuf) */
		uint32		size = 5 * Max(BLCKSZ, XLOG_BLCKSZ);

		pfree(r->readRecordBuf);
		r->readRecordBuf = MemoryContextAlloc(ing->cxt, size);
		r->readRecordBufSize = size;
	}
	if (rb->outbuf != NULL && rb->outbufsize > CDC_DECODER_KEEP_BYTES)
	{
		/* reorderbuffer.c allocates it again when it is 0 */
		pfree(rb->outbuf);
		rb->outbuf = NULL;
		rb->outbufsize = 0;
	}
}

/*
 * One cycle, in the caller's transaction: decode what is flushed (up to the
 * cycle limits), log it, move the head.  See the file header.
 */
CdcIngestStep
CdcIngestCycle(CdcIngest *ing)
{
	IngestSink *s = ing->sink;
	LogicalDecodingContext *ctx = ing->ctx;
	CdcOwnerScope scope;
	CdcLogStateRow st;
	XLogRecPtr	end;
	XLogRecPtr	processed;
	TimestampTz started = GetCurrentTimestamp();
	ResourceOwner owner = CurrentResourceOwner;
	MemoryContext cycle_cxt = CurrentMemoryContext;
	CdcIngestStep step;
	CdcLogPresence presence;
	int			nrec = 0;
	bool		pending = false;

	PushActiveSnapshot(GetTransactionSnapshot());
	/* dropped, or dropped and created again: this log and slot are done */
	presence = CdcLogPresent();
	if (presence == CDC_LOG_ABSENT ||
		get_extension_oid("cdc_ext", true) != ing->extension)
	{
		PopActiveSnapshot();
		return CDC_INGEST_GONE;
	}
	if (presence != CDC_LOG_PRESENT)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the SQL objects of an older cdc_ext are installed"),
				 errhint("Run ALTER EXTENSION cdc_ext UPDATE; the log writer continues from its slot then.")));
	CdcOwnerBegin(&scope);
	CdcLogStateLoad(&st);
	if (st.current_chunk <= 0)
	{
		/* no partition yet (maintenance makes them): make one now */
		(void) CdcLogChunkRelid(0, true);
		CdcLogStateLoad(&st);
	}

	s->base.after_commit_lsn = st.logged_commit_lsn;
	s->base.after_seq = st.logged_seq;
	s->chunk = st.current_chunk;
	s->rows = 0;
	CdcSinkCycleStart(s);
	s->store = tuplestore_begin_heap(false, false, CDC_BUFFER_KB);

	/*
	 * Memory lifetime.  The reader outlives the cycle: a record larger than
	 * its buffer makes it grow that buffer (or palloc an oversized decoded
	 * record, pfree'd at the next read) in whatever context is current when
	 * XLogReadRecord runs, and keeps it across cycles, until
	 * FreeDecodingContext at close.  So every read runs in ing->cxt, which
	 * lives as long as the reader; switching once before the loop is not
	 * enough, because replaying a commit (LogicalDecodingProcessRecord ->
	 * the reorder buffer's internal subtransaction) returns in this cycle's
	 * transaction context, which is freed at its commit: a buffer grown
	 * there was pfree'd by the next cycle's read, or by
	 * FreeDecodingContext, after its memory was gone (the writer crashed;
	 * t/100_writer_torture.pl).  Decoding itself runs in the cycle's
	 * context: what it leaves there is freed at the cycle's commit, and
	 * what must persist it keeps in its own contexts (the reorder buffer's,
	 * the snapshot builder's, ctx->context).
	 */
	if (s->mark_pending)
	{
		/*
		 * The last cycle stopped at a backfill chunk's mark and committed
		 * what it decoded before it: the chunk is logged now, alone, at the
		 * mark's commit.  Two cycles, so that the live changes before the
		 * mark are not held back by the chunk's insert.  A crash between
		 * them forgets the chunk (it is read again) and decodes the mark
		 * again, which is then no longer the chunk in flight.
		 */
		pending = true;
		end = s->mark_end;
		CdcBackfillLog(s, CdcLogChunkRelid(s->chunk, false));
	}
	else
		end = GetFlushRecPtr(NULL);
	while (!pending && ctx->reader->EndRecPtr < end)
	{
		char	   *errm = NULL;
		XLogRecord *record;

		MemoryContextSwitchTo(ing->cxt);
		record = XLogReadRecord(ctx->reader, &errm);
		MemoryContextSwitchTo(cycle_cxt);
		if (errm)
			elog(ERROR, "cdc_ext: could not read WAL for logical decoding: %s", errm);
		if (record != NULL)
			LogicalDecodingProcessRecord(ctx, ctx->reader);
		/* replaying a transaction runs it in an internal (sub)transaction */
		CurrentResourceOwner = owner;
		MemoryContextSwitchTo(cycle_cxt);
		CHECK_FOR_INTERRUPTS();
		/* a backfill chunk's mark: its rows are logged right after it */
		if (s->mark_seen && CdcBackfillMarkIsMine(s))
			break;
		if (s->rows >= CDC_CYCLE_MAX_ROWS ||
			(++nrec % 256 == 0 &&
			 TimestampDifferenceExceeds(started, GetCurrentTimestamp(), CDC_CYCLE_MAX_MS)))
			break;
	}
	/* everything up to "end" decoded: what committed before it is ours */
	processed = ctx->reader->EndRecPtr >= end ? Max(end, ctx->reader->EndRecPtr) :
		ctx->reader->EndRecPtr;
	if (s->mark_seen)
	{
		/*
		 * Stopped at the mark: what committed before it is logged now, so
		 * only that far is processed (the mark's transaction ends after
		 * it); the next cycle logs the chunk.
		 */
		s->mark_seen = false;
		s->mark_pending = true;
		s->mark_end = ctx->reader->EndRecPtr;
		processed = s->mark_commit_lsn;
	}

	if (s->rows > 0)
	{
		Oid			t[8] = {PG_LSNOID, INT4OID, PG_LSNOID, INT4OID, INT8OID,
		PG_LSNOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
		Datum		a[8];

		if (tuplestore_tuple_count(s->store) > 0)
			CdcSinkInsertRows(s, CdcLogChunkRelid(s->chunk, false));
		CdcSinkFlushShapes(s);
		a[0] = LSNGetDatum(s->last_commit_lsn);
		a[1] = Int32GetDatum(s->last_seq);
		a[2] = LSNGetDatum(processed);
		a[3] = Int32GetDatum(s->chunk);
		a[4] = Int64GetDatum(s->rows);
		a[5] = LSNGetDatum(s->first_commit_lsn);
		a[6] = TimestampTzGetDatum(s->first_ts);
		a[7] = TimestampTzGetDatum(s->last_ts);
		if (SPI_execute_with_args("UPDATE cdc.log_state SET logged_commit_lsn = $1, logged_seq = $2, "
								  "confirmed_lsn = $3, ingested_at = pg_catalog.now()",
								  3, t, a, NULL, false, 0) != SPI_OK_UPDATE ||
			SPI_execute_with_args("UPDATE cdc.log_chunk SET rows = rows OPERATOR(pg_catalog.+) $5, "
								  "first_commit_lsn = coalesce(first_commit_lsn, $6), last_commit_lsn = $1, "
								  "first_timestamp = coalesce(first_timestamp, $7), last_timestamp = $8 "
								  "WHERE chunk OPERATOR(pg_catalog.=) $4",
								  8, t, a, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "cdc_ext: updating the log's state failed");
		ing->confirmable = processed;
		step = ctx->reader->EndRecPtr < end ? CDC_INGEST_MORE : CDC_INGEST_LOGGED;
	}
	else
	{
		/*
		 * Nothing to log.  The slot is confirmed only as far as
		 * cdc.log_state.confirmed_lsn says (so that a slot found further on
		 * was moved by someone else: CdcIngestOpen), so progress without
		 * rows is recorded too: always without a writer (CALL
		 * cdc.ingest(); the next call confirms it), and by the writer once
		 * it is CDC_IDLE_CONFIRM_BYTES ahead (its write is WAL it decodes
		 * next, a few hundred bytes: no loop; until then the slot holds
		 * that much WAL more).
		 */
		if (processed > st.confirmed_lsn &&
			(!ing->writer || processed - st.confirmed_lsn >= CDC_IDLE_CONFIRM_BYTES))
		{
			Oid			t[1] = {PG_LSNOID};
			Datum		a[1] = {LSNGetDatum(processed)};

			if (SPI_execute_with_args("UPDATE cdc.log_state SET confirmed_lsn = $1, "
									  "ingested_at = pg_catalog.now()",
									  1, t, a, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "cdc_ext: updating the log's state failed");
			ing->confirmable = processed;
		}
		else
			ing->confirmable = Max(st.confirmed_lsn, ing->confirmable);
		step = ctx->reader->EndRecPtr < end ? CDC_INGEST_MORE : CDC_INGEST_IDLE;
	}
	if (s->capture_changed)
		CdcSinkPersistCapture(s, processed);
	decoder_shrink(ing);
	tuplestore_end(s->store);
	s->store = NULL;
	CdcOwnerEnd(&scope);
	PopActiveSnapshot();
	ing->processed = processed;
	if (s->mark_pending)
		step = CDC_INGEST_MORE;	/* the chunk: at once */
	if (pending)
	{
		long		secs;
		int			usecs;

		TimestampDifference(started, GetCurrentTimestamp(), &secs, &usecs);
		CdcBackfillSizeNext((int) (secs * 1000 + usecs / 1000));
	}
	return step;
}

/*
 * After the cycle's transaction committed: confirm the slot up to what it
 * logged, once the standbys have that commit (CdcLogConfirmSlot).
 */
void
CdcIngestAfterCommit(CdcIngest *ing)
{
	if (MyReplicationSlot != NULL && ing->confirmable > MyReplicationSlot->data.confirmed_flush)
		CdcLogConfirmSlot(ing->confirmable, XactLastCommitEnd);
	if (ing->sink != NULL)
		ing->sink->shapes_unconfirmed = false;
}

void
CdcIngestClose(CdcIngest *ing)
{
	/* a chunk whose mark this sink was to log: read again by the next */
	if (ing->sink != NULL && ing->sink->mark_pending)
		CdcBackfillChunkForget();
	if (ing->ctx != NULL)
		FreeDecodingContext(ing->ctx);
	ing->ctx = NULL;
	if (MyReplicationSlot != NULL)
		ReplicationSlotRelease();
	if (ing->origin_set)
	{
		replorigin_session_reset();
		replorigin_session_origin = InvalidRepOriginId;
		ing->origin_set = false;
	}
	if (ing->cxt != NULL)
		MemoryContextDelete(ing->cxt);
	ing->cxt = NULL;
	ing->sink = NULL;			/* it lived in ing->cxt */
}

/*
 * CALL cdc.ingest(): one ingest where no log writer runs (no preload):
 * decodes everything flushed when it starts and logs it, in the caller's
 * transaction; the slot is confirmed by the next call, once this one has
 * committed.  Also keeps the partitions and retention.
 */
Datum
cdc_ingest(PG_FUNCTION_ARGS)
{
	CdcIngest	ing;
	int			pid;

	CdcRequireAdmin("CALL cdc.ingest()");
	if (CdcLogWriterRunning(&pid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("the log writer (PID %d) is already logging this database", pid),
				 errhint("CALL cdc.ingest() is for servers without shared_preload_libraries = 'cdc_ext'.")));
	if (CdcLogPresent() != CDC_LOG_PRESENT)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cdc_ext 1.1 is not installed in this database"),
				 errhint("Run ALTER EXTENSION cdc_ext UPDATE.")));
	CheckLogicalDecodingRequirements();
	(void) CdcIngestPrepareSlot(false);
	if (!CdcIngestOpen(&ing, false))
		elog(ERROR, "cdc_ext: the extension was dropped");	/* it is locked: cannot be */
	PG_TRY();
	{
		CdcIngestStep step;
		bool		logged = false;

		do
		{
			step = CdcIngestCycle(&ing);
			logged |= step == CDC_INGEST_LOGGED || step == CDC_INGEST_MORE;
		} while (step == CDC_INGEST_MORE);
		CdcLogMaintain(false, InvalidOid);
		if (logged)
			CdcLogNotifyIngest();
	}
	PG_FINALLY();
	{
		CdcIngestClose(&ing);
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}
