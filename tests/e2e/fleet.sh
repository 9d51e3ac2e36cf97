#!/bin/bash
# End-to-end test of a fleet: two MX hosts, each testsrv under LD_PRELOAD=libp0fshim.so in its
# own namespace of the lab (scripts/lab.sh: the server namespace is mx1, lab_add_mx2 adds mx2),
# share one real redis-server (password-protected, on mx1's address, reached over the lab's
# bridge). The shim decides from the saved SYN (fingerprint syn: no p0f needed).
#   1. greylisting: a Windows-like client greylisted on mx1 is still early on mx2, and passes
#      on mx2 after greylist_delay; then mx1 knows it as good. One record, four checks.
#   2. fleet karma: smite_os hits on both hosts add up; at karma_limit the next connection,
#      on either host, is refused with rule="karma" karma_total=N; a Linux client has 0.
#   3. Redis stopped mid-run: both hosts keep serving, one error line each, no karma_total;
#      Redis back: karma_total= again after the backoff.
#   4. Redis hung (SIGSTOP): every connection is still answered, none waits past the deadline
#      by more than scheduling noise (the check allows 1 s against a hang of many seconds).
#   5. 2 x 5,000 connections at once, one burst per MX host: the fleet's count is exact.
# Needs root. KEEP_WORK=1 keeps the scratch dir.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$TOP/scripts/lab.sh"

require_root
require_built "$LIB" "$HELPERS/testsrv" "$HELPERS/testclient" "$HELPERS/logsink" "$HELPERS/burst"
command -v redis-server >/dev/null || fail_now "redis-server is not installed (scripts/install-deps.sh)"
command -v redis-cli >/dev/null || fail_now "redis-cli is not installed (scripts/install-deps.sh)"
[ -r /etc/p0f/p0f.fp ] || fail_now "/etc/p0f/p0f.fp is missing (Debian's p0f package)"

PORT=2525
MX1=$LAB_SERVER_IP MX2=$LAB_MX2_IP WIN=$LAB_WINDOWS_IP LIN=$LAB_LINUX_IP
PASSWORD='fleet s3cret/pw'            # a space and a slash: the URL percent-encodes them
URL_PASSWORD='fleet%20s3cret%2Fpw'
REDIS_PORT=6379
GREYLISTED="421 4.7.1 Greylisted, please try again later"
REJECT="554 5.7.1 Connection refused: your host is not accepted here"

CLEANUP_HOOKS+=("lab_down")
lab_up || fail_now "could not build the network lab"
lab_add_mx2 || fail_now "could not add the second MX namespace"
echo "# lab $LAB_PREFIX up with mx2; scratch $WORK"
: >"$WORK/blocked"

REDIS_PID=
start_redis() {
    ip netns exec "$LAB_NS_SERVER" redis-server --bind "$MX1" --port "$REDIS_PORT" --requirepass "$PASSWORD" \
        --save "" --appendonly no --dir "$WORK" --daemonize no >"$WORK/redis.out" 2>&1 &
    REDIS_PID=$!
    CHILD_PIDS+=("$REDIS_PID")
    wait_for 5 eval "rcli PING 2>/dev/null"
}
stop_redis() { kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; REDIS_PID=; }
rcli() { lab_exec_server redis-cli -h "$MX1" -p "$REDIS_PORT" -a "$PASSWORD" --no-auth-warning "$@"; }
start_redis || fail_now "redis-server did not start in the lab"

