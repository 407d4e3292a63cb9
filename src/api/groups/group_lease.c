/*
 * group_lease.c
 *		cdc.read_group and cdc.claim: phase 1 of leasing (changes the group
 *		already has, oldest first, per key under a try-lock, by the
 *		ordering rules), the frontier step (group_frontier.c) when the
 *		batch is not full, delivery of the leased log rows, and the move to
 *		the dead letters of changes delivered max_deliveries times.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "group_internal.h"

PG_FUNCTION_INFO_V1(cdc_read_group);
PG_FUNCTION_INFO_V1(cdc_claim);

/*
 * Fetch the log rows at the positions leased (sorted) and put what the
 * caller receives of them into the output with their delivery counts.
 * Rows the caller may not receive are collected in out->skipped.
 */
static void
deliver(CdcGroup *g, GroupOut *out, PosList *pl, int32 *counts, bool *replay)
{
	PosList		fromlog = {0},
				fromdl = {0};
	int32	   *cl,
			   *cd;
	int			nl = 0,
				nd = 0;

	if (pl->n == 0)
		return;
	cl = palloc(pl->n * sizeof(int32));
	cd = palloc(pl->n * sizeof(int32));
	for (int i = 0; i < pl->n; i++)
	{
		if (replay[i])
		{
			CdcGroupPosListAdd(&fromdl, DatumGetLSN(pl->lsn[i]), DatumGetInt32(pl->seq[i]), DatumGetInt32(pl->chunk[i]));
			cd[nd++] = counts[i];
		}
		else
		{
			CdcGroupPosListAdd(&fromlog, DatumGetLSN(pl->lsn[i]), DatumGetInt32(pl->seq[i]), DatumGetInt32(pl->chunk[i]));
			cl[nl++] = counts[i];
		}
	}

	/* replayed dead letters first: they are older than anything in the log */
	for (int pass = 0; pass < 2; pass++)
	{
		PosList    *src = pass == 0 ? &fromdl : &fromlog;
		int32	   *cnt = pass == 0 ? cd : cl;
		int			j = 0;

		if (src->n == 0)
			continue;
		if (pass == 0)
		{
			Oid			types[] = {INT4OID, PG_LSNARRAYOID, INT4ARRAYOID};
			Datum		values[] = {Int32GetDatum(g->id), CdcGroupLsnArray(src->lsn, src->n),
			CdcGroupInt4Array(src->seq, src->n)};

			RUN("SELECT " CDC_LOG_COLUMNS_OF("d.") " "
				"FROM cdc.group_dead_letter d "
				"JOIN unnest($2::pg_lsn[], $3::integer[]) AS u(c, s) "
				"ON d.commit_lsn = u.c AND d.seq = u.s WHERE d.grp = $1 "
				"ORDER BY d.commit_lsn, d.seq",
				types, values, NULL, SPI_OK_SELECT, 0);
		}
		else
		{
			Oid			types[] = {PG_LSNARRAYOID, INT4ARRAYOID, INT4ARRAYOID};
			Datum		values[] = {CdcGroupLsnArray(src->lsn, src->n), CdcGroupInt4Array(src->seq, src->n),
			CdcGroupInt4Array(src->chunk, src->n)};

			RUN("SELECT " CDC_LOG_COLUMNS_OF("l.") " "
				"FROM unnest($1::pg_lsn[], $2::integer[], $3::integer[]) AS u(c, s, k) "
				"JOIN cdc.log l ON l.commit_lsn = u.c AND l.seq = u.s AND l.chunk = u.k "
				"ORDER BY l.commit_lsn, l.seq",
				types, values, NULL, SPI_OK_SELECT, 0);
		}

		for (uint64 r = 0; r < SPI_processed; r++)
		{
			Datum		lv[CDC_LOG_NCOLUMNS];
			bool		ln[CDC_LOG_NCOLUMNS];
			Datum		ev[GROUP_OUT_NCOLUMNS];
			bool		en[GROUP_OUT_NCOLUMNS];
			XLogRecPtr	c;
			int32		s;

			heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, lv, ln);
			c = DatumGetLSN(lv[CDC_LOG_COMMIT_LSN]);
			s = DatumGetInt32(lv[CDC_LOG_SEQ]);
			/* both lists are sorted: find this row's delivery count */
			while (j < src->n &&
				   CdcGroupPosCmp(DatumGetLSN(src->lsn[j]), DatumGetInt32(src->seq[j]), c, s) < 0)
				j++;
			if (!CdcReadFilterApply(out->rf, lv, ln, ev, en))
			{
				CdcGroupPosListAdd(&out->skipped, c, s, DatumGetInt32(lv[CDC_LOG_CHUNK]));
				continue;
			}
			ev[CDC_ENTRY_NCOLUMNS] = Int32GetDatum(j < src->n ? cnt[j] : 1);
			en[CDC_ENTRY_NCOLUMNS] = false;
			tuplestore_putvalues(out->store, out->desc, ev, en);
		}
	}
}

