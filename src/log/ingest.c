/*
 * ingest.c
 *		Decode WAL with the cdc_ext plugin in process and log every change
 *		into cdc.log, exactly once.  Used by the log writer (worker.c) in a
 *		loop, and by CALL cdc.ingest() where there is no writer.
 *
 * Exactly-once (DESIGN §10).  A cycle, in one transaction:
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

#include "access/heapam.h"
#include "utils/fmgroids.h"
#include "catalog/indexing.h"
#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogutils.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "replication/decode.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/slot.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "cdc_plugin.h"
#include "log_internal.h"

PG_FUNCTION_INFO_V1(cdc_ingest);

/* A cycle stops decoding after this many rows or this long, to commit. */
#define CDC_CYCLE_MAX_ROWS 50000
#define CDC_CYCLE_MAX_MS 200
/* Rows per table_multi_insert call. */
#define CDC_INSERT_BATCH 1000
/* Decoded WAL without rows to log, past which the writer records its progress. */
#define CDC_IDLE_CONFIRM_BYTES ((XLogRecPtr) 16 * 1024 * 1024)
/* Memory for one cycle's buffer before it spills to a temporary file. */
#define CDC_BUFFER_KB (64 * 1024)

#define N_OPERATIONS 5

struct IngestSink
{
	CdcSink		base;
	Tuplestorestate *store;		/* this cycle's rows, in cdc.log's row type */
	TupleDesc	desc;			/* of cdc.log */
	Oid			op_oids[N_OPERATIONS];	/* cdc.operation: insert..message */
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
};

/* ---------------------------------------------------------------------- */
/* Where we are: extension, owner, state row                              */

/*
 * Is cdc_ext 1.1 here?  Also takes a share lock on the extension for the
 * rest of the transaction: DROP EXTENSION locks the extension itself before
 * any of its tables, so it then waits for the writer's transaction to end
 * instead of deadlocking with it on the log's tables (the writer takes them
 * in another order); the writer's next look finds the extension gone.
 */
/* pg_extension.extversion of extension ext (palloc'd), NULL if gone. */
static char *
extension_version(Oid ext)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *version = NULL;

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ext));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = TextDatumGetCString(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

CdcLogPresence
CdcLogPresent(void)
{
	char	   *version;
	Oid			nsp;
	Oid			ext = get_extension_oid("cdc_ext", true);

	if (!OidIsValid(ext))
		return CDC_LOG_ABSENT;
	LockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock);
	/* dropped while we waited for the lock? */
	if (get_extension_oid("cdc_ext", true) != ext)
		return CDC_LOG_ABSENT;
	nsp = get_namespace_oid("cdc", true);
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("log_state", nsp)))
		return CDC_LOG_OLD_VERSION;
	version = extension_version(ext);
	if (version == NULL || strcmp(version, CDC_SQL_VERSION) != 0)
		return CDC_LOG_OLD_VERSION;
	return CDC_LOG_PRESENT;
}

/*
 * The 1.1 library can be loaded while the 1.0 SQL objects are still
 * installed (the package was upgraded, ALTER EXTENSION not yet run).  1.0's
 * definitions call the same C symbols, sometimes with fewer arguments, and
 * its tables have other columns: refuse cleanly, before reading any
 * argument.  nargs is what the 1.1 definition passes.
 */
void
CdcCheckInstalledVersion(FunctionCallInfo fcinfo, int nargs)
{
	Oid			nsp;

	if (PG_NARGS() == nargs &&
		OidIsValid(nsp = get_namespace_oid("cdc", true)) &&
		OidIsValid(get_relname_relid("log_state", nsp)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the SQL objects of an older cdc_ext are installed"),
			 errdetail("The cdc_ext library loaded is version %s.", CDC_SQL_VERSION),
			 errhint("Run ALTER EXTENSION cdc_ext UPDATE.")));
}

void
CdcOwnerBegin(CdcOwnerScope *scope)
{
	Oid			owner = InvalidOid;
	int			rc;
	bool		isnull;

	GetUserIdAndSecContext(&scope->saved_user, &scope->saved_sec);
	scope->guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "cdc_ext: SPI_connect failed");
	rc = SPI_execute("SELECT extowner FROM pg_catalog.pg_extension "
					 "WHERE extname OPERATOR(pg_catalog.=) 'cdc_ext'", true, 1);
	if (rc == SPI_OK_SELECT && SPI_processed == 1)
		owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1, &isnull));
	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"cdc_ext\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION cdc_ext first.")));
	SetUserIdAndSecContext(owner, scope->saved_sec | SECURITY_LOCAL_USERID_CHANGE);
}

void
CdcOwnerEnd(CdcOwnerScope *scope)
{
	SPI_finish();
	SetUserIdAndSecContext(scope->saved_user, scope->saved_sec);
	AtEOXact_GUC(true, scope->guc_level);
}

static XLogRecPtr
spi_lsn(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
}

