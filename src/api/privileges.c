/*
 * privileges.c
 *		What a role receives of a log row: the one place for the rules of
 *		DESIGN §3 and §6 at read time (filters; table, column, row-level
 *		security and message privileges; numeric_as_string), used by
 *		cdc.stream, cdc.consume, the horizon hook, cdc.consumers and consumer
 *		groups.
 *
 * Privileges are checked against the current catalog, for the role given
 * (the caller of the read, or a consumer's owner for trim's decision), not
 * as of the change: after a REVOKE, the next read withholds the table,
 * changes made before the revoke included.
 *   - As a direct SELECT: nothing without USAGE on the table's schema.
 *   - SELECT on the table: every column.
 *   - SELECT on some columns only: old_data/new_data carry those columns;
 *     entity_id only when every key column is among them.  Columns are
 *     identified as the change was logged (cdc.log_shape: attnum, name and
 *     key columns per table, recorded by the writer, src/log/ingest.c),
 *     so a column dropped and added again under its name is another column
 *     and a renamed one keeps its privileges; rows logged before any shape
 *     was recorded (by 1.1) are matched by name, their key taken as the
 *     columns of both the primary key and the replica identity index.
 *   - Row-level security applying to the role (check_enable_rls): the table
 *     is withheld, never filtered row by row with a chance of leaking.
 *   - A table dropped since the change: withheld, except for superusers and
 *     pg_read_all_data.  The log's relid is the leaf table a change was made
 *     in: rights held only on a partitioned parent do not count.
 *   - Logical messages: only for REPLICATION roles, superusers and
 *     pg_read_all_data.
 * Decisions are cached per relation for the life of one CdcReadFilter (one
 * SQL call), so a batch costs one set of catalog lookups per table it
 * touches, none per row.  The filter decision also depends on the entity
 * name the row carries (a table renamed between changes), so it is kept
 * with the name it was made for.
 */
#include "cdc_api.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_index.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "cdc_json.h"

typedef enum RelAccess
{
	REL_FULL,					/* every column */
	REL_COLUMNS,				/* some columns only */
	REL_NONE,					/* no SELECT at all */
	REL_SCHEMA,					/* no USAGE on the table's schema */
	REL_RLS,					/* row-level security applies: withheld */
	REL_DROPPED					/* table gone, role may not see it */
} RelAccess;

/*
 * The columns of a table as a change carried them: names (the keys of its
 * row images) with what the role may see of each, and whether it may see
 * the entity_id.  One per shape recorded in cdc.log_shape (by attnum: a
 * column's identity), plus one from the current catalog for changes logged
 * before any shape of the table was recorded (by name).
 */
typedef struct RelShape
{
	XLogRecPtr	commit_lsn;		/* in force from (commit_lsn, seq) */
	int32		seq;
	int			ncols;
	char	  **names;
	bool	   *allowed;
	bool	   *numeric;		/* int8/numeric (or arrays of them); unknown: true */
	bool		key_visible;
	int			key_col;		/* the one key column (index into names), or -1 */
} RelShape;

typedef struct RelRule
{
	Oid			relid;			/* hash key */
	/* the filter decision, for the entity name it was made for */
	char	   *entity;
	int			entity_len;
	uint8		ops;			/* CDC_OP_* passing every layer */
	/* privileges, computed on the first row that passes the filters */
	bool		checked;
	RelAccess	access;
	bool		catalog_known;	/* the shapes below are known */
	RelShape	current;		/* from the current catalog, by name */
	/* by attnum - 1, as the catalog is now: live and SELECT-able, numeric */
	int			natts;
	bool	   *att_allowed;
	bool	   *att_numeric;
	bool		shapes_loaded;
	int			nshapes;		/* recorded shapes, in cursor order */
	RelShape   *shapes;
} RelRule;

#define N_OPERATIONS 5
static const char *const operation_labels[N_OPERATIONS] =
{"insert", "update", "delete", "truncate", "message"};
static const uint8 operation_bits[N_OPERATIONS] =
{CDC_OP_INSERT, CDC_OP_UPDATE, CDC_OP_DELETE, CDC_OP_TRUNCATE, CDC_OP_MESSAGE};

