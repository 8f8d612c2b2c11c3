//! The fleet at a glance: what the retained state says of each device, and what is wrong
//! with it. [`Fleet::absorb`] takes the retained messages as they come (status, posture,
//! patches, usage) and keeps a few hundred bytes per device; [`assess`] judges one device
//! against the thresholds, with no I/O and the time given, so that every rule is tested.

use super::config::{parse_version, Thresholds};
use crate::wire::{self, posture, Envelope, Kind, Topic};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The filters the view subscribes to: only the retained topics it reads (not the
/// inventory, not the usage of past months), of one structure or of all.
pub fn filters(grappe: &str, structure: Option<&str>, now: SystemTime) -> Vec<String> {
    let every_device = wire::Identity::wildcard(grappe, structure, None);
    [
        Topic::Status,
        Topic::Report(Kind::Posture),
        Topic::Report(Kind::Patches),
        Topic::UsageMonth(wire::usage::period_at(now)),
    ]
    .iter()
    .map(|t| t.of(&every_device))
    .collect()
}

/// A report's header as the view keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen<T> {
    pub collected_at: Option<SystemTime>,
    pub agent_version: String,
    pub data: T,
}

/// The posture as the view keeps it: the score and the failing checks that matter.
#[derive(Debug, Clone, PartialEq)]
pub struct PostureView {
    pub score: u8,
    /// Ids of the failing critical checks, then of the failing high ones.
    pub failing_critical: Vec<String>,
    pub failing_high: Vec<String>,
    pub unknown: usize,
    /// The ESSMS baseline's verdicts; empty from an agent older than it.
    pub baseline: Vec<posture::BaselineSummary>,
}

/// What the retained state says of one device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Device {
    pub structure: String,
    pub device: String,
    pub status: Option<wire::status::Status>,
    pub posture: Option<Seen<PostureView>>,
    pub patches: Option<Seen<wire::patches::Summary>>,
    pub usage: Option<Seen<wire::usage::Summary>>,
    /// From the PKI register: the device has a valid certificate (until then).
    pub enrolled_until: Option<SystemTime>,
    /// Payloads that could not be read, by topic suffix.
    pub unreadable: Vec<String>,
}

impl Device {
    /// The time of the latest report the device made.
    pub fn last_report(&self) -> Option<SystemTime> {
        [
            self.posture.as_ref().and_then(|s| s.collected_at),
            self.patches.as_ref().and_then(|s| s.collected_at),
            self.usage.as_ref().and_then(|s| s.collected_at),
        ]
        .into_iter()
        .flatten()
        .max()
    }

    /// The last sign of life: now when connected; else when it stopped, or (connection
    /// lost, whose Last Will carries no date) its latest report.
    pub fn last_seen(&self, now: SystemTime) -> Option<SystemTime> {
        let status = self.status.as_ref();
        if status.is_some_and(|s| s.state == wire::status::State::Online) {
            return Some(now);
        }
        let since = status.and_then(|s| s.since.as_deref()).and_then(parse_time);
        since.max(self.last_report())
    }

    /// The agent version the device last said it runs.
    pub fn agent_version(&self) -> Option<&str> {
        self.status
            .as_ref()
            .and_then(|s| s.agent_version.as_deref())
            .or(self.posture.as_ref().map(|p| p.agent_version.as_str()))
            .or(self.patches.as_ref().map(|p| p.agent_version.as_str()))
    }

    /// The certificate expiry: the device's own word, else the PKI register's.
    pub fn cert_not_after(&self) -> Option<SystemTime> {
        self.status
            .as_ref()
            .and_then(|s| s.cert_not_after.as_deref())
            .and_then(parse_time)
            .or(self.enrolled_until)
    }

    pub fn seen(&self) -> bool {
        self.status.is_some() || self.last_report().is_some()
    }

    /// `online`, `stopped` (a clean stop), `lost` (the Last Will), `unknown` (reports but
    /// no status) or `never seen`.
    pub fn state_name(&self) -> &'static str {
        match self.status.as_ref().map(|s| (s.state, s.stopped_cleanly())) {
            Some((wire::status::State::Online, _)) => "online",
            Some((_, true)) => "stopped",
            Some((_, false)) => "lost",
            None if self.seen() => "unknown",
            None => "never seen",
        }
    }
}

