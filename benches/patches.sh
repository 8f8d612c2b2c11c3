#!/usr/bin/env bash
# Patch status benchmark: the agent's native computation of the upgradable packages beside
# apt, on this machine's own apt state, in the same run. Prints figures, asserts nothing.
#
#   benches/patches.sh                    # ~1 minute after the release build
#   PATCHES_RUNS=30 benches/patches.sh    # runs of each command (default 15)
#
# Two states:
#  - cold: apt's lists or dpkg's status changed since the last computation (after
#    `apt update` or an install). The agent has no valid memo and reads everything;
#    apt rebuilds its binary caches (pkgcache.bin, srcpkgcache.bin).
#  - steady: nothing changed since the last report (the usual case, hours between two
#    `apt update`s). The agent answers from its memo (`--state-dir`); apt maps its warm
#    binary cache, as on a stock Debian device.
# apt is measured twice: as configured on this machine (whose apt.conf.d disables the
# binary cache, `Dir::Cache::pkgcache ""`: it rebuilds it on every call, so cold and
# steady cost the same) and as on a stock device, with its cache in a directory of this
# run (`-o Dir::Cache::pkgcache=... -o Dir::Cache::srcpkgcache=...`), warmed by one
# untimed run for the steady state and removed before each cold run. `apt-get -s upgrade`
# is printed too. One untimed round first warms the page cache for all; then each round
# runs every case once, so that the agent and apt are measured side by side throughout.
#
# Each run is started by benches/rusage.c and measured with wait4(): wall time, CPU time
# (user + sys, children included) and peak RSS. Targets from the issue, against apt with
# its warm binary cache: cold at least 2 times faster, steady at least 10 times faster,
# peak RSS at most 8 MiB in both states.
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE RUST_LIB_BACKTRACE RUST_LOG
runs=${PATCHES_RUNS:-15}

command -v apt >/dev/null || { echo "patches.sh compares against apt: run it on a Debian-family system" >&2; exit 1; }
command -v cc >/dev/null || { echo "patches.sh needs a C compiler (cc) for its rusage helper" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/rusage" benches/rusage.c
cargo build --release --locked --quiet
agent=$PWD/target/release/grappe-agent
state=$work/state
cache=$work/aptcache
mkdir -p "$state" "$cache"
apt_cache=(-o "Dir::Cache::pkgcache=$cache/pkgcache.bin" -o "Dir::Cache::srcpkgcache=$cache/srcpkgcache.bin")
export LC_ALL=C.UTF-8

# One timed run of a case: `timed NAME COMMAND...` appends a line to NAME's figures.
timed() {
  local name=$1
  shift
  "$work/rusage" "$work/$name.txt" "$@" >/dev/null 2>&1
}

drop_memo() { rm -f "$state/patches-memo.json"; }
drop_apt_cache() { rm -f "$cache/pkgcache.bin" "$cache/srcpkgcache.bin"; }

# One round: every case once, each cold case followed by its steady one (the cold run
# leaves the memo or the binary cache that the steady run then uses). Rounds interleave
# the agent and apt, so that a busy spell on a shared machine slows both, not one.
round() {
  drop_memo
  timed "agent cold" "$agent" collect --only patches --state-dir "$state"
  timed "agent steady (memo)" "$agent" collect --only patches --state-dir "$state"
  drop_apt_cache
  timed "apt list, cache rebuilt" apt list --upgradable "${apt_cache[@]}"
  timed "apt list, warm binary cache" apt list --upgradable "${apt_cache[@]}"
  timed "apt list, as configured here" apt list --upgradable
  drop_apt_cache
  timed "apt-get -s upgrade, cache rebuilt" apt-get -s upgrade "${apt_cache[@]}"
  timed "apt-get -s upgrade, warm cache" apt-get -s upgrade "${apt_cache[@]}"
}

# Median wall and CPU time and peak RSS of a case, as a table row and in summary.tsv.
report() {
  local name=$1
  # wall_us utime_us stime_us maxrss_kib status
  sort -n -k1 "$work/$name.txt" | awk -v name="$name" -v tsv="$work/summary.tsv" '
    { wall[NR] = $1; cpu[NR] = $2 + $3; if ($4 > rss) rss = $4; if ($5 != 0) bad++ }
    END {
      m = int((NR + 1) / 2); asort(cpu)
      printf "%-34s %9.1f %9.1f %9.1f %9.1f%s\n", name, wall[m] / 1000, wall[NR] / 1000,
        cpu[m] / 1000, rss / 1024, (bad ? "   (" bad " runs exited non-zero)" : "")
      printf "%s\t%f\t%f\t%f\n", name, wall[m] / 1000, cpu[m] / 1000, rss / 1024 >> tsv
    }'
}

echo "patch status benchmark, $(date -u +%FT%TZ), $runs runs each, on $(uname -m)"
lists=$(du -cb /var/lib/apt/lists/*_Packages* 2>/dev/null | tail -1 | cut -f1)
echo "apt lists: $(ls /var/lib/apt/lists/*_Packages* 2>/dev/null | wc -l) files, $((lists / 1024 / 1024)) MiB on disk; dpkg status $(($(stat -c %s /var/lib/dpkg/status) / 1024)) KiB"
upgradable_apt=$(apt list --upgradable 2>/dev/null | grep -c 'upgradable from' || true)
upgradable_agent=$("$agent" collect --only patches | python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; print(d["upgradable_count"], "upgradable,", d["security_count"], "security")')
echo "apt list --upgradable: $upgradable_apt upgradable; agent: $upgradable_agent"
echo
printf "%-34s %9s %9s %9s %9s\n" "" "wall ms" "max ms" "CPU ms" "RSS MiB"
printf "%-34s %9s %9s %9s %9s\n" "" "(median)" "" "(median)" "(peak)"
round # untimed: page cache and caches warm for all
# The memo is only kept for files older than 3 s: on a machine whose lists were just
# updated, wait before running this.
[ -f "$state/patches-memo.json" ] || echo "   (no memo kept: apt's files changed less than 3 s ago; steady figures are cold ones)"
rm -f "$work"/*.txt
for ((i = 0; i < runs; i++)); do round; done
echo "-- cold (lists or status changed)"
report "agent cold"
report "apt list, cache rebuilt"
report "apt list, as configured here"
report "apt-get -s upgrade, cache rebuilt"
echo "-- steady (nothing changed)"
report "agent steady (memo)"
report "apt list, warm binary cache"
report "apt-get -s upgrade, warm cache"
echo
awk -F '\t' '
  { wall[$1] = $2; rss[$1] = $4 }
  END {
    warm = wall["apt list, warm binary cache"]
    printf "agent cold:   %.1fx faster than apt with its warm binary cache (wall; target >= 2x)\n", warm / wall["agent cold"]
    printf "agent steady: %.1fx faster than apt with its warm binary cache (wall; target >= 10x)\n", warm / wall["agent steady (memo)"]
    printf "agent peak RSS: cold %.1f MiB, steady %.1f MiB (target <= 8 MiB); apt: %.1f MiB\n",
      rss["agent cold"], rss["agent steady (memo)"], rss["apt list, warm binary cache"]
  }' "$work/summary.tsv"
