#!/bin/sh
# Fills read what the page cache does not hold with O_DIRECT (UFFDMAP_IO=auto), so a scan of a
# cold file leaves it uncached -- one copy of the data, inside the budget -- and still reads
# the right bytes, to the last partial page; with UFFDMAP_IO=buffered the same scan caches
# the file (the counterpart that shows the check can fail). Needs a file system with O_DIRECT.
# usage: direct_io.sh LIBUFFDMAP_SO MAPCAT DATA_DIR
set -u
so=$1 mapcat=$2 dir=$3
. "$(dirname "$0")/lib.sh"
mkdir -p "$dir"
f="$dir/cold.bin"
head -c $((24 * 1048576 + 1234)) /dev/urandom >"$f"
sync "$f"
expect=$("$mapcat" "$f" | cut -d' ' -f1)
uncache() { python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$1"; }
cached_pages() { fincore --bytes --noheadings --output PAGES "$1" | tr -d ' '; }
scan() { # scan UFFDMAP_IO
    uncache "$f"
    env LD_PRELOAD="$so" UFFDMAP_PATHS="$f" UFFDMAP_BUFSIZE=8M UFFDMAP_IO="$1" "$mapcat" "$f"
}
if ! python3 -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT))' "$f" 2>/dev/null; then
    skip "no O_DIRECT on $(df --output=fstype "$dir" | tail -1)"
    finish
    exit $?
fi
for io in auto direct buffered; do
    out=$(scan "$io" | cut -d' ' -f1,2)
    pages=$(cached_pages "$f")
    echo "UFFDMAP_IO=$io: $out; $pages of 6145 pages cached after the scan"
    [ "$out" = "$expect managed" ] && ok "$io: right bytes" || fail "$io: read $out, expected $expect managed"
    if [ "$io" = buffered ]; then
        [ "$pages" -gt 3000 ] && ok "buffered: the scan cached the file" ||
            fail "buffered: only $pages pages cached"
    else
        [ "$pages" -lt 64 ] && ok "$io: the file stayed uncached" || fail "$io: $pages pages cached"
    fi
done
rm -f "$f"
finish
