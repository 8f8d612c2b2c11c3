//! apt configuration files (`/etc/apt/apt.conf`, `/etc/apt/apt.conf.d/*`).
//!
//! Both forms apt accepts are read: `A::B::C "v";` and nested scopes
//! `A { B { C "v"; }; };`, with `//`, `/* */` and `#` comments, `#clear` (which drops a
//! subtree) and list items (`A { "x"; "y"; };`). `#include` is not followed (the agent
//! must not chase paths named in config files); it is reported in [`Parsed::notes`].
//! Keys are case-insensitive in apt, so they are stored lowercased.

use std::collections::HashMap;

/// One effect a file has on the configuration, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `key "value";`
    Set(String, String),
    /// A list item `"value";` inside the scope `key`.
    Append(String, String),
    /// `#clear key;`
    Clear(String),
}

/// What a file says, and what was skipped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub ops: Vec<Op>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Semi,
    Clear,
    Include,
}

fn tokens(text: &str, notes: &mut Vec<String>) -> Vec<Tok> {
    let b = text.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    let word_end = |mut j: usize| {
        while j < b.len() && !b[j].is_ascii_whitespace() && !b"{};\"".contains(&b[j]) {
            j += 1;
        }
        j
    };
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if b[i..].starts_with(b"//") {
            i = memchr(b, i, b'\n');
        } else if b[i..].starts_with(b"/*") {
            i = text[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2);
        } else if c == b'#' {
            let end = word_end(i);
            match text[i..end].to_ascii_lowercase().as_str() {
                "#clear" => toks.push(Tok::Clear),
                "#include" => toks.push(Tok::Include),
                _ => {
                    i = memchr(b, i, b'\n');
                    continue;
                }
            }
            i = end;
        } else if c == b'"' {
            let end = memchr(b, i + 1, b'"');
            if end >= b.len() {
                notes.push("unterminated quoted string".into());
            }
            toks.push(Tok::Quoted(text[i + 1..end.min(b.len())].to_string()));
            i = end + 1;
        } else if c == b'{' {
            toks.push(Tok::Open);
            i += 1;
        } else if c == b'}' {
            toks.push(Tok::Close);
            i += 1;
        } else if c == b';' {
            toks.push(Tok::Semi);
            i += 1;
        } else {
            let end = word_end(i);
            toks.push(Tok::Word(text[i..end].to_string()));
            i = end;
        }
    }
    toks
}

/// Index of the next `needle` at or after `from`, or the end of the text.
fn memchr(b: &[u8], from: usize, needle: u8) -> usize {
    b.get(from..)
        .and_then(|s| s.iter().position(|&c| c == needle))
        .map_or(b.len(), |p| from + p)
}

fn join(scope: &[String], key: &str) -> String {
    let key = key.trim_matches(':').to_ascii_lowercase();
    match scope.last() {
        Some(s) if !key.is_empty() => format!("{s}::{key}"),
        Some(s) => s.clone(),
        None => key,
    }
}

/// Parses one apt configuration file. Never fails: what cannot be understood is noted.
pub fn parse(text: &str) -> Parsed {
    let mut out = Parsed::default();
    let toks = tokens(text, &mut out.notes);
    // Full key of each open scope.
    let mut scope: Vec<String> = Vec::new();
    let mut pending: Vec<Tok> = Vec::new();
    let mut directive: Option<Tok> = None;
    for tok in toks {
        match tok {
            Tok::Clear | Tok::Include => {
                pending.clear();
                directive = Some(tok);
            }
            Tok::Semi | Tok::Open | Tok::Close => {
                if let Some(d) = directive.take() {
                    for t in pending.drain(..) {
                        let (Tok::Word(w) | Tok::Quoted(w)) = t else {
                            continue;
                        };
                        if d == Tok::Clear {
                            out.ops.push(Op::Clear(join(&scope, &w)));
                        } else {
                            out.notes.push(format!("#include {w} not followed"));
                        }
                    }
                    if tok == Tok::Semi {
                        continue;
                    }
                }
                let stmt: Vec<Tok> = std::mem::take(&mut pending);
                match stmt.as_slice() {
                    [] => {}
                    [Tok::Quoted(v)] if tok != Tok::Open => match scope.last() {
                        Some(s) => out.ops.push(Op::Append(s.clone(), v.clone())),
                        None => out.notes.push(format!("list item \"{v}\" outside a scope")),
                    },
                    [Tok::Word(k)] | [Tok::Quoted(k)] => {
                        if tok != Tok::Open {
                            out.ops.push(Op::Set(join(&scope, k), String::new()));
                        }
                    }
                    [Tok::Word(k) | Tok::Quoted(k), Tok::Word(v) | Tok::Quoted(v)] => {
                        out.ops.push(Op::Set(join(&scope, k), v.clone()));
                    }
                    other => out
                        .notes
                        .push(format!("unreadable statement ({} tokens)", other.len())),
                }
                match tok {
                    Tok::Open => {
                        let key = match stmt.first() {
                            Some(Tok::Word(k) | Tok::Quoted(k)) => join(&scope, k),
                            _ => scope.last().cloned().unwrap_or_default(),
                        };
                        scope.push(key);
                    }
                    Tok::Close => {
                        let closed = scope.pop();
                        if closed.is_none() {
                            out.notes.push("unbalanced '}'".into());
                        }
                    }
                    _ => {}
                }
            }
            t => pending.push(t),
        }
    }
    if !pending.is_empty() || !scope.is_empty() {
        out.notes
            .push("unterminated statement at end of file".into());
    }
    out
}

