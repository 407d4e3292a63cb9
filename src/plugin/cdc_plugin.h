/*
 * cdc_plugin.h
 *		The output plugin (src/plugin/): WAL -> ChangeEntry, as JSON text or as
 *		jsonb parts handed to a sink (the log writer).
 */
#ifndef CDC_PLUGIN_H
#define CDC_PLUGIN_H

#include "postgres.h"

#include "access/htup.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "replication/output_plugin.h"
#include "replication/reorderbuffer.h"
#include "utils/array.h"
#include "utils/datetime.h"
#include "utils/rel.h"

#include "compat.h"

/* operations (CDC_OP_*) and filter layers (CdcFilter): shared with the log and the API */
#include "cdc_filter.h"
#include "cdc_ops.h"

/* What the plugin options asked for (options.c). */
typedef struct CdcOptions
{
	List	   *filters;		/* of CdcFilter *, all must pass */
	List	   *messages;		/* of char *, prefix globs; NIL = none */
	bool		transactions;	/* emit begin/commit entries */
	bool		numeric_as_string;	/* quote numbers a double would round */
	bool		only_local;		/* skip changes replayed from an origin */
	bool		schema_changes; /* schema entries, schema_version (schema.c) */
} CdcOptions;

extern void CdcParseOptions(List *defels, CdcOptions *opts);
extern void CdcCheckPattern(const char *option, const char *pattern);

/*
 * How values of a type are turned into JSON (column.c decides, once per
 * relation; entry_json.c and entry_jsonb.c write).  The same categories as
 * core's to_json()/to_jsonb(), except that cdc_ext walks composites and
 * arrays itself and uses a cast to json only when a superuser owns its
 * function: no code of an unprivileged role runs while decoding.
 */
typedef enum CdcEncoding
{
	CDC_ENC_INT2,
	CDC_ENC_INT4,
	CDC_ENC_INT8,
	CDC_ENC_FLOAT4,
	CDC_ENC_FLOAT8,
	CDC_ENC_NUMERIC,
	CDC_ENC_BOOL,
	CDC_ENC_TEXT,				/* text, varchar, bpchar: the varlena's bytes */
	CDC_ENC_NAME,
	CDC_ENC_UUID,
	CDC_ENC_JSON,
	CDC_ENC_JSONB,
	CDC_ENC_DATE,
	CDC_ENC_TIME,
	CDC_ENC_TIMETZ,
	CDC_ENC_TIMESTAMP,
	CDC_ENC_TIMESTAMPTZ,
	CDC_ENC_BYTEA,
	CDC_ENC_ARRAY,				/* elements by their own type */
	CDC_ENC_COMPOSITE,			/* attributes by their own types, as an object */
	CDC_ENC_CAST,				/* a superuser-owned cast to json */
	CDC_ENC_STRING				/* output function, as a JSON string */
} CdcEncoding;

typedef struct CdcColumn CdcColumn;

/* A categorised type: everything needed to write one of its values. */
typedef struct CdcType
{
	Oid			typid;			/* domains looked through */
	CdcEncoding enc;
	bool		needs_pin;		/* its text depends on session settings */
	bool		has_json;		/* may hold json text jsonb cannot take */
	bool		has_cast;		/* uses a cast function somewhere */
	FmgrInfo	func;			/* CDC_ENC_STRING: output; CDC_ENC_CAST: cast */
	Oid			outfunc;		/* CDC_ENC_CAST: output, for the fallback form */
	/* CDC_ENC_ARRAY: the element's type and storage */
	struct CdcType *elem;
	Oid			elem_typid;
	int16		elem_len;
	bool		elem_byval;
	char		elem_align;
	/* CDC_ENC_COMPOSITE: its attributes, as columns */
	Oid			typrelid;
	TupleDesc	desc;
	int			ncols;
	CdcColumn  *cols;
	int		   *jsonb_order;	/* indexes into cols in jsonb key order */
} CdcType;

/* A column of a relation, or an attribute of a composite type. */
struct CdcColumn
{
	AttrNumber	attnum;			/* 1-based, in the tuple */
	char	   *name;			/* plain name, for unchanged_toast */
	char	   *key;			/* "escaped name": ready to append */
	int			keylen;
	CdcType    *type;
	bool		is_replident;	/* sent in old_data when not REPLICA IDENTITY FULL */
};

/*
 * Everything per relation that does not change from row to row: the filter
 * decision, the entity name already escaped, columns with their encoders,
 * the key.  Built on first use, rebuilt after a relcache invalidation.
 */
