//! Inventory: what the device is (board, serial, OS, hardware, packages).
//!
//! The board model and serial feed the funding proof, so they are read from the firmware
//! (DMI on x86, device tree on ARM) and never guessed: an unreadable value is `null`,
//! and `problems` says which file could not be read and why.
//!
//! Sources, cheapest first: small `/proc` and `/sys` files are read directly through
//! [`Root`] (so tests can fake them); `sysinfo` is used only for what it does better
//! than a file read: CPU brand (it knows ARM part numbers), filesystem space (statvfs on
//! each mount) and interface addresses (getifaddrs). `sysinfo` always looks at the
//! running kernel, so with a fake live tree (tests) those fields are `null` rather than
//! describing another machine. No user names or home directories are read.

use super::{max, Root};
use crate::parse::{device_tree, dmi, os_release, power_supply, procfs};
pub use crate::wire::inventory::*;
pub use crate::wire::Problem;
use std::io;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// Reads files through a [`Root`] and notes what could not be read.
pub(crate) struct Reader<'a> {
    pub root: &'a Root,
    pub problems: Vec<Problem>,
}

impl<'a> Reader<'a> {
    pub fn new(root: &'a Root) -> Self {
        Reader {
            root,
            problems: Vec::new(),
        }
    }

    pub fn note(&mut self, file: &str, error: impl ToString) {
        self.problems.push(Problem {
            file: file.to_owned(),
            error: error.to_string(),
        });
    }

    /// Result of reading `abs`: the text, or `None` with a problem noted. A missing file
    /// is a problem only when `required` (an ARM board has no DMI; that is normal).
    fn check<T>(&mut self, abs: &str, r: io::Result<T>, required: bool) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) if e.kind() == io::ErrorKind::NotFound && !required => None,
            Err(e) => {
                self.note(abs, e);
                None
            }
        }
    }

    /// An on-disk file (`/etc`, `/var`, `/usr`) that should exist.
    pub fn disk(&mut self, abs: &str) -> Option<String> {
        let r = self.root.read(abs);
        self.check(abs, r, true)
    }

    /// A live file (`/proc`, `/sys`) that should exist.
    pub fn live(&mut self, abs: &str) -> Option<String> {
        let r = self.root.read_live(abs);
        self.check(abs, r, true)
    }

    /// A live file that may legitimately be absent.
    pub fn live_opt(&mut self, abs: &str) -> Option<String> {
        let r = self.root.read_live(abs);
        self.check(abs, r, false)
    }

    /// A live file as raw bytes (device-tree properties are NUL-terminated).
    fn live_bytes_opt(&mut self, abs: &str) -> Option<Vec<u8>> {
        let r = crate::fsutil::read_bounded(&self.root.live(abs), max::ATTR);
        self.check(abs, r, false)
    }

    /// `/etc/os-release`, falling back to `/usr/lib/os-release` as os-release(5) says.
    pub fn os_release(&mut self) -> Option<os_release::OsRelease> {
        // Read up to a bound: a bomb here must not cost its size in memory.
        let mut read = |abs: &str, required: bool| {
            let r = self.root.read_up_to(abs, max::OS_RELEASE);
            self.check(abs, r, required)
        };
        let text = read("/etc/os-release", false).or_else(|| read("/usr/lib/os-release", true))?;
        Some(os_release::parse(&text))
    }
}

pub fn collect(root: &Root) -> Inventory {
    let mut r = Reader::new(root);
    let host_live = root.live("/") == Path::new("/");
    let hostname = hostname(&mut r);
    let machine_id = machine_id_from(&mut r);
    let os = r.os_release();
    let kernel = r.live("/proc/sys/kernel/osrelease").and_then(trimmed);
    let arch = r
        .live_opt("/proc/sys/kernel/arch") // Linux 6.1+; uname(2) otherwise
        .and_then(trimmed)
        .or_else(|| host_live.then(uname_machine).flatten());
    let meminfo = r.live("/proc/meminfo").unwrap_or_default();
    let (packages, dpkg_arch) = packages(&mut r);
    let board = board(&mut r);
    let disks = disks(&mut r);
    let batteries = batteries(&mut r);
    let boot_time = r
        .live("/proc/stat")
        .and_then(|s| procfs::btime(&s))
        // A garbled value must not overflow the time types (a real kernel stops at 2262).
        .and_then(|t| UNIX_EPOCH.checked_add(Duration::from_secs(t)))
        .filter(|t| *t < UNIX_EPOCH + Duration::from_secs(253_402_300_800)) // year 10000
        .map(crate::wire::rfc3339);
    let uptime_s = r.live("/proc/uptime").and_then(|s| procfs::uptime_s(&s));
    Inventory {
        hostname,
        machine_id,
        os,
        kernel,
        arch,
        dpkg_arch,
        cpu: if host_live { cpu() } else { Cpu::default() },
        memory_bytes: procfs::meminfo_bytes(&meminfo, "MemTotal"),
        swap_bytes: procfs::meminfo_bytes(&meminfo, "SwapTotal"),
        board,
        disks,
        filesystems: host_live.then(filesystems).flatten(),
        network: host_live.then(network).flatten(),
        batteries,
        packages,
        boot_time,
        uptime_s,
        problems: r.problems,
    }
}

