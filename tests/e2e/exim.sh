#!/bin/bash
# Exim and scripts/exim/p0fshim-acl.conf, with Debian's Exim extracted (never installed): the
# packages exim4-daemon-light, exim4-base, exim4-config and libidn12 are fetched with
# `apt-get download` into a cache (P0FSHIM_EXIM_CACHE, default /var/cache/p0fshim-test/exim)
# and unpacked with dpkg -x. Exim needs its compiled-in user Debian-exim: a private mount
# namespace (unshare -m) sees a copy of /etc/passwd and /etc/group that has it; the system's
# files are never changed.
#
#   1. `exim -bV` on a minimal configuration that includes the recipe (syntax)
#   2. a real Exim daemon of its own in the lab's server namespace, the recipe in its DATA
#      ACL, the real p0f: a message from the linux client (with forged copies) is delivered
#      with exactly p0f's X-P0F-Genre and X-P0F-Link-Type at the top
#   3. hold mode, a second daemon on two ports (daemon_smtp_ports = P1 : P2) under the library:
#      the windows client is refused on P1 (554 from the shim), then the linux client on P2 gets
#      Exim's banner at once, SIGTERM ends the daemon, and Exim logs no accept() failure
#   4. p0f down: delivered without them, no delay beyond the deadline
#   (3 also: the library mapped in the daemon, p0f restarted under it, one line per connection)
#   5. reload: a daemon with the library from /etc/ld.so.preload under its system-wide name (an
#      overlay /etc in its namespace), p0f still down, fingerprint auto: the SYN refuses the
#      windows client; SIGHUP re-executes the daemon (same pid, environment cleared), which still
#      maps the library, refuses the windows client and serves the linux one
#
# Fails when the packages cannot be fetched (it needs Debian's archive). Needs root.
# P0FSHIM_PRELOAD replaces the library the hold-mode daemon loads (default $LIB): another
# build of it, e.g. an older one, to see whether the scenario catches what it should.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$TOP/scripts/lab.sh"
source "$TOP/tests/e2e/smtp.sh"

require_root
P=$BUILD/p0fshim
RECIPE=$TOP/scripts/exim/p0fshim-acl.conf
[ -x "$P" ] || fail_now "$P is missing (run make)"
command -v p0f >/dev/null || fail_now "p0f is not installed (scripts/install-deps.sh)"
T0=$SECONDS
CACHE=${P0FSHIM_EXIM_CACHE:-/var/cache/p0fshim-test/exim}
ROOT=$CACHE/root
EXIM=$ROOT/usr/sbin/exim4

