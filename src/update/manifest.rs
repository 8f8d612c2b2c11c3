//! The release manifest, as the agent reads it to decide: self_update's `manifest` schema 1
//! (`{"schema":1,"releases":[{"version","assets":[{"name","url","digest"}]}]}`) plus an
//! optional per-release `rollout_percent`, which self_update does not carry. The download
//! and its verification are self_update's; this module only picks the release.

use super::rollout;
use crate::wire::update::Refusal;
use semver::Version;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `manifest.json`: the device reads it, `grappe-fleet release` writes it. Fields not
/// known here are kept as they were (`other`), so that the fleet tool never drops what a
/// newer tool or a person added.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u64,
    #[serde(default)]
    pub releases: Vec<Release>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Release {
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// This release's own share of the fleet, which wins over the device's config: IT
    /// gives a release to 5 % of the fleet, watches, then widens it in the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_percent: Option<u8>,
    #[serde(default)]
    pub assets: Vec<Asset>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    pub name: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Versions longer than this are ignored: the manifest is not signed, and whatever it says
/// ends up in the device's reports.
const MAX_VERSION_LEN: usize = 64;

/// The only manifest schema there is (self_update's).
pub const SCHEMA: u64 = 1;

/// The name a release's archive must have for `target`. The signature's context is the
/// file name, so a signed archive cannot be passed off as another version or target.
pub fn asset_name(version: &Version, target: &str) -> String {
    format!("{}-{version}-{target}.tar.gz", super::store::BIN_NAME)
}

/// What the manifest means for this device.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing newer than the running version that has not failed before.
    UpToDate,
    /// A newer release, outside this device's rollout share for now.
    NotInRollout {
        version: Version,
        percent: u8,
        position: u8,
    },
    /// Take this release.
    Take { version: Version, asset: Asset },
    /// The newest release cannot be taken.
    Refuse {
        version: Version,
        refusal: Refusal,
        reason: String,
    },
}

