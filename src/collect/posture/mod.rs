//! Security posture: a fixed list of checks, each decided from files and live kernel state
//! only (the service is unprivileged apart from CAP_DAC_READ_SEARCH and never spawns a
//! process). A check that cannot be decided says `unknown` and why; none guesses.
//!
//! Each check names the rule it comes from: ANSSI "Recommandations de configuration d'un
//! système GNU/Linux" (BP-028 v2.0, rules R1..R80) or, where ANSSI has no rule, the CIS
//! Debian Linux 12 Benchmark recommendation by its title.
//!
//! The score (0..=100) is the severity-weighted share of passed checks among those that
//! apply ([`SCORING`] says it in the report itself). `unknown` weighs as not passed: a check
//! that cannot be decided must never raise the score (left out, as it once was, it made a
//! weak device's score go up when a failing check turned unknown).
//!
//! The [`baseline`] groups checks into the items of the sector's own security baseline.

mod accounts;
mod antivirus;
mod backup;
pub mod baseline;
mod boot;
mod kernel;
mod network;
mod pam;
mod schedule;
mod services;
mod session;
mod ssh;
mod storage;
mod sudo;
pub(crate) mod sys;
mod system;

use super::Root;
use crate::parse::{mountinfo, sockets};
pub use crate::wire::posture::*;
use std::collections::HashMap;

impl Severity {
    /// Weight in the score.
    pub fn weight(self) -> u32 {
        match self {
            Severity::Low => 1,
            Severity::Medium => 3,
            Severity::High => 6,
            Severity::Critical => 10,
        }
    }
}

/// The fixed part of a check: what it is and where it comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    pub reference: &'static str,
}

impl Rule {
    pub fn check(&self, status: Status, evidence: impl Into<String>) -> Check {
        Check {
            id: self.id.into(),
            title: self.title.into(),
            status,
            severity: self.severity,
            evidence: evidence.into(),
            reference: self.reference.into(),
            host_state: false,
        }
    }
}

/// Pass when `ok`, fail otherwise.
pub(crate) fn pass_if(ok: bool) -> Status {
    if ok {
        Status::Pass
    } else {
        Status::Fail
    }
}

/// Every package a check asks about. Only these are looked for in the dpkg database, so
/// that a system with 200,000 packages costs the checks no more than one with 500.
const ASKED: [&[&str]; 10] = [
    &accounts::PACKAGES,
    &antivirus::PACKAGES,
    &backup::PACKAGES,
    &sudo::PACKAGES,
    &network::LEGACY_PACKAGES,
    &session::DISPLAY_MANAGERS,
    &session::GRAPHICAL,
    &session::LOCKERS,
    &system::SYSLOG_PACKAGES,
    &["unattended-upgrades", "openssh-server", "gnome-shell"],
];

/// The [`ASKED`] name equal to `pkg`, if it is one.
fn asked(pkg: &str) -> Option<&'static str> {
    ASKED.iter().copied().flatten().copied().find(|n| *n == pkg)
}

fn is_asked(pkg: &str) -> bool {
    asked(pkg).is_some()
}

/// What several checks need, read once per collection.
pub(crate) struct Ctx<'a> {
    pub root: &'a Root,
    /// The [`ASKED`] packages that are installed, with their versions, or why the dpkg
    /// database could not be read.
    pub dpkg: Result<HashMap<&'static str, String>, String>,
    pub units: sys::Units,
    /// Sockets of /proc/net/{tcp,tcp6,udp,udp6}, or why none could be read.
    pub sockets: Result<Vec<sockets::Socket>, String>,
    /// The host's mount table and the file it came from.
    pub mounts: Result<(Vec<mountinfo::Mount>, &'static str), String>,
    /// What runs on a schedule, read on first use (see [`schedule::scheduled_jobs`]).
    jobs: std::cell::OnceCell<Vec<schedule::Job>>,
}

