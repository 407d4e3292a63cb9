/*
 * backfill_log.c
 *		Logging a backfill chunk, in the cycle after the one that decoded
 *		its mark: the rows no change of the chunk's window superseded, at
 *		the mark's commit, for the reader that asked, with the progress,
 *		exactly once.
 *		Reading the chunk, and why this is exact: backfill.c.
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

/* ---------------------------------------------------------------------- */
/* Logging a chunk                                                        */

/* Is xid's transaction invisible to the chunk's snapshot?  (a top-level xid) */
static bool
unseen_by_chunk(TransactionId xid)
{
	if (TransactionIdFollowsOrEquals(xid, chunk.xmax))
		return true;
	if (TransactionIdPrecedes(xid, chunk.xmin))
		return false;
	for (int i = 0; i < chunk.nxip; i++)
		if (TransactionIdEquals(chunk.xip[i], xid))
			return true;
	return false;
}

/* The set of keys (entity_id as text) that changes superseded. */
typedef struct KeyEntry
{
	char	   *key;			/* hash key: string */
	bool		toast;			/* an update without an unchanged TOAST value */
} KeyEntry;

static uint32
key_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, (int) strlen(s));
}

static int
key_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/*
 * The changes of the chunk's table in [low, H) by transactions the chunk's
 * snapshot did not see: their keys into *keys; true if one was a truncate.
 */
static bool
superseded_keys(XLogRecPtr mark_commit, HTAB **keys)
{
	Oid			t[4] = {OIDOID, PG_LSNOID, PG_LSNOID, TEXTARRAYOID};
	Datum		a[4] = {ObjectIdGetDatum(chunk.relid), LSNGetDatum(chunk.low),
	LSNGetDatum(mark_commit), PointerGetDatum(chunk.key_names)};
	HASHCTL		ctl;
	bool		truncated = false;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(KeyEntry);
	ctl.hash = key_hash;
	ctl.match = key_match;
	ctl.hcxt = CurrentMemoryContext;
	*keys = hash_create("cdc_ext backfill superseded keys", 256, &ctl,
						HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);

	if (SPI_execute_with_args("SELECT l.xid, l.operation::pg_catalog.text, l.entity_id::pg_catalog.text, "
							  "  CASE WHEN l.old_data IS NULL THEN NULL "
							  "       WHEN pg_catalog.cardinality($4) OPERATOR(pg_catalog.=) 1 "
							  "       THEN (l.old_data OPERATOR(pg_catalog.->) $4[1])::pg_catalog.text "
							  "       ELSE (SELECT pg_catalog.jsonb_object_agg(k, l.old_data OPERATOR(pg_catalog.->) k) "
							  "             FROM pg_catalog.unnest($4) k)::pg_catalog.text END, "
							  "  l.unchanged_toast IS NOT NULL "
							  "FROM cdc.log l "
							  "WHERE l.chunk OPERATOR(pg_catalog.>=) (SELECT coalesce(pg_catalog.max(c.chunk), -2147483648) "
							  "    FROM cdc.log_chunk c WHERE c.first_commit_lsn OPERATOR(pg_catalog.<=) $2) "
							  "  AND l.commit_lsn OPERATOR(pg_catalog.>=) $2 AND l.commit_lsn OPERATOR(pg_catalog.<) $3 "
							  "  AND l.relid OPERATOR(pg_catalog.=) $1",
							  4, t, a, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading a backfill chunk's window failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		TransactionId xid = (TransactionId) DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		char	   *op = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
		bool		toast = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));

		if (!unseen_by_chunk(xid))
			continue;
		if (strcmp(op, "truncate") == 0)
		{
			truncated = true;
			continue;
		}
		for (int col = 3; col <= 4; col++)
		{
			Datum		d = SPI_getbinval(tup, desc, col, &isnull);
			char	   *key;
			KeyEntry   *e;
			bool		found;

			if (isnull)
				continue;
			key = TextDatumGetCString(d);
			e = hash_search(*keys, &key, HASH_ENTER, &found);
			if (!found)
				e->toast = false;
			e->toast |= toast;
		}
	}
	return truncated;
}

