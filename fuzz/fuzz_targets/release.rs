//! Release and InRelease files (`grappe_agent::parse::apt_release`): the clear-signed
//! message and the first record.
//!
//! Checks, besides "no panic": `parse` fails whenever `signed_text` does, and a file
//! that `signed_text` passes through unchanged (not signed) parses as `parse` says.
#![no_main]

use grappe_agent::parse::apt_release::{parse, signed_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let signed = signed_text(data);
    let parsed = parse(data);
    match &signed {
        Err(_) => assert!(parsed.is_err(), "parse accepts what signed_text refuses"),
        Ok(text) => {
            // The message of a signed file never holds more than the file did.
            assert!(text.len() <= data.len());
            if let Ok(r) = &parsed {
                let _ = (&r.origin, &r.label, &r.suite, &r.codename, &r.version);
            }
        }
    }
});
