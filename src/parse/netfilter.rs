//! Firewall rule files read at boot: `/etc/nftables.conf` (nft syntax) and iptables-save
//! files (`/etc/iptables/rules.v4`, `rules.v6`, loaded by netfilter-persistent).
//!
//! The agent cannot list the kernel's live ruleset (that needs CAP_NET_ADMIN), so it reads
//! what will be loaded and looks for a default deny on input: a base chain on the `input`
//! hook with a `drop` policy, or a rule in it that drops or rejects whatever is left (no
//! match). Rules that drop some traffic (`ct state invalid drop`, a port, a jump to
//! fail2ban's chain) under an accept policy let everything else in, and are only counted.

/// What a rule file does to incoming traffic.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InputFilter {
    /// Input chains found (nft base chains on `hook input`, or iptables `INPUT`).
    pub chains: usize,
    /// At least one input chain denies by default: a drop policy, or a catch-all drop or
    /// reject rule.
    pub default_deny: bool,
    /// Rules in input chains that drop or reject some traffic, or hand it to another chain.
    pub filtering_rules: usize,
    /// Whether IPv4 and IPv6 input are denied by default, each on its own: a ruleset can
    /// drop IPv4 and let every IPv6 packet in (an nft `table ip`, an iptables rules.v4
    /// alone).
    pub ipv4: bool,
    pub ipv6: bool,
    /// `include` patterns (nft) the caller may want to read too.
    pub includes: Vec<String>,
}

/// An IP family, for iptables-save files (rules.v4 and rules.v6 are one family each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl InputFilter {
    /// Whether incoming traffic is denied unless a rule lets it in.
    pub fn filters(&self) -> bool {
        self.default_deny
    }

    /// Adds what another file of the same ruleset says.
    pub fn merge(&mut self, other: InputFilter) {
        self.chains += other.chains;
        self.default_deny |= other.default_deny;
        self.filtering_rules += other.filtering_rules;
        self.ipv4 |= other.ipv4;
        self.ipv6 |= other.ipv6;
        self.includes.extend(other.includes);
    }
}

