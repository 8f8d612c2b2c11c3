//! grappe-fleet end to end: `pki` enrols a broker, an operator and devices (one with a key
//! made here, one from a CSR made with openssl), `broker-config` writes the Mosquitto
//! configuration, and a real Mosquitto started on it from free loopback ports takes real
//! agents in, keeps each in its lane, and refuses what it must.

mod common;

use common::{free_port, Operator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const GRAPPE: &str = "grappe-e2e";

fn fleet(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_grappe-fleet"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
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
    Command::new("mosquitto_pub")
        .args(["-h", "localhost", "-p", &port.to_string(), "-q", "1", "-t"])
        .arg(format!("grappe/v1/{GRAPPE}/probe"))
        .args(["-m", "x", "--cafile"])
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

#[test]
fn enrolled_devices_report_and_each_stays_in_its_lane() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
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
    // Issued after broker-config: the configuration is written again with them.
    for (device, extra) in [("dev-a1", &["--serial", "SN-0001"][..]), ("dev-a2", &[])] {
        let out = path(device);
        let mut args = vec![
            "pki",
            "--dir",
            &pki,
            "issue-device",
            "--structure",
            "ehpad-a",
        ];
        args.extend(["--device", device, "--out", &out]);
        args.extend(extra);
        fleet_ok(&args);
    }
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
