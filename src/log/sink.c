/*
 * sink.c
 *		The log writer's sink: the plugin (src/plugin/decode.c) hands it each
 *		change of each transaction that commits in the WAL decoded, as parts;
 *		it buffers them as cdc.log rows for the cycle (ingest.c) to insert,
 *		applies the capture setting in force (capture.c), and records the
 *		shape of each table it logs (cdc.log_shape).
 *
 * The buffer is a tuplestore (spilling to disk: a 2M-row transaction is
 * logged in bounded memory); its rows go into the current partition with
 * one multi-insert per batch, as COPY does.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

#include "log_internal.h"

/* Rows per table_multi_insert call. */
#define CDC_INSERT_BATCH 1000

/* ---------------------------------------------------------------------- */
/* Table shapes                                                           */

/*
 * cdc.log_shape records, for each logged table, its columns (attnum, name)
 * and key columns as of its changes, so that read-time column privileges
 * (src/api/privileges.c) follow a column's identity and not its name: a
 * column dropped and added again under the same name is another column.
 * The decoder hands each row change with its relation entry, built from
 * the catalog as of the change; when its version differs from the last
 * one this sink saw for the table and its columns differ too, the shape is
 * recorded at the change's position, in the cycle's transaction, unless the
 * last recorded shape is the same (a new writer sees each table once
 * more).  What this sink knows is forgotten when a cycle that recorded
 * shapes is not known to have committed.
 */
typedef struct LoggedShape
{
	Oid			relid;			/* hash key */
	uint64		version;		/* CdcRelEntry.version last compared */
	int			ncols;			/* -1: unknown */
	int16	   *attnums;
	char	  **names;
	int			nkey;
	int16	   *key;
} LoggedShape;

typedef struct PendingShape
{
	Oid			relid;
	XLogRecPtr	commit_lsn;
	int32		seq;
	Datum		attnums;		/* smallint[] */
	Datum		names;			/* text[] */
	Datum		key;			/* smallint[] */
} PendingShape;

static bool
shape_equals(const LoggedShape *ls, const CdcRelEntry *re)
{
	if (ls->ncols != re->ncols || ls->nkey != re->nkeys)
		return false;
	for (int i = 0; i < re->ncols; i++)
		if (ls->attnums[i] != re->cols[i].attnum || strcmp(ls->names[i], re->cols[i].name) != 0)
			return false;
	for (int i = 0; i < re->nkeys; i++)
		if (ls->key[i] != re->cols[re->keys[i]].attnum)
			return false;
	return true;
}

static Datum
int2_array(const int16 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int16GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT2OID, 2, true, TYPALIGN_SHORT));
}

