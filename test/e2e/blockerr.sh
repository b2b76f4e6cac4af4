#!/bin/sh
# msync(MS_SYNC) when the disk fails the writes: ext4 on a loop device whose backing file lives
# on a full tmpfs. The program must see the same error with the preload as without it.
# usage: blockerr.sh LIBUFFDMAP_SO MSYNC_BLOCKERR
set -u
so=$1 prog=$2
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null || ! command -v mkfs.ext4 >/dev/null; then
    echo "skip: needs root, unshare and mkfs.ext4"
    exit 77
fi
run() { # run WITH_PRELOAD: prints the program's line, or "setup-failed"
    unshare -m sh -c '
        t=$(mktemp -d)
        mount -t tmpfs -o size=24M tmpfs "$t" || { echo setup-failed; exit 0; }
        truncate -s 20M "$t/img"
        mkfs.ext4 -q -E lazy_itable_init=0,lazy_journal_init=0 "$t/img" &&
            mkdir "$t/mnt" && mount -o loop "$t/img" "$t/mnt" || { echo setup-failed; exit 0; }
        truncate -s 1M "$t/mnt/data.bin"
        sync
        dd if=/dev/zero of="$t/ballast" bs=64k 2>/dev/null
        if [ "$1" = yes ]; then
            LD_PRELOAD="$2" UFFDMAP_PATHS="$t/mnt/*" UFFDMAP_BUFSIZE=16M "$3" "$t/mnt"
        else
            "$3" "$t/mnt"
        fi
        umount -l "$t/mnt"; umount -l "$t"; rmdir "$t" 2>/dev/null
        exit 0' sh "$1" "$so" "$prog" 2>&1
}
kernel=$(run no)
shim=$(run yes)
echo "kernel mmap: $kernel"
echo "preload:     $shim"
case "$kernel" in *setup-failed*|"") echo "skip: could not set up a failing disk"; exit 77 ;; esac
k=${kernel%% *} s=${shim%% *}
[ "$k" != 0 ] || { echo "skip: the kernel saw no error here"; exit 77; }
case "$shim" in *" managed") ;; *) echo "FAIL: not served by the shim"; exit 1 ;; esac
[ "$k" = "$s" ] || { echo "FAIL: msync errno $s, kernel $k"; exit 1; }
echo "1 passed, 0 failed"
