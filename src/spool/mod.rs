//! The spool: reports wait on disk until the broker has acknowledged them (MQTT PUBACK).
//!
//! # On-disk format
//! The spool directory holds:
//! - **segments** `{first id, 20 digits}.seg`: append-only files of records, named after the
//!   id of the first record written to them. Only the newest segment is appended to; a new
//!   one starts when it would grow past `max_bytes / 8` (capped at 1 MiB), so the oldest
//!   data can be freed by deleting a whole file and nothing is ever rewritten in place.
//! - **`ledger`**: a few lines of text replaced with [`write_atomic`] when a push, an ack, a
//!   drop or a newly found corruption changes it: the next id, the lowest id still waiting, the ids
//!   acknowledged out of order above it, and the `dropped_total` / `corrupt_total` counters.
//!   A segment is deleted only after the ledger saying all its records are acknowledged
//!   (or dropped) is on disk.
//! - **`lock`**: held with `flock` so that two agents never share a spool.
//!
//! A record (little-endian integers):
//! ```text
//! 0  magic F7 'G' 'S' '1'    (0xF7 never occurs in UTF-8 text)
//! 4  id                u64
//! 12 topic length      u16
//! 14 flags             u8    bit 0: retain
//! 15 reserved          u8    0
//! 16 payload length    u32
//! 20 CRC32(topic ++ payload)
//! 24 CRC32(bytes 0..24)      the header has its own checksum so lengths are trusted only if intact
//! 28 topic (UTF-8), then payload
//! ```
//!
//! # Why this way
//! - *Crash safety*: `push` appends and `fdatasync`s before returning, so a record whose push
//!   returned `Ok` survives `kill -9` and power loss. A write cut short leaves a torn tail,
//!   which `open` cuts off (and counts).
//! - *Damage is local*: a record whose body checksum fails is skipped by its (checksummed)
//!   length; a damaged header is skipped by scanning for the next magic with a valid header
//!   checksum. Either way the loss is counted in `corrupt_total`, never fatal.
//! - *Every loss is counted*: ids run without gaps from a segment's name to the next
//!   segment's name (or the ledger's next id), so whatever happened to a file (cut inside a
//!   record, emptied, overwritten), the ids of that range neither found nor acknowledged
//!   are the records lost. A damaged ledger (any byte, any bit, or not a file at all) is
//!   set aside and rebuilt from the segments and the numbers of it that only grow; it
//!   counts as one loss, and its acknowledgements are forgotten (records resent, not lost).
//! - *SD card wear*: a push or an ack rewrites only the small ledger, and only when it
//!   changes something; segments are written once and deleted whole. (Reports are pushed a
//!   few times an hour.)
//! - *Memory*: only an index (id, offset, length, acked) is kept; payloads are read back from
//!   disk by [`Spool::read_after`]. `open` reads one segment at a time to scan it (at most
//!   1 MiB, or one record if a single record is larger).
//! - *Bound*: after each push, whole oldest segments are deleted while the segments exceed
//!   `max_bytes`; their unacknowledged records are counted in `dropped_total`. The bound is
//!   checked after the write so that a failed write (disk full) never drops anything.

mod ledger;
mod record;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::fsutil::{sync_dir, write_atomic};
use ledger::Ledger;

/// Segments above this size are not appended to (with the default segment size).
const MAX_SEGMENT_BYTES: u64 = 1 << 20;
const LEDGER: &str = "ledger";
const LOCK: &str = "lock";
/// How many times (20 ms apart) `open` tries to take the lock before giving up.
const LOCK_ATTEMPTS: u32 = 50;
const SEGMENT_SUFFIX: &str = ".seg";

/// A report waiting for the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: u64,
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

/// What the heartbeat reports about the spool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SpoolStats {
    /// Records waiting for an ack.
    pub records: u64,
    /// Size of the segment files on disk.
    pub bytes: u64,
    /// Records dropped unsent because the spool was over `max_bytes`, since it was created.
    pub dropped_total: u64,
    /// Damaged or torn records skipped, since the spool was created.
    pub corrupt_total: u64,
}

