#!/bin/bash
# bench_report.sh [LINES] [DIR]: throughput of `p0fshim report` on a log of LINES lines
# (default 10,000,000) made by gen_log.sh in DIR (default build/bench; kept for the next
# run: it is about 2.3 GB for 10 million lines). Prints lines per second for a mapped
# file (read once beforehand, so the page cache holds it) and for a pipe. No pass/fail:
# the target (1 million lines per second on one core) is for a human to compare.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LINES=${1:-10000000}
DIR=${2:-$TOP/build/bench}
P=$TOP/build/p0fshim
LOG=$DIR/mail-$LINES.log

[ -x "$P" ] || { echo "bench_report.sh: $P is missing (make build/p0fshim)" >&2; exit 2; }
mkdir -p "$DIR"
if [ ! -s "$LOG" ] || [ "$(wc -l <"$LOG")" -ne "$LINES" ]; then
    echo "generating $LOG ($LINES lines)..."
    bash "$TOP/tests/tool/gen_log.sh" "$LINES" >"$LOG.tmp" && mv "$LOG.tmp" "$LOG"
fi
cat "$LOG" >/dev/null

now_ns() { date +%s%N; }
run() {
    local what=$1; shift
    local t0 t1
    t0=$(now_ns)
    "$@" >/dev/null
    t1=$(now_ns)
    awk -v n="$LINES" -v ns=$((t1 - t0)) -v what="$what" \
        'BEGIN { printf "report %-12s %d lines in %.2f s: %.0f lines/s\n", what, n, ns / 1e9, n / (ns / 1e9) }'
}
run "(file)" "$P" report --year 2024 "$LOG"
run "(file, csv)" "$P" report --year 2024 --csv "$LOG"
run "(pipe)" sh -c "cat '$LOG' | '$P' report --year 2024"