struct CdcReadFilter
{
	Oid			role;
	List	   *filters;		/* of CdcFilter * */
	bool		messages;
	bool		numeric_as_string;
	bool		role_sees_messages;
	bool		role_sees_dropped;
	Oid			op_oids[N_OPERATIONS];
	MemoryContext cxt;
	HTAB	   *rels;
	RelRule    *last;
};

/* May role receive logical messages? */
bool
CdcRoleMaySeeMessages(Oid role)
{
	return superuser_arg(role) || has_rolreplication(role) ||
		has_privs_of_role(role, ROLE_PG_READ_ALL_DATA);
}

/*
 * Split an entity ("schema.table", parts quoted as PostgreSQL quotes them)
 * at the first dot outside double quotes; *table points into entity.
 */
void
CdcParseEntity(const char *entity, char **table)
{
	bool		quoted = false;

	for (const char *p = entity; *p; p++)
	{
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '.' && !quoted)
		{
			*table = (char *) p + 1;
			return;
		}
	}
	*table = (char *) entity;
}

CdcReadFilter *
CdcReadFilterCreate(Oid role, List *filters, bool messages, bool numeric_as_string)
{
	CdcReadFilter *rf = palloc0(sizeof(CdcReadFilter));
	HASHCTL		ctl;
	Oid			enum_type;

	rf->cxt = AllocSetContextCreate(CurrentMemoryContext, "cdc_ext read filter",
									ALLOCSET_DEFAULT_SIZES);
	rf->role = role;
	rf->filters = filters;
	rf->messages = messages;
	rf->numeric_as_string = numeric_as_string;
	rf->role_sees_messages = CdcRoleMaySeeMessages(role);
	rf->role_sees_dropped = superuser_arg(role) ||
		has_privs_of_role(role, ROLE_PG_READ_ALL_DATA);

	enum_type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
								CStringGetDatum("operation"),
								ObjectIdGetDatum(get_namespace_oid("cdc", false)));
	for (int i = 0; i < N_OPERATIONS; i++)
	{
		rf->op_oids[i] = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
										 ObjectIdGetDatum(enum_type),
										 CStringGetDatum(operation_labels[i]));
		if (!OidIsValid(rf->op_oids[i]))
			elog(ERROR, "cdc_ext: enum label cdc.operation '%s' is missing",
				 operation_labels[i]);
	}

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(RelRule);
	ctl.hcxt = rf->cxt;
	rf->rels = hash_create("cdc_ext read filter relations", 64, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	return rf;
}

/* Operations of every layer that the entity passes. */
static uint8
filter_ops(CdcReadFilter *rf, const char *entity)
{
	uint8		ops = CDC_OP_ALL;
	char	   *table;
	ListCell   *lc;

	CdcParseEntity(entity, &table);
	foreach(lc, rf->filters)
	{
		CdcFilter  *f = lfirst(lc);

		if (f->entities != NIL && !CdcEntityMatches(entity, table, f->entities))
			return 0;
		if (CdcEntityMatches(entity, table, f->exclude_entities))
			return 0;
		ops &= f->operations;
	}
	return ops;
}

static bool
is_numeric_type(Oid typid)
{
	Oid			base = getBaseType(typid);
	Oid			elem = get_element_type(base);

	if (OidIsValid(elem))
		base = getBaseType(elem);
	return base == INT8OID || base == NUMERICOID;
}

/* Attnums of index indexoid's key columns into *cols (a Bitmapset). */
static Bitmapset *
index_columns(Oid indexoid, Bitmapset *cols)
{
	HeapTuple	itup;

	if (!OidIsValid(indexoid))
		return cols;
	itup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	if (!HeapTupleIsValid(itup))
		return cols;
	{
		Form_pg_index idx = (Form_pg_index) GETSTRUCT(itup);

		for (int k = 0; k < idx->indnkeyatts; k++)
			if (idx->indkey.values[k] > 0)
				cols = bms_add_member(cols, idx->indkey.values[k]);
	}
	ReleaseSysCache(itup);
	return cols;
}

/*
 * Decide what role may see of relid, and learn its columns when the rows
 * need reshaping (column privileges, numeric_as_string).  As a direct
 * SELECT would: USAGE on the schema, then SELECT on the table or some of
 * its columns, then row-level security.
 */
