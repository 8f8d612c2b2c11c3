use super::*;
use std::collections::BTreeSet;
use std::io::Read;
use std::process::{Command, Stdio};

const BIG: u64 = 1 << 20;
const TOPIC: &str = "grappe/v1/g/s/d/posture";
/// Set in a child process started by a test: the spool directory it works in.
const CHILD_ENV: &str = "GRAPPE_SPOOL_TEST_CHILD";

fn payload(n: u64) -> Vec<u8> {
    format!(
        "{{\"n\":{n},\"pad\":\"{}\"}}",
        "x".repeat((n * 37 % 200) as usize)
    )
    .into_bytes()
}

fn all(spool: &mut Spool) -> Vec<Record> {
    spool.read_after(None, usize::MAX).unwrap()
}

fn ids(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.id).collect()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    segment_files(dir)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

#[test]
fn round_trip_keeps_order_and_fields() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), BIG).unwrap();
    for n in 0..5 {
        spool.push(TOPIC, &payload(n), n % 2 == 0).unwrap();
    }
    drop(spool);
    let mut spool = Spool::open(dir.path(), BIG).unwrap();
    let got = all(&mut spool);
    assert_eq!(ids(&got), [1, 2, 3, 4, 5]);
    for (n, rec) in got.iter().enumerate() {
        let n = n as u64;
        assert_eq!(
            (rec.topic.as_str(), rec.retain),
            (TOPIC, n.is_multiple_of(2))
        );
        assert_eq!(rec.payload, payload(n));
    }
    assert_eq!(ids(&spool.read_after(Some(2), 2).unwrap()), [3, 4]);
    assert_eq!(
        ids(&spool.read_after(Some(5), 2).unwrap()),
        Vec::<u64>::new()
    );
    assert!(spool.read_after(Some(u64::MAX), 2).unwrap().is_empty());
    let stats = spool.stats();
    assert_eq!(
        (stats.records, stats.dropped_total, stats.corrupt_total),
        (5, 0, 0)
    );
    assert_eq!(
        stats.bytes,
        fs::metadata(&segments(dir.path())[0]).unwrap().len()
    );
}

#[test]
fn ids_keep_increasing_across_reopen_and_after_the_spool_was_emptied() {
    let dir = tempfile::tempdir().unwrap();
    let mut last = 0;
    for round in 0..3 {
        // One record per segment: acking all of them leaves no segment file at all.
        let mut spool = Spool::open_with(dir.path(), BIG, 1).unwrap();
        for _ in 0..3 {
            let id = spool.push(TOPIC, b"{}", false).unwrap();
            assert!(id > last, "round {round}: {id} after {last}");
            last = id;
        }
        for rec in all(&mut spool) {
            spool.ack(rec.id).unwrap();
        }
        assert_eq!(spool.stats().records, 0);
        drop(spool);
        let spool = Spool::open_with(dir.path(), BIG, 1).unwrap();
        assert_eq!(spool.stats().records, 0);
        drop(spool);
        assert_eq!(segments(dir.path()), Vec::<PathBuf>::new(), "round {round}");
    }
    assert_eq!(last, 9);
}

#[test]
fn out_of_order_acks_survive_reopen_and_free_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open_with(dir.path(), BIG, 1).unwrap();
    for n in 0..10 {
        spool.push(TOPIC, &payload(n), false).unwrap();
    }
    for id in [2, 5, 3, 9, 1, 5, 999, 0] {
        spool.ack(id).unwrap();
    }
    let waiting = [4, 6, 7, 8, 10];
    assert_eq!(ids(&all(&mut spool)), waiting);
    assert_eq!(spool.stats().records, 5);
    // Fully acknowledged segments are gone, the others stay.
    let firsts: Vec<u64> = segment_files(dir.path())
        .unwrap()
        .iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(firsts, waiting);
    drop(spool);

    let mut spool = Spool::open_with(dir.path(), BIG, 1).unwrap();
    assert_eq!(ids(&all(&mut spool)), waiting);
    assert_eq!(ids(&spool.read_after(Some(6), 2).unwrap()), [7, 8]);
    spool.ack(7).unwrap();
    drop(spool);
    let mut spool = Spool::open(dir.path(), BIG).unwrap();
    assert_eq!(ids(&all(&mut spool)), [4, 6, 8, 10]);
    assert_eq!(spool.push(TOPIC, b"{}", false).unwrap(), 11);
}

