#!/bin/bash
# End-to-end test: the real p0f daemon watches a network lab (scripts/lab.sh); testsrv runs
# under LD_PRELOAD=libp0fshim.so in the server namespace; a Windows-like and a Linux-like
# client connect from their own namespaces. Needs root. KEEP_WORK=1 keeps the scratch dir.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$TOP/scripts/lab.sh"

require_root
require_built "$LIB" "$HELPERS/testsrv" "$HELPERS/testclient" "$HELPERS/logsink"
command -v p0f >/dev/null || fail_now "p0f is not installed (scripts/install-deps.sh)"

PORT=2525
TIMEOUT_MS=1500          # the shim's verdict deadline
CLIENT_TIMEOUT_MS=4000   # how long a client waits to be closed
SRV=$LAB_SERVER_IP WIN=$LAB_WINDOWS_IP LIN=$LAB_LINUX_IP

CLEANUP_HOOKS+=("lab_down")
lab_up || fail_now "could not build the network lab"
echo "# lab $LAB_PREFIX up (ipv6: $(lab_has_ipv6 && echo yes || echo no)); scratch $WORK"

SCENARIOS=()
SRV_PID= SINK_PID= CUR=
TESTSRV_ARGS=()   # more testsrv options for one scenario

# start_scenario NAME LISTEN CONFIG-LINES...: a fresh p0f (so every scenario sees hosts that p0f
# does not know yet when the shim first asks), a new log sink, config, and testsrv under the shim.
start_scenario() {
    local name=$1 listen=$2; shift 2
    CUR=$name
    SCENARIOS+=("$name")
    local dir=$WORK/$name
    mkdir -p "$dir"
    lab_start_p0f "$WORK/p0f.sock" "$dir/p0f.out" || { echo "# real p0f did not start"; return 1; }
    start_sink "$dir/log.sock" "$dir/log.txt" || { echo "# logsink did not start"; return 1; }
    {
        echo "# e2e scenario $name"
        echo "socket $WORK/p0f.sock"
        echo "version 3"
        echo "ports $PORT"
        echo "timeout_ms $TIMEOUT_MS"
        echo "log_socket $dir/log.sock"
        echo "fingerprint ${FINGERPRINT:-p0f}"
        local l
        for l in "$@"; do echo "$l"; done
    } >"$dir/p0fshim.conf"
    spawn ip netns exec "$LAB_NS_SERVER" env LD_PRELOAD="$LIB" P0FSHIM_CONFIG="$dir/p0fshim.conf" \
        "$HELPERS/testsrv" --model loop --listen "$listen" --ready-file "$dir/ready" \
        --stats-file "$dir/stats" "${TESTSRV_ARGS[@]}" >"$dir/testsrv.out" 2>&1
    SRV_PID=$!
    wait_for 5 test -e "$dir/ready" || { echo "# testsrv did not get ready"; return 1; }
}

# blocked NAME LINES...: write a blocked OS file for scenario NAME, print its path.
blocked() {
    local f=$WORK/$1.blocked; shift
    printf '%s\n' "# blocked operating systems (e2e)" "$@" >"$f"
    echo "$f"
}

stop_scenario() {
    local rc=0
    kill "$SRV_PID" 2>/dev/null
    wait "$SRV_PID" 2>/dev/null || rc=$?
    check "$CUR: testsrv under the shim exits cleanly on SIGTERM" [ "$rc" -eq 0 ]
    check "$CUR: no accept error and errno preserved" \
        grep -Eq 'accept_errors=0 errno_changed=0' "$WORK/$CUR/stats"
    kill "$SINK_PID" 2>/dev/null
    wait "$SINK_PID" 2>/dev/null
    SRV_PID= SINK_PID=
}

# client NS-FUNC TAG EXPECT HOST:PORT: run testclient in a client namespace.
client() {
    local ns=$1 tag=$2 expect=$3 target=$4 ns_name
    case $ns in windows) ns_name=$LAB_NS_WINDOWS ;; linux) ns_name=$LAB_NS_LINUX ;; esac
    ip netns exec "$ns_name" "$HELPERS/testclient" --connect "$target" --expect "$expect" \
        --timeout-ms "$CLIENT_TIMEOUT_MS" >"$WORK/$CUR/client-$tag.out" 2>&1
}