static int32
spi_int(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

/* (read-write: it must see what this transaction has just changed) */
void
CdcLogStateLoad(CdcLogStateRow *row)
{
	char	   *slot;

	if (SPI_execute("SELECT slot_name::text, logged_commit_lsn, logged_seq, confirmed_lsn, "
					"oldest_lsn, current_chunk, confirm_rule FROM cdc.log_state",
					false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "cdc_ext: cdc.log_state must have one row");
	slot = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	strlcpy(row->slot_name, slot, NAMEDATALEN);
	row->logged_commit_lsn = spi_lsn(0, 2);
	row->logged_seq = spi_int(0, 3);
	row->confirmed_lsn = spi_lsn(0, 4);
	row->oldest_lsn = spi_lsn(0, 5);
	row->current_chunk = spi_int(0, 6);
	row->confirm_rule = spi_int(0, 7);
}

static char *
writer_slot_name(void)
{
	return psprintf("cdc_ext_log_%u", MyDatabaseId);
}

int64
CdcIntervalMicros(const Interval *iv, const char *argname)
{
	int64		us = iv->time + (int64) iv->day * USECS_PER_DAY +
		(int64) iv->month * DAYS_PER_MONTH * USECS_PER_DAY;

	if (us < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", argname)));
	return us;
}

/* ---------------------------------------------------------------------- */
/* The slot                                                               */

static CdcLostRangeHook lost_range_hook = NULL;

void
CdcLogSetLostRangeHook(CdcLostRangeHook hook)
{
	lost_range_hook = hook;
}

/*
 * Changes committed in [from, to) could not be logged (from invalid: the
 * log started at `to`, after consumers that start before it).  Never
 * silent: cdc.log_state remembers the range (cdc.status() shows it), every
 * consumer and group behind `to` gets a gap (cdc_log.h, CdcLostRangeHook),
 * the server log has a WARNING, and the log continues from `to`.  Inside
 * SPI, as the extension's owner, in the transaction that moves the log on.
 */
static void
record_lost_range(XLogRecPtr from, XLogRecPtr to, const char *reason)
{
	Oid			t[3] = {PG_LSNOID, PG_LSNOID, TEXTOID};
	Datum		a[3] = {LSNGetDatum(from), LSNGetDatum(to), CStringGetTextDatum(reason)};
	char		n[3] = {XLogRecPtrIsInvalid(from) ? 'n' : ' ', ' ', ' '};
	int			gaps = 0;

	if (lost_range_hook != NULL)
		gaps = lost_range_hook(from, to, reason);
	/* a log that began with no consumer behind it lost nothing */
	if (XLogRecPtrIsInvalid(from) && gaps == 0)
		return;
	if (SPI_execute_with_args("UPDATE cdc.log_state SET lost_from = $1, lost_to = $2, lost_reason = $3, "
							  "lost_at = pg_catalog.now(), "
							  "confirmed_lsn = GREATEST(confirmed_lsn, $2)",
							  3, t, a, n, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "cdc_ext: recording a lost range failed");
	if (XLogRecPtrIsInvalid(from))
		ereport(WARNING,
				(errmsg("cdc_ext: the change log of database %u starts at %X/%X, after %d consumer(s) and group(s) did",
						MyDatabaseId, LSN_FORMAT_ARGS(to), gaps),
				 errdetail("Changes committed before it were not logged (%s); they have a gap up to %X/%X.",
						   reason, LSN_FORMAT_ARGS(to))));
	else
		ereport(WARNING,
				(errmsg("cdc_ext: changes committed between %X/%X and %X/%X in database %u were not logged",
						LSN_FORMAT_ARGS(from), LSN_FORMAT_ARGS(to), MyDatabaseId),
				 errdetail("Cause: %s. %d consumer(s) and group(s) were behind it and have a gap.", reason, gaps),
				 errhint("Each consumer is told at its next read; cdc.status() shows the range.")));
}

/*
 * Is the writer's slot unusable: invalidated, or the WAL it needs removed?
 * (pg_replication_slots says so on every version: wal_status 'lost', or no
 * restart_lsn; 16 and later also mark slots invalidated for other reasons.)
 */
static bool
slot_lost(const char *slot)
{
	Oid			t[1] = {TEXTOID};
	Datum		a[1] = {CStringGetTextDatum(slot)};
	bool		isnull;

	if (SPI_execute_with_args("SELECT wal_status IS NOT DISTINCT FROM 'lost' OR restart_lsn IS NULL"
#if PG_VERSION_NUM >= 170000
							  " OR invalidation_reason IS NOT NULL"
#elif PG_VERSION_NUM >= 160000
							  " OR coalesce(conflicting, false)"
#endif
							  " FROM pg_catalog.pg_replication_slots WHERE slot_name OPERATOR(pg_catalog.=) $1",
							  1, t, a, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading the writer's slot failed");
	if (SPI_processed != 1)
		return false;
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Make sure the writer's slot exists (in the current transaction, which
 * must not have written yet when a slot is to be created).  A database
 * updated from 1.0 lists its consumers' slots in migrate_slots: the slot
 * that is furthest behind is copied, so that the log starts where the
 * slowest 1.0 consumer was and every consumer continues from its
 * checkpoint; then those slots are dropped.
 *
 * Creating a slot waits for every transaction running at that moment.  One
 * of them may be about to drop the extension, and DROP EXTENSION waits for
 * every lock on the extension's tables: holding the lock on cdc.log_state
 * taken to read it while waiting is a deadlock.  With own_transactions (the
 * writer, outside any caller's transaction) the slot is therefore created
 * in a transaction of its own that touches none of the extension's
 * objects, between the one that reads cdc.log_state and the one that
 * records where the log starts; this function commits the first two and
 * leaves the last one open for the caller.  If the extension is gone by
 * then, the slot just made is dropped and false is returned.  (A writer that
 * dies between the two leaves a slot that cdc.log_state does not know: the
 * next one drops it and starts afresh, below, before anything was logged.)
 * CALL cdc.ingest() does it all in the caller's transaction.
 */
bool
CdcIngestPrepareSlot(bool own_transactions)
{
	CdcOwnerScope scope;
	char		slot[NAMEDATALEN];	/* outlives the transactions below */
	bool		had_migration;
	XLogRecPtr	start = InvalidXLogRecPtr;
	bool		migrated = false;
	Datum		slotarg[1];
	Oid			slottype[1] = {TEXTOID};
	ArrayType  *migrate = NULL;
	bool		isnull;
	bool		never_had_slot;
	XLogRecPtr	logged_upto;	/* everything committed before it is logged */
	const char *lost_reason = NULL;

	strlcpy(slot, writer_slot_name(), NAMEDATALEN);
	PushActiveSnapshot(GetTransactionSnapshot());
	/* the extension first, then its tables, as DROP EXTENSION takes them */
	if (CdcLogPresent() != CDC_LOG_PRESENT)
	{
		PopActiveSnapshot();
		return false;
	}
	CdcOwnerBegin(&scope);
	if (SPI_execute("SELECT migrate_slots::text[], capture_from IS NULL, confirmed_lsn FROM cdc.log_state",
					true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "cdc_ext: cdc.log_state must have one row");
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			migrate = DatumGetArrayTypePCopy(d);
		never_had_slot = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 2, &isnull));
		logged_upto = spi_lsn(0, 3);
	}
	had_migration = migrate != NULL;
	slotarg[0] = CStringGetTextDatum(slot);

	/*
	 * A slot of that name that this log never started from is an earlier
	 * cdc_ext's in this database (dropped while no writer ran, or while a
	 * writer was starting and had already seen the old one): its position
	 * is before this log began.  Drop it; this log starts now.
	 */
	if (never_had_slot && migrate == NULL &&
		SearchNamedReplicationSlot(slot, true) != NULL)
	{
		ReplicationSlotDrop(slot, true);
		ereport(LOG,
				(errmsg("cdc_ext: dropped replication slot \"%s\" of an earlier cdc_ext in this database",
						slot)));
	}

	/*
	 * The log's own slot, unusable: invalidated, or the WAL it needs is
	 * removed (max_slot_wal_keep_size, an idle slot timeout).  Reading it
	 * would fail forever ("requested WAL segment ... has already been
	 * removed"): drop it and continue from a new one, the range between
	 * recorded as lost.  (A slot active in another backend is not dropped:
	 * that raises, and the writer tries again after its restart delay.)
	 */
	if (!never_had_slot && SearchNamedReplicationSlot(slot, true) != NULL && slot_lost(slot))
	{
		ReplicationSlotDrop(slot, true);
		lost_reason = "the log writer's replication slot was invalidated: the WAL it still needed was removed (max_slot_wal_keep_size), or it was invalidated otherwise";
		ereport(LOG,
				(errmsg("cdc_ext: dropped replication slot \"%s\": it was invalidated", slot)));
	}

	if (SearchNamedReplicationSlot(slot, true) == NULL)
	{
		/* the log had a slot, and it is gone */
		if (!never_had_slot && lost_reason == NULL && migrate == NULL)
			lost_reason = "the log writer's replication slot was gone: dropped by another session, or this server was promoted from a standby that had no copy of it";
		if (migrate != NULL)
		{
			Oid			t2[2] = {TEXTARRAYOID, TEXTOID};
			Datum		a2[2] = {PointerGetDatum(migrate), CStringGetTextDatum(slot)};

			/* the slot furthest behind of those still usable, copied */
			if (SPI_execute_with_args("SELECT c.lsn FROM (SELECT slot_name FROM pg_catalog.pg_replication_slots "
									  "  WHERE slot_name OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.name[]) "
									  "  AND database OPERATOR(pg_catalog.=) pg_catalog.current_database() "
									  "  AND plugin OPERATOR(pg_catalog.=) 'cdc_ext' "
									  "  AND wal_status IS DISTINCT FROM 'lost' AND active_pid IS NULL "
									  "  ORDER BY confirmed_flush_lsn LIMIT 1) s, "
									  "LATERAL pg_catalog.pg_copy_logical_replication_slot(s.slot_name, $2) c",
									  2, t2, a2, NULL, false, 1) != SPI_OK_SELECT)
				elog(ERROR, "cdc_ext: copying a 1.0 consumer's slot failed");
			if (SPI_processed == 1)
			{
				start = spi_lsn(0, 1);
				migrated = true;
			}
		}
		if (!migrated && own_transactions && migrate == NULL)
		{
			/* no lock on the extension's objects while the slot waits */
			CdcOwnerEnd(&scope);
			PopActiveSnapshot();
			CommitTransactionCommand();

			CdcStartTransaction();
			PushActiveSnapshot(GetTransactionSnapshot());
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "cdc_ext: SPI_connect failed");
			slotarg[0] = CStringGetTextDatum(slot);
			if (SPI_execute_with_args(CDC_CREATE_SLOT_SQL,
									  1, slottype, slotarg, NULL, false, 1) != SPI_OK_SELECT ||
				SPI_processed != 1)
				elog(ERROR, "cdc_ext: creating the log writer's slot failed");
			start = spi_lsn(0, 1);
			SPI_finish();
			PopActiveSnapshot();
			CommitTransactionCommand();

			CdcStartTransaction();
			PushActiveSnapshot(GetTransactionSnapshot());
			if (CdcLogPresent() != CDC_LOG_PRESENT)
			{
				/* dropped while the slot was made: this log is done */
				PopActiveSnapshot();
				ReplicationSlotDrop(slot, true);
				ereport(LOG,
						(errmsg("cdc_ext: dropped replication slot \"%s\": the extension was dropped while it was made",
								slot)));
				return false;
			}
			CdcOwnerBegin(&scope);
		}
		else if (!migrated)
		{
			if (SPI_execute_with_args(CDC_CREATE_SLOT_SQL,
									  1, slottype, slotarg, NULL, false, 1) != SPI_OK_SELECT ||
				SPI_processed != 1)
				elog(ERROR, "cdc_ext: creating the log writer's slot failed");
			start = spi_lsn(0, 1);
		}
		{
			Oid			t3[1] = {PG_LSNOID};
			Datum		a3[1] = {LSNGetDatum(start)};

			if (SPI_execute_with_args("UPDATE cdc.log_state SET capture_from = $1, "
									  "confirmed_lsn = GREATEST(confirmed_lsn, $1)",
									  1, t3, a3, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "cdc_ext: updating cdc.log_state failed");

			/*
			 * A new slot decodes no cdc.set_capture() that committed before
			 * it: the setting in force where it starts is the last one
			 * committed (this transaction sees every one that committed
			 * before the slot's start; one after it is decoded, and finds
			 * the setting unchanged).  A capture set right after CREATE
			 * EXTENSION was otherwise never applied.
			 */
			if (!migrated && CdcLogSettingsPresent() &&
				SPI_execute("UPDATE cdc.log_writer w SET capture_entities = s.capture_entities, "
							"capture_exclude_entities = s.capture_exclude_entities, "
							"capture_messages = s.capture_messages, capture_lsn = NULL, "
							"capture_at = s.capture_set_at FROM cdc.log_settings s",
							false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "cdc_ext: updating cdc.log_writer failed");

			/*
			 * A 1.0 database whose consumers' slots could not be taken over:
			 * their unread changes are gone, and they must be told (the
			 * horizon moves to where the log starts).
			 */
			if (had_migration && !migrated &&
				SPI_execute_with_args(psprintf("UPDATE %s SET oldest_lsn = $1", CdcLogHorizonTable()),
									  1, t3, a3, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "cdc_ext: moving the log's horizon failed");
		}
		if (lost_reason != NULL)
			record_lost_range(logged_upto, start, lost_reason);
		else if (never_had_slot && !had_migration)
		{
			/* consumers made before the log began have missed what came before it */
			record_lost_range(InvalidXLogRecPtr, start,
							  "the change log began when the log writer first made its slot");
		}
		ereport(LOG,
				(errmsg("cdc_ext: %s replication slot \"%s\" for the change log at %X/%X",
						migrated ? "took over 1.0 consumers' position with" : "created",
						slot, LSN_FORMAT_ARGS(start))));
	}
	if (migrate != NULL)
	{
		Oid			t1[1] = {TEXTARRAYOID};
		Datum		a1[1] = {PointerGetDatum(migrate)};

		/* the 1.0 consumers' own slots are no longer needed */
		if (SPI_execute_with_args("SELECT pg_catalog.pg_drop_replication_slot(slot_name) "
								  "FROM pg_catalog.pg_replication_slots "
								  "WHERE slot_name OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.name[]) "
								  "AND database OPERATOR(pg_catalog.=) pg_catalog.current_database() "
								  "AND active_pid IS NULL",
								  1, t1, a1, NULL, false, 0) != SPI_OK_SELECT ||
			SPI_execute("UPDATE cdc.log_state SET migrate_slots = NULL", false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "cdc_ext: dropping the 1.0 consumers' slots failed");
	}
	CdcOwnerEnd(&scope);
	PopActiveSnapshot();
	return true;
}

/* Drop the writer's slot and origin (the extension is gone). */
void
CdcIngestDropSlot(void)
{
	char	   *slot = writer_slot_name();

	if (SearchNamedReplicationSlot(slot, true) != NULL)
	{
		ReplicationSlotDrop(slot, true);
		ereport(LOG, (errmsg("cdc_ext: dropped replication slot \"%s\"", slot)));
	}
	CdcStartTransaction();
	replorigin_drop_by_name(slot, true, true);
	CommitTransactionCommand();
}

/*
 * Confirm the acquired slot up to lsn, whose changes are logged by a
 * transaction that committed at or before durable.
 *
 * Failover (17 and later): the writer's slot is a failover slot
 * (CDC_CREATE_SLOT_SQL), which a standby with sync_replication_slots copies.
 * A standby whose copy of the slot is past the log rows it holds would,
 * once promoted, never log those changes.  So, as logical walsenders and
 * pg_logical_slot_get_changes() do, the slot moves only once the physical
 * standbys named in synchronized_standby_slots have the WAL up to both lsn
 * and the log's commit (WaitForStandbyConfirmation waits for that, and
 * returns at once when the slot is not a failover slot or the setting is
 * empty).  The wait blocks the writer while a listed standby is away, as it
 * blocks walsenders: PostgreSQL warns about such a standby in the log.
 */
static void
confirm_slot(XLogRecPtr lsn, XLogRecPtr durable)
{
#ifdef CDC_HAVE_FAILOVER_SLOTS
	WaitForStandbyConfirmation(Max(lsn, durable));
#endif
	LogicalConfirmReceivedLocation(lsn);
}

/* ---------------------------------------------------------------------- */
/* Table shapes                                                           */

/*
 * cdc.log_shape records, for each logged table, its columns (attnum, name)
 * and key columns as of its changes, so that read-time column privileges
 * (src/api/privileges.c) follow a column's identity and not its name: a
 * column dropped and added again under the same name is another column.
 * The decoder hands each row change with its relation entry, built from
 * the catalog as of the change; when its version differs from the last
 * one this sink saw for the table and its columns differ too, the shape is
 * recorded at the change's position, in the cycle's transaction, unless the
 * last recorded shape is the same (a new writer sees each table once
 * more).  What this sink knows is forgotten when a cycle that recorded
 * shapes is not known to have committed.
 */
typedef struct LoggedShape
{
	Oid			relid;			/* hash key */
	uint64		version;		/* CdcRelEntry.version last compared */
	int			ncols;			/* -1: unknown */
	int16	   *attnums;
	char	  **names;
	int			nkey;
	int16	   *key;
} LoggedShape;

typedef struct PendingShape
{
	Oid			relid;
	XLogRecPtr	commit_lsn;
	int32		seq;
	Datum		attnums;		/* smallint[] */
	Datum		names;			/* text[] */
	Datum		key;			/* smallint[] */
} PendingShape;

static bool
shape_equals(const LoggedShape *ls, const CdcRelEntry *re)
{
	if (ls->ncols != re->ncols || ls->nkey != re->nkeys)
		return false;
	for (int i = 0; i < re->ncols; i++)
		if (ls->attnums[i] != re->cols[i].attnum || strcmp(ls->names[i], re->cols[i].name) != 0)
			return false;
	for (int i = 0; i < re->nkeys; i++)
		if (ls->key[i] != re->cols[re->keys[i]].attnum)
			return false;
	return true;
}

static Datum
int2_array(const int16 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int16GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT2OID, 2, true, TYPALIGN_SHORT));
}

/* Called for every row change the sink logs: queue its shape if new. */
static void
shape_note(IngestSink *s, const CdcChange *c)
{
	const CdcRelEntry *re = c->rel;
	LoggedShape *ls;
	bool		found;
	MemoryContext old;
	PendingShape *ps;
	Datum	   *names;

	if (re == NULL || !s->record_shapes)
		return;
	if (s->shapes == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(LoggedShape);
		ctl.hcxt = s->shape_cxt;
		s->shapes = hash_create("cdc_ext logged shapes", 64, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	ls = hash_search(s->shapes, &c->relid, HASH_ENTER, &found);
	if (!found)
	{
		ls->version = 0;
		ls->ncols = -1;
		ls->attnums = NULL;
		ls->names = NULL;
		ls->key = NULL;
	}
	if (found && ls->version == re->version)
		return;
	ls->version = re->version;
	if (ls->ncols >= 0 && shape_equals(ls, re))
		return;

	/* a new shape: remember it, and queue it for this cycle's transaction */
	old = MemoryContextSwitchTo(s->shape_cxt);
	if (ls->ncols >= 0)
	{
		for (int i = 0; i < ls->ncols; i++)
			pfree(ls->names[i]);
		pfree(ls->attnums);
		pfree(ls->names);
		pfree(ls->key);
	}
	ls->ncols = re->ncols;
	ls->nkey = re->nkeys;
	ls->attnums = palloc(sizeof(int16) * Max(re->ncols, 1));
	ls->names = palloc(sizeof(char *) * Max(re->ncols, 1));
	ls->key = palloc(sizeof(int16) * Max(re->nkeys, 1));
	for (int i = 0; i < re->ncols; i++)
	{
		ls->attnums[i] = re->cols[i].attnum;
		ls->names[i] = pstrdup(re->cols[i].name);
	}
	for (int i = 0; i < re->nkeys; i++)
		ls->key[i] = re->cols[re->keys[i]].attnum;

	MemoryContextSwitchTo(s->pending_cxt);
	ps = palloc(sizeof(PendingShape));
	ps->relid = c->relid;
	ps->commit_lsn = c->commit_lsn;
	ps->seq = c->seq;
	ps->attnums = int2_array(ls->attnums, ls->ncols);
	names = palloc(sizeof(Datum) * Max(ls->ncols, 1));
	for (int i = 0; i < ls->ncols; i++)
		names[i] = CStringGetTextDatum(ls->names[i]);
	ps->names = PointerGetDatum(construct_array(names, ls->ncols, TEXTOID, -1, false, TYPALIGN_INT));
	ps->key = int2_array(ls->key, ls->nkey);
	s->pending = lappend(s->pending, ps);
	MemoryContextSwitchTo(old);
}

/*
 * Record the cycle's new shapes (inside the owner's SPI session, in the
 * transaction that logs the rows), each unless the shape recorded last
 * before it is the same.
 */
static void
shapes_flush(IngestSink *s)
{
	ListCell   *lc;
	Oid			t[6] = {OIDOID, PG_LSNOID, INT4OID, INT2ARRAYOID, TEXTARRAYOID, INT2ARRAYOID};

	foreach(lc, s->pending)
	{
		PendingShape *ps = lfirst(lc);
		Datum		a[6] = {ObjectIdGetDatum(ps->relid), LSNGetDatum(ps->commit_lsn),
		Int32GetDatum(ps->seq), ps->attnums, ps->names, ps->key};

		if (SPI_execute_with_args("INSERT INTO cdc.log_shape (relid, commit_lsn, seq, attnums, names, key) "
								  "SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS ("
								  " SELECT FROM (SELECT l.attnums, l.names, l.key FROM cdc.log_shape l "
								  "  WHERE l.relid OPERATOR(pg_catalog.=) $1 "
								  "  AND (l.commit_lsn, l.seq) OPERATOR(pg_catalog.<=) ($2, $3) "
								  "  ORDER BY l.commit_lsn DESC, l.seq DESC LIMIT 1) l "
								  " WHERE l.attnums OPERATOR(pg_catalog.=) $4 AND l.names OPERATOR(pg_catalog.=) $5 "
								  " AND l.key OPERATOR(pg_catalog.=) $6) "
								  "ON CONFLICT DO NOTHING",
								  6, t, a, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "cdc_ext: recording the shape of table %u failed", ps->relid);
	}
	if (s->pending != NIL)
		s->shapes_unconfirmed = true;
	s->pending = NIL;
	MemoryContextReset(s->pending_cxt);
}

/* At a cycle's start: forget shapes a failed cycle may not have recorded. */
static void
shapes_cycle_start(IngestSink *s)
{
	s->pending = NIL;
	MemoryContextReset(s->pending_cxt);
	if (s->shapes_unconfirmed && s->shapes != NULL)
	{
		hash_destroy(s->shapes);
		s->shapes = NULL;
	}
	s->shapes_unconfirmed = false;
}

/* ---------------------------------------------------------------------- */
/* The sink                                                               */

static void
ingest_emit(CdcSink *base, const CdcChange *c)
{
	IngestSink *s = (IngestSink *) base;
	Datum		v[CDC_LOG_NCOLUMNS];
	bool		n[CDC_LOG_NCOLUMNS] = {0};
	int			opi;

	switch (c->op)
	{
		case CDC_OP_INSERT:
			opi = 0;
			break;
		case CDC_OP_UPDATE:
			opi = 1;
			break;
		case CDC_OP_DELETE:
			opi = 2;
			break;
		case CDC_OP_TRUNCATE:
			opi = 3;
			break;
		default:
			opi = 4;
			break;
	}
	v[CDC_LOG_COMMIT_LSN] = LSNGetDatum(c->commit_lsn);
	v[CDC_LOG_SEQ] = Int32GetDatum(c->seq);
	v[CDC_LOG_CHUNK] = Int32GetDatum(s->chunk);
	v[CDC_LOG_LSN] = LSNGetDatum(c->lsn);
	v[CDC_LOG_XID] = Int64GetDatum((int64) c->xid);
	v[CDC_LOG_TIMESTAMP] = TimestampTzGetDatum(c->commit_time);
	v[CDC_LOG_RELID] = ObjectIdGetDatum(c->relid);
	n[CDC_LOG_RELID] = !OidIsValid(c->relid);
	n[CDC_LOG_ENTITY] = c->entity == NULL;
	v[CDC_LOG_ENTITY] = c->entity ? CStringGetTextDatum(c->entity) : (Datum) 0;
	v[CDC_LOG_ENTITY_ID] = c->entity_id;
	n[CDC_LOG_ENTITY_ID] = c->entity_id == (Datum) 0;
	v[CDC_LOG_OPERATION] = ObjectIdGetDatum(s->op_oids[opi]);
	v[CDC_LOG_OLD_DATA] = c->old_data;
	n[CDC_LOG_OLD_DATA] = c->old_data == (Datum) 0;
	v[CDC_LOG_NEW_DATA] = c->new_data;
	n[CDC_LOG_NEW_DATA] = c->new_data == (Datum) 0;
	n[CDC_LOG_UNCHANGED_TOAST] = c->unchanged_toast == NIL;
	if (c->unchanged_toast != NIL)
		v[CDC_LOG_UNCHANGED_TOAST] = PointerGetDatum(strlist_to_textarray(c->unchanged_toast));
	n[CDC_LOG_FALLBACK] = c->fallback == NIL;
	if (c->fallback != NIL)
		v[CDC_LOG_FALLBACK] = PointerGetDatum(strlist_to_textarray(c->fallback));

	tuplestore_putvalues(s->store, s->desc, v, n);
	shape_note(s, c);
	if (s->rows++ == 0)
	{
		s->first_commit_lsn = c->commit_lsn;
		s->first_ts = c->commit_time;
	}
	s->last_commit_lsn = c->commit_lsn;
	s->last_seq = c->seq;
	s->last_ts = c->commit_time;
}

/* Do two lists of C strings hold the same strings in the same order? */
static bool
same_strings(List *a, List *b)
{
	ListCell   *la,
			   *lb;

	if (list_length(a) != list_length(b))
		return false;
	forboth(la, a, lb, b)
		if (strcmp(lfirst(la), lfirst(lb)) != 0)
			return false;
	return true;
}

/*
 * At cdc.set_capture()'s message, inside decoding (capture.c): read the
 * setting as of there and filter with it from there on.  A message of a
 * transaction that committed at or before the setting in force is one the
 * setting already includes (decoded again after a crash): ignored.  So is
 * one that finds the setting unchanged (a message emitted by hand): the
 * relations are not decided again for nothing.
 */
static bool
ingest_capture_changed(CdcSink *base, XLogRecPtr commit_lsn, TimestampTz commit_time)
{
	IngestSink *s = (IngestSink *) base;
	MemoryContext cxt;
	List	   *entities = NIL,
			   *exclude = NIL,
			   *messages = NIL;

	if (commit_lsn <= s->capture_lsn)
		return false;
	cxt = AllocSetContextCreate(GetMemoryChunkContext(s), "cdc_ext capture",
								ALLOCSET_SMALL_SIZES);
	if (!CdcCaptureReadHistoric(cxt, &entities, &exclude, &messages) ||
		(same_strings(entities, s->capture->entities) &&
		 same_strings(exclude, s->capture->exclude_entities) &&
		 same_strings(messages, s->base.messages)))
	{
		MemoryContextDelete(cxt);
		return false;
	}
	s->capture->entities = entities;
	s->capture->exclude_entities = exclude;
	s->base.messages = messages;
	if (s->capture_cxt != NULL)
		MemoryContextDelete(s->capture_cxt);
	s->capture_cxt = cxt;
	s->capture_lsn = commit_lsn;
	s->capture_at = commit_time;
	s->capture_changed = true;
	return true;
}

/*
 * Record the capture setting in force with the position it holds at, in
 * the cycle's transaction (the one that logs): a restart decodes from that
 * position with that setting.
 */
static void
persist_capture(IngestSink *s, XLogRecPtr processed)
{
	Oid			t[6] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, PG_LSNOID,
	TIMESTAMPTZOID, PG_LSNOID};
	Datum		a[6];
	char		n[7] = "      ";

	n[0] = s->capture->entities == NIL ? 'n' : ' ';
	n[1] = s->capture->exclude_entities == NIL ? 'n' : ' ';
	n[2] = s->base.messages == NIL ? 'n' : ' ';
	a[0] = s->capture->entities == NIL ? (Datum) 0 :
		PointerGetDatum(strlist_to_textarray(s->capture->entities));
	a[1] = s->capture->exclude_entities == NIL ? (Datum) 0 :
		PointerGetDatum(strlist_to_textarray(s->capture->exclude_entities));
	a[2] = s->base.messages == NIL ? (Datum) 0 :
		PointerGetDatum(strlist_to_textarray(s->base.messages));
	a[3] = LSNGetDatum(s->capture_lsn);
	a[4] = TimestampTzGetDatum(s->capture_at);
	a[5] = LSNGetDatum(processed);
	if (SPI_execute_with_args("UPDATE cdc.log_writer SET capture_entities = $1, "
							  "capture_exclude_entities = $2, capture_messages = $3, "
							  "capture_lsn = $4, capture_at = $5, "
							  "confirmed_lsn = GREATEST(confirmed_lsn, $6)",
							  6, t, a, n, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "cdc_ext: recording the capture setting failed");
	s->capture_changed = false;
}

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

static void
lookup_operation_oids(IngestSink *s)
{
	static const char *const labels[N_OPERATIONS] =
	{"insert", "update", "delete", "truncate", "message"};
	Oid			enum_type;

	enum_type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
								CStringGetDatum("operation"),
								ObjectIdGetDatum(get_namespace_oid("cdc", false)));
	for (int i = 0; i < N_OPERATIONS; i++)
	{
		s->op_oids[i] = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
										ObjectIdGetDatum(enum_type),
										CStringGetDatum(labels[i]));
		if (!OidIsValid(s->op_oids[i]))
			elog(ERROR, "cdc_ext: enum label cdc.operation '%s' is missing", labels[i]);
	}
}

/*
 * Column col of an SPI result row, a text[], as a List of C strings (NIL
 * when null; null elements left out).  For settings the extension stored
 * and checked itself (capture patterns, a consumer's filters).
 */
List *
CdcSpiTextList(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;

	if (isnull)
		return NIL;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			result = lappend(result, TextDatumGetCString(elems[i]));
	return result;
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
	CdcFilter  *f;
	MemoryContext old;
	RepOriginId origin;
	Relation	logrel;

	memset(ing, 0, sizeof(*ing));
	ing->writer = writer;
	ing->cxt = AllocSetContextCreate(TopMemoryContext, "cdc_ext ingest",
									 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ing->cxt);
	s = ing->sink = palloc0(sizeof(IngestSink));
	f = palloc0(sizeof(CdcFilter));
	s->shape_cxt = AllocSetContextCreate(ing->cxt, "cdc_ext logged shapes",
										 ALLOCSET_SMALL_SIZES);
	s->pending_cxt = AllocSetContextCreate(ing->cxt, "cdc_ext pending shapes",
										   ALLOCSET_SMALL_SIZES);
	MemoryContextSwitchTo(old);

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
	/* the capture setting in force where decoding resumes (capture.c) */
	if (SPI_execute(CdcLogSettingsPresent() ?
					"SELECT capture_entities, capture_exclude_entities, capture_messages, "
					"capture_lsn, capture_at FROM cdc.log_writer" :
					"SELECT capture_entities, capture_exclude_entities, capture_messages, "
					"NULL::pg_catalog.pg_lsn, NULL::pg_catalog.timestamptz FROM cdc.log_state",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "cdc_ext: cdc.log_state must have one row");
	s->capture_cxt = AllocSetContextCreate(ing->cxt, "cdc_ext capture", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(s->capture_cxt);
	f->entities = CdcSpiTextList(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	f->exclude_entities = CdcSpiTextList(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	s->base.messages = CdcSpiTextList(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	s->capture_lsn = spi_lsn(0, 4);
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull);

		s->capture_at = isnull ? 0 : DatumGetTimestampTz(d);
	}
	MemoryContextSwitchTo(ing->cxt);
	f->operations = CDC_OP_ALL;
	s->capture = f;
	s->base.filters = list_make1(f);
	s->base.capture_changed = ingest_capture_changed;
	logrel = table_open(get_relname_relid("log", get_namespace_oid("cdc", false)),
						AccessShareLock);
	s->desc = CreateTupleDescCopy(RelationGetDescr(logrel));
	table_close(logrel, AccessShareLock);
	lookup_operation_oids(s);
	s->record_shapes = OidIsValid(get_relname_relid("log_shape", get_namespace_oid("cdc", false)));
	MemoryContextSwitchTo(old);
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
			record_lost_range(st.confirmed_lsn, MyReplicationSlot->data.confirmed_flush,
							  "the log writer's replication slot was moved past changes it had not logged, by another session (pg_replication_slot_advance or pg_logical_slot_get_changes) while no writer held it");
		/* what a previous ingest committed but could not confirm yet */
		if (st.confirmed_lsn > MyReplicationSlot->data.confirmed_flush &&
			st.confirmed_lsn <= GetFlushRecPtr(NULL))
			confirm_slot(st.confirmed_lsn, GetFlushRecPtr(NULL));

		origin = replorigin_by_name(st.slot_name, true);
		if (origin == InvalidRepOriginId)
			origin = replorigin_create(st.slot_name);
		CdcReplOriginSessionSetup(origin);
		replorigin_session_origin = origin;
		ing->origin_set = true;
		s->base.skip_origin = origin;
		s->base.emit = ingest_emit;

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
 * Multi-insert the buffered rows into partition partoid, with its indexes,
 * as COPY does (no executor per row).
 */
static void
insert_rows(IngestSink *s, Oid partoid)
{
	Relation	rel = table_open(partoid, RowExclusiveLock);
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	EState	   *estate = CreateExecutorState();
	BulkInsertState bistate = GetBulkInsertState();
	CommandId	cid = GetCurrentCommandId(true);
	TupleTableSlot *slots[CDC_INSERT_BATCH];
	TupleTableSlot *in = MakeSingleTupleTableSlot(s->desc, &TTSOpsMinimalTuple);
	bool		more = true;

	if (RelationGetDescr(rel)->natts != s->desc->natts)
		elog(ERROR, "cdc_ext: partition %s does not match cdc.log", RelationGetRelationName(rel));
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	for (int i = 0; i < CDC_INSERT_BATCH; i++)
		slots[i] = table_slot_create(rel, NULL);

	tuplestore_rescan(s->store);
	while (more)
	{
		int			n = 0;

		while (n < CDC_INSERT_BATCH &&
			   (more = tuplestore_gettupleslot(s->store, true, false, in)))
			ExecCopySlot(slots[n++], in);
		if (n == 0)
			break;
		table_multi_insert(rel, slots, n, cid, 0, bistate);
		for (int i = 0; i < n; i++)
		{
			List	   *recheck = CdcExecInsertIndexTuples(rri, slots[i], estate,
														   false, false, NULL, NIL);

			list_free(recheck);
			ExecClearTuple(slots[i]);
		}
		ResetPerTupleExprContext(estate);
		CHECK_FOR_INTERRUPTS();
	}

	for (int i = 0; i < CDC_INSERT_BATCH; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	ExecDropSingleTupleTableSlot(in);
	ExecCloseIndices(rri);
	FreeBulkInsertState(bistate);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
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
	shapes_cycle_start(s);
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
	end = GetFlushRecPtr(NULL);
	while (ctx->reader->EndRecPtr < end)
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
		if (s->rows >= CDC_CYCLE_MAX_ROWS ||
			(++nrec % 256 == 0 &&
			 TimestampDifferenceExceeds(started, GetCurrentTimestamp(), CDC_CYCLE_MAX_MS)))
			break;
	}
	/* everything up to "end" decoded: what committed before it is ours */
	processed = ctx->reader->EndRecPtr >= end ? Max(end, ctx->reader->EndRecPtr) :
		ctx->reader->EndRecPtr;

	if (s->rows > 0)
	{
		Oid			t[8] = {PG_LSNOID, INT4OID, PG_LSNOID, INT4OID, INT8OID,
		PG_LSNOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
		Datum		a[8];

		insert_rows(s, CdcLogChunkRelid(s->chunk, false));
		shapes_flush(s);
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
		persist_capture(s, processed);
	tuplestore_end(s->store);
	s->store = NULL;
	CdcOwnerEnd(&scope);
	PopActiveSnapshot();
	ing->processed = processed;
	return step;
}

/*
 * After the cycle's transaction committed: confirm the slot up to what it
 * logged, once the standbys have that commit (confirm_slot).
 */
void
CdcIngestAfterCommit(CdcIngest *ing)
{
	if (MyReplicationSlot != NULL && ing->confirmable > MyReplicationSlot->data.confirmed_flush)
		confirm_slot(ing->confirmable, XactLastCommitEnd);
	if (ing->sink != NULL)
		ing->sink->shapes_unconfirmed = false;
}

void
CdcIngestClose(CdcIngest *ing)
{
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
