#!/usr/bin/env bash
# The change log against the targets of bench/README.md, in one run:
#   - ingest of the reference workload vs the plugin's own peek of it
#   - bytes per logged change beside the JSON size
#   - drain with cdc.consume (batch 1000 and 100, a client receiving every
#     row over the socket, a transaction per batch) vs pg_recvlogical
#     streaming the plugin over the same changes
#   - a 200,000-row transaction vs 200,000 one-row transactions (drain rate)
#   - ten consumers of the same changes vs ten plugin decodings
#   - commit-to-delivery latency of a long-polling consumer at 1,000 commits/s
#
# As root on Debian 12, from the repository root:   bash bench/log.sh
# Writes bench/results/log.md.  BENCH_RUNS (default 3) fresh databases for the
# ingest ratio; BENCH_SCALE scales the workloads (default 1).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PGV=${PGV:-15}
RUNS=${BENCH_RUNS:-3}
SCALE=${BENCH_SCALE:-1}
PORT=${BENCH_PORT:-5589}

bash "$here/scripts/deps.sh"
export PATH=/usr/lib/postgresql/$PGV/bin:$PATH
(cd "$here" && flock "/tmp/cdc_ext_install.$(echo "/usr/lib/postgresql/$PGV/bin" | md5sum | cut -c1-8).lock" \
	sh -c 'make -s && make -s install') >/dev/null

