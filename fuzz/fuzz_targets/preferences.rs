//! apt preferences (`grappe_agent::parse::apt_prefs::parse`).
//!
//! Checks, besides "no panic": a priority of 0 is never kept (apt refuses it), and a
//! `never` priority only ever applies to `Package: *` records.
#![no_main]

use grappe_agent::parse::apt_prefs::{parse, Selector, NEVER};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = parse(data, "fuzz.pref");
    for pin in &parsed.pins {
        assert_ne!(pin.priority, 0, "{pin:?}");
        if pin.priority == NEVER {
            assert!(pin.packages.is_none(), "{pin:?}");
        }
        if let Selector::Version { .. } = pin.selector {
            assert!(pin.packages.is_some(), "{pin:?}");
        }
    }
    let _ = (&parsed.warnings, &parsed.error);
});
