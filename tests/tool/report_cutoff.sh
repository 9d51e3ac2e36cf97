#!/bin/bash
# p0fshim report's counters of refusals the library carried out after the MTA had the
# connection (cutoff=): too late, and after the client had sent data, for block and greylist,
# in the text, JSON and CSV outputs, on tests/tool/samples/cutoff.log (new lines, old lines
# without the fields, hostile values). Logs without the fields get no such section at all.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

P=$BUILD/p0fshim
SAMPLES=$TOP/tests/tool/samples
[ -x "$P" ] || fail_now "$P is missing (run make)"

# t NAME CMD...: runs CMD, stdout in $WORK/NAME.out, stderr in $WORK/NAME.err, status in $RC.
t() { local n=$1; shift; "$@" >"$WORK/$n.out" 2>"$WORK/$n.err"; RC=$?; }
show() { sed 's/^/#   /' "$1" | head -40; }
row() { grep -qxF -- "$2" "$WORK/$1.out" || { echo "# $1.out lacks the line: $2"; show "$WORK/$1.out"; return 1; }; }
has() { grep -Eq -- "$2" "$WORK/$1.out" || { echo "# $1.out lacks /$2/:"; show "$WORK/$1.out"; return 1; }; }
lacks() { ! grep -Eq -- "$2" "$WORK/$1.out" || { echo "# $1.out has /$2/"; return 1; }; }
# json NAME EXPR WANT: the Python expression EXPR over the parsed JSON (d) prints WANT.
json() {
    local got
    got=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$WORK/$1.out" "$2") &&
        [ "$got" = "$3" ] || { echo "# $1.out: $2 is \"$got\", expected \"$3\""; return 1; }
}

cd "$SAMPLES" || fail_now "no $SAMPLES"

# cutoff.log: blocks too late 5 (one line counted twice by "message repeated 2 times", one with
# client_sent=lots), blocks after client data 4 (client_sent absent, negative or given twice
# changes nothing), greylists too late 1, after client data 2; in_time, old lines without the
# fields, unknown words (much_too_late, TOO_LATE, an escaped one, an empty one), a forged
# cutoff= inside quoted values, and allow/pass_greylist lines with cutoff= count as neither;
# cutoff= given twice makes its line unparsable, like any field given twice.
t c1 "$P" report --year 2024 --csv cutoff.log
check "csv: exit 0, every line accounted for" eval '[ $RC -eq 0 ] && row c1 "summary,lines,,25" &&
    row c1 "summary,connections,,24" && row c1 "summary,other_lines,,1" && row c1 "summary,unparsable_shim,,1"'
check "csv: verdicts unchanged by the fields" eval 'row c1 "verdict,block,,17" && row c1 "verdict,greylist,,5" &&
    row c1 "verdict,allow,,1" && row c1 "verdict,pass_greylist,,1"'
check "csv: blocks too late" row c1 "cutoff,blocks_too_late,,5"
check "csv: blocks after client data" row c1 "cutoff,blocks_after_client_data,,4"
check "csv: greylists too late" row c1 "cutoff,greylists_too_late,,1"
check "csv: greylists after client data" row c1 "cutoff,greylists_after_client_data,,2"
check "csv: the cutoff rows follow the action rows" eval '[ "$(grep -A1 "^action,other," "$WORK/c1.out")" = "$(printf "action,other,,0\ncutoff,blocks_too_late,,5")" ]'
check "csv: cutoff given twice is an unparsable line" has c1 '^unparsable,cutoff\.log:24,a field given twice,'

t c2 "$P" report --year 2024 --json cutoff.log
check "json: exit 0, valid" eval '[ $RC -eq 0 ] && json c2 "1" 1'
check "json: the four counters" json c2 'd["cutoff"]' \
    "{'blocks_too_late': 5, 'blocks_after_client_data': 4, 'greylists_too_late': 1, 'greylists_after_client_data': 2}"
check "json: totals" json c2 '(d["connections"], d["verdicts"]["block"], d["verdicts"]["greylist"], d["unparsable_shim"])' \
    "(24, 17, 5, 1)"

t c3 "$P" report --year 2024 cutoff.log
check "text: exit 0, the section" eval '[ $RC -eq 0 ] && has c3 "^  cut off by the library after the MTA had the connection:$"'
check "text: blocks too late" has c3 '^    block too late \(the session was already over\) +5$'
check "text: blocks after client data" has c3 '^    block after the client had sent data +4$'
check "text: greylists too late" has c3 '^    greylist too late \(the session was already over\) +1$'
check "text: greylists after client data" has c3 '^    greylist after the client had sent data +2$'

# A new log where every cutoff came in time: the section is there, with zeros.
grep -E 'cutoff=in_time' cutoff.log >"$WORK/in_time.log"
t i1 "$P" report --year 2024 --csv "$WORK/in_time.log"
check "in time only: csv rows of 0" eval 'row i1 "cutoff,blocks_too_late,,0" && row i1 "cutoff,greylists_after_client_data,,0"'
t i2 "$P" report --year 2024 --json "$WORK/in_time.log"
check "in time only: json zeros" json i2 'sum(d["cutoff"].values())' 0
t i3 "$P" report --year 2024 "$WORK/in_time.log"
check "in time only: text zeros" has i3 '^    block too late \(the session was already over\) +0$'

# Logs written before the fields existed: no section in any output.
t o1 "$P" report --year 2024 --csv mail.log hold-greylist.log
check "old logs: no cutoff rows in csv" eval 'row o1 "verdict,block,,8" && lacks o1 "^cutoff,"'
t o2 "$P" report --year 2024 --json mail.log hold-greylist.log
check "old logs: no cutoff object in json" json o2 '"cutoff" in d' False
t o3 "$P" report --year 2024 mail.log hold-greylist.log
check "old logs: no cutoff section in text" lacks o3 "cut off by the library"

# The counters obey the time window like every other count.
t w1 "$P" report --year 2024 --csv --since "2024-12-01 09:00:04" --until "2024-12-01 09:00:09" cutoff.log
check "--since/--until: only the lines inside" eval 'row w1 "cutoff,blocks_too_late,,2" &&
    row w1 "cutoff,blocks_after_client_data,,2" && row w1 "cutoff,greylists_too_late,,1" &&
    row w1 "cutoff,greylists_after_client_data,,1"'

summary