#[test]
fn over_max_bytes_the_oldest_are_dropped_and_counted_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let max = 2000;
    let mut spool = Spool::open(dir.path(), max).unwrap();
    assert_eq!(spool.segment_bytes, 250);
    let mut pushed = Vec::new();
    for n in 0..60 {
        pushed.push(spool.push(TOPIC, &payload(n % 3), false).unwrap());
        assert!(
            spool.stats().bytes <= max,
            "after push {n}: {:?}",
            spool.stats()
        );
        if n == 5 {
            spool.ack(1).unwrap(); // acked, so not counted as dropped
        }
    }
    let stats = spool.stats();
    let kept = ids(&all(&mut spool));
    assert!(kept.len() > 10, "{kept:?}");
    assert_eq!(
        kept[..],
        pushed[pushed.len() - kept.len()..],
        "the newest are kept"
    );
    assert_eq!(stats.records, kept.len() as u64);
    assert_eq!(stats.dropped_total, 60 - 1 - kept.len() as u64);
    drop(spool);
    let spool = Spool::open(dir.path(), max).unwrap();
    assert_eq!(spool.stats(), stats);
}

#[test]
fn a_record_larger_than_max_bytes_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 1000).unwrap();
    spool.push(TOPIC, b"{}", false).unwrap();
    let err = spool.push(TOPIC, &[b'x'; 1000], false).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("max_bytes"), "{err}");
    assert_eq!(ids(&all(&mut spool)), [1]);
    assert_eq!(spool.push(TOPIC, b"{}", false).unwrap(), 2);
    assert!(Spool::open(&dir.path().join("zero"), 0).is_err());
}

/// Writes three records in one segment and returns the directory, the segment's bytes and
/// where each record starts.
fn three_records() -> (tempfile::TempDir, Vec<u8>, Vec<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), BIG).unwrap();
    for n in 0..3 {
        spool.push(TOPIC, &payload(n + 1), false).unwrap();
    }
    let starts = spool.segments[0].entries.iter().map(|e| e.offset).collect();
    drop(spool);
    let bytes = fs::read(&segments(dir.path())[0]).unwrap();
    (dir, bytes, starts)
}

/// A fresh spool directory holding only `bytes` as its one segment.
fn spool_with_segment(bytes: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(format!("{:020}{SEGMENT_SUFFIX}", 1)), bytes).unwrap();
    dir
}

#[test]
fn a_torn_tail_at_every_offset_costs_at_most_the_torn_record() {
    let (_orig, bytes, starts) = three_records();
    for cut in 0..=bytes.len() as u64 {
        let dir = spool_with_segment(&bytes[..cut as usize]);
        let whole: Vec<u64> = (1..=3u64)
            .filter(|&id| {
                starts
                    .get(id as usize)
                    .copied()
                    .unwrap_or(bytes.len() as u64)
                    <= cut
            })
            .collect();
        let torn = u64::from(!starts.contains(&cut) && cut != bytes.len() as u64);
        let mut spool = Spool::open(dir.path(), BIG).unwrap();
        let got = all(&mut spool);
        assert_eq!(ids(&got), whole, "cut at {cut}");
        assert_eq!(spool.stats().corrupt_total, torn, "cut at {cut}");
        let id = spool.push(TOPIC, b"after", false).unwrap();
        assert_eq!(id, whole.last().unwrap_or(&0) + 1, "cut at {cut}");
        drop(spool);
        let mut spool = Spool::open(dir.path(), BIG).unwrap();
        let got = all(&mut spool);
        assert_eq!(
            got.last().map(|r| r.payload.as_slice()),
            Some(&b"after"[..])
        );
        assert_eq!(ids(&got).len(), whole.len() + 1, "cut at {cut}");
        assert_eq!(
            spool.stats().corrupt_total,
            torn,
            "cut at {cut}: counted once"
        );
    }
}

