#!/usr/bin/env bash
# cdc_ext beside the incumbent output plugins, over the same WAL, in one run.
#
# As root on Debian 12, from the repository root:   bash bench/run.sh
#
# Installs what it needs (PostgreSQL 15, wal2json, decoderbufs, a compiler),
# builds and installs cdc_ext, starts a throwaway cluster as the "postgres"
# OS user, and for each workload: creates one slot per plugin, generates the
# workload once, then times a full pg_logical_slot_peek_*changes() of every
# slot (peek never consumes, so every run reads the same WAL), BENCH_RUNS
# times each, interleaved.  Prints medians and ratios; writes the report to
# bench/results/latest.md.
#
#   BENCH_RUNS   runs per plugin and workload (default 5; 3 for the 2M-row one)
#   BENCH_SCALE  workload size factor (default 1 = the reference 200,000 orders)
#   BENCH_ONLY   space-separated workloads to run (default: all)
#   KEEP=1       leave the cluster running afterwards
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PGV=${PGV:-$(bash "$here/scripts/pgmajor.sh")}
RUNS=${BENCH_RUNS:-5}
SCALE=${BENCH_SCALE:-1}
ONLY=${BENCH_ONLY:-reference small_txns wide_toast filter_1_of_10 big_txn}
PORT=${BENCH_PORT:-5588}

bash "$here/scripts/deps.sh" "postgresql-$PGV-wal2json" "postgresql-$PGV-decoderbufs"
export PATH=/usr/lib/postgresql/$PGV/bin:$PATH
(cd "$here" && flock "/tmp/cdc_ext_install.$(echo "/usr/lib/postgresql/$PGV/bin" | md5sum | cut -c1-8).lock" \
	sh -c 'make -s && make -s install') >/dev/null

work=$(mktemp -d /tmp/cdc_ext_bench.XXXXXX)
chown postgres: "$work"
as_pg() { runuser -u postgres -- env PATH="$PATH" "$@"; }
stop() {
	if [ -z "${KEEP:-}" ]; then
		as_pg pg_ctl -D "$work/data" -m fast stop >/dev/null 2>&1 || true
		rm -rf "$work"
	else
		echo "cluster left running: psql -h $work -p $PORT -U postgres bench"
	fi
}
trap stop EXIT

