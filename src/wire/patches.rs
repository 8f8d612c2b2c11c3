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
