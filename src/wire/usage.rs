//! The usage report's `data`: one month, one row per day, and (from schema
//! `grappe-agent/usage/2`) what the equipment was like when the report was made. Counts
//! only: no user names, no content.
//!
//! Schema 2 changed what `active_s` means (a local session *and* a lit display, see
//! `usage.rs`; schema 1 counted the session alone) and added `active_rule`,
//! `first_day` and `equipment`. Devices sign it (`wire::signed`).

use serde::{Deserialize, Serialize};
use time::Date;

/// One day of the ledger, also one row of the published report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DayUsage {
    /// UTC date, serialized `YYYY-MM-DD`.
    #[serde(with = "ymd")]
    pub date: Date,
    /// Seconds the device was up that day.
    pub uptime_s: u64,
    /// Seconds in use: schema 2, a local interactive session with the display lit;
    /// schema 1, the session alone.
    pub active_s: u64,
    /// Boots that started that day.
    pub boots: u32,
}

/// The report `data` for one month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageMonth {
    /// `YYYY-MM`.
    pub period: String,
    /// One row per day with any record, sorted by date.
    pub days: Vec<DayUsage>,
    /// Days with some uptime.
    pub days_on: u32,
    /// Days with some active time.
    pub days_active: u32,
    /// How `active_s` was measured ([`ACTIVE_RULE`]); absent in schema 1 (session only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_rule: Option<String>,
    /// The oldest day the device's ledger still holds (it keeps about 400): when the
    /// device was first seen, or a bound on it.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "ymd_opt")]
    pub first_day: Option<Date>,
    /// The equipment when the report was made: for a closed month, at its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equipment: Option<Equipment>,
}

/// The rule `active_s` follows in schema 2: a local interactive session and a lit display
/// at both ends of each sampled minute.
pub const ACTIVE_RULE: &str = "local-session+display-lit";

/// The equipment at the time of a usage report, from the device's latest inventory,
/// posture and patch reports, so that a month's report says how the device stood at the
/// end of that month (the retained reports only say how it stands now).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Equipment {
    /// Board vendor, model and serial (DMI or device tree).
    pub board: Option<BoardId>,
    pub posture: Option<PostureAt>,
    pub patches: Option<PatchesAt>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardId {
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
}

/// The posture score, the ids of the failing critical and high checks, and the ESSMS
/// baseline's verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostureAt {
    pub collected_at: String,
    pub score: u8,
    pub failing_critical: Vec<String>,
    pub failing_high: Vec<String>,
    /// Empty from an agent older than the baseline (and in the ledgers it kept).
    #[serde(default)]
    pub baseline: Vec<super::posture::BaselineSummary>,
}

/// Pending updates; `None` when apt's files could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchesAt {
    pub collected_at: String,
    pub security_count: Option<usize>,
    pub upgradable_count: Option<usize>,
}

/// The month's `period`, "YYYY-MM": in the report and in its topic (`usage/{period}`).
pub fn period(year: i32, month: time::Month) -> String {
    format!("{year:04}-{:02}", month as u8)
}

/// "YYYY-MM" back to its year and month; `None` for anything else (a topic level, a
/// command-line argument).
pub fn parse_period(s: &str) -> Option<(i32, time::Month)> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 7 || b[4] != b'-' || !digits(0..4) || !digits(5..7) {
        return None;
    }
    let month = time::Month::try_from(s[5..].parse::<u8>().ok()?).ok()?;
    Some((s[..4].parse().ok()?, month))
}

/// The period `t` falls in (UTC): the month a device files it under, and the one the
/// fleet reads.
pub fn period_at(t: std::time::SystemTime) -> String {
    let day = time::OffsetDateTime::from(t).date();
    period(day.year(), day.month())
}

/// What the fleet's view reads of a usage report: the month's totals, not its days.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Summary {
    pub period: String,
    pub days_on: u32,
    pub days_active: u32,
}

/// An optional date as `"YYYY-MM-DD"`.
pub(crate) mod ymd_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    pub fn serialize<S: Serializer>(date: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(d) => super::ymd::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::ymd")] Date);
        Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(date)| date))
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn the_period_of_an_instant_is_its_utc_month() {
        // 2026-11-30T23:59:59Z, then one second later.
        let t = UNIX_EPOCH + Duration::from_secs(1_796_083_199);
        assert_eq!(period_at(t), "2026-11");
        assert_eq!(period_at(t + Duration::from_secs(1)), "2026-12");
        assert_eq!(period(2027, time::Month::January), "2027-01");
    }

    #[test]
    fn periods_parse_back_and_nothing_else_does() {
        assert_eq!(parse_period("2026-11"), Some((2026, time::Month::November)));
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-11",
            "2026/11",
            "2026-1a",
            "2026-11-01",
        ] {
            assert_eq!(parse_period(bad), None, "{bad}");
        }
    }
}