/// Every device of the grappe, by structure then device id.
#[derive(Debug, Default)]
pub struct Fleet {
    pub devices: BTreeMap<(String, String), Device>,
}

impl Fleet {
    fn entry(&mut self, structure: &str, device: &str) -> &mut Device {
        self.devices
            .entry((structure.to_owned(), device.to_owned()))
            .or_insert_with(|| Device {
                structure: structure.to_owned(),
                device: device.to_owned(),
                ..Device::default()
            })
    }

    /// Takes one retained message; topics the view does not read are ignored, and a
    /// payload that cannot be read is kept as a problem of its device (never dropped
    /// silently, never fatal).
    pub fn absorb(&mut self, topic: &str, payload: &[u8]) {
        let Some((who, topic)) = Topic::parse(topic) else {
            return;
        };
        // An empty retained payload is a deleted topic.
        if payload.is_empty() {
            return;
        }
        let device = self.entry(&who.structure, &who.device);
        let result = match &topic {
            Topic::Status => serde_json::from_slice(payload)
                .map(|s| device.status = Some(s))
                .map_err(|e| e.to_string()),
            Topic::Report(Kind::Posture) => {
                read::<posture::Summary>(payload).map(|s| device.posture = Some(s.map(view_of)))
            }
            Topic::Report(Kind::Patches) => read(payload).map(|s| device.patches = Some(s)),
            // The latest month wins (the view subscribes to the current one only).
            Topic::UsageMonth(period) => read::<wire::usage::Summary>(payload).map(|s| {
                if device
                    .usage
                    .as_ref()
                    .is_none_or(|u| u.data.period <= *period)
                {
                    device.usage = Some(s);
                }
            }),
            _ => Ok(()),
        };
        if let Err(e) = result {
            device.unreadable.push(format!("{}: {e}", topic.suffix()));
        }
    }

    /// Adds a device the PKI register says is enrolled (a valid certificate until
    /// `until`), so that one never seen is shown too; of several certificates (a renewal),
    /// the latest expiry is kept.
    pub fn enrolled(&mut self, structure: &str, device: &str, until: SystemTime) {
        let known = &mut self.entry(structure, device).enrolled_until;
        *known = (*known).max(Some(until));
    }
}

fn read<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<Seen<T>, String> {
    let env: Envelope<T> = wire::read_report(payload)?;
    Ok(Seen {
        collected_at: parse_time(&env.collected_at),
        agent_version: env.agent_version,
        data: env.data,
    })
}

impl<T> Seen<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Seen<U> {
        Seen {
            collected_at: self.collected_at,
            agent_version: self.agent_version,
            data: f(self.data),
        }
    }
}

fn view_of(summary: posture::Summary) -> PostureView {
    let (failing_critical, failing_high) = summary.failing_serious();
    PostureView {
        score: summary.score,
        failing_critical,
        failing_high,
        unknown: summary
            .checks
            .iter()
            .filter(|c| c.status == posture::Status::Unknown)
            .count(),
        baseline: summary.baseline,
    }
}

pub fn parse_time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(s).ok()
}

/// How bad a finding is, in the monitoring tools' terms (serialised as [`Level::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Ok,
    Warning,
    Critical,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Warning => "WARNING",
            Level::Critical => "CRITICAL",
        }
    }
}

/// One thing wrong with a device, said as the IT staff would say it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub level: Level,
    /// A stable key for scripts and counts (`missing`, `security-updates`...).
    pub code: &'static str,
    pub reason: String,
}

