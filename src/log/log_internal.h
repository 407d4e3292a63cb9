/*
 * log_internal.h
 *		What the files of src/log/ share among themselves (cdc_log.h is what
 *		the rest of cdc_ext may use).
 *
 * Layers.  A file calls only files on a line below its own (and the plugin,
 * src/plugin/, below the whole log); nothing calls up or sideways, so the
 * calls form no circle.  Upward calls go through hooks the API registers
 * (CdcLogSetHorizonHook, CdcLogSetLostRangeHook), never by name.
 *
 *   launcher.c   writer.c    the processes: starting writers; one writer's loop
 *        |          |
 *        |       ingest.c    open the decoding, one cycle, close; CALL cdc.ingest()
 *        |          |
 *        |       backfill.c  a backfill's chunks: read (writer.c), logged
 *        |                   (backfill_log.c, from ingest.c)
 *        |        /  |  \
 *        |  sink.c slot.c retention.c   the sink (rows, capture, shapes);
 *        |     |     |       |          the writer's slot and lost ranges;
 *        |     |     |       |          partitions, retention, trim
 *        |  capture.c|       |          capture setting, who administers
 *        |     |     |       |
 *     shmem.c  |     |       |          shared memory, per-database entries,
 *        |     |     |       |          processed LSN, the long poll
 *     base.c (every file above)        presence and version, the owner
 *                                        switch, log_state, transaction start,
 *                                        SPI readers, enum lookups, intervals
 *   dropdb.c: base.c only (the writer's slot name).
 *   schema.c: base.c only (the owner switch): the event triggers' function,
 *             run in the DDL's backend, not by the writer (the writer meets
 *             its messages through the plugin, src/plugin/schema.c).
 *
 * Precisely, each file calls (besides itself and PostgreSQL):
 *   base.c       -
 *   shmem.c      base
 *   capture.c    base
 *   slot.c       base, shmem
 *   retention.c  base, shmem, capture
 *   sink.c       base, capture
 *   backfill.c   base, capture, sink (and backfill_log.c: base, sink)
 *   ingest.c     base, shmem, capture, slot, sink, retention, backfill
 *   launcher.c   base, shmem
 *   writer.c     base, shmem, slot, ingest, retention, backfill
 *   dropdb.c     base
 *   schema.c     base
 */
#ifndef CDC_LOG_INTERNAL_H
#define CDC_LOG_INTERNAL_H

#include "postgres.h"

#include "port/atomics.h"
#include "replication/logical.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "cdc_plugin.h"
#include "cdc_log.h"

/* ---------------------------------------------------------------------- */
/* base.c                                                                 */

/*
 * Is this library's version of cdc_ext installed in this database?  (in a
 * transaction)  An older version's SQL objects (the package was upgraded,
 * ALTER EXTENSION not yet run) have other tables: the writer waits for the
 * update and keeps its slot, so that nothing committed meanwhile is lost.
 */
#define CDC_SQL_VERSION "1.2"
typedef enum CdcLogPresence
{
	CDC_LOG_ABSENT,				/* no extension: a slot of ours is stale */
	CDC_LOG_OLD_VERSION,		/* an older version, not yet updated */
	CDC_LOG_PRESENT
} CdcLogPresence;
extern CdcLogPresence CdcLogPresent(void);
extern bool CdcLogSettingsPresent(void);
extern void CdcRequireSettings(void);
extern const char *CdcLogHorizonTable(void);

/* The log_state row (the parts the log's code reads). */
typedef struct CdcLogStateRow
{
	char		slot_name[NAMEDATALEN];
	XLogRecPtr	logged_commit_lsn;
	int32		logged_seq;
	XLogRecPtr	confirmed_lsn;
	XLogRecPtr	oldest_lsn;
	int32		current_chunk;
	int32		confirm_rule;	/* 1: the slot never passes confirmed_lsn */
} CdcLogStateRow;
extern void CdcLogStateLoad(CdcLogStateRow *row);	/* inside SPI */

extern XLogRecPtr CdcSpiLsn(int row, int col);
extern int32 CdcSpiInt32(int row, int col);
extern char *CdcLogSlotName(Oid dboid);
/* StartTransactionCommand for the log's processes: now() moves on */
extern void CdcStartTransaction(void);

/* interval argument in microseconds; negative -> ERROR naming argname */
extern int64 CdcIntervalMicros(const Interval *iv, const char *argname);

