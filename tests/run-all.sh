#!/usr/bin/env bash
# Every test, as CI runs them, on a plain Debian 12 host (as root; it installs what is
# missing: mosquitto, the ARM cross toolchain, qemu-user, cargo-deb, lintian):
#   1. the host suite: unit tests, then end-to-end tests against real Mosquitto brokers;
#   2. the amd64 release build and its Debian package, installed into throwaway roots;
#   3. aarch64: release build and package, then the whole suite under qemu-user;
#   4. armv7 (32 bits): release build and package, then the unit tests under qemu-user.
# About 10 minutes on 2 cores once the crates are downloaded. For a quick run during
# development, `cargo test --features fleet` alone is step 1.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==== %s\n' "$*"; }

step "host tests (cargo test --locked --features fleet)"
cargo test --locked --features fleet

step "x86_64 release build and Debian package"
cross/build.sh x86_64-unknown-linux-gnu
step "package test (install, upgrade, remove, purge in throwaway roots)"
tests/package.sh target/x86_64-unknown-linux-gnu/debian/grappe-agent_*_amd64.deb

step "aarch64: release build, package, whole suite under qemu"
cross/build.sh aarch64-unknown-linux-gnu
cross/test.sh aarch64-unknown-linux-gnu

step "armv7 (32 bits): release build, package, unit tests under qemu"
cross/build.sh armv7-unknown-linux-gnueabihf
cross/test.sh armv7-unknown-linux-gnueabihf --unit
