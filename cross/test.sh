#!/usr/bin/env bash
# Builds and runs the test suite for one target; ARM test binaries run under qemu-user
# (the `runner` of cross/cargo-config.toml). Debug build: what is tested is the code on
# that architecture (integer widths, struct layouts, atomics), not the optimiser.
#
#   cross/test.sh TARGET [--unit]
#
# Default: the whole suite (unit tests and the end-to-end tests of tests/, which start
# their own Mosquitto). --unit: only the library's unit tests (used for armv7, where the
# end-to-end tests would double the time under emulation for little more coverage).
set -euo pipefail
# shellcheck source=cross/common.sh
. "$(dirname "$0")/common.sh"

usage="usage: $0 TARGET [--unit] (TARGET one of: $TARGETS)"
if [ $# -lt 1 ] || [ $# -gt 2 ]; then die "$usage"; fi
scope=(--lib --tests)
if [ $# -eq 2 ]; then
  [ "$2" = --unit ] || die "$usage"
  scope=(--lib)
fi
setup_target "$1"

# What the end-to-end tests start besides the agent. Mosquitto and the host tools run
# natively, even from a test running under qemu-user.
need=()
if [ ${#scope[@]} -eq 2 ]; then
  command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
  command -v openssl >/dev/null || need+=(openssl)
fi
command -v dpkg-query >/dev/null || need+=(dpkg)
[ ${#need[@]} -eq 0 ] || apt_install_missing "${need[@]}"
export PATH="$PATH:/usr/sbin:/sbin"

# Without binfmt_misc a foreign binary cannot be exec'd, not even from an emulated test:
# the tests prefix the agent (and a test re-running its own binary) with this emulator.
export GRAPPE_TEST_RUNNER="$RUNNER"

say "building the tests for $TARGET"
timed "${CARGO[@]}" test --locked --target "$TARGET" "${scope[@]}" --no-run
say "running the tests for $TARGET${RUNNER:+ under $RUNNER}"
timed "${CARGO[@]}" test --locked --target "$TARGET" "${scope[@]}"
