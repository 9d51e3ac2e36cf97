#!/bin/bash
# End-to-end test of the fingerprint headers (X-P0F-Genre, X-P0F-Link-Type) with Debian's
# Postfix and the real p0f, in the lab's namespaces: a Postfix instance of its own (postfix -c
# DIR, its own queue and data directories in the scratch dir, smtpd chrooted as Debian has it),
# no LD_PRELOAD. Mail comes from the lab's linux client over real TCP, so p0f fingerprints it.
#
#   1. policy service under spawn(8) (`p0fshim policy` on stdin/stdout), genre at RCPT and link
#      type at DATA (protocol_state), header_checks recipe against forged copies
#   2. the same service as a socket server (--socket-listen), both headers chosen by
#      policy_context; BDAT; two recipients (each header once)
#   3. p0fshim-milter (smtpd_milters): headers at the top, forged copies removed
#   4. p0f down (stale socket) and p0f hung: mail delivered without headers, no delay beyond
#      the timeout; add_headers false: nothing added
#
# Needs root, build/p0fshim and build/p0fshim-milter. KEEP_WORK=1 keeps the scratch dir.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$TOP/scripts/lab.sh"
source "$TOP/tests/e2e/postfix-lib.sh"
source "$TOP/tests/e2e/smtp.sh"

P=$BUILD/p0fshim
MILTER=$BUILD/p0fshim-milter
require_postfix_lab
require_built "$P" "$MILTER" "$HELPERS/logsink" "$HELPERS/fake_p0f"
T0=$SECONDS

POLICY_SOCK=$QUEUE/p0fshim/policy.sock
MILTER_SOCK=$QUEUE/p0fshim/milter.sock

CLEANUP_HOOKS+=("postfix_stop" "lab_down")
lab_up || fail_now "could not build the network lab"
echo "# lab $LAB_PREFIX up; scratch $WORK"

postfix_dirs "$QUEUE/p0fshim"
write_conf() {
    printf '%s\n' "# p0fshim e2e (headers)" "socket $P0F_SOCK" "log_socket $WORK/log.sock" "fingerprint p0f" "$@" >"$CONF"
    chmod 644 "$CONF"
}
write_conf

start_sink "$WORK/log.sock" "$LOGF" || fail_now "logsink did not start"
lab_start_p0f "$P0F_SOCK" "$WORK/p0f.out" || fail_now "p0f did not start"

# ---- Postfix ---------------------------------------------------------------------------------
# main.cf: the common part, then the restrictions/milters of the phase ($1).
write_main_cf() {
    {
        echo "# headers e2e test instance (tests/e2e/headers.sh)"
        postfix_main_cf 127.0.0.0/8 p0fshim-headers-e2e "$MAILROOT"
        printf '%s\n' "p0fshim_time_limit = 3600" "$1"
    } >"$PF/main.cf.new" && mv -f "$PF/main.cf.new" "$PF/main.cf"
}
printf '%s\n' "rcpt@example.net rcpt/" "second@example.net second/" >"$PF/vmailbox"
# master.cf: Debian's services, smtpd chrooted, plus the policy service under spawn(8) with the
# extra arguments $1 (e.g. --tag).
write_master_cf() {
    {
        cat <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
25        inet  n       -       y       -       -       smtpd
# p0fshim policy service under spawn(8), as documented (paths moved into the build/scratch dir)
p0fshim   unix  -       n       n       -       0       spawn
  user=nobody argv=$P policy --config $CONF $1
EOF
        postfix_services
    } >"$PF/master.cf"
}
write_master_cf ""

postfix_reload() {
    local before
    before=$(grep -c 'reload' "$PFLOG" 2>/dev/null)
    lab_exec_server postfix -c "$PF" reload >"$WORK/postfix-reload.out" 2>&1 || return 1
    wait_for 10 eval '[ "$(grep -c "reload" "$PFLOG")" -gt "$before" ]' && sleep 0.3
}

