#!/bin/bash
# Integration tests on loopback: testsrv runs under LD_PRELOAD=libp0fshim.so, fake_p0f stands in
# for the p0f daemon and logsink for /dev/log. The fake p0f tells clients apart by their source
# address: 127.0.0.2 is "Windows NT kernel", 127.0.0.3 "Linux 3.11 and newer", ::1 Windows too.
# Each scenario has its own ports and its own config, log, blocked-OS file and p0f socket under
# $WORK/<scenario>. KEEP_WORK=1 keeps the scratch directory; P0FSHIM_IT_PORT_BASE moves the ports.
source "$(dirname "${BASH_SOURCE[0]}")/../scenario.sh"

require_built "$LIB" "$HELPERS/fake_p0f" "$HELPERS/testsrv" "$HELPERS/testclient" "$HELPERS/logsink" \
    "$HELPERS/accept_semantics"

PORT_BASE=${P0FSHIM_IT_PORT_BASE:-41000}
DEFAULT_TMO=300          # the shim's verdict deadline in most scenarios (timeout_ms)
WIN=127.0.0.2 LIN=127.0.0.3 UNK=127.0.0.4 NOOS=127.0.0.5
HOSTS=(--host "$WIN" --os Windows --flavor "NT kernel" --match exact --dist 0 --link Ethernet --total 3
       --host "$LIN" --os Linux --flavor "3.11 and newer" --match generic --dist 1 --link Ethernet
       --host ::1 --os Windows --flavor "NT kernel"
       --host "$NOOS")
SHIM=$LIB                # the library under test (the mutant checks swap it)
CLIENT_OPTS=            # extra testclient options for one scenario (--mptcp)

# ---- mutants: copies of the library with a deliberately leaked dup -------------------------
# Built in the background at once (MUTANT=-DP0FSHIM_MUTANT_<NAME>=1, src/mutant.h); the fd-leak
# checks run against them at the end to prove they would catch the leak. leak: the dup is never
# closed after the verdict; forkleak: a forked child keeps the parent's pending dups.
build_mutant() {
    local name=$1 dir=$WORK/mutant-$1
    mkdir -p "$dir"
    make -s -C "$TOP" B="$dir/build" MUTANT="-DP0FSHIM_MUTANT_${name^^}=1" "$dir/build/libp0fshim.so" \
        >"$dir/build.log" 2>&1 && echo ok >"$dir/built"
}
(build_mutant leak) &
MUTANT_BUILD_LEAK=$!
(build_mutant forkleak) &
MUTANT_BUILD_FORKLEAK=$!
CHILD_PIDS+=("$MUTANT_BUILD_LEAK" "$MUTANT_BUILD_FORKLEAK")

has_fixed() { grep -qF -- "$1" "$(L)"; }
sock_count() { local f n=0; for f in /proc/"$1"/fd/*; do [[ $(readlink "$f") == socket:* ]] && n=$((n + 1)); done; echo $n; }

# fd census of a forked child: "CONN LISTEN OTHER [details]", fds 0-2 and the shim's log socket left out. A fd is
# counted as CONN if it refers to an established TCP socket: a dup of the connection shares its
# inode, so it shows up as a second CONN.
child_fds() {
    local pid=$1 fd link ino est lis conn=0 listen=0 other=0 desc=
    est=$(awk 'NR > 1 && $4 == "01" { print $10 }' "/proc/$pid/net/tcp" "/proc/$pid/net/tcp6" 2>/dev/null)
    lis=$(awk 'NR > 1 && $4 == "0A" { print $10 }' "/proc/$pid/net/tcp" "/proc/$pid/net/tcp6" 2>/dev/null)
    for fd in /proc/"$pid"/fd/*; do
        [ "${fd##*/}" -le 2 ] 2>/dev/null && continue
        link=$(readlink "$fd") || continue
        ino=
        [[ $link =~ ^socket:\[([0-9]+)\]$ ]] && ino=${BASH_REMATCH[1]}
        if [ -n "$ino" ] && grep -qx "$ino" <<<"$est"; then
            conn=$((conn + 1))
        elif [ -n "$ino" ] && grep -qx "$ino" <<<"$lis"; then
            listen=$((listen + 1))
        elif [ -n "$ino" ] && is_log_client "$ino"; then
            # Kept on purpose: a pre-forked worker may chroot before it accepts and logs.
            desc+=" ${fd##*/}->$link(the shim's log socket)"
        else
            other=$((other + 1)) desc+=" ${fd##*/}->$link"
        fi
    done
    echo "$conn $listen $other$desc"
}

