#!/bin/bash
# p0fshim report --html in a real browser (Debian's chromium, headless): the page renders
# without a console message, its screenshot shows the page and its charts, every number it
# shows equals `p0fshim report --json` on the same log, and hostile log content (markup,
# quotes, control bytes in genre=, rule=, rule_at=, sig=: tests/tool/samples/html.log)
# comes out as text, never as markup. Also: the page loads nothing from outside, a script
# slipped into it would not run (its Content-Security-Policy), and its size on a generated
# log. The checks of the DOM and the screenshot are tests/tool/report_html_check.py.
# Chromium is heavy: run it alone (`flock /tmp/p0fshim-suite.lock bash tests/tool/report_html.sh`
# when other suites may be running).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

P=$BUILD/p0fshim
SAMPLES=$TOP/tests/tool/samples
CHECK=$TOP/tests/tool/report_html_check.py
[ -x "$P" ] || fail_now "$P is missing (run make)"
command -v chromium >/dev/null || fail_now "chromium is missing (scripts/install-deps.sh installs it)"
command -v python3 >/dev/null || fail_now "python3 is missing (scripts/install-deps.sh installs it)"

# browser NAME ARGS... URL: headless chromium with a private profile; stdout in $WORK/NAME.out,
# its console messages (and nothing else of its log) in $WORK/NAME.console.
browser() {
    local name=$1; shift
    timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions \
        --disable-background-networking --user-data-dir="$WORK/profile-$name" --enable-logging=stderr --v=0 \
        "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    local rc=$?
    grep -F ':CONSOLE' "$WORK/$name.err" >"$WORK/$name.console"
    return $rc
}
no_console() { [ ! -s "$WORK/$1.console" ] || { sed 's/^/#   /' "$WORK/$1.console"; return 1; }; }
py() { python3 "$CHECK" "$@"; }

cd "$SAMPLES" || fail_now "no $SAMPLES"
SAMPLE_LOGS=(mail.log.2.gz mail.log.1 mail.log cutoff.log hold-greylist.log journal-short.txt journal-cat.txt
             datagrams.txt html.log)

# ---- the recorded samples and the hostile log: one bar per hour ----
"$P" report --year 2024 --html "${SAMPLE_LOGS[@]}" >"$WORK/samples.html" 2>"$WORK/samples.err"
check "samples: --html exits 0" [ $? -eq 0 ]
"$P" report --year 2024 --json "${SAMPLE_LOGS[@]}" >"$WORK/samples.json" 2>/dev/null
"$P" report --year 2024 --json --top 0 "${SAMPLE_LOGS[@]}" >"$WORK/samples-all.json" 2>/dev/null
check "samples: the page loads nothing and holds no script" py static "$WORK/samples.html"
browser samples --dump-dom "file://$WORK/samples.html"
RC=$?
check "samples: chromium renders the page (exit 0, a DOM)" eval '[ $RC -eq 0 ] && grep -q "id=\"chart-verdicts\"" "$WORK/samples.out"'
check "samples: no console message" no_console samples
check "samples: the numbers shown are the JSON report's; nothing injected" \
    py dom "$WORK/samples.out" "$WORK/samples.json" "$WORK/samples-all.json" hour
check "samples: the forged genre is text in the DOM" \
    grep -qF '<td class="t" data-json="genre.top.0.value">Windows NT kernel</td>' "$WORK/samples.out"

# ---- the hostile log alone: one bar per minute; its signatures ----
"$P" report --year 2024 --html html.log >"$WORK/hostile.html"
"$P" report --year 2024 --json html.log >"$WORK/hostile.json"
"$P" report --year 2024 --json --top 0 html.log >"$WORK/hostile-all.json"
# sig= of the connections no OS was named for (unknown, or os=""), most frequent first
printf '%s\n' '[["4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0", 2],' \
    '["6:64+0:0:1440:65535,8:mss,nop,ws:df,id+:0", 1], ["</textarea><script>alert(5)</script>'"'"'\\", 1]]' \
    >"$WORK/hostile-sigs.json"
