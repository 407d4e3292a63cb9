/*
 * groups.c
 *		Consumer groups (DESIGN §11): several members share one stream of
 *		the change log with at-least-once delivery, leases, per-row ordering,
 *		acknowledgements, redelivery, claims and a dead-letter table.
 *
 * State (src/api/groups.sql): cdc.group_state (filters, acknowledged low
 * watermark, frontier), cdc.group_entry (one row per change of the group
 * between watermark and frontier: ready, leased or acknowledged),
 * cdc.group_member, cdc.group_dead_letter.
 *
 * Leasing without one lock for everybody.  cdc.read_group leases in two
 * phases, both in the caller's transaction:
 *   1. changes already known to the group (ready: never leased, nacked,
 *	  held back; or leased and expired), oldest first;
 *   2. when the batch is not full, new log rows after the frontier.  Only
 *	  this phase creates cdc.group_entry rows and moves the frontier, under
 *	  the group's frontier lock.  A member that finds it taken while it
 *	  already has something returns that; with nothing yet, it waits for
 *	  the holder's transaction (one short read), then continues after the
 *	  frontier that one left.
 * Members never wait for each other's entries: phase 1 takes a per-key
 * lock with a try (a key some other member is leasing right now is
 * skipped), and per-entry row updates only ever wait for an acknowledgement
 * or nack of that very row.  The locks are advisory-type lock tags in a
 * field4 space SQL's advisory functions cannot reach, taken for the
 * transaction, so a member that dies releases them with its backend.
 *
 * Per-row ordering (khash: hash of entity and entity_id).  A change is
 * leased to a member only if no other member holds a live lease on an
 * unacknowledged change of the same key and every earlier unacknowledged
 * change of the key is leased to that same member or leased with it, in
 * cursor order.  Truncates (barrier) wait for every earlier change of their
 * table, and every later change of the table waits for them.  Rows of a
 * table without a key share one key per table; messages are unordered.
 * The rules read committed state after taking the key's lock, which is why
 * read_group and claim need READ COMMITTED (a fresh snapshot per statement).
 *
 * Acknowledgement deletes the entry, in the caller's transaction, and takes
 * no group-wide lock.  A second acknowledgement of the same change finds
 * no entry; explain_position then tells "already acknowledged" (a log row
 * of the group between watermark and frontier, or a dead letter) from a
 * change that is not the group's.  The frontier holder moves the watermark
 * to the oldest entry left (lazily, in phase 2).
 *
 * Cost: every change of a group is a cdc.group_entry row, inserted when
 * first leased (or held back), updated only when leased again (HOT: no
 * index covers those columns) and deleted by its acknowledgement.  Deleted
 * rows stay in pages and indexes until vacuum, so every scan starts at the
 * watermark, statements joining a batch's positions are bounded by its
 * commit_lsns (lsn_bounds), and sequential scans are off in these
 * statements (few live rows in many pages would mislead the planner).
 * Measured in bench/groups/results.md: a lease and an ack of 100 changes
 * still cost about 8x a cdc.consume() batch (mostly the 100 insertions and
 * the 100 deletions), so groups pay off when the work per change is what
 * needs more workers.
 *
 * Security: like the consumer functions, these run as their caller, check
 * that the caller may use the group (owner, member of it, superuser) and
 * switch to the extension's owner only for their statements, with
 * search_path pinned (CdcOwnerBegin/End, consumer.c).  What a member
 * receives of a log row is decided by CdcReadFilterApply as the calling
 * role (src/api/privileges.c); a change the caller may not receive is
 * acknowledged for the group, as a consumer's checkpoint passes it.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/pg_lsn.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "cdc_api.h"

PG_FUNCTION_INFO_V1(cdc_create_group);
PG_FUNCTION_INFO_V1(cdc_drop_group);
PG_FUNCTION_INFO_V1(cdc_read_group);
PG_FUNCTION_INFO_V1(cdc_ack);
PG_FUNCTION_INFO_V1(cdc_ack_array);
PG_FUNCTION_INFO_V1(cdc_nack);
PG_FUNCTION_INFO_V1(cdc_nack_array);
PG_FUNCTION_INFO_V1(cdc_pending);
PG_FUNCTION_INFO_V1(cdc_claim);
PG_FUNCTION_INFO_V1(cdc_dead_letters);
PG_FUNCTION_INFO_V1(cdc_replay_dead_letters);
PG_FUNCTION_INFO_V1(cdc_reset_group);
PG_FUNCTION_INFO_V1(cdc_group_info);

/* field4 of the lock tags: outside SQL advisory locks' 1 and 2 */
#define GROUP_LOCK_FRONTIER 0xCDC0
#define GROUP_LOCK_KEY		0xCDC1

/* delivery_count: the column after cdc.change_entry's in read_group/claim */
#define GROUP_OUT_NCOLUMNS (CDC_ENTRY_NCOLUMNS + 1)

/*
 * Bounds of one phase 2: log rows looked at (rows the caller does not
 * receive are cheap: no entry) and rows held back (entries written ready,
 * behind a row another member holds), per leased row wanted.  Holding back
 * more would only grow the table that the next readers walk.
 */
#define GROUP_SCAN_FACTOR	16
#define GROUP_SCAN_MIN		1024
#define GROUP_HOLD_FACTOR	2

typedef struct CdcGroup
{
	int32		id;
	char	   *name;
	Oid			owner;
	CdcFilter  *filter;
	bool		messages;
	int32		max_deliveries;
	XLogRecPtr	ack_lsn;
	int32		ack_seq;
	XLogRecPtr	scan_lsn;
	int32		scan_seq;
	XLogRecPtr	gap_from;
	XLogRecPtr	gap_to;
	char	   *gap_reason;
} CdcGroup;

/* A change of the group as cdc.group_entry knows it. */
typedef struct Entry
{
	XLogRecPtr	commit_lsn;
	int32		seq;
	int32		chunk;
	uint32		khash;
	uint32		ehash;
	bool		barrier;
	char	   *member;			/* NULL: ready */
	bool		live;			/* lease not expired */
	int32		delivery_count;
	bool		replay;
	bool		take;
} Entry;

/* Positions in a batch, as parallel arrays for the statements' unnest(). */
typedef struct PosList
{
	int			n;
	int			cap;
	Datum	   *lsn;
	Datum	   *seq;
	Datum	   *chunk;
} PosList;

static int
pos_cmp(XLogRecPtr al, int32 as, XLogRecPtr bl, int32 bs)
{
	if (al != bl)
		return al < bl ? -1 : 1;
	return as < bs ? -1 : (as > bs ? 1 : 0);
}

static void
poslist_add(PosList *pl, XLogRecPtr lsn, int32 seq, int32 chunk)
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

static Datum
lsn_array(Datum *d, int n)
{
	return PointerGetDatum(construct_array(d, n, PG_LSNOID, sizeof(XLogRecPtr),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static Datum
int4_array(Datum *d, int n)
{
	return PointerGetDatum(construct_array(d, n, INT4OID, 4, true, TYPALIGN_INT));
}

static Datum
bool_array(Datum *d, int n)
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
static void
lsn_bounds(Datum *lsn, int n, Datum *lo, Datum *hi)
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
 * lsn_bounds(); position_types are their types.
 */
static Oid	position_types[] = {INT4OID, PG_LSNARRAYOID, INT4ARRAYOID, PG_LSNOID, PG_LSNOID};

static void
position_args(int32 grp, Datum *lsn, Datum *seq, int n, Datum *values)
{
	values[0] = Int32GetDatum(grp);
	values[1] = lsn_array(lsn, n);
	values[2] = int4_array(seq, n);
	lsn_bounds(lsn, n, &values[3], &values[4]);
}

/*
 * Run a statement through a plan prepared once per backend and kept in
 * *plan (CdcPreparePlan; the plan cache re-plans it after DDL, DROP/CREATE
 * EXTENSION included).  nulls: as for SPI_execute_plan, or NULL.
 */
static int
run(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
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

/*
 * Run a statement through a plan kept per call site (the static in each
 * expansion), with the plan options opts (hashed: see RUN_HASHED).
 */
#define RUN_WITH(opts, hashed, sql, types, values, nulls, expect, tcount) \
	do { \
		static SPIPlanPtr plan_ = NULL; \
		run(&plan_, (sql), lengthof(types), (types), (values), (nulls), (expect), (tcount), \
			(opts), (hashed)); \
	} while (0)
#define RUN(sql, types, values, nulls, expect, tcount) \
	RUN_WITH(0, false, sql, types, values, nulls, expect, tcount)

/*
 * Statements that join a batch's positions (unnest of arrays) to
 * cdc.group_entry.  Their generic plan, from statistics that see few live
 * entries, nests a rescan of the whole array inside a scan of the entries
 * (100 x 100 comparisons for a batch of 100: 1.5 ms of a 1.7 ms
 * acknowledgement).  RUN_HASHED: one generic plan, made and run without
 * nested loops and merge joins: the batch's stretch of the primary key
 * (lsn_bounds) is read once and hash-joined to the positions (0.25 ms, no
 * planning per call); for statements where a nested loop is wrong
 * everywhere.  RUN_CUSTOM: planned for each execution's values (about
 * 0.1 ms of planning), for statements that also join elsewhere.
 */
#define RUN_HASHED(sql, types, values, nulls, expect, tcount) \
	RUN_WITH(CURSOR_OPT_GENERIC_PLAN, true, sql, types, values, nulls, expect, tcount)
/*
 * One generic plan, for statements whose custom plans are no better but
 * would be made again for every call, 0.1 to 0.2 ms each (the log read:
 * run-time partition pruning does what a custom plan would; the candidates
 * of phase 1; the per-key lookup of phase 2).
 */
#define RUN_GENERIC(sql, types, values, nulls, expect, tcount) \
	RUN_WITH(CURSOR_OPT_GENERIC_PLAN, false, sql, types, values, nulls, expect, tcount)
#define RUN_CUSTOM(sql, types, values, nulls, expect, tcount) \
	RUN_WITH(CURSOR_OPT_CUSTOM_PLAN, false, sql, types, values, nulls, expect, tcount)

static Datum
get_col(int row, int col, bool *isnull)
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
static void
group_owner_begin(CdcOwnerScope *scope)
{
	CdcOwnerBegin(scope);
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	/* the caller's plan_cache_mode would override RUN_CUSTOM */
	(void) set_config_option("plan_cache_mode", "auto", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/* ---- arguments (the shared kinds are in args.c) ---- */

#define INTERVAL_HINT "Give an interval such as '30 s'."

static char *
text_arg(FunctionCallInfo fcinfo, int n, const char *argname)
{
	CdcRequireArg(fcinfo, n, argname,
				  strcmp(argname, "group") == 0 || strcmp(argname, "name") == 0 ?
				  "SELECT name FROM cdc.groups lists the groups you may use." :
				  "A member is the name a worker gives itself, such as 'worker-1'.");
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

static int32
positive_int_arg(FunctionCallInfo fcinfo, int n, const char *argname)
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

/* ---- the group ---- */

#define GROUP_COLUMNS \
	"id, owner, entities, exclude_entities, operations::text[], max_deliveries, " \
	"ack_lsn, ack_seq, scan_lsn, scan_seq, gap_from, gap_to, gap_reason, name "

static void
group_from_row(CdcGroup *g)
{
	bool		isnull;
	Datum		d;

	g->id = DatumGetInt32(get_col(0, 1, &isnull));
	g->owner = DatumGetObjectId(get_col(0, 2, &isnull));
	g->filter = palloc0(sizeof(CdcFilter));
	g->filter->entities = CdcSpiTextList(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	g->filter->exclude_entities = CdcSpiTextList(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);
	g->filter->operations =
		CdcOperationLabelsToMask(CdcSpiTextList(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5),
								 &g->messages);
	g->max_deliveries = DatumGetInt32(get_col(0, 6, &isnull));
	g->ack_lsn = DatumGetLSN(get_col(0, 7, &isnull));
	g->ack_seq = DatumGetInt32(get_col(0, 8, &isnull));
	g->scan_lsn = DatumGetLSN(get_col(0, 9, &isnull));
	g->scan_seq = DatumGetInt32(get_col(0, 10, &isnull));
	d = get_col(0, 11, &isnull);
	g->gap_from = isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
	d = get_col(0, 12, &isnull);
	g->gap_to = isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
	d = get_col(0, 13, &isnull);
	g->gap_reason = isnull ? NULL : TextDatumGetCString(d);
	g->name = TextDatumGetCString(get_col(0, 14, &isnull));
}

/*
 * Load the group the invoker may use, or raise the error saying why not.
 * Another role's group is reported as not existing, so names do not leak.
 */
static void
group_require(CdcOwnerScope *scope, const char *name, bool for_update, CdcGroup *g)
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
	group_from_row(g);
}

/* The same group again, after waiting for a lock (fresh snapshot). */
static void
group_reload(CdcGroup *g)
{
	Oid			types[] = {INT4OID};
	Datum		values[] = {Int32GetDatum(g->id)};

	RUN("SELECT " GROUP_COLUMNS "FROM cdc.group_state WHERE id = $1",
		types, values, NULL, SPI_OK_SELECT, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer group \"%s\" was dropped", g->name)));
	group_from_row(g);
}

/*
 * The horizon (DESIGN §10): changes that committed before cdc.log_state's
 * oldest_lsn are gone.  A group that had not finished with one of them has
 * a gap: recorded by the horizon hook (CdcGroupsHorizon), or found here when
 * the watermark is behind the horizon and either the frontier is too (rows
 * the group never looked at are gone) or an unacknowledged change is.
 */
static void
group_check_gap(CdcGroup *g)
{
	XLogRecPtr	oldest;
	XLogRecPtr	from = g->gap_from,
				to = g->gap_to;
	const char *why = g->gap_reason;

	if (XLogRecPtrIsInvalid(from))
	{
		oldest = CdcLogOldestLsn();
		if (g->ack_lsn >= oldest)
			return;
		if (pos_cmp(g->scan_lsn, g->scan_seq, oldest, 0) >= 0)
		{
			Oid			types[] = {INT4OID, PG_LSNOID};
			Datum		values[] = {Int32GetDatum(g->id), LSNGetDatum(oldest)};

			RUN("SELECT 1 FROM cdc.group_entry WHERE grp = $1 AND NOT acked "
				"AND NOT replay AND commit_lsn < $2 LIMIT 1",
				types, values, NULL, SPI_OK_SELECT, 1);
			if (SPI_processed == 0)
				return;
		}
		from = g->ack_lsn;
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
			 errhint("Re-sync the group's target from a snapshot of the tables, then continue from the oldest retained change with SELECT cdc.reset_group('%s');",
					 g->name)));
}

/* Remember a member (for cdc.groups); names are checked first. */
static void
member_seen(CdcGroup *g, const char *member)
{
	Oid			types[] = {INT4OID, TEXTOID};
	Datum		values[] = {Int32GetDatum(g->id), CStringGetTextDatum(member)};

	/* last_seen to the second: no row version per read */
	RUN("INSERT INTO cdc.group_member AS m (grp, member) VALUES ($1, $2) "
		"ON CONFLICT (grp, member) DO UPDATE SET last_seen = now() "
		"WHERE m.last_seen < now() - interval '1 s'",
		types, values, NULL, SPI_OK_INSERT, 0);
}

static void
member_require(CdcGroup *g, const char *member)
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

/* ---- keys and locks ---- */

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
static void
row_keys(Datum *lv, bool *ln, uint32 *khash, uint32 *ehash)
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
 * operation is compared as an OID, not turned into text.
 */
static Oid
truncate_op_oid(void)
{
	Oid			enum_type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
											CStringGetDatum("operation"),
											ObjectIdGetDatum(get_namespace_oid("cdc", false)));
	Oid			oid = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
									  ObjectIdGetDatum(enum_type),
									  CStringGetDatum("truncate"));

	if (!OidIsValid(oid))
		elog(ERROR, "cdc_ext: enum label cdc.operation 'truncate' is missing");
	return oid;
}

/* Is a log row's operation (a cdc.operation Datum) a truncate? */
static inline bool
op_is_truncate(Datum op, Oid truncate_op)
{
	return DatumGetObjectId(op) == truncate_op;
}

/* Take (for the transaction) one of the group's locks; false when busy. */
static bool
group_lock(CdcGroup *g, uint32 key, uint16 kind, bool wait)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) g->id, key, kind);
	return LockAcquire(&tag, ExclusiveLock, false, !wait) != LOCKACQUIRE_NOT_AVAIL;
}