/// `/etc/machine-id` under the root, validated (32 lowercase hex); used to derive the
/// device id. `None` when missing, empty (first boot) or malformed.
pub fn machine_id(root: &Root) -> Option<String> {
    machine_id_from(&mut Reader::new(root))
}

fn machine_id_from(r: &mut Reader) -> Option<String> {
    let text = r.disk("/etc/machine-id")?;
    let id = text.trim();
    let valid = id.len() == 32
        && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && id.bytes().any(|b| b != b'0');
    if !valid {
        r.note("/etc/machine-id", "not 32 lowercase hex digits");
    }
    valid.then(|| id.to_owned())
}

/// The kernel's hostname when looking at the running system; the configured one
/// (`/etc/hostname`) when looking at an image, whose kernel is not running.
fn hostname(r: &mut Reader) -> Option<String> {
    if r.root.is_host_disk() {
        return r.live("/proc/sys/kernel/hostname").and_then(trimmed);
    }
    let text = r.disk("/etc/hostname")?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    Some(line.to_owned())
}

fn trimmed(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn uname_machine() -> Option<String> {
    // SAFETY: uname(2) only fills the struct it is given; the fields are NUL-terminated.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return None;
        }
        let machine = std::ffi::CStr::from_ptr(u.machine.as_ptr());
        trimmed(machine.to_string_lossy().into_owned())
    }
}

/// Package count and digest, and the native architecture (that of the `dpkg` package),
/// from one read of the dpkg status file.
fn packages(r: &mut Reader) -> (Option<Packages>, Option<String>) {
    // What the digest covers, as `name NUL arch NUL version` per package: NUL sorts below
    // any character, so these sort as the triples do. The file's other fields (nine tenths
    // of it) are not kept.
    let mut lines: Vec<Box<str>> = Vec::new();
    let mut dpkg_arch = None;
    let read = super::each_installed(r.root, |p| {
        if p.name == "dpkg" && !p.arch.is_empty() && dpkg_arch.is_none() {
            dpkg_arch = Some(p.arch.to_owned());
        }
        lines.push(format!("{}\0{}\0{}", p.name, p.arch, p.version).into());
    });
    if let Err(e) = read {
        r.note(super::DPKG_STATUS, e);
        return (None, None);
    }
    lines.sort_unstable();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for line in &lines {
        let mut parts = line.splitn(3, '\0');
        let mut next = || parts.next().unwrap_or_default();
        for part in [next(), ":", next(), "=", next(), "\n"] {
            ctx.update(part.as_bytes());
        }
    }
    let sha256 = ctx
        .finish()
        .as_ref()
        .iter()
        .fold(String::new(), |mut s, b| {
            use std::fmt::Write;
            let _ = write!(s, "{b:02x}");
            s
        });
    let packages = Packages {
        count: lines.len(),
        sha256,
    };
    (Some(packages), dpkg_arch)
}

/// DMI when the firmware has it (x86, UEFI ARM), else the device tree.
fn board(r: &mut Reader) -> Board {
    let dmi = dmi_board(r);
    if dmi.vendor.is_some() || dmi.model.is_some() || dmi.serial.is_some() {
        return Board {
            source: Some("dmi".into()),
            ..dmi
        };
    }
    let dt = device_tree_board(r);
    if dt.vendor.is_some() || dt.model.is_some() || dt.serial.is_some() {
        return Board {
            source: Some("device-tree".into()),
            ..dt
        };
    }
    Board::default()
}

