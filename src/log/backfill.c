/*
 * backfill.c
 *		The log writer's backfills: the current rows of a table logged as
 *		`read` entries for the one consumer or group that asked
 *		(cdc.backfill_request, written by src/api/backfill.c), in key order, a
 *		chunk at a time, between the changes, exactly once and resumable.
 *		The watermark scheme is Netflix's DBLog, with the writer as the one
 *		process that both reads and logs.
 *
 * A chunk:
 *   1. Read (CdcBackfillStep; the writer, between cycles, in a transaction
 *      of its own): low = the WAL insert position; S = a new MVCC
 *      snapshot; the rows after the last key logged, in key order through
 *      the key index under S (ACCESS SHARE on table and index, taken only
 *      when free: a backfill never waits for a lock, so it never stalls
 *      the log), each converted by the plugin's own code
 *      (src/plugin/entry_jsonb.c, as every change) into a tuplestore that
 *      spills to a temporary file (memory bounded whatever the rows);
 *      then the mark, a transactional logical message naming the chunk,
 *      and commit.  That transaction has no replication origin, so
 *      decoding sees the mark (the writer's own writes are skipped by
 *      origin).
 *      The mark is flushed at once (decoding reads only flushed WAL).
 *   2. Logged (CdcBackfillLog; the mark's commit is H): the cycle that
 *      decodes the mark stops right after H and logs and commits what it
 *      decoded before it, confirming only up to H; the next cycle decodes
 *      nothing, and reads cdc.log for the changes of the table that
 *      committed in [low, H) by a transaction S does not see.  Chunk
 *      rows with such a change (by entity_id, or the old key of an update
 *      that changed the key) are dropped: the change, logged before H,
 *      carries a newer state of the row; a truncate drops the whole chunk.
 *      The others are logged at (H, 1..n), operation read, audience the
 *      asker, and the backfill's progress (cdc.backfill_progress: last
 *      key, counts, state) moves in the same transaction.
 *
 * Why the stream then rebuilds the table.  Every transaction S sees
 * committed before S was taken, so before H, which is written after S:
 * its changes precede the chunk's rows, which hold their effects.  A
 * transaction S does not see commits after H (its change follows the
 * rows and wins) or before H; then its commit record follows low, unless
 * it had written it before low and was still running when S was taken (a
 * commit record is flushed, and a synchronous standby waited for, before
 * the transaction leaves the proc array).  Step 1 rules that out: after
 * taking S it waits until no transaction is between writing its commit
 * record and marking it in the commit log (DELAY_CHKPT_START), then asks
 * the commit log about every transaction S holds running, and takes S
 * again if one has committed.  An update that left a TOASTed column
 * unchanged does not carry its value, so it cannot replace a chunk row: a
 * chunk where one supersedes a row is read again (counted in retries).
 *
 * Exactly once, resumable.  Step 2 commits with its cycle, like any
 * change.  The chunk itself lives in the writer's memory only: a writer
 * that dies between 1 and 2 (or between the two cycles of 2: the slot is
 * confirmed up to H only) forgets it, ignores its mark when decoding it
 * again, and reads the chunk again from the last key logged.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/nbtree.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "replication/origin.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
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
#include "backfill_internal.h"

/*
 * Rows per chunk: adapted so that reading a chunk and logging it take
 * about CHUNK_TARGET_MS together.  The live changes wait for both (the
 * writer decodes nothing meanwhile), so this bounds what a backfill adds
 * to their delivery; larger chunks would save little (a chunk's fixed
 * cost, a snapshot, a mark and its commit, is a few milliseconds).
 */
#define CHUNK_ROWS_MIN 100
#define CHUNK_ROWS_START 2000
#define CHUNK_ROWS_MAX 20000
#define CHUNK_TARGET_MS 100
/*
 * A read stops at this, whatever rows_limit says: on a machine where the
 * writer waits for a CPU, the last chunk's times predict the next one's
 * badly, and the live changes wait for the whole read.
 */
