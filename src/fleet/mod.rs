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
