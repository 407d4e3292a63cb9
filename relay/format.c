/*
 * format.c: a change as JetStream receives it.  Subjects from a template
 * (each name escaped into one subject token), the stream's subjects derived
 * from that template, and the message body: the ChangeEntry JSON the plugin
 * writes (docs/plugin.md), or a Debezium change event.  Pure C: no libpq,
 * no libnats.
 */
#include "relay.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static void
buf_reserve(Buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	while (b->len + extra + 1 > b->cap)
		b->cap = b->cap ? b->cap * 2 : 1024;
	b->data = realloc(b->data, b->cap);
	if (b->data == NULL)
	{
		fprintf(stderr, "cdc_relay: out of memory\n");
		exit(RELAY_EXIT_USAGE);
	}
}

void
BufAppend(Buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
BufAppendStr(Buf *b, const char *s)
{
	BufAppend(b, s, strlen(s));
}

void
BufPrintf(Buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	buf_reserve(b, (size_t) n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t) n;
}

void
BufReset(Buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* "X/Y" (PostgreSQL's pg_lsn text) to a 64-bit position */
bool
CdcParseLsn(const char *s, uint64_t *out)
{
	unsigned int hi,
				lo;
	int			n = 0;

	if (s == NULL || sscanf(s, "%X/%X%n", &hi, &lo, &n) != 2 || s[n] != '\0')
		return false;
	*out = ((uint64_t) hi << 32) | lo;
	return true;
}

/* "X/Y:seq", the Cdc-Cursor header */
bool
CdcParseCursor(const char *s, Cursor *out)
{
	const char *colon = s ? strrchr(s, ':') : NULL;
	char		lsn[64];
	char	   *end;
	long		seq;

	if (colon == NULL || (size_t) (colon - s) >= sizeof(lsn))
		return false;
	memcpy(lsn, s, (size_t) (colon - s));
	lsn[colon - s] = '\0';
	seq = strtol(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || seq < 0 || seq > INT32_MAX)
		return false;
	out->seq = (int) seq;
	return CdcParseLsn(lsn, &out->lsn);
}

int
CdcCursorCmp(Cursor a, Cursor b)
{
	if (a.lsn != b.lsn)
		return a.lsn < b.lsn ? -1 : 1;
	if (a.seq != b.seq)
		return a.seq < b.seq ? -1 : 1;
	return 0;
}

void
CdcFormatCursor(Cursor c, char *out, size_t outlen)
{
	snprintf(out, outlen, "%X/%X:%d", (unsigned int) (c.lsn >> 32),
			 (unsigned int) c.lsn, c.seq);
}

/*
 * One name as one subject token: letters, digits, '_' and '-' stay, every
 * other byte (the '.' that separates tokens, the wildcards '*' and '>',
 * spaces, '%' itself, non-ASCII) becomes %XX, so that two different names
 * never share a token and no name splits or widens a subject.  An empty or
 * absent name is "_".
 */
static void
append_token(Buf *out, const char *s)
{
	if (s == NULL || *s == '\0')
	{
		BufAppendStr(out, "_");
		return;
	}
	for (; *s; s++)
	{
		unsigned char ch = (unsigned char) *s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			(ch >= '0' && ch <= '9') || ch == '_' || ch == '-')
			BufAppend(out, (const char *) &ch, 1);
		else
			BufPrintf(out, "%%%02X", ch);
	}
}

/*
 * The subject of one change: the template with <database>, <consumer>,
 * <schema>, <table> and <operation> replaced by tokens; the rest of the
 * template is copied as it is.
 */
void
CdcFormatSubject(Buf *out, const char *template, const char *database,
				 const char *consumer, const Change *c)
{
	const char *p = template;

	BufReset(out);
	while (*p)
	{
		if (*p == '<')
		{
			const char *end = strchr(p, '>');
			size_t		n = end ? (size_t) (end - p + 1) : 0;

			if (n == 10 && strncmp(p, "<database>", n) == 0)
				append_token(out, database);
			else if (n == 10 && strncmp(p, "<consumer>", n) == 0)
				append_token(out, consumer);
			else if (n == 8 && strncmp(p, "<schema>", n) == 0)
				append_token(out, c ? c->schema : NULL);
			else if (n == 7 && strncmp(p, "<table>", n) == 0)
				append_token(out, c ? c->table : NULL);
			else if (n == 11 && strncmp(p, "<operation>", n) == 0)
				append_token(out, c ? c->operation : NULL);
			else
				n = 0;
			if (n > 0)
			{
				p += n;
				continue;
			}
		}
		BufAppend(out, p, 1);
		p++;
	}
}

/*
 * The stream's subjects for a template: <database> and <consumer> are known
 * at start and replaced; a token holding a per-change placeholder becomes
 * '*', and trailing '*' tokens fold into one '>'.  The default template
 * gives "cdc.<database>.>".
 */
char *
CdcStreamSubjects(const char *template, const char *database, const char *consumer)
{
	Buf			fixed = {0},
				out = {0};
	char	   *tok,
			   *save = NULL;
	int			ntok = 0,
				nstars = 0;
	char	  **toks;

	/* the placeholders known at start; per-change ones stay as they are */
	BufAppendStr(&fixed, "");
	{
		const char *p = template;

		while (*p)
		{
			if (strncmp(p, "<database>", 10) == 0)
			{
				append_token(&fixed, database);
				p += 10;
			}
			else if (strncmp(p, "<consumer>", 10) == 0)
			{
				append_token(&fixed, consumer);
				p += 10;
			}
			else
				BufAppend(&fixed, p++, 1);
		}
	}
	toks = calloc(strlen(fixed.data) + 1, sizeof(char *));
	for (tok = strtok_r(fixed.data, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
		toks[ntok++] = strchr(tok, '<') ? "*" : tok;
	while (nstars < ntok && strcmp(toks[ntok - 1 - nstars], "*") == 0)
		nstars++;
	for (int i = 0; i < ntok - nstars; i++)
	{
		if (i > 0)
			BufAppendStr(&out, ".");
		BufAppendStr(&out, toks[i]);
	}
	if (nstars > 0)
		BufAppendStr(&out, ntok - nstars > 0 ? ".>" : ">");
	free(toks);
	free(fixed.data);
	return out.data;
}

/*
 * A JSON string: quotes, backslashes and control characters escaped, and
 * U+2028/U+2029 too, as the plugin writes them (docs/plugin.md, Values).
 */
static void
append_json_string(Buf *out, const char *s)
{
	BufAppendStr(out, "\"");
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if (*p == '"' || *p == '\\')
		{
			BufAppend(out, "\\", 1);
			BufAppend(out, (const char *) p, 1);
		}
		else if (*p < 0x20)
		{
			switch (*p)
			{
				case '\n': BufAppendStr(out, "\\n"); break;
				case '\r': BufAppendStr(out, "\\r"); break;
				case '\t': BufAppendStr(out, "\\t"); break;
				case '\b': BufAppendStr(out, "\\b"); break;
				case '\f': BufAppendStr(out, "\\f"); break;
				default: BufPrintf(out, "\\u%04x", *p); break;
			}
		}
		else if (p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9))
		{
			BufPrintf(out, "\\u%04x", p[2] == 0xA8 ? 0x2028 : 0x2029);
			p += 2;
		}
		else
			BufAppend(out, (const char *) p, 1);
	}
	BufAppendStr(out, "\"");
}

static void
append_json_string_or_null(Buf *out, const char *s)
{
	if (s)
		append_json_string(out, s);
	else
		BufAppendStr(out, "null");
}

/*
 * jsonb's text output ({"a": 1, "b": [1, 2]}) without the blanks it puts
 * after ':' and ','; the compact form the plugin writes.  Blanks inside
 * strings stay.
 */
static void
append_compact_json(Buf *out, const char *s)
{
	bool		in_string = false;
	const char *run = s;

	if (s == NULL)
	{
		BufAppendStr(out, "null");
		return;
	}
	for (const char *p = s; *p; p++)
	{
		if (in_string)
		{
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				in_string = false;
		}
		else if (*p == '"')
			in_string = true;
		else if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		{
			BufAppend(out, run, (size_t) (p - run));
			run = p + 1;
		}
	}
	BufAppendStr(out, run);
}

/* the ChangeEntry of docs/plugin.md, field for field */
static void
format_entry(Buf *out, const Change *c)
{
	BufAppendStr(out, "{\"lsn\":");
	append_json_string(out, c->lsn);
	BufAppendStr(out, ",\"commit_lsn\":");
	append_json_string(out, c->commit_lsn);
	BufPrintf(out, ",\"seq\":%s,\"xid\":%s,\"timestamp\":%s,\"entity\":", c->seq, c->xid, c->ts_us);
	append_json_string_or_null(out, c->entity);
	BufAppendStr(out, ",\"entity_id\":");
	append_compact_json(out, c->entity_id);
	BufAppendStr(out, ",\"operation\":");
	append_json_string(out, c->operation);
	BufAppendStr(out, ",\"old_data\":");
	append_compact_json(out, c->old_data);
	BufAppendStr(out, ",\"new_data\":");
	append_compact_json(out, c->new_data);
	if (c->unchanged_toast)
	{
		BufAppendStr(out, ",\"unchanged_toast\":");
		append_compact_json(out, c->unchanged_toast);
	}
	if (c->fallback)
	{
		BufAppendStr(out, ",\"fallback\":");
		append_compact_json(out, c->fallback);
	}
	BufAppendStr(out, "}");
}

/*
 * Debezium's change event value (its PostgreSQL connector, schemas off):
 * before, after, source, op (c/u/d/t, r for backfill reads, m for
 * messages), ts_ms.  source carries what Debezium consumers read: db,
 * schema, table, txId, lsn (numeric), ts_ms (commit time) and snapshot.
 */
static void
format_debezium(Buf *out, const Change *c, const char *database, const char *stream)
{
	const char *op = c->operation;
	uint64_t	lsn = 0;
	uint64_t	commit_lsn = c->cursor.lsn;
	struct timeval tv;
	long long	ts_us = atoll(c->ts_us);

	if (strcmp(op, "insert") == 0)
		op = "c";
	else if (strcmp(op, "update") == 0)
		op = "u";
	else if (strcmp(op, "delete") == 0)
		op = "d";
	else if (strcmp(op, "truncate") == 0)
		op = "t";
	else if (strcmp(op, "read") == 0)
		op = "r";
	else if (strcmp(op, "message") == 0)
		op = "m";
	CdcParseLsn(c->lsn, &lsn);
	gettimeofday(&tv, NULL);

	BufAppendStr(out, "{\"before\":");
	append_compact_json(out, c->old_data);
	BufAppendStr(out, ",\"after\":");
	if (strcmp(op, "m") == 0)
		BufAppendStr(out, "null");
	else
		append_compact_json(out, c->new_data);
	BufAppendStr(out, ",\"source\":{\"version\":\"cdc_relay-" CDC_RELAY_VERSION "\",\"connector\":\"postgresql\",\"name\":");
	append_json_string(out, stream);
	BufPrintf(out, ",\"ts_ms\":%lld,\"snapshot\":\"%s\",\"db\":", ts_us / 1000,
			  strcmp(op, "r") == 0 ? "true" : "false");
	append_json_string(out, database);
	BufPrintf(out, ",\"sequence\":\"[\\\"%" PRIu64 "\\\",\\\"%" PRIu64 "\\\"]\",\"schema\":",
			  commit_lsn, lsn);
	append_json_string_or_null(out, c->schema);
	BufAppendStr(out, ",\"table\":");
	append_json_string_or_null(out, c->table);
	BufPrintf(out, ",\"txId\":%s,\"lsn\":%" PRIu64 ",\"xmin\":null},\"op\":", c->xid, lsn);
	append_json_string(out, op);
	BufPrintf(out, ",\"ts_ms\":%lld", (long long) tv.tv_sec * 1000 + tv.tv_usec / 1000);
	if (strcmp(op, "m") == 0)
	{
		BufAppendStr(out, ",\"message\":");
		append_compact_json(out, c->new_data);
	}
	BufAppendStr(out, ",\"transaction\":null}");
}

/*
 * Whether a change has no message in this format: in --format debezium, a
 * `schema` entry (a table's shape, logged by the extension when it
 * changes).  Debezium's change event value has no op for it (Debezium
 * sends DDL to a schema-change topic of another shape altogether), and a
 * consumer switching from Debezium expects only row events on a table's
 * subject: the relay consumes it, counts it and logs it.  In --format json
 * it is published as every other ChangeEntry.
 */
bool
CdcFormatSkips(RelayFormat format, const Change *c)
{
	return format == FORMAT_DEBEZIUM && c->operation != NULL && strcmp(c->operation, "schema") == 0;
}

void
CdcFormatBody(Buf *out, RelayFormat format, const Change *c,
			  const char *database, const char *stream)
{
	BufReset(out);
	if (format == FORMAT_DEBEZIUM)
		format_debezium(out, c, database, stream);
	else
		format_entry(out, c);
}
