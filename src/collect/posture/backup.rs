//! Off-site backups: a backup tool whose target is off the device (a remote repository,
//! a cloud store or a network mount) and which runs on a schedule (an enabled systemd
//! timer or a cron job). Evidence names the tool, the kind of target and the schedule,
//! never a host name or a credential (repository URLs can carry both).

use super::schedule::{is_program, lines_words, scheduled_jobs, unit_file, Job};
use super::{Check, Ctx, Rule, Severity, Status};
use crate::collect::max;
use crate::parse::{borgmatic, keyfile, mountinfo};

const OFFSITE: Rule = Rule {
    id: "backup.offsite",
    title: "Backups go off the device on a schedule",
    severity: Severity::High,
    reference:
        "Instruction ESSMS 2017: sauvegardes conformes à l'état de l'art, sur un site distant",
};

pub(super) const PACKAGES: [&str; 8] = [
    "borgbackup",
    "borgmatic",
    "restic",
    "duplicity",
    "duply",
    "deja-dup",
    "urbackup-client",
    "urbackupclientbackend",
];

const LOOKED_FOR: &str = "borg, borgmatic, restic, duplicity, Déjà Dup, UrBackup looked for";

/// File systems whose files live on another machine.
const NETWORK_FS: [&str; 10] = [
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "sshfs",
    "fuse.sshfs",
    "davfs",
    "fuse.davfs",
    "fuse.rclone",
];

/// Where a backup goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// Off the device; the kind (`ssh repository`, `s3`, `network mount nfs4`).
    Offsite(String),
    Local,
    /// Why it could not be found.
    Unknown(String),
}

/// Classifies a repository or URL; `scp` when `host:path` means ssh (borg).
fn target(ctx: &Ctx, fstab: &[(String, String)], repo: &str, scp: bool) -> Target {
    let repo = repo.trim().trim_matches(['"', '\'']);
    if repo.is_empty() || repo.starts_with('$') {
        return Target::Unknown("repository not readable from files".into());
    }
    // restic's backends first: `rest:https://...` is a rest server, not a scheme.
    for p in ["sftp", "rest", "s3", "b2", "azure", "gs", "swift", "rclone"] {
        if repo.strip_prefix(p).is_some_and(|r| r.starts_with(':')) {
            return Target::Offsite(if p == "sftp" {
                "sftp repository".into()
            } else {
                p.into()
            });
        }
    }
    // A scheme is a short word (`sftp`, `pexpect+scp`); anything else is not shown.
    if let Some((scheme, rest)) = repo.split_once("://").filter(|(s, _)| {
        !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
    }) {
        let scheme = scheme
            .rsplit('+')
            .next()
            .unwrap_or(scheme)
            .to_ascii_lowercase();
        return match scheme.as_str() {
            "file" => local(ctx, fstab, rest),
            "ssh" | "sftp" | "scp" => Target::Offsite(format!("{scheme} repository")),
            s => Target::Offsite(s.to_string()),
        };
    }
    if let Some(path) = repo.strip_prefix("local:") {
        return local(ctx, fstab, path);
    }
    if scp {
        if let Some((host, _)) = repo.split_once(':') {
            if !host.is_empty() && !host.contains('/') {
                return Target::Offsite("ssh repository".into());
            }
        }
    }
    local(ctx, fstab, repo)
}

/// A path: off the device only when it lies on a network mount (live, or in fstab for
/// one mounted on demand).
fn local(ctx: &Ctx, fstab: &[(String, String)], path: &str) -> Target {
    let under = |mp: &str| {
        mp == "/" || path == mp || path.strip_prefix(mp).is_some_and(|r| r.starts_with('/'))
    };
    let live = ctx.mounts.as_ref().ok().and_then(|(m, _)| {
        m.iter()
            .filter(|m| under(&m.mount_point))
            .max_by_key(|m| m.mount_point.len())
    });
    if let Some(m) = live.filter(|m| NETWORK_FS.contains(&m.fs_type.as_str())) {
        return Target::Offsite(format!("network mount {}", m.fs_type));
    }
    if let Some((_, fs)) = fstab
        .iter()
        .filter(|(mp, _)| under(mp))
        .max_by_key(|(mp, _)| mp.len())
        .filter(|(_, fs)| NETWORK_FS.contains(&fs.as_str()))
    {
        return Target::Offsite(format!("network mount {fs} (/etc/fstab)"));
    }
    Target::Local
}

