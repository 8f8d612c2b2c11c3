# shellcheck shell=bash disable=SC2034 # TARGET, CARGO, RUNNER, GNU: for the scripts sourcing this
# Shared by cross/build.sh and cross/test.sh (sourced, not run): checks the target, installs
# the toolchain it needs when missing, and sets up the cargo command for it.
#
# After `setup_target TARGET`:
#   CARGO    array: the cargo command line to run, up to (not including) the subcommand
#   RUNNER   the emulator prefix for the target's binaries ("" on x86_64), as in
#            cross/cargo-config.toml
#   GNU      the GNU triple of the target's binutils (aarch64-linux-gnu, ...), "" natively
#
# x86_64 is built natively with the cargo on PATH (rustup's). The ARM targets are built
# with Debian's own compiler, because rustup cannot download a target's std on these
# machines: Debian's rustc-web ships the std sources (rust-web-src), so the target's std is
# built from source with -Zbuild-std. That flag is unstable, hence RUSTC_BOOTSTRAP=1.

# The repository's top level, whichever directory the script was started from.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGETS="x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf"

say() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Installs the given Debian packages that are not installed yet (idempotent).
apt_install_missing() {
  local missing=() pkg
  for pkg in "$@"; do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing packages ${missing[*]}; install them as root (apt-get install ${missing[*]})"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # One failing index (an armhf mirror "sync in progress") must not stop installs from the
  # others: apt-get update's status is ignored, apt-get install's is not.
  apt-get update || say "apt-get update reported errors; installing anyway"
  apt-get install -y --no-install-recommends "${missing[@]}"
}

# Debian's compiler, cargo and std sources must be the same release, or build-std fails
# in confusing ways: when they differ, all three are installed again together.
debian_rust() {
  local pkgs=(rustc-web cargo-web rust-web-src) versions
  apt_install_missing "${pkgs[@]}"
  versions=$(dpkg-query -W -f='${Version}\n' "${pkgs[@]}" | sort -u | wc -l)
  if [ "$versions" -ne 1 ]; then
    say "rustc-web, cargo-web and rust-web-src differ in version; aligning them"
    apt-get install -y --no-install-recommends "${pkgs[@]}"
  fi
}

setup_target() {
  TARGET=$1
  case " $TARGETS " in
    *" $TARGET "*) ;;
    *) die "unknown target '$TARGET' (one of: $TARGETS)" ;;
  esac
  cd "$REPO" || exit
  case "$TARGET" in
    x86_64-unknown-linux-gnu)
      GNU=""
      RUNNER=""
      if command -v cargo >/dev/null; then
        CARGO=(cargo)
      else
        # No rustup: Debian's compiler carries its own x86_64 std, no build-std needed.
        debian_rust
        export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
        CARGO=(/usr/bin/cargo)
      fi
      ;;
    aarch64-unknown-linux-gnu | armv7-unknown-linux-gnueabihf)
      if [ "$TARGET" = aarch64-unknown-linux-gnu ]; then
        GNU=aarch64-linux-gnu
        RUNNER="qemu-aarch64 -L /usr/$GNU"
        apt_install_missing gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
      else
        GNU=arm-linux-gnueabihf
        RUNNER="qemu-arm -L /usr/$GNU"
        apt_install_missing gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user
      fi
      debian_rust
      # Debian's tools explicitly: rustup's proxies come first on PATH.
      export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
      # std comes with panic_unwind, which the release profile uses (panic = "unwind");
      # panic_abort is built too so that a build with panic=abort links as well.
      # The linker and qemu runner for each target come from cross/cargo-config.toml.
      CARGO=(/usr/bin/cargo --config "$REPO/cross/cargo-config.toml" "-Zbuild-std=std,panic_abort")
      ;;
  esac
  say "$TARGET: $("${CARGO[@]}" --version), $("${RUSTC:-rustc}" --version)"
}

# Runs a command and says how long it took (wall time, for the CI budget).
timed() {
  local start=$SECONDS
  "$@"
  say "took $((SECONDS - start)) s: $*"
}
