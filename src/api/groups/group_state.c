/*
 * group_state.c
 *		What the phases of consumer groups share (see group_internal.h):
 *		positions and their arrays, the statement runner with its plans,
 *		the owner's session as groups want it, the group's row and its
 *		members, the watermark-and-horizon gap check, ordering keys,
 *		truncate barriers and the groups' lock tags.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/pg_lsn.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "group_internal.h"

int
CdcGroupPosCmp(XLogRecPtr al, int32 as, XLogRecPtr bl, int32 bs)
{
	if (al != bl)
		return al < bl ? -1 : 1;
	return as < bs ? -1 : (as > bs ? 1 : 0);
}

void
CdcGroupPosListAdd(PosList *pl, XLogRecPtr lsn, int32 seq, int32 chunk)
{
	if (pl->n == pl->cap)
	{
		pl->cap = pl->cap ? pl->cap * 2 : 64;
		pl->lsn = pl->lsn ? repalloc(pl->lsn, pl->cap * sizeof(Datum)) : palloc(pl->cap * sizeof(Datum));
		pl->seq = pl->seq ? repalloc(pl->seq, pl->cap * sizeof(Datum)) : palloc(pl->cap * sizeof(Datum));
		pl->chunk = pl->chunk ? repalloc(pl->chunk, pl->cap * sizeof(Datum)) : palloc(pl->cap * sizeof(Datum));
	}
	pl->lsn[pl->n] = LSNGetDatum(lsn);
	pl->seq[pl->n] = Int32GetDatum(seq);
	pl->chunk[pl->n] = Int32GetDatum(chunk);
	pl->n++;
}

Datum
CdcGroupLsnArray(Datum *d, int n)
{
	return PointerGetDatum(construct_array(d, n, PG_LSNOID, sizeof(XLogRecPtr),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

Datum
CdcGroupInt4Array(Datum *d, int n)
{
	return PointerGetDatum(construct_array(d, n, INT4OID, 4, true, TYPALIGN_INT));
}

Datum
CdcGroupBoolArray(Datum *d, int n)
{
	return PointerGetDatum(construct_array(d, n, BOOLOID, 1, true, TYPALIGN_CHAR));
}

/*
 * The least and greatest of n commit_lsns: bounds that the statements
 * joining a batch's positions to cdc.group_entry add, so that whatever
 * join the planner picks reads only the batch's stretch of the group's
 * entries.  Without them it may hash-join the positions against every
 * entry of the group (dead ones included, until vacuum): that made an
 * ack of 100 changes cost 1 to 12 ms, growing with the backlog of deleted
 * entries.
 */
void
CdcGroupLsnBounds(Datum *lsn, int n, Datum *lo, Datum *hi)
{
	XLogRecPtr	a = DatumGetLSN(lsn[0]),
				b = a;

	for (int i = 1; i < n; i++)
	{
		XLogRecPtr	l = DatumGetLSN(lsn[i]);

		if (l < a)
			a = l;
		if (l > b)
			b = l;
	}
	*lo = LSNGetDatum(a);
	*hi = LSNGetDatum(b);
}

/*
 * The arguments of a statement on a group's entries at some positions:
 * $1 the group, $2/$3 the positions (commit_lsn[], seq[]) and $4/$5 their
 * CdcGroupLsnBounds(); CdcGroupPositionTypes are their types.
 */
Oid			CdcGroupPositionTypes[] = {INT4OID, PG_LSNARRAYOID, INT4ARRAYOID, PG_LSNOID, PG_LSNOID};

void
CdcGroupPositionArgs(int32 grp, Datum *lsn, Datum *seq, int n, Datum *values)
{
	values[0] = Int32GetDatum(grp);
	values[1] = CdcGroupLsnArray(lsn, n);
	values[2] = CdcGroupInt4Array(seq, n);
	CdcGroupLsnBounds(lsn, n, &values[3], &values[4]);
}

/*
 * Run a statement through a plan prepared once per backend and kept in
 * *plan (CdcPreparePlan; the plan cache re-plans it after DDL, DROP/CREATE
 * EXTENSION included).  nulls: as for SPI_execute_plan, or NULL.
 */
