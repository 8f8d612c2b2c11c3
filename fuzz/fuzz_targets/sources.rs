//! apt sources (`grappe_agent::parse::apt_sources`): one-line `.list` and deb822
//! `.sources`, the items' URIs through `uri_to_file_name`, and `Uri` on every line.
//!
//! Checks, besides "no panic": every item's URI ends in `/` (apt's `FixupURI`).
#![no_main]

use grappe_agent::parse::apt_sources::{
    parse_list, parse_sources, quote, string_to_bool, uri_encode, uri_to_file_name, Uri,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text: &str = &text;
    for parse in [parse_list, parse_sources] {
        match parse(text, "fuzz.sources", "amd64") {
            Ok(items) => {
                for item in &items {
                    assert!(item.uri.ends_with('/'), "{item:?}");
                    let _ = uri_to_file_name(&item.uri);
                    let _ = uri_encode(&item.suite);
                    let _ = uri_encode(&item.component);
                }
            }
            Err(e) => {
                let _ = e;
            }
        }
    }
    for line in text.lines().take(64) {
        let uri = Uri::parse(line);
        let _ = uri.render(true);
        let _ = uri.render(false);
        let _ = uri_to_file_name(line);
        let _ = string_to_bool(line);
        let _ = quote(line, "\\|{}[]<>\"^~_=!@#$%^&*");
        for word in line.split_whitespace().take(16) {
            let _ = uri_to_file_name(word);
        }
    }
});