/// A bounded, crash-safe on-disk queue of reports (see the module doc).
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    /// Oldest first; ids increase across and within segments.
    segments: VecDeque<Segment>,
    /// Append handle on the newest segment; `None`: the next push starts a new segment.
    active: Option<File>,
    next_id: u64,
    waiting: u64,
    dropped_total: u64,
    corrupt_total: u64,
    /// What `open` found damaged, for the agent to report once connected.
    problems: Vec<String>,
    /// The ledger on disk is behind the one in memory (it could not be written: disk full).
    unsaved: bool,
    /// Held for the spool's lifetime: the flock is released when it is closed.
    _lock: File,
}

struct Segment {
    first_id: u64,
    path: PathBuf,
    len: u64,
    entries: Vec<Entry>,
    waiting: u64,
    /// Damaged records in this file already counted in `corrupt_total`.
    corrupt_seen: u64,
}

struct Entry {
    id: u64,
    offset: u64,
    len: u64,
    acked: bool,
}

impl Spool {
    /// Opens or creates the spool in `dir` (created if missing). Recovers after a crash: a
    /// torn tail is cut, corrupt records are skipped and counted.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Spool> {
        let segment_bytes = (max_bytes / 8).clamp(1, MAX_SEGMENT_BYTES);
        Spool::open_with(dir, max_bytes, segment_bytes)
    }

    /// [`Spool::open`] with a chosen segment size (tests use tiny ones).
    fn open_with(dir: &Path, max_bytes: u64, segment_bytes: u64) -> io::Result<Spool> {
        if max_bytes == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "spool {}: max_bytes is 0: set [spool] max_bytes",
                    dir.display()
                ),
            ));
        }
        let ctx = |what: &str, path: &Path| {
            let path = path.to_path_buf();
            let what = what.to_owned();
            move |err| context(dir, &what, &path, err)
        };
        fs::create_dir_all(dir).map_err(ctx("cannot create directory", dir))?;
        let lock = lock(dir)?;
        let ledger_path = dir.join(LEDGER);
        let mut problems = Vec::new();
        let (ledger, ledger_damaged) = match read_ledger(&ledger_path) {
            Ok(ledger) => (ledger, false),
            Err((why, salvaged)) => {
                let aside = set_aside(&ledger_path);
                let problem = format!(
                    "spool ledger {} is damaged ({why}){aside}: rebuilt from the segments; \
                     reports it had acknowledged may be sent again",
                    ledger_path.display()
                );
                log::error!("{problem}");
                problems.push(problem);
                (salvaged, true)
            }
        };

        let mut spool = Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            segment_bytes: segment_bytes.clamp(1, max_bytes),
            segments: VecDeque::new(),
            active: None,
            next_id: ledger.next_id.max(1),
            waiting: 0,
            dropped_total: ledger.dropped_total,
            // The damaged ledger is one loss in itself: what it knew is gone.
            corrupt_total: ledger.corrupt_total + u64::from(ledger_damaged),
            problems,
            unsaved: false,
            _lock: lock,
        };
        let names = segment_files(dir)?;
        // A segment holds ids from its name on: new ones never go below the newest name,
        // even if that file lost its records or was put there by mistake.
        if let Some((newest, _)) = names.last() {
            spool.next_id = spool.next_id.max(*newest);
        }
        let mut last_id = 0;
        for (i, (first_id, path)) in names.iter().enumerate() {
            let bytes = fs::read(path).map_err(ctx("cannot read", path))?;
            // Records below the file's name, or at or above the next file's, are strays.
            let next_first = names.get(i + 1).map(|(id, _)| *id);
            let mut scan = record::scan(&bytes, last_id.max(first_id.saturating_sub(1)));
            scan.records
                .retain(|r| next_first.is_none_or(|next| r.id < next));
            let mut len = bytes.len() as u64;
            // Ids run without gaps from a segment's name to the next one's (or to the
            // ledger's next id): every id in that range neither found nor acknowledged is
            // a record lost, however the file was damaged (cut, emptied, overwritten).
            let end = next_first.unwrap_or_else(|| {
                let after_found = scan.records.last().map_or(0, |r| r.id.saturating_add(1));
                spool.next_id.max(after_found)
            });
            let mut corrupt = lost_in(&ledger, *first_id, end, &scan.records);
            if let Some(tail) = scan.tail.filter(|_| next_first.is_none()) {
                // The newest segment: a torn write. Cut it so appends follow whole records.
                log::warn!(
                    "spool {}: cutting a torn record at offset {tail}",
                    path.display()
                );
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(ctx("cannot open", path))?;
                file.set_len(tail)
                    .and_then(|()| file.sync_all())
                    .map_err(ctx("cannot cut the torn tail of", path))?;
                len = tail;
                // A push cut short by a crash never returned: its id is past the range.
                let torn_id = scan
                    .records
                    .last()
                    .map_or(*first_id, |r| r.id.saturating_add(1));
                if torn_id >= end {
                    corrupt += 1;
                }
            }
            let seen = ledger.corrupt_seen.get(first_id).copied().unwrap_or(0);
            if corrupt > seen {
                let problem = format!(
                    "spool {}: {} record(s) lost to damage",
                    path.display(),
                    corrupt - seen
                );
                log::warn!("{problem}");
                spool.problems.push(problem);
                spool.corrupt_total += corrupt - seen;
            }
            let entries: Vec<Entry> = scan
                .records
                .iter()
                .map(|r| Entry {
                    id: r.id,
                    offset: r.offset,
                    len: r.len,
                    acked: ledger.is_acked(r.id),
                })
                .collect();
            let waiting = entries.iter().filter(|e| !e.acked).count() as u64;
            last_id = entries.last().map_or(last_id, |e| e.id);
            spool.waiting += waiting;
            spool.segments.push_back(Segment {
                first_id: *first_id,
                path: path.clone(),
                len,
                entries,
                waiting,
                corrupt_seen: corrupt.max(seen),
            });
        }
        spool.next_id = spool.next_id.max(last_id.saturating_add(1));
        if let Some(seg) = spool.segments.back() {
            if seg.len < spool.segment_bytes {
                let file = OpenOptions::new()
                    .append(true)
                    .open(&seg.path)
                    .map_err(ctx("cannot open for appending", &seg.path))?;
                spool.active = Some(file);
            }
        }
        // A full disk must not stop the agent: the ledger is written with the next change
        // that finds room (acks free whole segments).
        if spool.ledger() != ledger {
            if let Err(err) = spool.persist() {
                log::warn!("{err}");
                spool.problems.push(err.to_string());
            }
        }
        spool.collect_garbage();
        spool.enforce_bound(); // max_bytes may have been lowered since the last run
        Ok(spool)
    }

    /// Appends a record and makes it durable before returning; ids increase strictly, also
    /// across restarts (even when the spool was emptied). Drops the oldest records when over
    /// `max_bytes`. Refuses a single record larger than `max_bytes` with a clear error.
    pub fn push(&mut self, topic: &str, payload: &[u8], retain: bool) -> io::Result<u64> {
        let len = record::encoded_len(topic, payload);
        if len > self.max_bytes
            || topic.len() > usize::from(u16::MAX)
            || payload.len() as u64 > u64::from(u32::MAX)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "spool {}: a record of {len} bytes for {topic:?} cannot fit \
                     ([spool] max_bytes = {}, topics up to 65535 bytes, payloads up to 4 GiB): \
                     raise max_bytes or send smaller reports",
                    self.dir.display(),
                    self.max_bytes
                ),
            ));
        }
        let id = self.next_id;
        let bytes = record::encode(id, topic, payload, retain);
        let appendable = self.active.is_some()
            && self
                .segments
                .back()
                .is_some_and(|seg| seg.len == 0 || seg.len + len <= self.segment_bytes);
        let offset = match (appendable, &mut self.active, self.segments.back()) {
            (true, Some(file), Some(seg)) => {
                if let Err(err) = append(file, &bytes) {
                    // Undo a partial write so later appends follow a whole record; if even
                    // that fails, stop appending here: the next open cuts the tail.
                    if file.set_len(seg.len).is_err() {
                        self.active = None;
                    }
                    return Err(context(&self.dir, "cannot append to", &seg.path, err));
                }
                seg.len
            }
            _ => {
                self.start_segment(id, &bytes)?;
                0
            }
        };
        if let Some(seg) = self.segments.back_mut() {
            seg.entries.push(Entry {
                id,
                offset,
                len,
                acked: false,
            });
            seg.len += len;
            seg.waiting += 1;
        }
        self.waiting += 1;
        self.next_id = id + 1;
        // The ledger's next id is how a later open knows how many records the newest
        // segment held if that file is damaged. The record itself is already durable: a
        // failure here is logged, not returned.
        if let Err(err) = self.persist() {
            log::warn!("{err}");
        }
        self.enforce_bound();
        Ok(id)
    }

    /// Up to `max` waiting (unacknowledged) records with id > `after` (None = from the
    /// oldest), in order. A record found damaged now is skipped and counted.
    pub fn read_after(&mut self, after: Option<u64>, max: usize) -> io::Result<Vec<Record>> {
        let from = match after {
            None => 0,
            Some(after) => match after.checked_add(1) {
                Some(from) => from,
                None => return Ok(Vec::new()),
            },
        };
        let mut out = Vec::new();
        let mut found_damage = false;
        let first = self
            .segments
            .partition_point(|s| s.first_id <= from)
            .saturating_sub(1);
        for seg in self.segments.iter_mut().skip(first) {
            if out.len() >= max {
                break;
            }
            if seg.waiting == 0 {
                continue;
            }
            let file = File::open(&seg.path)
                .map_err(|err| context(&self.dir, "cannot open", &seg.path, err))?;
            let mut i = seg.entries.partition_point(|e| e.id < from);
            while i < seg.entries.len() && out.len() < max {
                let entry = &seg.entries[i];
                if entry.acked {
                    i += 1;
                    continue;
                }
                let mut buf = vec![0; usize::try_from(entry.len).unwrap_or(usize::MAX)];
                file.read_exact_at(&mut buf, entry.offset)
                    .map_err(|err| context(&self.dir, "cannot read", &seg.path, err))?;
                match record::decode(&buf, entry.id) {
                    Some(rec) => {
                        out.push(rec);
                        i += 1;
                    }
                    None => {
                        log::warn!(
                            "spool {}: record {} is damaged on disk, skipped",
                            seg.path.display(),
                            entry.id
                        );
                        seg.entries.remove(i);
                        seg.waiting -= 1;
                        seg.corrupt_seen += 1;
                        self.waiting -= 1;
                        self.corrupt_total += 1;
                        found_damage = true;
                    }
                }
            }
        }
        if found_damage {
            if let Err(err) = self.persist() {
                log::warn!("{err}");
            }
        }
        Ok(out)
    }

    /// Marks a record as delivered. Acks may come out of order; a segment is deleted once all
    /// its records are acked. Acking an unknown/dropped id is harmless.
    ///
    /// An error says that the ack is kept in memory but not on disk (the disk is full):
    /// delivery goes on, and oldest segments whose records are all delivered are still
    /// deleted, which frees the room to write the ledger later. Until then a restart would
    /// send the acknowledged records again (never lose them).
    pub fn ack(&mut self, id: u64) -> io::Result<()> {
        let Some((s, e)) = self.find(id) else {
            return Ok(());
        };
        if self.segments[s].entries[e].acked {
            return Ok(());
        }
        self.set_acked(s, e, true);
        let saved = self.persist();
        let segments = self.segments.len();
        self.collect_garbage();
        match saved {
            Err(_) if self.segments.len() < segments => self.persist(), // room was made
            result => result,
        }
    }

    /// What `open` found damaged (a ledger rebuilt, records lost), once.
    pub fn take_problems(&mut self) -> Vec<String> {
        std::mem::take(&mut self.problems)
    }

    pub fn stats(&self) -> SpoolStats {
        SpoolStats {
            records: self.waiting,
            bytes: self.segments.iter().map(|s| s.len).sum(),
            dropped_total: self.dropped_total,
            corrupt_total: self.corrupt_total,
        }
    }

    fn find(&self, id: u64) -> Option<(usize, usize)> {
        let s = self
            .segments
            .partition_point(|s| s.first_id <= id)
            .checked_sub(1)?;
        let e = self.segments[s]
            .entries
            .binary_search_by_key(&id, |e| e.id)
            .ok()?;
        Some((s, e))
    }

    fn set_acked(&mut self, s: usize, e: usize, acked: bool) {
        let seg = &mut self.segments[s];
        seg.entries[e].acked = acked;
        if acked {
            seg.waiting -= 1;
            self.waiting -= 1;
        } else {
            seg.waiting += 1;
            self.waiting += 1;
        }
    }

    /// Creates the segment that starts with record `id`, holding `bytes`.
    fn start_segment(&mut self, id: u64, bytes: &[u8]) -> io::Result<()> {
        let path = self.dir.join(format!("{id:020}{SEGMENT_SUFFIX}"));
        let result = (|| {
            let mut file = OpenOptions::new()
                .append(true)
                .create_new(true)
                .open(&path)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            sync_dir(&self.dir)?;
            Ok(file)
        })();
        let file = result.map_err(|err| {
            let _ = fs::remove_file(&path);
            context(&self.dir, "cannot write new segment", &path, err)
        })?;
        self.active = Some(file);
        self.segments.push_back(Segment {
            first_id: id,
            path,
            len: 0,
            entries: Vec::new(),
            waiting: 0,
            corrupt_seen: 0,
        });
        self.collect_garbage();
        Ok(())
    }

    /// Deletes whole oldest segments while over `max_bytes` (never the newest one, which
    /// holds the record just pushed), counting their waiting records as dropped. A failure
    /// here is logged, not returned: the record was stored, and the next push tries again.
    fn enforce_bound(&mut self) {
        while self.stats().bytes > self.max_bytes && self.segments.len() > 1 {
            let Some(seg) = self.segments.pop_front() else {
                break;
            };
            self.dropped_total += seg.waiting;
            self.waiting -= seg.waiting;
            if let Err(err) = self.persist() {
                log::warn!("{err}");
                self.dropped_total -= seg.waiting;
                self.waiting += seg.waiting;
                self.segments.push_front(seg);
                break;
            }
            log::warn!(
                "spool {} is over max_bytes ({}): dropped {} unsent record(s) with {}",
                self.dir.display(),
                self.max_bytes,
                seg.waiting,
                seg.path.display()
            );
            self.remove_segment(&seg);
        }
    }

    /// Deletes the segments, other than the one being appended to, whose records are all
    /// acknowledged. The ledger saying so is already on disk; a failure is only logged since
    /// the next open deletes the file anyway. A segment that lost records stays until it is
    /// the oldest: its name bounds the ids counted as lost in the one before it. While the
    /// ledger on disk is behind, only the oldest go: a later open forgets what lies below
    /// the oldest segment, but would count a gap in the middle as lost.
    fn collect_garbage(&mut self) {
        let appending = usize::from(self.active.is_some());
        let mut i = 0;
        while i + appending < self.segments.len() {
            let seg = &self.segments[i];
            if seg.waiting == 0 && (i == 0 || (seg.corrupt_seen == 0 && !self.unsaved)) {
                if let Some(seg) = self.segments.remove(i) {
                    self.remove_segment(&seg);
                }
            } else {
                i += 1;
            }
        }
    }

    fn remove_segment(&self, seg: &Segment) {
        if let Err(err) = fs::remove_file(&seg.path).and_then(|()| sync_dir(&self.dir)) {
            log::warn!("{}", context(&self.dir, "cannot delete", &seg.path, err));
        }
    }

    /// The ledger for the current state.
    fn ledger(&self) -> Ledger {
        let entries = || self.segments.iter().flat_map(|s| &s.entries);
        let waiting_from = entries().find(|e| !e.acked).map_or(self.next_id, |e| e.id);
        Ledger {
            next_id: self.next_id,
            waiting_from,
            acked: entries()
                .filter(|e| e.acked && e.id > waiting_from)
                .map(|e| e.id)
                .collect(),
            dropped_total: self.dropped_total,
            corrupt_total: self.corrupt_total,
            corrupt_seen: self
                .segments
                .iter()
                .filter(|s| s.corrupt_seen > 0)
                .map(|s| (s.first_id, s.corrupt_seen))
                .collect(),
        }
    }

    fn persist(&mut self) -> io::Result<()> {
        let path = self.dir.join(LEDGER);
        let written = write_atomic(&path, self.ledger().encode().as_bytes());
        self.unsaved = written.is_err();
        written.map_err(|err| context(&self.dir, "cannot write", &path, err))
    }
}

