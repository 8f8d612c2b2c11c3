//! Local accounts: extra UID 0 accounts, empty passwords, password hashing, individual
//! accounts, Raspberry Pi OS's default account, the permissions of the account files, the
//! default umask and root's PATH. Evidence gives counts only: account names can be
//! personal data (default names such as `pi` are not, and are named).

use super::{pass_if, sys, Check, Ctx, Rule, Severity, Status};
use crate::collect::max;
use crate::parse::{keyfile, login_defs, pam, passwd};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::fs::MetadataExt;

const UID0: Rule = Rule {
    id: "accounts.uid0",
    title: "root is the only account with UID 0",
    severity: Severity::Critical,
    reference: "CIS Debian Linux 12 Benchmark: Ensure root is the only UID 0 account",
};

const EMPTY: Rule = Rule {
    id: "accounts.empty_password",
    title: "No account has an empty password",
    severity: Severity::Critical,
    reference: "CIS Debian Linux 12 Benchmark: Ensure /etc/shadow password fields are not empty",
};

const SHADOW_PERMS: Rule = Rule {
    id: "files.shadow_permissions",
    title: "/etc/shadow and /etc/gshadow are readable by root and the shadow group only",
    severity: Severity::High,
    reference: "ANSSI BP-028 v2.0 R50 (Restreindre les droits d'accès aux fichiers et aux répertoires sensibles)",
};

const PASSWD_PERMS: Rule = Rule {
    id: "files.passwd_permissions",
    title: "/etc/passwd and /etc/group are owned by root and writable by root only",
    severity: Severity::High,
    reference: "CIS Debian Linux 12 Benchmark: Ensure permissions on /etc/passwd are configured",
};

const HASHING: Rule = Rule {
    id: "accounts.password_hashing",
    title: "Passwords are stored with a strong hashing method",
    severity: Severity::High,
    reference: "ANSSI BP-028 v2.0 R68 (Protéger les mots de passe stockés)",
};

const INDIVIDUAL: Rule = Rule {
    id: "accounts.individual",
    title: "People log in with individual accounts, not shared or default ones",
    severity: Severity::Medium,
    reference: "ANSSI BP-028 v2.0 R33 (Assurer l'imputabilité des actions d'administration)",
};

const UMASK: Rule = Rule {
    id: "accounts.umask",
    title: "New files are not readable by other users by default (umask 027)",
    severity: Severity::Low,
    reference: "CIS Debian Linux 12 Benchmark: Ensure default user umask is configured",
};

const ROOT_PATH: Rule = Rule {
    id: "path.root_path",
    title: "root's PATH holds only root-owned directories that others cannot write",
    severity: Severity::Medium,
    reference: "CIS Debian Linux 12 Benchmark: Ensure root path integrity",
};

const PI_ACCOUNT: Rule = Rule {
    id: "raspi.pi_account",
    title: "Raspberry Pi OS's default pi account is absent or locked",
    severity: Severity::High,
    reference: "ANSSI BP-028 v2.0 R30 (Désactiver les comptes utilisateur inutilisés)",
};

const PI_NOPASSWD: Rule = Rule {
    id: "raspi.pi_nopasswd",
    title: "Raspberry Pi OS's password-less sudo drop-in is removed",
    severity: Severity::High,
    reference:
        "CIS Debian Linux 12 Benchmark: Ensure users must provide password for privilege escalation",
};

/// Packages asked about (see `posture::ASKED`).
pub(super) const PACKAGES: [&str; 1] = ["raspberrypi-sys-mods"];

const LOGIN_DEFS: &str = "/etc/login.defs";

/// Names that images, vendors and tutorials create: they belong to nobody in particular.
const SHARED_NAMES: [&str; 14] = [
    "pi",
    "user",
    "admin",
    "guest",
    "kiosk",
    "demo",
    "test",
    "debian",
    "ubuntu",
    "raspberry",
    "odroid",
    "orangepi",
    "rock",
    "linaro",
];

pub(super) fn checks(ctx: &Ctx) -> Vec<Check> {
    vec![
        uid0(ctx),
        empty_passwords(ctx),
        shadow_permissions(ctx),
        passwd_permissions(ctx),
        password_hashing(ctx),
        individual(ctx),
        umask(ctx),
        root_path(ctx),
        pi_account(ctx),
        pi_nopasswd(ctx),
    ]
}

fn uid0(ctx: &Ctx) -> Check {
    match ctx.root.read("/etc/passwd") {
        Ok(text) => {
            let n = passwd::users(&text)
                .filter(|u| u.uid == Some(0) && u.name != "root")
                .count();
            UID0.check(
                pass_if(n == 0),
                format!("/etc/passwd: {n} account(s) with UID 0 besides root"),
            )
        }
        Err(e) => UID0.check(Status::Unknown, format!("/etc/passwd {}", sys::why(&e))),
    }
}