if [ ! -x "$EXIM" ]; then
    mkdir -p "$CACHE/debs"
    fetch() { (cd "$CACHE/debs" && apt-get download exim4-daemon-light exim4-base exim4-config libidn12) \
            >"$WORK/download.out" 2>&1; }
    # Package lists may be missing or stale on a fresh machine: refresh them once.
    if ! fetch && ! { apt-get update -qq >/dev/null 2>&1 && fetch; }; then
        sed 's/^/#   /' "$WORK/download.out" | tail -5
        fail_now "Exim: the packages could not be fetched (apt-get download)"
    fi
    rm -rf "$ROOT.new" && mkdir -p "$ROOT.new"
    for d in "$CACHE"/debs/*.deb; do dpkg -x "$d" "$ROOT.new" || fail_now "dpkg -x $d failed"; done
    rm -rf "$ROOT" && mv "$ROOT.new" "$ROOT"
fi
# The private passwd/group with Exim's user, and a wrapper that runs exim in a mount namespace
# of its own where they are bound over the real ones.
cp /etc/passwd "$WORK/passwd"; cp /etc/group "$WORK/group"
grep -q '^Debian-exim:' "$WORK/passwd" || echo 'Debian-exim:x:64999:64999::/nonexistent:/usr/sbin/nologin' >>"$WORK/passwd"
grep -q '^Debian-exim:' "$WORK/group" || echo 'Debian-exim:x:64999:' >>"$WORK/group"
# Exim re-executes itself by its compiled-in path, /usr/sbin/exim4, for deliveries: in that
# namespace a tmpfs over /usr/sbin holds a stub there that runs the extracted binary.
# P0FSHIM_EXIM_PRELOAD becomes Exim's LD_PRELOAD there, so the library is loaded into Exim only,
# not into the shells, unshare, mount and cp on the way.
printf '#!/bin/sh\n[ -z "$P0FSHIM_EXIM_PRELOAD" ] || export LD_PRELOAD="$P0FSHIM_EXIM_PRELOAD"\nLD_LIBRARY_PATH=%s exec %s "$@"\n' \
    "$ROOT/usr/lib/x86_64-linux-gnu" "$EXIM" >"$WORK/exim4-stub"
chmod 755 "$WORK/exim4-stub"
cat >"$WORK/exim" <<EOF
#!/bin/bash
exec unshare -m bash -c 'mount --bind "$WORK/passwd" /etc/passwd && mount --bind "$WORK/group" /etc/group &&
    mount -t tmpfs p0fshim-exim /usr/sbin && cp "$WORK/exim4-stub" /usr/sbin/exim4 && exec /usr/sbin/exim4 "\$@"' exim "\$@"
EOF
chmod 755 "$WORK/exim"
check "exim: the extracted Exim runs (-bV)" eval '"$WORK/exim" -C /dev/null -bV >"$WORK/version.out" 2>&1 &&
    grep -q "^Exim version 4" "$WORK/version.out"'
echo "# $(grep -m1 '^Exim version' "$WORK/version.out")"

CONF=$WORK/p0fshim.conf
P0F_SOCK=$WORK/p0f/p0f.sock
mkdir -p "$WORK/p0f" "$WORK/spool" "$WORK/log" "$WORK/mail"
chmod 755 "$WORK/p0f"
chown 64999:64999 "$WORK/spool" "$WORK/log"
chown 65534:65534 "$WORK/mail"
printf '%s\n' "socket $P0F_SOCK" "log_socket $WORK/no-log.sock" >"$CONF"; chmod 644 "$CONF"
# The recipe as shipped, with the tool's path and --config moved into the build/scratch dir.
sed -e "s|/usr/local/bin/p0fshim header \\(\$sender_host_address [a-z]*\\)|$P header \\1 --config $CONF|" \
    "$RECIPE" >"$WORK/p0fshim-acl.conf"
check "recipe: both \${run} commands were rewritten for the test" \
    [ "$(grep -c "$P header \$sender_host_address [a-z]* --config $CONF}" "$WORK/p0fshim-acl.conf")" = 2 ]
cat >"$WORK/exim.conf" <<EOF
# exim e2e (tests/e2e/exim.sh)
primary_hostname = mx.p0fshim.test
spool_directory = $WORK/spool
log_file_path = $WORK/log/%slog
daemon_smtp_ports = 2525
local_interfaces = $LAB_SERVER_IP
domainlist local_domains = example.net
acl_smtp_rcpt = acl_check_rcpt
acl_smtp_data = acl_check_data
keep_environment =
# The daemon's receiving process runs as Debian-exim and cannot re-execute the extracted
# (not setuid) binary for deliveries: messages are queued, and the test runs the queue as root.
queue_only = true
host_lookup =
rfc1413_hosts =
begin acl
acl_check_rcpt:
  accept  domains = +local_domains
  deny
acl_check_data:
.include $WORK/p0fshim-acl.conf
  accept
begin routers
mailbox:
  driver = accept
  domains = +local_domains
  transport = maildir
begin transports
maildir:
  driver = appendfile
  directory = $WORK/mail/rcpt
  maildir_format
  create_directory
  user = nobody
  group = nogroup
EOF
check "exim -bV: the configuration with the recipe included is valid" \
    eval '"$WORK/exim" -C "$WORK/exim.conf" -bV >"$WORK/bv.out" 2>&1 && grep -q "^Configuration file is $WORK/exim.conf" "$WORK/bv.out"' ||
    sed 's/^/#   /' "$WORK/bv.out"
printf "  warn    add_hedaer = X: y\n" >"$WORK/broken.conf"
sed "s|^.include .*|.include $WORK/broken.conf|" "$WORK/exim.conf" >"$WORK/exim-broken.conf"
check "exim -bV: the same check fails on a broken recipe (the check checks)" \
    eval '! "$WORK/exim" -C "$WORK/exim-broken.conf" -bV >"$WORK/bv-broken.out" 2>&1'

# ---- a real Exim daemon in the lab ----------------------------------------------------------------
CLEANUP_HOOKS+=("lab_down")
lab_up || fail_now "could not build the network lab"
lab_start_p0f "$P0F_SOCK" "$WORK/p0f.out" || fail_now "p0f did not start"
lab_exec_server "$WORK/exim" -C "$WORK/exim.conf" -bdf >"$WORK/exim-daemon.out" 2>&1 &
CHILD_PIDS+=("$!")
listening() { lab_exec_server ss -Hltn "src $LAB_SERVER_IP:2525" 2>/dev/null | grep -q LISTEN; }
check "exim: the daemon listens on $LAB_SERVER_IP:2525 in the server namespace" wait_for 10 listening ||
    { sed 's/^/#   /' "$WORK/exim-daemon.out"; cat "$WORK"/log/* 2>/dev/null | sed 's/^/#   /'; }

# send TAG: a message with forged copies of the headers, from the linux client.
send() {
    printf '%s\n' "From: <sender@example.org>" "To: <rcpt@example.net>" "Message-ID: <$1@client.example>" \
        "X-P0F-Genre: Forged OS 1.0" "x-p0f-link-type: forged link" "Subject: p0fshim exim test" "" \
        "hello from the linux client" >"$WORK/msg-$1"
    lab_exec_linux bash -c "$(declare -f smtp_send); smtp_send \"\$@\"" smtp_send "$LAB_SERVER_IP" 2525 data \
        rcpt@example.net "$WORK/msg-$1" >"$WORK/send-$1.out" 2>"$WORK/send-$1.err"
    grep -q '^result=sent' "$WORK/send-$1.out"
}
# deliver TAG: run the queue (as root, in-process) and wait for TAG's message in the mailbox.
deliver() {
    lab_exec_server "$WORK/exim" -C "$WORK/exim.conf" -qf >>"$WORK/queue-run.out" 2>&1
    wait_for 10 delivered "$1"
}

check "exim: a message from the linux client with forged copies is accepted" send x1 ||
    sed 's/^/#   /' "$WORK/send-x1.err"
check "exim: delivered (queue run)" deliver x1 || { cat "$WORK"/log/* 2>/dev/null | tail -20 | sed 's/^/#   /'; }
"$P" query "$LAB_LINUX_IP" --socket "$P0F_SOCK" >"$WORK/query.out" 2>&1
GENRE=$(sed -nE 's/^Genre +=  *"(.*)" \(match=.*/\1/p' "$WORK/query.out")
LINK=$(sed -nE 's/^Network link += (.*)/\1/p' "$WORK/query.out")
echo "# p0f says: genre \"$GENRE\", link \"$LINK\""
check "exim: X-P0F-Genre then X-P0F-Link-Type at the very top, with p0f's values" \
    eval '[ -n "$GENRE" ] && [ "$(headers_of x1 | grep -v "^Return-path:" | head -2)" = "X-P0F-Genre: $GENRE"$'"'"'\n'"'"'"X-P0F-Link-Type: $LINK" ]' ||
    show_headers x1
