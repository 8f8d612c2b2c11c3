//! apt preferences (`/etc/apt/preferences`, `/etc/apt/preferences.d/*`): pins.
//!
//! Read as apt's `ReadPinFile` reads them: deb822 records with comments; a record without
//! `Pin` is ignored, an unknown pin type is a warning, and a record without `Package`, a
//! zero or out-of-range priority, or `never` for a single package is an error that makes
//! apt refuse to work.

use super::deb822;

/// apt's "never" priority (`Pin-Priority: never`): below everything, and it wins.
pub const NEVER: i16 = i16::MIN;

/// What a pin selects (`pkgVersionMatch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `Pin: version 1.2*` (only for named packages).
    Version { pattern: String, prefix: bool },
    /// `Pin: release o=Debian,a=stable,...`, `Pin: release stable`, `Pin: release 12*`.
    Release(ReleaseSpec),
    /// `Pin: origin deb.debian.org` (the host of the source URI).
    Origin(String),
    /// A spec apt could not split (more than 19 fragments): matches nothing.
    Nothing,
}

/// The fields a release pin constrains; empty ones are not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseSpec {
    /// `*`: every release.
    pub all: bool,
    /// `v=` (with a trailing `*`: prefix match).
    pub version: String,
    pub version_prefix: bool,
    /// `o=`, `a=` (suite), `n=` (codename), `l=`, `c=`, `b=` (architecture).
    pub origin: String,
    pub archive: String,
    pub codename: String,
    pub label: String,
    pub component: String,
    pub architecture: String,
    /// A bare word: the suite or the codename.
    pub release: String,
}

/// One pin record, for one or more packages (`None`: `Package: *`, a default for files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub packages: Option<Vec<String>>,
    pub selector: Selector,
    pub priority: i16,
}

/// A preferences file: its pins, warnings (records apt skips) and, if apt refuses the
/// file, why (pins before the bad record are kept, as apt keeps them).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub pins: Vec<Pin>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

pub fn parse(text: &[u8], file: &str) -> Parsed {
    let mut out = Parsed::default();
    let records = match deb822::parse_all(text, true) {
        Ok(r) => r,
        Err(e) => {
            out.error = Some(format!("{file}: {e}"));
            return out;
        }
    };
    for record in records {
        let get = |name: &str| record.get(name);
        let name = get("Package").unwrap_or("");
        if name.is_empty() {
            out.error = Some(format!(
                "Invalid record in the preferences file {file}, no Package header"
            ));
            return out;
        }
        let Some(pin) = get("Pin") else { continue };
        let (kind, data) = pin
            .split_once(|c: char| c.is_ascii_whitespace())
            .map_or((pin, ""), |(k, d)| (k, d.trim_start()));
        let packages = (name != "*").then(|| {
            name.split_ascii_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        });
        let selector = match kind.to_ascii_lowercase().as_str() {
            "version" if packages.is_some() => version_selector(data),
            "release" => release_selector(data),
            "origin" => Selector::Origin(
                data.strip_prefix('"')
                    .and_then(|d| d.strip_suffix('"'))
                    .unwrap_or(data)
                    .to_owned(),
            ),
            _ => {
                out.warnings
                    .push(format!("{file}: Did not understand pin type {kind}"));
                continue;
            }
        };
        let raw = get("Pin-Priority").unwrap_or("");
        let priority = if raw == "never" {
            if packages.is_some() {
                out.error = Some(format!(
                    "{file}: The special 'Pin-Priority: never' can only be used for 'Package: *' records"
                ));
                return out;
            }
            NEVER
        } else {
            match strtol(raw) {
                None | Some(0) => {
                    out.error = Some(format!("{file}: No priority (or zero) specified for pin"));
                    return out;
                }
                Some(p) if p == i64::from(NEVER) => NEVER + 1,
                Some(p) => match i16::try_from(p) {
                    Ok(p) => p,
                    Err(_) => {
                        out.error = Some(format!(
                            "{file}: Value {raw} is outside the range of valid pin priorities (-32768 to 32767)"
                        ));
                        return out;
                    }
                },
            }
        };
        out.pins.push(Pin {
            packages,
            selector,
            priority,
        });
    }
    out
}