declare -A SRV_PID SINK
# start_mx NAME(mx1|mx2) SCENARIO CONFIG-LINES...: a log sink, a config, testsrv under the shim.
start_mx() {
    local mx=$1 scen=$2; shift 2
    local dir=$WORK/$scen/$mx ip
    [ "$mx" = mx1 ] && ip=$MX1 || ip=$MX2
    mkdir -p "$dir"
    start_sink "$dir/log.sock" "$dir/log.txt" || { echo "# logsink did not start"; return 1; }
    SINK[$mx]=$SINK_PID
    printf '%s\n' "# fleet e2e $scen on $mx" "ports $PORT" "log_socket $dir/log.sock" \
        "blocked_os_file $WORK/blocked" "fingerprint syn" "action reject" "$@" >"$dir/p0fshim.conf"
    chmod 640 "$dir/p0fshim.conf"
    # ip netns exec itself, not a lab_exec_ function: $! must be testsrv's pid for stop_mx
    spawn ip netns exec "$([ "$mx" = mx1 ] && echo "$LAB_NS_SERVER" || echo "$LAB_NS_MX2")" env LD_PRELOAD="$LIB" \
        P0FSHIM_CONFIG="$dir/p0fshim.conf" "$HELPERS/testsrv" --model fork --listen "$ip:$PORT" \
        --ready-file "$dir/ready" --stats-file "$dir/stats" >"$dir/testsrv.out" 2>&1
    SRV_PID[$mx]=$!
    wait_for 5 test -e "$dir/ready" || { echo "# testsrv on $mx did not get ready"; return 1; }
}
stop_mx() {
    local mx=$1 scen=$2 rc=0
    kill "${SRV_PID[$mx]}" 2>/dev/null
    wait "${SRV_PID[$mx]}" 2>/dev/null || rc=$?
    check "$scen/$mx: testsrv exits cleanly, no accept error, errno preserved" \
        eval '[ "$rc" -eq 0 ] && grep -Eq "accept_errors=0 errno_changed=0" "$WORK/$scen/$mx/stats"'
    kill "${SINK[$mx]}" 2>/dev/null
    wait "${SINK[$mx]}" 2>/dev/null
}
LOGF() { echo "$WORK/$1/$2/log.txt"; }   # LOGF SCENARIO MX
# client NS SCENARIO MX TAG EXPECT [testclient ARGS...]
client() {
    local ns=$1 scen=$2 mx=$3 tag=$4 expect=$5 ip
    [ "$mx" = mx1 ] && ip=$MX1 || ip=$MX2
    "lab_exec_$ns" "$HELPERS/testclient" --connect "$ip:$PORT" --expect "$expect" --timeout-ms 3000 "${@:6}" \
        >"$WORK/$scen/client-$tag.out" 2>&1
}
first_is() { grep -Fq "line=\"$3\"" "$WORK/$1/client-$2.out" || { echo "# client $2: $(cat "$WORK/$1/client-$2.out")"; return 1; }; }
line_of() { echo "p0fshim\[[0-9]+\]: remote=$(re "$1"):[0-9]+ local=$(re "$2"):$PORT verdict=$3 ms=[0-9]+ fp=syn"; }
has_line() { wait_for 3 log_has "$1" "$2"; }   # has_line FILE REGEX
CONF_STORE=("greylist_store redis://:$URL_PASSWORD@$MX1:$REDIS_PORT/1" "karma_store redis://:$URL_PASSWORD@$MX1:$REDIS_PORT/1")

# ---- 1. greylisting shared by the fleet -------------------------------------------------------------
S=greylist
for mx in mx1 mx2; do
    start_mx $mx $S "${CONF_STORE[@]}" "greylist_os ^Windows" "greylist_delay 2s" || fail_now "$S/$mx did not start"
done
check "$S: windows client, first contact on mx1: the greylist reply is its first line" \
    eval 'client windows $S mx1 w1 "first-line=421 4.7.1" && first_is $S w1 "$GREYLISTED"'
check "$S: retry on mx2 at once: still greylisted (mx2 knows the first contact)" \
    eval 'client windows $S mx2 w2 "first-line=421 4.7.1" && first_is $S w2 "$GREYLISTED"'
sleep 2.2
check "$S: retry on mx2 after greylist_delay: served" client windows $S mx2 w3 served --hold-ms 0
check "$S: mx2 logs pass_greylist with the wait" \
    has_line "$(LOGF $S mx2)" "$(line_of "$WIN" "$MX2" pass_greylist) .* greylist_wait_s=[23]( |$)"
check "$S: then mx1 serves it too (good)" client windows $S mx1 w4 served --hold-ms 0
check "$S: mx1 logs pass_greylist" has_line "$(LOGF $S mx1)" "$(line_of "$WIN" "$MX1" pass_greylist)"
check "$S: a linux client is not greylisted" client linux $S mx1 l1 served --hold-ms 0
check "$S: one record in Redis db 1 for the windows host, 4 checks, 2 passes" \
    eval '[ "$(rcli -n 1 HGET "p0fshim:greylist:$WIN/32" checks)" = 4 ] &&
          [ "$(rcli -n 1 HGET "p0fshim:greylist:$WIN/32" passes)" = 2 ]'
