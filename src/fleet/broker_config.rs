//! `grappe-fleet broker-config`: the Mosquitto configuration of the grappe's broker, made
//! from the PKI register, for Mosquitto 2.0 as Debian 12 ships it.
//!
//! The output directory mirrors `/etc/mosquitto/`:
//! - `conf.d/grappe.conf`: two TLS listeners (Debian's `mosquitto.conf` includes
//!   `conf.d/`), no plain one;
//! - `grappe/`: the CAs, the broker's certificate and key, both CRLs and the ACL, to go
//!   in the install directory (default `/etc/mosquitto/grappe`).
//!
//! Devices connect on the device port: only the grappe CA's certificates, the client id
//! forced to the certificate's CN (one device cannot throw another off by taking its id).
//! Operators connect on the operator port: only the operators' CA, the client id free, so
//! each `grappe-fleet` connection has its own. In both, the user name is the CN, which the
//! ACL matches; anything the ACL does not grant is refused.
//!
//! Mosquitto 2.1: the `acl_file` option still works but is deprecated for the acl-file
//! plugin; replace the `acl_file` line with `plugin /usr/lib/<triplet>/mosquitto_acl_file.so`
//! and `plugin_opt_acl_file <path>` (the ACL file itself is unchanged). 2.1 also deprecates
//! `per_listener_settings` (leave it out: false is the default) and lowers the default
//! `max_packet_size`, which this file sets anyway.

use super::pki::{BrokerSettings, Ca, Pki, Role};
use crate::fsutil;
use crate::wire::{Grants, Identity};
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub const DEFAULT_INSTALL_DIR: &str = "/etc/mosquitto/grappe";
const ACL: &str = "acl";
const CONF: &str = "conf.d/grappe.conf";

/// Writes the configuration for `settings` and records them in the PKI, so that every
/// later `pki issue-*` and `pki revoke` writes it again. Returns the files written.
pub fn write(pki: &mut Pki, settings: BrokerSettings) -> Result<Vec<PathBuf>> {
    if settings.port == settings.operator_port {
        bail!(
            "--port and --operator-port are both {}: devices and operators need a listener each",
            settings.port
        );
    }
    let files = write_files(pki, &settings)?;
    pki.set_broker_settings(settings)?;
    Ok(files)
}

/// Writes the configuration again where `broker-config` last put it, if it ever ran.
pub fn refresh(pki: &Pki) -> Result<Option<PathBuf>> {
    match pki.broker_settings() {
        Some(settings) => {
            write_files(pki, settings)?;
            Ok(Some(settings.out.clone()))
        }
        None => Ok(None),
    }
}

