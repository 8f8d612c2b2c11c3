//! OpenSSH server: root login, password and empty-password authentication, authentication
//! attempts and forwarding, from sshd_config and its `Include`d drop-ins (see
//! [`crate::parse::sshd`] for the precedence rules); and the private host keys' permissions.

use super::{pass_if, sys, Check, Ctx, Rule, Severity, Status};
use crate::collect::max;
use crate::parse::passwd;
use crate::parse::sshd::{self, Effective, Loaded};
use std::os::unix::fs::MetadataExt;

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

const EMPTY: Rule = Rule {
    id: "ssh.empty_passwords",
    title: "SSH server refuses accounts with an empty password",
    severity: Severity::High,
    reference: "CIS Debian Linux 12 Benchmark: Ensure sshd PermitEmptyPasswords is disabled",
};

const MAX_AUTH_TRIES: Rule = Rule {
    id: "ssh.max_auth_tries",
    title: "SSH server allows at most 4 authentication attempts per connection",
    severity: Severity::Low,
    reference: "CIS Debian Linux 12 Benchmark: Ensure sshd MaxAuthTries is configured",
};

const FORWARDING: Rule = Rule {
    id: "ssh.forwarding",
    title: "SSH server forwards neither X11 nor TCP connections",
    severity: Severity::Medium,
    reference: "CIS Debian Linux 12 Benchmark: Ensure sshd DisableForwarding is enabled",
};

const HOST_KEYS: Rule = Rule {
    id: "ssh.host_keys",
    title: "SSH private host keys are readable by root only",
    severity: Severity::High,
    reference: "CIS Debian Linux 12 Benchmark: Ensure permissions on SSH private host key files are configured",
};

const RULES: [Rule; 6] = [
    ROOT_LOGIN,
    PASSWORD,
    EMPTY,
    MAX_AUTH_TRIES,
    FORWARDING,
    HOST_KEYS,
];

/// Units that start sshd: the service, its Red Hat-style alias, or socket activation.
const UNITS: [&str; 3] = ["ssh.service", "sshd.service", "ssh.socket"];

/// The keywords the checks read: (lowercase keyword, as shown, OpenSSH's default).
const KEYWORDS: [(&str, &str, &str); 9] = [
    ("permitrootlogin", "PermitRootLogin", "prohibit-password"),
    ("passwordauthentication", "PasswordAuthentication", "yes"),
    (
        "kbdinteractiveauthentication",
        "KbdInteractiveAuthentication",
        "yes",
    ),
    ("usepam", "UsePAM", "no"),
    ("permitemptypasswords", "PermitEmptyPasswords", "no"),
    ("maxauthtries", "MaxAuthTries", "6"),
    ("disableforwarding", "DisableForwarding", "no"),
    ("x11forwarding", "X11Forwarding", "no"),
    ("allowtcpforwarding", "AllowTcpForwarding", "yes"),
];

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

/// `Keyword value (file)` or `Keyword default (OpenSSH default)`, and the value, for one
/// of the [`KEYWORDS`].
fn setting(eff: &Effective, key: &str) -> (String, String) {
    let (_, shown, default) = KEYWORDS
        .iter()
        .find(|k| k.0 == key)
        .expect("keyword listed in KEYWORDS");
    match eff.value(key) {
        Some((v, file)) => (format!("{shown} {v} ({file})"), v),
        None => (
            format!("{shown} {default} (OpenSSH default)"),
            default.to_string(),
        ),
    }
}

/// Every check with the same status and evidence.
fn all(status: Status, why: &str) -> Vec<Check> {
    RULES.iter().map(|r| r.check(status, why)).collect()
}

