//! Storage: encryption of the root filesystem, /home and swap; mount options of /tmp,
//! /var/tmp, /dev/shm and /home.

use super::{pass_if, sys, Check, Ctx, Rule, Severity, Status};
use crate::collect::max;
use crate::fsutil;
use crate::parse::mountinfo::{self, Mount};
use crate::parse::procfs;
use std::path::{Path, PathBuf};

const ENCRYPTION: Rule = Rule {
    id: "disk.encryption",
    title: "The root filesystem is on an encrypted (dm-crypt/LUKS) device",
    severity: Severity::High,
    // Neither BP-028 nor the CIS Debian benchmark has a disk-encryption rule.
    reference: "ANSSI, Recommandations sur le nomadisme numérique (ANSSI-PA-054): chiffrement des supports de stockage des équipements mobiles",
};

const HOME_ENCRYPTION: Rule = Rule {
    id: "disk.home_encryption",
    title: "/home (users' files) is on an encrypted (dm-crypt/LUKS) device",
    severity: Severity::High,
    reference: ENCRYPTION.reference,
};

const SWAP_ENCRYPTION: Rule = Rule {
    id: "disk.swap_encryption",
    title: "Swap is encrypted (or in compressed RAM)",
    severity: Severity::Medium,
    // Memory pages written to swap outlive the session on the disk.
    reference: ENCRYPTION.reference,
};

/// A mount point that must be separate and carry some options.
struct MountRule {
    rule: Rule,
    path: &'static str,
    options: &'static [&'static str],
}

const NO_DEV_SUID_EXEC: &[&str] = &["nodev", "nosuid", "noexec"];

const TMP: MountRule = MountRule {
    rule: Rule {
        id: "fs.tmp_mount",
        title: "/tmp is a separate mount with nodev, nosuid, noexec",
        severity: Severity::Low,
        reference: "ANSSI BP-028 v2.0 R28 (Partitionnement type: /tmp nosuid,nodev,noexec)",
    },
    path: "/tmp",
    options: NO_DEV_SUID_EXEC,
};

const VAR_TMP: MountRule = MountRule {
    rule: Rule {
        id: "fs.var_tmp_mount",
        title: "/var/tmp is a separate mount with nodev, nosuid, noexec",
        severity: Severity::Low,
        reference: "ANSSI BP-028 v2.0 R28 (Partitionnement type: /var/tmp nosuid,nodev,noexec)",
    },
    path: "/var/tmp",
    options: NO_DEV_SUID_EXEC,
};

const DEV_SHM: MountRule = MountRule {
    rule: Rule {
        id: "fs.dev_shm_mount",
        title: "/dev/shm is mounted with nodev, nosuid, noexec",
        severity: Severity::Low,
        reference:
            "CIS Debian Linux 12 Benchmark: Ensure nodev/nosuid/noexec option set on /dev/shm partition",
    },
    path: "/dev/shm",
    options: NO_DEV_SUID_EXEC,
};

const HOME: MountRule = MountRule {
    rule: Rule {
        id: "fs.home_mount",
        title: "/home is a separate mount with nodev, nosuid",
        severity: Severity::Low,
        // R28 also lists noexec for /home; users' scripts make it rare on desktops.
        reference: "ANSSI BP-028 v2.0 R28 (Partitionnement type)",
    },
    path: "/home",
    options: &["nodev", "nosuid"],
};

/// dm devices nest (LUKS under LVM under...): this deep is plenty and stops cycles.
const MAX_DEPTH: usize = 8;