/// An empty password field in /etc/passwd means no password whatever shadow says; with
/// `x` there, the shadow field decides. Accounts are counted once.
fn empty_passwords(ctx: &Ctx) -> Check {
    let pw = match ctx.root.read("/etc/passwd") {
        Ok(t) => t,
        Err(e) => return EMPTY.check(Status::Unknown, format!("/etc/passwd {}", sys::why(&e))),
    };
    let mut empty: BTreeSet<&str> = BTreeSet::new();
    let mut total = 0;
    for u in passwd::users(&pw) {
        total += 1;
        if u.has_empty_password() {
            empty.insert(u.name);
        }
    }
    let in_passwd = empty.len();
    let shadow = ctx.root.read("/etc/shadow");
    let shadow_part = match &shadow {
        Ok(text) => {
            let mut n = 0;
            for e in passwd::shadow(text).filter(|e| e.has_empty_password()) {
                n += 1;
                empty.insert(e.name);
            }
            format!("/etc/shadow: {n} empty password field(s)")
        }
        Err(e) => format!("/etc/shadow {}", sys::why(e)),
    };
    let evidence = format!(
        "{} of {total} account(s) without a password (/etc/passwd: {in_passwd} empty password field(s); {shadow_part})",
        empty.len()
    );
    let status = match (&shadow, empty.is_empty()) {
        (_, false) => Status::Fail,
        (Ok(_), true) => Status::Pass,
        (Err(_), true) => Status::Unknown,
    };
    EMPTY.check(status, evidence)
}

/// Stats each file and judges it with `ok(mode, uid, gid)`; `expected` says the rule in the
/// evidence. The first file must exist (unknown otherwise); the others are backups that may
/// be absent.
fn permissions(
    ctx: &Ctx,
    rule: &Rule,
    files: &[&str],
    ok: &dyn Fn(u32, u32, u32) -> bool,
    expected: &str,
) -> Check {
    let (mut shown, mut bad) = (Vec::new(), 0);
    for (i, f) in files.iter().enumerate() {
        match std::fs::metadata(ctx.root.file(f)) {
            Ok(m) => {
                let mode = m.mode() & 0o7777;
                let good = ok(mode, m.uid(), m.gid());
                bad += usize::from(!good);
                shown.push(format!(
                    "{f} {mode:04o} uid {} gid {}{}",
                    m.uid(),
                    m.gid(),
                    if good { "" } else { " (wrong)" }
                ));
            }
            Err(e) if i > 0 && e.kind() == io::ErrorKind::NotFound => {
                shown.push(format!("{f} absent"));
            }
            Err(e) => return rule.check(Status::Unknown, format!("{f} {}", sys::why(&e))),
        }
    }
    rule.check(
        pass_if(bad == 0),
        format!("{}; expected {expected}", shown.join(", ")),
    )
}

/// The gid of a group by name, when /etc/group says.
fn gid_of(ctx: &Ctx, name: &str) -> Option<u32> {
    let text = ctx.root.read("/etc/group").ok()?;
    passwd::group_gid(&text, name)
}

fn shadow_permissions(ctx: &Ctx) -> Check {
    let shadow = gid_of(ctx, "shadow");
    // Owner root, group root or shadow, nothing beyond rw-r-----.
    let ok = |mode: u32, uid: u32, gid: u32| {
        uid == 0 && (gid == 0 || Some(gid) == shadow) && mode & !0o640 == 0
    };
    let group = shadow.map_or(String::new(), |g| format!(" or shadow ({g})"));
    permissions(
        ctx,
        &SHADOW_PERMS,
        &[
            "/etc/shadow",
            "/etc/shadow-",
            "/etc/gshadow",
            "/etc/gshadow-",
        ],
        &ok,
        &format!("owner root, group root{group}, mode 0640 or stricter"),
    )
}

fn passwd_permissions(ctx: &Ctx) -> Check {
    let ok = |mode: u32, uid: u32, _gid: u32| uid == 0 && mode & 0o022 == 0;
    permissions(
        ctx,
        &PASSWD_PERMS,
        &["/etc/passwd", "/etc/passwd-", "/etc/group", "/etc/group-"],
        &ok,
        "owner root, no write for group or others",
    )
}

/// /etc/login.defs, `None` when absent (its defaults apply); an error when unreadable.
fn login_defs(ctx: &Ctx) -> Result<Option<String>, String> {
    match ctx.root.read_up_to(LOGIN_DEFS, max::CONFIG) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{LOGIN_DEFS} {}", sys::why(&e))),
    }
}

