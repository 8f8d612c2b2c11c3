//! Where collectors read the system from.

use crate::fsutil;
use std::io;
use std::path::{Path, PathBuf};

/// The system a collector looks at.
///
/// On-disk files (`/etc`, `/var`, `/usr`) come from `disk`: `/` normally, a mounted image
/// with `collect --root DIR`. Live kernel and runtime state (`/proc`, `/sys`, `/run`) always
/// comes from `live`, which is `/` except in tests that build a fake tree.
#[derive(Debug, Clone)]
pub struct Root {
    disk: PathBuf,
    live: PathBuf,
}

impl Root {
    /// The running system.
    pub fn host() -> Self {
        Self::at("/")
    }

    /// On-disk files under `dir`, live state from the running system.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Root {
            disk: dir.into(),
            live: PathBuf::from("/"),
        }
    }

    /// Also read live state (`/proc`, `/sys`, `/run`) under `dir`: for tests.
    pub fn with_live(mut self, dir: impl Into<PathBuf>) -> Self {
        self.live = dir.into();
        self
    }

    /// Whether on-disk files come from the running system.
    pub fn is_host_disk(&self) -> bool {
        self.disk == Path::new("/")
    }

    /// Whether the live state describes the system on disk: false when looking at a
    /// mounted image from the running system, whose /proc, /sys and /run are the host's.
    pub fn live_matches_disk(&self) -> bool {
        self.is_host_disk() || self.live != Path::new("/")
    }

    /// Refuses an on-disk tree that is not a system: `--root` on an empty, missing or wrong
    /// directory would otherwise give a report made of absences that reads like a system
    /// (no autologin file: "pass"; no time daemon: "fail"). A system has an os-release and
    /// a passwd file, as every Debian-family tree does from debootstrap on.
    pub fn check_is_system(&self) -> Result<(), String> {
        let dir = self.disk.display();
        match std::fs::metadata(&self.disk) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("{dir} is not a directory")),
            Err(e) => return Err(format!("{dir}: {e}")),
        }
        let has = |abs: &str| self.file(abs).is_file();
        let mut missing = Vec::new();
        if !has("/etc/os-release") && !has("/usr/lib/os-release") {
            missing.push("etc/os-release or usr/lib/os-release");
        }
        if !has("/etc/passwd") {
            missing.push("etc/passwd");
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{dir} does not look like a system tree (no {}): give the directory where the \
                 device's root filesystem is mounted",
                missing.join(", no ")
            ))
        }
    }

    /// Path of an on-disk file given by its absolute path on the target system.
    pub fn file(&self, abs: &str) -> PathBuf {
        self.disk.join(abs.trim_start_matches('/'))
    }

    /// Path of live kernel/runtime state (`/proc/...`, `/sys/...`, `/run/...`).
    pub fn live(&self, abs: &str) -> PathBuf {
        self.live.join(abs.trim_start_matches('/'))
    }

    /// Reads an on-disk file as text, up to [`max::TEXT`] bytes (see [`fsutil::open`]).
    pub fn read(&self, abs: &str) -> io::Result<String> {
        self.read_up_to(abs, max::TEXT)
    }

    /// Reads an on-disk file as text, refusing one larger than `max` bytes.
    pub fn read_up_to(&self, abs: &str, max: u64) -> io::Result<String> {
        fsutil::read_text_bounded(&self.file(abs), max)
    }

    /// Reads a live file as text (`/proc`, `/sys`, `/run`), up to [`max::TEXT`] bytes.
    pub fn read_live(&self, abs: &str) -> io::Result<String> {
        self.read_live_up_to(abs, max::TEXT)
    }

    /// Reads a live file as text, refusing one larger than `max` bytes.
    pub fn read_live_up_to(&self, abs: &str, max: u64) -> io::Result<String> {
        fsutil::read_text_bounded(&self.live(abs), max)
    }
}

/// How large a file the agent accepts, by kind: far above any real one, far below what
/// would cost a small device its memory.
pub mod max {
    /// Any text a collector reads whole (dpkg status: a few MiB on a desktop).
    pub const TEXT: u64 = 64 * 1024 * 1024;
    /// A configuration file (sshd_config, apt preferences): real ones are a few KiB.
    pub const CONFIG: u64 = 1024 * 1024;
    /// os-release: a dozen short lines.
    pub const OS_RELEASE: u64 = 64 * 1024;
    /// A /sys attribute or an EFI variable: the kernel serves at most a page.
    pub const ATTR: u64 = 4096;
    /// An apt Release file: a few hundred KiB with its checksums.
    pub const RELEASE: u64 = 16 * 1024 * 1024;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_and_devices_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        crate::fsutil::testing::mkfifo(&dir.path().join("etc/ssh/fifo.conf"));
        let root = Root::at(dir.path());
        assert_eq!(
            root.read("/etc/ssh/fifo.conf").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(Root::host().read("/dev/zero").is_err());
        std::fs::write(dir.path().join("etc/ok"), "text").unwrap();
        assert_eq!(root.read("/etc/ok").unwrap(), "text");
    }

    #[test]
    fn a_root_that_is_not_a_system_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::at(dir.path());
        let err = root.check_is_system().unwrap_err();
        assert!(
            err.contains("no etc/os-release or usr/lib/os-release, no etc/passwd"),
            "{err}"
        );
        let missing = Root::at(dir.path().join("nope"))
            .check_is_system()
            .unwrap_err();
        assert!(missing.contains("No such file"), "{missing}");
        std::fs::create_dir_all(dir.path().join("usr/lib")).unwrap();
        std::fs::write(dir.path().join("usr/lib/os-release"), "ID=debian\n").unwrap();
        assert!(root
            .check_is_system()
            .unwrap_err()
            .contains("no etc/passwd"));
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        assert_eq!(root.check_is_system(), Ok(()));
        assert!(Root::host().check_is_system().is_ok());
    }

    #[test]
    fn on_disk_files_follow_the_root_and_live_state_does_not() {
        let root = Root::at("/mnt/image");
        assert_eq!(
            root.file("/etc/os-release"),
            Path::new("/mnt/image/etc/os-release")
        );
        assert_eq!(root.live("/proc/uptime"), Path::new("/proc/uptime"));
        assert!(!root.is_host_disk());
        assert!(!root.live_matches_disk());
        assert!(Root::host().is_host_disk());
        assert!(Root::host().live_matches_disk());
        assert!(Root::at("/tmp/fake")
            .with_live("/tmp/fake")
            .live_matches_disk());
        let fake = Root::host().with_live("/tmp/fake");
        assert_eq!(
            fake.live("/sys/class/power_supply"),
            Path::new("/tmp/fake/sys/class/power_supply")
        );
    }
}
