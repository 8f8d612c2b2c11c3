//! End to end: the signed self-update on the real agent binary, against a real HTTPS file
//! server (made here, on loopback, behind its own CA) and a real Mosquitto.
//!
//! A second version of the agent is the same binary behind a small script that sets
//! `GRAPPE_AGENT_PRETEND_VERSION`, packed and signed as `grappe-fleet release` does. The
//! packaged binary is played by a script too (`GRAPPE_AGENT_LAUNCHER` points at it), so
//! that the hand-over and the rollback go through the same exec as on a device.

mod common;

use common::https::{server_pki, FileServer};
use common::*;
use grappe_agent::fleet::release;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const DEVICE: &str = "dev-up";
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// The version under test and the ones around it.
fn version(minor_step: i64) -> String {
    let v = semver::Version::parse(env!("CARGO_PKG_VERSION")).unwrap();
    format!("{}.{}.0", v.major, v.minor as i64 + minor_step)
}

/// One device, its broker, the grappe's file server and the release key.
struct Rig {
    world: World,
    releases: PathBuf,
    server: FileServer,
    key: zipsign_api::SigningKey,
    other_key: zipsign_api::SigningKey,
    launcher: PathBuf,
    config: PathBuf,
}

impl Rig {
    fn new() -> Rig {
        Rig::with_update("")
    }

    /// `extra` is added to the `[update]` section.
    fn with_update(extra: &str) -> Rig {
        let world = World::new(&[DEVICE]);
        let releases = world.path("releases");
        std::fs::create_dir_all(&releases).unwrap();
        let tls = server_pki(&world.path(""));
        let server = FileServer::start(&releases, &tls.cert_pem, &tls.key_pem);
        let keys = release::keygen(&world.path("keys")).unwrap();
        let (key, _) = release::read_signing_key(&keys.key).unwrap();
        let other = release::keygen(&world.path("other-keys")).unwrap();
        let (other_key, _) = release::read_signing_key(&other.key).unwrap();
        let launcher = world.path("packaged-grappe-agent");
        write_script(
            &launcher,
            "unset GRAPPE_AGENT_PRETEND_VERSION\n",
            env!("CARGO_BIN_EXE_grappe-agent"),
        );
        let config = world.agent_config(
            DEVICE,
            &format!(
                "\n[update]\nenabled = true\nmanifest_url = {:?}\npublic_key = {:?}\nca = {:?}\nhealth_timeout = \"2m\"\n{extra}",
                server.url("manifest.json"),
                keys.public,
                tls.ca_file
            ),
        );
        Rig {
            world,
            releases,
            server,
            key,
            other_key,
            launcher,
            config,
        }
    }

    /// The agent of `version` as a release binary: this build, saying it is `version`.
    /// `prelude` runs first (a crash at start, say).
    fn agent_binary(&self, version: &str, prelude: &str) -> Vec<u8> {
        let path = self.world.path(&format!("agent-{version}"));
        write_script(
            &path,
            &format!("export GRAPPE_AGENT_PRETEND_VERSION={version}\n{prelude}"),
            env!("CARGO_BIN_EXE_grappe-agent"),
        );
        std::fs::read(path).unwrap()
    }

    /// A signed archive of `binary`, named for `version` and this machine's target.
    fn signed(&self, version: &str, binary: &[u8], key: &zipsign_api::SigningKey) -> Vec<u8> {
        let name = asset_name(version, grappe_agent::TARGET);
        release::sign_archive(&release::pack(binary).unwrap(), key, &name).unwrap()
    }

    /// Writes `bytes` as the file server's `name`; returns its manifest digest.
    fn put(&self, name: &str, bytes: &[u8]) -> String {
        std::fs::write(self.releases.join(name), bytes).unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        format!(
            "sha256:{}",
            grappe_agent::wire::signed::hex(digest.as_ref())
        )
    }

