//! The posture report's `data` (schema `grappe-agent/posture/1`): security checks, their
//! score, and the ESSMS baseline item by item. Fields added after the first release
//! (`scoring`, `baseline`, `host_state`) default when absent, so that the fleet still reads
//! reports from agents not yet updated.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Posture {
    pub checks: Vec<Check>,
    /// 0..=100, computed as [`Posture::scoring`] says.
    pub score: u8,
    pub counts: Counts,
    /// How the score is computed, in words, for whoever reads the report.
    #[serde(default)]
    pub scoring: Cow<'static, str>,
    /// The sector's baseline (the ESSMS security instruction's items for every terminal),
    /// one verdict per item, each resting on checks of [`Posture::checks`].
    #[serde(default)]
    pub baseline: Vec<BaselineItem>,
}

/// One item of the ESSMS baseline: its verdict and the checks it rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineItem {
    /// Stable identifier: `updates`, `antivirus`, `firewall`, `backup`, `session_lock`,
    /// `individual_accounts`, `passwords`, `encryption`.
    pub id: Cow<'static, str>,
    pub title: Cow<'static, str>,
    /// Fail if one of its checks fails; otherwise unknown if one is unknown; pass if one
    /// passes; not applicable when none applies.
    pub status: Status,
    /// The ids of the checks it rests on.
    pub checks: Vec<Cow<'static, str>>,
    /// Where the item comes from.
    pub reference: Cow<'static, str>,
}

/// How many checks ended in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub unknown: usize,
    pub not_applicable: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Stable identifier, e.g. `ssh.root_login`.
    pub id: Cow<'static, str>,
    pub title: Cow<'static, str>,
    pub status: Status,
    pub severity: Severity,
    /// Short and factual: what was read and what was found. Counts, never user names.
    pub evidence: String,
    /// The ANSSI or CIS rule the check comes from.
    pub reference: Cow<'static, str>,
    /// The check read live kernel or runtime state (/proc, /sys, /run) while the files
    /// came from another tree (`collect --root`): its status is the host's, not the image's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_state: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    Unknown,
    NotApplicable,
}

impl Status {
    /// As serialised: `pass`, `fail`, `unknown`, `not_applicable`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Unknown => "unknown",
            Status::NotApplicable => "not_applicable",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// What the fleet's view reads of a posture report: the score and each check's id, status
/// and severity. The other fields (titles, evidence) are skipped by the parser without
/// being copied: on a fleet of thousands they are most of the bytes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Summary {
    pub score: u8,
    pub checks: Vec<CheckSummary>,
    #[serde(default)]
    pub baseline: Vec<BaselineSummary>,
}

/// A baseline item as the fleet's view reads it, and as a usage report carries it
/// (`wire::usage::PostureAt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineSummary {
    pub id: String,
    pub status: Status,
}

/// A baseline's verdicts in short: what the fleet's table and the proof show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaselineTally<'a> {
    pub passed: usize,
    /// Items that apply to the device (all but the not applicable ones); an unknown one
    /// applies and is not passed.
    pub applicable: usize,
    pub failing: Vec<&'a str>,
    pub unknown: Vec<&'a str>,
}

impl<'a> BaselineTally<'a> {
    /// `None` for a report without a baseline (an agent older than it): never "0/0".
    pub fn of(items: &'a [BaselineSummary]) -> Option<BaselineTally<'a>> {
        Self::tally(items.iter().map(|i| (i.id.as_str(), i.status)))
    }

    /// The same, of a whole report's items.
    pub fn of_items(items: &'a [BaselineItem]) -> Option<BaselineTally<'a>> {
        Self::tally(items.iter().map(|i| (&*i.id, i.status)))
    }

    fn tally(items: impl Iterator<Item = (&'a str, Status)>) -> Option<BaselineTally<'a>> {
        let mut t = BaselineTally::default();
        let mut any = false;
        for (id, status) in items {
            any = true;
            match status {
                Status::Pass => t.passed += 1,
                Status::Fail => t.failing.push(id),
                Status::Unknown => t.unknown.push(id),
                Status::NotApplicable => continue,
            }
            t.applicable += 1;
        }
        any.then_some(t)
    }
}

impl Summary {
    /// The ids of the failing critical checks, then those of the failing high ones.
    pub fn failing_serious(&self) -> (Vec<String>, Vec<String>) {
        let failing = |severity| {
            self.checks
                .iter()
                .filter(|c| c.status == Status::Fail && c.severity == severity)
                .map(|c| c.id.clone())
                .collect()
        };
        (failing(Severity::Critical), failing(Severity::High))
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CheckSummary {
    pub id: String,
    pub status: Status,
    pub severity: Severity,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_reads_what_the_report_writes() {
        let check = |id: &'static str, status, severity| Check {
            id: id.into(),
            title: "A title".into(),
            status,
            severity,
            evidence: "what was read".into(),
            reference: "ANSSI R1".into(),
            host_state: false,
        };
        let posture = Posture {
            checks: vec![
                check("ssh.root_login", Status::Fail, Severity::High),
                check("fs.tmp", Status::Pass, Severity::Low),
            ],
            score: 64,
            counts: Counts::default(),
            scoring: "how".into(),
            baseline: vec![BaselineItem {
                id: "firewall".into(),
                title: "A firewall".into(),
                status: Status::Fail,
                checks: vec!["network.firewall".into()],
                reference: "ESSMS".into(),
            }],
        };
        let summary: Summary =
            serde_json::from_slice(&serde_json::to_vec(&posture).unwrap()).unwrap();
        assert_eq!(summary.score, 64);
        assert_eq!(
            summary.checks[0],
            CheckSummary {
                id: "ssh.root_login".into(),
                status: Status::Fail,
                severity: Severity::High
            }
        );
        assert_eq!(summary.checks.len(), 2);
        assert_eq!(
            summary.baseline,
            [BaselineSummary {
                id: "firewall".into(),
                status: Status::Fail
            }]
        );
    }

    #[test]
    fn a_tally_counts_what_applies_and_names_what_does_not_pass() {
        let item = |id: &str, status| BaselineSummary {
            id: id.into(),
            status,
        };
        let items = [
            item("updates", Status::Pass),
            item("antivirus", Status::Fail),
            item("firewall", Status::Pass),
            item("backup", Status::Unknown),
            item("encryption", Status::NotApplicable),
        ];
        let t = BaselineTally::of(&items).unwrap();
        assert_eq!((t.passed, t.applicable), (2, 4));
        assert_eq!((t.failing, t.unknown), (vec!["antivirus"], vec!["backup"]));
        assert_eq!(BaselineTally::of(&[]), None, "no baseline is not 0/0");
        for s in [
            Status::Pass,
            Status::Fail,
            Status::Unknown,
            Status::NotApplicable,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
    }

    /// A report from an agent that predates the baseline still reads, with none.
    #[test]
    fn older_reports_read_without_the_new_fields() {
        let old = r#"{"checks":[{"id":"a.b","title":"t","status":"pass","severity":"low","evidence":"e","reference":"r"}],"score":100,"counts":{"pass":1,"fail":0,"unknown":0,"not_applicable":0}}"#;
        let p: Posture = serde_json::from_str(old).unwrap();
        assert!(p.baseline.is_empty() && p.scoring.is_empty() && !p.checks[0].host_state);
        let s: Summary = serde_json::from_str(old).unwrap();
        assert!(s.baseline.is_empty());
        let again = serde_json::to_string(&p.checks[0]).unwrap();
        assert!(!again.contains("host_state"), "{again}");
    }
}
