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
pub mod usage;
pub mod wire;

/// The throwaway PKI the integration tests use, shared with the unit tests.
#[cfg(test)]
#[path = "../tests/common/pki.rs"]
pub(crate) mod test_pki;
