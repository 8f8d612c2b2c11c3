//! Collectors: they read the system and return plain data. They never write, never send,
//! and never fail as a whole: what cannot be read is reported as unknown, with why.

pub mod apt_periodic;
pub mod inventory;
pub mod patches;
pub mod posture;
mod root;

pub use root::{max, Root};

use crate::report::Kind;
use crate::usage::Ledger;
use std::path::Path;
use std::time::SystemTime;

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