int
CdcGroupRun(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
	Datum *values, const char *nulls, int expect, long tcount, int options,
	bool hashed)
{
	int			rc;
	int			guc_level = 0;

	(void) CdcPreparePlan(plan, sql, nargs, types, options);
	if (hashed)
	{
		/* planned (once, or again after invalidation) and run under these */
		guc_level = NewGUCNestLevel();
		(void) set_config_option("enable_nestloop", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		(void) set_config_option("enable_mergejoin", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
	rc = SPI_execute_plan(*plan, values, nulls, false, tcount);
	if (hashed)
		AtEOXact_GUC(true, guc_level);
	if (rc != expect)
		elog(ERROR, "cdc_ext: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
	return rc;
}

Datum
CdcGroupCol(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

/*
 * The API's privileged SPI session (CdcOwnerBegin: the extension's owner,
 * search_path pinned), with sequential scans off (and plan_cache_mode at
 * its default) until CdcOwnerEnd restores the caller's settings.  Every statement here reads a few rows through an
 * index, but cdc.group_entry churns (each change is inserted, updated and
 * deleted): between two vacuums it holds few live rows in many pages, and
 * the planner, counting live rows, would scan all those pages.
 */
void
CdcGroupOwnerBegin(CdcOwnerScope *scope)
{
	CdcOwnerBegin(scope);
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	/* the caller's plan_cache_mode would override RUN_CUSTOM */
	(void) set_config_option("plan_cache_mode", "auto", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

char *
CdcGroupTextArg(FunctionCallInfo fcinfo, int n, const char *argname)
{
	CdcRequireArg(fcinfo, n, argname,
				  strcmp(argname, "group") == 0 || strcmp(argname, "name") == 0 ?
				  "SELECT name FROM cdc.groups lists the groups you may use." :
				  "A member is the name a worker gives itself, such as 'worker-1'.");
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

int32
CdcGroupPositiveIntArg(FunctionCallInfo fcinfo, int n, const char *argname)
{
	int32		v;

	CdcRequireArg(fcinfo, n, argname,
				  strcmp(argname, "max_deliveries") == 0 ?
				  "max_deliveries is how often a change is delivered before it goes to the dead letters (default 10)." :
				  "batch_size is the most changes one call returns.");
	v = PG_GETARG_INT32(n);
	if (v <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be positive, not %d", argname, v)));
	return v;
}

void
CdcGroupFromRow(CdcGroup *g)
{
	bool		isnull;
	Datum		d;

	g->id = DatumGetInt32(CdcGroupCol(0, 1, &isnull));
	g->owner = DatumGetObjectId(CdcGroupCol(0, 2, &isnull));
	g->filter = CdcStoredFilter(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, 4, 5,
								&g->messages);
	g->max_deliveries = DatumGetInt32(CdcGroupCol(0, 6, &isnull));
	g->watermark_lsn = DatumGetLSN(CdcGroupCol(0, 7, &isnull));
	g->watermark_seq = DatumGetInt32(CdcGroupCol(0, 8, &isnull));
	g->frontier_lsn = DatumGetLSN(CdcGroupCol(0, 9, &isnull));
	g->frontier_seq = DatumGetInt32(CdcGroupCol(0, 10, &isnull));
	d = CdcGroupCol(0, 11, &isnull);
	g->gap_from = isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
	d = CdcGroupCol(0, 12, &isnull);
	g->gap_to = isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
	d = CdcGroupCol(0, 13, &isnull);
	g->gap_reason = isnull ? NULL : TextDatumGetCString(d);
	g->name = TextDatumGetCString(CdcGroupCol(0, 14, &isnull));
}

/*
 * Load the group the invoker may use, or raise the error saying why not.
 * Another role's group is reported as not existing, so names do not leak.
 */
void
CdcGroupRequire(CdcOwnerScope *scope, const char *name, bool for_update, CdcGroup *g)
{
	Oid			types[] = {TEXTOID};
	Datum		values[] = {CStringGetTextDatum(name)};

	if (for_update)
		RUN("SELECT " GROUP_COLUMNS "FROM cdc.group_state WHERE name = $1 FOR UPDATE",
			types, values, NULL, SPI_OK_SELECT, 1);
	else
		RUN("SELECT " GROUP_COLUMNS "FROM cdc.group_state WHERE name = $1",
			types, values, NULL, SPI_OK_SELECT, 1);
	if (SPI_processed == 0 ||
		!has_privs_of_role(scope->saved_user,
						   DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &(bool){false}))))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer group \"%s\" does not exist", name),
				 errhint("SELECT name FROM cdc.groups lists the groups you can use; cdc.create_group() makes one.")));
	CdcGroupFromRow(g);
}

/* The same group again, after waiting for a lock (fresh snapshot). */
void
CdcGroupReload(CdcGroup *g)
{
	Oid			types[] = {INT4OID};
	Datum		values[] = {Int32GetDatum(g->id)};

	RUN("SELECT " GROUP_COLUMNS "FROM cdc.group_state WHERE id = $1",
		types, values, NULL, SPI_OK_SELECT, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer group \"%s\" was dropped", g->name)));
	CdcGroupFromRow(g);
}

/*
 * The horizon (cdc_log.h): changes that committed before cdc.log_state's
 * oldest_lsn are gone.  A group that had not finished with one of them has
 * a gap: recorded by the horizon hook (CdcGroupsHorizon), or found here when
 * the watermark is behind the horizon and either the frontier is too (rows
 * the group never looked at are gone) or an unacknowledged change is.
 */
void
CdcGroupCheckGap(CdcGroup *g)
{
	XLogRecPtr	oldest;
	XLogRecPtr	from = g->gap_from,
				to = g->gap_to;
	const char *why = g->gap_reason;

	if (XLogRecPtrIsInvalid(from))
	{
		oldest = CdcLogOldestLsn();
		if (g->watermark_lsn >= oldest)
			return;
		if (CdcGroupPosCmp(g->frontier_lsn, g->frontier_seq, oldest, 0) >= 0)
		{
			Oid			types[] = {INT4OID, PG_LSNOID};
			Datum		values[] = {Int32GetDatum(g->id), LSNGetDatum(oldest)};

			RUN("SELECT 1 FROM cdc.group_entry WHERE grp = $1 AND NOT acked "
				"AND NOT replay AND commit_lsn < $2 LIMIT 1",
				types, values, NULL, SPI_OK_SELECT, 1);
			if (SPI_processed == 0)
				return;
		}
		from = g->watermark_lsn;
		to = oldest;
		why = "the change log was trimmed or dropped by retention";
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("consumer group \"%s\" has a gap: changes committed between %X/%X and %X/%X are gone",
					g->name, LSN_FORMAT_ARGS(from), LSN_FORMAT_ARGS(to)),
			 why && strncmp(why, CDC_NEVER_LOGGED, strlen(CDC_NEVER_LOGGED)) == 0 ?
			 errdetail("They were never logged: %s.", why + strlen(CDC_NEVER_LOGGED)) :
			 errdetail("The group had not acknowledged them when %s.", why ? why : "they were dropped"),
			 errhint("Continue from the oldest retained change with SELECT cdc.reset_group('%s'); then SELECT cdc.backfill('%s') sends the tables' current rows again, in order with the changes that follow.",
					 g->name, g->name)));
}

/* Remember a member (for cdc.groups); names are checked first. */
void
CdcGroupMemberSeen(CdcGroup *g, const char *member)
{
	Oid			types[] = {INT4OID, TEXTOID};
	Datum		values[] = {Int32GetDatum(g->id), CStringGetTextDatum(member)};

	/* last_seen to the second: no row version per read */
	RUN("INSERT INTO cdc.group_member AS m (grp, member) VALUES ($1, $2) "
		"ON CONFLICT (grp, member) DO UPDATE SET last_seen = now() "
		"WHERE m.last_seen < now() - interval '1 s'",
		types, values, NULL, SPI_OK_INSERT, 0);
}

void
CdcGroupMemberRequire(CdcGroup *g, const char *member)
{
	Oid			types[] = {INT4OID, TEXTOID};
	Datum		values[] = {Int32GetDatum(g->id), CStringGetTextDatum(member)};

	RUN("SELECT 1 FROM cdc.group_member WHERE grp = $1 AND member = $2",
		types, values, NULL, SPI_OK_SELECT, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("member \"%s\" of consumer group \"%s\" does not exist", member, g->name),
				 errhint("A member exists from its first cdc.read_group(); cdc.pending('%s') lists the leases.", g->name)));
}

