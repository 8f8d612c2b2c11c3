//! The per-day usage ledger: how long the device was up, how long someone used it, and how
//! often it booted, kept on disk across restarts, reboots and clock changes.
//!
//! The funding is paid once devices are shown to be deployed *and used*, so these figures
//! end up in a proof sent to the regional health agency. They must therefore neither invent
//! time nor lose much of it:
//!
//! - **Durations come from the kernel, never from the wall clock.** Each sample holds the boot
//!   id and the monotonic uptime (`/proc/uptime`, which keeps counting while suspended); the
//!   time between two samples of the same boot is the uptime difference. Setting the clock,
//!   NTP catching up, or an RTC-less board booting in the past cannot create or erase time.
//! - **The wall clock only says which day a duration belongs to** (UTC dates). When it agrees
//!   with the uptime difference (within [`WALL_TOLERANCE_S`]) a span crossing midnight is split
//!   across the days; when it does not (the clock was set meanwhile) the whole span goes to the
//!   current day. A clock that went back before the newest day of the ledger (RTC-less Raspberry
//!   Pi before NTP) is attributed to that newest day: history is never rewritten.
//! - **Active time is conservative**: a span counts as active only if an interactive local
//!   session existed at both of its ends and the span is short enough
//!   ([`MAX_ACTIVE_SPAN_S`]) for the agent to have been watching (not stopped nor suspended).
//! - **A new boot** counts one boot on the day it started and the uptime since then. The time
//!   between the previous boot's last sample and its shutdown is unknown and lost: at most one
//!   sampling interval per boot.
//!
//! Counts only: no user names, no session times, nothing personal.

use std::cmp::max;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime};

use crate::collect::Root;
use crate::fsutil;

/// Days kept in the ledger: a full year plus the month being claimed, with some margin.
///
/// Pruning keeps the newest `RETENTION_DAYS` *entries* rather than "dates after today - 400":
/// a single sample taken under a wildly wrong clock (a dead RTC battery can read 2085) then
/// costs one old entry instead of wiping the whole history.
pub const RETENTION_DAYS: usize = 400;

/// The longest span between two samples that may still count as active. The agent samples
/// every minute; a longer span means it was not watching (stopped, restarted, device
/// suspended), so whether someone used the device meanwhile is unknown and is not claimed.
pub const MAX_ACTIVE_SPAN_S: u64 = 300;

/// How far the wall-clock difference between two samples may stray from the uptime
/// difference while the wall clock is still trusted to split a span across midnight
/// (NTP slews by at most 0.5 ms/s; anything larger is a clock step).
pub const WALL_TOLERANCE_S: i64 = 120;

/// 2025-01-01T00:00:00Z. A wall clock before this is certainly wrong (it predates the agent):
/// typically an RTC-less board that booted at the epoch and has not reached NTP yet.
const WALL_FLOOR: i64 = 1_735_689_600;

const DAY_S: i64 = 86_400;

/// Version of the ledger file layout.
const LEDGER_VERSION: u32 = 1;

/// One look at the system, taken every minute by the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// `/proc/sys/kernel/random/boot_id`: changes at every boot.
    pub boot_id: String,
    /// Time since boot (`/proc/uptime`, CLOCK_BOOTTIME).
    pub uptime: Duration,
    /// Wall clock, only used to tell which day the time belongs to.
    pub now: SystemTime,
    /// Whether an interactive local session exists (see [`session_active`]).
    pub session_active: bool,
}