fn password_hashing(ctx: &Ctx) -> Check {
    use passwd::Method;
    let shadow = match ctx.root.read("/etc/shadow") {
        Ok(t) => t,
        Err(e) => return HASHING.check(Status::Unknown, format!("/etc/shadow {}", sys::why(&e))),
    };
    let mut counts: BTreeMap<Method, usize> = BTreeMap::new();
    for e in passwd::shadow(&shadow) {
        *counts.entry(e.method()).or_default() += 1;
    }
    let weak = |m: &Method| matches!(m, Method::Md5 | Method::Des);
    let hashes: Vec<String> = counts
        .iter()
        .filter(|(m, _)| !matches!(m, Method::NoPassword | Method::Empty))
        .map(|(m, n)| format!("{n} {}{}", m.name(), if weak(m) { " (weak)" } else { "" }))
        .collect();
    let stored = if hashes.is_empty() {
        "/etc/shadow: no password hash".to_string()
    } else {
        format!("/etc/shadow: {}", hashes.join(", "))
    };
    let (method_ok, method_shown) = match encrypt_method(ctx) {
        Ok(v) => v,
        Err(why) => return HASHING.check(Status::Unknown, format!("{stored}; {why}")),
    };
    let evidence = format!("{stored}; {method_shown}");
    let status = if counts.keys().any(weak) || !method_ok {
        Status::Fail
    } else if counts.contains_key(&Method::Other) {
        Status::Unknown
    } else {
        Status::Pass
    };
    HASHING.check(status, evidence)
}

/// Whether new passwords get a strong hash. passwd(1) goes through PAM, so pam_unix's
/// method argument in common-password decides; ENCRYPT_METHOD of login.defs (which
/// pam_unix follows when it names none) only when PAM names no method.
fn encrypt_method(ctx: &Ctx) -> Result<(bool, String), String> {
    const COMMON: &str = "/etc/pam.d/common-password";
    let pam_lines = super::pam::read(ctx, "common-password");
    let unix_method = match &pam_lines {
        Ok(lines) => pam::rules(lines, "password")
            .find(|r| r.is("pam_unix"))
            .and_then(|r| {
                [
                    "yescrypt",
                    "sha512",
                    "gost_yescrypt",
                    "blowfish",
                    "sha256",
                    "md5",
                    "bigcrypt",
                ]
                .into_iter()
                .find(|m| r.has_arg(m))
            }),
        // Without the PAM file, login.defs is all there is to go on.
        Err(_) => None,
    };
    if let Some(m) = unix_method {
        return Ok((
            matches!(m, "yescrypt" | "sha512"),
            format!("pam_unix {m} ({COMMON})"),
        ));
    }
    let defs = login_defs(ctx)?;
    Ok(
        match defs
            .as_deref()
            .and_then(|t| login_defs::get(t, "ENCRYPT_METHOD"))
        {
            Some(m) => (
                matches!(m.to_ascii_uppercase().as_str(), "YESCRYPT" | "SHA512"),
                format!("ENCRYPT_METHOD {m} ({LOGIN_DEFS})"),
            ),
            None => match pam_lines {
                Err(e) => return Err(format!("ENCRYPT_METHOD not set in {LOGIN_DEFS}; {e}")),
                Ok(_) => (
                    false,
                    format!("no pam_unix method in {COMMON} and no ENCRYPT_METHOD in {LOGIN_DEFS}"),
                ),
            },
        },
    )
}

