#!/usr/bin/env bash
# Which tests failed, from a test log (scripts/test.sh's output): the lines
# each layer prints for a failure, at most 40, so that a summary can name
# them (CI shows the end of its output; the logs stay on the machine).
# Usage: scripts/failures.sh LOG
set -uo pipefail
grep -E '^not ok|[^ ]+ \.+ (Dubious|Failed)|^# +Failed test|Failed tests?:|^test .* FAILED|^\S+\.test\.mjs: [0-9]+ passed, [1-9]|^[0-9]+%: Checks: [0-9]+, Failures: [1-9]|^fuzz_\S+: (failed|crash)|: FAILED|^cargo test: [0-9]+ passed, [1-9]' "$1" |
	head -n 40