check "exim: the forged copies are removed, exactly one of each left" \
    eval '[ "$(headers_of x1 | grep -ic "^X-P0F-Genre:")" = 1 ] && [ "$(headers_of x1 | grep -ic "^X-P0F-Link-Type:")" = 1 ]'

# ---- hold mode: a refusal on one port never keeps Exim's other port waiting ------------------------
# Exim's daemon select()s over blocking listeners and accept()s the ready one. After a refusal the
# shim must not wait in the real accept() for the next client on that port (the daemon's other
# ports would go unserved meanwhile): on a blocking listener it returns EINTR after each refusal,
# which Exim retries without a log line. A second daemon of its own (spool, log, ports), the library preloaded.
HOLD_LIB=${P0FSHIM_PRELOAD:-$LIB}
H=$WORK/hold
HP1=2526 HP2=2587
mkdir -p "$H/spool" "$H/log"
chown 64999:64999 "$H/spool" "$H/log"
echo '/windows/' >"$H/blocked"
printf '%s\n' "socket $P0F_SOCK" "log_socket $H/log.sock" "mode hold" "hold_ms 3000" "timeout_ms 3000" \
    "action reject" "ports $HP1 $HP2" "blocked_os_file $H/blocked" "fingerprint p0f" >"$H/p0fshim.conf"