/// UID_MIN..=UID_MAX of login.defs (shadow-utils' defaults when unset).
fn human_uids(defs: Option<&str>) -> (u32, u32) {
    let get = |k: &str, d: u32| {
        defs.and_then(|t| login_defs::get(t, k))
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    (get("UID_MIN", 1000), get("UID_MAX", 60000))
}

/// Zero human accounts is not applicable rather than a failure: nobody logs in locally with
/// a personal account, so there is nothing to attribute (a shared root or an automatic login
/// is judged by other checks).
fn individual(ctx: &Ctx) -> Check {
    let pw = match ctx.root.read("/etc/passwd") {
        Ok(t) => t,
        Err(e) => {
            return INDIVIDUAL.check(Status::Unknown, format!("/etc/passwd {}", sys::why(&e)))
        }
    };
    let defs = match login_defs(ctx) {
        Ok(d) => d,
        Err(e) => return INDIVIDUAL.check(Status::Unknown, e),
    };
    let (min, max) = human_uids(defs.as_deref());
    let humans: Vec<_> = passwd::users(&pw)
        .filter(|u| u.uid.is_some_and(|id| (min..=max).contains(&id)) && u.can_log_in())
        .collect();
    let mut shared: Vec<&str> = humans
        .iter()
        .filter_map(|u| SHARED_NAMES.iter().copied().find(|n| *n == u.name))
        .collect();
    shared.sort_unstable();
    shared.dedup();
    let n = humans.len();
    let what = format!("/etc/passwd: {n} human account(s) (UID {min}-{max} with a login shell)");
    if n == 0 {
        INDIVIDUAL.check(
            Status::NotApplicable,
            format!("{what}: nobody logs in locally with a personal account"),
        )
    } else if shared.is_empty() {
        INDIVIDUAL.check(
            Status::Pass,
            format!("{what}, none with a shared or default name"),
        )
    } else {
        INDIVIDUAL.check(
            Status::Fail,
            format!("{what}; shared or default name(s): {}", shared.join(", ")),
        )
    }
}

fn umask(ctx: &Ctx) -> Check {
    let defs = match ctx.root.read_up_to(LOGIN_DEFS, max::CONFIG) {
        Ok(t) => t,
        Err(e) => return UMASK.check(Status::Unknown, format!("{LOGIN_DEFS} {}", sys::why(&e))),
    };
    let Some(v) = login_defs::get(&defs, "UMASK") else {
        return UMASK.check(
            Status::Fail,
            format!("UMASK not set in {LOGIN_DEFS} (default 022: new files readable by all)"),
        );
    };
    match u32::from_str_radix(v, 8) {
        Ok(m) => UMASK.check(
            pass_if(m & 0o027 == 0o027),
            format!("UMASK {v} ({LOGIN_DEFS}); 027 or stricter expected"),
        ),
        Err(_) => UMASK.check(
            Status::Unknown,
            format!("UMASK {v:?} not understood ({LOGIN_DEFS})"),
        ),
    }
}

/// root's PATH when neither login.defs nor /etc/environment sets one.
const DEFAULT_SUPATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn root_path(ctx: &Ctx) -> Check {
    let defs = match login_defs(ctx) {
        Ok(d) => d,
        Err(e) => return ROOT_PATH.check(Status::Unknown, e),
    };
    let env = match ctx.root.read_up_to("/etc/environment", max::CONFIG) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            return ROOT_PATH.check(
                Status::Unknown,
                format!("/etc/environment {}", sys::why(&e)),
            )
        }
    };
    let mut paths: Vec<(String, &str)> = Vec::new();
    if let Some(p) = defs
        .as_deref()
        .and_then(|t| login_defs::get(t, "ENV_SUPATH"))
    {
        paths.push((
            p.strip_prefix("PATH=").unwrap_or(p).to_string(),
            "ENV_SUPATH",
        ));
    }
    if let Some(p) = env
        .as_deref()
        .and_then(|t| keyfile::shell_get(&keyfile::shell_vars(t), "PATH"))
    {
        paths.push((p.to_string(), "/etc/environment"));
    }
    if paths.is_empty() {
        paths.push((DEFAULT_SUPATH.to_string(), "default"));
    }
    let (mut problems, mut checked, mut unreadable) = (Vec::new(), BTreeSet::new(), Vec::new());
    for (path, source) in &paths {
        for dir in path.split(':') {
            if dir.is_empty() || !dir.starts_with('/') {
                problems.push(format!("{source}: relative entry {dir:?}"));
                continue;
            }
            if !checked.insert(dir) {
                continue;
            }
            match std::fs::metadata(ctx.root.file(dir)) {
                Ok(m) if m.uid() != 0 => problems.push(format!("{dir} owned by uid {}", m.uid())),
                Ok(m) if m.mode() & 0o022 != 0 => {
                    problems.push(format!("{dir} mode {:04o}", m.mode() & 0o7777))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                // A symlink loop or the like: cannot say, unless something else fails.
                Err(e) => unreadable.push(format!("{dir} {}", sys::why(&e))),
            }
        }
    }
    let sources: Vec<_> = paths.iter().map(|(p, s)| format!("{s} {p}")).collect();
    if problems.is_empty() && !unreadable.is_empty() {
        return ROOT_PATH.check(
            Status::Unknown,
            format!("{}: {}", sources.join("; "), unreadable.join(", ")),
        );
    }
    if problems.is_empty() && !checked.iter().any(|d| ctx.root.file(d).exists()) {
        return ROOT_PATH.check(
            Status::Unknown,
            format!("{}: none of these directories exists", sources.join("; ")),
        );
    }
    let evidence = if problems.is_empty() {
        format!(
            "{}: every directory root-owned, not group/world-writable",
            sources.join("; ")
        )
    } else {
        format!("{}: {}", sources.join("; "), problems.join(", "))
    };
    ROOT_PATH.check(pass_if(problems.is_empty()), evidence)
}

/// Whether this is Raspberry Pi OS, and what said so; `None` when it cannot be told.
fn raspberry_pi_os(ctx: &Ctx) -> Option<Result<String, String>> {
    if ctx.root.file("/etc/rpi-issue").exists() {
        return Some(Ok("/etc/rpi-issue present".into()));
    }
    if let Some(os) = &sys::os_release(ctx.root) {
        if os.id.as_deref() == Some("raspbian") || os.id_like.iter().any(|i| i == "raspbian") {
            return Some(Ok("os-release names raspbian".into()));
        }
    }
    match ctx.installed(PACKAGES[0]) {
        Some(true) => Some(Ok("raspberrypi-sys-mods installed".into())),
        Some(false) => Some(Err("not Raspberry Pi OS".into())),
        None => None,
    }
}

/// The check's status and evidence when it does not apply or cannot be told.
fn not_raspi(ctx: &Ctx, rule: &Rule) -> Result<String, Check> {
    match raspberry_pi_os(ctx) {
        Some(Ok(why)) => Ok(why),
        Some(Err(why)) => Err(rule.check(Status::NotApplicable, why)),
        None => Err(rule.check(
            Status::Unknown,
            format!(
                "cannot tell whether this is Raspberry Pi OS: {}",
                ctx.dpkg.as_ref().err().map_or("", |e| e)
            ),
        )),
    }
}

