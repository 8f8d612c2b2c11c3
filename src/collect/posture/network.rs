//! Network exposure: host firewall, sockets reachable from the network, legacy clear-text
//! remote-access services.

use super::{sys, Check, Ctx, Rule, Severity, Status};
use crate::parse::keyfile;
use crate::parse::netfilter::{self, Family, InputFilter};
use crate::parse::sockets::{Proto, Socket};
use std::collections::BTreeSet;
use std::net::IpAddr;

const FIREWALL: Rule = Rule {
    id: "network.firewall",
    title: "A host firewall filters incoming traffic",
    severity: Severity::High,
    reference: "CIS Debian Linux 12 Benchmark: Ensure a single firewall configuration utility is in use; Ensure ufw/nftables default deny firewall policy",
};

const LISTENING: Rule = Rule {
    id: "network.listening",
    title: "No service listens on a non-loopback address",
    severity: Severity::Medium,
    reference: "ANSSI BP-028 v2.0 R80 (Réduire la surface d'attaque des services réseau)",
};

const LEGACY: Rule = Rule {
    id: "services.legacy_remote",
    title: "No telnet, rsh/rlogin or tftp server",
    severity: Severity::High,
    reference: "ANSSI BP-028 v2.0 R62 (Désactiver les services non nécessaires)",
};

/// Kernel modules that carry packet filtering when loaded.
const FILTER_MODULES: [&str; 5] = [
    "nf_tables",
    "ip_tables",
    "ip6_tables",
    "iptable_filter",
    "ip6table_filter",
];

/// Reads an nft ruleset file and the absolute files it includes (one level).
fn nft_ruleset(ctx: &Ctx, path: &str) -> Result<InputFilter, String> {
    let text = ctx
        .root
        .read(path)
        .map_err(|e| format!("{path} {}", sys::why(&e)))?;
    let mut f = netfilter::nft(&text);
    for pattern in std::mem::take(&mut f.includes) {
        // nft looks a relative include up in its include path, /etc by default.
        let pattern = if pattern.starts_with('/') {
            pattern
        } else {
            format!("/etc/{pattern}")
        };
        for inc in sys::glob(ctx.root, &pattern) {
            // A file nft would load but we cannot read could change everything.
            let t = ctx
                .root
                .read(&inc)
                .map_err(|e| format!("{inc}, included by {path}, {}", sys::why(&e)))?;
            let mut sub = netfilter::nft(&t);
            sub.includes.clear();
            f.merge(sub);
        }
    }
    Ok(f)
}

fn describe(f: &InputFilter) -> String {
    if f.default_deny {
        "input denied by default (drop policy or catch-all drop/reject)".into()
    } else if f.filtering_rules > 0 {
        format!(
            "input chain accepts by default; {} rule(s) drop or reject some traffic",
            f.filtering_rules
        )
    } else if f.chains == 0 {
        "no input chain".into()
    } else {
        "input chain accepts everything".into()
    }
}

/// A firewall front-end that loads its rules at boot, and what those rules filter (or why
/// they could not be read).
struct FrontEnd {
    what: String,
    filter: Result<InputFilter, String>,
}

