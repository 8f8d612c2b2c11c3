#!/usr/bin/env bash
# Builds the release binary for one target, then its Debian package when the packaging
# metadata is in Cargo.toml. Works on a plain Debian 12 host as root, without Docker;
# installs the toolchain it needs when missing (see cross/common.sh).
#
#   cross/build.sh TARGET     TARGET: x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu,
#                             armv7-unknown-linux-gnueabihf
#
# Output: target/TARGET/release/grappe-agent and target/TARGET/debian/*.deb.
# With Docker, cross-rs can be used instead: see cross/Cross.toml.
set -euo pipefail
# shellcheck source=cross/common.sh
. "$(dirname "$0")/common.sh"

[ $# -eq 1 ] || die "usage: $0 TARGET (one of: $TARGETS)"
setup_target "$1"

say "building the release binary for $TARGET"
timed "${CARGO[@]}" build --locked --release --target "$TARGET" --bin grappe-agent
bin="target/$TARGET/release/grappe-agent"
[ -x "$bin" ] || die "$bin was not produced"

# The binary must at least start on its target (under qemu-user for ARM).
# shellcheck disable=SC2086 # RUNNER is a command line: split on purpose
say "smoke test: $($RUNNER "$bin" --version)"

# The profile strips already; measure a stripped copy anyway, so that the figure stays
# the stripped size whatever the profile says.
strip_tool=${GNU:+$GNU-}strip
stripped=$(mktemp)
trap 'rm -f "$stripped"' EXIT
"$strip_tool" -o "$stripped" "$bin"
size=$(stat -c %s "$stripped")
say "$bin: stripped size $size bytes ($(awk -v b="$size" 'BEGIN { printf "%.2f", b / 1048576 }') MiB)"

# The Debian package: only once the packaging metadata exists.
if ! grep -q '^\[package\.metadata\.deb\]' Cargo.toml; then
  say "no [package.metadata.deb] in Cargo.toml yet: skipping the Debian package"
  exit 0
fi
# cargo-deb is a host tool: built and run with the host's cargo (rustup's when present).
host_cargo=$(command -v cargo || echo /usr/bin/cargo)
if ! "$host_cargo" deb --version >/dev/null 2>&1; then
  say "installing cargo-deb"
  timed "$host_cargo" install cargo-deb --locked
fi
# --no-build: package the binary built above rather than building again (cargo-deb would
# do it with the host's cargo, which cannot build the ARM std here).
# --no-strip: the release profile strips already, and cargo-deb would want the target's
# strip tool configured for cross targets.
say "building the Debian package"
timed "$host_cargo" deb --no-build --no-strip --target "$TARGET" --output "target/$TARGET/debian/"
ls -l "target/$TARGET/debian/"
