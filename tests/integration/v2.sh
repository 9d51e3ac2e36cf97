#!/bin/bash
# p0f v2, and p0f v2 and v3 at once, end to end on loopback: testsrv under LD_PRELOAD=libp0fshim.so,
# `fake_p0f --v2` standing in for p0f 2.0.8's -Q socket (one-shot, single-threaded, checks every
# query it gets: magic, type, padding, and with --verify-conn that the query names a real TCP
# connection of this machine, which catches a wrong byte order of an address or a port), the v3
# fake_p0f, and Debian's real p0f 3 on lo for the last scenario. logsink stands in for /dev/log.
# Each scenario has its own ports (P0FSHIM_V2_PORT_BASE, default 44000: mta.sh uses 43000+) and
# its own config, log, blocked-OS file and sockets under $WORK/<scenario>. KEEP_WORK=1 keeps them.
source "$(dirname "${BASH_SOURCE[0]}")/../scenario.sh"

require_built "$LIB" "$HELPERS/fake_p0f" "$HELPERS/testsrv" "$HELPERS/testclient" "$HELPERS/logsink"

PORT_BASE=${P0FSHIM_V2_PORT_BASE:-44000}
DEFAULT_TMO=300
WIN=127.0.0.2 LIN=127.0.0.3 UNK=127.0.0.4 NOOS=127.0.0.5 ALT=127.0.0.6

# What the v2 fake says, and the v2_ fields the shim must log for it (every value distinct from its
# neighbours' so a field read at the wrong offset shows; score -100, uptime 1390 h and mflags are
# the values qpsmtpd's unpack got wrong).
V2_HOSTS=(--host "$WIN" --os Windows --flavor "XP/2000 (RFC1323+, w+, tstamp-)" --dist 3 --link ethernet/modem
              --tos "low delay" --uptime 1390 --score -100 --mflags 3125 --nat 1 --fw 0 --real 1
          --host "$LIN" --os Linux --flavor "2.6 (newer, 1)" --dist -1 --link "GPRS or similar" --uptime 27
              --score 5 --mflags 1041 --nat 2 --fw 1
          --host "$ALT" --os Linux --flavor "2.4-2.6" --link ethernet/modem
          --host "$NOOS")
F2_WIN='v2_genre="Windows" v2_detail="XP/2000 (RFC1323+, w+, tstamp-)" v2_dist=3 v2_link="ethernet/modem" v2_uptime_h=1390 v2_nat=1 v2_fw=0 v2_real=1 v2_score=-100 v2_mflags=3125'
F2_LIN='v2_genre="Linux" v2_detail="2.6 (newer, 1)" v2_dist=-1 v2_link="GPRS or similar" v2_uptime_h=27 v2_nat=1 v2_fw=1 v2_real=1 v2_score=5 v2_mflags=1041'
F2_ALT='v2_genre="Linux" v2_detail="2.4-2.6" v2_dist=0 v2_link="ethernet/modem" v2_uptime_h=-1 v2_nat=0 v2_fw=0 v2_real=1 v2_score=-100 v2_mflags=0'
# What the v3 fake says in the both-versions scenarios: $WIN is Linux to p0f 3 (Windows to p0f 2),
# $ALT is Windows to p0f 3 (Linux to p0f 2).
V3_HOSTS=(--host "$WIN" --os Linux --flavor "3.11 and newer" --match generic --dist 1 --link Ethernet
          --host "$LIN" --os Linux --flavor "3.11 and newer" --match generic --dist 1 --link Ethernet
          --host "$ALT" --os Windows --flavor "NT kernel" --match exact --link Ethernet --total 3)
F3_LINUX='os="Linux" flavor="3.11 and newer" genre="Linux 3.11 and newer" match=generic distance=1 link="Ethernet" uptime_min=0 total_conn=1'
F3_WINDOWS='os="Windows" flavor="NT kernel" genre="Windows NT kernel" match=exact distance=0 link="Ethernet" uptime_min=0 total_conn=3'