/// Reads boot id, uptime and logind sessions from the live system (through `root`).
///
/// Fails only when boot id or uptime cannot be read; sessions that cannot be read count as
/// no session.
pub fn probe(root: &Root) -> io::Result<Probe> {
    let boot_id = root
        .read_live("/proc/sys/kernel/random/boot_id")?
        .trim()
        .to_string();
    if boot_id.is_empty() {
        return Err(invalid("empty boot id"));
    }
    let uptime = parse_uptime(&root.read_live("/proc/uptime")?)
        .ok_or_else(|| invalid("unreadable /proc/uptime"))?;
    Ok(Probe {
        boot_id,
        uptime,
        now: SystemTime::now(),
        session_active: session_active(root),
    })
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// First field of `/proc/uptime` ("12345.67 23456.78"), parsed exactly (no float rounding).
fn parse_uptime(text: &str) -> Option<Duration> {
    let field = text.split_whitespace().next()?;
    let (secs, frac) = field.split_once('.').unwrap_or((field, ""));
    let secs: u64 = secs.parse().ok()?;
    let frac = frac.get(..2).unwrap_or(frac);
    let centis: u32 = if frac.is_empty() {
        0
    } else if frac.bytes().all(|b| b.is_ascii_digit()) {
        frac.parse::<u32>().ok()? * if frac.len() == 1 { 10 } else { 1 }
    } else {
        return None;
    };
    Some(Duration::new(secs, centis * 10_000_000))
}

/// Whether someone is using the device in person: an interactive local session exists.
///
/// logind is the authority when it tracks sessions (`/run/systemd/sessions/*`). A session
/// counts when it is of class `user` (not a login greeter, lock screen or background job),
/// `active` or `online` (not `closing`), not remote (`REMOTE=1` or a `REMOTE_HOST`: an ssh
/// login is IT maintenance, not use by care staff), of a graphical or text type (`x11`,
/// `wayland`, `mir`, `tty`; not `unspecified`, as cron or systemd --user get), and attached to
/// the device itself: a seat, or a terminal that is not a pseudo-terminal.
///
/// When logind lists no session at all (no logind, or PAM without `pam_systemd`), `/run/utmp`
/// is read instead (see [`utmp_has_local_login`]). An autologin kiosk session counts the whole
/// time it is open: logind's idle hint is only on D-Bus, which the agent does not use.
pub fn session_active(root: &Root) -> bool {
    match logind_sessions(root) {
        Some(sessions) if !sessions.is_empty() => sessions.iter().any(|s| counts_as_use(s)),
        _ => utmp_has_local_login(root),
    }
}

/// The text of each logind session file, or `None` when logind keeps no session directory.
fn logind_sessions(root: &Root) -> Option<Vec<String>> {
    let entries = fs::read_dir(root.live("/run/systemd/sessions")).ok()?;
    let mut sessions = Vec::new();
    for entry in entries.flatten() {
        // Session files are named by session id; `<id>.ref` beside them are FIFOs, and
        // opening a FIFO for reading would block: read plain files only.
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if !is_file || entry.file_name().to_string_lossy().contains('.') {
            continue;
        }
        match fs::read_to_string(entry.path()) {
            Ok(text) => sessions.push(text),
            // The session ended between listing and reading.
            Err(e) => log::debug!("session file {}: {e}", entry.path().display()),
        }
    }
    Some(sessions)
}

/// Whether one logind session file describes a local interactive session (rules on
/// [`session_active`]).
fn counts_as_use(session: &str) -> bool {
    let get = |key: &str| {
        session
            .lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    };
    let local = get("REMOTE") != "1" && get("REMOTE_HOST").is_empty();
    let on_device = !get("SEAT").is_empty() || (!get("TTY").is_empty() && !get("TTY").starts_with("pts/"));
    get("CLASS") == "user"
        && matches!(get("STATE"), "active" | "online")
        && matches!(get("TYPE"), "x11" | "wayland" | "mir" | "tty")
        && local
        && on_device
}

/// Size of one glibc `struct utmp` record as written to `/run/utmp`. x86_64 keeps 32-bit
/// `ut_session`/`ut_tv` for compatibility with i386 (384 bytes); aarch64 uses `long` and a
/// 64-bit `struct timeval` (400 bytes); armv7 has 32-bit fields (384 bytes; glibc kept this
/// on-disk format when 32-bit ARM moved to 64-bit time_t). The fields read below (type, pid,
/// line, host) sit at the same offsets on all three.
#[cfg(any(
    target_arch = "aarch64",
    all(target_pointer_width = "64", not(target_arch = "x86_64"))
))]
const UTMP_RECORD: usize = 400;
#[cfg(not(any(
    target_arch = "aarch64",
    all(target_pointer_width = "64", not(target_arch = "x86_64"))
)))]
const UTMP_RECORD: usize = 384;
const UT_TYPE: usize = 0;
const UT_PID: usize = 4;
const UT_LINE: std::ops::Range<usize> = 8..40;
const UT_HOST: std::ops::Range<usize> = 76..332;
const USER_PROCESS: i16 = 7;
/// `ut_type` values glibc defines (EMPTY..ACCOUNTING); anything else means the file is not
/// in the layout assumed here.
const UT_TYPE_MAX: i16 = 9;

