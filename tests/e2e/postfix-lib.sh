# A Postfix instance of the test's own (`postfix -c $PF`) inside the lab's server namespace,
# shared by the Postfix end-to-end tests (sourced after tests/lib.sh and scripts/lab.sh): where it
# lives in the scratch directory, its main.cf and master.cf, start and stop, the shipped files of
# scripts/postfix/ with their paths moved there, and the shim's side of the test (a testclient
# from a client namespace, the shim's log lines).

SHIPPED=$TOP/scripts/postfix
SRV=$LAB_SERVER_IP WIN=$LAB_WINDOWS_IP LIN=$LAB_LINUX_IP
PF=$WORK/postfix-config      # config_directory: main.cf, master.cf
QUEUE=$WORK/spool            # queue_directory, smtpd's chroot
DATA=$WORK/data              # data_directory
MAILROOT=$WORK/mail          # virtual_mailbox_base
MAILDIR=$MAILROOT/rcpt       # the mailbox of rcpt@example.net (testclient's recipient)
PFLOG=$WORK/postfix.log      # Postfix's own log (maillog_file, via postlogd)
LOGF=$WORK/log.txt           # what the shim (or the tool, the milter) sends to its log_socket
P0F_SOCK=$QUEUE/p0f/p0f.sock # the real p0f's API socket, inside smtpd's chroot
CONF=$WORK/p0fshim.conf      # the shim's configuration

# require_postfix_lab: root, Debian's p0f and Debian's Postfix.
require_postfix_lab() {
    require_root
    command -v p0f >/dev/null || fail_now "p0f is not installed (scripts/install-deps.sh)"
    if ! command -v postfix >/dev/null || [ ! -x /usr/lib/postfix/sbin/smtpd ]; then
        fail_now "Debian's postfix package is not installed (scripts/install-deps.sh postfix)"
    fi
}

# postfix_dirs [DIR...]: the instance's directories (and DIRs), as Postfix wants them; the
# mailboxes belong to nobody, as whom the virtual delivery agent writes (no test user needed).
postfix_dirs() {
    mkdir -p "$PF" "$QUEUE/p0f" "$DATA" "$MAILROOT" "$@"
    chmod 755 "$PF" "$QUEUE" "$QUEUE/p0f" "$DATA" "$@"
    chown postfix:postfix "$DATA"
    chown 65534:65534 "$MAILROOT"
}

# from_shipped: a shipped file's library and configuration paths moved to the build and $CONF.
from_shipped() { sed -e "s|/usr/local/lib/libp0fshim.so|$LIB|" -e "s|/etc/p0fshim/p0fshim.conf|$CONF|"; }
# shipped_shim_conf: scripts/postfix/p0fshim.conf with the queue directory, the blocked-OS file
# ($WORK/blocked_operating_systems) and the log socket ($WORK/log.sock) moved.
shipped_shim_conf() {
    sed -e "s|/var/spool/postfix|$QUEUE|g" \
        -e "s|/etc/p0fshim/blocked_operating_systems|$WORK/blocked_operating_systems|" \
        -e "s|^log_socket /dev/log|log_socket $WORK/log.sock|" -e "\$a fingerprint ${FINGERPRINT:-p0f}" \
        "$SHIPPED/p0fshim.conf"
}

# postfix_main_cf MYNETWORKS BANNER_TAG MAILBOX_BASE: the main.cf lines every test shares (a
# virtual mailbox domain example.net, local delivery off); the caller adds its own after them
# and moves the whole file into place at once: a Postfix daemon starting while main.cf is half
# written (Postfix runs while the tests rewrite it) would read half a configuration.
postfix_main_cf() {
    cat <<EOF
compatibility_level = 3.6
queue_directory = $QUEUE
data_directory = $DATA
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.p0fshim.test
mydomain = p0fshim.test
myorigin = \$myhostname
mydestination = \$myhostname, localhost
inet_interfaces = $SRV
inet_protocols = ipv4
mynetworks = $1
smtpd_banner = \$myhostname ESMTP $2
relayhost =
biff = no
alias_maps =
alias_database =
virtual_mailbox_domains = example.net
virtual_mailbox_base = $3
virtual_mailbox_maps = texthash:$PF/vmailbox
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
maillog_file = $PFLOG
maillog_file_prefixes = $WORK
EOF
}

