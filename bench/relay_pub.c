/*
 * relay_pub.c: the ceiling bench/relay.sh compares cdc_relay with.  It
 * publishes N messages as cdc_relay does (asynchronously, at most WINDOW
 * unacknowledged, each with Nats-Msg-Id, Nats-Expected-Last-Sequence and
 * the relay's four headers, a body of BYTES bytes) into a new stream of
 * REPLICAS file replicas, with no PostgreSQL in the way, and prints the
 * rate: what the NATS cluster takes on this machine at best.
 *
 *   relay_pub URL STREAM N REPLICAS BYTES WINDOW
 */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static long acked,
			failed;

static double
now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

/* one acknowledgment, on a libnats thread */
static void
on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	(void) js;
	(void) pae;
	(void) closure;
	__sync_fetch_and_add(pa ? &acked : &failed, 1);
	natsMsg_Destroy(msg);
}

int
main(int argc, char **argv)
{
	natsOptions *o = NULL;
	natsConnection *nc = NULL;
	jsCtx	   *js = NULL;
	jsOptions	jo;
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	jsPubOptions po;
	jsErrCode	jerr = 0;
	natsStatus	s;
	const char *url,
			   *subjects[1];
	char		subject[200],
				pattern[200],
				id[200],
			   *body;
	int			n,
				replicas,
				bytes,
				window;
	double		t0,
				t1;

	if (argc != 7)
	{
		fprintf(stderr, "usage: relay_pub URL STREAM N REPLICAS BYTES WINDOW\n");
		return 1;
	}
	url = argv[1];
	n = atoi(argv[3]);
	replicas = atoi(argv[4]);
	bytes = atoi(argv[5]);
	window = atoi(argv[6]);
	natsOptions_Create(&o);
	natsOptions_SetServers(o, &url, 1);
	if ((s = natsConnection_Connect(&nc, o)) != NATS_OK)
	{
		fprintf(stderr, "relay_pub: connecting: %s\n", natsStatus_GetText(s));
		return 1;
	}
	jsOptions_Init(&jo);
	jo.Wait = 30000;
	jo.PublishAsync.MaxPending = window;
	jo.PublishAsync.StallWait = 60000;	/* a full window waits for acknowledgments */
	jo.PublishAsync.AckHandler = on_ack;
	natsConnection_JetStream(&js, nc, &jo);
	snprintf(pattern, sizeof(pattern), "%s.>", argv[2]);
	snprintf(subject, sizeof(subject), "%s.postgres.public.t.insert", argv[2]);
	subjects[0] = pattern;
	jsStreamConfig_Init(&sc);
	sc.Name = argv[2];
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Replicas = replicas;
	sc.Storage = js_FileStorage;
	if ((s = js_AddStream(&si, js, &sc, NULL, &jerr)) != NATS_OK)
	{
		fprintf(stderr, "relay_pub: creating the stream: %s (%d)\n", natsStatus_GetText(s), (int) jerr);
		return 1;
	}
	jsStreamInfo_Destroy(si);
	body = malloc((size_t) bytes);
	memset(body, 'x', (size_t) bytes);
	t0 = now();
	for (int i = 0; i < n; i++)
	{
		natsMsg    *m = NULL;

		snprintf(id, sizeof(id), "7400000000000000000/postgres:0/%X:%d", 0x16B4F00 + i / 100, i % 100);
		natsMsg_Create(&m, subject, NULL, body, bytes);
		natsMsgHeader_Set(m, "Cdc-Cursor", id + 29);
		natsMsgHeader_Set(m, "Cdc-Source", "7400000000000000000/postgres/relay");
		natsMsgHeader_Set(m, "Cdc-Entity", "public.t");
		natsMsgHeader_Set(m, "Cdc-Operation", "insert");
		jsPubOptions_Init(&po);
		po.MsgId = id;
		if (i > 0)
			po.ExpectLastSeq = (uint64_t) i;
		s = js_PublishMsgAsync(js, &m, &po);
		natsMsg_Destroy(m);
		if (s != NATS_OK)
		{
			fprintf(stderr, "relay_pub: publishing: %s\n", natsStatus_GetText(s));
			return 1;
		}
	}
	jsPubOptions_Init(&po);
	po.MaxWait = 120000;
	s = js_PublishAsyncComplete(js, &po);
	t1 = now();
	printf("%.3f %ld %ld\n", t1 - t0, acked, failed);
	return s == NATS_OK && acked == n ? 0 : 1;
}