/// `(mount point, type)` of /etc/fstab.
fn fstab(ctx: &Ctx) -> Vec<(String, String)> {
    let text = ctx
        .root
        .read_up_to("/etc/fstab", max::CONFIG)
        .unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, mp, fs) = (f.next()?, f.next()?, f.next()?);
            Some((mountinfo::unescape(mp), fs.to_string()))
        })
        .collect()
}

/// A backup tool found configured or scheduled.
#[derive(Debug)]
struct Finding {
    tool: &'static str,
    target: Target,
    /// `None`: configured but nothing runs it.
    schedule: Option<String>,
}

impl Finding {
    fn passes(&self) -> bool {
        matches!(self.target, Target::Offsite(_)) && self.schedule.is_some()
    }

    fn describe(&self) -> String {
        let target = match &self.target {
            Target::Offsite(k) => k.clone(),
            Target::Local => "local target only (same device)".into(),
            Target::Unknown(why) => why.clone(),
        };
        let schedule = self.schedule.as_deref().unwrap_or("not scheduled");
        format!("{}: {target}, {schedule}", self.tool)
    }
}

/// The value following `-r`/`--repo` (or `--repo=`), restic and borg 2 style.
fn repo_option<'a>(words: &[&'a str]) -> Option<&'a str> {
    words.iter().enumerate().find_map(|(i, w)| match *w {
        "-r" | "--repo" => words.get(i + 1).copied(),
        _ => w.strip_prefix("--repo="),
    })
}

/// The programs a backup job runs (`borg` also matches within `borgmatic`).
const BACKUP_PROGRAMS: [&str; 5] = ["borgmatic", "borg", "restic", "duplicity", "duply"];

/// The backup targets a job runs, by tool.
fn job_findings(
    ctx: &Ctx,
    fstab: &[(String, String)],
    job: &Job,
    borgmatic_repos: &[Target],
) -> Vec<Finding> {
    let mut out = Vec::new();
    // Most jobs (apt, man-db, logrotate...) name no backup tool at all: skip their words.
    if !BACKUP_PROGRAMS.iter().any(|p| job.command.contains(p)) {
        return out;
    }
    let schedule = Some(job.when());
    let mut push = |tool, target| {
        out.push(Finding {
            tool,
            target,
            schedule: schedule.clone(),
        })
    };
    for words in lines_words(&job.command) {
        let Some(at) = words
            .iter()
            .position(|w| BACKUP_PROGRAMS.iter().any(|p| is_program(w, p)))
        else {
            continue;
        };
        let (prog, args) = (words[at].rsplit('/').next().unwrap_or(""), &words[at + 1..]);
        match prog {
            "borgmatic" => {
                if borgmatic_repos.is_empty() {
                    push(
                        "borgmatic",
                        Target::Unknown(
                            "no repositories in /etc/borgmatic/config.yaml or /etc/borgmatic.d"
                                .into(),
                        ),
                    );
                }
                for t in borgmatic_repos {
                    push("borgmatic", t.clone());
                }
            }
            "borg" if args.contains(&"create") => {
                let repo = repo_option(args)
                    .or_else(|| {
                        args.iter()
                            .find_map(|a| a.split_once("::").map(|(r, _)| r))
                            .filter(|r| !r.is_empty())
                    })
                    .or_else(|| job.var("BORG_REPO"))
                    .unwrap_or("");
                push("borg", target(ctx, fstab, job.expand(repo), true));
            }
            "restic" if args.contains(&"backup") => {
                let file = args
                    .iter()
                    .position(|w| *w == "--repository-file")
                    .and_then(|i| args.get(i + 1).copied())
                    .or_else(|| job.var("RESTIC_REPOSITORY_FILE"));
                let from_file = file
                    .and_then(|f| ctx.root.read_up_to(f, max::CONFIG).ok())
                    .map(|t| t.trim().to_string());
                let repo = repo_option(args)
                    .map(|r| job.expand(r).to_string())
                    .or(from_file)
                    .or_else(|| job.var("RESTIC_REPOSITORY").map(str::to_string))
                    .unwrap_or_default();
                push("restic", target(ctx, fstab, &repo, false));
            }
            "duplicity" => {
                // The target URL is the last argument with a scheme.
                let url = args.iter().rev().find(|a| a.contains("://")).copied();
                push(
                    "duplicity",
                    url.map_or(
                        Target::Unknown("no target URL on the command line".into()),
                        |u| target(ctx, fstab, u, false),
                    ),
                );
            }
            "duply" => {
                if let Some(profile) = args.first().filter(|p| !p.starts_with('-')) {
                    push("duply", duply_target(ctx, fstab, profile).1);
                }
            }
            _ => {}
        }
    }
    out
}

