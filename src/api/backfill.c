/*
 * backfill.c
 *		Backfills asked for through SQL: cdc.backfill(), start => 'snapshot'
 *		of cdc.create_consumer() and cdc.create_group(),
 *		cdc.cancel_backfill() and the cdc.backfills view.  The log writer
 *		does the work (src/log/backfill.c); this file decides which tables a
 *		backfill reads and records the request (cdc.backfill_request).
 *
 * Which tables: every table the log captures now and the consumer's or
 * group's filters let through (and entities, when given), that its owner
 * may SELECT (some column) in a schema it may use: the rows of a table the
 * owner may not read are not even read.  What the owner then receives of
 * each row is decided when it reads, as for changes (columns narrowed,
 * tables under row-level security withheld: src/api/privileges.c).  Only
 * ordinary and partition tables that write WAL (not unlogged or temporary:
 * their changes never reach the log), never the extension's own.  A table
 * with neither a primary key nor a replica identity index is recorded, and
 * the writer marks it skipped: without a key, a row read cannot be matched
 * with its later changes (a WARNING names such tables at once).
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/tuplestore.h"

#include "cdc_api.h"

PG_FUNCTION_INFO_V1(cdc_backfill);
PG_FUNCTION_INFO_V1(cdc_cancel_backfill);
PG_FUNCTION_INFO_V1(cdc_backfill_info);

/* The consumer or group a backfill is for. */
typedef struct Asker
{
	bool		group;
	int32		id;
	Oid			owner;
	CdcFilter  *filter;
} Asker;

/*
 * The consumer, else the group, called name, that invoker may use
 * (42704, 42501 as for their other functions).  Inside the owner scope.
 */
static void
find_asker(const char *name, Oid invoker, Asker *a)
{
	Oid			t[1] = {TEXTOID};
	Datum		v[1] = {CStringGetTextDatum(name)};
	bool		messages;
	int			found = 0;

	memset(a, 0, sizeof(*a));
	if (SPI_execute_with_args("SELECT false, id, owner, entities, exclude_entities, operations::pg_catalog.text[] "
							  "FROM cdc.consumer_state WHERE name OPERATOR(pg_catalog.=) $1 "
							  "UNION ALL "
							  "SELECT true, id, owner, entities, exclude_entities, operations::pg_catalog.text[] "
							  "FROM cdc.group_state WHERE name OPERATOR(pg_catalog.=) $1",
							  1, t, v, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading consumers failed");
	found = (int) SPI_processed;
	if (found == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer or consumer group \"%s\" does not exist", name),
				 errhint("SELECT name FROM cdc.consumers and SELECT name FROM cdc.groups list the ones you may use.")));
	if (found > 1)
		ereport(ERROR,
				(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
				 errmsg("\"%s\" names both a consumer and a consumer group", name),
				 errhint("Rename one of them (drop and create it again under another name).")));
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		a->group = DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull));
		a->id = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		a->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
		a->filter = CdcStoredFilter(tup, desc, 4, 5, 6, &messages);
	}
	if (OidIsValid(invoker) && !has_privs_of_role(invoker, a->owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for %s \"%s\"", a->group ? "consumer group" : "consumer", name),
				 errdetail("It belongs to another role."),
				 errhint("Only its owner, members of the owning role and superusers may backfill it.")));
}

/* Does the filter let entity (schema.table, quoted as the log writes it) through? */
static bool
passes(List *entities, List *exclude, const char *entity, const char *table)
{
	if (entities != NIL && !CdcEntityMatches(entity, table, entities))
		return false;
	return !CdcEntityMatches(entity, table, exclude);
}

