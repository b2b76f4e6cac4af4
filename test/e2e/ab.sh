#!/bin/sh
# uffdmap-ab on a small real workload: both sides run, the JSON has the fields, the plot is
# drawn, and the mismatch check fires when the two sides' outputs differ.
# usage: ab.sh UFFDMAP_AB LIBUFFDMAP_SO MAPCAT DATA_DIR
set -u
ab=$1 so=$2 mapcat=$3 dir=$4
mkdir -p "$dir"
file="$dir/ab.bin"
head -c 8000000 /dev/urandom >"$file"
. "$(dirname "$0")/lib.sh"
# The digest alone: the same on both sides.
"$ab" --runs 2 --paths "$dir/*" --bufsize 2M --lib "$so" --no-drop-caches \
    --json "$dir/ab.json" --svg "$dir/ab.svg" -- sh -c "'$mapcat' '$file' | cut -c1-16" \
    >"$dir/out" 2>&1
rc=$?
cat "$dir/out"
[ $rc = 0 ] && ok "matching run exits 0" || fail "matching run exited $rc"
python3 - "$dir/ab.json" <<'PY' && ok "JSON has runs, summaries, ratio and the shim's stats" || fail "JSON"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["outputs_match"] is True
assert len(d["runs"]) == 4 and {r["side"] for r in d["runs"]} == {"kernel", "shim"}
for side in ("kernel", "shim"):
    for key in ("wall_s", "user_s", "sys_s", "maxrss_kib", "major_faults", "minor_faults", "read_bytes"):
        assert "median" in d["summary"][side][key], (side, key)
assert d["speedup_kernel_over_shim"] > 0 and d["confidence"]
shim = [r for r in d["runs"] if r["side"] == "shim"]
assert all(r["shim_stats"] and r["shim_stats"][0]["mappings"] == 1 for r in shim), shim
assert all(not r["shim_stats"] for r in d["runs"] if r["side"] == "kernel")
PY
grep -q "<svg" "$dir/ab.svg" && grep -q "uffdmap" "$dir/ab.svg" && ok "plot drawn" || fail "no plot"
# mapcat prints "managed" under the shim and "kernel" without: the outputs differ.
"$ab" --runs 1 --paths "$dir/*" --bufsize 2M --lib "$so" --no-drop-caches \
    --json "$dir/ab2.json" --svg "$dir/ab2.svg" -- "$mapcat" "$file" >"$dir/out" 2>&1
rc=$?
[ $rc = 3 ] && grep -q "MISMATCH" "$dir/out" && ok "mismatch detected (exit 3)" ||
    { fail "mismatch not detected (exit $rc)"; cat "$dir/out"; }
"$ab" --runs 1 --paths x -- >"$dir/out" 2>&1
[ $? = 2 ] && grep -q "no program to run" "$dir/out" && ok "bad command line" || fail "bad command line"
"$ab" --runs 1 --paths x --set FOO=1 -- true >"$dir/out" 2>&1
[ $? = 2 ] && grep -q "is not UFFDMAP_NAME=VALUE" "$dir/out" && ok "bad --set" || fail "bad --set"
rm -f "$file" "$dir"/ab*.json "$dir"/ab*.svg "$dir/out"
finish
