/*
 * capture.c
 *		Administration of the change log: who may change it for everyone
 *		(CdcRequireAdmin), and the capture setting, cdc.set_capture(), which
 *		takes effect at its transaction's commit.
 *
 * Administration.  cdc.trim(), cdc.set_retention(), cdc.set_capture() and
 * CALL cdc.ingest() change the log for every consumer.  They need superuser
 * or the privileges of role cdc_admin, checked here when they are called:
 * EXECUTE alone, which an application gets with a blanket GRANT EXECUTE ON
 * ALL FUNCTIONS IN SCHEMA cdc, does not reach them.  The role is made by
 * the install script (cluster-wide, kept by DROP EXTENSION).
 *
 * Capture at commit.  A change is logged when the capture setting in force
 * at its commit covers it, whenever the writer gets to it.  cdc.set_capture()
 * therefore does not tell the writer anything directly: in the caller's
 * transaction it updates cdc.log_settings (a user catalog table, so that
 * logical decoding can read it as of any point of the WAL) and emits a
 * transactional logical message with the private prefix CDC_CAPTURE_PREFIX.
 * The plugin never emits such a message (decode.c); it hands it to the
 * writer's sink, which reads cdc.log_settings with the historic snapshot of
 * the message's position (CdcCaptureReadHistoric) and filters from there
 * on: every transaction that commits after the set_capture() one by the new
 * setting, every one before it by the old, and the set_capture()
 * transaction's own changes by the setting at their position in it.  The
 * content of the message is not trusted (any role may emit a message with
 * that prefix): it only says "read the setting here", and the setting comes
 * from a table only administrators write.  The writer records the setting
 * in force with its position, in the transaction that logs (ingest.c), so a
 * restart resumes with the right one.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "cdc_plugin.h"
#include "log_internal.h"

PG_FUNCTION_INFO_V1(cdc_set_capture);

#define CDC_ADMIN_ROLE "cdc_admin"

/*
 * Raise 42501 unless the current user is a superuser or has the privileges
 * of cdc_admin.  what: the function, as the message names it.  Called
 * before anything else, as the caller (not inside CdcOwnerBegin).
 */
void
CdcRequireAdmin(const char *what)
{
	Oid			admin = get_role_oid(CDC_ADMIN_ROLE, true);
	Oid			user = GetUserId();

	if (superuser_arg(user) ||
		(OidIsValid(admin) && has_privs_of_role(user, admin)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for %s", what),
			 errdetail("%s changes the change log for every consumer: it needs superuser or the privileges of role %s.",
					   what, CDC_ADMIN_ROLE),
			 errhint("An administrator may grant them with: GRANT %s TO %s;",
					 CDC_ADMIN_ROLE, quote_identifier(GetUserNameFromId(user, false)))));
}


/* text[] argument checked as patterns; NULL stays NULL */
static Datum
pattern_array(FunctionCallInfo fcinfo, int argno, const char *argname, char *null_flag)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (PG_ARGISNULL(argno))
	{
		*null_flag = 'n';
		return (Datum) 0;
	}
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" must not contain nulls", argname)));
		CdcCheckPattern(argname, TextDatumGetCString(elems[i]));
	}
	*null_flag = ' ';
	return PointerGetDatum(arr);
}

/*
 * cdc.set_capture(entities, exclude_entities, messages): the setting for
 * the transactions that commit after the caller's (see the file header).
 * Holds no lock the writer needs: the writer only reads cdc.log_settings.
 */
Datum
cdc_set_capture(PG_FUNCTION_ARGS)
{
	CdcOwnerScope scope;
	Oid			t[3] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		a[3];
	char		n[4] = "   ";
	static const char note[] = "cdc.set_capture";

	CdcCheckInstalledVersion(fcinfo, 3);
	CdcRequireAdmin("cdc.set_capture()");
	CdcRequireSettings();
	a[0] = pattern_array(fcinfo, 0, "entities", &n[0]);
	a[1] = pattern_array(fcinfo, 1, "exclude_entities", &n[1]);
	a[2] = pattern_array(fcinfo, 2, "messages", &n[2]);
	CdcOwnerBegin(&scope);
	if (SPI_execute_with_args("UPDATE cdc.log_settings SET capture_entities = $1, "
							  "capture_exclude_entities = $2, capture_messages = $3, "
							  "capture_set_at = pg_catalog.now()",
							  3, t, a, n, false, 0) != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "cdc_ext: updating cdc.log_settings failed");
	CdcOwnerEnd(&scope);
	/* after the update, in the same transaction: decoding reads it here */
	(void) CdcLogLogicalMessage(CDC_CAPTURE_PREFIX, note, sizeof(note) - 1, true);
	PG_RETURN_VOID();
}

/* A text[] column of a tuple as a List of C strings (NIL when null). */
static List *
text_array_list(HeapTuple tup, TupleDesc desc, const char *column)
{
	AttrNumber	att = InvalidAttrNumber;

	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped &&
			strcmp(NameStr(TupleDescAttr(desc, i)->attname), column) == 0)
			att = i + 1;
	if (att == InvalidAttrNumber)
		elog(ERROR, "cdc_ext: cdc.log_settings has no column %s", column);
	return CdcSpiTextList(tup, desc, att);
}

/*
 * Inside logical decoding, at a CDC_CAPTURE_PREFIX message: the capture
 * setting as of that point of the WAL (the historic snapshot decoding runs
 * under sees cdc.log_settings as the message's transaction left it so far,
 * which is why that table is a user catalog table).  The lists are made in
 * cxt.  False when there is no such table (1.1's SQL objects, or a message
 * emitted by hand in a database without the extension at that point).
 */
bool
CdcCaptureReadHistoric(MemoryContext cxt, List **entities, List **exclude,
					   List **messages)
{
	Oid			nsp = get_namespace_oid("cdc", true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("log_settings", nsp) : InvalidOid;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	if (!OidIsValid(relid))
		return false;
	rel = table_open(relid, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		TupleDesc	desc = RelationGetDescr(rel);

		*entities = text_array_list(tup, desc, "capture_entities");
		*exclude = text_array_list(tup, desc, "capture_exclude_entities");
		*messages = text_array_list(tup, desc, "capture_messages");
		MemoryContextSwitchTo(old);
		found = true;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * The capture setting in force (what the writer applies now, as of its
 * confirmed position), inside SPI: entities and exclude_entities patterns,
 * and since when (0 when it is the default the log began with).
 */
void
CdcCaptureInForce(List **entities, List **exclude, TimestampTz *since)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute(CdcLogSettingsPresent() ?
					"SELECT capture_entities, capture_exclude_entities, capture_at FROM cdc.log_writer" :
					"SELECT capture_entities, capture_exclude_entities, NULL::timestamptz FROM cdc.log_state",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "cdc_ext: reading the capture setting failed");
	*entities = CdcSpiTextList(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	*exclude = CdcSpiTextList(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	*since = isnull ? 0 : DatumGetTimestampTz(d);
}
