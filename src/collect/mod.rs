//! Collectors: they read the system and return plain data. They never write, never send,
//! and never fail as a whole: what cannot be read is reported as unknown, with why.

pub mod apt_periodic;
pub mod inventory;
pub mod patches;
pub mod posture;
mod root;

pub use root::{max, Root};

use crate::parse::dpkg;
use crate::usage::Ledger;
use crate::wire::Kind;
use std::io;
use std::path::Path;
use std::time::SystemTime;

/// dpkg's database of the packages on the system.
pub const DPKG_STATUS: &str = "/var/lib/dpkg/status";

/// Streams the installed packages of `root`'s dpkg database into `each`, one paragraph
/// in memory at a time (see [`dpkg::each_installed`]).
pub fn each_installed(root: &Root, each: impl FnMut(dpkg::Package<'_>)) -> io::Result<()> {
    let file = crate::fsutil::open(&root.file(DPKG_STATUS))?;
    dpkg::each_installed(io::BufReader::new(file), each)
}

/// Collects one report's `data`, as JSON.
///
/// A collector that panics on some unforeseen input costs that one report, not the agent:
/// the panic is caught and returned as an error naming the report. `state_dir`, when
/// given, keeps the patch report's memo (see `patches::memo`).
pub fn report(
    kind: Kind,
    root: &Root,
    ledger: &Ledger,
    state_dir: Option<&Path>,
    now: SystemTime,
) -> Result<serde_json::Value, String> {
    let collected = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match kind {
        Kind::Inventory => serde_json::to_value(inventory::collect(root)),
        Kind::Posture => serde_json::to_value(posture::collect(root)),
        Kind::Patches => serde_json::to_value(patches::collect(root, state_dir)),
        Kind::Usage => {
            let date = time::OffsetDateTime::from(now).date();
            serde_json::to_value(ledger.month(date.year(), date.month()))
        }
    }));
    match collected {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!(
            "{} report could not be serialised: {e}",
            kind.name()
        )),
        Err(_) => Err(format!(
            "{} collector failed (panic); see the log",
            kind.name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the agent publishes reads back into the contract's types as it was: the fleet
    /// sees every field the device sent (this machine's real reports).
    #[test]
    fn every_report_reads_back_into_the_wire_types_unchanged() {
        fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(v: &serde_json::Value) {
            let typed: T = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"));
            assert_eq!(&serde_json::to_value(&typed).unwrap(), v);
        }
        let now = SystemTime::now();
        let ledger = Ledger::default();
        for kind in Kind::ALL {
            let v = report(kind, &Root::host(), &ledger, None, now).unwrap();
            match kind {
                Kind::Inventory => round_trip::<crate::wire::inventory::Inventory>(&v),
                Kind::Posture => round_trip::<crate::wire::posture::Posture>(&v),
                Kind::Patches => round_trip::<crate::wire::patches::Patches>(&v),
                Kind::Usage => round_trip::<crate::wire::usage::UsageMonth>(&v),
            }
        }
        let month = serde_json::json!({"period": "2026-11", "days": [
            {"date": "2026-11-02", "uptime_s": 86400, "active_s": 3600, "boots": 1}],
            "days_on": 1, "days_active": 1});
        round_trip::<crate::wire::usage::UsageMonth>(&month);
    }

    /// A dpkg database larger than any whole-file limit (64 MiB) is read by every report
    /// that needs it, streamed: nothing is refused for its size.
    #[test]
    fn a_status_file_beyond_every_text_limit_is_streamed_by_every_report() {
        let t = tempfile::tempdir().unwrap();
        let status = t.path().join("disk/var/lib/dpkg/status");
        std::fs::create_dir_all(status.parent().unwrap()).unwrap();
        let entry = |name: &str, extra: &str| {
            format!("Package: {name}\nStatus: install ok installed\nArchitecture: arm64\nVersion: 1.0\n{extra}\n")
        };
        let long = format!("Description: {}\n", "x".repeat(1000 * 1000));
        let mut text = entry("unattended-upgrades", "");
        for i in 0..70 {
            text.push_str(&entry(&format!("big-{i}"), &long));
        }
        text.push_str(&entry("dpkg", ""));
        assert!(text.len() as u64 > max::TEXT);
        std::fs::write(&status, text).unwrap();
        let root = Root::at(t.path().join("disk")).with_live(t.path().join("live"));

        let inventory = inventory::collect(&root);
        assert_eq!(inventory.packages.map(|p| p.count), Some(72));
        let posture = posture::collect(&root);
        let updates = posture.checks.iter().find(|c| c.id == "updates.automatic");
        assert!(
            updates.is_some_and(|c| c.evidence.contains("unattended-upgrades")
                && !c.evidence.contains("not readable")),
            "{updates:?}"
        );
        let patches = patches::collect(&root, None);
        assert!(
            patches.auto_updates_enabled.is_some(),
            "{:?}",
            patches.problems
        );
    }
}
