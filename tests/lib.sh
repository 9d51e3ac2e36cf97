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

# scenario_dir NAME PORT_STEP: a test scenario's fresh start, shared by the integration scripts:
# S=NAME, D=$WORK/NAME, PORT (PORT_BASE + PORT_STEP ports per scenario already run), the
# blocked-OS file (line 1: $BLOCKED, default /windows/), an empty log and a log sink on
# $D/log.sock writing it (its pid in SINK_PID).
scenario_dir() {
    S=$1 D=$WORK/$1
    PORT=$((PORT_BASE + $2 * SCENARIO_NO))
    SCENARIO_NO=$((SCENARIO_NO + 1))
    mkdir -p "$D"
    printf '%s\n' "${BLOCKED:-/windows/}" >"$D/blocked"
    : >"$D/log.txt"
    spawn "$HELPERS/logsink" "$D/log.sock" "$D/log.txt" 2>>"$D/logsink.err"
    SINK_PID=$!
    wait_for 5 test -S "$D/log.sock" || echo "# $S: logsink did not start"
}
