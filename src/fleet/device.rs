//! `grappe-fleet device ID`: everything the broker keeps about one device, in full (the
//! inventory, every posture check with its evidence, each pending update, the month's
//! usage), read with the contract's own types.

use super::view::{short_time, Device};
use crate::wire::inventory::Inventory;
use crate::wire::patches::Patches;
use crate::wire::posture::{BaselineTally, Posture, Severity, Status as CheckStatus};
use crate::wire::usage::UsageMonth;
use crate::wire::{Envelope, Kind, Topic};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The retained payloads of one device, by topic suffix, as received.
#[derive(Debug, Default)]
pub struct Retained {
    pub structure: String,
    pub payloads: BTreeMap<String, Vec<u8>>,
}

impl Retained {
    /// Keeps a message of device `id`; another device's (or an empty payload) is ignored.
    pub fn absorb(&mut self, id: &str, topic: &str, payload: &[u8]) {
        if let Some((who, t)) = Topic::parse(topic) {
            if who.device == id && !payload.is_empty() {
                self.structure = who.structure;
                // The month's usage is shown as "usage".
                let key = match t {
                    Topic::UsageMonth(_) => Kind::Usage.name().to_string(),
                    t => t.suffix(),
                };
                self.payloads.insert(key, payload.to_vec());
            }
        }
    }

    /// The JSON document of `--json`: each retained payload as it was published, a signed
    /// report as the report it carries.
    pub fn json(&self) -> serde_json::Value {
        let topics: serde_json::Map<_, _> = self
            .payloads
            .iter()
            .map(|(k, v)| {
                let report = crate::wire::signed::Opened::read(v).and_then(|o| o.report());
                let bytes = report.as_deref().unwrap_or(v);
                let value = serde_json::from_slice(bytes).unwrap_or_else(|_| {
                    serde_json::Value::String(String::from_utf8_lossy(v).into_owned())
                });
                (k.clone(), value)
            })
            .collect();
        serde_json::json!({"structure": self.structure, "topics": topics})
    }

    /// Reads the report of `kind` and hands it to `write`; says so when there is none or
    /// it cannot be read.
    fn section<T: serde::de::DeserializeOwned>(
        &self,
        out: &mut String,
        kind: Kind,
        write: impl FnOnce(&mut String, Envelope<T>),
    ) {
        let name = kind.name();
        match self.payloads.get(name).map(|b| crate::wire::read_report(b)) {
            None => {
                let _ = writeln!(out, "\n{name}: none on the broker");
            }
            Some(Err(e)) => {
                let _ = writeln!(out, "\n{name}: unreadable payload: {e}");
            }
            Some(Ok(env)) => write(out, env),
        }
    }

    /// The whole text: the judged summary first, then every report.
    pub fn text(&self, summary: &str, device: &Device, now: std::time::SystemTime) -> String {
        let mut out = summary.to_string();
        let _ = writeln!(
            out,
            "  last seen {}, last report {}",
            short_time(device.last_seen(now)),
            short_time(device.last_report())
        );
        if let Some(status) = &device.status {
            let _ = writeln!(
                out,
                "  status    {:?} since {}{}, agent {}, certificate until {}",
                status.state,
                status.since.as_deref().unwrap_or("?"),
                status
                    .reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                status.agent_version.as_deref().unwrap_or("?"),
                status.cert_not_after.as_deref().unwrap_or("?"),
            );
        }
        self.inventory(&mut out);
        self.posture(&mut out);
        self.patches(&mut out);
        self.usage(&mut out);
        out
    }

