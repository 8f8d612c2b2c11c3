//! The service: collects on schedule, stores every report in the spool, delivers the spool
//! in order over the transport, and answers operator commands.
//!
//! Everything runs in one task around one `select!`, so the agent's state needs no locks:
//! timers, transport events and signals are handled one at a time. The transport runs in
//! its own task and only reports events (see [`crate::transport`]).
//!
//! Delivery: a report leaves the spool only when the broker has acknowledged it. The
//! transport tells which packet id each publish got ([`Event::Sent`], in publish order) and
//! which packet ids were acknowledged ([`Event::Acked`]); the agent maps one to the other.
//! When a connection drops, that bookkeeping is thrown away with the session and the next
//! session starts again from the oldest unacknowledged record, so order is kept and a
//! report is at worst delivered twice (QoS 1), never lost.

use crate::collect::{self, Root};
use crate::config::Config;
use crate::spool::Spool;
use crate::state::{self, State};
use crate::transport::{self, Event, Session};
use crate::update;
use crate::usage::{self, Ledger};
use crate::wire::command::{self, Answer, Command};
use crate::wire::heartbeat::Heartbeat;
use crate::wire::status::{Status, REASON_SHUTDOWN};
use crate::wire::{self, Envelope, Identity, Kind, Topic};
use anyhow::Context;
use serde::Deserialize as _;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};
use tokio::time::{Instant, MissedTickBehavior};

/// Spooled reports published but not yet acknowledged, at most.
const WINDOW: usize = 8;
/// How often the usage ledger is sampled, and how often it is written to disk.
const USAGE_SAMPLE: Duration = Duration::from_secs(60);
const USAGE_SAVE_EVERY: u32 = 15;
/// `refresh` runs a full collection and republishes everything; more often than this is
/// refused, so that a flood of commands cannot wear the flash or the 4G budget.
const REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(60);
/// A publish not acknowledged within this means the link is dead even if TCP has not
/// noticed (4G, NAT): the connection is dropped and made again.
const ACK_DEADLINE: Duration = Duration::from_secs(60);
/// At shutdown, how long to wait for the broker to acknowledge the `offline` status.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// After the broker refused a report (MQTT 5 PUBACK), delivery pauses this long before
/// trying again: a refusal is an ACL or identity problem that someone must fix, and
/// resending at once would only loop.
const REFUSED_RETRY: Duration = Duration::from_secs(300);

/// How the agent runs.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// The systemd service: runs until SIGTERM.
    Service,
    /// One full cycle: collect everything, deliver, wait for acks up to `timeout`.
    Once { timeout: Duration },
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was acknowledged (or the service was stopped).
    Done,
    /// `--once`: some reports stayed in the spool.
    Spooled(u64),
    /// `--once`: some reports could be neither stored nor sent (see the log).
    NotStored(u64),
    /// Stopped cleanly to start again through the packaged binary: a new version was
    /// installed, or this one failed its trial (see [`crate::update`]).
    Relaunch,
}

/// What a publish in flight is, so that its PUBACK can be acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tracked {
    /// A spooled record: acknowledge it in the spool.
    Record(u64),
    /// The `online` status: its acknowledgement proves a new version healthy.
    OnlineStatus,
    /// The `offline` status at shutdown.
    OfflineStatus,
    /// Anything else (status, heartbeat, command answer): nothing to do.
    Other,
}

/// The connection's bookkeeping; dropped with the session.
#[derive(Default)]
struct Delivery {
    /// Publishes queued on the session whose packet id is not known yet, in order.
    awaiting_id: VecDeque<Tracked>,
    /// Packet id -> what it carries and when it was sent, until its PUBACK.
    in_flight: HashMap<u16, (Tracked, Instant)>,
    /// The newest spool record handed to this session.
    handed: Option<u64>,
    records_in_flight: usize,
    offline_status_acked: bool,
    /// The broker refused a report: hand it nothing more until the retry, so that what
    /// follows is not delivered before what the spool still holds.
    stalled: bool,
    /// The broker refused a report: it stays in the spool, and delivery starts again from
    /// the oldest record at this time.
    retry_refused_at: Option<Instant>,
}

impl Delivery {
    /// When the oldest unacknowledged publish must have been acknowledged.
    fn ack_deadline(&self) -> Option<Instant> {
        self.in_flight
            .values()
            .map(|(_, sent)| *sent + ACK_DEADLINE)
            .min()
    }
}

