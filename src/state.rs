//! What the agent remembers between runs, besides the spool and the usage ledger: the
//! report sequence number and what was last published for each report.

use crate::fsutil;
use crate::report::Kind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A report is published again, even unchanged, once this old.
pub const REPUBLISH_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Top-level `data` keys that change on every collection without saying anything new;
/// they are left out of the fingerprint so that they alone do not trigger a publication.
const VOLATILE_KEYS: &[&str] = &["uptime_s", "package_lists_age_s"];

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The last `seq` given to a report. Never goes backwards for a device.
    pub seq: u64,
    /// Per report kind (by name): what was last handed to the spool, and when.
    #[serde(default)]
    pub published: BTreeMap<String, Published>,
    /// The usage period (`YYYY-MM`) last published, to close a month once it has ended.
    #[serde(default)]
    pub usage_period: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub fingerprint: String,
    pub at_unix: u64,
}

impl State {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("state.json")
    }

    /// Loads the state. A missing file is a fresh start. A corrupt one is set aside and,
    /// so that `seq` still never goes backwards, numbering resumes from the current time
    /// in milliseconds (larger than any count a device reaches by publishing).
    pub fn load(path: &Path) -> State {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return State::default(),
            Err(e) => {
                log::warn!("cannot read {}: {e}; starting a new state", path.display());
                return State::resumed();
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(state) => state,
            Err(e) => {
                let aside = path.with_extension(format!("json.corrupt-{}", unix_now()));
                let _ = std::fs::rename(path, &aside);
                log::warn!(
                    "{} is corrupt ({e}); kept as {} and starting a new state",
                    path.display(),
                    aside.display()
                );
                State::resumed()
            }
        }
    }

    fn resumed() -> State {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        State {
            seq: u64::try_from(millis).unwrap_or(u64::MAX / 2),
            ..State::default()
        }
    }

    pub fn save(&self, path: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(io::Error::other)?;
        fsutil::write_atomic(path, &bytes)
    }

    /// The next sequence number.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Whether a report with this fingerprint is worth publishing: it changed, or the last
    /// publication is a day old (or the clock went back, which says nothing about age).
    pub fn is_due(&self, kind: Kind, fingerprint: &str, now: SystemTime) -> bool {
        match self.published.get(kind.name()) {
            None => true,
            Some(last) => {
                let now = unix(now);
                last.fingerprint != fingerprint
                    || now < last.at_unix
                    || now - last.at_unix >= REPUBLISH_AFTER.as_secs()
            }
        }
    }

    pub fn mark_published(&mut self, kind: Kind, fingerprint: String, now: SystemTime) {
        self.published.insert(
            kind.name().to_string(),
            Published {
                fingerprint,
                at_unix: unix(now),
            },
        );
    }
}

/// A short digest of a report's content, without its [`VOLATILE_KEYS`].
pub fn fingerprint(data: &serde_json::Value) -> String {
    let mut stable = data.clone();
    if let Some(map) = stable.as_object_mut() {
        for key in VOLATILE_KEYS {
            map.remove(*key);
        }
    }
    let bytes = serde_json::to_vec(&stable).unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

fn unix_now() -> u64 {
    unix(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seq_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = State::path(dir.path());
        let mut s = State::load(&path);
        assert_eq!(s.next_seq(), 1);
        assert_eq!(s.next_seq(), 2);
        s.save(&path).unwrap();
        let mut again = State::load(&path);
        assert_eq!(again.next_seq(), 3);
    }

    #[test]
    fn a_corrupt_state_is_set_aside_and_seq_still_moves_forward() {
        let dir = tempfile::tempdir().unwrap();
        let path = State::path(dir.path());
        let mut s = State::default();
        for _ in 0..1000 {
            s.next_seq();
        }
        s.save(&path).unwrap();
        std::fs::write(&path, b"{\"seq\": 12").unwrap();
        let mut resumed = State::load(&path);
        assert!(resumed.next_seq() > 1000);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().any(|n| n.starts_with("state.json.corrupt-")),
            "{names:?}"
        );
    }

    #[test]
    fn due_when_changed_or_a_day_old() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut s = State::default();
        assert!(s.is_due(Kind::Posture, "a", t0));
        s.mark_published(Kind::Posture, "a".into(), t0);
        assert!(!s.is_due(Kind::Posture, "a", t0 + Duration::from_secs(3600)));
        assert!(s.is_due(Kind::Posture, "b", t0 + Duration::from_secs(3600)));
        assert!(s.is_due(Kind::Posture, "a", t0 + REPUBLISH_AFTER));
        assert!(s.is_due(Kind::Posture, "a", t0 - Duration::from_secs(10)));
        assert!(s.is_due(Kind::Inventory, "a", t0));
    }

    #[test]
    fn fingerprint_ignores_volatile_keys_only() {
        let a = fingerprint(&json!({"uptime_s": 1, "kernel": "6.1"}));
        assert_eq!(a, fingerprint(&json!({"uptime_s": 999, "kernel": "6.1"})));
        assert_ne!(a, fingerprint(&json!({"uptime_s": 1, "kernel": "6.2"})));
        assert_eq!(a.len(), 32);
    }
}
