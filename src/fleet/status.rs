//! `grappe-fleet status` and `check`: the judged fleet, grouped by structure with problems
//! first, rendered for a terminal, a spreadsheet (CSV), a script (JSON) or a monitoring
//! tool (the Nagios plugin convention: one line, performance data, exit 0/1/2/3).

use super::config::{FleetConfig, Structure};
use super::view::{assess, level, short_time, Device, Finding, Fleet, Level};
use crate::wire::posture::{BaselineSummary, BaselineTally};
use serde::Serialize;
use std::fmt::Write as _;
use std::time::SystemTime;

/// Which devices to show.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub structure: Option<String>,
    /// Only devices with a finding.
    pub problems: bool,
}

pub struct Row<'a> {
    pub device: &'a Device,
    pub findings: Vec<Finding>,
    pub level: Level,
}

pub struct Group<'a> {
    pub id: String,
    /// `None` for a structure that reports but is not in fleet.toml.
    pub structure: Option<&'a Structure>,
    pub rows: Vec<Row<'a>>,
}

pub struct Report<'a> {
    pub grappe: &'a str,
    pub now: SystemTime,
    pub groups: Vec<Group<'a>>,
}

/// Judges every device and groups them: structures in fleet.toml's order, then the
/// unlisted ones; in each, the worst first, then by device id.
pub fn build<'a>(
    fleet: &'a Fleet,
    config: &'a FleetConfig,
    now: SystemTime,
    filter: &Filter,
) -> Report<'a> {
    let mut groups: Vec<Group> = config
        .structures
        .iter()
        .map(|s| Group {
            id: s.id.clone(),
            structure: Some(s),
            rows: Vec::new(),
        })
        .collect();
    for d in fleet.devices.values() {
        if filter.structure.as_ref().is_some_and(|s| *s != d.structure) {
            continue;
        }
        let listed = config.structure(&d.structure);
        let findings = assess(d, now, &config.thresholds, listed.is_some());
        let row = Row {
            device: d,
            level: level(&findings),
            findings,
        };
        if filter.problems && row.level == Level::Ok {
            continue;
        }
        match groups.iter_mut().find(|g| g.id == d.structure) {
            Some(g) => g.rows.push(row),
            None => groups.push(Group {
                id: d.structure.clone(),
                structure: listed,
                rows: vec![row],
            }),
        }
    }
    groups[config.structures.len()..].sort_by(|a, b| a.id.cmp(&b.id));
    groups.retain(|g| {
        filter.structure.as_ref().is_none_or(|s| *s == g.id)
            && !(filter.problems && g.rows.is_empty())
    });
    for g in &mut groups {
        g.rows.sort_by(|a, b| {
            b.level
                .cmp(&a.level)
                .then_with(|| a.device.device.cmp(&b.device.device))
        });
    }
    Report {
        grappe: &config.grappe,
        now,
        groups,
    }
}