/// ufw, when `ufw enable` set ENABLED=yes and ufw.service loads it at boot. It denies by
/// default when the input policy of /etc/default/ufw is DROP or REJECT, for IPv6 too
/// unless `IPV6=no` (which leaves IPv6 to no one); the user's deny rules are counted, but
/// under an ACCEPT policy they let everything else in.
fn ufw(ctx: &Ctx, notes: &mut Vec<String>) -> Option<FrontEnd> {
    let conf = ctx.root.read("/etc/ufw/ufw.conf").ok()?;
    let on = keyfile::shell_get(&keyfile::shell_vars(&conf), "ENABLED")
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    match (on, ctx.units.is_enabled("ufw.service")) {
        (true, true) => {}
        (true, false) => {
            notes.push("ufw.conf ENABLED=yes but ufw.service not enabled".into());
            return None;
        }
        (false, _) => {
            notes.push("ufw installed, ENABLED=no".into());
            return None;
        }
    }
    let what = "ufw (ENABLED=yes, ufw.service enabled".to_string();
    let defaults = match ctx.root.read("/etc/default/ufw") {
        Ok(t) => t,
        Err(e) => {
            return Some(FrontEnd {
                filter: Err(format!("{what}) but /etc/default/ufw {}", sys::why(&e))),
                what: format!("{what})"),
            })
        }
    };
    let vars = keyfile::shell_vars(&defaults);
    let policy = keyfile::shell_get(&vars, "DEFAULT_INPUT_POLICY").unwrap_or("DROP");
    let ipv6 = keyfile::shell_get(&vars, "IPV6").is_none_or(|v| v.eq_ignore_ascii_case("yes"));
    let denies = |path: &str, chain: &str| {
        ctx.root.read(path).map_or(0, |t| {
            t.lines()
                .filter(|l| l.strip_prefix("-A ").is_some_and(|r| r.starts_with(chain)))
                .filter(|l| {
                    let target = l.split_whitespace().skip_while(|w| *w != "-j").nth(1);
                    !matches!(target, None | Some("ACCEPT" | "RETURN"))
                })
                .count()
        })
    };
    let (deny4, deny6) = (
        denies("/etc/ufw/user.rules", "ufw-user-input "),
        denies("/etc/ufw/user6.rules", "ufw6-user-input "),
    );
    let policy_filters = matches!(policy.to_ascii_uppercase().as_str(), "DROP" | "REJECT");
    let filter = InputFilter {
        default_deny: policy_filters,
        filtering_rules: deny4 + deny6,
        ipv4: policy_filters,
        ipv6: ipv6 && policy_filters,
        ..InputFilter::default()
    };
    Some(FrontEnd {
        what: format!(
            "{what}; DEFAULT_INPUT_POLICY={policy}, IPV6={}, {} deny/limit rule(s))",
            if ipv6 { "yes" } else { "no" },
            deny4 + deny6
        ),
        filter: Ok(filter),
    })
}

/// Every firewall front-end enabled at boot.
fn front_ends(ctx: &Ctx, notes: &mut Vec<String>) -> Vec<FrontEnd> {
    let units = &ctx.units;
    let mut found: Vec<FrontEnd> = ufw(ctx, notes).into_iter().collect();
    if units.is_enabled("nftables.service") {
        let filter = nft_ruleset(ctx, "/etc/nftables.conf");
        let what = match &filter {
            Ok(f) => format!(
                "nftables (nftables.service enabled, /etc/nftables.conf: {})",
                describe(f)
            ),
            Err(e) => format!("nftables (nftables.service enabled, {e})"),
        };
        found.push(FrontEnd { what, filter });
    }
    if units.is_enabled("netfilter-persistent.service") {
        let mut f = InputFilter::default();
        let mut read = Vec::new();
        for (path, family) in [
            ("/etc/iptables/rules.v4", Family::Ipv4),
            ("/etc/iptables/rules.v6", Family::Ipv6),
        ] {
            if let Ok(t) = ctx.root.read(path) {
                f.merge(netfilter::iptables_save(&t, family));
                read.push(path);
            }
        }
        let files = if read.is_empty() {
            "no rules file".to_string()
        } else {
            read.join(" + ")
        };
        found.push(FrontEnd {
            what: format!(
                "netfilter-persistent (netfilter-persistent.service enabled, {files}: {})",
                describe(&f)
            ),
            filter: Ok(f),
        });
    }
    if units.is_enabled("firewalld.service") {
        // firewalld's default zone (public) rejects unsolicited traffic of both families.
        let f = InputFilter {
            default_deny: true,
            ipv4: true,
            ipv6: true,
            ..InputFilter::default()
        };
        found.push(FrontEnd {
            what: "firewalld (firewalld.service enabled, default zone rejects unsolicited traffic)"
                .into(),
            filter: Ok(f),
        });
    }
    found
}

