//! deb822 records ("stanzas") as apt reads them (`pkgTagFile` and `pkgTagSection`).
//!
//! dpkg's status file, apt's package lists and Release files, preferences and `.sources`
//! files are all sequences of `Name: value` records separated by blank lines. What apt
//! makes of a damaged file decides what it can install, so the rules here are apt's own,
//! including the odd ones:
//! - a line that starts with a non-blank begins a field; its name runs to the next `:`,
//!   *wherever that is* (a line without one swallows the following lines into the name);
//! - lines that start with a blank continue the value; a value ends where the next field
//!   starts, blanks trimmed;
//! - a record ends at an empty line (`\n\n`, also `\n\r\n`); when a name appears twice,
//!   the last one counts;
//! - at the end of the file newlines are added until it ends with two, and a leftover of
//!   at most 3 bytes that forms no record is dropped; anything longer is an error, and so
//!   is a record over 2 MiB;
//! - in configuration files (`comments`), lines starting with `#` are removed first, and
//!   records holding nothing but comments are skipped.
//!
//! [`TagFile`] streams records from any reader with a bounded buffer, so a 50 MB list is
//! read in a few hundred KiB of memory.

use std::io::{self, Read};
use std::ops::Range;

/// One field of a record: its name and value as byte ranges of the record's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: Range<usize>,
    pub value: Range<usize>,
}

/// Where the scanner puts a record's fields. A package list has tens of thousands of
/// records of which a few fields matter: a sink says which names it wants, and only
/// those have their values delimited (the rest is stepped over line by line).
pub trait Fields: Default {
    /// Where a wanted field goes.
    type Slot: Copy;
    /// The slot for a field name; `None` for a field this sink ignores.
    fn slot(name: &[u8]) -> Option<Self::Slot>;
    /// Forgets the previous record.
    fn clear(&mut self);
    /// A wanted field, as byte ranges of the record's text, in file order.
    fn set(&mut self, slot: Self::Slot, name: Range<usize>, value: Range<usize>);
}

/// Every field, in file order (duplicates included): the general-purpose sink.
impl Fields for Vec<Field> {
    type Slot = ();

    fn slot(_: &[u8]) -> Option<()> {
        Some(())
    }

    fn clear(&mut self) {
        Vec::clear(self);
    }

    fn set(&mut self, (): (), name: Range<usize>, value: Range<usize>) {
        self.push(Field { name, value });
    }
}

/// One record, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Section<'a> {
    text: &'a [u8],
    fields: &'a [Field],
}

impl<'a> Section<'a> {
    /// The fields in file order (duplicates included).
    pub fn fields(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + '_ {
        self.fields
            .iter()
            .map(|f| (&self.text[f.name.clone()], &self.text[f.value.clone()]))
    }

    /// A field's value by case-insensitive name; the last one when it appears twice.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.fields()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .last()
            .map(|(_, v)| v)
    }

    /// [`get`](Self::get) as text (lossy: a damaged byte becomes U+FFFD).
    pub fn get_str(&self, name: &str) -> Option<std::borrow::Cow<'a, str>> {
        self.get(name).map(String::from_utf8_lossy)
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// apt gives up on a record that does not fit in its largest buffer.
const MAX_RECORD: usize = 2 * 1024 * 1024;
const CHUNK: usize = 128 * 1024;
/// Preferences and sources files are a few KiB; a larger one is not one of them.
const MAX_CONFIG: usize = 4 * 1024 * 1024;

/// Why a file could not be read as records.
#[derive(Debug)]
pub enum Error {
    Io(io::Error),
    /// Bytes at this offset form no record (apt: "Unable to parse package file").
    Unparsable {
        offset: u64,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::Unparsable { offset } => {
                write!(f, "unparsable record at byte {offset} (apt refuses it too)")
            }
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// Streams the records of a deb822 file, their fields gathered by `F`.
pub struct TagFile<R, F = Vec<Field>> {
    reader: R,
    buf: Vec<u8>,
    /// The unread part of `buf`.
    start: usize,
    end: usize,
    /// Offset in the file of `buf[0]` (for error messages).
    offset: u64,
    eof: bool,
    comments: bool,
    fields: F,
}

impl<R: Read> TagFile<R> {
    /// Records of a package list or status file (`#` is an ordinary character).
    pub fn new(reader: R) -> Self {
        Self::with_fields(reader)
    }

    /// Records of a configuration file: comment lines removed, empty records skipped.
    pub fn with_comments(reader: R) -> Self {
        TagFile {
            comments: true,
            ..Self::new(reader)
        }
    }

    /// The next record, `None` at the end.
    pub fn next_section(&mut self) -> Result<Option<Section<'_>>, Error> {
        Ok(self
            .next_record()?
            .map(|(text, fields)| Section { text, fields }))
    }
}

impl<R: Read, F: Fields> TagFile<R, F> {
    /// Records of a package list or status file, gathered by the sink `F`.
    pub fn with_fields(reader: R) -> Self {
        TagFile {
            reader,
            buf: Vec::new(),
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
            comments: false,
            fields: F::default(),
        }
    }

