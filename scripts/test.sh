#!/usr/bin/env bash
# Run the test layers of cdc_ext, each against throwaway clusters
# (wal_level=logical) run as the unprivileged "postgres" OS user.  Installs
# what it needs first (as root).
#
#   bash scripts/test.sh [LAYER]
#
# LAYER is one of (none: all of them, in this order, as CI runs them):
#   unit       Check unit tests of the pure-C modules, plain and under ASan/UBSan
#   fuzz       bounded libFuzzer runs of the pure-C modules (FUZZ_SECONDS per
#              target, default 20)
#   regress    pg_regress (sql/, expected/)
#   isolation  pg_isolation_regress (specs/)
#   tap        the TAP tests (t/*.pl; TAP_TESTS="t/060_groups.pl t/070_log_writer.pl"
#              runs only those)
#   client     both clients' tests: node (the TypeScript client, node --test)
#              and rust (the Rust client, cargo test)
#   node, rust one of the two
# Every layer but unit and fuzz builds and installs the extension first.
# Every run ends with one line: "N passed, N failed[, N skipped]" (.ci/run
# and scripts/matrix.sh read it); the exit status is 0 when nothing failed.
set -uo pipefail
layer=${1:-all}
case $layer in
	all|unit|fuzz|regress|isolation|tap|client|node|rust) ;;
	*) echo "usage: $0 [unit|fuzz|regress|isolation|tap|client|node|rust]" >&2; exit 2 ;;
esac
# runs LAYER...: whether this invocation runs one of them
runs() {
	local l
	for l in "$@"; do
		[ "$layer" = all ] || [ "$layer" = "$l" ] && return 0
	done
	return 1
}
here=$(cd "$(dirname "$0")/.." && pwd)
PGV=${PGV:-$(bash "$(dirname "$0")/pgmajor.sh")}
[ -n "$PGV" ] || exit 1
export PGV
bash "$here/scripts/deps.sh" || exit 1

# PGBIN: the server's bin directory (default Debian's).  One run at a time
# per installation: every run installs into its server directories, which
# its clusters then load.
PGBIN=${PGBIN:-/usr/lib/postgresql/$PGV/bin}
if [ -z "${CDC_EXT_LOCKED:-}" ] && command -v flock >/dev/null; then
	export CDC_EXT_LOCKED=1
	exec flock "/tmp/cdc_ext_install.$(echo "$PGBIN" | md5sum | cut -c1-8).lock" bash "$0" "$@"
fi
export PATH=$PGBIN:$PATH
# the clang of the sanitized unit tests and the fuzz targets: Debian 12's
# clang-14, else the release's (scripts/deps.sh installs it)
if [ -z "${CLANG:-}" ]; then
	CLANG=$(command -v clang-14 || command -v clang || ls /usr/bin/clang-[0-9]* 2>/dev/null | sort -V | tail -n1)
fi
export CLANG
PGXS_DIR=$(cd "$(dirname "$(pg_config --pgxs)")/../.." && pwd)   # .../lib/pgxs
CFLAGS_CI="-Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers -Wno-clobbered"

passed=0; failed=0; skipped=0
note() { printf '\n== %s\n' "$*"; }
count() { passed=$((passed + $1)); failed=$((failed + $2)); skipped=$((skipped + ${3:-0})); }

cd "$here"
# the throwaway clusters' settings (test/logical.conf is generated, not kept)
{ bash scripts/pgconf.sh; echo "logical_decoding_work_mem = 64kB"; } > test/logical.conf
if runs regress isolation tap client node rust; then
	note "build and install"
	if ! { make -s clean && make -s PG_CFLAGS="$CFLAGS_CI" && make -s install; } >/tmp/cdc_ext_build.log 2>&1; then
		cat /tmp/cdc_ext_build.log
		echo "0 passed, 1 failed"
		exit 1
	fi
fi

# Servers refuse to run as root: tests run as postgres in a copy it owns.
if [ "$(id -u)" -eq 0 ]; then
	work=$(mktemp -d /tmp/cdc_ext_test.XXXXXX)
	cp -a "$here"/. "$work"/
	chown -R postgres: "$work"
	as_pg() { runuser -u postgres -- env PATH="$PATH" "$@"; }
