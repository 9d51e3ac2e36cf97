#!/bin/bash
# Fault injection on loopback: each fault is put on a test server running under the shim, and
# each scenario checks that the server keeps accepting and serving, that no fd leaks (the host's
# /proc/PID/fd before and after) and that the log says what happened. The faults:
#   fd-reuse      the host closes a connection before its verdict and the next connection gets
#                 the same fd number at once: only the closed one may be shut down.
#   emfile-*      the host is at its descriptor limit when the shim wants its duplicate (EMFILE,
#                 or within the headroom the shim leaves the host), with the worker asleep or
#                 not started yet.
#   signals       a sibling floods the host with SIGUSR1/SIGALRM/SIGCHLD while clients connect:
#                 handlers run on the host's own thread only, accept() still returns EINTR.
#   fork-storm    1,000 connections to a server that forks per connection.
#   threads       16 threads accepting on one listener, 600 concurrent clients.
#   burst-10k     10,000 connections while p0f answers in 200 ms: the pending queue stays bounded,
#                 overflow passes unjudged with one rate-limited line, memory and fds come back.
#   peercred      a p0f socket served by `nobody` is refused unless `p0f_user` names it.
#   trust-*       a config or blocked-OS file writable by others or owned by another user, or in
#                 a directory that is, is refused: one config error line, pass-through.
#   strace        the host under strace: no write to fd 2, no connect but to the log and p0f
#                 sockets (so no openlog), no signal sent, no handler installed.
#   select2       hold mode in a daemon that select()s over two blocking listeners (Exim,
#                 Sendmail): a refusal on one never keeps the other waiting, SIGTERM is acted on,
#                 refusals handled in one accept() call are capped.
#   cancel        the host cancels and joins its accepting thread during a hold, then exits.
#   cancel-points the library reaches no cancellation point while the host's thread could be
#                 cancelled there, in every fingerprint mode (tests/preload/cancelprobe.c).
#   stdio, gap    the shim's descriptors never take the number the host gets next (a daemon
#                 that closed stdio; two free numbers below a limit of 64).
#   host-close    the MTA closes a connection itself before the verdict: the client sees the
#                 close at once, the line still comes (cutoff=too_late); cutoff= on async blocks.
#   worker-retry  pthread_create fails for the first connection (RLIMIT_NPROC), not for good.
# Mutants (copies of the library with one protection removed) show that the checks would fail
# without it. fake_p0f tells clients apart by source address (127.0.0.2 Windows, 127.0.0.3 Linux).
#
# Environment: KEEP_WORK=1 keeps the scratch directory; P0FSHIM_FAULTS_PORT_BASE moves the ports
# (default 44500); P0FSHIM_FAULTS_ONLY="name ..." runs only those scenarios (and no mutants unless
# named: mutants); P0FSHIM_SRV_WRAPPER="valgrind ..." runs every host server under that command
# (the checks that cannot hold under such a wrapper are skipped, see WRAPPED); P0FSHIM_PRELOAD
# replaces the LD_PRELOAD value of every host but the mutant checks' (an ASan build of the library
# in a host that is not: the ASan runtime first). Needs root (a private mount namespace, setpriv,
# chown).
source "$(dirname "${BASH_SOURCE[0]}")/../scenario.sh"
trap 'exit 130' INT
trap 'exit 143' TERM HUP

require_root
require_built "$LIB" "$HELPERS/fake_p0f" "$HELPERS/testsrv" "$HELPERS/testclient" "$HELPERS/logsink" \
    "$HELPERS/faultsrv" "$HELPERS/burst" "$HELPERS/hostsrv"
for c in strace setpriv unshare perl prlimit; do
    command -v "$c" >/dev/null || fail_now "$c is missing (scripts/install-deps.sh installs it)"
done

PORT_BASE=${P0FSHIM_FAULTS_PORT_BASE:-44500}
ONLY=${P0FSHIM_FAULTS_ONLY:-}
read -r -a SRV_WRAP <<<"${P0FSHIM_SRV_WRAPPER:-}"
WRAPPED=${P0FSHIM_SRV_WRAPPER:+1}
WIN=127.0.0.2 LIN=127.0.0.3
# fd-reuse uses a fresh address per pair (no answer cache can settle a verdict early).
HOSTS=(--host "$WIN" --os Windows --flavor "NT kernel" --match exact --dist 0 --link Ethernet
       --host "$LIN" --os Linux --flavor "3.11 and newer" --match generic --dist 1 --link Ethernet)
for i in 1 2 3 4; do
    HOSTS+=(--host "127.0.2.$i" --os Windows --flavor "NT kernel" --host "127.0.3.$i" --os Linux --flavor "3.11 and newer")
done
SHIM=${P0FSHIM_PRELOAD:-$LIB}   # what the hosts preload (the mutant checks swap it)
HOST_WRAP=("${SRV_WRAP[@]}")   # the hosts of this file: under $P0FSHIM_SRV_WRAPPER when set

want() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }

# ---- mutants: copies of the library with one protection removed -------------------------------
# Each is the library built with MUTANT=-DP0FSHIM_MUTANT_<NAME>=1 (src/mutant.h), one after the
# other in the background, each in its own build directory.
MUTANTS=(nodup sigmask band refusal peercred trust cancelguard)
build_mutant() {
    local name=$1 dir=$WORK/mutant-$1
    mkdir -p "$dir"
    make -s -C "$TOP" B="$dir/build" MUTANT="-DP0FSHIM_MUTANT_${name^^}=1" "$dir/build/libp0fshim.so" \
        >"$dir/build.log" 2>&1 && echo ok >"$dir/built"
}
# Built after burst-10k (which needs the CPU), in the background while the other scenarios run.
start_mutant_builds() {
    want mutants || return 0
    ( for name in "${MUTANTS[@]}"; do build_mutant "$name"; done ) &
    MUTANT_BUILD=$!
    CHILD_PIDS+=("$MUTANT_BUILD")
}
mutant_lib() { echo "$WORK/mutant-$1/build/libp0fshim.so"; }

