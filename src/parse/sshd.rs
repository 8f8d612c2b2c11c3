//! `sshd_config` and its `Include`d drop-ins, read the way sshd reads them.
//!
//! What matters for posture is the *global* value of a keyword, i.e. what `sshd -T` prints
//! without `-C`: the first occurrence wins, keywords are case-insensitive, a `Match` block
//! (except `Match all`) does not set global values, and an `Include` is expanded in place
//! with the includer's `Match` state, which is restored after the included files.
//!
//! The parser is pure: file access goes through a loader closure, so the include logic is
//! tested on in-memory files and the collector supplies globbing and reading.

/// One meaningful line of an sshd configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `Include pattern...` (patterns as written; relative ones are relative to /etc/ssh).
    Include(Vec<String>),
    /// `Match ...`; `all` when the criteria are exactly `all` (back to global context).
    Match { all: bool },
    /// Any other keyword, lowercased, with its arguments (quotes removed).
    Keyword { key: String, args: Vec<String> },
}

/// Splits a configuration text into lines (comments and blank lines dropped).
pub fn lines(text: &str) -> Vec<Line> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Line> {
    let line = line.trim_start();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    // The keyword ends at whitespace or '='; one '=' may separate it from the arguments.
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let key = line[..end].to_ascii_lowercase();
    let mut rest = line[end..].trim_start();
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start();
    }
    let args = split_args(rest);
    Some(match key.as_str() {
        "include" => Line::Include(args),
        "match" => Line::Match {
            all: args.len() == 1 && args[0].eq_ignore_ascii_case("all"),
        },
        // Deprecated alias sharing the same option slot.
        "challengeresponseauthentication" => Line::Keyword {
            key: "kbdinteractiveauthentication".into(),
            args,
        },
        _ => Line::Keyword { key, args },
    })
}

/// Splits arguments on whitespace, honouring double and single quotes; an unquoted `#`
/// starting an argument comments out the rest of the line (as recent sshd does).
fn split_args(s: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some('#') => break,
            _ => {}
        }
        let mut arg = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => arg.push(c),
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c.is_whitespace() => break,
                None => arg.push(c),
            }
            chars.next();
        }
        args.push(arg);
    }
    args
}

/// A file handed back by the loader for an `Include` pattern.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Path shown in evidence.
    pub name: String,
    /// The text, or why it could not be read.
    pub text: Result<String, String>,
}

/// The global settings of a configuration, with where each came from.
#[derive(Debug, Default, Clone)]
pub struct Effective {
    /// (keyword, arguments, file, number of errors met before it was set)
    values: Vec<(String, Vec<String>, String, usize)>,
    /// Keywords set inside `Match` blocks: (keyword, first argument lowercased, file).
    /// They apply to some connections only (a user, an address range).
    conditional: Vec<(String, String, String)>,
    /// Files that were read, main file first, in processing order.
    pub files: Vec<String>,
    /// Problems met (unreadable include, include depth exceeded): values may be missing.
    pub errors: Vec<String>,
    /// Set when the includes loop or nest too deep: sshd refuses such a configuration, and
    /// following it further would take time exponential in the number of looping files.
    aborted: bool,
}

impl Effective {
    /// Arguments of the first global occurrence of `key` (case-insensitive), and its file.
    pub fn get(&self, key: &str) -> Option<(&[String], &str)> {
        self.values
            .iter()
            .find(|(k, ..)| k.eq_ignore_ascii_case(key))
            .map(|(_, a, f, _)| (a.as_slice(), f.as_str()))
    }

    /// Whether the value found for `key` (or its absence) is sure: no file that could have
    /// set it earlier was left unread.
    pub fn is_certain(&self, key: &str) -> bool {
        match self
            .values
            .iter()
            .find(|(k, ..)| k.eq_ignore_ascii_case(key))
        {
            Some((.., errors_before)) => *errors_before == 0,
            None => self.errors.is_empty(),
        }
    }

    /// The values `Match` blocks give `key` (first argument, lowercased), with their file.
    pub fn in_match_blocks<'a>(&'a self, key: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.conditional
            .iter()
            .filter(move |(k, ..)| k.eq_ignore_ascii_case(key))
            .map(|(_, v, f)| (v.as_str(), f.as_str()))
    }

    /// The first argument of `key`, lowercased (sshd compares option values case-insensitively).
    pub fn value(&self, key: &str) -> Option<(String, &str)> {
        let (args, file) = self.get(key)?;
        Some((args.first()?.to_ascii_lowercase(), file))
    }
}

