//! sudo: a password is asked before privilege escalation, and commands run in their own
//! pseudo-terminal. Read from /etc/sudoers and the files it includes. Evidence names files
//! and counts rules, never the users they are for.

use super::{sys, Check, Ctx, Rule, Severity, Status};
use crate::collect::max;
use crate::parse::debversion;
use crate::parse::sudoers::{self, Include, Sudoers};
use std::cmp::Ordering;
use std::io;

const NOPASSWD: Rule = Rule {
    id: "sudo.nopasswd",
    title: "sudo asks for a password before running a command as root",
    severity: Severity::High,
    reference:
        "CIS Debian Linux 12 Benchmark: Ensure users must provide password for privilege escalation",
};

const USE_PTY: Rule = Rule {
    id: "sudo.use_pty",
    title: "sudo runs commands in a pseudo-terminal",
    severity: Severity::Low,
    reference: "CIS Debian Linux 12 Benchmark: Ensure sudo commands use pty",
};

/// Packages asked about (see `posture::ASKED`).
pub(super) const PACKAGES: [&str; 2] = ["sudo", "sudo-ldap"];

const MAIN: &str = "/etc/sudoers";
/// Include nesting beyond any real configuration (also stops include loops).
const MAX_DEPTH: usize = 8;
/// Files beyond any real configuration: the walk stops there.
const MAX_FILES: usize = 256;
/// The first sudo release that uses a pty unless told otherwise.
const PTY_BY_DEFAULT: &str = "1.9.14";

/// The files read, in sudo's order, and the problems met.
#[derive(Default)]
struct Config {
    files: Vec<(String, Sudoers)>,
    errors: Vec<String>,
}

fn read(ctx: &Ctx) -> Result<Config, String> {
    let text = ctx
        .root
        .read_up_to(MAIN, max::CONFIG)
        .map_err(|e| format!("{MAIN} {}", sys::why(&e)))?;
    let mut c = Config::default();
    walk(ctx, MAIN, &text, 0, &mut c);
    Ok(c)
}

fn walk(ctx: &Ctx, path: &str, text: &str, depth: usize, c: &mut Config) {
    if c.files.len() >= MAX_FILES {
        c.errors
            .push(format!("{path}: more than {MAX_FILES} files; stopped"));
        return;
    }
    let mut parsed = sudoers::parse(text);
    let includes = std::mem::take(&mut parsed.includes);
    c.files.push((path.to_string(), parsed));
    let dir = path.rsplit_once('/').map_or("/", |(d, _)| d);
    let absolute = |p: &str| {
        if p.starts_with('/') {
            p.to_string()
        } else {
            format!("{dir}/{p}")
        }
    };
    for inc in includes {
        let (target, is_dir) = match &inc {
            Include::File(p) => (absolute(p), false),
            Include::Dir(p) => (absolute(p), true),
        };
        if target.contains('%') {
            c.errors
                .push(format!("{path}: include {target} depends on the host name"));
            continue;
        }
        if depth + 1 >= MAX_DEPTH {
            c.errors
                .push(format!("{target}: include nesting too deep (a loop?)"));
            return;
        }
        let files = if is_dir {
            match std::fs::read_dir(ctx.root.file(&target)) {
                // sudo skips a missing include directory.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    c.errors.push(format!("{target} {}", sys::why(&e)));
                    continue;
                }
                Ok(_) => sys::dir_names(&ctx.root.file(&target))
                    .into_iter()
                    .filter(|n| sudoers::included_name(n))
                    .map(|n| format!("{target}/{n}"))
                    .filter(|f| ctx.root.file(f).is_file())
                    .collect(),
            }
        } else {
            vec![target]
        };
        for f in files {
            match ctx.root.read_up_to(&f, max::CONFIG) {
                Ok(t) => walk(ctx, &f, &t, depth + 1, c),
                Err(e) => c.errors.push(format!("{f} {}", sys::why(&e))),
            }
        }
    }
}

/// Why the checks do not apply or cannot be decided, if so.
fn gate(ctx: &Ctx) -> Option<(Status, String)> {
    match ctx.installed_of(&PACKAGES) {
        None => Some((
            Status::Unknown,
            format!(
                "cannot tell whether sudo is installed: {}",
                ctx.dpkg.as_ref().err().map_or("", |e| e)
            ),
        )),
        Some(found) if found.is_empty() => {
            Some((Status::NotApplicable, "sudo is not installed".into()))
        }
        Some(_) => None,
    }
}

