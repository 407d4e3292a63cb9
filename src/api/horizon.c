/*
 * horizon.c
 *		What happens to consumers and groups when the change log's horizon
 *		moves (trim, retention): registered with the log by CdcApiInit.
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
 * finishes (and its checkpoint counts) before the decision.  Consumer
 * groups are decided the same way (groups/group_admin.c).
 *
 * One read of the range, whatever the number of consumers and groups
 * (issue 15 item 5).  Whether a role receives a log row depends only on the
 * row's operation, relid and entity (privileges.c: filters and privileges
 * are decided per relation and entity name, never per row image), so the
 * range is read once, keeping for each distinct (relid, entity, operation)
 * only the position of its last row: a consumer loses a change exactly when
 * one of those kinds passes its read filter and its last row lies after the
 * consumer's checkpoint.  The read fetches only those columns, through a
 * cursor, in batches: memory is bounded by the number of kinds, not by the
 * range; the work per consumer by the number of kinds, not by the rows.
 * The range reaches back to the earliest checkpoint asked about; it is
 * extended (never read twice) when a later question reaches further back.
 */
#include "cdc_api.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/syscache.h"

/* rows per fetch of the range's cursor */
#define RANGE_BATCH 10000
/* "relid op entity": an entity is at most two quoted names and a dot */
#define RANGE_KEYLEN (4 * NAMEDATALEN + 64)

typedef struct RangeKind
{
	char		key[RANGE_KEYLEN];	/* hash key */
	bool		has_relid;
	Oid			relid;
	Oid			op;
	Datum		entity;			/* text, or 0 for a message */
	XLogRecPtr	last_lsn;		/* its last row in the range */
	int32		last_seq;
} RangeKind;

struct CdcHorizonRange
{
	MemoryContext cxt;
	HTAB	   *kinds;
	XLogRecPtr	before;			/* new horizon: the range ends before it */
	bool		read;			/* rows after (from_lsn, from_seq) were read */
	XLogRecPtr	from_lsn;
	int32		from_seq;
	int64		rows_read;
};

