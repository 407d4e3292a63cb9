#!/usr/bin/env bash
# Consumer groups benchmark (run by hand, as root or as the postgres user):
#   bash bench/groups/run.sh [changes=200000] [work_us=200] [batch=100]
# On a throwaway cluster: logs `changes` changes (10 per transaction, 10,000
# rows, so that per-row ordering rarely holds anything back), then drains
# them with 1, 2 and 4 members of a fresh group each time, every member
# "working" work_us per change (pg_sleep: the member waits on something
# else, as a sink write would), and once with no work.  The baseline is one
# plain consumer draining the same changes in batches of the same size:
# cdc.consume() when the API provides it, else (said in the output) a
# keyset read of cdc.log with a checkpoint row update, which is what
# cdc.consume does at least.  Prints a markdown report; keeps it in
# bench/groups/results.md.
#
# The changes are logged by the log writer before any drain starts (the
# figures are about leasing and acknowledging, not ingest; some of the
# writes of 10 rows hit a row twice, so there are slightly fewer changes
# than asked for).  Lock waits: pg_stat_activity is
# sampled every 20 ms during each drain; "lock-wait samples" is the share of
# member samples that were waiting on a lock.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
CHANGES=${1:-200000}
WORK_US=${2:-200}
BATCH=${3:-100}
PGBIN=${PGBIN:-$(pg_config --bindir)}
export PATH=$PGBIN:$PATH
dir=$(mktemp -d /tmp/cdc_groups_bench.XXXXXX)
port=$((20000 + RANDOM % 20000))
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- env PATH="$PATH" "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
as_pg initdb -D "$dir/data" -A trust >/dev/null
{ bash "$here/scripts/pgconf.sh"; echo "port = $port"; echo "unix_socket_directories = '$dir'";
  echo "shared_buffers = 256MB"; echo "max_wal_size = 4GB"; echo "synchronous_commit = off"; } >> "$dir/data/postgresql.conf"
as_pg pg_ctl -D "$dir/data" -l "$dir/log" -w start >/dev/null
trap 'as_pg pg_ctl -D "$dir/data" -m immediate stop >/dev/null 2>&1; rm -rf "$dir"' EXIT
P() { psql -X -q -At -h "$dir" -p "$port" -U postgres -d postgres "$@"; }

P <<SQL
CREATE EXTENSION cdc_ext;
SELECT cdc.wait_for_log() IS NOT NULL;
CREATE TABLE public.bench_t (id int PRIMARY KEY, v int);
INSERT INTO bench_t SELECT g, 0 FROM generate_series(1, 10000) g;
-- transactions of 10 updates of rows spread over 10,000
CREATE PROCEDURE bench_write(n int) LANGUAGE plpgsql AS \$\$
BEGIN
	FOR i IN 1..n LOOP
		UPDATE bench_t SET v = v + 1 WHERE id IN
			(SELECT 1 + (hashint4(i * 10 + g) & 16383) % 10000 FROM generate_series(1, 10) g);
		COMMIT;
	END LOOP;
END \$\$;
CALL bench_write($CHANGES / 10);
SELECT cdc.wait_for_log() IS NOT NULL;
SQL
P <<SQL
CREATE TABLE bench_stats (run text, member text, rows bigint, batches bigint,
	read_s float8, ack_s float8, last_ack timestamptz);

-- a member: lease a batch (own transaction), work, ack (own transaction)
CREATE PROCEDURE bench_member(run text, g text, m text, batch int, work float8)
LANGUAGE plpgsql AS \$\$
DECLARE
	lsns pg_lsn[]; seqs int[]; n int; empty int := 0;
	t0 timestamptz; rows bigint := 0; batches bigint := 0;
	rs float8 := 0; acks float8 := 0; last timestamptz;
BEGIN
	LOOP
		t0 := clock_timestamp();
		SELECT array_agg(commit_lsn), array_agg(seq), count(*) INTO lsns, seqs, n
		FROM cdc.read_group(g, m, batch);
		COMMIT;
		rs := rs + extract(epoch FROM clock_timestamp() - t0);
		IF n = 0 THEN
			empty := empty + 1;
			EXIT WHEN empty >= 20;
			PERFORM pg_sleep(0.01);
			CONTINUE;
		END IF;
		empty := 0;
		IF work > 0 THEN PERFORM pg_sleep(n * work); END IF;
		t0 := clock_timestamp();
		PERFORM cdc.ack(g, lsns, seqs);
		COMMIT;
		last := clock_timestamp();
		acks := acks + extract(epoch FROM last - t0);
		rows := rows + n; batches := batches + 1;
	END LOOP;
	INSERT INTO bench_stats VALUES (run, m, rows, batches, rs, acks, last);
	COMMIT;
