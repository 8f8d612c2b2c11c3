//! The central side, for the grappe's IT staff (`grappe-fleet`): the grappe's certificates
//! ([`pki`]) and the broker configuration that confines each device to its own branch
//! ([`broker_config`]).
//!
//! Built only with the `fleet` feature, so that none of it (nor its dependencies) reaches
//! the device binary. It speaks to devices only through [`crate::wire`] and never imports
//! the agent's own modules.

pub mod broker_config;
pub mod config;
pub mod device;
pub mod mqtt;
pub mod pki;
pub mod run;
pub mod status;
pub mod view;