# is_log_client INODE: a unix socket connected to the scenario's logsink.
is_log_client() {
    local peer f
    peer=$(ss -xa 2>/dev/null | awk -v i="$1" '$6 == i { print $8; exit }')
    [ -n "$peer" ] || return 1
    for f in /proc/"$SINK_PID"/fd/*; do
        [ "$(readlink "$f")" = "socket:[$peer]" ] && return 0
    done
    return 1
}

# serving_child: the pid of a child of the server that holds an established connection.
serving_child() {
    local c n
    for c in $(cat /proc/"$SRV_PID"/task/*/children 2>/dev/null); do
        read -r n _ <<<"$(child_fds "$c")"
        [ "${n:-0}" -ge 1 ] && { echo "$c"; return 0; }
    done
    return 1
}

echo "# scratch directory $WORK"
T_START=$SECONDS

# ---- 1. symbol table -------------------------------------------------------------------------
syms=$(nm -D --defined-only "$LIB" | awk '{ print $NF }' | sort | tr '\n' ' ')
check "symbols: the library exports exactly accept, accept4, close and listen (got: $syms)" [ "$syms" = "accept accept4 close listen " ]

# ---- 2. server models --------------------------------------------------------------------------
# model_scenario NAME MODEL [testsrv ARGS...]
model_scenario() {
    local name=$1 model=$2 before after socks0; shift 2
    scenario "$name"
    write_conf
    start_p0f "${HOSTS[@]}"
    start_srv testsrv "$model" "127.0.0.1:$PORT" "$@"
    socks0=$(sock_count "$SRV_PID")
    # The first judged connection starts the shim's worker and its wake-up pipe (2 fds kept for
    # the life of the process); measure after it, once its verdict and the p0f link are gone.
    check "$S: warm-up linux client is served" client warm served "$LIN"
    has_line "$(conn "$LIN" allow)"
    settle
    before=$(fd_count "$SRV_PID")
    check "$S: after the warm-up the server holds no more sockets than at start ($socks0)" \
        [ "$(sock_count "$SRV_PID")" -eq "$socks0" ]
    check "$S: windows client is closed" client win closed "$WIN"
    check "$S: linux client is served" client lin served "$LIN"
    check "$S: block line for the windows client" has_line \
        "$(conn "$WIN" block) os=\"Windows\" flavor=\"NT kernel\" genre=\"Windows NT kernel\" match=exact distance=0 link=\"Ethernet\" uptime_min=0 total_conn=3 rule=\"/windows/\" rule_at=\"$(re "$D/blocked"):1\" cutoff=in_time client_sent=0$"
    check "$S: allow line for the linux client" has_line \
        "$(conn "$LIN" allow) os=\"Linux\" flavor=\"3\.11 and newer\" genre=\"Linux 3\.11 and newer\" match=generic distance=1 "
    check "$S: allow lines carry no rule" no_line "verdict=allow .*rule="
    settle
    check "$S: exactly one line per connection (1 windows, 2 linux, nothing else)" \
        eval 'count_is "remote=$(re "$WIN"):" 1 && count_is "remote=$(re "$LIN"):" 2 && lines_is 3'
    after=$(fd_count "$SRV_PID")
    check "$S: server fd count back to $before after the verdicts (now $after)" [ "$after" -eq "$before" ]
    stop_srv testsrv
}
model_scenario model-loop loop
model_scenario model-loop-null loop --null-addr
model_scenario model-epoll epoll
model_scenario model-fork fork
model_scenario model-threads threads
# Multipath TCP (what `mptcpize run` makes of an unmodified MTA), MPTCP clients: the accepted
# socket says SO_PROTOCOL 262 (a plain TCP client's falls back and says 6); p0f fingerprints the
# TCP SYN like any other, so it is judged.
CLIENT_OPTS=--mptcp model_scenario model-mptcp loop --mptcp

# ---- 3. accept semantics with and without the shim -----------------------------------------------
scenario accept-semantics
PORTS="$PORT $((PORT + 1)) $((PORT + 2))" write_conf
start_p0f "${HOSTS[@]}"
"$HELPERS/accept_semantics" --port "$PORT" >"$D/plain.out" 2>&1
check "accept_semantics: passes without the shim" [ $? -eq 0 ]
env LD_PRELOAD="$SHIM" P0FSHIM_CONFIG="$D/conf" "$HELPERS/accept_semantics" --port "$PORT" >"$D/shim.out" 2>&1
rc=$?
check "accept_semantics: passes under the shim ($(grep -c '^FAIL' "$D/shim.out") FAIL lines)" [ "$rc" -eq 0 ]
check "accept_semantics: the shim really judged its connections" \
    wait_for 3 log_has "$(L)" "remote=[^ ]+ local=(127\.0\.0\.1:$PORT|\[::1\]:$((PORT + 1))|127\.0\.0\.1:$((PORT + 2))) verdict="

