//! A report signed by the device that made it (schema `grappe-agent/signed/1`), so that
//! whoever holds the message can check, offline and without trusting the grappe's broker
//! or servers, that the device wrote these exact bytes.
//!
//! ```json
//! {"schema":"grappe-agent/signed/1","payload":"<base64 of the report>",
//!  "alg":"ecdsa-p256-sha256","sig":"<base64>","cert":"<base64 DER>"}
//! ```
//!
//! - The signature is over the **exact bytes** of the report (`payload`, base64 only to
//!   carry them inside JSON): checking it never depends on how JSON is re-serialised.
//! - It is made with the key of the device's client certificate, the same key its TLS
//!   connection proves, in the scheme that key allows ([`Algorithm`]). ECDSA signatures are
//!   DER, as `openssl dgst -verify` reads them.
//! - The certificate travels with every message: a signature made before a renewal stays
//!   checkable after it, and an archived proof needs nothing from the grappe's PKI but its
//!   CA certificate.
//!
//! Checking ([`Signed::verify`]): the signature against the certificate's key, the
//! certificate against the CA for client authentication *at the time the report says it
//! was made* (an archived proof still verifies once the certificate has expired), and the
//! certificate's names against the device the report says it is from.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::SignatureScheme;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::time::SystemTime;

/// The schema of the signed envelope.
pub const SCHEMA: &str = "grappe-agent/signed/1";
const SCHEMA_FAMILY: &str = "grappe-agent/signed/";

/// The signature schemes a device key can sign with: one per key type the agent accepts
/// (rustls' ring provider: ECDSA P-256 and P-384, Ed25519, RSA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    EcdsaP256Sha256,
    EcdsaP384Sha384,
    Ed25519,
    /// RSA PKCS#1 v1.5 with SHA-256: the RSA scheme every tool checks the same way.
    RsaPkcs1Sha256,
}

impl Algorithm {
    const ALL: [Algorithm; 4] = [
        Algorithm::EcdsaP256Sha256,
        Algorithm::EcdsaP384Sha384,
        Algorithm::Ed25519,
        Algorithm::RsaPkcs1Sha256,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            Algorithm::EcdsaP384Sha384 => "ecdsa-p384-sha384",
            Algorithm::Ed25519 => "ed25519",
            Algorithm::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
        }
    }

    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    fn scheme(self) -> SignatureScheme {
        match self {
            Algorithm::EcdsaP256Sha256 => SignatureScheme::ECDSA_NISTP256_SHA256,
            Algorithm::EcdsaP384Sha384 => SignatureScheme::ECDSA_NISTP384_SHA384,
            Algorithm::Ed25519 => SignatureScheme::ED25519,
            Algorithm::RsaPkcs1Sha256 => SignatureScheme::RSA_PKCS1_SHA256,
        }
    }

    fn verifier(self) -> &'static dyn rustls::pki_types::SignatureVerificationAlgorithm {
        match self {
            Algorithm::EcdsaP256Sha256 => webpki::ring::ECDSA_P256_SHA256,
            Algorithm::EcdsaP384Sha384 => webpki::ring::ECDSA_P384_SHA384,
            Algorithm::Ed25519 => webpki::ring::ED25519,
            Algorithm::RsaPkcs1Sha256 => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        }
    }
}

/// The signed envelope as published (field order is the order written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    pub schema: String,
    /// Base64 (standard, padded) of the report's exact bytes.
    pub payload: String,
    /// An [`Algorithm`] name.
    pub alg: String,
    /// Base64 of the signature over the payload's bytes.
    pub sig: String,
    /// Base64 of the device certificate (DER) whose key made the signature.
    pub cert: String,
}

/// Signs `report` with the device key and wraps it with its certificate: the bytes to
/// publish. Fails only if the key cannot sign (a key type no scheme here fits).
pub fn seal(
    report: &[u8],
    key: &dyn rustls::sign::SigningKey,
    cert: &CertificateDer<'_>,
) -> Result<Vec<u8>, String> {
    let offered: Vec<SignatureScheme> = Algorithm::ALL.iter().map(|a| a.scheme()).collect();
    let signer = key
        .choose_scheme(&offered)
        .ok_or("the device key's type cannot sign reports (ECDSA P-256/P-384, Ed25519 or RSA)")?;
    let alg = Algorithm::ALL
        .into_iter()
        .find(|a| a.scheme() == signer.scheme())
        .ok_or("the device key chose a scheme that is not offered")?;
    let sig = signer
        .sign(report)
        .map_err(|e| format!("the device key could not sign: {e}"))?;
    let signed = Signed {
        schema: SCHEMA.into(),
        payload: BASE64.encode(report),
        alg: alg.name().into(),
        sig: BASE64.encode(sig),
        cert: BASE64.encode(cert),
    };
    serde_json::to_vec(&signed).map_err(|e| e.to_string())
}