#define CHUNK_READ_MAX_MS (CHUNK_TARGET_MS / 2)
/* A chunk ends early once its rows' JSON passes this (10 MB rows: 6 a chunk). */
#define CHUNK_BYTES_MAX ((int64) 64 * 1024 * 1024)
/* Memory a chunk's rows may use before spilling to a temporary file. */
#define CHUNK_MEMORY_KB 8192
/* Snapshots taken for one chunk before waiting for the next writer loop. */
#define SNAPSHOT_TRIES 20
/* How often an idle writer looks for backfill work. */
#define LOOK_EVERY_MS 1000
/* Backfill requests looked at per step (the first whose table is free reads). */
#define CANDIDATES 32


Chunk		chunk;
static uint64 nonce_counter;
static int	rows_limit = CHUNK_ROWS_START;
static TimestampTz last_look;
static bool work_seen = true;
/* the last chunk read: how long it took, its rows, whether rows_limit ended it */
static int	last_read_ms;
static int64 last_nrows;
static bool last_full;

/*
 * The last chunk is logged, in log_ms: size the next one so that both
 * take about CHUNK_TARGET_MS, moving at most twofold a chunk (one slow
 * chunk on a busy machine must not collapse the size).  Only a chunk that
 * rows_limit ended says that more rows would fit.
 */
void
CdcBackfillSizeNext(int log_ms)
{
	int			total = Max(last_read_ms + log_ms, 1);
	int64		fit = last_nrows * CHUNK_TARGET_MS / total;

	if (last_nrows <= 0)
		return;
	if (fit < rows_limit)
		rows_limit = (int) Max(Max(fit, rows_limit / 2), CHUNK_ROWS_MIN);
	else if (last_full)
		rows_limit = (int) Min(Min(fit, (int64) rows_limit * 2), CHUNK_ROWS_MAX);
}

bool
CdcBackfillInFlight(void)
{
	return chunk.active;
}

void
CdcBackfillChunkForget(void)
{
	if (chunk.rows != NULL)
		tuplestore_end(chunk.rows);
	if (chunk.cxt != NULL)
		MemoryContextDelete(chunk.cxt);
	memset(&chunk, 0, sizeof(chunk));
}

/* One candidate: a table of a backfill request not finished. */
typedef struct Candidate
{
	int64		id;
	Oid			relid;
	int32		audience;
	bool		fresh;			/* no progress row yet */
	bytea	   *last_key;		/* NULL: from the first row */
} Candidate;

/*
 * The key index of rel, as the stream names rows (entity_id): the primary
 * key, or the replica identity index where REPLICA IDENTITY USING INDEX
 * names one (src/plugin/relcache.c, build_key); InvalidOid if none.
 */
static Oid
key_index(Relation rel)
{
	Oid			pk = CdcRelationGetPrimaryKeyIndex(rel);
	Oid			ri = RelationGetReplicaIndex(rel);

	if (rel->rd_rel->relreplident == REPLICA_IDENTITY_INDEX && OidIsValid(ri))
		return ri;
	return OidIsValid(pk) ? pk : ri;
}

