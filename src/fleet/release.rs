//! `grappe-fleet release`: what the IT staff publish for the agent's signed self-update.
//!
//! Devices fetch a static `manifest.json` (self_update's manifest backend, schema 1, plus
//! our per-release `rollout_percent`) from the grappe's HTTPS file server and take the
//! archives beside it:
//!
//! ```text
//! DIR/manifest.json                                   every release, newest first
//! DIR/grappe-agent-{version}-{target}.tar.gz          one per target, zipsign-signed
//! ```
//!
//! Each archive holds the one file `grappe-agent` (0755, owner 0/0, a fixed mtime, so the
//! same binary always gives the same archive) and is signed (ed25519ph) with the asset's
//! file name as context: the device verifies with the name it downloaded, so a signature
//! cannot be replayed under another version or target. The manifest's digest is the
//! sha256 of the signed file.
//!
//! The key pair is zipsign's own format (`zipsign gen-key` makes the same files):
//! release.key, the 64 keypair bytes, stays offline; release.pub, the 32 public bytes, goes
//! to every device.

use crate::fsutil;
use crate::update::manifest::{asset_name, Asset as ManifestAsset, Manifest, Release, SCHEMA};
use anyhow::{bail, Context, Result};
use base64::Engine as _;
use ring::rand::SecureRandom as _;
use semver::Version;
use serde_json::Map;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use zipsign_api::{SigningKey, KEYPAIR_LENGTH};

/// The targets the agent is built for (`cross/build.sh`).
pub const TARGETS: [&str; 3] = [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "armv7-unknown-linux-gnueabihf",
];
pub const KEY_FILE: &str = "release.key";
pub const PUB_FILE: &str = "release.pub";
pub const MANIFEST: &str = "manifest.json";
/// Where devices look for the public key (`[update] public_key`).
pub const DEVICE_PUB_PATH: &str = "/etc/grappe-agent/release.pub";

/// The mtime of the binary inside every archive (2026-01-01T00:00:00Z): fixed so that the
/// same binary always packs to the same bytes.
const ARCHIVE_MTIME: u64 = 1_767_225_600;
/// Far above any agent build (a few MB), far below a mistaken file.
const MAX_BINARY: u64 = 512 << 20;
const MAX_MANIFEST: u64 = 64 << 20;
/// The target this grappe-fleet runs on (build.rs): binaries for it can be run to check
/// their version; the others cannot.
const HOST_TARGET: &str = env!("GRAPPE_TARGET");

/// What `keygen` wrote.
#[derive(Debug)]
pub struct KeyPair {
    pub key: PathBuf,
    pub public: PathBuf,
    pub public_base64: String,
}

/// Makes `out` (0700) if missing and writes the release key pair in it. Never overwrites:
/// a lost signing key means devices refuse every later release.
pub fn keygen(out: &Path) -> Result<KeyPair> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(out)
        .with_context(|| format!("cannot create {}", out.display()))?;
    let key_path = out.join(KEY_FILE);
    let pub_path = out.join(PUB_FILE);
    for path in [&key_path, &pub_path] {
        if path.symlink_metadata().is_ok() {
            bail!(
                "{} already exists: a release key is never overwritten (devices trust the old one); give another --out directory, or move the old pair away yourself if it is really meant to go",
                path.display()
            );
        }
    }
    let mut secret = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    let key = SigningKey::from_bytes(&secret);
    secret.fill(0);
    let public = key.verifying_key().to_bytes();

    write_new(&key_path, &key.to_keypair_bytes(), 0o600)?;
    write_new(&pub_path, &public, 0o644)?;
    Ok(KeyPair {
        key: key_path,
        public: pub_path,
        public_base64: base64::engine::general_purpose::STANDARD.encode(public),
    })
}

/// Creates `path` (never replacing one) with exactly `mode`, whatever the umask.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.set_permissions(fs::Permissions::from_mode(mode))
        .and_then(|()| file.write_all(bytes))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Reads a release key: exactly the 64 bytes of `keygen` or `zipsign gen-key`. The second