# ---- helpers of this file (the scenario plumbing is tests/scenario.sh; every host is named "host") ----
# private_dev: HOST_WRAP for a host in a private mount namespace whose /dev holds the scenario's log
# sink as /dev/log (the default log socket, used when the config itself is refused); the scenario
# must have begun with NSLOG=1. Undone by HOST_WRAP=("${SRV_WRAP[@]}").
private_dev() {
    HOST_WRAP=(unshare --mount --propagation private bash -c '
            for n in null zero full random urandom; do
                [ -e "/dev/$n" ] || continue
                : >"$0/$n" && mount --bind "/dev/$n" "$0/$n" || exit 97
            done
            mount --rbind "$0" /dev || exit 97
            exec "$@"' "$D/dev" "${SRV_WRAP[@]}")
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
line_ms() { grep -E -m1 -- "$1" "$(L)" | sed -nE 's/.* verdict=[a-z]+ ms=([0-9]+).*/\1/p'; }
host_fds() { fd_count "$HOST_PID"; }
# fds_after BEFORE [SECONDS]: the host's fd count once it is back to BEFORE (waiting up to SECONDS,
# default 5, for replies still due from p0f and the idle p0f link), or the count at the end.
fds_after() { wait_for "${2:-5}" eval "[ \"\$(host_fds)\" -eq $1 ]"; host_fds; }

echo "# scratch directory $WORK"
T_START=$SECONDS

# ---- burst-10k: 10,000 connections with p0f slow ----------------------------------------------------
# The host is testsrv's epoll model. The clients come from 10,000 different addresses (127.1.0.1 ...)
# so that p0f is asked about each: p0f answers NOMATCH 200 ms after each query, the shim asks again
# until timeout_ms (3 s), so each connection holds a slot for 3 s. The burst runs at 400-2,500
# connections a second here: 1,200-7,500 would be pending, past the 1,024 slots, so the queue
# overflows whatever the machine's speed (it would take fewer than 342 connections a second not to).
#
# Memory bound: the shim allocates nothing per connection (its slot table is static, 1,024 slots,
# touched in full at the first connection, so it is in the baseline); what can grow is the host's
# own heap (testsrv keeps a buffer per connection, up to 100 at a time here) and glibc's habit of
# keeping freed memory. Measured growth is ~0.2 MiB; 2 MiB is the bound.
BURST_N=${P0FSHIM_BURST_N:-10000}
BURST_RSS_BOUND_KB=2048
burst_pids=()
if want burst-10k; then
    scenario burst-10k
    TMO=3000
    write_conf
    start_p0f --delay-ms 200 "${HOSTS[@]}"
    start_srv host epoll "127.0.0.1:$PORT"
    check "$S: warm-up client served" client warm served "$LIN" --hold-ms 0
    has_line "$(conn "$LIN" allow)"
    settle
    fd0=$(host_fds) rss0=$(rss_kb "$HOST_PID")
    ( max=0; while kill -0 "$HOST_PID" 2>/dev/null && [ ! -e "$D/burst.done" ]; do
          n=$(fd_count "$HOST_PID"); [ "$n" -gt "$max" ] && max=$n && echo "$max" >"$D/maxfd"; sleep 0.02
      done ) &
    sampler=$!
    t0=$(now_ms)
    "$HELPERS/burst" --connect "127.0.0.1:$PORT" --bind 127.1.0.1 --spread "$BURST_N" --count "$BURST_N" \
        --concurrency 100 --expect served --timeout-ms 20000 >"$D/burst.out" 2>&1
    rc=$?
    t1=$(now_ms)
    touch "$D/burst.done"; wait "$sampler"
    echo "# $S: $(head -1 "$D/burst.out")"
    check "$S: all $BURST_N connections served" [ "$rc" -eq 0 ]
    BURST_T_OVERFLOW=$SECONDS
    check "$S: one rate-limited overflow line, with a count" \
        has_line 'level=warning msg="too many connections awaiting a verdict; passed unjudged" count="[1-9][0-9]*"'
    maxfd=$(cat "$D/maxfd" 2>/dev/null || echo 0)
    check "$S: pending work bounded: at most $fd0 + 100 clients + 1024 duplicates + 8 fds at once (max $maxfd)" \
        [ "$maxfd" -le $((fd0 + 100 + 1024 + 8)) ]
    sleep_ms $((TMO + 1500))
    check "$S: exactly one overflow line during the burst ($(( (t1 - t0) / 1000 )) s)" \
        count_is 'msg="too many connections awaiting a verdict' 1
    judged=$(log_count "$(L)" " remote=127\.1\.")
    echo "# $S: $judged connections judged, overflow line: $(grep -o 'count="[0-9]*".*' "$(L)" | head -1)"
    check "$S: connections were judged as well as passed ($judged judged)" [ "$judged" -gt 0 ]
    check "$S: the host accepted and served $((BURST_N + 1)), no accept error, errno kept" \
        eval 'stat_is accepted $((BURST_N + 1)) && stat_is served $((BURST_N + 1)) && stat_is accept_errors 0 && stat_is errno_changed 0'
    fd1=$(fds_after "$fd0" 20) rss1=$(rss_kb "$HOST_PID")
    check "$S: host fd count back to $fd0 after the burst (now $fd1)" [ "$fd1" -eq "$fd0" ]
    # Under a wrapper (valgrind) or ASan (its quarantine keeps freed memory) RSS says nothing.
    if [ -z "$WRAPPED" ] && [ -z "${ASAN_OPTIONS:-}" ]; then
        check "$S: host RSS after the burst within $BURST_RSS_BOUND_KB kB of the baseline ($rss0 -> $rss1 kB)" \
            [ $((rss1 - rss0)) -lt "$BURST_RSS_BOUND_KB" ]
    fi
    echo "# $S: rss ${rss0} -> ${rss1} kB, fds $fd0 -> $fd1 (max $maxfd), $((t1 - t0)) ms"
    # Leave it running: the end of this file checks that the overflow count adds up, a minute on.
    BURST_D=$D BURST_PORT=$PORT BURST_HOST=$HOST_PID BURST_FD0=$fd0
    burst_pids=("$SRV_PID" "$P0F_PID" "$SINK_PID")
    RUNTIME[$S]=$((SECONDS - T_SCENARIO))
    SRV=() HOST=() P0FS=() SINK_PID='' S=''   # out of the scenario's list: end_scenario leaves them
fi

start_mutant_builds

# ---- fd-reuse: the host closes A before its verdict, B gets A's number ------------------------------
# faultsrv --mode fdreuse: accept A, close it at once, accept B (the same number), serve B. p0f answers
# 300 ms after each query, so A's verdict (block) comes while B is being served (B holds 1 s after
# its banner). The shim sees within a few ms that A's number now names B's socket and drops its
# duplicate of A, so A's client sees the close when the host made it (< 250 ms), B is served, and
# A's line still comes with the verdict, saying the block came too late.
# fdreuse_run LIB: sets FR_B_SERVED, FR_A_CLOSED, FR_A_LATE (A closed at >= 250 ms), FR_SAME.
fdreuse_run() {
    local pairs=3 i pid rc ms
    TMO=1500
    write_conf
    start_p0f --delay-ms 300 "${HOSTS[@]}"
    start_host host "$HELPERS/faultsrv" --mode fdreuse --listen "127.0.0.1:$PORT" --stats-file "$D/host.stats" --events "$D/events"
    # Warm-up pair (starts the worker): both Linux.
    client warm-a closed 127.0.3.4 --timeout-ms 3000 &
    pid=$!
    wait_for 3 grep -q '^a fd=' "$D/events"
    client warm-b served 127.0.3.4 --hold-ms 0
    wait "$pid"
    settle
    FR_FD0=$(host_fds)
    FR_B_SERVED=0 FR_A_CLOSED=0 FR_A_LATE=0
    for i in $(seq 1 $pairs); do
        client "a$i" closed "127.0.2.$i" --timeout-ms 3000 &
        pid=$!
        wait_for 3 eval '[ "$(grep -c "^a fd=" "$D/events")" -ge $((i + 1)) ]'
        client "b$i" served "127.0.3.$i" --hold-ms 1000 && FR_B_SERVED=$((FR_B_SERVED + 1))
        wait "$pid" && FR_A_CLOSED=$((FR_A_CLOSED + 1))
        ms=$(client_ms "a$i")
        [ -n "$ms" ] && [ "$ms" -ge 250 ] && FR_A_LATE=$((FR_A_LATE + 1))
    done
    FR_SAME=$(awk '/^pair / { split($2, a, "="); split($3, b, "="); if (a[2] == b[2]) n++ } END { print n + 0 }' "$D/events")
    settle
    FR_FD1=$(fds_after "$FR_FD0")
}
if want fd-reuse; then
    scenario fd-reuse
    fdreuse_run
    # A pair may miss the reuse when the worker's new p0f socket held the lowest free number for
    # its microseconds before it moved to the band, just as the host accepted B (README, Limits):
    # seen once in a loaded ASan run. Three pairs of four still exercise the reuse.
    check "$S: the pairs reused the number: B got A's fd ($FR_SAME of 4 pairs, at least 3)" [ "$FR_SAME" -ge 3 ]
    check "$S: every B client (Linux, behind the reused number) is served ($FR_B_SERVED of 3)" [ "$FR_B_SERVED" -eq 3 ]
    check "$S: every A client (Windows, closed by the host) sees the close ($FR_A_CLOSED of 3)" [ "$FR_A_CLOSED" -eq 3 ]
    check "$S: ... when the host closed it, not when its verdict landed (no duplicate kept it: $FR_A_LATE of 3 late)" [ "$FR_A_LATE" -eq 0 ]
    for i in 1 2 3; do
        check "$S: pair $i: block line for A (127.0.2.$i), at >= 250 ms (p0f answers in 300), cutoff=too_late" \
            eval 'has_line "$(conn 127.0.2.$i block) os=\"Windows\".* cutoff=too_late" && [ "$(line_ms "$(conn 127.0.2.$i block)")" -ge 250 ]'
        check "$S: pair $i: allow line for B (127.0.3.$i)" has_line "$(conn "127.0.3.$i" allow) os=\"Linux\""
    done
    check "$S: one line per connection, nothing else (8)" eval 'wait_for 3 lines_is 8'
    check "$S: host fd count back to $FR_FD0 (now $FR_FD1)" [ "$FR_FD1" -eq "$FR_FD0" ]
    check "$S: 8 accepted, 4 served, no accept error, errno kept" \
        eval 'stat_is accepted 8 && stat_is served 4 && stat_is accept_errors 0 && stat_is errno_changed 0'
    stop_host host
    check "$S: the host exits cleanly" [ $? -eq 0 ]
fi

# ---- emfile: the host at its descriptor limit ---------------------------------------------------------
# faultsrv --mode emfile lowers its RLIMIT_NOFILE (at once, or on SIGUSR2 once the warm-up connection
# has been judged and the shim holds nothing but its lasting fds) so that exactly LEFT fds are free. Every connection must be served (unjudged), the
# host's accept() must never fail, and one warning line must say why connections went unjudged.
# emfile_run WARM LEFT BATCH CLIENTS [fake_p0f ARGS]: WARM 1 = a judged warm-up connection first (the
# worker runs and sleeps), 0 = none (no worker yet). Sets EM_SERVED (clients served).
emfile_run() {
    local warm=$1 left=$2 batch=$3 n=$4 i pids=(); shift 4
    write_conf
    start_p0f "$@" "${HOSTS[@]}"
    start_host host "$HELPERS/faultsrv" --mode emfile --listen "127.0.0.1:$PORT" --squeeze "$([ "$warm" -gt 0 ] && echo usr2 || echo now)" \
        --left "$left" --batch "$batch" --stats-file "$D/host.stats" --events "$D/events"
    if [ "$warm" -gt 0 ]; then
        check "$S: warm-up client served (judged)" client warm served "$LIN" --hold-ms 0
        has_line "$(conn "$LIN" allow)"
        settle
        kill -USR2 "$HOST_PID"
    fi
    wait_for 3 grep -q '^squeezed' "$D/events"
    EM_FD0=$(host_fds)
    EM_SERVED=0
    for i in $(seq 1 "$n"); do
        client "win$i" served "$WIN" --hold-ms 0 --timeout-ms 5000 &
        pids+=($!)
        [ "$batch" -eq 1 ] && wait "${pids[-1]}"
    done
    for i in "${pids[@]}"; do wait "$i" && EM_SERVED=$((EM_SERVED + 1)); done
    settle
    EM_FD1=$(fds_after "$EM_FD0")
}
emfile_checks() {
    local n=$1 what=$2
    check "$S: all $n Windows clients served (passed unjudged) ($EM_SERVED)" [ "$EM_SERVED" -eq "$n" ]
    check "$S: the host's accept() never failed, errno kept" eval 'stat_is accept_errors 0 && stat_is errno_changed 0'
    check "$S: one warning line: \"$what\" count=N" has_line "level=warning msg=\"$what\" count=\"[1-9]" 5
    check "$S: ... and only one" count_is "msg=\"$what\"" 1
    check "$S: no verdict line for the unjudged connections" no_line "remote=$(re "$WIN"):"
    check "$S: host fd count back to $EM_FD0 (now $EM_FD1)" [ "$EM_FD1" -eq "$EM_FD0" ]
}
if want emfile && [ -z "$WRAPPED" ]; then
    # The accepted fd is the last one below the limit: the duplicate fails with EMFILE. The worker
    # runs (the warm-up started it) and is asleep, the p0f link idle.
    scenario emfile-dup
    emfile_run 1 1 1 3
    echo "# $S: $(grep -E '^(squeezed|batch)' "$D/events" | head -2 | tr '\n' ' ')"
    check "$S: the accepted fd was the last below the limit" \
        eval '[ "$(sed -n "s/^batch fds=//p" "$D/events" | head -1)" -eq $(( $(stat_of limit) - 1 )) ]'
    emfile_checks 3 "near the descriptor limit; connections passed unjudged"
    stop_host host
    # Three connections held at once, 4 fds below the limit: no room for the shim's band.
    # Without the band the duplicates (held while p0f is slow) take the host's last fds and its
    # own accept() fails (mutant band).
    scenario emfile-headroom
    TMO=1000
    emfile_run 1 4 3 3 --delay-ms 500
    echo "# $S: $(grep -E '^(squeezed|batch)' "$D/events" | head -2 | tr '\n' ' ')"
    emfile_checks 3 "near the descriptor limit; connections passed unjudged"
    stop_host host
    # The very first connection of the process is at the limit: no worker has started yet.
    scenario emfile-cold
    emfile_run 0 1 1 2
    emfile_checks 2 "near the descriptor limit; connections passed unjudged"
    stop_host host
fi

# ---- signals: a sibling floods the host ------------------------------------------------------------------
# faultsrv --mode signals has SIGUSR1/SIGALRM (no SA_RESTART) and SIGCHLD handlers that compare
# gettid() with the main thread's; a flood process sends them round robin every 100 us for 5 s while
# 20 clients connect. The shim's worker blocks every signal, so the kernel can only pick the main
# thread; without that mask (mutant sigmask) it picks the worker whenever the main thread is busy.
# signals_run: sets SG_OK (clients as expected), SG_WRONG, SG_HANDLED, SG_EINTR.
signals_run() {
    local i ok=0
    write_conf
    start_p0f "${HOSTS[@]}"
    start_host host "$HELPERS/faultsrv" --mode signals --listen "127.0.0.1:$PORT" --stats-file "$D/host.stats"
    client warm served "$LIN" --hold-ms 0
    has_line "$(conn "$LIN" allow)"
    settle
    SG_FD0=$(host_fds)
    "$HELPERS/faultsrv" --mode flood --pid "$HOST_PID" --interval-us 100 --duration-ms 5000 >"$D/flood.out" 2>&1 &
    local flood=$!
    for i in $(seq 1 10); do
        client "win$i" closed "$WIN" --timeout-ms 3000 && ok=$((ok + 1))
        client "lin$i" served "$LIN" --hold-ms 100 && ok=$((ok + 1))
    done
    wait "$flood"
    SG_OK=$ok
    settle
    SG_FD1=$(fds_after "$SG_FD0")
    SG_WRONG=$(stat_of wrong_thread) SG_HANDLED=$(stat_of handled) SG_EINTR=$(stat_of eintr)
    echo "# $S: flood $(cat "$D/flood.out"), handled=$SG_HANDLED eintr=$SG_EINTR wrong_thread=$SG_WRONG"
}
if want signals; then
    scenario signals
    signals_run
    check "$S: 20 clients during the flood: 10 closed, 10 served ($SG_OK as expected)" [ "$SG_OK" -eq 20 ]
    check "$S: the flood reached the host (handled=$SG_HANDLED >= 1000)" [ "${SG_HANDLED:-0}" -ge 1000 ]
    check "$S: every handler ran on the host's main thread (wrong_thread=$SG_WRONG)" [ "$SG_WRONG" = 0 ]
    check "$S: accept() still returns EINTR to the host (eintr=$SG_EINTR)" [ "${SG_EINTR:-0}" -gt 0 ]
    check "$S: no other accept error, errno kept" eval 'stat_is accept_errors 0 && stat_is errno_changed 0'
    check "$S: 10 block and 11 allow lines" \
        eval 'wait_for 3 eval "count_is \"\$(conn $WIN block)\" 10" && count_is "$(conn "$LIN" allow)" 11 && lines_is 21'
    check "$S: host fd count back to $SG_FD0 (now $SG_FD1)" [ "$SG_FD1" -eq "$SG_FD0" ]
    stop_host host
    check "$S: the host exits cleanly" [ $? -eq 0 ]
fi

# ---- fork-storm: 1,000 forks ------------------------------------------------------------------------------
if want fork-storm; then
    scenario fork-storm
    write_conf
    start_p0f "${HOSTS[@]}"
    start_srv host fork "127.0.0.1:$PORT"
    check "$S: warm-up client served" client warm served "$LIN" --hold-ms 0
    has_line "$(conn "$LIN" allow)"
    settle
    fd0=$(host_fds)
    t0=$(now_ms)
    "$HELPERS/burst" --connect "127.0.0.1:$PORT" --bind "$WIN" --count 500 --concurrency 8 --expect closed \
        --timeout-ms 10000 >"$D/burst-win.out" 2>&1 &
    bw=$!
    "$HELPERS/burst" --connect "127.0.0.1:$PORT" --bind "$LIN" --count 500 --concurrency 8 --expect served \
        --timeout-ms 10000 >"$D/burst-lin.out" 2>&1
    rl=$?
    wait "$bw"; rw=$?
    echo "# $S: windows: $(cat "$D/burst-win.out" | head -1); linux: $(head -1 "$D/burst-lin.out"); $(( $(now_ms) - t0 )) ms"
    check "$S: 500 Windows clients closed" [ "$rw" -eq 0 ]
    check "$S: 500 Linux clients served" [ "$rl" -eq 0 ]
    settle
    check "$S: 500 block lines, 501 allow lines, nothing else" \
        eval 'wait_for 5 eval "lines_is 1001" && count_is "$(conn "$WIN" block)" 500 && count_is "$(conn "$LIN" allow)" 501'
    check "$S: the parent accepted 1001, no accept error, errno kept" \
        eval 'stat_is accepted 1001 && stat_is accept_errors 0 && stat_is errno_changed 0'
    wait_for 5 eval '[ -z "$(cat /proc/$HOST_PID/task/*/children 2>/dev/null | tr -d " ")" ]'
    check "$S: every child is gone (none left, no zombie)" eval '[ -z "$(cat /proc/$HOST_PID/task/*/children 2>/dev/null | tr -d " ")" ]'
    fd1=$(fds_after "$fd0")
    check "$S: parent fd count back to $fd0 (now $fd1)" [ "$fd1" -eq "$fd0" ]
    stop_host host
    check "$S: the host exits cleanly" [ $? -eq 0 ]
fi

# ---- threads: 16 threads accepting on one listener -------------------------------------------------------
if want threads; then
    scenario threads
    write_conf
    start_p0f "${HOSTS[@]}"
    start_srv host threads "127.0.0.1:$PORT" --threads 16
    check "$S: warm-up client served" client warm served "$LIN" --hold-ms 0
    has_line "$(conn "$LIN" allow)"
    settle
    fd0=$(host_fds)
    "$HELPERS/burst" --connect "127.0.0.1:$PORT" --bind "$WIN" --count 300 --concurrency 16 --expect closed \
        --timeout-ms 10000 >"$D/burst-win.out" 2>&1 &
    bw=$!
    "$HELPERS/burst" --connect "127.0.0.1:$PORT" --bind "$LIN" --count 300 --concurrency 16 --hold-ms 100 \
        --expect served --timeout-ms 10000 >"$D/burst-lin.out" 2>&1
    rl=$?
    wait "$bw"; rw=$?
    echo "# $S: windows: $(head -1 "$D/burst-win.out"); linux: $(head -1 "$D/burst-lin.out")"
    check "$S: 300 Windows clients closed" [ "$rw" -eq 0 ]
    check "$S: 300 Linux clients served (holding 100 ms each, 16 at a time)" [ "$rl" -eq 0 ]
    settle
    check "$S: 300 block lines, 301 allow lines, nothing else" \
        eval 'wait_for 5 eval "lines_is 601" && count_is "$(conn "$WIN" block)" 300 && count_is "$(conn "$LIN" allow)" 301'
    check "$S: 601 accepted and served, no accept error, errno kept" \
        eval 'stat_is accepted 601 && stat_is served 301 && stat_is accept_errors 0 && stat_is errno_changed 0'
    fd1=$(fds_after "$fd0")
    check "$S: host fd count back to $fd0 (now $fd1)" [ "$fd1" -eq "$fd0" ]
    stop_host host
    check "$S: the host exits cleanly" [ $? -eq 0 ]
fi

# ---- peercred: a p0f socket served by nobody ----------------------------------------------------------------
# fake_p0f runs as nobody (setpriv) and binds its socket in a directory nobody owns. The shim must
# refuse its answers (verdict=error naming the uid, one rate-limited line), unless p0f_user names it.
# peercred_run [CONFIG LINE...]: sets PC_WIN (closed|served).
peercred_run() {
    mkdir -p "$D/p0f"
    chown nobody:nogroup "$D/p0f"
    chmod 755 "$D/p0f"
    P0F_LINES="socket $D/p0f/p0f.sock" write_conf "$@"
    spawn setpriv --reuid=nobody --regid=nogroup --clear-groups "$HELPERS/fake_p0f" --socket "$D/p0f/p0f.sock" \
        --query-log "$D/p0f/qlog" --ready-file "$D/p0f/ready" "${HOSTS[@]}" 2>>"$D/fake_p0f.err"
    P0F_PID=$!
    P0FS[nobody]=$P0F_PID
    wait_for 5 test -e "$D/p0f/ready" || echo "# $S: fake_p0f (nobody) did not start"
    start_srv host loop "127.0.0.1:$PORT"
    client warm served 127.0.3.1 --hold-ms 0   # starts the worker (its wake-up pipe stays)
    settle
    PC_FD0=$(host_fds)
    PC_WIN=closed
    client win closed "$WIN" --timeout-ms 1500 || PC_WIN=served
    client win2 served "$WIN" --hold-ms 0
    client lin served "$LIN" --hold-ms 0
    PC_LIN=$?
    settle
    PC_FD1=$(fds_after "$PC_FD0")
}
if want peercred; then
    scenario peercred
    peercred_run
    check "$S: the Windows client is served (the impostor's answers are refused)" [ "$PC_WIN" = served ]
    check "$S: the Linux client is served" [ "$PC_LIN" -eq 0 ]
    check "$S: verdict=error, the reason names uid 65534" \
        has_line "$(conn "$WIN" error) reason=\"p0f socket served by uid 65534 \(pid [0-9]+\), not root or p0f_user\"$"
    check "$S: every connection line says so (4)" count_is 'verdict=error ms=[0-9]+ fp=p0f reason="p0f socket served by uid 65534' 4
    check "$S: one (rate-limited) error line about the socket" \
        eval 'count_is "level=error msg=\"refusing a p0f socket not owned by root or p0f_user\" reason=\"p0f socket served by uid 65534" 1 && lines_is 5'
    check "$S: the impostor was never asked" eval '! grep -q query "$D/p0f/qlog" 2>/dev/null'
    check "$S: host fd count back to $PC_FD0 (now $PC_FD1)" [ "$PC_FD1" -eq "$PC_FD0" ]
    stop_host host
    for who in nobody 65534; do
        scenario "peercred-p0f_user-$who"
        peercred_run "p0f_user $who"
        check "$S: with p0f_user $who the Windows client is closed" [ "$PC_WIN" = closed ]
        check "$S: verdict=block" has_line "$(conn "$WIN" block) os=\"Windows\""
        check "$S: no refusal line" no_line "refusing a p0f socket"
        check "$S: host fd count back to $PC_FD0 (now $PC_FD1)" [ "$PC_FD1" -eq "$PC_FD0" ]
        stop_host host
    done
fi

# ---- trust: config and blocked-OS files others could change ---------------------------------------------------
# trust_run WHICH HOW: WHICH conf|blocked, HOW 0666|0620|nobody (the file), dir-0775|dir-nobody (the
# directory holding it: whoever may rename its entries may swap the file). The host runs in a private mount
# namespace whose /dev/log is the scenario's sink: a refused config means the default log socket.
# Sets TR_WIN (closed|served).
trust_run() {
    local which=$1 how=$2 file
    CONF_LOGSOCK=/dev/log write_conf
    file=$D/$which
    case $how in
        nobody) chown nobody:nogroup "$file" ;;
        dir-nobody) chown nobody:nogroup "$D" ;;
        dir-*) chmod "${how#dir-}" "$D" ;;
        *) chmod "$how" "$file" ;;
    esac
    start_p0f "${HOSTS[@]}"
    private_dev
    start_srv host loop "127.0.0.1:$PORT"
    HOST_WRAP=("${SRV_WRAP[@]}")
    TR_FD0=$(host_fds)
    TR_WIN=closed
    client win closed "$WIN" --timeout-ms 1500 || TR_WIN=served
    settle
    TR_FD1=$(fds_after "$TR_FD0")
}
if want trust; then
    for t in conf:0666:"writable by everyone" conf:0620:"writable by its group" conf:nobody:"owned by uid 65534, not by root or uid 0" \
             blocked:0666:"writable by everyone" blocked:nobody:"owned by uid 65534, not by root or uid 0" \
             conf:dir-0775:"its directory DIR is writable by its group" conf:dir-nobody:"its directory DIR is owned by uid 65534, not by root or uid 0"; do
        IFS=: read -r which how why <<<"$t"
        NSLOG=1 scenario "trust-$which-$how"
        why=${why//DIR/$D}
        trust_run "$which" "$how"
        what="cannot read the configuration"
        [ "$which" = blocked ] && what="cannot read the blocked-OS file"
        check "$S: the Windows client is served (pass-through)" [ "$TR_WIN" = served ]
        check "$S: one config error line naming $D/$which: $why" \
            has_line "level=error msg=\"config error\" file=\"$(re "$D/$which")\" reason=\"$what: $why\" action=pass_through$"
        check "$S: ... and nothing else (no verdict line)" eval 'lines_is 1'
        check "$S: p0f was never asked" eval '! grep -q query "$D/qlog" 2>/dev/null'
        check "$S: host fd count back to $TR_FD0 (now $TR_FD1)" [ "$TR_FD1" -eq "$TR_FD0" ]
        stop_host host
    done
fi

# ---- strace: no stderr, no openlog, no signal ---------------------------------------------------------------------
# strace_run OUT [config lines]: testsrv loop under strace -f with three clients; p0f stopped after the
# second (so the "cannot reach p0f" diagnostic path runs too).
STRACE_SET=write,writev,pwrite64,pwritev,pwritev2,sendto,sendmsg,sendmmsg,connect,kill,tkill,tgkill,rt_sigqueueinfo,rt_tgsigqueueinfo,rt_sigaction
# WIN_EXPECT: closed (default) or served (pass-through). Sets ST_OK (clients as expected, of 3).
strace_run() {
    local out=$1; shift
    write_conf "$@"
    start_p0f "${HOSTS[@]}"
    # LeakSanitizer cannot run under ptrace: an ASan build of the library gets detect_leaks=0 here.
    HOST_WRAP=(strace -f -qq -s 64 -o "$out" -e trace="$STRACE_SET" env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
    start_srv host loop "127.0.0.1:$PORT"
    HOST_WRAP=("${SRV_WRAP[@]}")
    ST_OK=0
    client win "${WIN_EXPECT:-closed}" "$WIN" --hold-ms 0 && ST_OK=$((ST_OK + 1))
    client lin served "$LIN" --hold-ms 0 && ST_OK=$((ST_OK + 1))
    stop_p0f
    client lin2 served 127.0.3.1 --hold-ms 0 && ST_OK=$((ST_OK + 1))   # not in any answer cache
    settle
    stop_host host
}
# strace_checks OUT: no write to fd 2, connects only to the scenario's log and p0f sockets.
strace_checks() {
    local out=$1 bad
    check "$S: strace saw the host (connect lines present)" grep -q ' connect(' "$out"
    bad=$(grep -E '^[0-9]+ +(write|writev|pwrite64|pwritev2?)\(2,' "$out" | head -3)
    check "$S: no write to the host's stderr${bad:+: $bad}" [ -z "$bad" ]
    bad=$(grep -E ' connect\(' "$out" | grep -vF -e "sun_path=\"$LOGSOCK\"" -e "sun_path=\"$D/p0f.sock\"" | head -3)
    check "$S: connects only to the log socket and the p0f socket (no openlog)${bad:+: $bad}" [ -z "$bad" ]
    bad=$(grep -E ' (kill|tkill|tgkill|rt_sigqueueinfo|rt_tgsigqueueinfo)\(' "$out" | head -3)
    check "$S: no signal sent${bad:+: $bad}" [ -z "$bad" ]
    bad=$(grep -E ' sendto\([0-9]+, [^)]*, \{sa_family=' "$out" | grep -vF "$LOGSOCK" | head -3)
    check "$S: no datagram sent anywhere but the log socket${bad:+: $bad}" [ -z "$bad" ]
}
# Signals a program installs handlers for: "SIGTERM SIGINT ...", sorted (SIG_DFL/SIG_IGN queries too).
handled_signals() { grep -oE ' rt_sigaction\(SIG[A-Z0-9]+, \{sa_handler=[^,]+' "$1" | sed -E 's/ rt_sigaction\((SIG[A-Z0-9]+), \{sa_handler=(.*)/\1=\2/; s/=0x[0-9a-f]+/=handler/' | sort -u | tr '\n' ' '; }
if want strace; then
    scenario strace
    strace_run "$D/strace.out"
    check "$S: clients closed/served as expected under strace ($ST_OK of 3)" [ "$ST_OK" -eq 3 ]
    strace_checks "$D/strace.out"
    check "$S: the worker and the shim were there (verdict lines)" \
        eval 'count_is "$(conn "$WIN" block)" 1 && count_is "$(conn "$LIN" allow)" 1 && has_line "$(conn 127.0.3.1 error)"'
    check "$S: ... and the diagnostic path ran (p0f gone)" has_line 'level=warning msg="(cannot reach p0f|p0f connection lost)"'
    # The same program without the shim: the same signal dispositions.
    strace -f -qq -o "$D/strace-plain.out" -e trace=rt_sigaction \
        env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$HELPERS/testsrv" --model loop \
        --listen "127.0.0.1:$((PORT + 1))" --ready-file "$D/ready-plain" 2>/dev/null &
    plain=$!
    wait_for 5 test -s "$D/ready-plain"
    kill "$(sed -n 's/^pid=\([0-9]*\).*/\1/p' "$D/ready-plain")"; wait "$plain"
    with=$(handled_signals "$D/strace.out") without=$(handled_signals "$D/strace-plain.out")
    check "$S: the shim installs no signal handler (with: $with; without: $without)" [ "$with" = "$without" ]
    end_scenario
    scenario strace-config-error
    WIN_EXPECT=served strace_run "$D/strace.out" "frobnicate yes"
    check "$S: clients served (pass-through) under strace ($ST_OK of 3)" [ "$ST_OK" -eq 3 ]
    strace_checks "$D/strace.out"
    check "$S: the config error line is there, and nothing else" \
        eval 'has_line "msg=\"config error\" .*frobnicate" && lines_is 1'
fi
end_scenario

# ---- select2: hold mode in a select() loop over two blocking listeners ------------------------------------
# hostsrv --mode select2 is Exim's and Sendmail's daemon loop. After a refusal the shim takes another
# connection only if one is queued; otherwise accept() says EINTR (what a blocking listener's caller
# retries silently), so the loop is back in select() at once: a client on the other port is served,
# and a SIGTERM that came during the hold is acted on.
# select2_start [fake_p0f ARGS]: hold mode on PORT and PORT+1.
select2_start() {
    TMO=3000
    PORTS="$PORT $((PORT + 1))" write_conf "mode hold" "hold_ms 3000" "action reject"
    start_p0f "$@" "${HOSTS[@]}"
    start_host host "$HELPERS/hostsrv" --mode select2 --listen "127.0.0.1:$PORT" --listen2 "127.0.0.1:$((PORT + 1))" \
        --events "$D/events" ${SELECT2_ARGS:-}
}
events_count() { grep -c -- "$1" "$D/events" 2>/dev/null || true; }
# signal_during_hold SIGNAL WAIT_S EXPECT [testclient ARGS]: a Windows client whose accept() is held
# (p0f has its query), then SIGNAL to the host 300 ms later; waits up to WAIT_S for the host to be
# gone. Sets HELD_PID (the client, still to be waited for) and GONE_MS (signal to exit).
signal_during_hold() {
    local sig=$1 wait_s=$2 expect=$3 t0; shift 3
    client win "$expect" "$WIN" "$@" &
    HELD_PID=$!
    wait_for 3 log_has "$D/qlog" "addr=$(re "$WIN")"
    sleep 0.3
    t0=$(now_ms)
    kill "-$sig" "$HOST_PID"
    wait_for "$wait_s" eval '! kill -0 "$HOST_PID" 2>/dev/null'
    GONE_MS=$(( $(now_ms) - t0 ))
}
# select2_other_port: a Windows client refused on PORT, then a Linux client on PORT+1; sets SL_OTHER
# (first line the PORT+1 client got, within 3 s).
select2_other_port() {
    client win "first-line=554 " "$WIN"
    PORT=$((PORT + 1)) client other "first-line=220 " "$LIN" --timeout-ms 3000
    SL_OTHER=$(sed -n 's/.*result=\([a-z_]*\).*/\1/p' "$D/client-other.out")
}
if want select2; then
    scenario select2
    select2_start
    select2_other_port
    check "$S: a refused client on port 1, then a client on port 2 gets its banner ($SL_OTHER)" [ "$SL_OTHER" = first_line ]
    check "$S: the refusal's accept() said EINTR (a blocking listener's call ends with its refusal)" \
        eval 'wait_for 3 grep -q "^accept_error port=$PORT errno=EINTR" "$D/events"'
    check "$S: ... and left the length of accept(fd, NULL, &len) alone, as the kernel does" \
        grep -q "^accept_error port=$PORT errno=EINTR addrlen=4242$" "$D/events"
    check "$S: the host accepted the port-2 client" grep -q "^accept port=$((PORT + 1))" "$D/events"
    check "$S: block line for the refused client, action=reject" has_line "$(conn "$WIN" block) .*action=reject"
    # SIGTERM during a hold: p0f answers in 800 ms, the signal comes at 300.
    end_scenario
    scenario select2-signal
    select2_start --delay-ms 800
    signal_during_hold TERM 5 "first-line=554 " --timeout-ms 3000
    wait "$HELD_PID"; crc=$?
    check "$S: SIGTERM during a hold: the host exits once the hold is over (${GONE_MS} ms; p0f answers at 800)" \
        eval '! kill -0 "$HOST_PID" 2>/dev/null && [ "$GONE_MS" -lt 3000 ]'
    check "$S: ... through its own loop (its stop event)" grep -q '^stop' "$D/events"
    check "$S: ... and the held client still got its reply" [ "$crc" -eq 0 ]
    end_scenario
    # An early talker (spam software that sends before the banner): its bytes are waiting when
    # the shim refuses it. A close with unread data sends a reset, which may reach the client
    # before it reads the 554 (a Windows client drops what it had not read); the shim reads the
    # bytes away first, so the client gets the 554 and then only a FIN (testclient sees a reset
    # that follows the FIN in its socket's state).
    scenario select2-early
    SELECT2_ARGS="--pause-ms 200" select2_start
    client early "first-line=554 " "$WIN" --talk-first --then eof --timeout-ms 3000
    check "$S: an early talker gets the 554, then a FIN and no reset ($(cat "$D/client-early.out"))" \
        eval 'grep -q " then=eof" "$D/client-early.out" && ! grep -q "reset=1" "$D/client-early.out"'
    end_scenario
    # A busy daemon: 20 refused clients queue while it sleeps after select(). On a blocking
    # listener each accept() ends with its refusal (another accepter could take the next queued
    # connection first and leave this call waiting for the port's next client): 20 calls, EINTR.
    scenario select2-cap
    SELECT2_ARGS="--pause-ms 300" select2_start
    pids=()
    for i in $(seq 1 20); do client "w$i" "first-line=554 " "$WIN" --timeout-ms 15000 & pids+=($!); done
    refused=0
    for p in "${pids[@]}"; do wait "$p" && refused=$((refused + 1)); done
    returns=$(events_count "^accept_error port=$PORT")
    check "$S: 20 queued Windows clients refused ($refused)" [ "$refused" -eq 20 ]
    check "$S: one accept() call per refusal ($returns returned -1)" [ "$returns" -eq 20 ]
    check "$S: ... each with EINTR (ECONNABORTED is only for non-blocking listeners)" \
        eval '[ "$(events_count "^accept_error port=$PORT errno=EINTR")" -eq "$returns" ]'
    stop_host host
fi
end_scenario

# ---- cancel: the accepting thread is cancelled during a hold --------------------------------------------
# hostsrv --mode cancel: a thread blocks in accept(); p0f never answers, so a Windows client's
# accept() is held (until timeout_ms, 2 s). On SIGUSR2 the main thread cancels the accepting thread, joins
# it and exits through the library's destructor. The hold must let the cancellation through without
# keeping the engine's lock, and the connection the thread never returned must not leak.
if want cancel; then
    scenario cancel
    TMO=2000
    write_conf "mode hold" "hold_ms 5000"
    start_p0f --mode hang "${HOSTS[@]}"
    start_host host "$HELPERS/hostsrv" --mode cancel --listen "127.0.0.1:$PORT" --events "$D/events"
    signal_during_hold USR2 4 closed --timeout-ms 8000
    check "$S: the host joined the cancelled thread and exited (${GONE_MS} ms after SIGUSR2)" \
        eval '! kill -0 "$HOST_PID" 2>/dev/null'
    check "$S: the thread's half-accepted connection did not leak" grep -q '^joined leaked=0' "$D/events"
    kill -KILL "$HOST_PID" 2>/dev/null   # a deadlocked host would never exit on its own
    stop_host host
    check "$S: exit status 0" [ $? -eq 0 ]
    wait "$HELD_PID"
    check "$S: the held client saw its connection closed" [ $? -eq 0 ]
fi
end_scenario

# ---- cancel-points: no cancellation point while the host's thread could be cancelled there ---------------
# cancelprobe.so, preloaded after the library, stands between it and libc's cancellation points
# and notes each call with the calling thread's cancellation state. The verdict from the SYN alone
# makes no such call (its sends and closes are raw system calls) and leaves the thread's
# cancellation state unwritten (a page a forking server's parent would copy); every other path
# holds cancellation off first, and the worker never allows it. A forking host; Linux is blocked, so
# that refusals are made too (every loopback SYN is Linux's).
cancelpoints_run() {   # cancelpoints_run FINGERPRINT WIN_EXPECT [CONF LINE...]: CP_CALLS, CP_CANCELLABLE
    local fp=$1 win=$2 i bad=0; shift 2
    FINGERPRINT=$fp write_conf "$@"
    start_p0f "${HOSTS[@]}"
    SHIM="$SHIM $HELPERS/cancelprobe.so" start_host host env CANCELPROBE_OUT="$D/probe" "$HELPERS/testsrv" \
        --model fork --listen "127.0.0.1:$PORT" --stats-file "$D/host.stats"
    for i in 1 2 3; do
        client "lin$i" closed "$LIN" || bad=$((bad + 1))
        client "win$i" "$win" "$WIN" --hold-ms 0 || bad=$((bad + 1))
    done
    check "$S: Linux clients refused, Windows clients $win ($bad of 6 otherwise)" [ "$bad" -eq 0 ]
    wait_for 5 eval '[ "$(log_count "$(L)" "remote=")" -ge 6 ]'
    check "$S: a line for each of the 6 connections" [ "$(log_count "$(L)" "remote=")" -ge 6 ]
    stop_host host
    CP_CALLS=$(grep -c '^call=' "$D/probe" 2>/dev/null)
    CP_CANCELLABLE=$(grep -c 'cancellable=1' "$D/probe" 2>/dev/null)
    grep -m3 'cancellable=1' "$D/probe" 2>/dev/null | sed "s/^/# $S: /"
}
if want cancel-points; then
    for mode in syn syn+p0f auto p0f hold; do
        BLOCKED=/linux/ scenario "cancel-points-${mode/+/-}"
        case $mode in
            hold) cancelpoints_run p0f served "mode hold" ;;
            p0f) cancelpoints_run p0f served ;;
            *) cancelpoints_run "$mode" closed ;;   # every loopback SYN is Linux's
        esac
        check "$S: no call to a cancellation point while cancellable ($CP_CANCELLABLE of $CP_CALLS calls)" \
            [ "${CP_CANCELLABLE:-1}" -eq 0 ]
        case $mode in
            p0f|hold) check "$S: the probe saw the library's calls (the worker's: $CP_CALLS)" [ "${CP_CALLS:-0}" -gt 0 ] ;;
        esac
    done
