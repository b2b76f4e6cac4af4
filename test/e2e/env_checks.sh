#!/bin/sh
# Environment handling of the preload, checked on a real program (mapcat):
#   bad and unknown variables, the fallback when userfaultfd is not permitted, UFFDMAP_LOG,
#   UFFDMAP_STATS, and the symbols the library exports.
# usage: env_checks.sh LIBUFFDMAP_SO MAPCAT DATA_DIR
set -u
so=$1 mapcat=$2 dir=$3
mkdir -p "$dir"
file="$dir/env_checks.bin"
head -c 3000000 /dev/urandom >"$file"
chmod 0644 "$file"
chmod 0755 "$dir"
. "$(dirname "$0")/lib.sh"


want=$("$mapcat" "$file" | cut -d' ' -f1)

run() { # run ENV... : mapcat under the preload; sets out and err
    env LD_PRELOAD="$so" UFFDMAP_PATHS="$dir/*" UFFDMAP_BUFSIZE=4M "$@" "$mapcat" "$file" \
        >"$dir/out" 2>"$dir/err"
    out=$(cat "$dir/out")
    err=$(cat "$dir/err")
}

run
case "$out" in "$want managed "*) ok "served by the shim, same digest" ;;
    *) fail "plain run: '$out' (want '$want managed')" ;; esac
[ -z "$err" ] && ok "no output on stderr by default" || fail "unexpected stderr: $err"

run UFFDMAP_BUFSIZE=lots
case "$out" in "$want kernel "*) ok "bad UFFDMAP_BUFSIZE: kernel mmap, same digest" ;;
    *) fail "bad UFFDMAP_BUFSIZE: '$out'" ;; esac
echo "$err" | grep -q "UFFDMAP_BUFSIZE='lots' is not valid: expected a size of at least 1M" &&
    ok "bad UFFDMAP_BUFSIZE named with value and what is accepted" || fail "message: $err"

run UFFDMAP_GROUP=../escape
case "$out" in "$want kernel "*) ok "bad UFFDMAP_GROUP: kernel mmap, same digest" ;;
    *) fail "bad UFFDMAP_GROUP: '$out'" ;; esac
echo "$err" | grep -q "UFFDMAP_GROUP='../escape' is not valid: expected none, or a name" &&
    ok "bad UFFDMAP_GROUP named with value and what is accepted" || fail "message: $err"
[ ! -e "/dev/shm/uffdmap-$(id -u)/../escape.cache" ] && [ ! -e /dev/shm/escape.cache ] &&
    ok "a bad group name creates nothing" || fail "a file was made for group ../escape"

run UFFDMAP_PAGESIZE=3K UFFDMAP_LOG=quiet
echo "$err" | grep -q "UFFDMAP_PAGESIZE='3K' is not valid: expected a power of two" &&
    ok "configuration errors are printed even with UFFDMAP_LOG=quiet" || fail "quiet: $err"

run UFFDMAP_STATS=maybe
case "$out" in "$want managed "*) ok "bad UFFDMAP_STATS keeps paging on" ;;
    *) fail "bad UFFDMAP_STATS: '$out'" ;; esac
echo "$err" | grep -q "UFFDMAP_STATS='maybe' is not valid: expected 0, 1 (or text), json, or an absolute file path for JSON; using the default" &&
    ok "bad UFFDMAP_STATS reported" || fail "message: $err"

run UFFDMAP_BUFSZ=8M
echo "$err" | grep -q "unknown variable UFFDMAP_BUFSZ ignored; did you mean UFFDMAP_BUFSIZE?" &&
    ok "unknown variable gets a did-you-mean" || fail "did-you-mean: $err"

run UFFDMAP_STATS=1
echo "$err" | grep -Eq "stats: pid=[0-9]+ prog=mapcat mappings=1 .*faults=[1-9][0-9]* .*bytes_read=3000000 " &&
    ok "UFFDMAP_STATS=1 prints a summary at exit" || fail "stats: $err"

