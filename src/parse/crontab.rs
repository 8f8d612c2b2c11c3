//! Crontabs (crontab(5)): `/etc/crontab` and `/etc/cron.d/*` have a user field after the
//! five time fields; users' crontabs (`/var/spool/cron/crontabs/*`) do not. Lines may also
//! be `NAME=value` environment settings, which apply to the commands after them.

/// One job: its schedule as written (`0 3 * * *`, `@daily`), the command and the
/// environment settings that precede it in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job<'a> {
    pub schedule: String,
    pub command: &'a str,
    pub env: Vec<(&'a str, &'a str)>,
}

impl Job<'_> {
    /// `@reboot` runs once per boot, not periodically.
    pub fn is_periodic(&self) -> bool {
        self.schedule != "@reboot"
    }
}

/// The jobs of a crontab; `system` when each line has a user field.
pub fn parse(text: &str, system: bool) -> Vec<Job<'_>> {
    let mut env: Vec<(&str, &str)> = Vec::new();
    let mut jobs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = env_setting(line) {
            env.push((k, v));
            continue;
        }
        let fields = if line.starts_with('@') { 1 } else { 5 } + usize::from(system);
        let mut rest = line;
        let mut schedule = Vec::new();
        for i in 0..fields {
            let Some((field, tail)) = rest.split_once([' ', '\t']) else {
                rest = "";
                break;
            };
            // The user field is not part of the schedule (and is not reported).
            if !(system && i == fields - 1) {
                schedule.push(field);
            }
            rest = tail.trim_start();
        }
        if rest.is_empty() {
            continue;
        }
        jobs.push(Job {
            schedule: schedule.join(" "),
            command: rest,
            env: env.clone(),
        });
    }
    jobs
}

/// `NAME = value` (cron allows spaces around `=` and quotes around the value).
fn env_setting(line: &str) -> Option<(&str, &str)> {
    let (k, v) = line.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let v = v.trim();
    let v = v
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
        .unwrap_or(v);
    Some((k, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_crontab_with_user_field_and_environment() {
        let text = "SHELL=/bin/sh\nPATH = \"/usr/local/bin:/usr/bin\"\n# m h dom mon dow user command\n17 *\t* * *\troot    cd / && run-parts --report /etc/cron.hourly\n0 3 * * * root PATH=$PATH:/usr/local/bin borgmatic --verbosity -1\n@daily backup /usr/local/bin/restic-run.sh\nBORG_REPO=ssh://h/r\n@reboot root /usr/bin/true\n30 2 * *\n";
        let jobs = parse(text, true);
        assert_eq!(jobs.len(), 4);
        assert_eq!(jobs[0].schedule, "17 * * * *");
        assert_eq!(
            jobs[0].command,
            "cd / && run-parts --report /etc/cron.hourly"
        );
        assert_eq!(
            jobs[0].env,
            [("SHELL", "/bin/sh"), ("PATH", "/usr/local/bin:/usr/bin")]
        );
        assert!(jobs[1].command.starts_with("PATH=$PATH"));
        assert_eq!(jobs[2].schedule, "@daily");
        assert_eq!(jobs[2].command, "/usr/local/bin/restic-run.sh");
        assert!(jobs[2].is_periodic() && !jobs[3].is_periodic());
        assert_eq!(jobs[3].env.last(), Some(&("BORG_REPO", "ssh://h/r")));
    }

    #[test]
    fn user_crontab_has_no_user_field() {
        let jobs = parse(
            "MAILTO=\"\"\n*/15 8-18 * * 1-5 duply offsite backup\n",
            false,
        );
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].schedule, "*/15 8-18 * * 1-5");
        assert_eq!(jobs[0].command, "duply offsite backup");
        assert_eq!(jobs[0].env, [("MAILTO", "")]);
    }
}