fi
end_scenario

# ---- stdio, gap: the number the host gets next is the host's --------------------------------------------
# stdio_run / gap_run set HS_EVENT: the host's "accepted fd=A next_open=B" line. In gap_run the
# worker runs (a judged warm-up connection) before the host squeezes its descriptors.
stdio_run() {
    write_conf
    start_p0f "${HOSTS[@]}"
    start_host host "$HELPERS/hostsrv" --mode stdio --listen "127.0.0.1:$PORT" --events "$D/events"
    client lin "first-line=220 " "$LIN"
    wait_for 3 grep -q '^accepted' "$D/events"
    HS_EVENT=$(grep -m1 '^accepted' "$D/events")
}
gap_run() {
    write_conf
    start_p0f "${HOSTS[@]}"
    start_host host "$HELPERS/hostsrv" --mode gap --limit 64 --listen "127.0.0.1:$PORT" --events "$D/events"
    client warm "first-line=220 " "$LIN"
    has_line "$(conn "$LIN" allow)"
    settle
    kill -USR2 "$HOST_PID"
    wait_for 3 grep -q '^squeezed' "$D/events"
    client win "first-line=220 " "$WIN"
    wait_for 3 grep -q '^accepted' "$D/events"
    HS_EVENT=$(grep -m1 '^accepted' "$D/events")
}
if want stdio; then
    scenario stdio
    stdio_run
    check "$S: a daemon without stdio: accept() got 0, its next open() got 1 ($HS_EVENT)" [ "$HS_EVENT" = "accepted fd=0 next_open=1" ]
    check "$S: the connection was judged" has_line "$(conn "$LIN" allow)"
    stop_host host