/// value is a warning when group or others can read it.
pub fn read_signing_key(path: &Path) -> Result<(SigningKey, Option<String>)> {
    let bytes = fsutil::read_bounded(path, 1 << 20)
        .with_context(|| format!("cannot read the release key {}", path.display()))?;
    let bytes: [u8; KEYPAIR_LENGTH] = bytes.as_slice().try_into().map_err(|_| {
        anyhow::anyhow!(
            "{} is not a release key: it must be the {KEYPAIR_LENGTH} bytes written by `grappe-fleet release keygen` (or `zipsign gen-key`), and this file is {} bytes{}",
            path.display(),
            bytes.len(),
            if bytes.len() == 32 { " (the public key, release.pub? give release.key)" } else { "" }
        )
    })?;
    let key = SigningKey::from_keypair_bytes(&bytes).map_err(|_| {
        anyhow::anyhow!(
            "{} is not a release key: its public half does not match its secret half (a damaged file, or not made by `release keygen`)",
            path.display()
        )
    })?;
    let mode = fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .permissions()
        .mode();
    let warning = (mode & 0o044 != 0).then(|| {
        format!(
            "{} is readable by group or others (mode {:04o}): `chmod 600 {}`; whoever reads it can sign what every device installs",
            path.display(),
            mode & 0o7777,
            path.display()
        )
    });
    Ok((key, warning))
}

/// One agent binary to publish, for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binary {
    pub target: String,
    pub path: PathBuf,
}

/// `TARGET=PATH` from the command line (the file itself is checked by [`sign`]).
pub fn parse_binary(arg: &str) -> Result<Binary> {
    let Some((target, path)) = arg.split_once('=') else {
        bail!("{arg:?} is not TARGET=PATH (e.g. aarch64-unknown-linux-gnu=target/aarch64-unknown-linux-gnu/release/grappe-agent)");
    };
    check_target(target)?;
    if path.is_empty() {
        bail!("{arg:?} has no path after '='");
    }
    Ok(Binary {
        target: target.to_string(),
        path: PathBuf::from(path),
    })
}

fn check_target(target: &str) -> Result<()> {
    if !TARGETS.contains(&target) {
        bail!(
            "{target:?} is not a target the agent is built for: one of {}",
            TARGETS.join(", ")
        );
    }
    Ok(())
}

/// Every `{target_dir}/{triple}/release/grappe-agent` that exists: what `cross/build.sh`
/// leaves, used when no TARGET=PATH is given.
pub fn default_binaries(target_dir: &Path) -> Result<Vec<Binary>> {
    let found: Vec<Binary> = TARGETS
        .iter()
        .map(|t| Binary {
            target: t.to_string(),
            path: target_dir.join(t).join("release").join("grappe-agent"),
        })
        .filter(|b| b.path.exists())
        .collect();
    if found.is_empty() {
        bail!(
            "no binary given and none of {}/{{{}}}/release/grappe-agent exists: build with `cross/build.sh TARGET`, or give TARGET=PATH",
            target_dir.display(),
            TARGETS.join(",")
        );
    }
    Ok(found)
}

/// What [`sign`] is asked to do.
#[derive(Debug, Clone)]
pub struct SignRequest {
    pub key: PathBuf,
    pub version: String,
    pub rollout_percent: Option<u8>,
    pub out: PathBuf,
    pub binaries: Vec<Binary>,
}

/// One archive written.
#[derive(Debug)]
pub struct Asset {
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    /// `sha256:HEX` of the signed file, as in the manifest.
    pub digest: String,
}

/// What [`sign`] wrote, and what the operator should know about.
#[derive(Debug)]
pub struct Signed {
    pub assets: Vec<Asset>,
    pub manifest: PathBuf,
    pub warnings: Vec<String>,
}