/// sshd refuses deeper include nesting; so do we (also stops include loops).
const MAX_DEPTH: usize = 16;
/// More files than any real configuration has: beyond it the walk stops (a loop through
/// several drop-ins would otherwise fan out before reaching [`MAX_DEPTH`]).
const MAX_FILES: usize = 256;

/// Resolves the global settings of `main` (read from `main_name`), expanding `Include`
/// patterns through `load`, which returns the matching files in sshd's (lexical) order.
pub fn effective(
    main_name: &str,
    main: &str,
    load: &mut dyn FnMut(&str) -> Vec<Loaded>,
) -> Effective {
    let mut out = Effective::default();
    walk(main_name, main, false, 0, load, &mut out);
    out
}

fn walk(
    name: &str,
    text: &str,
    outer_match: bool,
    depth: usize,
    load: &mut dyn FnMut(&str) -> Vec<Loaded>,
    out: &mut Effective,
) {
    if out.aborted {
        return;
    }
    if out.files.len() >= MAX_FILES {
        out.errors.push(format!(
            "{name}: more than {MAX_FILES} files included; stopped"
        ));
        out.aborted = true;
        return;
    }
    out.files.push(name.to_string());
    let mut in_match = outer_match;
    for line in lines(text) {
        if out.aborted {
            return;
        }
        match line {
            // `Match all` ends a conditional block, unless the whole file is included
            // from inside a Match block: then nothing in it is global.
            Line::Match { all } => in_match = outer_match || !all,
            Line::Include(patterns) => {
                for pattern in patterns {
                    for file in load(&pattern) {
                        match file.text {
                            Ok(_) if depth + 1 >= MAX_DEPTH => {
                                out.errors.push(format!(
                                    "{}: include nesting too deep (an include loop?)",
                                    file.name
                                ));
                                out.aborted = true;
                                return;
                            }
                            Ok(t) => walk(&file.name, &t, in_match, depth + 1, load, out),
                            Err(e) => out.errors.push(format!("{}: {e}", file.name)),
                        }
                    }
                }
            }
            Line::Keyword { key, args } => {
                if in_match {
                    let first = args.first().map(|a| a.to_ascii_lowercase());
                    out.conditional
                        .push((key, first.unwrap_or_default(), name.to_string()));
                } else if !out.values.iter().any(|(k, ..)| *k == key) {
                    let errors = out.errors.len();
                    out.values.push((key, args, name.to_string(), errors));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Three drop-ins that each include the whole drop-in directory: sshd refuses this; the
    /// walk must stop at once with one error, not fan out 3^16 times.
    #[test]
    fn looping_includes_stop_quickly_with_one_error() {
        let dropin = "Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication no\n";
        let mut reads = 0;
        let mut load = |_: &str| -> Vec<Loaded> {
            (0..3)
                .map(|i| {
                    reads += 1;
                    Loaded {
                        name: format!("/etc/ssh/sshd_config.d/{i}.conf"),
                        text: Ok(dropin.to_string()),
                    }
                })
                .collect()
        };
        let eff = effective("/etc/ssh/sshd_config", dropin, &mut load);
        assert_eq!(eff.errors.len(), 1, "{:?}", eff.errors);
        assert!(eff.errors[0].contains("too deep"), "{:?}", eff.errors);
        assert!(reads < 100, "{reads} files read");
    }

    /// Debian 12's stock sshd_config (comments trimmed, structure kept).
    const DEBIAN12: &str = "\
# This is the sshd server system-wide configuration file.  See
# sshd_config(5) for more information.

Include /etc/ssh/sshd_config.d/*.conf

#Port 22
#PermitRootLogin prohibit-password
#PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM yes
X11Forwarding yes
PrintMotd no
AcceptEnv LANG LC_*
Subsystem	sftp	/usr/lib/openssh/sftp-server

# Example of overriding settings on a per-user basis
#Match User anoncvs
#	X11Forwarding no
";

    fn loader(files: &[(&str, &str)]) -> impl FnMut(&str) -> Vec<Loaded> {
        let map: HashMap<String, String> = files
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        move |pattern: &str| {
            let mut names: Vec<&String> = map
                .keys()
                .filter(|n| {
                    pattern
                        .strip_suffix("*.conf")
                        .map(|dir| n.starts_with(dir) && n.ends_with(".conf"))
                        .unwrap_or(n.as_str() == pattern)
                })
                .collect();
            names.sort();
            names
                .into_iter()
                .map(|n| Loaded {
                    name: n.clone(),
                    text: Ok(map[n].clone()),
                })
                .collect()
        }
    }

    #[test]
    fn cloud_init_drop_in_enables_password_authentication() {
        let mut load = loader(&[(
            "/etc/ssh/sshd_config.d/50-cloud-init.conf",
            "PasswordAuthentication yes\n",
        )]);
        let eff = effective("/etc/ssh/sshd_config", DEBIAN12, &mut load);
        assert_eq!(
            eff.value("passwordauthentication"),
            Some((
                "yes".to_string(),
                "/etc/ssh/sshd_config.d/50-cloud-init.conf"
            ))
        );
        assert_eq!(eff.value("PermitRootLogin"), None); // unset: sshd default applies
        assert_eq!(eff.value("UsePAM").unwrap().0, "yes");
        assert_eq!(eff.files.len(), 2);
    }

    #[test]
    fn first_value_wins_across_drop_ins_in_lexical_order() {
        let mut load = loader(&[
            (
                "/etc/ssh/sshd_config.d/20-hardening.conf",
                "permitrootlogin NO\n",
            ),
            (
                "/etc/ssh/sshd_config.d/10-vendor.conf",
                "PermitRootLogin=yes\n",
            ),
        ]);
        let main = "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin no\n";
        let eff = effective("main", main, &mut load);
        let (v, file) = eff.value("PermitRootLogin").unwrap();
        assert_eq!(v, "yes");
        assert_eq!(file, "/etc/ssh/sshd_config.d/10-vendor.conf");
    }

    #[test]
    fn match_blocks_do_not_set_global_values_but_match_all_ends_them() {
        let text = "\
Match User backup
    PasswordAuthentication yes
    PermitRootLogin yes
Match all
PasswordAuthentication no
";
        let eff = effective("main", text, &mut |_: &str| Vec::new());
        assert_eq!(eff.value("PasswordAuthentication").unwrap().0, "no");
        assert_eq!(eff.value("PermitRootLogin"), None);
    }

    #[test]
    fn match_in_an_included_file_does_not_leak_and_include_inside_match_is_not_global() {
        let mut load = loader(&[
            (
                "/etc/ssh/a.conf",
                "Match Address 10.0.0.0/8\nX11Forwarding no\n",
            ),
            ("/etc/ssh/b.conf", "Match all\nPermitRootLogin yes\n"),
        ]);
        let text = "\
Include /etc/ssh/a.conf
X11Forwarding yes
Match Group admins
Include /etc/ssh/b.conf
";
        let eff = effective("main", text, &mut load);
        assert_eq!(eff.value("x11forwarding").unwrap().0, "yes");
        assert_eq!(eff.value("permitrootlogin"), None);
    }

    #[test]
    fn quotes_equals_signs_comments_and_aliases() {
        let text = "\
  PermitRootLogin = \"without-password\"   # trailing comment
Banner \"/etc/issue net\"
ChallengeResponseAuthentication yes
KbdInteractiveAuthentication no
AllowUsers a b # c
";
        let eff = effective("main", text, &mut |_: &str| Vec::new());
        assert_eq!(eff.value("permitrootlogin").unwrap().0, "without-password");
        assert_eq!(eff.get("banner").unwrap().0, ["/etc/issue net"]);
        assert_eq!(eff.value("kbdinteractiveauthentication").unwrap().0, "yes");
        assert_eq!(eff.get("allowusers").unwrap().0, ["a", "b"]);
    }

    #[test]
    fn unreadable_includes_and_loops_are_reported_not_fatal() {
        let mut load = |p: &str| {
            vec![Loaded {
                name: p.to_string(),
                text: if p.contains("loop") {
                    Ok("Include loop.conf\n".to_string())
                } else {
                    Err("permission denied".to_string())
                },
            }]
        };
        let text = "PermitRootLogin no\nInclude secret.conf\nInclude loop.conf\nUsePAM yes\n";
        let eff = effective("main", text, &mut load);
        assert!(eff.errors[0].contains("secret.conf: permission denied"));
        assert!(eff.is_certain("permitrootlogin"));
        assert!(!eff.is_certain("usepam")); // secret.conf might have set it first
        assert!(!eff.is_certain("passwordauthentication"));
        assert!(eff.errors.iter().any(|e| e.contains("too deep")));
    }

    #[test]
    fn garbage_does_not_panic() {
        let eff = effective("main", "\u{0}\n=\n\"\nMatch\nInclude\n'", &mut |_: &str| {
            Vec::new()
        });
        assert!(eff.errors.is_empty());
    }
}