static uint32
hash_datum_bytes(Datum d)
{
	struct varlena *v = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(d));

	return hash_bytes((unsigned char *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
}

/*
 * The ordering keys of a log row: ehash (its table), khash (its row: table
 * and entity_id; the table for a truncate or a row without a key; the
 * position for a message, which is unordered).
 */
void
CdcGroupRowKeys(Datum *lv, bool *ln, uint32 *khash, uint32 *ehash)
{
	if (ln[CDC_LOG_ENTITY])
	{
		uint64		pos[2] = {DatumGetLSN(lv[CDC_LOG_COMMIT_LSN]), (uint64) DatumGetInt32(lv[CDC_LOG_SEQ])};

		*ehash = 0;
		*khash = hash_bytes((unsigned char *) pos, sizeof(pos));
		return;
	}
	*ehash = hash_datum_bytes(lv[CDC_LOG_ENTITY]);
	if (ln[CDC_LOG_ENTITY_ID])
		*khash = *ehash ^ 0x9e3779b9;
	else
		*khash = hash_combine(*ehash, hash_datum_bytes(lv[CDC_LOG_ENTITY_ID]));
}

/*
 * The OID of cdc.operation's label 'truncate', looked up once per call of a
 * function that classifies log rows (syscache; not kept across calls, since
 * DROP and CREATE EXTENSION give the label another OID), so that each row's
 * operation is compared as an OID, not turned into text.  The label
 * 'schema' is looked up with it: a schema entry is a barrier too.
 */
Oid			cdc_group_schema_op = InvalidOid;

Oid
CdcGroupTruncateOid(void)
{
	Oid			enum_type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
											CStringGetDatum("operation"),
											ObjectIdGetDatum(get_namespace_oid("cdc", false)));
	Oid			oid = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
									  ObjectIdGetDatum(enum_type),
									  CStringGetDatum("truncate"));

	if (!OidIsValid(oid))
		elog(ERROR, "cdc_ext: enum label cdc.operation 'truncate' is missing");
	cdc_group_schema_op = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
										  ObjectIdGetDatum(enum_type),
										  CStringGetDatum("schema"));
	return oid;
}

