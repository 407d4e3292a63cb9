/*
 * sink.c: the JetStream side of cdc_relay (libnats).  The stream is created
 * when missing; at every start and after every failure the relay learns
 * from the stream itself the last change it holds (the Cdc-Cursor header of
 * its last message) and the stream's last sequence.  Every publish then
 * carries Nats-Expected-Last-Sequence (the sequence the stream must have
 * just before it) besides Nats-Msg-Id: a change can only be stored right
 * after the one before it, so a retry can neither store a change twice nor
 * out of order, however long after the duplicate window it comes
 * (docs/relay.md).
 */
#include "relay.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define LAT_BUCKETS 10001		/* 1 ms buckets up to 10 s, then one more */
#define TS_RING 65536

struct Sink
{
	const RelayConfig *cfg;
	natsOptions *opts;
	natsConnection *nc;
	jsCtx	   *js;
	char		source[300];	/* "<system identifier>/<database>" */
	char		owner[400];		/* source + "/<consumer>": Cdc-Source */
	uint64_t	expected;		/* the stream's last sequence before our next message */

	/* filled by the ack handler (a libnats thread), under mu */
	pthread_mutex_t mu;
	uint64_t	acked;
	uint64_t	dups;
	uint64_t	errors;
	char		first_error[512];
	uint64_t	total_acked;
	int64_t		ts_ring[TS_RING];	/* commit time (us) by stream sequence */
	uint32_t	lat_interval[LAT_BUCKETS];
	uint32_t	lat_total[LAT_BUCKETS];
	uint64_t	n_interval;
	int64_t		interval_start_us;
};

static int64_t
now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}

Sink *
CdcSinkCreate(const RelayConfig *cfg)
{
	Sink	   *snk = calloc(1, sizeof(Sink));

	snk->cfg = cfg;
	pthread_mutex_init(&snk->mu, NULL);
	snk->interval_start_us = now_us();
	return snk;
}

/*
 * One acknowledgment (or error) from JetStream, on a libnats thread.  A
 * duplicate is counted apart: the relay never publishes what the stream
 * holds, so one means the stream moved under it and the round is redone.
 */
static void
on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	Sink	   *snk = closure;

	(void) js;
	pthread_mutex_lock(&snk->mu);
	if (pa != NULL && !pa->Duplicate)
	{
		int64_t		lat = (now_us() - snk->ts_ring[pa->Sequence % TS_RING]) / 1000;

		if (lat < 0)
			lat = 0;
		if (lat >= LAT_BUCKETS)
			lat = LAT_BUCKETS - 1;
		snk->lat_interval[lat]++;
		snk->lat_total[lat]++;
		snk->n_interval++;
		snk->acked++;
		snk->total_acked++;
	}
	else if (pa != NULL)
		snk->dups++;
	else
	{
		if (snk->errors++ == 0)
			snprintf(snk->first_error, sizeof(snk->first_error), "%s (%s, JetStream error %d)",
					 pae && pae->ErrText ? pae->ErrText : "?",
					 natsStatus_GetText(pae ? pae->Err : NATS_ERR), pae ? (int) pae->ErrCode : 0);
	}
	pthread_mutex_unlock(&snk->mu);
	natsMsg_Destroy(msg);
}

static void
on_disconnected(natsConnection *nc, void *closure)
{
	(void) nc;
	(void) closure;
	RelayLog("WARNING", "nats: disconnected");
}

static void
on_reconnected(natsConnection *nc, void *closure)
{
	char		url[256] = "";

	(void) closure;
	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	RelayLog("LOG", "nats: reconnected to %s", url);
}

static void
log_nats(const char *level, const char *what, natsStatus s, jsErrCode jerr)
{
	const char *last = nats_GetLastError(NULL);

	RelayLog(level, "nats: %s failed: %s%s%s (JetStream error %d)", what, natsStatus_GetText(s),
			 last && *last ? ": " : "", last && *last ? last : "", (int) jerr);
}

