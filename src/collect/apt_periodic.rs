//! Whether apt installs security updates on its own (unattended-upgrades), shared by the
//! posture and patches reports.
//!
//! apt reads `/etc/apt/apt.conf.d/*` (sorted, names of `[A-Za-z0-9_.-]` with no extension
//! or `.conf`) and then `/etc/apt/apt.conf`; a later value overrides an earlier one.
//! `apt.systemd.daily` then runs the update and the upgrade only when
//! `APT::Periodic::Enable` is not `0` and both `Update-Package-Lists` and
//! `Unattended-Upgrade` are set to a non-zero interval, from `apt-daily.timer` (the lists)
//! and `apt-daily-upgrade.timer` (the upgrade): a timer that is not enabled, not only a
//! masked one, means nothing runs.

use super::posture::sys;
use super::Root;
use crate::parse::aptconf;

/// The answer, with what it was decided from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoUpdates {
    /// `None` when it cannot be told (dpkg database unreadable).
    pub enabled: Option<bool>,
    pub evidence: String,
}

/// The timers that refresh the package lists and run unattended-upgrade.
pub(crate) const TIMERS: [&str; 2] = ["apt-daily.timer", "apt-daily-upgrade.timer"];

/// Reads the dpkg database, the timers and the apt configuration of `root`.
pub fn auto_updates(root: &Root) -> AutoUpdates {
    let mut installed = false;
    let read = super::each_installed(root, |p| installed |= p.name == "unattended-upgrades");
    let installed = read.ok().map(|()| installed);
    auto_updates_with(root, installed, &sys::Units::load(root))
}

/// Like [`auto_updates`], with what the caller already knows: whether unattended-upgrades
/// is installed (`None`: dpkg database unreadable) and the system's units.
pub(crate) fn auto_updates_with(
    root: &Root,
    installed: Option<bool>,
    units: &sys::Units,
) -> AutoUpdates {
    let Some(installed) = installed else {
        return AutoUpdates {
            enabled: None,
            evidence: "/var/lib/dpkg/status not readable: cannot tell whether unattended-upgrades is installed".into(),
        };
    };
    if !installed {
        return AutoUpdates {
            enabled: Some(false),
            evidence: "unattended-upgrades is not installed".into(),
        };
    }
    let (config, notes) = read_config(root);
    let show = |key: &str| match config.get(key) {
        Some((v, src)) => format!("{key} \"{v}\" ({src})"),
        None => format!("{key} unset"),
    };
    let on = |key: &str| config.get(key).is_some_and(|(v, _)| interval_on(v));
    let master_off = config
        .get("APT::Periodic::Enable")
        .is_some_and(|(v, _)| v.trim() == "0");
    let timers_off: Vec<String> = TIMERS
        .iter()
        .filter_map(|t| match units.state(t) {
            sys::UnitState::Enabled => None,
            sys::UnitState::Masked => Some(format!("{t} masked")),
            sys::UnitState::Disabled => Some(format!("{t} not enabled")),
        })
        .collect();
    let enabled = !master_off
        && on("APT::Periodic::Update-Package-Lists")
        && on("APT::Periodic::Unattended-Upgrade")
        && timers_off.is_empty();
    let mut evidence = format!(
        "unattended-upgrades installed; {}; {}",
        show("APT::Periodic::Update-Package-Lists"),
        show("APT::Periodic::Unattended-Upgrade")
    );
    if master_off {
        evidence.push_str("; APT::Periodic::Enable \"0\"");
    }
    if timers_off.is_empty() {
        evidence.push_str(&format!("; {} enabled", TIMERS.join(" and ")));
    } else {
        evidence.push_str(&format!("; {}", timers_off.join(", ")));
    }
    if !notes.is_empty() {
        evidence.push_str(&format!("; note: {}", notes.join(", ")));
    }
    AutoUpdates {
        enabled: Some(enabled),
        evidence,
    }
}

/// A periodic interval that runs: `"1"`, `"7"`, `"always"`, `"1d"`...; `"0"`/empty do not.
fn interval_on(v: &str) -> bool {
    let digits = v.trim().trim_start_matches('0');
    !(digits.is_empty() || digits.starts_with(['d', 'h', 'm', 's']))
}

