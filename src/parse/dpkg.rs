//! `/var/lib/dpkg/status`: the installed packages.
//!
//! The file is a sequence of deb822 paragraphs separated by blank lines; each field is
//! `Name: value`, continued on lines starting with a space or tab. Only the fields the
//! agent needs are kept, borrowed from the text (no copy of a 2-3 MB file). The file
//! itself is streamed ([`each_installed`]): a system with 200,000 packages has a 100 MB
//! one, and the agent never holds more than one paragraph of it.

use std::io::{self, BufRead, Read};

/// One paragraph of a deb822 file: its fields in order, names as written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Paragraph<'a> {
    fields: Vec<(&'a str, &'a str)>,
}

impl<'a> Paragraph<'a> {
    /// The value of a field (first line only for multi-line fields), by case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Iterates over the paragraphs of a deb822 text. Lines that are not `Name: value` nor a
/// continuation are skipped: a damaged line costs that field, not the whole file.
pub fn paragraphs(text: &str) -> impl Iterator<Item = Paragraph<'_>> {
    let mut lines = text.lines();
    std::iter::from_fn(move || {
        let mut para = Paragraph::default();
        for line in lines.by_ref() {
            if line.trim().is_empty() {
                if para.fields.is_empty() {
                    continue;
                }
                return Some(para);
            }
            if line.starts_with([' ', '\t']) || line.starts_with('#') {
                continue; // continuation of a multi-line field, or a comment
            }
            if let Some((name, value)) = line.split_once(':') {
                para.fields.push((name.trim(), value.trim()));
            }
        }
        (!para.fields.is_empty()).then_some(para)
    })
}

/// dpkg's idea of where a package stands (third word of `Status:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    NotInstalled,
    ConfigFiles,
    HalfInstalled,
    Unpacked,
    HalfConfigured,
    TriggersAwaited,
    TriggersPending,
    Installed,
}

impl State {
    fn parse(word: &str) -> Option<State> {
        Some(match word {
            "not-installed" => State::NotInstalled,
            "config-files" => State::ConfigFiles,
            "half-installed" => State::HalfInstalled,
            "unpacked" => State::Unpacked,
            "half-configured" => State::HalfConfigured,
            "triggers-awaited" => State::TriggersAwaited,
            "triggers-pending" => State::TriggersPending,
            "installed" => State::Installed,
            _ => return None,
        })
    }

    /// Whether the package's files are on the system, as apt sees it (it has a current
    /// version unless it is `not-installed` or `config-files`).
    pub fn is_present(self) -> bool {
        !matches!(self, State::NotInstalled | State::ConfigFiles)
    }
}

/// One package entry of the status file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Package<'a> {
    pub name: &'a str,
    /// `amd64`, `arm64`, `all`...; empty when the entry has none (very old entries).
    pub arch: &'a str,
    pub version: &'a str,
    pub state: State,
}

/// Every package entry with a name and a readable `Status:` (whatever its state).
pub fn packages(status: &str) -> impl Iterator<Item = Package<'_>> {
    paragraphs(status).filter_map(|p| {
        let name = p.get("Package")?;
        let state = State::parse(p.get("Status")?.split_whitespace().nth(2)?)?;
        Some(Package {
            name,
            arch: p.get("Architecture").unwrap_or(""),
            version: p.get("Version").unwrap_or(""),
            state,
        })
    })
}

/// The packages whose files are on the system (see [`State::is_present`]).
pub fn installed(status: &str) -> impl Iterator<Item = Package<'_>> {
    packages(status).filter(|p| p.state.is_present())
}

/// Whether a package of that name is installed (any architecture).
pub fn is_installed(status: &str, name: &str) -> bool {
    installed(status).any(|p| p.name == name)
}

/// Largest paragraph kept. A real one is a few KiB (a long Conffiles list); a larger one
/// is damage, skipped like a damaged line, so that memory stays bounded whatever the file.
const MAX_PARAGRAPH: usize = 1024 * 1024;

