#!/bin/bash
# Hold mode, SMTP replies and greylisting by OS, on loopback: testsrv (and, where the
# exact result of accept() matters, a few lines of Perl) under LD_PRELOAD=libp0fshim.so, fake_p0f
# standing in for p0f, logsink for /dev/log. The fake p0f tells clients apart by source address:
#   127.0.0.2 .4 .6 .8 .9 and 127.0.1.2  "Windows NT kernel"  (.2 and .4 share a /24, 127.0.1.2 not)
#   127.0.0.3  "Linux 3.11 and newer"      127.0.0.5  "FreeBSD 9.x or newer"   127.0.0.7 unknown
# Each scenario has its own ports (P0FSHIM_HOLD_PORT_BASE, default 47000, 10 ports a scenario),
# config, log, blocked-OS file and p0f socket under $WORK/<scenario>. KEEP_WORK=1 keeps them.
# Greylisting runs on the real clock: greylist_delay 2s, and one wait covers every greylist
# scenario at once (the unit tests drive the store with a clock of their own).
source "$(dirname "${BASH_SOURCE[0]}")/../scenario.sh"

require_built "$LIB" "$BUILD/p0fshim" "$HELPERS/fake_p0f" "$HELPERS/testsrv" "$HELPERS/testclient" \
    "$HELPERS/logsink" "$HELPERS/burst"
command -v perl >/dev/null || fail_now "perl is missing"
command -v setpriv >/dev/null || fail_now "setpriv (util-linux) is missing"
[ "$(id -u)" -eq 0 ] || fail_now "this test needs root (it runs one server as nobody)"

PORT_BASE=${P0FSHIM_HOLD_PORT_BASE:-47000}
PORT_STEP=10 JUDGED_PORTS=10   # each scenario's config names all its ports
WIN=127.0.0.2 LIN=127.0.0.3 WIN24=127.0.0.4 BSD=127.0.0.5 WIN_B=127.0.0.6 WIN_W=127.0.0.8
WIN_EX=127.0.0.9 WIN_NET=127.0.1.2 UNK=127.0.0.7
HOSTS=()
for h in "$WIN" "$WIN24" "$WIN_B" "$WIN_W" "$WIN_EX" "$WIN_NET"; do
    HOSTS+=(--host "$h" --os Windows --flavor "NT kernel" --match exact --dist 0 --link Ethernet)
done
HOSTS+=(--host "$LIN" --os Linux --flavor "3.11 and newer" --match generic --dist 1 --link Ethernet
        --host "$BSD" --os FreeBSD --flavor "9.x or newer")
REJECT="554 5.7.1 Connection refused: your host is not accepted here"
TEMPFAIL="421 4.7.0 Service temporarily unavailable, try again later"
GREY="421 4.7.1 Greylisted, please try again later"
BANNER="220 testsrv ready"

# ---- helpers of this file ----------------------------------------------------------------------
# accepted_is NAME N [SERVED]: testsrv's own count of connections its accept() returned.
accepted_is() {
    local want="^accepted=$2 served=${3:-[0-9]+} accept_errors=0 errno_changed=0\$"
    grep -Eq "$want" "${RUN:-$D}/$1.stats" || { echo "# $1 stats: $(cat "${RUN:-$D}/$1.stats")"; return 1; }
}

# field TAG NAME: a number from the client's result line (ms, eof_ms).
field() { sed -nE "s/^result=.* $2=([0-9]+).*/\1/p" "$D/client-$1.out" | head -1; }
between() { [ -n "$1" ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ] || { echo "# $1 not in [$2, $3]"; return 1; }; }

# from_pid PID REGEX: a line matching REGEX (from conn) was written by process PID.
from_pid() { wait_for 3 log_has "$(L)" "p0fshim\[$1\]: ${2#*: }"; }
WIN_GENRE='os="Windows" flavor="NT kernel" genre="Windows NT kernel" match=exact distance=0 link="Ethernet" uptime_min=0 total_conn=1'
rule_at() { echo "rule=\"$(re "$1")\" rule_at=\"$(re "$D/blocked"):1\""; }

echo "# scratch directory $WORK"
T_START=$SECONDS

# ---- 1. hold mode, each action, blocking (loop) and non-blocking (epoll) listeners -------------
for action in close reject tempfail; do
    for model in loop epoll; do
        scenario "hold-$action-$model"
        conf_lines "mode hold" "action $action" >"$D/conf"
        start_p0f "${HOSTS[@]}"
        start_srv srv "$model" "127.0.0.1:$PORT"
        case $action in
        close)
            check "$S: windows client: EOF before any byte (no banner)" client win1 eof "$WIN"
            check "$S: a second windows client: EOF before any byte" client win2 eof "$WIN"
            reply_re='action=close$' ;;
        reject|tempfail)
            [ "$action" = reject ] && text=$REJECT || text=$TEMPFAIL
            check "$S: windows client: first line \"${text:0:9} ...\", then EOF" \
                eval 'client win1 "first-line=${text:0:10}" "$WIN" --then eof && first_is win1 "$text" eof'
            check "$S: a second windows client: the same" \
                eval 'client win2 "first-line=${text:0:10}" "$WIN" --then eof && first_is win2 "$text" eof'
            reply_re="action=$action reply=\"$(re "$text")\"\$" ;;
        esac
        check "$S: linux client: first line is the banner, QUIT answered" \
            eval 'client lin "first-line=220 " "$LIN" --then quit && first_is lin "$BANNER" quit'
        check "$S: block lines: verdict=block ... rule ... $reply_re" \
            eval 'has_line "$(conn "$WIN" block "$PORT") $WIN_GENRE $(rule_at /windows/) $reply_re" &&
                  count_is "$(conn "$WIN" block "$PORT") .* $reply_re" 2'
        check "$S: the allow line has no action or reply" \
            eval 'has_line "$(conn "$LIN" allow "$PORT") " && no_line "verdict=allow .*(action|reply)="'
        check "$S: the block verdicts came within hold_ms (ms <= 50)" \
            eval '[ -z "$(grep -E "verdict=block ms=([5-9][1-9]|[6-9][0-9]|[0-9]{3,}) " "$(L)")" ]'
        stop_srv srv
        check "$S: testsrv accepted only the linux connection (accepted=1 served=1)" accepted_is srv 1 1
    done
