use super::*;
use std::fs;
use std::path::Path;

fn put(dir: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

const STATUS: &str = "\
Package: dpkg
Status: install ok installed
Architecture: armhf
Version: 1.21.22

Package: libc6
Status: install ok installed
Architecture: armhf
Version: 2.36-9+rpt2+deb12u9

Package: telnetd
Status: deinstall ok config-files
Architecture: armhf
Version: 0.17+2.4-2
";

/// Files every fake system has; `disk` and `live` are the two halves of a [`Root`].
fn common(disk: &Path, live: &Path) {
    put(disk, "etc/machine-id", "0f3c5b2a9d8e4f6a8b7c6d5e4f3a2b1c\n");
    put(disk, "var/lib/dpkg/status", STATUS);
    put(
        live,
        "proc/meminfo",
        "MemTotal:        3884180 kB\nSwapTotal:        102396 kB\n",
    );
    put(live, "proc/stat", "cpu  1 2 3\nbtime 1795420800\n");
    put(live, "proc/uptime", "7200.57 13991.20\n");
}

/// A Raspberry Pi 4 on 32-bit Raspberry Pi OS with a 64-bit kernel, SD card and a USB disk.
fn arm_board() -> (tempfile::TempDir, Root) {
    let t = tempfile::tempdir().unwrap();
    let (disk, live) = (t.path().join("disk"), t.path().join("live"));
    common(&disk, &live);
    put(
        &disk,
        "etc/hostname",
        "# set by the installer\nehpad-salon-1\n",
    );
    put(
        &disk,
        "usr/lib/os-release",
        "ID=raspbian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n\
         PRETTY_NAME=\"Raspbian GNU/Linux 12 (bookworm)\"\nID_LIKE=debian\n",
    );
    put(&live, "proc/sys/kernel/osrelease", "6.6.51+rpt-rpi-v8\n");
    put(&live, "proc/sys/kernel/arch", "aarch64\n");
    put(
        &live,
        "proc/device-tree/model",
        b"Raspberry Pi 4 Model B Rev 1.4\0",
    );
    put(
        &live,
        "proc/device-tree/compatible",
        b"raspberrypi,4-model-b\0brcm,bcm2711\0",
    );
    put(
        &live,
        "proc/device-tree/serial-number",
        b"10000000a1b2c3d4\0",
    );
    // SD card.
    put(&live, "sys/block/mmcblk0/size", "62333952\n");
    put(&live, "sys/block/mmcblk0/removable", "0\n");
    put(&live, "sys/block/mmcblk0/queue/rotational", "0\n");
    put(&live, "sys/block/mmcblk0/device/name", "SN64G\n");
    put(&live, "sys/block/mmcblk0/device/type", "SD\n");
    // USB disk: sysfs links sd* into the USB controller's tree.
    let usb = live.join(
        "sys/devices/platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0/\
         usb2/2-2/2-2:1.0/host0/target0:0:0/0:0:0:0/block/sda",
    );
    put(&usb, "size", "976773168\n");
    put(&usb, "removable", "0\n");
    put(&usb, "queue/rotational", "1\n");
    put(&usb, "device/model", "Expansion HDD   \n");
    std::os::unix::fs::symlink(&usb, live.join("sys/block/sda")).unwrap();
    // Virtual devices: no `device` link.
    put(&live, "sys/block/loop0/size", "0\n");
    put(&live, "sys/block/zram0/size", "100\n");
    put(&live, "sys/block/zram0/device/x", ""); // even if it had one, zram is skipped
    put(&live, "sys/block/mmcblk0boot0/size", "8192\n");
    put(&live, "sys/block/mmcblk0boot0/device/name", "boot\n");
    // ARM tablet-style fuel gauge with uevent, plus its USB charger.
    put(
        &live,
        "sys/class/power_supply/rk817-battery/uevent",
        "DEVTYPE=power_supply\nPOWER_SUPPLY_NAME=rk817-battery\nPOWER_SUPPLY_TYPE=Battery\n\
         POWER_SUPPLY_STATUS=Charging\nPOWER_SUPPLY_PRESENT=1\nPOWER_SUPPLY_HEALTH=Good\n\
         POWER_SUPPLY_CAPACITY=78\nPOWER_SUPPLY_CHARGE_FULL=5200000\n\
         POWER_SUPPLY_CHARGE_FULL_DESIGN=6000000\n",
    );
    put(
        &live,
        "sys/class/power_supply/rk817-charger/uevent",
        "POWER_SUPPLY_NAME=rk817-charger\nPOWER_SUPPLY_TYPE=USB\nPOWER_SUPPLY_ONLINE=1\n",
    );
    let root = Root::at(disk).with_live(live);
    (t, root)
}

/// An x86 mini-PC/tablet with template DMI product fields and real baseboard ones.
fn x86_box() -> (tempfile::TempDir, Root) {
    let t = tempfile::tempdir().unwrap();
    let (disk, live) = (t.path().join("disk"), t.path().join("live"));
    common(&disk, &live);
    put(&disk, "etc/hostname", "poste-accueil\n");
    put(
        &disk,
        "etc/os-release",
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nID=debian\n\
         VERSION_CODENAME=bookworm\n",
    );
    put(&disk, "usr/lib/os-release", "ID=wrong\n");
    put(&live, "proc/sys/kernel/osrelease", "6.1.0-27-amd64\n");
    let dmi = "sys/class/dmi/id";
    put(&live, &format!("{dmi}/sys_vendor"), "Default string\n");
    put(&live, &format!("{dmi}/board_vendor"), "AZW\n");
    put(&live, &format!("{dmi}/product_name"), "MINI S\n");
    put(
        &live,
        &format!("{dmi}/product_serial"),
        "To be filled by O.E.M.\n",
    );
    put(&live, &format!("{dmi}/board_serial"), "M80-D5A21100456\n");
    put(&live, "sys/block/nvme0n1/size", "1000215216\n");
    put(&live, "sys/block/nvme0n1/removable", "0\n");
    put(&live, "sys/block/nvme0n1/queue/rotational", "0\n");
    put(
        &live,
        "sys/block/nvme0n1/device/model",
        "KINGSTON SNV2S500G                      \n",
    );
    put(&live, "sys/block/sdb/size", "0\n"); // empty card reader
    put(&live, "sys/block/sdb/device/model", "Card Reader\n");
    // Intel Atom tablet ACPI battery through per-property files (no uevent), an AC
    // adapter, and a Bluetooth mouse battery that is not the device's.
    let bat = "sys/class/power_supply/BAT0";
    for (f, v) in [
        ("type", "Battery"),
        ("status", "Discharging"),
        ("present", "1"),
        ("technology", "Li-ion"),
        ("cycle_count", "0"),
        ("energy_full_design", "31350000"),
        ("energy_full", "27740000"),
        ("capacity", "54"),
        ("model_name", "SR Real Battery"),
    ] {
        put(&live, &format!("{bat}/{f}"), format!("{v}\n"));
    }
    put(
        &live,
        "sys/class/power_supply/ADP1/uevent",
        "POWER_SUPPLY_TYPE=Mains\nPOWER_SUPPLY_ONLINE=0\n",
    );
    put(
        &live,
        "sys/class/power_supply/hid-dc:2c:26:aa:bb:cc-battery/uevent",
        "POWER_SUPPLY_TYPE=Battery\nPOWER_SUPPLY_SCOPE=Device\nPOWER_SUPPLY_CAPACITY=40\n",
    );
    let root = Root::at(disk).with_live(live);
    (t, root)
}

#[test]
fn arm_board_from_device_tree() {
    let (_t, root) = arm_board();
    let inv = collect(&root);
    assert_eq!(
        inv.board,
        Board {
            vendor: Some("raspberrypi".into()),
            model: Some("Raspberry Pi 4 Model B Rev 1.4".into()),
            serial: Some("10000000a1b2c3d4".into()),
            source: Some("device-tree".into()),
        }
    );
    assert_eq!(inv.hostname.as_deref(), Some("ehpad-salon-1"));
    let os = inv.os.as_ref().unwrap();
    assert_eq!(
        os.id.as_deref(),
        Some("raspbian"),
        "fell back to /usr/lib/os-release"
    );
    assert_eq!(os.id_like, ["debian"]);
    assert_eq!(inv.kernel.as_deref(), Some("6.6.51+rpt-rpi-v8"));
    assert_eq!(inv.arch.as_deref(), Some("aarch64"));
    assert_eq!(inv.dpkg_arch.as_deref(), Some("armhf"));
    assert_eq!(
        inv.disks,
        [
            Disk {
                name: "mmcblk0".into(),
                model: Some("SN64G".into()),
                size_bytes: Some(62_333_952 * 512),
                removable: Some(false),
                rotational: Some(false),
                transport: Some("sd".into()),
            },
            Disk {
                name: "sda".into(),
                model: Some("Expansion HDD".into()),
                size_bytes: Some(976_773_168 * 512),
                removable: Some(false),
                rotational: Some(true),
                transport: Some("usb".into()),
            },
        ]
    );
    assert_eq!(inv.batteries.len(), 1);
    assert_eq!(inv.batteries[0].name, "rk817-battery");
    assert_eq!(inv.batteries[0].wear_percent, Some(13.3));
    assert_eq!(inv.memory_bytes, Some(3_884_180 * 1024));
    assert_eq!(inv.swap_bytes, Some(102_396 * 1024));
    assert_eq!(inv.boot_time.as_deref(), Some("2026-11-23T08:00:00Z"));
    assert_eq!(inv.uptime_s, Some(7200));
    assert_eq!(
        inv.machine_id.as_deref(),
        Some("0f3c5b2a9d8e4f6a8b7c6d5e4f3a2b1c")
    );
    assert!(inv.problems.is_empty(), "{:?}", inv.problems);
    // sysinfo sees only the running kernel: with a fake live tree these stay unknown.
    assert!(inv.cpu.model.is_none() && inv.network.is_none() && inv.filesystems.is_none());
}

#[test]
fn raspberry_pi_serial_from_cpuinfo_when_device_tree_has_none() {
    let (t, root) = arm_board();
    fs::remove_file(t.path().join("live/proc/device-tree/serial-number")).unwrap();
    put(
        &t.path().join("live"),
        "proc/cpuinfo",
        "processor\t: 0\nmodel name\t: ARMv7 Processor rev 3 (v7l)\n\n\
         Hardware\t: BCM2835\nRevision\t: c03114\nSerial\t\t: 100000009e8f7a6b\n",
    );
    assert_eq!(
        collect(&root).board.serial.as_deref(),
        Some("100000009e8f7a6b")
    );
}

#[test]
fn x86_box_from_dmi_with_placeholders_filtered() {
    let (_t, root) = x86_box();
    let inv = collect(&root);
    assert_eq!(
        inv.board,
        Board {
            vendor: Some("AZW".into()),
            model: Some("MINI S".into()),
            serial: Some("M80-D5A21100456".into()),
            source: Some("dmi".into()),
        }
    );
    assert_eq!(inv.hostname.as_deref(), Some("poste-accueil"));
    assert_eq!(inv.os.as_ref().unwrap().id.as_deref(), Some("debian"));
    assert_eq!(
        inv.disks.len(),
        1,
        "empty card reader skipped: {:?}",
        inv.disks
    );
    assert_eq!(inv.disks[0].model.as_deref(), Some("KINGSTON SNV2S500G"));
    assert_eq!(inv.disks[0].transport, Some("nvme".into()));
    let names: Vec<_> = inv.batteries.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["BAT0"], "mains and mouse batteries are not listed");
    let bat = &inv.batteries[0];
    assert_eq!(bat.capacity_percent, Some(54));
    assert_eq!(bat.wear_percent, Some(11.5));
    assert_eq!(bat.model_name.as_deref(), Some("SR Real Battery"));
    assert!(inv.problems.is_empty(), "{:?}", inv.problems);
}

