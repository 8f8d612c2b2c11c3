//! Signed self-update from the grappe's own file server.
//!
//! One attempt ([`attempt`]) reads the release manifest, picks the newest release above the
//! running version that is in this device's rollout share and did not fail here before
//! ([`manifest`], [`rollout`]), then lets self_update download it, check its sha256 digest
//! and its zipsign signature with the configured key, extract it and run the new binary's
//! `--version` before anything is installed. The binary goes to
//! `{state dir}/update/versions/{version}/` and on trial ([`store`]); the packaged binary in
//! `/usr/bin`, which belongs to dpkg, is never written. [`launch`] decides at each start
//! which binary runs, and brings the previous one back when a new one does not become
//! healthy.
//!
//! Who restarts what: the service, once it installed a version and no report is in flight,
//! stops cleanly and executes the packaged binary again (same process, so systemd and its
//! watchdog see no restart), which hands over to the version on trial. A version that
//! crashes is restarted by systemd (`Restart=on-failure`), and the launcher counts the
//! starts. `grappe-agent update` run by hand installs only: the service switches at its
//! next start.

pub mod launch;
pub mod manifest;
pub mod rollout;
pub mod store;

use crate::config::{Config, UpdateKeys};
use crate::wire::update::{Outcome, Refusal, Report};
use manifest::{Decision, Manifest};
use semver::Version;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use store::{Store, BIN_NAME};

/// A manifest larger than this is not one (a release adds a few hundred bytes).
const MANIFEST_MAX_BYTES: u64 = 1 << 20;
/// A release archive larger than this is not one (the agent is about 4 MiB, 2 MiB packed):
/// a hostile server cannot fill the state directory, which the spool shares.
const ARCHIVE_MAX_BYTES: u64 = 16 << 20;
/// The whole download may take this long: a 3 MiB archive over a poor 4G link.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(15 * 60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The new binary's `--version` must answer within this.
const VERSION_RUN_TIMEOUT: Duration = Duration::from_secs(20);

/// What an attempt may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Say what would be taken; download nothing.
    Check,
    /// Download, verify and install (on trial).
    Install,
}

/// Where the updater keeps its versions and its memory.
pub fn update_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("update")
}

/// The running version, as a semantic version.
pub fn running_version() -> Version {
    // crate::version() is Cargo's version or a checked override: always semver.
    Version::parse(crate::version()).unwrap_or_else(|_| Version::new(0, 0, 0))
}

/// A refused attempt: the code, the words, and the release concerned if there is one.
struct Refused {
    refusal: Refusal,
    reason: String,
    version: Option<Version>,
}

impl Refused {
    fn new(refusal: Refusal, reason: impl Into<String>, version: Option<&Version>) -> Refused {
        Refused {
            refusal,
            reason: reason.into(),
            version: version.cloned(),
        }
    }
}