/// Packs, signs and publishes (into `out`) one release. Everything is checked before
/// anything is written: the version, the key, each binary, the existing manifest.
pub fn sign(req: &SignRequest) -> Result<Signed> {
    let version = parse_version(&req.version)?;
    if let Some(p) = req.rollout_percent {
        check_percent(p)?;
    }
    if req.binaries.is_empty() {
        bail!("no binary to sign: give TARGET=PATH");
    }
    let (key, warning) = read_signing_key(&req.key)?;
    let mut warnings: Vec<String> = warning.into_iter().collect();

    let mut binaries = Vec::with_capacity(req.binaries.len());
    for (i, b) in req.binaries.iter().enumerate() {
        check_target(&b.target)?;
        if req.binaries[..i].iter().any(|o| o.target == b.target) {
            bail!("{} is given twice: one binary per target", b.target);
        }
        let bytes = read_binary(b)?;
        if b.target == HOST_TARGET {
            check_binary_version(&b.path, &version)?;
        } else {
            warnings.push(format!(
                "{}: built for {}, not this machine, so its --version was not checked against {version}",
                b.path.display(),
                b.target
            ));
        }
        binaries.push((b, bytes));
    }

    let manifest_path = req.out.join(MANIFEST);
    let mut manifest = read_manifest(&manifest_path)?.unwrap_or_else(|| Manifest {
        schema: SCHEMA,
        releases: Vec::new(),
        other: Map::new(),
    });
    let mut known = Vec::with_capacity(manifest.releases.len());
    for r in &manifest.releases {
        known.push(parse_manifest_version(&manifest_path, &r.version)?);
    }
    if known.contains(&version) {
        bail!(
            "{} already holds version {version}: a published release never changes (devices may already run it); bump the version in Cargo.toml, rebuild, and sign that",
            manifest_path.display()
        );
    }

    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&req.out)
        .with_context(|| format!("cannot create {}", req.out.display()))?;
    let mut assets = Vec::with_capacity(binaries.len());
    for (b, bytes) in &binaries {
        assets.push(write_asset(&req.out, &version, &b.target, bytes, &key)?);
    }

    let date = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond")
        .format(&time::format_description::well_known::Rfc3339)
        .context("cannot format the date")?;
    manifest.releases.push(Release {
        version: version.to_string(),
        date: Some(date),
        rollout_percent: req.rollout_percent,
        assets: assets
            .iter()
            .map(|a| ManifestAsset {
                name: a.name.clone(),
                url: a.name.clone(),
                digest: Some(a.digest.clone()),
                other: Map::new(),
            })
            .collect(),
        other: Map::new(),
    });
    known.push(version);
    // Newest first, by semver (not by text: 0.10.0 is newer than 0.9.0).
    let mut order: Vec<(Version, Release)> = known.into_iter().zip(manifest.releases).collect();
    order.sort_by(|a, b| b.0.cmp(&a.0));
    manifest.releases = order.into_iter().map(|(_, r)| r).collect();
    write_manifest(&manifest_path, &manifest)?;
    Ok(Signed {
        assets,
        manifest: manifest_path,
        warnings,
    })
}

fn parse_version(v: &str) -> Result<Version> {
    Version::parse(v).map_err(|e| {
        anyhow::anyhow!("version {v:?} is not a semantic version X.Y.Z (as in Cargo.toml, without a leading v): {e}")
    })
}

fn parse_manifest_version(manifest: &Path, v: &str) -> Result<Version> {
    Version::parse(v).map_err(|e| {
        anyhow::anyhow!(
            "{}: release version {v:?} is not a semantic version ({e}); fix it by hand",
            manifest.display()
        )
    })
}

fn check_percent(p: u8) -> Result<()> {
    if p > 100 {
        bail!("rollout percent {p} is not a percentage (0 to 100)");
    }
    Ok(())
}

/// The binary's bytes, refused unless a regular file that starts like an ELF executable.
fn read_binary(b: &Binary) -> Result<Vec<u8>> {
    let bytes = fsutil::read_bounded(&b.path, MAX_BINARY).with_context(|| {
        format!(
            "cannot read the {} agent binary {}",
            b.target,
            b.path.display()
        )
    })?;
    if !bytes.starts_with(b"\x7fELF") || bytes.len() < 20 {
        bail!(
            "{} (for {}) is not an ELF executable: give the agent binary itself, target/{}/release/grappe-agent, not a package or an archive",
            b.path.display(),
            b.target,
            b.target
        );
    }
    // A binary published for the wrong target would be refused by every device (it does
    // not run there): catch the mix-up here, from the ELF header's class and machine.
    let (class, machine) = (bytes[4], u16::from_le_bytes([bytes[18], bytes[19]]));
    if Some((class, machine)) != elf_kind(&b.target) {
        bail!(
            "{} is not built for {} (ELF class {class}, machine {machine}): give target/{}/release/grappe-agent",
            b.path.display(),
            b.target,
            b.target
        );
    }
    Ok(bytes)
}

