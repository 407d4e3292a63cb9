/*
 * retention.c
 *		The log's partitions ("chunks"), retention and trim, and the settings
 *		that steer them: cdc.set_retention(), cdc.trim().
 *
 * Chunks: cdc.log is partitioned by chunk number.  The writer logs into the
 * current chunk; maintenance (every second in the writer, at the end of
 * CALL cdc.ingest()) creates the next chunk ahead of time, switches to it
 * when the current one is older than its age limit or larger than its size
 * limit, and drops the oldest closed chunks that retention no longer keeps.
 * Creating and dropping a partition needs a strong lock on cdc.log, which a
 * reader's transaction may hold: maintenance asks with a short lock_timeout
 * in a subtransaction and simply tries again a second later, so the writer
 * never waits on readers (logging itself only takes RowExclusiveLock on the
 * current partition).  Partitions are dropped only there, in maintenance's
 * own short transactions, never in an administrator's: a cdc.trim() in a
 * transaction left open holds no lock that the writer or a reader needs.
 *
 * Horizon: cdc.log_horizon.oldest_lsn (1.1: cdc.log_state's).  Retention
 * moves it to just past the last commit of the chunks it drops; trim moves
 * it to before_lsn and leaves the chunks wholly behind it to maintenance.
 * Before the horizon moves, with the rows still there, the registered
 * horizon hooks (the API's) decide for each consumer behind the new horizon
 * whether it loses a change it may see (a gap) or not (its checkpoint
 * follows), in the same transaction.  The horizon's row serializes the
 * moves; maintenance takes it with NOWAIT, so an administrator's open
 * transaction postpones retention, never logging.
 *
 * Chunk management runs under the chunk lock (cdc_locks.h), so that two
 * maintenance passes (the writer, CALL cdc.ingest()) never drop the same
 * chunk twice; maintenance only tries it.
 */
#include "postgres.h"

#include "storage/lock.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "cdc_plugin.h"
#include "cdc_locks.h"
#include "log_internal.h"

PG_FUNCTION_INFO_V1(cdc_trim);
PG_FUNCTION_INFO_V1(cdc_set_retention);

#define MAX_HORIZON_HOOKS 4
static CdcHorizonHook horizon_hooks[MAX_HORIZON_HOOKS];
static int	n_horizon_hooks = 0;

void
CdcLogSetHorizonHook(CdcHorizonHook hook)
{
	for (int i = 0; i < n_horizon_hooks; i++)
		if (horizon_hooks[i] == hook)
			return;
	if (n_horizon_hooks >= MAX_HORIZON_HOOKS)
		elog(ERROR, "cdc_ext: too many horizon hooks");
	horizon_hooks[n_horizon_hooks++] = hook;
}

int
CdcLogRunHorizonHooks(XLogRecPtr old_oldest, XLogRecPtr new_oldest, const char *reason)
{
	int			gaps = 0;

	for (int i = 0; i < n_horizon_hooks; i++)
		gaps += horizon_hooks[i] (old_oldest, new_oldest, reason);
	return gaps;
}

static void
spi_exec(const char *sql, int expected)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc != expected)
		elog(ERROR, "cdc_ext: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
}

/*
 * The chunk lock (cdc_locks.h), for the transaction.  Maintenance only
 * tries it (wait false): taken elsewhere, the pass is postponed (55P03).
 * (Maintenance used to try it through pg_try_advisory_xact_lock(6513763,
 * 1), a tag that is not the one lock_chunks(true) takes and that any role
 * could hold: specs/user_locks.spec.)
 */
static void
lock_chunks(bool wait)
{
	LOCKTAG		tag;

	SET_CDC_LOCKTAG_CHUNKS(tag);
	if (LockAcquire(&tag, ExclusiveLock, false, !wait) == LOCKACQUIRE_NOT_AVAIL)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("another maintenance of cdc.log is running")));
}

/*
 * Give table cdc.<relname>, just created by the extension's owner, the ACL
 * the install script gives its tables: the owner's privileges and nothing
 * else.  CREATE TABLE applies the owner's default privileges (ALTER
 * DEFAULT PRIVILEGES FOR ROLE <owner> GRANT SELECT ON TABLES TO ...), which
 * would let a role read every change through the new partition directly,
 * past every read-time rule; those grants (made by the owner, like every
 * default privilege) are revoked here, before the table joins the
 * extension (so that pg_init_privs records the reset ACL).  Its indexes
 * have no ACL.
 */
