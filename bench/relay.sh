#!/usr/bin/env bash
# cdc_relay against the targets of issue 20 (docs/relay.md), in one run:
#   - throughput: the relay draining a backlog into an R3 stream of a 3-node
#     JetStream cluster on loopback, beside cdc.consume draining the same
#     changes (a client receiving every row, one transaction per batch of
#     1000): target at least 0.8x
#   - the ceiling: bench/relay_pub.c publishing as many messages of the
#     same size, with the same headers and window, into an R3 stream of the
#     same cluster, with no PostgreSQL in the way (what NATS takes at best
#     on this machine)
#   - commit-to-ack latency at 1,000 commits/s (pgbench -R 1000, one row per
#     commit, synchronous_commit on): from the commit time to JetStream's
#     acknowledgment, as the relay measures it: target p99 under 250 ms
# The end of the relay's drain is seen in cdc.consumer_state (its
# checkpoint reaching the drain's), one row read: cdc.consumers would count
# the relay's lag at every look, a core of PostgreSQL busy beside the relay.
#
# As root, from the repository root, after make && make install for the
# server in PGBIN (default Debian's):   bash bench/relay.sh
# Writes bench/results/relay.md.  BENCH_ROWS (default 200000) changes in
# transactions of 100 rows.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PGV=${PGV:-15}
PGBIN=${PGBIN:-/usr/lib/postgresql/$PGV/bin}
ROWS=${BENCH_ROWS:-200000}
PORT=${BENCH_PORT:-5591}
NPORT=${BENCH_NATS_PORT:-24222}
export PATH=$PGBIN:$PATH
relay=$here/relay/cdc_relay
[ -x "$relay" ] || { echo "build cdc_relay first (make)"; exit 1; }
command -v nats-server >/dev/null || { echo "nats-server missing (scripts/deps.sh)"; exit 1; }

