#!/bin/bash
# End-to-end test with Debian's Postfix: a Postfix instance of its own (postfix -c DIR, its own
# queue and data directories in the scratch dir) runs in the lab's server namespace with smtpd
# chrooted (chroot=y) and the shim preloaded through import_environment; the real p0f watches
# the lab with its API socket inside the queue directory. The shim's configuration, the
# import_environment line and the systemd drop-in's environment are taken from
# scripts/postfix/, with paths moved into the scratch dir. The system's own Postfix
# (/etc/postfix, /var/spool/postfix) is never used or started. Needs root. KEEP_WORK=1 keeps
# the scratch dir.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$TOP/scripts/lab.sh"
source "$TOP/tests/e2e/postfix-lib.sh"

require_postfix_lab
require_built "$LIB" "$HELPERS/testclient" "$HELPERS/logsink"
BURST=30                     # concurrent connections per client in the many-smtpd part

CLEANUP_HOOKS+=("postfix_stop" "lab_down")
lab_up || fail_now "could not build the network lab"
echo "# lab $LAB_PREFIX up; scratch $WORK"

# ---- the shipped files, with their paths moved into the scratch dir ---------------------------
postfix_dirs
printf '%s\n' "# blocked operating systems (postfix e2e)" "/windows/" >"$WORK/blocked_operating_systems"
shipped_shim_conf >"$CONF"
IMPORT=$(grep -E '^import_environment = ' "$SHIPPED/main.cf.snippet" | from_shipped)
IMPORT_BY_NAME=$(sed -nE 's/^#(import_environment = .* LD_PRELOAD P0FSHIM_CONFIG)$/\1/p' "$SHIPPED/main.cf.snippet")
DROPIN_ENV=()
while read -r kv; do DROPIN_ENV+=("$kv"); done < <(sed -nE 's/^Environment=//p' \
    "$SHIPPED/postfix.service.d-p0fshim.conf" | from_shipped)

check "shipped main.cf.snippet keeps Postfix's default import_environment" \
    [ "${IMPORT%% LD_PRELOAD=*}" = "$(postconf -d import_environment)" ]
check "shipped main.cf.snippet: the by-name alternative keeps it too" \
    [ "${IMPORT_BY_NAME% LD_PRELOAD P0FSHIM_CONFIG}" = "$(postconf -d import_environment)" ]
check "shipped drop-in sets LD_PRELOAD and P0FSHIM_CONFIG" \
    [ "${DROPIN_ENV[*]}" = "LD_PRELOAD=$LIB P0FSHIM_CONFIG=$WORK/p0fshim.conf" ]
check "shipped p0fshim.conf: socket in the queue directory, programs smtpd, port 25" \
    eval 'grep -qx "socket $P0F_SOCK" "$WORK/p0fshim.conf" && grep -qx "programs smtpd" "$WORK/p0fshim.conf" &&
          grep -qx "ports 25" "$WORK/p0fshim.conf"'

start_sink "$WORK/log.sock" "$LOGF" || fail_now "logsink did not start"
lab_start_p0f "$P0F_SOCK" "$WORK/p0f.out" || fail_now "p0f did not start"
check "p0f: its API socket in the queue directory is mode 0666 (smtpd runs as postfix)" \
    [ "$(stat -c %a "$P0F_SOCK")" = 666 ]

# main.cf IMPORT-LINE: a Postfix of our own, listening on the lab's server address only.
write_main_cf() {
    {
        echo "# postfix e2e test instance (tests/e2e/postfix.sh)"
        postfix_main_cf "127.0.0.0/8 192.0.2.0/24" p0fshim-e2e "$WORK/mail"
        printf '%s\n' "default_process_limit = 100" "$1"
    } >"$PF/main.cf.new" && mv -f "$PF/main.cf.new" "$PF/main.cf"
}
echo "rcpt@example.net rcpt/" >"$PF/vmailbox"
write_main_cf "$IMPORT"
# Debian's services, smtpd chrooted (chroot=y); a submission listener on 587 that the shim
# must leave alone (ports 25).
PF_PORTS="25 587"
postfix_master_cf $PF_PORTS

# pids_of REGEX: the pids of the shim lines matching REGEX, unique, in comm's (lexical) order:
# numeric order breaks comm once pids cross a power of ten (9999, 10001).
pids_of() { grep -E -- "$1" "$LOGF" | sed -nE 's/.*p0fshim\[([0-9]+)\]:.*/\1/p' | sort -u; }
# The pids Postfix's own log shows for smtpd, in the same order.
smtpd_pids() { sed -nE 's/.* postfix\/smtpd\[([0-9]+)\]: .*/\1/p' "$PFLOG" | sort -u; }

