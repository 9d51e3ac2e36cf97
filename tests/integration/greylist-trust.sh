#!/bin/bash
# The greylist store is opened as root (in the library's constructor, before the daemon
# drops privileges, and by `p0fshim check` run as root) in a directory the daemon's user
# owns. That user must not be able to make root write elsewhere by planting data.mdb or
# lock.mdb as symbolic links: the links are refused, their targets stay as they were, and
# one error line says why. A directory of that user's gets files of that user's.
# The host here is /bin/true: the store is opened when the library loads.
source "$(dirname "${BASH_SOURCE[0]}")/../scenario.sh"

require_built "$LIB" "$BUILD/p0fshim" "$HELPERS/logsink"
[ "$(id -u)" -eq 0 ] || fail_now "this test needs root (the store is opened as root)"

PORT_BASE=${P0FSHIM_IT_PORT_BASE:-47000} PORT_STEP=1
AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

# store_scenario NAME: a scenario whose blocked-OS file blocks Linux only, so that a Windows host
# is allowed and then greylisted. gl/ belongs to nobody, mode 0700, as the README tells admins to
# set up the store for Postfix.
store_scenario() {
    BLOCKED=/linux/ scenario "$1"
    install -d -o nobody -g nogroup -m 0700 "$D/gl"
    write_conf "mode hold" "greylist_os windows" "greylist_dir $D/gl"
}

# victim NAME [TEXT]: a root-owned file outside the store, 0644, holding TEXT (a line) or
# nothing (LMDB takes an empty data file for a new store and writes one).
declare -A VICTIM_STATE=()
victim() {
    mkdir -p "$D/root-only"
    chmod 0700 "$D/root-only"
    if [ $# -gt 1 ]; then printf '%s\n' "$2" >"$D/root-only/$1"; else : >"$D/root-only/$1"; fi
    chmod 0644 "$D/root-only/$1"
    VICTIM_STATE[$1]="$(stat -c '%s %a %U' "$D/root-only/$1") $(sha256sum <"$D/root-only/$1")"
}

# untouched NAME: the victim still has its size, mode, owner and content.
untouched() {
    local f=$D/root-only/$1
    [ "$(stat -c '%s %a %U' "$f") $(sha256sum <"$f")" = "${VICTIM_STATE[$1]}" ]
}

# load [PATTERN]: what Postfix's smtpd does first, as root: load the library (which opens
# the store). The log line travels through the sink: wait for PATTERN, or a moment.
load() {
    P0FSHIM_CONFIG=$D/conf LD_PRELOAD=$LIB /bin/true
    if [ $# -gt 0 ]; then wait_for 5 log_has "$D/log.txt" "$1" || true; else sleep 0.3; fi
}

check_tool() {
    "$BUILD/p0fshim" check 192.0.2.20 --config "$D/conf" --os Windows --flavor "NT kernel" >"$D/check.out" 2>&1
    echo $? >"$D/check.rc"
}

ERR='level=error msg="cannot open the greylist store; greylisting is off"'

# ---- links planted by the directory's owner ---------------------------------------------------
for name in lock.mdb data.mdb both; do
    store_scenario "symlink-$name"
    victim lock-target "a file of root's that the store must never write"
    victim data-target
    case $name in
        lock.mdb) "${AS_NOBODY[@]}" ln -s "$D/root-only/lock-target" "$D/gl/lock.mdb"
                  "${AS_NOBODY[@]}" touch "$D/gl/data.mdb" ;;
        data.mdb) "${AS_NOBODY[@]}" ln -s "$D/root-only/data-target" "$D/gl/data.mdb"
                  "${AS_NOBODY[@]}" touch "$D/gl/lock.mdb" ;;
        both)     "${AS_NOBODY[@]}" ln -s "$D/root-only/lock-target" "$D/gl/lock.mdb"
                  "${AS_NOBODY[@]}" ln -s "$D/root-only/data-target" "$D/gl/data.mdb" ;;
    esac
    load "$ERR"
    check "$S: the lock.mdb link's target is untouched" untouched lock-target
    check "$S: the data.mdb link's target is untouched" untouched data-target
    check "$S: one error line says the store is off because of a link" \
        eval '[ "$(log_count "$D/log.txt" "$ERR reason=\"greylist store $D/gl: (lock|data)\\.mdb is a symbolic link: refusing")" -eq 1 ]'
    check "$S: the links are still links" [ -L "$D/gl/${name/both/lock.mdb}" ]

    check_tool
    check "$S: p0fshim check says the store cannot be read and why" \
        grep -Eq "the greylist store $D/gl cannot be read \(greylist store $D/gl: (lock|data)\.mdb is a symbolic link: refusing" "$D/check.out"
    check "$S: p0fshim check says the shim would fail open (exit 0)" \
        eval 'grep -q "the shim would fail open and let the host pass" "$D/check.out" && [ "$(cat "$D/check.rc")" = 0 ]'
    check "$S: after p0fshim check both targets are untouched" eval 'untouched lock-target && untouched data-target'
done

# ---- a directory others can write -----------------------------------------------------------
store_scenario group-writable
chmod 0770 "$D/gl"
load "$ERR"
check "$S: refused with the remedy" log_has "$D/log.txt" "$ERR reason=\"greylist store $D/gl: writable by its group \\(mode 0770\\): refusing \\(chmod go-w $D/gl\\)\""
check "$S: nothing created in it" eval '[ -z "$(ls -A "$D/gl")" ]'

# ---- the Postfix setup: created as root, owned by the directory's owner ----------------------
store_scenario owner-nobody
load
check "$S: no error line" eval '! grep -q "level=error" "$D/log.txt"'
check "$S: data.mdb belongs to nobody, mode 0600" [ "$(stat -c '%U %a' "$D/gl/data.mdb")" = "nobody 600" ]
check "$S: lock.mdb belongs to nobody, mode 0600" [ "$(stat -c '%U %a' "$D/gl/lock.mdb")" = "nobody 600" ]
check_tool
check "$S: p0fshim check (as root) reads the store" grep -q "does not know the host: a first contact is greylisted" "$D/check.out"
load
check "$S: a later load opens it again without an error" eval '! grep -q "level=error" "$D/log.txt"'
check "$S: and the owner may open it too (p0fshim check as nobody)" \
    eval '"${AS_NOBODY[@]}" "$BUILD/p0fshim" check 192.0.2.20 --config "$D/conf" --os Windows --flavor "NT kernel" | grep -q "does not know the host"'

summary
