/*
 * cdc_log.h
 *		The change log (src/log/): the launcher (launcher.c) and the log writer
 *		of each database (writer.c), exactly-once ingest of decoded changes
 *		into cdc.log (ingest.c, sink.c, slot.c), partitions, retention and
 *		trim (retention.c); log_internal.h draws how these files layer.
 *
 * What the API (src/api/) may rely on:
 * - cdc.log holds ChangeEntries in (commit_lsn, seq) order; rows become
 *   visible only in increasing cursor order (one writer per database; each
 *   ingest transaction logs only positions after everything committed
 *   before it).  A reader that saw position P never later sees a new row at
 *   or before P.
 * - cdc.log_state.oldest_lsn is the horizon: changes of transactions that
 *   committed before it are gone.  A consumer whose checkpoint is before it
 *   has a gap unless its gap was resolved at the drop (see
 *   CdcLogSetHorizonHook).
 */
#ifndef CDC_LOG_H
#define CDC_LOG_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "nodes/pg_list.h"

/* Attribute numbers (0-based) of cdc.log, as created in log.sql. */
typedef enum CdcLogColumn
{
	CDC_LOG_COMMIT_LSN,
	CDC_LOG_SEQ,
	CDC_LOG_CHUNK,
	CDC_LOG_LSN,
	CDC_LOG_XID,
	CDC_LOG_TIMESTAMP,
	CDC_LOG_RELID,
	CDC_LOG_ENTITY,
	CDC_LOG_ENTITY_ID,
	CDC_LOG_OPERATION,
	CDC_LOG_OLD_DATA,
	CDC_LOG_NEW_DATA,
	CDC_LOG_UNCHANGED_TOAST,
	CDC_LOG_FALLBACK,
	CDC_LOG_SCHEMA_VERSION,		/* 1.2: null before it (src/log/schema.c) */
	CDC_LOG_AUDIENCE,			/* a backfill's rows: who asked (see log.sql) */
	CDC_LOG_NCOLUMNS
} CdcLogColumn;

/*
 * The 1.1 library under the 1.0 SQL objects (package upgraded, ALTER
 * EXTENSION not yet run): every SQL-callable function refuses cleanly,
 * before reading an argument.  nargs: what the 1.1 definition passes.
 */
extern void CdcCheckInstalledVersion(FunctionCallInfo fcinfo, int nargs);

/* base.c: cdc.operation's labels (cdc_operations, cdc_ops.h) as OIDs, in that order */
extern void CdcLogOperationOids(Oid *oids);

/* base.c: a text[] column of an SPI result row as a List of C strings */
extern List *CdcSpiTextList(HeapTuple tup, TupleDesc desc, int col);

/* base.c: an interval in microseconds; false when it does not fit */
extern bool CdcIntervalUsec(const Interval *iv, int64 *us);

/*
 * base.c: the owner switch, for the log and the API alike.  Between
 * CdcOwnerBegin and CdcOwnerEnd, an SPI session runs as the extension's
 * owner with search_path pinned to pg_catalog, pg_temp; invoker is the role
 * that called (the SQL function's caller).  An error in between needs no
 * cleanup: (sub)transaction abort restores the same things in the same
 * order as CdcOwnerEnd (see base.c).
 */
typedef struct CdcOwnerScope
{
	Oid			saved_user;
	int			saved_sec;
	int			guc_level;
	Oid			invoker;		/* the role that called the SQL function */
} CdcOwnerScope;
extern void CdcOwnerBegin(CdcOwnerScope *scope);
extern void CdcOwnerEnd(CdcOwnerScope *scope);

/*
 * capture.c: the capture setting in force (inside SPI): the patterns of
 * tables the log captures now, and since when (0: the default, since the
 * log began).  For cdc.consumers, which names the tables a consumer's
 * filters ask for that the log no longer captures.
 */
extern void CdcCaptureInForce(List **entities, List **exclude, TimestampTz *since);

/* shmem.c and launcher.c: shared memory, launcher and writer */
extern void CdcLogShmemRequest(void);	/* from _PG_init, under preload */
extern void CdcLogRegisterLauncher(void);	/* from _PG_init, under preload */
/* dropdb.c: DROP DATABASE ... WITH (FORCE) stops the writer (under preload) */
extern void CdcLogInstallDropdbHook(void);
extern bool CdcLogShmemAvailable(void);
/* shmem.c: does this database's log writer run now?  (its PID into *pid) */
extern bool CdcLogWriterRunning(int *pid);

/*
 * Long poll: a counter the writer of this database bumps after each ingest
 * commit, and a wait for it to move past "seen" or for deadline.  The wait
 * sleeps on a condition variable (no polling) when shared memory is there,
 * else (no preload) in 100 ms naps; either way it notices a client that
 * went away (ERROR) and interrupts.  Returns true when woken by an ingest.
 */
extern uint64 CdcLogGeneration(void);
/* How far the writer has decoded, with everything committed before it logged. */
extern XLogRecPtr CdcLogProcessedLsn(void);
extern bool CdcLogWait(uint64 seen, TimestampTz deadline);
extern void CdcLogNotifyIngest(void);
/*
 * Before a consumer or group starts 'now': wait (10 s at most) for this
 * database's writer to have made its slot, so that 'now' is inside the log;
 * one that starts before it gets a gap when it does (CdcLostRangeHook).
 */
extern void CdcLogWaitStarted(void);
/* A WARNING when the log is behind with no writer and no recent cdc.ingest(). */
extern void CdcLogWarnIfBehind(void);

/*
 * retention.c: before the horizon moves to new_oldest (trim or retention),
 * the API decides for each consumer whose checkpoint is before it whether it
 * loses a change it may see (then it records a gap) or not (then its
 * checkpoint follows the horizon).  Runs in the dropping transaction, as the
 * extension's owner inside SPI; returns how many consumers got a gap.
 */
typedef int (*CdcHorizonHook) (XLogRecPtr old_oldest, XLogRecPtr new_oldest,
							   const char *reason);
extern void CdcLogSetHorizonHook(CdcHorizonHook hook);

/*
 * slot.c: a range of WAL whose changes could not be logged (the writer's
 * slot was invalidated, moved or dropped by someone else, or the log
 * started after consumers did).  What it held is unknown, so every consumer
 * and group whose position is before `to` records a gap [from, to) (from
 * invalid: from its own position; those that start at the log's beginning,
 * 0/0, are then left alone).  Runs in the writer's transaction, as the
 * extension's owner inside SPI; returns how many got a gap.
 */
typedef int (*CdcLostRangeHook) (XLogRecPtr from, XLogRecPtr to, const char *reason);
extern void CdcLogSetLostRangeHook(CdcLostRangeHook hook);

#endif
