//! grappe-fleet end to end: `pki` enrols a broker, an operator and devices (one with a key
//! made here, one from a CSR made with openssl), `broker-config` writes the Mosquitto
//! configuration, and a real Mosquitto started on it from free loopback ports takes real
//! agents in, keeps each in its lane, and refuses what it must.

mod common;

use common::{code_and_text, free_port, Operator};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const GRAPPE: &str = "grappe-e2e";

fn fleet(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_grappe-fleet"))
        .args(args)
        .output()
        .unwrap();
    code_and_text(&out)
}

fn fleet_ok(args: &[&str]) -> String {
    let (code, text) = fleet(args);
    assert_eq!(code, 0, "grappe-fleet {args:?}:\n{text}");
    text
}

/// Mosquitto on the generated configuration, as Debian's mosquitto.conf includes it.
struct Mosquitto {
    child: Child,
    log: PathBuf,
    port: u16,
}

impl Mosquitto {
    fn start(dir: &Path, port: u16) -> Mosquitto {
        let log = dir.join("mosquitto.log");
        let main = dir.join("mosquitto.conf");
        // As root Mosquitto would drop to its own user, which cannot read the test's keys.
        let user = if unsafe { libc::geteuid() } == 0 {
            "user root\n"
        } else {
            ""
        };
        std::fs::write(
            &main,
            format!(
                "{user}persistence false\nlog_dest file {}\nlog_type all\ninclude_dir {}\n",
                log.display(),
                dir.join("broker/conf.d").display()
            ),
        )
        .unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&main)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed");
        let broker = Mosquitto { child, log, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not start:\n{}",
                broker.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        broker
    }

