//! The posture report's `data` (schema `grappe-agent/posture/1`): security checks and
//! their score.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Posture {
    pub checks: Vec<Check>,
    /// 0..=100, see the module documentation.
    pub score: u8,
    pub counts: Counts,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    Unknown,
    NotApplicable,
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
        };
        let posture = Posture {
            checks: vec![
                check("ssh.root_login", Status::Fail, Severity::High),
                check("fs.tmp", Status::Pass, Severity::Low),
            ],
            score: 64,
            counts: Counts::default(),
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
    }
}
