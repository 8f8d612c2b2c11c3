#!/usr/bin/env bash
# The main job, on this machine, as the grappe's IT staff do it: a PKI made with
# `grappe-fleet pki` (the grappe CA, the broker, an operator, two devices), the Mosquitto
# configuration `grappe-fleet broker-config` writes (TLS only, client certificates, a
# devices' port and an operators' port, per-device ACL) run by a local Mosquitto on free
# loopback ports, one real agent cycle (`grappe-agent run --once`) with the bundle
# `pki issue-device` made, then the fleet as the IT staff see it: `grappe-fleet check`,
# `device`, `cmd` and, last, `status`. Everything it makes is removed at the end.
#
# Usage: tests/demo.sh            (as root, or with sudo available for missing packages)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

# shellcheck source=tests/local-broker.sh
source tests/local-broker.sh
lb_install_missing

step() { printf '\n== %s\n' "$*"; }

step "building grappe-agent and grappe-fleet (release)"
cargo build --release --locked --quiet --features fleet
agent="$PWD/target/release/grappe-agent"
fleet="$PWD/target/release/grappe-fleet"
"$agent" --version
"$fleet" --version

work=$(mktemp -d)
broker_pid=""
cleanup() {
  local rc=$?
  if [ -n "$broker_pid" ]; then
    kill "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ] && [ -s "$work/mosquitto.log" ]; then
    echo "demo failed (exit $rc); the end of the broker's log:" >&2
    tail -n 20 "$work/mosquitto.log" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

grappe="grappe-demo"
structure="ehpad-les-tilleuls"
device=$(cat /etc/machine-id 2>/dev/null || true)
[[ "$device" =~ ^[a-z0-9-]{1,64}$ ]] || device="demo-device"
# A second device, enrolled in another structure and never started.
other_structure="ssiad-du-canton"
other_device="tablette-02"

# Two free loopback ports: the devices' and the operators' (never 1883/8883).
port=$(lb_free_port)
oport=$(lb_free_port)
while [ "$oport" = "$port" ]; do oport=$(lb_free_port); done
pki="$work/pki"
operator="$pki/operators/it-staff"

step "the grappe's PKI in $pki (grappe-fleet pki)"
"$fleet" pki init --dir "$pki" --grappe "$grappe"
"$fleet" pki --dir "$pki" issue-server --host localhost --ip 127.0.0.1
"$fleet" pki --dir "$pki" issue-operator --name it-staff

step "the broker's configuration (grappe-fleet broker-config): devices on $port, operators on $oport"
"$fleet" broker-config --pki "$pki" --port "$port" --operator-port "$oport" \
  --bind 127.0.0.1 --out "$work/broker" --install-dir "$work/broker/grappe"

step "enrolment: device $device of $structure, $other_device of $other_structure"
"$fleet" pki --dir "$pki" issue-device --structure "$structure" --device "$device" \
  --out "$work/device"
"$fleet" pki --dir "$pki" issue-device --structure "$other_structure" \
  --device "$other_device" --out "$work/$other_device"
"$fleet" pki --dir "$pki" list

step "Mosquitto on the generated configuration, as Debian's mosquitto.conf includes it"
{
  # As root Mosquitto would drop to its own user, which cannot read the keys here.
  [ "$(id -u)" -ne 0 ] || echo "user root"
  echo "persistence false"
  echo "log_dest file $work/mosquitto.log"
  echo "include_dir $work/broker/conf.d"
} >"$work/mosquitto.conf"
mosquitto=mosquitto
command -v mosquitto >/dev/null || mosquitto=/usr/sbin/mosquitto
"$mosquitto" -c "$work/mosquitto.conf" 2>>"$work/mosquitto.log" &
broker_pid=$!
lb_wait_port "$port"
lb_wait_port "$oport"
echo "mosquitto (pid $broker_pid) listening on 127.0.0.1:$port and 127.0.0.1:$oport"

# The bundle is made for /etc/grappe-agent/ and /var/lib/grappe-agent on the device: here
# it stays where it is, and the state goes beside it.
config="$work/device/agent.toml"
sed -i -e "s|/etc/grappe-agent|$work/device|g" \
  -e "s|/var/lib/grappe-agent|$work/device/state|g" \
  -e "s|mqtts://localhost:|mqtts://127.0.0.1:|" "$config"
step "the device: grappe-agent check-config"
"$agent" check-config --config "$config"
step "the device: grappe-agent run --once"
"$agent" run --once --config "$config"

# What the IT staff see, on the operators' port with the it-staff bundle.
cat >"$work/fleet.toml" <<EOF
[fleet]
grappe = "$grappe"
pki = "$pki"

[broker]
url = "mqtts://127.0.0.1:$oport"
ca = "$operator/ca.pem"
cert = "$operator/operator.pem"
key = "$operator/operator.key"

[[structure]]
id = "$structure"
name = "EHPAD Les Tilleuls"
finess = "750000001"

[[structure]]
id = "$other_structure"
name = "SSIAD du canton"
finess = "750000002"

[[structure]]
id = "foyer-les-glycines"
name = "Foyer Les Glycines"
finess = "750000003"
EOF

step "grappe-fleet check (the monitoring tool's view)"
rc=0
"$fleet" check --config "$work/fleet.toml" || rc=$?
echo "(exit status $rc: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)"

step "grappe-fleet device $device (the first 40 lines)"
"$fleet" device --config "$work/fleet.toml" "$device" >"$work/device.txt"
head -n 40 "$work/device.txt"

step "grappe-fleet cmd ping --all (commands go only to connected devices)"
rc=0
"$fleet" cmd ping --all --timeout 5s --config "$work/fleet.toml" || rc=$?
echo "(exit status $rc: 0 only when every targeted device answered)"

step "grappe-fleet status: the fleet as the IT staff see it"
"$fleet" status --config "$work/fleet.toml"

# What the grappe leader hands the regional agency: the month's equipment annex, from the
# devices' signed usage reports, then its offline check.
month=$(date -u +%Y-%m)
cat >"$work/achats.csv" <<EOF
structure;appareil;designation;facture;date_achat
$structure;$device;Mini-PC de l'accueil;F-2026-001;2026-03-01
$other_structure;$other_device;Tablette 10 pouces;F-2026-002;2026-03-01
EOF
step "grappe-fleet proof --period $month --purchases achats.csv: the equipment annex"
"$fleet" proof --config "$work/fleet.toml" --period "$month" --purchases "$work/achats.csv" \
  --out "$work/proof"
(cd "$work/proof" && find . -type f | sort)
echo "--- equipment.csv (first lines)"
head -n 3 "$work/proof/equipment.csv"
step "grappe-fleet verify: the proof checked offline (no broker, no configuration)"
"$fleet" verify "$work/proof"
