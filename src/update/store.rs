//! The versions the updater installed, under `{state dir}/update/`, and what it remembers
//! about them: the last version proven healthy, the one on trial, the ones that failed.
//!
//! ```text
//! update/state.json                   this file's [`Store`]
//! update/versions/0.2.0/grappe-agent  one verified binary per version
//! ```
//! The packaged binary (`/usr/bin/grappe-agent`, owned by dpkg) is never written: at
//! start it hands over to the newest good version here when that is newer than itself
//! ([`Store::choose`]), so that an `apt upgrade` to a newer package still wins.

use crate::fsutil;
use crate::wire::update::{Failed, Outcome, Report, Summary};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A version on trial is started at most this many times: a second start forgives one
/// interruption (a power cut, a reboot) during the trial; a third means a crash loop.
pub const MAX_TRIAL_STARTS: u32 = 2;

/// The binary's name, in archives and under `versions/`.
pub const BIN_NAME: &str = "grappe-agent";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    /// The newest installed version that proved healthy; none: the packaged binary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub good: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<Trial>,
    /// Versions that failed their trial (or could not be started), never tried again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failed: BTreeMap<String, Failure>,
    /// The last attempt's outcome, for the heartbeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Report>,
}

/// A version switched to and not yet proven healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trial {
    pub version: String,
    /// The version it replaced, for the report.
    pub from: String,
    /// When the switch was made (seconds since the epoch): the health deadline runs from it.
    pub since_unix: u64,
    /// How many times the launcher started it.
    pub starts: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub at: String,
    pub reason: String,
}

/// Which binary `grappe-agent run` should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// This one (the packaged binary, or the only one there is).
    Packaged,
    /// The installed version, from `versions/`.
    Installed(Version),
}

fn lock_file(update_dir: &Path, name: &str) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(update_dir.join(name))
}

