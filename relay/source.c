/*
 * source.c: the change log side of cdc_relay, through the SQL API only
 * (docs/sql-api.md).  One consumer, created if missing; batches come from
 * cdc.consume inside a transaction that the relay commits only once
 * JetStream acknowledged every change it published from them, so that the
 * consumer's checkpoint never passes what the stream holds.
 */
#include "relay.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct Source
{
	const RelayConfig *cfg;
	PGconn	   *conn;
	PGresult   *res;			/* the last batch */
	char		database[256];
	char		sysid[32];
	bool		missing;		/* the last CdcSourceNext found no such consumer */
	bool		may_create;		/* ... and that is no error (CdcSourceConnect) */
	/* the current row's fields computed here, not by the server */
	char		ts_us[32];
	char		schema[256];
	char		table[256];
	char		batch_size[16];
};

Source *
CdcSourceCreate(const RelayConfig *cfg)
{
	Source	   *src = calloc(1, sizeof(Source));

	src->cfg = cfg;
	snprintf(src->batch_size, sizeof(src->batch_size), "%d", cfg->batch_size);
	return src;
}

/*
 * Whether an error is worth retrying: a lost connection, a server shutting
 * down or starting, a serialization failure (a trim during the read), lack
 * of resources.  Anything else (privileges, a gap, an unknown function) an
 * operator must fix: the relay exits.
 */
