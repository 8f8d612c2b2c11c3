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