/// The apt configuration in apt's order, and notes on what was skipped.
pub(crate) fn read_config(root: &Root) -> (aptconf::Config, Vec<String>) {
    let mut config = aptconf::Config::default();
    let mut notes = Vec::new();
    let mut files =
        super::patches::index::apt_dir_files(root, "/etc/apt/apt.conf.d", &["conf"], true);
    files.push("/etc/apt/apt.conf".into());
    for path in files {
        match root.read(&path) {
            Ok(text) => {
                let parsed = aptconf::parse(&text);
                notes.extend(parsed.notes.iter().map(|n| format!("{path}: {n}")));
                let short = path.strip_prefix("/etc/apt/apt.conf.d/").unwrap_or(&path);
                config.apply(&parsed, short);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => notes.push(format!("{path} {}", sys::why(&e))),
        }
    }
    (config, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const STATUS_UU: &str = "Package: unattended-upgrades\nStatus: install ok installed\nArchitecture: all\nVersion: 2.9.1+nmu3\n\n";

    /// A tree of `files` with the apt timers enabled, as Debian installs them.
    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (p, t) in files {
            let path = dir.path().join(p.trim_start_matches('/'));
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, t).unwrap();
        }
        let wants = dir.path().join("etc/systemd/system/timers.target.wants");
        fs::create_dir_all(&wants).unwrap();
        for t in TIMERS {
            std::os::unix::fs::symlink(format!("/lib/systemd/system/{t}"), wants.join(t)).unwrap();
        }
        dir
    }

    #[test]
    fn enabled_by_20auto_upgrades() {
        let d = tree(&[
            ("/var/lib/dpkg/status", STATUS_UU),
            (
                "/etc/apt/apt.conf.d/20auto-upgrades",
                "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n",
            ),
        ]);
        let a = auto_updates(&Root::at(d.path()));
        assert_eq!(a.enabled, Some(true), "{}", a.evidence);
        assert!(a.evidence.contains("(20auto-upgrades)"));
        assert!(a
            .evidence
            .ends_with("apt-daily.timer and apt-daily-upgrade.timer enabled"));
    }

    /// The auditor's tree: configured, but the timers that would run it are not enabled
    /// (only masking was looked for), or one is masked.
    #[test]
    fn timers_not_enabled_or_masked_run_nothing() {
        let d = tree(&[
            ("/var/lib/dpkg/status", STATUS_UU),
            (
                "/etc/apt/apt.conf.d/20auto-upgrades",
                "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n",
            ),
        ]);
        let wants = d.path().join("etc/systemd/system/timers.target.wants");
        fs::remove_file(wants.join("apt-daily-upgrade.timer")).unwrap();
        let a = auto_updates(&Root::at(d.path()));
        assert_eq!(a.enabled, Some(false), "{}", a.evidence);
        assert!(
            a.evidence.ends_with("apt-daily-upgrade.timer not enabled"),
            "{}",
            a.evidence
        );
        std::os::unix::fs::symlink(
            "/dev/null",
            d.path().join("etc/systemd/system/apt-daily.timer"),
        )
        .unwrap();
        let a = auto_updates(&Root::at(d.path()));
        assert!(
            a.evidence
                .ends_with("apt-daily.timer masked, apt-daily-upgrade.timer not enabled"),
            "{}",
            a.evidence
        );
    }

    #[test]
    fn later_file_and_apt_conf_override_in_apt_order() {
        let d = tree(&[
            ("/var/lib/dpkg/status", STATUS_UU),
            (
                "/etc/apt/apt.conf.d/20auto-upgrades",
                "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n",
            ),
            // Ignored by apt (extension), so it must not switch updates off.
            ("/etc/apt/apt.conf.d/99off.disabled", "APT::Periodic::Unattended-Upgrade \"0\";"),
        ]);
        assert_eq!(auto_updates(&Root::at(d.path())).enabled, Some(true));
        fs::write(
            d.path().join("etc/apt/apt.conf"),
            "APT { Periodic { Unattended-Upgrade \"0\"; }; };",
        )
        .unwrap();
        let a = auto_updates(&Root::at(d.path()));
        assert_eq!(a.enabled, Some(false));
        assert!(
            a.evidence
                .contains("Unattended-Upgrade \"0\" (/etc/apt/apt.conf)"),
            "{}",
            a.evidence
        );
    }

    #[test]
    fn not_installed_unset_or_unreadable() {
        let d = tree(&[("/var/lib/dpkg/status", "")]);
        assert_eq!(auto_updates(&Root::at(d.path())).enabled, Some(false));
        let d = tree(&[("/var/lib/dpkg/status", STATUS_UU)]);
        let a = auto_updates(&Root::at(d.path()));
        assert_eq!(a.enabled, Some(false));
        assert!(a.evidence.contains("Update-Package-Lists unset"));
        let d = tree(&[]);
        assert_eq!(auto_updates(&Root::at(d.path())).enabled, None);
    }

    #[test]
    fn interval_values_and_file_names() {
        assert!(interval_on("1") && interval_on("always") && interval_on("7"));
        assert!(!interval_on("0") && !interval_on("") && !interval_on("00"));
        let d = tree(&[
            ("/etc/apt/apt.conf.d/20auto-upgrades", ""),
            ("/etc/apt/apt.conf.d/local.conf", ""),
            ("/etc/apt/apt.conf.d/50unattended-upgrades.dpkg-old", ""),
            ("/etc/apt/apt.conf.d/.hidden", ""),
            ("/etc/apt/apt.conf.d/a b", ""),
        ]);
        let root = Root::at(d.path());
        let read = super::super::patches::index::apt_dir_files(
            &root,
            "/etc/apt/apt.conf.d",
            &["conf"],
            true,
        );
        assert_eq!(
            read,
            [
                "/etc/apt/apt.conf.d/20auto-upgrades",
                "/etc/apt/apt.conf.d/local.conf"
            ]
        );
    }
}