/// The ELF class (1: 32-bit, 2: 64-bit) and machine (`e_machine`) of a target's binaries.
fn elf_kind(target: &str) -> Option<(u8, u16)> {
    match target {
        "x86_64-unknown-linux-gnu" => Some((2, 62)),
        "aarch64-unknown-linux-gnu" => Some((2, 183)),
        "armv7-unknown-linux-gnueabihf" => Some((1, 40)),
        _ => None,
    }
}

/// Runs `binary --version` and refuses unless it states `version`: a binary published
/// under the wrong version would make devices update forever, or never.
pub fn check_binary_version(binary: &Path, version: &Version) -> Result<()> {
    // A bare name would be looked up in PATH: run the file given.
    let path =
        fs::canonicalize(binary).with_context(|| format!("cannot find {}", binary.display()))?;
    let out = std::process::Command::new(&path)
        .arg("--version")
        // It would make the binary claim another version.
        .env_remove("GRAPPE_AGENT_PRETEND_VERSION")
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run {} --version", binary.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !states_version(&text, version) {
        bail!(
            "{} --version says {:?}, not version {version}: set `version = \"{version}\"` in Cargo.toml and rebuild (cross/build.sh TARGET), or sign it under the version it was built as",
            binary.display(),
            text.lines().next().unwrap_or_default().trim()
        );
    }
    Ok(())
}

/// Whether a `--version` output names `version` as a whole word (0.2.0 is not in 0.2.0-rc1).
fn states_version(text: &str, version: &Version) -> bool {
    let want = version.to_string();
    text.split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ','))
        .any(|w| w.strip_prefix('v').unwrap_or(w) == want)
}

/// The unsigned tar.gz: the one file `grappe-agent`, the same bytes for the same binary.
pub fn pack(binary: &[u8]) -> Result<Vec<u8>> {
    let mut header = tar::Header::new_ustar();
    header.set_path("grappe-agent")?;
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(binary.len() as u64);
    header.set_mode(0o755);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(ARCHIVE_MTIME);
    header.set_cksum();
    // GzEncoder writes mtime 0 and no file name in its header: nothing varies.
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut builder = tar::Builder::new(gz);
    builder.append(&header, binary)?;
    Ok(builder.into_inner()?.finish()?)
}

/// Signs an archive from [`pack`] as the asset `name`: the name is the signature's
/// context, as the device verifies it. Returns the signed file's bytes.
pub fn sign_archive(archive: &[u8], key: &SigningKey, name: &str) -> Result<Vec<u8>> {
    let mut signed = std::io::Cursor::new(Vec::with_capacity(archive.len() + 1024));
    zipsign_api::sign::copy_and_sign_tar(
        &mut std::io::Cursor::new(archive),
        &mut signed,
        std::slice::from_ref(key),
        Some(name.as_bytes()),
    )
    .with_context(|| format!("cannot sign {name}"))?;
    Ok(signed.into_inner())
}