void
CdcSinkDisconnect(Sink *snk)
{
	if (snk->js)
		jsCtx_Destroy(snk->js);
	snk->js = NULL;
	if (snk->nc)
	{
		natsConnection_Close(snk->nc);
		natsConnection_Destroy(snk->nc);
	}
	snk->nc = NULL;
	if (snk->opts)
		natsOptions_Destroy(snk->opts);
	snk->opts = NULL;
}

static natsStatus
make_options(natsOptions **out, const RelayConfig *cfg, bool reconnect)
{
	char	   *copy = strdup(cfg->servers);
	const char *urls[64];
	int			n = 0;
	natsStatus	s;

	for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && n < 64; tok = strtok_r(NULL, ",", &save))
		urls[n++] = tok;
	s = natsOptions_Create(out);
	if (s == NATS_OK)
		s = natsOptions_SetServers(*out, urls, n);
	if (s == NATS_OK)
		s = natsOptions_SetName(*out, "cdc_relay");
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(*out, 2000);
	if (s == NATS_OK && reconnect)
	{
		s = natsOptions_SetMaxReconnect(*out, -1);
		if (s == NATS_OK)
			s = natsOptions_SetReconnectWait(*out, 250);
		if (s == NATS_OK)
			s = natsOptions_SetReconnectBufSize(*out, 64 * 1024 * 1024);
		if (s == NATS_OK)
			s = natsOptions_SetDisconnectedCB(*out, on_disconnected, NULL);
		if (s == NATS_OK)
			s = natsOptions_SetReconnectedCB(*out, on_reconnected, NULL);
	}
	else if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(*out, 0);
	free(copy);
	return s;
}

/* Connect to the cluster and set up the JetStream context. */
SinkStatus
CdcSinkConnect(Sink *snk, const char *source_id, const char *database)
{
	jsOptions	jo;
	natsStatus	s;

	CdcSinkDisconnect(snk);
	snprintf(snk->source, sizeof(snk->source), "%s/%s", source_id, database);
	snprintf(snk->owner, sizeof(snk->owner), "%s/%s", snk->source, snk->cfg->consumer);
	s = make_options(&snk->opts, snk->cfg, true);
	if (s == NATS_OK)
		s = natsConnection_Connect(&snk->nc, snk->opts);
	if (s != NATS_OK)
	{
		log_nats("WARNING", "connecting", s, 0);
		CdcSinkDisconnect(snk);
		return SINK_RETRY;
	}
	jsOptions_Init(&jo);
	jo.Wait = snk->cfg->ack_timeout_ms;
	jo.PublishAsync.MaxPending = snk->cfg->max_inflight + snk->cfg->batch_size + 1;
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = snk;
	s = natsConnection_JetStream(&snk->js, snk->nc, &jo);
	if (s != NATS_OK)
	{
		log_nats("WARNING", "JetStream context", s, 0);
		CdcSinkDisconnect(snk);
		return SINK_RETRY;
	}
	{
		char		url[256] = "";

		natsConnection_GetConnectedUrl(snk->nc, url, sizeof(url));
		RelayLog("LOG", "nats: connected to %s", url);
	}
	return SINK_OK;
}

/* Whether the connection is gone for good (then connect again). */
bool
CdcSinkClosed(Sink *snk)
{
	return snk->nc == NULL || natsConnection_Status(snk->nc) == NATS_CONN_STATUS_CLOSED;
}

