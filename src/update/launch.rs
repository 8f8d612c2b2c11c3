//! The hand-over at the start of `grappe-agent run`: the packaged binary executes the newest
//! good installed version (or the one on trial) in its place, with the same arguments, and
//! that process runs the agent. The same process image changes, so systemd keeps one main
//! PID, one watchdog and one restart policy whichever version runs.

use super::store::{binary_path, Launch, Store};
use super::{running_version, update_dir};
use crate::config::Config;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

/// Set on the process the launcher hands over to: it runs the agent and does not choose
/// again.
pub const HANDED_OVER_ENV: &str = "GRAPPE_AGENT_HANDED_OVER";
/// The launcher (the packaged binary) to come back to for a restart or a rollback. Set by
/// the launcher for the version it starts; tests set it to a wrapper of their own.
pub const LAUNCHER_ENV: &str = "GRAPPE_AGENT_LAUNCHER";

/// The launcher's path, read once at start: after an `apt upgrade` replaced
/// `/usr/bin/grappe-agent`, /proc/self/exe would name a deleted file.
fn launcher() -> Option<&'static PathBuf> {
    static LAUNCHER: OnceLock<Option<PathBuf>> = OnceLock::new();
    LAUNCHER
        .get_or_init(|| {
            std::env::var_os(LAUNCHER_ENV)
                .map(PathBuf::from)
                .or_else(|| std::env::current_exe().ok())
        })
        .as_ref()
}

/// Whether this process was started by the launcher.
pub fn handed_over() -> bool {
    std::env::var_os(HANDED_OVER_ENV).is_some()
}

/// Chooses the binary for `run` and, when it is an installed version, executes it in place
/// of this process (`once`: for `run --once`, which does not use up a trial start).
/// Returns when this process should run the agent itself (it is the choice, or the choice
/// could not be started: then it is marked failed and never tried again).
pub fn hand_over(config: &Config, once: bool) {
    let _ = launcher();
    if handed_over() {
        return;
    }
    let dir = update_dir(&config.state_dir);
    if !Store::path(&dir).exists() {
        return; // Never updated: nothing to choose, nothing to write.
    }
    if super::root_over_service_state(&config.state_dir) {
        log::info!(
            "running as root: the packaged agent runs, not a version the service installed in {}",
            dir.display()
        );
        return;
    }
    // The trial's start count must be on disk before the trial runs, or a version that
    // crashes at once would be started for ever.
    let chosen = Store::change(&dir, |store| {
        let choice = store.choose(
            &running_version(),
            config.update.health_timeout,
            SystemTime::now(),
            !once,
            |v| binary_path(&dir, v).is_file(),
        );
        store.prune(&dir);
        choice
    });
    let (launch, rolled_back) = match chosen {
        Ok(chosen) => chosen,
        Err(e) => {
            log::error!(
                "update: cannot save {}: {e}; the packaged agent runs",
                Store::path(&dir).display()
            );
            return;
        }
    };
    if let Some(report) = &rolled_back {
        log::error!("update: {report}");
    }
    let Launch::Installed(version) = launch else {
        return;
    };
    let binary = binary_path(&dir, &version);
    log::info!(
        "handing over to grappe-agent {version} ({})",
        binary.display()
    );
    let error = Command::new(&binary)
        .args(std::env::args_os().skip(1))
        .env(HANDED_OVER_ENV, "1")
        .env(
            LAUNCHER_ENV,
            launcher().map_or(OsString::new(), |p| p.into()),
        )
        // What this binary pretends to be is not what the one it starts is.
        .env_remove("GRAPPE_AGENT_PRETEND_VERSION")
        .exec();
    // Only reached when the exec failed.
    let reason = format!("{} cannot be started: {error}", binary.display());
    let rolled_back = Store::change(&dir, |store| {
        store.cannot_start(&version, reason.clone(), SystemTime::now())
    });
    match rolled_back {
        Ok(Some(report)) => log::error!("update: {report}"),
        Ok(None) => log::error!("update: {reason}"),
        Err(e) => log::error!(
            "update: {reason}; cannot save {}: {e}",
            Store::path(&dir).display()
        ),
    }
}

/// Executes the launcher again with this process's arguments: after an install (to switch
/// to the new version) or a failed trial (to come back). Returns only if that failed.
pub fn relaunch() -> std::io::Error {
    let Some(launcher) = launcher() else {
        return std::io::Error::other("the launcher's path is unknown");
    };
    log::info!("restarting through {}", launcher.display());
    Command::new(launcher)
        .args(std::env::args_os().skip(1))
        .env_remove(HANDED_OVER_ENV)
        .exec()
}
