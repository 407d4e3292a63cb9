/*
 * base.c
 *		The bottom of the log (src/log/): what every other file of it needs and
 *		nothing here calls back up (log_internal.h draws the layers).
 *
 * Where we are: is this library's cdc_ext installed here, at which version
 * (CdcLogPresent, CdcCheckInstalledVersion, CdcLogSettingsPresent); running
 * as the extension's owner with search_path pinned (CdcOwnerBegin/End, also
 * the API's); the log_state row; transaction start for the log's
 * processes; the small SPI readers (LSN, int, text[] as a List); the writer's
 * slot name; enum label lookups; interval arguments.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "common/int.h"
#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/pg_lsn.h"
#include "utils/syscache.h"

#include "log_internal.h"

/*
 * The pg_extension row of extension ext: false if there is none; else its
 * owner and extversion (palloc'd; NULL if null), when asked for.  An index
 * scan: no SQL runs, so nothing here depends on the caller's search_path.
 */
static bool
extension_row(Oid ext, Oid *owner, char **version)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found;

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ext));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	found = HeapTupleIsValid(tup);
	if (found && owner != NULL)
		*owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	if (found && version != NULL)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		*version = isnull ? NULL : TextDatumGetCString(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Is this library's cdc_ext here (CDC_SQL_VERSION)?  Also takes a share lock on the extension for the
 * rest of the transaction: DROP EXTENSION locks the extension itself before
 * any of its tables, so it then waits for the writer's transaction to end
 * instead of deadlocking with it on the log's tables (the writer takes them
 * in another order); the writer's next look finds the extension gone.
 */
CdcLogPresence
CdcLogPresent(void)
{
	char	   *version;
	Oid			nsp;
	Oid			ext = get_extension_oid("cdc_ext", true);

	if (!OidIsValid(ext))
		return CDC_LOG_ABSENT;
	LockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock);
	/* dropped while we waited for the lock? */
	if (get_extension_oid("cdc_ext", true) != ext)
		return CDC_LOG_ABSENT;
	nsp = get_namespace_oid("cdc", true);
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("log_state", nsp)))
		return CDC_LOG_OLD_VERSION;
	if (!extension_row(ext, NULL, &version))
		return CDC_LOG_ABSENT;
	if (version == NULL || strcmp(version, CDC_SQL_VERSION) != 0)
		return CDC_LOG_OLD_VERSION;
	return CDC_LOG_PRESENT;
}

/*
 * The 1.1 library can be loaded while the 1.0 SQL objects are still
 * installed (the package was upgraded, ALTER EXTENSION not yet run).  1.0's
 * definitions call the same C symbols, sometimes with fewer arguments, and
 * its tables have other columns: refuse cleanly, before reading any
 * argument.  nargs is what the 1.1 definition passes.
 */
void
CdcCheckInstalledVersion(FunctionCallInfo fcinfo, int nargs)
{
	Oid			nsp;

	if (PG_NARGS() == nargs &&
		OidIsValid(nsp = get_namespace_oid("cdc", true)) &&
		OidIsValid(get_relname_relid("log_state", nsp)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the SQL objects of an older cdc_ext are installed"),
			 errdetail("The cdc_ext library loaded is version %s.", CDC_SQL_VERSION),
			 errhint("Run ALTER EXTENSION cdc_ext UPDATE.")));
}

/* Are cdc_ext 1.2's settings and horizon tables installed (not 1.1's)? */
bool
CdcLogSettingsPresent(void)
{
	Oid			nsp = get_namespace_oid("cdc", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("log_settings", nsp));
}

/*
 * The administration functions need 1.2's tables: under 1.1's SQL objects
 * (the library was updated, ALTER EXTENSION not yet run) they refuse
 * cleanly.  The log writer and the consumers keep working meanwhile.
 */
void
CdcRequireSettings(void)
{
	if (!CdcLogSettingsPresent())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cdc_ext 1.1 SQL objects are installed"),
				 errdetail("The cdc_ext library loaded is version 1.2."),
				 errhint("Run ALTER EXTENSION cdc_ext UPDATE.")));
}

/* The table that holds the horizon, oldest_lsn: 1.2's, else 1.1's. */
const char *
CdcLogHorizonTable(void)
{
	return CdcLogSettingsPresent() ? "cdc.log_horizon" : "cdc.log_state";
}

/*
 * The owner switch of cdc_ext, the one the log and the API (src/api/) both
 * use: the SQL they run on the extension's tables (which PUBLIC may not
 * touch) runs as the extension's owner, with search_path pinned to
 * pg_catalog, pg_temp (and jit off), inside an SPI session.  The SQL functions themselves
 * are not SECURITY DEFINER: they run as their caller, check what the caller
 * may do, and switch only around these statements.  scope->invoker is the
 * role that was current (the caller).
 *
 * Begin looks the owner up first (by index scan, so that no SQL runs as
 * the caller; an error if cdc_ext is not installed, before anything has
 * changed), then opens SPI, pins search_path in a new GUC nest level, and
 * only then becomes the owner (SECURITY_LOCAL_USERID_CHANGE: SET ROLE and
 * SET SESSION AUTHORIZATION are refused meanwhile).  End undoes the three
 * in the reverse order: user and security context, then the GUC nest level,
 * then SPI.  That order is the one the error path follows: (sub)transaction
 * abort restores the user id first, then the GUC nest levels
 * (AtEOXact_GUC), then SPI (AtEOSubXact_SPI), so an error between Begin
 * and End needs no cleanup here and leaves what End would have left.  And
 * at no moment does anything run as the owner under the caller's
 * search_path: the path is pinned before the owner comes and restored only
 * after the caller is back.  (The log's switch used to close SPI first and
 * restore the GUC level last, the API's restored the user first: two
 * orders for one mechanism; this is the API's, which matches abort.)
 * Pairs must nest: End in the (sub)transaction of its Begin, after the End
 * of any scope opened inside it.
 */