static void
compute_access(CdcReadFilter *rf, RelRule *rule)
{
	Oid			relid = rule->relid;
	Relation	rel;
	TupleDesc	desc;
	Oid			pk,
				ri;
	Bitmapset  *keys;
	RelShape   *cur = &rule->current;
	MemoryContext old;

	rule->checked = true;
	rule->catalog_known = false;
	rule->shapes_loaded = false;
	rule->nshapes = 0;
	if (!OidIsValid(relid) || !SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
	{
		rule->access = rf->role_sees_dropped ? REL_FULL : REL_DROPPED;
		return;
	}
	/* as a direct SELECT: the schema's USAGE first (pg_read_all_data has it) */
	if (CdcNamespaceAclcheck(get_rel_namespace(relid), rf->role, ACL_USAGE) != ACLCHECK_OK)
	{
		rule->access = REL_SCHEMA;
		return;
	}
	if (pg_class_aclcheck(relid, rf->role, ACL_SELECT) == ACLCHECK_OK)
		rule->access = REL_FULL;
	else if (pg_attribute_aclcheck_all(relid, rf->role, ACL_SELECT, ACLMASK_ANY) == ACLCHECK_OK)
		rule->access = REL_COLUMNS;
	else
	{
		rule->access = REL_NONE;
		return;
	}
	if (check_enable_rls(relid, rf->role, true) == RLS_ENABLED)
	{
		rule->access = REL_RLS;
		return;
	}
	if (rule->access == REL_FULL && !rf->numeric_as_string)
		return;

	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
	{
		rule->access = rf->role_sees_dropped ? REL_FULL : REL_DROPPED;
		return;
	}
	desc = RelationGetDescr(rel);
	old = MemoryContextSwitchTo(rf->cxt);
	rule->catalog_known = true;
	rule->natts = desc->natts;
	rule->att_allowed = palloc0(sizeof(bool) * Max(desc->natts, 1));
	rule->att_numeric = palloc0(sizeof(bool) * Max(desc->natts, 1));
	cur->commit_lsn = InvalidXLogRecPtr;
	cur->seq = 0;
	cur->names = palloc(sizeof(char *) * Max(desc->natts, 1));
	cur->allowed = palloc(sizeof(bool) * Max(desc->natts, 1));
	cur->numeric = palloc(sizeof(bool) * Max(desc->natts, 1));
	cur->ncols = 0;
	cur->key_visible = true;
	cur->key_col = -1;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		int			c;

		if (att->attisdropped)
		{
			rule->att_numeric[i] = true;	/* unknown */
			continue;
		}
		rule->att_allowed[i] = rule->access == REL_FULL ||
			pg_attribute_aclcheck(relid, att->attnum, rf->role, ACL_SELECT) == ACLCHECK_OK;
		rule->att_numeric[i] = is_numeric_type(att->atttypid);
		c = cur->ncols++;
		cur->names[c] = pstrdup(NameStr(att->attname));
		cur->allowed[c] = rule->att_allowed[i];
		cur->numeric[c] = rule->att_numeric[i];
	}

	/*
	 * The key by name, for changes logged before any shape of the table was
	 * recorded: the plugin takes the replica identity index when REPLICA
	 * IDENTITY USING INDEX names one, else the primary key, else the
	 * replica identity index (src/plugin/relcache.c); an older change may
	 * have followed another of them, so entity_id needs the columns of
	 * both.  key_col: the plugin's choice today, for numeric_as_string.
	 */
	pk = CdcRelationGetPrimaryKeyIndex(rel);
	ri = RelationGetReplicaIndex(rel);
	keys = index_columns(ri, index_columns(pk, NULL));
	{
		Oid			chosen = (rel->rd_rel->relreplident == REPLICA_IDENTITY_INDEX && OidIsValid(ri)) ? ri :
			(OidIsValid(pk) ? pk : ri);
		Bitmapset  *ckeys = index_columns(chosen, NULL);
		int			a = -1;

		while ((a = bms_next_member(keys, a)) >= 0)
			if (a > desc->natts || !rule->att_allowed[a - 1])
				cur->key_visible = false;
		if (bms_num_members(ckeys) == 1)
		{
			const char *kname = NameStr(TupleDescAttr(desc, bms_singleton_member(ckeys) - 1)->attname);

			for (int c = 0; c < cur->ncols; c++)
				if (strcmp(cur->names[c], kname) == 0)
					cur->key_col = c;
		}
	}
	MemoryContextSwitchTo(old);
	relation_close(rel, AccessShareLock);
}

