//! What runs on a schedule: the services of enabled systemd timers and periodic cron jobs,
//! with the commands they run (and the text of a script they call, one level down), for
//! the checks that ask whether something runs regularly (backups, antivirus updates).

use super::{sys, Ctx};
use crate::collect::max;
use crate::parse::{crontab, keyfile};

/// What runs periodically: enabled timers' services, then cron jobs (not `@reboot`).
/// Read once per collection, however many checks ask.
pub(super) fn scheduled_jobs<'c>(ctx: &'c Ctx) -> &'c [Job] {
    ctx.jobs.get_or_init(|| {
        let mut jobs = timer_jobs(ctx);
        jobs.extend(cron_jobs(ctx).into_iter().filter(|j| j.periodic));
        jobs
    })
}

/// The text of `abs` when it is a script (`#!`); a program is not read (a binary would
/// cost its size in reading and in turning its bytes into text, for nothing).
fn read_script(ctx: &Ctx, abs: &str) -> Option<String> {
    use std::io::Read as _;
    let mut magic = [0u8; 2];
    crate::fsutil::open(&ctx.root.file(abs))
        .and_then(|mut f| f.read_exact(&mut magic))
        .ok()?;
    (&magic == b"#!")
        .then(|| ctx.root.read_up_to(abs, max::CONFIG).ok())
        .flatten()
}

/// Something that runs on a schedule: a cron job or an enabled systemd timer's service.
#[derive(Debug, Clone)]
pub(super) struct Job {
    /// Where it is defined (a path, or "a user crontab": their names are account names).
    place: String,
    schedule: String,
    /// The command line(s), with the text of a script it runs (one level).
    pub command: String,
    /// Environment it runs with (crontab settings, unit Environment/EnvironmentFile).
    env: Vec<(String, String)>,
    periodic: bool,
    /// Run by a systemd timer rather than cron.
    timer: bool,
}

impl Job {
    /// `$NAME` or `${NAME}` replaced by the job's variable, other words as they are.
    pub(super) fn expand<'a>(&'a self, word: &'a str) -> &'a str {
        let name = word
            .strip_prefix("${")
            .and_then(|w| w.strip_suffix('}'))
            .or_else(|| word.strip_prefix('$'));
        name.and_then(|n| self.var(n)).unwrap_or(word)
    }

    /// The schedule for evidence.
    pub fn when(&self) -> String {
        if self.timer {
            self.schedule.clone()
        } else {
            format!("cron {} ({})", self.place, self.schedule)
        }
    }

