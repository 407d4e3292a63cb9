/*
 * main.c: cdc_relay's command line and its loop.
 *
 * The loop, and why it is exactly once in cursor order (docs/relay.md has
 * the long form):
 *  - at start and after any failure, learn from the stream the last change
 *    it holds, L (sink.c), and the stream's last sequence;
 *  - a round is one PostgreSQL transaction: cdc.consume batches (each
 *    continuing after the one before, in the same transaction), every
 *    change after L published asynchronously with the expectation that it
 *    lands right after the one before; changes at or before L were
 *    published already and are only consumed;
 *  - COMMIT (the consumer's checkpoint moves) only once JetStream
 *    acknowledged every publish of the round.  Any failure instead: roll
 *    back, forget what is in flight, learn L again, go on.
 * So the checkpoint never passes what the stream holds (nothing lost), a
 * change is never published when the stream holds it (nothing twice), and
 * the expected sequence forbids any store out of order.
 */
#include "relay.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

volatile int relay_stop = 0;

/*
 * Where the loop's time goes (microseconds): reading batches (a long poll
 * that found nothing excluded), formatting and publishing them, waiting
 * for JetStream's acknowledgments, committing the checkpoint.  In the
 * stats lines, so that an operator sees which side bounds the rate.
 */
static int64_t time_read,
			time_publish,
			time_wait,
			time_commit;

static int64_t
now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}

/* The stats line of the time split since the last one. */
static void
report_time(void)
{
	RelayLog("LOG", "stats: time reading %.1f s, publishing %.1f s, waiting for acknowledgments %.1f s, committing %.1f s",
			 time_read / 1e6, time_publish / 1e6, time_wait / 1e6, time_commit / 1e6);
	time_read = time_publish = time_wait = time_commit = 0;
}

static void
on_signal(int sig)
{
	(void) sig;
	relay_stop = 1;
}

/* One log line on stderr: UTC time, pid, level, message. */
void
RelayLog(const char *level, const char *fmt,...)
{
	char		line[2048];
	char		ts[32];
	struct timeval tv;
	struct tm	tm;
	va_list		ap;
	int			n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03d UTC cdc_relay[%d] %s:  ", ts, (int) (tv.tv_usec / 1000),
				 (int) getpid(), level);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t) n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}

/* Sleep, waking early on SIGTERM/SIGINT. */
void
RelaySleep(int ms)
{
	while (ms > 0 && !relay_stop)
	{
		int			step = ms > 100 ? 100 : ms;
		struct timespec ts = {0, (long) step * 1000000L};

		nanosleep(&ts, NULL);
		ms -= step;
	}
}

static void
usage(FILE *out)
{
	fprintf(out,
			"cdc_relay publishes a cdc_ext consumer's changes to a NATS JetStream stream,\n"
			"exactly once and in commit order.\n\n"
			"Usage:\n"
			"  cdc_relay -d CONNINFO --consumer NAME --servers nats://HOST:PORT[,...] --stream NAME [OPTION]...\n"
			"  cdc_relay --servers URLS --stream NAME --dump\n\n"
			"Source:\n"
			"  -d, --dbname=CONNINFO       database to read (a libpq connection string or URI)\n"
			"  -c, --consumer=NAME         consumer to read; created when missing with:\n"
			"      --entities=LIST         entity patterns to include (comma-separated)\n"
			"      --exclude-entities=LIST entity patterns to exclude\n"
			"      --operations=LIST       insert,update,delete,truncate,message\n"
			"      --start=WHERE           now (default), beginning, a timestamptz or an LSN\n"
			"Sink:\n"
			"  -s, --servers=URLS          NATS servers, comma-separated\n"
			"  -S, --stream=NAME           JetStream stream (one relay per stream); created when missing with:\n"
			"      --replicas=N            replicas (default 1; 3 on a 3-node cluster)\n"
			"      --storage=file|memory   storage (default file)\n"
			"      --max-age=DURATION      how long the stream keeps a message (e.g. 7d; default: no limit)\n"
			"      --duplicate-window=DURATION  Nats-Msg-Id window (default 2m)\n"
			"      --stream-subjects=LIST  the stream's subjects (default: from the template)\n"
			"      --subject=TEMPLATE      default cdc.<database>.<schema>.<table>.<operation>\n"
			"                              (also <consumer>)\n"
			"  -f, --format=json|debezium  message body (default json: the ChangeEntry)\n"
			"Flow:\n"
			"      --batch-size=N          rows per cdc.consume call (default 1000)\n"
			"      --max-inflight=N        unacknowledged publishes per round (default 10000)\n"
			"      --batch-timeout=MS      long poll when idle (default 1000)\n"
			"      --ack-timeout=MS        wait for JetStream acknowledgments (default 10000)\n"
			"      --max-backoff=MS        longest wait between retries (default 30000)\n"
			"      --stats-interval=S      a stats log line every S seconds (default 60, 0: never)\n"
			"      --dump                  print the stream's messages (seq, Nats-Msg-Id, cursor, subject, body) and exit\n"
			"  -V, --version, -h, --help\n\n"
			"Exit status: 0 stopped by SIGTERM/SIGINT (after draining), 1 bad usage,\n"
			"2 PostgreSQL refused for good, 3 JetStream refused for good.\n");
}