/// Fallback when logind lists no session: a `USER_PROCESS` login in `/run/utmp` on a terminal,
/// local (no host, or an X display such as `:0`), whose process is still alive (entries of
/// processes that died without logging out linger until the next boot).
///
/// The file is trusted only if every record has a known type and the length is a whole number
/// of records; otherwise the layout is not the one assumed (another libc) and the answer is
/// "no session", never a guess.
fn utmp_has_local_login(root: &Root) -> bool {
    let Ok(bytes) = fs::read(root.live("/run/utmp")) else {
        return false;
    };
    let Some(records) = utmp_records(&bytes) else {
        log::debug!("/run/utmp is not in the expected glibc layout; sessions unknown");
        return false;
    };
    let mut local_logins = records
        .filter(|r| r.kind == USER_PROCESS && !r.line.is_empty())
        .filter(|r| r.host.is_empty() || r.host.starts_with(':'));
    local_logins.any(|r| r.pid > 0 && root.live(&format!("/proc/{}", r.pid)).exists())
}

/// The fields of one utmp record the agent looks at.
#[derive(Debug, PartialEq, Eq)]
struct UtmpRecord<'a> {
    kind: i16,
    pid: i32,
    line: &'a str,
    host: &'a str,
}

/// Splits `/run/utmp` into records, or `None` when it is not in the expected layout.
fn utmp_records(bytes: &[u8]) -> Option<impl Iterator<Item = UtmpRecord<'_>>> {
    if bytes.len() % UTMP_RECORD != 0 {
        return None;
    }
    let records = bytes.chunks_exact(UTMP_RECORD).map(|rec| {
        let field = |r: std::ops::Range<usize>| {
            let raw = &rec[r];
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            std::str::from_utf8(&raw[..end]).unwrap_or("")
        };
        UtmpRecord {
            kind: i16::from_ne_bytes([rec[UT_TYPE], rec[UT_TYPE + 1]]),
            pid: i32::from_ne_bytes([
                rec[UT_PID],
                rec[UT_PID + 1],
                rec[UT_PID + 2],
                rec[UT_PID + 3],
            ]),
            line: field(UT_LINE),
            host: field(UT_HOST),
        }
    });
    let valid = records.clone().all(|r| (0..=UT_TYPE_MAX).contains(&r.kind));
    valid.then_some(records)
}

/// One day of the ledger, also one row of the published report.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct DayUsage {
    /// UTC date, serialized `YYYY-MM-DD`.
    #[serde(with = "ymd")]
    pub date: Date,
    /// Seconds the device was up that day.
    pub uptime_s: u64,
    /// Seconds during which an interactive local session existed.
    pub active_s: u64,
    /// Boots that started that day.
    pub boots: u32,
}

impl DayUsage {
    fn empty(date: Date) -> Self {
        DayUsage {
            date,
            uptime_s: 0,
            active_s: 0,
            boots: 0,
        }
    }
}

/// The report `data` for one month (schema `grappe-agent/usage/1`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UsageMonth {
    /// `YYYY-MM`.
    pub period: String,
    /// One row per day with any record, sorted by date.
    pub days: Vec<DayUsage>,
    /// Days with some uptime.
    pub days_on: u32,
    /// Days with some active time.
    pub days_active: u32,
}

/// The previous sample, from which the next one is accounted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Sample {
    boot_id: String,
    /// Whole seconds of uptime: differences of floored values add up without drift.
    uptime_s: u64,
    /// Unix time of the sample, only compared with the next one to see if the clock moved.
    wall: i64,
    session_active: bool,
}

