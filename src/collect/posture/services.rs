//! System services and platform: automatic updates, time synchronisation, mandatory access
//! control, UEFI Secure Boot.

use super::{pass_if, sys, Check, Ctx, Rule, Severity, Status};
use crate::collect::{apt_periodic, max};
use std::time::SystemTime;

const UPDATES: Rule = Rule {
    id: "updates.automatic",
    title: "Security updates are installed automatically (unattended-upgrades)",
    severity: Severity::High,
    reference: "ANSSI BP-028 v2.0 R61 (Effectuer des mises à jour régulières)",
};

const RECENT: Rule = Rule {
    id: "updates.recent",
    title: "Automatic updates really ran recently",
    severity: Severity::High,
    reference: "ANSSI BP-028 v2.0 R61 (Effectuer des mises à jour régulières)",
};

const SECURITY_ORIGIN: Rule = Rule {
    id: "updates.security_origin",
    title: "Automatic updates take the security archive",
    severity: Severity::High,
    reference: "ANSSI BP-028 v2.0 R61 (Effectuer des mises à jour régulières)",
};

const TIME: Rule = Rule {
    id: "time.sync",
    title: "The clock is kept synchronised by a single time daemon",
    severity: Severity::Medium,
    reference:
        "CIS Debian Linux 12 Benchmark: Ensure a single time synchronization daemon is in use",
};

const MAC: Rule = Rule {
    id: "mac.apparmor",
    title: "AppArmor (or SELinux) confines programs",
    severity: Severity::Medium,
    reference: "ANSSI BP-028 v2.0 R45 (Activer les profils de sécurité AppArmor)",
};

const SECURE_BOOT: Rule = Rule {
    id: "boot.secure_boot",
    title: "UEFI Secure Boot is enabled",
    severity: Severity::Medium,
    reference: "ANSSI BP-028 v2.0 R3 (Activer le démarrage sécurisé UEFI)",
};

pub(super) fn auto_updates(ctx: &Ctx) -> Check {
    let a =
        apt_periodic::auto_updates_with(ctx.root, ctx.installed("unattended-upgrades"), &ctx.units);
    let status = match a.enabled {
        Some(on) => pass_if(on),
        None => Status::Unknown,
    };
    UPDATES.check(status, a.evidence)
}

/// Stamps apt.systemd.daily touches after each step: the upgrade (the second is the name
/// older releases used) and a successful refresh of the package lists (Debian's
/// apt.systemd.daily touches `update-stamp`; Ubuntu's apt hook `update-success-stamp`).
const UPGRADE_STAMPS: [&str; 2] = [
    "/var/lib/apt/periodic/upgrade-stamp",
    "/var/lib/apt/periodic/unattended-upgrades-stamp",
];
const LISTS_STAMPS: [&str; 2] = [
    "/var/lib/apt/periodic/update-stamp",
    "/var/lib/apt/periodic/update-success-stamp",
];

