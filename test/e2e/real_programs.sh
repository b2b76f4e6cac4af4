#!/bin/sh
# Real, unmodified programs that mmap, each run without and with the preload on data larger
# than UFFDMAP_BUFSIZE; outputs and resulting files must be identical byte for byte, and the
# preloaded run must really have been served by the shim (UFFDMAP_LOG=debug says "serving").
#   sqlite3 with PRAGMA mmap_size over the whole database: build, update, integrity_check, digests
#   python3 mmap: resize() (mremap), ACCESS_COPY (private writable), slicing; numpy.memmap w+/r+/c
#   git with pack files and core.packedGitWindowSize=1m: fsck --full, cat-file --batch-all-objects
# usage: real_programs.sh LIBUFFDMAP_SO DATA_DIR
set -u
so=$1 work=$2
rm -rf "$work"
mkdir -p "$work"
. "$(dirname "$0")/lib.sh"
shim() { # shim DIR CMD...: run under the preload, managing files in DIR
    d=$1
    shift
    env LD_PRELOAD="$so" UFFDMAP_PATHS="$d/*:$d/*/*:$d/*/*/*:$d/*/*/*/*" UFFDMAP_BUFSIZE=4M \
        UFFDMAP_PAGESIZE=16K UFFDMAP_LOG=debug "$@" 2>"$d.err"
}
served() { grep -q "uffdmap: serving" "$1.err"; }
same() { # same NAME A B: compare two files or outputs
    if cmp -s "$2" "$3"; then ok "$1"; else fail "$1 differs"; diff "$2" "$3" | head -5; fi
}

# --- sqlite3 --------------------------------------------------------------------------------
if command -v sqlite3 >/dev/null; then
    cat >"$work/build.sql" <<'SQL'
PRAGMA mmap_size=1073741824;
PRAGMA journal_mode=DELETE;
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 60000)
INSERT INTO t SELECT i, printf('key%08d', (i*7919) % 60000), zeroblob(200) FROM n;
CREATE INDEX tk ON t(k);
UPDATE t SET v = printf('%0200d', id) WHERE id % 3 = 0;
DELETE FROM t WHERE id % 11 = 0;
SQL
    cat >"$work/query.sql" <<'SQL'
PRAGMA mmap_size=1073741824;
PRAGMA integrity_check;
SELECT count(*), sum(length(v)), max(k) FROM t;
SELECT group_concat(id) FROM (SELECT id FROM t WHERE k BETWEEN 'key00010000' AND 'key00010200' ORDER BY k);
SQL
    for side in kernel shim; do
        d="$work/sqlite-$side"
        mkdir -p "$d"
        if [ $side = kernel ]; then
            sqlite3 "$d/db" <"$work/build.sql" >"$d.out" 2>&1
            sqlite3 "$d/db" <"$work/query.sql" >>"$d.out" 2>&1
        else
            shim "$d" sqlite3 "$d/db" <"$work/build.sql" >"$d.out"
            cp "$d.err" "$d.err1"
            shim "$d" sqlite3 "$d/db" <"$work/query.sql" >>"$d.out"
            cat "$d.err1" >>"$d.err"
        fi
    done
    size=$(stat -c %s "$work/sqlite-kernel/db")
    [ "$size" -gt $((4 << 20)) ] || fail "sqlite database only $size bytes, not above the budget"
    served "$work/sqlite-shim" && ok "sqlite3 served by the shim" || fail "sqlite3 not served"
    same "sqlite3 output" "$work/sqlite-kernel.out" "$work/sqlite-shim.out"
    same "sqlite3 database file" "$work/sqlite-kernel/db" "$work/sqlite-shim/db"
    grep -q "^ok$" "$work/sqlite-shim.out" && ok "sqlite3 integrity_check" || fail "integrity_check"
else
    skip "sqlite3 not installed"
fi