/* Called for every row change the sink logs: queue its shape if new. */
static void
shape_note(IngestSink *s, const CdcChange *c)
{
	const CdcRelEntry *re = c->rel;
	LoggedShape *ls;
	bool		found;
	MemoryContext old;
	PendingShape *ps;
	Datum	   *names;

	if (re == NULL || !s->record_shapes)
		return;
	if (s->shapes == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(LoggedShape);
		ctl.hcxt = s->shape_cxt;
		s->shapes = hash_create("cdc_ext logged shapes", 64, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	ls = hash_search(s->shapes, &c->relid, HASH_ENTER, &found);
	if (!found)
	{
		ls->version = 0;
		ls->ncols = -1;
		ls->attnums = NULL;
		ls->names = NULL;
		ls->key = NULL;
	}
	if (found && ls->version == re->version)
		return;
	ls->version = re->version;
	if (ls->ncols >= 0 && shape_equals(ls, re))
		return;

	/* a new shape: remember it, and queue it for this cycle's transaction */
	old = MemoryContextSwitchTo(s->shape_cxt);
	if (ls->ncols >= 0)
	{
		for (int i = 0; i < ls->ncols; i++)
			pfree(ls->names[i]);
		pfree(ls->attnums);
		pfree(ls->names);
		pfree(ls->key);
	}
	ls->ncols = re->ncols;
	ls->nkey = re->nkeys;
	ls->attnums = palloc(sizeof(int16) * Max(re->ncols, 1));
	ls->names = palloc(sizeof(char *) * Max(re->ncols, 1));
	ls->key = palloc(sizeof(int16) * Max(re->nkeys, 1));
	for (int i = 0; i < re->ncols; i++)
	{
		ls->attnums[i] = re->cols[i].attnum;
		ls->names[i] = pstrdup(re->cols[i].name);
	}
	for (int i = 0; i < re->nkeys; i++)
		ls->key[i] = re->cols[re->keys[i]].attnum;

	MemoryContextSwitchTo(s->pending_cxt);
	ps = palloc(sizeof(PendingShape));
	ps->relid = c->relid;
	ps->commit_lsn = c->commit_lsn;
	ps->seq = c->seq;
	ps->attnums = int2_array(ls->attnums, ls->ncols);
	names = palloc(sizeof(Datum) * Max(ls->ncols, 1));
	for (int i = 0; i < ls->ncols; i++)
		names[i] = CStringGetTextDatum(ls->names[i]);
	ps->names = PointerGetDatum(construct_array(names, ls->ncols, TEXTOID, -1, false, TYPALIGN_INT));
	ps->key = int2_array(ls->key, ls->nkey);
	s->pending = lappend(s->pending, ps);
	MemoryContextSwitchTo(old);
}

/*
 * Record the cycle's new shapes (inside the owner's SPI session, in the
 * transaction that logs the rows), each unless the shape recorded last
 * before it is the same.
 */
void
CdcSinkFlushShapes(IngestSink *s)
{
	ListCell   *lc;
	Oid			t[6] = {OIDOID, PG_LSNOID, INT4OID, INT2ARRAYOID, TEXTARRAYOID, INT2ARRAYOID};

	foreach(lc, s->pending)
	{
		PendingShape *ps = lfirst(lc);
		Datum		a[6] = {ObjectIdGetDatum(ps->relid), LSNGetDatum(ps->commit_lsn),
		Int32GetDatum(ps->seq), ps->attnums, ps->names, ps->key};

		if (SPI_execute_with_args("INSERT INTO cdc.log_shape (relid, commit_lsn, seq, attnums, names, key) "
								  "SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS ("
								  " SELECT FROM (SELECT l.attnums, l.names, l.key FROM cdc.log_shape l "
								  "  WHERE l.relid OPERATOR(pg_catalog.=) $1 "
								  "  AND (l.commit_lsn, l.seq) OPERATOR(pg_catalog.<=) ($2, $3) "
								  "  ORDER BY l.commit_lsn DESC, l.seq DESC LIMIT 1) l "
								  " WHERE l.attnums OPERATOR(pg_catalog.=) $4 AND l.names OPERATOR(pg_catalog.=) $5 "
								  " AND l.key OPERATOR(pg_catalog.=) $6) "
								  "ON CONFLICT DO NOTHING",
								  6, t, a, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "cdc_ext: recording the shape of table %u failed", ps->relid);
	}
	if (s->pending != NIL)
		s->shapes_unconfirmed = true;
	s->pending = NIL;
	MemoryContextReset(s->pending_cxt);
}

/* At a cycle's start: forget shapes a failed cycle may not have recorded. */
void
CdcSinkCycleStart(IngestSink *s)
{
	s->pending = NIL;
	MemoryContextReset(s->pending_cxt);
	if (s->shapes_unconfirmed && s->shapes != NULL)
	{
		hash_destroy(s->shapes);
		s->shapes = NULL;
	}
	s->shapes_unconfirmed = false;
	s->mark_seen = false;
}

/* ---------------------------------------------------------------------- */
/* The sink                                                               */

/* Change c as a cdc.log row: v, n (every column set). */
static void
log_row_values(IngestSink *s, const CdcChange *c, Datum *v, bool *n)
{
	int			opi = cdc_operation_index(c->op);

	if (opi < 0)
		elog(ERROR, "cdc_ext: unexpected operation %d", c->op);
	memset(n, 0, sizeof(bool) * CDC_LOG_NCOLUMNS);
	v[CDC_LOG_COMMIT_LSN] = LSNGetDatum(c->commit_lsn);
	v[CDC_LOG_SEQ] = Int32GetDatum(c->seq);
	v[CDC_LOG_CHUNK] = Int32GetDatum(s->chunk);
	v[CDC_LOG_LSN] = LSNGetDatum(c->lsn);
	v[CDC_LOG_XID] = Int64GetDatum((int64) c->xid);
	v[CDC_LOG_TIMESTAMP] = TimestampTzGetDatum(c->commit_time);
	v[CDC_LOG_RELID] = ObjectIdGetDatum(c->relid);
	n[CDC_LOG_RELID] = !OidIsValid(c->relid);
	n[CDC_LOG_ENTITY] = c->entity == NULL;
	v[CDC_LOG_ENTITY] = c->entity ? CStringGetTextDatum(c->entity) : (Datum) 0;
	v[CDC_LOG_ENTITY_ID] = c->entity_id;
	n[CDC_LOG_ENTITY_ID] = c->entity_id == (Datum) 0;
	v[CDC_LOG_OPERATION] = ObjectIdGetDatum(s->op_oids[opi]);
	v[CDC_LOG_OLD_DATA] = c->old_data;
	n[CDC_LOG_OLD_DATA] = c->old_data == (Datum) 0;
	v[CDC_LOG_NEW_DATA] = c->new_data;
	n[CDC_LOG_NEW_DATA] = c->new_data == (Datum) 0;
	n[CDC_LOG_UNCHANGED_TOAST] = c->unchanged_toast == NIL;
	if (c->unchanged_toast != NIL)
		v[CDC_LOG_UNCHANGED_TOAST] = PointerGetDatum(strlist_to_textarray(c->unchanged_toast));
	n[CDC_LOG_FALLBACK] = c->fallback == NIL;
	if (c->fallback != NIL)
		v[CDC_LOG_FALLBACK] = PointerGetDatum(strlist_to_textarray(c->fallback));
	v[CDC_LOG_SCHEMA_VERSION] = LSNGetDatum(c->schema_version);
	n[CDC_LOG_SCHEMA_VERSION] = !c->has_schema_version;
	v[CDC_LOG_AUDIENCE] = Int32GetDatum(c->audience);
	n[CDC_LOG_AUDIENCE] = c->audience == 0;
}

/* A row of the cycle logged: its table's shape, the cycle's counts. */
static void
log_row_noted(IngestSink *s, const CdcChange *c)
{
	shape_note(s, c);
	if (s->rows++ == 0)
	{
		s->first_commit_lsn = c->commit_lsn;
		s->first_ts = c->commit_time;
	}
	s->last_commit_lsn = c->commit_lsn;
	s->last_seq = c->seq;
	s->last_ts = c->commit_time;
}

/* A change decoded: buffered, inserted at the cycle's end (CdcSinkInsertRows). */
static void
ingest_emit(CdcSink *base, const CdcChange *c)
{
	IngestSink *s = (IngestSink *) base;
	Datum		v[CDC_LOG_NCOLUMNS];
	bool		n[CDC_LOG_NCOLUMNS];

	log_row_values(s, c, v, n);
	tuplestore_putvalues(s->store, s->desc, v, n);
	log_row_noted(s, c);
}

/*
 * A backfill chunk's mark (backfill.c): kept for the cycle, which stops
 * decoding after this transaction and hands it to CdcBackfillLog.  One per
 * cycle: the cycle stops at the first.
 */
static void
ingest_backfill_mark(CdcSink *base, XLogRecPtr lsn, XLogRecPtr commit_lsn,
					 TransactionId xid, TimestampTz commit_time,
					 const char *message, Size size)
{
	IngestSink *s = (IngestSink *) base;

	if (s->mark_seen || size > sizeof(s->mark))
		return;
	s->mark_seen = true;
	s->mark_lsn = lsn;
	s->mark_commit_lsn = commit_lsn;
	s->mark_xid = xid;
	s->mark_time = commit_time;
	memcpy(s->mark, message, size);
	s->mark_size = size;
}

/* Do two lists of C strings hold the same strings in the same order? */
static bool
same_strings(List *a, List *b)
{
	ListCell   *la,
			   *lb;

	if (list_length(a) != list_length(b))
		return false;
	forboth(la, a, lb, b)
		if (strcmp(lfirst(la), lfirst(lb)) != 0)
			return false;
	return true;
}

/*
 * At cdc.set_capture()'s message, inside decoding (capture.c): read the
 * setting as of there and filter with it from there on.  A message of a
 * transaction that committed at or before the setting in force is one the
 * setting already includes (decoded again after a crash): ignored.  So is
 * one that finds the setting unchanged (a message emitted by hand): the
 * relations are not decided again for nothing.
 */
static bool
ingest_capture_changed(CdcSink *base, XLogRecPtr commit_lsn, TimestampTz commit_time)
{
	IngestSink *s = (IngestSink *) base;
	MemoryContext cxt;
	List	   *entities = NIL,
			   *exclude = NIL,
			   *messages = NIL;

	if (commit_lsn <= s->capture_lsn)
		return false;
	cxt = AllocSetContextCreate(GetMemoryChunkContext(s), "cdc_ext capture",
								ALLOCSET_SMALL_SIZES);
	if (!CdcCaptureReadHistoric(cxt, &entities, &exclude, &messages) ||
		(same_strings(entities, s->capture->entities) &&
		 same_strings(exclude, s->capture->exclude_entities) &&
		 same_strings(messages, s->base.messages)))
	{
		MemoryContextDelete(cxt);
		return false;
	}
	s->capture->entities = entities;
	s->capture->exclude_entities = exclude;
	s->base.messages = messages;
	if (s->capture_cxt != NULL)
		MemoryContextDelete(s->capture_cxt);
	s->capture_cxt = cxt;
	s->capture_lsn = commit_lsn;
	s->capture_at = commit_time;
	s->capture_changed = true;
	return true;
}

/*
 * Record the capture setting in force with the position it holds at, in
 * the cycle's transaction (the one that logs): a restart decodes from that
 * position with that setting.
 */
void
CdcSinkPersistCapture(IngestSink *s, XLogRecPtr processed)
{
	Oid			t[6] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, PG_LSNOID,
	TIMESTAMPTZOID, PG_LSNOID};
	Datum		a[6];
	char		n[7] = "      ";

	n[0] = s->capture->entities == NIL ? 'n' : ' ';
	n[1] = s->capture->exclude_entities == NIL ? 'n' : ' ';
	n[2] = s->base.messages == NIL ? 'n' : ' ';
	a[0] = s->capture->entities == NIL ? (Datum) 0 :
		PointerGetDatum(strlist_to_textarray(s->capture->entities));
	a[1] = s->capture->exclude_entities == NIL ? (Datum) 0 :
		PointerGetDatum(strlist_to_textarray(s->capture->exclude_entities));
	a[2] = s->base.messages == NIL ? (Datum) 0 :
		PointerGetDatum(strlist_to_textarray(s->base.messages));
	a[3] = LSNGetDatum(s->capture_lsn);
	a[4] = TimestampTzGetDatum(s->capture_at);
	a[5] = LSNGetDatum(processed);
	if (SPI_execute_with_args("UPDATE cdc.log_writer SET capture_entities = $1, "
							  "capture_exclude_entities = $2, capture_messages = $3, "
							  "capture_lsn = $4, capture_at = $5, "
							  "confirmed_lsn = GREATEST(confirmed_lsn, $6)",
							  6, t, a, n, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "cdc_ext: recording the capture setting failed");
	s->capture_changed = false;
}

/*
 * A new sink, its memory in cxt (the ingest's, as long as the decoding
 * context): empty until CdcSinkLoad.
 */
IngestSink *
CdcSinkCreate(MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	IngestSink *s = palloc0(sizeof(IngestSink));

	s->capture = palloc0(sizeof(CdcFilter));
	s->shape_cxt = AllocSetContextCreate(cxt, "cdc_ext logged shapes",
										 ALLOCSET_SMALL_SIZES);
	s->pending_cxt = AllocSetContextCreate(cxt, "cdc_ext pending shapes",
										   ALLOCSET_SMALL_SIZES);
	MemoryContextSwitchTo(old);
	return s;
}

/*
 * Read what the sink needs from the database (inside the owner's SPI
 * session): the capture setting in force where decoding resumes
 * (capture.c), cdc.log's row type, cdc.operation's labels, whether
 * cdc.log_shape exists.  Lists and descriptors are made in cxt.
 */
void
CdcSinkLoad(IngestSink *s, MemoryContext cxt)
{
	CdcFilter  *f = s->capture;
	MemoryContext old;
	Relation	logrel;

	if (SPI_execute(CdcLogSettingsPresent() ?
					"SELECT capture_entities, capture_exclude_entities, capture_messages, "
					"capture_lsn, capture_at FROM cdc.log_writer" :
					"SELECT capture_entities, capture_exclude_entities, capture_messages, "
					"NULL::pg_catalog.pg_lsn, NULL::pg_catalog.timestamptz FROM cdc.log_state",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "cdc_ext: cdc.log_state must have one row");
	s->capture_cxt = AllocSetContextCreate(cxt, "cdc_ext capture", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(s->capture_cxt);
	f->entities = CdcSpiTextList(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	f->exclude_entities = CdcSpiTextList(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	s->base.messages = CdcSpiTextList(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	s->capture_lsn = CdcSpiLsn(0, 4);
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull);

		s->capture_at = isnull ? 0 : DatumGetTimestampTz(d);
	}
	MemoryContextSwitchTo(cxt);
	f->operations = CDC_OP_FILTERABLE;	/* schema entries too: always logged */
	s->base.filters = list_make1(f);
	s->base.capture_changed = ingest_capture_changed;
	logrel = table_open(get_relname_relid("log", get_namespace_oid("cdc", false)),
						AccessShareLock);
	s->desc = CreateTupleDescCopy(RelationGetDescr(logrel));
	table_close(logrel, AccessShareLock);
	CdcLogOperationOids(s->op_oids);
	s->record_shapes = OidIsValid(get_relname_relid("log_shape", get_namespace_oid("cdc", false)));
	s->base.emit = ingest_emit;
	s->base.schema_changes = true;	/* schema entries, schema_version: always */
	s->base.backfill_mark = ingest_backfill_mark;
	MemoryContextSwitchTo(old);
}

/*
 * Inserting into a partition of cdc.log with its indexes, as COPY does (a
 * multi-insert a batch, no executor per row).  A batch ends at
 * CDC_INSERT_BATCH rows or CDC_INSERT_BATCH_BYTES of rows, whichever first
 * (a backfill's rows may be 10 MB each).
 */
#define CDC_INSERT_BATCH_BYTES ((Size) 16 * 1024 * 1024)

struct CdcLogInsert
{
	Relation	rel;
	ResultRelInfo *rri;
	EState	   *estate;
	BulkInsertState bistate;
	CommandId	cid;
	TupleTableSlot *slots[CDC_INSERT_BATCH];
	int			n;
	Size		bytes;
	MemoryContext cxt;			/* Begin's: where inserts run (callers reset theirs) */
};

CdcLogInsert *
CdcSinkInsertBegin(IngestSink *s, Oid partoid)
{
	CdcLogInsert *ins = palloc0(sizeof(CdcLogInsert));

	ins->cxt = CurrentMemoryContext;
	ins->rel = table_open(partoid, RowExclusiveLock);
	if (RelationGetDescr(ins->rel)->natts != s->desc->natts)
		elog(ERROR, "cdc_ext: partition %s does not match cdc.log", RelationGetRelationName(ins->rel));
	ins->rri = makeNode(ResultRelInfo);
	ins->estate = CreateExecutorState();
	ins->bistate = GetBulkInsertState();
	ins->cid = GetCurrentCommandId(true);
	InitResultRelInfo(ins->rri, ins->rel, 1, NULL, 0);
	ExecOpenIndices(ins->rri, false);
	for (int i = 0; i < CDC_INSERT_BATCH; i++)
		ins->slots[i] = table_slot_create(ins->rel, NULL);
	return ins;
}

/* Insert the batch's rows and their index entries. */
static void
insert_flush(CdcLogInsert *ins)
{
	MemoryContext old;

	if (ins->n == 0)
		return;
	old = MemoryContextSwitchTo(ins->cxt);
	table_multi_insert(ins->rel, ins->slots, ins->n, ins->cid, 0, ins->bistate);
	for (int i = 0; i < ins->n; i++)
	{
		List	   *recheck = CdcExecInsertIndexTuples(ins->rri, ins->slots[i], ins->estate,
													   false, false, NULL, NIL);

		list_free(recheck);
		ExecClearTuple(ins->slots[i]);
	}
	ResetPerTupleExprContext(ins->estate);
	MemoryContextSwitchTo(old);
	ins->n = 0;
	ins->bytes = 0;
	CHECK_FOR_INTERRUPTS();
}

/* The slot the next row goes into, once filled (insert_stored). */
static TupleTableSlot *
insert_slot(CdcLogInsert *ins)
{
	return ins->slots[ins->n];
}

/* The row put into insert_slot(): counted, and the batch inserted if full. */
static void
insert_stored(CdcLogInsert *ins, Size bytes)
{
	ins->bytes += bytes;
	if (++ins->n >= CDC_INSERT_BATCH || ins->bytes >= CDC_INSERT_BATCH_BYTES)
		insert_flush(ins);
}

/*
 * Log change c now, straight into the partition (a backfill's rows: they
 * are not decoded, so they need no buffer; its values are copied: the
 * caller may free them on return).
 */
void
CdcSinkInsertOne(IngestSink *s, CdcLogInsert *ins, const CdcChange *c)
{
	TupleTableSlot *slot = insert_slot(ins);
	HeapTuple	tup;
	bool		should_free;

	ExecClearTuple(slot);
	log_row_values(s, c, slot->tts_values, slot->tts_isnull);
	ExecStoreVirtualTuple(slot);
	ExecMaterializeSlot(slot);
	tup = ExecFetchSlotHeapTuple(slot, false, &should_free);
	insert_stored(ins, tup->t_len);
	log_row_noted(s, c);
}

void
CdcSinkInsertEnd(CdcLogInsert *ins)
{
	insert_flush(ins);
	for (int i = 0; i < CDC_INSERT_BATCH; i++)
		ExecDropSingleTupleTableSlot(ins->slots[i]);
	ExecCloseIndices(ins->rri);
	FreeBulkInsertState(ins->bistate);
	FreeExecutorState(ins->estate);
	table_close(ins->rel, NoLock);
	pfree(ins);
}

/* Insert the cycle's buffered rows into partition partoid. */
void
CdcSinkInsertRows(IngestSink *s, Oid partoid)
{
	CdcLogInsert *ins = CdcSinkInsertBegin(s, partoid);
	TupleTableSlot *in = MakeSingleTupleTableSlot(s->desc, &TTSOpsMinimalTuple);

	tuplestore_rescan(s->store);
	while (tuplestore_gettupleslot(s->store, true, false, in))
	{
		ExecCopySlot(insert_slot(ins), in);
		insert_stored(ins, 0);	/* batches by rows: the buffer holds them anyway */
	}
	ExecDropSingleTupleTableSlot(in);
	CdcSinkInsertEnd(ins);
}