static void
require_read_committed(const char *fn)
{
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("%s must run at isolation level READ COMMITTED", fn),
				 errdetail("It reads the leases other members committed after taking their locks."),
				 errhint("Call it in its own READ COMMITTED transaction, and acknowledge in the sink's transaction at any level.")));
}

/* ---- delivery ---- */

/* Output of read_group and claim. */
typedef struct Out
{
	Tuplestorestate *store;
	TupleDesc	desc;
	CdcReadFilter *rf;
	PosList		skipped;		/* delivered to nobody: the caller may not see them */
} Out;

/*
 * Fetch the log rows at the positions leased (sorted) and put what the
 * caller receives of them into the output with their delivery counts.
 * Rows the caller may not receive are collected in out->skipped.
 */
static void
deliver(CdcGroup *g, Out *out, PosList *pl, int32 *counts, bool *replay)
{
	PosList		fromlog = {0},
				fromdl = {0};
	int32	   *cl,
			   *cd;
	int			nl = 0,
				nd = 0;

	if (pl->n == 0)
		return;
	cl = palloc(pl->n * sizeof(int32));
	cd = palloc(pl->n * sizeof(int32));
	for (int i = 0; i < pl->n; i++)
	{
		if (replay[i])
		{
			poslist_add(&fromdl, DatumGetLSN(pl->lsn[i]), DatumGetInt32(pl->seq[i]), DatumGetInt32(pl->chunk[i]));
			cd[nd++] = counts[i];
		}
		else
		{
			poslist_add(&fromlog, DatumGetLSN(pl->lsn[i]), DatumGetInt32(pl->seq[i]), DatumGetInt32(pl->chunk[i]));
			cl[nl++] = counts[i];
		}
	}

	/* replayed dead letters first: they are older than anything in the log */
	for (int pass = 0; pass < 2; pass++)
	{
		PosList    *src = pass == 0 ? &fromdl : &fromlog;
		int32	   *cnt = pass == 0 ? cd : cl;
		int			j = 0;

		if (src->n == 0)
			continue;
		if (pass == 0)
		{
			Oid			types[] = {INT4OID, PG_LSNARRAYOID, INT4ARRAYOID};
			Datum		values[] = {Int32GetDatum(g->id), lsn_array(src->lsn, src->n),
			int4_array(src->seq, src->n)};

			RUN("SELECT " CDC_LOG_COLUMNS_OF("d.") " "
				"FROM cdc.group_dead_letter d "
				"JOIN unnest($2::pg_lsn[], $3::integer[]) AS u(c, s) "
				"ON d.commit_lsn = u.c AND d.seq = u.s WHERE d.grp = $1 "
				"ORDER BY d.commit_lsn, d.seq",
				types, values, NULL, SPI_OK_SELECT, 0);
		}
		else
		{
			Oid			types[] = {PG_LSNARRAYOID, INT4ARRAYOID, INT4ARRAYOID};
			Datum		values[] = {lsn_array(src->lsn, src->n), int4_array(src->seq, src->n),
			int4_array(src->chunk, src->n)};

			RUN("SELECT " CDC_LOG_COLUMNS_OF("l.") " "
				"FROM unnest($1::pg_lsn[], $2::integer[], $3::integer[]) AS u(c, s, k) "
				"JOIN cdc.log l ON l.commit_lsn = u.c AND l.seq = u.s AND l.chunk = u.k "
				"ORDER BY l.commit_lsn, l.seq",
				types, values, NULL, SPI_OK_SELECT, 0);
		}

		for (uint64 r = 0; r < SPI_processed; r++)
		{
			Datum		lv[CDC_LOG_NCOLUMNS];
			bool		ln[CDC_LOG_NCOLUMNS];
			Datum		ev[GROUP_OUT_NCOLUMNS];
			bool		en[GROUP_OUT_NCOLUMNS];
			XLogRecPtr	c;
			int32		s;

			heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, lv, ln);
			c = DatumGetLSN(lv[CDC_LOG_COMMIT_LSN]);
			s = DatumGetInt32(lv[CDC_LOG_SEQ]);
			/* both lists are sorted: find this row's delivery count */
			while (j < src->n &&
				   pos_cmp(DatumGetLSN(src->lsn[j]), DatumGetInt32(src->seq[j]), c, s) < 0)
				j++;
			if (!CdcReadFilterApply(out->rf, lv, ln, ev, en))
			{
				poslist_add(&out->skipped, c, s, DatumGetInt32(lv[CDC_LOG_CHUNK]));
				continue;
			}
			ev[CDC_ENTRY_NCOLUMNS] = Int32GetDatum(j < src->n ? cnt[j] : 1);
			en[CDC_ENTRY_NCOLUMNS] = false;
			tuplestore_putvalues(out->store, out->desc, ev, en);
		}
	}
}

/* Acknowledge for the group what the caller may not receive (see ack_positions). */
static void
ack_skipped(CdcGroup *g, PosList *pl)
{
	Datum		values[5];

	if (pl->n == 0)
		return;
	position_args(g->id, pl->lsn, pl->seq, pl->n, values);
	RUN_HASHED("DELETE FROM cdc.group_entry e "
		"USING unnest($2::pg_lsn[], $3::integer[]) AS u(c, s) "
		"WHERE e.grp = $1 AND e.commit_lsn = u.c AND e.seq = u.s "
		"AND e.commit_lsn BETWEEN $4 AND $5",
		position_types, values, NULL, SPI_OK_DELETE, 0);
	pl->n = 0;
}

/*
 * Move to the dead-letter table the entries (sorted positions) that were
 * delivered max_deliveries times: a log entry is copied and acknowledged
 * for the group (its entry deleted); a replayed dead letter goes back to
 * being dead.
 */
static void
dead_letter(CdcGroup *g, PosList *pl)
{
	Datum		values[5];

	if (pl->n == 0)
		return;
	position_args(g->id, pl->lsn, pl->seq, pl->n, values);
	RUN_CUSTOM("WITH d AS (DELETE FROM cdc.group_entry e "
		"  USING unnest($2::pg_lsn[], $3::integer[]) AS u(c, s) "
		"  WHERE e.grp = $1 AND e.commit_lsn = u.c AND e.seq = u.s AND NOT e.acked AND NOT e.replay "
		"  AND e.commit_lsn BETWEEN $4 AND $5 "
		"  RETURNING e.commit_lsn, e.seq, e.chunk, e.delivery_count, "
		"    coalesce(e.member, e.last_member) AS member, e.replay), "
		"dr AS (DELETE FROM cdc.group_entry e USING unnest($2::pg_lsn[], $3::integer[]) AS u(c, s) "
		"  WHERE e.grp = $1 AND e.commit_lsn = u.c AND e.seq = u.s AND NOT e.acked AND e.replay "
		"  AND e.commit_lsn BETWEEN $4 AND $5 "
		"  RETURNING e.commit_lsn, e.seq, e.delivery_count, "
		"    coalesce(e.member, e.last_member) AS member), "
		"r AS (UPDATE cdc.group_dead_letter dl SET replaying = false, "
		"  delivery_count = dr.delivery_count, last_member = dr.member, moved_at = now() "
		"  FROM dr WHERE dl.grp = $1 AND dl.commit_lsn = dr.commit_lsn AND dl.seq = dr.seq) "
		"INSERT INTO cdc.group_dead_letter (grp, " CDC_LOG_COLUMNS ", "
		"  delivery_count, last_member) "
		"SELECT $1, " CDC_LOG_COLUMNS_OF("l.") ", d.delivery_count, d.member "
		"FROM d JOIN cdc.log l ON l.commit_lsn = d.commit_lsn AND l.seq = d.seq AND l.chunk = d.chunk "
		"WHERE NOT d.replay",
		position_types, values, NULL, SPI_OK_INSERT, 0);
	/* a dead letter is acknowledged for the group: its later changes may go */
}

