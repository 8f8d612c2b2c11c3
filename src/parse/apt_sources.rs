//! apt's sources: `sources.list` one-line entries and deb822 `.sources` files.
//!
//! Each entry becomes one `(type, URI, suite, component)` item with its options, in the
//! order apt creates them (`pkgSourceList`); the index files apt reads follow from these
//! (see `collect::patches::index`). A malformed entry makes apt refuse to work at all
//! ("The list of sources could not be read"), so it is an error here too, naming the
//! file, the line or stanza, and what is wrong, as apt does.

use super::deb822;
use std::collections::BTreeMap;

/// `deb` (binary packages) or `deb-src` (sources, which have no package lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Deb,
    DebSrc,
}

/// One item of a source entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub kind: Kind,
    /// Normalised as apt does (`scheme://host[:port]/path/`, always ending in `/`).
    pub uri: String,
    /// The suite, or for a flat repository a path ending in `/`.
    pub suite: String,
    /// Empty for a flat repository.
    pub component: String,
    /// Options by apt's internal names: `arch`, `arch+`, `arch-`, `trusted`, `signed-by`...
    pub options: BTreeMap<String, String>,
    /// `FILE:LINE` (one-line format) or `FILE:STANZA` (deb822), for messages.
    pub origin: String,
}

/// Parses a one-line `.list` file; `native_arch` replaces `$(ARCH)`.
pub fn parse_list(text: &str, file: &str, native_arch: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = strip_comment(raw).trim_matches([' ', '\t', '\r']);
        if line.is_empty() {
            continue;
        }
        let malformed =
            |what: &str| format!("Malformed entry {line_no} in list file {file} ({what})");
        let split = line.find([' ', '\t', '\x0b']).unwrap_or(line.len());
        let (kind_word, mut rest) = line.split_at(split);
        if rest.is_empty() {
            return Err(format!(
                "Malformed line {line_no} in source list {file} (type)"
            ));
        }
        let kind = kind_of(kind_word).ok_or_else(|| {
            format!("Type '{kind_word}' is not known on line {line_no} in source list {file}")
        })?;
        let mut options = BTreeMap::new();
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('[') {
            let close = after
                .find(']')
                .ok_or_else(|| malformed("[option] unparsable"))?;
            for option in after[..close].split_whitespace() {
                if option.len() < 3 {
                    return Err(malformed("[option] too short"));
                }
                let (key, value) = option
                    .split_once('=')
                    .ok_or_else(|| malformed("[option] not assignment"))?;
                if key.is_empty() {
                    return Err(malformed("[option] no key"));
                }
                if value.is_empty() {
                    return Err(malformed("[option] no value"));
                }
                options.insert(key.to_owned(), value.to_owned());
            }
            rest = after[close + 1..].trim_start();
        }
        let mut words = QuoteWords(rest);
        let uri = words.next().ok_or_else(|| malformed("URI"))?;
        let suite = words.next().ok_or_else(|| malformed("Suite"))?;
        let uri = fixup_uri(&uri, native_arch).ok_or_else(|| malformed("URI parse"))?;
        let origin = format!("{file}:{line_no}");
        let item = |suite: &str, component: &str| Item {
            kind,
            uri: uri.clone(),
            suite: suite.to_owned(),
            component: component.to_owned(),
            options: options.clone(),
            origin: origin.clone(),
        };
        if suite.ends_with('/') {
            if words.next().is_some() {
                return Err(malformed("absolute Suite Component"));
            }
            items.push(item(&suite.replace("$(ARCH)", native_arch), ""));
            continue;
        }
        let components: Vec<String> = words.collect();
        if components.is_empty() {
            return Err(malformed("Component"));
        }
        for component in components {
            items.push(item(&suite, &component));
        }
    }
    Ok(items)
}

