//! The `[broker]` section: where the broker is and the TLS material to reach it (CA,
//! client certificate and key), loaded and checked once, and the rustls client config
//! built from it. The agent's `agent.toml` and the fleet tool's `fleet.toml` share it.

use super::duration;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone)]
pub struct Broker {
    pub host: String,
    pub port: u16,
    /// None only for `mqtt://` with `allow_insecure = true`.
    pub tls: Option<Tls>,
    pub keep_alive: Duration,
}

/// The parsed TLS material: loaded once at validation, reused on every reconnection.
#[derive(Debug, Clone)]
pub struct Tls {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub roots: Arc<rustls::RootCertStore>,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Arc<PrivateKeyDer<'static>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBroker {
    url: String,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    #[serde(default)]
    allow_insecure: bool,
    keep_alive: Option<String>,
}

/// rumqttc pings every keep_alive whatever else was sent, so on 4G a long one saves data; a
/// dead link is caught sooner by the agent's PUBACK deadline on its heartbeats. The cost:
/// the broker notices a device that vanished (power cut) after 1.5 times this.
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15 * 60);
/// MQTT carries the keepalive in a 16-bit number of seconds.
const MAX_KEEP_ALIVE: Duration = Duration::from_secs(u16::MAX as u64);

/// `mqtts://host[:port]` (or `mqtt://` when allowed). IPv6 hosts go in brackets.
fn parse_url(url: &str) -> Result<(bool, String, u16), String> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("mqtts://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("mqtt://") {
        (false, rest)
    } else {
        return Err(format!("{url:?} must start with mqtts:// (TLS) or mqtt://"));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    // Before the port is split off, so that "host:8883/x" is blamed on its path.
    if rest.contains(['/', '@', '?', '#', ' ']) {
        return Err(format!(
            "{url:?}: write the broker as mqtts://HOST:PORT (no user, path or query)"
        ));
    }
    let default_port = if tls { 8883 } else { 1883 };
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url:?}: missing ']' after the IPv6 address"))?;
        match after {
            "" => (host, None),
            p => (
                host,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("{url:?}: expected ':port' after ']'"))?,
                ),
            ),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(format!(
            "{url:?}: write the broker as mqtts://HOST:PORT (no user, path or query)"
        ));
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{url:?}: {p:?} is not a port number"))?,
    };
    Ok((tls, host.to_string(), port))
}

pub(crate) fn validate(raw: RawBroker) -> Result<Broker, (String, String)> {
    let key = |k: &str| format!("[broker] {k}");
    let (use_tls, host, port) = parse_url(&raw.url).map_err(|m| (key("url"), m))?;
    if !use_tls && !raw.allow_insecure {
        return Err((
            key("url"),
            format!("{:?} is not encrypted; use mqtts:// (set allow_insecure = true only for a test broker)", raw.url),
        ));
    }
    let keep_alive = match raw.keep_alive {
        Some(v) => duration(&key("keep_alive"), &v, Duration::from_secs(5))?,
        None => DEFAULT_KEEP_ALIVE,
    };
    if keep_alive > MAX_KEEP_ALIVE {
        return Err((
            key("keep_alive"),
            "is too long: MQTT allows at most 18h12m15s".into(),
        ));
    }
    let tls = if use_tls {
        let file = |k: &str, v: Option<PathBuf>| {
            v.ok_or_else(|| {
                (
                    key(k),
                    "is required with mqtts://: the path of a PEM file".to_string(),
                )
            })
        };
        Some(load_tls(
            file("ca", raw.ca)?,
            file("cert", raw.cert)?,
            file("key", raw.key)?,
        )?)
    } else {
        None
    };
    Ok(Broker {
        host,
        port,
        tls,
        keep_alive,
    })
}

impl Tls {
    /// Reads the CA, certificate and key, and checks that the key belongs to the
    /// certificate. The error names the `[broker]` key at fault and says why.
    pub fn load(ca: &Path, cert: &Path, key: &Path) -> Result<Tls, String> {
        load_tls(ca.to_path_buf(), cert.to_path_buf(), key.to_path_buf())
            .map_err(|(key, message)| format!("{key}: {message}"))
    }
}

/// Reads the CA, certificate and key, and checks that the key belongs to the certificate.
fn load_tls(ca: PathBuf, cert: PathBuf, key: PathBuf) -> Result<Tls, (String, String)> {
    let pem_err = |k: &str, path: &Path, e: rustls::pki_types::pem::Error| {
        let why = match e {
            rustls::pki_types::pem::Error::Io(io) => format!("cannot read it: {io}"),
            rustls::pki_types::pem::Error::NoItemsFound => {
                "holds no PEM item of the expected kind".to_string()
            }
            other => format!("is not valid PEM: {other}"),
        };
        (format!("[broker] {k}"), format!("{} {why}", path.display()))
    };
    let certs_in =
        |k: &str, path: &Path| -> Result<Vec<CertificateDer<'static>>, (String, String)> {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| pem_err(k, path, e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| pem_err(k, path, e))?;
            if certs.is_empty() {
                return Err((
                    format!("[broker] {k}"),
                    format!(
                        "{} holds no certificate (expected PEM \"BEGIN CERTIFICATE\")",
                        path.display()
                    ),
                ));
            }
            Ok(certs)
        };

    let mut roots = rustls::RootCertStore::empty();
    for c in certs_in("ca", &ca)? {
        roots.add(c).map_err(|e| {
            (
                "[broker] ca".to_string(),
                format!(
                    "{}: a certificate cannot be used as a CA: {e}",
                    ca.display()
                ),
            )
        })?;
    }
    let chain = certs_in("cert", &cert)?;
    let private_key = PrivateKeyDer::from_pem_file(&key).map_err(|e| pem_err("key", &key, e))?;
    let signing_key =
        rustls::crypto::ring::sign::any_supported_type(&private_key).map_err(|e| {
            (
                "[broker] key".to_string(),
                format!("{}: unsupported private key: {e}", key.display()),
            )
        })?;
    rustls::sign::CertifiedKey::new(chain.clone(), signing_key)
        .keys_match()
        .map_err(|_| {
            (
                "[broker] key".to_string(),
                format!(
                    "{} does not belong to the certificate {}; install the key the certificate was issued for",
                    key.display(),
                    cert.display()
                ),
            )
        })?;
    Ok(Tls {
        ca_file: ca,
        cert_file: cert,
        roots: Arc::new(roots),
        chain,
        key: Arc::new(private_key),
    })
}

