#!/bin/sh
# fio, unmodified, as a user would run it: random 4 KiB writes through mmap with crc32c
# verification on a file 4x UFFDMAP_BUFSIZE, then a verify-only pass in a new process under the
# preload, then a verify-only pass with plain pread and no preload; then two jobs, as processes
# and as threads, each on its own file. Every run must report no error, and the runs under the
# preload must really be served by the shim.
# usage: fio.sh LIBUFFDMAP_SO DATA_DIR
set -u
so=$1 dir=$2
command -v fio >/dev/null || { echo "skip: fio is not installed"; exit 77; }
mkdir -p "$dir"
file="$dir/fio.bin"
rm -f "$file"
passed=0 failed=0
check() { # check NAME OUTPUT MUST_BE_SERVED
    if ! echo "$2" | grep -q "err= 0" || echo "$2" | grep -q "(not two clean jobs)"; then
        echo "FAIL: $1"; echo "$2" | tail -20; failed=$((failed + 1)); return
    fi
    if [ "$3" = yes ] && ! echo "$2" | grep -q "uffdmap: serving $dir/"; then
        echo "FAIL: $1 was not served by the shim"; failed=$((failed + 1)); return
    fi
    echo "ok: $1"; passed=$((passed + 1))
}
common="--name=job --filename=$file --rw=randwrite --bs=4k --size=64M --verify=crc32c"
shim() { env LD_PRELOAD="$so" UFFDMAP_PATHS="$dir/*" UFFDMAP_BUFSIZE=16M UFFDMAP_LOG=debug "$@"; }

# shellcheck disable=SC2086
out=$(shim fio $common --ioengine=mmap --do_verify=1 2>&1)
check "write and verify through mmap" "$out" yes
# shellcheck disable=SC2086
out=$(shim fio $common --ioengine=mmap --verify_only 2>&1)
check "verify through mmap in a new process" "$out" yes
# shellcheck disable=SC2086
out=$(fio $common --ioengine=psync --verify_only 2>&1)
check "verify with pread, no preload" "$out" no
for mode in processes threads; do
    rm -f "$dir"/job.*
    extra=""
    [ $mode = threads ] && extra=--thread
    jobs="--name=job --directory=$dir --rw=randwrite --bs=4k --size=32M --numjobs=2 --verify=crc32c"
    # shellcheck disable=SC2086
    out=$(shim fio $jobs $extra --ioengine=mmap --do_verify=1 2>&1)
    [ "$(echo "$out" | grep -c "err= 0")" = 2 ] && ! echo "$out" | grep -q "err=[ ]*[1-9]" ||
        out="$out (not two clean jobs)"
    check "two jobs as $mode, write and verify through mmap" "$out" yes
    # shellcheck disable=SC2086
    out=$(fio $jobs --ioengine=psync --verify_only 2>&1)
    [ "$(echo "$out" | grep -c "err= 0")" = 2 ] || out="$out (not two clean jobs)"
    check "two jobs as $mode, verify with pread, no preload" "$out" no
done
rm -f "$file" "$dir"/job.*
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
