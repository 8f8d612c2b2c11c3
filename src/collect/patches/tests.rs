use super::*;
use std::fs;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// 2026-11-23T10:00:00Z.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_428_000)
}

fn put(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn set_mtime(path: &Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// A fake device in `dir`: on-disk and live files in one tree, with a dpkg database (an
/// installed system always has one; without it auto-updates cannot be told).
fn device(dir: &Path) -> Root {
    let status = dir.join("var/lib/dpkg/status");
    if !status.exists() {
        put(dir, "var/lib/dpkg/status", "Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4\n\n");
    }
    Root::at(dir).with_live(dir)
}

/// Debian 12's os-release in `dir`.
fn debian12(dir: &Path) {
    put(dir, "etc/os-release", &os("debian", "12", "bookworm"));
}

fn os(id: &str, version_id: &str, codename: &str) -> String {
    format!("ID={id}\nVERSION_ID=\"{version_id}\"\nVERSION_CODENAME={codename}\n")
}

#[test]
fn eol_table_is_well_formed() {
    let rows: Vec<_> = eol_rows(OS_EOL).collect();
    let data_lines = OS_EOL
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with("id,"))
        .count();
    assert_eq!(rows.len(), data_lines, "every data line parses");
    let format = time::macros::format_description!("[year]-[month]-[day]");
    for row in &rows {
        let regular = time::Date::parse(row.regular_end, format).unwrap();
        let eol = time::Date::parse(row.end_of_life, format).unwrap();
        assert!(regular <= eol, "{row:?}");
    }
    for v in ["10", "11", "12", "13"] {
        let row = rows.iter().find(|r| r.id == "debian" && r.version_id == v);
        let row = row.unwrap_or_else(|| panic!("Debian {v} listed"));
        assert!(
            row.regular_end < row.end_of_life,
            "Debian LTS runs past regular support"
        );
    }
    for v in ["20.04", "22.04", "24.04"] {
        assert!(rows.iter().any(|r| r.id == "ubuntu" && r.version_id == v));
    }
}

#[test]
fn eol_reached_and_not_reached() {
    let cases = [
        (
            os("debian", "12", "bookworm"),
            Some("2028-06-30"),
            Some(false),
        ),
        (
            os("debian", "11", "bullseye"),
            Some("2026-08-31"),
            Some(true),
        ),
        (os("debian", "10", "buster"), Some("2024-06-30"), Some(true)),
        (
            os("raspbian", "12", "bookworm"),
            Some("2028-06-30"),
            Some(false),
        ),
        (
            os("ubuntu", "24.04", "noble"),
            Some("2029-04-30"),
            Some(false),
        ),
        (
            os("ubuntu", "20.04", "focal"),
            Some("2025-05-31"),
            Some(true),
        ),
        // Debian testing: no VERSION_ID, no date.
        ("ID=debian\nVERSION_CODENAME=trixie\n".into(), None, None),
        // Unknown distribution and mismatching codename: no date, with a note.
        (os("fedora", "41", ""), None, None),
        (os("debian", "12", "trixie"), None, None),
    ];
    for (text, date, reached) in cases {
        let dir = tempfile::tempdir().unwrap();
        put(dir.path(), "usr/lib/os-release", &text);
        let p = collect_at(&device(dir.path()), None, now());
        assert_eq!(p.os_end_of_life.as_deref(), date, "{text}");
        assert_eq!(p.end_of_life_reached, reached, "{text}");
        assert_eq!(
            date.is_none(),
            !p.problems.is_empty(),
            "{text}: {:?}",
            p.problems
        );
    }
}

#[test]
fn eol_day_itself_is_still_supported() {
    let dir = tempfile::tempdir().unwrap();
    put(
        dir.path(),
        "etc/os-release",
        &os("debian", "11", "bullseye"),
    );
    let day = UNIX_EPOCH + Duration::from_secs(1_788_220_799); // 2026-08-31T23:59:59Z
    assert_eq!(
        collect_at(&Root::at(dir.path()).with_live(dir.path()), None, day).end_of_life_reached,
        Some(false)
    );
    let next = day + Duration::from_secs(1);
    assert_eq!(
        collect_at(&Root::at(dir.path()).with_live(dir.path()), None, next).end_of_life_reached,
        Some(true)
    );
}

#[test]
fn reboot_required_absent_then_present() {
    let dir = tempfile::tempdir().unwrap();
    debian12(dir.path());
    let root = device(dir.path());
    let p = collect_at(&root, None, now());
    assert_eq!(p.reboot_required, Some(false));
    assert_eq!(p.reboot_required_packages, Some(vec![]));

    put(
        dir.path(),
        "run/reboot-required",
        "*** System restart required ***\n",
    );
    put(
        dir.path(),
        "run/reboot-required.pkgs",
        "linux-image-6.1.0-27-arm64\nlibc6\nlinux-image-6.1.0-27-arm64\n\n",
    );
    let p = collect_at(&root, None, now());
    assert_eq!(p.reboot_required, Some(true));
    assert_eq!(
        p.reboot_required_packages.unwrap(),
        ["libc6", "linux-image-6.1.0-27-arm64"]
    );
    assert!(p.problems.is_empty(), "{:?}", p.problems);
}

#[test]
fn a_running_kernel_older_than_the_installed_one_wants_a_reboot() {
    let dir = tempfile::tempdir().unwrap();
    debian12(dir.path());
    put(
        dir.path(),
        "var/lib/dpkg/status",
        "Package: linux-image-6.1.0-28-arm64\nStatus: install ok installed\nArchitecture: arm64\nVersion: 6.1.119-1\n\nPackage: linux-image-6.1.0-30-arm64\nStatus: install ok installed\nArchitecture: arm64\nVersion: 6.1.124-1\n\n",
    );
    put(dir.path(), "proc/sys/kernel/osrelease", "6.1.0-28-arm64\n");
    put(
        dir.path(),
        "proc/version",
        "Linux version 6.1.0-28-arm64 (debian-kernel@lists.debian.org) #1 SMP Debian 6.1.119-1 (2024-11-22)\n",
    );
    // No package wrote /run/reboot-required: the kernel alone tells.
    let p = collect_at(&device(dir.path()), None, now());
    assert_eq!(p.reboot_required, Some(true));
    assert_eq!(
        p.reboot_required_packages.unwrap(),
        ["linux-image-6.1.0-30-arm64"]
    );
    // Booted into the newest: nothing to do.
    put(dir.path(), "proc/sys/kernel/osrelease", "6.1.0-30-arm64\n");
    put(
        dir.path(),
        "proc/version",
        "Linux version 6.1.0-30-arm64 #1 SMP Debian 6.1.124-1 (2025-01-10)\n",
    );
    let p = collect_at(&device(dir.path()), None, now());
    assert_eq!(p.reboot_required, Some(false));
}

#[test]
fn unreadable_file_gives_null_and_a_note() {
    let dir = tempfile::tempdir().unwrap();
    debian12(dir.path());
    // A directory where a file is expected: reading it fails even as root.
    fs::create_dir_all(dir.path().join("run/reboot-required.pkgs")).unwrap();
    let p = collect_at(&device(dir.path()), None, now());
    assert_eq!(p.reboot_required_packages, None);
    assert_eq!(p.problems.len(), 1);
    assert_eq!(p.problems[0].file, "/run/reboot-required.pkgs");
}

#[test]
fn reboot_required_of_an_image_is_unknown_not_the_hosts() {
    let dir = tempfile::tempdir().unwrap();
    debian12(dir.path());
    // Even with a flag in the image's tree, /run at rest says nothing about the image.
    put(
        dir.path(),
        "run/reboot-required",
        "*** System restart required ***\n",
    );
    let p = collect_at(&Root::at(dir.path()), None, now());
    assert_eq!(p.reboot_required, None);
    assert_eq!(p.reboot_required_packages, None);
    assert!(
        p.problems
            .iter()
            .any(|pr| pr.file == "/run/reboot-required"),
        "{:?}",
        p.problems
    );
}

#[test]
fn lists_age_from_newest_release_file_or_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::at(dir.path()).with_live(dir.path());
    assert_eq!(
        collect_at(&root, None, now()).package_lists_age_s,
        None,
        "no lists dir"
    );

    let lists = dir.path().join("var/lib/apt/lists");
    fs::create_dir_all(lists.join("partial")).unwrap();
    assert_eq!(
        collect_at(&root, None, now()).package_lists_age_s,
        None,
        "no lists"
    );

    let hour = Duration::from_secs(3600);
    let files = [
        ("deb.debian.org_debian_dists_bookworm_InRelease", 50 * hour),
        (
            "security.debian.org_debian-security_dists_bookworm-security_InRelease",
            26 * hour,
        ),
        (
            "archive.raspberrypi.com_debian_dists_bookworm_Release",
            30 * hour,
        ),
        (
            "archive.raspberrypi.com_debian_dists_bookworm_Release.gpg",
            hour,
        ),
        (
            "deb.debian.org_debian_dists_bookworm_main_binary-arm64_Packages",
            2 * hour,
        ),
    ];
    for (name, age) in files {
        put(&lists, name, "x");
        set_mtime(&lists.join(name), now() - age);
    }
    assert_eq!(
        collect_at(&root, None, now()).package_lists_age_s,
        Some(26 * 3600),
        "newest *Release, not Release.gpg nor Packages"
    );

    let stamp = dir.path().join("var/lib/apt/periodic/update-success-stamp");
    put(dir.path(), "var/lib/apt/periodic/update-success-stamp", "");
    set_mtime(&stamp, now() - 3 * hour);
    assert_eq!(
        collect_at(&root, None, now()).package_lists_age_s,
        Some(3 * 3600)
    );
    set_mtime(&stamp, now() - 90 * hour);
    assert_eq!(
        collect_at(&root, None, now()).package_lists_age_s,
        Some(26 * 3600),
        "an older stamp does not hide fresher lists"
    );
}