impl Report<'_> {
    pub fn rows(&self) -> impl Iterator<Item = (&Group<'_>, &Row<'_>)> {
        self.groups
            .iter()
            .flat_map(|g| g.rows.iter().map(move |r| (g, r)))
    }

    /// Devices at each level: ok, warning, critical.
    pub fn counts(&self) -> [usize; 3] {
        let mut counts = [0; 3];
        for (_, r) in self.rows() {
            counts[r.level as usize] += 1;
        }
        counts
    }

    fn count_code(&self, code: &str) -> usize {
        self.rows()
            .filter(|(_, r)| r.findings.iter().any(|f| f.code == code))
            .count()
    }

    /// The worst level of the fleet.
    pub fn level(&self) -> Level {
        self.rows().map(|(_, r)| r.level).max().unwrap_or(Level::Ok)
    }

    /// For a terminal: a heading per structure, a row per device.
    pub fn table(&self) -> String {
        let [ok, warning, critical] = self.counts();
        let mut out = format!(
            "grappe {}: {} devices, {critical} critical, {warning} warning, {ok} ok (as of {})\n",
            self.grappe,
            ok + warning + critical,
            short_time(Some(self.now))
        );
        const HEADER: [&str; 9] = [
            "LEVEL",
            "DEVICE",
            "STATE",
            "LAST SEEN",
            "LAST REPORT",
            "AGENT",
            "SCORE",
            "BASELINE",
            "SEC",
        ];
        // One set of widths for the whole fleet, so that columns line up between structures.
        let cells: Vec<Vec<[String; 9]>> = self
            .groups
            .iter()
            .map(|g| g.rows.iter().map(|r| self.cells(r)).collect())
            .collect();
        let mut widths = HEADER.map(str::len);
        for row in cells.iter().flatten() {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |out: &mut String, cells: &[&str], reasons: &str| {
            out.push(' ');
            for (cell, w) in cells.iter().zip(widths) {
                let _ = write!(out, " {cell:<w$}");
            }
            let _ = writeln!(out, "  {reasons}");
        };
        for (g, cells) in self.groups.iter().zip(&cells) {
            let title = match g.structure {
                Some(s) => format!("{} ({}, FINESS {})", s.name, s.id, s.finess),
                None => format!("{} (not in fleet.toml)", g.id),
            };
            let _ = writeln!(out, "\n{title}: {} device(s)", g.rows.len());
            if g.rows.is_empty() {
                out.push_str("  no device enrolled or reporting\n");
                continue;
            }
            line(&mut out, &HEADER, "REASONS");
            for (r, c) in g.rows.iter().zip(cells) {
                let reasons = if r.findings.is_empty() {
                    "-".to_string()
                } else {
                    r.findings
                        .iter()
                        .map(|f| f.reason.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                let refs: Vec<&str> = c.iter().map(String::as_str).collect();
                line(&mut out, &refs, &reasons);
            }
        }
        out
    }

    /// The head of `grappe-fleet device`: who, and what is wrong.
    pub fn device_summary(&self, r: &Row) -> String {
        let d = r.device;
        let structure = self
            .groups
            .iter()
            .find(|g| g.id == d.structure)
            .and_then(|g| g.structure)
            .map(|s| format!("{}, FINESS {}", s.name, s.finess))
            .unwrap_or_else(|| "not in fleet.toml".into());
        let mut out = format!(
            "device {} of structure {} ({structure}): {}\n",
            d.device,
            d.structure,
            r.level.name()
        );
        for f in &r.findings {
            let _ = writeln!(out, "  - {}", f.reason);
        }
        out
    }

    fn cells(&self, r: &Row) -> [String; 9] {
        let d = r.device;
        let baseline = d
            .posture
            .as_ref()
            .and_then(|p| BaselineTally::of(&p.data.baseline));
        [
            r.level.name().into(),
            d.device.clone(),
            d.state_name().into(),
            short_time(d.last_seen(self.now)),
            short_time(d.last_report()),
            d.agent_version().unwrap_or("-").into(),
            opt(d.posture.as_ref().map(|p| p.data.score)),
            opt(baseline.map(|b| format!("{}/{}", b.passed, b.applicable))),
            opt(d.patches.as_ref().and_then(|p| p.data.security_count)),
        ]
    }

    fn record<'r>(&self, r: &'r Row) -> Record<'r> {
        let d = r.device;
        let status = d.status.as_ref();
        let posture = d.posture.as_ref().map(|p| &p.data);
        let patches = d.patches.as_ref().map(|p| &p.data);
        let usage = d.usage.as_ref().map(|u| &u.data);
        let baseline = posture.and_then(|p| BaselineTally::of(&p.baseline));
        Record {
            structure: &d.structure,
            device: &d.device,
            level: r.level,
            state: d.state_name(),
            status_since: status.and_then(|s| s.since.as_deref()),
            last_seen: d.last_seen(self.now).map(crate::wire::rfc3339),
            last_report: d.last_report().map(crate::wire::rfc3339),
            agent_version: d.agent_version(),
            posture_score: posture.map(|p| p.score),
            failing_critical: posture
                .map(|p| p.failing_critical.as_slice())
                .unwrap_or(&[]),
            failing_high: posture.map(|p| p.failing_high.as_slice()).unwrap_or(&[]),
            baseline_passed: baseline.as_ref().map(|b| b.passed),
            baseline_applicable: baseline.as_ref().map(|b| b.applicable),
            baseline_failing: baseline.map(|b| b.failing),
            baseline: posture
                .map(|p| p.baseline.as_slice())
                .filter(|b| !b.is_empty()),
            security_updates: patches.and_then(|p| p.security_count),
            upgradable: patches.and_then(|p| p.upgradable_count),
            reboot_required: patches.and_then(|p| p.reboot_required),
            os_end_of_life: patches.and_then(|p| p.os_end_of_life.as_deref()),
            cert_not_after: d.cert_not_after().map(crate::wire::rfc3339),
            spool_dropped: status.map_or(0, |s| s.spool_dropped),
            spool_corrupt: status.map_or(0, |s| s.spool_corrupt),
            usage_period: usage.map(|u| u.period.as_str()),
            days_active: usage.map(|u| u.days_active),
            findings: &r.findings,
            last_update: status
                .and_then(|s| s.update.as_ref())
                .and_then(|u| u.last.as_ref()),
            failed_updates: status
                .and_then(|s| s.update.as_ref())
                .map(|u| u.failed.iter().map(|f| f.version.as_str()).collect())
                .unwrap_or_default(),
        }
    }

    /// For scripts: everything the table says, and more, with stable keys. Written as it
    /// is serialised, device by device, so that a large fleet is never held twice.
    pub fn write_json(&self, out: impl std::io::Write) -> serde_json::Result<()> {
        let [ok, warning, critical] = self.counts();
        let doc = Doc {
            schema: "grappe-fleet/status/1",
            grappe: self.grappe,
            generated_at: crate::wire::rfc3339(self.now),
            level: self.level().name(),
            counts: Counts {
                devices: ok + warning + critical,
                ok,
                warning,
                critical,
            },
            devices: Devices(self),
        };
        serde_json::to_writer_pretty(out, &doc)
    }

    /// [`Report::write_json`] into a string.
    pub fn json(&self) -> String {
        let mut out = Vec::new();
        // Writing to a Vec cannot fail, and every key is a string.
        let _ = self.write_json(&mut out);
        String::from_utf8(out).unwrap_or_default() + "\n"
    }

    /// For a spreadsheet: one row per device, `;`-separated with a UTF-8 byte order mark,
    /// which is what Excel and LibreOffice open directly in a French locale.
    pub fn csv(&self) -> Result<Vec<u8>, csv::Error> {
        let mut w = csv::WriterBuilder::new()
            .delimiter(b';')
            .from_writer(b"\xEF\xBB\xBF".to_vec());
        w.write_record([
            "structure",
            "structure_name",
            "finess",
            "device",
            "level",
            "state",
            "last_seen",
            "last_report",
            "agent_version",
            "posture_score",
            "failing_critical",
            "failing_high",
            "baseline_passed",
            "baseline_applicable",
            "baseline_failing",
            "security_updates",
            "upgradable",
            "reboot_required",
            "os_end_of_life",
            "cert_not_after",
            "spool_dropped",
            "spool_corrupt",
            "days_active",
            "reasons",
            "last_update",
            "failed_updates",
        ])?;
        for (g, r) in self.rows() {
            let rec = self.record(r);
            w.write_record([
                rec.structure.to_string(),
                g.structure.map(|s| s.name.clone()).unwrap_or_default(),
                g.structure.map(|s| s.finess.clone()).unwrap_or_default(),
                rec.device.to_string(),
                rec.level.name().to_string(),
                rec.state.to_string(),
                rec.last_seen.unwrap_or_default(),
                rec.last_report.unwrap_or_default(),
                rec.agent_version.unwrap_or_default().to_string(),
                cell(rec.posture_score),
                rec.failing_critical.join(" "),
                rec.failing_high.join(" "),
                cell(rec.baseline_passed),
                cell(rec.baseline_applicable),
                rec.baseline_failing
                    .as_deref()
                    .map(|f| f.join(" "))
                    .unwrap_or_default(),
                cell(rec.security_updates),
                cell(rec.upgradable),
                cell(rec.reboot_required.map(|b| if b { "yes" } else { "no" })),
                rec.os_end_of_life.unwrap_or_default().to_string(),
                rec.cert_not_after.unwrap_or_default(),
                rec.spool_dropped.to_string(),
                rec.spool_corrupt.to_string(),
                cell(rec.days_active),
                rec.findings
                    .iter()
                    .map(|f| f.reason.as_str())
                    .collect::<Vec<_>>()
                    .join(" | "),
                rec.last_update.map(|u| u.to_string()).unwrap_or_default(),
                rec.failed_updates.join(" "),
            ])?;
        }
        w.into_inner().map_err(|e| e.into_error().into())
    }

    /// The Nagios plugin output: the status line with performance data, then one line per
    /// device with a problem (the "long output" that Centreon, Icinga and Zabbix show).
    pub fn nagios(&self) -> String {
        let [ok, warning, critical] = self.counts();
        let total = ok + warning + critical;
        let level = self.level();
        let mut worst: Vec<String> = self
            .rows()
            .filter(|(_, r)| r.level == level && level != Level::Ok)
            .map(|(_, r)| format!("{}/{}", r.device.structure, r.device.device))
            .collect();
        if worst.len() > 5 {
            let more = worst.len() - 5;
            worst.truncate(5);
            worst.push(format!("and {more} more"));
        }
        let summary = if level == Level::Ok {
            format!("all {total} devices OK")
        } else {
            format!(
                "{critical} critical, {warning} warning, {ok} ok of {total} devices: {}",
                worst.join(", ")
            )
        };
        let perf = [
            ("devices", total),
            ("ok", ok),
            ("warning", warning),
            ("critical", critical),
            (
                "offline",
                self.count_code("offline") + self.count_code("missing"),
            ),
            ("missing", self.count_code("missing")),
            ("never_seen", self.count_code("never-seen")),
            ("security_updates", self.count_code("security-updates")),
            (
                "failing_critical_checks",
                self.count_code("critical-checks"),
            ),
            ("failing_baseline", self.count_code("baseline-items")),
            (
                "cert_expiring",
                self.count_code("cert-expiring") + self.count_code("cert-expired"),
            ),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={v};;;0;{total}"))
        .collect::<Vec<_>>()
        .join(" ");
        let mut out = format!(
            "GRAPPE {} {} - {summary} | {perf}\n",
            self.grappe,
            level.name()
        );
        for (_, r) in self.rows().filter(|(_, r)| r.level != Level::Ok) {
            let reasons: Vec<_> = r.findings.iter().map(|f| f.reason.as_str()).collect();
            let _ = writeln!(
                out,
                "{} {}/{}: {}",
                r.level.name(),
                r.device.structure,
                r.device.device,
                reasons.join("; ")
            );
        }
        out
    }
}

/// For the table: `-` when unknown.
fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// For the CSV: an empty cell when unknown, so that numeric columns stay numeric.
fn cell<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

#[derive(Serialize)]
struct Record<'a> {
    structure: &'a str,
    device: &'a str,
    level: Level,
    state: &'static str,
    status_since: Option<&'a str>,
    last_seen: Option<String>,
    last_report: Option<String>,
    agent_version: Option<&'a str>,
    posture_score: Option<u8>,
    failing_critical: &'a [String],
    failing_high: &'a [String],
    /// The ESSMS baseline: items passed of those that apply, the failing ones, and every
    /// item's verdict; all null for a report without one (an older agent).
    baseline_passed: Option<usize>,
    baseline_applicable: Option<usize>,
    baseline_failing: Option<Vec<&'a str>>,
    baseline: Option<&'a [BaselineSummary]>,
    security_updates: Option<usize>,
    upgradable: Option<usize>,
    reboot_required: Option<bool>,
    os_end_of_life: Option<&'a str>,
    cert_not_after: Option<String>,
    spool_dropped: u64,
    spool_corrupt: u64,
    usage_period: Option<&'a str>,
    days_active: Option<u32>,
    findings: &'a [Finding],
    /// The self-update's last outcome, and the versions that failed on the device.
    last_update: Option<&'a crate::wire::update::Report>,
    failed_updates: Vec<&'a str>,
}