    fn inventory(&self, out: &mut String) {
        self.section(out, Kind::Inventory, |out, inv: Envelope<Inventory>| {
            let d = &inv.data;
            let _ = writeln!(out, "\ninventory (collected {})", inv.collected_at);
            let os =
                d.os.as_ref()
                    .and_then(|o| o.pretty_name.as_deref())
                    .unwrap_or("?");
            let _ = writeln!(
                out,
                "  system    {os}, kernel {}, {}, {} MiB RAM, {} packages",
                d.kernel.as_deref().unwrap_or("?"),
                d.arch.as_deref().unwrap_or("?"),
                d.memory_bytes.map_or("?".into(), |b| (b >> 20).to_string()),
                d.packages
                    .as_ref()
                    .map_or("?".into(), |p| p.count.to_string()),
            );
            let _ = writeln!(
                out,
                "  board     {} {}, serial {}",
                d.board.vendor.as_deref().unwrap_or("-"),
                d.board.model.as_deref().unwrap_or("-"),
                d.board.serial.as_deref().unwrap_or("-"),
            );
            let _ = writeln!(
                out,
                "  cpu       {} ({} cores)",
                d.cpu.model.as_deref().unwrap_or("?"),
                d.cpu.cores.map_or("?".into(), |c| c.to_string())
            );
            for disk in &d.disks {
                let _ = writeln!(
                    out,
                    "  disk      {} {} {} GB",
                    disk.name,
                    disk.model.as_deref().unwrap_or(""),
                    disk.size_bytes
                        .map_or("?".into(), |b| (b / 1_000_000_000).to_string())
                );
            }
            for fs in d.filesystems.iter().flatten() {
                let _ = writeln!(
                    out,
                    "  fs        {} ({}) {} of {} MiB free",
                    fs.mount,
                    fs.fs,
                    fs.available_bytes >> 20,
                    fs.total_bytes >> 20
                );
            }
            for i in d.network.iter().flatten() {
                let ipv4 = if i.ipv4.is_empty() {
                    "(no IPv4)".to_string()
                } else {
                    i.ipv4.join(" ")
                };
                let _ = writeln!(out, "  network   {} {ipv4}", i.name);
            }
            for p in &d.problems {
                let _ = writeln!(out, "  problem   {}: {}", p.file, p.error);
            }
        });
    }

    fn posture(&self, out: &mut String) {
        self.section(out, Kind::Posture, |out, p: Envelope<Posture>| {
        let c = p.data.counts;
        let _ = writeln!(
            out,
            "\nposture (collected {}): score {}/100; {} pass, {} fail, {} unknown, {} not applicable",
            p.collected_at, p.data.score, c.pass, c.fail, c.unknown, c.not_applicable
        );
        baseline(out, &p.data);
        let rank = |s: CheckStatus| match s {
            CheckStatus::Fail => 0,
            CheckStatus::Unknown => 1,
            CheckStatus::Pass => 2,
            CheckStatus::NotApplicable => 3,
        };
        let sev = |s: Severity| match s {
            Severity::Critical => 0,
            Severity::High => 1,
            Severity::Medium => 2,
            Severity::Low => 3,
        };
        let mut checks: Vec<_> = p.data.checks.iter().collect();
        checks.sort_by_key(|c| (rank(c.status), sev(c.severity)));
        for check in checks {
            let status = serde_json::to_value(check.status).unwrap_or_default();
            let severity = serde_json::to_value(check.severity).unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<14} {:<8} {:<28} {}\n  {:24}{} [{}]",
                status.as_str().unwrap_or("?").to_uppercase(),
                severity.as_str().unwrap_or("?"),
                check.id,
                check.title,
                "",
                check.evidence,
                check.reference
            );
        }
        });
    }

    fn patches(&self, out: &mut String) {
        self.section(out, Kind::Patches, |out, p: Envelope<Patches>| {
        let d = &p.data;
        let n = |v: Option<usize>| v.map_or("?".into(), |v| v.to_string());
        let b = |v: Option<bool>| v.map_or("?", |v| if v { "yes" } else { "no" });
        let _ = writeln!(
            out,
            "\npatches (collected {}): {} upgradable, {} security; reboot required {}; automatic updates {}; end of support {}{}",
            p.collected_at,
            n(d.upgradable_count),
            n(d.security_count),
            b(d.reboot_required),
            b(d.auto_updates_enabled),
            d.os_end_of_life.as_deref().unwrap_or("?"),
            if d.end_of_life_reached == Some(true) { " (REACHED)" } else { "" }
        );
        let mut pending: Vec<_> = d.upgradable.iter().flatten().collect();
            pending.sort_by(|a, b| (!a.security, &a.name).cmp(&(!b.security, &b.name)));
        for u in pending {
            let _ = writeln!(
                out,
                "  {:<32} {} -> {}{}",
                format!("{}:{}", u.name, u.arch),
                u.installed,
                u.candidate,
                if u.security { " (security)" } else { "" }
            );
        }
        for pr in &d.problems {
            let _ = writeln!(out, "  problem   {}: {}", pr.file, pr.error);
        }
        });
    }

    fn usage(&self, out: &mut String) {
        self.section(out, Kind::Usage, |out, u: Envelope<UsageMonth>| {
            let d = &u.data;
            let _ = writeln!(
                out,
                "\nusage {} (collected {}): {} day(s) on, {} active",
                d.period, u.collected_at, d.days_on, d.days_active
            );
            out.push_str("  DATE        UPTIME   ACTIVE  BOOTS\n");
            for day in &d.days {
                let _ = writeln!(
                    out,
                    "  {}  {:>5.1} h  {:>5.1} h  {:>5}",
                    day.date,
                    day.uptime_s as f64 / 3600.0,
                    day.active_s as f64 / 3600.0,
                    day.boots
                );
            }
        });
    }
}

