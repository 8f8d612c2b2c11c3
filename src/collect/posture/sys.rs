//! Reading helpers shared by the posture checks (and `apt_periodic`): globbing on-disk
//! files, systemd unit enablement, sysctls. All read through [`Root`], never spawn.

use crate::collect::Root;
use std::borrow::Cow;
use std::collections::HashSet;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Names in a directory, sorted bytewise (as glob(3) and apt order them in the C locale);
/// empty when the directory cannot be read.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Shell-style wildcard match of one path component: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`.
/// A leading dot must be matched explicitly, as in glob(3).
pub fn wildmatch(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    fn m(p: &[u8], n: &[u8]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some(b'*') => (0..=n.len()).any(|i| m(&p[1..], &n[i..])),
            Some(b'?') => !n.is_empty() && m(&p[1..], &n[1..]),
            Some(b'[') => {
                let Some(close) = p.iter().skip(2).position(|&c| c == b']').map(|i| i + 2) else {
                    return n.first() == Some(&b'[') && m(&p[1..], &n[1..]);
                };
                let Some(&c) = n.first() else { return false };
                let (neg, set) = match p[1] {
                    b'!' | b'^' => (true, &p[2..close]),
                    _ => (false, &p[1..close]),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == b'-' {
                        hit |= (set[i]..=set[i + 2]).contains(&c);
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != neg && m(&p[close + 1..], &n[1..])
            }
            Some(&c) => n.first() == Some(&c) && m(&p[1..], &n[1..]),
        }
    }
    m(pattern.as_bytes(), name.as_bytes())
}

/// Expands an absolute glob pattern over the on-disk files of `root`, component by
/// component; returns absolute target paths (as the target system names them), sorted.
/// A pattern without wildcards is returned as is if the file exists.
pub fn glob(root: &Root, pattern: &str) -> Vec<String> {
    let mut found = vec![String::new()];
    for comp in pattern.split('/').filter(|c| !c.is_empty()) {
        let wild = comp.contains(['*', '?', '[']);
        let mut next = Vec::new();
        for base in &found {
            if wild {
                for name in dir_names(&root.file(if base.is_empty() { "/" } else { base })) {
                    if wildmatch(comp, &name) {
                        next.push(format!("{base}/{name}"));
                    }
                }
            } else {
                next.push(format!("{base}/{comp}"));
            }
        }
        found = next;
    }
    found.retain(|p| !p.is_empty() && root.file(p).exists());
    found
}

/// Whether a systemd unit will start at boot, from the unit files on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitState {
    /// Linked into a `.wants`/`.requires` directory (by `systemctl enable` or the vendor).
    Enabled,
    /// Linked to /dev/null: cannot start at all.
    Masked,
    Disabled,
}

fn links_to_dev_null(path: &Path) -> bool {
    std::fs::read_link(path).is_ok_and(|t| t == Path::new("/dev/null"))
}

/// The enablement links of a system, read once (one directory listing per `.wants` dir).
#[derive(Debug, Default, Clone)]
pub struct Units {
    enabled: HashSet<String>,
    masked: HashSet<String>,
}

/// Where systemd unit files live, most important first.
pub(crate) const UNIT_DIRS: [&str; 3] = [
    "/etc/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

impl Units {
    pub fn load(root: &Root) -> Units {
        let mut u = Units::default();
        // On merged-/usr systems (Debian 12, Ubuntu, Raspberry Pi OS) /lib is /usr/lib:
        // list each directory once.
        let mut seen = HashSet::new();
        for dir in UNIT_DIRS {
            let base = root.file(dir);
            let identity = std::fs::metadata(&base).map(|m| (m.dev(), m.ino()));
            if identity.is_ok_and(|id| !seen.insert(id)) {
                continue;
            }
            for name in dir_names(&base) {
                let path = base.join(&name);
                if name.ends_with(".wants") || name.ends_with(".requires") {
                    u.enabled.extend(dir_names(&path));
                } else if dir == UNIT_DIRS[0] && links_to_dev_null(&path) {
                    u.masked.insert(name);
                }
            }
        }
        u
    }

    pub fn state(&self, unit: &str) -> UnitState {
        if self.masked.contains(unit) {
            UnitState::Masked
        } else if self.enabled.contains(unit) {
            UnitState::Enabled
        } else {
            UnitState::Disabled
        }
    }

    pub fn is_enabled(&self, unit: &str) -> bool {
        self.state(unit) == UnitState::Enabled
    }
}

/// The host path of a target path: /run is live state, the rest is on disk.
pub fn host_path(root: &Root, path: &str) -> PathBuf {
    if path.starts_with("/run/") {
        root.live(path)
    } else {
        root.file(path)
    }
}

/// Reads a configuration file (see [`host_path`]).
pub fn read_config(root: &Root, path: &str) -> io::Result<String> {
    crate::fsutil::read_text_bounded(&host_path(root, path), crate::collect::max::CONFIG)
}

/// The `*.conf` files of drop-in directories given most important first, sorted by file
/// name: a name in an earlier directory hides the same name in later ones (systemd's
/// `*.conf.d`, modprobe.d).
pub fn dropins(root: &Root, dirs: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut found: Vec<(String, String)> = Vec::new();
    for dir in dirs {
        for name in dir_names(&host_path(root, &dir)) {
            if name.ends_with(".conf") && !found.iter().any(|(n, _)| *n == name) {
                let path = format!("{dir}/{name}");
                found.push((name, path));
            }
        }
    }
    found.sort();
    found.into_iter().map(|(_, path)| path).collect()
}

/// The system's os-release (`/etc/os-release`, else `/usr/lib/os-release`), if readable.
pub fn os_release(root: &Root) -> Option<crate::parse::os_release::OsRelease> {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| root.read_up_to(p, crate::collect::max::OS_RELEASE).ok())
        .map(|t| crate::parse::os_release::parse(&t))
}

