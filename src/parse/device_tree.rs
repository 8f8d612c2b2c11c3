//! Device-tree properties (`/proc/device-tree/*`): how ARM boards name themselves.
//!
//! String properties are raw bytes ending with a NUL; list properties such as `compatible`
//! are several NUL-terminated strings back to back. Firmware sometimes pads with extra
//! NULs or leaves spaces around, so both are trimmed.

/// A string property: the text before the first NUL, trimmed; `None` when empty.
pub fn string(raw: &[u8]) -> Option<String> {
    let first = raw.split(|&b| b == 0).next().unwrap_or_default();
    let text = String::from_utf8_lossy(first);
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// A string-list property such as `compatible`: every non-empty entry, in order.
pub fn string_list(raw: &[u8]) -> Vec<String> {
    raw.split(|&b| b == 0)
        .filter_map(|s| {
            let s = String::from_utf8_lossy(s);
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        })
        .collect()
}

/// The board vendor from the first `compatible` entry (`"raspberrypi,4-model-b"` gives
/// `"raspberrypi"`): the most specific entry names the board, its prefix the maker.
pub fn vendor(compatible: &[String]) -> Option<String> {
    let (vendor, _) = compatible.first()?.split_once(',')?;
    (!vendor.is_empty()).then(|| vendor.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_with_trailing_nul() {
        assert_eq!(
            string(b"Raspberry Pi 4 Model B Rev 1.4\0").as_deref(),
            Some("Raspberry Pi 4 Model B Rev 1.4")
        );
        assert_eq!(
            string(b"Radxa ROCK 5B\0\0\0").as_deref(),
            Some("Radxa ROCK 5B")
        );
        assert_eq!(
            string(b"10000000a1b2c3d4").as_deref(),
            Some("10000000a1b2c3d4")
        );
        assert_eq!(string(b"\0"), None);
        assert_eq!(string(b""), None);
        assert_eq!(string(b"  \0junk"), None);
    }

    #[test]
    fn compatible_list() {
        let raw = b"raspberrypi,4-model-b\0brcm,bcm2711\0";
        let list = string_list(raw);
        assert_eq!(list, ["raspberrypi,4-model-b", "brcm,bcm2711"]);
        assert_eq!(vendor(&list).as_deref(), Some("raspberrypi"));

        let list = string_list(b"xunlong,orangepi-5\0rockchip,rk3588s\0\0");
        assert_eq!(vendor(&list).as_deref(), Some("xunlong"));
        assert!(string_list(b"\0\0").is_empty());
        assert_eq!(vendor(&[]), None);
        assert_eq!(vendor(&["noprefix".to_owned()]), None);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        assert_eq!(string(b"Board \xff\0").as_deref(), Some("Board \u{fffd}"));
    }
}