/// Writes `out/{asset}` signed (temporary file, then rename) and returns its digest.
fn write_asset(
    out: &Path,
    version: &Version,
    target: &str,
    binary: &[u8],
    key: &SigningKey,
) -> Result<Asset> {
    let name = asset_name(version, target);
    let path = out.join(&name);
    let tmp = out.join(format!(".{name}.tmp"));
    let result = (|| {
        let archive = pack(binary).with_context(|| format!("cannot pack {name}"))?;
        let signed = sign_archive(&archive, key, &name)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        file.write_all(&signed)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        drop(file);
        // The digest of what is on disk, read back.
        let digest = super::sha256_file(&tmp)?;
        let size = fs::metadata(&tmp)
            .with_context(|| format!("cannot read {}", tmp.display()))?
            .len();
        fs::rename(&tmp, &path)
            .with_context(|| format!("cannot rename {} to {name}", tmp.display()))?;
        fsutil::sync_dir(out).with_context(|| format!("cannot flush {}", out.display()))?;
        Ok(Asset {
            name: name.clone(),
            path: path.clone(),
            size,
            digest: format!("sha256:{digest}"),
        })
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Reads a manifest; `Ok(None)` when there is none yet.
pub fn read_manifest(path: &Path) -> Result<Option<Manifest>> {
    let text = match fsutil::read_text_bounded(path, MAX_MANIFEST) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a release manifest (JSON with \"schema\": 1 and \"releases\"): {e}; fix it, or move it away to start a new one",
            path.display()
        )
    })?;
    if manifest.schema != SCHEMA {
        bail!(
            "{} has schema {}, but devices and this tool read schema {SCHEMA} only",
            path.display(),
            manifest.schema
        );
    }
    if let Some(r) = manifest
        .releases
        .iter()
        .find(|r| r.rollout_percent.is_some_and(|p| p > 100))
    {
        bail!(
            "{}: release {} has rollout_percent {}, not a percentage (0 to 100)",
            path.display(),
            r.version,
            r.rollout_percent.unwrap_or_default()
        );
    }
    Ok(Some(manifest))
}

fn write_manifest(path: &Path, manifest: &Manifest) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(manifest)?;
    json.push(b'\n');
    fsutil::write_atomic(path, &json).with_context(|| format!("cannot write {}", path.display()))
}

