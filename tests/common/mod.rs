//! Test fixtures: a throwaway PKI, a real Mosquitto on a free loopback port with TLS,
//! client certificates and a per-device ACL, an operator client that reads what the IT
//! staff read, and the real agent binary with its own config and state directories.
//!
//! Nothing here talks to a broker it did not start, and nothing leaves loopback.
#![allow(dead_code)] // each test binary uses a different part of it

pub mod https;
pub mod pki;
#[cfg(feature = "fleet")]
pub mod sim;

use grappe_agent::wire::{Grants, Identity};
use pki::{Pair, Pki};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use serde_json::Value;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub const GRAPPE: &str = "grappe-test";
pub const STRUCTURE: &str = "ehpad-test";
pub const OPERATOR: &str = "operator-it";

/// A running Mosquitto that the test owns.
pub struct Broker {
    child: Option<Child>,
    pub port: u16,
    conf: PathBuf,
    log: PathBuf,
}

impl Broker {
    /// Starts Mosquitto with TLS on a free loopback port; `devices` get their own ACL block.
    pub fn start(dir: &Path, pki: &Pki, devices: &[&str]) -> Broker {
        let server = pki.server("broker");
        // The grants grappe-fleet writes: a test passing here passes under its ACL.
        let mut acl = Grants::operator(GRAPPE).acl_block(OPERATOR);
        for d in devices {
            let who = Identity {
                grappe: GRAPPE.into(),
                structure: STRUCTURE.into(),
                device: d.to_string(),
            };
            acl.push('\n');
            acl.push_str(&Grants::device(&who).acl_block(d));
        }
        std::fs::write(dir.join("acl"), acl).unwrap();
        let persistence = dir.join("broker-db");
        std::fs::create_dir_all(&persistence).unwrap();
        let log = dir.join("mosquitto.log");
        let mut broker = Broker {
            child: None,
            port: 0,
            conf: dir.join("mosquitto.conf"),
            log,
        };
        // A port found free can be taken before Mosquitto binds it: try a few.
        for _ in 0..5 {
            broker.port = free_port();
            // Started as root, Mosquitto drops to its own user unless told otherwise, and
            // that user cannot read keys in the test's private directory.
            let user = if unsafe { libc::geteuid() } == 0 {
                "user root\n"
            } else {
                ""
            };
            let conf = format!(
                "{user}per_listener_settings false\nallow_anonymous false\npersistence true\npersistence_location {}/\n\
                 log_dest file {}\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n\
                 connection_messages true\n\
                 listener {} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n\
                 use_identity_as_username true\nuse_username_as_clientid true\nacl_file {}\n",
                persistence.display(),
                broker.log.display(),
                broker.port,
                pki.ca_file("ca").display(),
                server.cert.display(),
                server.key.display(),
                dir.join("acl").display()
            );
            std::fs::write(&broker.conf, conf).unwrap();
            broker.spawn();
            if broker.wait_listening() {
                return broker;
            }
            broker.stop();
        }
        panic!("mosquitto did not start; log:\n{}", broker.log_text());
    }

    fn spawn(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto must be installed (apt-get install mosquitto)");
        self.child = Some(child);
    }

