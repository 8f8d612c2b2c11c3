//! `grappe-fleet status` on simulated fleets of 500, 5,000 and 20,000 devices, beside the
//! naive reader (every retained topic through `mosquitto_sub` into a Python script,
//! benches/naive_status.py), both over TLS with an operator certificate on the same
//! broker in the same run. Prints wall time, CPU (user + system) and peak RSS, the median
//! of three runs each.
//!
//!     cargo bench --features fleet --bench fleet_status [-- 500 5000 20000]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "common/measure.rs"]
mod measure;

use measure::{measure, median};

use std::process::Command;

fn main() {
    let sizes = measure::sizes(&[500, 5_000, 20_000]);
    let fleet = env!("CARGO_BIN_EXE_grappe-fleet");
    let naive = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/naive_status.py");
    let templates = common::sim::templates();
    println!(
        "{:>7} {:<26} {:>8} {:>8} {:>8} {:>9} {:>10}",
        "devices", "reader", "wall s", "cpu s", "sys s", "peak MiB", "MiB read"
    );
    let mut rows = Vec::new();
    for &n in &sizes {
        let tmp = tempfile::tempdir().unwrap();
        let broker = common::sim::SimBroker::start(tmp.path());
        let truth = common::sim::publish(broker.plain_port, n, (n / 20).max(1), &templates);
        let config = broker.fleet_toml.to_str().unwrap();
        let ours = median(
            (0..3)
                .map(|_| {
                    measure(Command::new(fleet).args(["status", "--json", "--config", config]))
                })
                .collect(),
        );
        // The same read, checked once: every device is there.
        let out = Command::new(fleet)
            .args(["status", "--json", "--config", config])
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["counts"]["devices"], n, "grappe-fleet saw every device");

        let sub = format!(
            "mosquitto_sub -h localhost -p {} --cafile {} --cert {} --key {} \
             -t 'grappe/v1/{}/#' -v --retained-only -C {} | python3 {naive}",
            broker.tls_port,
            broker.ca.display(),
            broker.operator.cert.display(),
            broker.operator.key.display(),
            common::sim::GRAPPE,
            truth.topics
        );
        let theirs = median(
            (0..3)
                .map(|_| measure(Command::new("sh").args(["-c", &sub])))
                .collect(),
        );
        for (name, u) in [
            ("grappe-fleet status", ours),
            ("mosquitto_sub | python3", theirs),
        ] {
            println!(
                "{n:>7} {name:<26} {:>8.2} {:>8.2} {:>8.2} {:>9.1} {:>10}",
                u.wall.as_secs_f64(),
                u.cpu.as_secs_f64(),
                u.sys.as_secs_f64(),
                u.max_rss_kib as f64 / 1024.0,
                if name.starts_with("mosq") {
                    format!("{:.0}", truth.bytes as f64 / 1048576.0)
                } else {
                    "-".into()
                }
            );
        }
        println!(
            "{n:>7} {:<26} {:>8.1}x {:>7.1}x   (broker RSS {:.0} MiB, {} topics)",
            "naive / grappe-fleet",
            theirs.wall.as_secs_f64() / ours.wall.as_secs_f64(),
            theirs.cpu.as_secs_f64() / ours.cpu.as_secs_f64().max(1e-6),
            broker.rss_kib() as f64 / 1024.0,
            truth.topics
        );
        rows.push((n, ours));
    }
    if let (Some((n0, first)), Some((n1, last))) = (rows.first(), rows.last()) {
        if n1 > n0 {
            let per_device =
                (last.max_rss_kib as f64 - first.max_rss_kib as f64) / (n1 - n0) as f64;
            println!(
                "grappe-fleet status memory growth: {per_device:.2} KiB per device ({n0} -> {n1})"
            );
        }
    }
}
