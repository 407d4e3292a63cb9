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

/*
 * What phase 2 knows of an ordering key (khash).  Two tables hold it:
 * known_keys, read from cdc.group_entry for the keys of a block before its
 * rows are decided (KEY_MINE or KEY_OTHERS), and batch_keys, the keys this
 * call has met (KEY_FREE, KEY_LEASING or KEY_HELD).  Every unfinished entry
 * of a key is earlier than the rows after the frontier, so a key's new rows
 * may be leased to the caller only if none of its unfinished entries is
 * someone else's or waiting (per-row ordering, group_internal.h).
 */
typedef enum KeyOwner
{
	KEY_MINE,					/* known: every unfinished entry of the key is
								 * leased, unexpired, to the caller */
	KEY_OTHERS,					/* known: some unfinished entry of the key is
								 * ready, expired or another member's */
	KEY_FREE,					/* met: the group has no unfinished entry of
								 * the key (nobody's) */
	KEY_LEASING,				/* met: this call leases the key's rows to the
								 * caller, in cursor order (also a KEY_MINE key
								 * whose lock it took: more of it, in order) */
	KEY_HELD					/* met: this call holds the key's rows back
								 * (written ready, behind a row not leased) */
} KeyOwner;

typedef struct KeyState
{
	uint32		hash;			/* the khash (hash table key) */
	KeyOwner	owner;
} KeyState;

typedef struct TableState
{
	uint32		hash;			/* the ehash (hash table key) */
	bool		any;			/* some change of it unfinished or in this batch */
	bool		barrier;		/* a truncate of it in this batch */
} TableState;

/* One log row of a block read after the frontier. */
typedef struct FrontierRow
{
	Datum		lv[CDC_LOG_NCOLUMNS];	/* the cdc.log row */
	bool		ln[CDC_LOG_NCOLUMNS];
	Datum		ev[GROUP_OUT_NCOLUMNS];	/* what the caller receives of it */
	bool		en[GROUP_OUT_NCOLUMNS];
	bool		pass;			/* the caller receives it (else no entry) */
	bool		lease;			/* decided: leased to the caller */
	uint32		khash;			/* ordering keys (CdcGroupRowKeys) */
	uint32		ehash;
} FrontierRow;

/* An entry phase 2 creates: one row of its INSERT. */
typedef struct NewEntry
{
	XLogRecPtr	commit_lsn;
	int32		seq;
	int32		chunk;
	uint32		khash;
	uint32		ehash;
	bool		barrier;		/* a truncate */
	bool		lease;			/* leased to the caller, else ready */
} NewEntry;

/*
 * Move the watermark to just before the oldest unacknowledged entry (or to
 * the frontier).  Acknowledged entries are gone already (deleted by the
 * acknowledgement); rows marked acked by builds before that stay until the
 * horizon passes them (CdcGroupsHorizon) and are skipped meanwhile.
 */
