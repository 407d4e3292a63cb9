/*
 * admin.c
 *		cdc.trim(): release WAL that consumers retain.
 *
 * Trimming moves consumers' slots forward to before_lsn (never past the
 * flushed end of WAL).  A consumer whose committed checkpoint was behind
 * that point loses the changes in between: the range is recorded as its
 * gap, which cdc.stream reports as an error until the consumer accepts it
 * with a checkpoint at or beyond the end of the gap.
 */
#include "cdc_api.h"

#include "access/xlog.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/pg_lsn.h"

PG_FUNCTION_INFO_V1(cdc_trim);

Datum
cdc_trim(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext fn_cxt = CurrentMemoryContext;
	XLogRecPtr	before;
	CdcPriv		priv;
	List	   *names = NIL;
	ListCell   *lc;

	if (PG_ARGISNULL(0) || XLogRecPtrIsInvalid(PG_GETARG_LSN(0)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("before_lsn must be a valid LSN"),
				 errhint("For example: SELECT * FROM cdc.trim(cdc.current_lsn());")));
	before = PG_GETARG_LSN(0);
	InitMaterializedSRF(fcinfo, 0);

	/* (names live in fn_cxt: the SPI session is closed and reopened below) */
	if (!PG_ARGISNULL(1))
		names = list_make1(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	CdcPrivBegin(&priv);
	if (PG_ARGISNULL(1))
	{
		/* every consumer the caller may use */
		if (SPI_execute("SELECT name, owner FROM cdc.consumer_state ORDER BY name", true, 0) != SPI_OK_SELECT)
			elog(ERROR, "cdc_ext: reading consumers failed");
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Oid			owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															   SPI_tuptable->tupdesc, 2, &isnull));

			if (has_privs_of_role(priv.invoker, owner))
			{
				MemoryContext old = MemoryContextSwitchTo(fn_cxt);

				names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
				MemoryContextSwitchTo(old);
			}
		}
	}

	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		CdcConsumer c;
		CdcSlotInfo slot;
		XLogRecPtr	target = Min(before, GetFlushRecPtr(NULL));
		XLogRecPtr	old_restart;
		XLogRecPtr	old_confirmed;
		Datum		values[6];
		bool		nulls[6] = {0};
		bool		gap;

		CdcConsumerRequire(name, true, &c, priv.invoker, fn_cxt);
		CdcSlotInfoGet(c.slot_name, &slot);
		if (!slot.exists || slot.lost || slot.confirmed_flush >= target)
			continue;
		if (slot.active_pid != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("consumer \"%s\" is being read by the process with PID %d", name, slot.active_pid),
					 errhint("Trim when the read has ended.")));
		old_restart = slot.restart_lsn;
		old_confirmed = slot.confirmed_flush;

		/*
		 * Behind target is a gap only if something the consumer would read
		 * lies in between: ask its slot, decoding as the caller (user output
		 * functions must not run as the extension's owner).
		 */
		/* a gap already there (recorded, or the slot moved outside the API) stays one */
		gap = (!XLogRecPtrIsInvalid(c.gap_to) && c.gap_to > c.checkpoint_lsn) ||
			old_confirmed > c.checkpoint_lsn;
		if (!gap && c.checkpoint_lsn < target)
		{
			CdcPrivEnd(&priv);
			gap = CdcConsumerHasChangesBefore(&c, target);
			CdcPrivBegin(&priv);
		}
		target = CdcSlotAdvance(c.slot_name, target);
		CdcSlotInfoGet(c.slot_name, &slot);

		if (!gap && c.checkpoint_lsn < target)
		{
			/* nothing skipped: the checkpoint follows the slot */
			CdcConsumerSetCheckpoint(name, target, 0);
		}
		else if (gap)
		{
			Oid			t[3] = {TEXTOID, PG_LSNOID, PG_LSNOID};
			Datum		a[3] = {CStringGetTextDatum(name), LSNGetDatum(c.checkpoint_lsn), LSNGetDatum(target)};

			if (SPI_execute_with_args("UPDATE cdc.consumer_state SET "
									  "gap_from = coalesce(gap_from, $2), gap_to = $3, gap_reason = 'trimmed' "
									  "WHERE name OPERATOR(pg_catalog.=) $1",
									  3, t, a, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "cdc_ext: recording the gap failed");
		}
		values[0] = CStringGetTextDatum(name);
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(c.slot_name));
		values[2] = LSNGetDatum(old_confirmed);
		values[3] = LSNGetDatum(slot.confirmed_flush);
		values[4] = DirectFunctionCall1(int8_numeric,
										Int64GetDatum((int64) (slot.restart_lsn - old_restart)));
		values[5] = BoolGetDatum(gap);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	CdcPrivEnd(&priv);
	return (Datum) 0;
}