typedef struct CdcRelEntry
{
	Oid			relid;			/* hash key */
	bool		valid;
	uint64		version;		/* new at every (re)build: its columns may differ */
	uint8		operations;		/* CDC_OP_* that pass every filter; 0 = skip */
	char	   *entity;			/* schema.table, quoted as PostgreSQL would */
	char	   *entity_json;	/* the same as a JSON string, with quotes */
	int			entity_json_len;
	int			natts;			/* of the tuple descriptor it was built for */
	int			ncols;
	CdcColumn  *cols;
	int		   *jsonb_order;	/* indexes into cols in jsonb key order */
	int			nkeys;			/* entity_id columns: indexes into cols */
	int		   *keys;
	bool		replident_full;
	bool		needs_pin;		/* some column's output depends on settings */
	bool		has_composite;	/* some column is (or holds) a composite */
	bool		has_cast;		/* some column uses a cast function */
	/* schema_version of its changes, when opts->schema_changes (schema.c) */
	bool		has_schema_version;
	XLogRecPtr	schema_version;
	MemoryContext cxt;			/* everything above that was allocated */
	TupleDesc	desc;			/* of the relation being decoded right now */
	/* room to deform a change's new and old tuple (natts each), reused */
	Datum	   *row_values[2];
	bool	   *row_nulls[2];
} CdcRelEntry;

/*
 * One tuple of a change, deformed once: every encoder (entity_id, old_data,
 * new_data) reads its columns from here rather than walking the tuple again
 * per column.
 */
typedef struct CdcRow
{
	HeapTuple	tuple;
	Datum	   *values;			/* indexed by attnum - 1 */
	bool	   *nulls;
} CdcRow;

/* Which of a CdcRelEntry's deform buffers a row uses. */
#define CDC_ROW_NEW 0
#define CDC_ROW_OLD 1

/* relcache.c */
extern void CdcRelCacheInit(void);
extern void CdcRelCacheDestroy(void);
extern CdcRelEntry *CdcRelCacheGet(Relation rel, const CdcOptions *opts);
extern void CdcRelCacheInvalidateAll(void);
extern CdcRelEntry *CdcRelEntryBuild(Relation rel, MemoryContext parent);

/* column.c: categorisation, rows, TOAST, session pinning (both writers) */
extern void CdcInitColumn(CdcColumn *col, Form_pg_attribute att,
						  MemoryContext cxt);
extern int *CdcJsonbOrder(const CdcColumn *cols, int ncols, MemoryContext cxt);
extern CdcRow *CdcDeformRow(CdcRelEntry *re, HeapTuple tuple, int which,
							CdcRow *row);
extern bool CdcGetValue(CdcRelEntry *re, const CdcColumn *col, const CdcRow *row,
						const CdcRow *fallback, Datum *value, bool *isnull);
extern bool CdcNumberAsString(const char *s, size_t len, bool numeric_as_string);
extern int	CdcFormatDateTime(char *buf, Datum value, CdcEncoding enc);
extern void CdcFormatUuid(char *buf, Datum value);
extern char *CdcHexEncode(char *dst, const unsigned char *src, size_t n);
extern int	CdcSessionPin(void);
extern void CdcSessionUnpin(int nestlevel);

/* the largest text CdcFormatDateTime writes, with its NUL */
#define CDC_DATETIME_BUFLEN (MAXDATELEN + 1)
/* 2^53: integers beyond it are not exact as a JavaScript number */
#define CDC_JS_MAX_SAFE ((int64) 9007199254740992)

/* entry_json.c: the text JSON writer (pg_logical_slot_*, replication) */
/*
 * What one jsonb value (a row's object, a message's content string) may
 * hold: jsonb's limit is 256 MB (2^28 - 1 bytes), this leaves room to spare.
 */
#define CDC_JSONB_VALUE_MAX ((Size) 240 * 1024 * 1024)

extern void CdcClassifyReset(void);
extern void CdcRelCacheSweep(void);
extern ErrorData *CdcRunCaught(void (*fn) (void *), void *arg);
extern text *CdcCastToJson(const CdcType *type, Datum value);
extern void CdcAppendValue(StringInfo out, const CdcType *type, Datum value,
						   bool numeric_as_string);
extern void CdcAppendRow(StringInfo out, CdcRelEntry *re, const CdcRow *row,
						 const CdcRow *fallback, bool only_replident,
						 bool numeric_as_string, List **unchanged_toast);
extern void CdcAppendKey(StringInfo out, CdcRelEntry *re, const CdcRow *row,
						 const CdcRow *fallback, bool numeric_as_string);
extern void CdcAppendJsonString(StringInfo out, const char *s, size_t len);
extern void CdcAppendLsn(StringInfo out, XLogRecPtr lsn);
extern void CdcAppendInt64(StringInfo out, int64 v);
extern int64 CdcTimestampToUnixMicros(TimestampTz ts);

/* entry_jsonb.c: the jsonb writer (the typed sink) */
extern Datum CdcRowToJsonb(CdcRelEntry *re, const CdcRow *row,
						   const CdcRow *fallback, bool only_replident,
						   bool numeric_as_string, List **unchanged_toast,
						   List **fallback_columns);
