//! The inventory report's `data` (schema `grappe-agent/inventory/1`): what the device is.

use super::Problem;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub hostname: Option<String>,
    pub machine_id: Option<String>,
    pub os: Option<OsRelease>,
    /// Kernel release (`uname -r`).
    pub kernel: Option<String>,
    /// Kernel machine (`uname -m`: `x86_64`, `aarch64`, `armv7l`).
    pub arch: Option<String>,
    /// Userland architecture as dpkg sees it (`amd64`, `arm64`, `armhf`): it differs from
    /// `arch` on 32-bit Raspberry Pi OS running a 64-bit kernel.
    pub dpkg_arch: Option<String>,
    pub cpu: Cpu,
    pub memory_bytes: Option<u64>,
    pub swap_bytes: Option<u64>,
    pub board: Board,
    pub disks: Vec<Disk>,
    /// `null` when it could not be read (fake live tree in tests).
    pub filesystems: Option<Vec<Filesystem>>,
    /// `null` when it could not be read (fake live tree in tests).
    pub network: Option<Vec<Interface>>,
    pub batteries: Vec<Battery>,
    pub packages: Option<Packages>,
    /// RFC 3339 UTC.
    pub boot_time: Option<String>,
    pub uptime_s: Option<u64>,
    /// Files that exist (or must exist) but could not be read, and why.
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cpu {
    pub model: Option<String>,
    /// Logical CPUs.
    pub cores: Option<usize>,
    pub physical_cores: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Board {
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    /// Where the three came from: `dmi` or `device-tree`; `null` when neither had any.
    pub source: Option<Cow<'static, str>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    pub name: String,
    pub model: Option<String>,
    pub size_bytes: Option<u64>,
    pub removable: Option<bool>,
    pub rotational: Option<bool>,
    /// `nvme`, `sata`, `usb`, `sd`, `emmc`, `virtio`, `scsi`...; `null` when unknown.
    pub transport: Option<Cow<'static, str>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filesystem {
    pub mount: String,
    pub fs: String,
    pub total_bytes: u64,
    pub available_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    pub mac: Option<String>,
    pub ipv4: Vec<String>,
    pub ipv6: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packages {
    pub count: usize,
    /// SHA-256 (hex) over the sorted `name:arch=version\n` lines of installed packages:
    /// two devices with the same value have exactly the same packages.
    pub sha256: String,
}

/// The fields of os-release that the agent reports (inventory `os`) or matches on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsRelease {
    pub id: Option<String>,
    /// `ID_LIKE`, split on spaces (`["debian"]` on Ubuntu and Raspbian).
    pub id_like: Vec<String>,
    pub name: Option<String>,
    pub pretty_name: Option<String>,
    pub version: Option<String>,
    /// Absent on Debian testing and unstable.
    pub version_id: Option<String>,
    pub version_codename: Option<String>,
}

/// One battery of the device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Battery {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub present: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity_percent: Option<u8>,
    /// `Charging`, `Discharging`, `Full`, `Not charging`, `Unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `Good`, `Overheat`, `Dead`... (ARM fuel gauges mostly; ACPI has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cycle_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub technology: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy_full_uwh: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy_full_design_uwh: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charge_full_uah: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charge_full_design_uah: Option<u64>,
    /// How much of its design capacity the battery has lost, in percent (0 when it holds
    /// as much as designed or more), from energy or else charge figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wear_percent: Option<f64>,
}