static void
reset_acl(const char *relname)
{
	char	   *qname = quote_qualified_identifier("cdc", relname);
	List	   *revokes = NIL;
	ListCell   *lc;
	Oid			t[1] = {TEXTOID};
	Datum		a[1] = {CStringGetTextDatum(qname)};

	spi_exec(psprintf("REVOKE ALL ON %s FROM PUBLIC", qname), SPI_OK_UTILITY);
	if (SPI_execute_with_args("SELECT DISTINCT pg_catalog.quote_ident(r.rolname) "
							  "FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) x, pg_catalog.pg_roles r "
							  "WHERE c.oid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
							  "AND r.oid OPERATOR(pg_catalog.=) x.grantee "
							  "AND x.grantee OPERATOR(pg_catalog.<>) c.relowner",
							  1, t, a, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading the ACL of %s failed", qname);
	for (uint64 i = 0; i < SPI_processed; i++)
		revokes = lappend(revokes, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	foreach(lc, revokes)
		spi_exec(psprintf("REVOKE ALL ON %s FROM %s CASCADE", qname, (char *) lfirst(lc)),
				 SPI_OK_UTILITY);
	/* default privileges may have taken some of the owner's own */
	spi_exec(psprintf("GRANT ALL ON %s TO CURRENT_USER", qname), SPI_OK_UTILITY);
}

/* Create partition "chunk" of cdc.log (as a member of the extension). */
static void
create_chunk(int32 chunk)
{
	spi_exec(psprintf("CREATE TABLE cdc.log_%d PARTITION OF cdc.log FOR VALUES FROM (%d) TO (%d)",
					  chunk, chunk, chunk + 1), SPI_OK_UTILITY);
	reset_acl(psprintf("log_%d", chunk));
	spi_exec(psprintf("ALTER EXTENSION cdc_ext ADD TABLE cdc.log_%d", chunk), SPI_OK_UTILITY);
	spi_exec(psprintf("INSERT INTO cdc.log_chunk (chunk, relname) VALUES (%d, 'log_%d')",
					  chunk, chunk), SPI_OK_INSERT);
}

static void
drop_chunk(int32 chunk)
{
	spi_exec(psprintf("ALTER EXTENSION cdc_ext DROP TABLE cdc.log_%d", chunk), SPI_OK_UTILITY);
	spi_exec(psprintf("DROP TABLE cdc.log_%d", chunk), SPI_OK_UTILITY);
	spi_exec(psprintf("DELETE FROM cdc.log_chunk WHERE chunk = %d", chunk),
			 SPI_OK_DELETE);
}

/*
 * The relation of chunk (inside SPI, as the owner).  With create and chunk
 * 0: make sure there is a current chunk, creating the first one if need be
 * (waiting for locks: there is nowhere else to log to).
 */
Oid
CdcLogChunkRelid(int32 chunk, bool create)
{
	Oid			nsp = get_namespace_oid("cdc", false);
	Oid			relid;

	if (create)
	{
		CdcLogStateRow st;

		lock_chunks(true);
		CdcLogStateLoad(&st);
		if (st.current_chunk > 0)
			return get_relname_relid(psprintf("log_%d", st.current_chunk), nsp);
		if (SPI_execute("SELECT coalesce(max(chunk), 0) + 1 FROM cdc.log_chunk", true, 1) != SPI_OK_SELECT)
			elog(ERROR, "cdc_ext: reading cdc.log_chunk failed");
		chunk = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											&(bool) {false}));
		if (!OidIsValid(get_relname_relid(psprintf("log_%d", chunk), nsp)))
			create_chunk(chunk);
		spi_exec(psprintf("UPDATE cdc.log_chunk SET created_at = pg_catalog.now() "
						  "WHERE chunk = %d", chunk), SPI_OK_UPDATE);
		spi_exec(psprintf("UPDATE cdc.log_state SET current_chunk = %d", chunk), SPI_OK_UPDATE);
	}
	relid = get_relname_relid(psprintf("log_%d", chunk), nsp);
	if (!OidIsValid(relid))
		elog(ERROR, "cdc_ext: partition cdc.log_%d is missing", chunk);
	return relid;
}

/*
 * Run fn in a subtransaction with a short lock_timeout; on error (a lock
 * not granted in time, most likely) roll it back and report false.
 */
static bool
guarded(void (*fn) (void *), void *arg, const char *what)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		int			level = NewGUCNestLevel();

		(void) set_config_option("lock_timeout", "200", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		fn(arg);
		AtEOXact_GUC(true, level);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		ereport(edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ? DEBUG1 : WARNING,
				(errmsg("cdc_ext: %s postponed: %s", what, edata->message)));
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Make the next chunk ahead of time and switch to it when the current one
 * is due.  The age limit is the smaller of chunk_max_age and a quarter of
 * retention_max_age, the size limit likewise with max_bytes, so that
 * retention can drop in steps of at most a quarter of what it keeps.
 */
static void
roll_chunks(void *arg)
{
	int32		current,
				next;
	bool		due,
				next_exists;
	Oid			nsp = get_namespace_oid("cdc", false);

	lock_chunks(false);
	if (SPI_execute("SELECT s.current_chunk, "
					"  (c.rows > 0 AND c.created_at < pg_catalog.now() "
					"     - LEAST(s.chunk_max_age, s.retention_max_age / 4)) "
					"  OR pg_catalog.pg_total_relation_size(('cdc.' || c.relname)::pg_catalog.regclass) "
					"     > LEAST(s.chunk_max_bytes, s.retention_max_bytes / 4) "
					"FROM cdc.log_state s JOIN cdc.log_chunk c ON c.chunk = s.current_chunk",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading cdc.log_chunk failed");
	if (SPI_processed != 1)
		return;					/* no current chunk yet: the first rows make one */
	current = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &(bool) {false}));
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);

		due = !isnull && DatumGetBool(d);
	}
	next = current + 1;
	next_exists = OidIsValid(get_relname_relid(psprintf("log_%d", next), nsp));
	if (!next_exists)
		create_chunk(next);
	if (due)
	{
		spi_exec(psprintf("UPDATE cdc.log_chunk SET closed = true WHERE chunk = %d",
						  current), SPI_OK_UPDATE);
		spi_exec(psprintf("UPDATE cdc.log_chunk SET created_at = pg_catalog.now() "
						  "WHERE chunk = %d", next), SPI_OK_UPDATE);
		spi_exec(psprintf("UPDATE cdc.log_state SET current_chunk = %d", next), SPI_OK_UPDATE);
	}
}

