#!/bin/sh
# UFFDMAP_GROUP: one member of a group killed with SIGKILL while every member faults heavily on
# one shared file neither hangs the others nor loses or corrupts their stores.
# Each round, four unrelated processes of one group map an 8 MiB file (budget 2M) read-write
# and, pass after pass, store into their own words (512-byte slices dealt round-robin, so every
# page holds words of all four) in a quarter of the pages, read words all over the file, check
# their own words and msync; one of them, chosen at random, is killed with SIGKILL once another
# has acknowledged a random pass (and 0-50 ms more). The three others must finish (within 45 s:
# a member that hangs fails), and the file must then hold exactly what the survivors stored
# last in their words, and in the killed member's words what it stored by its last
# acknowledged (msync'd) pass or by the one after, word by word, and nothing else
# (group_member verify). Under the preload every member must be served by the shim.
# usage: group_member_killed.sh LIBUFFDMAP_SO GROUP_MEMBER DATA_DIR
#   LIBUFFDMAP_SO empty, or E2E_NO_PRELOAD=1: the kernel's mmap (must pass too)
#   E2E_SEED=N repeats a run's choices (printed at the start)
set -u
so=$1 helper=$2 work=$3
[ "${E2E_NO_PRELOAD:-0}" = 1 ] && so=""
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd -P)
. "$(dirname "$0")/lib.sh"
size=$((8 << 20)) nproc=4 passes=6 rounds=3
seed=${E2E_SEED:-$$}
echo "seed $seed; $(if [ -n "$so" ]; then echo "preload: $so"; else echo "no preload: the kernel's mmap"; fi)"

shim() { # shim GROUP CMD...: CMD under the preload (when there is one) in GROUP
    g=$1
    shift
    if [ -n "$so" ]; then
        env LD_PRELOAD="$so" UFFDMAP_GROUP="$g" UFFDMAP_PATHS="$work/*" UFFDMAP_BUFSIZE=2M \
            "$@"
    else
        env -u LD_PRELOAD "$@"
    fi
}
random() { # random N SALT: a number in [0, N) from the seed
    awk -v s="$seed" -v salt="$2" -v n="$1" 'BEGIN { srand(s * 131 + salt); print int(rand() * n) }'
}
wait_files() { # wait_files SECONDS FILE...: until every FILE exists; false if one does not
    end=$(($(date +%s) + $1))
    shift
    for f in "$@"; do
        while [ ! -s "$f" ]; do
            [ "$(date +%s)" -ge "$end" ] && return 1
            sleep 0.05
        done
    done
}
alive() { # alive PID: running (not gone, not a zombie)
    state=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ]
}

round=1
while [ "$round" -le "$rounds" ]; do
    r=$work/round$round g=group_member_killed_${round}_$$
    file=$work/shared$round.bin
    "$helper" make "$file" "$size" || exit 1
    victim=$(random "$nproc" "$round")
    # The moment: once a survivor has acknowledged pass kill_pass, and delay_ms more.
    kill_pass=$((1 + $(random $((passes - 1)) "$((round + 100))")))
    delay_ms=$(random 50 "$((round + 200))")
    started=$(date +%s.%N)
    i=0
    while [ $i -lt $nproc ]; do
        p=$passes
        [ $i = "$victim" ] && p=1000000
        (shim "$g" "$helper" run "$file" $i $nproc $p "$r.$i.ready" "$r.$i.ack" 2>"$r.$i.err"
         echo $? >"$r.$i.rc") &
        i=$((i + 1))
    done
    if ! wait_files 20 "$r.0.ready" "$r.1.ready" "$r.2.ready" "$r.3.ready"; then
        fail "round $round: a member did not start: $(cat "$r".*.err)"
        for f in "$r".*.ready; do read -r pid _ <"$f" && kill -KILL "$pid"; done
        wait
        round=$((round + 1))
        continue
    fi
    end=$(($(date +%s) + 40))
    while :; do
        reached="" done=0
        i=0
        while [ $i -lt $nproc ]; do
            if [ $i != "$victim" ]; then
                [ "$(cat "$r.$i.ack" 2>/dev/null || echo 0)" -ge $kill_pass ] && reached=$i
                [ -s "$r.$i.rc" ] && done=$((done + 1))
            fi
            i=$((i + 1))
        done
        # (or every survivor ended already, or 40 s went by: then kill it now)
        [ -n "$reached" ] || [ $done = $((nproc - 1)) ] || [ "$(date +%s)" -ge "$end" ] && break
        sleep 0.01
    done
    sleep "$(awk -v ms="$delay_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
    read -r vpid _ <"$r.$victim.ready"
    if ! alive "$vpid"; then
        fail "round $round: member $victim ended before it was killed: $(cat "$r.$victim.err")"
    fi
    kill -KILL "$vpid" 2>/dev/null
    running=0
    for f in "$r".*.ready; do
        read -r pid _ <"$f"
        [ "$pid" != "$vpid" ] && alive "$pid" && running=$((running + 1))
    done
    acked=$(cat "$r.$victim.ack" 2>/dev/null || echo 0)
    survivors=""
    i=0
    while [ $i -lt $nproc ]; do
        [ $i != "$victim" ] && survivors="$survivors $r.$i.rc"
        i=$((i + 1))
    done
    # shellcheck disable=SC2086
    if wait_files 45 $survivors; then
        took=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
        bad=""
        for f in $survivors; do
            [ "$(cat "$f")" = 0 ] || bad="$bad ${f%.rc}: status $(cat "$f"): $(cat "${f%.rc}.err")"
        done
        if [ -z "$bad" ]; then
            ok "round $round: member $victim killed ${delay_ms} ms after a survivor acknowledged pass $kill_pass (its pass $acked acknowledged; $running others still running), the other $((nproc - 1)) finished $passes passes (${took} s)"
        else
            fail "round $round: member $victim killed ${delay_ms} ms after a survivor acknowledged pass $kill_pass:$bad"
        fi
    else
        fail "round $round: member $victim killed ${delay_ms} ms after a survivor acknowledged pass $kill_pass; the survivors did not finish within 45 s"
        for f in "$r".*.ready; do read -r pid _ <"$f" && kill -KILL "$pid" 2>/dev/null; done
    fi
    wait
    if out=$(env -u LD_PRELOAD "$helper" verify "$file" $nproc $passes "$victim" "$acked" 2>&1); then
        ok "round $round: the file holds exactly the survivors' stores: $out"
    else
        fail "round $round: the file: $out"
    fi
    if [ -n "$so" ]; then
        kernel=$(grep -l kernel "$r".*.ready)
        if [ -z "$kernel" ]; then ok "round $round: every member served by the shim"
        else fail "round $round: not served by the shim: $(echo "$kernel" | tr '\n' ' ')"; fi
    fi
    rm -f "$file"
    round=$((round + 1))
done
finish
