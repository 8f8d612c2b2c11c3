//! sudo: a password is asked before privilege escalation, and commands run in their own
//! pseudo-terminal. Read from /etc/sudoers and the files it includes. Evidence names files
//! and counts rules, never the users they are for.

use super::{sys, Check, Ctx, Rule, Severity, Status};
use crate::collect::max;
use crate::parse::debversion;
use crate::parse::sudoers::{self, Include, Sudoers};
use std::cmp::Ordering;
use std::io;

const NOPASSWD: Rule = Rule {
    id: "sudo.nopasswd",
    title: "sudo asks for a password before running a command as root",
    severity: Severity::High,
    reference:
        "CIS Debian Linux 12 Benchmark: Ensure users must provide password for privilege escalation",
};

const USE_PTY: Rule = Rule {
    id: "sudo.use_pty",
    title: "sudo runs commands in a pseudo-terminal",
    severity: Severity::Low,
    reference: "CIS Debian Linux 12 Benchmark: Ensure sudo commands use pty",
};

/// Packages asked about (see `posture::ASKED`).
pub(super) const PACKAGES: [&str; 2] = ["sudo", "sudo-ldap"];

const MAIN: &str = "/etc/sudoers";
/// Include nesting beyond any real configuration (also stops include loops).
const MAX_DEPTH: usize = 8;
/// Files beyond any real configuration: the walk stops there.
const MAX_FILES: usize = 256;
/// The first sudo release that uses a pty unless told otherwise.
const PTY_BY_DEFAULT: &str = "1.9.14";

/// The files read, in sudo's order, and the problems met.
#[derive(Default)]
struct Config {
    files: Vec<(String, Sudoers)>,
    errors: Vec<String>,
}

fn read(ctx: &Ctx) -> Result<Config, String> {
    let text = ctx
        .root
        .read_up_to(MAIN, max::CONFIG)
        .map_err(|e| format!("{MAIN} {}", sys::why(&e)))?;
    let mut c = Config::default();
    walk(ctx, MAIN, &text, 0, &mut c);
    Ok(c)
}

fn walk(ctx: &Ctx, path: &str, text: &str, depth: usize, c: &mut Config) {
    if c.files.len() >= MAX_FILES {
        c.errors
            .push(format!("{path}: more than {MAX_FILES} files; stopped"));
        return;
    }
    let parsed = sudoers::parse(text);
    let includes = parsed.includes.clone();
    c.files.push((path.to_string(), parsed));
    let dir = path.rsplit_once('/').map_or("/", |(d, _)| d);
    let absolute = |p: &str| {
        if p.starts_with('/') {
            p.to_string()
        } else {
            format!("{dir}/{p}")
        }
    };
    for inc in includes {
        let (target, is_dir) = match &inc {
            Include::File(p) => (absolute(p), false),
            Include::Dir(p) => (absolute(p), true),
        };
        if target.contains('%') {
            c.errors
                .push(format!("{path}: include {target} depends on the host name"));
            continue;
        }
        if depth + 1 >= MAX_DEPTH {
            c.errors
                .push(format!("{target}: include nesting too deep (a loop?)"));
            return;
        }
        let files = if is_dir {
            match std::fs::read_dir(ctx.root.file(&target)) {
                // sudo skips a missing include directory.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    c.errors.push(format!("{target} {}", sys::why(&e)));
                    continue;
                }
                Ok(_) => sys::dir_names(&ctx.root.file(&target))
                    .into_iter()
                    .filter(|n| sudoers::included_name(n))
                    .map(|n| format!("{target}/{n}"))
                    .filter(|f| ctx.root.file(f).is_file())
                    .collect(),
            }
        } else {
            vec![target]
        };
        for f in files {
            match ctx.root.read_up_to(&f, max::CONFIG) {
                Ok(t) => walk(ctx, &f, &t, depth + 1, c),
                Err(e) => c.errors.push(format!("{f} {}", sys::why(&e))),
            }
        }
    }
}

/// Why the checks do not apply or cannot be decided, if so.
fn gate(ctx: &Ctx) -> Option<(Status, String)> {
    match ctx.installed_of(&PACKAGES) {
        None => Some((
            Status::Unknown,
            format!(
                "cannot tell whether sudo is installed: {}",
                ctx.dpkg.as_ref().err().map_or("", |e| e)
            ),
        )),
        Some(found) if found.is_empty() => {
            Some((Status::NotApplicable, "sudo is not installed".into()))
        }
        Some(_) => None,
    }
}

pub(super) fn checks(ctx: &Ctx) -> Vec<Check> {
    if let Some((status, why)) = gate(ctx) {
        return vec![NOPASSWD.check(status, &why), USE_PTY.check(status, why)];
    }
    match read(ctx) {
        Ok(c) => vec![nopasswd(&c), use_pty(ctx, &c)],
        Err(why) => vec![
            NOPASSWD.check(Status::Unknown, &why),
            USE_PTY.check(Status::Unknown, why),
        ],
    }
}

fn read_files(c: &Config) -> String {
    match c.files.len() {
        1 => format!("read {MAIN}"),
        n => format!("read {MAIN} + {} included file(s)", n - 1),
    }
}

fn nopasswd(c: &Config) -> Check {
    let mut found = Vec::new();
    for (f, s) in &c.files {
        if s.nopasswd_rules > 0 {
            found.push(format!("{f}: {} NOPASSWD rule(s)", s.nopasswd_rules));
        }
        if s.no_authenticate > 0 {
            found.push(format!("{f}: {} Defaults !authenticate", s.no_authenticate));
        }
    }
    if !found.is_empty() {
        return NOPASSWD.check(Status::Fail, found.join("; "));
    }
    if !c.errors.is_empty() {
        return NOPASSWD.check(Status::Unknown, c.errors.join("; "));
    }
    NOPASSWD.check(
        Status::Pass,
        format!("no NOPASSWD rule nor !authenticate ({})", read_files(c)),
    )
}

fn use_pty(ctx: &Ctx, c: &Config) -> Check {
    if !c.errors.is_empty() {
        return USE_PTY.check(Status::Unknown, c.errors.join("; "));
    }
    // The last global setting wins, in reading order.
    let set = c
        .files
        .iter()
        .filter_map(|(f, s)| s.use_pty.map(|v| (f, v)))
        .next_back();
    match set {
        Some((f, true)) => USE_PTY.check(Status::Pass, format!("Defaults use_pty ({f})")),
        Some((f, false)) => USE_PTY.check(Status::Fail, format!("Defaults !use_pty ({f})")),
        // The default changed with the version: only read it when it decides.
        None => match sudo_version(ctx) {
            Some(v) => {
                let by_default = debversion::compare(&v, PTY_BY_DEFAULT) != Ordering::Less;
                USE_PTY.check(
                    super::pass_if(by_default),
                    format!(
                        "use_pty not set ({}); sudo {v} {} a pty by default",
                        read_files(c),
                        if by_default { "uses" } else { "does not use" }
                    ),
                )
            }
            None => USE_PTY.check(
                Status::Unknown,
                format!(
                    "use_pty not set ({}) and the sudo version cannot be read",
                    read_files(c)
                ),
            ),
        },
    }
}

/// The installed sudo's version, from the dpkg database.
fn sudo_version(ctx: &Ctx) -> Option<String> {
    let mut found = None;
    crate::collect::each_installed(ctx.root, |p| {
        if PACKAGES.contains(&p.name) {
            found = Some(p.version.to_string());
        }
    })
    .ok()?;
    found
}
