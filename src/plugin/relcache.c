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
 *   seen by decoding at the point of the WAL where it happened), or when the
 *   tuple descriptor's width no longer matches.  The invalidation callback is
 *   registered once per backend and only flags entries: it must not touch
 *   catalogs.
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
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
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
static bool callback_registered = false;

static void
cdc_relcache_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	CdcRelEntry *entry;

	if (rel_cache == NULL)
		return;
	if (OidIsValid(relid))
	{
		entry = hash_search(rel_cache, &relid, HASH_FIND, NULL);
		if (entry != NULL)
			entry->valid = false;
		return;
	}
	hash_seq_init(&status, rel_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		entry->valid = false;
}

/* Start a decoding session with an empty cache. */
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
	rel_cache = hash_create("cdc_ext relation cache", 128, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(cdc_relcache_invalidate, (Datum) 0);
		callback_registered = true;
	}
}

void
CdcRelCacheDestroy(void)
{
	rel_cache = NULL;
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
CdcEntityMatches(const char *entity, const char *table, List *patterns)
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

/* The encoding of a type that has a fast path, or -1. */
static int
scalar_encoding(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return CDC_ENC_INT2;
		case INT4OID:
			return CDC_ENC_INT4;
		case INT8OID:
			return CDC_ENC_INT8;
		case FLOAT4OID:
			return CDC_ENC_FLOAT4;
		case FLOAT8OID:
			return CDC_ENC_FLOAT8;
		case NUMERICOID:
			return CDC_ENC_NUMERIC;
		case BOOLOID:
			return CDC_ENC_BOOL;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return CDC_ENC_TEXT;
		case NAMEOID:
			return CDC_ENC_NAME;
		case UUIDOID:
			return CDC_ENC_UUID;
		case JSONOID:
			return CDC_ENC_JSON;
		case JSONBOID:
			return CDC_ENC_JSONB;
		case DATEOID:
			return CDC_ENC_DATE;
		case TIMEOID:
			return CDC_ENC_TIME;
		case TIMETZOID:
			return CDC_ENC_TIMETZ;
		case TIMESTAMPOID:
			return CDC_ENC_TIMESTAMP;
		case TIMESTAMPTZOID:
			return CDC_ENC_TIMESTAMPTZ;
		case BYTEAOID:
			return CDC_ENC_BYTEA;
		default:
			return -1;
	}
}

/*
 * Decide how a column of type typid is encoded, the way to_jsonb() would
 * categorize it: domains as their base type, arrays element by element,
 * composites and extension types (which may cast to json) through to_json(),
 * everything else as the text of its output function.
 */
