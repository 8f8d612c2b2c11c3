//! apt configuration files (`grappe_agent::parse::aptconf`): parse, then apply to a
//! `Config` and read back every key.
//!
//! Checks, besides "no panic": after applying one file, each key's value is the last
//! `Set` of that key unless a later `#clear` removed it.
#![no_main]

use grappe_agent::parse::aptconf::{parse, Config, Op};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = parse(&text);
    let mut config = Config::default();
    config.apply(&parsed, "fuzz.conf");
    for (i, op) in parsed.ops.iter().enumerate() {
        match op {
            Op::Set(k, v) => {
                let later = &parsed.ops[i + 1..];
                let overridden = later.iter().any(|o| match o {
                    Op::Set(k2, _) => k2 == k,
                    Op::Clear(c) => k == c || k.starts_with(&format!("{c}::")),
                    Op::Append(..) => false,
                });
                if !overridden {
                    assert_eq!(config.get(k), Some((v.as_str(), "fuzz.conf")), "{k}");
                }
            }
            Op::Append(k, _) => {
                let _ = config.list(k);
            }
            Op::Clear(k) => {
                let _ = config.get(k);
            }
        }
    }
    let _ = &parsed.notes;
});