fn pi_account(ctx: &Ctx) -> Check {
    let os = match not_raspi(ctx, &PI_ACCOUNT) {
        Ok(why) => why,
        Err(c) => return c,
    };
    let pw = match ctx.root.read("/etc/passwd") {
        Ok(t) => t,
        Err(e) => {
            return PI_ACCOUNT.check(Status::Unknown, format!("/etc/passwd {}", sys::why(&e)))
        }
    };
    let Some(pi) = passwd::users(&pw).find(|u| u.name == "pi") else {
        return PI_ACCOUNT.check(Status::Pass, format!("{os}; no pi account in /etc/passwd"));
    };
    // A password field other than `x` is the password itself.
    let (usable, source) = if pi.password != "x" {
        (
            passwd::Shadow {
                name: "pi",
                hash: pi.password,
            }
            .is_usable(),
            "/etc/passwd",
        )
    } else {
        let shadow = match ctx.root.read("/etc/shadow") {
            Ok(t) => t,
            Err(e) => {
                return PI_ACCOUNT.check(Status::Unknown, format!("/etc/shadow {}", sys::why(&e)))
            }
        };
        let usable = passwd::shadow(&shadow)
            .find(|e| e.name == "pi")
            .map(|e| e.is_usable());
        match usable {
            Some(u) => (u, "/etc/shadow"),
            None => (false, "/etc/shadow (no entry)"),
        }
    };
    PI_ACCOUNT.check(
        pass_if(!usable),
        format!(
            "{os}; pi account {} ({source})",
            if usable {
                "has a usable password"
            } else {
                "is locked"
            }
        ),
    )
}

/// Installed by Raspberry Pi OS for its first user: sudo without a password.
const PI_SUDOERS: &str = "/etc/sudoers.d/010_pi-nopasswd";