# ---- the p0f sources -----------------------------------------------------------------------------
# write_sources SOURCE_LINE...: the scenario's config with these p0f source lines (from line 3).
write_sources() { P0F_LINES=$(printf '%s\n' "$@") write_conf; }
# start_p2 / start_p3 [fake_p0f ARGS...]: the v2 fake on $D/p0f2.sock (query log $D/qlog2), the
# v3 fake on $D/p0f3.sock (query log $D/qlog3).
start_p2() { P0F=p0f2 start_p0f --v2 --verify-conn "$@"; }
start_p3() { P0F=p0f3 start_p0f "$@"; }

# rport IP: the client port of IP's first connection line.
rport() { grep -E -m1 "remote=$(re "$1"):" "$(L)" | sed -nE 's/.* remote=[0-9.]+:([0-9]+) .*/\1/p'; }
# queried IP DST: the v2 fake got a well-formed query naming IP's connection (its client port, as
# the shim logged it) towards DST (default 127.0.0.1:$PORT), and found that TCP connection.
queried() {
    local p
    p=$(rport "$1")
    [ -n "$p" ] && grep -Eq "^conn=[0-9]+ query id=[0-9]+ src=$(re "$1"):$p dst=$(re "${2:-127.0.0.1:$PORT}") tcp=found$" "$D/qlog2"
}
q2_count() { grep -Ec "${1:-query}" "$D/qlog2" 2>/dev/null || true; }
no_badquery() { ! grep -q badquery "$D/qlog2" 2>/dev/null; }
ids_unique() { [ -z "$(grep -o 'query id=[0-9]*' "$D/qlog2" | sort | uniq -d)" ]; }
# v2_links PID: sockets of process PID connected to the v2 fake (accepted or still in its backlog).
v2_links() {
    local pid=$1 peers n=0 f link
    peers=$(ss -xa 2>/dev/null | awk -v p="$D/p0f2.sock" 'index($5, p) == 1 && $2 != "LISTEN" { print $8 }')
    for f in /proc/"$pid"/fd/*; do
        link=$(readlink "$f") || continue
        [[ $link =~ ^socket:\[([0-9]+)\]$ ]] && grep -qx "${BASH_REMATCH[1]}" <<<"$peers" && n=$((n + 1))
    done
    echo "$n"
}

echo "# scratch directory $WORK"
T_START=$SECONDS

# ---- 1. v2 only (`socket` + `version 2`): block, allow, every v2 field, the query on the wire -----
scenario v2-only
write_sources "socket $D/p0f2.sock" "version 2"
start_p2 "${V2_HOSTS[@]}"
start_srv testsrv loop "127.0.0.1:$PORT"
check "$S: windows client ($WIN) is closed" client win closed "$WIN"
check "$S: linux client ($LIN) is served" client lin served "$LIN"
check "$S: host $NOOS (OS not identified) is served" client noos served "$NOOS"
check "$S: block line with every v2 field (score -100, uptime 1390 h, mflags) and the rule" has_line \
    "$(conn "$WIN" block) $(re "$F2_WIN") rule=\"/windows/\" rule_at=\"$(re "$D/blocked"):1\" cutoff=[a-z_]+ client_sent=[0-9]+$"
check "$S: allow line with every v2 field (dist -1, nat 2 logged as 1)" has_line "$(conn "$LIN" allow) $(re "$F2_LIN")$"
check "$S: OS not identified: verdict=unknown, empty v2_genre, v2_reason" has_line \
    "$(conn "$NOOS" unknown) v2_genre=\"\" v2_detail=\"\" v2_dist=0 .* v2_reason=\"os not identified\"$"
check "$S: v2-only lines carry no v3 field and no v3 reason" no_line " (os|flavor|genre|match|total_conn|reason)="
check "$S: the fake got the windows query: src=$WIN:<client port> dst=127.0.0.1:$PORT, connection found" queried "$WIN"
check "$S: ... and the linux one" queried "$LIN"
check "$S: the fake found every query well-formed (magic, type 1, zero padding)" no_badquery
check "$S: one-shot: one query per p0f connection, one p0f connection per client" \
    eval '[ "$(q2_count query)" -eq 3 ] && [ "$(q2_count " open$")" -eq 3 ] && [ "$(q2_count " close$")" -eq 3 ]'
check "$S: every query has its own id" ids_unique
settle
check "$S: exactly one line per connection" lines_is 3
stop_srv testsrv

# ---- 2. local_ip: the server's public address is the query's dst address ------------------------
scenario local-ip-line
write_sources "socket $D/p0f2.sock" "version 2" "local_ip 198.51.100.25"
start_p2 "${V2_HOSTS[@]}"
start_srv testsrv loop "127.0.0.1:$PORT"
check "$S: windows client is closed" client win closed "$WIN"
check "$S: block line" has_line "$(conn "$WIN" block) $(re "$F2_WIN") rule="
check "$S: the query's dst is local_ip with the real local port (198.51.100.25:$PORT)" \
    queried "$WIN" "198.51.100.25:$PORT"
check "$S: the log line keeps the real local address" has_line "$(conn "$WIN" block)"
stop_srv testsrv

scenario local-ip-qpsmtpd
write_sources "ident/p0f $D/p0f2.sock version 2 local_ip 198.51.100.25"
start_p2 "${V2_HOSTS[@]}"
start_srv testsrv loop "127.0.0.1:$PORT"
check "$S: (ident/p0f SOCK version 2 local_ip IP) windows client is closed" client win closed "$WIN"
check "$S: linux client is served" client lin served "$LIN"
check "$S: block and allow lines with the v2 fields" \
    eval 'has_line "$(conn "$WIN" block) $(re "$F2_WIN") rule=" && has_line "$(conn "$LIN" allow) $(re "$F2_LIN")$"'
check "$S: both queries went to dst=198.51.100.25:$PORT" \
    eval 'queried "$WIN" "198.51.100.25:$PORT" && queried "$LIN" "198.51.100.25:$PORT"'
stop_srv testsrv

# The seed's own local_ip line has no `version`: it is a p0f v3 line (local_ip has no effect).
scenario local-ip-seed-line
write_sources "ident/p0f $D/p0f3.sock local_ip 208.75.177.101"
start_p3 "${V3_HOSTS[@]}"
start_srv testsrv loop "127.0.0.1:$PORT"
check "$S: (ident/p0f SOCK local_ip IP) asks p0f v3: windows-to-v3 client $ALT is closed" \
    client alt closed "$ALT"
check "$S: v3 block line, no v2 field" \
    eval 'has_line "$(conn "$ALT" block) $(re "$F3_WINDOWS") rule=\"/windows/\" rule_at=" && no_line "v2_"'
stop_srv testsrv

# ---- 3. NOMATCH is retried (p0f learns the connection late); unknown hosts end as unknown ---------
scenario v2-nomatch-first
write_sources "ident/p0f $D/p0f2.sock version 2"   # the seed's v2 example
start_p2 --nomatch-first 2 "${V2_HOSTS[@]}"
start_srv testsrv loop "127.0.0.1:$PORT"
check "$S: (ident/p0f SOCK version 2) windows client is closed after two NOMATCH" client win closed "$WIN"
check "$S: verdict=block with the v2 fields" has_line "$(conn "$WIN" block) $(re "$F2_WIN") rule="
check "$S: three queries for $WIN, each on its own p0f connection, each with its own id" \
    eval '[ "$(q2_count "query id=[0-9]+ src=$(re "$WIN"):")" -eq 3 ] && [ "$(q2_count " open$")" -eq 3 ] && ids_unique'
check "$S: unknown host $UNK is served" client unk served "$UNK"
check "$S: verdict=unknown v2_reason=\"no match\" at the deadline" \
    eval 'has_line "$(conn "$UNK" unknown) v2_reason=\"no match\"$" && ms_between "$(conn "$UNK" unknown)" "$TMO" $((TMO + 150))'
check "$S: $UNK was asked again and again until the deadline (>= 3 queries)" \
    eval '[ "$(q2_count "src=$(re "$UNK"):")" -ge 3 ]'
stop_srv testsrv

# ---- 4. broken p0f v2 replies: verdict=error naming p0f v2, the server goes on ----------------------
declare -A WANT_REASON=(
    [badquery]='p0f v2: query rejected (BADQUERY)'
    [badmagic]='p0f v2: bad magic'
    [wrongid]='p0f v2: reply for another query'
    [short]='p0f v2'
    [die-mid-reply]='p0f v2'
)
for mode in badquery badmagic wrongid short die-mid-reply; do
    scenario "v2-$mode"
    write_sources "socket $D/p0f2.sock" "version 2"
    start_p2 --mode "$mode" "${V2_HOSTS[@]}"
    start_srv testsrv loop "127.0.0.1:$PORT"
    check "$S: windows client is served (fail open)" client win served "$WIN"
    check "$S: verdict=error, v2_reason starts with \"${WANT_REASON[$mode]}\"" \
        has_line "$(conn "$WIN" error) v2_reason=\"$(re "${WANT_REASON[$mode]}")[^\"]*\"$"
    check "$S: the server serves the next client" client lin served "$LIN"
    check "$S: ... and judges it (verdict=error)" has_line "$(conn "$LIN" error) v2_reason=\"p0f v2[^\"]*\"$"
    check "$S: the fake was asked properly" eval 'queried "$WIN" && no_badquery'
    settle
    check "$S: exactly one line per connection, no v2 field from a broken reply" \
        eval 'count_is " remote=" 2 && no_line "v2_genre="'
    grep -E "remote=$(re "$WIN"):" "$(L)" | sed -n 's/.*verdict=/# windows line: verdict=/p'
    stop_srv testsrv
done

# ---- 5. p0f v2 hangs: the verdict comes at the deadline, accept is not slowed, one query at a time --
scenario v2-hang
TMO=800
write_sources "socket $D/p0f2.sock" "version 2"
start_p2 --mode hang "${V2_HOSTS[@]}"
start_srv testsrv loop "127.0.0.1:$PORT"
served_while_hung
links=$(v2_links "$SRV_PID")
check "$S: one p0f v2 query at a time: the server holds $links connection(s) to p0f v2 (want 1)" [ "$links" -eq 1 ]
check "$S: verdict=error v2_reason=\"p0f v2 timeout\" (windows)" has_line "$(conn "$WIN" error) v2_reason=\"p0f v2 timeout\"$"
check "$S: verdict=error v2_reason=\"p0f v2 timeout\" (linux)" has_line "$(conn "$LIN" error) v2_reason=\"p0f v2 timeout\"$"
check "$S: the verdict came at about timeout_ms" ms_between "$(conn "$WIN" error)" "$TMO" $((TMO + 150))
check "$S: the hung p0f got the windows query" queried "$WIN"
check "$S: after the deadline the shim let go of the hung p0f connection" wait_for 2 eval '[ "$(v2_links "$SRV_PID")" -eq 0 ]'
stop_srv testsrv

# ---- 6. IPv6 and IPv4-mapped peers ------------------------------------------------------------------
scenario v2-ipv6
write_sources "socket $D/p0f2.sock" "version 2"
start_p2 "${V2_HOSTS[@]}"
start_srv testsrv loop "[::1]:$PORT"
check "$S: client on ::1 is served" client v6 served ::1 --connect "[::1]:$PORT"
check "$S: verdict=unknown v2_reason=\"p0f v2 is IPv4-only\"" has_line \
    "p0fshim\[[0-9]+\]: remote=\[::1\]:[0-9]+ local=\[::1\]:$PORT verdict=unknown ms=[0-9]+ fp=p0f v2_reason=\"p0f v2 is IPv4-only\"$"
check "$S: p0f v2 was not asked" eval '[ "$(q2_count " open$")" -eq 0 ]'
echo "# $S: $(grep -oE 'verdict=unknown ms=[0-9]+' "$(L)") (timeout_ms $TMO)"
stop_srv testsrv

scenario v2-v4mapped
write_sources "socket $D/p0f2.sock" "version 2"
start_p2 "${V2_HOSTS[@]}"
start_srv testsrv loop "[::]:$PORT"
check "$S: windows client over IPv4 to a dual-stack listener is closed" client win closed "$WIN"
check "$S: block line shows IPv4 addresses" has_line "$(conn "$WIN" block) $(re "$F2_WIN") rule="
check "$S: p0f v2 was asked with IPv4 addresses (src=$WIN, dst=127.0.0.1:$PORT)" queried "$WIN"
check "$S: no ::ffff: in the log" no_line "ffff"
stop_srv testsrv

# An IPv6 local_ip can never be sent to p0f v2 (IPv4-only).
scenario v2-local-ip-ipv6
write_sources "socket $D/p0f2.sock" "version 2" "local_ip 2001:db8::25"
start_p2 "${V2_HOSTS[@]}"
start_srv testsrv loop "127.0.0.1:$PORT"
check "$S: windows client is served" client win served "$WIN"
sleep_ms $((TMO + 100))
check "$S: p0f v2 was never asked (no IPv4 dst address to send)" eval '[ "$(q2_count " open$")" -eq 0 ]'
check "$S: refused as a config error naming local_ip, or the line says why p0f v2 was not asked (not \"p0f v2 timeout\")" \
    eval 'log_has "$(L)" "msg=\"config error\".*local_ip" || log_has "$(L)" "$(conn "$WIN" "[a-z]+") v2_reason=\"[^\"]*(IPv4|local_ip)[^\"]*\"$"'
grep -E "remote=|config error" "$(L)" | sed 's/^/# line: /'
stop_srv testsrv

# ---- 7. both versions at once ------------------------------------------------------------------------
# dual_checks: the blocked-OS file is /windows/; $WIN is Windows to v2 only, $ALT Windows to v3 only.
dual_checks() {
    local dst=${1:-127.0.0.1:$PORT}
    check "$S: $WIN (v3: Linux, v2: Windows) is closed" client win closed "$WIN"
    check "$S: $LIN (Linux to both) is served" client lin served "$LIN"
    check "$S: $ALT (v3: Windows, v2: Linux) is closed" client alt closed "$ALT"
    check "$S: block by the v2 genre: one line with both sets of fields, v3 then v2" has_line \
        "$(conn "$WIN" block) $(re "$F3_LINUX") $(re "$F2_WIN") rule=\"/windows/\" rule_at=\"$(re "$D/blocked"):1\" cutoff=[a-z_]+ client_sent=[0-9]+$"
    check "$S: allow line with both sets of fields" has_line "$(conn "$LIN" allow) $(re "$F3_LINUX") $(re "$F2_LIN")$"
    check "$S: block by the v3 genre, v2 fields too" has_line \
        "$(conn "$ALT" block) $(re "$F3_WINDOWS") $(re "$F2_ALT") rule=\"/windows/\" rule_at="
    check "$S: p0f v3 was asked about each client" \
        eval 'for ip in $WIN $LIN $ALT; do grep -q "query addr_type=4 addr=$ip\$" "$D/qlog3" || exit 1; done'
    check "$S: p0f v2 was asked about each client's connection (dst $dst)" \
        eval 'queried "$WIN" "$dst" && queried "$LIN" "$dst" && queried "$ALT" "$dst" && no_badquery'
    settle
    check "$S: exactly one line per connection" eval 'lines_is 3 && count_is " remote=" 3'
}

scenario dual-qpsmtpd
write_sources "ident/p0f:2 $D/p0f2.sock version 2" "ident/p0f:3 $D/p0f3.sock smite_os windows"
start_p2 "${V2_HOSTS[@]}"
start_p3 "${V3_HOSTS[@]}"
start_srv testsrv loop "127.0.0.1:$PORT"
dual_checks
check "$S: smite_os (on the v3 line) gives karma=-1 for the v3 Windows genre only" \
    eval 'count_is "karma=-1" 1 && has_line "$(conn "$ALT" block) .* karma=-1 cutoff=[a-z_]+ client_sent=[0-9]+$"'
stop_srv testsrv

scenario dual-directives
write_sources "p0f2 $D/p0f2.sock local_ip 198.51.100.25" "p0f3 $D/p0f3.sock"
start_p2 "${V2_HOSTS[@]}"
start_p3 "${V3_HOSTS[@]}"
start_srv testsrv epoll "127.0.0.1:$PORT"
dual_checks "198.51.100.25:$PORT"
stop_srv testsrv

# One source fails, the other decides.
scenario dual-v2-down
write_sources "ident/p0f:2 $D/p0f2.sock version 2" "ident/p0f:3 $D/p0f3.sock"
start_p3 "${V3_HOSTS[@]}"
start_srv testsrv loop "127.0.0.1:$PORT"
check "$S: p0f v2 down: $ALT (Windows to v3) is still closed" client alt closed "$ALT"
check "$S: block with the v3 fields and the v2 connect error" has_line \
    "$(conn "$ALT" block) $(re "$F3_WINDOWS") rule=\"/windows/\" rule_at=\"[^\"]*\" cutoff=[a-z_]+ client_sent=[0-9]+ v2_reason=\"p0f v2 connect: [^\"]*\"$"
check "$S: $WIN (Linux to v3) is served, verdict=allow" \
    eval 'client win served "$WIN" && has_line "$(conn "$WIN" allow) $(re "$F3_LINUX") v2_reason=\"p0f v2 connect"'
stop_srv testsrv

scenario v3-only
write_sources "ident/p0f $D/p0f3.sock"
start_p3 "${V3_HOSTS[@]}"
start_srv testsrv loop "127.0.0.1:$PORT"
check "$S: (ident/p0f SOCK) $ALT (Windows to v3) is closed" client alt closed "$ALT"
check "$S: $LIN is served" client lin served "$LIN"
check "$S: block and allow lines with the v3 fields only" \
    eval 'has_line "$(conn "$ALT" block) $(re "$F3_WINDOWS") rule=\"/windows/\" rule_at=\"$(re "$D/blocked"):1\" cutoff=[a-z_]+ client_sent=[0-9]+$" && has_line "$(conn "$LIN" allow) $(re "$F3_LINUX")$" && no_line "v2_"'
stop_srv testsrv

# Two v2 sources are refused: one line naming the file and the line, then pass-through.
scenario two-v2-sources
write_sources "p0f2 $D/p0f2.sock" "ident/p0f:2 $D/other.sock version 2"
start_p2 "${V2_HOSTS[@]}"
start_srv testsrv loop "127.0.0.1:$PORT"
check "$S: windows client is served (pass-through)" client win served "$WIN"
check "$S: config error on line 4 naming the second p0f v2 source" has_line \
    "level=error msg=\"config error\" file=\"?$(re "$D/conf")\"? line=4 reason=\"[^\"]*second p0f v2 source[^\"]*\" action=pass_through$"
settle
check "$S: nothing else is logged and p0f v2 is not asked" eval 'lines_is 1 && [ "$(q2_count " open$")" -eq 0 ]'
stop_srv testsrv

# ---- 8. v2 and the real p0f 3 together -----------------------------------------------------------------
scenario real-v3-and-v2
TMO=2000
if command -v p0f >/dev/null && [ "$(id -u)" -eq 0 ]; then
    write_sources "ident/p0f:2 $D/p0f2.sock version 2" "ident/p0f:3 $D/real.sock"
    start_p2 "${V2_HOSTS[@]}"
    spawn p0f -i lo -s "$D/real.sock" "tcp port $PORT" >"$D/p0f.out" 2>&1
    P0FS[real]=$!
    wait_for 5 test -S "$D/real.sock" || echo "# $S: p0f did not start: $(tail -3 "$D/p0f.out")"
    sleep_ms 200   # p0f opens its capture before its API socket; let it settle
    start_srv testsrv loop "127.0.0.1:$PORT"
    check "$S: $WIN (Windows to the v2 fake) is closed" client win closed "$WIN" --timeout-ms 4000
    check "$S: $LIN is served" client lin served "$LIN"
    check "$S: block line: os=\"Linux\" from the real p0f 3, v2_genre=\"Windows\" from the fake v2" has_line \
        "$(conn "$WIN" block) os=\"Linux\" flavor=\"[^\"]*\" genre=\"Linux[^\"]*\" .* $(re "$F2_WIN") rule=\"/windows/\" rule_at="
    check "$S: allow line: os=\"Linux\" (real p0f 3) and the v2 fields" has_line \
        "$(conn "$LIN" allow) os=\"Linux\" .* $(re "$F2_LIN")$"
    check "$S: the v2 fake was asked about both connections" eval 'queried "$WIN" && queried "$LIN"'
    grep -E " remote=" "$(L)" | sed 's/^.*remote=/# line: remote=/'
    stop_srv testsrv
else
    check "$S: Debian's p0f is installed and we are root (make deps)" false
fi
end_scenario

echo "# v2 integration tests took $((SECONDS - T_START)) s"
summary
