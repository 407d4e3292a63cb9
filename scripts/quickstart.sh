#!/usr/bin/env bash
# Quick start: install what is needed, build and install cdc_ext, start a
# throwaway cluster (wal_level=logical, shared_preload_libraries=cdc_ext) as
# the postgres OS user, and show changes arriving as ChangeEntries: through
# the real pg_recvlogical client, pg_logical_slot_peek_changes, and the change
# log, where a consumer created after the changes replays them from the
# beginning.
# KEEP=1 leaves the cluster running (its port and directory are printed).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PGV=${PGV:-$(bash "$(dirname "$0")/pgmajor.sh")}
[ -n "$PGV" ] || exit 1
export PGV
PORT=${PORT:-5488}
bash "$here/scripts/deps.sh"
export PATH=/usr/lib/postgresql/$PGV/bin:$PATH

echo "== build and install"
cd "$here"
if command -v flock >/dev/null; then
	lock=(flock "/tmp/cdc_ext_install.$(echo "/usr/lib/postgresql/$PGV/bin" | md5sum | cut -c1-8).lock")
else
	lock=()
fi
"${lock[@]}" bash -c 'make -s && make -s install' >/dev/null

dir=$(mktemp -d /tmp/cdc_ext_quickstart.XXXXXX)
# the server and clients run as postgres: from a directory it can read
cd "$dir"
run() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- env PATH="$PATH" "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
stop_recv() { pkill -f "pg_recvlogical.*$dir" 2>/dev/null || true; }
cleanup() {
	stop_recv
	if [ "${KEEP:-0}" != 1 ]; then
		run pg_ctl -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
		rm -rf "$dir"
	fi
}
trap cleanup EXIT

echo "== throwaway cluster in $dir (port $PORT)"
run initdb -D "$dir/data" -A trust -U postgres >/dev/null
{ bash "$here/scripts/pgconf.sh"; echo "port = $PORT"; echo "unix_socket_directories = '$dir'"; } >> "$dir/data/postgresql.conf"
run pg_ctl -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
psql_() { run psql -X -q -h "$dir" -p "$PORT" -U postgres -d postgres "$@"; }

psql_ <<'SQL'
CREATE TABLE public.orders (id int PRIMARY KEY, customer text, amount numeric(10,2),
                            placed_at timestamptz DEFAULT '2026-01-01 12:00+00');
SELECT 'slot created at ' || lsn FROM pg_create_logical_replication_slot('quickstart', 'cdc_ext');
CREATE EXTENSION cdc_ext;
-- the log writer started by itself; wait until it is logging
SELECT 'the log has everything committed before ' || cdc.wait_for_log();
SELECT 'log writer running as PID ' || pid FROM cdc.writer_info();
SQL

echo "== pg_recvlogical streaming (in the background)"
run pg_recvlogical -h "$dir" -p "$PORT" -U postgres -d postgres -S quickstart \
	-o entities=public.orders --no-loop --start -f "$dir/recv.jsonl" \
	>"$dir/recv.log" 2>&1 </dev/null &

psql_ <<'SQL'
INSERT INTO orders (id, customer, amount) VALUES (1, 'ada', 12.50), (2, 'linus', 99.00);
UPDATE orders SET amount = 15.00 WHERE id = 1;
DELETE FROM orders WHERE id = 2;
TRUNCATE orders;
SELECT 'logged up to ' || cdc.wait_for_log();
-- a consumer created now, after the changes
SELECT 'consumer created, starting after ' || cdc.create_consumer('search-sync', entities => '{orders}', start => 'beginning');
SQL
# wait (at most 10 s) for the client to have the 5 entries
for _ in $(seq 1 50); do
	[ "$(wc -l < "$dir/recv.jsonl" 2>/dev/null || echo 0)" -ge 5 ] && break
	sleep 0.2
done

echo
echo "== 1. pg_recvlogical -S quickstart -o entities=public.orders --start (live, as the changes committed)"
cat "$dir/recv.jsonl"
stop_recv
sleep 0.5
echo
echo "== 2. SELECT data FROM pg_logical_slot_peek_changes('quickstart', NULL, NULL, 'operations', 'update,delete')"
psql_ -At -c "SELECT data FROM pg_logical_slot_peek_changes('quickstart', NULL, NULL, 'operations', 'update,delete')"
echo
echo "== 3. the change log: a consumer created after the changes replays them (start => 'beginning')"
echo "   SELECT ... FROM cdc.consume('search-sync')   -- the batch, with the checkpoint moved in this transaction"
psql_ -c "SELECT commit_lsn, seq, entity, entity_id, operation, old_data, new_data FROM cdc.consume('search-sync')"
psql_ -c "SELECT name, checkpoint_lsn, checkpoint_seq, lag_changes, gap FROM cdc.consumers"
psql_ -x -c "SELECT * FROM cdc.status()"
if [ "${KEEP:-0}" = 1 ]; then
	echo "cluster left running: psql -h $dir -p $PORT -U postgres"
fi