/* Acknowledge for the group what the caller may not receive (see ack_positions). */
static void
ack_skipped(CdcGroup *g, PosList *pl)
{
	Datum		values[5];

	if (pl->n == 0)
		return;
	CdcGroupPositionArgs(g->id, pl->lsn, pl->seq, pl->n, values);
	RUN_HASHED("DELETE FROM cdc.group_entry e "
		"USING unnest($2::pg_lsn[], $3::integer[]) AS u(c, s) "
		"WHERE e.grp = $1 AND e.commit_lsn = u.c AND e.seq = u.s "
		"AND e.commit_lsn BETWEEN $4 AND $5",
		CdcGroupPositionTypes, values, NULL, SPI_OK_DELETE, 0);
	pl->n = 0;
}

/*
 * Move to the dead-letter table the entries (sorted positions) that were
 * delivered max_deliveries times: a log entry is copied and acknowledged
 * for the group (its entry deleted); a replayed dead letter goes back to
 * being dead.
 */
static void
dead_letter(CdcGroup *g, PosList *pl)
{
	Datum		values[5];

	if (pl->n == 0)
		return;
	CdcGroupPositionArgs(g->id, pl->lsn, pl->seq, pl->n, values);
	RUN_CUSTOM("WITH d AS (DELETE FROM cdc.group_entry e "
		"  USING unnest($2::pg_lsn[], $3::integer[]) AS u(c, s) "
		"  WHERE e.grp = $1 AND e.commit_lsn = u.c AND e.seq = u.s AND NOT e.acked AND NOT e.replay "
		"  AND e.commit_lsn BETWEEN $4 AND $5 "
		"  RETURNING e.commit_lsn, e.seq, e.chunk, e.delivery_count, "
		"    coalesce(e.member, e.last_member) AS member, e.replay), "
		"dr AS (DELETE FROM cdc.group_entry e USING unnest($2::pg_lsn[], $3::integer[]) AS u(c, s) "
		"  WHERE e.grp = $1 AND e.commit_lsn = u.c AND e.seq = u.s AND NOT e.acked AND e.replay "
		"  AND e.commit_lsn BETWEEN $4 AND $5 "
		"  RETURNING e.commit_lsn, e.seq, e.delivery_count, "
		"    coalesce(e.member, e.last_member) AS member), "
		"r AS (UPDATE cdc.group_dead_letter dl SET replaying = false, "
		"  delivery_count = dr.delivery_count, last_member = dr.member, moved_at = now() "
		"  FROM dr WHERE dl.grp = $1 AND dl.commit_lsn = dr.commit_lsn AND dl.seq = dr.seq) "
		"INSERT INTO cdc.group_dead_letter (grp, " CDC_LOG_COLUMNS ", "
		"  delivery_count, last_member) "
		"SELECT $1, " CDC_LOG_COLUMNS_OF("l.") ", d.delivery_count, d.member "
		"FROM d JOIN cdc.log l ON l.commit_lsn = d.commit_lsn AND l.seq = d.seq AND l.chunk = d.chunk "
		"WHERE NOT d.replay",
		CdcGroupPositionTypes, values, NULL, SPI_OK_INSERT, 0);
	/* a dead letter is acknowledged for the group: its later changes may go */
}