/* Has a an unfinished backfill of relid (not cancelled, not ended)? */
static bool
backfill_unfinished(const Asker *a, Oid relid)
{
	Oid			t[3] = {OIDOID, INT4OID, BOOLOID};
	Datum		v[3] = {ObjectIdGetDatum(relid), Int32GetDatum(a->id), BoolGetDatum(a->group)};

	if (SPI_execute_with_args("SELECT 1 FROM cdc.backfill_request r "
							  "LEFT JOIN cdc.backfill_progress p ON p.id OPERATOR(pg_catalog.=) r.id "
							  "  AND p.relid OPERATOR(pg_catalog.=) r.relid "
							  "WHERE r.relid OPERATOR(pg_catalog.=) $1 AND r.cancelled_at IS NULL "
							  "AND (CASE WHEN $3 THEN r.group_id ELSE r.consumer_id END) OPERATOR(pg_catalog.=) $2 "
							  "AND (p.state IS NULL OR p.state OPERATOR(pg_catalog.=) 'running')",
							  3, t, v, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading backfill requests failed");
	return SPI_processed > 0;
}

/*
 * Record a backfill of a's tables (narrowed by entities when not NIL):
 * returns its id, and how many tables in *ntables.  Inside the owner
 * scope, in the caller's transaction.
 */
static int64
request_backfill(const Asker *a, List *entities, int *ntables, int *already, List **keyless)
{
	List	   *cap_entities;
	List	   *cap_exclude;
	TimestampTz since;
	int64		id;
	SPITupleTable *tables;
	uint64		n;
	Oid			t[7] = {INT8OID, OIDOID, TEXTOID, INT4OID, INT4OID, OIDOID, INT8OID};

	*ntables = 0;
	*already = 0;
	*keyless = NIL;
	CdcCaptureInForce(&cap_entities, &cap_exclude, &since);
	if (SPI_execute("SELECT pg_catalog.nextval('cdc.backfill_id_seq')", false, 1) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: numbering a backfill failed");
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &(bool) {0}));

	/* ordinary tables and partitions that write WAL, not the extension's */
	if (SPI_execute("SELECT c.oid, n.nspname::pg_catalog.text, c.relname::pg_catalog.text, "
					"  c.reltuples::pg_catalog.int8, n.oid, "
					"  EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid OPERATOR(pg_catalog.=) c.oid "
					"          AND (i.indisprimary OR i.indisreplident)) "
					"FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
					"WHERE c.relkind OPERATOR(pg_catalog.=) 'r' AND c.relpersistence OPERATOR(pg_catalog.=) 'p' "
					"  AND n.nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema,pg_toast}') "
					"  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d "
					"    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					"      AND d.objid OPERATOR(pg_catalog.=) c.oid AND d.deptype OPERATOR(pg_catalog.=) 'e') "
					"ORDER BY n.nspname, c.relname", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: listing tables failed");
	tables = SPI_tuptable;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = tables->vals[i];
		TupleDesc	desc = tables->tupdesc;
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		char	   *nsp = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
		char	   *relname = TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull));
		int64		reltuples = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		Oid			nspoid = DatumGetObjectId(SPI_getbinval(tup, desc, 5, &isnull));
		bool		has_key = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		const char *qrel = quote_identifier(relname);
		char	   *entity = psprintf("%s.%s", quote_identifier(nsp), qrel);
		Datum		v[7];
		char		nulls[8] = "       ";

		if (!passes(cap_entities, cap_exclude, entity, qrel) ||
			!passes(a->filter->entities, a->filter->exclude_entities, entity, qrel) ||
			(entities != NIL && !CdcEntityMatches(entity, qrel, entities)))
			continue;
		if (CdcNamespaceAclcheck(nspoid, a->owner, ACL_USAGE) != ACLCHECK_OK ||
			(pg_class_aclcheck(relid, a->owner, ACL_SELECT) != ACLCHECK_OK &&
			 pg_attribute_aclcheck_all(relid, a->owner, ACL_SELECT, ACLMASK_ANY) != ACLCHECK_OK))
			continue;
		/*
		 * Row-level security applies to the owner: its rows would be
		 * withheld at read time, and even their count (cdc.backfills) is
		 * not the owner's to know.  Not read at all; cdc.consumers names
		 * the table withheld.
		 */
		if (check_enable_rls(relid, a->owner, true) == RLS_ENABLED)
			continue;
		/* already being backfilled for it: once is enough */
		if (backfill_unfinished(a, relid))
		{
			(*already)++;
			continue;
		}
		if (!has_key)
			*keyless = lappend(*keyless, entity);
		v[0] = Int64GetDatum(id);
		v[1] = ObjectIdGetDatum(relid);
		v[2] = CStringGetTextDatum(entity);
		v[3] = Int32GetDatum(a->id);
		v[4] = Int32GetDatum(a->id);
		v[5] = ObjectIdGetDatum(a->owner);
		v[6] = Int64GetDatum(reltuples);
		nulls[a->group ? 3 : 4] = 'n';
		if (reltuples < 0)
			nulls[6] = 'n';
		if (SPI_execute_with_args("INSERT INTO cdc.backfill_request (id, relid, entity, consumer_id, "
								  "group_id, owner, rows_estimated) VALUES ($1, $2, $3, $4, $5, $6, $7)",
								  7, t, v, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "cdc_ext: recording a backfill failed");
		(*ntables)++;
	}
	return id;
}