done

# ---- 2. custom texts ---------------------------------------------------------------------------
scenario texts
conf_lines "mode hold" "action reject" "reject_text No mail from this host; see <https://example.org/policy> \"50%\"" >"$D/conf-reject"
conf_lines "mode hold" "action tempfail" "tempfail_text   Busy, come back later (p0fshim)  " >"$D/conf-tempfail"
start_p0f "${HOSTS[@]}"
CONF=$D/conf-reject start_srv rej loop "127.0.0.1:$PORT"
CONF=$D/conf-tempfail start_srv tmp epoll "127.0.0.1:$((PORT + 1))"
T_REJ='554 5.7.1 No mail from this host; see <https://example.org/policy> "50%"'
T_TMP='421 4.7.0 Busy, come back later (p0fshim)'
check "$S: reject_text: the rest of the line after the directive is the text" \
    eval 'client rej "first-line=554 5.7.1 No mail" "$WIN" --then eof && grep -qF "line=\"554 5.7.1 No mail from this host; see <https://example.org/policy> \x2250%\x22\" then=eof" "$D/client-rej.out"'
check "$S: reject_text: the log's reply= escapes the quotes" \
    wait_for 3 grep -qF 'action=reject reply="554 5.7.1 No mail from this host; see <https://example.org/policy> \"50%\""' "$(L)"
check "$S: tempfail_text: blanks around the text dropped" \
    eval 'client tmp "first-line=421 4.7.0 Busy" "$WIN" --connect "127.0.0.1:$((PORT + 1))" --then eof && first_is tmp "$T_TMP" eof'
check "$S: tempfail_text in the log" has_line "action=tempfail reply=\"$(re "$T_TMP")\"\$"
# Every byte the client receives, up to EOF: the reply, CRLF, nothing else.
raw() {
    perl -MSocket -e 'alarm 5; socket(my $s, PF_INET, SOCK_STREAM, 0) or die;
        bind($s, pack_sockaddr_in(0, inet_aton($ARGV[0]))) or die; connect($s, pack_sockaddr_in($ARGV[1], inet_aton("127.0.0.1"))) or die;
        binmode STDOUT; my $buf; print $buf while sysread($s, $buf, 4096);' "$1" "$2"
}
check "$S: the bytes sent: exactly the reply and CRLF, then EOF" \
    eval '[ "$(raw "$WIN" "$PORT" | od -An -c | tr -s " \n" " ")" = "$(printf "%s\r\n" "$T_REJ" | od -An -c | tr -s " \n" " ")" ]'
stop_srv rej
stop_srv tmp

# ---- 2b. configuration errors: one line naming file, line and reason; pass-through ---------------
scenario config-errors
i=0
while IFS='|' read -r line reason; do
    port=$((PORT + i)); i=$((i + 1))
    conf_lines "$(printf '%b' "$line")" >"$D/conf$i"
    CONF=$D/conf$i start_srv "srv$i" loop "127.0.0.1:$port"
    check "$S: \"$line\": the windows client is served (pass-through: not judged)" \
        client "c$i" "first-line=220 " "$WIN" --connect "127.0.0.1:$port" --then quit
    check "$S: \"$line\": config error at line 7: $reason" \
        has_line "p0fshim\[${SRV[srv$i]}\]: level=error msg=\"config error\" file=\"$(re "$D/conf$i")\" line=7 reason=\"$(re "$reason")\" action=pass_through\$"
    stop_srv "srv$i"
