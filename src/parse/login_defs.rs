//! `/etc/login.defs`: `KEY value` lines read by shadow-utils and PAM (`UID_MIN`, `UMASK`,
//! `ENCRYPT_METHOD`, `ENV_SUPATH`...).

/// The value of `key` (case-sensitive, as getdef does), surrounding quotes removed; when a
/// key repeats the last one wins, as shadow-utils overwrites earlier definitions.
pub fn get<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().rev().find_map(|l| {
        let l = l.trim();
        if l.starts_with('#') {
            return None;
        }
        let (k, v) = l.split_once(|c: char| c.is_ascii_whitespace())?;
        (k == key).then(|| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|v| v.split('"').next())
                .unwrap_or(v)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_login_defs() {
        let text = "# UMASK 022\nUMASK\t\t022\nUID_MIN\t\t\t 1000\nENV_SUPATH\tPATH=/usr/local/sbin:/usr/sbin:/sbin\nENCRYPT_METHOD SHA512\nENCRYPT_METHOD \"YESCRYPT\"\nLONE\n";
        assert_eq!(get(text, "UMASK"), Some("022"));
        assert_eq!(get(text, "UID_MIN"), Some("1000"));
        assert_eq!(
            get(text, "ENV_SUPATH"),
            Some("PATH=/usr/local/sbin:/usr/sbin:/sbin")
        );
        assert_eq!(get(text, "ENCRYPT_METHOD"), Some("YESCRYPT"));
        assert_eq!(get(text, "umask"), None);
        assert_eq!(get(text, "LONE"), None);
    }
}