# postfix_master_cf PORT...: master.cf with a chrooted smtpd listening on each PORT, then
# Debian's other services.
postfix_master_cf() {
    local port
    {
        echo "# service type  private unpriv  chroot  wakeup  maxproc command + args"
        for port in "$@"; do
            printf '%-9s inet  n       -       y       -       -       smtpd\n' "$port"
        done
        postfix_services
    } >"$PF/master.cf"
}

# Debian's master.cf services other than the smtpd listeners (chroot as Debian ships them).
postfix_services() {
    cat <<'EOF_SERVICES'
pickup    unix  n       -       y       60      1       pickup
cleanup   unix  n       -       y       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       y       -       -       trivial-rewrite
bounce    unix  -       -       y       -       0       bounce
defer     unix  -       -       y       -       0       bounce
trace     unix  -       -       y       -       0       bounce
verify    unix  -       -       y       -       1       verify
flush     unix  n       -       y       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       y       -       -       smtp
relay     unix  -       -       y       -       -       smtp
showq     unix  n       -       y       -       -       showq
error     unix  -       -       y       -       -       error
retry     unix  -       -       y       -       -       error
discard   unix  -       -       y       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       y       -       1       anvil
scache    unix  -       -       y       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF_SERVICES
}

master_pid() { sed -n '1s/ //gp' "$QUEUE/pid/master.pid" 2>/dev/null; }
listening() { lab_exec_server ss -Hltn "src $SRV:$1" 2>/dev/null | grep -q LISTEN; }

# postfix_start [ENV...]: start the instance, wait until every port in PF_PORTS listens.
postfix_start() {
    local port
    lab_exec_server env "$@" postfix -c "$PF" start >"$WORK/postfix-start.out" 2>&1 || return 1
    for port in ${PF_PORTS:-25}; do
        wait_for 10 listening "$port" || return 1
    done
}

postfix_stop() {
    local pid
    pid=$(master_pid)
    [ -n "$pid" ] || return 0
    lab_exec_server postfix -c "$PF" stop >/dev/null 2>&1
    wait_for 10 bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null
    rm -f "$QUEUE/pid/master.pid"
}

# client NS TAG EXPECT [testclient ARGS...]: one testclient run from a client namespace (windows,
# linux) to $SRV:25 (unless ARGS has --connect); its output in $WORK/client-TAG.out.
client() {
    local ns=$1 tag=$2 expect=$3; shift 3
    "lab_exec_$ns" "$HELPERS/testclient" --connect "$SRV:25" --expect "$expect" --timeout-ms 4000 "$@" \
        >"$WORK/client-$tag.out" 2>&1
}

# The shim's lines: line_re IP VERDICT (the start of a connection line to $SRV:25), nlines REGEX
# (how many match), wait_lines N REGEX (at least N, within 5 s).
line_re() { echo "p0fshim\[[0-9]+\]: remote=$(re "$1"):[0-9]+ local=$(re "$SRV"):25 verdict=$2 ms=[0-9]+( fp=(syn|p0f))?"; }
nlines() { log_count "$LOGF" "$1"; }
lines_ge() { [ "$(nlines "$2")" -ge "$1" ]; }
wait_lines() { wait_for 5 lines_ge "$1" "$2"; }
# output_ge CMD N [ARGS...]: CMD ARGS prints a number >= N.
output_ge() { [ "$($1 "${@:3}")" -ge "$2" ]; }
mails() { find "$MAILDIR/new" -type f 2>/dev/null | wc -l; }
queue_empty() { [ -z "$(find "$QUEUE/incoming" "$QUEUE/active" "$QUEUE/deferred" "$QUEUE/maildrop" -type f 2>/dev/null)" ]; }
