#!/bin/sh
# UFFDMAP_GROUP: stores made through a MAP_SHARED read-write mapping and never msync'd are not
# lost when the process that made them is killed with SIGKILL, as with the kernel's page cache.
# The storer touches 24 pages scattered over an 8 MiB file (budget 4M: nothing is evicted, so
# nothing reaches the file before the kill), then waits to be killed; the file (read without the
# preload) must then hold exactly the stores:
#   survivor_rw  another member of the group mapping the file read-write stays alive and writes
#                them back (polled for a few seconds)
#   survivor_ro  likewise with a member mapping it read-only (opened O_RDONLY)
#   wrapper      the storer ran under BUILDDIR/uffdmap, which writes them back once its child
#                died: the file holds them when the wrapper has exited
#   writeback    no survivor, no wrapper: `uffdmap --writeback GROUP` run by hand writes them
#   next         no survivor, no wrapper: the next process of the group that maps the file sees
#                them in its mapping, and the file holds them (read past the shim, while it runs)
# Under the preload every storer and survivor must be served by the shim (else the stores would
# be the kernel's, and the test proves nothing).
# usage: group_sigkill.sh LIBUFFDMAP_SO UFFDMAP_WRAPPER GROUP_STORE DATA_DIR
#   LIBUFFDMAP_SO empty, or E2E_NO_PRELOAD=1: the kernel's mmap (must pass too); the wrapper and
#   --writeback are then not used
set -u
so=$1 wrap=$2 helper=$3 work=$4
[ "${E2E_NO_PRELOAD:-0}" = 1 ] && so=""
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd -P)
. "$(dirname "$0")/lib.sh"
size=$((8 << 20))
if [ -n "$so" ]; then echo "preload: $so"; else echo "no preload: the kernel's mmap"; fi

