/*
 * schema.c
 *		Schema changes, the writing side: the extension's event triggers
 *		(cdc_schema_ddl on ddl_command_end for CREATE TABLE, CREATE TABLE AS,
 *		SELECT INTO and ALTER TABLE, which includes RENAME and SET SCHEMA,
 *		and ALTER SCHEMA, whose RENAME renames every table in the schema
 *		and the types and defaults other tables' shapes name;
 *		cdc_schema_drop on sql_drop) call cdc.schema_capture(), which for
 *		each table the command created, changed or dropped records its new
 *		shape and emits the `schema` entry as a transactional logical
 *		message (prefix CDC_SCHEMA_PREFIX).  The decoding side is
 *		src/plugin/schema.c; the read side narrows shapes to the columns a
 *		role may SELECT (src/api/reshape.c).
 *
 * Why a transactional message: it is decoded at the DDL's commit, in
 * commit order with the data changes and at its place among the
 * transaction's own changes; a rolled-back DDL emits nothing.  Its LSN
 * (what LogLogicalMessage returns, the position decoding reports for it) is
 * the table's new schema version, recorded with the shape in
 * cdc.schema_shape in the same transaction.
 *
 * Which tables: ordinary tables (partitions included: an ALTER of a
 * partitioned table records each partition it reaches, since changes are
 * decoded per partition), not temporary ones, not in pg_catalog, a TOAST
 * schema or the extension's schema, not members of cdc_ext.  Whether the
 * entry is logged or streamed is decided by the decoder, with the capture
 * setting or the plugin's filters, like the table's changes.  An ALTER that
 * leaves the shape as it was (a storage parameter, a CHECK constraint, the
 * owner) makes no entry.
 *
 * The shape (a JSON object): "entity", "columns" in attnum order (each
 * "attnum", "name", "type" as format_type writes it, "nullable", "default"
 * as pg_get_expr writes it or null, "key": its 1-based position in the key
 * or null), "key" (the key column names: the columns entity_id is made of,
 * chosen as src/plugin/relcache.c chooses them) and "replica_identity"
 * (default, nothing, full or index).  The entry's new_data (old_data for a
 * drop) carries "command_tag" too.
 *
 * Security: the function runs inside the DDL of any role, so it runs
 * nothing of that role's: the shape is read from the relation cache and
 * the system caches in C (format_type and the deparser run no user code);
 * the statements on cdc.schema_shape and the event trigger's own SRFs run
 * as the extension's owner with search_path pinned (CdcOwnerBegin), every
 * operator schema-qualified.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "nodes/nodes.h"
#include "replication/message.h"
#include "tcop/cmdtag.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"

#include "log_internal.h"

PG_FUNCTION_INFO_V1(cdc_schema_capture);
PG_FUNCTION_INFO_V1(cdc_schema_seed);

/* Is relid a table whose shape is recorded?  (see the file header) */
static bool
shape_tracked(Relation rel, Oid cdc_nsp, Oid ext)
{
	Oid			nsp = RelationGetNamespace(rel);
	char	   *nspname;

	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		return false;
	if (nsp == cdc_nsp || nsp == PG_CATALOG_NAMESPACE || IsToastNamespace(nsp) ||
		isAnyTempNamespace(nsp))
		return false;
	nspname = get_namespace_name(nsp);
	if (nspname != NULL && strcmp(nspname, "information_schema") == 0)
		return false;
	return !OidIsValid(ext) ||
		getExtensionOfObject(RelationRelationId, RelationGetRelid(rel)) != ext;
}

/* The key columns' attnums, as src/plugin/relcache.c (build_key) chooses them. */
static int
key_attnums(Relation rel, int16 *out, int max)
{
	Oid			pk = CdcRelationGetPrimaryKeyIndex(rel);
	Oid			ri = RelationGetReplicaIndex(rel);
	Oid			keyidx;
	HeapTuple	itup;
	int			n = 0;

	if (rel->rd_rel->relreplident == REPLICA_IDENTITY_INDEX && OidIsValid(ri))
		keyidx = ri;
	else
		keyidx = OidIsValid(pk) ? pk : ri;
	if (!OidIsValid(keyidx))
		return 0;
	itup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(keyidx));
	if (!HeapTupleIsValid(itup))
		return 0;
	{
		Form_pg_index idx = (Form_pg_index) GETSTRUCT(itup);

		for (int k = 0; k < idx->indnkeyatts && n < max; k++)
			if (idx->indkey.values[k] > 0)
				out[n++] = idx->indkey.values[k];
	}
	ReleaseSysCache(itup);
	return n;
}

