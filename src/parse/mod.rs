//! Pure parsers for the system files the collectors read: text in, data out, no I/O,
//! so each one is unit-tested on real-world samples.

pub mod apt_packages;
pub mod apt_prefs;
pub mod apt_release;
pub mod apt_sources;
pub mod aptconf;
pub mod borgmatic;
pub mod crontab;
pub mod cvd;
pub mod deb822;
pub mod debversion;
pub mod device_tree;
pub mod dmi;
pub mod dpkg;
pub mod keyfile;
pub mod login_defs;
pub mod modprobe;
pub mod mountinfo;
pub mod netfilter;
pub mod os_release;
pub mod pam;
pub mod passwd;
pub mod power_supply;
pub mod procfs;
pub mod sockets;
pub mod sshd;
pub mod sudoers;
pub mod xfconf;

/// Calls `each` with every logical line of `text`: a line ending with `\` continues on the
/// next one, joined with a space, as PAM, sudoers and modprobe.d files are read. A
/// continuation on the last line has nothing to continue with and ends there.
pub fn joined_lines(text: &str, mut each: impl FnMut(&str)) {
    let mut joined = String::new();
    for raw in text.lines() {
        if let Some(part) = raw.strip_suffix('\\') {
            joined.push_str(part);
            joined.push(' ');
            continue;
        }
        joined.push_str(raw);
        each(&joined);
        joined.clear();
    }
    if !joined.is_empty() {
        each(&joined);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn continuations_join_lines() {
        let mut seen = Vec::new();
        super::joined_lines("a \\\n b\nc\nd\\", |l| seen.push(l.to_string()));
        assert_eq!(seen, ["a   b", "c", "d "]);
    }
}
