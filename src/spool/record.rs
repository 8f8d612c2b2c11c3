//! One record on disk, and the scan that finds records in a segment (see the module doc of
//! [`super`] for the layout). Pure functions over bytes: no I/O, easy to test exhaustively.

use super::Record;

/// Starts every record. 0xF7 never occurs in UTF-8, so JSON payloads cannot fake it.
const MAGIC: [u8; 4] = [0xF7, b'G', b'S', b'1'];
/// Fixed part of a record, before the topic and payload.
pub(super) const HEADER_LEN: usize = 28;
const FLAG_RETAIN: u8 = 1;

/// The fixed part of a record, once its own checksum has matched.
struct Header {
    id: u64,
    topic_len: usize,
    payload_len: usize,
    flags: u8,
    reserved: u8,
    body_crc: u32,
}

impl Header {
    /// `None` unless the magic and the header checksum match: only then are the lengths
    /// worth trusting.
    fn parse(head: &[u8; HEADER_LEN]) -> Option<Header> {
        let crc = u32::from_le_bytes(head[24..28].try_into().ok()?);
        if head[..4] != MAGIC || crc32fast::hash(&head[..24]) != crc {
            return None;
        }
        Some(Header {
            id: u64::from_le_bytes(head[4..12].try_into().ok()?),
            topic_len: usize::from(u16::from_le_bytes(head[12..14].try_into().ok()?)),
            flags: head[14],
            reserved: head[15],
            payload_len: usize::try_from(u32::from_le_bytes(head[16..20].try_into().ok()?)).ok()?,
            body_crc: u32::from_le_bytes(head[20..24].try_into().ok()?),
        })
    }

    /// Length of the whole record; `None` if it cannot even be addressed (32-bit targets).
    fn total_len(&self) -> Option<usize> {
        HEADER_LEN
            .checked_add(self.topic_len)?
            .checked_add(self.payload_len)
    }
}

/// Size a record takes on disk.
pub(super) fn encoded_len(topic: &str, payload: &[u8]) -> u64 {
    (HEADER_LEN + topic.len()) as u64 + payload.len() as u64
}

/// Encodes a record. The caller has checked that the topic fits in a u16 and the payload in
/// a u32 (see [`super::Spool::push`]); longer ones would be cut, never panic.
pub(super) fn encode(id: u64, topic: &str, payload: &[u8], retain: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + topic.len() + payload.len());
    let mut body_crc = crc32fast::Hasher::new();
    body_crc.update(topic.as_bytes());
    body_crc.update(payload);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(topic.len() as u16).to_le_bytes());
    out.push(if retain { FLAG_RETAIN } else { 0 });
    out.push(0);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&body_crc.finalize().to_le_bytes());
    let head_crc = crc32fast::hash(&out);
    out.extend_from_slice(&head_crc.to_le_bytes());
    out.extend_from_slice(topic.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// What lies at some offset of a segment.
enum Check {
    /// A whole, intact record: its id and length.
    Valid(u64, usize),
    /// An authentic header whose body is damaged (or whose id is out of order): skip exactly
    /// this record, its length can be trusted.
    Bad(usize),
    /// The record runs past the end of the data: a torn write.
    Truncated,
    /// No authentic header here: resynchronise on the next one.
    Garbage,
}

fn check(rest: &[u8], last_id: u64) -> Check {
    let Some(head) = rest.first_chunk::<HEADER_LEN>() else {
        return Check::Truncated;
    };
    let Some(h) = Header::parse(head) else {
        return Check::Garbage;
    };
    let Some(total) = h.total_len() else {
        return Check::Bad(rest.len());
    };
    let Some(body) = rest.get(HEADER_LEN..total) else {
        return Check::Truncated;
    };
    let topic_ok = std::str::from_utf8(&body[..h.topic_len]).is_ok();
    if crc32fast::hash(body) != h.body_crc
        || h.id <= last_id
        || !topic_ok
        || h.flags & !FLAG_RETAIN != 0
        || h.reserved != 0
    {
        return Check::Bad(total);
    }
    Check::Valid(h.id, total)
}

/// Decodes one record read back from its known place; `None` if it does not check out
/// (corrupted since the segment was scanned).
pub(super) fn decode(bytes: &[u8], expected_id: u64) -> Option<Record> {
    let Check::Valid(id, total) = check(bytes, expected_id.checked_sub(1)?) else {
        return None;
    };
    if id != expected_id || total != bytes.len() {
        return None;
    }
    let head = bytes.first_chunk::<HEADER_LEN>()?;
    let h = Header::parse(head)?;
    let topic = std::str::from_utf8(bytes.get(HEADER_LEN..HEADER_LEN + h.topic_len)?).ok()?;
    Some(Record {
        id,
        topic: topic.to_owned(),
        payload: bytes.get(HEADER_LEN + h.topic_len..)?.to_vec(),
        retain: h.flags & FLAG_RETAIN != 0,
    })
}

/// Where an intact record lies in its segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Located {
    pub id: u64,
    pub offset: u64,
    pub len: u64,
}