# ---- 4. faults and policy (testsrv loop) ---------------------------------------------------------
# simple_scenario NAME [config lines...]: conf, fake p0f with the default hosts, loop server.
simple_scenario() {
    local name=$1; shift
    scenario "$name"
    write_conf "$@"
    start_p0f "${HOSTS[@]}"
    start_srv testsrv loop "127.0.0.1:$PORT"
}

# 4.1 no p0f at all
scenario no-p0f
write_conf
start_srv testsrv loop "127.0.0.1:$PORT"
check "$S: windows client is served" client win served "$WIN"
check "$S: linux client is served" client lin served "$LIN"
check "$S: verdict=error naming the connect failure (windows)" \
    has_line "$(conn "$WIN" error) reason=\"[^\"]*connect[^\"]*\"$"
check "$S: verdict=error naming the connect failure (linux)" \
    has_line "$(conn "$LIN" error) reason=\"[^\"]*connect[^\"]*\"$"
settle
check "$S: exactly one connection line each" \
    eval 'count_is "remote=$(re "$WIN"):" 1 && count_is "remote=$(re "$LIN"):" 1'
stop_srv testsrv

# 4.1b the SYN source, no p0f: loopback clients have a Linux stack, so /linux/ blocks them from
# their SYN inside accept(); no thread is started, no p0f asked, exempt keeps its karma
BLOCKED=/linux/ scenario syn-loopback
cp /etc/p0f/p0f.fp "$D/p0f.fp"
FINGERPRINT=syn write_conf "action reject" "smite_os linux" "exempt $LIN/32" "fp_file $D/p0f.fp"
start_srv testsrv loop "127.0.0.1:$PORT"
rm -f "$D/p0f.fp"   # read once at load: a file that vanishes later changes nothing
check "$S: a client's first line is 554 5.7.1, decided from its SYN" client win "first-line=554 5.7.1" "$WIN" --then eof
check "$S: the exempt client is served" client lin served "$LIN"
check "$S: block line fp=syn, Linux, sig=, karma, action=reject" \
    has_line "$(conn "$WIN" block) os=\"Linux\" .* sig=\"4:64\+0:0:[^\"]*\" rule=\"/linux/\" .* karma=-1 action=reject reply=\"554 5\.7\.1 [^\"]*\"$"
check "$S: the exempt line is fingerprinted and keeps its karma" \
    has_line "$(conn "$LIN" exempt) os=\"Linux\" .* sig=\"[^\"]*\" karma=-1 exempt=\"$(re "$LIN")/32\"$"
check "$S: the server runs one thread (no worker)" eval '[ "$(ls "/proc/${SRV[testsrv]}/task" | wc -l)" -eq 1 ]'
check "$S: no diagnostic (the signature file removed after load is not read again)" no_line "level="
check "$S: accept() returned no error, errno untouched" eval 'sleep 0.2; stat_is accept_errors 0 && stat_is errno_changed 0'
stop_srv testsrv

# 4.1b Redis stores (a real redis-server on a unix socket): greylisting and fleet karma decided
# inside accept(); the server killed mid-run: served, one error line; a fresh one: recovery.
scenario syn-redis
command -v redis-server >/dev/null || fail_now "redis-server is not installed (scripts/install-deps.sh)"
start_redis() {
    spawn redis-server --port 0 --unixsocket "$D/redis.sock" --save "" --appendonly no --dir "$D" \
        --daemonize no >"$D/redis.out" 2>&1
    REDIS=$!
    wait_for 5 test -S "$D/redis.sock"
}
start_redis || fail_now "redis-server did not start"
FINGERPRINT=syn write_conf "action reject" "smite_os linux" "greylist_os linux" "greylist_delay 1h" \
    "greylist_store unix:$D/redis.sock?db=2" "karma_store unix:$D/redis.sock?db=2" "karma_limit 3" "exempt $LIN/32"
start_srv testsrv loop "127.0.0.1:$PORT"
check "$S: first contact: the greylist reply is the first line" client win "first-line=421 4.7.1" "$WIN" --then eof
check "$S: its line: greylist, karma=-1 karma_total=1, action=tempfail" \
    has_line "$(conn "$WIN" greylist) os=\"Linux\" .* karma=-1 karma_total=1 action=tempfail reply=\"421 4\.7\.1 [^\"]*\"$"