/* A text[] datum as a List of C strings. */
static List *
text_array_list(Datum arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *l = NIL;

	deconstruct_array(DatumGetArrayTypeP(arr), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			l = lappend(l, TextDatumGetCString(elems[i]));
	return l;
}

/* Progress after a chunk: logged (last key, counts) or to be read again. */
static void
progress_after(int64 logged, int64 dropped, bool again)
{
	Oid			t[6] = {INT8OID, OIDOID, BYTEAOID, INT8OID, INT8OID, BOOLOID};
	Datum		a[6] = {Int64GetDatum(chunk.id), ObjectIdGetDatum(chunk.relid),
		PointerGetDatum(chunk.last_key), Int64GetDatum(logged), Int64GetDatum(dropped),
	BoolGetDatum(chunk.exhausted)};
	char		n[7] = "      ";
	int			rc;

	if (chunk.last_key == NULL)
		n[2] = 'n';
	if (again)
		rc = SPI_execute_with_args("UPDATE cdc.backfill_progress SET retries = retries OPERATOR(pg_catalog.+) 1, "
								   "updated_at = pg_catalog.now() "
								   "WHERE id OPERATOR(pg_catalog.=) $1 AND relid OPERATOR(pg_catalog.=) $2",
								   2, t, a, n, false, 0);
	else
		rc = SPI_execute_with_args("UPDATE cdc.backfill_progress SET "
								   "last_key = CASE WHEN $3 IS NULL THEN last_key ELSE $3 END, "
								   "rows_done = rows_done OPERATOR(pg_catalog.+) $4, "
								   "rows_dropped = rows_dropped OPERATOR(pg_catalog.+) $5, "
								   "chunks = chunks OPERATOR(pg_catalog.+) 1, "
								   "state = CASE WHEN $6 THEN 'done' ELSE state END, "
								   "finished_at = CASE WHEN $6 THEN pg_catalog.now() END, "
								   "updated_at = pg_catalog.now() "
								   "WHERE id OPERATOR(pg_catalog.=) $1 AND relid OPERATOR(pg_catalog.=) $2",
								   6, t, a, n, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "cdc_ext: recording a backfill's progress failed");
}

/* Is the chunk's request still wanted (not cancelled, its consumer or group there)? */
static bool
request_wanted(void)
{
	Oid			t[2] = {INT8OID, OIDOID};
	Datum		a[2] = {Int64GetDatum(chunk.id), ObjectIdGetDatum(chunk.relid)};

	if (SPI_execute_with_args("SELECT 1 FROM cdc.backfill_request "
							  "WHERE id OPERATOR(pg_catalog.=) $1 AND relid OPERATOR(pg_catalog.=) $2 "
							  "AND cancelled_at IS NULL",
							  2, t, a, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading a backfill request failed");
	return SPI_processed == 1;
}

bool
CdcBackfillMarkIsMine(IngestSink *s)
{
	BackfillMark m;

	if (s->mark_size == sizeof(m))
	{
		memcpy(&m, s->mark, sizeof(m));
		if (chunk.active && m.magic == MARK_MAGIC && m.nonce == chunk.nonce &&
			m.id == chunk.id && m.relid == chunk.relid)
			return true;
	}
	s->mark_seen = false;
	return false;
}

void
CdcBackfillLog(IngestSink *s, Oid partoid)
{
	HTAB	   *keys;
	bool		truncated;
	bool		again = false;
	int64		logged = 0;
	int64		dropped = 0;
	TupleTableSlot *slot;
	MemoryContext row_cxt;
	MemoryContext old;

	s->mark_seen = false;
	s->mark_pending = false;
	/* a mark of a chunk this writer no longer holds: read again later */
	if (!CdcBackfillMarkIsMine(s))
		return;

	/*
	 * Every change of the window is in the log and committed: the cycle
	 * before this one logged what it decoded up to the mark, and this
	 * cycle's snapshot, taken after that commit, sees it.  This cycle
	 * decodes nothing (ingest.c), so its buffer holds only the chunk.
	 */
	Assert(tuplestore_tuple_count(s->store) == 0);

	if (!request_wanted())
	{
		CdcBackfillChunkForget();
		return;
	}
	truncated = superseded_keys(s->mark_commit_lsn, &keys);

	row_cxt = AllocSetContextCreate(CurrentMemoryContext, "cdc_ext backfill log row",
									ALLOCSET_DEFAULT_SIZES);
	slot = MakeSingleTupleTableSlot(chunk.desc, &TTSOpsMinimalTuple);
	/* an update without a TOAST value superseding a row: read the chunk again */
	if (!truncated && hash_get_num_entries(keys) > 0)
	{
		tuplestore_rescan(chunk.rows);
		while (!again && tuplestore_gettupleslot(chunk.rows, true, false, slot))
		{
			bool		isnull;
			Datum		id = slot_getattr(slot, 1, &isnull);
			KeyEntry   *e;
			char	   *key;

			if (isnull)
				continue;
			old = MemoryContextSwitchTo(row_cxt);
			key = JsonbToCString(NULL, &DatumGetJsonbP(id)->root, VARSIZE_ANY(DatumGetPointer(id)));
			e = hash_search(keys, &key, HASH_FIND, NULL);
			again = e != NULL && e->toast;
			MemoryContextSwitchTo(old);
			MemoryContextReset(row_cxt);
		}
	}

	if (!again)
	{
		int32		seq = 0;
		CdcLogInsert *ins = CdcSinkInsertBegin(s, partoid);

		tuplestore_rescan(chunk.rows);
		while (tuplestore_gettupleslot(chunk.rows, true, false, slot))
		{
			CdcChange	c = {0};
			bool		isnull;
			bool		fb_null;
			Datum		fb;

			old = MemoryContextSwitchTo(row_cxt);
			c.entity_id = slot_getattr(slot, 1, &isnull);
			if (isnull)
				c.entity_id = (Datum) 0;
			if (truncated)
			{
				dropped++;
				MemoryContextSwitchTo(old);
				continue;
			}
			if (c.entity_id != (Datum) 0 && hash_get_num_entries(keys) > 0)
			{
				char	   *key = JsonbToCString(NULL, &DatumGetJsonbP(c.entity_id)->root,
												 VARSIZE_ANY(DatumGetPointer(c.entity_id)));

				if (hash_search(keys, &key, HASH_FIND, NULL) != NULL)
				{
					dropped++;
					MemoryContextSwitchTo(old);
					MemoryContextReset(row_cxt);
					continue;
				}
			}
			c.new_data = slot_getattr(slot, 2, &isnull);
			fb = slot_getattr(slot, 3, &fb_null);
			if (!fb_null)
				c.fallback = text_array_list(fb);
			c.lsn = s->mark_lsn;
			c.commit_lsn = s->mark_commit_lsn;
			c.seq = ++seq;
			c.xid = s->mark_xid;
			c.commit_time = s->mark_time;
			c.relid = chunk.relid;
			c.entity = chunk.re->entity;
			c.op = CDC_OP_READ;
			c.rel = chunk.re;
			c.audience = chunk.audience;
			c.has_schema_version = chunk.has_schema_version;
			c.schema_version = chunk.schema_version;
			CdcSinkInsertOne(s, ins, &c);
			logged++;
			MemoryContextSwitchTo(old);
			MemoryContextReset(row_cxt);
		}
		CdcSinkInsertEnd(ins);
	}
	ExecDropSingleTupleTableSlot(slot);
	MemoryContextDelete(row_cxt);
	hash_destroy(keys);
	progress_after(logged, dropped, again);
	CdcBackfillChunkForget();
}
