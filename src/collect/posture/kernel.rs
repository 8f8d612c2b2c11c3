//! Kernel hardening sysctls, read live from /proc/sys (what is in force, not what a file
//! in /etc/sysctl.d says).

use super::{sys, Check, Ctx, Rule, Severity, Status};

/// One sysctl check: every listed key must satisfy `ok`.
struct Sysctl {
    rule: Rule,
    keys: &'static [&'static str],
    ok: fn(i64) -> bool,
    /// The wanted value, for evidence.
    want: &'static str,
    /// Status when none of the keys exists, and why (the feature is not in this kernel).
    absent: (Status, &'static str),
}

const fn rule(
    id: &'static str,
    title: &'static str,
    severity: Severity,
    reference: &'static str,
) -> Rule {
    Rule {
        id,
        title,
        severity,
        reference,
    }
}

const R9: &str = "ANSSI BP-028 v2.0 R9 (Paramétrer les options de configuration du noyau)";
const R11: &str = "ANSSI BP-028 v2.0 R11 (Activer et configurer le LSM Yama)";
const R12: &str = "ANSSI BP-028 v2.0 R12 (Paramétrer les options de configuration du réseau IPv4)";
const R14: &str =
    "ANSSI BP-028 v2.0 R14 (Paramétrer les options de configuration des systèmes de fichiers)";
const UNKNOWN_ABSENT: (Status, &str) = (Status::Unknown, "not present in /proc/sys");

const SYSCTLS: [Sysctl; 11] = [
    Sysctl {
        rule: rule(
            "kernel.aslr",
            "Address space layout randomisation is full",
            Severity::High,
            R9,
        ),
        keys: &["kernel.randomize_va_space"],
        ok: |v| v == 2,
        want: "2",
        absent: UNKNOWN_ABSENT,
    },
    Sysctl {
        rule: rule(
            "kernel.kptr_restrict",
            "Kernel pointers are hidden from users",
            Severity::Low,
            R9,
        ),
        keys: &["kernel.kptr_restrict"],
        ok: |v| v >= 1,
        want: ">= 1",
        absent: UNKNOWN_ABSENT,
    },
    Sysctl {
        rule: rule(
            "kernel.dmesg_restrict",
            "Kernel log is restricted to administrators",
            Severity::Low,
            R9,
        ),
        keys: &["kernel.dmesg_restrict"],
        ok: |v| v == 1,
        want: "1",
        absent: UNKNOWN_ABSENT,
    },
    Sysctl {
        rule: rule(
            "kernel.ptrace_scope",
            "ptrace is restricted (Yama)",
            Severity::Medium,
            R11,
        ),
        keys: &["kernel.yama.ptrace_scope"],
        ok: |v| v >= 1,
        want: ">= 1",
        absent: (
            Status::Fail,
            "Yama is not in this kernel: ptrace is not restricted",
        ),
    },
    Sysctl {
        rule: rule(
            "kernel.unprivileged_bpf",
            "Unprivileged BPF is disabled",
            Severity::Medium,
            R9,
        ),
        keys: &["kernel.unprivileged_bpf_disabled"],
        ok: |v| v >= 1,
        want: ">= 1",
        absent: (Status::Pass, "no bpf() system call in this kernel"),
    },
    Sysctl {
        rule: rule(
            "fs.protected_symlinks",
            "Symlinks in sticky directories are protected",
            Severity::Medium,
            R14,
        ),
        keys: &["fs.protected_symlinks"],
        ok: |v| v == 1,
        want: "1",
        absent: UNKNOWN_ABSENT,
    },
    Sysctl {
        rule: rule(
            "fs.protected_hardlinks",
            "Hard links to others' files are refused",
            Severity::Medium,
            R14,
        ),
        keys: &["fs.protected_hardlinks"],
        ok: |v| v == 1,
        want: "1",
        absent: UNKNOWN_ABSENT,
    },
    Sysctl {
        rule: rule(
            "fs.protected_fifos_regular",
            "FIFOs and files in sticky directories are protected",
            Severity::Low,
            R14,
        ),
        keys: &["fs.protected_fifos", "fs.protected_regular"],
        ok: |v| v == 2,
        want: "2",
        absent: UNKNOWN_ABSENT,
    },
    Sysctl {
        rule: rule(
            "fs.suid_dumpable",
            "Set-uid programs do not dump core",
            Severity::Low,
            R14,
        ),
        keys: &["fs.suid_dumpable"],
        ok: |v| v == 0,
        want: "0",
        absent: UNKNOWN_ABSENT,
    },
    Sysctl {
        rule: rule(
            "net.ip_forward",
            "The device does not route packets",
            Severity::Low,
            R12,
        ),
        keys: &["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"],
        ok: |v| v == 0,
        want: "0",
        absent: UNKNOWN_ABSENT,
    },
    Sysctl {
        rule: rule(
            "net.icmp_redirects",
            "ICMP redirects are ignored",
            Severity::Low,
            R12,
        ),
        keys: &[
            "net.ipv4.conf.all.accept_redirects",
            "net.ipv4.conf.default.accept_redirects",
            "net.ipv6.conf.all.accept_redirects",
            "net.ipv6.conf.default.accept_redirects",
        ],
        ok: |v| v == 0,
        want: "0",
        absent: UNKNOWN_ABSENT,
    },
];