ttl=$(rcli -n 1 TTL "p0fshim:greylist:$WIN/32")
check "$S: the passed record expires with greylist_expire (TTL $ttl, 36d)" [ "$ttl" -gt $((36 * 86400 - 60)) ]
check "$S: no line shows the password" eval '! grep -Fq "s3cret" "$(LOGF $S mx1)" "$(LOGF $S mx2)"'
for mx in mx1 mx2; do stop_mx $mx $S; done

# ---- 2. fleet karma ------------------------------------------------------------------------------
S=karma
rcli -n 1 FLUSHDB >/dev/null
for mx in mx1 mx2; do
    start_mx $mx $S "${CONF_STORE[@]}" "smite_os ^Windows" "karma_limit 4" || fail_now "$S/$mx did not start"
done
client windows $S mx1 k1 served --hold-ms 0
client windows $S mx2 k2 served --hold-ms 0
client windows $S mx1 k3 served --hold-ms 0
check "$S: three smitten connections, two hosts: served, karma_total counts 1, 2, 3 across them" \
    eval 'has_line "$(LOGF $S mx1)" "$(line_of "$WIN" "$MX1" allow) .* karma=-1 karma_total=1$" &&
          has_line "$(LOGF $S mx2)" "$(line_of "$WIN" "$MX2" allow) .* karma=-1 karma_total=2$" &&
          has_line "$(LOGF $S mx1)" "$(line_of "$WIN" "$MX1" allow) .* karma=-1 karma_total=3$"'
check "$S: the fourth, on mx2: refused (554 first line)" \
    eval 'client windows $S mx2 k4 "first-line=554 5.7.1" && first_is $S k4 "$REJECT"'
check "$S: mx2 logs block rule=\"karma\" karma_total=4 action=reject" \
    has_line "$(LOGF $S mx2)" "$(line_of "$WIN" "$MX2" block) .* rule=\"karma\" karma=-1 karma_total=4 action=reject"
check "$S: and mx1 refuses it too now" client windows $S mx1 k5 "first-line=554 5.7.1"
check "$S: a linux client: karma_total=0, served" \
    eval 'client linux $S mx1 l1 served --hold-ms 0 &&
          has_line "$(LOGF $S mx1)" "$(line_of "$LIN" "$MX1" allow) .* karma_total=0$"'
check "$S: the windows host's count in Redis is 5" \
    eval '[ "$(rcli -n 1 EVAL "local t=0 for _,v in ipairs(redis.call(\"HVALS\",KEYS[1])) do t=t+v end return t" 1 "p0fshim:karma:$WIN/32")" = 5 ]'
for mx in mx1 mx2; do stop_mx $mx $S; done

# ---- 3. Redis stopped mid-run, then back -------------------------------------------------------------
S=redis-down
rcli -n 1 FLUSHDB >/dev/null
for mx in mx1 mx2; do
    start_mx $mx $S "${CONF_STORE[@]}" "smite_os ^Windows" "karma_limit 100" "greylist_os ^Windows" \
        "greylist_delay 1h" || fail_now "$S/$mx did not start"
done
check "$S: with Redis up a windows client is greylisted" client windows $S mx1 up1 "first-line=421 4.7.1"
stop_redis
n=0
for i in 1 2 3 4 5; do
    for mx in mx1 mx2; do
        client windows $S $mx d$i$mx served --hold-ms 0 && n=$((n + 1))
        client linux $S $mx l$i$mx served --hold-ms 0 && n=$((n + 1))
    done
done
check "$S: Redis down: all 20 connections served (greylisting and karma off for them; got $n)" [ "$n" -eq 20 ]
for mx in mx1 mx2; do
    check "$S/$mx: one error line naming the store (no password)" \
        eval 'wait_for 3 log_has "$(LOGF $S $mx)" "level=error" &&
              [ "$(grep -c "level=" "$(LOGF $S $mx)")" -eq 1 ] &&
              grep -E "store failed.*reason=\"Redis store redis://:\*\*\*@$(re "$MX1"):$REDIS_PORT/1: " "$(LOGF $S $mx)" >/dev/null &&
              ! grep -Fq "s3cret" "$(LOGF $S $mx)"'
    check "$S/$mx: lines without karma_total while Redis is down" \
        eval '[ "$(grep -c "remote=.*karma_total=" "$(LOGF $S $mx)")" -le 1 ]'
