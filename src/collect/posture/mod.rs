//! Security posture: a fixed list of checks, each decided from files and live kernel state
//! only (the service is unprivileged apart from CAP_DAC_READ_SEARCH and never spawns a
//! process). A check that cannot be decided says `unknown` and why; none guesses.
//!
//! Each check names the rule it comes from: ANSSI "Recommandations de configuration d'un
//! système GNU/Linux" (BP-028 v2.0, rules R1..R80) or, where ANSSI has no rule, the CIS
//! Debian Linux 12 Benchmark recommendation by its title.
//!
//! The score (0..=100) is the severity-weighted share of passed checks among the decided
//! ones (`pass` + `fail`); `unknown` and `not_applicable` are left out. Weights:
//! low 1, medium 3, high 6, critical 10. With no decided check the score is 0.

mod accounts;
mod antivirus;
mod backup;
mod kernel;
mod network;
mod services;
mod session;
mod ssh;
mod storage;
pub(crate) mod sys;

use super::Root;
use crate::parse::{mountinfo, sockets};
pub use crate::wire::posture::*;
use std::collections::HashSet;

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
const ASKED: [&[&str]; 7] = [
    &antivirus::PACKAGES,
    &backup::PACKAGES,
    &network::LEGACY_PACKAGES,
    &session::DISPLAY_MANAGERS,
    &session::GRAPHICAL,
    &session::LOCKERS,
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
    /// Which of the [`ASKED`] packages are installed, or why the dpkg database could not
    /// be read.
    pub dpkg: Result<HashSet<&'static str>, String>,
    pub units: sys::Units,
    /// Sockets of /proc/net/{tcp,tcp6,udp,udp6}, or why none could be read.
    pub sockets: Result<Vec<sockets::Socket>, String>,
    /// The host's mount table and the file it came from.
    pub mounts: Result<(Vec<mountinfo::Mount>, &'static str), String>,
}

impl<'a> Ctx<'a> {
    pub fn load(root: &'a Root) -> Ctx<'a> {
        let mut found = HashSet::new();
        let dpkg = super::each_installed(root, |p| {
            found.extend(asked(p.name));
        })
        .map(|()| found)
        .map_err(|e| format!("{} {}", super::DPKG_STATUS, sys::why(&e)));
        Ctx {
            root,
            dpkg,
            units: sys::Units::load(root),
            sockets: read_sockets(root),
            mounts: read_mounts(root),
        }
    }

    /// Whether a package is installed; `None` when the dpkg database is unreadable.
    pub fn installed(&self, pkg: &str) -> Option<bool> {
        debug_assert!(is_asked(pkg), "{pkg}: add it to posture::ASKED");
        self.dpkg.as_ref().ok().map(|names| names.contains(pkg))
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
                .filter(|p| names.contains(*p))
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
    checks.push(services::time_sync(&ctx));
    checks.push(network::listening(&ctx));
    checks.push(network::legacy_services(&ctx));
    checks.extend(accounts::checks(&ctx));
    checks.extend(kernel::checks(&ctx));
    checks.push(services::mac(&ctx));
    checks.push(storage::tmp_options(&ctx));
    checks.push(session::autologin(&ctx));
    checks.push(session::screen_lock(&ctx));
    checks.push(session::console_timeout(&ctx));
    checks.push(services::secure_boot(&ctx));
    checks.push(antivirus::clamav(&ctx));
    checks.push(antivirus::signatures(&ctx));
    checks.push(backup::offsite(&ctx));
    Posture {
        score: score(&checks),
        counts: counts(&checks),
        checks,
    }
}

/// Severity-weighted share of passed checks among decided ones, rounded, 0..=100.
pub fn score(checks: &[Check]) -> u8 {
    let (mut passed, mut decided) = (0u32, 0u32);
    for c in checks {
        match c.status {
            Status::Pass => {
                passed += c.severity.weight();
                decided += c.severity.weight();
            }
            Status::Fail => decided += c.severity.weight(),
            Status::Unknown | Status::NotApplicable => {}
        }
    }
    if decided == 0 {
        return 0;
    }
    ((passed * 100 + decided / 2) / decided).min(100) as u8
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
    fn score_is_weighted_and_ignores_undecided_checks() {
        use Severity::*;
        use Status::*;
        assert_eq!(score(&[]), 0);
        assert_eq!(score(&[c(Unknown, High), c(NotApplicable, Low)]), 0);
        assert_eq!(score(&[c(Pass, Low), c(Unknown, Critical)]), 100);
        assert_eq!(score(&[c(Fail, Critical)]), 0);
        // 6 / (6 + 3) = 66.7 -> 67
        assert_eq!(
            score(&[c(Pass, High), c(Fail, Medium), c(Unknown, Critical)]),
            67
        );
        // 1 / (1 + 10) = 9.09 -> 9
        assert_eq!(score(&[c(Pass, Low), c(Fail, Critical)]), 9);
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

    #[test]
    fn serialises_in_snake_case() {
        let v = serde_json::to_value(c(Status::NotApplicable, Severity::Critical)).unwrap();
        assert_eq!(v["status"], "not_applicable");
        assert_eq!(v["severity"], "critical");
    }

    /// On this machine: at least 20 checks, unique ids, evidence and references filled in,
    /// a valid score, and counts that add up.
    #[test]
    fn collects_on_this_host() {
        let p = collect(&Root::host());
        assert!(p.checks.len() >= 20, "{}", p.checks.len());
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