LOGF() { echo "$WORK/$CUR/log.txt"; }
# has_line REGEX: the current scenario's log gets a matching line within 3 s.
has_line() { wait_for 3 log_has "$(LOGF)" "$1"; }
count_is() { [ "$(log_count "$(LOGF)" "$1")" -eq "$2" ]; }

# before_deadline REGEX: the ms= of the first matching line is below the shim's timeout.
before_deadline() {
    local ms
    ms=$(grep -E -m1 -- "$1" "$(LOGF)" | sed -nE 's/.* ms=([0-9]+).*/\1/p')
    [ -n "$ms" ] && [ "$ms" -lt "$TIMEOUT_MS" ]
}

# p0f_saw ADDR OS: p0f's own output shows a SYN from ADDR (p0f's spelling) labelled OS.
p0f_saw() { grep -A1 -F "| client   = $1/" "$WORK/$CUR/p0f.out" | grep -q "| os       = $2"; }

# Prefix of a connection line for a remote IPv4 address.
conn4() { echo "p0fshim\[[0-9]+\]: remote=$(re "$1"):[0-9]+ local=$(re "$SRV"):$PORT verdict=$2 ms=[0-9]+( fp=(syn|p0f))?"; }
conn6() { echo "p0fshim\[[0-9]+\]: remote=\[$(re "$1")\]:[0-9]+ local=\[$(re "$LAB_SERVER_IP6")\]:$PORT verdict=$2 ms=[0-9]+( fp=(syn|p0f))?"; }

# ---- 1. regex rule /windows/ ---------------------------------------------------------------
BL=$(blocked regex "/windows/")
start_scenario regex "$SRV:$PORT" "blocked_os_file $BL" || fail_now "scenario regex did not start"
check "regex: windows client is closed" client windows win closed "$SRV:$PORT"
check "regex: linux client is served" client linux lin served "$SRV:$PORT"
check "regex: p0f itself saw the windows client as Windows" wait_for 3 p0f_saw "$WIN" Windows
check "regex: p0f itself saw the linux client as Linux" wait_for 3 p0f_saw "$LIN" Linux
check "regex: block line for the windows client" \
    has_line "$(conn4 "$WIN" block) os=\"Windows\" flavor=\"NT kernel\" genre=\"Windows NT kernel\" match=[a-z]+ .*rule=\"/windows/\" rule_at=\"$(re "$BL"):2\""
check "regex: allow line for the linux client" \
    has_line "$(conn4 "$LIN" allow) os=\"Linux\" flavor=\"[^\"]*\" genre=\"Linux [^\"]*\""
check "regex: allow line has no rule" bash -c "! grep -E 'remote=$(re "$LIN"):.*rule=' '$(LOGF)'"
check "regex: exactly one line per connection" \
    eval 'count_is "remote=$(re "$WIN"):" 1 && count_is "remote=$(re "$LIN"):" 1'
check "regex: block verdict came before the deadline" before_deadline "$(conn4 "$WIN" block)"
check "regex: syslog header with mail facility" \
    has_line "^<(1[6-9]|2[0-3])>[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} p0fshim\[[0-9]+\]: remote="
stop_scenario

# ---- 2. phrase equal to the exact genre blocks ----------------------------------------------
BL=$(blocked phrase "Windows NT kernel")
start_scenario phrase "$SRV:$PORT" "blocked_os_file $BL" || fail_now "scenario phrase did not start"
check "phrase: windows client is closed" client windows win closed "$SRV:$PORT"
check "phrase: linux client is served" client linux lin served "$SRV:$PORT"
check "phrase: block line with rule=\"Windows NT kernel\"" \
    has_line "$(conn4 "$WIN" block) os=\"Windows\".* rule=\"Windows NT kernel\" rule_at=\"$(re "$BL"):2\""
