//! Antivirus: the ESSMS security instruction asks for one on every terminal. On these
//! Debian-family devices that is ClamAV: installed, its signatures updated by freshclam,
//! and those signatures recent.

use super::{schedule, sys, Check, Ctx, Rule, Severity, Status};
use crate::parse::cvd;
use std::io::Read;

const CLAMAV: Rule = Rule {
    id: "av.clamav",
    title: "An antivirus (ClamAV) is installed and updates its signatures automatically",
    severity: Severity::Medium,
    reference: "Instruction ESSMS 2017: protection contre les virus informatiques (antivirus)",
};

const SIGNATURES: Rule = Rule {
    id: "av.signatures",
    title: "The antivirus signatures are at most 7 days old",
    severity: Severity::Medium,
    reference: "Instruction ESSMS 2017: protection contre les virus informatiques (antivirus)",
};

pub(super) const PACKAGES: [&str; 2] = ["clamav-daemon", "clamav-freshclam"];

const FRESHCLAM: &str = "clamav-freshclam.service";
const CLAMD: &str = "clamav-daemon.service";
const MAX_AGE_DAYS: i64 = 7;

pub(super) fn clamav(ctx: &Ctx) -> Check {
    let installed = match ctx.installed_of(&PACKAGES) {
        Some(i) => i,
        None => {
            return CLAMAV.check(
                Status::Unknown,
                format!(
                    "cannot tell whether ClamAV is installed: {}",
                    ctx.dpkg.as_ref().err().map_or("", |e| e)
                ),
            )
        }
    };
    if installed.is_empty() {
        return CLAMAV.check(
            Status::Fail,
            "no antivirus: ClamAV not installed (clamav-daemon, clamav-freshclam)",
        );
    }
    let daemon = if ctx.units.is_enabled(CLAMD) {
        format!("{CLAMD} enabled (scanning daemon)")
    } else {
        format!("{CLAMD} not enabled (scans on demand only)")
    };
    // Instead of the daemon, Debian offers clamav-freshclam-once.timer, and admins cron.
    let updates = if ctx.units.is_enabled(FRESHCLAM) {
        Some(format!("{FRESHCLAM} enabled (signatures updated)"))
    } else {
        schedule::scheduled_jobs(ctx)
            .iter()
            .find(|j| schedule::runs(&j.command, "freshclam"))
            .map(|j| format!("freshclam scheduled: {}", j.when()))
    };
    match updates {
        Some(u) => CLAMAV.check(
            Status::Pass,
            format!("{} installed; {u}; {daemon}", installed.join(", ")),
        ),
        None => CLAMAV.check(
            Status::Fail,
            format!(
                "{} installed but signatures are not updated: {FRESHCLAM} not enabled and no timer or cron job runs freshclam; {daemon}",
                installed.join(", ")
            ),
        ),
    }
}

pub(super) fn signatures(ctx: &Ctx) -> Check {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    signatures_at(ctx, now)
}

/// Where freshclam keeps the databases (`DatabaseDirectory` in freshclam.conf).
fn database_dir(ctx: &Ctx) -> String {
    let conf = ctx
        .root
        .read_up_to("/etc/clamav/freshclam.conf", crate::collect::max::CONFIG)
        .unwrap_or_default();
    conf.lines()
        .rev()
        .filter_map(|l| l.trim().strip_prefix("DatabaseDirectory"))
        .filter(|v| v.starts_with([' ', '\t']))
        .filter_map(|v| v.split_whitespace().next())
        .find(|v| v.starts_with('/'))
        .unwrap_or("/var/lib/clamav")
        .trim_end_matches('/')
        .to_string()
}

