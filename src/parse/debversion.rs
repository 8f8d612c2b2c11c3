//! Debian version comparison, exactly as apt orders versions (`debVersioningSystem`).
//!
//! `[epoch:]upstream[-revision]`: the epoch compares first (a missing or all-zero epoch is
//! 0), then the upstream part, then the revision (a missing revision counts as `0`). Each
//! part alternates non-digit and digit runs: non-digits compare character by character
//! with `~` before everything (even the end of the string), then the end, then letters,
//! then other characters; digit runs compare as numbers.
//!
//! Why not a crate: `debversion` validates with regular expressions and refuses strings
//! apt accepts (and would pull `regex`, `chrono` and `num-bigint` onto the device), and
//! `deb-version` is unmaintained and slices by character index. apt's algorithm is forty
//! lines; it is followed here byte for byte, including how it treats a string's end, and
//! tested against `dpkg --compare-versions` on every version in this machine's lists.

use std::cmp::Ordering;

/// Compares two version strings the way apt does.
pub fn compare(a: &str, b: &str) -> Ordering {
    compare_bytes(a.as_bytes(), b.as_bytes())
}

/// [`compare`] on raw bytes (versions straight from a package list). A version ends at
/// a NUL byte, as apt's C strings do (a damaged list could hold one).
pub fn compare_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let upto_nul = |v: &[u8]| memchr::memchr(0, v).map_or(v.len(), |i| i);
    let (a, b) = (&a[..upto_nul(a)], &b[..upto_nul(b)]);
    if a == b {
        return Ordering::Equal;
    }
    let (a_epoch, a_rest) = split_epoch(a);
    let (b_epoch, b_rest) = split_epoch(b);
    let res = fragment(a_epoch, b_epoch);
    if res != 0 {
        return res.cmp(&0);
    }
    let (a_up, a_rev) = split_revision(a_rest);
    let (b_up, b_rev) = split_revision(b_rest);
    let res = fragment(a_up, b_up);
    if res != 0 {
        return res.cmp(&0);
    }
    // No revision is treated as "-0".
    let res = match (a_rev, b_rev) {
        (Some(x), Some(y)) => fragment(x, y),
        (Some(x), None) => fragment(x, b"0"),
        (None, Some(y)) => fragment(b"0", y),
        (None, None) => 0,
    };
    res.cmp(&0)
}

/// The epoch (leading zeros dropped; empty when absent or zero) and the rest.
fn split_epoch(v: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b':', v) {
        Some(colon) => {
            let zeros = v[..colon].iter().take_while(|&&c| c == b'0').count();
            (&v[zeros..colon], &v[colon + 1..])
        }
        None => (&[], v),
    }
}

/// Upstream version and revision (after the last `-`, if any). A `-` that starts the
/// part is no revision separator for apt (it only looks for one after the upstream part).
fn split_revision(v: &[u8]) -> (&[u8], Option<&[u8]>) {
    match memchr::memrchr(b'-', v) {
        Some(dash) if dash > 0 => (&v[..dash], Some(&v[dash + 1..])),
        Some(_) => (&[], None),
        None => (v, None),
    }
}

/// apt's `order()`: digits 0 (handled apart), letters their code, `~` -1, the end 0, any
/// other byte its code + 256. The byte is read as a C `char` so that the rare non-ASCII
/// byte sorts as apt sorts it on this architecture (signed on x86, unsigned on ARM).
fn order(c: u8) -> i32 {
    if c.is_ascii_digit() {
        0
    } else if c.is_ascii_alphabetic() {
        i32::from(c)
    } else if c == b'~' {
        -1
    } else if c != 0 {
        c as std::ffi::c_char as i32 + 256
    } else {
        0
    }
}