done <<'EOF'
mode sometimes|mode \"sometimes\": async or hold
hold_ms 0|hold_ms \"0\" is not a number from 1 to 10000
hold_ms 10001|hold_ms \"10001\" is not a number from 1 to 10000
action drop|action \"drop\": close, reject or tempfail
reject_text Go\taway|reject_text: only printable ASCII is allowed in an SMTP reply
greylist_delay 5x|greylist_delay \"5x\" is not a duration (e.g. 300, 5m, 24h, 36d)
greylist_v4_prefix 16|greylist_v4_prefix \"16\": 32 (the host) or 24
greylist_v6_prefix 96|greylist_v6_prefix \"96\": 128 (the host) or 64
greylist_os (windows|greylist_os: regex \"(windows\" does not compile: missing closing parenthesis at offset 8
greylist_dir relative/path|greylist_dir must be an absolute path
EOF

# ---- 3. what accept() returns for a consumed connection (Perl, no timeouts of its own) ---------
# The acceptor accepts until WANT (default 1) connections were returned, writes "220 perl ready" to
# each, and prints one line per accept() result.
#   blocking     a blocking listener;
#   nonblocking  an O_NONBLOCK listener, select() before each accept() (level-triggered);
#   edge         an O_NONBLOCK listener in epoll with EPOLLET (edge-triggered): it
#                sleeps 1 s first (so that connections queue up), then on each event accepts until
#                accept() fails, and waits for the next event (x86_64 system call numbers).
cat >"$WORK/acceptor.pl" <<'EOF'
use strict; use warnings; use Socket; use Fcntl; use POSIX qw(EAGAIN EWOULDBLOCK EINTR);
my ($port, $mode, $ready, $want) = @ARGV;
$want ||= 1;
alarm 10;
$| = 1;
socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1) or die "setsockopt: $!";
bind($s, pack_sockaddr_in($port, inet_aton("127.0.0.1"))) or die "bind: $!";
listen($s, 16) or die "listen: $!";
if ($mode ne "blocking") {
    my $fl = fcntl($s, F_GETFL, 0) or die "fcntl: $!";
    fcntl($s, F_SETFL, $fl | O_NONBLOCK) or die "fcntl: $!";
}
my $ep;
if ($mode eq "edge") {
    $ep = syscall(291, 0);                                            # epoll_create1
    die "epoll_create1: $!" if $ep < 0;
    my $ev = pack("LQ", 0x80000001, 0);                               # EPOLLIN | EPOLLET
    syscall(233, $ep, 1, fileno($s), $ev) == 0 or die "epoll_ctl: $!";  # EPOLL_CTL_ADD
}
open(my $r, ">", "$ready.tmp") or die; close $r; rename("$ready.tmp", $ready) or die;
sleep 1 if $mode eq "edge";
for (;;) {
    if ($mode eq "nonblocking") {
        my $rin = ""; vec($rin, fileno($s), 1) = 1;
        select(my $rout = $rin, undef, undef, 10) > 0 or die "select: nothing to accept";
    } elsif ($mode eq "edge") {
        my $buf = "\0" x 96;
        my $n = syscall(232, $ep, $buf, 8, 3000);                      # epoll_wait
        if ($n == 0) { print "epoll_wait: no event in 3 s\n"; exit 1; }
    }
    for (;;) {
        $! = 0;
        my $peer = accept(my $c, $s);
        if (!$peer) {
            my $e = $! + 0;
            print "accept failed errno=", ($e == EAGAIN ? "EAGAIN" : $e == EWOULDBLOCK ? "EWOULDBLOCK" : $e == EINTR ? "EINTR" : "$e ($!)"), "\n";
            last;
        }
        my (undef, $ip) = unpack_sockaddr_in($peer);
        print "accept returned peer=", inet_ntoa($ip), "\n";
        syswrite($c, "220 perl ready\r\n");
        close($c);
        exit 0 if --$want == 0;
    }
}
EOF
scenario errno
conf_lines "mode hold" "action reject" >"$D/conf"
start_p0f "${HOSTS[@]}"
start_acceptor() {      # start_acceptor MODE PORT [WANT [PRELOAD]]: PRELOAD default the shim
    rm -f "$D/$1.ready"
    spawn env LD_PRELOAD="${4-$LIB}" P0FSHIM_CONFIG="$D/conf" perl "$WORK/acceptor.pl" "$2" "$1" "$D/$1.ready" "${3:-1}" \
        >"$D/$1.out" 2>"$D/$1.err"
    apid=$!
    wait_for 5 test -e "$D/$1.ready" || echo "# $S: the $1 acceptor did not start: $(cat "$D/$1.err")"
}
for mode in blocking nonblocking; do
    port=$((PORT + 1)); [ "$mode" = blocking ] && port=$PORT
    start_acceptor "$mode" "$port"
    check "$S: $mode: windows client gets the 554 as its first line" \
        eval 'client win-$mode "first-line=554 5.7.1" "$WIN" --connect "127.0.0.1:$port" --then eof'
    if [ "$mode" = nonblocking ]; then
        check "$S: nonblocking: accept() returned -1 with errno EAGAIN for it" \
            wait_for 3 grep -qx 'accept failed errno=EAGAIN' "$D/$mode.out"
    else
        # Nothing else queued on a blocking listener: EINTR, so that a select() loop over several
        # listeners goes back to select() instead of waiting here for this port's next client.
        check "$S: blocking: accept() returned -1 with errno EINTR for it" \
            wait_for 3 grep -qx 'accept failed errno=EINTR' "$D/$mode.out"
    fi
    check "$S: $mode: linux client gets the acceptor's banner" \
        eval 'client lin-$mode "first-line=220 perl ready" "$LIN" --connect "127.0.0.1:$port"'
    wait "$apid"
    rc=$?
    case $mode in
    blocking) want=$(printf 'accept failed errno=EINTR\naccept returned peer=%s' "$LIN") ;;
    nonblocking) want=$(printf 'accept failed errno=EAGAIN\naccept returned peer=%s' "$LIN") ;;
    esac
    check "$S: $mode: the acceptor's accept() results: $(tr '\n' ';' <<<"$want")" \
        eval '[ "$rc" -eq 0 ] && [ "$(cat "$D/$mode.out")" = "$want" ] || { echo "# rc=$rc: $(cat "$D/$mode.out" "$D/$mode.err")"; false; }'