else
	work=$here
	as_pg() { "$@"; }
fi
cd "$work"

# Count a Check run from its "N%: Checks: N, Failures: N, Errors: N" line
# ($1: output, $2: exit status).  No such line (the runner died) is one
# failure; so is a non-zero exit after every check passed (a leak report).
count_check() {
	local line n f
	if line=$(grep -E '^[0-9]+%: Checks: ' <<<"$1" | tail -1); then
		n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
		f=$(sed -E 's/.*Failures: ([0-9]+), Errors: ([0-9]+).*/\1+\2/' <<<"$line")
		f=$((f)); count $((n - f)) "$f"
		if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then
			echo "exit status $2 after all checks passed (see above)"
			count 0 1
		fi
	else
		count 0 1
	fi
}

if runs unit; then
	note "unit tests (Check)"
	out=$(make -s unit 2>&1); rc=$?; echo "$out"
	count_check "$out" "$rc"

	note "unit tests under ASan/UBSan"
	out=$(make -s unit-asan ${CLANG:+UNIT_ASAN_CC="$CLANG"} 2>&1); rc=$?; echo "$out"
	count_check "$out" "$rc"
fi

if runs fuzz; then
	note "fuzzing (libFuzzer, bounded)"
	out=$(bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}" 2>&1); echo "$out"
	if line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' <<<"$out" | tail -1); then
		read -r fp _ ff _ fs _ <<<"$line"
		count "$fp" "$ff" "$fs"
	else
		count 0 1
	fi
fi

# pg_regress and isolation run separately: in one "make installcheck" a
# failing regression suite would skip the isolation specs unseen.
# $1 = title, $2 = expected number of tests, the rest = make arguments
suite() {
	local title=$1 want=$2 out ok bad
	shift 2
	note "$title"
	out=$(as_pg make -s installcheck "$@" 2>&1); echo "$out"
	ok=$(grep -cE '\.\.\. ok|^ok [0-9]+' <<<"$out")
	bad=$(grep -cE '\.\.\. FAILED|^not ok [0-9]+|failed \(ignored\)' <<<"$out")
	# whatever did not report (the suite died early) counts as failed
	[ $((ok + bad)) -lt "$want" ] && bad=$((want - ok))
	count "$ok" "$bad"
	if [ "$bad" -gt 0 ]; then
		for f in "$work"/regression.diffs "$work"/output_iso/regression.diffs; do
			[ -f "$f" ] && head -c 20000 "$f"
		done
	fi
	return 0
}
if runs regress; then
	suite "regression tests (pg_regress)" "$(ls sql/*.sql | wc -l)" \
		ISOLATION= EXTRA_REGRESS_OPTS="--temp-instance=$work/tmp_check_regress"
