"""Roles of group_sqlite_wal.sh: python3 sqlite3 in WAL mode with PRAGMA mmap_size larger than
the database, so that pages not in the WAL are read through mmap() of the database file (and the
wal-index, DB-shm, is mapped by every connection).

  setup DB N         accounts 1..N with 1000 each; every row also carries its balance in the
                     first ten characters of a ~2000-byte pad (two rows a page), so the table
                     is larger than the budget and a torn row shows
  writer DB N TX     TX transactions, each moving money between two accounts, or (one in ten)
                     from an account into a new one (the file grows); a version counter
                     goes up by one in each
  reader DB N DONE   snapshots in a loop until DONE exists: each must have sum(bal) = N * 1000,
                     no row whose pad disagrees with its balance, and a version no lower than
                     the last one seen; at the end it must have seen the version change
  check DB N         integrity_check, then the invariant, read by a fresh connection
"""
import os
import random
import sqlite3
import sys
import time

MMAP = 256 << 20
PAD = 1990


def connect(db):
    c = sqlite3.connect(db, timeout=40, isolation_level=None)
    c.execute(f"PRAGMA mmap_size={MMAP}")
    got = c.execute("PRAGMA mmap_size").fetchone()[0]
    assert got == MMAP, f"mmap_size is {got}: this sqlite does not map the database"
    return c


def pad(bal, key):
    return f"{bal:010d}" + (f"{key:08d}" * (PAD // 8 + 1))[:PAD]


def setup(db, n):
    c = connect(db)
    assert c.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    c.execute("CREATE TABLE acct(id INTEGER PRIMARY KEY, bal INTEGER NOT NULL, pad TEXT)")
    c.execute("CREATE TABLE meta(k INTEGER PRIMARY KEY, version INTEGER NOT NULL)")
    c.execute("BEGIN")
    c.executemany("INSERT INTO acct VALUES (?, 1000, ?)", ((i, pad(1000, i)) for i in range(1, n + 1)))
    c.execute("INSERT INTO meta VALUES (1, 0)")
    c.execute("COMMIT")
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    print(f"setup: {n} accounts, database {os.path.getsize(db)} bytes")


def writer(db, n, tx):
    c = connect(db)
    c.execute("PRAGMA synchronous=NORMAL")
    rng = random.Random(os.getpid())
    top = n
    t0 = time.monotonic()
    for t in range(tx):
        c.execute("BEGIN IMMEDIATE")
        a = rng.randint(1, top)
        bal = c.execute("SELECT bal FROM acct WHERE id = ?", (a,)).fetchone()[0]
        amount = rng.randint(0, max(0, min(bal, 50)))
        if t % 10 == 9:
            top += 1
            c.execute("INSERT INTO acct VALUES (?, ?, ?)", (top, amount, pad(amount, top)))
        else:
            b = rng.randint(1, top)
            if b == a:
                b = a % top + 1
            c.execute("UPDATE acct SET bal = bal + ?, pad = printf('%010d', bal + ?) || substr(pad, 11) "
                      "WHERE id = ?", (amount, amount, b))
        c.execute("UPDATE acct SET bal = bal - ?, pad = printf('%010d', bal - ?) || substr(pad, 11) "
                  "WHERE id = ?", (amount, amount, a))
        c.execute("UPDATE meta SET version = version + 1 WHERE k = 1")
        c.execute("COMMIT")
    c.close()
    print(f"writer: {tx} transactions in {time.monotonic() - t0:.1f} s, {top} accounts, database "
          f"{os.path.getsize(db)} bytes")


def snapshot(c):
    c.execute("BEGIN")
    total, rows, torn = c.execute(
        "SELECT sum(bal), count(*), sum(substr(pad, 1, 10) != printf('%010d', bal)) FROM acct").fetchone()
    version = c.execute("SELECT version FROM meta WHERE k = 1").fetchone()[0]
    c.execute("COMMIT")
    return total, rows, torn, version


def reader(db, n, done):
    c = connect(db)
    snapshots, versions, last = 0, set(), -1
    ready = done + f".ready{os.getpid()}"
    while True:
        finished = os.path.exists(done)  # one more snapshot after the writer is done
        total, rows, torn, version = snapshot(c)
        snapshots += 1
        versions.add(version)
        if total != n * 1000 or torn or rows < n or version < last:
            print(f"reader {os.getpid()}: snapshot {snapshots} (version {version}): sum {total}, want "
                  f"{n * 1000}; {rows} rows; {torn} rows whose pad disagrees with the balance; "
                  f"version {version} after {last}", file=sys.stderr)
            return 1
        last = version
        if snapshots == 1:
            open(ready, "w").close()
        if finished:
            break
    c.close()
    print(f"reader {os.getpid()}: {snapshots} snapshots, {len(versions)} versions seen, "
          f"last {last}")
    if len(versions) < 3:
        print(f"reader {os.getpid()}: saw only {len(versions)} versions: it did not run beside "
              "the writer", file=sys.stderr)
        return 1
    return 0


def check(db, n):
    c = connect(db)
    ic = c.execute("PRAGMA integrity_check").fetchall()
    total, rows, torn, version = snapshot(c)
    print(f"check: integrity {ic[0][0]}, sum {total}, {rows} rows, {torn} torn, version {version}")
    return 0 if ic == [("ok",)] and total == n * 1000 and not torn else 1


def main():
    role, db, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    try:
        if role == "setup":
            return setup(db, n)
        if role == "writer":
            return writer(db, n, int(sys.argv[4]))
        if role == "reader":
            return reader(db, n, sys.argv[4])
        return check(db, n)
    except AssertionError as e:
        print(f"{role} {os.getpid()}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