# send TAG MODE RCPTS [HEADER-LINE...]: from the linux client; output in $WORK/send-TAG.{out,err}.
send() {
    local tag=$1 mode=$2 rcpts=$3; shift 3
    printf '%s\n' "From: <sender@example.org>" "To: <rcpt@example.net>" "Message-ID: <$tag@client.example>" \
        "$@" "Subject: p0fshim header test ($mode)" "" "hello from the linux client" "bye" >"$WORK/msg-$tag"
    lab_exec_linux bash -c "$(declare -f smtp_send); smtp_send \"\$@\"" smtp_send "$SRV" 25 "$mode" "$rcpts" \
        "$WORK/msg-$tag" >"$WORK/send-$tag.out" 2>"$WORK/send-$tag.err"
    grep -q '^result=sent' "$WORK/send-$tag.out"
}

# hdr_values TAG NAME [MAILBOX]: the values of every NAME header (case-insensitive name).
hdr_values() { headers_of "$1" "${3:-rcpt}" | sed -nE "s/^$2: ?//Ip"; }
hdr_count() { headers_of "$1" "${3:-rcpt}" | grep -Eic "^$2:"; }

# What `p0fshim query` says about the linux client: the expected header values.
expect_values() {
    "$P" query "$LIN" --socket "$P0F_SOCK" >"$WORK/query.out" 2>&1
    GENRE=$(sed -nE 's/^Genre +=  *"(.*)" \(match=.*/\1/p' "$WORK/query.out")
    LINK=$(sed -nE 's/^Network link += (.*)/\1/p' "$WORK/query.out")
    [ -n "$GENRE" ] && [ -n "$LINK" ] && [ "$LINK" != '???' ] || { sed 's/^/#   /' "$WORK/query.out"; return 1; }
}

# at_top TAG [MAILBOX]: X-P0F-Genre then X-P0F-Link-Type are the first two headers after the
# delivery agent's own (Return-Path, X-Original-To, Delivered-To), above every Received:.
at_top() {
    local got
    got=$(headers_of "$1" "${2:-rcpt}" | grep -Ev '^(Return-Path|X-Original-To|Delivered-To):' | head -2)
    [ "$got" = "X-P0F-Genre: $GENRE"$'\n'"X-P0F-Link-Type: $LINK" ] || { show_headers "$@"; return 1; }
}
# exactly_ours TAG [MAILBOX]: one copy of each header, with p0f's values.
exactly_ours() {
    [ "$(hdr_count "$1" X-P0F-Genre "${2:-rcpt}")" = 1 ] && [ "$(hdr_count "$1" X-P0F-Link-Type "${2:-rcpt}")" = 1 ] &&
        [ "$(hdr_values "$1" X-P0F-Genre "${2:-rcpt}")" = "$GENRE" ] &&
        [ "$(hdr_values "$1" X-P0F-Link-Type "${2:-rcpt}")" = "$LINK" ] || { show_headers "$@"; return 1; }
}
no_p0f_headers() {
    [ "$(hdr_count "$1" 'X-P0F-(Genre|Link-Type)')" = 0 ] || { show_headers "$@"; return 1; }
}
FORGED=("X-P0F-Genre: Forged OS 1.0" "x-p0f-link-type: forged link" "X-P0F-Genre:  Forged again")


# The values the headers must carry, and the lines to paste (as in the README).
TAG=e2eTag0123456789abcdef
POLICY_RCPT="check_policy_service { unix:private/p0fshim, default_action=DUNNO }"
POLICY_DATA="check_policy_service { unix:private/p0fshim, default_action=DUNNO }"
CTX_GENRE="check_policy_service { unix:p0fshim/policy.sock, default_action=DUNNO, policy_context=genre }"
CTX_LINK="check_policy_service { unix:p0fshim/policy.sock, default_action=DUNNO, policy_context=link }"
HC_IGNORE='/^X-P0F-(Genre|Link-Type)[[:space:]]*:/ IGNORE'
HC_REPLACE="/^X-P0F-(Genre|Link-Type)-$TAG:(.*)/ REPLACE X-P0F-\$1:\$2"
printf '%s\n' "$HC_IGNORE" >"$PF/header_checks.ignore"
printf '%s\n' "$HC_IGNORE" "$HC_REPLACE" >"$PF/header_checks.tagged"
policy_lines() { grep -c "mta=postfix-policy .*$1" "$LOGF"; }
milter_restart() {
    [ -n "${MILTER_PID:-}" ] && { kill "$MILTER_PID"; wait "$MILTER_PID" 2>/dev/null; }
    rm -f "$MILTER_SOCK"
    spawn "$MILTER" --config "$CONF" --socket "unix:$MILTER_SOCK" 2>>"$WORK/milter.err"
    MILTER_PID=$!
    wait_for 5 test -S "$MILTER_SOCK"
}
MILTER_CF="smtpd_milters = unix:p0fshim/milter.sock
milter_default_action = accept"