done
check "$S: two block lines with action=reject, one per acceptor" count_is "$(conn "$WIN" block "[0-9]+") .*action=reject " 2
if [ "$(uname -m)" = x86_64 ]; then
    # A refused connection with another one queued behind it: the EAGAIN that ends this accept()
    # must not leave the second one unannounced to an edge-triggered loop. First, without the
    # shim: the acceptor serves two queued clients from one event.
    port=$((PORT + 3))
    start_acceptor edge "$port" 2 ""
    client ctl1 "first-line=220 perl ready" "$WIN" --connect "127.0.0.1:$port" --timeout-ms 4000 &
    wpid=$!
    sleep_ms 100
    client ctl2 "first-line=220 perl ready" "$LIN" --connect "127.0.0.1:$port" --timeout-ms 4000
    lrc=$?
    wait "$wpid"; wrc=$?
    wait "$apid"
    check "$S: edge, without the shim: both queued clients are served from one event" \
        eval '[ $wrc -eq 0 ] && [ $lrc -eq 0 ] && [ "$(grep -c "^accept returned" "$D/edge.out")" -eq 2 ]'
    port=$((PORT + 2))
    start_acceptor edge "$port"
    client win-edge "first-line=554 5.7.1" "$WIN" --connect "127.0.0.1:$port" --then eof --timeout-ms 4000 &
    wpid=$!
    sleep_ms 100
    client lin-edge "first-line=220 perl ready" "$LIN" --connect "127.0.0.1:$port" --timeout-ms 4000 &
    lpid=$!
    wait "$wpid"; wrc=$?
    wait "$lpid"; lrc=$?
    wait "$apid"
    check "$S: edge: windows client gets the 554" [ "$wrc" -eq 0 ]
    check "$S: edge: the linux client queued behind it is served (EPOLLET listener)" \
        eval '[ "$lrc" -eq 0 ] || { echo "# linux client: $(tr "\n" " " <"$D/client-lin-edge.out")| acceptor: $(tr "\n" ";" <"$D/edge.out")"; false; }'
else
    echo "# $S: edge-triggered check skipped (x86_64 system call numbers)"
fi

# ---- 4. the deadline: a verdict later than hold_ms (default 50) ---------------------------------
scenario deadline
TMO=1000 conf_lines "mode hold" "action reject" >"$D/conf"
start_p0f --delay-ms 200 "${HOSTS[@]}"
start_srv loop loop "127.0.0.1:$PORT"
start_srv epoll epoll "127.0.0.1:$((PORT + 1))"
for srv in loop epoll; do
    port=$PORT; [ "$srv" = epoll ] && port=$((PORT + 1))
    client win-$srv "first-line=220 " "$WIN" --connect "127.0.0.1:$port" --then eof --timeout-ms 2000
    check "$S: $srv: windows client gets the banner (fail open at hold_ms)" first_is "win-$srv" "$BANNER" eof
    check "$S: $srv: ... about 50 ms after connecting ($(field "win-$srv" ms) ms)" between "$(field "win-$srv" ms)" 40 150
    check "$S: $srv: ... and is shut down when the verdict comes at ~200 ms ($(field "win-$srv" eof_ms) ms)" \
        between "$(field "win-$srv" eof_ms)" 190 500
    check "$S: $srv: the late block is logged action=close, no reply" \
        has_line "$(conn "$WIN" block "$port") $WIN_GENRE $(rule_at /windows/) action=close cutoff=in_time client_sent=0\$"
done
check "$S: a linux client is served through the late allow verdict" \
    client lin served "$LIN" --hold-ms 400
check "$S: its allow line, ms >= 200, no action" has_line "$(conn "$LIN" allow "$PORT") .*total_conn=1\$"
check "$S: the late verdicts took ~200 ms" \
    eval '[ -z "$(grep -E "verdict=[a-z]+ ms=([0-9]|[0-9][0-9]|1[0-8][0-9]) " "$(L)")" ]'
stop_srv loop
stop_srv epoll
check "$S: the servers accepted every connection (they were not refused in time)" \
    eval 'accepted_is loop 2 && accepted_is epoll 1'

# ---- 5. p0f down ---------------------------------------------------------------------------------
scenario p0f-down
TMO=1200 conf_lines "mode hold" "hold_ms 1000" >"$D/conf"
start_srv srv epoll "127.0.0.1:$PORT"
check "$S: windows client gets the banner" \
    eval 'client win "first-line=220 " "$WIN" --then quit --timeout-ms 3000 && first_is win "$BANNER" quit'
check "$S: ... at once, not after hold_ms 1000 ($(field win ms) ms)" between "$(field win ms)" 0 200
check "$S: verdict=error naming the connect failure, no action" \
    has_line "$(conn "$WIN" error "$PORT") reason=\"p0f connect: No such file or directory\"\$"
stop_srv srv

# ---- 6. greylisting ------------------------------------------------------------------------------
# One scenario, one wait of greylist_delay (2 s) for all of it:
#   A (loop) and B (epoll): one config and one store; Linux is both blocked and matched by
#       greylist_os (block wins); 127.0.0.9 is exempt. A is restarted during the wait.
#   C (epoll): greylist_v4_prefix 24, action close, a store of its own.
#   W (loop): greylist_delay 1s, greylist_window 1s, a store of its own.
#   Y (loop): mode async, a store of its own.
#   V (loop): p0f v2 only (a fake p0f 2 that calls 127.0.0.2 "Windows"), greylist_os ^windows$.
BLOCKED=/linux/ scenario greylist
mkdir -p "$D/gl" "$D/gl24" "$D/glw" "$D/gla" "$D/glv2"
conf_lines "mode hold" "greylist_os windows|linux" "greylist_delay 2" "greylist_window 24h" "greylist_expire 36d" \
    "greylist_dir $D/gl" "exempt $WIN_EX/32" >"$D/conf"
