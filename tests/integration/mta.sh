#!/bin/bash
# Legacy MTAs for real, on loopback: tcpserver (ucspi-tcp) with the shim in tcpserver or in the
# service it runs, inetd and systemd Accept=yes style sockets on fd 0 / fd 3, a forking daemon,
# a daemon that clears its environment, `programs`, secure-execution mode (a setgid daemon, like
# Debian's Sendmail), `make install`, the sample configs in policy/ and the scripts in
# scripts/{p0f,systemd,tcpserver}/ (syntax, systemd-analyze, and Debian's real p0f started by the
# init script and by the unit's command line).
#
# fake_p0f tells clients apart by their source address: 127.0.0.2 is "Windows NT kernel" (blocked
# by /windows/), 127.0.0.3 "Linux 3.11 and newer". Each scenario has its own port, config, log
# sink and fake p0f under $WORK/<scenario>. Needs root. Touches the system only in section 6
# (a set-user-ID copy of the library in /usr/lib/<multiarch>/, a temporary /etc/p0fshim) and 8
# (a temporary system account for p0f -u); both are undone by the cleanup hooks, and at once.
# KEEP_WORK=1 keeps the scratch directory; P0FSHIM_MTA_PORT_BASE moves the ports (default 43000).
source "$(dirname "${BASH_SOURCE[0]}")/../scenario.sh"
# lib.sh cleans up on EXIT: make INT/TERM/HUP exit through it too.
trap 'exit 130' INT
trap 'exit 143' TERM HUP

require_root
require_built "$LIB" "$HELPERS/fake_p0f" "$HELPERS/testsrv" "$HELPERS/testclient" "$HELPERS/logsink" \
    "$HELPERS/fdlaunch"
command -v tcpserver >/dev/null || fail_now "tcpserver is missing (apt-get install ucspi-tcp)"
"$HELPERS/testsrv" --help 2>&1 | grep -q -- --clearenv || fail_now "$HELPERS/testsrv has no --clearenv (run make)"

PORT_BASE=${P0FSHIM_MTA_PORT_BASE:-43000}
DEFAULT_TMO=400
WIN=127.0.0.2 LIN=127.0.0.3
HOSTS=(--host "$WIN" --os Windows --flavor "NT kernel" --match exact --dist 0 --link Ethernet --total 3
       --host "$LIN" --os Linux --flavor "3.11 and newer" --match generic --dist 1 --link Ethernet)
SCRIPTS=$TOP/scripts
T_START=$SECONDS
echo "# scratch directory $WORK"

# ---- helpers of this file ----------------------------------------------------------------------------
# from_policy FILE: a sample config from policy/ with the scenario's socket, ports, log and
# blocked file put in (every other line, `programs` above all, as shipped).
from_policy() {
    sed -E -e "s|^socket .*|socket $D/p0f.sock|" -e "s|^ports .*|ports ${PORTS:-$PORT}|" \
        -e "s|^timeout_ms .*|timeout_ms $TMO|" -e "s|^log_socket .*|log_socket $D/log.sock|" \
        -e "s|^blocked_os_file .*|blocked_os_file $D/blocked|" -e "\$a fingerprint ${FINGERPRINT:-p0f}" "$1"
}

port_listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q LISTEN; }
alive() { local st; st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null); [ -n "$st" ] && [ "$st" != Z ]; }   # not a zombie
has_lib() { grep -q "$2" "/proc/$1/maps" 2>/dev/null; }          # has_lib PID NAME
show_log() { sed 's/^/#   /' "$(L)"; }
# fd_kinds PID: its fds above 2, each as its kind (socket, pipe, anon_inode:..., or a path).
fd_kinds() {
    local f n l
    for f in /proc/"$1"/fd/*; do
        n=${f##*/}
        [ "$n" -le 2 ] && continue
        l=$(readlink "$f") || continue
        case $l in socket:*) l=socket ;; pipe:*) l=pipe ;; esac
        echo "$l"
    done | sort | tr '\n' ' '
}
# sock_census PID: "TCP UNIX OTHER [details]" for its fds above 2 (a TCP socket is a connection
# or a listener; a unix socket in testsrv can only be the shim's log or p0f socket).
sock_census() {
    local f n l ino tcp=0 unix=0 other=0 desc= tcpinos unixinos
    tcpinos=$(awk 'NR > 1 { print $10 }' /proc/"$1"/net/tcp /proc/"$1"/net/tcp6 2>/dev/null)
    unixinos=$(awk 'NR > 1 { print $7 " " $5 }' /proc/net/unix)
    for f in /proc/"$1"/fd/*; do
        n=${f##*/}
        [ "$n" -le 2 ] && continue
        l=$(readlink "$f") || continue
        ino=
        [[ $l =~ ^socket:\[([0-9]+)\]$ ]] && ino=${BASH_REMATCH[1]}
        if [ -n "$ino" ] && grep -qx "$ino" <<<"$tcpinos"; then
            tcp=$((tcp + 1))
        elif [ -n "$ino" ] && grep -q "^$ino " <<<"$unixinos"; then
            unix=$((unix + 1))
            case $(grep -m1 "^$ino " <<<"$unixinos" | cut -d" " -f2) in
                0002) desc+=" fd$n=unix-datagram(the shim's log socket)" ;;
                *) desc+=" fd$n=unix-stream(a p0f connection?)" ;;
            esac
        else
            other=$((other + 1)) desc+=" fd$n=$l"
        fi
    done
    echo "$tcp $unix $other$desc"
}
# auxv_secure PID: AT_SECURE (type 23) of a running process, read from /proc/PID/auxv.
auxv_secure() {
    od -An -v -t u8 -w16 "/proc/$1/auxv" 2>/dev/null | awk '$1 == 23 { print $2; found = 1 } END { if (!found) print "none" }'
}
# launch [fdlaunch ARGS...] -- PROG...: fdlaunch on 127.0.0.1:$PORT in the background (LAUNCH_PID):
# it accepts one connection itself and execs PROG with it on the fds asked for, as inetd or
# systemd's Accept=yes do.
launch() {
    rm -f "$D/launch.ready" "$D/peer"
    spawn "$HELPERS/fdlaunch" --listen "127.0.0.1:$PORT" --ready "$D/launch.ready" --peer "$D/peer" "$@" \
        2>>"$D/launch.err"
    LAUNCH_PID=$!
    wait_for 5 test -e "$D/launch.ready" || echo "# $S: fdlaunch did not start"
}
# The peer fdlaunch accepted, as in a log line: "remote=IP:PORT local=IP:PORT".
peer_re() { wait_for 3 test -s "$D/peer" && re "$(cat "$D/peer")"; }