fn dmi_board(r: &mut Reader) -> Board {
    const DIR: &str = "/sys/class/dmi/id";
    if !r.root.live(DIR).exists() {
        return Board::default();
    }
    // The system (product) fields name the machine; cheap mini-PCs often leave them as
    // template text and fill only the baseboard fields, hence the fallback.
    let mut field = |product: &str, baseboard: &str| {
        r.live_opt(&format!("{DIR}/{product}"))
            .and_then(|v| dmi::value(&v))
            .or_else(|| {
                r.live_opt(&format!("{DIR}/{baseboard}"))
                    .and_then(|v| dmi::value(&v))
            })
    };
    Board {
        vendor: field("sys_vendor", "board_vendor"),
        model: field("product_name", "board_name"),
        serial: field("product_serial", "board_serial"),
        source: None,
    }
}

fn device_tree_board(r: &mut Reader) -> Board {
    let prop = |r: &mut Reader, name: &str| r.live_bytes_opt(&format!("/proc/device-tree/{name}"));
    let model = prop(r, "model").and_then(|b| device_tree::string(&b));
    let vendor =
        prop(r, "compatible").and_then(|b| device_tree::vendor(&device_tree::string_list(&b)));
    let serial = prop(r, "serial-number")
        .and_then(|b| device_tree::string(&b))
        .and_then(|s| dmi::value(&s))
        .or_else(|| {
            // Older Raspberry Pi firmware exposes the serial only in /proc/cpuinfo.
            let cpuinfo = r.live_opt("/proc/cpuinfo")?;
            dmi::value(procfs::cpuinfo_field(&cpuinfo, "Serial")?)
        });
    Board {
        vendor,
        model,
        serial,
        source: None,
    }
}

/// Physical block devices: those with a `device` link in sysfs (loop, ram, zram, dm and
/// md devices have none) and a medium (an empty card reader has size 0).
fn disks(r: &mut Reader) -> Vec<Disk> {
    let dir = r.root.live("/sys/block");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => {
            r.note("/sys/block", e);
            return Vec::new();
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            let virtual_dev = ["loop", "ram", "zram", "dm-", "md", "nbd"]
                .iter()
                .any(|p| n.starts_with(p));
            // eMMC boot partitions are part of the same chip as mmcblkN.
            let emmc_boot = n.starts_with("mmcblk") && n.contains("boot");
            !virtual_dev && !emmc_boot
        })
        .filter(|n| dir.join(n).join("device").exists())
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| {
            let base = format!("/sys/block/{name}");
            let mut attr = |file: &str| r.live_opt(&format!("{base}/{file}")).and_then(trimmed);
            // sysfs sizes are in 512-byte sectors whatever the device's block size.
            let size_bytes = attr("size")
                .and_then(|s| s.parse::<u64>().ok())
                .map(|s| s.saturating_mul(512));
            if size_bytes == Some(0) {
                return None;
            }
            let model = attr("device/model").or_else(|| attr("device/name"));
            let mmc_type = name
                .starts_with("mmcblk")
                .then(|| attr("device/type"))
                .flatten();
            Some(Disk {
                size_bytes,
                model,
                removable: attr("removable").map(|v| v == "1"),
                rotational: attr("queue/rotational").map(|v| v == "1"),
                transport: transport(&name, mmc_type.as_deref(), &dir.join(&name)).map(Into::into),
                name,
            })
        })
        .collect()
}

/// How a disk is attached, from its name or, for SCSI-style `sd*` disks, from where its
/// sysfs node sits (under a USB or an ATA controller).
fn transport(name: &str, mmc_type: Option<&str>, sys: &Path) -> Option<&'static str> {
    if name.starts_with("nvme") {
        return Some("nvme");
    }
    if name.starts_with("mmcblk") {
        return match mmc_type {
            Some("SD") => Some("sd"),
            Some("MMC") => Some("emmc"),
            _ => Some("mmc"),
        };
    }
    if name.starts_with("vd") {
        return Some("virtio");
    }
    if name.starts_with("sd") || name.starts_with("sr") {
        let real = std::fs::canonicalize(sys).ok()?;
        let under = |part: &str| {
            real.components()
                .any(|c| c.as_os_str().to_str().is_some_and(|s| s.starts_with(part)))
        };
        return Some(if under("usb") {
            "usb"
        } else if under("ata") {
            "sata"
        } else {
            "scsi"
        });
    }
    None
}

