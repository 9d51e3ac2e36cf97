# The scenario plumbing of the integration tests (sourced; it sources tests/lib.sh).
#
# A scenario is one directory D=$WORK/$S with ports of its own ($PORT and the PORT_STEP - 1 after
# it), a config ($D/conf), a blocked-OS file ($D/blocked), a log sink ($LOGSOCK, recording in
# $D/log.txt), fake p0f daemons and servers under the shim. `scenario NAME` ends the previous
# scenario (every process it started) and begins the next.
#
# The including script sets PORT_BASE, and may set PORT_STEP (ports per scenario, default 4),
# DEFAULT_TMO (each scenario's timeout_ms, default 500), JUDGED_PORTS (how many of the scenario's
# ports the config names, default 1) and SHIM (the library the servers preload, default $LIB;
# empty: none).
# Knobs read at the time of a call, as in `NAME=value function ...`:
#   scenario:   BLOCKED (line 1 of the blocked-OS file, default /windows/), NSLOG=1 (the sink's
#               socket is $D/dev/log, for a host whose private /dev holds it)
#   conf_lines: PORTS (instead of the scenario's), TMO, CONF_LOGSOCK (instead of $LOGSOCK),
#               P0F_LINES (the p0f source lines, default "socket $D/p0f.sock")
#   start_p0f:  P0F (its name, default p0f), QLOG (its query log)
#   start_host: CONF (default $D/conf), RUN (where ready and stats files go, default $D),
#               SRV_USER (run it as this uid and gid), HOST_WRAP (an array: a command it runs
#               under, e.g. valgrind or strace), READY_WAIT (seconds, default 15), SHIM
#   start_srv:  those of start_host, and TESTSRV (another copy of testsrv)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

S='' D='' PORT='' TMO='' LOGSOCK='' SINK_PID='' SCENARIO_NO=0 T_SCENARIO=0
SRV_NAME='' SRV_PID='' HOST_PID='' P0F_PID=''
declare -A SRV=()      # server name -> the pid started (the program's, or its wrapper's)
declare -A HOST=()     # server name -> the program's own pid (from its ready file)
declare -A P0FS=()     # p0f name -> pid
declare -A RUNTIME=()  # scenario -> seconds it took

# scenario NAME: end the current scenario; a fresh directory, ports, blocked-OS file, empty log
# and log sink for NAME.
scenario() {
    end_scenario
    S=$1 D=$WORK/$1 TMO=${DEFAULT_TMO:-500}
    PORT=$((PORT_BASE + ${PORT_STEP:-4} * SCENARIO_NO))
    SCENARIO_NO=$((SCENARIO_NO + 1))
    T_SCENARIO=$SECONDS
    mkdir -p "$D"
    printf '%s\n' "${BLOCKED:-/windows/}" >"$D/blocked"
    chmod 644 "$D/blocked"
    : >"$D/log.txt"
    LOGSOCK=$D/log.sock
    if [ -n "${NSLOG:-}" ]; then
        mkdir -p "$D/dev"
        LOGSOCK=$D/dev/log
    fi
    start_sink "$LOGSOCK" "$D/log.txt" || echo "# $S: logsink did not start"
}

# end_scenario: stop what the scenario started, servers first, its log sink last.
end_scenario() {
    local pid
    [ -n "$S" ] && [ -z "${RUNTIME[$S]:-}" ] && RUNTIME[$S]=$((SECONDS - T_SCENARIO))
    for pid in "${HOST[@]}"; do kill "$pid" 2>/dev/null; done   # a program behind a wrapper
    for pid in "${SRV[@]}" "${P0FS[@]}" $SINK_PID; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    SRV=() HOST=() P0FS=()
    SRV_PID='' HOST_PID='' P0F_PID='' SINK_PID=''
}

