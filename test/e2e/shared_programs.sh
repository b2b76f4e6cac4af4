#!/bin/sh
# Real programs whose files are mapped more than once or remapped, on data larger than
# UFFDMAP_BUFSIZE, must be served by the shim throughout: no "uffdmap: " line on stderr but
# "uffdmap: serving ..." (so no mapping handed to the kernel), something served, and the same
# results as the kernel:
#   fio --ioengine=mmap randwrite with crc32c verification on a file 4x the budget
#   sqlite3 with PRAGMA mmap_size, its database growing past the budget (mremap), then
#     integrity_check and queries; output equal to a run without the preload on its own copy
#   python3 mmap: resize() bigger (ftruncate + mremap), stores, flush; file equal to the kernel's
#   numpy.memmap written by four forked multiprocessing workers, each its own rows spread over
#     the whole file, read back by the parent; sums and file equal to the kernel's
# usage: shared_programs.sh LIBUFFDMAP_SO DATA_DIR
set -u
so=$1 work=$2
rm -rf "$work"
mkdir -p "$work"
. "$(dirname "$0")/lib.sh"
shim() { # shim DIR CMD...: run under the preload, managing files in DIR, stderr to DIR.err
    d=$1
    shift
    env LD_PRELOAD="$so" UFFDMAP_PATHS="$d/*" UFFDMAP_BUFSIZE=4M UFFDMAP_PAGESIZE=64K \
        UFFDMAP_LOG=debug "$@" 2>>"$d.err"
}
clean() { # clean NAME DIR: served, and no shim line on stderr but "serving"
    if ! grep -q "^uffdmap: serving $2/" "$2.err"; then
        fail "$1: nothing served by the shim"
    elif grep "uffdmap: " "$2.err" | grep -v "^uffdmap: serving " >"$2.notices"; then
        fail "$1: the shim said:"
        sed 's/^/    /' "$2.notices" | head -5
    else
        ok "$1: served, no notice"
    fi
}
same() { # same NAME A B
    if cmp -s "$2" "$3"; then ok "$1"; else fail "$1 differs"; diff "$2" "$3" | head -5; fi
}

# --- fio ------------------------------------------------------------------------------------
if command -v fio >/dev/null; then
    d="$work/fio"
    mkdir -p "$d"
    out=$(shim "$d" fio --name=job --filename="$d/fio.bin" --rw=randwrite --bs=4k --size=16M \
        --verify=crc32c --ioengine=mmap --do_verify=1)
    if echo "$out" | grep -q "err= 0"; then ok "fio: err= 0"; else
        fail "fio"
        echo "$out" | tail -20
    fi
    clean fio "$d"
    rm -f "$d/fio.bin"
else
    skip "fio not installed"
fi

# --- sqlite3 --------------------------------------------------------------------------------
if command -v sqlite3 >/dev/null; then
    cat >"$work/db.sql" <<'SQL'
PRAGMA mmap_size=1073741824;
PRAGMA journal_mode=DELETE;
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 60000)
INSERT INTO t SELECT i, printf('key%08d', (i*7919) % 60000), zeroblob(200) FROM n;
CREATE INDEX tk ON t(k);
UPDATE t SET v = printf('%0200d', id) WHERE id % 3 = 0;
DELETE FROM t WHERE id % 11 = 0;
PRAGMA integrity_check;
SELECT count(*), sum(length(v)), max(k) FROM t;
SELECT group_concat(id) FROM (SELECT id FROM t WHERE k BETWEEN 'key00010000' AND 'key00010200' ORDER BY k);
SQL
    mkdir -p "$work/sqlite-kernel" "$work/sqlite"
    sqlite3 "$work/sqlite-kernel/db" <"$work/db.sql" >"$work/sqlite-kernel.out" 2>&1
    shim "$work/sqlite" sqlite3 "$work/sqlite/db" <"$work/db.sql" >"$work/sqlite.out"
    size=$(stat -c %s "$work/sqlite-kernel/db")
    [ "$size" -gt $((4 << 20)) ] || fail "sqlite database only $size bytes, not above the budget"
    grep -q "^ok$" "$work/sqlite-kernel.out" || fail "sqlite3 without the preload: no ok"
    same "sqlite3 output" "$work/sqlite-kernel.out" "$work/sqlite.out"
    clean sqlite3 "$work/sqlite"
else
    skip "sqlite3 not installed"
fi

# --- python3 mmap resize --------------------------------------------------------------------
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3 || true)
if [ -n "$py" ]; then
    cat >"$work/resize.py" <<'PY'
import hashlib, mmap, os, sys
path = os.path.join(sys.argv[1], "data.bin")
with open(path, "wb") as f:
    f.write(bytes((i * 7 + i // 4096) % 256 for i in range(8 << 20)))
with open(path, "r+b") as f:
    m = mmap.mmap(f.fileno(), 0)
    m[100:104] = b"ABCD"
    m.resize(16 << 20)             # grows the file and the mapping (mremap)
    for off in range(0, 16 << 20, 40961):
        m[off:off + 6] = b"stored"
    m.flush()
    print(hashlib.sha256(m[:]).hexdigest())
    m.close()
with open(path, "rb") as f:
    print(hashlib.sha256(f.read()).hexdigest())
PY
    mkdir -p "$work/py-kernel" "$work/py"
    "$py" "$work/resize.py" "$work/py-kernel" >"$work/py-kernel.out" 2>&1
    shim "$work/py" "$py" "$work/resize.py" "$work/py" >"$work/py.out"
    same "python3 mmap resize output" "$work/py-kernel.out" "$work/py.out"
    same "python3 mmap resize file" "$work/py-kernel/data.bin" "$work/py/data.bin"
    clean python3 "$work/py"
else
    skip "python3 not installed"
fi

# --- numpy.memmap with forked multiprocessing workers ---------------------------------------
if [ -n "$py" ] && "$py" -c "import numpy" 2>/dev/null; then
    cat >"$work/workers.py" <<'PY'
import multiprocessing as mp, os, sys
import numpy as np
ROWS, COLS = 4096, 1024          # 16 MiB of float32: 4x the budget
path = os.path.join(sys.argv[1], "matrix.f32")
def work(w):
    m = np.memmap(path, dtype=np.float32, mode="r+", shape=(ROWS, COLS))
    for r in range(w, ROWS, 4):  # rows interleaved: workers share every block
        m[r, :] = m[r, :] * 2 + w
    m.flush()
if __name__ == "__main__":
    np.arange(ROWS * COLS, dtype=np.float32).reshape(ROWS, COLS).tofile(path)
    shared = np.memmap(path, dtype=np.float32, mode="r+", shape=(ROWS, COLS))
    shared[0, 0] = -1            # a store before the fork, seen by the workers
    with mp.get_context("fork").Pool(4) as pool:
        pool.map(work, range(4))
    print(float(shared.sum(dtype=np.float64)), float(shared[0, 0]), float(shared[ROWS - 1, 5]))
    del shared
    print(float(np.fromfile(path, dtype=np.float32).sum(dtype=np.float64)))
PY
    mkdir -p "$work/np-kernel" "$work/np"
    "$py" "$work/workers.py" "$work/np-kernel" >"$work/np-kernel.out" 2>&1
    shim "$work/np" "$py" "$work/workers.py" "$work/np" >"$work/np.out"
    same "numpy.memmap fork workers output" "$work/np-kernel.out" "$work/np.out"
    same "numpy.memmap fork workers file" "$work/np-kernel/matrix.f32" "$work/np/matrix.f32"
    clean "numpy.memmap fork workers" "$work/np"
else
    skip "numpy not installed"
fi
finish
