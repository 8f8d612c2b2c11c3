//! OpenSSH server: root login and password authentication, from sshd_config and its
//! `Include`d drop-ins (see [`crate::parse::sshd`] for the precedence rules).

use super::{pass_if, sys, Check, Ctx, Rule, Severity, Status};
use crate::collect::max;
use crate::parse::sshd::{self, Effective, Loaded};

const ROOT_LOGIN: Rule = Rule {
    id: "ssh.root_login",
    title: "SSH server refuses root logins",
    severity: Severity::High,
    reference: "CIS Debian Linux 12 Benchmark: Ensure sshd PermitRootLogin is disabled",
};

const PASSWORD: Rule = Rule {
    id: "ssh.password_auth",
    title: "SSH server does not accept passwords",
    severity: Severity::Medium,
    reference: "ANSSI, Recommandations pour un usage sécurisé d'(Open)SSH (DAT-NT-007): authentification des utilisateurs par clé",
};

const MAIN: &str = "/etc/ssh/sshd_config";

/// Reads the configuration, following includes relative to /etc/ssh as sshd does.
fn read(ctx: &Ctx) -> Result<Effective, String> {
    let main = ctx
        .root
        .read_up_to(MAIN, max::CONFIG)
        .map_err(|e| format!("{MAIN} {}", sys::why(&e)))?;
    let mut load = |pattern: &str| -> Vec<Loaded> {
        let abs = if pattern.starts_with('/') {
            pattern.to_string()
        } else {
            format!("/etc/ssh/{pattern}")
        };
        sys::glob(ctx.root, &abs)
            .into_iter()
            .map(|name| Loaded {
                text: ctx
                    .root
                    .read_up_to(&name, max::CONFIG)
                    .map_err(|e| sys::why(&e).to_string()),
                name,
            })
            .collect()
    };
    Ok(sshd::effective(MAIN, &main, &mut load))
}

/// `Keyword value (file)` or `Keyword default (OpenSSH default)`, and the value.
fn setting(eff: &Effective, key: &str, shown: &str, default: &str) -> (String, String) {
    match eff.value(key) {
        Some((v, file)) => (format!("{shown} {v} ({file})"), v),
        None => (
            format!("{shown} {default} (OpenSSH default)"),
            default.to_string(),
        ),
    }
}

pub(super) fn checks(ctx: &Ctx) -> Vec<Check> {
    match ctx.installed("openssh-server") {
        None => {
            let why = format!(
                "cannot tell whether openssh-server is installed: {}",
                ctx.dpkg.as_ref().err().map_or("", |e| e)
            );
            return vec![
                ROOT_LOGIN.check(Status::Unknown, &why),
                PASSWORD.check(Status::Unknown, why),
            ];
        }
        Some(false) => {
            let why = "openssh-server is not installed";
            return vec![
                ROOT_LOGIN.check(Status::NotApplicable, why),
                PASSWORD.check(Status::NotApplicable, why),
            ];
        }
        Some(true) => {}
    }
    let eff = match read(ctx) {
        Ok(eff) => eff,
        Err(why) => {
            return vec![
                ROOT_LOGIN.check(Status::Unknown, &why),
                PASSWORD.check(Status::Unknown, why),
            ]
        }
    };
    let files = match eff.files.len() {
        1 => String::new(),
        n => format!("; read {MAIN} + {} included file(s)", n - 1),
    };
    let unsure = |keys: &[&str]| -> Option<String> {
        (!keys.iter().all(|k| eff.is_certain(k))).then(|| {
            format!(
                "an earlier file could not be read: {}",
                eff.errors.join(", ")
            )
        })
    };
    vec![
        root_login(&eff, &files, unsure(&["permitrootlogin"])),
        password(
            &eff,
            &files,
            unsure(&[
                "passwordauthentication",
                "kbdinteractiveauthentication",
                "usepam",
            ]),
        ),
    ]
}

