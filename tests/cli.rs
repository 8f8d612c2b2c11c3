//! The command line where its output goes: a full device or a reader that went away must
//! never make the agent panic.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A system tree with nothing in it but what makes it one: quick to collect.
fn image() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("etc")).unwrap();
    std::fs::write(root.path().join("etc/os-release"), "ID=debian\n").unwrap();
    std::fs::write(
        root.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n",
    )
    .unwrap();
    root
}

/// `collect` of a near-empty image: quick, and output all the same.
fn collect(root: &Path) -> Command {
    let mut cmd = common::agent();
    cmd.args(["collect", "--only", "inventory", "--pretty", "--root"])
        .arg(root)
        .stderr(Stdio::piped());
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn collect_to_a_full_device_fails_with_a_clear_error() {
    let root = image();
    let out = collect(root.path())
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("error: cannot write to standard output: No space left on device"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(1), "{err}");
}

#[test]
fn collect_to_a_closed_pipe_ends_quietly() {
    let root = image();
    let mut child = collect(root.path()).stdout(Stdio::piped()).spawn().unwrap();
    // The reader goes away before the agent writes (`collect | true`).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("error:"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

/// An empty or missing `--root` is refused with what to give instead, not reported on as
/// if it were a system made of absences.
#[test]
fn collect_refuses_a_root_that_is_not_a_system() {
    let empty = tempfile::tempdir().unwrap();
    for dir in [empty.path().to_path_buf(), empty.path().join("missing")] {
        let out = collect(&dir).stdout(Stdio::piped()).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.starts_with("error: --root "), "{err}");
        assert!(out.stdout.is_empty());
    }
    let err = stderr(&collect(empty.path()).output().unwrap());
    assert!(
        err.contains("does not look like a system tree (no etc/os-release or usr/lib/os-release, no etc/passwd)"),
        "{err}"
    );
}
