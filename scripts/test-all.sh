#!/bin/sh
# Set up and run every test of libuffdmap:
#   1. a -Werror build: cmocka unit tests and end-to-end tests of real programs under the preload;
#   2. an ASan+UBSan build: the unit tests;
#   3. a TSan build: the concurrency tests;
#   4. a release build (-O3, as users and distributions build), -Werror too: the unit tests.
# Build trees go to build-test/. Ends with one line "tests: N passed, N failed".
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh gcc meson ninja-build pkg-config libcmocka-dev binutils util-linux e2fsprogs fio sqlite3 git python3 python3-numpy python3-lmdb fuse3 python3-fusepy

rm -rf build-test
passed=0 failed=0
run_suite() { # run_suite NAME MESON_OPTIONS TEST_OPTIONS
    dir=build-test/$1
    echo "== $1: meson setup $2; meson test $3"
    # shellcheck disable=SC2086
    meson setup "$dir" -Dwerror=true $2 >"build-test/$1-setup.log" 2>&1 ||
        { cat "build-test/$1-setup.log"; failed=$((failed + 1)); return; }
    ninja -C "$dir" >"build-test/$1-build.log" 2>&1 ||
        { cat "build-test/$1-build.log"; failed=$((failed + 1)); return; }
    # shellcheck disable=SC2086
    meson test -C "$dir" --print-errorlogs $3 | tee "build-test/$1-test.log" | grep -v "^ *$" || true
    ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "build-test/$1-test.log")
    bad=0
    for kind in Fail Timeout "Unexpected Pass"; do
        n=$(sed -n "s/^$kind: *\([0-9]*\).*/\1/p" "build-test/$1-test.log")
        bad=$((bad + ${n:-0}))
    done
    [ -n "$ok" ] || bad=$((bad + 1)) # no summary: meson itself failed
    passed=$((passed + ${ok:-0}))
    failed=$((failed + bad))
}

mkdir -p build-test
run_suite plain "" "--no-suite known-failing"
run_suite asan "-Db_sanitize=address,undefined -Db_lundef=false" "--suite unit"
run_suite tsan "-Db_sanitize=thread -Db_lundef=false" "--suite concurrency"
run_suite release "-Dbuildtype=release" "--suite unit"

echo "tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
