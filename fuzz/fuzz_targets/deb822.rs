//! deb822 records (`grappe_agent::parse::deb822`), in both modes (package lists and
//! status files; configuration files with comments), every record through `Stanza`.
//!
//! Checks, besides "no panic": `parse_all` agrees with streaming the same bytes, and
//! streaming through a reader that returns short reads (as decompressors do) yields the
//! same records and the same outcome as reading the text at once.
#![no_main]

use grappe_agent::parse::apt_packages::{status_installed, Stanza};
use grappe_agent::parse::deb822::{parse_all, Section, TagFile};
use libfuzzer_sys::fuzz_target;
use std::io::{self, Read};

/// A reader that returns at most `max` bytes per call.
struct Short<'a> {
    data: &'a [u8],
    max: usize,
}

impl Read for Short<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.data.len().min(self.max).min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// A record's raw fields, in file order.
type Fields = Vec<(Vec<u8>, Vec<u8>)>;

fn exercise(section: &Section<'_>) -> Fields {
    let fields: Fields = section
        .fields()
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect();
    assert_eq!(section.is_empty(), fields.is_empty());
    for (name, value) in &fields {
        // `get` by every name present returns the last value of that name.
        if let Ok(name) = std::str::from_utf8(name) {
            let got = section.get(name).expect("a field present is found");
            let last = fields
                .iter()
                .rev()
                .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
                .map(|(_, v)| v.as_slice());
            assert_eq!(Some(got), last);
            let _ = section.get_str(name);
        }
        let _ = value;
    }
    for name in [
        "Package",
        "Version",
        "Status",
        "Architecture",
        "Depends",
        "Pin",
    ] {
        let _ = section.get(name);
        let _ = section.get_str(name);
    }
    let s = Stanza::of(section);
    let _ = s.name();
    let _ = s.arch();
    let _ = s.source_name();
    let _ = s.check_new_version();
    let _ = s.version_hash();
    let _ = s.download_size();
    let _ = s.multi_arch_flags();
    if let Some(status) = s.status {
        let _ = status_installed(status);
    }
    fields
}

/// All records and whether the file was read to its end without error.
fn stream<R: Read>(mut file: TagFile<R>) -> (Vec<Fields>, bool) {
    let mut out = Vec::new();
    loop {
        match file.next_section() {
            Ok(Some(section)) => {
                let rec = exercise(&section);
                out.push(rec);
                let _ = file.offset();
            }
            Ok(None) => return (out, true),
            Err(e) => {
                let _ = e.to_string();
                return (out, false);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    for comments in [false, true] {
        let open = |r| {
            if comments {
                TagFile::with_comments(r)
            } else {
                TagFile::new(r)
            }
        };
        let (whole, ok) = stream(open(Short {
            data,
            max: usize::MAX,
        }));

        // parse_all is the same reading, owned and lossy.
        match parse_all(data, comments) {
            Ok(records) => {
                assert!(ok, "parse_all succeeds where streaming fails");
                assert_eq!(records.len(), whole.len());
                for (r, w) in records.iter().zip(&whole) {
                    assert_eq!(r.0.len(), w.len());
                    for ((rn, rv), (wn, wv)) in r.0.iter().zip(w) {
                        assert_eq!(rn.as_str(), String::from_utf8_lossy(wn));
                        assert_eq!(rv.as_str(), String::from_utf8_lossy(wv));
                        // Record::get finds the last field of a name.
                        assert!(r.get(rn).is_some());
                    }
                }
            }
            Err(_) => assert!(!ok, "parse_all fails where streaming succeeds"),
        }

        // Short reads: refills at arbitrary places must not change the records.
        // (Configuration files are read whole, so only the list mode is concerned.)
        if !comments {
            let max = 1 + usize::from(data.first().copied().unwrap_or(0)) * 4;
            let (short, short_ok) = stream(open(Short { data, max }));
            assert_eq!(short_ok, ok, "outcome differs with reads of {max} bytes");
            assert_eq!(short, whole, "records differ with reads of {max} bytes");
        }
    }
});