    fn restart(self, dir: &Path) -> Mosquitto {
        let port = self.port;
        drop(self);
        Mosquitto::start(dir, port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn files(f: &[PathBuf; 3]) -> [&Path; 3] {
    [f[0].as_path(), f[1].as_path(), f[2].as_path()]
}

/// Whether a client with these files gets a CONNACK from the broker on `port`.
fn can_connect(port: u16, ca: &Path, cert: &Path, key: &Path) -> bool {
    mosquitto_pub(
        port,
        [ca, cert, key],
        &format!("grappe/v1/{GRAPPE}/probe"),
        "x",
        false,
    )
}

/// Publishes one message (QoS 1) with `mosquitto_pub` and these CA, certificate and key
/// files; whether the broker took it.
fn mosquitto_pub(port: u16, files: [&Path; 3], topic: &str, message: &str, retain: bool) -> bool {
    let [ca, cert, key] = files;
    Command::new("mosquitto_pub")
        .args([
            "-h",
            "localhost",
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-t",
            topic,
        ])
        .args(["-m", message])
        .args(retain.then_some("-r"))
        .arg("--cafile")
        .arg(ca)
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// Points a bundle's agent.toml at this test's broker, files and directories.
fn localise(bundle: &Path, port: u16) -> PathBuf {
    let config = bundle.join("agent.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace("/etc/grappe-agent", &bundle.display().to_string())
        .replace(
            "/var/lib/grappe-agent",
            &bundle.join("var").display().to_string(),
        )
        .replace("mqtts://localhost:", "mqtts://127.0.0.1:");
    assert!(
        text.contains(&format!("url = \"mqtts://127.0.0.1:{port}\"")),
        "{text}"
    );
    std::fs::write(&config, text).unwrap();
    config
}

fn agent(args: &[&str], config: &Path) -> (i32, String) {
    let out = common::agent()
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A grappe with its PKI, broker certificate, operator alice and broker configuration.
struct Grappe {
    pki: String,
    port: u16,
    operator_port: u16,
}

impl Grappe {
    fn init(dir: &Path) -> Grappe {
        let path = |p: &str| dir.join(p).display().to_string();
        let pki = path("pki");
        let (port, operator_port) = (free_port(), free_port());
        fleet_ok(&["pki", "init", "--dir", &pki, "--grappe", GRAPPE]);
        fleet_ok(&[
            "pki",
            "--dir",
            &pki,
            "issue-server",
            "--host",
            "localhost",
            "--ip",
            "127.0.0.1",
        ]);
        fleet_ok(&["pki", "--dir", &pki, "issue-operator", "--name", "alice"]);
        let broker_out = fleet_ok(&[
            "broker-config",
            "--pki",
            &pki,
            "--port",
            &port.to_string(),
            "--operator-port",
            &operator_port.to_string(),
            "--bind",
            "127.0.0.1",
            "--out",
            &path("broker"),
            "--install-dir",
            &path("broker/grappe"),
        ]);
        assert!(broker_out.contains("conf.d/grappe.conf"), "{broker_out}");
        Grappe {
            pki,
            port,
            operator_port,
        }
    }

    /// A grappe with these devices (structure, device) enrolled, its broker running, and
    /// the fleet.toml of operator alice.
    fn running(dir: &Path, devices: &[(&str, &str)]) -> (Grappe, Mosquitto, PathBuf) {
        let grappe = Grappe::init(dir);
        for (structure, device) in devices {
            grappe.issue(dir, structure, device, &[]);
        }
        let broker = Mosquitto::start(dir, grappe.port);
        let config = fleet_toml(dir, &grappe);
        (grappe, broker, config)
    }

    /// Issues a device's bundle into `dir/DEVICE` (the broker configuration is written
    /// again with it).
    fn issue(&self, dir: &Path, structure: &str, device: &str, extra: &[&str]) {
        let out = dir.join(device).display().to_string();
        let mut args = vec!["pki", "--dir", &self.pki, "issue-device"];
        args.extend(["--structure", structure, "--device", device, "--out", &out]);
        args.extend(extra);
        fleet_ok(&args);
    }
}

#[test]
fn enrolled_devices_report_and_each_stays_in_its_lane() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = |p: &str| dir.join(p).display().to_string();
    let grappe = Grappe::init(dir);
    let (pki, port, operator_port) = (grappe.pki.clone(), grappe.port, grappe.operator_port);
    // Issued after broker-config: the configuration is written again with them.
    grappe.issue(dir, "ehpad-a", "dev-a1", &["--serial", "SN-0001"]);
    grappe.issue(dir, "ehpad-a", "dev-a2", &[]);
    // dev-b1 makes its own key; only the CSR leaves it.
    let csr_ok = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=dev-b1",
            "-keyout",
        ])
        .arg(dir.join("dev-b1.key"))
        .arg("-out")
        .arg(dir.join("dev-b1.csr"))
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(csr_ok);
    fleet_ok(&[
        "pki",
        "--dir",
        &pki,
        "sign-csr",
        "--csr",
        &path("dev-b1.csr"),
        "--structure",
        "foyer-b",
        "--device",
        "dev-b1",
        "--out",
        &path("dev-b1"),
    ]);
    assert!(
        !dir.join("dev-b1/device.key").exists(),
        "a CSR's key stays on the device"
    );
    std::fs::copy(dir.join("dev-b1.key"), dir.join("dev-b1/device.key")).unwrap();

    let acl = std::fs::read_to_string(dir.join("broker/grappe/acl")).unwrap();
    for user in ["user alice", "user dev-a1", "user dev-a2", "user dev-b1"] {
        assert!(acl.lines().any(|l| l == user), "{user} missing:\n{acl}");
    }
    let mode = |p: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777
    };
    for key in [
        "pki/ca.key",
        "pki/operators-ca.key",
        "dev-a1/device.key",
        "pki/operators/alice/operator.key",
        "broker/grappe/server.key",
    ] {
        assert_eq!(mode(key), 0o600, "{key}");
    }

    let mut broker = Mosquitto::start(dir, port);

    // Each device, with its bundle as issued, passes check-config and reports.
    let mut configs = Vec::new();
    for device in ["dev-a1", "dev-a2", "dev-b1"] {
        let config = localise(&dir.join(device), port);
        let (code, log) = agent(&["check-config"], &config);
        assert_eq!(code, 0, "{device} check-config:\n{log}");
        let (code, log) = agent(&["run", "--once", "--timeout", "60s"], &config);
        assert_eq!(
            code,
            0,
            "{device} run --once:\n{log}\nbroker:\n{}",
            broker.log_text()
        );
        configs.push(config);
    }

    // An operator sees every device's retained reports, on its own port, and two
    // connections with one certificate do not throw each other off.
    let alice = dir.join("pki/operators/alice");
    let alice_files = [
        alice.join("ca.pem"),
        alice.join("operator.pem"),
        alice.join("operator.key"),
    ];
    let everything = format!("grappe/v1/{GRAPPE}/#");
    let first = Operator::connect_files(
        files(&alice_files),
        operator_port,
        "alice-1",
        &everything,
        true,
    );
    let second = Operator::connect_files(
        files(&alice_files),
        operator_port,
        "alice-2",
        &everything,
        true,
    );
    for (structure, device) in [
        ("ehpad-a", "dev-a1"),
        ("ehpad-a", "dev-a2"),
        ("foyer-b", "dev-b1"),
    ] {
        for suffix in ["status", "inventory", "posture", "patches"] {
            let topic = format!("grappe/v1/{GRAPPE}/{structure}/{device}/{suffix}");
            second.wait_json(&topic, Duration::from_secs(10), |_| true);
        }
    }
    let lane = |structure: &str, device: &str, suffix: &str| {
        format!("grappe/v1/{GRAPPE}/{structure}/{device}/{suffix}")
    };
    // Both operator connections still receive: neither was thrown off.
    let marker = lane("ehpad-a", "dev-a1", "cmd/ping");
    second.publish(&marker, br#"{"id":"both-alive"}"#);
    for op in [&first, &second] {
        op.wait_for("the operator's own command", Duration::from_secs(10), |m| {
            m.iter().any(|m| m.topic == marker)
        });
    }

    // dev-a1's certificate, used by hand: it may publish its own reports only.
    let a1 = dir.join("dev-a1");
    let a1_files = [
        a1.join("ca.pem"),
        a1.join("device.pem"),
        a1.join("device.key"),
    ];
    let probe = Operator::connect_files(
        files(&a1_files),
        port,
        "dev-a1",
        &format!("grappe/v1/{GRAPPE}/+/+/cmd/+"),
        true,
    );
    let forbidden = [
        lane("ehpad-a", "dev-a2", "status"), // another device of its structure
        lane("foyer-b", "dev-b1", "inventory"), // another structure
        lane("ehpad-a", "dev-a1", "cmd/refresh"), // a command, even to itself
        lane("ehpad-a", "dev-a2", "cmd/refresh"), // a command to another
        format!("grappe/v1/{GRAPPE}/ehpad-a/dev-a1"), // outside its topics
    ];
    for topic in &forbidden {
        probe.publish(topic, b"{\"forged\":true}");
    }
    let control = lane("ehpad-a", "dev-a1", "heartbeat");
    probe.publish(&control, b"{\"at\":\"2026-12-03T00:00:00Z\"}");
    let seen = first.wait_for("dev-a1's own heartbeat", Duration::from_secs(10), |m| {
        m.iter().any(|m| m.topic == control)
    });
    for topic in &forbidden {
        assert!(
            !seen
                .iter()
                .any(|m| &m.topic == topic && m.payload.starts_with(b"{\"forged")),
            "the broker let dev-a1 publish {topic}"
        );
    }
    // It reads its own commands, not another's (it subscribed to every device's).
    let theirs = lane("foyer-b", "dev-b1", "cmd/ping");
    let mine = lane("ehpad-a", "dev-a1", "cmd/ping");
    first.publish(&theirs, br#"{"id":"theirs"}"#);
    first.publish(&mine, br#"{"id":"mine"}"#);
    let got = probe.wait_for("its own command", Duration::from_secs(10), |m| {
        m.iter()
            .any(|m| m.topic == mine && m.payload.ends_with(b"\"mine\"}"))
    });
    assert!(
        !got.iter().any(|m| m.topic == theirs),
        "dev-a1 read dev-b1's commands"
    );
    drop(probe);

    // Connections that must be refused: a device on the operators' port, an operator on
    // the devices' port, a certificate from another CA, an expired one.
    let b1 = dir.join("dev-b1");
    assert!(can_connect(
        port,
        &b1.join("ca.pem"),
        &b1.join("device.pem"),
        &b1.join("device.key")
    ));
    assert!(
        !can_connect(operator_port, &alice_files[0], &a1_files[1], &a1_files[2]),
        "a device on the operators' port"
    );
    assert!(
        !can_connect(port, &alice_files[0], &alice_files[1], &alice_files[2]),
        "an operator on the devices' port"
    );
    let stranger = common::pki::Pki::new(dir, "stranger-ca");
    let stranger_pair = stranger.client("dev-a1");
    assert!(
        !can_connect(port, &a1_files[0], &stranger_pair.cert, &stranger_pair.key),
        "a certificate from an unknown CA"
    );
    let expired = expired_device_cert(dir, "dev-a1");
    assert!(
        !can_connect(port, &a1_files[0], &expired.0, &expired.1),
        "an expired certificate"
    );

    // Revoking dev-b1: its ACL block goes at once, its certificate once the broker
    // has read the new CRL (at its restart).
    let out = fleet_ok(&[
        "pki",
        "--dir",
        &pki,
        "revoke",
        "--device",
        "dev-b1",
        "--reason",
        "cessation-of-operation",
    ]);
    assert!(out.contains("revoked device dev-b1"), "{out}");
    let acl = std::fs::read_to_string(dir.join("broker/grappe/acl")).unwrap();
    assert!(!acl.contains("dev-b1"), "{acl}");
    assert!(acl.lines().any(|l| l == "user dev-a1"), "{acl}");
    drop((first, second));
    broker = broker.restart(dir);
    assert!(
        !can_connect(
            port,
            &b1.join("ca.pem"),
            &b1.join("device.pem"),
            &b1.join("device.key")
        ),
        "a revoked certificate"
    );
    assert!(
        can_connect(port, &a1_files[0], &a1_files[1], &a1_files[2]),
        "the others stay in"
    );
    let list = fleet_ok(&["pki", "--dir", &pki, "list"]);
    let b1_line = list.lines().find(|l| l.contains("dev-b1")).unwrap();
    assert!(b1_line.contains("revoked"), "{list}");
    drop(broker);
    drop(configs);
}

/// The fleet.toml of operator alice for this grappe, with its PKI register.
fn fleet_toml(dir: &Path, grappe: &Grappe) -> PathBuf {
    let alice = dir.join("pki/operators/alice");
    let config = dir.join("fleet.toml");
    std::fs::write(
        &config,
        format!(
            "[fleet]\ngrappe = \"{GRAPPE}\"\npki = \"{}\"\n\n[broker]\nurl = \"mqtts://127.0.0.1:{}\"\n\
             ca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n\n\
             [[structure]]\nid = \"ehpad-a\"\nname = \"EHPAD Les Acacias\"\nfiness = \"750000001\"\n\n\
             [[structure]]\nid = \"foyer-b\"\nname = \"Foyer B\"\nfiness = \"2A0000002\"\n",
            grappe.pki,
            grappe.operator_port,
            alice.join("ca.pem").display(),
            alice.join("operator.pem").display(),
            alice.join("operator.key").display(),
        ),
    )
    .unwrap();
    config
}

/// `grappe-fleet status --json`, parsed, with the devices by id.
fn status_json(config: &str, extra: &[&str]) -> (Value, BTreeMap<String, Value>) {
    let mut args = vec!["status", "--config", config, "--json"];
    args.extend(extra);
    let (code, out) = fleet(&args);
    assert_eq!(code, 0, "{out}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let devices = doc["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["device"].as_str().unwrap().to_string(), d.clone()))
        .collect();
    (doc, devices)
}

#[test]
fn the_it_staff_see_and_drive_the_fleet() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (grappe, broker, config) = Grappe::running(
        dir,
        &[
            ("ehpad-a", "dev-a1"),
            ("ehpad-a", "dev-a2"),
            ("ehpad-a", "dev-a3"),
            ("foyer-b", "dev-b1"),
        ],
    );
    let config = config.to_str().unwrap();

    // dev-a1 runs one cycle and stops cleanly; dev-a2 runs as a service; dev-b1 runs as
    // a service and is killed (the broker publishes its Last Will after 1.5 keepalives);
    // dev-a3 is enrolled and never started.
    let a1 = localise(&dir.join("dev-a1"), grappe.port);
    let (code, log) = agent(&["run", "--once", "--timeout", "60s"], &a1);
    assert_eq!(code, 0, "{log}");
    let a2 = localise(&dir.join("dev-a2"), grappe.port);
    let mut a2_service = common::Service::start_in(dir, &a2);
    let b1 = localise(&dir.join("dev-b1"), grappe.port);
    let text = std::fs::read_to_string(&b1)
        .unwrap()
        .replace("keep_alive = \"15m\"", "keep_alive = \"5s\"");
    std::fs::write(&b1, text).unwrap();
    let b1_service = common::Service::start_in(dir, &b1);

    // What the agents published, read independently of grappe-fleet.
    let alice = dir.join("pki/operators/alice");
    let alice_files = [
        alice.join("ca.pem"),
        alice.join("operator.pem"),
        alice.join("operator.key"),
    ];
    let witness = Operator::connect_files(
        files(&alice_files),
        grappe.operator_port,
        "witness",
        &format!("grappe/v1/{GRAPPE}/#"),
        true,
    );
    let topic = |s: &str, d: &str, suffix: &str| format!("grappe/v1/{GRAPPE}/{s}/{d}/{suffix}");
    let mut published = BTreeMap::new();
    for (s, d) in [
        ("ehpad-a", "dev-a1"),
        ("ehpad-a", "dev-a2"),
        ("foyer-b", "dev-b1"),
    ] {
        let posture = witness.wait_json(&topic(s, d, "posture"), Duration::from_secs(60), |_| true);
        let patches = witness.wait_json(&topic(s, d, "patches"), Duration::from_secs(60), |_| true);
        published.insert(d, (posture, patches));
    }
    witness.wait_json(
        &topic("foyer-b", "dev-b1", "status"),
        Duration::from_secs(30),
        |v| v["state"] == "online",
    );
    b1_service.signal(libc::SIGKILL);
    witness.wait_json(
        &topic("foyer-b", "dev-b1", "status"),
        Duration::from_secs(30),
        |v| v["reason"] == "connection lost",
    );
    witness.wait_json(
        &topic("ehpad-a", "dev-a2", "status"),
        Duration::from_secs(30),
        |v| v["state"] == "online",
    );

    // status --json: each device's state and figures are what it published.
    let (doc, devices) = status_json(config, &[]);
    assert_eq!(doc["counts"]["devices"], 4, "{doc:#}");
    let state = |d: &str| devices[d]["state"].as_str().unwrap().to_string();
    assert_eq!(
        [
            state("dev-a1"),
            state("dev-a2"),
            state("dev-a3"),
            state("dev-b1")
        ],
        ["stopped", "online", "never seen", "lost"],
        "{doc:#}"
    );
    for (d, (posture, patches)) in &published {
        let row = &devices[*d];
        assert_eq!(row["posture_score"], posture["data"]["score"], "{d}");
        assert_eq!(
            row["security_updates"], patches["data"]["security_count"],
            "{d}"
        );
        assert_eq!(
            row["reboot_required"], patches["data"]["reboot_required"],
            "{d}"
        );
        let failing_high: Vec<&str> = posture["data"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "fail" && c["severity"] == "high")
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(row["failing_high"], serde_json::json!(failing_high), "{d}");
        // The baseline as the device judged it, item by item and in short.
        let items = posture["data"]["baseline"].as_array().unwrap();
        assert_eq!(items.len(), 8, "{d}");
        let ids = |status: &str| -> Vec<&Value> {
            items
                .iter()
                .filter(|i| i["status"] == status)
                .map(|i| &i["id"])
                .collect()
        };
        assert_eq!(row["baseline_passed"], ids("pass").len(), "{d}");
        assert_eq!(
            row["baseline_applicable"],
            8 - ids("not_applicable").len(),
            "{d}"
        );
        assert_eq!(
            row["baseline_failing"],
            serde_json::json!(ids("fail")),
            "{d}"
        );
        let said: Vec<Value> = items
            .iter()
            .map(|i| serde_json::json!({"id": i["id"], "status": i["status"]}))
            .collect();
        assert_eq!(row["baseline"], Value::Array(said), "{d}");
        assert_eq!(row["agent_version"], env!("CARGO_PKG_VERSION"));
        assert!(row["cert_not_after"].as_str().unwrap() > "2027", "{row}");
        assert_eq!(
            row["finess"],
            if d.starts_with("dev-a") {
                "750000001"
            } else {
                "2A0000002"
            }
        );
    }
    let codes = |d: &str| -> Vec<String> {
        devices[d]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        codes("dev-a3").contains(&"never-seen".to_string()),
        "{doc:#}"
    );
    assert!(codes("dev-a1").contains(&"offline".to_string()), "{doc:#}");
    assert!(devices["dev-a1"]["findings"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("stopped cleanly"));
    let lost = &devices["dev-b1"]["findings"];
    assert!(
        lost.as_array()
            .unwrap()
            .iter()
            .any(|f| f["reason"].as_str().unwrap().contains("connection lost")),
        "{lost}"
    );
    assert!(!codes("dev-a2")
        .iter()
        .any(|c| c == "offline" || c == "missing"));
    // Last seen and last report are kept apart: the stopped device was seen at its stop.
    let a1_row = &devices["dev-a1"];
    assert!(
        a1_row["last_seen"].as_str() >= a1_row["last_report"].as_str(),
        "{a1_row}"
    );

    // The table: grouped by structure (names from fleet.toml), problems first.
    let table = fleet_ok(&["status", "--config", config]);
    let a = table
        .find("EHPAD Les Acacias (ehpad-a, FINESS 750000001)")
        .expect(&table);
    let b = table
        .find("Foyer B (foyer-b, FINESS 2A0000002)")
        .expect(&table);
    assert!(a < b, "{table}");
    for d in ["dev-a1", "dev-a2", "dev-a3", "dev-b1"] {
        assert!(table.contains(d), "{table}");
    }
    // --problems keeps exactly the devices with a finding; CSV respects the filters.
    let with_findings: Vec<&String> = devices
        .iter()
        .filter(|(_, v)| !v["findings"].as_array().unwrap().is_empty())
        .map(|(k, _)| k)
        .collect();
    let (_, problems) = status_json(config, &["--problems"]);
    assert_eq!(problems.keys().collect::<Vec<_>>(), with_findings);
    let (code, csv) = fleet(&[
        "status",
        "--config",
        config,
        "--csv",
        "--structure",
        "foyer-b",
    ]);
    assert_eq!(code, 0, "{csv}");
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[0].starts_with("structure;structure_name;finess;device;level"),
        "{csv}"
    );
    assert!(
        lines[1].starts_with("foyer-b;Foyer B;2A0000002;dev-b1;"),
        "{csv}"
    );

    // check: the Nagios convention, its level the worst device's.
    let (code, out) = fleet(&["check", "--config", config]);
    let worst = doc["level"].as_str().unwrap();
    let expected = match worst {
        "OK" => 0,
        "WARNING" => 1,
        _ => 2,
    };
    assert_eq!(code, expected, "{out}");
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("GRAPPE {GRAPPE} {worst} - ")),
        "{out}"
    );
    assert!(first.contains("| devices=4;;;0;4 "), "{out}");
    assert!(first.contains("never_seen=1;"), "{out}");

    // device: every check with its evidence, the pending updates, the usage.
    let out = fleet_ok(&["device", "--config", config, "dev-a2"]);
    assert!(
        out.starts_with("device dev-a2 of structure ehpad-a (EHPAD Les Acacias"),
        "{out}"
    );
    let (posture, patches) = &published["dev-a2"];
    for check in posture["data"]["checks"].as_array().unwrap() {
        let id = check["id"].as_str().unwrap();
        assert!(out.contains(id), "{id} missing:\n{out}");
        let evidence = check["evidence"].as_str().unwrap();
        assert!(out.contains(evidence), "evidence of {id} missing");
    }
    for u in patches["data"]["upgradable"]
        .as_array()
        .into_iter()
        .flatten()
    {
        assert!(out.contains(u["candidate"].as_str().unwrap()), "{u}");
    }
    assert!(
        out.contains("\ninventory (collected ") && out.contains("\nusage 20"),
        "{out}"
    );
    let (code, out) = fleet(&["device", "--config", config, "dev-a3"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("\"dev-a3\" is enrolled (structure \"ehpad-a\""),
        "{out}"
    );
    // Ids become topic levels: a wildcard is refused, not sent.
    for args in [
        &["cmd", "ping", "--structure", "+", "--config", config][..],
        &["check", "--structure", "#", "--config", config],
    ] {
        let (code, out) = fleet(args);
        assert!(out.contains("is not a structure id"), "{args:?}: {out}");
        assert_ne!(code, 0);
    }
    let (code, out) = fleet(&["device", "--config", config, "dev-zz"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("keeps nothing for device \"dev-zz\""), "{out}");

    // cmd: the connected device answers; the offline ones are said, not waited for.
    let (code, out) = fleet(&[
        "cmd",
        "ping",
        "--all",
        "--config",
        config,
        "--timeout",
        "20s",
    ]);
    assert_eq!(code, 1, "not every device answered:\n{out}");
    assert!(
        out.starts_with("ping sent to 1 connected device(s) of 3; 1 answered"),
        "{out}"
    );
    let line = |d: &str| {
        out.lines()
            .find(|l| l.contains(d))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("ehpad-a/dev-a2").contains("OK")
            && line("ehpad-a/dev-a2").contains(env!("CARGO_PKG_VERSION")),
        "{out}"
    );
    assert!(
        line("ehpad-a/dev-a1").contains("NOT SENT  offline"),
        "{out}"
    );
    assert!(
        line("foyer-b/dev-b1").contains("NOT SENT  offline"),
        "{out}"
    );
    let out = fleet_ok(&["cmd", "refresh", "--device", "dev-a2", "--config", config]);
    assert!(
        out.contains("ehpad-a/dev-a2") && out.contains("OK"),
        "{out}"
    );
    // An operator's two sessions at once (the witness is still connected, too).
    let both: Vec<_> = (0..2)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_grappe-fleet"))
                .args(["cmd", "ping", "--structure", "ehpad-a", "--config", config])
                .output()
                .unwrap()
        })
        .collect();
    for o in &both {
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("ehpad-a/dev-a2"),
            "{o:?}"
        );
    }
    witness.wait_for("the witness is still there", Duration::from_secs(5), |m| {
        m.iter().any(|m| m.topic.ends_with("/cmd-result"))
    });