/* "schema.table" quoted as PostgreSQL would (as the plugin's entity) */
static char *
entity_of(Relation rel)
{
	return psprintf("%s.%s",
					quote_identifier(get_namespace_name(RelationGetNamespace(rel))),
					quote_identifier(RelationGetRelationName(rel)));
}

/* The table part of an entity: after the first dot outside double quotes. */
static const char *
table_of(const char *entity)
{
	bool		quoted = false;

	for (const char *p = entity; *p; p++)
	{
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '.' && !quoted)
			return p + 1;
	}
	return entity;
}

/* The table's shape as JSON text (see the file header). */
static char *
shape_json(Relation rel, const char *entity)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleConstr *constr = desc->constr;
	int16	   *key = palloc(sizeof(int16) * Max(desc->natts, 1));
	int			nkey = key_attnums(rel, key, desc->natts);
	List	   *dpcontext = NIL;
	StringInfoData b;
	const char *ri;
	bool		first = true;

	initStringInfo(&b);
	appendStringInfoString(&b, "{\"entity\":");
	CdcAppendJsonString(&b, entity, strlen(entity));
	appendStringInfoString(&b, ",\"columns\":[");
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		char	   *type;
		const char *def = NULL;
		int			pos = 0;

		if (att->attisdropped)
			continue;
		if (!first)
			appendStringInfoChar(&b, ',');
		first = false;
		appendStringInfo(&b, "{\"attnum\":%d,\"name\":", att->attnum);
		CdcAppendJsonString(&b, NameStr(att->attname), strlen(NameStr(att->attname)));
		type = format_type_with_typemod(att->atttypid, att->atttypmod);
		appendStringInfoString(&b, ",\"type\":");
		CdcAppendJsonString(&b, type, strlen(type));
		appendStringInfo(&b, ",\"nullable\":%s,\"default\":", att->attnotnull ? "false" : "true");
		if (att->atthasdef && constr != NULL)
			for (int d = 0; d < constr->num_defval; d++)
				if (constr->defval[d].adnum == att->attnum)
				{
					if (dpcontext == NIL)
						dpcontext = deparse_context_for(RelationGetRelationName(rel),
														RelationGetRelid(rel));
					def = deparse_expression(stringToNode(constr->defval[d].adbin),
											 dpcontext, false, false);
				}
		if (def != NULL)
			CdcAppendJsonString(&b, def, strlen(def));
		else
			appendStringInfoString(&b, "null");
		for (int k = 0; k < nkey; k++)
			if (key[k] == att->attnum)
				pos = k + 1;
		if (pos > 0)
			appendStringInfo(&b, ",\"key\":%d}", pos);
		else
			appendStringInfoString(&b, ",\"key\":null}");
	}
	appendStringInfoString(&b, "],\"key\":[");
	for (int k = 0; k < nkey; k++)
	{
		const char *name = NameStr(TupleDescAttr(desc, key[k] - 1)->attname);

		if (k > 0)
			appendStringInfoChar(&b, ',');
		CdcAppendJsonString(&b, name, strlen(name));
	}
	switch (rel->rd_rel->relreplident)
	{
		case REPLICA_IDENTITY_NOTHING:
			ri = "nothing";
			break;
		case REPLICA_IDENTITY_FULL:
			ri = "full";
			break;
		case REPLICA_IDENTITY_INDEX:
			ri = "index";
			break;
		default:
			ri = "default";
			break;
	}
	appendStringInfo(&b, "],\"replica_identity\":\"%s\"}", ri);
	return b.data;
}

/*
 * Inside the owner's SPI session: the last shape recorded for relid, and
 * whether it equals new_shape (when given); the image with the command tag
 * added, as JSON text normalized by jsonb (so that old and new read alike).
 */
