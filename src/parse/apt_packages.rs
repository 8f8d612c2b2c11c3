//! The fields apt takes from a record of a package list or of dpkg's status file
//! (`debListParser`), and the checks that make apt refuse a list.
//!
//! apt refuses to work at all ("The package lists or status file could not be parsed")
//! when any record of any list has no `Package`, a dependency field it cannot parse, or a
//! `Description-md5` of the wrong length, and when a status record has a malformed
//! `Status`. The same checks run here on every record, so that the agent answers exactly
//! when apt answers.

use super::deb822::{Fields, Section};
use std::ops::Range;

/// The fields of one record that matter here, raw (apt keeps the last of duplicates).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stanza<'a> {
    pub package: Option<&'a [u8]>,
    pub version: Option<&'a [u8]>,
    pub architecture: Option<&'a [u8]>,
    pub multi_arch: Option<&'a [u8]>,
    pub source: Option<&'a [u8]>,
    pub size: Option<&'a [u8]>,
    pub status: Option<&'a [u8]>,
    pub description_md5: Option<&'a [u8]>,
    /// Installed-Size, Depends, Pre-Depends, Conflicts, Breaks, Replaces: what apt hashes
    /// to tell two builds of one version apart.
    pub hashed: [Option<&'a [u8]>; 6],
    /// Every dependency field apt parses: Pre-Depends, Depends, Conflicts, Breaks,
    /// Recommends, Suggests, Replaces, Enhances, Provides.
    pub relations: [Option<&'a [u8]>; 9],
}

impl<'a> Stanza<'a> {
    /// The fields of a record read as a general [`Section`].
    pub fn of(section: &Section<'a>) -> Stanza<'a> {
        let mut s = Stanza::default();
        for (name, value) in section.fields() {
            if let Some(slot) = Slot::of(name) {
                s.put(slot, value);
            }
        }
        s
    }

    /// The fields a [`StanzaFields`] sink gathered from the record `text`.
    pub fn from_fields(text: &'a [u8], fields: &StanzaFields) -> Stanza<'a> {
        let mut s = Stanza::default();
        for (slot, range) in &fields.0 {
            s.put(*slot, &text[range.clone()]);
        }
        s
    }

    fn put(&mut self, slot: Slot, value: &'a [u8]) {
        let v = Some(value);
        match slot {
            Slot::Size => self.size = v,
            Slot::Source => self.source = v,
            Slot::Status => self.status = v,
            Slot::Package => self.package = v,
            Slot::Version => self.version = v,
            Slot::MultiArch => self.multi_arch = v,
            Slot::Architecture => self.architecture = v,
            Slot::DescriptionMd5 => self.description_md5 = v,
            Slot::Hashed(h) => self.hashed[h] = v,
            Slot::Relation(r) => self.relations[r] = v,
            Slot::Both(h, r) => {
                self.hashed[h] = v;
                self.relations[r] = v;
            }
        }
    }

    /// The package name as apt files it: lower-cased (unless it holds a `/`).
    pub fn name(&self) -> Option<String> {
        let raw = self.package.filter(|p| !p.is_empty())?;
        let name = String::from_utf8_lossy(raw);
        Some(if name.contains('/') {
            name.into_owned()
        } else {
            name.to_ascii_lowercase()
        })
    }

    /// `Architecture`, or `none` when absent (apt's default).
    pub fn arch(&self) -> &'a [u8] {
        match self.architecture {
            Some(a) if !a.is_empty() => a,
            _ => b"none",
        }
    }

    /// The source package name (`Source: name (version)`, or the package's own name).
    pub fn source_name(&self) -> Option<String> {
        let source = self.source.filter(|s| !s.is_empty())?;
        let name = source.split(|&c| c == b' ').next().unwrap_or(source);
        Some(String::from_utf8_lossy(name).into_owned())
    }

    /// apt's checks on a record that adds a new version: `Err` names what apt rejects.
    pub fn check_new_version(&self) -> Result<(), String> {
        const NAMES: [&str; 9] = [
            "Pre-Depends",
            "Depends",
            "Conflicts",
            "Breaks",
            "Recommends",
            "Suggests",
            "Replaces",
            "Enhances",
            "Provides",
        ];
        for (value, name) in self.relations.iter().zip(NAMES) {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                if !relations_parse(v) {
                    return Err(format!("cannot parse its {name} field"));
                }
            }
        }
        if let Some(md5) = self.description_md5.filter(|m| !m.is_empty()) {
            if md5.len() != 32 {
                return Err("malformed Description-md5 (not 32 characters)".into());
            }
        }
        Ok(())
    }

    /// apt's `VersionHash`: the hashed fields without blanks, `=` and `0:` epochs,
    /// folded with `| 0x20`, in apt's 33-multiplier hash.
    pub fn version_hash(&self) -> u32 {
        let mut hash: u32 = 5381;
        for value in self.hashed.iter().flatten() {
            let mut i = 0;
            while i < value.len() {
                let c = value[i];
                if c == b'0' && value.get(i + 1) == Some(&b':') {
                    i += 2;
                    continue;
                }
                if !is_space(c) && c != b'=' {
                    let folded = (c as std::ffi::c_char as i32) | 0x20;
                    hash = hash.wrapping_mul(33).wrapping_add(folded as u32);
                }
                i += 1;
            }
        }
        hash
    }

    /// The download size (`Size`), 0 when absent or unreadable (apt's `FindULL`).
    pub fn download_size(&self) -> u64 {
        let Some(v) = self.size.filter(|v| v.len() < 100) else {
            return 0;
        };
        let s = String::from_utf8_lossy(v);
        let t = s.trim_start();
        let (neg, digits) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let digits = &digits[..digits.bytes().take_while(u8::is_ascii_digit).count()];
        if digits.is_empty() {
            return 0;
        }
        let value = digits.parse::<u64>().unwrap_or(u64::MAX);
        if neg {
            value.wrapping_neg()
        } else {
            value
        }
    }

    /// apt's `ParseMultiArch` as flags (`MultiArch` below).
    pub fn multi_arch_flags(&self) -> u8 {
        let all = self.architecture == Some(b"all");
        let mut flags = match self.multi_arch {
            Some(b"same") if !all => MultiArch::SAME,
            Some(b"foreign") => MultiArch::FOREIGN,
            Some(b"allowed") => MultiArch::ALLOWED,
            _ => MultiArch::NO,
        };
        if all {
            flags |= MultiArch::ALL;
        }
        flags
    }
}

/// A deb822 sink ([`Fields`]) that keeps only what a [`Stanza`] holds: reading a package
/// list this way steps over every other field without delimiting its value.
#[derive(Debug, Default)]
pub struct StanzaFields(Vec<(Slot, Range<usize>)>);

impl Fields for StanzaFields {
    type Slot = Slot;

    fn slot(name: &[u8]) -> Option<Slot> {
        Slot::of(name)
    }

    fn clear(&mut self) {
        self.0.clear();
    }

    fn set(&mut self, slot: Slot, _name: Range<usize>, value: Range<usize>) {
        self.0.push((slot, value));
    }
}

/// Where a field goes in a [`Stanza`].
#[derive(Debug, Clone, Copy)]
pub enum Slot {
    Size,
    Source,
    Status,
    Package,
    Version,
    MultiArch,
    Architecture,
    DescriptionMd5,
    Hashed(usize),
    Relation(usize),
    /// A dependency field that is also hashed: (hash slot, relation slot).
    Both(usize, usize),
}

impl Slot {
    /// The slot of a field name (case-insensitive), `None` for the fields apt does not
    /// need here. Length and first letter pick the one candidate name to compare.
    fn of(name: &[u8]) -> Option<Slot> {
        let first = name.first().map_or(0, |c| c | 0x20);
        match (name.len(), first) {
            (4, b's') => named(name, b"Size", Slot::Size),
            (6, b's') if name[1] | 0x20 == b'o' => named(name, b"Source", Slot::Source),
            (6, b's') => named(name, b"Status", Slot::Status),
            (6, b'b') => named(name, b"Breaks", Slot::Both(4, 3)),
            (7, b'p') => named(name, b"Package", Slot::Package),
            (7, b'v') => named(name, b"Version", Slot::Version),
            (7, b'd') => named(name, b"Depends", Slot::Both(1, 1)),
            (8, b'r') => named(name, b"Replaces", Slot::Both(5, 6)),
            (8, b's') => named(name, b"Suggests", Slot::Relation(5)),
            (8, b'e') => named(name, b"Enhances", Slot::Relation(7)),
            (8, b'p') => named(name, b"Provides", Slot::Relation(8)),
            (9, b'c') => named(name, b"Conflicts", Slot::Both(3, 2)),
            (10, b'm') => named(name, b"Multi-Arch", Slot::MultiArch),
            (10, b'r') => named(name, b"Recommends", Slot::Relation(4)),
            (11, b'p') => named(name, b"Pre-Depends", Slot::Both(2, 0)),
            (12, b'a') => named(name, b"Architecture", Slot::Architecture),
            (14, b'i') => named(name, b"Installed-Size", Slot::Hashed(0)),
            (15, b'd') => named(name, b"Description-md5", Slot::DescriptionMd5),
            _ => None,
        }
    }
}

/// `slot` if `name` is `key` in any case. Lists spell names as `key` does, so the exact
/// comparison (of a length known here, which the compiler turns into a few word
/// comparisons) nearly always settles it.
#[inline(always)]
fn named<const N: usize>(name: &[u8], key: &[u8; N], slot: Slot) -> Option<Slot> {
    (name == key || name.eq_ignore_ascii_case(key)).then_some(slot)
}

/// apt's `pkgCache::Version::VerMultiArch` bits.
pub struct MultiArch;
impl MultiArch {
    pub const NO: u8 = 0;
    pub const ALL: u8 = 1 << 0;
    pub const FOREIGN: u8 = 1 << 1;
    pub const SAME: u8 = 1 << 2;
    pub const ALLOWED: u8 = 1 << 3;
}

/// The third word of a status record's `Status:` (`want flag state`); `Err` if apt
/// rejects the line. `Ok(true)` when the package counts as installed.
pub fn status_installed(status: &[u8]) -> Result<bool, String> {
    const WANT: [&str; 5] = ["unknown", "install", "hold", "deinstall", "purge"];
    const FLAG: [&str; 4] = ["ok", "reinstreq", "hold", "hold-reinstreq"];
    const STATE: [&str; 8] = [
        "not-installed",
        "config-files",
        "half-installed",
        "unpacked",
        "half-configured",
        "triggers-awaited",
        "triggers-pending",
        "installed",
    ];
    let words: Vec<&[u8]> = status.split(|&c| c == b' ').collect();
    let known = |w: &[u8], list: &[&str]| list.iter().any(|k| w.eq_ignore_ascii_case(k.as_bytes()));
    match words.as_slice() {
        [want, flag, state] => {
            if !known(want, &WANT) {
                return Err("malformed 1st word in the Status line".into());
            }
            if !known(flag, &FLAG) {
                return Err("malformed 2nd word in the Status line".into());
            }
            if !known(state, &STATE) {
                return Err("malformed 3rd word in the Status line".into());
            }
            Ok(!state.eq_ignore_ascii_case(b"not-installed")
                && !state.eq_ignore_ascii_case(b"config-files"))
        }
        _ => Err("malformed Status line (three words expected)".into()),
    }
}

/// Bytes that end a package name in a dependency: blanks and `()|,[]<>`.
const ENDS_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let stops = b" \t\n\r\x0b\x0c()|,[]<>";
    let mut i = 0;
    while i < stops.len() {
        t[stops[i] as usize] = true;
        i += 1;
    }
    t
};