/// Everything wrong with `d` at `now`, worst first; empty when all is well.
pub fn assess(d: &Device, now: SystemTime, t: &Thresholds, listed_structure: bool) -> Vec<Finding> {
    use Level::{Critical, Warning};
    let mut out = Vec::new();
    let mut add = |level, code, reason: String| {
        out.push(Finding {
            level,
            code,
            reason,
        })
    };
    if !listed_structure {
        add(
            Warning,
            "unlisted-structure",
            format!("structure {:?} is not in fleet.toml", d.structure),
        );
    }
    if !d.seen() {
        add(
            Warning,
            "never-seen",
            "enrolled, never seen: no status or report on the broker".into(),
        );
    }
    if let Some(status) = &d.status {
        if status.state == wire::status::State::Offline {
            let last_seen = d.last_seen(now);
            let quiet_for = last_seen.and_then(|t| now.duration_since(t).ok());
            let how = if status.stopped_cleanly() {
                format!(
                    "stopped cleanly: {}",
                    status.reason.as_deref().unwrap_or("no reason given")
                )
            } else {
                "connection lost".to_string()
            };
            match quiet_for {
                Some(q) if q >= t.missing_after => add(
                    Critical,
                    "missing",
                    format!(
                        "missing: no sign of life for {} (since {}, {how})",
                        days(q),
                        short_time(last_seen)
                    ),
                ),
                None => add(
                    Critical,
                    "missing",
                    format!("offline ({how}), last sign of life unknown"),
                ),
                Some(_) => add(
                    Warning,
                    "offline",
                    format!("offline since {} ({how})", short_time(last_seen)),
                ),
            }
        }
    } else if d.seen() {
        add(
            Warning,
            "no-status",
            "reports but no status on the broker".into(),
        );
    }
    if let Some(not_after) = d.cert_not_after() {
        match not_after.duration_since(now) {
            Err(_) => add(
                Critical,
                "cert-expired",
                format!(
                    "certificate expired on {}: the broker refuses the device",
                    short_date(not_after)
                ),
            ),
            Ok(left) if left <= t.cert_expiry_warning => add(
                Warning,
                "cert-expiring",
                format!(
                    "certificate expires on {} (in {}): renew it",
                    short_date(not_after),
                    days(left)
                ),
            ),
            Ok(_) => {}
        }
    }
    match &d.posture {
        Some(p) => {
            let v = &p.data;
            if !v.failing_critical.is_empty() {
                add(
                    Critical,
                    "critical-checks",
                    format!("failing critical checks: {}", v.failing_critical.join(", ")),
                );
            }
            if !v.failing_high.is_empty() {
                add(
                    Warning,
                    "high-checks",
                    format!("failing high checks: {}", v.failing_high.join(", ")),
                );
            }
            // The sector's own yardstick, named apart from the checks it rests on: what
            // a funder or an inspection asks about first.
            if let Some(b) = posture::BaselineTally::of(&v.baseline) {
                if !b.failing.is_empty() {
                    add(
                        Warning,
                        "baseline-items",
                        format!(
                            "failing ESSMS baseline items ({}/{} passed): {}",
                            b.passed,
                            b.applicable,
                            b.failing.join(", ")
                        ),
                    );
                }
            }
            if v.score < t.min_posture_score {
                add(
                    Warning,
                    "low-score",
                    format!("posture score {} below {}", v.score, t.min_posture_score),
                );
            }
        }
        None if d.seen() => add(Warning, "no-posture", "no posture report yet".into()),
        None => {}
    }
    if let Some(p) = &d.patches {
        let s = &p.data;
        if s.end_of_life_reached == Some(true) {
            add(
                Critical,
                "end-of-life",
                format!(
                    "OS out of security support since {}",
                    s.os_end_of_life.as_deref().unwrap_or("?")
                ),
            );
        }
        match s.security_count {
            Some(0) => {}
            Some(n) => add(
                Warning,
                "security-updates",
                format!("{n} security update(s) pending"),
            ),
            None => add(
                Warning,
                "patches-unknown",
                format!(
                    "pending updates unknown ({} file(s) unreadable on the device)",
                    s.problems
                ),
            ),
        }
        if s.reboot_required == Some(true) {
            add(Warning, "reboot-required", "reboot required".into());
        }
    }
    if let Some(s) = &d.status {
        if s.spool_dropped > 0 || s.spool_corrupt > 0 {
            add(
                Warning,
                "spool-losses",
                format!(
                    "spool lost reports while offline: {} dropped (full), {} damaged",
                    s.spool_dropped, s.spool_corrupt
                ),
            );
        }
    }
    if let Some(v) = d.agent_version() {
        if parse_version(v) < parse_version(&t.min_agent_version) {
            add(
                Warning,
                "outdated-agent",
                format!("agent {v} older than {}", t.min_agent_version),
            );
        }
    }
    if let Some(last) = d
        .status
        .as_ref()
        .and_then(|s| s.update.as_ref())
        .and_then(|u| u.last.as_ref())
        .filter(|last| last.outcome.is_problem())
    {
        let code = match last.outcome {
            wire::update::Outcome::RolledBack => "update-rolled-back",
            _ => "update-refused",
        };
        add(Warning, code, format!("self-update {last}"));
    }
    for u in &d.unreadable {
        add(Warning, "unreadable", format!("unreadable payload: {u}"));
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.level));
    out
}