pub(super) fn checks(ctx: &Ctx) -> Vec<Check> {
    if let Some((status, why)) = gate(ctx) {
        return vec![NOPASSWD.check(status, &why), USE_PTY.check(status, why)];
    }
    match read(ctx) {
        Ok(c) => vec![nopasswd(&c), use_pty(ctx, &c)],
        Err(why) => vec![
            NOPASSWD.check(Status::Unknown, &why),
            USE_PTY.check(Status::Unknown, why),
        ],
    }
}

fn read_files(c: &Config) -> String {
    match c.files.len() {
        1 => format!("read {MAIN}"),
        n => format!("read {MAIN} + {} included file(s)", n - 1),
    }
}

/// Drop-ins whose names are the distributions' own, and so say nothing of a person.
const KNOWN_DROP_INS: [&str; 3] = [
    "/etc/sudoers.d/010_pi-nopasswd",
    "/etc/sudoers.d/90-cloud-init-users",
    "/etc/sudoers.d/README",
];

/// A file as evidence shows it: admins often name a drop-in after its user, so the
/// files of /etc/sudoers.d are shown by their directory, but for the distributions' own.
fn shown(file: &str) -> &str {
    if file.starts_with("/etc/sudoers.d/") && !KNOWN_DROP_INS.contains(&file) {
        "/etc/sudoers.d"
    } else {
        file
    }
}

fn nopasswd(c: &Config) -> Check {
    let mut found = Vec::new();
    for (f, s) in &c.files {
        let f = shown(f);
        if s.nopasswd_rules > 0 {
            found.push(format!("{f}: {} NOPASSWD rule(s)", s.nopasswd_rules));
        }
        if s.no_authenticate > 0 {
            found.push(format!("{f}: {} Defaults !authenticate", s.no_authenticate));
        }
    }
    if !found.is_empty() {
        return NOPASSWD.check(Status::Fail, found.join("; "));
    }
    if !c.errors.is_empty() {
        return NOPASSWD.check(Status::Unknown, c.errors.join("; "));
    }
    NOPASSWD.check(
        Status::Pass,
        format!("no NOPASSWD rule nor !authenticate ({})", read_files(c)),
    )
}

fn use_pty(ctx: &Ctx, c: &Config) -> Check {
    if !c.errors.is_empty() {
        return USE_PTY.check(Status::Unknown, c.errors.join("; "));
    }
    // The last global setting wins, in reading order.
    let set = c
        .files
        .iter()
        .filter_map(|(f, s)| s.use_pty.map(|v| (shown(f), v)))
        .next_back();
    match set {
        Some((f, true)) => USE_PTY.check(Status::Pass, format!("Defaults use_pty ({f})")),
        Some((f, false)) => USE_PTY.check(Status::Fail, format!("Defaults !use_pty ({f})")),
        // The default changed with the version: only read it when it decides.
        None => match sudo_version(ctx) {
            Some(v) => {
                let by_default = debversion::compare(&v, PTY_BY_DEFAULT) != Ordering::Less;
                USE_PTY.check(
                    super::pass_if(by_default),
                    format!(
                        "use_pty not set ({}); sudo {v} {} a pty by default",
                        read_files(c),
                        if by_default { "uses" } else { "does not use" }
                    ),
                )
            }
            None => USE_PTY.check(
                Status::Unknown,
                format!(
                    "use_pty not set ({}) and the sudo version cannot be read",
                    read_files(c)
                ),
            ),
        },
    }
}