work=$(mktemp -d /tmp/cdc_ext_logbench.XXXXXX)
chown postgres: "$work"
as_pg() { runuser -u postgres -- env PATH="$PATH" "$@"; }
stop() { as_pg pg_ctl -D "$work/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap stop EXIT
n() { awk -v s="$SCALE" -v b="$1" 'BEGIN {printf "%d", b * s}'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }

as_pg initdb -D "$work/data" -U postgres --no-sync >/dev/null
{
	bash "$here/scripts/pgconf.sh"
	cat <<CONF
shared_buffers = 512MB
max_wal_size = 8GB
checkpoint_timeout = 30min
fsync = off
synchronous_commit = off
autovacuum = off
CONF
} >> "$work/data/postgresql.conf"
# phase 1 without the writer: ingest is timed as CALL cdc.ingest() (the
# writer's own code, in one transaction), so that nothing else decodes meanwhile
echo "shared_preload_libraries = ''" >> "$work/data/postgresql.conf"
start() { as_pg pg_ctl -D "$work/data" -l "$work/server.log" -o "-p $PORT -k $work" -w start >/dev/null; }
start
psql_() { as_pg env PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$PORT" -U postgres "$@"; }
q() { local db=$1; shift; psql_ -d "$db" -At "$@"; }

report=$here/bench/results/log.md
tmp=$(mktemp)
out() { tee -a "$tmp"; }
{
	echo "# cdc_ext change log benchmark"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
	echo "- server: $(q postgres -c 'SHOW server_version'); fsync = off, synchronous_commit = off (every figure below), shared_buffers 512MB"
	echo "- cdc_ext $(git -C "$here" describe --always --dirty 2>/dev/null || echo '?')"
	echo
} | out

setup_db() {
	local db=$1
	psql_ -d postgres -c "CREATE DATABASE $db"
	q "$db" <<'SQL'
CREATE EXTENSION cdc_ext;
CALL cdc.ingest();
CREATE FUNCTION bench_time(stmt text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN EXECUTE stmt; RETURN extract(epoch FROM clock_timestamp() - t0); END $$;
SQL
}

# --- ingest vs peek, RUNS fresh databases -------------------------------
# Run 0 is on a fresh cluster: every WAL segment the ingest writes into is a
# new file, zero-filled first (wal_init_zero), which a server that has run
# for a while does not do (a checkpoint recycles old segments as future
# ones).  It is reported on its own; runs 1..RUNS start after the previous
# run's database and slots are dropped and a checkpoint recycled its WAL, so
# they write into recycled segments, as a running server does.
ingest_t=(); peek_t=(); segs_t=()
for r in $(seq 0 "$RUNS"); do
	db=ref$r
	setup_db "$db"
	q "$db" < "$here/bench/workloads/reference_setup.sql" >/dev/null
	q "$db" -c "SELECT 'x' FROM pg_create_logical_replication_slot('plug$r', 'cdc_ext')" >/dev/null
	q "$db" -c "SELECT 'x' FROM pg_create_logical_replication_slot('stream_src$r', 'cdc_ext')" >/dev/null
	q "$db" -v n="$(n 200000)" < "$here/bench/workloads/reference.sql"
	p=$(q "$db" -c "SELECT bench_time('SELECT count(*) FROM pg_logical_slot_peek_changes(''plug$r'', NULL, NULL)')")
	new_segs=$(ls "$work/data/pg_wal" | grep -c '^[0-9A-F]\{24\}$' || true)
	t0=$(now); q "$db" -c "CALL cdc.ingest()"; i=$(since "$t0")
	new_segs=$(( $(ls "$work/data/pg_wal" | grep -c '^[0-9A-F]\{24\}$' || true) - new_segs ))
	if [ "$r" -eq 0 ]; then
		peek0=$p; ingest0=$i; segs0=$new_segs
	else
		peek_t+=("$p"); ingest_t+=("$i"); segs_t+=("$new_segs")
	fi
	if [ "$r" -lt "$RUNS" ]; then
		q postgres -c "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots WHERE database = '$db'" >/dev/null
		psql_ -d postgres -c "DROP DATABASE $db" -c "CHECKPOINT" -c "CHECKPOINT"
	fi
done
db=ref$RUNS
rows=$(q "$db" -c "SELECT count(*) FROM cdc.log")
pk=$(printf '%s\n' "${peek_t[@]}" | median); ig=$(printf '%s\n' "${ingest_t[@]}" | median)
log_bytes=$(q "$db" -c "SELECT sum(pg_total_relation_size(('cdc.' || relname)::regclass)) FROM cdc.log_chunk")
heap_bytes=$(q "$db" -c "SELECT sum(pg_relation_size(('cdc.' || relname)::regclass)) FROM cdc.log_chunk")
json_bytes=$(q "$db" -c "SELECT avg(octet_length(data))::int FROM pg_logical_slot_peek_changes('plug$RUNS', NULL, NULL)")
{
	echo "## Ingest (reference workload: $(n 200000) orders, insert all, update half, delete a fifth; REPLICA IDENTITY FULL)"
	echo
	echo "$rows changes logged. Medians of $RUNS fresh databases on a server whose WAL segments are recycled (the previous run's WAL, freed by a checkpoint); runs: ingest ${ingest_t[*]} s, peek ${peek_t[*]} s; WAL segment files created during each ingest: ${segs_t[*]}."
	echo
	echo "| what | median s | ratio | target |"
	echo "|---|---:|---:|---|"
	echo "| plugin peek (pg_logical_slot_peek_changes, cdc_ext) | $pk | 1.00 | |"
	echo "| ingest (CALL cdc.ingest(): decode + multi-insert + commit) | $ig | $(ratio "$ig" "$pk") | within 2x |"
	echo
	echo "First run, on the fresh cluster (every WAL segment the ingest writes is a new file, zero-filled first; $segs0 created): peek $peek0 s, ingest $ingest0 s, ratio $(ratio "$ingest0" "$peek0")."
	echo
	echo "Bytes per logged change: $(awk -v a="$log_bytes" -v n="$rows" 'BEGIN {printf "%.0f", a / n}') on disk with the primary key index ($(awk -v a="$heap_bytes" -v n="$rows" 'BEGIN {printf "%.0f", a / n}') heap only, TOAST and index included in the first), beside $json_bytes bytes of the plugin's JSON per change."
	echo
} | out

# --- drain: batch 1000 and 100 vs pg_recvlogical ---------------------------
drain() {
	# $1 db, $2 consumer, $3 batch, $4 rows expected: a client that fetches every
	# row over the socket, one transaction per batch
	local db=$1 c=$2 b=$3 total=$4 k t0
	k=$(( total / b + 2 ))
	t0=$(now)
	awk -v k="$k" -v s="BEGIN; SELECT * FROM cdc.consume('$c', $b); COMMIT;" 'BEGIN {for (i = 0; i < k; i++) print s}' |
		as_pg psql -X -q -A -t -h "$work" -p "$PORT" -U postgres -d "$db" -o /dev/null
	since "$t0"
}
end_lsn=$(q "$db" -c "SELECT pg_current_wal_lsn()")
q "$db" -c "SELECT 'x' FROM pg_copy_logical_replication_slot('stream_src$RUNS', 'stream_run')" >/dev/null
t0=$(now)
as_pg pg_recvlogical -h "$work" -p "$PORT" -U postgres -d "$db" --slot stream_run --start --endpos="$end_lsn" -f /dev/null
rl=$(since "$t0")
q "$db" -c "SELECT cdc.create_consumer('d1000', start => 'beginning'), cdc.create_consumer('d100', start => 'beginning')" >/dev/null
d1000=$(drain "$db" d1000 1000 "$rows")
d100=$(drain "$db" d100 100 "$rows")
left=$(q "$db" -c "SELECT count(*) FROM cdc.stream('d1000', batch_size => 10)")
{
	echo "## Drain vs pg_recvlogical ($rows changes)"
	echo
	echo "| reader | s | changes/s | vs pg_recvlogical (rate) | target |"
	echo "|---|---:|---:|---:|---|"
	echo "| pg_recvlogical --start --endpos, fresh slot copy, -f /dev/null | $rl | $(awk -v a="$rows" -v t="$rl" 'BEGIN {printf "%.0f", a / t}') | 1.00 | |"
	echo "| cdc.consume batch 1000, a transaction per batch, psql client | $d1000 | $(awk -v a="$rows" -v t="$d1000" 'BEGIN {printf "%.0f", a / t}') | $(ratio "$rl" "$d1000") | at least 1.0 |"
	echo "| cdc.consume batch 100 | $d100 | $(awk -v a="$rows" -v t="$d100" 'BEGIN {printf "%.0f", a / t}') | $(ratio "$rl" "$d100") | at least 0.5 |"
	echo
	echo "(After the batch-1000 drain, $left changes were left to read.)"
	echo
} | out

# --- transaction size: one 200,000-row transaction vs 200,000 one-row ones -----
big_n=$(n 200000)
q "$db" -c "CREATE TABLE one_big (id bigint PRIMARY KEY, v text); CREATE TABLE many_small (id bigint PRIMARY KEY, v text)"
q "$db" -c "SELECT cdc.create_consumer('big', entities => '{one_big}'), cdc.create_consumer('small', entities => '{many_small}')" >/dev/null
q "$db" -c "INSERT INTO one_big SELECT g, 'value ' || g FROM generate_series(1, $big_n) g"
q "$db" -c "DO \$\$ BEGIN FOR i IN 1..$big_n LOOP INSERT INTO many_small VALUES (i, 'value ' || i); COMMIT; END LOOP; END \$\$"
t0=$(now); q "$db" -c "CALL cdc.ingest()"; ing2=$(since "$t0")
dbig=$(drain "$db" big 1000 "$big_n")
dsmall=$(drain "$db" small 1000 "$big_n")
{
	echo "## Transaction size ($big_n rows in one transaction vs $big_n one-row transactions; batch 1000)"
	echo
	echo "| consumer | drain s | changes/s |"
	echo "|---|---:|---:|"
	echo "| one transaction | $dbig | $(awk -v a="$big_n" -v t="$dbig" 'BEGIN {printf "%.0f", a / t}') |"
	echo "| one-row transactions | $dsmall | $(awk -v a="$big_n" -v t="$dsmall" 'BEGIN {printf "%.0f", a / t}') |"
	echo
	echo "Ratio of drain times (one transaction / one-row): $(ratio "$dbig" "$dsmall") (target: about 1). Ingest of both: $ing2 s."
	echo
} | out

# --- ten consumers ---------------------------------------------------------
for i in $(seq 1 10); do q "$db" -c "SELECT cdc.create_consumer('ten$i', entities => '{bench_orders}', start => 'beginning')" >/dev/null; done
t0=$(now)
for i in $(seq 1 10); do drain "$db" "ten$i" 1000 "$rows" >/dev/null; done
ten=$(since "$t0")
t0=$(now)
for i in $(seq 1 10); do q "$db" -c "SELECT count(*) FROM pg_logical_slot_peek_changes('plug$RUNS', NULL, NULL)" >/dev/null; done
tenpeek=$(since "$t0")
{
	echo "## Ten consumers of the reference changes"
	echo
	echo "- ingest once (median above): $ig s; then ten consumers drain: $ten s in all; total $(awk -v a="$ig" -v b="$ten" 'BEGIN {printf "%.2f", a + b}') s."
	echo "- ten plugin decodings of the same WAL (ten peeks): $tenpeek s."
	echo "- the slot is decoded once whatever the number of consumers; WAL held: only the writer's slot."
	echo
} | out

# --- long-poll latency at 1,000 commits/s (with the writer) -----------------
as_pg pg_ctl -D "$work/data" -m fast stop >/dev/null
sed -i "/^shared_preload_libraries = ''$/d" "$work/data/postgresql.conf"
start
psql_ -d postgres -c "CREATE DATABASE lat"
q lat -c "CREATE EXTENSION cdc_ext" -c "SELECT cdc.wait_for_log() IS NOT NULL" >/dev/null
q lat <<'SQL' >/dev/null
CREATE TABLE lat (id bigserial PRIMARY KEY, t timestamptz NOT NULL);
CREATE UNLOGGED TABLE lat_seen (latency interval);
SELECT cdc.create_consumer('lat', entities => '{lat}');
CREATE PROCEDURE poll(seconds int) LANGUAGE plpgsql AS $$
DECLARE stop_at timestamptz := clock_timestamp() + make_interval(secs => seconds);
BEGIN
	WHILE clock_timestamp() < stop_at LOOP
		INSERT INTO lat_seen SELECT clock_timestamp() - (new_data->>'t')::timestamptz
			FROM cdc.consume('lat', 1000, '1 s');
		COMMIT;
	END LOOP;
END $$;
SQL
secs=15
echo "INSERT INTO lat (t) VALUES (clock_timestamp());" > "$work/lat.sql"
chown postgres: "$work/lat.sql"
( q lat -c "CALL poll($((secs + 3)))" ) &
poller=$!
sleep 1
# the committers use the default synchronous_commit = on: with it off, a
# commit reaches the WAL decoders only at the WAL writer's next flush (up to
# wal_writer_delay, 200 ms, later), whatever the reader does
as_pg env PGOPTIONS="-c synchronous_commit=on" \
	pgbench -n -h "$work" -p "$PORT" -U postgres -c 4 -j 2 -R 1000 -T "$secs" -f "$work/lat.sql" lat > "$work/pgbench.out" 2>&1
wait "$poller"
lat=$(q lat -c "SELECT count(*) || '|' ||
	round(1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY latency)))::text || '|' ||
	round(1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP (ORDER BY latency)))::text || '|' ||
	round(1000 * extract(epoch FROM max(latency)))::text FROM lat_seen")
IFS='|' read -r lat_n p50 p99 pmax <<<"$lat"
tps=$(grep -oE 'tps = [0-9.]+' "$work/pgbench.out" | head -1 | awk '{print $3}')
{
	echo "## Commit-to-delivery latency (long poll, batch_timeout 1 s, $secs s at a target of 1,000 commits/s; committers with synchronous_commit = on, fsync off)"
	echo
	echo "pgbench achieved ${tps:-?} commits/s; $lat_n changes delivered; latency from the row's clock_timestamp() at insert to its delivery: p50 $p50 ms, p99 $p99 ms, max $pmax ms (target: p99 under 200 ms)."
	echo
} | out

mkdir -p "$(dirname "$report")"
mv "$tmp" "$report"
chmod 644 "$report"
echo "report: $report"
