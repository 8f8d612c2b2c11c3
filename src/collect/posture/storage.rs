//! Storage: full-disk encryption of the root filesystem and /tmp mount options.

use super::{pass_if, sys, Check, Ctx, Rule, Severity, Status};
use crate::collect::max;
use crate::fsutil;
use crate::parse::mountinfo::{self, Mount};
use std::path::{Path, PathBuf};

const ENCRYPTION: Rule = Rule {
    id: "disk.encryption",
    title: "The root filesystem is on an encrypted (dm-crypt/LUKS) device",
    severity: Severity::High,
    // Neither BP-028 nor the CIS Debian benchmark has a disk-encryption rule.
    reference: "ANSSI, Recommandations sur le nomadisme numérique (ANSSI-PA-054): chiffrement des supports de stockage des équipements mobiles",
};

const TMP: Rule = Rule {
    id: "fs.tmp_mount",
    title: "/tmp is a separate mount with nodev, nosuid, noexec",
    severity: Severity::Low,
    reference: "ANSSI BP-028 v2.0 R28 (Partitionnement type: /tmp nosuid,nodev,noexec)",
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
    let name = m.source.strip_prefix("/dev/")?;
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

pub(super) fn disk_encryption(ctx: &Ctx) -> Check {
    let (mounts, from) = match &ctx.mounts {
        Ok(m) => m,
        Err(e) => return ENCRYPTION.check(Status::Unknown, e),
    };
    let Some(root) = mountinfo::visible(mounts, "/") else {
        return ENCRYPTION.check(Status::Unknown, format!("no / mount in {from}"));
    };
    let what = format!(
        "/ is {} from {} ({}:{})",
        root.fs_type, root.source, root.major, root.minor
    );
    let Some(dir) = block_dir(ctx, root).filter(|d| d.exists()) else {
        return ENCRYPTION.check(
            Status::Unknown,
            format!("{what}: no block device found in /sys (overlay, network or RAM filesystem)"),
        );
    };
    match crypt_layer(&dir, 0) {
        Some(kind) => {
            ENCRYPTION.check(Status::Pass, format!("{what}: dm-crypt layer {kind} found"))
        }
        None => ENCRYPTION.check(
            Status::Fail,
            format!("{what}: no dm-crypt layer in the device or its slaves"),
        ),
    }
}

const TMP_OPTIONS: [&str; 3] = ["nodev", "nosuid", "noexec"];

pub(super) fn tmp_options(ctx: &Ctx) -> Check {
    let (mounts, from) = match &ctx.mounts {
        Ok(m) => m,
        Err(e) => return TMP.check(Status::Unknown, e),
    };
    let view = if *from == "/proc/1/mountinfo" {
        "host view, /proc/1/mountinfo".to_string()
    } else {
        format!("own view, {from}: /proc/1/mountinfo not readable")
    };
    let Some(tmp) = mountinfo::visible(mounts, "/tmp") else {
        return TMP.check(
            Status::Fail,
            format!("/tmp is not a separate mount ({view})"),
        );
    };
    // Our own view under PrivateTmp shows the service's private directory, not the host's.
    if tmp.root.contains("systemd-private-") {
        return TMP.check(
            Status::Unknown,
            format!("only the service's private /tmp is visible ({view})"),
        );
    }
    let missing: Vec<&str> = TMP_OPTIONS
        .into_iter()
        .filter(|o| !tmp.has_option(o))
        .collect();
    let evidence = if missing.is_empty() {
        format!(
            "/tmp is {} with {} ({view})",
            tmp.fs_type,
            TMP_OPTIONS.join(",")
        )
    } else {
        format!(
            "/tmp is {} without {} ({view})",
            tmp.fs_type,
            missing.join(",")
        )
    };
    TMP.check(pass_if(missing.is_empty()), evidence)
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
}