static GroupEntry *
entry_from_row(int r, TimestampTz now)
{
	GroupEntry	   *e = palloc0(sizeof(GroupEntry));
	bool		isnull;
	Datum		d;

	e->commit_lsn = DatumGetLSN(CdcGroupCol(r, 1, &isnull));
	e->seq = DatumGetInt32(CdcGroupCol(r, 2, &isnull));
	e->chunk = DatumGetInt32(CdcGroupCol(r, 3, &isnull));
	e->khash = (uint32) DatumGetInt32(CdcGroupCol(r, 4, &isnull));
	e->ehash = (uint32) DatumGetInt32(CdcGroupCol(r, 5, &isnull));
	e->barrier = DatumGetBool(CdcGroupCol(r, 6, &isnull));
	d = CdcGroupCol(r, 7, &isnull);
	e->member = isnull ? NULL : TextDatumGetCString(d);
	d = CdcGroupCol(r, 8, &isnull);
	e->live = !isnull && e->member != NULL && DatumGetTimestampTz(d) > now;
	e->delivery_count = DatumGetInt32(CdcGroupCol(r, 9, &isnull));
	e->replay = DatumGetBool(CdcGroupCol(r, 10, &isnull));
	return e;
}

#define ENTRY_COLUMNS \
	"commit_lsn, seq, chunk, khash, ehash, barrier, member, lease_until, delivery_count, replay"

/*
 * For a barrier (a truncate, a schema entry): is any change of its table
 * before it unfinished?  Called while decide_keys walks the rows of its own
 * SPI result: that result (SPI_tuptable, SPI_processed) is put back after
 * this query.  (It was not: a barrier whose key sorted before the other
 * candidates' ended the walk, and the changes before it were never leased
 * again; sql/schema_changes.sql shows it.)
 */
static bool
table_has_earlier(CdcGroup *g, uint32 ehash, XLogRecPtr lsn, int32 seq)
{
	Oid			types[] = {INT4OID, INT4OID, PG_LSNOID, INT4OID};
	Datum		values[] = {Int32GetDatum(g->id), Int32GetDatum((int32) ehash),
	LSNGetDatum(lsn), Int32GetDatum(seq)};
	SPITupleTable *saved_tuptable = SPI_tuptable;
	uint64		saved_processed = SPI_processed;
	bool		earlier;

	RUN("SELECT 1 FROM cdc.group_entry WHERE grp = $1 AND ehash = $2 AND NOT acked "
		"AND (commit_lsn, seq) < ($3, $4) LIMIT 1",
		types, values, NULL, SPI_OK_SELECT, 1);
	earlier = SPI_processed > 0;
	SPI_tuptable = saved_tuptable;
	SPI_processed = saved_processed;
	return earlier;
}

static int
entry_cmp(const ListCell *a, const ListCell *b)
{
	GroupEntry	   *x = lfirst(a),
			   *y = lfirst(b);

	return CdcGroupPosCmp(x->commit_lsn, x->seq, y->commit_lsn, y->seq);
}

/*
 * Lease the keys' entries that the ordering rules let this member have, up
 * to want.  keys: the khashes locked; cutoff: take nothing after it (the
 * cursor-order window of the candidates).  for_claim: take entries leased
 * by other members (idle since before idle_before) instead of ready ones.
 * Returns the sorted positions taken, split into "lease" and "dead".
 */
