//! Boot: the GRUB password and the permissions of its configuration, and whether USB
//! storage can be used (modprobe.d).

use super::{pass_if, sys, Check, Ctx, Rule, Severity, Status};
use crate::collect::max;
use crate::parse::modprobe;
use std::io;
use std::os::unix::fs::MetadataExt;

const GRUB_PASSWORD: Rule = Rule {
    id: "boot.grub_password",
    title: "GRUB asks for a password before its settings can be changed",
    severity: Severity::Medium,
    reference: "ANSSI BP-028 v2.0 R5 (Configurer un mot de passe pour le chargeur de démarrage)",
};

const GRUB_PERMISSIONS: Rule = Rule {
    id: "boot.grub_cfg_permissions",
    title: "GRUB's configuration is owned by root and closed to other users",
    severity: Severity::Low,
    reference: "CIS Debian Linux 12 Benchmark: Ensure access to bootloader config is configured",
};

const USB_STORAGE: Rule = Rule {
    id: "kernel.usb_storage",
    title: "The usb-storage kernel module cannot be loaded",
    severity: Severity::Low,
    reference: "CIS Debian Linux 12 Benchmark: Ensure usb-storage kernel module is not available",
};

/// Where grub-mkconfig writes (Debian, then distributions that say grub2).
const GRUB_CFGS: [&str; 2] = ["/boot/grub/grub.cfg", "/boot/grub2/grub.cfg"];

const NO_GRUB: &str = "no GRUB: board firmware such as U-Boot, or systemd-boot";

/// The first GRUB configuration that exists, or why none was found.
fn grub_cfg(ctx: &Ctx) -> Result<&'static str, Check> {
    if let Some(p) = GRUB_CFGS
        .into_iter()
        .find(|p| ctx.root.file(p).symlink_metadata().is_ok())
    {
        return Ok(p);
    }
    // GRUB's settings without its generated file: /boot is not mounted (noauto, R29).
    if ctx.root.file("/etc/default/grub").exists() {
        return Err(GRUB_PASSWORD.check(
            Status::Unknown,
            format!(
                "/etc/default/grub present but {} absent (is /boot mounted?)",
                GRUB_CFGS.join(", ")
            ),
        ));
    }
    Err(GRUB_PASSWORD.check(
        Status::NotApplicable,
        format!("{NO_GRUB} ({} absent)", GRUB_CFGS.join(", ")),
    ))
}

pub(super) fn grub_password(ctx: &Ctx) -> Check {
    let path = match grub_cfg(ctx) {
        Ok(p) => p,
        Err(na) => return na,
    };
    let text = match ctx.root.read_up_to(path, max::CONFIG) {
        Ok(t) => t,
        Err(e) => return GRUB_PASSWORD.check(Status::Unknown, format!("{path} {}", sys::why(&e))),
    };
    let (mut superusers, mut pbkdf2, mut plain) = (false, false, false);
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("set") => {
                if let Some(v) = line["set".len()..].trim().strip_prefix("superusers=") {
                    superusers = !v.trim_matches(['"', '\'']).trim().is_empty();
                }
            }
            Some("password_pbkdf2") => pbkdf2 = true,
            Some("password") => plain = true,
            _ => {}
        }
    }
    let (status, found) = match (superusers, pbkdf2, plain) {
        (true, true, _) => (Status::Pass, "superusers set, password_pbkdf2 hash present"),
        (true, false, true) => (
            Status::Fail,
            "superusers set but the password is in clear text (password, not password_pbkdf2)",
        ),
        (true, false, false) => (Status::Fail, "superusers set but no password_pbkdf2 line"),
        (false, _, _) => (
            Status::Fail,
            "no superusers: anyone at the console can edit the kernel command line",
        ),
    };
    GRUB_PASSWORD.check(status, format!("{path}: {found}"))
}

pub(super) fn grub_cfg_permissions(ctx: &Ctx) -> Check {
    let path = match grub_cfg(ctx) {
        Ok(p) => p,
        Err(na) => return GRUB_PERMISSIONS.check(na.status, na.evidence),
    };
    match std::fs::metadata(ctx.root.file(path)) {
        Ok(m) => {
            let mode = m.mode() & 0o7777;
            // 0600 or stricter: nothing for group and others.
            let ok = mode & 0o077 == 0 && m.uid() == 0;
            GRUB_PERMISSIONS.check(
                pass_if(ok),
                format!("{path} mode {mode:04o}, owner uid {}", m.uid()),
            )
        }
        Err(e) => GRUB_PERMISSIONS.check(Status::Unknown, format!("{path} {}", sys::why(&e))),
    }
}