/* ---- phase 1: entries the group already has ---- */

static Entry *
entry_from_row(int r, TimestampTz now)
{
	Entry	   *e = palloc0(sizeof(Entry));
	bool		isnull;
	Datum		d;

	e->commit_lsn = DatumGetLSN(get_col(r, 1, &isnull));
	e->seq = DatumGetInt32(get_col(r, 2, &isnull));
	e->chunk = DatumGetInt32(get_col(r, 3, &isnull));
	e->khash = (uint32) DatumGetInt32(get_col(r, 4, &isnull));
	e->ehash = (uint32) DatumGetInt32(get_col(r, 5, &isnull));
	e->barrier = DatumGetBool(get_col(r, 6, &isnull));
	d = get_col(r, 7, &isnull);
	e->member = isnull ? NULL : TextDatumGetCString(d);
	d = get_col(r, 8, &isnull);
	e->live = !isnull && e->member != NULL && DatumGetTimestampTz(d) > now;
	e->delivery_count = DatumGetInt32(get_col(r, 9, &isnull));
	e->replay = DatumGetBool(get_col(r, 10, &isnull));
	return e;
}

#define ENTRY_COLUMNS \
	"commit_lsn, seq, chunk, khash, ehash, barrier, member, lease_until, delivery_count, replay"

/* Earliest unacknowledged truncate per table (ehash), from the group's entries. */
static HTAB *
pending_barriers(CdcGroup *g)
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
		uint32		eh = (uint32) DatumGetInt32(get_col(r, 1, &isnull));
		BarrierPos *b = hash_search(h, &eh, HASH_ENTER, &found);

		if (!found)
		{
			b->lsn = DatumGetLSN(get_col(r, 2, &isnull));
			b->seq = DatumGetInt32(get_col(r, 3, &isnull));
		}
	}
	return h;
}

/* Is an entry of table ehash at (lsn, seq) behind an unfinished truncate? */
static bool
behind_barrier(HTAB *barriers, uint32 ehash, XLogRecPtr lsn, int32 seq)
{
	struct
	{
		uint32		ehash;
		XLogRecPtr	lsn;
		int32		seq;
	}		   *b = hash_search(barriers, &ehash, HASH_FIND, NULL);

	return b != NULL && pos_cmp(b->lsn, b->seq, lsn, seq) < 0;
}

/* For a truncate: is any change of its table before it unfinished? */
static bool
table_has_earlier(CdcGroup *g, uint32 ehash, XLogRecPtr lsn, int32 seq)
{
	Oid			types[] = {INT4OID, INT4OID, PG_LSNOID, INT4OID};
	Datum		values[] = {Int32GetDatum(g->id), Int32GetDatum((int32) ehash),
	LSNGetDatum(lsn), Int32GetDatum(seq)};

	RUN("SELECT 1 FROM cdc.group_entry WHERE grp = $1 AND ehash = $2 AND NOT acked "
		"AND (commit_lsn, seq) < ($3, $4) LIMIT 1",
		types, values, NULL, SPI_OK_SELECT, 1);
	return SPI_processed > 0;
}

static int
entry_cmp(const ListCell *a, const ListCell *b)
{
	Entry	   *x = lfirst(a),
			   *y = lfirst(b);

	return pos_cmp(x->commit_lsn, x->seq, y->commit_lsn, y->seq);
}

/*
 * Lease the keys' entries that the ordering rules let this member have, up
 * to want.  keys: the khashes locked; cutoff: take nothing after it (the
 * cursor-order window of the candidates).  for_claim: take entries leased
 * by other members (idle since before idle_before) instead of ready ones.
 * Returns the sorted positions taken, split into "lease" and "dead".
 */
static void
decide_keys(CdcGroup *g, const char *member, List *keys, XLogRecPtr cut_lsn, int32 cut_seq,
			int want, TimestampTz now, bool for_claim, const char *from_member,
			TimestampTz idle_before, List **lease, List **dead)
{
	Datum	   *kd;
	int			nk = list_length(keys),
				i = 0;
	List	   *all = NIL;
	HTAB	   *barriers = pending_barriers(g);
	ListCell   *lc;
	int			taken = 0;

	*lease = NIL;
	*dead = NIL;
	if (nk == 0)
		return;
	kd = palloc(nk * sizeof(Datum));
	foreach(lc, keys)
		kd[i++] = Int32GetDatum((int32) lfirst_oid(lc));

	{
		Oid			types[] = {INT4OID, INT4ARRAYOID, PG_LSNOID, INT4OID};
		Datum		values[] = {Int32GetDatum(g->id), int4_array(kd, nk),
		LSNGetDatum(g->ack_lsn), Int32GetDatum(g->ack_seq)};

		/*
		 * above the watermark (see advance_watermark), and replayed dead
		 * letters (khash + 0: through the small replay index, not the key
		 * index, which a generic plan would otherwise walk once per key)
		 */
		RUN("SELECT * FROM ("
			" SELECT " ENTRY_COLUMNS ", delivered_at FROM cdc.group_entry "
			" WHERE grp = $1 AND khash = ANY ($2) AND (commit_lsn, seq) > ($3, $4) AND NOT acked "
			" UNION ALL "
			" SELECT " ENTRY_COLUMNS ", delivered_at FROM cdc.group_entry "
			" WHERE grp = $1 AND replay AND (commit_lsn, seq) <= ($3, $4) AND khash + 0 = ANY ($2) "
			" AND NOT acked) k "
			"ORDER BY khash, commit_lsn, seq",
			types, values, NULL, SPI_OK_SELECT, 0);
	}

	/* walk each key's entries in cursor order (rows come grouped by key) */
	for (uint64 r = 0; r < SPI_processed;)
	{
		uint64		start = r;
		uint32		kh = (uint32) DatumGetInt32(get_col(r, 4, &(bool){false}));
		List	   *ents = NIL;
		bool		blocked = false;

		while (r < SPI_processed &&
			   (uint32) DatumGetInt32(get_col(r, 4, &(bool){false})) == kh)
		{
			Entry	   *e = entry_from_row(r, now);
			bool		isnull;
			Datum		d = get_col(r, 11, &isnull);

			/* for claims, "live" means: delivered less than min_idle ago */
			if (for_claim && e->member && !isnull)
				e->live = DatumGetTimestampTz(d) > idle_before;
			ents = lappend(ents, e);
			r++;
		}
		(void) start;

		/* does some other member hold this key? */
		foreach(lc, ents)
		{
			Entry	   *e = lfirst(lc);

			if (!for_claim && e->live && strcmp(e->member, member) != 0)
				blocked = true;
			if (for_claim && e->member && strcmp(e->member, member) != 0 &&
				(e->live || (from_member && strcmp(e->member, from_member) != 0)))
				blocked = true;
		}
		if (blocked)
			continue;

		foreach(lc, ents)
		{
			Entry	   *e = lfirst(lc);

			if (!for_claim && pos_cmp(e->commit_lsn, e->seq, cut_lsn, cut_seq) > 0)
				break;
			if (for_claim)
			{
				/* every lease of another member on the key moves over */
				if (e->member == NULL || strcmp(e->member, member) == 0)
					continue;
			}
			else
			{
				if (e->live)
					continue;	/* mine already, in flight */
				if (!e->replay && behind_barrier(barriers, e->ehash, e->commit_lsn, e->seq))
					break;
				if (e->barrier && table_has_earlier(g, e->ehash, e->commit_lsn, e->seq))
					break;
			}
			e->take = true;
			all = lappend(all, e);
		}
	}

	list_sort(all, entry_cmp);
	foreach(lc, all)
	{
		Entry	   *e = lfirst(lc);

		if (e->delivery_count >= g->max_deliveries)
			*dead = lappend(*dead, e);
		else if (taken < want || for_claim)
		{
			*lease = lappend(*lease, e);
			taken++;
		}
	}
}

/*
 * Lease the given entries (sorted) to member; only rows still in the state
 * decided (not acknowledged meanwhile) are leased.  Returns them, sorted,
 * with their new delivery counts.
 */
static void
lease_entries(CdcGroup *g, const char *member, List *ents, TimestampTz now,
			  TimestampTz until, bool for_claim, PosList *out, int32 **counts, bool **replay)
{
	PosList		pl = {0};
	ListCell   *lc;
	Oid			types[] = {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	PG_LSNARRAYOID, INT4ARRAYOID, BOOLOID, PG_LSNOID, PG_LSNOID};
	Datum		values[9];

	*counts = NULL;
	*replay = NULL;
	if (ents == NIL)
		return;
	foreach(lc, ents)
	{
		Entry	   *e = lfirst(lc);

		poslist_add(&pl, e->commit_lsn, e->seq, e->chunk);
	}
	values[0] = Int32GetDatum(g->id);
	values[1] = CStringGetTextDatum(member);
	values[2] = TimestampTzGetDatum(now);
	values[3] = TimestampTzGetDatum(until);
	values[4] = lsn_array(pl.lsn, pl.n);
	values[5] = int4_array(pl.seq, pl.n);
	values[6] = BoolGetDatum(for_claim);
	lsn_bounds(pl.lsn, pl.n, &values[7], &values[8]);
	RUN_HASHED("UPDATE cdc.group_entry e SET member = $2, last_member = $2, lease_until = $4, delivered_at = $3, "
		"  delivery_count = e.delivery_count + 1 "
		"FROM unnest($5::pg_lsn[], $6::integer[]) AS u(c, s) "
		"WHERE e.grp = $1 AND e.commit_lsn = u.c AND e.seq = u.s AND NOT e.acked "
		"  AND e.commit_lsn BETWEEN $8 AND $9 "
		"  AND CASE WHEN $7 THEN e.member IS NOT NULL AND e.member <> $2 "
		"      ELSE e.member IS NULL OR e.lease_until <= $3 END "
		"RETURNING e.commit_lsn, e.seq, e.chunk, e.delivery_count, e.replay",
		types, values, NULL, SPI_OK_UPDATE_RETURNING, 0);

	/* sort what came back (RETURNING order is the join's) */
	{
		int			n = (int) SPI_processed;
		List	   *rows = NIL;

		*counts = palloc(Max(n, 1) * sizeof(int32));
		*replay = palloc(Max(n, 1) * sizeof(bool));
		for (int r = 0; r < n; r++)
		{
			Entry	   *e = palloc0(sizeof(Entry));
			bool		isnull;

			e->commit_lsn = DatumGetLSN(get_col(r, 1, &isnull));
			e->seq = DatumGetInt32(get_col(r, 2, &isnull));
			e->chunk = DatumGetInt32(get_col(r, 3, &isnull));
			e->delivery_count = DatumGetInt32(get_col(r, 4, &isnull));
			e->replay = DatumGetBool(get_col(r, 5, &isnull));
			rows = lappend(rows, e);
		}
		list_sort(rows, entry_cmp);
		foreach(lc, rows)
		{
			Entry	   *e = lfirst(lc);

			(*counts)[out->n] = e->delivery_count;
			(*replay)[out->n] = e->replay;
			poslist_add(out, e->commit_lsn, e->seq, e->chunk);
		}
	}
}

