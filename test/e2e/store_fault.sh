#!/bin/sh
# A store to a page not yet filled, in a shared writable mapping, costs one fault: the page goes
# in writable and dirty with the fill, not write-protected (which would take a second, write-
# protect fault). From the shim's statistics, with 4 KiB pages and no read-ahead; and the
# stores reach the file. (A read before the store still takes two faults, as with the kernel.)
# usage: store_fault.sh LIBUFFDMAP_SO TOUCH_PAGES DATA_DIR
set -u
so=$1 prog=$2 dir=$3
mkdir -p "$dir"
file="$dir/store.bin"
head -c $((16 << 20)) /dev/urandom >"$file"
printf '\000' | dd of="$file" bs=1 seek=$((4096 * 100 + 17)) conv=notrunc status=none
stat_of() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$dir/err" | head -n 1; }
. "$(dirname "$0")/lib.sh"
env LD_PRELOAD="$so" UFFDMAP_PATHS="$dir/*" UFFDMAP_BUFSIZE=64M UFFDMAP_PAGESIZE=4K \
    UFFDMAP_READAHEAD=none UFFDMAP_STATS=1 "$prog" "$file" store >/dev/null 2>"$dir/err" ||
    fail "program failed: $(cat "$dir/err")"
faults=$(stat_of faults) wp=$(stat_of wp_faults) dirtied=$(stat_of dirtied_pages)
echo "4096 stores to distinct unfilled pages: faults=$faults wp_faults=$wp dirtied_pages=$dirtied"
[ "$dirtied" = 4096 ] && ok "every stored page marked dirty" || fail "dirtied_pages=$dirtied"
# A racing duplicate event may add a few faults; a second fault per store would add 4096.
[ -n "$wp" ] && [ "$wp" -lt 64 ] && [ "$faults" -lt $((4096 + 64)) ] &&
    ok "one fault per store" || fail "stores took extra faults"
after=$(od -An -tu1 -j $((4096 * 100 + 17)) -N1 "$file" | tr -d ' ')
[ "$after" = 165 ] && ok "the store reached the file" || fail "byte is $after, stored 165"
rm -f "$file" "$dir/err"
finish
