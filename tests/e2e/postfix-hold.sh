#!/bin/bash
# End-to-end test of hold mode and greylisting with Debian's Postfix, built as
# tests/e2e/postfix.sh is: a Postfix instance of its own (postfix -c DIR, its own queue and data
# directories in the scratch dir) in the lab's server namespace, smtpd chrooted (chroot=y), the
# shim preloaded through the shipped import_environment line, the real p0f watching the lab with
# its API socket inside the queue directory.
#   1. mode hold, action reject: the Windows client's first line is 554 5.7.1, never Postfix's
#      banner; smtpd never sees the connection; the Linux client's mail is delivered.
#   2. greylist_os windows, nothing blocked, greylist_delay 2s, greylist_dir outside the chroot
#      (opened when the library loads, before smtpd chroots; owned by postfix): the Windows client
#      first gets 421 4.7.1 as its first line, and after 2 s its retry, taken by another smtpd
#      process, is accepted by Postfix and its message delivered. After a Postfix restart it
#      still passes.
#   3. a restart: the greylisted host is remembered.
#   4. the SYN fingerprinter: fingerprint auto (the first connection after a start, queued before
#      any SYN was kept, goes to p0f; the next ones are decided from their SYN), then fingerprint
#      syn with p0f stopped: 554 as the Windows client's first line, the Linux client's mail
#      delivered, from a chrooted smtpd with one thread.
#   5. the Redis stores from inside the chroot: a redis-server's unix socket placed inside the
#      queue directory, configured by its outside path (the way the p0f socket is): the chrooted
#      smtpd reaches it, greylists the Windows client (karma_total=1 on its line), passes its
#      retry after greylist_delay, and the Linux client's line says karma_total=0.
# The system's own Postfix is never used. Needs root. KEEP_WORK=1 keeps the scratch dir.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$TOP/scripts/lab.sh"
source "$TOP/tests/e2e/postfix-lib.sh"

require_postfix_lab
require_built "$LIB" "$BUILD/p0fshim" "$HELPERS/testclient" "$HELPERS/logsink"
GREYDIR=$WORK/greylist       # outside the queue directory: smtpd opens it before it chroots
REJECT="554 5.7.1 Connection refused: your host is not accepted here"
GREY="421 4.7.1 Greylisted, please try again later"

CLEANUP_HOOKS+=("postfix_stop" "lab_down")
lab_up || fail_now "could not build the network lab"
echo "# lab $LAB_PREFIX up; scratch $WORK"

# ---- Postfix and the shim's configuration, as in tests/e2e/postfix.sh -----------------------------
postfix_dirs
IMPORT=$(grep -E '^import_environment = ' "$SHIPPED/main.cf.snippet" | from_shipped)

# write_conf BLOCKED-OS-LINE [LINE...]: the shipped p0fshim.conf, paths moved, plus LINEs.
write_conf() {
    printf '%s\n' "# blocked operating systems (postfix-hold e2e)" "$1" >"$WORK/blocked_operating_systems"
    shift
    {
        shipped_shim_conf
        printf '%s\n' "" "# postfix-hold e2e" "$@"
    } >"$CONF"
}

start_sink "$WORK/log.sock" "$LOGF" || fail_now "logsink did not start"
lab_start_p0f "$P0F_SOCK" "$WORK/p0f.out" || fail_now "p0f did not start"

{
    echo "# postfix-hold e2e test instance (tests/e2e/postfix-hold.sh)"
    postfix_main_cf "127.0.0.0/8 192.0.2.0/24" p0fshim-e2e "$WORK/mail"
    echo "$IMPORT"
} >"$PF/main.cf.new" && mv -f "$PF/main.cf.new" "$PF/main.cf"
echo "rcpt@example.net rcpt/" >"$PF/vmailbox"
postfix_master_cf 25

# An smtpd still running in the lab's server namespace (ours: nothing else runs there).
smtpd_running() {
    local p
    for p in $(ip netns pids "$LAB_NS_SERVER" 2>/dev/null); do
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = smtpd ] && return 0
    done
    return 1
}

