//! `Release` and `InRelease` files: which archive a package list comes from.
//!
//! An `InRelease` file is an OpenPGP clear-signed `Release`; the signed text is taken out
//! as apt's `SplitClearSignedFile` does (the signature itself is apt's business at
//! download time, not ours), including its refusals: a clear-signed file with extra
//! dash lines, unsigned lines after the signature or no end is an error for apt.

use super::deb822;

/// The fields of a Release file that pins and reports use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Release {
    pub origin: Option<String>,
    pub label: Option<String>,
    /// `Suite`, which apt calls the archive (`stable`, `bookworm-security`...).
    pub suite: Option<String>,
    pub codename: Option<String>,
    pub version: Option<String>,
    pub not_automatic: bool,
    pub but_automatic_upgrades: bool,
}

const BEGIN_SIGNED: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const BEGIN_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----";
const END_SIGNATURE: &str = "-----END PGP SIGNATURE-----";

/// The signed message of a clear-signed file, or the file itself if it is not signed.
pub fn signed_text(file: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    // Lines as apt reads them: newline characters, then trailing blanks, removed.
    let mut lines = file.split_inclusive(|&c| c == b'\n').map(|l| {
        let l = trim_end(l, b"\n\r");
        trim_end(l, b" \t")
    });
    let Some(first) = lines.next() else {
        return Ok(file.into());
    };
    if first != BEGIN_SIGNED.as_bytes() {
        if lines.any(|l| l == BEGIN_SIGNED.as_bytes()) {
            return Err("clear-signed file does not start with a signed message block".into());
        }
        return Ok(file.into());
    }
    let incomplete =
        || "clear-signed file is incomplete (no signature after the message)".to_string();
    // Armor headers ("Hash: SHA512") up to an empty line.
    loop {
        let line = lines.next().ok_or_else(incomplete)?;
        if line.is_empty() {
            break;
        }
        if line.starts_with(b"-") {
            return Err(
                "clear-signed file has an unexpected line starting with a dash (armor)".into(),
            );
        }
    }
    let mut message = Vec::with_capacity(file.len());
    let mut first_line = true;
    loop {
        let line = lines.next().ok_or_else(incomplete)?;
        let text = if line.starts_with(b"-") {
            if line == BEGIN_SIGNATURE.as_bytes() {
                break;
            }
            line.strip_prefix(b"- ").ok_or_else(|| {
                "clear-signed file has an unexpected line starting with a dash (msg)".to_string()
            })?
        } else {
            line
        };
        if !first_line {
            message.push(b'\n');
        }
        message.extend_from_slice(text);
        first_line = false;
    }
    let mut open = true;
    for line in lines {
        if open {
            if line == END_SIGNATURE.as_bytes() {
                open = false;
            } else if line.starts_with(b"-") {
                return Err(
                    "clear-signed file has an unexpected line starting with a dash (sig)".into(),
                );
            }
        } else if line == BEGIN_SIGNATURE.as_bytes() {
            open = true;
        } else {
            return Err("clear-signed file contains unsigned lines".into());
        }
    }
    if open {
        return Err("signature in clear-signed file wasn't closed".into());
    }
    Ok(message.into())
}

fn trim_end<'a>(mut s: &'a [u8], chars: &[u8]) -> &'a [u8] {
    while let Some((last, rest)) = s.split_last() {
        if !chars.contains(last) {
            break;
        }
        s = rest;
    }
    s
}

/// Parses a Release or InRelease file: its first record (apt reads no other).
pub fn parse(file: &[u8]) -> Result<Release, String> {
    let text = signed_text(file)?;
    let mut tags = deb822::TagFile::new(&text[..]);
    let section = match tags.next_section() {
        Ok(Some(s)) => s,
        Ok(None) => return Err("no record in the Release file".into()),
        Err(e) => return Err(e.to_string()),
    };
    let get = |name: &str| {
        section
            .get_str(name)
            .map(|v| v.into_owned())
            .filter(|v| !v.is_empty())
    };
    let flag = |name: &str| {
        section
            .get_str(name)
            .and_then(|v| super::apt_sources::string_to_bool(&v))
            .unwrap_or(false)
    };
    Ok(Release {
        origin: get("Origin"),
        label: get("Label"),
        suite: get("Suite"),
        codename: get("Codename"),
        version: get("Version"),
        not_automatic: flag("NotAutomatic"),
        but_automatic_upgrades: flag("ButAutomaticUpgrades"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELEASE: &str = "Origin: Debian\nLabel: Debian-Security\nSuite: oldstable-security\nCodename: bookworm-security\nVersion: 12\nDate: Mon, 01 Dec 2026 10:00:00 UTC\nComponents: updates/main\nSHA256:\n 0123 42 main/binary-amd64/Packages\n";

    #[test]
    fn plain_release() {
        let r = parse(RELEASE.as_bytes()).unwrap();
        assert_eq!(r.origin.as_deref(), Some("Debian"));
        assert_eq!(r.suite.as_deref(), Some("oldstable-security"));
        assert_eq!(r.codename.as_deref(), Some("bookworm-security"));
        assert!(!r.not_automatic);
    }

    #[test]
    fn clear_signed_release_with_dash_escapes() {
        let signed = format!(
            "{BEGIN_SIGNED}\nHash: SHA512\n\n{}- Label: escaped\nNotAutomatic: yes\nButAutomaticUpgrades: yes\n{BEGIN_SIGNATURE}\n\niQIzBAEBCgAdFiEE\n{END_SIGNATURE}\n",
            RELEASE.replace("Label: Debian-Security\n", "")
        );
        let r = parse(signed.as_bytes()).unwrap();
        assert_eq!(r.label.as_deref(), Some("escaped"));
        assert!(r.not_automatic && r.but_automatic_upgrades);
        assert_eq!(r.version.as_deref(), Some("12"));
    }

    #[test]
    fn broken_clear_signed_files_are_refused() {
        let truncated = format!("{BEGIN_SIGNED}\nHash: SHA512\n\nOrigin: Debian\n");
        assert!(parse(truncated.as_bytes()).is_err());
        let unclosed = format!("{BEGIN_SIGNED}\n\nOrigin: Debian\n{BEGIN_SIGNATURE}\nabc\n");
        assert!(parse(unclosed.as_bytes()).is_err());
        let trailing = format!(
            "{BEGIN_SIGNED}\n\nOrigin: Debian\n{BEGIN_SIGNATURE}\nabc\n{END_SIGNATURE}\nOrigin: Evil\n"
        );
        assert!(parse(trailing.as_bytes()).is_err());
        let late = format!("Origin: Debian\n{BEGIN_SIGNED}\n");
        assert!(parse(late.as_bytes()).is_err());
        assert!(parse(b"").is_err());
    }
}