client win "first-line=421 4.7.1" "$WIN" --then eof
check "$S: the third smitten connection reaches karma_limit 3: 554, rule=\"karma\"" \
    eval 'client win "first-line=554 5.7.1" "$WIN" --then eof &&
          has_line "$(conn "$WIN" block) os=\"Linux\" .* rule=\"karma\" karma=-1 karma_total=3 action=reject reply=\"554 [^\"]*\"$"'
check "$S: the exempt client is served, counted, never refused" \
    eval 'client lin served "$LIN" && has_line "$(conn "$LIN" exempt) .* karma=-1 karma_total=1 exempt="'
check "$S: no diagnostic while Redis is up" no_line "level="
kill "$REDIS"; wait "$REDIS" 2>/dev/null
check "$S: Redis gone: the next client is served (greylisting and karma off for it)" client lin served "$LIN"
check "$S: one error line naming the store" \
    eval 'has_line "level=error msg=\"[a-z]+ store failed; [^\"]*\" reason=\"Redis store unix:$(re "$D")/redis\.sock\?db=2: " &&
          [ "$(grep -c "level=" "$(L)")" -eq 1 ]'
check "$S: its line has no karma_total" has_line "$(conn "$LIN" exempt) .* karma=-1 exempt=\"[^\"]*\"$"
start_redis || fail_now "redis-server did not restart"
sleep 0.5   # past the first backoff (200 ms)
check "$S: Redis back: karma_total again" \
    eval 'client lin served "$LIN" && has_line "$(conn "$LIN" exempt) .* karma=-1 karma_total=1 exempt="'
check "$S: accept() returned no error, errno untouched" eval 'sleep 0.2; stat_is accept_errors 0 && stat_is errno_changed 0'
stop_srv testsrv
kill "$REDIS"; wait "$REDIS" 2>/dev/null

# 4.2 p0f hangs: verdict at the deadline, accept and banner not slowed
scenario p0f-hang
TMO=800
write_conf
start_p0f --mode hang "${HOSTS[@]}"
start_srv testsrv loop "127.0.0.1:$PORT"
served_while_hung
check "$S: verdict=error reason=\"p0f timeout\" (windows)" has_line "$(conn "$WIN" error) reason=\"p0f timeout\"$"
check "$S: verdict=error reason=\"p0f timeout\" (linux)" has_line "$(conn "$LIN" error) reason=\"p0f timeout\"$"
check "$S: the verdict came at about timeout_ms" ms_between "$(conn "$WIN" error)" "$TMO" $((TMO + 150))
check "$S: the hung p0f got both queries" wait_for 2 eval "[ \$(grep -c 'query addr_type=4' '$D/qlog') -ge 2 ]"
stop_srv testsrv

# 4.3 broken p0f replies: the connection is served, verdict=error, the server goes on
for mode in garbage badmagic badstatus short nonul die-mid-reply unsolicited; do
    scenario "p0f-$mode"
    write_conf
    start_p0f --mode "$mode" "${HOSTS[@]}"
    start_srv testsrv loop "127.0.0.1:$PORT"
    check "$S: windows client is served" client win served "$WIN"
    check "$S: verdict=error with a p0f reason" has_line "$(conn "$WIN" error) reason=\"[^\"]*p0f[^\"]*\"$"
    check "$S: the server serves the next client" client lin served "$LIN"
    check "$S: the next client is judged too" has_line "$(conn "$LIN" [a-z]+) "
    if [ "$mode" = unsolicited ]; then
        # This p0f speaks out of turn on every connection: answers are matched to queries by
        # order alone, so none of its answers may be trusted, and no verdict may rest on one.
        check "$S: the next client fails open too (verdict=error)" has_line "$(conn "$LIN" error) "
        check "$S: no verdict rests on the stray reply" eval '! log_has "$(L)" "os=\"Unsolicited\""'
    fi
    settle
    check "$S: exactly one connection line each" \
        eval 'count_is "remote=$(re "$WIN"):" 1 && count_is "remote=$(re "$LIN"):" 1'
    if ! log_has "$(L)" "$(conn "$WIN" error)"; then
        echo "# $S: windows line was: $(grep -E "remote=$(re "$WIN"):" "$(L)")"
    fi
    stop_srv testsrv
done

# 4.4 p0f learns the host late: NOMATCH twice, the shim asks again
scenario nomatch-first
write_conf
start_p0f --nomatch-first 2 "${HOSTS[@]}"
start_srv testsrv loop "127.0.0.1:$PORT"
check "$S: windows client is closed" client win closed "$WIN"
check "$S: still verdict=block after two NOMATCH" has_line "$(conn "$WIN" block) os=\"Windows\""
check "$S: the query log shows >= 3 queries for $WIN" \
    eval "[ \$(grep -c 'query addr_type=4 addr=$WIN\$' '$D/qlog') -ge 3 ]"