/* Create the stream as configured. */
static SinkStatus
create_stream(Sink *snk, jsStreamInfo **si)
{
	const RelayConfig *cfg = snk->cfg;
	jsStreamConfig sc;
	jsErrCode	jerr = 0;
	char	   *subjects = cfg->stream_subjects ? strdup(cfg->stream_subjects) : NULL;
	const char *subj[32];
	int			nsubj = 0;
	natsStatus	s;

	if (subjects == NULL)
	{
		const char *db = strchr(snk->source, '/') + 1;

		subjects = CdcStreamSubjects(cfg->subject, db, cfg->consumer);
	}
	for (char *save = NULL, *tok = strtok_r(subjects, ",", &save); tok && nsubj < 32; tok = strtok_r(NULL, ",", &save))
		subj[nsubj++] = tok;
	jsStreamConfig_Init(&sc);
	sc.Name = cfg->stream;
	sc.Subjects = subj;
	sc.SubjectsLen = nsubj;
	sc.Storage = cfg->memory_storage ? js_MemoryStorage : js_FileStorage;
	sc.Replicas = cfg->replicas;
	sc.MaxAge = cfg->max_age_ms * 1000000;
	sc.Duplicates = cfg->dup_window_ms * 1000000;
	s = js_AddStream(si, snk->js, &sc, NULL, &jerr);
	if (s == NATS_OK)
		RelayLog("LOG", "nats: created stream \"%s\" (subjects %s, %d replicas, %s storage)",
				 cfg->stream, subjects, cfg->replicas, cfg->memory_storage ? "memory" : "file");
	else
		log_nats("WARNING", "creating the stream", s, jerr);
	free(subjects);
	if (s == NATS_OK)
		return SINK_OK;
	/* a config the server rejects (bad subjects, more replicas than nodes) is for good */
	if (jerr == JSStreamInvalidConfig || jerr == JSStreamSubjectOverlapErr ||
		jerr == JSStreamReplicasNotSupportedErr || jerr == JSInsufficientResourcesErr)
		return SINK_FATAL;
	return SINK_RETRY;
}

/*
 * What the stream holds: its last sequence (the expectation of our next
 * publish) and, from the headers of its last message, the last change this
 * relay published there.  known is false when the stream is empty or its
 * last message is gone (max age, purge): the consumer's checkpoint, which
 * never passes an acknowledged change, then decides where to resume.  A
 * last message another source published is an error for good: a stream has
 * one relay.
 */
SinkStatus
CdcSinkLearn(Sink *snk, bool *known, Cursor *last)
{
	jsStreamInfo *si = NULL;
	jsErrCode	jerr = 0;
	natsStatus	s;
	natsMsg    *m = NULL;
	const char *src = NULL,
			   *cur = NULL;
	SinkStatus	st;

	*known = false;
	if (snk->nc == NULL || natsConnection_Status(snk->nc) == NATS_CONN_STATUS_CLOSED)
		return SINK_RETRY;
	s = js_GetStreamInfo(&si, snk->js, snk->cfg->stream, NULL, &jerr);
	if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr)
	{
		st = create_stream(snk, &si);
		if (st != SINK_OK)
			return st;
	}
	else if (s != NATS_OK)
	{
		log_nats("WARNING", "reading the stream's state", s, jerr);
		return SINK_RETRY;
	}
	snk->expected = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	if (snk->expected == 0)
		return SINK_OK;
	s = js_GetMsg(&m, snk->js, snk->cfg->stream, snk->expected, NULL, &jerr);
	if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr)
	{
		RelayLog("LOG", "nats: the stream's last message (sequence %llu) is gone (max age or purge): "
				 "resuming from the consumer's checkpoint", (unsigned long long) snk->expected);
		return SINK_OK;
	}
	if (s != NATS_OK)
	{
		log_nats("WARNING", "reading the stream's last message", s, jerr);
		return SINK_RETRY;
	}
	natsMsgHeader_Get(m, "Cdc-Source", &src);
	natsMsgHeader_Get(m, "Cdc-Cursor", &cur);
	if (src == NULL || strcmp(src, snk->owner) != 0 || cur == NULL || !CdcParseCursor(cur, last))
	{
		RelayLog("ERROR", "nats: the last message of stream \"%s\" (sequence %llu) was not published by a relay of "
				 "this database and consumer (its Cdc-Source is %s, this relay's %s): a stream takes one relay; "
				 "give each relay its own stream (--stream)", snk->cfg->stream, (unsigned long long) snk->expected,
				 src ? src : "absent", snk->owner);
		natsMsg_Destroy(m);
		return SINK_FATAL;
	}
	*known = true;
	natsMsg_Destroy(m);
	return SINK_OK;
}

