//! Small file-system helpers: the one safe way the agent opens a file to read it, and
//! the writes of everything that keeps state on disk.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Opens a file for reading, refusing anything that is not a regular file. Paths come from
/// globs, `Include`s and images: a FIFO there must not block the single-threaded agent, nor
/// a device such as /dev/zero be read as if it were a file. The open is non-blocking (a
/// FIFO with no writer would otherwise wait forever), the type is checked on the opened
/// descriptor (no race with a rename), and the returned file reads normally.
pub fn open(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    let what = if kind.is_file() {
        None
    } else if kind.is_fifo() {
        Some("a FIFO")
    } else if kind.is_char_device() {
        Some("a character device")
    } else if kind.is_block_device() {
        Some("a block device")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_dir() {
        Some("a directory")
    } else {
        Some("not a file")
    };
    if let Some(what) = what {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("is {what}, not a regular file"),
        ));
    }
    // Regular files ignore O_NONBLOCK, but whoever gets the file should not inherit it.
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function owns, with no pointer arguments.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags >= 0 && flags & libc::O_NONBLOCK != 0 {
        // SAFETY: as above.
        unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) };
    }
    Ok(file)
}

/// Reads a whole regular file ([`open`]) of at most `max` bytes. A larger one is refused,
/// before reading when its size says so, so that a bomb (a 100 MB os-release) never costs
/// its size in memory; files whose size is not known in advance (/proc) are read up to
/// the limit and refused past it.
pub fn read_bounded(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = open(path)?;
    let too_big = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("is larger than {max} bytes; no such file is expected here"),
        )
    };
    let size = file.metadata()?.len();
    if size > max {
        return Err(too_big());
    }
    // Procfs files say 0; reserve what the size promises, never more than the limit.
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_big());
    }
    Ok(bytes)
}

/// [`read_bounded`] as text. Bytes that are not UTF-8 (a Latin-1 name in a GECOS field, a
/// comment typed in another charset) become U+FFFD instead of failing the whole file: the
/// system files read here are byte-oriented, their tools read them as bytes, and their
/// structure (separators, keywords) is ASCII, so a stray byte must not hide the rest.
/// Valid UTF-8 is not copied.
pub fn read_text_bounded(path: &Path, max: u64) -> io::Result<String> {
    Ok(match String::from_utf8(read_bounded(path, max)?) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Replaces `path` with `bytes` so that a crash at any moment leaves either the old or the
/// new content, never a mix: write a temporary file beside it, flush it to disk, rename it
/// over the old one, then flush the directory so the rename itself survives a power cut.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, bytes, false)
}

/// [`write_atomic`] for a secret (a private key): readable by its owner only, from the
/// moment the temporary file exists.
pub fn write_atomic_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, bytes, true)
}

fn write_atomic_mode(path: &Path, bytes: &[u8], private: bool) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        if private {
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        if private {
            // A temporary file left by a crash keeps its old mode: narrow it before the
            // secret is written (one call, on this path only; the agent's state writes
            // stay as they were).
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Moves a damaged file aside as `NAME.corrupt-UNIXTIME`, kept for a post-mortem, so that
/// the agent starts that file afresh instead of failing on it at every start. Returns
/// where it went (`Ok(None)`: there was nothing to move).
pub fn set_aside(path: &Path) -> io::Result<Option<std::path::PathBuf>> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    // Two damaged files within a second keep both copies.
    let aside = (0..)
        .map(|n| match n {
            0 => path.with_file_name(format!("{name}.corrupt-{secs}")),
            n => path.with_file_name(format!("{name}.corrupt-{secs}-{n}")),
        })
        .find(|p| fs::symlink_metadata(p).is_err())
        .unwrap_or_default();
    match fs::rename(path, &aside) {
        Ok(()) => Ok(Some(aside)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Flushes a directory's entries (new, renamed or removed files) to disk.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Helpers for tests of readers that must not hang.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;
    use std::time::Duration;

    /// Makes a FIFO at `path` (and its parent directories).
    pub fn mkfifo(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path that lives across the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    }

    /// Runs `f` on a thread and fails, rather than hanging the test run, if it has not
    /// returned within 10 s.
    pub fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("still blocked after 10 s: a read hangs")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{mkfifo, within};
    use super::*;

    #[test]
    fn only_regular_files_are_opened_and_never_block() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let err = within(move || open(&fifo).unwrap_err());
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(err.to_string(), "is a FIFO, not a regular file");
        let err = read_bounded(Path::new("/dev/zero"), 10).unwrap_err();
        assert_eq!(err.to_string(), "is a character device, not a regular file");
        let err = read_bounded(dir.path(), 10).unwrap_err();
        assert_eq!(err.to_string(), "is a directory, not a regular file");
        // /proc files are regular, of size 0, and still read whole.
        let uptime = read_text_bounded(Path::new("/proc/uptime"), 4096).unwrap();
        assert!(uptime.ends_with('\n'), "{uptime}");
    }

    #[test]
    fn files_over_the_limit_are_refused_without_being_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        // Sparse: 100 MB that cost no disk, and would cost 100 MB of memory if read.
        File::create(&path).unwrap().set_len(100 << 20).unwrap();
        let err = read_bounded(&path, 64 * 1024).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            err.to_string().starts_with("is larger than 65536 bytes"),
            "{err}"
        );
        fs::write(&path, "12345").unwrap();
        assert_eq!(read_text_bounded(&path, 5).unwrap(), "12345");
        assert!(
            read_bounded(&path, 4).is_err(),
            "exactly the limit passes, not more"
        );
        // A file that says nothing of its size (/proc) is cut off at the limit.
        let err = read_bounded(Path::new("/proc/self/maps"), 8).unwrap_err();
        assert!(
            err.to_string().starts_with("is larger than 8 bytes"),
            "{err}"
        );
        fs::write(&path, b"a:\xe9:b").unwrap();
        assert_eq!(read_text_bounded(&path, 5).unwrap(), "a:\u{fffd}:b");
    }

    #[test]
    fn write_atomic_replaces_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn write_atomic_reports_a_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(&dir.path().join("missing/state.json"), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