stop_srv testsrv

# 4.5 unknown host, known host without OS
simple_scenario unknown
check "$S: unknown host $UNK is served" client unk served "$UNK"
check "$S: verdict=unknown reason=\"no match\"" has_line "$(conn "$UNK" unknown) reason=\"no match\"$"
check "$S: ... at about timeout_ms" ms_between "$(conn "$UNK" unknown)" "$TMO" $((TMO + 150))
check "$S: host $NOOS without OS is served" client noos served "$NOOS"
check "$S: verdict=unknown reason=\"os not identified\"" \
    has_line "$(conn "$NOOS" unknown) os=\"\" .*reason=\"os not identified\"$"
stop_srv testsrv

# 4.6 exempt network
simple_scenario exempt "exempt 127.0.0.2/32"
check "$S: exempt windows client is served" client win served "$WIN"
check "$S: verdict=exempt exempt=\"127.0.0.2/32\"" has_line "$(conn "$WIN" exempt) .*exempt=\"127\.0\.0\.2/32\"$"
check "$S: windows line has no rule" no_line "rule="
check "$S: linux client is still judged (allow, no exempt)" \
    eval 'client lin served "$LIN" && has_line "$(conn "$LIN" allow)" && no_line "remote=$(re "$LIN"):.*exempt="'
stop_srv testsrv

# 4.7 smite_os
BLOCKED='/^nothing matches this$/' simple_scenario smite "smite_os windows"
check "$S: windows client is served (not blocked)" client win served "$WIN"
check "$S: verdict=allow with karma=-1" has_line "$(conn "$WIN" allow) os=\"Windows\" .* karma=-1$"
check "$S: linux client is served" client lin served "$LIN"
check "$S: linux line has no karma" eval 'has_line "$(conn "$LIN" allow)" && no_line "remote=$(re "$LIN"):.*karma"'
stop_srv testsrv

# 4.8 a port the shim is not told about
scenario other-port
PORTS=$((PORT + 1)) write_conf
start_p0f "${HOSTS[@]}"
start_srv testsrv loop "127.0.0.1:$PORT"
check "$S: windows client is served" client win served "$WIN"
settle
check "$S: no log line at all" lines_is 0
check "$S: p0f was not asked" eval "! grep -q query '$D/qlog' 2>/dev/null"
stop_srv testsrv

# 4.9 programs: another program -> pure pass-through; this program -> judged
simple_scenario programs-other "programs nosuchprogram"
check "$S: windows client is served (no shutdown)" client win served "$WIN"
settle
check "$S: no log line at all" lines_is 0
stop_srv testsrv
simple_scenario programs-self "programs nosuchprogram testsrv"
check "$S: windows client is closed" client win closed "$WIN"
check "$S: verdict=block" has_line "$(conn "$WIN" block) "
stop_srv testsrv

# 4.10 config error on line 3 -> one diagnostic, pass-through
scenario config-error
{
    echo "socket $D/p0f.sock"
    echo "log_socket $D/log.sock"
    echo "frobnicate yes"
    echo "ports $PORT"
    echo "blocked_os_file $D/blocked"
} >"$D/conf"
start_p0f "${HOSTS[@]}"
start_srv testsrv loop "127.0.0.1:$PORT"
check "$S: windows client is served (pass-through)" client win served "$WIN"
check "$S: config error line with file and line=3" has_line \
    "level=error msg=\"config error\" file=\"?$(re "$D/conf")\"? line=3 reason=\".*frobnicate.*\" action=pass_through$"
settle
check "$S: exactly one line in the log" eval 'count_is "level=error msg=\"config error\"" 1 && lines_is 1'
stop_srv testsrv

# 4.11 phrase rules are exact and case-sensitive
BLOCKED='Windows NT kernel' simple_scenario phrase
check "$S: 'Windows NT kernel' closes the windows client" client win closed "$WIN"
check "$S: verdict=block with the phrase rule" \
    has_line "$(conn "$WIN" block) .*rule=\"Windows NT kernel\" rule_at=\"$(re "$D/blocked"):1\" cutoff=[a-z_]+ client_sent=[0-9]+$"
stop_srv testsrv
BLOCKED='windows nt kernel' simple_scenario phrase-case
check "$S: 'windows nt kernel' does not block" client win served "$WIN"
check "$S: verdict=allow" has_line "$(conn "$WIN" allow) os=\"Windows\""
stop_srv testsrv