static bool
last_shape(Oid relid, const char *new_shape, const char *tag, char **old_text,
		   bool *same, char **tagged)
{
	Oid			t[3] = {OIDOID, TEXTOID, TEXTOID};
	Datum		a[3] = {ObjectIdGetDatum(relid), (Datum) 0, CStringGetTextDatum(tag)};
	char		n[4] = "   ";
	bool		isnull;
	Datum		d;

	if (new_shape != NULL)
		a[1] = CStringGetTextDatum(new_shape);
	else
		n[1] = 'n';
	if (SPI_execute_with_args("SELECT l.shape::pg_catalog.text, l.shape OPERATOR(pg_catalog.=) $2::pg_catalog.jsonb, "
							  " (coalesce($2::pg_catalog.jsonb, l.shape) OPERATOR(pg_catalog.||) "
							  "  pg_catalog.jsonb_build_object('command_tag', $3))::pg_catalog.text "
							  "FROM (SELECT 1) o LEFT JOIN LATERAL ("
							  " SELECT s.shape FROM cdc.schema_shape s WHERE s.relid OPERATOR(pg_catalog.=) $1 "
							  " ORDER BY s.version DESC LIMIT 1) l ON true",
							  3, t, a, n, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "cdc_ext: reading the recorded shape of table %u failed", relid);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	*old_text = isnull ? NULL : TextDatumGetCString(d);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	*same = !isnull && DatumGetBool(d);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	*tagged = isnull ? NULL : TextDatumGetCString(d);
	return *old_text != NULL;
}

/* The schema message (CDC_SCHEMA_PREFIX's payload); returns its LSN. */
static XLogRecPtr
emit_schema(Oid relid, const char *entity, const char *old_shape, const char *new_shape)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfo(&b, "%u", relid);
	appendStringInfoChar(&b, '\0');
	appendStringInfoString(&b, entity);
	appendStringInfoChar(&b, '\0');
	appendStringInfoString(&b, table_of(entity));
	appendStringInfoChar(&b, '\0');
	appendStringInfoString(&b, old_shape ? old_shape : "null");
	appendStringInfoChar(&b, '\0');
	appendStringInfoString(&b, new_shape ? new_shape : "null");
	appendStringInfoChar(&b, '\0');
	return CdcLogLogicalMessage(CDC_SCHEMA_PREFIX, b.data, b.len, true);
}

/*
 * Record relid's shape at version, and forget its earlier ones (inside the
 * owner's SPI session), so that the table holds one shape per table however
 * many DDLs ran (20 renames of a schema of 5,000 tables left 105,000 rows).
 * Decoding still finds an earlier version where it needs one: it reads
 * cdc.schema_shape under the historic snapshot of the change it decodes,
 * to which this delete has not happened yet (the delete commits with the
 * DDL, after every change that needs the earlier version), and as a
 * user_catalog_table its deleted rows stay until no slot's catalog_xmin
 * can still see them.
 */