static void
classify_column(CdcColumn *col, Oid typid, MemoryContext cxt)
{
	Oid			base = getBaseType(typid);
	int			enc = scalar_encoding(base);
	Oid			elem;
	Oid			outfunc;
	bool		isvarlena;
	char		typtype;

	col->typid = typid;
	if (enc >= 0)
	{
		col->enc = (CdcEncoding) enc;
		return;
	}

	elem = get_element_type(base);
	if (OidIsValid(elem))
	{
		int			elem_enc = scalar_encoding(getBaseType(elem));

		if (elem_enc >= 0)
		{
			col->enc = CDC_ENC_ARRAY;
			col->elem_enc = (CdcEncoding) elem_enc;
			col->elem_typid = elem;
			get_typlenbyvalalign(elem, &col->elem_len, &col->elem_byval,
								 &col->elem_align);
			return;
		}
	}

	typtype = get_typtype(base);
	if (OidIsValid(elem) || typtype == TYPTYPE_COMPOSITE ||
		(base >= FirstNormalObjectId && typtype != TYPTYPE_ENUM))
	{
		FuncExpr   *expr;
		MemoryContext old = MemoryContextSwitchTo(cxt);

		/* to_json() learns its argument's type from the call expression */
		expr = makeFuncExpr(F_TO_JSON, JSONOID,
							list_make1(makeNullConst(typid, -1, InvalidOid)),
							InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
		fmgr_info_cxt(F_TO_JSON, &col->func, cxt);
		col->func.fn_expr = (Node *) expr;
		MemoryContextSwitchTo(old);
		col->enc = CDC_ENC_TO_JSON;
		return;
	}

	getTypeOutputInfo(base, &outfunc, &isvarlena);
	fmgr_info_cxt(outfunc, &col->func, cxt);
	col->enc = CDC_ENC_STRING;
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
	Oid			pk = RelationGetPrimaryKeyIndex(rel);
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

/*
 * jsonb keeps an object's keys sorted by length, then bytes: columns pushed
 * in that order spare pushJsonbValue a real sort per row.
 */
static int
jsonb_key_cmp(const void *a, const void *b, void *arg)
{
	const CdcColumn *cols = arg;
	const char *na = cols[*(const int *) a].name;
	const char *nb = cols[*(const int *) b].name;
	size_t		la = strlen(na),
				lb = strlen(nb);

	if (la != lb)
		return la < lb ? -1 : 1;
	return memcmp(na, nb, la);
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

static void
build_entry(CdcRelEntry *re, Relation rel, const CdcOptions *opts, Oid acl_role)
{
	TupleDesc	desc = RelationGetDescr(rel);
	char	   *nspname = get_namespace_name(RelationGetNamespace(rel));
	const char *qnsp = quote_identifier(nspname);
	const char *qrel = quote_identifier(RelationGetRelationName(rel));
	Bitmapset  *identity;
	MemoryContext old;
	ListCell   *lc;

	re->cxt = AllocSetContextCreate(rel_cache_cxt, "cdc_ext relation",
									ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(re->cxt);

	re->entity = psprintf("%s.%s", qnsp, qrel);
	{
		size_t		len = strlen(re->entity);
		size_t		elen = cdc_json_escaped_len(re->entity, len);
		char	   *p = palloc(elen + 3);

		p[0] = '"';
		cdc_json_escape(p + 1, re->entity, len);
		p[elen + 1] = '"';
		p[elen + 2] = '\0';
		re->entity_json = p;
		re->entity_json_len = (int) elen + 2;
	}

	/* filters: every layer must let the relation through */
	re->operations = CDC_OP_ALL;
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
	if (re->operations != 0 && OidIsValid(acl_role) &&
		pg_class_aclcheck(RelationGetRelid(rel), acl_role, ACL_SELECT) != ACLCHECK_OK)
		re->operations = 0;

	re->natts = desc->natts;
	re->replident_full = rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL;
	re->ncols = 0;
	re->nkeys = 0;
	re->needs_pin = false;
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
		size_t		nlen,
					elen;

		if (att->attisdropped)
			continue;
		col = &re->cols[re->ncols++];
		col->attnum = att->attnum;
		col->name = pstrdup(NameStr(att->attname));
		nlen = strlen(col->name);
		elen = cdc_json_escaped_len(col->name, nlen);
		col->key = palloc(elen + 4);
		col->key[0] = '"';
		cdc_json_escape(col->key + 1, col->name, nlen);
		col->key[elen + 1] = '"';
		col->key[elen + 2] = ':';
		col->key[elen + 3] = '\0';
		col->keylen = (int) elen + 3;
		col->is_replident = bms_is_member(att->attnum - FirstLowInvalidHeapAttributeNumber,
										  identity);
		classify_column(col, att->atttypid, re->cxt);
		if (CdcEncodingNeedsPin(col->enc))
			re->needs_pin = true;
	}
	build_key(re, rel);
	re->jsonb_order = palloc(sizeof(int) * Max(re->ncols, 1));
	for (int i = 0; i < re->ncols; i++)
		re->jsonb_order[i] = i;
	qsort_arg(re->jsonb_order, re->ncols, sizeof(int), jsonb_key_cmp, re->cols);
	MemoryContextSwitchTo(old);
}

/*
 * The cache entry of rel, built if need be.  acl_role, when valid, drops
 * relations that role may not SELECT.  opts and acl_role must stay the same
 * for the whole session (the cache is emptied at each startup).
 */
CdcRelEntry *
CdcRelCacheGet(Relation rel, const CdcOptions *opts, Oid acl_role)
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
	if (found && re->cxt != NULL)
		MemoryContextDelete(re->cxt);
	re->cxt = NULL;
	re->valid = false;
	build_entry(re, rel, opts, acl_role);
	re->desc = RelationGetDescr(rel);
	re->valid = true;
	return re;
}