fn root_login(eff: &Effective, files: &str, unsure: Option<String>) -> Check {
    if let Some(why) = unsure {
        return ROOT_LOGIN.check(Status::Unknown, why);
    }
    let (shown, v) = setting(
        eff,
        "permitrootlogin",
        "PermitRootLogin",
        "prohibit-password",
    );
    let (status, meaning) = match v.as_str() {
        "no" => (Status::Pass, "root cannot log in"),
        "yes" => (Status::Fail, "root can log in, with a password too"),
        "prohibit-password" | "without-password" => (Status::Fail, "root can log in with a key"),
        "forced-commands-only" => (
            Status::Fail,
            "root can log in with a key for forced commands",
        ),
        _ => (Status::Unknown, "value not understood"),
    };
    ROOT_LOGIN.check(status, format!("{shown}: {meaning}{files}"))
}

fn password(eff: &Effective, files: &str, unsure: Option<String>) -> Check {
    if let Some(why) = unsure {
        return PASSWORD.check(Status::Unknown, why);
    }
    let (pa_shown, pa) = setting(
        eff,
        "passwordauthentication",
        "PasswordAuthentication",
        "yes",
    );
    let (kbd_shown, kbd) = setting(
        eff,
        "kbdinteractiveauthentication",
        "KbdInteractiveAuthentication",
        "yes",
    );
    let (pam_shown, pam) = setting(eff, "usepam", "UsePAM", "no");
    // Keyboard-interactive asks for the password through PAM when both are on.
    let via_pam = kbd == "yes" && pam == "yes";
    let evidence = if via_pam {
        format!("{pa_shown}; {kbd_shown} with {pam_shown}: PAM prompts for passwords{files}")
    } else {
        format!("{pa_shown}; {kbd_shown}{files}")
    };
    PASSWORD.check(pass_if(pa == "no" && !via_pam), evidence)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{dpkg, write};
    use super::super::{Ctx, Status};
    use super::*;
    use crate::collect::Root;

    const DEBIAN12: &str = "Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nX11Forwarding yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n";

    fn run(files: &[(&str, &str)]) -> Vec<Check> {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), files);
        let root = Root::at(dir.path()).with_live(dir.path());
        checks(&Ctx::load(&root))
    }

    fn with_ssh(extra: &[(&'static str, &'static str)]) -> Vec<Check> {
        let status = dpkg(&["openssh-server"]);
        let mut files: Vec<(&str, &str)> = vec![("/var/lib/dpkg/status", &status)];
        files.extend_from_slice(extra);
        run(&files)
    }

    #[test]
    fn an_oversized_config_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[("/var/lib/dpkg/status", &dpkg(&["openssh-server"]))],
        );
        let main = dir.path().join("etc/ssh/sshd_config");
        std::fs::create_dir_all(main.parent().unwrap()).unwrap();
        // One 50 MB line (sparse: no disk), which would cost its size in memory if read.
        std::fs::File::create(&main)
            .unwrap()
            .set_len(50 << 20)
            .unwrap();
        let root = Root::at(dir.path()).with_live(dir.path());
        let c = checks(&Ctx::load(&root));
        assert_eq!(c[0].status, Status::Unknown);
        assert!(
            c[0].evidence
                .starts_with("/etc/ssh/sshd_config is larger than 1048576 bytes"),
            "{}",
            c[0].evidence
        );
    }

    #[test]
    fn debian_defaults_fail_both() {
        let c = with_ssh(&[("/etc/ssh/sshd_config", DEBIAN12)]);
        assert_eq!(c[0].status, Status::Fail);
        assert!(
            c[0].evidence
                .contains("PermitRootLogin prohibit-password (OpenSSH default)"),
            "{}",
            c[0].evidence
        );
        assert_eq!(c[1].status, Status::Fail);
        assert!(c[1]
            .evidence
            .contains("PasswordAuthentication yes (OpenSSH default)"));
    }

    #[test]
    fn hardened_drop_in_passes_and_cloud_init_drop_in_wins_by_order() {
        let c = with_ssh(&[
            ("/etc/ssh/sshd_config", DEBIAN12),
            (
                "/etc/ssh/sshd_config.d/10-grappe.conf",
                "PermitRootLogin no\nPasswordAuthentication no\n",
            ),
        ]);
        assert_eq!(c[0].status, Status::Pass, "{}", c[0].evidence);
        assert_eq!(c[1].status, Status::Pass, "{}", c[1].evidence);
        assert!(c[1].evidence.contains("10-grappe.conf"));
        let c = with_ssh(&[
            ("/etc/ssh/sshd_config", DEBIAN12),
            (
                "/etc/ssh/sshd_config.d/50-cloud-init.conf",
                "PasswordAuthentication yes\n",
            ),
            (
                "/etc/ssh/sshd_config.d/60-grappe.conf",
                "PasswordAuthentication no\n",
            ),
        ]);
        assert_eq!(c[1].status, Status::Fail);
        assert!(c[1].evidence.contains("50-cloud-init.conf"));
    }

    #[test]
    fn relative_include_and_kbd_interactive_via_pam() {
        let c = with_ssh(&[
            (
                "/etc/ssh/sshd_config",
                "Include local/*.conf\nPasswordAuthentication no\nUsePAM yes\n",
            ),
            (
                "/etc/ssh/local/a.conf",
                "KbdInteractiveAuthentication yes\nMatch User root\nPermitRootLogin yes\n",
            ),
        ]);
        assert_eq!(c[1].status, Status::Fail);
        assert!(c[1].evidence.contains("PAM prompts"), "{}", c[1].evidence);
        assert_eq!(c[0].status, Status::Fail); // default, Match block ignored
    }

    #[test]
    fn not_installed_or_unreadable() {
        let status = dpkg(&["openssh-client"]);
        let c = run(&[("/var/lib/dpkg/status", &status)]);
        assert_eq!(c[0].status, Status::NotApplicable);
        let c = with_ssh(&[]);
        assert_eq!(c[0].status, Status::Unknown);
        assert!(c[0].evidence.contains("absent"));
        let c = run(&[]);
        assert_eq!(c[1].status, Status::Unknown);
    }

    /// Our reading agrees with `sshd -T` where sshd exists (skipped otherwise).
    #[test]
    fn agrees_with_sshd_dash_t_when_available() {
        let sshd = ["/usr/sbin/sshd", "/sbin/sshd"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let (Some(sshd), true) = (sshd, std::path::Path::new("/usr/bin/ssh-keygen").exists())
        else {
            eprintln!("sshd or ssh-keygen not installed: comparison skipped");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let conf_d = d.join("conf.d");
        std::fs::create_dir_all(&conf_d).unwrap();
        std::fs::write(
            conf_d.join("50-cloud-init.conf"),
            "PasswordAuthentication yes\n",
        )
        .unwrap();
        std::fs::write(
            conf_d.join("60-x.conf"),
            "Match User nobody\nPermitRootLogin yes\n",
        )
        .unwrap();
        let main = format!("Include {}/*.conf\nPermitRootLogin no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n", conf_d.display());
        let cfg = d.join("sshd_config");
        std::fs::write(&cfg, &main).unwrap();
        let key = d.join("hostkey");
        let ok = std::process::Command::new("/usr/bin/ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .is_ok_and(|s| s.success());
        let out = std::process::Command::new(sshd)
            .arg("-T")
            .arg("-f")
            .arg(&cfg)
            .arg("-h")
            .arg(&key)
            .output();
        let Some(out) = out.ok().filter(|o| ok && o.status.success()) else {
            eprintln!("sshd -T could not run here: comparison skipped");
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let theirs = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k} ")))
                .map(str::to_string)
        };
        let mut load = |p: &str| {
            let mut names: Vec<_> = std::fs::read_dir(&conf_d)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            names.sort();
            assert!(p.ends_with("*.conf"));
            names
                .into_iter()
                .map(|n| Loaded {
                    name: n.display().to_string(),
                    text: Ok(std::fs::read_to_string(&n).unwrap()),
                })
                .collect()
        };
        let eff = sshd::effective("main", &main, &mut load);
        assert_eq!(
            eff.value("permitrootlogin").map(|v| v.0),
            theirs("permitrootlogin")
        );
        assert_eq!(
            eff.value("passwordauthentication").map(|v| v.0),
            theirs("passwordauthentication")
        );
    }
}
