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
/// R23 asks for a kernel built without kexec (`CONFIG_KEXEC` unset);
/// `kernel.kexec_load_disabled` is its run-time counterpart.
const R23: &str = "ANSSI BP-028 v2.0 R23 (Paramétrer les options de compilation pour divers comportements du noyau)";
const CIS_FORWARDING: &str = "CIS Debian Linux 12 Benchmark: Ensure ip forwarding is disabled";
const CIS_REDIRECTS: &str = "CIS Debian Linux 12 Benchmark: Ensure icmp redirects are not accepted";
const CIS_SOURCE_ROUTE: &str =
    "CIS Debian Linux 12 Benchmark: Ensure source routed packets are not accepted";
const CIS_BROADCASTS: &str =
    "CIS Debian Linux 12 Benchmark: Ensure broadcast icmp requests are ignored";
const CIS_MARTIANS: &str = "CIS Debian Linux 12 Benchmark: Ensure suspicious packets are logged";
const CIS_RA: &str =
    "CIS Debian Linux 12 Benchmark: Ensure ipv6 router advertisements are not accepted";
const UNKNOWN_ABSENT: (Status, &str) = (Status::Unknown, "not present in /proc/sys");
/// The IPv6 keys exist only while IPv6 is enabled (`ipv6.disable=1` removes them).
const NO_IPV6: (Status, &str) = (Status::NotApplicable, "IPv6 is disabled");

