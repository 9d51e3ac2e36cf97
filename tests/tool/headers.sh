#!/bin/bash
# The fingerprint-header commands through their binaries, against build/tests/fake_p0f (no
# Postfix, no lab): `p0fshim policy` (Postfix's policy protocol on stdin/stdout as under
# spawn(8), and as a unix-socket server), `p0fshim header` (Exim's ${run}), and
# p0fshim-milter's command line. The protocol parser itself is unit-tested in
# tests/unit/test_postfix_delegation.c; the real Postfix runs in tests/e2e/headers.sh.
# KEEP_WORK=1 keeps the scratch directory.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

P=$BUILD/p0fshim
MILTER=$BUILD/p0fshim-milter
for f in "$P" "$HELPERS/fake_p0f" "$HELPERS/logsink"; do
    [ -x "$f" ] || fail_now "$f is missing (run make)"
done

t() { local n=$1; shift; "$@" >"$WORK/$n.out" 2>"$WORK/$n.err"; RC=$?; LAST=$n; }
rc_is() { [ "$RC" -eq "$1" ] || { echo "# $LAST: exit status $RC, expected $1"; head -5 "$WORK/$LAST.err" | sed 's/^/#   /'; return 1; }; }
out_is() { [ "$(cat "$WORK/$1.out")" = "$2" ] || { echo "# $1.out is:"; sed 's/^/#   /' "$WORK/$1.out"; echo "# expected:"; printf '%s\n' "$2" | sed 's/^/#   /'; return 1; }; }
raw_is() { cmp -s "$WORK/$1.out" <(printf '%s' "$2") || { echo "# $1.out (raw):"; od -c "$WORK/$1.out" | head -5 | sed 's/^/#   /'; return 1; }; }
empty() { [ ! -s "$WORK/$1" ] || { echo "# $1 is not empty:"; head -5 "$WORK/$1" | sed 's/^/#   /'; return 1; }; }
ms_of() { echo $(( ($2 - $1) / 1000000 )); }
now_ns() { date +%s%N; }
skip() { echo "skip - $*"; }

fake() {
    local name=$1; shift
    rm -f "$WORK/$name.ready"
    spawn "$HELPERS/fake_p0f" --socket "$WORK/$name.sock" --ready-file "$WORK/$name.ready" "$@" 2>>"$WORK/fake.err"
    wait_for 5 test -e "$WORK/$name.ready" || echo "# fake_p0f $name did not start"
}
LIN=192.0.2.20 WIN=192.0.2.10 NOOS=192.0.2.40 ESC=192.0.2.50 V6=2001:db8::20 LATE=192.0.2.60
fake p0f --nomatch-first 0 \
    --host "$LIN" --os Linux --flavor "2.2.x-3.x" --link "Ethernet or modem" \
    --host "$WIN" --os Windows --flavor "NT kernel" --link "DSL" \
    --host "$NOOS" --link "GPRS, T1, FreeS/WAN" \
    --host "$ESC" --os 'Evil\x0d\x0aX-Injected: 1' --flavor 'a\x1b[31m' --link 'x\x07y   z' \
    --host "$V6" --os Windows --flavor "7 or 8"
spawn "$HELPERS/logsink" "$WORK/log.sock" "$WORK/log.txt"
wait_for 5 test -S "$WORK/log.sock" || fail_now "logsink did not start"
conf() {   # conf NAME [LINES...]: a configuration file for the fake p0f named $P0F
    printf '%s\n' "socket $WORK/${P0F:-p0f}.sock" "log_socket $WORK/log.sock" "${@:2}" >"$WORK/$1.conf"
    chmod 644 "$WORK/$1.conf"
}
conf main
# req STATE ADDRESS INSTANCE [EXTRA-LINE...]: one request as Postfix sends it.
req() {
    printf '%s\n' "request=smtpd_access_policy" "protocol_state=$1" "protocol_name=ESMTP" \
        "client_address=$2" "client_name=unknown" "reverse_client_name=unknown" "helo_name=client.example" \
        "sender=a@example.org" "recipient=b@example.net" "recipient_count=0" "queue_id=" "instance=$3" \
        "size=0" "etrn_domain=" "stress=" "sasl_method=" "ccert_subject=" "encryption_protocol=" \
        "server_address=192.0.2.1" "server_port=25" "policy_context=" "${@:4}"
    echo
}
PREPEND_G="action=PREPEND X-P0F-Genre: Linux 2.2.x-3.x"
PREPEND_L="action=PREPEND X-P0F-Link-Type: Ethernet or modem"
D="action=DUNNO"
# answers: the expected output, one answer per argument (each followed by the empty line).
answers() { local a; for a in "$@"; do printf '%s\n\n' "$a"; done; }
# answers_are NAME ANSWER...: NAME.out is exactly these answers, byte for byte.
answers_are() {
    local n=$1; shift
    answers "$@" >"$WORK/$n.exp"
    cmp -s "$WORK/$n.out" "$WORK/$n.exp" || { echo "# $n.out differs from the expected answers:"; diff "$WORK/$n.exp" "$WORK/$n.out" | head -20 | sed 's/^/#   /'; return 1; }
}