/// Reads a live sysctl (`kernel.randomize_va_space` → `/proc/sys/kernel/randomize_va_space`).
pub fn sysctl(root: &Root, key: &str) -> io::Result<String> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    root.read_live(&path).map(|s| s.trim().to_string())
}

/// Whether IPv6 is switched off by sysctl on every interface, present and future
/// (`net.ipv6.conf.{all,default}.disable_ipv6 = 1`, as ANSSI R13 has it done).
pub fn ipv6_disabled_by_sysctl(root: &Root) -> bool {
    [
        "net.ipv6.conf.all.disable_ipv6",
        "net.ipv6.conf.default.disable_ipv6",
    ]
    .iter()
    .all(|k| sysctl(root, k).is_ok_and(|v| v == "1"))
}

/// Short, stable wording of an I/O error for evidence. The safe reader's own refusals
/// (`is a FIFO, not a regular file`, `is larger than N bytes; ...`) say what to fix, so they
/// are kept; system errors are summed up.
pub fn why(e: &io::Error) -> Cow<'static, str> {
    match e.kind() {
        io::ErrorKind::NotFound => "absent".into(),
        io::ErrorKind::PermissionDenied => "not readable (permission denied)".into(),
        _ if e.raw_os_error().is_none() && e.get_ref().is_some() => e.to_string().into(),
        _ => "not readable".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn wildcards_like_glob3() {
        assert!(wildmatch("*.conf", "50-cloud-init.conf"));
        assert!(!wildmatch("*.conf", "50-cloud-init.conf.bak"));
        assert!(!wildmatch("*", ".hidden"));
        assert!(wildmatch(".*", ".hidden"));
        assert!(wildmatch("sshd_config.d?", "sshd_config.dx"));
        assert!(wildmatch("[0-9]*", "10-a"));
        assert!(!wildmatch("[!0-9]*", "10-a"));
        assert!(wildmatch("a[", "a["));
    }

    #[test]
    fn glob_is_sorted_and_rooted() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("etc/ssh/sshd_config.d");
        fs::create_dir_all(&d).unwrap();
        for n in ["50-cloud-init.conf", "10-a.conf", "README", ".x.conf"] {
            fs::write(d.join(n), "").unwrap();
        }
        let root = Root::at(dir.path());
        assert_eq!(
            glob(&root, "/etc/ssh/sshd_config.d/*.conf"),
            [
                "/etc/ssh/sshd_config.d/10-a.conf",
                "/etc/ssh/sshd_config.d/50-cloud-init.conf"
            ]
        );
        assert_eq!(glob(&root, "/etc/*/sshd_config.d/R*").len(), 1);
        assert!(glob(&root, "/etc/ssh/missing").is_empty());
        assert_eq!(glob(&root, "/etc/ssh").len(), 1);
    }

    #[test]
    fn units_enabled_masked_disabled() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc/systemd/system");
        fs::create_dir_all(etc.join("multi-user.target.wants")).unwrap();
        fs::create_dir_all(
            dir.path()
                .join("usr/lib/systemd/system/sysinit.target.wants"),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            "/lib/systemd/system/nftables.service",
            etc.join("multi-user.target.wants/nftables.service"),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            "../systemd-timesyncd.service",
            dir.path()
                .join("usr/lib/systemd/system/sysinit.target.wants/systemd-timesyncd.service"),
        )
        .unwrap();
        std::os::unix::fs::symlink("/dev/null", etc.join("ufw.service")).unwrap();
        let u = Units::load(&Root::at(dir.path()));
        assert_eq!(u.state("nftables.service"), UnitState::Enabled);
        assert_eq!(u.state("systemd-timesyncd.service"), UnitState::Enabled);
        assert_eq!(u.state("ufw.service"), UnitState::Masked);
        assert_eq!(u.state("chrony.service"), UnitState::Disabled);
    }

    #[test]
    fn sysctl_reads_live_state() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("proc/sys/kernel")).unwrap();
        fs::write(dir.path().join("proc/sys/kernel/randomize_va_space"), "2\n").unwrap();
        let root = Root::at("/nonexistent").with_live(dir.path());
        assert_eq!(sysctl(&root, "kernel.randomize_va_space").unwrap(), "2");
        assert_eq!(
            why(&sysctl(&root, "kernel.kptr_restrict").unwrap_err()),
            "absent"
        );
    }
}