/// The first bytes of an on-disk file (the databases are tens of MB: never read whole).
fn read_head(ctx: &Ctx, abs: &str) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(cvd::HEADER_LEN);
    crate::fsutil::open(&ctx.root.file(abs))?
        .take(cvd::HEADER_LEN as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

pub(super) fn signatures_at(ctx: &Ctx, now: i64) -> Check {
    let installed = ctx.installed_of(&PACKAGES);
    if installed.as_ref().is_some_and(|i| i.is_empty()) {
        return SIGNATURES.check(Status::NotApplicable, "ClamAV not installed");
    }
    let dir = database_dir(ctx);
    let mut best: Option<(String, cvd::Header)> = None;
    let mut problems = Vec::new();
    for name in ["daily.cld", "daily.cvd"] {
        let path = format!("{dir}/{name}");
        match read_head(ctx, &path) {
            Ok(bytes) => match cvd::parse(&bytes) {
                // freshclam keeps one of the two; if both are there, ClamAV loads the newer.
                Some(h) if best.as_ref().is_none_or(|(_, b)| h.version > b.version) => {
                    best = Some((path, h))
                }
                Some(_) => {}
                None => problems.push(format!("{path}: not a ClamAV database header")),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => problems.push(format!("{path} {}", sys::why(&e))),
        }
    }
    let Some((path, h)) = best else {
        if !problems.is_empty() {
            return SIGNATURES.check(Status::Unknown, problems.join("; "));
        }
        return match installed {
            Some(_) => SIGNATURES.check(
                Status::Fail,
                format!("ClamAV installed but no signature database ({dir}/daily.cld or daily.cvd absent)"),
            ),
            None => SIGNATURES.check(
                Status::Unknown,
                format!(
                    "no signature database in {dir}, and whether ClamAV is installed is unknown: {}",
                    ctx.dpkg.as_ref().err().map_or("", |e| e)
                ),
            ),
        };
    };
    let age = now - h.built;
    let what = format!(
        "{path}: version {}, {} signatures, built {}",
        h.version, h.sigs, h.build_text
    );
    // A clock behind the build time (a board without RTC before its first sync) says
    // nothing about the age.
    if age < -86_400 {
        return SIGNATURES.check(
            Status::Unknown,
            format!("{what}, which is after the system clock: clock not set?"),
        );
    }
    let days = age.max(0) / 86_400;
    if age <= MAX_AGE_DAYS * 86_400 {
        SIGNATURES.check(Status::Pass, format!("{what} ({days} day(s) old)"))
    } else {
        SIGNATURES.check(
            Status::Fail,
            format!("{what}: {days} days old (more than {MAX_AGE_DAYS})"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{dpkg, run_check_with_units as run};
    use super::*;
    use crate::collect::Root;

    const NOW: i64 = 1_796_548_380 + 3 * 86_400; // 2026-12-09 09:13 UTC

    fn header(fields: &str) -> String {
        format!("{fields:<512}")
    }

    /// 2026-12-06 09:13 UTC, three days before NOW.
    const DAILY: &str = "ClamAV-VDB:06 Dec 2026 09-13 +0000:27842:2071234:90:0123456789abcdef0123456789abcdef:sig:raynman:1796548380";

    fn sigs_at(files: &[(&str, &str)], now: i64) -> Check {
        let dir = tempfile::tempdir().unwrap();
        super::super::testutil::write(dir.path(), files);
        let root = Root::at(dir.path()).with_live(dir.path());
        signatures_at(&Ctx::load(&root), now)
    }

    #[test]
    fn clamav_installed_and_updated() {
        let pkgs = dpkg(&["clamav-freshclam", "clamav-daemon"]);
        let status = ("/var/lib/dpkg/status", pkgs.as_str());
        let c = run(&[status], &[FRESHCLAM, CLAMD], clamav);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("clamav-daemon.service enabled"));
        let c = run(&[status], &[FRESHCLAM], clamav);
        assert_eq!(c.status, Status::Pass);
        assert!(c.evidence.contains("not enabled (scans on demand only)"));
        let c = run(&[status], &[CLAMD], clamav);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("signatures are not updated"));
        // freshclam from cron (Debian's debconf choice) counts.
        let c = run(
            &[
                status,
                (
                    "/etc/cron.d/clamav-freshclam",
                    "# comment\n15 * * * * clamav [ -x /usr/bin/freshclam ] && /usr/bin/freshclam --quiet\n",
                ),
            ],
            &[],
            clamav,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c
            .evidence
            .contains("freshclam scheduled: cron /etc/cron.d/clamav-freshclam (15 * * * *)"));
        // Debian's alternative to the daemon: a daily timer (units as clamav-freshclam ships them).
        let units = [
            status,
            (
                "/lib/systemd/system/clamav-freshclam-once.timer",
                "[Unit]\nDescription=Daily ClamAV virus database update\n\n[Timer]\nOnCalendar=daily\nAccuracySec=1h\nRandomizedDelaySec=1h\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n",
            ),
            (
                "/lib/systemd/system/clamav-freshclam-once.service",
                "[Unit]\nDescription=Update ClamAV virus database once\n\n[Service]\nType=oneshot\nExecStart=/usr/bin/freshclam\n",
            ),
        ];
        let c = run(&units, &["clamav-freshclam-once.timer"], clamav);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c
            .evidence
            .contains("freshclam scheduled: clamav-freshclam-once.timer enabled (daily)"));
        assert_eq!(run(&units, &[], clamav).status, Status::Fail);
    }

    #[test]
    fn clamav_absent_or_unknown() {
        let c = run(&[("/var/lib/dpkg/status", &dpkg(&["clamav"]))], &[], clamav);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.starts_with("no antivirus: ClamAV not installed"));
        assert_eq!(run(&[], &[FRESHCLAM], clamav).status, Status::Unknown);
    }

    #[test]
    fn signatures_fresh_stale_absent() {
        let pkgs = dpkg(&["clamav-freshclam"]);
        let status = ("/var/lib/dpkg/status", pkgs.as_str());
        let daily = header(DAILY);
        let c = sigs_at(&[status, ("/var/lib/clamav/daily.cld", &daily)], NOW);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("version 27842") && c.evidence.contains("3 day(s) old"));
        let c = sigs_at(
            &[status, ("/var/lib/clamav/daily.cvd", &daily)],
            NOW + 5 * 86_400,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.contains("8 days old"), "{}", c.evidence);
        // Exactly 7 days still passes.
        let c = sigs_at(
            &[status, ("/var/lib/clamav/daily.cvd", &daily)],
            NOW + 4 * 86_400,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        // Both files: the newer version counts.
        let old = header("ClamAV-VDB:01 Jan 2025 09-13 +0000:26000:1:90:m:s:b:1735722780");
        let c = sigs_at(
            &[
                status,
                ("/var/lib/clamav/daily.cvd", &old),
                ("/var/lib/clamav/daily.cld", &daily),
            ],
            NOW,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        // No database while ClamAV is installed.
        let c = sigs_at(&[status], NOW);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("no signature database"));
        // Not installed.
        let c = sigs_at(&[("/var/lib/dpkg/status", "")], NOW);
        assert_eq!(c.status, Status::NotApplicable);
    }

    #[test]
    fn signatures_database_directory_from_freshclam_conf() {
        let pkgs = dpkg(&["clamav-freshclam"]);
        let c = sigs_at(
            &[
                ("/var/lib/dpkg/status", &pkgs),
                (
                    "/etc/clamav/freshclam.conf",
                    "# DatabaseDirectory /nope\nDatabaseOwner clamav\nDatabaseDirectory /srv/clamav/\n",
                ),
                ("/srv/clamav/daily.cvd", &header(DAILY)),
            ],
            NOW,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.starts_with("/srv/clamav/daily.cvd"));
    }

    #[test]
    fn signatures_garbled_unreadable_or_clock_behind() {
        let pkgs = dpkg(&["clamav-daemon"]);
        let status = ("/var/lib/dpkg/status", pkgs.as_str());
        let c = sigs_at(&[status, ("/var/lib/clamav/daily.cvd", "garbage")], NOW);
        assert_eq!(c.status, Status::Unknown);
        assert!(c.evidence.contains("not a ClamAV database header"));
        let c = sigs_at(&[status, ("/var/lib/clamav/daily.cvd", &header(DAILY))], 0);
        assert_eq!(c.status, Status::Unknown);
        assert!(c.evidence.contains("clock"));
        // dpkg unreadable: a fresh database still decides; none leaves it unknown.
        let c = sigs_at(&[("/var/lib/clamav/daily.cvd", &header(DAILY))], NOW);
        assert_eq!(c.status, Status::Pass);
        assert_eq!(sigs_at(&[], NOW).status, Status::Unknown);
        // A FIFO is refused without blocking.
        let dir = tempfile::tempdir().unwrap();
        super::super::testutil::write(dir.path(), &[status]);
        crate::fsutil::testing::mkfifo(&dir.path().join("var/lib/clamav/daily.cld"));
        let root = Root::at(dir.path()).with_live(dir.path());
        let c = signatures_at(&Ctx::load(&root), NOW);
        assert_eq!(c.status, Status::Unknown, "{}", c.evidence);
        assert!(c.evidence.contains("FIFO"));
    }

    /// `sigtool --info` (package clamav) reads the same header fields as we do.
    #[test]
    fn agrees_with_sigtool_info_when_available() {
        let Some(sigtool) = ["/usr/bin/sigtool", "/usr/local/bin/sigtool"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
        else {
            eprintln!("sigtool not installed: comparison skipped");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("daily.cvd");
        std::fs::write(&file, header(DAILY)).unwrap();
        let out = std::process::Command::new(sigtool)
            .arg("--info")
            .arg(&file)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let theirs = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| panic!("{k} not in sigtool output:\n{text}"))
        };
        let ours = cvd::parse(&header(DAILY).into_bytes()).unwrap();
        assert_eq!(theirs("Build time:"), ours.build_text);
        assert_eq!(theirs("Version:"), ours.version.to_string());
        assert_eq!(theirs("Signatures:"), ours.sigs.to_string());
    }
}
