#!/bin/bash
# Conformance of `p0fshim fingerprint` with the real p0f 3.09b (Debian's), which is the
# reference for every answer: build/tests/syngen writes one SYN for each [tcp:request]
# signature of p0f.fp and CONFORMANCE_N random ones (default 10000, seed CONFORMANCE_SEED)
# into pcaps, `p0f -r` reads them (offline: no daemon, no network) and `p0fshim fingerprint`
# reads the same files. Per SYN, keyed by the client's address and port, the two must agree
# on the label (p0f's os= against genre=, app= against app= with match=none, ??? against match=none), the match class
# (p0f's params generic/fuzzy against match=), the distance, the raw signature (raw_sig
# against sig=) and, where p0f names one, the link. Any disagreement fails and is shown with
# the packet in hex; all of them are in $WORK/disagreements.txt (KEEP_WORK=1 keeps it).
# Before that, the oracle itself is checked: p0f reads the pcaps without a warning, names
# the targeted label for the signatures' SYNs, and the random SYNs show every quirk and
# option-layout feature. No file of expected answers exists: p0f gives them at test time.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

P=$BUILD/p0fshim
SYNGEN=$HELPERS/syngen
FP_FILE=${CONFORMANCE_FP:-/etc/p0f/p0f.fp}
N=${CONFORMANCE_N:-10000}
SEED=${CONFORMANCE_SEED:-15}
P0F=$(command -v p0f || echo /usr/sbin/p0f)
SHOW_MAX=20

[ -x "$P0F" ] || fail_now "p0f is not installed (make deps): the conformance test needs the real p0f 3.09b"
"$P0F" -h 2>&1 | grep -q "p0f 3\.09b" || echo "# warning: $P0F is not p0f 3.09b: $("$P0F" -h 2>&1 | head -1)"
[ -r "$FP_FILE" ] || fail_now "$FP_FILE is missing (make deps installs p0f and its signatures)"
require_built "$SYNGEN" "$P"

# ---------------------------------------------------------------------------------------------
echo "# the SYNs"
"$SYNGEN" --from-fp "$FP_FILE" --out "$WORK/fp.pcap" --index "$WORK/fp.idx" 2>"$WORK/syngen-fp.err"
RC=$?
check "syngen builds a SYN for every signature of $FP_FILE" \
    eval '[ $RC -eq 0 ] && [ ! -s "$WORK/syngen-fp.err" ] || { sed "s/^/#   /" "$WORK/syngen-fp.err"; false; }'
"$SYNGEN" --random "$N" --seed "$SEED" --mutate-fp "$FP_FILE" --out "$WORK/random.pcap" \
    --index "$WORK/random.idx" 2>"$WORK/syngen-random.err"
RC=$?
check "syngen builds $N random SYNs (seed $SEED)" \
    eval '[ $RC -eq 0 ] && [ "$(wc -l <"$WORK/random.idx")" -eq "$N" ] || { sed "s/^/#   /" "$WORK/syngen-random.err"; false; }'
SIG_LINES=$(cut -f3 "$WORK/fp.idx" | sort -u | wc -l)
FP_SYNS=$(wc -l <"$WORK/fp.idx")
echo "# $FP_SYNS SYNs for $SIG_LINES signatures (an IPv6 one too for each signature of both versions), $N random"