/* ---------------------------------------------------------------------- */
/* shmem.c                                                                */

#define CDC_MAX_DATABASES 64

typedef enum CdcWriterState
{
	CDC_WRITER_NONE,			/* never started, or gone */
	CDC_WRITER_STARTING,		/* launched, not yet known */
	CDC_WRITER_RUNNING,
	CDC_WRITER_NO_EXTENSION		/* exited: no cdc_ext 1.2 in that database */
} CdcWriterState;

/* One database's entry. */
typedef struct CdcLogDb
{
	Oid			dboid;			/* InvalidOid: free */
	CdcWriterState state;
	pid_t		writer_pid;
	TimestampTz started_at;
	TimestampTz wanted_at;		/* cdc.start_writer() asked at */
	TransactionId wanted_xid;	/* ... in this transaction (CREATE EXTENSION's) */
	pg_atomic_uint64 generation;	/* bumped after each logging commit */
	pg_atomic_uint64 processed_lsn;	/* every transaction committed before it is logged */
	Oid			extension;		/* ... by the writer of this cdc_ext (its OID) */
	ConditionVariable cv;
	bool		slot_invalidated;	/* a writer dropped the log's invalidated
									 * slot; the lost range is not recorded yet
									 * (slot.c: survives the writer's restart) */
} CdcLogDb;

typedef struct CdcLogShared
{
	LWLock	   *lock;			/* the dbs array's dboid and state fields */
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	bool		rescan;			/* a database may be new to the launcher */
	CdcLogDb	dbs[CDC_MAX_DATABASES];
} CdcLogShared;

extern CdcLogShared *CdcLogShmem;	/* NULL without the preload */
extern CdcLogDb *CdcLogDbEntry(Oid dboid, bool create, bool *made);
extern void CdcLogResetEntry(CdcLogDb *e, Oid dboid);
extern CdcLogDb *CdcLogMyEntry(void);
extern void CdcLogSetSlotInvalidated(bool invalidated);
extern bool CdcLogSlotInvalidated(void);
extern void CdcLogSetProcessed(XLogRecPtr lsn, bool logged);

/* ---------------------------------------------------------------------- */
/* capture.c                                                              */

extern void CdcRequireAdmin(const char *what);
extern bool CdcCaptureReadHistoric(MemoryContext cxt, List **entities,
								   List **exclude, List **messages);

/* ---------------------------------------------------------------------- */
/* slot.c                                                                 */

extern bool CdcIngestPrepareSlot(bool own_transactions);
extern void CdcIngestDropSlot(void);
extern void CdcLogRecordLostRange(XLogRecPtr from, XLogRecPtr to, const char *reason);
extern void CdcLogConfirmSlot(XLogRecPtr lsn, XLogRecPtr durable);

/* ---------------------------------------------------------------------- */
/* retention.c                                                            */

extern void CdcLogMaintain(bool own_transaction, Oid extension);
extern Oid	CdcLogChunkRelid(int32 chunk, bool create);
extern int	CdcLogRunHorizonHooks(XLogRecPtr old_oldest, XLogRecPtr new_oldest,
								  const char *reason);

/* ---------------------------------------------------------------------- */
/* sink.c                                                                 */

typedef struct IngestSink
{
	CdcSink		base;
	Tuplestorestate *store;		/* this cycle's rows, in cdc.log's row type */
	TupleDesc	desc;			/* of cdc.log */
	Oid			op_oids[CDC_N_OPERATIONS];	/* cdc.operation, as cdc_operations */
	int32		chunk;			/* partition the rows go to */
	int64		rows;
	XLogRecPtr	first_commit_lsn;
	XLogRecPtr	last_commit_lsn;
	int32		last_seq;
	TimestampTz first_ts;
	TimestampTz last_ts;
	/* the capture setting in force (capture.c) */
	CdcFilter  *capture;		/* in base.filters */
	MemoryContext capture_cxt;	/* its patterns and base.messages */
	XLogRecPtr	capture_lsn;	/* commit of the set_capture() that made it */
	TimestampTz capture_at;
	bool		capture_changed;	/* this cycle: record it with the position */
	/* table shapes (cdc.log_shape): see shape_note() */
	MemoryContext shape_cxt;	/* the known shapes, as long as the sink */
	HTAB	   *shapes;			/* relid -> LoggedShape */
	MemoryContext pending_cxt;	/* shapes to record this cycle */
	List	   *pending;		/* of PendingShape * */
	bool		shapes_unconfirmed; /* recorded by a cycle not known committed */
	bool		record_shapes;	/* cdc.log_shape exists (not before the 1.2 update) */
	/* a backfill chunk's mark decoded this cycle (backfill.c): the cycle stops there */
	bool		mark_seen;
	/* ... and commits; the next cycle logs the chunk alone (ingest.c) */
	bool		mark_pending;
	XLogRecPtr	mark_end;		/* where decoding stopped: after the mark's commit */
	XLogRecPtr	mark_lsn;
	XLogRecPtr	mark_commit_lsn;
	TransactionId mark_xid;
	TimestampTz mark_time;
	char		mark[64];		/* the message (a BackfillMark, backfill.c) */
	Size		mark_size;
} IngestSink;