conf_lines "mode hold" "action close" "greylist_os windows" "greylist_delay 2s" "greylist_dir $D/gl24" \
    "greylist_v4_prefix 24" "greylist_text Greylisted by network, retry in a while" >"$D/conf24"
conf_lines "mode hold" "greylist_os windows" "greylist_delay 1s" "greylist_window 1s" "greylist_dir $D/glw" >"$D/confw"
conf_lines "mode async" "greylist_os windows" "greylist_delay 2s" "greylist_dir $D/gla" >"$D/confa"
conf_lines "socket $D/p0f2.sock" "version 2" "mode hold" "greylist_os ^windows\$" "greylist_delay 2s" \
    "greylist_dir $D/glv2" >"$D/confv2"
start_p0f "${HOSTS[@]}"
P0F=p0f2 start_p0f --v2 --host "$WIN" --os Windows --flavor "XP/2000 (RFC1323+, w+, tstamp-)"
PA=$PORT PB=$((PORT + 1)) PC=$((PORT + 2)) PW=$((PORT + 3)) PY=$((PORT + 4)) PV=$((PORT + 5))
start_srv A loop "127.0.0.1:$PA"
start_srv B epoll "127.0.0.1:$PB"
CONF=$D/conf24 start_srv C epoll "127.0.0.1:$PC"
CONF=$D/confw start_srv W loop "127.0.0.1:$PW"
CONF=$D/confa start_srv Y loop "127.0.0.1:$PY"
CONF=$D/confv2 start_srv V loop "127.0.0.1:$PV"
PID_A1=${SRV[A]} PID_B=${SRV[B]}
CHECK=("$BUILD/p0fshim" check)

t_first=$(now_ms)
check "$S: first contact: 421 4.7.1 as the first line, then EOF" \
    eval 'client g1 "first-line=421 4.7.1" "$WIN" --connect "127.0.0.1:$PA" --then eof && first_is g1 "$GREY" eof'
check "$S: ... logged verdict=greylist action=tempfail reply=\"421 4.7.1 ...\"" \
    has_line "$(conn "$WIN" greylist "$PA") $WIN_GENRE action=tempfail reply=\"$(re "$GREY")\"\$"
check "$S: a retry before the delay: greylisted again" \
    eval 'client g2 "first-line=421 4.7.1" "$WIN" --connect "127.0.0.1:$PA" --then eof && first_is g2 "$GREY" eof'
check "$S: ... verdict=greylist again (2 lines)" eval 'wait_for 3 count_is "$(conn "$WIN" greylist "$PA")" 2'
check "$S: a blocked OS that greylist_os also matches is blocked (554), not greylisted" \
    eval 'client lin "first-line=554 5.7.1" "$LIN" --connect "127.0.0.1:$PA" --then eof && has_line "$(conn "$LIN" block "$PA") .*action=reject "'
check "$S: an OS greylist_os does not match is served at once" \
    eval 'client bsd "first-line=220 " "$BSD" --connect "127.0.0.1:$PA" --then quit && has_line "$(conn "$BSD" allow "$PA") os=\"FreeBSD\".*total_conn=1\$"'
check "$S: an exempt windows host bypasses greylisting: served" \
    eval 'client ex "first-line=220 " "$WIN_EX" --connect "127.0.0.1:$PA" --then quit && has_line "$(conn "$WIN_EX" exempt "$PA") .*exempt=\"127\.0\.0\.9/32\"\$"'
check "$S: a host p0f does not know is never greylisted: served when hold_ms (50) runs out" \
    eval 'client unk "first-line=220 " "$UNK" --connect "127.0.0.1:$PA" --then quit && between "$(field unk ms)" 40 200'
check "$S: p0f v2: greylist_os matches p0f 2's genre (\"Windows\"): 421 4.7.1" \
    eval 'client v1 "first-line=421 4.7.1" "$WIN" --connect "127.0.0.1:$PV" --then eof &&
          has_line "$(conn "$WIN" greylist "$PV") v2_genre=\"Windows\" .*action=tempfail reply=\"$(re "$GREY")\"\$"'
check "$S: server A: first contact of another host (seen by A only)" \
    eval 'client b1 "first-line=421 4.7.1" "$WIN_B" --connect "127.0.0.1:$PA" --then eof'
t_first_b=$(now_ms)   # its own delay runs from here, however long the checks above took
check "$S: /24 server: first contact, 421 4.7.1 with greylist_text (action close does not apply)" \
    eval 'client c1 "first-line=421 4.7.1" "$WIN" --connect "127.0.0.1:$PC" --then eof &&
          first_is c1 "421 4.7.1 Greylisted by network, retry in a while" eof'
check "$S: window server: first contact greylisted" client w1 "first-line=421 4.7.1" "$WIN_W" --connect "127.0.0.1:$PW" --then eof
check "$S: async server: the connection is shut, no reply of the shim's (the banner may come first)" \
    eval 'client y1 "first-line=220 " "$WIN" --connect "127.0.0.1:$PY" --then eof;
          grep -Eq "^result=(eof|first_line ms=[0-9]+ line=\"$BANNER\" then=eof) " "$D/client-y1.out"'
