#!/bin/bash
# The system-wide mode: the library named in /etc/ld.so.preload by its system-wide name
# (libp0fshim-system.so), as an admin installs it so that no re-execution of an MTA can shed it.
# Only inside a private mount namespace whose /etc is an overlay with an ld.so.preload of the
# test's own and a broken /etc/p0fshim/p0fshim.conf: the machine's /etc is never written.
#   1. ordinary programs (sh, coreutils, ssh -V, python3, the set-user-ID su) print the same
#      and exit the same with and without it, while it is mapped into them
#   2. in an unlisted program: no file opened beyond the library itself, no thread, no log line
#      (the broken configuration would log one)
#   3. a listed program's name (smtpd) wakes it: the broken configuration is read and reported
#   4. the cost of an exec with it against none (and against LD_PRELOAD, which reads the
#      configuration): P0FSHIM_EXEC_RUNS execs each (default 300)
# Needs root (unshare -m, mount).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_root
require_built "$LIB" "$HELPERS/logsink"
for c in strace ssh python3 su unshare; do
    command -v "$c" >/dev/null || fail_now "$c is missing (scripts/install-deps.sh)"
done
RUNS=${P0FSHIM_EXEC_RUNS:-300}

ln -s "$LIB" "$WORK/libp0fshim-system.so"
mkdir -p "$WORK/upper/p0fshim" "$WORK/overlay-work"
echo "$WORK/libp0fshim-system.so" >"$WORK/upper/ld.so.preload"
# A configuration that fails to load, and says so on the test's log socket.
printf '%s\n' "log_socket $WORK/log.sock" "no_such_directive 1" >"$WORK/upper/p0fshim/p0fshim.conf"
chmod 644 "$WORK/upper/ld.so.preload" "$WORK/upper/p0fshim/p0fshim.conf"
: >"$WORK/log.txt"
start_sink "$WORK/log.sock" "$WORK/log.txt" || fail_now "logsink did not start"

# preloaded CMD...: CMD in a mount namespace whose /etc has the ld.so.preload; plain CMD...: the
# same namespace without it. Both unshare the same way, so the comparison is the preload alone.
preloaded() {
    unshare -m bash -c 'mount -t overlay p0fshim-etc -o "lowerdir=/etc,upperdir=$0/upper,workdir=$0/overlay-work" /etc &&
        exec "$@"' "$WORK" "$@"
}
plain() { unshare -m bash -c 'exec "$@"' plain "$@"; }

check "the overlay is in place: ld.so.preload names the library inside, not outside" \
    eval '[ "$(preloaded cat /etc/ld.so.preload)" = "$WORK/libp0fshim-system.so" ] && [ ! -e /etc/ld.so.preload ]'
check "the library is mapped into a program run there (sleep)" \
    eval 'preloaded bash -c "grep -c libp0fshim /proc/\$\$/maps >$WORK/maps.out"; [ "$(cat "$WORK/maps.out")" -ge 1 ]'

# ---- 1. the same output and exit status ----------------------------------------------------------
PROGRAMS=(
    "sh -c 'echo hello; exit 3'"
    "ls -ln /etc/hostname /nonexistent"
    "sort -r /etc/os-release"
    "date -u -d @86400"
    "cat /proc/self/comm"
    "ssh -V"
    "python3 -c 'import os, sys; print(sum(range(1000)), os.getuid()); sys.exit(4)'"
    "su root -c 'id -u; echo \$0'"
    "env -i /usr/bin/true"
)
for cmd in "${PROGRAMS[@]}"; do
    plain bash -c "$cmd" >"$WORK/plain.out" 2>&1; rc_plain=$?
    preloaded bash -c "$cmd" >"$WORK/pre.out" 2>&1; rc_pre=$?
    check "identical output and exit status ($rc_plain) with the preload: $cmd" \
        eval '[ "$rc_plain" = "$rc_pre" ] && cmp -s "$WORK/plain.out" "$WORK/pre.out"' ||
        diff "$WORK/plain.out" "$WORK/pre.out" | sed 's/^/#   /'
done
check "the set-user-ID su runs in secure-execution mode and still maps the library" \
    eval 'preloaded su root -c "grep -c libp0fshim /proc/\$PPID/maps" >"$WORK/su.out" 2>&1; [ "$(cat "$WORK/su.out")" -ge 1 ]'

