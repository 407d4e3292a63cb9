/*
 * relcache.c
 *		Per-relation cache of the output plugin: filter decision, entity name,
 *		column encoders and key columns.
 *
 * Invariants:
 * - Everything about a relation that is the same for every row is decided
 *   here once: whether any operation of it passes the filters, how each
 *   column is encoded, which columns make the entity_id.  The change callback
 *   then does no catalog lookup and converts nothing for a filtered relation.
 * - An entry is rebuilt after a relcache invalidation of its relation (DDL,
 *   seen by decoding at the point of the WAL where it happened), when the
 *   tuple descriptor's width no longer matches, after a change to any schema
 *   (its entity name and filter decision may be stale), and, for entries
 *   that need them, after a change to a composite type, a function or a
 *   cast.  The invalidation callbacks are registered once per backend and
 *   only flag entries: they must not touch catalogs.
 * - The hash lives under CacheMemoryContext, not under the decoding context:
 *   a decoding session that ends in an ERROR does not call shutdown, so a
 *   hash under the (freed) decoding context would leave the callback with a
 *   dangling pointer.  Each startup starts from an empty hash, because the
 *   filter decisions depend on that session's options.  Each entry owns a
 *   small memory context, deleted when the entry is rebuilt.
 */
#include "cdc_plugin.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/sysattr.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "mb/pg_wchar.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "cdc_glob.h"
#include "cdc_json.h"

static HTAB *rel_cache = NULL;
static MemoryContext rel_cache_cxt = NULL;
static bool callbacks_registered = false;
/* how many valid entries have a composite column (see the relcache callback) */
static int	composite_entries = 0;
/* CdcRelEntry.version: a sink that keeps per-relation state compares it */
static uint64 entry_versions = 0;

/* Flag entries invalid: all of them, or those with a cast, or a composite. */
#define INVAL_ALL		0
#define INVAL_CAST		1
#define INVAL_COMPOSITE 2

/*
 * Entries flagged invalid since the last sweep.  An invalid entry keeps its
 * memory until its relation is met again, and a dropped table is never met
 * again: a role that creates, writes and drops tables grew the writer's
 * memory without bound.  CdcRelCacheSweep frees them, at the start of each
 * decoded transaction, when no entry is in use.
 */
static int	invalid_entries = 0;

static void
invalidate_entries(int which)
{
	HASH_SEQ_STATUS status;
	CdcRelEntry *entry;

	if (rel_cache == NULL)
		return;
	hash_seq_init(&status, rel_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (!entry->valid)
			continue;
		if (which == INVAL_ALL ||
			(which == INVAL_CAST && entry->has_cast) ||
			(which == INVAL_COMPOSITE && entry->has_composite))
		{
			entry->valid = false;
			invalid_entries++;
			if (entry->has_composite)
				composite_entries--;
		}
	}
}

/*
 * Relcache invalidation: the relation's entry, or every entry.  A relid
 * that is not in the cache may be a composite type's relation (ALTER TYPE
 * ... RENAME ATTRIBUTE): entries with composite columns are rebuilt then,
 * since the callback cannot look in the catalogs to tell.
 */
static void
cdc_relcache_invalidate(Datum arg, Oid relid)
{
	CdcRelEntry *entry;

	if (rel_cache == NULL)
		return;
	if (!OidIsValid(relid))
	{
		invalidate_entries(INVAL_ALL);
		return;
	}
	entry = hash_search(rel_cache, &relid, HASH_FIND, NULL);
	if (entry != NULL)
	{
		if (entry->valid && entry->has_composite)
			composite_entries--;
		if (entry->valid)
			invalid_entries++;
		entry->valid = false;
	}
	else if (composite_entries > 0)
		invalidate_entries(INVAL_COMPOSITE);
}

/*
 * A schema changed (ALTER SCHEMA ... RENAME, or its owner): entity names
 * and filter decisions of every entry may be stale.  Rare enough to drop
 * them all, as pgoutput does.
 */
static void
cdc_namespace_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	invalidate_entries(INVAL_ALL);
}

/*
 * A function changed: an entry that uses a cast to json checked its
 * function's owner when it was built (column.c); check again.  A cast was
 * created or dropped (rare): any entry may now categorise a type otherwise.
 */
static void
cdc_cast_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	invalidate_entries(cacheid == CASTSOURCETARGET ? INVAL_ALL : INVAL_CAST);
}

/*
 * The filters changed within the session (the log's capture setting,
 * src/log/capture.c): decide every relation again.
 */
void
CdcRelCacheInvalidateAll(void)
{
	invalidate_entries(INVAL_ALL);
}

/*
 * Start a decoding session with an empty cache.  The callbacks are
 * registered once per backend (they cannot be unregistered) and do nothing
 * while no cache exists.
 */
