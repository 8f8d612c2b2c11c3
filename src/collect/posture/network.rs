//! Network exposure: host firewall, sockets reachable from the network, legacy clear-text
//! remote-access services.

use super::{sys, Check, Ctx, Rule, Severity, Status};
use crate::parse::keyfile;
use crate::parse::netfilter::{self, InputFilter};
use crate::parse::sockets::{Proto, Socket};
use std::collections::BTreeSet;
use std::net::IpAddr;

const FIREWALL: Rule = Rule {
    id: "network.firewall",
    title: "A host firewall filters incoming traffic",
    severity: Severity::High,
    reference:
        "CIS Debian Linux 12 Benchmark: Ensure a single firewall configuration utility is in use",
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
        for inc in sys::glob(ctx.root, &pattern) {
            if let Ok(t) = ctx.root.read(&inc) {
                let mut sub = netfilter::nft(&t);
                sub.includes.clear();
                f.merge(sub);
            }
        }
    }
    Ok(f)
}

fn describe(f: &InputFilter) -> String {
    if f.drop_policy {
        "input chain policy drop".into()
    } else if f.filtering_rules > 0 {
        format!("{} drop/reject rule(s) in input chains", f.filtering_rules)
    } else if f.chains == 0 {
        "no input chain".into()
    } else {
        "input chain accepts everything".into()
    }
}

pub(super) fn firewall(ctx: &Ctx) -> Check {
    let units = &ctx.units;
    let mut active = Vec::new();
    let mut notes = Vec::new();
    // ufw: `ufw enable` writes ENABLED=yes; ufw.service loads the rules at boot.
    if let Ok(conf) = ctx.root.read("/etc/ufw/ufw.conf") {
        let vars = keyfile::shell_vars(&conf);
        let on =
            keyfile::shell_get(&vars, "ENABLED").is_some_and(|v| v.eq_ignore_ascii_case("yes"));
        match (on, units.is_enabled("ufw.service")) {
            (true, true) => {
                active.push("ufw (ufw.conf ENABLED=yes, ufw.service enabled)".to_string())
            }
            (true, false) => {
                notes.push("ufw.conf ENABLED=yes but ufw.service not enabled".to_string())
            }
            (false, _) => notes.push("ufw installed, ENABLED=no".to_string()),
        }
    }
    if units.is_enabled("nftables.service") {
        match nft_ruleset(ctx, "/etc/nftables.conf") {
            Ok(f) if f.filters() => active.push(format!(
                "nftables (nftables.service enabled, /etc/nftables.conf: {})",
                describe(&f)
            )),
            Ok(f) => notes.push(format!(
                "nftables.service enabled but /etc/nftables.conf: {}",
                describe(&f)
            )),
            Err(e) => notes.push(format!("nftables.service enabled, {e}")),
        }
    }
    if units.is_enabled("netfilter-persistent.service") {
        let mut f = InputFilter::default();
        let mut read = Vec::new();
        for path in ["/etc/iptables/rules.v4", "/etc/iptables/rules.v6"] {
            if let Ok(t) = ctx.root.read(path) {
                f.merge(netfilter::iptables_save(&t));
                read.push(path);
            }
        }
        let what = format!(
            "netfilter-persistent.service enabled, {}: {}",
            if read.is_empty() {
                "no rules file".to_string()
            } else {
                read.join(" + ")
            },
            describe(&f)
        );
        if f.filters() {
            active.push(what)
        } else {
            notes.push(what)
        }
    }
    if units.is_enabled("firewalld.service") {
        active.push("firewalld.service enabled (default zone rejects unsolicited traffic)".into());
    }
    if !active.is_empty() {
        let mut ev = active.join("; ");
        if active.len() > 1 {
            ev.push_str("; several firewall tools enabled");
        }
        return FIREWALL.check(Status::Pass, ev);
    }
    notes.insert(
        0,
        "no firewall loaded at boot by ufw, nftables, netfilter-persistent or firewalld".into(),
    );
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
    const NFT_DEBIAN: &str = "flush ruleset\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter;\n\t}\n}\n";

    #[test]
    fn firewall_passes_with_ufw_or_nftables_drop_policy() {
        let c = ctx_run(
            &[("/etc/ufw/ufw.conf", "ENABLED=yes\nLOGLEVEL=low\n")],
            &["ufw.service"],
            firewall,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        let c = ctx_run(
            &[("/etc/nftables.conf", NFT_DROP)],
            &["nftables.service"],
            firewall,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("policy drop"));
        let c = ctx_run(
            &[
                ("/etc/nftables.conf", "include \"/etc/nftables.d/*.nft\"\n"),
                ("/etc/nftables.d/in.nft", NFT_DROP),
            ],
            &["nftables.service"],
            firewall,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        let c = ctx_run(
            &[(
                "/etc/iptables/rules.v4",
                "*filter\n:INPUT DROP [0:0]\nCOMMIT\n",
            )],
            &["netfilter-persistent.service"],
            firewall,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
    }

    #[test]
    fn firewall_fails_or_is_unknown_otherwise() {
        // Debian's default nftables.conf, enabled: accepts everything.
        let c = ctx_run(
            &[("/etc/nftables.conf", NFT_DEBIAN), ("/proc/modules", "")],
            &["nftables.service"],
            firewall,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.contains("accepts everything"));
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