impl<'a> Ctx<'a> {
    pub fn load(root: &'a Root) -> Ctx<'a> {
        let mut found = HashMap::new();
        let dpkg = super::each_installed(root, |p| {
            if let Some(name) = asked(p.name) {
                found.insert(name, p.version.to_string());
            }
        })
        .map(|()| found)
        .map_err(|e| format!("{} {}", super::DPKG_STATUS, sys::why(&e)));
        Ctx {
            root,
            dpkg,
            units: sys::Units::load(root),
            sockets: read_sockets(root),
            mounts: read_mounts(root),
            jobs: std::cell::OnceCell::new(),
        }
    }

    /// The installed version of a package; `None` when it is not installed or the dpkg
    /// database is unreadable.
    pub fn version(&self, pkg: &str) -> Option<&str> {
        debug_assert!(is_asked(pkg), "{pkg}: add it to posture::ASKED");
        self.dpkg.as_ref().ok()?.get(pkg).map(String::as_str)
    }

    /// Whether a package is installed; `None` when the dpkg database is unreadable.
    pub fn installed(&self, pkg: &str) -> Option<bool> {
        debug_assert!(is_asked(pkg), "{pkg}: add it to posture::ASKED");
        self.dpkg.as_ref().ok().map(|names| names.contains_key(pkg))
    }

    /// The packages of `pkgs` that are installed; `None` when dpkg is unreadable.
    pub fn installed_of<'p>(&self, pkgs: &[&'p str]) -> Option<Vec<&'p str>> {
        debug_assert!(
            pkgs.iter().all(|p| is_asked(p)),
            "{pkgs:?}: add them to posture::ASKED"
        );
        let names = self.dpkg.as_ref().ok()?;
        Some(
            pkgs.iter()
                .copied()
                .filter(|p| names.contains_key(*p))
                .collect(),
        )
    }
}

fn read_sockets(root: &Root) -> Result<Vec<sockets::Socket>, String> {
    let files = [
        ("/proc/net/tcp", sockets::Proto::Tcp),
        ("/proc/net/tcp6", sockets::Proto::Tcp),
        ("/proc/net/udp", sockets::Proto::Udp),
        ("/proc/net/udp6", sockets::Proto::Udp),
    ];
    let mut all = Vec::new();
    let mut read_any = false;
    for (path, proto) in files {
        // tcp6/udp6 are absent when IPv6 is disabled: that is not an error.
        if let Ok(text) = root.read_live(path) {
            read_any = true;
            all.extend(sockets::parse(&text, proto));
        }
    }
    if read_any {
        Ok(all)
    } else {
        Err("/proc/net/{tcp,udp}[6] not readable".into())
    }
}

/// PID 1's mount table is the host's (the service's own has a private /tmp); fall back to
/// our own when /proc/1 is hidden (hidepid) and say so.
fn read_mounts(root: &Root) -> Result<(Vec<mountinfo::Mount>, &'static str), String> {
    for path in ["/proc/1/mountinfo", "/proc/self/mountinfo"] {
        if let Ok(text) = root.read_live(path) {
            return Ok((mountinfo::parse(&text), path));
        }
    }
    Err("/proc/1/mountinfo and /proc/self/mountinfo not readable".into())
}