/// The installed sudo's version, from the dpkg database.
fn sudo_version(ctx: &Ctx) -> Option<String> {
    PACKAGES
        .iter()
        .find_map(|p| ctx.version(p))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{dpkg, write};
    use super::*;
    use crate::collect::Root;

    /// Debian 12's /etc/sudoers.
    const DEBIAN: &str = "Defaults\tenv_reset\nDefaults\tmail_badpass\nDefaults\tsecure_path=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"\nDefaults\tuse_pty\nroot\tALL=(ALL:ALL) ALL\n%sudo\tALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n";
    const PI_DROP_IN: &str = "pi ALL=(ALL) NOPASSWD: ALL\n";

    fn status_with(version: &str) -> String {
        dpkg(&["sudo"]).replace("Version: 1", &format!("Version: {version}"))
    }

    fn run_in(dir: &std::path::Path, files: &[(&str, &str)]) -> Vec<Check> {
        write(dir, files);
        checks(&Ctx::load(&Root::at(dir).with_live(dir)))
    }

    fn run(files: &[(&str, &str)]) -> Vec<Check> {
        run_in(tempfile::tempdir().unwrap().path(), files)
    }

    #[test]
    fn debian_defaults_pass_and_the_raspberry_pi_drop_in_fails() {
        let status = status_with("1.9.13p3-1+deb12u1");
        let base = [
            ("/var/lib/dpkg/status", status.as_str()),
            ("/etc/sudoers", DEBIAN),
        ];
        let c = run(&base);
        assert_eq!(c[0].status, Status::Pass, "{}", c[0].evidence);
        assert_eq!(
            c[0].evidence,
            "no NOPASSWD rule nor !authenticate (read /etc/sudoers)"
        );
        assert_eq!(c[1].status, Status::Pass);
        assert_eq!(c[1].evidence, "Defaults use_pty (/etc/sudoers)");
        let mut files = base.to_vec();
        files.push(("/etc/sudoers.d/010_pi-nopasswd", PI_DROP_IN));
        files.push(("/etc/sudoers.d/README", "# nothing\n"));
        files.push(("/etc/sudoers.d/old.dpkg-old", PI_DROP_IN));
        let c = run(&files);
        assert_eq!(c[0].status, Status::Fail);
        assert_eq!(
            c[0].evidence,
            "/etc/sudoers.d/010_pi-nopasswd: 1 NOPASSWD rule(s)"
        );
        assert!(!c[0].evidence.contains("pi ALL"));
        // A drop-in named after its user is shown by its directory.
        files.push((
            "/etc/sudoers.d/marie_dupont",
            "marie ALL=(ALL) NOPASSWD: ALL\n",
        ));
        let c = run(&files);
        assert_eq!(
            c[0].evidence,
            "/etc/sudoers.d/010_pi-nopasswd: 1 NOPASSWD rule(s); /etc/sudoers.d: 1 NOPASSWD rule(s)"
        );
    }

    #[test]
    fn not_authenticate_and_relative_includes() {
        let status = dpkg(&["sudo"]);
        let c = run(&[
            ("/var/lib/dpkg/status", &status),
            ("/etc/sudoers", "@include sudoers.local\n"),
            ("/etc/sudoers.local", "Defaults:kiosk !authenticate\n"),
        ]);
        assert_eq!(c[0].status, Status::Fail);
        assert_eq!(
            c[0].evidence,
            "/etc/sudoers.local: 1 Defaults !authenticate"
        );
    }

    #[test]
    fn use_pty_default_follows_the_version() {
        let unset = DEBIAN.replace("Defaults\tuse_pty\n", "");
        let old = status_with("1.9.13p3-1+deb12u1");
        let c = run(&[("/var/lib/dpkg/status", &old), ("/etc/sudoers", &unset)]);
        assert_eq!(c[1].status, Status::Fail);
        assert_eq!(
            c[1].evidence,
            "use_pty not set (read /etc/sudoers); sudo 1.9.13p3-1+deb12u1 does not use a pty by default"
        );
        let new = status_with("1.9.16p2-1");
        let c = run(&[("/var/lib/dpkg/status", &new), ("/etc/sudoers", &unset)]);
        assert_eq!(c[1].status, Status::Pass, "{}", c[1].evidence);
        // A drop-in read later turns it off.
        let c = run(&[
            ("/var/lib/dpkg/status", &new),
            ("/etc/sudoers", DEBIAN),
            ("/etc/sudoers.d/50-x", "Defaults !use_pty\n"),
        ]);
        assert_eq!(c[1].status, Status::Fail);
        assert_eq!(c[1].evidence, "Defaults !use_pty (/etc/sudoers.d)");
    }

    #[test]
    fn not_installed_unreadable_and_loops() {
        let c = run(&[("/var/lib/dpkg/status", &dpkg(&["bash"]))]);
        assert_eq!(c[0].status, Status::NotApplicable);
        assert_eq!(c[1].evidence, "sudo is not installed");
        assert_eq!(run(&[])[0].status, Status::Unknown);
        let status = dpkg(&["sudo"]);
        let c = run(&[("/var/lib/dpkg/status", &status)]);
        assert_eq!(c[0].status, Status::Unknown);
        assert_eq!(c[0].evidence, "/etc/sudoers absent");
        // An include loop stops with an error; an unreadable drop-in makes it unknown (a
        // FIFO is skipped, as sudo skips what is not a regular file).
        let dir = tempfile::tempdir().unwrap();
        crate::fsutil::testing::mkfifo(&dir.path().join("etc/sudoers.d/fifo"));
        std::fs::File::create(dir.path().join("etc/sudoers.d/huge"))
            .unwrap()
            .set_len(2 << 20)
            .unwrap();
        let c = run_in(
            dir.path(),
            &[
                ("/var/lib/dpkg/status", &status),
                (
                    "/etc/sudoers",
                    "@include /etc/sudoers\n@includedir /etc/sudoers.d\n",
                ),
            ],
        );
        assert_eq!(c[0].status, Status::Unknown);
        assert!(
            c[0].evidence.contains("nesting too deep"),
            "{}",
            c[0].evidence
        );
        assert!(
            c[0].evidence.contains("/etc/sudoers.d/huge is larger than"),
            "{}",
            c[0].evidence
        );
        assert!(!c[0].evidence.contains("fifo"), "{}", c[0].evidence);
        assert_eq!(c[1].status, Status::Unknown);
    }

    /// Removes the temporary drop-in and account however the test ends.
    struct Cleanup {
        drop_in: std::path::PathBuf,
        account: &'static str,
    }

    impl Cleanup {
        fn now(&self) {
            let _ = std::fs::remove_file(&self.drop_in);
            let _ = std::process::Command::new("userdel")
                .arg(self.account)
                .stderr(std::process::Stdio::null())
                .status();
        }
    }

    impl Drop for Cleanup {
        fn drop(&mut self) {
            self.now();
        }
    }

    /// visudo accepts each fixture, and `sudo -l -U` shows NOPASSWD exactly when our check
    /// fails on a tree holding the same drop-in (needs root; skipped otherwise).
    #[test]
    fn agrees_with_sudo_when_root() {
        let tools = ["/usr/bin/sudo", "/usr/sbin/visudo", "/etc/sudoers"];
        if unsafe { libc::geteuid() } != 0
            || !tools.iter().all(|t| std::path::Path::new(t).exists())
        {
            eprintln!("not root or sudo not installed: comparison with sudo skipped");
            return;
        }
        const ACCOUNT: &str = "grappe-sudo-t";
        let cleanup = Cleanup {
            drop_in: "/etc/sudoers.d/zz_grappe_test".into(),
            account: ACCOUNT,
        };
        // Leftovers of a run that was killed before its cleanup.
        cleanup.now();
        let made = std::process::Command::new("useradd")
            .args(["-r", "-M", "-s", "/usr/sbin/nologin", ACCOUNT])
            .status()
            .is_ok_and(|s| s.success());
        assert!(made, "useradd {ACCOUNT}");
        let fixtures = [
            format!("{ACCOUNT} ALL=(ALL) NOPASSWD: ALL\n"),
            format!("{ACCOUNT} ALL=(ALL) ALL\n"),
            format!("{ACCOUNT} ALL = (root) PASSWD: /bin/ls, \\\n  NOPASSWD:/usr/bin/id\n"),
            format!("# {ACCOUNT} ALL=(ALL) NOPASSWD: ALL\n{ACCOUNT} ALL=(ALL) /bin/true\n"),
            format!("Cmnd_Alias NOPASSWDX = /bin/true\n{ACCOUNT} ALL=(ALL) NOPASSWDX\n"),
        ];
        let status = dpkg(&["sudo"]);
        for fixture in &fixtures {
            let tmp = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(tmp.path(), fixture).unwrap();
            let valid = std::process::Command::new("/usr/sbin/visudo")
                .args(["-c", "-q", "-f"])
                .arg(tmp.path())
                .status()
                .unwrap();
            assert!(valid.success(), "visudo rejects {fixture:?}");
            std::fs::write(&cleanup.drop_in, fixture).unwrap();
            std::fs::set_permissions(
                &cleanup.drop_in,
                std::os::unix::fs::PermissionsExt::from_mode(0o440),
            )
            .unwrap();
            let out = std::process::Command::new("/usr/bin/sudo")
                .args(["-n", "-l", "-U", ACCOUNT])
                .output()
                .unwrap();
            let listed = String::from_utf8_lossy(&out.stdout);
            let theirs = listed.contains("NOPASSWD:");
            let ours = run(&[
                ("/var/lib/dpkg/status", &status),
                ("/etc/sudoers", DEBIAN),
                ("/etc/sudoers.d/zz_grappe_test", fixture),
            ]);
            assert_eq!(
                ours[0].status == Status::Fail,
                theirs,
                "{fixture:?}: sudo -l says {listed:?}; we say {}",
                ours[0].evidence
            );
        }
        drop(cleanup);
        assert!(!std::path::Path::new("/etc/sudoers.d/zz_grappe_test").exists());
    }
}
