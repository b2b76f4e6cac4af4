#!/bin/sh
# Before/after of two builds of the library, alternating runs (root: drops caches):
#   scripts/bench-before-after.sh BEFORE_LIB AFTER_LIB BENCH_SCAN
# W1 cold sequential scan (64K pages, 128M budget, 1 GiB file), the same warm with buffered pread
# for reference, cold random 4 KiB reads on 2 threads, a 4 KiB first-touch fault, then Zipf
# hit ratios (4x the budget) per policy. Files in /var/tmp/uffdmap-bench and /var/tmp/zb.
B=$1 A=$2 S=$3
F=/var/tmp/uffdmap-bench/ab-1g.bin; mkdir -p /var/tmp/uffdmap-bench; [ -f $F ] || head -c $((1<<30)) /dev/urandom > $F
Z=/var/tmp/zb/z.bin; mkdir -p /var/tmp/zb; [ -f $Z ] || head -c $((256<<20)) /dev/urandom > $Z
cold() { sync; echo 3 > /proc/sys/vm/drop_caches; }
run() { lib=$1; shift; env LD_PRELOAD=$lib UFFDMAP_PATHS="$F:$Z" "$@" 2>/dev/null; }
f() { echo "$1" | tr ' ' '\n' | grep "^$2=" | head -1 | cut -d= -f2; }
for i in 1 2 3; do
  for side in before after; do
    lib=$B; [ $side = after ] && lib=$A
    cold; o=$(run $lib UFFDMAP_BUFSIZE=128M $S $F seq); echo "W1 cold seq 64K $side MBps=$(f "$o" MBps) rss_kib=$(f "$o" maxrss_kib)"
    cat $F > /dev/null; o=$(run $lib UFFDMAP_BUFSIZE=128M $S $F seq); p=$($S $F pread); echo "W3 warm 64K $side us_per_page=$(f "$o" us_per_page) pread=$(f "$p" us_per_page)"
    cold; o=$(run $lib UFFDMAP_BUFSIZE=128M UFFDMAP_PAGESIZE=4K UFFDMAP_READAHEAD=none $S $F rand 20000 2); echo "W2 cold rand 4K x2 $side us_per_page=$(f "$o" us_per_page)"
    o=$(run $lib UFFDMAP_BUFSIZE=512M UFFDMAP_PAGESIZE=4K UFFDMAP_READAHEAD=none $S $Z rand 20000); echo "W3 warm 4K fault $side us_per_page=$(f "$o" us_per_page)"
  done
done
for p in fifo clock 2q; do for side in before after; do
  lib=$B; [ $side = after ] && lib=$A
  o=$(env LD_PRELOAD=$lib UFFDMAP_PATHS=$Z UFFDMAP_BUFSIZE=64M UFFDMAP_PAGESIZE=4K UFFDMAP_READAHEAD=none UFFDMAP_EVICT=$p UFFDMAP_STATS=json $S $Z zipf 400000 2>&1)
  fills=$(echo "$o" | grep -o '"fills":[0-9]*' | head -1 | cut -d: -f2)
  echo "zipf $p $side fills=$fills hit=$(awk "BEGIN{printf \"%.3f\", 1-$fills/400000}")"
done; done