static void
decide_keys(CdcGroup *g, const char *member, List *keys, XLogRecPtr cut_lsn, int32 cut_seq,
			int want, TimestampTz now, bool for_claim, const char *from_member,
			TimestampTz idle_before, List **lease, List **dead)
{
	Datum	   *kd;
	int			nk = list_length(keys),
				i = 0;
	List	   *all = NIL;
	HTAB	   *barriers = CdcGroupPendingBarriers(g);
	ListCell   *lc;
	int			taken = 0;

	*lease = NIL;
	*dead = NIL;
	if (nk == 0)
		return;
	kd = palloc(nk * sizeof(Datum));
	foreach(lc, keys)
		kd[i++] = Int32GetDatum((int32) lfirst_oid(lc));

	{
		Oid			types[] = {INT4OID, INT4ARRAYOID, PG_LSNOID, INT4OID};
		Datum		values[] = {Int32GetDatum(g->id), CdcGroupInt4Array(kd, nk),
		LSNGetDatum(g->watermark_lsn), Int32GetDatum(g->watermark_seq)};

		/*
		 * above the watermark (see advance_watermark), and replayed dead
		 * letters (khash + 0: through the small replay index, not the key
		 * index, which a generic plan would otherwise walk once per key)
		 */
		RUN("SELECT * FROM ("
			" SELECT " ENTRY_COLUMNS ", delivered_at FROM cdc.group_entry "
			" WHERE grp = $1 AND khash = ANY ($2) AND (commit_lsn, seq) > ($3, $4) AND NOT acked "
			" UNION ALL "
			" SELECT " ENTRY_COLUMNS ", delivered_at FROM cdc.group_entry "
			" WHERE grp = $1 AND replay AND (commit_lsn, seq) <= ($3, $4) AND khash + 0 = ANY ($2) "
			" AND NOT acked) k "
			"ORDER BY khash, commit_lsn, seq",
			types, values, NULL, SPI_OK_SELECT, 0);
	}

	/* walk each key's entries in cursor order (rows come grouped by key) */
	for (uint64 r = 0; r < SPI_processed;)
	{
		uint64		start = r;
		uint32		kh = (uint32) DatumGetInt32(CdcGroupCol(r, 4, &(bool){false}));
		List	   *ents = NIL;
		bool		blocked = false;

		while (r < SPI_processed &&
			   (uint32) DatumGetInt32(CdcGroupCol(r, 4, &(bool){false})) == kh)
		{
			GroupEntry	   *e = entry_from_row(r, now);
			bool		isnull;
			Datum		d = CdcGroupCol(r, 11, &isnull);

			/* for claims, "live" means: delivered less than min_idle ago */
			if (for_claim && e->member && !isnull)
				e->live = DatumGetTimestampTz(d) > idle_before;
			ents = lappend(ents, e);
			r++;
		}
		(void) start;

		/* does some other member hold this key? */
		foreach(lc, ents)
		{
			GroupEntry	   *e = lfirst(lc);

			if (!for_claim && e->live && strcmp(e->member, member) != 0)
				blocked = true;
			if (for_claim && e->member && strcmp(e->member, member) != 0 &&
				(e->live || (from_member && strcmp(e->member, from_member) != 0)))
				blocked = true;
		}
		if (blocked)
			continue;

		foreach(lc, ents)
		{
			GroupEntry	   *e = lfirst(lc);

			if (!for_claim && CdcGroupPosCmp(e->commit_lsn, e->seq, cut_lsn, cut_seq) > 0)
				break;
			if (for_claim)
			{
				/* every lease of another member on the key moves over */
				if (e->member == NULL || strcmp(e->member, member) == 0)
					continue;
			}
			else
			{
				if (e->live)
					continue;	/* mine already, in flight */
				if (!e->replay && CdcGroupBehindBarrier(barriers, e->ehash, e->commit_lsn, e->seq))
					break;
				if (e->barrier && table_has_earlier(g, e->ehash, e->commit_lsn, e->seq))
					break;
			}
			e->take = true;
			all = lappend(all, e);
		}
	}

	list_sort(all, entry_cmp);
	foreach(lc, all)
	{
		GroupEntry	   *e = lfirst(lc);

		if (e->delivery_count >= g->max_deliveries)
			*dead = lappend(*dead, e);
		else if (taken < want || for_claim)
		{
			*lease = lappend(*lease, e);
			taken++;
		}
	}
}

/*
 * Lease the given entries (sorted) to member; only rows still in the state
 * decided (not acknowledged meanwhile) are leased.  Returns them, sorted,
 * with their new delivery counts.
 */