/// `strtol(s, &end, 10)` as apt's `FindI` uses it: leading blanks, a sign, digits, and
/// whatever follows ignored; `None` without digits. Values beyond `int` saturate (apt
/// reports them as out of range, which the caller's range check does too).
fn strtol(s: &str) -> Option<i64> {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits: &str = &digits[..digits.bytes().take_while(u8::is_ascii_digit).count()];
    if digits.is_empty() {
        return None;
    }
    let value = digits.bytes().fold(0i64, |acc, d| {
        acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    Some(if negative { -value } else { value })
}

fn version_selector(data: &str) -> Selector {
    match data.strip_suffix('*') {
        Some(prefix) => Selector::Version {
            pattern: prefix.to_owned(),
            prefix: true,
        },
        None => Selector::Version {
            pattern: data.to_owned(),
            prefix: false,
        },
    }
}

/// apt's `pkgVersionMatch` constructor for release pins.
fn release_selector(data: &str) -> Selector {
    let mut spec = ReleaseSpec::default();
    if data == "*" {
        spec.all = true;
        return Selector::Release(spec);
    }
    if !data.contains('=') {
        if data.starts_with(|c: char| c.is_ascii_digit()) {
            spec.version = data.to_owned();
        } else {
            spec.release = data.to_owned();
        }
    } else {
        // apt copies the spec into a 300-byte buffer and splits it into at most 19 parts.
        let mut data = data;
        if data.len() > 299 {
            let mut cut = 299;
            while !data.is_char_boundary(cut) {
                cut -= 1;
            }
            data = &data[..cut];
        }
        let fragments = split_fragments(data);
        if fragments.len() > 19 {
            return Selector::Nothing;
        }
        for fragment in fragments {
            if fragment.len() < 3 || !fragment.is_char_boundary(2) {
                continue;
            }
            let (key, value) = fragment.split_at(2);
            let slot = match key.to_ascii_lowercase().as_str() {
                "v=" => &mut spec.version,
                "o=" => &mut spec.origin,
                "a=" => &mut spec.archive,
                "n=" => &mut spec.codename,
                "l=" => &mut spec.label,
                "c=" => &mut spec.component,
                "b=" => &mut spec.architecture,
                _ => continue,
            };
            *slot = value.to_owned();
        }
    }
    if let Some(prefix) = spec.version.strip_suffix('*') {
        spec.version = prefix.to_owned();
        spec.version_prefix = true;
    }
    Selector::Release(spec)
}

/// apt's `TokSplitString(',')`: parts between commas, blanks around them removed.
fn split_fragments(data: &str) -> Vec<&str> {
    let is_sep = |c: char| c == ',' || c.is_ascii_whitespace();
    let data = data.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let end = rest.find(',').unwrap_or(rest.len());
        out.push(rest[..end].trim_end_matches(is_sep));
        rest = rest[end..].trim_start_matches(is_sep);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_of_every_kind() {
        let text = b"\
# Security first
Package: *
Pin: release o=Debian, a=stable-security ,l=Debian-Security
Pin-Priority: 990

Package: nodejs nsolid
Pin: origin \"deb.nodesource.com\"
Pin-Priority: 600

Package: openssl
Pin: version 3.0.1*
Pin-Priority: 1001

Package: *
Pin: release bookworm-backports
Pin-Priority: -1

Package: *
Pin: release n=trixie
Pin-Priority: never
";
        let p = parse(text, "prefs");
        assert_eq!(p.error, None);
        assert_eq!(p.pins.len(), 5);
        let Selector::Release(spec) = &p.pins[0].selector else {
            panic!("{:?}", p.pins[0])
        };
        assert_eq!(
            (
                spec.origin.as_str(),
                spec.archive.as_str(),
                spec.label.as_str()
            ),
            ("Debian", "stable-security", "Debian-Security")
        );
        assert_eq!(p.pins[0].packages, None);
        assert_eq!(
            p.pins[1].packages.as_deref(),
            Some(&["nodejs".to_string(), "nsolid".to_string()][..])
        );
        assert_eq!(
            p.pins[1].selector,
            Selector::Origin("deb.nodesource.com".into())
        );
        assert_eq!(
            p.pins[2].selector,
            Selector::Version {
                pattern: "3.0.1".into(),
                prefix: true
            }
        );
        assert_eq!(p.pins[2].priority, 1001);
        let Selector::Release(spec) = &p.pins[3].selector else {
            panic!()
        };
        assert_eq!(spec.release, "bookworm-backports");
        assert_eq!(p.pins[3].priority, -1);
        assert_eq!(p.pins[4].priority, NEVER);
    }

    #[test]
    fn what_apt_skips_and_what_it_refuses() {
        let p = parse(
            b"Package: a\nPin: tomorrow\nPin-Priority: 5\n\nPackage: b\n",
            "f",
        );
        assert!(p.pins.is_empty() && p.error.is_none());
        assert_eq!(p.warnings, ["f: Did not understand pin type tomorrow"]);
        // Version pins need a package name.
        let p = parse(b"Package: *\nPin: version 1\nPin-Priority: 5\n", "f");
        assert!(p.pins.is_empty() && p.warnings.len() == 1);
        for bad in [
            &b"Pin: release a=x\nPin-Priority: 5\n"[..],
            b"Package: a\nPin: release a=x\nPin-Priority: 0\n",
            b"Package: a\nPin: release a=x\n",
            b"Package: a\nPin: release a=x\nPin-Priority: 40000\n",
            b"Package: a\nPin: release a=x\nPin-Priority: never\n",
        ] {
            assert!(
                parse(bad, "f").error.is_some(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // Garbage after the number is ignored by strtol; -32768 is clamped.
        let p = parse(b"Package: a\nPin: release a=x\nPin-Priority: 700 # high\n\nPackage: b\nPin: release a=x\nPin-Priority: -32768\n", "f");
        assert_eq!(p.pins[0].priority, 700);
        assert_eq!(p.pins[1].priority, NEVER + 1);
    }

    #[test]
    fn release_specs() {
        let Selector::Release(s) = release_selector("12*") else {
            panic!()
        };
        assert_eq!((s.version.as_str(), s.version_prefix), ("12", true));
        let Selector::Release(s) = release_selector("*") else {
            panic!()
        };
        assert!(s.all);
        let Selector::Release(s) = release_selector("c=main,b=arm64,v=12.1") else {
            panic!()
        };
        assert_eq!(
            (
                s.component.as_str(),
                s.architecture.as_str(),
                s.version.as_str()
            ),
            ("main", "arm64", "12.1")
        );
        let many = vec!["a=x"; 25].join(",");
        assert_eq!(release_selector(&many), Selector::Nothing);
    }
}