fn pi_nopasswd(ctx: &Ctx) -> Check {
    let os = match not_raspi(ctx, &PI_NOPASSWD) {
        Ok(why) => why,
        Err(c) => return c,
    };
    let present = ctx.root.file(PI_SUDOERS).symlink_metadata().is_ok();
    PI_NOPASSWD.check(
        pass_if(!present),
        format!(
            "{os}; {PI_SUDOERS} {}",
            if present { "present" } else { "absent" }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{dpkg, run_check, write};
    use super::super::{Ctx, Status};
    use super::*;
    use crate::collect::Root;
    use std::os::unix::fs::PermissionsExt;

    fn is_root() -> bool {
        unsafe { libc::geteuid() == 0 }
    }

    /// Builds a tree, sets modes (and group ids, when root) and runs `check`.
    fn run_with(
        files: &[(&str, &str)],
        modes: &[(&str, u32, Option<u32>)],
        check: fn(&Ctx) -> Check,
    ) -> Check {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), files);
        for (p, mode, gid) in modes {
            let path = dir.path().join(p.trim_start_matches('/'));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
            if let Some(g) = gid {
                std::os::unix::fs::chown(&path, None, Some(*g)).unwrap();
            }
        }
        check(&Ctx::load(&Root::at(dir.path()).with_live(dir.path())))
    }

    fn run(files: &[(&str, &str)], shadow_mode: Option<u32>) -> Vec<Check> {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), files);
        if let Some(mode) = shadow_mode {
            std::fs::set_permissions(
                dir.path().join("etc/shadow"),
                std::fs::Permissions::from_mode(mode),
            )
            .unwrap();
        }
        checks(&Ctx::load(&Root::at(dir.path()).with_live(dir.path())))
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nsoignant:x:1000:1000:Soignant,,,:/home/soignant:/bin/bash\n";
    const GROUP: &str = "root:x:0:\nshadow:x:42:\nsoignant:x:1000:\n";

    #[test]
    fn clean_accounts_pass_and_evidence_has_no_names() {
        let c = run(
            &[
                ("/etc/passwd", PASSWD),
                (
                    "/etc/shadow",
                    "root:!:19700::::::\nsoignant:$y$j9T$a$b:19700:0:99999:7:::\n",
                ),
            ],
            Some(0o640),
        );
        assert_eq!(c[0].status, Status::Pass);
        assert_eq!(c[1].status, Status::Pass);
        assert_eq!(
            c[1].evidence,
            "0 of 2 account(s) without a password (/etc/passwd: 0 empty password field(s); /etc/shadow: 0 empty password field(s))"
        );
        for check in &c {
            assert!(!check.evidence.contains("soignant"), "{}", check.evidence);
        }
        // The test runs as whoever owns the temp file: owner uid decides.
        assert_eq!(c[2].status, pass_if(is_root()), "{}", c[2].evidence);
        assert!(c[2].evidence.contains("/etc/shadow 0640"));
    }

    #[test]
    fn extra_uid0_and_empty_password_fail() {
        let passwd = format!("{PASSWD}toor:x:0:0::/root:/bin/sh\n");
        let c = run(
            &[
                ("/etc/passwd", &passwd),
                ("/etc/shadow", "root:!:1::::::\nkiosk::1::::::\n"),
            ],
            Some(0o644),
        );
        assert_eq!(c[0].status, Status::Fail);
        assert_eq!(
            c[0].evidence,
            "/etc/passwd: 1 account(s) with UID 0 besides root"
        );
        assert!(!c[0].evidence.contains("toor"));
        assert_eq!(c[1].status, Status::Fail);
        assert!(!c[1].evidence.contains("kiosk"));
        assert_eq!(c[2].status, Status::Fail); // world-readable
    }

    /// The defect: an empty second field in /etc/passwd went unseen when shadow was fine.
    #[test]
    fn empty_password_field_in_passwd_counts() {
        let passwd = format!("{PASSWD}kiosk::1001:1001::/home/kiosk:/bin/bash\n");
        let shadow = "root:!:1::::::\nsoignant:$y$j9T$a$b:1::::::\nkiosk:!:1::::::\n";
        let c = run_check(
            &[("/etc/passwd", &passwd), ("/etc/shadow", shadow)],
            empty_passwords,
        );
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.evidence,
            "1 of 3 account(s) without a password (/etc/passwd: 1 empty password field(s); /etc/shadow: 0 empty password field(s))"
        );
        // Shadow unreadable: an empty passwd field still decides; without one, unknown.
        let c = run_check(&[("/etc/passwd", &passwd)], empty_passwords);
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.evidence.ends_with("/etc/shadow absent)"),
            "{}",
            c.evidence
        );
        let c = run_check(&[("/etc/passwd", PASSWD)], empty_passwords);
        assert_eq!(c.status, Status::Unknown);
        // The same account empty in both files counts once; a bad byte changes nothing.
        let both = format!("{PASSWD}k\u{FFFD}::1001:1001::/:/bin/sh\n");
        let c = run_check(
            &[
                ("/etc/passwd", &both),
                ("/etc/shadow", "k\u{FFFD}::1::::::\n"),
            ],
            empty_passwords,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.evidence.starts_with("1 of 3 account(s)"),
            "{}",
            c.evidence
        );
    }

    /// The defect: the group and the gshadow files were not checked.
    #[test]
    fn shadow_group_and_backups() {
        let files = [
            ("/etc/group", GROUP),
            ("/etc/shadow", ""),
            ("/etc/gshadow", ""),
            ("/etc/shadow-", ""),
        ];
        let perms = |gshadow_mode: u32, gid: Option<u32>| {
            run_with(
                &files,
                &[
                    ("/etc/shadow", 0o640, gid),
                    ("/etc/shadow-", 0o600, None),
                    ("/etc/gshadow", gshadow_mode, gid),
                ],
                shadow_permissions,
            )
        };
        let c = perms(0o644, None);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("/etc/gshadow 0644"), "{}", c.evidence);
        assert!(
            c.evidence.contains("/etc/gshadow- absent"),
            "{}",
            c.evidence
        );
        assert!(c
            .evidence
            .ends_with("expected owner root, group root or shadow (42), mode 0640 or stricter"));
        if is_root() {
            assert_eq!(perms(0o640, Some(42)).status, Status::Pass);
            let c = perms(0o640, Some(1000));
            assert_eq!(c.status, Status::Fail);
            assert!(
                c.evidence
                    .contains("/etc/shadow 0640 uid 0 gid 1000 (wrong)"),
                "{}",
                c.evidence
            );
        } else {
            eprintln!("not root: group cases skipped");
        }
        let c = run_check(&[("/etc/gshadow", "")], shadow_permissions);
        assert_eq!(c.status, Status::Unknown);
        assert_eq!(c.evidence, "/etc/shadow absent");
    }

    #[test]
    fn passwd_and_group_permissions() {
        let files = [
            ("/etc/passwd", PASSWD),
            ("/etc/group", GROUP),
            ("/etc/group-", GROUP),
        ];
        let c = run_with(
            &files,
            &[
                ("/etc/passwd", 0o644, None),
                ("/etc/group", 0o644, None),
                ("/etc/group-", 0o600, None),
            ],
            passwd_permissions,
        );
        assert_eq!(c.status, pass_if(is_root()), "{}", c.evidence);
        assert!(c.evidence.contains("/etc/passwd- absent"));
        let c = run_with(
            &files,
            &[("/etc/passwd", 0o644, None), ("/etc/group", 0o664, None)],
            passwd_permissions,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("/etc/group 0664"), "{}", c.evidence);
        assert_eq!(run_check(&[], passwd_permissions).status, Status::Unknown);
    }

    #[test]
    fn password_hashing_methods() {
        let shadow =
            "root:!:1::::::\nsoignant:$y$j9T$a$b:1::::::\nold:$5$s$h:1::::::\ndaemon:*:1::::::\n";
        let defs = "UMASK 022\nENCRYPT_METHOD YESCRYPT\n";
        let c = run_check(
            &[("/etc/shadow", shadow), ("/etc/login.defs", defs)],
            password_hashing,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert_eq!(
            c.evidence,
            "/etc/shadow: 1 yescrypt, 1 SHA-256; ENCRYPT_METHOD YESCRYPT (/etc/login.defs)"
        );
        let md5 = format!("{shadow}legacy:$1$s$h:1::::::\n");
        let c = run_check(
            &[("/etc/shadow", &md5), ("/etc/login.defs", defs)],
            password_hashing,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("1 MD5 (weak)"), "{}", c.evidence);
        // Debian 12: no ENCRYPT_METHOD, pam_unix yescrypt.
        let pam = "password [success=1 default=ignore] pam_unix.so obscure yescrypt\n";
        let c = run_check(
            &[
                ("/etc/shadow", shadow),
                ("/etc/login.defs", "UMASK 022\n"),
                ("/etc/pam.d/common-password", pam),
            ],
            password_hashing,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c
            .evidence
            .ends_with("pam_unix yescrypt (/etc/pam.d/common-password)"));
        // PAM's own method wins over login.defs: passwd(1) stores what pam_unix says.
        let c = run_check(
            &[
                ("/etc/shadow", shadow),
                ("/etc/login.defs", "ENCRYPT_METHOD SHA512\n"),
                (
                    "/etc/pam.d/common-password",
                    "password required pam_unix.so obscure md5\n",
                ),
            ],
            password_hashing,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        let c = run_check(
            &[
                ("/etc/shadow", shadow),
                ("/etc/login.defs", "ENCRYPT_METHOD MD5\n"),
            ],
            password_hashing,
        );
        assert_eq!(c.status, Status::Fail);
        let c = run_check(
            &[
                ("/etc/shadow", "a:$7$x:1::::::\n"),
                ("/etc/login.defs", defs),
            ],
            password_hashing,
        );
        assert_eq!(c.status, Status::Unknown);
        let c = run_check(&[("/etc/shadow", shadow)], password_hashing);
        assert_eq!(c.status, Status::Unknown);
        assert!(
            c.evidence.contains("/etc/pam.d/common-password absent"),
            "{}",
            c.evidence
        );
        assert_eq!(run_check(&[], password_hashing).status, Status::Unknown);
    }

    #[test]
    fn individual_accounts() {
        let c = run_check(&[("/etc/passwd", PASSWD)], individual);
        assert_eq!(c.status, Status::Pass);
        assert_eq!(
            c.evidence,
            "/etc/passwd: 1 human account(s) (UID 1000-60000 with a login shell), none with a shared or default name"
        );
        let pw = format!("{PASSWD}pi:x:1001:1001::/home/pi:/bin/bash\nkiosk:x:1002:1002::/:/bin/sh\nguest:x:1003:1003::/:/usr/sbin/nologin\nnobody:x:65534:65534::/:/bin/sh\n");
        let c = run_check(&[("/etc/passwd", &pw)], individual);
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.evidence.starts_with("/etc/passwd: 3 human account(s)"),
            "{}",
            c.evidence
        );
        assert!(
            c.evidence.ends_with("shared or default name(s): kiosk, pi"),
            "{}",
            c.evidence
        );
        assert!(!c.evidence.contains("soignant"));
        // UID_MIN from login.defs.
        let c = run_check(
            &[
                ("/etc/passwd", PASSWD),
                ("/etc/login.defs", "UID_MIN 2000\n"),
            ],
            individual,
        );
        assert_eq!(c.status, Status::NotApplicable);
        assert!(c.evidence.contains("0 human account(s) (UID 2000-60000"));
        assert_eq!(run_check(&[], individual).status, Status::Unknown);
    }

    #[test]
    fn umask_from_login_defs() {
        let u = |t: &str| run_check(&[("/etc/login.defs", t)], umask);
        let c = u("UMASK\t\t022\n");
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.evidence,
            "UMASK 022 (/etc/login.defs); 027 or stricter expected"
        );
        assert_eq!(u("UMASK 027\n").status, Status::Pass);
        assert_eq!(u("UMASK 077\n").status, Status::Pass);
        assert_eq!(u("UMASK 007\n").status, Status::Fail);
        assert_eq!(u("# UMASK 027\n").status, Status::Fail);
        assert_eq!(u("UMASK 0x1\n").status, Status::Unknown);
        assert_eq!(run_check(&[], umask).status, Status::Unknown);
    }

    #[test]
    fn root_path_directories() {
        let dirs = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin"];
        let build = |extra: &[(&str, &str)], writable: Option<&str>| {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), extra);
            for d in dirs {
                let p = dir.path().join(d.trim_start_matches('/'));
                std::fs::create_dir_all(&p).unwrap();
                let mode = if Some(d) == writable { 0o777 } else { 0o755 };
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            }
            root_path(&Ctx::load(&Root::at(dir.path()).with_live(dir.path())))
        };
        let c = build(&[], None);
        assert_eq!(c.status, pass_if(is_root()), "{}", c.evidence);
        assert!(
            c.evidence.starts_with("default /usr/local/sbin:"),
            "{}",
            c.evidence
        );
        let c = build(&[], Some("/usr/local/bin"));
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.evidence.contains("/usr/local/bin mode 0777"),
            "{}",
            c.evidence
        );
        let c = build(
            &[
                ("/etc/login.defs", "ENV_SUPATH\tPATH=/usr/sbin:/usr/bin:.\n"),
                ("/etc/environment", "PATH=\"/usr/bin::/usr/local/bin\"\n"),
            ],
            None,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.evidence.contains("ENV_SUPATH: relative entry \".\""),
            "{}",
            c.evidence
        );
        assert!(
            c.evidence.contains("/etc/environment: relative entry \"\""),
            "{}",
            c.evidence
        );
        let c = run_check(&[], root_path);
        assert_eq!(c.status, Status::Unknown);
        assert!(c.evidence.ends_with("none of these directories exists"));
        // A directory that is a symlink loop cannot be judged, and does not hang.
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[
                ("/etc/login.defs", "ENV_SUPATH PATH=/opt/loop\n"),
                ("/opt/x", ""),
            ],
        );
        std::os::unix::fs::symlink("loop", dir.path().join("opt/loop")).unwrap();
        let c = root_path(&Ctx::load(&Root::at(dir.path()).with_live(dir.path())));
        assert_eq!(c.status, Status::Unknown, "{}", c.evidence);
        assert_eq!(c.evidence, "ENV_SUPATH /opt/loop: /opt/loop not readable");
    }

    #[test]
    fn raspberry_pi_default_account_and_sudo_drop_in() {
        let pi_pw = format!("{PASSWD}pi:x:1001:1001::/home/pi:/bin/bash\n");
        let rpi = ("/etc/rpi-issue", "Raspberry Pi reference 2023-05-03\n");
        let c = run_check(
            &[
                rpi,
                ("/etc/passwd", &pi_pw),
                ("/etc/shadow", "pi:$y$j9T$a$b:1::::::\n"),
            ],
            pi_account,
        );
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.evidence,
            "/etc/rpi-issue present; pi account has a usable password (/etc/shadow)"
        );
        let c = run_check(
            &[
                rpi,
                ("/etc/passwd", &pi_pw),
                ("/etc/shadow", "pi:!$y$j9T$a$b:1::::::\n"),
            ],
            pi_account,
        );
        assert_eq!(c.status, Status::Pass);
        let c = run_check(&[rpi, ("/etc/passwd", PASSWD)], pi_account);
        assert_eq!(c.status, Status::Pass);
        assert!(c.evidence.ends_with("no pi account in /etc/passwd"));
        assert_eq!(
            run_check(&[rpi, ("/etc/passwd", &pi_pw)], pi_account).status,
            Status::Unknown
        );
        // Bookworm images say ID=debian; the package tells.
        let status = dpkg(&["raspberrypi-sys-mods"]);
        let c = run_check(
            &[
                ("/var/lib/dpkg/status", &status),
                ("/etc/os-release", "ID=debian\n"),
                ("/etc/passwd", PASSWD),
            ],
            pi_account,
        );
        assert_eq!(c.status, Status::Pass);
        assert!(c.evidence.starts_with("raspberrypi-sys-mods installed"));
        let c = run_check(
            &[
                ("/etc/os-release", "ID=raspbian\n"),
                ("/etc/passwd", PASSWD),
            ],
            pi_account,
        );
        assert!(
            c.evidence.starts_with("os-release names raspbian"),
            "{}",
            c.evidence
        );
        let debian = dpkg(&["base-files"]);
        let c = run_check(
            &[("/var/lib/dpkg/status", &debian), ("/etc/passwd", &pi_pw)],
            pi_account,
        );
        assert_eq!(c.status, Status::NotApplicable);
        assert_eq!(
            run_check(&[("/etc/passwd", &pi_pw)], pi_account).status,
            Status::Unknown
        );

        let drop_in = (
            "/etc/sudoers.d/010_pi-nopasswd",
            "pi ALL=(ALL) NOPASSWD: ALL\n",
        );
        let c = run_check(&[rpi, drop_in], pi_nopasswd);
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.evidence,
            "/etc/rpi-issue present; /etc/sudoers.d/010_pi-nopasswd present"
        );
        assert_eq!(run_check(&[rpi], pi_nopasswd).status, Status::Pass);
        let c = run_check(&[("/var/lib/dpkg/status", &debian), drop_in], pi_nopasswd);
        assert_eq!(c.status, Status::NotApplicable);
    }

    #[test]
    fn unreadable_files_are_unknown() {
        let c = run(&[], None);
        for check in &c {
            assert_eq!(
                check.status,
                Status::Unknown,
                "{}: {}",
                check.id,
                check.evidence
            );
        }
    }
}
