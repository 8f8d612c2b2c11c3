//! The 512-byte header of a ClamAV signature database (`daily.cvd`, `daily.cld`):
//! `ClamAV-VDB:<build time>:<version>:<sigs>:<flevel>:<md5>:<dsig>:<builder>:<stime>`,
//! padded with spaces. The build time reads `06 Dec 2026 09-13 +0000` (no `:` in it, as
//! `:` separates the fields); `stime`, when present, is the same instant in seconds since
//! the epoch.

/// Size of the header at the start of every .cvd/.cld file.
pub const HEADER_LEN: usize = 512;

/// What the header says about the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The build time as `sigtool --info` shows it (`06 Dec 2026 09:13 +0000`).
    pub build_text: String,
    /// The build time in seconds since the epoch (`stime`, else the parsed build time).
    pub built: i64,
    pub version: u64,
    pub sigs: u64,
}

/// Parses a header (the file's first bytes, at most [`HEADER_LEN`] of them are used);
/// `None` when it is not a ClamAV database header or its fields are garbled.
pub fn parse(bytes: &[u8]) -> Option<Header> {
    let head = &bytes[..bytes.len().min(HEADER_LEN)];
    // The header is text; a NUL or the end of the padding ends it.
    let end = head.iter().position(|&b| b == 0).unwrap_or(head.len());
    let text = std::str::from_utf8(&head[..end]).ok()?.trim_end();
    let mut f = text.strip_prefix("ClamAV-VDB:")?.split(':');
    let raw = f.next()?.trim();
    let version = f.next()?.trim().parse().ok()?;
    let sigs = f.next()?.trim().parse().ok()?;
    // flevel, md5, dsig, builder, then stime (absent from old databases).
    let stime = f
        .nth(4)
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|&s| s > 0);
    let built = stime.or_else(|| build_time(raw))?;
    Some(Header {
        // The first `-` is the one between hours and minutes (the date has none).
        build_text: raw.replacen('-', ":", 1),
        built,
        version,
        sigs,
    })
}

/// `06 Dec 2026 09-13 +0000` in seconds since the epoch.
fn build_time(s: &str) -> Option<i64> {
    let mut p = s.split_whitespace();
    let day: u8 = p.next()?.parse().ok()?;
    let month = match p.next()? {
        "Jan" => time::Month::January,
        "Feb" => time::Month::February,
        "Mar" => time::Month::March,
        "Apr" => time::Month::April,
        "May" => time::Month::May,
        "Jun" => time::Month::June,
        "Jul" => time::Month::July,
        "Aug" => time::Month::August,
        "Sep" => time::Month::September,
        "Oct" => time::Month::October,
        "Nov" => time::Month::November,
        "Dec" => time::Month::December,
        _ => return None,
    };
    let year: i32 = p.next()?.parse().ok()?;
    let (h, m) = p.next()?.split_once('-')?;
    let zone = p.next()?;
    if p.next().is_some() || zone.len() != 5 || !zone.is_ascii() {
        return None;
    }
    let sign: i32 = match &zone[..1] {
        "+" => 1,
        "-" => -1,
        _ => return None,
    };
    let (zh, zm): (i32, i32) = (zone[1..3].parse().ok()?, zone[3..].parse().ok()?);
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let at = date.with_hms(h.parse().ok()?, m.parse().ok()?, 0).ok()?;
    let offset = i64::from(sign * (zh * 3600 + zm * 60));
    Some(at.assume_utc().unix_timestamp() - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header as freshclam writes it, padded to 512 bytes.
    pub fn header(fields: &str) -> Vec<u8> {
        let mut h = fields.as_bytes().to_vec();
        h.resize(HEADER_LEN, b' ');
        h
    }

    #[test]
    fn real_daily_header() {
        let h = parse(&header("ClamAV-VDB:06 Dec 2026 09-13 +0000:27842:2071234:90:0123456789abcdef0123456789abcdef:AbCdEf+/x:raynman:1796548380")).unwrap();
        assert_eq!(h.version, 27842);
        assert_eq!(h.sigs, 2071234);
        assert_eq!(h.built, 1796548380);
        assert_eq!(h.build_text, "06 Dec 2026 09:13 +0000");
    }

    #[test]
    fn build_time_when_stime_is_absent_or_not_a_number() {
        // 2026-12-06 09:13 UTC
        let want = 1_796_548_380;
        for tail in [
            "",
            ":x:y:z:w:",
            ":90:md5:sig:builder:",
            ":90:md5:sig:b:notanumber",
        ] {
            let h = parse(&header(&format!(
                "ClamAV-VDB:06 Dec 2026 09-13 +0000:27842:10{tail}"
            )))
            .unwrap();
            assert_eq!(h.built, want, "{tail:?}");
        }
        let h = parse(&header("ClamAV-VDB:06 Dec 2026 11-13 +0200:1:1")).unwrap();
        assert_eq!(h.built, want);
    }

    #[test]
    fn garbled_headers_are_refused() {
        assert!(parse(b"").is_none());
        assert!(parse(&header("ClamAV-VDB:06 Dec 2026 09-13 +0000:x:1")).is_none());
        assert!(parse(&header("ClamAV-VDB:32 Dec 2026 09-13 +0000:1:1")).is_none());
        assert!(parse(&header("ClamAV-VDB:06 Foo 2026 09-13 +0000:1:1")).is_none());
        assert!(parse(&header("ClamAV-VDB:06 Dec 2026 09-13 +0é0:1:1")).is_none());
        assert!(parse(&header("NotClam:06 Dec 2026 09-13 +0000:1:1")).is_none());
        assert!(parse(&[0xff; 512]).is_none());
        // A NUL ends the header; what follows (the compressed body) is not read.
        let mut h = header("ClamAV-VDB:06 Dec 2026 09-13 +0000:5:6");
        h[60] = 0;
        h.extend_from_slice(&[0x1f, 0x8b, 0xff]);
        assert_eq!(parse(&h).unwrap().version, 5);
    }
}
