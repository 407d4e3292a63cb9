/*
 * slot.c
 *		The log writer's replication slot (cdc_ext_log_<database oid>): made,
 *		taken over from 1.0 consumers, dropped when unusable or when the
 *		extension goes, confirmed once what it decoded is logged; and the
 *		ranges of WAL whose changes could not be logged (lost ranges).
 *
 * The slot is confirmed only up to cdc.log_state.confirmed_lsn, which the
 * transaction that logs moves (ingest.c), so that a slot found further on
 * was moved by someone else: what it skipped is a lost range, never silent.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/slot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"

#include "log_internal.h"

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
void
CdcLogRecordLostRange(XLogRecPtr from, XLogRecPtr to, const char *reason)
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

#define SLOT_INVALIDATED "the log writer's replication slot was invalidated: the WAL it still needed was removed (max_slot_wal_keep_size), or it was invalidated otherwise"

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

	strlcpy(slot, CdcLogSlotName(MyDatabaseId), NAMEDATALEN);
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
		logged_upto = CdcSpiLsn(0, 3);
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
		CdcLogSetSlotInvalidated(true);
		ReplicationSlotDrop(slot, true);
		lost_reason = SLOT_INVALIDATED;
		ereport(LOG,
				(errmsg("cdc_ext: dropped replication slot \"%s\": it was invalidated", slot)));
	}

	if (SearchNamedReplicationSlot(slot, true) == NULL)
	{
		/* the log had a slot, and it is gone */
		if (!never_had_slot && lost_reason == NULL && migrate == NULL)
			lost_reason = CdcLogSlotInvalidated() ? SLOT_INVALIDATED :
				"the log writer's replication slot was gone: dropped by another session, or this server was promoted from a standby that had no copy of it";
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
				start = CdcSpiLsn(0, 1);
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
			start = CdcSpiLsn(0, 1);
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
			start = CdcSpiLsn(0, 1);
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
			CdcLogRecordLostRange(logged_upto, start, lost_reason);
		else if (never_had_slot && !had_migration)
		{
			/* consumers made before the log began have missed what came before it */
			CdcLogRecordLostRange(InvalidXLogRecPtr, start,
							  "the change log began when the log writer first made its slot");
		}
		/* recorded (in this transaction: if it aborts, the next writer finds no slot and says the same) */
		CdcLogSetSlotInvalidated(false);
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
	char	   *slot = CdcLogSlotName(MyDatabaseId);

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
void
CdcLogConfirmSlot(XLogRecPtr lsn, XLogRecPtr durable)
{
#ifdef CDC_HAVE_FAILOVER_SLOTS
	WaitForStandbyConfirmation(Max(lsn, durable));
#endif
	LogicalConfirmReceivedLocation(lsn);
}