shim() { # shim GROUP CMD...: CMD under the preload (when there is one) in GROUP
    g=$1
    shift
    if [ -n "$so" ]; then
        env LD_PRELOAD="$so" UFFDMAP_GROUP="$g" UFFDMAP_PATHS="$work/*" UFFDMAP_BUFSIZE=4M \
            UFFDMAP_LOG=debug "$@"
    else
        env -u LD_PRELOAD "$@"
    fi
}
check() { # check NAME FILE SEED: the file holds the stores (read without the preload)
    if out=$(env -u LD_PRELOAD timeout 30 "$helper" check "$2" "$3" 2>&1); then
        ok "$1: the file holds the stores"
    else
        fail "$1: $out"
    fi
}
poll_check() { # poll_check NAME FILE SEED SECONDS: check, allowing SECONDS for a write-back
    t0=$(date +%s.%N)
    end=$(($(date +%s) + $4))
    while [ "$(date +%s)" -lt "$end" ]; do
        env -u LD_PRELOAD "$helper" check "$2" "$3" >/dev/null 2>&1 && break
        sleep 0.1
    done
    check "$1 (after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s)" "$2" "$3"
}
wait_file() { # wait_file FILE SECONDS: until FILE exists
    i=0
    while [ ! -s "$1" ] && [ $i -lt $(($2 * 10)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
    [ -s "$1" ]
}
served() { # served NAME ROLE READY_FILE: under the preload, the role's mapping was the shim's
    [ -z "$so" ] && return 0
    read -r _ how <"$3"
    if [ "$how" = managed ]; then ok "$1: $2 served by the shim"
    else fail "$1: the $2's mapping is not served by the shim ($how): see $work/$1.err"; fi
}
store() { # store NAME GROUP: starts the storer in the background; its pid in $spid
    "$helper" make "$work/$1.bin" "$size" || exit 1
    shim "$2" "$helper" store "$work/$1.bin" "$seed" "$work/$1.ready" 2>>"$work/$1.err" &
    if ! wait_file "$work/$1.ready" 20; then
        fail "$1: the storer did not get ready: $(cat "$work/$1.err")"
        return 1
    fi
    read -r spid _ <"$work/$1.ready"
}
alive() { # alive PID: running (not gone, not a zombie)
    state=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ]
}
killed() { # killed PID: SIGKILL it and wait (10 s at most) until it is gone
    kill -KILL "$1"
    i=0
    while alive "$1" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
}
cleanup() { # cleanup GROUP: leave nothing of the group behind (under the preload)
    [ -n "$so" ] && [ -n "$wrap" ] && timeout 20 "$wrap" --writeback "$1" >/dev/null 2>&1
}

seed=1
# --- a surviving member writes the stores back ----------------------------------------------
for mode in rw ro; do
    name=survivor_$mode g=group_sigkill_${name}_$$
    seed=$((seed + 1))
    store "$name" "$g" || continue
    shim "$g" "$helper" hold "$work/$name.bin" "$mode" "$work/$name.hold" 2>>"$work/$name.err" &
    if ! wait_file "$work/$name.hold" 20; then
        fail "$name: the survivor did not get ready: $(cat "$work/$name.err")"
        killed "$spid"
        continue
    fi
    read -r hpid _ <"$work/$name.hold"
    killed "$spid"
    poll_check "$name" "$work/$name.bin" "$seed" 8
    served "$name" storer "$work/$name.ready"
    served "$name" "survivor ($mode)" "$work/$name.hold"
    killed "$hpid"
    cleanup "$g"
done

# --- the wrapper writes them back after its child died --------------------------------------
name=wrapper g=group_sigkill_${name}_$$
seed=$((seed + 1))
"$helper" make "$work/$name.bin" "$size" || exit 1
if [ -n "$so" ]; then
    (env UFFDMAP_GROUP="$g" UFFDMAP_BUFSIZE=4M UFFDMAP_LOG=debug \
        "$wrap" --lib "$so" --paths "$work/*" -- \
        "$helper" store "$work/$name.bin" "$seed" "$work/$name.ready" 2>>"$work/$name.err"
     echo $? >"$work/$name.rc") &
else
    ("$helper" store "$work/$name.bin" "$seed" "$work/$name.ready" 2>>"$work/$name.err"
     echo $? >"$work/$name.rc") &
fi
if wait_file "$work/$name.ready" 20; then
    read -r spid _ <"$work/$name.ready"
    killed "$spid"
    if wait_file "$work/$name.rc" 20; then
        echo "wrapper: exit status $(cat "$work/$name.rc") after its child was killed"
        check "$name" "$work/$name.bin" "$seed"
    else
        fail "$name: the wrapper did not exit within 20 s of its child's death"
    fi
    served "$name" storer "$work/$name.ready"
else
    fail "$name: the storer did not get ready: $(cat "$work/$name.err")"
fi
cleanup "$g"

# --- uffdmap --writeback GROUP by hand ------------------------------------------------------
name=writeback g=group_sigkill_${name}_$$
seed=$((seed + 1))
if store "$name" "$g"; then
    killed "$spid"
    if [ -n "$so" ]; then
        if out=$(timeout 30 "$wrap" --writeback "$g" 2>&1); then
            ok "$name: uffdmap --writeback $g succeeded${out:+: $out}"
        else
            fail "$name: uffdmap --writeback $g (status $?): $out"
        fi
    fi
    check "$name" "$work/$name.bin" "$seed"
    served "$name" storer "$work/$name.ready"
fi
cleanup "$g"

# --- the next process of the group ----------------------------------------------------------
name=next g=group_sigkill_${name}_$$
seed=$((seed + 1))
if store "$name" "$g"; then
    killed "$spid"
    if out=$(shim "$g" timeout 30 "$helper" mapcheck "$work/$name.bin" "$seed" 5 \
        2>>"$work/$name.err"); then
        ok "$name: the next process's mapping and the file hold the stores"
    else
        fail "$name: the next process: $(grep -v "^uffdmap: serving" "$work/$name.err" | tail -3)"
    fi
    if [ -n "$so" ] && [ "$out" != managed ]; then
        fail "$name: the next process's mapping is not served by the shim ($out)"
    fi
    check "$name (after the next process left)" "$work/$name.bin" "$seed"
    served "$name" storer "$work/$name.ready"
fi
cleanup "$g"
wait # every process started is dead by now (killed, or ended by its own alarm)
rm -f "$work"/*.bin
finish