extern Datum CdcKeyToJsonb(CdcRelEntry *re, const CdcRow *row,
						   const CdcRow *fallback, bool numeric_as_string,
						   bool *isnull, List **fallback_columns);

/*
 * A typed sink: the log writer (src/log/sink.c) decodes with the plugin in
 * process and receives each change as parts instead of one JSON line.  The
 * decoder hands it a CdcChange whose datums live in the per-change memory
 * context: the sink copies what it keeps.
 */
typedef struct CdcChange
{
	XLogRecPtr	lsn;
	XLogRecPtr	commit_lsn;
	int32		seq;
	TransactionId xid;
	TimestampTz commit_time;
	Oid			relid;			/* InvalidOid for messages */
	const char *entity;			/* NULL for messages */
	int			op;				/* one CDC_OP_* bit, or CDC_OP_MESSAGE */
	Datum		entity_id;		/* jsonb, or (Datum) 0 for null */
	Datum		old_data;
	Datum		new_data;
	List	   *unchanged_toast;	/* of char * */
	List	   *fallback;		/* of char *: columns given as JSON text (entry_jsonb.c) */
	const CdcRelEntry *rel;		/* columns and key as of the change (row changes) */
	bool		has_schema_version; /* schema_version: null when false */
	XLogRecPtr	schema_version;
	int32		audience;		/* a backfill's rows: who asked (cdc.log.audience); 0: all */
} CdcChange;

typedef struct CdcSink CdcSink;
struct CdcSink
{
	/* skip changes at or before this cursor position */
	XLogRecPtr	after_commit_lsn;
	int32		after_seq;
	/* filter layers added to the plugin options' own (CdcFilter *) */
	List	   *filters;
	/* transactional logical messages whose prefix matches (NIL: none) */
	List	   *messages;
	/* drop transactions of this replication origin (the sink's own writes) */
	RepOriginId skip_origin;
	void		(*emit) (CdcSink *sink, const CdcChange *change);

	/*
	 * At a transactional CDC_CAPTURE_PREFIX message of the transaction that
	 * commits at commit_lsn: the sink may change its filters (the CdcFilter
	 * it listed in filters, in place) and messages; it returns true when it
	 * did, and the decoder then decides every relation again.
	 */
	bool		(*capture_changed) (CdcSink *sink, XLogRecPtr commit_lsn,
									TimestampTz commit_time);
	/* schema entries and schema_version wanted (the log writer: always) */
	bool		schema_changes;

	/*
	 * At a transactional CDC_BACKFILL_PREFIX message (a backfill chunk's
	 * mark, src/log/backfill.c) of a transaction the sink wants: lsn is the
	 * message's, the rest its transaction's.  NULL: ignored.
	 */
	void		(*backfill_mark) (CdcSink *sink, XLogRecPtr lsn, XLogRecPtr commit_lsn,
								  TransactionId xid, TimestampTz commit_time,
								  const char *message, Size size);
};

/*
 * The prefix of cdc.set_capture()'s logical messages (src/log/capture.c):
 * never emitted as a message, by either output, whatever the options; with
 * a sink, handed to capture_changed.
 */
#define CDC_CAPTURE_PREFIX "cdc_ext.capture"

/*
 * The prefix of the event trigger's schema messages (src/log/schema.c):
 * never emitted as a message; a `schema` entry when schema changes are
 * asked for (the option schema_changes; always for the log writer).  The
 * payload: relid, entity, table (as in the entity), old shape, new shape
 * (JSON text or "null"), each ended by a NUL byte.
 */
#define CDC_SCHEMA_PREFIX "cdc_ext.schema"

/*
 * schema.c: the version of relid's shape as of the change being decoded
 * (cdc.schema_shape under the historic snapshot); false when none is
 * recorded (the extension is not installed, or not yet then).
 */
extern bool CdcSchemaVersionOf(Oid relid, XLogRecPtr *version);
/* schema.c: does a schema entry for entity pass every filter layer? */
extern bool CdcSchemaPasses(const CdcOptions *opts, const char *entity, const char *table);
/* schema.c: split a schema message's payload; false if it is malformed */
typedef struct CdcSchemaMessage
{
	Oid			relid;
	const char *entity;
	const char *table;
	const char *old_shape;		/* NULL for a create */
	const char *new_shape;		/* NULL for a drop */
} CdcSchemaMessage;
extern bool CdcSchemaParse(const char *message, Size size, CdcSchemaMessage *m);

/*
 * The prefix of a backfill chunk's mark (src/log/backfill.c): never emitted
 * as a message either; with a sink, handed to backfill_mark.
 */
#define CDC_BACKFILL_PREFIX "cdc_ext.backfill"

/*
 * decode.c: the sink for the next decoding context this backend creates
 * (taken, and cleared, by the startup callback); NULL for JSON output.
 */
extern void CdcDecodeSetSink(CdcSink *sink);
extern void CdcDecodeInit(OutputPluginCallbacks *cb);

#endif