fn strip_comment(line: &str) -> &str {
    // '#' starts a comment outside quotes; rules rarely quote '#', comments do not.
    let mut in_quote = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_quote = !in_quote,
            '#' if !in_quote => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Reads an nft ruleset file.
pub fn nft(text: &str) -> InputFilter {
    let mut out = InputFilter::default();
    // Statements: split lines on ';' as nft does, tracking brace depth per chain.
    let mut chain_depth: Option<usize> = None; // depth at which the current chain opened
    let mut chain_is_input = false;
    let mut depth = 0usize;
    // The families the current table's chains see: `ip` (the default) IPv4, `ip6` IPv6,
    // `inet` both; `arp`, `bridge` and `netdev` tables have no input hook for IP.
    let mut table = (false, false);
    for raw in text.lines() {
        let line = strip_comment(raw);
        for stmt in line.split(';') {
            let words: Vec<&str> = stmt.split_whitespace().collect();
            if words.first() == Some(&"include") {
                if let Some(p) = words.get(1) {
                    out.includes.push(p.trim_matches('"').to_string());
                }
            }
            if words.first() == Some(&"table") {
                table = match words.get(1).copied() {
                    Some("ip6") => (false, true),
                    Some("inet") => (true, true),
                    Some("arp" | "bridge" | "netdev") => (false, false),
                    _ => (true, false),
                };
            }
            if words.first() == Some(&"chain") && stmt.contains('{') {
                chain_depth = Some(depth);
                chain_is_input = false;
            }
            if chain_depth.is_some() {
                let has = |w: &str| words.contains(&w);
                if has("hook") && words.windows(2).any(|p| p == ["hook", "input"]) {
                    chain_is_input = true;
                    out.chains += 1;
                }
                if chain_is_input {
                    let denies = if words.windows(2).any(|p| p == ["policy", "drop"]) {
                        true
                    } else if !has("policy")
                        && !has("hook")
                        && ["drop", "reject", "jump", "goto"].iter().any(|v| has(v))
                    {
                        out.filtering_rules += 1;
                        nft_catch_all(&words)
                    } else {
                        false
                    };
                    if denies {
                        out.default_deny = true;
                        out.ipv4 |= table.0;
                        out.ipv6 |= table.1;
                    }
                }
            }
            for c in stmt.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth = depth.saturating_sub(1);
                        if chain_depth == Some(depth) {
                            chain_depth = None;
                            chain_is_input = false;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// An nft rule that drops or rejects every packet reaching it: a verdict with no match
/// before it, only statements that do not select (`counter`, `log` and their options).
fn nft_catch_all(words: &[&str]) -> bool {
    let mut rest = words.iter().copied();
    while let Some(w) = rest.next() {
        match w {
            "counter" | "log" => {}
            // Options with one argument (quoted strings with spaces are not expected).
            "prefix" | "level" | "comment" | "packets" | "bytes" => {
                rest.next();
            }
            "drop" => return rest.next().is_none(),
            "reject" => return true,
            _ => return false,
        }
    }
    false
}

/// Reads an iptables-save file of one family (only the `filter` table's INPUT chain
/// matters).
pub fn iptables_save(text: &str, family: Family) -> InputFilter {
    let mut out = InputFilter::default();
    let mut table = "";
    for line in text.lines() {
        let line = strip_comment(line).trim();
        if let Some(t) = line.strip_prefix('*') {
            table = t.trim();
        } else if table != "filter" {
            continue;
        } else if let Some(rest) = line.strip_prefix(":INPUT") {
            out.chains += 1;
            let policy = rest.split_whitespace().next().unwrap_or("");
            out.default_deny |= policy == "DROP";
        } else if let Some(rule) = line.strip_prefix("-A INPUT ") {
            let words: Vec<&str> = rule.split_whitespace().collect();
            let target = words
                .iter()
                .skip_while(|w| **w != "-j" && **w != "-g")
                .nth(1)
                .copied()
                .unwrap_or("");
            if !target.is_empty() && !["ACCEPT", "RETURN", "LOG"].contains(&target) {
                out.filtering_rules += 1;
                // A catch-all: `-j DROP` or `-j REJECT [--reject-with X]`, nothing else.
                let catch_all = matches!(words.as_slice(), ["-j", "DROP"] | ["-j", "REJECT", ..]);
                out.default_deny |= catch_all;
            }
        }
    }
    let filters = out.filters();
    match family {
        Family::Ipv4 => out.ipv4 = filters,
        Family::Ipv6 => out.ipv6 = filters,
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian 12's stock /etc/nftables.conf: an input chain that accepts everything.
    const DEBIAN_DEFAULT: &str = "#!/usr/sbin/nft -f

flush ruleset

table inet filter {
	chain input {
		type filter hook input priority filter;
	}
	chain forward {
		type filter hook forward priority filter;
	}
	chain output {
		type filter hook output priority filter;
	}
}
";

    const HARDENED: &str = "flush ruleset
include \"/etc/nftables.d/*.nft\"
table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept # keep sessions
    iif lo accept
    tcp dport 22 accept
  }
  chain output { type filter hook output priority 0; policy accept; }
}
";

    #[test]
    fn debian_default_ruleset_filters_nothing() {
        let f = nft(DEBIAN_DEFAULT);
        assert_eq!(f.chains, 1);
        assert!(!f.filters());
    }

    #[test]
    fn drop_policy_and_includes() {
        let f = nft(HARDENED);
        assert_eq!(f.chains, 1);
        assert!(f.default_deny && f.filters());
        assert!(f.ipv4 && f.ipv6, "an inet table filters both families");
        assert_eq!(f.includes, ["/etc/nftables.d/*.nft"]);
    }

    #[test]
    fn families_are_told_apart() {
        let v4_only = "table ip filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n }\n}\ntable ip6 filter6 {\n chain input {\n  type filter hook input priority 0; policy accept;\n }\n}\n";
        let f = nft(v4_only);
        assert!(f.filters() && f.ipv4 && !f.ipv6, "{f:?}");
        let both = format!("{v4_only}table ip6 more {{\n chain in {{\n  type filter hook input priority 0;\n  tcp dport 22 accept\n  counter drop\n }}\n}}\n");
        let f = nft(&both);
        assert!(f.ipv4 && f.ipv6, "{f:?}");
        let bridge = "table bridge b {\n chain input {\n  type filter hook input priority 0; policy drop;\n }\n}\n";
        assert!(!nft(bridge).ipv4 && !nft(bridge).ipv6);
    }

    /// Under an accept policy, rules that drop some traffic let the rest in: they are
    /// counted, but only a catch-all drop or reject denies by default.
    #[test]
    fn an_accept_policy_with_some_drops_is_no_default_deny() {
        let text = "table ip t {\n chain out { type filter hook output priority 0; policy drop; }\n chain in {\n  type filter hook input priority 0;\n  tcp dport 23 reject\n  ct state invalid drop\n  jump f2b\n }\n}\n";
        let f = nft(text);
        assert!(!f.filters() && !f.ipv4, "{f:?}");
        assert_eq!(f.filtering_rules, 3);
        let closed = text.replace("jump f2b", "counter log prefix \"in:\" drop");
        assert!(nft(&closed).filters(), "{closed}");
        let rejected = text.replace("jump f2b", "reject with icmpx type admin-prohibited");
        assert!(nft(&rejected).ipv4);
        assert!(nft_catch_all(&[
            "counter", "packets", "0", "bytes", "0", "drop"
        ]));
        assert!(!nft_catch_all(&["iif", "lo", "drop"]));
    }

    #[test]
    fn iptables_save_input_chain() {
        let open = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n";
        assert!(!iptables_save(open, Family::Ipv4).filters());
        let closed = "*nat\n:INPUT DROP [0:0]\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 23 -j REJECT --reject-with tcp-reset\nCOMMIT\n";
        let f = iptables_save(closed, Family::Ipv4);
        assert!(
            !f.filters() && !f.ipv4,
            "one port rejected lets the rest in"
        );
        assert_eq!(f.filtering_rules, 1);
        // fail2ban's jump, saved by netfilter-persistent, under an accept policy.
        let f2b = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd\nCOMMIT\n";
        assert!(!iptables_save(f2b, Family::Ipv4).filters());
        let last = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -j REJECT --reject-with icmp-host-prohibited\nCOMMIT\n";
        let f = iptables_save(last, Family::Ipv4);
        assert!(f.filters() && f.ipv4 && !f.ipv6);
        let v6 = iptables_save("*filter\n:INPUT DROP [12:345]\nCOMMIT\n", Family::Ipv6);
        assert!(v6.default_deny && v6.ipv6 && !v6.ipv4);
    }
}
