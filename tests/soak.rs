//! Soak: the real agent and a real Mosquitto through a few minutes of everything at once
//! (broker restarts, `kill -9` of the agent, a disk that fills up and frees again, floods
//! of commands, runs while the broker is away), in a random order printed with its seed.
//! Then every report number the agent gave out is checked: delivered once or more, first
//! arrivals in order, or counted lost by the agent itself. Prints the figures.
//!
//!   GRAPPE_SOAK_SECS=600 cargo test --test soak -- --nocapture   # longer
//!   GRAPPE_SOAK_SEED=1234 cargo test --test soak                 # replay an order
//!
//! The broker is restarted the way an administrator does (SIGTERM): Mosquitto then saves
//! what it acknowledged and the messages queued for the operator's session. A broker
//! killed outright loses what it acknowledged since its last save, which no client can
//! tell; `tests/agent.rs` covers that case for the agent's connection.
//! Under an emulator (aarch64 and armv7 runs) the soak is skipped: it tests the agent's
//! logic, which is the same there, and would take most of the emulated run's time.

mod common;

use common::*;
use serde_json::Value;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const DEVICE: &str = "dev-soak";
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// What happened during the soak.
#[derive(Debug, Default)]
struct Tally {
    agents_started: u32,
    agents_killed: u32,
    once_runs: u32,
    broker_restarts: u32,
    broker_outages: u32,
    disk_fills: u32,
    commands_sent: u32,
}

/// The agent under test, with the logs of all its past lives.
struct Agent {
    config: PathBuf,
    running: Option<Service>,
    logs: Vec<String>,
}

impl Agent {
    fn start(&mut self, world: &World, tally: &mut Tally) {
        if self.running.is_none() {
            self.running = Some(Service::start(world, &self.config));
            tally.agents_started += 1;
        }
    }

    fn kill(&mut self, tally: &mut Tally) {
        if let Some(mut service) = self.running.take() {
            service.signal(libc::SIGKILL);
            service.wait(SECS(10));
            self.logs.push(service.log());
            tally.agents_killed += 1;
        }
    }

    /// Stops it cleanly (SIGTERM) and keeps its log.
    fn stop(&mut self) {
        if let Some(mut service) = self.running.take() {
            service.signal(libc::SIGTERM);
            assert_eq!(service.wait(SECS(30)), Some(0), "{}", service.log());
            self.logs.push(service.log());
        }
    }
}

/// A burst of commands, as a misbehaving script would send: refreshes (one is run, the
/// others refused as too soon), pings, unknown and malformed ones, an oversized one.
fn flood(op: &Operator, rng: &mut fastrand::Rng, tally: &mut Tally) {
    let cmd = |name: &str| topic(DEVICE, &format!("cmd/{name}"));
    for i in 0..rng.u32(10..40) {
        let (name, payload): (&str, Vec<u8>) = match rng.u8(0..6) {
            0 | 1 => ("refresh", format!("{{\"id\":\"r{i}\"}}").into_bytes()),
            2 => ("ping", Vec::new()),
            3 => ("reboot", b"{}".to_vec()),
            4 => ("ping", b"{not json".to_vec()),
            _ => ("refresh", vec![b'x'; rng.usize(600..200_000)]),
        };
        op.publish(&cmd(name), &payload);
        tally.commands_sent += 1;
    }
}