#[test]
fn unreadable_serial_is_null_with_a_note_and_packages_digest_is_stable() {
    let (t, root) = x86_box();
    let dmi = t.path().join("live/sys/class/dmi/id");
    fs::remove_file(dmi.join("board_serial")).unwrap();
    // A directory where the file should be: unreadable even for root, like EACCES.
    fs::remove_file(dmi.join("product_serial")).unwrap();
    fs::create_dir(dmi.join("product_serial")).unwrap();
    let inv = collect(&root);
    assert_eq!(inv.board.serial, None);
    assert_eq!(inv.board.model.as_deref(), Some("MINI S"));
    assert_eq!(inv.problems.len(), 1, "{:?}", inv.problems);
    assert_eq!(inv.problems[0].file, "/sys/class/dmi/id/product_serial");

    let p = inv.packages.unwrap();
    assert_eq!(p.count, 2, "config-files only is not installed");
    // sha256 of "dpkg:armhf=1.21.22\nlibc6:armhf=2.36-9+rpt2+deb12u9\n"
    assert_eq!(
        p.sha256,
        crate::wire::signed::sha256_hex(b"dpkg:armhf=1.21.22\nlibc6:armhf=2.36-9+rpt2+deb12u9\n")
    );
}

#[test]
fn missing_files_are_null_and_noted_never_invented() {
    let t = tempfile::tempdir().unwrap();
    let root = Root::at(t.path().join("disk")).with_live(t.path().join("live"));
    let inv = collect(&root);
    assert_eq!(inv.hostname, None);
    assert!(inv.os.is_none() && inv.packages.is_none() && inv.machine_id.is_none());
    assert_eq!(inv.board, Board::default());
    assert!(inv.disks.is_empty() && inv.batteries.is_empty());
    assert_eq!(
        (inv.memory_bytes, inv.uptime_s, inv.boot_time),
        (None, None, None)
    );
    let files: Vec<_> = inv.problems.iter().map(|p| p.file.as_str()).collect();
    for f in [
        "/etc/machine-id",
        "/usr/lib/os-release",
        "/var/lib/dpkg/status",
        "/proc/meminfo",
    ] {
        assert!(files.contains(&f), "{f} missing from {files:?}");
    }
}

