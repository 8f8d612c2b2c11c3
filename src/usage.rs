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
//! - **Active means used, and is conservative**: a span counts as active only if the device
//!   was *in use* at both of its ends and the span is short enough ([`MAX_ACTIVE_SPAN_S`]) for
//!   the agent to have been watching (not stopped nor suspended). In use = an interactive local
//!   session ([`session_active`]: class `user`, on the device, not remote, so ssh never counts)
//!   *and* a lit display ([`display_lit`]: a DRM connector with DPMS on, or a backlight on).
//!   A session alone is not use: an autologin kiosk left on all day would count all day.
//!   So a kiosk whose screen never blanks still counts while lit; a screen that blanks after
//!   idle (DPMS, the desktop's screen blanking) stops counting until it lights again; a device
//!   with no readable display (headless box, no DRM connector nor backlight in sysfs) never
//!   counts active time. Nothing is claimed without a sign of use.
//! - **A new boot** counts one boot on the day it started and the uptime since then. The time
//!   between the previous boot's last sample and its shutdown is unknown and lost: at most one
//!   sampling interval per boot.
//!
//! Counts only: no user names, no session times, nothing personal (the display state is
//! read from sysfs attributes any service can read; the agent's unit keeps `/sys` readable
//! under `ProtectKernelTunables=yes`, which only denies writes).

use std::cmp::max;
use std::fs;
use std::io;
use std::path::Path;
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
pub const WALL_FLOOR: i64 = 1_735_689_600;

/// Whether the wall clock can be believed at all (see [`WALL_FLOOR`]).
pub fn clock_is_plausible(now: SystemTime) -> bool {
    now.duration_since(UNIX_EPOCH)
        .is_ok_and(|d| d.as_secs() >= WALL_FLOOR as u64)
}

const DAY_S: i64 = 86_400;

/// Version of the ledger file layout.
const LEDGER_VERSION: u32 = 1;
/// Far above a real ledger ([`RETENTION_DAYS`] short entries: tens of KiB).
const LEDGER_MAX: u64 = 4 * 1024 * 1024;

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
    /// Whether a display is lit; `None`: no display the agent can read (see
    /// [`display_lit`]), or not looked at because no session is open.
    pub display_lit: Option<bool>,
}

impl Probe {
    /// Whether the device was in use at this sample: a local session and a lit display.
    /// No display signal is not use: time is never claimed without a sign of use.
    pub fn in_use(&self) -> bool {
        self.session_active && self.display_lit == Some(true)
    }
}