# 4.12 hostile strings from p0f cannot forge fields or lines
BLOCKED='/^win/' scenario hostile
write_conf
start_p0f --host "$WIN" --os 'Win\x22 verdict=allow\x0ax' --flavor 'NT\\ kernel\x0d\xff' \
          --host "$LIN" --os 'Linux\x0a<14>x: remote=6.6.6.6:1' \
          --flavor 'x\x22 rule=\x22/x/\x22'
start_srv testsrv loop "127.0.0.1:$PORT"
check "$S: hostile windows client is closed (rule /^win/)" client win closed "$WIN"
check "$S: hostile linux client is served" client lin served "$LIN"
check "$S: windows line says verdict=block" has_line "$(conn "$WIN" block) os="
check "$S: linux line says verdict=allow" has_line "$(conn "$LIN" allow) os="
settle
check "$S: exactly two lines, one per connection" eval 'lines_is 2 && count_is "^<[0-9]+>" 2'
check "$S: every line is a connection line of ours" eval '[ "$(grep -Evc "^<[0-9]+>[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} p0fshim\[[0-9]+\]: remote=127\.0\.0\.[23]:[0-9]+ local=" "$(L)")" -eq 0 ]'
check "$S: os, flavor and genre escaped" has_fixed \
    'os="Win\" verdict=allow\x0ax" flavor="NT\\ kernel\x0d\xff" genre="Win\" verdict=allow\x0ax NT\\ kernel\x0d\xff"'
check "$S: injected header stays inside the quoted value" has_fixed \
    'os="Linux\x0a<14>x: remote=6.6.6.6:1" flavor="x\" rule=\"/x/\""'
check "$S: the allow line has no rule field" no_line "verdict=allow .* rule=\"/\^win/\""
stop_srv testsrv

# 4.13 IPv6
scenario ipv6
write_conf
start_p0f "${HOSTS[@]}"
start_srv testsrv loop "[::1]:$PORT"
check "$S: windows client on ::1 is closed" client win6 closed ::1 --connect "[::1]:$PORT"
check "$S: remote=[::1]:PORT local=[::1]:$PORT verdict=block" \
    has_line "p0fshim\[[0-9]+\]: remote=\[::1\]:[0-9]+ local=\[::1\]:$PORT verdict=block ms=[0-9]+ fp=p0f os=\"Windows\""
check "$S: p0f was asked about ::1 (addr_type 6)" grep -q 'query addr_type=6 addr=::1$' "$D/qlog"
stop_srv testsrv

# 4.14 v4-mapped peers on a dual-stack listener
scenario v4mapped
write_conf
start_p0f "${HOSTS[@]}"
start_srv testsrv loop "[::]:$PORT"
check "$S: windows client over IPv4 is closed" client win closed "$WIN"
check "$S: linux client over IPv4 is served" client lin served "$LIN"
check "$S: remote=127.0.0.2:PORT local=127.0.0.1:$PORT verdict=block" has_line "$(conn "$WIN" block) os=\"Windows\""
check "$S: linux allowed" has_line "$(conn "$LIN" allow) os=\"Linux\""
check "$S: no ::ffff: anywhere in the log" no_line "ffff"
check "$S: p0f was asked with IPv4 addresses" grep -q "query addr_type=4 addr=$WIN\$" "$D/qlog"
stop_srv testsrv

# 4.15 p0f restarted while a lookup is in flight, and later connections
scenario p0f-restart
TMO=1500
write_conf
QLOG=qlog1 start_p0f --mode hang "${HOSTS[@]}"
start_srv testsrv loop "127.0.0.1:$PORT"
t0=$(now_ms)
client win1 closed "$WIN" --timeout-ms 3000 &
cpid=$!
wait_for 3 grep -q "query addr_type=4 addr=$WIN" "$D/qlog1"
stop_p0f
sleep_ms 50
QLOG=qlog2 start_p0f "${HOSTS[@]}"
wait "$cpid"
check "$S: the client whose lookup hung in the old p0f is closed" [ $? -eq 0 ]
check "$S: ... by a block verdict well before the deadline" ms_between "$(conn "$WIN" block)" 0 $((TMO - 300))
check "$S: the new p0f was asked" grep -q "query addr_type=4 addr=$WIN" "$D/qlog2"
check "$S: a later windows client is closed" client win2 closed "$WIN"
check "$S: a later linux client is served" client lin served "$LIN"
check "$S: block, block, allow" eval 'has_line "$(conn "$LIN" allow)" && count_is "$(conn "$WIN" block)" 2 && count_is " remote=" 3'
stop_p0f
QLOG=qlog3 start_p0f "${HOSTS[@]}"
sleep_ms 300
check "$S: after another restart (idle link) a windows client is closed" client win3 closed "$WIN"
check "$S: ... and judged block" eval 'wait_for 3 eval "[ \$(log_count \"$(L)\" \"$(conn "$WIN" block)\") -eq 3 ]"'
stop_srv testsrv

