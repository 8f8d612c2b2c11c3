//! The fleet's views end to end: connect as an operator, read what the broker keeps, add
//! what the PKI register knows, and (for `cmd`) drive the devices. The judging and the
//! rendering are in [`super::view`], [`super::status`] and [`super::device`].

use super::config::FleetConfig;
use super::device::Retained;
use super::mqtt::Operator;
use super::pki::{Pki, Role};
use super::view::{self, short_time, Fleet};
use crate::wire::command::{Answer, Command};
use crate::wire::status::State;
use crate::wire::{Identity, Kind, Topic};
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

/// How long the broker has to accept the connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The judged-to-be fleet: every device's retained status, posture, patches and usage,
/// plus the devices enrolled in the PKI register when fleet.toml names it.
pub async fn read_fleet(
    config: &FleetConfig,
    structure: Option<&str>,
    timeout: Duration,
) -> Result<Fleet> {
    if let Some(s) = structure {
        check_id("structure", s)?;
    }
    let mut operator = Operator::connect(&config.broker, &config.grappe, CONNECT_TIMEOUT).await?;
    let mut fleet = Fleet::default();
    operator
        .read_retained(
            &view::filters(&config.grappe, structure, SystemTime::now()),
            timeout,
            |topic, payload| fleet.absorb(topic, payload),
        )
        .await?;
    operator.disconnect().await;
    if let Some(dir) = &config.pki {
        add_enrolled(&mut fleet, dir, structure)?;
    }
    Ok(fleet)
}

/// Every device with a usable certificate in the register, with its latest expiry.
fn add_enrolled(fleet: &mut Fleet, dir: &std::path::Path, structure: Option<&str>) -> Result<()> {
    let certificates = Pki::read_certificates(dir).with_context(|| {
        format!(
            "[fleet] pki = {:?}: cannot read the PKI register (remove the key if this machine does not hold the PKI)",
            dir.display()
        )
    })?;
    let now = time::OffsetDateTime::now_utc();
    for c in certificates {
        let Some(s) = c.structure.as_deref() else {
            continue;
        };
        if c.role != Role::Device || !c.is_usable(now) || structure.is_some_and(|f| f != s) {
            continue;
        }
        let Some(until) = c.not_after_time() else {
            continue;
        };
        fleet.enrolled(s, &c.id, SystemTime::from(until));
    }
    Ok(())
}

/// Everything the broker keeps about device `id` (in whichever structure), and the view
/// of it; an error when the broker has nothing.
pub async fn read_device(
    config: &FleetConfig,
    id: &str,
    timeout: Duration,
) -> Result<(Retained, Fleet)> {
    check_id("device", id)?;
    let mut operator = Operator::connect(&config.broker, &config.grappe, CONNECT_TIMEOUT).await?;
    let this_device = Identity::wildcard(&config.grappe, None, Some(id));
    let filters: Vec<String> = [
        Topic::Status,
        Topic::Report(Kind::Inventory),
        Topic::Report(Kind::Posture),
        Topic::Report(Kind::Patches),
        Topic::UsageMonth(crate::wire::usage::period_at(SystemTime::now())),
    ]
    .iter()
    .map(|t| t.of(&this_device))
    .collect();
    let (mut retained, mut fleet) = (Retained::default(), Fleet::default());
    operator
        .read_retained(&filters, timeout, |topic, payload| {
            retained.absorb(id, topic, payload);
            fleet.absorb(topic, payload);
        })
        .await?;
    operator.disconnect().await;
    if retained.payloads.is_empty() {
        let mut enrolled = Fleet::default();
        if let Some(dir) = &config.pki {
            add_enrolled(&mut enrolled, dir, None)?;
        }
        if let Some(d) = enrolled.devices.values().find(|d| d.device == id) {
            bail!(
                "device {id:?} is enrolled (structure {:?}, certificate until {}) but has never reported: is its bundle installed and the agent running?",
                d.structure,
                d.enrolled_until.map(view::short_date).unwrap_or_default()
            );
        }
        bail!(
            "the broker keeps nothing for device {id:?} of grappe {:?}: check the id (`grappe-fleet status` lists them)",
            config.grappe
        );
    }
    if fleet.devices.len() > 1 {
        let structures: Vec<_> = fleet.devices.keys().map(|(s, _)| s.as_str()).collect();
        bail!(
            "device {id:?} reports under several structures ({}): a certificate issued twice? See `grappe-fleet pki list`",
            structures.join(", ")
        );
    }
    Ok((retained, fleet))
}