# ==== 1. policy service under spawn(8): genre at RCPT, link type at DATA ======================
write_main_cf "smtpd_recipient_restrictions = $POLICY_RCPT
smtpd_data_restrictions = $POLICY_DATA"
postfix_start || { cat "$WORK/postfix-start.out" "$PFLOG"; fail_now "our Postfix did not start"; }
check "spawn: a message from the linux client (2 recipients, forged copies) is accepted" \
    send s1 data rcpt@example.net,second@example.net "${FORGED[@]}"
check "spawn: p0f knows the linux client (p0fshim query: genre and link type)" expect_values
echo "# p0f says: genre \"$GENRE\", link \"$LINK\""
check "spawn: delivered to both mailboxes" wait_for 10 eval 'delivered s1 && delivered s1 second'
check "spawn: X-P0F-Genre then X-P0F-Link-Type at the top, p0f's values (first mailbox)" at_top s1
check "spawn: the same in the second mailbox (each header once per message)" at_top s1 second
check "spawn: ours are the only copies above Received: (the client's stay below it)" \
    eval '[ "$(headers_of s1 | sed "/^Received:/q" | grep -Eic "^X-P0F-")" = 2 ]'
check "spawn: one genre and one link answer logged for the message, with the values" \
    eval '[ "$(policy_lines "state=\"RCPT\" header=X-P0F-Genre action=prepend value=\"$GENRE\" p0f=ok")" = 1 ] &&
          [ "$(policy_lines "state=\"DATA\" header=X-P0F-Link-Type action=prepend value=\"$LINK\" p0f=ok")" = 1 ]'
SPAWNED=$(pgrep -f "^$P policy --config $CONF" | head -1)
check "spawn: the service runs as nobody, started by spawn(8)" \
    eval '[ -n "$SPAWNED" ] && [ "$(stat -c %u "/proc/$SPAWNED")" = 65534 ]'

# header_checks IGNORE alone: Postfix applies header_checks to PREPENDed headers too.
write_main_cf "smtpd_recipient_restrictions = $POLICY_RCPT
smtpd_data_restrictions = $POLICY_DATA
header_checks = regexp:$PF/header_checks.ignore"
postfix_reload
check "IGNORE alone: message accepted" send s2 data rcpt@example.net "${FORGED[@]}"
check "IGNORE alone: delivered" wait_for 10 delivered s2
check "IGNORE alone: header_checks removed the forged copies AND the PREPENDed ones (Postfix fact)" \
    eval 'no_p0f_headers s2 && [ "$(policy_lines "action=prepend")" -ge 4 ]'

# The recipe: --tag, header_checks IGNORE + REPLACE.
write_master_cf "--tag $TAG"
write_main_cf "smtpd_recipient_restrictions = $POLICY_RCPT
smtpd_data_restrictions = $POLICY_DATA
header_checks = regexp:$PF/header_checks.tagged"
postfix_reload
check "tag recipe: message with forged copies accepted (DATA)" send s3 data rcpt@example.net "${FORGED[@]}"
check "tag recipe: message with forged copies accepted (BDAT)" send s4 bdat rcpt@example.net "${FORGED[@]}"
check "tag recipe: both delivered" wait_for 10 eval 'delivered s3 && delivered s4'
check "tag recipe (DATA): ours at the top, renamed back" at_top s3
check "tag recipe (DATA): forged copies gone, exactly one of each" exactly_ours s3
check "tag recipe (BDAT): ours at the top, forged copies gone" eval 'at_top s4 && exactly_ours s4'
check "tag recipe: no tagged name left in the delivered mail" bash -c "! grep -q '$TAG' '$(msgfile s3)' '$(msgfile s4)'"