impl Tls {
    /// The client certificate as webpki judges it at `time`, for client authentication
    /// against the configured CA.
    fn verify_at(&self, time: UnixTime) -> Result<(), webpki::Error> {
        let ee = webpki::EndEntityCert::try_from(&self.chain[0])?;
        let anchors: Vec<_> = self.roots.roots.to_vec();
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &self.chain[1..],
            time,
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .map(|_| ())
    }

    /// Checks that only make sense right before use (`check-config`): the certificate is
    /// within its validity period and chains to the configured CA. Returns warnings
    /// (things that may be intended) or the first error.
    pub fn check(&self, now: SystemTime) -> Result<Vec<String>, String> {
        let cert = self.cert_file.display();
        let since_epoch = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        match self.verify_at(UnixTime::since_unix_epoch(since_epoch)) {
            Ok(()) => Ok(Vec::new()),
            Err(webpki::Error::CertExpired { not_after, .. }) => Err(format!(
                "{cert} expired on {}; issue a new certificate",
                utc(not_after)
            )),
            Err(webpki::Error::CertNotValidYet { not_before, .. }) => Err(format!(
                "{cert} is not valid before {} (the clock says {}); check the clock (NTP) or the certificate",
                utc(not_before),
                crate::wire::rfc3339(now)
            )),
            Err(webpki::Error::UnknownIssuer) => Ok(vec![format!(
                "{cert} is not issued by the CA in {}: fine if the broker trusts another CA for clients, otherwise issue it from the grappe CA",
                self.ca_file.display()
            )]),
            Err(e) => Err(format!("{cert} cannot be used as a client certificate: {e}")),
        }
    }

    /// When the client certificate expires. webpki gives a certificate's validity only in
    /// its verdict, so the certificate is checked as of the last second of year 9999: the
    /// end of validity that verdict names is the certificate's own (webpki checks the
    /// validity before it looks for the issuer, so any CA will do).
    pub fn cert_not_after(&self) -> Option<SystemTime> {
        const LAST_SECOND_OF_9999: u64 = 253_402_300_799;
        match self.verify_at(UnixTime::since_unix_epoch(Duration::from_secs(
            LAST_SECOND_OF_9999,
        ))) {
            Err(webpki::Error::CertExpired { not_after, .. }) => {
                Some(SystemTime::UNIX_EPOCH + Duration::from_secs(not_after.as_secs()))
            }
            _ => None,
        }
    }

    /// The certificate's first common name (the identity the broker gives its holder).
    pub fn common_name(&self) -> Option<String> {
        let cert = webpki::EndEntityCert::try_from(&self.chain[0]).ok()?;
        common_name(cert.subject())
    }

    /// The key of the client certificate, for signing reports (`wire::signed`). Loaded and
    /// checked against the certificate at validation, so this cannot fail afterwards.
    pub fn signing_key(&self) -> Option<Arc<dyn rustls::sign::SigningKey>> {
        rustls::crypto::ring::sign::any_supported_type(&self.key).ok()
    }

    /// The rustls client config: the configured CA only, this certificate, ring.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(self.roots.clone())
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
    }
}

/// A certificate's date as the IT staff read it (UTC, RFC 3339).
fn utc(t: UnixTime) -> String {
    crate::wire::rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(t.as_secs()))
}

/// The first common name (CN) in a certificate subject, as webpki hands it over.
pub(super) fn common_name(subject: &[u8]) -> Option<String> {
    crate::wire::signed::subject(subject)?.common_name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_name_is_found_in_short_and_long_subjects() {
        for organisation in ["", &"o".repeat(60), &"o".repeat(300)] {
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            if !organisation.is_empty() {
                params
                    .distinguished_name
                    .push(rcgen::DnType::OrganizationName, organisation);
            }
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, "tablette-01");
            let key = rcgen::KeyPair::generate().unwrap();
            let der = params.self_signed(&key).unwrap().der().clone();
            let cert = webpki::EndEntityCert::try_from(&der).unwrap();
            assert_eq!(
                common_name(cert.subject()).as_deref(),
                Some("tablette-01"),
                "subject of {} bytes",
                cert.subject().len()
            );
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("mqtts://b.example").unwrap(),
            (true, "b.example".into(), 8883)
        );
        assert_eq!(
            parse_url("mqtts://[::1]:9883").unwrap(),
            (true, "::1".into(), 9883)
        );
        assert_eq!(parse_url("mqtt://h:1/").unwrap(), (false, "h".into(), 1));
        assert!(parse_url("mqtts://user@h").is_err());
        assert!(parse_url("mqtts://h:0").is_err());
        assert!(parse_url("mqtts://").is_err());
        // A path is named as such, not taken for a bad port.
        let e = parse_url("mqtts://b.example:8883/mqtt").unwrap_err();
        assert!(e.contains("no user, path or query"), "{e}");
    }
}
