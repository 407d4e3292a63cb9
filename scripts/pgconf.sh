#!/usr/bin/env bash
# Print the postgresql.conf lines a cluster needs to run cdc_ext (and, for the
# benchmark, the anchor plugins): the preload that starts the log writers,
# wal_level=logical, slots, and, on servers
# that have the output_plugin_libraries allow-list (15.19 and later), the
# plugins approved for logical decoding.
set -euo pipefail
bindir=$(pg_config --bindir)
cat <<CONF
shared_preload_libraries = 'cdc_ext'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 10
max_prepared_transactions = 10
CONF
params=$("$bindir/postgres" --describe-config 2>/dev/null || true)
if grep -q '^output_plugin_libraries' <<<"$params"; then
	echo "output_plugin_libraries = 'pgoutput, test_decoding, cdc_ext, wal2json, decoderbufs'"
fi