/* Record a table's backfill as ended without rows: state, why. */
static void
progress_end(int64 id, Oid relid, const char *state, const char *error)
{
	Oid			t[4] = {INT8OID, OIDOID, TEXTOID, TEXTOID};
	Datum		a[4] = {Int64GetDatum(id), ObjectIdGetDatum(relid),
	CStringGetTextDatum(state), error ? CStringGetTextDatum(error) : (Datum) 0};
	char		n[5] = {' ', ' ', ' ', error ? ' ' : 'n', '\0'};

	if (SPI_execute_with_args("INSERT INTO cdc.backfill_progress AS p (id, relid, state, error, "
							  "started_at, finished_at, updated_at) "
							  "VALUES ($1, $2, $3, $4, pg_catalog.now(), pg_catalog.now(), pg_catalog.now()) "
							  "ON CONFLICT (id, relid) DO UPDATE SET state = $3, error = $4, "
							  "finished_at = pg_catalog.now(), updated_at = pg_catalog.now()",
							  4, t, a, n, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "cdc_ext: recording a backfill's end failed");
}

/*
 * A snapshot for a chunk, and the WAL position before it (see the file
 * header): false when a transaction S holds running committed meanwhile
 * every time it was taken.
 */
static bool
take_snapshot(Snapshot *snap, XLogRecPtr *low)
{
	for (int tries = 0; tries < SNAPSHOT_TRIES; tries++)
	{
		VirtualTransactionId *vxids;
		int			nvxids;
		bool		clean = true;
		TransactionId next;
		TransactionId xid;

		*low = GetXLogInsertRecPtr();
		*snap = RegisterSnapshot(GetLatestSnapshot());
		/* S holds as running every xid from its xmax on, not only its xip */
		next = XidFromFullTransactionId(ReadNextFullTransactionId());
		/* whoever is writing a commit record now has marked it when this ends */
		vxids = GetVirtualXIDsDelayingChkpt(&nvxids, DELAY_CHKPT_START);
		while (nvxids > 0 && HaveVirtualXIDsDelayingChkpt(vxids, nvxids, DELAY_CHKPT_START))
		{
			pg_usleep(100L);
			CHECK_FOR_INTERRUPTS();
		}
		pfree(vxids);
		for (uint32 i = 0; i < (*snap)->xcnt && clean; i++)
			if (TransactionIdDidCommit((*snap)->xip[i]))
				clean = false;

		/*
		 * A transaction at or past S's xmax is not in its xip: xmax is the
		 * latest completed xid plus one, so the newest transaction, having
		 * written its commit record and its commit in the commit log but not
		 * yet left the proc array, is running for S and was not looked at
		 * here.  Its commit record could precede low: its change escaped
		 * the window and the chunk logged the row as it was before it (t/120
		 * and backfill.test.mjs each found a key it had moved read back at
		 * its old key, once in a loaded run).  Every xid assigned by now
		 * from xmax on is asked too.
		 */
		xid = (*snap)->xmax;
		while (clean && TransactionIdPrecedes(xid, next))
		{
			if (TransactionIdDidCommit(xid))
				clean = false;
			TransactionIdAdvance(xid);
		}
		if (clean)
			return true;
		UnregisterSnapshot(*snap);
		*snap = NULL;
		pg_usleep(1000L);
		CHECK_FOR_INTERRUPTS();
	}
	return false;
}

/*
 * The serialized last key (cdc.backfill_progress.last_key) starts with what
 * it is the key of: the key index and, per column, its type and collation.
 * A key read back under another key (the primary key changed, a column's
 * type altered: a new index) would be compared with the wrong functions,
 * or read past its end: the writer crashed on it at every restart, a crash
 * loop any table owner could start (the attack on issue 18).
 */
typedef struct KeyHeader
{
	Oid			index;
	int32		nkeys;
	struct
	{
		Oid			type;
		Oid			collation;
	}			col[INDEX_MAX_KEYS];
} KeyHeader;

static void
key_header(Relation idx, KeyHeader *h)
{
	memset(h, 0, sizeof(*h));
	h->index = RelationGetRelid(idx);
	h->nkeys = IndexRelationGetNumberOfKeyAttributes(idx);
	for (int i = 0; i < h->nkeys; i++)
	{
		h->col[i].type = idx->rd_opcintype[i];
		h->col[i].collation = idx->rd_indcollation[i];
	}
}

#define KEY_HEADER_SIZE(n) (offsetof(KeyHeader, col) + (n) * 2 * sizeof(Oid))

/* Is last a key of idx as it is now? */
static bool
key_matches(Relation idx, bytea *last)
{
	KeyHeader	now;
	Size		len = VARSIZE_ANY_EXHDR(last);

	key_header(idx, &now);
	return len >= KEY_HEADER_SIZE(now.nkeys) &&
		memcmp(VARDATA_ANY(last), &now, KEY_HEADER_SIZE(now.nkeys)) == 0;
}

/*
 * Scan keys for "key > last" on the key index (a row comparison when the
 * key has several columns), from the serialized last key; 0 keys when
 * last is NULL (from the first row).  The comparison functions are the
 * index's own operator family's (made by a superuser: no role's code).
 */
static int
key_scankeys(Relation idx, bytea *last, ScanKey *out)
{
	int			nkeys = IndexRelationGetNumberOfKeyAttributes(idx);
	ScanKey		sk;
	char	   *p;

	if (last == NULL)
	{
		*out = NULL;
		return 0;
	}
	/* key_matches(idx, last) was checked */
	p = VARDATA_ANY(last) + KEY_HEADER_SIZE(nkeys);
	sk = palloc0(sizeof(ScanKeyData) * (nkeys + 1));
	for (int i = 0; i < nkeys; i++)
	{
		bool		isnull;
		Datum		v = datumRestore(&p, &isnull);
		Oid			intype = idx->rd_opcintype[i];
		Oid			opfamily = idx->rd_opfamily[i];

		if (nkeys == 1)
		{
			Oid			op = get_opfamily_member(opfamily, intype, intype, BTGreaterStrategyNumber);

			if (!OidIsValid(op))
				elog(ERROR, "cdc_ext: no > operator in the key index's operator family %u", opfamily);
			ScanKeyEntryInitialize(&sk[0], 0, 1, BTGreaterStrategyNumber, intype,
								   idx->rd_indcollation[0], get_opcode(op), v);
			*out = sk;
			return 1;
		}
		ScanKeyEntryInitialize(&sk[i + 1], SK_ROW_MEMBER | (i == nkeys - 1 ? SK_ROW_END : 0),
							   i + 1, BTGreaterStrategyNumber, intype, idx->rd_indcollation[i],
							   get_opfamily_proc(opfamily, intype, intype, BTORDER_PROC), v);
	}
	ScanKeyEntryInitialize(&sk[0], SK_ROW_HEADER, 1, BTGreaterStrategyNumber, InvalidOid,
						   InvalidOid, InvalidOid, PointerGetDatum(&sk[1]));
	*out = sk;
	return 1;
}

/* The key columns of row (heap values) serialized, as key_scankeys reads them. */
static bytea *
serialize_key(Relation idx, TupleDesc desc, Datum *values, bool *nulls)
{
	int			nkeys = IndexRelationGetNumberOfKeyAttributes(idx);
	Size		len = KEY_HEADER_SIZE(nkeys);
	KeyHeader	h;
	bytea	   *b;
	char	   *p;

	for (int i = 0; i < nkeys; i++)
	{
		int			a = idx->rd_index->indkey.values[i] - 1;
		Form_pg_attribute att = TupleDescAttr(desc, a);

		len += datumEstimateSpace(values[a], nulls[a], att->attbyval, att->attlen);
	}
	b = palloc(VARHDRSZ + len);
	SET_VARSIZE(b, VARHDRSZ + len);
	key_header(idx, &h);
	memcpy(VARDATA(b), &h, KEY_HEADER_SIZE(nkeys));
	p = VARDATA(b) + KEY_HEADER_SIZE(nkeys);
	for (int i = 0; i < nkeys; i++)
	{
		int			a = idx->rd_index->indkey.values[i] - 1;
		Form_pg_attribute att = TupleDescAttr(desc, a);

		datumSerialize(values[a], nulls[a], att->attbyval, att->attlen, &p);
	}
	return b;
}

/*
 * Read one chunk of cand's table into `chunk` (in the step's transaction).
 * Returns false when the table is busy (a lock is not free, or no clean
 * snapshot): try later; true when the chunk is read, or when the table's
 * backfill ended here (recorded; chunk.active stays false).
 */
static bool
read_chunk(const Candidate *cand)
{
	Relation	rel;
	Relation	idx;
	Oid			idxoid;
	Snapshot	snap;
	XLogRecPtr	low;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKey		sk;
	int			nsk;
	MemoryContext row_cxt;
	MemoryContext old;
	int			pin = -1;
	int64		bytes = 0;
	TimestampTz started = GetCurrentTimestamp();
	long		secs;
	int			usecs;
	Datum	   *key_names;
	int			nkeys;
	bool		full;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(cand->relid)))
	{
		progress_end(cand->id, cand->relid, "failed", "the table was dropped during the backfill");
		return true;
	}
	if (!ConditionalLockRelationOid(cand->relid, AccessShareLock))
		return false;
	rel = try_relation_open(cand->relid, NoLock);
	if (rel == NULL)
	{
		progress_end(cand->id, cand->relid, "failed", "the table was dropped during the backfill");
		return true;
	}
	idxoid = key_index(rel);
	if (!OidIsValid(idxoid))
	{
		relation_close(rel, NoLock);
		progress_end(cand->id, cand->relid, "skipped",
					 "the table has no primary key and no replica identity index: its rows could not be matched with their later changes");
		return true;
	}
	if (!ConditionalLockRelationOid(idxoid, AccessShareLock))
	{
		relation_close(rel, NoLock);
		return false;
	}
	idx = index_open(idxoid, NoLock);
	if (cand->last_key != NULL && !key_matches(idx, cand->last_key))
	{
		index_close(idx, NoLock);
		relation_close(rel, NoLock);
		progress_end(cand->id, cand->relid, "failed",
					 "the table's key changed during the backfill (primary key, replica identity index or a key column's type): run cdc.backfill() again for it");
		return true;
	}
	if (!take_snapshot(&snap, &low))
	{
		index_close(idx, NoLock);
		relation_close(rel, NoLock);
		return false;
	}

	CdcBackfillChunkForget();
	chunk.cxt = AllocSetContextCreate(TopMemoryContext, "cdc_ext backfill chunk",
									  ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(chunk.cxt);
	chunk.id = cand->id;
	chunk.relid = cand->relid;
	chunk.audience = cand->audience;
	chunk.nonce = ((uint64) MyProcPid << 32) | (++nonce_counter & 0xFFFFFFFF);
	chunk.low = low;
	chunk.xmin = snap->xmin;
	chunk.xmax = snap->xmax;
	chunk.nxip = snap->xcnt;
	chunk.xip = palloc(sizeof(TransactionId) * Max(snap->xcnt, 1));
	memcpy(chunk.xip, snap->xip, sizeof(TransactionId) * snap->xcnt);
	chunk.re = CdcRelEntryBuild(rel, chunk.cxt);
	/* the table cannot change shape while we hold it: its version now is the rows' */
	chunk.has_schema_version = CdcSchemaVersionOf(cand->relid, &chunk.schema_version);
	nkeys = IndexRelationGetNumberOfKeyAttributes(idx);
	key_names = palloc(sizeof(Datum) * nkeys);
	for (int i = 0; i < nkeys; i++)
		key_names[i] = CStringGetTextDatum(NameStr(TupleDescAttr(RelationGetDescr(rel),
																 idx->rd_index->indkey.values[i] - 1)->attname));
	chunk.key_names = construct_array(key_names, nkeys, TEXTOID, -1, false, TYPALIGN_INT);
	chunk.desc = CreateTemplateTupleDesc(3);
	TupleDescInitEntry(chunk.desc, 1, "entity_id", JSONBOID, -1, 0);
	TupleDescInitEntry(chunk.desc, 2, "new_data", JSONBOID, -1, 0);
	TupleDescInitEntry(chunk.desc, 3, "fallback", TEXTARRAYOID, -1, 0);
	chunk.rows = tuplestore_begin_heap(false, true, CHUNK_MEMORY_KB);
	MemoryContextSwitchTo(old);

	row_cxt = AllocSetContextCreate(CurrentMemoryContext, "cdc_ext backfill row",
									ALLOCSET_DEFAULT_SIZES);
	nsk = key_scankeys(idx, cand->last_key, &sk);
	scan = CdcIndexBeginScan(rel, idx, snap, nsk);
	index_rescan(scan, sk, nsk, NULL, 0);
	slot = table_slot_create(rel, NULL);
	if (chunk.re->needs_pin)
		pin = CdcSessionPin();
	chunk.exhausted = true;
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		should_free;
		HeapTuple	tup;
		CdcRow		row;
		List	   *fallback = NIL;
		bool		isnull;
		Datum		v[3];
		bool		n[3] = {false, false, true};

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(row_cxt);
		tup = ExecFetchSlotHeapTuple(slot, false, &should_free);
		/* values stored out of line are fetched: a read is the whole row */
		if (HeapTupleHasExternal(tup))
			tup = toast_flatten_tuple(tup, RelationGetDescr(rel));
		CdcDeformRow(chunk.re, tup, CDC_ROW_NEW, &row);
		v[0] = CdcKeyToJsonb(chunk.re, &row, NULL, false, &isnull, &fallback);
		n[0] = isnull;
		v[1] = CdcRowToJsonb(chunk.re, &row, NULL, false, false, NULL, &fallback);
		if (fallback != NIL)
		{
			v[2] = PointerGetDatum(strlist_to_textarray(fallback));
			n[2] = false;
		}
		tuplestore_putvalues(chunk.rows, chunk.desc, v, n);
		bytes += VARSIZE_ANY(DatumGetPointer(v[1]));
		full = ++chunk.nrows >= rows_limit || bytes >= CHUNK_BYTES_MAX ||
			(chunk.nrows % 64 == 0 &&
			 TimestampDifferenceExceeds(started, GetCurrentTimestamp(), CHUNK_READ_MAX_MS));
		if (full)
		{
			/*
			 * The chunk's last key: the next chunk starts after it.  Only
			 * the last row's is kept (a chunk that ends with the table
			 * needs none: its backfill is done).
			 */
			MemoryContextSwitchTo(chunk.cxt);
			chunk.last_key = serialize_key(idx, RelationGetDescr(rel), row.values, row.nulls);
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
		ExecClearTuple(slot);
		if (full)
		{
			chunk.exhausted = false;
			break;
		}
	}
	if (pin >= 0)
		CdcSessionUnpin(pin);
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	UnregisterSnapshot(snap);
	/* the relcache's descriptor is gone once the caches are dropped (CdcBackfillStep) */
	old = MemoryContextSwitchTo(chunk.cxt);
	chunk.re->desc = CreateTupleDescCopyConstr(RelationGetDescr(rel));
	MemoryContextSwitchTo(old);
	index_close(idx, NoLock);
	relation_close(rel, NoLock);
	MemoryContextDelete(row_cxt);

	/* the next chunk's size follows once this one is logged too */
	TimestampDifference(started, GetCurrentTimestamp(), &secs, &usecs);
	last_read_ms = (int) (secs * 1000 + usecs / 1000);
	last_nrows = chunk.nrows;
	last_full = chunk.nrows >= rows_limit;
	chunk.active = true;
	return true;
}

