//! The grappe's PKI, kept in one directory by `grappe-fleet pki`: two CAs, every
//! certificate issued, and the revocation lists the broker reads.
//!
//! - `ca.pem` / `ca.key`: the grappe CA. It signs the broker's certificate and the
//!   devices'. Devices trust it for the broker; the broker trusts it for devices.
//! - `operators-ca.pem` / `operators-ca.key`: the operators' CA. The broker takes operators
//!   on a listener of their own that trusts only this CA: there the client id is free (each
//!   `grappe-fleet` run picks its own, so two people never throw each other off), and no
//!   device certificate can connect to it.
//! - `server.pem` / `server.key`: the broker's certificate.
//! - `crl.pem`, `operators-crl.pem`: what is revoked, one list per CA.
//! - `issued/SERIAL.pem`: a copy of every certificate issued; `pki.json`: the register
//!   (who, which structure, serial, validity, revoked or superseded), rewritten
//!   atomically, one command at a time (a lock file).
//!
//! Identity: a certificate's common name is what the broker's ACL matches, so a device's
//! CN is its device id, and the grappe and structure are in its subject (O and OU).

use crate::fsutil;
use crate::wire::{self, is_valid_name, VALID_NAME};
use anyhow::{anyhow, bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams,
    CertificateSigningRequestParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason, RevokedCertParams,
    SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// Validity of the two CAs: the lifetime of the equipment and then some. Renewing a CA
/// means re-enrolling every device, so it must outlive them.
pub const CA_DAYS: i64 = 20 * 365;
pub const SERVER_DAYS: i64 = 825;
pub const DEVICE_DAYS: i64 = 2 * 365;
pub const OPERATOR_DAYS: i64 = 365;
/// Certificates start an hour in the past: a device whose clock lags a little (no RTC,
/// NTP not yet synced) still accepts them.
const BACKDATE: Duration = Duration::hours(1);

const REGISTER: &str = "pki.json";
const SCHEMA: &str = "grappe-fleet/pki/1";

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Server,
    Operator,
    Device,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Operator => "operator",
            Role::Device => "device",
        }
    }

    /// The CA that signs it (and whose CRL lists it when revoked).
    pub fn ca(self) -> Ca {
        match self {
            Role::Operator => Ca::Operators,
            Role::Server | Role::Device => Ca::Grappe,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ca {
    Grappe,
    Operators,
}

impl Ca {
    pub fn cert_file(self) -> &'static str {
        match self {
            Ca::Grappe => "ca.pem",
            Ca::Operators => "operators-ca.pem",
        }
    }

    fn key_file(self) -> &'static str {
        match self {
            Ca::Grappe => "ca.key",
            Ca::Operators => "operators-ca.key",
        }
    }

    pub fn crl_file(self) -> &'static str {
        match self {
            Ca::Grappe => "crl.pem",
            Ca::Operators => "operators-crl.pem",
        }
    }
}

/// One certificate in the register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    pub role: Role,
    /// The common name: device id, operator name, or the broker's first host name.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structure: Option<String>,
    /// Hexadecimal, as `openssl x509 -serial` prints it.
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    /// The broker's host names and addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// The board's serial number, kept in the subject to tie the certificate to the
    /// funded equipment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board_serial: Option<String>,
    /// Signed from a CSR: the key was made on the device and never left it.
    #[serde(default)]
    pub key_from_csr: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_reason: Option<String>,
    /// The serial of the certificate that renewed this one. A superseded certificate stays
    /// valid until it expires, so the device works until its new bundle is installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
}

impl Issued {
    pub fn not_after_time(&self) -> Option<OffsetDateTime> {
        OffsetDateTime::parse(&self.not_after, &Rfc3339).ok()
    }

    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.not_after_time().is_some_and(|t| t <= now)
    }

    /// Not revoked and not expired: the broker lets it in.
    pub fn is_usable(&self, now: OffsetDateTime) -> bool {
        self.revoked.is_none() && !self.is_expired(now)
    }

    /// What `pki list` says of it.
    pub fn state(&self, now: OffsetDateTime) -> String {
        if let Some(at) = &self.revoked {
            format!("revoked {}", at.get(..10).unwrap_or(at))
        } else if self.is_expired(now) {
            "expired".into()
        } else if self.superseded_by.is_some() {
            "superseded".into()
        } else {
            "valid".into()
        }
    }
}