# ---------------------------------------------------------------------------------------------
echo "# the oracle: p0f -r"
# p0f's log lines into a table, one row per SYN: key, os|app, label, distance, params, raw_sig,
# link ("-" when p0f gave no mtu line). A SYN is logged as mod=syn, or as "sendsyn probe" when
# it looks like p0f's own probe (window 1337, MSS 1331).
p0f_table() {
    awk '
    {
        sub(/^\[[^]]*\] /, "")
        n = split($0, f, "|")
        delete v
        for (i = 1; i <= n; i++) { e = index(f[i], "="); v[substr(f[i], 1, e - 1)] = substr(f[i], e + 1) }
        key = v["cli"]; sub(/\/[0-9]+$/, ":&", key); sub(/:\//, ":", key)
        if (v["mod"] == "syn" || v["mod"] == "sendsyn probe") {
            if (key in row) dup[key] = 1
            kind = ("app" in v) ? "app" : "os"
            dist = v["dist"]; sub(/^<= /, "", dist)
            row[key] = kind "\t" v[kind] "\t" dist "\t" v["params"] "\t" v["raw_sig"]
            order[++count] = key
        } else if (v["mod"] == "mtu") {
            link[key] = v["link"]
        }
    }
    END {
        for (i = 1; i <= count; i++) {
            k = order[i]
            print k "\t" row[k] "\t" ((k in link) ? link[k] : "-") "\t" ((k in dup) ? "dup" : "")
        }
    }' "$1"
}

for set in fp random; do
    rm -f "$WORK/$set.log"
    "$P0F" -r "$WORK/$set.pcap" -f "$FP_FILE" -o "$WORK/$set.log" >"$WORK/$set.p0f-out" 2>&1
    RC=$?
    want=$(wc -l <"$WORK/$set.idx")
    check "p0f -r reads $set.pcap: exit 0, $want packets, no warning" eval '[ $RC -eq 0 ] &&
        grep -q "Processed $want packets" "$WORK/$set.p0f-out" && ! grep -Eq "^\[[!-]\]" "$WORK/$set.p0f-out" ||
        { grep -E "^\[[!-]\]|Processed|ERROR" "$WORK/$set.p0f-out" | head -5 | sed "s/^/#   /"; false; }'
    p0f_table "$WORK/$set.log" >"$WORK/$set.p0f"
    check "p0f logs each of the $want SYNs of $set.pcap once" eval '
        [ "$(cut -f1 "$WORK/$set.idx" | sort | comm -3 - <(cut -f1 "$WORK/$set.p0f" | sort) | wc -l)" -eq 0 ] &&
        ! grep -q "	dup$" "$WORK/$set.p0f" ||
        { cut -f1 "$WORK/$set.idx" | sort | comm -3 - <(cut -f1 "$WORK/$set.p0f" | sort) | head -5 | sed "s/^/#   missing or extra: /"; false; }'
done

# The signatures' SYNs: does p0f name the label each was built for? A generic signature whose
# wildcards can only take values a specific signature names is shadowed (p0f prefers specific
# matches), so for it a specific label is the right answer.
awk -F'\t' -v out="$WORK/fp-labels.txt" '
    NR == FNR { got[$1] = $3; raw[$1] = $6; next }
    {
        line = $3; sub(/^fp_line=/, "", line)
        label = $4; sub(/^label=/, "", label)
        n = split(label, p, ":"); want = p[3]; flavor = p[4]
        for (i = 5; i <= n; i++) flavor = flavor ":" p[i]
        if (flavor != "") want = want " " flavor
        total[line] = 1
        if (got[$1] == want) { hit[line] = 1; syn_hits++ }
        else {
            shadowed = p[1] == "g" && got[$1] != "???" && got[$1] != ""
            print (shadowed ? "shadowed " : "WRONG ") "line " line " (" $5 ", " label "): p0f says \"" got[$1] "\" for " raw[$1] >out
            if (!shadowed) wrong++
        }
        syns++
    }
    END {
        for (l in total) { lines++; if (l in hit) line_hits++ }
        printf "# p0f names the targeted label for %d of %d signatures (%d of %d SYNs)\n", line_hits, lines, syn_hits, syns
        exit (wrong > 0)
    }' "$WORK/fp.p0f" "$WORK/fp.idx"
RC=$?
[ -s "$WORK/fp-labels.txt" ] && sed 's/^/#   /' "$WORK/fp-labels.txt"
check "every signature's SYN gets its label from p0f (or, shadowed, a specific one)" [ $RC -eq 0 ]