chmod 644 "$H/blocked" "$H/p0fshim.conf"
sed -e "s|^spool_directory = .*|spool_directory = $H/spool|" -e "s|^log_file_path = .*|log_file_path = $H/log/%slog|" \
    -e "s|^daemon_smtp_ports = .*|daemon_smtp_ports = $HP1 : $HP2|" "$WORK/exim.conf" >"$H/exim.conf"
: >"$H/shim.log"
spawn "$HELPERS/logsink" "$H/log.sock" "$H/shim.log" 2>>"$H/logsink.err"
wait_for 5 test -S "$H/log.sock" || echo "# hold: logsink did not start"
echo "# hold: the daemon preloads $HOLD_LIB"
# ip netns exec, unshare, bash and the stub all exec: $! is Exim's daemon itself.
ip netns exec "$LAB_NS_SERVER" env P0FSHIM_EXIM_PRELOAD="$HOLD_LIB" P0FSHIM_CONFIG="$H/p0fshim.conf" \
    "$WORK/exim" -C "$H/exim.conf" -bdf >"$H/daemon.out" 2>&1 &
HOLD_PID=$!
CHILD_PIDS+=("$HOLD_PID")
hold_listening() { [ "$(lab_exec_server ss -Hltn "( sport = :$HP1 or sport = :$HP2 )" 2>/dev/null | grep -c LISTEN)" = 2 ]; }
check "exim, hold: the daemon listens on $HP1 and $HP2" wait_for 10 hold_listening ||
    { sed 's/^/#   /' "$H/daemon.out"; cat "$H"/log/* 2>/dev/null | sed 's/^/#   /'; }
# first_line HOST PORT: connect, print `line=<the server's first line> ms=<from connect to it>`
# (`line= ms=none` when nothing came within 5 s); QUIT after a 220.
first_line() {
    local t0 l
    t0=$(date +%s%N)
    exec 3<>"/dev/tcp/$1/$2" || { echo "line= ms=connect_failed"; return 1; }
    if IFS= read -r -t 5 l <&3; then
        echo "line=${l%$'\r'} ms=$((($(date +%s%N) - t0) / 1000000))"
        case $l in "220 "*) printf 'QUIT\r\n' >&3; read -r -t 2 l <&3 ;; esac
    else
        echo "line= ms=none"
    fi
    exec 3<&-
}
hold_client() {  # hold_client windows|linux PORT TAG
    "lab_exec_$1" bash -c "$(declare -f first_line); first_line \"\$@\"" first_line "$LAB_SERVER_IP" "$2" \
        >"$H/client-$3.out" 2>&1
}
field() { sed -nE "s/^.*$1=([^ ]*).*/\1/p" "$H/client-$2.out"; }
check "exim, hold: the daemon (pid $HOLD_PID) maps the library" eval 'grep -q libp0fshim "/proc/$HOLD_PID/maps"'
hold_client windows "$HP1" win
check "exim, hold: the windows client on $HP1 gets the shim's 554 ($(cat "$H/client-win.out"))" \
    grep -q '^line=554 5\.7\.1 ' "$H/client-win.out"
# Right after the refusal, nothing else queued on P1: a wrapper that went back to the real accept()
# would sit there until the next client came to P1, and this one would wait for its banner.
WIN_MS=$(field ms win)
hold_client linux "$HP2" lin
LIN_MS=$(field ms lin)
case $LIN_MS in none) LIN_SEEN="nothing within 5 s" ;; *) LIN_SEEN="$LIN_MS ms" ;; esac
check "exim, hold: then the linux client on $HP2 gets Exim's 220 within 3 s ($LIN_SEEN)" \
    eval 'grep -q "^line=220 " "$H/client-lin.out" && [ "$LIN_MS" -lt 3000 ] 2>/dev/null' ||
    sed 's/^/#   /' "$H/client-lin.out"