/// Whether the device speaks IPv6, so that a firewall must filter it too. An image read
/// with `--root` is assumed to: the running host's kernel says nothing of it.
fn ipv6_enabled(ctx: &Ctx) -> (bool, String) {
    if !ctx.root.live_matches_disk() {
        return (true, "IPv6 assumed enabled (image)".into());
    }
    match sys::sysctl(ctx.root, "net.ipv6.conf.all.disable_ipv6") {
        Ok(v) if v == "1" => (
            false,
            "IPv6 disabled (net.ipv6.conf.all.disable_ipv6 = 1)".into(),
        ),
        Ok(_) => (true, "IPv6 enabled".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            (false, "no IPv6 in this kernel".into())
        }
        Err(e) => (
            true,
            format!("IPv6 assumed enabled (disable_ipv6 {})", sys::why(&e)),
        ),
    }
}

pub(super) fn firewall(ctx: &Ctx) -> Check {
    let mut notes = Vec::new();
    let found = front_ends(ctx, &mut notes);
    match found.as_slice() {
        [] => {}
        [one] => {
            let f = match &one.filter {
                Ok(f) => f,
                Err(e) => return FIREWALL.check(Status::Unknown, e),
            };
            let (v6_on, v6_why) = ipv6_enabled(ctx);
            let mut open = Vec::new();
            if !f.ipv4 {
                open.push("IPv4");
            }
            if !f.ipv6 && v6_on {
                open.push("IPv6");
            }
            return if open.is_empty() {
                FIREWALL.check(Status::Pass, format!("{}; {v6_why}", one.what))
            } else {
                FIREWALL.check(
                    Status::Fail,
                    format!(
                        "{}; {v6_why}: {} input is not filtered",
                        one.what,
                        open.join(" and ")
                    ),
                )
            };
        }
        several => {
            let names: Vec<&str> = several.iter().map(|f| f.what.as_str()).collect();
            return FIREWALL.check(
                Status::Fail,
                format!(
                    "{} firewall front-ends enabled at once, each loading its own rules at boot (one undoes the other): {}",
                    several.len(),
                    names.join("; ")
                ),
            );
        }
    }
    notes.insert(
        0,
        "no firewall loaded at boot by ufw, nftables, netfilter-persistent or firewalld".into(),
    );
    if !ctx.root.live_matches_disk() {
        // The host's loaded modules say nothing of an image.
        return FIREWALL.check(Status::Fail, notes.join("; "));
    }
    match ctx.root.read_live("/proc/modules") {
        Ok(text) => {
            let loaded: Vec<&str> = text
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .filter(|m| FILTER_MODULES.contains(m))
                .collect();
            if loaded.is_empty() {
                notes.push("no netfilter filtering module loaded (/proc/modules)".into());
                FIREWALL.check(Status::Fail, notes.join("; "))
            } else {
                notes.push(format!("but {} loaded: rules may come from another tool (docker, a script); listing them needs CAP_NET_ADMIN", loaded.join(", ")));
                FIREWALL.check(Status::Unknown, notes.join("; "))
            }
        }
        Err(e) => {
            notes.push(format!("/proc/modules {}", sys::why(&e)));
            FIREWALL.check(Status::Unknown, notes.join("; "))
        }
    }
}

