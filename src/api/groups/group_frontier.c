/*
 * group_frontier.c
 *		Phase 2 of cdc.read_group, under the group's frontier lock: the log
 *		rows after the frontier become entries of the group (leased to the
 *		caller when the ordering rules allow, else ready), the frontier
 *		moves over them, and the watermark follows the oldest entry left.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "group_internal.h"

typedef struct KeyState
{
	uint32		hash;
	char		state;			/* 'l' leased in this batch, 'r' held back */
} KeyState;

typedef struct TableState
{
	uint32		hash;
	bool		any;			/* some change of it in this batch */
	bool		barrier;		/* a truncate of it in this batch */
} TableState;

/*
 * Move the watermark to just before the oldest unacknowledged entry (or to
 * the frontier).  Acknowledged entries are gone already (deleted by the
 * acknowledgement); rows marked acked by builds before that stay until the
 * horizon passes them (CdcGroupsHorizon) and are skipped meanwhile.
 */
static void
advance_watermark(CdcGroup *g)
{
	XLogRecPtr	wl = g->scan_lsn;
	int32		ws = g->scan_seq;

	/*
	 * Scans start at the watermark: below it are only the index entries of
	 * rows already deleted (until vacuum), which a scan from the group's
	 * start would walk every time.
	 */
	{
		Oid			t1[] = {INT4OID, PG_LSNOID, INT4OID};
		Datum		v1[] = {Int32GetDatum(g->id), LSNGetDatum(g->ack_lsn), Int32GetDatum(g->ack_seq)};

		RUN("SELECT commit_lsn, seq FROM cdc.group_entry WHERE grp = $1 "
			"AND (commit_lsn, seq) > ($2, $3) AND NOT acked "
			"AND NOT replay ORDER BY commit_lsn, seq LIMIT 1",
			t1, v1, NULL, SPI_OK_SELECT, 1);
	}
	if (SPI_processed > 0)
	{
		bool		isnull;

		wl = DatumGetLSN(CdcGroupCol(0, 1, &isnull));
		ws = DatumGetInt32(CdcGroupCol(0, 2, &isnull)) - 1;
	}
	if (CdcGroupPosCmp(wl, ws, g->ack_lsn, g->ack_seq) <= 0)
		return;
	g->ack_lsn = wl;
	g->ack_seq = ws;
}

static void
save_positions(CdcGroup *g)
{
	Oid			types[] = {INT4OID, PG_LSNOID, INT4OID, PG_LSNOID, INT4OID};
	Datum		values[] = {Int32GetDatum(g->id), LSNGetDatum(g->ack_lsn), Int32GetDatum(g->ack_seq),
	LSNGetDatum(g->scan_lsn), Int32GetDatum(g->scan_seq)};

	RUN("UPDATE cdc.group_state SET ack_lsn = $2, ack_seq = $3, scan_lsn = $4, scan_seq = $5 "
		"WHERE id = $1",
		types, values, NULL, SPI_OK_UPDATE, 0);
}

/*
 * Phase 2, under the frontier lock: look at log rows after the frontier,
 * create an entry for each the caller receives (leased to it when the
 * ordering rules allow, else ready), move the frontier over all of them.
 * Returns how many were leased; *moved: whether anything was written.
 */
