//! System settings: core dumps, and logs that survive a reboot.

use super::{sys, Check, Ctx, Rule, Severity, Status};
use crate::collect::max;
use crate::parse::keyfile;
use std::io;

const CORE_DUMPS: Rule = Rule {
    id: "system.core_dumps",
    title: "Programs that crash leave no core dump (memory image) on disk",
    severity: Severity::Low,
    reference: "CIS Debian Linux 12 Benchmark: Ensure core dumps are restricted",
};

const LOGS: Rule = Rule {
    id: "logs.persistent",
    title: "System logs are kept across reboots",
    severity: Severity::Medium,
    reference: "CIS Debian Linux 12 Benchmark: Ensure journald Storage is configured",
};

/// Syslog daemons that write logs to /var/log, by package and unit.
pub(super) const SYSLOG_PACKAGES: [&str; 2] = ["rsyslog", "syslog-ng-core"];
const SYSLOG_UNITS: [&str; 2] = ["rsyslog.service", "syslog-ng.service"];

/// Where systemd looks for its own configuration files, most important first.
const SYSTEMD_DIRS: [&str; 5] = [
    "/etc/systemd",
    "/run/systemd",
    "/usr/local/lib/systemd",
    "/usr/lib/systemd",
    "/lib/systemd",
];

/// The files of a systemd configuration (`journald.conf`) in the order systemd reads them:
/// the main file (the first that exists), then the `*.conf` drop-ins of every
/// `journald.conf.d` directory sorted by file name, a name in /etc hiding the same name
/// further down.
fn systemd_conf_files(ctx: &Ctx, name: &str) -> Vec<String> {
    let mut files: Vec<String> = SYSTEMD_DIRS
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| sys::host_path(ctx.root, p).symlink_metadata().is_ok())
        .into_iter()
        .collect();
    files.extend(sys::dropins(
        ctx.root,
        SYSTEMD_DIRS.iter().map(|d| format!("{d}/{name}.d")),
    ));
    files
}

/// The value a systemd configuration ends with for `key` in `section`, with the file that
/// set it, and the files that could not be read.
struct Setting {
    value: Option<(String, String)>,
    unread: Vec<String>,
}

fn systemd_setting(ctx: &Ctx, name: &str, section: &str, key: &str) -> Setting {
    let mut s = Setting {
        value: None,
        unread: Vec::new(),
    };
    for f in systemd_conf_files(ctx, name) {
        match sys::read_config(ctx.root, &f) {
            Ok(text) => {
                if let Some(v) = keyfile::ini_get(&keyfile::ini(&text), section, key) {
                    s.value = Some((v.to_string(), f));
                }
            }
            Err(e) => s.unread.push(format!("{f} {}", sys::why(&e))),
        }
    }
    s
}

/// The last `* hard core N` (or `* - core N`) of pam_limits' files: limits.conf first,
/// then limits.d, a later line replacing an earlier one.
fn hard_core_limit(ctx: &Ctx) -> (Option<(String, String)>, Vec<String>) {
    let mut files = vec!["/etc/security/limits.conf".to_string()];
    files.extend(sys::glob(ctx.root, "/etc/security/limits.d/*.conf"));
    let (mut found, mut unread) = (None, Vec::new());
    for f in files {
        match ctx.root.read_up_to(&f, max::CONFIG) {
            Ok(text) => {
                for line in text.lines() {
                    let line = line.split('#').next().unwrap_or("");
                    let w: Vec<&str> = line.split_whitespace().collect();
                    if let ["*", "hard" | "-", "core", value] = w.as_slice() {
                        found = Some((value.to_string(), f.clone()));
                    }
                }
            }
            // limits.conf is absent when libpam-modules is: nothing limits then.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => unread.push(format!("{f} {}", sys::why(&e))),
        }
    }
    (found, unread)
}

pub(super) fn core_dumps(ctx: &Ctx) -> Check {
    let (limit, mut unread) = hard_core_limit(ctx);
    if let Some((v, f)) = limit.as_ref().filter(|(v, _)| v == "0") {
        return CORE_DUMPS.check(Status::Pass, format!("* hard core {v} in {f}"));
    }
    let mut shown = vec![match &limit {
        Some((v, f)) => format!("* hard core {v} in {f} (want 0)"),
        None => "no '* hard core 0' in /etc/security/limits.conf or limits.d".to_string(),
    }];
    // systemd-coredump stores nothing with Storage=none, but only dumps piped to it.
    let storage = systemd_setting(ctx, "coredump.conf", "Coredump", "Storage");
    unread.extend(storage.unread);
    let pattern = sys::sysctl(ctx.root, "kernel.core_pattern");
    let piped = pattern
        .as_ref()
        .ok()
        .map(|p| p.contains("systemd-coredump"));
    match &pattern {
        Ok(p) => shown.push(format!(
            "kernel.core_pattern = {}",
            p.split_whitespace().next().unwrap_or("")
        )),
        Err(e) => shown.push(format!("kernel.core_pattern {}", sys::why(e))),
    }
    let none = match &storage.value {
        Some((v, f)) => {
            shown.push(format!("systemd-coredump Storage={v} in {f}"));
            v == "none"
        }
        None => false,
    };
    let status = match (none, piped) {
        (true, Some(true)) => Status::Pass,
        (true, None) => Status::Unknown,
        _ if !unread.is_empty() => Status::Unknown,
        _ => Status::Fail,
    };
    shown.extend(unread);
    CORE_DUMPS.check(status, shown.join("; "))
}

