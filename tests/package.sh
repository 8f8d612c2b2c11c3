#!/usr/bin/env bash
# tests/package.sh DEB: install the grappe-agent Debian package into throwaway roots and
# check what the IT staff rely on: files and modes, the conffile, the enabled unit, no
# start with the example config, local edits and state kept across upgrade and remove,
# state gone on purge, lintian without errors.
#
# Two throwaway roots:
# - an empty root driven by `dpkg --root DIR --force-script-chrootless` for the package's
#   life cycle: the maintainer scripts run on this machine with DPKG_ROOT=DIR, as when a
#   device image is built; no userland (shell, dpkg, perl) has to be installed in DIR;
# - a copy-on-write view of this (Debian) machine, chrooted in a private mount namespace,
#   where dpkg runs the scripts as on a device (DPKG_ROOT unset) and systemd "runs"
#   (/run/systemd/system exists): it checks that the service is started only with a valid
#   config. policy-rc.d records each start instead of doing it. Skipped where mount
#   namespaces or overlayfs are unavailable.
# Needs root (dpkg sets owners), dpkg, openssl and lintian. Usage: tests/package.sh DEB
#
# Single-quoted ${...} below are dpkg-query formats, or checks expanded when eval runs them.
# shellcheck disable=SC2016
set -euo pipefail

