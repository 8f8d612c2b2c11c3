//! Pure parsers for the system files the collectors read: text in, data out, no I/O,
//! so each one is unit-tested on real-world samples.

pub mod apt_packages;
pub mod apt_prefs;
pub mod apt_release;
pub mod apt_sources;
pub mod aptconf;
pub mod borgmatic;
pub mod crontab;
pub mod cvd;
pub mod deb822;
pub mod debversion;
pub mod device_tree;
pub mod dmi;
pub mod dpkg;
pub mod keyfile;
pub mod mountinfo;
pub mod netfilter;
pub mod os_release;
pub mod passwd;
pub mod power_supply;
pub mod procfs;
pub mod sockets;
pub mod sshd;
pub mod xfconf;