fi
if runs isolation && ls specs/*.spec >/dev/null 2>&1; then
	suite "isolation tests (pg_isolation_regress)" "$(ls specs/*.spec | wc -l)" \
		REGRESS= EXTRA_REGRESS_OPTS="--temp-instance=$work/tmp_check_iso"
fi

# TAP_TESTS: the files to run (t/NNN_x.pl or NNN_x.pl), default all
tap_files=()
if runs tap; then
	note "TAP tests (prove)"
	for f in ${TAP_TESTS:-t/*.pl}; do
		if [ -f "$work/t/$(basename "$f")" ]; then
			tap_files+=("$work/t/$(basename "$f")")
		else
			echo "TAP_TESTS: no such file: $f"; count 0 1
		fi
	done
fi
if [ ${#tap_files[@]} -gt 0 ]; then
	# TESTDATADIR/TESTLOGDIR: where 17 and later put the nodes and logs
	# (they default to the current directory there, to tmp_check/ before)
	out=$(as_pg env PERL5LIB="$PGXS_DIR/src/test/perl" TESTDIR="$work" \
		TESTDATADIR="$work/tmp_check" TESTLOGDIR="$work/tmp_check/log" \
		PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
		prove -I "$PGXS_DIR/src/test/perl" "${tap_files[@]}" 2>&1); echo "$out"
	total=$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+),.*/\1/p' <<<"$out" | tail -1)
	# test files that ran no test at all count as a failure
	[ "${total:-0}" -eq 0 ] && total=""
	# prove's own verdict: a failing file (say, one that died midway) fails the layer
	grep -qE '^Result: FAIL' <<<"$out" && nfiles_failed=1 || nfiles_failed=0
	bad=$(grep -oE 'Failed ([0-9]+)/[0-9]+ subtests' <<<"$out" | awk '{split($2,a,"/"); s+=a[1]} END {print s+0}')
	nfiles_bad=$(grep -cE 'Wstat: [1-9]|Parse errors' <<<"$out")
	[ -z "$total" ] && { total=0; bad=$((bad + 1)); }
	[ "$bad" -eq 0 ] && [ "$nfiles_bad" -gt 0 ] && bad=$nfiles_bad
	[ "$bad" -eq 0 ] && [ "$nfiles_failed" -gt 0 ] && bad=1
	count $((total - bad < 0 ? 0 : total - bad)) "$bad"
	if [ "$bad" -gt 0 ]; then
		for f in "$work"/tmp_check/log/regress_log_*; do
			[ -f "$f" ] || continue
			tail -n 60 "$f"
			# a failing file: what its servers said about the writer, and their errors
			if grep -q '^\[[0-9:.]*\]([0-9.]*s) not ok' "$f"; then
				t=$(basename "$f"); t=${t#regress_log_}
				for l in "$work"/tmp_check/log/"$t"_*.log; do
					[ -f "$l" ] || continue
					echo "== $(basename "$l") (writer, launcher, errors)"
					grep -E 'cdc_ext|background worker|ERROR|FATAL|PANIC|WARNING' "$l" | tail -n 80
				done
			fi
		done
	fi
fi

# A throwaway cluster for a client layer in DIR ($1), on a free port (set in
# "port"): a port free when looked at can be taken before the server binds
# it (other clusters start beside this one), so up to five tries.
client_cluster() {
	local try
	for try in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 20000))
		while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
		as_pg bash "$work/clients/typescript/test/cluster.sh" start "$1" "$port" && return 0
		tail -n 3 "$1/server.log" 2>/dev/null
	done
	return 1
}