/// One update attempt, start to end: the outcome is logged, remembered in the store (for
/// the heartbeat) and returned. Blocking (network): the service runs it on its own thread.
pub fn attempt(config: &Config, mode: Mode) -> Report {
    let dir = update_dir(&config.state_dir);
    // Held until the end of the attempt; `--check` writes nothing and needs none.
    let _attempt = match mode {
        Mode::Check => None,
        Mode::Install => match store::lock_attempt(&dir) {
            Ok(Some(lock)) => Some(lock),
            Ok(None) => {
                let report = refused(
                    &running_version(),
                    Refused::new(
                        Refusal::Busy,
                        "another update attempt is running (by hand or by the service)",
                        None,
                    ),
                );
                log::warn!("update: {report}");
                return report;
            }
            Err(e) => {
                let report = refused(
                    &running_version(),
                    Refused::new(Refusal::Storage, format!("{}: {e}", dir.display()), None),
                );
                log::error!("update: {report}");
                return report;
            }
        },
    };
    let store = Store::load(&dir);
    // By hand, this is the packaged binary, but the service may run a newer installed
    // version, or be about to switch to one: nothing at or below those is taken.
    let running = [
        store.good.as_deref(),
        store.trial.as_ref().map(|t| t.version.as_str()),
    ]
    .into_iter()
    .flatten()
    .filter_map(|v| Version::parse(v).ok())
    .fold(running_version(), std::cmp::max);
    let report = match config.update.keys.as_ref() {
        None => refused(
            &running,
            Refused::new(
                Refusal::Config,
                "updates are disabled on this device ([update] enabled = false)",
                None,
            ),
        ),
        Some(keys) => {
            let updater = Updater {
                config,
                keys,
                dir: &dir,
                running: &running,
            };
            updater
                .run(&store, mode)
                .unwrap_or_else(|r| refused(&running, r))
        }
    };
    let mut report = report;
    // Reasons quote what the server sent (URLs, error text): they go into every status and
    // heartbeat, so a hostile server must not make those large.
    report.reason = report.reason.map(|r| clip(r, MAX_REASON_LEN));
    match report.outcome {
        Outcome::Refused | Outcome::RolledBack => log::error!("update: {report}"),
        _ => log::info!("update: {report}"),
    }
    // `--check` changes nothing on disk: it may run beside the service.
    if config.update.keys.is_some() && mode == Mode::Install {
        let noted = Store::change(&dir, |store| {
            store.note(report.clone());
            store.prune(&dir);
        });
        if let Err(e) = noted {
            log::error!("update: cannot save {}: {e}", Store::path(&dir).display());
        }
    }
    report
}

/// The longest reason kept in a report.
const MAX_REASON_LEN: usize = 300;

fn clip(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

fn refused(running: &Version, r: Refused) -> Report {
    Report {
        outcome: Outcome::Refused,
        at: crate::wire::rfc3339(SystemTime::now()),
        from: running.to_string(),
        version: r.version.map(|v| v.to_string()),
        refusal: Some(r.refusal),
        reason: Some(r.reason),
    }
}

struct Updater<'a> {
    config: &'a Config,
    keys: &'a UpdateKeys,
    dir: &'a Path,
    running: &'a Version,
}