# ---- 4b. a stream of connections: the worker yields to the host ----------------------------------
# While connections come less than 1 ms apart the worker runs SCHED_BATCH (it never preempts the
# host's threads when it wakes) and wakes on its own timer; after the stream it is an ordinary
# thread again. The host's own thread is never touched. Field 41 of /proc/PID/task/TID/stat is
# the policy: 0 SCHED_OTHER, 3 SCHED_BATCH.
scenario stream-policy
write_conf
start_p0f "${HOSTS[@]}"
start_srv testsrv epoll "127.0.0.1:$PORT"
client warm served "$LIN" --hold-ms 0
has_line "$(conn "$LIN" allow)"
policies() { local t; for t in /proc/"$SRV_PID"/task/*; do echo "${t##*/}=$(awk '{print $41}' "$t/stat" 2>/dev/null)"; done | tr '\n' ' '; }
"$HELPERS/burst" --connect "127.0.0.1:$PORT" --bind "$LIN" --count 5000 --concurrency 16 \
    --expect served --timeout-ms 5000 >"$D/burst.out" 2>&1 &
burst_pid=$!
during=''
while kill -0 "$burst_pid" 2>/dev/null; do during+="$(policies)"$'\n'; sleep_ms 20; done
wait "$burst_pid"
check "$S: the stream was served ($(cat "$D/burst.out"))" grep -q "served=5000 " "$D/burst.out"
echo "# $S: policies during the stream (samples of tid=policy): $(printf '%s' "$during" | tr ' ' '\n' | grep . | sort | uniq -c | tr '\n' ' ')"
check "$S: during the stream a thread other than the host's ran SCHED_BATCH" \
    eval 'printf "%s" "$during" | tr " " "\n" | grep -v "^$SRV_PID=" | grep -q "=3$"'