/// A duply profile's conf file and its `TARGET`.
fn duply_target(ctx: &Ctx, fstab: &[(String, String)], profile: &str) -> (String, Target) {
    let conf = if profile.starts_with('/') {
        format!("{}/conf", profile.trim_end_matches('/'))
    } else {
        format!("/etc/duply/{profile}/conf")
    };
    let t = match ctx.root.read_up_to(&conf, max::CONFIG) {
        Ok(text) => match keyfile::shell_get(&keyfile::shell_vars(&text), "TARGET") {
            Some(url) => target(ctx, fstab, url, false),
            None => Target::Unknown(format!("no TARGET in {conf}")),
        },
        // A profile outside /etc may sit in a home directory: not named.
        Err(e) if profile.starts_with('/') => {
            Target::Unknown(format!("duply profile conf {}", super::sys::why(&e)))
        }
        Err(e) => Target::Unknown(format!("{conf} {}", super::sys::why(&e))),
    };
    (conf, t)
}

/// borgmatic's repositories from its system configuration files.
fn borgmatic_config(ctx: &Ctx, fstab: &[(String, String)]) -> (Vec<String>, Vec<Target>) {
    let mut files: Vec<String> = vec!["/etc/borgmatic/config.yaml".into()];
    files.extend(super::sys::glob(ctx.root, "/etc/borgmatic.d/*.yaml"));
    files.extend(super::sys::glob(ctx.root, "/etc/borgmatic.d/*.yml"));
    let (mut found_in, mut targets) = (Vec::new(), Vec::new());
    for f in files {
        if let Ok(text) = ctx.root.read_up_to(&f, max::CONFIG) {
            let repos = borgmatic::repositories(&text);
            if !repos.is_empty() {
                found_in.push(f);
            }
            targets.extend(repos.iter().map(|r| target(ctx, fstab, r, true)));
        }
    }
    (found_in, targets)
}

