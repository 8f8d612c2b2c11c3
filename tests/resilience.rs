//! The ways a device could go dark or lose reports without saying so, each tried on the
//! real agent binary against a real Mosquitto: a broker that refuses the device's
//! publishes, an identity that is not the certificate's, another client taking the
//! device's client id, and oversized messages on its command topics.

mod common;

use common::*;
use std::time::Duration;

const SECS: fn(u64) -> Duration = Duration::from_secs;
const OTHER_STRUCTURE: &str = "ehpad-other";

fn other_topic(device: &str, suffix: &str) -> String {
    format!("grappe/v1/{GRAPPE}/{OTHER_STRUCTURE}/{device}/{suffix}")
}

/// A structure the broker's ACL does not grant: MQTT 5 PUBACKs say "not authorized", the
/// reports stay spooled with the reason in the log and the heartbeat, and they are all
/// delivered, in order, once the ACL is fixed.
#[test]
fn reports_the_broker_refuses_stay_spooled_with_the_reason_until_it_takes_them() {
    let mut world = World::new(&["dev-r"]);
    // The heartbeat is granted, so that the operator can read the reason in it.
    world.broker.grant(&format!(
        "user dev-r\ntopic write {}\n",
        other_topic("dev-r", "heartbeat")
    ));
    let config = world.agent_config("dev-r", "[schedule]\nheartbeat = \"10s\"\n");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            &format!("structure = \"{STRUCTURE}\""),
            &format!("structure = \"{OTHER_STRUCTURE}\""),
        ),
    )
    .unwrap();

    let op = world.operator(&format!("grappe/v1/{GRAPPE}/#"));
    let service = Service::start(&world, &config);
    let heartbeat = op.wait_json(&other_topic("dev-r", "heartbeat"), SECS(40), |h| {
        h["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("NotAuthorized"))
    });
    assert_eq!(heartbeat["spooled"], 4, "{heartbeat}");
    assert!(
        heartbeat["last_error"].as_str().unwrap().contains("ACL"),
        "{heartbeat}"
    );
    let log = service.log();
    drop(service);
    assert!(
        log.contains("the broker refused report record 1: NotAuthorized"),
        "{log}"
    );
    let spooled = logged_spooled_seqs(&log);
    assert_eq!(spooled.len(), 4, "{log}");
    assert!(
        !op.messages()
            .iter()
            .any(|m| m.topic == other_topic("dev-r", "inventory")),
        "a refused report reached the operator"
    );

    // `--once` does not wait for its timeout when the broker refuses everything.
    let started = std::time::Instant::now();
    let (code, log) = run_once(&config, "60s");
    assert_eq!(code, 3, "{log}");
    assert!(log.contains("NotAuthorized"), "{log}");
    assert!(started.elapsed() < SECS(30), "{log}");
    let spooled_again = logged_spooled_seqs(&log);

    // The ACL fixed: everything spooled arrives, oldest first, nothing lost. (One operator
    // connection at a time: the broker names clients after their certificate.)
    drop(op);
    world.broker.grant(&format!(
        "user dev-r\ntopic write grappe/v1/{GRAPPE}/{OTHER_STRUCTURE}/dev-r/#\n"
    ));
    let op = world.operator(&format!("grappe/v1/{GRAPPE}/#"));
    let (code, log) = run_once(&config, "20s");
    assert_eq!(code, 0, "{log}");
    let last = *logged_spooled_seqs(&log).last().unwrap();
    let msgs = op.wait_for("the last report", SECS(10), |msgs| {
        msgs.iter().any(|m| {
            m.topic.starts_with(&other_topic("dev-r", ""))
                && m.json().get("seq").and_then(|s| s.as_u64()) == Some(last)
        })
    });
    let delivered: Vec<u64> = msgs
        .iter()
        .filter(|m| m.topic.starts_with(&other_topic("dev-r", "")))
        .filter_map(|m| m.json().get("seq").and_then(|s| s.as_u64()))
        .collect();
    for seq in spooled.iter().chain(&spooled_again) {
        assert!(delivered.contains(seq), "{seq} lost: {delivered:?}");
    }
    assert!(
        delivered.windows(2).all(|w| w[0] < w[1]),
        "out of order: {delivered:?}"
    );
}

