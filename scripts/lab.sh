# p0fshim network lab: a sourceable bash library (needs root).
#
# Three network namespaces, named with a per-run prefix so parallel runs never clash:
#
#     windows ns (eth0 192.0.2.10, 2001:db8::10) --veth--+
#                                                       br0 in the server ns (192.0.2.1, 2001:db8::1)
#     linux ns   (eth0 192.0.2.20, 2001:db8::20) --veth--+
#
# The windows namespace gets ip_default_ttl=128 (and hop_limit=128), no TCP timestamps and no
# window scaling, so a real p0f on br0 labels its SYNs "Windows NT kernel"; the linux namespace
# keeps Linux defaults and is labelled "Linux". Only documentation addresses are used and no
# namespace has a default route: lab traffic cannot leave the lab.
#
#   lab_up                 build the lab (tears down a previous one of this shell first)
#   lab_down               remove everything (idempotent; kills what still runs inside the lab)
#   lab_exec_server CMD..  run CMD in the server namespace (likewise lab_exec_windows/linux)
#   lab_start_p0f SOCK [LOG]   real p0f -i br0 -s SOCK in the server namespace; stdout+stderr
#                          to LOG (default SOCK.log); waits for the socket; sets LAB_P0F_PID
#   lab_stop_p0f           stop that p0f
#   lab_has_ipv6           true when the lab has working IPv6 addresses
#   lab_add_mx2            a second server namespace (a second MX host of a fleet), eth0 on br0 with
#                          192.0.2.2 (and 2001:db8::2), Linux defaults; lab_exec_mx2 CMD.. runs in it
#
# Needs only iproute2, procps (sysctl) and coreutils.
# Variables set on sourcing: LAB_PREFIX LAB_NS_SERVER LAB_NS_WINDOWS LAB_NS_LINUX LAB_SERVER_IFACE
# LAB_SERVER_IP LAB_WINDOWS_IP LAB_LINUX_IP LAB_SERVER_IP6 LAB_WINDOWS_IP6 LAB_LINUX_IP6 LAB_PREFIXLEN
# LAB_PREFIXLEN6 (LAB_PREFIX is p0fs<pid of the sourcing shell>). LAB_NO_IPV6=1 skips IPv6.

# The prefix is always derived from this shell's pid: an inherited value could name another
# run's lab, which lab_up (it starts with lab_down) would then destroy.
LAB_PREFIX=p0fs$$
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin:/sbin ;; esac
LAB_NS_SERVER="${LAB_PREFIX}-srv"
LAB_NS_WINDOWS="${LAB_PREFIX}-win"
LAB_NS_LINUX="${LAB_PREFIX}-lin"
LAB_NS_MX2="${LAB_PREFIX}-mx2"
LAB_SERVER_IFACE=br0
LAB_SERVER_IP=192.0.2.1
LAB_WINDOWS_IP=192.0.2.10
LAB_LINUX_IP=192.0.2.20
LAB_MX2_IP=192.0.2.2
LAB_PREFIXLEN=24
LAB_SERVER_IP6=2001:db8::1
LAB_WINDOWS_IP6=2001:db8::10
LAB_LINUX_IP6=2001:db8::20
LAB_PREFIXLEN6=64
LAB_P0F_PID=
LAB_IPV6=0
export LAB_NS_SERVER LAB_NS_WINDOWS LAB_NS_LINUX LAB_SERVER_IFACE \
    LAB_SERVER_IP LAB_WINDOWS_IP LAB_LINUX_IP LAB_SERVER_IP6 LAB_WINDOWS_IP6 LAB_LINUX_IP6 \
    LAB_PREFIXLEN LAB_PREFIXLEN6

_lab_log() { echo "lab: $*" >&2; }

lab_exec_server()  { ip netns exec "$LAB_NS_SERVER" "$@"; }
lab_exec_windows() { ip netns exec "$LAB_NS_WINDOWS" "$@"; }
lab_exec_linux()   { ip netns exec "$LAB_NS_LINUX" "$@"; }
lab_exec_mx2()     { ip netns exec "$LAB_NS_MX2" "$@"; }