    /// Byte offset of the next record in the (decompressed, comment-free) text.
    pub fn offset(&self) -> u64 {
        self.offset + self.start as u64
    }

    /// The next record: its text (up to the end of what is buffered; the sink's ranges
    /// are relative to it) and its fields; `None` at the end.
    pub fn next_record(&mut self) -> Result<Option<(&[u8], &F)>, Error> {
        loop {
            if let Some((len, any_field)) =
                scan(&self.buf[self.start..self.end], self.eof, &mut self.fields)
            {
                let begin = self.start;
                self.start += len;
                if self.comments && !any_field {
                    continue;
                }
                return Ok(Some((&self.buf[begin..self.end], &self.fields)));
            }
            let left = self.end - self.start;
            if self.eof {
                if left <= 3 {
                    return Ok(None);
                }
                return Err(Error::Unparsable {
                    offset: self.offset(),
                });
            }
            if left > MAX_RECORD {
                return Err(Error::Unparsable {
                    offset: self.offset(),
                });
            }
            self.fill()?;
        }
    }

    /// Moves the unread bytes to the front and reads more; at the end of the input, makes
    /// sure the text ends with two newlines, as apt does. Configuration files are read
    /// whole, so that comment lines can be removed line by line.
    fn fill(&mut self) -> io::Result<()> {
        if self.comments {
            let mut text = Vec::new();
            (&mut self.reader)
                .take(MAX_CONFIG as u64)
                .read_to_end(&mut text)?;
            self.buf = strip_comment_lines(&text);
            self.start = 0;
            self.end = self.buf.len();
            self.eof = true;
            self.end_with_two_newlines();
            return Ok(());
        }
        // `buf` keeps its length (the zeroed capacity) and `end` marks the data, so that a
        // refill does not clear memory it is about to overwrite.
        self.buf.copy_within(self.start..self.end, 0);
        self.offset += self.start as u64;
        self.end -= self.start;
        self.start = 0;
        if self.buf.len() < self.end + CHUNK {
            // Exactly what is needed: the buffer holds one chunk plus the start of a
            // record cut by the previous one, and must not double its way up.
            self.buf.reserve_exact(self.end + CHUNK - self.buf.len());
            self.buf.resize(self.end + CHUNK, 0);
        }
        let n = loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.end += n;
        if n == 0 {
            self.eof = true;
            self.buf.truncate(self.end);
            self.end_with_two_newlines();
        }
        Ok(())
    }