#[test]
fn a_damaged_record_is_skipped_counted_once_and_the_next_ones_delivered() {
    let (_orig, bytes, starts) = three_records();
    let second = starts[1] as usize;
    let places = [
        ("magic", second),
        ("id", second + 6),
        ("topic length", second + 12),
        ("payload length", second + 17),
        ("header checksum", second + 25),
        ("topic", second + record::HEADER_LEN + 2),
        ("payload", starts[2] as usize - 3),
    ];
    for (what, at) in places {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x24;
        let dir = spool_with_segment(&damaged);
        let mut spool = Spool::open(dir.path(), BIG).unwrap();
        assert_eq!(ids(&all(&mut spool)), [1, 3], "{what}");
        assert_eq!(spool.stats().corrupt_total, 1, "{what}");
        assert_eq!(all(&mut spool)[1].payload, payload(3), "{what}");
        spool.push(TOPIC, b"more", false).unwrap();
        drop(spool);
        let mut spool = Spool::open(dir.path(), BIG).unwrap();
        assert_eq!(ids(&all(&mut spool)), [1, 3, 4], "{what}");
        assert_eq!(spool.stats().corrupt_total, 1, "{what}: not counted again");
    }
}

#[test]
fn damage_found_while_reading_is_skipped_and_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), BIG).unwrap();
    for n in 0..3 {
        spool.push(TOPIC, &payload(n), false).unwrap();
    }
    let seg = &spool.segments[0];
    let at = seg.entries[1].offset + seg.entries[1].len - 1;
    let file = OpenOptions::new().write(true).open(&seg.path).unwrap();
    file.write_all_at(b"!", at).unwrap();
    assert_eq!(ids(&all(&mut spool)), [1, 3]);
    assert_eq!(spool.stats().corrupt_total, 1);
    assert_eq!(spool.stats().records, 2);
    drop(spool);
    let spool = Spool::open(dir.path(), BIG).unwrap();
    assert_eq!(spool.stats().corrupt_total, 1);
}

#[test]
fn a_damaged_ledger_is_survived() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), BIG).unwrap();
    spool.push(TOPIC, b"1", false).unwrap();
    spool.push(TOPIC, b"2", false).unwrap();
    spool.ack(1).unwrap();
    drop(spool);
    fs::write(dir.path().join(LEDGER), "garbage").unwrap();
    let mut spool = Spool::open(dir.path(), BIG).unwrap();
    // Acks were lost: both are sent again (at-least-once), but ids still increase.
    assert_eq!(ids(&all(&mut spool)), [1, 2]);
    assert_eq!(spool.push(TOPIC, b"3", false).unwrap(), 3);
}

#[test]
fn any_damage_to_the_ledger_is_survived_counted_and_ids_never_go_back() {
    let dir = tempfile::tempdir().unwrap();
    // One record per segment, so that acknowledged ones are all deleted.
    let one = record::encoded_len(TOPIC, b"x");
    let open = |dir: &Path| Spool::open_with(dir, BIG, one).unwrap();
    let mut spool = open(dir.path());
    for _ in 1..=5 {
        spool.push(TOPIC, b"x", false).unwrap();
    }
    for id in 1..=5 {
        spool.ack(id).unwrap();
    }
    drop(spool);
    drop(open(dir.path()));
    assert!(
        segments(dir.path()).is_empty(),
        "only the ledger knows the ids"
    );
    let good = fs::read(dir.path().join(LEDGER)).unwrap();
    // Every single bit flip, some making the file invalid UTF-8; then a directory.
    for bit in (0..good.len() * 8).step_by(7) {
        let mut bad = good.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        fs::write(dir.path().join(LEDGER), &bad).unwrap();
        let mut spool = open(dir.path());
        let damaged = !spool.take_problems().is_empty();
        let id = spool.push(TOPIC, b"x", false).unwrap();
        assert!(id >= 6, "bit {bit}: id {id} used again");
        if damaged {
            assert!(spool.stats().corrupt_total >= 1, "bit {bit}");
        }
        spool.ack(id).unwrap();
        drop(spool);
        fs::write(dir.path().join(LEDGER), &good).unwrap();
    }
    fs::remove_file(dir.path().join(LEDGER)).unwrap();
    fs::create_dir(dir.path().join(LEDGER)).unwrap();
    let mut spool = open(dir.path());
    assert_eq!(spool.take_problems().len(), 1);
    let id = spool.push(TOPIC, b"y", false).unwrap();
    spool.ack(id).unwrap(); // the ledger can be written again
}

