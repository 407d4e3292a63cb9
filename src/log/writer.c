/*
 * writer.c
 *		The log writer of one database (dynamic background worker, started by
 *		the launcher: launcher.c).
 *
 * It decodes and logs (ingest.c) and keeps the partitions (retention.c)
 * in a loop; it exits, dropping its slot, when the extension is dropped.
 * SIGTERM and postmaster death end it at the next interrupt check: nothing
 * is lost, since the log, the ingest position and the slot only move
 * together at commits (ingest.c).
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/slot.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/spin.h"
#include "storage/standby.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "log_internal.h"

PGDLLEXPORT void cdc_writer_main(Datum arg);

#define CDC_WRITER_NAP_MS 10	/* idle writer: look for new WAL this often */
#define CDC_MAINTAIN_EVERY_MS 1000	/* partitions and retention */
/* WAL the writer's slot may hold before the writer logs a standby snapshot */
#define CDC_SLOT_WAL_BOUND ((XLogRecPtr) 16 * 1024 * 1024)
#define CDC_SNAPSHOT_EVERY_MS 250	/* ... at most this often */

static CdcLogDb *my_db = NULL;	/* this writer's database's entry */


static void
writer_shmem_exit(int code, Datum arg)
{
	CdcLogDb   *e = my_db;

	if (e == NULL || CdcLogShmem == NULL)
		return;
	/* only the running writer's own exit changes what it announced */
	LWLockAcquire(CdcLogShmem->lock, LW_EXCLUSIVE);
	if (e->writer_pid == MyProcPid)
	{
		e->writer_pid = 0;
		if (e->state == CDC_WRITER_RUNNING)
			e->state = CDC_WRITER_NONE;
	}
	LWLockRelease(CdcLogShmem->lock);
	ConditionVariableBroadcast(&e->cv);
	if (CdcLogShmem->launcher_latch)
		SetLatch(CdcLogShmem->launcher_latch);
}

/*
 * Keep the WAL the writer's slot holds small while much is written.  A
 * slot's restart_lsn moves only to where decoding saw a running-xacts
 * record (a snapshot it can restart from), which the server logs every 15
 * seconds: at the tens of MB/s a backfill or a bulk load writes into the
 * log (WAL the writer decodes and skips, its own), the slot held 150 to 390
 * MB (bench/README.md).  Once it holds more than CDC_SLOT_WAL_BOUND, the
 * writer logs such a record itself, as the background writer does, and its
 * next cycles confirm past it.
 */
static void
writer_bound_slot_wal(XLogRecPtr processed)
{
	static TimestampTz last_logged = 0;
	XLogRecPtr	restart;
	XLogRecPtr	insert = GetXLogInsertRecPtr();
	TimestampTz now;

	/*
	 * Only while decoding keeps up: a writer far behind would meet the
	 * record only later, where the server's own ones already are, and each
	 * record decoded writes a snapshot file (pg_logical/snapshots).
	 */
	if (MyReplicationSlot == NULL || RecoveryInProgress() ||
		insert - Min(processed, insert) >= CDC_SLOT_WAL_BOUND)
		return;
	SpinLockAcquire(&MyReplicationSlot->mutex);
	restart = MyReplicationSlot->data.restart_lsn;
	SpinLockRelease(&MyReplicationSlot->mutex);
	if (XLogRecPtrIsInvalid(restart) || insert - Min(restart, insert) < CDC_SLOT_WAL_BOUND)
		return;
	now = GetCurrentTimestamp();
	if (!TimestampDifferenceExceeds(last_logged, now, CDC_SNAPSHOT_EVERY_MS))
		return;
	last_logged = now;
	(void) LogStandbySnapshot();
}

/* Say why we leave (the launcher reads it) and go. */
static void
writer_exit_no_extension(void)
{
	LWLockAcquire(CdcLogShmem->lock, LW_EXCLUSIVE);
	/* a probe leaving must not hide a writer that runs */
	if (my_db->writer_pid == 0 || my_db->writer_pid == MyProcPid)
	{
		my_db->state = CDC_WRITER_NO_EXTENSION;
		my_db->writer_pid = 0;
	}
	LWLockRelease(CdcLogShmem->lock);
	proc_exit(0);
}