static void
advance_watermark(CdcGroup *g)
{
	XLogRecPtr	wl = g->frontier_lsn;
	int32		ws = g->frontier_seq;

	/*
	 * Scans start at the watermark: below it are only the index entries of
	 * rows already deleted (until vacuum), which a scan from the group's
	 * start would walk every time.
	 */
	{
		Oid			t1[] = {INT4OID, PG_LSNOID, INT4OID};
		Datum		v1[] = {Int32GetDatum(g->id), LSNGetDatum(g->watermark_lsn), Int32GetDatum(g->watermark_seq)};

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
	if (CdcGroupPosCmp(wl, ws, g->watermark_lsn, g->watermark_seq) <= 0)
		return;
	g->watermark_lsn = wl;
	g->watermark_seq = ws;
}

static void
save_positions(CdcGroup *g)
{
	Oid			types[] = {INT4OID, PG_LSNOID, INT4OID, PG_LSNOID, INT4OID};
	Datum		values[] = {Int32GetDatum(g->id), LSNGetDatum(g->watermark_lsn), Int32GetDatum(g->watermark_seq),
	LSNGetDatum(g->frontier_lsn), Int32GetDatum(g->frontier_seq)};

	RUN("UPDATE cdc.group_state SET ack_lsn = $2, ack_seq = $3, scan_lsn = $4, scan_seq = $5 "
		"WHERE id = $1",
		types, values, NULL, SPI_OK_UPDATE, 0);
}

/*
 * Read the next block of at most n log rows after the frontier into rows
 * (in cursor order), with what the caller receives of each and its ordering
 * keys.  *keys: the khashes of the rows that pass (for known_keys);
 * *any_truncate: whether one of those is a truncate.  Returns the number
 * of rows.  The rows' values point into *tuples, the statement's result,
 * kept past the next statements: the caller frees it once the rows are
 * delivered.
 */
static int
read_block(CdcGroup *g, GroupOut *out, int n, Oid truncate_op, SPITupleTable **tuples,
		   FrontierRow **rows, Datum **keys, int *nkeys, bool *any_truncate)
{
	Oid			types[] = {PG_LSNOID, INT4OID, INT4OID, INT4OID};
	Datum		values[] = {LSNGetDatum(g->frontier_lsn), Int32GetDatum(g->frontier_seq),
		Int32GetDatum(CdcGroupFirstChunk(g->frontier_lsn)), Int32GetDatum(n)};
	int			nrows;

	RUN_GENERIC("SELECT " CDC_LOG_COLUMNS " "
				"FROM cdc.log WHERE (commit_lsn, seq) > ($1, $2) AND chunk >= $3 "
				"ORDER BY commit_lsn, seq LIMIT $4",
				types, values, NULL, SPI_OK_SELECT, 0);
	nrows = (int) SPI_processed;
	*rows = palloc0(Max(nrows, 1) * sizeof(FrontierRow));
	*keys = palloc(Max(nrows, 1) * sizeof(Datum));
	*nkeys = 0;
	*any_truncate = false;
	for (int i = 0; i < nrows; i++)
	{
		FrontierRow *row = &(*rows)[i];

		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, row->lv, row->ln);
		row->pass = CdcReadFilterApply(out->rf, row->lv, row->ln, row->ev, row->en);
		if (!row->pass)
			continue;
		CdcGroupRowKeys(row->lv, row->ln, &row->khash, &row->ehash);
		(*keys)[(*nkeys)++] = Int32GetDatum((int32) row->khash);
		if (CdcGroupIsTruncate(row->lv[CDC_LOG_OPERATION], truncate_op))
			*any_truncate = true;
	}
	*tuples = SPI_tuptable;
	SPI_tuptable = NULL;
	return nrows;
}

/*
 * known_keys for a block: for each of keys that has unfinished entries in
 * the group (all earlier than the block's rows), KEY_MINE when every one
 * of them is leased, unexpired, to member, else KEY_OTHERS.
 */
static HTAB *
load_known_keys(CdcGroup *g, const char *member, TimestampTz now, Datum *keys, int nkeys)
{
	HASHCTL		ctl = {0};
	HTAB	   *known;

	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(KeyState);
	ctl.hcxt = CurrentMemoryContext;
	known = hash_create("cdc group known keys", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	if (nkeys > 0)
	{
		/* replayed dead letters through their index: see decide_keys */
		Oid			types[] = {INT4OID, INT4ARRAYOID, TEXTOID, TIMESTAMPTZOID, PG_LSNOID, INT4OID};
		Datum		values[] = {Int32GetDatum(g->id), CdcGroupInt4Array(keys, nkeys),
			CStringGetTextDatum(member), TimestampTzGetDatum(now),
		LSNGetDatum(g->watermark_lsn), Int32GetDatum(g->watermark_seq)};

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
			KeyState   *ks = hash_search(known, &h, HASH_ENTER, NULL);

			ks->owner = DatumGetBool(CdcGroupCol(r, 2, &isnull)) ? KEY_MINE : KEY_OTHERS;
		}
	}
	return known;
}

/* A truncate waits for every unfinished change of its table: mark those tables. */
static void
load_unfinished_tables(CdcGroup *g, HTAB *tables)
{
	Oid			types[] = {INT4OID};
	Datum		values[] = {Int32GetDatum(g->id)};

	RUN("SELECT DISTINCT ehash FROM cdc.group_entry WHERE grp = $1 AND NOT acked",
		types, values, NULL, SPI_OK_SELECT, 0);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		uint32		h = (uint32) DatumGetInt32(CdcGroupCol(r, 1, &isnull));
		bool		found;
		TableState *ts = hash_search(tables, &h, HASH_ENTER, &found);

		if (!found)
			ts->barrier = false;
		ts->any = true;
	}
}

