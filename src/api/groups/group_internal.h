/*
 * group_internal.h
 *		Consumer groups (src/api/groups/): several members share one stream of
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
 * commit_lsns (CdcGroupLsnBounds), and sequential scans are off in these
 * statements (few live rows in many pages would mislead the planner).
 * Measured in bench/groups/results.md: a lease and an ack of 100 changes
 * still cost about 8x a cdc.consume() batch (mostly the 100 insertions and
 * the 100 deletions), so groups pay off when the work per change is what
 * needs more workers.
 *
 * Security: like the consumer functions, these run as their caller, check
 * that the caller may use the group (owner, member of it, superuser) and
 * switch to the extension's owner only for their statements, with
 * search_path pinned (CdcOwnerBegin/End, cdc_log.h).  What a member
 * receives of a log row is decided by CdcReadFilterApply as the calling
 * role (src/api/privileges.c); a change the caller may not receive is
 * acknowledged for the group, as a consumer's checkpoint passes it.
 *
 * The files, by phase (features call down into group_state.c):
 *   group_state.c     the group's row, members, positions, keys, locks, the
 *                     statement runner and the arguments groups share;
 *   group_lease.c     cdc.read_group and cdc.claim: phase 1 (entries the
 *                     group has) and delivery, dead-lettering on the way;
 *   group_frontier.c  phase 2: new log rows after the frontier;
 *   group_ack.c       cdc.ack / cdc.nack and why a position cannot be;
 *   group_inspect.c   cdc.pending, cdc.dead_letters, cdc.group_info;
 *   group_admin.c     create, drop, reset, replay dead letters, and the
 *                     horizon hook (CdcGroupsHorizon).
 */
#ifndef CDC_GROUP_INTERNAL_H
#define CDC_GROUP_INTERNAL_H

#include "postgres.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "utils/hsearch.h"

#include "cdc_api.h"

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
/* A read keeps looking through stretches without rows for it this long at least. */
#define GROUP_SCAN_MAX_US	((int64) 1000000)

typedef struct CdcGroup
{
	int32		id;
	char	   *name;
	Oid			owner;
	CdcFilter  *filter;
	bool		messages;
	int32		max_deliveries;
	/*
	 * The watermark: the group is done with every change at or before it
	 * (acknowledged or dead-lettered; a replayed dead letter is an entry
	 * below it); stored as ack_lsn/ack_seq.
	 */
	XLogRecPtr	watermark_lsn;
	int32		watermark_seq;
	/*
	 * The frontier: how far log rows have become entries of the group
	 * (phase 2 moves it); stored as scan_lsn/scan_seq.
	 */
	XLogRecPtr	frontier_lsn;
	int32		frontier_seq;
	XLogRecPtr	gap_from;
	XLogRecPtr	gap_to;
	char	   *gap_reason;
} CdcGroup;

/* A change of the group as cdc.group_entry knows it. */
typedef struct GroupEntry
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
} GroupEntry;

/* Positions in a batch, as parallel arrays for the statements' unnest(). */
typedef struct PosList
{
	int			n;
	int			cap;
	Datum	   *lsn;
	Datum	   *seq;
	Datum	   *chunk;
} PosList;

/* Output of read_group, claim and the inspection functions. */
typedef struct GroupOut
{
	Tuplestorestate *store;
	TupleDesc	desc;
	CdcReadFilter *rf;
	PosList		skipped;		/* delivered to nobody: the caller may not see them */
} GroupOut;

/* group_state.c: positions */
extern int	CdcGroupPosCmp(XLogRecPtr al, int32 as, XLogRecPtr bl, int32 bs);
extern void CdcGroupPosListAdd(PosList *pl, XLogRecPtr lsn, int32 seq, int32 chunk);
extern Datum CdcGroupLsnArray(Datum *d, int n);
extern Datum CdcGroupInt4Array(Datum *d, int n);
extern Datum CdcGroupBoolArray(Datum *d, int n);
extern void CdcGroupLsnBounds(Datum *lsn, int n, Datum *lo, Datum *hi);
extern Oid	CdcGroupPositionTypes[5];
extern void CdcGroupPositionArgs(int32 grp, Datum *lsn, Datum *seq, int n, Datum *values);