static PosList
entries_to_poslist(List *ents)
{
	PosList		pl = {0};
	ListCell   *lc;

	foreach(lc, ents)
	{
		Entry	   *e = lfirst(lc);

		poslist_add(&pl, e->commit_lsn, e->seq, e->chunk);
	}
	return pl;
}

/*
 * Phase 1 (and claims): candidates in cursor order, their keys locked with a
 * try, the keys' entries read again under the locks and leased by the
 * ordering rules.  Returns how many were leased; *ndead: how many were
 * moved to the dead letters instead.
 */
static int
lease_known_once(CdcGroup *g, const char *member, int want, TimestampTz now, TimestampTz until,
				 bool for_claim, const char *from_member, TimestampTz idle_before, Out *out,
				 int *ndead)
{
	List	   *keys = NIL;
	XLogRecPtr	cut_lsn = InvalidXLogRecPtr;
	int32		cut_seq = 0;
	List	   *lease,
			   *dead;
	PosList		leased = {0};
	int32	   *counts;
	bool	   *replay;
	PosList		dl;

	if (for_claim)
	{
		Oid			types[] = {INT4OID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT4OID};
		Datum		values[] = {Int32GetDatum(g->id), CStringGetTextDatum(member),
			from_member ? CStringGetTextDatum(from_member) : (Datum) 0,
		TimestampTzGetDatum(idle_before), Int32GetDatum(want)};
		char		nulls[] = {' ', ' ', from_member ? ' ' : 'n', ' ', ' '};

		RUN("SELECT commit_lsn, seq, khash FROM cdc.group_entry "
			"WHERE grp = $1 AND NOT acked AND member IS NOT NULL AND member <> $2 "
			"AND ($3::text IS NULL OR member = $3) AND delivered_at <= $4 "
			"ORDER BY commit_lsn, seq LIMIT $5",
			types, values, nulls, SPI_OK_SELECT, 0);
	}
	else
	{
		Oid			types[] = {INT4OID, TIMESTAMPTZOID, INT4OID, TEXTOID, PG_LSNOID, INT4OID};
		Datum		values[] = {Int32GetDatum(g->id), TimestampTzGetDatum(now), Int32GetDatum(want),
			CStringGetTextDatum(member), LSNGetDatum(g->ack_lsn),
		Int32GetDatum(g->ack_seq)};

		/*
		 * Skip the keys another member holds here already, so that a backlog
		 * held back behind one busy row does not hide the rest.
		 */
		RUN_GENERIC("SELECT * FROM ("
			" (SELECT e.commit_lsn, e.seq, e.khash FROM cdc.group_entry e "
			"  WHERE e.grp = $1 AND (e.commit_lsn, e.seq) > ($5, $6) "
			"  AND NOT e.acked AND (e.member IS NULL OR e.lease_until <= $2) "
			"  AND NOT EXISTS (SELECT 1 FROM cdc.group_entry o WHERE o.grp = $1 "
			"    AND o.khash = e.khash AND NOT o.acked AND o.member <> $4 AND o.lease_until > $2) "
			"  ORDER BY e.commit_lsn, e.seq LIMIT $3) "
			" UNION ALL "
			" (SELECT e.commit_lsn, e.seq, e.khash FROM cdc.group_entry e "
			"  WHERE e.grp = $1 AND e.replay AND (e.commit_lsn, e.seq) <= ($5, $6) "
			"  AND NOT e.acked AND (e.member IS NULL OR e.lease_until <= $2) "
			"  AND NOT EXISTS (SELECT 1 FROM cdc.group_entry o WHERE o.grp = $1 "
			"    AND o.khash = e.khash AND NOT o.acked AND o.member <> $4 AND o.lease_until > $2))"
			") c ORDER BY commit_lsn, seq LIMIT $3",
			types, values, NULL, SPI_OK_SELECT, 0);
	}
	*ndead = 0;
	if (SPI_processed == 0)
		return 0;

	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		uint32		kh = (uint32) DatumGetInt32(get_col(r, 3, &isnull));

		cut_lsn = DatumGetLSN(get_col(r, 1, &isnull));
		cut_seq = DatumGetInt32(get_col(r, 2, &isnull));
		if (list_member_oid(keys, (Oid) kh))
			continue;
		/* a key another member is leasing right now is skipped, not waited for */
		if (group_lock(g, kh, GROUP_LOCK_KEY, false))
			keys = lappend_oid(keys, (Oid) kh);
	}
	if (keys == NIL)
		return 0;

	decide_keys(g, member, keys, cut_lsn, cut_seq, want, now, for_claim, from_member,
				idle_before, &lease, &dead);
	dl = entries_to_poslist(dead);
	*ndead = dl.n;
	dead_letter(g, &dl);
	lease_entries(g, member, lease, now, until, for_claim, &leased, &counts, &replay);
	deliver(g, out, &leased, counts, replay);
	return leased.n;
}

/*
 * Phase 1: as lease_known_once, again while candidates went to the dead
 * letters and the batch is not full.  A candidate past max_deliveries takes
 * no room in the batch: the next ready changes, older than anything at the
 * frontier, fill it ("oldest first").
 */
static int
lease_known(CdcGroup *g, const char *member, int want, TimestampTz now, TimestampTz until,
			bool for_claim, const char *from_member, TimestampTz idle_before, Out *out)
{
	int			got = 0;
	int			ndead;

	do
	{
		got += lease_known_once(g, member, want - got, now, until, for_claim, from_member,
								idle_before, out, &ndead);
	} while (!for_claim && ndead > 0 && got < want);
	return got;
}

/* ---- phase 2: new log rows after the frontier ---- */

typedef struct KeyState
{
	uint32		hash;
	char		state;			/* 'l' leased in this batch, 'r' held back */
} KeyState;

typedef struct TableState
{
	uint32		hash;
	bool		any;			/* some change of it in this batch */
	bool		barrier;		/* a truncate of it in this batch */
} TableState;

/*
 * Move the watermark to just before the oldest unacknowledged entry (or to
 * the frontier).  Acknowledged entries are gone already (deleted by the
 * acknowledgement); rows marked acked by builds before that stay until the
 * horizon passes them (CdcGroupsHorizon) and are skipped meanwhile.
 */
static void
advance_watermark(CdcGroup *g)
{
	XLogRecPtr	wl = g->scan_lsn;
	int32		ws = g->scan_seq;

	/*
	 * Scans start at the watermark: below it are only the index entries of
	 * rows already deleted (until vacuum), which a scan from the group's
	 * start would walk every time.
	 */
	{
		Oid			t1[] = {INT4OID, PG_LSNOID, INT4OID};
		Datum		v1[] = {Int32GetDatum(g->id), LSNGetDatum(g->ack_lsn), Int32GetDatum(g->ack_seq)};

		RUN("SELECT commit_lsn, seq FROM cdc.group_entry WHERE grp = $1 "
			"AND (commit_lsn, seq) > ($2, $3) AND NOT acked "
			"AND NOT replay ORDER BY commit_lsn, seq LIMIT 1",
			t1, v1, NULL, SPI_OK_SELECT, 1);
	}
	if (SPI_processed > 0)
	{
		bool		isnull;

		wl = DatumGetLSN(get_col(0, 1, &isnull));
		ws = DatumGetInt32(get_col(0, 2, &isnull)) - 1;
	}
	if (pos_cmp(wl, ws, g->ack_lsn, g->ack_seq) <= 0)
		return;
	g->ack_lsn = wl;
	g->ack_seq = ws;
}

static void
save_positions(CdcGroup *g)
{
	Oid			types[] = {INT4OID, PG_LSNOID, INT4OID, PG_LSNOID, INT4OID};
	Datum		values[] = {Int32GetDatum(g->id), LSNGetDatum(g->ack_lsn), Int32GetDatum(g->ack_seq),
	LSNGetDatum(g->scan_lsn), Int32GetDatum(g->scan_seq)};

	RUN("UPDATE cdc.group_state SET ack_lsn = $2, ack_seq = $3, scan_lsn = $4, scan_seq = $5 "
		"WHERE id = $1",
		types, values, NULL, SPI_OK_UPDATE, 0);
}

/* The first log partition that can hold a change after (lsn, *). */
static int32
first_chunk(XLogRecPtr lsn)
{
	Oid			types[] = {PG_LSNOID};
	Datum		values[] = {LSNGetDatum(lsn)};
	bool		isnull;
	Datum		d;

	RUN("SELECT min(chunk) FROM cdc.log_chunk "
		"WHERE last_commit_lsn IS NULL OR last_commit_lsn >= $1",
		types, values, NULL, SPI_OK_SELECT, 1);
	d = get_col(0, 1, &isnull);
	return isnull ? 0 : DatumGetInt32(d);
}

/*
 * Phase 2, under the frontier lock: look at log rows after the frontier,
 * create an entry for each the caller receives (leased to it when the
 * ordering rules allow, else ready), move the frontier over all of them.
 * Returns how many were leased; *moved: whether anything was written.
 */