    fn wait_listening(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    return false; // exited: port taken or bad config
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Stops the broker abruptly (as a crash or a network cut would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, with its persisted retained messages.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Stops it as an administrator would (SIGTERM: Mosquitto saves its sessions and the
    /// messages queued for them).
    pub fn stop_gracefully(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again, on the same port, after a stop.
    pub fn start_again(&mut self) {
        self.spawn();
        assert!(
            self.wait_listening(),
            "mosquitto did not restart; log:\n{}",
            self.log_text()
        );
    }

    /// [`Broker::stop_gracefully`], then [`Broker::start_again`].
    pub fn restart_gracefully(&mut self) {
        self.stop_gracefully();
        self.start_again();
    }

    /// Adds lines to the ACL and restarts the broker so that they apply.
    pub fn grant(&mut self, acl_lines: &str) {
        let acl = self.conf.with_file_name("acl");
        let mut text = std::fs::read_to_string(&acl).unwrap();
        text.push_str(acl_lines);
        std::fs::write(&acl, text).unwrap();
        self.restart();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The month `back` months before the current one (UTC), "YYYY-MM".
pub fn month_before(back: i32) -> String {
    let today = time::OffsetDateTime::now_utc().date();
    let index = today.year() * 12 + today.month() as i32 - 1 - back;
    let month = time::Month::try_from((index.rem_euclid(12) + 1) as u8).unwrap();
    grappe_agent::wire::usage::period(index.div_euclid(12), month)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One test's world: a temp dir, a PKI, a broker and the agents' configs.
pub struct World {
    pub dir: tempfile::TempDir,
    pub pki: Pki,
    pub broker: Broker,
}

impl World {
    pub fn new(devices: &[&str]) -> World {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new(dir.path(), "ca");
        let broker = Broker::start(dir.path(), &pki, devices);
        World { dir, pki, broker }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes an agent config for `device` with its own spool and state; `extra` is
    /// appended (more sections or keys). Returns the config path.
    pub fn agent_config(&self, device: &str, extra: &str) -> PathBuf {
        let pair = self.pki.client(device);
        self.agent_config_with(device, &self.pki.ca_file("ca"), &pair, extra)
    }

    pub fn agent_config_with(&self, device: &str, ca: &Path, pair: &Pair, extra: &str) -> PathBuf {
        let state = self.path(&format!("state-{device}"));
        let text = format!(
            "[identity]\ngrappe = \"{GRAPPE}\"\nstructure = \"{STRUCTURE}\"\ndevice = \"{device}\"\n\n\
             [broker]\nurl = \"mqtts://127.0.0.1:{}\"\nca = {:?}\ncert = {:?}\nkey = {:?}\n\n\
             [spool]\ndir = {:?}\n\n[state]\ndir = {:?}\n{extra}",
            self.broker.port,
            ca,
            pair.cert,
            pair.key,
            state.join("spool"),
            state
        );
        let path = self.path(&format!("{device}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn spool_dir(&self, device: &str) -> PathBuf {
        self.path(&format!("state-{device}/spool"))
    }

    pub fn operator(&self, filter: &str) -> Operator {
        Operator::connect(self, filter)
    }
}

pub fn topic(device: &str, suffix: &str) -> String {
    format!("grappe/v1/{GRAPPE}/{STRUCTURE}/{device}/{suffix}")
}

/// Environment variable naming an emulator to start the agent binary with, words separated
/// by spaces, e.g. `qemu-aarch64 -L /usr/aarch64-linux-gnu`. Unset or empty: the binary is
/// run directly. `cross/test.sh` sets it when the tests themselves run under qemu-user:
/// without binfmt_misc the kernel cannot exec a foreign binary, not even from an emulated
/// test, while the host tools the tests start (mosquitto, dpkg-query) run natively.
pub const RUNNER_ENV: &str = "GRAPPE_TEST_RUNNER";

/// A command for `program`, prefixed with the emulator from [`RUNNER_ENV`] if there is one.
pub fn emulated(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let runner = std::env::var(RUNNER_ENV).unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(emulator) => {
            let mut cmd = Command::new(emulator);
            cmd.args(words).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// A factor for tests that aim at a moment of the agent's run (not for deadlines, which
/// have slack): 1 natively, 10 under the emulator of [`RUNNER_ENV`]. A debug agent
/// collects in about 50 ms natively and 1.8 s under qemu-aarch64 on x86_64; 10 spreads
/// moments meant for the first few hundred milliseconds over the first few seconds.
pub fn slowdown() -> u64 {
    match std::env::var(RUNNER_ENV) {
        Ok(runner) if !runner.trim().is_empty() => 10,
        _ => 1,
    }
}

/// The agent binary under test (through the emulator of [`RUNNER_ENV`], if set).
pub fn agent() -> Command {
    let mut cmd = emulated(env!("CARGO_BIN_EXE_grappe-agent"));
    cmd.env("RUST_LOG", "info")
        .env_remove(grappe_agent::config::PATH_ENV);
    cmd
}

/// A finished command's exit code (-1 if killed) and its stdout then stderr.
pub fn code_and_text(out: &std::process::Output) -> (i32, String) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Runs `grappe-agent run --once` and returns (exit code, stderr).
pub fn run_once(config: &Path, timeout: &str) -> (i32, String) {
    let out = agent()
        .args(["run", "--once", "--timeout", timeout, "--config"])
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The seqs of the reports an agent's log says it spooled, in order.
pub fn logged_spooled_seqs(log: &str) -> Vec<u64> {
    log.lines()
        .filter(|l| l.contains(" spooled ("))
        .filter_map(|l| l.split('#').nth(1)?.split_whitespace().next()?.parse().ok())
        .collect()
}

/// The reports' topic suffixes.
pub const REPORTS: [&str; 4] = ["inventory", "posture", "patches", "usage"];

/// The reports of `device` among `msgs`, in arrival order: (topic, seq).
pub fn received_reports(msgs: &[Msg], device: &str) -> Vec<(String, u64)> {
    msgs.iter()
        .filter(|m| {
            REPORTS
                .iter()
                .any(|k| m.topic.starts_with(&topic(device, k)))
        })
        .map(|m| (m.topic.clone(), m.json()["seq"].as_u64().unwrap()))
        .collect()
}

/// A message as an operator sees it.
#[derive(Debug, Clone)]
pub struct Msg {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

impl Msg {
    /// The payload as JSON; a signed report as the report it carries.
    pub fn json(&self) -> Value {
        let report = grappe_agent::wire::signed::Opened::read(&self.payload)
            .and_then(|opened| opened.report().map(|r| r.into_owned()));
        serde_json::from_slice(report.as_deref().unwrap_or(&self.payload)).unwrap_or_else(|e| {
            panic!(
                "{} is not JSON ({e}): {:?}",
                self.topic,
                String::from_utf8_lossy(&self.payload)
            )
        })
    }
}

/// An operator connected with its own certificate, recording every message it receives.
pub struct Operator {
    client: Client,
    msgs: Arc<(Mutex<Vec<Msg>>, Condvar)>,
    /// Set when dropped: the connection thread stops instead of reconnecting (the broker
    /// forces client id = certificate name, so a leftover would take a newer one's place).
    stopped: Arc<std::sync::atomic::AtomicBool>,
}

impl Operator {
    fn connect(world: &World, filter: &str) -> Operator {
        let client_id = format!("{OPERATOR}-{}", fastrand::u32(..));
        Operator::connect_as(world, OPERATOR, &client_id, filter)
    }

    /// A client with the certificate of `cn`, asking for `client_id`, subscribed to `filter`.
    pub fn connect_as(world: &World, cn: &str, client_id: &str, filter: &str) -> Operator {
        Operator::connect_with(world, cn, client_id, filter, true)
    }

    /// An operator whose session outlives its connection (clean session off): what is
    /// published while it is away, a broker restart included, reaches it when it is back.
    pub fn connect_persistent(world: &World, filter: &str) -> Operator {
        Operator::connect_with(world, OPERATOR, OPERATOR, filter, false)
    }

    fn connect_with(
        world: &World,
        cn: &str,
        client_id: &str,
        filter: &str,
        clean_session: bool,
    ) -> Operator {
        let pair = world.pki.client(cn);
        let ca = world.pki.ca_file("ca");
        let files = [ca.as_path(), &pair.cert, &pair.key];
        Operator::connect_files(files, world.broker.port, client_id, filter, clean_session)
    }

    /// A client of the broker on `port`, with the CA, certificate and key of `files`.
    pub fn connect_files(
        [ca, cert, key]: [&Path; 3],
        port: u16,
        client_id: &str,
        filter: &str,
        clean_session: bool,
    ) -> Operator {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(clean_session)
            .set_max_packet_size(1 << 20, 1 << 20);
        // The same loading and rustls setup as the agent's.
        let tls = grappe_agent::config::Tls::load(ca, cert, key).unwrap();
        let tls = tls.client_config().unwrap();
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls),
        )));
        let (client, mut connection) = Client::new(options, 64);
        client.subscribe(filter, QoS::AtLeastOnce).unwrap();
        let msgs: Arc<(Mutex<Vec<Msg>>, Condvar)> = Arc::default();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let sink = msgs.clone();
        let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = stopped.clone();
        std::thread::spawn(move || {
            for event in connection.iter() {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                match event {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let (lock, cvar) = &*sink;
                        lock.lock().unwrap().push(Msg {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        });
                        cvar.notify_all();
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(200)),
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("operator could not subscribe");
        Operator {
            client,
            msgs,
            stopped,
        }
    }

    pub fn publish(&self, topic: &str, payload: &[u8]) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
            .unwrap();
    }

    pub fn publish_retained(&self, topic: &str, payload: &[u8]) {
        self.client
            .publish(topic, QoS::AtLeastOnce, true, payload.to_vec())
            .unwrap();
    }

    /// Waits until `done` holds for the messages received so far; panics with them if not.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Msg]) -> bool,
    ) -> Vec<Msg> {
        let (lock, cvar) = &*self.msgs;
        let deadline = Instant::now() + timeout;
        let mut msgs = lock.lock().unwrap();
        while !done(&msgs) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let seen: Vec<_> = msgs
                    .iter()
                    .map(|m| {
                        format!(
                            "{} {}",
                            m.topic,
                            String::from_utf8_lossy(&m.payload)
                                .chars()
                                .take(160)
                                .collect::<String>()
                        )
                    })
                    .collect();
                panic!(
                    "timed out waiting for {what}; received:\n{}",
                    seen.join("\n")
                );
            }
            msgs = cvar.wait_timeout(msgs, left).unwrap().0;
        }
        msgs.clone()
    }

    /// Waits for a message on `topic` whose JSON satisfies `pred`, and returns it.
    pub fn wait_json(
        &self,
        topic: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let msgs = self.wait_for(topic, timeout, |msgs| {
            msgs.iter().any(|m| m.topic == topic && pred(&m.json()))
        });
        msgs.iter()
            .rev()
            .find(|m| m.topic == topic && pred(&m.json()))
            .unwrap()
            .json()
    }

    pub fn messages(&self) -> Vec<Msg> {
        self.msgs.0.lock().unwrap().clone()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.client.disconnect();
    }
}

/// A running agent service, killed when dropped.
pub struct Service {
    pub child: Child,
    pub stderr: PathBuf,
}

impl Service {
    pub fn start(world: &World, config: &Path) -> Service {
        Service::start_in(&world.path(""), config)
    }

    /// `grappe-agent run` with `config`, its log in `dir`.
    pub fn start_in(dir: &Path, config: &Path) -> Service {
        let stderr = dir.join(format!("agent-{}.log", fastrand::u32(..)));
        let child = agent()
            .arg("run")
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Service { child, stderr }
    }

    pub fn signal(&self, signal: i32) {
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small file system of its own (tmpfs), unmounted when dropped. Needs root.
pub struct SmallDisk {
    pub dir: std::path::PathBuf,
}

impl SmallDisk {
    pub fn mount(dir: &std::path::Path, bytes: u64) -> Option<SmallDisk> {
        use std::ffi::CString;
        std::fs::create_dir_all(dir).unwrap();
        let target = CString::new(dir.to_str().unwrap()).unwrap();
        let options = CString::new(format!("size={bytes},mode=0700")).unwrap();
        let fstype = CString::new("tmpfs").unwrap();
        // SAFETY: plain C strings that outlive the call.
        let rc = unsafe {
            libc::mount(
                fstype.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                options.as_ptr().cast(),
            )
        };
        (rc == 0).then(|| SmallDisk {
            dir: dir.to_path_buf(),
        })
    }

    /// Fills what is left with one file; returns its path.
    pub fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        while file.write_all(&block[..1]).is_ok() {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let target = std::ffi::CString::new(self.dir.to_str().unwrap()).unwrap();
        // SAFETY: a C string that outlives the call.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}
