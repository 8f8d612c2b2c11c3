//! Patch status: what apt would upgrade and which of it fixes security issues, is the OS
//! still supported, are apt's lists fresh, is a reboot pending.
//!
//! The upgradable packages are computed natively from apt's own files, the way apt
//! computes them (`upgradable`, with `index` and `policy`). When apt itself could not
//! answer, `upgradable`, `upgradable_count` and `security_count` are `null` and
//! `problems` says why, never an invented zero.

use super::inventory::Reader;
use super::posture::sys;
use super::{apt_periodic, Root};
use crate::parse::os_release::OsRelease;
use std::io;
use std::path::Path;
use std::time::SystemTime;

/// End-of-support dates per OS release; see the file's header for sources and choices.
const OS_EOL: &str = include_str!("os_eol.csv");

pub mod index;
pub mod kernel;
pub mod memo;
pub mod policy;
pub mod upgradable;

pub use crate::wire::patches::{Patches, Upgradable};

/// The patch report; `memo_dir` keeps the upgradable packages' memo (see [`memo`]).
pub fn collect(root: &Root, memo_dir: Option<&Path>) -> Patches {
    collect_at(root, memo_dir, SystemTime::now())
}

/// [`collect`] as if the clock said `now` (tests).
fn collect_at(root: &Root, memo_dir: Option<&Path>, now: SystemTime) -> Patches {
    let mut r = Reader::new(root);
    let upgradable = memo::compute(root, memo_dir);
    r.problems.extend(upgradable.problems);
    let eol = r.os_release().and_then(|os| end_of_life(&mut r, &os));
    let today = crate::wire::rfc3339(now);
    // Read once for the automatic updates and the kernel check (the upgradable packages
    // come from the memo, or read it their own way).
    let mut unattended = false;
    let mut images = Vec::new();
    let status = super::each_installed(root, |p| {
        unattended |= p.name == "unattended-upgrades";
        images.extend(kernel::image(&p));
    });
    let auto_updates = apt_periodic::auto_updates_with(
        root,
        status.is_ok().then_some(unattended),
        &sys::Units::load(root),
    );
    if auto_updates.enabled.is_none() {
        r.note(upgradable::STATUS, &auto_updates.evidence);
    }
    let (reboot_required, reboot_required_packages) = if root.live_matches_disk() {
        let mut flag = exists(&mut r, REBOOT_REQUIRED);
        let mut packages = reboot_packages(&mut r);
        let osrelease = r.live_opt("/proc/sys/kernel/osrelease");
        let version = r.live_opt("/proc/version").unwrap_or_default();
        if let (Ok(()), Some(osrelease)) = (&status, osrelease) {
            if let kernel::Kernel::Outdated { package } =
                kernel::check(&images, &osrelease, &version)
            {
                flag = Some(true);
                if let Some(list) = packages.as_mut() {
                    if !list.contains(&package) {
                        list.push(package);
                        list.sort();
                    }
                }
            }
        }
        (flag, packages)
    } else {
        // An image's /run is empty at rest (tmpfs), and /var/run links to it: what could be
        // read is the running host's flag, not the image's.
        r.note(
            REBOOT_REQUIRED,
            "runtime state in /run: not known for an image (--root)",
        );
        (None, None)
    };
    Patches {
        end_of_life_reached: eol.map(|e| today.get(..10).is_some_and(|t| t > e.end_of_life)),
        os_end_of_life: eol.map(|e| e.end_of_life.to_owned()),
        os_regular_support_end: eol.map(|e| e.regular_end.to_owned()),
        package_lists_age_s: package_lists_age(&mut r, now),
        upgradable_count: upgradable.upgradable.as_ref().map(Vec::len),
        security_count: upgradable
            .upgradable
            .as_ref()
            .map(|u| u.iter().filter(|u| u.security).count()),
        upgradable: upgradable.upgradable,
        reboot_required,
        reboot_required_packages,
        auto_updates_enabled: auto_updates.enabled,
        problems: r.problems,
    }
}

