/*
 * launcher.c
 *		The launcher (static background worker, started by
 *		shared_preload_libraries = 'cdc_ext') that keeps one log writer
 *		(writer.c) running per database that has the extension; and what asks
 *		for a writer or about one: cdc.start_writer(), cdc.writer_info(), the
 *		waits and warnings of readers when none runs.
 *
 * It lists the databases that accept connections and starts a writer in
 * each; a writer that finds no cdc_ext 1.2 in its database says so in
 * shared memory (shmem.c) and exits, and the launcher starts one there
 * again at once when cdc.start_writer() (run by CREATE EXTENSION and ALTER
 * EXTENSION UPDATE) asks, else only if that database's entry went to
 * another database meanwhile (then after CDC_PROBE_INTERVAL).  A writer that
 * exits on an error is started again after CDC_RESTART_DELAY.  The shared
 * entries go to databases with a writer first (CdcLogDbEntry).  After a
 * crash of any process the postmaster restarts the launcher, which starts
 * the writers again (they are never restarted by the postmaster itself, so
 * that there is one writer per database).
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "log_internal.h"

PG_FUNCTION_INFO_V1(cdc_writer_info);
PG_FUNCTION_INFO_V1(cdc_start_writer);

PGDLLEXPORT void cdc_launcher_main(Datum arg);

#define CDC_PROBE_INTERVAL_MS (30 * 1000)	/* look again for the extension */
#define CDC_RESTART_DELAY_MS 1000	/* after a writer's error exit */

void
CdcLogRegisterLauncher(void)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 5;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "cdc_ext");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "cdc_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "cdc_ext launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "cdc_ext launcher");
	RegisterBackgroundWorker(&bgw);
}

/* ---------------------------------------------------------------------- */
/* SQL: cdc.writer_info(), cdc.start_writer(), cdc.wait_for_log()         */

Datum
cdc_writer_info(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {0};
	CdcLogDb   *e = CdcLogDbEntry(MyDatabaseId, false, NULL);
	bool		running = false;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "cdc_ext: writer_info must return a record");
	if (e != NULL)
	{
		LWLockAcquire(CdcLogShmem->lock, LW_SHARED);
		running = e->state == CDC_WRITER_RUNNING && e->writer_pid != 0;
		values[1] = Int32GetDatum(e->writer_pid);
		values[2] = TimestampTzGetDatum(e->started_at);
		LWLockRelease(CdcLogShmem->lock);
	}
	values[0] = BoolGetDatum(running);
	nulls[1] = nulls[2] = !running;
	values[3] = BoolGetDatum(CdcLogShmem != NULL);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/*
 * Why no writer can log this database now, as a WARNING to whoever asked
 * for one (CREATE EXTENSION calls cdc.start_writer()): without the preload
 * no writer ever runs; without wal_level = logical none can decode; with
 * every replication slot in use none can start (it keeps trying, and
 * consumers made before it starts get a gap for what committed until then:
 * slot.c, CdcLogRecordLostRange).  Saying nothing let a log stay empty.
 */
static void
warn_writer_blocked(void)
{
	int			used = 0;
	char	   *slot = CdcLogSlotName(MyDatabaseId);

	if (CdcLogShmem == NULL)
	{
		ereport(WARNING,
				(errmsg("cdc_ext is not in shared_preload_libraries: no log writer will run in database \"%s\"",
						get_database_name(MyDatabaseId)),
				 errdetail("Changes reach the change log only when CALL cdc.ingest() runs."),
				 errhint("Add cdc_ext to shared_preload_libraries and restart the server, or run CALL cdc.ingest() regularly (for example from pg_cron).")));
		return;
	}
	if (wal_level < WAL_LEVEL_LOGICAL)
	{
		ereport(WARNING,
				(errmsg("wal_level is \"%s\": the log writer cannot decode", GetConfigOption("wal_level", false, false)),
				 errhint("Set wal_level = logical and restart the server.")));
		return;
	}
	if (SearchNamedReplicationSlot(slot, true) != NULL)
		return;
	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	for (int i = 0; i < max_replication_slots; i++)
		if (ReplicationSlotCtl->replication_slots[i].in_use)
			used++;
	LWLockRelease(ReplicationSlotControlLock);
	if (used >= max_replication_slots)
		ereport(WARNING,
				(errmsg("no replication slot is free for the log writer of database \"%s\"",
						get_database_name(MyDatabaseId)),
				 errdetail("All %d replication slots (max_replication_slots) are in use. The writer starts once one is free; consumers made before then have a gap for the changes committed until it does.",
						   max_replication_slots),
				 errhint("Raise max_replication_slots (a restart) or drop a replication slot that is not needed.")));
}