const SYSCTLS: [Sysctl; 27] = [
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
            "Kernel pointers are hidden from all users, administrators included",
            Severity::Low,
            R9,
        ),
        keys: &["kernel.kptr_restrict"],
        // R9 asks for 2: 1 still shows the addresses to CAP_SYSLOG holders.
        ok: |v| v == 2,
        want: "2",
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
            "kernel.sysrq",
            "The magic SysRq key is disabled",
            Severity::Low,
            R9,
        ),
        keys: &["kernel.sysrq"],
        ok: |v| v == 0,
        want: "0",
        absent: (Status::Pass, "no magic SysRq key in this kernel"),
    },
    Sysctl {
        rule: rule(
            "kernel.perf_events",
            "Unprivileged users cannot use perf events",
            Severity::Low,
            R9,
        ),
        keys: &["kernel.perf_event_paranoid"],
        ok: |v| v >= 2,
        want: ">= 2",
        absent: (Status::Pass, "no perf events in this kernel"),
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
            "kernel.bpf_jit_harden",
            "The BPF JIT compiler is hardened for all users",
            Severity::Low,
            // BP-028 v2.0 lists net.core.bpf_jit_harden under R12, not R9.
            R12,
        ),
        keys: &["net.core.bpf_jit_harden"],
        ok: |v| v == 2,
        want: "2",
        absent: (Status::Pass, "no BPF JIT in this kernel"),
    },
    Sysctl {
        rule: rule(
            "kernel.kexec",
            "Loading another kernel at run time (kexec) is disabled",
            Severity::Low,
            R23,
        ),
        keys: &["kernel.kexec_load_disabled"],
        ok: |v| v == 1,
        want: "1",
        absent: (Status::Pass, "no kexec in this kernel"),
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
            "The device does not route IPv4 packets",
            Severity::Low,
            R12,
        ),
        keys: &["net.ipv4.ip_forward"],
        ok: |v| v == 0,
        want: "0",
        absent: UNKNOWN_ABSENT,
    },
    Sysctl {
        rule: rule(
            "net.ipv6_forwarding",
            "The device does not route IPv6 packets",
            Severity::Low,
            CIS_FORWARDING,
        ),
        keys: &["net.ipv6.conf.all.forwarding"],
        ok: |v| v == 0,
        want: "0",
        absent: NO_IPV6,
    },
    Sysctl {
        rule: rule(
            "net.icmp_redirects",
            "IPv4 ICMP redirects are ignored",
            Severity::Low,
            R12,
        ),
        keys: &[
            "net.ipv4.conf.all.accept_redirects",
            "net.ipv4.conf.default.accept_redirects",
        ],
        ok: |v| v == 0,
        want: "0",
        absent: UNKNOWN_ABSENT,
    },
    Sysctl {
        rule: rule(
            "net.ipv6_redirects",
            "IPv6 ICMP redirects are ignored",
            Severity::Low,
            CIS_REDIRECTS,
        ),
        keys: &[
            "net.ipv6.conf.all.accept_redirects",
            "net.ipv6.conf.default.accept_redirects",
        ],
        ok: |v| v == 0,
        want: "0",
        absent: NO_IPV6,
    },
    Sysctl {
        rule: rule(
            "net.secure_redirects",
            "ICMP redirects from listed gateways are ignored too",
            Severity::Low,
            R12,
        ),
        keys: &[
            "net.ipv4.conf.all.secure_redirects",
            "net.ipv4.conf.default.secure_redirects",
        ],
        ok: |v| v == 0,
        want: "0",
        absent: UNKNOWN_ABSENT,
    },
    Sysctl {
        rule: rule(
            "net.send_redirects",
            "The device sends no ICMP redirects",
            Severity::Low,
            R12,
        ),
        keys: &[
            "net.ipv4.conf.all.send_redirects",
            "net.ipv4.conf.default.send_redirects",
        ],
        ok: |v| v == 0,
        want: "0",
        absent: UNKNOWN_ABSENT,
    },
    Sysctl {
        rule: rule(
            "net.rp_filter",
            "Strict reverse path filtering drops spoofed IPv4 packets",
            Severity::Low,
            R12,
        ),
        keys: &[
            "net.ipv4.conf.all.rp_filter",
            "net.ipv4.conf.default.rp_filter",
        ],
        ok: |v| v == 1,
        want: "1",
        absent: UNKNOWN_ABSENT,
    },
    Sysctl {
        rule: rule(
            "net.source_route",
            "Source-routed IPv4 packets are refused",
            Severity::Low,
            R12,
        ),
        keys: &[
            "net.ipv4.conf.all.accept_source_route",
            "net.ipv4.conf.default.accept_source_route",
        ],
        ok: |v| v == 0,
        want: "0",
        absent: UNKNOWN_ABSENT,
    },
    Sysctl {
        rule: rule(
            "net.ipv6_source_route",
            "Source-routed IPv6 packets are refused",
            Severity::Low,
            CIS_SOURCE_ROUTE,
        ),
        keys: &[
            "net.ipv6.conf.all.accept_source_route",
            "net.ipv6.conf.default.accept_source_route",
        ],
        ok: |v| v == 0,
        want: "0",
        absent: NO_IPV6,
    },
    Sysctl {
        rule: rule(
            "net.syncookies",
            "TCP SYN cookies protect against SYN floods",
            Severity::Low,
            R12,
        ),
        keys: &["net.ipv4.tcp_syncookies"],
        ok: |v| v == 1,
        want: "1",
        absent: UNKNOWN_ABSENT,
    },
    Sysctl {
        rule: rule(
            "net.log_martians",
            "Packets with impossible addresses are logged",
            Severity::Low,
            // Not in BP-028 v2.0's R12 list (it was in v1.2).
            CIS_MARTIANS,
        ),
        keys: &[
            "net.ipv4.conf.all.log_martians",
            "net.ipv4.conf.default.log_martians",
        ],
        ok: |v| v == 1,
        want: "1",
        absent: UNKNOWN_ABSENT,
    },
    Sysctl {
        rule: rule(
            "net.icmp_broadcasts",
            "Broadcast ICMP echo requests are ignored",
            Severity::Low,
            CIS_BROADCASTS,
        ),
        keys: &["net.ipv4.icmp_echo_ignore_broadcasts"],
        ok: |v| v == 1,
        want: "1",
        absent: UNKNOWN_ABSENT,
    },
    Sysctl {
        rule: rule(
            "net.bogus_icmp",
            "Bogus ICMP error responses are ignored",
            Severity::Low,
            R12,
        ),
        keys: &["net.ipv4.icmp_ignore_bogus_error_responses"],
        ok: |v| v == 1,
        want: "1",
        absent: UNKNOWN_ABSENT,
    },
    Sysctl {
        rule: rule(
            "net.ipv6_router_adverts",
            "IPv6 router advertisements are not accepted",
            Severity::Low,
            CIS_RA,
        ),
        keys: &[
            "net.ipv6.conf.all.accept_ra",
            "net.ipv6.conf.default.accept_ra",
        ],
        ok: |v| v == 0,
        want: "0",
        absent: NO_IPV6,
    },
];