fn write_files(pki: &Pki, settings: &BrokerSettings) -> Result<Vec<PathBuf>> {
    let (server_cert, server_key) = pki.server_files();
    if pki.server().is_none() || !server_cert.exists() {
        bail!(
            "the PKI has no broker certificate yet; issue it first: grappe-fleet pki --dir {} issue-server --host BROKER-NAME",
            pki.dir().display()
        );
    }
    let grappe_dir = settings.out.join("grappe");
    for dir in [&grappe_dir, &settings.out.join("conf.d")] {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut written = Vec::new();
    let mut copy = |from: &Path, name: &str, private: bool| -> Result<()> {
        let bytes =
            std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
        let to = grappe_dir.join(name);
        if private {
            fsutil::write_atomic_private(&to, &bytes)
        } else {
            fsutil::write_atomic(&to, &bytes)
        }
        .with_context(|| format!("cannot write {}", to.display()))?;
        written.push(to);
        Ok(())
    };
    for ca in [Ca::Grappe, Ca::Operators] {
        copy(&pki.ca_path(ca), ca.cert_file(), false)?;
        copy(&pki.crl_path(ca), ca.crl_file(), false)?;
    }
    copy(&server_cert, "server.pem", false)?;
    copy(&server_key, "server.key", true)?;
    let now = OffsetDateTime::now_utc();
    for (path, text) in [
        (grappe_dir.join(ACL), acl(pki, now)),
        (settings.out.join(CONF), conf(pki, settings)),
    ] {
        fsutil::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// The ACL: one block per operator and per device with a usable certificate, from the
/// same [`Grants`] the contract defines. A revoked or expired identity has no block.
pub fn acl(pki: &Pki, now: OffsetDateTime) -> String {
    let grappe = pki.grappe();
    let mut out = format!(
        "# Mosquitto ACL of grappe {grappe}, written by grappe-fleet broker-config from the PKI\n\
         # register: do not edit, it is rewritten on every `pki issue-*` and `pki revoke`.\n\
         # User names are certificate common names (use_identity_as_username); anything not\n\
         # granted here is refused. After a change: systemctl reload mosquitto.\n"
    );
    out.push_str("\n# Operators: read the whole grappe, send commands to its devices.\n");
    for op in pki.usable(Role::Operator, now) {
        let _ = writeln!(out, "# serial {}, valid until {}", op.serial, op.not_after);
        out.push_str(&Grants::operator(grappe).acl_block(&op.id));
    }
    let mut devices = pki.usable(Role::Device, now);
    devices.sort_by(|a, b| (&a.structure, &a.id).cmp(&(&b.structure, &b.id)));
    let mut structure = None;
    for device in devices {
        let who = Identity {
            grappe: grappe.into(),
            structure: device.structure.clone().unwrap_or_default(),
            device: device.id.clone(),
        };
        if structure.as_ref() != Some(&who.structure) {
            let _ = writeln!(
                out,
                "\n# Structure {}: each device publishes only its own topics and reads only its own commands.",
                who.structure
            );
            structure = Some(who.structure.clone());
        }
        let _ = writeln!(
            out,
            "# serial {}, valid until {}",
            device.serial, device.not_after
        );
        out.push_str(&Grants::device(&who).acl_block(&who.device));
    }
    out
}

/// Mosquitto's per-client queue: room for the retained state of a fleet of 20,000 devices
/// read one topic at a time (grappe-fleet does), or of 4,000 read all at once.
pub const MAX_QUEUED_MESSAGES: usize = 20_000 * 5;

/// `conf.d/grappe.conf`.
pub fn conf(pki: &Pki, s: &BrokerSettings) -> String {
    let dir = s.install_dir.display();
    let bind = s
        .bind
        .as_deref()
        .map(|b| format!(" {b}"))
        .unwrap_or_default();
    let listener = |port: u16, ca: Ca, forced_id: bool, who: &str| {
        format!(
            "# {who}\n\
             listener {port}{bind}\n\
             protocol mqtt\n\
             cafile {dir}/{cafile}\n\
             certfile {dir}/server.pem\n\
             keyfile {dir}/server.key\n\
             crlfile {dir}/{crlfile}\n\
             tls_version tlsv1.2\n\
             require_certificate true\n\
             use_identity_as_username true\n{clientid}",
            cafile = ca.cert_file(),
            crlfile = ca.crl_file(),
            clientid = if forced_id {
                "use_username_as_clientid true\n"
            } else {
                ""
            },
        )
    };
    format!(
        "# Mosquitto configuration of grappe {grappe}, written by grappe-fleet broker-config.\n\
         # Install as /etc/mosquitto/conf.d/grappe.conf, with the files of grappe/ in {dir}\n\
         # (server.key readable by the mosquitto group only). Do not edit: it is rewritten on\n\
         # every `pki issue-*` and `pki revoke`. Check with `mosquitto -c /etc/mosquitto/mosquitto.conf -v`.\n\
         # ACL changes need `systemctl reload mosquitto`; a new CRL or certificate needs\n\
         # `systemctl restart mosquitto` (Mosquitto 2.0 reads TLS files only at start).\n\
         # Written for Mosquitto 2.0 (Debian 12). On 2.1, replace the acl_file line with\n\
         # `plugin /usr/lib/<triplet>/mosquitto_acl_file.so` and `plugin_opt_acl_file {dir}/acl`.\n\
         \n\
         per_listener_settings false\n\
         allow_anonymous false\n\
         acl_file {dir}/{ACL}\n\
         # Reports are small JSON objects (the inventory, the largest, a few tens of KB).\n\
         max_packet_size 1048576\n\
         # Messages waiting to be written to one client, QoS 0 included: beyond it Mosquitto\n\
         # drops them silently. Reading the retained state (grappe-fleet status, any\n\
         # subscriber to grappe/v1/{grappe}/#) is a burst of one message per device and\n\
         # topic: with the default of 1000, a reader of 5,000 devices got under 30 % of it.\n\
         # Sessions of persistent clients gone this long are forgotten.\n\
         max_queued_messages {MAX_QUEUED}\n\
         persistent_client_expiration 60d\n\
         \n{devices}\n{operators}",
        grappe = pki.grappe(),
        MAX_QUEUED = MAX_QUEUED_MESSAGES,
        devices = listener(
            s.port,
            Ca::Grappe,
            true,
            "Devices: grappe CA certificates only; client id = certificate CN."
        ),
        operators = listener(
            s.operator_port,
            Ca::Operators,
            false,
            "Operators (grappe-fleet): operators CA certificates only; each connection picks its own client id."
        ),
    )
}