/// Looks for a dm-crypt layer at or below the block device in `dir` (a /sys/dev/block
/// entry), following `slaves/`. Returns the crypt type (`LUKS2`, `PLAIN`...).
fn crypt_layer(dir: &Path, depth: usize) -> Option<String> {
    if depth > MAX_DEPTH {
        return None;
    }
    if let Ok(uuid) = fsutil::read_text_bounded(&dir.join("dm/uuid"), max::ATTR) {
        if let Some(rest) = uuid.trim().strip_prefix("CRYPT-") {
            return Some(rest.split('-').next().unwrap_or("dm-crypt").to_string());
        }
    }
    let slaves = dir.join("slaves");
    sys::dir_names(&slaves)
        .into_iter()
        .find_map(|s| crypt_layer(&slaves.join(s), depth + 1))
}

/// The /sys directory of the block device behind a mount, if it has one.
fn block_dir(ctx: &Ctx, m: &Mount) -> Option<PathBuf> {
    if m.major != 0 {
        return Some(
            ctx.root
                .live(&format!("/sys/dev/block/{}:{}", m.major, m.minor)),
        );
    }
    // btrfs and others report an anonymous device number: use the source instead.
    device_dir(ctx, &m.source)
}

/// The /sys directory of a block device given by its /dev path.
fn device_dir(ctx: &Ctx, dev: &str) -> Option<PathBuf> {
    let name = dev.strip_prefix("/dev/")?;
    if let Some(dm_name) = name.strip_prefix("mapper/") {
        let block = ctx.root.live("/sys/block");
        return sys::dir_names(&block)
            .into_iter()
            .map(|d| block.join(d))
            .find(|d| {
                fsutil::read_text_bounded(&d.join("dm/name"), max::ATTR)
                    .is_ok_and(|n| n.trim() == dm_name)
            });
    }
    Some(ctx.root.live(&format!("/sys/class/block/{name}")))
}

/// Whether the block device behind mount `m` has a dm-crypt layer: pass or fail, unknown
/// when no block device backs it.
fn mount_encryption(ctx: &Ctx, m: &Mount) -> (Status, String) {
    let what = format!(
        "{} is {} from {} ({}:{})",
        m.mount_point, m.fs_type, m.source, m.major, m.minor
    );
    match block_dir(ctx, m).filter(|d| d.exists()) {
        Some(dir) => device_encryption(&dir, what),
        None => (
            Status::Unknown,
            format!("{what}: no block device found in /sys (overlay, network or RAM filesystem)"),
        ),
    }
}

fn device_encryption(dir: &Path, what: String) -> (Status, String) {
    match crypt_layer(dir, 0) {
        Some(kind) => (Status::Pass, format!("{what}: dm-crypt layer {kind} found")),
        None => (
            Status::Fail,
            format!("{what}: no dm-crypt layer in the device or its slaves"),
        ),
    }
}

pub(super) fn disk_encryption(ctx: &Ctx) -> Check {
    let (mounts, from) = match &ctx.mounts {
        Ok(m) => m,
        Err(e) => return ENCRYPTION.check(Status::Unknown, e),
    };
    let Some(root) = mountinfo::visible(mounts, "/") else {
        return ENCRYPTION.check(Status::Unknown, format!("no / mount in {from}"));
    };
    let (status, evidence) = mount_encryption(ctx, root);
    ENCRYPTION.check(status, evidence)
}

pub(super) fn home_encryption(ctx: &Ctx) -> Check {
    let (mounts, from) = match &ctx.mounts {
        Ok(m) => m,
        Err(e) => return HOME_ENCRYPTION.check(Status::Unknown, e),
    };
    let home = mountinfo::visible(mounts, "/home");
    if let Some(m) = home.filter(|m| sandbox_made(m)) {
        return HOME_ENCRYPTION.check(
            Status::Unknown,
            format!(
                "only the service's sandbox over /home is visible ({}: {})",
                m.root,
                view(from)
            ),
        );
    }
    let Some(m) = home.or_else(|| mountinfo::visible(mounts, "/")) else {
        return HOME_ENCRYPTION.check(Status::Unknown, format!("no / mount in {from}"));
    };
    let (status, evidence) = mount_encryption(ctx, m);
    let evidence = if home.is_some() {
        evidence
    } else {
        format!("/home is on the root filesystem; {evidence}")
    };
    HOME_ENCRYPTION.check(status, evidence)
}

