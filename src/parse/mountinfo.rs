//! `/proc/<pid>/mountinfo`: the mount table as one process sees it.
//!
//! Format (proc(5)): `id parent major:minor root mount-point options [optional...] - fstype
//! source super-options`. Paths escape space, tab, newline and backslash as `\ooo` octal.

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub major: u32,
    pub minor: u32,
    /// Root of the mount within its filesystem (`/` unless a bind mount of a subdirectory).
    pub root: String,
    pub mount_point: String,
    /// Per-mount options (`rw,nosuid,nodev,...`).
    pub options: String,
    pub fs_type: String,
    pub source: String,
}

impl Mount {
    /// Whether the per-mount options include `opt` exactly.
    pub fn has_option(&self, opt: &str) -> bool {
        self.options.split(',').any(|o| o == opt)
    }
}

/// Decodes the `\ooo` octal escapes the kernel uses in mountinfo paths.
pub fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..=i + 3].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses every well-formed line; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Mount> {
    let (head, tail) = line.split_once(" - ")?;
    let mut h = head.split(' ');
    let _id = h.next()?;
    let _parent = h.next()?;
    let (major, minor) = h.next()?.split_once(':')?;
    let root = unescape(h.next()?);
    let mount_point = unescape(h.next()?);
    let options = h.next()?.to_string();
    let mut t = tail.split(' ');
    let fs_type = t.next()?.to_string();
    let source = unescape(t.next().unwrap_or(""));
    Some(Mount {
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
        root,
        mount_point,
        options,
        fs_type,
        source,
    })
}

/// The mount that is visible at `path`: the last one mounted there (later mounts hide
/// earlier ones).
pub fn visible<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    mounts.iter().rev().find(|m| m.mount_point == path)
}

/// The visible mount holding the absolute `path`: the one with the longest mount point
/// that is `path` or one of its parent directories.
pub fn containing<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    let under = |mp: &str| {
        mp == "/"
            || path == mp
            || path
                .strip_prefix(mp)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    // max_by_key keeps the last of equals: the later mount, which hides the earlier.
    mounts
        .iter()
        .filter(|m| under(&m.mount_point))
        .max_by_key(|m| m.mount_point.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/mapper/vg-root rw,errors=remount-ro
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
41 22 0:38 / /tmp rw,nosuid,nodev shared:20 - tmpfs tmpfs rw,size=1631548k,nr_inodes=409600
90 22 8:17 / /media/Cl\\303\\251\\040USB\\040soins rw,nosuid,nodev,relatime shared:50 - vfat /dev/sdb1 rw,fmask=0022
91 41 0:50 / /tmp rw,nosuid,nodev,noexec - tmpfs tmpfs rw
garbage line
92 22 x:y / /bad rw - ext4 /dev/sda1 rw
";

    #[test]
    fn parses_fields_and_options() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 5);
        assert_eq!((m[0].major, m[0].minor), (254, 1));
        assert_eq!(m[0].source, "/dev/mapper/vg-root");
        assert_eq!(m[2].fs_type, "tmpfs");
        assert!(m[2].has_option("nodev") && !m[2].has_option("noexec"));
        assert!(!m[2].has_option("no")); // whole options only
    }

    #[test]
    fn escaped_spaces_and_utf8_in_mount_points() {
        let m = parse(SAMPLE);
        assert_eq!(m[3].mount_point, "/media/Clé USB soins");
        assert_eq!(unescape("a\\011b\\134c\\012"), "a\tb\\c\n");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
        assert_eq!(unescape("\\777"), "\\777"); // not a byte: kept as is
    }

    #[test]
    fn last_mount_on_a_path_is_the_visible_one() {
        let m = parse(SAMPLE);
        assert!(visible(&m, "/tmp").unwrap().has_option("noexec"));
        assert_eq!(visible(&m, "/").unwrap().major, 254);
        assert!(visible(&m, "/home").is_none());
    }

    #[test]
    fn containing_is_the_deepest_visible_mount() {
        let m = parse(SAMPLE);
        assert_eq!(containing(&m, "/swapfile").unwrap().mount_point, "/");
        let tmp = containing(&m, "/tmp/x/y").unwrap();
        assert!(
            tmp.has_option("noexec"),
            "the later /tmp mount hides the first"
        );
        assert_eq!(containing(&m, "/tmp").unwrap().mount_point, "/tmp");
        assert_eq!(containing(&m, "/tmpx").unwrap().mount_point, "/");
        assert!(containing(&[], "/swapfile").is_none());
    }
}
