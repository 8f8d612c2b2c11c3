//! `grappe-fleet proof` over the last twelve months of a simulated fleet of 5,000 devices
//! in 250 structures (60,000 signed usage reports, each checked against the grappe CA),
//! then `grappe-fleet verify` on what it wrote. Prints wall time, CPU (user + system) and
//! peak RSS: for `proof` the median wall time of three runs and the largest peak, with the
//! size of the proof; the targets beside.
//!
//!     cargo bench --features fleet --bench fleet_proof [-- 5000]
//!
//! A size given is the number of devices, in devices / 20 structures.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the kernel accounted for one run of a command (and the children it waited for).
#[derive(Clone, Copy)]
struct Usage {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: u64,
}

fn measure(command: &mut Command) -> Usage {
    let start = Instant::now();
    // Reaped below by wait4, which std's Child::wait cannot replace: it gives no rusage.
    #[allow(clippy::zombie_processes)]
    let child = command.stdout(Stdio::null()).spawn().unwrap();
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(pid, child.id() as i32);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{command:?} failed ({status})"
    );
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Usage {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss as u64,
    }
}

fn median(mut runs: Vec<Usage>) -> Usage {
    runs.sort_by_key(|u| u.wall);
    let mut m = runs[runs.len() / 2];
    m.max_rss_kib = runs.iter().map(|u| u.max_rss_kib).max().unwrap();
    m
}

/// The twelve months before the current one (UTC), oldest first.
fn last_twelve_months() -> Vec<String> {
    let today = time::OffsetDateTime::now_utc().date();
    let (mut y, mut m) = (today.year(), today.month() as u8);
    let mut months = Vec::new();
    for _ in 0..12 {
        (y, m) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
        months.push(format!("{y:04}-{m:02}"));
    }
    months.reverse();
    months
}

/// Bytes and number of the files under `dir`, and how many are usage reports.
fn tree(dir: &Path) -> (u64, usize, usize) {
    let (mut bytes, mut files, mut reports) = (0, 0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                bytes += meta.len();
                files += 1;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with("usage-") && name.ends_with(".json") {
                    reports += 1;
                }
            }
        }
    }
    (bytes, files, reports)
}

/// How many rows of `equipment.json` have each signature state.
fn signature_states(
    value: &serde_json::Value,
    counts: &mut std::collections::BTreeMap<String, usize>,
) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(state) = map.get("signature").and_then(|s| s["state"].as_str()) {
                *counts.entry(state.to_string()).or_default() += 1;
            }
            map.values().for_each(|v| signature_states(v, counts));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| signature_states(v, counts)),
        _ => {}
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() { vec![5_000] } else { sizes };
    let fleet = env!("CARGO_BIN_EXE_grappe-fleet");
    let months = last_twelve_months();
    let (from, to) = (&months[0], &months[months.len() - 1]);
    for &n in &sizes {
        let structures = (n / 20).max(1);
        let tmp = tempfile::tempdir().unwrap();
        let broker = common::sim::SimBroker::start(tmp.path());
        let start = Instant::now();
        let published = common::sim::publish_usage_history(&broker, n, structures, &months);
        println!(
            "{n} devices in {structures} structures, {from} to {to}: {published} signed usage \
             reports published in {:.1} s (broker RSS {:.0} MiB)",
            start.elapsed().as_secs_f64(),
            broker.rss_kib() as f64 / 1024.0
        );
        let config = broker.fleet_toml.to_str().unwrap();
        let outs: Vec<_> = (0..3)
            .map(|k| tmp.path().join(format!("proof-{k}")))
            .collect();
        let runs: Vec<Usage> = outs
            .iter()
            .map(|out| {
                measure(Command::new(fleet).args([
                    "proof",
                    "--from",
                    from,
                    "--to",
                    to,
                    "--config",
                    config,
                    "--out",
                    out.to_str().unwrap(),
                    "--generated-at",
                    "2026-12-01T00:00:00Z",
                    "--timeout",
                    "600s",
                ]))
            })
            .collect();
        let walls: Vec<String> = runs
            .iter()
            .map(|u| format!("{:.2}", u.wall.as_secs_f64()))
            .collect();
        let proof = median(runs);
        let (bytes, files, reports) = tree(&outs[0]);
        assert_eq!(
            reports, published,
            "every report is in the proof's evidence"
        );
        let json = std::fs::read(outs[0].join("equipment.json")).unwrap();
        let mut states = std::collections::BTreeMap::new();
        signature_states(&serde_json::from_slice(&json).unwrap(), &mut states);
        assert_eq!(
            states,
            [("signed".to_string(), published)].into(),
            "every report's signature checks out"
        );
        let sums = |out: &Path| std::fs::read(out.join("SHA256SUMS")).unwrap();
        let same = outs[1..].iter().all(|o| sums(o) == sums(&outs[0]));
        let verify = measure(Command::new(fleet).args(["verify", outs[0].to_str().unwrap()]));

        println!(
            "{:<22} {:>8} {:>8} {:>9} {:>10} {:>7}   target",
            "", "wall s", "cpu s", "peak MiB", "out MiB", "files"
        );
        println!(
            "{:<22} {:>8.2} {:>8.2} {:>9.1} {:>10.1} {:>7}   wall < 10 s, peak < 100 MiB",
            "grappe-fleet proof",
            proof.wall.as_secs_f64(),
            proof.cpu.as_secs_f64(),
            proof.max_rss_kib as f64 / 1024.0,
            bytes as f64 / 1048576.0,
            files
        );
        println!(
            "{:<22} {:>8.2} {:>8.2} {:>9.1} {:>10} {:>7}   -",
            "grappe-fleet verify",
            verify.wall.as_secs_f64(),
            verify.cpu.as_secs_f64(),
            verify.max_rss_kib as f64 / 1024.0,
            "-",
            "-"
        );
        println!(
            "proof: walls {} s; {bytes} bytes; {reports} reports in evidence; the three \
             SHA256SUMS {}; broker RSS {:.0} MiB",
            walls.join(" / "),
            if same { "identical" } else { "DIFFER" },
            broker.rss_kib() as f64 / 1024.0
        );
        let mib = |rel: &str| {
            let path = outs[0].join(rel);
            let bytes = if path.is_dir() {
                tree(&path).0
            } else {
                std::fs::metadata(&path).map_or(0, |m| m.len())
            };
            format!("{rel} {:.1}", bytes as f64 / 1048576.0)
        };
        let parts = [
            "evidence",
            "equipment.csv",
            "equipment.json",
            "equipment.html",
        ];
        println!(
            "proof's MiB: {}, SHA256SUMS {:.1}; load average {}",
            parts.map(mib).join(", "),
            std::fs::metadata(outs[0].join("SHA256SUMS")).unwrap().len() as f64 / 1048576.0,
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split(' ')
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
        let over = proof.wall > Duration::from_secs(10) || proof.max_rss_kib > 100 * 1024;
        if over {
            println!("proof is OVER its target (10 s, 100 MiB)");
        }
    }
}
