//! The fleet tool's configuration (`fleet.toml`), validated before anything runs, like
//! `agent.toml`: unknown keys are refused, every value is checked, and the `[broker]`
//! section is the agent's own (the same parsing, checks and TLS loading), here with an
//! operator certificate for the operators' port.

use crate::config::RawBroker;
use crate::config::{check_name, duration, read_toml, validate_broker, Broker, ConfigError};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the config is read from when no `--config` is given.
pub const DEFAULT_PATH: &str = "/etc/grappe-fleet/fleet.toml";
/// Environment variable that overrides [`DEFAULT_PATH`].
pub const PATH_ENV: &str = "GRAPPE_FLEET_CONFIG";

#[derive(Debug, Clone)]
pub struct FleetConfig {
    pub path: PathBuf,
    pub grappe: String,
    /// The PKI directory, when this machine has it: devices enrolled there and never seen
    /// are shown too.
    pub pki: Option<PathBuf>,
    pub broker: Broker,
    /// The grappe's structures, in the order of the file.
    pub structures: Vec<Structure>,
    pub thresholds: Thresholds,
}

/// A structure of the grappe (a nursing home, a home-care service...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Structure {
    /// As in the devices' `agent.toml` and topics.
    pub id: String,
    pub name: String,
    /// FINESS géographique: the 9-character number of the establishment's site.
    pub finess: String,
}