/*
 * The requests not finished (inside the owner scope): one per table (the
 * oldest: a table held by a lock fills one place, not all of them), taken
 * in turns, those after the last one read first, so that one role's many
 * or large backfills, or a table locked for long, hold nobody else back.
 */
static int64 turn_id;
static Oid	turn_relid;

static int
load_candidates(Candidate *cands)
{
	int			n;
	Oid			t[2] = {INT8OID, OIDOID};
	Datum		a[2] = {Int64GetDatum(turn_id), ObjectIdGetDatum(turn_relid)};

	if (SPI_execute_with_args("SELECT id, relid, audience, fresh, last_key FROM ("
							  "  SELECT DISTINCT ON (r.relid) r.id, r.relid, "
							  "    coalesce(r.consumer_id, OPERATOR(pg_catalog.-) r.group_id) AS audience, "
							  "    p.state IS NULL AS fresh, p.last_key "
							  "  FROM cdc.backfill_request r LEFT JOIN cdc.backfill_progress p "
							  "    ON p.id OPERATOR(pg_catalog.=) r.id AND p.relid OPERATOR(pg_catalog.=) r.relid "
							  "  WHERE r.cancelled_at IS NULL "
							  "    AND (p.state IS NULL OR p.state OPERATOR(pg_catalog.=) 'running') "
							  "  ORDER BY r.relid, r.id) c "
							  "ORDER BY (id, relid) OPERATOR(pg_catalog.<=) ($1, $2), id, relid "
							  "LIMIT " CppAsString2(CANDIDATES),
							  2, t, a, NULL, true, CANDIDATES) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading backfill requests failed");
	n = (int) SPI_processed;
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;

		cands[i].id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		cands[i].relid = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		cands[i].audience = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		cands[i].fresh = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		d = SPI_getbinval(tup, desc, 5, &isnull);
		cands[i].last_key = isnull ? NULL : DatumGetByteaPCopy(d);
	}
	return n;
}

