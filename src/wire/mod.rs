//! The MQTT contract, in both directions: what the agent publishes and what the fleet
//! tool reads back, as types (see `CONTRACT.md`). No I/O and no parser types here, so
//! that a change to a collector's parser cannot change the wire format by accident.
//! - [`topic`]: the topic tree, built and parsed, retain flags, ACL grants;
//! - the envelope every report is published in ([`Envelope`]) and the report kinds;
//! - [`status`] and [`heartbeat`]: the device's state and its periodic sign of life;
//! - [`command`]: operator commands and their answers;
//! - [`update`]: the outcome of self-update attempts, in the heartbeat and command answers;
//! - [`signed`]: a report signed by its device (the usage report), checkable offline;
//! - the four reports' `data`: [`inventory`], [`posture`], [`patches`], [`usage`]. The
//!   collectors fill these types; the fleet reads them back. Deserialising is generic
//!   code, so it costs the device binary nothing until something calls it.

pub mod command;
pub mod heartbeat;
pub mod inventory;
pub mod patches;
pub mod posture;
pub mod signed;
pub mod status;
pub mod topic;
pub mod update;
pub mod usage;

pub use topic::{is_valid_name, Grants, Identity, Topic, VALID_NAME};

use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// The four reports a device publishes, each on its own retained topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Inventory,
    Posture,
    Patches,
    Usage,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Inventory, Kind::Posture, Kind::Patches, Kind::Usage];

    /// Name used in topics, `collect --only` and the state file.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Inventory => "inventory",
            Kind::Posture => "posture",
            Kind::Patches => "patches",
            Kind::Usage => "usage",
        }
    }

    /// The payload schema; bumped whenever a field changes meaning.
    pub fn schema(self) -> &'static str {
        match self {
            Kind::Inventory => "grappe-agent/inventory/1",
            Kind::Posture => "grappe-agent/posture/1",
            Kind::Patches => "grappe-agent/patches/1",
            Kind::Usage => "grappe-agent/usage/2",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind a schema names, in any of its versions (`grappe-agent/posture/N`).
    pub fn from_schema(schema: &str) -> Option<Kind> {
        let name = schema.strip_prefix("grappe-agent/")?.split_once('/')?.0;
        Kind::from_name(name)
    }
}

/// What a report could not read, in its `problems`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub file: String,
    pub error: String,
}

/// The JSON object every report is published as: who and when, then the report's `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub schema: String,
    pub grappe: String,
    pub structure: String,
    pub device: String,
    pub agent_version: String,
    pub collected_at: String,
    /// Grows with every report of the device (across restarts, not by one: numbers are
    /// reserved in blocks); a report arriving twice (QoS 1) has the same one.
    pub seq: u64,
    pub data: T,
}

impl<T> Envelope<T> {
    pub fn new(kind: Kind, who: &Identity, collected_at: SystemTime, seq: u64, data: T) -> Self {
        Envelope {
            schema: kind.schema().into(),
            grappe: who.grappe.clone(),
            structure: who.structure.clone(),
            device: who.device.clone(),
            agent_version: crate::version().into(),
            collected_at: rfc3339(collected_at),
            seq,
            data,
        }
    }

    /// The report kind, from the schema; `None` for a schema this version does not know.
    pub fn kind(&self) -> Option<Kind> {
        Kind::from_schema(&self.schema)
    }

    /// Who the report is about.
    pub fn identity(&self) -> Identity {
        Identity {
            grappe: self.grappe.clone(),
            structure: self.structure.clone(),
            device: self.device.clone(),
        }
    }
}

/// Reads a report as published: signed by its device ([`signed`]) or plain. The signature
/// is not checked here (that needs the grappe CA: see [`signed::Signed::verify`]).
pub fn read_report<T: serde::de::DeserializeOwned>(message: &[u8]) -> Result<Envelope<T>, String> {
    let opened = signed::Opened::read(message)?;
    let report = opened.report()?;
    serde_json::from_slice(&report).map_err(|e| e.to_string())
}

/// `2026-11-23T10:00:00Z`: UTC, whole seconds, as in every payload.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn envelope_has_the_contract_fields() {
        let who = Identity {
            grappe: "g".into(),
            structure: "s".into(),
            device: "d".into(),
        };
        let data = serde_json::json!({"x": 1});
        let t = UNIX_EPOCH + Duration::from_secs(1_795_428_000);
        let env = Envelope::new(Kind::Posture, &who, t, 42, &data);
        let v = serde_json::to_value(&env).unwrap();
        assert_eq!(v["schema"], "grappe-agent/posture/1");
        assert_eq!(v["device"], "d");
        assert_eq!(v["seq"], 42);
        assert_eq!(v["collected_at"], "2026-11-23T10:00:00Z");
        assert_eq!(v["data"]["x"], 1);
        // And back, as the fleet reads it.
        let read: Envelope<serde_json::Value> = serde_json::from_value(v).unwrap();
        assert_eq!(read.kind(), Some(Kind::Posture));
        assert_eq!(read.identity(), who);
        assert_eq!((read.seq, &read.data), (42, &data));
    }

    #[test]
    fn schemas_name_their_kind_in_any_version() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_schema(k.schema()), Some(k));
        }
        assert_eq!(
            Kind::from_schema("grappe-agent/posture/2"),
            Some(Kind::Posture)
        );
        assert_eq!(Kind::from_schema("grappe-agent/heartbeat/1"), None);
        assert_eq!(Kind::from_schema("posture"), None);
    }

    #[test]
    fn kinds_round_trip_by_name() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_name(k.name()), Some(k));
        }
        assert_eq!(Kind::from_name("heartbeat"), None);
    }
}