impl Updater<'_> {
    fn run(&self, store: &Store, mode: Mode) -> Result<Report, Refused> {
        let agent = http_agent(self.keys)?;
        let manifest = self.fetch_manifest(&agent)?;
        let report = |outcome, version: Option<&Version>, reason: Option<String>| Report {
            outcome,
            at: crate::wire::rfc3339(SystemTime::now()),
            from: self.running.to_string(),
            version: version.map(Version::to_string),
            refusal: None,
            reason,
        };
        let decision = manifest.decide(
            self.running,
            crate::TARGET,
            &self.config.identity.device,
            self.config.update.rollout_percent,
            |v| store.has_failed(v),
        );
        match decision {
            Decision::UpToDate => Ok(report(Outcome::UpToDate, None, None)),
            Decision::NotInRollout {
                version,
                percent,
                position,
            } => Ok(report(
                Outcome::NotInRollout,
                Some(&version),
                Some(format!(
                    "rolled out to {percent} % of devices; this one is at position {position}"
                )),
            )),
            Decision::Refuse {
                version,
                refusal,
                reason,
            } => Err(Refused::new(refusal, reason, Some(&version))),
            Decision::Take { version, .. } if mode == Mode::Check => {
                Ok(report(Outcome::Available, Some(&version), None))
            }
            Decision::Take { version, asset } => {
                self.install(&agent, &version, &asset.name)?;
                Store::change(self.dir, |store| {
                    store.start_trial(&version, &self.running.to_string(), SystemTime::now())
                })
                .map_err(|e| {
                    Refused::new(
                        Refusal::Storage,
                        format!("installed but cannot record it: {e}"),
                        Some(&version),
                    )
                })?;
                Ok(report(
                    Outcome::Installed,
                    Some(&version),
                    Some(format!(
                        "digest and signature verified; installed in {}",
                        store::binary_path(self.dir, &version).display()
                    )),
                ))
            }
        }
    }

    fn fetch_manifest(&self, agent: &ureq::Agent) -> Result<Manifest, Refused> {
        let url = &self.config.update.manifest_url;
        let mut response = agent.get(url).call().map_err(|e| match e {
            // A server error is the server's trouble, not a bad manifest: try again later.
            ureq::Error::StatusCode(code) if code >= 500 => Refused::new(
                Refusal::Unreachable,
                format!("{url} answered HTTP {code}"),
                None,
            ),
            ureq::Error::StatusCode(code) => Refused::new(
                Refusal::BadManifest,
                format!("{url} answered HTTP {code}"),
                None,
            ),
            other => Refused::new(
                Refusal::Unreachable,
                format!("cannot fetch {url}: {other}"),
                None,
            ),
        })?;
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MANIFEST_MAX_BYTES)
            .read_to_vec()
            .map_err(|e| Refused::new(Refusal::BadManifest, format!("{url}: {e}"), None))?;
        Manifest::parse(&bytes)
            .map_err(|e| Refused::new(Refusal::BadManifest, format!("{url}: {e}"), None))
    }

    /// Downloads, verifies and installs `version`. self_update reads the release from the
    /// manifest (its `manifest` backend, through this agent's HTTP client), checks the
    /// zipsign signature with the configured key (the asset's file name is the signature's
    /// context, so a signed archive cannot pass for another version or target) and extracts
    /// the binary; the download itself is streamed here and hashed on the way. The new
    /// binary must then run here and say it is `version` before it is moved into place.
    ///
    /// Not self_update's all-in-one `update()`: it resolves `{{ version }}` placeholders
    /// with a regular expression, which links the whole `regex` engine and its Unicode
    /// tables into the device binary (about 0.6 MiB of its 4 MiB budget on aarch64).
    fn install(&self, agent: &ureq::Agent, version: &Version, asset: &str) -> Result<(), Refused> {
        let refused = |refusal, reason: String| Refused::new(refusal, reason, Some(version));
        let dest = store::binary_path(self.dir, version);
        let version_dir = dest.parent().unwrap_or(self.dir);
        let storage = |e: std::io::Error| {
            refused(Refusal::Storage, format!("{}: {e}", version_dir.display()))
        };
        let release = self_update::backends::manifest::Update::configure()
            .manifest_url(&self.config.update.manifest_url)
            .bin_name(BIN_NAME)
            .current_version(self.running.to_string())
            .target(crate::TARGET)
            .ureq_agent(agent.clone())
            .build()
            .and_then(|updater| updater.get_release_version(&version.to_string()))
            .map_err(|e| refused(classify(&e), e.to_string()))?;
        let Some(asset) = release.assets().iter().find(|a| a.name() == asset) else {
            return Err(refused(
                Refusal::WrongTarget,
                format!("the manifest no longer offers {asset:?}"),
            ));
        };
        let Some(digest) = asset.digest().and_then(|d| d.strip_prefix("sha256:")) else {
            return Err(refused(
                Refusal::Unsigned,
                format!("{:?} has no sha256 digest in the manifest", asset.name()),
            ));
        };
        // A leftover of an interrupted attempt is not trusted: start afresh, beside the
        // final place (same file system, so the install is a rename).
        if version_dir.exists() {
            std::fs::remove_dir_all(version_dir).map_err(storage)?;
        }
        std::fs::create_dir_all(version_dir).map_err(storage)?;
        let result = (|| {
            let archive = version_dir.join(asset.name());
            log::info!("update: downloading {}", asset.name());
            download(agent, asset.download_url(), &archive, digest)
                .map_err(|(refusal, reason)| refused(refusal, reason))?;
            log::info!(
                "update: {} downloaded, its sha256 matches the manifest",
                asset.name()
            );
            self_update::verify_signature(&archive, &[self.keys.verifying_key])
                .map_err(|e| refused(classify(&e), e.to_string()))?;
            log::info!("update: {} signed with the configured key", asset.name());
            let staging = version_dir.join("extracted");
            std::fs::create_dir_all(&staging).map_err(storage)?;
            self_update::Extract::from_source(&archive)
                .extract_file(&staging, BIN_NAME)
                .map_err(|e| refused(Refusal::BadBinary, format!("{}: {e}", asset.name())))?;
            let binary = staging.join(BIN_NAME);
            check_binary(&binary, version, &self.config.path)
                .map_err(|why| refused(Refusal::BadBinary, why))?;
            log::info!("update: the new binary runs here, says it is {version} and accepts the configuration");
            std::fs::rename(&binary, &dest).map_err(storage)?;
            let _ = std::fs::remove_dir_all(&staging);
            let _ = std::fs::remove_file(&archive);
            crate::fsutil::sync_dir(version_dir).map_err(storage)
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(version_dir);
        }
        result
    }
}

