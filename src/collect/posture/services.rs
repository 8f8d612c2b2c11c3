//! System services and platform: automatic updates, time synchronisation, mandatory access
//! control, UEFI Secure Boot.

use super::{pass_if, sys, Check, Ctx, Rule, Severity, Status};
use crate::collect::{apt_periodic, max};

const UPDATES: Rule = Rule {
    id: "updates.automatic",
    title: "Security updates are installed automatically (unattended-upgrades)",
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
    let a = apt_periodic::auto_updates_with(
        ctx.root,
        ctx.installed("unattended-upgrades"),
        ctx.units.state(apt_periodic::UPGRADE_TIMER) == sys::UnitState::Masked,
    );
    let status = match a.enabled {
        Some(on) => pass_if(on),
        None => Status::Unknown,
    };
    UPDATES.check(status, a.evidence)
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

    #[test]
    fn auto_updates_pass_and_fail() {
        let status = dpkg(&["unattended-upgrades"]);
        let c = run(
            &[
                ("/var/lib/dpkg/status", &status),
                ("/etc/apt/apt.conf.d/20auto-upgrades", "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n"),
            ],
            &[],
            auto_updates,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        let c = run(&[("/var/lib/dpkg/status", &status)], &[], auto_updates);
        assert_eq!(c.status, Status::Fail);
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
