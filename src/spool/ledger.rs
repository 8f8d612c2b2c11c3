//! The ledger: the few numbers that must outlive the segments. A short text file, replaced
//! atomically, checksummed so that a damaged one is noticed rather than believed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

const FIRST_LINE: &str = "grappe-agent spool ledger 1";
const MAX_RANGE: u64 = 1 << 24;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Ledger {
    /// Lowest id never handed out: keeps ids increasing when every segment is gone.
    pub next_id: u64,
    /// Every id below this one is acknowledged (or dropped, or gone with its segment).
    pub waiting_from: u64,
    /// Acknowledged ids at or above `waiting_from` (acks out of order), sorted.
    pub acked: Vec<u64>,
    pub dropped_total: u64,
    pub corrupt_total: u64,
    /// Per segment (its first id): damaged records already counted in `corrupt_total`, so
    /// that scanning the same damage again after a restart does not count it twice.
    pub corrupt_seen: BTreeMap<u64, u64>,
}

impl Ledger {
    pub fn is_acked(&self, id: u64) -> bool {
        id < self.waiting_from || self.acked.binary_search(&id).is_ok()
    }

    /// Text form; acked ids are written as ranges (`5-9 12`), since acks mostly come in runs.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{FIRST_LINE}");
        let _ = writeln!(out, "next_id {}", self.next_id);
        let _ = writeln!(out, "waiting_from {}", self.waiting_from);
        out.push_str("acked");
        let mut ids = self.acked.iter().copied().peekable();
        while let Some(start) = ids.next() {
            let mut end = start;
            while ids.next_if(|&n| Some(n) == end.checked_add(1)).is_some() {
                end += 1;
            }
            let _ = if end == start {
                write!(out, " {start}")
            } else {
                write!(out, " {start}-{end}")
            };
        }
        out.push('\n');
        let _ = writeln!(out, "dropped_total {}", self.dropped_total);
        let _ = writeln!(out, "corrupt_total {}", self.corrupt_total);
        out.push_str("corrupt_seen");
        for (segment, count) in &self.corrupt_seen {
            let _ = write!(out, " {segment}:{count}");
        }
        out.push('\n');
        let crc = crc32fast::hash(out.as_bytes());
        let _ = writeln!(out, "crc32 {crc:08x}");
        out
    }

    /// What can still be trusted in a damaged ledger: numbers that only ever grow, where a
    /// flipped bit errs upwards at worst (ids skipped, a loss over-counted), never towards
    /// reusing an id or forgetting a loss. The acknowledgements are not kept: believing a
    /// damaged one would lose a record without a word, forgetting it only resends one.
    pub fn salvage(text: &str) -> Ledger {
        let mut ledger = Ledger::default();
        for line in text.lines() {
            let mut words = line.split_ascii_whitespace();
            let (Some(key), Some(Ok(value))) = (words.next(), words.next().map(str::parse)) else {
                continue;
            };
            let field = match key {
                "next_id" => &mut ledger.next_id,
                "dropped_total" => &mut ledger.dropped_total,
                "corrupt_total" => &mut ledger.corrupt_total,
                _ => continue,
            };
            *field = (*field).max(value);
        }
        ledger
    }

    /// Parses [`Ledger::encode`]'s output; the error says what is wrong, for the log.
    pub fn decode(text: &str) -> Result<Ledger, String> {
        let crc_at = text.rfind("crc32 ").ok_or("no checksum line")?;
        let (body, crc_line) = text.split_at(crc_at);
        let crc = u32::from_str_radix(crc_line["crc32 ".len()..].trim(), 16)
            .map_err(|_| "unreadable checksum")?;
        if crc32fast::hash(body.as_bytes()) != crc {
            return Err("checksum mismatch".into());
        }
        let mut lines = body.lines();
        if lines.next() != Some(FIRST_LINE) {
            return Err("unknown format".into());
        }
        let num = |s: &str| s.parse::<u64>().map_err(|_| format!("bad number {s:?}"));
        let mut ledger = Ledger::default();
        for line in lines {
            let mut words = line.split_ascii_whitespace();
            let key = words.next().unwrap_or_default();
            let one = |mut words: std::str::SplitAsciiWhitespace| {
                num(words.next().ok_or_else(|| format!("{key} has no value"))?)
            };
            match key {
                "next_id" => ledger.next_id = one(words)?,
                "waiting_from" => ledger.waiting_from = one(words)?,
                "dropped_total" => ledger.dropped_total = one(words)?,
                "corrupt_total" => ledger.corrupt_total = one(words)?,
                "acked" => {
                    for word in words {
                        let (start, end) = match word.split_once('-') {
                            Some((a, b)) => (num(a)?, num(b)?),
                            None => (num(word)?, num(word)?),
                        };
                        // A range longer than any spool could hold is damage, not acks.
                        if start > end
                            || end - start > MAX_RANGE
                            || ledger.acked.last().is_some_and(|&l| l >= start)
                        {
                            return Err(format!("acked range {word} out of order"));
                        }
                        ledger.acked.extend(start..=end);
                    }
                }
                "corrupt_seen" => {
                    for word in words {
                        let (segment, count) =
                            word.split_once(':').ok_or(format!("bad entry {word:?}"))?;
                        ledger.corrupt_seen.insert(num(segment)?, num(count)?);
                    }
                }
                _ => {} // a newer agent's key: the old ones still hold
            }
        }
        Ok(ledger)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_round_trips_with_ranges() {
        let ledger = Ledger {
            next_id: 20,
            waiting_from: 4,
            acked: vec![5, 6, 7, 9, 11, 12],
            dropped_total: 3,
            corrupt_total: 2,
            corrupt_seen: BTreeMap::from([(1, 2)]),
        };
        let text = ledger.encode();
        assert!(text.contains("acked 5-7 9 11-12\n"), "{text}");
        assert_eq!(Ledger::decode(&text), Ok(ledger.clone()));
        assert!(ledger.is_acked(3) && ledger.is_acked(6) && !ledger.is_acked(8));
    }

    #[test]
    fn damaged_ledger_is_refused() {
        let text = Ledger {
            next_id: 20,
            ..Ledger::default()
        }
        .encode();
        assert!(Ledger::decode(&text.replace("20", "21")).is_err());
        assert!(Ledger::decode(&text[..text.len() - 3]).is_err());
        assert!(Ledger::decode("").is_err());
        assert!(Ledger::decode("crc32 zz").is_err());
    }

    #[test]
    fn a_damaged_ledger_keeps_only_what_grows() {
        let text = Ledger {
            next_id: 20,
            waiting_from: 4,
            acked: vec![7],
            dropped_total: 3,
            corrupt_total: 2,
            corrupt_seen: BTreeMap::from([(1, 2)]),
        }
        .encode()
        .replace("waiting_from 4", "waiting_from 9\u{fffd}");
        assert!(Ledger::decode(&text).is_err());
        let salvaged = Ledger::salvage(&text);
        assert_eq!(
            salvaged,
            Ledger {
                next_id: 20,
                dropped_total: 3,
                corrupt_total: 2,
                ..Ledger::default()
            }
        );
    }
}