/// Reads the ledger; a missing one is a new spool. On damage (unreadable, not UTF-8, bad
/// checksum) says why, with what can still be trusted from it.
fn read_ledger(path: &Path) -> Result<Ledger, (String, Ledger)> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Ledger::default()),
        Err(err) => return Err((err.to_string(), Ledger::default())),
    };
    let text = String::from_utf8_lossy(&bytes);
    Ledger::decode(&text).map_err(|why| (why, Ledger::salvage(&text)))
}

/// Moves a damaged file aside; says where it went, for the log line.
fn set_aside(path: &Path) -> String {
    match crate::fsutil::set_aside(path) {
        Ok(Some(aside)) => format!(", kept as {}", aside.display()),
        Ok(None) => String::new(),
        Err(err) => format!(" and cannot be moved aside ({err})"),
    }
}

/// How many records with ids in `first..end` are gone: neither in `found` nor
/// acknowledged according to the ledger.
fn lost_in(ledger: &Ledger, first: u64, end: u64, found: &[record::Located]) -> u64 {
    if end <= first {
        return 0;
    }
    let acked_below = ledger.waiting_from.clamp(first, end) - first;
    let acked_above = ledger
        .acked
        .iter()
        .filter(|id| (ledger.waiting_from.max(first)..end).contains(id))
        .count() as u64;
    let found_waiting = found
        .iter()
        .filter(|r| (first..end).contains(&r.id) && !ledger.is_acked(r.id))
        .count() as u64;
    (end - first)
        .saturating_sub(acked_below + acked_above)
        .saturating_sub(found_waiting)
}