/// `[identity] device` must be the certificate's common name: the broker knows the device
/// by it, and would refuse (or, over MQTT 3.1.1, silently drop) everything else.
#[test]
fn an_identity_that_is_not_the_certificates_is_refused_before_anything_runs() {
    let world = World::new(&["dev-a", "dev-b"]);
    let pair = world.pki.client("dev-a");
    let config = world.agent_config_with("dev-b", &world.pki.ca_file("ca"), &pair, "");

    let out = agent()
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("[identity] device"), "{stderr}");
    assert!(stderr.contains("\"dev-a\""), "{stderr}");

    let (code, log) = run_once(&config, "10s");
    assert_eq!(code, 2, "{log}");
    assert!(log.contains("[identity] device"), "{log}");
    assert!(
        !world.spool_dir("dev-b").exists(),
        "nothing may run with a wrong identity"
    );
}

/// A client with another device's certificate cannot take a device's place by asking for
/// its client id: the broker names clients after their certificate.
#[test]
fn another_certificate_cannot_take_over_the_devices_client_id() {
    let world = World::new(&["dev-a", "dev-b"]);
    let config = world.agent_config("dev-a", "");
    let op = world.operator(&topic("dev-a", "status"));
    let service = Service::start(&world, &config);
    op.wait_json(&topic("dev-a", "status"), SECS(15), |s| {
        s["state"] == "online"
    });

    let intruder = Operator::connect_as(&world, "dev-b", "dev-a", &topic("dev-b", "cmd/#"));
    std::thread::sleep(SECS(2));
    drop(intruder);
    let log = service.log();
    assert!(!log.contains("disconnected"), "{log}");
    assert!(
        !op.messages()
            .iter()
            .any(|m| m.topic == topic("dev-a", "status") && m.json()["state"] == "offline"),
        "the device was thrown off"
    );
    assert!(
        world.broker.log_text().contains("as dev-b"),
        "{}",
        world.broker.log_text()
    );
}