# =====================================================================================================
# 1. tcpserver with the shim in tcpserver (policy/tcpserver.conf: programs tcpserver)
# =====================================================================================================
scenario tcpserver-shim
from_policy "$TOP/policy/tcpserver.conf" >"$D/conf"
check "$S: policy/tcpserver.conf names tcpserver" grep -qx 'programs tcpserver' "$D/conf"
start_p0f "${HOSTS[@]}"
start_clean tcpserver env LD_PRELOAD="$LIB" P0FSHIM_CONFIG="$D/conf" \
    tcpserver -R -H -l0 127.0.0.1 "$PORT" "$HELPERS/testsrv" --model inetd
TCPS=$SRV_PID
wait_for 5 port_listening "$PORT" || echo "# $S: tcpserver is not listening"
check "$S: tcpserver has the library loaded" has_lib "$TCPS" libp0fshim.so
check "$S: windows client is closed" client win closed "$WIN"
check "$S: linux client is served" client lin served "$LIN"
check "$S: block line from tcpserver (p0fshim[$TCPS])" has_line \
    "$(conn "$WIN" block "" "$TCPS") os=\"Windows\" .* rule=\"/windows/\" rule_at=\"$(re "$D/blocked"):1\" cutoff=[a-z_]+ client_sent=[0-9]+$"
check "$S: allow line from tcpserver" has_line "$(conn "$LIN" allow "" "$TCPS") os=\"Linux\""
# A held session: the service tcpserver started has the library too, but stays a pass-through.
client held served "$LIN" --hold-ms 1200 &
cpid=$!
svc=
wait_for 3 eval 'svc=$(pgrep -P "$TCPS" | head -n 1); [ -n "$svc" ] && has_lib "$svc" testsrv'
sleep_ms 150
check "$S: the service (pid ${svc:-none}) has the library loaded" has_lib "${svc:-0}" libp0fshim.so
check "$S: the service holds no socket but its connection (fds 0/1): [$(fd_kinds "${svc:-0}")]" \
    [ -z "$(fd_kinds "${svc:-0}")" ]
wait "$cpid"
check "$S: the held linux client is served" [ $? -eq 0 ]
settle
check "$S: one line per connection, none from the service (3 lines, all p0fshim[$TCPS])" \
    eval 'lines_is 3 && count_is "p0fshim\[$TCPS\]: remote=" 3'
lines_is 3 || show_log
stop_host tcpserver

# Control: the same without `programs`: tcpserver and the service both judge the connection.
grep -v '^programs ' "$D/conf" >"$D/conf-all"
: >"$D/log.txt"
start_clean tcpserver env LD_PRELOAD="$LIB" P0FSHIM_CONFIG="$D/conf-all" \
    tcpserver -R -H -l0 127.0.0.1 "$PORT" "$HELPERS/testsrv" --model inetd
TCPS=$SRV_PID
wait_for 5 port_listening "$PORT"
client lin2 served "$LIN"
settle
check "$S: control: without \`programs\` the service judges it again (2 lines, 2 pids)" \
    eval '[ "$(grep -oE "p0fshim\[[0-9]+\]" "$(L)" | sort -u | wc -l)" -eq 2 ] && lines_is 2'
stop_host tcpserver

# scripts/tcpserver/run, as svscan would start it, with its settings from the environment:
# tcpserver drops to nobody after binding, under the run script's 30 MB memory limit.
scenario tcpserver-run
from_policy "$TOP/policy/tcpserver.conf" >"$D/conf"
start_p0f "${HOSTS[@]}"
mkdir -p "$D/bin" && install -m 755 "$HELPERS/testsrv" "$LIB" "$D/bin/" && chmod 755 "$D" "$D/bin" && chmod 644 "$D/conf" "$D/blocked"
check "$S: run script passes sh -n and bash -n" eval 'sh -n "$SCRIPTS/tcpserver/run" && bash -n "$SCRIPTS/tcpserver/run"'
spawn env P0FSHIM_LIB="$D/bin/libp0fshim.so" P0FSHIM_CONFIG="$D/conf" SMTPD="$D/bin/testsrv --model inetd" \
    IP=127.0.0.1 PORT="$PORT" QMAILDUID=65534 NOFILESGID=65534 LOCAL=0 RULES=/nonexistent \
    sh "$SCRIPTS/tcpserver/run" </dev/null >"$D/run.out" 2>&1
TCPS=$!
wait_for 5 port_listening "$PORT" || echo "# $S: run script: tcpserver is not listening: $(cat "$D/run.out")"
check "$S: tcpserver runs as nobody (uid 65534)" eval 'grep -Eq "^Uid:[[:space:]]+65534[[:space:]]" /proc/$TCPS/status'
check "$S: ... with the run script's memory limit (30000 kB address space)" \
    eval 'grep -Eq "^Max address space +30720000 " /proc/$TCPS/limits'
check "$S: windows client is closed" client win closed "$WIN"
check "$S: linux client is served" client lin served "$LIN"
check "$S: block line from tcpserver" has_line "$(conn "$WIN" block "" "$TCPS") os=\"Windows\""
check "$S: allow line from tcpserver" has_line "$(conn "$LIN" allow "" "$TCPS") os=\"Linux\""
settle
check "$S: exactly 2 lines" lines_is 2
kill "$TCPS"; wait "$TCPS" 2>/dev/null

# =====================================================================================================
# 2. The shim in the service: inetd mode (the connection on fd 0 when the library loads)
# =====================================================================================================
scenario tcpserver-service
write_conf "programs testsrv"
start_p0f "${HOSTS[@]}"
# tcpserver without LD_PRELOAD; a shell records tcpserver's TCP* variables, then execs env, which
# execs testsrv with the library.
spawn tcpserver -R -H -l0 127.0.0.1 "$PORT" sh -c \
    'echo "remote=$TCPREMOTEIP:$TCPREMOTEPORT local=$TCPLOCALIP:$TCPLOCALPORT" >>"$0"; exec "$@"' "$D/env.log" \
    env LD_PRELOAD="$LIB" P0FSHIM_CONFIG="$D/conf" "$HELPERS/testsrv" --model inetd </dev/null 2>>"$D/tcpserver.err"
TCPS=$!
wait_for 5 port_listening "$PORT" || echo "# $S: tcpserver is not listening"
check "$S: tcpserver itself runs without the library" eval '! has_lib "$TCPS" libp0fshim.so'
check "$S: windows client is closed" client win closed "$WIN"
check "$S: linux client is served" client lin served "$LIN"
wait_for 3 eval '[ "$(wc -l <"$D/env.log")" -ge 2 ]'
env_win=$(sed -n 1p "$D/env.log") env_lin=$(sed -n 2p "$D/env.log")
echo "# tcpserver's variables: [$env_win] [$env_lin]"
check "$S: block line with TCPREMOTEIP:TCPREMOTEPORT as remote ($env_win)" has_line \
    "p0fshim\[[0-9]+\]: $(re "$env_win") verdict=block ms=[0-9]+ fp=p0f os=\"Windows\""
