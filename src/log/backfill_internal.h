/*
 * backfill_internal.h
 *		What the two halves of the log writer's backfills share: reading a
 *		chunk (backfill.c) and logging it (backfill_log.c).  The scheme and
 *		why it is exact: the header of backfill.c.
 */
#ifndef CDC_BACKFILL_INTERNAL_H
#define CDC_BACKFILL_INTERNAL_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "utils/array.h"
#include "utils/tuplestore.h"

#include "cdc_plugin.h"

#define MARK_MAGIC 0x43424631	/* "CBF1" */

/* The mark's message: which chunk (nonce: this writer's, never reused). */
typedef struct BackfillMark
{
	uint32		magic;
	Oid			relid;
	int64		id;
	uint64		nonce;
} BackfillMark;

StaticAssertDecl(sizeof(BackfillMark) <= 64, "a mark fits IngestSink.mark");

/* The chunk in flight: read, its mark written, not yet logged. */
typedef struct Chunk
{
	bool		active;
	int64		id;
	Oid			relid;
	int32		audience;		/* consumer id, or minus the group id */
	uint64		nonce;
	XLogRecPtr	low;			/* WAL insert position before S */
	TransactionId xmin;			/* S */
	TransactionId xmax;
	int			nxip;
	TransactionId *xip;
	Tuplestorestate *rows;		/* (entity_id jsonb, new_data jsonb, fallback text[]) */
	TupleDesc	desc;
	int64		nrows;
	bool		exhausted;		/* the table had no row after these */
	bytea	   *last_key;		/* the last row's key, serialized (datumSerialize) */
	ArrayType  *key_names;		/* text[]: the key columns, for old_data's key */
	CdcRelEntry *re;			/* columns as read (the shape of the rows) */
	bool		has_schema_version; /* the version of that shape (src/plugin/schema.c) */
	XLogRecPtr	schema_version;
	MemoryContext cxt;
} Chunk;

/* The one chunk in flight (backfill.c reads it, backfill_log.c logs it). */
extern Chunk chunk;


#endif