/// Well-known names for the ports that matter on these devices.
fn port_name(proto: Proto, port: u16) -> Option<&'static str> {
    Some(match (proto, port) {
        (_, 21) => "ftp",
        (_, 22) => "ssh",
        (_, 23) => "telnet",
        (_, 25) => "smtp",
        (_, 53) => "dns",
        (Proto::Udp, 67) => "dhcp-server",
        (Proto::Udp, 68) => "dhcp-client",
        (Proto::Udp, 69) => "tftp",
        (_, 80) => "http",
        (_, 111) => "rpcbind",
        (_, 123) => "ntp",
        (_, 137..=139) => "netbios",
        (_, 143) => "imap",
        (Proto::Udp, 161) => "snmp",
        (_, 443) => "https",
        (_, 445) => "smb",
        (Proto::Tcp, 512) => "rexec",
        (Proto::Tcp, 513) => "rlogin",
        (Proto::Tcp, 514) => "rsh",
        (Proto::Udp, 514) => "syslog",
        (Proto::Udp, 546) => "dhcpv6-client",
        (_, 631) => "ipp",
        (_, 1883) => "mqtt",
        (_, 3306) => "mysql",
        (_, 3389) => "rdp",
        (Proto::Udp, 5353) => "mdns",
        (_, 5355) => "llmnr",
        (_, 5432) => "postgresql",
        (_, 5900..=5909) => "vnc",
        (_, 6379) => "redis",
        (_, 8080) => "http-alt",
        (_, 8883) => "mqtts",
        _ => return None,
    })
}

fn show(s: &Socket) -> String {
    let addr = match s.local {
        IpAddr::V4(a) => format!("{a}:{}", s.local_port),
        IpAddr::V6(a) => format!("[{a}]:{}", s.local_port),
    };
    match port_name(s.proto, s.local_port) {
        Some(n) => format!("{} {addr} ({n})", s.proto.name()),
        None => format!("{} {addr}", s.proto.name()),
    }
}

/// DHCP clients must bind their port to get an address: not a service.
fn is_dhcp_client(s: &Socket) -> bool {
    s.proto == Proto::Udp && matches!(s.local_port, 68 | 546)
}

/// At most this many sockets are listed in evidence.
const MAX_LISTED: usize = 12;

pub(super) fn listening(ctx: &Ctx) -> Check {
    let sockets = match &ctx.sockets {
        Ok(s) => s,
        Err(e) => return LISTENING.check(Status::Unknown, e),
    };
    let exposed: BTreeSet<(Proto, u16, IpAddr)> = sockets
        .iter()
        .filter(|s| s.is_listening() && !s.is_loopback() && !is_dhcp_client(s))
        .map(|s| (s.proto, s.local_port, s.local))
        .collect();
    if exposed.is_empty() {
        let local = sockets
            .iter()
            .filter(|s| s.is_listening() && s.is_loopback())
            .count();
        return LISTENING.check(Status::Pass, format!("no listening socket outside loopback in /proc/net (loopback only: {local}; DHCP client ports ignored)"));
    }
    let mut listed: Vec<String> = exposed
        .iter()
        .take(MAX_LISTED)
        .map(|&(proto, port, local)| {
            show(&Socket {
                proto,
                local,
                local_port: port,
                remote: local,
                remote_port: 0,
                state: 0,
            })
        })
        .collect();
    if exposed.len() > MAX_LISTED {
        listed.push(format!("+{} more", exposed.len() - MAX_LISTED));
    }
    LISTENING.check(
        Status::Fail,
        format!(
            "{} socket(s) reachable from the network: {}",
            exposed.len(),
            listed.join(", ")
        ),
    )
}

/// Server packages of clear-text remote-access protocols.
pub(super) const LEGACY_PACKAGES: [&str; 8] = [
    "telnetd",
    "inetutils-telnetd",
    "telnetd-ssl",
    "rsh-server",
    "rsh-redone-server",
    "tftpd",
    "tftpd-hpa",
    "atftpd",
];

fn is_legacy_port(s: &Socket) -> bool {
    match s.proto {
        Proto::Tcp => matches!(s.local_port, 23 | 512 | 513 | 514),
        Proto::Udp => s.local_port == 69,
    }
}