#[test]
fn machine_id_is_validated() {
    let t = tempfile::tempdir().unwrap();
    let root = Root::at(t.path());
    for (text, ok) in [
        ("0f3c5b2a9d8e4f6a8b7c6d5e4f3a2b1c\n", true),
        ("0F3C5B2A9D8E4F6A8B7C6D5E4F3A2B1C\n", false),
        ("0f3c5b2a9d8e4f6a8b7c6d5e4f3a2b1\n", false),
        ("uninitialized\n", false),
        ("00000000000000000000000000000000\n", false),
        ("", false),
    ] {
        put(t.path(), "etc/machine-id", text);
        assert_eq!(machine_id(&root).is_some(), ok, "{text:?}");
    }
}

/// Runs a tool for comparison (tests only: collectors never spawn processes).
fn tool(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn this_machine_gives_plausible_values() {
    let start = std::time::Instant::now();
    let inv = collect(&Root::host());
    let elapsed = start.elapsed();
    if let Some(release) = tool("uname", &["-r"]) {
        assert_eq!(inv.kernel.as_deref(), Some(release.as_str()));
    }
    if let Some(machine) = tool("uname", &["-m"]) {
        assert_eq!(inv.arch.as_deref(), Some(machine.as_str()));
    }
    if let Some(name) = tool("uname", &["-n"]) {
        assert_eq!(inv.hostname.as_deref(), Some(name.as_str()));
    }
    if let Some(arch) = tool("dpkg", &["--print-architecture"]) {
        assert_eq!(inv.dpkg_arch.as_deref(), Some(arch.as_str()));
    }
    if let Some(list) = tool("dpkg-query", &["-W", "-f", "${db:Status-Abbrev}\n"]) {
        let installed = list
            .lines()
            .filter(|l| !["un", "rc", "pn"].contains(&l.get(..2).unwrap_or("").trim()))
            .count();
        assert_eq!(inv.packages.as_ref().unwrap().count, installed);
    }
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap();
    let total = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap();
    assert_eq!(inv.memory_bytes, Some(total * 1024));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    assert!(inv.cpu.cores.unwrap() >= cores);
    assert!(inv.cpu.physical_cores.unwrap() <= inv.cpu.cores.unwrap());
    assert!(inv.cpu.model.is_some());
    let fs = inv.filesystems.as_ref().unwrap();
    let root_fs = fs.iter().find(|f| f.mount == "/");
    if let Some(root_fs) = root_fs {
        assert!(root_fs.total_bytes > 0 && root_fs.available_bytes <= root_fs.total_bytes);
    }
    let net = inv.network.as_ref().unwrap();
    assert!(net.iter().all(|i| i.name != "lo"));
    let uptime: f64 = fs::read_to_string("/proc/uptime")
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(inv.uptime_s.unwrap().abs_diff(uptime as u64) <= 2);
    assert!(inv.boot_time.as_deref().unwrap().ends_with('Z'));
    assert_eq!(
        inv.machine_id,
        fs::read_to_string("/etc/machine-id")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| s.len() == 32)
    );
    // Debug build, shared machine: generous, but catches a collector gone quadratic.
    assert!(elapsed.as_millis() < 2000, "took {elapsed:?}");
    let json = serde_json::to_string(&inv).unwrap();
    assert!(
        !json.contains("/home/"),
        "no home directories in the inventory"
    );
}

