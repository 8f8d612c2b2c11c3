//! PAM: no `nullok`, a password length policy, lockout after failed attempts, and `su`
//! restricted to a group. Read from /etc/pam.d (Debian's common-* layout).

use super::{pass_if, sys, Check, Ctx, Rule, Severity, Status};
use crate::collect::max;
use crate::parse::{keyfile, pam};

const NULLOK: Rule = Rule {
    id: "accounts.pam_nullok",
    title: "PAM refuses empty passwords (pam_unix without nullok)",
    severity: Severity::High,
    reference: "CIS Debian Linux 12 Benchmark: Ensure pam_unix does not include nullok",
};

const QUALITY: Rule = Rule {
    id: "accounts.password_quality",
    title: "New passwords must be at least 12 characters long",
    severity: Severity::Medium,
    reference: "CIS Debian Linux 12 Benchmark: Ensure password length is configured",
};

const FAILLOCK: Rule = Rule {
    id: "accounts.faillock",
    title: "Accounts are locked after repeated failed logins",
    severity: Severity::Medium,
    reference: "CIS Debian Linux 12 Benchmark: Ensure pam_faillock module is enabled",
};

const SU: Rule = Rule {
    id: "accounts.su_restricted",
    title: "su is restricted to the members of one group",
    severity: Severity::Medium,
    reference: "CIS Debian Linux 12 Benchmark: Ensure access to the su command is restricted",
};

/// The shortest password length accepted.
const MIN_LENGTH: u32 = 12;

/// The lines of /etc/pam.d/`name`, or why they could not be read.
pub(super) fn read(ctx: &Ctx, name: &str) -> Result<Vec<pam::Line>, String> {
    let path = format!("/etc/pam.d/{name}");
    ctx.root
        .read_up_to(&path, max::CONFIG)
        .map(|t| pam::lines(&t))
        .map_err(|e| format!("{path} {}", sys::why(&e)))
}

pub(super) fn checks(ctx: &Ctx) -> Vec<Check> {
    vec![
        nullok(ctx),
        password_quality(ctx),
        faillock(ctx),
        su_restricted(ctx),
    ]
}

/// Files where pam_unix decides; login and sshd only matter if they call it directly.
const NULLOK_FILES: [&str; 6] = [
    "common-auth",
    "common-password",
    "common-account",
    "common-session",
    "login",
    "sshd",
];