# conf_lines [LINE...]: the scenario's config (its log socket on line 2, so that an error further
# down is logged there; the p0f source lines from line 3), then LINEs.
conf_lines() {
    echo "# p0fshim test scenario $S ($(basename "$0"))"
    echo "log_socket ${CONF_LOGSOCK:-$LOGSOCK}"
    printf '%s\n' "${P0F_LINES:-socket $D/p0f.sock}"
    echo "ports ${PORTS:-$(seq -s ' ' "$PORT" $((PORT + ${JUDGED_PORTS:-1} - 1)))}"
    echo "timeout_ms $TMO"
    echo "blocked_os_file $D/blocked"
    [ $# -gt 0 ] && printf '%s\n' "$@"
    # Last, so that no line number above moves: the fake p0f decides unless a scenario says.
    echo "fingerprint ${FINGERPRINT:-p0f}"
    return 0
}

# write_conf [LINE...]: conf_lines into $D/conf, mode 0644 (the shim refuses one others may write).
write_conf() {
    conf_lines "$@" >"$D/conf"
    chmod 644 "$D/conf"
}

# start_p0f [fake_p0f ARGS...]: a fake p0f named $P0F (default p0f) on $D/$P0F.sock, its query log
# $D/$QLOG (default qlog, qlog2 for p0f2, ...); P0F_PID is its pid. A second one of the same
# name replaces the first in the scenario's list: stop that one first (stop_p0f).
start_p0f() {
    local name=${P0F:-p0f}
    local qlog=${QLOG:-qlog${name#p0f}}
    rm -f "$D/$name.ready"
    spawn "$HELPERS/fake_p0f" --socket "$D/$name.sock" --query-log "$D/$qlog" --ready-file "$D/$name.ready" \
        "$@" 2>>"$D/fake_$name.err"
    P0F_PID=$!
    P0FS[$name]=$P0F_PID
    wait_for 5 test -e "$D/$name.ready" || echo "# $S: fake_p0f ($name) did not start"
}

# stop_p0f [NAME]: stop the fake p0f NAME (default p0f), as a p0f that dies or restarts.
stop_p0f() {
    local name=${1:-p0f}
    kill "${P0FS[$name]}" 2>/dev/null
    wait "${P0FS[$name]}" 2>/dev/null
    unset "P0FS[$name]"
}

# start_clean NAME COMMAND...: COMMAND in the background with fds 0-2 only (0 = /dev/null, 2 =
# $D/NAME.err), so that fd censuses show just its own; SRV[NAME] and SRV_PID are its pid (env and
# exec keep it).
start_clean() {
    local name=$1; shift
    spawn bash -c 'for f in /proc/$$/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done; exec "$@"' \
        "$name" "$@" </dev/null 2>>"$D/$name.err"
    SRV_PID=$!
    SRV[$name]=$SRV_PID
    SRV_NAME=$name
}

# start_host NAME PROGRAM [ARGS...]: PROGRAM (a server that takes --ready-file and writes
# "pid=P ..." there) under the shim with the scenario's config, started clean (start_clean),
# `--ready-file $RUN/NAME.ready` appended. Waits for the ready file; HOST[NAME] and HOST_PID are
# the program's own pid (SRV_PID may be a wrapper's).
start_host() {
    local name=$1 run=${RUN:-$D} as=(); shift
    rm -f "$run/$name.ready"
    [ -n "${SRV_USER:-}" ] && as=(setpriv --reuid="$SRV_USER" --regid="$SRV_USER" --clear-groups)
    start_clean "$name" "${HOST_WRAP[@]}" "${as[@]}" env LD_PRELOAD="${SHIM-$LIB}" \
        P0FSHIM_CONFIG="${CONF:-$D/conf}" "$@" --ready-file "$run/$name.ready"
    wait_for "${READY_WAIT:-15}" test -s "$run/$name.ready" || echo "# $S: $name did not get ready"
    HOST_PID=$(sed -n 's/^pid=\([0-9]*\).*/\1/p' "$run/$name.ready" 2>/dev/null)
    HOST[$name]=$HOST_PID
}

# start_srv NAME MODEL LISTEN [testsrv ARGS...]: testsrv ($TESTSRV: another copy of it) under
# the shim (start_host), with --model MODEL --listen LISTEN and its stats in $RUN/NAME.stats.
start_srv() {
    local name=$1 model=$2 listen=$3; shift 3
    start_host "$name" "${TESTSRV:-$HELPERS/testsrv}" --model "$model" --listen "$listen" \
        --stats-file "${RUN:-$D}/$name.stats" "$@"
}

# stop_host NAME: SIGTERM to the program itself (through any wrapper); returns its exit status.
stop_host() {
    local name=$1 rc=0
    kill "${HOST[$name]:-${SRV[$name]}}" 2>/dev/null
    wait "${SRV[$name]}" 2>/dev/null || rc=$?
    unset "SRV[$name]" "HOST[$name]"
    return "$rc"
}

# stop_srv NAME: stop_host, then the exit status and the stats the shim must not disturb.
stop_srv() {
    local name=$1 rc=0
    stop_host "$name" || rc=$?
    check "$S: $name exits cleanly on SIGTERM" [ "$rc" -eq 0 ]
    check "$S: $name: no accept error, errno preserved" \
        grep -Eq 'accept_errors=0 errno_changed=0' "${RUN:-$D}/$name.stats"
}

# stat_of FIELD [NAME]: a number from the server NAME's stats file (default: the last started).
stat_of() { sed -n "s/.*\<$1=\([-0-9]*\).*/\1/p" "${RUN:-$D}/${2:-$SRV_NAME}.stats" 2>/dev/null; }
stat_is() { [ "$(stat_of "$1" "${3:-}")" = "$2" ]; }

# client TAG EXPECT BIND [testclient ARGS...]: one testclient run from BIND to 127.0.0.1:$PORT
# (unless ARGS has --connect), with $CLIENT_OPTS; its output in $D/client-TAG.out.
client() {
    local tag=$1 expect=$2 bind=$3; shift 3
    "$HELPERS/testclient" --connect "127.0.0.1:$PORT" --bind "$bind" --expect "$expect" $CLIENT_OPTS "$@" \
        >"$D/client-$tag.out" 2>&1
}
# client_storm N: N clients one after the other, from $LIN (served) and $WIN (closed) in turn;
# STORM_BAD is how many of them ended otherwise (their output is shown).
client_storm() {
    local i
    STORM_BAD=0
    for i in $(seq 1 "$1"); do
        if [ $((i % 2)) -eq 0 ]; then
            client storm closed "$WIN" || { STORM_BAD=$((STORM_BAD + 1)); cat "$D/client-storm.out"; }
        else
            client storm served "$LIN" --hold-ms 0 || { STORM_BAD=$((STORM_BAD + 1)); cat "$D/client-storm.out"; }
        fi
    done
}
# served_while_hung: with the p0f lookups hung, a client from $WIN is served and one from $LIN
# gets its banner within 100 ms, both before timeout_ms ($TMO).
served_while_hung() {
    local t0 t1
    t0=$(now_ms)
    check "$S: windows client is served" client win served "$WIN" --hold-ms 50
    check "$S: a second client during the hang gets its banner within 100 ms" \
        client lin served "$LIN" --timeout-ms 100 --hold-ms 0
    t1=$(now_ms)
    check "$S: both clients were done while the first lookup still hung ($((t1 - t0)) ms < $TMO)" [ $((t1 - t0)) -lt "$TMO" ]
}
client_ms() { sed -n 's/.*result=[a-z]* ms=\([0-9]*\).*/\1/p' "$D/client-$1.out"; }
# first_is TAG LINE [THEN]: the client's first line was exactly LINE (and, with THEN, e.g. "eof",
# what followed).
first_is() {
    local want="^result=first_line ms=[0-9]+ line=\"$(re "$2")\"${3:+ then=$3}"
    grep -Eq -- "$want" "$D/client-$1.out" || { echo "# client $1: $(cat "$D/client-$1.out")"; return 1; }
}

# The scenario's log.
L() { echo "${LOGTXT:-$D/log.txt}"; }
# conn IP VERDICT [PORT] [PID]: the start of a connection line from IP (IPv4) to 127.0.0.1:PORT
# (default $PORT; a regex may stand for it), written by PID (default any).
conn() { echo "p0fshim\[${4:-[0-9]+}\]: remote=$(re "$1"):[0-9]+ local=127\.0\.0\.1:${3:-$PORT} verdict=$2 ms=[0-9]+( fp=(syn|p0f))?"; }
has_line() { wait_for "${2:-3}" log_has "$(L)" "$1"; }   # has_line REGEX [SECONDS]
count_is() { [ "$(log_count "$(L)" "$1")" -eq "$2" ]; }
lines_is() { [ "$(wc -l <"$(L)")" -eq "$1" ]; }
no_line() { ! log_has "$(L)" "$1"; }
# ms_between REGEX LO HI: the ms= field of the first line matching REGEX is within [LO, HI].
ms_between() {
    local ms
    ms=$(grep -E -m1 -- "$1" "$(L)" | sed -nE 's/.* verdict=[a-z]+ ms=([0-9]+).*/\1/p')
    [ -n "$ms" ] && [ "$ms" -ge "$2" ] && [ "$ms" -le "$3" ] || { echo "# ms=$ms not in [$2, $3]"; return 1; }
}
settle() { sleep_ms $((TMO + 300)); }   # every verdict has landed and the p0f link idled out
