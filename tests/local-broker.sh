# shellcheck shell=bash
# A throwaway grappe on this machine, shared by tests/demo.sh and benches/footprint.sh:
# a PKI made with openssl (CA, broker certificate, one client certificate per device, an
# operator certificate) and a Mosquitto with TLS only, client certificates and a
# per-device ACL, listening on a free loopback port (never the system broker on 1883).
#
# Source it, then:
#   lb_install_missing                          # mosquitto, mosquitto-clients, openssl, python3
#   lb_init DIR GRAPPE STRUCTURE                # where the files go, the topic levels
#   lb_pki DEVICE...                            # DIR/ca.pem, broker.*, operator.*, operator-cmd.*, device-ID.*
#   port=$(lb_free_port)
#   lb_start_broker PORT DEVICE...              # sets LB_BROKER_PID; waits for the port
#   lb_agent_config FILE PORT DEVICE STATE_DIR [BROKER_LINES] [SCHEDULE_LINES]
#   lb_operator_sub ARGS... / lb_operator_pub ARGS...   # mosquitto_sub/pub as the operator
#   lb_stop_broker                              # for the caller's EXIT trap
# The caller owns DIR (and removes it).

LB_DIR=""
LB_GRAPPE=""
LB_STRUCTURE=""
LB_PORT=""
LB_BROKER_PID=""

# Installs what is missing, as tests/demo.sh always did (root, or sudo).
lb_install_missing() {
  local need=()
  [ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || need+=(mosquitto)
  command -v mosquitto_sub >/dev/null || need+=(mosquitto-clients)
  command -v openssl >/dev/null || need+=(openssl)
  command -v python3 >/dev/null || need+=(python3)
  if [ ${#need[@]} -gt 0 ]; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${need[@]}"
  fi
}

lb_init() { # DIR GRAPPE STRUCTURE
  LB_DIR=$1
  LB_GRAPPE=$2
  LB_STRUCTURE=$3
}

_lb_ossl() { openssl "$@" 2>/dev/null; }

# A P-256 key and a certificate signed by the CA: name, common name, extensions.
_lb_issue() {
  local name=$LB_DIR/$1
  _lb_ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
    -keyout "$name.key" -out "$name.csr"
  printf '%s\n' "$3" >"$name.ext"
  _lb_ossl x509 -req -in "$name.csr" -CA "$LB_DIR/ca.pem" -CAkey "$LB_DIR/ca.key" \
    -CAcreateserial -days 2 -extfile "$name.ext" -out "$name.pem"
}

# The CA, the broker's certificate (localhost, 127.0.0.1), the operator's (CN operator-it)
# and one client certificate per device, whose CN is the device id (the broker uses it as
# the user name for the ACL).
lb_pki() { # DEVICE...
  _lb_ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$LB_GRAPPE CA" -keyout "$LB_DIR/ca.key" -out "$LB_DIR/ca.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
  _lb_issue broker localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
  local device
  for device in "$@"; do
    _lb_issue "device-$device" "$device" "extendedKeyUsage=clientAuth"
  done
  _lb_issue operator operator-it "extendedKeyUsage=clientAuth"
  # The broker names clients after their certificate (use_username_as_clientid): a
  # subscriber and a publisher running at once need one certificate each.
  _lb_issue operator-cmd operator-cmd "extendedKeyUsage=clientAuth"
}

# A port nobody listens on now (the kernel picks it; tiny race, fine for a test).
lb_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

lb_wait_port() { # PORT: up to 5 s
  local _
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}

# Mosquitto on 127.0.0.1:PORT: TLS only, client certificate required, CN = user name; the
# operator reads everything and writes commands; each device writes only under its own
# topic and reads only its own commands. Logs to DIR/mosquitto.log.
lb_start_broker() { # PORT DEVICE...
  LB_PORT=$1
  shift
  {
    echo "user operator-it"
    echo "topic read grappe/#"
    echo "topic write grappe/v1/+/+/+/cmd/#"
    echo
    echo "user operator-cmd"
    echo "topic write grappe/v1/+/+/+/cmd/#"
    local device
    for device in "$@"; do
      echo
      echo "user $device"
      echo "topic write grappe/v1/$LB_GRAPPE/$LB_STRUCTURE/$device/#"
      echo "topic read grappe/v1/$LB_GRAPPE/$LB_STRUCTURE/$device/cmd/#"
    done
  } >"$LB_DIR/acl"
  local user_line=""
  [ "$(id -u)" -eq 0 ] && user_line="user root"
  cat >"$LB_DIR/mosquitto.conf" <<EOF
$user_line
per_listener_settings false
allow_anonymous false
persistence false
log_dest file $LB_DIR/mosquitto.log
listener $LB_PORT 127.0.0.1
cafile $LB_DIR/ca.pem
certfile $LB_DIR/broker.pem
keyfile $LB_DIR/broker.key
require_certificate true
use_identity_as_username true
use_username_as_clientid true
acl_file $LB_DIR/acl
EOF
  local mosquitto=mosquitto
  command -v mosquitto >/dev/null || mosquitto=/usr/sbin/mosquitto
  "$mosquitto" -c "$LB_DIR/mosquitto.conf" 2>>"$LB_DIR/mosquitto.log" &
  LB_BROKER_PID=$!
  lb_wait_port "$LB_PORT"
}

lb_stop_broker() {
  if [ -n "$LB_BROKER_PID" ]; then
    kill "$LB_BROKER_PID" 2>/dev/null || true
    wait "$LB_BROKER_PID" 2>/dev/null || true
    LB_BROKER_PID=""
  fi
}

# An agent.toml for DEVICE connecting to 127.0.0.1:PORT (the broker, or a proxy in front of
# it). BROKER_LINES are added to [broker] (e.g. keep_alive = "10s"), SCHEDULE_LINES make a
# [schedule] section; without them the defaults apply.
lb_agent_config() { # FILE PORT DEVICE STATE_DIR [BROKER_LINES] [SCHEDULE_LINES]
  local file=$1 port=$2 device=$3 state=$4 broker_lines=${5:-} schedule_lines=${6:-}
  cat >"$file" <<EOF
[identity]
grappe = "$LB_GRAPPE"
structure = "$LB_STRUCTURE"
device = "$device"

[broker]
url = "mqtts://127.0.0.1:$port"
ca = "$LB_DIR/ca.pem"
cert = "$LB_DIR/device-$device.pem"
key = "$LB_DIR/device-$device.key"
$broker_lines

[spool]
dir = "$state/spool"

[state]
dir = "$state"
EOF
  if [ -n "$schedule_lines" ]; then
    printf '\n[schedule]\n%s\n' "$schedule_lines" >>"$file"
  fi
}

# mosquitto_sub / mosquitto_pub against the local broker, as the operator.
lb_operator_sub() {
  mosquitto_sub -h 127.0.0.1 -p "$LB_PORT" --cafile "$LB_DIR/ca.pem" \
    --cert "$LB_DIR/operator.pem" --key "$LB_DIR/operator.key" "$@"
}
lb_operator_pub() {
  mosquitto_pub -h 127.0.0.1 -p "$LB_PORT" --cafile "$LB_DIR/ca.pem" \
    --cert "$LB_DIR/operator-cmd.pem" --key "$LB_DIR/operator-cmd.key" "$@"
}
