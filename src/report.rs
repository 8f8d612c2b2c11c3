//! The report model: the envelope every published report shares, and the report kinds.

use serde::Serialize;
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
            Kind::Usage => "grappe-agent/usage/1",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Who a report is about: the three levels of the topic tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub grappe: String,
    pub structure: String,
    pub device: String,
}

impl Identity {
    /// `grappe/v1/{grappe}/{structure}/{device}/`, the prefix of every topic of this device.
    pub fn topic(&self, suffix: &str) -> String {
        format!(
            "grappe/v1/{}/{}/{}/{}",
            self.grappe, self.structure, self.device, suffix
        )
    }
}

/// The JSON object every report is published as (see CONTRACT.md).
#[derive(Debug, Serialize)]
pub struct Envelope<'a, T: Serialize> {
    pub schema: &'static str,
    pub grappe: &'a str,
    pub structure: &'a str,
    pub device: &'a str,
    pub agent_version: &'static str,
    pub collected_at: String,
    pub seq: u64,
    pub data: &'a T,
}

impl<'a, T: Serialize> Envelope<'a, T> {
    pub fn new(
        kind: Kind,
        who: &'a Identity,
        collected_at: SystemTime,
        seq: u64,
        data: &'a T,
    ) -> Self {
        Envelope {
            schema: kind.schema(),
            grappe: &who.grappe,
            structure: &who.structure,
            device: &who.device,
            agent_version: env!("CARGO_PKG_VERSION"),
            collected_at: rfc3339(collected_at),
            seq,
            data,
        }
    }
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
        assert_eq!(who.topic("posture"), "grappe/v1/g/s/d/posture");
    }

    #[test]
    fn kinds_round_trip_by_name() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_name(k.name()), Some(k));
        }
        assert_eq!(Kind::from_name("heartbeat"), None);
    }
}
