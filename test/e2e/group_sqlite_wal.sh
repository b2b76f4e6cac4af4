#!/bin/sh
# UFFDMAP_GROUP with a real program: three unrelated python3 processes of one group use one
# sqlite database in WAL mode with PRAGMA mmap_size larger than the database (pages are read
# through mmap() of the database, which checkpoints change with pwrite(), and every connection
# maps the wal-index DB-shm read-write). The database (4000 accounts, two a page: ~8 MiB, and
# growing) is twice the budget (4M).
# One writer makes 3000 transactions moving money between accounts (or into new ones: the file
# grows); two readers, started first, take snapshots in a loop while it runs: every snapshot
# must have the same sum of balances (4000 x 1000), no torn row and no older version than the
# last, and each reader must see the version change at least three times. Then integrity_check,
# and the invariant read once more without the preload.
# Under the preload every process must say it serves the database ("uffdmap: serving", with
# UFFDMAP_LOG=debug) and none that a mapping went to the kernel.
# usage: group_sqlite_wal.sh LIBUFFDMAP_SO DATA_DIR
#   LIBUFFDMAP_SO empty, or E2E_NO_PRELOAD=1: the kernel's mmap (must pass too)
set -u
so=$1 work=$2
[ "${E2E_NO_PRELOAD:-0}" = 1 ] && so=""
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd -P)
. "$(dirname "$0")/lib.sh"
roles=$(cd "$(dirname "$0")" && pwd)/group_sqlite_wal.py
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3 || true)
if [ -z "$py" ] || ! "$py" -c "import sqlite3" 2>/dev/null; then
    skip "python3 with sqlite3 not installed"
    finish
    exit 0
fi
accounts=4000 tx=3000
g=group_sqlite_wal_$$
db=$work/bank.db
echo "group $g; $(if [ -n "$so" ]; then echo "preload: $so"; else echo "no preload: the kernel's mmap"; fi)"

shim() { # shim NAME CMD...: CMD under the preload (when there is one), stderr to NAME.err
    name=$1
    shift
    if [ -n "$so" ]; then
        env LD_PRELOAD="$so" UFFDMAP_GROUP="$g" UFFDMAP_PATHS="$work/*" UFFDMAP_BUFSIZE=4M \
            UFFDMAP_LOG=debug timeout 50 "$@" 2>>"$work/$name.err"
    else
        env -u LD_PRELOAD timeout 50 "$@" 2>>"$work/$name.err"
    fi
}
present() { # present FILE...: how many of them exist (a glob that matched nothing: 0)
    n=0
    for f in "$@"; do [ -e "$f" ] && n=$((n + 1)); done
    echo $n
}
served() { # served NAME: its stderr says it served the database, and nothing went to the kernel
    [ -z "$so" ] && return 0
    if ! grep -q "^uffdmap: serving $db at " "$work/$1.err"; then
        fail "$1: the database was not served by the shim"
    elif grep "^uffdmap: " "$work/$1.err" | grep -v "^uffdmap: serving " |
        grep -i "kernel\|lost\|fail\|error" >"$work/$1.notices"; then
        fail "$1: the shim said: $(head -3 "$work/$1.notices")"
    else
        ok "$1: served by the shim"
    fi
}
wait_files() { # wait_files SECONDS FILE...: until every FILE exists; false if one does not
    end=$(($(date +%s) + $1))
    shift
    for f in "$@"; do
        while [ ! -e "$f" ]; do
            [ "$(date +%s)" -ge "$end" ] && return 1
            sleep 0.05
        done
    done
}

t0=$(date +%s)
if out=$(shim setup "$py" "$roles" setup "$db" $accounts); then
    ok "$out"
else
    fail "setup: $(tail -5 "$work/setup.err")"
    finish
    exit 1
fi
for i in 1 2; do
    (shim reader$i "$py" "$roles" reader "$db" $accounts "$work/done" >"$work/reader$i.out"
     echo $? >"$work/reader$i.rc") &
done
# The readers have taken a snapshot (so they map the database) before the writer starts.
end=$(($(date +%s) + 30))
while [ "$(present "$work"/done.ready*)" -lt 2 ] && [ "$(date +%s)" -lt "$end" ] &&
    [ "$(present "$work"/reader*.rc)" = 0 ]; do
    sleep 0.05
done
shim writer "$py" "$roles" writer "$db" $accounts $tx >"$work/writer.out"
rc=$?
touch "$work/done"
if [ $rc = 0 ]; then ok "writer: $(cat "$work/writer.out")"; else fail "writer (status $rc): $(grep -v '^uffdmap: ' "$work/writer.err" | tail -2)"; fi
wait_files 50 "$work/reader1.rc" "$work/reader2.rc"
for i in 1 2; do
    if [ "$(cat "$work/reader$i.rc" 2>/dev/null)" = 0 ]; then ok "$(cat "$work/reader$i.out")"
    else fail "reader$i (status $(cat "$work/reader$i.rc" 2>/dev/null)): $(grep -v '^uffdmap: ' "$work/reader$i.err" | tail -2)"; fi
done
wait
for p in setup writer reader1 reader2; do served $p; done
if out=$(shim check "$py" "$roles" check "$db" $accounts); then ok "$out"; else fail "check: $out $(tail -3 "$work/check.err")"; fi
served check
if out=$(env -u LD_PRELOAD timeout 50 "$py" "$roles" check "$db" $accounts 2>&1); then
    ok "without the preload: $out"
else
    fail "without the preload: $out"
fi
echo "took $(($(date +%s) - t0)) s"
rm -f "$db" "$db-wal" "$db-shm"
finish