check "exim, hold: the shim's line for the windows client: verdict=block action=reject" \
    wait_for 3 log_has "$H/shim.log" "remote=${LAB_WINDOWS_IP//./\\.}:[0-9]+ local=${LAB_SERVER_IP//./\\.}:$HP1 verdict=block .*action=reject"
check "exim, hold: the linux client passed (verdict=allow on $HP2)" \
    wait_for 3 log_has "$H/shim.log" "remote=${LAB_LINUX_IP//./\\.}:[0-9]+ local=${LAB_SERVER_IP//./\\.}:$HP2 verdict=allow"
lab_stop_p0f
lab_start_p0f "$P0F_SOCK" "$WORK/p0f-again.out" || fail_now "p0f did not start again"
hold_client windows "$HP1" win2
check "exim, hold, p0f restarted: the windows client is refused again ($(cat "$H/client-win2.out"))" \
    grep -q '^line=554 5\.7\.1 ' "$H/client-win2.out"
check "exim, hold: one line per connection (windows 2, linux 1)" \
    eval '[ "$(grep -c "remote=${LAB_WINDOWS_IP//./\\.}:" "$H/shim.log")" = 2 ] && [ "$(grep -c "remote=${LAB_LINUX_IP//./\\.}:" "$H/shim.log")" = 1 ]'
exited() { ! kill -0 "$HOLD_PID" 2>/dev/null || [ "$(sed -E 's/.*\) (.).*/\1/' "/proc/$HOLD_PID/stat" 2>/dev/null)" = Z ]; }
t0=$(date +%s%N)
kill -TERM "$HOLD_PID"
wait_for 5 exited
GONE_MS=$((($(date +%s%N) - t0) / 1000000))
check "exim, hold: SIGTERM ends the daemon within 5 s (${GONE_MS} ms)" exited ||
    { kill -KILL "$HOLD_PID" 2>/dev/null; echo "#   still running after 5 s: killed"; }
wait "$HOLD_PID" 2>/dev/null
# Exim logs a failed accept() as "N accept() failure(s): <error>" (EINTR excepted).
check "exim, hold: Exim's mainlog and paniclog have no accept() failure" \
    eval '! grep -h "accept() failure" "$H"/log/* 2>/dev/null | sed "s/^/#   /" | grep .'
check "exim, hold: no panic log" bash -c "! test -s '$H/log/paniclog'"
echo "# hold: shim lines:"; sed 's/^/#   /' "$H/shim.log"

lab_stop_p0f
check "exim, p0f down: accepted" send x2
check "exim, p0f down: delivered without the headers (forged copies still removed), $(sent_ms x2) ms" \
    eval 'deliver x2 && [ "$(headers_of x2 | grep -Eic "^X-P0F-(Genre|Link-Type):")" = 0 ] &&
          [ "$(sent_ms x2)" -lt 1000 ]' || show_headers x2
check "exim: no panic log" bash -c "! test -s '$WORK/log/paniclog'"

# ---- reload: SIGHUP, the library from /etc/ld.so.preload, the SYN deciding (p0f is down) ---------
# Exim's daemon re-executes /usr/sbin/exim4 on SIGHUP (Debian's reload) with its environment
# cleared but for keep_environment: LD_PRELOAD from the environment is gone then (checked first,
# with the stub's P0FSHIM_EXIM_PRELOAD, as an admin's drop-in would set it). The system-wide mode
# survives: a fourth daemon in a namespace whose /etc is an overlay with the test's ld.so.preload
# (the library under its system-wide name), passwd/group with Debian-exim and
# p0fshim/p0fshim.conf (policy/exim4.conf with the lab's paths).
R=$WORK/reload
mkdir -p "$R/spool" "$R/log" "$R/etc/p0fshim" "$R/ovl"
chown 64999:64999 "$R/spool" "$R/log"
ln -s "$HOLD_LIB" "$R/libp0fshim-system.so"
echo "$R/libp0fshim-system.so" >"$R/etc/ld.so.preload"
cp "$WORK/passwd" "$R/etc/passwd"; cp "$WORK/group" "$R/etc/group"
sed -e "s|^blocked_os_file .*|blocked_os_file $H/blocked|" -e "s|^log_socket .*|log_socket $R/log.sock|" \
    -e "s|^ports .*|ports $HP1 $HP2|" -e "s|^socket .*|socket $P0F_SOCK|" "$TOP/policy/exim4.conf" >"$R/etc/p0fshim/p0fshim.conf"