impl Manifest {
    /// Parses the manifest bytes; anything else (an error page, a truncated file, another
    /// schema) is a [`Refusal::BadManifest`] naming what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| {
            let start = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned();
            format!("not a release manifest ({e}); it starts with {start:?}")
        })?;
        if manifest.schema != SCHEMA {
            return Err(format!(
                "manifest schema {} is not one this agent reads ({SCHEMA})",
                manifest.schema
            ));
        }
        Ok(manifest)
    }

    /// Picks what this device should do: the newest release above `running` that did not
    /// fail here before. Versions at or below the running one are never taken, so neither
    /// a downgrade nor a replayed old release (signed, but old) gets in.
    pub fn decide(
        &self,
        running: &Version,
        target: &str,
        device: &str,
        default_percent: u8,
        has_failed: impl Fn(&Version) -> bool,
    ) -> Decision {
        let newest = self
            .releases
            .iter()
            // A version longer than any real one is not taken (nor repeated in reports).
            .filter(|r| r.version.len() <= MAX_VERSION_LEN)
            .filter_map(|r| Version::parse(&r.version).ok().map(|v| (v, r)))
            .filter(|(v, _)| v > running && !has_failed(v))
            .max_by(|(a, _), (b, _)| a.cmp(b));
        let Some((version, release)) = newest else {
            return Decision::UpToDate;
        };
        let percent = release.rollout_percent.unwrap_or(default_percent).min(100);
        let position = rollout::position(device);
        if position >= percent {
            return Decision::NotInRollout {
                version,
                percent,
                position,
            };
        }
        let wanted = asset_name(&version, target);
        let Some(asset) = release.assets.iter().find(|a| a.name == wanted) else {
            return Decision::Refuse {
                reason: format!(
                    "release {version} has no asset {wanted:?} for this device's target"
                ),
                version,
                refusal: Refusal::WrongTarget,
            };
        };
        match asset.digest.as_deref() {
            Some(d) if d.starts_with("sha256:") && d.len() == 7 + 64 => Decision::Take {
                version,
                asset: asset.clone(),
            },
            other => Decision::Refuse {
                reason: format!(
                    "asset {wanted:?} has no sha256 digest in the manifest ({other:?}); releases made with `grappe-fleet release sign` carry one"
                ),
                version,
                refusal: Refusal::Unsigned,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: &str = "aarch64-unknown-linux-gnu";

    fn manifest(json: &str) -> Manifest {
        Manifest::parse(json.as_bytes()).unwrap()
    }

    fn release(version: &str, percent: Option<u8>) -> String {
        let percent = percent.map_or(String::new(), |p| format!(r#""rollout_percent":{p},"#));
        format!(
            r#"{{"version":"{version}",{percent}"assets":[{{"name":"grappe-agent-{version}-{TARGET}.tar.gz","url":"x","digest":"sha256:{}"}}]}}"#,
            "a".repeat(64)
        )
    }

    fn decide(m: &Manifest, running: &str, percent: u8) -> Decision {
        m.decide(
            &Version::parse(running).unwrap(),
            TARGET,
            "device-1",
            percent,
            |v| v.to_string() == "0.4.0",
        )
    }

    #[test]
    fn garbage_and_other_schemas_are_refused_with_what_was_seen() {
        let e = Manifest::parse(b"<html>502 Bad Gateway</html>").unwrap_err();
        assert!(e.contains("<html>502"), "{e}");
        let e = Manifest::parse(br#"{"schema":2,"releases":[]}"#).unwrap_err();
        assert!(e.contains("schema 2"), "{e}");
        assert!(Manifest::parse(br#"{"schema":1,"releases":[{"version":"1"#).is_err());
    }

    #[test]
    fn the_newest_newer_release_that_did_not_fail_is_taken() {
        let m = manifest(&format!(
            r#"{{"schema":1,"releases":[{},{},{},{}]}}"#,
            release("0.2.0", None),
            release("0.4.0", None),
            release("0.3.0", None),
            release("0.0.9", None)
        ));
        match decide(&m, "0.1.0", 100) {
            Decision::Take { version, asset } => {
                assert_eq!(version.to_string(), "0.3.0", "0.4.0 failed before");
                assert!(asset.name.contains("0.3.0"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(decide(&m, "0.3.0", 100), Decision::UpToDate);
        assert_eq!(decide(&m, "9.0.0", 100), Decision::UpToDate, "no downgrade");
    }

    #[test]
    fn rollout_share_comes_from_the_release_before_the_config() {
        let position = rollout::position("device-1");
        let inside = manifest(&format!(
            r#"{{"schema":1,"releases":[{}]}}"#,
            release("0.2.0", Some(position + 1))
        ));
        assert!(matches!(decide(&inside, "0.1.0", 0), Decision::Take { .. }));
        let outside = manifest(&format!(
            r#"{{"schema":1,"releases":[{}]}}"#,
            release("0.2.0", Some(position))
        ));
        assert!(matches!(
            decide(&outside, "0.1.0", 100),
            Decision::NotInRollout { percent, .. } if percent == position
        ));
        let from_config = manifest(&format!(
            r#"{{"schema":1,"releases":[{}]}}"#,
            release("0.2.0", None)
        ));
        assert!(matches!(
            decide(&from_config, "0.1.0", 0),
            Decision::NotInRollout { .. }
        ));
    }

    #[test]
    fn an_absurdly_long_version_is_ignored() {
        let long = format!("9.0.0-{}", "a".repeat(100_000));
        let m = manifest(&format!(
            r#"{{"schema":1,"releases":[{}]}}"#,
            release(&long, None)
        ));
        assert_eq!(decide(&m, "0.1.0", 100), Decision::UpToDate);
    }

    #[test]
    fn a_release_without_this_target_or_digest_is_refused() {
        let other_target = manifest(
            r#"{"schema":1,"releases":[{"version":"0.2.0","assets":[{"name":"grappe-agent-0.2.0-x86_64-unknown-linux-gnu.tar.gz","url":"x","digest":"sha256:00"}]}]}"#,
        );
        assert!(matches!(
            decide(&other_target, "0.1.0", 100),
            Decision::Refuse {
                refusal: Refusal::WrongTarget,
                ..
            }
        ));
        let no_digest = manifest(&format!(
            r#"{{"schema":1,"releases":[{{"version":"0.2.0","assets":[{{"name":"grappe-agent-0.2.0-{TARGET}.tar.gz","url":"x"}}]}}]}}"#
        ));
        assert!(matches!(
            decide(&no_digest, "0.1.0", 100),
            Decision::Refuse {
                refusal: Refusal::Unsigned,
                ..
            }
        ));
    }
}
