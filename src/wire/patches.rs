//! The patch report's `data` (schema `grappe-agent/patches/1`): pending updates, security
//! fixes among them, OS support, reboot.

use super::Problem;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patches {
    /// `YYYY-MM-DD`: end of public security support (Debian LTS, Ubuntu standard support);
    /// `null` when the release is not in the table (or is testing/unstable).
    pub os_end_of_life: Option<String>,
    pub end_of_life_reached: Option<bool>,
    /// `YYYY-MM-DD`: end of regular security support (Debian Security Team; for Ubuntu the
    /// same as `os_end_of_life`), for planning upgrades before LTS ends.
    pub os_regular_support_end: Option<String>,
    /// Seconds since apt last refreshed its package lists; `null` when there are none.
    pub package_lists_age_s: Option<u64>,
    pub upgradable: Option<Vec<Upgradable>>,
    pub upgradable_count: Option<usize>,
    pub security_count: Option<usize>,
    pub reboot_required: Option<bool>,
    /// Packages that asked for the reboot, sorted, each once.
    pub reboot_required_packages: Option<Vec<String>>,
    pub auto_updates_enabled: Option<bool>,
    /// Files that could not be read, and why.
    pub problems: Vec<Problem>,
}

/// A package with a newer candidate version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upgradable {
    pub name: String,
    /// The installed version's architecture (`all` for architecture-independent ones).
    pub arch: String,
    pub installed: String,
    pub candidate: String,
    /// The candidate is available from a security archive.
    pub security: bool,
}

/// What the fleet's view reads of a patch report: the counts and flags, not the list of
/// upgradable packages (skipped by the parser without being copied).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Summary {
    pub os_end_of_life: Option<String>,
    pub end_of_life_reached: Option<bool>,
    pub upgradable_count: Option<usize>,
    pub security_count: Option<usize>,
    pub reboot_required: Option<bool>,
    pub auto_updates_enabled: Option<bool>,
    /// How many files could not be read (the counts above are then `null`).
    #[serde(default, deserialize_with = "count_of")]
    pub problems: usize,
}

fn count_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    Ok(Vec::<serde::de::IgnoredAny>::deserialize(d)?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_reads_what_the_report_writes() {
        let patches = Patches {
            os_end_of_life: Some("2028-06-30".into()),
            end_of_life_reached: Some(false),
            os_regular_support_end: None,
            package_lists_age_s: Some(60),
            upgradable: Some(vec![Upgradable {
                name: "openssl".into(),
                arch: "arm64".into(),
                installed: "3.0.1".into(),
                candidate: "3.0.2".into(),
                security: true,
            }]),
            upgradable_count: Some(1),
            security_count: Some(1),
            reboot_required: Some(true),
            reboot_required_packages: Some(vec!["linux-image".into()]),
            auto_updates_enabled: Some(false),
            problems: vec![Problem {
                file: "/var/lib/apt/lists".into(),
                error: "x".into(),
            }],
        };
        let s: Summary = serde_json::from_slice(&serde_json::to_vec(&patches).unwrap()).unwrap();
        assert_eq!(
            (s.security_count, s.reboot_required, s.problems),
            (Some(1), Some(true), 1)
        );
        assert_eq!(s.os_end_of_life.as_deref(), Some("2028-06-30"));
    }
}