# ---- 1. Postfix with the shim: a Windows client is cut off, a Linux client's mail arrives -----
postfix_start || { cat "$WORK/postfix-start.out" "$PFLOG"; fail_now "our Postfix did not start"; }
check "postfix: master runs in the server namespace, listening on $SRV:25 and :587" listening 25

check "basic: windows client is disconnected" client windows win closed
check "basic: linux client completes EHLO/MAIL/RCPT/DATA" client linux lin served --hold-ms 500
check "basic: block line for the windows client" wait_lines 1 \
    "$(line_re "$WIN" block) os=\"Windows\" flavor=\"NT kernel\" genre=\"Windows NT kernel\" .*rule=\"/windows/\" rule_at=\"$(re "$WORK/blocked_operating_systems"):2\""
check "basic: allow line for the linux client" wait_lines 1 "$(line_re "$LIN" allow) os=\"Linux\""
check "basic: exactly one line per connection" \
    eval '[ "$(nlines remote=)" -eq 2 ] && [ "$(nlines "remote=$(re "$WIN"):")" -eq 1 ]'
check "basic: the message is in the mailbox" wait_for 10 output_ge mails 1
check "basic: the queue is empty (delivered, nothing deferred)" wait_for 10 queue_empty
check "basic: the mailbox holds the body, dot-unstuffed, from the linux client" \
    eval 'f=$(find "$MAILDIR/new" -type f | head -1) && grep -q "^Subject: p0fshim test" "$f" &&
          grep -q "^hello from testclient" "$f" && grep -qx ".a dot-stuffed line" "$f" &&
          grep -q "unknown \[$(re "$LIN")\]" "$f"'
check "basic: Postfix logged the windows client as a lost connection" \
    wait_for 5 log_has "$PFLOG" "postfix/smtpd\[[0-9]+\]: lost connection after CONNECT from [^ ]*\[$(re "$WIN")\]"
check "basic: Postfix delivered to the mailbox (status=sent)" \
    wait_for 5 log_has "$PFLOG" "postfix/virtual\[[0-9]+\]: .*to=<rcpt@example.net>.*status=sent"

SMTPD_PIDS=$(pids_of "remote=")
check "chroot: the shim's lines come from smtpd processes (pids in Postfix's log)" \
    eval '[ -n "$SMTPD_PIDS" ] && [ -z "$(comm -23 <(echo "$SMTPD_PIDS") <(smtpd_pids))" ]'
one=$(echo "$SMTPD_PIDS" | head -1)
check "chroot: smtpd runs chrooted in the queue directory" [ "$(readlink "/proc/$one/root")" = "$QUEUE" ]
check "chroot: smtpd runs as the postfix user" \
    eval '[ "$(awk "/^Uid:/{print \$2}" "/proc/$one/status")" = "$(id -u postfix)" ]'
check "chroot: smtpd has the library loaded (import_environment)" grep -q libp0fshim "/proc/$one/maps"
QMGR=$(sed -nE 's/.* postfix\/qmgr\[([0-9]+)\]: .*/\1/p' "$PFLOG" | tail -1)
check "chroot: qmgr has it loaded too, and is silent (programs smtpd)" \
    eval 'grep -q libp0fshim "/proc/$QMGR/maps" && ! grep -q "p0fshim\[$QMGR\]" "$LOGF"'

# Submission: port 587 is not in the shim's ports.
check "587: windows client on the submission port is served" client windows win587 served --connect "$SRV:587"
sleep 0.6
check "587: no line for the submission port" bash -c "! grep -q 'local=$(re "$SRV"):587' '$LOGF'"

MAILS=2   # the linux client's message and the windows client's on 587

# ---- 2. p0f stopped, then restarted while Postfix runs ------------------------------------------
PIDS_BEFORE=$(pids_of "remote=")
BASE=$(wc -l <"$LOGF")
lab_stop_p0f
check "p0f down: windows client is served (fail open)" client windows win-down served
MAILS=$((MAILS + 1))
check "p0f down: error line for it" wait_lines 1 "$(line_re "$WIN" error) reason=\"p0f connect: [^\"]+\""
check "p0f down: the reason is the error of the socket that exists in the chroot (refused)" \
    log_has "$LOGF" "$(line_re "$WIN" error) reason=\"p0f connect: Connection refused\""
check "p0f down: a rate-limited warning says p0f cannot be reached" \
    log_has "$LOGF" 'p0fshim\[[0-9]+\]: level=warning msg="cannot reach p0f" reason="p0f connect: '
