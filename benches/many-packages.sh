#!/usr/bin/env bash
# Memory with very many packages: the agent's reports on a system root with 200,000
# installed packages (a 95 MB dpkg status, a 100 MB package list), beside apt and
# dpkg-query reading the same root, in the same run. Prints figures, asserts nothing.
#
#   benches/many-packages.sh                        # ~1 minute after the release build
#   MANY_PACKAGES=50000 MANY_RUNS=5 benches/many-packages.sh
#
# The agent streams dpkg's status and apt's lists: what it keeps is a few hundred bytes
# per installed package (name, versions, where each comes from), never a file's text.
# apt is measured with its binary cache rebuilt (after `apt update` or an install, what
# the agent's cold run matches) and warm; dpkg-query lists the packages, as the
# inventory report does. Each run is started by benches/rusage.c (wait4: wall, CPU, peak
# RSS); the table gives medians and the peak.
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE RUST_LIB_BACKTRACE RUST_LOG
packages=${MANY_PACKAGES:-200000}
runs=${MANY_RUNS:-3}

for tool in apt dpkg-query python3 cc; do
  command -v "$tool" >/dev/null || { echo "many-packages.sh needs $tool" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/rusage" benches/rusage.c
cargo build --release --locked --quiet
agent=$PWD/target/release/grappe-agent
root=$work/root
python3 benches/many_packages.py "$root" "$packages"
export LC_ALL=C.UTF-8 APT_CONFIG=$root/apt-test.conf

timed() {
  local name=$1
  shift
  "$work/rusage" "$work/$name.txt" "$@" >/dev/null 2>&1
}

round() {
  timed "agent patches" "$agent" collect --only patches --root "$root"
  timed "agent inventory" "$agent" collect --only inventory --root "$root"
  timed "agent posture" "$agent" collect --only posture --root "$root"
  rm -f "$root"/cache/*.bin
  timed "apt list --upgradable, cache rebuilt" apt list --upgradable
  timed "apt list --upgradable, warm cache" apt list --upgradable
  timed "dpkg-query -W" dpkg-query --admindir="$root/var/lib/dpkg" -W
}

report() {
  sort -n -k1 "$work/$1.txt" | awk -v name="$1" '
    { wall[NR] = $1; cpu[NR] = $2 + $3; if ($4 > rss) rss = $4; if ($5 != 0) bad++ }
    END {
      m = int((NR + 1) / 2); asort(cpu)
      printf "%-38s %9.0f %9.0f %9.1f%s\n", name, wall[m] / 1000, cpu[m] / 1000, rss / 1024,
        (bad ? "   (" bad " runs exited non-zero)" : "")
    }'
}

echo "many packages benchmark, $(date -u +%FT%TZ), $runs runs each, on $(uname -m)"
echo "root: $packages installed packages; dpkg status $(($(stat -c %s "$root/var/lib/dpkg/status") / 1024 / 1024)) MiB," \
  "list $(($(stat -c %s "$root"/var/lib/apt/lists/*_Packages) / 1024 / 1024)) MiB"
apt_count=$(apt list --upgradable 2>/dev/null | grep -c 'upgradable from' || true)
agent_count=$("$agent" collect --only patches --root "$root" | python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; print(d["upgradable_count"], "upgradable; automatic updates:", d["auto_updates_enabled"])')
inventory=$("$agent" collect --only inventory --root "$root" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["packages"]["count"])')
echo "apt: $apt_count upgradable; agent: $agent_count; inventory: $inventory packages, dpkg-query: $(dpkg-query --admindir="$root/var/lib/dpkg" -W | wc -l)"
echo
printf "%-38s %9s %9s %9s\n" "" "wall ms" "CPU ms" "RSS MiB"
printf "%-38s %9s %9s %9s\n" "" "(median)" "(median)" "(peak)"
round # untimed: page cache warm for all
rm -f "$work"/*.txt
for ((i = 0; i < runs; i++)); do round; done
for name in "agent patches" "agent inventory" "agent posture" \
  "apt list --upgradable, cache rebuilt" "apt list --upgradable, warm cache" "dpkg-query -W"; do
  report "$name"
done
