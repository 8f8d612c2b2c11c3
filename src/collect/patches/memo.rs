//! The last answer of [`upgradable::compute`], kept in the agent's state directory and
//! reused while none of the files it was computed from has changed.
//!
//! Between two `apt update`s (hours) the answer cannot change, and reading 50 MB of lists
//! again would cost a small board a noticeable share of a second of CPU each time. The
//! memo is keyed on the identity (device, inode, size, modification and change times) of
//! every file and directory apt's answer depends on: its configuration, sources,
//! preferences, dpkg's status and architectures, and everything in its lists directory.
//! Any difference, a new agent version or another root means the answer is computed
//! again. It is never stored when a file changed while it was being computed, nor when a
//! file is so recent that a change within the file system's timestamp granularity could go
//! unseen; a stale memo must never change an answer.
//!
//! This is the only file a collector writes, and only into the agent's own state
//! directory, never into the system it looks at. Failing to read or write it costs time,
//! never the report.

use super::index;
use super::upgradable::{self, Outcome, Upgradable};
use crate::collect::inventory::Problem;
use crate::collect::Root;
use serde::{Deserialize, Serialize};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Name of the memo in the state directory.
pub const FILE: &str = "patches-memo.json";

/// Files whose changes can be missed when they are this recent: timestamps come from a
/// coarse clock (a few ms on Linux, 2 s on FAT).
/// Far above a real memo (the upgradable packages and problems of one system): a larger
/// file is not one this agent wrote, and is recomputed.
const MAX_BYTES: u64 = 16 * 1024 * 1024;

const RACY: Duration = Duration::from_secs(3);

/// Directories whose every entry counts.
const DIRS: [&str; 4] = [
    "/etc/apt/apt.conf.d",
    "/etc/apt/sources.list.d",
    upgradable::PREFERENCES_PARTS,
    index::LISTS,
];

/// Single files that count.
const FILES: [&str; 5] = [
    "/etc/apt/apt.conf",
    index::SOURCES_LIST,
    upgradable::PREFERENCES,
    upgradable::STATUS,
    "/var/lib/dpkg/arch",
];

/// The identity of one input, `None` when it does not exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    path: String,
    id: Option<[i64; 7]>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Memo {
    agent: String,
    root: String,
    inputs: Vec<Stamp>,
    upgradable: Option<Vec<Upgradable>>,
    problems: Vec<Problem>,
}

fn agent_version() -> String {
    format!(
        "{} {}",
        env!("CARGO_PKG_VERSION"),
        env!("GRAPPE_GIT_COMMIT")
    )
}

/// [`upgradable::compute`], answered from the memo in `state_dir` when it is still valid,
/// and recorded there otherwise.
pub fn compute(root: &Root, state_dir: Option<&Path>) -> Outcome {
    let Some(dir) = state_dir else {
        return upgradable::compute(root);
    };
    let path = dir.join(FILE);
    let started = SystemTime::now();
    let before = stamps(root);
    let root_name = root.file("/").display().to_string();
    if let Some(memo) = load(&path) {
        if memo.agent == agent_version() && memo.root == root_name && memo.inputs == before {
            return Outcome {
                upgradable: memo.upgradable,
                problems: memo.problems,
            };
        }
    }
    let outcome = upgradable::compute(root);
    if stamps(root) == before && !racy(&before, started) {
        let memo = Memo {
            agent: agent_version(),
            root: root_name,
            inputs: before,
            upgradable: outcome.upgradable.clone(),
            problems: outcome.problems.clone(),
        };
        if let Ok(bytes) = serde_json::to_vec(&memo) {
            if let Err(e) = crate::fsutil::write_atomic(&path, &bytes) {
                log::debug!("patch memo {} not written: {e}", path.display());
            }
        }
    }
    outcome
}

fn load(path: &Path) -> Option<Memo> {
    let bytes = crate::fsutil::read_bounded(path, MAX_BYTES).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The identities of every input, in a fixed order.
fn stamps(root: &Root) -> Vec<Stamp> {
    let mut out = Vec::new();
    let mut stamp = |path: String| {
        let id = std::fs::metadata(root.file(&path)).ok().map(|m| {
            [
                m.dev() as i64,
                m.ino() as i64,
                m.size() as i64,
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
            ]
        });
        out.push(Stamp { path, id });
    };
    for file in FILES {
        stamp(file.to_owned());
    }
    for dir in DIRS {
        stamp(dir.to_owned());
        for name in crate::collect::posture::sys::dir_names(&root.file(dir)) {
            stamp(format!("{dir}/{name}"));
        }
    }
    out
}

/// Whether an input changed so shortly before `started` that a later change in the same
/// timestamp tick would leave its identity as it is.
fn racy(stamps: &[Stamp], started: SystemTime) -> bool {
    let Some(limit) = started
        .checked_sub(RACY)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
    else {
        return true;
    };
    let at = |secs: i64, nanos: i64| {
        Duration::new(
            u64::try_from(secs).unwrap_or(0),
            u32::try_from(nanos).unwrap_or(0),
        )
    };
    stamps
        .iter()
        .filter_map(|s| s.id)
        .any(|id| at(id[3], id[4]) >= limit || at(id[5], id[6]) >= limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A root whose files are all older than the racy window.
    fn old_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("var/lib/dpkg")).unwrap();
        std::fs::create_dir_all(p.join("var/lib/apt/lists")).unwrap();
        std::fs::write(
            p.join("var/lib/dpkg/status"),
            "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\n",
        )
        .unwrap();
        dir
    }

    /// ctime cannot be set back: tests wait out the window instead.
    fn age() {
        std::thread::sleep(RACY + Duration::from_millis(100));
    }

    #[test]
    fn reused_while_nothing_changes_recomputed_when_anything_does() {
        let sys = old_tree();
        let state = tempfile::tempdir().unwrap();
        let root = Root::at(sys.path());
        age();
        let first = compute(&root, Some(state.path()));
        assert_eq!(first.upgradable.as_deref(), Some(&[][..]));
        assert!(
            state.path().join(FILE).exists(),
            "stored once the files are old enough"
        );
        // A doctored memo is answered as long as the inputs are the same: proof it is used.
        let text = std::fs::read_to_string(state.path().join(FILE)).unwrap();
        let doctored = text.replace("\"upgradable\":[]", "\"upgradable\":null");
        std::fs::write(state.path().join(FILE), doctored).unwrap();
        assert_eq!(compute(&root, Some(state.path())).upgradable, None);
        // Any change of an input (here a new list file) discards it.
        std::fs::write(sys.path().join("var/lib/apt/lists/x_Packages"), "").unwrap();
        assert_eq!(
            compute(&root, Some(state.path())).upgradable.as_deref(),
            Some(&[][..])
        );
    }

    #[test]
    fn recent_files_are_not_memoised_and_a_broken_memo_is_ignored() {
        let sys = old_tree();
        let state = tempfile::tempdir().unwrap();
        let root = Root::at(sys.path());
        // Just written: within the racy window.
        compute(&root, Some(state.path()));
        assert!(!state.path().join(FILE).exists());
        std::fs::write(state.path().join(FILE), "{not json").unwrap();
        assert!(compute(&root, Some(state.path())).upgradable.is_some());
        // An unwritable state directory costs the memo, not the answer.
        let missing = state.path().join("no/such/dir");
        assert!(compute(&root, Some(&missing)).upgradable.is_some());
    }
}