check "$S: allow line with the remote tcpserver gave ($env_lin)" has_line \
    "p0fshim\[[0-9]+\]: $(re "$env_lin") verdict=allow ms=[0-9]+ fp=p0f os=\"Linux\""
check "$S: ... judged by the services, not by tcpserver" no_line "p0fshim\[$TCPS\]"
settle
check "$S: exactly 2 lines" lines_is 2
lines_is 2 || show_log
kill "$TCPS"; wait "$TCPS" 2>/dev/null

# fd 0 and 1 from our own launcher, no TCP* variables: getpeername/getsockname.
scenario inetd-fd0
write_conf "programs testsrv"
start_p0f "${HOSTS[@]}"
launch -- env LD_PRELOAD="$LIB" P0FSHIM_CONFIG="$D/conf" "$HELPERS/testsrv" --model inetd
check "$S: windows client is closed" client win closed "$WIN"
peer=$(peer_re)
check "$S: block line with the accepted peer ($(cat "$D/peer"))" has_line \
    "p0fshim\[$LAUNCH_PID\]: $peer verdict=block ms=[0-9]+ fp=p0f os=\"Windows\""
wait "$LAUNCH_PID"
launch -- env LD_PRELOAD="$LIB" P0FSHIM_CONFIG="$D/conf" "$HELPERS/testsrv" --model inetd
check "$S: linux client is served" client lin served "$LIN"
peer=$(peer_re)
check "$S: allow line with the accepted peer ($(cat "$D/peer"))" has_line \
    "p0fshim\[$LAUNCH_PID\]: $peer verdict=allow ms=[0-9]+ fp=p0f os=\"Linux\""
wait "$LAUNCH_PID"
# TCP* variables win over getpeername when set (and not in secure mode: see section 6).
launch -- env TCPREMOTEIP="$LIN" TCPREMOTEPORT=4242 TCPLOCALIP=127.0.0.1 TCPLOCALPORT="$PORT" \
    LD_PRELOAD="$LIB" P0FSHIM_CONFIG="$D/conf" "$HELPERS/testsrv" --model inetd
check "$S: a windows client announced by TCPREMOTEIP=$LIN is served" client win-env served "$WIN"
check "$S: ... logged as remote=$LIN:4242 local=127.0.0.1:$PORT (allow)" has_line \
    "p0fshim\[$LAUNCH_PID\]: remote=$(re "$LIN"):4242 local=127\.0\.0\.1:$PORT verdict=allow ms=[0-9]+ fp=p0f os=\"Linux\""
check "$S: ... p0f was asked about $LIN" grep -q "addr=$LIN\$" "$D/qlog"
wait "$LAUNCH_PID"
settle
check "$S: exactly 3 lines" lines_is 3
# In inetd mode the process that holds the shim ends with the session. Every connection still
# needs its line: a blocked one (the program exits on the EOF the shutdown causes) ...
: >"$D/log.txt"
for i in 1 2 3 4 5 6 7 8 9 10; do
    launch -- env LD_PRELOAD="$LIB" P0FSHIM_CONFIG="$D/conf" "$HELPERS/testsrv" --model inetd
    client "rep-$i" closed "$WIN"
    wait "$LAUNCH_PID"
done
settle
check "$S: 10 blocked inetd sessions, 10 block lines (got $(log_count "$(L)" "verdict=block"))" count_is "verdict=block" 10
# ... and a session that is over before p0f answers (here p0f answers 20 ms late).
stop_p0f
start_p0f --delay-ms 20 "${HOSTS[@]}"
: >"$D/log.txt"
for i in 1 2 3 4 5; do
    launch -- env LD_PRELOAD="$LIB" P0FSHIM_CONFIG="$D/conf" "$HELPERS/testsrv" --model inetd
    client "quick-$i" served "$LIN" --hold-ms 0
    wait "$LAUNCH_PID"
done
settle
check "$S: 5 inetd sessions shorter than p0f's answer, 5 lines (got $(wc -l <"$(L)"))" lines_is 5

# systemd Accept=yes: the connection as fd 3 with LISTEN_FDS=1 and LISTEN_PID (StandardInput=null:
# fd 0 is /dev/null). The program here is sleep: it never reads, only the shim can close it.
scenario systemd-fd3
write_conf
start_p0f "${HOSTS[@]}"
: >"$D/log.txt"
launch --fds 3 --listen-fds -- env LD_PRELOAD="$LIB" P0FSHIM_CONFIG="$D/conf" sleep 2
check "$S: windows client on fd 3 (LISTEN_PID = its pid) is closed" client win closed "$WIN" --timeout-ms 1500
peer=$(peer_re)
check "$S: block line with the accepted peer" has_line "p0fshim\[$LAUNCH_PID\]: $peer verdict=block "
kill "$LAUNCH_PID" 2>/dev/null; wait "$LAUNCH_PID" 2>/dev/null
launch --fds 3 --listen-fds 1 -- env LD_PRELOAD="$LIB" P0FSHIM_CONFIG="$D/conf" sleep 1.5
check "$S: LISTEN_PID of another process: fd 3 is left alone (client still open after 800 ms)" \
    eval '! client win-otherpid closed "$WIN" --timeout-ms 800 && grep -q "result=open" "$D/client-win-otherpid.out"'
kill "$LAUNCH_PID" 2>/dev/null; wait "$LAUNCH_PID" 2>/dev/null
settle
check "$S: no line for it" lines_is 1
# StandardInput=socket as well: systemd then passes the same connection as fd 0, 1 and 3.
: >"$D/log.txt"
launch --fds 0,1,3 --listen-fds -- env LD_PRELOAD="$LIB" P0FSHIM_CONFIG="$D/conf" "$HELPERS/testsrv" --model inetd
check "$S: fd 0+1+3 (StandardInput=socket): linux client is served" client lin served "$LIN"
settle
check "$S: fd 0+1+3: one connection, one log line (got $(wc -l <"$(L)"))" lines_is 1
lines_is 1 || show_log
wait "$LAUNCH_PID" 2>/dev/null
end_scenario

# =====================================================================================================
# 3. A forking daemon (testsrv --model fork): the child serves, the parent closes its copy at once
# =====================================================================================================
scenario fork
write_conf
# p0f answers 30 ms late: every verdict lands after the parent closed its copy of the connection.
start_p0f --delay-ms 30 "${HOSTS[@]}"
start_srv testsrv fork "127.0.0.1:$PORT"
check "$S: warm-up linux client is served" client warm served "$LIN" --hold-ms 0
settle
before=$(fd_count "$SRV_PID") kinds_before=$(fd_kinds "$SRV_PID")
check "$S: windows client is closed (verdict on the child's connection)" client win closed "$WIN"
check "$S: block line" has_line "$(conn "$WIN" block) os=\"Windows\""
check "$S: ... which came after the parent had closed its copy (ms >= 30)" \
    eval '[ "$(grep -E "$(conn "$WIN" block)" "$D/log.txt" | sed -nE "s/.* ms=([0-9]+) .*/\1/p")" -ge 30 ]'