pub struct Agent {
    config: Config,
    root: Root,
    spool: Spool,
    state: State,
    state_path: PathBuf,
    ledger: Ledger,
    ledger_path: PathBuf,
    session: Option<Session>,
    delivery: Delivery,
    last_error: Option<String>,
    /// Why the broker refuses the device's reports, until one is accepted: repeated in every
    /// heartbeat, since nothing is delivered while it lasts.
    refused: Option<String>,
    /// The spool's acknowledgements are in memory only (disk full), already reported.
    ack_unsaved: bool,
    /// The last failed write to the state directory, until one succeeds.
    storage_problem: Option<String>,
    last_refresh: Option<Instant>,
    usage_samples: u32,
    /// Reports that could be neither stored nor sent in this run.
    unstored: u64,
    /// When the device certificate expires (RFC 3339), for the status payload.
    cert_not_after: Option<String>,
    /// The device key and certificate that sign the usage reports (none without TLS).
    signer: Option<Signer>,
    /// Self-update: what the heartbeat says, the attempt asked for, whether to restart.
    update: UpdateDuty,
    /// The equipment as the latest inventory, posture and patch reports saw it, carried
    /// in each usage report (so that a month's report says how it stood at its end).
    equipment: wire::usage::Equipment,
}

/// The key of the device certificate, and the certificate, for `wire::signed::seal`.
struct Signer {
    key: std::sync::Arc<dyn rustls::sign::SigningKey>,
    cert: rustls::pki_types::CertificateDer<'static>,
}

/// Gives the heap that collection freed back to the system. Computing the upgradable
/// packages from scratch (after `apt update`) peaks at 2 MiB of heap, on two threads; glibc
/// keeps freed memory for reuse, which would leave a long-running service at that high-water
/// mark between cycles.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of glibc's arenas to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Why an update attempt runs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Trigger {
    Schedule,
    /// `cmd/update-check`, answered when the attempt ends.
    Command {
        id: Option<String>,
    },
}

/// An update attempt running on its own thread (the download blocks).
type Attempt = (
    tokio::sync::oneshot::Receiver<wire::update::Report>,
    Trigger,
);

/// Waits for the running attempt, if any, and takes it.
async fn attempt_done(attempt: &mut Option<Attempt>) -> (wire::update::Report, Trigger) {
    let Some((receiver, _)) = attempt.as_mut() else {
        return std::future::pending().await;
    };
    let result = receiver.await;
    let trigger = attempt.take().map_or(Trigger::Schedule, |(_, t)| t);
    let report = result.unwrap_or_else(|_| wire::update::Report {
        outcome: wire::update::Outcome::Refused,
        at: wire::rfc3339(SystemTime::now()),
        from: crate::version().into(),
        version: None,
        refusal: None,
        reason: Some("the update attempt stopped unexpectedly (see the log)".into()),
    });
    (report, trigger)
}

/// The agent's side of self-update: it decides when an attempt runs and says how it ended;
/// [`crate::update`] does the rest.
#[derive(Default)]
struct UpdateDuty {
    summary: wire::update::Summary,
    /// An attempt is wanted, and why.
    requested: Option<Trigger>,
    /// An attempt runs (on its own thread).
    running: bool,
    /// This process is a new version on trial: healthy once its `online` status is
    /// acknowledged before this, rolled back otherwise.
    trial_deadline: Option<Instant>,
    /// Stop and start again through the packaged binary once nothing is in flight.
    relaunch: bool,
}

impl Agent {
    /// Opens the state, ledger and spool named by a validated config.
    pub fn open(config: Config) -> anyhow::Result<Agent> {
        std::fs::create_dir_all(&config.state_dir).with_context(|| {
            format!(
                "cannot create the state directory {}",
                config.state_dir.display()
            )
        })?;
        let mut spool = Spool::open(&config.spool.dir, config.spool.max_bytes)
            .with_context(|| format!("cannot open the spool in {}", config.spool.dir.display()))?;
        let state_path = State::path(&config.state_dir);
        let ledger_path = config.state_dir.join("usage.json");
        let (state, state_problem) = State::load(&state_path);
        let (ledger, ledger_problem) = Ledger::load(&ledger_path);
        // Damage found on the way in is already logged; the first heartbeat says it too.
        let last_error = spool
            .take_problems()
            .into_iter()
            .chain(state_problem)
            .chain(ledger_problem)
            .reduce(|all, next| format!("{all}; {next}"));
        Ok(Agent {
            state,
            ledger,
            root: Root::host(),
            spool,
            state_path,
            ledger_path,
            session: None,
            delivery: Delivery::default(),
            last_error,
            refused: None,
            ack_unsaved: false,
            storage_problem: None,
            last_refresh: None,
            usage_samples: 0,
            unstored: 0,
            cert_not_after: config
                .broker
                .tls
                .as_ref()
                .and_then(|tls| tls.cert_not_after())
                .map(wire::rfc3339),
            signer: config.broker.tls.as_ref().and_then(|tls| {
                Some(Signer {
                    key: tls.signing_key()?,
                    cert: tls.chain.first()?.clone(),
                })
            }),
            equipment: wire::usage::Equipment::default(),
            update: UpdateDuty {
                summary: update::summary(&config),
                trial_deadline: update::own_trial(&config).map(|left| Instant::now() + left),
                ..UpdateDuty::default()
            },
            config,
        })
    }

    fn identity(&self) -> &Identity {
        &self.config.identity
    }

    /// Publishes on one of this device's topics, retained as the contract says; whether
    /// the message was handed to the connection.
    fn publish(&self, session: &Session, topic: &Topic, payload: Vec<u8>) -> bool {
        session
            .publish(&topic.of(self.identity()), payload, topic.retained())
            .is_ok()
    }