fn nullok(ctx: &Ctx) -> Check {
    let (mut found, mut read_ok, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for name in NULLOK_FILES {
        match read(ctx, name) {
            Ok(lines) => {
                read_ok.push(name);
                let n = lines
                    .iter()
                    .filter(|l| match l {
                        pam::Line::Rule(r) => {
                            r.is("pam_unix") && (r.has_arg("nullok") || r.has_arg("nullok_secure"))
                        }
                        pam::Line::Include(_) => false,
                    })
                    .count();
                if n > 0 {
                    found.push(format!("/etc/pam.d/{name} ({n} line(s))"));
                }
            }
            // login and sshd come with their packages; the common-* files with PAM.
            Err(e) if name.starts_with("common-") => errors.push(e),
            Err(_) => {}
        }
    }
    if !found.is_empty() {
        return NULLOK.check(
            Status::Fail,
            format!(
                "pam_unix with nullok (accepts an empty password) in {}",
                found.join(", ")
            ),
        );
    }
    if !errors.is_empty() {
        return NULLOK.check(Status::Unknown, errors.join("; "));
    }
    NULLOK.check(
        Status::Pass,
        format!(
            "no nullok on pam_unix lines of /etc/pam.d/{{{}}}",
            read_ok.join(",")
        ),
    )
}

/// libpwquality's built-in minlen.
const PWQUALITY_DEFAULT_MINLEN: u32 = 8;

fn password_quality(ctx: &Ctx) -> Check {
    let lines = match read(ctx, "common-password") {
        Ok(l) => l,
        Err(e) => return QUALITY.check(Status::Unknown, e),
    };
    let mut password = pam::rules(&lines, "password");
    let Some(module) = password.find(|r| r.is("pam_pwquality") || r.is("pam_passwdqc")) else {
        return QUALITY.check(
            Status::Fail,
            "no pam_pwquality or pam_passwdqc in /etc/pam.d/common-password: no length policy for new passwords",
        );
    };
    let found = if module.is("pam_pwquality") {
        pwquality_minlen(ctx, module)
    } else {
        passwdqc_min(ctx, module)
    };
    match found {
        Ok((n, source)) => QUALITY.check(
            pass_if(n >= MIN_LENGTH),
            format!(
                "{} minimum length {n} ({source}); {MIN_LENGTH} required",
                module.module_name()
            ),
        ),
        Err(why) => QUALITY.check(Status::Unknown, why),
    }
}

/// pam_pwquality's minlen: its argument, else the last value of the configuration
/// (pwquality.conf.d/*.conf in order, then pwquality.conf, which wins), else the default.
fn pwquality_minlen(ctx: &Ctx, module: &pam::Rule) -> Result<(u32, String), String> {
    let parse = |v: &str, source: String| {
        v.parse::<u32>()
            .map(|n| (n, source.clone()))
            .map_err(|_| format!("minlen {v:?} not understood ({source})"))
    };
    if let Some(v) = module.arg("minlen") {
        return parse(v, "/etc/pam.d/common-password".into());
    }
    let mut files = sys::glob(ctx.root, "/etc/security/pwquality.conf.d/*.conf");
    files.push("/etc/security/pwquality.conf".into());
    let mut last = None;
    for f in files {
        match ctx.root.read_up_to(&f, max::CONFIG) {
            Ok(text) => {
                if let Some(v) = keyfile::ini_get(&keyfile::ini(&text), "", "minlen") {
                    last = Some((v.to_string(), f));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{f} {}", sys::why(&e))),
        }
    }
    match last {
        Some((v, f)) => parse(&v, f),
        None => Ok((PWQUALITY_DEFAULT_MINLEN, "libpwquality default".to_string())),
    }
}

/// pam_passwdqc's `min=N0,N1,N2,N3,N4`: the shortest length it accepts is the smallest
/// value not `disabled` (from the argument, else its `config=` file, else the default).
fn passwdqc_min(ctx: &Ctx, module: &pam::Rule) -> Result<(u32, String), String> {
    let (value, source) = match (module.arg("min"), module.arg("config")) {
        (Some(v), _) => (v.to_string(), "/etc/pam.d/common-password".to_string()),
        (None, Some(conf)) => {
            let text = ctx
                .root
                .read_up_to(conf, max::CONFIG)
                .map_err(|e| format!("{conf} {}", sys::why(&e)))?;
            let v = keyfile::ini_get(&keyfile::ini(&text), "", "min")
                .unwrap_or("disabled,24,11,8,7")
                .to_string();
            (v, conf.to_string())
        }
        (None, None) => ("disabled,24,11,8,7".into(), "passwdqc default".into()),
    };
    let mut shortest = None;
    for part in value.split(',').filter(|p| *p != "disabled") {
        let n: u32 = part
            .parse()
            .map_err(|_| format!("min={value} not understood ({source})"))?;
        shortest = Some(shortest.map_or(n, |s: u32| s.min(n)));
    }
    shortest
        .map(|n| (n, source.clone()))
        .ok_or_else(|| format!("min={value}: every class disabled ({source})"))
}

fn faillock(ctx: &Ctx) -> Check {
    let lines = match read(ctx, "common-auth") {
        Ok(l) => l,
        Err(e) => return FAILLOCK.check(Status::Unknown, e),
    };
    let module = pam::rules(&lines, "auth").find(|r| r.is("pam_faillock") || r.is("pam_tally2"));
    match module {
        Some(r) => FAILLOCK.check(
            Status::Pass,
            format!("auth {} in /etc/pam.d/common-auth", r.module_name()),
        ),
        None => FAILLOCK.check(
            Status::Fail,
            "no pam_faillock or pam_tally2 auth line in /etc/pam.d/common-auth: failed logins never lock an account",
        ),
    }
}

fn su_restricted(ctx: &Ctx) -> Check {
    if !["/usr/bin/su", "/bin/su"]
        .iter()
        .any(|p| ctx.root.file(p).exists())
    {
        return SU.check(
            Status::NotApplicable,
            "no su command (/usr/bin/su, /bin/su)",
        );
    }
    let lines = match read(ctx, "su") {
        Ok(l) => l,
        Err(e) => return SU.check(Status::Unknown, e),
    };
    let wheel = pam::rules(&lines, "auth")
        .find(|r| r.is("pam_wheel") && matches!(r.control.as_str(), "required" | "requisite"));
    match wheel {
        Some(r) => SU.check(
            Status::Pass,
            format!("auth {} pam_wheel.so in /etc/pam.d/su", r.control),
        ),
        None => SU.check(
            Status::Fail,
            "no active auth required/requisite pam_wheel.so line in /etc/pam.d/su: anyone with root's password can use su",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::run_check;
    use super::*;

    /// Debian 12's files, as pam-auth-update writes them.
    const COMMON_AUTH: &str = "auth\t[success=1 default=ignore]\tpam_unix.so nullok\nauth\trequisite\t\t\tpam_deny.so\nauth\trequired\t\t\tpam_permit.so\n";
    const COMMON_PASSWORD: &str = "password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt\npassword\trequisite\t\t\tpam_deny.so\npassword\trequired\t\t\tpam_permit.so\n";
    const SU: &str = "auth       sufficient pam_rootok.so\n# auth       required   pam_wheel.so\n# auth       sufficient pam_wheel.so trust\nsession       required   pam_env.so readenv=1\n@include common-auth\n";

    #[test]
    fn nullok_fails_on_debian_and_passes_without_it() {
        let c = run_check(
            &[
                ("/etc/pam.d/common-auth", COMMON_AUTH),
                ("/etc/pam.d/common-password", COMMON_PASSWORD),
                ("/etc/pam.d/sshd", "@include common-auth\n"),
                (
                    "/etc/pam.d/login",
                    "auth required pam_unix.so nullok_secure\n",
                ),
            ],
            nullok,
        );
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.evidence,
            "pam_unix with nullok (accepts an empty password) in /etc/pam.d/common-auth (1 line(s)), /etc/pam.d/login (1 line(s))"
        );
        let clean = COMMON_AUTH.replace(" nullok", "");
        let c = run_check(
            &[
                ("/etc/pam.d/common-auth", &clean),
                ("/etc/pam.d/common-password", COMMON_PASSWORD),
                (
                    "/etc/pam.d/common-account",
                    "account required pam_unix.so\n",
                ),
                ("/etc/pam.d/common-session", "# nullok\u{FFFD}\n"),
            ],
            nullok,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert_eq!(
            c.evidence,
            "no nullok on pam_unix lines of /etc/pam.d/{common-auth,common-password,common-account,common-session}"
        );
        // common-auth unreadable and no nullok elsewhere: cannot say.
        let c = run_check(&[("/etc/pam.d/common-password", COMMON_PASSWORD)], nullok);
        assert_eq!(c.status, Status::Unknown);
        assert!(
            c.evidence.contains("/etc/pam.d/common-auth absent"),
            "{}",
            c.evidence
        );
    }

    #[test]
    fn password_length_from_arguments_configuration_or_defaults() {
        let q = |files: &[(&str, &str)]| run_check(files, password_quality);
        let c = q(&[("/etc/pam.d/common-password", COMMON_PASSWORD)]);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.starts_with("no pam_pwquality or pam_passwdqc"));
        let pwq = format!("password requisite pam_pwquality.so retry=3\n{COMMON_PASSWORD}");
        let c = q(&[("/etc/pam.d/common-password", &pwq)]);
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.evidence,
            "pam_pwquality.so minimum length 8 (libpwquality default); 12 required"
        );
        // The main file is read after the drop-ins and wins.
        let c = q(&[
            ("/etc/pam.d/common-password", &pwq),
            (
                "/etc/security/pwquality.conf.d/50-site.conf",
                "minlen = 10\n",
            ),
            (
                "/etc/security/pwquality.conf",
                "# minlen = 8\nminlen = 14\n",
            ),
        ]);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("14 (/etc/security/pwquality.conf)"));
        let c = q(&[
            ("/etc/pam.d/common-password", &pwq),
            (
                "/etc/security/pwquality.conf.d/50-site.conf",
                "minlen = 15\n",
            ),
        ]);
        assert_eq!(c.status, Status::Pass);
        // An argument overrides the files.
        let arg = pwq.replace("retry=3", "retry=3 minlen=9");
        let c = q(&[
            ("/etc/pam.d/common-password", &arg),
            ("/etc/security/pwquality.conf", "minlen = 14\n"),
        ]);
        assert_eq!(c.status, Status::Fail);
        let bad = pwq.replace("retry=3", "minlen=x");
        assert_eq!(
            q(&[("/etc/pam.d/common-password", &bad)]).status,
            Status::Unknown
        );
        let qc = "password requisite pam_passwdqc.so min=disabled,24,12,12,12\n";
        let c = q(&[("/etc/pam.d/common-password", qc)]);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        let qc = "password requisite pam_passwdqc.so\n";
        let c = q(&[("/etc/pam.d/common-password", qc)]);
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.evidence.contains("length 7 (passwdqc default)"),
            "{}",
            c.evidence
        );
        assert_eq!(q(&[]).status, Status::Unknown);
    }

    #[test]
    fn faillock_in_common_auth() {
        let c = run_check(&[("/etc/pam.d/common-auth", COMMON_AUTH)], faillock);
        assert_eq!(c.status, Status::Fail);
        let with = format!("auth required pam_faillock.so preauth\n{COMMON_AUTH}");
        let c = run_check(&[("/etc/pam.d/common-auth", &with)], faillock);
        assert_eq!(c.status, Status::Pass);
        assert_eq!(c.evidence, "auth pam_faillock.so in /etc/pam.d/common-auth");
        let commented = format!("#auth required pam_faillock.so preauth\n{COMMON_AUTH}");
        let c = run_check(&[("/etc/pam.d/common-auth", &commented)], faillock);
        assert_eq!(c.status, Status::Fail);
        assert_eq!(run_check(&[], faillock).status, Status::Unknown);
    }

    #[test]
    fn su_needs_an_active_pam_wheel() {
        let su_bin = ("/usr/bin/su", "");
        let c = run_check(&[su_bin, ("/etc/pam.d/su", SU)], su_restricted);
        assert_eq!(c.status, Status::Fail);
        let on = SU.replace("# auth       required", "auth required");
        let c = run_check(&[su_bin, ("/etc/pam.d/su", &on)], su_restricted);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert_eq!(c.evidence, "auth required pam_wheel.so in /etc/pam.d/su");
        let weak = SU.replace(
            "# auth       sufficient pam_wheel.so",
            "auth sufficient pam_wheel.so",
        );
        let c = run_check(&[su_bin, ("/etc/pam.d/su", &weak)], su_restricted);
        assert_eq!(c.status, Status::Fail);
        assert_eq!(run_check(&[su_bin], su_restricted).status, Status::Unknown);
        let c = run_check(&[("/etc/pam.d/su", SU)], su_restricted);
        assert_eq!(c.status, Status::NotApplicable);
    }
}