lab_has_ipv6() { [ "$LAB_IPV6" = 1 ]; }

_lab_ns_exists() { [ -e "/run/netns/$1" ] || ip netns list 2>/dev/null | grep -q "^$1\( \|$\)"; }

# _lab_sysctl NS KEY=VALUE...: set sysctls inside a namespace; fails loudly.
_lab_sysctl() {
    local ns=$1 kv; shift
    for kv in "$@"; do
        ip netns exec "$ns" sysctl -qw "$kv" >/dev/null || { _lab_log "sysctl $kv failed in $ns"; return 1; }
    done
}

# _lab_client NS VETH_ON_SERVER_SIDE IP IP6 TTL TIMESTAMPS WSCALE
_lab_client() {
    local ns=$1 port=$2 ip4=$3 ip6=$4 ttl=$5 ts=$6 ws=$7
    ip netns add "$ns" || return 1
    ip -n "$ns" link set lo up || return 1
    # Both ends are created directly inside their namespaces: nothing appears in ours.
    ip -n "$LAB_NS_SERVER" link add "$port" type veth peer name eth0 netns "$ns" || return 1
    ip -n "$LAB_NS_SERVER" link set "$port" master "$LAB_SERVER_IFACE" || return 1
    ip -n "$LAB_NS_SERVER" link set "$port" up || return 1
    _lab_sysctl "$ns" net.ipv4.ip_default_ttl="$ttl" net.ipv4.tcp_timestamps="$ts" \
        net.ipv4.tcp_window_scaling="$ws" || return 1
    if [ "$LAB_IPV6" = 1 ]; then
        _lab_sysctl "$ns" net.ipv6.conf.all.hop_limit="$ttl" net.ipv6.conf.default.hop_limit="$ttl" \
            net.ipv6.conf.eth0.hop_limit="$ttl" net.ipv6.conf.eth0.accept_ra=0 \
            net.ipv6.conf.eth0.accept_dad=0 || return 1
        # Linux puts automatic flow labels on IPv6 SYNs; p0f calls that quirk "flow", which no
        # stock signature has, and then identifies nothing. Without it the stock IPv4/IPv6
        # signatures match (fuzzily: their df,id+ quirks cannot exist in IPv6).
        _lab_sysctl "$ns" net.ipv6.auto_flowlabels=0 || return 1
    fi
    ip -n "$ns" addr add "$ip4/$LAB_PREFIXLEN" dev eth0 || return 1
    if [ "$LAB_IPV6" = 1 ]; then
        ip -n "$ns" addr add "$ip6/$LAB_PREFIXLEN6" dev eth0 nodad || return 1
    fi
    ip -n "$ns" link set eth0 up || return 1
}

lab_up() {
    lab_down
    [ "$(id -u)" -eq 0 ] || { _lab_log "lab_up needs root"; return 1; }
    LAB_IPV6=0
    [ -e /proc/sys/net/ipv6 ] && [ "${LAB_NO_IPV6:-0}" != 1 ] && LAB_IPV6=1
    if ! _lab_up_inner; then
        _lab_log "lab_up failed; removing the partial lab"
        lab_down
        return 1
    fi
}

_lab_up_inner() {
    local srv=$LAB_NS_SERVER br=$LAB_SERVER_IFACE
    ip netns add "$srv" || return 1
    ip -n "$srv" link set lo up || return 1
    ip -n "$srv" link add "$br" type bridge stp_state 0 forward_delay 0 || return 1
    if [ "$LAB_IPV6" = 1 ]; then
        _lab_sysctl "$srv" net.ipv6.conf."$br".accept_ra=0 net.ipv6.conf."$br".accept_dad=0 || return 1
    fi
    ip -n "$srv" addr add "$LAB_SERVER_IP/$LAB_PREFIXLEN" dev "$br" || return 1
    if [ "$LAB_IPV6" = 1 ]; then
        ip -n "$srv" addr add "$LAB_SERVER_IP6/$LAB_PREFIXLEN6" dev "$br" nodad || return 1
    fi
    ip -n "$srv" link set "$br" up || return 1
    # Windows-like TCP/IP stack: TTL 128, SYN options mss,nop,nop,sok (no ts, no wscale).
    _lab_client "$LAB_NS_WINDOWS" vwin "$LAB_WINDOWS_IP" "$LAB_WINDOWS_IP6" 128 0 0 || return 1
    # Linux defaults, set explicitly so a tuned host does not change the lab.
    _lab_client "$LAB_NS_LINUX" vlin "$LAB_LINUX_IP" "$LAB_LINUX_IP6" 64 1 1 || return 1
    _lab_wait_reachable || return 1
}