static int
lease_new(CdcGroup *g, const char *member, int want, TimestampTz now, TimestampTz until,
		  Out *out, bool *moved)
{
	int			leased = 0;
	int			scanned = 0;
	int			scan_cap = Max(want * GROUP_SCAN_FACTOR, GROUP_SCAN_MIN);
	int			held = 0;
	int			hold_cap = want * GROUP_HOLD_FACTOR;
	HASHCTL		ctl = {0};
	HTAB	   *kstate,
			   *tstate;
	HTAB	   *barriers = pending_barriers(g);
	Oid			truncate_op = truncate_op_oid();
	XLogRecPtr	ack_lsn0 = g->ack_lsn,
				scan_lsn0 = g->scan_lsn;
	int32		ack_seq0 = g->ack_seq,
				scan_seq0 = g->scan_seq;

	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(KeyState);
	ctl.hcxt = CurrentMemoryContext;
	kstate = hash_create("cdc group keys", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.entrysize = sizeof(TableState);
	tstate = hash_create("cdc group tables", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	advance_watermark(g);

	while (leased < want && scanned < scan_cap && held < hold_cap)
	{
		int			block = Min(want - leased + 16, scan_cap - scanned);
		int			nrows;
		SPITupleTable *rows;
		Datum	  **lvs;
		bool	  **lns;
		Datum	  **evs;
		bool	  **ens;
		uint32	   *kh,
				   *eh;
		bool	   *pass;
		Datum	   *kd;
		int			nkd = 0;
		HTAB	   *dbkeys;
		bool		need_tables = false;
		int			last = -1;
		Datum	   *ic,
				   *is,
				   *ik,
				   *ikh,
				   *ieh,
				   *ib,
				   *il;
		int			ni = 0;
		PosList		lease_pl = {0};

		{
			Oid			types[] = {PG_LSNOID, INT4OID, INT4OID, INT4OID};
			Datum		values[] = {LSNGetDatum(g->scan_lsn), Int32GetDatum(g->scan_seq),
				Int32GetDatum(first_chunk(g->scan_lsn)), Int32GetDatum(block)};

			RUN_GENERIC("SELECT " CDC_LOG_COLUMNS " "
				"FROM cdc.log WHERE (commit_lsn, seq) > ($1, $2) AND chunk >= $3 "
				"ORDER BY commit_lsn, seq LIMIT $4",
				types, values, NULL, SPI_OK_SELECT, 0);
		}
		nrows = (int) SPI_processed;
		if (nrows == 0)
			break;
		rows = SPI_tuptable;
		SPI_tuptable = NULL;	/* keep it past the next statements */
		lvs = palloc(nrows * sizeof(Datum *));
		lns = palloc(nrows * sizeof(bool *));
		kh = palloc(nrows * sizeof(uint32));
		eh = palloc(nrows * sizeof(uint32));
		pass = palloc(nrows * sizeof(bool));
		kd = palloc(nrows * sizeof(Datum));
		evs = palloc(nrows * sizeof(Datum *));
		ens = palloc(nrows * sizeof(bool *));
		for (int i = 0; i < nrows; i++)
		{
			lvs[i] = palloc(CDC_LOG_NCOLUMNS * sizeof(Datum));
			lns[i] = palloc(CDC_LOG_NCOLUMNS * sizeof(bool));
			evs[i] = palloc(GROUP_OUT_NCOLUMNS * sizeof(Datum));
			ens[i] = palloc(GROUP_OUT_NCOLUMNS * sizeof(bool));
			heap_deform_tuple(rows->vals[i], rows->tupdesc, lvs[i], lns[i]);
			pass[i] = CdcReadFilterApply(out->rf, lvs[i], lns[i], evs[i], ens[i]);
			if (!pass[i])
				continue;
			row_keys(lvs[i], lns[i], &kh[i], &eh[i]);
			kd[nkd++] = Int32GetDatum((int32) kh[i]);
			if (op_is_truncate(lvs[i][CDC_LOG_OPERATION], truncate_op))
				need_tables = true;
		}

		/* the group's unfinished entries of these keys: all earlier than these rows */
		ctl.keysize = sizeof(uint32);
		ctl.entrysize = sizeof(KeyState);
		dbkeys = hash_create("cdc group known keys", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		if (nkd > 0)
		{
			/* replayed dead letters through their index: see decide_keys */
			Oid			types[] = {INT4OID, INT4ARRAYOID, TEXTOID, TIMESTAMPTZOID, PG_LSNOID, INT4OID};
			Datum		values[] = {Int32GetDatum(g->id), int4_array(kd, nkd),
				CStringGetTextDatum(member), TimestampTzGetDatum(now),
			LSNGetDatum(g->ack_lsn), Int32GetDatum(g->ack_seq)};

			RUN_GENERIC("SELECT khash, bool_and(member IS NOT DISTINCT FROM $3 AND lease_until > $4) "
				"FROM (SELECT khash, member, lease_until FROM cdc.group_entry "
				"  WHERE grp = $1 AND khash = ANY ($2) AND (commit_lsn, seq) > ($5, $6) AND NOT acked "
				"  UNION ALL "
				"  SELECT khash, member, lease_until FROM cdc.group_entry "
				"  WHERE grp = $1 AND replay AND (commit_lsn, seq) <= ($5, $6) AND khash + 0 = ANY ($2) "
				"  AND NOT acked) k "
				"GROUP BY khash",
				types, values, NULL, SPI_OK_SELECT, 0);
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				bool		isnull;
				uint32		h = (uint32) DatumGetInt32(get_col(r, 1, &isnull));
				KeyState   *ks = hash_search(dbkeys, &h, HASH_ENTER, NULL);

				ks->state = DatumGetBool(get_col(r, 2, &isnull)) ? 'm' : 'o';
			}
		}
		if (need_tables)
		{
			/* a truncate waits for every unfinished change of its table */
			Oid			types[] = {INT4OID};
			Datum		values[] = {Int32GetDatum(g->id)};

			RUN("SELECT DISTINCT ehash FROM cdc.group_entry WHERE grp = $1 AND NOT acked",
				types, values, NULL, SPI_OK_SELECT, 0);
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				bool		isnull;
				uint32		h = (uint32) DatumGetInt32(get_col(r, 1, &isnull));
				bool		found;
				TableState *ts = hash_search(tstate, &h, HASH_ENTER, &found);

				if (!found)
					ts->barrier = false;
				ts->any = true;
			}
		}

		ic = palloc(nrows * sizeof(Datum));
		is = palloc(nrows * sizeof(Datum));
		ik = palloc(nrows * sizeof(Datum));
		ikh = palloc(nrows * sizeof(Datum));
		ieh = palloc(nrows * sizeof(Datum));
		ib = palloc(nrows * sizeof(Datum));
		il = palloc(nrows * sizeof(Datum));
		for (int i = 0; i < nrows && leased < want && held < hold_cap; i++)
		{
			bool		barrier;
			bool		lease = false;
			bool		found;
			KeyState   *ks;
			TableState *ts;
			XLogRecPtr	c = DatumGetLSN(lvs[i][CDC_LOG_COMMIT_LSN]);
			int32		s = DatumGetInt32(lvs[i][CDC_LOG_SEQ]);

			last = i;
			scanned++;
			if (!pass[i])
				continue;
			barrier = op_is_truncate(lvs[i][CDC_LOG_OPERATION], truncate_op);
			ts = hash_search(tstate, &eh[i], HASH_ENTER, &found);
			if (!found)
			{
				ts->any = false;
				ts->barrier = false;
			}
			ks = hash_search(kstate, &kh[i], HASH_ENTER, &found);
			if (!found)
			{
				KeyState   *db = hash_search(dbkeys, &kh[i], HASH_FIND, NULL);

				if (db == NULL)
					ks->state = 'f';	/* nobody's */
				else if (db->state == 'm' && group_lock(g, kh[i], GROUP_LOCK_KEY, false))
					ks->state = 'l';	/* mine, in flight: more of it in order */
				else
					ks->state = 'r';
			}

			if (ts->barrier || (!lns[i][CDC_LOG_ENTITY] && behind_barrier(barriers, eh[i], c, s)))
				lease = false;
			else if (barrier)
				lease = !ts->any && ks->state != 'r';
			else
				lease = ks->state != 'r';

			ks->state = lease ? 'l' : 'r';
			if (!lns[i][CDC_LOG_ENTITY])
			{
				ts->any = true;
				ts->barrier |= barrier;
			}

			ic[ni] = LSNGetDatum(c);
			is[ni] = Int32GetDatum(s);
			ik[ni] = lvs[i][CDC_LOG_CHUNK];
			ikh[ni] = Int32GetDatum((int32) kh[i]);
			ieh[ni] = Int32GetDatum((int32) eh[i]);
			ib[ni] = BoolGetDatum(barrier);
			il[ni] = BoolGetDatum(lease);
			ni++;
			if (lease)
			{
				poslist_add(&lease_pl, c, s, DatumGetInt32(lvs[i][CDC_LOG_CHUNK]));
				leased++;
			}
			else
				held++;
		}

		if (ni > 0)
		{
			Oid			types[] = {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
				PG_LSNARRAYOID, INT4ARRAYOID, INT4ARRAYOID, INT4ARRAYOID, INT4ARRAYOID,
			BOOLARRAYOID, BOOLARRAYOID};
			Datum		values[] = {Int32GetDatum(g->id), CStringGetTextDatum(member),
				TimestampTzGetDatum(now), TimestampTzGetDatum(until),
				lsn_array(ic, ni), int4_array(is, ni), int4_array(ik, ni),
				int4_array(ikh, ni), int4_array(ieh, ni), bool_array(ib, ni),
			bool_array(il, ni)};

			RUN("INSERT INTO cdc.group_entry (grp, commit_lsn, seq, chunk, khash, ehash, "
				"  barrier, member, lease_until, delivered_at, delivery_count, last_member) "
				"SELECT $1, u.c, u.s, u.k, u.kh, u.eh, u.b, "
				"  CASE WHEN u.l THEN $2 END, CASE WHEN u.l THEN $4 END, "
				"  CASE WHEN u.l THEN $3 END, CASE WHEN u.l THEN 1 ELSE 0 END, "
				"  CASE WHEN u.l THEN $2 END "
				"FROM unnest($5::pg_lsn[], $6::integer[], $7::integer[], $8::integer[], "
				"  $9::integer[], $10::boolean[], $11::boolean[]) AS u(c, s, k, kh, eh, b, l)",
				types, values, NULL, SPI_OK_INSERT, 0);
		}
		if (last >= 0)
		{
			g->scan_lsn = DatumGetLSN(lvs[last][CDC_LOG_COMMIT_LSN]);
			g->scan_seq = DatumGetInt32(lvs[last][CDC_LOG_SEQ]);
		}

		/* the rows leased, in order, as the caller receives them */
		for (int i = 0, j = 0; i <= last && j < lease_pl.n; i++)
		{
			if (!pass[i] ||
				pos_cmp(DatumGetLSN(lvs[i][CDC_LOG_COMMIT_LSN]), DatumGetInt32(lvs[i][CDC_LOG_SEQ]),
						DatumGetLSN(lease_pl.lsn[j]), DatumGetInt32(lease_pl.seq[j])) != 0)
				continue;
			j++;
			evs[i][CDC_ENTRY_NCOLUMNS] = Int32GetDatum(1);
			ens[i][CDC_ENTRY_NCOLUMNS] = false;
			tuplestore_putvalues(out->store, out->desc, evs[i], ens[i]);
		}
		SPI_freetuptable(rows);
		if (nrows < block || last < nrows - 1)
			break;				/* the end of the log, or a bound */
	}

	*moved = pos_cmp(g->scan_lsn, g->scan_seq, scan_lsn0, scan_seq0) != 0 ||
		pos_cmp(g->ack_lsn, g->ack_seq, ack_lsn0, ack_seq0) != 0;
	if (*moved)
		save_positions(g);
	return leased;
}

static CdcReadFilter *
group_read_filter(CdcGroup *g, Oid role, bool numeric_as_string)
{
	return CdcReadFilterCreate(role, list_make1(g->filter), g->messages, numeric_as_string);
}

static void
out_begin(FunctionCallInfo fcinfo, Out *out)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	out->store = rsinfo->setResult;
	out->desc = rsinfo->setDesc;
	memset(&out->skipped, 0, sizeof(out->skipped));
}

/*
 * cdc.read_group(group, member, batch_size, visibility_timeout,
 * batch_timeout, numeric_as_string)
 */
Datum
cdc_read_group(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "group");
	char	   *member = text_arg(fcinfo, 1, "member");
	int32		batch = positive_int_arg(fcinfo, 2, "batch_size");
	int64		vt = CdcIntervalArg(fcinfo, 3, "visibility_timeout", false, INTERVAL_HINT);
	int64		wait_us = CdcIntervalArg(fcinfo, 4, "batch_timeout", true, CDC_BATCH_TIMEOUT_HINT);
	bool		nas = PG_ARGISNULL(5) ? false : PG_GETARG_BOOL(5);
	TimestampTz deadline = GetCurrentTimestamp() + wait_us;
	CdcOwnerScope scope;
	CdcGroup		g;
	Out			out;

	CdcCheckName("member", member);
	require_read_committed("cdc.read_group()");
	CdcLogWarnIfBehind();
	out_begin(fcinfo, &out);
	group_owner_begin(&scope);
	group_require(&scope, name, false, &g);
	group_check_gap(&g);
	member_seen(&g, member);
	out.rf = group_read_filter(&g, scope.saved_user, nas);

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz until = now + vt;
		uint64		gen = CdcLogGeneration();
		int			got;
		bool		moved = false;

		got = lease_known(&g, member, batch, now, until, false, NULL, 0, &out);
		if (got < batch)
		{
			/*
			 * The frontier: with something leased already, do not wait for
			 * another member's read; with nothing, wait for it (one short
			 * transaction) and continue after what it took.
			 */
			if (group_lock(&g, 0, GROUP_LOCK_FRONTIER, got == 0))
			{
				group_reload(&g);
				/* a trim that committed meanwhile recorded its gap here */
				if (!XLogRecPtrIsInvalid(g.gap_from))
					group_check_gap(&g);
				got += lease_new(&g, member, batch - got, now, until, &out, &moved);
			}
		}
		ack_skipped(&g, &out.skipped);
		if (got > 0 || moved || wait_us == 0 || GetCurrentTimestamp() >= deadline)
			break;

		/*
		 * Nothing for us and nothing written: let other members at the
		 * frontier while we wait for the log writer's next commit.
		 */
		{
			LOCKTAG		tag;

			SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) g.id, 0, GROUP_LOCK_FRONTIER);
			LockRelease(&tag, ExclusiveLock, false);
		}
		(void) CdcLogWait(gen, deadline);
		group_reload(&g);
	}
	CdcOwnerEnd(&scope);
	return (Datum) 0;
}