/// A message on a report topic, opened: signed by its device, or a plain report (an
/// earlier agent, or a device without a key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened<'a> {
    Signed(Signed),
    Plain(&'a [u8]),
}

/// Only the fields that tell a signed envelope from a plain report; a plain report's
/// `data` is skipped by the parser without being copied.
#[derive(Deserialize)]
struct Head {
    schema: String,
}

impl<'a> Opened<'a> {
    /// Reads a message. A signed envelope that is damaged (bad base64, missing field) is
    /// an error, never taken for a plain report.
    pub fn read(message: &'a [u8]) -> Result<Opened<'a>, String> {
        let head: Head = serde_json::from_slice(message).map_err(|e| e.to_string())?;
        if !head.schema.starts_with(SCHEMA_FAMILY) {
            return Ok(Opened::Plain(message));
        }
        if head.schema != SCHEMA {
            return Err(format!(
                "signed envelope of schema {:?}, which this version does not read",
                head.schema
            ));
        }
        let signed: Signed =
            serde_json::from_slice(message).map_err(|e| format!("damaged signed envelope: {e}"))?;
        Ok(Opened::Signed(signed))
    }

    /// The report's bytes (decoded from a signed envelope, as they are for a plain one).
    pub fn report(&self) -> Result<Cow<'a, [u8]>, String> {
        match self {
            Opened::Plain(bytes) => Ok(Cow::Borrowed(bytes)),
            Opened::Signed(s) => s.report().map(Cow::Owned),
        }
    }
}

/// The device certificate's names: who the grappe CA issued it to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subject {
    /// CN: the device id.
    pub common_name: Option<String>,
    /// O: the grappe.
    pub organization: Option<String>,
    /// OU: the structure.
    pub organizational_unit: Option<String>,
}

/// What a checked signature says: which certificate made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub subject: Subject,
    /// SHA-256 of the certificate (hex), to name it.
    pub cert_sha256: String,
}

/// Why a signed report does not check out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// Not base64, unknown algorithm, not a certificate.
    Damaged(String),
    /// The signature is not the certificate key's over these bytes.
    BadSignature,
    /// The certificate was not issued by the given CA (for client authentication), or
    /// was not valid when the report was made.
    Untrusted(String),
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invalid::Damaged(why) => write!(f, "damaged signed envelope: {why}"),
            Invalid::BadSignature => write!(
                f,
                "the signature does not match the payload and the certificate's key"
            ),
            Invalid::Untrusted(why) => write!(f, "the certificate is not trusted: {why}"),
        }
    }
}

impl Signed {
    /// The report's exact bytes.
    pub fn report(&self) -> Result<Vec<u8>, String> {
        BASE64
            .decode(&self.payload)
            .map_err(|e| format!("payload is not base64: {e}"))
    }

    /// The device certificate (DER).
    pub fn certificate(&self) -> Result<Vec<u8>, String> {
        BASE64
            .decode(&self.cert)
            .map_err(|e| format!("cert is not base64: {e}"))
    }

