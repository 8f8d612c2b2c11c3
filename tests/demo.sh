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

need=()
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || need+=(mosquitto)
command -v mosquitto_sub >/dev/null || need+=(mosquitto-clients)
command -v openssl >/dev/null || need+=(openssl)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${need[@]}"
fi

echo "== building grappe-agent (release)"
cargo build --release --locked --quiet
agent="$PWD/target/release/grappe-agent"
"$agent" --version

work=$(mktemp -d)
broker_pid=""
cleanup() {
  [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

grappe="grappe-demo"
structure="ehpad-les-tilleuls"
device=$(cat /etc/machine-id 2>/dev/null || echo demo-device)

echo "== a throwaway PKI in $work (CA, broker, device $device, operator)"
cd "$work"
ossl() { openssl "$@" 2>/dev/null; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=$grappe CA" -keyout ca.key -out ca.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
issue() { # name cn extensions
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" -keyout "$1.key" -out "$1.csr"
  printf '%s\n' "$3" >"$1.ext"
  ossl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.pem"
}
issue broker localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
issue device "$device" "extendedKeyUsage=clientAuth"
issue operator operator-it "extendedKeyUsage=clientAuth"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "== Mosquitto on 127.0.0.1:$port (TLS only, client certificates, per-device ACL)"
cat >acl <<EOF
user operator-it
topic read grappe/#
topic write grappe/v1/+/+/+/cmd/#

user $device
topic write grappe/v1/$grappe/$structure/$device/#
topic read grappe/v1/$grappe/$structure/$device/cmd/#
EOF
user_line=""; [ "$(id -u)" -eq 0 ] && user_line="user root"
cat >mosquitto.conf <<EOF
$user_line
per_listener_settings false
allow_anonymous false
persistence false
log_dest file $work/mosquitto.log
listener $port 127.0.0.1
cafile $work/ca.pem
certfile $work/broker.pem
keyfile $work/broker.key
require_certificate true
use_identity_as_username true
acl_file $work/acl
EOF
mosquitto -c mosquitto.conf 2>>mosquitto.log &
broker_pid=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

cat >agent.toml <<EOF
[identity]
grappe = "$grappe"
structure = "$structure"
device = "$device"

[broker]
url = "mqtts://127.0.0.1:$port"
ca = "$work/ca.pem"
cert = "$work/device.pem"
key = "$work/device.key"

[spool]
dir = "$work/state/spool"

[state]
dir = "$work/state"
EOF
echo "== grappe-agent check-config"
"$agent" check-config --config agent.toml
echo "== grappe-agent run --once"
"$agent" run --once --config agent.toml

echo
echo "== what the IT staff see: the retained state under grappe/v1/$grappe/"
mosquitto_sub -h 127.0.0.1 -p "$port" --cafile ca.pem --cert operator.pem --key operator.key \
  -t "grappe/v1/$grappe/#" -v --retained-only -W 3 >retained.txt 2>/dev/null || true
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
    print(f"  patches     reboot required {pat.get('reboot_required')}, automatic updates {pat.get('auto_updates_enabled')}, "
          f"end of life {pat.get('os_end_of_life')}, lists {pat.get('package_lists_age_s')} s old")
    print(f"  usage       {usage.get('period')}: {usage.get('days_on')} day(s) on, {usage.get('days_active')} active")
EOF
echo
echo "(raw retained messages: $(wc -l <retained.txt) topics; the broker and PKI are removed now)"