pub(super) fn swap_encryption(ctx: &Ctx) -> Check {
    let text = match ctx.root.read_live("/proc/swaps") {
        Ok(t) => t,
        Err(e) => {
            return SWAP_ENCRYPTION.check(Status::Unknown, format!("/proc/swaps {}", sys::why(&e)))
        }
    };
    let areas = procfs::swaps(&text);
    if areas.is_empty() {
        return SWAP_ENCRYPTION.check(Status::Pass, "no swap (/proc/swaps lists none)");
    }
    let (mut bad, mut undecided) = (false, false);
    let mut shown = Vec::new();
    for a in &areas {
        let (status, ev) = swap_area(ctx, a);
        bad |= status == Status::Fail;
        undecided |= status == Status::Unknown;
        shown.push(ev);
    }
    let status = if bad {
        Status::Fail
    } else if undecided {
        Status::Unknown
    } else {
        Status::Pass
    };
    SWAP_ENCRYPTION.check(
        status,
        format!("{} swap area(s): {}", areas.len(), shown.join("; ")),
    )
}

fn swap_area(ctx: &Ctx, a: &procfs::Swap) -> (Status, String) {
    let name = &a.filename;
    // zram lives in RAM, compressed: nothing reaches the disk.
    if name.starts_with("/dev/zram") {
        return (Status::Pass, format!("{name} is zram (compressed RAM)"));
    }
    if a.kind == "file" {
        let Ok((mounts, from)) = &ctx.mounts else {
            return (Status::Unknown, format!("swap file {name}: no mount table"));
        };
        return match mountinfo::containing(mounts, name) {
            Some(m) => {
                let (s, ev) = mount_encryption(ctx, m);
                (s, format!("swap file {name}: {ev}"))
            }
            None => (
                Status::Unknown,
                format!("swap file {name}: no mount holds it in {from}"),
            ),
        };
    }
    match device_dir(ctx, name).filter(|d| d.exists()) {
        Some(dir) => device_encryption(&dir, format!("{name} ({})", a.kind)),
        None => (
            Status::Unknown,
            format!("{name} ({}): no block device found in /sys", a.kind),
        ),
    }
}

/// Whether a mount is one the service's own sandbox made (PrivateTmp, ProtectHome), seen
/// in our own mount table when the host's is not readable.
fn sandbox_made(m: &Mount) -> bool {
    m.root.contains("systemd-private-") || m.root.contains("/systemd/inaccessible")
}

fn view(from: &str) -> String {
    if from == "/proc/1/mountinfo" {
        "host view, /proc/1/mountinfo".to_string()
    } else {
        format!("own view, {from}: /proc/1/mountinfo not readable")
    }
}

fn mount_options(ctx: &Ctx, r: &MountRule) -> Check {
    let (mounts, from) = match &ctx.mounts {
        Ok(m) => m,
        Err(e) => return r.rule.check(Status::Unknown, e),
    };
    let (path, view) = (r.path, view(from));
    let Some(m) = mountinfo::visible(mounts, path) else {
        return r.rule.check(
            Status::Fail,
            format!("{path} is not a separate mount ({view})"),
        );
    };
    if sandbox_made(m) {
        return r.rule.check(
            Status::Unknown,
            format!("only the service's private {path} is visible ({view})"),
        );
    }
    let missing: Vec<&str> = r
        .options
        .iter()
        .copied()
        .filter(|o| !m.has_option(o))
        .collect();
    let evidence = if missing.is_empty() {
        format!(
            "{path} is {} with {} ({view})",
            m.fs_type,
            r.options.join(",")
        )
    } else {
        format!(
            "{path} is {} without {} ({view})",
            m.fs_type,
            missing.join(",")
        )
    };
    r.rule.check(pass_if(missing.is_empty()), evidence)
}

