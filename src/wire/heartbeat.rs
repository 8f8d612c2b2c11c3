//! The `heartbeat` topic, sent every few minutes over 4G: it is most of the agent's
//! traffic, so it says only what is not nothing. An absent counter is zero.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub at: String,
    /// Reports waiting in the spool, and their size.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub spooled: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub spool_bytes: u64,
    /// Reports the spool dropped (oldest first) to stay within its limit, since installed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
    /// Reports found damaged in the spool (and lost), since installed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub corrupt: u64,
    /// Reports that could be neither stored nor sent since the agent started (disk full).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unstored: u64,
    /// The last error since the previous heartbeat, or a problem that lasts (the disk is
    /// full, the broker refuses the reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The self-update's last outcome and the versions that failed, once there is any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<super::update::Summary>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_counters_are_left_out_and_read_back_as_zero() {
        let quiet = Heartbeat {
            at: "2026-12-01T08:00:00Z".into(),
            ..Heartbeat::default()
        };
        let json = serde_json::to_string(&quiet).unwrap();
        assert_eq!(json, r#"{"at":"2026-12-01T08:00:00Z"}"#);
        assert_eq!(serde_json::from_str::<Heartbeat>(&json).unwrap(), quiet);
        let busy: Heartbeat = serde_json::from_str(
            r#"{"at":"2026-12-01T08:00:00Z","spooled":3,"spool_bytes":4096,"unstored":1,"last_error":"disk full"}"#,
        )
        .unwrap();
        assert_eq!((busy.spooled, busy.dropped, busy.unstored), (3, 0, 1));
    }
}