/*
 * The per-row ordering rules for one new row that passes: may it be leased
 * to the caller (else it is held back, written ready)?  Updates what the
 * call knows of the row's key and table.  A row of a table with a truncate
 * earlier in this batch or behind an unfinished one waits; a truncate
 * waits for every earlier change of its table; any other row for the
 * earlier changes of its key.
 */
static bool
decide_row(CdcGroup *g, FrontierRow *row, bool barrier, HTAB *batch_keys, HTAB *known_keys,
		   HTAB *tables, HTAB *barriers)
{
	XLogRecPtr	c = DatumGetLSN(row->lv[CDC_LOG_COMMIT_LSN]);
	int32		s = DatumGetInt32(row->lv[CDC_LOG_SEQ]);
	bool		is_table_row = !row->ln[CDC_LOG_ENTITY];	/* not a message */
	bool		found;
	bool		lease;
	TableState *ts;
	KeyState   *ks;

	ts = hash_search(tables, &row->ehash, HASH_ENTER, &found);
	if (!found)
	{
		ts->any = false;
		ts->barrier = false;
	}
	ks = hash_search(batch_keys, &row->khash, HASH_ENTER, &found);
	if (!found)
	{
		KeyState   *known = hash_search(known_keys, &row->khash, HASH_FIND, NULL);

		if (known == NULL)
			ks->owner = KEY_FREE;
		else if (known->owner == KEY_MINE &&
				 CdcGroupLock(g, row->khash, CDC_LOCK_GROUP_KEY, false))
			ks->owner = KEY_LEASING;
		else
			ks->owner = KEY_HELD;
	}

	if (ts->barrier || (is_table_row && CdcGroupBehindBarrier(barriers, row->ehash, c, s)))
		lease = false;
	else if (barrier)
		lease = !ts->any && ks->owner != KEY_HELD;
	else
		lease = ks->owner != KEY_HELD;

	ks->owner = lease ? KEY_LEASING : KEY_HELD;
	if (is_table_row)
	{
		ts->any = true;
		ts->barrier |= barrier;
	}
	return lease;
}