/*
 * The shapes recorded for rule's table (cdc.log_shape), with what the role
 * may see of each column by its attnum today: a column dropped since is
 * seen by nobody with column privileges only, whatever its name.  Read by
 * the table's primary key (relid first), once per read filter and table.
 */
static void
load_shapes(CdcReadFilter *rf, RelRule *rule)
{
	Oid			nsp = get_namespace_oid("cdc", true);
	Oid			shape_relid = OidIsValid(nsp) ? get_relname_relid("log_shape", nsp) : InvalidOid;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Snapshot	snapshot;
	List	   *shapes = NIL;
	MemoryContext old;

	rule->shapes_loaded = true;
	if (!OidIsValid(shape_relid))
		return;
	rel = table_open(shape_relid, AccessShareLock);
	snapshot = RegisterSnapshot(ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot());
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(rule->relid));
	scan = systable_beginscan(rel, CdcRelationGetPrimaryKeyIndex(rel), true, snapshot, 1, &key);
	old = MemoryContextSwitchTo(rf->cxt);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		RelShape   *sh = palloc0(sizeof(RelShape));
		bool		isnull;
		Datum	   *attnums,
				   *names,
				   *keyatts;
		int			n,
					nn,
					nk;

		sh->commit_lsn = DatumGetLSN(heap_getattr(tup, 2, desc, &isnull));
		sh->seq = DatumGetInt32(heap_getattr(tup, 3, desc, &isnull));
		deconstruct_array(DatumGetArrayTypeP(heap_getattr(tup, 4, desc, &isnull)),
						  INT2OID, 2, true, TYPALIGN_SHORT, &attnums, NULL, &n);
		deconstruct_array(DatumGetArrayTypeP(heap_getattr(tup, 5, desc, &isnull)),
						  TEXTOID, -1, false, TYPALIGN_INT, &names, NULL, &nn);
		deconstruct_array(DatumGetArrayTypeP(heap_getattr(tup, 6, desc, &isnull)),
						  INT2OID, 2, true, TYPALIGN_SHORT, &keyatts, NULL, &nk);
		n = Min(n, nn);
		sh->ncols = n;
		sh->names = palloc(sizeof(char *) * Max(n, 1));
		sh->allowed = palloc(sizeof(bool) * Max(n, 1));
		sh->numeric = palloc(sizeof(bool) * Max(n, 1));
		sh->key_visible = true;
		sh->key_col = -1;
		for (int i = 0; i < n; i++)
		{
			int			a = DatumGetInt16(attnums[i]);
			bool		live = a >= 1 && a <= rule->natts;

			sh->names[i] = TextDatumGetCString(names[i]);
			sh->allowed[i] = live && rule->att_allowed[a - 1];
			sh->numeric[i] = !live || rule->att_numeric[a - 1];
		}
		for (int k = 0; k < nk; k++)
		{
			int			a = DatumGetInt16(keyatts[k]);

			if (a < 1 || a > rule->natts || !rule->att_allowed[a - 1])
				sh->key_visible = false;
			if (nk == 1)
				for (int i = 0; i < n; i++)
					if (DatumGetInt16(attnums[i]) == a)
						sh->key_col = i;
		}
		shapes = lappend(shapes, sh);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	rule->nshapes = list_length(shapes);
	rule->shapes = palloc(sizeof(RelShape) * Max(rule->nshapes, 1));
	for (int i = 0; i < rule->nshapes; i++)
		rule->shapes[i] = *(RelShape *) list_nth(shapes, i);
	MemoryContextSwitchTo(old);
}

/*
 * The shape a change at (commit_lsn, seq) followed: the last recorded at or
 * before it; before the first one, the current catalog's (by name).
 */
static const RelShape *
shape_at(CdcReadFilter *rf, RelRule *rule, XLogRecPtr commit_lsn, int32 seq)
{
	int			lo = 0,
				hi;

	if (!rule->shapes_loaded)
		load_shapes(rf, rule);
	hi = rule->nshapes;
	/* first shape after the position */
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;
		const RelShape *sh = &rule->shapes[mid];

		if (sh->commit_lsn < commit_lsn || (sh->commit_lsn == commit_lsn && sh->seq <= seq))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == 0 ? &rule->current : &rule->shapes[lo - 1];
}