#[test]
fn engine_fields_are_null_not_zero() {
    let dir = tempfile::tempdir().unwrap();
    let v = serde_json::to_value(collect_at(
        &Root::at(dir.path()).with_live(dir.path()),
        None,
        now(),
    ))
    .unwrap();
    for key in [
        "upgradable",
        "upgradable_count",
        "security_count",
        "auto_updates_enabled",
        "os_end_of_life",
        "end_of_life_reached",
        "package_lists_age_s",
    ] {
        assert!(v[key].is_null(), "{key}: {}", v[key]);
    }
    assert_eq!(v["reboot_required"], false);
    // No os-release at all is a problem worth telling, and so is no dpkg database (which
    // is why the upgradable packages are unknown).
    let files: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["file"].as_str().unwrap())
        .collect();
    assert!(files.iter().any(|f| f.ends_with("os-release")), "{files:?}");
    assert!(files.contains(&"/var/lib/dpkg/status"), "{files:?}");
    // ...and so is a null auto_updates_enabled: it says why.
    assert!(
        v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["file"] == "/var/lib/dpkg/status"),
        "{}",
        v["problems"]
    );
}

#[test]
fn this_machine() {
    let p = collect(&Root::host(), None);
    let lists_exist = fs::read_dir("/var/lib/apt/lists").is_ok_and(|d| {
        d.filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().ends_with("Release"))
    });
    assert_eq!(p.package_lists_age_s.is_some(), lists_exist);
    assert_eq!(
        p.reboot_required,
        Some(Path::new("/var/run/reboot-required").exists())
    );
    if let Ok(text) = fs::read_to_string("/etc/os-release") {
        let os = crate::parse::os_release::parse(&text);
        if os.id.as_deref() == Some("debian") && os.version_id.is_some() {
            assert!(p.os_end_of_life.is_some(), "{:?}", p.problems);
        }
    }
}