# ==== 2. the socket server (--socket-listen), both headers chosen by policy_context at RCPT ======
spawn "$P" policy --config "$CONF" --socket-listen "$POLICY_SOCK" --tag "$TAG" 2>"$WORK/policy-server.err"
POLICY_PID=$!
check "socket: the server listens" wait_for 5 test -S "$POLICY_SOCK"
write_main_cf "smtpd_recipient_restrictions = $CTX_GENRE, $CTX_LINK
header_checks = regexp:$PF/header_checks.tagged"
postfix_reload
check "socket: message to 2 recipients accepted (DATA)" send c1 data rcpt@example.net,second@example.net "${FORGED[@]}"
check "socket: message accepted (BDAT)" send c2 bdat rcpt@example.net "${FORGED[@]}"
check "socket: delivered" wait_for 10 eval 'delivered c1 && delivered c1 second && delivered c2'
check "socket: headers at the top, exactly ours, in both mailboxes" \
    eval 'at_top c1 && exactly_ours c1 && at_top c1 second && exactly_ours c1 second'
check "socket (BDAT): headers at the top, exactly ours" eval 'at_top c2 && exactly_ours c2'
check "socket: both answers came at RCPT, once per message (2 messages, 3 recipients)" \
    eval '[ "$(policy_lines "state=\"RCPT\" header=X-P0F-Link-Type action=prepend")" = 2 ]'

# ==== 3. p0fshim-milter ========================================================================
milter_restart
check "milter: listening" test -S "$MILTER_SOCK"
write_main_cf "$MILTER_CF"
postfix_reload
check "milter: message with forged copies accepted (DATA, 2 recipients)" \
    send m1 data rcpt@example.net,second@example.net "${FORGED[@]}"
check "milter: message with forged copies accepted (BDAT)" send m2 bdat rcpt@example.net "${FORGED[@]}"
check "milter: delivered" wait_for 10 eval 'delivered m1 && delivered m1 second && delivered m2'
check "milter: headers at the top (above Received:), p0f's values" eval 'at_top m1 && at_top m1 second && at_top m2'
check "milter: the 3 forged copies removed, exactly ours left" \
    eval 'exactly_ours m1 && exactly_ours m1 second && exactly_ours m2'
check "milter: it logged removed=3 for each message" \
    eval '[ "$(grep -c "mta=milter .*event=eom p0f=ok genre=\"$GENRE\" link=\"$LINK\" removed=3" "$LOGF")" = 2 ]'
write_main_cf "$MILTER_CF
header_checks = regexp:$PF/header_checks.ignore"
postfix_reload
check "milter + header_checks IGNORE: accepted" send m3 data rcpt@example.net "${FORGED[@]}"
check "milter + header_checks IGNORE: the milter's headers survive header_checks" \
    eval 'wait_for 10 delivered m3 && at_top m3 && exactly_ours m3'

# ==== 4. add_headers false ======================================================================
write_conf "add_headers false"
milter_restart
write_main_cf "$MILTER_CF"
postfix_reload
check "add_headers false (milter): accepted" send f1 data rcpt@example.net "${FORGED[@]}"
write_main_cf "smtpd_recipient_restrictions = $POLICY_RCPT
smtpd_data_restrictions = $POLICY_DATA"
write_master_cf ""
postfix_reload
check "add_headers false (policy, spawn): accepted" send f2 data rcpt@example.net
check "add_headers false: no header added by either (the milter leaves the client's alone too)" \
    eval 'wait_for 10 eval "delivered f1 && delivered f2" && no_p0f_headers f2 &&
          [ "$(hdr_count f1 "X-P0F-(Genre|Link-Type)")" = 3 ]'
write_conf
milter_restart
postfix_reload     # new smtpd processes, so new spawned policy processes read the restored file

# ==== 5. p0f down, p0f hung: delivered without headers, no delay beyond the timeout =============
lab_stop_p0f
check "p0f down: its socket file is left behind (connections are refused)" test -S "$P0F_SOCK"
check "p0f down (policy, spawn): accepted" send d1 data rcpt@example.net "${FORGED[@]}"
write_main_cf "$MILTER_CF"
postfix_reload
check "p0f down (milter): accepted" send d2 data rcpt@example.net "${FORGED[@]}"
check "p0f down: delivered; policy: no header of its own; milter: none at all (forged copies removed)" \
    eval 'wait_for 10 eval "delivered d1 && delivered d2" && no_p0f_headers d2 &&
          [ "$(hdr_count d1 "X-P0F-(Genre|Link-Type)")" = 3 ] &&
          [ "$(headers_of d1 | sed "/^Received:/q" | grep -Eic "^X-P0F-")" = 0 ]'
