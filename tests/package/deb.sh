#!/bin/bash
# The Debian package (debian/, `make deb`), built and installed as an admin would, into a
# throw-away root: its files and modes, its conffiles, lintian, an installed library that
# a set-group-ID server preloads by its bare name, then remove and purge. Also: plain `make`
# without a build dependency stops with one line.
#
# The whole script runs in private mount and network namespaces (it re-executes itself under
# `unshare`). The throw-away root ($ROOT) has its own /etc and /var; its /usr is an overlay
# whose lower layer is the machine's /usr, read-only (so dpkg's maintainer scripts, run
# chrooted there, find sh, update-rc.d and deb-systemd-helper), and whose upper layer, on a
# tmpfs, takes what the package installs. Nothing outside the namespaces is written.
if [ -z "${P0FSHIM_DEB_NAMESPACED:-}" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "deb.sh: needs root (mount namespaces, dpkg --root)" >&2; exit 1; }
    exec env P0FSHIM_DEB_NAMESPACED=1 unshare --mount --net --propagation private bash "$0" "$@"
fi
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

require_root
require_built "$HELPERS/testsrv" "$HELPERS/testclient" "$HELPERS/logsink"
for tool in dpkg-buildpackage dh lintian; do
    command -v "$tool" >/dev/null || fail_now "$tool is missing (make deps installs it)"
done
ip link set lo up || fail_now "cannot bring up lo in the test's network namespace"

MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
ARCH=$(dpkg-architecture -qDEB_HOST_ARCH)
VERSION=$(dpkg-parsechangelog -l "$TOP/debian/changelog" -S Version)
LIBPATH=/usr/lib/$MULTIARCH/libp0fshim.so

# ---- 1. plain make without a build dependency ---------------------------------------------------
# BUILD_DEP_FILES names, per package, a file the package installs: one pointing nowhere stands
# for a machine without liblmdb-dev.
out=$(make -C "$TOP" --no-print-directory B="$WORK/nodeps" \
    BUILD_DEP_FILES="libc6-dev=/usr/include/stdio.h liblmdb-dev=$WORK/absent/lmdb.h" all 2>&1)
rc=$?
check "make without liblmdb-dev fails" [ "$rc" -ne 0 ]
check "... with one line naming liblmdb-dev and make build-deps (got: $out)" \
    bash -c '[ "$(wc -l <<<"$1")" -eq 1 ] && grep -q "liblmdb-dev" <<<"$1" && grep -q "make build-deps" <<<"$1"' _ "$out"
check "... before compiling anything" [ ! -e "$WORK/nodeps" ]

# The dependency installer: `--build` has nothing to do here; the full set, which includes
# Postfix, refuses on a machine with another MTA installed (seen through a dpkg status file
# bind-mounted in a private mount namespace: Postfix absent, Exim present), before any apt-get.
out=$(bash "$TOP/scripts/install-deps.sh" --build 2>&1)
rc=$?
check "install-deps --build with every build dependency present: exit 0, nothing done (got: $out)" \
    bash -c '[ "$1" -eq 0 ] && [ -z "$2" ]' _ "$rc" "$out"
awk -v RS= -v ORS='\n\n' '!/^Package: postfix\n/' /var/lib/dpkg/status >"$WORK/dpkg-status"
printf '%s\n' "Package: exim4-daemon-light" "Status: install ok installed" "Priority: optional" \
    "Section: mail" "Maintainer: test" "Architecture: amd64" "Version: 4.96-15" \
    "Provides: mail-transport-agent" "Description: stand-in" "" >>"$WORK/dpkg-status"
mkdir -p "$WORK/fakebin" && printf '#!/bin/sh\necho "apt-get ran"\nexit 1\n' >"$WORK/fakebin/apt-get"
chmod 755 "$WORK/fakebin/apt-get"
out=$(unshare -m bash -c 'mount --bind "$1" /var/lib/dpkg/status && PATH="$2:$PATH" bash "$3/scripts/install-deps.sh"' \
    _ "$WORK/dpkg-status" "$WORK/fakebin" "$TOP" 2>&1)
rc=$?
check "install-deps with Exim installed and Postfix not: refuses, names exim4-daemon-light and make build-deps (got: $out)" \
    bash -c '[ "$1" -eq 1 ] && grep -q "replace the installed MTA (exim4-daemon-light)" <<<"$2" &&
        grep -q "make build-deps" <<<"$2" && ! grep -q "apt-get ran\|installing" <<<"$2"' _ "$rc" "$out"

