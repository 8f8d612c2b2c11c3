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
#[path = "common/measure.rs"]
mod measure;

use measure::{measure, median, Usage};

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

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
    let sizes = measure::sizes(&[5_000]);
    let fleet = env!("CARGO_BIN_EXE_grappe-fleet");
    // The twelve months before the current one, oldest first.
    let months: Vec<String> = (1..=12).rev().map(common::month_before).collect();
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
            "{:<22} {:>8} {:>8} {:>8} {:>9} {:>10} {:>7}   target",
            "", "wall s", "cpu s", "sys s", "peak MiB", "out MiB", "files"
        );
        println!(
            "{:<22} {:>8.2} {:>8.2} {:>8.2} {:>9.1} {:>10.1} {:>7}   wall < 10 s, peak < 100 MiB",
            "grappe-fleet proof",
            proof.wall.as_secs_f64(),
            proof.cpu.as_secs_f64(),
            proof.sys.as_secs_f64(),
            proof.max_rss_kib as f64 / 1024.0,
            bytes as f64 / 1048576.0,
            files
        );
        println!(
            "{:<22} {:>8.2} {:>8.2} {:>8.2} {:>9.1} {:>10} {:>7}   -",
            "grappe-fleet verify",
            verify.wall.as_secs_f64(),
            verify.cpu.as_secs_f64(),
            verify.sys.as_secs_f64(),
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
