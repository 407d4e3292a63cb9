#!/usr/bin/env bash
# Install what building and testing cdc_ext needs on Debian 12 (as root).
# Usage: scripts/deps.sh [extra packages...]
set -euo pipefail
PGV=${PGV:-$(bash "$(dirname "$0")/pgmajor.sh")}
# clang and its runtime (libFuzzer, ASan, UBSan) for the fuzz targets and the
# sanitized unit tests: the release's default clang (Debian 12: clang-14 +
# libclang-rt-14-dev, 13: 19; later: what its "clang" package depends on)
if [ -z "${CLANGV:-}" ]; then
	. /etc/os-release
	case ${VERSION_CODENAME:-} in
		bookworm) CLANGV=14 ;;
		trixie) CLANGV=19 ;;
		*)
			apt-cache show clang >/dev/null 2>&1 || { [ "$(id -u)" -ne 0 ] || apt-get update -qq; }
			CLANGV=$(apt-cache depends clang 2>/dev/null | sed -nE 's/^ *Depends: clang-([0-9]+)$/\1/p' | head -n1)
			CLANGV=${CLANGV:-19} ;;
	esac
fi
# nats-server and libnats-dev: cdc_relay (relay/) and its fault test
# t/110_relay.pl, which runs a JetStream cluster (Debian 12, 13 and forky ship both)
pkgs=("postgresql-$PGV" "postgresql-client-$PGV" "postgresql-server-dev-$PGV"
      build-essential pkg-config check libipc-run-perl libkrb5-dev
      "clang-$CLANGV" "libclang-rt-$CLANGV-dev" nats-server libnats-dev "$@")
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages: ${missing[*]} (run as root to install them)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
