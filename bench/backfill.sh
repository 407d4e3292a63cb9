#!/usr/bin/env bash
# Backfill (issue 18) against its targets, in one run:
#   1. a 1,000,000-row table of the reference shape: backfill into the log and
#      drain with cdc.consume (batch 1000, a transaction per batch, every row
#      to a psql client), timed from create_consumer(start => 'snapshot') to
#      the last read entry consumed, beside COPY (SELECT to_jsonb(t) FROM t)
#      TO '/dev/null' and pg_dump --data-only -t of the same table
#      (BENCH_RUNS rounds, interleaved; the drain must receive exactly the
#      table's row count of read entries)
#   2. commit-to-delivery latency of live updates (BENCH_RATE commits/s,
#      pgbench, synchronous_commit = on) to a long-polling consumer, without
#      and during a backfill of the same table as in 1 (with its drain)
#   3. the log writer's memory backfilling 30 rows of 10 MB (text stored out
#      of line, uncompressed): peak vs idle RSS; the writer slot's retained
#      WAL during the backfills vs without
#
# As root on Debian 12, from the repository root:   bash bench/backfill.sh
# Writes bench/results/backfill.md.  PGBIN (the server's bin directory,
# default /usr/lib/postgresql/15/bin; the extension is built and installed
# there), BENCH_ROWS (1000000), BENCH_RUNS (3), BENCH_RATE (500),
# BENCH_LIVE_SECONDS (20: the latency run without a backfill),
# BENCH_BIG_ROWS (30), BENCH_PORT, BENCH_REPORT (the report's path),
# BENCH_WORK (the throwaway cluster's directory prefix), BENCH_JIT (jit:
# the server's default, on, unless given).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROWS=${BENCH_ROWS:-1000000}
RUNS=${BENCH_RUNS:-3}
RATE=${BENCH_RATE:-500}
LIVE_SECS=${BENCH_LIVE_SECONDS:-20}
BIG_ROWS=${BIG_ROWS:-${BENCH_BIG_ROWS:-30}}
PORT=${BENCH_PORT:-5591}
report=${BENCH_REPORT:-$here/bench/results/backfill.md}

export PATH=$PGBIN:$PATH
(cd "$here" && flock "/tmp/cdc_ext_install.$(echo "$PGBIN" | md5sum | cut -c1-8).lock" \
	sh -c 'make -s && make -s install') >/dev/null

