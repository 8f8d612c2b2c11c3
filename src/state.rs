//! What the agent remembers between runs, besides the spool and the usage ledger: the
//! report sequence number and what was last published for each report.

use crate::fsutil;
use crate::wire::Kind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A report is published again, even unchanged, once this old.
pub const REPUBLISH_AFTER: Duration = Duration::from_secs(24 * 3600);

/// `data` keys (at any depth) whose values drift on every collection without saying
/// anything new: uptime, list age, free disk space, battery charge. They are left out of the
/// fingerprint so that they alone do not trigger a publication (or one at every restart).
const VOLATILE_KEYS: &[&str] = &[
    "uptime_s",
    "package_lists_age_s",
    "available_bytes",
    "capacity_percent",
];

/// Sequence numbers are reserved on disk this many at a time, so that a number is never
/// given twice (a crash loses the rest of a block: a gap, never a repeat) and the state file
/// is not rewritten for every report.
const SEQ_BLOCK: u64 = 64;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The last `seq` given to a report. Never goes backwards for a device.
    pub seq: u64,
    /// Numbers up to this one may have been given out by a previous run: the next run
    /// starts above it.
    #[serde(default)]
    pub seq_reserved: u64,
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

    /// Loads the state. Numbering resumes above everything a previous run may have given
    /// out. A missing file (first start) or a corrupt one (set aside) starts numbering at the
    /// current time in milliseconds, never earlier than 2025: above any number the device
    /// used before, since a device publishes far fewer reports than a millisecond clock
    /// counts, and stable whatever an RTC-less board's clock says before NTP.
    /// The second value says what was wrong with the file, if it was damaged.
    pub fn load(path: &Path) -> (State, Option<String>) {
        let problem = match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<State>(&bytes) {
                Ok(state) => return (state.resumed(), None),
                Err(e) => e.to_string(),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return (State::fresh().resumed(), None)
            }
            // Unreadable (a directory, an I/O error): moved aside too, or no report could
            // ever be numbered (numbers are reserved by writing this file).
            Err(e) => e.to_string(),
        };
        let aside = match fsutil::set_aside(path) {
            Ok(Some(aside)) => format!("kept as {}; ", aside.display()),
            Ok(None) => String::new(),
            Err(e) => format!("cannot be moved aside ({e}); "),
        };
        let problem = format!(
            "state {} is damaged ({problem}); {aside}started anew: reports are numbered from the clock (above the old numbers) and each is published again once",
            path.display()
        );
        log::error!("{problem}");
        (State::fresh().resumed(), Some(problem))
    }

    /// Numbering resumes above every number a previous run may have reserved.
    fn resumed(mut self) -> State {
        self.seq = self.seq.max(self.seq_reserved);
        self.seq_reserved = self.seq;
        self
    }

    fn fresh() -> State {
        let floor_ms = crate::usage::WALL_FLOOR as u128 * 1000;
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        State {
            seq: u64::try_from(millis.max(floor_ms)).unwrap_or(u64::MAX / 2),
            ..State::default()
        }
    }

    pub fn save(&self, path: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(io::Error::other)?;
        fsutil::write_atomic(path, &bytes)
    }

    /// The next sequence number. When the reserved block is used up, a new one is written
    /// to `path` first; if that fails, no number is given (the caller retries later).
    pub fn next_seq(&mut self, path: &Path) -> io::Result<u64> {
        if self.seq >= self.seq_reserved {
            let previous = self.seq_reserved;
            self.seq_reserved = self.seq + SEQ_BLOCK;
            if let Err(e) = self.save(path) {
                self.seq_reserved = previous;
                return Err(e);
            }
        }
        self.seq += 1;
        Ok(self.seq)
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
    strip_volatile(&mut stable);
    let bytes = serde_json::to_vec(&stable).unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn strip_volatile(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| !VOLATILE_KEYS.contains(&k.as_str()));
            map.values_mut().for_each(strip_volatile);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_volatile),
        _ => {}
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seq_never_repeats_across_restarts_even_unsaved() {
        let dir = tempfile::tempdir().unwrap();
        let path = State::path(dir.path());
        let (mut s, _) = State::load(&path);
        let first = s.next_seq(&path).unwrap();
        assert!(
            first > crate::usage::WALL_FLOOR as u64 * 1000,
            "starts at the millisecond clock"
        );
        let second = s.next_seq(&path).unwrap();
        assert_eq!(second, first + 1);
        // Killed without saving: the next run starts above the reserved block.
        let (mut again, _) = State::load(&path);
        let third = again.next_seq(&path).unwrap();
        assert!(third > second, "{third} <= {second}");
        // Saved at shutdown: numbering continues above what was given.
        again.save(&path).unwrap();
        assert!(State::load(&path).0.next_seq(&path).unwrap() > third);
    }

    #[test]
    fn no_number_is_given_when_the_reservation_cannot_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir/state.json");
        let mut s = State::default();
        assert!(s.next_seq(&path).is_err());
        assert!(s.next_seq(&path).is_err());
        assert_eq!(s.seq, 0);
    }

    #[test]
    fn a_corrupt_state_is_set_aside_and_seq_still_moves_forward() {
        let dir = tempfile::tempdir().unwrap();
        let path = State::path(dir.path());
        let (mut s, _) = State::load(&path);
        let before = (0..3).map(|_| s.next_seq(&path).unwrap()).last().unwrap();
        // The guarantee holds while a device publishes fewer reports than milliseconds pass.
        std::thread::sleep(Duration::from_millis(10));
        std::fs::write(&path, b"{\"seq\": 12").unwrap();
        let (mut resumed, problem) = State::load(&path);
        assert!(problem.unwrap().contains("damaged"));
        assert!(resumed.next_seq(&path).unwrap() > before);
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
    fn a_state_that_cannot_be_read_is_moved_aside_so_numbers_can_be_reserved() {
        let dir = tempfile::tempdir().unwrap();
        let path = State::path(dir.path());
        // Invalid UTF-8, then a directory in its place.
        std::fs::write(&path, b"{\"seq\": \xff\xfe}").unwrap();
        let (_, problem) = State::load(&path);
        assert!(problem.is_some());
        std::fs::create_dir(&path).unwrap();
        let (mut s, problem) = State::load(&path);
        assert!(problem.unwrap().contains("damaged"));
        assert!(
            s.next_seq(&path).is_ok(),
            "the state file can be written again"
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
        let disk = |free: u64, total: u64| json!({"filesystems": [{"mount": "/", "available_bytes": free, "total_bytes": total}]});
        assert_eq!(fingerprint(&disk(1, 10)), fingerprint(&disk(2, 10)));
        assert_ne!(fingerprint(&disk(1, 10)), fingerprint(&disk(1, 20)));
        assert_eq!(a.len(), 32);
    }
}