/// Streams `url` into `dest`, hashing on the way; its sha256 must be `expected_hex`.
fn download(
    agent: &ureq::Agent,
    url: &str,
    dest: &Path,
    expected_hex: &str,
) -> Result<(), (Refusal, String)> {
    use std::io::{Read, Write};
    let mut response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::StatusCode(code) if code >= 500 => {
            (Refusal::Unreachable, format!("{url} answered HTTP {code}"))
        }
        ureq::Error::StatusCode(code) => (
            Refusal::BadManifest,
            format!(
                "{url} answered HTTP {code}: the manifest names a file the server does not have"
            ),
        ),
        other => (
            Refusal::Unreachable,
            format!("cannot download {url}: {other}"),
        ),
    })?;
    let mut body = response
        .body_mut()
        .with_config()
        .limit(ARCHIVE_MAX_BYTES)
        .reader();
    let storage = |e: std::io::Error| (Refusal::Storage, format!("{}: {e}", dest.display()));
    let mut file = std::fs::File::create(dest).map_err(storage)?;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut block = [0u8; 16 * 1024];
    let mut size = 0u64;
    loop {
        let n = match body.read(&mut block) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                let refusal = if is_truncation(&e.to_string()) {
                    Refusal::Truncated
                } else {
                    Refusal::Unreachable
                };
                return Err((
                    refusal,
                    format!("{url}: the download stopped after {size} bytes: {e}"),
                ));
            }
        };
        context.update(&block[..n]);
        file.write_all(&block[..n]).map_err(storage)?;
        size += n as u64;
    }
    file.sync_all().map_err(storage)?;
    let computed = crate::wire::signed::hex(context.finish().as_ref());
    if !computed.eq_ignore_ascii_case(expected_hex) {
        return Err((
            Refusal::DigestMismatch,
            format!(
                "{url}: sha256 {computed} ({size} bytes), but the manifest says {expected_hex}"
            ),
        ));
    }
    Ok(())
}

/// The refusal code for what self_update reported.
fn classify(e: &self_update::errors::Error) -> Refusal {
    use self_update::errors::Error as E;
    match e {
        // zipsign's words for an archive that carries no signature block at all.
        E::Signature(inner) if inner.to_string().contains("could not find") => Refusal::Unsigned,
        E::Signature(_) | E::SignatureNonUTF8 => Refusal::BadSignature,
        E::NoSignatures(_) => Refusal::Unsigned,
        E::NoReleaseFound { .. } | E::InvalidAssetName { .. } => Refusal::WrongTarget,
        E::Transport(_) => Refusal::Unreachable,
        E::Io(_) => Refusal::Storage,
        _ => Refusal::BadManifest,
    }
}

fn is_truncation(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "unexpected eof",
        "end of file",
        "disconnected",
        "incomplete",
        "closed",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// The HTTP client for the release server: HTTPS only, trusting only the configured CA.
fn http_agent(keys: &UpdateKeys) -> Result<ureq::Agent, Refused> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
    let roots: Vec<Certificate<'static>> = keys
        .ca_certs
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(RootCerts::Specific(Arc::new(roots)))
        .build();
    let config = ureq::Agent::config_builder()
        .tls_config(tls)
        .https_only(true)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(DOWNLOAD_TIMEOUT))
        .user_agent(format!("grappe-agent/{}", crate::version()))
        .build();
    Ok(ureq::Agent::new_with_config(config))
}

