# Shared by the shell tests: count checks, and end with the line CI reads.
# shellcheck shell=sh
passed=0 failed=0 skipped=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
skip() { echo "skip: $*"; skipped=$((skipped + 1)); }
finish() {
    echo "$passed passed, $failed failed${skipped:+, $skipped skipped}"
    [ "$failed" = 0 ]
}