fn run(ctx: &Ctx, s: &Sysctl) -> Check {
    let mut shown = Vec::new();
    let (mut bad, mut unreadable, mut present) = (false, false, 0);
    for key in s.keys {
        match sys::sysctl(ctx.root, key) {
            Ok(v) => {
                present += 1;
                match v.parse::<i64>() {
                    Ok(n) if (s.ok)(n) => shown.push(format!("{key} = {n}")),
                    Ok(n) => {
                        bad = true;
                        shown.push(format!("{key} = {n} (want {})", s.want));
                    }
                    Err(_) => {
                        unreadable = true;
                        shown.push(format!("{key} = {v:?} (not a number)"));
                    }
                }
            }
            // An IPv6 key is absent when IPv6 is disabled: only the others count.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                shown.push(format!("{key} absent"))
            }
            Err(e) => {
                unreadable = true;
                shown.push(format!("{key} {}", sys::why(&e)));
            }
        }
    }
    let evidence = shown.join(", ");
    if present == 0 && !unreadable {
        let (status, why) = s.absent;
        return s.rule.check(status, format!("{evidence} ({why})"));
    }
    let status = if bad {
        Status::Fail
    } else if unreadable {
        Status::Unknown
    } else {
        Status::Pass
    };
    s.rule.check(status, evidence)
}

/// Whether `id` is one of the sysctl checks (all read live state).
pub(super) fn is_sysctl(id: &str) -> bool {
    SYSCTLS.iter().any(|s| s.rule.id == id)
}

pub(super) fn checks(ctx: &Ctx) -> Vec<Check> {
    SYSCTLS.iter().map(|s| run(ctx, s)).collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::write;
    use super::super::{Ctx, Status};
    use super::*;
    use crate::collect::Root;

    fn statuses(files: &[(&str, &str)]) -> Vec<(String, Status, String)> {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), files);
        let root = Root::at(dir.path()).with_live(dir.path());
        checks(&Ctx::load(&root))
            .into_iter()
            .map(|c| (c.id.into_owned(), c.status, c.evidence))
            .collect()
    }

    fn get(all: &[(String, Status, String)], id: &str) -> (Status, String) {
        let (_, s, e) = all.iter().find(|c| c.0 == id).unwrap();
        (*s, e.clone())
    }

    #[test]
    fn hardened_values_pass_and_defaults_fail() {
        let good = statuses(&[
            ("/proc/sys/kernel/randomize_va_space", "2\n"),
            ("/proc/sys/kernel/kptr_restrict", "2\n"),
            ("/proc/sys/kernel/yama/ptrace_scope", "1\n"),
            ("/proc/sys/fs/protected_fifos", "2\n"),
            ("/proc/sys/fs/protected_regular", "2\n"),
            ("/proc/sys/net/ipv4/ip_forward", "0\n"),
        ]);
        for id in [
            "kernel.aslr",
            "kernel.kptr_restrict",
            "kernel.ptrace_scope",
            "fs.protected_fifos_regular",
        ] {
            assert_eq!(get(&good, id).0, Status::Pass, "{id}");
        }
        // IPv6 disabled: its key is absent, IPv4 decides.
        let (s, e) = get(&good, "net.ip_forward");
        assert_eq!(s, Status::Pass);
        assert!(e.contains("net.ipv6.conf.all.forwarding absent"));
        let bad = statuses(&[
            ("/proc/sys/kernel/randomize_va_space", "1\n"),
            ("/proc/sys/kernel/kptr_restrict", "0\n"),
            ("/proc/sys/fs/protected_fifos", "1\n"),
            ("/proc/sys/fs/protected_regular", "2\n"),
            ("/proc/sys/net/ipv4/ip_forward", "0\n"),
            ("/proc/sys/net/ipv6/conf/all/forwarding", "1\n"),
        ]);
        let (s, e) = get(&bad, "kernel.aslr");
        assert_eq!(s, Status::Fail);
        assert_eq!(e, "kernel.randomize_va_space = 1 (want 2)");
        assert_eq!(get(&bad, "kernel.kptr_restrict").0, Status::Fail);
        assert_eq!(get(&bad, "fs.protected_fifos_regular").0, Status::Fail);
        assert_eq!(get(&bad, "net.ip_forward").0, Status::Fail);
    }

    #[test]
    fn absent_features_are_decided_per_feature() {
        let none = statuses(&[]);
        assert_eq!(get(&none, "kernel.ptrace_scope").0, Status::Fail);
        assert_eq!(get(&none, "kernel.unprivileged_bpf").0, Status::Pass);
        assert_eq!(get(&none, "kernel.dmesg_restrict").0, Status::Unknown);
        let junk = statuses(&[("/proc/sys/kernel/dmesg_restrict", "yes\n")]);
        assert_eq!(get(&junk, "kernel.dmesg_restrict").0, Status::Unknown);
    }
}