pub(super) fn checks(ctx: &Ctx) -> Vec<Check> {
    match ctx.installed("openssh-server") {
        None => {
            let why = format!(
                "cannot tell whether openssh-server is installed: {}",
                ctx.dpkg.as_ref().err().map_or("", |e| e)
            );
            return all(Status::Unknown, &why);
        }
        Some(false) => return all(Status::NotApplicable, "openssh-server is not installed"),
        Some(true) => {}
    }
    // An installed but disabled server accepts no connection: nothing to judge.
    if !UNITS.iter().any(|u| ctx.units.is_enabled(u)) {
        return all(
            Status::NotApplicable,
            "openssh-server installed but not enabled (none of ssh.service, sshd.service, ssh.socket)",
        );
    }
    let keys = host_keys(ctx);
    let eff = match read(ctx) {
        Ok(eff) => eff,
        Err(why) => {
            let mut c = all(Status::Unknown, &why);
            c[5] = keys;
            return c;
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
        empty_passwords(&eff, &files, unsure(&["permitemptypasswords"])),
        max_auth_tries(&eff, &files, unsure(&["maxauthtries"])),
        forwarding(
            &eff,
            &files,
            unsure(&["disableforwarding", "x11forwarding", "allowtcpforwarding"]),
        ),
        keys,
    ]
}

/// A `Match` block that gives `key` a value `weak` accepts: the global setting then does
/// not hold for some connections (the usual "passwords from the LAN" exception). Shown as
/// what it sets and where.
fn weakened_by_match(
    eff: &Effective,
    key: &str,
    shown: &str,
    weak: fn(&str) -> bool,
) -> Option<String> {
    let found: Vec<String> = eff
        .in_match_blocks(key)
        .filter(|(v, _)| weak(v))
        .map(|(v, f)| format!("{shown} {v} in a Match block ({f})"))
        .collect();
    (!found.is_empty()).then(|| format!("; but {}", found.join(", ")))
}

fn root_login(eff: &Effective, files: &str, unsure: Option<String>) -> Check {
    if let Some(why) = unsure {
        return ROOT_LOGIN.check(Status::Unknown, why);
    }
    let (shown, v) = setting(eff, "permitrootlogin");
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
    if status == Status::Pass {
        if let Some(but) =
            weakened_by_match(eff, "permitrootlogin", "PermitRootLogin", |v| v != "no")
        {
            return ROOT_LOGIN.check(Status::Fail, format!("{shown}: {meaning}{but}{files}"));
        }
    }
    ROOT_LOGIN.check(status, format!("{shown}: {meaning}{files}"))
}

fn password(eff: &Effective, files: &str, unsure: Option<String>) -> Check {
    if let Some(why) = unsure {
        return PASSWORD.check(Status::Unknown, why);
    }
    let (pa_shown, pa) = setting(eff, "passwordauthentication");
    let (kbd_shown, kbd) = setting(eff, "kbdinteractiveauthentication");
    let (pam_shown, pam) = setting(eff, "usepam");
    // Keyboard-interactive asks for the password through PAM when both are on.
    let via_pam = kbd == "yes" && pam == "yes";
    let evidence = if via_pam {
        format!("{pa_shown}; {kbd_shown} with {pam_shown}: PAM prompts for passwords{files}")
    } else {
        format!("{pa_shown}; {kbd_shown}{files}")
    };
    let ok = pa == "no" && !via_pam;
    if ok {
        let yes = |v: &str| v == "yes";
        let but = weakened_by_match(eff, "passwordauthentication", "PasswordAuthentication", yes)
            .or_else(|| {
                // Keyboard-interactive turned on for some connections prompts through PAM.
                (pam == "yes")
                    .then(|| {
                        weakened_by_match(
                            eff,
                            "kbdinteractiveauthentication",
                            "KbdInteractiveAuthentication",
                            yes,
                        )
                    })
                    .flatten()
            });
        if let Some(but) = but {
            return PASSWORD.check(Status::Fail, format!("{evidence}{but}"));
        }
    }
    PASSWORD.check(pass_if(ok), evidence)
}

fn empty_passwords(eff: &Effective, files: &str, unsure: Option<String>) -> Check {
    if let Some(why) = unsure {
        return EMPTY.check(Status::Unknown, why);
    }
    let (shown, v) = setting(eff, "permitemptypasswords");
    let but = weakened_by_match(eff, "permitemptypasswords", "PermitEmptyPasswords", |v| {
        v == "yes"
    });
    let status = match (v.as_str(), &but) {
        ("no", None) => Status::Pass,
        ("no", Some(_)) | ("yes", _) => Status::Fail,
        _ => Status::Unknown,
    };
    EMPTY.check(status, format!("{shown}{}{files}", but.unwrap_or_default()))
}

fn max_auth_tries(eff: &Effective, files: &str, unsure: Option<String>) -> Check {
    if let Some(why) = unsure {
        return MAX_AUTH_TRIES.check(Status::Unknown, why);
    }
    let (shown, v) = setting(eff, "maxauthtries");
    let status = match v.parse::<u32>() {
        Ok(n) => pass_if(n <= 4),
        Err(_) => Status::Unknown,
    };
    MAX_AUTH_TRIES.check(status, format!("{shown}{files}"))
}

fn forwarding(eff: &Effective, files: &str, unsure: Option<String>) -> Check {
    if let Some(why) = unsure {
        return FORWARDING.check(Status::Unknown, why);
    }
    let (df_shown, df) = setting(eff, "disableforwarding");
    if df == "yes" {
        return FORWARDING.check(Status::Pass, format!("{df_shown}{files}"));
    }
    let (x11_shown, x11) = setting(eff, "x11forwarding");
    let (tcp_shown, tcp) = setting(eff, "allowtcpforwarding");
    // AllowTcpForwarding also takes `all`, `local` and `remote`: only `no` closes it.
    FORWARDING.check(
        pass_if(x11 == "no" && tcp == "no"),
        format!("{df_shown}; {x11_shown}; {tcp_shown}{files}"),
    )
}

/// Private host keys: owned by root, mode 0600 or stricter, or 0640 with group ssh_keys
/// (the layout of distributions where sshd's helper reads keys through that group).
fn host_keys(ctx: &Ctx) -> Check {
    let keys = sys::glob(ctx.root, "/etc/ssh/ssh_host_*_key");
    if keys.is_empty() {
        return HOST_KEYS.check(Status::Unknown, "no /etc/ssh/ssh_host_*_key found");
    }
    let ssh_keys = ctx
        .root
        .read("/etc/group")
        .ok()
        .and_then(|g| passwd::group_gid(&g, "ssh_keys"));
    let (mut bad, mut shown) = (0, Vec::new());
    for k in &keys {
        match std::fs::metadata(ctx.root.file(k)) {
            Ok(m) => {
                let mode = m.mode() & 0o7777;
                let ok = m.uid() == 0
                    && (mode & 0o177 == 0 || (mode & 0o137 == 0 && Some(m.gid()) == ssh_keys));
                bad += usize::from(!ok);
                shown.push(format!(
                    "{k} {mode:04o} uid {} gid {}{}",
                    m.uid(),
                    m.gid(),
                    if ok { "" } else { " (too open)" }
                ));
            }
            Err(e) => {
                return HOST_KEYS.check(Status::Unknown, format!("{k} {}", sys::why(&e)));
            }
        }
    }
    HOST_KEYS.check(
        pass_if(bad == 0),
        format!(
            "{bad} of {} private host key(s) too open: {}",
            keys.len(),
            shown.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{dpkg, enable, write};
    use super::super::{Ctx, Status};
    use super::*;
    use crate::collect::Root;

    const DEBIAN12: &str = "Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nX11Forwarding yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n";

    fn run(files: &[(&str, &str)]) -> Vec<Check> {
        run_with_units(files, &[])
    }

    fn run_with_units(files: &[(&str, &str)], units: &[&str]) -> Vec<Check> {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), files);
        for u in units {
            enable(dir.path(), u);
        }
        let root = Root::at(dir.path()).with_live(dir.path());
        checks(&Ctx::load(&root))
    }

    /// openssh-server installed and ssh.service enabled, with these files.
    fn with_ssh(extra: &[(&str, &str)]) -> Vec<Check> {
        let status = dpkg(&["openssh-server"]);
        let mut files: Vec<(&str, &str)> = vec![("/var/lib/dpkg/status", &status)];
        files.extend_from_slice(extra);
        run_with_units(&files, &["ssh.service"])
    }

    fn by_id<'a>(c: &'a [Check], id: &str) -> &'a Check {
        c.iter().find(|c| c.id == id).unwrap()
    }

    #[test]
    fn an_oversized_config_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[("/var/lib/dpkg/status", &dpkg(&["openssh-server"]))],
        );
        enable(dir.path(), "ssh.service");
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

    /// "Passwords from the LAN": a Match block reopens what the global settings close.
    #[test]
    fn match_blocks_that_reopen_fail() {
        let hardened = "PermitRootLogin no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM yes\n";
        let c = with_ssh(&[("/etc/ssh/sshd_config", hardened)]);
        assert_eq!((c[0].status, c[1].status), (Status::Pass, Status::Pass));
        let lan = format!("{hardened}Match Address 192.168.0.0/16\n  PasswordAuthentication yes\n  PermitRootLogin yes\n  PermitEmptyPasswords yes\n");
        let c = with_ssh(&[("/etc/ssh/sshd_config", &lan)]);
        assert_eq!(c[0].status, Status::Fail, "{}", c[0].evidence);
        assert!(
            c[0].evidence
                .contains("but PermitRootLogin yes in a Match block (/etc/ssh/sshd_config)"),
            "{}",
            c[0].evidence
        );
        assert_eq!(c[1].status, Status::Fail, "{}", c[1].evidence);
        assert_eq!(c[2].status, Status::Fail, "{}", c[2].evidence);
        // A Match block that only tightens changes nothing.
        let strict = format!(
            "{hardened}Match User backup\n  PermitRootLogin no\n  PasswordAuthentication no\n"
        );
        let c = with_ssh(&[("/etc/ssh/sshd_config", &strict)]);
        assert_eq!((c[0].status, c[1].status), (Status::Pass, Status::Pass));
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

    /// Installed but started by no unit: every check is not applicable; any one of the
    /// three units makes them apply (the defect: they failed on such devices).
    #[test]
    fn installed_but_not_enabled_is_not_applicable() {
        let status = dpkg(&["openssh-server"]);
        let files = [
            ("/var/lib/dpkg/status", status.as_str()),
            ("/etc/ssh/sshd_config", DEBIAN12),
        ];
        let c = run(&files);
        assert_eq!(c.len(), 6);
        for check in &c {
            assert_eq!(check.status, Status::NotApplicable, "{}", check.id);
            assert_eq!(
                check.evidence,
                "openssh-server installed but not enabled (none of ssh.service, sshd.service, ssh.socket)"
            );
        }
        for unit in UNITS {
            let c = run_with_units(&files, &[unit]);
            assert_eq!(c[0].status, Status::Fail, "{unit}");
        }
    }

    #[test]
    fn debian_defaults_for_the_new_keywords() {
        let c = with_ssh(&[("/etc/ssh/sshd_config", DEBIAN12)]);
        let e = by_id(&c, "ssh.empty_passwords");
        assert_eq!(e.status, Status::Pass);
        assert_eq!(e.evidence, "PermitEmptyPasswords no (OpenSSH default)");
        let t = by_id(&c, "ssh.max_auth_tries");
        assert_eq!(t.status, Status::Fail);
        assert_eq!(t.evidence, "MaxAuthTries 6 (OpenSSH default)");
        let f = by_id(&c, "ssh.forwarding");
        assert_eq!(f.status, Status::Fail);
        assert_eq!(
            f.evidence,
            "DisableForwarding no (OpenSSH default); X11Forwarding yes (/etc/ssh/sshd_config); AllowTcpForwarding yes (OpenSSH default)"
        );
    }

    #[test]
    fn hardened_keywords_pass_and_weak_ones_fail() {
        let c = with_ssh(&[
            ("/etc/ssh/sshd_config", DEBIAN12),
            (
                "/etc/ssh/sshd_config.d/10-grappe.conf",
                "MaxAuthTries 4\nDisableForwarding yes\n",
            ),
        ]);
        assert_eq!(by_id(&c, "ssh.max_auth_tries").status, Status::Pass);
        let f = by_id(&c, "ssh.forwarding");
        assert_eq!(f.status, Status::Pass);
        assert!(
            f.evidence
                .starts_with("DisableForwarding yes (/etc/ssh/sshd_config.d/10-grappe.conf)"),
            "{}",
            f.evidence
        );
        // Both forwardings off without DisableForwarding also pass; `local` does not.
        let c = with_ssh(&[(
            "/etc/ssh/sshd_config",
            "X11Forwarding no\nAllowTcpForwarding no\nPermitEmptyPasswords yes\nMaxAuthTries x\n",
        )]);
        assert_eq!(by_id(&c, "ssh.forwarding").status, Status::Pass);
        let e = by_id(&c, "ssh.empty_passwords");
        assert_eq!(e.status, Status::Fail);
        assert_eq!(
            e.evidence,
            "PermitEmptyPasswords yes (/etc/ssh/sshd_config)"
        );
        assert_eq!(by_id(&c, "ssh.max_auth_tries").status, Status::Unknown);
        let c = with_ssh(&[(
            "/etc/ssh/sshd_config",
            "X11Forwarding no\nAllowTcpForwarding local\n",
        )]);
        assert_eq!(by_id(&c, "ssh.forwarding").status, Status::Fail);
    }

    #[test]
    fn unreadable_include_makes_new_keywords_unknown() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[
                ("/var/lib/dpkg/status", &dpkg(&["openssh-server"])),
                (
                    "/etc/ssh/sshd_config",
                    "Include /etc/ssh/sshd_config.d/*.conf\n",
                ),
            ],
        );
        enable(dir.path(), "ssh.service");
        crate::fsutil::testing::mkfifo(&dir.path().join("etc/ssh/sshd_config.d/fifo.conf"));
        let c = checks(&Ctx::load(&Root::at(dir.path()).with_live(dir.path())));
        for id in [
            "ssh.empty_passwords",
            "ssh.max_auth_tries",
            "ssh.forwarding",
        ] {
            let check = by_id(&c, id);
            assert_eq!(check.status, Status::Unknown, "{id}");
            assert!(check.evidence.contains("fifo.conf"), "{}", check.evidence);
        }
    }

    #[test]
    fn host_key_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let root_owner = unsafe { libc::geteuid() } == 0;
        let build = |mode: u32, gid: Option<u32>| {
            let dir = tempfile::tempdir().unwrap();
            write(
                dir.path(),
                &[
                    ("/var/lib/dpkg/status", &dpkg(&["openssh-server"])),
                    ("/etc/ssh/sshd_config", DEBIAN12),
                    ("/etc/group", "root:x:0:\nssh_keys:x:998:\n"),
                    ("/etc/ssh/ssh_host_ed25519_key", "k"),
                    ("/etc/ssh/ssh_host_ed25519_key.pub", "p"),
                ],
            );
            enable(dir.path(), "ssh.socket");
            let key = dir.path().join("etc/ssh/ssh_host_ed25519_key");
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
            if let Some(g) = gid {
                std::os::unix::fs::chown(&key, None, Some(g)).unwrap();
            }
            let c = checks(&Ctx::load(&Root::at(dir.path()).with_live(dir.path())));
            by_id(&c, "ssh.host_keys").clone()
        };
        let c = build(0o600, None);
        assert_eq!(c.status, pass_if(root_owner), "{}", c.evidence);
        assert!(c
            .evidence
            .contains("/etc/ssh/ssh_host_ed25519_key 0600 uid"));
        assert!(c.evidence.starts_with(&format!(
            "{} of 1 private host key(s)",
            usize::from(!root_owner)
        )));
        let c = build(0o644, None);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("0644") && c.evidence.contains("(too open)"));
        if root_owner {
            assert_eq!(build(0o640, Some(998)).status, Status::Pass);
            assert_eq!(build(0o640, Some(0)).status, Status::Fail);
        } else {
            eprintln!("not root: group ssh_keys case skipped");
        }
        // No key at all: cannot say.
        let c = with_ssh(&[("/etc/ssh/sshd_config", DEBIAN12)]);
        let k = by_id(&c, "ssh.host_keys");
        assert_eq!(k.status, Status::Unknown);
        assert_eq!(k.evidence, "no /etc/ssh/ssh_host_*_key found");
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
            "MaxAuthTries 3\nMatch User nobody\nPermitRootLogin yes\nAllowTcpForwarding no\n",
        )
        .unwrap();
        // PermitEmptyPasswords, DisableForwarding and AllowTcpForwarding keep their defaults.
        let main = format!("Include {}/*.conf\nPermitRootLogin no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nMaxAuthTries 5\nX11Forwarding yes\n", conf_d.display());
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
            // Typically "Missing privilege separation directory: /run/sshd" in a container.
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
        // Every keyword a check reads, set or left to our idea of OpenSSH's default.
        for (key, ..) in KEYWORDS {
            assert_eq!(Some(setting(&eff, key).1), theirs(key), "{key}");
        }
        assert_eq!(setting(&eff, "maxauthtries").1, "3");
    }
}
