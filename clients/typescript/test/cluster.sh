#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for the client tests (run as the OS user that
# owns DIR, never root: the server refuses root).
#   cluster.sh start DIR PORT    initdb (trust, 127.0.0.1 only) + scripts/pgconf.sh, start
#   cluster.sh stop DIR          stop (fast)
# PATH must lead to the server's bin directory (pg_ctl, initdb, pg_config).
set -euo pipefail
here=$(cd "$(dirname "$0")/../../.." && pwd)
cmd=$1 dir=$2
case $cmd in
start)
	port=$3
	rm -rf "$dir"
	initdb -D "$dir" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$dir.initdb.log" 2>&1 \
		|| { cat "$dir.initdb.log"; exit 1; }
	{
		bash "$here/scripts/pgconf.sh"
		echo "listen_addresses = '127.0.0.1'"
		echo "port = $port"
		echo "unix_socket_directories = '$dir'"
		echo "fsync = off"
		echo "wal_sender_timeout = 60s"
		echo "log_min_messages = warning"
	} >>"$dir/postgresql.conf"
	echo "host replication all 127.0.0.1/32 trust" >>"$dir/pg_hba.conf"
	pg_ctl -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null
	;;
stop)
	pg_ctl -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
	;;
*)
	echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2;;
esac