check "hostile: the page loads nothing and holds no script" py static "$WORK/hostile.html"
browser hostile --dump-dom "file://$WORK/hostile.html"
check "hostile: no console message" no_console hostile
check "hostile: the numbers shown are the JSON report's; nothing injected; the signatures" \
    py dom "$WORK/hostile.out" "$WORK/hostile.json" "$WORK/hostile-all.json" minute "$WORK/hostile-sigs.json"
check "hostile: markup in genre= is text (escaped as written)" \
    grep -qF '>&lt;script&gt;alert(1)&lt;/script&gt;</td>' "$WORK/hostile.html"
check "hostile: quotes and control bytes in genre= are text" \
    grep -qF '>&quot;&gt;&lt;svg onload=alert(4)&gt;&#39;\x01\x1b[31m\xff&amp;amp;\\</td>' "$WORK/hostile.html"
check "hostile: in the browser too, the genre is text" \
    grep -qF '&lt;script&gt;alert(1)&lt;/script&gt;</td>' "$WORK/hostile.out"
check "hostile: the IPv4 /24 and the IPv6 /64, two addresses each" eval \
    'grep -qF "data-net=\"203.0.113.0/24\"" "$WORK/hostile.html" && grep -qF "data-net=\"2001:db8:5:6::/64\"" "$WORK/hostile.html"'

# ---- a script slipped into the page does not run, and the check of the console sees it ----
sed 's#</body>#<script>document.body.setAttribute("data-ran","yes");console.error("injected-ran")</script></body>#' \
    "$WORK/hostile.html" >"$WORK/slipped.html"
browser slipped --dump-dom "file://$WORK/slipped.html"
check "a slipped-in script: blocked by the page's policy (the browser says so)" \
    eval '! grep -q "<body[^>]*data-ran" "$WORK/slipped.out" && grep -q "Content Security Policy" "$WORK/slipped.console"'
printf '<!DOCTYPE html><html><head><title>c</title></head><body><p>c</p><script>console.error("control-42")</script></body></html>' \
    >"$WORK/control.html"
browser control --dump-dom "file://$WORK/control.html"
check "control: a page that logs to the console is caught" grep -q "control-42" "$WORK/control.console"

# ---- a generated month: one bar per day; size ----
bash "$TOP/tests/tool/gen_log.sh" 20000 3 >"$WORK/month.log" || fail_now "gen_log.sh failed"
"$P" report --year 2024 --html "$WORK/month.log" >"$WORK/month.html"
"$P" report --year 2024 --json "$WORK/month.log" >"$WORK/month.json"
"$P" report --year 2024 --json --top 0 "$WORK/month.log" >"$WORK/month-all.json"
browser month --dump-dom "file://$WORK/month.html"
check "month: no console message" no_console month
check "month: the numbers shown are the JSON report's" \
    py dom "$WORK/month.out" "$WORK/month.json" "$WORK/month-all.json" day
check "month: the page is under 200 kB" eval '[ $(stat -c %s "$WORK/month.html") -lt 200000 ]'

# ---- the screenshot (of the month: its bars are wide enough to count their colours) ----
browser shot --hide-scrollbars --window-size=1280,1800 --screenshot="$WORK/shot.png" "file://$WORK/month.html"
check "screenshot: written" eval '[ -s "$WORK/shot.png" ] && no_console shot'
check "screenshot: the page and its charts are drawn" py png "$WORK/shot.png"

# ---- no connection at all, and the options ----
: >"$WORK/empty.log"
"$P" report --html "$WORK/empty.log" >"$WORK/empty.html"
RC=$?
check "empty log: a page that says there is nothing to draw" \
    eval '[ $RC -eq 0 ] && grep -q "nothing to draw" "$WORK/empty.html" && py static "$WORK/empty.html"'
"$P" report --html --json html.log >/dev/null 2>"$WORK/both.err"
RC=$?
check "--html with --json: a usage error" eval '[ $RC -eq 2 ] && grep -q "one of --json, --csv and --html" "$WORK/both.err"'

summary