run UFFDMAP_STATS=json
echo "$err" | python3 -c 'import json, sys; d = json.loads(sys.stdin.read()); assert d["prog"] == "mapcat" and d["mappings"] == 1 and d["bytes_read"] == 3000000 and d["fault_us"]["p50"] > 0, d; f = d["files"][0]; assert f["path"].endswith("env_checks.bin") and f["mappings"] == 1 and f["faults"] > 0 and f["bytes_read"] == 3000000 and "readahead_used" in d, d' &&
    ok "UFFDMAP_STATS=json prints one JSON object" || fail "json stats: $err"

rm -f "$dir"/stats-*.json
run UFFDMAP_STATS="$dir/stats-%p.json"
python3 -c 'import glob, json, sys; f = glob.glob(sys.argv[1] + "/stats-*.json"); assert len(f) == 1 and json.load(open(f[0]))["mappings"] == 1, f' "$dir" &&
    ok "UFFDMAP_STATS=/path writes JSON there, %p the pid" || fail "stats file: $err"
rm -f "$dir"/stats-*.json
# Live statistics: the file exists and is rewritten while the program still runs.
env LD_PRELOAD="$so" UFFDMAP_PATHS="$dir/*" UFFDMAP_BUFSIZE=4M UFFDMAP_STATS="$dir/stats-live.json" \
    UFFDMAP_STATS_INTERVAL=1 "$mapcat" "$file" --sleep 30 >/dev/null 2>"$dir/err" &
live=$!
sleep 3
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["mappings"] == 1, d' \
    "$dir/stats-live.json" 2>/dev/null && kill -0 $live 2>/dev/null &&
    ok "UFFDMAP_STATS_INTERVAL rewrites the file while the program runs" ||
    fail "live stats: $(cat "$dir/err")"
kill $live 2>/dev/null # it sleeps long, so that a slow machine does not see it end early
wait $live
rm -f "$dir/stats-live.json"
ln -sf /nonexistent-target "$dir/stats-link.json"
run UFFDMAP_STATS="$dir/stats-link.json"
[ ! -e /nonexistent-target ] && echo "$err" | grep -q "not writing $dir/stats-link.json" &&
    ok "UFFDMAP_STATS never follows a symbolic link" || fail "symlink: $err"
rm -f "$dir/stats-link.json"

# Without permission for userfaultfd (an unprivileged user: no CAP_SYS_PTRACE, no access to
# /dev/userfaultfd, vm.unprivileged_userfaultfd=0), mappings fall back to the kernel.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null &&
   [ "$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null)" = 0 ]; then
    nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
    nobody env LD_PRELOAD="$so" UFFDMAP_PATHS="$dir/*" UFFDMAP_BUFSIZE=4M "$mapcat" "$file" \
        "$file" >"$dir/out" 2>"$dir/err"
    out=$(cat "$dir/out") err=$(cat "$dir/err")
    [ "$(echo "$out" | grep -c "^$want kernel ")" = 2 ] &&
        ok "no userfaultfd permission: kernel mmap, same digest" || fail "fallback: '$out'"
    [ "$(echo "$err" | grep -c "userfaultfd is not available")" = 1 ] &&
        ok "the fallback is said once" || fail "fallback notice: '$err'"
    nobody env LD_PRELOAD="$so" UFFDMAP_PATHS="$dir/*" UFFDMAP_LOG=quiet "$mapcat" "$file" \
        >"$dir/out" 2>"$dir/err"
    [ ! -s "$dir/err" ] && ok "UFFDMAP_LOG=quiet silences the notice" || fail "quiet: $(cat "$dir/err")"
else
    echo "skip: fallback checks need root, setpriv and vm.unprivileged_userfaultfd=0"
fi

syms=$(nm -D --defined-only "$so" | awk '{print $3}' | LC_ALL=C sort | tr '\n' ' ')
[ "$syms" = "_Fork clone close close_range closefrom creat creat64 dup2 dup3 execl execle execlp execv execve execveat execvp execvpe fallocate fallocate64 fexecve ftruncate ftruncate64 madvise mlock mlock2 mlockall mmap mmap64 mprotect mremap msync munlockall munmap open open64 openat openat64 pread pread64 preadv preadv64 pwrite pwrite64 pwritev pwritev64 read readv truncate truncate64 write writev " ] && ok "exports only the interposed functions" ||
    fail "exported symbols: $syms"

rm -f "$file" "$dir/out" "$dir/err"
finish
