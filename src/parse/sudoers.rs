//! `/etc/sudoers` and its drop-ins, only for what posture asks: the include directives,
//! rules tagged `NOPASSWD`, and the `authenticate` and `use_pty` defaults (sudoers(5)).

/// `@include`/`#include` (a file) or `@includedir`/`#includedir` (a directory), path as
/// written (a relative one is relative to the including file's directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Include {
    File(String),
    Dir(String),
}

/// What one sudoers file says.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sudoers {
    pub includes: Vec<Include>,
    /// User specifications carrying a `NOPASSWD:` tag.
    pub nopasswd_rules: usize,
    /// `Defaults` entries `!authenticate` (for everyone or for some users, hosts, commands).
    pub no_authenticate: usize,
    /// The last global `Defaults use_pty` (true) or `!use_pty` (false) of the file.
    pub use_pty: Option<bool>,
}

/// Parses one file. Lines ending with `\` continue on the next one.
pub fn parse(text: &str) -> Sudoers {
    let mut out = Sudoers::default();
    super::joined_lines(text, |l| line(l, &mut out));
    out
}

fn line(l: &str, out: &mut Sudoers) {
    let l = l.trim();
    for (directive, dir) in [
        ("@includedir", true),
        ("#includedir", true),
        ("@include", false),
        ("#include", false),
    ] {
        if let Some(rest) = l.strip_prefix(directive) {
            if rest.starts_with(char::is_whitespace) {
                let path = unquote(rest.trim()).to_string();
                out.includes.push(if dir {
                    Include::Dir(path)
                } else {
                    Include::File(path)
                });
            }
            return;
        }
    }
    let l = strip_comment(l);
    let Some(word) = l.split(|c: char| c.is_whitespace()).next() else {
        return;
    };
    // `Defaults`, `Defaults:user`, `Defaults@host`, `Defaults!cmnd`, `Defaults>runas`.
    if let Some(binding) = word.strip_prefix("Defaults") {
        let global = binding.is_empty();
        for entry in split_list(l[word.len()..].trim()) {
            match entry {
                "!authenticate" => out.no_authenticate += 1,
                "use_pty" if global => out.use_pty = Some(true),
                "!use_pty" if global => out.use_pty = Some(false),
                _ => {}
            }
        }
        return;
    }
    if word.ends_with("_Alias") {
        return;
    }
    if has_tag(l, "NOPASSWD") {
        out.nopasswd_rules += 1;
    }
}

/// `#` starts a comment, except `#` followed by a digit (a numeric uid such as `#1000`).
fn strip_comment(l: &str) -> &str {
    let b = l.as_bytes();
    for (i, c) in b.iter().enumerate() {
        if *c == b'#' && !b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            return l[..i].trim_end();
        }
    }
    l
}

/// Whether `tag` appears as a tag: the word followed by `:` (spaces allowed before it).
fn has_tag(l: &str, tag: &str) -> bool {
    l.match_indices(tag).any(|(i, _)| {
        let before_ok = l[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
        before_ok && l[i + tag.len()..].trim_start().starts_with(':')
    })
}

/// Splits a `Defaults` list on commas outside double quotes, entries trimmed.
fn split_list(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out.retain(|e| !e.is_empty());
    out
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

/// Whether sudo reads a file found in an `@includedir` directory: not ending in `~` and
/// without a `.` (editor backups and package leftovers such as `.dpkg-old` are skipped).
pub fn included_name(name: &str) -> bool {
    !name.ends_with('~') && !name.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = "#\n# This file MUST be edited with the 'visudo' command as root.\nDefaults\tenv_reset\nDefaults\tmail_badpass\nDefaults\tsecure_path=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"\n\n# This fixes CVE-2005-4890 and possibly breaks some versions of kdesu\n# (#1011624, https://bugs.kali.org/view.php?id=5524)\nDefaults\tuse_pty\n\n# User privilege specification\nroot\tALL=(ALL:ALL) ALL\n\n# Allow members of group sudo to execute any command\n%sudo\tALL=(ALL:ALL) ALL\n\n# See sudoers(5) for more information on \"@include\" directives:\n\n@includedir /etc/sudoers.d\n";

    #[test]
    fn debian_12_sudoers() {
        let s = parse(DEBIAN);
        assert_eq!(s.includes, [Include::Dir("/etc/sudoers.d".into())]);
        assert_eq!(s.nopasswd_rules, 0);
        assert_eq!(s.no_authenticate, 0);
        assert_eq!(s.use_pty, Some(true));
    }

    #[test]
    fn raspberry_pi_nopasswd_and_defaults_variants() {
        let s = parse("pi ALL=(ALL) NOPASSWD: ALL\n");
        assert_eq!(s.nopasswd_rules, 1);
        let s = parse("# kiosk ALL=(ALL) NOPASSWD: ALL\n%adm ALL = (root) PASSWD: /bin/ls, \\\n  NOPASSWD:/usr/bin/apt\n#1000 ALL=(ALL)NOPASSWD :ALL\nCmnd_Alias NOPASSWDX = /bin/true\n");
        assert_eq!(s.nopasswd_rules, 2);
        let s = parse("Defaults:kiosk !authenticate, env_reset\nDefaults !lecture,!use_pty\nDefaults:x use_pty\nDefaults secure_path=\"/a,!authenticate\"\n");
        assert_eq!(s.no_authenticate, 1);
        assert_eq!(s.use_pty, Some(false));
    }

    #[test]
    fn include_directives() {
        let s = parse("#includedir /etc/sudoers.d\n@include \"/etc/sudo local\"\n#include x\n#include_not\n#comment\n");
        assert_eq!(
            s.includes,
            [
                Include::Dir("/etc/sudoers.d".into()),
                Include::File("/etc/sudo local".into()),
                Include::File("x".into())
            ]
        );
        assert!(included_name("010_pi-nopasswd"));
        assert!(!included_name("README.txt") && !included_name("x~"));
    }

    #[test]
    fn garbage_does_not_panic() {
        for t in [
            "\\",
            "Defaults",
            "Defaults \"",
            "@include",
            "#",
            "NOPASSWD",
            "\u{FFFD}:",
        ] {
            let _ = parse(t);
        }
    }
}
