//! grappe-agent: reports a device's inventory, security posture, patch status and usage
//! to its grappe's MQTT broker.
//!
//! The layout follows the data:
//! - [`collect`] reads the system and nothing else (collectors never write or send);
//! - [`parse`] holds the pure parsers the collectors use, one file format per module;
//! - [`report`] is the envelope every published report shares;
//! - [`usage`] keeps the per-day usage ledger on disk;
//! - [`spool`] stores reports on disk until the broker has acknowledged them;
//! - [`transport`] only delivers: one MQTT connection over mutual TLS;
//! - [`agent`] ties them together on a schedule, with [`command`] for operator commands;
//! - [`config`] is validated before anything runs.

pub mod agent;
pub mod collect;
pub mod command;
pub mod config;
pub mod fsutil;
pub mod parse;
pub mod report;
pub mod spool;
pub mod state;
pub mod transport;
pub mod usage;

/// The throwaway PKI the integration tests use, shared with the unit tests.
#[cfg(test)]
#[path = "../tests/common/pki.rs"]
pub(crate) mod test_pki;