/// Appends a whole record and flushes it to disk.
fn append(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)?;
    file.sync_data()
}

/// Takes the spool's lock, so that a second agent (or a second `Spool`) fails clearly
/// instead of interleaving writes.
fn lock(dir: &Path) -> io::Result<File> {
    let path = dir.join(LOCK);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|err| context(dir, "cannot create", &path, err))?;
    // A process forked by a previous holder keeps the lock until it calls exec: give it a
    // moment rather than failing at once.
    for attempt in 0.. {
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::WouldBlock && attempt < LOCK_ATTEMPTS {
            std::thread::sleep(std::time::Duration::from_millis(20));
            continue;
        }
        return Err(io::Error::new(
            err.kind(),
            format!(
                "spool {} is in use by another process (lock {}: {err}): \
                 stop the other grappe-agent or give each its own [spool] dir",
                dir.display(),
                path.display()
            ),
        ));
    }
    Ok(file)
}

/// The segment files of `dir`, oldest first. Other files are left alone.
fn segment_files(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(|err| context(dir, "cannot list", dir, err))? {
        let entry = entry.map_err(|err| context(dir, "cannot list", dir, err))?;
        let name = entry.file_name();
        let first_id = name
            .to_str()
            .and_then(|n| n.strip_suffix(SEGMENT_SUFFIX))
            .filter(|n| n.len() == 20)
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(first_id) = first_id {
            found.push((first_id, entry.path()));
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// Wraps an I/O error with the spool, the file, and what to do about it.
fn context(dir: &Path, what: &str, path: &Path, err: io::Error) -> io::Error {
    let hint = match err.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
            "the disk is full: free space on it (see what fills it with du); meanwhile the agent \
             delivers what it holds and drops the reports it cannot store, counted"
        }
        Some(libc::EROFS) => {
            "the file system is read-only: remount it read-write or point [spool] dir elsewhere"
        }
        Some(libc::EACCES) | Some(libc::EPERM) => {
            "the agent may not write there: fix the owner and permissions, or point [spool] dir elsewhere"
        }
        Some(libc::ENOTDIR) | Some(libc::ENOENT) => {
            "a parent of the path is missing or not a directory: fix [spool] dir in the config"
        }
        Some(libc::EFBIG) => "a file size limit was hit: check the service's LimitFSIZE",
        Some(libc::EIO) => {
            "the storage reported an I/O error: check it (dmesg) and consider replacing the card"
        }
        _ => "check the disk and the permissions of the spool directory",
    };
    io::Error::new(
        err.kind(),
        format!(
            "spool {}: {what} {}: {err}; {hint}",
            dir.display(),
            path.display()
        ),
    )
}