check "phrase: allow line for the linux client" has_line "$(conn4 "$LIN" allow) os=\"Linux\""
stop_scenario

# ---- 3. phrase differing only in case does not block ------------------------------------------
BL=$(blocked phrase-case "windows nt kernel" "Windows NT Kernel" "Windows")
start_scenario phrase-case "$SRV:$PORT" "blocked_os_file $BL" || fail_now "scenario phrase-case did not start"
check "phrase-case: windows client is served" client windows win served "$SRV:$PORT"
check "phrase-case: allow line for the windows client" \
    has_line "$(conn4 "$WIN" allow) os=\"Windows\" flavor=\"NT kernel\""
check "phrase-case: no block line" bash -c "! grep -q 'verdict=block' '$(LOGF)'"
stop_scenario

# ---- 4. exempt network ------------------------------------------------------------------------
BL=$(blocked exempt "/windows/")
start_scenario exempt "$SRV:$PORT" "blocked_os_file $BL" "exempt 198.51.100.0/24 192.0.2.8/29" ||
    fail_now "scenario exempt did not start"
check "exempt: windows client in an exempt network is served" client windows win served "$SRV:$PORT"
check "exempt: linux client outside it is served" client linux lin served "$SRV:$PORT"
check "exempt: exempt line for the windows client" \
    has_line "$(conn4 "$WIN" exempt).* exempt=\"192\.0\.2\.8/29\""
check "exempt: exempt line has no rule" bash -c "! grep -E 'verdict=exempt.*rule=' '$(LOGF)'"
check "exempt: allow line for the linux client" has_line "$(conn4 "$LIN" allow) os=\"Linux\""
stop_scenario

# ---- 5. smite_os gives karma=-1 -----------------------------------------------------------------
BL=$(blocked smite "/solaris/")
start_scenario smite "$SRV:$PORT" "blocked_os_file $BL" "smite_os windows" ||
    fail_now "scenario smite did not start"
check "smite: windows client is served" client windows win served "$SRV:$PORT"
check "smite: linux client is served" client linux lin served "$SRV:$PORT"
check "smite: karma=-1 for the windows client" \
    has_line "$(conn4 "$WIN" allow) os=\"Windows\".* karma=-1"
check "smite: no karma for the linux client" \
    eval 'has_line "$(conn4 "$LIN" allow)" && ! log_has "$(LOGF)" "remote=$(re "$LIN"):.*karma="'
stop_scenario

# ---- 6. IPv6, on a dual-stack listener (IPv4 peers arrive IPv4-mapped) ------------------------
if lab_has_ipv6; then
    BL=$(blocked ipv6 "/windows/")
    start_scenario ipv6 "[::]:$PORT" "blocked_os_file $BL" || fail_now "scenario ipv6 did not start"
    check "ipv6: windows client over IPv6 is closed" client windows win6 closed "[$LAB_SERVER_IP6]:$PORT"
    check "ipv6: linux client over IPv6 is served" client linux lin6 served "[$LAB_SERVER_IP6]:$PORT"
    check "ipv6: windows client over IPv4 to [::] is closed" client windows win4 closed "$SRV:$PORT"
    check "ipv6: linux client over IPv4 to [::] is served" client linux lin4 served "$SRV:$PORT"
    check "ipv6: p0f itself saw the IPv6 windows client as Windows" \
        wait_for 3 p0f_saw "2001:db8:0:0:0:0:0:10" Windows
    check "ipv6: block line remote=[2001:db8::10]:port" \
        has_line "$(conn6 "$LAB_WINDOWS_IP6" block) os=\"Windows\".* rule=\"/windows/\""
    check "ipv6: allow line remote=[2001:db8::20]:port" \
        has_line "$(conn6 "$LAB_LINUX_IP6" allow) os=\"Linux\""
    check "ipv6: IPv4-mapped windows peer logged as IPv4 and blocked" \
        has_line "$(conn4 "$WIN" block) os=\"Windows\""
    check "ipv6: IPv4-mapped linux peer logged as IPv4 and allowed" \
        has_line "$(conn4 "$LIN" allow) os=\"Linux\""
    check "ipv6: no ::ffff: address in the log" bash -c "! grep -qi '::ffff:' '$(LOGF)'"
    stop_scenario
