//! A fleet simulator: the retained state of N devices (status, inventory, posture, patches,
//! the month's usage) on a real Mosquitto, made from the reports the real agent collects
//! on this machine, with some devices offline, missing, unsafe or unpatched. It returns
//! the truth, so that what `grappe-fleet status` says can be checked device by device.
//!
//! The broker has two loopback listeners: a plain one where the simulator publishes (it
//! plays every device at once, which no ACL would allow), and a TLS one with client
//! certificates where grappe-fleet reads as an operator, as in production.

use super::pki::Pki;
use grappe_agent::wire::usage::{
    BoardId, DayUsage, Equipment, PatchesAt, PostureAt, UsageMonth, ACTIVE_RULE,
};
use grappe_agent::wire::{Envelope, Identity, Kind, Topic};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};
use time::{Date, OffsetDateTime, Weekday};

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
    /// The grappe CA itself, to issue the devices' certificates
    /// ([`publish_usage_history`] signs every report with its device's).
    pub pki: Pki,
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
            let mut child = Command::new("mosquitto")
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
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                let up = |p| std::net::TcpStream::connect(("127.0.0.1", p)).is_ok();
                if up(plain_port) && up(tls_port) {
                    return SimBroker {
                        child,
                        plain_port,
                        tls_port,
                        fleet_toml,
                        ca: pki.ca_file("sim-ca"),
                        operator: super::pki::Pair {
                            cert: operator.cert.clone(),
                            key: operator.key.clone(),
                        },
                        pki,
                        log: log.clone(),
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // a port was taken: try others
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
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

/// The simulator's connection on the plain port, and the task driving it until the
/// sentinel of [`stored`] is acknowledged.
fn publisher(port: u16, client_id: &str) -> (AsyncClient, tokio::task::JoinHandle<()>) {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
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
    (client, poller)
}

/// Returns once the broker holds every message published before: it handles a client's
/// packets in order, so a QoS 1 sentinel acknowledged comes after all of them.
async fn stored(client: &AsyncClient, poller: tokio::task::JoinHandle<()>) {
    client
        .publish("sim/done", QoS::AtLeastOnce, false, b"done".to_vec())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(600), poller)
        .await
        .expect("the broker acknowledged the simulator's last message")
        .unwrap();
}

async fn publish_async(port: u16, n: usize, structures: usize, templates: &Value) -> Truth {
    let (client, poller) = publisher(port, "simulator");
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
        let unsafe_ = i.is_multiple_of(7);
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
    stored(&client, poller).await;
    truth
}

/// A healthy device passes its critical and high checks and the ESSMS baseline (score
/// 90); an unsafe one has a second UID-0 account (critical) and scores 35.
fn shape_posture(data: &mut Value, unsafe_: bool) {
    let mut in_baseline = std::collections::HashSet::new();
    for item in data["baseline"].as_array_mut().unwrap() {
        item["status"] = "pass".into();
        for id in item["checks"].as_array().unwrap() {
            in_baseline.insert(id.as_str().unwrap().to_owned());
        }
    }
    for check in data["checks"].as_array_mut().unwrap() {
        let serious = matches!(check["severity"].as_str(), Some("critical" | "high"));
        let rests = in_baseline.contains(check["id"].as_str().unwrap());
        if (serious || rests) && check["status"] != "pass" {
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

/// Publishes the usage history of `n` devices (named as [`publish`] names them): one
/// retained report per device and month of `months` ("YYYY-MM"), as the agent publishes
/// it on closing a month: signed with the device's own key and certificate (issued by the
/// sim CA: CN the device, OU its structure, O the grappe), every day's uptime, active time
/// and boots, and the equipment at the month's end. The figures vary by device and day,
/// and are the same on every run. Returns the number of reports, once the broker holds
/// them all.
pub fn publish_usage_history(
    broker: &SimBroker,
    n: usize,
    structures: usize,
    months: &[String],
) -> usize {
    let now = SystemTime::now();
    let starts: Vec<Date> = months.iter().map(|m| month_start(m)).collect();
    // A year either side of now, and from the history's start if it is older.
    let today = OffsetDateTime::from(now);
    let oldest = starts
        .iter()
        .min()
        .map_or(today, |d| d.midnight().assume_utc());
    let validity = (
        (today - time::Duration::days(365)).min(oldest - time::Duration::days(1)),
        today + time::Duration::days(365),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Keys, certificates and signatures are made by workers while this thread publishes.
    let workers = std::thread::available_parallelism().map_or(2, |w| w.get());
    let (tx, rx) = tokio::sync::mpsc::channel(4 * workers);
    std::thread::scope(|scope| {
        for w in 0..workers {
            let (tx, pki, starts) = (tx.clone(), &broker.pki, &starts);
            scope.spawn(move || {
                for i in (w..n).step_by(workers) {
                    let reports = device_history(pki, i, structures, starts, now, validity);
                    if tx.blocking_send(reports).is_err() {
                        return; // the publisher stopped (and panicked)
                    }
                }
            });
        }
        drop(tx);
        runtime.block_on(publish_signed(broker.plain_port, rx))
    })
}

/// Publishes (retained, QoS 0) what the workers send, and returns once the broker holds
/// it all.
async fn publish_signed(
    port: u16,
    mut batches: tokio::sync::mpsc::Receiver<Vec<(String, Vec<u8>)>>,
) -> usize {
    let (client, poller) = publisher(port, "simulator-usage");
    let mut published = 0;
    while let Some(batch) = batches.recv().await {
        for (topic, bytes) in batch {
            client
                .publish(topic, QoS::AtMostOnce, true, bytes)
                .await
                .unwrap();
            published += 1;
        }
    }
    stored(&client, poller).await;
    published
}

/// Device `i`'s signed usage reports, one per month starting on `starts`: (topic, message).
fn device_history(
    pki: &Pki,
    i: usize,
    structures: usize,
    starts: &[Date],
    now: SystemTime,
    (not_before, not_after): (OffsetDateTime, OffsetDateTime),
) -> Vec<(String, Vec<u8>)> {
    let who = Identity {
        grappe: GRAPPE.into(),
        structure: format!("structure-{:03}", i % structures),
        device: format!("dev-{i:05}"),
    };
    let (cert, key) = pki.device(&who.device, &who.structure, GRAPPE, not_before, not_after);
    let key = rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
    let Some(&first) = starts.iter().min() else {
        return Vec::new();
    };
    // Most devices were there before the history starts; one in 25 came during its first
    // month.
    let deployed = if i.is_multiple_of(25) {
        first + time::Duration::days((i / 25 % 20) as i64)
    } else {
        first - time::Duration::days(30 + (mix(i as u64, 0) % 300) as i64)
    };
    let mut reports = Vec::with_capacity(starts.len());
    for (k, &start) in starts.iter().enumerate() {
        let length = start.month().length(start.year());
        let end = start + time::Duration::days(length.into());
        // Made as the agent closes the month, shortly after midnight UTC; never later than
        // now (a month not over yet is reported as it stands).
        let made = (SystemTime::from(end.midnight().assume_utc())
            + Duration::from_secs(300 + (i % 3_000) as u64))
        .min(now);
        let made_day = OffsetDateTime::from(made).date();
        let days: Vec<DayUsage> = (0..length)
            .map(|d| start + time::Duration::days(d.into()))
            .filter(|date| *date >= deployed && *date <= made_day)
            .filter_map(|date| day_usage(i, date))
            .collect();
        let period = grappe_agent::wire::usage::period(start.year(), start.month());
        let data = UsageMonth {
            period: period.clone(),
            days_on: days.iter().filter(|d| d.uptime_s > 0).count() as u32,
            days_active: days.iter().filter(|d| d.active_s > 0).count() as u32,
            days,
            active_rule: Some(ACTIVE_RULE.into()),
            // The ledger keeps about 400 days.
            first_day: Some(deployed.max(made_day - time::Duration::days(400))),
            equipment: Some(equipment(i, k, made)),
        };
        let seq = (k as u64 + 1) * 1_000 + (i % 1_000) as u64;
        let envelope = Envelope::new(Kind::Usage, &who, made, seq, data);
        let report = serde_json::to_vec(&envelope).unwrap();
        let message = grappe_agent::wire::signed::seal(&report, key.as_ref(), &cert).unwrap();
        reports.push((Topic::UsageMonth(period).of(&who), message));
    }
    reports
}

/// One day of device `i`: kiosks always on, care staff tablets on through the shifts,
/// office PCs on working days (and briefly at some weekends); an idle day now and then,
/// a day off (no record) more rarely, and each device used more or less than others.
fn day_usage(i: usize, date: Date) -> Option<DayUsage> {
    let h = mix(i as u64, date.to_julian_day() as u64);
    if h.is_multiple_of(53) {
        return None;
    }
    let r = |shift: u32, m: u64| (h >> shift) % m;
    let weekend = matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday);
    let (uptime_s, boots, active_s) = match i % 4 {
        0 => {
            let boots = u32::from(r(8, 29) == 0);
            (
                86_400 - u64::from(boots) * r(16, 1_800),
                boots,
                7_200 + r(24, 28_800),
            )
        }
        3 if weekend => {
            if r(8, 3) != 0 {
                return None;
            }
            (900 + r(16, 2_700), 1, 0)
        }
        3 => (
            25_200 + r(8, 10_800),
            1 + u32::from(r(16, 9) == 0),
            7_200 + r(24, 14_400),
        ),
        _ => (
            36_000 + r(8, 21_600),
            1 + u32::from(r(16, 3) == 0),
            3_600 + r(24, 18_000),
        ),
    };
    let intensity = 40 + mix(i as u64, 1) % 80;
    let active_s = if r(40, 12) == 0 {
        0
    } else {
        (active_s * intensity / 100).min(uptime_s)
    };
    Some(DayUsage {
        date,
        uptime_s,
        active_s,
        boots,
    })
}

/// Device `i`'s equipment at the end of its `k`th month: its board, a posture score of
/// 60-95 (60-69 for one device in 13, which has a second UID-0 account), now and then a
/// failing high check, and pending security updates some months.
fn equipment(i: usize, k: usize, made: SystemTime) -> Equipment {
    const BOARDS: [(&str, &str); 4] = [
        ("LENOVO", "ThinkCentre M70q Gen 4"),
        ("Dell Inc.", "OptiPlex 7010"),
        ("HP", "EliteDesk 800 G6 Desktop Mini PC"),
        ("Raspberry Pi Foundation", "Raspberry Pi 4 Model B Rev 1.5"),
    ];
    let (vendor, model) = BOARDS[(mix(i as u64, 2) % BOARDS.len() as u64) as usize];
    let h = mix(i as u64, 1_000 + k as u64);
    let critical = i.is_multiple_of(13);
    let score = if critical { 60 + h % 10 } else { 70 + h % 26 } as u8;
    let mut failing_high = Vec::new();
    if (h >> 8).is_multiple_of(5) {
        failing_high.push("ssh.password_auth".to_string());
    }
    if (h >> 12).is_multiple_of(7) {
        failing_high.push("network.firewall".to_string());
    }
    let security = if (h >> 16).is_multiple_of(4) {
        1 + (h >> 20) % 6
    } else {
        0
    } as usize;
    Equipment {
        board: Some(BoardId {
            vendor: Some(vendor.into()),
            model: Some(model.into()),
            serial: Some(format!("SN-{i:05}")),
        }),
        posture: Some(PostureAt {
            collected_at: rfc(made - Duration::from_secs(7_200)),
            score,
            failing_critical: if critical {
                vec!["accounts.uid0".into()]
            } else {
                Vec::new()
            },
            failing_high,
            baseline: Vec::new(),
        }),
        patches: Some(PatchesAt {
            collected_at: rfc(made - Duration::from_secs(3_600)),
            // One device in 97 could not read apt's lists.
            security_count: (!i.is_multiple_of(97)).then_some(security),
            upgradable_count: (!i.is_multiple_of(97))
                .then_some(security + ((h >> 24) % 25) as usize),
        }),
    }
}

/// The first day of "YYYY-MM".
fn month_start(month: &str) -> Date {
    let (year, month) = grappe_agent::wire::usage::parse_period(month).expect("YYYY-MM");
    Date::from_calendar_date(year, month, 1).unwrap()
}

/// SplitMix64 of two numbers: deterministic figures that look random.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_add(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn rfc(t: SystemTime) -> String {
    grappe_agent::wire::rfc3339(t)
}
