/*
 * horizon.c
 *		What happens to consumers when the change log's horizon moves (trim,
 *		retention): registered with the log by CdcApiInit.
 *
 * Before the log drops everything committed before new_oldest, each
 * consumer whose checkpoint is behind it is decided on, in the dropping
 * transaction, while the rows are still there:
 *   - if the log between its checkpoint and new_oldest holds a change the
 *     consumer would receive (its filters, evaluated as its owner with the
 *     privileges the owner has now), it records a gap [checkpoint,
 *     new_oldest) that every later read reports until accepted;
 *   - otherwise it loses nothing it could ever have read, and its checkpoint
 *     moves silently to (new_oldest, 0).
 * A consumer that already has a gap keeps it, extended to the new horizon.
 * The consumers' rows are locked FOR UPDATE first: a consume in flight
 * finishes (and its checkpoint counts) before the decision.
 */
#include "cdc_api.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/syscache.h"

static int
cdc_horizon_moved(XLogRecPtr old_oldest, XLogRecPtr new_oldest, const char *reason)
{
	CdcPriv		priv;
	Oid			argtypes[4] = {PG_LSNOID, TEXTOID, PG_LSNOID, TEXTOID};
	Datum		args[4];
	List	   *names = NIL;
	ListCell   *lc;
	int			gaps = 0;
	MemoryContext cxt = CurrentMemoryContext;

	CdcPrivBegin(&priv);
	args[0] = LSNGetDatum(new_oldest);
	if (SPI_execute_with_args("SELECT name FROM cdc.consumer_state "
							  "WHERE checkpoint_lsn OPERATOR(pg_catalog.<) $1 ORDER BY name FOR UPDATE",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading consumers failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		MemoryContextSwitchTo(old);
	}

	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		CdcConsumer c;
		bool		loses;

		CdcConsumerGet(name, CDC_LOCK_NONE, InvalidOid, &c);
		if (c.checkpoint_lsn >= new_oldest)
			continue;
		if (!XLogRecPtrIsInvalid(c.gap_to) && c.gap_to > c.checkpoint_lsn)
			loses = true;		/* a gap already: it stays, extended */
		else if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(c.owner)))
			loses = true;		/* no role to decide for: keep the evidence */
		else
		{
			CdcLogScan	scan;

			memset(&scan, 0, sizeof(scan));
			scan.after_lsn = c.checkpoint_lsn;
			scan.after_seq = c.checkpoint_seq;
			scan.before_lsn = new_oldest;
			scan.limit = 1;
			scan.rf = CdcReadFilterCreate(c.owner, CdcConsumerFilters(&c), c.messages, false);
			CdcLogScanRun(&scan);
			loses = scan.returned > 0;
		}

		if (loses)
		{
			args[0] = LSNGetDatum(c.checkpoint_lsn);
			args[1] = CStringGetTextDatum(name);
			args[2] = LSNGetDatum(new_oldest);
			args[3] = CStringGetTextDatum(reason ? reason : "trim");
			if (SPI_execute_with_args("UPDATE cdc.consumer_state SET "
									  "gap_from = CASE WHEN gap_to OPERATOR(pg_catalog.>) checkpoint_lsn THEN gap_from ELSE $1 END, "
									  "gap_reason = CASE WHEN gap_to OPERATOR(pg_catalog.>) checkpoint_lsn THEN gap_reason ELSE $4 END, "
									  "gap_to = $3 "
									  "WHERE name OPERATOR(pg_catalog.=) $2",
									  4, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "cdc_ext: recording a gap failed");
			gaps++;
		}
		else
			CdcConsumerSetCheckpoint(name, new_oldest, 0);
	}
	/* consumer groups: their watermarks hold retention the same way */
	gaps += CdcGroupsHorizon(old_oldest, new_oldest, reason);
	CdcPrivEnd(&priv);
	return gaps;
}

/*
 * A range of WAL the log could not record (cdc_log.h, CdcLostRangeHook):
 * nothing can be decided from its rows, which were never logged, so every
 * consumer and group behind its end gets a gap, kept or widened if it has
 * one already.  A consumer's gap is reported by every read until a
 * checkpoint at or past gap_to accepts it; a group's until cdc.reset_group.
 */
static int
cdc_range_lost(XLogRecPtr from, XLogRecPtr to, const char *reason)
{
	CdcPriv		priv;
	Oid			argtypes[3] = {PG_LSNOID, PG_LSNOID, TEXTOID};
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	int			gaps;

	args[0] = LSNGetDatum(from);
	nulls[0] = XLogRecPtrIsInvalid(from) ? 'n' : ' ';
	args[1] = LSNGetDatum(to);
	/* the gap's reason tells readers these changes were never in the log */
	args[2] = CStringGetTextDatum(psprintf("%s%s", CDC_NEVER_LOGGED, reason));
	CdcPrivBegin(&priv);
	if (SPI_execute_with_args("UPDATE cdc.consumer_state SET "
							  "gap_from = CASE WHEN gap_to OPERATOR(pg_catalog.>) checkpoint_lsn "
							  "  THEN LEAST(gap_from, coalesce($1, checkpoint_lsn)) ELSE coalesce($1, checkpoint_lsn) END, "
							  "gap_reason = CASE WHEN gap_to OPERATOR(pg_catalog.>) checkpoint_lsn THEN gap_reason ELSE $3 END, "
							  "gap_to = GREATEST(coalesce(gap_to, $2), $2) "
							  "WHERE checkpoint_lsn OPERATOR(pg_catalog.<) $2 "
							  "AND ($1 IS NOT NULL OR checkpoint_lsn OPERATOR(pg_catalog.>) '0/0')",
							  3, argtypes, args, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "cdc_ext: recording a gap failed");
	gaps = (int) SPI_processed;
	if (SPI_execute_with_args("UPDATE cdc.group_state SET "
							  "gap_from = coalesce(gap_from, $1, ack_lsn), "
							  "gap_reason = coalesce(gap_reason, $3), "
							  "gap_to = GREATEST(coalesce(gap_to, $2), $2) "
							  "WHERE scan_lsn OPERATOR(pg_catalog.<) $2 "
							  "AND ($1 IS NOT NULL OR ack_lsn OPERATOR(pg_catalog.>) '0/0')",
							  3, argtypes, args, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "cdc_ext: recording a group's gap failed");
	gaps += (int) SPI_processed;
	CdcPrivEnd(&priv);
	return gaps;
}

/* From _PG_init, in every backend that loads the library. */
void
CdcApiInit(void)
{
	CdcLogSetHorizonHook(cdc_horizon_moved);
	CdcLogSetLostRangeHook(cdc_range_lost);
}
