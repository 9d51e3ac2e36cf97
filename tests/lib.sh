# Shared helpers for the integration and end-to-end tests (sourced, not run).
# Each test script calls `check NAME CONDITION...` and ends with `summary`, which prints
# the "N passed, N failed" line and exits non-zero on any failure.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${P0FSHIM_BUILD:-$TOP/build}   # another build (build-asan, ...) with P0FSHIM_BUILD
LIB=$BUILD/libp0fshim.so
HELPERS=$BUILD/tests          # the test helpers (tests/helpers/), as built
PASSED=0
FAILED=0
FAILED_NAMES=()

# A private scratch directory, removed on exit together with every process we started.
WORK=$(mktemp -d /tmp/p0fshim-test.XXXXXX)
chmod 755 "$WORK"
CHILD_PIDS=()
CLEANUP_HOOKS=()

cleanup() {
    local pid hook
    for hook in "${CLEANUP_HOOKS[@]}"; do eval "$hook" >/dev/null 2>&1 || true; done
    for pid in "${CHILD_PIDS[@]}"; do kill -CONT "$pid" 2>/dev/null; kill "$pid" 2>/dev/null; done
    for pid in "${CHILD_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    if [ -n "${KEEP_WORK:-}" ]; then echo "scratch kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# Run a command in the background and remember it for cleanup; sets $! as usual.
spawn() { "$@" & CHILD_PIDS+=("$!"); }

check() {
    local name=$1; shift
    if "$@"; then
        PASSED=$((PASSED + 1)); echo "ok   - $name"
    else
        FAILED=$((FAILED + 1)); FAILED_NAMES+=("$name"); echo "FAIL - $name"
    fi
}

fail_now() { echo "FATAL: $*" >&2; FAILED=$((FAILED + 1)); summary; }

summary() {
    local n
    for n in "${FAILED_NAMES[@]}"; do echo "failed: $n"; done
    echo "$(basename "$0"): $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
    exit $?
}

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.05
    done
}

# Lines of the captured syslog stream that match a grep -E pattern.
log_has() { grep -Eq -- "$2" "$1"; }
log_count() { grep -Ec -- "$2" "$1" || true; }

# Number of open fds of a process.
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

require_root() { [ "$(id -u)" -eq 0 ] || fail_now "this test needs root (network namespaces)"; }

# require_built FILE...: every FILE exists, else stop at once (the build is incomplete).
require_built() {
    local f
    for f in "$@"; do [ -e "$f" ] || fail_now "$f is missing (run make)"; done
}

re() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g'; }   # literal -> grep -E pattern
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# start_sink SOCKET FILE: a log sink (logsink) recording the datagrams sent to SOCKET in FILE,
# its stderr in logsink.err beside FILE; SINK_PID is its pid. Fails if the socket does not appear.
start_sink() {
    spawn "$HELPERS/logsink" "$1" "$2" 2>>"$(dirname "$2")/logsink.err"
    SINK_PID=$!
    wait_for 5 test -S "$1"
}