static void
record_shape(Oid relid, XLogRecPtr version, const char *shape)
{
	Oid			t[3] = {OIDOID, PG_LSNOID, TEXTOID};
	Datum		a[3] = {ObjectIdGetDatum(relid), LSNGetDatum(version), CStringGetTextDatum(shape)};

	if (SPI_execute_with_args("INSERT INTO cdc.schema_shape (relid, version, shape) "
							  "VALUES ($1, $2, $3::pg_catalog.jsonb)",
							  3, t, a, NULL, false, 0) != SPI_OK_INSERT ||
		SPI_execute_with_args("DELETE FROM cdc.schema_shape WHERE relid OPERATOR(pg_catalog.=) $1 "
							  "AND version OPERATOR(pg_catalog.<) $2",
							  2, t, a, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "cdc_ext: recording the shape of table %u failed", relid);
}

/* After a CREATE or ALTER: an entry for each table whose shape changed. */
static void
capture_changed(List *relids, const char *tag, Oid cdc_nsp, Oid ext)
{
	ListCell   *lc;
	List	   *all = NIL;

	/* an ALTER of a parent reaches its partitions and children */
	foreach(lc, relids)
		all = list_concat_unique_oid(all, find_all_inheritors(lfirst_oid(lc), NoLock, NULL));
	foreach(lc, all)
	{
		Oid			relid = lfirst_oid(lc);
		Relation	rel = try_relation_open(relid, AccessShareLock);
		char	   *entity,
				   *shape,
				   *old,
				   *tagged;
		bool		same;

		if (rel == NULL)
			continue;
		if (!shape_tracked(rel, cdc_nsp, ext))
		{
			relation_close(rel, AccessShareLock);
			continue;
		}
		entity = entity_of(rel);
		shape = shape_json(rel, entity);
		relation_close(rel, AccessShareLock);
		(void) last_shape(relid, shape, tag, &old, &same, &tagged);
		if (same)
			continue;
		record_shape(relid, emit_schema(relid, entity, old, tagged), shape);
	}
}

/* After a DROP: an entry for each recorded table it dropped; its shapes go. */
static void
capture_dropped(List *relids, const char *tag)
{
	ListCell   *lc;

	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		Oid			t[1] = {OIDOID};
		Datum		a[1] = {ObjectIdGetDatum(relid)};
		char	   *old,
				   *tagged,
				   *entity;
		bool		same;
		bool		isnull;

		if (!last_shape(relid, NULL, tag, &old, &same, &tagged))
			continue;			/* not a table whose shape is recorded */
		if (SPI_execute_with_args("SELECT ($1::pg_catalog.jsonb OPERATOR(pg_catalog.->>) 'entity')",
								  1, (Oid[]) {TEXTOID}, (Datum[]) {CStringGetTextDatum(old)},
								  NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "cdc_ext: reading the recorded shape of table %u failed", relid);
		{
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (isnull)
				continue;
			entity = TextDatumGetCString(d);
		}
		(void) emit_schema(relid, entity, tagged, NULL);
		if (SPI_execute_with_args("DELETE FROM cdc.schema_shape WHERE relid OPERATOR(pg_catalog.=) $1",
								  1, t, a, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "cdc_ext: forgetting the shapes of table %u failed", relid);
	}
}

/* The OIDs in column 1 of the last SPI result, copied into the caller's context. */
static List *
spi_oids(MemoryContext cxt)
{
	List	   *out = NIL;
	MemoryContext old = MemoryContextSwitchTo(cxt);

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			out = list_append_unique_oid(out, DatumGetObjectId(d));
	}
	MemoryContextSwitchTo(old);
	return out;
}

/*
 * The tables an ALTER SCHEMA reached (only that command: the catalogs it
 * reads are scanned whole): every table in the schema, and every table
 * elsewhere whose shape names something in it, a column's type (format_type
 * qualifies it) or what a default calls or reads (pg_get_expr does), since
 * a rename changes those shapes too.  Tables whose shape stays (OWNER TO)
 * make no entry: capture_changed compares.
 */
static List *
schema_reached(MemoryContext cxt)
{
	if (SPI_execute("WITH n AS (SELECT objid FROM pg_catalog.pg_event_trigger_ddl_commands() "
					"WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass) "
					"SELECT c.oid FROM n JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.objid "
					"WHERE c.relkind OPERATOR(pg_catalog.=) 'r' "
					"UNION ALL "
					"SELECT a.attrelid FROM n JOIN pg_catalog.pg_type t ON t.typnamespace OPERATOR(pg_catalog.=) n.objid "
					"JOIN pg_catalog.pg_attribute a ON a.atttypid OPERATOR(pg_catalog.=) t.oid "
					"WHERE a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped "
					"UNION ALL "
					"SELECT ad.adrelid FROM n, pg_catalog.pg_depend dep "
					"JOIN pg_catalog.pg_attrdef ad ON ad.oid OPERATOR(pg_catalog.=) dep.objid "
					"WHERE dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass "
					"AND EXISTS (SELECT FROM pg_catalog.pg_class r WHERE dep.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					"AND r.oid OPERATOR(pg_catalog.=) dep.refobjid AND r.relnamespace OPERATOR(pg_catalog.=) n.objid "
					"UNION ALL SELECT FROM pg_catalog.pg_proc p WHERE dep.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass "
					"AND p.oid OPERATOR(pg_catalog.=) dep.refobjid AND p.pronamespace OPERATOR(pg_catalog.=) n.objid "
					"UNION ALL SELECT FROM pg_catalog.pg_type y WHERE dep.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass "
					"AND y.oid OPERATOR(pg_catalog.=) dep.refobjid AND y.typnamespace OPERATOR(pg_catalog.=) n.objid "
					"UNION ALL SELECT FROM pg_catalog.pg_operator o WHERE dep.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_operator'::pg_catalog.regclass "
					"AND o.oid OPERATOR(pg_catalog.=) dep.refobjid AND o.oprnamespace OPERATOR(pg_catalog.=) n.objid "
					"UNION ALL SELECT FROM pg_catalog.pg_collation l WHERE dep.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_collation'::pg_catalog.regclass "
					"AND l.oid OPERATOR(pg_catalog.=) dep.refobjid AND l.collnamespace OPERATOR(pg_catalog.=) n.objid)",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading what ALTER SCHEMA reached failed");
	return spi_oids(cxt);
}

/*
 * cdc.schema_capture(): the event triggers' function (see the file
 * header).  Does nothing when cdc.schema_shape is not there (an older
 * version's objects, or the extension being dropped by this very command).
 */
Datum
cdc_schema_capture(PG_FUNCTION_ARGS)
{
	EventTriggerData *trig;
	CdcOwnerScope scope;
	Oid			cdc_nsp = get_namespace_oid("cdc", true);
	Oid			ext = get_extension_oid("cdc_ext", true);
	const char *tag;
	bool		drop;
	List	   *relids;
	MemoryContext cxt = CurrentMemoryContext;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("cdc.schema_capture() must be called by an event trigger"),
				 errhint("The extension's event triggers cdc_schema_ddl and cdc_schema_drop call it.")));
	trig = (EventTriggerData *) fcinfo->context;
	if (!OidIsValid(cdc_nsp) || !OidIsValid(ext) ||
		!OidIsValid(get_relname_relid("schema_shape", cdc_nsp)))
		PG_RETURN_VOID();
	tag = GetCommandTagName(trig->tag);
	drop = strcmp(trig->event, "sql_drop") == 0;

	CdcOwnerBegin(&scope);
	if (drop)
	{
		if (SPI_execute("SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects() "
						"WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
						"AND objsubid OPERATOR(pg_catalog.=) 0 "
						"AND object_type OPERATOR(pg_catalog.=) 'table'", true, 0) != SPI_OK_SELECT)
			elog(ERROR, "cdc_ext: reading the dropped objects failed");
		relids = spi_oids(cxt);
		capture_dropped(relids, tag);
	}
	else
	{
		if (SPI_execute("SELECT objid FROM pg_catalog.pg_event_trigger_ddl_commands() "
						"WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass",
						true, 0) != SPI_OK_SELECT)
			elog(ERROR, "cdc_ext: reading the DDL commands failed");
		relids = spi_oids(cxt);
		if (trig->tag == CMDTAG_ALTER_SCHEMA)
			relids = list_concat_unique_oid(relids, schema_reached(cxt));
		capture_changed(relids, tag, cdc_nsp, ext);
	}
	CdcOwnerEnd(&scope);
	PG_RETURN_VOID();
}

/*
 * cdc.schema_seed(): record, at version 0/0, the shape of every tracked
 * table that has none (CREATE EXTENSION and the update to 1.2 run it):
 * its changes then carry schema_version 0/0, and its first DDL's entry has
 * the shape before in old_data.  Returns how many it recorded.
 */
Datum
cdc_schema_seed(PG_FUNCTION_ARGS)
{
	CdcOwnerScope scope;
	Oid			cdc_nsp = get_namespace_oid("cdc", false);
	Oid			ext = get_extension_oid("cdc_ext", false);
	List	   *relids;
	ListCell   *lc;
	int			n = 0;
	MemoryContext cxt = CurrentMemoryContext;

	CdcOwnerBegin(&scope);
	if (SPI_execute("SELECT c.oid FROM pg_catalog.pg_class c "
					"WHERE c.relkind OPERATOR(pg_catalog.=) 'r' "
					"AND NOT EXISTS (SELECT FROM cdc.schema_shape s WHERE s.relid OPERATOR(pg_catalog.=) c.oid) "
					"ORDER BY c.oid", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: listing the tables failed");
	relids = spi_oids(cxt);
	foreach(lc, relids)
	{
		Relation	rel = try_relation_open(lfirst_oid(lc), AccessShareLock);
		char	   *entity;

		if (rel == NULL)
			continue;
		if (shape_tracked(rel, cdc_nsp, ext))
		{
			entity = entity_of(rel);
			record_shape(RelationGetRelid(rel), InvalidXLogRecPtr, shape_json(rel, entity));
			n++;
		}
		relation_close(rel, AccessShareLock);
	}
	CdcOwnerEnd(&scope);
	PG_RETURN_INT32(n);
}