/// Held for a whole install attempt (released when dropped); `None` when another one (by
/// hand, or the service's) holds it: two attempts would share the version's directory.
pub fn lock_attempt(update_dir: &Path) -> io::Result<Option<std::fs::File>> {
    std::fs::create_dir_all(update_dir)?;
    let lock = lock_file(update_dir, "attempt.lock")?;
    match lock.try_lock() {
        Ok(()) => Ok(Some(lock)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// The directory of one installed version's binary.
pub fn binary_path(update_dir: &Path, version: &Version) -> PathBuf {
    update_dir
        .join("versions")
        .join(version.to_string())
        .join(BIN_NAME)
}

fn parse(version: &str) -> Option<Version> {
    Version::parse(version).ok()
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Store {
    pub fn path(update_dir: &Path) -> PathBuf {
        update_dir.join("state.json")
    }

    /// Loads the store; a missing one is empty, a corrupt one is set aside (and said): the
    /// packaged binary then runs, which is always safe.
    pub fn load(update_dir: &Path) -> Store {
        let path = Store::path(update_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                log::error!(
                    "{}: unreadable ({e}); set aside, the packaged agent runs",
                    path.display()
                );
                let _ = std::fs::rename(&path, path.with_extension("json.corrupt"));
                Store::default()
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Store::default(),
            Err(e) => {
                log::error!("{}: {e}; the packaged agent runs", path.display());
                Store::default()
            }
        }
    }

    pub fn save(&self, update_dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(update_dir)?;
        let json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        fsutil::write_atomic(&Store::path(update_dir), &json)
    }

    /// Reads, changes and writes the store under an exclusive lock (`state.lock`), so that
    /// the launcher, the service and `grappe-agent update` by hand never overwrite each
    /// other's changes. Held for the change only, never across a download.
    pub fn change<T>(update_dir: &Path, f: impl FnOnce(&mut Store) -> T) -> io::Result<T> {
        std::fs::create_dir_all(update_dir)?;
        let lock = lock_file(update_dir, "state.lock")?;
        lock.lock()?;
        let mut store = Store::load(update_dir);
        let out = f(&mut store);
        store.save(update_dir)?;
        Ok(out)
    }

    /// Whether `version` failed before (and is never to be tried again).
    pub fn has_failed(&self, version: &Version) -> bool {
        self.failed.contains_key(&version.to_string())
    }

    /// Records an outcome as the last one.
    pub fn note(&mut self, report: Report) {
        self.last = Some(report);
    }

    /// What the heartbeat says about updates.
    pub fn summary(&self) -> Summary {
        Summary {
            last: self.last.clone(),
            failed: self
                .failed
                .iter()
                .map(|(version, f)| Failed {
                    version: version.clone(),
                    at: f.at.clone(),
                    reason: f.reason.clone(),
                })
                .collect(),
        }
    }

    /// A verified version was installed: it goes on trial at the next start.
    pub fn start_trial(&mut self, version: &Version, from: &str, now: SystemTime) {
        self.trial = Some(Trial {
            version: version.to_string(),
            from: from.to_string(),
            since_unix: unix(now),
            starts: 0,
        });
    }

    /// The version on trial had its `online` status acknowledged: it becomes the good one.
    /// Returns the report, or `None` when `version` is not on trial.
    pub fn mark_healthy(&mut self, version: &str, now: SystemTime) -> Option<Report> {
        let trial = self.trial.take_if(|t| t.version == version)?;
        self.good = Some(trial.version.clone());
        let report = Report {
            outcome: Outcome::Healthy,
            at: crate::wire::rfc3339(now),
            from: trial.from,
            version: Some(trial.version),
            refusal: None,
            reason: None,
        };
        self.note(report.clone());
        Some(report)
    }

    /// The version on trial failed: it is remembered and never tried again; what ran before
    /// runs again.
    pub fn roll_back(&mut self, reason: String, now: SystemTime) -> Option<Report> {
        let trial = self.trial.take()?;
        let at = self.record_failure(&trial.version, &reason, now);
        let report = Report {
            outcome: Outcome::RolledBack,
            at,
            from: trial.from,
            version: Some(trial.version),
            refusal: None,
            reason: Some(reason),
        };
        self.note(report.clone());
        Some(report)
    }

    /// The installed `version` could not even be executed: rolled back if on trial,
    /// otherwise no longer the good one; either way never tried again.
    pub fn cannot_start(
        &mut self,
        version: &Version,
        reason: String,
        now: SystemTime,
    ) -> Option<Report> {
        let version = version.to_string();
        if self.trial.as_ref().is_some_and(|t| t.version == version) {
            return self.roll_back(reason, now);
        }
        if self.good.as_ref() == Some(&version) {
            self.good = None;
        }
        self.record_failure(&version, &reason, now);
        None
    }

    fn record_failure(&mut self, version: &str, reason: &str, now: SystemTime) -> String {
        let at = crate::wire::rfc3339(now);
        self.failed.insert(
            version.to_string(),
            Failure {
                at: at.clone(),
                reason: reason.to_string(),
            },
        );
        at
    }

    /// Which binary to run, given the packaged binary's version; updates the trial's start
    /// count and rolls a failed trial back. `installed` says whether a version's binary is
    /// in place. Returns the choice and the rollback report, if one happened.
    ///
    /// `count` is false for a `run --once` by hand: it runs the trial without using up one
    /// of its starts, so that a check made while the service runs cannot fail a version.
    pub fn choose(
        &mut self,
        packaged: &Version,
        health_deadline: Duration,
        now: SystemTime,
        count: bool,
        installed: impl Fn(&Version) -> bool,
    ) -> (Launch, Option<Report>) {
        let mut rolled_back = None;
        if let Some(trial) = self.trial.clone() {
            let version = parse(&trial.version);
            // The deadline runs from the first start, not from the install: a version
            // installed by hand may wait for days before the service switches to it.
            let elapsed = if trial.starts == 0 {
                Duration::ZERO
            } else {
                Duration::from_secs(unix(now).saturating_sub(trial.since_unix))
            };
            let failure = match &version {
                None => Some(format!("{:?} is not a version", trial.version)),
                // The package was upgraded to this version or beyond meanwhile: it wins,
                // and the trial has nothing left to prove.
                Some(v) if v <= packaged => {
                    self.trial = None;
                    None
                }
                Some(v) if !installed(v) => Some("its binary is missing".to_string()),
                Some(_) if trial.starts >= MAX_TRIAL_STARTS => Some(format!(
                    "started {} times without its online status being acknowledged by the broker (crash at start or crash loop)",
                    trial.starts
                )),
                Some(_) if elapsed > health_deadline => Some(format!(
                    "not acknowledged online by the broker within {}",
                    humantime::format_duration(health_deadline)
                )),
                Some(_) => None,
            };
            match (failure, version) {
                (Some(reason), _) => rolled_back = self.roll_back(reason, now),
                (None, Some(v)) if self.trial.is_some() => {
                    if let Some(trial) = self.trial.as_mut().filter(|_| count) {
                        if trial.starts == 0 {
                            trial.since_unix = unix(now);
                        }
                        trial.starts += 1;
                    }
                    return (Launch::Installed(v), None);
                }
                _ => {}
            }
        }
        match self.good.as_deref().and_then(parse) {
            Some(good) if good > *packaged && installed(&good) => {
                (Launch::Installed(good), rolled_back)
            }
            Some(_) => {
                // Older than the package (apt upgraded it) or gone: the package runs.
                self.good = None;
                (Launch::Packaged, rolled_back)
            }
            None => (Launch::Packaged, rolled_back),
        }
    }

    /// Removes the installed versions that are neither good nor on trial (failed ones,
    /// replaced ones, ones the package overtook): a small device keeps at most two.
    pub fn prune(&self, update_dir: &Path) {
        let Ok(entries) = std::fs::read_dir(update_dir.join("versions")) else {
            return;
        };
        let keep = [
            self.good.as_deref(),
            self.trial.as_ref().map(|t| t.version.as_str()),
        ];
        for entry in entries.flatten() {
            let name = entry.file_name();
            if keep.contains(&name.to_str()) {
                continue;
            }
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                log::warn!("cannot remove {}: {e}", entry.path().display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    const DEADLINE: Duration = Duration::from_secs(600);

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn on_trial(version: &str) -> Store {
        let mut store = Store::default();
        store.start_trial(&v(version), "0.1.0", at(0));
        store
    }

    #[test]
    fn nothing_installed_runs_the_package() {
        let mut store = Store::default();
        let (launch, report) = store.choose(&v("0.1.0"), DEADLINE, at(0), true, |_| true);
        assert_eq!((launch, report), (Launch::Packaged, None));
    }

    #[test]
    fn a_trial_gets_two_starts_then_is_rolled_back_and_never_retried() {
        let mut store = on_trial("0.2.0");
        for start in 1..=MAX_TRIAL_STARTS {
            let (launch, report) = store.choose(&v("0.1.0"), DEADLINE, at(10), true, |_| true);
            assert_eq!(launch, Launch::Installed(v("0.2.0")), "start {start}");
            assert!(report.is_none());
        }
        let (launch, report) = store.choose(&v("0.1.0"), DEADLINE, at(20), true, |_| true);
        assert_eq!(launch, Launch::Packaged);
        let report = report.expect("a rollback report");
        assert_eq!(report.outcome, Outcome::RolledBack);
        assert!(report.reason.unwrap().contains("crash"));
        assert!(store.has_failed(&v("0.2.0")));
        assert!(store.trial.is_none());
    }

    #[test]
    fn a_trial_past_its_deadline_is_rolled_back_to_the_previous_good_version() {
        let mut store = on_trial("0.3.0");
        store.good = Some("0.2.0".into());
        // Installed long ago: the deadline runs from the first start.
        let (launch, _) = store.choose(&v("0.1.0"), DEADLINE, at(5_000), true, |_| true);
        assert_eq!(launch, Launch::Installed(v("0.3.0")));
        let (launch, report) = store.choose(&v("0.1.0"), DEADLINE, at(5_601), true, |_| true);
        assert_eq!(launch, Launch::Installed(v("0.2.0")));
        assert!(report.unwrap().reason.unwrap().contains("within 10m"));
    }

    #[test]
    fn a_run_once_by_hand_does_not_use_up_a_start() {
        let mut store = on_trial("0.2.0");
        for _ in 0..5 {
            let (launch, _) = store.choose(&v("0.1.0"), DEADLINE, at(1), false, |_| true);
            assert_eq!(launch, Launch::Installed(v("0.2.0")));
        }
        assert_eq!(store.trial.as_ref().unwrap().starts, 0);
    }

    #[test]
    fn a_healthy_trial_becomes_the_good_version() {
        let mut store = on_trial("0.2.0");
        store.choose(&v("0.1.0"), DEADLINE, at(1), true, |_| true);
        assert!(store.mark_healthy("0.1.0", at(2)).is_none(), "not on trial");
        let report = store.mark_healthy("0.2.0", at(2)).unwrap();
        assert_eq!(report.outcome, Outcome::Healthy);
        assert_eq!(store.good.as_deref(), Some("0.2.0"));
        // Restarts later run it without a trial.
        let (launch, _) = store.choose(&v("0.1.0"), DEADLINE, at(10_000), true, |_| true);
        assert_eq!(launch, Launch::Installed(v("0.2.0")));
    }

    #[test]
    fn a_newer_package_wins_over_installed_versions() {
        let mut store = on_trial("0.3.0");
        store.good = Some("0.2.0".into());
        let (launch, report) = store.choose(&v("0.3.0"), DEADLINE, at(1), true, |_| true);
        assert_eq!((launch, report), (Launch::Packaged, None));
        assert_eq!((store.good.clone(), store.trial.clone()), (None, None));
        assert!(!store.has_failed(&v("0.3.0")), "overtaken, not failed");
    }

    #[test]
    fn a_good_version_that_cannot_start_is_dropped_and_never_retried() {
        let mut store = Store {
            good: Some("0.2.0".into()),
            ..Store::default()
        };
        assert!(store
            .cannot_start(&v("0.2.0"), "exec format error".into(), at(1))
            .is_none());
        assert!(store.good.is_none() && store.has_failed(&v("0.2.0")));
        let mut store = on_trial("0.3.0");
        let report = store.cannot_start(&v("0.3.0"), "exec format error".into(), at(1));
        assert_eq!(report.unwrap().outcome, Outcome::RolledBack);
        assert!(store.trial.is_none() && store.has_failed(&v("0.3.0")));
    }

    #[test]
    fn a_missing_binary_fails_the_trial() {
        let mut store = on_trial("0.2.0");
        let (launch, report) = store.choose(&v("0.1.0"), DEADLINE, at(1), true, |_| false);
        assert_eq!(launch, Launch::Packaged);
        assert!(report.unwrap().reason.unwrap().contains("missing"));
    }

    #[test]
    fn a_corrupt_store_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(Store::path(dir.path()), b"{not json").unwrap();
        assert_eq!(Store::load(dir.path()), Store::default());
        assert!(dir.path().join("state.json.corrupt").exists());
        let store = on_trial("0.2.0");
        store.save(dir.path()).unwrap();
        assert_eq!(Store::load(dir.path()), store);
    }

    #[test]
    fn changes_are_made_on_the_latest_store_and_attempts_exclude_each_other() {
        let dir = tempfile::tempdir().unwrap();
        Store::change(dir.path(), |s| s.start_trial(&v("0.2.0"), "0.1.0", at(0))).unwrap();
        // A change made meanwhile by someone else is kept.
        Store::change(dir.path(), |s| s.good = Some("0.1.5".into())).unwrap();
        let store = Store::load(dir.path());
        assert_eq!(store.trial.unwrap().version, "0.2.0");
        assert_eq!(store.good.as_deref(), Some("0.1.5"));
        let first = lock_attempt(dir.path()).unwrap();
        assert!(first.is_some());
        assert!(lock_attempt(dir.path()).unwrap().is_none(), "held");
        drop(first);
        assert!(lock_attempt(dir.path()).unwrap().is_some(), "released");
    }

    #[test]
    fn prune_keeps_only_good_and_trial() {
        let dir = tempfile::tempdir().unwrap();
        for version in ["0.2.0", "0.3.0", "0.4.0"] {
            let bin = binary_path(dir.path(), &v(version));
            std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
            std::fs::write(bin, b"").unwrap();
        }
        let mut store = on_trial("0.4.0");
        store.good = Some("0.3.0".into());
        store.prune(dir.path());
        let mut left: Vec<String> = std::fs::read_dir(dir.path().join("versions"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["0.3.0", "0.4.0"]);
    }
}
