#!/bin/sh
# The uffdmap wrapper: help, bad command lines (exit 2 with a message naming the option), and a
# real run of mapcat that is served by the shim with the digest of the kernel's run.
# The copy in the build directory finds that build's library with no --lib, from any directory.
# usage: wrapper.sh UFFDMAP_SCRIPT LIBUFFDMAP_SO MAPCAT DATA_DIR BUILD_DIR_WRAPPER
set -u
wrap=$1 so=$2 mapcat=$3 dir=$4 built=$5
mkdir -p "$dir"
file="$dir/wrapper.bin"
head -c 3000000 /dev/urandom >"$file"
. "$(dirname "$0")/lib.sh"
expect() { # expect NAME STATUS PATTERN CMD...: exit status and a line of output
    name=$1 status=$2 pattern=$3
    shift 3
    out=$("$@" 2>&1)
    rc=$?
    if [ "$rc" = "$status" ] && echo "$out" | grep -q -- "$pattern"; then ok "$name"
    else fail "$name (status $rc): $out"; fi
}
expect "--help" 0 "usage: uffdmap" "$wrap" --help
expect "unknown option" 2 "unknown option --bogus" "$wrap" --bogus 1 -- true
expect "bad size" 2 "--bufsize 'lots' is not a size" "$wrap" --paths x --bufsize lots -- true
expect "bad count" 2 "--fillers 'two' is not a whole number" "$wrap" --paths x --fillers two -- true
expect "missing value" 2 "--pagesize needs a value" "$wrap" --pagesize
expect "no program" 2 "no program to run" "$wrap" --paths x
expect "no paths" 2 "--paths is required" "$wrap" -- true
expect "no library" 2 "cannot find libuffdmap.so at /nonexistent" "$wrap" --lib /nonexistent --paths x -- true
expect "bad value reaches the library" 0 "UFFDMAP_EVICT='lru9' is not valid" \
    "$wrap" --lib "$so" --paths "$dir/*" --evict lru9 -- "$mapcat" "$file"
expect "--io reaches the library" 0 "UFFDMAP_IO='fast' is not valid" \
    "$wrap" --lib "$so" --paths "$dir/*" --io fast -- "$mapcat" "$file"
want=$("$mapcat" "$file" | cut -d' ' -f1)
out=$("$wrap" --lib "$so" --paths "$dir/*" --bufsize 1M --pagesize 16K --stats -- "$mapcat" "$file" 2>"$dir/err")
case "$out" in "$want managed "*) ok "served, same digest" ;; *) fail "run: $out" ;; esac
grep -q "stats: .*prog=mapcat mappings=1" "$dir/err" && ok "--stats" || fail "--stats: $(cat "$dir/err")"
"$wrap" --lib "$so" --paths "$dir/*" --stats=json -- "$mapcat" "$file" >/dev/null 2>"$dir/err"
grep -q '^{"pid":.*"prog":"mapcat"' "$dir/err" && ok "--stats=json" || fail "--stats=json: $(cat "$dir/err")"
out=$(cd / && env -u UFFDMAP_LIB "$built" --paths "$dir/*" --stats -- "$mapcat" "$file" 2>"$dir/err")
case "$out" in "$want managed "*) ok "build directory's wrapper finds its library" ;;
*) fail "build directory's wrapper: $out $(cat "$dir/err")" ;; esac
rm -f "$file" "$dir/err"
finish