/// Written by packages that need a reboot (update-notifier-common / unattended-upgrades).
/// It lives in /run (tmpfs, `/var/run` is a link to it): live state, read as such. A
/// running kernel older than the newest installed one also calls for a reboot (`kernel`).
const REBOOT_REQUIRED: &str = "/run/reboot-required";

/// Whether a live file exists; `None` (with a note) when that cannot be told.
fn exists(r: &mut Reader, abs: &str) -> Option<bool> {
    match std::fs::metadata(r.root.live(abs)) {
        Ok(_) => Some(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some(false),
        Err(e) => {
            r.note(abs, e);
            None
        }
    }
}

/// `/run/reboot-required.pkgs` (one package per line, repeated when several upgrades
/// asked); empty when absent, as no package asked.
fn reboot_packages(r: &mut Reader) -> Option<Vec<String>> {
    const PKGS: &str = "/run/reboot-required.pkgs";
    let text = match r.root.read_live(PKGS) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Some(Vec::new()),
        Err(e) => {
            r.note(PKGS, e);
            return None;
        }
    };
    let mut list: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    list.sort();
    list.dedup();
    Some(list)
}

/// One row of `os_eol.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EolRow<'a> {
    id: &'a str,
    version_id: &'a str,
    codename: &'a str,
    regular_end: &'a str,
    end_of_life: &'a str,
}

fn eol_rows(csv: &str) -> impl Iterator<Item = EolRow<'_>> {
    csv.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("id,"))
        .filter_map(|l| {
            let mut f = l.split(',').map(str::trim);
            Some(EolRow {
                id: f.next()?,
                version_id: f.next()?,
                codename: f.next()?,
                regular_end: f.next()?,
                end_of_life: f.next()?,
            })
        })
}

/// The end-of-life date of this OS release, if the table knows it. Raspberry Pi OS
/// (`raspbian` on armhf, `debian` on arm64) is Debian; Debian matches on the major
/// version (`VERSION_ID` is `12`, older point releases wrote `10.13`).
fn end_of_life(r: &mut Reader, os: &OsRelease) -> Option<EolRow<'static>> {
    let id = match os.id.as_deref()? {
        "debian" | "raspbian" => "debian",
        other => other,
    };
    let Some(version) = os.version_id.as_deref() else {
        if id == "debian" {
            r.note(
                "/etc/os-release",
                "no VERSION_ID: Debian testing/unstable has no end-of-life date",
            );
        }
        return None;
    };
    let version = if id == "debian" {
        version.split('.').next().unwrap_or(version)
    } else {
        version
    };
    let Some(row) = eol_rows(OS_EOL).find(|row| row.id == id && row.version_id == version) else {
        r.note(
            "os_eol.csv",
            format!("no end-of-life entry for ID={id} VERSION_ID={version}"),
        );
        return None;
    };
    if let Some(codename) = os.version_codename.as_deref() {
        if codename != row.codename {
            r.note(
                "/etc/os-release",
                format!(
                    "VERSION_ID={version} but VERSION_CODENAME={codename}, expected {}",
                    row.codename
                ),
            );
            return None;
        }
    }
    Some(row)
}

/// Seconds since apt last refreshed its lists: the newest `*Release`/`*InRelease` file
/// under `/var/lib/apt/lists`, or apt's periodic success stamp when that is newer (an
/// update that fetched nothing new does not touch the lists).
fn package_lists_age(r: &mut Reader, now: SystemTime) -> Option<u64> {
    const LISTS: &str = "/var/lib/apt/lists";
    const STAMP: &str = "/var/lib/apt/periodic/update-success-stamp";
    let entries = match std::fs::read_dir(r.root.file(LISTS)) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            r.note(LISTS, e);
            return None;
        }
    };
    let newest_list = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.ends_with("Release"))
        })
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max()?;
    let stamp = match std::fs::metadata(r.root.file(STAMP)).and_then(|m| m.modified()) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            r.note(STAMP, e);
            None
        }
    };
    let newest = stamp.map_or(newest_list, |s| s.max(newest_list));
    Some(now.duration_since(newest).map_or(0, |d| d.as_secs()))
}

#[cfg(test)]
mod tests;
