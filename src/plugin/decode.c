/*
 * decode.c
 *		The output plugin's callbacks: begin, change, truncate, message,
 *		commit.  One ChangeEntry per row change, as one JSON object per output
 *		row, or as parts handed to a typed sink (the log writer: src/log/sink.c).
 *
 * Cursor: every entry carries (commit_lsn, seq).  seq counts every change of
 * the transaction that reaches the plugin (rows, truncated tables and
 * transactional messages), whether a filter drops it or not, so the same
 * change has the same seq under any filter: a checkpoint taken through one
 * set of filters means the same thing through another.
 *
 * Memory: each change is converted in change_cxt, which is reset after the
 * entry is written, on the one exit path of emit; nothing accumulates across
 * changes or transactions.
 */
#include "cdc_plugin.h"

#include "common/base64.h"
#include "mb/pg_wchar.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "cdc_glob.h"

/* How many filtered-out changes between progress reports (walsender keepalives). */
#define CDC_PROGRESS_EVERY 100

static CdcSink *pending_sink = NULL;

void
CdcDecodeSetSink(CdcSink *sink)
{
	pending_sink = sink;
}

typedef struct DecodingState
{
	MemoryContext change_cxt;	/* reset after every entry */
	CdcOptions	opts;
	CdcSink    *sink;			/* typed output instead of JSON, or NULL */
	/* per transaction */
	int32		seq;
	int32		emitted;
	bool		begin_written;
	int			skipped;		/* since the last progress report */
} DecodingState;

static void
cdc_decode_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt,
				   bool is_init)
{
	DecodingState *st = MemoryContextAllocZero(ctx->context, sizeof(DecodingState));
	MemoryContext old = MemoryContextSwitchTo(ctx->context);

	st->change_cxt = AllocSetContextCreate(ctx->context, "cdc_ext change",
										   ALLOCSET_DEFAULT_SIZES);
	CdcParseOptions(ctx->output_plugin_options, &st->opts);

	/* a typed reader (the log writer) handed us its sink just before */
	st->sink = pending_sink;
	pending_sink = NULL;
	if (st->sink != NULL)
	{
		/* the log writer logs schema entries, whatever the (empty) options */
		if (st->sink->schema_changes)
			((CdcFilter *) linitial(st->opts.filters))->operations |= CDC_OP_SCHEMA;
		st->opts.filters = list_concat(st->opts.filters, st->sink->filters);
		st->opts.messages = list_copy(st->sink->messages);
		st->opts.schema_changes |= st->sink->schema_changes;
	}
	MemoryContextSwitchTo(old);

	CdcRelCacheInit();
	ctx->output_plugin_private = st;
	opt->output_type = OUTPUT_PLUGIN_TEXTUAL_OUTPUT;
	opt->receive_rewrites = false;
}

static void
cdc_decode_shutdown(LogicalDecodingContext *ctx)
{
	CdcRelCacheDestroy();
}

static bool
cdc_decode_filter_origin(LogicalDecodingContext *ctx, RepOriginId origin_id)
{
	DecodingState *st = ctx->output_plugin_private;

	if (st->sink != NULL && st->sink->skip_origin != InvalidRepOriginId &&
		origin_id == st->sink->skip_origin)
		return true;
	return st->opts.only_local && origin_id != InvalidRepOriginId;
}

static void
cdc_decode_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	DecodingState *st = ctx->output_plugin_private;

	st->seq = 0;
	st->emitted = 0;
	st->begin_written = false;
	CdcRelCacheSweep();			/* no entry is in use between transactions */
}

/* {"lsn":..,"commit_lsn":..,"seq":..,"xid":..,"timestamp":..  (no closing brace) */
static void
append_head(StringInfo out, XLogRecPtr lsn, ReorderBufferTXN *txn, int32 seq)
{
	appendBinaryStringInfo(out, "{\"lsn\":", 7);
	CdcAppendLsn(out, lsn);
	if (txn != NULL && seq > 0)
	{
		appendBinaryStringInfo(out, ",\"commit_lsn\":", 14);
		CdcAppendLsn(out, txn->final_lsn);
		appendBinaryStringInfo(out, ",\"seq\":", 7);
		CdcAppendInt64(out, seq);
	}
	else
		appendStringInfoString(out, ",\"commit_lsn\":null,\"seq\":null");
	appendBinaryStringInfo(out, ",\"xid\":", 7);
	if (txn != NULL && TransactionIdIsValid(txn->xid))
		CdcAppendInt64(out, txn->xid);
	else
		appendBinaryStringInfo(out, "null", 4);
	appendBinaryStringInfo(out, ",\"timestamp\":", 13);
	if (txn != NULL && seq > 0)
		CdcAppendInt64(out, CdcTimestampToUnixMicros(CdcTxnCommitTime(txn)));
	else
		appendBinaryStringInfo(out, "null", 4);
}