END \$\$;

-- the baseline without cdc.consume: keyset read of the log after a
-- checkpoint row, checkpoint moved in the same transaction
CREATE TABLE bench_cp (id int PRIMARY KEY, lsn pg_lsn, seq int);
CREATE PROCEDURE bench_plain(run text, batch int, work float8, use_consume boolean)
LANGUAGE plpgsql AS \$\$
DECLARE
	n int; t0 timestamptz; rows bigint := 0; batches bigint := 0; rs float8 := 0;
	last timestamptz; l pg_lsn; s int;
BEGIN
	INSERT INTO bench_cp VALUES (1, '0/0', 0) ON CONFLICT (id) DO UPDATE SET lsn = '0/0', seq = 0;
	COMMIT;
	LOOP
		t0 := clock_timestamp();
		IF use_consume THEN
			SELECT count(*) INTO n FROM cdc.consume('bench', batch);
		ELSE
			-- one keyset scan: the batch (every column), the checkpoint moved to its last row
			WITH b AS MATERIALIZED (
				SELECT c.* FROM cdc.log c, bench_cp p
				WHERE p.id = 1 AND (c.commit_lsn, c.seq) > (p.lsn, p.seq) AND c.entity = 'public.bench_t'
				ORDER BY c.commit_lsn, c.seq LIMIT batch),
			e AS (SELECT commit_lsn, seq FROM b ORDER BY commit_lsn DESC, seq DESC LIMIT 1),
			u AS (UPDATE bench_cp SET lsn = e.commit_lsn, seq = e.seq FROM e WHERE id = 1)
			SELECT count(*) INTO n FROM b;
		END IF;
		COMMIT;
		rs := rs + extract(epoch FROM clock_timestamp() - t0);
		EXIT WHEN n = 0;
		IF work > 0 THEN PERFORM pg_sleep(n * work); END IF;
		rows := rows + n; batches := batches + 1; last := clock_timestamp();
	END LOOP;
	INSERT INTO bench_stats VALUES (run, 'plain', rows, batches, rs, 0, last);
	COMMIT;
END \$\$;
SQL

use_consume=false
if P -c "SELECT cdc.create_consumer('bench', entities => '{bench_t}', start => 'beginning')" >/dev/null 2>&1 &&
   P -c "SELECT count(*) FROM cdc.consume('bench', 1)" >/dev/null 2>&1; then
	use_consume=true
fi