void
CdcOwnerBegin(CdcOwnerScope *scope)
{
	Oid			ext = get_extension_oid("cdc_ext", true);
	Oid			owner = InvalidOid;

	if (!OidIsValid(ext) || !extension_row(ext, &owner, NULL) || !OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"cdc_ext\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION cdc_ext first.")));
	GetUserIdAndSecContext(&scope->saved_user, &scope->saved_sec);
	scope->invoker = scope->saved_user;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "cdc_ext: SPI_connect failed");
	scope->guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	/*
	 * No JIT: the statements in here are index range scans of a few
	 * thousand rows at most, but on a log of millions of rows the planner
	 * estimates them above jit_above_cost, and compiling took 1.2-3 s of a
	 * 1000-row read that takes 8 ms without (bench/backfill.sh: LLVM was
	 * 82% of a draining consumer's time).
	 */
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	SetUserIdAndSecContext(owner, scope->saved_sec | SECURITY_LOCAL_USERID_CHANGE);
}

/* Leave the owner's scope: see CdcOwnerBegin for the order and why. */
void
CdcOwnerEnd(CdcOwnerScope *scope)
{
	SetUserIdAndSecContext(scope->saved_user, scope->saved_sec);
	AtEOXact_GUC(true, scope->guc_level);
	SPI_finish();
}

/* Column col (1-based) of row row of the last SPI result: pg_lsn (null: Invalid), int4 (null: 0). */
XLogRecPtr
CdcSpiLsn(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
}

int32
CdcSpiInt32(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

/*
 * The log_state row, inside SPI (read-write: it must see what this
 * transaction has just changed).
 */
void
CdcLogStateLoad(CdcLogStateRow *row)
{
	char	   *slot;

	if (SPI_execute("SELECT slot_name::text, logged_commit_lsn, logged_seq, confirmed_lsn, "
					"oldest_lsn, current_chunk, confirm_rule FROM cdc.log_state",
					false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "cdc_ext: cdc.log_state must have one row");
	slot = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	strlcpy(row->slot_name, slot, NAMEDATALEN);
	row->logged_commit_lsn = CdcSpiLsn(0, 2);
	row->logged_seq = CdcSpiInt32(0, 3);
	row->confirmed_lsn = CdcSpiLsn(0, 4);
	row->oldest_lsn = CdcSpiLsn(0, 5);
	row->current_chunk = CdcSpiInt32(0, 6);
	row->confirm_rule = CdcSpiInt32(0, 7);
}

/* The name of the replication slot of database dboid's log writer (palloc'd). */
char *
CdcLogSlotName(Oid dboid)
{
	return psprintf("cdc_ext_log_%u", dboid);
}

/* An interval argument in microseconds; a negative one is an error naming argname. */
int64
CdcIntervalMicros(const Interval *iv, const char *argname)
{
	int64		us;

	if (!CdcIntervalUsec(iv, &us))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is out of range", argname),
				 errhint("Give an interval of less than 290,000 years.")));
	if (us < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", argname),
				 errhint("Give an interval of zero or more, such as '30 seconds'.")));
	return us;
}

/*
 * An interval in microseconds (a month as 30 days); false when that does
 * not fit in 64 bits (an overflow read as a negative interval before).
 */
bool
CdcIntervalUsec(const Interval *iv, int64 *us)
{
	int64		days;
	int64		r;

	if (pg_mul_s64_overflow((int64) iv->month, DAYS_PER_MONTH, &days) ||
		pg_add_s64_overflow(days, (int64) iv->day, &days) ||
		pg_mul_s64_overflow(days, USECS_PER_DAY, &r) ||
		pg_add_s64_overflow(r, iv->time, &r))
		return false;
	*us = r;
	return true;
}

/*
 * Column col of an SPI result row, a text[], as a List of C strings (NIL
 * when null; null elements left out).  For settings the extension stored
 * and checked itself (capture patterns, a consumer's filters).
 */
List *
CdcSpiTextList(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;

	if (isnull)
		return NIL;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			result = lappend(result, TextDatumGetCString(elems[i]));
	return result;
}

/*
 * A background worker has no statements: without this, now() would stay
 * at the first transaction's start for the life of the process.
 */
void
CdcStartTransaction(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
}

/*
 * The OIDs of cdc.operation's labels, in the enum's order (insert, update,
 * delete, truncate, message): the log stores an operation as its OID.
 */
void
CdcLogOperationOids(Oid *oids)
{
	Oid			enum_type;

	enum_type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
								CStringGetDatum("operation"),
								ObjectIdGetDatum(get_namespace_oid("cdc", false)));
	for (int i = 0; i < CDC_N_OPERATIONS; i++)
	{
		oids[i] = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
										ObjectIdGetDatum(enum_type),
										CStringGetDatum(cdc_operations[i].label));
		if (!OidIsValid(oids[i]))
			elog(ERROR, "cdc_ext: enum label cdc.operation '%s' is missing", cdc_operations[i].label);
	}
}