/// Batteries of the device, from one `uevent` read per supply (per-property files when a
/// driver has no `uevent`).
fn batteries(r: &mut Reader) -> Vec<power_supply::Battery> {
    let Ok(entries) = std::fs::read_dir(r.root.live("/sys/class/power_supply")) else {
        return Vec::new(); // no power_supply class: a board on mains only
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| {
            let base = format!("/sys/class/power_supply/{name}");
            let props = match r.live_opt(&format!("{base}/uevent")) {
                Some(text) => power_supply::uevent(&text),
                None => power_supply::FILES
                    .iter()
                    .filter_map(|f| {
                        let v = r.live_opt(&format!("{base}/{f}")).and_then(trimmed)?;
                        Some((f.to_string(), v))
                    })
                    .collect(),
            };
            power_supply::battery(&name, &props)
        })
        .collect()
}

/// CPU brand and counts from sysinfo: it maps ARM implementer/part codes to names
/// (`Cortex-A72`), which `/proc/cpuinfo` on aarch64 does not give.
fn cpu() -> Cpu {
    use sysinfo::{CpuRefreshKind, RefreshKind, System};
    let Ok(sys) =
        System::new_with_specifics(RefreshKind::nothing().with_cpu(CpuRefreshKind::nothing()))
    else {
        return Cpu::default();
    };
    let cpus = sys.cpus();
    Cpu {
        model: cpus
            .iter()
            .map(|c| c.brand().trim())
            .find(|b| !b.is_empty())
            .map(str::to_owned),
        cores: (!cpus.is_empty()).then_some(cpus.len()),
        physical_cores: System::physical_core_count().ok().filter(|&n| n > 0),
    }
}

/// Block-device-backed filesystems with their space (sysinfo already drops proc, sysfs,
/// tmpfs, squashfs...). A device mounted several times (bind mounts, btrfs subvolumes)
/// is listed once, at its shortest mount point.
fn filesystems() -> Option<Vec<Filesystem>> {
    use sysinfo::{DiskRefreshKind, Disks};
    let disks =
        Disks::new_with_refreshed_list_specifics(DiskRefreshKind::nothing().with_storage()).ok()?;
    let mut seen: Vec<(&std::ffi::OsStr, Filesystem)> = Vec::new();
    for d in disks.iter() {
        if !d.name().to_string_lossy().starts_with("/dev/") {
            continue;
        }
        let fs = Filesystem {
            mount: d.mount_point().to_string_lossy().into_owned(),
            fs: d.file_system().to_string_lossy().into_owned(),
            total_bytes: d.total_space(),
            available_bytes: d.available_space(),
        };
        match seen.iter_mut().find(|(dev, _)| *dev == d.name()) {
            Some((_, kept)) if kept.mount.len() > fs.mount.len() => *kept = fs,
            Some(_) => {}
            None => seen.push((d.name(), fs)),
        }
    }
    let mut list: Vec<Filesystem> = seen.into_iter().map(|(_, f)| f).collect();
    list.sort_by(|a, b| a.mount.cmp(&b.mount));
    Some(list)
}

/// Interfaces with MAC and addresses, sorted so that an unchanged device gives an
/// unchanged report.
fn network() -> Option<Vec<Interface>> {
    let nets = sysinfo::Networks::new_with_refreshed_list().ok()?;
    let mut list: Vec<Interface> = nets
        .iter()
        .filter(|(name, _)| name.as_os_str() != "lo")
        .map(|(name, data)| {
            let mac = data.mac_address();
            let mut ipv4 = Vec::new();
            let mut ipv6 = Vec::new();
            let mut addrs: Vec<_> = data.ip_networks().iter().map(|n| n.addr).collect();
            addrs.sort();
            for a in addrs {
                if a.is_ipv4() { &mut ipv4 } else { &mut ipv6 }.push(a.to_string());
            }
            Interface {
                name: name.to_string_lossy().into_owned(),
                mac: (!mac.is_unspecified()).then(|| mac.to_string()),
                ipv4,
                ipv6,
            }
        })
        .collect();
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Some(list)
}

#[cfg(test)]
mod tests;