check "$S: the host's thread stayed SCHED_OTHER" eval '! printf "%s" "$during" | tr " " "\n" | grep "^$SRV_PID=" | grep -qv "=0$"'
sleep_ms 300
check "$S: after the stream every thread is SCHED_OTHER again ($(policies))" eval '[[ "$(policies)" != *=3* ]]'
# A thread's own malloc arena reserves 64 MiB (mapped ---p, no file). The host is single-threaded
# and the shim allocates only in the loading thread (PCRE2's match frames included), so there is
# none: glibc's fork() would lock and touch it in every fork.
arenas() {
    local range perms rest n=0
    while read -r range perms _ _ _ rest; do
        [ "$perms" = ---p ] && [ -z "$rest" ] || continue
        (( 16#${range#*-} - 16#${range%-*} >= 32 << 20 )) && n=$((n + 1))
    done <"/proc/$SRV_PID/maps"
    echo "$n"
}
# (Not under ASan or valgrind, whose own allocators and shadow maps look alike.)
if [ -z "${ASAN_OPTIONS:-}" ] && [ -z "${P0FSHIM_VG_RUN:-}" ]; then
    check "$S: no malloc arena of the worker's own ($(arenas) reserved 64 MiB regions)" [ "$(arenas)" -eq 0 ]
fi
stop_srv testsrv

# ---- 4c. a stalled log receiver ------------------------------------------------------------------
# The receiver stops reading (SIGSTOP): its queue takes 10 datagrams (net.unix.max_dgram_qlen),
# the worker waits 200 ms for each batch that does not fit and then drops it, counting. The host
# keeps serving; once the receiver reads again, the next line is followed by one warning with the
# count, and nothing is lost silently: lines delivered + count = connections during the stall.
scenario log-stalled
write_conf
start_p0f "${HOSTS[@]}"
start_srv testsrv epoll "127.0.0.1:$PORT"
client warm served "$LIN" --hold-ms 0
has_line "$(conn "$LIN" allow)"
kill -STOP "$SINK_PID"
stalled_ok=0
for i in $(seq 1 15); do client "stall$i" served "$LIN" --hold-ms 0 && stalled_ok=$((stalled_ok + 1)); done
check "$S: the host served every client while the receiver was stopped ($stalled_ok of 15)" [ "$stalled_ok" -eq 15 ]
sleep_ms 300   # the last batch's 200 ms wait
kill -CONT "$SINK_PID"
client after served "$LIN" --hold-ms 0
note_re='level=warning msg="log lines dropped: the log socket did not take them" count=[0-9]+'
check "$S: one warning line with the count of dropped lines" eval 'has_line "$note_re" && count_is "$note_re" 1'
dropped=$(grep -E -o 'dropped: the log socket did not take them" count=[0-9]+' "$(L)" | grep -o '[0-9]*$')
logged=$(( $(log_count "$(L)" "$(conn "$LIN" allow)") - 2 ))   # without the warm-up and the last client
echo "# $S: $logged lines of the 15 stalled connections delivered, ${dropped:-?} counted as dropped"
check "$S: delivered + dropped = 15 (nothing lost silently)" [ "$((logged + ${dropped:-0}))" -eq 15 ]
check "$S: some lines were dropped (the queue holds 10)" [ "${dropped:-0}" -ge 1 ]
stop_srv testsrv

# ---- 5. fork storm ---------------------------------------------------------------------------------
scenario fork-storm
write_conf
start_p0f "${HOSTS[@]}"
start_srv testsrv fork "127.0.0.1:$PORT"
check "$S: warm-up client served" client warm served "$LIN"
has_line "$(conn "$LIN" allow)"
settle
before=$(fd_count "$SRV_PID")
client_storm 200
check "$S: 200 sequential clients closed/served as expected ($STORM_BAD wrong)" [ "$STORM_BAD" -eq 0 ]
# A child still serving: only fds 0-2 and its connection (a dup would be a second CONN).
client held served "$LIN" --hold-ms 1500 &
cpid=$!
child=''
wait_for 3 eval 'child=$(serving_child)'
sleep_ms 100
census=$(child_fds "$child")
echo "# serving child $child: conn listen other = $census"
read -r n_conn n_listen n_other _ <<<"$census"
check "$S: a serving child holds exactly one fd for its connection (no dup)" [ "${n_conn:-0}" -eq 1 ]
check "$S: the serving child holds no fd but 0-2, its connection and the shim's log socket" \
    eval '[ "${n_listen:-1}" -eq 0 ] && [ "${n_other:-1}" -eq 0 ]'
wait "$cpid"
check "$S: the held client is served" [ $? -eq 0 ]
settle
check "$S: one line per connection (100 block, 102 allow)" \
    eval 'wait_for 3 eval "[ \$(wc -l <\"$(L)\") -ge 202 ]"; count_is "$(conn "$WIN" block)" 100 && count_is "$(conn "$LIN" allow)" 102 && lines_is 202'
after=$(fd_count "$SRV_PID")
check "$S: parent fd count back to $before (now $after)" [ "$after" -eq "$before" ]
stop_srv testsrv
check "$S: 202 accepted" stat_is accepted 202

# ---- the fd checks catch a leaked dup (mutants) --------------------------------------------------
wait "$MUTANT_BUILD_LEAK" "$MUTANT_BUILD_FORKLEAK" 2>/dev/null
for m in leak forkleak; do
    check "mutant $m: built (else see $WORK/mutant-$m/build.log)" test -e "$WORK/mutant-$m/built"
done
if [ -e "$WORK/mutant-leak/built" ]; then
    SHIM=$WORK/mutant-leak/build/libp0fshim.so
    scenario mutant-leak
    write_conf
    start_p0f "${HOSTS[@]}"
    start_srv testsrv loop "127.0.0.1:$PORT"
    client warm served "$LIN"; settle
    before=$(fd_count "$SRV_PID")
    client win closed "$WIN"; client lin served "$LIN"; settle
    after=$(fd_count "$SRV_PID")
    check "mutant leak: the server fd check sees the leaked dups ($before -> $after)" [ "$after" -gt "$before" ]
fi
if [ -e "$WORK/mutant-forkleak/built" ]; then
    SHIM=$WORK/mutant-forkleak/build/libp0fshim.so
    scenario mutant-forkleak
    write_conf
    # A slow answer keeps the parent's dup pending when it forks (an instant one may not).
    start_p0f --delay-ms 250 "${HOSTS[@]}"
    start_srv testsrv fork "127.0.0.1:$PORT"
    client held served "$LIN" --hold-ms 1000 &
    cpid=$!
    child=''
    wait_for 3 eval 'child=$(serving_child)'
    sleep_ms 100
    census=$(child_fds "$child")
    read -r n_conn _ <<<"$census"
    check "mutant forkleak: the child check sees the inherited dup (conn listen other = $census)" [ "${n_conn:-0}" -ge 2 ]
    wait "$cpid"
fi
SHIM=$LIB
end_scenario

echo "# integration tests took $((SECONDS - T_START)) s"
summary