/// The worst level of a device's findings.
pub fn level(findings: &[Finding]) -> Level {
    findings.iter().map(|f| f.level).max().unwrap_or(Level::Ok)
}

/// `3 days`, `5 h`, `12 min`: how long, roughly, as the staff read it.
pub fn days(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..3600 => format!("{} min", s / 60),
        3600..172_800 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

/// `2026-12-04 10:32Z`, or `-` when unknown.
pub fn short_time(t: Option<SystemTime>) -> String {
    match t {
        Some(t) => {
            let full = wire::rfc3339(t);
            format!("{} {}Z", &full[..10], &full[11..16])
        }
        None => "-".into(),
    }
}

/// `2026-12-04`.
pub fn short_date(t: SystemTime) -> String {
    wire::rfc3339(t)[..10].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::status::Status;

    const NOW: u64 = 1_796_000_000; // 2026-11-30T...
    fn at(secs_before_now: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(NOW - secs_before_now)
    }
    fn now() -> SystemTime {
        at(0)
    }
    fn rfc(t: SystemTime) -> String {
        wire::rfc3339(t)
    }

    fn envelope(kind: Kind, collected: SystemTime, data: serde_json::Value) -> Vec<u8> {
        let who = wire::Identity {
            grappe: "g".into(),
            structure: "s".into(),
            device: "d".into(),
        };
        serde_json::to_vec(&Envelope::new(kind, &who, collected, 1, data)).unwrap()
    }

    fn healthy() -> Fleet {
        let mut fleet = Fleet::default();
        let status = Status::online(
            rfc(at(3600)),
            Some(rfc(at(0) + Duration::from_secs(365 * 86400))),
        );
        fleet.absorb("grappe/v1/g/s/d/status", &status.to_json());
        fleet.absorb(
            "grappe/v1/g/s/d/posture",
            &envelope(
                Kind::Posture,
                at(600),
                serde_json::json!({"score": 90, "counts": {"pass":1,"fail":1,"unknown":0,"not_applicable":0},
                    "checks": [{"id":"fs.tmp","title":"t","status":"fail","severity":"low","evidence":"e","reference":"r"}],
                    "baseline": [{"id":"firewall","title":"t","status":"pass","checks":["network.firewall"],"reference":"r"},
                        {"id":"backup","title":"t","status":"unknown","checks":["backup.offsite"],"reference":"r"}]}),
            ),
        );
        fleet.absorb(
            "grappe/v1/g/s/d/patches",
            &envelope(
                Kind::Patches,
                at(300),
                serde_json::json!({"os_end_of_life":"2028-06-30","end_of_life_reached":false,"os_regular_support_end":null,
                    "package_lists_age_s":10,"upgradable":[],"upgradable_count":0,"security_count":0,
                    "reboot_required":false,"reboot_required_packages":[],"auto_updates_enabled":true,"problems":[]}),
            ),
        );
        fleet
    }

    fn findings(fleet: &Fleet) -> Vec<Finding> {
        let d = fleet.devices.values().next().unwrap();
        assess(d, now(), &Thresholds::default(), true)
    }

    fn codes(fleet: &Fleet) -> Vec<&'static str> {
        findings(fleet).iter().map(|f| f.code).collect()
    }

    fn device(fleet: &mut Fleet) -> &mut Device {
        fleet.devices.values_mut().next().unwrap()
    }

    #[test]
    fn a_healthy_device_has_no_finding() {
        let fleet = healthy();
        assert_eq!(codes(&fleet), Vec::<&str>::new());
        let d = fleet.devices.values().next().unwrap();
        assert_eq!(d.last_seen(now()), Some(now()));
        assert_eq!(d.last_report(), Some(at(300)));
        assert_eq!(d.posture.as_ref().unwrap().data.score, 90);
        assert_eq!(
            d.posture.as_ref().unwrap().data.baseline[1],
            posture::BaselineSummary {
                id: "backup".into(),
                status: posture::Status::Unknown
            },
            "kept; an unknown item is no finding"
        );
    }

    #[test]
    fn offline_devices_say_how_and_since_when_and_become_missing() {
        let mut fleet = healthy();
        let stop = Status::offline(rfc(at(7200)), "shutdown", None);
        fleet.absorb("grappe/v1/g/s/d/status", &stop.to_json());
        let f = findings(&fleet);
        assert_eq!((f[0].code, f[0].level), ("offline", Level::Warning));
        assert!(
            f[0].reason.contains("(stopped cleanly: shutdown)"),
            "{}",
            f[0].reason
        );
        // Last seen is the stop; the last report stays apart.
        let d = fleet.devices.values().next().unwrap();
        assert_eq!(d.last_seen(now()), Some(at(300)).max(Some(at(7200))));

        // The Last Will has no date: the latest report is the last sign of life.
        fleet.absorb("grappe/v1/g/s/d/status", &Status::last_will(None).to_json());
        let f = findings(&fleet);
        assert!(f[0].reason.contains("connection lost"), "{}", f[0].reason);
        assert_eq!(
            fleet.devices.values().next().unwrap().last_seen(now()),
            Some(at(300))
        );

        // Four days of silence: missing.
        let old = 4 * 86400;
        let d = device(&mut fleet);
        d.posture.as_mut().unwrap().collected_at = Some(at(old));
        d.patches.as_mut().unwrap().collected_at = Some(at(old));
        let f = findings(&fleet);
        assert_eq!((f[0].code, f[0].level), ("missing", Level::Critical));
        assert!(f[0].reason.contains("4 days"), "{}", f[0].reason);
    }

    #[test]
    fn each_problem_is_found_with_its_reason() {
        let mut fleet = healthy();
        let d = device(&mut fleet);
        let p = &mut d.posture.as_mut().unwrap().data;
        p.score = 40;
        p.failing_critical.push("accounts.uid0".into());
        p.failing_high.push("ssh.root_login".into());
        let item = |id: &str, status| posture::BaselineSummary {
            id: id.into(),
            status,
        };
        p.baseline = vec![
            item("updates", posture::Status::Pass),
            item("backup", posture::Status::Fail),
            item("encryption", posture::Status::NotApplicable),
        ];
        let s = &mut d.patches.as_mut().unwrap().data;
        s.security_count = Some(3);
        s.reboot_required = Some(true);
        s.end_of_life_reached = Some(true);
        let status = d.status.as_mut().unwrap();
        status.cert_not_after = Some(rfc(now() + Duration::from_secs(10 * 86400)));
        status.agent_version = Some("0.0.9".into());
        status.spool_dropped = 2;
        let f = findings(&fleet);
        let mut got: Vec<_> = f.iter().map(|f| f.code).collect();
        got.sort();
        assert_eq!(
            got,
            [
                "baseline-items",
                "cert-expiring",
                "critical-checks",
                "end-of-life",
                "high-checks",
                "low-score",
                "outdated-agent",
                "reboot-required",
                "security-updates",
                "spool-losses"
            ]
        );
        assert_eq!(level(&f), Level::Critical);
        assert!(f[0].level == Level::Critical, "worst first");
        let text: Vec<_> = f.iter().map(|f| f.reason.as_str()).collect();
        assert!(text.contains(&"3 security update(s) pending"), "{text:?}");
        assert!(text.iter().any(|t| t.contains("accounts.uid0")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("in 10 days")), "{text:?}");
        assert!(
            text.contains(&"failing ESSMS baseline items (1/2 passed): backup"),
            "{text:?}"
        );
    }

    #[test]
    fn a_failed_self_update_is_a_warning_until_a_later_attempt_goes_well() {
        use wire::update::{Outcome, Report, Summary};
        let mut fleet = healthy();
        let report = |outcome, reason: Option<&str>| Report {
            outcome,
            at: rfc(at(60)),
            from: "0.1.0".into(),
            version: Some("0.2.0".into()),
            refusal: None,
            reason: reason.map(Into::into),
        };
        let status = device(&mut fleet).status.as_mut().unwrap();
        status.update = Some(Summary {
            last: Some(report(Outcome::RolledBack, Some("crash loop"))),
            failed: vec![],
        });
        let f = findings(&fleet);
        assert_eq!(codes(&fleet), ["update-rolled-back"]);
        assert_eq!(f[0].reason, "self-update rolled_back 0.2.0: crash loop");
        let status = device(&mut fleet).status.as_mut().unwrap();
        status.update.as_mut().unwrap().last = Some(report(Outcome::UpToDate, None));
        assert_eq!(codes(&fleet), Vec::<&str>::new());
    }

    #[test]
    fn expired_certificates_and_never_seen_devices() {
        let mut fleet = Fleet::default();
        fleet.enrolled("s", "d", at(60));
        let f = findings(&fleet);
        let got: Vec<_> = f.iter().map(|f| (f.code, f.level)).collect();
        assert_eq!(
            got,
            [
                ("cert-expired", Level::Critical),
                ("never-seen", Level::Warning)
            ]
        );
    }

    #[test]
    fn bad_payloads_are_kept_as_problems_and_other_topics_ignored() {
        let mut fleet = healthy();
        fleet.absorb("grappe/v1/g/s/d/posture", b"{not json");
        fleet.absorb("grappe/v1/g/s/d/inventory", b"{}");
        fleet.absorb("grappe/v1/g/s/d/cmd-result", b"{}");
        fleet.absorb("elsewhere/x", b"{}");
        assert_eq!(fleet.devices.len(), 1);
        let f = findings(&fleet);
        assert_eq!(f.iter().filter(|f| f.code == "unreadable").count(), 1);
        // The last good posture is kept.
        assert_eq!(device(&mut fleet).posture.as_ref().unwrap().data.score, 90);
        // An unlisted structure is said.
        let d = fleet.devices.values().next().unwrap();
        let f = assess(d, now(), &Thresholds::default(), false);
        assert!(f.iter().any(|f| f.code == "unlisted-structure"));
    }

    #[test]
    fn the_latest_month_of_usage_is_kept() {
        let mut fleet = healthy();
        let usage = |period: &str, active: u32| {
            envelope(
                Kind::Usage,
                at(60),
                serde_json::json!({"period": period, "days": [], "days_on": active, "days_active": active}),
            )
        };
        fleet.absorb("grappe/v1/g/s/d/usage/2026-12", &usage("2026-12", 3));
        fleet.absorb("grappe/v1/g/s/d/usage/2026-11", &usage("2026-11", 20));
        let d = device(&mut fleet);
        let kept = &d.usage.as_ref().unwrap().data;
        assert_eq!((kept.period.as_str(), kept.days_active), ("2026-12", 3));
        assert_eq!(d.last_report(), Some(at(60)));
        assert_eq!(
            filters("g", None, at(0))[3],
            format!("grappe/v1/g/+/+/usage/{}", wire::usage::period_at(at(0)))
        );
        assert_eq!(filters("g", Some("s"), at(0))[0], "grappe/v1/g/s/+/status");
    }

    #[test]
    fn durations_read_as_staff_say_them() {
        assert_eq!(days(Duration::from_secs(600)), "10 min");
        assert_eq!(days(Duration::from_secs(5 * 3600)), "5 h");
        assert_eq!(days(Duration::from_secs(3 * 86400 + 5)), "3 days");
        assert_eq!(short_time(None), "-");
    }
}