#[test]
#[ignore = "prints this machine's reports"]
fn show() {
    println!(
        "{}",
        serde_json::to_string_pretty(&collect(&Root::host())).unwrap()
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&crate::collect::patches::collect(&Root::host(), None))
            .unwrap()
    );
}

#[test]
fn an_os_release_that_is_a_fifo_or_a_bomb_is_a_problem_not_a_hang() {
    let (t, root) = arm_board();
    let disk = t.path().join("disk");
    crate::fsutil::testing::mkfifo(&disk.join("etc/os-release"));
    // Sparse: 100 MB that cost no disk, and would cost 100 MB of memory if read.
    fs::File::create(disk.join("usr/lib/os-release"))
        .unwrap()
        .set_len(100 << 20)
        .unwrap();
    let inv = crate::fsutil::testing::within(move || collect(&root));
    assert!(inv.os.is_none(), "{:?}", inv.os);
    let error = |file: &str| {
        inv.problems
            .iter()
            .find(|p| p.file == file)
            .map(|p| p.error.clone())
            .unwrap_or_default()
    };
    assert_eq!(error("/etc/os-release"), "is a FIFO, not a regular file");
    assert!(
        error("/usr/lib/os-release").starts_with("is larger than 65536 bytes"),
        "{:?}",
        inv.problems
    );
}

#[test]
fn packages_digest_follows_name_arch_version_order() {
    let t = tempfile::tempdir().unwrap();
    let status = t.path().join("disk/var/lib/dpkg/status");
    fs::create_dir_all(status.parent().unwrap()).unwrap();
    let entry = |name: &str, arch: &str| {
        format!(
            "Package: {name}\nStatus: install ok installed\nArchitecture: {arch}\nVersion: 1.0\n\n"
        )
    };
    // Written out of order; "lib-dev" sorts after "lib" as a name, though '-' < ':' in a
    // line: the digest follows the packages' order, not the lines'.
    let text = [
        entry("lib2", "amd64"),
        entry("lib-dev", "amd64"),
        entry("lib", "i386"),
        entry("lib", "amd64"),
    ]
    .concat();
    fs::write(&status, text).unwrap();
    let root = Root::at(t.path().join("disk")).with_live(t.path().join("live"));
    let p = collect(&root).packages.unwrap();
    assert_eq!(p.count, 4);
    assert_eq!(
        p.sha256,
        crate::wire::signed::sha256_hex(
            b"lib:amd64=1.0\nlib:i386=1.0\nlib-dev:amd64=1.0\nlib2:amd64=1.0\n"
        )
    );
}
