//! A fleet simulator: the retained state of N devices (status, inventory, posture, patches,
//! the month's usage) on a real Mosquitto, made from the reports the real agent collects
//! on this machine, with some devices offline, missing, unsafe or unpatched. It returns
//! the truth, so that what `grappe-fleet status` says can be checked device by device.
//!
//! The broker has two loopback listeners: a plain one where the simulator publishes (it
//! plays every device at once, which no ACL would allow), and a TLS one with client
//! certificates where grappe-fleet reads as an operator, as in production.

use super::pki::Pki;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

pub const GRAPPE: &str = "grappe-sim";

/// What the simulated fleet is, for the assertions.
#[derive(Debug, Default)]
pub struct Truth {
    pub devices: usize,
    pub topics: usize,
    pub bytes: usize,
    /// Offline, seen within the last hour (connection lost).
    pub offline: BTreeSet<String>,
    /// No sign of life for five days.
    pub missing: BTreeSet<String>,
    /// A failing critical check (a second UID-0 account).
    pub unsafe_: BTreeSet<String>,
    /// Security updates pending.
    pub unpatched: BTreeSet<String>,
}

pub struct SimBroker {
    child: Child,
    pub plain_port: u16,
    pub tls_port: u16,
    pub fleet_toml: PathBuf,
    /// The grappe CA and the operator's certificate and key, for other readers.
    pub ca: PathBuf,
    pub operator: super::pki::Pair,
    log: PathBuf,
}

