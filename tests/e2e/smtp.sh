# An SMTP client for the end-to-end tests that sends a message of the test's own making (forged
# headers, several recipients, BDAT), in bash alone (/dev/tcp): it runs in the lab's client
# namespaces as `lab_exec_linux bash -c "$(declare -f smtp_send); smtp_send \"\$@\"" smtp_send ...`.
# Sourced by tests/e2e/headers.sh and tests/e2e/exim.sh; also what became of a message: its
# delivered copy in a maildir under $MAILROOT (default $WORK/mail), found by its Message-ID.

MAILROOT=${MAILROOT:-$WORK/mail}

# smtp_send HOST PORT MODE RCPTS MESSAGE: EHLO, MAIL FROM:<sender@example.org>, RCPT TO each of
# RCPTS (comma-separated), the lines of the file MESSAGE (headers, a blank line, the body) with
# CRLF by DATA (MODE data) or BDAT (MODE bdat), QUIT. The transcript goes to stderr; stdout gets
# `result=sent ms=N` (N: from connect to the reply after the message) or `result=failed`.
smtp_send() {
    local host=$1 port=$2 mode=$3 rcpts=$4 file=$5 t0 t1 msg r
    t0=$(date +%s%N)
    exec 3<>"/dev/tcp/$host/$port" || { echo "result=failed"; return 1; }
    expect() {
        local code=$1 l
        while IFS= read -r -t 10 l <&3; do
            l=${l%$'\r'}; echo "S: $l" >&2
            case $l in "$code "*) return 0 ;; [0-9][0-9][0-9]" "*) return 1 ;; esac
        done
        return 1
    }
    say() { printf '%s\r\n' "$1" >&3; echo "C: $1" >&2; }
    failed() { echo "result=failed"; exec 3>&-; return 1; }
    msg=$(cat "$file")
    msg=${msg//$'\n'/$'\r\n'}$'\r\n'
    expect 220 && say "EHLO client.example" && expect 250 && say "MAIL FROM:<sender@example.org>" && expect 250 ||
        { failed; return 1; }
    for r in ${rcpts//,/ }; do say "RCPT TO:<$r>"; expect 250 || { failed; return 1; }; done
    if [ "$mode" = bdat ]; then
        say "BDAT ${#msg} LAST"; printf '%s' "$msg" >&3; echo "C: (${#msg} bytes)" >&2
    else
        say "DATA"; expect 354 || { failed; return 1; }
        printf '%s.\r\n' "$msg" >&3; echo "C: (message) ." >&2
    fi
    expect 250 || { failed; return 1; }
    t1=$(date +%s%N)
    say "QUIT"; expect 221
    exec 3>&-
    echo "result=sent ms=$(((t1 - t0) / 1000000))"
}
sent_ms() { sed -nE 's/^result=sent ms=([0-9]+)/\1/p' "$WORK/send-$1.out"; }   # sent_ms TAG (send's output)

# msgfile TAG [MAILBOX]: the delivered message whose Message-ID is <TAG@client.example> in MAILBOX
# (default rcpt), once it is there.
msgfile() { grep -l "^Message-ID: <$1@client.example>" "$MAILROOT/${2:-rcpt}"/new/* 2>/dev/null | head -1; }
delivered() { [ -n "$(msgfile "$@")" ]; }
# headers_of TAG [MAILBOX]: the header block of that message (unfolded lines), show_headers as comments.
headers_of() { sed '/^$/q' "$(msgfile "$@")"; }
show_headers() { echo "# headers of $1:"; headers_of "$@" | sed 's/^/#   /'; }
