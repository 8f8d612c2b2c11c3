//! `/etc/os-release` (or `/usr/lib/os-release`): which distribution and release this is.
//!
//! Format per os-release(5): `KEY=value` lines, `#` comments, values possibly quoted with
//! shell rules (double quotes allow `\"`, `\\`, `\$`, `` \` `` escapes; single quotes are
//! literal; unquoted values may escape any character with a backslash). Variable expansion
//! is not supported by the format, so none is done.

pub use crate::wire::inventory::OsRelease;

/// Parses an os-release text. Malformed lines are skipped, never fatal; empty values count
/// as absent. When a key repeats, the last one wins (as a shell sourcing it would see).
pub fn parse(text: &str) -> OsRelease {
    let mut os = OsRelease::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim_end();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        let Some(value) = unquote(raw) else {
            continue; // unterminated quote: the line is damaged
        };
        let value = (!value.is_empty()).then_some(value);
        match key {
            "ID" => os.id = value,
            "ID_LIKE" => {
                os.id_like = value
                    .map(|v| v.split_whitespace().map(str::to_owned).collect())
                    .unwrap_or_default()
            }
            "NAME" => os.name = value,
            "PRETTY_NAME" => os.pretty_name = value,
            "VERSION" => os.version = value,
            "VERSION_ID" => os.version_id = value,
            "VERSION_CODENAME" => os.version_codename = value,
            _ => {}
        }
    }
    os
}

/// Shell-style unquoting of one value; `None` when a quote is left open.
fn unquote(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => match chars.next()? {
                        e @ ('"' | '\\' | '$' | '`') => out.push(e),
                        '\n' => {}
                        other => {
                            out.push('\\');
                            out.push(other);
                        }
                    },
                    other => out.push(other),
                }
            },
            '\'' => loop {
                match chars.next()? {
                    '\'' => break,
                    other => out.push(other),
                }
            },
            '\\' => out.push(chars.next().unwrap_or('\\')),
            // An unquoted blank ends the value; what follows is a comment or junk.
            c if c.is_whitespace() => break,
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_12: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"#;

    const UBUNTU_2404: &str = r#"PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.1 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=noble
LOGO=ubuntu-logo
"#;

    /// Raspberry Pi OS bookworm, 32-bit (armhf) image: ID=raspbian.
    const RASPIOS_ARMHF: &str = r#"PRETTY_NAME="Raspbian GNU/Linux 12 (bookworm)"
NAME="Raspbian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=raspbian
ID_LIKE=debian
HOME_URL="http://www.raspbian.org/"
SUPPORT_URL="http://www.raspbian.org/RaspbianForums"
BUG_REPORT_URL="http://www.raspbian.org/RaspbianBugs"
"#;

    const DEBIAN_SID: &str = r#"PRETTY_NAME="Debian GNU/Linux trixie/sid"
NAME="Debian GNU/Linux"
VERSION_CODENAME=trixie
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"#;

    #[test]
    fn debian_12() {
        let os = parse(DEBIAN_12);
        assert_eq!(os.id.as_deref(), Some("debian"));
        assert_eq!(os.version_id.as_deref(), Some("12"));
        assert_eq!(os.version_codename.as_deref(), Some("bookworm"));
        assert_eq!(
            os.pretty_name.as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert!(os.id_like.is_empty());
    }

    #[test]
    fn ubuntu_2404() {
        let os = parse(UBUNTU_2404);
        assert_eq!(os.id.as_deref(), Some("ubuntu"));
        assert_eq!(os.version_id.as_deref(), Some("24.04"));
        assert_eq!(os.version_codename.as_deref(), Some("noble"));
        assert_eq!(os.id_like, ["debian"]);
        assert_eq!(os.version.as_deref(), Some("24.04.1 LTS (Noble Numbat)"));
    }

    #[test]
    fn raspberry_pi_os_bookworm() {
        let os = parse(RASPIOS_ARMHF);
        assert_eq!(os.id.as_deref(), Some("raspbian"));
        assert_eq!(os.version_id.as_deref(), Some("12"));
        assert_eq!(os.version_codename.as_deref(), Some("bookworm"));
        assert_eq!(os.id_like, ["debian"]);
    }

    #[test]
    fn debian_testing_has_no_version_id() {
        let os = parse(DEBIAN_SID);
        assert_eq!(os.id.as_deref(), Some("debian"));
        assert_eq!(os.version_id, None);
        assert_eq!(os.version_codename.as_deref(), Some("trixie"));
        assert_eq!(
            os.pretty_name.as_deref(),
            Some("Debian GNU/Linux trixie/sid")
        );
    }

    #[test]
    fn quotes_escapes_and_comments() {
        let text = "# a comment\n\
                    NAME='single \"quoted\" $x'\n\
                    PRETTY_NAME=\"say \\\"hi\\\" for \\$5 \\\\ \\n\"\n\
                    ID=my\\ os # trailing comment\n\
                    VERSION_ID=\"12\n\
                    ID_LIKE=\"ubuntu  debian\"\n\
                    lower-case=x\n\
                    =nokey\n\
                    no equals sign\n\
                    VERSION=\n";
        let os = parse(text);
        assert_eq!(os.name.as_deref(), Some("single \"quoted\" $x"));
        assert_eq!(
            os.pretty_name.as_deref(),
            Some("say \"hi\" for $5 \\ \\n"),
            "only \\\" \\\\ \\$ \\` are escapes inside double quotes"
        );
        assert_eq!(os.id.as_deref(), Some("my os"));
        assert_eq!(os.version_id, None, "unterminated quote skips the line");
        assert_eq!(os.id_like, ["ubuntu", "debian"]);
        assert_eq!(os.version, None, "empty value is absent");
    }

    #[test]
    fn garbage_is_not_fatal() {
        assert_eq!(parse(""), OsRelease::default());
        assert_eq!(parse("\0\u{1}==\n\"\n'"), OsRelease::default());
    }
}
