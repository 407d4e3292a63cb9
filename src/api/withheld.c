/*
 * withheld.c
 *		For cdc.consumers (status.c): the tables a consumer's filters ask
 *		for that its owner would not receive (privileges, row-level
 *		security, a dropped table), and those the log no longer captures.
 *		Decided by the same rules as a read (privileges.c).
 */
#include "read_filter.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

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

		if (CdcReadFilterOps(rf, entities[i]) == 0)
			continue;
		memset(&rule, 0, sizeof(rule));
		rule.relid = relids[i];
		CdcReadFilterAccess(rf, &rule);
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

		if (CdcReadFilterOps(rf, entities[i]) == 0)
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