/* ,"schema_version":"X/Y" (or null): only when schema changes are asked for */
static void
append_schema_version(StringInfo out, const CdcOptions *opts, bool has, XLogRecPtr version)
{
	if (!opts->schema_changes)
		return;
	appendStringInfoString(out, ",\"schema_version\":");
	if (has)
		CdcAppendLsn(out, version);
	else
		appendBinaryStringInfo(out, "null", 4);
}

/* The begin entry, written lazily before the first entry of a transaction. */
static void
write_begin(LogicalDecodingContext *ctx, DecodingState *st, ReorderBufferTXN *txn)
{
	StringInfo	out = ctx->out;

	OutputPluginPrepareWrite(ctx, false);
	appendBinaryStringInfo(out, "{\"lsn\":", 7);
	CdcAppendLsn(out, txn->first_lsn);
	appendBinaryStringInfo(out, ",\"commit_lsn\":", 14);
	CdcAppendLsn(out, txn->final_lsn);
	appendStringInfoString(out, ",\"seq\":0,\"xid\":");
	CdcAppendInt64(out, txn->xid);
	appendBinaryStringInfo(out, ",\"timestamp\":", 13);
	CdcAppendInt64(out, CdcTimestampToUnixMicros(CdcTxnCommitTime(txn)));
	appendStringInfoString(out, ",\"operation\":\"begin\"}");
	OutputPluginWrite(ctx, false);
	st->begin_written = true;
}

static void
cdc_decode_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				  XLogRecPtr commit_lsn)
{
	DecodingState *st = ctx->output_plugin_private;

	if (st->sink != NULL || !st->begin_written)
		return;

	OutputPluginPrepareWrite(ctx, true);
	appendBinaryStringInfo(ctx->out, "{\"lsn\":", 7);
	CdcAppendLsn(ctx->out, txn->end_lsn);
	appendBinaryStringInfo(ctx->out, ",\"commit_lsn\":", 14);
	CdcAppendLsn(ctx->out, txn->final_lsn);
	/* one past the last change: the cursor stays strictly increasing */
	appendBinaryStringInfo(ctx->out, ",\"seq\":", 7);
	CdcAppendInt64(ctx->out, (int64) st->seq + 1);
	appendBinaryStringInfo(ctx->out, ",\"xid\":", 7);
	CdcAppendInt64(ctx->out, txn->xid);
	appendBinaryStringInfo(ctx->out, ",\"timestamp\":", 13);
	CdcAppendInt64(ctx->out, CdcTimestampToUnixMicros(CdcTxnCommitTime(txn)));
	appendStringInfoString(ctx->out, ",\"operation\":\"commit\",\"changes\":");
	CdcAppendInt64(ctx->out, st->emitted);
	appendStringInfoCharMacro(ctx->out, '}');
	OutputPluginWrite(ctx, true);
}

/* A change that no filter lets through: keep the walsender's progress alive. */
static void
skipped(LogicalDecodingContext *ctx, DecodingState *st)
{
	if (++st->skipped >= CDC_PROGRESS_EVERY)
	{
		st->skipped = 0;
		if (st->sink == NULL)
			CdcUpdateProgress(ctx);
	}
}

/* Does the typed sink want the change at (commit_lsn, seq)? */
static bool
sink_wants(CdcSink *sink, XLogRecPtr commit_lsn, int32 seq)
{
	if (commit_lsn < sink->after_commit_lsn)
		return false;
	if (commit_lsn == sink->after_commit_lsn && seq <= sink->after_seq)
		return false;
	return true;
}

static void
append_unchanged_toast(StringInfo out, List *names)
{
	ListCell   *lc;

	appendStringInfoString(out, ",\"unchanged_toast\":[");
	foreach(lc, names)
	{
		if (lc != list_head(names))
			appendStringInfoCharMacro(out, ',');
		CdcAppendJsonString(out, lfirst(lc), strlen(lfirst(lc)));
	}
	appendStringInfoCharMacro(out, ']');
}