static void
lease_entries(CdcGroup *g, const char *member, List *ents, TimestampTz now,
			  TimestampTz until, bool for_claim, PosList *out, int32 **counts, bool **replay)
{
	PosList		pl = {0};
	ListCell   *lc;
	Oid			types[] = {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	PG_LSNARRAYOID, INT4ARRAYOID, BOOLOID, PG_LSNOID, PG_LSNOID};
	Datum		values[9];

	*counts = NULL;
	*replay = NULL;
	if (ents == NIL)
		return;
	foreach(lc, ents)
	{
		GroupEntry	   *e = lfirst(lc);

		CdcGroupPosListAdd(&pl, e->commit_lsn, e->seq, e->chunk);
	}
	values[0] = Int32GetDatum(g->id);
	values[1] = CStringGetTextDatum(member);
	values[2] = TimestampTzGetDatum(now);
	values[3] = TimestampTzGetDatum(until);
	values[4] = CdcGroupLsnArray(pl.lsn, pl.n);
	values[5] = CdcGroupInt4Array(pl.seq, pl.n);
	values[6] = BoolGetDatum(for_claim);
	CdcGroupLsnBounds(pl.lsn, pl.n, &values[7], &values[8]);
	RUN_HASHED("UPDATE cdc.group_entry e SET member = $2, last_member = $2, lease_until = $4, delivered_at = $3, "
		"  delivery_count = e.delivery_count + 1 "
		"FROM unnest($5::pg_lsn[], $6::integer[]) AS u(c, s) "
		"WHERE e.grp = $1 AND e.commit_lsn = u.c AND e.seq = u.s AND NOT e.acked "
		"  AND e.commit_lsn BETWEEN $8 AND $9 "
		"  AND CASE WHEN $7 THEN e.member IS NOT NULL AND e.member <> $2 "
		"      ELSE e.member IS NULL OR e.lease_until <= $3 END "
		"RETURNING e.commit_lsn, e.seq, e.chunk, e.delivery_count, e.replay",
		types, values, NULL, SPI_OK_UPDATE_RETURNING, 0);

	/* sort what came back (RETURNING order is the join's) */
	{
		int			n = (int) SPI_processed;
		List	   *rows = NIL;

		*counts = palloc(Max(n, 1) * sizeof(int32));
		*replay = palloc(Max(n, 1) * sizeof(bool));
		for (int r = 0; r < n; r++)
		{
			GroupEntry	   *e = palloc0(sizeof(GroupEntry));
			bool		isnull;

			e->commit_lsn = DatumGetLSN(CdcGroupCol(r, 1, &isnull));
			e->seq = DatumGetInt32(CdcGroupCol(r, 2, &isnull));
			e->chunk = DatumGetInt32(CdcGroupCol(r, 3, &isnull));
			e->delivery_count = DatumGetInt32(CdcGroupCol(r, 4, &isnull));
			e->replay = DatumGetBool(CdcGroupCol(r, 5, &isnull));
			rows = lappend(rows, e);
		}
		list_sort(rows, entry_cmp);
		foreach(lc, rows)
		{
			GroupEntry	   *e = lfirst(lc);

			(*counts)[out->n] = e->delivery_count;
			(*replay)[out->n] = e->replay;
			CdcGroupPosListAdd(out, e->commit_lsn, e->seq, e->chunk);
		}
	}
}

static PosList
entries_to_poslist(List *ents)
{
	PosList		pl = {0};
	ListCell   *lc;

	foreach(lc, ents)
	{
		GroupEntry	   *e = lfirst(lc);

		CdcGroupPosListAdd(&pl, e->commit_lsn, e->seq, e->chunk);
	}
	return pl;
}

/*
 * Phase 1 (and claims): candidates in cursor order, their keys locked with a
 * try, the keys' entries read again under the locks and leased by the
 * ordering rules.  Returns how many were leased; *ndead: how many were
 * moved to the dead letters instead.
 */