    // A broken config or an unreachable broker: UNKNOWN for the monitoring tool.
    std::fs::write(dir.join("bad.toml"), "[fleet]\ngrappe = \"G\"\n").unwrap();
    let (code, out) = fleet(&["check", "--config", dir.join("bad.toml").to_str().unwrap()]);
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("GRAPPE UNKNOWN - config "), "{out}");
    let (code, out) = fleet(&["status", "--config", dir.join("bad.toml").to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    a2_service.signal(libc::SIGTERM);
    assert_eq!(
        a2_service.wait(Duration::from_secs(20)),
        Some(0),
        "{}",
        a2_service.log()
    );
    drop(witness);
    drop(broker);
    let (code, out) = fleet(&["check", "--config", config, "--timeout", "5s"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.starts_with("GRAPPE UNKNOWN - cannot reach the broker"),
        "{out}"
    );
}

/// A certificate for `cn` from the grappe CA, expired yesterday (the CLI never issues one).
fn expired_device_cert(dir: &Path, cn: &str) -> (PathBuf, PathBuf) {
    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair};
    let ca_key =
        KeyPair::from_pem(&std::fs::read_to_string(dir.join("pki/ca.key")).unwrap()).unwrap();
    let issuer = Issuer::from_ca_cert_pem(
        &std::fs::read_to_string(dir.join("pki/ca.pem")).unwrap(),
        ca_key,
    )
    .unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(30);
    params.not_after = now - time::Duration::days(1);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let (cert_path, key_path) = (dir.join("expired.pem"), dir.join("expired.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// The simulator's fleet, read back by `status`: every device, and exactly the ones the
/// simulator made offline, missing, unsafe or unpatched, each with its reason.
#[test]
fn status_reads_a_simulated_fleet_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = common::sim::SimBroker::start(tmp.path());
    let templates = common::sim::templates();
    let truth = common::sim::publish(broker.plain_port, 300, 12, &templates);
    let config = broker.fleet_toml.to_str().unwrap();
    let (doc, devices) = status_json(config, &[]);
    assert_eq!(devices.len(), truth.devices, "{}", broker.log_text());
    let with = |code: &str| -> std::collections::BTreeSet<String> {
        devices
            .iter()
            .filter(|(_, d)| {
                d["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["code"] == code)
            })
            .map(|(k, _)| k.clone())
            .collect()
    };
    assert_eq!(with("missing"), truth.missing);
    assert_eq!(with("offline"), truth.offline);
    assert_eq!(with("critical-checks"), truth.unsafe_);
    assert_eq!(with("security-updates"), truth.unpatched);
    assert!(!truth.missing.is_empty() && !truth.unsafe_.is_empty() && !truth.unpatched.is_empty());
    // Every other device is fine, and its structure is named (none is in this fleet.toml).
    let troubled: usize = [
        &truth.missing,
        &truth.offline,
        &truth.unsafe_,
        &truth.unpatched,
    ]
    .iter()
    .flat_map(|s| s.iter())
    .collect::<std::collections::BTreeSet<_>>()
    .len();
    let only_unlisted = devices
        .values()
        .filter(|d| {
            d["findings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["code"] == "unlisted-structure")
        })
        .count();
    assert_eq!(only_unlisted, truth.devices - troubled, "{doc:#}");
    // The monitoring check sees the same.
    let (code, out) = fleet(&["check", "--config", config]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!(" missing={};", truth.missing.len())),
        "{out}"
    );
}

/// A usage ledger with `active_days` days used (an hour each) and `on_days` days on, in
/// each of `months`, and a state saying the oldest of them was the last month published:
/// the agent then closes (publishes, signed) every one of them on its next run.
fn prepare_ledger(bundle: &Path, months: &[(&str, u32, u32)]) {
    let var = bundle.join("var");
    std::fs::create_dir_all(&var).unwrap();
    let mut days = Vec::new();
    for (month, on_days, active_days) in months {
        for d in 1..=*on_days {
            let active = if d <= *active_days { 3600 } else { 0 };
            days.push(serde_json::json!({"date": format!("{month}-{d:02}"),
                "uptime_s": 8 * 3600, "active_s": active, "boots": 1}));
        }
    }
    let ledger = serde_json::json!({"version": 1, "last": null, "days": days});
    std::fs::write(var.join("usage.json"), ledger.to_string()).unwrap();
    let state = serde_json::json!({"seq": 1000, "usage_period": months[0].0});
    std::fs::write(var.join("state.json"), state.to_string()).unwrap();
}

/// A copy of a proof directory beside it, named `name`.
fn copy_of(proof: &Path, name: &str) -> PathBuf {
    let copy = proof.with_file_name(name);
    let status = Command::new("cp")
        .arg("-a")
        .arg(proof)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    copy
}

/// Copies a proof directory, changes one file with `edit`, and writes SHA256SUMS again
/// (as a forger would), so that only the figure and signature checks can catch it.
fn tampered(proof: &Path, name: &str, edit: impl FnOnce(&Path)) -> PathBuf {
    let copy = copy_of(proof, name);
    edit(&copy);
    let sums = Command::new("sh")
        .arg("-c")
        .arg("find . -type f ! -name SHA256SUMS | sed 's|^\\./||' | LC_ALL=C sort | xargs sha256sum > SHA256SUMS")
        .current_dir(&copy)
        .status()
        .unwrap();
    assert!(sums.success());
    copy
}

fn replace_in(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// Signs the report carried by `message` again with another key and certificate.
fn resign(message: &[u8], cert: &Path, key: &Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject as _;
    let Ok(grappe_agent::wire::signed::Opened::Signed(signed)) =
        grappe_agent::wire::signed::Opened::read(message)
    else {
        panic!("not signed");
    };
    let cert = rustls::pki_types::CertificateDer::from_pem_file(cert).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key).unwrap();
    let key = rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
    grappe_agent::wire::signed::seal(&signed.report().unwrap(), key.as_ref(), &cert).unwrap()
}

/// Prints `html` to PDF in headless Chromium, behind a proxy that answers every request
/// with a refusal and counts those the page made (loopback included), and keeps a PNG of
/// each printed page in `artefacts`. Returns the number of pages and of page requests.
fn print_in_chromium(html: &Path, work: &Path, artefacts: &Path) -> (usize, usize) {
    use std::io::{Read as _, Write as _};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    // The browser's own background calls (update checks, account service) reach the
    // proxy too, whatever the page; they are named exactly and left out of the count, so
    // that any other host, Google's font servers included, counts as a load by the page.
    const BROWSER_OWN: [&str; 3] = [
        "update.googleapis.com",
        "accounts.google.com",
        "clients2.google.com",
    ];
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let proxy_port = proxy.local_addr().unwrap().port();
    let (done, loads) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let proxy_thread = {
        let (done, loads) = (done.clone(), loads.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let Ok((mut stream, _)) = proxy.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut first = [0u8; 512];
                let n = stream.read(&mut first).unwrap_or(0);
                let request = String::from_utf8_lossy(&first[..n]).into_owned();
                let host = request
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .trim_start_matches("http://")
                    .split(['/', ':'])
                    .next()
                    .unwrap_or("")
                    .to_string();
                if !BROWSER_OWN.contains(&host.as_str()) {
                    eprintln!("loaded through the proxy: {request:?}");
                    loads.fetch_add(1, Ordering::Relaxed);
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        })
    };
    let pdf = work.join("printed.pdf");
    let _ = std::fs::remove_file(&pdf);
    let profile = work.join("chromium-profile");
    let mut chromium = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
            "--proxy-bypass-list=<-loopback>",
            "--disable-extensions",
            "--disable-default-apps",
        ])
        .arg(format!("--proxy-server=http://127.0.0.1:{proxy_port}"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium is installed (Debian's chromium package; .ci/run installs it)");
    let deadline = Instant::now() + Duration::from_secs(120);
    while chromium.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = chromium.kill();
            panic!("chromium did not print {} within 2 minutes", html.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    done.store(true, Ordering::Relaxed);
    proxy_thread.join().unwrap();
    let connections = loads.load(Ordering::Relaxed);
    assert!(
        pdf.exists(),
        "chromium printed nothing for {}",
        html.display()
    );
    let info = Command::new("pdfinfo")
        .arg(&pdf)
        .output()
        .expect("pdfinfo (poppler-utils)");
    let info = String::from_utf8_lossy(&info.stdout);
    let pages = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no page count in:\n{info}"));
    std::fs::create_dir_all(artefacts).unwrap();
    let _ = std::fs::copy(&pdf, artefacts.join("equipment.pdf"));
    let png = Command::new("pdftoppm")
        .args(["-png", "-r", "70"])
        .arg(&pdf)
        .arg(artefacts.join("page"))
        .status()
        .unwrap();
    assert!(png.success());
    (pages, connections)
}

#[test]
fn proof_and_verify_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (grappe, _broker, config) = Grappe::running(
        dir,
        &[
            ("ehpad-a", "tab-a1"),
            ("ehpad-a", "tab-a2"),
            ("foyer-b", "tab-b1"),
        ],
    );
    let config = config.to_str().unwrap();
    let (m2, m1) = (common::month_before(2), common::month_before(1));

    // Ledgers of the two past months, published (signed) by one real cycle of each agent.
    prepare_ledger(&dir.join("tab-a1"), &[(&m2, 25, 15), (&m1, 28, 20)]);
    prepare_ledger(&dir.join("tab-a2"), &[(&m2, 20, 12), (&m1, 10, 3)]);
    prepare_ledger(&dir.join("tab-b1"), &[(&m2, 9, 9), (&m1, 12, 10)]);
    for device in ["tab-a1", "tab-a2", "tab-b1"] {
        let bundle = localise(&dir.join(device), grappe.port);
        let (code, log) = agent(&["run", "--once", "--timeout", "60s"], &bundle);
        assert_eq!(code, 0, "{log}");
    }
    // An earlier agent's unsigned report, published with tab-b1's own certificate over
    // the month the agent published.
    let b1 = dir.join("tab-b1");
    let legacy = serde_json::json!({"schema": "grappe-agent/usage/1", "grappe": GRAPPE,
        "structure": "foyer-b", "device": "tab-b1", "agent_version": "0.0.9",
        "collected_at": format!("{m2}-28T12:00:00Z"), "seq": 7, "data": {"period": m2,
        "days": [{"date": format!("{m2}-02"), "uptime_s": 7200, "active_s": 3600, "boots": 1}],
        "days_on": 1, "days_active": 1}});
    let b1_files = [
        b1.join("ca.pem"),
        b1.join("device.pem"),
        b1.join("device.key"),
    ];
    let published = mosquitto_pub(
        grappe.port,
        files(&b1_files),
        &format!("grappe/v1/{GRAPPE}/foyer-b/tab-b1/usage/{m2}"),
        &legacy.to_string(),
        true,
    );
    assert!(published, "the unsigned report was published");

    // The purchase list: tab-a1 by its id, tab-a2 too, a tablet never seen; tab-b1 is
    // not on it.
    let purchases = dir.join("achats.csv");
    std::fs::write(
        &purchases,
        "structure;numero_serie;appareil;designation;facture;date_achat\n\
         750000001;;tab-a1;Tablette 10 pouces;F-2026-001;2026-03-01\n\
         ehpad-a;;tab-a2;Tablette 10 pouces;F-2026-001;2026-03-01\n\
         ehpad-a;SN-NEVER-1;;Mini-PC accueil;F-2026-002;2026-03-02\n",
    )
    .unwrap();
    let proof = dir.join("proof");
    let make = |out: &Path| {
        fleet_ok(&[
            "proof",
            "--config",
            config,
            "--from",
            &m2,
            "--to",
            &m1,
            "--purchases",
            purchases.to_str().unwrap(),
            "--generated-at",
            "2026-12-01T08:00:00Z",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let said = make(&proof);
    assert!(
        said.contains("6 monthly report(s): 5 signed, 1 unsigned"),
        "{said}"
    );

    let verified = fleet_ok(&["verify", proof.to_str().unwrap()]);
    assert!(verified.contains("VERIFIED"), "{verified}");
    assert!(verified.contains(&format!("{m2} UNSIGNED")), "{verified}");
    // Checked against the CA obtained independently: the PKI's own file.
    let ca = format!("{}/ca.pem", grappe.pki);
    fleet_ok(&["verify", proof.to_str().unwrap(), "--ca", &ca]);

    // Reproducible: the same state and options give the same bytes.
    let again = dir.join("proof-again");
    make(&again);
    assert_eq!(
        std::fs::read(proof.join("SHA256SUMS")).unwrap(),
        std::fs::read(again.join("SHA256SUMS")).unwrap()
    );
    let (code, out) = fleet(&[
        "proof",
        "--config",
        config,
        "--period",
        &m1,
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "never over a previous proof: {out}");

    // What it says: figures from the ledgers, the purchase never seen, the device not on
    // the list, and the milestones.
    let json: Value =
        serde_json::from_slice(&std::fs::read(proof.join("equipment.json")).unwrap()).unwrap();
    let ehpad = &json["structures"][0];
    assert_eq!(ehpad["id"], "ehpad-a");
    assert_eq!(ehpad["devices"][0]["device"], "tab-a1");
    assert_eq!(ehpad["devices"][0]["totals"]["days_active"], 35);
    assert_eq!(ehpad["devices"][0]["totals"]["active_s"], 35 * 3600);
    assert_eq!(ehpad["never_seen"], serde_json::json!([2]));
    assert_eq!(ehpad["deployed"]["met"], false);
    assert_eq!(
        ehpad["in_use"][&m1]["met"], false,
        "tab-a2 used 3 days, and a purchase never seen"
    );
    let foyer = &json["structures"][1];
    assert_eq!(
        foyer["devices"][0]["purchase"],
        Value::Null,
        "not on the list"
    );
    assert!(foyer["devices"][0]["totals"]["posture_score"].is_u64());
    // The agent carries its posture's baseline into the month's report.
    let ids: Vec<&str> = foyer["devices"][0]["totals"]["baseline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "updates",
            "antivirus",
            "firewall",
            "backup",
            "session_lock",
            "individual_accounts",
            "passwords",
            "encryption"
        ]
    );
    let csv = std::fs::read_to_string(proof.join("equipment.csv")).unwrap();
    assert!(
        csv.starts_with("\u{feff}structure;nom_structure;finess;appareil;mois"),
        "{csv}"
    );
    assert!(
        csv.contains(&format!("ehpad-a;EHPAD Les Acacias;750000001;tab-a1;{m1};")),
        "{csv}"
    );
    assert!(csv.contains("jamais_vu"), "{csv}");
    assert!(
        csv.contains(";baseline_updates;baseline_antivirus;") && csv.contains(";signature;preuve"),
        "{csv}"
    );
    let html = std::fs::read_to_string(proof.join("equipment.html")).unwrap();
    assert!(html.contains("<html lang=\"fr\">") && html.contains("annexe « équipement »"));
    assert!(html.contains(" conformes"), "the baseline of each device");
    assert!(html.contains("Content-Security-Policy") && !html.contains("<script"));
    assert!(
        !html.contains("http://")
            || !html
                .replace("http://www.w3.org/2000/svg", "")
                .contains("http://")
    );

    // Printed by a browser: a summary page and one page per structure, nothing loaded
    // from anywhere (a page with an outside image, without the proof's policy, shows
    // that the proxy would see it). The pages are kept as PNG in target/test-artefacts.
    let artefacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("proof-html");
    let _ = std::fs::remove_dir_all(&artefacts);
    let (pages, connections) = print_in_chromium(&proof.join("equipment.html"), dir, &artefacts);
    assert_eq!(
        pages,
        3,
        "summary + 2 structures; PNGs in {}",
        artefacts.display()
    );
    assert_eq!(connections, 0, "the proof loaded something");
    for page in 1..=3 {
        assert!(
            artefacts.join(format!("page-{page}.png")).exists(),
            "page {page}"
        );
    }
    let control = dir.join("control.html");
    std::fs::write(
        &control,
        "<html><body><img src=\"http://192.0.2.1/logo.png\">x</body></html>",
    )
    .unwrap();
    let (_, control_connections) = print_in_chromium(&control, dir, &dir.join("control-pages"));
    assert!(
        control_connections > 0,
        "the proxy sees a page that loads from outside"
    );

    // The signature checks with openssl alone, on the bytes kept.
    let evidence = proof.join(format!("evidence/ehpad-a/tab-a1/usage-{m1}.json"));
    let message = std::fs::read(&evidence).unwrap();
    let Ok(grappe_agent::wire::signed::Opened::Signed(signed)) =
        grappe_agent::wire::signed::Opened::read(&message)
    else {
        panic!("not signed");
    };
    {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        std::fs::write(dir.join("payload"), signed.report().unwrap()).unwrap();
        std::fs::write(dir.join("sig.der"), b64.decode(&signed.sig).unwrap()).unwrap();
        std::fs::write(dir.join("cert.der"), signed.certificate().unwrap()).unwrap();
    }
    let openssl = Command::new("sh")
        .arg("-c")
        .arg("openssl x509 -inform DER -in cert.der -pubkey -noout > pub.pem && openssl dgst -sha256 -verify pub.pem -signature sig.der payload")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&openssl.stdout).contains("Verified OK"),
        "{openssl:?}"
    );

    let refused = |copy: &Path, needles: &[&str]| {
        let (code, out) = fleet(&["verify", copy.to_str().unwrap()]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("NOT VERIFIED"), "{out}");
        for n in needles {
            assert!(out.contains(n), "{n:?} not in:\n{out}");
        }
    };
    // A file changed without SHA256SUMS: named.
    let copy = copy_of(&proof, "t-sums");
    replace_in(
        &copy.join("equipment.html"),
        "EHPAD Les Acacias",
        "EHPAD Les Accacias",
    );
    refused(
        &copy,
        &["equipment.html: its SHA-256 is not the one in SHA256SUMS"],
    );

    // A figure edited in each document, the checksums made again.
    let t = tampered(&proof, "t-csv", |p| {
        replace_in(
            &p.join("equipment.csv"),
            &format!("tab-a1;{m1};"),
            &format!("tab-a1;{m1};X"),
        )
    });
    refused(
        &t,
        &[
            "equipment.csv: structure ehpad-a, device tab-a1",
            "field fabricant: says \"X",
        ],
    );
    let t = tampered(&proof, "t-csv2", |p| {
        let path = p.join("equipment.csv");
        let text = std::fs::read_to_string(&path).unwrap();
        let line = text
            .lines()
            .find(|l| l.contains(&format!(";tab-a1;{m1};")))
            .unwrap();
        let mut fields: Vec<&str> = line.split(';').collect();
        fields[14] = "25";
        std::fs::write(&path, text.replace(line, &fields.join(";"))).unwrap();
    });
    refused(&t, &[&format!("equipment.csv: structure ehpad-a, device tab-a1, month {m1}, field jours_actif: says \"25\", the evidence gives \"20\"")]);
    let t = tampered(&proof, "t-json", |p| {
        replace_in(
            &p.join("equipment.json"),
            "\"days_active\": 35",
            "\"days_active\": 40",
        )
    });
    refused(&t, &["equipment.json: structures[ehpad-a].devices[tab-a1].totals.days_active: says 40, the evidence gives 35"]);
    let t = tampered(&proof, "t-html", |p| {
        replace_in(
            &p.join("equipment.html"),
            "data-k=\"d|ehpad-a|tab-a1|days_active\">35<",
            "data-k=\"d|ehpad-a|tab-a1|days_active\">45<",
        )
    });
    refused(&t, &["equipment.html: device tab-a1 (structure ehpad-a), field days_active: says \"45\", the evidence gives \"35\""]);

    // Evidence swapped between two devices.
    let t = tampered(&proof, "t-swap", |p| {
        let a = p.join(format!("evidence/ehpad-a/tab-a1/usage-{m1}.json"));
        let b = p.join(format!("evidence/ehpad-a/tab-a2/usage-{m1}.json"));
        let (ta, tb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        std::fs::write(&a, tb).unwrap();
        std::fs::write(&b, ta).unwrap();
    });
    refused(&t, &[&format!("evidence/ehpad-a/tab-a1/usage-{m1}.json: device tab-a1: the report says it is from {GRAPPE}/ehpad-a/tab-a2")]);

    // Re-signed with a certificate of another CA (same device name).
    let other = common::pki::Pki::new(dir, "other-ca");
    let forged = other.client("tab-a1");
    let t = tampered(&proof, "t-other-ca", |p| {
        let path = p.join(format!("evidence/ehpad-a/tab-a1/usage-{m1}.json"));
        let message = std::fs::read(&path).unwrap();
        std::fs::write(&path, resign(&message, &forged.cert, &forged.key)).unwrap();
    });
    refused(
        &t,
        &["device tab-a1: the certificate is not trusted: not issued by the grappe CA"],
    );

    // Signed by a genuine certificate of the grappe, issued to another device.
    let a2 = dir.join("tab-a2");
    let t = tampered(&proof, "t-other-device", |p| {
        let path = p.join(format!("evidence/ehpad-a/tab-a1/usage-{m1}.json"));
        let message = std::fs::read(&path).unwrap();
        std::fs::write(
            &path,
            resign(&message, &a2.join("device.pem"), &a2.join("device.key")),
        )
        .unwrap();
    });
    refused(
        &t,
        &["device tab-a1: the certificate was issued to \"tab-a2\", not to device \"tab-a1\""],
    );

    // A missing evidence file.
    let t = tampered(&proof, "t-missing", |p| {
        std::fs::remove_file(p.join(format!("evidence/ehpad-a/tab-a2/usage-{m2}.json"))).unwrap();
    });
    refused(&t, &[&format!("equipment.csv: a row for structure ehpad-a, device tab-a2, month {m2} that no evidence supports")]);
    let copy = copy_of(&proof, "t-missing-sums");
    std::fs::remove_file(copy.join(format!("evidence/ehpad-a/tab-a2/usage-{m2}.json"))).unwrap();
    refused(
        &copy,
        &[&format!(
            "evidence/ehpad-a/tab-a2/usage-{m2}.json: missing (listed in SHA256SUMS)"
        )],
    );

    // Another CA given as the one to trust.
    let (code, out) = fleet(&[
        "verify",
        proof.to_str().unwrap(),
        "--ca",
        other.ca_file("other-ca").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is not the CA given with --ca"), "{out}");
}