/* What every request says: keyless tables, no writer. */
static void
request_notices(List *keyless)
{
	int			pid;

	if (keyless != NIL)
	{
		StringInfoData names;
		ListCell   *lc;

		initStringInfo(&names);
		foreach(lc, keyless)
			appendStringInfo(&names, "%s%s", names.len ? ", " : "", (char *) lfirst(lc));
		ereport(WARNING,
				(errmsg("%d table(s) without a primary key or replica identity index will be skipped: %s",
						list_length(keyless), names.data),
				 errdetail("Without a key, a row read cannot be matched with its later changes."),
				 errhint("Add a primary key (or ALTER TABLE ... REPLICA IDENTITY USING INDEX), then run cdc.backfill() for them.")));
	}
	if (!CdcLogWriterRunning(&pid))
		ereport(NOTICE,
				(errmsg("no log writer runs in this database: the backfill starts when one does"),
				 errhint("The log writer needs shared_preload_libraries = 'cdc_ext'; CALL cdc.ingest() does not backfill.")));
}

/*
 * For create_consumer and create_group with start => 'snapshot', in their
 * transaction and owner scope, after the row is made: a backfill of every
 * table the new consumer or group receives (none is not an error: an
 * empty database).
 */
void
CdcBackfillOnCreate(bool group, const char *name)
{
	Asker		a;
	int			ntables;
	int			already;
	List	   *keyless;

	find_asker(name, InvalidOid, &a);
	if (a.group != group)
		elog(ERROR, "cdc_ext: \"%s\" was just created", name);
	(void) request_backfill(&a, NIL, &ntables, &already, &keyless);
	request_notices(keyless);
}

/* cdc.backfill(consumer, entities) */
Datum
cdc_backfill(PG_FUNCTION_ARGS)
{
	char	   *name = CdcConsumerNameArg(fcinfo, 0);
	List	   *entities = CdcTextArrayToList(PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1),
											  "entities");
	CdcOwnerScope scope;
	Asker		a;
	int64		id;
	int			ntables;
	int			already;
	List	   *keyless;

	CdcCheckName("consumer", name);
	/* an empty list meaning "every table" would surprise: NULL says it */
	if (!PG_ARGISNULL(1) && entities == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"entities\" must not be an empty array"),
				 errhint("Leave it NULL for every table the consumer or group receives, or list patterns of tables.")));
	CdcOwnerBegin(&scope);
	find_asker(name, scope.saved_user, &a);
	id = request_backfill(&a, entities, &ntables, &already, &keyless);
	if (ntables == 0 && already > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("every table to backfill for \"%s\" is being backfilled for it already", name),
				 errdetail("%d table(s) have a backfill for it that has not ended.", already),
				 errhint("SELECT * FROM cdc.backfills shows them; cdc.cancel_backfill() stops one.")));
	if (ntables == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no table to backfill for \"%s\"", name),
				 errdetail("No table the log captures passes its filters%s and may be read by its owner (row-level security not applying to it).",
						   entities != NIL ? " and entities" : ""),
				 errhint("SELECT * FROM cdc.consumers (or cdc.groups) shows its filters; cdc.status() and cdc.set_capture() the tables the log captures.")));
	request_notices(keyless);
	CdcOwnerEnd(&scope);
	PG_RETURN_INT64(id);
}