work=$(awk "BEGIN { printf \"%.7f\", $WORK_US / 1000000 }")
declare -A started
# run <name> <members> <work seconds>
run() {
	local name=$1 n=$2 w=$3 pids=() samples=0 waiting=0 line
	P -c "SELECT cdc.create_group('$name', entities => '{bench_t}', start => 'beginning')" >/dev/null
	started[$name]=$(P -c "SELECT clock_timestamp()")
	for i in $(seq 1 "$n"); do
		PGAPPNAME="bench_$name" P -c "CALL bench_member('$name', '$name', 'm$i', $BATCH, $w)" &
		pids+=($!)
	done
	while kill -0 "${pids[@]}" 2>/dev/null; do
		line=$(P -c "SELECT count(*), count(*) FILTER (WHERE wait_event_type = 'Lock')
			FROM pg_stat_activity WHERE application_name = 'bench_$name' AND state = 'active'") || true
		samples=$((samples + ${line%|*})); waiting=$((waiting + ${line#*|}))
		sleep 0.02
	done
	wait "${pids[@]}"
	P -c "INSERT INTO bench_stats VALUES ('$name', 'lockwait', $samples, $waiting, 0, 0, NULL)"
	P -c "SELECT cdc.drop_group('$name')" >/dev/null
	P -c "VACUUM cdc.group_entry, cdc.group_state, cdc.group_member" >/dev/null
}
run_plain() {
	local name=$1 w=$2
	started[$name]=$(P -c "SELECT clock_timestamp()")
	if $use_consume; then
		P -c "SELECT cdc.drop_consumer('bench')" >/dev/null
		P -c "SELECT cdc.create_consumer('bench', entities => '{bench_t}', start => 'beginning')" >/dev/null
	fi
	P -c "CALL bench_plain('$name', $BATCH, $w, $use_consume)"
}

run_plain plain_nowork 0
run m1_nowork 1 0
run_plain plain_work "$work"
run m1 1 "$work"
run m2 2 "$work"
run m4 4 "$work"

for k in "${!started[@]}"; do P -c "INSERT INTO bench_stats VALUES ('$k', 'start', 0, 0, 0, 0, '${started[$k]}')"; done

report=$(P -F ' | ' <<SQL
WITH s AS (SELECT run, last_ack AS t0 FROM bench_stats WHERE member = 'start'),
r AS (SELECT run, sum(rows) AS rows, sum(batches) AS batches, sum(read_s) AS read_s,
			 sum(ack_s) AS ack_s, max(last_ack) AS t1
	  FROM bench_stats WHERE member NOT IN ('start', 'lockwait') GROUP BY run),
lw AS (SELECT run, rows AS samples, batches AS waiting FROM bench_stats WHERE member = 'lockwait'),
x AS (SELECT r.run, r.rows, extract(epoch FROM r.t1 - s.t0) AS secs,
			 1000 * (r.read_s + r.ack_s) / r.batches AS ms_batch,
			 1000 * r.read_s / r.batches AS ms_read, 1000 * r.ack_s / r.batches AS ms_ack,
			 lw.samples, lw.waiting
	  FROM r JOIN s USING (run) LEFT JOIN lw USING (run))
SELECT run, rows, round(secs::numeric, 2), round((rows / secs)::numeric),
	   round(ms_batch::numeric, 2), round(ms_read::numeric, 2), round(ms_ack::numeric, 2),
	   coalesce(waiting || '/' || samples, '-')
FROM x ORDER BY CASE run WHEN 'plain_nowork' THEN 0 WHEN 'm1_nowork' THEN 1 WHEN 'plain_work' THEN 2
	WHEN 'm1' THEN 3 WHEN 'm2' THEN 4 ELSE 5 END;
SQL
)
ratios=$(P <<SQL
WITH s AS (SELECT run, last_ack AS t0 FROM bench_stats WHERE member = 'start'),
r AS (SELECT run, sum(rows) / extract(epoch FROM max(last_ack) - (SELECT t0 FROM s WHERE s.run = b.run)) AS rate,
			 1000 * (sum(read_s) + sum(ack_s)) / sum(batches) AS ms_batch
	  FROM bench_stats b WHERE member NOT IN ('start', 'lockwait') GROUP BY run)
SELECT 'm2 / m1 drain rate: ' || round(((SELECT rate FROM r WHERE run = 'm2') / (SELECT rate FROM r WHERE run = 'm1'))::numeric, 2) || 'x (target >= 1.6x)',
	   'm4 / m1 drain rate: ' || round(((SELECT rate FROM r WHERE run = 'm4') / (SELECT rate FROM r WHERE run = 'm1'))::numeric, 2) || 'x',
	   'lease + ack per batch / plain batch (no work): ' || round(((SELECT ms_batch FROM r WHERE run = 'm1_nowork') / (SELECT ms_batch FROM r WHERE run = 'plain_nowork'))::numeric, 2) || 'x (target <= 1.5x)';
SQL
)
{
	echo "# Consumer groups benchmark"
	echo
	echo "$(date -u +%F) · PostgreSQL $(P -c 'SHOW server_version') · $(nproc) CPUs · $(P -c "SELECT count(*) FROM cdc.log WHERE entity = 'public.bench_t'") changes (transactions of 10 updates, 10,000 rows) · batch $BATCH · work $WORK_US us per change (pg_sleep) · baseline: $($use_consume && echo 'cdc.consume()' || echo 'keyset read of cdc.log + checkpoint row update (cdc.consume not available in this build)')"
	echo
	echo "| run | changes | seconds | changes/s | ms per batch (lease+ack) | ms read_group | ms ack | lock-wait samples |"
	echo "|---|---|---|---|---|---|---|---|"
	while IFS= read -r l; do echo "| $l |"; done <<<"$report"
	echo
	tr '|' '\n' <<<"$ratios" | sed 's/^/- /'
} | tee "$here/bench/groups/results.md"
