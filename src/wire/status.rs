//! The retained `status` topic: `online` while connected, `offline` after a clean stop
//! (with the reason) or, published by the broker as the agent's Last Will, when the
//! connection was lost.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Online,
    Offline,
}

/// Why a device is offline, as the agent says it.
pub const REASON_SHUTDOWN: &str = "shutdown";
/// The Last Will's reason: the broker lost the connection (power cut, network, crash).
pub const REASON_CONNECTION_LOST: &str = "connection lost";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub state: State,
    /// When the state began (RFC 3339); absent from the Last Will, which is written at
    /// connection time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the device certificate expires (RFC 3339): past it, the broker refuses the
    /// device, and only someone on site can install a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_not_after: Option<String>,
    /// Reports the spool dropped (oldest first, to stay within its limit) and reports
    /// found damaged in it, since the agent was installed, as of this status (for the Last
    /// Will: as of the agent's start): kept here, retained, as well as in the heartbeat,
    /// so that the fleet sees past losses of a device that is now offline. Absent: zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub spool_dropped: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub spool_corrupt: u64,
    /// The self-update's last outcome and the versions that failed here, retained so that
    /// `grappe-fleet status` sees them. Absent: the updater never ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<super::update::Summary>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Status {
    pub fn online(since: String, cert_not_after: Option<String>) -> Status {
        Status {
            state: State::Online,
            since: Some(since),
            agent_version: Some(crate::version().into()),
            reason: None,
            cert_not_after,
            spool_dropped: 0,
            spool_corrupt: 0,
            update: None,
        }
    }

    /// A clean stop.
    pub fn offline(since: String, reason: &str, cert_not_after: Option<String>) -> Status {
        Status {
            state: State::Offline,
            reason: Some(reason.into()),
            ..Status::online(since, cert_not_after)
        }
    }

    /// What the broker publishes for the agent when it loses the connection. Set once
    /// per process, at the first connection: it says nothing of when, but keeps what the
    /// fleet must still know of a device that vanished (its certificate's expiry; add the
    /// spool's losses with [`Status::with_spool_losses`]).
    pub fn last_will(cert_not_after: Option<String>) -> Status {
        Status {
            state: State::Offline,
            since: None,
            agent_version: None,
            reason: Some(REASON_CONNECTION_LOST.into()),
            cert_not_after,
            spool_dropped: 0,
            spool_corrupt: 0,
            update: None,
        }
    }

    /// With the spool's loss counters (since installed).
    pub fn with_spool_losses(self, dropped: u64, corrupt: u64) -> Status {
        Status {
            spool_dropped: dropped,
            spool_corrupt: corrupt,
            ..self
        }
    }

    /// With the self-update summary, when there is one.
    pub fn with_update(self, summary: &super::update::Summary) -> Status {
        Status {
            update: (!summary.is_empty()).then(|| summary.clone()),
            ..self
        }
    }

    /// Whether the device stopped on purpose (shutdown, end of a `run --once`), as opposed
    /// to a lost connection.
    pub fn stopped_cleanly(&self) -> bool {
        self.state == State::Offline && self.reason.as_deref() != Some(REASON_CONNECTION_LOST)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_as_published_and_read_back() {
        let online = Status::online(
            "2026-12-01T08:00:00Z".into(),
            Some("2027-12-01T00:00:00Z".into()),
        );
        let v: serde_json::Value = serde_json::from_slice(&online.to_json()).unwrap();
        assert_eq!(v["state"], "online");
        assert_eq!(v["cert_not_after"], "2027-12-01T00:00:00Z");
        assert_eq!(v.get("reason"), None);
        assert_eq!(v.get("spool_dropped"), None, "zero counters are left out");
        assert_eq!(serde_json::from_value::<Status>(v).unwrap(), online);

        let will = Status::last_will(None).to_json();
        assert_eq!(will, br#"{"state":"offline","reason":"connection lost"}"#);
        let will_of_a_device = Status::last_will(Some("2027-12-01T00:00:00Z".into()))
            .with_spool_losses(2, 0)
            .to_json();
        assert_eq!(
            will_of_a_device,
            br#"{"state":"offline","reason":"connection lost","cert_not_after":"2027-12-01T00:00:00Z","spool_dropped":2}"#
        );
        let will: Status = serde_json::from_slice(&will).unwrap();
        assert!(!will.stopped_cleanly());
        let stop = Status::offline("2026-12-01T09:00:00Z".into(), REASON_SHUTDOWN, None);
        assert!(stop.stopped_cleanly() && !online.stopped_cleanly());
        let lossy = stop.with_spool_losses(3, 1);
        let v: serde_json::Value = serde_json::from_slice(&lossy.to_json()).unwrap();
        assert_eq!(
            (v["spool_dropped"].as_u64(), v["spool_corrupt"].as_u64()),
            (Some(3), Some(1))
        );
        assert_eq!(serde_json::from_value::<Status>(v).unwrap(), lossy);
    }

    #[test]
    fn payloads_of_earlier_agents_stay_readable() {
        // Before cert_not_after.
        let old: Status = serde_json::from_str(
            r#"{"state":"offline","since":"2026-11-23T10:00:00Z","agent_version":"0.1.0","reason":"shutdown"}"#,
        )
        .unwrap();
        assert_eq!(old.cert_not_after, None);
        assert!(old.stopped_cleanly());
        assert!(serde_json::from_str::<Status>(r#"{"state":"away"}"#).is_err());
    }
}
