#!/bin/sh
# UFFDMAP_GROUP with a real program: LMDB (python3-lmdb) readers and a writer in unrelated
# processes of one group. LMDB readers find the last commit by reading the meta pages through
# mmap() of data.mdb, and all processes share a reader table and robust mutexes through mmap()
# of lock.mdb, so the readers see the writer's commits only if the mappings are coherent.
# Twice: with the writer writing by pwrite() (data.mdb grows with each commit), and with
# MDB_WRITEMAP (the writer stores through its MAP_SHARED read-write mapping; no msync: sync off).
# Two readers start (and read) before the writer's first commit; the writer then makes 300
# commits: the first writes 2500 values of 4 KiB (10 MiB: more than the 4M budget), each
# rewrites 20 of them and an increasing counter. The readers, each transaction fresh, must see
# the counter change at least five times, never torn nor going back, bulk values whole and not
# newer than the counter, and the first transaction they begin after the writer has returned
# must see its last commit. Then a check under the preload and one without it. Under the
# preload every process must serve data.mdb ("uffdmap: serving", with UFFDMAP_LOG=debug) and
# none may say that a mapping went to the kernel. Nothing is timed: with the 4M budget every
# process fills and evicts all the time (tens of seconds of CPU), which on a machine busy with
# other tests takes several times as long as alone; the limits below only stop a hang.
# usage: group_lmdb.sh LIBUFFDMAP_SO DATA_DIR
#   LIBUFFDMAP_SO empty, or E2E_NO_PRELOAD=1: the kernel's mmap (must pass too)
set -u
so=$1 work=$2
[ "${E2E_NO_PRELOAD:-0}" = 1 ] && so=""
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd -P)
. "$(dirname "$0")/lib.sh"
roles=$(cd "$(dirname "$0")" && pwd)/group_lmdb.py
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3 || true)
if [ -z "$py" ] || ! "$py" -c "import lmdb" 2>/dev/null; then
    skip "python3-lmdb not installed"
    finish
    exit 0
fi
commits=300
if [ -n "$so" ]; then echo "preload: $so"; else echo "no preload: the kernel's mmap"; fi

shim() { # shim NAME SECONDS CMD...: CMD under the preload (when there is one) in group $g, at
    # most SECONDS, stderr to NAME.err
    name=$1 secs=$2
    shift 2
    if [ -n "$so" ]; then
        env LD_PRELOAD="$so" UFFDMAP_GROUP="$g" UFFDMAP_PATHS="$env/*" UFFDMAP_BUFSIZE=4M \
            UFFDMAP_LOG=debug timeout "$secs" "$@" 2>>"$work/$name.err"
    else
        env -u LD_PRELOAD timeout "$secs" "$@" 2>>"$work/$name.err"
    fi
}
present() { # present FILE...: how many of them exist (a glob that matched nothing: 0)
    n=0
    for f in "$@"; do [ -e "$f" ] && n=$((n + 1)); done
    echo $n
}
served() { # served NAME: its stderr says it served data.mdb, and nothing went to the kernel
    [ -z "$so" ] && return 0
    if ! grep -q "^uffdmap: serving $env/data.mdb at " "$work/$1.err"; then
        fail "$1: data.mdb was not served by the shim"
    elif grep "^uffdmap: " "$work/$1.err" | grep -v "^uffdmap: serving " |
        grep -i "kernel\|lost\|fail\|error" >"$work/$1.notices"; then
        fail "$1: the shim said: $(head -3 "$work/$1.notices")"
    else
        ok "$1: served by the shim"
    fi
}

for mode in pwrite writemap; do
    t0=$(date +%s)
    g=group_lmdb_${mode}_$$ env=$work/$mode
    if ! shim "$mode.create" 120 "$py" "$roles" create "$env" $mode; then
        fail "$mode: create: $(tail -3 "$work/$mode.create.err")"
        continue
    fi
    for i in 1 2; do
        (shim "$mode.reader$i" 480 "$py" "$roles" reader "$env" $mode $commits >"$work/$mode.reader$i.out"
         echo $? >"$work/$mode.reader$i.rc") &
    done
    end=$(($(date +%s) + 120))
    while [ "$(present "$env"/ready.*)" -lt 2 ] && [ "$(date +%s)" -lt "$end" ] &&
        [ "$(present "$work/$mode".reader*.rc)" = 0 ]; do
        sleep 0.05
    done
    shim "$mode.writer" 450 "$py" "$roles" writer "$env" $mode $commits >"$work/$mode.writer.out"
    rc=$?
    touch "$env/done"
    if [ $rc = 0 ]; then ok "$mode: $(cat "$work/$mode.writer.out")"
    else fail "$mode: writer (status $rc): $(grep -v '^uffdmap: ' "$work/$mode.writer.err" | tail -2)"; fi
    wait
    for i in 1 2; do
        if [ "$(cat "$work/$mode.reader$i.rc")" = 0 ]; then ok "$mode: $(cat "$work/$mode.reader$i.out")"
        else fail "$mode: reader$i (status $(cat "$work/$mode.reader$i.rc")): $(grep -v '^uffdmap: ' "$work/$mode.reader$i.err" | tail -2)"; fi
    done
    for p in writer reader1 reader2; do served "$mode.$p"; done
    if out=$(shim "$mode.check" 120 "$py" "$roles" check "$env" $mode $commits); then ok "$mode: $out"
    else fail "$mode: check: $out $(tail -2 "$work/$mode.check.err")"; fi
    if out=$(env -u LD_PRELOAD timeout 120 "$py" "$roles" check "$env" $mode $commits 2>&1); then
        ok "$mode: without the preload: $out"
    else
        fail "$mode: without the preload: $out"
    fi
    echo "$mode: took $(($(date +%s) - t0)) s"
    rm -rf "$env"
done
finish