    fn end_with_two_newlines(&mut self) {
        if self.end == self.start {
            return;
        }
        let newlines = self
            .buf
            .iter()
            .rev()
            .take_while(|&&c| c == b'\n' || c == b'\r')
            .filter(|&&c| c == b'\n')
            .count();
        for _ in newlines..2 {
            self.buf.push(b'\n');
        }
        self.end = self.buf.len();
    }
}

/// Removes the lines starting with `#` (with their newline; an unfinished last one too).
fn strip_comment_lines(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for line in text.split_inclusive(|&c| c == b'\n') {
        if line.first() != Some(&b'#') {
            out.extend_from_slice(line);
        }
    }
    out
}

/// apt's `pkgTagSection::Scan`: the length of the record at the start of `text`
/// (including the blank lines after it) and whether it has any field, its wanted fields
/// given to `fields`; `None` when `text` holds no complete record (more input needed, or
/// none can be formed). Unless `text` runs to the end of the input, blank lines reaching
/// its end may go on in the next read: the record is taken only once they are all there,
/// so that where reads happen to cut the input never turns leftover blank lines into an
/// empty record.
fn scan<F: Fields>(text: &[u8], eof: bool, fields: &mut F) -> Option<(usize, bool)> {
    fields.clear();
    let end = text.len();
    let mut any_field = false;
    let mut stop = 0;
    // The wanted field being read: its slot, name and where its value starts.
    let mut current: Option<(F::Slot, Range<usize>, usize)> = None;
    while stop < end {
        if !is_space(text[stop]) {
            if let Some((slot, name, value_start)) = current.take() {
                fields.set(slot, name, value_start..trim_end(text, value_start, stop));
            }
            any_field = true;
            let colon = find_colon(text, stop)?;
            let mut name_end = colon;
            while name_end > stop + 1 && is_space(text[name_end - 1]) {
                name_end -= 1;
            }
            let name = stop..name_end;
            stop = colon + 1;
            // An ignored field's value is stepped over like any line: where its blanks
            // end does not change where its line, or the record, ends.
            if let Some(slot) = F::slot(&text[name.clone()]) {
                while stop < end && is_space(text[stop]) {
                    if text[stop] == b'\n' && text.get(stop + 1) != Some(&b' ') {
                        break;
                    }
                    stop += 1;
                }
                if stop >= end {
                    return None;
                }
                current = Some((slot, name, stop));
            }
        }
        stop += memchr::memchr(b'\n', &text[stop..])?;
        while stop + 1 < end && text[stop + 1] == b'\r' {
            stop += 1;
        }
        if stop + 1 < end && text[stop + 1] == b'\n' {
            if let Some((slot, name, value_start)) = current.take() {
                fields.set(slot, name, value_start..trim_end(text, value_start, stop));
            }
            let mut len = stop;
            while len < end && (text[len] == b'\n' || text[len] == b'\r') {
                len += 1;
            }
            return (len < end || eof).then_some((len, any_field));
        }
        stop += 1;
    }
    None
}

/// The first `:` at or after `from`. It ends a field name, normally on the same line, a
/// few bytes on: `memchr2` would spend more setting up than searching, so the line is
/// looked at eight bytes at a time. A line without one sends apt's search on through the
/// following lines.
fn find_colon(text: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(word) = text.get(at..at + 8) {
        let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let hits = zero_bytes(word ^ splat(b':')) | zero_bytes(word ^ splat(b'\n'));
        if hits != 0 {
            // The lowest flag is exact (see `zero_bytes`), and little-endian order makes
            // it the first byte in the text.
            at += hits.trailing_zeros() as usize / 8;
            if text[at] == b':' {
                return Some(at);
            }
            break;
        }
        at += 8;
    }
    memchr::memchr(b':', &text[at..]).map(|p| at + p)
}

/// `byte` in each of the eight bytes of a word.
const fn splat(byte: u8) -> u64 {
    u64::from_ne_bytes([byte; 8])
}

/// The high bit of each zero byte of `word` set (the classic "has zero byte" test). Only
/// the lowest flag is exact: a borrow can set flags above it, never below.
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(splat(0x01)) & !word & splat(0x80)
}

/// End of a value that runs from `start` to `end`, trailing blanks removed.
fn trim_end(text: &[u8], start: usize, mut end: usize) -> usize {
    while end > start && is_space(text[end - 1]) {
        end -= 1;
    }
    end
}

/// apt's `isspace_ascii`.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// An owned record: its `(name, value)` fields in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record(pub Vec<(String, String)>);