/// The ledger, as kept in `usage.json` in the state directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ledger {
    version: u32,
    last: Option<Sample>,
    /// Sorted by date, one entry per date.
    days: Vec<DayUsage>,
}

impl Ledger {
    /// Reads the ledger. Missing → empty. Unreadable or corrupt → renamed aside to
    /// `<name>.corrupt-<unix time>` for a human to look at, logged, and an empty ledger is
    /// started: losing the history is bad, stopping the agent over it would be worse.
    pub fn load(path: &Path) -> Ledger {
        let problem = match fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<Ledger>(&bytes) {
                Ok(ledger) if ledger.version == LEDGER_VERSION => return ledger.normalized(),
                Ok(ledger) => format!("unknown ledger version {}", ledger.version),
                Err(e) => e.to_string(),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ledger::new(),
            Err(e) => e.to_string(),
        };
        let aside = set_aside_path(path);
        match fs::rename(path, &aside) {
            Ok(()) => log::error!(
                "usage ledger {} is unreadable ({problem}); moved to {} and starting a new one",
                path.display(),
                aside.display()
            ),
            Err(e) => log::error!(
                "usage ledger {} is unreadable ({problem}) and could not be moved aside ({e}); \
                 starting a new one",
                path.display()
            ),
        }
        Ledger::new()
    }

    /// An empty ledger.
    pub fn new() -> Ledger {
        Ledger {
            version: LEDGER_VERSION,
            last: None,
            days: Vec::new(),
        }
    }

