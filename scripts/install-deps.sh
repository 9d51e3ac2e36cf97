#!/bin/bash
# Install the Debian packages that building and testing p0fshim need, if any is missing.
# Idempotent: with everything present it changes nothing and runs no `apt-get update`.
# Usage: scripts/install-deps.sh [EXTRA-PACKAGE...]   (as root, or with sudo available)
#        scripts/install-deps.sh --build              only what building the library, the tool,
#                                                     the milter and the .deb needs (a mail server)
# The full set includes Postfix, which apt would install in place of another MTA (they all
# provide mail-transport-agent and conflict): with Exim, Sendmail or OpenSMTPD installed, it
# refuses, and says to use --build.
set -euo pipefail

BUILD_PACKAGES=(
    gcc libc6-dev make pkg-config   # toolchain (libc6-dev is only a Recommends of gcc)
    libpcre2-dev liblmdb-dev libhiredis-dev libmilter-dev
    debhelper dpkg-dev fakeroot     # make deb
)
TEST_PACKAGES=(
    gcc libc6-dev make pkg-config   # toolchain (libc6-dev is only a Recommends of gcc)
    libpcre2-dev                    # the library's regex engine
    liblmdb-dev                     # the greylisting store shared by all processes of the MTA
    libhiredis-dev                  # the Redis stores shared by a fleet of MX hosts (greylisting, karma)
    redis-server                    # the real Redis the fleet tests start themselves (redis-server, redis-cli)
    libcriterion-dev                # unit tests
    p0f                             # the real p0f v3 daemon for the end-to-end test and demo
    fail2ban                        # fail2ban-regex, to test the filter in scripts/fail2ban (tests/tool)
    iproute2 procps                 # network namespaces (ip netns) and sysctl for the lab
    coreutils                       # stdbuf, timeout, mktemp (essential, listed for clarity)
    postfix                         # the real MTA of the Postfix end-to-end test
    ucspi-tcp                       # tcpserver, for the qmail-style test
    libmilter-dev                   # p0fshim-milter (libmilter, Sendmail's milter API)
    strace util-linux               # the fault tests: strace of a host, setpriv and unshare
    debhelper dpkg-dev fakeroot     # make deb: dpkg-buildpackage with debhelper (debian/)
    lintian                         # the package test: lintian on the .deb (tests/package/deb.sh)
    chromium python3                # report --html in a real browser, its DOM and screenshot checked (tests/tool)
    openssh-client                  # ssh -V among the ordinary programs of the system-wide test (tests/e2e)
    m4 liblockfile1 libwrap0        # Sendmail's end-to-end test: sendmail.mc to .cf; the libraries of the unpacked (not installed)
                                    # sendmail-bin, which runs in secure-execution mode, where LD_LIBRARY_PATH is ignored
    libidn12                        # the unpacked Exim's library, for its SIGHUP re-execution (its environment cleared)
)
if [ "${1:-}" = --build ]; then
    [ $# -eq 1 ] || { echo "usage: install-deps.sh --build" >&2; exit 2; }
    PACKAGES=("${BUILD_PACKAGES[@]}")
else
    PACKAGES=("${TEST_PACKAGES[@]}" "$@")
fi

installed() {
    [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]
}

missing=()
for p in "${PACKAGES[@]}"; do
    installed "$p" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

# Another installed MTA (anything but Postfix that provides mail-transport-agent) would be removed.
if printf '%s\n' "${missing[@]}" | grep -qx postfix; then
    other_mta=$(dpkg-query -W -f='${db:Status-Abbrev}|${Package}|${Provides}\n' 2>/dev/null |
        awk -F'|' '$1 ~ /^ii/ && $2 != "postfix" && $3 ~ /(^|[ ,])mail-transport-agent([ ,]|$)/ {print $2}' | tr '\n' ' ')
    if [ -n "$other_mta" ]; then
        echo "install-deps: the test dependencies include postfix, which would replace the installed MTA (${other_mta% })." >&2
        echo "install-deps: run make check on a test machine; to build and install here: make build-deps" >&2
        exit 1
    fi
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
        echo "install-deps: missing packages (${missing[*]}) and not root; run as root" >&2
        exit 1
    }
    SUDO=sudo
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/p0fshim-install-deps.XXXXXX)
trap 'rm -f "$log"' EXIT
APT=(apt-get -q -y -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=300)

echo "install-deps: installing ${missing[*]}"
# The tests run Postfix instances of their own: the system's must stay unconfigured and stopped.
if command -v debconf-set-selections >/dev/null 2>&1; then
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
fi
# No package may start its service here (postfix, fail2ban): Debian's policy-rc.d convention.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f "$log"; $SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
if ! $SUDO env DEBIAN_FRONTEND=noninteractive "${APT[@]}" update >"$log" 2>&1; then
    echo "install-deps: apt-get update failed:" >&2
    cat "$log" >&2
    exit 1
fi
if ! $SUDO env DEBIAN_FRONTEND=noninteractive "${APT[@]}" install --no-install-recommends \
        "${missing[@]}" >"$log" 2>&1; then
    echo "install-deps: apt-get install ${missing[*]} failed:" >&2
    cat "$log" >&2
    exit 1
fi
for p in "${missing[@]}"; do
    installed "$p" || { echo "install-deps: $p is still not installed" >&2; exit 1; }
done
echo "install-deps: done"