# What the random SYNs exercise, as p0f saw them (from its raw signatures and params).
awk -F'\t' '
    BEGIN {
        nq = split("df id+ id- ecn 0+ flow seq- ack+ ack- uptr+ urgf+ pushf+ ts1- ts2+ opt+ exws bad", Q, " ")
        nf = split("ipv4 ipv6 ip_options payload eol+0 eol+N unknown_option sack 24_options window_mss*N " \
                   "window_mtu*N window_literal distance_unknown exact generic fuzzy none app random_ttl", F, " ")
        for (i = 1; i <= nq; i++) c[Q[i]] = 0
        for (i = 1; i <= nf; i++) c[F[i]] = 0
    }
    {
        split($6, s, ":")
        c[s[1] == "6" ? "ipv6" : "ipv4"]++
        if (s[3] != "0") c["ip_options"]++
        if (s[8] == "+") c["payload"]++
        if (s[2] ~ /\?/) c["distance_unknown"]++
        c[s[5] ~ /^mss\*/ ? "window_mss*N" : s[5] ~ /^mtu\*/ ? "window_mtu*N" : "window_literal"]++
        n = split(s[6], o, ",")
        if (n >= 24) c["24_options"]++
        for (i = 1; i <= n; i++) {
            if (o[i] == "eol+0") c["eol+0"]++
            else if (o[i] ~ /^eol\+/) c["eol+N"]++
            else if (o[i] ~ /^\?/) c["unknown_option"]++
            else if (o[i] == "sack") c["sack"]++
        }
        n = split(s[7], q, ",")
        for (i = 1; i <= n; i++) c[q[i]]++
        class = $3 == "???" ? "none" : $5 ~ /fuzzy/ ? "fuzzy" : $5 ~ /generic/ ? "generic" : "exact"
        c[class]++
        if ($2 == "app") c["app"]++
        if ($5 ~ /random_ttl/) c["random_ttl"]++
    }
    END {
        line = "# quirks:"
        for (i = 1; i <= nq; i++) line = line " " Q[i] "=" c[Q[i]]
        print line
        line = "# features:"
        for (i = 1; i <= nf; i++) line = line " " F[i] "=" c[F[i]]
        print line
        for (i = 1; i <= nq; i++) if (c[Q[i]] == 0 && Q[i] != "ack-") missing = missing " " Q[i]
        for (i = 1; i <= nf; i++) if (c[F[i]] == 0) missing = missing " " F[i]
        if (missing != "") print "#   never seen:" missing
        exit (missing != "")
    }' "$WORK/random.p0f"
RC=$?
echo "#   (ack- needs the ACK flag, so no SYN can have it)"
check "the random SYNs cover every quirk and layout feature" [ $RC -eq 0 ]

# ---------------------------------------------------------------------------------------------
echo "# p0fshim fingerprint against p0f"
"$P" fingerprint --fp-file "$FP_FILE" "$WORK/fp.pcap" "$WORK/random.pcap" >"$WORK/shim.out" 2>"$WORK/shim.err"
RC=$?
if grep -q "unknown command" "$WORK/shim.err"; then
    echo "# $P has no fingerprint subcommand"
fi
check "p0fshim fingerprint reads both pcaps: exit 0" \
    eval '[ $RC -eq 0 ] || { echo "# exit status $RC"; head -5 "$WORK/shim.err" | sed "s/^/#   /"; false; }'
[ "$RC" -eq 0 ] || summary