# ---- 2. make deb, lintian -----------------------------------------------------------------------
T0=$SECONDS
make -C "$TOP" --no-print-directory B="$WORK/b" deb >"$WORK/deb-build.log" 2>&1 ||
    { tail -n 30 "$WORK/deb-build.log"; fail_now "make deb failed (the log's end is above)"; }
DEB=$WORK/b/deb/p0fshim_${VERSION}_$ARCH.deb
check "make deb built $(basename "$DEB") ($((SECONDS - T0)) s)" [ -s "$DEB" ]
[ -s "$DEB" ] || summary

lintian --pedantic "$DEB" >"$WORK/lintian.out" 2>&1
grep -v '^running with root privileges' "$WORK/lintian.out" >"$WORK/lintian.tags"
check "lintian --pedantic: no tag left but the overridden ones ($(tr '\n' ' ' <"$WORK/lintian.tags"))" \
    [ ! -s "$WORK/lintian.tags" ]

field() { dpkg-deb -f "$DEB" "$1"; }
check "control: Recommends p0f" grep -qw p0f <<<"$(field Recommends)"
check "control: Suggests hiredis and redis-server (loaded only for a Redis store, never linked)" \
    bash -c 'grep -q libhiredis0.14 <<<"$1" && grep -q redis-server <<<"$1"' _ "$(field Suggests)"
check "control: Depends on the libraries the programs link (lmdb, pcre2)" \
    bash -c 'grep -q liblmdb <<<"$1" && grep -q libpcre2-8 <<<"$1"' _ "$(field Depends)"
dpkg-deb -I "$DEB" conffiles >"$WORK/conffiles" 2>/dev/null
printf '%s\n' /etc/default/p0f-p0fshim /etc/fail2ban/filter.d/p0fshim.conf /etc/init.d/p0f-p0fshim \
    /etc/p0fshim/blocked_operating_systems /etc/p0fshim/p0fshim.conf >"$WORK/conffiles.want"
check "conffiles: exactly the configuration, the filter and the p0f service's settings" \
    diff -u "$WORK/conffiles.want" <(sort "$WORK/conffiles")

# ---- 3. the throw-away root ---------------------------------------------------------------------
ROOT=$WORK/root
OVL=$WORK/ovl
mkdir -p "$ROOT"/{usr,etc,var/lib/dpkg/info,var/lib/dpkg/updates,var/lib/dpkg/triggers,run,tmp,dev} "$OVL"
chmod 1777 "$ROOT/tmp"
for d in bin lib lib64 sbin; do [ -L "/$d" ] && ln -s "$(readlink "/$d")" "$ROOT/$d"; done
: >"$ROOT/var/lib/dpkg/status"
: >"$ROOT/var/lib/dpkg/available"
mount -t tmpfs tmpfs "$OVL" || fail_now "cannot mount a tmpfs for the overlay"
mkdir -p "$OVL/upper" "$OVL/work"
mount -t overlay overlay -o "lowerdir=/usr,upperdir=$OVL/upper,workdir=$OVL/work" "$ROOT/usr" ||
    fail_now "cannot mount the overlay on $ROOT/usr"
# Before lib.sh removes $WORK: never walk the machine's /usr through the overlay.
CLEANUP_HOOKS=("umount -l '$ROOT/dev/null'" "umount -l '$ROOT/usr'" "umount -l '$OVL'" "${CLEANUP_HOOKS[@]}")
touch "$ROOT/dev/null" && mount --bind /dev/null "$ROOT/dev/null" || fail_now "cannot give the root a /dev/null"
DPKG=(dpkg --root="$ROOT" --force-depends --force-not-root)
# dpkg_do ACTION ARGS...: dpkg in the root, its output in $WORK/dpkg-ACTION.log.
dpkg_do() { "${DPKG[@]}" "$@" >"$WORK/dpkg-${1#--}.log" 2>&1; }

dpkg_do --install "$DEB"
rc=$?
check "dpkg --root -i installs the package (exit $rc)" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || { cat "$WORK/dpkg-install.log"; summary; }
check "dpkg-query: p0fshim $VERSION is installed" [ "$(dpkg-query --admindir="$ROOT/var/lib/dpkg" -W \
    -f='${db:Status-Abbrev}${Version}' p0fshim)" = "ii $VERSION" ]
dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f='${Conffiles}\n' p0fshim | awk 'NF { print $1 }' | sort \
    >"$WORK/conffiles.installed"
check "dpkg-query: the installed conffiles are the package's" diff -u "$WORK/conffiles.want" "$WORK/conffiles.installed"

