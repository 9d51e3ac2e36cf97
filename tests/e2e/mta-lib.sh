# Shared by the end-to-end tests of MTAs run from Debian's packages without installing them
# (tests/e2e/opensmtpd.sh, sendmail.sh; sourced after tests/lib.sh, scripts/lab.sh and smtp.sh):
# fetching and unpacking the packages, a private mount namespace in which the MTA finds its
# users and its compiled-in directories, an SMTP client that reports the server's first line
# and when it came, and the checks every MTA test makes on the shim's side.

# deb_unpack CACHE PACKAGE...: the packages fetched with `apt-get download` into CACHE/debs and
# unpacked with dpkg -x into CACHE/root (once; later runs reuse it). Fails the test when the
# archive cannot be reached. DEB_ROOT is CACHE/root.
deb_unpack() {
    local cache=$1 d; shift
    DEB_ROOT=$cache/root
    [ -e "$DEB_ROOT/.complete" ] && return 0
    mkdir -p "$cache/debs"
    # apt runs downloads as _apt, which needs to write there.
    chown _apt "$cache/debs" 2>/dev/null
    fetch() { (cd "$cache/debs" && apt-get download "$@") >"$WORK/download.out" 2>&1; }
    # Package lists may be missing or stale on a fresh machine: refresh them once.
    if ! fetch "$@" && ! { apt-get update -qq >/dev/null 2>&1 && fetch "$@"; }; then
        sed 's/^/#   /' "$WORK/download.out" | tail -5
        fail_now "the packages could not be fetched (apt-get download $*)"
    fi
    rm -rf "$DEB_ROOT.new" && mkdir -p "$DEB_ROOT.new"
    for d in "$cache"/debs/*.deb; do dpkg -x "$d" "$DEB_ROOT.new" || fail_now "dpkg -x $d failed"; done
    touch "$DEB_ROOT.new/.complete"
    rm -rf "$DEB_ROOT" && mv "$DEB_ROOT.new" "$DEB_ROOT"
}

# private_users NAME:UID[:GID]...: $WORK/passwd and $WORK/group, copies of the system's with these
# accounts added (the group of the same name); the MTA's namespace binds them over /etc.
private_users() {
    local spec name uid gid
    cp /etc/passwd "$WORK/passwd"; cp /etc/group "$WORK/group"
    for spec in "$@"; do
        IFS=: read -r name uid gid <<<"$spec"
        gid=${gid:-$uid}
        grep -q "^$name:" "$WORK/passwd" || echo "$name:x:$uid:$gid::/nonexistent:/usr/sbin/nologin" >>"$WORK/passwd"
        grep -q "^$name:" "$WORK/group" || echo "$name:x:$gid:" >>"$WORK/group"
    done
    chmod 644 "$WORK/passwd" "$WORK/group"
}

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
# greet windows|linux PORT TAG: first_line from that client namespace into $WORK/greet-TAG.out.
greet() {
    "lab_exec_$1" bash -c "$(declare -f first_line); first_line \"\$@\"" first_line "$LAB_SERVER_IP" "$2" \
        >"$WORK/greet-$3.out" 2>&1
}
greet_field() { sed -nE "s/^.*$1=([^ ]*).*/\1/p" "$WORK/greet-$2.out"; }   # greet_field ms|line TAG
refused() { grep -q '^line=554 5\.7\.1 ' "$WORK/greet-$1.out"; }            # refused TAG
served() { grep -q '^line=220 ' "$WORK/greet-$1.out"; }                      # served TAG

# send_from windows|linux PORT TAG: a message <TAG@client.example> to rcpt@example.net by smtp_send;
# its outcome in $WORK/send-TAG.out (result=sent ms=N), the transcript in send-TAG.err.
send_from() {
    printf '%s\n' "From: <sender@example.org>" "To: <rcpt@example.net>" "Message-ID: <$3@client.example>" \
        "Subject: p0fshim e2e" "" "hello from the $1 client" >"$WORK/msg-$3"
    "lab_exec_$1" bash -c "$(declare -f smtp_send); smtp_send \"\$@\"" smtp_send "$LAB_SERVER_IP" "$2" data \
        rcpt@example.net "$WORK/msg-$3" >"$WORK/send-$3.out" 2>"$WORK/send-$3.err"
    grep -q '^result=sent' "$WORK/send-$3.out"
}

# maps_shim PID: the library is mapped in that process.
maps_shim() { grep -q libp0fshim "/proc/$1/maps" 2>/dev/null; }
# listener_pid PORT: the pid of the process holding the listening socket on PORT in the server
# namespace (the first, when several share it).
listener_pid() {
    lab_exec_server ss -Hltnp "sport = :$1" 2>/dev/null | sed -nE 's/.*pid=([0-9]+).*/\1/p' | head -1
}
# at_secure PID: AT_SECURE (auxv type 23) of that process, 0 or 1.
at_secure() { od -An -v -t u8 -w16 "/proc/$1/auxv" 2>/dev/null | awk '$1 == 23 { print $2 }'; }
# descendants PID: PID and every process below it.
descendants() {
    local p
    echo "$1"
    for p in $(ps -o pid= --ppid "$1"); do descendants "$p"; done
}

# shim_lines LOG: the shim's per-connection lines (those with remote=).
# lines_for LOG IP PORT: how many of them name that client address and local port.
lines_for() { grep -Ec "remote=${2//./\\.}:[0-9]+ local=${LAB_SERVER_IP//./\\.}:$3 " "$1"; }
# line_has LOG IP PORT PATTERN: the (last) line for that client and port matches PATTERN.
line_has() {
    grep -E "remote=${2//./\\.}:[0-9]+ local=${LAB_SERVER_IP//./\\.}:$3 " "$1" | tail -1 | grep -Eq -- "$4"
}