int
CdcGroupLeaseNew(CdcGroup *g, const char *member, int want, TimestampTz now, TimestampTz until,
		  GroupOut *out, bool *moved)
{
	int			leased = 0;
	int			scanned = 0;
	int			scan_cap = Max(want * GROUP_SCAN_FACTOR, GROUP_SCAN_MIN);
	int			held = 0;
	int			hold_cap = want * GROUP_HOLD_FACTOR;
	HASHCTL		ctl = {0};
	HTAB	   *kstate,
			   *tstate;
	HTAB	   *barriers = CdcGroupPendingBarriers(g);
	Oid			truncate_op = CdcGroupTruncateOid();
	XLogRecPtr	ack_lsn0 = g->ack_lsn,
				scan_lsn0 = g->scan_lsn;
	int32		ack_seq0 = g->ack_seq,
				scan_seq0 = g->scan_seq;

	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(KeyState);
	ctl.hcxt = CurrentMemoryContext;
	kstate = hash_create("cdc group keys", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.entrysize = sizeof(TableState);
	tstate = hash_create("cdc group tables", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	advance_watermark(g);

	while (leased < want && scanned < scan_cap && held < hold_cap)
	{
		int			block = Min(want - leased + 16, scan_cap - scanned);
		int			nrows;
		SPITupleTable *rows;
		Datum	  **lvs;
		bool	  **lns;
		Datum	  **evs;
		bool	  **ens;
		uint32	   *kh,
				   *eh;
		bool	   *pass;
		Datum	   *kd;
		int			nkd = 0;
		HTAB	   *dbkeys;
		bool		need_tables = false;
		int			last = -1;
		Datum	   *ic,
				   *is,
				   *ik,
				   *ikh,
				   *ieh,
				   *ib,
				   *il;
		int			ni = 0;
		PosList		lease_pl = {0};

		{
			Oid			types[] = {PG_LSNOID, INT4OID, INT4OID, INT4OID};
			Datum		values[] = {LSNGetDatum(g->scan_lsn), Int32GetDatum(g->scan_seq),
				Int32GetDatum(CdcGroupFirstChunk(g->scan_lsn)), Int32GetDatum(block)};

			RUN_GENERIC("SELECT " CDC_LOG_COLUMNS " "
				"FROM cdc.log WHERE (commit_lsn, seq) > ($1, $2) AND chunk >= $3 "
				"ORDER BY commit_lsn, seq LIMIT $4",
				types, values, NULL, SPI_OK_SELECT, 0);
		}
		nrows = (int) SPI_processed;
		if (nrows == 0)
			break;
		rows = SPI_tuptable;
		SPI_tuptable = NULL;	/* keep it past the next statements */
		lvs = palloc(nrows * sizeof(Datum *));
		lns = palloc(nrows * sizeof(bool *));
		kh = palloc(nrows * sizeof(uint32));
		eh = palloc(nrows * sizeof(uint32));
		pass = palloc(nrows * sizeof(bool));
		kd = palloc(nrows * sizeof(Datum));
		evs = palloc(nrows * sizeof(Datum *));
		ens = palloc(nrows * sizeof(bool *));
		for (int i = 0; i < nrows; i++)
		{
			lvs[i] = palloc(CDC_LOG_NCOLUMNS * sizeof(Datum));
			lns[i] = palloc(CDC_LOG_NCOLUMNS * sizeof(bool));
			evs[i] = palloc(GROUP_OUT_NCOLUMNS * sizeof(Datum));
			ens[i] = palloc(GROUP_OUT_NCOLUMNS * sizeof(bool));
			heap_deform_tuple(rows->vals[i], rows->tupdesc, lvs[i], lns[i]);
			pass[i] = CdcReadFilterApply(out->rf, lvs[i], lns[i], evs[i], ens[i]);
			if (!pass[i])
				continue;
			CdcGroupRowKeys(lvs[i], lns[i], &kh[i], &eh[i]);
			kd[nkd++] = Int32GetDatum((int32) kh[i]);
			if (CdcGroupIsTruncate(lvs[i][CDC_LOG_OPERATION], truncate_op))
				need_tables = true;
		}

		/* the group's unfinished entries of these keys: all earlier than these rows */
		ctl.keysize = sizeof(uint32);
		ctl.entrysize = sizeof(KeyState);
		dbkeys = hash_create("cdc group known keys", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		if (nkd > 0)
		{
			/* replayed dead letters through their index: see decide_keys */
			Oid			types[] = {INT4OID, INT4ARRAYOID, TEXTOID, TIMESTAMPTZOID, PG_LSNOID, INT4OID};
			Datum		values[] = {Int32GetDatum(g->id), CdcGroupInt4Array(kd, nkd),
				CStringGetTextDatum(member), TimestampTzGetDatum(now),
			LSNGetDatum(g->ack_lsn), Int32GetDatum(g->ack_seq)};

			RUN_GENERIC("SELECT khash, bool_and(member IS NOT DISTINCT FROM $3 AND lease_until > $4) "
				"FROM (SELECT khash, member, lease_until FROM cdc.group_entry "
				"  WHERE grp = $1 AND khash = ANY ($2) AND (commit_lsn, seq) > ($5, $6) AND NOT acked "
				"  UNION ALL "
				"  SELECT khash, member, lease_until FROM cdc.group_entry "
				"  WHERE grp = $1 AND replay AND (commit_lsn, seq) <= ($5, $6) AND khash + 0 = ANY ($2) "
				"  AND NOT acked) k "
				"GROUP BY khash",
				types, values, NULL, SPI_OK_SELECT, 0);
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				bool		isnull;
				uint32		h = (uint32) DatumGetInt32(CdcGroupCol(r, 1, &isnull));
				KeyState   *ks = hash_search(dbkeys, &h, HASH_ENTER, NULL);

				ks->state = DatumGetBool(CdcGroupCol(r, 2, &isnull)) ? 'm' : 'o';
			}
		}
		if (need_tables)
		{
			/* a truncate waits for every unfinished change of its table */
			Oid			types[] = {INT4OID};
			Datum		values[] = {Int32GetDatum(g->id)};

			RUN("SELECT DISTINCT ehash FROM cdc.group_entry WHERE grp = $1 AND NOT acked",
				types, values, NULL, SPI_OK_SELECT, 0);
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				bool		isnull;
				uint32		h = (uint32) DatumGetInt32(CdcGroupCol(r, 1, &isnull));
				bool		found;
				TableState *ts = hash_search(tstate, &h, HASH_ENTER, &found);

				if (!found)
					ts->barrier = false;
				ts->any = true;
			}
		}

		ic = palloc(nrows * sizeof(Datum));
		is = palloc(nrows * sizeof(Datum));
		ik = palloc(nrows * sizeof(Datum));
		ikh = palloc(nrows * sizeof(Datum));
		ieh = palloc(nrows * sizeof(Datum));
		ib = palloc(nrows * sizeof(Datum));
		il = palloc(nrows * sizeof(Datum));
		for (int i = 0; i < nrows && leased < want && held < hold_cap; i++)
		{
			bool		barrier;
			bool		lease = false;
			bool		found;
			KeyState   *ks;
			TableState *ts;
			XLogRecPtr	c = DatumGetLSN(lvs[i][CDC_LOG_COMMIT_LSN]);
			int32		s = DatumGetInt32(lvs[i][CDC_LOG_SEQ]);

			last = i;
			scanned++;
			if (!pass[i])
				continue;
			barrier = CdcGroupIsTruncate(lvs[i][CDC_LOG_OPERATION], truncate_op);
			ts = hash_search(tstate, &eh[i], HASH_ENTER, &found);
			if (!found)
			{
				ts->any = false;
				ts->barrier = false;
			}
			ks = hash_search(kstate, &kh[i], HASH_ENTER, &found);
			if (!found)
			{
				KeyState   *db = hash_search(dbkeys, &kh[i], HASH_FIND, NULL);

				if (db == NULL)
					ks->state = 'f';	/* nobody's */
				else if (db->state == 'm' && CdcGroupLock(g, kh[i], GROUP_LOCK_KEY, false))
					ks->state = 'l';	/* mine, in flight: more of it in order */
				else
					ks->state = 'r';
			}

			if (ts->barrier || (!lns[i][CDC_LOG_ENTITY] && CdcGroupBehindBarrier(barriers, eh[i], c, s)))
				lease = false;
			else if (barrier)
				lease = !ts->any && ks->state != 'r';
			else
				lease = ks->state != 'r';

			ks->state = lease ? 'l' : 'r';
			if (!lns[i][CDC_LOG_ENTITY])
			{
				ts->any = true;
				ts->barrier |= barrier;
			}

			ic[ni] = LSNGetDatum(c);
			is[ni] = Int32GetDatum(s);
			ik[ni] = lvs[i][CDC_LOG_CHUNK];
			ikh[ni] = Int32GetDatum((int32) kh[i]);
			ieh[ni] = Int32GetDatum((int32) eh[i]);
			ib[ni] = BoolGetDatum(barrier);
			il[ni] = BoolGetDatum(lease);
			ni++;
			if (lease)
			{
				CdcGroupPosListAdd(&lease_pl, c, s, DatumGetInt32(lvs[i][CDC_LOG_CHUNK]));
				leased++;
			}
			else
				held++;
		}

		if (ni > 0)
		{
			Oid			types[] = {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
				PG_LSNARRAYOID, INT4ARRAYOID, INT4ARRAYOID, INT4ARRAYOID, INT4ARRAYOID,
			BOOLARRAYOID, BOOLARRAYOID};
			Datum		values[] = {Int32GetDatum(g->id), CStringGetTextDatum(member),
				TimestampTzGetDatum(now), TimestampTzGetDatum(until),
				CdcGroupLsnArray(ic, ni), CdcGroupInt4Array(is, ni), CdcGroupInt4Array(ik, ni),
				CdcGroupInt4Array(ikh, ni), CdcGroupInt4Array(ieh, ni), CdcGroupBoolArray(ib, ni),
			CdcGroupBoolArray(il, ni)};

			RUN("INSERT INTO cdc.group_entry (grp, commit_lsn, seq, chunk, khash, ehash, "
				"  barrier, member, lease_until, delivered_at, delivery_count, last_member) "
				"SELECT $1, u.c, u.s, u.k, u.kh, u.eh, u.b, "
				"  CASE WHEN u.l THEN $2 END, CASE WHEN u.l THEN $4 END, "
				"  CASE WHEN u.l THEN $3 END, CASE WHEN u.l THEN 1 ELSE 0 END, "
				"  CASE WHEN u.l THEN $2 END "
				"FROM unnest($5::pg_lsn[], $6::integer[], $7::integer[], $8::integer[], "
				"  $9::integer[], $10::boolean[], $11::boolean[]) AS u(c, s, k, kh, eh, b, l)",
				types, values, NULL, SPI_OK_INSERT, 0);
		}
		if (last >= 0)
		{
			g->scan_lsn = DatumGetLSN(lvs[last][CDC_LOG_COMMIT_LSN]);
			g->scan_seq = DatumGetInt32(lvs[last][CDC_LOG_SEQ]);
		}

		/* the rows leased, in order, as the caller receives them */
		for (int i = 0, j = 0; i <= last && j < lease_pl.n; i++)
		{
			if (!pass[i] ||
				CdcGroupPosCmp(DatumGetLSN(lvs[i][CDC_LOG_COMMIT_LSN]), DatumGetInt32(lvs[i][CDC_LOG_SEQ]),
						DatumGetLSN(lease_pl.lsn[j]), DatumGetInt32(lease_pl.seq[j])) != 0)
				continue;
			j++;
			evs[i][CDC_ENTRY_NCOLUMNS] = Int32GetDatum(1);
			ens[i][CDC_ENTRY_NCOLUMNS] = false;
			tuplestore_putvalues(out->store, out->desc, evs[i], ens[i]);
		}
		SPI_freetuptable(rows);
		if (nrows < block || last < nrows - 1)
			break;				/* the end of the log, or a bound */
	}

	*moved = CdcGroupPosCmp(g->scan_lsn, g->scan_seq, scan_lsn0, scan_seq0) != 0 ||
		CdcGroupPosCmp(g->ack_lsn, g->ack_seq, ack_lsn0, ack_seq0) != 0;
	if (*moved)
		save_positions(g);
	return leased;
}
