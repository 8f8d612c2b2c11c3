//! The central side, for the grappe's IT staff (`grappe-fleet`):
//! - enrolment: the grappe's certificates ([`pki`]) and the broker configuration that
//!   confines each device to its own branch ([`broker_config`]);
//! - the fleet's view: [`config`] (`fleet.toml`), the operator's MQTT session ([`mqtt`]),
//!   the judgement of each device from its retained state ([`view`]), its renderings
//!   ([`status`]: table, CSV, JSON, Nagios; [`device`]: one device in full), and the
//!   commands end to end ([`run`]);
//! - the grappe leader's equipment annex of a funding claim, signed by the devices, and
//!   its offline check ([`proof`]).
//!
//! Built only with the `fleet` feature, so that none of it (nor its dependencies) reaches
//! the device binary. It speaks to devices only through [`crate::wire`], and shares with
//! the agent only the `[broker]` section of [`crate::config`].

pub mod broker_config;
pub mod config;
pub mod device;
pub mod mqtt;
pub mod pki;
pub mod proof;
pub mod release;
pub mod run;
pub mod status;
pub mod view;

/// The SHA-256 of a file, read a block at a time, as hex (a proof's SHA256SUMS, a release
/// archive's manifest digest).
pub fn sha256_file(path: &std::path::Path) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    // On the stack: a proof hashes tens of thousands of files of a few KiB each.
    let mut block = [0; 16 * 1024];
    loop {
        match std::io::Read::read(&mut file, &mut block) {
            Ok(0) => break,
            Ok(n) => context.update(&block[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
    Ok(crate::wire::signed::hex(context.finish().as_ref()))
}