/* group_state.c: statements */
extern int	CdcGroupRun(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
						Datum *values, const char *nulls, int expect, long tcount,
						int options, bool hashed);
/*
 * Run a statement through a plan kept per call site (the static in each
 * expansion), with the plan options opts (hashed: see RUN_HASHED).
 */
#define RUN_WITH(opts, hashed, sql, types, values, nulls, expect, tcount) \
	do { \
		static SPIPlanPtr plan_ = NULL; \
		CdcGroupRun(&plan_, (sql), lengthof(types), (types), (values), (nulls), (expect), (tcount), \
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
 * (CdcGroupLsnBounds) is read once and hash-joined to the positions (0.25 ms, no
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

extern Datum CdcGroupCol(int row, int col, bool *isnull);
extern void CdcGroupOwnerBegin(CdcOwnerScope *scope);

/* group_state.c: arguments groups share (the API's kinds are in args.c) */
#define INTERVAL_HINT "Give an interval such as '30 s'."
extern char *CdcGroupTextArg(FunctionCallInfo fcinfo, int n, const char *argname);
extern int32 CdcGroupPositiveIntArg(FunctionCallInfo fcinfo, int n, const char *argname);

/* group_state.c: the group and its members */
#define GROUP_COLUMNS \
	"id, owner, entities, exclude_entities, operations::text[], max_deliveries, " \
	"ack_lsn, ack_seq, scan_lsn, scan_seq, gap_from, gap_to, gap_reason, name "
extern void CdcGroupFromRow(CdcGroup *g);
extern void CdcGroupRequire(CdcOwnerScope *scope, const char *name, bool for_update,
							CdcGroup *g);
extern void CdcGroupReload(CdcGroup *g);
extern void CdcGroupCheckGap(CdcGroup *g);
extern void CdcGroupMemberSeen(CdcGroup *g, const char *member);
extern void CdcGroupMemberRequire(CdcGroup *g, const char *member);
extern CdcReadFilter *CdcGroupReadFilter(CdcGroup *g, Oid role, bool numeric_as_string);
extern void CdcGroupOutBegin(FunctionCallInfo fcinfo, GroupOut *out);

/* group_state.c: keys, barriers and locks */
extern void CdcGroupRowKeys(Datum *lv, bool *ln, uint32 *khash, uint32 *ehash);
extern Oid	CdcGroupTruncateOid(void);
/* cdc.operation 'schema', set by CdcGroupTruncateOid */
extern Oid	cdc_group_schema_op;

/*
 * Is a log row's operation (a cdc.operation Datum) a barrier: a truncate,
 * or a schema entry (src/log/schema.c), both ordered against every change
 * of their table?  truncate_op: from CdcGroupTruncateOid, which also looks
 * up the schema label.
 */
static inline bool
CdcGroupIsTruncate(Datum op, Oid truncate_op)
{
	return DatumGetObjectId(op) == truncate_op ||
		(OidIsValid(cdc_group_schema_op) && DatumGetObjectId(op) == cdc_group_schema_op);
}
extern bool CdcGroupLock(CdcGroup *g, uint32 key, uint16 kind, bool wait);
extern void CdcGroupRequireReadCommitted(const char *fn);
extern HTAB *CdcGroupPendingBarriers(CdcGroup *g);
extern bool CdcGroupBehindBarrier(HTAB *barriers, uint32 ehash, XLogRecPtr lsn, int32 seq);
extern int32 CdcGroupFirstChunk(XLogRecPtr lsn);

/* group_frontier.c: phase 2 of a read, under the frontier lock */
extern int	CdcGroupLeaseNew(CdcGroup *g, const char *member, int want, TimestampTz now,
							 TimestampTz until, GroupOut *out, bool *moved, bool *scan_bound);

#endif