/// Where `broker-config` last wrote, so that `issue` and `revoke` can write it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerSettings {
    pub out: PathBuf,
    pub port: u16,
    pub operator_port: u16,
    /// Where the files will be on the broker (the paths written in the config).
    pub install_dir: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Register {
    schema: String,
    grappe: String,
    crl_number: u64,
    certificates: Vec<Issued>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    broker_config: Option<BrokerSettings>,
}

/// What a device certificate is asked for.
pub struct DeviceRequest<'a> {
    pub structure: &'a str,
    pub device: &'a str,
    pub board_serial: Option<&'a str>,
    pub days: i64,
    /// Issue again an id whose certificates were all revoked.
    pub reuse_revoked: bool,
}

/// Whose key signs the certificate: a new one made here, or the one in a CSR.
pub enum KeySource {
    Generate,
    Csr(String),
}

/// A freshly issued certificate, with its key when it was made here.
pub struct Fresh {
    pub issued: Issued,
    pub cert_pem: String,
    pub key_pem: Option<String>,
}

/// The PKI directory, locked for the lifetime of the value.
pub struct Pki {
    dir: PathBuf,
    register: Register,
    _lock: File,
}

impl Pki {
    /// Creates the directory (0700), both CAs (ECDSA P-256, keys 0600) and empty CRLs.
    pub fn init(dir: &Path, grappe: &str) -> Result<Pki> {
        check_name("grappe", grappe)?;
        if dir.join(REGISTER).exists() || dir.join(Ca::Grappe.key_file()).exists() {
            bail!(
                "{} already holds a PKI; a second CA would split the grappe in two (use another --dir to start afresh)",
                dir.display()
            );
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir.join("issued"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let lock = lock(dir)?;
        let now = OffsetDateTime::now_utc();
        for (ca, cn) in [
            (Ca::Grappe, format!("{grappe} CA")),
            (Ca::Operators, format!("{grappe} operators CA")),
        ] {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
            let mut params = CertificateParams::default();
            params.distinguished_name = subject(&cn, grappe, None);
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            params.not_before = now - BACKDATE;
            params.not_after = now + Duration::days(CA_DAYS);
            params.serial_number = Some(random_serial()?);
            let cert = params.self_signed(&key)?;
            fsutil::write_atomic_private(&dir.join(ca.key_file()), key.serialize_pem().as_bytes())?;
            fsutil::write_atomic(&dir.join(ca.cert_file()), cert.pem().as_bytes())?;
        }
        let mut pki = Pki {
            dir: dir.to_path_buf(),
            register: Register {
                schema: SCHEMA.into(),
                grappe: grappe.into(),
                crl_number: 0,
                certificates: Vec::new(),
                broker_config: None,
            },
            _lock: lock,
        };
        pki.write_crls()?;
        pki.save()?;
        Ok(pki)
    }

    /// Opens an existing PKI directory.
    pub fn open(dir: &Path) -> Result<Pki> {
        let path = dir.join(REGISTER);
        if !path.exists() {
            bail!(
                "{} holds no PKI ({REGISTER} is missing); create one with `grappe-fleet pki init --dir {} --grappe ID`",
                dir.display(),
                dir.display()
            );
        }
        let lock = lock(dir)?;
        Ok(Pki {
            dir: dir.to_path_buf(),
            register: read_register(&path)?,
            _lock: lock,
        })
    }

    /// The certificates of the register in `dir`, read without taking the lock (the
    /// register is replaced atomically): for the views, which change nothing.
    pub fn read_certificates(dir: &Path) -> Result<Vec<Issued>> {
        Ok(read_register(&dir.join(REGISTER))?.certificates)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn grappe(&self) -> &str {
        &self.register.grappe
    }

    pub fn certificates(&self) -> &[Issued] {
        &self.register.certificates
    }

    pub fn broker_settings(&self) -> Option<&BrokerSettings> {
        self.register.broker_config.as_ref()
    }

    pub fn set_broker_settings(&mut self, settings: BrokerSettings) -> Result<()> {
        self.register.broker_config = Some(settings);
        self.save()
    }

    pub fn ca_path(&self, ca: Ca) -> PathBuf {
        self.dir.join(ca.cert_file())
    }

    pub fn crl_path(&self, ca: Ca) -> PathBuf {
        self.dir.join(ca.crl_file())
    }

    pub fn ca_pem(&self, ca: Ca) -> Result<String> {
        read(&self.ca_path(ca))
    }

    /// The broker's current certificate, if one was issued.
    pub fn server(&self) -> Option<&Issued> {
        self.current(Role::Server, None)
    }

    pub fn server_files(&self) -> (PathBuf, PathBuf) {
        (self.dir.join("server.pem"), self.dir.join("server.key"))
    }

    /// The newest certificate of `id` in `role` that is neither revoked nor superseded.
    pub fn current(&self, role: Role, id: Option<&str>) -> Option<&Issued> {
        self.register.certificates.iter().rev().find(|c| {
            c.role == role
                && id.is_none_or(|id| c.id == id)
                && c.revoked.is_none()
                && c.superseded_by.is_none()
        })
    }

    /// The identities the broker must know: every device and operator with a certificate
    /// that is neither revoked nor expired.
    pub fn usable(&self, role: Role, now: OffsetDateTime) -> Vec<&Issued> {
        let mut seen = std::collections::BTreeMap::new();
        for c in &self.register.certificates {
            if c.role == role && c.is_usable(now) {
                seen.entry(c.id.as_str()).or_insert(c);
            }
        }
        seen.into_values().collect()
    }

    /// The broker's certificate for `hosts` (DNS names) and `ips`, written as `server.pem`
    /// and `server.key` in the PKI directory. A new one supersedes the previous one.
    pub fn issue_server(
        &mut self,
        hosts: &[String],
        ips: &[std::net::IpAddr],
        days: i64,
    ) -> Result<Issued> {
        let first = hosts.first().ok_or_else(|| {
            anyhow!("give at least one --host: the name the devices use in their broker url")
        })?;
        if let Some(bad) = hosts.iter().find(|h| h.contains(['*', ' ', '/'])) {
            bail!("--host {bad:?}: give a plain host name (no wildcard)");
        }
        let mut names: Vec<String> = hosts.to_vec();
        names.extend(ips.iter().map(|ip| ip.to_string()));
        let mut params = CertificateParams::new(names.clone())
            .map_err(|e| anyhow!("a --host is not a valid DNS name: {e}"))?;
        params.distinguished_name = subject(first, self.grappe(), None);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let fresh = self.sign(Role::Server, params, KeySource::Generate, days, |issued| {
            issued.id = first.clone();
            issued.hosts = names.clone();
        })?;
        let (cert, key) = self.server_files();
        fsutil::write_atomic_private(
            &key,
            fresh.key_pem.as_deref().unwrap_or_default().as_bytes(),
        )?;
        fsutil::write_atomic(&cert, fresh.cert_pem.as_bytes())?;
        self.supersede_and_record(&fresh.issued)?;
        Ok(fresh.issued)
    }

    /// An operator's certificate (from the operators' CA).
    pub fn issue_operator(&mut self, name: &str, days: i64, reuse_revoked: bool) -> Result<Fresh> {
        check_name("operator name", name)?;
        self.check_new_identity(Role::Operator, name, None, reuse_revoked)?;
        self.issue_operator_unchecked(name, days)
    }

    fn issue_operator_unchecked(&mut self, name: &str, days: i64) -> Result<Fresh> {
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(name, self.grappe(), Some("operators"));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let fresh = self.sign(
            Role::Operator,
            params,
            KeySource::Generate,
            days,
            |issued| {
                issued.id = name.into();
            },
        )?;
        self.supersede_and_record(&fresh.issued)?;
        Ok(fresh)
    }

    /// A device's certificate: CN = device id, O = grappe, OU = structure.
    pub fn issue_device(&mut self, req: &DeviceRequest, key: KeySource) -> Result<Fresh> {
        check_name("structure", req.structure)?;
        check_name("device id", req.device)?;
        if let Some(serial) = req.board_serial {
            if serial.is_empty()
                || serial.len() > 64
                || !serial.bytes().all(|b| b.is_ascii_graphic())
            {
                bail!("--serial {serial:?}: give the board's serial number (1 to 64 printable characters, no spaces)");
            }
        }
        self.check_new_identity(
            Role::Device,
            req.device,
            Some(req.structure),
            req.reuse_revoked,
        )?;
        self.issue_device_unchecked(req, key)
    }

    fn issue_device_unchecked(&mut self, req: &DeviceRequest, key: KeySource) -> Result<Fresh> {
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(req.device, self.grappe(), Some(req.structure));
        if let Some(serial) = req.board_serial {
            params
                .distinguished_name
                .push(DnType::CustomDnType(vec![2, 5, 4, 5]), serial);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let fresh = self.sign(Role::Device, params, key, req.days, |issued| {
            issued.id = req.device.into();
            issued.structure = Some(req.structure.into());
            issued.board_serial = req.board_serial.map(str::to_owned);
        })?;
        self.supersede_and_record(&fresh.issued)?;
        Ok(fresh)
    }

    /// A new certificate for an identity that has one: same id, structure and board
    /// serial, a new key (or the one of `csr`). The old certificate is marked superseded
    /// and stays valid until it expires.
    pub fn renew(
        &mut self,
        role: Role,
        id: Option<&str>,
        key: KeySource,
        days: Option<i64>,
    ) -> Result<Fresh> {
        let old = self
            .current(role, id)
            .cloned()
            .ok_or_else(|| match id {
                Some(id) => anyhow!("no valid {} certificate for {id:?} to renew (pki list shows them; a revoked one is issued again with issue-{} --reuse-revoked)", role.name(), role.name()),
                None => anyhow!("no {} certificate to renew; issue one first", role.name()),
            })?;
        match role {
            Role::Device => self.issue_device_unchecked(
                &DeviceRequest {
                    structure: old.structure.as_deref().unwrap_or_default(),
                    device: &old.id,
                    board_serial: old.board_serial.as_deref(),
                    days: days.unwrap_or(DEVICE_DAYS),
                    reuse_revoked: false,
                },
                key,
            ),
            Role::Operator => self.issue_operator_unchecked(&old.id, days.unwrap_or(OPERATOR_DAYS)),
            Role::Server => {
                let (hosts, ips): (Vec<String>, Vec<String>) = old
                    .hosts
                    .iter()
                    .cloned()
                    .partition(|h| h.parse::<std::net::IpAddr>().is_err());
                let ips: Vec<std::net::IpAddr> =
                    ips.iter().filter_map(|ip| ip.parse().ok()).collect();
                let issued = self.issue_server(&hosts, &ips, days.unwrap_or(SERVER_DAYS))?;
                Ok(Fresh {
                    cert_pem: read(&self.server_files().0)?,
                    key_pem: None,
                    issued,
                })
            }
        }
    }

    /// Revokes every certificate of `id` in `role` that is not revoked yet, and rewrites
    /// the CRLs. Returns what was revoked.
    pub fn revoke(&mut self, role: Role, id: &str, reason: Reason) -> Result<Vec<Issued>> {
        let now = rfc3339(OffsetDateTime::now_utc());
        let mut revoked = Vec::new();
        for c in &mut self.register.certificates {
            if c.role == role && c.id == id && c.revoked.is_none() {
                c.revoked = Some(now.clone());
                c.revocation_reason = Some(reason.name().into());
                revoked.push(c.clone());
            }
        }
        if revoked.is_empty() {
            let known = self
                .register
                .certificates
                .iter()
                .any(|c| c.role == role && c.id == id);
            bail!(
                "{} {id:?} {}",
                role.name(),
                if known {
                    "is already revoked"
                } else {
                    "was never issued (pki list shows what was)"
                }
            );
        }
        self.write_crls()?;
        self.save()?;
        Ok(revoked)
    }

    /// Refuses what would break the tree: an id of another kind, a device moving to another
    /// structure, an id that still has a valid certificate, a revoked id re-used silently.
    fn check_new_identity(
        &self,
        role: Role,
        id: &str,
        structure: Option<&str>,
        reuse_revoked: bool,
    ) -> Result<()> {
        let same_id: Vec<&Issued> = self
            .register
            .certificates
            .iter()
            .filter(|c| c.id == id && c.role != Role::Server)
            .collect();
        if let Some(other) = same_id.iter().find(|c| c.role != role) {
            bail!(
                "{id:?} is already used by the {} certificate {}; the broker knows both by that name, so choose another",
                other.role.name(),
                other.serial
            );
        }
        if let Some(structure) = structure {
            if let Some(other) = same_id
                .iter()
                .find(|c| c.structure.as_deref() != Some(structure))
            {
                let elsewhere = other.structure.as_deref().unwrap_or_default();
                if same_id.iter().any(|c| c.revoked.is_none()) {
                    bail!(
                        "device {id:?} is issued to structure {elsewhere:?}; a device id belongs to one structure. To move the device, revoke it (pki revoke --device {id}), then issue it again with --reuse-revoked"
                    );
                }
                if !reuse_revoked {
                    bail!(
                        "device {id:?} was issued to structure {elsewhere:?} and revoked; pass --reuse-revoked to issue it for {structure:?}"
                    );
                }
            }
        }
        if let Some(live) = same_id.iter().find(|c| c.revoked.is_none()) {
            bail!(
                "{} {id:?} already has a certificate (serial {}, valid until {}); use `pki renew --{} {id}` for a new one",
                role.name(),
                live.serial,
                live.not_after,
                role.name()
            );
        }
        if let Some(revoked) = same_id.last() {
            if !reuse_revoked {
                bail!(
                    "{} {id:?} was revoked on {}; pass --reuse-revoked to issue it again (make sure the old device is really gone)",
                    role.name(),
                    revoked.revoked.as_deref().unwrap_or("?")
                );
            }
        }
        Ok(())
    }

    /// Signs `params` with the CA of `role`: fills in the serial, validity and key ids,
    /// keeps a copy under `issued/`.
    fn sign(
        &self,
        role: Role,
        mut params: CertificateParams,
        key: KeySource,
        days: i64,
        describe: impl FnOnce(&mut Issued),
    ) -> Result<Fresh> {
        if !(1..=CA_DAYS).contains(&days) {
            bail!("--days {days}: give 1 to {CA_DAYS} days");
        }
        let now = OffsetDateTime::now_utc();
        let ca_not_after = self.ca_not_after(role.ca())?;
        params.not_before = now - BACKDATE;
        params.not_after = (now + Duration::days(days)).min(ca_not_after);
        let serial = random_serial()?;
        params.serial_number = Some(serial.clone());
        params.use_authority_key_identifier_extension = true;
        params.key_identifier_method = KeyIdMethod::Sha256;
        let issuer = self.issuer(role.ca())?;
        let (cert, key_pem, from_csr) = match key {
            KeySource::Generate => {
                let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
                (
                    params.signed_by(&key, &issuer)?,
                    Some(key.serialize_pem()),
                    false,
                )
            }
            KeySource::Csr(pem) => {
                let csr = CertificateSigningRequestParams::from_pem(&pem).map_err(|e| {
                    anyhow!("the CSR cannot be used: {e}; make it with `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout device.key -subj /CN=DEVICE-ID -out device.csr`")
                })?;
                // Only the key is taken from the request: the subject and usages are ours.
                (params.signed_by(&csr.public_key, &issuer)?, None, true)
            }
        };
        let mut issued = Issued {
            role,
            id: String::new(),
            structure: None,
            serial: hex(&serial.to_bytes()),
            not_before: rfc3339(params.not_before),
            not_after: rfc3339(params.not_after),
            hosts: Vec::new(),
            board_serial: None,
            key_from_csr: from_csr,
            revoked: None,
            revocation_reason: None,
            superseded_by: None,
        };
        describe(&mut issued);
        let cert_pem = cert.pem();
        fsutil::write_atomic(
            &self
                .dir
                .join("issued")
                .join(format!("{}.pem", issued.serial)),
            cert_pem.as_bytes(),
        )?;
        Ok(Fresh {
            issued,
            cert_pem,
            key_pem,
        })
    }

    /// Records `new`, marking the identity's previous certificate superseded, and saves.
    fn supersede_and_record(&mut self, new: &Issued) -> Result<()> {
        for c in &mut self.register.certificates {
            if c.role == new.role
                && c.id == new.id
                && c.revoked.is_none()
                && c.superseded_by.is_none()
            {
                c.superseded_by = Some(new.serial.clone());
            }
        }
        self.register.certificates.push(new.clone());
        self.save()
    }

    fn issuer(&self, ca: Ca) -> Result<Issuer<'static, KeyPair>> {
        let key_path = self.dir.join(ca.key_file());
        let key = KeyPair::from_pem(&read(&key_path)?)
            .map_err(|e| anyhow!("{}: not a usable CA key: {e}", key_path.display()))?;
        Issuer::from_ca_cert_pem(&self.ca_pem(ca)?, key).map_err(|e| {
            anyhow!(
                "{}: not a usable CA certificate: {e}",
                self.ca_path(ca).display()
            )
        })
    }

    fn ca_not_after(&self, ca: Ca) -> Result<OffsetDateTime> {
        let path = self.ca_path(ca);
        let der = rustls_pki_types::pem::PemObject::from_pem_slice(read(&path)?.as_bytes())
            .map(|d: rustls_pki_types::CertificateDer| d.to_vec())
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| anyhow!("{}: not a certificate: {e}", path.display()))?;
        Ok(cert.validity().not_after.to_datetime())
    }

    /// Writes both CRLs from the register. They are valid until their CA expires: the
    /// broker is their only reader, it gets a new one with every revocation, and OpenSSL
    /// refuses every client once a CRL's next update has passed.
    fn write_crls(&mut self) -> Result<()> {
        self.register.crl_number += 1;
        let now = OffsetDateTime::now_utc();
        for ca in [Ca::Grappe, Ca::Operators] {
            let revoked_certs = self
                .register
                .certificates
                .iter()
                .filter(|c| c.role.ca() == ca)
                .filter_map(|c| Some((c, c.revoked.as_deref()?)))
                .map(|(c, at)| {
                    // A revoked certificate left off the CRL would let its holder in:
                    // a damaged register entry stops the command instead.
                    let damaged = |what: &str| {
                        anyhow!(
                            "{REGISTER}: the {what} of revoked certificate {:?} ({}) cannot be read; restore the register from its backup",
                            c.serial,
                            c.id
                        )
                    };
                    Ok(RevokedCertParams {
                        serial_number: SerialNumber::from_slice(
                            &unhex(&c.serial).ok_or_else(|| damaged("serial"))?,
                        ),
                        revocation_time: OffsetDateTime::parse(at, &Rfc3339)
                            .map_err(|_| damaged("revocation date"))?,
                        reason_code: c
                            .revocation_reason
                            .as_deref()
                            .and_then(Reason::from_name)
                            .map(Reason::code),
                        invalidity_date: None,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let params = CertificateRevocationListParams {
                this_update: now - BACKDATE,
                next_update: self.ca_not_after(ca)?,
                crl_number: SerialNumber::from(self.register.crl_number),
                issuing_distribution_point: None,
                revoked_certs,
                key_identifier_method: KeyIdMethod::Sha256,
            };
            let crl = params.signed_by(&self.issuer(ca)?)?;
            fsutil::write_atomic(&self.crl_path(ca), crl.pem()?.as_bytes())?;
        }
        Ok(())
    }

    fn save(&self) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(&self.register)?;
        json.push(b'\n');
        fsutil::write_atomic_private(&self.dir.join(REGISTER), &json)
            .with_context(|| format!("cannot write {}", self.dir.join(REGISTER).display()))
    }
}

/// Why a certificate is revoked (RFC 5280 reason codes the IT staff meet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Unspecified,
    KeyCompromise,
    Superseded,
    CessationOfOperation,
    AffiliationChanged,
}

impl Reason {
    pub const NAMES: [&'static str; 5] = [
        "unspecified",
        "key-compromise",
        "superseded",
        "cessation-of-operation",
        "affiliation-changed",
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn from_name(name: &str) -> Option<Reason> {
        use Reason::*;
        [
            Unspecified,
            KeyCompromise,
            Superseded,
            CessationOfOperation,
            AffiliationChanged,
        ]
        .into_iter()
        .find(|r| r.name() == name)
    }

    fn code(self) -> RevocationReason {
        match self {
            Reason::Unspecified => RevocationReason::Unspecified,
            Reason::KeyCompromise => RevocationReason::KeyCompromise,
            Reason::Superseded => RevocationReason::Superseded,
            Reason::CessationOfOperation => RevocationReason::CessationOfOperation,
            Reason::AffiliationChanged => RevocationReason::AffiliationChanged,
        }
    }
}

fn check_name(what: &str, name: &str) -> Result<()> {
    if is_valid_name(name) {
        Ok(())
    } else {
        bail!("{what} {name:?} is not valid: use {VALID_NAME} (it becomes a level of the MQTT topics)")
    }
}

fn subject(cn: &str, grappe: &str, unit: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, grappe);
    if let Some(unit) = unit {
        dn.push(DnType::OrganizationalUnitName, unit);
    }
    dn
}

/// 16 random bytes, positive: serials are unpredictable (RFC 5280 asks for at least
/// 64 bits of entropy of CAs) and never collide across renewals.
fn random_serial() -> Result<SerialNumber> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow!("the system's random generator failed"))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x10;
    Ok(SerialNumber::from_slice(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    wire::rfc3339(t.into())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// One `pki` command at a time: the register is read, changed and written whole.
fn read_register(path: &Path) -> Result<Register> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let register: Register = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is damaged; restore it from the backup of the PKI directory",
            path.display()
        )
    })?;
    if register.schema != SCHEMA {
        bail!(
            "{} is of schema {:?}, this grappe-fleet reads {SCHEMA:?}",
            path.display(),
            register.schema
        );
    }
    Ok(register)
}

fn lock(dir: &Path) -> Result<File> {
    let path = dir.join(".lock");
    let file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        bail!(
            "another grappe-fleet pki command is using {}; wait for it to finish",
            dir.display()
        );
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device<'a>(structure: &'a str, device: &'a str, reuse_revoked: bool) -> DeviceRequest<'a> {
        DeviceRequest {
            structure,
            device,
            board_serial: None,
            days: DEVICE_DAYS,
            reuse_revoked,
        }
    }

    fn error(result: Result<impl Sized>) -> String {
        match result {
            Ok(_) => panic!("accepted"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn what_would_break_the_tree_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        assert!(error(Pki::init(&dir, "Grappe_1")).contains("not valid"));
        let mut pki = Pki::init(&dir, "g").unwrap();
        drop(pki);
        assert!(error(Pki::init(&dir, "g")).contains("already holds a PKI"));
        pki = Pki::open(&dir).unwrap();
        // A second command on the same directory waits its turn.
        assert!(error(Pki::open(&dir)).contains("another grappe-fleet pki command"));

        for bad in ["", "Dev", "dev_1", "dev/1", "d+", &"x".repeat(65)] {
            let e = error(pki.issue_device(&device("s", bad, false), KeySource::Generate));
            assert!(e.contains("is not valid"), "{bad:?}: {e}");
        }
        pki.issue_device(&device("s1", "dev-1", false), KeySource::Generate)
            .unwrap();
        let e = error(pki.issue_device(&device("s2", "dev-1", false), KeySource::Generate));
        assert!(e.contains("issued to structure \"s1\""), "{e}");
        let e = error(pki.issue_device(&device("s1", "dev-1", false), KeySource::Generate));
        assert!(e.contains("pki renew"), "{e}");
        let e = error(pki.issue_operator("dev-1", OPERATOR_DAYS, false));
        assert!(e.contains("already used by the device certificate"), "{e}");

        pki.revoke(Role::Device, "dev-1", Reason::CessationOfOperation)
            .unwrap();
        assert!(
            error(pki.revoke(Role::Device, "dev-1", Reason::Unspecified))
                .contains("already revoked")
        );
        assert!(
            error(pki.revoke(Role::Device, "nobody", Reason::Unspecified)).contains("never issued")
        );
        let e = error(pki.issue_device(&device("s1", "dev-1", false), KeySource::Generate));
        assert!(e.contains("--reuse-revoked"), "{e}");
        let e = error(pki.issue_device(&device("s2", "dev-1", false), KeySource::Generate));
        assert!(e.contains("--reuse-revoked"), "{e}");
        // Said explicitly, a revoked id may come back, even in another structure.
        let moved = pki
            .issue_device(&device("s2", "dev-1", true), KeySource::Generate)
            .unwrap();
        assert_eq!(moved.issued.structure.as_deref(), Some("s2"));
        assert!(
            error(pki.issue_device(&device("s2", "x", false), KeySource::Csr("junk".into())))
                .contains("CSR")
        );
    }

    #[test]
    fn renewal_supersedes_and_revocation_reaches_the_crl() {
        let tmp = tempfile::tempdir().unwrap();
        let mut pki = Pki::init(tmp.path(), "g").unwrap();
        let first = pki
            .issue_device(&device("s", "d", false), KeySource::Generate)
            .unwrap();
        let renewed = pki
            .renew(Role::Device, Some("d"), KeySource::Generate, None)
            .unwrap();
        assert_ne!(first.issued.serial, renewed.issued.serial);
        let now = OffsetDateTime::now_utc();
        let states: Vec<String> = pki.certificates().iter().map(|c| c.state(now)).collect();
        assert_eq!(states, ["superseded", "valid"]);
        // The superseded one still lets the device in until its bundle is replaced.
        assert_eq!(pki.usable(Role::Device, now).len(), 1);
        pki.revoke(Role::Device, "d", Reason::KeyCompromise)
            .unwrap();
        assert!(pki.usable(Role::Device, now).is_empty());

        // Both serials are on the grappe CA's CRL, signed by it; none on the operators'.
        let crl_serials = |ca: Ca| -> Vec<String> {
            let pem = std::fs::read(pki.crl_path(ca)).unwrap();
            let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
            let (_, crl) = x509_parser::parse_x509_crl(&pem.contents).unwrap();
            crl.iter_revoked_certificates()
                .map(|r| hex(&r.user_certificate.to_bytes_be()))
                .collect()
        };
        let mut revoked = crl_serials(Ca::Grappe);
        revoked.sort();
        let mut expected = vec![first.issued.serial.clone(), renewed.issued.serial.clone()];
        expected.sort();
        assert_eq!(revoked, expected);
        assert!(crl_serials(Ca::Operators).is_empty());
        // The register survives a reopen unchanged.
        let certs = pki.certificates().to_vec();
        drop(pki);
        assert_eq!(Pki::open(tmp.path()).unwrap().certificates(), certs);

        // A revoked entry whose serial was damaged stops the next CRL instead of
        // silently leaving that certificate off it.
        let register = tmp.path().join(REGISTER);
        let text = std::fs::read_to_string(&register).unwrap();
        std::fs::write(&register, text.replacen(&first.issued.serial, "abc", 1)).unwrap();
        let mut pki = Pki::open(tmp.path()).unwrap();
        pki.issue_device(&device("s", "e", false), KeySource::Generate)
            .unwrap();
        let e = error(pki.revoke(Role::Device, "e", Reason::Unspecified));
        assert!(e.contains("cannot be read"), "{e}");
    }
}
