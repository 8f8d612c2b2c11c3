//! Collectors: they read the system and return plain data. They never write, never send,
//! and never fail as a whole: what cannot be read is reported as unknown, with why.

pub mod apt_periodic;
pub mod inventory;
pub mod patches;
pub mod posture;
mod root;

pub use root::Root;