check "$S: async server: verdict=greylist action=close, no reply" \
    has_line "$(conn "$WIN" greylist "$PY") $WIN_GENRE action=close cutoff=in_time client_sent=0\$"
"${CHECK[@]}" "$WIN" --config "$D/conf" >"$D/check-early.out" 2>&1
rc=$?
check "$S: p0fshim check: exit 1, verdict greylist, 'saw it first at', retry before 2 s greylisted" \
    eval '[ $rc -eq 1 ] && grep -qx "verdict: greylist" "$D/check-early.out" &&
          grep -q "the greylist store $(re "$D/gl") saw it first at " "$D/check-early.out" &&
          grep -q "a retry before 2 s is greylisted again" "$D/check-early.out" ||
          { sed "s/^/#   /" "$D/check-early.out"; false; }'
"${CHECK[@]}" "$WIN24" --config "$D/conf" >"$D/check-new.out" 2>&1
rc=$?
check "$S: p0fshim check of a host not in the store: exit 1, a first contact is greylisted" \
    eval '[ $rc -eq 1 ] && grep -q "does not know the host: a first contact is greylisted" "$D/check-new.out"'
check "$S: p0fshim check: delay 2, window 24h, expire 36d as configured" \
    grep -qF "(a retry after 2 s and within 86400 s passes, and the host is then good for 36 days)" "$D/check-early.out"
check "$S: p0fshim check names the reply and the action" \
    grep -q "the client gets \"$(re "$GREY")\" and is closed (action tempfail)" "$D/check-early.out"
stop_srv A
check "$S: A accepted only the FreeBSD, the exempt and the unknown host's connection" accepted_is A 3 3
start_srv A loop "127.0.0.1:$PA"
PID_A2=${SRV[A]}

# Wait for the delay (whole seconds: a series that began at t passes from t+2 on).
left=$((2200 - ($(now_ms) - t_first)))
[ "$left" -gt 0 ] && sleep_ms "$left"
check "$S: after the delay and a restart of A: the banner, QUIT answered" \
    eval 'client g3 "first-line=220 " "$WIN" --connect "127.0.0.1:$PA" --then quit && first_is g3 "$BANNER" quit'
check "$S: ... verdict=pass_greylist greylist_wait_s=2 or 3, from the restarted process" \
    from_pid "$PID_A2" "$(conn "$WIN" pass_greylist "$PA") $WIN_GENRE greylist_wait_s=[23]\$"
check "$S: the next connection: pass_greylist without a wait (good)" \
    eval 'client g4 served "$WIN" --connect "127.0.0.1:$PA" --hold-ms 0 && wait_for 3 count_is "$(conn "$WIN" pass_greylist "$PA") $WIN_GENRE\$" 1'
left=$((2200 - ($(now_ms) - t_first_b)))
[ "$left" -gt 0 ] && sleep_ms "$left"
check "$S: server B passes the host A greylisted (shared store, another process)" \
    eval 'client b2 "first-line=220 " "$WIN_B" --connect "127.0.0.1:$PB" --then quit &&
          from_pid "$PID_B" "$(conn "$WIN_B" pass_greylist "$PB") .*greylist_wait_s=[23]\$"'
check "$S: A and B are two processes" [ "$PID_A1" != "$PID_B" ] && [ "$PID_A2" != "$PID_B" ]
check "$S: /32 keying: $WIN24 (same /24 as $WIN) is a first contact on A" \
    eval 'client a24 "first-line=421 4.7.1" "$WIN24" --connect "127.0.0.1:$PA" --then eof && has_line "$(conn "$WIN24" greylist "$PA")"'
check "$S: /24 keying: $WIN24 passes on the /24 server, on $WIN's record" \
    eval 'client c2 "first-line=220 " "$WIN24" --connect "127.0.0.1:$PC" --then quit &&
          has_line "$(conn "$WIN24" pass_greylist "$PC") .*greylist_wait_s=[23]\$"'
check "$S: /24 keying: $WIN_NET (another /24) is a first contact" \
    eval 'client c3 "first-line=421 4.7.1" "$WIN_NET" --connect "127.0.0.1:$PC" --then eof && has_line "$(conn "$WIN_NET" greylist "$PC") .*action=tempfail "'
check "$S: window 1 s passed without a retry: greylisted again (a new series)" \
    eval 'client w2 "first-line=421 4.7.1" "$WIN_W" --connect "127.0.0.1:$PW" --then eof && wait_for 3 count_is "$(conn "$WIN_W" greylist "$PW")" 2'
check "$S: the unknown host's line: verdict=unknown, never greylist" \
    eval 'has_line "$(conn "$UNK" unknown "$PA") reason=\"no match\"\$" && no_line "remote=$(re "$UNK"):.*greylist"'
check "$S: p0f v2: the retry passes (pass_greylist greylist_wait_s)" \
    eval 'client v2 "first-line=220 " "$WIN" --connect "127.0.0.1:$PV" --then quit &&
          has_line "$(conn "$WIN" pass_greylist "$PV") v2_genre=\"Windows\" .*greylist_wait_s=[23]\$"'
