# A Postfix instance of the test's own (`postfix -c $PF`) inside the lab's server namespace,
# shared by the Postfix end-to-end tests (sourced after tests/lib.sh and scripts/lab.sh).
# The caller sets PF (config dir), QUEUE (queue_directory), DATA (data_directory), PFLOG (the
# maillog file), SRV (listen address), WORK.

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
