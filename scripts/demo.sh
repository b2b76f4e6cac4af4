#!/bin/sh
# Build libuffdmap, then run a real, unmodified program under the preload: python3 hashes a
# 1 GiB file through mmap() with a 128 MiB page-cache budget. The digest must equal
# sha256sum's, and the peak RSS stays near the budget (kernel mmap's grows to the file size).
# The wall time of each run is printed beside it.
#   scripts/demo.sh [SIZE_MIB] [BUFSIZE]
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh gcc meson ninja-build pkg-config libcmocka-dev python3 coreutils
size_mib=${1:-1024}
bufsize=${2:-128M}
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
so=$(pwd)/build/libuffdmap.so

dir=${DEMO_DIR:-/var/tmp/uffdmap-demo}
mkdir -p "$dir"
file=$dir/demo.bin
if [ ! -f "$file" ] || [ "$(stat -c %s "$file")" != $((size_mib << 20)) ]; then
    echo "writing a ${size_mib} MiB file of random bytes to $file"
    head -c $((size_mib << 20)) /dev/urandom >"$file"
fi
hash_py='
import hashlib, mmap, resource, sys
with open(sys.argv[1], "rb") as f:
    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    digest = hashlib.sha256(m).hexdigest()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(digest, "peak RSS %d MiB" % rss)
'
now() { date +%s.%N; }
seconds() { awk "BEGIN { printf \"%.2f s\", $2 - $1 }"; }
want=$(sha256sum "$file" | cut -d" " -f1)
echo "sha256sum:                       $want"
t0=$(now)
kernel=$(python3 -c "$hash_py" "$file")
t1=$(now)
echo "python3 mmap, kernel:            $kernel, wall $(seconds "$t0" "$t1")"
shim=$(./scripts/uffdmap --lib "$so" --paths "$dir/*.bin" --bufsize "$bufsize" --stats -- \
    python3 -c "$hash_py" "$file")
t2=$(now)
echo "python3 mmap, uffdmap ($bufsize): $shim, wall $(seconds "$t1" "$t2")"
case "$shim" in
"$want "*) echo "OK: same bytes under the preload, with the budget above" ;;
*) echo "MISMATCH: the preload changed what the program read" >&2; exit 1 ;;
esac
