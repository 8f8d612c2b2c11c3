//! PAM configuration files (`/etc/pam.d/*`): `type control module [args]` lines, per
//! pam.conf(5).

/// One meaningful line of a PAM service file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `@include file` (Debian's way of sharing common-auth and the like).
    Include(String),
    Rule(Rule),
}

/// One module line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `auth`, `account`, `password` or `session`, lowercased, without the leading `-`
    /// (which only silences a missing module).
    pub kind: String,
    /// `required`, `requisite`, `sufficient`, `optional`, `include`, `substack` or a
    /// bracketed `[value=action ...]`, as written.
    pub control: String,
    /// The module path as written (`pam_unix.so` or an absolute path).
    pub module: String,
    pub args: Vec<String>,
}

impl Rule {
    /// The module's file name: `pam_unix.so` whether or not a path was given.
    pub fn module_name(&self) -> &str {
        self.module.rsplit('/').next().unwrap_or("")
    }

    /// Whether the line loads `name` (`pam_unix` matches `pam_unix.so`).
    pub fn is(&self, name: &str) -> bool {
        self.module_name().trim_end_matches(".so") == name
    }

    /// The value of a `key=value` argument.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .find_map(|a| a.strip_prefix(key)?.strip_prefix('='))
    }

    pub fn has_arg(&self, flag: &str) -> bool {
        self.args.iter().any(|a| a == flag)
    }
}

/// The lines of a file; comments, blank and damaged lines are dropped. A line ending with
/// `\` continues on the next one.
pub fn lines(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    super::joined_lines(text, |l| out.extend(parse_line(l)));
    out
}

fn parse_line(line: &str) -> Option<Line> {
    let line = line.split('#').next().unwrap_or("");
    let mut tokens = Tokens(line.trim());
    let first = tokens.next()?;
    if first == "@include" {
        return tokens.next().map(|f| Line::Include(f.to_string()));
    }
    let kind = first.trim_start_matches('-').to_ascii_lowercase();
    if !matches!(kind.as_str(), "auth" | "account" | "password" | "session") {
        return None;
    }
    let control = tokens.next()?.to_string();
    let module = tokens.next()?.to_string();
    Some(Line::Rule(Rule {
        kind,
        control,
        module,
        args: tokens.map(str::to_string).collect(),
    }))
}

/// Whitespace-separated tokens, where `[...]` is one token even with spaces inside.
struct Tokens<'a>(&'a str);

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let s = self.0.trim_start();
        if s.is_empty() {
            return None;
        }
        let end = if s.starts_with('[') {
            s.find(']').map_or(s.len(), |i| i + 1)
        } else {
            s.find(|c: char| c.is_whitespace()).unwrap_or(s.len())
        };
        self.0 = &s[end..];
        Some(&s[..end])
    }
}

/// The rules of `lines` of type `kind` (includes are not followed).
pub fn rules<'a>(lines: &'a [Line], kind: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
    lines.iter().filter_map(move |l| match l {
        Line::Rule(r) if r.kind == kind => Some(r),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMON_AUTH: &str = "#\n# /etc/pam.d/common-auth\n#\n# here are the per-package modules (the \"Primary\" block)\nauth\t[success=1 default=ignore]\tpam_unix.so nullok\n# here's the fallback if no module succeeds\nauth\trequisite\t\t\tpam_deny.so\nauth\trequired\t\t\tpam_permit.so\n";

    #[test]
    fn debian_common_auth() {
        let l = lines(COMMON_AUTH);
        assert_eq!(l.len(), 3);
        let Line::Rule(r) = &l[0] else { panic!() };
        assert_eq!(r.control, "[success=1 default=ignore]");
        assert!(r.is("pam_unix") && r.has_arg("nullok"));
        assert_eq!(rules(&l, "auth").count(), 3);
        assert_eq!(rules(&l, "password").count(), 0);
    }

    #[test]
    fn includes_paths_arguments_continuations() {
        let text = "@include common-auth\n-session optional /lib/x86_64-linux-gnu/security/pam_systemd.so\nPassword requisite pam_pwquality.so retry=3 \\\n  minlen=14 # site policy\n#auth required pam_wheel.so\nauth\n";
        let l = lines(text);
        assert_eq!(l[0], Line::Include("common-auth".into()));
        let Line::Rule(s) = &l[1] else { panic!() };
        assert_eq!(
            (s.kind.as_str(), s.module_name()),
            ("session", "pam_systemd.so")
        );
        let Line::Rule(p) = &l[2] else { panic!() };
        assert_eq!(p.kind, "password");
        assert_eq!(p.arg("minlen"), Some("14"));
        assert_eq!(p.arg("retry"), Some("3"));
        assert_eq!(p.arg("min"), None);
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn garbage_does_not_panic() {
        for t in [
            "[",
            "auth [",
            "auth required",
            "\\",
            "\u{FFFD}\u{FFFD} x y z",
            "@include",
        ] {
            let _ = lines(t);
        }
        assert!(lines("auth [a b").is_empty());
    }
}