fi
end_scenario
if want gap; then
    scenario gap
    gap_run
    check "$S: limit 64, 20 and 21 free: accept() got 20, the host's next open() got 21 ($HS_EVENT)" \
        [ "$HS_EVENT" = "accepted fd=20 next_open=21" ]
    check "$S: one warning: near the descriptor limit; connections passed unjudged" \
        has_line 'level=warning msg="near the descriptor limit; connections passed unjudged" count="1"'
    check "$S: no verdict line for it" no_line "remote=$(re "$WIN"):"
    stop_host host
fi
end_scenario

# ---- host-close: the MTA closes before the verdict ---------------------------------------------------------
# hostsrv --mode closenow writes a 421 and closes at once. The shim's duplicate must not keep the
# connection open until the verdict: the client sees EOF within a few ms, and the line still comes.
if want host-close; then
    scenario host-close
    TMO=3000
    write_conf
    start_p0f --mode hang "${HOSTS[@]}"
    start_host host "$HELPERS/hostsrv" --mode closenow --listen "127.0.0.1:$PORT"
    client hung closed "$LIN" --timeout-ms 5000
    ms=$(client_ms hung)
    check "$S: p0f hung: the client sees the MTA's close at once (${ms} ms; timeout_ms 3000)" [ "${ms:-9999}" -lt 200 ]
    check "$S: ... and the line still comes, at the deadline" has_line "$(conn "$LIN" error) .*reason=\"p0f timeout\"" 5
    end_scenario
    scenario host-close-block
    TMO=3000
    write_conf
    start_p0f --delay-ms 300 "${HOSTS[@]}"
    start_host host "$HELPERS/hostsrv" --mode closenow --listen "127.0.0.1:$PORT"
    client win closed "$WIN" --timeout-ms 5000
    ms=$(client_ms win)
    check "$S: p0f answers in 300 ms: the client sees the close at once (${ms} ms)" [ "${ms:-9999}" -lt 200 ]
    check "$S: the block line says it came too late: cutoff=too_late client_sent=0" \
        has_line "$(conn "$WIN" block) .* cutoff=too_late client_sent=0"
    end_scenario
    # An ordinary server (testsrv): a block that lands before the client spoke, and one that lands
    # after the client had started its dialogue.
    scenario cutoff
    TMO=3000
    write_conf
    start_p0f "${HOSTS[@]}"
    start_srv host epoll "127.0.0.1:$PORT"
    client quick closed "$WIN"
    check "$S: a block before the client spoke: cutoff=in_time client_sent=0" \
        has_line "$(conn "$WIN" block) .* cutoff=in_time client_sent=0"
    stop_host host
    end_scenario
    scenario cutoff-late
    TMO=3000
    write_conf
    start_p0f --delay-ms 400 "${HOSTS[@]}"
    start_srv host epoll "127.0.0.1:$PORT"
    client talker served "$WIN" --hold-ms 0 --timeout-ms 3000
    check "$S: a block after the client had sent its commands: cutoff=after_data or too_late, client_sent > 0" \
        has_line "$(conn "$WIN" block) .* cutoff=(after_data|too_late) client_sent=[1-9]"
    stop_host host
