//! apt package lists (`grappe_agent::parse::apt_packages` over `deb822::TagFile`), read as
//! `collect::patches::upgradable` reads them: every record through `Stanza`, and
//! `relations_parse` on every field value.
//!
//! Checks, besides "no panic": `check_new_version` fails only if some dependency field
//! is refused by `relations_parse` or `Description-md5` is not 32 bytes long; and reading
//! with the `StanzaFields` sink (which steps over the fields a `Stanza` does not hold, as
//! the agent reads lists) gives the same stanzas, at the same offsets, with the same
//! outcome as reading every field and picking them with `Stanza::of`.
#![no_main]

use grappe_agent::parse::apt_packages::{relations_parse, status_installed, Stanza, StanzaFields};
use grappe_agent::parse::deb822::TagFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut tags = TagFile::new(data);
    let mut sink = TagFile::<_, StanzaFields>::with_fields(data);
    loop {
        let offset = tags.offset();
        assert_eq!(sink.offset(), offset);
        let section = match tags.next_section() {
            Ok(Some(section)) => section,
            Ok(None) => {
                assert!(matches!(sink.next_record(), Ok(None)));
                break;
            }
            Err(e) => {
                let _ = e.to_string();
                assert!(sink.next_record().is_err());
                break;
            }
        };
        let (text, fields) = sink
            .next_record()
            .expect("the sink reads what the general reader reads")
            .expect("a record where the general reader has one");
        assert_eq!(Stanza::from_fields(text, fields), Stanza::of(&section));
        for (_, value) in section.fields() {
            let _ = relations_parse(value);
        }
        let s = Stanza::of(&section);
        let _ = s.name();
        let _ = s.arch();
        let _ = s.source_name();
        let _ = s.version_hash();
        let _ = s.download_size();
        let _ = s.multi_arch_flags();
        if let Some(status) = s.status {
            let _ = status_installed(status);
        }
        let relations_ok = s
            .relations
            .iter()
            .flatten()
            .all(|v| v.is_empty() || relations_parse(v));
        let md5_ok = s
            .description_md5
            .map_or(true, |m| m.is_empty() || m.len() == 32);
        assert_eq!(s.check_new_version().is_ok(), relations_ok && md5_ok);
    }
});
