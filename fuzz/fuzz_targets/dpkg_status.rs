//! dpkg's status file (`grappe_agent::parse::dpkg`): paragraphs, packages, installed.
//!
//! Checks, besides "no panic": `installed` is the `packages` whose state is present, and
//! `is_installed` agrees with it.
#![no_main]

use grappe_agent::parse::dpkg::{installed, is_installed, packages, paragraphs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text: &str = &text;
    for p in paragraphs(text) {
        for name in [
            "Package",
            "Status",
            "Version",
            "Architecture",
            "Description",
        ] {
            let _ = p.get(name);
        }
    }
    let all: Vec<_> = packages(text).collect();
    let present: Vec<_> = installed(text).collect();
    let expected: Vec<_> = all
        .iter()
        .copied()
        .filter(|p| p.state.is_present())
        .collect();
    assert_eq!(present, expected);
    if let Some(p) = all.first() {
        assert_eq!(
            is_installed(text, p.name),
            present.iter().any(|q| q.name == p.name)
        );
    }
    let _ = is_installed(text, "dpkg");
});
