/*
 * privileges.c
 *		What a role receives of a log row: the one place for the rules
 *		applied at read time (filters; table, column, row-level
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
 *   - Schema entries (src/log/schema.c): as the table's changes; with
 *     column privileges only, their shapes list only the columns the role
 *     may SELECT (reshape.c, CdcNarrowShape).
 * The read filter's parts: this file (the decision per relation and
 * CdcReadFilterApply), reshape.c (row images reshaped) and withheld.c
 * (what cdc.consumers reports as withheld), behind read_filter.h.
 *
 * Decisions are cached per relation for the life of one CdcReadFilter (one
 * SQL call), so a batch costs one set of catalog lookups per table it
 * touches, none per row.  The filter decision also depends on the entity
 * name the row carries (a table renamed between changes), so it is kept
 * with the name it was made for.
 */
#include "read_filter.h"

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

	rf->cxt = AllocSetContextCreate(CurrentMemoryContext, "cdc_ext read filter",
									ALLOCSET_DEFAULT_SIZES);
	rf->role = role;
	rf->filters = filters;
	rf->messages = messages;
	rf->numeric_as_string = numeric_as_string;
	rf->role_sees_messages = CdcRoleMaySeeMessages(role);
	rf->role_sees_dropped = superuser_arg(role) ||
		has_privs_of_role(role, ROLE_PG_READ_ALL_DATA);

	CdcLogOperationOids(rf->op_oids);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(RelRule);
	ctl.hcxt = rf->cxt;
	rf->rels = hash_create("cdc_ext read filter relations", 64, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	return rf;
}

/* Operations of every layer that the entity passes. */
uint8
CdcReadFilterOps(CdcReadFilter *rf, const char *entity)
{
	uint8		ops = CDC_OP_FILTERABLE;
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
void
CdcReadFilterAccess(CdcReadFilter *rf, RelRule *rule)
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

static inline int
operation_index(const CdcReadFilter *rf, Oid op)
{
	for (int i = 0; i < CDC_N_OPERATIONS; i++)
		if (rf->op_oids[i] == op)
			return i;
	elog(ERROR, "cdc_ext: unknown cdc.operation value %u", op);
	return -1;
}

void
CdcReadFilterSetAudience(CdcReadFilter *rf, int32 audience)
{
	rf->audience = audience;
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
	uint8		bit = cdc_operations[opi].bit;
	RelRule    *rule = NULL;
	const RelShape *shape;
	bool		narrow = false;

	/* a backfill's rows: only for who asked */
	if (!ln[CDC_LOG_AUDIENCE] && DatumGetInt32(lv[CDC_LOG_AUDIENCE]) != rf->audience)
		return false;
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
			rule->ops = CdcReadFilterOps(rf, rule->entity);
		}
		/* reads pass whatever the operations filter: they were asked for */
		if ((rule->ops & (bit == CDC_OP_READ ? CDC_OP_ALL : bit)) == 0)
			return false;
		if (!rule->checked)
			CdcReadFilterAccess(rf, rule);
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
	ev[CDC_ENTRY_SCHEMA_VERSION] = lv[CDC_LOG_SCHEMA_VERSION];
	en[CDC_ENTRY_SCHEMA_VERSION] = ln[CDC_LOG_SCHEMA_VERSION];

	/*
	 * A schema entry's images are shapes, not rows: narrowed to the columns
	 * the role may SELECT today (by attnum), never reshaped for numbers.
	 */
	if (bit == CDC_OP_SCHEMA)
	{
		if (narrow)
		{
			if (!rule->catalog_known)
				return false;	/* cannot tell which columns: withheld */
			if (!en[CDC_ENTRY_OLD_DATA])
				ev[CDC_ENTRY_OLD_DATA] = CdcNarrowShape(rule, ev[CDC_ENTRY_OLD_DATA]);
			if (!en[CDC_ENTRY_NEW_DATA])
				ev[CDC_ENTRY_NEW_DATA] = CdcNarrowShape(rule, ev[CDC_ENTRY_NEW_DATA]);
		}
		return true;
	}

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
			ev[CDC_ENTRY_UNCHANGED_TOAST] = CdcNarrowNames(shape, ev[CDC_ENTRY_UNCHANGED_TOAST],
														 &en[CDC_ENTRY_UNCHANGED_TOAST]);
		if (!en[CDC_ENTRY_FALLBACK])
			ev[CDC_ENTRY_FALLBACK] = CdcNarrowNames(shape, ev[CDC_ENTRY_FALLBACK],
												  &en[CDC_ENTRY_FALLBACK]);
	}
	if (!en[CDC_ENTRY_OLD_DATA])
		ev[CDC_ENTRY_OLD_DATA] = CdcReshapeObject(shape, ev[CDC_ENTRY_OLD_DATA],
												narrow, rf->numeric_as_string);
	if (!en[CDC_ENTRY_NEW_DATA])
		ev[CDC_ENTRY_NEW_DATA] = CdcReshapeObject(shape, ev[CDC_ENTRY_NEW_DATA],
												narrow, rf->numeric_as_string);
	if (!en[CDC_ENTRY_ENTITY_ID] && rf->numeric_as_string)
		ev[CDC_ENTRY_ENTITY_ID] = CdcReshapeKey(shape, ev[CDC_ENTRY_ENTITY_ID]);
	return true;
}
