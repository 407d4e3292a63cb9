#!/usr/bin/env bash
# Client benchmark, by hand (not CI): changes/s of streamChanges() and
# replicate() against pg_recvlogical on the same changes, and the client's
# cost per change.  Against the server in PGHOST/PGPORT if PGPORT is set,
# else a throwaway cluster (as postgres when run as root).  Needs the
# extension installed and the client built (cd clients/typescript && npm ci
# && npm run build).  BENCH_CHANGES (200000), BENCH_TXN_ROWS (100), BENCH_RUNS (3).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
export PATH=$PGBIN:$PATH
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- env PATH="$PATH" "$@"; else "$@"; fi; }
if [ -z "${PGPORT:-}" ]; then
	data=$(mktemp -d /tmp/cdc_bench_client.XXXXXX)
	chown postgres: "$data" 2>/dev/null || true
	export PGPORT=$((40000 + RANDOM % 10000)) PGHOST=127.0.0.1 PGUSER=postgres
	as_pg bash "$here/clients/typescript/test/cluster.sh" start "$data/pg" "$PGPORT"
	trap 'as_pg bash "$here/clients/typescript/test/cluster.sh" stop "$data/pg"; rm -rf "$data"' EXIT
fi
node "$here/bench/client/bench.mjs"