/// modprobe.d directories, most important first: a file hides those of the same name in
/// the directories after it.
const MODPROBE_DIRS: [&str; 5] = [
    "/etc/modprobe.d",
    "/run/modprobe.d",
    "/usr/local/lib/modprobe.d",
    "/usr/lib/modprobe.d",
    "/lib/modprobe.d",
];

const USB_STORAGE_MODULE: &str = "usb_storage";

/// Whether an `install` command stands in for loading: `/bin/false`, `/usr/bin/true`...
fn refuses_to_load(command: &str) -> bool {
    let program = command.split_whitespace().next().unwrap_or("");
    matches!(
        program.rsplit('/').next(),
        Some("false") | Some("true") | Some("nologin")
    )
}

/// The `*.conf` files modprobe reads, in its order, each with its text or the error that
/// kept it unread.
fn modprobe_files(ctx: &Ctx) -> Vec<(String, io::Result<String>)> {
    sys::dropins(ctx.root, MODPROBE_DIRS.map(String::from))
        .into_iter()
        .map(|path| {
            let text = sys::read_config(ctx.root, &path);
            (path, text)
        })
        .collect()
}

pub(super) fn usb_storage(ctx: &Ctx) -> Check {
    let (mut blacklisted, mut install, mut unread) = (None, None, Vec::new());
    for (path, text) in modprobe_files(ctx) {
        let text = match text {
            Ok(t) => t,
            Err(e) => {
                unread.push(format!("{path} {}", sys::why(&e)));
                continue;
            }
        };
        for d in modprobe::parse(&text) {
            if d.module != USB_STORAGE_MODULE {
                continue;
            }
            match d.command.as_str() {
                "blacklist" => {
                    blacklisted.get_or_insert(path.clone());
                }
                // modprobe runs the first install command it read.
                "install" => {
                    install.get_or_insert((path.clone(), d.args));
                }
                _ => {}
            }
        }
    }
    // The running kernel tells about the files only when they are its own (not an image
    // read with --root).
    let live = ctx.root.live_matches_disk();
    // The kernel command line: `modprobe.blacklist=` is a blacklist line; the kernel's own
    // `module_blacklist=` refuses the module however it is asked for.
    let cmdline = live
        .then(|| ctx.root.read_live("/proc/cmdline").ok())
        .flatten()
        .unwrap_or_default();
    let on_cmdline = |key: &str| {
        cmdline.split_whitespace().any(|w| {
            w.strip_prefix(key).is_some_and(|l| {
                l.split(',')
                    .any(|m| modprobe::module_name(m) == USB_STORAGE_MODULE)
            })
        })
    };
    if on_cmdline("modprobe.blacklist=") {
        blacklisted.get_or_insert("/proc/cmdline".to_string());
    }
    let mut found = Vec::new();
    let mut disabled = false;
    if let Some((path, cmd)) = &install {
        let refuses = refuses_to_load(cmd);
        disabled |= refuses;
        found.push(format!("install usb-storage {cmd} in {path}"));
    }
    if on_cmdline("module_blacklist=") {
        disabled = true;
        found
            .push("module_blacklist=usb-storage on the kernel command line (/proc/cmdline)".into());
    }
    if let Some(path) = &blacklisted {
        // A blacklist only stops loading by alias: uas, which udev loads for a USB disk,
        // still pulls usb-storage in as a dependency, as does `modprobe usb-storage`.
        found.push(format!(
            "blacklist usb-storage in {path}{}",
            if disabled { "" } else { " (alone it only stops loading by alias: uas still pulls usb-storage in; add install usb-storage /bin/false)" }
        ));
    }
    // Built in, or loaded before the configuration: the files cannot unload it.
    let loaded = live && ctx.root.live("/sys/module/usb_storage").exists();
    if loaded {
        found.push("usb_storage is in the running kernel (/sys/module/usb_storage)".into());
    }
    let status = if disabled {
        pass_if(!loaded)
    } else if !unread.is_empty() {
        Status::Unknown
    } else {
        Status::Fail
    };
    if found.is_empty() {
        found.push(format!(
            "no install or blacklist line for usb-storage in the *.conf files of {}",
            MODPROBE_DIRS.join(", ")
        ));
    }
    found.extend(unread);
    USB_STORAGE.check(status, found.join("; "))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::run_check as run;
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const GRUB: &str = "/boot/grub/grub.cfg";

    #[test]
    fn grub_password_cases() {
        let protected = "### BEGIN /etc/grub.d/40_custom ###\nset superusers=\"admin\"\npassword_pbkdf2 admin grub.pbkdf2.sha512.10000.AB.CD\n### END ###\nmenuentry 'Debian' --unrestricted {\n}\n";
        let c = run(&[(GRUB, protected)], grub_password);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert_eq!(
            c.evidence,
            "/boot/grub/grub.cfg: superusers set, password_pbkdf2 hash present"
        );
        let stock = "set default=\"0\"\n# set superusers=\"admin\"\nmenuentry 'Debian GNU/Linux' {\n\tlinux /vmlinuz root=UUID=x ro quiet\n}\n";
        let c = run(&[(GRUB, stock)], grub_password);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("no superusers"), "{}", c.evidence);
        let clear = "set superusers=admin\npassword admin secret\n";
        let c = run(&[(GRUB, clear)], grub_password);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("clear text"), "{}", c.evidence);
        assert!(!c.evidence.contains("secret"));
        let emptied = "set superusers=\"\"\npassword_pbkdf2 admin grub.pbkdf2.sha512.1.A.B\n";
        assert_eq!(run(&[(GRUB, emptied)], grub_password).status, Status::Fail);
        // Hostile bytes arrive as U+FFFD and change nothing.
        let hostile = format!("\u{FFFD}\u{FFFD}\n{protected}");
        assert_eq!(run(&[(GRUB, &hostile)], grub_password).status, Status::Pass);
        let c = run(&[("/boot/grub2/grub.cfg", protected)], grub_password);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
    }

    #[test]
    fn without_grub_both_checks_are_not_applicable() {
        for check in [grub_password, grub_cfg_permissions] {
            let c = run(&[("/boot/firmware/config.txt", "arm_64bit=1\n")], check);
            assert_eq!(c.status, Status::NotApplicable, "{}", c.id);
            assert!(c.evidence.starts_with(NO_GRUB), "{}", c.evidence);
            // GRUB configured but /boot not mounted: the file may well exist.
            let c = run(&[("/etc/default/grub", "GRUB_TIMEOUT=5\n")], check);
            assert_eq!(c.status, Status::Unknown, "{}", c.id);
            assert!(c.evidence.contains("is /boot mounted?"), "{}", c.evidence);
        }
    }

    #[test]
    fn unreadable_grub_cfg_is_unknown() {
        let dir = tempfile::tempdir().unwrap();
        crate::fsutil::testing::mkfifo(&dir.path().join("boot/grub/grub.cfg"));
        let root = crate::collect::Root::at(dir.path()).with_live(dir.path());
        let c = grub_password(&Ctx::load(&root));
        assert_eq!(c.status, Status::Unknown, "{}", c.evidence);
        assert!(c.evidence.contains("FIFO"), "{}", c.evidence);
    }

    #[test]
    fn grub_cfg_permissions_cases() {
        let dir = tempfile::tempdir().unwrap();
        super::super::testutil::write(dir.path(), &[(GRUB, "set default=0\n")]);
        let root = crate::collect::Root::at(dir.path()).with_live(dir.path());
        let cfg = dir.path().join("boot/grub/grub.cfg");
        let owner_root = unsafe { libc::geteuid() } == 0;
        for (mode, ok) in [(0o600, true), (0o400, true), (0o444, false), (0o640, false)] {
            std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(mode)).unwrap();
            let c = grub_cfg_permissions(&Ctx::load(&root));
            // The file belongs to whoever runs the test: only root can pass.
            assert_eq!(
                c.status,
                pass_if(ok && owner_root),
                "{mode:o}: {}",
                c.evidence
            );
            assert!(c
                .evidence
                .starts_with(&format!("/boot/grub/grub.cfg mode {mode:04o}, owner uid")));
        }
        std::fs::remove_file(&cfg).unwrap();
        std::os::unix::fs::symlink("loop", dir.path().join("boot/grub/loop")).unwrap();
        std::os::unix::fs::symlink("loop", &cfg).unwrap();
        let c = grub_cfg_permissions(&Ctx::load(&root));
        assert_eq!(c.status, Status::Unknown, "{}", c.evidence);
    }

    #[test]
    fn usb_storage_disabled_by_install_or_blacklist() {
        let install = "/etc/modprobe.d/usb_storage.conf";
        let c = run(
            &[(install, "install usb-storage /bin/false\n")],
            usb_storage,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert_eq!(
            c.evidence,
            "install usb-storage /bin/false in /etc/modprobe.d/usb_storage.conf"
        );
        let c = run(
            &[
                ("/lib/modprobe.d/cis.conf", "blacklist usb_storage\n"),
                (install, "install usb-storage /bin/false\n"),
            ],
            usb_storage,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        let c = run(
            &[(
                "/proc/cmdline",
                "ro quiet module_blacklist=uas,usb-storage\n",
            )],
            usb_storage,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("/proc/cmdline"));
        // A blacklist alone: uas still loads usb-storage as a dependency.
        for files in [
            [("/lib/modprobe.d/cis.conf", "blacklist usb_storage\n")],
            [("/proc/cmdline", "ro modprobe.blacklist=usb-storage\n")],
        ] {
            let c = run(&files, usb_storage);
            assert_eq!(c.status, Status::Fail, "{}", c.evidence);
            assert!(
                c.evidence.contains("only stops loading by alias"),
                "{}",
                c.evidence
            );
        }
    }

    #[test]
    fn usb_storage_fails_when_loadable_or_loaded() {
        let c = run(
            &[(
                "/etc/modprobe.d/alsa.conf",
                "options snd-hda-intel power_save=1\n",
            )],
            usb_storage,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.evidence.starts_with("no install or blacklist line"),
            "{}",
            c.evidence
        );
        // The first install line is the one modprobe runs: 10-x.conf before 99-cis.conf.
        let c = run(
            &[
                (
                    "/etc/modprobe.d/10-x.conf",
                    "install usb-storage /sbin/modprobe --ignore-install usb-storage\n",
                ),
                (
                    "/etc/modprobe.d/99-cis.conf",
                    "install usb-storage /bin/true\n",
                ),
            ],
            usb_storage,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        // A file of the same name in /etc hides the packaged one.
        let c = run(
            &[
                ("/lib/modprobe.d/cis.conf", "blacklist usb-storage\n"),
                ("/etc/modprobe.d/cis.conf", "# emptied by the admin\n"),
            ],
            usb_storage,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        let c = run(
            &[
                ("/etc/modprobe.d/cis.conf", "blacklist usb-storage\n"),
                ("/sys/module/usb_storage/parameters/delay_use", "1\n"),
            ],
            usb_storage,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.contains("in the running kernel"));
    }

    #[test]
    fn usb_storage_unknown_when_a_file_is_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        crate::fsutil::testing::mkfifo(&dir.path().join("etc/modprobe.d/fifo.conf"));
        let root = crate::collect::Root::at(dir.path()).with_live(dir.path());
        let c = usb_storage(&Ctx::load(&root));
        assert_eq!(c.status, Status::Unknown, "{}", c.evidence);
        assert!(
            c.evidence.contains("/etc/modprobe.d/fifo.conf"),
            "{}",
            c.evidence
        );
        // A readable file that disables it decides anyway.
        super::super::testutil::write(
            dir.path(),
            &[(
                "/etc/modprobe.d/cis.conf",
                "install usb-storage /bin/false\n",
            )],
        );
        assert_eq!(usb_storage(&Ctx::load(&root)).status, Status::Pass);
    }

    /// Our reading of modprobe.d lines agrees with `modprobe -C DIR --showconfig` (kmod).
    #[test]
    fn agrees_with_modprobe_showconfig_when_available() {
        let cases = [
            "blacklist usb-storage\n",
            "install usb-storage /bin/false\n",
            "# blacklist usb-storage\ninstall usb_storage /usr/bin/true \\\n  --quiet\n",
            "options usb-storage delay_use=1\nblacklist\tusb_storage  \n",
        ];
        let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
        if cmdline.contains("usb_storage") || cmdline.contains("usb-storage") {
            eprintln!("this host's kernel command line names usb-storage: skipping");
            return;
        }
        for text in cases {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("t.conf"), text).unwrap();
            let out = match std::process::Command::new("modprobe")
                .arg("-C")
                .arg(dir.path())
                .arg("--showconfig")
                .output()
            {
                Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
                _ => {
                    eprintln!("modprobe (kmod) not available: skipping the comparison");
                    return;
                }
            };
            let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
            let mut theirs: Vec<String> = out
                .lines()
                .filter(|l| {
                    let mut w = l.split_whitespace();
                    matches!(w.next(), Some("blacklist" | "install"))
                        && w.next() == Some(USB_STORAGE_MODULE)
                })
                .map(norm)
                .collect();
            let mut ours: Vec<String> = modprobe::parse(text)
                .into_iter()
                .filter(|d| {
                    matches!(d.command.as_str(), "blacklist" | "install")
                        && d.module == USB_STORAGE_MODULE
                })
                .map(|d| norm(&format!("{} {} {}", d.command, d.module, d.args)))
                .collect();
            theirs.sort();
            ours.sort();
            assert_eq!(ours, theirs, "{text:?}");
        }
    }
}