/* cdc.claim(group, member, min_idle, visibility_timeout, from_member, batch_size, numeric_as_string) */
Datum
cdc_claim(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "group");
	char	   *member = text_arg(fcinfo, 1, "member");
	int64		min_idle = CdcIntervalArg(fcinfo, 2, "min_idle", true, INTERVAL_HINT);
	int64		vt = CdcIntervalArg(fcinfo, 3, "visibility_timeout", false, INTERVAL_HINT);
	char	   *from = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	int32		batch = positive_int_arg(fcinfo, 5, "batch_size");
	bool		nas = PG_ARGISNULL(6) ? false : PG_GETARG_BOOL(6);
	TimestampTz now = GetCurrentTimestamp();
	CdcOwnerScope scope;
	CdcGroup		g;
	Out			out;

	CdcCheckName("member", member);
	if (from)
		CdcCheckName("member", from);
	require_read_committed("cdc.claim()");
	out_begin(fcinfo, &out);
	group_owner_begin(&scope);
	group_require(&scope, name, false, &g);
	group_check_gap(&g);
	if (from)
		member_require(&g, from);
	member_seen(&g, member);
	out.rf = group_read_filter(&g, scope.saved_user, nas);
	(void) lease_known(&g, member, batch, now, now + vt, true, from, now - min_idle, &out);
	ack_skipped(&g, &out.skipped);
	CdcOwnerEnd(&scope);
	return (Datum) 0;
}

/* ---- acknowledgements ---- */

typedef struct PosArg
{
	int			n;
	Datum	   *lsn;
	Datum	   *seq;
} PosArg;

static int
posarg_cmp(const void *a, const void *b, void *arg)
{
	PosArg	   *p = arg;
	int			x = *(const int *) a,
				y = *(const int *) b;

	return pos_cmp(DatumGetLSN(p->lsn[x]), DatumGetInt32(p->seq[x]),
				   DatumGetLSN(p->lsn[y]), DatumGetInt32(p->seq[y]));
}

static PosArg
positions_arg(ArrayType *la, ArrayType *sa)
{
	PosArg		p;
	bool	   *ln,
			   *sn;
	int			ns;
	int		   *order;

	deconstruct_array(la, PG_LSNOID, sizeof(XLogRecPtr), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &p.lsn, &ln, &p.n);
	deconstruct_array(sa, INT4OID, 4, true, TYPALIGN_INT, &p.seq, &sn, &ns);
	if (ns != p.n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("commit_lsns has %d elements but seqs has %d", p.n, ns),
				 errhint("Pass one seq per commit_lsn: the positions of the changes.")));
	if (p.n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no positions given")));
	for (int i = 0; i < p.n; i++)
		if (ln[i] || sn[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("positions must not contain nulls")));
	order = palloc(p.n * sizeof(int));
	for (int i = 0; i < p.n; i++)
		order[i] = i;
	qsort_arg(order, p.n, sizeof(int), posarg_cmp, &p);
	for (int i = 1; i < p.n; i++)
		if (posarg_cmp(&order[i - 1], &order[i], &p) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("position (%X/%X, %d) is listed twice",
							LSN_FORMAT_ARGS(DatumGetLSN(p.lsn[order[i]])),
							DatumGetInt32(p.seq[order[i]]))));
	return p;
}

/*
 * Why (lsn, seq) could not be acknowledged or nacked: raise that error.
 * Called after the statement changed fewer rows than asked; the caller's
 * statement is rolled back with the error, so nothing changed.
 */
static void
explain_position(CdcGroup *g, Oid role, XLogRecPtr lsn, int32 seq, bool nack)
{
	Oid			types[] = {INT4OID, PG_LSNOID, INT4OID};
	Datum		values[] = {Int32GetDatum(g->id), LSNGetDatum(lsn), Int32GetDatum(seq)};
	const char *verb = nack ? "nack" : "acknowledge";

	RUN("SELECT acked, delivery_count, member FROM cdc.group_entry "
		"WHERE grp = $1 AND commit_lsn = $2 AND seq = $3",
		types, values, NULL, SPI_OK_SELECT, 1);
	if (SPI_processed > 0)
	{
		bool		isnull;
		bool		acked = DatumGetBool(get_col(0, 1, &isnull));
		int32		dc = DatumGetInt32(get_col(0, 2, &isnull));

		if (acked)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot %s change (%X/%X, %d) of consumer group \"%s\": it is already acknowledged",
							verb, LSN_FORMAT_ARGS(lsn), seq, g->name),
					 errdetail("Another delivery of it was acknowledged first, or it was moved to the dead letters."),
					 errhint("Roll back the work done for this delivery: it was done once already.")));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s change (%X/%X, %d) of consumer group \"%s\": it is not leased",
						verb, LSN_FORMAT_ARGS(lsn), seq, g->name),
				 dc == 0 ? errdetail("It has not been delivered yet.") :
				 errdetail("It was given back for delivery again."),
				 errhint("%s only changes that cdc.read_group() or cdc.claim() returned.",
						 nack ? "Nack" : "Acknowledge")));
	}
	if (pos_cmp(lsn, seq, g->ack_lsn, g->ack_seq) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s change (%X/%X, %d) of consumer group \"%s\": it is already acknowledged",
						verb, LSN_FORMAT_ARGS(lsn), seq, g->name),
				 errdetail("The group's acknowledged watermark is (%X/%X, %d).",
						   LSN_FORMAT_ARGS(g->ack_lsn), g->ack_seq),
				 errhint("Roll back the work done for this delivery: it was done once already.")));
	if (pos_cmp(lsn, seq, g->scan_lsn, g->scan_seq) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s change (%X/%X, %d) of consumer group \"%s\": it is not leased",
						verb, LSN_FORMAT_ARGS(lsn), seq, g->name),
				 errdetail("The group has not delivered anything after (%X/%X, %d).",
						   LSN_FORMAT_ARGS(g->scan_lsn), g->scan_seq),
				 errhint("%s only changes that cdc.read_group() or cdc.claim() returned.",
						 nack ? "Nack" : "Acknowledge")));

	/*
	 * Between the watermark and the frontier without an entry: acknowledged
	 * (the entry was deleted), moved to the dead letters (likewise), or not
	 * a change of the group at all (its filters, the caller's privileges,
	 * or no such log row).
	 */
	{
		bool		done;

		RUN("SELECT 1 FROM cdc.group_dead_letter WHERE grp = $1 AND commit_lsn = $2 AND seq = $3",
			types, values, NULL, SPI_OK_SELECT, 1);
		done = SPI_processed > 0;
		if (!done)
		{
			Oid			t[] = {PG_LSNOID, INT4OID, INT4OID};
			Datum		v[] = {LSNGetDatum(lsn), Int32GetDatum(seq), Int32GetDatum(first_chunk(lsn))};

			RUN("SELECT " CDC_LOG_COLUMNS " "
				"FROM cdc.log WHERE commit_lsn = $1 AND seq = $2 AND chunk >= $3",
				t, v, NULL, SPI_OK_SELECT, 1);
			if (SPI_processed > 0)
			{
				Datum		lv[CDC_LOG_NCOLUMNS];
				bool		ln[CDC_LOG_NCOLUMNS];
				Datum		ev[CDC_ENTRY_NCOLUMNS];
				bool		en[CDC_ENTRY_NCOLUMNS];

				heap_deform_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, lv, ln);
				done = CdcReadFilterApply(group_read_filter(g, role, false), lv, ln, ev, en);
			}
		}
		if (done)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot %s change (%X/%X, %d) of consumer group \"%s\": it is already acknowledged",
							verb, LSN_FORMAT_ARGS(lsn), seq, g->name),
					 errdetail("Another delivery of it was acknowledged first, or it was moved to the dead letters."),
					 errhint("Roll back the work done for this delivery: it was done once already.")));
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("(%X/%X, %d) is not a change of consumer group \"%s\"",
					LSN_FORMAT_ARGS(lsn), seq, g->name),
			 errhint("The position of a change is the commit_lsn and seq that cdc.read_group() returned with it.")));
}

/*
 * Acknowledge (or nack) positions: all or nothing.  An acknowledgement
 * takes only the entries' row locks, so it waits only for another ack, nack
 * or lease of those same entries.
 */
static int
ack_positions(const char *name, PosArg *p, bool nack)
{
	CdcOwnerScope scope;
	CdcGroup		g;
	int			done;
	Datum		values[5];

	group_owner_begin(&scope);
	group_require(&scope, name, false, &g);
	position_args(g.id, p->lsn, p->seq, p->n, values);
	if (!nack)
	{
		/*
		 * An acknowledged entry is deleted (one row version, no index
		 * insertion, no space needed on its page; the watermark then has
		 * nothing to clean up).  A replayed dead letter is done with once
		 * acknowledged: its dead-letter row goes too.
		 */
		RUN_HASHED("WITH a AS (DELETE FROM cdc.group_entry e "
			"  USING unnest($2::pg_lsn[], $3::integer[]) AS u(c, s) "
			"  WHERE e.grp = $1 AND e.commit_lsn = u.c AND e.seq = u.s "
			"  AND NOT e.acked AND e.delivery_count > 0 "
			"  AND e.commit_lsn BETWEEN $4 AND $5 "
			"  RETURNING e.commit_lsn, e.seq, e.replay), "
			"d AS (DELETE FROM cdc.group_dead_letter dl USING a "
			"  WHERE a.replay AND dl.grp = $1 AND dl.commit_lsn = a.commit_lsn AND dl.seq = a.seq) "
			"SELECT commit_lsn, seq FROM a",
			position_types, values, NULL, SPI_OK_SELECT, 0);
	}
	else
	{
		/*
		 * The entry goes back to ready, and so do the later changes of the
		 * same row its member holds: they would otherwise be ahead of it.
		 */
		RUN_CUSTOM("WITH t AS (SELECT e.commit_lsn, e.seq, e.khash, e.member FROM cdc.group_entry e "
			"  JOIN unnest($2::pg_lsn[], $3::integer[]) AS u(c, s) "
			"  ON e.commit_lsn = u.c AND e.seq = u.s "
			"  WHERE e.grp = $1 AND NOT e.acked AND e.member IS NOT NULL "
			"  AND e.commit_lsn BETWEEN $4 AND $5 FOR UPDATE OF e), "
			"f AS (SELECT DISTINCT e.commit_lsn, e.seq FROM cdc.group_entry e JOIN t "
			"  ON e.khash = t.khash AND e.member = t.member "
			"  AND (e.commit_lsn, e.seq) >= (t.commit_lsn, t.seq) "
			"  WHERE e.grp = $1 AND NOT e.acked), "
			"n AS (UPDATE cdc.group_entry e SET member = NULL, lease_until = NULL FROM f "
			"  WHERE e.grp = $1 AND e.commit_lsn = f.commit_lsn AND e.seq = f.seq) "
			"SELECT commit_lsn, seq FROM t",
			position_types, values, NULL, SPI_OK_SELECT, 0);
	}
	done = (int) SPI_processed;
	if (done < p->n)
	{
		/* find the first position that was not done, say why */
		SPITupleTable *tt = SPI_tuptable;

		for (int i = 0; i < p->n; i++)
		{
			bool		found = false;

			for (uint64 r = 0; r < tt->numvals && !found; r++)
			{
				bool		isnull;

				found = DatumGetLSN(SPI_getbinval(tt->vals[r], tt->tupdesc, 1, &isnull)) == DatumGetLSN(p->lsn[i]) &&
					DatumGetInt32(SPI_getbinval(tt->vals[r], tt->tupdesc, 2, &isnull)) == DatumGetInt32(p->seq[i]);
			}
			if (!found)
				explain_position(&g, scope.saved_user, DatumGetLSN(p->lsn[i]), DatumGetInt32(p->seq[i]), nack);
		}
		elog(ERROR, "cdc_ext: acknowledged %d of %d positions", done, p->n);
	}
	CdcOwnerEnd(&scope);
	return done;
}