# first_is TAG LINE [THEN]: the client's first line was exactly LINE (and, with THEN, what followed).
first_is() {
    local want="^result=first_line ms=[0-9]+ line=\"$(re "$2")\"${3:+ then=$3}"
    grep -Eq -- "$want" "$WORK/client-$1.out" || { echo "# client $1: $(cat "$WORK/client-$1.out")"; return 1; }
}
pid_of() { grep -E -- "$1" "$LOGF" | sed -nE 's/.*p0fshim\[([0-9]+)\]:.*/\1/p' | tail -1; }
mails_from() { grep -l "unknown \[$(re "$1")\]" "$MAILDIR"/new/* 2>/dev/null | wc -l; }
pflog_since() { tail -n +"$((PFLOG_BASE + 1))" "$PFLOG" 2>/dev/null; }
T_START=$SECONDS

# ---- 1. mode hold, action reject -----------------------------------------------------------------
write_conf "/windows/" "mode hold" "action reject" "hold_ms 500"
postfix_start || { cat "$WORK/postfix-start.out" "$PFLOG"; fail_now "our Postfix did not start"; }
PFLOG_BASE=0
check "reject: the windows client's first line is 554 5.7.1 (not Postfix's banner), then EOF" \
    eval 'client windows win1 "first-line=554 5.7.1" --then eof && first_is win1 "$REJECT" eof'
check "reject: a second windows client: the same" \
    eval 'client windows win2 "first-line=554 5.7.1" --then eof && first_is win2 "$REJECT" eof'
check "reject: the linux client's first line is Postfix's banner" \
    eval 'client linux lin1 "first-line=220 " --then quit && first_is lin1 "220 mx.p0fshim.test ESMTP p0fshim-e2e" quit'
check "reject: the linux client's mail goes through (EHLO/MAIL/RCPT/DATA)" client linux lin2 served --hold-ms 0
check "reject: block lines with action=reject and the reply, from smtpd" \
    eval 'wait_lines 2 "$(line_re "$WIN" block) os=\"Windows\" .*rule=\"/windows/\" .* action=reject reply=\"$(re "$REJECT")\"$"'
check "reject: allow lines for the linux client, without action" \
    eval 'wait_lines 2 "$(line_re "$LIN" allow) os=\"Linux\"" && ! grep -q "verdict=allow .*action=" "$LOGF"'
SMTPD=$(pid_of "verdict=block")
check "reject: the shim's smtpd is chrooted in the queue directory and runs as postfix" \
    eval '[ "$(readlink "/proc/$SMTPD/root")" = "$QUEUE" ] && [ "$(awk "/^Uid:/{print \$2}" "/proc/$SMTPD/status")" = "$(id -u postfix)" ]'
# smtpd's listening socket (fd 6, MASTER_LISTEN_FD) is non-blocking: the consumed connection
# ends smtpd's accept() with EAGAIN, which Postfix's sane_accept() and single_server treat as
# "someone else took it".
flags=$(awk '/^flags:/{print $2}' "/proc/$SMTPD/fdinfo/6" 2>/dev/null)
check "reject: smtpd's listening socket (fd 6) is O_NONBLOCK (flags $flags)" \
    eval '[ -n "$flags" ] && [ $((8#$flags & 8#4000)) -ne 0 ] && [[ $(readlink /proc/$SMTPD/fd/6) == socket:* ]]'
check "reject: the message is in the mailbox" wait_for 10 output_ge mails 1
check "reject: Postfix never saw the windows client (no 'connect from' for $WIN)" \
    eval 'wait_for 5 log_has "$PFLOG" "postfix/smtpd\[[0-9]+\]: connect from [^ ]*\[$(re "$LIN")\]" &&
          ! grep -q "connect from [^ ]*\[$(re "$WIN")\]" "$PFLOG"'
check "reject: Postfix logged no accept error, warning, fatal or panic" \
    bash -c "! grep -Eq 'accept connection|: (warning|fatal|panic):' '$PFLOG'"
echo "# reject: verdict times: $(sed -nE 's/.* ms=([0-9]+) .*/\1/p' "$LOGF" | tr '\n' ' ')ms"

# ---- 2. greylisting --------------------------------------------------------------------------
postfix_stop
check "greylist: Postfix stopped (no smtpd of ours left)" wait_for 5 eval '! smtpd_running'
mkdir -p "$GREYDIR"
chown postfix:postfix "$GREYDIR"
chmod 700 "$GREYDIR"
write_conf "/^nothing matches this$/" "mode hold" "hold_ms 500" "greylist_os windows" "greylist_delay 2s" \
    "greylist_dir $GREYDIR"
BASE=$(wc -l <"$LOGF")
PFLOG_BASE=$(wc -l <"$PFLOG")
MAILS=$(mails)
postfix_start || { cat "$WORK/postfix-start.out" "$PFLOG"; fail_now "our Postfix did not start"; }
log_new() { tail -n +"$((BASE + 1))" "$LOGF"; }

t_first=$(now_ms)
check "greylist: the windows client's first line is 421 4.7.1 (not Postfix's banner), then EOF" \
    eval 'client windows g1 "first-line=421 4.7.1" --then eof && first_is g1 "$GREY" eof'
check "greylist: verdict=greylist action=tempfail reply=\"421 4.7.1 ...\"" \
    wait_lines 1 "$(line_re "$WIN" greylist) os=\"Windows\" .* action=tempfail reply=\"$(re "$GREY")\"$"
P1=$(pid_of "$(line_re "$WIN" greylist)")
check "greylist: a retry at once: 421 4.7.1 again" \
    eval 'client windows g2 "first-line=421 4.7.1" --then eof && first_is g2 "$GREY" eof'
"$BUILD/p0fshim" check "$WIN" --config "$CONF" >"$WORK/check-early.out" 2>&1
rc=$?
check "greylist: p0fshim check reads the store smtpd writes: verdict greylist, exit 1" \
    eval '[ $rc -eq 1 ] && grep -qx "verdict: greylist" "$WORK/check-early.out" && grep -q "saw it first at" "$WORK/check-early.out" ||
          { sed "s/^/#   /" "$WORK/check-early.out"; false; }'
# The linux client keeps the only smtpd (the one that greylisted) busy, so that master starts
# another smtpd process for the windows client's retry.
client linux glin served --hold-ms 3500 --timeout-ms 8000 &
LPID=$!
check "greylist: the linux client is not greylisted (allow)" wait_lines 1 "$(line_re "$LIN" allow) os=\"Linux\""
left=$((2200 - ($(now_ms) - t_first)))
[ "$left" -gt 0 ] && sleep_ms "$left"
check "greylist: after 2 s the windows client's retry is accepted by Postfix: full mail dialog" \
    client windows g3 served --hold-ms 0
check "greylist: verdict=pass_greylist greylist_wait_s=2 or 3, no action" \
    wait_lines 1 "$(line_re "$WIN" pass_greylist) os=\"Windows\" .* greylist_wait_s=[23]$"
P2=$(pid_of "$(line_re "$WIN" pass_greylist)")
check "greylist: the retry was judged by another smtpd process ($P1 greylisted, $P2 passed): the store is shared" \
    eval '[ -n "$P1" ] && [ -n "$P2" ] && [ "$P1" != "$P2" ]'
wait "$LPID"
check "greylist: the linux client's mail went through meanwhile" [ $? -eq 0 ]
check "greylist: the windows client's message is delivered to the mailbox" wait_for 10 output_ge mails_from 1 "$WIN"
check "greylist: Postfix delivered both messages (status=sent), the queue is empty" \
    eval 'wait_for 10 output_ge mails $((MAILS + 2)) && wait_for 10 queue_empty &&
          [ "$(pflog_since | grep -c "postfix/virtual\[[0-9]*\]: .*to=<rcpt@example.net>.*status=sent")" -eq 2 ]'
check "greylist: Postfix saw the windows client once: the accepted retry" \
    eval '[ "$(pflog_since | grep -c "postfix/smtpd\[[0-9]*\]: connect from [^ ]*\[$(re "$WIN")\]")" -eq 1 ]'
GREY_FILES=$(stat -c '%U:%G %a %n' "$GREYDIR"/* 2>/dev/null | tr '\n' ';')
check "greylist: the store is in the directory outside the chroot (data.mdb, lock.mdb)" \
    eval '[ -s "$GREYDIR/data.mdb" ] && [ -e "$GREYDIR/lock.mdb" ]'
# smtpd opens the store as root, before it drops privileges, but as the directory's owner (a
# link planted there can reach nothing that owner could not write anyway): the files are postfix's.
check "greylist: smtpd created its files as the directory's owner: postfix, mode 600 ($GREY_FILES)" \
    eval '[ "$(stat -c "%U %a" "$GREYDIR/data.mdb" "$GREYDIR/lock.mdb" | sort -u)" = "postfix 600" ]'

# ---- 3. a restart of Postfix: the host is remembered --------------------------------------------
postfix_stop
wait_for 5 eval '! smtpd_running'
BASE2=$(wc -l <"$LOGF")
postfix_start || { cat "$WORK/postfix-start.out" "$PFLOG"; fail_now "our Postfix did not restart"; }
check "restart: the windows client is served at once (known as good)" client windows g4 served --hold-ms 0
good_after_restart() {
    tail -n +"$((BASE2 + 1))" "$LOGF" | grep -Eq "$(line_re "$WIN" pass_greylist) os=\"Windows\" .*total_conn=[0-9]+\$"
}
check "restart: verdict=pass_greylist without a wait" wait_for 5 good_after_restart
"$BUILD/p0fshim" check "$WIN" --config "$CONF" >"$WORK/check-good.out" 2>&1
rc=$?
check "restart: p0fshim check: pass_greylist, known as good, exit 0" \
    eval '[ $rc -eq 0 ] && grep -qx "verdict: pass_greylist" "$WORK/check-good.out" ||
          { sed "s/^/#   /" "$WORK/check-good.out"; false; }'
check "restart: its message is delivered too" wait_for 10 output_ge mails_from 2 "$WIN"

# ---- 4. the SYN fingerprinter ---------------------------------------------------------------------
# fingerprint auto: master made the listener before any library was active (programs smtpd), so
# the connection that wakes the first smtpd was queued without a saved SYN and p0f judges it;
# that smtpd sets TCP_SAVE_SYN on the shared listener at load, and every later connection is
# decided from its SYN inside accept().
postfix_stop
wait_for 5 eval '! smtpd_running'
write_conf "/windows/" "fingerprint auto" "action reject"
BASE3=$(wc -l <"$LOGF")
postfix_start || { cat "$WORK/postfix-start.out" "$PFLOG"; fail_now "our Postfix did not restart"; }
log_new3() { tail -n +"$((BASE3 + 1))" "$LOGF"; }
check "auto: the first windows client after the start is cut off by p0f's verdict (it was queued before any SYN was kept)" \
    client windows a1 closed
check "auto: ... its line says fp=p0f" wait_for 5 eval 'log_new3 | grep -Eq "$(line_re "$WIN" block) fp=p0f os=\"Windows\""'
check "auto: the next windows client's first line is 554 5.7.1, decided from its SYN" \
    eval 'client windows a2 "first-line=554 5.7.1" --then eof && first_is a2 "$REJECT" eof'
check "auto: ... its line says fp=syn with the SYN's sig=" \
    wait_for 5 eval 'log_new3 | grep -Eq "$(line_re "$WIN" block) fp=syn os=\"Windows\".* sig=\"4:128\+"'

# fingerprint syn with no p0f at all: smtpd decides alone.
postfix_stop
wait_for 5 eval '! smtpd_running'
lab_stop_p0f
write_conf "/windows/" "fingerprint syn" "action reject"
BASE3=$(wc -l <"$LOGF")
PFLOG_BASE=$(wc -l <"$PFLOG")
MAILS=$(mails)
postfix_start || { cat "$WORK/postfix-start.out" "$PFLOG"; fail_now "our Postfix did not restart"; }
no_saved_syn() { log_new3 | grep -Eq "$(line_re "$LIN" unknown) fp=syn fp_reason=\"no saved SYN\"\$"; }
check "syn: the first client after the start has no saved SYN: served, verdict=unknown fp_reason=\"no saved SYN\"" \
    eval 'client linux s0 served --hold-ms 0 && wait_for 5 no_saved_syn'
check "syn: with p0f stopped, the windows client's first line is 554 5.7.1" \
    eval 'client windows s1 "first-line=554 5.7.1" --then eof && first_is s1 "$REJECT" eof'
check "syn: the linux client's mail goes through" client linux s2 served --hold-ms 0
check "syn: block and allow lines from the SYN" \
    wait_for 5 eval 'log_new3 | grep -Eq "$(line_re "$WIN" block) fp=syn os=\"Windows\".* action=reject" &&
                     log_new3 | grep -Eq "$(line_re "$LIN" allow) fp=syn os=\"Linux\""'
check "syn: the linux client's message is delivered" wait_for 10 output_ge mails $((MAILS + 2))
check "syn: Postfix never saw the windows client" \
    eval '! pflog_since | grep -q "connect from [^ ]*\[$(re "$WIN")\]"'
SMTPD=$(pid_of "$(line_re "$WIN" block) fp=syn")
check "syn: the deciding smtpd is chrooted and runs one thread (no worker, no p0f socket)" \
    eval '[ "$(readlink "/proc/$SMTPD/root")" = "$QUEUE" ] && [ "$(ls "/proc/$SMTPD/task" | wc -l)" -eq 1 ]'

# ---- 5. Redis stores from inside the chroot ------------------------------------------------------
# The socket is inside the queue directory and named by its path outside: a process that chrooted
# since the library loaded finds it by the same path without its leading directories.
postfix_stop
wait_for 5 eval '! smtpd_running'
command -v redis-server >/dev/null || fail_now "redis-server is not installed (scripts/install-deps.sh)"
mkdir -p -m 755 "$QUEUE/redis"
spawn redis-server --port 0 --unixsocket "$QUEUE/redis/redis.sock" --unixsocketperm 777 --save "" \
    --appendonly no --dir "$WORK" --daemonize no >"$WORK/redis.out" 2>&1
REDIS=$!
wait_for 5 test -S "$QUEUE/redis/redis.sock" || fail_now "redis-server did not start"
write_conf "# nothing blocked" "fingerprint syn" "action reject" "smite_os windows" "greylist_os windows" \
    "greylist_delay 2s" "greylist_store unix:$QUEUE/redis/redis.sock" "karma_store unix:$QUEUE/redis/redis.sock"
BASE3=$(wc -l <"$LOGF")
postfix_start || { cat "$WORK/postfix-start.out" "$PFLOG"; fail_now "our Postfix did not restart"; }
client linux r0 served --hold-ms 0   # wakes an smtpd: queued before any SYN was kept
check "redis: the windows client is greylisted from its SYN by the chrooted smtpd (421 first line)" \
    eval 'client windows r1 "first-line=421 4.7.1" --then eof && first_is r1 "$GREY" eof'
check "redis: its line carries karma_total=1 (the store was reached from inside the chroot)" \
    wait_for 5 eval 'log_new3 | grep -Eq "$(line_re "$WIN" greylist) fp=syn os=\"Windows\".* karma=-1 karma_total=1 action=tempfail"'
linux_karma0() { log_new3 | grep -Eq "$(line_re "$LIN" allow) fp=syn .*karma_total=0\$"; }
check "redis: the linux client is served, karma_total=0" \
    eval 'client linux r2 served --hold-ms 0 && wait_for 5 linux_karma0'
sleep 2.2
check "redis: after greylist_delay the windows client's retry passes" client windows r3 served --hold-ms 0
check "redis: ... pass_greylist with karma_total=2" \
    wait_for 5 eval 'log_new3 | grep -Eq "$(line_re "$WIN" pass_greylist) fp=syn .* karma=-1 karma_total=2 greylist_wait_s=[23]"'
SMTPD=$(pid_of "$(line_re "$WIN" greylist) fp=syn")
check "redis: the deciding smtpd is chrooted" eval '[ "$(readlink "/proc/$SMTPD/root")" = "$QUEUE" ]'
postfix_stop
kill "$REDIS" 2>/dev/null; wait "$REDIS" 2>/dev/null

# ---- whole run ------------------------------------------------------------------------------------
check "all: no diagnostics from the shim (level=)" bash -c "! grep -q 'level=' '$LOGF'"
check "all: Postfix logged no accept error, warning, fatal or panic" \
    bash -c "! grep -Eq 'accept connection|: (warning|fatal|panic):' '$PFLOG'"

if [ "$FAILED" -gt 0 ]; then
    echo "---- shim log"
    sed 's/^/    /' "$LOGF"
    echo "---- Postfix's log, last 60 lines"
    tail -n 60 "$PFLOG" | sed 's/^/    /'
    for f in "$WORK"/client-*.out; do
        [ -s "$f" ] && { echo "---- $(basename "$f")"; sed 's/^/    /' "$f"; }
    done
fi
echo "# postfix-hold took $((SECONDS - T_START)) s after the lab was up"
summary