static CdcHorizonRange *
range_create(XLogRecPtr before)
{
	CdcHorizonRange *r = palloc0(sizeof(CdcHorizonRange));
	HASHCTL		ctl = {0};

	r->cxt = AllocSetContextCreate(CurrentMemoryContext, "cdc_ext horizon range",
								   ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = RANGE_KEYLEN;
	ctl.entrysize = sizeof(RangeKind);
	ctl.hcxt = r->cxt;
	r->kinds = hash_create("cdc_ext horizon range kinds", 64, &ctl,
						   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	r->before = before;
	return r;
}

static int
pos_cmp(XLogRecPtr a_lsn, int32 a_seq, XLogRecPtr b_lsn, int32 b_seq)
{
	if (a_lsn != b_lsn)
		return a_lsn < b_lsn ? -1 : 1;
	return a_seq < b_seq ? -1 : a_seq > b_seq ? 1 : 0;
}

/*
 * Read the log rows after (after_lsn, after_seq) and at or before
 * (upto_lsn, upto_seq) once, noting each kind's last position.  Only the
 * partitions that can hold them are scanned.
 */
static void
range_read(CdcHorizonRange *r, XLogRecPtr after_lsn, int32 after_seq,
		   XLogRecPtr upto_lsn, int32 upto_seq)
{
	Oid			ct[2] = {PG_LSNOID, PG_LSNOID};
	Datum		cv[2] = {LSNGetDatum(after_lsn), LSNGetDatum(upto_lsn)};
	Oid			types[6] = {PG_LSNOID, INT4OID, PG_LSNOID, INT4OID, INT4OID, INT4OID};
	Datum		values[6];
	bool		isnull;
	Portal		portal;
	MemoryContext batch_cxt;
	MemoryContext old;

	/* the partitions that may hold commits in [after_lsn, upto_lsn] */
	if (SPI_execute_with_args("SELECT pg_catalog.min(chunk), pg_catalog.max(chunk) FROM cdc.log_chunk "
							  "WHERE first_commit_lsn OPERATOR(pg_catalog.<=) $2 "
							  "AND last_commit_lsn OPERATOR(pg_catalog.>=) $1",
							  2, ct, cv, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "cdc_ext: reading cdc.log_chunk failed");
	values[4] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return;					/* no partition holds any of it */
	values[5] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	values[0] = LSNGetDatum(after_lsn);
	values[1] = Int32GetDatum(after_seq);
	values[2] = LSNGetDatum(upto_lsn);
	values[3] = Int32GetDatum(upto_seq);
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT commit_lsn, seq, relid, entity, operation FROM cdc.log "
									   "WHERE (commit_lsn, seq) OPERATOR(pg_catalog.>) ($1, $2) "
									   "AND (commit_lsn, seq) OPERATOR(pg_catalog.<=) ($3, $4) "
									   "AND chunk OPERATOR(pg_catalog.>=) $5 AND chunk OPERATOR(pg_catalog.<=) $6",
									   6, types, values, NULL, true, 0);
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "cdc_ext horizon batch",
									  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		SPITupleTable *tt;

		SPI_cursor_fetch(portal, true, RANGE_BATCH);
		tt = SPI_tuptable;
		if (SPI_processed == 0)
		{
			SPI_freetuptable(tt);
			break;
		}
		old = MemoryContextSwitchTo(batch_cxt);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = tt->vals[i];
			XLogRecPtr	lsn = DatumGetLSN(SPI_getbinval(tup, tt->tupdesc, 1, &isnull));
			int32		seq = DatumGetInt32(SPI_getbinval(tup, tt->tupdesc, 2, &isnull));
			bool		no_relid;
			Datum		relid = SPI_getbinval(tup, tt->tupdesc, 3, &no_relid);
			bool		no_entity;
			Datum		entity = SPI_getbinval(tup, tt->tupdesc, 4, &no_entity);
			Oid			op = DatumGetObjectId(SPI_getbinval(tup, tt->tupdesc, 5, &isnull));
			char		key[RANGE_KEYLEN];
			RangeKind  *k;
			bool		found;

			snprintf(key, sizeof(key), "%u %u %s", no_relid ? InvalidOid : DatumGetObjectId(relid),
					 op, no_entity ? "" : TextDatumGetCString(entity));
			k = hash_search(r->kinds, key, HASH_ENTER, &found);
			if (!found)
			{
				k->has_relid = !no_relid;
				k->relid = no_relid ? InvalidOid : DatumGetObjectId(relid);
				k->op = op;
				k->entity = (Datum) 0;
				if (!no_entity)
				{
					MemoryContext o = MemoryContextSwitchTo(r->cxt);

					k->entity = PointerGetDatum(DatumGetTextPCopy(entity));
					MemoryContextSwitchTo(o);
				}
				k->last_lsn = lsn;
				k->last_seq = seq;
			}
			else if (pos_cmp(lsn, seq, k->last_lsn, k->last_seq) > 0)
			{
				k->last_lsn = lsn;
				k->last_seq = seq;
			}
			r->rows_read++;
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch_cxt);
		SPI_freetuptable(tt);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(batch_cxt);
}

/*
 * Would rf's role receive a change of the range after (after_lsn,
 * after_seq)?  Reads what of the range it has not read yet.
 */
bool
CdcHorizonRangeReceives(CdcHorizonRange *r, XLogRecPtr after_lsn, int32 after_seq,
						CdcReadFilter *rf)
{
	HASH_SEQ_STATUS status;
	RangeKind  *k;

	if (after_lsn >= r->before)
		return false;
	if (!r->read)
	{
		range_read(r, after_lsn, after_seq, r->before - 1, PG_INT32_MAX);
		r->read = true;
		r->from_lsn = after_lsn;
		r->from_seq = after_seq;
	}
	else if (pos_cmp(after_lsn, after_seq, r->from_lsn, r->from_seq) < 0)
	{
		range_read(r, after_lsn, after_seq, r->from_lsn, r->from_seq);
		r->from_lsn = after_lsn;
		r->from_seq = after_seq;
	}

	hash_seq_init(&status, r->kinds);
	while ((k = hash_seq_search(&status)) != NULL)
	{
		Datum		lv[CDC_LOG_NCOLUMNS];
		bool		ln[CDC_LOG_NCOLUMNS];
		Datum		ev[CDC_ENTRY_NCOLUMNS];
		bool		en[CDC_ENTRY_NCOLUMNS];

		if (pos_cmp(k->last_lsn, k->last_seq, after_lsn, after_seq) <= 0)
			continue;
		/* a row of that kind, without its row images (see the file header) */
		memset(lv, 0, sizeof(lv));
		memset(ln, true, sizeof(ln));
		lv[CDC_LOG_COMMIT_LSN] = LSNGetDatum(k->last_lsn);
		ln[CDC_LOG_COMMIT_LSN] = false;
		lv[CDC_LOG_SEQ] = Int32GetDatum(k->last_seq);
		ln[CDC_LOG_SEQ] = false;
		lv[CDC_LOG_RELID] = ObjectIdGetDatum(k->relid);
		ln[CDC_LOG_RELID] = !k->has_relid;
		lv[CDC_LOG_ENTITY] = k->entity;
		ln[CDC_LOG_ENTITY] = k->entity == (Datum) 0;
		lv[CDC_LOG_OPERATION] = ObjectIdGetDatum(k->op);
		ln[CDC_LOG_OPERATION] = false;
		if (CdcReadFilterApply(rf, lv, ln, ev, en))
		{
			hash_seq_term(&status);
			return true;
		}
	}
	return false;
}

static int
cdc_horizon_moved(XLogRecPtr old_oldest, XLogRecPtr new_oldest, const char *reason)
{
	CdcOwnerScope scope;
	Oid			argtypes[4] = {PG_LSNOID, TEXTOID, PG_LSNOID, TEXTOID};
	Datum		args[4];
	List	   *names = NIL;
	ListCell   *lc;
	int			gaps = 0;
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext each;
	CdcHorizonRange *range;

	CdcOwnerBegin(&scope);
	range = range_create(new_oldest);
	args[0] = LSNGetDatum(new_oldest);
	if (SPI_execute_with_args("SELECT name FROM cdc.consumer_state "
							  "WHERE checkpoint_lsn OPERATOR(pg_catalog.<) $1 "
							  "ORDER BY checkpoint_lsn, checkpoint_seq, name FOR UPDATE",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading consumers failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		MemoryContextSwitchTo(old);
	}
	SPI_freetuptable(SPI_tuptable);

	/* per consumer: its row, filter and decision, then forgotten */
	each = AllocSetContextCreate(CurrentMemoryContext, "cdc_ext horizon consumer",
								 ALLOCSET_DEFAULT_SIZES);
	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		CdcConsumer c;
		bool		loses;
		MemoryContext old = MemoryContextSwitchTo(each);

		CdcConsumerGet(name, CDC_LOCK_NONE, InvalidOid, &c);
		SPI_freetuptable(SPI_tuptable);
		if (c.checkpoint_lsn >= new_oldest)
		{
			MemoryContextSwitchTo(old);
			MemoryContextReset(each);
			continue;
		}
		if (!XLogRecPtrIsInvalid(c.gap_to) && c.gap_to > c.checkpoint_lsn)
			loses = true;		/* a gap already: it stays, extended */
		else if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(c.owner)))
			loses = true;		/* no role to decide for: keep the evidence */
		else
		{
			CdcReadFilter *rf = CdcReadFilterCreate(c.owner, CdcConsumerFilters(&c),
													c.messages, false);

			CdcReadFilterSetAudience(rf, c.id);
			loses = CdcHorizonRangeReceives(range, c.checkpoint_lsn, c.checkpoint_seq, rf);
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
		MemoryContextSwitchTo(old);
		MemoryContextReset(each);
	}
	MemoryContextDelete(each);
	/* consumer groups: their watermarks hold retention the same way */
	gaps += CdcGroupsHorizon(old_oldest, new_oldest, reason, range);
	ereport(DEBUG1,
			(errmsg_internal("cdc_ext: horizon %X/%X -> %X/%X: %lld log rows read for %d consumers",
							 LSN_FORMAT_ARGS(old_oldest), LSN_FORMAT_ARGS(new_oldest),
							 (long long) range->rows_read, list_length(names))));
	MemoryContextDelete(range->cxt);
	CdcOwnerEnd(&scope);
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
	CdcOwnerScope scope;
	Oid			argtypes[3] = {PG_LSNOID, PG_LSNOID, TEXTOID};
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	int			gaps;

	args[0] = LSNGetDatum(from);
	nulls[0] = XLogRecPtrIsInvalid(from) ? 'n' : ' ';
	args[1] = LSNGetDatum(to);
	/* the gap's reason tells readers these changes were never in the log */
	args[2] = CStringGetTextDatum(psprintf("%s%s", CDC_NEVER_LOGGED, reason));
	CdcOwnerBegin(&scope);
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
	CdcOwnerEnd(&scope);
	return gaps;
}

/* From _PG_init, in every backend that loads the library. */
void
CdcApiInit(void)
{
	CdcLogSetHorizonHook(cdc_horizon_moved);
	CdcLogSetLostRangeHook(cdc_range_lost);
}