static PosArg
one_position(FunctionCallInfo fcinfo)
{
	PosArg		p;

	CdcRequireArg(fcinfo, 1, "commit_lsn",
				  "Give the commit_lsn and seq of a change that cdc.read_group() returned.");
	CdcRequireArg(fcinfo, 2, "seq",
				  "Give the commit_lsn and seq of a change that cdc.read_group() returned.");
	p.n = 1;
	p.lsn = palloc(sizeof(Datum));
	p.seq = palloc(sizeof(Datum));
	p.lsn[0] = PG_GETARG_DATUM(1);
	p.seq[0] = PG_GETARG_DATUM(2);
	return p;
}

Datum
cdc_ack(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "group");
	PosArg		p = one_position(fcinfo);

	(void) ack_positions(name, &p, false);
	PG_RETURN_VOID();
}

Datum
cdc_ack_array(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "group");
	PosArg		p;

	CdcRequireArg(fcinfo, 1, "commit_lsns", "Give the commit_lsns and seqs of changes that cdc.read_group() returned.");
	CdcRequireArg(fcinfo, 2, "seqs", "Give the commit_lsns and seqs of changes that cdc.read_group() returned.");
	p = positions_arg(PG_GETARG_ARRAYTYPE_P(1), PG_GETARG_ARRAYTYPE_P(2));
	PG_RETURN_INT32(ack_positions(name, &p, false));
}

Datum
cdc_nack(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "group");
	PosArg		p = one_position(fcinfo);

	(void) ack_positions(name, &p, true);
	PG_RETURN_VOID();
}

Datum
cdc_nack_array(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "group");
	PosArg		p;

	CdcRequireArg(fcinfo, 1, "commit_lsns", "Give the commit_lsns and seqs of changes that cdc.read_group() returned.");
	CdcRequireArg(fcinfo, 2, "seqs", "Give the commit_lsns and seqs of changes that cdc.read_group() returned.");
	p = positions_arg(PG_GETARG_ARRAYTYPE_P(1), PG_GETARG_ARRAYTYPE_P(2));
	PG_RETURN_INT32(ack_positions(name, &p, true));
}

/* ---- inspection ---- */

/* Copy the current SPI result into the SRF's tuplestore. */
static void
copy_result(Out *out)
{
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Datum	   *v = palloc(out->desc->natts * sizeof(Datum));
		bool	   *n = palloc(out->desc->natts * sizeof(bool));

		heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, v, n);
		tuplestore_putvalues(out->store, out->desc, v, n);
	}
}

/* cdc.pending(group, member) */
Datum
cdc_pending(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "group");
	char	   *member = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	CdcOwnerScope scope;
	CdcGroup		g;
	Out			out;

	if (member)
		CdcCheckName("member", member);
	out_begin(fcinfo, &out);
	group_owner_begin(&scope);
	group_require(&scope, name, false, &g);
	if (member)
		member_require(&g, member);
	{
		Oid			types[] = {INT4OID, TEXTOID, TIMESTAMPTZOID, PG_LSNOID, INT4OID};
		Datum		values[] = {Int32GetDatum(g.id), member ? CStringGetTextDatum(member) : (Datum) 0,
			TimestampTzGetDatum(GetCurrentTimestamp()), LSNGetDatum(g.ack_lsn),
		Int32GetDatum(g.ack_seq)};
		char		nulls[] = {' ', member ? ' ' : 'n', ' ', ' ', ' '};

		RUN("SELECT commit_lsn, seq, member, delivery_count, $3 - delivered_at, lease_until "
			"FROM cdc.group_entry WHERE grp = $1 AND ((commit_lsn, seq) > ($4, $5) OR replay) "
			"AND NOT acked AND member IS NOT NULL "
			"AND ($2::text IS NULL OR member = $2) ORDER BY commit_lsn, seq",
			types, values, nulls, SPI_OK_SELECT, 0);
	}
	copy_result(&out);
	CdcOwnerEnd(&scope);
	return (Datum) 0;
}

/* cdc.dead_letters(group): as the caller may see them */
Datum
cdc_dead_letters(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "group");
	CdcOwnerScope scope;
	CdcGroup		g;
	Out			out;
	CdcReadFilter *rf;

	out_begin(fcinfo, &out);
	group_owner_begin(&scope);
	group_require(&scope, name, false, &g);
	rf = CdcReadFilterCreate(scope.saved_user, NIL, true, false);
	{
		Oid			types[] = {INT4OID};
		Datum		values[] = {Int32GetDatum(g.id)};

		RUN("SELECT " CDC_LOG_COLUMNS ", "
			"delivery_count, last_member, moved_at, replaying "
			"FROM cdc.group_dead_letter WHERE grp = $1 ORDER BY commit_lsn, seq",
			types, values, NULL, SPI_OK_SELECT, 0);
	}
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Datum		lv[CDC_LOG_NCOLUMNS + 4];
		bool		ln[CDC_LOG_NCOLUMNS + 4];
		Datum		ev[CDC_ENTRY_NCOLUMNS + 4];
		bool		en[CDC_ENTRY_NCOLUMNS + 4];

		heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, lv, ln);
		if (!CdcReadFilterApply(rf, lv, ln, ev, en))
			continue;
		for (int i = 0; i < 4; i++)
		{
			ev[CDC_ENTRY_NCOLUMNS + i] = lv[CDC_LOG_NCOLUMNS + i];
			en[CDC_ENTRY_NCOLUMNS + i] = ln[CDC_LOG_NCOLUMNS + i];
		}
		tuplestore_putvalues(out.store, out.desc, ev, en);
	}
	CdcOwnerEnd(&scope);
	return (Datum) 0;
}

/*
 * cdc.replay_dead_letters(group, commit_lsn, seq): the dead letters (all, or
 * one) become entries of the group again, ready, with a fresh count; their
 * content comes from the dead-letter row, which an acknowledgement deletes.
 */
Datum
cdc_replay_dead_letters(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "group");
	bool		one = !PG_ARGISNULL(1);
	XLogRecPtr	lsn = one ? PG_GETARG_LSN(1) : InvalidXLogRecPtr;
	int32		seq = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	CdcOwnerScope scope;
	CdcGroup		g;
	int			n;
	Datum	   *c,
			   *s,
			   *k,
			   *kh,
			   *eh,
			   *b;

	if (one && PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("seq must be given with commit_lsn")));
	group_owner_begin(&scope);
	group_require(&scope, name, false, &g);
	{
		Oid			types[] = {INT4OID, PG_LSNOID, INT4OID};
		Datum		values[] = {Int32GetDatum(g.id), LSNGetDatum(lsn), Int32GetDatum(seq)};
		char		nulls[] = {' ', one ? ' ' : 'n', one ? ' ' : 'n'};

		RUN("SELECT " CDC_LOG_COLUMNS " "
			"FROM cdc.group_dead_letter WHERE grp = $1 AND NOT replaying "
			"AND ($2::pg_lsn IS NULL OR (commit_lsn = $2 AND seq = $3)) "
			"ORDER BY commit_lsn, seq FOR UPDATE",
			types, values, nulls, SPI_OK_SELECT, 0);
	}
	n = (int) SPI_processed;
	if (one && n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer group \"%s\" has no dead letter at (%X/%X, %d)",
						g.name, LSN_FORMAT_ARGS(lsn), seq),
				 errhint("SELECT commit_lsn, seq FROM cdc.dead_letters('%s') lists them.", g.name)));
	if (n > 0)
	{
		Oid			truncate_op = truncate_op_oid();

		c = palloc(n * sizeof(Datum));
		s = palloc(n * sizeof(Datum));
		k = palloc(n * sizeof(Datum));
		kh = palloc(n * sizeof(Datum));
		eh = palloc(n * sizeof(Datum));
		b = palloc(n * sizeof(Datum));
		for (int r = 0; r < n; r++)
		{
			Datum		lv[CDC_LOG_NCOLUMNS];
			bool		ln[CDC_LOG_NCOLUMNS];
			uint32		h1,
						h2;

			heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, lv, ln);
			row_keys(lv, ln, &h1, &h2);
			c[r] = lv[CDC_LOG_COMMIT_LSN];
			s[r] = lv[CDC_LOG_SEQ];
			k[r] = lv[CDC_LOG_CHUNK];
			kh[r] = Int32GetDatum((int32) h1);
			eh[r] = Int32GetDatum((int32) h2);
			b[r] = BoolGetDatum(op_is_truncate(lv[CDC_LOG_OPERATION], truncate_op));
		}
		{
			Oid			types[] = {INT4OID, PG_LSNARRAYOID, INT4ARRAYOID, INT4ARRAYOID,
			INT4ARRAYOID, INT4ARRAYOID, BOOLARRAYOID};
			Datum		values[] = {Int32GetDatum(g.id), lsn_array(c, n), int4_array(s, n),
				int4_array(k, n), int4_array(kh, n), int4_array(eh, n),
			bool_array(b, n)};

			RUN("WITH i AS (INSERT INTO cdc.group_entry AS e (grp, commit_lsn, seq, chunk, khash, "
				"  ehash, barrier, replay) "
				"  SELECT $1, u.c, u.s, u.k, u.kh, u.eh, u.b, true "
				"  FROM unnest($2::pg_lsn[], $3::integer[], $4::integer[], $5::integer[], "
				"    $6::integer[], $7::boolean[]) AS u(c, s, k, kh, eh, b) "
				"  ON CONFLICT (grp, commit_lsn, seq) DO UPDATE SET acked = false, replay = true, "
				"    member = NULL, lease_until = NULL, delivered_at = NULL, delivery_count = 0, "
				"    last_member = NULL "
				"  RETURNING e.commit_lsn, e.seq) "
				"UPDATE cdc.group_dead_letter d SET replaying = true FROM i "
				"WHERE d.grp = $1 AND d.commit_lsn = i.commit_lsn AND d.seq = i.seq",
				types, values, NULL, SPI_OK_UPDATE, 0);
		}
	}
	CdcOwnerEnd(&scope);
	PG_RETURN_INT32(n);
}

/* ---- lifecycle ---- */

/* cdc.create_group(name, entities, exclude_entities, operations, start, max_deliveries) */
Datum
cdc_create_group(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "name");
	char	   *start = CdcStartArg(fcinfo, 4);
	int32		maxd = positive_int_arg(fcinfo, 5, "max_deliveries");
	bool		messages = false;
	CdcOwnerScope scope;
	XLogRecPtr	lsn;
	int32		seq;
	CdcFilter  *filter = palloc0(sizeof(CdcFilter));
	List	   *ops;

	CdcCheckName("consumer group", name);
	filter->entities = CdcTextArrayToList(PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1),
										  "entities");
	filter->exclude_entities = CdcTextArrayToList(PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2),
												  "exclude_entities");
	ops = CdcOperationArrayArg(PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3), "operations");
	filter->operations = CdcOperationLabelsToMask(ops, &messages);
	group_owner_begin(&scope);
	/* every change at or before (lsn, 0) is treated as done */
	lsn = CdcStartPosition(start, scope.saved_user, list_make1(filter), messages);
	seq = 0;
	{
		Oid			types[] = {TEXTOID, OIDOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		INT4OID, PG_LSNOID, INT4OID};
		Datum		values[8];
		char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

		values[0] = CStringGetTextDatum(name);
		values[1] = ObjectIdGetDatum(scope.saved_user);
		values[2] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
		nulls[2] = PG_ARGISNULL(1) ? 'n' : ' ';
		values[3] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
		nulls[3] = PG_ARGISNULL(2) ? 'n' : ' ';
		if (ops == NIL)
		{
			values[4] = (Datum) 0;
			nulls[4] = 'n';
		}
		else
		{
			/* operations come as cdc.operation[]: stored through their labels */
			Datum	   *elems = palloc(list_length(ops) * sizeof(Datum));
			int			n = 0;
			ListCell   *lc;

			foreach(lc, ops)
				elems[n++] = CStringGetTextDatum(lfirst(lc));
			values[4] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
		}
		values[5] = Int32GetDatum(maxd);
		values[6] = LSNGetDatum(lsn);
		values[7] = Int32GetDatum(seq);
		RUN("INSERT INTO cdc.group_state (name, owner, entities, exclude_entities, operations, "
			"  max_deliveries, ack_lsn, ack_seq, scan_lsn, scan_seq) "
			"VALUES ($1, $2, $3, $4, $5::cdc.operation[], $6, $7, $8, $7, $8) "
			"ON CONFLICT (name) DO NOTHING",
			types, values, nulls, SPI_OK_INSERT, 0);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("consumer group \"%s\" already exists", name),
					 errhint("Choose another name, or drop it first with cdc.drop_group('%s').", name)));
	}
	CdcOwnerEnd(&scope);
	PG_RETURN_LSN(lsn);
}