/// A configuration built from files applied in order (later files override).
#[derive(Debug, Default, Clone)]
pub struct Config {
    values: HashMap<String, (String, String)>,
    lists: HashMap<String, Vec<String>>,
}

impl Config {
    /// Applies the operations of one file, remembering `source` for each value.
    pub fn apply(&mut self, parsed: &Parsed, source: &str) {
        for op in &parsed.ops {
            match op {
                Op::Set(k, v) => {
                    self.values
                        .insert(k.clone(), (v.clone(), source.to_string()));
                }
                Op::Append(k, v) => self.lists.entry(k.clone()).or_default().push(v.clone()),
                Op::Clear(k) => {
                    let sub = format!("{k}::");
                    let gone = |key: &String| key == k || key.starts_with(&sub);
                    self.values.retain(|key, _| !gone(key));
                    self.lists.retain(|key, _| !gone(key));
                }
            }
        }
    }

    /// The value of `key` (case-insensitive) and the file that set it last.
    pub fn get(&self, key: &str) -> Option<(&str, &str)> {
        self.values
            .get(&key.to_ascii_lowercase())
            .map(|(v, s)| (v.as_str(), s.as_str()))
    }

    /// The items of the list `key`.
    pub fn list(&self, key: &str) -> &[String] {
        self.lists
            .get(&key.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// /etc/apt/apt.conf.d/20auto-upgrades as written by `dpkg-reconfigure unattended-upgrades`.
    const AUTO_UPGRADES: &str =
        "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n";

    /// Excerpt of Debian's 50unattended-upgrades: nested scope, list items, comments.
    const UNATTENDED: &str = r#"// Unattended-Upgrade::Origins-Pattern controls which packages are
// upgraded.
Unattended-Upgrade::Origins-Pattern {
        // Codename based matching:
//      "origin=Debian,codename=${distro_codename}-updates";
        "origin=Debian,codename=${distro_codename},label=Debian";
        "origin=Debian,codename=${distro_codename},label=Debian-Security";
};
/* block
   comment "ignored"; */
Unattended-Upgrade::Mail "root"; // trailing comment
#Unattended-Upgrade::Automatic-Reboot "false";
Acquire::http::Proxy "http://proxy.example:3128/";
"#;

    fn config(files: &[&str]) -> Config {
        let mut c = Config::default();
        for (i, f) in files.iter().enumerate() {
            c.apply(&parse(f), &format!("file{i}"));
        }
        c
    }

    #[test]
    fn flat_form_and_case_insensitive_keys() {
        let c = config(&[AUTO_UPGRADES]);
        assert_eq!(
            c.get("apt::periodic::update-package-lists"),
            Some(("1", "file0"))
        );
        assert_eq!(c.get("APT::Periodic::Unattended-Upgrade").unwrap().0, "1");
    }

    #[test]
    fn nested_form_is_equivalent() {
        let text = "APT {\n  Periodic {\n    Update-Package-Lists \"1\";\n    Unattended-Upgrade 0;\n  };\n};\n";
        let p = parse(text);
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        let c = config(&[text]);
        assert_eq!(c.get("APT::Periodic::Update-Package-Lists").unwrap().0, "1");
        assert_eq!(c.get("APT::Periodic::Unattended-Upgrade").unwrap().0, "0");
        // Mixed: scope plus a `::` key inside it.
        let c = config(&["APT { Periodic::Enable \"0\"; };"]);
        assert_eq!(c.get("APT::Periodic::Enable").unwrap().0, "0");
    }

    #[test]
    fn comments_lists_and_urls_in_values() {
        let p = parse(UNATTENDED);
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        let c = config(&[UNATTENDED]);
        assert_eq!(c.list("Unattended-Upgrade::Origins-Pattern").len(), 2);
        assert_eq!(c.get("Unattended-Upgrade::Mail").unwrap().0, "root");
        assert_eq!(c.get("Unattended-Upgrade::Automatic-Reboot"), None);
        assert_eq!(
            c.get("Acquire::http::Proxy").unwrap().0,
            "http://proxy.example:3128/"
        );
    }

    #[test]
    fn later_files_override_and_clear_drops_a_subtree() {
        let c = config(&[AUTO_UPGRADES, "APT::Periodic::Unattended-Upgrade \"0\";"]);
        assert_eq!(
            c.get("APT::Periodic::Unattended-Upgrade"),
            Some(("0", "file1"))
        );
        let c = config(&[AUTO_UPGRADES, "#clear APT::Periodic;"]);
        assert_eq!(c.get("APT::Periodic::Update-Package-Lists"), None);
        let c = config(&[UNATTENDED, "#clear Unattended-Upgrade::Origins-Pattern;"]);
        assert!(c.list("Unattended-Upgrade::Origins-Pattern").is_empty());
        assert!(c.get("Unattended-Upgrade::Mail").is_some());
    }

    #[test]
    fn include_is_noted_not_followed() {
        let p = parse("#include \"/etc/apt/other.conf\";\nA::B \"c\";");
        assert_eq!(p.ops, [Op::Set("a::b".into(), "c".into())]);
        assert!(p.notes[0].contains("not followed"));
    }

    #[test]
    fn broken_input_is_noted_not_fatal() {
        for text in [
            "A::B \"unterminated",
            "}}};;{",
            "A B C D;",
            "\u{0}\"",
            "{ \"x\"; }",
        ] {
            let _ = parse(text);
        }
        assert!(parse("A B C D;").notes[0].contains("unreadable"));
        assert!(parse("A::B \"unterminated").notes[0].contains("unterminated"));
        let p = parse("A::B \"1\"; }");
        assert_eq!(p.ops.len(), 1);
        assert!(p.notes.iter().any(|n| n.contains("unbalanced")));
    }
}