/*
 * Convert one row change and hand it on: as a JSON line to the output, or as
 * parts to the sink.  Runs in change_cxt.  When a column's text depends on
 * session settings, they are pinned for the conversion only (CdcSessionPin),
 * not while the sink runs.
 */
static void
emit_row_change(LogicalDecodingContext *ctx, DecodingState *st,
				ReorderBufferTXN *txn, CdcRelEntry *re, int op,
				ReorderBufferChange *change)
{
	CdcRow		newrow,
				oldrow;
	CdcRow	   *newtup = NULL;
	CdcRow	   *oldtup = NULL;
	const char *opname;
	bool		nas = st->opts.numeric_as_string;
	List	   *toast = NIL;
	StringInfo	out;
	int			pin = -1;

	if (change->data.tp.newtuple != NULL)
		newtup = CdcDeformRow(re, CdcChangeTuple(change->data.tp.newtuple), CDC_ROW_NEW, &newrow);
	if (change->data.tp.oldtuple != NULL)
		oldtup = CdcDeformRow(re, CdcChangeTuple(change->data.tp.oldtuple), CDC_ROW_OLD, &oldrow);
	opname = cdc_operations[cdc_operation_index(op)].label;

	if (st->sink == NULL)
	{
		if (st->opts.transactions && !st->begin_written)
			write_begin(ctx, st, txn);
		OutputPluginPrepareWrite(ctx, true);
		if (re->needs_pin)
			pin = CdcSessionPin();
		out = ctx->out;
		append_head(out, change->lsn, txn, st->seq);
		appendBinaryStringInfo(out, ",\"entity\":", 10);
		appendBinaryStringInfo(out, re->entity_json, re->entity_json_len);
		appendBinaryStringInfo(out, ",\"entity_id\":", 13);
		CdcAppendKey(out, re, newtup ? newtup : oldtup, oldtup, nas);
		appendStringInfoString(out, ",\"operation\":\"");
		appendStringInfoString(out, opname);
		appendBinaryStringInfo(out, "\",\"old_data\":", 13);
		if (oldtup != NULL)
			CdcAppendRow(out, re, oldtup, NULL, !re->replident_full, nas, NULL);
		else
			appendBinaryStringInfo(out, "null", 4);
		appendBinaryStringInfo(out, ",\"new_data\":", 12);
		if (newtup != NULL)
			CdcAppendRow(out, re, newtup, oldtup, false, nas, &toast);
		else
			appendBinaryStringInfo(out, "null", 4);
		if (pin >= 0)
			CdcSessionUnpin(pin);
		if (toast != NIL)
			append_unchanged_toast(out, toast);
		append_schema_version(out, &st->opts, re->has_schema_version, re->schema_version);
		appendStringInfoCharMacro(out, '}');
		OutputPluginWrite(ctx, true);
	}
	else
	{
		CdcChange	c = {0};
		bool		isnull;

		if (re->needs_pin)
			pin = CdcSessionPin();
		c.entity_id = CdcKeyToJsonb(re, newtup ? newtup : oldtup, oldtup, nas, &isnull,
									&c.fallback);
		if (isnull)
			c.entity_id = (Datum) 0;
		if (oldtup != NULL)
			c.old_data = CdcRowToJsonb(re, oldtup, NULL, !re->replident_full, nas, NULL,
									   &c.fallback);
		if (newtup != NULL)
			c.new_data = CdcRowToJsonb(re, newtup, oldtup, false, nas, &toast,
									   &c.fallback);
		if (pin >= 0)
			CdcSessionUnpin(pin);
		c.lsn = change->lsn;
		c.commit_lsn = txn->final_lsn;
		c.seq = st->seq;
		c.xid = txn->xid;
		c.commit_time = CdcTxnCommitTime(txn);
		c.relid = re->relid;
		c.entity = re->entity;
		c.rel = re;
		c.op = op;
		c.unchanged_toast = toast;
		c.has_schema_version = re->has_schema_version;
		c.schema_version = re->schema_version;
		st->sink->emit(st->sink, &c);
	}
	st->emitted++;
}

/*
 * A row change.  Everything from the relation cache lookup on runs in
 * change_cxt, left on the one exit path, which resets it.
 */
