/*
 * shmem.c
 *		The log's shared memory: one entry per database with a writer (its
 *		state, PID, how far it has logged), and the long poll readers wait in.
 *
 * Each database has a generation counter and a condition variable; the
 * writer bumps and broadcasts after each commit that logged something, and
 * readers sleep on it (no polling).  The entries go to databases with a
 * writer first (CdcLogDbEntry).  The launcher (launcher.c) and the writer
 * (writer.c) read and write the entries under CdcLogShmem->lock.
 */
#include "postgres.h"

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "commands/extension.h"
#include "funcapi.h"
#include "libpq/libpq.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "log_internal.h"

PG_FUNCTION_INFO_V1(cdc_wait_for_log);

CdcLogShared *CdcLogShmem = NULL;	/* NULL: not preloaded */
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static CdcLogDb *my_db = NULL;	/* this backend's database's entry */

static Size
shared_size(void)
{
	return MAXALIGN(sizeof(CdcLogShared));
}

static void
cdc_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(shared_size());
	RequestNamedLWLockTranche("cdc_ext", 1);
}

static void
cdc_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	CdcLogShmem = ShmemInitStruct("cdc_ext", shared_size(), &found);
	if (!found)
	{
		memset(CdcLogShmem, 0, shared_size());
		CdcLogShmem->lock = &(GetNamedLWLockTranche("cdc_ext"))->lock;
		for (int i = 0; i < CDC_MAX_DATABASES; i++)
		{
			pg_atomic_init_u64(&CdcLogShmem->dbs[i].generation, 0);
			pg_atomic_init_u64(&CdcLogShmem->dbs[i].processed_lsn, 0);
			ConditionVariableInit(&CdcLogShmem->dbs[i].cv);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

void
CdcLogShmemRequest(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = cdc_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = cdc_shmem_startup;
}

bool
CdcLogShmemAvailable(void)
{
	return CdcLogShmem != NULL;
}

/* Give entry e to database dboid (InvalidOid: free it), as new.  Lock held. */
void
CdcLogResetEntry(CdcLogDb *e, Oid dboid)
{
	e->state = CDC_WRITER_NONE;
	e->writer_pid = 0;
	e->wanted_at = 0;
	e->wanted_xid = InvalidTransactionId;
	e->started_at = 0;
	e->extension = InvalidOid;
	pg_atomic_write_u64(&e->processed_lsn, 0);
	e->slot_invalidated = false;
	e->dboid = dboid;
}

/*
 * The entry of database dboid; with create, one is made if there is none:
 * a free one, else one of a database found without the extension (the
 * launcher probes every database, and a server may have many more than
 * CDC_MAX_DATABASES without cdc_ext: they must not take the entries the
 * databases with it need).  NULL when every entry has a writer.
 */
CdcLogDb *
CdcLogDbEntry(Oid dboid, bool create, bool *made)
{
	CdcLogDb   *free_slot = NULL;
	CdcLogDb   *idle_slot = NULL;
	CdcLogDb   *result = NULL;

	if (CdcLogShmem == NULL)
		return NULL;
	LWLockAcquire(CdcLogShmem->lock, create ? LW_EXCLUSIVE : LW_SHARED);
	for (int i = 0; i < CDC_MAX_DATABASES; i++)
	{
		CdcLogDb   *e = &CdcLogShmem->dbs[i];

		if (e->dboid == dboid)
		{
			result = e;
			break;
		}
		if (free_slot == NULL && !OidIsValid(e->dboid))
			free_slot = e;
		if (idle_slot == NULL && e->state == CDC_WRITER_NO_EXTENSION &&
			e->writer_pid == 0)
			idle_slot = e;
	}
	if (made)
		*made = false;
	if (result == NULL && create && (free_slot != NULL || idle_slot != NULL))
	{
		result = free_slot != NULL ? free_slot : idle_slot;
		CdcLogResetEntry(result, dboid);
		if (made)
			*made = true;
	}
	LWLockRelease(CdcLogShmem->lock);
	return result;
}

/* This backend's database's entry (made if there is none), or NULL. */
CdcLogDb *
CdcLogMyEntry(void)
{
	if (my_db == NULL || my_db->dboid != MyDatabaseId)
		my_db = CdcLogDbEntry(MyDatabaseId, true, NULL);
	return my_db;
}

/*
 * Did a writer of this database drop the log's invalidated slot without
 * recording the lost range yet?  A writer can be terminated between the two
 * (a checkpoint invalidating slots terminates the one making the new slot,
 * whose first position it may find too old too): the next writer, finding
 * no slot, must still say why it was lost.  Not kept across a server restart.
 */
void
CdcLogSetSlotInvalidated(bool invalidated)
{
	CdcLogDb   *e = CdcLogMyEntry();

	if (e != NULL)
		e->slot_invalidated = invalidated;
}

bool
CdcLogSlotInvalidated(void)
{
	CdcLogDb   *e = CdcLogMyEntry();

	return e != NULL && e->slot_invalidated;
}

uint64
CdcLogGeneration(void)
{
	CdcLogDb   *e = CdcLogMyEntry();

	return e ? pg_atomic_read_u64(&e->generation) : 0;
}

XLogRecPtr
CdcLogProcessedLsn(void)
{
	CdcLogDb   *e = CdcLogMyEntry();

	return e ? (XLogRecPtr) pg_atomic_read_u64(&e->processed_lsn) : InvalidXLogRecPtr;
}

/* The writer: this much WAL is decoded and everything committed in it logged. */
void
CdcLogSetProcessed(XLogRecPtr lsn, bool logged)
{
	CdcLogDb   *e = CdcLogMyEntry();

	if (e == NULL)
		return;
	if (lsn > pg_atomic_read_u64(&e->processed_lsn))
		pg_atomic_write_u64(&e->processed_lsn, lsn);
	if (logged)
		pg_atomic_fetch_add_u64(&e->generation, 1);
	ConditionVariableBroadcast(&e->cv);
}

void
CdcLogNotifyIngest(void)
{
	CdcLogSetProcessed(InvalidXLogRecPtr, true);
}

/* A client that went away while we wait: end the session, as PostgreSQL does. */
static void
check_client(void)
{
	if (MyProcPort != NULL && whereToSendOutput == DestRemote &&
		!pq_check_connection())
		ereport(FATAL,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("connection to client lost while waiting for changes")));
}

bool
CdcLogWait(uint64 seen, TimestampTz deadline)
{
	CdcLogDb   *e = CdcLogMyEntry();
	bool		woken = false;

	if (e == NULL)
	{
		/* no shared memory (no preload): nap, then look again */
		TimestampTz now = GetCurrentTimestamp();

		if (now < deadline)
		{
			long		ms = Min(100, TimestampDifferenceMilliseconds(now, deadline));

			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
		CHECK_FOR_INTERRUPTS();
		check_client();
		return false;
	}

	ConditionVariablePrepareToSleep(&e->cv);
	for (;;)
	{
		TimestampTz now;
		long		ms;

		if (pg_atomic_read_u64(&e->generation) != seen)
		{
			woken = true;
			break;
		}
		now = GetCurrentTimestamp();
		if (now >= deadline)
			break;
		/* wake at least once a second to notice a client that went away */
		ms = Min(1000, TimestampDifferenceMilliseconds(now, deadline));
		(void) ConditionVariableTimedSleep(&e->cv, Max(ms, 1), PG_WAIT_EXTENSION);
		check_client();
	}
	ConditionVariableCancelSleep();
	return woken;
}

bool
CdcLogWriterRunning(int *pid)
{
	CdcLogDb   *e = CdcLogDbEntry(MyDatabaseId, false, NULL);
	bool		running = false;

	if (e == NULL)
		return false;
	LWLockAcquire(CdcLogShmem->lock, LW_SHARED);
	running = e->state == CDC_WRITER_RUNNING && e->writer_pid != 0;
	if (pid)
		*pid = e->writer_pid;
	LWLockRelease(CdcLogShmem->lock);
	return running;
}

Datum
cdc_wait_for_log(PG_FUNCTION_ARGS)
{
	XLogRecPtr	upto;
	TimestampTz deadline = GetCurrentTimestamp();
	Interval   *timeout = PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1);
	CdcLogDb   *e = CdcLogMyEntry();
	Oid			my_extension;

	if (timeout != NULL)
	{
		int64		us = CdcIntervalMicros(timeout, "timeout");

		deadline += us;
	}
	else
		deadline += 30 * USECS_PER_SEC;
	if (PG_ARGISNULL(0))
	{
		/*
		 * Everything written so far, flushed so that the writer can read it.
		 * At the start of a page the insert position is past the page header,
		 * which holds nothing yet and cannot be flushed: stop before it.
		 */
		upto = GetXLogInsertRecPtr();
		if (XLogSegmentOffset(upto, wal_segment_size) == SizeOfXLogLongPHD)
			upto -= SizeOfXLogLongPHD;
		else if (upto % XLOG_BLCKSZ == SizeOfXLogShortPHD)
			upto -= SizeOfXLogShortPHD;
		XLogFlush(upto);
	}
	else
		upto = PG_GETARG_LSN(0);

	if (e == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no log writer runs in this server"),
				 errdetail("cdc_ext is not in shared_preload_libraries."),
				 errhint("Add cdc_ext to shared_preload_libraries and restart, or log changes with CALL cdc.ingest();")));
	my_extension = get_extension_oid("cdc_ext", false);
	for (;;)
	{
		uint64		gen = pg_atomic_read_u64(&e->generation);
		XLogRecPtr	done = pg_atomic_read_u64(&e->processed_lsn);
		Oid			logs_for;

		/* a writer of an earlier cdc_ext in this database does not count */
		LWLockAcquire(CdcLogShmem->lock, LW_SHARED);
		logs_for = e->extension;
		LWLockRelease(CdcLogShmem->lock);
		if (logs_for != my_extension)
			done = InvalidXLogRecPtr;

		if (done >= upto)
			PG_RETURN_LSN(done);
		if (GetCurrentTimestamp() >= deadline)
		{
			int			pid = 0;
			bool		running = CdcLogWriterRunning(&pid);

			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("timed out waiting for the change log to reach %X/%X",
							LSN_FORMAT_ARGS(upto)),
					 errdetail("The log writer %s; it has logged every transaction that committed before %X/%X.",
							   running ? psprintf("runs as PID %d", pid) : "is not running",
							   LSN_FORMAT_ARGS(done)),
					 errhint("See SELECT * FROM cdc.status(); and the server log.")));
		}
		/* the writer broadcasts after every cycle, logging or not */
		ConditionVariablePrepareToSleep(&e->cv);
		if ((done == InvalidXLogRecPtr || pg_atomic_read_u64(&e->processed_lsn) < upto) &&
			pg_atomic_read_u64(&e->generation) == gen)
			(void) ConditionVariableTimedSleep(&e->cv, 100, PG_WAIT_EXTENSION);
		ConditionVariableCancelSleep();
		check_client();
	}
}