/* Take (for the transaction) one of the group's locks; false when busy. */
bool
CdcGroupLock(CdcGroup *g, uint32 key, uint16 kind, bool wait)
{
	LOCKTAG		tag;

	SET_CDC_LOCKTAG_GROUP(tag, g->id, key, kind);
	return LockAcquire(&tag, ExclusiveLock, false, !wait) != LOCKACQUIRE_NOT_AVAIL;
}

void
CdcGroupRequireReadCommitted(const char *fn)
{
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("%s must run at isolation level READ COMMITTED", fn),
				 errdetail("It reads the leases other members committed after taking their locks."),
				 errhint("Call it in its own READ COMMITTED transaction, and acknowledge in the sink's transaction at any level.")));
}

/* Earliest unacknowledged truncate per table (ehash), from the group's entries. */
HTAB *
CdcGroupPendingBarriers(CdcGroup *g)
{
	Oid			types[] = {INT4OID};
	Datum		values[] = {Int32GetDatum(g->id)};
	HASHCTL		ctl = {0};
	HTAB	   *h;

	typedef struct
	{
		uint32		ehash;
		XLogRecPtr	lsn;
		int32		seq;
	}			BarrierPos;

	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(BarrierPos);
	ctl.hcxt = CurrentMemoryContext;
	h = hash_create("cdc group barriers", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	RUN("SELECT ehash, commit_lsn, seq FROM cdc.group_entry "
		"WHERE grp = $1 AND barrier AND NOT acked ORDER BY commit_lsn, seq",
		types, values, NULL, SPI_OK_SELECT, 0);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull,
					found;
		uint32		eh = (uint32) DatumGetInt32(CdcGroupCol(r, 1, &isnull));
		BarrierPos *b = hash_search(h, &eh, HASH_ENTER, &found);

		if (!found)
		{
			b->lsn = DatumGetLSN(CdcGroupCol(r, 2, &isnull));
			b->seq = DatumGetInt32(CdcGroupCol(r, 3, &isnull));
		}
	}
	return h;
}

/* Is an entry of table ehash at (lsn, seq) behind an unfinished truncate? */
bool
CdcGroupBehindBarrier(HTAB *barriers, uint32 ehash, XLogRecPtr lsn, int32 seq)
{
	struct
	{
		uint32		ehash;
		XLogRecPtr	lsn;
		int32		seq;
	}		   *b = hash_search(barriers, &ehash, HASH_FIND, NULL);

	return b != NULL && CdcGroupPosCmp(b->lsn, b->seq, lsn, seq) < 0;
}

/* The first log partition that can hold a change after (lsn, *). */
int32
CdcGroupFirstChunk(XLogRecPtr lsn)
{
	Oid			types[] = {PG_LSNOID};
	Datum		values[] = {LSNGetDatum(lsn)};
	bool		isnull;
	Datum		d;

	RUN("SELECT min(chunk) FROM cdc.log_chunk "
		"WHERE last_commit_lsn IS NULL OR last_commit_lsn >= $1",
		types, values, NULL, SPI_OK_SELECT, 1);
	d = CdcGroupCol(0, 1, &isnull);
	return isnull ? 0 : DatumGetInt32(d);
}

CdcReadFilter *
CdcGroupReadFilter(CdcGroup *g, Oid role, bool numeric_as_string)
{
	CdcReadFilter *rf = CdcReadFilterCreate(role, list_make1(g->filter), g->messages,
											 numeric_as_string);

	CdcReadFilterSetAudience(rf, -g->id);
	return rf;
}

void
CdcGroupOutBegin(FunctionCallInfo fcinfo, GroupOut *out)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	out->store = rsinfo->setResult;
	out->desc = rsinfo->setDesc;
	memset(&out->skipped, 0, sizeof(out->skipped));
}
