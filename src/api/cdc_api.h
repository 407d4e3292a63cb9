/*
 * cdc_api.h
 *		The SQL API (src/api/): consumers, stream/consume, checkpoint, trim,
 *		status, privileges, over the change log.
 */
#ifndef CDC_API_H
#define CDC_API_H

#include "postgres.h"

#include "compat.h"

#include "cdc_filter.h"
#include "cdc_locks.h"
#include "cdc_log.h"
#include "cdc_ops.h"

/* Attribute numbers (0-based) of cdc.change_entry, as created in log.sql. */
typedef enum CdcEntryColumn
{
	CDC_ENTRY_LSN,
	CDC_ENTRY_COMMIT_LSN,
	CDC_ENTRY_SEQ,
	CDC_ENTRY_XID,
	CDC_ENTRY_TIMESTAMP,
	CDC_ENTRY_ENTITY,
	CDC_ENTRY_ENTITY_ID,
	CDC_ENTRY_OPERATION,
	CDC_ENTRY_OLD_DATA,
	CDC_ENTRY_NEW_DATA,
	CDC_ENTRY_UNCHANGED_TOAST,
	CDC_ENTRY_FALLBACK,
	CDC_ENTRY_SCHEMA_VERSION,
	CDC_ENTRY_NCOLUMNS
} CdcEntryColumn;

/*
 * The one column list of cdc.log, in CdcLogColumn order (cdc_log.h), for
 * every statement that reads log rows whole (heap_deform_tuple into a
 * Datum[CDC_LOG_NCOLUMNS]) or copies them (the dead letters have the same
 * columns).  a: a table alias with its dot ("l."), or "".
 */
#define CDC_LOG_COLUMNS_OF(a) \
	a "commit_lsn, " a "seq, " a "chunk, " a "lsn, " a "xid, " a "\"timestamp\", " \
	a "relid, " a "entity, " a "entity_id, " a "operation, " a "old_data, " \
	a "new_data, " a "unchanged_toast, " a "fallback, " a "schema_version, " a "audience"
#define CDC_LOG_COLUMNS CDC_LOG_COLUMNS_OF("")

/*
 * The one place that decides what a role receives of a log row and shapes
 * it (privileges.c, behind read_filter.h): filter layers (CdcFilter, all must pass; messages by
 * the CDC_OP_MESSAGE rule), table / column / RLS / message privileges
 * checked against the current catalog (cached per relation for the life of
 * the filter, i.e. one call), numeric_as_string.  Used by cdc.stream,
 * cdc.consume and consumer groups alike.
 */
typedef struct CdcReadFilter CdcReadFilter;
extern CdcReadFilter *CdcReadFilterCreate(Oid role, List *filters,
										  bool messages,
										  bool numeric_as_string);
/* log_values/log_nulls: a cdc.log row (CdcLogColumn order); fills a
 * cdc.change_entry row; returns false when the role receives nothing of it.
 * Whether it returns true depends only on the row's operation, relid and
 * entity, never on its row images: horizon.c relies on it to decide every
 * consumer from one read of the range a trim removes. */
extern bool CdcReadFilterApply(CdcReadFilter *rf, Datum *log_values,
							   bool *log_nulls, Datum *entry_values,
							   bool *entry_nulls);
/*
 * Whose backfill rows (cdc.log.audience) rf lets through: a consumer's id,
 * or minus a group's id.  A filter made without it receives none: a
 * backfill's rows reach only who asked.
 */
extern void CdcReadFilterSetAudience(CdcReadFilter *rf, int32 audience);

/* backfill.c: start => 'snapshot' of a consumer or group just created */
extern void CdcBackfillOnCreate(bool group, const char *name);

/*
 * groups/group_admin.c: consumer groups' part of the log's horizon hook.  Whoever
 * installs the hook (CdcLogSetHorizonHook) calls it too, with the same
 * arguments and inside the same SPI session: groups behind new_oldest get a
 * gap or follow the horizon.  Returns how many got a gap.
 */
typedef struct CdcHorizonRange CdcHorizonRange;
extern int	CdcGroupsHorizon(XLogRecPtr old_oldest, XLogRecPtr new_oldest,
							 const char *reason, CdcHorizonRange *range);

/*
 * horizon.c: the log rows a horizon move removes, read once for every
 * consumer and group: would rf's role receive one after (after_lsn,
 * after_seq)?  Inside the hook's SPI session.
 */
extern bool CdcHorizonRangeReceives(CdcHorizonRange *range, XLogRecPtr after_lsn,
									int32 after_seq, CdcReadFilter *rf);

/* Called from _PG_init in every backend: registers the API's hooks. */
extern void CdcApiInit(void);

/* ------------------------------------------------------------------------
 * Inside the API (src/api/) only.
 * ------------------------------------------------------------------------
 */
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/tuplestore.h"

/*
 * consumer.c: consumers, rows of cdc.consumer_state.  The SQL functions run
 * as their caller and check ownership themselves; their statements on the
 * extension's tables run as the extension's owner with search_path pinned
 * (CdcOwnerBegin/End bracket an SPI session).
 */
/*
 * A gap's reason that starts with this names changes that never reached
 * the log (horizon.c, cdc_range_lost), not changes trimmed from it.
 */
#define CDC_NEVER_LOGGED "never logged: "