# swap_race NAME SOCKET CMD...: runs CMD under strace with bind() held for a second after it
# made SOCKET, swaps SOCKET for a symlink to $WORK/NAME.victim (mode 0600) meanwhile, and
# leaves the victim's mode in $WORK/NAME.mode once CMD said it listens (on stderr, NAME.err).
swap_race() {
    local name=$1 sock=$2; shift 2
    printf 'secret' >"$WORK/$name.victim"; chmod 600 "$WORK/$name.victim"
    rm -f "$sock"
    strace -f -o /dev/null -e trace=bind -e inject=bind:delay_exit=1000000 "$@" 2>"$WORK/$name.err" &
    local tracer=$!
    wait_for 5 test -S "$sock" && mv "$sock" "$sock.moved" && ln -s "$WORK/$name.victim" "$sock"
    wait_for 5 grep -q "listening on" "$WORK/$name.err"
    stat -c %a "$WORK/$name.victim" >"$WORK/$name.mode"
    local child; child=$(pgrep -P "$tracer")
    [ -n "$child" ] && kill "$child"
    wait "$tracer" 2>/dev/null
}

# =============================================================================================
echo "# command line"
t u1 "$P" policy --bogus; check "policy: unknown option: exit 2" rc_is 2
t u2 "$P" policy --tag 'a-b'; check "policy: a tag that is not letters and digits: exit 2" rc_is 2
t u3 "$P" policy --timeout 0; check "policy: --timeout 0: exit 2" rc_is 2
t u4 "$P" policy extra; check "policy: a stray argument: exit 2" rc_is 2
t u5 "$P" header; check "header: no arguments: exit 2" rc_is 2
t u6 "$P" header "$LIN" os; check "header: neither genre nor link: exit 2" rc_is 2
t u7 "$P" help; check "help lists policy and header" eval 'rc_is 0 && grep -q "p0fshim policy" "$WORK/u7.out" && grep -q "p0fshim header" "$WORK/u7.out"'

# =============================================================================================
echo "# policy on stdin/stdout (spawn)"
{
    req RCPT "$LIN" m1          # genre
    req RCPT "$LIN" m1          # second recipient: nothing
    req DATA "$LIN" m1          # link type
    req END-OF-MESSAGE "$LIN" m1
    req RCPT "$LIN" m2          # the next message: genre again
    req CONNECT "$LIN" ""
    req MAIL "$LIN" m2
    req VRFY "$LIN" ""
} >"$WORK/s1.in"
t s1 "$P" policy --config "$WORK/main.conf" <"$WORK/s1.in"
check "stdio: one answer per request, genre at RCPT once per message, link at DATA" \
    eval 'rc_is 0 && answers_are s1 "$PREPEND_G" "$D" "$PREPEND_L" "$D" "$PREPEND_G" "$D" "$D" "$D"'
check "stdio: nothing at all on stderr (spawn connects it to Postfix)" empty s1.err

