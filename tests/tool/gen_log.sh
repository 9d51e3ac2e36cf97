#!/bin/bash
# gen_log.sh [LINES] [SEED] > mail.log
# A synthetic Debian mail.log for benchmarking `p0fshim report`: LINES lines (default
# 10,000,000) spread over November (rsyslog's traditional format, host mx1), 90% p0fshim
# lines (every verdict, IPv4 and IPv6, 20,000 hosts, karma, diagnostics) and 10% other
# programs' lines. Deterministic for a given SEED (default 1): the same bytes on every
# machine (its own Park-Miller generator, exact in awk's doubles).
# Example: tests/tool/gen_log.sh 10000000 > /tmp/mail.log; time build/p0fshim report --year 2024 /tmp/mail.log
set -euo pipefail

LINES=${1:-10000000}
SEED=${2:-1}
case $LINES in ''|*[!0-9]*) echo "gen_log.sh: LINES must be a number" >&2; exit 2 ;; esac
case $SEED in ''|*[!0-9]*) echo "gen_log.sh: SEED must be a number" >&2; exit 2 ;; esac

exec awk -v lines="$LINES" -v seed="$SEED" '
function rnd(n) { x = (x * 16807) % 2147483647; return x % n }
BEGIN {
    x = seed % 2147483646 + 1
    B = "/etc/p0fshim/blocked_operating_systems"
    nos = 0
    os[nos] = "Windows";  fl[nos] = "NT kernel";       mt[nos] = "generic"; nos++
    os[nos] = "Windows";  fl[nos] = "7 or 8";          mt[nos] = "exact";   nos++
    os[nos] = "Windows";  fl[nos] = "XP";              mt[nos] = "exact";   nos++
    os[nos] = "Linux";    fl[nos] = "3.11 and newer";  mt[nos] = "exact";   nos++
    os[nos] = "Linux";    fl[nos] = "2.2.x-3.x";       mt[nos] = "generic"; nos++
    os[nos] = "Linux";    fl[nos] = "3.1-3.10";        mt[nos] = "fuzzy";   nos++
    os[nos] = "FreeBSD";  fl[nos] = "9.x or newer";    mt[nos] = "exact";   nos++
    os[nos] = "Mac OS X"; fl[nos] = "10.x";            mt[nos] = "exact";   nos++
    links[0] = "Ethernet or modem"; links[1] = "DSL"; links[2] = "generic tunnel or VPN"; links[3] = ""
    split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", mon, " ")
    span = 30 * 86400
    for (i = 0; i < lines; i++) {
        t = int(i * span / lines)
        day = int(t / 86400) + 1; h = int(t / 3600) % 24; m = int(t / 60) % 60; s = t % 60
        ts = sprintf("Nov %2d %02d:%02d:%02d", day, h, m, s)
        pid = 1000 + rnd(30000)
        r = rnd(100)
        if (r < 10) {
            if (r < 5) printf "%s mx1 postfix/smtpd[%d]: connect from unknown[198.51.100.%d]\n", ts, pid, rnd(256)
            else if (r < 9) printf "%s mx1 postfix/smtpd[%d]: disconnect from unknown[198.51.100.%d] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5\n", ts, pid, rnd(256)
            else printf "%s mx1 p0fshim[%d]: level=warning msg=\"cannot reach p0f\" reason=\"p0f connect: Connection refused\" suppressed=%d\n", ts, pid, rnd(20)
            continue
        }
        host = rnd(20000)
        if (host % 10 == 0)
            remote = sprintf("[2001:db8:%x::%x]:%d", host % 4096, host, 1024 + rnd(60000))
        else
            remote = sprintf("192.0.%d.%d:%d", int(host / 256) % 256, host % 256, 1024 + rnd(60000))
        local = (host % 10 == 0) ? "[2001:db8::1]:25" : "192.0.2.1:25"
        ms = 1 + rnd(6)
        v = rnd(100)
        if (v < 4) {
            printf "%s mx1 p0fshim[%d]: remote=%s local=%s verdict=unknown ms=500 reason=\"no match\"\n", ts, pid, remote, local
            continue
        }
        if (v < 5) {
            printf "%s mx1 p0fshim[%d]: remote=%s local=%s verdict=error ms=500 reason=\"p0f timeout\"\n", ts, pid, remote, local
            continue
        }
        k = host % nos
        genre = os[k] " " fl[k]
        fields = sprintf("os=\"%s\" flavor=\"%s\" genre=\"%s\" match=%s distance=%d link=\"%s\" uptime_min=%d total_conn=%d",
                         os[k], fl[k], genre, mt[k], host % 20, links[host % 4], rnd(100000), 1 + rnd(50))
        if (v < 7) {
            printf "%s mx1 p0fshim[%d]: remote=%s local=%s verdict=exempt ms=%d %s exempt=\"192.0.0.0/22\"\n", ts, pid, remote, local, ms, fields
        } else if (os[k] == "Windows") {
            rule = (fl[k] == "XP") ? "rule=\"Windows XP\" rule_at=\"" B ":3\"" : "rule=\"/windows/\" rule_at=\"" B ":1\""
            printf "%s mx1 p0fshim[%d]: remote=%s local=%s verdict=block ms=%d %s %s karma=-1\n", ts, pid, remote, local, ms, fields, rule
        } else {
            printf "%s mx1 p0fshim[%d]: remote=%s local=%s verdict=allow ms=%d %s\n", ts, pid, remote, local, ms, fields
        }
    }
}'