pub(super) fn legacy_services(ctx: &Ctx) -> Check {
    let pkgs = ctx.installed_of(&LEGACY_PACKAGES);
    let ports: Option<BTreeSet<String>> = ctx.sockets.as_ref().ok().map(|s| {
        s.iter()
            .filter(|s| s.is_listening() && is_legacy_port(s))
            .map(show)
            .collect()
    });
    let mut found = Vec::new();
    if let Some(p) = pkgs.as_ref().filter(|p| !p.is_empty()) {
        found.push(format!("installed: {}", p.join(", ")));
    }
    if let Some(p) = ports.as_ref().filter(|p| !p.is_empty()) {
        found.push(format!(
            "listening: {}",
            p.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if !found.is_empty() {
        return LEGACY.check(Status::Fail, found.join("; "));
    }
    match (pkgs.is_some(), ports.is_some()) {
        (true, true) => LEGACY.check(
            Status::Pass,
            "none of telnetd, rsh-server, tftpd (and variants) installed; nothing listens on tcp 23/512/513/514 or udp 69",
        ),
        (dpkg_ok, _) => {
            let why = if dpkg_ok { ctx.sockets.as_ref().err() } else { ctx.dpkg.as_ref().err() };
            LEGACY.check(Status::Unknown, format!("nothing found, but {}", why.map_or("", |e| e)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::dpkg;
    use super::super::Status;
    use super::*;

    use super::super::testutil::run_check_with_units as ctx_run;

    const NFT_DROP: &str = "table inet filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n  iif lo accept\n }\n}\n";
    const NFT_V4_ONLY: &str = "table ip filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n  iif lo accept\n }\n}\n";
    /// Debian's /etc/default/ufw as packaged (the keys that matter).
    const UFW_DEFAULTS: &str =
        "IPV6=yes\nDEFAULT_INPUT_POLICY=\"DROP\"\nDEFAULT_OUTPUT_POLICY=\"ACCEPT\"\n";
    const UFW_ON: (&str, &str) = ("/etc/ufw/ufw.conf", "ENABLED=yes\nLOGLEVEL=low\n");
    const IPV6_ON: (&str, &str) = ("/proc/sys/net/ipv6/conf/all/disable_ipv6", "0\n");
    const IPV6_OFF: (&str, &str) = ("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1\n");
    const IPV6_OFF_DEFAULT: (&str, &str) = ("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1\n");
    const NFT_DEBIAN: &str = "flush ruleset\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter;\n\t}\n}\n";

    #[test]
    fn firewall_passes_with_ufw_or_nftables_drop_policy() {
        let c = ctx_run(
            &[UFW_ON, ("/etc/default/ufw", UFW_DEFAULTS), IPV6_ON],
            &["ufw.service"],
            firewall,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(
            c.evidence.contains("DEFAULT_INPUT_POLICY=DROP, IPV6=yes"),
            "{}",
            c.evidence
        );
        let c = ctx_run(
            &[("/etc/nftables.conf", NFT_DROP)],
            &["nftables.service"],
            firewall,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("input denied by default"));
        let c = ctx_run(
            &[
                // Relative to nft's include path, /etc.
                ("/etc/nftables.conf", "include \"nftables.d/*.nft\"\n"),
                ("/etc/nftables.d/in.nft", NFT_DROP),
            ],
            &["nftables.service"],
            firewall,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        // An include nft would load but that cannot be read: cannot tell.
        let dir = tempfile::tempdir().unwrap();
        super::super::testutil::write(
            dir.path(),
            &[("/etc/nftables.conf", "include \"/etc/nftables.d/*.nft\"\n")],
        );
        crate::fsutil::testing::mkfifo(&dir.path().join("etc/nftables.d/in.nft"));
        super::super::testutil::enable(dir.path(), "nftables.service");
        let root = crate::collect::Root::at(dir.path()).with_live(dir.path());
        let c = firewall(&super::super::Ctx::load(&root));
        assert_eq!(c.status, Status::Unknown, "{}", c.evidence);
        assert!(
            c.evidence
                .contains("/etc/nftables.d/in.nft, included by /etc/nftables.conf"),
            "{}",
            c.evidence
        );
        let c = ctx_run(
            &[
                (
                    "/etc/iptables/rules.v4",
                    "*filter\n:INPUT DROP [0:0]\nCOMMIT\n",
                ),
                (
                    "/etc/iptables/rules.v6",
                    "*filter\n:INPUT DROP [0:0]\nCOMMIT\n",
                ),
                IPV6_ON,
            ],
            &["netfilter-persistent.service"],
            firewall,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
    }

    /// The auditor's trees: each looked filtered and was not.
    #[test]
    fn firewall_that_lets_traffic_in_fails() {
        // ufw enabled with an input policy of ACCEPT and no rule.
        let accept = "IPV6=yes\nDEFAULT_INPUT_POLICY=\"ACCEPT\"\n";
        let c = ctx_run(
            &[UFW_ON, ("/etc/default/ufw", accept), IPV6_ON],
            &["ufw.service"],
            firewall,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(
            c.evidence.ends_with("IPv4 and IPv6 input is not filtered"),
            "{}",
            c.evidence
        );
        // ...and `ufw deny 23` under it lets everything else in (counted, both families).
        let deny = "*filter\n:ufw-user-input - [0:0]\n-A ufw-user-input -p tcp --dport 23 -j DROP\nCOMMIT\n";
        let deny6 = "*filter\n:ufw6-user-input - [0:0]\n-A ufw6-user-input -p tcp --dport 23 -j DROP\nCOMMIT\n";
        let c = ctx_run(
            &[
                UFW_ON,
                ("/etc/default/ufw", accept),
                ("/etc/ufw/user.rules", deny),
                ("/etc/ufw/user6.rules", deny6),
                IPV6_ON,
            ],
            &["ufw.service"],
            firewall,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.evidence.contains("2 deny/limit rule(s)"),
            "{}",
            c.evidence
        );
        assert!(
            c.evidence
                .ends_with(": IPv4 and IPv6 input is not filtered"),
            "{}",
            c.evidence
        );
        // ufw dropping IPv4 with IPV6=no, on a device with IPv6.
        let no6 = "IPV6=no\nDEFAULT_INPUT_POLICY=\"DROP\"\n";
        let c = ctx_run(
            &[UFW_ON, ("/etc/default/ufw", no6), IPV6_ON],
            &["ufw.service"],
            firewall,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.contains("IPV6=no"));
        let c = ctx_run(
            &[
                UFW_ON,
                ("/etc/default/ufw", no6),
                IPV6_OFF,
                IPV6_OFF_DEFAULT,
            ],
            &["ufw.service"],
            firewall,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        // nftables dropping IPv4 only.
        let c = ctx_run(
            &[("/etc/nftables.conf", NFT_V4_ONLY), IPV6_ON],
            &["nftables.service"],
            firewall,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.ends_with("IPv6 input is not filtered"));
        // iptables rules.v4 alone.
        let c = ctx_run(
            &[
                (
                    "/etc/iptables/rules.v4",
                    "*filter\n:INPUT DROP [0:0]\nCOMMIT\n",
                ),
                IPV6_ON,
            ],
            &["netfilter-persistent.service"],
            firewall,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        // Two front-ends at once, each filtering on its own.
        let c = ctx_run(
            &[
                UFW_ON,
                ("/etc/default/ufw", UFW_DEFAULTS),
                ("/etc/nftables.conf", NFT_DROP),
                IPV6_ON,
            ],
            &["ufw.service", "nftables.service"],
            firewall,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(
            c.evidence
                .starts_with("2 firewall front-ends enabled at once"),
            "{}",
            c.evidence
        );
        // ufw enabled but its defaults file missing: cannot tell.
        let c = ctx_run(&[UFW_ON], &["ufw.service"], firewall);
        assert_eq!(c.status, Status::Unknown, "{}", c.evidence);
    }

    /// The nft fixtures are rulesets nft itself accepts (`nft -c -f`), where nft can run.
    #[test]
    fn nft_fixtures_are_valid_for_nft() {
        let nft = ["/usr/sbin/nft", "/sbin/nft"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(nft) = nft else {
            eprintln!("nft not installed: comparison skipped");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        for (name, text, v4, v6) in [
            ("drop", NFT_DROP, true, true),
            ("v4", NFT_V4_ONLY, true, false),
            ("debian", NFT_DEBIAN, false, false),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let out = std::process::Command::new(nft)
                .arg("-c")
                .arg("-f")
                .arg(&path)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() && err.contains("Operation not permitted") {
                eprintln!("nft -c needs CAP_NET_ADMIN here: comparison skipped");
                return;
            }
            assert!(out.status.success(), "{name}: {err}");
            let f = netfilter::nft(text);
            assert_eq!((f.ipv4, f.ipv6), (v4, v6), "{name}");
        }
    }

    #[test]
    fn firewall_fails_or_is_unknown_otherwise() {
        // Debian's default nftables.conf, enabled: accepts everything.
        let c = ctx_run(
            &[
                ("/etc/nftables.conf", NFT_DEBIAN),
                ("/proc/modules", ""),
                IPV6_ON,
            ],
            &["nftables.service"],
            firewall,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.contains("accepts everything"), "{}", c.evidence);
        // ufw configured but off.
        let c = ctx_run(
            &[
                ("/etc/ufw/ufw.conf", "ENABLED=no\n"),
                ("/proc/modules", "ext4 1 0 - Live 0x0\n"),
            ],
            &["ufw.service"],
            firewall,
        );
        assert_eq!(c.status, Status::Fail);
        // Nothing configured, but nf_tables loaded by someone.
        let c = ctx_run(
            &[(
                "/proc/modules",
                "nf_tables 348160 0 - Live 0x0000000000000000\n",
            )],
            &[],
            firewall,
        );
        assert_eq!(c.status, Status::Unknown);
        assert!(c.evidence.contains("nf_tables"));
        let c = ctx_run(&[], &[], firewall);
        assert_eq!(c.status, Status::Unknown);
    }

    const TCP: &str =
        "  sl  local_address rem_address   st\n   0: 0100007F:0CEA 00000000:0000 0A 0\n";
    const TCP_SSH: &str = "  sl  local_address rem_address   st\n   0: 00000000:0016 00000000:0000 0A 0\n   1: 00000000:0017 00000000:0000 0A 0\n";
    const UDP_DHCP: &str =
        "  sl  local_address rem_address   st\n  1: 00000000:0044 00000000:0000 07 0\n";

    #[cfg(target_endian = "little")]
    #[test]
    fn listening_lists_exposed_sockets_with_names() {
        let c = ctx_run(
            &[("/proc/net/tcp", TCP), ("/proc/net/udp", UDP_DHCP)],
            &[],
            listening,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        let c = ctx_run(
            &[("/proc/net/tcp", TCP_SSH), ("/proc/net/udp", UDP_DHCP)],
            &[],
            listening,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.evidence.contains("tcp 0.0.0.0:22 (ssh)"),
            "{}",
            c.evidence
        );
        assert!(!c.evidence.contains(":68"));
        assert_eq!(ctx_run(&[], &[], listening).status, Status::Unknown);
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn legacy_services_from_packages_and_ports() {
        let clean = dpkg(&["openssh-server"]);
        let c = ctx_run(
            &[("/var/lib/dpkg/status", &clean), ("/proc/net/tcp", TCP)],
            &[],
            legacy_services,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        let c = ctx_run(
            &[("/var/lib/dpkg/status", &clean), ("/proc/net/tcp", TCP_SSH)],
            &[],
            legacy_services,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("(telnet)"), "{}", c.evidence);
        let bad = dpkg(&["tftpd-hpa"]);
        let c = ctx_run(
            &[("/var/lib/dpkg/status", &bad), ("/proc/net/tcp", TCP)],
            &[],
            legacy_services,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("tftpd-hpa"));
        let c = ctx_run(&[("/proc/net/tcp", TCP)], &[], legacy_services);
        assert_eq!(c.status, Status::Unknown);
    }
}
