/*
 * relay.h: cdc_relay, the change log relayed to a NATS JetStream stream.
 *
 * Three parts behind one header: source.c reads one consumer of the change
 * log over libpq (the SQL API only), sink.c publishes to JetStream with
 * libnats, format.c turns a change into a subject, headers and a message
 * body; main.c holds the options and the loop that ties them together
 * (docs/relay.md says why the loop is exactly once).
 */
#ifndef CDC_RELAY_H
#define CDC_RELAY_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define CDC_RELAY_VERSION "1.2"

/* exit codes (docs/relay.md) */
#define RELAY_EXIT_OK		0	/* stopped by SIGTERM/SIGINT, or --dump done */
#define RELAY_EXIT_USAGE	1	/* bad command line */
#define RELAY_EXIT_PG		2	/* PostgreSQL refused for good (privileges, gap, no extension) */
#define RELAY_EXIT_NATS		3	/* JetStream refused for good (stream of another source, payload too large) */

typedef enum RelayFormat { FORMAT_JSON, FORMAT_DEBEZIUM } RelayFormat;

typedef struct RelayConfig
{
	const char *conninfo;
	const char *consumer;
	const char *servers;		/* comma-separated URLs */
	const char *stream;
	const char *subject;		/* template */
	const char *stream_subjects;	/* comma-separated, NULL: from the template */
	int			replicas;
	bool		memory_storage;
	int64_t		max_age_ms;		/* 0: unlimited */
	int64_t		dup_window_ms;
	RelayFormat format;
	const char *entities;		/* comma-separated, for a consumer created here */
	const char *exclude_entities;
	const char *operations;
	const char *start;
	int			batch_size;
	int			max_inflight;
	int			batch_timeout_ms;
	int			ack_timeout_ms;
	int			max_backoff_ms;
	int			stats_interval_s;
	bool		dump;
} RelayConfig;

/* A position in the change log: (commit_lsn, seq), the cursor. */
typedef struct Cursor
{
	uint64_t	lsn;
	int			seq;
} Cursor;

/* One change as cdc.consume returns it, every field as text. */
typedef struct Change
{
	const char *lsn;
	const char *commit_lsn;
	const char *seq;
	const char *xid;
	const char *ts_us;			/* commit time, microseconds since the epoch */
	const char *entity;			/* NULL for messages */
	const char *entity_id;		/* jsonb text or NULL */
	const char *operation;
	const char *old_data;
	const char *new_data;
	const char *unchanged_toast;	/* JSON array text or NULL */
	const char *fallback;
	const char *schema;			/* parse_ident(entity) parts, NULL for messages */
	const char *table;
	Cursor		cursor;
} Change;

/* A growable string. */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

/* main.c */
extern volatile int relay_stop;
void		RelayLog(const char *level, const char *fmt,...) __attribute__((format(printf, 2, 3)));
void		RelaySleep(int ms);

/* format.c */
void		BufAppend(Buf *b, const char *s, size_t n);
void		BufAppendStr(Buf *b, const char *s);
void		BufPrintf(Buf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));
void		BufReset(Buf *b);
bool		CdcParseLsn(const char *s, uint64_t *out);
bool		CdcParseCursor(const char *s, Cursor *out);
int			CdcCursorCmp(Cursor a, Cursor b);
void		CdcFormatCursor(Cursor c, char *out, size_t outlen);
void		CdcFormatSubject(Buf *out, const char *template, const char *database,
							 const char *consumer, const Change *c);
char	   *CdcStreamSubjects(const char *template, const char *database, const char *consumer);
bool		CdcFormatSkips(RelayFormat format, const Change *c);
void		CdcFormatBody(Buf *out, RelayFormat format, const Change *c,
						  const char *database, const char *stream);

/* source.c: the change log, through the SQL API */
typedef struct Source Source;
typedef enum SourceStatus { SOURCE_OK, SOURCE_RETRY, SOURCE_FATAL } SourceStatus;
Source	   *CdcSourceCreate(const RelayConfig *cfg);
SourceStatus CdcSourceConnect(Source *src);
const char *CdcSourceDatabase(Source *src);
const char *CdcSourceSystemId(Source *src);
SourceStatus CdcSourceNext(Source *src, Cursor *next, bool *found);
bool		CdcSourceGapAfter(Source *src, Cursor last, const Cursor *next, Cursor *first);
SourceStatus CdcSourceBegin(Source *src);
SourceStatus CdcSourceFetch(Source *src, int timeout_ms, int *nrows);
void		CdcSourceGet(Source *src, int row, Change *out);
SourceStatus CdcSourceCommit(Source *src);
void		CdcSourceRollback(Source *src);
void		CdcSourceDisconnect(Source *src);

/* sink.c: the JetStream stream */
typedef struct Sink Sink;
typedef enum SinkStatus { SINK_OK, SINK_RETRY, SINK_FATAL } SinkStatus;
Sink	   *CdcSinkCreate(const RelayConfig *cfg);
SinkStatus	CdcSinkConnect(Sink *snk, const char *source_id, const char *database);
bool		CdcSinkClosed(Sink *snk);
SinkStatus	CdcSinkLearn(Sink *snk, bool *known, Cursor *last);
SinkStatus	CdcSinkPublish(Sink *snk, const char *subject, const char *body, size_t len,
						   const Change *c);
SinkStatus	CdcSinkWait(Sink *snk);
void		CdcSinkAbandon(Sink *snk);
void		CdcSinkReport(Sink *snk, bool final);
void		CdcSinkDisconnect(Sink *snk);
int			CdcSinkDump(const RelayConfig *cfg);

#endif
