"""Roles of group_lmdb.sh: python3-lmdb, whose readers read the database through mmap() of
data.mdb (meta pages included: that is how a reader finds the last commit) and whose processes
share a reader table and mutexes through mmap() of lock.mdb.

  create ENV MODE            make the environment (no commit yet); MODE pwrite: the writer
                             writes with pwrite(), the file grows with each commit;
                             MODE writemap: the writer stores through a MAP_SHARED read-write
                             mapping of data.mdb (MDB_WRITEMAP, the file is the map size)
  reader ENV MODE COMMITS    read transactions in a loop, each fresh, until ENV/done appears (the
                             writer has returned), then one more, which must see the counter at
                             COMMITS: the writer's last commit returned before ENV/done was made.
                             The counter must never be torn nor go back, bulk values read in the
                             same transaction must be whole and not newer than it, and the reader
                             must see the counter change at least five times. No time limit:
                             a machine busy with other work only makes it slower
  writer ENV MODE COMMITS    commit 1 writes BULK values of 4 KiB (larger than the budget) and
                             counter 1; commits 2..COMMITS rewrite 20 bulk values each and the
                             counter
  check ENV MODE COMMITS     every value whole, the counter at COMMITS
"""
import os
import random
import sys
import time

import lmdb

MAP_SIZE = 64 << 20
BULK = 2500
COPIES = 8


def open_env(path, mode, readonly=False):
    return lmdb.open(path, map_size=MAP_SIZE, lock=True, readonly=readonly, max_readers=16,
                     writemap=(mode == "writemap"), metasync=False, sync=False)


def counter_value(k):
    return (b"%012d" % k) * COPIES


def parse_counter(v):
    if v is None:
        raise AssertionError("no counter: the writer's commits are not there")
    parts = {v[i:i + 12] for i in range(0, len(v), 12)}
    if len(v) != 12 * COPIES or len(parts) != 1:
        raise AssertionError(f"torn counter {v[:40]!r}... ({len(v)} bytes)")
    return int(parts.pop())


def bulk_key(i):
    return b"bulk%06d" % i


def bulk_value(stamp, i):
    return (b"%012d%012d" % (stamp, i)) * 170  # 4080 bytes: one overflow page each


def parse_bulk(v, i):
    if v is None:
        raise AssertionError(f"bulk value {i} missing")
    head = v[:24]
    if len(v) != 24 * 170 or v != head * 170 or int(head[12:]) != i:
        raise AssertionError(f"bulk value {i} torn or misplaced: {v[:48]!r}")
    return int(head[:12])


def reader(path, mode, commits):
    env = open_env(path, mode, readonly=True)
    rng = random.Random(os.getpid())
    seen, last, txns, final = [], 0, 0, False
    ready = os.path.join(path, f"ready.{os.getpid()}")
    done = os.path.join(path, "done")
    while True:
        # Looked at before the transaction begins: once it is there, the transaction must see
        # the writer's last commit.
        final = final or os.path.exists(done)
        with env.begin() as txn:
            v = txn.get(b"counter")
            k = parse_counter(v) if v is not None else 0  # None: no commit yet
            if k < last:
                raise AssertionError(f"counter went back from {last} to {k}")
            if k:
                for _ in range(8):
                    i = rng.randrange(BULK)
                    stamp = parse_bulk(txn.get(bulk_key(i)), i)
                    if stamp > k:
                        raise AssertionError(f"bulk value {i} from commit {stamp} in a snapshot of "
                                             f"commit {k}")
            if k and txns % 50 == 0:  # now and then the whole map, past the budget
                n = sum(1 for _ in txn.cursor().iternext(keys=True, values=False))
                if n != BULK + 1:
                    raise AssertionError(f"commit {k}: {n} keys, want {BULK + 1}")
        txns += 1
        if txns == 1:
            open(ready, "w").close()
        if not seen or seen[-1] != k:
            seen.append(k)
        last = k
        if final:
            break
    if last != commits:
        raise AssertionError(f"counter {last} in a transaction begun after the writer finished "
                             f"(want {commits}); values seen: {seen[:20]}")
    print(f"reader {os.getpid()}: {txns} read transactions, counter seen at {len(seen)} values "
          f"(first {seen[:6]}, last {last})")
    if len(seen) < 5:
        print(f"reader {os.getpid()}: saw the counter change only {len(seen) - 1} times",
              file=sys.stderr)
        return 1
    return 0


def writer(path, mode, commits):
    env = open_env(path, mode)
    rng = random.Random(os.getpid())
    t0 = time.monotonic()
    for k in range(1, commits + 1):
        with env.begin(write=True) as txn:
            for i in (range(BULK) if k == 1 else rng.sample(range(BULK), 20)):
                txn.put(bulk_key(i), bulk_value(k, i))
            txn.put(b"counter", counter_value(k))
        time.sleep(0.005)
    print(f"writer: {commits} commits in {time.monotonic() - t0:.1f} s, data.mdb "
          f"{os.path.getsize(os.path.join(path, 'data.mdb'))} bytes")
    return 0


def check(path, mode, commits):
    env = open_env(path, mode, readonly=True)
    with env.begin() as txn:
        k = parse_counter(txn.get(b"counter"))
        stamps = [parse_bulk(txn.get(bulk_key(i)), i) for i in range(BULK)]
    print(f"check: counter {k}, {BULK} bulk values whole, newest from commit {max(stamps)}")
    return 0 if k == commits and max(stamps) <= k else 1


def main():
    role, path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    if role == "create":
        os.makedirs(path, exist_ok=True)
        open_env(path, mode).close()
        return 0
    commits = int(sys.argv[4])
    try:
        return {"reader": reader, "writer": writer, "check": check}[role](path, mode, commits)
    except AssertionError as e:
        print(f"{role} {os.getpid()}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