pub(super) fn tmp_options(ctx: &Ctx) -> Check {
    mount_options(ctx, &TMP)
}

pub(super) fn var_tmp_options(ctx: &Ctx) -> Check {
    mount_options(ctx, &VAR_TMP)
}

pub(super) fn dev_shm_options(ctx: &Ctx) -> Check {
    mount_options(ctx, &DEV_SHM)
}

pub(super) fn home_options(ctx: &Ctx) -> Check {
    mount_options(ctx, &HOME)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::write;
    use super::super::{Ctx, Status};
    use super::*;
    use crate::collect::Root;
    use std::fs;

    use super::super::testutil::run_check as run;

    const ROOT_ON_DM1: &str = "22 1 254:1 / / rw,relatime - ext4 /dev/mapper/vg-root rw\n";

    #[test]
    fn lvm_on_luks_passes_through_slaves() {
        let c = run(
            &[
                ("/proc/1/mountinfo", ROOT_ON_DM1),
                ("/sys/dev/block/254:1/dm/uuid", "LVM-abcdef\n"),
                (
                    "/sys/dev/block/254:1/slaves/dm-0/dm/uuid",
                    "CRYPT-LUKS2-0123456789abcdef-sda3_crypt\n",
                ),
            ],
            disk_encryption,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("LUKS2"));
    }

    #[test]
    fn plain_partition_fails_and_overlay_is_unknown() {
        let c = run(
            &[
                (
                    "/proc/1/mountinfo",
                    "22 1 179:2 / / rw - ext4 /dev/mmcblk0p2 rw\n",
                ),
                ("/sys/dev/block/179:2/partition", "2\n"),
            ],
            disk_encryption,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.contains("/dev/mmcblk0p2 (179:2)"));
        let c = run(
            &[(
                "/proc/1/mountinfo",
                "22 1 0:30 / / rw - overlay overlay rw\n",
            )],
            disk_encryption,
        );
        assert_eq!(c.status, Status::Unknown);
    }

    #[test]
    fn btrfs_on_mapper_device_is_found_by_name() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[
                (
                    "/proc/1/mountinfo",
                    "22 1 0:31 /@rootfs / rw - btrfs /dev/mapper/cryptroot rw\n",
                ),
                ("/sys/block/dm-0/dm/name", "cryptroot\n"),
                ("/sys/block/dm-0/dm/uuid", "CRYPT-LUKS1-aa-cryptroot\n"),
            ],
        );
        let c = disk_encryption(&Ctx::load(&Root::at(dir.path()).with_live(dir.path())));
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        fs::write(dir.path().join("sys/block/dm-0/dm/uuid"), "LVM-xyz\n").unwrap();
        let c = disk_encryption(&Ctx::load(&Root::at(dir.path()).with_live(dir.path())));
        assert_eq!(c.status, Status::Fail);
    }

    #[test]
    fn tmp_options_pass_fail_and_views() {
        let good = "22 1 254:1 / / rw - ext4 /dev/vda1 rw\n41 22 0:38 / /tmp rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw\n";
        let c = run(&[("/proc/1/mountinfo", good)], tmp_options);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("host view"));
        let debian13 = "22 1 254:1 / / rw - ext4 /dev/vda1 rw\n41 22 0:38 / /tmp rw,nosuid,nodev - tmpfs tmpfs rw\n";
        let c = run(&[("/proc/1/mountinfo", debian13)], tmp_options);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("without noexec"));
        let c = run(
            &[(
                "/proc/1/mountinfo",
                "22 1 254:1 / / rw - ext4 /dev/vda1 rw\n",
            )],
            tmp_options,
        );
        assert_eq!(c.status, Status::Fail);
        let private = "22 1 254:1 / / rw - ext4 /dev/vda1 rw\n50 22 254:1 /tmp/systemd-private-abc-grappe-agent.service-x/tmp /tmp rw,nosuid,nodev - ext4 /dev/vda1 rw\n";
        let c = run(&[("/proc/self/mountinfo", private)], tmp_options);
        assert_eq!(c.status, Status::Unknown);
        assert!(c.evidence.contains("own view"), "{}", c.evidence);
    }

    const ROOT_PLAIN: &str = "22 1 179:2 / / rw - ext4 /dev/mmcblk0p2 rw\n";
    const SYS_PLAIN: (&str, &str) = ("/sys/dev/block/179:2/partition", "2\n");

    #[test]
    fn dev_shm_var_tmp_and_home_options() {
        let mounts = format!(
            "{ROOT_PLAIN}\
             30 22 0:25 / /dev rw,nosuid,relatime - devtmpfs udev rw\n\
             31 30 0:26 / /dev/shm rw,nosuid,nodev,noexec - tmpfs tmpfs rw\n\
             40 22 179:3 / /var/tmp rw,nosuid,nodev,noexec,relatime - ext4 /dev/mmcblk0p3 rw\n\
             41 22 179:4 / /home rw,nosuid,nodev,relatime - ext4 /dev/mmcblk0p4 rw\n"
        );
        for check in [dev_shm_options, var_tmp_options, home_options] {
            let c = run(&[("/proc/1/mountinfo", &mounts)], check);
            assert_eq!(c.status, Status::Pass, "{}: {}", c.id, c.evidence);
            assert!(c.evidence.contains("(host view"), "{}", c.evidence);
        }
        // Debian's defaults: /dev/shm without noexec, /var/tmp and /home on the root.
        let debian = format!(
            "{ROOT_PLAIN}31 22 0:26 / /dev/shm rw,nosuid,nodev - tmpfs tmpfs rw\n\
             41 22 179:4 / /home rw,relatime - ext4 /dev/mmcblk0p4 rw\n"
        );
        let c = run(&[("/proc/1/mountinfo", &debian)], dev_shm_options);
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.evidence,
            "/dev/shm is tmpfs without noexec (host view, /proc/1/mountinfo)"
        );
        let c = run(&[("/proc/1/mountinfo", &debian)], var_tmp_options);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.starts_with("/var/tmp is not a separate mount"));
        let c = run(&[("/proc/1/mountinfo", &debian)], home_options);
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.evidence.contains("without nodev,nosuid"),
            "{}",
            c.evidence
        );
        let c = run(&[("/proc/1/mountinfo", ROOT_PLAIN)], home_options);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.starts_with("/home is not a separate mount"));
        for check in [dev_shm_options, var_tmp_options, home_options] {
            assert_eq!(run(&[], check).status, Status::Unknown);
        }
    }

    /// The service's own mount table (hidepid hides /proc/1): PrivateTmp covers /var/tmp,
    /// ProtectHome=yes covers /home with an inaccessible directory.
    #[test]
    fn sandbox_mounts_in_own_view_are_unknown() {
        let own = format!(
            "{ROOT_PLAIN}\
             50 22 179:2 /tmp/systemd-private-abc-grappe-agent.service-x/tmp /var/tmp rw,nosuid,nodev - ext4 /dev/mmcblk0p2 rw\n\
             51 22 0:27 /systemd/inaccessible/dir /home ro,nosuid,nodev,noexec - tmpfs tmpfs rw\n"
        );
        for check in [var_tmp_options, home_options, home_encryption] {
            let c = run(&[("/proc/self/mountinfo", &own)], check);
            assert_eq!(c.status, Status::Unknown, "{}: {}", c.id, c.evidence);
            assert!(c.evidence.contains("own view"), "{}", c.evidence);
        }
    }

    #[test]
    fn home_encryption_cases() {
        let luks_home = format!("{ROOT_PLAIN}41 22 254:2 / /home rw - ext4 /dev/mapper/home rw\n");
        let crypt = ("/sys/dev/block/254:2/dm/uuid", "CRYPT-LUKS2-00ff-home\n");
        let c = run(&[("/proc/1/mountinfo", &luks_home), crypt], home_encryption);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert_eq!(
            c.evidence,
            "/home is ext4 from /dev/mapper/home (254:2): dm-crypt layer LUKS2 found"
        );
        let c = run(
            &[("/proc/1/mountinfo", ROOT_PLAIN), SYS_PLAIN],
            home_encryption,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.evidence
                .starts_with("/home is on the root filesystem; / is ext4"),
            "{}",
            c.evidence
        );
        let nfs = format!("{ROOT_PLAIN}41 22 0:52 / /home rw - nfs4 nas:/export/home rw\n");
        let c = run(&[("/proc/1/mountinfo", &nfs), SYS_PLAIN], home_encryption);
        assert_eq!(c.status, Status::Unknown);
        assert!(c.evidence.contains("no block device"), "{}", c.evidence);
        assert_eq!(run(&[], home_encryption).status, Status::Unknown);
    }

    const SWAPS_HEADER: &str = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";

    fn swaps(lines: &str) -> String {
        format!("{SWAPS_HEADER}{lines}")
    }

    #[test]
    fn swap_encryption_cases() {
        let c = run(&[("/proc/swaps", SWAPS_HEADER)], swap_encryption);
        assert_eq!(
            (c.status, c.evidence.as_str()),
            (Status::Pass, "no swap (/proc/swaps lists none)")
        );
        let zram = swaps("/dev/zram0 partition 1003516 0 100\n");
        let c = run(&[("/proc/swaps", &zram)], swap_encryption);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("zram"));
        // Debian's installer: swap on dm-crypt with a random key (crypttab `swap`).
        let dm = swaps("/dev/dm-1 partition 1003516 0 -2\n");
        let c = run(
            &[
                ("/proc/swaps", &dm),
                ("/sys/class/block/dm-1/dm/uuid", "CRYPT-PLAIN-sda5_crypt\n"),
            ],
            swap_encryption,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(
            c.evidence.contains("dm-crypt layer PLAIN"),
            "{}",
            c.evidence
        );
        let plain = swaps("/dev/zram0 partition 1 0 100\n/dev/sda5 partition 1003516 0 -2\n");
        let c = run(
            &[
                ("/proc/swaps", &plain),
                ("/sys/class/block/sda5/partition", "5\n"),
            ],
            swap_encryption,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.starts_with("2 swap area(s): "), "{}", c.evidence);
        assert!(c
            .evidence
            .contains("/dev/sda5 (partition): no dm-crypt layer"));
        let c = run(&[("/proc/swaps", &dm)], swap_encryption);
        assert_eq!(c.status, Status::Unknown, "{}", c.evidence);
        assert_eq!(run(&[], swap_encryption).status, Status::Unknown);
    }

    #[test]
    fn swap_file_is_judged_by_the_filesystem_holding_it() {
        let file = swaps("/var/swap file 102396 0 -2\n");
        let c = run(
            &[
                ("/proc/swaps", &file),
                ("/proc/1/mountinfo", ROOT_PLAIN),
                SYS_PLAIN,
            ],
            swap_encryption,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(
            c.evidence
                .contains("swap file /var/swap: / is ext4 from /dev/mmcblk0p2"),
            "{}",
            c.evidence
        );
        let c = run(
            &[
                ("/proc/swaps", &file),
                ("/proc/1/mountinfo", ROOT_ON_DM1),
                (
                    "/sys/dev/block/254:1/slaves/dm-0/dm/uuid",
                    "CRYPT-LUKS2-aa-root\n",
                ),
            ],
            swap_encryption,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        let c = run(&[("/proc/swaps", &file)], swap_encryption);
        assert_eq!(c.status, Status::Unknown, "{}", c.evidence);
    }
}