impl SimBroker {
    pub fn start(dir: &Path) -> SimBroker {
        let pki = Pki::new(dir, "sim-ca");
        let server = pki.server("broker");
        let operator = pki.client("operator-sim");
        let log = dir.join("sim-mosquitto.log");
        let user = if unsafe { libc::geteuid() } == 0 {
            "user root\n"
        } else {
            ""
        };
        for _ in 0..5 {
            let (plain_port, tls_port) = (super::free_port(), super::free_port());
            let conf = dir.join("sim-mosquitto.conf");
            std::fs::write(
                &conf,
                format!(
                    "{user}persistence false\nlog_dest file {}\nlog_type error\nlog_type warning\n\
                     allow_anonymous true\n{}\n\
                     listener {plain_port} 127.0.0.1\n\
                     listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n\
                     require_certificate true\nuse_identity_as_username true\n",
                    log.display(),
                    // As broker-config writes it: without, most of a large burst is lost.
                    format_args!(
                        "max_queued_messages {}",
                        grappe_agent::fleet::broker_config::MAX_QUEUED_MESSAGES
                    ),
                    pki.ca_file("sim-ca").display(),
                    server.cert.display(),
                    server.key.display(),
                ),
            )
            .unwrap();
            let child = Command::new("mosquitto")
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("mosquitto is installed");
            let fleet_toml = dir.join("sim-fleet.toml");
            std::fs::write(
                &fleet_toml,
                format!(
                    "[fleet]\ngrappe = \"{GRAPPE}\"\n[broker]\nurl = \"mqtts://localhost:{tls_port}\"\n\
                     ca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
                    pki.ca_file("sim-ca").display(),
                    operator.cert.display(),
                    operator.key.display()
                ),
            )
            .unwrap();
            let mut broker = SimBroker {
                child,
                plain_port,
                tls_port,
                fleet_toml,
                ca: pki.ca_file("sim-ca"),
                operator: super::pki::Pair {
                    cert: operator.cert.clone(),
                    key: operator.key.clone(),
                },
                log: log.clone(),
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                let up = |p| std::net::TcpStream::connect(("127.0.0.1", p)).is_ok();
                if up(plain_port) && up(tls_port) {
                    return broker;
                }
                if let Ok(Some(_)) = broker.child.try_wait() {
                    break; // a port was taken: try others
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!(
            "mosquitto did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// The broker's resident memory (KiB), from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for SimBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The four reports the real agent collects on this machine (`grappe-agent collect`).
pub fn templates() -> Value {
    let out = super::agent().arg("collect").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Publishes the retained state of `n` devices spread over `structures` structures, and
/// returns once the broker holds all of it.
pub fn publish(port: u16, n: usize, structures: usize, templates: &Value) -> Truth {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(publish_async(port, n, structures, templates))
}

async fn publish_async(port: u16, n: usize, structures: usize, templates: &Value) -> Truth {
    let mut options = MqttOptions::new("simulator", "127.0.0.1", port);
    options
        .set_max_packet_size(1 << 21, 1 << 21)
        .set_keep_alive(Duration::from_secs(60));
    let (client, mut events) = AsyncClient::new(options, 1024);
    let poller = tokio::spawn(async move {
        loop {
            match events.poll().await {
                // The sentinel's acknowledgement: everything before it is stored.
                Ok(Event::Incoming(Packet::PubAck(_))) => return,
                Ok(_) => {}
                Err(e) => panic!("simulator lost the broker: {e}"),
            }
        }
    });
    let now = SystemTime::now();
    let month = &grappe_agent::wire::rfc3339(now)[..7];
    let mut truth = Truth {
        devices: n,
        ..Truth::default()
    };
    for i in 0..n {
        let structure = format!("structure-{:03}", i % structures);
        let device = format!("dev-{i:05}");
        let branch = format!("grappe/v1/{GRAPPE}/{structure}/{device}");
        let (online, report_age) = match i % 20 {
            7 => (false, 5 * 86_400),
            3 | 13 => (false, 3_600),
            _ => (true, 600),
        };
        let collected = now - Duration::from_secs(report_age);
        let status = if online {
            serde_json::json!({"state": "online", "since": rfc(now - Duration::from_secs(7_200)),
                "agent_version": env!("CARGO_PKG_VERSION"),
                "cert_not_after": rfc(now + Duration::from_secs(300 * 86_400))})
        } else {
            serde_json::json!({"state": "offline", "reason": "connection lost"})
        };
        if !online {
            let set = if report_age == 3_600 {
                &mut truth.offline
            } else {
                &mut truth.missing
            };
            set.insert(device.clone());
        }
        let unsafe_ = i % 7 == 0;
        let unpatched = i % 5 == 1;
        let mut messages = vec![(format!("{branch}/status"), status)];
        for kind in ["inventory", "posture", "patches", "usage"] {
            let mut report = templates[kind].clone();
            report["structure"] = structure.as_str().into();
            report["device"] = device.as_str().into();
            report["grappe"] = GRAPPE.into();
            report["collected_at"] = rfc(collected).into();
            report["seq"] = (i as u64 * 10).into();
            let data = &mut report["data"];
            let topic = match kind {
                "posture" => {
                    shape_posture(data, unsafe_);
                    format!("{branch}/posture")
                }
                "patches" => {
                    shape_patches(data, unpatched);
                    format!("{branch}/patches")
                }
                "usage" => {
                    data["period"] = month.into();
                    format!("{branch}/usage/{month}")
                }
                _ => format!("{branch}/{kind}"),
            };
            messages.push((topic, report));
        }
        if unsafe_ {
            truth.unsafe_.insert(device.clone());
        }
        if unpatched {
            truth.unpatched.insert(device.clone());
        }
        for (topic, payload) in messages {
            let bytes = serde_json::to_vec(&payload).unwrap();
            truth.topics += 1;
            truth.bytes += bytes.len();
            client
                .publish(topic, QoS::AtMostOnce, true, bytes)
                .await
                .unwrap();
        }
    }
    // The broker handles a client's packets in order: once this is acknowledged, every
    // retained message before it is stored.
    client
        .publish("sim/done", QoS::AtLeastOnce, false, b"done".to_vec())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(600), poller)
        .await
        .expect("the broker acknowledged the simulator's last message")
        .unwrap();
    truth
}

/// A healthy device passes its critical and high checks (score 90); an unsafe one has a
/// second UID-0 account (critical) and scores 35.
fn shape_posture(data: &mut Value, unsafe_: bool) {
    for check in data["checks"].as_array_mut().unwrap() {
        let serious = matches!(check["severity"].as_str(), Some("critical" | "high"));
        if serious && check["status"] == "fail" {
            check["status"] = "pass".into();
        }
        if unsafe_ && check["id"] == "accounts.uid0" {
            check["status"] = "fail".into();
            check["evidence"] = "/etc/passwd: 1 account(s) with UID 0 besides root".into();
        }
    }
    data["score"] = if unsafe_ { 35 } else { 90 }.into();
}

/// An unpatched device keeps this machine's pending updates (or, on an up-to-date
/// machine, one security fix); the others have none.
fn shape_patches(data: &mut Value, unpatched: bool) {
    data["reboot_required"] = false.into();
    data["end_of_life_reached"] = false.into();
    data["problems"] = serde_json::json!([]);
    if !unpatched {
        data["upgradable"] = serde_json::json!([]);
        data["upgradable_count"] = 0.into();
        data["security_count"] = 0.into();
    } else if data["security_count"].as_u64().unwrap_or(0) == 0 {
        data["upgradable"] = serde_json::json!([{"name": "openssl", "arch": "arm64",
            "installed": "3.0.15-1~deb12u1", "candidate": "3.0.17-1~deb12u1", "security": true}]);
        data["upgradable_count"] = 1.into();
        data["security_count"] = 1.into();
    }
}

fn rfc(t: SystemTime) -> String {
    grappe_agent::wire::rfc3339(t)
}