/// Runs every check on `root`.
pub fn collect(root: &Root) -> Posture {
    let ctx = Ctx::load(root);
    let mut checks = Vec::with_capacity(32);
    checks.push(network::firewall(&ctx));
    checks.push(storage::disk_encryption(&ctx));
    checks.extend(ssh::checks(&ctx));
    checks.push(services::auto_updates(&ctx));
    checks.push(services::updates_recent(&ctx));
    checks.push(services::security_origin(&ctx));
    checks.push(services::time_sync(&ctx));
    checks.push(network::listening(&ctx));
    checks.push(network::legacy_services(&ctx));
    checks.extend(accounts::checks(&ctx));
    checks.extend(pam::checks(&ctx));
    checks.extend(sudo::checks(&ctx));
    checks.extend(kernel::checks(&ctx));
    checks.push(services::mac(&ctx));
    checks.push(storage::tmp_options(&ctx));
    checks.push(session::autologin(&ctx));
    checks.push(session::screen_lock(&ctx));
    checks.push(session::console_timeout(&ctx));
    checks.push(services::secure_boot(&ctx));
    checks.push(storage::var_tmp_options(&ctx));
    checks.push(storage::dev_shm_options(&ctx));
    checks.push(storage::home_options(&ctx));
    checks.push(storage::home_encryption(&ctx));
    checks.push(storage::swap_encryption(&ctx));
    checks.push(boot::grub_password(&ctx));
    checks.push(boot::grub_cfg_permissions(&ctx));
    checks.push(boot::usb_storage(&ctx));
    checks.push(system::core_dumps(&ctx));
    checks.push(system::persistent_logs(&ctx));
    checks.push(antivirus::clamav(&ctx));
    checks.push(antivirus::signatures(&ctx));
    checks.push(backup::offsite(&ctx));
    if !root.live_matches_disk() {
        for c in checks.iter_mut().filter(|c| reads_live_state(&c.id)) {
            c.host_state = true;
        }
    }
    Posture {
        score: score(&checks),
        counts: counts(&checks),
        scoring: SCORING.into(),
        baseline: baseline::judge(&checks),
        checks,
    }
}

/// How [`score`] computes, as the report states it.
pub const SCORING: &str = "severity-weighted share of passed checks among the checks that apply (pass, fail, unknown), rounded to 0..100; weights: low 1, medium 3, high 6, critical 10; unknown counts as not passed, so a check that cannot be decided never raises the score; not_applicable is left out; 0 when no check applies";

/// Severity-weighted share of passed checks among those that apply, rounded, 0..=100.
pub fn score(checks: &[Check]) -> u8 {
    let (mut passed, mut applicable) = (0u32, 0u32);
    for c in checks {
        match c.status {
            Status::Pass => {
                passed += c.severity.weight();
                applicable += c.severity.weight();
            }
            Status::Fail | Status::Unknown => applicable += c.severity.weight(),
            Status::NotApplicable => {}
        }
    }
    if applicable == 0 {
        return 0;
    }
    ((passed * 100 + applicable / 2) / applicable).min(100) as u8
}

/// Checks decided (wholly or partly) from live kernel or runtime state rather than from
/// files: under `collect --root` their answer is the running host's.
/// The sysctl checks are all live and are known by [`kernel::is_sysctl`].
const LIVE_CHECKS: [&str; 15] = [
    "kernel.usb_storage",
    "logs.persistent",
    "disk.encryption",
    "disk.home_encryption",
    "disk.swap_encryption",
    "fs.tmp_mount",
    "fs.var_tmp_mount",
    "fs.dev_shm_mount",
    "fs.home_mount",
    "system.core_dumps",
    "network.listening",
    "services.legacy_remote",
    "time.sync",
    "mac.apparmor",
    "boot.secure_boot",
];

fn reads_live_state(id: &str) -> bool {
    LIVE_CHECKS.contains(&id) || kernel::is_sysctl(id)
}

fn counts(checks: &[Check]) -> Counts {
    let mut c = Counts::default();
    for check in checks {
        match check.status {
            Status::Pass => c.pass += 1,
            Status::Fail => c.fail += 1,
            Status::Unknown => c.unknown += 1,
            Status::NotApplicable => c.not_applicable += 1,
        }
    }
    c
}

#[cfg(test)]
pub(crate) mod testutil {
    use std::fs;
    use std::path::Path;