/// apt's `CmpFragment`: the sign of the result orders `a` against `b`.
fn fragment(a: &[u8], b: &[u8]) -> i32 {
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        while i < a.len() && j < b.len() && !(a[i].is_ascii_digit() && b[j].is_ascii_digit()) {
            let (x, y) = (order(a[i]), order(b[j]));
            if x != y {
                return x - y;
            }
            i += 1;
            j += 1;
        }
        while at(a, i) == b'0' {
            i += 1;
        }
        while at(b, j) == b'0' {
            j += 1;
        }
        let mut first_diff = 0;
        while at(a, i).is_ascii_digit() && at(b, j).is_ascii_digit() {
            if first_diff == 0 {
                first_diff = i32::from(a[i]) - i32::from(b[j]);
            }
            i += 1;
            j += 1;
        }
        if at(a, i).is_ascii_digit() {
            return 1;
        }
        if at(b, j).is_ascii_digit() {
            return -1;
        }
        if first_diff != 0 {
            return first_diff;
        }
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => 0,
        // The shorter one is older, unless what follows in the longer one is a `~`.
        (true, false) => {
            if b[j] == b'~' {
                1
            } else {
                -1
            }
        }
        (false, true) => {
            if a[i] == b'~' {
                -1
            } else {
                1
            }
        }
        (false, false) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn debian_policy_examples() {
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.0", "1.0+b1", Less),
            ("1.0-1", "1.0-1+deb12u1", Less),
            ("1:0.9", "2.0", Greater),
            ("0:1.0", "1.0", Equal),
            ("00:1.0", "1.0", Equal),
            ("1.0", "1.0-0", Equal),
            ("1.00", "1.0", Equal),
            ("1.0a", "1.0", Greater),
            ("1.0a", "1.0+", Less),
            ("2.36-9+deb12u9", "2.36-9+deb12u13", Less),
            ("5.2.15-2+b8", "5.2.15-2+b13", Less),
            ("20230311+deb12u1", "20250419~deb12u2", Less),
            ("1.2-3-4", "1.2-3-5", Less),
            ("9", "10", Less),
            ("a", "b", Less),
            ("", "0", Less),
            // A NUL ends the version (found by fuzzing: it made the order intransitive).
            ("2\0", "2", Equal),
            ("\0", "0", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    /// Every version found in this machine's dpkg database and apt lists, sorted with
    /// [`compare`]: each neighbouring pair must be in the same order for dpkg, which checks
    /// every version against the total order. dpkg's own Perl implementation
    /// (`Dpkg::Version`, libdpkg-perl) takes all the pairs in one process; a sample also
    /// goes through the `dpkg --compare-versions` binary.
    #[test]
    fn agrees_with_dpkg_on_every_version_of_this_machine() {
        use std::io::Write;
        let versions =
            crate::collect::patches::upgradable::all_versions(&crate::collect::Root::host());
        if versions.len() < 10 {
            return; // not a Debian system
        }
        let mut sorted: Vec<&str> = versions.iter().map(String::as_str).collect();
        sorted.sort_by(|a, b| compare(a, b));
        let pairs: Vec<(&str, &str, Ordering)> = sorted
            .windows(2)
            .map(|w| (w[0], w[1], compare(w[0], w[1])))
            .collect();
        let mut perl = std::process::Command::new("perl")
            .args([
                "-MDpkg::Version",
                "-ne",
                "chomp; my ($a, $b) = split /\\t/; print version_compare($a, $b), \"\\n\"",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("perl runs (with libdpkg-perl, from dpkg-dev)");
        let mut input = String::new();
        for (a, b, _) in &pairs {
            input.push_str(&format!("{a}\t{b}\n"));
        }
        perl.stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = perl.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "Dpkg::Version is installed (libdpkg-perl)"
        );
        let answers: Vec<i32> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect();
        assert_eq!(answers.len(), pairs.len());
        for ((a, b, ours), dpkg) in pairs.iter().zip(answers) {
            assert_eq!(*ours, dpkg.cmp(&0), "{a} vs {b}: dpkg says {dpkg}");
        }
        // The dpkg binary itself, one call per pair (some 20,000 on a Debian 12 machine:
        // half a minute, on as many threads as there are cores). Under emulation
        // (GRAPPE_TEST_RUNNER, see cross/test.sh) each call costs a fork of the emulator:
        // a sample spread over the whole order is checked there instead.
        let dpkg = |a: &str, op: &str, b: &str| {
            std::process::Command::new("dpkg")
                .args(["--compare-versions", a, op, b])
                .status()
                .expect("dpkg runs")
                .success()
        };
        let step = match std::env::var_os("GRAPPE_TEST_RUNNER") {
            Some(_) => (pairs.len() / 200).max(1),
            None => 1,
        };
        let checked: Vec<&(&str, &str, Ordering)> = pairs.iter().step_by(step).collect();
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let disagreements: Vec<String> = std::thread::scope(|scope| {
            let workers: Vec<_> = checked
                .chunks(checked.len().div_ceil(threads))
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .filter_map(|(a, b, ours)| {
                                let op = if *ours == Equal { "eq" } else { "lt" };
                                (!dpkg(a, op, b)).then(|| format!("{a} {op} {b}"))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("worker"))
                .collect()
        });
        assert!(
            disagreements.is_empty(),
            "dpkg --compare-versions disagrees: {disagreements:?}"
        );
        assert!(pairs.len() > 1000, "only {} versions found", versions.len());
    }
}
