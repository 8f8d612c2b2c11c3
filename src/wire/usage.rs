//! The usage report's `data` (schema `grappe-agent/usage/1`): one month, one row per
//! day. Counts only: no user names, no content.

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
    /// Seconds during which an interactive local session existed.
    pub active_s: u64,
    /// Boots that started that day.
    pub boots: u32,
}

/// The report `data` for one month (schema `grappe-agent/usage/1`).
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
}

/// The month's `period`, "YYYY-MM": in the report and in its topic (`usage/{period}`).
pub fn period(year: i32, month: time::Month) -> String {
    format!("{year:04}-{:02}", month as u8)
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
}
