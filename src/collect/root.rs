//! Where collectors read the system from.

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

    /// Path of an on-disk file given by its absolute path on the target system.
    pub fn file(&self, abs: &str) -> PathBuf {
        self.disk.join(abs.trim_start_matches('/'))
    }

    /// Path of live kernel/runtime state (`/proc/...`, `/sys/...`, `/run/...`).
    pub fn live(&self, abs: &str) -> PathBuf {
        self.live.join(abs.trim_start_matches('/'))
    }

    /// Reads an on-disk file as text.
    pub fn read(&self, abs: &str) -> io::Result<String> {
        read_text(&self.file(abs))
    }

    /// Reads a live file as text (`/proc`, `/sys`, `/run`).
    pub fn read_live(&self, abs: &str) -> io::Result<String> {
        read_text(&self.live(abs))
    }
}

/// No system file the collectors read comes near this (dpkg status: a few MiB).
const MAX_TEXT: u64 = 64 * 1024 * 1024;

/// Reads a regular file as text. Paths come from globs and `Include`s in configs: a FIFO
/// there must not block the agent (opened non-blocking, then refused), nor a device such
/// as /dev/zero fill its memory (refused, and reads are capped).
fn read_text(path: &Path) -> io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut text = String::new();
    file.take(MAX_TEXT).read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_and_devices_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("etc/ssh/fifo.conf");
        std::fs::create_dir_all(fifo.parent().unwrap()).unwrap();
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
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