/// The newest of `stamps`: its age in days and its path; `Err` when one is unreadable.
fn newest_stamp(
    ctx: &Ctx,
    stamps: &[&'static str],
    now: SystemTime,
) -> Result<Option<(u64, &'static str)>, String> {
    let mut newest: Option<(u64, &str)> = None;
    for &stamp in stamps {
        if let Some(days) = age_days(ctx, stamp, now)? {
            if newest.is_none_or(|(d, _)| days < d) {
                newest = Some((days, stamp));
            }
        }
    }
    Ok(newest)
}

/// Days since `abs` was last modified, `None` when it is absent; an error otherwise.
fn age_days(ctx: &Ctx, abs: &str, now: SystemTime) -> Result<Option<u64>, String> {
    match std::fs::metadata(ctx.root.file(abs)).and_then(|m| m.modified()) {
        Ok(t) => Ok(Some(
            now.duration_since(t).unwrap_or_default().as_secs() / 86_400,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{abs} {}", sys::why(&e))),
    }
}

pub(super) fn updates_recent(ctx: &Ctx) -> Check {
    updates_recent_at(ctx, SystemTime::now())
}

/// Whether unattended-upgrades really ran lately, from apt's stamps: configured is not
/// enough on a device that was off, lost its network, or whose runs fail.
fn updates_recent_at(ctx: &Ctx, now: SystemTime) -> Check {
    match ctx.installed("unattended-upgrades") {
        None => {
            return RECENT.check(
                Status::Unknown,
                "cannot tell whether unattended-upgrades is installed: /var/lib/dpkg/status not readable",
            )
        }
        Some(false) => {
            return RECENT.check(
                Status::NotApplicable,
                "unattended-upgrades is not installed (updates.automatic fails)",
            )
        }
        Some(true) => {}
    }
    let (config, _) = apt_periodic::read_config(ctx.root);
    let interval = config
        .get("APT::Periodic::Unattended-Upgrade")
        .and_then(|(v, _)| v.trim().parse::<u64>().ok())
        .filter(|d| *d > 0)
        .unwrap_or(1);
    // Twice the interval and a day of slack: one run missed by a device switched off for a
    // night is not a failure, two are.
    let limit = 2 * interval + 1;
    let (newest, lists) = match (
        newest_stamp(ctx, &UPGRADE_STAMPS, now),
        newest_stamp(ctx, &LISTS_STAMPS, now),
    ) {
        (Ok(u), Ok(l)) => (u, l),
        (Err(e), _) | (_, Err(e)) => return RECENT.check(Status::Unknown, e),
    };
    let Some((days, stamp)) = newest else {
        return RECENT.check(
            Status::Fail,
            "unattended-upgrades has never run: no /var/lib/apt/periodic/upgrade-stamp",
        );
    };
    let lists_shown = match lists {
        Some((d, path)) => format!("package lists refreshed {d} day(s) ago ({path})"),
        None => {
            "package lists never refreshed successfully (no /var/lib/apt/periodic/update-stamp)"
                .to_string()
        }
    };
    let ok = days <= limit && lists.is_some_and(|(d, _)| d <= limit);
    RECENT.check(
        pass_if(ok),
        format!("last unattended upgrade run {days} day(s) ago ({stamp}); {lists_shown}; limit {limit} day(s) for an interval of {interval}"),
    )
}

pub(super) fn security_origin(ctx: &Ctx) -> Check {
    if ctx.installed("unattended-upgrades") != Some(true) {
        return SECURITY_ORIGIN.check(
            if ctx.dpkg.is_ok() {
                Status::NotApplicable
            } else {
                Status::Unknown
            },
            "unattended-upgrades is not installed, or dpkg's database is not readable",
        );
    }
    let raspbian = sys::os_release(ctx.root).is_some_and(|os| os.id.as_deref() == Some("raspbian"));
    let (config, _) = apt_periodic::read_config(ctx.root);
    let patterns: Vec<&String> = [
        "Unattended-Upgrade::Origins-Pattern",
        "Unattended-Upgrade::Allowed-Origins",
    ]
    .iter()
    .flat_map(|k| config.list(k))
    .collect();
    // Debian's label=Debian-Security, Ubuntu's ${distro_codename}-security. Raspbian has
    // no separate security archive: its fixes land in the archive itself, whose origin is
    // Raspbian, so only a pattern naming that origin installs them (Debian's stock
    // patterns match nothing there).
    let allows = patterns.iter().any(|p| {
        let p = p.to_ascii_lowercase();
        if raspbian {
            p.contains("origin=raspbian")
        } else {
            p.contains("security")
        }
    });
    let items = match crate::collect::patches::index::source_items(ctx.root, "") {
        Ok(items) => items,
        Err(e) => return SECURITY_ORIGIN.check(Status::Unknown, e),
    };
    let in_sources = items
        .iter()
        .any(|i| i.suite.ends_with("-security") || i.suite.ends_with("/updates"))
        || (raspbian && items.iter().any(|i| i.uri.contains("raspbian")));
    let evidence = format!(
        "unattended-upgrades origins: {} pattern(s), {}; apt sources: {}",
        patterns.len(),
        if allows {
            "a security origin among them"
        } else {
            "none for the security archive"
        },
        if in_sources {
            "the security archive is listed"
        } else {
            "no security archive (suite ending in -security)"
        },
    );
    SECURITY_ORIGIN.check(pass_if(allows && in_sources), evidence)
}

/// Time daemons by unit name, with the name shown (chrony has an alias unit).
const TIME_DAEMONS: [(&str, &str); 6] = [
    ("systemd-timesyncd.service", "systemd-timesyncd"),
    ("chrony.service", "chrony"),
    ("chronyd.service", "chrony"),
    ("ntpsec.service", "ntpsec"),
    ("ntp.service", "ntp"),
    ("openntpd.service", "openntpd"),
];

pub(super) fn time_sync(ctx: &Ctx) -> Check {
    let mut enabled: Vec<&str> = TIME_DAEMONS
        .iter()
        .filter(|(unit, _)| ctx.units.is_enabled(unit))
        .map(|(_, name)| *name)
        .collect();
    enabled.dedup();
    match enabled.as_slice() {
        [] => TIME.check(
            Status::Fail,
            "no time daemon enabled (systemd-timesyncd, chrony, ntpsec, ntp, openntpd)",
        ),
        ["systemd-timesyncd"] => {
            // timesyncd creates this flag at its first successful synchronisation.
            let synced = ctx.root.live("/run/systemd/timesync/synchronized").exists();
            let ev = if synced {
                "systemd-timesyncd enabled and synchronised (/run/systemd/timesync/synchronized present)"
            } else {
                "systemd-timesyncd enabled but not synchronised since boot (no /run/systemd/timesync/synchronized)"
            };
            TIME.check(pass_if(synced), ev)
        }
        [one] => TIME.check(
            Status::Pass,
            format!("{one} enabled (its synchronisation state is not readable from files)"),
        ),
        several => TIME.check(
            Status::Fail,
            format!("several time daemons enabled: {}", several.join(", ")),
        ),
    }
}

pub(super) fn mac(ctx: &Ctx) -> Check {
    let enabled = ctx
        .root
        .read_live("/sys/module/apparmor/parameters/enabled");
    let selinux = ctx
        .root
        .read_live("/sys/fs/selinux/enforce")
        .is_ok_and(|v| v.trim() == "1");
    match enabled {
        Ok(v) if v.trim() == "Y" => {
            match ctx.root.read_live("/sys/kernel/security/apparmor/profiles") {
                Ok(p) => {
                    let enforce = p.lines().filter(|l| l.ends_with("(enforce)")).count();
                    let complain = p.lines().filter(|l| l.ends_with("(complain)")).count();
                    MAC.check(pass_if(enforce > 0), format!("AppArmor enabled; {enforce} profile(s) in enforce mode, {complain} in complain mode"))
                }
                Err(e) => MAC.check(Status::Pass, format!("AppArmor enabled (/sys/module/apparmor/parameters/enabled = Y); profile list {}", sys::why(&e))),
            }
        }
        _ if selinux => MAC.check(
            Status::Pass,
            "SELinux enforcing (/sys/fs/selinux/enforce = 1)",
        ),
        Ok(v) => MAC.check(
            Status::Fail,
            format!(
                "AppArmor built in but disabled (/sys/module/apparmor/parameters/enabled = {})",
                v.trim()
            ),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => MAC.check(
            Status::Fail,
            "no AppArmor in this kernel (/sys/module/apparmor absent) and SELinux not enforcing",
        ),
        Err(e) => MAC.check(
            Status::Unknown,
            format!("/sys/module/apparmor/parameters/enabled {}", sys::why(&e)),
        ),
    }
}

/// The EFI global variable holding the Secure Boot state (attributes u32, then one byte).
const SECURE_BOOT_VAR: &str =
    "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-e39251e9b3f5";

pub(super) fn secure_boot(ctx: &Ctx) -> Check {
    if !ctx.root.live("/sys/firmware/efi").exists() {
        return SECURE_BOOT.check(
            Status::NotApplicable,
            "not booted through UEFI (no /sys/firmware/efi): BIOS or board firmware such as U-Boot",
        );
    }
    match crate::fsutil::read_bounded(&ctx.root.live(SECURE_BOOT_VAR), max::ATTR) {
        Ok(b) if b.len() >= 5 => SECURE_BOOT.check(
            pass_if(b[4] == 1),
            format!("EFI variable SecureBoot = {}", b[4]),
        ),
        Ok(_) => SECURE_BOOT.check(Status::Unknown, "EFI variable SecureBoot is truncated"),
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && ctx
                    .root
                    .live("/sys/firmware/efi/efivars")
                    .read_dir()
                    .is_ok_and(|mut d| d.next().is_some()) =>
        {
            SECURE_BOOT.check(
                Status::Fail,
                "UEFI firmware exposes no SecureBoot variable (no Secure Boot support)",
            )
        }
        Err(e) => SECURE_BOOT.check(
            Status::Unknown,
            format!(
                "EFI variable SecureBoot {} (efivarfs not mounted?)",
                sys::why(&e)
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::dpkg;
    use super::super::{Ctx, Status};
    use super::*;
    use crate::collect::Root;

    use super::super::testutil::run_check_with_units as run;

    const AUTO: (&str, &str) = (
        "/etc/apt/apt.conf.d/20auto-upgrades",
        "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n",
    );

    #[test]
    fn auto_updates_pass_and_fail() {
        let status = dpkg(&["unattended-upgrades"]);
        let timers = apt_periodic::TIMERS;
        let c = run(
            &[("/var/lib/dpkg/status", &status), AUTO],
            &timers,
            auto_updates,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        // Configured, but the timers that run it are not enabled.
        let c = run(
            &[("/var/lib/dpkg/status", &status), AUTO],
            &[],
            auto_updates,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.evidence.contains("apt-daily.timer not enabled"),
            "{}",
            c.evidence
        );
        let c = run(&[("/var/lib/dpkg/status", &status)], &timers, auto_updates);
        assert_eq!(c.status, Status::Fail);
    }

    /// A tree with unattended-upgrades whose stamps are `upgrade` and `lists` days old.
    fn recent(upgrade: Option<u64>, lists: Option<u64>, extra: &[(&str, &str)]) -> Check {
        let dir = tempfile::tempdir().unwrap();
        let status = dpkg(&["unattended-upgrades"]);
        super::super::testutil::write(dir.path(), &[("/var/lib/dpkg/status", &status), AUTO]);
        super::super::testutil::write(dir.path(), extra);
        let now = SystemTime::now();
        // Debian's stamps: upgrade-stamp and update-stamp.
        for (stamp, age) in [(UPGRADE_STAMPS[0], upgrade), (LISTS_STAMPS[0], lists)] {
            let Some(days) = age else { continue };
            super::super::testutil::write(dir.path(), &[(stamp, "")]);
            let when = now - std::time::Duration::from_secs(days * 86_400 + 60);
            std::fs::File::options()
                .write(true)
                .open(dir.path().join(stamp.trim_start_matches('/')))
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        let root = Root::at(dir.path()).with_live(dir.path());
        updates_recent_at(&Ctx::load(&root), now)
    }

    #[test]
    fn updates_must_have_run_lately() {
        let c = recent(Some(1), Some(0), &[]);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(
            c.evidence.starts_with(
                "last unattended upgrade run 1 day(s) ago (/var/lib/apt/periodic/upgrade-stamp)"
            ),
            "{}",
            c.evidence
        );
        // A device that has not upgraded for ten days.
        let c = recent(Some(10), Some(0), &[]);
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        // Upgrades run but the lists never refresh: nothing new is ever installed.
        let c = recent(Some(0), None, &[]);
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.contains("never refreshed"));
        let c = recent(None, Some(0), &[]);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("never run"), "{}", c.evidence);
        // A weekly interval allows 15 days.
        let weekly = [(
            "/etc/apt/apt.conf",
            "APT::Periodic::Unattended-Upgrade \"7\";",
        )];
        assert_eq!(recent(Some(10), Some(10), &weekly).status, Status::Pass);
        // Not installed: updates.automatic fails already; no dpkg: unknown.
        let c = run(&[("/var/lib/dpkg/status", "")], &[], updates_recent);
        assert_eq!(c.status, Status::NotApplicable);
        assert_eq!(run(&[], &[], updates_recent).status, Status::Unknown);
    }

    #[test]
    fn updates_must_take_the_security_archive() {
        let status = dpkg(&["unattended-upgrades"]);
        // Debian 12's 50unattended-upgrades (the origins that matter) and sources.
        let uu = ("/etc/apt/apt.conf.d/50unattended-upgrades", "Unattended-Upgrade::Origins-Pattern {\n  \"origin=Debian,codename=${distro_codename},label=Debian\";\n  \"origin=Debian,codename=${distro_codename},label=Debian-Security\";\n  \"origin=Debian,codename=${distro_codename}-security,label=Debian-Security\";\n};\n");
        let sources = ("/etc/apt/sources.list", "deb http://deb.debian.org/debian bookworm main\ndeb http://security.debian.org/debian-security bookworm-security main\n");
        let c = run(
            &[("/var/lib/dpkg/status", &status), uu, sources],
            &[],
            security_origin,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        // Origins narrowed to the main archive only.
        let main_only = (uu.0, "Unattended-Upgrade::Origins-Pattern { \"origin=Debian,codename=${distro_codename},label=Debian\"; };\n");
        let c = run(
            &[("/var/lib/dpkg/status", &status), main_only, sources],
            &[],
            security_origin,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.contains("none for the security archive"));
        // No security archive in the sources.
        let no_sec = (
            sources.0,
            "deb http://deb.debian.org/debian bookworm main\n",
        );
        let c = run(
            &[("/var/lib/dpkg/status", &status), uu, no_sec],
            &[],
            security_origin,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("no security archive"));
        // Raspbian: fixes come through its own archive.
        let rpi = [
            ("/var/lib/dpkg/status", status.as_str()),
            ("/etc/os-release", "ID=raspbian\nID_LIKE=debian\n"),
            (uu.0, "Unattended-Upgrade::Origins-Pattern { \"origin=Raspbian,codename=${distro_codename},label=Raspbian\"; };\n"),
            (sources.0, "deb http://raspbian.raspberrypi.com/raspbian/ bookworm main contrib non-free rpi\n"),
        ];
        assert_eq!(run(&rpi, &[], security_origin).status, Status::Pass);
        // ...and Debian's stock patterns install nothing from it.
        let mut rpi_stock = rpi;
        rpi_stock[2] = uu;
        let c = run(&rpi_stock, &[], security_origin);
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert_eq!(
            run(&[("/var/lib/dpkg/status", "")], &[], security_origin).status,
            Status::NotApplicable
        );
    }

    #[test]
    fn time_sync_cases() {
        let c = run(
            &[("/run/systemd/timesync/synchronized", "")],
            &["systemd-timesyncd.service"],
            time_sync,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        let c = run(&[], &["systemd-timesyncd.service"], time_sync);
        assert_eq!(c.status, Status::Fail);
        let c = run(&[], &["chrony.service", "chronyd.service"], time_sync);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        let c = run(
            &[],
            &["chrony.service", "systemd-timesyncd.service"],
            time_sync,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("several"));
        assert_eq!(run(&[], &[], time_sync).status, Status::Fail);
    }

    #[test]
    fn apparmor_cases() {
        let y = ("/sys/module/apparmor/parameters/enabled", "Y\n");
        let c = run(
            &[
                y,
                (
                    "/sys/kernel/security/apparmor/profiles",
                    "/usr/sbin/cupsd (enforce)\nnvidia_modprobe (complain)\n",
                ),
            ],
            &[],
            mac,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c
            .evidence
            .contains("1 profile(s) in enforce mode, 1 in complain"));
        let c = run(
            &[y, ("/sys/kernel/security/apparmor/profiles", "")],
            &[],
            mac,
        );
        assert_eq!(c.status, Status::Fail);
        let c = run(
            &[("/sys/module/apparmor/parameters/enabled", "N\n")],
            &[],
            mac,
        );
        assert_eq!(c.status, Status::Fail);
        assert_eq!(run(&[], &[], mac).status, Status::Fail);
        assert_eq!(
            run(&[("/sys/fs/selinux/enforce", "1")], &[], mac).status,
            Status::Pass
        );
    }

    #[test]
    fn secure_boot_cases() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::at(dir.path()).with_live(dir.path());
        assert_eq!(secure_boot(&Ctx::load(&root)).status, Status::NotApplicable);
        let vars = dir.path().join("sys/firmware/efi/efivars");
        std::fs::create_dir_all(&vars).unwrap();
        assert_eq!(secure_boot(&Ctx::load(&root)).status, Status::Unknown);
        std::fs::write(
            vars.join("BootOrder-8be4df61-93ca-11d2-aa0d-e39251e9b3f5"),
            [6, 0, 0, 0, 1, 0],
        )
        .unwrap();
        assert_eq!(secure_boot(&Ctx::load(&root)).status, Status::Fail);
        let var = dir.path().join(SECURE_BOOT_VAR.trim_start_matches('/'));
        std::fs::write(&var, [6, 0, 0, 0, 1]).unwrap();
        assert_eq!(secure_boot(&Ctx::load(&root)).status, Status::Pass);
        std::fs::write(&var, [6, 0, 0, 0, 0]).unwrap();
        assert_eq!(secure_boot(&Ctx::load(&root)).status, Status::Fail);
    }
}
