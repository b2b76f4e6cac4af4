#!/bin/sh
# Read-ahead within the budget: 16 threads scan their own parts of a file 32x the budget with
# fixed read-ahead windows (budget / 8 each) and 32 fillers, whose windows together are 4x the
# budget. A filler filling a window must not wait for room other fillers' windows hold: the
# budget is kept (the shim's peak charge, and the peak resident set within budget x 1.05 +
# 16 MiB + the fillers' 2 MiB read buffers), no notice says it went over, and every page reads
# as pread() reads the file.
# usage: readahead_budget.sh LIBUFFDMAP_SO RA_THREADS DATA_DIR
set -u
so=$1 prog=$2 dir=$3
. "$(dirname "$0")/lib.sh"
mkdir -p "$dir"
file="$dir/scan.bin"
head -c $((256 << 20)) /dev/urandom >"$file"
budget=$((8 << 20)) fillers=32
# The bound ends a stalled run (each stall lasted 2 s and there were hundreds): not a timing.
timeout 300 env LD_PRELOAD="$so" UFFDMAP_PATHS="$file" UFFDMAP_BUFSIZE=$budget \
    UFFDMAP_FILLERS=$fillers UFFDMAP_READAHEAD=fixed UFFDMAP_READAHEAD_MAX=1M \
    UFFDMAP_PAGESIZE=64K UFFDMAP_STATS=1 "$prog" "$file" 16 >"$dir/out" 2>"$dir/err"
rc=$?
cat "$dir/out"
set -- $(cat "$dir/out") "" ""
served=$1 hwm=$2
peak=$(sed -n 's/.* peak_resident=\([0-9]*\).*/\1/p' "$dir/err" | head -n 1)
[ "$rc" = 0 ] && [ "$served" = managed ] && ok "scan done, every page as the file" ||
    { fail "scan failed ($rc, 124: stalled)"; grep -v stats: "$dir/err"; }
if grep -q "over its budget" "$dir/err"; then
    fail "the notice that the budget went over: $(grep "over its budget" "$dir/err")"
else
    ok "no notice of going over the budget"
fi
echo "budget=$budget peak charged=${peak:-?} peak resident=${hwm:-?}"
[ -n "$peak" ] && [ "$peak" -le $budget ] && ok "peak charge within the budget" ||
    fail "peak charge ${peak:-?} over the budget $budget"
most=$((budget * 105 / 100 + (16 << 20) + fillers * (2 << 20)))
[ -n "$hwm" ] && [ "$hwm" -le $most ] && ok "peak resident set within $most" ||
    fail "peak resident set ${hwm:-?} over $most"
rm -f "$file" "$dir/out" "$dir/err"
finish