check "p0f down: no delay (under 1 s per message: $(sent_ms d1) ms, $(sent_ms d2) ms)" \
    eval '[ "$(sent_ms d1)" -lt 1000 ] && [ "$(sent_ms d2)" -lt 1000 ]'
check "p0f down: logged as p0f=error (connection refused)" \
    eval 'log_has "$LOGF" "mta=milter client=\"[^\"]+\" event=connect p0f=error .*reason=\"p0f connect: Connection refused\"" &&
          log_has "$LOGF" "mta=postfix-policy .*action=dunno p0f=error .*reason=\"p0f connect: Connection refused\""'

rm -f "$WORK/hang.ready"
spawn "$HELPERS/fake_p0f" --socket "$P0F_SOCK" --mode hang --ready-file "$WORK/hang.ready" 2>"$WORK/hang.err"
HANG_PID=$!
check "p0f hung: a p0f that never answers is on the socket" wait_for 5 test -e "$WORK/hang.ready"
check "p0f hung (milter): accepted" send h1 data rcpt@example.net
write_main_cf "smtpd_recipient_restrictions = $CTX_GENRE, $CTX_LINK
header_checks = regexp:$PF/header_checks.tagged"
postfix_reload
check "p0f hung (policy socket server): accepted" send h2 data rcpt@example.net
check "p0f hung: delivered without headers" \
    eval 'wait_for 10 eval "delivered h1 && delivered h2" && no_p0f_headers h1 && no_p0f_headers h2'
check "p0f hung: the delay stays within the 200 ms deadline ($(sent_ms h1) ms, $(sent_ms h2) ms)" \
    eval '[ "$(sent_ms h1)" -ge 190 ] && [ "$(sent_ms h1)" -lt 1000 ] && [ "$(sent_ms h2)" -lt 1000 ]'
check "p0f hung: logged as a p0f timeout, the second question not asked" \
    eval 'log_has "$LOGF" "mta=postfix-policy .*action=dunno p0f=error .*reason=\"p0f timeout\"" &&
          log_has "$LOGF" "mta=postfix-policy .*reason=\"p0f timed out less than 1000 ms ago: not asked\""'
kill "$HANG_PID" 2>/dev/null

# ==== 6. the policy service is not running: default_action=DUNNO delivers ======================
kill "$POLICY_PID"; wait "$POLICY_PID" 2>/dev/null
check "no policy server: its socket is gone" bash -c "! test -e '$POLICY_SOCK'"
check "no policy server: mail still accepted (default_action=DUNNO)" send n1 data rcpt@example.net
check "no policy server: delivered without headers (Postfix retried, then DUNNO: $(sent_ms n1) ms)" \
    eval 'wait_for 10 delivered n1 && no_p0f_headers n1'

# ==== whole run =================================================================================
check "all: Postfix logged no fatal or panic" bash -c "! grep -Eq ': (fatal|panic):' '$PFLOG'"
check "all: postconf knows p0fshim_time_limit (spawn's limit for the p0fshim service)" \
    eval '[ "$(postconf -c "$PF" -h p0fshim_time_limit 2>"$WORK/postconf.err")" = 3600 ] && ! grep -q unused "$WORK/postconf.err"'
check "all: the milter is still running" kill -0 "$MILTER_PID"
echo "# runtime $((SECONDS - T0)) s"
if [ "$FAILED" -gt 0 ]; then
    echo "---- p0fshim log"; sed 's/^/    /' "$LOGF" | tail -40
    echo "---- Postfix log (warnings, last 30 lines)"
    { grep -E ': (fatal|panic|warning):' "$PFLOG"; tail -n 30 "$PFLOG"; } | sed 's/^/    /'
    for f in "$WORK"/policy-server.err "$WORK"/milter.err; do echo "---- $f"; sed 's/^/    /' "$f"; done
fi
summary