pub(super) fn persistent_logs(ctx: &Ctx) -> Check {
    let storage = systemd_setting(ctx, "journald.conf", "Journal", "Storage");
    let dir = ctx.root.file("/var/log/journal").is_dir();
    let (journal, why) = match &storage.value {
        Some((v, f)) => (Some(v.as_str()), format!("journald Storage={v} in {f}")),
        None => (None, "journald Storage not set (auto)".to_string()),
    };
    // auto (the default) keeps the journal on disk only if /var/log/journal exists;
    // journald ignores a value it does not know and keeps auto.
    let auto = !matches!(journal, Some("persistent" | "volatile" | "none"));
    let kept = journal == Some("persistent") || (auto && dir);
    let mut shown = vec![why];
    if auto {
        if journal.is_some_and(|v| v != "auto") {
            shown.push("not a value journald knows: auto applies".into());
        }
        shown.push(format!(
            "/var/log/journal {}",
            if dir { "exists" } else { "absent" }
        ));
    }
    if kept {
        return LOGS.check(Status::Pass, shown.join(", "));
    }
    // A syslog daemon writing to /var/log keeps the logs instead.
    let syslog = ctx.installed_of(&SYSLOG_PACKAGES).map(|installed| {
        SYSLOG_PACKAGES
            .iter()
            .zip(SYSLOG_UNITS)
            .filter(|(p, u)| installed.contains(p) && ctx.units.is_enabled(u))
            .map(|(p, _)| *p)
            .collect::<Vec<_>>()
    });
    let status = match &syslog {
        Some(on) if !on.is_empty() => {
            shown.push(format!("{} installed and enabled", on.join(", ")));
            Status::Pass
        }
        Some(_) => {
            shown.push("no syslog daemon (rsyslog, syslog-ng) enabled".into());
            if !storage.unread.is_empty() {
                Status::Unknown
            } else {
                Status::Fail
            }
        }
        None => {
            shown.push(format!(
                "syslog daemons unknown ({})",
                ctx.dpkg.as_ref().err().map_or("", |e| e.as_str())
            ));
            Status::Unknown
        }
    };
    shown.extend(storage.unread);
    LOGS.check(status, shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{dpkg, run_check as run, run_check_with_units};
    use super::*;

    const PIPE: (&str, &str) = (
        "/proc/sys/kernel/core_pattern",
        "|/lib/systemd/systemd-coredump %P %u %g %s %t 9223372036854775808 %h\n",
    );

    #[test]
    fn core_dumps_pass_by_limit_or_coredump_storage() {
        let c = run(
            &[("/etc/security/limits.d/99-cis.conf", "*\thard\tcore\t0\n")],
            core_dumps,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert_eq!(
            c.evidence,
            "* hard core 0 in /etc/security/limits.d/99-cis.conf"
        );
        let c = run(
            &[
                PIPE,
                (
                    "/etc/systemd/coredump.conf.d/off.conf",
                    "[Coredump]\nStorage=none\n",
                ),
            ],
            core_dumps,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c
            .evidence
            .contains("Storage=none in /etc/systemd/coredump.conf.d/off.conf"));
    }

    #[test]
    fn core_dumps_fail_cases() {
        // Debian's stock limits.conf has the line commented out.
        let stock = "#*               soft    core            0\n#root            hard    core            100000\n";
        let c = run(&[("/etc/security/limits.conf", stock), PIPE], core_dumps);
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.evidence.starts_with("no '* hard core 0'"),
            "{}",
            c.evidence
        );
        // A soft limit can be raised by the user; a later file can undo an earlier one.
        let c = run(
            &[
                (
                    "/etc/security/limits.conf",
                    "* soft core 0\n* hard core 0\n",
                ),
                ("/etc/security/limits.d/dev.conf", "*  -  core  unlimited\n"),
            ],
            core_dumps,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c
            .evidence
            .contains("* hard core unlimited in /etc/security/limits.d/dev.conf (want 0)"));
        // Storage=none does nothing when the kernel writes core files itself.
        let c = run(
            &[
                ("/proc/sys/kernel/core_pattern", "core\n"),
                ("/etc/systemd/coredump.conf", "[Coredump]\nStorage=none\n"),
            ],
            core_dumps,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        // A later drop-in undoes the main file.
        let c = run(
            &[
                PIPE,
                ("/etc/systemd/coredump.conf", "[Coredump]\nStorage=none\n"),
                (
                    "/usr/lib/systemd/coredump.conf.d/50-x.conf",
                    "[Coredump]\nStorage=external\n",
                ),
            ],
            core_dumps,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
    }

    #[test]
    fn core_dumps_unknown_cases() {
        // Storage=none, but where the kernel sends dumps cannot be read.
        let c = run(
            &[("/etc/systemd/coredump.conf", "[Coredump]\nStorage=none\n")],
            core_dumps,
        );
        assert_eq!(c.status, Status::Unknown, "{}", c.evidence);
        let dir = tempfile::tempdir().unwrap();
        crate::fsutil::testing::mkfifo(&dir.path().join("etc/security/limits.conf"));
        let root = crate::collect::Root::at(dir.path()).with_live(dir.path());
        let c = core_dumps(&Ctx::load(&root));
        assert_eq!(c.status, Status::Unknown, "{}", c.evidence);
        assert!(
            c.evidence.contains("/etc/security/limits.conf is a FIFO"),
            "{}",
            c.evidence
        );
    }

    #[test]
    fn persistent_logs_from_journald() {
        let c = run(
            &[
                ("/etc/systemd/journald.conf", "[Journal]\n#Storage=auto\n"),
                ("/var/log/journal/.keep", ""),
            ],
            persistent_logs,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert_eq!(
            c.evidence,
            "journald Storage not set (auto), /var/log/journal exists"
        );
        let c = run(
            &[(
                "/etc/systemd/journald.conf.d/p.conf",
                "[Journal]\nStorage=persistent\n",
            )],
            persistent_logs,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        let status = dpkg(&[]);
        let c = run(&[("/var/lib/dpkg/status", &status)], persistent_logs);
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(
            c.evidence.contains("/var/log/journal absent"),
            "{}",
            c.evidence
        );
        // Raspberry Pi OS style: volatile journal, later drop-in wins over the main file.
        let c = run(
            &[
                ("/var/lib/dpkg/status", &status),
                ("/var/log/journal/.keep", ""),
                (
                    "/etc/systemd/journald.conf",
                    "[Journal]\nStorage=persistent\n",
                ),
                (
                    "/usr/lib/systemd/journald.conf.d/40-rpi-volatile.conf",
                    "[Journal]\nStorage=volatile\n",
                ),
            ],
            persistent_logs,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c
            .evidence
            .contains("Storage=volatile in /usr/lib/systemd/journald.conf.d/40-rpi-volatile.conf"));
        // ...unless /etc has a drop-in of the same name.
        let c = run(
            &[
                (
                    "/usr/lib/systemd/journald.conf.d/40-rpi-volatile.conf",
                    "[Journal]\nStorage=volatile\n",
                ),
                (
                    "/etc/systemd/journald.conf.d/40-rpi-volatile.conf",
                    "[Journal]\nStorage=persistent\n",
                ),
            ],
            persistent_logs,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
    }

    #[test]
    fn persistent_logs_from_rsyslog_or_unknown() {
        let volatile = (
            "/etc/systemd/journald.conf",
            "[Journal]\nStorage=volatile\n",
        );
        let status = dpkg(&["rsyslog"]);
        let c = run_check_with_units(
            &[volatile, ("/var/lib/dpkg/status", &status)],
            &["rsyslog.service"],
            persistent_logs,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(
            c.evidence.ends_with("rsyslog installed and enabled"),
            "{}",
            c.evidence
        );
        // Installed but disabled does not write anything.
        let c = run(
            &[volatile, ("/var/lib/dpkg/status", &status)],
            persistent_logs,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        // No dpkg database: rsyslog cannot be ruled out.
        let c = run(&[volatile], persistent_logs);
        assert_eq!(c.status, Status::Unknown, "{}", c.evidence);
        // A hostile byte makes the value unknown to journald, which keeps auto.
        let status = dpkg(&[]);
        let hostile = (
            "/etc/systemd/journald.conf",
            "[Journal]\nStorage=\u{FFFD}\n",
        );
        let c = run(
            &[hostile, ("/var/lib/dpkg/status", &status)],
            persistent_logs,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.contains("auto applies"), "{}", c.evidence);
        let c = run(&[hostile, ("/var/log/journal/x", "")], persistent_logs);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
    }
}
