#!/bin/sh
# Write-back failures on a real full file system: a 2 MiB tmpfs in a private mount namespace.
# usage: enospc.sh LIBUFFDMAP_SO MSYNC_ENOSPC
set -u
so=$1 prog=$2
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
    echo "skip: needs root and unshare to mount a tmpfs"
    exit 77
fi
out=$(unshare -m sh -c '
    dir=$(mktemp -d)
    mount -t tmpfs -o size=2M tmpfs "$dir" || exit 77
    head -c 1572864 /dev/zero >"$dir/ballast"
    LD_PRELOAD="$1" UFFDMAP_PATHS="$dir/*" UFFDMAP_BUFSIZE=16M "$2" "$dir" "$dir/ballast"
    rc=$?
    umount "$dir"; rmdir "$dir"
    exit $rc' sh "$so" "$prog" 2>&1)
rc=$?
echo "$out"
[ $rc = 77 ] && exit 77
[ $rc = 0 ] || { echo "FAIL: exit status $rc"; exit 1; }
echo "$out" | grep -q "stores could not be written back at exit: No space left on device" ||
    { echo "FAIL: no report of the stores lost at exit"; exit 1; }
echo "1 passed, 0 failed"