fi
end_scenario

# ---- worker-retry: the lookup thread cannot start at first --------------------------------------------------
# The host runs as nobody with RLIMIT_NPROC 1: pthread_create fails (EAGAIN). The first connection
# passes unjudged, with one line that says why; once the limit is raised, the next connection is
# judged (the start is retried after a back-off, not given up for the life of the process).
if want worker-retry; then
    scenario worker-retry
    write_conf
    chmod 755 "$D"
    start_p0f "${HOSTS[@]}"
    mkdir -p "$D/run"; chown 65534:65534 "$D/run"
    RUN=$D/run SRV_USER=65534 start_host host prlimit --nproc=1: "$HELPERS/testsrv" --model loop \
        --listen "127.0.0.1:$PORT"
    check "$S: first Windows client passes unjudged (no thread)" client first served "$WIN" --hold-ms 0
    check "$S: one line says why: no lookup thread, naming pthread_create's error" \
        has_line 'level=warning msg="no lookup thread; connections passed unjudged" count="1 \(cannot start the lookup thread: Resource temporarily unavailable'
    # As nobody: a process may raise its own user's soft limits up to the hard one.
    setpriv --reuid=65534 --regid=65534 --clear-groups prlimit --pid "$HOST_PID" --nproc=4096:
    sleep 0.3
    check "$S: after the limit is raised, a Windows client is judged and closed" client second closed "$WIN"
    check "$S: ... with its block line" has_line "$(conn "$WIN" block)"
    stop_host host