    /// Checks the signature over the payload, then the certificate against `anchors`
    /// (the grappe CA) for client authentication as of `at` (when the report was made).
    pub fn verify(
        &self,
        anchors: &[rustls::pki_types::TrustAnchor<'_>],
        at: SystemTime,
    ) -> Result<Signer, Invalid> {
        let report = self.report().map_err(Invalid::Damaged)?;
        let cert = self.check_signature(&report)?;
        check_certificate(&cert, anchors, at)
    }

    /// Checks the signature over `report` (this envelope's payload, decoded) against the
    /// key of the certificate it carries; that certificate.
    pub fn check_signature(&self, report: &[u8]) -> Result<CertificateDer<'static>, Invalid> {
        let alg = Algorithm::from_name(&self.alg)
            .ok_or_else(|| Invalid::Damaged(format!("unknown algorithm {:?}", self.alg)))?;
        let cert_der = CertificateDer::from(self.certificate().map_err(Invalid::Damaged)?);
        let sig = BASE64
            .decode(&self.sig)
            .map_err(|e| Invalid::Damaged(format!("sig is not base64: {e}")))?;
        let cert = webpki::EndEntityCert::try_from(&cert_der)
            .map_err(|e| Invalid::Damaged(format!("cert is not a certificate: {e}")))?;
        cert.verify_signature(alg.verifier(), report, &sig)
            .map_err(|_| Invalid::BadSignature)?;
        Ok(cert_der)
    }
}

