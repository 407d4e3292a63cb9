/*
 * worker.c
 *		The log's processes and shared state: a launcher (static background
 *		worker, started by shared_preload_libraries = 'cdc_ext') that keeps one
 *		log writer (dynamic background worker) running per database that has
 *		the extension, and the shared memory through which readers long-poll
 *		for the writer's commits.
 *
 * Launcher: lists the databases that accept connections and starts a writer
 * in each; a writer that finds no cdc_ext 1.1 in its database says so in
 * shared memory and exits, and the launcher starts one there again at once
 * when cdc.start_writer() (run by CREATE EXTENSION and ALTER EXTENSION
 * UPDATE) asks, else only if that database's entry went to another database
 * meanwhile (then after CDC_PROBE_INTERVAL).  A writer that exits on an
 * error is started again after CDC_RESTART_DELAY.  The shared entries go to
 * databases with a writer first (db_entry).  After a crash of any process the postmaster restarts
 * the launcher, which starts the writers again (they are never restarted by
 * the postmaster itself, so that there is one writer per database).
 *
 * Writer: decodes and logs (ingest.c) and keeps the partitions (retention.c)
 * in a loop; it exits, dropping its slot, when the extension is dropped.
 * SIGTERM and postmaster death end it at the next interrupt check: nothing
 * is lost, since the log, the ingest position and the slot only move
 * together at commits (ingest.c).
 *
 * Long poll: each database has a generation counter and a condition
 * variable; the writer bumps and broadcasts after each commit that logged
 * something, and readers sleep on it (no polling).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/tableam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "funcapi.h"
#include "libpq/libpq.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/slot.h"
#include "executor/spi.h"
#include "utils/guc.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "cdc_log.h"
#include "log_internal.h"

PG_FUNCTION_INFO_V1(cdc_writer_info);
PG_FUNCTION_INFO_V1(cdc_start_writer);
PG_FUNCTION_INFO_V1(cdc_wait_for_log);

PGDLLEXPORT void cdc_launcher_main(Datum arg);
PGDLLEXPORT void cdc_writer_main(Datum arg);

#define CDC_MAX_DATABASES 64
#define CDC_PROBE_INTERVAL_MS (30 * 1000)	/* look again for the extension */
#define CDC_RESTART_DELAY_MS 1000	/* after a writer's error exit */
#define CDC_WRITER_NAP_MS 10	/* idle writer: look for new WAL this often */
#define CDC_MAINTAIN_EVERY_MS 1000	/* partitions and retention */

typedef enum CdcWriterState
{
	CDC_WRITER_NONE,			/* never started, or gone */
	CDC_WRITER_STARTING,		/* launched, not yet known */
	CDC_WRITER_RUNNING,
	CDC_WRITER_NO_EXTENSION		/* exited: no cdc_ext 1.1 in that database */
} CdcWriterState;

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
} CdcLogDb;

typedef struct CdcLogShared
{
	LWLock	   *lock;			/* the dbs array's dboid and state fields */
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	bool		rescan;			/* a database may be new to the launcher */
	CdcLogDb	dbs[CDC_MAX_DATABASES];
} CdcLogShared;

