//! The agent's configuration (`agent.toml`), validated before anything runs.
//!
//! Loading is validation: the TOML is parsed with unknown keys rejected, every value is
//! checked, and the files it names (CA, certificate, key) are read and parsed here, once.
//! An error names the key (or file) and says what to do; `check-config` prints it and
//! exits 2, and so does `run`, so that systemd does not restart a service that cannot work.

mod broker;

#[cfg(feature = "fleet")]
pub(crate) use broker::validate as validate_broker;
pub(crate) use broker::RawBroker;
pub use broker::{Broker, Tls};

use crate::wire::Identity;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Where the config is read from when no `--config` is given.
pub const DEFAULT_PATH: &str = "/etc/grappe-agent/agent.toml";
/// Environment variable that overrides [`DEFAULT_PATH`].
pub const PATH_ENV: &str = "GRAPPE_AGENT_CONFIG";

/// A configuration problem: which key or file, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The config file the error is about.
    pub file: PathBuf,
    /// `[section] key`, or empty when the whole file is concerned.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "config {}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "config {}: {}: {}",
                self.file.display(),
                self.key,
                self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub identity: Identity,
    pub broker: Broker,
    pub schedule: Schedule,
    pub spool: Spool,
    /// Where the usage ledger and the report sequence live.
    pub state_dir: PathBuf,
    pub update: Update,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub heartbeat: Duration,
    pub posture: Duration,
    pub patches: Duration,
    pub inventory: Duration,
    pub usage: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spool {
    pub dir: PathBuf,
    pub max_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub enabled: bool,
    pub manifest_url: String,
    pub public_key: PathBuf,
    pub rollout_percent: u8,
    /// The CA file the release server's certificate must chain to (default: the broker's).
    pub ca: PathBuf,
    /// How often the service looks for a release (each wait is shortened at random by up
    /// to a tenth, so that a fleet does not ask together).
    pub check_interval: Duration,
    /// How long a new version has, after the switch, to have its `online` status
    /// acknowledged by the broker before the previous version comes back.
    pub health_timeout: Duration,
    /// Read at validation when enabled: the ed25519 key (32 bytes) and the CA's
    /// certificates.
    pub keys: Option<UpdateKeys>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateKeys {
    pub verifying_key: [u8; 32],
    pub ca_certs: Vec<rustls::pki_types::CertificateDer<'static>>,
}

// ---- The file as written: every section and key the contract names, nothing else. ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    identity: RawIdentity,
    broker: RawBroker,
    #[serde(default)]
    schedule: RawSchedule,
    #[serde(default)]
    spool: RawSpool,
    #[serde(default)]
    state: RawState,
    #[serde(default)]
    update: RawUpdate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    grappe: String,
    structure: String,
    #[serde(default)]
    device: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSchedule {
    heartbeat: String,
    posture: String,
    patches: String,
    inventory: String,
    usage: String,
}

impl Default for RawSchedule {
    fn default() -> Self {
        RawSchedule {
            heartbeat: "5m".into(),
            posture: "1h".into(),
            patches: "6h".into(),
            inventory: "24h".into(),
            usage: "6h".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSpool {
    dir: PathBuf,
    max_bytes: u64,
}

impl Default for RawSpool {
    fn default() -> Self {
        RawSpool {
            dir: PathBuf::from("/var/lib/grappe-agent/spool"),
            max_bytes: 16 * 1024 * 1024,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawState {
    dir: PathBuf,
}

impl Default for RawState {
    fn default() -> Self {
        RawState {
            dir: PathBuf::from("/var/lib/grappe-agent"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawUpdate {
    enabled: bool,
    manifest_url: String,
    public_key: PathBuf,
    rollout_percent: u8,
    ca: Option<PathBuf>,
    check_interval: String,
    health_timeout: String,
}

impl Default for RawUpdate {
    fn default() -> Self {
        RawUpdate {
            enabled: false,
            manifest_url: String::new(),
            public_key: PathBuf::from("/etc/grappe-agent/release.pub"),
            rollout_percent: 100,
            ca: None,
            check_interval: "24h".into(),
            health_timeout: "10m".into(),
        }
    }
}

/// The config path to use: `--config`, else `GRAPPE_AGENT_CONFIG`, else the default.
pub fn resolve_path(flag: Option<&Path>) -> PathBuf {
    resolve_path_with(flag, PATH_ENV, DEFAULT_PATH)
}

/// `flag`, else the variable `env` when set and not empty, else `default`.
pub(crate) fn resolve_path_with(flag: Option<&Path>, env: &str, default: &str) -> PathBuf {
    match flag {
        Some(p) => p.to_path_buf(),
        None => std::env::var_os(env)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(default)),
    }
}

/// Reads a TOML config file into its raw form, with unknown keys rejected by `T`; an error
/// names the file and points to the commented `example` shipped with the project.
pub(crate) fn read_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    example: &str,
) -> Result<T, ConfigError> {
    let err = |message: String| ConfigError {
        file: path.to_path_buf(),
        key: String::new(),
        message,
    };
    // Through the safe reader: a FIFO or a huge file in its place must not hang or swell
    // the process at start.
    let bytes = crate::fsutil::read_bounded(path, MAX_CONFIG_BYTES).map_err(|e| {
        err(format!(
            "cannot read the file: {e} (create it from the commented example {example})"
        ))
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        err(format!(
            "cannot read the file: it is not a text file: is it the config (TOML), or was \
             it damaged? Restore it from the commented example {example}"
        ))
    })?;
    toml::from_str(&text).map_err(|e| err(format!("invalid TOML: {}", e.to_string().trim())))
}

impl Config {
    /// Reads and validates the config and the files it names.
    ///
    /// `machine_id` gives the device id when `[identity] device` is empty.
    pub fn load(
        path: &Path,
        machine_id: impl FnOnce() -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let raw: RawConfig = read_toml(path, "config/agent.toml")?;
        Self::validate(path, raw, machine_id).map_err(|(key, message)| ConfigError {
            file: path.to_path_buf(),
            key,
            message,
        })
    }

    fn validate(
        path: &Path,
        raw: RawConfig,
        machine_id: impl FnOnce() -> Option<String>,
    ) -> Result<Config, (String, String)> {
        let raw_device_is_empty = raw.identity.device.is_empty();
        let device = if raw_device_is_empty {
            machine_id().ok_or_else(|| {
                (
                    "[identity] device".to_string(),
                    "is empty and /etc/machine-id could not be read; set a device id ([a-z0-9-], 1 to 64 characters)"
                        .to_string(),
                )
            })?
        } else {
            raw.identity.device
        };
        let identity = Identity {
            grappe: check_name("[identity] grappe", raw.identity.grappe)?,
            structure: check_name("[identity] structure", raw.identity.structure)?,
            device: check_name("[identity] device", device)?,
        };
        let broker = broker::validate(raw.broker)?;
        if let Some(tls) = &broker.tls {
            check_identity_is_the_certificates(&identity, raw_device_is_empty, tls)?;
        }
        let schedule = Schedule {
            heartbeat: duration(
                "[schedule] heartbeat",
                &raw.schedule.heartbeat,
                MIN_INTERVAL,
            )?,
            posture: duration("[schedule] posture", &raw.schedule.posture, MIN_INTERVAL)?,
            patches: duration("[schedule] patches", &raw.schedule.patches, MIN_INTERVAL)?,
            inventory: duration(
                "[schedule] inventory",
                &raw.schedule.inventory,
                MIN_INTERVAL,
            )?,
            usage: duration("[schedule] usage", &raw.schedule.usage, MIN_INTERVAL)?,
        };
        let spool = Spool {
            dir: absolute("[spool] dir", raw.spool.dir)?,
            max_bytes: raw.spool.max_bytes,
        };
        if spool.max_bytes < MIN_SPOOL_BYTES {
            return Err((
                "[spool] max_bytes".into(),
                format!("{} is too small: at least {MIN_SPOOL_BYTES} bytes (64 KiB) are needed to hold a few reports", spool.max_bytes),
            ));
        }
        // The release server is the grappe's too: by default its certificate chains to the
        // broker's CA.
        let broker_ca = broker.tls.as_ref().map_or_else(
            || PathBuf::from("/etc/grappe-agent/ca.pem"),
            |tls| tls.ca_file.clone(),
        );
        let update = validate_update(raw.update, &broker_ca)?;
        Ok(Config {
            path: path.to_path_buf(),
            identity,
            broker,
            schedule,
            spool,
            state_dir: absolute("[state] dir", raw.state.dir)?,
            update,
        })
    }

    /// Checks that only make sense right before use, for `check-config`: the device
    /// certificate is within its validity period and chains to the configured CA.
    /// Returns warnings (things that may be intended) or the first error.
    pub fn check_certificate(&self, now: SystemTime) -> Result<Vec<String>, ConfigError> {
        let Some(tls) = &self.broker.tls else {
            return Ok(vec![
                "TLS is off (mqtt:// with allow_insecure = true): reports travel in clear text"
                    .into(),
            ]);
        };
        tls.check(now).map_err(|message| ConfigError {
            file: self.path.clone(),
            key: "[broker] cert".into(),
            message,
        })
    }
}

/// A config is a few KiB of TOML.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

const MIN_INTERVAL: Duration = Duration::from_secs(10);
/// Longer intervals are surely a typo (and would overflow timers).
const MAX_INTERVAL: Duration = Duration::from_secs(30 * 24 * 3600);
const MIN_SPOOL_BYTES: u64 = 64 * 1024;
/// The broker takes the device's identity from its certificate's common name (Mosquitto's
/// `use_identity_as_username`), and its ACL lets that name publish only under its own
/// topics: a config naming another device would have every report refused (or, over MQTT
/// 3.1.1, silently dropped), so it is refused here, before anything runs.
fn check_identity_is_the_certificates(
    identity: &Identity,
    device_from_machine_id: bool,
    tls: &Tls,
) -> Result<(), (String, String)> {
    let key = || "[identity] device".to_string();
    let cert = tls.cert_file.display();
    let Some(common_name) = tls.common_name() else {
        return Err((
            "[broker] cert".into(),
            format!("{cert} has no common name (CN); the broker takes the device identity from it: issue the device certificate with CN = the device id"),
        ));
    };
    if common_name == identity.device {
        return Ok(());
    }
    let device = &identity.device;
    let origin = if device_from_machine_id {
        format!("is empty, so the device id is {device:?} (from /etc/machine-id)")
    } else {
        format!("is {device:?}")
    };
    Err((
        key(),
        format!("{origin} but {cert} is the certificate of {common_name:?}, and the broker would refuse every report: set device = {common_name:?} or install this device's own certificate"),
    ))
}

/// Grappe, structure and device names appear in topics: `[a-z0-9-]{1,64}`.
pub(crate) fn check_name(key: &str, value: String) -> Result<String, (String, String)> {
    if crate::wire::is_valid_name(&value) {
        Ok(value)
    } else {
        Err((
            key.to_string(),
            format!(
                "{value:?} is not a valid name: use {}",
                crate::wire::VALID_NAME
            ),
        ))
    }
}

pub(crate) fn duration(
    key: &str,
    value: &str,
    min: Duration,
) -> Result<Duration, (String, String)> {
    let d = humantime::parse_duration(value).map_err(|e| {
        (
            key.to_string(),
            format!("{value:?} is not a duration ({e}); write it like \"30s\", \"5m\", \"6h\" or \"1d\""),
        )
    })?;
    if d < min {
        return Err((
            key.to_string(),
            format!(
                "{value:?} is too short: at least {}",
                humantime::format_duration(min)
            ),
        ));
    }
    if d > MAX_INTERVAL {
        return Err((
            key.to_string(),
            format!(
                "{value:?} is too long: at most {}",
                humantime::format_duration(MAX_INTERVAL)
            ),
        ));
    }
    Ok(d)
}

fn absolute(key: &str, path: PathBuf) -> Result<PathBuf, (String, String)> {
    if path.is_absolute() {
        Ok(path)
    } else {
        Err((
            key.to_string(),
            format!("{} must be an absolute path", path.display()),
        ))
    }
}

fn validate_update(raw: RawUpdate, broker_ca: &Path) -> Result<Update, (String, String)> {
    if raw.rollout_percent > 100 {
        return Err((
            "[update] rollout_percent".into(),
            format!("{} is not a percentage (0 to 100)", raw.rollout_percent),
        ));
    }
    let check_interval = duration(
        "[update] check_interval",
        &raw.check_interval,
        Duration::from_secs(60),
    )?;
    let health_timeout = duration(
        "[update] health_timeout",
        &raw.health_timeout,
        Duration::from_secs(10),
    )?;
    let ca = raw.ca.unwrap_or_else(|| broker_ca.to_path_buf());
    let keys = if raw.enabled {
        if !raw.manifest_url.starts_with("https://") {
            return Err((
                "[update] manifest_url".into(),
                format!(
                    "{:?} must be an https:// URL when updates are enabled",
                    raw.manifest_url
                ),
            ));
        }
        Some(UpdateKeys {
            verifying_key: read_verifying_key(&raw.public_key)
                .map_err(|e| ("[update] public_key".to_string(), e))?,
            ca_certs: read_ca_certs(&ca).map_err(|e| ("[update] ca".to_string(), e))?,
        })
    } else {
        None
    };
    Ok(Update {
        enabled: raw.enabled,
        manifest_url: raw.manifest_url,
        public_key: raw.public_key,
        rollout_percent: raw.rollout_percent,
        ca,
        check_interval,
        health_timeout,
        keys,
    })
}

/// The release signing public key: the 32 bytes of an ed25519 key, as `grappe-fleet
/// release keygen` (and zipsign's own `gen-key`) write it.
fn read_verifying_key(path: &Path) -> Result<[u8; 32], String> {
    let bytes = std::fs::read(path).map_err(|e| {
        format!(
            "{} cannot be read: {e} (the release signing public key is required when updates are enabled)",
            path.display()
        )
    })?;
    bytes.as_slice().try_into().map_err(|_| {
        format!(
            "{} holds {} bytes, not a 32-byte ed25519 public key: copy the release.pub that `grappe-fleet release keygen` made",
            path.display(),
            bytes.len()
        )
    })
}

fn read_ca_certs(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: cannot read PEM certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no certificate: the release server's certificate must chain to a CA in it",
            path.display()
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path, || Some("0123456789abcdef0123456789abcdef".into()))
    }

    const INSECURE: &str = r#"
[identity]
grappe = "grappe-hdf-01"
structure = "ehpad-les-tilleuls"
[broker]
url = "mqtt://127.0.0.1:1884"
allow_insecure = true
"#;

    #[test]
    fn minimal_insecure_config_gets_defaults_and_the_machine_id() {
        let c = load_str(INSECURE).unwrap();
        assert_eq!(c.identity.device, "0123456789abcdef0123456789abcdef");
        assert_eq!((c.broker.host.as_str(), c.broker.port), ("127.0.0.1", 1884));
        assert!(c.broker.tls.is_none());
        assert_eq!(c.schedule.heartbeat, Duration::from_secs(300));
        assert_eq!(c.schedule.inventory, Duration::from_secs(86400));
        assert_eq!(c.spool.max_bytes, 16 * 1024 * 1024);
        assert_eq!(c.state_dir, Path::new("/var/lib/grappe-agent"));
        assert!(!c.update.enabled);
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let e = load_str(&format!("{INSECURE}\n[schedule]\nheartbeet = \"5m\"\n")).unwrap_err();
        assert!(e.to_string().contains("heartbeet"), "{e}");
        let e = load_str(&format!("{INSECURE}\n[spooler]\n")).unwrap_err();
        assert!(e.to_string().contains("spooler"), "{e}");
    }

    #[test]
    fn plain_mqtt_needs_allow_insecure() {
        let e = load_str(&INSECURE.replace("allow_insecure = true", "")).unwrap_err();
        assert_eq!(e.key, "[broker] url");
        assert!(e.message.contains("mqtts://"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (
                "grappe = \"grappe-hdf-01\"",
                "grappe = \"Grappe HDF\"",
                "[identity] grappe",
            ),
            (
                "[broker]",
                "[broker]\nkeep_alive = \"soon\"",
                "[broker] keep_alive",
            ),
            (
                "mqtt://127.0.0.1:1884",
                "mqtt://127.0.0.1:99999",
                "[broker] url",
            ),
            ("mqtt://127.0.0.1:1884", "http://127.0.0.1", "[broker] url"),
        ];
        for (from, to, key) in cases {
            let e = load_str(&INSECURE.replace(from, to)).unwrap_err();
            assert_eq!(e.key, key, "{to}: {e}");
        }
        let e = load_str(&format!("{INSECURE}\n[schedule]\nheartbeat = \"1s\"\n")).unwrap_err();
        assert_eq!(e.key, "[schedule] heartbeat");
        let e = load_str(&format!(
            "{INSECURE}\n[schedule]\ninventory = \"100000years\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.key, "[schedule] inventory");
        let e = load_str(&format!("{INSECURE}\n[spool]\nmax_bytes = 10\n")).unwrap_err();
        assert_eq!(e.key, "[spool] max_bytes");
        let e = load_str(&format!("{INSECURE}\n[spool]\ndir = \"spool\"\n")).unwrap_err();
        assert_eq!(e.key, "[spool] dir");
        let e = load_str(&format!(
            "{INSECURE}\n[update]\nenabled = true\nmanifest_url = \"http://x\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.key, "[update] manifest_url");
    }

    #[test]
    fn missing_tls_files_are_named() {
        let text = INSECURE.replace("mqtt://127.0.0.1:1884", "mqtts://broker.example").replace(
            "allow_insecure = true",
            "ca = \"/nonexistent/ca.pem\"\ncert = \"/nonexistent/d.pem\"\nkey = \"/nonexistent/d.key\"",
        );
        let e = load_str(&text).unwrap_err();
        assert_eq!(e.key, "[broker] ca");
        assert!(e.message.contains("/nonexistent/ca.pem"), "{e}");
        let e = load_str(&text.replace("ca = \"/nonexistent/ca.pem\"\n", "")).unwrap_err();
        assert_eq!(e.key, "[broker] ca");
        assert!(e.message.contains("required"), "{e}");
    }

    use crate::test_pki as pki;

    /// A TLS config for the device the certificate is for (its file is named after it).
    fn tls_config(ca: &Path, pair: &pki::Pair) -> String {
        let device = pair.cert.file_stem().unwrap().to_str().unwrap();
        INSECURE
            .replace("[broker]", &format!("device = {device:?}\n[broker]"))
            .replace("mqtt://127.0.0.1:1884", "mqtts://localhost:8883")
            .replace(
                "allow_insecure = true",
                &format!(
                    "ca = {:?}\ncert = {:?}\nkey = {:?}",
                    ca, pair.cert, pair.key
                ),
            )
    }

    #[test]
    fn tls_files_are_loaded_and_the_key_must_match_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let pki = pki::Pki::new(dir.path(), "ca");
        let device = pki.client("device-1");
        let other = pki.client("device-2");
        let c = load_str(&tls_config(&pki.ca_file("ca"), &device)).unwrap();
        let tls = c.broker.tls.as_ref().unwrap();
        assert_eq!(tls.chain.len(), 1);
        assert_eq!(
            c.check_certificate(SystemTime::now()).unwrap(),
            Vec::<String>::new()
        );

        let swapped = pki::Pair {
            cert: device.cert.clone(),
            key: other.key.clone(),
        };
        let e = load_str(&tls_config(&pki.ca_file("ca"), &swapped)).unwrap_err();
        assert_eq!(e.key, "[broker] key");
        assert!(e.message.contains("does not belong"), "{e}");

        // A certificate given where the key should be.
        let wrong = pki::Pair {
            cert: device.cert.clone(),
            key: device.cert.clone(),
        };
        let e = load_str(&tls_config(&pki.ca_file("ca"), &wrong)).unwrap_err();
        assert_eq!(e.key, "[broker] key");
    }

    #[test]
    fn check_certificate_reports_expiry_and_foreign_issuers() {
        let dir = tempfile::tempdir().unwrap();
        let pki = pki::Pki::new(dir.path(), "ca");
        let now = time::OffsetDateTime::now_utc();
        let expired = pki.client_valid(
            "old",
            now - time::Duration::days(400),
            now - time::Duration::days(35),
        );
        let c = load_str(&tls_config(&pki.ca_file("ca"), &expired)).unwrap();
        let e = c.check_certificate(SystemTime::now()).unwrap_err();
        assert_eq!(e.key, "[broker] cert");
        let day = (now - time::Duration::days(35)).date().to_string();
        assert!(e.message.contains(&format!("expired on {day}T")), "{e}");

        let other_ca = pki::Pki::new(dir.path(), "other-ca");
        let foreign = other_ca.client("foreign");
        let c = load_str(&tls_config(&pki.ca_file("ca"), &foreign)).unwrap();
        let warnings = c.check_certificate(SystemTime::now()).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("not issued by"), "{warnings:?}");
    }

    #[test]
    fn the_certificate_expiry_is_read_whoever_issued_it() {
        let dir = tempfile::tempdir().unwrap();
        let pki = pki::Pki::new(dir.path(), "ca");
        let other_ca = pki::Pki::new(dir.path(), "other-ca");
        let now = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap();
        for (issuer, not_after) in [
            (&pki, now + time::Duration::days(30)),
            (&pki, now - time::Duration::days(2)),
            (&other_ca, now + time::Duration::days(3650)),
        ] {
            let pair = issuer.client_valid("d", now - time::Duration::days(10), not_after);
            let c = load_str(&tls_config(&pki.ca_file("ca"), &pair)).unwrap();
            let tls = c.broker.tls.as_ref().unwrap();
            assert_eq!(tls.cert_not_after(), Some(SystemTime::from(not_after)));
        }
    }

    #[test]
    fn an_identity_that_is_not_the_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pki = pki::Pki::new(dir.path(), "ca");
        let pair = pki.client("device-1");
        let good = tls_config(&pki.ca_file("ca"), &pair);
        assert_eq!(load_str(&good).unwrap().identity.device, "device-1");

        let e = load_str(&good.replace("\"device-1\"", "\"device-2\"")).unwrap_err();
        assert_eq!(e.key, "[identity] device");
        assert!(e.message.contains("\"device-2\""), "{e}");
        assert!(e.message.contains("set device = \"device-1\""), "{e}");

        // Empty: the machine id is the device id, and it must be the certificate's too.
        let e = load_str(&good.replace("device = \"device-1\"", "")).unwrap_err();
        assert_eq!(e.key, "[identity] device");
        assert!(e.message.contains("/etc/machine-id"), "{e}");
    }

    #[test]
    fn a_binary_file_given_as_config_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, b"\x7fELF\x02\x01\x01\0\xff\xfe").unwrap();
        let e = Config::load(&path, || None).unwrap_err();
        assert!(e.message.contains("not a text file"), "{e}");
    }

    #[test]
    fn broken_toml_says_where() {
        let e = load_str("[identity\ngrappe = 1").unwrap_err();
        assert!(e.message.contains("line 1"), "{e}");
    }

    #[test]
    fn env_overrides_the_default_path_but_not_the_flag() {
        assert_eq!(
            resolve_path(Some(Path::new("/x.toml"))),
            Path::new("/x.toml")
        );
    }
}