# p0fshim's logfmt lines into the same shape: key, genre, match, distance, sig, link, app ("-"
# if absent), then the whole line.
awk '
    function logfmt(line,    i, n, c, k, val) {
        delete F
        n = length(line); i = 1
        while (i <= n) {
            while (substr(line, i, 1) == " ") i++
            if (i > n) break
            k = ""
            while (i <= n && (c = substr(line, i, 1)) != "=" && c != " ") { k = k c; i++ }
            if (c != "=") { F[k] = ""; continue }
            i++; val = ""
            if (substr(line, i, 1) == "\"") {
                for (i++; i <= n && (c = substr(line, i, 1)) != "\""; i++) {
                    if (c == "\\") { i++; c = substr(line, i, 1) }
                    val = val c
                }
                i++
            } else {
                for (; i <= n && (c = substr(line, i, 1)) != " "; i++) val = val c
            }
            F[k] = val
        }
    }
    {
        logfmt($0)
        key = F["remote"]; gsub(/[][]/, "", key)
        print key "\t" (("genre" in F) ? F["genre"] : "-") "\t" F["match"] "\t" F["distance"] "\t" F["sig"] "\t" \
            (("link" in F) ? F["link"] : "-") "\t" (("app" in F) ? F["app"] : "-") "\t" $0
    }' "$WORK/shim.out" >"$WORK/shim.tab"

cat "$WORK/fp.idx" "$WORK/random.idx" >"$WORK/all.idx"
cat "$WORK/fp.p0f" "$WORK/random.p0f" >"$WORK/all.p0f"
cat "$WORK/fp.log" "$WORK/random.log" >"$WORK/all.log"
awk -F'\t' -v out="$WORK/disagreements.txt" -v show="$SHOW_MAX" '
    FILENAME == ARGV[1] { hex[$1] = $2; what[$1] = $3; order[++n] = $1; next }
    FILENAME == ARGV[2] { p0f[$1] = $0; next }
    FILENAME == ARGV[3] {
        if (index($0, "mod=syn|") || index($0, "mod=sendsyn probe|") || index($0, "mod=mtu|")) {
            k = $0; sub(/.*\|cli=/, "", k); sub(/\|.*/, "", k); sub(/\/[0-9]+$/, ":&", k); sub(/:\//, ":", k)
            p0fline[k] = p0fline[k] "\n#     p0f:     " $0
        }
        next
    }
    {
        if ($1 in shim) extra[$1] = 1
        shim[$1] = $0
    }
    END {
        for (i = 1; i <= n; i++) {
            k = order[i]; why = ""
            split(p0f[k], a, "\t")   # key kind label dist params raw link
            if (!(k in shim)) why = "p0fshim printed no line"
            else {
                split(shim[k], b, "\t")   # key genre match dist sig link app line
                # A tool (app=, a "!" class) names no OS: p0fshim says match=none and app=.
                class = a[3] == "???" || a[2] == "app" ? "none" : a[5] ~ /fuzzy/ ? "fuzzy" : a[5] ~ /generic/ ? "generic" : "exact"
                if (k in extra) why = why "; p0fshim printed several lines"
                if (a[2] == "app" ? (b[7] != a[3] || b[2] != "-") : class == "none" ? b[2] != "-" : b[2] != a[3])
                    why = why "; label: p0f " a[2] "=\"" a[3] "\", p0fshim genre=\"" b[2] "\" app=\"" b[7] "\""
                if (b[3] != class) why = why "; match: p0f " class " (params=" a[5] "), p0fshim " b[3]
                if (b[4] != a[4]) why = why "; distance: p0f " a[4] ", p0fshim " b[4]
                if (b[5] != a[6]) why = why "; sig: p0f " a[6] ", p0fshim " b[5]
                if (a[7] != "-" && (a[7] == "???" ? (b[6] != "-" && b[6] != "" && b[6] != "???") : b[6] != a[7]))
                    why = why "; link: p0f \"" a[7] "\", p0fshim \"" b[6] "\""
                sub(/^; /, "", why)
            }
            if (why == "") { agree++; continue }
            text = "# " k " (" what[k] "): " why "\n#     packet:  " hex[k] p0fline[k]
            if (k in shim) { split(shim[k], b, "\t"); text = text "\n#     p0fshim: " b[8] }
            print text >out
            if (++bad <= show) print text
        }
        for (k in shim) if (!(k in p0f)) { stray++; print "# p0fshim printed a line for a packet p0f does not count as a SYN: " shim[k] >out }
        if (bad > show) printf "# ... %d more in %s\n", bad - show, out
        if (stray) printf "# %d lines of p0fshim for packets p0f does not count as SYNs (in %s)\n", stray, out
        printf "conformance: %d SYNs, %d agree\n", n, agree
        exit (bad + stray > 0)
    }' "$WORK/all.idx" "$WORK/all.p0f" "$WORK/all.log" "$WORK/shim.tab"
RC=$?
check "p0fshim fingerprint agrees with p0f on every SYN" [ $RC -eq 0 ]

# ---------------------------------------------------------------------------------------------
# The reader, not the matcher: the same SYNs framed as each link type and byte order a capture
# can have (`tcpdump -i any` writes Linux cooked v2 since tcpdump 4.99, 113 before) give the same
# lines as the raw-IP capture above; a raw IPv4 or IPv6 link's packets of the other version and
# the framed links' ARP frames give none.
echo "# the same SYNs in other capture layouts"
"$SYNGEN" --random 1000 --seed "$SEED" --mutate-fp "$FP_FILE" --out "$WORK/layout-ref.pcap" 2>/dev/null
"$P" fingerprint --fp-file "$FP_FILE" "$WORK/fp.pcap" "$WORK/layout-ref.pcap" >"$WORK/layout-ref.out" 2>/dev/null
for link in ether vlan sll sll2 ipv4 ipv6; do
    case $link in
        ipv4) want() { grep -v '^remote=\[' "$WORK/layout-ref.out"; } ;;
        ipv6) want() { grep '^remote=\[' "$WORK/layout-ref.out"; } ;;
        *) want() { cat "$WORK/layout-ref.out"; } ;;
    esac
    bad=""
    for order in "" --big-endian --nanosecond; do
        "$SYNGEN" --from-fp "$FP_FILE" --out "$WORK/layout-fp.pcap" --link "$link" $order 2>/dev/null
        "$SYNGEN" --random 1000 --seed "$SEED" --mutate-fp "$FP_FILE" --out "$WORK/layout-random.pcap" \
            --link "$link" $order 2>/dev/null
        "$P" fingerprint --fp-file "$FP_FILE" "$WORK/layout-fp.pcap" "$WORK/layout-random.pcap" \
            >"$WORK/layout.out" 2>/dev/null
        if ! cmp -s <(want) "$WORK/layout.out"; then
            bad+=" ${order:-little-endian}"
            diff <(want) "$WORK/layout.out" | head -4 | sed 's/^/#   /'
        fi
    done
    check "link $link (little-endian, big-endian, nanosecond): the raw capture's $(want | wc -l) lines" [ -z "$bad" ]