# mode owner:group path, one a line: what an admin finds after installing.
while read -r mode owner path; do
    got=$(stat -c '%a %U:%G' "$ROOT$path" 2>/dev/null)
    check "installed: $path is $mode $owner (got: ${got:-nothing})" [ "$got" = "$mode $owner" ]
done <<EOF
4644 root:root $LIBPATH
755 root:root /usr/bin/p0fshim
755 root:root /usr/sbin/p0fshim-milter
644 root:root /etc/p0fshim/p0fshim.conf
644 root:root /etc/p0fshim/blocked_operating_systems
644 root:root /etc/fail2ban/filter.d/p0fshim.conf
644 root:root /lib/systemd/system/p0f-p0fshim.service
755 root:root /etc/init.d/p0f-p0fshim
644 root:root /etc/default/p0f-p0fshim
644 root:root /usr/share/man/man1/p0fshim.1.gz
644 root:root /usr/share/man/man5/blocked_operating_systems.5.gz
644 root:root /usr/share/man/man8/p0fshim.8.gz
644 root:root /usr/share/man/man8/p0fshim-milter.8.gz
644 root:root /usr/share/doc/p0fshim/docs/packaging.md.gz
644 root:root /usr/share/doc/p0fshim/examples/postfix/main.cf.snippet
644 root:root /usr/share/doc/p0fshim/examples/systemd/sendmail.conf
755 root:root /usr/share/doc/p0fshim/examples/tcpserver/run
700 root:root /var/lib/p0fshim/greylist
EOF

check "installed: libp0fshim-system.so (for /etc/ld.so.preload, docs/mta.md) links to libp0fshim.so" \
    [ "$(readlink "$ROOT/usr/lib/$MULTIARCH/libp0fshim-system.so")" = libp0fshim.so ]

# The shipped files are the tree's.
for pair in policy/p0fshim.conf=/etc/p0fshim/p0fshim.conf \
    policy/blocked_operating_systems=/etc/p0fshim/blocked_operating_systems \
    scripts/fail2ban/p0fshim.conf=/etc/fail2ban/filter.d/p0fshim.conf \
    scripts/p0f/p0f-p0fshim.service=/lib/systemd/system/p0f-p0fshim.service \
    scripts/p0f/default=/etc/default/p0f-p0fshim; do
    check "installed: ${pair#*=} is the tree's ${pair%%=*}" cmp -s "$TOP/${pair%%=*}" "$ROOT${pair#*=}"
done
EX=$ROOT/usr/share/doc/p0fshim/examples
check "examples: no /usr/local path left (make install's)" bash -c '! grep -rq /usr/local "$1"' _ "$EX"
check "examples: the Postfix snippet preloads $LIBPATH" grep -q "LD_PRELOAD=$LIBPATH " "$EX/postfix/main.cf.snippet"
check "installed tool: p0fshim --version says $VERSION" \
    [ "$(chroot "$ROOT" /usr/bin/p0fshim --version 2>&1)" = "p0fshim $VERSION" ]

# Installing enables nothing: no preload, no service link.
check "nothing enabled: no /etc/ld.so.preload" [ ! -e "$ROOT/etc/ld.so.preload" ]
check "nothing enabled: no systemd *.wants link for p0f-p0fshim" \
    bash -c '[ -z "$(find "$1/etc/systemd" -name "p0f-p0fshim*" 2>/dev/null)" ]' _ "$ROOT"
check "nothing enabled: no rc?.d start link for p0f-p0fshim" \
    bash -c '[ -z "$(find "$1"/etc/rc?.d -name "S*p0f-p0fshim" 2>/dev/null)" ]' _ "$ROOT"

# ---- 4. the installed library, preloaded by bare name into a set-group-ID server -----------------
# Run by root, a setgid program gets AT_SECURE (its effective gid differs from its real one),
# like Sendmail's: ld.so then preloads a bare name only from the standard directories and only
# a set-user-ID file, and the shim reads /etc/p0fshim/p0fshim.conf whatever the environment
# says. That file is the package's conffile, with log_socket turned to the test's sink; no p0f
# runs, so a judged connection is logged verdict=error.
sed -i 's|^log_socket .*|log_socket /run/log.sock|' "$ROOT/etc/p0fshim/p0fshim.conf"
start_sink "$ROOT/run/log.sock" "$WORK/log.txt" || fail_now "the log sink did not start"
install -m 2755 -g nogroup "$HELPERS/testsrv" "$ROOT/tmp/testsrv-setgid"