/// Parses a deb822 `.sources` file.
pub fn parse_sources(text: &str, file: &str, native_arch: &str) -> Result<Vec<Item>, String> {
    let stanzas = deb822::parse_all(text.as_bytes(), true)
        .map_err(|e| format!("Malformed stanza 0 in source list {file} (type): {e}"))?;
    let mut items = Vec::new();
    for (n, record) in stanzas.iter().enumerate() {
        let stanza = n + 1;
        let get = |name: &str| record.get(name);
        let multi = |name: &str| -> Vec<String> {
            get(name)
                .map(|v| v.split_ascii_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let malformed =
            |what: &str| format!("Malformed entry {stanza} in sources file {file} ({what})");
        let Some(types) = get("Types") else {
            return Err(format!(
                "Malformed stanza {stanza} in source list {file} (type)"
            ));
        };
        let kinds = types
            .split_ascii_whitespace()
            .map(|t| {
                kind_of(t).ok_or_else(|| {
                    format!("Type '{t}' is not known on stanza {stanza} in source list {file}")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(enabled) = get("Enabled") {
            if !enabled.is_empty() && string_to_bool(enabled) == Some(false) {
                continue;
            }
        }
        let mut options = BTreeMap::new();
        for (field, key, list) in OPTION_FIELDS {
            if let Some(value) = get(field) {
                let value = if *list {
                    value.split_ascii_whitespace().collect::<Vec<_>>().join(",")
                } else {
                    value.to_owned()
                };
                options.insert((*key).to_owned(), value);
            }
        }
        let uris = multi("URIs");
        let components = multi("Components");
        let suites: Vec<String> = multi("Suites")
            .into_iter()
            .map(|s| s.replace("$(ARCH)", native_arch))
            .collect();
        if uris.is_empty() {
            return Err(malformed("URI"));
        }
        if suites.is_empty() {
            return Err(malformed("Suite"));
        }
        for kind in &kinds {
            for uri in &uris {
                let uri = fixup_uri(uri, native_arch).ok_or_else(|| malformed("URI parse"))?;
                for suite in &suites {
                    let item = |component: &str| Item {
                        kind: *kind,
                        uri: uri.clone(),
                        suite: suite.clone(),
                        component: component.to_owned(),
                        options: options.clone(),
                        origin: format!("{file}:{stanza}"),
                    };
                    if suite.ends_with('/') {
                        if !components.is_empty() {
                            return Err(malformed("absolute Suite Component"));
                        }
                        items.push(item(""));
                    } else {
                        if components.is_empty() {
                            return Err(malformed("Component"));
                        }
                        items.extend(components.iter().map(|c| item(c)));
                    }
                }
            }
        }
    }
    Ok(items)
}

/// deb822 fields that are options: `(field, option key, is a list)`.
const OPTION_FIELDS: &[(&str, &str, bool)] = &[
    ("Architectures", "arch", true),
    ("Architectures-Add", "arch+", true),
    ("Architectures-Remove", "arch-", true),
    ("Languages", "lang", true),
    ("Languages-Add", "lang+", true),
    ("Languages-Remove", "lang-", true),
    ("Targets", "target", true),
    ("Targets-Add", "target+", true),
    ("Targets-Remove", "target-", true),
    ("Trusted", "trusted", false),
    ("Check-Valid-Until", "check-valid-until", false),
    ("Valid-Until-Min", "valid-until-min", false),
    ("Valid-Until-Max", "valid-until-max", false),
    ("Check-Date", "check-date", false),
    ("Date-Max-Future", "date-max-future", false),
    ("Signed-By", "signed-by", false),
    ("PDiffs", "pdiffs", false),
    ("By-Hash", "by-hash", false),
];

fn kind_of(word: &str) -> Option<Kind> {
    match word {
        "deb" => Some(Kind::Deb),
        "deb-src" => Some(Kind::DebSrc),
        _ => None,
    }
}

/// apt's `StringToBool`: `0`/`1`, or yes/true/with/on/enable and their opposites.
pub fn string_to_bool(text: &str) -> Option<bool> {
    let t = text.trim();
    match t {
        "0" => return Some(false),
        "1" => return Some(true),
        _ => {}
    }
    let lower = t.to_ascii_lowercase();
    match lower.as_str() {
        "no" | "false" | "without" | "off" | "disable" => Some(false),
        "yes" | "true" | "with" | "on" | "enable" => Some(true),
        _ => None,
    }
}

/// A one-line entry without its comment: `#` starts one unless it is inside `[...]`.
fn strip_comment(line: &str) -> &str {
    let mut depth = 0i32;
    for (i, c) in line.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            '#' if depth <= 0 => return &line[..i],
            _ => {}
        }
    }
    line
}

/// apt's `ParseQuoteWord`: whitespace-separated words, where `"..."` and `[...]` may hold
/// blanks, quotes are removed and `%xx` is decoded.
struct QuoteWords<'a>(&'a str);

impl Iterator for QuoteWords<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let s = self.0.trim_start_matches(' ');
        let b = s.as_bytes();
        if b.is_empty() {
            return None;
        }
        let mut end = 0;
        while end < b.len() && !b[end].is_ascii_whitespace() {
            let close = match b[end] {
                b'"' => Some(b'"'),
                b'[' => Some(b']'),
                _ => None,
            };
            if let Some(close) = close {
                end += 1 + memchr::memchr(close, &b[end + 1..])?;
            }
            end += 1;
        }
        let word = &b[..end];
        let mut out = Vec::with_capacity(word.len());
        let mut i = 0;
        while i < word.len() {
            if word[i] == b'%' && i + 2 < word.len() {
                let hex = |c: u8| (c as char).to_digit(16);
                if let (Some(h), Some(l)) = (hex(word[i + 1]), hex(word[i + 2])) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
            }
            if word[i] != b'"' {
                out.push(word[i]);
            }
            i += 1;
        }
        self.0 = s[end..].trim_start();
        Some(String::from_utf8_lossy(&out).into_owned())
    }
}

/// An URI split as apt's `URI` class does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uri {
    pub scheme: String,
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Uri {
    pub fn parse(u: &str) -> Uri {
        let b = u.as_bytes();
        let colon = memchr::memchr(b':', b).unwrap_or(b.len());
        let mut slash = colon;
        if colon + 3 < b.len() && b[colon + 1] == b'/' && b[colon + 2] == b'/' {
            slash += 3;
        }
        let mut in_bracket = false;
        while slash < b.len() && (b[slash] != b'/' || in_bracket) {
            if b[slash] == b'[' {
                in_bracket = true;
            }
            if in_bracket && b[slash] == b']' {
                in_bracket = false;
            }
            slash += 1;
        }
        let slash = slash.min(b.len());
        let mut uri = Uri {
            scheme: u[..colon].to_owned(),
            path: if slash < b.len() {
                u[slash..].to_owned()
            } else {
                "/".to_owned()
            },
            ..Uri::default()
        };
        let mut first = if colon + 2 < b.len() && b[colon + 1] == b'/' && b[colon + 2] == b'/' {
            colon + 3
        } else {
            colon + 1
        };
        if first >= b.len() {
            return uri;
        }
        first = first.min(slash);
        let authority = &u[first..slash];
        // apt looks for the `@` after the authority's first character.
        let at = authority.get(1..).and_then(|a| a.rfind('@')).map(|p| p + 1);
        let host = match at {
            Some(at) => {
                let (userinfo, host) = (&authority[..at], &authority[at + 1..]);
                let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                uri.user = user.to_owned();
                uri.password = pass.to_owned();
                host
            }
            _ => authority,
        };
        let mut port_end = 0;
        let mut cleaned = String::with_capacity(host.len());
        let mut in_bracket = false;
        for c in host.chars() {
            match c {
                '[' => in_bracket = true,
                ']' if in_bracket => {
                    in_bracket = false;
                    port_end = cleaned.len();
                }
                _ => cleaned.push(c),
            }
        }
        if in_bracket {
            return uri;
        }
        if let Some(pos) = cleaned.rfind(':') {
            if pos >= port_end {
                uri.port = leading_number(&cleaned[pos + 1..]);
                cleaned.truncate(pos);
            }
        }
        uri.host = cleaned;
        uri
    }

    /// apt's `URI::operator string`, optionally without scheme and credentials.
    pub fn render(&self, with_scheme: bool) -> String {
        let mut out = String::new();
        if with_scheme && !self.scheme.is_empty() {
            out.push_str(&self.scheme);
            out.push(':');
        }
        if !self.host.is_empty() {
            if with_scheme && !self.scheme.is_empty() {
                out.push_str("//");
                if !self.user.is_empty() {
                    out.push_str(&quote(&self.user, ":/?#[]@"));
                    if !self.password.is_empty() {
                        out.push(':');
                        out.push_str(&quote(&self.password, ":/?#[]@"));
                    }
                    out.push('@');
                }
            }
            if with_scheme && !self.scheme.is_empty() && self.host.contains(['/', ':']) {
                out.push('[');
                out.push_str(&self.host);
                out.push(']');
            } else {
                out.push_str(&self.host);
            }
            if self.port != 0 {
                out.push(':');
                out.push_str(&self.port.to_string());
            }
        }
        if !self.path.is_empty() {
            if !self.path.starts_with('/') {
                out.push('/');
            }
            out.push_str(&self.path);
        }
        out
    }
}

fn leading_number(s: &str) -> u16 {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    digits.parse::<u32>().map_or(0, |v| v as u16)
}

/// apt's `FixupURI`: `$(ARCH)` replaced, normalised, ending in `/`; `None` if unusable.
fn fixup_uri(uri: &str, native_arch: &str) -> Option<String> {
    if uri.is_empty() || !uri.contains(':') {
        return None;
    }
    let mut fixed = Uri::parse(&uri.replace("$(ARCH)", native_arch)).render(true);
    if !fixed.ends_with('/') {
        fixed.push('/');
    }
    Some(fixed)
}

/// apt's `QuoteString`: `%xx` for the `bad` characters, `%`, blanks, controls, non-ASCII.
pub fn quote(s: &str, bad: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if bad.as_bytes().contains(&c) || c == b'%' || c <= 0x20 || c >= 0x7f {
            out.push_str(&format!("%{c:02x}"));
        } else {
            out.push(c as char);
        }
    }
    out
}

