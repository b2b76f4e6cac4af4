#!/bin/sh
# A write-back that fails with EIO: a FUSE file system (eiofs.py) whose writes all fail.
# usage: eio.sh LIBUFFDMAP_SO MSYNC_EIO EIOFS_PY
set -u
so=$1 prog=$2 fs=$3
if [ "$(id -u)" != 0 ] || [ ! -e /dev/fuse ] || ! command -v fusermount3 >/dev/null ||
   ! /usr/bin/python3 -c "import fusepy" 2>/dev/null; then
    echo "skip: needs root, /dev/fuse, fusermount3 and python3-fusepy"
    exit 77
fi
mnt=$(mktemp -d)
/usr/bin/python3 "$fs" "$mnt" &
fspid=$!
for _ in $(seq 50); do [ -e "$mnt/data.bin" ] && break; sleep 0.1; done
out=$(LD_PRELOAD="$so" UFFDMAP_PATHS="$mnt/*" UFFDMAP_BUFSIZE=16M timeout 60 "$prog" "$mnt/data.bin" 2>&1)
rc=$?
fusermount3 -u "$mnt" 2>/dev/null || kill "$fspid"
wait "$fspid" 2>/dev/null
rmdir "$mnt"
echo "$out"
[ $rc = 0 ] || { echo "FAIL: exit status $rc"; exit 1; }
echo "$out" | grep -q "stores could not be written back at exit: Input/output error" ||
    { echo "FAIL: the unwritable store was not reported at exit"; exit 1; }
echo "1 passed, 0 failed"