    /// `status` with the spool's loss counters and the self-update summary, which every
    /// status (the will too) carries.
    fn with_spool_losses(&self, status: Status) -> Status {
        let stats = self.spool.stats();
        status
            .with_spool_losses(stats.dropped_total, stats.corrupt_total)
            .with_update(&self.update.summary)
    }

    /// Publishes the `online` status again, after the update summary changed.
    fn republish_online(&mut self) {
        let Some(session) = self.session.clone() else {
            return;
        };
        let now = wire::rfc3339(SystemTime::now());
        let online = self.with_spool_losses(Status::online(now, self.cert_not_after.clone()));
        if self.publish(&session, &Topic::Status, online.to_json()) {
            self.delivery.awaiting_id.push_back(Tracked::Other);
        }
    }

    /// Runs until SIGTERM/SIGINT (service) or until the cycle is delivered or timed out (once).
    pub async fn run(mut self, mode: Mode) -> anyhow::Result<Outcome> {
        let settings = transport::Settings {
            client_id: self.identity().device.clone(),
            broker: self.config.broker.clone(),
            will_topic: Topic::Status.of(self.identity()),
            will_payload: self
                .with_spool_losses(Status::last_will(self.cert_not_after.clone()))
                .to_json(),
            backoff: transport::Backoff::default(),
        };
        let (mut events, transport_task) = transport::spawn(settings)
            .context("cannot set up TLS with the configured certificate and key")?;

        self.sample_usage(true);
        let outcome = match mode {
            Mode::Service => self.serve(&mut events).await,
            Mode::Once { timeout } => Ok(self.once(&mut events, timeout).await),
        };
        // Also after an error: the ledger is saved and the broker told, when possible.
        self.shut_down(&mut events).await;
        drop(events);
        let _ = tokio::time::timeout(Duration::from_secs(3), transport_task).await;
        outcome
    }

    async fn serve(
        &mut self,
        events: &mut tokio::sync::mpsc::Receiver<Event>,
    ) -> anyhow::Result<Outcome> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sigint = signal(SignalKind::interrupt())?;
        let schedule = self.config.schedule;