typedef struct DropPlan
{
	/* in: which closed chunks go (a SQL condition on c and s), why */
	const char *condition;
	const char *reason;
	/* out */
	int			dropped;
	int64		freed;
	int			gaps;
	XLogRecPtr	oldest;
} DropPlan;

/*
 * Drop the oldest chunks, as long as each meets plan->condition (a
 * contiguous run from the oldest: the horizon has no holes), telling the
 * horizon hooks first when the horizon moves.  Maintenance only: waits for
 * no lock (the chunk lock and the horizon's row are taken if free, else the
 * pass is postponed).
 */
static void
drop_chunks(void *arg)
{
	DropPlan   *plan = arg;
	CdcLogStateRow st;
	XLogRecPtr	horizon;
	List	   *chunks = NIL;
	ListCell   *lc;
	uint64		n;

	lock_chunks(false);
	/* the horizon's row: a trim's open transaction postpones us */
	spi_exec(psprintf("SELECT oldest_lsn FROM %s FOR UPDATE NOWAIT", CdcLogHorizonTable()),
			 SPI_OK_SELECT);
	CdcLogStateLoad(&st);
	/* running total from the newest down: what is kept if this one goes */
	if (SPI_execute(psprintf("SELECT c.chunk, c.last_commit_lsn, c.size, c.cond FROM ("
							 " SELECT c.chunk, c.last_commit_lsn, c.closed, "
							 "  pg_catalog.pg_total_relation_size(('cdc.' || c.relname)::pg_catalog.regclass) AS size, "
							 "  (%s) AS cond "
							 " FROM cdc.log_chunk c, cdc.log_state s) c "
							 "ORDER BY c.chunk", plan->condition), true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdc_ext: reading cdc.log_chunk failed");
	horizon = st.oldest_lsn;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int32		chunk = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		Datum		last = SPI_getbinval(tup, desc, 2, &isnull);
		XLogRecPtr	last_lsn = isnull ? InvalidXLogRecPtr : DatumGetLSN(last);
		int64		size = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		Datum		cond = SPI_getbinval(tup, desc, 4, &isnull);

		if (isnull || !DatumGetBool(cond) || chunk == st.current_chunk)
			break;
		chunks = lappend_int(chunks, chunk);
		plan->freed += size;
		if (!XLogRecPtrIsInvalid(last_lsn) && last_lsn + 1 > horizon)
			horizon = last_lsn + 1;
	}
	plan->oldest = st.oldest_lsn;
	if (horizon > st.oldest_lsn)
	{
		Oid			t[1] = {PG_LSNOID};
		Datum		a[1] = {LSNGetDatum(horizon)};

		plan->gaps = CdcLogRunHorizonHooks(st.oldest_lsn, horizon, plan->reason);
		/* horizon_time: the last removed change's commit time (a backward index probe) */
		if (SPI_execute_with_args(psprintf("UPDATE %s SET oldest_lsn = $1, horizon_time = "
										   "coalesce((SELECT l.\"timestamp\" FROM cdc.log l "
										   "  WHERE l.commit_lsn OPERATOR(pg_catalog.<) $1 "
										   "  ORDER BY l.commit_lsn DESC, l.seq DESC LIMIT 1), horizon_time)",
										   CdcLogHorizonTable()),
								  1, t, a, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "cdc_ext: moving the log's horizon failed");
		plan->oldest = horizon;
	}
	foreach(lc, chunks)
	{
		drop_chunk(lfirst_int(lc));
		plan->dropped++;
	}
}

/*
 * Conditions on a chunk c (cdc.log_chunk) and the state s: closed and
 * expired (retention), or wholly behind the horizon (left by cdc.trim()).
 */
#define RETENTION_CONDITION \
	"(c.last_commit_lsn IS NOT NULL AND c.last_commit_lsn < s.oldest_lsn) OR " \
	"c.closed AND (c.last_timestamp IS NULL" \
	" OR c.last_timestamp < pg_catalog.now() - s.retention_max_age" \
	" OR (s.retention_max_bytes IS NOT NULL AND sum(pg_catalog.pg_total_relation_size(('cdc.' || c.relname)::pg_catalog.regclass))" \
	"     OVER (ORDER BY c.chunk DESC) > s.retention_max_bytes))"

/*
 * Keep the partitions: roll the current chunk, drop what retention lets go.
 * own_transaction: the writer's (in a transaction of its own, and only for
 * the extension it logs for).
 */
void
CdcLogMaintain(bool own_transaction, Oid extension)
{
	CdcOwnerScope scope;
	DropPlan	plan = {0};

	if (own_transaction)
	{
		CdcStartTransaction();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (CdcLogPresent() != CDC_LOG_PRESENT ||
			get_extension_oid("cdc_ext", true) != extension)
		{
			PopActiveSnapshot();
			CommitTransactionCommand();
			return;
		}
	}
	CdcOwnerBegin(&scope);
	(void) guarded(roll_chunks, NULL, "making the next partition of cdc.log");
	plan.condition = RETENTION_CONDITION;
	plan.reason = "dropped by retention";
	(void) guarded(drop_chunks, &plan, "dropping expired partitions of cdc.log");
	CdcOwnerEnd(&scope);
	if (own_transaction)
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
}

/* ---------------------------------------------------------------------- */
/* SQL                                                                    */

/*
 * cdc.trim(before_lsn): drop the log of transactions that committed before
 * before_lsn.  The horizon moves to before_lsn in the caller's transaction
 * (the consumers and groups behind it decided on by the horizon hooks,
 * which read the trimmed range once); the partitions wholly behind it are
 * dropped by maintenance once the trim has committed (the writer looks
 * every second), so that the caller's transaction holds no lock a reader
 * or the writer needs, however long it stays open.  Rows of a partition
 * that straddles before_lsn stay on disk past the horizon (no reader gets
 * them) and go with their partition.  Reports the partitions this trim
 * leaves behind the horizon and their size.
 */
Datum
cdc_trim(PG_FUNCTION_ARGS)
{
	XLogRecPtr	before;
	CdcOwnerScope scope;
	CdcLogStateRow st;
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {0};
	XLogRecPtr	reach;
	XLogRecPtr	old_oldest;
	XLogRecPtr	horizon;
	int			gaps = 0;
	bool		isnull;

	CdcCheckInstalledVersion(fcinfo, 1);
	CdcRequireAdmin("cdc.trim()");
	CdcRequireSettings();
	/* not STRICT: trim(NULL) is an error, not an empty result */
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"before_lsn\" must not be null"),
				 errhint("For example: SELECT * FROM cdc.trim(cdc.current_lsn());")));
	before = PG_GETARG_LSN(0);
	if (XLogRecPtrIsInvalid(before))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("before_lsn must be a valid LSN"),
				 errhint("For example: SELECT * FROM cdc.trim(cdc.current_lsn());")));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "cdc_ext: trim must return a record");

	CdcOwnerBegin(&scope);
	/* one horizon move at a time: another trim, a retention pass */
	spi_exec("SELECT oldest_lsn FROM cdc.log_horizon FOR UPDATE", SPI_OK_SELECT);
	old_oldest = DatumGetLSN(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	CdcLogStateLoad(&st);
	reach = Max(st.confirmed_lsn, CdcLogProcessedLsn());
	if (before > reach + 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("before_lsn %X/%X is beyond what the log has ingested, %X/%X",
						LSN_FORMAT_ARGS(before), LSN_FORMAT_ARGS(reach)),
				 errhint("Wait for the log with SELECT cdc.wait_for_log(); then trim.")));
	horizon = Max(old_oldest, before);
	if (horizon > old_oldest)
	{
		Oid			t[1] = {PG_LSNOID};
		Datum		a[1] = {LSNGetDatum(horizon)};

		gaps = CdcLogRunHorizonHooks(old_oldest, horizon, "trimmed by cdc.trim()");
		/* horizon_time: the last removed change's commit time (a backward index probe) */
		if (SPI_execute_with_args("UPDATE cdc.log_horizon SET oldest_lsn = $1, horizon_time = "
								  "coalesce((SELECT l.\"timestamp\" FROM cdc.log l "
								  "  WHERE l.commit_lsn OPERATOR(pg_catalog.<) $1 "
								  "  ORDER BY l.commit_lsn DESC, l.seq DESC LIMIT 1), horizon_time)",
								  1, t, a, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "cdc_ext: moving the log's horizon failed");
	}

	/* the partitions this trim leaves wholly behind the horizon */
	{
		Oid			t[3] = {PG_LSNOID, PG_LSNOID, INT4OID};
		Datum		a[3] = {LSNGetDatum(old_oldest), LSNGetDatum(horizon),
		Int32GetDatum(st.current_chunk)};

		if (SPI_execute_with_args("SELECT pg_catalog.count(*)::integer, coalesce(pg_catalog.sum("
								  "pg_catalog.pg_total_relation_size(('cdc.' OPERATOR(pg_catalog.||) c.relname)::pg_catalog.regclass)), 0)::bigint "
								  "FROM cdc.log_chunk c WHERE c.last_commit_lsn OPERATOR(pg_catalog.>=) $1 "
								  "AND c.last_commit_lsn OPERATOR(pg_catalog.<) $2 "
								  "AND c.chunk OPERATOR(pg_catalog.<) $3",
								  3, t, a, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "cdc_ext: reading cdc.log_chunk failed");
		values[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		values[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	}
	CdcOwnerEnd(&scope);

	values[2] = LSNGetDatum(horizon);
	values[3] = Int32GetDatum(gaps);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/*
 * cdc.set_retention(max_age, max_bytes): in cdc.log_settings, which the
 * writer only reads: a transaction left open after it stops nothing.
 */
Datum
cdc_set_retention(PG_FUNCTION_ARGS)
{
	CdcOwnerScope scope;
	Interval   *max_age;
	Oid			t[2] = {INTERVALOID, INT8OID};
	Datum		a[2];
	char		n[2] = {' ', ' '};

	CdcCheckInstalledVersion(fcinfo, 2);
	CdcRequireAdmin("cdc.set_retention()");
	CdcRequireSettings();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_age must not be null"),
				 errhint("Retention by age is always on; the default is 168 hours.")));
	max_age = PG_GETARG_INTERVAL_P(0);
	if (CdcIntervalMicros(max_age, "max_age") < USECS_PER_SEC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_age must be at least 1 second")));
	if (!PG_ARGISNULL(1) && PG_GETARG_INT64(1) < 1024 * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_bytes must be at least 1 MB, not %lld", (long long) PG_GETARG_INT64(1)),
				 errhint("Pass NULL for no size cap.")));
	a[0] = IntervalPGetDatum(max_age);
	a[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	if (PG_ARGISNULL(1))
		n[1] = 'n';
	CdcOwnerBegin(&scope);
	if (SPI_execute_with_args("UPDATE cdc.log_settings SET retention_max_age = $1, retention_max_bytes = $2",
							  2, t, a, n, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "cdc_ext: updating cdc.log_settings failed");
	CdcOwnerEnd(&scope);
	PG_RETURN_VOID();
}