fi
end_scenario

# ---- mutants: each protection removed, its check fails ---------------------------------------------------------
if want mutants; then
    wait "$MUTANT_BUILD" 2>/dev/null
    for name in "${MUTANTS[@]}"; do
        check "mutant $name: built (else see $WORK/mutant-$name/build.log: $(head -c 200 "$WORK/mutant-$name/build.log" 2>/dev/null))" \
            test -e "$WORK/mutant-$name/built"
    done
    if [ -e "$WORK/mutant-nodup/built" ]; then
        SHIM=$(mutant_lib nodup)
        scenario mutant-nodup
        fdreuse_run
        check "mutant nodup (no duplicate, no identity check): a B client behind the reused number is shut down ($FR_B_SERVED of 3 served)" \
            [ "$FR_B_SERVED" -lt 3 ]
        end_scenario
    fi
    if [ -e "$WORK/mutant-sigmask/built" ]; then
        SHIM=$(mutant_lib sigmask)
        scenario mutant-sigmask
        signals_run
        check "mutant sigmask (worker does not block signals): handlers run on the worker (wrong_thread=$SG_WRONG)" \
            [ "${SG_WRONG:-0}" -gt 0 ]
        end_scenario
    fi
    if [ -e "$WORK/mutant-band/built" ]; then
        SHIM=$(mutant_lib band)
        scenario mutant-band
        TMO=1000
        emfile_run 1 4 3 3 --delay-ms 500
        check "mutant band (lowest free numbers): the host's own accept() fails (accept_errors=$(stat_of accept_errors))" \
            [ "$(stat_of accept_errors)" -gt 0 ]
        end_scenario
        scenario mutant-band-stdio
        stdio_run
        check "mutant band: the daemon without stdio gets another number than 1 ($HS_EVENT)" [ "$HS_EVENT" != "accepted fd=0 next_open=1" ]
        stop_host host
        end_scenario
        scenario mutant-band-gap
        gap_run
        check "mutant band: the host's open() fails in the gap case ($HS_EVENT)" [ "$HS_EVENT" = "accepted fd=20 next_open=EMFILE" ]
        stop_host host
        end_scenario
    fi
    if [ -e "$WORK/mutant-cancelguard/built" ]; then
        SHIM=$(mutant_lib cancelguard)
        BLOCKED=/linux/ scenario mutant-cancelguard
        cancelpoints_run syn+p0f closed   # the line left to the worker: its wake-up is a write()
        check "mutant cancelguard (cancellation never held off): the probe sees a cancellable call ($CP_CANCELLABLE of $CP_CALLS)" \
            [ "${CP_CANCELLABLE:-0}" -gt 0 ]
        end_scenario
    fi
    if [ -e "$WORK/mutant-refusal/built" ]; then
        SHIM=$(mutant_lib refusal)
        scenario mutant-refusal
        select2_start
        select2_other_port
        check "mutant refusal (accept() again after a refusal): the port-2 client waits in vain ($SL_OTHER)" [ "$SL_OTHER" != first_line ]
        end_scenario
    fi
    if [ -e "$WORK/mutant-peercred/built" ]; then
        SHIM=$(mutant_lib peercred)
        scenario mutant-peercred
        peercred_run
        check "mutant peercred (no SO_PEERCRED check): the impostor's answer closes the Windows client" [ "$PC_WIN" = closed ]
        end_scenario
    fi
    if [ -e "$WORK/mutant-trust/built" ]; then
        SHIM=$(mutant_lib trust)
        NSLOG=1 scenario mutant-trust
        trust_run conf 0666
        check "mutant trust (file trust not checked): the world-writable config is used (Windows client closed)" [ "$TR_WIN" = closed ]
        end_scenario
    fi
    SHIM=$LIB