/// Déjà Dup's system dconf defaults (its settings are otherwise per user).
fn deja_dup(ctx: &Ctx, fstab: &[(String, String)]) -> Option<Finding> {
    let (mut backend, mut periodic, mut uri) = (None, None, None);
    for f in super::sys::glob(ctx.root, "/etc/dconf/db/*.d/*") {
        let Ok(text) = ctx.root.read_up_to(&f, max::CONFIG) else {
            continue;
        };
        let e = keyfile::ini(&text);
        let unquote = |v: &str| v.trim_matches(['\'', '"']).to_string();
        if let Some(v) = keyfile::ini_get(&e, "org/gnome/deja-dup", "backend") {
            backend = Some(unquote(v));
        }
        if let Some(v) = keyfile::ini_get(&e, "org/gnome/deja-dup", "periodic") {
            periodic = Some(v == "true");
        }
        if let Some(v) = keyfile::ini_get(&e, "org/gnome/deja-dup/remote", "uri") {
            uri = Some(unquote(v));
        }
    }
    // Without both keys in the system defaults, the users' own settings decide.
    let periodic = periodic?;
    let target = match backend?.as_str() {
        "local" | "drive" => Target::Local,
        "remote" => match uri.as_deref() {
            Some(u) if u.contains("://") => target(ctx, fstab, u, false),
            _ => Target::Offsite("remote (GVfs)".into()),
        },
        other => Target::Offsite(other.to_string()),
    };
    Some(Finding {
        tool: "Déjà Dup (system dconf default)",
        target,
        schedule: periodic.then(|| "periodic=true".to_string()),
    })
}

