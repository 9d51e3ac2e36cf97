#!/bin/bash
# p0fshim report's exact output (text, JSON, CSV) on the recorded samples and on a generated
# log, against tests/tool/samples/expected/: any byte of difference fails, so a change to the
# report's output must be deliberate. After such a change, `report_golden.sh --update` writes
# the new expectations (review them with git diff before committing).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

P=$BUILD/p0fshim
SAMPLES=$TOP/tests/tool/samples
EXPECTED=$SAMPLES/expected
[ -x "$P" ] || fail_now "$P is missing (run make)"
UPDATE=false
[ "${1:-}" = --update ] && UPDATE=true

ALL=(mail.log.2.gz mail.log.1 mail.log cutoff.log hold-greylist.log journal-short.txt journal-iso.txt
     datagrams.txt journal-cat.txt fail2ban.log)
bash "$TOP/tests/tool/gen_log.sh" 3000 7 >"$WORK/generated.log" || fail_now "gen_log.sh failed"

# case NAME ARGS...: report ARGS (in the samples directory); its stdout, exit status and
# stderr, in that order, compared.
case_() {
    local name=$1; shift
    (cd "$SAMPLES" && "$P" report "$@") >"$WORK/$name.out" 2>"$WORK/$name.err"
    echo "exit $?" >>"$WORK/$name.out"
    cat "$WORK/$name.err" >>"$WORK/$name.out"
    if $UPDATE; then
        cp "$WORK/$name.out" "$EXPECTED/$name.out"
    fi
    check "report $name" diff -u "$EXPECTED/$name.out" "$WORK/$name.out"
}

for fmt in text json csv; do
    opt=()
    [ $fmt = text ] || opt=(--$fmt)
    case_ "samples.$fmt" --year 2024 "${opt[@]}" "${ALL[@]}"
    case_ "window-top1.$fmt" --year 2024 --top 1 --show-unparsable 20 --since "2024-11-27 04:00:05" \
        --until "2024-11-28 10:00:03" "${opt[@]}" "${ALL[@]}"
    case_ "generated.$fmt" --year 2024 --top 3 --max-ips 16 "${opt[@]}" - <"$WORK/generated.log"
    case_ "errors.$fmt" --year 2024 --top 0 "${opt[@]}" no-such-file.log mail.log.1
done

summary
