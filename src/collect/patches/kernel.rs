//! Whether the running kernel is older than the newest one installed: a reboot is due
//! even when no package wrote `/run/reboot-required` (Debian's kernel packages do not).
//!
//! Kernel image packages are named after the release they install (`linux-image-6.1.0-28-
//! amd64`, Raspberry Pi OS `linux-image-6.6.51+rpt-rpi-v8`, Ubuntu `linux-image-5.15.0-91-
//! generic`). Two cases call for a reboot:
//! - a newer release of the running flavour is installed (`-30-amd64` beside a running
//!   `-28-amd64`);
//! - the running release's own package was upgraded in place (same ABI, new build): the
//!   package version is newer than the build the kernel reports in `/proc/version`
//!   (`... Debian 6.1.119-1 (2024-11-22)`).
//!
//! A system without such packages (a container, a board booting a kernel the packages do
//! not name) gives no answer from this check.

use crate::parse::{debversion, dpkg};
use std::cmp::Ordering;

/// What the check found: the package that wants the reboot, if one does; `None` when
/// there is nothing to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kernel {
    Unknown,
    Current,
    Outdated { package: String },
}

const PREFIX: &str = "linux-image-";

/// An installed kernel image: the release it installs and the package's version.
pub type Image = (String, String);

/// The kernel image an installed package is, if it is one.
pub fn image(p: &dpkg::Package) -> Option<Image> {
    let release = p.name.strip_prefix(PREFIX)?;
    let release = release.strip_suffix("-unsigned").unwrap_or(release);
    release
        .starts_with(|c: char| c.is_ascii_digit())
        .then(|| (release.to_owned(), p.version.to_owned()))
}

/// Compares the running kernel (`osrelease`: `/proc/sys/kernel/osrelease`, `version`:
/// `/proc/version`) with the installed kernel `images`.
pub fn check(images: &[Image], osrelease: &str, version: &str) -> Kernel {
    let running = osrelease.trim();
    let running_flavour = flavour(running);
    if images.is_empty() || running.is_empty() {
        return Kernel::Unknown;
    }
    let newest = images
        .iter()
        .filter(|(release, _)| flavour(release) == running_flavour)
        .max_by(|a, b| debversion::compare(&a.0, &b.0));
    if let Some((release, _)) = newest {
        if debversion::compare(release, running) == Ordering::Greater {
            return Kernel::Outdated {
                package: format!("{PREFIX}{release}"),
            };
        }
    }
    let Some((_, installed)) = images.iter().find(|(release, _)| release == running) else {
        // The running kernel is not one of the packages (built locally, or removed).
        return Kernel::Unknown;
    };
    match running_build(version) {
        Some(build) if debversion::compare(installed, build) == Ordering::Greater => {
            Kernel::Outdated {
                package: format!("{PREFIX}{running}"),
            }
        }
        Some(_) => Kernel::Current,
        None => Kernel::Current,
    }
}

/// The flavour of a release: what follows the version and the ABI number
/// (`6.1.0-28-amd64` → `amd64`, `6.6.51+rpt-rpi-v8` → `rpi-v8`).
fn flavour(release: &str) -> &str {
    let mut parts = release.splitn(2, '-');
    parts.next();
    let rest = parts.next().unwrap_or("");
    match rest.split_once('-') {
        Some((abi, flavour)) if abi.bytes().all(|b| b.is_ascii_digit()) => flavour,
        _ if rest.bytes().all(|b| b.is_ascii_digit()) => "",
        _ => rest,
    }
}

/// The package version the running kernel was built as: Debian and Raspberry Pi OS write
/// `Debian 6.1.119-1` in `/proc/version`, Ubuntu `#101-Ubuntu`, which names no version.
fn running_build(version: &str) -> Option<&str> {
    let mut words = version.split_ascii_whitespace();
    while let Some(word) = words.next() {
        if word == "Debian" {
            return words
                .next()
                .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`check`] against the images installed in a status file's text.
    fn check_in(status: &str, osrelease: &str, version: &str) -> Kernel {
        let images: Vec<Image> = dpkg::installed(status).filter_map(|p| image(&p)).collect();
        check(&images, osrelease, version)
    }

    fn status(images: &[(&str, &str)]) -> String {
        let mut s = String::from("Package: linux-image-amd64\nStatus: install ok installed\nArchitecture: amd64\nVersion: 6.1.123-1\n\n");
        for (name, version) in images {
            s.push_str(&format!(
                "Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n\n"
            ));
        }
        s
    }

    const PROC: &str = "Linux version 6.1.0-28-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)";

    #[test]
    fn a_newer_release_of_the_running_flavour_wants_a_reboot() {
        let s = status(&[
            ("linux-image-6.1.0-28-amd64", "6.1.119-1"),
            ("linux-image-6.1.0-30-amd64", "6.1.124-1"),
            ("linux-image-6.1.0-31-rt-amd64", "6.1.128-1"),
        ]);
        assert_eq!(
            check_in(&s, "6.1.0-28-amd64\n", PROC),
            Kernel::Outdated {
                package: "linux-image-6.1.0-30-amd64".into()
            }
        );
        let booted_30 = PROC
            .replace("6.1.0-28", "6.1.0-30")
            .replace("6.1.119-1", "6.1.124-1");
        assert_eq!(check_in(&s, "6.1.0-30-amd64", &booted_30), Kernel::Current);
    }

    #[test]
    fn the_running_package_upgraded_in_place_wants_a_reboot() {
        let s = status(&[("linux-image-6.1.0-28-amd64", "6.1.119-2")]);
        assert_eq!(
            check_in(&s, "6.1.0-28-amd64", PROC),
            Kernel::Outdated {
                package: "linux-image-6.1.0-28-amd64".into()
            }
        );
        let s = status(&[("linux-image-6.1.0-28-amd64", "6.1.119-1")]);
        assert_eq!(check_in(&s, "6.1.0-28-amd64", PROC), Kernel::Current);
    }

    #[test]
    fn boards_and_containers() {
        // Raspberry Pi OS: rpi-v8 and rpi-2712 flavours side by side.
        let s = status(&[
            ("linux-image-6.6.51+rpt-rpi-v8", "1:6.6.51-1+rpt3"),
            ("linux-image-6.6.62+rpt-rpi-v8", "1:6.6.62-1+rpt1"),
            ("linux-image-6.6.62+rpt-rpi-2712", "1:6.6.62-1+rpt1"),
        ]);
        assert_eq!(
            check_in(&s, "6.6.51+rpt-rpi-v8", "Linux version 6.6.51+rpt-rpi-v8 #1 SMP PREEMPT Debian 1:6.6.51-1+rpt3 (2024-10-08) aarch64"),
            Kernel::Outdated {
                package: "linux-image-6.6.62+rpt-rpi-v8".into()
            }
        );
        // No kernel package at all (this machine, a container): nothing to say.
        assert_eq!(
            check_in(&status(&[]), "6.18.44-fc-v1045", "Linux version 6.18.44"),
            Kernel::Unknown
        );
        assert_eq!(flavour("5.15.0-91-generic"), "generic");
        assert_eq!(flavour("6.1.0-28"), "");
    }
}