    /// Publishes the manifest: `(version, rollout, [(asset name, digest)])`.
    fn manifest(&self, releases: &[ManifestEntry]) {
        let releases: Vec<Value> = releases
            .iter()
            .map(|(version, rollout, assets)| {
                let mut r = json!({
                    "version": version,
                    "assets": assets.iter().map(|(name, digest)| json!({"name": name, "url": name, "digest": digest})).collect::<Vec<_>>(),
                });
                if let Some(p) = rollout {
                    r["rollout_percent"] = json!(p);
                }
                r
            })
            .collect();
        let manifest = json!({"schema": 1, "releases": releases});
        std::fs::write(self.releases.join("manifest.json"), manifest.to_string()).unwrap();
    }

    /// Publishes one release of `version` for this machine, its archive as given.
    fn publish(&self, version: &str, archive: &[u8]) {
        self.publish_for(version, grappe_agent::TARGET, archive);
    }

    /// Publishes one release of `version` with one asset, for `target`.
    fn publish_for(&self, version: &str, target: &str, archive: &[u8]) {
        let name = asset_name(version, target);
        let digest = self.put(&name, archive);
        self.manifest(&[(version, None, vec![(name, digest)])]);
    }

    fn launch(&self) -> Command {
        let mut cmd = Command::new(&self.launcher);
        cmd.env("RUST_LOG", "info")
            .env(grappe_agent::update::launch::LAUNCHER_ENV, &self.launcher)
            .env_remove(grappe_agent::update::launch::HANDED_OVER_ENV)
            .env_remove("GRAPPE_AGENT_PRETEND_VERSION")
            .env_remove(grappe_agent::config::PATH_ENV);
        cmd
    }

    /// `grappe-agent update [args]`: (exit code, stdout + stderr).
    fn update(&self, args: &[&str]) -> (i32, String) {
        let out = self
            .launch()
            .arg("update")
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .unwrap();
        code_and_text(&out)
    }

    /// `grappe-agent run --once` through the packaged binary: (exit code, log).
    fn run_once(&self) -> (i32, String) {
        let out = self
            .launch()
            .args(["run", "--once", "--timeout", "30s", "--config"])
            .arg(&self.config)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn update_dir(&self) -> PathBuf {
        self.world.path(&format!("state-{DEVICE}/update"))
    }

    fn store(&self) -> Value {
        std::fs::read(self.update_dir().join("state.json"))
            .map(|b| serde_json::from_slice(&b).unwrap())
            .unwrap_or(Value::Null)
    }

    fn installed(&self) -> Vec<String> {
        let mut found: Vec<String> = std::fs::read_dir(self.update_dir().join("versions"))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        found
    }

    /// The agent still works: a cycle through the packaged binary is acknowledged, and
    /// its reports say `version`.
    fn reports_as(&self, version: &str) {
        let (code, log) = self.run_once();
        assert_eq!(code, 0, "the agent must still report:\n{log}");
        let op = self
            .world
            .operator(&format!("grappe/v1/{GRAPPE}/{STRUCTURE}/{DEVICE}/status"));
        op.wait_json(&topic(DEVICE, "status"), SECS(10), |s| {
            s["agent_version"] == version
        });
    }
}

/// A release in the manifest: version, rollout share, `[(asset name, digest)]`.
type ManifestEntry<'a> = (&'a str, Option<u8>, Vec<(String, String)>);

fn asset_name(version: &str, target: &str) -> String {
    let version = semver::Version::parse(version).unwrap();
    grappe_agent::update::manifest::asset_name(&version, target)
}