/// Whether apt's `ParseDepends` accepts a dependency field (architecture qualifiers and
/// build profiles are not parsed for binary packages, so `[`, `]`, `<`, `>` end names).
/// Runs on every dependency field of every list: a table lookup per byte.
pub fn relations_parse(v: &[u8]) -> bool {
    let stop = v.len();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    let skip_spaces = |mut i: usize| {
        while i < stop && is_space(v[i]) {
            i += 1;
        }
        i
    };
    let mut start = 0;
    loop {
        start = skip_spaces(start);
        let mut i = start;
        while i < stop && !ENDS_NAME[v[i] as usize] {
            i += 1;
        }
        if (i < stop && v[i] == b')') || i == start {
            return false;
        }
        i = skip_spaces(i);
        if i < stop && v[i] == b'(' {
            i = skip_spaces(i + 1);
            if i + 3 >= stop {
                return false;
            }
            // The relation: <, <=, <<, >, >=, >>, =, or none (apt's "HACK").
            match at(i) {
                b'<' | b'>' => {
                    let first = at(i);
                    i += 1;
                    if at(i) == b'=' || at(i) == first {
                        i += 1;
                    }
                }
                b'=' => i += 1,
                _ => {}
            }
            i = skip_spaces(i);
            // A version up to `)`, not empty (a few bytes: a plain loop beats memchr).
            match v[i..stop].iter().position(|&c| c == b')') {
                Some(p) if p > 0 => i += p + 1,
                _ => return false,
            }
        }
        i = skip_spaces(i);
        if i == stop {
            return true;
        }
        if v[i] != b',' && v[i] != b'|' {
            return false;
        }
        i = skip_spaces(i + 1);
        if i == stop {
            return true;
        }
        start = i;
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::deb822::TagFile;

    fn with_stanza<T>(text: &str, f: impl FnOnce(Stanza) -> T) -> T {
        let mut file = TagFile::new(text.as_bytes());
        let section = file.next_section().unwrap().unwrap();
        f(Stanza::of(&section))
    }

    #[test]
    fn fields_names_and_source() {
        with_stanza(
            "Package: LibFoo\nVersion: 1.0\nSource: foo (0.9)\nMulti-Arch: same\nArchitecture: arm64\nSize: 1234\n\n",
            |s| {
                assert_eq!(s.name().as_deref(), Some("libfoo"));
                assert_eq!(s.source_name().as_deref(), Some("foo"));
                assert_eq!(s.multi_arch_flags(), MultiArch::SAME);
                assert_eq!(s.download_size(), 1234);
                assert_eq!(s.arch(), b"arm64");
            },
        );
        with_stanza("Package: a\nMulti-Arch: same\nArchitecture: all\n\n", |s| {
            assert_eq!(s.multi_arch_flags(), MultiArch::ALL);
            assert_eq!(s.source_name(), None);
        });
        with_stanza("Version: 1\n\n", |s| {
            assert_eq!(s.name(), None);
            assert_eq!(s.arch(), b"none");
        });
    }

    /// Every stanza of `text` read both ways: every field then `Stanza::of`, and the
    /// `StanzaFields` sink that steps over unwanted fields; with the outcome.
    fn both_ways(text: &[u8]) -> (Vec<String>, Vec<String>) {
        let mut general = TagFile::new(text);
        let mut sink = TagFile::<_, StanzaFields>::with_fields(text);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        loop {
            match general.next_section() {
                Ok(Some(s)) => a.push(format!("{:?}", Stanza::of(&s))),
                Ok(None) => break,
                Err(e) => {
                    a.push(e.to_string());
                    break;
                }
            }
        }
        loop {
            match sink.next_record() {
                Ok(Some((t, f))) => b.push(format!("{:?}", Stanza::from_fields(t, f))),
                Ok(None) => break,
                Err(e) => {
                    b.push(e.to_string());
                    break;
                }
            }
        }
        (a, b)
    }

    #[test]
    fn stepping_over_unwanted_fields_reads_the_same_stanzas() {
        let tricky: [&[u8]; 7] = [
            // Unwanted fields with continuation lines, an empty value continued below.
            b"Package: a\nDescription: x\n more\n .\nTag:\n role::x\nVersion: 1\n\n",
            b"Maintainer:\n \n\nPackage: b\nVersion:\n 2\n\n",
            // A line without a colon swallows the next one (a wanted name disappears).
            b"Package: c\ngarbage\nVersion: 1\nHomepage: x\n\n",
            b"Package : d\nVERSION:1\nTag:\t\n\tx\r\nDepends: e\n\r\nPackage: f\n",
            b"Homepage: http://x\n\n\n\nPackage: g\nHomepage:",
            b"Package: h\nSHA256: \n\nSize: 1\n\nMD5sum:",
            b"Filename:\n\n",
        ];
        for text in tricky {
            let (a, b) = both_ways(text);
            assert_eq!(a, b, "{}", String::from_utf8_lossy(text));
        }
        // This machine's dpkg database, whatever it holds.
        if let Ok(status) = std::fs::read("/var/lib/dpkg/status") {
            let (a, b) = both_ways(&status);
            assert_eq!(a, b);
            assert!(a.len() > 10);
        }
    }

    #[test]
    fn the_hash_ignores_what_dpkg_reformats() {
        let a = with_stanza(
            "Package: a\nDepends: libc6 (>= 2.36), zlib1g (>= 1:1.2)\nInstalled-Size: 10\n\n",
            |s| s.version_hash(),
        );
        let b = with_stanza(
            "Package: a\nInstalled-Size: 10\nDepends: libc6 (> 2.36),zlib1g(>=1:1.2)\n\n",
            |s| s.version_hash(),
        );
        let c = with_stanza(
            "Package: a\nDepends: libc6 (>= 2.37), zlib1g (>= 1:1.2)\nInstalled-Size: 10\n\n",
            |s| s.version_hash(),
        );
        // `>` and `>=` differ only by the `=`, which is dropped; field order does not
        // matter within apt's fixed field order either.
        assert_eq!(a, b);
        assert_ne!(a, c);
        let epoch = with_stanza("Package: a\nDepends: x (= 0:1)\n\n", |s| s.version_hash());
        let plain = with_stanza("Package: a\nDepends: x (= 1)\n\n", |s| s.version_hash());
        assert_eq!(epoch, plain);
    }

    #[test]
    fn relations_apt_accepts_and_refuses() {
        for ok in [
            "libc6 (>= 2.36)",
            "a | b (<< 2), c:any, d (= 1.0-1) ",
            "a (>= 1),",
            "perl:any",
            "a (1.0)",
        ] {
            assert!(relations_parse(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "libc6 (>= ",
            "a, , b",
            "a)",
            "a (>= 1",
            "a b",
            "a ()",
            "a (=1)",
        ] {
            assert!(!relations_parse(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_installed(b"install ok installed"), Ok(true));
        assert_eq!(status_installed(b"deinstall ok config-files"), Ok(false));
        assert_eq!(status_installed(b"hold ok half-configured"), Ok(true));
        assert!(status_installed(b"install ok").is_err());
        assert!(status_installed(b"install ok installed extra").is_err());
        assert!(status_installed(b"install  ok installed").is_err());
        assert!(status_installed(b"wish ok installed").is_err());
    }
}