/* Index of the column named key[0..len) in shape, or -1. */
static int
find_column(const RelShape *shape, const char *key, int len)
{
	for (int c = 0; c < shape->ncols; c++)
		if (strncmp(shape->names[c], key, len) == 0 && shape->names[c][len] == '\0')
			return c;
	return -1;
}

/* Is v a number a double would round? */
static bool
number_is_inexact(const JsonbValue *v)
{
	char	   *s;
	bool		exact;

	if (v->type != jbvNumeric)
		return false;
	s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	exact = cdc_json_number_is_exact_double(s, strlen(s));
	pfree(s);
	return !exact;
}

/* Does v (a number, or an array of numbers and arrays) hold an inexact number? */
static bool
value_needs_strings(JsonbValue *v)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;

	if (v->type == jbvNumeric)
		return number_is_inexact(v);
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		return false;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		if (tok == WJB_ELEM && value_needs_strings(&e))
			return true;
	return false;
}

static void
number_to_string(JsonbValue *v)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out,
													  NumericGetDatum(v->val.numeric)));

	v->type = jbvString;
	v->val.string.val = s;
	v->val.string.len = strlen(s);
}

/* Push v (tok WJB_VALUE or WJB_ELEM), its inexact numbers as strings. */
static void
push_converted(JsonbParseState **ps, JsonbIteratorToken tok, JsonbValue *v)
{
	if (v->type == jbvNumeric)
	{
		if (number_is_inexact(v))
			number_to_string(v);
		pushJsonbValue(ps, tok, v);
	}
	else if (v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
	{
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	e;
		JsonbIteratorToken t;

		while ((t = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		{
			if (t == WJB_ELEM)
				push_converted(ps, WJB_ELEM, &e);
			else
				pushJsonbValue(ps, t, NULL);
		}
	}
	else
		pushJsonbValue(ps, tok, v);
}

/*
 * Reshape a row image (a jsonb object keyed by column name): drop the
 * columns the role may not see (narrow), turn inexact numbers of numeric
 * columns into strings (numbers).  Returns the original datum when nothing
 * changes, so that the common case costs one walk over the keys at most.
 * Columns the catalog does not know (renamed or dropped since the change)
 * are dropped when narrowing and treated as numeric otherwise.
 */
static Datum
reshape_object(const RelShape *shape, Datum d, bool narrow, bool numbers)
{
	Jsonb	   *jb = DatumGetJsonbP(d);
	JsonbIterator *it;
	JsonbValue	k,
				v;
	JsonbIteratorToken tok;
	bool		change = false;
	JsonbParseState *ps = NULL;
	JsonbValue *res = NULL;

	if (!JB_ROOT_IS_OBJECT(jb))
		return d;
	/* first pass: anything to change? */
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE && !change)
	{
		int			c;

		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &v, true);
		c = shape ? find_column(shape, k.val.string.val, k.val.string.len) : -1;
		if (narrow && (c < 0 || !shape->allowed[c]))
			change = true;
		else if (numbers && (c < 0 || shape->numeric[c]) && value_needs_strings(&v))
			change = true;
	}
	if (!change)
		return d;

	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		int			c;

		if (tok != WJB_KEY)
		{
			res = pushJsonbValue(&ps, tok, NULL);
			continue;
		}
		tok = JsonbIteratorNext(&it, &v, true);
		c = shape ? find_column(shape, k.val.string.val, k.val.string.len) : -1;
		if (narrow && (c < 0 || !shape->allowed[c]))
			continue;
		pushJsonbValue(&ps, WJB_KEY, &k);
		if (numbers && (c < 0 || shape->numeric[c]))
			push_converted(&ps, WJB_VALUE, &v);
		else
			pushJsonbValue(&ps, WJB_VALUE, &v);
	}
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

/* entity_id: one key column's value, or an object of them. */
static Datum
reshape_key(const RelShape *shape, Datum d)
{
	Jsonb	   *jb = DatumGetJsonbP(d);
	JsonbValue	v;

	if (JB_ROOT_IS_OBJECT(jb))
		return reshape_object(shape, d, false, true);
	if (!JB_ROOT_IS_SCALAR(jb) || !JsonbExtractScalar(&jb->root, &v))
		return d;
	if (shape && shape->key_col >= 0 && !shape->numeric[shape->key_col])
		return d;
	if (!number_is_inexact(&v))
		return d;
	number_to_string(&v);
	return JsonbPGetDatum(JsonbValueToJsonb(&v));
}

/* Every inexact number of a jsonb value as a string (no catalog knowledge). */
Datum
CdcJsonbNumbersAsStrings(Datum jsonb, bool *changed)
{
	Datum		r;

	r = reshape_key(NULL, jsonb);
	*changed = r != jsonb;
	return r;
}

/* text[] of column names, without those the role may not see (NULL if none left). */
static Datum
narrow_names(const RelShape *shape, Datum d, bool *isnull)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			kept = 0;

	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		text	   *t;
		int			c;

		if (nulls[i])
			continue;
		t = DatumGetTextPP(elems[i]);
		c = find_column(shape, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		if (c >= 0 && shape->allowed[c])
			elems[kept++] = elems[i];
	}
	if (kept == 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	return PointerGetDatum(construct_array(elems, kept, TEXTOID, -1, false, TYPALIGN_INT));
}

static inline int
operation_index(const CdcReadFilter *rf, Oid op)
{
	for (int i = 0; i < N_OPERATIONS; i++)
		if (rf->op_oids[i] == op)
			return i;
	elog(ERROR, "cdc_ext: unknown cdc.operation value %u", op);
	return -1;
}

/*
 * A cdc.log row to a cdc.change_entry row for rf's role, or false when the
 * role receives nothing of it.  Allocates (reshaped values) in the current
 * memory context, which the caller resets per row.
 */
bool
CdcReadFilterApply(CdcReadFilter *rf, Datum *lv, bool *ln, Datum *ev, bool *en)
{
	int			opi = operation_index(rf, DatumGetObjectId(lv[CDC_LOG_OPERATION]));
	uint8		bit = operation_bits[opi];
	RelRule    *rule = NULL;
	const RelShape *shape;
	bool		narrow = false;

	if (bit == CDC_OP_MESSAGE)
	{
		if (!rf->messages || !rf->role_sees_messages)
			return false;
	}
	else
	{
		Oid			relid = ln[CDC_LOG_RELID] ? InvalidOid : DatumGetObjectId(lv[CDC_LOG_RELID]);
		text	   *ent;
		int			elen;

		if (ln[CDC_LOG_ENTITY])
			return false;
		ent = DatumGetTextPP(lv[CDC_LOG_ENTITY]);
		elen = VARSIZE_ANY_EXHDR(ent);
		rule = rf->last;
		if (rule == NULL || rule->relid != relid)
		{
			bool		found;

			rule = hash_search(rf->rels, &relid, HASH_ENTER, &found);
			if (!found)
			{
				rule->entity = NULL;
				rule->checked = false;
			}
			rf->last = rule;
		}
		if (rule->entity == NULL || rule->entity_len != elen ||
			memcmp(rule->entity, VARDATA_ANY(ent), elen) != 0)
		{
			rule->entity = MemoryContextAlloc(rf->cxt, elen + 1);
			memcpy(rule->entity, VARDATA_ANY(ent), elen);
			rule->entity[elen] = '\0';
			rule->entity_len = elen;
			rule->ops = filter_ops(rf, rule->entity);
		}
		if ((rule->ops & bit) == 0)
			return false;
		if (!rule->checked)
			compute_access(rf, rule);
		if (rule->access != REL_FULL && rule->access != REL_COLUMNS)
			return false;
		narrow = rule->access == REL_COLUMNS;
	}

	ev[CDC_ENTRY_LSN] = lv[CDC_LOG_LSN];
	en[CDC_ENTRY_LSN] = ln[CDC_LOG_LSN];
	ev[CDC_ENTRY_COMMIT_LSN] = lv[CDC_LOG_COMMIT_LSN];
	en[CDC_ENTRY_COMMIT_LSN] = ln[CDC_LOG_COMMIT_LSN];
	ev[CDC_ENTRY_SEQ] = lv[CDC_LOG_SEQ];
	en[CDC_ENTRY_SEQ] = ln[CDC_LOG_SEQ];
	ev[CDC_ENTRY_XID] = lv[CDC_LOG_XID];
	en[CDC_ENTRY_XID] = ln[CDC_LOG_XID];
	ev[CDC_ENTRY_TIMESTAMP] = lv[CDC_LOG_TIMESTAMP];
	en[CDC_ENTRY_TIMESTAMP] = ln[CDC_LOG_TIMESTAMP];
	ev[CDC_ENTRY_ENTITY] = lv[CDC_LOG_ENTITY];
	en[CDC_ENTRY_ENTITY] = ln[CDC_LOG_ENTITY];
	ev[CDC_ENTRY_ENTITY_ID] = lv[CDC_LOG_ENTITY_ID];
	en[CDC_ENTRY_ENTITY_ID] = ln[CDC_LOG_ENTITY_ID];
	ev[CDC_ENTRY_OPERATION] = lv[CDC_LOG_OPERATION];
	en[CDC_ENTRY_OPERATION] = ln[CDC_LOG_OPERATION];
	ev[CDC_ENTRY_OLD_DATA] = lv[CDC_LOG_OLD_DATA];
	en[CDC_ENTRY_OLD_DATA] = ln[CDC_LOG_OLD_DATA];
	ev[CDC_ENTRY_NEW_DATA] = lv[CDC_LOG_NEW_DATA];
	en[CDC_ENTRY_NEW_DATA] = ln[CDC_LOG_NEW_DATA];
	ev[CDC_ENTRY_UNCHANGED_TOAST] = lv[CDC_LOG_UNCHANGED_TOAST];
	en[CDC_ENTRY_UNCHANGED_TOAST] = ln[CDC_LOG_UNCHANGED_TOAST];
	ev[CDC_ENTRY_FALLBACK] = lv[CDC_LOG_FALLBACK];
	en[CDC_ENTRY_FALLBACK] = ln[CDC_LOG_FALLBACK];

	if (rule == NULL || (!narrow && !rf->numeric_as_string))
		return true;

	shape = rule->catalog_known ?
		shape_at(rf, rule, DatumGetLSN(lv[CDC_LOG_COMMIT_LSN]), DatumGetInt32(lv[CDC_LOG_SEQ])) :
		NULL;
	if (narrow)
	{
		if (!en[CDC_ENTRY_ENTITY_ID] && !shape->key_visible)
		{
			en[CDC_ENTRY_ENTITY_ID] = true;
			ev[CDC_ENTRY_ENTITY_ID] = (Datum) 0;
		}
		if (!en[CDC_ENTRY_UNCHANGED_TOAST])
			ev[CDC_ENTRY_UNCHANGED_TOAST] = narrow_names(shape, ev[CDC_ENTRY_UNCHANGED_TOAST],
														 &en[CDC_ENTRY_UNCHANGED_TOAST]);
		if (!en[CDC_ENTRY_FALLBACK])
			ev[CDC_ENTRY_FALLBACK] = narrow_names(shape, ev[CDC_ENTRY_FALLBACK],
												  &en[CDC_ENTRY_FALLBACK]);
	}
	if (!en[CDC_ENTRY_OLD_DATA])
		ev[CDC_ENTRY_OLD_DATA] = reshape_object(shape, ev[CDC_ENTRY_OLD_DATA],
												narrow, rf->numeric_as_string);
	if (!en[CDC_ENTRY_NEW_DATA])
		ev[CDC_ENTRY_NEW_DATA] = reshape_object(shape, ev[CDC_ENTRY_NEW_DATA],
												narrow, rf->numeric_as_string);
	if (!en[CDC_ENTRY_ENTITY_ID] && rf->numeric_as_string)
		ev[CDC_ENTRY_ENTITY_ID] = reshape_key(shape, ev[CDC_ENTRY_ENTITY_ID]);
	return true;
}

/*
 * For cdc.consumers: the tables matching filters that role receives
 * nothing or only part of, as "schema.table: why".  Tables it may not
 * SELECT at all are listed only when the filters name entities
 * (explicit_entities): a consumer of "everything" is not told about every
 * table of other roles.  Inside SPI.
 */
List *
CdcWithheldTables(Oid role, List *filters, bool explicit_entities)
{
	CdcReadFilter *rf = CdcReadFilterCreate(role, filters, false, false);
	List	   *result = NIL;
	uint64		n;
	Oid		   *relids;
	char	  **entities;
	MemoryContext cxt = CurrentMemoryContext;

	if (SPI_execute("SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c "
					"JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
					"WHERE c.relkind OPERATOR(pg_catalog.=) 'r' "
					"AND n.nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema,cdc,pg_toast}') "
					"AND n.nspname OPERATOR(pg_catalog.!~) '^pg_(toast_)?temp_' "
					"ORDER BY 2, 3", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading pg_class failed");
	n = SPI_processed;
	relids = palloc(sizeof(Oid) * Max(n, 1));
	entities = palloc(sizeof(char *) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		HeapTuple	tup = SPI_tuptable->vals[i];
		char	   *nsp = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);
		char	   *rel = SPI_getvalue(tup, SPI_tuptable->tupdesc, 3);
		MemoryContext old = MemoryContextSwitchTo(cxt);

		relids[i] = DatumGetObjectId(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		entities[i] = quote_qualified_identifier(nsp, rel);
		MemoryContextSwitchTo(old);
	}

	for (uint64 i = 0; i < n; i++)
	{
		RelRule		rule;
		StringInfoData why;

		if (filter_ops(rf, entities[i]) == 0)
			continue;
		memset(&rule, 0, sizeof(rule));
		rule.relid = relids[i];
		compute_access(rf, &rule);
		initStringInfo(&why);
		switch (rule.access)
		{
			case REL_FULL:
			case REL_DROPPED:
				break;
			case REL_NONE:
				if (explicit_entities)
					appendStringInfoString(&why, "no SELECT privilege");
				break;
			case REL_SCHEMA:
				if (explicit_entities)
					appendStringInfoString(&why, "no USAGE privilege on its schema");
				break;
			case REL_RLS:
				appendStringInfoString(&why, "row-level security applies (table withheld)");
				break;
			case REL_COLUMNS:
				appendStringInfoString(&why, "columns withheld:");
				for (int c = 0; c < rule.current.ncols; c++)
					if (!rule.current.allowed[c])
						appendStringInfo(&why, " %s", quote_identifier(rule.current.names[c]));
				if (!rule.current.key_visible)
					appendStringInfoString(&why, "; entity_id withheld");
				break;
		}
		if (why.len > 0)
			result = lappend(result, psprintf("%s: %s", entities[i], why.data));
	}
	return result;
}

/*
 * For cdc.consumers: the tables matching filters that the log's capture
 * setting in force does not cover (cdc.set_capture), as "schema.table: not
 * captured since <when>": their changes never reach the log, so the
 * consumer would wait for them in vain.  Listed only when the filters name
 * entities (as for tables without SELECT).  Inside SPI.
 */
List *
CdcUncapturedTables(List *filters, bool explicit_entities)
{
	CdcReadFilter *rf;
	List	   *cap_entities;
	List	   *cap_exclude;
	TimestampTz since;
	List	   *result = NIL;
	MemoryContext cxt = CurrentMemoryContext;
	uint64		n;
	char	  **entities;

	if (!explicit_entities)
		return NIL;
	CdcCaptureInForce(&cap_entities, &cap_exclude, &since);
	if (cap_entities == NIL && cap_exclude == NIL)
		return NIL;				/* everything is captured */
	rf = CdcReadFilterCreate(InvalidOid, filters, false, false);
	if (SPI_execute("SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
					"JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
					"WHERE c.relkind OPERATOR(pg_catalog.=) 'r' "
					"AND n.nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema,cdc,pg_toast}') "
					"AND n.nspname OPERATOR(pg_catalog.!~) '^pg_(toast_)?temp_' "
					"ORDER BY 1, 2", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading pg_class failed");
	n = SPI_processed;
	entities = palloc(sizeof(char *) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		char	   *nsp = SPI_getvalue(tup, SPI_tuptable->tupdesc, 1);
		char	   *rel = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);
		MemoryContext old = MemoryContextSwitchTo(cxt);

		entities[i] = quote_qualified_identifier(nsp, rel);
		MemoryContextSwitchTo(old);
	}
	for (uint64 i = 0; i < n; i++)
	{
		char	   *table;

		if (filter_ops(rf, entities[i]) == 0)
			continue;
		CdcParseEntity(entities[i], &table);
		if ((cap_entities == NIL || CdcEntityMatches(entities[i], table, cap_entities)) &&
			!CdcEntityMatches(entities[i], table, cap_exclude))
			continue;
		result = lappend(result,
						 since == 0 ? psprintf("%s: not captured", entities[i]) :
						 psprintf("%s: not captured since %s", entities[i],
								  timestamptz_to_str(since)));
	}
	return result;
}