# --- python3 mmap and numpy.memmap ---------------------------------------------------------
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
cat >"$work/mm.py" <<'PY'
import hashlib, mmap, os, sys
d = sys.argv[1]
path = os.path.join(d, "data.bin")
with open(path, "wb") as f:
    f.write(bytes((i * 7 + i // 4096) % 256 for i in range(8 << 20)))
h = hashlib.sha256()
with open(path, "r+b") as f:
    m = mmap.mmap(f.fileno(), 0)
    h.update(m[:])
    m[100:104] = b"ABCD"
    m.resize(12 << 20)             # grows the file and the mapping (mremap)
    m[(10 << 20):(10 << 20) + 5] = b"grown"
    h.update(m[(8 << 20) - 10:(10 << 20) + 10])
    m.flush()
    m.close()
with open(path, "rb") as f:
    c = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    c[0:4] = b"copy"               # private: never reaches the file
    h.update(c[0:4096])
    c.close()
try:
    import numpy as np
    a = np.memmap(os.path.join(d, "arr.f64"), dtype="float64", mode="w+", shape=(1 << 20,))
    a[:] = np.arange(1 << 20) * 0.5
    a.flush()
    del a
    b = np.memmap(os.path.join(d, "arr.f64"), dtype="float64", mode="r+", shape=(1 << 20,))
    b[::1000] += 1
    b.flush()
    s = float(b.sum())
    del b
    c = np.memmap(os.path.join(d, "arr.f64"), dtype="float64", mode="c", shape=(1 << 20,))
    c[:] = 0
    s2 = float(np.memmap(os.path.join(d, "arr.f64"), dtype="float64", mode="r").sum())
    pid = os.fork()
    w = np.memmap(os.path.join(d, "arr.f64"), dtype="float64", mode="r+", shape=(1 << 20,))
    if pid == 0:
        w[1 << 19:] = 7
        w.flush()
        os._exit(0)
    w[:1 << 19] = 3
    w.flush()
    os.waitpid(pid, 0)
    del w
    r = np.memmap(os.path.join(d, "arr.f64"), dtype="float64", mode="r")
    print("numpy", s, s2, float(r.sum()))
except ImportError:
    print("numpy missing")
with open(path, "rb") as f:
    h.update(f.read())
print(h.hexdigest())
PY
for side in kernel shim; do
    d="$work/py-$side"
    mkdir -p "$d"
    if [ $side = kernel ]; then "$py" "$work/mm.py" "$d" >"$d.out" 2>&1
    else shim "$d" "$py" "$work/mm.py" "$d" >"$d.out"; fi
done
served "$work/py-shim" && ok "python3 served by the shim" || fail "python3 not served"
same "python3 mmap and numpy.memmap output" "$work/py-kernel.out" "$work/py-shim.out"
grep -q "numpy missing" "$work/py-kernel.out" && skip "numpy not installed for $py"

# --- git ------------------------------------------------------------------------------------
if command -v git >/dev/null; then
    src="$work/git-src"
    git init -q "$src"
    (cd "$src" && for i in $(seq 1 60); do
        head -c 200000 /dev/urandom | base64 >"f$((i % 20)).txt"
        git add -A && git -c user.name=t -c user.email=t@t commit -qm "c$i"
    done && git repack -adq)
    for side in kernel shim; do
        d="$work/git-$side"
        cp -a "$src" "$d"
        cmd="git -C $d -c core.packedGitWindowSize=1m -c core.packedGitLimit=4m"
        if [ $side = kernel ]; then
            { $cmd fsck --full 2>&1; $cmd cat-file --batch-all-objects --batch | sha256sum; } >"$d.out"
        else
            { shim "$d" $cmd fsck --full 2>&1; cp "$d.err" "$d.err1"
              shim "$d" $cmd cat-file --batch-all-objects --batch | sha256sum
              cat "$d.err1" >>"$d.err"; } >"$d.out"
        fi
    done
    pack=$(du -sk "$src/.git/objects/pack" | cut -f1)
    [ "$pack" -gt 4096 ] || fail "git pack only $pack KiB, not above the budget"
    served "$work/git-shim" && ok "git served by the shim" || fail "git not served"
    same "git fsck and cat-file digest" "$work/git-kernel.out" "$work/git-shim.out"
else
    skip "git not installed"
fi

finish