/// A spool of 12 records in 4 segments of 3, none acknowledged.
fn four_segments() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let one = record::encoded_len(TOPIC, &payload(1));
    let mut spool = Spool::open_with(dir.path(), BIG, 3 * one).unwrap();
    for _ in 1..=12 {
        spool.push(TOPIC, &payload(1), false).unwrap();
    }
    assert_eq!(segments(dir.path()).len(), 4);
    dir
}

fn reopen(dir: &Path) -> Spool {
    let one = record::encoded_len(TOPIC, &payload(1));
    Spool::open_with(dir, BIG, 3 * one).unwrap()
}

#[test]
fn every_record_lost_with_a_damaged_segment_is_counted_once() {
    let one = record::encoded_len(TOPIC, &payload(1));
    // Cut inside its first record, or emptied; an older segment and the newest.
    let damages = [("cut inside a record", one / 2), ("truncated to zero", 0)];
    for (what, cut) in damages {
        for which in [1, 3] {
            let dir = four_segments();
            let file = OpenOptions::new()
                .write(true)
                .open(&segments(dir.path())[which])
                .unwrap();
            file.set_len(cut).unwrap();
            let mut spool = reopen(dir.path());
            assert_eq!(spool.stats().corrupt_total, 3, "{what}, segment {which}");
            assert_eq!(spool.stats().records, 9, "{what}, segment {which}");
            let lost: Vec<u64> = (which as u64 * 3 + 1..=which as u64 * 3 + 3).collect();
            let left = ids(&all(&mut spool));
            assert!(lost.iter().all(|id| !left.contains(id)), "{what}: {left:?}");
            assert!(!spool.take_problems().is_empty());
            let id = spool.push(TOPIC, b"next", false).unwrap();
            assert_eq!(id, 13, "{what}, segment {which}: ids never go back");
            drop(spool);
            let spool = reopen(dir.path());
            assert_eq!(
                spool.stats().corrupt_total,
                3,
                "{what}, segment {which}: counted once"
            );
        }
    }
}

#[test]
fn a_stray_segment_file_does_not_stop_acknowledgements() {
    let dir = four_segments();
    // An empty file named above every id, and junk named below.
    fs::write(dir.path().join(format!("{:020}{SEGMENT_SUFFIX}", 500)), b"").unwrap();
    let mut spool = reopen(dir.path());
    let id = spool.push(TOPIC, b"new", false).unwrap();
    assert!(id >= 500, "{id}: below the stray file's name");
    for r in all(&mut spool) {
        spool.ack(r.id).unwrap();
    }
    assert_eq!(spool.stats().records, 0);
    drop(spool);
    let spool = reopen(dir.path());
    assert_eq!(spool.stats().records, 0, "every ack was recorded");
}

#[test]
fn a_spool_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Spool::open(dir.path(), BIG).unwrap();
    let err = Spool::open(dir.path(), BIG).err().unwrap();
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
}

