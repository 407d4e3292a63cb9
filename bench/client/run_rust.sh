#!/usr/bin/env bash
# Rust client benchmark, by hand (not CI): changes/s of the Rust client's
# next_batch() against pg_recvlogical on the same changes (target: at least
# 0.8x), and the client's CPU per change.  Against the server in
# PGHOST/PGPORT if PGPORT is set, else a throwaway cluster (as postgres when
# run as root).  Builds bench/client/rust (release) with Debian's cargo and
# crates, offline.  Report: bench/results/client_rust.md.
# BENCH_CHANGES (200000), BENCH_TXN_ROWS (100), BENCH_RUNS (3); CARGO, RUSTC.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
export PATH=$PGBIN:$PATH
CARGO=${CARGO:-/usr/bin/cargo}
export RUSTC=${RUSTC:-/usr/bin/rustc}
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- env PATH="$PATH" "$@"; else "$@"; fi; }
(cd "$here/bench/client/rust" && "$CARGO" build --release --offline -q)
bin=$here/bench/client/rust/target/release/cdc-ext-client-bench
if [ -z "${PGPORT:-}" ]; then
	data=$(mktemp -d /tmp/cdc_bench_client_rs.XXXXXX)
	chown postgres: "$data" 2>/dev/null || true
	export PGPORT=$((40000 + RANDOM % 10000)) PGHOST=127.0.0.1 PGUSER=postgres
	as_pg bash "$here/clients/typescript/test/cluster.sh" start "$data/pg" "$PGPORT"
	trap 'as_pg bash "$here/clients/typescript/test/cluster.sh" stop "$data/pg"; rm -rf "$data"' EXIT
fi
mkdir -p "$here/bench/results"
out=$("$bin")
echo "$out"
{
	echo "# Rust client benchmark: latest run"
	echo
	echo "\`bash bench/client/run_rust.sh\` (BENCH_CHANGES=${BENCH_CHANGES:-200000}, BENCH_TXN_ROWS=${BENCH_TXN_ROWS:-100}, BENCH_RUNS=${BENCH_RUNS:-3}), $(date -u +%Y-%m-%d), PostgreSQL $(postgres --version | awk '{print $3}'), $("$RUSTC" --version | cut -d' ' -f1-2), $(nproc) cores shared with other work (load average $(cut -d' ' -f1 /proc/loadavg) at the end)."
	echo
	echo "$out"
	echo
	echo "pg_recvlogical streams the cdc_ext plugin over the replication protocol (decoding WAL as it goes); next_batch() reads the change log through cdc.stream (BEGIN; cdc.checkpoint at the cursor; cdc.stream; ROLLBACK per batch of 1000, the four sent at once, pipelined) and decodes every row into a ChangeEntry (lossless jsonb through serde_json's arbitrary_precision, binary pg_lsn and timestamptz); the last row issues the same statements through tokio-postgres, one round trip each, and leaves the rows undecoded (what the server and the protocol cost). Client CPU per change: this process's user+system time over the run divided by the changes (10 ms ticks)."
} >"$here/bench/results/client_rust.md"