echo "action reject" >>"$R/etc/p0fshim/p0fshim.conf"
chmod 644 "$R/etc/ld.so.preload" "$R/etc/passwd" "$R/etc/group" "$R/etc/p0fshim/p0fshim.conf"
sed -e "s|^spool_directory = .*|spool_directory = $R/spool|" -e "s|^log_file_path = .*|log_file_path = $R/log/%slog|" \
    "$H/exim.conf" >"$R/exim.conf"
cat >"$R/exim" <<EOF2
#!/bin/bash
exec unshare -m bash -c 'mount -t overlay p0fshim-etc -o "lowerdir=/etc,upperdir=$R/etc,workdir=$R/ovl" /etc &&
    mount -t tmpfs p0fshim-exim /usr/sbin && cp "$WORK/exim4-stub" /usr/sbin/exim4 && exec /usr/sbin/exim4 "\$@"' exim "\$@"
EOF2
chmod 755 "$R/exim"
: >"$R/shim.log"
spawn "$HELPERS/logsink" "$R/log.sock" "$R/shim.log" 2>>"$R/logsink.err"
wait_for 5 test -S "$R/log.sock" || echo "# reload: logsink did not start"
ip netns exec "$LAB_NS_SERVER" "$R/exim" -C "$R/exim.conf" -bdf >"$R/daemon.out" 2>&1 &
RELOAD_PID=$!
CHILD_PIDS+=("$RELOAD_PID")
check "exim, system-wide: the daemon listens on $HP1 and $HP2" wait_for 10 hold_listening || sed 's/^/#   /' "$R/daemon.out"
maps() { grep -q libp0fshim "/proc/$RELOAD_PID/maps" 2>/dev/null; }
check "exim, system-wide: the daemon maps the library (AT_SECURE $(od -An -v -t u8 -w16 "/proc/$RELOAD_PID/auxv" | awk '$1 == 23 {print $2}'))" maps
H=$R   # hold_client and field write under $H
hold_client windows "$HP1" r1
check "exim, system-wide, no p0f: the windows client's first line is the shim's 554 ($(cat "$R/client-r1.out"))" \
    grep -q '^line=554 5\.7\.1 ' "$R/client-r1.out"
SYN_MS=$(field ms r1)
started() { grep -c "daemon started" "$R/log/mainlog" 2>/dev/null; }
kill -HUP "$RELOAD_PID"
check "exim, SIGHUP: the daemon re-executed itself (a second 'daemon started' in its mainlog)" \
    wait_for 10 eval '[ "$(started)" = 2 ] && hold_listening'
check "exim, SIGHUP: the re-executed daemon (same pid) still maps the library" maps
hold_client windows "$HP1" r2
check "exim, SIGHUP: the windows client is still refused ($(cat "$R/client-r2.out"))" grep -q '^line=554 5\.7\.1 ' "$R/client-r2.out"
hold_client linux "$HP2" r3
check "exim, SIGHUP: the linux client is still served ($(cat "$R/client-r3.out"))" grep -q '^line=220 ' "$R/client-r3.out"
check "exim, system-wide: fp=syn lines from the daemon, one per connection (block, block, allow)" \
    wait_for 3 eval '[ "$(grep -c "p0fshim\[$RELOAD_PID\]: remote=.* verdict=block .*fp=syn" "$R/shim.log")" = 2 ] &&
                     [ "$(grep -c "p0fshim\[$RELOAD_PID\]: remote=.* verdict=allow .*fp=syn" "$R/shim.log")" = 1 ] &&
                     [ "$(grep -c "remote=" "$R/shim.log")" = 3 ]' || sed 's/^/#   /' "$R/shim.log"
kill -TERM "$RELOAD_PID"; wait "$RELOAD_PID" 2>/dev/null
echo "# timing: delivered fast transaction $(sent_ms x1) ms; 554 after connect: hold $WIN_MS ms, SYN $SYN_MS ms"
echo "# runtime $((SECONDS - T0)) s"
summary