work=$(mktemp -d /tmp/cdc_ext_relaybench.XXXXXX)
chown postgres: "$work"
as_pg() { runuser -u postgres -- env PATH="$PATH" "$@"; }
npids=()
stop() {
	for p in "${npids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${npids[@]}"; do	# gone before the next run takes the ports
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	as_pg pg_ctl -D "$work/data" -m fast stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap stop EXIT
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# PostgreSQL, as bench/log.sh sets it up
as_pg initdb -D "$work/data" -U postgres --no-sync >/dev/null
{
	bash "$here/scripts/pgconf.sh"
	cat <<CONF
shared_buffers = 512MB
max_wal_size = 8GB
fsync = off
synchronous_commit = off
autovacuum = off
CONF
} >> "$work/data/postgresql.conf"
as_pg pg_ctl -D "$work/data" -l "$work/server.log" -o "-p $PORT -k $work" -w start >/dev/null
q() { as_pg psql -X -q -At -v ON_ERROR_STOP=1 -h "$work" -p "$PORT" -U postgres -d postgres "$@"; }
q -c "CREATE EXTENSION cdc_ext" -c "SELECT cdc.wait_for_log() IS NOT NULL" >/dev/null

# the NATS cluster: three nodes, each its own ports, server_name, store_dir
urls=""
for i in 0 1 2; do
	d=$work/n$i; mkdir -p "$d/store"
	cat > "$d/nats.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:$((NPORT + i))
jetstream { store_dir: "$d/store" }
cluster {
  name: bench
  listen: 127.0.0.1:$((NPORT + 100 + i))
  routes: [ nats-route://127.0.0.1:$((NPORT + 100)), nats-route://127.0.0.1:$((NPORT + 101)), nats-route://127.0.0.1:$((NPORT + 102)) ]
}
CONF
	nats-server -c "$d/nats.conf" > "$d/log" 2>&1 &
	npids+=($!)
	urls=${urls:+$urls,}nats://127.0.0.1:$((NPORT + i))
done
sleep 1
for i in 0 1 2; do	# a port taken: the node exits at once
	kill -0 "${npids[$i]}" 2>/dev/null || { echo "nats-server n$i did not start:"; tail -3 "$work/n$i/log"; exit 1; }
done
conn="host=$work port=$PORT dbname=postgres user=postgres"
relay_run() {	# consumer, stream, extra options...: starts a relay, its pid in $pid
	local c=$1 s=$2; shift 2
	"$relay" -d "$conn" --consumer "$c" --servers "$urls" --stream "$s" --replicas 3 "$@" 2>> "$work/relay.log" &
	pid=$!
}
wait_lag0() {	# consumer: until its lag is 0 (at most 10 minutes)
	local i=0
	until [ "$(q -c "SELECT lag_changes FROM cdc.consumers WHERE name = '$1'")" = 0 ]; do
		sleep 0.05; i=$((i + 1))
		[ "$i" -lt 12000 ] || { echo "consumer $1 did not catch up"; tail -20 "$work/relay.log"; exit 1; }
	done
}
caught_up() {	# consumer: until its checkpoint reaches the drain's (at most 10 minutes)
	local i=0
	until [ "$(q -c "SELECT (r.checkpoint_lsn, r.checkpoint_seq) >= (d.checkpoint_lsn, d.checkpoint_seq)
		FROM cdc.consumer_state r, cdc.consumer_state d WHERE r.name = '$1' AND d.name = 'drain'")" = t ]; do
		sleep 0.05; i=$((i + 1))
		[ "$i" -lt 12000 ] || { echo "consumer $1 did not catch up"; tail -20 "$work/relay.log"; exit 1; }
	done
}
cc -std=gnu99 -O2 -o "$work/relay_pub" "$here/bench/relay_pub.c" $(pkg-config --cflags --libs libnats)
# warm the cluster up: a stream made and one change published
q -c "CREATE TABLE warm (id int)" -c "SELECT cdc.create_consumer('warm')" >/dev/null
relay_run warm WARM --subject 'warm.<table>'
q -c "INSERT INTO warm VALUES (1)" >/dev/null
q -c "SELECT cdc.wait_for_log() IS NOT NULL" >/dev/null
wait_lag0 warm
kill -TERM "$pid"; wait "$pid" || true

# --- throughput ------------------------------------------------------------
q -c "CREATE TABLE t (id bigserial PRIMARY KEY, a int, b text, c timestamptz DEFAULT now())" \
  -c "SELECT cdc.create_consumer('drain', entities => '{public.t}'), cdc.create_consumer('relay', entities => '{public.t}')" >/dev/null
txns=$((ROWS / 100))
q -c "DO \$\$ BEGIN FOR i IN 1..$txns LOOP
	INSERT INTO t (a, b) SELECT g, md5(g::text) FROM generate_series(1, 100) g; COMMIT; END LOOP; END \$\$" >/dev/null
q -c "SELECT cdc.wait_for_log(timeout => '600 s') IS NOT NULL" >/dev/null
k=$((ROWS / 1000 + 2))
load0=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(now)
awk -v k="$k" -v s="BEGIN; SELECT * FROM cdc.consume('drain', 1000); COMMIT;" 'BEGIN {for (i = 0; i < k; i++) print s}' |
	as_pg psql -X -q -A -t -h "$work" -p "$PORT" -U postgres -d postgres -o /dev/null
consume_s=$(since "$t0")
t0=$(now)
ticks() { awk '{s += $14 + $15} END {print s}' "$@"; }	# CPU ticks of /proc/PID/stat files
nstat=(); for p in "${npids[@]}"; do nstat+=("/proc/$p/stat"); done
n0=$(ticks "${nstat[@]}")
relay_run relay BENCH --stats-interval 86400
caught_up relay
relay_s=$(since "$t0")
relay_ticks=$(ticks "/proc/$pid/stat")
nats_ticks=$(( $(ticks "${nstat[@]}") - n0 ))
kill -TERM "$pid"; wait "$pid" || true
wait_lag0 relay
hz=$(getconf CLK_TCK)
msgs=$(sed -nE 's/.*stopping: ([0-9]+) changes published.*/\1/p' "$work/relay.log" | tail -1)
split=$(grep 'stats: time reading' "$work/relay.log" | tail -1 || true)
# the ceiling: as many messages of a change's size (about 280 bytes of
# JSON here), no PostgreSQL
n0=$(ticks "${nstat[@]}")
read -r pub_s pub_acked _ < <("$work/relay_pub" "${urls%%,*}" CEILING "$ROWS" 3 280 10000 2>&1) || true
[ "$pub_acked" = "$ROWS" ] || { echo "relay_pub failed: $pub_s $pub_acked"; pub_s=nan; }
pub_ticks=$(( $(ticks "${nstat[@]}") - n0 ))

# --- latency at 1,000 commits/s --------------------------------------------
q -c "CREATE TABLE lat (id bigserial PRIMARY KEY, t timestamptz NOT NULL)" \
  -c "SELECT cdc.create_consumer('lat', entities => '{public.lat}')" >/dev/null
: > "$work/lat.log"
"$relay" -d "$conn" --consumer lat --servers "$urls" --stream LAT --replicas 3 --subject 'lat.<table>' \
	--stats-interval 0 2> "$work/lat.log" &
pid=$!
sleep 3
echo "INSERT INTO lat (t) VALUES (clock_timestamp());" > "$work/lat.sql"
chown postgres: "$work/lat.sql"
secs=15
as_pg env PGOPTIONS="-c synchronous_commit=on" \
	pgbench -n -h "$work" -p "$PORT" -U postgres -c 4 -j 2 -R 1000 -T "$secs" -f "$work/lat.sql" postgres > "$work/pgbench.out" 2>&1
q -c "SELECT cdc.wait_for_log() IS NOT NULL" >/dev/null
wait_lag0 lat
kill -TERM "$pid"; wait "$pid" || true
tps=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' "$work/pgbench.out" | head -1)
latline=$(grep 'since start' "$work/lat.log" | tail -1)

report=$here/bench/results/relay.md
{
	echo "# cdc_relay (bench/relay.sh, $(date -u +%Y-%m-%d), PostgreSQL $(pg_config --version | awk '{print $2}'), $(nats-server --version), $(nproc) cores)"
	echo
	echo "## Throughput: $ROWS changes (transactions of 100 rows) already in the log"
	echo
	echo "| reader | s | changes/s |"
	echo "|---|---|---|"
	echo "| cdc.consume, batch 1000, one transaction per batch (psql) | $consume_s | $(awk -v n="$ROWS" -v s="$consume_s" 'BEGIN {printf "%.0f", n / s}') |"
	echo "| cdc_relay into an R3 file stream on a 3-node cluster (start to lag 0) | $relay_s | $(awk -v n="$ROWS" -v s="$relay_s" 'BEGIN {printf "%.0f", n / s}') |"
	echo "| NATS alone: relay_pub, as many 280-byte messages with the relay's headers and window, into an R3 file stream | $pub_s | $(awk -v n="$ROWS" -v s="$pub_s" 'BEGIN {printf "%.0f", n / s}') |"
	echo
	echo "Relay / cdc.consume throughput: **$(ratio "$consume_s" "$relay_s")x** (target: at least 0.8x). Relay / NATS alone: $(ratio "$pub_s" "$relay_s")x. Changes published: $msgs (relay_pub: $pub_acked acknowledged)."
	echo
	echo "CPU per change: the relay $(awk -v t="$relay_ticks" -v h="$hz" -v n="$ROWS" 'BEGIN {printf "%.1f", t / h / n * 1e6}') µs (its whole run, startup included), the three nats-servers $(awk -v t="$nats_ticks" -v h="$hz" -v n="$ROWS" 'BEGIN {printf "%.1f", t / h / n * 1e6}') µs together (with relay_pub: $(awk -v t="$pub_ticks" -v h="$hz" -v n="$ROWS" 'BEGIN {printf "%.1f", t / h / n * 1e6}') µs); load average before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo
	echo "The relay's time: ${split#*stats: time }."
	echo
	echo "## Commit-to-ack latency at 1,000 commits/s ($secs s, pgbench achieved ${tps:-?} commits/s)"
	echo
	echo "${latline#*LOG:  } (target: p99 under 250 ms)"
} > "$report"
cat "$report"
