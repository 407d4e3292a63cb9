/*
 * schema.c
 *		The decoding side of schema changes (the writing side is the event
 *		trigger in src/log/schema.c): a table's schema version as of each
 *		change, and the schema message read back.
 *
 * Versions.  The event trigger records each new shape of a table in
 * cdc.schema_shape (relid, version, shape), a user_catalog_table, in the
 * DDL's transaction, beside a transactional logical message whose LSN is
 * the version.  Logical decoding reads a user catalog table under the
 * historic snapshot of the change being decoded (its heap writes log the
 * command ids that needs), so the row with the highest version visible at a
 * change is the shape that change follows: also between two DDLs of one
 * transaction, also after a restart of decoding anywhere, with no state
 * kept by the decoder.  relcache.c looks the version up when it (re)builds
 * a relation's entry, which every DDL of the relation forces (a relcache
 * invalidation replayed at the DDL's place in the WAL), so the lookup costs
 * one index probe per table and DDL, none per row.
 *
 * No version: a table whose changes were decoded before cdc_ext 1.2 was
 * installed there, or a database without the extension.  Tables that
 * existed when cdc_ext 1.2 was installed (or updated to) are recorded at
 * version 0/0 (cdc.schema_seed()).
 */
#include "cdc_plugin.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "storage/lmgr.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"

/* cdc.schema_shape's columns (src/log/log.sql) */
#define SHAPE_ATT_RELID 1
#define SHAPE_ATT_VERSION 2

/*
 * relid's schema version as of the change being decoded: the highest
 * version of cdc.schema_shape visible under the historic snapshot (a
 * backward scan of its primary key for relid).  False: none recorded then.
 */
bool
CdcSchemaVersionOf(Oid relid, XLogRecPtr *version)
{
	Oid			nsp = get_namespace_oid("cdc", true);
	Oid			shape_relid;
	Relation	rel,
				idx;
	Oid			idxoid;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	if (!OidIsValid(nsp))
		return false;
	shape_relid = get_relname_relid("schema_shape", nsp);
	if (!OidIsValid(shape_relid))
		return false;
	/*
	 * The name may come from a cache entry of the present (this backend
	 * also reads the catalogs outside decoding) while the change decoded
	 * is older than the table: the relation is then not there to build
	 * under the historic snapshot, which is no version, not an error.
	 */
	LockRelationOid(shape_relid, AccessShareLock);
	rel = RelationIdGetRelation(shape_relid);
	if (!RelationIsValid(rel))
	{
		UnlockRelationOid(shape_relid, AccessShareLock);
		return false;
	}
	idxoid = CdcRelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(idxoid))
	{
		relation_close(rel, AccessShareLock);
		return false;
	}
	LockRelationOid(idxoid, AccessShareLock);
	idx = RelationIdGetRelation(idxoid);
	if (!RelationIsValid(idx))
	{
		UnlockRelationOid(idxoid, AccessShareLock);
		relation_close(rel, AccessShareLock);
		return false;
	}
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	/* NULL snapshot: the catalog snapshot, the historic one while decoding */
	scan = systable_beginscan_ordered(rel, idx, NULL, 1, &key);
	tup = systable_getnext_ordered(scan, BackwardScanDirection);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, SHAPE_ATT_VERSION, RelationGetDescr(rel), &isnull);

		if (!isnull)
		{
			*version = DatumGetLSN(d);
			found = true;
		}
	}
	systable_endscan_ordered(scan);
	relation_close(idx, AccessShareLock);
	relation_close(rel, AccessShareLock);
	return found;
}

/*
 * As relcache.c decides for a relation's changes: every layer must match
 * the entity and allow schema entries.
 */
bool
CdcSchemaPasses(const CdcOptions *opts, const char *entity, const char *table)
{
	ListCell   *lc;

	foreach(lc, opts->filters)
	{
		CdcFilter  *f = lfirst(lc);

		if (f->entities != NIL && !CdcEntityMatches(entity, table, f->entities))
			return false;
		if (CdcEntityMatches(entity, table, f->exclude_entities))
			return false;
		if ((f->operations & CDC_OP_SCHEMA) == 0)
			return false;
	}
	return true;
}

/* The next NUL-ended field of a payload, or NULL when there is none. */
static const char *
next_field(const char **p, const char *end)
{
	const char *s = *p;
	const char *nul;

	if (s >= end)
		return NULL;
	nul = memchr(s, '\0', end - s);
	if (nul == NULL)
		return NULL;
	*p = nul + 1;
	return s;
}

/* Is s one JSON value that jsonb can hold too?  (never throws) */
static bool
valid_json(const char *s)
{
	JsonLexContext *lex;
	bool		ok;

	if (strstr(s, "\\u0000") != NULL)
		return false;			/* jsonb refuses it */
#if PG_VERSION_NUM >= 170000
	lex = makeJsonLexContextCstringLen(NULL, s, strlen(s), GetDatabaseEncoding(), true);
#else
	lex = makeJsonLexContextCstringLen((char *) s, strlen(s), GetDatabaseEncoding(), true);
#endif
	ok = pg_parse_json(lex, &nullSemAction) == JSON_SUCCESS;
#if PG_VERSION_NUM >= 170000
	freeJsonLexContext(lex);
#endif
	return ok;
}

/*
 * Split a schema message (see CDC_SCHEMA_PREFIX).  Anyone may emit a
 * message with this prefix (pg_logical_emit_message needs REPLICATION
 * only): a payload that does not parse is no entry, and a forged one
 * carries nothing but what its author wrote (privileges are applied to it
 * as to the table it names, when it is read from the log).
 */
bool
CdcSchemaParse(const char *message, Size size, CdcSchemaMessage *m)
{
	const char *p = message;
	const char *end = message + size;
	const char *relid = next_field(&p, end);
	char	   *endp;
	unsigned long v;

	m->entity = next_field(&p, end);
	m->table = next_field(&p, end);
	m->old_shape = next_field(&p, end);
	m->new_shape = next_field(&p, end);
	if (relid == NULL || m->new_shape == NULL || p != end)
		return false;
	v = strtoul(relid, &endp, 10);
	if (*endp != '\0' || endp == relid)
		return false;
	m->relid = (Oid) v;
	if (strcmp(m->old_shape, "null") == 0)
		m->old_shape = NULL;
	if (strcmp(m->new_shape, "null") == 0)
		m->new_shape = NULL;
	if ((m->old_shape != NULL && !valid_json(m->old_shape)) ||
		(m->new_shape != NULL && !valid_json(m->new_shape)))
		return false;
	return true;
}
