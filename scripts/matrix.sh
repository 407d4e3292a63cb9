#!/usr/bin/env bash
# The version matrix: run the whole test suite (scripts/test.sh) on each
# PostgreSQL major, each in a root filesystem of the Debian release that
# ships it, made with debootstrap from the Debian archive this machine's apt
# already uses.  Run as root on Debian (12 or later).
#
# Usage: scripts/matrix.sh [MAJOR...]        (default: 17 18)
#   15 -> bookworm (Debian 12), 17 -> trixie (Debian 13), 18 -> forky
#   MATRIX_CACHE  where the roots are kept between runs
#                 (default /var/cache/cdc_ext-matrix); a root found there is
#                 reused, one missing or unfinished is made again
#   MIRROR        the Debian archive (default: the one in /etc/apt/sources.list*)
#   FUZZ_SECONDS  passed on to scripts/test.sh (default 5)
#   MATRIX_CMD    run this inside each root instead of the test suite (the
#                 tree is at /tmp/cdc_ext; PGV is set), e.g. scripts/quickstart.sh
# Prints, per major, the suite's output into $MATRIX_CACHE/<release>-test.log
# and one line "PostgreSQL <version> (<release>): N passed, N failed, N skipped";
# exits non-zero if any major failed.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${MATRIX_CACHE:-/var/cache/cdc_ext-matrix}
majors=("$@")
[ ${#majors[@]} -eq 0 ] && majors=(17 18)

if [ "$(id -u)" -ne 0 ]; then
	echo "scripts/matrix.sh: run as root (debootstrap, chroot and mounts need it)" >&2
	exit 2
fi

release_of() {
	case $1 in
		15) echo bookworm ;;
		17) echo trixie ;;
		18) echo forky ;;
		*) return 1 ;;
	esac
}

# The Debian archive apt uses here: the first deb822 "URIs:" or one-line
# "deb" source whose path ends in /debian (not debian-security, not a
# third-party repository).
host_mirror() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -nE -e 's/^URIs:[[:space:]]*([^[:space:]]+\/debian)\/?([[:space:]].*)?$/\1/p' \
			-e 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+\/debian)\/?[[:space:]].*$/\2/p' "$f"
	done | head -n1
}
mirror=${MIRROR:-$(host_mirror)}
if [ -z "$mirror" ]; then
	echo "scripts/matrix.sh: no Debian archive found in /etc/apt/sources.list*; set MIRROR" >&2
	exit 2
fi
security=${mirror%/debian}/debian-security

# Make (or reuse) the root of release $1 in $2.  A root is finished when it
# carries .cdc_ext-root; anything else under that name is made again.
make_root() {
	local rel=$1 root=$2 script=()
	[ -f "$root/.cdc_ext-root" ] && return 0
	command -v debootstrap >/dev/null || {
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null || return 1
	}
	# debootstrap versions older than the release lack its script: forky is
	# made like sid (Debian 12's debootstrap has no forky script)
	[ -e "/usr/share/debootstrap/scripts/$rel" ] || script=(/usr/share/debootstrap/scripts/sid)
	rm -rf "$root.new"
	echo "== debootstrap $rel from $mirror into $root"
	debootstrap --variant=minbase "$rel" "$root.new" "$mirror" "${script[@]}" \
		>"$root.debootstrap.log" 2>&1 || { tail -n 20 "$root.debootstrap.log"; return 1; }
	rm -rf "$root" && mv "$root.new" "$root" && touch "$root/.cdc_ext-root"
}

mounted=()
mount_root() {
	local root=$1 m
	for m in proc sys dev dev/pts dev/shm; do
		mkdir -p "$root/$m"
		mountpoint -q "$root/$m" && continue
		case $m in
			proc) mount -t proc proc "$root/proc" ;;
			*) mount --bind "/$m" "$root/$m" ;;
		esac && mounted=("$root/$m" "${mounted[@]}")
	done
}
unmount_all() {
	local m
	for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || umount -l "$m"; done
	mounted=()
}
trap unmount_all EXIT