/// Messages larger than the agent takes, retained or not, on its command topics: the
/// broker keeps them from the agent, which stays connected and keeps reporting.
#[test]
fn oversized_messages_on_the_command_topics_do_not_cost_the_connection() {
    let world = World::new(&["dev-o"]);
    let op = world.operator(&format!("grappe/v1/{GRAPPE}/#"));
    let big = vec![b'x'; 200 * 1024];
    op.publish_retained(&topic("dev-o", "cmd/ping"), &big);
    let config = world.agent_config("dev-o", "[schedule]\nheartbeat = \"10s\"\n");
    let service = Service::start(&world, &config);
    op.wait_json(&topic("dev-o", "status"), SECS(15), |s| {
        s["state"] == "online"
    });
    op.publish(&topic("dev-o", "cmd/refresh"), &big);
    // Two heartbeats: the connection lived through both messages.
    op.wait_for("two heartbeats", SECS(30), |msgs| {
        msgs.iter()
            .filter(|m| m.topic == topic("dev-o", "heartbeat"))
            .count()
            >= 2
    });
    op.publish(&topic("dev-o", "cmd/ping"), br#"{"id":"after"}"#);
    let answer = op.wait_json(&topic("dev-o", "cmd-result"), SECS(10), |a| {
        a["id"] == "after"
    });
    assert_eq!(answer["ok"], true, "{answer}");
    let log = service.log();
    assert!(!log.contains("disconnected"), "{log}");
    assert_eq!(log.matches("connected to").count(), 1, "{log}");
}

/// A flipped bit (invalid UTF-8) or a directory in place of any state file: the agent
/// keeps working, delivers, and its first heartbeat says what was damaged.
#[test]
fn damaged_state_files_do_not_stop_the_agent_and_are_reported() {
    let world = World::new(&["dev-s"]);
    let config = world.agent_config("dev-s", "");
    let (code, log) = run_once(&config, "20s");
    assert_eq!(code, 0, "{log}");
    let state = world.path("state-dev-s");
    for file in [
        "spool/ledger",
        "state.json",
        "usage.json",
        "patches-memo.json",
    ] {
        let path = state.join(file);
        let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x80; // ASCII becomes invalid UTF-8
        std::fs::write(&path, bytes).unwrap();
    }
    let op = world.operator(&topic("dev-s", "#"));
    let (code, log) = run_once(&config, "20s");
    assert_eq!(code, 0, "{log}");
    let heartbeat = op.wait_json(&topic("dev-s", "heartbeat"), SECS(10), |_| true);
    let error = heartbeat["last_error"].as_str().unwrap_or_default();
    for what in ["spool ledger", "state", "usage ledger"] {
        assert!(error.contains(what), "{what} not reported: {heartbeat}");
    }
    assert!(heartbeat["corrupt"].as_u64() >= Some(1), "{heartbeat}");

    // A directory where the ledger was: still running, and it can write its ledger again.
    let ledger = state.join("spool/ledger");
    std::fs::remove_file(&ledger).unwrap();
    std::fs::create_dir(&ledger).unwrap();
    let (code, log) = run_once(&config, "20s");
    assert_eq!(code, 0, "{log}");
    assert!(ledger.is_file(), "{log}");
}

/// The disk fills up (by another program) while reports wait in the spool: the agent keeps
/// running, delivers what it holds, says in its heartbeat that the disk is full and how
/// many reports it could not store, and stores reports again once there is room.
#[test]
fn a_full_disk_neither_stops_the_agent_nor_loses_what_it_holds() {
    let mut world = World::new(&["dev-f"]);
    let state = world.path("state-dev-f");
    let Some(disk) = SmallDisk::mount(&state, 2 << 20) else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    // Inventory every 10 s: a report that could not be stored is tried at the next one.
    let config = world.agent_config(
        "dev-f",
        "[schedule]\nheartbeat = \"10s\"\ninventory = \"10s\"\n",
    );
    world.broker.stop();
    let (code, log) = run_once(&config, "2s");
    assert_eq!(code, 3, "{log}");
    let spooled = logged_spooled_seqs(&log);
    assert_eq!(spooled.len(), 4, "{log}");

    let filler = disk.fill();
    world.broker.restart();
    let op = world.operator(&topic("dev-f", "#"));
    let mut service = Service::start(&world, &config);
    // Everything spooled before the disk filled arrives, in order.
    let msgs = op.wait_for("the spooled reports", SECS(20), |msgs| {
        let seqs: Vec<u64> = msgs
            .iter()
            .filter_map(|m| m.json()["seq"].as_u64())
            .collect();
        spooled.iter().all(|s| seqs.contains(s))
    });
    let seqs: Vec<u64> = msgs
        .iter()
        .filter_map(|m| m.json()["seq"].as_u64())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // A refresh while the disk is full: the reports can be neither numbered (that needs a
    // write) nor stored; they are dropped, and counted in the heartbeat.
    op.publish(&topic("dev-f", "cmd/refresh"), b"");
    op.wait_json(&topic("dev-f", "heartbeat"), SECS(30), |h| {
        h["unstored"].as_u64() >= Some(4)
    });
    // Every heartbeat says so while the disk stays full, not only the first.
    let before = op.messages().len();
    op.wait_for("two heartbeats", SECS(30), |msgs| {
        let heartbeats: Vec<_> = msgs[before..]
            .iter()
            .filter(|m| m.topic == topic("dev-f", "heartbeat"))
            .collect();
        heartbeats.len() >= 2
            && heartbeats.iter().all(|h| {
                h.json()["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("No space left on device"))
            })
    });
    assert_eq!(
        service.wait(SECS(1)),
        None,
        "the agent stopped:\n{}",
        service.log()
    );

    // Room again: by itself, the agent stops reporting the problem (the next collection
    // writes its state), and reports are stored again.
    std::fs::remove_file(filler).unwrap();
    let before = op.messages().len();
    op.wait_for("a heartbeat without the disk problem", SECS(40), |msgs| {
        msgs[before..]
            .iter()
            .any(|m| m.topic == topic("dev-f", "heartbeat") && m.json().get("last_error").is_none())
    });
    let log = service.log();
    assert!(!log.contains("panicked"), "{log}");
    drop(service);
    let (code, log) = run_once(&config, "20s");
    assert_eq!(code, 0, "{log}");
    assert_eq!(logged_spooled_seqs(&log).len(), 4, "{log}");
    drop(disk);
}