#[test]
fn auto_updates_follow_unattended_upgrades_and_apt_periodic() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::at(dir.path()).with_live(dir.path());
    fs::create_dir_all(dir.path().join("var/lib/dpkg")).unwrap();
    fs::create_dir_all(dir.path().join("etc/apt/apt.conf.d")).unwrap();
    fs::write(
        dir.path().join("var/lib/dpkg/status"),
        "Package: unattended-upgrades\nStatus: install ok installed\nArchitecture: all\nVersion: 2.9.1+nmu3\n\n",
    )
    .unwrap();
    // The timers enabled, as Debian installs them.
    let wants = dir.path().join("etc/systemd/system/timers.target.wants");
    fs::create_dir_all(&wants).unwrap();
    for t in crate::collect::apt_periodic::TIMERS {
        std::os::unix::fs::symlink(format!("/lib/systemd/system/{t}"), wants.join(t)).unwrap();
    }
    // Debian's 20auto-upgrades as `dpkg-reconfigure unattended-upgrades` writes it.
    let periodic = dir.path().join("etc/apt/apt.conf.d/20auto-upgrades");
    fs::write(
        &periodic,
        "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n",
    )
    .unwrap();
    assert_eq!(
        collect_at(&root, None, now()).auto_updates_enabled,
        Some(true)
    );
    fs::write(
        &periodic,
        "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"0\";\n",
    )
    .unwrap();
    assert_eq!(
        collect_at(&root, None, now()).auto_updates_enabled,
        Some(false)
    );
    // On again, then `systemctl mask apt-daily-upgrade.timer`: nothing runs the upgrade.
    fs::write(
        &periodic,
        "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n",
    )
    .unwrap();
    fs::create_dir_all(dir.path().join("etc/systemd/system")).unwrap();
    std::os::unix::fs::symlink(
        "/dev/null",
        dir.path()
            .join("etc/systemd/system/apt-daily-upgrade.timer"),
    )
    .unwrap();
    assert_eq!(
        collect_at(&root, None, now()).auto_updates_enabled,
        Some(false)
    );
}

#[test]
fn a_fifo_at_dpkg_status_or_an_apt_list_is_a_problem_not_a_hang() {
    const LIST: &str =
        "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages";
    for fifo in ["var/lib/dpkg/status", LIST] {
        let dir = tempfile::tempdir().unwrap();
        debian12(dir.path());
        put(
            dir.path(),
            "etc/apt/sources.list",
            "deb http://deb.debian.org/debian bookworm main\n",
        );
        crate::fsutil::testing::mkfifo(&dir.path().join(fifo));
        if fifo == LIST {
            // dpkg's own architecture is the native one, whatever this test was built for.
            put(
                dir.path(),
                "var/lib/dpkg/status",
                "Package: dpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.21.22\n\n",
            );
        }
        let root = device(dir.path());
        let p = crate::fsutil::testing::within(move || collect_at(&root, None, now()));
        let file = format!("/{fifo}");
        let problem = p.problems.iter().find(|p| p.file == file);
        assert!(
            problem.is_some_and(|p| p.error.contains("is a FIFO, not a regular file")),
            "{fifo}: {:?}",
            p.problems
        );
    }
}