/// Sets release `version`'s `rollout_percent` in `out/manifest.json`; returns the previous
/// value (`None`: it had none, i.e. every device).
pub fn set_rollout(out: &Path, version: &str, percent: u8) -> Result<Option<u8>> {
    let version = parse_version(version)?;
    check_percent(percent)?;
    let path = out.join(MANIFEST);
    let Some(mut manifest) = read_manifest(&path)? else {
        bail!(
            "there is no {}: sign a release first (`grappe-fleet release sign --out {}`)",
            path.display(),
            out.display()
        );
    };
    let mut found = None;
    for r in manifest.releases.iter_mut() {
        if parse_manifest_version(&path, &r.version)? == version {
            found = Some(r);
            break;
        }
    }
    let Some(release) = found else {
        let have: Vec<&str> = manifest
            .releases
            .iter()
            .map(|r| r.version.as_str())
            .collect();
        bail!(
            "{} has no release {version} (it has: {}); sign it first",
            path.display(),
            if have.is_empty() {
                "none".into()
            } else {
                have.join(", ")
            }
        );
    };
    let before = release.rollout_percent.replace(percent);
    write_manifest(&path, &manifest)?;
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;
    use std::os::unix::fs::MetadataExt as _;

    /// An ELF header for `target` (class and machine), then filler.
    fn fake_elf(target: &str) -> Vec<u8> {
        let (class, machine) = elf_kind(target).unwrap();
        let mut bytes = vec![0x7f, b'E', b'L', b'F', class, 1, 1, 0];
        bytes.resize(16, 0);
        bytes.extend_from_slice(&2u16.to_le_bytes()); // e_type: executable
        bytes.extend_from_slice(&machine.to_le_bytes());
        bytes.extend_from_slice(b" a fake agent binary, long enough to compress");
        bytes
    }

    /// A target whose binary is never run here (the host's would be, with --version).
    fn foreign_target() -> &'static str {
        TARGETS
            .iter()
            .copied()
            .find(|t| *t != HOST_TARGET)
            .expect("three targets, one host")
    }

    struct Setup {
        dir: tempfile::TempDir,
        key: PathBuf,
        public: [u8; 32],
        binary: PathBuf,
    }

    impl Setup {
        fn new() -> Setup {
            let dir = tempfile::tempdir().unwrap();
            let pair = keygen(&dir.path().join("keys")).unwrap();
            let public: [u8; 32] = fs::read(&pair.public).unwrap().try_into().unwrap();
            let binary = dir.path().join("grappe-agent");
            fs::write(&binary, fake_elf(foreign_target())).unwrap();
            Setup {
                key: pair.key,
                public,
                binary,
                dir,
            }
        }

        fn out(&self) -> PathBuf {
            self.dir.path().join("out")
        }

        fn sign(&self, version: &str, rollout: Option<u8>) -> Result<Signed> {
            sign(&SignRequest {
                key: self.key.clone(),
                version: version.into(),
                rollout_percent: rollout,
                out: self.out(),
                binaries: vec![Binary {
                    target: foreign_target().into(),
                    path: self.binary.clone(),
                }],
            })
        }

        fn manifest(&self) -> serde_json::Value {
            serde_json::from_slice(&fs::read(self.out().join(MANIFEST)).unwrap()).unwrap()
        }
    }

    #[test]
    fn keygen_writes_a_zipsign_pair_with_tight_modes_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("new");
        let pair = keygen(&out).unwrap();
        let key = fs::read(&pair.key).unwrap();
        let public = fs::read(&pair.public).unwrap();
        assert_eq!((key.len(), public.len()), (64, 32));
        assert_eq!(fs::metadata(&pair.key).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&pair.public).unwrap().mode() & 0o777, 0o644);
        let signing = SigningKey::from_keypair_bytes(&key.try_into().unwrap()).unwrap();
        assert_eq!(signing.verifying_key().as_bytes(), public.as_slice());
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&pair.public_base64)
                .unwrap(),
            public
        );
        let (_, warning) = read_signing_key(&pair.key).unwrap();
        assert!(warning.is_none());

        let err = keygen(&out).unwrap_err().to_string();
        assert!(err.contains("release.key already exists"), "{err}");
        assert_eq!(fs::read(&pair.key).unwrap().len(), 64);
        // A stray release.pub alone is refused too, before any key is written.
        let other = dir.path().join("other");
        fs::create_dir(&other).unwrap();
        fs::write(other.join(PUB_FILE), b"x").unwrap();
        assert!(keygen(&other).is_err());
        assert!(!other.join(KEY_FILE).exists());
    }

    #[test]
    fn a_bad_or_exposed_key_is_named() {
        let s = Setup::new();
        let short = s.dir.path().join("short.key");
        fs::write(&short, [1u8; 32]).unwrap();
        let err = read_signing_key(&short).unwrap_err().to_string();
        assert!(
            err.contains("short.key") && err.contains("64 bytes"),
            "{err}"
        );
        // 64 bytes whose public half is not the secret's.
        let mut bytes = fs::read(&s.key).unwrap();
        bytes[40] ^= 1;
        let bad = s.dir.path().join("bad.key");
        fs::write(&bad, &bytes).unwrap();
        assert!(read_signing_key(&bad).is_err());

        fs::set_permissions(&s.key, fs::Permissions::from_mode(0o644)).unwrap();
        let (_, warning) = read_signing_key(&s.key).unwrap();
        assert!(warning.unwrap().contains("chmod 600"));
    }

    #[test]
    fn sign_writes_a_signed_archive_self_update_accepts_and_its_digest() {
        let s = Setup::new();
        let signed = s.sign("0.2.0", Some(5)).unwrap();
        assert_eq!(signed.assets.len(), 1);
        let asset = &signed.assets[0];
        let name = format!("grappe-agent-0.2.0-{}.tar.gz", foreign_target());
        assert_eq!(asset.name, name);
        assert_eq!(asset.path, s.out().join(&name));

        self_update::verify_signature(&asset.path, &[s.public]).expect("signed with release.key");
        let other = keygen(&s.dir.path().join("other")).unwrap();
        let other: [u8; 32] = fs::read(&other.public).unwrap().try_into().unwrap();
        assert!(self_update::verify_signature(&asset.path, &[other]).is_err());
        // The context is the file name: the same bytes under another name are refused.
        let renamed = s
            .dir
            .path()
            .join("grappe-agent-9.9.9-x86_64-unknown-linux-gnu.tar.gz");
        fs::copy(&asset.path, &renamed).unwrap();
        assert!(self_update::verify_signature(&renamed, &[s.public]).is_err());

        let bytes = fs::read(&asset.path).unwrap();
        assert_eq!(asset.size, bytes.len() as u64);
        let digest = format!("sha256:{}", crate::wire::signed::sha256_hex(&bytes));
        assert_eq!(asset.digest, digest);

        // One file, grappe-agent, 0755, root, with the binary's bytes.
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        let mut entries = archive.entries().unwrap();
        let mut entry = entries.next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap(), Path::new("grappe-agent"));
        let header = entry.header();
        assert_eq!(header.mode().unwrap(), 0o755);
        assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0));
        assert_eq!(header.mtime().unwrap(), ARCHIVE_MTIME);
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        assert_eq!(content, fake_elf(foreign_target()));
        drop(entry);
        assert!(entries.next().is_none());

        let manifest = s.manifest();
        assert_eq!(manifest["schema"], 1);
        let release = &manifest["releases"][0];
        assert_eq!(release["version"], "0.2.0");
        assert_eq!(release["rollout_percent"], 5);
        assert!(time::OffsetDateTime::parse(
            release["date"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok());
        let listed = &release["assets"][0];
        assert_eq!(
            (listed["name"].as_str(), listed["url"].as_str()),
            (Some(&*name), Some(&*name))
        );
        assert_eq!(listed["digest"], digest);

        // One byte flipped in the middle: refused.
        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x40;
        fs::write(&asset.path, &flipped).unwrap();
        assert!(self_update::verify_signature(&asset.path, &[s.public]).is_err());
    }

    #[test]
    fn the_same_binary_packs_to_the_same_archive() {
        let binary = fake_elf(foreign_target());
        assert_eq!(pack(&binary).unwrap(), pack(&binary).unwrap());
    }

    #[test]
    fn releases_accumulate_newest_first_and_never_change() {
        let s = Setup::new();
        s.sign("0.9.0", None).unwrap();
        s.sign("0.10.0", Some(10)).unwrap();
        s.sign("0.2.0", None).unwrap();
        let m = s.manifest();
        let versions: Vec<&str> = m["releases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["version"].as_str().unwrap())
            .collect();
        assert_eq!(versions, ["0.10.0", "0.9.0", "0.2.0"]);
        assert!(m["releases"][1].get("rollout_percent").is_none());

        let before = fs::read(s.out().join(MANIFEST)).unwrap();
        let err = s.sign("0.9.0", None).unwrap_err().to_string();
        assert!(err.contains("already holds version 0.9.0"), "{err}");
        assert_eq!(fs::read(s.out().join(MANIFEST)).unwrap(), before);
    }

    #[test]
    fn rollout_changes_only_the_named_release() {
        let s = Setup::new();
        s.sign("0.1.0", None).unwrap();
        s.sign("0.2.0", Some(5)).unwrap();
        assert_eq!(set_rollout(&s.out(), "0.2.0", 50).unwrap(), Some(5));
        let m = s.manifest();
        assert_eq!(m["releases"][0]["rollout_percent"], 50);
        assert!(m["releases"][1].get("rollout_percent").is_none());
        assert_eq!(set_rollout(&s.out(), "0.2.0", 100).unwrap(), Some(50));

        let err = set_rollout(&s.out(), "0.3.0", 10).unwrap_err().to_string();
        assert!(
            err.contains("no release 0.3.0") && err.contains("0.2.0, 0.1.0"),
            "{err}"
        );
        assert!(set_rollout(&s.out(), "0.2.0", 101).is_err());
        let empty = tempfile::tempdir().unwrap();
        assert!(set_rollout(empty.path(), "0.2.0", 10).is_err());
    }

    #[test]
    fn unknown_fields_of_the_manifest_are_kept() {
        let s = Setup::new();
        fs::create_dir_all(s.out()).unwrap();
        fs::write(
            s.out().join(MANIFEST),
            r#"{"schema":1,"note":"kept","releases":[{"version":"0.1.0","notes_url":"https://x/",
               "assets":[{"name":"a","url":"a","size":3}]}]}"#,
        )
        .unwrap();
        s.sign("0.2.0", None).unwrap();
        let m = s.manifest();
        assert_eq!(m["note"], "kept");
        assert_eq!(m["releases"][1]["notes_url"], "https://x/");
        assert_eq!(m["releases"][1]["assets"][0]["size"], 3);
    }

    #[test]
    fn a_garbage_manifest_is_named_and_left_alone() {
        let s = Setup::new();
        fs::create_dir_all(s.out()).unwrap();
        let path = s.out().join(MANIFEST);
        for garbage in ["not json", r#"{"schema":2,"releases":[]}"#] {
            fs::write(&path, garbage).unwrap();
            let err = s.sign("0.2.0", None).unwrap_err().to_string();
            assert!(err.contains(&path.display().to_string()), "{err}");
            let err = set_rollout(&s.out(), "0.2.0", 5).unwrap_err().to_string();
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert_eq!(fs::read_to_string(&path).unwrap(), garbage);
        }
        // Nothing was signed either: every check comes before the first write.
        assert_eq!(fs::read_dir(s.out()).unwrap().count(), 1);
    }

    #[test]
    fn a_binary_for_another_target_is_refused() {
        let setup = Setup::new();
        let other = TARGETS
            .iter()
            .copied()
            .find(|t| *t != HOST_TARGET && *t != foreign_target())
            .unwrap();
        let e = sign(&SignRequest {
            key: setup.key.clone(),
            version: "0.2.0".into(),
            rollout_percent: None,
            out: setup.out(),
            binaries: vec![Binary {
                target: other.into(),
                path: setup.binary.clone(),
            }],
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains(&format!("is not built for {other}")), "{e}");
        assert!(!setup.out().join(MANIFEST).exists(), "nothing written");
        assert!(setup.sign("0.2.0", None).is_ok(), "its own target is fine");
    }

    #[test]
    fn bad_inputs_are_refused_with_what_to_do() {
        let s = Setup::new();
        let not_elf = s.dir.path().join("agent.deb");
        fs::write(&not_elf, b"!<arch>\n").unwrap();
        let request = |version: &str, rollout, binaries| SignRequest {
            key: s.key.clone(),
            version: String::from(version),
            rollout_percent: rollout,
            out: s.out(),
            binaries,
        };
        let good = vec![Binary {
            target: foreign_target().into(),
            path: s.binary.clone(),
        }];
        let err = sign(&request("v0.2", None, good.clone()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("semantic version"), "{err}");
        assert!(sign(&request("0.2.0", Some(101), good.clone())).is_err());
        let err = sign(&request(
            "0.2.0",
            None,
            vec![Binary {
                target: foreign_target().into(),
                path: not_elf,
            }],
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("not an ELF"), "{err}");
        let twice = [good.clone(), good.clone()].concat();
        assert!(sign(&request("0.2.0", None, twice)).is_err());
        let missing = vec![Binary {
            target: foreign_target().into(),
            path: s.dir.path().join("nothing"),
        }];
        assert!(sign(&request("0.2.0", None, missing)).is_err());
        assert!(!s.out().exists());

        assert!(parse_binary("riscv64gc-unknown-linux-gnu=x").is_err());
        assert!(parse_binary("target/x/grappe-agent").is_err());
        assert_eq!(
            parse_binary("aarch64-unknown-linux-gnu=a=b").unwrap(),
            Binary {
                target: "aarch64-unknown-linux-gnu".into(),
                path: "a=b".into()
            }
        );
    }

    #[test]
    fn default_binaries_are_what_cross_build_leaves() {
        let dir = tempfile::tempdir().unwrap();
        assert!(default_binaries(dir.path()).is_err());
        let arm = dir.path().join("armv7-unknown-linux-gnueabihf/release");
        fs::create_dir_all(&arm).unwrap();
        fs::write(
            arm.join("grappe-agent"),
            fake_elf("armv7-unknown-linux-gnueabihf"),
        )
        .unwrap();
        let found = default_binaries(dir.path()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].target, "armv7-unknown-linux-gnueabihf");
        assert_eq!(found[0].path, arm.join("grappe-agent"));
    }

    #[test]
    fn the_version_check_wants_the_whole_version() {
        let v = Version::parse("0.2.0").unwrap();
        assert!(states_version(
            "grappe-agent 0.2.0 (x86_64-unknown-linux-gnu, abc)\n",
            &v
        ));
        assert!(states_version("grappe-agent v0.2.0\n", &v));
        assert!(!states_version("grappe-agent 0.2.0-rc1\n", &v));
        assert!(!states_version("grappe-agent 10.2.0\n", &v));
        // A real binary that states another version (GNU true prints coreutils').
        assert!(check_binary_version(Path::new("/bin/true"), &v).is_err());
    }
}