/* "90", "90s", "15m", "12h", "7d", "500ms" to milliseconds; -1 if malformed */
static int64_t
parse_duration(const char *s)
{
	char	   *end;
	double		v = strtod(s, &end);

	if (end == s || v < 0)
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		return (int64_t) (v * 1000);
	if (strcmp(end, "ms") == 0)
		return (int64_t) v;
	if (strcmp(end, "m") == 0)
		return (int64_t) (v * 60000);
	if (strcmp(end, "h") == 0)
		return (int64_t) (v * 3600000);
	if (strcmp(end, "d") == 0)
		return (int64_t) (v * 86400000);
	return -1;
}

static int
parse_int(const char *opt, const char *s, int min)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > 100000000)
	{
		fprintf(stderr, "cdc_relay: invalid value \"%s\" for --%s (an integer of at least %d)\n", s, opt, min);
		exit(RELAY_EXIT_USAGE);
	}
	return (int) v;
}

/* Wait before the next attempt: 250 ms doubling up to --max-backoff. */
static void
backoff(int *ms, const RelayConfig *cfg, const char *what)
{
	RelayLog("LOG", "%s: retrying in %d ms", what, *ms);
	RelaySleep(*ms);
	*ms = *ms * 2 > cfg->max_backoff_ms ? cfg->max_backoff_ms : *ms * 2;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"consumer", required_argument, NULL, 'c'},
		{"servers", required_argument, NULL, 's'},
		{"stream", required_argument, NULL, 'S'},
		{"format", required_argument, NULL, 'f'},
		{"replicas", required_argument, NULL, 1},
		{"storage", required_argument, NULL, 2},
		{"max-age", required_argument, NULL, 3},
		{"duplicate-window", required_argument, NULL, 4},
		{"stream-subjects", required_argument, NULL, 5},
		{"subject", required_argument, NULL, 6},
		{"entities", required_argument, NULL, 7},
		{"exclude-entities", required_argument, NULL, 8},
		{"operations", required_argument, NULL, 9},
		{"start", required_argument, NULL, 10},
		{"batch-size", required_argument, NULL, 11},
		{"max-inflight", required_argument, NULL, 12},
		{"batch-timeout", required_argument, NULL, 13},
		{"ack-timeout", required_argument, NULL, 14},
		{"max-backoff", required_argument, NULL, 15},
		{"stats-interval", required_argument, NULL, 16},
		{"dump", no_argument, NULL, 17},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	RelayConfig cfg = {
		.subject = "cdc.<database>.<schema>.<table>.<operation>",
		.replicas = 1, .dup_window_ms = 120000, .format = FORMAT_JSON,
		.batch_size = 1000, .max_inflight = 10000, .batch_timeout_ms = 1000,
		.ack_timeout_ms = 10000, .max_backoff_ms = 30000, .stats_interval_s = 60,
	};
	int			opt;
	Source	   *src;
	Sink	   *snk;
	struct sigaction sa;
	Buf			subject = {0},
				body = {0};
	bool		known = false;
	Cursor		last = {0, 0};
	int			pg_wait = 250,
				nats_wait = 250;
	bool		need_source = true,
				need_sink = true,
				need_learn = true;
	time_t		last_stats = time(NULL);
	uint64_t	published = 0,
				skipped = 0,
				not_published = 0;

	while ((opt = getopt_long(argc, argv, "d:c:s:S:f:Vh", longopts, NULL)) != -1)
	{
		switch (opt)
		{
			case 'd': cfg.conninfo = optarg; break;
			case 'c': cfg.consumer = optarg; break;
			case 's': cfg.servers = optarg; break;
			case 'S': cfg.stream = optarg; break;
			case 'f':
				if (strcmp(optarg, "json") == 0)
					cfg.format = FORMAT_JSON;
				else if (strcmp(optarg, "debezium") == 0)
					cfg.format = FORMAT_DEBEZIUM;
				else
				{
					fprintf(stderr, "cdc_relay: invalid --format \"%s\" (json or debezium)\n", optarg);
					return RELAY_EXIT_USAGE;
				}
				break;
			case 1: cfg.replicas = parse_int("replicas", optarg, 1); break;
			case 2:
				if (strcmp(optarg, "file") != 0 && strcmp(optarg, "memory") != 0)
				{
					fprintf(stderr, "cdc_relay: invalid --storage \"%s\" (file or memory)\n", optarg);
					return RELAY_EXIT_USAGE;
				}
				cfg.memory_storage = strcmp(optarg, "memory") == 0;
				break;
			case 3:
			case 4:
				{
					int64_t		ms = parse_duration(optarg);

					if (ms < 0)
					{
						fprintf(stderr, "cdc_relay: invalid duration \"%s\" for --%s (e.g. 90s, 15m, 12h, 7d)\n",
								optarg, opt == 3 ? "max-age" : "duplicate-window");
						return RELAY_EXIT_USAGE;
					}
					if (opt == 3)
						cfg.max_age_ms = ms;
					else
						cfg.dup_window_ms = ms;
				}
				break;
			case 5: cfg.stream_subjects = optarg; break;
			case 6: cfg.subject = optarg; break;
			case 7: cfg.entities = optarg; break;
			case 8: cfg.exclude_entities = optarg; break;
			case 9: cfg.operations = optarg; break;
			case 10: cfg.start = optarg; break;
			case 11: cfg.batch_size = parse_int("batch-size", optarg, 1); break;
			case 12: cfg.max_inflight = parse_int("max-inflight", optarg, 1); break;
			case 13: cfg.batch_timeout_ms = parse_int("batch-timeout", optarg, 0); break;
			case 14: cfg.ack_timeout_ms = parse_int("ack-timeout", optarg, 100); break;
			case 15: cfg.max_backoff_ms = parse_int("max-backoff", optarg, 250); break;
			case 16: cfg.stats_interval_s = parse_int("stats-interval", optarg, 0); break;
			case 17: cfg.dump = true; break;
			case 'V': printf("cdc_relay %s\n", CDC_RELAY_VERSION); return RELAY_EXIT_OK;
			case 'h': usage(stdout); return RELAY_EXIT_OK;
			default:
				usage(stderr);
				return RELAY_EXIT_USAGE;
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "cdc_relay: unexpected argument \"%s\"\n", argv[optind]);
		return RELAY_EXIT_USAGE;
	}
	if (cfg.servers == NULL || cfg.stream == NULL ||
		(!cfg.dump && (cfg.conninfo == NULL || cfg.consumer == NULL)))
	{
		fprintf(stderr, "cdc_relay: %s are required (see --help)\n",
				cfg.dump ? "--servers and --stream" : "--dbname, --consumer, --servers and --stream");
		return RELAY_EXIT_USAGE;
	}
	if (cfg.dump)
		return CdcSinkDump(&cfg);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	RelayLog("LOG", "starting: consumer \"%s\" to stream \"%s\" on %s (%s)", cfg.consumer, cfg.stream,
			 cfg.servers, cfg.format == FORMAT_JSON ? "json" : "debezium");
	src = CdcSourceCreate(&cfg);
	snk = CdcSinkCreate(&cfg);

	while (!relay_stop)
	{
		int			nrows = 0,
					inflight = 0;
		bool		failed_pg = false,
					failed_nats = false;
		Cursor		round_last = last;
		bool		round_known = known;

		if (need_source)
		{
			SourceStatus st = CdcSourceConnect(src);

			if (st == SOURCE_FATAL)
				return RELAY_EXIT_PG;
			if (st == SOURCE_RETRY)
			{
				backoff(&pg_wait, &cfg, "postgresql");
				continue;
			}
			need_source = false;
			pg_wait = 250;
			need_learn = true;
		}
		if (need_sink)
		{
			if (CdcSinkConnect(snk, CdcSourceSystemId(src), CdcSourceDatabase(src)) != SINK_OK)
			{
				backoff(&nats_wait, &cfg, "nats");
				continue;
			}
			need_sink = false;
			need_learn = true;
		}
		if (need_learn)
		{
			SinkStatus st = CdcSinkLearn(snk, &known, &last);
			Cursor		next,
						first;
			bool		has_next;
			SourceStatus sst;
			char		a[64],
						b[64];

			if (st == SINK_FATAL)
				return RELAY_EXIT_NATS;
			if (st == SINK_RETRY)
			{
				need_sink = CdcSinkClosed(snk);
				backoff(&nats_wait, &cfg, "nats");
				continue;
			}
			nats_wait = 250;
			/* where the consumer stands: its next change after the checkpoint */
			sst = CdcSourceNext(src, &next, &has_next);
			if (sst == SOURCE_FATAL)
				return RELAY_EXIT_PG;
			if (sst != SOURCE_OK)
			{
				need_source = true;
				backoff(&pg_wait, &cfg, "postgresql");
				continue;
			}
			need_learn = false;
			if (has_next)
				CdcFormatCursor(next, a, sizeof(a));
			else
				snprintf(a, sizeof(a), "none yet");
			if (known)
			{
				CdcFormatCursor(last, b, sizeof(b));
				if (CdcSourceGapAfter(src, last, has_next ? &next : NULL, &first))
				{
					char		f[64];

					CdcFormatCursor(first, f, sizeof(f));
					RelayLog("WARNING", "the stream's last change is %s but the consumer's next change is %s: "
							 "changes from %s on were consumed elsewhere (or the stream lost them) and are "
							 "not in the stream", b, a, f);
				}
				else
					RelayLog("LOG", "resuming: the stream holds changes up to %s, the consumer's next change is %s", b, a);
			}
			else
				RelayLog("LOG", "resuming at the consumer's checkpoint, its next change %s (the stream holds no change of ours)", a);
			round_last = last;
			round_known = known;
		}

		/* one round: one transaction of cdc.consume batches */
		if (CdcSourceBegin(src) != SOURCE_OK)
		{
			need_source = true;
			continue;
		}
		for (bool first = true; !relay_stop || first; first = false)
		{
			int64_t		t0 = now_us(),
						t1;
			SourceStatus st = CdcSourceFetch(src, first ? cfg.batch_timeout_ms : 0, &nrows);

			t1 = now_us();
			/* a long poll that found nothing is idle time, not reading */
			if (nrows > 0 || !first)
				time_read += t1 - t0;

			if (st == SOURCE_FATAL)
			{
				CdcSinkAbandon(snk);
				return RELAY_EXIT_PG;
			}
			if (st != SOURCE_OK)
			{
				failed_pg = true;
				break;
			}
			for (int i = 0; i < nrows && !failed_nats; i++)
			{
				Change		c;
				SinkStatus ps;

				CdcSourceGet(src, i, &c);
				if (round_known && CdcCursorCmp(c.cursor, round_last) <= 0)
				{
					skipped++;
					continue;
				}
				if (CdcFormatSkips(cfg.format, &c))
				{
					char		cur[64];

					CdcFormatCursor(c.cursor, cur, sizeof(cur));
					if (not_published++ == 0 || not_published % 1000 == 0)
						RelayLog("LOG", "not published: %s entry %s of %s (--format debezium has no event for it; %llu so far)",
								 c.operation, cur, c.entity ? c.entity : "-", (unsigned long long) not_published);
					continue;
				}
				CdcFormatSubject(&subject, cfg.subject, CdcSourceDatabase(src), cfg.consumer, &c);
				CdcFormatBody(&body, cfg.format, &c, CdcSourceDatabase(src), cfg.stream);
				ps = CdcSinkPublish(snk, subject.data, body.data, body.len, &c);
				if (ps == SINK_FATAL)
				{
					CdcSourceRollback(src);
					CdcSinkAbandon(snk);
					return RELAY_EXIT_NATS;
				}
				if (ps != SINK_OK)
				{
					failed_nats = true;
					break;
				}
				round_last = c.cursor;
				round_known = true;
				inflight++;
			}
			time_publish += now_us() - t1;
			if (failed_nats || nrows < cfg.batch_size || inflight >= cfg.max_inflight)
				break;
		}
		{
			int64_t		t0 = now_us();

			if (!failed_nats && CdcSinkWait(snk) != SINK_OK)
				failed_nats = true;
			time_wait += now_us() - t0;
		}
		if (failed_nats)
		{
			CdcSourceRollback(src);
			CdcSinkAbandon(snk);
			need_learn = true;
			backoff(&nats_wait, &cfg, "nats");
			continue;
		}
		/* every publish of the round is acknowledged: the stream holds them */
		last = round_last;
		known = round_known;
		published += (uint64_t) inflight;
		{
			int64_t		t0 = now_us();

			if (!failed_pg && CdcSourceCommit(src) != SOURCE_OK)
				failed_pg = true;
			time_commit += now_us() - t0;
		}
		if (failed_pg)
		{
			need_source = true;
			backoff(&pg_wait, &cfg, "postgresql");
			continue;
		}
		if (cfg.stats_interval_s > 0 && time(NULL) - last_stats >= cfg.stats_interval_s)
		{
			CdcSinkReport(snk, false);
			report_time();
			last_stats = time(NULL);
		}
	}
	{
		char		a[64];

		CdcFormatCursor(last, a, sizeof(a));
		RelayLog("LOG", "stopping: %llu changes published, %llu already in the stream skipped, %llu without a message "
				 "in this format; last change %s", (unsigned long long) published, (unsigned long long) skipped,
				 (unsigned long long) not_published, known ? a : "none");
	}
	CdcSinkReport(snk, true);
	if (cfg.stats_interval_s > 0)
		report_time();
	CdcSourceDisconnect(src);
	CdcSinkDisconnect(snk);
	return RELAY_EXIT_OK;
}