fn seed() -> u64 {
    std::env::var("GRAPPE_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..))
}

#[test]
fn soak_every_report_is_delivered_in_order_or_counted_lost() {
    if slowdown() > 1 {
        eprintln!("skipped under an emulator: the soak runs on the host suite");
        return;
    }
    let budget = SECS(
        std::env::var("GRAPPE_SOAK_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(120),
    );
    let seed = seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut world = World::new(&[DEVICE]);
    // The state directory (spool included) on a small disk of its own, to fill up.
    let disk = SmallDisk::mount(&world.path(&format!("state-{DEVICE}")), 8 << 20);
    let config = world.agent_config(DEVICE, "[schedule]\nheartbeat = \"10s\"\n");
    let op = Operator::connect_persistent(&world, &format!("grappe/v1/{GRAPPE}/#"));
    let mut agent = Agent {
        config,
        running: None,
        logs: Vec::new(),
    };
    let mut tally = Tally::default();
    let mut filler: Option<PathBuf> = None;
    let started = Instant::now();

    while started.elapsed() < budget {
        match rng.u8(0..10) {
            // The agent starts and is sent commands, or is killed at a random moment
            // (while collecting, spooling, delivering).
            0..=2 => {
                agent.start(&world, &mut tally);
                std::thread::sleep(Duration::from_millis(rng.u64(200..1500)));
                flood(&op, &mut rng, &mut tally);
            }
            3 | 4 => agent.kill(&mut tally),
            // The broker restarts under load.
            5 | 6 => {
                world.broker.restart_gracefully();
                tally.broker_restarts += 1;
            }
            // The broker is away for a while: one-shot runs spool their reports (one of
            // them killed on its way).
            7 => {
                agent.kill(&mut tally);
                world.broker.stop_gracefully();
                tally.broker_outages += 1;
                for _ in 0..rng.u32(1..4) {
                    let log = world.path(&format!("once-{}.log", tally.once_runs));
                    let mut child = agent_once(&agent.config, &log);
                    if rng.bool() {
                        std::thread::sleep(Duration::from_millis(rng.u64(5..600)));
                        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
                    }
                    child.wait().unwrap();
                    agent
                        .logs
                        .push(std::fs::read_to_string(&log).unwrap_or_default());
                    tally.once_runs += 1;
                }
                world.broker.start_again();
            }
            // The disk fills up (another program) or is freed again.
            _ => match (&disk, filler.take()) {
                (Some(disk), None) => {
                    filler = Some(disk.fill());
                    tally.disk_fills += 1;
                }
                (_, Some(path)) => std::fs::remove_file(path).unwrap(),
                (None, None) => {}
            },
        }
        std::thread::sleep(Duration::from_millis(rng.u64(100..1000)));
    }

    // Room again, the broker up, the agent running: everything it holds must arrive.
    if let Some(path) = filler.take() {
        std::fs::remove_file(path).unwrap();
    }
    agent.start(&world, &mut tally);
    // Whatever a killed agent had in flight has arrived by now; the new one's first
    // heartbeat comes after 10 s.
    std::thread::sleep(SECS(2));
    let drained_from = op.messages().len();
    op.wait_for("a heartbeat with the spool empty", SECS(120), |msgs| {
        msgs[drained_from..]
            .iter()
            .any(|m| m.topic == topic(DEVICE, "heartbeat") && m.json().get("spooled").is_none())
    });
    agent.stop();
    // What was sent last reaches the operator (the broker acknowledged it already).
    std::thread::sleep(SECS(1));

    let msgs = op.messages();
    let arrivals: Vec<u64> = received_reports(&msgs, DEVICE)
        .into_iter()
        .map(|(_, seq)| seq)
        .collect();
    let mut delivered = HashSet::new();
    let mut first_arrivals = Vec::new();
    for seq in &arrivals {
        if delivered.insert(*seq) {
            first_arrivals.push(*seq);
        }
    }
    let spooled: Vec<u64> = agent
        .logs
        .iter()
        .flat_map(|log| logged_spooled_seqs(log))
        .collect();
    let heartbeats: Vec<Value> = msgs
        .iter()
        .filter(|m| m.topic == topic(DEVICE, "heartbeat"))
        .map(|m| m.json())
        .collect();
    let counter = |name: &str| {
        heartbeats
            .iter()
            .filter_map(|h| h.get(name)?.as_u64())
            .max()
            .unwrap_or(0)
    };
    // The spool's counters (dropped: over its limit; corrupt: records found damaged) are
    // kept across restarts; `unstored` (reports given up on, disk full: no number could be
    // reserved, or the spool could not store one) is the agent's own, so its log says each.
    let (dropped, corrupt) = (counter("dropped"), counter("corrupt"));
    let unstored: usize = agent
        .logs
        .iter()
        .map(|log| {
            log.matches("cannot store the").count()
                + log.matches("cannot reserve report numbers").count()
        })
        .sum();
    let disk_full_errors: usize = agent
        .logs
        .iter()
        .map(|log| log.matches("No space left").count())
        .sum();
    let missing: Vec<u64> = spooled
        .iter()
        .copied()
        .filter(|seq| !delivered.contains(seq))
        .collect();
    let duplicates = arrivals.len() - first_arrivals.len();

    eprintln!(
        "soak: {:.0} s, seed {seed} (GRAPPE_SOAK_SEED={seed} to replay)\n\
         {tally:?}\n\
         reports spooled (as logged): {}; delivered: {} distinct, {} duplicates (QoS 1 after a kill or restart); \
         spooled but not delivered: {}; counted by the agent: dropped {dropped}, corrupt {corrupt}, not stored (disk full) {unstored}; \
         agent errors saying the disk is full: {disk_full_errors}; heartbeats: {}",
        started.elapsed().as_secs_f64(),
        spooled.len(),
        delivered.len(),
        duplicates,
        missing.len(),
        heartbeats.len(),
    );
    if disk.is_none() {
        eprintln!("soak: the disk-full part was skipped (mounting a tmpfs needs root)");
    }

    assert!(
        spooled.len() >= 8 && tally.agents_killed > 0 && tally.broker_restarts > 0,
        "the soak did too little to prove anything (seed {seed}): {tally:?}, {} spooled",
        spooled.len()
    );
    assert!(
        first_arrivals.windows(2).all(|w| w[0] < w[1]),
        "reports arrived out of order (seed {seed}): {first_arrivals:?}"
    );
    assert!(
        missing.len() as u64 <= dropped + corrupt,
        "reports spooled but neither delivered nor counted lost (seed {seed}): {missing:?}; \
         dropped {dropped}, corrupt {corrupt}"
    );
    let agent_errors: Vec<&str> = agent
        .logs
        .iter()
        .flat_map(|log| log.lines())
        .filter(|l| l.contains("panicked"))
        .collect();
    assert!(
        agent_errors.is_empty(),
        "the agent panicked: {agent_errors:?}"
    );
}

/// `run --once` with its log in `log` (it exits 3 with the broker away).
fn agent_once(config: &std::path::Path, log: &std::path::Path) -> std::process::Child {
    agent()
        .args(["run", "--once", "--timeout", "3s", "--config"])
        .arg(config)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}
