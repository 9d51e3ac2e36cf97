#!/bin/bash
# Sendmail under the shim, end to end: Debian 12's sendmail-bin, sendmail-base and sendmail-cf
# fetched with `apt-get download` into a cache (P0FSHIM_SENDMAIL_CACHE, default
# /var/cache/p0fshim-test/sendmail) and unpacked with dpkg -x, never installed (they conflict with
# Postfix). It runs as Debian's init script runs it: `/usr/sbin/sendmail-mta -Am -L sm-mta -bd
# -q10m` as root, the binary set-group-ID (secure-execution mode: LD_PRELOAD with a path and
# P0FSHIM_CONFIG are ignored), sendmail.cf made with m4 from Debian's sendmail.mc with its two
# listeners (MTA-v4 and MSP-v4, here on the lab's address and ports P1 and P2). Its reload is
# Debian's: SIGHUP, on which Sendmail re-executes itself with PATH as its only environment.
#
# The library comes from /etc/ld.so.preload under its system-wide name (the mode that survives
# that re-execution): a private mount namespace has an overlay over /etc with the test's
# ld.so.preload, passwd (the recipient), hosts, mail/ and p0fshim/p0fshim.conf
# (policy/sendmail.conf with the lab's paths), and /usr/sbin/sendmail-mta pointing at the unpacked
# binary. The machine's /etc is never written.
#   1. hold mode, the real p0f: mapped in the daemon (AT_SECURE 1); the windows client refused on
#      P1 and the linux client's banner on P2 at once; the linux client's message queued; one line
#      per connection
#   2. p0f restarted: judged again
#   3. SIGHUP as Debian's reload sends it: re-executed, the library still mapped, still judging
#   4. fingerprint auto with no p0f running: the SYN decides
# Needs root; fails when the packages cannot be fetched.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$TOP/scripts/lab.sh"
source "$TOP/tests/e2e/smtp.sh"
source "$TOP/tests/e2e/mta-lib.sh"

require_root
require_built "$LIB" "$HELPERS/logsink"
command -v p0f >/dev/null || fail_now "p0f is not installed (scripts/install-deps.sh)"
command -v m4 >/dev/null || fail_now "m4 is not installed (scripts/install-deps.sh)"
T0=$SECONDS
deb_unpack "${P0FSHIM_SENDMAIL_CACHE:-/var/cache/p0fshim-test/sendmail}" sendmail-bin sendmail-base sendmail-cf
SENDMAIL=$DEB_ROOT/usr/libexec/sendmail/sendmail
[ -x "$SENDMAIL" ] && [ -g "$SENDMAIL" ] || fail_now "$SENDMAIL is missing or not set-group-ID"
for l in liblockfile.so.1 libwrap.so.0; do
    ldconfig -p | grep -q "$l" || fail_now "$l is missing (scripts/install-deps.sh: liblockfile1 libwrap0)"
done

P1=2525 P2=2587
ln -s "$LIB" "$WORK/libp0fshim-system.so"
mkdir -p "$WORK/mqueue" "$WORK/mail" "$WORK/host_status"
chmod 700 "$WORK/mqueue"

# sendmail.cf: Debian's sendmail.mc, with the cf tree of the package, the lab's address and ports,
# a queue of the test's own that is only filled (DeliveryMode queue: the test reads the queue, no
# local delivery), example.net as a local domain, senders' domains not resolved (the lab has no
# DNS), and without the includes and databases that Debian's postinst makes (dialup.m4,
# provider.m4, access.db and the features that use it, local-host-names).
sed -e "s|/usr/share/sendmail/cf/|$DEB_ROOT/usr/share/sendmail/cf/|" \
    -e "s|Port=smtp, Addr=127.0.0.1|Port=$P1, Addr=$LAB_SERVER_IP|" \
    -e "s|Port=submission, M=Ea, Addr=127.0.0.1|Port=$P2, M=Ea, Addr=$LAB_SERVER_IP|" \
    -e '/dialup.m4\|provider.m4\|access_db\|delay_checks\|use_cw_file\|conncontrol\|ratecontrol/d' \
    -e "s|^MAILER_DEFINITIONS|define(\`QUEUE_DIR', \`$WORK/mqueue')dnl\ndefine(\`confDELIVERY_MODE', \`queue')dnl\ndefine(\`confDOMAIN_NAME', \`mx.p0fshim.test')dnl\ndefine(\`confPID_FILE', \`$WORK/sendmail.pid')dnl\ndefine(\`confHOST_STATUS_DIRECTORY', \`$WORK/host_status')dnl\ndefine(\`ALIAS_FILE', \`')dnl\nLOCAL_DOMAIN(\`example.net')dnl\nFEATURE(\`accept_unresolvable_domains')dnl\nMAILER_DEFINITIONS|" \
    "$DEB_ROOT/usr/share/sendmail/cf/debian/sendmail.mc" >"$WORK/sendmail.mc"
check "sendmail.mc: Debian's, both DAEMON_OPTIONS moved to the lab" \
    eval '[ "$(grep -c "Addr=$LAB_SERVER_IP" "$WORK/sendmail.mc")" = 2 ]'
