#!/bin/sh
# Paging benchmark: kernel mmap against the preload on the same file, same run: sequential and
# random reads, and random read-modify-write through a shared writable mapping (with msync).
#   scripts/bench-read.sh [SIZE_MIB [BUFSIZE]]       (defaults: 1024 MiB file, 256M budget)
# Prints per configuration the time per 4 KiB page touched and MB/s, with the ratio to kernel
# mmap. "warm" runs read a file already in the page cache; "cold" runs (root only) drop the
# caches first. Random runs touch as many random pages as the file has (with repeats).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
size_mib=${1:-1024}
bufsize=${2:-256M}
build=${BUILD:-$here/build}
[ -x "$build/scripts/bench-scan" ] || { meson setup "$build" "$here" >/dev/null; }
ninja -C "$build" >/dev/null
dir=${BENCH_DIR:-/var/tmp/uffdmap-bench}
mkdir -p "$dir"
file="$dir/bench.bin"
if [ ! -f "$file" ] || [ "$(stat -c %s "$file")" != $((size_mib << 20)) ]; then
    head -c $((size_mib << 20)) /dev/urandom >"$file"
fi
bench=$build/scripts/bench-scan
so=$build/libuffdmap.so
can_drop=false
[ -w /proc/sys/vm/drop_caches ] && can_drop=true

run() { # run LABEL TEMP MODE ENV...
    label=$1 temp=$2 mode=$3
    shift 3
    if [ "$temp" = cold ]; then sync; echo 3 >/proc/sys/vm/drop_caches; else cat "$file" >/dev/null; fi
    env "$@" "$bench" "$file" "$mode" | sed -n 's/.*us_per_page=\([^ ]*\) MBps=\([^ ]*\).*/\1 \2/p' |
        { read -r us mbps; echo "$label $temp $mode $us $mbps"; }
}

echo "file ${size_mib} MiB, UFFDMAP_BUFSIZE=$bufsize, $(nproc) CPUs, kernel $(uname -r)"
printf '%-22s %-5s %-5s %12s %9s %10s\n' config cache mode us/page MB/s vs-kernel
temps=warm
$can_drop && temps="warm cold"
for temp in $temps; do
    for mode in seq rand rmw; do
        base=$(run kernel "$temp" "$mode" UFFDMAP_UNUSED=1)
        kus=$(echo "$base" | cut -d' ' -f4)
        echo "$base" | awk -v k="$kus" '{printf "%-22s %-5s %-5s %12.3f %9.0f %9.2fx\n", $1, $2, $3, $4, $5, k / $4}'
        for ps in 4K 64K; do
            run "uffdmap-pagesize=$ps" "$temp" "$mode" LD_PRELOAD="$so" UFFDMAP_PATHS="$file" \
                UFFDMAP_BUFSIZE="$bufsize" UFFDMAP_PAGESIZE="$ps" |
                awk -v k="$kus" '{printf "%-22s %-5s %-5s %12.3f %9.0f %9.2fx\n", $1, $2, $3, $4, $5, k / $4}'
        done
    done
done
echo "(vs-kernel > 1 means faster than kernel mmap; the kernel side has no memory limit here)"
