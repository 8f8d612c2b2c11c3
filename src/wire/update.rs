//! What a device says about its self-update: the outcome of the last attempt (in the
//! heartbeat and in the answer to `cmd/update-check`) and the versions it refuses to try
//! again. The fleet reads the same types back for `grappe-fleet status`.

use serde::{Deserialize, Serialize};

/// How an update attempt ended, from the device's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// No release newer than the running version (or only versions that failed before).
    UpToDate,
    /// `update --check`: this release would be taken; nothing was downloaded.
    Available,
    /// A newer release exists, but this device is outside its rollout share for now.
    NotInRollout,
    /// Downloaded, verified (digest, signature, the binary runs and says its version) and
    /// installed under the state directory; the agent switches to it next.
    Installed,
    /// The new version started, connected and had its `online` status acknowledged.
    Healthy,
    /// The new version did not become healthy in time: the previous one runs again and the
    /// failed version is never tried again.
    RolledBack,
    /// The release was not taken, for the reason given.
    Refused,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::UpToDate => "up_to_date",
            Outcome::Available => "available",
            Outcome::NotInRollout => "not_in_rollout",
            Outcome::Installed => "installed",
            Outcome::Healthy => "healthy",
            Outcome::RolledBack => "rolled_back",
            Outcome::Refused => "refused",
        }
    }

    /// Whether the fleet should look at it.
    pub fn is_problem(self) -> bool {
        matches!(self, Outcome::RolledBack | Outcome::Refused)
    }
}

/// Why a release was refused, as a stable code the fleet can count and filter on; the
/// [`Report::reason`] says the rest in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The release server cannot be reached (DNS, TCP, TLS with the configured CA, timeout).
    Unreachable,
    /// The manifest is not a release manifest this agent understands, or an error page.
    BadManifest,
    /// The release has no asset for this device's target.
    WrongTarget,
    /// The asset has no sha256 digest in the manifest, or is not signed.
    Unsigned,
    /// The archive's signature does not verify with the configured key.
    BadSignature,
    /// The download does not match the manifest's digest (tampered, or truncated).
    DigestMismatch,
    /// The download ended early.
    Truncated,
    /// The binary in the archive does not run here or does not say the release's version.
    BadBinary,
    /// The state directory cannot hold the new version (disk full, permissions).
    Storage,
    /// The agent's own update settings cannot be used (the key or CA file).
    Config,
    /// Another attempt was running on the device (by hand, or the service's).
    Busy,
}

/// One update attempt's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub outcome: Outcome,
    /// When it ended (RFC 3339).
    pub at: String,
    /// The version running when the attempt was made.
    pub from: String,
    /// The release concerned, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
    /// In words, for the log and the fleet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A version this device tried and will not try again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failed {
    pub version: String,
    pub at: String,
    pub reason: String,
}

/// The heartbeat's `update` object: absent while nothing ever happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Report>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<Failed>,
}

impl Summary {
    pub fn is_empty(&self) -> bool {
        self.last.is_none() && self.failed.is_empty()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.outcome.name())?;
        if let Some(version) = &self.version {
            write!(f, " {version}")?;
        }
        if let Some(refusal) = self.refusal {
            let code = serde_json::to_value(refusal).unwrap_or_default();
            write!(f, " ({})", code.as_str().unwrap_or_default())?;
        }
        if let Some(reason) = &self.reason {
            write!(f, ": {reason}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_back_with_its_code() {
        let report = Report {
            outcome: Outcome::Refused,
            at: "2026-12-07T10:00:00Z".into(),
            from: "0.1.0".into(),
            version: Some("0.2.0".into()),
            refusal: Some(Refusal::BadSignature),
            reason: Some("signature does not verify".into()),
        };
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains(r#""outcome":"refused""#), "{json}");
        assert!(json.contains(r#""refusal":"bad_signature""#), "{json}");
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), report);
        assert_eq!(
            report.to_string(),
            "refused 0.2.0 (bad_signature): signature does not verify"
        );
    }

    #[test]
    fn an_empty_summary_is_left_out() {
        let json = serde_json::to_string(&Summary::default()).unwrap();
        assert_eq!(json, "{}");
        assert!(Summary::default().is_empty());
    }
}
