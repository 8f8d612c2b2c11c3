//! The command line where its output goes: a full device or a reader that went away must
//! never make the agent panic.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `collect` of an empty image: quick, and output all the same.
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
    let root = tempfile::tempdir().unwrap();
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
    let root = tempfile::tempdir().unwrap();
    let mut child = collect(root.path()).stdout(Stdio::piped()).spawn().unwrap();
    // The reader goes away before the agent writes (`collect | true`).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("error:"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}