    /// Writes `files` (absolute target paths) under `dir`.
    pub fn write(dir: &Path, files: &[(&str, &str)]) {
        for (p, t) in files {
            let path = dir.join(p.trim_start_matches('/'));
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, t).unwrap();
        }
    }

    /// A dpkg status file listing `pkgs` as installed.
    pub fn dpkg(pkgs: &[&str]) -> String {
        pkgs.iter()
            .map(|p| {
                format!(
                    "Package: {p}\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n\n"
                )
            })
            .collect()
    }

    /// Runs one check on a fake system made of `files` (on-disk and live files in one tree).
    pub fn run_check(
        files: &[(&str, &str)],
        check: fn(&super::Ctx) -> super::Check,
    ) -> super::Check {
        run_check_with_units(files, &[], check)
    }

    /// Like [`run_check`], with these systemd units enabled.
    pub fn run_check_with_units(
        files: &[(&str, &str)],
        units: &[&str],
        check: fn(&super::Ctx) -> super::Check,
    ) -> super::Check {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), files);
        for unit in units {
            enable(dir.path(), unit);
        }
        let root = crate::collect::Root::at(dir.path()).with_live(dir.path());
        check(&super::Ctx::load(&root))
    }

    /// Enables a unit the way `systemctl enable` does (a link in a .wants directory).
    pub fn enable(dir: &Path, unit: &str) {
        let wants = dir.join("etc/systemd/system/multi-user.target.wants");
        fs::create_dir_all(&wants).unwrap();
        std::os::unix::fs::symlink(format!("/lib/systemd/system/{unit}"), wants.join(unit))
            .unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn c(status: Status, severity: Severity) -> Check {
        Rule {
            id: "t",
            title: "t",
            severity,
            reference: "r",
        }
        .check(status, "e")
    }

    #[test]
    fn score_is_weighted_and_unknown_counts_as_not_passed() {
        use Severity::*;
        use Status::*;
        assert_eq!(score(&[]), 0);
        assert_eq!(score(&[c(NotApplicable, Low)]), 0);
        assert_eq!(score(&[c(Unknown, High), c(NotApplicable, Low)]), 0);
        // 1 / (1 + 10) = 9.09 -> 9: an unknown critical check weighs as a failing one.
        assert_eq!(score(&[c(Pass, Low), c(Unknown, Critical)]), 9);
        assert_eq!(score(&[c(Pass, Low), c(NotApplicable, Critical)]), 100);
        assert_eq!(score(&[c(Fail, Critical)]), 0);
        // 6 / (6 + 3 + 10) = 31.6 -> 32
        assert_eq!(
            score(&[c(Pass, High), c(Fail, Medium), c(Unknown, Critical)]),
            32
        );
        assert!(SCORING.contains("unknown counts as not passed"));
        let checks = [
            c(Pass, Low),
            c(Fail, Low),
            c(Unknown, Low),
            c(NotApplicable, Low),
        ];
        assert_eq!(
            counts(&checks),
            Counts {
                pass: 1,
                fail: 1,
                unknown: 1,
                not_applicable: 1
            }
        );
    }

    /// The auditor's case: on a weak device, checks turning unknown (a file that became
    /// unreadable) must never raise the score, whichever checks they are.
    #[test]
    fn a_check_turning_unknown_never_raises_the_score() {
        use Severity::*;
        use Status::*;
        let weak = [
            c(Fail, Critical),
            c(Fail, High),
            c(Pass, Low),
            c(Pass, Medium),
            c(Fail, Medium),
            c(NotApplicable, High),
        ];
        let before = score(&weak);
        for i in 0..weak.len() {
            let mut changed = weak.clone();
            changed[i].status = Unknown;
            assert!(
                score(&changed) <= before,
                "check {i}: {} > {before}",
                score(&changed)
            );
        }
        let mut all_unknown = weak.clone();
        all_unknown.iter_mut().for_each(|c| c.status = Unknown);
        assert_eq!(score(&all_unknown), 0);
    }

    /// The auditor's tree: a Latin-1 byte in a GECOS field, in a comment of an sshd drop-in
    /// and in dpkg's status once hid a second UID 0 account and `PermitRootLogin yes`.
    #[test]
    fn bytes_that_are_not_utf8_hide_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let put = |path: &str, bytes: &[u8]| {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        };
        put(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/bash\nsoignant:x:1000:1000:H\xe9l\xe8ne,,,:/home/soignant:/bin/bash\ntoor:x:0:0::/root:/bin/sh\n",
        );
        put(
            "etc/ssh/sshd_config",
            b"Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication no\n",
        );
        put(
            "etc/ssh/sshd_config.d/10-local.conf",
            b"# acc\xe8s root autoris\xe9 pour la maintenance\nPermitRootLogin yes\n",
        );
        let mut status = testutil::dpkg(&["openssh-server"]).into_bytes();
        status.extend_from_slice(b"Package: fr-notes\nStatus: install ok installed\nVersion: 1\nDescription: notes s\xe9curis\xe9es\n\n");
        put("var/lib/dpkg/status", &status);
        testutil::enable(dir.path(), "ssh.service");
        let p = collect(&Root::at(dir.path()).with_live(dir.path()));
        let get = |id: &str| p.checks.iter().find(|c| c.id == id).unwrap();
        assert_eq!(
            get("accounts.uid0").status,
            Status::Fail,
            "{}",
            get("accounts.uid0").evidence
        );
        let root_login = get("ssh.root_login");
        assert_eq!(root_login.status, Status::Fail, "{}", root_login.evidence);
        assert!(
            root_login
                .evidence
                .contains("PermitRootLogin yes (/etc/ssh/sshd_config.d/10-local.conf)"),
            "{}",
            root_login.evidence
        );
    }

    /// `collect --root IMAGE` reads the image's files but the running host's /proc and
    /// /sys: the checks decided from those say so, the others do not.
    #[test]
    fn live_checks_of_another_root_are_marked_as_the_hosts() {
        let dir = tempfile::tempdir().unwrap();
        testutil::write(
            dir.path(),
            &[("/etc/passwd", "root:x:0:0::/root:/bin/sh\n")],
        );
        let p = collect(&Root::at(dir.path()));
        let marked =
            |p: &Posture, id: &str| p.checks.iter().find(|c| c.id == id).unwrap().host_state;
        for id in [
            "kernel.aslr",
            "mac.apparmor",
            "network.listening",
            "disk.encryption",
        ] {
            assert!(marked(&p, id), "{id}");
        }
        assert!(!marked(&p, "accounts.uid0"));
        let own = collect(&Root::at(dir.path()).with_live(dir.path()));
        assert!(own.checks.iter().all(|c| !c.host_state));
        assert!(collect(&Root::host()).checks.iter().all(|c| !c.host_state));
    }

    /// Files the checks read, as an auditor's hostile tree would plant them.
    const READ: [&str; 44] = [
        "/etc/passwd",
        "/etc/shadow",
        "/etc/group",
        "/etc/gshadow",
        "/etc/login.defs",
        "/etc/os-release",
        "/etc/environment",
        "/etc/profile",
        "/etc/profile.d/z.sh",
        "/etc/bash.bashrc",
        "/etc/pam.d/common-auth",
        "/etc/pam.d/common-password",
        "/etc/pam.d/su",
        "/etc/security/pwquality.conf",
        "/etc/security/limits.conf",
        "/etc/sudoers",
        "/etc/sudoers.d/z",
        "/etc/ssh/sshd_config",
        "/etc/ssh/sshd_config.d/z.conf",
        "/etc/ssh/ssh_host_ed25519_key",
        "/var/lib/dpkg/status",
        "/etc/apt/apt.conf.d/20auto-upgrades",
        "/etc/apt/sources.list",
        "/etc/ufw/ufw.conf",
        "/etc/default/ufw",
        "/etc/ufw/user.rules",
        "/etc/nftables.conf",
        "/etc/iptables/rules.v4",
        "/etc/modprobe.d/z.conf",
        "/boot/grub/grub.cfg",
        "/etc/systemd/journald.conf",
        "/etc/systemd/coredump.conf",
        "/etc/dconf/profile/user",
        "/etc/lightdm/lightdm.conf",
        "/etc/gdm3/daemon.conf",
        "/etc/borgmatic/config.yaml",
        "/etc/restic/z.env",
        "/var/lib/clamav/daily.cvd",
        "/etc/xdg/xfce4/xfconf/xfce-perchannel-xml/xfce4-screensaver.xml",
        "/proc/1/mountinfo",
        "/proc/swaps",
        "/proc/modules",
        "/proc/net/tcp",
        "/proc/sys/kernel/randomize_va_space",
    ];

    /// Runs every check on a tree where each file in [`READ`] is made by `plant`, within a
    /// time limit: no check may hang, panic or leave its evidence empty.
    fn survives(plant: fn(&std::path::Path, &str)) {
        let dir = tempfile::tempdir().unwrap();
        for abs in READ {
            let path = dir.path().join(abs.trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            plant(&path, abs);
        }
        testutil::enable(dir.path(), "ssh.service");
        testutil::enable(dir.path(), "nftables.service");
        let tree = dir.path().to_path_buf();
        let p = crate::fsutil::testing::within(move || collect(&Root::at(&tree).with_live(&tree)));
        for c in &p.checks {
            assert!(!c.evidence.trim().is_empty(), "{}", c.id);
        }
        assert_eq!(score(&p.checks), p.score);
    }

    #[test]
    fn hostile_trees_never_hang_or_crash_a_check() {
        // FIFOs: a reader that opens one blocking would wait forever.
        survives(|p, _| crate::fsutil::testing::mkfifo(p));
        // Huge (sparse) files: refused by size, never read into memory.
        survives(|p, _| {
            std::fs::File::create(p)
                .unwrap()
                .set_len(200 << 20)
                .unwrap()
        });
        // Bytes that are no text at all.
        survives(|p, _| {
            let junk: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
            std::fs::write(p, junk).unwrap()
        });
        // Symlink loops, on files and on the directories globbed for drop-ins.
        survives(|p, _| {
            std::os::unix::fs::symlink(p, p).unwrap();
            let parent = p.parent().unwrap();
            let _ = std::os::unix::fs::symlink(parent, parent.join("loop.conf"));
        });
        // Includes of themselves: sshd_config, sudoers and nftables.conf.
        survives(|p, abs| {
            let dir = abs.rsplit_once('/').unwrap().0;
            std::fs::write(
                p,
                format!("Include {abs}\n@includedir {dir}\n#includedir {dir}\ninclude \"{abs}\"\ninclude \"{dir}/*\"\nPermitRootLogin yes\n"),
            )
            .unwrap()
        });
    }

    #[test]
    fn serialises_in_snake_case() {
        let v = serde_json::to_value(c(Status::NotApplicable, Severity::Critical)).unwrap();
        assert_eq!(v["status"], "not_applicable");
        assert_eq!(v["severity"], "critical");
    }

    /// On this machine: at least 60 checks, unique ids, evidence and references filled in,
    /// a valid score, and counts that add up.
    #[test]
    fn collects_on_this_host() {
        let p = collect(&Root::host());
        assert!(p.checks.len() >= 60, "{}", p.checks.len());
        let ids: HashSet<_> = p.checks.iter().map(|c| &*c.id).collect();
        assert_eq!(ids.len(), p.checks.len(), "duplicate ids");
        for c in &p.checks {
            assert!(!c.evidence.trim().is_empty(), "{} has no evidence", c.id);
            assert!(!c.reference.is_empty() && !c.title.is_empty(), "{}", c.id);
            assert!(c.id.contains('.'), "{}", c.id);
        }
        assert!(p.score <= 100);
        assert_eq!(score(&p.checks), p.score);
        let n = p.counts;
        assert_eq!(
            n.pass + n.fail + n.unknown + n.not_applicable,
            p.checks.len()
        );
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"score\""));
    }

    /// An empty tree decides nothing it cannot see: no panic, and every check explains.
    #[test]
    fn empty_tree_gives_unknowns_not_guesses() {
        let disk = tempfile::tempdir().unwrap();
        let live = tempfile::tempdir().unwrap();
        let p = collect(&Root::at(disk.path()).with_live(live.path()));
        assert!(p.checks.len() >= 20);
        for c in &p.checks {
            assert!(!c.evidence.is_empty(), "{}", c.id);
        }
        let status = |id: &str| p.checks.iter().find(|c| c.id == id).unwrap().status;
        assert_eq!(status("ssh.root_login"), Status::Unknown);
        assert_eq!(status("accounts.empty_password"), Status::Unknown);
        assert_eq!(status("kernel.aslr"), Status::Unknown);
        assert_eq!(status("updates.automatic"), Status::Unknown);
    }
}