static CdcLogShared *shared = NULL;
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
	shared = ShmemInitStruct("cdc_ext", shared_size(), &found);
	if (!found)
	{
		memset(shared, 0, shared_size());
		shared->lock = &(GetNamedLWLockTranche("cdc_ext"))->lock;
		for (int i = 0; i < CDC_MAX_DATABASES; i++)
		{
			pg_atomic_init_u64(&shared->dbs[i].generation, 0);
			pg_atomic_init_u64(&shared->dbs[i].processed_lsn, 0);
			ConditionVariableInit(&shared->dbs[i].cv);
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
	return shared != NULL;
}

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

/* Give entry e to database dboid (InvalidOid: free it), as new.  Lock held. */
static void
reset_entry(CdcLogDb *e, Oid dboid)
{
	e->state = CDC_WRITER_NONE;
	e->writer_pid = 0;
	e->wanted_at = 0;
	e->wanted_xid = InvalidTransactionId;
	e->started_at = 0;
	e->extension = InvalidOid;
	pg_atomic_write_u64(&e->processed_lsn, 0);
	e->dboid = dboid;
}

/*
 * The entry of database dboid; with create, one is made if there is none:
 * a free one, else one of a database found without the extension (the
 * launcher probes every database, and a server may have many more than
 * CDC_MAX_DATABASES without cdc_ext: they must not take the entries the
 * databases with it need).  NULL when every entry has a writer.
 */
static CdcLogDb *
db_entry_made(Oid dboid, bool create, bool *made)
{
	CdcLogDb   *free_slot = NULL;
	CdcLogDb   *idle_slot = NULL;
	CdcLogDb   *result = NULL;

	if (shared == NULL)
		return NULL;
	LWLockAcquire(shared->lock, create ? LW_EXCLUSIVE : LW_SHARED);
	for (int i = 0; i < CDC_MAX_DATABASES; i++)
	{
		CdcLogDb   *e = &shared->dbs[i];

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
		reset_entry(result, dboid);
		if (made)
			*made = true;
	}
	LWLockRelease(shared->lock);
	return result;
}

static CdcLogDb *
db_entry(Oid dboid, bool create)
{
	return db_entry_made(dboid, create, NULL);
}

static CdcLogDb *
my_entry(void)
{
	if (my_db == NULL || my_db->dboid != MyDatabaseId)
		my_db = db_entry(MyDatabaseId, true);
	return my_db;
}

uint64
CdcLogGeneration(void)
{
	CdcLogDb   *e = my_entry();

	return e ? pg_atomic_read_u64(&e->generation) : 0;
}

XLogRecPtr
CdcLogProcessedLsn(void)
{
	CdcLogDb   *e = my_entry();

	return e ? (XLogRecPtr) pg_atomic_read_u64(&e->processed_lsn) : InvalidXLogRecPtr;
}

/* The writer: this much WAL is decoded and everything committed in it logged. */
void
CdcLogSetProcessed(XLogRecPtr lsn, bool logged)
{
	CdcLogDb   *e = my_entry();

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
	CdcLogDb   *e = my_entry();
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

/* ---------------------------------------------------------------------- */
/* SQL: cdc.writer_info(), cdc.start_writer(), cdc.wait_for_log()         */

Datum
cdc_writer_info(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {0};
	CdcLogDb   *e = db_entry(MyDatabaseId, false);
	bool		running = false;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "cdc_ext: writer_info must return a record");
	if (e != NULL)
	{
		LWLockAcquire(shared->lock, LW_SHARED);
		running = e->state == CDC_WRITER_RUNNING && e->writer_pid != 0;
		values[1] = Int32GetDatum(e->writer_pid);
		values[2] = TimestampTzGetDatum(e->started_at);
		LWLockRelease(shared->lock);
	}
	values[0] = BoolGetDatum(running);
	nulls[1] = nulls[2] = !running;
	values[3] = BoolGetDatum(shared != NULL);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

bool
CdcLogWriterRunning(int *pid)
{
	CdcLogDb   *e = db_entry(MyDatabaseId, false);
	bool		running = false;

	if (e == NULL)
		return false;
	LWLockAcquire(shared->lock, LW_SHARED);
	running = e->state == CDC_WRITER_RUNNING && e->writer_pid != 0;
	if (pid)
		*pid = e->writer_pid;
	LWLockRelease(shared->lock);
	return running;
}

/*
 * Why no writer can log this database now, as a WARNING to whoever asked
 * for one (CREATE EXTENSION calls cdc.start_writer()): without the preload
 * no writer ever runs; without wal_level = logical none can decode; with
 * every replication slot in use none can start (it keeps trying, and
 * consumers made before it starts get a gap for what committed until then:
 * ingest.c, record_lost_range).  Saying nothing let a log stay empty.
 */
static void
warn_writer_blocked(void)
{
	int			used = 0;
	char	   *slot = psprintf("cdc_ext_log_%u", MyDatabaseId);

	if (shared == NULL)
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
	CdcLogDb   *e = db_entry(MyDatabaseId, true);

	warn_writer_blocked();
	if (e == NULL)
	{
		if (shared != NULL)
			ereport(WARNING,
					(errmsg("cdc_ext: more than %d databases with a log writer; none for this database",
							CDC_MAX_DATABASES),
					 errhint("Drop cdc_ext where it is not needed.")));
		PG_RETURN_BOOL(false);
	}
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	e->wanted_at = GetCurrentTimestamp();
	e->wanted_xid = GetTopTransactionIdIfAny();
	if (e->state == CDC_WRITER_NO_EXTENSION)
		e->state = CDC_WRITER_NONE;
	shared->rescan = true;
	LWLockRelease(shared->lock);
	if (shared->launcher_latch)
		SetLatch(shared->launcher_latch);
	PG_RETURN_BOOL(true);
}

void
CdcLogWaitStarted(void)
{
	char	   *slot = psprintf("cdc_ext_log_%u", MyDatabaseId);
	TimestampTz deadline = GetCurrentTimestamp() + 10 * USECS_PER_SEC;

	/* no writer will come without the preload (CREATE EXTENSION warned) */
	if (shared == NULL || wal_level < WAL_LEVEL_LOGICAL)
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
				 errhint(shared == NULL ?
						 "Add cdc_ext to shared_preload_libraries and restart the server, or run CALL cdc.ingest() regularly (for example from pg_cron)." :
						 "See the server log for why the log writer stopped; SELECT * FROM cdc.status() shows it.")));
	}
	CdcOwnerEnd(&scope);
}