static void
cdc_decode_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				  Relation relation, ReorderBufferChange *change)
{
	DecodingState *st = ctx->output_plugin_private;
	CdcRelEntry *re;
	MemoryContext old;
	int			op;

	switch (change->action)
	{
		case REORDER_BUFFER_CHANGE_INSERT:
			op = CDC_OP_INSERT;
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
			op = CDC_OP_UPDATE;
			break;
		case REORDER_BUFFER_CHANGE_DELETE:
			op = CDC_OP_DELETE;
			break;
		default:
			return;
	}
	st->seq++;

	old = MemoryContextSwitchTo(st->change_cxt);
	re = CdcRelCacheGet(relation, &st->opts);
	if ((re->operations & op) == 0 ||
		(st->sink != NULL && !sink_wants(st->sink, txn->final_lsn, st->seq)))
		skipped(ctx, st);
	else
		emit_row_change(ctx, st, txn, re, op, change);
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->change_cxt);
}

static void
cdc_decode_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					int nrelations, Relation relations[],
					ReorderBufferChange *change)
{
	DecodingState *st = ctx->output_plugin_private;
	MemoryContext old = MemoryContextSwitchTo(st->change_cxt);

	for (int i = 0; i < nrelations; i++)
	{
		CdcRelEntry *re;

		st->seq++;
		re = CdcRelCacheGet(relations[i], &st->opts);
		if ((re->operations & CDC_OP_TRUNCATE) == 0 ||
			(st->sink != NULL && !sink_wants(st->sink, txn->final_lsn, st->seq)))
			continue;

		if (st->sink == NULL)
		{
			if (st->opts.transactions && !st->begin_written)
				write_begin(ctx, st, txn);
			OutputPluginPrepareWrite(ctx, true);
			append_head(ctx->out, change->lsn, txn, st->seq);
			appendBinaryStringInfo(ctx->out, ",\"entity\":", 10);
			appendBinaryStringInfo(ctx->out, re->entity_json, re->entity_json_len);
			appendStringInfoString(ctx->out,
								   ",\"entity_id\":null,\"operation\":\"truncate\",\"old_data\":null,\"new_data\":null");
			append_schema_version(ctx->out, &st->opts, re->has_schema_version, re->schema_version);
			appendStringInfoCharMacro(ctx->out, '}');
			OutputPluginWrite(ctx, true);
		}
		else
		{
			CdcChange	c = {0};

			c.lsn = change->lsn;
			c.commit_lsn = txn->final_lsn;
			c.seq = st->seq;
			c.xid = txn->xid;
			c.commit_time = CdcTxnCommitTime(txn);
			c.relid = re->relid;
			c.entity = re->entity;
			c.op = CDC_OP_TRUNCATE;
			c.has_schema_version = re->has_schema_version;
			c.schema_version = re->schema_version;
			st->sink->emit(st->sink, &c);
		}
		st->emitted++;
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->change_cxt);
}

/*
 * Message content: text when it is valid in the database encoding and has
 * no NUL byte, else base64.  Appends "content" and "content_encoding".
 */
static void
append_message_content(StringInfo out, const char *message, Size size)
{
	if (memchr(message, '\0', size) == NULL &&
		pg_verifymbstr(message, (int) size, true))
	{
		appendStringInfoString(out, "\"content\":");
		CdcAppendJsonString(out, message, size);
		appendStringInfoString(out, ",\"content_encoding\":\"text\"");
	}
	else
	{
		int			len = pg_b64_enc_len((int) size);
		char	   *b64 = palloc(len + 1);
		int			n = CdcB64Encode(message, (int) size, b64, len);

		if (n < 0)
			elog(ERROR, "cdc_ext: could not base64-encode a message");
		appendStringInfoString(out, "\"content\":\"");
		appendBinaryStringInfo(out, b64, n);
		appendStringInfoString(out, "\",\"content_encoding\":\"base64\"");
	}
}

/*
 * cdc.set_capture()'s message (src/log/capture.c): never an entry.  A sink
 * that follows the capture setting reads the new one here; the relation
 * decisions made under the old one are dropped, so the changes after this
 * point are filtered by the new setting.
 */
static void
capture_message(DecodingState *st, ReorderBufferTXN *txn, bool transactional)
{
	if (st->sink == NULL || st->sink->capture_changed == NULL || !transactional)
		return;
	if (!st->sink->capture_changed(st->sink, txn->final_lsn, CdcTxnCommitTime(txn)))
		return;
	st->opts.messages = st->sink->messages;
	CdcRelCacheInvalidateAll();
}