/// An executable shell script: `prelude`, then the agent binary (through the test's
/// emulator, if any) with the script's arguments.
fn write_script(path: &Path, prelude: &str, binary: &str) {
    use std::os::unix::fs::PermissionsExt;
    let runner = std::env::var(RUNNER_ENV).unwrap_or_default();
    std::fs::write(
        path,
        format!("#!/bin/sh\n{prelude}exec {runner} {binary} \"$@\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_good_release_is_installed_switched_to_and_confirmed_healthy() {
    let rig = Rig::new();
    let new = version(1);
    rig.publish(
        &new,
        &rig.signed(&new, &rig.agent_binary(&new, ""), &rig.key),
    );

    let (code, out) = rig.update(&["--check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("available {new}")), "{out}");
    assert!(rig.installed().is_empty(), "--check downloads nothing");

    let (code, out) = rig.update(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("installed {new}")), "{out}");
    assert_eq!(rig.installed(), std::slice::from_ref(&new));
    assert_eq!(rig.store()["trial"]["version"], new.as_str());

    // The packaged binary hands over; the new version reports and is confirmed.
    rig.reports_as(&new);
    let store = rig.store();
    assert_eq!(store["good"], new.as_str(), "{store}");
    assert!(store["trial"].is_null(), "{store}");
    assert_eq!(store["last"]["outcome"], "healthy", "{store}");
    // And stays: later starts run it without a trial.
    rig.reports_as(&new);

    let (code, out) = rig.update(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("up_to_date"), "{out}");
}

#[test]
fn the_service_takes_an_update_on_command_and_switches_without_a_restart() {
    let rig = Rig::new();
    let new = version(1);
    rig.publish(
        &new,
        &rig.signed(&new, &rig.agent_binary(&new, ""), &rig.key),
    );
    let op = rig
        .world
        .operator(&format!("grappe/v1/{GRAPPE}/{STRUCTURE}/{DEVICE}/#"));
    let mut service = rig
        .launch()
        .arg("run")
        .arg("--config")
        .arg(&rig.config)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(rig.world.path("service.log")).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(rig.world.path("service.log")).unwrap_or_default();
    op.wait_json(&topic(DEVICE, "status"), SECS(20), |s| {
        s["state"] == "online" && s["agent_version"] == env!("CARGO_PKG_VERSION")
    });
    op.publish(&topic(DEVICE, "cmd/update-check"), br#"{"id":"op-7"}"#);
    let answer = op.wait_json(&topic(DEVICE, "cmd-result"), SECS(60), |a| {
        a["id"] == "op-7"
    });
    assert_eq!(answer["ok"], true, "{answer}\n{}", log());
    assert_eq!(answer["result"]["outcome"], "installed", "{answer}");
    // Same process, new version: online again, then confirmed in the heartbeat.
    let pid = service.id();
    op.wait_json(&topic(DEVICE, "status"), SECS(60), |s| {
        s["state"] == "online" && s["agent_version"] == new.as_str()
    });
    let beat = op.wait_json(&topic(DEVICE, "heartbeat"), SECS(30), |h| {
        h["update"]["last"]["outcome"] == "healthy"
    });
    assert_eq!(beat["update"]["last"]["version"], new.as_str(), "{beat}");
    // Retained, for `grappe-fleet status`.
    op.wait_json(&topic(DEVICE, "status"), SECS(10), |s| {
        s["agent_version"] == new.as_str() && s["update"]["last"]["outcome"] == "healthy"
    });
    assert!(
        service.try_wait().unwrap().is_none(),
        "the service must keep running:\n{}",
        log()
    );
    assert_eq!(service.id(), pid);
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let _ = service.wait();
}

#[test]
fn a_version_that_cannot_get_online_in_time_gives_way_to_the_previous_one() {
    let mut rig = Rig::with_update("");
    let text = std::fs::read_to_string(&rig.config)
        .unwrap()
        .replace("health_timeout = \"2m\"", "health_timeout = \"10s\"");
    std::fs::write(&rig.config, text).unwrap();
    let new = version(1);
    rig.publish(
        &new,
        &rig.signed(&new, &rig.agent_binary(&new, ""), &rig.key),
    );
    let (code, out) = rig.update(&[]);
    assert_eq!(code, 0, "{out}");

    // The broker is down: the new version cannot have its online status acknowledged.
    rig.world.broker.stop();
    let log_path = rig.world.path("service.log");
    let mut service = rig
        .launch()
        .arg("run")
        .arg("--config")
        .arg(&rig.config)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let deadline = std::time::Instant::now() + SECS(60);
    while !rig.store()["failed"][&new].is_object() {
        assert!(
            std::time::Instant::now() < deadline,
            "no rollback within 60 s:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let store = rig.store();
    assert_eq!(store["last"]["outcome"], "rolled_back", "{store}");
    assert!(store["good"].is_null(), "{store}");

    // The previous version took over in the same process and reports once the broker is back.
    rig.world.broker.start_again();
    let op = rig
        .world
        .operator(&format!("grappe/v1/{GRAPPE}/{STRUCTURE}/{DEVICE}/status"));
    let status = op.wait_json(&topic(DEVICE, "status"), SECS(60), |s| {
        s["state"] == "online" && s["agent_version"] == env!("CARGO_PKG_VERSION")
    });
    assert_eq!(
        status["update"]["last"]["outcome"], "rolled_back",
        "{status}"
    );
    assert_eq!(status["update"]["failed"][0]["version"], new.as_str());
    assert!(service.try_wait().unwrap().is_none(), "{}", log());
    unsafe { libc::kill(service.id() as i32, libc::SIGTERM) };
    let _ = service.wait();
}

#[test]
fn a_version_that_crashes_at_start_is_rolled_back_and_never_retried() {
    let rig = Rig::new();
    let bad = version(1);
    let crash = "case \"$1\" in --version|check-config) ;; *) echo 'this release crashes at start' >&2; exit 70 ;; esac\n";
    rig.publish(
        &bad,
        &rig.signed(&bad, &rig.agent_binary(&bad, crash), &rig.key),
    );
    let (code, out) = rig.update(&[]);
    assert_eq!(code, 0, "it passes every check before it runs: {out}");

    // systemd would restart the service: the launcher gives it two starts, then runs the
    // package.
    for start in 1..=2 {
        let out = rig
            .launch()
            .arg("run")
            .arg("--config")
            .arg(&rig.config)
            .output()
            .unwrap();
        let (code, log) = (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(code, 70, "start {start}: {log}");
        assert!(log.contains("this release crashes at start"), "{log}");
    }
    rig.reports_as(env!("CARGO_PKG_VERSION"));
    let store = rig.store();
    assert_eq!(store["last"]["outcome"], "rolled_back", "{store}");
    assert!(
        store["failed"][&bad]["reason"]
            .as_str()
            .unwrap()
            .contains("crash"),
        "{store}"
    );
    assert!(rig.installed().is_empty(), "the failed version is removed");

    // Not tried again, even though the manifest still offers it.
    let (code, out) = rig.update(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("up_to_date"), "{out}");
    assert!(rig.installed().is_empty());
    rig.reports_as(env!("CARGO_PKG_VERSION"));
}

/// Every release that must be refused: the attempt fails with the reason, nothing is
/// installed, and the agent goes on reporting as before.
#[test]
fn bad_releases_are_refused_with_a_reason_and_the_agent_goes_on() {
    let rig = Rig::new();
    let new = version(1);
    let binary = rig.agent_binary(&new, "");
    let name = asset_name(&new, grappe_agent::TARGET);
    let signed = rig.signed(&new, &binary, &rig.key);

    let refuses_config = rig.signed(
        &new,
        &rig.agent_binary(&new, "[ \"$1\" = check-config ] && exit 2\n"),
        &rig.key,
    );
    struct Case {
        what: &'static str,
        expect: &'static str,
    }
    let mut cases: Vec<(Case, Box<dyn Fn()>)> = Vec::new();
    cases.push((
        Case {
            what: "unsigned archive",
            expect: "(unsigned)",
        },
        Box::new(|| rig.publish(&new, &release::pack(&binary).unwrap())),
    ));
    cases.push((
        Case {
            what: "signed with another key",
            expect: "(bad_signature)",
        },
        Box::new(|| rig.publish(&new, &rig.signed(&new, &binary, &rig.other_key))),
    ));
    cases.push((
        Case {
            what: "tampered after signing (digest updated to match)",
            expect: "(bad_signature)",
        },
        Box::new(|| {
            let mut tampered = signed.clone();
            let middle = tampered.len() / 2;
            tampered[middle] ^= 0x55;
            rig.publish(&new, &tampered);
        }),
    ));
    cases.push((
        Case {
            what: "the new version refuses this device's configuration",
            expect: "(bad_binary)",
        },
        Box::new(|| rig.publish(&new, &refuses_config)),
    ));
    cases.push((
        Case {
            what: "digest mismatch",
            expect: "(digest_mismatch)",
        },
        Box::new(|| {
            rig.put(&name, &signed);
            rig.manifest(&[(
                &new,
                None,
                vec![(name.clone(), format!("sha256:{}", "0".repeat(64)))],
            )]);
        }),
    ));
    cases.push((
        Case {
            what: "replay: an old signed release offered as a newer version",
            expect: "(bad_signature)",
        },
        Box::new(|| rig.publish(&version(2), &signed)),
    ));
    cases.push((
        Case {
            what: "no asset for this target",
            expect: "(wrong_target)",
        },
        Box::new(|| {
            let other = if grappe_agent::TARGET.starts_with("x86_64") {
                "aarch64-unknown-linux-gnu"
            } else {
                "x86_64-unknown-linux-gnu"
            };
            rig.publish_for(&new, other, &signed);
        }),
    ));
    cases.push((
        Case {
            what: "truncated download",
            expect: "(truncated)",
        },
        Box::new(|| {
            rig.publish(&new, &signed);
            rig.server.truncate(&format!("/{name}"), signed.len() / 2);
        }),
    ));
    cases.push((
        Case {
            what: "garbage instead of the manifest",
            expect: "(bad_manifest)",
        },
        Box::new(|| {
            rig.server.heal(&format!("/{name}"));
            rig.publish(&new, &signed);
            rig.server
                .garbage("/manifest.json", b"<html>502 Bad Gateway</html>");
        }),
    ));
    for (case, prepare) in &cases {
        prepare();
        let (code, out) = rig.update(&[]);
        eprintln!("{}: {out}", case.what);
        assert_eq!(code, 1, "{}: {out}", case.what);
        assert!(
            out.contains("refused") && out.contains(case.expect),
            "{}: expected {:?} in: {out}",
            case.what,
            case.expect
        );
        assert!(
            rig.installed().is_empty(),
            "{}: nothing installed",
            case.what
        );
        assert_eq!(rig.store()["last"]["outcome"], "refused", "{}", case.what);
    }
    rig.server.heal("/manifest.json");
    // The device is untouched: it reports as the version it was.
    rig.reports_as(env!("CARGO_PKG_VERSION"));
}

#[test]
fn old_releases_and_releases_outside_the_rollout_are_not_taken() {
    let rig = Rig::new();
    // Only an older release: no downgrade.
    let old = "0.0.1";
    let old_archive = rig.signed(old, &rig.agent_binary(old, ""), &rig.key);
    rig.publish(old, &old_archive);
    let (code, out) = rig.update(&[]);
    assert_eq!((code, out.contains("up_to_date")), (0, true), "{out}");

    // A newer release given to 0 % of the fleet.
    let new = version(1);
    let name = asset_name(&new, grappe_agent::TARGET);
    let digest = rig.put(
        &name,
        &rig.signed(&new, &rig.agent_binary(&new, ""), &rig.key),
    );
    rig.manifest(&[(&new, Some(0), vec![(name.clone(), digest.clone())])]);
    let (code, out) = rig.update(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("not_in_rollout {new}")), "{out}");
    assert!(
        !rig.server.requests().iter().any(|r| r.contains(&name)),
        "nothing downloaded outside the rollout"
    );
    // Widened to everyone: taken.
    rig.manifest(&[(&new, Some(100), vec![(name, digest)])]);
    let (code, out) = rig.update(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("installed {new}")), "{out}");
}

#[test]
fn an_unreachable_server_is_refused_and_the_agent_goes_on() {
    let port = free_port();
    let rig = Rig::new();
    let text = std::fs::read_to_string(&rig.config).unwrap().replace(
        &rig.server.url("manifest.json"),
        &format!("https://127.0.0.1:{port}/manifest.json"),
    );
    std::fs::write(&rig.config, text).unwrap();
    let (code, out) = rig.update(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("unreachable") || out.contains("cannot fetch"),
        "{out}"
    );
    rig.reports_as(env!("CARGO_PKG_VERSION"));
}