#[test]
fn io_errors_name_the_file_and_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    fs::write(&file, "x").unwrap();
    // Tests run as root: a path under a regular file cannot be created by anyone.
    let err = Spool::open(&file.join("spool"), BIG).err().unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains(&file.join("spool").display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("fix [spool] dir"), "{msg}");

    // The directory disappears under a running spool: pushes and acks fail cleanly.
    let spool_dir = dir.path().join("spool");
    let mut spool = Spool::open_with(&spool_dir, BIG, 1).unwrap();
    spool.push(TOPIC, b"1", false).unwrap();
    fs::remove_dir_all(&spool_dir).unwrap();
    fs::write(&spool_dir, "not a directory").unwrap();
    let err = spool.push(TOPIC, b"2", false).unwrap_err();
    assert!(
        err.to_string().contains("cannot write new segment"),
        "{err}"
    );
    let err = spool.ack(1).unwrap_err();
    assert!(err.to_string().contains("ledger"), "{err}");
    // Kept in memory, so that delivery goes on (a restart would send it again).
    assert_eq!(spool.stats().records, 0);
    assert!(spool.read_after(None, 10).unwrap().is_empty());
}

/// The name libtest knows a test of this module by.
fn test_name(name: &str) -> String {
    let module = module_path!().split_once("::").map_or("", |m| m.1);
    format!("{module}::{name}")
}

/// A command that runs this test binary again. Under qemu-user without binfmt_misc a
/// foreign binary cannot be exec'd directly, so the emulator that `cross/test.sh` names in
/// `GRAPPE_TEST_RUNNER` (as in tests/common) comes first when it is set.
fn this_test_binary() -> Command {
    let exe = std::env::current_exe().unwrap();
    let runner = std::env::var("GRAPPE_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(emulator) => {
            let mut cmd = Command::new(emulator);
            cmd.args(words).arg(exe);
            cmd
        }
        None => Command::new(exe),
    }
}