/*
 * Publish one change asynchronously, expecting the stream's last sequence
 * to be the one before it.  A change larger than the server's max_payload
 * can never be published: that stops the relay.
 */
SinkStatus
CdcSinkPublish(Sink *snk, const char *subject, const char *body, size_t len, const Change *c)
{
	natsMsg    *m = NULL;
	jsPubOptions po;
	char		msgid[400],
				cursor[64];
	natsStatus	s;

	CdcFormatCursor(c->cursor, cursor, sizeof(cursor));
	snprintf(msgid, sizeof(msgid), "%s:%s:%d", snk->source, c->commit_lsn, c->cursor.seq);
	s = natsMsg_Create(&m, subject, NULL, body, (int) len);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Cdc-Cursor", cursor);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Cdc-Source", snk->owner);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Cdc-Entity", c->entity ? c->entity : "");
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Cdc-Operation", c->operation);
	jsPubOptions_Init(&po);
	po.MsgId = msgid;
	if (snk->expected > 0)
		po.ExpectLastSeq = snk->expected;
	else
		po.ExpectNoMessage = true;	/* the first message of an empty stream */
	pthread_mutex_lock(&snk->mu);
	snk->ts_ring[(snk->expected + 1) % TS_RING] = atoll(c->ts_us);
	pthread_mutex_unlock(&snk->mu);
	if (s == NATS_OK)
		s = js_PublishMsgAsync(snk->js, &m, &po);
	natsMsg_Destroy(m);
	if (s == NATS_MAX_PAYLOAD)
	{
		RelayLog("ERROR", "nats: change %s is %zu bytes, more than the server's max_payload: raise max_payload "
				 "in the servers' configuration", cursor, len);
		return SINK_FATAL;
	}
	if (s != NATS_OK)
	{
		log_nats("WARNING", "publishing", s, 0);
		return SINK_RETRY;
	}
	snk->expected++;
	return SINK_OK;
}

/*
 * Wait until JetStream acknowledged every message published since the last
 * wait.  SINK_OK only when each one was stored (none failed, none was a
 * duplicate); otherwise the caller rolls back and learns the stream again.
 */
SinkStatus
CdcSinkWait(Sink *snk)
{
	jsPubOptions po;
	natsStatus	s;
	SinkStatus	st = SINK_OK;

	jsPubOptions_Init(&po);
	po.MaxWait = snk->cfg->ack_timeout_ms;
	s = js_PublishAsyncComplete(snk->js, &po);
	pthread_mutex_lock(&snk->mu);
	if (s != NATS_OK)
	{
		RelayLog("WARNING", "nats: no acknowledgment within %d ms (%s)", snk->cfg->ack_timeout_ms,
				 natsStatus_GetText(s));
		st = SINK_RETRY;
	}
	else if (snk->errors > 0)
	{
		RelayLog("WARNING", "nats: %llu publishes failed, first: %s", (unsigned long long) snk->errors,
				 snk->first_error);
		st = SINK_RETRY;
	}
	else if (snk->dups > 0)
	{
		RelayLog("WARNING", "nats: JetStream reported %llu duplicates: the stream moved, learning it again",
				 (unsigned long long) snk->dups);
		st = SINK_RETRY;
	}
	snk->errors = snk->dups = snk->acked = 0;
	pthread_mutex_unlock(&snk->mu);
	if (st != SINK_OK)
		CdcSinkAbandon(snk);
	return st;
}

/* Forget the publishes still waiting for an acknowledgment. */
void
CdcSinkAbandon(Sink *snk)
{
	natsMsgList pending;

	if (snk->js && js_PublishAsyncGetPendingList(&pending, snk->js) == NATS_OK)
		natsMsgList_Destroy(&pending);
	pthread_mutex_lock(&snk->mu);
	snk->errors = snk->dups = snk->acked = 0;
	pthread_mutex_unlock(&snk->mu);
}

