#!/bin/bash
# OpenSMTPD under the shim, end to end: Debian 12's opensmtpd package fetched with
# `apt-get download` into a cache (P0FSHIM_OPENSMTPD_CACHE, default
# /var/cache/p0fshim-test/opensmtpd) and unpacked with dpkg -x, never installed. It runs as Debian
# runs it: /usr/sbin/smtpd as root with its privilege separation (its users opensmtpd and
# opensmtpq) and its SMTP process chrooted to the compiled-in /var/lib/opensmtpd/empty. A private
# mount namespace gives it those users (a copy of /etc/passwd bound over it) and its compiled-in
# directories (/var/lib, /var/spool, /run and /usr/libexec bound from the scratch directory and
# the unpacked package); nothing of the system's changes. The real p0f watches the lab; its socket
# is where policy/opensmtpd.conf puts it, /var/lib/opensmtpd/empty/p0f/p0f.sock.
#
#   1. fingerprint p0f, hold mode, two listeners: the library is mapped in every smtpd process and
#      the chrooted one that accepts judges; a Windows client is refused on one port and a Linux
#      client gets the banner on the other at once; the Linux client's message is delivered;
#      one line per connection
#   2. p0f restarted under the running daemon: judged again
#   3. Debian's force-reload (stop and start: OpenSMTPD has no reload, and SIGHUP ends smtpd's
#      parent): loaded and judging again
#   4. fingerprint auto with no p0f running: the SYN decides inside accept()
# Needs root; fails when the package cannot be fetched. KEEP_WORK=1 keeps the scratch dir.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$TOP/scripts/lab.sh"
source "$TOP/tests/e2e/smtp.sh"
source "$TOP/tests/e2e/mta-lib.sh"

require_root
require_built "$LIB" "$HELPERS/logsink"
command -v p0f >/dev/null || fail_now "p0f is not installed (scripts/install-deps.sh)"
T0=$SECONDS
deb_unpack "${P0FSHIM_OPENSMTPD_CACHE:-/var/cache/p0fshim-test/opensmtpd}" opensmtpd
SMTPD=$DEB_ROOT/usr/sbin/smtpd
[ -x "$SMTPD" ] || fail_now "$SMTPD is missing from the unpacked package"

# Debian's postinst makes these system accounts; here they exist only inside the namespace.
private_users opensmtpd:64991 opensmtpq:64992 rcpt:64990   # rcpt: the recipient, a system user
NS=$WORK/ns
mkdir -p "$NS/var-lib/opensmtpd/empty/p0f" "$NS/var-spool" "$NS/run" "$WORK/mail"
chmod 755 "$NS" "$NS/var-lib" "$NS/var-lib/opensmtpd" "$NS/var-lib/opensmtpd/empty" "$NS/var-lib/opensmtpd/empty/p0f"
chown 65534:65534 "$WORK/mail"
P0F_SOCK=$NS/var-lib/opensmtpd/empty/p0f/p0f.sock   # /var/lib/opensmtpd/empty/p0f/p0f.sock inside
# $WORK/smtpd ARGS: Debian's smtpd in its namespace. P0FSHIM_SMTPD_ENV (VAR=VALUE words) becomes
# smtpd's environment there, so the library is loaded into smtpd only, not into the shells,
# unshare and mount on the way.
cat >"$WORK/smtpd" <<EOF
#!/bin/bash
exec unshare -m bash -c 'mount --bind "$WORK/passwd" /etc/passwd && mount --bind "$WORK/group" /etc/group &&
    mount --bind "$NS/var-lib" /var/lib && mount --bind "$NS/var-spool" /var/spool && mount --bind "$NS/run" /run &&
    mount --bind "$DEB_ROOT/usr/libexec" /usr/libexec &&
    exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \$P0FSHIM_SMTPD_ENV "$SMTPD" "\$@"' smtpd "\$@"
EOF
chmod 755 "$WORK/smtpd"

P1=2525 P2=2587
# smtpd.conf: Debian's, with the lab's two listeners and a maildir of the test's own.
cat >"$WORK/smtpd.conf" <<EOF
listen on $LAB_SERVER_IP port $P1
listen on $LAB_SERVER_IP port $P2
action "local" maildir "$WORK/mail/rcpt" user nobody
match from any for domain "example.net" action "local"
EOF
check "opensmtpd: smtpd -n accepts the test's configuration" \
    eval '"$WORK/smtpd" -n -f "$WORK/smtpd.conf" >"$WORK/n.out" 2>&1' || sed 's/^/#   /' "$WORK/n.out"