work=$(mktemp -d "${BENCH_WORK:-/tmp/cdc_ext_bfbench}.XXXXXX")
chown postgres: "$work"
bg=()
as_pg() { runuser -u postgres -- env PATH="$PATH" "$@"; }
stop() {
	for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; done
	as_pg pg_ctl -D "$work/data" -m fast stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap stop EXIT
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

as_pg initdb -D "$work/data" -U postgres --no-sync >/dev/null
{
	bash "$here/scripts/pgconf.sh"
	cat <<CONF
shared_buffers = 512MB
max_wal_size = 1GB
checkpoint_timeout = 30min
fsync = off
synchronous_commit = off
autovacuum = off
log_line_prefix = '%m [%p] %b '
CONF
	if [ -n "${BENCH_JIT:-}" ]; then echo "jit = $BENCH_JIT"; fi
} >> "$work/data/postgresql.conf"
as_pg pg_ctl -D "$work/data" -l "$work/server.log" -o "-p $PORT -k $work" -w start >/dev/null
psql_() { as_pg env PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$PORT" -U postgres "$@"; }
q() { psql_ -d bf -At "$@"; }

# --- the tables, filled before CREATE EXTENSION (their filling is not logged) --
psql_ -d postgres -c "CREATE DATABASE bf"
# the reference shape and workload: n inserted, half updated, a fifth
# deleted, so n = 5/4 of the rows wanted
q < "$here/bench/workloads/reference_setup.sql" >/dev/null
q -v n="$((ROWS * 5 / 4))" < "$here/bench/workloads/reference.sql" >/dev/null
q <<SQL >/dev/null
CREATE TABLE live (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0, t timestamptz);
INSERT INTO live (id) SELECT g FROM generate_series(1, 1000) g;
CREATE TABLE big (id int PRIMARY KEY, v text);
ALTER TABLE big ALTER v SET STORAGE EXTERNAL;
INSERT INTO big SELECT i, (SELECT string_agg(md5(i::text || '.' || g::text), '') FROM generate_series(1, 327680) g)
	FROM generate_series(1, $BIG_ROWS) i;
VACUUM ANALYZE;
CHECKPOINT;
CREATE UNLOGGED TABLE lat_seen (phase text, t timestamptz, latency interval);
CREATE UNLOGGED TABLE bench_stop (phase text);
CREATE EXTENSION cdc_ext;
SELECT cdc.wait_for_log();
CREATE PROCEDURE poll(p text) LANGUAGE plpgsql AS \$\$
BEGIN
	WHILE NOT EXISTS (SELECT FROM bench_stop WHERE phase = p) LOOP
		INSERT INTO lat_seen SELECT p, (new_data->>'t')::timestamptz, clock_timestamp() - (new_data->>'t')::timestamptz
			FROM cdc.consume('live', 1000, '1 s');
		COMMIT;
	END LOOP;
END \$\$;
SQL
rows=$(q -c "SELECT count(*) FROM bench_orders")
table_mb=$(q -c "SELECT pg_total_relation_size('bench_orders') / 1048576")
[ "$rows" -eq "$ROWS" ] || { echo "bench_orders has $rows rows, not $ROWS" >&2; exit 1; }
slot=$(q -c "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'cdc_ext_log_%' AND database = 'bf'")
wpid=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'cdc_ext log writer' AND datname = 'bf'")
[ -n "$slot" ] && [ -n "$wpid" ] || { echo "no log writer (slot '$slot', pid '$wpid')" >&2; exit 1; }

# --- samplers: the writer's memory (0.1 s) and its slot's retained WAL (0.5 s) --
# each line: epoch seconds, then the figures; the phases are cut by time
(
	while kill -0 "$wpid" 2>/dev/null; do
		awk -v t="$(now)" '/^VmRSS/ {r=$2} /^RssAnon/ {a=$2} /^RssShmem/ {s=$2} END {print t, r, a, s}' "/proc/$wpid/status"
		sleep 0.1
	done
) > "$work/rss.txt" 2>/dev/null &
bg+=($!)
(
	while true; do
		q -F ' ' -c "SELECT extract(epoch FROM clock_timestamp()), pg_current_wal_lsn() - restart_lsn FROM pg_replication_slots WHERE slot_name = '$slot'" || true
		sleep 0.5
	done
) > "$work/wal.txt" 2>/dev/null &
bg+=($!)
# peak (max) of column $4 of file $1 between epochs $2 and $3
peak() { awk -v a="$2" -v b="$3" -v c="$4" '$1 >= a && $1 <= b && $c > m {m = $c} END {print m + 0}' "$1"; }
# median of column $4 between epochs $2 and $3
mid() { awk -v a="$2" -v b="$3" -v c="$4" '$1 >= a && $1 <= b {print $c}' "$1" | median; }

# CPU time, the machine being shared: seconds of CPU used so far by the
# cluster (its live processes, and the backends it reaped: a parent's
# cutime/cstime) and by this script's clients (psql, pg_dump: reaped by this
# shell), from /proc/PID/stat; and the writer's own time on a CPU and waiting
# for one (/proc/PID/schedstat, ns)
pm=$(head -1 "$work/data/postmaster.pid")
tck=$(getconf CLK_TCK)
cpu() {
	{
		awk '{print $16 + $17}' "/proc/$pm/stat" "/proc/$$/stat"
		for c in $(pgrep -P "$pm"); do awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || true; done
	} | awk -v t="$tck" '{s += $1} END {printf "%.2f", s / t}'
}
wsched() { awk '{printf "%.3f %.3f", $1 / 1e9, $2 / 1e9}' "/proc/$wpid/schedstat"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }

tmp=$(mktemp)
out() { tee -a "$tmp"; }
{
	echo "# cdc_ext backfill benchmark"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- server: $(q -c 'SHOW server_version'); fsync = off, synchronous_commit = off (pgbench's committers: on), shared_buffers 512MB, jit = $(q -c 'SHOW jit')"
	echo "- cdc_ext $(git -C "$here" describe --always --dirty 2>/dev/null || echo '?')"
	echo
} | out

# --- 1. backfill + drain vs COPY and pg_dump ----------------------------------
# drain $1 consumer $2 entity $3 rows: create the consumer with start =>
# 'snapshot', then consume batches of 1000 (long poll 1 s, a transaction
# each) until $3 entries arrived; psql fetches every row and an awk behind
# \o counts the read entries into $work/reads.$1.  Prints the seconds.
drain() {
	local c=$1 entity=$2 n=$3 f="$work/drain.$1.sql" t0 k
	k=$(( n / 1000 * 3 + 1200 ))
	{
		echo "\\set total 0"
		echo "\\set done false"
		echo "SELECT cdc.create_consumer('$c', entities => '{$entity}', start => 'snapshot') IS NOT NULL AS created \\gset"
		echo "\\o | awk -F'|' '\$8 == \"read\" {r++} END {print r + 0 > \"$work/reads.$c\"}'"
		awk -v k="$k" -v c="$c" -v n="$n" 'BEGIN {
			for (i = 0; i < k; i++) {
				print "\\if :done"
				print "\\else"
				print "BEGIN;"
				print "SELECT * FROM cdc.consume('\''" c "'\'', 1000, '\''1 s'\'');"
				print "\\set got :ROW_COUNT"
				print "COMMIT;"
				print "SELECT :total + :got AS total, :total + :got >= " n " AS done \\gset"
				print "\\endif"
			}
		}'
		echo "\\o"
		echo "\\echo :total"
	} > "$f"
	chown postgres: "$f"
	t0=$(now)
	as_pg psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$work" -p "$PORT" -U postgres -d bf -f "$f" > "$work/total.$c"
	since "$t0"
}
# the backfill's own figures: state|rows_done|writer seconds (created to finished)|chunks|retries|rate
bf_info() {
	q -c "SELECT state, rows_done, round(extract(epoch FROM finished_at - created_at), 3), chunks, retries, round(rate) FROM cdc.backfills WHERE consumer = '$1'"
}
check_drain() {
	local c=$1 n=$2 got reads extra
	got=$(tail -1 "$work/total.$c"); reads=$(cat "$work/reads.$c")
	extra=$(q -c "SELECT count(*) FROM cdc.stream('$c', batch_size => 1000)")
	if [ "$got" != "$n" ] || [ "$reads" != "$n" ] || [ "$extra" != 0 ]; then
		echo "drain of $c: $got entries, $reads read entries, $extra more after: expected exactly $n read entries" >&2
		exit 1
	fi
}
a_t=(); b_t=(); c_t=(); w_t=(); a_rows=(); a_cpu=(); b_cpu=(); c_cpu=(); w_cpu=(); w_wait=()
for r in $(seq 1 "$RUNS"); do
	u0=$(cpu); t0=$(now); q -c "COPY (SELECT to_jsonb(t) FROM bench_orders t) TO '/dev/null'"; b_t+=("$(since "$t0")"); b_cpu+=("$(sub "$u0" "$(cpu)")")
	u0=$(cpu); t0=$(now); as_pg pg_dump --data-only -t bench_orders -h "$work" -p "$PORT" -U postgres -f /dev/null bf; c_t+=("$(since "$t0")"); c_cpu+=("$(sub "$u0" "$(cpu)")")
	u0=$(cpu); read -r s0 s1 <<<"$(wsched)"
	a_t+=("$(drain "bf$r" bench_orders "$ROWS")")
	a_cpu+=("$(sub "$u0" "$(cpu)")"); read -r s2 s3 <<<"$(wsched)"
	w_cpu+=("$(sub "$s0" "$s2")"); w_wait+=("$(sub "$s1" "$s3")")
	check_drain "bf$r" "$ROWS"
	IFS='|' read -r st done ws chunks retries rate <<<"$(bf_info "bf$r")"
	[ "$st" = done ] && [ "$done" = "$ROWS" ] || { echo "backfill bf$r: state $st, $done rows" >&2; exit 1; }
	w_t+=("$ws"); a_rows+=("$chunks chunks, $retries retries")
done
am=$(printf '%s\n' "${a_t[@]}" | median); bm=$(printf '%s\n' "${b_t[@]}" | median)
cm=$(printf '%s\n' "${c_t[@]}" | median); wm=$(printf '%s\n' "${w_t[@]}" | median)
amc=$(printf '%s\n' "${a_cpu[@]}" | median); bmc=$(printf '%s\n' "${b_cpu[@]}" | median)
cmc=$(printf '%s\n' "${c_cpu[@]}" | median); wmc=$(printf '%s\n' "${w_cpu[@]}" | median)
{
	echo "## 1. Backfill + drain vs COPY and pg_dump ($ROWS rows of the reference shape, $table_mb MB with indexes)"
	echo
	echo "Medians of $RUNS interleaved rounds (COPY, pg_dump, backfill + drain); runs: (a) ${a_t[*]} s; (b) ${b_t[*]} s; (c) ${c_t[*]} s."
	echo
	echo "| what | median s | rows/s | ratio to COPY | CPU s (cluster + clients) | CPU ratio |"
	echo "|---|---:|---:|---:|---:|---:|"
	echo "| (b) \`COPY (SELECT to_jsonb(t) FROM bench_orders t) TO '/dev/null'\` | $bm | $(awk -v a="$ROWS" -v t="$bm" 'BEGIN {printf "%.0f", a / t}') | 1.00 | $bmc | 1.00 |"
	echo "| (c) \`pg_dump --data-only -t bench_orders -f /dev/null\` | $cm | $(awk -v a="$ROWS" -v t="$cm" 'BEGIN {printf "%.0f", a / t}') | $(ratio "$cm" "$bm") | $cmc | $(ratio "$cmc" "$bmc") |"
	echo "| (a) backfill + drain: \`create_consumer(start => 'snapshot')\` to the last read entry consumed (cdc.consume, batch 1000, psql client) | $am | $(awk -v a="$ROWS" -v t="$am" 'BEGIN {printf "%.0f", a / t}') | **$(ratio "$am" "$bm")** | $amc | **$(ratio "$amc" "$bmc")** |"
	echo "| the writer's part of (a): the backfill's created_at to finished_at (cdc.backfills); CPU: the writer's own | $wm | $(awk -v a="$ROWS" -v t="$wm" 'BEGIN {printf "%.0f", a / t}') | $(ratio "$wm" "$bm") | $wmc | $(ratio "$wmc" "$bmc") |"
	echo
	echo "(a)/(b) = **$(ratio "$am" "$bm")** (target within 3x, stretch 2x); (a)/(c) = **$(ratio "$am" "$cm")**; in CPU time (a)/(b) = **$(ratio "$amc" "$bmc")**, (a)/(c) = $(ratio "$amc" "$cmc"). Writer's seconds per round: ${w_t[*]}; ${a_rows[*]}."
	echo "CPU seconds per round: (a) ${a_cpu[*]}; (b) ${b_cpu[*]}; (c) ${c_cpu[*]}; the writer during (a): on a CPU ${w_cpu[*]}, waiting in the run queue for one ${w_wait[*]} (/proc/PID/schedstat: the machine is shared)."
	echo "Every drain received exactly $ROWS read entries (counted by the client) and nothing after them."
	echo
} | out

# --- 2. live changes during a backfill ----------------------------------------
echo "\\set id random(1, 1000)
UPDATE live SET n = n + 1, t = clock_timestamp() WHERE id = :id;" > "$work/live.sql"
chown postgres: "$work/live.sql"
# live $1 phase $2 seconds: pgbench at RATE commits/s for $2 seconds (or until
# killed) and the long-polling consumer meanwhile; pgbench's pid in lb_pid
live_start() {
	( q -c "CALL poll('$1')" ) &
	poll_pid=$!; bg+=($poll_pid)
	sleep 1
	PGOPTIONS="-c synchronous_commit=on" \
		pgbench -n -h "$work" -p "$PORT" -U postgres -c 4 -j 2 -R "$RATE" -T "$2" -f "$work/live.sql" bf > "$work/pgbench.$1" 2>&1 &
	lb_pid=$!; bg+=($lb_pid)
}
live_stop() {
	wait "$lb_pid" || true
	sleep 2
	q -c "INSERT INTO bench_stop VALUES ('$1')"
	wait "$poll_pid" || true
}
# p50|p99|max|n of the latencies of phase $1 committed between epochs $2 and $3
lat() {
	q -c "SELECT round(1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY latency)))::text || '|' ||
		round(1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP (ORDER BY latency)))::text || '|' ||
		round(1000 * extract(epoch FROM max(latency)))::text || '|' || count(*)
		FROM lat_seen WHERE phase = '$1' AND t >= to_timestamp($2) AND t <= to_timestamp($3)"
}
# commits/s delivered: $1 changes over the window $2..$3
tps() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN {printf "%.0f", n / (b - a)}'; }

# the latency consumer starts now: created before part 1, its first read
# would scan the millions of read entries logged for the other consumers
q -c "SELECT cdc.create_consumer('live', entities => '{live}')" >/dev/null
live_start quiet "$LIVE_SECS"
sleep 2; q0=$(now)
sleep $((LIVE_SECS - 4)); q1=$(now)
live_stop quiet
IFS='|' read -r qp50 qp99 qmax qn <<<"$(lat quiet "$q0" "$q1")"
qwal=$(peak "$work/wal.txt" "$q0" "$q1" 2)

longest=$(printf '%s\n' "${a_t[@]}" | sort -g | tail -1)
live_start during "$(awk -v a="$longest" 'BEGIN {printf "%d", 3 * a + 60}')"
sleep 3; d0=$(now)
# the window: the backfill's own (the writer's) time, its drain running
# meanwhile; the drain is then waited for and checked
( drain bflive bench_orders "$ROWS" > "$work/ad.bflive" ) &
drain_pid=$!; bg+=($drain_pid)
until [ "$(q -c "SELECT state FROM cdc.backfills WHERE consumer = 'bflive'")" = done ]; do sleep 0.5; done
d1=$(now)
kill "$lb_pid" 2>/dev/null || true
live_stop during
wait "$drain_pid"
ad=$(cat "$work/ad.bflive")
check_drain bflive "$ROWS"
IFS='|' read -r dp50 dp99 dmax dn <<<"$(lat during "$d0" "$d1")"
dwal=$(peak "$work/wal.txt" "$d0" "$d1" 2)
IFS='|' read -r st done ws chunks retries rate <<<"$(bf_info bflive)"
sup=$(q -c "SELECT rows_superseded FROM cdc.backfills WHERE consumer = 'bflive'")
{
	echo "## 2. Live changes during a backfill"
	echo
	echo "pgbench, 4 clients, target $RATE commits/s of one-row updates of another table (\`live\`, 1,000 rows; synchronous_commit = on), a consumer of \`live\` long-polling (\`cdc.consume\`, batch 1000, timeout 1 s); latency = delivery's clock_timestamp() - the row's clock_timestamp() at update."
	echo
	echo "| | commits/s | changes | p50 ms | p99 ms | max ms | writer slot's retained WAL, peak |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	echo "| without a backfill ($((LIVE_SECS - 4)) s) | $(tps "$qn" "$q0" "$q1") | $qn | $qp50 | $qp99 | $qmax | $(mb $((qwal / 1024))) MB |"
	echo "| during the backfill of $ROWS rows, its drain running ($(sub "$d0" "$d1") s) | $(tps "$dn" "$d0" "$d1") | $dn | $dp50 | **$dp99** | $dmax | $(mb $((dwal / 1024))) MB |"
	echo
	echo "Target: p99 under 500 ms during the backfill. The backfill meanwhile: $ad s to drain (vs $am s without the live load), writer $ws s, $chunks chunks, $retries retries, $sup rows superseded."
	echo
} | out

# --- 3. memory: 10 MB rows ------------------------------------------------------
sleep 3; i0=$(now); sleep 3; i1=$(now)
q -c "SELECT cdc.create_consumer('bigc', entities => '{big}', start => 'snapshot')" >/dev/null
m0=$(now)
while [ "$(q -c "SELECT state FROM cdc.backfills WHERE consumer = 'bigc'")" != done ]; do sleep 0.2; done
m1=$(now)
sleep 1
IFS='|' read -r st done ws chunks retries rate <<<"$(bf_info bigc)"
[ "$done" = "$BIG_ROWS" ] || { echo "backfill bigc: $done rows" >&2; exit 1; }
# check the rows (sizes) as a consumer gets them, a few at a time
bigok=$(q -c "SELECT count(*) FILTER (WHERE octet_length(new_data->>'v') = 10485760) FROM cdc.log WHERE entity = 'public.big' AND operation = 'read'")
big_mb=$(q -c "SELECT pg_total_relation_size('big') / 1048576")
{
	echo "## 3. Memory: $BIG_ROWS rows of 10 MB (\`big\`, text stored EXTERNAL, uncompressed, $big_mb MB)"
	echo
	echo "The log writer (pid $wpid), sampled every 0.1 s from /proc: idle (3 s before) vs during the backfill ($ws s, $chunks chunks; $bigok rows of 10 MB in the log)."
	echo
	echo "| writer | idle, median | backfill, peak |"
	echo "|---|---:|---:|"
	echo "| RSS (VmRSS, ps -o rss) | $(mb "$(mid "$work/rss.txt" "$i0" "$i1" 2)") MB | **$(mb "$(peak "$work/rss.txt" "$m0" "$m1" 2)") MB** |"
	echo "| private memory (RssAnon) | $(mb "$(mid "$work/rss.txt" "$i0" "$i1" 3)") MB | **$(mb "$(peak "$work/rss.txt" "$m0" "$m1" 3)") MB** |"
	echo "| shared memory touched (RssShmem: shared buffers read) | $(mb "$(mid "$work/rss.txt" "$i0" "$i1" 4)") MB | $(mb "$(peak "$work/rss.txt" "$m0" "$m1" 4)") MB |"
	echo "| writer slot's retained WAL | $(mb $(($(peak "$work/wal.txt" "$i0" "$i1" 2) / 1024))) MB | $(mb $(($(peak "$work/wal.txt" "$m0" "$m1" 2) / 1024))) MB |"
	echo
	echo "Peak private memory over the whole run (all backfills above): $(mb "$(peak "$work/rss.txt" 0 9999999999 3)") MB."
	echo
} | out

mkdir -p "$(dirname "$report")"
mv "$tmp" "$report"
chmod 644 "$report"
echo "report: $report"
