#!/usr/bin/env bash
# Build and run the libFuzzer targets of test/fuzz/ (one per pure-C module),
# each bounded in time and runs, under ASan and UBSan.
# Usage: scripts/fuzz.sh [seconds-per-target]   (default 20)
#   FUZZ_RUNS   cap on executions per target (default 20000000)
#   FUZZ_TARGETS  which targets (default "glob optlist json lsn")
#   CLANG       the compiler (default clang-14, else clang)
# A target that finds a broken invariant or a sanitizer error fails; its
# input is kept in test/fuzz/build/artifacts/.  A target that cannot be
# built because clang or libFuzzer is missing is skipped, with the reason.
# Ends with one line: "N passed, N failed, N skipped".
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-20}
runs=${FUZZ_RUNS:-20000000}
targets=${FUZZ_TARGETS:-glob optlist json lsn}
build=$here/test/fuzz/build
passed=0; failed=0; skipped=0

case $secs in ''|*[!0-9]*) echo "usage: $0 [seconds-per-target]" >&2; exit 2 ;; esac

# the module under test and extra link flags, per target
src_of() { echo "$here/src/common/$1.c"; }
libs_of() { [ "$1" = json ] && echo -lm; }

# shellcheck disable=SC2054  # the commas belong to -fsanitize=
flags=(-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=all -Wall -Wextra -Werror -I"$here/src/common")

skip_reason=
cc=${CLANG:-}
if [ -z "$cc" ]; then
	for c in clang-14 clang; do
		command -v "$c" >/dev/null && { cc=$c; break; }
	done
fi
mkdir -p "$build/artifacts"
if [ -z "$cc" ] || ! command -v "$cc" >/dev/null; then
	skip_reason="clang not found (scripts/deps.sh installs clang-14)"
else
	# can this clang link a fuzzer at all?  (libFuzzer ships in libclang-rt-*-dev)
	printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void) d; (void) n; return 0; }\n' \
		> "$build/probe.c"
	if ! "$cc" "${flags[@]}" "$build/probe.c" -o "$build/probe" >"$build/probe.log" 2>&1; then
		skip_reason="$cc cannot build a libFuzzer target (libclang-rt-14-dev missing?): $(head -c 300 "$build/probe.log" | tr '\n' ' ')"
	fi
fi

for t in $targets; do
	name=fuzz_$t
	if [ -n "$skip_reason" ]; then
		echo "$name: skipped: $skip_reason"
		skipped=$((skipped + 1))
		continue
	fi
	# shellcheck disable=SC2046
	if ! "$cc" "${flags[@]}" "$here/test/fuzz/$name.c" "$(src_of "$t")" \
		-o "$build/$name" $(libs_of "$t") >"$build/$name.build.log" 2>&1; then
		echo "$name: FAILED to build"
		cat "$build/$name.build.log"
		failed=$((failed + 1))
		continue
	fi
	# a fresh working corpus each run; the seeds are read, never written
	rm -rf "$build/corpus/$t"
	mkdir -p "$build/corpus/$t"
	start=$(date +%s)
	"$build/$name" -max_total_time="$secs" -runs="$runs" -print_final_stats=1 \
		-max_len=4096 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$build/artifacts/$name-" \
		"$build/corpus/$t" "$here/test/fuzz/corpus/$t" >"$build/$name.log" 2>&1
	rc=$?
	took=$(( $(date +%s) - start ))
	execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$build/$name.log" | tail -1)
	if [ "$rc" -eq 0 ] && [ -n "$execs" ]; then
		echo "$name: passed, ${execs} executions in ${took}s ($(sed -nE 's/^stat::new_units_added: *([0-9]+).*/\1/p' "$build/$name.log" | tail -1) new inputs)"
		passed=$((passed + 1))
	else
		echo "$name: FAILED (exit $rc), ${execs:-?} executions in ${took}s"
		grep -E 'invariant failed|ERROR: |SUMMARY: |runtime error' "$build/$name.log" | head -n 10
		tail -n 40 "$build/$name.log"
		for a in "$build/artifacts/$name-"*; do [ -e "$a" ] && echo "  input kept: $a"; done
		failed=$((failed + 1))
	fi
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