echo '/windows/' >"$WORK/blocked"; chmod 644 "$WORK/blocked"
# shim_conf NAME LINES...: policy/opensmtpd.conf as shipped, with the blocked-OS file and the log
# socket in the scratch directory, the lab's ports, and LINES appended.
shim_conf() {
    local name=$1; shift
    sed -e "s|^blocked_os_file .*|blocked_os_file $WORK/blocked|" -e "s|^log_socket .*|log_socket $WORK/$name.sock|" \
        -e "s|^ports .*|ports $P1 $P2|" "$TOP/policy/opensmtpd.conf" >"$WORK/$name.conf"
    printf '%s\n' "$@" >>"$WORK/$name.conf"
    chmod 644 "$WORK/$name.conf"
}
shim_conf hold "mode hold" "hold_ms 3000" "timeout_ms 3000" "action reject" "fingerprint p0f"
check "policy/opensmtpd.conf: its socket is the one inside smtpd's chroot" \
    grep -qx 'socket /var/lib/opensmtpd/empty/p0f/p0f.sock' "$WORK/hold.conf"

SMTPD_PID=
# start_smtpd NAME: smtpd in the foreground (-d, as Debian's but not daemonized, so that the test
# holds its pid) with the library and $WORK/NAME.conf; its stderr (its log) in $WORK/NAME.smtpd.
start_smtpd() {
    : >"$WORK/$1.log"
    start_sink "$WORK/$1.sock" "$WORK/$1.log" || echo "# logsink did not start"
    # Not through lab_exec_server (a function: $! would be the subshell's): ip, unshare, bash and
    # env all exec, so $! is smtpd's parent itself.
    ip netns exec "$LAB_NS_SERVER" env P0FSHIM_SMTPD_ENV="LD_PRELOAD=$LIB P0FSHIM_CONFIG=$WORK/$1.conf" \
        "$WORK/smtpd" -d -f "$WORK/smtpd.conf" >"$WORK/$1.smtpd" 2>&1 &
    SMTPD_PID=$!
    CHILD_PIDS+=("$SMTPD_PID")
    wait_for 10 listening
}
listening() { [ "$(lab_exec_server ss -Hltn "( sport = :$P1 or sport = :$P2 )" 2>/dev/null | grep -c LISTEN)" = 2 ]; }
# stop_smtpd: SIGTERM to the parent (Debian's stop), which ends its children; the ports free.
stop_smtpd() {
    kill -TERM "$SMTPD_PID" 2>/dev/null
    wait_for 5 eval '! kill -0 "$SMTPD_PID" 2>/dev/null && ! lab_exec_server ss -Hltn "( sport = :$P1 or sport = :$P2 )" | grep -q LISTEN'
    wait "$SMTPD_PID" 2>/dev/null
    STOPPED=yes
    if lab_exec_server ss -Hltn "( sport = :$P1 or sport = :$P2 )" | grep -q LISTEN; then
        STOPPED=no
        echo "# still listening 5 s after SIGTERM:"
        for p in $(ip netns pids "$LAB_NS_SERVER"); do ps -o pid=,ppid=,stat=,wchan:20=,args= -p "$p"; done | sed 's/^/#   /'
    fi
    kill "$SINK_PID" 2>/dev/null
    wait "$SINK_PID" 2>/dev/null
}
show_smtpd() { tail -15 "$WORK/$1.smtpd" | sed 's/^/#   /'; }

CLEANUP_HOOKS+=("lab_down")
lab_up || fail_now "could not build the network lab"
lab_start_p0f "$P0F_SOCK" "$WORK/p0f.out" || fail_now "p0f did not start"

# ---- 1. hold mode, p0f, two listeners -----------------------------------------------------------
check "opensmtpd: the daemon listens on $P1 and $P2" start_smtpd hold || show_smtpd hold
mapped_in_all() {
    local p n=0
    for p in $(descendants "$SMTPD_PID"); do
        [ "$(cat /proc/$p/comm 2>/dev/null)" = smtpd ] || continue
        n=$((n + 1)); maps_shim "$p" || return 1
    done
    NPROC=$n; [ "$n" -ge 6 ]
}
NPROC=0
check "opensmtpd: the library is mapped in every smtpd process" mapped_in_all
echo "# $NPROC smtpd processes"
ACCEPTOR=$(listener_pid "$P1")
check "opensmtpd: the process holding the listeners (pid $ACCEPTOR) maps the library and is chrooted" \
    eval '[ -n "$ACCEPTOR" ] && maps_shim "$ACCEPTOR" && [ "$(readlink "/proc/$ACCEPTOR/root")" != / ]'
echo "# accepting process $ACCEPTOR: root $(readlink "/proc/$ACCEPTOR/root"), uid $(awk '/^Uid:/ {print $2}' "/proc/$ACCEPTOR/status")"

greet windows "$P1" w1
check "opensmtpd, hold: the windows client on $P1 gets the shim's 554 ($(cat "$WORK/greet-w1.out"))" refused w1
greet linux "$P2" l1
check "opensmtpd, hold: then the linux client on $P2 gets OpenSMTPD's 220 within 3 s ($(cat "$WORK/greet-l1.out"))" \
    eval 'served l1 && [ "$(greet_field ms l1)" -lt 3000 ]'
check "opensmtpd: a message from the linux client is accepted" send_from linux "$P1" m1 ||
    sed 's/^/#   /' "$WORK/send-m1.err"
