#!/usr/bin/env bash
# Print the PostgreSQL major of this machine's Debian release: what its
# "postgresql" package installs (Debian 12: 15, 13: 17, forky: 18).  The
# default of PGV in scripts/deps.sh, test.sh and quickstart.sh.
set -euo pipefail
. /etc/os-release
case ${VERSION_CODENAME:-} in
	bookworm) echo 15 ;;
	trixie) echo 17 ;;
	forky) echo 18 ;;
	*)
		# another release: ask apt what its postgresql package depends on
		v=$(apt-cache depends postgresql 2>/dev/null | sed -nE 's/^ *Depends: postgresql-([0-9]+)$/\1/p' | head -n1)
		if [ -z "$v" ]; then
			echo "scripts/pgmajor.sh: no PostgreSQL major known for ${PRETTY_NAME:-this system}; set PGV" >&2
			exit 1
		fi
		echo "$v" ;;
esac
