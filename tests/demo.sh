#!/usr/bin/env bash
# The main job, on this machine: a throwaway grappe PKI, a local Mosquitto with TLS,
# client certificates and a per-device ACL (on a free loopback port), one real agent
# cycle (`grappe-agent run --once`), then the fleet as the IT staff see it: the retained
# state on the broker. Everything it makes is removed at the end.
#
# Usage: tests/demo.sh            (as root, or with sudo available for missing packages)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

# shellcheck source=tests/local-broker.sh
source tests/local-broker.sh
lb_install_missing

echo "== building grappe-agent (release)"
cargo build --release --locked --quiet
agent="$PWD/target/release/grappe-agent"
"$agent" --version

work=$(mktemp -d)
cleanup() {
  lb_stop_broker
  rm -rf "$work"
}
trap cleanup EXIT

grappe="grappe-demo"
structure="ehpad-les-tilleuls"
device=$(cat /etc/machine-id 2>/dev/null || echo demo-device)
lb_init "$work" "$grappe" "$structure"

echo "== a throwaway PKI in $work (CA, broker, device $device, operator)"
lb_pki "$device"

port=$(lb_free_port)
echo "== Mosquitto on 127.0.0.1:$port (TLS only, client certificates, per-device ACL)"
lb_start_broker "$port" "$device"

cd "$work"
lb_agent_config agent.toml "$port" "$device" "$work/state"
echo "== grappe-agent check-config"
"$agent" check-config --config agent.toml
echo "== grappe-agent run --once"
"$agent" run --once --config agent.toml

echo
echo "== what the IT staff see: the retained state under grappe/v1/$grappe/"
lb_operator_sub -t "grappe/v1/$grappe/#" -v --retained-only -W 3 >retained.txt 2>/dev/null || true
python3 - retained.txt <<'EOF'
import json, sys
devices = {}
for line in open(sys.argv[1]):
    topic, _, payload = line.partition(" ")
    parts = topic.split("/")
    if len(parts) < 6:
        continue
    key = (parts[3], parts[4])
    devices.setdefault(key, {})["/".join(parts[5:])] = json.loads(payload)
for (structure, device), t in sorted(devices.items()):
    status = t.get("status", {})
    inv = t.get("inventory", {}).get("data", {})
    pos = t.get("posture", {}).get("data", {})
    pat = t.get("patches", {}).get("data", {})
    usage = next((v["data"] for k, v in t.items() if k.startswith("usage/")), {})
    os_ = inv.get("os") or {}
    board = inv.get("board") or {}
    print(f"structure {structure}  device {device}")
    print(f"  status      {status.get('state')} since {status.get('since')} (agent {status.get('agent_version')})")
    print(f"  system      {os_.get('pretty_name')}, kernel {inv.get('kernel')}, {inv.get('arch')}, "
          f"{(inv.get('memory_bytes') or 0) // 2**20} MiB RAM, {(inv.get('packages') or {}).get('count')} packages")
    print(f"  board       {board.get('vendor') or '-'} {board.get('model') or '-'}, serial {board.get('serial') or '-'}")
    checks = pos.get("checks", [])
    failing = [c for c in checks if c["status"] == "fail"]
    print(f"  posture     score {pos.get('score')}/100, {len(checks)} checks, {len(failing)} failing:")
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    for c in sorted(failing, key=lambda c: order.get(c["severity"], 9)):
        print(f"    - [{c['severity']}] {c['title']}: {c['evidence'][:90]}")
    upgradable = pat.get("upgradable")
    if upgradable is None:
        pending = "pending upgrades unknown (" + "; ".join(p["file"] + ": " + p["error"] for p in pat.get("problems", []))[:120] + ")"
    else:
        pending = f"{pat.get('upgradable_count')} upgrades pending, {pat.get('security_count')} of them security fixes"
    print(f"  patches     {pending}")
    security = [u for u in (upgradable or []) if u["security"]]
    for u in security[:5]:
        print(f"    - {u['name']} {u['installed']} -> {u['candidate']} (security)")
    if len(security) > 5:
        print(f"    - ... and {len(security) - 5} more security fixes")
    print(f"              reboot required {pat.get('reboot_required')}, automatic updates {pat.get('auto_updates_enabled')}, "
          f"end of life {pat.get('os_end_of_life')}, lists {pat.get('package_lists_age_s')} s old")
    print(f"  usage       {usage.get('period')}: {usage.get('days_on')} day(s) on, {usage.get('days_active')} active")
EOF
echo
echo "(raw retained messages: $(wc -l <retained.txt) topics; the broker and PKI are removed now)"