m4 "$WORK/sendmail.mc" >"$WORK/sendmail.cf" 2>"$WORK/m4.err"
check "sendmail.cf made with m4 from it" grep -q "^O DaemonPortOptions=.*Port=$P2" "$WORK/sendmail.cf" ||
    sed 's/^/#   /' "$WORK/m4.err"

echo '/windows/' >"$WORK/blocked"; chmod 644 "$WORK/blocked"
# etc_upper NAME LINES...: the overlay's upper layer for one run: ld.so.preload, passwd with the
# recipient, hosts with the machine's name (Sendmail qualifies it at start), mail/sendmail.cf,
# and p0fshim/p0fshim.conf: policy/sendmail.conf with the lab's paths and ports, LINES appended.
etc_upper() {
    local up=$WORK/etc-$1; shift
    mkdir -p "$up/mail" "$up/p0fshim" "$WORK/ovl-$(basename "$up")"
    echo "$WORK/libp0fshim-system.so" >"$up/ld.so.preload"
    # Debian's postinst makes smmta and smmsp (sendmail.cf's TrustedUser is smmta); rcpt is the
    # recipient, a local user.
    cp /etc/passwd "$up/passwd"; cp /etc/group "$up/group"
    printf '%s\n' 'smmta:x:64993:64993::/nonexistent:/usr/sbin/nologin' 'smmsp:x:64994:64994::/nonexistent:/usr/sbin/nologin' \
        'rcpt:x:64990:64990::/nonexistent:/usr/sbin/nologin' >>"$up/passwd"
    printf '%s\n' 'smmta:x:64993:' 'smmsp:x:64994:' 'rcpt:x:64990:' >>"$up/group"
    { cat /etc/hosts; echo "127.0.1.1 mx.p0fshim.test $(hostname)"; } >"$up/hosts"
    cp "$WORK/sendmail.cf" "$up/mail/sendmail.cf"
    sed -e "s|^blocked_os_file .*|blocked_os_file $WORK/blocked|" -e "s|^log_socket .*|log_socket $WORK/$(basename "$up").sock|" \
        -e "s|^ports .*|ports $P1 $P2|" -e "s|^socket .*|socket $WORK/p0f/p0f.sock|" "$TOP/policy/sendmail.conf" >"$up/p0fshim/p0fshim.conf"
    printf '%s\n' "$@" >>"$up/p0fshim/p0fshim.conf"
    chmod 644 "$up/ld.so.preload" "$up/passwd" "$up/group" "$up/hosts" "$up/p0fshim/p0fshim.conf"
}
mkdir -p "$WORK/p0f"; chmod 755 "$WORK/p0f"

SM_PID=
# start_sendmail NAME: Debian's command line in the namespace with $WORK/etc-NAME over /etc; the
# shim's lines in $WORK/etc-NAME.log. SM_PID from Sendmail's pid file.
start_sendmail() {
    local up=$WORK/etc-$1
    : >"$up.log"
    rm -f "$WORK/sendmail.pid"
    start_sink "$up.sock" "$up.log" || echo "# logsink did not start"
    lab_exec_server unshare -m bash -c 'mount -t overlay p0fshim-etc -o "lowerdir=/etc,upperdir=$0,workdir=$1" /etc &&
        mount -t tmpfs p0fshim-sbin /usr/sbin && ln -s "$2" /usr/sbin/sendmail-mta &&
        exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /usr/sbin/sendmail-mta -Am -L sm-mta -bd -q10m' \
        "$up" "$WORK/ovl-etc-$1" "$SENDMAIL" >"$up.out" 2>&1
    wait_for 10 eval '[ -s "$WORK/sendmail.pid" ] && listening'
    SM_PID=$(head -1 "$WORK/sendmail.pid" 2>/dev/null)
}
listening() { [ "$(lab_exec_server ss -Hltn "( sport = :$P1 or sport = :$P2 )" 2>/dev/null | grep -c LISTEN)" = 2 ]; }
stop_sendmail() {
    kill -TERM "$SM_PID" 2>/dev/null
    wait_for 5 eval '! kill -0 "$SM_PID" 2>/dev/null'
    kill "$SINK_PID" 2>/dev/null
    wait "$SINK_PID" 2>/dev/null
}
# queued TAG: the message <TAG@client.example> is in Sendmail's queue.
queued() { grep -lq "Message-ID: <$1@client.example>" "$WORK"/mqueue/qf* 2>/dev/null; }

CLEANUP_HOOKS+=("lab_down")
lab_up || fail_now "could not build the network lab"
lab_start_p0f "$WORK/p0f/p0f.sock" "$WORK/p0f.out" || fail_now "p0f did not start"

# ---- 1. hold mode, p0f, Debian's two listeners ---------------------------------------------------
etc_upper hold "mode hold" "hold_ms 3000" "timeout_ms 3000" "action reject" "fingerprint p0f"
check "sendmail: the daemon runs (pid file) and listens on $P1 and $P2" start_sendmail hold ||
    sed 's/^/#   /' "$WORK/etc-hold.out"