check "$S: async server: the retry is served (full dialog)" client y2 served "$WIN" --connect "127.0.0.1:$PY" --hold-ms 300
check "$S: async server: pass_greylist greylist_wait_s, no action" \
    has_line "$(conn "$WIN" pass_greylist "$PY") $WIN_GENRE greylist_wait_s=[23]\$"
"${CHECK[@]}" "$WIN" --config "$D/conf" >"$D/check-good.out" 2>&1
rc=$?
check "$S: p0fshim check: exit 0, verdict pass_greylist, known as good" \
    eval '[ $rc -eq 0 ] && grep -qx "verdict: pass_greylist" "$D/check-good.out" &&
          grep -q "knows it as good (it passed before): it passes" "$D/check-good.out" ||
          { sed "s/^/#   /" "$D/check-good.out"; false; }'
check "$S: no diagnostics at all" no_line 'level='
for s in A B C W Y V; do stop_srv "$s"; done
stop_p0f p0f2
check "$S: accepted: A (restarted) 2, B 1, C 1, W 0, Y 2 (async accepts everything), V 1" \
    eval 'accepted_is A 2 && accepted_is B 1 && accepted_is C 1 && accepted_is W 0 && accepted_is Y 2 && accepted_is V 1'

# ---- 7. a store that cannot be used: fail open with one error line ------------------------------
BLOCKED='/^nothing matches$/' scenario grey-broken
RUN=$D/run
mkdir -p "$RUN" "$D/gl-ro" "$D/gl-bad"
chown 65534:65534 "$RUN"                      # the unprivileged server writes its ready/stats files here
chmod 755 "$D/gl-ro"                          # owned by root: nobody cannot create lock.mdb in it
head -c 65536 /dev/urandom >"$D/gl-bad/data.mdb"
conf_lines "mode hold" "greylist_os windows" "greylist_dir $D/gl-ro" >"$D/conf-ro"
conf_lines "mode hold" "greylist_os windows" "greylist_dir $D/gl-bad" >"$D/conf-bad"
conf_lines "mode hold" "greylist_os windows" "greylist_dir $D/gl-missing" >"$D/conf-none"
mkdir -p "$D/gl-short"
conf_lines "mode hold" "greylist_os windows" "greylist_dir $D/gl-short" "greylist_delay 10m" "greylist_window 5m" >"$D/conf-short"
start_p0f "${HOSTS[@]}"
SRV_USER=65534 CONF=$D/conf-ro start_srv ro epoll "127.0.0.1:$PORT"
CONF=$D/conf-bad start_srv bad loop "127.0.0.1:$((PORT + 1))"
CONF=$D/conf-none start_srv none loop "127.0.0.1:$((PORT + 2))"
CONF=$D/conf-short start_srv short loop "127.0.0.1:$((PORT + 3))"
for s in ro bad none short; do
    case $s in ro) port=$PORT ;; bad) port=$((PORT + 1)) ;; none) port=$((PORT + 2)) ;; short) port=$((PORT + 3)) ;; esac
    pid=${SRV[$s]}
    check "$S: $s: windows client is served (fail open), twice" \
        eval 'client $s-1 "first-line=220 " "$WIN" --connect "127.0.0.1:$port" --then quit && client $s-2 served "$WIN" --connect "127.0.0.1:$port" --hold-ms 0'
    check "$S: $s: verdict=allow, twice" eval 'wait_for 3 count_is "$(conn "$WIN" allow "$port")" 2'
    check "$S: $s: exactly one error line from the process" \
        eval '[ "$(grep -c "p0fshim\[$pid\]: level=error" "$(L)")" -eq 1 ]'
    check "$S: $s: ... msg=\"cannot open the greylist store; greylisting is off\"" \
        log_has "$(L)" "p0fshim\[$pid\]: level=error msg=\"cannot open the greylist store; greylisting is off\" reason=\"greylist store "
    check "$S: $s: and for the connections at most one warning (rate-limited): greylisting is unavailable; host passed" \
        eval '[ "$(grep -c "p0fshim\[$pid\]: level=warning msg=\"greylisting is unavailable; host passed\" reason=\"greylist store " "$(L)")" -le 1 ] &&
              [ "$(grep -c "p0fshim\[$pid\]: level=" "$(L)")" -le 2 ]'
done
check "$S: ro: the reason names the permission problem" \
    log_has "$(L)" "p0fshim\[${SRV[ro]}\]: level=error .*Permission denied \(the directory and its files must be writable by the directory's owner\)"
check "$S: ro: the server runs as nobody" eval '[ "$(awk "/^Uid:/{print \$2}" /proc/${SRV[ro]}/status)" = 65534 ]'
check "$S: bad: the reason says the store is damaged" \
    log_has "$(L)" "p0fshim\[${SRV[bad]}\]: level=error .*remove data\.mdb and lock\.mdb to start afresh"
check "$S: none: the reason says to create the directory" \
    log_has "$(L)" "p0fshim\[${SRV[none]}\]: level=error .*No such file or directory \(create it, owned by the daemon's user"
check "$S: short: the reason says the window is shorter than the delay" \
    log_has "$(L)" "p0fshim\[${SRV[short]}\]: level=error .*the window \(300 s\) is shorter than the delay \(600 s\): no retry could pass"