{
    req RCPT "$WIN" a; req DATA "$WIN" a
    req RCPT "$NOOS" b; req DATA "$NOOS" b
    req RCPT "$ESC" c; req DATA "$ESC" c
    req RCPT "$V6" d; req DATA "$V6" d
    req RCPT "::ffff:$LIN" e
    req RCPT 192.0.2.99 f; req DATA 192.0.2.99 f
    req RCPT unknown g
    req RCPT "" h
} >"$WORK/s2.in"
t s2 "$P" policy --config "$WORK/main.conf" <"$WORK/s2.in"
check "stdio: genre \"os flavor\", link type; OS unknown: link only; sanitised; IPv6; IPv4-mapped; unknown hosts DUNNO" \
    eval 'rc_is 0 && answers_are s2 "action=PREPEND X-P0F-Genre: Windows NT kernel" "action=PREPEND X-P0F-Link-Type: DSL" \
        "$D" "action=PREPEND X-P0F-Link-Type: GPRS, T1, FreeS/WAN" \
        "action=PREPEND X-P0F-Genre: Evil??X-Injected: 1 a?[31m" "action=PREPEND X-P0F-Link-Type: x?y z" \
        "action=PREPEND X-P0F-Genre: Windows 7 or 8" "$D" "$PREPEND_G" "$D" "$D" "$D" "$D"'
check "stdio: no answer line holds a control byte" bash -c "! LC_ALL=C grep -q \$'[\\x01-\\x09\\x0b-\\x1f\\x7f]' '$WORK/s2.out'"

{
    req RCPT "$LIN" m1 "policy_context=genre"
    req RCPT "$LIN" m1 "policy_context=link"
    req RCPT "$LIN" m1 "policy_context=genre"      # second recipient
    req RCPT "$LIN" m1 "policy_context=link"
    req DATA "$LIN" m2 "policy_context=genre"
    req END-OF-MESSAGE "$LIN" m3 "policy_context=genre"
} >"$WORK/s3.in"
t s3 "$P" policy --config "$WORK/main.conf" <"$WORK/s3.in"
check "stdio: policy_context genre/link chooses the header, once per message; never at END-OF-MESSAGE" \
    eval 'rc_is 0 && answers_are s3 "$PREPEND_G" "$PREPEND_L" "$D" "$D" "$PREPEND_G" "$D"'

t s4 "$P" policy --config "$WORK/main.conf" --tag Sec123 <"$WORK/s1.in"
check "stdio: --tag names the headers X-P0F-Genre-TAG / X-P0F-Link-Type-TAG" \
    eval 'rc_is 0 && head -1 "$WORK/s4.out" | grep -qx "action=PREPEND X-P0F-Genre-Sec123: Linux 2.2.x-3.x" &&
          grep -qx "action=PREPEND X-P0F-Link-Type-Sec123: Ethernet or modem" "$WORK/s4.out"'

printf 'junk without equals\nrequest=other_policy\nprotocol_state=RCPT\nclient_address=%s\n\n' "$LIN" >"$WORK/s5.in"
printf 'request=smtpd_access_policy\nprotocol_state=RCPT\r\nclient_address=%s\r\ninstance=z\r\n\r\n' "$LIN" >>"$WORK/s5.in"
{ printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address='; head -c 10000 /dev/zero | tr '\0' 9
  printf '\ninstance=y\n\n'; } >>"$WORK/s5.in"
printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s' "$LIN" >>"$WORK/s5.in"   # cut off
t s5 "$P" policy --config "$WORK/main.conf" <"$WORK/s5.in"
check "stdio: other requests DUNNO, CRLF accepted, overlong address DUNNO, a cut-off request unanswered" \
    eval 'rc_is 0 && answers_are s5 "$D" "$PREPEND_G" "$D"'

# Requests one at a time, each answered before the next is sent (as Postfix does).
if command -v python3 >/dev/null; then
    python3 - "$P" "$WORK/main.conf" "$LIN" >"$WORK/s6.out" 2>"$WORK/s6.err" <<'PY'