client held served "$LIN" --hold-ms 1500 &
cpid=$!
# serving_child: the (last) child of the server that holds a socket.
serving_child() {
    local c found=
    for c in $(cat /proc/"$SRV_PID"/task/*/children 2>/dev/null); do
        [[ $(fd_kinds "$c") == *socket* ]] && found=$c
    done
    [ -n "$found" ] && echo "$found"
}
child=
sleep_ms 100
wait_for 3 eval 'child=$(serving_child)'
sleep_ms 100
census=$(sock_census "${child:-0}")
echo "# serving child ${child:-none}: fds above 2: $census"
read -r n_tcp n_unix n_other _ <<<"$census"
check "$S: the serving child holds one TCP socket, its connection (no dup of it)" [ "${n_tcp:-0}" -eq 1 ]
# The child keeps the shim's log socket (connected at load time, so that a child that chroots
# can still log; run.sh checks the same), and nothing else: no p0f connection, no pipe.
check "$S: the serving child holds no fd of the shim but its log socket: $census" \
    eval '[ "${n_unix:-1}" -le 1 ] && [ "${n_other:-1}" -eq 0 ] && [[ "$census" != *unix-stream* ]]'
wait "$cpid"
check "$S: the held linux client is served" [ $? -eq 0 ]
client_storm 100
check "$S: 100 connections: windows closed, linux served ($STORM_BAD wrong)" [ "$STORM_BAD" -eq 0 ]
settle
after=$(fd_count "$SRV_PID")
check "$S: parent fd count stable over 100 connections ($before -> $after)" [ "$after" -eq "$before" ]
check "$S: parent fd kinds unchanged [$kinds_before]" [ "$(fd_kinds "$SRV_PID")" = "$kinds_before" ]
check "$S: one line per connection (51 block, 52 allow)" \
    eval 'count_is "$(conn "$WIN" block)" 51 && count_is "$(conn "$LIN" allow)" 52 && lines_is 103'
stop_srv testsrv

# =====================================================================================================
# 4. A daemon that clears its environment after start (testsrv --clearenv)
# =====================================================================================================
scenario clearenv
write_conf "programs testsrv"
start_p0f "${HOSTS[@]}"
start_srv testsrv loop "127.0.0.1:$PORT" --clearenv
check "$S: testsrv cleared its environment before accepting (ready: $(cat "$D/testsrv.ready"))" \
    grep -q ' environ=0$' "$D/testsrv.ready"
check "$S: windows client is closed" client win closed "$WIN"
check "$S: linux client is served" client lin served "$LIN"
check "$S: block line (config and log socket from load time)" has_line "$(conn "$WIN" block) os=\"Windows\""
check "$S: allow line" has_line "$(conn "$LIN" allow) os=\"Linux\""
stop_srv testsrv

# =====================================================================================================
# 5. `programs`: a process not named is a pure pass-through
# =====================================================================================================
scenario programs-other
PORTS="$PORT $((PORT + 1))" write_conf "programs nosuchprogram"
start_p0f "${HOSTS[@]}"
start_srv testsrv loop "127.0.0.1:$PORT"
SHIMMED=$SRV_PID
rm -f "$D/ready2"
start_clean plain "$HELPERS/testsrv" --model loop --listen "127.0.0.1:$((PORT + 1))" --ready-file "$D/ready2"
PLAIN=$SRV_PID
wait_for 5 test -e "$D/ready2"
check "$S: the library is loaded in the shimmed server" has_lib "$SHIMMED" libp0fshim.so
check "$S: ... and not in the plain one" eval '! has_lib "$PLAIN" libp0fshim.so'
k0s=$(fd_kinds "$SHIMMED") k0p=$(fd_kinds "$PLAIN")
check "$S: at start: same fds with and without LD_PRELOAD ($(fd_count "$SHIMMED") [$k0s] vs $(fd_count "$PLAIN") [$k0p])" \
    eval '[ "$(fd_count "$SHIMMED")" -eq "$(fd_count "$PLAIN")" ] && [ "$k0s" = "$k0p" ]'
check "$S: windows client is served (no shutdown)" client win served "$WIN"
check "$S: linux client is served" client lin served "$LIN"
check "$S: windows client of the plain server is served" client win-plain served "$WIN" --connect "127.0.0.1:$((PORT + 1))"
settle
k1s=$(fd_kinds "$SHIMMED") k1p=$(fd_kinds "$PLAIN")
check "$S: after connections: same fds ($(fd_count "$SHIMMED") [$k1s] vs $(fd_count "$PLAIN") [$k1p])" \
    eval '[ "$(fd_count "$SHIMMED")" -eq "$(fd_count "$PLAIN")" ] && [ "$k1s" = "$k1p" ]'
check "$S: no log line" lines_is 0
check "$S: p0f was never contacted" eval '! grep -q . "$D/qlog" 2>/dev/null'
stop_srv testsrv
stop_host plain

# =====================================================================================================
# 6. Secure-execution mode: a setgid daemon run by root (like Debian's Sendmail)
# =====================================================================================================
scenario secure
MULTIARCH_DIR=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
SLIB=libp0fshim-test-$$.so NOSUID_LIB=libp0fshim-test-$$-nosuid.so
ETC_BACKUP=/etc/p0fshim.mta-test-backup.$$
CLEANUP_HOOKS+=("rm -f '$MULTIARCH_DIR/$SLIB' '$MULTIARCH_DIR/$NOSUID_LIB'")
# /etc/p0fshim: moved aside (if there is one) and put back; a test one meanwhile.
etc_restore() {
    if [ -e "$ETC_BACKUP" ] || [ -L "$ETC_BACKUP" ]; then
        rm -rf /etc/p0fshim && mv "$ETC_BACKUP" /etc/p0fshim
    elif [ -e /etc/p0fshim.mta-test-absent.$$ ]; then
        rm -rf /etc/p0fshim /etc/p0fshim.mta-test-absent.$$
    fi
}
CLEANUP_HOOKS+=("etc_restore")
etc_listing() { (cd /etc/p0fshim && find . -printf '%p %y %s %m %T@\n' | sort) 2>&1; }
had_etc=no
if [ -e /etc/p0fshim ] || [ -L /etc/p0fshim ]; then
    had_etc=yes
    etc_listing >"$D/etc-before.txt"
    mv /etc/p0fshim "$ETC_BACKUP"
else
    : >/etc/p0fshim.mta-test-absent.$$
fi
echo "# /etc/p0fshim existed before: $had_etc"
mkdir -p /etc/p0fshim
PORTS="$PORT $((PORT + 1))" conf_lines "programs testsrv" >/etc/p0fshim/p0fshim.conf
: >"$D/log-env.txt"
spawn "$HELPERS/logsink" "$D/log-env.sock" "$D/log-env.txt" 2>>"$D/logsink.err"
ENV_SINK=$!
wait_for 5 test -S "$D/log-env.sock"
PORTS="$PORT $((PORT + 1))" CONF_LOGSOCK=$D/log-env.sock conf_lines "programs testsrv" >"$D/env.conf"
install -m 4755 "$LIB" "$MULTIARCH_DIR/$SLIB"
install -m 0755 "$LIB" "$MULTIARCH_DIR/$NOSUID_LIB"
mkdir -p "$D/sgid" "$D/suid"
install -m 0755 "$HELPERS/testsrv" "$D/sgid/testsrv"
chgrp mail "$D/sgid/testsrv" && chmod 2755 "$D/sgid/testsrv"
start_p0f "${HOSTS[@]}"

# secure_srv LD_PRELOAD-VALUE: the setgid testsrv, run by root, with P0FSHIM_CONFIG=env.conf.
secure_srv() { SHIM=$1 CONF=$D/env.conf TESTSRV=$D/sgid/testsrv start_srv testsrv loop "127.0.0.1:$PORT"; }
secure_srv "$SLIB"
check "$S: AT_SECURE is 1 in the setgid server's auxv (root, egid mail)" [ "$(auxv_secure "$SRV_PID")" = 1 ]
check "$S: ... its egid is mail" awk -v g="$(getent group mail | cut -d: -f3)" '/^Gid:/ { exit !($3 == g) }' "/proc/$SRV_PID/status"
check "$S: the set-user-ID library in $MULTIARCH_DIR is preloaded by its bare name" has_lib "$SRV_PID" "$SLIB"
check "$S: windows client is closed" client win closed "$WIN"
check "$S: linux client is served" client lin served "$LIN"
check "$S: block line in the log of /etc/p0fshim/p0fshim.conf" has_line \
    "$(conn "$WIN" block "" "$SRV_PID") os=\"Windows\" .* rule_at=\"$(re "$D/blocked"):1\" cutoff=[a-z_]+ client_sent=[0-9]+$"
check "$S: allow line there too" has_line "$(conn "$LIN" allow "" "$SRV_PID")"
settle
check "$S: P0FSHIM_CONFIG was ignored: nothing in its log" eval '[ ! -s "$D/log-env.txt" ]'
stop_srv testsrv
# TCPREMOTEIP is ignored too: the remote comes from getpeername. (A linux client announced as
# the windows host: honoured, the variable would get it closed.)
PORT=$((PORT + 1)) launch -- env TCPREMOTEIP="$WIN" TCPREMOTEPORT=4242 TCPLOCALIP=127.0.0.1 \
    TCPLOCALPORT=$((PORT + 1)) LD_PRELOAD="$SLIB" P0FSHIM_CONFIG="$D/env.conf" "$D/sgid/testsrv" --model inetd
check "$S: inetd: linux client is served despite TCPREMOTEIP=$WIN" \
    client lin-inetd served "$LIN" --connect "127.0.0.1:$((PORT + 1))"
peer=$(peer_re)
check "$S: inetd: allow line with the real peer ($(cat "$D/peer"))" has_line "p0fshim\[$LAUNCH_PID\]: $peer verdict=allow "
wait "$LAUNCH_PID" 2>/dev/null
settle
lines=$(wc -l <"$(L)")
# What ld.so refuses in secure mode: a path, and a library without the set-user-ID bit.
secure_srv "$LIB"
check "$S: a path in LD_PRELOAD is not preloaded" eval '! has_lib "$SRV_PID" libp0fshim'
check "$S: ... so the windows client is served" client win-path served "$WIN"
stop_srv testsrv
secure_srv "$NOSUID_LIB"
check "$S: a bare name without the set-user-ID bit is not preloaded" eval '! has_lib "$SRV_PID" libp0fshim'
check "$S: ... so the windows client is served" client win-nosuid served "$WIN"
stop_srv testsrv
settle
check "$S: no log line from these" eval '[ "$(wc -l <"$(L)")" -eq "$lines" ] && [ ! -s "$D/log-env.txt" ]'
# Control (Exim's case): a setuid-root binary run by root is not in secure mode.
install -m 4755 "$HELPERS/testsrv" "$D/suid/testsrv"
CONF=$D/env.conf TESTSRV=$D/suid/testsrv start_srv testsrv loop "127.0.0.1:$PORT"
check "$S: control: setuid-root binary run by root: AT_SECURE is 0" [ "$(auxv_secure "$SRV_PID")" = 0 ]
check "$S: control: LD_PRELOAD with a path works" has_lib "$SRV_PID" libp0fshim.so
check "$S: control: windows client is closed" client win-suid closed "$WIN"
check "$S: control: P0FSHIM_CONFIG is honoured (line in its log)" \
    eval 'LOGTXT=$D/log-env.txt has_line "$(conn "$WIN" block "" "$SRV_PID")"'
stop_srv testsrv
kill "$ENV_SINK"; wait "$ENV_SINK" 2>/dev/null
# Undo at once (the hooks run again at exit, harmlessly).
rm -f "$MULTIARCH_DIR/$SLIB" "$MULTIARCH_DIR/$NOSUID_LIB"
etc_restore
check "$S: the test libraries are gone from $MULTIARCH_DIR" \
    eval '[ ! -e "$MULTIARCH_DIR/$SLIB" ] && [ ! -e "$MULTIARCH_DIR/$NOSUID_LIB" ]'
if [ "$had_etc" = yes ]; then
    check "$S: /etc/p0fshim is back as it was" eval 'etc_listing | cmp -s - "$D/etc-before.txt"'
else
    check "$S: /etc/p0fshim is gone again" eval '[ ! -e /etc/p0fshim ] && [ ! -e /etc/p0fshim.mta-test-absent.$$ ]'
fi

# =====================================================================================================
# 7. make install
# =====================================================================================================
scenario install
R=$D/root
make -s --no-print-directory -C "$TOP" install DESTDIR="$R" PREFIX=/usr >"$D/make1.out" 2>&1
check "$S: make install DESTDIR PREFIX=/usr succeeds" [ $? -eq 0 ]
check "$S: library installed as /usr/lib/libp0fshim.so (same bytes, mode 644)" \
    eval 'cmp -s "$LIB" "$R/usr/lib/libp0fshim.so" && [ "$(stat -c %a "$R/usr/lib/libp0fshim.so")" = 644 ]'
check "$S: /etc/p0fshim/p0fshim.conf installed from policy/p0fshim.conf" \
    cmp -s "$TOP/policy/p0fshim.conf" "$R/etc/p0fshim/p0fshim.conf"
check "$S: /etc/p0fshim/blocked_operating_systems installed" \
    cmp -s "$TOP/policy/blocked_operating_systems" "$R/etc/p0fshim/blocked_operating_systems"
echo "# local change" >>"$R/etc/p0fshim/p0fshim.conf"
echo "/windows/" >>"$R/etc/p0fshim/blocked_operating_systems"
cp "$R/etc/p0fshim/p0fshim.conf" "$D/conf.mine"; cp "$R/etc/p0fshim/blocked_operating_systems" "$D/blocked.mine"
: >"$R/usr/lib/libp0fshim.so"
make -s --no-print-directory -C "$TOP" install DESTDIR="$R" PREFIX=/usr >"$D/make2.out" 2>&1
check "$S: a second make install succeeds" [ $? -eq 0 ]
check "$S: ... and keeps the modified p0fshim.conf" cmp -s "$D/conf.mine" "$R/etc/p0fshim/p0fshim.conf"
check "$S: ... and the modified blocked_operating_systems" cmp -s "$D/blocked.mine" "$R/etc/p0fshim/blocked_operating_systems"
check "$S: ... but replaces the library" cmp -s "$LIB" "$R/usr/lib/libp0fshim.so"
make -s --no-print-directory -C "$TOP" install DESTDIR="$D/root-default" >"$D/make3.out" 2>&1
check "$S: default PREFIX puts the library where the drop-ins preload it (/usr/local/lib/libp0fshim.so)" \
    eval 'test -f "$D/root-default/usr/local/lib/libp0fshim.so" && grep -qx "Environment=LD_PRELOAD=/usr/local/lib/libp0fshim.so" "$SCRIPTS/systemd/exim4.conf"'
make -s --no-print-directory -C "$TOP" install DESTDIR="$D/root-secure" LIBDIR="$MULTIARCH_DIR" >"$D/make4.out" 2>&1
check "$S: LIBDIR=$MULTIARCH_DIR (secure-mode install) puts it there" test -f "$D/root-secure$MULTIARCH_DIR/libp0fshim.so"

# =====================================================================================================
# 8. The sample configs and the scripts
# =====================================================================================================
scenario samples
start_p0f "${HOSTS[@]}"
# Every sample config loads without a config error (errors would be logged: see the control).
for f in "$TOP"/policy/*.conf; do
    from_policy "$f" >"$D/$(basename "$f")"
    env LD_PRELOAD="$LIB" P0FSHIM_CONFIG="$D/$(basename "$f")" true
done
printf 'log_socket %s\nfrobnicate yes\n' "$D/log.sock" >"$D/broken.conf"
env LD_PRELOAD="$LIB" P0FSHIM_CONFIG="$D/broken.conf" true
check "$S: control: a broken config is reported" has_line 'msg="config error" .*broken\.conf'
check "$S: every policy/*.conf loads without a config error" eval '! grep -v broken\\.conf "$(L)" | grep -q "config error"'
grep -v broken\\.conf "$(L)" | grep "config error" | sed 's/^/#   /'
check "$S: programs lines: exim4, sendmail-mta, smtpd, tcpserver" eval '
    grep -qx "programs exim4" "$TOP/policy/exim4.conf" && grep -qx "programs sendmail-mta" "$TOP/policy/sendmail.conf" &&
    grep -qx "programs smtpd" "$TOP/policy/opensmtpd.conf" && grep -qx "programs tcpserver" "$TOP/policy/tcpserver.conf"'
# Each config acts in a process of the MTA's name (copies of testsrv). Debian's Sendmail daemon is
# /usr/sbin/sendmail-mta, a link to the executable /usr/libexec/sendmail/sendmail.
mkdir -p "$D/mta"
for n in exim4 sendmail smtpd; do cp "$HELPERS/testsrv" "$D/mta/$n"; done
ln -s sendmail "$D/mta/sendmail-mta"
: >"$D/log.txt"
# named_srv CONF PROG: PROG --model loop with CONF, one windows client, its pid in $named_pid.
named_srv() {
    CONF=$D/$1 TESTSRV=$D/mta/$2 start_srv testsrv loop "127.0.0.1:$PORT"
    named_pid=$SRV_PID
}
for pair in exim4.conf:exim4 sendmail.conf:sendmail-mta opensmtpd.conf:smtpd; do
    named_srv "${pair%%:*}" "${pair##*:}"
    check "$S: policy/${pair%%:*} acts in ${pair##*:}: windows client closed" client "win-${pair##*:}" closed "$WIN"
    check "$S: ... block line from it" has_line "$(conn "$WIN" block "" "$named_pid")"
    stop_srv testsrv
done
named_srv sendmail.conf sendmail
check "$S: policy/sendmail.conf leaves plain sendmail (MSP, local submission) alone" client win-msp served "$WIN"
settle
check "$S: ... no line from it" no_line "p0fshim\[$named_pid\]"
stop_srv testsrv

# --- scripts: syntax ---
P0FD=$SCRIPTS/p0f
check "scripts: p0f-p0fshim.init passes sh -n and bash -n" eval 'sh -n "$P0FD/p0f-p0fshim.init" && bash -n "$P0FD/p0f-p0fshim.init"'
check "scripts: p0f-p0fshim.init is executable and has an LSB header" eval '
    [ -x "$P0FD/p0f-p0fshim.init" ] && grep -q "^### BEGIN INIT INFO" "$P0FD/p0f-p0fshim.init" &&
    grep -q "^# Provides: *p0f-p0fshim$" "$P0FD/p0f-p0fshim.init" && grep -q "^### END INIT INFO" "$P0FD/p0f-p0fshim.init"'
check "scripts: default passes sh -n" sh -n "$P0FD/default"
check "scripts: run is executable" test -x "$SCRIPTS/tcpserver/run"
# The default file is read by systemd (EnvironmentFile=, no shell) and by sh: plain NAME=value lines.
PLAIN_ASSIGN='^(#.*|[[:space:]]*|[A-Z0-9_]+=("[^"$`\\]*"|[^[:space:]"'"'"'$`\\]*))$'
check "scripts: default has only comments and NAME=value / NAME=\"value\" lines" \
    eval '! grep -Ev "$PLAIN_ASSIGN" "$P0FD/default" | grep -q .'
settings() { env -i sh -c '. "$1"; printf "%s|%s|%s|%s|%s\n" "$P0F_INTERFACE" "$P0F_SOCKET" "$P0F_FILTER" "$P0F_USER" "$P0F_OPTIONS"' sh "$1"; }
sed -n '/^P0F_INTERFACE=/,/^P0F_OPTIONS=/p' "$P0FD/p0f-p0fshim.init" >"$D/init-defaults"
check "scripts: the init script's built-in settings equal the default file's ($(settings "$P0FD/default"))" \
    [ "$(settings "$D/init-defaults")" = "$(settings "$P0FD/default")" ]
check "scripts: default socket is /var/spool/postfix/p0f/p0f.sock, as in policy/tcpserver.conf" eval '
    grep -qx "P0F_SOCKET=/var/spool/postfix/p0f/p0f.sock" "$P0FD/default" &&
    grep -qx "socket /var/spool/postfix/p0f/p0f.sock" "$TOP/policy/tcpserver.conf"'
check "scripts: exim4 and sendmail (not chrooted) use /run/p0f/p0f.sock and say to set P0F_SOCKET to it" eval '
    grep -qx "socket /run/p0f/p0f.sock" "$TOP/policy/exim4.conf" && grep -q "set P0F_SOCKET" "$TOP/policy/exim4.conf" &&
    grep -qx "socket /run/p0f/p0f.sock" "$TOP/policy/sendmail.conf" && grep -q "set P0F_SOCKET" "$TOP/policy/sendmail.conf"'


# --- systemd units: systemd-analyze verify (offline), drop-ins on stand-in main units ---
U=$D/units
mkdir -p "$U"
cp "$P0FD/p0f-p0fshim.service" "$U/"
for m in exim4 sendmail opensmtpd; do
    printf '[Unit]\nDescription=stand-in for %s\n[Service]\nExecStart=/bin/true\n' "$m" >"$U/$m.service"
    mkdir -p "$U/$m.service.d" && cp "$SCRIPTS/systemd/$m.conf" "$U/$m.service.d/p0fshim.conf"
done
if command -v systemd-analyze >/dev/null; then
    for unit in p0f-p0fshim exim4 sendmail opensmtpd; do
        SYSTEMD_UNIT_PATH="$U:" systemd-analyze verify --man=no "$U/$unit.service" >"$D/verify-$unit.out" 2>&1
        rc=$?
        check "scripts: systemd-analyze verify $unit.service$([ "$unit" != p0f-p0fshim ] && echo " + the p0fshim drop-in") (rc $rc, $(wc -l <"$D/verify-$unit.out") lines of complaints)" \
            eval '[ "$rc" -eq 0 ] && [ ! -s "$D/verify-$unit.out" ]'
        sed 's/^/#   /' "$D/verify-$unit.out"
    done
else
    echo "# systemd-analyze is not installed: checking the units' keys only"
    for f in "$U/p0f-p0fshim.service" "$U"/*.service.d/p0fshim.conf; do
        check "scripts: $(basename "$(dirname "$f")")/$(basename "$f"): known sections and keys" eval '! awk "
            /^[[:space:]]*(#|\$)/ { next }
            /^\[(Unit|Service|Install)\]\$/ { next }
            /^(Description|Documentation|Wants|After|Before|Type|EnvironmentFile|Environment|ExecStartPre|ExecStart|ExecStopPost|StandardOutput|Restart|RestartSec|NoNewPrivileges|PrivateTmp|ProtectHome|ProtectSystem|WantedBy)=/ { next }
            { print FILENAME \": \" \$0; bad = 1 } END { exit !bad }" "$f"'
    done
fi
check "scripts: exim4 and opensmtpd drop-ins preload /usr/local/lib/libp0fshim.so" eval '
    grep -qx "Environment=LD_PRELOAD=/usr/local/lib/libp0fshim.so" "$SCRIPTS/systemd/exim4.conf" &&
    grep -qx "Environment=LD_PRELOAD=/usr/local/lib/libp0fshim.so" "$SCRIPTS/systemd/opensmtpd.conf"'
check "scripts: sendmail drop-in preloads the bare name libp0fshim.so (secure mode)" \
    grep -qx "Environment=LD_PRELOAD=libp0fshim.so" "$SCRIPTS/systemd/sendmail.conf"
check "scripts: each drop-in has its [Service] section" eval '
    for m in exim4 sendmail opensmtpd; do grep -qx "\[Service\]" "$SCRIPTS/systemd/$m.conf" || exit 1; done'

# --- Debian's real p0f, started by the init script and by the unit's command line ---
scenario real-p0f
P0F_TEST_USER=p0fsh-t$$
# At exit: every p0f this test started runs as the temporary account; end them (by pid), then
# remove the account.
kill_test_p0fs() {
    local p
    for p in $(pgrep -u "$P0F_TEST_USER" -x p0f 2>/dev/null); do kill "$p"; done
    sleep 0.2
}
CLEANUP_HOOKS+=("kill_test_p0fs" "userdel '$P0F_TEST_USER' 2>/dev/null; groupdel '$P0F_TEST_USER' 2>/dev/null")
mkdir -p "$D/home" "$D/run"
useradd --system --no-create-home --home-dir "$D/home" --shell /usr/sbin/nologin "$P0F_TEST_USER" \
    >"$D/useradd.out" 2>&1 || echo "# useradd failed: $(cat "$D/useradd.out")"
# The shipped default file with this test's values (interface lo, a socket here, our port).
sed -e "s|^P0F_INTERFACE=.*|P0F_INTERFACE=lo|" -e "s|^P0F_SOCKET=.*|P0F_SOCKET=$D/run/sub/p0f.sock|" \
    -e "s|^P0F_FILTER=.*|P0F_FILTER=\"tcp and (dst port $PORT or dst port $((PORT + 1)))\"|" \
    -e "s|^P0F_USER=.*|P0F_USER=$P0F_TEST_USER|" "$P0FD/default" >"$D/default"
echo "PIDFILE=$D/p0f.pid" >>"$D/default"
sed "s|^DEFAULTS=.*|DEFAULTS=$D/default|" "$P0FD/p0f-p0fshim.init" >"$D/init"
chmod 755 "$D/init"
export _SYSTEMCTL_SKIP_REDIRECT=1
printf 'socket %s\nports %s %s\ntimeout_ms 800\nlog_socket %s\nblocked_os_file %s\nfingerprint p0f\n' \
    "$D/run/sub/p0f.sock" "$PORT" "$((PORT + 1))" "$D/log.sock" "$D/blocked" >"$D/conf"
"$D/init" start >"$D/init-start.out" 2>&1
check "init: start succeeds" [ $? -eq 0 ]
check "init: p0f's socket is there (the directory was created)" test -S "$D/run/sub/p0f.sock"
p0fpid=$(cat "$D/p0f.pid" 2>/dev/null)
check "init: p0f (pid ${p0fpid:-none}) runs as $P0F_TEST_USER, chrooted to its home" eval '
    [ "$(stat -c %U "/proc/$p0fpid")" = "$P0F_TEST_USER" ] && [ "$(readlink "/proc/$p0fpid/root")" = "$D/home" ]'
check "init: the filter reached p0f as one argument" eval '
    [ "$(tr "\0" "\n" <"/proc/$p0fpid/cmdline" | tail -n 1)" = "tcp and (dst port $PORT or dst port $((PORT + 1)))" ]'
"$D/init" status >/dev/null 2>&1
check "init: status says running" [ $? -eq 0 ]
"$D/init" start >"$D/init-start2.out" 2>&1
rc=$?
check "init: a second start is a no-op (still one p0f, pid ${p0fpid:-none})" \
    eval '[ "$rc" -eq 0 ] && [ "$(cat "$D/p0f.pid")" = "$p0fpid" ] && alive "$p0fpid" && [ "$(pgrep -xc p0f -u "$P0F_TEST_USER")" -eq 1 ]'
start_srv testsrv loop "127.0.0.1:$PORT"
check "init: a linux client is served" client lin served "$LIN"
check "init: the real p0f identified it (verdict=allow os=\"Linux\")" has_line "$(conn "$LIN" allow) os=\"Linux\""
stop_srv testsrv
"$D/init" stop >"$D/init-stop.out" 2>&1
check "init: stop succeeds" [ $? -eq 0 ]
# (start-stop-daemon returns once p0f's executable is gone; the process may take a moment more
# to finish exiting.)
check "init: p0f is gone, and its socket" \
    eval 'wait_for 3 eval "! alive \"$p0fpid\"" && [ ! -e "$D/run/sub/p0f.sock" ]'
"$D/init" status >/dev/null 2>&1
check "init: status says not running (3)" [ $? -eq 3 ]
sed "s|^P0F_FILTER=.*|P0F_FILTER=\"this is not a filter(\"|" "$D/default" >"$D/default-bad"
sed "s|^DEFAULTS=.*|DEFAULTS=$D/default-bad|" "$P0FD/p0f-p0fshim.init" >"$D/init-bad"
timeout 20 sh "$D/init-bad" start >"$D/init-bad.out" 2>&1
check "init: start fails when p0f cannot start (bad filter)" [ $? -eq 1 ]
check "init: ... and leaves no p0f behind" eval '! pgrep -f "this is not a filter" >/dev/null'

# The unit's command lines, expanded like systemd does with the EnvironmentFile (a small parser:
# quotes, \${VAR} = one word, \$VAR alone = split at blanks, \$\$ = \$, %% = %), then run.
declare -A UENV
while IFS= read -r line; do
    [[ $line =~ ^([A-Z0-9_]+)=(.*)$ ]] || continue
    k=${BASH_REMATCH[1]} v=${BASH_REMATCH[2]}
    [[ $v =~ ^\"(.*)\"$ ]] && v=${BASH_REMATCH[1]}
    UENV[$k]=$v
done <"$D/default"
unit_words() {   # unit_words "COMMAND LINE" -> WORDS array
    local s=$1 i c w= inword=0 q= bare=1 v name
    WORDS=()
    for ((i = 0; i <= ${#s}; i++)); do
        c=${s:i:1}
        if [ -n "$q" ] && [ $i -lt ${#s} ]; then
            if [ "$c" = "$q" ]; then q=; else w+=$c; fi
            continue
        fi
        if [ $i -eq ${#s} ] || [ "$c" = " " ] || [ "$c" = $'\t' ]; then
            if [ $inword = 1 ]; then
                if [ $bare = 1 ] && [[ $w =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; then
                    read -r -a v <<<"${UENV[${BASH_REMATCH[1]}]}"
                    WORDS+=("${v[@]}")
                else
                    w=${w//\$\$/$'\001'}
                    while [[ $w =~ \$\{([A-Za-z_][A-Za-z0-9_]*)\} ]] || [[ $w =~ \$([A-Za-z_][A-Za-z0-9_]*) ]]; do
                        name=${BASH_REMATCH[1]}
                        w=${w/"${BASH_REMATCH[0]}"/"${UENV[$name]}"}
                    done
                    w=${w//$'\001'/\$}
                    w=${w//%%/%}
                    WORDS+=("$w")
                fi
            fi
            w= inword=0 bare=1
            continue
        fi
        case $c in
            \' | \") q=$c inword=1 bare=0 ;;
            *) w+=$c inword=1 ;;
        esac
    done
}
unit_line() { sed -n "s/^$1=//p" "$P0FD/p0f-p0fshim.service"; }
# systemd gives the commands the EnvironmentFile's variables.
UENV_ARGS=()
for k in "${!UENV[@]}"; do UENV_ARGS+=("$k=${UENV[$k]}"); done
unit_words "$(unit_line ExecStartPre)"
env "${UENV_ARGS[@]}" "${WORDS[@]}" >"$D/unit-pre.out" 2>&1
check "unit: ExecStartPre (${WORDS[*]}) succeeds" [ $? -eq 0 ]
unit_words "$(unit_line ExecStart)"
echo "# unit ExecStart: $(printf '[%s] ' "${WORDS[@]}")"
check "unit: ExecStart runs p0f with -i -s -u and the filter as one word" \
    [ "${WORDS[0]} ${WORDS[1]} ${WORDS[2]} ${WORDS[3]}" = "/usr/sbin/p0f -i lo -s" ]
spawn env "${UENV_ARGS[@]}" "${WORDS[@]}" </dev/null >/dev/null 2>"$D/unit-p0f.err"
UNIT_P0F=$!
check "unit: p0f started from the unit's command line creates its socket" wait_for 5 test -S "$D/run/sub/p0f.sock"
check "unit: ... runs as $P0F_TEST_USER" eval '[ "$(stat -c %U "/proc/$UNIT_P0F")" = "$P0F_TEST_USER" ]'
start_srv testsrv loop "127.0.0.1:$((PORT + 1))"
check "unit: a linux client is served" client lin-unit served "$LIN" --connect "127.0.0.1:$((PORT + 1))"
check "unit: the real p0f identified it" has_line "$(conn "$LIN" allow $((PORT + 1))) os=\"Linux\""
stop_srv testsrv
kill "$UNIT_P0F"; wait "$UNIT_P0F" 2>/dev/null
unit_words "$(unit_line ExecStopPost)"
env "${UENV_ARGS[@]}" "${WORDS[@]}"
check "unit: ExecStopPost removes the socket" test ! -e "$D/run/sub/p0f.sock"
kill_test_p0fs
userdel "$P0F_TEST_USER" 2>/dev/null; groupdel "$P0F_TEST_USER" 2>/dev/null
check "the temporary account $P0F_TEST_USER is gone" eval '! getent passwd "$P0F_TEST_USER" >/dev/null'
end_scenario

echo "# mta tests took $((SECONDS - T_START)) s"
summary