"${CHECK[@]}" "$WIN" --config "$D/conf-bad" >"$D/check-bad.out" 2>&1
rc=$?
check "$S: p0fshim check on the damaged store: exit 0, says the shim would fail open" \
    eval '[ $rc -eq 0 ] && grep -qx "verdict: allow" "$D/check-bad.out" && grep -q "cannot be read (greylist store " "$D/check-bad.out" &&
          grep -q "the shim would fail open and let the host pass" "$D/check-bad.out" ||
          { sed "s/^/#   /" "$D/check-bad.out"; false; }'
for s in ro bad none short; do stop_srv "$s"; done
unset RUN

# ---- 8. the store under concurrent writers ---------------------------------------------------------
# Six servers (3 loop, 3 epoll) on one store; 250 Windows hosts (127.1.0.1-250); each server gets
# one connection from every host at once (6 bursts in parallel). Round 1: all greylisted. After
# the delay, round 2: all served, and for every host exactly one connection is the one that passed
# (greylist_wait_s), the other five find it good: no update was lost or doubled.
BLOCKED='/^nothing matches$/' scenario grey-concurrent
N=250 K=6
MANY=()
for i in $(seq 1 $N); do MANY+=(--host "127.1.0.$i" --os Windows --flavor "NT kernel"); done
mkdir -p "$D/gl"
# hold_ms 2000: this is about the store's consistency. Every check is a write transaction that
# LMDB commits to disk, one process at a time, on the shim's worker thread: under this load a
# verdict can take longer than the default hold_ms (up to a few hundred ms on this machine's
# disk), and such a connection would go to the server and be shut asynchronously instead.
TMO=3000 conf_lines "mode hold" "hold_ms 2000" "greylist_os windows" "greylist_delay 2s" "greylist_dir $D/gl" >"$D/conf"
start_p0f "${MANY[@]}"
for k in $(seq 0 $((K - 1))); do
    model=loop; [ $((k % 2)) -eq 1 ] && model=epoll
    start_srv "s$k" "$model" "127.0.0.1:$((PORT + k))"
done
burst_round() {
    local round=$1 expect=$2 k pids=()
    for k in $(seq 0 $((K - 1))); do
        "$HELPERS/burst" --connect "127.0.0.1:$((PORT + k))" --bind 127.1.0.1 --spread $N --count $N \
            --concurrency 50 --expect "$expect" --hold-ms 0 >"$D/burst-$round-$k.out" 2>&1 &
        pids+=($!)
    done
    local bad=0
    for k in "${pids[@]}"; do wait "$k" || bad=$((bad + 1)); done
    [ $bad -eq 0 ] || grep -H . "$D"/burst-"$round"-*.out | sed 's/^/# /'
    return $bad
}
lines_ge() { [ "$(log_count "$(L)" "$1")" -ge "$2" ]; }
t_first=$(now_ms)
check "$S: round 1: $K x $N connections at once, all closed" burst_round 1 closed
check "$S: round 1: $((K * N)) lines, all verdict=greylist" \
    eval 'wait_for 5 lines_ge "remote=" $((K * N)); count_is "remote=" $((K * N)) && count_is "verdict=greylist .*action=tempfail reply=" $((K * N))'
left=$((2200 - ($(now_ms) - t_first)))
[ "$left" -gt 0 ] && sleep_ms "$left"
check "$S: round 2: $K x $N connections at once, all served" burst_round 2 served
check "$S: round 2: $((K * N)) more lines, all pass_greylist" \
    eval 'wait_for 5 lines_ge "remote=" $((2 * K * N)); count_is "remote=" $((2 * K * N)) && count_is "verdict=pass_greylist" $((K * N))'
waits=$(grep -E 'verdict=pass_greylist .*greylist_wait_s=' "$(L)" | sed -nE 's/.*remote=([0-9.]+):.*/\1/p' | sort)
check "$S: round 2: exactly one pass with greylist_wait_s per host ($(wc -l <<<"$waits") lines, $(sort -u <<<"$waits" | wc -l) hosts)" \
    eval '[ "$(wc -l <<<"$waits")" -eq $N ] && [ "$(sort -u <<<"$waits" | wc -l)" -eq $N ]'
check "$S: no diagnostics (no store failure, no queue overflow)" no_line 'level='
check "$S: every server wrote lines ($K processes)" \
    eval '[ "$(sed -nE "s/.*p0fshim\[([0-9]+)\]: remote=.*/\1/p" "$(L)" | sort -u | wc -l)" -eq $K ]'
ms_sorted=$(sed -nE 's/.* ms=([0-9]+) .*/\1/p' "$(L)" | sort -n)
echo "# $S: verdict ms median $(sed -n "$((K * N))p" <<<"$ms_sorted"), 95th $(sed -n "$((2 * K * N * 95 / 100))p" <<<"$ms_sorted"), max $(tail -1 <<<"$ms_sorted"); bursts: $(cat "$D"/burst-*.out | sed -nE 's/.* ms=([0-9]+) .*/\1/p' | tr '\n' ' ')ms"
bad=0
for k in $(seq 0 $((K - 1))); do stop_srv "s$k"; accepted_is "s$k" $N || bad=$((bad + 1)); done
check "$S: each server accepted just its $N round-2 connections" [ $bad -eq 0 ]
"${CHECK[@]}" 127.1.0.50 --config "$D/conf" >"$D/check.out" 2>&1
check "$S: p0fshim check of one of the hosts: pass_greylist" grep -qx "verdict: pass_greylist" "$D/check.out"

end_scenario
echo "# hold tests took $((SECONDS - T_START)) s"
summary
