#!/bin/bash
# Tests of the operator's tool, build/p0fshim: query and check against build/tests/fake_p0f and
# against Debian's real p0f on loopback, lint on good and bad configurations, report on the
# recorded samples in tests/tool/samples (exact numbers, hostile lines), the fail2ban filter
# with fail2ban-regex, and the man pages. KEEP_WORK=1 keeps the scratch directory;
# P0FSHIM_TOOL_PORT_BASE moves the loopback ports (default 43100).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

P=$BUILD/p0fshim
SAMPLES=$TOP/tests/tool/samples
F2B_FILTER=$TOP/scripts/fail2ban/p0fshim.conf
PORT_BASE=${P0FSHIM_TOOL_PORT_BASE:-43100}
for f in "$P" "$HELPERS/fake_p0f" "$HELPERS/logsink" "$HELPERS/testsrv" "$HELPERS/testclient"; do
    [ -x "$f" ] || fail_now "$f is missing (run make)"
done

# t NAME CMD...: runs CMD, stdout in $WORK/NAME.out, stderr in $WORK/NAME.err, status in $RC.
t() { local n=$1; shift; "$@" >"$WORK/$n.out" 2>"$WORK/$n.err"; RC=$?; LAST=$n; }
rc_is() { [ "$RC" -eq "$1" ] || { echo "# $LAST: exit status $RC, expected $1"; head -5 "$WORK/$LAST.err" | sed 's/^/#   /'; return 1; }; }
show() { sed 's/^/#   /' "$1" | head -${2:-25}; }
# has NAME ERE / hasF NAME TEXT: stdout of NAME; ehas: its stderr; row NAME LINE: a whole line.
has() { grep -Eq -- "$2" "$WORK/$1.out" || { echo "# $1.out lacks /$2/:"; show "$WORK/$1.out"; return 1; }; }
hasF() { grep -qF -- "$2" "$WORK/$1.out" || { echo "# $1.out lacks \"$2\":"; show "$WORK/$1.out"; return 1; }; }
lacks() { ! grep -Eq -- "$2" "$WORK/$1.out" || { echo "# $1.out has /$2/"; return 1; }; }
ehas() { grep -Eq -- "$2" "$WORK/$1.err" || { echo "# $1.err lacks /$2/:"; show "$WORK/$1.err"; return 1; }; }
row() { grep -qxF -- "$2" "$WORK/$1.out" || { echo "# $1.out lacks the line: $2"; grep -F -- "${2%%,*}," "$WORK/$1.out" | head -20 | sed 's/^/#   /'; return 1; }; }
count_of() { grep -Ec -- "$2" "$WORK/$1.out"; }
count_is() { local n; n=$(count_of "$1" "$2"); [ "$n" -eq "$3" ] || { echo "# $1.out: $n lines match /$2/, expected $3"; show "$WORK/$1.out" 40; return 1; }; }
no_raw_controls() { ! LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$WORK/$1.out" && ! LC_ALL=C grep -qP '\x00' "$WORK/$1.out"; }
json_ok() { command -v python3 >/dev/null || return 0; python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$WORK/$1.out"; }
skip() { echo "skip - $*"; }

FAKE_PIDS=()
# fake NAME [fake_p0f ARGS...]: a fake p0f on $WORK/NAME.sock, query log $WORK/NAME.qlog.
fake() {
    local name=$1; shift
    rm -f "$WORK/$name.ready"
    spawn "$HELPERS/fake_p0f" --socket "$WORK/$name.sock" --query-log "$WORK/$name.qlog" \
        --ready-file "$WORK/$name.ready" "$@" 2>>"$WORK/fake_p0f.err"
    FAKE_PIDS+=("$!")
    wait_for 5 test -e "$WORK/$name.ready" || echo "# fake_p0f $name did not start"
}

WIN=192.0.2.20 LIN=198.51.100.30 LIN2=198.51.100.31 NOOS=192.0.2.40 V6=2001:db8::20 ESC=192.0.2.50
EXEMPTED=192.0.2.200 UNKNOWN=192.0.2.99
HOSTS=(--host "$WIN" --os Windows --flavor "NT kernel" --match generic --dist 3 --link "Ethernet or modem"
           --uptime 3000 --total 7 --nat 1700000000 --chg 1700000100
       --host "$LIN" --os Linux --flavor "3.11 and newer" --match exact --dist 1 --link DSL
       --host "$LIN2" --os Linux --flavor "2.2.x-3.x" --match generic
       --host "$NOOS"
       --host "$V6" --os Windows --flavor "7 or 8" --match fuzzy
       --host "$ESC" --os 'Evil\x1b[31m' --flavor 'x\x07y'
       --host "$EXEMPTED" --os Windows --flavor "NT kernel"
       --host 127.0.0.3 --os Linux --flavor "3.11 and newer")
fake p0f "${HOSTS[@]}"
S=$WORK/p0f.sock

# =============================================================================================
echo "# command line"
t cli0 "$P"; check "no arguments: usage, exit 2" eval 'rc_is 2 && ehas cli0 "^usage: p0fshim query"'
t cli1 "$P" bogus; check "unknown command: exit 2" eval 'rc_is 2 && ehas cli1 "unknown command"'
t cli2 "$P" help; check "help: exit 0, every subcommand" eval 'rc_is 0 && has cli2 "p0fshim report" && has cli2 "p0fshim lint"'
t cli3 "$P" --version; check "--version" eval 'rc_is 0 && has cli3 "^p0fshim [0-9]"'
t cli4 "$P" query; check "query without IP: exit 2" rc_is 2
t cli5 "$P" query 300.1.2.3 --socket "$S"; check "query of a bad address: exit 2" eval 'rc_is 2 && ehas cli5 "not an IPv4 or IPv6 address"'
t cli6 "$P" query "$WIN" --socket; check "option without its value: exit 2" eval 'rc_is 2 && ehas cli6 "needs a value"'
t cli7 "$P" report --json --csv /dev/null; check "report --json --csv: exit 2" rc_is 2
t cli8 "$P" report --since yesterday /dev/null; check "report --since garbage: exit 2" eval 'rc_is 2 && ehas cli8 "YYYY-MM-DD"'
t cli9 "$P" check "$WIN" --flavor XP; check "check --flavor without --os: exit 2" rc_is 2
t cli10 "$P" lint --bogus; check "lint with an unknown option: exit 2" rc_is 2

# =============================================================================================
echo "# query against fake_p0f"
t q1 "$P" query "$WIN" --socket "$S"
check "query: OK answer, exit 0" rc_is 0
check "query: OS with [generic]" hasF q1 "Detected OS   = Windows NT kernel [generic]"
check "query: genre and match" hasF q1 'Genre         = "Windows NT kernel" (match=generic)'
check "query: distance" hasF q1 "Distance      = 3"
check "query: link" hasF q1 "Network link  = Ethernet or modem"
check "query: total flows" hasF q1 "Total flows   = 7"
check "query: uptime" hasF q1 "Uptime        = 2 days 2 hrs 0 min (modulo 0 days)"
check "query: NAT and OS change seen" eval 'has q1 "^IP sharing    = 20[0-9]{2}/" && has q1 "^Sys change    = 20[0-9]{2}/"'
check "query: first/last seen" eval 'has q1 "^First seen    = 20" && has q1 "^Last update   = 20"'
t q2 "$P" query "$WIN" --socket "$S" --json
check "query --json: the fields" eval 'rc_is 0 && hasF q2 "\"status\":\"ok\"" && hasF q2 "\"os_name\":\"Windows\"" &&
    hasF q2 "\"os_flavor\":\"NT kernel\"" && hasF q2 "\"genre\":\"Windows NT kernel\"" && hasF q2 "\"generic\":true" &&
    hasF q2 "\"fuzzy\":false" && hasF q2 "\"distance\":3" && hasF q2 "\"last_nat\":1700000000" &&
    hasF q2 "\"last_chg\":1700000100" && hasF q2 "\"uptime_min\":3000" && hasF q2 "\"total_conn\":7"'
check "query --json: valid JSON" json_ok q2
before=$(grep -c "query addr_type=4 addr=$WIN\$" "$WORK/p0f.qlog")
t q3 "$P" query "::ffff:$WIN" --socket "$S"
check "query: an IPv4-mapped address is asked as IPv4" eval 'rc_is 0 && has q3 "IPv4-mapped" &&
    [ $(grep -c "query addr_type=4 addr=$WIN\$" "$WORK/p0f.qlog") -eq $((before + 1)) ]'
t q4 "$P" query "$V6" --socket "$S"
check "query: IPv6 host, [fuzzy]" eval 'rc_is 0 && hasF q4 "Detected OS   = Windows 7 or 8 [fuzzy]"'
t q5 "$P" query "$NOOS" --socket "$S"
check "query: host known, OS not identified: exit 0, ???" eval 'rc_is 0 && has q5 "^Detected OS   = \?\?\?" && has q5 "^Distance      = 0"'
t q6 "$P" query "$UNKNOWN" --socket "$S"
check "query: NOMATCH: exit 1, a clear message" eval 'rc_is 1 && has q6 "no match: p0f has no record"'
t q7 "$P" query "$UNKNOWN" --socket "$S" --json
check "query --json: NOMATCH" eval 'rc_is 1 && hasF q7 "\"status\":\"nomatch\""'
t q8 "$P" query "$ESC" --socket "$S"
check "query: control bytes from p0f are escaped" eval 'rc_is 0 && hasF q8 "Evil\\x1b[31m x\\x07y" && no_raw_controls q8'
t q9 "$P" query "$WIN" --socket "$WORK/nonexistent.sock"
check "query: no socket: exit 3, p0f not running" eval 'rc_is 3 && ehas q9 "no p0f socket at .*nonexistent.sock: p0f is not running"'
t q10 "$P" query "$WIN" --socket "$WORK/nonexistent.sock" --json
check "query --json: p0f down" eval 'rc_is 3 && hasF q10 "\"status\":\"p0f_down\"" && hasF q10 "\"reason\":\"p0f connect: No such file or directory\""'
: >"$WORK/regular"
t q11 "$P" query "$WIN" --socket "$WORK/regular"
check "query: a regular file: exit 4, not a socket" eval 'rc_is 4 && ehas q11 "is a regular file, not a socket"'
spawn "$HELPERS/logsink" "$WORK/dgram.sock" "$WORK/dgram.txt"
wait_for 5 test -S "$WORK/dgram.sock"
t q12 "$P" query "$WIN" --socket "$WORK/dgram.sock"
check "query: a datagram socket: exit 4, said so" eval 'rc_is 4 && ehas q12 "is a datagram socket, not p0f"'
fake stale
kill -KILL "${FAKE_PIDS[-1]}"; wait "${FAKE_PIDS[-1]}" 2>/dev/null
t q13 "$P" query "$WIN" --socket "$WORK/stale.sock"
check "query: a stale socket (p0f died): exit 3, nobody listens" eval 'rc_is 3 && ehas q13 "nobody listens on .*stale.sock"'
# wrong answers: mode, expected exit status, expected message
while read -r mode status msg; do
    fake "m-$mode" --mode "$mode" "${HOSTS[@]}"
    t "qm-$mode" "$P" query "$WIN" --socket "$WORK/m-$mode.sock" --timeout 400
    check "query: fake p0f --mode $mode: exit $status, $msg" eval "rc_is $status && ehas qm-$mode \"$msg\""
    kill "${FAKE_PIDS[-1]}" 2>/dev/null
done <<'EOF'
badmagic 4 bad magic 0xdeadbeef
badquery 4 rejected the query \(BADQUERY\)
badstatus 4 unknown status 0x30
short 4 closed the connection after 100 of the 232 bytes
nonul 4 not NUL-terminated
close-after-query 4 closed the connection without answering
die-mid-reply 4 closed the connection after 116 of the 232 bytes
hang 3 no answer from .* within 400 ms
garbage 4 bad magic|undecodable
EOF
fake slow --delay-ms 150 "${HOSTS[@]}"
t q14 "$P" query "$WIN" --socket "$WORK/slow.sock" --timeout 2000
check "query: a slow p0f within the timeout: exit 0" eval 'rc_is 0 && hasF q14 "Windows NT kernel"'
printf 'socket %s\n' "$S" >"$WORK/query.conf"
t q15 "$P" query "$WIN" --config "$WORK/query.conf"
check "query: the socket comes from --config" eval 'rc_is 0 && hasF q15 "Windows NT kernel"'
t q16 env P0FSHIM_CONFIG="$WORK/query.conf" "$P" query "$LIN"
check "query: ... or from \$P0FSHIM_CONFIG" eval 'rc_is 0 && hasF q16 "Linux 3.11 and newer"'

# =============================================================================================
echo "# check against fake_p0f"
C=$WORK/check
mkdir -p "$C"
cat >"$C/blocked" <<'EOF'
# blocked operating systems for the check tests
/linux 2\./
Windows NT kernel
/windows/
EOF
cat >"$C/conf" <<EOF
socket $S
blocked_os_file $C/blocked
exempt 203.0.113.0/24
exempt 192.0.2.128/25 2001:db8:ffff::/48
smite_os windows
timeout_ms 300
EOF
t c1 "$P" check "$WIN" --config "$C/conf"
check "check: a phrase blocks: exit 1" eval 'rc_is 1 && has c1 "^verdict: block"'
check "check: the rule and its file:line" has c1 "rule: +Windows NT kernel \($C/blocked:3\): phrase"
check "check: smite_os with its line: karma=-1" has c1 "smite_os: +matches: karma=-1 \($C/conf:5: smite_os windows\)"
check "check: the log fields the shim would write" hasF c1 "verdict=block fp=p0f os=\"Windows\" flavor=\"NT kernel\" genre=\"Windows NT kernel\" match=generic distance=3 link=\"Ethernet or modem\" uptime_min=3000 total_conn=7 nat=1700000000 os_change=1700000100 rule=\"Windows NT kernel\" rule_at=\"$C/blocked:3\" karma=-1"
t c2 "$P" check "$WIN" --config "$C/conf" --json
check "check --json: verdict, rule, smite_os, karma" eval 'rc_is 1 && hasF c2 "\"verdict\":\"block\"" && hasF c2 "\"karma\":-1" &&
    hasF c2 "\"rule\":{\"text\":\"Windows NT kernel\",\"file\":\"$C/blocked\",\"line\":3}" &&
    hasF c2 "\"smite_os\":{\"matches\":true,\"file\":\"$C/conf\",\"line\":5"'
check "check --json: valid JSON" json_ok c2
t c3 "$P" check "$V6" --config "$C/conf"
check "check: IPv6, a regex blocks (first matching entry)" eval 'rc_is 1 && has c3 "rule: +/windows/ \($C/blocked:4\): regex"'
t c4 "$P" check "::ffff:$WIN" --config "$C/conf"
check "check: IPv4-mapped folded to IPv4" eval 'rc_is 1 && has c4 "^check $WIN \(given as ::ffff:$WIN: IPv4-mapped" && has c4 "remote=$WIN:PORT"'
t c5 "$P" check "$LIN" --config "$C/conf"
check "check: no entry matches: allow, exit 0" eval 'rc_is 0 && has c5 "^verdict: allow" && has c5 "none of the 3 entries of $C/blocked matches" && has c5 "smite_os: +does not match"'
t c6 "$P" check "$LIN2" --config "$C/conf"
check "check: /linux 2\\./ blocks Linux 2.2.x-3.x, no karma" eval 'rc_is 1 && has c6 "rule: +/linux 2\\\\./ \($C/blocked:2\)" && lacks c6 "karma=-1"'
t c7 "$P" check "$EXEMPTED" --config "$C/conf"
check "check: exempt, with the network and its line: exit 0" eval 'rc_is 0 && has c7 "^verdict: exempt" && has c7 "exempt: +$EXEMPTED is in 192.0.2.128/25 \($C/conf:4\)"'
check "check: ... and what the verdict would be without it" has c7 "without the exemption: block by Windows NT kernel \($C/blocked:3\)"
check "check: ... the exempt log fields, with its karma" eval 'hasF c7 "karma=-1 exempt=\"192.0.2.128/25\"" && has c7 "an exempt host keeps its karma"'
t c8 "$P" check "$NOOS" --config "$C/conf"
check "check: OS not identified: unknown, never blocked" eval 'rc_is 0 && has c8 "^verdict: unknown" && has c8 "did not identify its OS" && hasF c8 "reason=\"os not identified\""'
t c9 "$P" check "$UNKNOWN" --config "$C/conf"
check "check: NOMATCH: unknown, reason no match" eval 'rc_is 0 && has c9 "^verdict: unknown" && has c9 "no record of $UNKNOWN" && hasF c9 "verdict=unknown fp=p0f reason=\"no match\""'
t c10 "$P" check 10.1.1.1 --config "$C/conf" --os Windows --flavor XP
check "check --os: p0f not asked, the policy judges the genre" eval 'rc_is 1 && has c10 "not asked" && has c10 "rule: +/windows/ \($C/blocked:4\)"'
t c11 "$P" check 10.1.1.1 --config "$C/conf" --os ""
check "check --os \"\": OS not identified" eval 'rc_is 0 && has c11 "^verdict: unknown"'
t c12 "$P" check "$WIN" --config "$C/conf" --socket "$WORK/nonexistent.sock"
check "check: p0f down: verdict error (fail open), exit 3" eval 'rc_is 3 && has c12 "^verdict: error" && hasF c12 "reason=\"p0f connect: No such file or directory\""'
fake cbad --mode badmagic "${HOSTS[@]}"
t c13 "$P" check "$WIN" --config "$C/conf" --socket "$WORK/cbad.sock"
check "check: not p0f: verdict error, exit 4, reason as logged" eval 'rc_is 4 && has c13 "^verdict: error" && hasF c13 "reason=\"p0f: bad magic\""'
t c13b "$P" check 203.0.113.5 --config "$C/conf" --socket "$WORK/nonexistent.sock"
check "check: exemption wins even when p0f is down" eval 'rc_is 0 && has c13b "^verdict: exempt" && has c13b "\($C/conf:3\)"'
printf 'socket %s\ntmeout_ms 3\n' "$S" >"$C/bad.conf"
t c14 "$P" check "$WIN" --config "$C/bad.conf"
check "check: configuration error: exit 5, file:line and reason" eval 'rc_is 5 && has c14 "^configuration error: $C/bad.conf:2: unknown directive \"tmeout_ms\"" && has c14 "pass every connection through"'
t c15 "$P" check "$WIN" --config "$C/bad.conf" --json
check "check --json: configuration error" eval 'rc_is 5 && hasF c15 "\"config_error\":{\"file\":\"$C/bad.conf\",\"line\":2"'
t c16 "$P" check "$WIN" --config "$C/missing.conf"
check "check: a named configuration that is missing: exit 5" eval 'rc_is 5 && has c16 "cannot read the configuration"'
t c17 env P0FSHIM_CONFIG="$C/conf" "$P" check "$WIN"
check "check: \$P0FSHIM_CONFIG, as the library reads it" eval 'rc_is 1 && has c17 "with $C/conf"'
printf 'socket %s\nblocked_os_file %s/none\n' "$S" "$C" >"$C/noblock.conf"
t c18 "$P" check "$WIN" --config "$C/noblock.conf"
check "check: no blocked-OS file: nothing is blocked" eval 'rc_is 0 && has c18 "does not exist: nothing is blocked" && has c18 "^verdict: allow"'
printf 'p0f2 %s\nblocked_os_file %s/blocked\n' "$S" "$C" >"$C/v2only.conf"
t c19 "$P" check "$WIN" --config "$C/v2only.conf"
check "check: a v2-only configuration: exit 2 and why" eval 'rc_is 2 && ehas c19 "no p0f v3 source"'
{ cat "$C/conf"; printf 'mode hold\nhold_ms 80\naction reject\nreject_text Go away\n'; } >"$C/hold.conf"
t c22 "$P" check "$WIN" --config "$C/hold.conf"
check "check: mode hold, action reject: the reply the client gets" eval 'rc_is 1 && hasF c22 "accept() would hold the connection for up to 80 ms (mode hold)" && hasF c22 "gets \"554 5.7.1 Go away\" and is closed (action reject)"'
{ cat "$C/conf"; printf 'greylist_os linux\ngreylist_delay 120\ngreylist_dir %s/nostore\n' "$C"; } >"$C/grey.conf"
t c23 "$P" check "$LIN" --config "$C/grey.conf"
check "check: greylist_os matches an allowed host: greylist (no store yet), with its line" eval 'rc_is 1 && has c23 "^verdict: greylist" && has c23 "greylist_os matches \($C/grey.conf:7: greylist_os linux\)" && has c23 "a retry after 120 s"'
t c24 "$P" check "$WIN" --config "$C/grey.conf"
check "check: a blocked host is not greylisted" eval 'rc_is 1 && lacks c24 "greylist_os matches"'

# Greylisting: check reads the store the shim writes, and never writes it.
G=$C/grey
mkdir -p "$G/store"
GPORT=$((PORT_BASE + 5))
spawn "$HELPERS/logsink" "$G/log.sock" "$G/log.txt"
wait_for 5 test -S "$G/log.sock"
printf 'socket %s\nports %s\nlog_socket %s\nblocked_os_file %s\ngreylist_os linux\ngreylist_dir %s\ngreylist_delay 300\nfingerprint p0f\n' \
    "$S" "$GPORT" "$G/log.sock" "$C/blocked" "$G/store" >"$G/conf"
sed 's/^greylist_delay 300/greylist_delay 1/' "$G/conf" >"$G/conf1"
t c25 "$P" check 127.0.0.3 --config "$G/conf"
check "check: greylist_os matches, no store yet: greylist (exit 1), and check creates nothing" eval 'rc_is 1 &&
    has c25 "^verdict: greylist" && has c25 "does not exist yet" && [ -z "$(ls -A "$G/store")" ]'
if [ -e "$LIB" ]; then
    spawn env LD_PRELOAD="$LIB" P0FSHIM_CONFIG="$G/conf" "$HELPERS/testsrv" --model loop --listen "127.0.0.1:$GPORT" \
        --ready-file "$G/ready"
    wait_for 5 test -e "$G/ready"
    "$HELPERS/testclient" --connect "127.0.0.1:$GPORT" --bind 127.0.0.3 --expect closed --timeout-ms 3000 >"$G/client.out" 2>&1
    wait_for 5 grep -q "verdict=greylist" "$G/log.txt"
    t c26 "$P" check 127.0.0.3 --config "$G/conf"
    check "check: after the shim greylisted the host: a retry now is greylisted again" eval 'rc_is 1 &&
        has c26 "^verdict: greylist" && has c26 "saw it first at 20[0-9/: ]+:" && has c26 "a retry before 300 s"'
    sleep 1.2
    t c27 "$P" check 127.0.0.3 --config "$G/conf1"
    check "check: with greylist_delay 1, a second later: pass_greylist (exit 0), greylist_wait_s" eval 'rc_is 0 &&
        has c27 "^verdict: pass_greylist" && has c27 "a retry now passes" && has c27 "greylist_wait_s=[0-9]+"'
    t c28 "$P" check 127.0.0.3 --config "$G/conf"
    check "check: peeking recorded nothing (still within the 300 s delay)" eval 'rc_is 1 && has c28 "a retry before 300 s"'
else
    check "the library is built ($LIB)" false
fi

# A p0f socket served by someone other than root or p0f_user: the shim refuses its answers.
if command -v setpriv >/dev/null && [ "$(id -u)" -eq 0 ]; then
    mkdir -p "$WORK/nobody" && chmod 777 "$WORK/nobody"
    spawn setpriv --reuid=nobody --regid=nogroup --clear-groups "$HELPERS/fake_p0f" --socket "$WORK/nobody/p0f.sock" \
        --ready-file "$WORK/nobody/ready" "${HOSTS[@]}"
    wait_for 5 test -e "$WORK/nobody/ready"
    t c20 "$P" check "$WIN" --config "$C/conf" --socket "$WORK/nobody/p0f.sock"
    check "check: p0f served by nobody: the shim refuses it (error, exit 4)" eval 'rc_is 4 && has c20 "^verdict: error" && has c20 "not root or p0f_user"'
    { cat "$C/conf"; echo "p0f_user nobody"; } >"$C/p0fuser.conf"
    t c21 "$P" check "$WIN" --config "$C/p0fuser.conf" --socket "$WORK/nobody/p0f.sock"
    check "check: ... unless p0f_user names it" eval 'rc_is 1 && has c21 "^verdict: block"'
else
    skip "p0f_user checks (need root and setpriv)"
fi

# =============================================================================================
echo "# lint"
L=$WORK/lint
mkdir -p "$L/bin" "$L/nopostfix"
cat >"$L/p0f.fp" <<'EOF'
[tcp:request]
label = s:unix:Linux:3.11 and newer
label = g:unix:Linux:2.2.x-3.x
label = s:win:Windows:XP
label = s:win:Windows:7 or 8
label = g:win:Windows:NT kernel
label = g:unix:Mac OS X:
label = s:!:NMap:SYN scan
[http:request]
label = s:!:Chrome:11 or newer
EOF
printf '#!/bin/sh\n' >"$L/bin/exim4" && chmod 755 "$L/bin/exim4"
spawn "$HELPERS/logsink" "$L/log.sock" "$L/log.txt"
wait_for 5 test -S "$L/log.sock"
lint() { t "$1" env PATH="$L/bin:$PATH" "$P" lint --fp "$L/p0f.fp" --postfix-dir "$L/nopostfix" "${@:2}"; }
printf '/windows/\nLinux 2.2.x-3.x\n' >"$L/blocked"
cat >"$L/good.conf" <<EOF
# a good configuration
socket $S
blocked_os_file $L/blocked
exempt 192.0.2.0/24 2001:db8::/32
smite_os windows
ports 25 587
timeout_ms 500
log_socket $L/log.sock
log_facility mail
programs tcpserver
EOF
lint l1 --config "$L/good.conf"
check "lint: a good configuration is clean: exit 0" eval 'rc_is 0 && has l1 "0 errors, 0 warnings; 2 blocked-OS entries in $L/blocked"'
sed 's/^programs tcpserver$/programs exim4/' "$L/good.conf" >"$L/exim.conf"
lint l1x --config "$L/exim.conf"
check "lint: programs exim4 without the system-wide preload: a reload drops the library (warning at its line)" \
    has l1x "^$L/exim.conf:10: warning: programs: exim4 re-executes itself with a cleared environment when it is reloaded"
cat >"$L/bad.conf" <<EOF
socket $S
tmeout_ms 300
timeout_ms 0
blocked_os_file $L/bad.blocked
smite_os (windows
exempt 10.1.2.3/8 192.0.2.0/24
exempt nonsense
ports 25 99999
version 4
log_facility bogus
log_socket relative/path
p0f_user no-such-user-p0fshim
ident/p0f $S smite_os
add_headers
p0f3 $WORK/other.sock
EOF
cat >"$L/bad.blocked" <<'EOF'
/linux/
/win(dows/
windows 7 or 8
//
Windows
/windows
/linux/
/[z-a]/
/solaris/
Linux 2.2.x-3.x
EOF
lint l2 --config "$L/bad.conf"
check "lint: errors: exit 1" rc_is 1
check "lint: an unknown directive, with its line" has l2 "^$L/bad.conf:2: error: unknown directive \"tmeout_ms\""
check "lint: a value out of range" has l2 "^$L/bad.conf:3: error: timeout_ms \"0\" is not a number from 1 to 60000"
check "lint: a PCRE2 error with its offset (smite_os)" has l2 "^$L/bad.conf:5: error: smite_os: regex \"\(windows\" does not compile: missing closing parenthesis at offset 8"
check "lint: host bits beyond the prefix" has l2 "^$L/bad.conf:6: error: exempt \"10.1.2.3/8\": address has bits set beyond the prefix length"
check "lint: not an address" has l2 "^$L/bad.conf:7: error: exempt \"nonsense\": not an IP address"
check "lint: a bad port" has l2 "^$L/bad.conf:8: error: port \"99999\" is not a number from 1 to 65535"
check "lint: a bad version" has l2 "^$L/bad.conf:9: error: version \"4\""
check "lint: an unknown facility" has l2 "^$L/bad.conf:10: error: unknown log_facility \"bogus\""
check "lint: a relative path" has l2 "^$L/bad.conf:11: error: log_socket must be an absolute path"
check "lint: an unknown p0f_user" has l2 "^$L/bad.conf:12: error: p0f_user \"no-such-user-p0fshim\": no such user"
check "lint: an ident/p0f option without value" has l2 "^$L/bad.conf:13: error: ident/p0f option \"smite_os\" has no value"
check "lint: a directive without value" has l2 "^$L/bad.conf:14: error: add_headers needs a value"
check "lint: two definitions of the v3 source, with their lines" has l2 "^$L/bad.conf: error: socket/version and a p0f3 or ident/p0f line both define the p0f v3 source \(socket/version on line 1; source lines 15\)"
check "lint: PCRE2 errors in the blocked-OS file, with offsets" eval 'has l2 "^$L/bad.blocked:2: error: regex \"win\(dows\" does not compile: missing closing parenthesis at offset 8" &&
    has l2 "^$L/bad.blocked:8: error: regex \"\[z-a\]\" does not compile: range out of order in character class at offset 3"'
check "lint: every error in one run (15)" eval 'count_is l2 ": error: " 15 && has l2 "p0fshim lint: $L/bad.conf: 15 errors"'
check "lint: a phrase that differs in case" has l2 "^$L/bad.blocked:3: warning: phrase \"windows 7 or 8\" equals no genre of $L/p0f.fp: phrases are case-sensitive; did you mean \"Windows 7 or 8\"\?"
check "lint: an empty // regex blocks every identified OS" has l2 "^$L/bad.blocked:4: warning: // \(an empty regex\) matches every genre"
check "lint: a phrase that is only part of a genre" has l2 "^$L/bad.blocked:5: warning: phrase \"Windows\" equals no genre .*for part of it write /Windows/"
check "lint: a half regex" has l2 "^$L/bad.blocked:6: warning: \"/windows\" looks like a regex but lacks a slash"
check "lint: a repeated entry" has l2 "^$L/bad.blocked:7: warning: \"/linux/\" repeats line 1"
check "lint: a regex that matches no genre p0f knows" has l2 "^$L/bad.blocked:9: warning: /solaris/ matches no genre of $L/p0f.fp"
check "lint: the p0f socket of the source in force is probed" has l2 "^$L/bad.conf:15: warning: p0f v3 socket $WORK/other.sock: no p0f socket"
check "lint: no raw control bytes in its output" no_raw_controls l2
# the library agrees: this configuration does not load
t l2c "$P" check "$WIN" --config "$L/bad.conf" --os Windows
check "lint's errors are the library's: check exits 5 on the same file" rc_is 5

cat >"$L/warn.conf" <<EOF
socket $WORK/m-badmagic.sock
blocked_os_file $L/absent.blocked
timeout_ms 5
timeout_ms 10
smite_os .
log_socket $L/no-log.sock
programs smtpdd /usr/sbin/exim4
EOF
fake m-badmagic --mode badmagic
lint l3 --config "$L/warn.conf"
check "lint: warnings only: exit 3" eval 'rc_is 3 && has l3 "0 errors, 10 warnings"'
check "lint: timeout_ms too short" has l3 "^$L/warn.conf:3: warning: timeout_ms 5 leaves p0f no time"
check "lint: a directive given twice" has l3 "^$L/warn.conf:4: warning: timeout_ms is also set on line 3: this line, the last one, wins"
check "lint: smite_os that matches everything" has l3 "^$L/warn.conf:5: warning: smite_os matches every genre"
check "lint: a socket that is not p0f (bad magic)" has l3 "^$L/warn.conf:1: warning: p0f v3 socket .*bad magic 0xdeadbeef"
check "lint: the log socket is missing" has l3 "^$L/warn.conf:6: warning: log_socket $L/no-log.sock: No such file or directory"
check "lint: programs: a name found nowhere" has l3 "^$L/warn.conf:7: warning: programs: \"smtpdd\" names no executable in PATH, /usr/lib/postfix/sbin or /usr/sbin"
check "lint: programs: a path is not a name" has l3 "^$L/warn.conf:7: warning: programs: \"/usr/sbin/exim4\" contains a slash"
check "lint: programs: none exists" has l3 "^$L/warn.conf:7: warning: none of the programs exists"
check "lint: the blocked-OS file is missing" has l3 "^$L/warn.conf:2: warning: blocked-OS file $L/absent.blocked does not exist: nothing is blocked"
t l3c "$P" check "$WIN" --config "$L/warn.conf" --os Windows
check "lint's warnings are not errors: the library loads that file" eval '[ "$RC" -ne 5 ]'

kill "${FAKE_PIDS[-1]}" 2>/dev/null; wait "${FAKE_PIDS[-1]}" 2>/dev/null   # gone, not still answering
lint l4 --config "$L/warn.conf"
check "lint: p0f socket unreachable" has l4 "^$L/warn.conf:1: warning: p0f v3 socket $WORK/m-badmagic.sock: (no p0f socket|nobody listens)"

mkdir -p "$L/ww" && cp "$L/good.conf" "$L/ww/conf" && echo "tmeout_ms 3" >>"$L/ww/conf" && chmod 666 "$L/ww/conf"
lint l5 --config "$L/ww/conf"
check "lint: a world-writable configuration: the library refuses it (error)" eval 'rc_is 1 && has l5 "^$L/ww/conf: error: the library refuses this configuration: writable by everyone"'
check "lint: ... and its content is still linted" has l5 "^$L/ww/conf:11: error: unknown directive \"tmeout_ms\""
cp "$L/blocked" "$L/gw.blocked" && chmod 664 "$L/gw.blocked"
sed "s|^blocked_os_file .*|blocked_os_file $L/gw.blocked|" "$L/good.conf" >"$L/gw.conf"
lint l6 --config "$L/gw.conf"
check "lint: a group-writable blocked-OS file: error" eval 'rc_is 1 && has l6 "^$L/gw.blocked: error: the library refuses this blocked-OS file: writable by its group"'
mkdir -p "$L/opendir" && chmod 777 "$L/opendir" && cp "$L/good.conf" "$L/opendir/conf"
lint l7 --config "$L/opendir/conf"
check "lint: a configuration in a world-writable directory: the library refuses it (error)" eval 'rc_is 1 && has l7 "^$L/opendir/conf: error: the library refuses this configuration: its directory $L/opendir is writable by everyone"'
lint l8 --config "$L/missing.conf"
check "lint: a named configuration that is missing: error" eval 'rc_is 1 && has l8 "^$L/missing.conf: error: no such file"'
lint l9 --config "$L"
check "lint: a directory: error" eval 'rc_is 1 && has l9 "cannot read the configuration: Is a directory"'
printf 'socket %s\nports 25\0 587\n' "$S" >"$L/nul.conf"
lint l10 --config "$L/nul.conf"
check "lint: a NUL byte" has l10 "^$L/nul.conf:2: error: NUL byte in line"

# A Postfix that runs smtpd chrooted where the socket cannot be found, then one where it can.
mkdir -p "$L/postfix" "$L/spool/p0f"
cat >"$L/postfix/master.cf" <<'EOF'
# service type  private unpriv  chroot  wakeup  maxproc command + args
smtp      inet  n       -       y       -       -       smtpd
pickup    unix  n       -       y       60      1       pickup
EOF
printf 'queue_directory = %s/spool\n' "$L" >"$L/postfix/main.cf"
t l11 env PATH="$L/bin:$PATH" "$P" lint --fp "$L/p0f.fp" --postfix-dir "$L/postfix" --config "$L/good.conf"
check "lint: programs without smtpd: the Postfix chroot is not its business" eval 'rc_is 0'
sed '/^programs/d' "$L/good.conf" >"$L/pf.conf"
t l12 env PATH="$L/bin:$PATH" "$P" lint --fp "$L/p0f.fp" --postfix-dir "$L/postfix" --config "$L/pf.conf"
check "lint: smtpd chrooted where the p0f socket is not: warning at master.cf:2" eval 'rc_is 3 && has l12 "^$L/postfix/master.cf:2: warning: service \"smtp\" runs smtpd chrooted in $L/spool, where the p0f socket $S cannot be found"'
rm -f "$L/spool/p0f/p0f.sock"
spawn "$HELPERS/fake_p0f" --socket "$L/spool/p0f/p0f.sock" --ready-file "$L/spool.ready" "${HOSTS[@]}"
wait_for 5 test -e "$L/spool.ready"
sed "s|^socket .*|socket $L/spool/p0f/p0f.sock|" "$L/pf.conf" >"$L/pf2.conf"
t l13 env PATH="$L/bin:$PATH" "$P" lint --fp "$L/p0f.fp" --postfix-dir "$L/postfix" --config "$L/pf2.conf"
check "lint: a socket inside the chroot (found as /p0f/p0f.sock there): clean" eval 'rc_is 0 && has l13 "0 errors, 0 warnings"'

# =============================================================================================
echo "# report on the recorded samples"
cd "$SAMPLES" || fail_now "no $SAMPLES"
t r1 "$P" report --year 2024 --csv mail.log
check "report: exit 0" rc_is 0
for r in "summary,lines,,30" "summary,shim_lines,,24" "summary,connection_lines,,14" "summary,connections,,15" \
         "summary,diagnostics,,3" "summary,not_syslog,,2" "summary,unparsable_shim,,7" \
         "summary,other_lines,,4" "summary,unparsable,,9" "summary,first,,2024-11-27 04:00:01" \
         "summary,last,,2024-11-27 05:59:59" "verdict,allow,,5" "verdict,block,,6" "verdict,exempt,,1" \
         "verdict,unknown,,2" "verdict,error,,1" "percent,block,,40.00" "percent,unknown,,13.33" \
         "percent,error,,6.67" "match,exact,,7" "match,generic,,5" "match,fuzzy,,1" "karma,connections,,6" \
         "karma,sum,,-6" "ms,median,,2" "ms,p95,,500" "ms,max,,500" "os,Windows,all,7" "os,Windows,block,6" \
         "os,Windows,exempt,1" "os,Linux,all,4" "os,,all,1" "genre,Windows NT kernel,all,3" \
         'genre,Windows 7 or 8,all,3' "genre,Windows XP,block,1" \
         "rule,/windows/,/etc/p0fshim/blocked_operating_systems:1,5" \
         'rule,Windows XP,/etc/p0fshim/blocked_operating_systems:3,1' \
         "blocked_ip,192.0.2.20,,3" "blocked_ip,198.51.100.99,,2" "blocked_ip,198.51.100.7,,1" \
         "karma_ip,192.0.2.20,,-3" "karma_ip,198.51.100.99,,-2" "karma_ip,198.51.100.7,,-1" \
         'reason,no match,unknown,1' 'reason,os not identified,unknown,1' \
         'reason,p0f connect: No such file or directory,error,1' "exempt,192.0.2.128/25,all,1" \
         'diagnostic,cannot reach p0f,warning,2' 'diagnostic_suppressed,cannot reach p0f,warning,12' \
         'diagnostic,config error,error,1'; do
    check "report mail.log: $r" row r1 "$r"
done
check "report: hours" eval 'row r1 "hour,2024-11-27 04:00,all,12" && row r1 "hour,2024-11-27 04:00,block,5" && row r1 "hour,2024-11-27 05:00,all,3" && row r1 "hour,2024-11-27 05:00,allow,2"'
check "report: IPv6 remote counted" eval '[ $(grep -c "^os,Linux" "$WORK/r1.out") -ge 1 ] && row r1 "genre,Linux 3.11 and newer,all,2"'
check "report: forged fields inside quoted values stay inside them" eval 'lacks r1 "^blocked_ip,203\.0\.113\.50" && row r1 "genre,\"Linux verdict=block karma=-9 x\"\" verdict=block rule=\"\"/evil/\",all,1"'
check "report: a tag inside another program's message is not the shim's" lacks r1 "203\.0\.113\.66"
check "report: rsyslog's \"message repeated 2 times\" counts twice" row r1 "blocked_ip,198.51.100.99,,2"
t r2 "$P" report --year 2024 --show-unparsable 20 mail.log
check "report: every unparsable line shown with file:line and why" eval 'has r2 "^unparsable lines: 9 \(the first 9 shown\)" &&
    has r2 "^  mail.log:15: unterminated quoted value \(a truncated line\?\)" &&
    has r2 "^  mail.log:16: message longer than the shim ever writes" &&
    has r2 "^  mail.log:17: not a syslog line \(no timestamp\) nor a p0fshim message: \"(\\\\x00){64}\"" &&
    has r2 "^  mail.log:18: not a syslog line .*\"\\\\xff\\\\xfe\\\\x01\\\\x02 binary \\\\x80\\\\x81junk\\\\x7f\"" &&
    has r2 "^  mail.log:19: raw control or non-ASCII byte in a quoted value" &&
    has r2 "^  mail.log:20: a field given twice" && has r2 "^  mail.log:21: unknown verdict" &&
    has r2 "^  mail.log:26: line longer than 16 KiB" &&
    has r2 "^  mail.log:29: neither a connection \(remote=...\) nor a diagnostic \(level=...\)"'
check "report: the text report has no raw control bytes" no_raw_controls r2
t r3 "$P" report --year 2024 mail.log
check "report: the first 5 unparsable lines by default" eval 'has r3 "^unparsable lines: 9 \(the first 5 shown\)" && [ $(grep -c "^  mail.log:[0-9]*: " "$WORK/r3.out") -eq 5 ]'
check "report: every line accounted for (text)" eval 'has r3 "^p0fshim report: 1 input, 30 lines: 24 from p0fshim, 4 from other programs, 2 not syslog lines\$" &&
    has r3 "^p0fshim lines: 14 connection lines \(15 connections\), 3 diagnostics, 7 unparsable\$"'
check "report: text sections" eval 'has r3 "^verdicts:" && has r3 "^  block +6 +40.0%" && has r3 "^top blocked IPs \(3 of 3\):" && has r3 "^karma per IP" && has r3 "^per hour:" && has r3 "^  2024-11-27 04:00 +12 +3 +5 +1 +2 +1"'
t r4 "$P" report --year 2024 --csv mail.log.2.gz mail.log.1 mail.log
check "report: rotated files, plain and .gz, in one run" eval 'rc_is 0 && row r4 "summary,inputs,,3" && row r4 "summary,lines,,36" &&
    row r4 "input,mail.log.2.gz,lines,3" && row r4 "input,mail.log.1,lines,3" && row r4 "summary,connections,,20" &&
    row r4 "verdict,block,,8" && row r4 "blocked_ip,192.0.2.20,,4" && row r4 "blocked_ip,198.51.100.7,,2" &&
    row r4 "summary,first,,2024-11-26 22:00:00" && row r4 "hour,2024-11-26 23:00,all,2"'
t r5 "$P" report --year 2024 --csv --top 1 mail.log.2.gz mail.log.1 mail.log
check "report --top 1" eval 'count_is r5 "^blocked_ip," 1 && row r5 "blocked_ip,192.0.2.20,,4" && count_is r5 "^karma_ip," 1'
t r6 "$P" report --year 2024 --csv --since "2024-11-27 05:00" --until "2024-11-27 05:30:00" mail.log.2.gz mail.log.1 mail.log
check "report --since/--until" eval 'row r6 "summary,connections,,2" && row r6 "summary,outside_window,,18" && row r6 "summary,unparsable_shim,,7" && row r6 "summary,connection_lines,,2" && row r6 "verdict,block,,1" && row r6 "verdict,allow,,1" && row r6 "summary,diagnostics,,2"'
t r7 "$P" report --year 2024 --csv journal-short.txt
check "report: journalctl -o short (with its -- markers)" eval 'row r7 "summary,lines,,5" && row r7 "summary,connections,,3" && row r7 "summary,other_lines,,2" && row r7 "summary,unparsable,,0" && row r7 "verdict,block,,2"'
t r8 "$P" report --csv journal-iso.txt
check "report: RFC 3339 / short-iso timestamps (zone not applied)" eval 'row r8 "summary,connections,,3" && row r8 "hour,2024-11-27 06:00,all,2" && row r8 "hour,2024-11-27 07:00,all,1" && row r8 "summary,other_lines,,1"'
t r9 sh -c "\"$P\" report --csv < journal-cat.txt"
check "report: journalctl -o cat on stdin: undated, counted" eval 'row r9 "summary,connections,,3" && row r9 "summary,undated,,3" && row r9 "summary,diagnostics,,1" && row r9 "summary,unparsable,,1" && row r9 "unparsable,(stdin):5,not a syslog line (no timestamp) nor a p0fshim message,this is not a p0fshim message"'
t r10 sh -c "\"$P\" report --csv --since 2024-11-27 < journal-cat.txt"
check "report: undated lines are left out of a time window, and counted" eval 'row r10 "summary,connections,,0" && row r10 "summary,undated_left_out,,4"'
t r11 "$P" report --year 2026 --csv datagrams.txt
check "report: raw datagrams as the shim sends them (<PRI>, no host)" eval 'row r11 "summary,connections,,5" && row r11 "verdict,unknown,,2" && row r11 "exempt,127.0.0.6/32,all,1" && row r11 "rule,/windows/,/tmp/tq/shim.blocked:1,1"'
t r12 "$P" report --year 2024 --json mail.log.2.gz mail.log.1 mail.log journal-short.txt
check "report --json: valid, with the totals" eval 'rc_is 0 && json_ok r12 && hasF r12 "\"connections\":23" && hasF r12 "\"verdicts\":{\"allow\":8,\"block\":10,\"exempt\":1,\"unknown\":3,\"error\":1,\"greylist\":0,\"pass_greylist\":0}" && hasF r12 "{\"ip\":\"192.0.2.20\",\"karma\":-4,\"lines\":4}"'
head -c 200 mail.log.2.gz >"$WORK/truncated.log.3.gz"
t r13 "$P" report --csv "$WORK/truncated.log.3.gz" mail.log.1
check "report: a truncated .gz: exit 1, said so, the rest still counted" eval 'rc_is 1 && ehas r13 "gzip -dc failed" && has r13 "^input,$WORK/truncated.log.3.gz,error," && row r13 "input,mail.log.1,lines,3"'
t r14 sh -c "cat mail.log.2.gz | \"$P\" report --csv"
check "report: gzip through a pipe is refused with a clear message" eval 'rc_is 1 && ehas r14 "standard input is gzip-compressed"'
t r14b sh -c "\"$P\" report --csv --year 2024 < mail.log.2.gz"
check "report: a .gz file redirected to stdin is read (a file, not a pipe)" eval 'rc_is 0 && row r14b "summary,connections,,3"'
t r15 "$P" report --csv "$WORK/nonexistent.log" mail.log.1
check "report: a missing file: exit 1, the others counted" eval 'rc_is 1 && ehas r15 "nonexistent.log: No such file or directory" && row r15 "summary,connections,,2"'
t r16 "$P" report --csv /dev/null
check "report: empty input" eval 'rc_is 0 && row r16 "summary,lines,,0"'
printf 'Nov 27 04:00:01 mx1 p0fshim[1]: remote=192.0.2.1:1 local=192.0.2.2:25 verdict=allow ms=1' >"$WORK/nonl.log"
t r17 "$P" report --year 2024 --csv "$WORK/nonl.log"
check "report: a last line without newline is counted" row r17 "summary,connections,,1"
t r18 sh -c "cat mail.log | \"$P\" report --year 2024 --csv"
same() { grep -v "^input," "$1" | sed "s/^unparsable,[^:]*:/unparsable,IN:/"; }
check "report: a pipe gives the same numbers as the mapped file" eval 'diff <(same "$WORK/r1.out") <(same "$WORK/r18.out")'
t r19 "$P" report --year 2024 --csv "$WORK"
check "report: a directory is an input error" eval 'rc_is 1 && ehas r19 "is a directory"'

t r20 "$P" report --year 2024 --csv hold-greylist.log
check "report: greylisting verdicts, actions (hold mode), v2 fields" eval 'rc_is 0 && row r20 "verdict,greylist,,1" &&
    row r20 "verdict,pass_greylist,,1" && row r20 "verdict,block,,2" && row r20 "action,reject,,1" &&
    row r20 "action,tempfail,,1" && row r20 "action,close,,1" && row r20 "summary,unparsable,,0" &&
    row r20 "genre,Linux 2.2.x-3.x,greylist,1" && row r20 "genre,Linux 2.2.x-3.x,pass_greylist,1"'
t r21 "$P" report --year 2024 hold-greylist.log
check "report: text tables get greylist columns only when greylisting occurs" eval 'has r21 "^  hour +conns +allow +block +greylist pass_gre" && has r3 "^  hour +conns +allow +block +exempt +unknown +error$" && has r21 "refused by: close 1, reject 1, tempfail 1"'

echo "# report on generated logs"
t g1 bash "$TOP/tests/tool/gen_log.sh" 3000 7
t g2 bash "$TOP/tests/tool/gen_log.sh" 3000 7
check "gen_log.sh: deterministic for a seed" eval 'cmp -s "$WORK/g1.out" "$WORK/g2.out" && [ $(wc -l <"$WORK/g1.out") -eq 3000 ]'
t g3 "$P" report --year 2024 --csv "$WORK/g1.out"
sum=$(awk -F, '$1=="verdict"{s+=$4} END{print s}' "$WORK/g3.out")
conns=$(awk -F, '$1=="summary" && $2=="connections"{print $4}' "$WORK/g3.out")
check "report on gen_log.sh: every line accounted for, verdicts add up" eval 'row g3 "summary,lines,,3000" && row g3 "summary,unparsable,,0" && [ "$sum" = "$conns" ] && [ "$conns" -gt 2500 ]'
t g4 "$P" report --year 2024 --csv --max-ips 16 "$WORK/g1.out"
check "report --max-ips 16: bounded, said to be approximate, totals exact" eval 'has g4 "^approximate,ips,error_bound,[0-9]+" && row g4 "summary,connections,,$conns"'
t g5 "$P" report --year 2024 --json --max-ips 16 "$WORK/g1.out"
check "report --json --max-ips 16: approximate" hasF g5 '"approximate":true'
cd "$TOP" || true

# =============================================================================================
echo "# fail2ban filter"
if command -v fail2ban-regex >/dev/null; then
    f2b() { t "$1" fail2ban-regex -v "$2" "$3"; }
    f2b f1 "$SAMPLES/fail2ban.log" "$F2B_FILTER"
    check "fail2ban: block or negative karma: 5 of 13 lines" has f1 "^Lines: 13 lines, 0 ignored, 5 matched, 8 missed"
    check "fail2ban: the addresses (IPv4, IPv6, ISO dates)" eval 'for ip in 192.0.2.61 192.0.2.62 2001:db8::63 192.0.2.70 192.0.2.73; do has f1 "^\|      $ip " || exit 1; done'
    check "fail2ban: forged fields, tags and diagnostics are not matched" eval 'for ip in 64 65 66 67 71 72; do lacks f1 "^\|      192\.0\.2\.$ip " || exit 1; done'
    f2b f2 "$SAMPLES/fail2ban.log" "$F2B_FILTER[mode=block]"
    check "fail2ban: mode=block: 3 lines" has f2 "^Lines: 13 lines, 0 ignored, 3 matched, 10 missed"
    f2b f3 "$SAMPLES/fail2ban.log" "$F2B_FILTER[mode=karma]"
    check "fail2ban: mode=karma: 4 lines" has f3 "^Lines: 13 lines, 0 ignored, 4 matched, 9 missed"
    f2b f4 "$SAMPLES/mail.log" "$F2B_FILTER"
    check "fail2ban: the recorded mail.log: 6 lines" has f4 "Lines: 30 lines, 0 ignored, 6 matched, 24 missed|Lines: 28 lines, 0 ignored, 6 matched, 22 missed"
    f2b f5 "$SAMPLES/journal-short.txt" "$F2B_FILTER"
    check "fail2ban: journalctl -o short: 2 lines" has f5 "0 ignored, 2 matched"
else
    skip "fail2ban-regex is not installed (scripts/install-deps.sh installs fail2ban)"
fi

# =============================================================================================
echo "# man pages"
for page in "$TOP/man/p0fshim.1" "$TOP/man/p0fshim.8" "$TOP/man/blocked_operating_systems.5"; do
    pg=$(basename "$page")
    t "man-$pg" groff -man -Tutf8 -ww -z "$page"
    check "man $pg: groff -ww has no warnings" eval '[ ! -s "$WORK/man-$pg.err" ] || { show "$WORK/man-$pg.err"; false; }'
    t "manl-$pg" env MANWIDTH=80 man -l "$page"
    check "man $pg: man -l renders it" eval 'rc_is 0 && has "manl-$pg" "^NAME"'
done

# =============================================================================================
echo "# query and check against Debian's p0f on loopback"
if [ "$(id -u)" -ne 0 ] || ! command -v p0f >/dev/null; then
    skip "real p0f tests (need root and p0f)"
else
    R=$WORK/real
    mkdir -p "$R"
    RPORT=$((PORT_BASE + 1))
    spawn p0f -i lo -s "$R/p0f.sock" "tcp port $RPORT" >"$R/p0f.out" 2>&1
    if ! wait_for 10 test -S "$R/p0f.sock"; then
        check "real p0f started" false
        show "$R/p0f.out"
    else
        spawn "$HELPERS/testsrv" --model loop --listen "127.0.0.1:$RPORT" --ready-file "$R/srv.ready"
        wait_for 5 test -e "$R/srv.ready"
        "$HELPERS/testclient" --connect "127.0.0.1:$RPORT" --expect served --hold-ms 50 >"$R/client.out" 2>&1
        wait_for 5 "$P" query 127.0.0.1 --socket "$R/p0f.sock" >/dev/null 2>&1
        t p1 "$P" query 127.0.0.1 --socket "$R/p0f.sock"
        check "real p0f: query 127.0.0.1: exit 0, Linux" eval 'rc_is 0 && has p1 "^Detected OS   = Linux "'
        t p2 "$P" query 127.0.0.1 --socket "$R/p0f.sock" --json
        check "real p0f: query --json" eval 'rc_is 0 && hasF p2 "\"status\":\"ok\"" && hasF p2 "\"os_name\":\"Linux\"" && json_ok p2'
        t p3 "$P" query ::ffff:127.0.0.1 --socket "$R/p0f.sock"
        check "real p0f: an IPv4-mapped address is found (asked as IPv4)" eval 'rc_is 0 && has p3 "^Detected OS   = Linux "'
        t p4 "$P" query 127.0.0.77 --socket "$R/p0f.sock"
        check "real p0f: an address it never saw: NOMATCH, exit 1" rc_is 1
        printf '/linux/\n' >"$R/blocked"
        printf 'socket %s\nblocked_os_file %s/blocked\nsmite_os linux\nports %s\nlog_socket %s/log.sock\ntimeout_ms 1000\nfingerprint p0f\n' \
            "$R/p0f.sock" "$R" "$((RPORT + 1))" "$R" >"$R/conf"
        t p5 "$P" check 127.0.0.1 --config "$R/conf"
        check "real p0f: check: block by /linux/ at blocked:1, karma" eval 'rc_is 1 && has p5 "^verdict: block" && has p5 "rule: +/linux/ \($R/blocked:1\)" && has p5 "karma=-1( |\$)"'
        printf 'exempt 127.0.0.0/8\n' >>"$R/conf"
        t p6 "$P" check 127.0.0.1 --config "$R/conf"
        check "real p0f: check: exempt 127.0.0.0/8 at conf:8" eval 'rc_is 0 && has p6 "^verdict: exempt" && has p6 "127.0.0.0/8 \($R/conf:8\)"'
        # The shim itself, on the same p0f and configuration (without the exemption): its log line
        # and check's verdict agree, and report reads what it wrote.
        sed -i '$d' "$R/conf"
        spawn "$HELPERS/logsink" "$R/log.sock" "$R/log.txt"
        wait_for 5 test -S "$R/log.sock"
        spawn env LD_PRELOAD="$LIB" P0FSHIM_CONFIG="$R/conf" "$HELPERS/testsrv" --model loop \
            --listen "127.0.0.1:$((RPORT + 1))" --ready-file "$R/shim.ready"
        wait_for 5 test -e "$R/shim.ready"
        "$HELPERS/testclient" --connect "127.0.0.1:$((RPORT + 1))" --expect closed --timeout-ms 3000 >"$R/client2.out" 2>&1
        wait_for 5 grep -q "verdict=" "$R/log.txt"
        t p7 "$P" report --csv "$R/log.txt"
        check "real p0f: the shim blocked 127.0.0.1 as check said, report reads its line" eval 'row p7 "verdict,block,,1" && row p7 "blocked_ip,127.0.0.1,,1" && row p7 "rule,/linux/,$R/blocked:1,1" && row p7 "karma_ip,127.0.0.1,,-1" && row p7 "summary,unparsable,,0"'
        # cutoff= and client_sent= describe the connection when it was cut off: check has none.
        logged=$(sed -nE 's/.* verdict=block ms=[0-9]+ (.*)$/\1/p' "$R/log.txt" |
            sed -E 's/ (uptime_min|total_conn|client_sent)=[0-9]+//g; s/ cutoff=[a-z_]+//')
        t p8 "$P" check 127.0.0.1 --config "$R/conf"
        said=$(sed -nE 's/^  log: .* verdict=block (.*)$/\1/p' "$WORK/p8.out" | sed -E 's/ (uptime_min|total_conn)=[0-9]+//g')
        check "real p0f: check's log fields are the shim's (uptime and counters aside)" eval '[ -n "$said" ] && [ "$said" = "$logged" ] || { echo "# shim:  $logged"; echo "# check: $said"; false; }'
    fi
fi

# ---- the SYN fingerprinter in check and lint ---------------------------------------------------
F=$WORK/synfp
mkdir -p "$F"
"$HELPERS/syngen" --from-fp /etc/p0f/p0f.fp --out "$F/fp.pcap" --index "$F/fp.idx" 2>"$F/syngen.err"
WINSRC=$(awk -F'\t' '$4 ~ /label=s:win:Windows:XP$/ && $1 !~ /^[0-9a-f]*:[0-9a-f]*:/ {sub(/:[0-9]+$/, "", $1); print $1; exit}' "$F/fp.idx")
printf '/windows/\n' >"$F/blocked"
printf 'fingerprint auto\nblocked_os_file %s\nlog_socket %s/log.sock\naction reject\nfp_file /etc/p0f/p0f.fp\n' \
    "$F/blocked" "$F" >"$F/conf"
chmod 644 "$F/conf" "$F/blocked"
t s1 "$P" check "$WINSRC" --config "$F/conf" --pcap "$F/fp.pcap"
check "check --pcap: the Windows XP SYN ($WINSRC) is blocked from the SYN, exit 1" eval 'rc_is 1 &&
    has s1 "^  SYN: +from .*: \"Windows\" flavor \"XP\", exact match \(/etc/p0f/p0f.fp:[0-9]+\)" && has s1 "^verdict: block" &&
    has s1 "accept\(\) would decide before it returns, from the SYN" &&
    hasF s1 "verdict=block fp=syn os=\"Windows\" flavor=\"XP\" genre=\"Windows XP\" match=exact" && has s1 "sig=\"4:12[0-9]\+[0-9]+:0:"'
t s2 "$P" check "$WINSRC" --config "$F/conf" --pcap "$F/fp.pcap" --json
check "check --pcap --json: fingerprint auto, the syn object, p0f not asked" eval 'rc_is 1 &&
    hasF s2 "\"fingerprint\":\"auto\",\"syn\":{\"pcap\":" && hasF s2 "\"os_name\":\"Windows\",\"os_flavor\":\"XP\",\"match\":\"exact\"" && hasF s2 "\"p0f\":{\"asked\":false}"'
t s3 "$P" check 198.51.100.99 --config "$F/conf" --pcap "$F/fp.pcap"
check "check --pcap: no SYN from the address in the capture: exit 2, said" eval 'rc_is 2 && grep -q "no SYN from 198.51.100.99 in" "$WORK/s3.err"'
t s4 "$P" check "$WINSRC" --config "$F/conf" --socket "$F/none.sock"
check "check without --pcap under fingerprint auto: says the SYN is only seen in the daemon" eval 'has s4 "^  source: +fingerprint auto: the library decides a live connection from its SYN"'
t s5 "$P" check "$WINSRC" --config "$F/conf" --pcap "$F/fp.pcap" --os Windows
check "check: --pcap and --os together are refused (exit 2)" rc_is 2

printf '%s\n' 'Dec  3 08:04:08 mx p0fshim[9078]: remote=192.0.2.10:49580 local=192.0.2.1:25 verdict=block ms=0 fp=syn os="Windows" flavor="NT kernel" genre="Windows NT kernel" match=generic distance=0 sig="4:128+0:0:1460:mss*44,0:mss,nop,nop,sok:df,id+:0" rule="/windows/" rule_at="/b:2" action=reject' \
    'Dec  3 08:04:09 mx p0fshim[9078]: remote=192.0.2.11:49580 local=192.0.2.1:25 verdict=allow ms=3 fp=p0f os="Linux" flavor="x" genre="Linux x" match=generic distance=0 uptime_min=1 total_conn=1' \
    'Dec  3 08:04:10 mx p0fshim[9078]: remote=192.0.2.12:49580 local=192.0.2.1:25 verdict=unknown ms=0 fp=syn fp_reason="no saved SYN"' >"$F/fp.log"
t s8 "$P" report "$F/fp.log"
check "report: the fingerprint source of each line is counted (syn 2, p0f 1)" has s8 "^  fingerprint source: syn 2, p0f 1$"
t s9 "$P" report --json "$F/fp.log"
check "report --json: the same under \"fp\"" hasF s9 '"fp":{"syn":2,"p0f":1,"other":0}'
printf '%s\n' "classes = win,unix,other" "[tcp:request]" "label = s:unix:Oddity:x" "sig = 4:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0" \
    "label = s:unix:Oddity:y" "sig = 4:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0" >"$F/dup.fp"
printf '%s\n' "classes = win,unix,other" "[tcp:request]" "label = s:unix:Oddity:x" "sig = 4:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df:zero" >"$F/bad.fp"
chmod 644 "$F/dup.fp" "$F/bad.fp"
printf 'fingerprint syn\nblocked_os_file %s\nlog_socket %s/log.sock\nsocket %s/none.sock\nfp_file %s/bad.fp %s/dup.fp %s/missing.fp /etc/p0f/p0f.fp\n' \
    "$F/blocked" "$F" "$F" "$F" "$F" "$F" >"$F/lint.conf"
chmod 644 "$F/lint.conf"
t s6 "$P" lint --config "$F/lint.conf"
check "lint: a malformed sig= line in an fp_file, at its file and line" eval 'rc_is 1 && has s6 "^$F/bad.fp:4: error: .*p0f would refuse this file"'
check "lint: a signature already covered by an earlier one (p0f's words), at its line" has s6 "^$F/dup.fp:6: error: .*already covered"
check "lint: a missing fp_file is a warning at its config line" has s6 "^$F/lint.conf:5: warning: fp_file $F/missing.fp does not exist"
check "lint: fingerprint syn never asks p0f: no warning about its socket" lacks s6 "p0f v3 socket"
printf 'fingerprint syn\nblocked_os_file %s\nlog_socket %s/log.sock\nfp_file /etc/p0f/p0f.fp\n' "$F/blocked" "$F" >"$F/good.conf"
chmod 644 "$F/good.conf"
t s7 "$P" lint --config "$F/good.conf"
check "lint: fingerprint syn with p0f.fp: no error" eval 'lacks s7 "error:" && lacks s7 "fp_file"'

echo "# the Redis stores: check, lint and report against a real redis-server"
command -v redis-server >/dev/null || fail_now "redis-server is not installed (scripts/install-deps.sh)"
R=$WORK/redis
mkdir -p "$R"
spawn redis-server --port 0 --unixsocket "$R/redis.sock" --requirepass 'pw@x' --save "" --appendonly no --dir "$R" \
    --daemonize no >"$R/redis.out" 2>&1
wait_for 5 test -S "$R/redis.sock" || fail_now "redis-server did not start"
rcli() { redis-cli -s "$R/redis.sock" -a 'pw@x' --no-auth-warning "$@"; }
SLICE=$(( $(date +%s) / 3600 ))   # karma_window 24h: 24 slices of an hour
rcli -n 2 HSET p0fshim:karma:192.0.2.7/32 "$SLICE" 4 >/dev/null
rcli -n 2 HSET p0fshim:greylist:192.0.2.7/32 first_seen $(( $(date +%s) - 10 )) last_seen $(date +%s) attempts 1 checks 1 passes 0 >/dev/null
: >"$R/blocked"; chmod 644 "$R/blocked"
printf '%s\n' "blocked_os_file $R/blocked" "smite_os ^Windows" "greylist_os ^Windows" \
    "greylist_store unix:$R/redis.sock?db=2&password=pw%40x" "karma_store unix:$R/redis.sock?db=2&password=pw%40x" \
    "karma_limit 5" "log_socket $R/log.sock" >"$R/p.conf"
chmod 640 "$R/p.conf"
t k1 "$P" check --config "$R/p.conf" --os Windows --flavor XP 192.0.2.7
check "check: the fleet's count, this connection's hit, karma_limit reached: block, exit 1" \
    eval 'rc_is 1 && has k1 "^  karma:     4 smite_os hits in the last 24h across the fleet \(unix:$R/redis\.sock\?db=2\); this connection would add one: karma_total=5;" &&
          has k1 "karma_limit 5 reached: refused" && has k1 "^  rule:      karma \(karma_limit 5, karma_total=5\)" &&
          has k1 "rule=\"karma\" karma=-1 karma_total=5"'
check "check: no password in its output" lacks k1 "pw@x|pw%40x"
t k2 "$P" check --config "$R/p.conf" --os Linux 192.0.2.7
check "check: an unsmitten client: the count, under the limit, allowed" \
    eval 'rc_is 0 && has k2 "karma:     4 smite_os hits .*; karma_limit 5 not reached" && has k2 "verdict=allow .*karma_total=4$"'
t k3 "$P" check --config "$R/p.conf" --os Windows --flavor XP 192.0.2.8
check "check: the Redis greylist store is read: a first contact is greylisted" \
    eval 'rc_is 1 && has k3 "the greylist store unix:$R/redis\.sock\?db=2 does not know the host: a first contact is greylisted"'
check "check: it recorded nothing (no key for the host in Redis)" \
    eval '[ "$(rcli -n 2 EXISTS p0fshim:greylist:192.0.2.8/32) $(rcli -n 2 EXISTS p0fshim:karma:192.0.2.8/32)" = "0 0" ]'
printf '%s\n' "blocked_os_file $R/blocked" "smite_os ^Windows" "greylist_os ^Windows" \
    "greylist_store unix:$R/redis.sock?db=2&password=pw%40x" >"$R/grey.conf"
chmod 640 "$R/grey.conf"
t k4 "$P" check --config "$R/grey.conf" --os Windows --flavor XP 192.0.2.7
check "check: the seeded greylist record: seen 10 s ago, still early" \
    eval 'rc_is 1 && has k4 "the greylist store unix:$R/redis\.sock\?db=2 saw it first at " && has k4 "a retry before 300 s is greylisted again"'
t k5 "$P" check --json --config "$R/p.conf" --os Windows --flavor XP 192.0.2.7
check "check --json: karma_store {store, hits 4, karma_total 5, window, limit}, rule karma" \
    eval 'rc_is 1 && json_ok k5 && hasF k5 "\"karma_store\":{\"store\":\"unix:$R/redis.sock?db=2\",\"hits\":4,\"karma_total\":5,\"window_s\":86400,\"karma_limit\":5}" &&
          hasF k5 "\"rule\":{\"text\":\"karma\",\"karma_limit\":5}"'
printf '%s\n' "blocked_os_file $R/blocked" "smite_os ^Windows" "karma_store unix:$R/redis.sock?db=2&password=not-this-one" \
    "karma_limit 5" >"$R/wrong.conf"
chmod 640 "$R/wrong.conf"
t k6 "$P" check --config "$R/wrong.conf" --os Windows --flavor XP 192.0.2.7
check "check: a refused login: karma off for the host, the reason, allowed" \
    eval 'rc_is 0 && has k6 "the karma store unix:$R/redis\.sock\?db=2 cannot be read \(.*refused the login.*\): the shim would leave karma off" &&
          lacks k6 "karma_total="'
t k7 "$P" lint --config "$R/wrong.conf"
check "lint: a store it cannot use is a warning naming the cause, never the password" \
    eval 'has k7 "^$R/wrong.conf:3: warning: karma_store: Redis store unix:$R/redis\.sock\?db=2: the server refused the login: .*fleet karma is off" &&
          lacks k7 "not-this-one"'
chmod 644 "$R/wrong.conf"
t k8 "$P" lint --config "$R/wrong.conf"
check "lint: a password in a file everyone can read" has k8 "^$R/wrong.conf: warning: holds a Redis password and is readable by everyone \(mode 0644\)"
printf '%s\n' "blocked_os_file $R/blocked" "karma_limit 3" >"$R/nostore.conf"
chmod 644 "$R/nostore.conf"
t k9 "$P" lint --config "$R/nostore.conf"
check "lint: karma_limit without karma_store" has k9 "^$R/nostore.conf:2: warning: karma_limit without karma_store"
t k10 "$P" lint --config "$R/p.conf"
check "lint: reachable stores: no store warning" eval 'lacks k10 "warning: (greylist|karma)_store" && lacks k10 "password"'
cat >"$R/fleet.log" <<'LOG'
Dec  4 01:10:24 mx1 p0fshim[12878]: remote=192.0.2.10:51902 local=192.0.2.1:25 verdict=allow ms=0 fp=syn os="Windows" flavor="NT kernel" genre="Windows NT kernel" match=generic distance=0 karma=-1 karma_total=3
Dec  4 01:10:25 mx2 p0fshim[2211]: remote=192.0.2.10:51903 local=192.0.2.2:25 verdict=block ms=0 fp=syn os="Windows" flavor="NT kernel" genre="Windows NT kernel" match=generic distance=0 rule="karma" karma=-1 karma_total=4 action=reject reply="554 5.7.1 Connection refused"
Dec  4 01:10:26 mx1 p0fshim[12878]: remote=192.0.2.20:51904 local=192.0.2.1:25 verdict=allow ms=0 fp=syn os="Linux" flavor="3.x" genre="Linux 3.x" match=generic distance=0 karma_total=0
Dec  4 01:10:27 mx2 p0fshim[2211]: remote=192.0.2.30:51905 local=192.0.2.2:25 verdict=allow ms=0 fp=syn os="Linux" flavor="3.x" genre="Linux 3.x" match=generic distance=0 karma_total=7
LOG
t k11 "$P" report --year 2026 "$R/fleet.log"
check "report: the fleet's karma: lines with karma_total=, the highest, the karma_limit refusals" \
    has k11 "^  fleet karma: 4 lines with karma_total=, highest 7, 1 refused by karma_limit$"
check "report: per IP the fleet's highest count" eval 'has k11 "^ +-2 +2 +4  192\.0\.2\.10$" && has k11 "^ +0 +0 +7  192\.0\.2\.30$"'
t k12 "$P" report --year 2026 --csv "$R/fleet.log"
check "report --csv: karma fleet rows, the karma rule" \
    eval 'row k12 "karma,fleet_lines,,4" && row k12 "karma,fleet_max,,7" && row k12 "karma,limit_blocks,,1" && row k12 "rule,karma,,1"'
t k13 "$P" report --year 2026 --json "$R/fleet.log"
check "report --json: karma and karma_ips carry the fleet's figures" \
    eval 'json_ok k13 && hasF k13 "\"fleet_lines\":4,\"fleet_max\":7,\"limit_blocks\":1" && hasF k13 "\"ip\":\"192.0.2.30\",\"karma\":0,\"lines\":0,\"karma_total_max\":7"'
t k14 "$P" report --year 2024 --csv "$SAMPLES/mail.log"
check "report: without karma_total= no fleet rows" lacks k14 "fleet_"

summary