/*
 * The step's transaction: pick a table, read a chunk, write its mark.
 * Returns whether a chunk is now in flight (*work: whether any request
 * was waiting).
 */
static bool
step_transaction(bool *work)
{
	CdcOwnerScope scope;
	Candidate	cands[CANDIDATES];
	int			n;
	bool		read = false;

	CdcOwnerBegin(&scope);
	n = load_candidates(cands);
	*work = n > 0;
	for (int i = 0; i < n && !chunk.active; i++)
	{
		if (!read_chunk(&cands[i]))
			continue;			/* busy: the next one */
		if (!chunk.active)
			continue;			/* ended (recorded): the next one */
		if (cands[i].fresh)
		{
			Oid			t[2] = {INT8OID, OIDOID};
			Datum		a[2] = {Int64GetDatum(chunk.id), ObjectIdGetDatum(chunk.relid)};

			if (SPI_execute_with_args("INSERT INTO cdc.backfill_progress (id, relid, state, started_at, updated_at) "
									  "VALUES ($1, $2, 'running', pg_catalog.now(), pg_catalog.now()) "
									  "ON CONFLICT (id, relid) DO NOTHING",
									  2, t, a, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "cdc_ext: recording a backfill's start failed");
		}
		read = true;
	}
	/* the next step starts after this one's (see load_candidates) */
	if (read)
	{
		turn_id = chunk.id;
		turn_relid = chunk.relid;
	}
	else if (n > 0)
	{
		turn_id = cands[n - 1].id;
		turn_relid = cands[n - 1].relid;
	}
	if (read)
	{
		BackfillMark m = {MARK_MAGIC, chunk.relid, chunk.id, chunk.nonce};

		(void) CdcLogLogicalMessage(CDC_BACKFILL_PREFIX, (const char *) &m, sizeof(m), true);
	}
	CdcOwnerEnd(&scope);
	return read;
}

/*
 * The writer's caches hold what decoding built under its historic
 * snapshots: a table's columns and file as of the transaction it was
 * decoding, which may be older than a DDL that committed since (and whose
 * invalidation the writer had already taken in).  A chunk read through
 * them read a rewritten table's old, emptied file ("could not read block
 * 0": the backfill failed) or, after ADD COLUMN, the rows without the new
 * column, logged after the DDL's schema entry (the copy silently lacked
 * it).  And what a step builds from the current catalogs must not be used
 * to decode older changes (a column's new type applied to an older tuple:
 * the writer died on "invalid string enlargement request size").  So,
 * as pg_logical_slot_get_changes does around its decoding, every cache is
 * dropped when a step begins and when it ends (t/122_backfill_heavy.pl).
 */
static void
caches_forget(void)
{
	InvalidateSystemCaches();
}

bool
CdcBackfillStep(void)
{
	RepOriginId saved_origin = replorigin_session_origin;
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool read = false;
	volatile bool work = false;
	TimestampTz now = GetCurrentTimestamp();

	if (chunk.active)
		return false;
	/* an idle writer looks now and then; one with work, at every turn */
	if (!work_seen && !TimestampDifferenceExceeds(last_look, now, LOOK_EVERY_MS))
		return false;
	last_look = now;

	CdcStartTransaction();
	/* no origin: decoding must see the mark */
	replorigin_session_origin = InvalidRepOriginId;
	PG_TRY();
	{
		caches_forget();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (CdcLogPresent() == CDC_LOG_PRESENT)
			read = step_transaction((bool *) &work);
		PopActiveSnapshot();
		caches_forget();
		CommitTransactionCommand();

		/*
		 * The mark is decoded once it is flushed: at once, not when the
		 * WAL writer next flushes under synchronous_commit = off (up to
		 * wal_writer_delay, 200 ms by default, a chunk: 40% of a backfill's
		 * time in bench/backfill.sh).
		 */
		if (read)
			XLogFlush(XactLastCommitEnd);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/*
		 * A backfill's error must not stop the log: the writer records it
		 * on the backfill that was reading and goes on (errors of the log
		 * itself surface in the cycle, which is not in here).
		 */
		replorigin_session_origin = saved_origin;
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		/* the next look: at once after a table's failure, else in a second */
		work = chunk.id != 0 || chunk.relid != InvalidOid;
		CdcStartTransaction();
		/* nor what the failed step built (above) */
		caches_forget();
		if (work)
		{
			int64		id = chunk.id;
			Oid			relid = chunk.relid;

			CdcBackfillChunkForget();
			PushActiveSnapshot(GetTransactionSnapshot());
			{
				CdcOwnerScope scope;

				CdcOwnerBegin(&scope);
				progress_end(id, relid, "failed", edata->message);
				CdcOwnerEnd(&scope);
			}
			PopActiveSnapshot();
			caches_forget();
		}
		CommitTransactionCommand();
		ereport(LOG,
				(errmsg("cdc_ext log writer: a backfill failed: %s", edata->message)));
		FreeErrorData(edata);
		CdcBackfillChunkForget();
	}
	PG_END_TRY();
	replorigin_session_origin = saved_origin;
	work_seen = work;
	if (!read)
		CdcBackfillChunkForget();
	return read;
}