/* One key and its string value (or null when val is NULL) into *ps. */
static void
push_string_pair(JsonbParseState **ps, const char *key, const char *val, Size len)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) key;
	v.val.string.len = (int) strlen(key);
	(void) pushJsonbValue(ps, WJB_KEY, &v);
	if (val == NULL)
		v.type = jbvNull;
	else
	{
		v.val.string.val = (char *) val;
		v.val.string.len = (int) len;
	}
	(void) pushJsonbValue(ps, WJB_VALUE, &v);
}

/*
 * A transactional message as the log's jsonb: {"prefix", "content",
 * "content_encoding", "transactional"}, built directly (no JSON text: a
 * message of control characters is six times longer escaped, and 180 MB of
 * them passed 1 GB on the way; that stopped the log).  What jsonb cannot
 * hold is decided before it is built, from the strings' own lengths:
 * prefix and content together past CDC_JSONB_VALUE_MAX make the content
 * null, with "content_size", and the prefix too when it alone (nearly) is;
 * each is then named in *fallback.
 */
static Datum
message_jsonb(const char *prefix, const char *message, Size size, List **fallback)
{
	JsonbParseState *ps = NULL;
	JsonbValue *res;
	JsonbValue	v;
	Size		plen = strlen(prefix);
	bool		text = memchr(message, '\0', size) == NULL &&
		pg_verifymbstr(message, (int) size, true);
	Size		clen = text ? size : (Size) pg_b64_enc_len((int) size);
	char	   *content = NULL;

	(void) pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	if (plen > CDC_JSONB_VALUE_MAX - 1024)
	{
		push_string_pair(&ps, "prefix", NULL, 0);
		*fallback = lappend(*fallback, "prefix");
		plen = 0;
	}
	else
		push_string_pair(&ps, "prefix", prefix, plen);
	if (plen + clen > CDC_JSONB_VALUE_MAX)
	{
		push_string_pair(&ps, "content", NULL, 0);
		v.type = jbvString;
		v.val.string.val = "content_size";
		v.val.string.len = 12;
		(void) pushJsonbValue(&ps, WJB_KEY, &v);
		v.type = jbvNumeric;
		v.val.numeric = int64_to_numeric((int64) size);
		(void) pushJsonbValue(&ps, WJB_VALUE, &v);
		*fallback = lappend(*fallback, "content");
	}
	else if (text)
		push_string_pair(&ps, "content", message, size);
	else
	{
		int			n;

		content = palloc(clen + 1);
		n = CdcB64Encode(message, (int) size, content, (int) clen);
		if (n < 0)
			elog(ERROR, "cdc_ext: could not base64-encode a message");
		push_string_pair(&ps, "content", content, n);
	}
	push_string_pair(&ps, "content_encoding", text ? "text" : "base64", text ? 4 : 6);
	v.type = jbvString;
	v.val.string.val = "transactional";
	v.val.string.len = 13;
	(void) pushJsonbValue(&ps, WJB_KEY, &v);
	v.type = jbvBool;
	v.val.boolean = true;
	(void) pushJsonbValue(&ps, WJB_VALUE, &v);
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

/*
 * A schema message of the event trigger (src/log/schema.c; CdcSchemaParse):
 * a `schema` entry, filtered by the table it names like that table's
 * changes.  Its schema_version is its own position: the changes that
 * follow the new shape carry that same LSN (schema.c).
 */
static void
schema_entry(LogicalDecodingContext *ctx, DecodingState *st, ReorderBufferTXN *txn,
			 XLogRecPtr lsn, int32 seq, const char *message, Size size)
{
	MemoryContext old = MemoryContextSwitchTo(st->change_cxt);
	CdcSchemaMessage m;

	if (!CdcSchemaParse(message, size, &m) || !CdcSchemaPasses(&st->opts, m.entity, m.table))
	{
		MemoryContextSwitchTo(old);
		MemoryContextReset(st->change_cxt);
		return;
	}
	if (st->sink == NULL)
	{
		StringInfo	out = ctx->out;

		if (st->opts.transactions && !st->begin_written)
			write_begin(ctx, st, txn);
		OutputPluginPrepareWrite(ctx, true);
		append_head(out, lsn, txn, seq);
		appendBinaryStringInfo(out, ",\"entity\":", 10);
		CdcAppendJsonString(out, m.entity, strlen(m.entity));
		appendStringInfoString(out, ",\"entity_id\":null,\"operation\":\"schema\",\"old_data\":");
		appendStringInfoString(out, m.old_shape ? m.old_shape : "null");
		appendBinaryStringInfo(out, ",\"new_data\":", 12);
		appendStringInfoString(out, m.new_shape ? m.new_shape : "null");
		append_schema_version(out, &st->opts, true, lsn);
		appendStringInfoCharMacro(out, '}');
		OutputPluginWrite(ctx, true);
	}
	else
	{
		CdcChange	c = {0};

		if (m.old_shape)
			c.old_data = DirectFunctionCall1(jsonb_in, CStringGetDatum(m.old_shape));
		if (m.new_shape)
			c.new_data = DirectFunctionCall1(jsonb_in, CStringGetDatum(m.new_shape));
		c.lsn = lsn;
		c.commit_lsn = txn->final_lsn;
		c.seq = seq;
		c.xid = txn->xid;
		c.commit_time = CdcTxnCommitTime(txn);
		c.relid = m.relid;
		c.entity = m.entity;
		c.op = CDC_OP_SCHEMA;
		c.has_schema_version = true;
		c.schema_version = lsn;
		st->sink->emit(st->sink, &c);
	}
	st->emitted++;
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->change_cxt);
}