Datum
cdc_wait_for_log(PG_FUNCTION_ARGS)
{
	XLogRecPtr	upto;
	TimestampTz deadline = GetCurrentTimestamp();
	Interval   *timeout = PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1);
	CdcLogDb   *e = my_entry();
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
		LWLockAcquire(shared->lock, LW_SHARED);
		logs_for = e->extension;
		LWLockRelease(shared->lock);
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

/*
 * A background worker has no statements: without this, now() would stay
 * at the first transaction's start for the life of the process.
 */
void
CdcStartTransaction(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
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
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < CDC_MAX_DATABASES; i++)
	{
		CdcLogDb   *e = &shared->dbs[i];

		if (e->dboid != dboid)
			continue;
		if (e->writer_pid != 0 && kill(e->writer_pid, 0) == 0)
			break;
		reset_entry(e, InvalidOid);
		break;
	}
	LWLockRelease(shared->lock);
}

static bool
start_writer(Oid dboid, BackgroundWorkerHandle **handle, bool *full)
{
	BackgroundWorker bgw;
	bool		made;
	CdcLogDb   *e = db_entry_made(dboid, true, &made);

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
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	e->state = CDC_WRITER_STARTING;
	LWLockRelease(shared->lock);
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
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		if (e->state == CDC_WRITER_STARTING && e->dboid == dboid)
		{
			if (made)
				reset_entry(e, InvalidOid);
			else
				e->state = CDC_WRITER_NONE;
		}
		LWLockRelease(shared->lock);
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

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->launcher_pid = MyProcPid;
	shared->launcher_latch = MyLatch;
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
		CdcLogDb   *e = &shared->dbs[i];

		if (e->state == CDC_WRITER_RUNNING && e->writer_pid != 0 &&
			kill(e->writer_pid, 0) == 0)
			continue;
		if (e->state == CDC_WRITER_RUNNING ||
			e->state == CDC_WRITER_STARTING)
			e->state = CDC_WRITER_NONE;
		e->writer_pid = 0;
	}
	LWLockRelease(shared->lock);

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
		if (shared->rescan)
		{
			LWLockAcquire(shared->lock, LW_EXCLUSIVE);
			shared->rescan = false;
			LWLockRelease(shared->lock);
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
			 * (db_entry), so it may have none here.
			 */
			CdcLogDb   *e = db_entry(ld->dboid, false);
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
				LWLockAcquire(shared->lock, LW_SHARED);
				if (e->dboid == ld->dboid &&
					e->state == CDC_WRITER_RUNNING && e->writer_pid != 0 &&
					kill(e->writer_pid, 0) == 0)
					alive = true;
				LWLockRelease(shared->lock);
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
				LWLockAcquire(shared->lock, LW_EXCLUSIVE);
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
				LWLockRelease(shared->lock);
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

/* ---------------------------------------------------------------------- */
/* Writer                                                                 */

static void
writer_shmem_exit(int code, Datum arg)
{
	CdcLogDb   *e = my_db;

	if (e == NULL || shared == NULL)
		return;
	/* only the running writer's own exit changes what it announced */
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (e->writer_pid == MyProcPid)
	{
		e->writer_pid = 0;
		if (e->state == CDC_WRITER_RUNNING)
			e->state = CDC_WRITER_NONE;
	}
	LWLockRelease(shared->lock);
	ConditionVariableBroadcast(&e->cv);
	if (shared->launcher_latch)
		SetLatch(shared->launcher_latch);
}

/* Say why we leave (the launcher reads it) and go. */
static void
writer_exit_no_extension(void)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	/* a probe leaving must not hide a writer that runs */
	if (my_db->writer_pid == 0 || my_db->writer_pid == MyProcPid)
	{
		my_db->state = CDC_WRITER_NO_EXTENSION;
		my_db->writer_pid = 0;
	}
	LWLockRelease(shared->lock);
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

	my_db = db_entry(dboid, true);
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
		LWLockAcquire(shared->lock, LW_SHARED);
		wanted_xid = my_db->wanted_xid;
		LWLockRelease(shared->lock);
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
		LWLockAcquire(shared->lock, LW_SHARED);
		wanted_at = my_db->wanted_at;
		LWLockRelease(shared->lock);
		if (!asker_running &&
			(wanted_at == 0 ||
			 TimestampDifferenceExceeds(wanted_at, GetCurrentTimestamp(), 10000)))
			writer_exit_no_extension();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (my_db->state == CDC_WRITER_RUNNING && my_db->writer_pid != 0 &&
		my_db->writer_pid != MyProcPid && kill(my_db->writer_pid, 0) == 0)
	{
		/* one writer per database: another one is at work */
		LWLockRelease(shared->lock);
		proc_exit(0);
	}
	my_db->state = CDC_WRITER_RUNNING;
	my_db->writer_pid = MyProcPid;
	my_db->started_at = GetCurrentTimestamp();
	LWLockRelease(shared->lock);

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
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	my_db->extension = ing.extension;
	LWLockRelease(shared->lock);
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