pub(super) fn offsite(ctx: &Ctx) -> Check {
    let fstab = fstab(ctx);
    let (borgmatic_files, borgmatic_repos) = borgmatic_config(ctx, &fstab);
    let jobs = scheduled_jobs(ctx);
    let mut findings: Vec<Finding> = jobs
        .iter()
        .flat_map(|j| job_findings(ctx, &fstab, j, &borgmatic_repos))
        .collect();
    let scheduled = |f: &[Finding], tool: &str| f.iter().any(|x| x.tool == tool);
    // Configured but run by nothing.
    if !borgmatic_files.is_empty() && !scheduled(&findings, "borgmatic") {
        for t in &borgmatic_repos {
            findings.push(Finding {
                tool: "borgmatic",
                target: t.clone(),
                schedule: None,
            });
        }
    }
    if !scheduled(&findings, "restic") {
        let mut files = super::sys::glob(ctx.root, "/etc/restic/*");
        files.extend(super::sys::glob(ctx.root, "/etc/default/restic*"));
        for f in files {
            let Ok(text) = ctx.root.read_up_to(&f, max::CONFIG) else {
                continue;
            };
            if let Some(repo) = keyfile::shell_get(&keyfile::shell_vars(&text), "RESTIC_REPOSITORY")
            {
                findings.push(Finding {
                    tool: "restic",
                    target: target(ctx, &fstab, repo, false),
                    schedule: None,
                });
            }
        }
    }
    if !scheduled(&findings, "duply") {
        for conf in super::sys::glob(ctx.root, "/etc/duply/*/conf") {
            let profile = conf.trim_end_matches("/conf");
            findings.push(Finding {
                tool: "duply",
                target: duply_target(ctx, &fstab, profile).1,
                schedule: None,
            });
        }
    }
    findings.extend(deja_dup(ctx, &fstab));
    // UrBackup: the server pulls from the client, by design off the device.
    const URBACKUP: &str = "urbackupclientbackend.service";
    let urbackup_pkg = ctx
        .installed_of(&["urbackup-client", "urbackupclientbackend"])
        .is_some_and(|p| !p.is_empty());
    if ctx.units.is_enabled(URBACKUP) {
        findings.push(Finding {
            tool: "UrBackup client",
            target: Target::Offsite("UrBackup server".into()),
            schedule: Some(format!("{URBACKUP} enabled (the server schedules backups)")),
        });
    } else if urbackup_pkg || unit_file(ctx, URBACKUP).is_some() {
        findings.push(Finding {
            tool: "UrBackup client",
            target: Target::Offsite("UrBackup server".into()),
            schedule: None,
        });
    }

    let passing: Vec<String> = findings
        .iter()
        .filter(|f| f.passes())
        .map(Finding::describe)
        .collect();
    if !passing.is_empty() {
        return OFFSITE.check(Status::Pass, dedup(passing).join("; "));
    }
    if !findings.is_empty() {
        let all: Vec<String> = findings.iter().map(Finding::describe).collect();
        return OFFSITE.check(
            Status::Fail,
            format!("no off-site scheduled backup: {}", dedup(all).join("; ")),
        );
    }
    let installed = match ctx.installed_of(&PACKAGES) {
        Some(i) => i,
        None => {
            return OFFSITE.check(
                Status::Unknown,
                format!(
                    "no backup configuration found in files ({LOOKED_FOR}), and installed packages are unknown: {}",
                    ctx.dpkg.as_ref().err().map_or("", |e| e)
                ),
            )
        }
    };
    if installed.contains(&"deja-dup") {
        return OFFSITE.check(
            Status::Unknown,
            "Déjà Dup installed: per-user settings not readable (no system dconf default for org/gnome/deja-dup)",
        );
    }
    let also = if installed.is_empty() {
        String::new()
    } else {
        format!(" ({} installed but not configured)", installed.join(", "))
    };
    OFFSITE.check(
        Status::Fail,
        format!("no backup tool configured: {LOOKED_FOR}{also}"),
    )
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(s.clone()));
    v
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{dpkg, enable, run_check_with_units as run, write};
    use super::*;
    use crate::collect::Root;

    const BORGMATIC_TIMER: (&str, &str) = (
        "/lib/systemd/system/borgmatic.timer",
        "[Unit]\nDescription=Run borgmatic backup\n[Timer]\nOnCalendar=daily\nPersistent=true\nRandomizedDelaySec=3h\n[Install]\nWantedBy=timers.target\n",
    );
    /// As borgmatic's sample unit (and Debian's package) has it.
    const BORGMATIC_SERVICE: (&str, &str) = (
        "/lib/systemd/system/borgmatic.service",
        "[Unit]\nDescription=borgmatic backup\n[Service]\nType=oneshot\nNice=19\nExecStartPre=sleep 1m\nExecStart=systemd-inhibit --who=\"borgmatic\" --what=\"sleep:shutdown\" --why=\"Prevent interrupting scheduled backup\" /usr/bin/borgmatic --verbosity -2 --syslog-verbosity 1\n",
    );
    const SSH_REPO: &str = "repositories:\n    - path: ssh://k8pDxu32@k8pDxu32.repo.borgbase.com/./repo\n      label: borgbase\n";
    const LOCAL_REPO: &str = "location:\n    repositories:\n        - /mnt/backup/borg\n";

    fn assert_private(evidence: &str) {
        for secret in [
            "k8pDxu32",
            "borgbase.com",
            "amazonaws",
            "s3cret",
            "nas.local",
            "backupserver",
        ] {
            assert!(!evidence.contains(secret), "{secret} in {evidence}");
        }
    }

    #[test]
    fn borgmatic_remote_on_a_timer_passes() {
        let c = run(
            &[
                BORGMATIC_TIMER,
                BORGMATIC_SERVICE,
                ("/etc/borgmatic/config.yaml", SSH_REPO),
            ],
            &["borgmatic.timer"],
            offsite,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert_eq!(
            c.evidence,
            "borgmatic: ssh repository, borgmatic.timer enabled (daily)"
        );
        assert_private(&c.evidence);
    }

    #[test]
    fn borgmatic_local_unscheduled_or_without_repositories_fails() {
        let c = run(
            &[
                BORGMATIC_TIMER,
                BORGMATIC_SERVICE,
                ("/etc/borgmatic.d/home.yaml", LOCAL_REPO),
            ],
            &["borgmatic.timer"],
            offsite,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c
            .evidence
            .contains("borgmatic: local target only (same device), borgmatic.timer enabled"));
        // Configured, but the timer is not enabled (or masked) and no cron job runs it.
        let c = run(
            &[
                BORGMATIC_TIMER,
                BORGMATIC_SERVICE,
                ("/etc/borgmatic/config.yaml", SSH_REPO),
            ],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.evidence,
            "no off-site scheduled backup: borgmatic: ssh repository, not scheduled"
        );
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[
                BORGMATIC_TIMER,
                BORGMATIC_SERVICE,
                ("/etc/borgmatic/config.yaml", SSH_REPO),
            ],
        );
        enable(dir.path(), "borgmatic.timer");
        std::os::unix::fs::symlink(
            "/dev/null",
            dir.path().join("etc/systemd/system/borgmatic.timer"),
        )
        .unwrap();
        let root = Root::at(dir.path()).with_live(dir.path());
        assert_eq!(offsite(&Ctx::load(&root)).status, Status::Fail);
        // Scheduled, but nothing to back up to.
        let c = run(
            &[BORGMATIC_TIMER, BORGMATIC_SERVICE],
            &["borgmatic.timer"],
            offsite,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c
            .evidence
            .contains("no repositories in /etc/borgmatic/config.yaml"));
    }

    #[test]
    fn local_repository_on_a_network_mount_is_offsite() {
        let mounts = "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/mmcblk0p2 rw\n95 22 0:60 / /mnt/backup rw,relatime shared:60 - nfs4 nas.local:/export/backup rw,vers=4.2\n";
        let c = run(
            &[
                ("/proc/1/mountinfo", mounts),
                ("/etc/borgmatic/config.yaml", LOCAL_REPO),
                (
                    "/etc/cron.d/borgmatic",
                    "PATH=/usr/bin\n0 3 * * * root borgmatic --verbosity -1 --syslog-verbosity 1\n",
                ),
            ],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert_eq!(
            c.evidence,
            "borgmatic: network mount nfs4, cron /etc/cron.d/borgmatic (0 3 * * *)"
        );
        assert_private(&c.evidence);
        // Not mounted now, but an fstab network entry (mounted on demand) counts.
        let c = run(
            &[
                ("/proc/1/mountinfo", "22 1 254:1 / / rw - ext4 /dev/sda1 rw\n"),
                ("/etc/fstab", "/dev/sda1 / ext4 defaults 0 1\n//nas.local/backup /mnt/backup cifs noauto,x-systemd.automount,credentials=/etc/smb 0 0\n"),
                ("/etc/borgmatic/config.yaml", LOCAL_REPO),
                ("/etc/cron.d/borgmatic", "0 3 * * * root borgmatic\n"),
            ],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("network mount cifs (/etc/fstab)"));
        // A mount of the same name prefix is not the repository's.
        let c = run(
            &[
                ("/proc/1/mountinfo", "22 1 254:1 / / rw - ext4 /dev/sda1 rw\n95 22 0:60 / /mnt/back rw - nfs4 nas:/x rw\n"),
                ("/etc/borgmatic/config.yaml", LOCAL_REPO),
                ("/etc/cron.d/borgmatic", "0 3 * * * root borgmatic\n"),
            ],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
    }

    #[test]
    fn borg_script_in_cron_daily() {
        let script = "#!/bin/sh\nexport BORG_REPO='backupserver:/srv/borg/tablet'\nexport BORG_PASSPHRASE='s3cret'\nborg create --stats --compression lz4 ::'{hostname}-{now}' /home /etc\nborg prune --keep-daily 7\n";
        let c = run(&[("/etc/cron.daily/borg-backup", script)], &[], offsite);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert_eq!(
            c.evidence,
            "borg: ssh repository, cron /etc/cron.daily/borg-backup (cron.daily)"
        );
        assert_private(&c.evidence);
        // A left-over copy run-parts skips does not count.
        let c = run(
            &[
                ("/etc/cron.daily/borg-backup.dpkg-old", script),
                ("/var/lib/dpkg/status", ""),
            ],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Fail);
        // A script run from a crontab line (one level), repository on the command line.
        let c = run(
            &[
                (
                    "/usr/local/sbin/backup.sh",
                    "#!/bin/bash\nset -e\n/usr/bin/borg create /var/backups/borg::'{now}' /home\n",
                ),
                (
                    "/etc/crontab",
                    "SHELL=/bin/sh\n30 1 * * * root /usr/local/sbin/backup.sh >/dev/null 2>&1\n",
                ),
            ],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(
            c.evidence.contains("borg: local target only"),
            "{}",
            c.evidence
        );
    }

    #[test]
    fn restic_template_timer_with_environment_file() {
        let files = [
            ("/etc/systemd/system/restic-backup@.timer", "[Timer]\nOnCalendar=*-*-* 02:00\n[Install]\nWantedBy=timers.target\n"),
            ("/etc/systemd/system/restic-backup@.service", "[Service]\nType=oneshot\nEnvironmentFile=-/etc/restic/%i.env\nExecStart=/usr/bin/restic backup --verbose --one-file-system /home\n"),
            ("/etc/restic/daily.env", "RESTIC_REPOSITORY=s3:s3.amazonaws.com/bucket/tablet\nRESTIC_PASSWORD=s3cret\nAWS_ACCESS_KEY_ID=x\n"),
        ];
        let c = run(&files, &["restic-backup@daily.timer"], offsite);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert_eq!(
            c.evidence,
            "restic: s3, restic-backup@daily.timer enabled (*-*-* 02:00)"
        );
        assert_private(&c.evidence);
        // The same environment file, nothing runs restic.
        let c = run(&files, &[], offsite);
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.evidence,
            "no off-site scheduled backup: restic: s3, not scheduled"
        );
        // Repository on the command line, a local one.
        let c = run(
            &[(
                "/etc/cron.d/restic",
                "@daily root restic -r /srv/restic-repo backup /home\n",
            )],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("restic: local target only"));
        // The repository in a variable of the job.
        let c = run(
            &[(
                "/etc/cron.d/restic",
                "REPO=rest:https://backupserver:8000/tablet\n@daily root restic -r ${REPO} backup /home\n",
            )],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(
            c.evidence.starts_with("restic: rest, cron"),
            "{}",
            c.evidence
        );
        assert_private(&c.evidence);
        // @reboot is not a schedule.
        let c = run(
            &[
                (
                    "/etc/cron.d/restic",
                    "@reboot root restic -r sftp:backupserver:/srv/r backup /home\n",
                ),
                ("/var/lib/dpkg/status", ""),
            ],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.starts_with("no backup tool configured"));
    }

    #[test]
    fn duply_and_duplicity() {
        let conf = (
            "/etc/duply/offsite/conf",
            "GPG_KEY='ABCD1234'\nTARGET='sftp://backup:s3cret@backupserver/tablet'\nSOURCE='/'\n",
        );
        let c = run(
            &[
                conf,
                (
                    "/etc/cron.d/duply",
                    "0 2 * * * root duply offsite backup_verify_purge --force\n",
                ),
            ],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert_eq!(
            c.evidence,
            "duply: sftp repository, cron /etc/cron.d/duply (0 2 * * *)"
        );
        assert_private(&c.evidence);
        let c = run(&[conf], &[], offsite);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("duply: sftp repository, not scheduled"));
        let c = run(
            &[(
                "/var/spool/cron/crontabs/jean.dupont",
                "0 1 * * * duplicity --no-encryption /home file:///media/usb/backup\n",
            )],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.evidence, "no off-site scheduled backup: duplicity: local target only (same device), cron a user crontab (0 1 * * *)");
        let c = run(
            &[(
                "/etc/crontab",
                "0 1 * * * root duplicity /home pexpect+scp://backupserver/tablet\n",
            )],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Pass);
        assert!(c.evidence.starts_with("duplicity: scp repository"));
    }

    #[test]
    fn urbackup_and_deja_dup() {
        let unit = (
            "/etc/systemd/system/urbackupclientbackend.service",
            "[Service]\nExecStart=/usr/local/sbin/urbackupclientbackend\n",
        );
        let c = run(&[unit], &["urbackupclientbackend.service"], offsite);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.starts_with(
            "UrBackup client: UrBackup server, urbackupclientbackend.service enabled"
        ));
        let c = run(&[unit], &[], offsite);
        assert_eq!(c.status, Status::Fail);
        assert!(c
            .evidence
            .contains("UrBackup client: UrBackup server, not scheduled"));

        let pkgs = dpkg(&["deja-dup"]);
        let c = run(&[("/var/lib/dpkg/status", &pkgs)], &[], offsite);
        assert_eq!(c.status, Status::Unknown);
        assert!(c
            .evidence
            .starts_with("Déjà Dup installed: per-user settings not readable"));
        let dconf = "[org/gnome/deja-dup]\nbackend='remote'\nperiodic=true\nperiodic-period=1\n\n[org/gnome/deja-dup/remote]\nuri='smb://nas.local/backup'\n";
        let c = run(
            &[
                ("/var/lib/dpkg/status", &pkgs),
                ("/etc/dconf/db/local.d/10-backup", dconf),
            ],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert_eq!(
            c.evidence,
            "Déjà Dup (system dconf default): smb, periodic=true"
        );
        assert_private(&c.evidence);
        let c = run(
            &[(
                "/etc/dconf/db/local.d/10-backup",
                &dconf.replace("periodic=true", "periodic=false"),
            )],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Fail);
        // periodic left to each user: undecided.
        let c = run(
            &[
                ("/var/lib/dpkg/status", &pkgs),
                (
                    "/etc/dconf/db/local.d/10-backup",
                    &dconf.replace("periodic=true", ""),
                ),
            ],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Unknown);
        let c = run(
            &[(
                "/etc/dconf/db/local.d/10-backup",
                "[org/gnome/deja-dup]\nbackend='local'\nperiodic=true\n",
            )],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("local target only"));
    }

    #[test]
    fn nothing_configured() {
        let c = run(
            &[("/var/lib/dpkg/status", &dpkg(&["openssh-server"]))],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.evidence,
            format!("no backup tool configured: {LOOKED_FOR}")
        );
        let c = run(
            &[("/var/lib/dpkg/status", &dpkg(&["borgbackup"]))],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c
            .evidence
            .ends_with("(borgbackup installed but not configured)"));
        let c = run(&[], &[], offsite);
        assert_eq!(c.status, Status::Unknown);
        assert!(c.evidence.contains("installed packages are unknown"));
    }

    #[test]
    fn hostile_files_do_not_hang_or_decide() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[("/var/lib/dpkg/status", "")]);
        crate::fsutil::testing::mkfifo(&dir.path().join("etc/cron.d/fifo"));
        crate::fsutil::testing::mkfifo(&dir.path().join("etc/borgmatic/config.yaml"));
        crate::fsutil::testing::mkfifo(&dir.path().join("usr/local/sbin/backup"));
        write(
            dir.path(),
            &[("/etc/cron.d/x", "0 1 * * * root /usr/local/sbin/backup\n")],
        );
        // A unit directory that loops back on itself.
        std::fs::create_dir_all(dir.path().join("etc/systemd/system")).unwrap();
        std::os::unix::fs::symlink(".", dir.path().join("etc/systemd/system/loop.wants")).unwrap();
        let root = Root::at(dir.path()).with_live(dir.path());
        let c = offsite(&Ctx::load(&root));
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        // A non-UTF-8 byte (read as U+FFFD) in a crontab leaves the rest readable.
        let c = run(
            &[(
                "/etc/cron.d/borg",
                "# caf\u{fffd}\n0 3 * * * root borg create ssh://h/r::a /home\n",
            )],
            &[],
            offsite,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
    }
}