/// Checks a device certificate against `anchors` (the grappe CA) for client
/// authentication as of `at`; who it was issued to.
pub fn check_certificate(
    cert_der: &CertificateDer<'_>,
    anchors: &[rustls::pki_types::TrustAnchor<'_>],
    at: SystemTime,
) -> Result<Signer, Invalid> {
    let cert = webpki::EndEntityCert::try_from(cert_der)
        .map_err(|e| Invalid::Damaged(format!("cert is not a certificate: {e}")))?;
    let since_epoch = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    cert.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        anchors,
        &[],
        UnixTime::since_unix_epoch(since_epoch),
        webpki::KeyUsage::client_auth(),
        None,
        None,
    )
    .map_err(|e| {
        Invalid::Untrusted(match e {
            webpki::Error::UnknownIssuer => "not issued by the grappe CA".into(),
            // A CA of the same name, not the grappe's key.
            webpki::Error::InvalidSignatureForPublicKey => {
                "not issued by the grappe CA (a CA of the same name signed it)".into()
            }
            webpki::Error::CertExpired { .. } => format!(
                "expired before the report was made ({})",
                crate::wire::rfc3339(at)
            ),
            webpki::Error::CertNotValidYet { .. } => format!(
                "not yet valid when the report was made ({})",
                crate::wire::rfc3339(at)
            ),
            other => other.to_string(),
        })
    })?;
    Ok(Signer {
        subject: subject(cert.subject()).unwrap_or_default(),
        cert_sha256: sha256_hex(cert_der),
    })
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// Bytes in lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The CN, O and OU of a certificate subject, as webpki hands it over: the DER of the Name
/// without its outer SEQUENCE header, which is put back for x509-parser. Only the Name is
/// parsed (not the whole certificate with its extensions): a smaller device binary.
pub fn subject(subject: &[u8]) -> Option<Subject> {
    use x509_parser::prelude::FromDer;
    let mut der = vec![0x30]; // SEQUENCE
    match u32::try_from(subject.len()).ok()? {
        len @ 0..=0x7f => der.push(len as u8),
        len => {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            der.push(0x80 | (4 - skip) as u8);
            der.extend_from_slice(&bytes[skip..]);
        }
    }
    der.extend_from_slice(subject);
    let (_, name) = x509_parser::x509::X509Name::from_der(&der).ok()?;
    fn first<'a>(
        mut it: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>,
    ) -> Option<String> {
        it.next()
            .and_then(|a| a.as_str().ok())
            .map(ToOwned::to_owned)
    }
    Some(Subject {
        common_name: first(name.iter_common_name()),
        organization: first(name.iter_organization()),
        organizational_unit: first(name.iter_organizational_unit()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A CA and a device certificate (CN device, O grappe, OU structure) of `alg`.
    struct Issued {
        ca: rcgen::Certificate,
        cert: CertificateDer<'static>,
        key: std::sync::Arc<dyn rustls::sign::SigningKey>,
    }

    fn issue(device: &str, alg: &'static rcgen::SignatureAlgorithm) -> Issued {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let dn = &mut params.distinguished_name;
        dn.push(rcgen::DnType::CommonName, device);
        dn.push(rcgen::DnType::OrganizationName, "grappe-t");
        dn.push(rcgen::DnType::OrganizationalUnitName, "ehpad-a");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(365);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        Issued {
            ca,
            cert: cert.der().clone(),
            key: rustls::crypto::ring::sign::any_supported_type(&der).unwrap(),
        }
    }

    fn anchor(ca: &rcgen::Certificate) -> rustls::pki_types::TrustAnchor<'static> {
        webpki::anchor_from_trusted_cert(ca.der())
            .unwrap()
            .to_owned()
    }

    #[test]
    fn a_sealed_report_verifies_on_its_exact_bytes_for_each_key_type() {
        let report = br#"{"schema":"grappe-agent/usage/2", "device":"tab-01",  "data":{}}"#;
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
        ] {
            let issued = issue("tab-01", alg);
            let message = seal(report, issued.key.as_ref(), &issued.cert).unwrap();
            let Opened::Signed(signed) = Opened::read(&message).unwrap() else {
                panic!("not read as signed");
            };
            assert_eq!(signed.report().unwrap(), report, "exact bytes, spaces kept");
            let signer = signed
                .verify(&[anchor(&issued.ca)], SystemTime::now())
                .unwrap();
            assert_eq!(signer.subject.common_name.as_deref(), Some("tab-01"));
            assert_eq!(signer.subject.organization.as_deref(), Some("grappe-t"));
            assert_eq!(
                signer.subject.organizational_unit.as_deref(),
                Some("ehpad-a")
            );
            assert_eq!(signer.cert_sha256, sha256_hex(&issued.cert));

            // One byte of the payload changed: refused.
            let mut tampered = signed.clone();
            let mut bytes = tampered.report().unwrap();
            bytes[40] = b'X';
            tampered.payload = BASE64.encode(&bytes);
            assert_eq!(
                tampered.verify(&[anchor(&issued.ca)], SystemTime::now()),
                Err(Invalid::BadSignature),
                "{}",
                alg_name(alg)
            );
        }
    }

    fn alg_name(alg: &rcgen::SignatureAlgorithm) -> String {
        format!("{alg:?}")
    }

    #[test]
    fn another_ca_and_another_key_are_refused() {
        let report = b"{\"schema\":\"grappe-agent/usage/2\"}";
        let a = issue("tab-01", &rcgen::PKCS_ECDSA_P256_SHA256);
        let b = issue("tab-01", &rcgen::PKCS_ECDSA_P256_SHA256);
        let message = seal(report, a.key.as_ref(), &a.cert).unwrap();
        let Opened::Signed(signed) = Opened::read(&message).unwrap() else {
            panic!()
        };
        let e = signed
            .verify(&[anchor(&b.ca)], SystemTime::now())
            .unwrap_err();
        assert!(
            matches!(&e, Invalid::Untrusted(why) if why.contains("not issued by the grappe CA")),
            "{e}"
        );
        // b's certificate put in a's envelope: the signature is not its key's.
        let mut swapped = signed.clone();
        swapped.cert = BASE64.encode(&b.cert);
        assert_eq!(
            swapped.verify(&[anchor(&b.ca)], SystemTime::now()),
            Err(Invalid::BadSignature)
        );
        // Checked as of when the report was made: long after, the certificate has expired.
        let far = SystemTime::now() + Duration::from_secs(400 * 365 * 86_400);
        let e = signed.verify(&[anchor(&a.ca)], far).unwrap_err();
        assert!(e.to_string().contains("expired before the report"), "{e}");
    }

    #[test]
    fn plain_reports_pass_through_and_damaged_envelopes_are_errors() {
        let plain = br#"{"schema":"grappe-agent/usage/1","data":{"days":[]}}"#;
        assert_eq!(Opened::read(plain).unwrap(), Opened::Plain(plain));
        assert_eq!(
            Opened::read(plain).unwrap().report().unwrap().as_ref(),
            plain
        );
        assert!(Opened::read(b"not json").is_err());
        let e =
            Opened::read(br#"{"schema":"grappe-agent/signed/1","payload":"e30="}"#).unwrap_err();
        assert!(e.contains("damaged signed envelope"), "{e}");
        let e = Opened::read(br#"{"schema":"grappe-agent/signed/9"}"#).unwrap_err();
        assert!(e.contains("does not read"), "{e}");
        let bad = Signed {
            schema: SCHEMA.into(),
            payload: "***".into(),
            alg: "ed25519".into(),
            sig: String::new(),
            cert: String::new(),
        };
        assert!(matches!(
            bad.verify(&[], SystemTime::now()),
            Err(Invalid::Damaged(_))
        ));
    }
}