import subprocess, sys
p = subprocess.Popen([sys.argv[1], "policy", "--config", sys.argv[2]], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
for state in ("RCPT", "DATA"):
    p.stdin.write(f"request=smtpd_access_policy\nprotocol_state={state}\nclient_address={sys.argv[3]}\ninstance=q\n\n".encode())
    p.stdin.flush()
    print(p.stdout.readline().decode().rstrip("\n"), repr(p.stdout.readline().decode()))
p.stdin.close()
print("exit", p.wait())
PY
    check "stdio: answers as each request comes (no buffering until EOF)" \
        out_is s6 "$PREPEND_G '\\n'
$PREPEND_L '\\n'
exit 0"
else
    skip "python3 missing: interactive stdio test"
fi

# =============================================================================================
echo "# what stops the headers: add_headers false, config errors, p0f down or hung, untrusted p0f"
conf off "add_headers false"
t a1 "$P" policy --config "$WORK/off.conf" <"$WORK/s1.in"
check "add_headers false: DUNNO to everything" eval 'rc_is 0 && [ "$(grep -c "^action=DUNNO$" "$WORK/a1.out")" = 8 ]'
# conf_raw NAME LINES...: a configuration without the `socket` line (a qpsmtpd line names it).
conf_raw() { printf '%s\n' "log_socket $WORK/log.sock" "${@:2}" >"$WORK/$1.conf"; chmod 644 "$WORK/$1.conf"; }
conf_raw offq "ident/p0f $WORK/p0f.sock add_headers FALSE"
t a2 "$P" policy --config "$WORK/offq.conf" <"$WORK/s1.in"
check "qpsmtpd line with add_headers FALSE (/false/i): DUNNO to everything (and not a config error)" \
    eval 'rc_is 0 && [ "$(grep -c "^action=DUNNO$" "$WORK/a2.out")" = 8 ] &&
          "$P" query "$LIN" --config "$WORK/offq.conf" >/dev/null 2>&1'

conf_raw onq "ident/p0f $WORK/p0f.sock add_headers yes"
t a3 "$P" policy --config "$WORK/onq.conf" <"$WORK/s1.in"
check "qpsmtpd line with add_headers yes: headers" eval 'rc_is 0 && head -1 "$WORK/a3.out" | grep -qx "$PREPEND_G"'

printf 'tmeout_ms 5\nlog_socket %s\n' "$WORK/log.sock" >"$WORK/bad.conf"; chmod 644 "$WORK/bad.conf"
t a4 "$P" policy --config "$WORK/bad.conf" <"$WORK/s1.in"
check "config error under spawn: DUNNO to everything, exit 0, nothing on stderr" \
    eval 'rc_is 0 && [ "$(grep -c "^action=DUNNO$" "$WORK/a4.out")" = 8 ] && empty a4.err'
t a5 "$P" policy --config "$WORK/bad.conf" --socket-listen "$WORK/never.sock"
check "config error with --socket-listen: exit 5, said on stderr" \
    eval 'rc_is 5 && grep -q "config error" "$WORK/a5.err" && ! test -e "$WORK/never.sock"'

P0F=nop0f conf down
T1=$(now_ns); t d1 "$P" policy --config "$WORK/down.conf" <"$WORK/s1.in"; T2=$(now_ns)
check "p0f down (no socket): DUNNO to everything, at once ($(ms_of "$T1" "$T2") ms for 8 requests)" \
    eval 'rc_is 0 && [ "$(grep -c "^action=DUNNO$" "$WORK/d1.out")" = 8 ] && [ "$(ms_of "$T1" "$T2")" -lt 500 ]'
check "p0f down: logged as p0f=error with the reason" \
    wait_for 3 log_has "$WORK/log.txt" 'mta=postfix-policy client="192.0.2.20" state="RCPT" header=X-P0F-Genre action=dunno p0f=error ms=[0-9]+ reason="p0f connect: No such file or directory"'

fake hang --mode hang
P0F=hang conf hang
{ req RCPT "$LIN" h1; req DATA "$LIN" h1; req RCPT "$WIN" h2; } >"$WORK/h.in"
T1=$(now_ns); t h1 "$P" policy --config "$WORK/hang.conf" <"$WORK/h.in"; T2=$(now_ns)
check "p0f hung: DUNNO; one 200 ms deadline, then p0f is not asked for a second ($(ms_of "$T1" "$T2") ms)" \
    eval 'rc_is 0 && [ "$(grep -c "^action=DUNNO$" "$WORK/h1.out")" = 3 ] &&
          [ "$(ms_of "$T1" "$T2")" -ge 190 ] && [ "$(ms_of "$T1" "$T2")" -lt 600 ]'
T1=$(now_ns); t h2 "$P" policy --config "$WORK/hang.conf" --timeout 50 <"$WORK/h.in"; T2=$(now_ns)
check "p0f hung: --timeout 50 is honoured ($(ms_of "$T1" "$T2") ms)" \
    eval 'rc_is 0 && [ "$(ms_of "$T1" "$T2")" -ge 45 ] && [ "$(ms_of "$T1" "$T2")" -lt 190 ]'

fake late --nomatch-first 2 --host "$LATE" --os Linux --flavor "3.11 and newer" --link DSL
P0F=late conf late
printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\n\n' "$LATE" >"$WORK/l.in"
t l1 "$P" policy --config "$WORK/late.conf" <"$WORK/l.in"
check "NOMATCH is asked again: p0f's answer on the third try is used" \
    eval 'rc_is 0 && head -1 "$WORK/l1.out" | grep -qx "action=PREPEND X-P0F-Genre: Linux 3.11 and newer"'

if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
    rm -f "$WORK/nobody.ready"
    chmod 777 "$WORK"
    spawn setpriv --reuid=65534 --regid=65534 --clear-groups "$HELPERS/fake_p0f" --socket "$WORK/nobody.sock" \
        --ready-file "$WORK/nobody.ready" --host "$LIN" --os Linux --flavor "2.2.x-3.x" 2>>"$WORK/fake.err"
    wait_for 5 test -e "$WORK/nobody.ready"
    chmod 755 "$WORK"
    P0F=nobody conf untrusted
    printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\n\n' "$LIN" >"$WORK/n.in"
    t n1 "$P" policy --config "$WORK/untrusted.conf" <"$WORK/n.in"
    check "a p0f socket served by another user (not root, not p0f_user): DUNNO" \
        eval 'rc_is 0 && out_is n1 "$D"'
    check "untrusted p0f: logged" wait_for 3 log_has "$WORK/log.txt" 'reason="p0f socket served by uid 65534, not root or p0f_user"'
    P0F=nobody conf trusted "p0f_user nobody"
    t n2 "$P" policy --config "$WORK/trusted.conf" <"$WORK/n.in"
    check "p0f_user nobody: that p0f is trusted" eval 'rc_is 0 && head -1 "$WORK/n2.out" | grep -qx "$PREPEND_G"'
else
    skip "not root: the untrusted-p0f test needs setpriv as root"
fi

# =============================================================================================
echo "# policy --socket-listen"
if command -v python3 >/dev/null; then
    PS=$WORK/policy.sock
    spawn "$P" policy --config "$WORK/main.conf" --socket-listen "$PS" --max-clients 3 --socket-mode 0660 \
        2>"$WORK/server.err"
    SERVER=$!
    check "socket: listening, mode 0660" eval 'wait_for 5 test -S "$PS" && [ "$(stat -c %a "$PS")" = 660 ]'
    python3 - "$PS" "$LIN" >"$WORK/k1.out" 2>"$WORK/k1.err" <<'PY'
import socket, sys, time
path, ip = sys.argv[1], sys.argv[2]
def req(state, inst, ctx=""):
    return f"request=smtpd_access_policy\nprotocol_state={state}\nclient_address={ip}\ninstance={inst}\npolicy_context={ctx}\n\n".encode()
bufs = {}
def answer(s):
    buf = bufs.get(s, b"")
    while b"\n\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            return "EOF"
        buf += chunk
    one, _, bufs[s] = buf.partition(b"\n\n")
    return one.decode()
# Three clients at once, interleaved; each keeps its own per-message memory.
cs = [socket.socket(socket.AF_UNIX) for _ in range(3)]
for c in cs: c.connect(path)
for i, c in enumerate(cs): c.sendall(req("RCPT", "m%d" % i))
print("a", [answer(c) for c in cs])
for c in cs: c.sendall(req("RCPT", "m0"))
print("b", [answer(c) for c in cs])
# A fourth is over --max-clients: closed at once (Postfix then uses its default_action).
d = socket.socket(socket.AF_UNIX); d.connect(path); d.settimeout(2)
t0 = time.time(); print("full", repr(d.recv(10)), round(time.time() - t0, 1))
# Pipelined requests in one write, and a request split into single bytes.
cs[0].sendall(req("DATA", "p") + req("RCPT", "p", "link") + req("RCPT", "p", "genre"))
print("pipe", [answer(cs[0]), answer(cs[0]), answer(cs[0])])
for b in req("RCPT", "split"):
    cs[1].send(bytes([b]))
print("split", answer(cs[1]))
# A client that closes after its request still gets the answer written before the close.
cs[2].sendall(req("RCPT", "last")); cs[2].shutdown(socket.SHUT_WR)
print("halfclose", answer(cs[2]))
for c in cs: c.close()
# A slot is free again.
e = socket.socket(socket.AF_UNIX); e.connect(path); e.sendall(req("RCPT", "again"))
print("again", answer(e))
PY
    check "socket: three interleaved clients, each answered" \
        eval "grep -qxF \"a ['$PREPEND_G', '$PREPEND_G', '$PREPEND_G']\" '$WORK/k1.out'"
    check "socket: per-connection memory (m0 again: DUNNO only on the connection that had it)" \
        eval "grep -qxF \"b ['$D', '$PREPEND_G', '$PREPEND_G']\" '$WORK/k1.out'"
    check "socket: a client over --max-clients is closed at once" grep -qx "full b'' 0.0" "$WORK/k1.out"
    check "socket: pipelined requests answered in order" \
        eval "grep -qxF \"pipe ['$PREPEND_L', '$D', '$PREPEND_G']\" '$WORK/k1.out'"
    check "socket: a request sent byte by byte" grep -qxF "split $PREPEND_G" "$WORK/k1.out"
    check "socket: answered before a half-closed client is dropped" grep -qxF "halfclose $PREPEND_G" "$WORK/k1.out"
    check "socket: a freed slot is used again" grep -qxF "again $PREPEND_G" "$WORK/k1.out"
    check "socket: the refusal is logged" wait_for 3 log_has "$WORK/log.txt" 'msg="policy client refused"'
    # A client whose lookups are slow (40 hosts p0f does not know: each is asked again for
    # about 75 ms) must not hold up another client's lookup. Its own answers still come in
    # the order of its requests (two of them are for a known host).
    python3 - "$PS" "$LIN" >"$WORK/k3.out" 2>"$WORK/k3.err" <<'PY'
import selectors, socket, sys, time
path, known = sys.argv[1], sys.argv[2]
def req(state, ip, inst):
    return f"request=smtpd_access_policy\nprotocol_state={state}\nclient_address={ip}\ninstance={inst}\n\n".encode()
slow, fast = socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)
slow.connect(path); fast.connect(path)
pipeline = [req("RCPT", f"192.0.2.{100 + i}", f"u{i}") for i in range(20)] + [req("RCPT", known, "k")]
pipeline += [req("RCPT", f"192.0.2.{130 + i}", f"v{i}") for i in range(18)] + [req("DATA", known, "k")]
slow.sendall(b"".join(pipeline))
time.sleep(0.1)                      # the server is busy with the slow client's lookups now
t0 = time.monotonic()
fast.sendall(req("RCPT", known, "f"))
# Both read at once, each answer stamped with its arrival.
want = {slow: len(pipeline), fast: 1}
buf, got = {slow: b"", fast: b""}, {slow: [], fast: []}
sel = selectors.DefaultSelector()
for s in want: sel.register(s, selectors.EVENT_READ)
while any(len(got[s]) < want[s] for s in want) and time.monotonic() < t0 + 20:
    for key, _ in sel.select(1):
        s = key.fileobj
        chunk = s.recv(4096)
        if not chunk:
            got[s].append(("EOF", time.monotonic())); sel.unregister(s); continue
        buf[s] += chunk
        while b"\n\n" in buf[s]:
            one, _, buf[s] = buf[s].partition(b"\n\n")
            got[s].append((one.decode(), time.monotonic()))