check "opensmtpd: and delivered to the maildir" wait_for 10 delivered m1
FAST_MS=$(sent_ms m1)
check "opensmtpd: lines: windows on $P1 verdict=block action=reject" \
    wait_for 3 line_has "$WORK/hold.log" "$LAB_WINDOWS_IP" "$P1" "verdict=block .*fp=p0f.*action=reject"
check "opensmtpd: lines: one per connection (windows 1, linux 2)" \
    eval '[ "$(lines_for "$WORK/hold.log" "$LAB_WINDOWS_IP" "$P1")" = 1 ] &&
          [ "$(($(lines_for "$WORK/hold.log" "$LAB_LINUX_IP" "$P1") + $(lines_for "$WORK/hold.log" "$LAB_LINUX_IP" "$P2")))" = 2 ]' ||
    sed 's/^/#   /' "$WORK/hold.log"
check "opensmtpd: the lines come from the accepting process" \
    eval '! grep "remote=" "$WORK/hold.log" | grep -v "p0fshim\[$ACCEPTOR\]" | grep .'
HOLD_REFUSE_MS=$(greet_field ms w1)

# ---- 2. p0f restarted ---------------------------------------------------------------------------
lab_stop_p0f
lab_start_p0f "$P0F_SOCK" "$WORK/p0f2.out" || fail_now "p0f did not start again"
greet windows "$P1" w2
check "opensmtpd, p0f restarted: the windows client is refused again ($(cat "$WORK/greet-w2.out"))" refused w2
check "opensmtpd, p0f restarted: verdict=block" \
    wait_for 3 eval '[ "$(grep -c "remote=${LAB_WINDOWS_IP//./\\.}:.*verdict=block" "$WORK/hold.log")" = 2 ]'

# ---- 3. Debian's force-reload ------------------------------------------------------------------
# OpenSMTPD has no reload: its unit has no ExecReload, the init script's force-reload is stop and
# start, and smtpd's parent does not handle SIGHUP (it ends). The environment of the new start is
# the unit's (the drop-in's), so the library comes back.
stop_smtpd
check "opensmtpd: SIGTERM (Debian's stop) ends every smtpd process within 5 s" [ "$STOPPED" = yes ]
echo "# hold: shim lines:"; sed 's/^/#   /' "$WORK/hold.log"
shim_conf reload "mode hold" "hold_ms 3000" "timeout_ms 3000" "action reject" "fingerprint p0f"
check "opensmtpd, force-reload: stopped, then started again" start_smtpd reload || show_smtpd reload
check "opensmtpd, force-reload: the library is mapped in every smtpd process" mapped_in_all
greet windows "$P1" w3
check "opensmtpd, force-reload: the windows client is refused ($(cat "$WORK/greet-w3.out"))" refused w3
check "opensmtpd, force-reload: a linux client's message is delivered" \
    eval 'send_from linux "$P2" m3 && wait_for 10 delivered m3'
check "opensmtpd, force-reload: one line per connection" \
    eval '[ "$(grep -c "remote=" "$WORK/reload.log")" = 2 ]' || sed 's/^/#   /' "$WORK/reload.log"
stop_smtpd
check "opensmtpd: smtpd logged no fatal error" eval '! cat "$WORK/hold.smtpd" "$WORK/reload.smtpd" | grep -iE "fatal|panic" | sed "s/^/#   /" | grep .'

# ---- 4. fingerprint auto, no p0f ----------------------------------------------------------------
lab_stop_p0f
shim_conf syn "action reject"
check "opensmtpd, no p0f, fingerprint auto: the daemon listens" start_smtpd syn || show_smtpd syn
greet windows "$P1" s1
check "opensmtpd, SYN: the windows client's first line is the 554 ($(cat "$WORK/greet-s1.out"))" refused s1
check "opensmtpd, SYN: the linux client's message is delivered" \
    eval 'send_from linux "$P2" s2 && wait_for 10 delivered s2'
check "opensmtpd, SYN: fp=syn verdict=block for windows, verdict=allow for linux" \
    eval 'wait_for 3 line_has "$WORK/syn.log" "$LAB_WINDOWS_IP" "$P1" "verdict=block .*fp=syn" &&
          line_has "$WORK/syn.log" "$LAB_LINUX_IP" "$P2" "verdict=allow .*fp=syn"'
check "opensmtpd, SYN: one line per connection" eval '[ "$(grep -c "remote=" "$WORK/syn.log")" = 2 ]'
SYN_REFUSE_MS=$(greet_field ms s1)
stop_smtpd
echo "# syn: shim lines:"; sed 's/^/#   /' "$WORK/syn.log"

echo "# timing: fast transaction (connect to the reply after the message) ${FAST_MS} ms;" \
    "554 after connect: hold ${HOLD_REFUSE_MS} ms, SYN ${SYN_REFUSE_MS} ms"
echo "# runtime $((SECONDS - T0)) s"
summary