# Everything the root needs from the host that debootstrap does not give:
# name resolution, the Debian sources of its release, no service starts
# and no default cluster from package scripts, the host's extra CA
# certificates (a TLS-intercepting proxy's) and npm settings.
configure_root() {
	local rel=$1 root=$2 suites=$1
	cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
	[ "$rel" != forky ] && suites="$rel $rel-updates"
	rm -f "$root/etc/apt/sources.list"
	{
		printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\n' "$mirror" "$suites"
		printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
		if [ "$rel" != forky ]; then
			printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$security" "$rel"
			printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
		fi
	} >"$root/etc/apt/sources.list.d/debian.sources"
	# testing's Release files expire within days: a mirror that is a
	# snapshot (or a clock past its date) would refuse them
	echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99cdc_ext-matrix"
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" && chmod +x "$root/usr/sbin/policy-rc.d"
	mkdir -p "$root/etc/postgresql-common"
	echo "create_main_cluster = false" >"$root/etc/postgresql-common/createcluster.conf"
	mkdir -p "$root/usr/local/share/ca-certificates" "$root/etc/ssl/certs"
	cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
	[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
	# npm reads ~/.npmrc (root's) and the global npmrc whatever HOME is
	# (scripts/test.sh runs npm as postgres with a HOME of its own)
	if [ -f "$HOME/.npmrc" ]; then
		cp "$HOME/.npmrc" "$root/root/.npmrc"
		cp "$HOME/.npmrc" "$root/etc/npmrc"
	fi
}

# Run a command in the root with a clean environment.
in_root() {
	local root=$1
	shift
	chroot "$root" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG="${LANG:-C.UTF-8}" TERM=dumb DEBIAN_FRONTEND=noninteractive \
		NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "$@"
}

rc=0
for v in "${majors[@]}"; do
	if ! rel=$(release_of "$v"); then
		echo "PostgreSQL $v: no Debian release known for it (15, 17, 18): 0 passed, 1 failed, 0 skipped"
		rc=1
		continue
	fi
	root=$cache/$rel
	log=$cache/$rel-test.log
	mkdir -p "$cache"
	started=$(date +%s)
	if ! make_root "$rel" "$root"; then
		echo "PostgreSQL $v ($rel): debootstrap failed: 0 passed, 1 failed, 0 skipped"
		rc=1
		continue
	fi
	configure_root "$rel" "$root"
	mount_root "$root"
	# a clean copy of the tree: what git tracks plus what is not ignored
	rm -rf "$root/tmp/cdc_ext" && mkdir -p "$root/tmp/cdc_ext"
	tar -C "$here" --exclude=.git --exclude=node_modules --exclude='tmp_check*' \
		--exclude=results --exclude=output_iso --exclude='*.o' --exclude='*.so' -cf - . |
		tar -C "$root/tmp/cdc_ext" -xf -
	# the packages first (scripts/deps.sh, the one list), then the certificates
	# again: installing ca-certificates rebuilds the bundle without the host's
	if ! in_root "$root" env PGV="$v" bash /tmp/cdc_ext/scripts/deps.sh ca-certificates \
		"postgresql-$v-wal2json" nodejs npm >"$log" 2>&1; then
		tail -n 20 "$log"
		echo "PostgreSQL $v ($rel): installing packages failed: 0 passed, 1 failed, 0 skipped"
		rc=1
		unmount_all
		continue
	fi
	in_root "$root" update-ca-certificates >/dev/null 2>&1
	cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt" 2>/dev/null
	pgversion=$(in_root "$root" "/usr/lib/postgresql/$v/bin/postgres" --version | awk '{print $3}')
	if [ -n "${MATRIX_CMD:-}" ]; then
		in_root "$root" env PGV="$v" bash -c "cd /tmp/cdc_ext && $MATRIX_CMD" 2>&1 | tee -a "$log"
		st=${PIPESTATUS[0]}
		echo "PostgreSQL $pgversion ($rel): '$MATRIX_CMD' exited with $st"
		[ "$st" -eq 0 ] || rc=1
	else
		in_root "$root" env PGV="$v" FUZZ_SECONDS="${FUZZ_SECONDS:-5}" \
			bash /tmp/cdc_ext/scripts/test.sh >>"$log" 2>&1
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n1)
		[ -z "$line" ] && line="0 passed, 1 failed, 0 skipped"
		if ! grep -qE ', 0 failed' <<<"$line"; then
			rc=1
			# which tests failed, beside the summary (the whole log is $log)
			echo "PostgreSQL $pgversion ($rel): failures in $log:"
			bash "$here/scripts/failures.sh" "$log"
		fi
		echo "PostgreSQL $pgversion ($rel, $(( ($(date +%s) - started) / 60 )) min): $line"
	fi
	unmount_all
done
exit $rc