/// The extracted binary must start on this device, say it is `expected` for this target,
/// and accept this device's configuration: a binary for another architecture, a broken or
/// mislabelled one, or one that would refuse `agent.toml` (and so never come up) stops here.
fn check_binary(binary: &Path, expected: &Version, config: &Path) -> Result<(), String> {
    let (status, said) = run_new(binary, &["--version".as_ref()])?;
    let said = said.trim();
    let wanted = format!("{BIN_NAME} {expected} ({},", crate::TARGET);
    if !status.success() || !said.starts_with(&wanted) {
        return Err(format!(
            "the new binary says {said:?} ({status}), not {wanted:?}"
        ));
    }
    let (status, _) = run_new(
        binary,
        &[
            "check-config".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
        ],
    )?;
    if !status.success() {
        return Err(format!(
            "the new version refuses this device's configuration {} ({status})",
            config.display()
        ));
    }
    Ok(())
}

/// Runs the new binary with `args` (at most [`VERSION_RUN_TIMEOUT`]): its status and output.
fn run_new(
    binary: &Path,
    args: &[&std::ffi::OsStr],
) -> Result<(std::process::ExitStatus, String), String> {
    use std::process::{Command, Stdio};
    let mut child = Command::new(binary)
        .args(args)
        .env_remove("GRAPPE_AGENT_PRETEND_VERSION")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("the new binary does not start here: {e}"))?;
    let started = std::time::Instant::now();
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if started.elapsed() > VERSION_RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the new binary did not answer within {}s",
                VERSION_RUN_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("the new binary failed: {e}"))?;
    Ok((
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
    ))
}

/// How long this process has left to prove itself, when it is a version on trial that the
/// launcher started; `None` otherwise.
pub fn own_trial(config: &Config) -> Option<Duration> {
    if !launch::handed_over() {
        return None;
    }
    let store = Store::load(&update_dir(&config.state_dir));
    let trial = store.trial.filter(|t| t.version == crate::version())?;
    let timeout = config.update.health_timeout;
    let elapsed = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(trial.since_unix);
    // Never more than the whole timeout, whatever the clock did (a board without a
    // real-time clock may start in the past).
    Some(
        timeout
            .saturating_sub(Duration::from_secs(elapsed))
            .min(timeout),
    )
}

/// The broker acknowledged this version's `online` status: if it was on trial, it is now
/// the good version. Returns the report when that happened.
pub fn confirm_healthy(config: &Config) -> Option<Report> {
    update_store(config, |store| {
        store.mark_healthy(crate::version(), SystemTime::now())
    })
}

/// This version on trial did not become healthy in time: it is marked failed, and the
/// caller relaunches (the launcher then runs the previous version).
pub fn abandon_trial(config: &Config, reason: String) -> Option<Report> {
    update_store(config, |store| {
        store
            .trial
            .as_ref()
            .is_some_and(|t| t.version == crate::version())
            .then(|| store.roll_back(reason, SystemTime::now()))
            .flatten()
    })
}

/// What the heartbeat says about updates (empty when the updater never ran).
pub fn summary(config: &Config) -> crate::wire::update::Summary {
    let dir = update_dir(&config.state_dir);
    if !Store::path(&dir).exists() {
        return Default::default();
    }
    Store::load(&dir).summary()
}

fn update_store(
    config: &Config,
    change: impl FnOnce(&mut Store) -> Option<Report>,
) -> Option<Report> {
    let dir = update_dir(&config.state_dir);
    let report = Store::change(&dir, |store| {
        let report = change(store);
        store.prune(&dir);
        report
    })
    .unwrap_or_else(|e| {
        log::error!("update: cannot save {}: {e}", Store::path(&dir).display());
        None
    })?;
    match &report.outcome {
        Outcome::RolledBack => log::error!("update: {report}"),
        _ => log::info!("update: {report}"),
    }
    Some(report)
}

/// Whether this process is root over a state directory that belongs to another user (the
/// service's dynamic user). That user can change what is in it at any time, so root must
/// neither run nor delete anything there: no hand-over, no install by hand.
pub fn root_over_service_state(state_dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    root && std::fs::metadata(state_dir).is_ok_and(|m| m.uid() != 0)
}