done

printf '\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a\x01\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x1c\x00\x00\x00' \
    >"$WORK/capture.pcapng"
"$P" fingerprint "$WORK/capture.pcapng" >"$WORK/ng.out" 2>"$WORK/ng.err"
RC=$?
check "a pcapng file: exit 1, says how to convert it" \
    eval '[ $RC -eq 1 ] && [ ! -s "$WORK/ng.out" ] && grep -q "capture.pcapng: .*pcapng.*editcap -F pcap" "$WORK/ng.err"'
printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x69\x00\x00\x00' \
    >"$WORK/wifi.pcap"
"$P" fingerprint "$WORK/wifi.pcap" >"$WORK/wifi.out" 2>"$WORK/wifi.err"
RC=$?
check "a link type it does not read (802.11): exit 1, names the ones it reads" \
    eval '[ $RC -eq 1 ] && grep -q "wifi.pcap: a link type other than .*Linux cooked (113, 276)" "$WORK/wifi.err"'
head -c 300 "$WORK/layout-fp.pcap" >"$WORK/cut.pcap"
"$P" fingerprint "$WORK/cut.pcap" >"$WORK/cut.out" 2>"$WORK/cut.err"
RC=$?
check "a capture cut off in a record: its SYNs before the cut, then exit 1 and \"cut off\"" \
    eval '[ $RC -eq 1 ] && [ -s "$WORK/cut.out" ] && grep -q "cut.pcap: cut off in a record" "$WORK/cut.err"'

summary