        // Spread the first collection a little so that a fleet powered on together does
        // not report in the same second.
        let first = Instant::now() + Duration::from_millis(fastrand::u64(0..3000));
        let mut due: Vec<(Kind, Instant)> = Kind::ALL.iter().map(|k| (*k, first)).collect();
        let mut heartbeat =
            tokio::time::interval_at(Instant::now() + schedule.heartbeat, schedule.heartbeat);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut usage_tick = tokio::time::interval_at(Instant::now() + USAGE_SAMPLE, USAGE_SAMPLE);
        usage_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let watchdog = watchdog_interval();
        let mut watchdog_tick =
            tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
        let mut next_update_check = Instant::now() + self.update_check_wait(true);
        let mut attempt: Option<Attempt> = None;

        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        log::info!(
            "agent {} started as {} (broker {}:{})",
            crate::version(),
            self.identity().branch(),
            self.config.broker.host,
            self.config.broker.port
        );
        loop {
            let next_due = due
                .iter()
                .map(|(_, at)| *at)
                .min()
                .unwrap_or_else(Instant::now);
            let ack_deadline = self.delivery.ack_deadline();
            let retry_refused_at = self.delivery.retry_refused_at;
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.on_event(event),
                    None => anyhow::bail!("the MQTT connection task stopped unexpectedly"),
                },
                _ = tokio::time::sleep_until(next_due) => {
                    let now = Instant::now();
                    let kinds: Vec<Kind> = due.iter().filter(|(_, at)| *at <= now).map(|(k, _)| *k).collect();
                    for (kind, at) in due.iter_mut() {
                        if *at <= now {
                            // From the due time, not from now: timer lateness does not
                            // accumulate, so reports due together (posture and patches every
                            // 6 h) stay together. After a suspend, skip what was missed.
                            let interval = interval_of(&schedule, *kind);
                            *at += interval;
                            if *at <= now {
                                *at = now + interval;
                            }
                        }
                    }
                    self.collect_and_spool(&kinds, false);
                    self.pump();
                }
                _ = heartbeat.tick() => {
                    self.publish_heartbeat();
                    self.pump();
                }
                _ = tokio::time::sleep_until(ack_deadline.unwrap_or(next_due)), if ack_deadline.is_some() => {
                    self.on_ack_timeout();
                }
                _ = tokio::time::sleep_until(retry_refused_at.unwrap_or(next_due)), if retry_refused_at.is_some() => {
                    self.retry_refused();
                }
                _ = usage_tick.tick() => self.sample_usage(false),
                _ = watchdog_tick.tick(), if watchdog.is_some() => {
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                }
                _ = tokio::time::sleep_until(next_update_check), if self.config.update.enabled => {
                    next_update_check = Instant::now() + self.update_check_wait(false);
                    self.update.requested.get_or_insert(Trigger::Schedule);
                }
                (report, trigger) = attempt_done(&mut attempt) => self.on_update_done(report, trigger),
                _ = tokio::time::sleep_until(self.update.trial_deadline.unwrap_or(next_due)), if self.update.trial_deadline.is_some() => {
                    self.on_trial_expired();
                }
                _ = sigterm.recv() => break,
                _ = sigint.recv() => break,
            }
            if attempt.is_none() && self.update.trial_deadline.is_none() && !self.update.relaunch {
                if let Some(trigger) = self.update.requested.take() {
                    attempt = Some((self.start_update(), trigger));
                }
            }
            self.update.running = attempt.is_some();
            // The switch waits until every report handed to the broker is acknowledged.
            if self.update.relaunch
                && self.delivery.in_flight.is_empty()
                && self.delivery.awaiting_id.is_empty()
            {
                log::info!("stopping to restart through the packaged agent");
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading]);
                return Ok(Outcome::Relaunch);
            }
        }
        log::info!("stopping");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        Ok(Outcome::Done)
    }

    async fn once(
        &mut self,
        events: &mut tokio::sync::mpsc::Receiver<Event>,
        timeout: Duration,
    ) -> Outcome {
        self.collect_and_spool(&Kind::ALL, true);
        let deadline = Instant::now() + timeout;
        loop {
            if self.session.is_some()
                && self.spool.stats().records == 0
                && self.delivery.in_flight.is_empty()
            {
                if self.unstored > 0 {
                    log::error!(
                        "{} report(s) could be neither stored nor sent (see above)",
                        self.unstored
                    );
                    return Outcome::NotStored(self.unstored);
                }
                return Outcome::Done;
            }
            if self.delivery.retry_refused_at.is_some() && self.delivery.records_in_flight == 0 {
                break; // the broker refuses the reports: waiting would change nothing
            }
            let ack_deadline = self.delivery.ack_deadline();
            tokio::select! {
                event = events.recv() => match event {
                    Some(Event::Connected(session)) => {
                        self.on_event(Event::Connected(session));
                        self.publish_heartbeat();
                    }
                    Some(event) => self.on_event(event),
                    None => break,
                },
                _ = tokio::time::sleep_until(ack_deadline.unwrap_or(deadline)), if ack_deadline.is_some() => {
                    self.on_ack_timeout();
                }
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        let left = self.spool.stats().records;
        match &self.refused {
            Some(reason) => log::error!(
                "{left} report(s) stay in the spool for the next run: {reason}"
            ),
            None => log::warn!(
                "{left} report(s) not acknowledged within {}; they stay in the spool for the next run",
                humantime::format_duration(timeout)
            ),
        }
        Outcome::Spooled(left)
    }

    /// Publishes `offline`, waits briefly for its acknowledgement, disconnects cleanly and
    /// writes the ledger and state.
    async fn shut_down(&mut self, events: &mut tokio::sync::mpsc::Receiver<Event>) {
        self.save_usage();
        if let Some(session) = self.session.clone() {
            let now = wire::rfc3339(SystemTime::now());
            let status = self.with_spool_losses(Status::offline(
                now,
                REASON_SHUTDOWN,
                self.cert_not_after.clone(),
            ));
            if self.publish(&session, &Topic::Status, status.to_json()) {
                self.delivery.awaiting_id.push_back(Tracked::OfflineStatus);
                let deadline = Instant::now() + SHUTDOWN_GRACE;
                while !self.delivery.offline_status_acked && self.session.is_some() {
                    tokio::select! {
                        event = events.recv() => match event {
                            Some(event) => self.on_event(event),
                            None => break,
                        },
                        _ = tokio::time::sleep_until(deadline) => break,
                    }
                }
            }
            session.disconnect();
            // Keep reading until the connection task ends: it may have events to hand over
            // before it gets to write the DISCONNECT.
            let deadline = Instant::now() + Duration::from_secs(3);
            loop {
                tokio::select! {
                    event = events.recv() => if event.is_none() { break },
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
        }
        self.save_state();
    }

    fn save_state(&mut self) {
        if let Err(e) = self.state.save(&self.state_path) {
            self.note_storage_error(format!(
                "state: cannot save {}: {e}",
                self.state_path.display()
            ));
        } else {
            self.storage_problem = None; // there is room again
        }
    }

    /// No PUBACK within [`ACK_DEADLINE`]: the link is dead even if TCP has not noticed.
    fn on_ack_timeout(&mut self) {
        if let Some(session) = self.session.take() {
            log::warn!(
                "no acknowledgement from the broker within {}s; reconnecting",
                ACK_DEADLINE.as_secs()
            );
            session.reset();
        }
        self.delivery = Delivery::default();
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connected(session) => {
                log::info!(
                    "connected to {}:{}",
                    self.config.broker.host,
                    self.config.broker.port
                );
                self.delivery = Delivery::default();
                let now = wire::rfc3339(SystemTime::now());
                let online =
                    self.with_spool_losses(Status::online(now, self.cert_not_after.clone()));
                if self.publish(&session, &Topic::Status, online.to_json()) {
                    self.delivery.awaiting_id.push_back(Tracked::OnlineStatus);
                }
                if session
                    .subscribe(&self.identity().commands_filter())
                    .is_err()
                {
                    log::warn!("cannot subscribe to commands");
                }
                self.session = Some(session);
                self.pump();
            }
            Event::Sent(pkid) => match self.delivery.awaiting_id.pop_front() {
                Some(tracked) => {
                    self.delivery
                        .in_flight
                        .insert(pkid, (tracked, Instant::now()));
                }
                None => log::debug!("packet {pkid} sent with nothing awaiting an id"),
            },
            Event::Acked { pkid, refused } => {
                match self
                    .delivery
                    .in_flight
                    .remove(&pkid)
                    .map(|(tracked, _)| tracked)
                {
                    Some(Tracked::Record(id)) => {
                        self.delivery.records_in_flight =
                            self.delivery.records_in_flight.saturating_sub(1);
                        if let Some(reason) = refused {
                            self.on_refused(id, reason);
                        } else {
                            self.refused = None;
                            match self.spool.ack(id) {
                                Ok(()) => {
                                    self.ack_unsaved = false;
                                    self.storage_problem = None;
                                }
                                // Kept in memory: delivery goes on. Said once per episode,
                                // not at every acknowledgement.
                                Err(e) if !self.ack_unsaved => {
                                    self.ack_unsaved = true;
                                    self.note_storage_error(format!(
                                        "spool: acknowledgements cannot be written to disk: {e}"
                                    ));
                                }
                                Err(_) => {}
                            }
                        }
                    }
                    Some(Tracked::OnlineStatus) => self.on_online_acked(),
                    Some(Tracked::OfflineStatus) => self.delivery.offline_status_acked = true,
                    Some(Tracked::Other) | None => {}
                }
                // Any acknowledgement frees room in the session's queue.
                self.pump();
            }
            Event::Message {
                topic,
                retained: true,
                ..
            } => {
                // A retained command would run again at every reconnection: commands are
                // meant for now, so retained ones are ignored.
                log::warn!(
                    "ignoring a retained message on {:?}",
                    topic.escape_debug().to_string()
                );
            }
            Event::Message { topic, payload, .. } => self.on_message(&topic, &payload),
            Event::Disconnected { error, retry_in } => {
                if self.session.is_some() {
                    log::warn!(
                        "disconnected: {error}; reconnecting in {}",
                        humantime::format_duration(round_ms(retry_in))
                    );
                } else {
                    log::warn!(
                        "cannot connect: {error}; retrying in {}",
                        humantime::format_duration(round_ms(retry_in))
                    );
                }
                self.last_error = Some(error);
                self.session = None;
                self.delivery = Delivery::default();
            }
        }
    }

    /// The broker answered a report with a refusal: the report did not reach it, so it
    /// stays in the spool, and nothing newer is handed over until [`REFUSED_RETRY`] has
    /// passed (what is already in flight is acknowledged or refused on its own).
    fn on_refused(&mut self, id: u64, reason: String) {
        if self.delivery.retry_refused_at.is_none() {
            log::error!(
                "the broker refused report record {id}: {reason}; it stays in the spool, \
                 delivery tries again in {}s",
                REFUSED_RETRY.as_secs()
            );
            self.delivery.retry_refused_at = Some(Instant::now() + REFUSED_RETRY);
        }
        self.delivery.stalled = true;
        self.refused = Some(format!("broker refused report: {reason}"));
    }

    /// Delivery starts again from the oldest spooled record, once what was in flight has
    /// been answered (so that nothing is in flight twice).
    fn retry_refused(&mut self) {
        if self.delivery.records_in_flight > 0 {
            self.delivery.retry_refused_at = Some(Instant::now() + ACK_DEADLINE);
            return;
        }
        self.delivery.retry_refused_at = None;
        self.delivery.stalled = false;
        self.delivery.handed = None;
        self.pump();
    }

    /// Hands waiting spool records to the session, oldest first, up to [`WINDOW`] in flight.
    fn pump(&mut self) {
        let Some(session) = self.session.clone() else {
            return;
        };
        if self.delivery.stalled {
            return;
        }
        while self.delivery.records_in_flight < WINDOW {
            let room = WINDOW - self.delivery.records_in_flight;
            let records = match self.spool.read_after(self.delivery.handed, room) {
                Ok(r) => r,
                Err(e) => {
                    self.note_error(format!("spool: cannot read: {e}"));
                    return;
                }
            };
            if records.is_empty() {
                return;
            }
            for r in records {
                if session.publish(&r.topic, r.payload, r.retain).is_err() {
                    return; // the session is going away; the next one starts from the spool
                }
                self.delivery.awaiting_id.push_back(Tracked::Record(r.id));
                self.delivery.handed = Some(r.id);
                self.delivery.records_in_flight += 1;
            }
        }
    }

    /// Collects the given reports and puts those worth publishing in the spool.
    fn collect_and_spool(&mut self, kinds: &[Kind], force: bool) {
        let now = SystemTime::now();
        for &kind in kinds {
            if kind == Kind::Usage {
                self.sample_usage(false);
                // Before NTP, an RTC-less board may think it is 1970: which month (and
                // topic) the figures belong to cannot be told yet.
                if !usage::clock_is_plausible(now) {
                    log::warn!("the clock is not set yet; usage is published once it is");
                    continue;
                }
                self.close_previous_usage_month(now);
            }
            let state_dir = Some(self.config.state_dir.as_path());
            let collected = match kind {
                Kind::Usage => {
                    let today = time::OffsetDateTime::from(now).date();
                    Ok(self.usage_report(today.year(), today.month()))
                }
                _ => collect::report(kind, &self.root, &self.ledger, state_dir, now),
            };
            match collected {
                Ok(data) => {
                    self.note_equipment(kind, &data, now);
                    let topic = topic_of(kind, now).of(self.identity());
                    self.spool_report(kind, &topic, &data, now, force);
                }
                Err(e) => self.note_error(e),
            }
        }
        // Change detection survives a restart; losing it would only republish once.
        self.save_state();
        release_freed_memory();
    }

    /// Keeps what a usage report says of the equipment from the inventory, posture and
    /// patch reports as they are collected.
    fn note_equipment(&mut self, kind: Kind, data: &serde_json::Value, now: SystemTime) {
        use wire::usage::{BoardId, PatchesAt, PostureAt};
        let eq = &mut self.equipment;
        match kind {
            Kind::Inventory => {
                if let Ok(board) = BoardId::deserialize(&data["board"]) {
                    eq.board = Some(board);
                }
            }
            Kind::Posture => {
                if let Ok(summary) = wire::posture::Summary::deserialize(data) {
                    let (failing_critical, failing_high) = summary.failing_serious();
                    eq.posture = Some(PostureAt {
                        collected_at: wire::rfc3339(now),
                        score: summary.score,
                        failing_critical,
                        failing_high,
                        baseline: summary.baseline,
                    });
                }
            }
            Kind::Patches => {
                if let Ok(summary) = wire::patches::Summary::deserialize(data) {
                    eq.patches = Some(PatchesAt {
                        collected_at: wire::rfc3339(now),
                        security_count: summary.security_count,
                        upgradable_count: summary.upgradable_count,
                    });
                }
            }
            Kind::Usage => {}
        }
    }

    /// The usage report's `data` for a month: the ledger's figures and the equipment as
    /// the latest reports saw it.
    fn usage_report(&self, year: i32, month: time::Month) -> serde_json::Value {
        let mut data = self.ledger.month(year, month);
        data.equipment = Some(self.equipment.clone());
        serde_json::to_value(data).unwrap_or_default()
    }

    /// Once a month has ended, publishes its final figures (retried until stored), and
    /// those of every month since the last one published, should the agent not have run
    /// at their ends.
    fn close_previous_usage_month(&mut self, now: SystemTime) {
        let period = wire::usage::period_at(now);
        let Some(previous) = self.state.usage_period.clone().filter(|p| *p < period) else {
            self.state.usage_period = Some(period);
            return;
        };
        let mut all_stored = true;
        for (year, month) in self.ledger.months() {
            let this = wire::usage::period(year, month);
            if this < previous || this >= period {
                continue;
            }
            let data = self.usage_report(year, month);
            let topic = Topic::UsageMonth(this).of(self.identity());
            all_stored &= self.spool_report(Kind::Usage, &topic, &data, now, true);
        }
        if all_stored {
            self.state.usage_period = Some(period);
        }
    }

    /// Gives a report its sequence number and stores it in the spool, if it changed (or
    /// `force`). Returns whether it is on its way (stored, or sent directly).
    fn spool_report(
        &mut self,
        kind: Kind,
        topic: &str,
        data: &serde_json::Value,
        now: SystemTime,
        force: bool,
    ) -> bool {
        let fingerprint = state::fingerprint(data);
        if !force && !self.state.is_due(kind, &fingerprint, now) {
            log::debug!("{} unchanged, not published", kind.name());
            return true;
        }
        let seq = match self.state.next_seq(&self.state_path) {
            Ok(seq) => seq,
            Err(e) => {
                self.unstored += 1;
                self.note_storage_error(format!(
                    "state: cannot reserve report numbers in {}: {e}; the {} report waits for the next collection",
                    self.state_path.display(),
                    kind.name()
                ));
                return false;
            }
        };
        let payload = serde_json::to_vec(&Envelope::new(kind, self.identity(), now, seq, data))
            .map_err(|e| e.to_string())
            .and_then(|report| match (&self.signer, kind) {
                (Some(signer), Kind::Usage) => {
                    wire::signed::seal(&report, signer.key.as_ref(), &signer.cert)
                }
                _ => Ok(report),
            });
        let payload = match payload {
            Ok(p) if p.len() + topic.len() <= transport::MAX_MESSAGE => p,
            Ok(p) => {
                self.unstored += 1;
                self.note_error(format!(
                    "{} report of {} bytes is too large to publish",
                    kind.name(),
                    p.len()
                ));
                return false;
            }
            Err(e) => {
                self.unstored += 1;
                self.note_error(format!(
                    "{} report could not be serialised or signed: {e}",
                    kind.name()
                ));
                return false;
            }
        };
        match self.spool.push(topic, &payload, true) {
            Ok(id) => {
                self.storage_problem = None;
                log::info!(
                    "{} report #{seq} spooled ({} bytes, record {id})",
                    kind.name(),
                    payload.len()
                );
                self.state.mark_published(kind, fingerprint, now);
                true
            }
            Err(e) => {
                self.note_storage_error(format!(
                    "spool: cannot store the {} report: {e}",
                    kind.name()
                ));
                // Sent directly only when nothing older waits, so that it cannot overtake
                // (and be overwritten on the retained topic by) an older report. Not marked
                // as published either way: the next collection tries again.
                let nothing_older =
                    self.spool.stats().records == 0 && self.delivery.records_in_flight == 0;
                match &self.session {
                    Some(session)
                        if nothing_older && session.publish(topic, payload, true).is_ok() =>
                    {
                        self.delivery.awaiting_id.push_back(Tracked::Other);
                        true
                    }
                    _ => {
                        self.unstored += 1;
                        false
                    }
                }
            }
        }
    }

    fn publish_heartbeat(&mut self) {
        let Some(session) = self.session.clone() else {
            return;
        };
        let stats = self.spool.stats();
        let heartbeat = Heartbeat {
            at: wire::rfc3339(SystemTime::now()),
            spooled: stats.records,
            spool_bytes: if stats.records > 0 { stats.bytes } else { 0 },
            dropped: stats.dropped_total,
            corrupt: stats.corrupt_total,
            unstored: self.unstored,
            update: (!self.update.summary.is_empty()).then(|| self.update.summary.clone()),
            last_error: self
                .last_error
                .as_deref()
                .or(self.refused.as_deref())
                .or(self.storage_problem.as_deref())
                .map(str::to_owned),
        };
        let payload = serde_json::to_vec(&heartbeat).unwrap_or_default();
        if self.publish(&session, &Topic::Heartbeat, payload) {
            self.delivery.awaiting_id.push_back(Tracked::Other);
            self.last_error = None;
        }
    }

    /// Accounts the time since the last sample in the usage ledger; writes it to disk every
    /// few samples (SD cards wear) or when `save` is set.
    fn sample_usage(&mut self, save: bool) {
        match usage::probe(&self.root) {
            Ok(probe) => self.ledger.record(&probe),
            Err(e) => self.note_error(format!("usage: cannot read uptime or sessions: {e}")),
        }
        self.usage_samples += 1;
        if save || self.usage_samples.is_multiple_of(USAGE_SAVE_EVERY) {
            self.save_usage();
        }
    }

    fn save_usage(&mut self) {
        if let Err(e) = self.ledger.save(&self.ledger_path) {
            self.note_storage_error(format!(
                "usage: cannot save {}: {e}",
                self.ledger_path.display()
            ));
        }
    }

    fn on_message(&mut self, topic: &str, payload: &[u8]) {
        let name = match Topic::parse(topic) {
            Some((who, Topic::Command(name))) if who == *self.identity() => name,
            _ => {
                log::warn!(
                    "ignoring a message on unexpected topic {:?}",
                    topic.escape_debug().to_string()
                );
                return;
            }
        };
        let name = name.as_str();
        let (command_name, id, result) = match command::parse(name, payload) {
            // An enabled update check is answered when the attempt ends.
            Ok(request)
                if request.command == Command::UpdateCheck
                    && self.config.update.enabled
                    && !self.update.running
                    && !self.update.relaunch
                    && self.update.trial_deadline.is_none() =>
            {
                log::info!("command update-check received (id {:?})", request.id);
                self.update.requested = Some(Trigger::Command { id: request.id });
                return;
            }
            Ok(request) => {
                log::info!(
                    "command {:?} received (id {:?})",
                    request.command,
                    request.id
                );
                let result = self.execute(request.command);
                (request.command.name().to_owned(), request.id, result)
            }
            Err(refusal) => {
                log::warn!("command refused: {:?}: {}", refusal.name, refusal.reason);
                (refusal.name, refusal.id, Err(refusal.reason))
            }
        };
        match result {
            Ok(value) => self.answer(command_name, id, true, Some(value), None),
            Err(e) => self.answer(command_name, id, false, None, Some(e)),
        }
    }

    /// Publishes the answer to a command on `cmd-result`.
    fn answer(
        &mut self,
        command: String,
        id: Option<String>,
        ok: bool,
        result: Option<serde_json::Value>,
        error: Option<String>,
    ) {
        let answer = Answer {
            command,
            id,
            ok,
            result,
            error,
            at: wire::rfc3339(SystemTime::now()),
        };
        let payload = serde_json::to_vec(&answer).unwrap_or_default();
        if let Some(session) = self.session.clone() {
            if self.publish(&session, &Topic::CommandResult, payload) {
                self.delivery.awaiting_id.push_back(Tracked::Other);
            }
        }
    }

    fn execute(&mut self, command: Command) -> Result<serde_json::Value, String> {
        match command {
            Command::Ping => Ok(serde_json::json!({
                "agent_version": crate::version(),
                "spooled": self.spool.stats().records,
            })),
            Command::Refresh => {
                if let Some(last) = self
                    .last_refresh
                    .filter(|t| t.elapsed() < REFRESH_MIN_INTERVAL)
                {
                    let wait = REFRESH_MIN_INTERVAL - last.elapsed();
                    return Err(format!(
                        "refresh ran less than {}s ago; try again in {}s",
                        REFRESH_MIN_INTERVAL.as_secs(),
                        wait.as_secs() + 1
                    ));
                }
                self.last_refresh = Some(Instant::now());
                self.collect_and_spool(&Kind::ALL, true);
                self.pump();
                Ok(serde_json::json!({ "refreshed": Kind::ALL.map(Kind::name) }))
            }
            Command::UpdateCheck => Err(if !self.config.update.enabled {
                "updates are disabled on this device ([update] enabled = false)".to_string()
            } else if self.update.trial_deadline.is_some() {
                "this version is on trial: no update before it is confirmed healthy".to_string()
            } else if self.update.relaunch {
                "switching to the version just installed".to_string()
            } else {
                "an update attempt is already running; its outcome comes in the heartbeat"
                    .to_string()
            }),
        }
    }

    /// How long until the next scheduled update check: the interval shortened at random by
    /// up to a tenth, so that a fleet started together does not ask together; the first
    /// check comes a few minutes after start, once the reports are out.
    fn update_check_wait(&self, first: bool) -> Duration {
        let interval = self.config.update.check_interval;
        let jitter = fastrand::u64(0..=interval.as_millis() as u64 / 10);
        if first {
            Duration::from_secs(120) + Duration::from_millis(jitter)
        } else {
            interval - Duration::from_millis(jitter)
        }
    }

    /// Runs an update attempt on its own thread; the result comes back through the channel.
    fn start_update(&mut self) -> tokio::sync::oneshot::Receiver<wire::update::Report> {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let config = self.config.clone();
        let spawned = std::thread::Builder::new()
            .name("update".into())
            .spawn(move || {
                let _ = sender.send(update::attempt(&config, update::Mode::Install));
            });
        if let Err(e) = spawned {
            self.note_error(format!("update: cannot start the attempt: {e}"));
        }
        receiver
    }

    fn on_update_done(&mut self, report: wire::update::Report, trigger: Trigger) {
        self.update.summary = update::summary(&self.config);
        if report.outcome == wire::update::Outcome::Installed {
            self.update.relaunch = true;
        }
        if let Trigger::Command { id } = trigger {
            let problem = report.outcome.is_problem();
            let error = problem.then(|| report.to_string());
            let result = serde_json::to_value(&report).ok();
            self.answer(
                Command::UpdateCheck.name().into(),
                id,
                !problem,
                result,
                error,
            );
        }
        self.republish_online();
        self.publish_heartbeat();
        self.pump();
    }

    /// The broker acknowledged this run's `online` status.
    fn on_online_acked(&mut self) {
        if self.update.trial_deadline.take().is_some()
            && update::confirm_healthy(&self.config).is_some()
        {
            self.update.summary = update::summary(&self.config);
            self.republish_online();
            self.publish_heartbeat();
        }
    }

    /// This new version did not get its `online` status acknowledged in time: it gives up
    /// its place, and the packaged binary starts the previous version.
    fn on_trial_expired(&mut self) {
        self.update.trial_deadline = None;
        let reason = format!(
            "not acknowledged online by the broker within {} of the switch",
            humantime::format_duration(self.config.update.health_timeout)
        );
        update::abandon_trial(&self.config, reason);
        self.update.relaunch = true;
    }

    fn note_error(&mut self, error: String) {
        log::error!("{error}");
        self.last_error = Some(error);
    }

    /// A write to the state directory failed (most often: the disk is full). Repeated in
    /// every heartbeat until a write succeeds again, since the device cannot fix itself.
    fn note_storage_error(&mut self, error: String) {
        self.storage_problem = Some(error.clone());
        self.note_error(error);
    }
}

/// Where a report of `kind` collected at `now` is published: usage on its month's topic.
fn topic_of(kind: Kind, now: SystemTime) -> Topic {
    match kind {
        Kind::Usage => Topic::UsageMonth(wire::usage::period_at(now)),
        kind => Topic::Report(kind),
    }
}

fn interval_of(schedule: &crate::config::Schedule, kind: Kind) -> Duration {
    match kind {
        Kind::Inventory => schedule.inventory,
        Kind::Posture => schedule.posture,
        Kind::Patches => schedule.patches,
        Kind::Usage => schedule.usage,
    }
}

/// systemd's watchdog wants a ping at least every `WATCHDOG_USEC`; ping twice as often.
fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
        .filter(|d| !d.is_zero())
        .map(|d| d / 2)
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}