/// When a device is a problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    /// No sign of life for this long: missing (critical), not just offline.
    pub missing_after: Duration,
    /// A device certificate expiring within this is a warning (past it: critical).
    pub cert_expiry_warning: Duration,
    /// A posture score below this is a warning.
    pub min_posture_score: u8,
    /// Agents older than this are outdated (warning).
    pub min_agent_version: String,
    /// Equipment proof, "deployed and set up": the posture baseline a device must meet
    /// (score at or above this, and no failing critical check).
    pub proof_min_posture_score: u8,
    /// Equipment proof, "in use": the days active in a month a device must reach.
    pub proof_min_days_active: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            missing_after: Duration::from_secs(3 * 24 * 3600),
            cert_expiry_warning: Duration::from_secs(30 * 24 * 3600),
            min_posture_score: 70,
            min_agent_version: env!("CARGO_PKG_VERSION").into(),
            proof_min_posture_score: 70,
            proof_min_days_active: 8,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFleetConfig {
    fleet: RawFleet,
    broker: RawBroker,
    #[serde(default, rename = "structure")]
    structures: Vec<RawStructure>,
    #[serde(default)]
    thresholds: RawThresholds,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    grappe: String,
    pki: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStructure {
    id: String,
    name: String,
    finess: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawThresholds {
    missing_after: Option<String>,
    cert_expiry_warning: Option<String>,
    min_posture_score: Option<u8>,
    min_agent_version: Option<String>,
    proof_min_posture_score: Option<u8>,
    proof_min_days_active: Option<u32>,
}

/// The config path to use: `--config`, else `GRAPPE_FLEET_CONFIG`, else the default.
pub fn resolve_path(flag: Option<&Path>) -> PathBuf {
    crate::config::resolve_path_with(flag, PATH_ENV, DEFAULT_PATH)
}

impl FleetConfig {
    /// Reads and validates `fleet.toml` and the TLS files it names.
    pub fn load(path: &Path) -> Result<FleetConfig, ConfigError> {
        let raw: RawFleetConfig = read_toml(path, "config/fleet.toml")?;
        validate(path, raw).map_err(|(key, message)| ConfigError {
            file: path.to_path_buf(),
            key,
            message,
        })
    }

    /// The structure of this id, if the config names it.
    pub fn structure(&self, id: &str) -> Option<&Structure> {
        self.structures.iter().find(|s| s.id == id)
    }
}

fn validate(path: &Path, raw: RawFleetConfig) -> Result<FleetConfig, (String, String)> {
    let grappe = check_name("[fleet] grappe", raw.fleet.grappe)?;
    let broker = validate_broker(raw.broker)?;
    let mut structures = Vec::new();
    let (mut ids, mut finess_seen) = (HashSet::new(), HashSet::new());
    for (i, s) in raw.structures.into_iter().enumerate() {
        let key = |k: &str| format!("[[structure]] #{} {k}", i + 1);
        let id = check_name(&key("id"), s.id)?;
        if !ids.insert(id.clone()) {
            return Err((key("id"), format!("{id:?} is listed twice")));
        }
        if s.name.trim().is_empty() {
            return Err((key("name"), "is empty: give the structure's name".into()));
        }
        if !is_finess(&s.finess) {
            return Err((
                key("finess"),
                format!(
                    "{:?} is not a FINESS number: 9 characters, digits (the second may be A or B in Corsica)",
                    s.finess
                ),
            ));
        }
        if !finess_seen.insert(s.finess.clone()) {
            return Err((
                key("finess"),
                format!("{:?} is already the FINESS of another structure", s.finess),
            ));
        }
        structures.push(Structure {
            id,
            name: s.name.trim().to_string(),
            finess: s.finess,
        });
    }
    let defaults = Thresholds::default();
    let t = raw.thresholds;
    let day = Duration::from_secs(24 * 3600);
    let thresholds = Thresholds {
        missing_after: match t.missing_after {
            Some(v) => duration("[thresholds] missing_after", &v, Duration::from_secs(600))?,
            None => defaults.missing_after,
        },
        cert_expiry_warning: match t.cert_expiry_warning {
            Some(v) => duration("[thresholds] cert_expiry_warning", &v, day)?,
            None => defaults.cert_expiry_warning,
        },
        min_posture_score: match t.min_posture_score {
            Some(s) if s > 100 => {
                return Err((
                    "[thresholds] min_posture_score".into(),
                    format!("{s} is not a score (0 to 100)"),
                ))
            }
            Some(s) => s,
            None => defaults.min_posture_score,
        },
        min_agent_version: match t.min_agent_version {
            Some(v) if parse_version(&v).is_none() => {
                return Err((
                    "[thresholds] min_agent_version".into(),
                    format!("{v:?} is not a version like \"0.1.0\""),
                ))
            }
            Some(v) => v,
            None => defaults.min_agent_version,
        },
        proof_min_posture_score: match t.proof_min_posture_score {
            Some(s) if s > 100 => {
                return Err((
                    "[thresholds] proof_min_posture_score".into(),
                    format!("{s} is not a score (0 to 100)"),
                ))
            }
            Some(s) => s,
            None => defaults.proof_min_posture_score,
        },
        proof_min_days_active: match t.proof_min_days_active {
            Some(d) if d > 31 => {
                return Err((
                    "[thresholds] proof_min_days_active".into(),
                    format!("{d} days: a month has at most 31"),
                ))
            }
            Some(d) => d,
            None => defaults.proof_min_days_active,
        },
    };
    Ok(FleetConfig {
        path: path.to_path_buf(),
        grappe,
        pki: raw.fleet.pki,
        broker,
        structures,
        thresholds,
    })
}

/// FINESS numbers are 9 characters: the département (2 digits, or 2A/2B in Corsica) then
/// 7 digits, the last one a check digit.
fn is_finess(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 9
        && b[0].is_ascii_digit()
        && (b[1].is_ascii_digit() || (b[0] == b'2' && matches!(b[1], b'A' | b'B')))
        && b[2..].iter().all(u8::is_ascii_digit)
}

/// `MAJOR.MINOR.PATCH` as numbers (a pre-release suffix after `-` is ignored), for
/// comparing agent versions.
pub fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let version = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Result<FleetConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.toml");
        std::fs::write(&path, text).unwrap();
        FleetConfig::load(&path)
    }

    const BASE: &str = r#"
[fleet]
grappe = "grappe-test"

[broker]
url = "mqtt://127.0.0.1:1884"
allow_insecure = true
"#;

    #[test]
    fn a_minimal_config_gets_the_default_thresholds() {
        let c = load_str(BASE).unwrap();
        assert_eq!(c.grappe, "grappe-test");
        assert!(c.structures.is_empty());
        assert_eq!(c.thresholds, Thresholds::default());
        assert_eq!(c.broker.port, 1884);
    }

    #[test]
    fn structures_and_thresholds_are_read_and_checked() {
        let c = load_str(&format!(
            "{BASE}\n[[structure]]\nid = \"ehpad-a\"\nname = \" EHPAD A \"\nfiness = \"2A0001234\"\n\
             [[structure]]\nid = \"ssiad-b\"\nname = \"SSIAD B\"\nfiness = \"750000001\"\n\
             [thresholds]\nmissing_after = \"2d\"\nmin_posture_score = 80\nmin_agent_version = \"0.2.0\"\n"
        ))
        .unwrap();
        assert_eq!(c.structures.len(), 2);
        assert_eq!(c.structure("ehpad-a").unwrap().name, "EHPAD A");
        assert_eq!(c.thresholds.missing_after, Duration::from_secs(2 * 86400));
        assert_eq!(c.thresholds.min_posture_score, 80);
        assert_eq!(c.thresholds.min_agent_version, "0.2.0");

        for (extra, key, why) in [
            ("[[structure]]\nid = \"A\"\nname = \"x\"\nfiness = \"750000001\"", "id", "not a valid name"),
            ("[[structure]]\nid = \"a\"\nname = \"x\"\nfiness = \"75000001\"", "finess", "not a FINESS"),
            ("[[structure]]\nid = \"a\"\nname = \"x\"\nfiness = \"3A0000001\"", "finess", "not a FINESS"),
            ("[[structure]]\nid = \"a\"\nname = \"\"\nfiness = \"750000001\"", "name", "empty"),
            ("[[structure]]\nid = \"a\"\nname = \"x\"\nfiness = \"750000001\"\n[[structure]]\nid = \"a\"\nname = \"y\"\nfiness = \"750000002\"", "id", "twice"),
            ("[[structure]]\nid = \"a\"\nname = \"x\"\nfiness = \"750000001\"\n[[structure]]\nid = \"b\"\nname = \"y\"\nfiness = \"750000001\"", "finess", "another structure"),
            ("[thresholds]\nmin_posture_score = 101", "min_posture_score", "not a score"),
            ("[thresholds]\nmissing_after = \"soon\"", "missing_after", "not a duration"),
            ("[thresholds]\nmin_agent_version = \"one\"", "min_agent_version", "not a version"),
            ("[thresholds]\nproof_min_days_active = 32", "proof_min_days_active", "at most 31"),
            ("[thresholds]\nproof_min_posture_score = 200", "proof_min_posture_score", "not a score"),
        ] {
            let e = load_str(&format!("{BASE}\n{extra}\n")).unwrap_err();
            assert!(e.key.contains(key) && e.message.contains(why), "{extra}: {e}");
        }
    }

    #[test]
    fn unknown_keys_and_missing_sections_are_named() {
        let e = load_str(&format!("{BASE}\n[thresholds]\nmissing = \"1d\"\n")).unwrap_err();
        assert!(e.to_string().contains("unknown field `missing`"), "{e}");
        let e = load_str("[fleet]\ngrappe = \"g\"\n").unwrap_err();
        assert!(e.to_string().contains("broker"), "{e}");
        let e = load_str(&BASE.replace("mqtt://", "http://")).unwrap_err();
        assert_eq!(e.key, "[broker] url");
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert_eq!(parse_version("0.10.2"), Some((0, 10, 2)));
        assert!(parse_version("0.10.0") > parse_version("0.9.9"));
        assert_eq!(parse_version("1.2.3-rc1"), Some((1, 2, 3)));
        assert_eq!(parse_version("1.2"), None);
        assert_eq!(parse_version("1.2.3.4"), None);
    }
}