lab_start_p0f "$P0F_SOCK" "$WORK/p0f-restarted.out" || fail_now "p0f did not restart"
check "p0f restarted: windows client is disconnected again" client windows win-again closed
check "p0f restarted: linux client is served" client linux lin-again served --hold-ms 500
MAILS=$((MAILS + 1))
check "p0f restarted: block line for the windows client" wait_lines 2 "$(line_re "$WIN" block) os=\"Windows\""
check "p0f restarted: allow line for the linux client" wait_lines 2 "$(line_re "$LIN" allow) os=\"Linux\""
AFTER=$(tail -n +"$((BASE + 1))" "$LOGF" | grep -E 'verdict=(block|allow)' | sed -nE 's/.*p0fshim\[([0-9]+)\]:.*/\1/p' | sort -u)
check "p0f restarted: judged by smtpd processes that talked to the old p0f (reconnected)" \
    eval '[ -n "$AFTER" ] && [ -z "$(comm -23 <(echo "$AFTER") <(echo "$PIDS_BEFORE"))" ]'

# ---- 3. many smtpd processes against p0f's 20 API slots -----------------------------------------
# burst NS TAG EXPECT N ARGS...: N concurrent testclients from one namespace (one bash there),
# each marking $WORK/burst/TAG-I.started, all connecting when $WORK/burst/go appears (go_when_started).
burst() {
    local ns=$1 tag=$2 expect=$3 n=$4; shift 4
    "lab_exec_$ns" bash -c '
        t=$1 tag=$2 expect=$3 n=$4 dir=$5 target=$6; shift 6
        for i in $(seq 1 "$n"); do
            { : >"$dir/$tag-$i.started"
              "$t" --connect "$target" --expect "$expect" --start-file "$dir/go" "$@" >"$dir/$tag-$i.out" 2>&1
              echo $? >"$dir/$tag-$i.rc"; } &
        done
        wait' burst "$HELPERS/testclient" "$tag" "$expect" "$n" "$WORK/burst" "$SRV:25" "$@"
}
# go_when_started N: once N clients are started, lets them connect together.
go_when_started() {
    local want=$1
    wait_for 30 eval '[ "$(ls "$WORK/burst" | grep -c "\.started$")" -ge "$want" ]'
    sleep_ms 50   # the last ones from their marker to their wait for the file
    : >"$WORK/burst/go"
}
rc_zero() { [ "$(cat "$WORK/burst/$1"-*.rc 2>/dev/null | grep -cx 0)" -eq "$BURST" ]; }
burst_lines() { [ "$(tail -n +$((BASE + 1)) "$LOGF" | grep -c "remote=")" -ge $((2 * BURST)) ]; }
# Round 1 makes Postfix start smtpd processes one by one; from round 2 on they are all there,
# idle, and the clients connect together: every smtpd asks p0f within a few milliseconds and
# keeps its p0f connection for ENGINE_IDLE_CLOSE_MS (100 ms), so that more than p0f's 20 API
# slots are wanted at once. How many overlap still depends on scheduling: a round is repeated
# (at most twice) until p0f says it ran out.
overflowed=0 rounds=0
for round in 1 2 3 4; do
    [ "$round" -ge 3 ] && [ "$overflowed" -eq 1 ] && break
    rounds=$round
    rm -rf "$WORK/burst"; mkdir -p "$WORK/burst"
    BASE=$(wc -l <"$LOGF")
    warned=$(grep -c 'Too many API connections' "$WORK/p0f-restarted.out")
    t0=$SECONDS
    burst linux lin served "$BURST" --hold-ms 2000 --timeout-ms 15000 &
    b1=$!
    burst windows win closed "$BURST" --timeout-ms 5000 &
    b2=$!
    go_when_started $((2 * BURST))
    wait "$b1" "$b2"
    MAILS=$((MAILS + BURST))
    wait_for 5 burst_lines
    tail -n +"$((BASE + 1))" "$LOGF" >"$WORK/burst-$round.log"
    BL=$WORK/burst-$round.log
    BPIDS=$(sed -nE 's/.*p0fshim\[([0-9]+)\]: remote=.*/\1/p' "$BL" | sort -un | wc -l)
    echo "# burst $round: $((2 * BURST)) connections in $((SECONDS - t0)) s by $BPIDS smtpd processes;" \
        "slowest verdict $(sed -nE 's/.* ms=([0-9]+) .*/\1/p' "$BL" | sort -n | tail -1) ms;" \
        "p0f: $(($(grep -c 'Too many API connections' "$WORK/p0f-restarted.out") - warned)) 'Too many API connections'"
    check "burst $round: all $BURST windows clients are disconnected" rc_zero win
    check "burst $round: all $BURST linux clients complete their mail" rc_zero lin
    nwin=$(log_count "$BL" "$(line_re "$WIN" block) os=\"Windows\"")
    nlin=$(log_count "$BL" "$(line_re "$LIN" allow) os=\"Linux\"")
    check "burst $round: every line is p0f's verdict: block for windows, allow for linux ($nwin+$nlin)" \
        [ $((nwin + nlin)) -eq "$(log_count "$BL" "remote=")" ]
    check "burst $round: no error or unknown verdict" bash -c "! grep -Eq 'verdict=(error|unknown)' '$BL'"
    check "burst $round: one line per connection ($((2 * BURST)) expected)" \
        [ "$(log_count "$BL" "remote=")" -eq $((2 * BURST)) ]
    check "burst $round: more smtpd processes than p0f's 20 API slots ($BPIDS)" [ "$BPIDS" -gt 20 ]
    [ "$round" -ge 2 ] && [ "$(grep -c 'Too many API connections' "$WORK/p0f-restarted.out")" -gt "$warned" ] &&
        overflowed=1
    check "burst $round: every message is in the mailbox ($MAILS)" wait_for 20 output_ge mails "$MAILS"
    check "burst $round: the queue is empty" wait_for 10 queue_empty
