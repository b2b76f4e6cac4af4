#!/bin/sh
# Shared-cache benchmark (UFFDMAP_GROUP): four unrelated processes scan one file, four times the
# budget, at once: once under the preload, all four in one group (one cache, one budget), once
# with the kernel's mmap. Each side runs in a memory cgroup of its own (cgroup v1) after the
# caches are dropped, and prints:
#   peak memory of the four together (the cgroup's memory.max_usage_in_bytes: their own memory,
#     the page cache they read and the shim's memfd pages), against the target
#     budget x 1.05 + 16 MiB x 4 (the budget plus each process's own memory)
#   bytes read from storage: the four processes' read_bytes (/proc/PID/io, reaped children
#     included), and the device's sectors read (/sys/dev/block/MAJ:MIN/stat, the whole device),
#     against the file size: one shared cache reads the file about once, four caches four times
#   wall time of the slowest and the checksums (all eight must agree)
#   scripts/bench-group.sh [--bufsize SIZE] [--size SIZE] [--procs N] [--mode seq|rand|...]
#                          [--runs N] [--dir DIR] [--build DIR]
# Defaults: --bufsize 256M, --size 4 x bufsize, --procs 4, --mode seq (bench-scan's modes),
# --runs 1 (each side; interleaved), --dir /var/tmp/uffdmap-bench-group (a disk, not tmpfs),
# --build build. Root only (cgroups, drop_caches). Not a CI test: a person runs it.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
bufsize=256M size="" procs=4 mode=seq runs=1 dir=/var/tmp/uffdmap-bench-group build=$here/build
while [ $# -gt 0 ]; do
    case "$1" in -h | --help) ;; *) [ $# -ge 2 ] || { echo "bench-group: $1 needs a value" >&2; exit 2; } ;; esac
    case "$1" in
    --bufsize) bufsize=$2 ;;
    --size) size=$2 ;;
    --procs) procs=$2 ;;
    --mode) mode=$2 ;;
    --runs) runs=$2 ;;
    --dir) dir=$2 ;;
    --build) build=$2 ;;
    -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-group: unknown option $1" >&2; exit 2 ;;
    esac
    shift 2
done
bytes() { # bytes SIZE: 256M -> 268435456
    echo "$1" | awk '{ n = $0 + 0; u = toupper(substr($0, length($0)));
        m = u == "K" ? 1024 : u == "M" ? 1048576 : u == "G" ? 1073741824 : u == "T" ? 1099511627776 : 1;
        printf "%.0f\n", n * m }'
}
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
budget=$(bytes "$bufsize")
size=$(bytes "${size:-$((budget * 4))}")
[ "$(id -u)" = 0 ] || { echo "bench-group: run as root (memory cgroup, drop_caches)" >&2; exit 1; }
cgroot=/sys/fs/cgroup/memory
[ -w "$cgroot/cgroup.procs" ] || { echo "bench-group: no cgroup v1 memory controller at $cgroot" >&2; exit 1; }
[ -x "$build/scripts/bench-scan" ] || meson setup "$build" "$here" >/dev/null
ninja -C "$build" >/dev/null
bench=$build/scripts/bench-scan so=$build/libuffdmap.so

mkdir -p "$dir"
file=$dir/scan.bin
if [ ! -f "$file" ] || [ "$(stat -c %s "$file")" != "$size" ]; then
    echo "making $file ($(mib "$size") MiB)"
    head -c "$size" /dev/urandom >"$file"
fi
devstat=/sys/dev/block/$(stat -c '%Hd:%Ld' "$file" 2>/dev/null || echo none)/stat
[ -r "$devstat" ] || devstat=""
target=$(awk -v b="$budget" -v p="$procs" 'BEGIN { printf "%.0f", b * 1.05 + 16 * 1048576 * p }')
echo "file $(mib "$size") MiB, budget $bufsize, $procs processes ($mode), $(nproc) CPUs, kernel $(uname -r)"
echo "device stats: ${devstat:-none found (only read_bytes)}"
printf '%-8s %8s %12s %12s %14s %14s %10s  %s\n' side wall_s peak_MiB target_MiB \
    read_MiB dev_read_MiB file_MiB verdict

side() { # side kernel|group RUN
    name=$1
    cg=$cgroot/uffdmap-bench-group-$$-$name-$2
    mkdir "$cg"
    out=$(mktemp -d)
    sync
    echo 3 >/proc/sys/vm/drop_caches
    echo 0 >"$cg/memory.max_usage_in_bytes"
    dev0=$([ -n "$devstat" ] && awk '{ print $3 }' "$devstat" || echo 0)
    t0=$(date +%s.%N)
    i=0
    while [ $i -lt "$procs" ]; do
        if [ "$name" = group ]; then
            set -- env LD_PRELOAD="$so" UFFDMAP_GROUP="bench_group_$$" UFFDMAP_PATHS="$file" \
                UFFDMAP_BUFSIZE="$bufsize"
        else
            set -- env -u LD_PRELOAD
        fi
        # Each in the cgroup before it starts; its read_bytes is read by the shell that reaped it.
        sh -c 'echo $$ >"$1/cgroup.procs"; o=$2; shift 2; "$@" >"$o.out" 2>"$o.err"
               echo $? >"$o.rc"; sed -n "s/^read_bytes: //p" /proc/$$/io >"$o.io"' \
            sh "$cg" "$out/$i" "$@" "$bench" "$file" "$mode" &
        i=$((i + 1))
    done
    wait
    t1=$(date +%s.%N)
    dev1=$([ -n "$devstat" ] && awk '{ print $3 }' "$devstat" || echo 0)
    peak=$(cat "$cg/memory.max_usage_in_bytes")
    rd=$(cat "$out"/*.io | awk '{ s += $1 } END { print s + 0 }')
    bad=$(cat "$out"/*.rc | grep -vc '^0$' || true)
    cat "$out"/*.out | sed -n 's/.*checksum=//p' >>"$sums"
    verdict="peak $([ "$peak" -le "$target" ] && echo within || echo OVER) target, file read $(awk -v r="$rd" -v s="$size" 'BEGIN { printf "%.2f", r / s }')x"
    [ "$bad" = 0 ] || verdict="$bad failed: $(cat "$out"/*.err | head -3)"
    printf '%-8s %8.2f %12s %12s %14s %14s %10s  %s\n' "$name" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
        "$(mib "$peak")" "$(mib "$target")" "$(mib "$rd")" \
        "$([ -n "$devstat" ] && mib $(((dev1 - dev0) * 512)) || echo -)" "$(mib "$size")" "$verdict"
    rm -rf "$out"
    rmdir "$cg" 2>/dev/null || true
}

sums=$(mktemp)
r=1
while [ "$r" -le "$runs" ]; do
    side kernel "$r"
    side group "$r"
    r=$((r + 1))
done
if [ "$(sort -u "$sums" | wc -l)" = 1 ]; then
    echo "checksums: all $(wc -l <"$sums") scans agree"
else
    echo "checksums DIFFER: $(sort "$sums" | uniq -c | tr '\n' ' ')"
    rm -f "$sums"
    exit 3
fi
rm -f "$sums"
echo "(the kernel side has no memory limit: its peak is the page cache it was free to keep)"