static SourceStatus
classify(Source *src, PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(src->conn);
	char		clean[1024];
	size_t		n;

	snprintf(clean, sizeof(clean), "%s", (msg && *msg) ? msg : PQerrorMessage(src->conn));
	n = strlen(clean);
	while (n > 0 && (clean[n - 1] == '\n' || clean[n - 1] == ' '))
		clean[--n] = '\0';
	for (char *p = clean; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (PQstatus(src->conn) != CONNECTION_OK || state == NULL ||
		strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
		strncmp(state, "53", 2) == 0 || strcmp(state, "40001") == 0 ||
		strcmp(state, "40P01") == 0)
	{
		RelayLog("WARNING", "postgresql: %s failed: %s", what, clean);
		return SOURCE_RETRY;
	}
	RelayLog("ERROR", "postgresql: %s failed (SQLSTATE %s): %s", what, state, clean);
	return SOURCE_FATAL;
}

static PGresult *
exec(Source *src, const char *sql, int nparams, const char *const *params)
{
	return PQexecParams(src->conn, sql, nparams, NULL, params, NULL, NULL, 0);
}

/*
 * Connect, learn the database's name and system identifier (the source of
 * the Nats-Msg-Id), create the consumer when it does not exist and read its
 * checkpoint.
 */
SourceStatus
CdcSourceConnect(Source *src)
{
	const char *keys[] = {"dbname", "application_name", NULL};
	const char *vals[] = {src->cfg->conninfo, "cdc_relay", NULL};
	const RelayConfig *cfg = src->cfg;
	PGresult   *res;
	SourceStatus st;
	Cursor		next;
	bool		found;

	CdcSourceDisconnect(src);
	src->conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(src->conn) != CONNECTION_OK)
	{
		char		msg[512];
		size_t		n;

		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(src->conn));
		n = strlen(msg);
		while (n > 0 && msg[n - 1] == '\n')
			msg[--n] = '\0';
		RelayLog("WARNING", "postgresql: cannot connect: %s", msg);
		return SOURCE_RETRY;
	}
	res = exec(src, "SELECT current_database(), (SELECT system_identifier FROM pg_control_system())::text", 0, NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		st = classify(src, res, "reading the system identifier (pg_control_system())");
		PQclear(res);
		return st;
	}
	snprintf(src->database, sizeof(src->database), "%s", PQgetvalue(res, 0, 0));
	snprintf(src->sysid, sizeof(src->sysid), "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	/* timestamps as parse_timestamp reads them, whatever the role's settings */
	res = PQexec(src->conn, "SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		st = classify(src, res, "setting DateStyle and TimeZone");
		PQclear(res);
		return st;
	}
	PQclear(res);

	/*
	 * The consumer, created with the given filters and start when missing.
	 * Its existence is probed with cdc.stream, one row: not with
	 * cdc.consumers, which counts every consumer's lag (seconds with a
	 * large backlog, at every start).
	 */
	src->may_create = true;
	st = CdcSourceNext(src, &next, &found);
	src->may_create = false;
	if (st == SOURCE_FATAL && src->missing)
	{
		const char *p[] = {cfg->consumer, cfg->entities, cfg->exclude_entities,
		cfg->operations, cfg->start ? cfg->start : "now"};

		res = exec(src,
				   "SELECT cdc.create_consumer($1, string_to_array($2, ','), "
				   "string_to_array($3, ','), string_to_array($4, ',')::cdc.operation[], $5)::text",
				   5, p);
		if (PQresultStatus(res) != PGRES_TUPLES_OK &&
			!(PQresultErrorField(res, PG_DIAG_SQLSTATE) &&
			  strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42710") == 0))
		{
			st = classify(src, res, "cdc.create_consumer");
			PQclear(res);
			return st;
		}
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			RelayLog("LOG", "created consumer \"%s\" starting after %s", cfg->consumer,
					 PQgetvalue(res, 0, 0));
		PQclear(res);
		st = CdcSourceNext(src, &next, &found);
	}
	if (st != SOURCE_OK)
		return st;
	return SOURCE_OK;
}

const char *
CdcSourceDatabase(Source *src)
{
	return src->database;
}

const char *
CdcSourceSystemId(Source *src)
{
	return src->sysid;
}

/*
 * The first change the consumer receives after its committed checkpoint
 * (*found false when there is none yet): one row of cdc.stream, which
 * reads from the checkpoint by an index range scan.  A consumer that does
 * not exist sets src->missing and is SOURCE_FATAL: an error, except while
 * CdcSourceConnect probes it (it creates it then).
 */
SourceStatus
CdcSourceNext(Source *src, Cursor *next, bool *found)
{
	const char *p[] = {src->cfg->consumer};
	PGresult   *res;
	SourceStatus st = SOURCE_OK;
	const char *state;

	*found = false;
	src->missing = false;
	res = exec(src, "SELECT commit_lsn::text, seq FROM cdc.stream($1, batch_size => 1)", 1, p);
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && state && strcmp(state, "42704") == 0 &&
		PQstatus(src->conn) == CONNECTION_OK)
	{
		src->missing = true;
		st = SOURCE_FATAL;
		if (!src->may_create)
			RelayLog("ERROR", "postgresql: consumer \"%s\" does not exist (dropped while the relay ran?)",
					 src->cfg->consumer);
	}
	else if (PQresultStatus(res) != PGRES_TUPLES_OK)
		st = classify(src, res, "reading the consumer's next change (cdc.stream)");
	else if (PQntuples(res) == 1)
	{
		CdcParseLsn(PQgetvalue(res, 0, 0), &next->lsn);
		next->seq = atoi(PQgetvalue(res, 0, 1));
		*found = true;
	}
	PQclear(res);
	return st;
}

/*
 * Whether the consumer receives a change after `last` and up to its
 * checkpoint: then its checkpoint moved past changes the stream does not
 * hold (another reader consumed them, or the stream lost them).  A
 * checkpoint past `last` over changes the consumer does not receive
 * (filtered, withheld: cdc.consume moves the checkpoint over them) is no
 * gap.  Reading from last's commit_lsn, at most last.seq rows come before
 * the first received change after it.  The checkpoint is known by the
 * consumer's next change `next` (CdcSourceNext, read just before; NULL
 * when there is none): a received
 * change is at or before the checkpoint exactly when it comes before that
 * next change, or when there is none.
 */
bool
CdcSourceGapAfter(Source *src, Cursor last, const Cursor *next, Cursor *first)
{
	char		lsn[32],
				seq[16],
				batch[16];
	const char *p[4];
	PGresult   *res;
	bool		gap = false;

	snprintf(lsn, sizeof(lsn), "%X/%X", (unsigned int) (last.lsn >> 32), (unsigned int) last.lsn);
	snprintf(seq, sizeof(seq), "%d", last.seq);
	snprintf(batch, sizeof(batch), "%d", last.seq + 1);
	p[0] = src->cfg->consumer;
	p[1] = lsn;
	p[2] = seq;
	p[3] = batch;
	res = exec(src,
			   "SELECT commit_lsn::text, seq FROM cdc.stream($1, from_lsn => $2::pg_lsn, batch_size => $4::integer) "
			   "WHERE (commit_lsn, seq) > ($2::pg_lsn, $3::integer) ORDER BY commit_lsn, seq LIMIT 1", 4, p);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
	{
		CdcParseLsn(PQgetvalue(res, 0, 0), &first->lsn);
		first->seq = atoi(PQgetvalue(res, 0, 1));
		/* first <= checkpoint exactly when it comes before the next change */
		gap = next == NULL || CdcCursorCmp(*first, *next) < 0;
	}
	PQclear(res);
	return gap;
}

SourceStatus
CdcSourceBegin(Source *src)
{
	PGresult   *res = PQexec(src->conn, "BEGIN");
	SourceStatus st = SOURCE_OK;

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		st = classify(src, res, "BEGIN");
	PQclear(res);
	return st;
}

/*
 * The next batch of the consumer, after what this transaction consumed so
 * far (cdc.consume moves the checkpoint in the caller's transaction, and a
 * later call of the same transaction continues after it).  timeout_ms > 0
 * long-polls for a first change.
 */
SourceStatus
CdcSourceFetch(Source *src, int timeout_ms, int *nrows)
{
	char		timeout[32];
	const char *p[3];
	SourceStatus st;

	snprintf(timeout, sizeof(timeout), "%d ms", timeout_ms);
	p[0] = src->cfg->consumer;
	p[1] = src->batch_size;
	p[2] = timeout;
	if (src->res)
		PQclear(src->res);
	src->res = exec(src,
					"SELECT lsn, commit_lsn, seq, xid, \"timestamp\", entity, entity_id, operation, "
					"old_data, new_data, array_to_json(unchanged_toast), array_to_json(fallback) "
					"FROM cdc.consume($1, $2::integer, $3::interval)", 3, p);
	if (PQresultStatus(src->res) != PGRES_TUPLES_OK)
	{
		st = classify(src, src->res, "cdc.consume");
		PQclear(src->res);
		src->res = NULL;
		return st;
	}
	*nrows = PQntuples(src->res);
	return SOURCE_OK;
}

static const char *
field(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/*
 * A timestamptz as the session writes it (DateStyle ISO, TimeZone UTC:
 * "2026-12-06 11:25:07.752441+00", the fraction as long as it needs) to
 * microseconds since the epoch.  Done here rather than with extract(epoch
 * ...) in the query: that is numeric arithmetic on every row, a third of
 * the server's time for a batch.
 */
static bool
parse_timestamp(const char *s, char *out, size_t outlen)
{
	struct tm	tm = {0};
	int			n = 0;
	long long	us = 0;
	int			digits = 0;
	time_t		t;

	if (s == NULL || sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
							&tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return false;
	s += n;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			if (digits++ < 6)
				us = us * 10 + (*s - '0');
	for (; digits < 6; digits++)
		us *= 10;
	if (strcmp(s, "+00") != 0)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	snprintf(out, outlen, "%lld", (long long) t * 1000000 + us);
	return true;
}

/*
 * The next identifier of an entity (the plugin's "schema.table", each part
 * quoted only where PostgreSQL would: "My Schema"."a""b"), unquoted into
 * out, as parse_ident does; the position after it, NULL if malformed.
 */
static const char *
parse_ident_part(const char *s, char *out, size_t outlen)
{
	size_t		n = 0;

	if (*s == '"')
	{
		for (s++;; s++)
		{
			if (*s == '\0')
				return NULL;
			if (*s == '"')
			{
				if (s[1] != '"')
				{
					s++;
					break;
				}
				s++;
			}
			if (n + 1 < outlen)
				out[n++] = *s;
		}
	}
	else
		for (; *s && *s != '.'; s++)
			if (n + 1 < outlen)
				out[n++] = *s;
	out[n] = '\0';
	return n > 0 ? s : NULL;
}

void
CdcSourceGet(Source *src, int row, Change *c)
{
	PGresult   *r = src->res;
	const char *p;

	c->lsn = field(r, row, 0);
	c->commit_lsn = field(r, row, 1);
	c->seq = field(r, row, 2);
	c->xid = field(r, row, 3);
	c->entity = field(r, row, 5);
	c->entity_id = field(r, row, 6);
	c->operation = field(r, row, 7);
	c->old_data = field(r, row, 8);
	c->new_data = field(r, row, 9);
	c->unchanged_toast = field(r, row, 10);
	c->fallback = field(r, row, 11);
	if (!parse_timestamp(field(r, row, 4), src->ts_us, sizeof(src->ts_us)))
	{
		RelayLog("ERROR", "postgresql: unexpected timestamp \"%s\" (DateStyle ISO and TimeZone UTC were set)",
				 field(r, row, 4) ? field(r, row, 4) : "null");
		exit(RELAY_EXIT_PG);
	}
	c->ts_us = src->ts_us;
	/* schema and table of the entity; none for a message */
	c->schema = c->table = NULL;
	if (c->entity && (p = parse_ident_part(c->entity, src->schema, sizeof(src->schema))) != NULL &&
		*p == '.' && (p = parse_ident_part(p + 1, src->table, sizeof(src->table))) != NULL && *p == '\0')
	{
		c->schema = src->schema;
		c->table = src->table;
	}
	CdcParseLsn(c->commit_lsn, &c->cursor.lsn);
	c->cursor.seq = atoi(c->seq);
}

SourceStatus
CdcSourceCommit(Source *src)
{
	PGresult   *res = PQexec(src->conn, "COMMIT");
	SourceStatus st = SOURCE_OK;

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		st = classify(src, res, "COMMIT");
	else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
	{
		/* an aborted transaction "commits" as ROLLBACK: nothing moved */
		RelayLog("WARNING", "postgresql: the transaction was rolled back at COMMIT");
		st = SOURCE_RETRY;
	}
	PQclear(res);
	return st;
}

void
CdcSourceRollback(Source *src)
{
	if (src->conn && PQstatus(src->conn) == CONNECTION_OK)
		PQclear(PQexec(src->conn, "ROLLBACK"));
}

void
CdcSourceDisconnect(Source *src)
{
	if (src->res)
		PQclear(src->res);
	src->res = NULL;
	if (src->conn)
		PQfinish(src->conn);
	src->conn = NULL;
}