done
start_redis || fail_now "redis-server did not restart"
sleep 10.5   # longer than the longest backoff (10 s)
check "$S: Redis back: karma_total= on mx1's lines again" \
    eval 'client linux $S mx1 back1 served --hold-ms 0 && has_line "$(LOGF $S mx1)" "$(line_of "$LIN" "$MX1" allow) .*karma_total=0$"'
check "$S: Redis back (empty): the windows client is greylisted again on mx2" \
    client windows $S mx2 back2 "first-line=421 4.7.1"
for mx in mx1 mx2; do stop_mx $mx $S; done

# ---- 4. Redis hung ---------------------------------------------------------------------------------
S=redis-hung
for mx in mx1 mx2; do
    start_mx $mx $S "${CONF_STORE[@]}" "smite_os ^Windows" "greylist_os ^Windows" "store_timeout_ms 20" ||
        fail_now "$S/$mx did not start"
done
kill -STOP "$REDIS_PID"
worst=0 n=0
for i in $(seq 1 10); do
    for mx in mx1 mx2; do
        t0=$(now_ms)
        client windows $S $mx h$i$mx served --hold-ms 0 && n=$((n + 1))
        t=$(($(now_ms) - t0))
        [ "$t" -gt "$worst" ] && worst=$t
    done
done
kill -CONT "$REDIS_PID"
echo "# redis hung: 20 windows connections, the slowest took $worst ms (store_timeout_ms 20)"
check "$S: Redis hung: all 20 windows connections served (got $n)" [ "$n" -eq 20 ]
check "$S: none waited for the hung server (slowest $worst ms < 1000)" [ "$worst" -lt 1000 ]
check "$S: the reason is the deadline" \
    eval 'grep -q "store_timeout_ms" "$(LOGF $S mx1)" && grep -q "store_timeout_ms" "$(LOGF $S mx2)"'
for mx in mx1 mx2; do stop_mx $mx $S; done

# ---- 5. 10,000 connections, two hosts at once: exact counts -------------------------------------------
S=exact
rcli -n 1 FLUSHDB >/dev/null
for mx in mx1 mx2; do
    start_mx $mx $S "${CONF_STORE[@]}" "smite_os ^Windows" "store_timeout_ms 1000" || fail_now "$S/$mx did not start"
done
lab_exec_windows "$HELPERS/burst" --connect "$MX1:$PORT" --count 5000 --concurrency 16 --expect served \
    --hold-ms 0 --timeout-ms 10000 >"$WORK/$S/burst1.out" 2>&1 &
b1=$!
lab_exec_windows "$HELPERS/burst" --connect "$MX2:$PORT" --count 5000 --concurrency 16 --expect served \
    --hold-ms 0 --timeout-ms 10000 >"$WORK/$S/burst2.out" 2>&1 &
b2=$!
wait $b1; r1=$?
wait $b2; r2=$?
echo "# mx1: $(cat "$WORK/$S/burst1.out" | tr '\n' ' ')"
echo "# mx2: $(cat "$WORK/$S/burst2.out" | tr '\n' ' ')"
check "$S: both bursts of 5000 served" [ "$r1" -eq 0 -a "$r2" -eq 0 ]
total=$(rcli -n 1 EVAL "local t=0 for _,v in ipairs(redis.call('HVALS',KEYS[1])) do t=t+v end return t" 1 "p0fshim:karma:$WIN/32")
check "$S: the fleet counted exactly 10000 hits (got $total)" [ "$total" = 10000 ]
sleep 1
check "$S: every connection has its line, the last one says karma_total=10000" \
    eval '[ $(( $(grep -c "remote=" "$(LOGF $S mx1)") + $(grep -c "remote=" "$(LOGF $S mx2)") )) -eq 10000 ] &&
          cat "$(LOGF $S mx1)" "$(LOGF $S mx2)" | grep -q "karma_total=10000$"'
for mx in mx1 mx2; do stop_mx $mx $S; done

stop_redis
summary