lab_add_mx2() {
    _lab_client "$LAB_NS_MX2" vmx2 "$LAB_MX2_IP" "${LAB_SERVER_IP6%1}2" 64 1 1 || return 1
    local i
    for i in $(seq 1 100); do
        _lab_link_ready "$LAB_NS_SERVER" vmx2 && _lab_link_ready "$LAB_NS_MX2" eth0 && return 0
        sleep 0.05
    done
    _lab_log "the mx2 link did not come up"
    return 1
}

# Wait until every lab link is up and no address is still tentative (no ping needed).
_lab_link_ready() {
    local ns=$1 dev=$2
    ip -n "$ns" -o link show dev "$dev" 2>/dev/null | grep -q 'state UP' || return 1
    [ -z "$(ip -n "$ns" -o addr show dev "$dev" tentative 2>/dev/null)" ]
}

_lab_wait_reachable() {
    local i
    for i in $(seq 1 100); do
        _lab_link_ready "$LAB_NS_SERVER" "$LAB_SERVER_IFACE" &&
            _lab_link_ready "$LAB_NS_SERVER" vwin && _lab_link_ready "$LAB_NS_SERVER" vlin &&
            _lab_link_ready "$LAB_NS_WINDOWS" eth0 && _lab_link_ready "$LAB_NS_LINUX" eth0 &&
            return 0
        sleep 0.05
    done
    _lab_log "lab links did not come up"
    return 1
}

lab_start_p0f() {
    local sock=${1:?usage: lab_start_p0f SOCKETPATH [LOGFILE]} log=${2:-$1.log} i
    lab_stop_p0f
    _lab_ns_exists "$LAB_NS_SERVER" || { _lab_log "lab is not up"; return 1; }
    rm -f "$sock"
    # stdbuf: p0f prints its observations with stdio; line-buffer them so the log is live.
    ip netns exec "$LAB_NS_SERVER" stdbuf -oL -eL p0f -i "$LAB_SERVER_IFACE" -s "$sock" 'tcp' \
        >"$log" 2>&1 </dev/null &
    LAB_P0F_PID=$!
    # Register with tests/lib.sh's cleanup, when present.
    declare -p CHILD_PIDS >/dev/null 2>&1 && CHILD_PIDS+=("$LAB_P0F_PID")
    for i in $(seq 1 200); do
        [ -S "$sock" ] && return 0
        kill -0 "$LAB_P0F_PID" 2>/dev/null || break
        sleep 0.05
    done
    _lab_log "p0f did not create $sock; its output:"
    sed 's/^/  p0f: /' "$log" >&2
    lab_stop_p0f
    return 1
}

lab_stop_p0f() {
    [ -n "$LAB_P0F_PID" ] || return 0
    kill "$LAB_P0F_PID" 2>/dev/null
    wait "$LAB_P0F_PID" 2>/dev/null
    LAB_P0F_PID=
    return 0
}

lab_down() {
    local ns pid
    lab_stop_p0f
    for ns in "$LAB_NS_WINDOWS" "$LAB_NS_LINUX" "$LAB_NS_MX2" "$LAB_NS_SERVER"; do
        _lab_ns_exists "$ns" || continue
        # Whatever still runs inside our own namespaces was started by this run: end it by pid,
        # or the namespace (and its interfaces) would outlive its name.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            sleep 0.2; kill -KILL "$pid" 2>/dev/null
        done
        ip netns del "$ns" 2>/dev/null
    done
    return 0
}