fi

# ---- burst-10k, a minute on: the overflow count adds up ----------------------------------------------------------
# The overflow line is rate-limited (one a minute). Connections that overflowed while it was held
# back must still be counted: once the minute is over, a connection that wakes the worker brings
# the held-back count out. Then judged lines + overflow counts = connections accepted.
if [ -n "${BURST_D:-}" ]; then
    S=burst-10k D=$BURST_D PORT=$BURST_PORT HOST_PID=$BURST_HOST
    left=$((BURST_T_OVERFLOW + 62 - SECONDS))
    [ "$left" -gt 0 ] && { echo "# $S: waiting $left s for the rate limit's minute to pass"; sleep "$left"; }
    client late served "$LIN" --hold-ms 0
    sleep 3
    judged=$(log_count "$(L)" " remote=127\.")
    overflowed=$(grep -o 'msg="too many connections awaiting a verdict; passed unjudged" count="[0-9]*"' "$(L)" |
        sed 's/.*count="\([0-9]*\)"/\1/' | awk '{ n += $1 } END { print n + 0 }')
    accepted=$(stat_of accepted)
    echo "# $S: judged=$judged overflowed (sum of counts)=$overflowed accepted=$accepted lines: $(grep -c 'too many' "$(L)")"
    check "$S: after a minute, judged + counted as overflowed = accepted ($judged + $overflowed = $accepted)" \
        [ $((judged + overflowed)) -eq "${accepted:-0}" ]
    check "$S: at most two overflow lines in all (one a minute)" [ "$(log_count "$(L)" 'msg="too many connections')" -le 2 ]
    fd2=$(fds_after "$BURST_FD0")
    check "$S: host fd count still $BURST_FD0 (now $fd2)" [ "$fd2" -eq "$BURST_FD0" ]
    kill "$BURST_HOST" 2>/dev/null
    for pid in "${burst_pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    S=''
fi

echo "# scenario runtimes (s): $(for k in "${!RUNTIME[@]}"; do printf '%s=%s ' "$k" "${RUNTIME[$k]}"; done)"
echo "# fault tests took $((SECONDS - T_START)) s"
summary