# ---- 2. inert: no file, no thread, no line --------------------------------------------------------
# trace RUNNER OUT: the system calls of `cat /etc/hostname` that name a file or make a socket or a
# thread, as "call path" (pids, descriptors and results dropped), run by RUNNER (plain/preloaded).
trace() {
    "$1" strace -f -qq -e trace=open,openat,openat2,stat,newfstatat,statx,access,readlink,socket,connect,clone,clone3 \
        -o "$WORK/$2.raw" cat /etc/hostname >/dev/null
    sed -nE 's/^[0-9]+ +([a-z0-9_]+)\(([^"]*"([^"]*)")?.*/\1 \3/p' "$WORK/$2.raw" >"$WORK/$2.calls"
}
trace plain plain
trace preloaded preloaded
# What ld.so itself does for the preload (ld.so.preload, the file and its own dependencies) is
# not the library's doing; everything else must be the same.
# (ld.so's fstat of each file it maps has no path.)
ldso_own() { grep -vE '^[a-z0-9_]+ (/etc/ld\.so\.preload|.*libp0fshim-system\.so|.*/lib(pcre2-8|lmdb|pthread|dl)\.so.*|)$' "$1"; }
diff <(ldso_own "$WORK/plain.calls") <(ldso_own "$WORK/preloaded.calls") >"$WORK/strace.diff"
check "an unlisted program (cat): no file, socket or thread beyond ld.so's loading of it (strace)" \
    eval '! grep . "$WORK/strace.diff"' || sed 's/^/#   /' "$WORK/strace.diff"
check "... and the trace sees the library loaded" grep -q 'libp0fshim-system.so' "$WORK/preloaded.calls"
preloaded sh -c 'sleep 1 & p=$!; sleep 0.3; grep -c libp0fshim /proc/$p/maps; ls /proc/$p/task | wc -l; wait' \
    >"$WORK/sleeper.out"
check "an unlisted program (sleep) has the library mapped and one thread ($(tr '\n' ' ' <"$WORK/sleeper.out"))" \
    eval '[ "$(sed -n 1p "$WORK/sleeper.out")" -ge 1 ] && [ "$(sed -n 2p "$WORK/sleeper.out")" = 1 ]'
sleep 0.2
check "no log line from any unlisted program (the broken configuration was never read)" \
    eval '! grep . "$WORK/log.txt"' || sed 's/^/#   /' "$WORK/log.txt"

# ---- 3. a listed name wakes it -------------------------------------------------------------------
preloaded bash -c 'exec -a smtpd true'
check "a program called smtpd reads the configuration (its error is logged with file:line)" \
    wait_for 3 log_has "$WORK/log.txt" 'level=error msg="config error" file="/etc/p0fshim/p0fshim.conf" line=2'

# ---- 4. exec-time cost ---------------------------------------------------------------------------
# execs N PRELOAD: ms for N execs of /bin/true from one shell in one namespace (PRELOAD: none,
# system or env).
execs() {
    local runner=plain env=()
    [ "$2" = system ] && runner=preloaded
    [ "$2" = env ] && env=(env "LD_PRELOAD=$LIB" "P0FSHIM_CONFIG=$WORK/env.conf")
    "$runner" "${env[@]}" bash -c 't0=${EPOCHREALTIME/./}; for ((i = 0; i < $0; i++)); do /bin/true; done
        echo $(((${EPOCHREALTIME/./} - t0) / 1000))' "$1"
}
printf '%s\n' "log_socket $WORK/log.sock" "ports 1" >"$WORK/env.conf"
execs 50 none >/dev/null
NONE_MS=$(execs "$RUNS" none) SYS_MS=$(execs "$RUNS" system) ENV_MS=$(execs "$RUNS" env)
per() { awk -v ms="$1" -v n="$RUNS" 'BEGIN { printf "%.0f", ms * 1000 / n }'; }
echo "# exec of /bin/true, $RUNS runs: no preload $(per "$NONE_MS") us, system-wide (unlisted) $(per "$SYS_MS") us," \
    "LD_PRELOAD (configuration read) $(per "$ENV_MS") us per exec"
check "the system-wide mode costs an unlisted exec less than 1 ms on average" \
    eval '[ $(( (SYS_MS - NONE_MS) * 1000 / RUNS )) -lt 1000 ]'
summary