    pub(super) fn var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn owned(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// run-parts and cron.d skip names with dots (`x.dpkg-old`) and other odd characters.
fn run_parts_name(path: &str) -> bool {
    path.rsplit('/').next().is_some_and(|n| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// Adds the text of the script `command` starts with, if it is one (one level, so no
/// loop), and the variables it sets.
fn with_script(ctx: &Ctx, command: &str, env: &mut Vec<(String, String)>) -> String {
    let first = command
        .split_whitespace()
        .find(|w| !w.contains('='))
        .unwrap_or("");
    let mut text = command.to_string();
    if first.starts_with('/') {
        if let Some(script) = read_script(ctx, first) {
            env.extend(owned(&keyfile::shell_vars(&script)));
            text.push('\n');
            text.push_str(&script);
        }
    }
    text
}

/// Every cron job: /etc/crontab, /etc/cron.d, users' crontabs and the run-parts
/// directories (whose scripts are the commands).
fn cron_jobs(ctx: &Ctx) -> Vec<Job> {
    let mut tabs: Vec<(String, bool, String)> = Vec::new();
    for f in std::iter::once("/etc/crontab".to_string())
        .chain(super::sys::glob(ctx.root, "/etc/cron.d/*"))
    {
        if f == "/etc/crontab" || run_parts_name(&f) {
            tabs.push((f.clone(), true, f));
        }
    }
    for f in super::sys::glob(ctx.root, "/var/spool/cron/crontabs/*") {
        tabs.push((f, false, "a user crontab".into()));
    }
    let mut jobs = Vec::new();
    for (path, system, place) in tabs {
        let Ok(text) = ctx.root.read_up_to(&path, max::CONFIG) else {
            continue;
        };
        for j in crontab::parse(&text, system) {
            let mut env = owned(&j.env);
            let command = with_script(ctx, j.command, &mut env);
            jobs.push(Job {
                place: place.clone(),
                schedule: j.schedule.clone(),
                command,
                env,
                periodic: j.is_periodic(),
                timer: false,
            });
        }
    }
    for period in ["hourly", "daily", "weekly", "monthly"] {
        for f in super::sys::glob(ctx.root, &format!("/etc/cron.{period}/*")) {
            if !run_parts_name(&f) {
                continue;
            }
            let Ok(text) = ctx.root.read_up_to(&f, max::CONFIG) else {
                continue;
            };
            jobs.push(Job {
                env: owned(&keyfile::shell_vars(&text)),
                place: f,
                schedule: format!("cron.{period}"),
                command: text,
                periodic: true,
                timer: false,
            });
        }
    }
    jobs
}

/// A unit file's path in the unit directories; `foo@bar.timer` falls back to `foo@.timer`.
pub(super) fn unit_file(ctx: &Ctx, unit: &str) -> Option<String> {
    let template = unit
        .split_once('@')
        .and_then(|(base, rest)| Some(format!("{base}@.{}", rest.rsplit_once('.')?.1)));
    std::iter::once(unit.to_string())
        .chain(template)
        .flat_map(|name| sys::UNIT_DIRS.iter().map(move |d| format!("{d}/{name}")))
        .find(|p| ctx.root.file(p).is_file())
}

/// The `Key=` settings of a unit and its drop-ins, in reading order, `%i`/`%I` expanded:
/// each file read once, whatever number of keys the caller wants.
fn unit_settings(ctx: &Ctx, unit: &str) -> Vec<(String, String)> {
    let instance = unit
        .split_once('@')
        .and_then(|(_, r)| r.rsplit_once('.'))
        .map_or("", |(i, _)| i);
    let mut files: Vec<String> = unit_file(ctx, unit).into_iter().collect();
    files.extend(super::sys::glob(
        ctx.root,
        &format!("/etc/systemd/system/{unit}.d/*.conf"),
    ));
    let mut out = Vec::new();
    for f in files {
        let Ok(text) = ctx.root.read_up_to(&f, max::CONFIG) else {
            continue;
        };
        for e in keyfile::ini(&text) {
            let value = e.value.replace("%i", instance).replace("%I", instance);
            out.push((e.key.to_string(), value));
        }
    }
    out
}

/// The values of `key` among a unit's settings, in reading order.
fn values<'s>(settings: &'s [(String, String)], key: &'s str) -> impl Iterator<Item = &'s str> {
    settings
        .iter()
        .filter(move |(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The services of enabled timers, as jobs.
fn timer_jobs(ctx: &Ctx) -> Vec<Job> {
    // Listed, not globbed: enablement links are absolute and dangle under an image root.
    let mut timers: Vec<String> = sys::UNIT_DIRS
        .iter()
        .flat_map(|d| super::sys::glob(ctx.root, &format!("{d}/*.wants")))
        .flat_map(|w| super::sys::dir_names(&ctx.root.file(&w)))
        .filter(|t| t.ends_with(".timer") && ctx.units.is_enabled(t))
        .collect();
    timers.sort();
    timers.dedup();
    let mut jobs = Vec::new();
    for timer in timers {
        let timer_settings = unit_settings(ctx, &timer);
        let service = values(&timer_settings, "Unit")
            .last()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}.service", timer.trim_end_matches(".timer")));
        let calendar: Vec<&str> = values(&timer_settings, "OnCalendar").collect();
        let settings = unit_settings(ctx, &service);
        let mut env = Vec::new();
        for e in values(&settings, "Environment") {
            for kv in e.split_whitespace() {
                let kv = kv.trim_matches('"');
                if let Some((k, v)) = kv.split_once('=') {
                    env.push((k.to_string(), v.to_string()));
                }
            }
        }
        for f in values(&settings, "EnvironmentFile") {
            if let Ok(t) = ctx.root.read_up_to(f.trim_start_matches('-'), max::CONFIG) {
                env.extend(owned(&keyfile::shell_vars(&t)));
            }
        }
        let mut command = String::new();
        for exec in values(&settings, "ExecStart") {
            let exec = exec.trim_start_matches(['-', '@', ':', '+', '!']);
            command.push_str(&with_script(ctx, exec, &mut env));
            command.push('\n');
        }
        let schedule = if calendar.is_empty() {
            format!("{timer} enabled")
        } else {
            format!("{timer} enabled ({})", calendar.join(", "))
        };
        jobs.push(Job {
            place: service,
            schedule,
            command,
            env,
            periodic: true,
            timer: true,
        });
    }
    jobs
}

/// The words of the non-comment lines of a command or script, quotes removed.
pub(super) fn lines_words(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| l.split([';', '|', '&']))
        .map(|s| {
            s.split_whitespace()
                .map(|w| w.trim_matches(['"', '\'']))
                .collect::<Vec<_>>()
        })
}

pub(super) fn is_program(word: &str, name: &str) -> bool {
    word == name || word.rsplit('/').next() == Some(name)
}

/// Whether `text` runs the program `name` (by name or path) on some line.
pub(super) fn runs(text: &str, name: &str) -> bool {
    lines_words(text).any(|w| w.iter().any(|x| is_program(x, name)))
}