/// What a segment holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Scan {
    /// Intact records, ids strictly increasing.
    pub records: Vec<Located>,
    /// Damaged records skipped before the tail.
    pub corrupt: u64,
    /// Offset where an unusable tail starts (a torn write, or garbage up to the end).
    pub tail: Option<u64>,
}

/// Finds the records of a segment. Only ids above `last_id` are accepted, so the order
/// across segments holds even if a file was tampered with.
pub(super) fn scan(bytes: &[u8], mut last_id: u64) -> Scan {
    let mut scan = Scan::default();
    let mut off = 0;
    while let Some(rest) = bytes.get(off..).filter(|r| !r.is_empty()) {
        match check(rest, last_id) {
            Check::Valid(id, len) => {
                scan.records.push(Located {
                    id,
                    offset: off as u64,
                    len: len as u64,
                });
                last_id = id;
                off += len;
            }
            Check::Bad(len) => {
                scan.corrupt += 1;
                off += len;
            }
            Check::Truncated => {
                scan.tail = Some(off as u64);
                break;
            }
            Check::Garbage => match resync(bytes, off + 1) {
                Some(next) => {
                    scan.corrupt += 1;
                    off = next;
                }
                None => {
                    scan.tail = Some(off as u64);
                    break;
                }
            },
        }
    }
    scan
}

/// The next offset from `from` holding an authentic header (magic and header checksum).
fn resync(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let rest = bytes.get(at..)?;
        let found = rest.windows(MAGIC.len()).position(|w| w == MAGIC)?;
        at += found;
        if let Some(head) = bytes.get(at..).and_then(|r| r.first_chunk::<HEADER_LEN>()) {
            if Header::parse(head).is_some() {
                return Some(at);
            }
        }
        at += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(ids: &[u64]) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = Vec::new();
        let mut starts = Vec::new();
        for &id in ids {
            starts.push(bytes.len());
            bytes.extend(encode(
                id,
                "grappe/v1/t",
                format!("payload {id}").as_bytes(),
                id % 2 == 0,
            ));
        }
        (bytes, starts)
    }

    fn ids(scan: &Scan) -> Vec<u64> {
        scan.records.iter().map(|r| r.id).collect()
    }

    #[test]
    fn encode_then_decode_gives_the_record_back() {
        let bytes = encode(7, "a/b", b"{\"x\":1}", true);
        assert_eq!(bytes.len() as u64, encoded_len("a/b", b"{\"x\":1}"));
        let rec = decode(&bytes, 7).unwrap();
        assert_eq!(
            rec,
            Record {
                id: 7,
                topic: "a/b".into(),
                payload: b"{\"x\":1}".to_vec(),
                retain: true
            }
        );
        assert_eq!(decode(&bytes, 8), None, "wrong id");
        assert_eq!(decode(&bytes[..bytes.len() - 1], 7), None, "short");
    }

    #[test]
    fn scan_finds_every_record_of_an_intact_segment() {
        let (bytes, starts) = segment(&[3, 4, 9]);
        let scan = scan(&bytes, 0);
        assert_eq!(ids(&scan), [3, 4, 9]);
        assert_eq!(scan.records[2].offset, starts[2] as u64);
        assert_eq!((scan.corrupt, scan.tail), (0, None));
    }

    #[test]
    fn scan_refuses_ids_that_do_not_increase() {
        let (bytes, _) = segment(&[3, 4, 4, 2, 5]);
        let scan = scan(&bytes, 3);
        assert_eq!(ids(&scan), [4, 5]);
        assert_eq!(scan.corrupt, 3);
    }

    #[test]
    fn every_single_byte_flip_costs_at_most_the_record_it_hits() {
        let (bytes, starts) = segment(&[1, 2, 3]);
        for at in 0..bytes.len() {
            let hit = starts.iter().rposition(|&s| s <= at).unwrap() as u64 + 1;
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x5A;
            let scan = scan(&damaged, 0);
            let expected: Vec<u64> = (1..=3).filter(|&id| id != hit).collect();
            assert_eq!(ids(&scan), expected, "flip at {at}");
            assert_eq!(
                scan.corrupt + u64::from(scan.tail.is_some()),
                1,
                "flip at {at}"
            );
        }
    }
}