as_pg initdb -D "$work/data" -U postgres --no-sync >/dev/null
{
	bash "$here/scripts/pgconf.sh"
	cat <<CONF
shared_buffers = 512MB
max_wal_size = 8GB
checkpoint_timeout = 30min
fsync = off                      # generating the workload only; decoding reads WAL the same
synchronous_commit = off
autovacuum = off
work_mem = 1GB                   # each read's result rows stay in memory: no temp-file noise
# no log writer: it would decode the same WAL while the plugins are timed
# (the change log has its own benchmark, bench/log.sh)
shared_preload_libraries = ''
CONF
} >> "$work/data/postgresql.conf"
as_pg pg_ctl -D "$work/data" -l "$work/server.log" -o "-p $PORT -k $work" -w start >/dev/null
psql_() { as_pg env PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$PORT" -U postgres "$@"; }
psql_ -d postgres -c "CREATE DATABASE bench"
q() { psql_ -d bench -At "$@"; }

# Helpers in the bench database: time a statement inside the server; read the
# backend's memory from /proc.
q <<'SQL'
CREATE EXTENSION cdc_ext;
CREATE FUNCTION bench_time(stmt text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
	EXECUTE stmt;
	RETURN extract(epoch FROM clock_timestamp() - t0);
END $$;
CREATE FUNCTION bench_kb(field text) RETURNS bigint LANGUAGE sql AS $$
	SELECT substring(pg_read_file('/proc/self/status') FROM field || ':\s*(\d+)')::bigint $$;
SQL

# The plugins: name | slot plugin | how to read the whole slot.
# %s is the slot name; F_ENTITY the filter table of the 1-of-10 workload.
plugins() {
	cat <<'LIST'
cdc_ext|cdc_ext|SELECT count(*) FROM pg_logical_slot_peek_changes('%s', NULL, NULL)
pgoutput|pgoutput|SELECT count(*) FROM pg_logical_slot_peek_binary_changes('%s', NULL, NULL, 'proto_version', '1', 'publication_names', 'bench_all')
pgoutput (empty publication: floor)|pgoutput|SELECT count(*) FROM pg_logical_slot_peek_binary_changes('%s', NULL, NULL, 'proto_version', '1', 'publication_names', 'bench_none')
test_decoding|test_decoding|SELECT count(*) FROM pg_logical_slot_peek_changes('%s', NULL, NULL, 'include-xids', '0', 'skip-empty-xacts', '1')
wal2json fv1|wal2json|SELECT count(*) FROM pg_logical_slot_peek_changes('%s', NULL, NULL, 'format-version', '1')
wal2json fv2|wal2json|SELECT count(*) FROM pg_logical_slot_peek_changes('%s', NULL, NULL, 'format-version', '2')
decoderbufs|decoderbufs|SELECT count(*) FROM pg_logical_slot_peek_binary_changes('%s', NULL, NULL)
LIST
}
# The same readers narrowed to one table (1-of-10 workload).
plugins_filtered() {
	cat <<'LIST'
cdc_ext entities=f0|cdc_ext|SELECT count(*) FROM pg_logical_slot_peek_changes('%s', NULL, NULL, 'entities', 'public.f0')
pgoutput publication of f0|pgoutput|SELECT count(*) FROM pg_logical_slot_peek_binary_changes('%s', NULL, NULL, 'proto_version', '1', 'publication_names', 'bench_f0')
pgoutput (empty publication: floor)|pgoutput|SELECT count(*) FROM pg_logical_slot_peek_binary_changes('%s', NULL, NULL, 'proto_version', '1', 'publication_names', 'bench_none')
test_decoding (no filter)|test_decoding|SELECT count(*) FROM pg_logical_slot_peek_changes('%s', NULL, NULL, 'include-xids', '0', 'skip-empty-xacts', '1')
wal2json fv2 add-tables=f0|wal2json|SELECT count(*) FROM pg_logical_slot_peek_changes('%s', NULL, NULL, 'format-version', '2', 'add-tables', 'public.f0')
wal2json fv1 add-tables=f0|wal2json|SELECT count(*) FROM pg_logical_slot_peek_changes('%s', NULL, NULL, 'format-version', '1', 'add-tables', 'public.f0')
LIST
}

# One slot per reader (named b0, b1, ...).
make_slots() {
	local i=0 name plugin stmt
	while IFS='|' read -r name plugin stmt; do
		q -c "SELECT pg_create_logical_replication_slot('b$i', '$plugin')" >/dev/null
		i=$((i + 1))
	done
}
drop_slots() {
	q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots" >/dev/null
}
# the reader statements with their slot names filled in, one per line
statements() {
	local i=0 name plugin stmt
	while IFS='|' read -r name plugin stmt; do
		# shellcheck disable=SC2059
		printf '%s|%s\n' "$name" "$(printf "$stmt" "b$i")"
		i=$((i + 1))
	done
}

# a workload size scaled by BENCH_SCALE
n() { awk -v s="$SCALE" -v b="$1" 'BEGIN {printf "%d", b * s}'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

report=$here/bench/results/latest.md
mkdir -p "$(dirname "$report")"
tmp=$(mktemp)
{
	echo "# cdc_ext benchmark"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
	echo "- server: $(q -c 'SHOW server_version'), logical_decoding_work_mem $(q -c 'SHOW logical_decoding_work_mem'), work_mem $(q -c 'SHOW work_mem')"
	echo "- cdc_ext $(git -C "$here" describe --always --dirty 2>/dev/null || echo '?'), wal2json $(dpkg-query -W -f='${Version}' "postgresql-$PGV-wal2json"), decoderbufs $(dpkg-query -W -f='${Version}' "postgresql-$PGV-decoderbufs")"
	echo "- each figure: median (and best) of $RUNS full reads of the same slot (peek; the 2M-row workload: 3), seconds, timed inside the server; runs interleaved across plugins"
	echo "- settings: logical_decoding_work_mem default (64MB), work_mem 1GB so every plugin's result rows stay in memory (4MB for the memory measurement)"
	echo
} > "$tmp"

# Time every reader of a workload; print the table.  $1 = workload title,
# $2 = list function, $3 = runs, $4 = baseline reader for ratios.
measure() {
	local title=$1 list=$2 runs=$3 base=$4 r name stmt
	declare -A times=()
	local names=()
	while IFS='|' read -r name stmt; do names+=("$name"); done < <($list | statements)
	for ((r = 1; r <= runs; r++)); do
		while IFS='|' read -r name stmt; do
			times[$name]+="$(q -c "SELECT bench_time(\$q\$$stmt\$q\$)") "
		done < <($list | statements)
	done
	local rows
	rows=$(q -c "SELECT count(*) FROM pg_logical_slot_peek_changes('b0', NULL, NULL)")
	local basemed w2j
	basemed=$(tr ' ' '\n' <<<"${times[$base]}" | grep . | median)
	w2j=$(tr ' ' '\n' <<<"${times[wal2json fv2]:-}" | grep . | median || true)
	{
		echo "## $title"
		echo
		echo "$rows entries from cdc_ext without filters; ratios against $base (and wal2json fv2 for cdc_ext)."
		echo
		echo "| plugin | median s | best s | runs (s) | vs $base (medians) |"
		echo "|---|---:|---:|---|---:|"
		for name in "${names[@]}"; do
			local med ratio best
			med=$(tr ' ' '\n' <<<"${times[$name]}" | grep . | median)
			best=$(tr ' ' '\n' <<<"${times[$name]}" | grep . | sort -g | head -1)
			ratio=$(awk -v a="$med" -v b="$basemed" 'BEGIN {printf "%.2f", a / b}')
			extra=""
			if [ -n "$w2j" ] && [[ $name == cdc_ext ]]; then
				extra=" (vs wal2json fv2: $(awk -v a="$med" -v b="$w2j" 'BEGIN {printf "%.2f", a / b}'))"
			fi
			printf '| %s | %.3f | %.3f | %s | %s%s |\n' "$name" "$med" "$best" "${times[$name]% }" "$ratio" "$extra"
		done
		echo
	} | tee -a "$tmp"
}

run_workload() {
	local w=$1
	echo "== $w" >&2
	case $w in
	reference)
		q < "$here/bench/workloads/reference_setup.sql"
		plugins | make_slots
		q -v n="$(n 200000)" < "$here/bench/workloads/reference.sql"
		measure "Reference workload ($(n 200000) orders: insert all, update half, delete a fifth; REPLICA IDENTITY FULL)" \
			plugins "$RUNS" pgoutput
		;;
	small_txns)
		q -c "DROP TABLE IF EXISTS small; CREATE TABLE small (id bigint PRIMARY KEY, v text, n int)"
		plugins | make_slots
		q -c "DO \$\$ BEGIN FOR i IN 1..$(n 50000) LOOP
				INSERT INTO small VALUES (i, 'row ' || i, i % 100); COMMIT; END LOOP; END \$\$"
		measure "Small transactions ($(n 50000) single-row inserts, one transaction each)" \
			plugins "$RUNS" pgoutput
		;;
	wide_toast)
		q -c "DROP TABLE IF EXISTS wide;
			  CREATE TABLE wide (id int PRIMARY KEY, small int, body text);
			  ALTER TABLE wide ALTER body SET STORAGE EXTERNAL"
		plugins | make_slots
		q -c "INSERT INTO wide SELECT g, 0, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 500) i)
			  FROM generate_series(1, $(n 4000)) g" \
		  -c "UPDATE wide SET small = small + 1" -c "UPDATE wide SET small = small + 1"
		measure "Wide rows ($(n 4000) rows with a 16 kB TOASTed text; two updates that leave it unchanged)" \
			plugins "$RUNS" pgoutput
		;;
	filter_1_of_10)
		for i in $(seq 0 9); do
			q -c "DROP TABLE IF EXISTS f$i; CREATE TABLE f$i (id bigint PRIMARY KEY, v text, n numeric, at timestamptz)"
		done
		q -c "DROP PUBLICATION IF EXISTS bench_f0; CREATE PUBLICATION bench_f0 FOR TABLE f0"
		plugins_filtered | make_slots
		q -c "DO \$\$ BEGIN FOR b IN 0..$(( $(n 30) - 1 )) LOOP
				FOR t IN 0..9 LOOP
					EXECUTE format('INSERT INTO f%s SELECT g, ''value '' || g, g * 1.5, now() FROM generate_series(%s, %s) g',
								   t, b * 1000 + 1, b * 1000 + 1000);
				END LOOP;
				COMMIT;
			  END LOOP; END \$\$"
		measure "One table of ten ($(n 300000) inserts over 10 equally busy tables; readers keep table f0)" \
			plugins_filtered "$RUNS" "pgoutput (empty publication: floor)"
		;;
	big_txn)
		q -c "DROP TABLE IF EXISTS big; CREATE TABLE big (id bigint, v text)"
		plugins | make_slots
		q -c "INSERT INTO big SELECT g, 'value ' || g FROM generate_series(1, $(n 2000000)) g"
		measure "One transaction of $(n 2000000) inserts" plugins 3 pgoutput
		{
			echo "Backend memory while reading it (kB; VmHWM after the read minus VmRSS before, in a fresh session):"
			echo
			echo "| plugin | peak growth kB |"
			echo "|---|---:|"
			while IFS='|' read -r name stmt; do
				g=$(q <<SQL
SET work_mem = '4MB';
SELECT bench_kb('VmRSS') AS before \gset
SELECT bench_time(\$q\$$stmt\$q\$) IS NOT NULL AS done \gset
SELECT bench_kb('VmHWM') - :before;
SQL
)
				echo "| $name | $g |"
			done < <(plugins | statements)
			echo
		} | tee -a "$tmp"
		;;
	esac
	drop_slots
}

q -c "CREATE PUBLICATION bench_all FOR ALL TABLES" -c "CREATE PUBLICATION bench_none"
for w in $ONLY; do run_workload "$w"; done
mv "$tmp" "$report"
chmod 644 "$report"
echo "report: $report"
