//! grappe-agent: reports a device's inventory, security posture, patch status and usage
//! to its grappe's MQTT broker.
//!
//! The layout follows the data:
//! - [`collect`] reads the system and nothing else (collectors never write or send);
//! - [`parse`] holds the pure parsers the collectors use, one file format per module;
//! - [`wire`] is the MQTT contract: topics, the report envelope, status, heartbeat,
//!   commands and their answers, both ways;
//! - [`usage`] keeps the per-day usage ledger on disk;
//! - [`spool`] stores reports on disk until the broker has acknowledged them;
//! - [`transport`] only delivers: one MQTT connection over mutual TLS;
//! - [`agent`] ties them together on a schedule and answers operator commands;
//! - [`update`] takes signed releases, switches to them and comes back from a bad one;
//! - [`config`] is validated before anything runs;
//! - [`fleet`] (feature `fleet`, never in the device build) is the IT staff's side: the
//!   grappe's certificates and the broker configuration.

pub mod agent;
pub mod collect;
pub mod config;
#[cfg(feature = "fleet")]
pub mod fleet;
pub mod fsutil;
pub mod parse;
pub mod spool;
pub mod state;
pub mod transport;
pub mod update;
pub mod usage;
pub mod wire;

/// The target triple this binary was built for (`grappe-agent --version` prints it; release
/// assets are named after it).
pub const TARGET: &str = env!("GRAPPE_TARGET");

/// The version this binary reports and updates from. `GRAPPE_AGENT_PRETEND_VERSION` (a
/// semantic version) replaces it: for the self-update tests and release rehearsals, which
/// need a second version of the agent without a second build. Only whoever starts the
/// process can set it, and it changes nothing but what this process says it is.
pub fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        std::env::var("GRAPPE_AGENT_PRETEND_VERSION")
            .ok()
            .filter(|v| semver::Version::parse(v).is_ok())
            .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string())
    })
}

/// The throwaway PKI the integration tests use, shared with the unit tests.
#[cfg(test)]
#[path = "../tests/common/pki.rs"]
pub(crate) mod test_pki;