# The TypeScript client (clients/typescript) against a throwaway cluster of
# its own: node's test runner, one test file at a time (they share the server
# and some restart it), counted from each file's "# pass/# fail/# skipped".
client_tests() {
	note "client tests (node)"
	local cdir="$work/clients/typescript" data="$work/tmp_check_client/data" port f out p fl sk cx
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		if [ "$(id -u)" -eq 0 ]; then
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
		fi
	fi
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		echo "node/npm missing"; count 0 1; return
	fi
	[ -d "$cdir" ] || { echo "no $cdir"; count 0 1; return; }
	mkdir -p "$work/tmp_check_client" && chown postgres: "$work/tmp_check_client" 2>/dev/null
	local npmenv=(HOME="$work/tmp_check_client" npm_config_cache="$work/tmp_check_client/npm-cache"
		npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false)
	if ! out=$(cd "$cdir" && as_pg env "${npmenv[@]}" npm ci 2>&1 && as_pg env "${npmenv[@]}" npm run build 2>&1); then
		echo "$out" | tail -40; count 0 1; return
	fi
	if ! client_cluster "$data"; then
		echo "cannot start the client tests' cluster"; count 0 1; return
	fi
	local n=0 bad=0
	for f in "$cdir"/test/*.test.mjs; do
		out=$(cd "$cdir" && as_pg env "${npmenv[@]}" PATH="$PATH" PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres \
			PGDATABASE=postgres CDC_TEST_PGDATA="$data" timeout 300 node --test --test-reporter=tap "$f" 2>&1)
		p=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' <<<"$out" | tail -1)
		fl=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' <<<"$out" | tail -1)
		sk=$(sed -nE 's/^# skipped ([0-9]+)$/\1/p' <<<"$out" | tail -1)
		cx=$(sed -nE 's/^# cancelled ([0-9]+)$/\1/p' <<<"$out" | tail -1)
		if [ -z "$p" ] || [ -z "$fl" ]; then	# the file never reported: it failed
			p=0; fl=1
		fi
		fl=$((fl + ${cx:-0}))
		echo "$(basename "$f"): $p passed, $fl failed, ${sk:-0} skipped"
		[ "$fl" -gt 0 ] && grep -vE '^\s+(at |duration_ms|\.\.\.|---)' <<<"$out" | grep -B2 -A25 '^not ok' | head -120
		count "$p" "$fl" "${sk:-0}"
		n=$((n + p + fl)); bad=$((bad + fl))
	done
	as_pg bash "$cdir/test/cluster.sh" stop "$data"
	[ "$n" -eq 0 ] && count 0 1	# a layer that ran nothing failed
	[ "$bad" -gt 0 ] && [ -f "$data/server.log" ] && tail -n 30 "$data/server.log"
	return 0
}
runs client node && client_tests

# The Rust client (clients/rust) against a throwaway cluster of its own:
# cargo test with Debian's cargo, rustc and packaged crates (offline: the
# crate's .cargo/config.toml replaces crates.io with /usr/share/cargo/registry),
# CARGO_HOME and the target directory inside the test copy, run as postgres
# (the tests restart the server).  Counted from each test binary's
# "test result: ... N passed; N failed; N ignored" line; a build that fails,
# or a run that ends badly without a failed test, counts as one failure.
rust_tests() {
	note "client tests (rust)"
	local cdir="$work/clients/rust" rdir="$work/tmp_check_rust" port out rc p fl ig
	local cargo=${CDC_CARGO:-/usr/bin/cargo} rustc=${CDC_RUSTC:-/usr/bin/rustc}
	local pkgs=(cargo rustc librust-tokio-postgres-dev librust-tokio-dev librust-serde-json-dev librust-futures-dev) missing=()
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" -eq 0 ]; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
			|| { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
	fi
	if [ ! -x "$cargo" ] || [ ! -x "$rustc" ] || [ ! -d /usr/share/cargo/registry ]; then
		echo "cargo/rustc or Debian's crates missing"; count 0 1; return
	fi
	[ -d "$cdir" ] || { echo "no $cdir"; count 0 1; return; }
	mkdir -p "$rdir" && chown postgres: "$rdir" 2>/dev/null
	if ! client_cluster "$rdir/data"; then
		echo "cannot start the Rust client tests' cluster"; count 0 1; return
	fi
	# Cargo.lock pins Debian 12's crates; another release (the version
	# matrix) has its own versions of them: there the copy resolves them
	# afresh, offline, and its newer rustc's new lints do not fail the build
	local locked=(--locked) flags="-D warnings"
	if ! grep -q '^12' /etc/debian_version 2>/dev/null && [ "$work" != "$here" ]; then
		rm -f "$cdir/Cargo.lock"; locked=(); flags=""
	fi
	out=$(cd "$cdir" && as_pg env HOME="$rdir" CARGO_HOME="$rdir/cargo" CARGO_TARGET_DIR="$rdir/target" \
		RUSTC="$rustc" RUSTFLAGS="$flags" PATH="$PATH" PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres \
		PGDATABASE=postgres CDC_TEST_PGDATA="$rdir/data" \
		timeout 1800 "$cargo" test --offline "${locked[@]}" --no-fail-fast 2>&1); rc=$?
	as_pg bash "$work/clients/typescript/test/cluster.sh" stop "$rdir/data"
	grep -vE '^\s+(Compiling|Fresh) ' <<<"$out" | tail -n 200
	p=$(sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\1/p' <<<"$out" | awk '{s+=$1} END {print s+0}')
	fl=$(sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\2/p' <<<"$out" | awk '{s+=$1} END {print s+0}')
	ig=$(sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\3/p' <<<"$out" | awk '{s+=$1} END {print s+0}')
	echo "cargo test: $p passed, $fl failed, $ig ignored (exit status $rc)"
	[ "$rc" -ne 0 ] && [ "$fl" -eq 0 ] && fl=1	# did not build, or died
	[ $((p + fl)) -eq 0 ] && fl=1			# ran nothing
	count "$p" "$fl" "$ig"
	[ "$fl" -gt 0 ] && [ -f "$rdir/data/server.log" ] && tail -n 30 "$rdir/data/server.log"
	return 0
}
runs client rust && rust_tests

echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