LOG=$WORK/etc-hold.log
check "sendmail: the daemon maps the library, in secure-execution mode (AT_SECURE $(at_secure "$SM_PID"))" \
    eval 'maps_shim "$SM_PID" && [ "$(at_secure "$SM_PID")" = 1 ]'
check "sendmail: the daemon holds the listeners (accepts itself)" eval '[ "$(listener_pid $P1)" = "$SM_PID" ]'
greet windows "$P1" w1
check "sendmail, hold: the windows client on $P1 gets the shim's 554 ($(cat "$WORK/greet-w1.out"))" refused w1
greet linux "$P2" l1
check "sendmail, hold: then the linux client on $P2 gets Sendmail's 220 within 3 s ($(cat "$WORK/greet-l1.out"))" \
    eval 'served l1 && [ "$(greet_field ms l1)" -lt 3000 ]'
check "sendmail: a message from the linux client is accepted" send_from linux "$P1" m1 ||
    sed 's/^/#   /' "$WORK/send-m1.err"
check "sendmail: and queued" wait_for 5 queued m1
FAST_MS=$(sent_ms m1)
check "sendmail: lines: windows on $P1 verdict=block action=reject" \
    wait_for 3 line_has "$LOG" "$LAB_WINDOWS_IP" "$P1" "verdict=block .*fp=p0f.*action=reject"
check "sendmail: lines: one per connection (windows 1, linux 2), from the daemon" \
    eval '[ "$(lines_for "$LOG" "$LAB_WINDOWS_IP" "$P1")" = 1 ] &&
          [ "$(($(lines_for "$LOG" "$LAB_LINUX_IP" "$P1") + $(lines_for "$LOG" "$LAB_LINUX_IP" "$P2")))" = 2 ] &&
          [ "$(grep -c "p0fshim\[$SM_PID\]" "$LOG")" = 3 ]' || sed 's/^/#   /' "$LOG"
HOLD_REFUSE_MS=$(greet_field ms w1)

# ---- 2. p0f restarted ---------------------------------------------------------------------------
lab_stop_p0f
lab_start_p0f "$WORK/p0f/p0f.sock" "$WORK/p0f2.out" || fail_now "p0f did not start again"
greet windows "$P1" w2
check "sendmail, p0f restarted: the windows client is refused again ($(cat "$WORK/greet-w2.out"))" refused w2

# ---- 3. reload: SIGHUP ----------------------------------------------------------------------------
OLD_PID=$SM_PID
rm -f "$WORK/sendmail.pid"
kill -HUP "$SM_PID"
wait_for 10 eval '[ -s "$WORK/sendmail.pid" ] && listening'
SM_PID=$(head -1 "$WORK/sendmail.pid" 2>/dev/null)
echo "# SIGHUP: pid $OLD_PID -> ${SM_PID:-none}"
check "sendmail, SIGHUP: the re-executed daemon listens again" listening
check "sendmail, SIGHUP: it maps the library" maps_shim "$SM_PID"
greet windows "$P1" w3
check "sendmail, SIGHUP: the windows client is still refused ($(cat "$WORK/greet-w3.out"))" refused w3
check "sendmail, SIGHUP: a linux client's message is still queued" eval 'send_from linux "$P1" m3 && wait_for 5 queued m3'
check "sendmail, SIGHUP: its lines come from the re-executed daemon" \
    wait_for 3 eval '[ "$(grep -c "p0fshim\[$SM_PID\]: remote=" "$LOG")" = 2 ]'
stop_sendmail
echo "# hold: shim lines:"; sed 's/^/#   /' "$LOG"

# ---- 4. fingerprint auto, no p0f ----------------------------------------------------------------
lab_stop_p0f
etc_upper syn "action reject"
check "sendmail, no p0f, fingerprint auto: the daemon listens" start_sendmail syn || sed 's/^/#   /' "$WORK/etc-syn.out"
LOG=$WORK/etc-syn.log
greet windows "$P1" s1
check "sendmail, SYN: the windows client's first line is the 554 ($(cat "$WORK/greet-s1.out"))" refused s1
check "sendmail, SYN: the linux client's message is queued" eval 'send_from linux "$P1" s2 && wait_for 5 queued s2'
check "sendmail, SYN: fp=syn verdict=block for windows, verdict=allow for linux; one line each" \
    eval 'wait_for 3 line_has "$LOG" "$LAB_WINDOWS_IP" "$P1" "verdict=block .*fp=syn" &&
          line_has "$LOG" "$LAB_LINUX_IP" "$P1" "verdict=allow .*fp=syn" && [ "$(grep -c "remote=" "$LOG")" = 2 ]' ||
    sed 's/^/#   /' "$LOG"
SYN_REFUSE_MS=$(greet_field ms s1)
stop_sendmail

echo "# timing: fast transaction (connect to the reply after the message; Debian's greet_pause is 1 s) ${FAST_MS} ms;" \
    "554 after connect: hold ${HOLD_REFUSE_MS} ms, SYN ${SYN_REFUSE_MS} ms"
echo "# runtime $((SECONDS - T0)) s"
summary