/// apt's `URItoFileName`: where apt keeps what it fetched from `uri` in its lists
/// directory (scheme and credentials dropped, `/` turned into `_`).
pub fn uri_to_file_name(uri: &str) -> String {
    let mut u = Uri::parse(uri);
    u.user.clear();
    u.password.clear();
    u.scheme.clear();
    quote(&u.render(false), "\\|{}[]<>\"^~_=!@#$%^&*").replace('/', "_")
}

/// apt's `pkgAcquire::URIEncode` (default `Acquire::URIEncode`).
pub fn uri_encode(part: &str) -> String {
    quote(part, "+~ ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_entries_with_options_and_comments() {
        let text = "\
# comment
deb http://deb.debian.org/debian bookworm main contrib # trailing
deb [arch=amd64,i386 signed-by=/usr/share/keyrings/x.gpg] https://repo.example/apt stable main
deb-src http://deb.debian.org/debian bookworm main
deb file:///srv/repo ./
";
        let items = parse_list(text, "sources.list", "amd64").unwrap();
        assert_eq!(items.len(), 5);
        assert_eq!(items[0].uri, "http://deb.debian.org/debian/");
        assert_eq!(
            (items[1].suite.as_str(), items[1].component.as_str()),
            ("bookworm", "contrib")
        );
        assert_eq!(items[1].origin, "sources.list:2");
        assert_eq!(items[2].options["arch"], "amd64,i386");
        assert_eq!(items[3].kind, Kind::DebSrc);
        assert_eq!(items[4].uri, "file:/srv/repo/");
        assert_eq!(
            (items[4].suite.as_str(), items[4].component.as_str()),
            ("./", "")
        );
    }

    #[test]
    fn malformed_lines_are_errors_that_say_where() {
        let e = parse_list("deb http://x/ bookworm\n", "a.list", "amd64").unwrap_err();
        assert_eq!(e, "Malformed entry 1 in list file a.list (Component)");
        let e = parse_list("\n\nrpm http://x/ a b\n", "a.list", "amd64").unwrap_err();
        assert!(e.contains("Type 'rpm' is not known on line 3"), "{e}");
        assert!(parse_list("deb [arch] http://x/ a b\n", "a.list", "amd64").is_err());
        assert!(parse_list("deb http://x/ ./ main\n", "a.list", "amd64").is_err());
    }

    #[test]
    fn deb822_stanzas_multiply_uris_suites_and_components() {
        let text = "\
Types: deb deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Architectures: amd64 arm64

# disabled
Types: deb
URIs: http://example.org/
Suites: x
Components: y
Enabled: no
";
        let items = parse_sources(text, "debian.sources", "amd64").unwrap();
        assert_eq!(items.len(), 4);
        assert_eq!(items[0].kind, Kind::Deb);
        assert_eq!(items[1].suite, "bookworm-updates");
        assert_eq!(items[2].kind, Kind::DebSrc);
        assert_eq!(items[0].options["arch"], "amd64,arm64");
        let e = parse_sources("Types: deb\nURIs: http://x/\n", "a.sources", "amd64").unwrap_err();
        assert!(e.contains("(Suite)"), "{e}");
    }

    #[test]
    fn list_file_names_match_apts() {
        assert_eq!(
            uri_to_file_name("http://deb.debian.org/debian/dists/bookworm/InRelease"),
            "deb.debian.org_debian_dists_bookworm_InRelease"
        );
        assert_eq!(
            uri_to_file_name(
                "https://user:pw@repo.example:8443/a_b/dists/x/main/binary-arm64/Packages"
            ),
            "repo.example:8443_a%5fb_dists_x_main_binary-arm64_Packages"
        );
        assert_eq!(
            uri_to_file_name("file:/srv/repo/./Packages"),
            "_srv_repo_._Packages"
        );
        assert_eq!(Uri::parse("http://[::1]:80/d/").host, "::1");
        assert_eq!(Uri::parse("http://u@h.example/d/").host, "h.example");
    }
}
