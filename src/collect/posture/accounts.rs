//! Local accounts: extra UID 0 accounts, empty passwords, /etc/shadow permissions.
//! Evidence gives counts only: account names can be personal data.

use super::{pass_if, sys, Check, Ctx, Rule, Severity, Status};
use crate::parse::passwd;
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
    title: "/etc/shadow is readable by root and the shadow group only",
    severity: Severity::High,
    reference: "ANSSI BP-028 v2.0 R50 (Restreindre les droits d'accès aux fichiers et aux répertoires sensibles)",
};

pub(super) fn checks(ctx: &Ctx) -> Vec<Check> {
    vec![uid0(ctx), empty_passwords(ctx), shadow_permissions(ctx)]
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

fn empty_passwords(ctx: &Ctx) -> Check {
    match ctx.root.read("/etc/shadow") {
        Ok(text) => {
            let (mut n, mut total) = (0, 0);
            for e in passwd::shadow(&text) {
                total += 1;
                n += usize::from(e.has_empty_password());
            }
            EMPTY.check(
                pass_if(n == 0),
                format!("/etc/shadow: {n} of {total} account(s) with an empty password field"),
            )
        }
        Err(e) => EMPTY.check(Status::Unknown, format!("/etc/shadow {}", sys::why(&e))),
    }
}

fn shadow_permissions(ctx: &Ctx) -> Check {
    match std::fs::metadata(ctx.root.file("/etc/shadow")) {
        Ok(m) => {
            let mode = m.mode() & 0o7777;
            // No group write, nothing for others; owned by root.
            let ok = mode & 0o027 == 0 && m.uid() == 0;
            SHADOW_PERMS.check(
                pass_if(ok),
                format!(
                    "/etc/shadow mode {mode:04o}, owner uid {}, group gid {}",
                    m.uid(),
                    m.gid()
                ),
            )
        }
        Err(e) => SHADOW_PERMS.check(Status::Unknown, format!("/etc/shadow {}", sys::why(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::write;
    use super::super::{Ctx, Status};
    use super::*;
    use crate::collect::Root;
    use std::os::unix::fs::PermissionsExt;

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
            "/etc/shadow: 0 of 2 account(s) with an empty password field"
        );
        for check in &c {
            assert!(!check.evidence.contains("soignant"), "{}", check.evidence);
        }
        // The test runs as whoever owns the temp file: owner uid decides.
        let owner_root = unsafe { libc::geteuid() } == 0;
        assert_eq!(c[2].status, pass_if(owner_root), "{}", c[2].evidence);
        assert!(c[2].evidence.contains("mode 0640"));
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

    #[test]
    fn unreadable_files_are_unknown() {
        let c = run(&[], None);
        assert!(c.iter().all(|c| c.status == Status::Unknown));
    }
}