/// The ESSMS baseline of a posture report: each item's verdict, then the checks it rests
/// on with their own status, so that a verdict can be traced to its evidence below.
fn baseline(out: &mut String, p: &Posture) {
    let Some(tally) = BaselineTally::of_items(&p.baseline) else {
        out.push_str("  ESSMS baseline: none in this report (an agent older than the baseline)\n");
        return;
    };
    let _ = write!(
        out,
        "  ESSMS baseline: {}/{} items passed",
        tally.passed, tally.applicable
    );
    if !tally.failing.is_empty() {
        let _ = write!(out, "; failing: {}", tally.failing.join(", "));
    }
    if !tally.unknown.is_empty() {
        let _ = write!(out, "; unknown: {}", tally.unknown.join(", "));
    }
    out.push('\n');
    for item in &p.baseline {
        let checks: Vec<String> = item
            .checks
            .iter()
            .map(|id| {
                let status = p
                    .checks
                    .iter()
                    .find(|c| c.id == *id)
                    .map_or("not reported", |c| c.status.name());
                format!("{id} {status}")
            })
            .collect();
        let _ = writeln!(
            out,
            "  {:<14} {:<20} {}\n  {:24}rests on: {} [{}]",
            item.status.name().to_uppercase(),
            item.id,
            item.title,
            "",
            checks.join(", "),
            item.reference
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::posture::{BaselineItem, Check, Counts};

    #[test]
    fn each_baseline_item_shows_its_verdict_and_the_checks_it_rests_on() {
        let check = |id: &'static str, status| Check {
            id: id.into(),
            title: "t".into(),
            status,
            severity: Severity::High,
            evidence: "e".into(),
            reference: "r".into(),
            host_state: false,
        };
        let mut p = Posture {
            checks: vec![
                check("av.clamav", CheckStatus::Pass),
                check("av.signatures", CheckStatus::Fail),
            ],
            score: 50,
            counts: Counts::default(),
            scoring: "".into(),
            baseline: vec![BaselineItem {
                id: "antivirus".into(),
                title: "An antivirus runs".into(),
                status: CheckStatus::Fail,
                checks: vec![
                    "av.clamav".into(),
                    "av.signatures".into(),
                    "av.other".into(),
                ],
                reference: "Instruction ESSMS 2017".into(),
            }],
        };
        let mut out = String::new();
        baseline(&mut out, &p);
        assert_eq!(
            out,
            "  ESSMS baseline: 0/1 items passed; failing: antivirus\n  \
             FAIL           antivirus            An antivirus runs\n                          \
             rests on: av.clamav pass, av.signatures fail, av.other not reported [Instruction ESSMS 2017]\n"
        );
        p.baseline.clear();
        out.clear();
        baseline(&mut out, &p);
        assert!(out.contains("none in this report"), "{out}");
    }
}