void
CdcRelCacheInit(void)
{
	HASHCTL		ctl;

	CdcRelCacheDestroy();
	rel_cache_cxt = AllocSetContextCreate(CacheMemoryContext,
										  "cdc_ext relation cache",
										  ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(CdcRelEntry);
	ctl.hcxt = rel_cache_cxt;
	invalid_entries = 0;
	rel_cache = hash_create("cdc_ext relation cache", 128, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	composite_entries = 0;
	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(cdc_relcache_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, cdc_namespace_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(PROCOID, cdc_cast_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(CASTSOURCETARGET, cdc_cast_invalidate, (Datum) 0);
		callbacks_registered = true;
	}
}

void
CdcRelCacheDestroy(void)
{
	rel_cache = NULL;
	composite_entries = 0;
	if (rel_cache_cxt != NULL)
		MemoryContextDelete(rel_cache_cxt);
	rel_cache_cxt = NULL;
}

/*
 * Does the entity match one of the patterns?  A pattern naming a schema
 * ("public.order*") is matched against the whole entity, one without against
 * the table part alone ("order*" matches orders in any schema).
 */
bool
CdcEntityMatches(const char *entity, const char *table, struct List *patterns)
{
	ListCell   *lc;

	foreach(lc, patterns)
	{
		const char *pat = lfirst(lc);
		size_t		plen = strlen(pat);
		const char *text = cdc_glob_is_qualified(pat, plen) ? entity : table;

		if (cdc_glob_match(pat, plen, text, strlen(text)))
			return true;
	}
	return false;
}

/* Index into re->cols of attribute attnum, or -1. */
static int
column_index(CdcRelEntry *re, AttrNumber attnum)
{
	for (int i = 0; i < re->ncols; i++)
		if (re->cols[i].attnum == attnum)
			return i;
	return -1;
}

/*
 * The entity_id columns: the primary key; but where REPLICA IDENTITY USING
 * INDEX names another index, that index, because only its columns reach the
 * WAL of a DELETE; with no primary key, the replica identity index.
 */
static void
build_key(CdcRelEntry *re, Relation rel)
{
	Oid			pk = CdcRelationGetPrimaryKeyIndex(rel);
	Oid			ri = RelationGetReplicaIndex(rel);
	Oid			keyidx;
	Relation	idx;

	if (rel->rd_rel->relreplident == REPLICA_IDENTITY_INDEX && OidIsValid(ri))
		keyidx = ri;
	else
		keyidx = OidIsValid(pk) ? pk : ri;
	re->nkeys = 0;
	if (!OidIsValid(keyidx))
		return;

	idx = RelationIdGetRelation(keyidx);
	if (!RelationIsValid(idx))
		return;
	re->keys = MemoryContextAlloc(re->cxt, sizeof(int) * idx->rd_index->indnkeyatts);
	for (int i = 0; i < idx->rd_index->indnkeyatts; i++)
	{
		int			c = column_index(re, idx->rd_index->indkey.values[i]);

		if (c >= 0)
			re->keys[re->nkeys++] = c;
	}
	RelationClose(idx);
}

/* Is relid one of cdc_ext's own tables (never emitted)? */
static bool
is_extension_table(Oid relid)
{
	Oid			ext_oid;

	/*
	 * Looked up each time (once per relation and cache build): the extension
	 * may have been dropped and created again since this backend last asked.
	 */
	ext_oid = get_extension_oid("cdc_ext", true);
	return OidIsValid(ext_oid) &&
		getExtensionOfObject(RelationRelationId, relid) == ext_oid;
}

/* Is t a composite, or an array of composites? */
static bool
type_has_composite(const CdcType *t)
{
	while (t->enc == CDC_ENC_ARRAY)
		t = t->elem;
	return t->enc == CDC_ENC_COMPOSITE;
}

static void
build_entry(CdcRelEntry *re, Relation rel, const CdcOptions *opts, MemoryContext parent)
{
	TupleDesc	desc = RelationGetDescr(rel);
	char	   *nspname = get_namespace_name(RelationGetNamespace(rel));
	const char *qnsp = quote_identifier(nspname);
	const char *qrel = quote_identifier(RelationGetRelationName(rel));
	Bitmapset  *identity;
	MemoryContext old;
	ListCell   *lc;

	re->cxt = AllocSetContextCreate(parent, "cdc_ext relation",
									ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(re->cxt);

	re->entity = psprintf("%s.%s", qnsp, qrel);
	{
		bool		utf8 = GetDatabaseEncoding() == PG_UTF8;
		size_t		len = strlen(re->entity);
		size_t		elen = cdc_json_escaped_len(re->entity, len, utf8);
		char	   *p = palloc(elen + 3);

		p[0] = '"';
		cdc_json_escape(p + 1, re->entity, len, utf8);
		p[elen + 1] = '"';
		p[elen + 2] = '\0';
		re->entity_json = p;
		re->entity_json_len = (int) elen + 2;
	}

	/* filters: every layer must let the relation through */
	re->operations = CDC_OP_FILTERABLE;
	foreach(lc, opts->filters)
	{
		CdcFilter  *f = lfirst(lc);
		const char *table = re->entity + strlen(qnsp) + 1;

		if (f->entities != NIL &&
			!CdcEntityMatches(re->entity, table, f->entities))
			re->operations = 0;
		if (CdcEntityMatches(re->entity, table, f->exclude_entities))
			re->operations = 0;
		re->operations &= f->operations;
	}
	if (re->operations != 0 && is_extension_table(RelationGetRelid(rel)))
		re->operations = 0;

	/* the shape its changes follow from here on (schema.c) */
	re->has_schema_version = re->operations != 0 && opts->schema_changes &&
		CdcSchemaVersionOf(RelationGetRelid(rel), &re->schema_version);

	re->version = ++entry_versions;
	re->natts = desc->natts;
	re->replident_full = rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL;
	re->ncols = 0;
	re->nkeys = 0;
	re->needs_pin = false;
	re->has_composite = false;
	re->has_cast = false;
	if (re->operations == 0)
	{
		/* nothing of it will be converted: skip the column work */
		MemoryContextSwitchTo(old);
		return;
	}

	identity = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY);
	re->cols = palloc0(sizeof(CdcColumn) * Max(desc->natts, 1));
	for (int i = 0; i < 2; i++)
	{
		re->row_values[i] = palloc(sizeof(Datum) * Max(desc->natts, 1));
		re->row_nulls[i] = palloc(sizeof(bool) * Max(desc->natts, 1));
	}
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		CdcColumn  *col;

		if (att->attisdropped)
			continue;
		col = &re->cols[re->ncols++];
		CdcInitColumn(col, att, re->cxt);
		col->is_replident = bms_is_member(att->attnum - FirstLowInvalidHeapAttributeNumber,
										  identity);
		re->needs_pin |= col->type->needs_pin;
		re->has_cast |= col->type->has_cast;
		re->has_composite |= type_has_composite(col->type);
	}
	build_key(re, rel);
	re->jsonb_order = CdcJsonbOrder(re->cols, re->ncols, re->cxt);
	MemoryContextSwitchTo(old);
}

/* Free the entries flagged invalid (see invalid_entries); none may be in use. */
void
CdcRelCacheSweep(void)
{
	HASH_SEQ_STATUS status;
	CdcRelEntry *entry;

	if (rel_cache == NULL || invalid_entries == 0)
		return;
	hash_seq_init(&status, rel_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->valid)
			continue;
		if (entry->cxt != NULL)
			MemoryContextDelete(entry->cxt);
		entry->cxt = NULL;
		(void) hash_search(rel_cache, &entry->relid, HASH_REMOVE, NULL);
	}
	invalid_entries = 0;
}

/*
 * The cache entry of rel, built if need be.  opts must stay the same for
 * the whole session (the cache is emptied at each startup).  Privileges are
 * not decided here: the log records every captured change, and what a role
 * receives of it is decided when it reads (src/api/privileges.c).
 */
CdcRelEntry *
CdcRelCacheGet(Relation rel, const CdcOptions *opts)
{
	Oid			relid = RelationGetRelid(rel);
	CdcRelEntry *re;
	bool		found;

	re = hash_search(rel_cache, &relid, HASH_ENTER, &found);
	if (found && re->valid && re->natts == RelationGetDescr(rel)->natts)
	{
		re->desc = RelationGetDescr(rel);
		return re;
	}
	if (found && re->valid && re->has_composite)
		composite_entries--;	/* rebuilt for a new tuple descriptor */
	if (found && re->cxt != NULL)
		MemoryContextDelete(re->cxt);
	re->cxt = NULL;
	re->valid = false;
	CdcClassifyReset();			/* (after an error in a build, too) */
	build_entry(re, rel, opts, rel_cache_cxt);
	CdcClassifyReset();
	if (re->has_composite)
		composite_entries++;
	re->desc = RelationGetDescr(rel);
	re->valid = true;
	return re;
}

/*
 * An entry for rel as the current catalog describes it, outside the cache
 * and every filter (all operations), in its own memory context under
 * parent: a backfill (src/log/backfill.c) converts the rows it reads with
 * it, the same code as for changes, without touching the entries that
 * decoding builds from the catalog as of the WAL it decodes.  Free it with
 * MemoryContextDelete(re->cxt) and pfree(re).
 */
CdcRelEntry *
CdcRelEntryBuild(Relation rel, MemoryContext parent)
{
	CdcRelEntry *re = MemoryContextAllocZero(parent, sizeof(CdcRelEntry));
	CdcOptions	opts = {0};

	re->relid = RelationGetRelid(rel);
	CdcClassifyReset();
	PG_TRY();
	{
		build_entry(re, rel, &opts, parent);
	}
	PG_FINALLY();
	{
		CdcClassifyReset();
	}
	PG_END_TRY();
	re->desc = RelationGetDescr(rel);
	re->valid = true;
	return re;
}