    /// Writes the ledger atomically (a power cut leaves the old or the new file).
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(io::Error::other)?;
        fsutil::write_atomic(path, &bytes)
    }

    /// Accounts the time since the last sample (see the module documentation). Meant to be
    /// called about every minute: spans longer than [`MAX_ACTIVE_SPAN_S`] count as uptime but
    /// never as active time.
    pub fn record(&mut self, probe: &Probe) {
        let uptime = probe.uptime.as_secs();
        let wall = unix_secs(probe.now);
        if (wall < WALL_FLOOR || date_of(wall).is_none()) && self.days.is_empty() {
            // No plausible date and no day to fall back on: wait for a usable clock. `last`
            // stays as it was, so nothing is lost: the next sample accounts for this one.
            log::debug!("wall clock before 2025 and empty ledger: usage sample deferred");
            return;
        }
        match &self.last {
            Some(last) if last.boot_id == probe.boot_id => {
                if uptime < last.uptime_s {
                    // Impossible with a real kernel: resynchronise without counting.
                    log::warn!("uptime went backwards within a boot; usage sample skipped");
                } else {
                    let span = uptime - last.uptime_s;
                    let active = last.session_active
                        && probe.session_active
                        && span <= MAX_ACTIVE_SPAN_S;
                    let wall_span = wall.saturating_sub(last.wall);
                    let clock_agrees =
                        wall_span.saturating_sub(secs_i64(span)).abs() <= WALL_TOLERANCE_S;
                    self.spread(wall, span, clock_agrees, active);
                }
            }
            _ => {
                // New boot, or the first sample of a new ledger.
                let boot = wall.saturating_sub(secs_i64(uptime));
                let day = self.day(boot);
                day.boots = day.boots.saturating_add(1);
                self.spread(wall, uptime, true, false);
            }
        }
        self.last = Some(Sample {
            boot_id: probe.boot_id.clone(),
            uptime_s: uptime,
            wall,
            session_active: probe.session_active,
        });
        self.prune();
    }

    /// The report `data` for one month: `period` "YYYY-MM", `days` sorted, `days_on`
    /// (uptime_s > 0), `days_active` (active_s > 0).
    pub fn month(&self, year: i32, month: Month) -> UsageMonth {
        let days: Vec<DayUsage> = self
            .days
            .iter()
            .filter(|d| d.date.year() == year && d.date.month() == month)
            .copied()
            .collect();
        let count = |f: fn(&DayUsage) -> bool| days.iter().filter(|d| f(d)).count() as u32;
        UsageMonth {
            period: format!("{year:04}-{:02}", month as u8),
            days_on: count(|d| d.uptime_s > 0),
            days_active: count(|d| d.active_s > 0),
            days,
        }
    }

    /// The months present in the ledger, oldest first: for publishing the previous month's
    /// final figures after a month ends.
    pub fn months(&self) -> Vec<(i32, Month)> {
        let mut months: Vec<(i32, Month)> = self
            .days
            .iter()
            .map(|d| (d.date.year(), d.date.month()))
            .collect();
        months.dedup(); // days are sorted, so equal months are adjacent
        months
    }

    /// Adds `secs` seconds ending at wall time `end`: split at each UTC midnight when
    /// `split`, otherwise all on the day of `end`.
    fn spread(&mut self, end: i64, secs: u64, split: bool, active: bool) {
        if !split {
            self.add(end, secs, active);
            return;
        }
        let mut t = end.saturating_sub(secs_i64(secs));
        while t < end {
            let next_midnight = t.div_euclid(DAY_S).saturating_add(1).saturating_mul(DAY_S);
            let part_end = next_midnight.min(end);
            self.add(t, (part_end - t) as u64, active);
            t = part_end;
        }
    }

    fn add(&mut self, at: i64, secs: u64, active: bool) {
        let day = self.day(at);
        day.uptime_s = day.uptime_s.saturating_add(secs);
        if active {
            day.active_s = day.active_s.saturating_add(secs);
        }
    }

    /// The entry for the day holding wall time `at`, created if needed. A date before the
    /// newest entry (clock set back, stale clock at boot) means the newest entry: what was
    /// recorded is never rewritten, and a wrong clock costs the attribution of a few minutes.
    fn day(&mut self, at: i64) -> &mut DayUsage {
        let newest = self.days.last().map(|d| d.date);
        let date = match (date_of(at), newest) {
            (Some(date), Some(newest)) => max(date, newest),
            (Some(date), None) => date,
            (None, Some(newest)) => newest,
            (None, None) => Date::MIN, // not reached: record() defers on such clocks
        };
        let i = match self.days.binary_search_by_key(&date, |d| d.date) {
            Ok(i) => i,
            Err(i) => {
                self.days.insert(i, DayUsage::empty(date));
                i
            }
        };
        &mut self.days[i]
    }

    fn prune(&mut self) {
        let excess = self.days.len().saturating_sub(RETENTION_DAYS);
        self.days.drain(..excess);
    }

    /// Sorted, one entry per date, pruned: what `record` relies on, whatever was on disk.
    fn normalized(mut self) -> Ledger {
        self.days.sort_by_key(|d| d.date);
        let mut merged: Vec<DayUsage> = Vec::with_capacity(self.days.len());
        for d in self.days {
            match merged.last_mut() {
                Some(m) if m.date == d.date => {
                    m.uptime_s = m.uptime_s.saturating_add(d.uptime_s);
                    m.active_s = m.active_s.saturating_add(d.active_s);
                    m.boots = m.boots.saturating_add(d.boots);
                }
                _ => merged.push(d),
            }
        }
        self.days = merged;
        self.prune();
        self
    }
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger::new()
    }
}

/// `usage.json` → `usage.json.corrupt-<unix time>`.
fn set_aside_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".corrupt-{}", unix_secs(SystemTime::now())));
    path.with_file_name(name)
}

/// Unix seconds of a wall time; times before 1970 come out negative (and below the floor).
fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => secs_i64(d.as_secs()),
        Err(e) => -secs_i64(e.duration().as_secs()),
    }
}

fn secs_i64(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// UTC date of a Unix time, `None` outside the dates `time` represents.
fn date_of(unix: i64) -> Option<Date> {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .map(|t| t.date())
}

/// `time::Date` as `"YYYY-MM-DD"` (the `time` crate is built without its serde feature).
mod ymd {
    use serde::{de, Deserialize, Deserializer, Serializer};
    use time::{format_description::BorrowedFormatItem, macros::format_description, Date};

    const FORMAT: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

    pub fn serialize<S: Serializer>(date: &Date, s: S) -> Result<S::Ok, S::Error> {
        let text = date.format(FORMAT).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let text = String::deserialize(d)?;
        Date::parse(&text, FORMAT).map_err(de::Error::custom)
    }
}