static int
percentile(const uint32_t *h, uint64_t n, double q)
{
	uint64_t	want = (uint64_t) (q * (double) n + 0.5),
				seen = 0;

	if (want == 0)
		want = 1;
	for (int i = 0; i < LAT_BUCKETS; i++)
	{
		seen += h[i];
		if (seen >= want)
			return i;
	}
	return LAT_BUCKETS - 1;
}

/* A log line: changes acknowledged, rate, commit-to-ack latency. */
void
CdcSinkReport(Sink *snk, bool final)
{
	int64_t		t = now_us();
	double		secs = (double) (t - snk->interval_start_us) / 1e6;

	pthread_mutex_lock(&snk->mu);
	if (final)
	{
		uint64_t	n = 0;

		for (int i = 0; i < LAT_BUCKETS; i++)
			n += snk->lat_total[i];
		RelayLog("LOG", "stats: %llu changes acknowledged since start; commit-to-ack latency p50 %d ms, p99 %d ms",
				 (unsigned long long) snk->total_acked, n ? percentile(snk->lat_total, n, 0.5) : 0,
				 n ? percentile(snk->lat_total, n, 0.99) : 0);
	}
	else if (snk->n_interval > 0)
		RelayLog("LOG", "stats: %llu changes acknowledged in %.1f s (%.0f/s); commit-to-ack latency p50 %d ms, p99 %d ms",
				 (unsigned long long) snk->n_interval, secs, (double) snk->n_interval / secs,
				 percentile(snk->lat_interval, snk->n_interval, 0.5),
				 percentile(snk->lat_interval, snk->n_interval, 0.99));
	memset(snk->lat_interval, 0, sizeof(snk->lat_interval));
	snk->n_interval = 0;
	snk->interval_start_us = t;
	pthread_mutex_unlock(&snk->mu);
}

/*
 * --dump: every message of the stream, in stream order, one line each:
 * sequence, Nats-Msg-Id, Cdc-Cursor, subject, body (tab-separated).  One
 * request per message: for checking, not for consuming.
 */
int
CdcSinkDump(const RelayConfig *cfg)
{
	natsOptions *o = NULL;
	natsConnection *nc = NULL;
	jsCtx	   *js = NULL;
	jsStreamInfo *si = NULL;
	jsErrCode	jerr = 0;
	natsStatus	s;
	jsOptions	jo;

	s = make_options(&o, cfg, false);
	if (s == NATS_OK)
		s = natsConnection_Connect(&nc, o);
	jsOptions_Init(&jo);
	jo.Wait = cfg->ack_timeout_ms;
	if (s == NATS_OK)
		s = natsConnection_JetStream(&js, nc, &jo);
	if (s == NATS_OK)
		s = js_GetStreamInfo(&si, js, cfg->stream, NULL, &jerr);
	if (s == NATS_OK)
	{
		for (uint64_t seq = si->State.FirstSeq; seq <= si->State.LastSeq && seq > 0 && s == NATS_OK; seq++)
		{
			natsMsg    *m = NULL;
			const char *id = NULL,
					   *cur = NULL;

			s = js_GetMsg(&m, js, cfg->stream, seq, NULL, &jerr);
			if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr)
			{
				s = NATS_OK;
				continue;
			}
			if (s != NATS_OK)
				break;
			natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
			natsMsgHeader_Get(m, "Cdc-Cursor", &cur);
			printf("%llu\t%s\t%s\t%s\t%.*s\n", (unsigned long long) seq, id ? id : "", cur ? cur : "",
				   natsMsg_GetSubject(m), natsMsg_GetDataLength(m), natsMsg_GetData(m));
			natsMsg_Destroy(m);
		}
	}
	if (s != NATS_OK)
		log_nats("ERROR", "dumping the stream", s, jerr);
	fflush(stdout);
	if (si)
		jsStreamInfo_Destroy(si);
	if (js)
		jsCtx_Destroy(js);
	if (nc)
		natsConnection_Destroy(nc);
	if (o)
		natsOptions_Destroy(o);
	return s == NATS_OK ? RELAY_EXIT_OK : RELAY_EXIT_NATS;
}