/// Which devices a command goes to.
#[derive(Debug, Clone)]
pub enum Target {
    Device(String),
    Structure(String),
    All,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Device(d) => write!(f, "device {d:?}"),
            Target::Structure(s) => write!(f, "structure {s:?}"),
            Target::All => write!(f, "the grappe"),
        }
    }
}

/// Ids become topic levels: anything else (an MQTT wildcard, a '/') is refused here.
fn check_id(what: &str, id: &str) -> Result<()> {
    if !crate::wire::is_valid_name(id) {
        bail!("{id:?} is not a {what} id: {}", crate::wire::VALID_NAME);
    }
    Ok(())
}

/// Sends `command` to the connected devices of `target` and waits up to `timeout` for
/// their answers. Returns the text to print and whether every device answered `ok`.
pub async fn send_command(
    config: &FleetConfig,
    command: Command,
    target: &Target,
    timeout: Duration,
) -> Result<(String, bool)> {
    let targets = match target {
        Target::Device(d) => {
            check_id("device", d)?;
            Identity::wildcard(&config.grappe, None, Some(d))
        }
        Target::Structure(s) => {
            check_id("structure", s)?;
            Identity::wildcard(&config.grappe, Some(s), None)
        }
        Target::All => Identity::wildcard(&config.grappe, None, None),
    };
    let filter = Topic::Status.of(&targets);
    let mut operator = Operator::connect(&config.broker, &config.grappe, CONNECT_TIMEOUT).await?;
    let mut fleet = Fleet::default();
    operator
        .read_retained(&[filter], timeout, |t, p| fleet.absorb(t, p))
        .await?;
    if fleet.devices.is_empty() {
        bail!("no device of {target} on the broker (`grappe-fleet status` lists them)");
    }
    operator
        .subscribe(
            &Topic::CommandResult.of(&Identity::wildcard(&config.grappe, None, None)),
            CONNECT_TIMEOUT,
        )
        .await?;
    // The id that ties the answers to this request (and not to someone else's).
    let id = format!("fleet-{:012x}", fastrand::u64(..) >> 16);
    let payload = serde_json::to_vec(&serde_json::json!({ "id": id }))?;
    let mut waiting = BTreeSet::new();
    let mut lines = BTreeMap::new();
    for ((structure, device), d) in &fleet.devices {
        let who = Identity {
            grappe: config.grappe.clone(),
            structure: structure.clone(),
            device: device.clone(),
        };
        let key = format!("{structure}/{device}");
        match d.status.as_ref() {
            Some(s) if s.state == State::Online => {
                operator
                    .publish(
                        &Topic::Command(command.name().into()).of(&who),
                        payload.clone(),
                    )
                    .await?;
                waiting.insert(key);
            }
            _ => {
                let since = short_time(d.last_seen(SystemTime::now()));
                lines.insert(key, format!("NOT SENT  offline (last seen {since})"));
            }
        }
    }
    let sent = waiting.len();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut all_ok = lines.is_empty();
    while !waiting.is_empty() {
        let Some(message) = operator.next_message(deadline).await? else {
            break;
        };
        let Some((who, Topic::CommandResult)) = Topic::parse(&message.topic) else {
            continue;
        };
        let Ok(answer) = serde_json::from_slice::<Answer>(&message.payload) else {
            continue;
        };
        let key = format!("{}/{}", who.structure, who.device);
        if answer.id.as_deref() != Some(id.as_str()) || !waiting.remove(&key) {
            continue;
        }
        let line = if answer.ok {
            let result = answer.result.map(|r| r.to_string()).unwrap_or_default();
            format!("OK        {result}")
        } else {
            all_ok = false;
            format!("ERROR     {}", answer.error.unwrap_or_default())
        };
        lines.insert(key, line);
    }
    operator.disconnect().await;
    let answered = sent - waiting.len();
    for key in waiting {
        all_ok = false;
        lines.insert(
            key,
            format!("NO ANSWER within {}", humantime::format_duration(timeout)),
        );
    }
    let mut out = format!(
        "{} sent to {sent} connected device(s) of {}; {answered} answered\n",
        command.name(),
        fleet.devices.len()
    );
    for (key, line) in lines {
        let _ = writeln!(out, "  {key:<40} {line}");
    }
    Ok((out, all_ok))
}