Datum
cdc_start_writer(PG_FUNCTION_ARGS)
{
	CdcLogDb   *e = CdcLogDbEntry(MyDatabaseId, true, NULL);

	warn_writer_blocked();
	if (e == NULL)
	{
		if (CdcLogShmem != NULL)
			ereport(WARNING,
					(errmsg("cdc_ext: more than %d databases with a log writer; none for this database",
							CDC_MAX_DATABASES),
					 errhint("Drop cdc_ext where it is not needed.")));
		PG_RETURN_BOOL(false);
	}
	LWLockAcquire(CdcLogShmem->lock, LW_EXCLUSIVE);
	e->wanted_at = GetCurrentTimestamp();
	e->wanted_xid = GetTopTransactionIdIfAny();
	if (e->state == CDC_WRITER_NO_EXTENSION)
		e->state = CDC_WRITER_NONE;
	CdcLogShmem->rescan = true;
	LWLockRelease(CdcLogShmem->lock);
	if (CdcLogShmem->launcher_latch)
		SetLatch(CdcLogShmem->launcher_latch);
	PG_RETURN_BOOL(true);
}

void
CdcLogWaitStarted(void)
{
	char	   *slot = CdcLogSlotName(MyDatabaseId);
	TimestampTz deadline = GetCurrentTimestamp() + 10 * USECS_PER_SEC;

	/* no writer will come without the preload (CREATE EXTENSION warned) */
	if (CdcLogShmem == NULL || wal_level < WAL_LEVEL_LOGICAL)
		return;
	while (SearchNamedReplicationSlot(slot, true) == NULL)
	{
		if (GetCurrentTimestamp() >= deadline)
		{
			ereport(WARNING,
					(errmsg("the log writer of this database has not started"),
					 errdetail("Changes committed before it starts are not logged; this consumer will have a gap for them."),
					 errhint("See the server log and SELECT * FROM cdc.status(): the writer needs a free replication slot (max_replication_slots) and a free background worker slot (max_worker_processes).")));
			return;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 50L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * A read (cdc.stream, cdc.consume, cdc.read_group) that finds the log
 * behind the WAL with no writer running and no cdc.ingest() for a minute
 * says so (a WARNING with the way out), rather than returning nothing as
 * if nothing had changed.  A log younger than a minute is left alone: its
 * writer may still be starting.
 */
void
CdcLogWarnIfBehind(void)
{
	CdcOwnerScope scope;
	bool		isnull;

	if (CdcLogWriterRunning(NULL))
		return;
	CdcOwnerBegin(&scope);
	if (SPI_execute("SELECT confirmed_lsn, ingested_at FROM cdc.log_state "
					"WHERE pg_catalog.pg_current_wal_insert_lsn() OPERATOR(pg_catalog.>) confirmed_lsn "
					"AND coalesce(ingested_at, created_at) OPERATOR(pg_catalog.<) "
					"    (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 minute')",
					true, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		XLogRecPtr	upto = DatumGetLSN(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		char	   *at = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

		ereport(WARNING,
				(errmsg("the change log is behind and no log writer runs in this database"),
				 errdetail("The log reaches %X/%X; the WAL is at %X/%X. %s",
						   LSN_FORMAT_ARGS(upto), LSN_FORMAT_ARGS(GetXLogInsertRecPtr()),
						   at ? psprintf("CALL cdc.ingest() last ran at %s.", at) :
						   "CALL cdc.ingest() never ran."),
				 errhint(CdcLogShmem == NULL ?
						 "Add cdc_ext to shared_preload_libraries and restart the server, or run CALL cdc.ingest() regularly (for example from pg_cron)." :
						 "See the server log for why the log writer stopped; SELECT * FROM cdc.status() shows it.")));
	}
	CdcOwnerEnd(&scope);
}

/* ---------------------------------------------------------------------- */
/* Launcher                                                               */

typedef struct LauncherDb
{
	Oid			dboid;
	BackgroundWorkerHandle *handle;
	TimestampTz next_start;		/* not before */
	TimestampTz wanted_seen;	/* the last cdc.start_writer() stamp acted on */
	bool		seen;			/* still in pg_database */
} LauncherDb;

static List *
database_list(List **all)
{
	List	   *result = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext outer = CurrentMemoryContext;

	CdcStartTransaction();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		MemoryContext old;

		old = MemoryContextSwitchTo(outer);
		*all = lappend_oid(*all, db->oid);
		if (db->datallowconn && !db->datistemplate)
			result = lappend_oid(result, db->oid);
		MemoryContextSwitchTo(old);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return result;
}

/* A dropped database's entry is free again (no writer can run there). */
static void
release_entry(Oid dboid)
{
	LWLockAcquire(CdcLogShmem->lock, LW_EXCLUSIVE);
	for (int i = 0; i < CDC_MAX_DATABASES; i++)
	{
		CdcLogDb   *e = &CdcLogShmem->dbs[i];

		if (e->dboid != dboid)
			continue;
		if (e->writer_pid != 0 && kill(e->writer_pid, 0) == 0)
			break;
		CdcLogResetEntry(e, InvalidOid);
		break;
	}
	LWLockRelease(CdcLogShmem->lock);
}

static bool
start_writer(Oid dboid, BackgroundWorkerHandle **handle, bool *full)
{
	BackgroundWorker bgw;
	bool		made;
	CdcLogDb   *e = CdcLogDbEntry(dboid, true, &made);

	*full = e == NULL;
	if (e == NULL)
	{
		ereport(WARNING,
				(errmsg("cdc_ext: more than %d databases with a log writer; none for database %u",
						CDC_MAX_DATABASES, dboid),
				 errhint("Drop cdc_ext where it is not needed.")));
		return false;
	}
	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "cdc_ext");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "cdc_writer_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "cdc_ext log writer for database %u", dboid);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "cdc_ext log writer");
	bgw.bgw_main_arg = ObjectIdGetDatum(dboid);
	bgw.bgw_notify_pid = MyProcPid;

	/*
	 * Say "starting" before the worker can run: it may be running (and have
	 * said so) before RegisterDynamicBackgroundWorker returns here, and
	 * marking it "starting" afterwards would hide it from writer_info().
	 */
	LWLockAcquire(CdcLogShmem->lock, LW_EXCLUSIVE);
	e->state = CDC_WRITER_STARTING;
	LWLockRelease(CdcLogShmem->lock);
	if (!RegisterDynamicBackgroundWorker(&bgw, handle))
	{
		static TimestampTz warned_at = 0;

		/* said in the server log, once a minute at most (tried every second) */
		if (TimestampDifferenceExceeds(warned_at, GetCurrentTimestamp(), 60 * 1000))
		{
			ereport(WARNING,
					(errmsg("cdc_ext: no background worker slot is free for the log writer of database %u", dboid),
					 errdetail("Its changes are not logged until one is; consumers created meanwhile get a gap for them."),
					 errhint("Raise max_worker_processes (a restart): cdc_ext needs one for its launcher and one per database with the extension.")));
			warned_at = GetCurrentTimestamp();
		}
		/* no worker slot free now: an entry made for this start is given back */
		LWLockAcquire(CdcLogShmem->lock, LW_EXCLUSIVE);
		if (e->state == CDC_WRITER_STARTING && e->dboid == dboid)
		{
			if (made)
				CdcLogResetEntry(e, InvalidOid);
			else
				e->state = CDC_WRITER_NONE;
		}
		LWLockRelease(CdcLogShmem->lock);
		return false;
	}
	return true;
}

void
cdc_launcher_main(Datum arg)
{
	List	   *dbs = NIL;		/* of LauncherDb * */
	TimestampTz next_scan = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	LWLockAcquire(CdcLogShmem->lock, LW_EXCLUSIVE);
	CdcLogShmem->launcher_pid = MyProcPid;
	CdcLogShmem->launcher_latch = MyLatch;
	/*
	 * After a crash restart shared memory is new.  But this launcher may also
	 * have been restarted alone (it exited on an error) while the writers run
	 * on: keep what a live writer said, so that it is neither hidden nor
	 * doubled; forget the rest (a writer the old launcher registered and
	 * that has not said "running" yet is started again: the one that says
	 * "running" first keeps the database).
	 */
	for (int i = 0; i < CDC_MAX_DATABASES; i++)
	{
		CdcLogDb   *e = &CdcLogShmem->dbs[i];

		if (e->state == CDC_WRITER_RUNNING && e->writer_pid != 0 &&
			kill(e->writer_pid, 0) == 0)
			continue;
		if (e->state == CDC_WRITER_RUNNING ||
			e->state == CDC_WRITER_STARTING)
			e->state = CDC_WRITER_NONE;
		e->writer_pid = 0;
	}
	LWLockRelease(CdcLogShmem->lock);

	while (!ShutdownRequestPending)
	{
		TimestampTz now = GetCurrentTimestamp();
		ListCell   *lc;
		pid_t		pid;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/* the databases, now and then (and at once when asked) */
		if (CdcLogShmem->rescan)
		{
			LWLockAcquire(CdcLogShmem->lock, LW_EXCLUSIVE);
			CdcLogShmem->rescan = false;
			LWLockRelease(CdcLogShmem->lock);
			next_scan = 0;
		}
		if (now >= next_scan)
		{
			List	   *all = NIL;
			List	   *oids = database_list(&all);
			ListCell   *lo;

			foreach(lc, dbs)
				((LauncherDb *) lfirst(lc))->seen = false;
			foreach(lo, oids)
			{
				Oid			dboid = lfirst_oid(lo);
				LauncherDb *ld = NULL;

				foreach(lc, dbs)
					if (((LauncherDb *) lfirst(lc))->dboid == dboid)
						ld = lfirst(lc);
				if (ld == NULL)
				{
					ld = MemoryContextAllocZero(TopMemoryContext, sizeof(LauncherDb));
					ld->dboid = dboid;
					dbs = lappend(dbs, ld);
				}
				ld->seen = true;
			}
			/* dropped databases: give their entries back */
			foreach(lc, dbs)
			{
				LauncherDb *ld = lfirst(lc);

				if (list_member_oid(all, ld->dboid) ||
					(ld->handle != NULL &&
					 GetBackgroundWorkerPid(ld->handle, &pid) != BGWH_STOPPED))
					continue;
				release_entry(ld->dboid);
				if (ld->handle != NULL)
					pfree(ld->handle);
				dbs = foreach_delete_current(dbs, lc);
				pfree(ld);
			}
			list_free(all);
			list_free(oids);
			next_scan = now + (int64) CDC_PROBE_INTERVAL_MS * 1000 / 3;
		}

		foreach(lc, dbs)
		{
			LauncherDb *ld = lfirst(lc);

			/*
			 * Only a database being started (or asked for by
			 * cdc.start_writer()) takes an entry: one found without the
			 * extension gives its entry up to any database that needs one
			 * (CdcLogDbEntry), so it may have none here.
			 */
			CdcLogDb   *e = CdcLogDbEntry(ld->dboid, false, NULL);
			bool		alive;
			bool		had_writer;
			CdcWriterState state;
			bool		wanted;
			bool		full;

			alive = ld->handle != NULL &&
				GetBackgroundWorkerPid(ld->handle, &pid) != BGWH_STOPPED;
			/* a writer we did not start (or whose handle we lost) still counts */
			if (e != NULL)
			{
				LWLockAcquire(CdcLogShmem->lock, LW_SHARED);
				if (e->dboid == ld->dboid &&
					e->state == CDC_WRITER_RUNNING && e->writer_pid != 0 &&
					kill(e->writer_pid, 0) == 0)
					alive = true;
				LWLockRelease(CdcLogShmem->lock);
			}
			if (alive || !ld->seen)
				continue;
			had_writer = ld->handle != NULL;
			if (ld->handle != NULL)
			{
				pfree(ld->handle);
				ld->handle = NULL;
			}
			state = CDC_WRITER_NONE;
			wanted = false;
			if (e != NULL)
			{
				LWLockAcquire(CdcLogShmem->lock, LW_EXCLUSIVE);
				if (e->dboid == ld->dboid)
				{
					state = e->state;
					wanted = e->wanted_at > ld->wanted_seen;
					ld->wanted_seen = e->wanted_at;
					if (state != CDC_WRITER_NO_EXTENSION)
						e->state = CDC_WRITER_NONE;
					e->writer_pid = 0;
				}
				else
					e = NULL;	/* given to another database meanwhile */
				LWLockRelease(CdcLogShmem->lock);
			}
			/*
			 * Our writer went and its entry with it: only an entry that said
			 * "no extension" is given away.
			 */
			if (e == NULL && had_writer)
				state = CDC_WRITER_NO_EXTENSION;

			/*
			 * a writer that just went: without the extension look again
			 * later (CDC_PROBE_INTERVAL_MS), after an error soon.  Only when
			 * it just went: the entry still says "no extension" afterwards,
			 * and pushing the next look on each pass then (as before) meant
			 * a database that kept its entry was never looked at again.
			 */
			if (state == CDC_WRITER_NO_EXTENSION)
			{
				if (had_writer && !wanted)
					ld->next_start = now + (int64) CDC_PROBE_INTERVAL_MS * 1000;
			}
			else if (had_writer || state == CDC_WRITER_RUNNING ||
					 state == CDC_WRITER_STARTING)
			{
				/*
				 * Our writer went without saying "no extension": an error,
				 * even if its exit already said "none" (not at once again, or
				 * a writer that always fails would be started in a tight loop)
				 */
				ld->next_start = now + (int64) CDC_RESTART_DELAY_MS * 1000;
			}
			if (wanted)
				ld->next_start = 0;
			if (now < ld->next_start)
				continue;
			if (!start_writer(ld->dboid, &ld->handle, &full))
				ld->next_start = now + (int64) (full ? CDC_PROBE_INTERVAL_MS : CDC_RESTART_DELAY_MS) * 1000;
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	/* exit code 0 would unregister a static worker: a SIGTERM'd launcher would never come back */
	proc_exit(1);
}