impl Record {
    /// A field's value by case-insensitive name; the last one when it appears twice.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// All records of a small in-memory text (configuration files, tests), parsed like a
/// file (lossy UTF-8: a damaged byte becomes U+FFFD).
pub fn parse_all(text: &[u8], comments: bool) -> Result<Vec<Record>, Error> {
    let mut file = if comments {
        TagFile::with_comments(text)
    } else {
        TagFile::new(text)
    };
    let mut out = Vec::new();
    while let Some(section) = file.next_section()? {
        out.push(Record(
            section
                .fields()
                .map(|(n, v)| {
                    (
                        String::from_utf8_lossy(n).into_owned(),
                        String::from_utf8_lossy(v).into_owned(),
                    )
                })
                .collect(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Result<Vec<Record>, Error> {
        parse_all(text.as_bytes(), false)
    }

    fn pairs(list: &[(&str, &str)]) -> Record {
        Record(
            list.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn fields_values_and_continuations() {
        let got = records(
            "Package: a\nVersion: 1.0\nDescription: short\n long\n .\n more\n\nPackage: b\nEmpty:\nX:   v  \n",
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                pairs(&[
                    ("Package", "a"),
                    ("Version", "1.0"),
                    ("Description", "short\n long\n .\n more")
                ]),
                pairs(&[("Package", "b"), ("Empty", ""), ("X", "v")]),
            ]
        );
    }

    #[test]
    fn a_value_may_start_on_the_next_line() {
        let got = records("Description:\n first\n second\n\n").unwrap();
        assert_eq!(got, vec![pairs(&[("Description", "first\n second")])]);
    }

    #[test]
    fn crlf_blank_lines_end_records_and_the_last_duplicate_wins() {
        let text = b"Package: a\r\nVersion: 1\r\n\r\nPackage: b\nVersion: 1\nVersion: 2\n";
        let mut file = TagFile::new(&text[..]);
        let first = file.next_section().unwrap().unwrap();
        assert_eq!(first.get("package"), Some(&b"a"[..]));
        let second = file.next_section().unwrap().unwrap();
        assert_eq!(second.get("Version"), Some(&b"2"[..]));
        assert!(file.next_section().unwrap().is_none());
    }

    #[test]
    fn a_line_without_colon_swallows_the_next_line_into_the_name() {
        let got = records("Package: a\ngarbage\nVersion: 1\n\n").unwrap();
        assert_eq!(
            got,
            vec![pairs(&[("Package", "a"), ("garbage\nVersion", "1")])]
        );
    }

    #[test]
    fn end_of_file_rules() {
        // No final newline: the record still counts (apt adds them).
        assert_eq!(records("Package: a").unwrap().len(), 1);
        // A leftover of up to 3 bytes (with the added newlines) is dropped, a longer one
        // is an error.
        assert_eq!(records("Package: a\n\nx").unwrap().len(), 1);
        assert!(matches!(
            records("Package: a\n\nxy"),
            Err(Error::Unparsable { offset: 12 })
        ));
        assert_eq!(records("").unwrap().len(), 0);
        assert_eq!(records("\n\n\n\n").unwrap(), vec![Record::default()]);
        // Blank lines between records are skipped.
        assert_eq!(records("A: 1\n\n\n\nB: 2\n\n").unwrap().len(), 2);
    }

    #[test]
    fn comments_are_removed_in_configuration_files() {
        let text =
            "# header\n\nPackage: a\n# inside\nPin: release a=stable\n\n# only comments\n\n#last";
        let got = parse_all(text.as_bytes(), true).unwrap();
        assert_eq!(
            got,
            vec![pairs(&[("Package", "a"), ("Pin", "release a=stable")])]
        );
        // Without comment support '#' starts a field name like any other character.
        let got = records("#x: 1\n\n").unwrap();
        assert_eq!(got, vec![pairs(&[("#x", "1")])]);
    }

    #[test]
    fn records_crossing_buffer_refills_are_whole() {
        // More than one CHUNK, with records straddling the refill boundaries.
        let mut text = String::new();
        for i in 0..20_000 {
            text.push_str(&format!(
                "Package: p{i}\nVersion: {i}\nDepends: libc6 (>= 2.36)\n\n"
            ));
        }
        let mut file = TagFile::new(text.as_bytes());
        let mut n = 0;
        while let Some(s) = file.next_section().unwrap() {
            assert_eq!(s.get("Version").unwrap(), n.to_string().as_bytes());
            n += 1;
        }
        assert_eq!(n, 20_000);
    }

    /// A reader that returns at most `n` bytes per call.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(self.1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn where_reads_cut_the_input_changes_nothing() {
        let texts: [&[u8]; 3] = [
            b"Package: a\nVersion: 1\n\n\n\nPackage: b\nVersion: 2\n",
            b"Package: a\r\n\r\n\r\n\r\nPackage: b\r\n",
            b"Package: a\nDescription:\n long\n\nPackage: b\n\n\n",
        ];
        for text in texts {
            let whole = parse_all(text, false).unwrap();
            for n in 1..text.len() {
                let mut file = TagFile::new(Trickle(text, n));
                let mut got = Vec::new();
                while let Some(s) = file.next_section().unwrap() {
                    got.push(Record(
                        s.fields()
                            .map(|(k, v)| {
                                (
                                    String::from_utf8_lossy(k).into_owned(),
                                    String::from_utf8_lossy(v).into_owned(),
                                )
                            })
                            .collect(),
                    ));
                }
                assert_eq!(got, whole, "reads of {n} bytes");
            }
        }
    }

    #[test]
    fn an_oversized_record_is_refused_not_buffered_forever() {
        let text = "Package: a\nDescription: x\n".to_string() + &" y\n".repeat(1_500_000);
        assert!(matches!(records(&text), Err(Error::Unparsable { .. })));
    }
}