/// Reads boot id, uptime, logind sessions and display state from the live system (through
/// `root`).
///
/// Fails only when boot id or uptime cannot be read; sessions that cannot be read count as
/// no session, a display that cannot be read as no display.
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
    let session_active = session_active(root);
    Ok(Probe {
        boot_id,
        uptime,
        now: SystemTime::now(),
        session_active,
        // Read only when it can matter: without a session the minute is not use, whatever
        // the screen shows (most minutes of an office PC at night, every minute of a box).
        display_lit: if session_active {
            display_lit(root)
        } else {
            None
        },
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
/// is read instead (see [`utmp_has_local_login`]).
///
/// A session alone is not use: an autologin kiosk session is open all day, and logind's idle
/// hint is only on D-Bus, which the agent does not use. Active time also needs a lit display
/// ([`display_lit`], [`Probe::in_use`]).
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
        match fsutil::read_text_bounded(&entry.path(), crate::collect::max::CONFIG) {
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
    let on_device =
        !get("SEAT").is_empty() || (!get("TTY").is_empty() && !get("TTY").starts_with("pts/"));
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
/// Thousands of records: far more terminals than a device has.
const UTMP_MAX: u64 = 4 * 1024 * 1024;
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
    let Ok(bytes) = fsutil::read_bounded(&root.live("/run/utmp"), UTMP_MAX) else {
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
    if !bytes.len().is_multiple_of(UTMP_RECORD) {
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

/// Whether a display is lit: the sign of use that goes with a session ([`Probe::in_use`]).
/// `None` when the device has no display the agent can read (headless, or no DRM connector
/// nor backlight in sysfs): then no time is ever counted active.
///
/// Read from sysfs, which the agent's unit keeps readable (`ProtectKernelTunables=yes` only
/// denies writes); no D-Bus, no compositor, nothing about the user.
///
/// - A DRM connector (`/sys/class/drm/cardN-NAME`) is lit when `status` is `connected`,
///   `enabled` is `enabled` and `dpms` is `On`: DPMS off is the screen blanked after idle.
/// - A backlight (`/sys/class/backlight/*`) is lit when `bl_power` is 0 (unblanked; absent
///   means 0) and `brightness` is above 0.
/// - With DRM connectors, some connector must be lit. A tablet's internal panel (eDP, LVDS,
///   DSI) may stay on in DRM while its backlight is off, so it counts only when no backlight
///   exists or one is lit. Without DRM (fbdev-only boards), some backlight must be lit.
///
/// Unreadable or odd attributes (not UTF-8, FIFOs, directories, oversized) read as not lit.
/// A connector without a readable `status`, or a backlight without a numeric `brightness`,
/// is not seen; when nothing is seen the answer is `None`.
pub fn display_lit(root: &Root) -> Option<bool> {
    // `None`: no readable `status`, not a connector the agent can see.
    let connectors: Vec<(bool, Option<bool>)> = class_entries(root, "/sys/class/drm")
        .into_iter()
        .filter(|(name, _)| is_drm_connector(name))
        .map(|(name, dir)| (is_internal_panel(&name), connector_lit(&dir)))
        .collect();
    // An external screen lit decides: the backlights need not be read.
    if connectors.contains(&(false, Some(true))) {
        return Some(true);
    }
    // `None`: no readable `brightness`.
    let backlights: Vec<Option<bool>> = class_entries(root, "/sys/class/backlight")
        .into_iter()
        .map(|(_, dir)| backlight_lit(&dir))
        .collect();
    let backlight_lit = backlights.contains(&Some(true));
    // An unreadable backlight still exists: it cannot vouch for the panel.
    let panel_dark = !backlights.is_empty() && !backlight_lit;
    let seen: Vec<(bool, bool)> = connectors
        .iter()
        .filter_map(|&(internal, lit)| lit.map(|lit| (internal, lit)))
        .collect();
    if !seen.is_empty() {
        Some(
            seen.iter()
                .any(|&(internal, lit)| lit && !(internal && panel_dark)),
        )
    } else if backlights.iter().any(Option::is_some) {
        Some(backlight_lit)
    } else {
        None
    }
}

/// The entries of a sysfs class directory (symlinks to the devices), by UTF-8 name; none when
/// it cannot be listed.
fn class_entries(root: &Root, class: &str) -> Vec<(String, std::path::PathBuf)> {
    let Ok(entries) = fs::read_dir(root.live(class)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect()
}

/// `card0-HDMI-A-1`, `card1-eDP-1`: a connector; not `card0`, `renderD128`, `version`.
fn is_drm_connector(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("card") else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0
        && rest[digits..]
            .strip_prefix('-')
            .is_some_and(|n| !n.is_empty())
}

/// A built-in panel, whose backlight says whether it is actually lit.
fn is_internal_panel(connector: &str) -> bool {
    ["-eDP-", "-LVDS-", "-DSI-"]
        .iter()
        .any(|kind| connector.contains(kind))
}

/// A sysfs attribute, trimmed; `None` when not a readable regular UTF-8 file of at most a
/// page ([`fsutil::open`] refuses FIFOs and directories without blocking).
fn sys_attr(dir: &Path, name: &str) -> Option<String> {
    fsutil::read_text_bounded(&dir.join(name), crate::collect::max::ATTR)
        .ok()
        .map(|text| text.trim().to_string())
}

/// `None` when the connector's `status` cannot be read.
fn connector_lit(dir: &Path) -> Option<bool> {
    let status = sys_attr(dir, "status")?;
    Some(
        status == "connected"
            && sys_attr(dir, "enabled").as_deref() == Some("enabled")
            && sys_attr(dir, "dpms").as_deref() == Some("On"),
    )
}

/// `None` when the backlight's `brightness` cannot be read as a number.
fn backlight_lit(dir: &Path) -> Option<bool> {
    let brightness: u64 = sys_attr(dir, "brightness")?.parse().ok()?;
    // FB_BLANK_UNBLANK is 0; drivers without blanking have no bl_power.
    let unblanked = match fs::symlink_metadata(dir.join("bl_power")) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
        _ => sys_attr(dir, "bl_power").as_deref() == Some("0"),
    };
    Some(unblanked && brightness > 0)
}

pub use crate::wire::usage::{DayUsage, UsageMonth};

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

/// The previous sample, from which the next one is accounted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Sample {
    boot_id: String,
    /// Whole seconds of uptime: differences of floored values add up without drift.
    uptime_s: u64,
    /// Unix time of the sample, only compared with the next one to see if the clock moved.
    wall: i64,
    /// Whether the device was in use ([`Probe::in_use`]). Ledgers written before the display
    /// was looked at call it `session_active`: still loaded, as the sample's state.
    #[serde(alias = "session_active")]
    in_use: bool,
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
    /// The second value says what was wrong with the file, if it was damaged.
    pub fn load(path: &Path) -> (Ledger, Option<String>) {
        let problem = match fsutil::read_bounded(path, LEDGER_MAX) {
            Ok(bytes) => match serde_json::from_slice::<Ledger>(&bytes) {
                Ok(ledger) if ledger.version == LEDGER_VERSION => {
                    return (ledger.normalized(), None)
                }
                Ok(ledger) => format!("unknown ledger version {}", ledger.version),
                Err(e) => e.to_string(),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => return (Ledger::new(), None),
            Err(e) => e.to_string(),
        };
        let aside = match fsutil::set_aside(path) {
            Ok(Some(aside)) => format!("moved to {}", aside.display()),
            Ok(None) => "gone".to_string(),
            Err(e) => format!("could not be moved aside ({e})"),
        };
        let problem = format!(
            "usage ledger {} is unreadable ({problem}); {aside}: the usage recorded in it is \
             lost, a new ledger starts now",
            path.display()
        );
        log::error!("{problem}");
        (Ledger::new(), Some(problem))
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
                    let active = last.in_use && probe.in_use() && span <= MAX_ACTIVE_SPAN_S;
                    let wall_span = wall.saturating_sub(last.wall);
                    // abs_diff: no overflow whatever an edited ledger says.
                    let clock_agrees =
                        wall_span.abs_diff(secs_i64(span)) <= WALL_TOLERANCE_S.unsigned_abs();
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
            in_use: probe.in_use(),
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
            period: crate::wire::usage::period(year, month),
            days_on: count(|d| d.uptime_s > 0),
            days_active: count(|d| d.active_s > 0),
            days,
            active_rule: Some(crate::wire::usage::ACTIVE_RULE.into()),
            first_day: self.days.first().map(|d| d.date),
            equipment: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};
    use time::PrimitiveDateTime;

    const BOOT_A: &str = "4457777e-8a15-47a6-bb4f-4a40519b8b28";
    const BOOT_B: &str = "0b1d2c3e-0000-4000-8000-000000000002";

    /// A sample in use (session open, display lit) when `active`, else neither.
    fn sample(boot: &str, uptime_s: u64, wall: PrimitiveDateTime, active: bool) -> Probe {
        Probe {
            boot_id: boot.to_string(),
            uptime: Duration::from_millis(uptime_s * 1000 + 370),
            now: SystemTime::from(wall.assume_utc()),
            session_active: active,
            display_lit: Some(active),
        }
    }

    fn day(ledger: &Ledger, date: Date) -> DayUsage {
        ledger
            .days
            .iter()
            .find(|d| d.date == date)
            .copied()
            .unwrap_or(DayUsage::empty(date))
    }

    /// Booted at 08:00, sampled every minute until 18:00, someone logged in 09:00-12:00.
    #[test]
    fn a_day_of_samples() {
        let mut ledger = Ledger::new();
        let boot = datetime!(2026-11-23 08:00);
        for minute in 1..=600u64 {
            let wall = boot + time::Duration::minutes(minute as i64);
            let active = (60..=180).contains(&minute);
            ledger.record(&sample(BOOT_A, minute * 60, wall, active));
        }
        let d = day(&ledger, date!(2026 - 11 - 23));
        assert_eq!(d.uptime_s, 600 * 60);
        // Active spans: both ends inside 09:00..=12:00, i.e. 120 one-minute spans.
        assert_eq!(d.active_s, 120 * 60);
        assert_eq!(d.boots, 1);
        assert_eq!(ledger.days.len(), 1);
    }

    /// The agent restarted within the same boot an hour later: the hour was up, but nobody
    /// watched whether it was used.
    #[test]
    fn restart_with_the_same_boot_counts_the_gap_as_uptime_not_active() {
        let mut ledger = Ledger::new();
        let t = datetime!(2026-11-23 10:00);
        ledger.record(&sample(BOOT_A, 7200, t, true));
        let before = day(&ledger, date!(2026 - 11 - 23));
        // Saved and reloaded, as across a restart.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        ledger.save(&path).unwrap();
        let (mut ledger, _) = Ledger::load(&path);
        ledger.record(&sample(
            BOOT_A,
            7200 + 3600,
            t + time::Duration::hours(1),
            true,
        ));
        ledger.record(&sample(
            BOOT_A,
            7200 + 3660,
            t + time::Duration::minutes(61),
            true,
        ));
        let after = day(&ledger, date!(2026 - 11 - 23));
        assert_eq!(after.uptime_s - before.uptime_s, 3660);
        assert_eq!(after.active_s - before.active_s, 60); // only the watched minute
        assert_eq!(after.boots, before.boots);
    }

    /// A reboot counts one boot on the day it started and the uptime since; the end of the
    /// previous boot after its last sample is lost.
    #[test]
    fn reboot_counts_a_boot_and_the_uptime_since_boot() {
        let mut ledger = Ledger::new();
        ledger.record(&sample(BOOT_A, 3600, datetime!(2026-11-23 09:00), false));
        ledger.record(&sample(BOOT_A, 3660, datetime!(2026-11-23 09:01), false));
        // Shut down around 09:01:30, booted again at 10:00, first sample at 10:05.
        ledger.record(&sample(BOOT_B, 300, datetime!(2026-11-23 10:05), true));
        let d = day(&ledger, date!(2026 - 11 - 23));
        assert_eq!(d.boots, 2);
        assert_eq!(d.uptime_s, 3660 + 300);
        assert_eq!(
            d.active_s, 0,
            "nothing is known to be active before the first sample"
        );
    }

    #[test]
    fn a_span_across_midnight_is_split_when_the_clock_agrees() {
        let mut ledger = Ledger::new();
        ledger.record(&sample(BOOT_A, 36_000, datetime!(2026-11-23 23:58), true));
        let before = day(&ledger, date!(2026 - 11 - 23));
        ledger.record(&sample(BOOT_A, 36_300, datetime!(2026-11-24 00:03), true));
        let d23 = day(&ledger, date!(2026 - 11 - 23));
        let d24 = day(&ledger, date!(2026 - 11 - 24));
        assert_eq!((d23.uptime_s - before.uptime_s, d24.uptime_s), (120, 180));
        assert_eq!((d23.active_s - before.active_s, d24.active_s), (120, 180));
        assert_eq!(d24.boots, 0);
    }

    /// A boot at 23:50 first sampled at 00:10: the boot belongs to the first day, its uptime
    /// to both.
    #[test]
    fn a_boot_before_midnight_is_counted_on_its_day() {
        let mut ledger = Ledger::new();
        ledger.record(&sample(BOOT_A, 1200, datetime!(2026-11-24 00:10), false));
        let d23 = day(&ledger, date!(2026 - 11 - 23));
        let d24 = day(&ledger, date!(2026 - 11 - 24));
        assert_eq!((d23.boots, d23.uptime_s), (1, 600));
        assert_eq!((d24.boots, d24.uptime_s), (0, 600));
    }

    /// An RTC-less board boots with a stale clock: its time goes to the newest day already
    /// recorded, never to an older one; when NTP then steps the clock forward, the span goes
    /// to the (now right) current day instead of being split over the skipped days.
    #[test]
    fn clock_going_back_is_attributed_to_the_newest_day() {
        let mut ledger = Ledger::new();
        ledger.record(&sample(BOOT_A, 600, datetime!(2026-11-23 18:00), false));
        let history = ledger.days.clone();

        // Next morning, booted with the clock at the epoch (before the floor)...
        ledger.record(&sample(BOOT_B, 40, datetime!(1970-01-01 00:00:40), false));
        // ...then with a stale but plausible clock from months before.
        ledger.record(&sample(BOOT_B, 100, datetime!(2026-03-01 12:00), false));
        assert_eq!(ledger.days.len(), 1, "no day before the newest is created");
        let d = day(&ledger, date!(2026 - 11 - 23));
        assert_eq!((d.boots, d.uptime_s), (2, 600 + 100));
        assert_eq!(ledger.days[0].date, history[0].date);

        // NTP: clock steps to the real time, 60 s of uptime later.
        ledger.record(&sample(BOOT_B, 160, datetime!(2026-11-24 08:03), false));
        assert_eq!(day(&ledger, date!(2026 - 11 - 24)).uptime_s, 60);
        assert_eq!(day(&ledger, date!(2026 - 11 - 23)).uptime_s, 700);

        // The clock is set back a day by hand: still the newest day.
        ledger.record(&sample(BOOT_B, 220, datetime!(2026-11-23 08:04), false));
        assert_eq!(day(&ledger, date!(2026 - 11 - 24)).uptime_s, 120);
        assert_eq!(day(&ledger, date!(2026 - 11 - 23)).uptime_s, 700);
    }

    /// A clock jumping three days ahead within one boot creates no time: the minute goes to
    /// the new current day, the skipped days stay empty.
    #[test]
    fn clock_jumping_forward_creates_no_time() {
        let mut ledger = Ledger::new();
        ledger.record(&sample(BOOT_A, 600, datetime!(2026-11-23 10:00), true));
        ledger.record(&sample(BOOT_A, 660, datetime!(2026-11-26 10:01), true));
        assert_eq!(day(&ledger, date!(2026 - 11 - 23)).uptime_s, 600);
        assert_eq!(day(&ledger, date!(2026 - 11 - 26)).uptime_s, 60);
        assert_eq!(day(&ledger, date!(2026 - 11 - 26)).active_s, 60);
        assert_eq!(ledger.days.len(), 2);
        let total: u64 = ledger.days.iter().map(|d| d.uptime_s).sum();
        assert_eq!(
            total, 660,
            "total time is the uptime, whatever the clock did"
        );

        // A step across midnight: the wall clock is not trusted to split the minute.
        ledger.record(&sample(BOOT_A, 720, datetime!(2026-11-26 23:30), true));
        ledger.record(&sample(BOOT_A, 780, datetime!(2026-11-27 00:00:30), true));
        assert_eq!(day(&ledger, date!(2026 - 11 - 27)).uptime_s, 60);
        assert_eq!(day(&ledger, date!(2026 - 11 - 26)).uptime_s, 120);
    }

    /// Before any day exists a pre-2025 clock cannot be placed: the sample waits, and the
    /// next one with a sane clock accounts for the whole boot.
    #[test]
    fn an_implausible_clock_on_an_empty_ledger_defers_the_sample() {
        let mut ledger = Ledger::new();
        ledger.record(&sample(BOOT_A, 30, datetime!(1970-01-01 00:00:30), false));
        assert_eq!(ledger, Ledger::new());
        ledger.record(&sample(BOOT_A, 90, datetime!(2026-11-23 10:00), false));
        let d = day(&ledger, date!(2026 - 11 - 23));
        assert_eq!((d.boots, d.uptime_s), (1, 90));
    }

    #[test]
    fn month_report_and_day_counts() {
        let mut ledger = Ledger::new();
        // 30 Nov: on and used; 1 Dec: on only; 2 Dec: on and used.
        ledger.record(&sample(BOOT_A, 3600, datetime!(2026-11-30 09:00), true));
        ledger.record(&sample(BOOT_A, 3660, datetime!(2026-11-30 09:01), true));
        ledger.record(&sample(BOOT_B, 60, datetime!(2026-12-01 09:00), false));
        ledger.record(&sample(BOOT_A, 60, datetime!(2026-12-02 09:00), true));
        ledger.record(&sample(BOOT_A, 120, datetime!(2026-12-02 09:01), true));

        let dec = ledger.month(2026, Month::December);
        assert_eq!(dec.period, "2026-12");
        assert_eq!(
            dec.days.iter().map(|d| d.date).collect::<Vec<_>>(),
            [date!(2026 - 12 - 01), date!(2026 - 12 - 02)]
        );
        assert_eq!((dec.days_on, dec.days_active), (2, 1));
        let nov = ledger.month(2026, Month::November);
        assert_eq!((nov.days_on, nov.days_active, nov.days.len()), (1, 1, 1));
        assert_eq!(ledger.month(2026, Month::October).days, []);
        assert_eq!(
            ledger.months(),
            [(2026, Month::November), (2026, Month::December)]
        );

        let json = serde_json::to_value(&nov).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"period": "2026-11", "days_on": 1, "days_active": 1,
                "days": [{"date": "2026-11-30", "uptime_s": 3660, "active_s": 60, "boots": 1}],
                "active_rule": "local-session+display-lit", "first_day": "2026-11-30"})
        );
    }

    #[test]
    fn retention_keeps_the_newest_days() {
        let mut ledger = Ledger::new();
        let start = datetime!(2025-01-01 12:00);
        for n in 0..500u64 {
            let wall = start + time::Duration::days(n as i64);
            ledger.record(&sample(&format!("boot-{n}"), 60, wall, false));
        }
        assert_eq!(ledger.days.len(), RETENTION_DAYS);
        assert_eq!(
            ledger.days[0].date,
            date!(2025 - 01 - 01) + time::Duration::days(100)
        );
        assert_eq!(
            ledger.days.last().unwrap().date,
            date!(2025 - 01 - 01) + time::Duration::days(499)
        );
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        assert_eq!(
            Ledger::load(&path),
            (Ledger::new(), None),
            "missing file: empty ledger"
        );
        let mut ledger = Ledger::new();
        ledger.record(&sample(BOOT_A, 600, datetime!(2026-11-23 10:00), true));
        ledger.save(&path).unwrap();
        assert_eq!(Ledger::load(&path), (ledger, None));
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#""date":"2026-11-23""#), "{text}");
    }

    #[test]
    fn a_corrupt_ledger_is_set_aside_and_a_new_one_started() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        for bad in [
            &b"{\"version\":1,\"days\":[{\"date\":\"2026-13-45\""[..],
            b"\x00\xff",
            br#"{"version":99,"last":null,"days":[]}"#,
        ] {
            fs::write(&path, bad).unwrap();
            let (ledger, problem) = Ledger::load(&path);
            assert_eq!(ledger, Ledger::new());
            assert!(problem.unwrap().contains("is unreadable"));
            assert!(!path.exists());
            let aside: Vec<_> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            assert_eq!(aside.len(), 1, "{aside:?}");
            let name = aside[0].file_name().unwrap().to_string_lossy().into_owned();
            assert!(name.starts_with("usage.json.corrupt-"), "{name}");
            assert_eq!(fs::read(&aside[0]).unwrap(), bad);
            fs::remove_file(&aside[0]).unwrap();
        }
    }

    #[test]
    fn a_hand_edited_ledger_is_sorted_and_merged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        let row = |date: &str, up: u64| serde_json::json!({"date": date, "uptime_s": up, "active_s": 0, "boots": 1});
        let text = serde_json::json!({"version": 1, "days": [
            row("2026-11-24", 10), row("2026-11-23", 5), row("2026-11-24", 1)]});
        fs::write(&path, text.to_string()).unwrap();
        let (ledger, _) = Ledger::load(&path);
        assert_eq!(ledger.days.len(), 2);
        assert_eq!(ledger.days[1].uptime_s, 11);
        assert_eq!(ledger.days[1].boots, 2);
        assert_eq!(ledger.last, None);
    }

    #[test]
    fn uptime_is_parsed_exactly() {
        assert_eq!(
            parse_uptime("4499.84 8737.85\n"),
            Some(Duration::from_millis(4_499_840))
        );
        assert_eq!(
            parse_uptime("12.5 1.0"),
            Some(Duration::from_millis(12_500))
        );
        assert_eq!(parse_uptime("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_uptime(""), None);
        assert_eq!(parse_uptime("-1.00 2"), None);
        assert_eq!(parse_uptime("1.x0 2"), None);
    }

    /// A fake live tree: boot id, uptime, and the given logind session files.
    fn fake_live(sessions: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::create_dir_all(p.join("proc/sys/kernel/random")).unwrap();
        fs::write(
            p.join("proc/sys/kernel/random/boot_id"),
            format!("{BOOT_A}\n"),
        )
        .unwrap();
        fs::write(p.join("proc/uptime"), "350735.47 1234.00\n").unwrap();
        fs::create_dir_all(p.join("run/systemd/sessions")).unwrap();
        for (name, text) in sessions {
            fs::write(p.join("run/systemd/sessions").join(name), text).unwrap();
        }
        dir
    }

    const X11_LOCAL: &str = "# This is private data. Do not parse.\nUID=1000\nUSER=soignant\n\
        ACTIVE=1\nIS_DISPLAY=1\nSTATE=active\nREMOTE=0\nTYPE=x11\nORIGINAL_TYPE=x11\n\
        CLASS=user\nSCOPE=session-2.scope\nFIFO=/run/systemd/sessions/2.ref\nSEAT=seat0\n\
        DISPLAY=:0\nSERVICE=lightdm\nVTNR=7\nLEADER=1234\n";
    const SSH_REMOTE: &str = "UID=0\nUSER=root\nACTIVE=1\nSTATE=active\nREMOTE=1\nTYPE=tty\n\
        CLASS=user\nTTY=pts/0\nREMOTE_HOST=192.0.2.10\nSERVICE=sshd\nLEADER=999\n";
    const GREETER: &str = "UID=110\nUSER=lightdm\nACTIVE=1\nSTATE=active\nREMOTE=0\n\
        TYPE=x11\nCLASS=greeter\nSEAT=seat0\nSERVICE=lightdm-greeter\n";
    const LOCAL_TTY_CLOSING: &str = "UID=1000\nSTATE=closing\nREMOTE=0\nTYPE=tty\n\
        CLASS=user\nSEAT=seat0\nTTY=tty1\n";

    #[test]
    fn probe_reads_a_fake_live_tree_and_counts_a_local_x11_session() {
        let live = fake_live(&[("2", X11_LOCAL), ("5", SSH_REMOTE)]);
        // The FIFO logind keeps beside each session must be skipped, not opened (it blocks).
        let fifo = live.path().join("run/systemd/sessions/2.ref");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);

        let p = probe(&Root::host().with_live(live.path())).unwrap();
        assert_eq!(p.boot_id, BOOT_A);
        assert_eq!(p.uptime, Duration::from_millis(350_735_470));
        assert!(p.session_active);
        assert_eq!(p.display_lit, None, "no /sys in the tree");
        assert!(!p.in_use());
    }

    #[test]
    fn remote_greeter_and_closing_sessions_are_not_use() {
        for sessions in [
            &[("5", SSH_REMOTE)][..],
            &[("c1", GREETER)],
            &[("3", LOCAL_TTY_CLOSING), ("5", SSH_REMOTE), ("c1", GREETER)],
            &[],
        ] {
            let live = fake_live(sessions);
            let p = probe(&Root::host().with_live(live.path())).unwrap();
            assert!(!p.session_active, "{sessions:?}");
        }
        assert!(counts_as_use(
            "CLASS=user\nSTATE=online\nREMOTE=0\nTYPE=tty\nTTY=tty2\n"
        ));
        assert!(!counts_as_use(
            "CLASS=user\nSTATE=active\nTYPE=unspecified\n"
        ));
        assert!(!counts_as_use(
            "CLASS=user\nSTATE=active\nREMOTE=0\nTYPE=tty\nTTY=pts/3\n"
        ));
        // REMOTE=1 alone is enough to exclude a session, whatever its terminal.
        assert!(!counts_as_use(
            "CLASS=user\nSTATE=active\nREMOTE=1\nTYPE=tty\nTTY=tty1\n"
        ));
    }

    #[test]
    fn probe_fails_without_boot_id_or_uptime() {
        let live = fake_live(&[]);
        fs::write(live.path().join("proc/uptime"), "garbage").unwrap();
        assert!(probe(&Root::host().with_live(live.path())).is_err());
        let live = fake_live(&[]);
        fs::remove_file(live.path().join("proc/sys/kernel/random/boot_id")).unwrap();
        assert!(probe(&Root::host().with_live(live.path())).is_err());
    }

    /// One utmp record in this machine's glibc layout.
    fn utmp_record(kind: i16, pid: i32, line: &str, host: &str) -> Vec<u8> {
        let mut rec = vec![0u8; UTMP_RECORD];
        rec[UT_TYPE..UT_TYPE + 2].copy_from_slice(&kind.to_ne_bytes());
        rec[UT_PID..UT_PID + 4].copy_from_slice(&pid.to_ne_bytes());
        rec[UT_LINE.start..UT_LINE.start + line.len()].copy_from_slice(line.as_bytes());
        rec[UT_HOST.start..UT_HOST.start + host.len()].copy_from_slice(host.as_bytes());
        rec
    }

    /// Without logind sessions, utmp decides: a live local login counts; an ssh login, a
    /// dead process's leftover entry and a file in another layout do not.
    #[test]
    fn utmp_fallback_when_logind_lists_no_session() {
        let live = fake_live(&[]);
        let root = Root::host().with_live(live.path());
        fs::create_dir_all(live.path().join("proc/4242")).unwrap();
        let boot = utmp_record(2, 0, "~", "6.1.0");
        let ssh = utmp_record(USER_PROCESS, 4242, "pts/0", "192.0.2.10");
        let dead = utmp_record(USER_PROCESS, 4343, "tty1", "");
        let local = utmp_record(USER_PROCESS, 4242, "tty1", "");
        let write = |recs: &[&[u8]]| {
            fs::write(live.path().join("run/utmp"), recs.concat()).unwrap();
        };
        write(&[&boot, &ssh, &dead]);
        assert!(!session_active(&root));
        write(&[&boot, &ssh, &dead, &local]);
        assert!(session_active(&root));
        // Not a whole number of records, or an unknown record type: layout not trusted.
        let mut truncated = [boot.clone(), local.clone()].concat();
        truncated.pop();
        fs::write(live.path().join("run/utmp"), truncated).unwrap();
        assert!(!session_active(&root));
        write(&[&utmp_record(77, 1, "x", ""), &local]);
        assert!(!session_active(&root));
        // Once logind lists sessions it is the authority, utmp is not read.
        write(&[&local]);
        let live_ssh = fake_live(&[("5", SSH_REMOTE)]);
        fs::create_dir_all(live_ssh.path().join("proc/4242")).unwrap();
        fs::write(live_ssh.path().join("run/utmp"), &local).unwrap();
        assert!(!session_active(&Root::host().with_live(live_ssh.path())));
    }

    /// The record size and offsets assumed for `/run/utmp` are glibc's on the build target.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn utmp_layout_matches_glibc() {
        use std::mem::{offset_of, size_of};
        assert_eq!(size_of::<libc::utmpx>(), UTMP_RECORD);
        assert_eq!(offset_of!(libc::utmpx, ut_type), UT_TYPE);
        assert_eq!(offset_of!(libc::utmpx, ut_pid), UT_PID);
        assert_eq!(offset_of!(libc::utmpx, ut_line), UT_LINE.start);
        assert_eq!(offset_of!(libc::utmpx, ut_id), UT_LINE.end);
        assert_eq!(offset_of!(libc::utmpx, ut_host), UT_HOST.start);
        assert_eq!(offset_of!(libc::utmpx, ut_exit), UT_HOST.end);
    }

    /// A DRM connector under the fake tree's /sys/class/drm.
    fn connector(live: &Path, name: &str, status: &str, enabled: &str, dpms: &str) {
        let dir = live.join("sys/class/drm").join(name);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("status"), format!("{status}\n")).unwrap();
        fs::write(dir.join("enabled"), format!("{enabled}\n")).unwrap();
        fs::write(dir.join("dpms"), format!("{dpms}\n")).unwrap();
    }

    /// A backlight under the fake tree's /sys/class/backlight; no `bl_power` when `None`.
    fn backlight(live: &Path, name: &str, bl_power: Option<&str>, brightness: &str) {
        let dir = live.join("sys/class/backlight").join(name);
        fs::create_dir_all(&dir).unwrap();
        if let Some(bl_power) = bl_power {
            fs::write(dir.join("bl_power"), format!("{bl_power}\n")).unwrap();
        }
        fs::write(dir.join("brightness"), format!("{brightness}\n")).unwrap();
        fs::write(dir.join("max_brightness"), "255\n").unwrap();
    }

    fn lit(live: &tempfile::TempDir) -> Option<bool> {
        display_lit(&Root::host().with_live(live.path()))
    }

    /// Active seconds over one 60 s span whose two ends both look like `p`.
    fn active_over_a_minute(p: &Probe) -> u64 {
        let mut ledger = Ledger::new();
        let mut p = p.clone();
        p.now = SystemTime::from(datetime!(2026-11-23 10:00).assume_utc());
        ledger.record(&p);
        p.uptime += Duration::from_secs(60);
        p.now += Duration::from_secs(60);
        ledger.record(&p);
        // The first sample accounts for the boot (days before): only the minute may be active.
        let total = |f: fn(&DayUsage) -> u64| ledger.days.iter().map(f).sum::<u64>();
        assert_eq!(total(|d| d.uptime_s), 350_735 + 60);
        total(|d| d.active_s)
    }

    /// A session is open but the screen is dark (DPMS off after idle, backlight blanked or
    /// at zero): not use.
    #[test]
    fn display_off_with_a_session_open_is_not_active() {
        let dark: [fn(&Path); 3] = [
            |l| connector(l, "card0-HDMI-A-1", "connected", "enabled", "Off"),
            |l| backlight(l, "backlight", Some("4"), "200"),
            |l| backlight(l, "backlight", Some("0"), "0"),
        ];
        for (i, make) in dark.iter().enumerate() {
            let live = fake_live(&[("2", X11_LOCAL)]);
            make(live.path());
            let p = probe(&Root::host().with_live(live.path())).unwrap();
            assert!(p.session_active, "case {i}");
            assert_eq!(p.display_lit, Some(false), "case {i}");
            assert!(!p.in_use(), "case {i}");
            assert_eq!(active_over_a_minute(&p), 0, "case {i}");
        }
    }

    #[test]
    fn display_on_with_a_session_is_active() {
        let live = fake_live(&[("2", X11_LOCAL)]);
        connector(live.path(), "card0-HDMI-A-1", "connected", "enabled", "On");
        connector(live.path(), "card0-DP-1", "disconnected", "disabled", "Off");
        let p = probe(&Root::host().with_live(live.path())).unwrap();
        assert_eq!((p.session_active, p.display_lit), (true, Some(true)));
        assert_eq!(active_over_a_minute(&p), 60);

        // The screen blanks at the end of the minute: the span is not active.
        let mut ledger = Ledger::new();
        ledger.record(&sample(BOOT_A, 600, datetime!(2026-11-23 10:00), true));
        let mut blanked = sample(BOOT_A, 660, datetime!(2026-11-23 10:01), true);
        blanked.display_lit = Some(false);
        ledger.record(&blanked);
        assert_eq!(day(&ledger, date!(2026 - 11 - 23)).active_s, 0);
    }

    /// A lit screen with nobody logged in (greeter, ssh only): not use.
    #[test]
    fn display_on_without_a_session_is_not_active() {
        for sessions in [&[][..], &[("5", SSH_REMOTE), ("c1", GREETER)]] {
            let live = fake_live(sessions);
            connector(live.path(), "card0-HDMI-A-1", "connected", "enabled", "On");
            let p = probe(&Root::host().with_live(live.path())).unwrap();
            assert_eq!((p.session_active, lit(&live)), (false, Some(true)));
            assert_eq!(p.display_lit, None, "not read without a session");
            assert_eq!(active_over_a_minute(&p), 0);
        }
    }

    /// A tablet's eDP panel can stay on in DRM with its backlight off: dark, unless another
    /// connector is lit or the backlight is on.
    #[test]
    fn an_internal_panel_is_lit_only_with_its_backlight() {
        let live = fake_live(&[]);
        connector(live.path(), "card1-eDP-1", "connected", "enabled", "On");
        assert_eq!(lit(&live), Some(true), "no backlight to say otherwise");
        backlight(live.path(), "intel_backlight", Some("4"), "120");
        assert_eq!(lit(&live), Some(false));
        connector(live.path(), "card1-HDMI-A-1", "connected", "enabled", "On");
        assert_eq!(lit(&live), Some(true), "the external screen is lit");

        for (name, bl_power, brightness) in
            [("card0-LVDS-1", Some("0"), "0"), ("card0-DSI-1", None, "0")]
        {
            let live = fake_live(&[]);
            connector(live.path(), name, "connected", "enabled", "On");
            backlight(live.path(), "panel", bl_power, brightness);
            assert_eq!(lit(&live), Some(false), "{name}");
            backlight(live.path(), "panel", bl_power, "1");
            assert_eq!(lit(&live), Some(true), "{name}");
        }
    }

    /// Boards without DRM (fbdev only): the backlight decides.
    #[test]
    fn fbdev_only_backlight_decides() {
        let live = fake_live(&[("2", X11_LOCAL)]);
        backlight(live.path(), "fb_backlight", None, "120");
        assert_eq!(lit(&live), Some(true));
        let p = probe(&Root::host().with_live(live.path())).unwrap();
        assert_eq!(active_over_a_minute(&p), 60);
        backlight(live.path(), "fb_backlight", None, "0");
        assert_eq!(lit(&live), Some(false));
        backlight(live.path(), "other", Some("0"), "3");
        assert_eq!(lit(&live), Some(true), "some backlight is lit");
    }

    /// No display in sysfs (headless box): no signal, never active, whatever the sessions.
    #[test]
    fn no_display_means_no_active_time() {
        let live = fake_live(&[("2", X11_LOCAL)]);
        assert_eq!(lit(&live), None);
        // DRM devices that are not connectors: a GPU with no output, a render node.
        let drm = live.path().join("sys/class/drm");
        for name in ["card0", "renderD128", "card-x", "cardX-HDMI-A-1", "card0-"] {
            fs::create_dir_all(drm.join(name)).unwrap();
            fs::write(drm.join(name).join("status"), "connected\n").unwrap();
        }
        fs::write(drm.join("version"), "drm 1.1.0 20060810\n").unwrap();
        fs::create_dir_all(live.path().join("sys/class/backlight")).unwrap();
        assert_eq!(lit(&live), None);
        let p = probe(&Root::host().with_live(live.path())).unwrap();
        assert_eq!((p.session_active, p.display_lit), (true, None));
        assert_eq!(active_over_a_minute(&p), 0);
    }

    /// Odd sysfs content reads as not lit: never a panic, never a blocked read.
    #[test]
    fn hostile_display_attributes_never_panic_nor_hang() {
        use crate::fsutil::testing::{mkfifo, within};
        let live = fake_live(&[]);
        let p = live.path().to_path_buf();
        let drm = p.join("sys/class/drm");
        let bl = p.join("sys/class/backlight");

        // Not UTF-8, or "On" followed by garbage.
        connector(&p, "card0-HDMI-A-1", "connected", "enabled", "On");
        fs::write(drm.join("card0-HDMI-A-1/dpms"), b"O\xffn\n").unwrap();
        connector(&p, "card0-HDMI-A-2", "connected", "enabled", "On\u{0}x");
        // A FIFO where dpms and bl_power are expected: opened without blocking and refused.
        connector(&p, "card0-DP-1", "connected", "enabled", "On");
        fs::remove_file(drm.join("card0-DP-1/dpms")).unwrap();
        mkfifo(&drm.join("card0-DP-1/dpms"));
        // A directory where a file is expected.
        connector(&p, "card0-DP-2", "connected", "enabled", "On");
        fs::remove_file(drm.join("card0-DP-2/enabled")).unwrap();
        fs::create_dir(drm.join("card0-DP-2/enabled")).unwrap();
        // An oversized attribute.
        connector(&p, "card0-DP-3", "connected", "enabled", "On");
        let huge = format!("On{}", " ".repeat(1 << 20));
        fs::write(drm.join("card0-DP-3/dpms"), huge).unwrap();
        // A connector that is a plain file, and one whose status is a directory.
        fs::write(drm.join("card0-DP-4"), "On").unwrap();
        fs::create_dir_all(drm.join("card0-DP-5/status")).unwrap();
        let root = Root::host().with_live(&p);
        let r = root.clone();
        assert_eq!(within(move || display_lit(&r)), Some(false));

        // Only unreadable connectors: nothing seen.
        let live2 = fake_live(&[]);
        let drm2 = live2.path().join("sys/class/drm");
        fs::create_dir_all(drm2.join("card0-DP-5/status")).unwrap();
        mkfifo(&drm2.join("card0-DP-6/status"));
        let r = Root::host().with_live(live2.path());
        assert_eq!(within(move || display_lit(&r)), None);

        // Backlights: FIFO bl_power, garbage or negative or overflowing brightness.
        backlight(&p, "a", Some("0"), "120");
        fs::remove_file(bl.join("a/bl_power")).unwrap();
        mkfifo(&bl.join("a/bl_power"));
        backlight(&p, "b", Some("0"), "-1");
        backlight(&p, "c", Some("0"), "99999999999999999999999");
        backlight(&p, "d", Some("0 junk"), "12");
        backlight(&p, "e", Some("\u{ff}"), "12");
        fs::create_dir_all(bl.join("f/brightness")).unwrap();
        mkfifo(&bl.join("g"));
        let r = Root::host().with_live(live2.path());
        fs::rename(&bl, live2.path().join("sys/class/backlight")).unwrap();
        assert_eq!(within(move || display_lit(&r)), Some(false));
        // The same backlights beside a lit eDP panel: they exist and none is lit.
        connector(live2.path(), "card0-eDP-1", "connected", "enabled", "On");
        let r = Root::host().with_live(live2.path());
        assert_eq!(within(move || display_lit(&r)), Some(false));
        // Through probe() too.
        let r = root.clone();
        assert!(!within(move || probe(&r).unwrap().in_use()));
    }

    /// sysfs class entries are symlinks to the devices: followed.
    #[test]
    fn class_entries_are_followed_through_symlinks() {
        let live = fake_live(&[]);
        let dev = live
            .path()
            .join("sys/devices/pci0000:00/0000:00:02.0/drm/card0");
        let conn = dev.join("card0-eDP-1");
        fs::create_dir_all(&conn).unwrap();
        fs::write(conn.join("status"), "connected\n").unwrap();
        fs::write(conn.join("enabled"), "enabled\n").unwrap();
        fs::write(conn.join("dpms"), "On\n").unwrap();
        let drm = live.path().join("sys/class/drm");
        fs::create_dir_all(&drm).unwrap();
        std::os::unix::fs::symlink(&conn, drm.join("card0-eDP-1")).unwrap();
        std::os::unix::fs::symlink(&dev, drm.join("card0")).unwrap();
        std::os::unix::fs::symlink("/nonexistent", drm.join("card0-HDMI-A-1")).unwrap();
        assert_eq!(lit(&live), Some(true));
    }

    /// Ledgers written before the display was looked at call the flag `session_active`.
    #[test]
    fn an_old_ledger_with_session_active_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        let wall = datetime!(2026-11-23 10:00).assume_utc().unix_timestamp();
        let old = format!(
            r#"{{"version":1,"last":{{"boot_id":"{BOOT_A}","uptime_s":600,"wall":{wall},"session_active":true}},"days":[{{"date":"2026-11-23","uptime_s":600,"active_s":0,"boots":1}}]}}"#
        );
        fs::write(&path, old).unwrap();
        let (mut ledger, problem) = Ledger::load(&path);
        assert_eq!(problem, None);
        assert!(path.exists(), "not set aside");
        assert!(ledger.last.as_ref().unwrap().in_use);
        ledger.record(&sample(BOOT_A, 660, datetime!(2026-11-23 10:01), true));
        assert_eq!(day(&ledger, date!(2026 - 11 - 23)).active_s, 60);
        ledger.save(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#""in_use":true"#), "{text}");
        assert!(!text.contains("session_active"), "{text}");
    }

    /// On this machine, reading the display neither panics nor hangs (any answer is fine).
    #[test]
    fn display_lit_on_this_machine_does_not_panic() {
        let lit = crate::fsutil::testing::within(|| display_lit(&Root::host()));
        let _ = lit;
    }

    /// On this machine, probe() returns the kernel's boot id and uptime.
    #[test]
    fn probe_on_this_machine_matches_proc() {
        let p = probe(&Root::host()).unwrap();
        let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
        assert_eq!(p.boot_id, boot_id.trim());
        let uptime = parse_uptime(&fs::read_to_string("/proc/uptime").unwrap()).unwrap();
        assert!(uptime >= p.uptime && uptime - p.uptime < Duration::from_secs(5));
        assert!(p.uptime > Duration::ZERO);
    }
}
