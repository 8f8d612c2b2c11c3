//! `/etc/passwd`, `/etc/shadow` and `/etc/group`: only what posture needs, and never names
//! out of here into reports (the collector counts).

/// One `/etc/passwd` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User<'a> {
    pub name: &'a str,
    /// The second field: `x` when the password is in shadow, empty for no password.
    pub password: &'a str,
    /// `None` when the field is not a number (damaged line).
    pub uid: Option<u32>,
    /// The login shell as written; empty means /bin/sh to login(1).
    pub shell: &'a str,
}

impl User<'_> {
    /// An empty second field: no password at all, whatever /etc/shadow says.
    pub fn has_empty_password(&self) -> bool {
        self.password.is_empty()
    }

    /// Whether the shell lets the account log in (`nologin`, `false` and the like do not).
    pub fn can_log_in(&self) -> bool {
        let base = self.shell.rsplit('/').next().unwrap_or("");
        !matches!(base, "nologin" | "false" | "sync" | "shutdown" | "halt")
    }
}

/// The entries of a passwd file; comments, NIS `+`/`-` lines and short lines are skipped.
pub fn users(text: &str) -> impl Iterator<Item = User<'_>> {
    text.lines().filter_map(|l| {
        if l.starts_with(['#', '+', '-']) {
            return None;
        }
        let mut f = l.split(':');
        let name = f.next().filter(|n| !n.is_empty())?;
        let password = f.next()?;
        let uid = f.next()?.parse().ok();
        let shell = f.nth(3).unwrap_or("").trim();
        Some(User {
            name,
            password,
            uid,
            shell,
        })
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

/// How a shadow password field is hashed (crypt(5) prefixes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// No hash: `!`, `*` or `!!` (locked or never set).
    NoPassword,
    /// Empty field.
    Empty,
    Yescrypt,
    GostYescrypt,
    Sha512,
    Sha256,
    Bcrypt,
    Md5,
    /// Traditional DES (13 characters) or BSDi extended DES (`_`, 20 characters).
    Des,
    /// A prefix this list does not know.
    Other,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::NoPassword => "no password (locked)",
            Method::Empty => "empty",
            Method::Yescrypt => "yescrypt",
            Method::GostYescrypt => "gost-yescrypt",
            Method::Sha512 => "SHA-512",
            Method::Sha256 => "SHA-256",
            Method::Bcrypt => "bcrypt",
            Method::Md5 => "MD5",
            Method::Des => "DES",
            Method::Other => "unrecognised",
        }
    }
}

impl Shadow<'_> {
    /// Whether the field holds a password someone can log in with (not locked with `!`
    /// or `*`); an empty field counts: it needs no password at all.
    pub fn is_usable(&self) -> bool {
        !self.hash.starts_with(['!', '*'])
    }

    /// The hashing method. A hash locked with a leading `!` keeps its method: unlocking
    /// the account (`passwd -u`) brings the same hash back.
    pub fn method(&self) -> Method {
        if self.hash.is_empty() {
            return Method::Empty;
        }
        let h = self.hash.trim_start_matches('!');
        let prefixes = [
            ("$y$", Method::Yescrypt),
            ("$gy$", Method::GostYescrypt),
            ("$6$", Method::Sha512),
            ("$5$", Method::Sha256),
            ("$2b$", Method::Bcrypt),
            ("$2y$", Method::Bcrypt),
            ("$2a$", Method::Bcrypt),
            ("$1$", Method::Md5),
        ];
        if let Some((_, m)) = prefixes.iter().find(|(p, _)| h.starts_with(p)) {
            return *m;
        }
        let crypt64 = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
        };
        if (h.len() == 13 && crypt64(h))
            || (h.len() == 20 && h.starts_with('_') && crypt64(&h[1..]))
        {
            Method::Des
        } else if h.is_empty() || h.starts_with('*') || !h.starts_with('$') && h.len() < 13 {
            // `!`, `!!`, `*`, `!*`, `*LK*`: no usable hash behind.
            Method::NoPassword
        } else {
            Method::Other
        }
    }
}

/// The gid of group `name` in a group file.
pub fn group_gid(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.trim().parse().ok()
    })
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
                password: "x",
                uid: Some(0),
                shell: "/bin/sh",
            }
        );
        assert_eq!(u[3].uid, None);
        assert!(u[0].can_log_in() && !u[1].can_log_in());
        assert!(!u[0].has_empty_password());
        // No shell field at all: login(1) runs /bin/sh.
        let short: Vec<_> = users("kiosk::1001:1001\n").collect();
        assert!(short[0].has_empty_password() && short[0].can_log_in());
        assert!(!users("a:x:1:1::/:/bin/false\n")
            .next()
            .unwrap()
            .can_log_in());
    }

    #[test]
    fn hash_methods_and_usable_passwords() {
        let m = |h: &str| Shadow { name: "a", hash: h }.method();
        assert_eq!(m("$y$j9T$abc$def"), Method::Yescrypt);
        assert_eq!(m("$gy$j9T$abc$def"), Method::GostYescrypt);
        assert_eq!(m("$6$salt$hash"), Method::Sha512);
        assert_eq!(m("$5$salt$hash"), Method::Sha256);
        assert_eq!(m("$2b$10$abc"), Method::Bcrypt);
        assert_eq!(m("$1$salt$hash"), Method::Md5);
        assert_eq!(m("!$1$salt$hash"), Method::Md5); // locked, comes back on unlock
        assert_eq!(m("abJnggxhB/yWI"), Method::Des);
        assert_eq!(m("_J9..CCCCXBrJUJV154M"), Method::Des);
        assert_eq!(m(""), Method::Empty);
        for locked in ["!", "!!", "*", "!*", "*LK*"] {
            assert_eq!(m(locked), Method::NoPassword, "{locked}");
        }
        assert_eq!(m("$7$scrypt"), Method::Other);
        let s = |h: &'static str| Shadow { name: "a", hash: h };
        assert!(s("$6$x$y").is_usable() && s("").is_usable());
        assert!(!s("!$6$x$y").is_usable() && !s("*").is_usable());
    }

    #[test]
    fn group_ids_by_name() {
        let g = "root:x:0:\nshadow:x:42:\nssh_keys:x:998:\nbad:x:zz:\n";
        assert_eq!(group_gid(g, "shadow"), Some(42));
        assert_eq!(group_gid(g, "ssh_keys"), Some(998));
        assert_eq!(group_gid(g, "bad"), None);
        assert_eq!(group_gid(g, "sha"), None);
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