/* cdc.drop_group(name) */
Datum
cdc_drop_group(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "name");
	CdcOwnerScope scope;
	CdcGroup		g;
	Oid			types[] = {INT4OID};
	Datum		values[1];

	group_owner_begin(&scope);
	group_require(&scope, name, true, &g);
	values[0] = Int32GetDatum(g.id);
	RUN("WITH a AS (DELETE FROM cdc.group_entry WHERE grp = $1), "
		"b AS (DELETE FROM cdc.group_member WHERE grp = $1), "
		"c AS (DELETE FROM cdc.group_dead_letter WHERE grp = $1) "
		"DELETE FROM cdc.group_state WHERE id = $1",
		types, values, NULL, SPI_OK_DELETE, 0);
	CdcOwnerEnd(&scope);
	PG_RETURN_BOOL(true);
}

/* cdc.reset_group(group, start): the way out of a gap */
Datum
cdc_reset_group(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "group");
	char	   *start = CdcStartArg(fcinfo, 1);
	CdcOwnerScope scope;
	CdcGroup		g;
	XLogRecPtr	lsn;
	int32		seq;

	group_owner_begin(&scope);
	group_require(&scope, name, true, &g);
	(void) group_lock(&g, 0, GROUP_LOCK_FRONTIER, true);
	lsn = CdcStartPosition(start, g.owner, list_make1(g.filter), g.messages);
	seq = 0;
	{
		Oid			types[] = {INT4OID, PG_LSNOID, INT4OID};
		Datum		values[] = {Int32GetDatum(g.id), LSNGetDatum(lsn), Int32GetDatum(seq)};

		RUN("WITH a AS (DELETE FROM cdc.group_entry WHERE grp = $1), "
			"b AS (UPDATE cdc.group_dead_letter SET replaying = false WHERE grp = $1) "
			"UPDATE cdc.group_state SET ack_lsn = $2, ack_seq = $3, scan_lsn = $2, scan_seq = $3, "
			"  gap_from = NULL, gap_to = NULL, gap_reason = NULL WHERE id = $1",
			types, values, NULL, SPI_OK_UPDATE, 0);
	}
	CdcOwnerEnd(&scope);
	PG_RETURN_LSN(lsn);
}

/*
 * The rows of cdc.group_info's statement (its 17 columns, then owner,
 * operations as text[], frontier) to the result, with the lag of each
 * group as its owner receives it: lag_changes adds to its unacknowledged
 * entries the log rows past the frontier that pass its filters and the
 * owner's privileges; lag_seconds is the age of the oldest such row after
 * the watermark (CdcLogCountReceived).  So the lag says nothing about
 * tables the owner may not read.  The statement's result is kept while
 * they are counted (each count runs statements of its own).
 */
static void
group_info_rows(Out *out)
{
	SPITupleTable *tt = SPI_tuptable;
	uint64		n = SPI_processed;

	for (uint64 r = 0; r < n; r++)
	{
		Datum		v[21];
		bool		nl[21];
		CdcFilter  *f = palloc0(sizeof(CdcFilter));
		bool		messages;
		CdcReadFilter *rf;
		XLogRecPtr	oldest = CdcLogOldestLsn();
		XLogRecPtr	lsn;
		int32		seq;
		int64		n;
		TimestampTz first;
		char		buf[64];

		heap_deform_tuple(tt->vals[r], tt->tupdesc, v, nl);
		f->entities = CdcSpiTextList(tt->vals[r], tt->tupdesc, 3);
		f->exclude_entities = CdcSpiTextList(tt->vals[r], tt->tupdesc, 4);
		f->operations = CdcOperationLabelsToMask(CdcSpiTextList(tt->vals[r], tt->tupdesc, 19),
												 &messages);

		rf = CdcReadFilterCreate(DatumGetObjectId(v[17]), list_make1(f), messages, false);

		/* log rows past the frontier it receives */
		lsn = DatumGetLSN(v[19]);
		seq = DatumGetInt32(v[20]);
		if (lsn < oldest)
		{
			lsn = oldest;
			seq = 0;
		}
		CdcLogCountReceived(rf, lsn, seq, &n, &first);
		v[11] = Int64GetDatum(DatumGetInt64(v[11]) + n);

		/* the first change after the watermark it receives */
		lsn = DatumGetLSN(v[6]);
		seq = DatumGetInt32(v[7]);
		if (lsn < oldest)
		{
			lsn = oldest;
			seq = 0;
		}
		CdcLogCountReceived(rf, lsn, seq, &n, &first);
		nl[12] = n == 0;
		if (n > 0)
		{
			snprintf(buf, sizeof(buf), "%.3f",
					 (double) (GetCurrentTimestamp() - first) / USECS_PER_SEC);
			v[12] = DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
										ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		}
		tuplestore_putvalues(out->store, out->desc, v, nl);
	}
}

/* cdc.group_info(): the rows of cdc.groups the caller may see */
Datum
cdc_group_info(PG_FUNCTION_ARGS)
{
	CdcOwnerScope scope;
	Out			out;

	out_begin(fcinfo, &out);
	group_owner_begin(&scope);
	{
		Oid			types[] = {OIDOID, TIMESTAMPTZOID};
		Datum		values[] = {ObjectIdGetDatum(scope.saved_user),
		TimestampTzGetDatum(GetCurrentTimestamp())};

		RUN("SELECT g.name, g.owner::regrole, g.entities, g.exclude_entities, g.operations, "
			"  g.max_deliveries, g.ack_lsn, g.ack_seq, "
			"  (SELECT count(*) FROM cdc.group_member m WHERE m.grp = g.id)::integer, "
			"  p.n, $2 - p.oldest, "
			"  (SELECT count(*) FROM cdc.group_entry e WHERE e.grp = g.id AND NOT e.acked), "
			"  NULL::numeric, "
			"  (SELECT count(*) FROM cdc.group_dead_letter d WHERE d.grp = g.id AND NOT d.replaying), "
			"  g.gap_from IS NOT NULL OR (g.ack_lsn < s.oldest_lsn AND "
			"   ((g.scan_lsn, g.scan_seq) < (s.oldest_lsn, 0) OR EXISTS (SELECT 1 FROM cdc.group_entry e "
			"     WHERE e.grp = g.id AND NOT e.acked AND NOT e.replay AND e.commit_lsn < s.oldest_lsn))), "
			"  g.gap_reason, g.created_at, "
			"  g.owner, g.operations::text[], g.scan_lsn, g.scan_seq "
			"FROM cdc.group_state g CROSS JOIN cdc.log_state s "
			"CROSS JOIN LATERAL (SELECT count(*) AS n, min(e.delivered_at) AS oldest "
			"  FROM cdc.group_entry e WHERE e.grp = g.id AND NOT e.acked AND e.member IS NOT NULL) p "
			"WHERE pg_has_role($1, g.owner, 'USAGE') ORDER BY g.name",
			types, values, NULL, SPI_OK_SELECT, 0);
	}
	group_info_rows(&out);
	CdcOwnerEnd(&scope);
	return (Datum) 0;
}

/*
 * For the log's horizon hook (see CdcLogSetHorizonHook): before the horizon
 * moves to new_oldest, a group whose watermark is behind it either loses a
 * change it had not finished (an unacknowledged entry before it, or a log
 * row after its frontier that its filters take, as its owner may see it):
 * then its gap is recorded; or not: then its watermark and frontier follow
 * the horizon.  Runs inside the caller's SPI session, as the extension's
 * owner; returns how many groups got a gap.
 */
int
CdcGroupsHorizon(XLogRecPtr old_oldest, XLogRecPtr new_oldest, const char *reason,
				 CdcHorizonRange *range)
{
	Oid			types[] = {PG_LSNOID};
	Datum		values[] = {LSNGetDatum(new_oldest)};
	SPITupleTable *groups;
	int			gaps = 0;

	RUN("SELECT name FROM cdc.group_state WHERE ack_lsn < $1 AND gap_from IS NULL "
		"ORDER BY name FOR UPDATE",
		types, values, NULL, SPI_OK_SELECT, 0);
	groups = SPI_tuptable;
	SPI_tuptable = NULL;
	for (uint64 i = 0; i < groups->numvals; i++)
	{
		bool		isnull;
		char	   *name = TextDatumGetCString(SPI_getbinval(groups->vals[i], groups->tupdesc, 1, &isnull));
		CdcGroup		g;
		bool		loses = false;

		{
			Oid			t[] = {TEXTOID};
			Datum		v[] = {CStringGetTextDatum(name)};

			RUN("SELECT " GROUP_COLUMNS "FROM cdc.group_state WHERE name = $1",
				t, v, NULL, SPI_OK_SELECT, 1);
		}
		group_from_row(&g);
		{
			Oid			t[] = {INT4OID, PG_LSNOID};
			Datum		v[] = {Int32GetDatum(g.id), LSNGetDatum(new_oldest)};

			RUN("SELECT 1 FROM cdc.group_entry WHERE grp = $1 AND NOT acked AND NOT replay "
				"AND commit_lsn < $2 LIMIT 1", t, v, NULL, SPI_OK_SELECT, 1);
			loses = SPI_processed > 0;
		}
		if (!loses && g.scan_lsn < new_oldest)
			loses = CdcHorizonRangeReceives(range, g.scan_lsn, g.scan_seq,
											group_read_filter(&g, g.owner, false));
		if (loses)
		{
			Oid			t[] = {INT4OID, PG_LSNOID, TEXTOID};
			Datum		v[] = {Int32GetDatum(g.id), LSNGetDatum(new_oldest),
			CStringGetTextDatum(reason ? reason : "the change log was trimmed")};

			RUN("UPDATE cdc.group_state SET gap_from = ack_lsn, gap_to = $2, gap_reason = $3 "
				"WHERE id = $1", t, v, NULL, SPI_OK_UPDATE, 0);
			gaps++;
		}
		else
		{
			Oid			t[] = {INT4OID, PG_LSNOID};
			Datum		v[] = {Int32GetDatum(g.id), LSNGetDatum(new_oldest)};

			RUN("WITH d AS (DELETE FROM cdc.group_entry WHERE grp = $1 AND acked "
				"  AND commit_lsn < $2) "
				"UPDATE cdc.group_state SET ack_lsn = $2, ack_seq = 0, "
				"  scan_lsn = CASE WHEN scan_lsn < $2 THEN $2 ELSE scan_lsn END, "
				"  scan_seq = CASE WHEN scan_lsn < $2 THEN 0 ELSE scan_seq END "
				"WHERE id = $1", t, v, NULL, SPI_OK_UPDATE, 0);
		}
	}
	SPI_freetuptable(groups);
	return gaps;
}