else
    echo "# no IPv6 in the lab: IPv6 scenario skipped"
fi

# ---- accept queue: a busy MTA that accepts late ------------------------------------------------
# p0f learns hosts on a 5 ms grid; the shim infers its phase from p0f's answers (16 fresh hosts
# accepted at once teach it) and asks about a host just after the first grid instant that follows
# its SYN. A connection that waited 30 ms in the accept queue was established long before accept():
# p0f has known it for 25 ms, so the shim must ask at once (ms=0 or 1 in the log), not at the next
# grid instant after accept (0-5 ms) nor after its fallback delay (about 4 ms after a cold start).
for i in $(seq 221 248); do ip -n "$LAB_NS_LINUX" addr add "192.0.2.$i/$LAB_PREFIXLEN" dev eth0; done
TESTSRV_ARGS=(--slow-accept-after 16 --slow-accept-ms 30)
start_scenario accept-queue "$SRV:$PORT" || fail_now "scenario accept-queue did not start"
TESTSRV_ARGS=()
served=0
for i in $(seq 221 248); do
    ip netns exec "$LAB_NS_LINUX" "$HELPERS/testclient" --connect "$SRV:$PORT" --bind "192.0.2.$i" --expect served \
        --hold-ms 0 --timeout-ms "$CLIENT_TIMEOUT_MS" >>"$WORK/$CUR/client-queue.out" 2>&1 && served=$((served + 1))
    sleep "0.00$((7 + RANDOM % 5))"
done
check "accept-queue: 28 fresh linux hosts served ($served)" [ "$served" -eq 28 ]
wait_for 3 eval '[ "$(grep -c "verdict=allow" "$(LOGF)")" -ge 28 ]'
ms_of() { grep -E -m1 "remote=$(re "192.0.2.$1"):[0-9]+ " "$(LOGF)" | sed -nE 's/.* ms=([0-9]+).*/\1/p'; }
early=() late=() prompt=0
for i in $(seq 221 236); do early+=("$(ms_of "$i")"); done
for i in $(seq 237 248); do late+=("$(ms_of "$i")"); [ "$(ms_of "$i")" -le 1 ] 2>/dev/null && prompt=$((prompt + 1)); done
echo "# accept-queue: verdict ms, accepted at once: ${early[*]}; after 30 ms in the queue: ${late[*]}"
check "accept-queue: every connection judged allow by p0f's answer" \
    eval '[ "$(grep -cE "verdict=allow ms=[0-9]+ fp=p0f os=\"Linux\"" "$(LOGF)")" -eq 28 ]'
check "accept-queue: queued connections judged at once ($prompt of 12 with ms <= 1)" [ "$prompt" -ge 10 ]
stop_scenario

if [ "$FAILED" -gt 0 ]; then
    for s in "${SCENARIOS[@]}"; do
        printf '%s\n' "${FAILED_NAMES[@]}" | grep -q "^$s:" || continue
        echo "---- scenario $s: config"
        sed 's/^/    /' "$WORK/$s/p0fshim.conf"
        echo "---- scenario $s: captured log lines"
        sed 's/^/    /' "$WORK/$s/log.txt" 2>/dev/null
        for f in "$WORK/$s"/client-*.out "$WORK/$s/testsrv.out"; do
            [ -s "$f" ] && { echo "---- scenario $s: $(basename "$f")"; sed 's/^/    /' "$f"; }
        done
        echo "---- scenario $s: what p0f saw (SYNs; full output in $s/p0f.out, KEEP_WORK=1 keeps it)"
        grep -E -A3 '\(syn\) \]-' "$WORK/$s/p0f.out" 2>/dev/null |
            grep -E '^(\.-|\| (os|raw_sig))' | sed 's/^/    /'
    done
fi
summary