# run_srv NAME: the setgid server in the root, port 25 (the package's `ports`), bare-name preload.
run_srv() {
    rm -f "$ROOT/run/$1.ready"
    spawn chroot "$ROOT" env LD_PRELOAD=libp0fshim.so P0FSHIM_CONFIG=/nonexistent \
        /tmp/testsrv-setgid --model fork --listen 127.0.0.1:25 --ready-file "/run/$1.ready" \
        2>>"$WORK/$1.err"
    SRV_PID=$!
    wait_for 10 test -s "$ROOT/run/$1.ready" || echo "# $1 did not get ready: $(cat "$WORK/$1.err")"
    HOST_PID=$(sed -n 's/^pid=\([0-9]*\).*/\1/p' "$ROOT/run/$1.ready")
}
stop_srv() { kill "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; }
served_on_25() { "$HELPERS/testclient" --connect 127.0.0.1:25 --expect served --hold-ms 50 >>"$WORK/client.out" 2>&1; }
ERROR_LINE='p0fshim\[[0-9]+\]: remote=127\.0\.0\.1:[0-9]+ local=127\.0\.0\.1:25 verdict=error ms=[0-9]+'

run_srv secure
check "secure mode: the server runs with AT_SECURE" \
    bash -c 'od -An -tu8 -w16 "/proc/$1/auxv" | awk "\$1 == 23 { exit \$2 == 1 ? 0 : 1 }"' _ "$HOST_PID"
check "secure mode: the server loaded $LIBPATH by its bare name" grep -q "$LIBPATH" "/proc/$HOST_PID/maps"
check "secure mode: a client is served" served_on_25
check "secure mode: the connection is judged: a verdict=error line (no p0f) in the sink" \
    wait_for 5 log_has "$WORK/log.txt" "$ERROR_LINE"
stop_srv

# The control: without the set-user-ID bit the same start loads no library and logs nothing,
# so the check above did run in secure-execution mode.
: >"$WORK/log.txt"
chmod u-s "$ROOT$LIBPATH"
run_srv control
check "control: without the set-user-ID bit ld.so does not preload it" \
    bash -c '! grep -q libp0fshim "/proc/$1/maps"' _ "$HOST_PID"
served_on_25
sleep 0.5
check "control: and no line is logged" [ ! -s "$WORK/log.txt" ]
stop_srv
chmod u+s "$ROOT$LIBPATH"
rm -f "$ROOT/tmp/testsrv-setgid" "$ROOT"/run/*.ready
kill "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null

# ---- 5. remove, then purge ----------------------------------------------------------------------
: >"$ROOT/var/lib/p0fshim/greylist/data.mdb"   # a store the MTA made meanwhile
check "dpkg --remove succeeds" dpkg_do --remove p0fshim
check "after remove: the library is gone" [ ! -e "$ROOT$LIBPATH" ]
check "after remove: the configuration stays" [ -e "$ROOT/etc/p0fshim/p0fshim.conf" ]
check "after remove: the greylisting store stays" [ -e "$ROOT/var/lib/p0fshim/greylist/data.mdb" ]
check "dpkg --purge succeeds" dpkg_do --purge p0fshim
# Left behind may be only dpkg's own database and log, and empty directories that every Debian
# system has (update-rc.d and deb-systemd-helper made them here, in an empty root).
find "$ROOT/etc" "$ROOT/var" "$ROOT/run" "$ROOT/tmp" -mindepth 1 ! -type d \
    ! -path "$ROOT/var/lib/dpkg/*" ! -path "$ROOT/var/log/dpkg.log" >"$WORK/left"
find "$ROOT/etc" "$ROOT/var" -mindepth 1 -type d ! -path "$ROOT/var/lib/dpkg" ! -path "$ROOT/var/lib/dpkg/*" \
    ! -regex "$ROOT/etc/rc[0-6S]\.d" ! -path "$ROOT/var/lib/systemd" ! -path "$ROOT/var/lib" ! -path "$ROOT/var/log" \
    >>"$WORK/left"
check "after purge: nothing of the package left in /etc and /var ($(tr '\n' ' ' <"$WORK/left"))" [ ! -s "$WORK/left" ]
check "after purge: the system directories left are empty" \
    bash -c '[ -z "$(find "$1"/etc/rc?.d "$1/var/lib/systemd" -mindepth 1 2>/dev/null)" ]' _ "$ROOT"
find "$OVL/upper" -mindepth 1 \( -type f -o -type l \) >"$WORK/left-usr"
check "after purge: nothing of the package left in /usr ($(head -n 5 "$WORK/left-usr" | tr '\n' ' '))" \
    [ ! -s "$WORK/left-usr" ]

summary