if [[ $# -ne 1 || ! -f $1 ]]; then
    echo "usage: $0 path/to/grappe-agent_VERSION_ARCH.deb" >&2
    exit 64
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "$0: needs root (dpkg sets file owners in the throwaway root)" >&2
    exit 77
fi
DEB=$(realpath "$1")
PKG=grappe-agent
UNIT=grappe-agent.service
VERSION=$(dpkg-deb -f "$DEB" Version)

WORK=$(mktemp -d /tmp/grappe-package-test.XXXXXX)
# PACKAGE_TEST_KEEP=1 keeps the roots and the dpkg/lintian output for a look afterwards.
if [[ -n ${PACKAGE_TEST_KEEP:-} ]]; then
    echo "work directory: $WORK"
else
    trap 'rm -rf "$WORK"' EXIT
fi
ROOT=$WORK/root

passed=0
failed=0
# check NAME COMMAND...: one line per check.
check() {
    local name=$1
    shift
    if "$@"; then
        echo "ok   - $name"
        passed=$((passed + 1))
    else
        echo "FAIL - $name"
        failed=$((failed + 1))
    fi
}
skip() { echo "skip - $1"; }

# --- The empty root -------------------------------------------------------------------

# What dpkg needs to treat ROOT as a system: its database, and policy-rc.d, which
# deb-systemd-invoke consults under DPKG_ROOT and which here records any start request.
mkdir -p "$ROOT"/var/lib/dpkg/{info,updates,triggers} "$ROOT"/usr/sbin "$ROOT"/etc
touch "$ROOT"/var/lib/dpkg/{status,available}
cat >"$ROOT/usr/sbin/policy-rc.d" <<EOF
#!/bin/sh
echo "\$*" >>"$WORK/policy-rc.log"
exit 101
EOF
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
# Any direct systemctl call would act on this machine, not on ROOT: record them all.
mkdir -p "$WORK/bin"
cat >"$WORK/bin/systemctl" <<EOF
#!/bin/sh
echo "\$*" >>"$WORK/systemctl.log"
EOF
chmod 755 "$WORK/bin/systemctl"
touch "$WORK/policy-rc.log" "$WORK/systemctl.log"

# --force-depends: ROOT has no libc6 package registered. stdin closed so that a conffile
# question fails instead of waiting.
dpkg_root() {
    PATH="$WORK/bin:$PATH" dpkg --root="$ROOT" --force-script-chrootless --force-depends \
        "$@" </dev/null >"$WORK/dpkg.out" 2>&1 || { sed 's/^/    | /' "$WORK/dpkg.out"; return 1; }
}
query() { dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f="$1" "$PKG" 2>/dev/null; }

# mode_is PATH MODE: file exists, owned by root, with this mode.
mode_is() { [[ -e $ROOT$1 && $(stat -c '%a %U:%G' "$ROOT$1") == "$2 root:root" ]]; }
no_start_requested() { ! grep -Eq '(^| )(start|restart|try-restart|reload-or-restart)( |$)' "$WORK/policy-rc.log" "$WORK/systemctl.log"; }
wants_link() { [[ $(readlink "$ROOT/etc/systemd/system/multi-user.target.wants/$UNIT") == "/lib/systemd/system/$UNIT" ]]; }
state_present() {
    [[ -L $ROOT/var/lib/grappe-agent && $(cat "$ROOT/var/lib/grappe-agent/usage.json") == ledger &&
        -f $ROOT/var/lib/private/grappe-agent/spool/00000001 ]]
}

check "install into an empty root (dpkg --root, chrootless scripts)" dpkg_root -i "$DEB"
check "package state: install ok installed" [ "$(query '${Status}')" = "install ok installed" ]
check "binary /usr/bin/grappe-agent 755 root, runs" \
    eval 'mode_is /usr/bin/grappe-agent 755 && "$ROOT/usr/bin/grappe-agent" --version >/dev/null'
check "unit /lib/systemd/system/$UNIT 644, runs /usr/bin/grappe-agent run" \
    eval 'mode_is /lib/systemd/system/$UNIT 644 && grep -qx "ExecStart=/usr/bin/grappe-agent run" "$ROOT/lib/systemd/system/$UNIT"'
check "config /etc/grappe-agent/agent.toml 644 in a 755 directory" \
    eval 'mode_is /etc/grappe-agent/agent.toml 644 && mode_is /etc/grappe-agent 755'
check "docs: README, man page, copyright, Mosquitto examples (644)" \
    eval 'for f in README.md copyright changelog.Debian.gz; do mode_is /usr/share/doc/$PKG/$f 644 || exit 1; done; mode_is /usr/share/man/man8/grappe-agent.8.gz 644'
check "no state directory shipped (systemd's StateDirectory= makes it)" \
    eval '! query "\${db-fsys:Files}" | grep -q /var/lib'
check "agent.toml registered as a conffile" \
    eval 'query "\${Conffiles}" | grep -Eq "^ /etc/grappe-agent/agent.toml [0-9a-f]{32}$"'
check "service enabled: multi-user.target.wants symlink" wants_link
check "no start requested (policy-rc.d, systemctl) with the example config" no_start_requested
check "postinst says what to do before the first boot" \
    grep -q "put the broker settings in /etc/grappe-agent/agent.toml" "$WORK/dpkg.out"
check "the example config is refused by check-config (exit 2)" \
    eval '"$ROOT/usr/bin/grappe-agent" check-config --config "$ROOT/etc/grappe-agent/agent.toml" >/dev/null 2>&1; [ $? -eq 2 ]'

# The state as systemd leaves it with DynamicUser=yes: the data under /var/lib/private,
# a symlink at /var/lib/grappe-agent.
mkdir -p "$ROOT/var/lib/private/grappe-agent/spool"
chmod 700 "$ROOT/var/lib/private"
echo ledger >"$ROOT/var/lib/private/grappe-agent/usage.json"
echo report >"$ROOT/var/lib/private/grappe-agent/spool/00000001"
ln -s private/grappe-agent "$ROOT/var/lib/grappe-agent"
# A local edit of the conffile.
sed -i 's/^structure = .*/structure = "ehpad-local-edit"/' "$ROOT/etc/grappe-agent/agent.toml"
local_edit() { grep -qx 'structure = "ehpad-local-edit"' "$ROOT/etc/grappe-agent/agent.toml"; }

check "reinstall of the same version as an upgrade" dpkg_root -i "$DEB"
check "  local conffile edit kept, no .dpkg-dist" \
    eval 'local_edit && [ ! -e "$ROOT/etc/grappe-agent/agent.toml.dpkg-dist" ]'
check "  state kept (spool, ledger, symlink)" state_present
check "  still enabled" wants_link

# A newer version whose example config changed: dpkg keeps the local edit and puts the new
# example next to it (--force-confold is what an unattended upgrade does; apt would ask).
dpkg-deb -R "$DEB" "$WORK/next"
sed -i "s/^Version: .*/Version: ${VERSION}+pkgtest1/" "$WORK/next/DEBIAN/control"
echo '# a line new in the next version' >>"$WORK/next/etc/grappe-agent/agent.toml"
dpkg-deb --root-owner-group -b "$WORK/next" "$WORK/next.deb" >/dev/null
check "upgrade to ${VERSION}+pkgtest1 with a changed example config" \
    dpkg_root --force-confdef --force-confold -i "$WORK/next.deb"
check "  version is ${VERSION}+pkgtest1" [ "$(query '${Version}')" = "${VERSION}+pkgtest1" ]
check "  local conffile edit kept, new example in agent.toml.dpkg-dist" \
    eval 'local_edit && grep -q "new in the next version" "$ROOT/etc/grappe-agent/agent.toml.dpkg-dist"'
check "  state kept (spool, ledger, symlink)" state_present
check "  no start requested" no_start_requested

check "dpkg --remove" dpkg_root --remove "$PKG"
check "  package state: deinstall ok config-files" [ "$(query '${Status}')" = "deinstall ok config-files" ]
check "  binary and unit gone" eval '[ ! -e "$ROOT/usr/bin/grappe-agent" ] && [ ! -e "$ROOT/lib/systemd/system/$UNIT" ]'
check "  config kept" local_edit
check "  state kept (spool, ledger, symlink)" state_present

check "dpkg --purge" dpkg_root --purge "$PKG"
check "  package unknown to dpkg" eval '! query "\${Status}"'
check "  state gone (/var/lib/private/grappe-agent and the symlink)" \
    eval '[ ! -e "$ROOT/var/lib/private/grappe-agent" ] && [ ! -L "$ROOT/var/lib/grappe-agent" ]'
check "  config gone, /etc/grappe-agent removed" eval '[ ! -e "$ROOT/etc/grappe-agent" ]'
check "  no systemd links left (wants, mask)" \
    eval '[ -z "$(find "$ROOT/etc/systemd" -name "$UNIT" 2>/dev/null)" ]'

# Without systemd (agent run by hand as root) the state is a plain directory.
dpkg_root -i "$DEB" && mkdir -p "$ROOT/var/lib/grappe-agent/spool" &&
    echo report >"$ROOT/var/lib/grappe-agent/spool/00000001"
check "purge also removes a plain /var/lib/grappe-agent directory" \
    eval 'dpkg_root --purge "$PKG" && [ ! -e "$ROOT/var/lib/grappe-agent" ]'

# --- This machine, copy-on-write, with systemd "running" ------------------------------

# A CA and a device certificate the agent accepts (client auth), for a config that passes:
# the example config leaves the device id to /etc/machine-id, so that is the certificate's
# common name (the agent refuses an identity that is not its certificate's).
make_pki() {
    local d=$WORK/pki
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -keyout "$d/ca.key" -out "$d/ca.pem" -subj /CN=package-test-ca \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$d/device.key" -out "$d/device.csr" -subj "/CN=$(cat /etc/machine-id)"
    printf '%s\n' basicConstraints=CA:FALSE keyUsage=critical,digitalSignature \
        extendedKeyUsage=clientAuth >"$d/ext"
    openssl x509 -req -in "$d/device.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -days 2 -extfile "$d/ext" -out "$d/device.pem"
}

# Runs in the private mount namespace: install, check, make the config valid, upgrade.
# Results go to $WORK/live.* (outside the overlay, so they outlive it).
live_gate() {
    local m=$WORK/merged
    mount -t tmpfs tmpfs "$WORK/upper"
    mkdir -p "$WORK/upper/u" "$WORK/upper/w" "$m"
    mount -t overlay overlay -o "lowerdir=/,upperdir=$WORK/upper/u,workdir=$WORK/upper/w" "$m"
    mkdir -p "$m/run/systemd/system"
    printf '#!/bin/sh\necho "$*" >>/policy-rc.log\nexit 101\n' >"$m/usr/sbin/policy-rc.d"
    chmod 755 "$m/usr/sbin/policy-rc.d"
    : >"$m/policy-rc.log"
    cp "$DEB" "$m/tmp/pkg.deb"
    chroot "$m" dpkg -i /tmp/pkg.deb </dev/null >"$WORK/live.install" 2>&1 || return 1
    cp "$m/policy-rc.log" "$WORK/live.after-install"
    install -m 644 "$WORK/pki/ca.pem" "$WORK/pki/device.pem" "$m/etc/grappe-agent/"
    install -m 600 "$WORK/pki/device.key" "$m/etc/grappe-agent/"
    chroot "$m" grappe-agent check-config >"$WORK/live.check" 2>&1 || return 1
    chroot "$m" dpkg -i /tmp/pkg.deb </dev/null >"$WORK/live.upgrade" 2>&1 || return 1
    cp "$m/policy-rc.log" "$WORK/live.after-upgrade"
}

if ! command -v openssl >/dev/null; then
    skip "live system checks: openssl missing"
elif ! make_pki >"$WORK/pki.log" 2>&1; then
    skip "live system checks: could not make test certificates"
elif ! unshare --mount --propagation private true 2>/dev/null; then
    skip "live system checks: no mount namespaces here"
else
    mkdir -p "$WORK/upper"
    export WORK DEB
    export -f live_gate
    check "live: install in a copy-on-write chroot of this machine, systemd running" \
        unshare --mount --propagation private bash -euo pipefail -c live_gate
    check "  example config: no start requested" \
        eval '[ -f "$WORK/live.after-install" ] && ! grep -q "$UNIT" "$WORK/live.after-install"'
    check "  message: edit the config, add the certificates, systemctl start" \
        eval 'grep -q "NOT started" "$WORK/live.install" && grep -q "edit /etc/grappe-agent/agent.toml" "$WORK/live.install" && grep -q "systemctl start grappe-agent" "$WORK/live.install"'
    check "  with certificates in place, check-config passes" grep -q ": valid;" "$WORK/live.check"
    check "  then an upgrade restarts the service" \
        grep -qx "$UNIT restart" "$WORK/live.after-upgrade"
fi

# --- Self-update of the installed package, then a package upgrade over it ------------
# The device pretends to be older than it is (GRAPPE_AGENT_PRETEND_VERSION=0.0.1), so that
# the package's own binary, packed and signed by `grappe-fleet release` and served over
# HTTPS by a local server with its own CA, is a newer release for it. Then the package is
# upgraded over it: the package must win, and dpkg's files must never have been touched.
FLEET=${GRAPPE_FLEET:-$(dirname "$0")/../target/debug/grappe-fleet}
RELEASE=${VERSION%%-*}
U=$WORK/update
self_update_block() {
    local port pid status
    mkdir -p "$U/www" "$U/state"
    dpkg_root -i "$DEB" || return 1
    # The release server's own CA, and its certificate for 127.0.0.1.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -keyout "$U/ca.key" -out "$U/ca.pem" -subj /CN=release-test-ca \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$U/server.key" -out "$U/server.csr" -subj /CN=127.0.0.1 2>/dev/null
    printf '%s\n' basicConstraints=CA:FALSE keyUsage=critical,digitalSignature \
        extendedKeyUsage=serverAuth subjectAltName=IP:127.0.0.1 >"$U/server.ext"
    openssl x509 -req -in "$U/server.csr" -CA "$U/ca.pem" -CAkey "$U/ca.key" \
        -CAcreateserial -days 2 -extfile "$U/server.ext" -out "$U/server.pem" 2>/dev/null
    "$FLEET" release keygen --out "$U/keys" >/dev/null
    "$FLEET" release sign --key "$U/keys/release.key" --version "$RELEASE" \
        --out "$U/www" "x86_64-unknown-linux-gnu=$ROOT/usr/bin/grappe-agent" || return 1
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    (cd "$U/www" && exec python3 -c '
import http.server, ssl, sys
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[2], sys.argv[3])
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()' "$port" "$U/server.pem" "$U/server.key") >"$U/server.log" 2>&1 &
    pid=$!
    cat >"$U/agent.toml" <<EOF
[identity]
grappe = "grappe-pkgtest"
structure = "ehpad-pkgtest"
device = ""
[broker]
url = "mqtts://127.0.0.1:9"
ca = "$WORK/pki/ca.pem"
cert = "$WORK/pki/device.pem"
key = "$WORK/pki/device.key"
[spool]
dir = "$U/state/spool"
[state]
dir = "$U/state"
[update]
enabled = true
manifest_url = "https://127.0.0.1:$port/manifest.json"
public_key = "$U/keys/release.pub"
ca = "$U/ca.pem"
EOF
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    status=0
    GRAPPE_AGENT_PRETEND_VERSION=0.0.1 "$ROOT/usr/bin/grappe-agent" update \
        --config "$U/agent.toml" >"$U/update.out" 2>&1 || status=$?
    kill "$pid" 2>/dev/null
    sed 's/^/    | /' "$U/update.out"
    return "$status"
}
installed_version() { ls "$U/state/update/versions" 2>/dev/null; }
# One `run --once` (no broker: it only has to start) as the device, pretending or not.
once() {
    env "$@" "$ROOT/usr/bin/grappe-agent" run --once --timeout 1s --config "$U/agent.toml" \
        >/dev/null 2>"$U/once.log" || true
    sed 's/^/    | /' "$U/once.log"
}
dpkg_verify() { dpkg --root="$ROOT" --verify "$PKG" >"$WORK/verify.out" 2>&1 && [ ! -s "$WORK/verify.out" ]; }

if [[ ! -x $FLEET ]]; then
    echo "FAIL - self-update: $FLEET missing (cargo build --features fleet, or set GRAPPE_FLEET)"
    failed=$((failed + 1))
elif ! command -v python3 >/dev/null || ! { [[ -f $WORK/pki/device.pem ]] || make_pki >"$WORK/pki.log" 2>&1; }; then
    echo "FAIL - self-update: needs python3 and openssl"
    failed=$((failed + 1))
else
    check "self-update of the installed package from a local HTTPS release server" self_update_block
    check "  installed under the state directory, on trial" \
        eval '[ "$(installed_version)" = "$RELEASE" ] && [ -x "$U/state/update/versions/$RELEASE/grappe-agent" ]'
    check "  dpkg --verify clean: dpkg's files untouched" dpkg_verify
    once GRAPPE_AGENT_PRETEND_VERSION=0.0.1
    check "  the packaged binary hands over to it" grep -q "handing over to grappe-agent $RELEASE" "$U/once.log"
    dpkg-deb -R "$DEB" "$WORK/later"
    sed -i "s/^Version: .*/Version: ${VERSION}+pkgtest2/" "$WORK/later/DEBIAN/control"
    dpkg-deb --root-owner-group -b "$WORK/later" "$WORK/later.deb" >/dev/null
    check "package upgrade to ${VERSION}+pkgtest2 over the self-updated agent" \
        dpkg_root --force-confdef --force-confold -i "$WORK/later.deb"
    check "  dpkg --verify clean" dpkg_verify
    once PATH="$PATH"
    check "  the package wins: it runs itself and the installed copy is removed" \
        eval '! grep -q "handing over" "$U/once.log" && [ -z "$(installed_version)" ]'
    dpkg_root --purge "$PKG" || true
fi

# --- lintian --------------------------------------------------------------------------
if command -v lintian >/dev/null; then
    check "lintian: no errors" eval 'lintian --fail-on error "$DEB" >"$WORK/lintian.out" 2>&1'
    sed 's/^/    /' "$WORK/lintian.out"
else
    echo "FAIL - lintian: not installed (apt-get install lintian)"
    failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