(fast_answer, t_fast), = got[fast]
print("fast", fast_answer)
print("fast_ms", round((t_fast - t0) * 1000))
print("fast_before_slow_last", t_fast < got[slow][-1][1])
print("slow", [a for a, _ in got[slow]])
PY
    slow_expected="['$(printf "$D', '%.0s" {1..20})$PREPEND_G', '$(printf "$D', '%.0s" {1..18})$PREPEND_L']"
    check "socket: a fast client is answered while another's slow lookups go on ($(sed -n 's/^fast_ms //p' "$WORK/k3.out") ms)" \
        eval 'grep -qxF "fast $PREPEND_G" "$WORK/k3.out" && grep -qx "fast_before_slow_last True" "$WORK/k3.out" &&
              [ "$(sed -n "s/^fast_ms //p" "$WORK/k3.out")" -lt 300 ] || { sed "s/^/#   /" "$WORK/k3.out" "$WORK/k3.err" | cut -c1-200; false; }'
    check "socket: the slow client's 40 answers in the order of its requests" \
        eval 'grep -qxF "slow $slow_expected" "$WORK/k3.out" || { grep "^slow" "$WORK/k3.out" | cut -c1-300 | sed "s/^/#   /"; false; }'
    kill "$SERVER"; wait "$SERVER" 2>/dev/null
    check "socket: SIGTERM stops it and removes the socket" bash -c "! test -e '$PS'"
    printf 'x' >"$WORK/notasock"
    t k2 "$P" policy --config "$WORK/main.conf" --socket-listen "$WORK/notasock"
    check "socket: a file that is not a socket is never replaced" \
        eval 'rc_is 1 && [ "$(cat "$WORK/notasock")" = x ]'
    ln -s "$WORK/notasock" "$WORK/symlink.sock"
    t k4 "$P" policy --config "$WORK/main.conf" --socket-listen "$WORK/symlink.sock"
    check "socket: a symlink at the path is neither followed nor replaced" \
        eval 'rc_is 1 && [ "$(readlink "$WORK/symlink.sock")" = "$WORK/notasock" ] && [ "$(cat "$WORK/notasock")" = x ]'
else
    skip "python3 missing: socket server tests"
fi
if [ "$(id -u)" -eq 0 ] && command -v strace >/dev/null; then
    mkdir -p "$WORK/race"
    swap_race prace "$WORK/race/policy.sock" "$P" policy --config "$WORK/main.conf" \
        --socket-listen "$WORK/race/policy.sock" --socket-mode 0666
    check "socket: a symlink swapped in right after bind(): its target's mode is untouched (as root)" \
        eval 'grep -q "listening on" "$WORK/prace.err" && [ "$(cat "$WORK/prace.mode")" = 600 ] &&
              [ "$(stat -c %a "$WORK/race/policy.sock.moved")" = 666 ] || { cat "$WORK/prace.mode"; sed "s/^/#   /" "$WORK/prace.err"; false; }'
else
    skip "not root or no strace: the socket-mode race test"
fi

# =============================================================================================
echo "# header (Exim's \${run})"
t e1 "$P" header "$LIN" genre --config "$WORK/main.conf"
check "header genre: the value, no newline, exit 0" eval 'rc_is 0 && raw_is e1 "Linux 2.2.x-3.x"'
t e2 "$P" header "$LIN" link --config "$WORK/main.conf"
check "header link: the value, exit 0" eval 'rc_is 0 && raw_is e2 "Ethernet or modem"'
t e3 "$P" header "$ESC" genre --config "$WORK/main.conf"
check "header: sanitised, one line" eval 'rc_is 0 && raw_is e3 "Evil??X-Injected: 1 a?[31m"'
t e4 "$P" header "$NOOS" genre --config "$WORK/main.conf"
check "header: OS not identified: nothing, exit 1" eval 'rc_is 1 && empty e4.out && empty e4.err'
t e5 "$P" header 192.0.2.99 genre --config "$WORK/main.conf"
check "header: unknown host: nothing, exit 1" eval 'rc_is 1 && empty e5.out'
t e6 "$P" header "$LIN" genre --config "$WORK/off.conf"
check "header: add_headers false: nothing, exit 1" eval 'rc_is 1 && empty e6.out'
t e7 "$P" header not-an-ip genre --config "$WORK/main.conf"
check "header: not an address: nothing, exit 1" eval 'rc_is 1 && empty e7.out'
T1=$(now_ns); t e8 "$P" header "$LIN" genre --config "$WORK/hang.conf" --verbose; T2=$(now_ns)
check "header: p0f hung: nothing after the deadline, exit 1, --verbose says why" \
    eval 'rc_is 1 && empty e8.out && grep -q "p0f=error .*reason=p0f timeout" "$WORK/e8.err" && [ "$(ms_of "$T1" "$T2")" -lt 600 ]'
t e9 "$P" header "$LIN" genre --config "$WORK/bad.conf"
check "header: config error: nothing, exit 1, quiet without --verbose" eval 'rc_is 1 && empty e9.out && empty e9.err'

# =============================================================================================
echo "# p0fshim-milter command line"
if [ -x "$MILTER" ]; then
    t m1 "$MILTER"; check "milter: no --socket: usage, exit 2" eval 'rc_is 2 && grep -q "^usage: p0fshim-milter" "$WORK/m1.err"'
    t m2 "$MILTER" --socket "unix:$WORK/m.sock" --config "$WORK/bad.conf"
    check "milter: config error: exit 5, named on stderr" eval 'rc_is 5 && grep -q "bad.conf:1: " "$WORK/m2.err"'
    t m3 "$MILTER" --socket "unix:$WORK/m.sock" --timeout 0; check "milter: --timeout 0: exit 2" rc_is 2
    # 2^32 + 1 ms: out of range, not 1 ms after a cast to unsigned (a milter that takes it
    # starts serving: timeout ends it)
    t m3b timeout 5 "$MILTER" --socket "unix:$WORK/m.sock" --timeout 4294967297; check "milter: --timeout 4294967297: exit 2" rc_is 2
    spawn "$MILTER" --socket "unix:$WORK/m.sock" --config "$WORK/main.conf" --socket-mode 0600 2>"$WORK/m4.err"
    MP=$!
    check "milter: listens, socket mode as asked" eval 'wait_for 5 test -S "$WORK/m.sock" && [ "$(stat -c %a "$WORK/m.sock")" = 600 ]'
    kill "$MP"; wait "$MP" 2>/dev/null
    check "milter: stops on SIGTERM and removes its socket" bash -c "! test -e '$WORK/m.sock'"
    printf 'x' >"$WORK/m.file"; ln -s "$WORK/m.file" "$WORK/m.link"
    t m5 "$MILTER" --socket "unix:$WORK/m.link" --config "$WORK/main.conf"
    check "milter: a symlink at the path is neither followed nor replaced" \
        eval 'rc_is 1 && [ "$(readlink "$WORK/m.link")" = "$WORK/m.file" ] && [ "$(cat "$WORK/m.file")" = x ]'
    ln -s "$WORK/p0f.sock" "$WORK/m.link2"
    t m6 timeout 5 "$MILTER" --socket "unix:$WORK/m.link2" --config "$WORK/main.conf"
    check "milter: a symlink to a socket is not replaced either" \
        eval 'rc_is 1 && [ "$(readlink "$WORK/m.link2")" = "$WORK/p0f.sock" ] && test -S "$WORK/p0f.sock"'
    if [ "$(id -u)" -eq 0 ] && command -v strace >/dev/null; then
        mkdir -p "$WORK/mrace"
        swap_race mrace "$WORK/mrace/milter.sock" "$MILTER" --socket "unix:$WORK/mrace/milter.sock" \
            --config "$WORK/main.conf" --socket-mode 0666
        check "milter: a symlink swapped in right after bind(): its target's mode is untouched (as root)" \
            eval 'grep -q "listening on" "$WORK/mrace.err" && [ "$(cat "$WORK/mrace.mode")" = 600 ] &&
                  [ "$(stat -c %a "$WORK/mrace/milter.sock.moved")" = 666 ] || { cat "$WORK/mrace.mode"; sed "s/^/#   /" "$WORK/mrace.err"; false; }'
    else
        skip "not root or no strace: the milter socket-mode race test"
    fi
else
    skip "build/p0fshim-milter missing (make milter)"
fi

summary
