#!/bin/sh
# Budget shares per UFFDMAP_PATHS entry, from the shim's per-file statistics: with the big
# file under a share, the small file loses no page; without the share, it does.
# usage: share.sh LIBUFFDMAP_SO SHARE_PROGRAM DATA_DIR
set -u
so=$1 prog=$2 dir=$3
mkdir -p "$dir"
evictions_of() { # evictions_of FILE_NAME STATS_JSON
    python3 -c 'import json, sys; d = json.load(open(sys.argv[2])); print(sum(f["evictions"] for f in d["files"] if f["path"].endswith(sys.argv[1])))' "$1" "$2"
}
run() { # run PATHS
    env LD_PRELOAD="$so" UFFDMAP_PATHS="$1" UFFDMAP_BUFSIZE=16M UFFDMAP_PAGESIZE=64K \
        UFFDMAP_STATS="$dir/stats.json" "$prog" "$dir" >/dev/null
}
. "$(dirname "$0")/lib.sh"
run "$dir/share_big.bin{share=4M}:$dir/*" || fail "program failed"
with=$(evictions_of share_small.bin "$dir/stats.json")
big=$(evictions_of share_big.bin "$dir/stats.json")
run "$dir/*" || fail "program failed"
without=$(evictions_of share_small.bin "$dir/stats.json")
echo "small file evictions: with the share $with, without $without (big file with share: $big)"
if [ "$with" = 0 ] && [ "$without" -gt 0 ] && [ "$big" -gt 0 ]; then
    ok "the share kept the scan to its own pages"
else
    fail "the share did not confine the scan"
fi
rm -f "$dir/stats.json"
finish
