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
# Under qemu-user (Debian 12's 7.2), a process that forks while another of its emulated
# threads is busy can leave the child stuck on a lock before it reaches exec (seen here: a
# test spawning perl hung for good, its child parked in futex_wait). One test at a time
# keeps the other threads idle when a test starts a process; it costs little (the whole
# aarch64 suite runs in about two minutes). Should the emulator still hang, the run is
# stopped after 15 minutes and tried once more, saying so: the tests have already passed
# natively by then, and a second hang fails the build.
run_tests() {
  if [ -z "$RUNNER" ]; then
    "${CARGO[@]}" test --locked --target "$TARGET" "${scope[@]}"
    return
  fi
  local attempt status
  for attempt in 1 2; do
    status=0
    timeout --kill-after=30 900 "${CARGO[@]}" test --locked --target "$TARGET" "${scope[@]}" \
      -- --test-threads=1 || status=$?
    if [ "$status" -ne 124 ] && [ "$status" -ne 137 ]; then
      return "$status"
    fi
    say "the tests under $RUNNER did not finish in 15 minutes (qemu-user fork hang?; attempt $attempt of 2)"
  done
  return "$status"
}
say "running the tests for $TARGET${RUNNER:+ under $RUNNER}"
timed run_tests
