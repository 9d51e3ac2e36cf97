#!/bin/bash
# `make demo`: p0fshim doing its job in a throw-away network lab (scripts/lab.sh).
# A demo SMTP daemon (build/tests/testsrv) runs under LD_PRELOAD=build/libp0fshim.so in a server
# namespace watched by the real p0f; a Windows-like and a Linux-like client connect to it. The
# shim decides from each client's SYN inside accept() (fingerprint auto), with p0f's signatures;
# p0f's own output is shown beside it.
# Needs root and the built tree (make); everything it creates is removed at the end.
source "$(dirname "${BASH_SOURCE[0]}")/../tests/lib.sh"   # $WORK, spawn, wait_for, cleanup on exit
source "$TOP/scripts/lab.sh"

die() { echo "demo: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (it builds network namespaces)"
for f in "$LIB" "$HELPERS/testsrv" "$HELPERS/testclient" "$HELPERS/logsink"; do
    [ -e "$f" ] || die "$f is missing: run make first"
done
command -v p0f >/dev/null || die "p0f is not installed (scripts/install-deps.sh)"

CLEANUP_HOOKS+=("lab_down")
bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
indent() { sed 's/^/    /'; }

bold "== p0fshim demo"
lab_up || die "could not build the network lab"
cat <<EOF
Lab (network namespaces ${LAB_PREFIX}-*, removed at the end):
    server   $LAB_SERVER_IP   demo SMTP daemon on port 25 under the shim + the real p0f on $LAB_SERVER_IFACE
    windows  $LAB_WINDOWS_IP  sysctls: ip_default_ttl=128 tcp_timestamps=0 tcp_window_scaling=0
    linux    $LAB_LINUX_IP  Linux defaults
EOF

spawn "$HELPERS/logsink" "$WORK/log.sock" "$WORK/log.txt"
wait_for 5 test -S "$WORK/log.sock" || die "logsink did not start"
lab_start_p0f "$WORK/p0f.sock" "$WORK/p0f.out" || die "p0f did not start"

cat >"$WORK/blocked_operating_systems" <<'EOF'
# One entry per line: /regex/ (case-insensitive) or a phrase equal to the genre p0f reports.
/windows/
EOF
cat >"$WORK/p0fshim.conf" <<EOF
# p0fshim demo configuration
socket           $WORK/p0f.sock
version          3
blocked_os_file  $WORK/blocked_operating_systems
ports            25
timeout_ms       1000
log_socket       $WORK/log.sock
# Decide inside accept() from the client's SYN, matched against p0f's signatures; ask the p0f
# daemon only about a connection without a saved SYN. A refused client gets the reply below.
fingerprint      auto
fp_file          /etc/p0f/p0f.fp
action           reject
EOF
echo
bold "== Configuration (P0FSHIM_CONFIG=$WORK/p0fshim.conf)"
indent <"$WORK/p0fshim.conf"
echo "  blocked_operating_systems:"
indent <"$WORK/blocked_operating_systems"

spawn ip netns exec "$LAB_NS_SERVER" env LD_PRELOAD="$LIB" P0FSHIM_CONFIG="$WORK/p0fshim.conf" \
    "$HELPERS/testsrv" --model loop --listen "$LAB_SERVER_IP:25" --ready-file "$WORK/ready" \
    >"$WORK/testsrv.out" 2>&1
wait_for 5 test -e "$WORK/ready" || { cat "$WORK/testsrv.out" >&2; die "the demo daemon did not start"; }

# connect NAME NS IP EXPECT: one SMTP session from a client namespace; prints what happened.
connect() {
    local name=$1 ns=$2 ip=$3 expect=$4 out rc
    out=$(ip netns exec "$ns" "$HELPERS/testclient" --connect "$LAB_SERVER_IP:25" --expect "$expect" \
        --timeout-ms 3000 2>&1)
    rc=$?
    case $out in
        *result=closed*) printf '  %-8s %-13s connection closed by the shim, %s ms after connect\n' \
            "$name" "$ip" "$(sed -nE 's/.*result=closed ms=([0-9]+).*/\1/p' <<<"$out" | head -n1)" ;;
        *result=first_line*) printf '  %-8s %-13s refused inside accept(), never reached the daemon; its first line: %s\n' \
            "$name" "$ip" "$(sed -nE 's/.*line=("[^"]*").*/\1/p' <<<"$out" | head -n1)" ;;
        *result=served*) printf '  %-8s %-13s served: full SMTP session (EHLO, MAIL, RCPT, DATA, QUIT)\n' \
            "$name" "$ip" ;;
        *) printf '  %-8s %-13s unexpected: %s\n' "$name" "$ip" "$(tr '\n' ' ' <<<"$out")" ;;
    esac
    return $rc
}

echo
bold "== Connections to $LAB_SERVER_IP:25"
ok=0
connect windows "$LAB_NS_WINDOWS" "$LAB_WINDOWS_IP" "first-line=554 5.7.1" || ok=1
connect linux "$LAB_NS_LINUX" "$LAB_LINUX_IP" served || ok=1
wait_for 3 eval '[ "$(grep -c "remote=" "$WORK/log.txt" 2>/dev/null)" -ge 2 ]'

echo
bold "== What the p0f daemon saw of the same SYNs (its own output)"
awk '/^\| client   = / { c = $4; sub(/\/[0-9]+$/, "", c); next }
     /^\| os       = / && c != "" { sub(/^\| os       = /, ""); if (!seen[c]++) printf "  %-13s %s\n", c, $0 }
     { c = "" }' "$WORK/p0f.out"

echo
bold "== The shim's log lines (fp=syn: decided from the SYN; sig= is the packet's p0f signature)"
if [ -s "$WORK/log.txt" ]; then indent <"$WORK/log.txt"; else echo "    (none)"; ok=1; fi

echo
if [ $ok -eq 0 ]; then
    bold "== Result: the Windows-like client was refused with 554 before the daemon saw it; the Linux-like client was served."
else
    bold "== Result: something did not go as expected (see above)."
fi
exit $ok
