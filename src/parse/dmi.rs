//! DMI/SMBIOS strings (`/sys/class/dmi/id/*`): how x86 machines name themselves.
//!
//! Cheap boards ship with the firmware vendor's template text left in place ("To be
//! filled by O.E.M.", "Default string", "0123456789"...). Those would make every box
//! look the same on the funding proof, so they are treated as absent.

/// Template values seen in the field, compared case-insensitively after trimming.
const PLACEHOLDERS: &[&str] = &[
    "to be filled by o.e.m.",
    "to be filled by oem",
    "default string",
    "o.e.m.",
    "oem",
    "not specified",
    "not applicable",
    "not available",
    "none",
    "n/a",
    "na",
    "unknown",
    "invalid",
    "0123456789",
    "123456789",
    "1234567890",
    "system manufacturer",
    "system product name",
    "system serial number",
    "system version",
    "base board serial number",
    "chassis serial number",
    "type1productconfigid",
    "x.x",
];

/// A DMI value, trimmed; `None` when empty or a known placeholder, or made of a single
/// repeated character (`"00000000"`, `"FFFFFFFF"`, `"        "`).
pub fn value(raw: &str) -> Option<String> {
    let v = raw.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    let first = v.chars().next()?;
    if v.chars().all(|c| c == first) && v.chars().count() > 1 {
        return None;
    }
    if PLACEHOLDERS.iter().any(|p| v.eq_ignore_ascii_case(p)) {
        return None;
    }
    Some(v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_values_are_kept() {
        assert_eq!(value("LENOVO\n").as_deref(), Some("LENOVO"));
        assert_eq!(value("20XW0055FR\n").as_deref(), Some("20XW0055FR"));
        assert_eq!(value("PF2ABCDE\n").as_deref(), Some("PF2ABCDE"));
        assert_eq!(
            value("Intel(R) Client Systems").as_deref(),
            Some("Intel(R) Client Systems")
        );
        assert_eq!(value("0").as_deref(), Some("0"), "one char is not a repeat");
    }

    #[test]
    fn placeholders_are_absent() {
        for p in [
            "To be filled by O.E.M.\n",
            "To Be Filled By O.E.M.",
            "Default string\n",
            "0123456789\n",
            "System Serial Number",
            "System manufacturer",
            "Not Specified",
            "00000000\n",
            "FFFFFFFFFFFF",
            "   \n",
            "",
            "\0",
        ] {
            assert_eq!(value(p), None, "{p:?} is a placeholder");
        }
    }
}