static void
cdc_decode_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				   XLogRecPtr lsn, bool transactional, const char *prefix,
				   Size size, const char *message)
{
	DecodingState *st = ctx->output_plugin_private;
	MemoryContext old;
	int32		seq = 0;

	if (transactional)
		seq = ++st->seq;
	if (strcmp(prefix, CDC_CAPTURE_PREFIX) == 0)
	{
		capture_message(st, txn, transactional);
		return;
	}
	if (strcmp(prefix, CDC_SCHEMA_PREFIX) == 0)
	{
		if (transactional && st->opts.schema_changes &&
			(st->sink == NULL || sink_wants(st->sink, txn->final_lsn, seq)))
			schema_entry(ctx, st, txn, lsn, seq, message, size);
		return;
	}
	if (strcmp(prefix, CDC_BACKFILL_PREFIX) == 0)
	{
		if (st->sink != NULL && st->sink->backfill_mark != NULL && transactional &&
			sink_wants(st->sink, txn->final_lsn, seq))
			st->sink->backfill_mark(st->sink, lsn, txn->final_lsn, txn->xid,
									CdcTxnCommitTime(txn), message, size);
		return;
	}
	if (st->opts.messages == NIL ||
		!CdcEntityMatches(prefix, prefix, st->opts.messages))
		return;
	if (st->sink != NULL && transactional &&
		!sink_wants(st->sink, txn->final_lsn, seq))
		return;
	if (st->sink != NULL && !transactional)
		return;					/* no cursor position: not for typed reads */

	old = MemoryContextSwitchTo(st->change_cxt);
	if (st->sink == NULL)
	{
		if (transactional && st->opts.transactions && !st->begin_written)
			write_begin(ctx, st, txn);
		OutputPluginPrepareWrite(ctx, true);
		append_head(ctx->out, lsn, transactional ? txn : NULL, seq);
		appendStringInfoString(ctx->out, ",\"operation\":\"message\",\"transactional\":");
		appendStringInfoString(ctx->out, transactional ? "true" : "false");
		appendStringInfoString(ctx->out, ",\"prefix\":");
		CdcAppendJsonString(ctx->out, prefix, strlen(prefix));
		appendStringInfoCharMacro(ctx->out, ',');
		append_message_content(ctx->out, message, size);
		appendStringInfoCharMacro(ctx->out, '}');
		OutputPluginWrite(ctx, true);
	}
	else
	{
		CdcChange	c = {0};

		c.new_data = message_jsonb(prefix, message, size, &c.fallback);
		c.lsn = lsn;
		c.commit_lsn = txn->final_lsn;
		c.seq = seq;
		c.xid = txn->xid;
		c.commit_time = CdcTxnCommitTime(txn);
		c.op = CDC_OP_MESSAGE;
		st->sink->emit(st->sink, &c);
	}
	if (transactional)
		st->emitted++;
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->change_cxt);
}

void
CdcDecodeInit(OutputPluginCallbacks *cb)
{
	cb->startup_cb = cdc_decode_startup;
	cb->begin_cb = cdc_decode_begin;
	cb->change_cb = cdc_decode_change;
	cb->truncate_cb = cdc_decode_truncate;
	cb->commit_cb = cdc_decode_commit;
	cb->message_cb = cdc_decode_message;
	cb->filter_by_origin_cb = cdc_decode_filter_origin;
	cb->shutdown_cb = cdc_decode_shutdown;
}