/// Calls `each` with every installed package of the status file read from `reader`,
/// holding one paragraph at a time.
pub fn each_installed(
    mut reader: impl BufRead,
    mut each: impl FnMut(Package<'_>),
) -> io::Result<()> {
    let mut paragraph: Vec<u8> = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    // The paragraph went over MAX_PARAGRAPH: drop it up to the next blank line.
    let mut skipping = false;
    let mut at_line_start = true;
    let mut flush = |paragraph: &mut Vec<u8>, skipping: bool| {
        if !skipping {
            installed(&String::from_utf8_lossy(paragraph)).for_each(&mut each);
        }
        paragraph.clear();
    };
    loop {
        line.clear();
        // A line longer than a paragraph arrives in pieces, each bounded.
        let n = reader
            .by_ref()
            .take(MAX_PARAGRAPH as u64)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        let whole_line = at_line_start && line.ends_with(b"\n");
        at_line_start = line.ends_with(b"\n");
        if whole_line && line.iter().all(u8::is_ascii_whitespace) {
            flush(&mut paragraph, skipping);
            skipping = false;
        } else if !skipping {
            if paragraph.len() + line.len() > MAX_PARAGRAPH {
                skipping = true;
                paragraph.clear();
            } else {
                paragraph.extend_from_slice(&line);
            }
        }
    }
    flush(&mut paragraph, skipping);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
Package: openssh-server
Status: install ok installed
Priority: optional
Section: net
Installed-Size: 1810
Maintainer: Debian OpenSSH Maintainers <debian-ssh@lists.debian.org>
Architecture: amd64
Multi-Arch: foreign
Source: openssh
Version: 1:9.2p1-2+deb12u3
Conffiles:
 /etc/default/ssh 500e3a4a3ba1c5e6b6d4c1b8a0b7b6c3
 /etc/ssh/moduli 61f0a2b9c5a9b8fd3b9c0b1b0b2d4c7e
Description: secure shell (SSH) server, for secure access from remote machines
 This is the portable version of OpenSSH.

Package: telnetd
Status: deinstall ok config-files
Priority: optional
Architecture: amd64
Version: 0.17+2.4-2

Package: libc6
Status: install ok installed
Architecture: i386
Multi-Arch: same
Version: 2.36-9+deb12u9

Package: broken-entry
Architecture: amd64

";

    #[test]
    fn reads_installed_packages_with_arch_and_version() {
        let all: Vec<_> = installed(SAMPLE).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0],
            Package {
                name: "openssh-server",
                arch: "amd64",
                version: "1:9.2p1-2+deb12u3",
                state: State::Installed
            }
        );
        assert_eq!(all[1].arch, "i386");
    }

    /// What [`each_installed`] finds in `text`, as `name=version`.
    fn streamed(text: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        each_installed(text, |p| out.push(format!("{}={}", p.name, p.version))).unwrap();
        out
    }

    #[test]
    fn streaming_finds_what_the_whole_text_has() {
        let whole: Vec<String> = installed(SAMPLE)
            .map(|p| format!("{}={}", p.name, p.version))
            .collect();
        assert_eq!(streamed(SAMPLE.as_bytes()), whole);
        // No blank line at the end, blank lines made of spaces, CRLF-free garbage between.
        let text = b"Package: a\nStatus: install ok installed\nVersion: 1\n \t\n\n\xff\xfe\n\nPackage: b\nStatus: install ok installed\nVersion: 2";
        assert_eq!(streamed(text), ["a=1", "b=2"]);
    }

    #[test]
    fn streaming_skips_an_oversized_paragraph_only() {
        let huge_line = format!("Description: {}\n", "x".repeat(3 * MAX_PARAGRAPH));
        let many_lines = " continued line of a description\n".repeat(MAX_PARAGRAPH / 16);
        let text = format!(
            "Package: a\nStatus: install ok installed\nVersion: 1\n{huge_line}\n\
             Package: b\nStatus: install ok installed\nVersion: 2\n\n\
             Package: c\nStatus: install ok installed\nVersion: 3\nDescription: c\n{many_lines}\n\
             Package: d\nStatus: install ok installed\nVersion: 4\n"
        );
        assert_eq!(streamed(text.as_bytes()), ["b=2", "d=4"]);
    }

    #[test]
    fn config_files_only_is_not_installed() {
        assert!(!is_installed(SAMPLE, "telnetd"));
        assert!(is_installed(SAMPLE, "libc6"));
        let telnetd = packages(SAMPLE).find(|p| p.name == "telnetd").unwrap();
        assert_eq!(telnetd.state, State::ConfigFiles);
    }

    #[test]
    fn entries_without_status_and_garbage_are_skipped_not_fatal() {
        let text =
            "garbage line\n\nPackage: a\nStatus: install ok installed\nVersion: 1\n\n\n\x00\x01\n";
        let names: Vec<_> = installed(text).map(|p| p.name).collect();
        assert_eq!(names, ["a"]);
        assert_eq!(installed("").count(), 0);
    }

    #[test]
    fn continuation_lines_do_not_become_fields() {
        let para = paragraphs(SAMPLE).next().unwrap();
        assert_eq!(para.get("conffiles"), Some(""));
        assert_eq!(
            para.get("Description").unwrap(),
            "secure shell (SSH) server, for secure access from remote machines"
        );
        assert_eq!(
            para.get(" /etc/default/ssh 500e3a4a3ba1c5e6b6d4c1b8a0b7b6c3"),
            None
        );
    }

    /// The parser agrees with dpkg itself on this machine's database: same packages (name
    /// without dpkg-query's `:arch` qualifier, architecture, version).
    #[test]
    fn agrees_with_dpkg_query_on_this_machine() {
        let Ok(status) = std::fs::read_to_string("/var/lib/dpkg/status") else {
            return; // not a dpkg system
        };
        let out = std::process::Command::new("dpkg-query")
            .args([
                "-W",
                "-f",
                "${db:Status-Abbrev}|${Package}|${Architecture}|${Version}\n",
            ])
            .output()
            .expect("dpkg-query runs where a dpkg status file exists");
        let mut expected: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !["un", "rc", "pn"].contains(&l[..2].trim()))
            .map(|l| l.split_once('|').unwrap().1.to_string())
            .collect();
        let mut ours: Vec<String> = installed(&status)
            .map(|p| format!("{}|{}|{}", p.name, p.arch, p.version))
            .collect();
        let mut streamed = Vec::new();
        each_installed(status.as_bytes(), |p| {
            streamed.push(format!("{}|{}|{}", p.name, p.arch, p.version))
        })
        .unwrap();
        streamed.sort();
        expected.sort();
        ours.sort();
        assert!(!ours.is_empty());
        assert_eq!(ours, expected);
        assert_eq!(streamed, expected);
    }
}