static int
lease_known_once(CdcGroup *g, const char *member, int want, TimestampTz now, TimestampTz until,
				 bool for_claim, const char *from_member, TimestampTz idle_before, GroupOut *out,
				 int *ndead)
{
	List	   *keys = NIL;
	XLogRecPtr	cut_lsn = InvalidXLogRecPtr;
	int32		cut_seq = 0;
	List	   *lease,
			   *dead;
	PosList		leased = {0};
	int32	   *counts;
	bool	   *replay;
	PosList		dl;

	if (for_claim)
	{
		Oid			types[] = {INT4OID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT4OID};
		Datum		values[] = {Int32GetDatum(g->id), CStringGetTextDatum(member),
			from_member ? CStringGetTextDatum(from_member) : (Datum) 0,
		TimestampTzGetDatum(idle_before), Int32GetDatum(want)};
		char		nulls[] = {' ', ' ', from_member ? ' ' : 'n', ' ', ' '};

		RUN("SELECT commit_lsn, seq, khash FROM cdc.group_entry "
			"WHERE grp = $1 AND NOT acked AND member IS NOT NULL AND member <> $2 "
			"AND ($3::text IS NULL OR member = $3) AND delivered_at <= $4 "
			"ORDER BY commit_lsn, seq LIMIT $5",
			types, values, nulls, SPI_OK_SELECT, 0);
	}
	else
	{
		Oid			types[] = {INT4OID, TIMESTAMPTZOID, INT4OID, TEXTOID, PG_LSNOID, INT4OID};
		Datum		values[] = {Int32GetDatum(g->id), TimestampTzGetDatum(now), Int32GetDatum(want),
			CStringGetTextDatum(member), LSNGetDatum(g->watermark_lsn),
		Int32GetDatum(g->watermark_seq)};

		/*
		 * Skip the keys another member holds here already, so that a backlog
		 * held back behind one busy row does not hide the rest.
		 */
		RUN_GENERIC("SELECT * FROM ("
			" (SELECT e.commit_lsn, e.seq, e.khash FROM cdc.group_entry e "
			"  WHERE e.grp = $1 AND (e.commit_lsn, e.seq) > ($5, $6) "
			"  AND NOT e.acked AND (e.member IS NULL OR e.lease_until <= $2) "
			"  AND NOT EXISTS (SELECT 1 FROM cdc.group_entry o WHERE o.grp = $1 "
			"    AND o.khash = e.khash AND NOT o.acked AND o.member <> $4 AND o.lease_until > $2) "
			"  ORDER BY e.commit_lsn, e.seq LIMIT $3) "
			" UNION ALL "
			" (SELECT e.commit_lsn, e.seq, e.khash FROM cdc.group_entry e "
			"  WHERE e.grp = $1 AND e.replay AND (e.commit_lsn, e.seq) <= ($5, $6) "
			"  AND NOT e.acked AND (e.member IS NULL OR e.lease_until <= $2) "
			"  AND NOT EXISTS (SELECT 1 FROM cdc.group_entry o WHERE o.grp = $1 "
			"    AND o.khash = e.khash AND NOT o.acked AND o.member <> $4 AND o.lease_until > $2))"
			") c ORDER BY commit_lsn, seq LIMIT $3",
			types, values, NULL, SPI_OK_SELECT, 0);
	}
	*ndead = 0;
	if (SPI_processed == 0)
		return 0;

	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		uint32		kh = (uint32) DatumGetInt32(CdcGroupCol(r, 3, &isnull));

		cut_lsn = DatumGetLSN(CdcGroupCol(r, 1, &isnull));
		cut_seq = DatumGetInt32(CdcGroupCol(r, 2, &isnull));
		if (list_member_oid(keys, (Oid) kh))
			continue;
		/* a key another member is leasing right now is skipped, not waited for */
		if (CdcGroupLock(g, kh, CDC_LOCK_GROUP_KEY, false))
			keys = lappend_oid(keys, (Oid) kh);
	}
	if (keys == NIL)
		return 0;

	decide_keys(g, member, keys, cut_lsn, cut_seq, want, now, for_claim, from_member,
				idle_before, &lease, &dead);
	dl = entries_to_poslist(dead);
	*ndead = dl.n;
	dead_letter(g, &dl);
	lease_entries(g, member, lease, now, until, for_claim, &leased, &counts, &replay);
	deliver(g, out, &leased, counts, replay);
	return leased.n;
}

/*
 * Phase 1: as lease_known_once, again while candidates went to the dead
 * letters and the batch is not full.  A candidate past max_deliveries takes
 * no room in the batch: the next ready changes, older than anything at the
 * frontier, fill it ("oldest first").
 */
static int
lease_known(CdcGroup *g, const char *member, int want, TimestampTz now, TimestampTz until,
			bool for_claim, const char *from_member, TimestampTz idle_before, GroupOut *out)
{
	int			got = 0;
	int			ndead;

	do
	{
		got += lease_known_once(g, member, want - got, now, until, for_claim, from_member,
								idle_before, out, &ndead);
	} while (!for_claim && ndead > 0 && got < want);
	return got;
}

/*
 * cdc.read_group(group, member, batch_size, visibility_timeout,
 * batch_timeout, numeric_as_string)
 */