fn run(ctx: &Ctx, s: &Sysctl) -> Check {
    // IPv6 settings do not matter where IPv6 is off: the keys are there, but unused.
    if s.keys.iter().all(|k| k.starts_with("net.ipv6.")) && sys::ipv6_disabled_by_sysctl(ctx.root) {
        return s.rule.check(
            Status::NotApplicable,
            "IPv6 is disabled (net.ipv6.conf.all.disable_ipv6 = 1, net.ipv6.conf.default.disable_ipv6 = 1)",
        );
    }
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
        // A missing key tells about the kernel only if its /proc/sys branch is there.
        let top = s.keys[0].split('.').next().unwrap_or_default();
        if !ctx.root.live(&format!("/proc/sys/{top}")).is_dir() {
            return s.rule.check(
                Status::Unknown,
                format!("{evidence} (/proc/sys/{top} not readable)"),
            );
        }
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

    /// Every key: (key, a value that passes, Debian 12's default where it fails).
    const KEYS: [(&str, &str, &str); 37] = [
        ("kernel.randomize_va_space", "2", "1"),
        ("kernel.kptr_restrict", "2", "0"),
        ("kernel.dmesg_restrict", "1", "0"),
        ("kernel.sysrq", "0", "438"),
        ("kernel.perf_event_paranoid", "3", "1"),
        ("kernel.yama.ptrace_scope", "1", "0"),
        ("kernel.unprivileged_bpf_disabled", "2", "0"),
        ("net.core.bpf_jit_harden", "2", "0"),
        ("kernel.kexec_load_disabled", "1", "0"),
        ("fs.protected_symlinks", "1", "0"),
        ("fs.protected_hardlinks", "1", "0"),
        ("fs.protected_fifos", "2", "1"),
        ("fs.protected_regular", "2", "2"),
        ("fs.suid_dumpable", "0", "2"),
        ("net.ipv4.ip_forward", "0", "1"),
        ("net.ipv6.conf.all.forwarding", "0", "1"),
        ("net.ipv4.conf.all.accept_redirects", "0", "1"),
        ("net.ipv4.conf.default.accept_redirects", "0", "1"),
        ("net.ipv6.conf.all.accept_redirects", "0", "1"),
        ("net.ipv6.conf.default.accept_redirects", "0", "1"),
        ("net.ipv4.conf.all.secure_redirects", "0", "1"),
        ("net.ipv4.conf.default.secure_redirects", "0", "1"),
        ("net.ipv4.conf.all.send_redirects", "0", "1"),
        ("net.ipv4.conf.default.send_redirects", "0", "1"),
        ("net.ipv4.conf.all.rp_filter", "1", "2"),
        ("net.ipv4.conf.default.rp_filter", "1", "2"),
        ("net.ipv4.conf.all.accept_source_route", "0", "1"),
        ("net.ipv4.conf.default.accept_source_route", "0", "1"),
        ("net.ipv6.conf.all.accept_source_route", "0", "1"),
        ("net.ipv6.conf.default.accept_source_route", "0", "1"),
        ("net.ipv4.tcp_syncookies", "1", "0"),
        ("net.ipv4.conf.all.log_martians", "1", "0"),
        ("net.ipv4.conf.default.log_martians", "1", "0"),
        ("net.ipv4.icmp_echo_ignore_broadcasts", "1", "0"),
        ("net.ipv4.icmp_ignore_bogus_error_responses", "1", "0"),
        ("net.ipv6.conf.all.accept_ra", "0", "1"),
        ("net.ipv6.conf.default.accept_ra", "0", "1"),
    ];

    fn tree(
        pick: impl Fn(&str, &'static str, &'static str) -> Option<&'static str>,
    ) -> Vec<(String, &'static str)> {
        KEYS.iter()
            .filter_map(|(k, good, bad)| {
                pick(k, good, bad).map(|v| (format!("/proc/sys/{}", k.replace('.', "/")), v))
            })
            .collect()
    }

    fn statuses_of(files: &[(String, &str)]) -> Vec<(String, Status, String)> {
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, v)| (p.as_str(), *v)).collect();
        statuses(&refs)
    }

    #[test]
    fn every_check_passes_on_hardened_values_and_fails_on_weak_ones() {
        let good = statuses_of(&tree(|_, g, _| Some(g)));
        assert_eq!(good.len(), SYSCTLS.len());
        for (id, s, e) in &good {
            assert_eq!(*s, Status::Pass, "{id}: {e}");
        }
        let bad = statuses_of(&tree(|_, _, b| Some(b)));
        for (id, s, e) in &bad {
            // protected_regular = 2 alone does not save protected_fifos = 1.
            assert_eq!(*s, Status::Fail, "{id}: {e}");
        }
        let (_, e) = get(&bad, "kernel.aslr");
        assert_eq!(e, "kernel.randomize_va_space = 1 (want 2)");
        let (_, e) = get(&bad, "net.rp_filter");
        assert_eq!(
            e,
            "net.ipv4.conf.all.rp_filter = 2 (want 1), net.ipv4.conf.default.rp_filter = 2 (want 1)"
        );
        // One weak key of a pair is enough to fail.
        let one = statuses_of(&tree(|k, g, b| {
            Some(if k == "net.ipv4.conf.default.send_redirects" {
                b
            } else {
                g
            })
        }));
        let (s, e) = get(&one, "net.send_redirects");
        assert_eq!(s, Status::Fail);
        assert!(e.contains("default.send_redirects = 1 (want 0)"), "{e}");
    }

    /// ANSSI R9 asks for 2: 1 still shows kernel addresses to CAP_SYSLOG holders.
    /// IPv6 switched off by sysctl (as ANSSI R13 has it) leaves the IPv6 keys in place
    /// with their defaults: they do not apply, and must not fail.
    #[test]
    fn ipv6_checks_do_not_apply_when_ipv6_is_off() {
        let on = [
            ("/proc/sys/net/ipv6/conf/all/accept_ra", "1\n"),
            ("/proc/sys/net/ipv6/conf/default/accept_ra", "1\n"),
            ("/proc/sys/net/ipv6/conf/all/disable_ipv6", "0\n"),
            ("/proc/sys/net/ipv6/conf/default/disable_ipv6", "0\n"),
        ];
        assert_eq!(
            get(&statuses(&on), "net.ipv6_router_adverts").0,
            Status::Fail
        );
        let mut off = on;
        off[2].1 = "1\n";
        off[3].1 = "1\n";
        let (status, evidence) = get(&statuses(&off), "net.ipv6_router_adverts");
        assert_eq!(status, Status::NotApplicable, "{evidence}");
    }

    #[test]
    fn kptr_restrict_one_is_not_enough() {
        let c = statuses(&[("/proc/sys/kernel/kptr_restrict", "1\n")]);
        assert_eq!(
            get(&c, "kernel.kptr_restrict"),
            (
                Status::Fail,
                "kernel.kptr_restrict = 1 (want 2)".to_string()
            )
        );
    }

    #[test]
    fn perf_paranoid_accepts_debians_3_and_refuses_1() {
        for (v, want) in [
            ("2", Status::Pass),
            ("3", Status::Pass),
            ("1", Status::Fail),
            ("-1", Status::Fail),
        ] {
            let c = statuses(&[("/proc/sys/kernel/perf_event_paranoid", v)]);
            assert_eq!(get(&c, "kernel.perf_events").0, want, "{v}");
        }
    }

    /// IPv4 and IPv6 are separate checks: IPv6 forwarding no longer hides behind R12, and
    /// an IPv4 check no longer passes or fails on an IPv6 key.
    #[test]
    fn ipv6_keys_are_their_own_cis_checks() {
        let c = statuses_of(&tree(|k, g, b| {
            Some(if k.starts_with("net.ipv6") { b } else { g })
        }));
        for id in ["net.ip_forward", "net.icmp_redirects", "net.source_route"] {
            assert_eq!(get(&c, id).0, Status::Pass, "{id}");
            assert!(!get(&c, id).1.contains("ipv6"), "{id}");
        }
        for id in [
            "net.ipv6_forwarding",
            "net.ipv6_redirects",
            "net.ipv6_source_route",
            "net.ipv6_router_adverts",
        ] {
            assert_eq!(get(&c, id).0, Status::Fail, "{id}");
        }
        let by_id = |id: &str| SYSCTLS.iter().find(|s| s.rule.id == id).unwrap().rule;
        for s in &SYSCTLS {
            if s.keys.iter().any(|k| k.starts_with("net.ipv6")) {
                assert!(
                    s.keys.iter().all(|k| k.starts_with("net.ipv6")),
                    "{}",
                    s.rule.id
                );
                assert!(s.rule.reference.starts_with("CIS "), "{}", s.rule.id);
            }
        }
        assert_eq!(by_id("net.ipv6_forwarding").reference, CIS_FORWARDING);
        assert_eq!(by_id("net.ipv6_redirects").reference, CIS_REDIRECTS);
        assert_eq!(by_id("net.ip_forward").reference, R12);
    }

    #[test]
    fn ipv6_disabled_is_not_applicable_not_unknown() {
        let c = statuses_of(&tree(|k, g, _| (!k.starts_with("net.ipv6")).then_some(g)));
        for id in [
            "net.ipv6_forwarding",
            "net.ipv6_redirects",
            "net.ipv6_source_route",
            "net.ipv6_router_adverts",
        ] {
            let (s, e) = get(&c, id);
            assert_eq!(s, Status::NotApplicable, "{id}");
            assert!(e.ends_with("(IPv6 is disabled)"), "{e}");
        }
        assert_eq!(get(&c, "net.ip_forward").0, Status::Pass);
    }

    #[test]
    fn absent_features_are_decided_per_feature() {
        // Other keys show that /proc/sys/{kernel,net} are readable.
        let none = statuses(&[
            ("/proc/sys/kernel/osrelease", "6.1.0\n"),
            ("/proc/sys/net/core/somaxconn", "4096\n"),
            ("/proc/sys/fs/file-max", "1000\n"),
        ]);
        assert_eq!(get(&none, "kernel.ptrace_scope").0, Status::Fail);
        for id in [
            "kernel.unprivileged_bpf",
            "kernel.bpf_jit_harden",
            "kernel.kexec",
            "kernel.sysrq",
            "kernel.perf_events",
        ] {
            assert_eq!(get(&none, id).0, Status::Pass, "{id}");
        }
        assert_eq!(
            get(&none, "kernel.kexec").1,
            "kernel.kexec_load_disabled absent (no kexec in this kernel)"
        );
        for id in ["kernel.dmesg_restrict", "net.rp_filter", "net.syncookies"] {
            assert_eq!(get(&none, id).0, Status::Unknown, "{id}");
        }
        // Without /proc/sys nothing is decided from missing keys, IPv6 included.
        let empty = statuses(&[]);
        for (id, s, e) in &empty {
            assert_eq!(*s, Status::Unknown, "{id}: {e}");
        }
        assert_eq!(
            get(&empty, "net.ipv6_forwarding").1,
            "net.ipv6.conf.all.forwarding absent (/proc/sys/net not readable)"
        );
        let junk = statuses(&[
            ("/proc/sys/kernel/dmesg_restrict", "yes\n"),
            ("/proc/sys/net/core/bpf_jit_harden", "\u{FFFD}\n"),
            ("/proc/sys/net/ipv4/conf/all/log_martians", "1\n"),
            ("/proc/sys/net/ipv4/conf/default/log_martians", "x\n"),
        ]);
        assert_eq!(get(&junk, "kernel.dmesg_restrict").0, Status::Unknown);
        assert_eq!(get(&junk, "kernel.bpf_jit_harden").0, Status::Unknown);
        let (s, e) = get(&junk, "net.log_martians");
        assert_eq!(s, Status::Unknown);
        assert!(
            e.contains("default.log_martians = \"x\" (not a number)"),
            "{e}"
        );
    }
}