extern IngestSink *CdcSinkCreate(MemoryContext cxt);
extern void CdcSinkLoad(IngestSink *s, MemoryContext cxt);
extern void CdcSinkCycleStart(IngestSink *s);
extern void CdcSinkFlushShapes(IngestSink *s);
extern void CdcSinkPersistCapture(IngestSink *s, XLogRecPtr processed);
extern void CdcSinkInsertRows(IngestSink *s, Oid partoid);
/* Rows logged without the buffer (a backfill's chunk): begin, one each, end. */
typedef struct CdcLogInsert CdcLogInsert;
extern CdcLogInsert *CdcSinkInsertBegin(IngestSink *s, Oid partoid);
extern void CdcSinkInsertOne(IngestSink *s, CdcLogInsert *ins, const CdcChange *c);
extern void CdcSinkInsertEnd(CdcLogInsert *ins);

/* ---------------------------------------------------------------------- */
/* backfill.c, backfill_log.c                                             */

/*
 * Read the next chunk of a backfill, if one is waiting and none is in
 * flight (the log writer, outside any transaction; runs its own).  True
 * when a chunk was read and its mark written: the cycles that decode up to
 * the mark then log it.
 */
extern bool CdcBackfillStep(void);
/* Is a chunk read and waiting for its mark to be decoded? */
extern bool CdcBackfillInFlight(void);
/* Forget the chunk in flight (its memory and rows): it is read again. */
extern void CdcBackfillChunkForget(void);
/*
 * In the cycle after the one that decoded a mark and committed what came
 * before it (s->mark_pending), inside its owner scope: log the chunk's
 * rows that no change in its window superseded, at the mark's commit, and
 * move the backfill's progress.  partoid: the partition the cycle writes.
 */
extern void CdcBackfillLog(IngestSink *s, Oid partoid);
/*
 * Is the mark the cycle decoded (s->mark_seen) the one of the chunk in
 * flight?  If not (a mark of a chunk this writer no longer holds, decoded
 * again after a restart), it is forgotten: decoding goes on past it.
 */
extern bool CdcBackfillMarkIsMine(IngestSink *s);
/* The chunk in flight was logged in log_ms: size the next one. */
extern void CdcBackfillSizeNext(int log_ms);

/* ---------------------------------------------------------------------- */
/* ingest.c                                                               */

typedef enum CdcIngestStep
{
	CDC_INGEST_IDLE,			/* nothing to log in what was decoded */
	CDC_INGEST_LOGGED,			/* logged rows; caught up with the WAL seen */
	CDC_INGEST_MORE,			/* stopped at a cycle limit: WAL is waiting */
	CDC_INGEST_RECONFIGURE,		/* (unused since capture changes apply in
								 * the stream: capture.c) */
	CDC_INGEST_GONE				/* the extension was dropped */
} CdcIngestStep;

typedef struct CdcIngest
{
	MemoryContext cxt;			/* as long as the decoding context */
	LogicalDecodingContext *ctx;
	IngestSink *sink;
	XLogRecPtr	start_lsn;		/* where decoding started (slot's confirmed) */
	XLogRecPtr	processed;		/* WAL decoded, and what committed in it logged */
	XLogRecPtr	confirmable;	/* recorded as confirmed_lsn by the last cycle */
	Oid			extension;		/* the cdc_ext it logs for (gone if it changes) */
	bool		writer;
	bool		origin_set;
} CdcIngest;

extern bool CdcIngestOpen(CdcIngest *ing, bool writer);
extern CdcIngestStep CdcIngestCycle(CdcIngest *ing);
extern void CdcIngestAfterCommit(CdcIngest *ing);
extern void CdcIngestClose(CdcIngest *ing);

#endif
