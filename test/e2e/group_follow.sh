#!/bin/sh
# UFFDMAP_GROUP: a process reading in order a file that another member of its group holds
# resident is served runs of resident blocks at a time, as the reader of the file is served
# read-ahead windows, not one block per fault: else it cannot keep up with that reader and
# falls behind by more than the budget, to read the file once more (issue 13).
# A maps an 8 MiB file (2048 blocks of 4 KiB, budget 16M: nothing is evicted), reads it in
# order and keeps it mapped; then B, in the same group, reads it in order. B must read nothing
# from the file (fills=0), take at least 10x fewer faults than the file has blocks, and both
# must read the bytes the kernel's mmap reads (touch_pages's sum, run without the preload).
# usage: group_follow.sh LIBUFFDMAP_SO TOUCH_PAGES DATA_DIR
#   LIBUFFDMAP_SO empty, or E2E_NO_PRELOAD=1: the kernel's mmap (the sums only)
set -u
so=$1 prog=$2 dir=$3
[ "${E2E_NO_PRELOAD:-0}" = 1 ] && so=""
. "$(dirname "$0")/lib.sh"
rm -rf "$dir"
mkdir -p "$dir"
file=$dir/follow.bin blocks=2048
head -c $((blocks * 4096)) /dev/urandom >"$file"
stat_of() { # stat_of NAME STDERR_FILE
    sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$2" | head -n 1
}
shim() { # shim CMD...: CMD under the preload (when there is one), in this test's group
    if [ -n "$so" ]; then
        env LD_PRELOAD="$so" UFFDMAP_GROUP="group_follow_$$" UFFDMAP_PATHS="$dir/*.bin" \
            UFFDMAP_BUFSIZE=16M UFFDMAP_PAGESIZE=4K UFFDMAP_STATS=1 "$@"
    else
        env -u LD_PRELOAD "$@"
    fi
}
want=$(env -u LD_PRELOAD "$prog" "$file" seq)
mkfifo "$dir/hold"
shim "$prog" "$file" seq-hold <"$dir/hold" >"$dir/a.out" 2>"$dir/a.err" &
a=$!
exec 3>"$dir/hold"
# A has read the whole file once its result is out (or it failed): 60 s at most.
end=$(($(date +%s) + 60))
while [ ! -s "$dir/a.out" ] && kill -0 "$a" 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do
    sleep 0.05
done
shim "$prog" "$file" seq >"$dir/b.out" 2>"$dir/b.err"
b_rc=$?
exec 3>&-
wait "$a"
a_rc=$?
[ "$a_rc" = 0 ] && [ "$(cat "$dir/a.out")" = "$want" ] && ok "A read the kernel's bytes" ||
    fail "A: exit $a_rc, '$(cat "$dir/a.out")', the kernel's '$want': $(head -3 "$dir/a.err")"
[ "$b_rc" = 0 ] && [ "$(cat "$dir/b.out")" = "$want" ] && ok "B read the kernel's bytes" ||
    fail "B: exit $b_rc, '$(cat "$dir/b.out")', the kernel's '$want': $(head -3 "$dir/b.err")"
if [ -n "$so" ]; then
    faults=$(stat_of faults "$dir/b.err") fills=$(stat_of fills "$dir/b.err")
    echo "B, $blocks blocks resident: faults=$faults fills=$fills"
    [ "$fills" = 0 ] && ok "B read nothing from the file" || fail "B filled '$fills' blocks"
    if [ -n "$faults" ] && [ "$faults" -gt 0 ] && [ $((faults * 10)) -le "$blocks" ]; then
        ok "B took at least 10x fewer faults than the file has blocks"
    else
        fail "B took '$faults' faults for $blocks resident blocks"
    fi
fi
rm -rf "$dir"
finish