/* Create the entries of a block (one INSERT over unnest of their columns). */
static void
insert_entries(CdcGroup *g, const char *member, TimestampTz now, TimestampTz until,
			   NewEntry *ents, int n)
{
	Oid			types[] = {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
		PG_LSNARRAYOID, INT4ARRAYOID, INT4ARRAYOID, INT4ARRAYOID, INT4ARRAYOID,
	BOOLARRAYOID, BOOLARRAYOID};
	Datum		values[11];
	Datum	   *col[7];

	if (n == 0)
		return;
	for (int k = 0; k < 7; k++)
		col[k] = palloc(n * sizeof(Datum));
	for (int i = 0; i < n; i++)
	{
		col[0][i] = LSNGetDatum(ents[i].commit_lsn);
		col[1][i] = Int32GetDatum(ents[i].seq);
		col[2][i] = Int32GetDatum(ents[i].chunk);
		col[3][i] = Int32GetDatum((int32) ents[i].khash);
		col[4][i] = Int32GetDatum((int32) ents[i].ehash);
		col[5][i] = BoolGetDatum(ents[i].barrier);
		col[6][i] = BoolGetDatum(ents[i].lease);
	}
	values[0] = Int32GetDatum(g->id);
	values[1] = CStringGetTextDatum(member);
	values[2] = TimestampTzGetDatum(now);
	values[3] = TimestampTzGetDatum(until);
	values[4] = CdcGroupLsnArray(col[0], n);
	values[5] = CdcGroupInt4Array(col[1], n);
	values[6] = CdcGroupInt4Array(col[2], n);
	values[7] = CdcGroupInt4Array(col[3], n);
	values[8] = CdcGroupInt4Array(col[4], n);
	values[9] = CdcGroupBoolArray(col[5], n);
	values[10] = CdcGroupBoolArray(col[6], n);
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

/*
 * Phase 2, under the frontier lock: look at log rows after the frontier,
 * create an entry for each the caller receives (leased to it when the
 * ordering rules allow, else ready), move the frontier over all of them.
 * Bounded per call by GROUP_SCAN_* rows looked at and GROUP_HOLD_FACTOR
 * rows held back per row wanted.  Returns how many were leased (put in
 * out, in cursor order, delivery count 1); *moved: whether the watermark
 * or the frontier moved (then they are saved); *scan_bound: whether it
 * stopped at the bound of rows looked at (the log may go on), rather than
 * at the log's end, with enough leased, or at the bound of rows held.
 */
int
CdcGroupLeaseNew(CdcGroup *g, const char *member, int want, TimestampTz now, TimestampTz until,
				 GroupOut *out, bool *moved, bool *scan_bound)
{
	int			leased = 0;
	int			scanned = 0;
	int			scan_cap = Max(want * GROUP_SCAN_FACTOR, GROUP_SCAN_MIN);
	int			held = 0;
	int			hold_cap = want * GROUP_HOLD_FACTOR;
	HASHCTL		ctl = {0};
	HTAB	   *batch_keys,
			   *tables;
	HTAB	   *barriers = CdcGroupPendingBarriers(g);
	Oid			truncate_op = CdcGroupTruncateOid();
	XLogRecPtr	watermark_lsn0 = g->watermark_lsn,
				frontier_lsn0 = g->frontier_lsn;
	int32		watermark_seq0 = g->watermark_seq,
				frontier_seq0 = g->frontier_seq;

	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(KeyState);
	ctl.hcxt = CurrentMemoryContext;
	batch_keys = hash_create("cdc group keys", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.entrysize = sizeof(TableState);
	tables = hash_create("cdc group tables", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	advance_watermark(g);

	while (leased < want && scanned < scan_cap && held < hold_cap)
	{
		int			block = Min(want - leased + 16, scan_cap - scanned);
		SPITupleTable *tuples;
		FrontierRow *rows;
		Datum	   *keys;
		int			nkeys;
		bool		any_truncate;
		HTAB	   *known_keys;
		NewEntry   *ents;
		int			nents = 0;
		int			last = -1;
		int			nrows;

		nrows = read_block(g, out, block, truncate_op, &tuples, &rows, &keys, &nkeys,
						   &any_truncate);
		if (nrows == 0)
		{
			SPI_freetuptable(tuples);
			break;
		}
		known_keys = load_known_keys(g, member, now, keys, nkeys);
		if (any_truncate)
			load_unfinished_tables(g, tables);

		ents = palloc(nrows * sizeof(NewEntry));
		for (int i = 0; i < nrows && leased < want && held < hold_cap; i++)
		{
			FrontierRow *row = &rows[i];
			NewEntry   *e;

			last = i;
			scanned++;
			if (!row->pass)
				continue;
			e = &ents[nents++];
			e->commit_lsn = DatumGetLSN(row->lv[CDC_LOG_COMMIT_LSN]);
			e->seq = DatumGetInt32(row->lv[CDC_LOG_SEQ]);
			e->chunk = DatumGetInt32(row->lv[CDC_LOG_CHUNK]);
			e->khash = row->khash;
			e->ehash = row->ehash;
			e->barrier = CdcGroupIsTruncate(row->lv[CDC_LOG_OPERATION], truncate_op);
			e->lease = decide_row(g, row, e->barrier, batch_keys, known_keys, tables, barriers);
			row->lease = e->lease;
			if (e->lease)
				leased++;
			else
				held++;
		}

		insert_entries(g, member, now, until, ents, nents);
		if (last >= 0)
		{
			g->frontier_lsn = DatumGetLSN(rows[last].lv[CDC_LOG_COMMIT_LSN]);
			g->frontier_seq = DatumGetInt32(rows[last].lv[CDC_LOG_SEQ]);
		}

		/* the rows leased, in order, as the caller receives them */
		for (int i = 0; i <= last; i++)
		{
			if (!rows[i].pass || !rows[i].lease)
				continue;
			rows[i].ev[CDC_ENTRY_NCOLUMNS] = Int32GetDatum(1);
			rows[i].en[CDC_ENTRY_NCOLUMNS] = false;
			tuplestore_putvalues(out->store, out->desc, rows[i].ev, rows[i].en);
		}
		SPI_freetuptable(tuples);
		if (nrows < block || last < nrows - 1)
			break;				/* the end of the log, or a bound */
	}

	*scan_bound = scanned >= scan_cap && leased < want && held < hold_cap;
	*moved = CdcGroupPosCmp(g->frontier_lsn, g->frontier_seq, frontier_lsn0, frontier_seq0) != 0 ||
		CdcGroupPosCmp(g->watermark_lsn, g->watermark_seq, watermark_lsn0, watermark_seq0) != 0;
	if (*moved)
		save_positions(g);
	return leased;
}