void
cdc_writer_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	CdcIngest	ing;
	TimestampTz last_maintain = 0;
	TimestampTz wanted_at;
	TransactionId wanted_xid;
	bool		asker_running;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("cdc_ext log writer");

	my_db = CdcLogDbEntry(dboid, true, NULL);
	if (my_db == NULL)
		proc_exit(1);
	before_shmem_exit(writer_shmem_exit, (Datum) 0);

	/*
	 * Is cdc_ext 1.1 here?  When CREATE EXTENSION asked for a writer (now,
	 * or while this one was starting as a mere probe), its transaction may
	 * not have committed yet: look again as long as it runs (however long),
	 * and for a few seconds after the ask.  Whether it runs is asked before
	 * the look's snapshot, so that a commit in between is seen.
	 */
	for (;;)
	{
		CdcLogPresence presence;

		CdcStartTransaction();
		LWLockAcquire(CdcLogShmem->lock, LW_SHARED);
		wanted_xid = my_db->wanted_xid;
		LWLockRelease(CdcLogShmem->lock);
		asker_running = TransactionIdIsValid(wanted_xid) &&
			TransactionIdIsInProgress(wanted_xid);
		presence = CdcLogPresent();
		CommitTransactionCommand();
		if (presence == CDC_LOG_PRESENT)
			break;
		if (presence == CDC_LOG_ABSENT)
		{
			/* dropped while we were away: the slot is ours to drop */
			CdcIngestDropSlot();
		}
		LWLockAcquire(CdcLogShmem->lock, LW_SHARED);
		wanted_at = my_db->wanted_at;
		LWLockRelease(CdcLogShmem->lock);
		if (!asker_running &&
			(wanted_at == 0 ||
			 TimestampDifferenceExceeds(wanted_at, GetCurrentTimestamp(), 10000)))
			writer_exit_no_extension();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	LWLockAcquire(CdcLogShmem->lock, LW_EXCLUSIVE);
	if (my_db->state == CDC_WRITER_RUNNING && my_db->writer_pid != 0 &&
		my_db->writer_pid != MyProcPid && kill(my_db->writer_pid, 0) == 0)
	{
		/* one writer per database: another one is at work */
		LWLockRelease(CdcLogShmem->lock);
		proc_exit(0);
	}
	my_db->state = CDC_WRITER_RUNNING;
	my_db->writer_pid = MyProcPid;
	my_db->started_at = GetCurrentTimestamp();
	LWLockRelease(CdcLogShmem->lock);

	/* slot (created, or taken over from 1.0 consumers), then decoding */
	CdcStartTransaction();
	if (!CdcIngestPrepareSlot(true))
	{
		CommitTransactionCommand();
		CdcIngestDropSlot();	/* and the origin, if any */
		writer_exit_no_extension();
	}
	CommitTransactionCommand();
	if (!CdcIngestOpen(&ing, true))
	{
		CdcIngestDropSlot();
		writer_exit_no_extension();
	}
	LWLockAcquire(CdcLogShmem->lock, LW_EXCLUSIVE);
	my_db->extension = ing.extension;
	LWLockRelease(CdcLogShmem->lock);
	pg_atomic_write_u64(&my_db->processed_lsn, ing.processed);
	ConditionVariableBroadcast(&my_db->cv);
	ereport(LOG,
			(errmsg("cdc_ext log writer started for database %u, decoding from %X/%X",
					dboid, LSN_FORMAT_ARGS(ing.start_lsn))));

	for (;;)
	{
		bool		busy = false;
		TimestampTz now;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (GetFlushRecPtr(NULL) > ing.processed)
		{
			CdcIngestStep step;

			CdcStartTransaction();
			step = CdcIngestCycle(&ing);
			CommitTransactionCommand();
			if (step == CDC_INGEST_GONE)
			{
				CdcIngestClose(&ing);
				CdcIngestDropSlot();
				ereport(LOG,
						(errmsg("cdc_ext log writer for database %u stops: the extension was dropped",
								dboid)));
				writer_exit_no_extension();
			}
			CdcIngestAfterCommit(&ing);
			writer_bound_slot_wal(ing.processed);
			CdcLogSetProcessed(ing.processed, step == CDC_INGEST_LOGGED);
			busy = step == CDC_INGEST_LOGGED || step == CDC_INGEST_MORE;
			if (step == CDC_INGEST_RECONFIGURE)
			{
				CdcIngestClose(&ing);
				if (!CdcIngestOpen(&ing, true))
				{
					CdcIngestDropSlot();
					writer_exit_no_extension();
				}
			}
		}

		/*
		 * A backfill's next chunk, once the last one is logged: read now,
		 * its mark decoded by the next cycles (backfill.c).
		 */
		if (!CdcBackfillInFlight() && CdcBackfillStep())
			busy = true;

		now = GetCurrentTimestamp();
		if (TimestampDifferenceExceeds(last_maintain, now, CDC_MAINTAIN_EVERY_MS))
		{
			CdcLogMaintain(true, ing.extension);
			last_maintain = now;
		}

		if (!busy)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 CDC_WRITER_NAP_MS, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
}
