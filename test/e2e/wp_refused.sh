#!/bin/sh
# Stores when the kernel refuses UFFDIO_WRITEPROTECT, or UFFDIO_CONTINUE/COPY (a seccomp filter, see
# wp_refused.c): the program's output and the file's bytes must be those of the same run on the
# kernel's mmap, for one process and for a fork child whose pages its parent writes back.
# usage: wp_refused.sh LIBUFFDMAP_SO WP_REFUSED DATA_DIR
set -u
so=$1 prog=$2 dir=$3
. "$(dirname "$0")/lib.sh"
mkdir -p "$dir"
for mode in written read fork continue copy minor; do
    for pagesize in 64K 4K; do
        what="$mode, $pagesize blocks"
        head -c $((1 << 20)) /dev/urandom >"$dir/orig"
        cp "$dir/orig" "$dir/kernel.bin"
        cp "$dir/orig" "$dir/shim.bin"
        # A hang is a failure: the bound is only there so that the test ends.
        timeout 60 "$prog" "$dir/kernel.bin" $mode >"$dir/kernel.out" 2>"$dir/kernel.err"
        krc=$?
        timeout 60 env LD_PRELOAD="$so" UFFDMAP_PATHS="$dir/shim.bin" UFFDMAP_BUFSIZE=16M \
            UFFDMAP_PAGESIZE=$pagesize "$prog" "$dir/shim.bin" $mode >"$dir/shim.out" \
            2>"$dir/shim.err"
        src=$?
        if [ "$krc" != 0 ]; then
            fail "$what: the program failed on the kernel's mmap ($krc)"
            cat "$dir/kernel.err"
            continue
        fi
        if [ "$(head -n 1 "$dir/shim.out")" != managed ]; then
            fail "$what: the mapping was not served by the shim"
        elif [ "$src" != 0 ]; then
            fail "$what: exit status $src under the preload (124: hung)"
        elif [ "$(tail -n +2 "$dir/shim.out")" != "$(tail -n +2 "$dir/kernel.out")" ]; then
            fail "$what: output differs from the kernel's"
        elif ! cmp -s "$dir/kernel.bin" "$dir/shim.bin"; then
            fail "$what: the file differs from the kernel's: $(cmp -l "$dir/kernel.bin" \
                "$dir/shim.bin" | wc -l) bytes"
        else
            ok "$what: same output and file as the kernel's"
            continue
        fi
        echo "kernel:"; cat "$dir/kernel.out"
        echo "preload:"; cat "$dir/shim.out" "$dir/shim.err"
    done
done
rm -f "$dir/orig" "$dir/kernel.bin" "$dir/shim.bin" "$dir"/*.out "$dir"/*.err
finish