typedef struct CdcConsumer
{
	char	   *name;
	int32		id;				/* for the active-reader lock */
	Oid			owner;
	List	   *entities;		/* of char * */
	List	   *exclude_entities;	/* of char * */
	uint8		operations;		/* CDC_OP_* mask */
	bool		messages;		/* 'message' among the operations */
	XLogRecPtr	checkpoint_lsn;
	int32		checkpoint_seq;
	XLogRecPtr	gap_from;		/* recorded by trim or retention, or Invalid */
	XLogRecPtr	gap_to;
	char	   *gap_reason;
	/* cdc.log_state, read in the same statement */
	XLogRecPtr	oldest_lsn;
	XLogRecPtr	confirmed_lsn;
} CdcConsumer;

/* How CdcConsumerGet locks the row. */
typedef enum CdcLockMode
{
	CDC_LOCK_NONE,
	CDC_LOCK_UPDATE				/* FOR UPDATE: waits for a concurrent consume */
} CdcLockMode;

extern SPIPlanPtr CdcPreparePlan(SPIPlanPtr *cache, const char *query,
								 int nargs, Oid *argtypes, int cursor_options);
extern void CdcConsumerGet(const char *name, CdcLockMode lock, Oid invoker,
						   CdcConsumer *c);
extern List *CdcConsumerFilters(const CdcConsumer *c);
extern void CdcConsumerSetCheckpoint(const char *name, XLogRecPtr lsn,
									 int32 seq);
extern void CdcConsumerCheckGap(const CdcConsumer *c);
extern void CdcReaderLockAcquire(int32 consumer_id);
extern void CdcReaderLockRelease(int32 consumer_id);

/*
 * args.c: the API's arguments, one parser per kind, the same for consumers,
 * groups and cdc.stream / cdc.consume.  Each refuses a bad value with an
 * ERROR naming the argument (22004 for a NULL that has no meaning).
 */
extern void CdcRequireArg(FunctionCallInfo fcinfo, int argno, const char *argname,
						  const char *hint);
/* kind: "consumer", "consumer group" or "member" */
extern void CdcCheckName(const char *kind, const char *name);
extern char *CdcConsumerNameArg(FunctionCallInfo fcinfo, int argno);
/* entity patterns (text[]); NULL: NIL */
extern void CdcRequireOneDim(ArrayType *arr, const char *argname);
extern List *CdcTextArrayToList(ArrayType *arr, const char *argname);
/* cdc.operation[]: NULL is every table operation; empty or null elements: ERROR */
extern List *CdcOperationArrayArg(ArrayType *arr, const char *argname);
extern uint8 CdcOperationArrayToMask(ArrayType *arr, const char *argname,
									 bool *messages);
/* labels (stored or from CdcOperationArrayArg) to a mask; NIL: every table operation */
extern uint8 CdcOperationLabelsToMask(List *labels, bool *messages);
/* a stored filter (SPI row; 1-based columns of entities, exclude_entities, operations) */
extern CdcFilter *CdcStoredFilter(HeapTuple tup, TupleDesc desc, int entities_col,
								  int exclude_col, int operations_col, bool *messages);
/* interval in microseconds: not null, not negative, zero only if allow_zero */
extern int64 CdcIntervalArg(FunctionCallInfo fcinfo, int argno, const char *argname,
							bool allow_zero, const char *hint);
#define CDC_BATCH_TIMEOUT_HINT \
	"Give '0' to return at once, or how long to wait for a first change, such as '5 s'."
/* start: 'now', 'beginning', an LSN or a timestamptz, as the position (lsn, 0) */
extern char *CdcStartArg(FunctionCallInfo fcinfo, int argno);
extern XLogRecPtr CdcStartPosition(const char *start, Oid role, List *filters,
								   bool messages);

/*
 * stream.c: one scan of the log in cursor order, after (after_lsn,
 * after_seq) and before commit_lsn before_lsn (exclusive; Invalid = no
 * end), through a read filter.  Rows that pass go to store (or are only
 * counted when store is NULL) until limit of them passed.
 */
typedef struct CdcLogScan
{
	XLogRecPtr	after_lsn;
	int32		after_seq;
	XLogRecPtr	before_lsn;
	bool		has_from_ts;
	TimestampTz from_ts;
	int64		limit;
	CdcReadFilter *rf;
	Tuplestorestate *store;
	TupleDesc	desc;
	/* results */
	int64		returned;
	int64		scanned;
	TimestampTz first_ts;		/* commit time of the first row returned */
	XLogRecPtr	last_lsn;		/* last row returned */
	int32		last_seq;
	XLogRecPtr	end_lsn;		/* last row scanned */
	int32		end_seq;
} CdcLogScan;

extern void CdcLogScanRun(CdcLogScan *scan);
extern void CdcLogCountReceived(CdcReadFilter *rf, XLogRecPtr after_lsn, int32 after_seq,
								int64 *count, TimestampTz *first_ts);
extern XLogRecPtr CdcLogOldestLsn(void);

/* privileges.c */
extern bool CdcRoleMaySeeMessages(Oid role);
extern List *CdcWithheldTables(Oid role, List *filters, bool explicit_entities);
extern List *CdcUncapturedTables(List *filters, bool explicit_entities);
extern void CdcParseEntity(const char *entity, char **table);

/* numeric_as_string at read time (privileges.c) */
extern Datum CdcJsonbNumbersAsStrings(Datum jsonb, bool *changed);

#endif
