//! `/etc/passwd` and `/etc/shadow`: only what posture needs, and never names out of here
//! into reports (the collector counts).

/// One `/etc/passwd` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User<'a> {
    pub name: &'a str,
    /// `None` when the field is not a number (damaged line).
    pub uid: Option<u32>,
}

/// The entries of a passwd file; comments, NIS `+`/`-` lines and short lines are skipped.
pub fn users(text: &str) -> impl Iterator<Item = User<'_>> {
    text.lines().filter_map(|l| {
        if l.starts_with(['#', '+', '-']) {
            return None;
        }
        let mut f = l.split(':');
        let name = f.next().filter(|n| !n.is_empty())?;
        let _pw = f.next()?;
        let uid = f.next()?.parse().ok();
        Some(User { name, uid })
    })
}

/// One `/etc/shadow` entry: the name and the password field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shadow<'a> {
    pub name: &'a str,
    pub hash: &'a str,
}

impl Shadow<'_> {
    /// An empty password field lets anyone log in without a password (where PAM allows
    /// `nullok`, Debian's default); `!`, `*` or a hash do not.
    pub fn has_empty_password(&self) -> bool {
        self.hash.is_empty()
    }
}

/// The entries of a shadow file.
pub fn shadow(text: &str) -> impl Iterator<Item = Shadow<'_>> {
    text.lines().filter_map(|l| {
        if l.starts_with(['#', '+', '-']) {
            return None;
        }
        let mut f = l.split(':');
        let name = f.next().filter(|n| !n.is_empty())?;
        let hash = f.next()?;
        Some(Shadow { name, hash })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_entries_with_uids() {
        let text = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\ntoor:x:0:0::/root:/bin/sh\n+nisuser::::::\nbroken\nbad:x:abc:0::/:/bin/sh\n";
        let u: Vec<_> = users(text).collect();
        assert_eq!(u.len(), 4);
        assert_eq!(
            u[2],
            User {
                name: "toor",
                uid: Some(0)
            }
        );
        assert_eq!(u[3].uid, None);
    }

    #[test]
    fn shadow_empty_versus_locked_passwords() {
        let text = "root:$y$j9T$abc$def:19700:0:99999:7:::\nkiosk::19700:0:99999:7:::\nsshd:*:19700:0:99999:7:::\nold:!:19700::::::\ntrunc\n";
        let s: Vec<_> = shadow(text).collect();
        assert_eq!(s.len(), 4);
        let empty: Vec<_> = s.iter().filter(|e| e.has_empty_password()).collect();
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0].name, "kiosk");
    }
}