/* cdc.cancel_backfill(id): how many of its tables it stopped. */
Datum
cdc_cancel_backfill(PG_FUNCTION_ARGS)
{
	int64		id;
	CdcOwnerScope scope;
	Oid			t[2] = {INT8OID, OIDOID};
	Datum		v[2];
	int			stopped;

	CdcRequireArg(fcinfo, 0, "id", "Give the id cdc.backfill() returned (SELECT id FROM cdc.backfills).");
	id = PG_GETARG_INT64(0);
	CdcOwnerBegin(&scope);
	v[0] = Int64GetDatum(id);
	v[1] = ObjectIdGetDatum(scope.saved_user);
	if (SPI_execute_with_args("SELECT pg_catalog.bool_and(pg_catalog.pg_has_role($2, owner, 'USAGE')) "
							  "FROM cdc.backfill_request WHERE id OPERATOR(pg_catalog.=) $1",
							  2, t, v, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading a backfill failed");
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		/* another role's backfill is not named as existing */
		if (isnull || !DatumGetBool(d))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("backfill " INT64_FORMAT " does not exist", id),
					 errhint("SELECT * FROM cdc.backfills lists the backfills you may cancel.")));
	}
	if (SPI_execute_with_args("UPDATE cdc.backfill_request r SET cancelled_at = pg_catalog.now() "
							  "WHERE r.id OPERATOR(pg_catalog.=) $1 AND r.cancelled_at IS NULL "
							  "RETURNING NOT EXISTS (SELECT 1 FROM cdc.backfill_progress p "
							  "  WHERE p.id OPERATOR(pg_catalog.=) r.id AND p.relid OPERATOR(pg_catalog.=) r.relid "
							  "  AND p.state OPERATOR(pg_catalog.<>) 'running')",
							  1, t, v, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "cdc_ext: cancelling a backfill failed");
	stopped = 0;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)))
			stopped++;
	}
	CdcOwnerEnd(&scope);
	PG_RETURN_INT32(stopped);
}

/* cdc.backfill_info(): the cdc.backfills view, as the caller may see it. */
Datum
cdc_backfill_info(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CdcOwnerScope scope;
	Oid			t[1] = {OIDOID};
	Datum		v[1];

	InitMaterializedSRF(fcinfo, 0);
	CdcOwnerBegin(&scope);
	v[0] = ObjectIdGetDatum(scope.saved_user);
	if (SPI_execute_with_args("SELECT r.id, coalesce(c.name, g.name), "
							  "  CASE WHEN r.group_id IS NULL THEN 'consumer' ELSE 'group' END, r.entity, "
							  "  CASE WHEN p.state IN ('done', 'failed', 'skipped') THEN p.state "
							  "       WHEN r.cancelled_at IS NOT NULL THEN 'cancelled' "
							  "       ELSE coalesce(p.state, 'pending') END, "
							  "  coalesce(p.rows_done, 0), r.rows_estimated, "
							  "  coalesce(p.rows_dropped, 0), "
							  "  CASE WHEN p.started_at IS NOT NULL AND "
							  "    coalesce(p.finished_at, pg_catalog.now()) OPERATOR(pg_catalog.>) p.started_at "
							  "  THEN pg_catalog.round(p.rows_done::pg_catalog.numeric OPERATOR(pg_catalog./) "
							  "    EXTRACT(epoch FROM coalesce(p.finished_at, pg_catalog.now()) OPERATOR(pg_catalog.-) p.started_at), 1) END, "
							  "  coalesce(p.chunks, 0), coalesce(p.retries, 0), "
							  "  r.created_at, p.started_at, p.finished_at, p.error "
							  "FROM cdc.backfill_request r "
							  "LEFT JOIN cdc.backfill_progress p ON p.id OPERATOR(pg_catalog.=) r.id "
							  "  AND p.relid OPERATOR(pg_catalog.=) r.relid "
							  "LEFT JOIN cdc.consumer_state c ON c.id OPERATOR(pg_catalog.=) r.consumer_id "
							  "LEFT JOIN cdc.group_state g ON g.id OPERATOR(pg_catalog.=) r.group_id "
							  "WHERE pg_catalog.pg_has_role($1, r.owner, 'USAGE') "
							  "ORDER BY r.id, r.entity",
							  1, t, v, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading backfills failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Datum		values[15];
		bool		nulls[15];

		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	CdcOwnerEnd(&scope);
	return (Datum) 0;
}