/// Runs `name` again in a child process of this test binary, with [`CHILD_ENV`] set.
fn spawn_child(name: &str, dir: &Path) -> std::process::Child {
    this_test_binary()
        .args([
            "--exact",
            &test_name(name),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn sigkill_at_any_moment_loses_no_record_whose_push_returned() {
    const SEGMENT: u64 = 2048;
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        // The child: push (and ack every third) forever, saying so once each call returned.
        let mut spool = Spool::open_with(Path::new(&dir), BIG, SEGMENT).unwrap();
        let mut out = io::stdout();
        for n in fastrand::u64(..1 << 40).. {
            let id = spool.push(TOPIC, &payload(n), n % 5 == 0).unwrap();
            writeln!(out, "pushed {id} {n}").unwrap();
            if id.is_multiple_of(3) {
                spool.ack(id).unwrap();
                writeln!(out, "acked {id}").unwrap();
            }
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut pushed = std::collections::BTreeMap::new();
    let mut acked = BTreeSet::new();
    for round in 0..6 {
        let mut child = spawn_child(
            "sigkill_at_any_moment_loses_no_record_whose_push_returned",
            dir.path(),
        );
        // The kill comes at a random moment once the child is pushing: under qemu-user
        // (or on a busy machine) merely starting it can take most of a short delay.
        let mut stdout = io::BufReader::new(child.stdout.take().unwrap());
        let mut text = String::new();
        io::BufRead::read_line(&mut stdout, &mut text).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(fastrand::u64(40..400)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        stdout.read_to_string(&mut text).unwrap();
        // A line cut by the kill does not count: the push may not have been reported.
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        for line in complete.lines() {
            let words: Vec<&str> = line.split(' ').collect();
            match words[..] {
                ["pushed", id, n] => {
                    pushed.insert(id.parse::<u64>().unwrap(), n.parse::<u64>().unwrap());
                }
                ["acked", id] => {
                    acked.insert(id.parse::<u64>().unwrap());
                }
                _ => {}
            }
        }
        let last_pushed = pushed.keys().next_back().copied();
        let mut spool = Spool::open_with(dir.path(), BIG, SEGMENT).unwrap();
        let got = all(&mut spool);
        let present: BTreeSet<u64> = got.iter().map(|r| r.id).collect();
        assert!(
            ids(&got).windows(2).all(|w| w[0] < w[1]),
            "round {round}: order"
        );
        for rec in &got {
            let text = String::from_utf8(rec.payload.clone()).unwrap();
            let n: u64 = text[5..text.find(',').unwrap()].parse().unwrap();
            assert_eq!(rec.payload, payload(n), "round {round}: record {}", rec.id);
            assert_eq!(rec.retain, n.is_multiple_of(5));
            if let Some(&printed) = pushed.get(&rec.id) {
                assert_eq!(printed, n, "round {round}: record {}", rec.id);
            }
        }
        // The kill may have come after the last ack was stored but before it was reported.
        if let Some(id) = last_pushed.filter(|id| id % 3 == 0 && !present.contains(id)) {
            acked.insert(id);
        }
        for id in pushed.keys().filter(|id| !acked.contains(id)) {
            assert!(present.contains(id), "round {round}: pushed {id} is lost");
        }
        for id in &acked {
            assert!(!present.contains(id), "round {round}: acked {id} came back");
        }
        assert_eq!(spool.stats().dropped_total, 0);
    }
    assert!(
        pushed.len() > 20,
        "the child hardly ran: {} pushes",
        pushed.len()
    );
}

#[test]
fn a_write_cut_short_returns_an_error_and_keeps_what_was_stored() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        // The child: limit the file size so the next append is cut short (EFBIG), the way a
        // full disk cuts it (ENOSPC).
        let mut spool = Spool::open(Path::new(&dir), BIG).unwrap();
        for n in 0..3 {
            spool.push(TOPIC, &payload(n), false).unwrap();
        }
        let len = spool.stats().bytes;
        // rlim_t is 32 bits on armv7 (the limit here is a few hundred bytes).
        let set_limit = |cur: libc::rlim_t| {
            let lim = libc::rlimit {
                rlim_cur: cur,
                rlim_max: libc::RLIM_INFINITY,
            };
            // SAFETY: plain system calls on this process with valid arguments.
            unsafe {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
            }
        };
        set_limit(libc::rlim_t::try_from(len + 40).unwrap());
        let err = spool.push(TOPIC, &payload(3), false).unwrap_err();
        assert!(err.to_string().contains("cannot append to"), "{err}");
        assert_eq!(spool.stats().bytes, len);
        set_limit(libc::RLIM_INFINITY);
        assert_eq!(spool.push(TOPIC, &payload(4), false).unwrap(), 4);
        drop(spool);
        let mut spool = Spool::open(Path::new(&dir), BIG).unwrap();
        let got = all(&mut spool);
        assert_eq!(ids(&got), [1, 2, 3, 4]);
        assert_eq!(got[3].payload, payload(4));
        assert_eq!(spool.stats().corrupt_total, 0);
        println!("child ok");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let child = spawn_child(
        "a_write_cut_short_returns_an_error_and_keeps_what_was_stored",
        dir.path(),
    );
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("child ok"), "{text}");
}

/// Not a check: prints what a push and an ack cost on this machine's disk. Run it on a device
/// with `cargo test --lib spool::tests::measure -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_push_and_ack_cost() {
    let dir = tempfile::tempdir_in(std::env::var("SPOOL_BENCH_DIR").unwrap_or(".".into())).unwrap();
    let mut spool = Spool::open(dir.path(), 16 << 20).unwrap();
    let report = vec![b'x'; 4096];
    let n = 500;
    let start = std::time::Instant::now();
    for _ in 0..n {
        spool.push(TOPIC, &report, true).unwrap();
    }
    let push = start.elapsed() / n;
    let start = std::time::Instant::now();
    let batch = spool.read_after(None, n as usize).unwrap();
    let read = start.elapsed() / n;
    let start = std::time::Instant::now();
    for rec in batch.iter().rev() {
        spool.ack(rec.id).unwrap(); // reverse order: the worst case for the ledger
    }
    let ack = start.elapsed() / n;
    let start = std::time::Instant::now();
    drop(spool);
    let spool = Spool::open(dir.path(), 16 << 20).unwrap();
    println!(
        "4 KiB records: push {push:?}, read {read:?}, ack {ack:?} each; reopen {:?}; {:?}",
        start.elapsed(),
        spool.stats()
    );
}