Datum
cdc_read_group(PG_FUNCTION_ARGS)
{
	char	   *name = CdcGroupTextArg(fcinfo, 0, "group");
	char	   *member = CdcGroupTextArg(fcinfo, 1, "member");
	int32		batch = CdcGroupPositiveIntArg(fcinfo, 2, "batch_size");
	int64		vt = CdcIntervalArg(fcinfo, 3, "visibility_timeout", false, INTERVAL_HINT);
	int64		wait_us = CdcIntervalArg(fcinfo, 4, "batch_timeout", true, CDC_BATCH_TIMEOUT_HINT);
	bool		nas = PG_ARGISNULL(5) ? false : PG_GETARG_BOOL(5);
	TimestampTz deadline = GetCurrentTimestamp() + wait_us;
	TimestampTz scan_until = GetCurrentTimestamp() + Max(wait_us, GROUP_SCAN_MAX_US);
	CdcOwnerScope scope;
	CdcGroup		g;
	GroupOut			out;
	bool		frontier_held = false;

	CdcCheckName("member", member);
	CdcGroupRequireReadCommitted("cdc.read_group()");
	CdcLogWarnIfBehind();
	CdcGroupOutBegin(fcinfo, &out);
	CdcGroupOwnerBegin(&scope);
	CdcGroupRequire(&scope, name, false, &g);
	CdcGroupCheckGap(&g);
	CdcGroupMemberSeen(&g, member);
	out.rf = CdcGroupReadFilter(&g, scope.saved_user, nas);

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz until = now + vt;
		uint64		gen = CdcLogGeneration();
		int			got;
		bool		moved = false;
		bool		scan_bound = false;

		got = lease_known(&g, member, batch, now, until, false, NULL, 0, &out);
		if (got < batch)
		{
			/*
			 * The frontier: with something leased already, do not wait for
			 * another member's read; with nothing, wait for it (one short
			 * transaction) and continue after what it took.
			 */
			if (frontier_held)
				got += CdcGroupLeaseNew(&g, member, batch - got, now, until, &out, &moved, &scan_bound);
			else if (CdcGroupLock(&g, 0, CDC_LOCK_GROUP_FRONTIER, got == 0))
			{
				CdcGroupReload(&g);
				/* a trim that committed meanwhile recorded its gap here */
				if (!XLogRecPtrIsInvalid(g.gap_from))
					CdcGroupCheckGap(&g);
				got += CdcGroupLeaseNew(&g, member, batch - got, now, until, &out, &moved, &scan_bound);
			}
		}
		ack_skipped(&g, &out.skipped);
		if (got > 0)
			break;

		/*
		 * The frontier moved over a stretch of log holding nothing for us
		 * (CdcGroupLeaseNew looks at a bounded stretch a call): look at the
		 * next one, keeping the frontier (it moved in this transaction, so
		 * nobody may read it before we commit), until a change is leased,
		 * the log's end, or scan_until: an empty read says nothing was
		 * there, not only in the first stretch (a client took an empty
		 * batch for "caught up" with changes waiting further on).
		 */
		if (moved && scan_bound && GetCurrentTimestamp() < scan_until)
		{
			frontier_held = true;
			continue;
		}
		if (frontier_held || moved || wait_us == 0 || GetCurrentTimestamp() >= deadline)
			break;

		/*
		 * Nothing for us and nothing written: let other members at the
		 * frontier while we wait for the log writer's next commit.
		 */
		{
			LOCKTAG		tag;

			SET_CDC_LOCKTAG_GROUP(tag, g.id, 0, CDC_LOCK_GROUP_FRONTIER);
			LockRelease(&tag, ExclusiveLock, false);
		}
		(void) CdcLogWait(gen, deadline);
		CdcGroupReload(&g);
	}
	CdcOwnerEnd(&scope);
	return (Datum) 0;
}

/* cdc.claim(group, member, min_idle, visibility_timeout, from_member, batch_size, numeric_as_string) */
Datum
cdc_claim(PG_FUNCTION_ARGS)
{
	char	   *name = CdcGroupTextArg(fcinfo, 0, "group");
	char	   *member = CdcGroupTextArg(fcinfo, 1, "member");
	int64		min_idle = CdcIntervalArg(fcinfo, 2, "min_idle", true, INTERVAL_HINT);
	int64		vt = CdcIntervalArg(fcinfo, 3, "visibility_timeout", false, INTERVAL_HINT);
	char	   *from = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	int32		batch = CdcGroupPositiveIntArg(fcinfo, 5, "batch_size");
	bool		nas = PG_ARGISNULL(6) ? false : PG_GETARG_BOOL(6);
	TimestampTz now = GetCurrentTimestamp();
	CdcOwnerScope scope;
	CdcGroup		g;
	GroupOut			out;

	CdcCheckName("member", member);
	if (from)
		CdcCheckName("member", from);
	CdcGroupRequireReadCommitted("cdc.claim()");
	CdcGroupOutBegin(fcinfo, &out);
	CdcGroupOwnerBegin(&scope);
	CdcGroupRequire(&scope, name, false, &g);
	CdcGroupCheckGap(&g);
	if (from)
		CdcGroupMemberRequire(&g, from);
	CdcGroupMemberSeen(&g, member);
	out.rf = CdcGroupReadFilter(&g, scope.saved_user, nas);
	(void) lease_known(&g, member, batch, now, now + vt, true, from, now - min_idle, &out);
	ack_skipped(&g, &out.skipped);
	CdcOwnerEnd(&scope);
	return (Datum) 0;
}
