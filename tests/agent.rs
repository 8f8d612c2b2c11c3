//! End to end: the real agent binary against a real Mosquitto (TLS, client certificates,
//! per-device ACL) that the test starts itself, read back as an operator reads it.

mod common;

use common::*;
use rustls_pki_types::pem::PemObject as _;
use serde_json::Value;
use std::time::{Duration, SystemTime};

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn current_period() -> String {
    let today = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}", today.year(), today.month() as u8)
}

fn report_topic(device: &str, kind: &str) -> String {
    match kind {
        "usage" => topic(device, &format!("usage/{}", current_period())),
        k => topic(device, k),
    }
}

fn check_envelope(report: &Value, kind: &str, device: &str) {
    let schema = grappe_agent::wire::Kind::from_name(kind).unwrap().schema();
    assert_eq!(report["schema"], schema, "{report}");
    assert_eq!(report["grappe"], GRAPPE);
    assert_eq!(report["structure"], STRUCTURE);
    assert_eq!(report["device"], device);
    assert_eq!(report["agent_version"], env!("CARGO_PKG_VERSION"));
    assert!(report["seq"].as_u64().unwrap() > 0);
    assert!(report["collected_at"].as_str().unwrap().ends_with('Z'));
    assert!(report["data"].is_object(), "{report}");
}

