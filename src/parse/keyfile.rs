//! Key-value configuration files: INI-style keyfiles (display managers, dconf keyfiles,
//! KDE rc files) and shell-style `KEY=value` files (`/etc/ufw/ufw.conf`, `/etc/default/*`).

/// One `key=value` of an INI file, with its section (empty before the first header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub section: &'a str,
    pub key: &'a str,
    pub value: &'a str,
}

/// The entries of an INI file in order; `#` and `;` comment lines are skipped.
pub fn ini(text: &str) -> Vec<Entry<'_>> {
    let mut section = "";
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim();
        } else if let Some((k, v)) = line.split_once('=') {
            out.push(Entry {
                section,
                key: k.trim(),
                value: v.trim(),
            });
        }
    }
    out
}

/// The last value of `key` in `section` (both case-sensitive, as in GLib keyfiles).
pub fn ini_get<'a>(entries: &[Entry<'a>], section: &str, key: &str) -> Option<&'a str> {
    entries
        .iter()
        .rev()
        .find(|e| e.section == section && e.key == key)
        .map(|e| e.value)
}

/// `KEY=value` assignments of a shell-style file, quotes removed; later ones win when read
/// with [`shell_get`].
pub fn shell_vars(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                return None;
            }
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, v) = l.split_once('=')?;
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return None;
            }
            let v = v.trim();
            let v = match v.as_bytes().first() {
                Some(q @ (b'"' | b'\'')) => v[1..].split(*q as char).next().unwrap_or(""),
                _ => v.split_whitespace().next().unwrap_or(""),
            };
            Some((k, v))
        })
        .collect()
}

/// The last value assigned to `key`.
pub fn shell_get<'a>(vars: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    vars.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lightdm_style_ini() {
        let text = "[LightDM]\n#autologin-user=old\n[Seat:*]\ngreeter-session=pi-greeter\nautologin-user = pi\n; comment\n[Seat:*]\nautologin-user=\n";
        let e = ini(text);
        assert_eq!(ini_get(&e, "Seat:*", "greeter-session"), Some("pi-greeter"));
        assert_eq!(ini_get(&e, "Seat:*", "autologin-user"), Some(""));
        assert_eq!(e.iter().filter(|x| x.key == "autologin-user").count(), 2);
        assert_eq!(ini_get(&e, "LightDM", "autologin-user"), None);
    }

    #[test]
    fn shell_style_assignments() {
        let text = "# /etc/ufw/ufw.conf\nENABLED=no\nLOGLEVEL=low\nENABLED=\"yes\"  # set by ufw enable\nexport NODM_USER='kiosk'\nbad-key=1\nX=a b\n";
        let v = shell_vars(text);
        assert_eq!(shell_get(&v, "ENABLED"), Some("yes"));
        assert_eq!(shell_get(&v, "NODM_USER"), Some("kiosk"));
        assert_eq!(shell_get(&v, "bad-key"), None);
        assert_eq!(shell_get(&v, "X"), Some("a"));
    }
}