done
check "burst: p0f ran out of API slots in a round of idle smtpd processes (it says so; $rounds rounds)" \
    [ "$overflowed" -eq 1 ]
check "burst: no windows client's message on port 25 (only the 587 and the p0f-down one)" \
    [ "$(grep -l "unknown \[$(re "$WIN")\]" "$MAILDIR"/new/* | wc -l)" -eq 2 ]

# ---- 4. the environment of the systemd drop-in, imported by name --------------------------------
OLD_PIDS="$(master_pid) $(pids_of "remote=")"
postfix_stop
alive() { local p; for p in $OLD_PIDS; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
check "drop-in: Postfix stopped (master and every smtpd gone)" wait_for 5 eval '! alive'
write_main_cf "$IMPORT_BY_NAME"
BASE=$(wc -l <"$LOGF")
postfix_start "${DROPIN_ENV[@]}" || { cat "$WORK/postfix-start.out" "$PFLOG"; fail_now "Postfix did not start with the drop-in's environment"; }
check "drop-in: windows client is disconnected" client windows win-dropin closed
check "drop-in: linux client is served" client linux lin-dropin served --hold-ms 500
MAILS=$((MAILS + 1))
tail_log() { tail -n +"$((BASE + 1))" "$LOGF"; }
check "drop-in: block and allow lines" wait_for 5 eval \
    'tail_log | grep -Eq "$(line_re "$WIN" block)" && tail_log | grep -Eq "$(line_re "$LIN" allow)"'
check "drop-in: master itself has the library loaded" grep -q libp0fshim "/proc/$(master_pid)/maps"
check "drop-in: the message is in the mailbox" wait_for 10 output_ge mails "$MAILS"

# ---- whole run -----------------------------------------------------------------------------------
check "all: every shim line comes from an smtpd process" \
    eval '[ -z "$(comm -23 <(pids_of "p0fshim") <(smtpd_pids))" ]'
check "all: no error diagnostics from the shim" bash -c "! grep -q 'level=error' '$LOGF'"
check "all: Postfix logged no fatal, panic or warning" bash -c "! grep -Eq ': (fatal|panic|warning):' '$PFLOG'"

if [ "$FAILED" -gt 0 ]; then
    echo "---- shim log lines (last 100 of $(wc -l <"$LOGF"); the receiver's datagram queue:" \
        "net.unix.max_dgram_qlen=$(cat /proc/sys/net/unix/max_dgram_qlen))"
    tail -n 100 "$LOGF" | sed 's/^/    /'
    echo "---- Postfix's log (maillog_file), warnings and the last 50 lines"
    { grep -E ': (fatal|panic|warning):' "$PFLOG"; tail -n 50 "$PFLOG"; } | sed 's/^/    /'
    for f in "$WORK"/client-*.out; do
        [ -s "$f" ] && { echo "---- $(basename "$f")"; sed 's/^/    /' "$f"; }
    done
    grep -L '^0$' "$WORK"/burst/*.rc 2>/dev/null | while read -r f; do
        echo "---- burst client $(basename "$f" .rc): $(cat "${f%.rc}.out")"
    done
fi
summary