#[test]
fn once_publishes_every_report_retained_and_exits_0() {
    let world = World::new(&["dev-a"]);
    let config = world.agent_config("dev-a", "");
    let (code, log) = run_once(&config, "20s");
    assert_eq!(code, 0, "{log}");

    // An operator connecting afterwards sees the retained state.
    let op = world.operator(&format!("grappe/v1/{GRAPPE}/#"));
    let msgs = op.wait_for("retained reports", SECS(10), |msgs| {
        REPORTS.iter().all(|k| {
            msgs.iter()
                .any(|m| m.topic == report_topic("dev-a", k) && m.retain)
        }) && msgs.iter().any(|m| m.topic == topic("dev-a", "status"))
    });
    for kind in REPORTS {
        let report = msgs
            .iter()
            .find(|m| m.topic == report_topic("dev-a", kind))
            .unwrap()
            .json();
        check_envelope(&report, kind, "dev-a");
    }
    let posture = msgs
        .iter()
        .find(|m| m.topic == topic("dev-a", "posture"))
        .unwrap()
        .json();
    assert!(posture["data"]["checks"].as_array().unwrap().len() >= 20);

    // The usage report is signed by the device key, on the exact bytes it carries, and
    // says how the equipment stood (the reports collected before it in the cycle).
    let usage = msgs
        .iter()
        .find(|m| m.topic == report_topic("dev-a", "usage"))
        .unwrap();
    let opened = grappe_agent::wire::signed::Opened::read(&usage.payload).unwrap();
    let grappe_agent::wire::signed::Opened::Signed(signed) = opened else {
        panic!(
            "usage not signed: {}",
            String::from_utf8_lossy(&usage.payload)
        );
    };
    assert_eq!(signed.alg, "ecdsa-p256-sha256");
    let ca_der = rustls_pki_types::CertificateDer::from_pem_file(world.pki.ca_file("ca")).unwrap();
    let anchor = webpki::anchor_from_trusted_cert(&ca_der).unwrap();
    let signer = signed.verify(&[anchor], SystemTime::now()).unwrap();
    assert_eq!(signer.subject.common_name.as_deref(), Some("dev-a"));
    let data = &usage.json()["data"];
    assert_eq!(data["active_rule"], "local-session+display-lit");
    assert!(data["equipment"]["posture"]["score"].is_u64(), "{data}");
    assert!(data["equipment"]["board"].is_object(), "{data}");
    let status = msgs
        .iter()
        .find(|m| m.topic == topic("dev-a", "status"))
        .unwrap()
        .json();
    assert_eq!(
        status["state"], "offline",
        "--once ends with a clean offline status"
    );
    assert_eq!(status["reason"], "shutdown");
    let mut seqs: Vec<u64> = REPORTS
        .iter()
        .map(|k| {
            msgs.iter()
                .find(|m| m.topic == report_topic("dev-a", k))
                .unwrap()
                .json()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    seqs.sort();
    seqs.dedup();
    assert_eq!(seqs.len(), 4, "every report has its own seq");

    // A second cycle continues the numbering.
    let (code, log) = run_once(&config, "20s");
    assert_eq!(code, 0, "{log}");
    let first_max = *seqs.last().unwrap();
    op.wait_json(&topic("dev-a", "posture"), SECS(10), |r| {
        r["seq"].as_u64().unwrap() > first_max
    });
}

#[test]
fn service_goes_online_answers_commands_and_leaves_its_last_will_when_killed() {
    let world = World::new(&["dev-b"]);
    let config = world.agent_config("dev-b", "");
    let op = world.operator(&format!("grappe/v1/{GRAPPE}/#"));
    let service = Service::start(&world, &config);

    let online = op.wait_json(&topic("dev-b", "status"), SECS(15), |s| {
        s["state"] == "online"
    });
    // The certificate's expiry, for the fleet to warn before the device is locked out.
    let not_after = online["cert_not_after"].as_str().unwrap_or_default();
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    assert!(
        not_after.len() == now.len() && not_after.ends_with('Z') && *not_after > *now,
        "{online}"
    );
    let msgs = op.wait_for("the four reports", SECS(20), |msgs| {
        REPORTS
            .iter()
            .all(|k| msgs.iter().any(|m| m.topic == report_topic("dev-b", k)))
    });
    let before = received_reports(&msgs, "dev-b")
        .iter()
        .map(|(_, s)| *s)
        .max()
        .unwrap();

    // ping, with an id to match the answer.
    op.publish(&topic("dev-b", "cmd/ping"), br#"{"id":"t-1"}"#);
    let answer = op.wait_json(&topic("dev-b", "cmd-result"), SECS(10), |a| {
        a["id"] == "t-1"
    });
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["command"], "ping");

    // Unknown commands and malformed payloads are refused, and the agent carries on.
    op.publish(&topic("dev-b", "cmd/exec"), br#"{"id":"t-2"}"#);
    let answer = op.wait_json(&topic("dev-b", "cmd-result"), SECS(10), |a| {
        a["id"] == "t-2"
    });
    assert_eq!(answer["ok"], false);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("unknown command"),
        "{answer}"
    );
    op.publish(&topic("dev-b", "cmd/ping"), b"rm -rf /");
    op.wait_json(&topic("dev-b", "cmd-result"), SECS(10), |a| {
        a["ok"] == false && a["error"].as_str().unwrap_or("").contains("JSON object")
    });
    op.publish(&topic("dev-b", "cmd/update-check"), b"");
    op.wait_json(&topic("dev-b", "cmd-result"), SECS(10), |a| {
        a["command"] == "update-check" && a["ok"] == false
    });

    // refresh republishes everything now, with new sequence numbers.
    op.publish(&topic("dev-b", "cmd/refresh"), br#"{"id":"t-3"}"#);
    op.wait_json(&topic("dev-b", "cmd-result"), SECS(10), |a| {
        a["id"] == "t-3" && a["ok"] == true
    });
    op.wait_for("refreshed reports", SECS(10), |msgs| {
        REPORTS.iter().all(|k| {
            received_reports(msgs, "dev-b")
                .iter()
                .any(|(t, s)| *t == report_topic("dev-b", k) && *s > before)
        })
    });
    // A second refresh right away is refused (a flood of refreshes must not load the device).
    op.publish(&topic("dev-b", "cmd/refresh"), br#"{"id":"t-4"}"#);
    let answer = op.wait_json(&topic("dev-b", "cmd-result"), SECS(10), |a| {
        a["id"] == "t-4"
    });
    assert_eq!(answer["ok"], false, "{answer}");

    // Killed without warning: the broker publishes the Last Will, retained.
    service.signal(libc::SIGKILL);
    let will = op.wait_json(&topic("dev-b", "status"), SECS(10), |s| {
        s["state"] == "offline"
    });
    assert_eq!(will["reason"], "connection lost");
    // The will keeps what the fleet must know of a vanished device: its certificate's end.
    assert!(
        will["cert_not_after"]
            .as_str()
            .is_some_and(|t| t.len() == 20),
        "{will}"
    );
    assert!(
        service.log().contains("command refused"),
        "refusals are logged:\n{}",
        service.log()
    );
}

#[test]
fn sigterm_publishes_offline_and_exits_0() {
    let world = World::new(&["dev-c"]);
    let config = world.agent_config("dev-c", "");
    let op = world.operator(&topic("dev-c", "status"));
    let mut service = Service::start(&world, &config);
    op.wait_json(&topic("dev-c", "status"), SECS(15), |s| {
        s["state"] == "online"
    });
    service.signal(libc::SIGTERM);
    assert_eq!(service.wait(SECS(10)), Some(0), "{}", service.log());
    let status = op.wait_json(&topic("dev-c", "status"), SECS(5), |s| {
        s["state"] == "offline"
    });
    assert_eq!(status["reason"], "shutdown");
}

#[test]
fn a_retained_command_is_not_run_again_at_each_connection() {
    let world = World::new(&["dev-r"]);
    let config = world.agent_config("dev-r", "");
    let op = world.operator(&format!("grappe/v1/{GRAPPE}/#"));
    op.publish_retained(&topic("dev-r", "cmd/ping"), br#"{"id":"stale"}"#);
    let service = Service::start(&world, &config);
    op.wait_json(&topic("dev-r", "status"), SECS(15), |s| {
        s["state"] == "online"
    });
    op.publish(&topic("dev-r", "cmd/ping"), br#"{"id":"live"}"#);
    op.wait_json(&topic("dev-r", "cmd-result"), SECS(10), |a| {
        a["id"] == "live"
    });
    let answers: Vec<Value> = op
        .messages()
        .iter()
        .filter(|m| m.topic == topic("dev-r", "cmd-result"))
        .map(Msg::json)
        .collect();
    assert!(
        answers.iter().all(|a| a["id"] != "stale"),
        "a retained command was run: {answers:?}"
    );
    assert!(
        service.log().contains("ignoring a retained message"),
        "{}",
        service.log()
    );
}

#[test]
fn broker_down_spools_with_exit_3_then_delivers_everything_in_order() {
    let mut world = World::new(&["dev-d"]);
    let config = world.agent_config("dev-d", "");
    world.broker.stop();

    let mut spooled = Vec::new();
    for _ in 0..2 {
        let (code, log) = run_once(&config, "2s");
        assert_eq!(
            code, 3,
            "reports must stay spooled while the broker is down:\n{log}"
        );
        assert!(log.contains("stay in the spool"), "{log}");
        spooled.extend(logged_spooled_seqs(&log));
    }
    assert_eq!(spooled.len(), 8);

    // Back: the 8 spooled reports and the third cycle's 4, none lost, in the order they
    // were made (seqs are reserved in blocks, so each run starts above the last block).
    let (_op, delivered, third) = restart_broker_and_deliver(&mut world, &config, "dev-d");
    spooled.extend(third);
    assert_eq!(delivered, spooled);
}

#[test]
fn a_running_agent_reconnects_after_a_broker_restart() {
    let mut world = World::new(&["dev-e"]);
    let config = world.agent_config("dev-e", "");
    let service = Service::start(&world, &config);
    {
        let op = world.operator(&topic("dev-e", "status"));
        op.wait_json(&topic("dev-e", "status"), SECS(15), |s| {
            s["state"] == "online"
        });
    }
    world.broker.stop();
    std::thread::sleep(SECS(1));
    world.broker.restart();
    let op = world.operator(&format!("grappe/v1/{GRAPPE}/#"));
    // The agent comes back by itself: it says online again and answers commands.
    let deadline = std::time::Instant::now() + SECS(30);
    loop {
        op.publish(&topic("dev-e", "cmd/ping"), br#"{"id":"back"}"#);
        if op
            .messages()
            .iter()
            .any(|m| m.topic == topic("dev-e", "cmd-result"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no answer after the restart:\n{}",
            service.log()
        );
        std::thread::sleep(SECS(1));
    }
    let status = op.wait_json(&topic("dev-e", "status"), SECS(5), |s| {
        s["state"] == "online"
    });
    assert_eq!(status["agent_version"], env!("CARGO_PKG_VERSION"));
    assert!(
        service.log().contains("reconnecting") || service.log().contains("retrying"),
        "{}",
        service.log()
    );
}

#[test]
fn a_wrong_ca_is_refused_and_reports_stay_spooled() {
    let world = World::new(&["dev-f"]);
    let rogue = common::pki::Pki::new(&world.path(""), "rogue-ca");
    let config = world.agent_config_with(
        "dev-f",
        &rogue.ca_file("rogue-ca"),
        &world.pki.client("dev-f"),
        "",
    );
    let (code, log) = run_once(&config, "2s");
    assert_eq!(code, 3, "{log}");
    assert!(log.contains("TLS"), "the log says why: {log}");
}

#[test]
fn an_expired_client_certificate_is_named_by_check_config_and_refused_by_the_broker() {
    let world = World::new(&["dev-g"]);
    let now = time::OffsetDateTime::now_utc();
    let expired = world.pki.client_valid(
        "dev-g",
        now - time::Duration::days(400),
        now - time::Duration::days(1),
    );
    let config = world.agent_config_with("dev-g", &world.pki.ca_file("ca"), &expired, "");
    let out = agent()
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[broker] cert") && stderr.contains("expired"),
        "{stderr}"
    );

    let (code, log) = run_once(&config, "2s");
    assert_eq!(code, 3, "{log}");
    assert!(log.contains("expired"), "{log}");
}

#[test]
fn check_config_accepts_a_good_config_and_names_what_is_wrong_otherwise() {
    let world = World::new(&["dev-h"]);
    let config = world.agent_config("dev-h", "");
    let out = agent()
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));

    let text = std::fs::read_to_string(&config).unwrap();
    for (broken, expect) in [
        (text.replace("[spool]", "[spool]\nmax_byte = 1"), "max_byte"),
        (text.replace("mqtts://", "mqtt://"), "[broker] url"),
        (
            text.replace("device = \"dev-h\"", "device = \"Dev H\""),
            "[identity] device",
        ),
        (text.replace(".key\"", ".missing\""), "[broker] key"),
    ] {
        std::fs::write(&config, &broken).unwrap();
        let out = agent()
            .args(["check-config", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{broken}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expect), "expected {expect:?} in {stderr}");
        // run refuses it the same way, with the exit status systemd will not restart on.
        let (code, log) = run_once(&config, "1s");
        assert_eq!(code, 2, "{log}");
    }
    let out = agent()
        .args(["check-config", "--config", "/nonexistent/agent.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The seqs the agent logged as safely spooled ("... report #N spooled").
/// Brings the broker back and runs one cycle. Returns the operator (subscribed before the
/// cycle), the seqs of the reports it received in arrival order once the cycle's newest
/// report arrived, and the seqs this cycle spooled.
fn restart_broker_and_deliver(
    world: &mut World,
    config: &std::path::Path,
    device: &str,
) -> (Operator, Vec<u64>, Vec<u64>) {
    world.broker.restart();
    let op = world.operator(&format!("grappe/v1/{GRAPPE}/#"));
    let (code, log) = run_once(config, "20s");
    assert_eq!(code, 0, "{log}");
    let cycle = logged_spooled_seqs(&log);
    let last = *cycle.last().expect("the cycle spooled its reports");
    let msgs = op.wait_for("the cycle's newest report", SECS(10), |msgs| {
        received_reports(msgs, device)
            .iter()
            .any(|(_, s)| *s == last)
    });
    let delivered: Vec<u64> = received_reports(&msgs, device)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert!(
        delivered.windows(2).all(|w| w[0] < w[1]),
        "delivered out of order: {delivered:?}"
    );
    (op, delivered, cycle)
}

fn heartbeat_after_connect(op: &Operator, device: &str) -> Value {
    op.wait_json(&topic(device, "heartbeat"), SECS(10), |_| true)
}

#[test]
fn sigkill_while_spooling_loses_nothing_that_was_spooled() {
    let mut world = World::new(&["dev-k"]);
    let config = world.agent_config("dev-k", "");
    world.broker.stop();
    let mut spooled = Vec::new();
    for round in 0..8u64 {
        let log_path = world.path(&format!("killed-{round}.log"));
        let mut child = agent()
            .args(["run", "--once", "--timeout", "30s", "--config"])
            .arg(&config)
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap();
        // Kill at a different moment each round: before, during and after the writes
        // (spread wider under emulation, where the agent takes that much longer to get there).
        let ms = 5 + round * 50 + fastrand::u64(0..30);
        std::thread::sleep(Duration::from_millis(ms * slowdown()));
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        child.wait().unwrap();
        spooled.extend(logged_spooled_seqs(
            &std::fs::read_to_string(&log_path).unwrap(),
        ));
    }
    assert!(
        !spooled.is_empty(),
        "no round got as far as spooling a report; kill later"
    );

    let (_op, delivered, _) = restart_broker_and_deliver(&mut world, &config, "dev-k");
    for seq in &spooled {
        assert!(
            delivered.contains(seq),
            "report #{seq} was spooled before the kill but never delivered: {delivered:?}"
        );
    }
}

#[test]
fn a_corrupt_spool_record_is_skipped_counted_and_the_rest_delivered() {
    let mut world = World::new(&["dev-l"]);
    let config = world.agent_config("dev-l", "");
    world.broker.stop();
    let (code, first_log) = run_once(&config, "1s");
    assert_eq!(code, 3, "{first_log}");
    let first = logged_spooled_seqs(&first_log);
    assert_eq!(first.len(), 4, "{first_log}");

    // Flip a byte inside the posture report on disk.
    let segment = std::fs::read_dir(world.spool_dir("dev-l"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .expect("a spool segment");
    let mut bytes = std::fs::read(&segment).unwrap();
    let needle = b"grappe-agent/posture/1";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the posture report in the segment");
    bytes[at + 5] ^= 0x20;
    std::fs::write(&segment, &bytes).unwrap();

    let (op, delivered, second) = restart_broker_and_deliver(&mut world, &config, "dev-l");
    assert_eq!(second.len(), 4);
    let posture_seq = first[1]; // inventory, posture, patches, usage: spooled in that order
    assert!(
        !delivered.contains(&posture_seq),
        "the corrupt record was delivered: {delivered:?}"
    );
    for seq in first.iter().filter(|s| **s != posture_seq) {
        assert!(
            delivered.contains(seq),
            "#{seq} lost with its corrupt neighbour: {delivered:?}"
        );
    }
    let heartbeat = heartbeat_after_connect(&op, "dev-l");
    assert_eq!(heartbeat["corrupt"], 1, "{heartbeat}");
}

#[test]
fn a_spool_over_its_limit_drops_the_oldest_and_counts_them() {
    let mut world = World::new(&["dev-m"]);
    let config = world.agent_config("dev-m", "");
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("[spool]\n", "[spool]\nmax_bytes = 65536\n"),
    )
    .unwrap();
    world.broker.stop();
    let mut spooled = Vec::new();
    for _ in 0..12 {
        let (code, log) = run_once(&config, "1s");
        assert_eq!(code, 3, "{log}");
        spooled.extend(logged_spooled_seqs(&log));
    }
    let on_disk: u64 = std::fs::read_dir(world.spool_dir("dev-m"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(
        on_disk <= 65536,
        "the spool holds {on_disk} bytes, over its 65536-byte limit"
    );

    let (op, delivered, _) = restart_broker_and_deliver(&mut world, &config, "dev-m");
    assert!(
        !delivered.contains(&spooled[0]),
        "the oldest report should have been dropped"
    );
    assert!(
        delivered.contains(spooled.last().unwrap()),
        "the newest spooled report must survive"
    );
    let heartbeat = heartbeat_after_connect(&op, "dev-m");
    let dropped = heartbeat["dropped"].as_u64().unwrap();
    assert!(dropped > 0, "{heartbeat}");
    let delivered_old = delivered.iter().filter(|s| spooled.contains(s)).count() as u64;
    assert_eq!(
        delivered_old + dropped,
        spooled.len() as u64,
        "every spooled report is delivered or counted as dropped"
    );
}