#[derive(Serialize)]
struct Doc<'r, 'a> {
    schema: &'static str,
    grappe: &'a str,
    generated_at: String,
    level: &'static str,
    counts: Counts,
    devices: Devices<'r, 'a>,
}

#[derive(Serialize)]
struct Counts {
    devices: usize,
    ok: usize,
    warning: usize,
    critical: usize,
}

/// The devices, serialised one at a time from the report.
struct Devices<'r, 'a>(&'r Report<'a>);

impl Serialize for Devices<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let report = self.0;
        s.collect_seq(report.rows().map(|(g, r)| Entry {
            structure_name: g.structure.map(|s| s.name.as_str()),
            finess: g.structure.map(|s| s.finess.as_str()),
            record: report.record(r),
        }))
    }
}

#[derive(Serialize)]
struct Entry<'a> {
    structure_name: Option<&'a str>,
    finess: Option<&'a str>,
    #[serde(flatten)]
    record: Record<'a>,
}

/// The Nagios plugin exit code of a level.
pub fn exit_code(level: Level) -> u8 {
    level as u8
}

/// The Nagios UNKNOWN line, for a check that could not look (bad config, no broker).
pub fn nagios_unknown(why: &str) -> String {
    format!("GRAPPE UNKNOWN - {}\n", why.replace('\n', " "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::status::Status;
    use std::time::Duration;

    fn config() -> FleetConfig {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.toml");
        std::fs::write(
            &path,
            "[fleet]\ngrappe = \"g\"\n[broker]\nurl = \"mqtt://127.0.0.1:1\"\nallow_insecure = true\n\
             [[structure]]\nid = \"b-home\"\nname = \"Résidence B; annexe\"\nfiness = \"750000002\"\n\
             [[structure]]\nid = \"a-home\"\nname = \"EHPAD A\"\nfiness = \"750000001\"\n",
        )
        .unwrap();
        FleetConfig::load(&path).unwrap()
    }

    fn fleet(now: SystemTime) -> Fleet {
        let mut fleet = Fleet::default();
        let online = Status::online(crate::wire::rfc3339(now), None);
        for (s, d) in [
            ("a-home", "ok-1"),
            ("b-home", "ok-2"),
            ("zz-other", "stray"),
        ] {
            fleet.absorb(&format!("grappe/v1/g/{s}/{d}/status"), &online.to_json());
        }
        let lost = Status::last_will(None).to_json();
        fleet.absorb("grappe/v1/g/a-home/lost-1/status", &lost);
        fleet.enrolled("b-home", "new-1", now + Duration::from_secs(400 * 86400));
        fleet
    }

    #[test]
    fn groups_follow_the_config_and_problems_come_first() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        let config = config();
        let fleet = fleet(now);
        let report = build(&fleet, &config, now, &Filter::default());
        let order: Vec<_> = report
            .rows()
            .map(|(g, r)| format!("{}/{}", g.id, r.device.device))
            .collect();
        assert_eq!(
            order,
            [
                "b-home/new-1",
                "b-home/ok-2",
                "a-home/lost-1",
                "a-home/ok-1",
                "zz-other/stray"
            ]
        );
        // ok-1 and ok-2 have no posture yet: a warning each.
        assert_eq!(report.counts(), [0, 4, 1]);
        assert_eq!(report.level(), Level::Critical);

        let problems = build(
            &fleet,
            &config,
            now,
            &Filter {
                structure: Some("a-home".into()),
                problems: true,
            },
        );
        let order: Vec<_> = problems
            .rows()
            .map(|(_, r)| r.device.device.as_str())
            .collect();
        assert_eq!(order, ["lost-1", "ok-1"]);

        let table = report.table();
        assert!(
            table.contains("Résidence B; annexe (b-home, FINESS 750000002)"),
            "{table}"
        );
        assert!(table.contains("zz-other (not in fleet.toml)"), "{table}");
        assert!(table.contains("never seen"), "{table}");

        let nagios = report.nagios();
        let first = nagios.lines().next().unwrap();
        assert!(
            first.starts_with(
                "GRAPPE g CRITICAL - 1 critical, 4 warning, 0 ok of 5 devices: a-home/lost-1 |"
            ),
            "{first}"
        );
        assert!(
            first.contains(" devices=5;;;0;5 ") && first.contains("never_seen=1;"),
            "{first}"
        );
        assert_eq!(nagios.lines().count(), 6);
        assert_eq!(exit_code(report.level()), 2);
    }

    #[test]
    fn csv_and_json_carry_the_same_rows() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        let config = config();
        let fleet = fleet(now);
        let report = build(&fleet, &config, now, &Filter::default());
        let csv = report.csv().unwrap();
        assert!(csv.starts_with(b"\xEF\xBB\xBFstructure;"));
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(b';')
            .from_reader(&csv[3..]);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 5);
        assert_eq!(&rows[0][2], "750000002");
        assert_eq!(&rows[0][1], "Résidence B; annexe", "quoted, not split");
        let json: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
        assert_eq!(json["counts"]["devices"], 5);
        assert_eq!(json["devices"][0]["device"], "new-1");
        assert_eq!(json["devices"][0]["state"], "never seen");
        assert_eq!(json["devices"][2]["state"], "lost");
        assert_eq!(json["devices"][2]["findings"][0]["code"], "missing");
    }

    #[test]
    fn failed_updates_are_shown_per_device() {
        use crate::wire::update::{Failed, Outcome, Report, Summary};
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        let mut fleet = fleet(now);
        let mut status = Status::online(crate::wire::rfc3339(now), None);
        status.update = Some(Summary {
            last: Some(Report {
                outcome: Outcome::RolledBack,
                at: crate::wire::rfc3339(now),
                from: "0.1.0".into(),
                version: Some("0.2.0".into()),
                refusal: None,
                reason: Some("crash loop".into()),
            }),
            failed: vec![Failed {
                version: "0.2.0".into(),
                at: crate::wire::rfc3339(now),
                reason: "crash loop".into(),
            }],
        });
        fleet.absorb("grappe/v1/g/a-home/ok-1/status", &status.to_json());
        let config = config();
        let report = build(&fleet, &config, now, &Filter::default());
        let json: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
        let device = json["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["device"] == "ok-1")
            .unwrap();
        assert_eq!(device["level"], "WARNING", "{device}");
        let codes: Vec<&str> = device["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap())
            .collect();
        assert!(codes.contains(&"update-rolled-back"), "{codes:?}");
        assert_eq!(device["last_update"]["outcome"], "rolled_back");
        assert_eq!(device["failed_updates"][0], "0.2.0");
        let csv = String::from_utf8(report.csv().unwrap()).unwrap();
        let line = csv.lines().find(|l| l.contains(";ok-1;")).unwrap();
        assert!(
            line.ends_with(";rolled_back 0.2.0: crash loop;0.2.0"),
            "{line}"
        );
    }

    /// The baseline columns: "passed/applicable" in the table, numbers and ids in the CSV
    /// and JSON, and nothing at all (never 0/0) for an agent older than the baseline.
    #[test]
    fn the_baseline_is_shown_per_device_and_absent_for_older_agents() {
        use crate::wire::{Envelope, Identity, Kind};
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        let mut fleet = fleet(now);
        let posture = |device: &str, baseline: serde_json::Value| {
            let who = Identity {
                grappe: "g".into(),
                structure: "a-home".into(),
                device: device.into(),
            };
            let mut data = serde_json::json!({"score": 90, "checks": [],
                "counts": {"pass":0,"fail":0,"unknown":0,"not_applicable":0}});
            if !baseline.is_null() {
                data["baseline"] = baseline;
            }
            let env = Envelope::new(Kind::Posture, &who, now, 1, data);
            let topic = format!("grappe/v1/g/a-home/{device}/posture");
            (topic, serde_json::to_vec(&env).unwrap())
        };
        let item = |id: &str, status: &str| serde_json::json!({"id": id, "title": "t", "status": status, "checks": [], "reference": "r"});
        let (topic, payload) = posture(
            "ok-1",
            serde_json::json!([
                item("updates", "pass"),
                item("antivirus", "fail"),
                item("backup", "fail"),
                item("encryption", "not_applicable"),
                item("passwords", "unknown"),
            ]),
        );
        fleet.absorb(&topic, &payload);
        let (topic, payload) = posture("lost-1", serde_json::Value::Null);
        fleet.absorb(&topic, &payload);
        let config = config();
        let report = build(&fleet, &config, now, &Filter::default());

        let table = report.table();
        let line = |d: &str| table.lines().find(|l| l.contains(d)).unwrap().to_string();
        assert!(table.contains(" SCORE BASELINE SEC "), "{table}");
        assert!(line("ok-1").contains(" 90    1/4      - "), "{table}");
        assert!(line("lost-1").contains(" 90    -        - "), "{table}");
        assert!(
            line("ok-1").contains("failing ESSMS baseline items (1/4 passed): antivirus, backup"),
            "{table}"
        );

        let json: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
        let row = |d: &str| {
            json["devices"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["device"] == d)
                .unwrap()
                .clone()
        };
        let ok = row("ok-1");
        assert_eq!(ok["baseline_passed"], 1);
        assert_eq!(ok["baseline_applicable"], 4);
        assert_eq!(
            ok["baseline_failing"],
            serde_json::json!(["antivirus", "backup"])
        );
        assert_eq!(
            ok["baseline"][4],
            serde_json::json!({"id": "passwords", "status": "unknown"})
        );
        let old = row("lost-1");
        for key in [
            "baseline_passed",
            "baseline_applicable",
            "baseline_failing",
            "baseline",
        ] {
            assert!(old[key].is_null(), "{key}: {old}");
        }
        assert!(report.nagios().contains(" failing_baseline=1;;;0;5 "));

        let csv = report.csv().unwrap();
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(b';')
            .from_reader(&csv[3..]);
        let header = reader.headers().unwrap().clone();
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let csv_row = |d: &str| rows.iter().find(|r| &r[3] == d).unwrap().clone();
        let ok = csv_row("ok-1");
        assert_eq!(
            [
                &ok[col("baseline_passed")],
                &ok[col("baseline_applicable")],
                &ok[col("baseline_failing")]
            ],
            ["1", "4", "antivirus backup"]
        );
        let old = csv_row("lost-1");
        assert_eq!(&old[col("posture_score")], "90");
        assert_eq!(
            [
                &old[col("baseline_passed")],
                &old[col("baseline_applicable")],
                &old[col("baseline_failing")]
            ],
            ["", "", ""]
        );
    }
}
