//! Small `/proc` files the collectors read: `meminfo`, `stat`, `uptime`, `cpuinfo`, `swaps`.

/// A `/proc/meminfo` value in bytes (the file says `kB` but means KiB).
pub fn meminfo_bytes(meminfo: &str, key: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let (k, rest) = line.split_once(':')?;
        if k.trim() != key {
            return None;
        }
        let kib: u64 = rest.split_whitespace().next()?.parse().ok()?;
        kib.checked_mul(1024)
    })
}

/// Boot time in seconds since the epoch: the `btime` line of `/proc/stat`.
pub fn btime(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Whole seconds since boot: the first number of `/proc/uptime`.
pub fn uptime_s(uptime: &str) -> Option<u64> {
    let first = uptime.split_whitespace().next()?;
    let secs = first.split('.').next()?;
    secs.parse().ok()
}

/// The first `Key : value` of `/proc/cpuinfo` with that key (e.g. the Raspberry Pi's
/// `Serial` and `Model` lines, which sit after the per-processor blocks).
pub fn cpuinfo_field<'a>(cpuinfo: &'a str, key: &str) -> Option<&'a str> {
    cpuinfo.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key)
            .then(|| v.trim())
            .filter(|v| !v.is_empty())
    })
}

/// One active swap area of `/proc/swaps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    /// The device or file, `\ooo` escapes decoded (`/dev/zram0`, `/swapfile`).
    pub filename: String,
    /// `partition` or `file`.
    pub kind: String,
}

/// The swap areas of `/proc/swaps`; the header and malformed lines are skipped.
pub fn swaps(text: &str) -> Vec<Swap> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some(Swap {
                filename: super::mountinfo::unescape(f.next()?),
                kind: f.next()?.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo() {
        let text = "MemTotal:        3884180 kB\nMemFree:          245716 kB\n\
                    SwapCached:            0 kB\nSwapTotal:        102396 kB\n";
        assert_eq!(meminfo_bytes(text, "MemTotal"), Some(3_884_180 * 1024));
        assert_eq!(meminfo_bytes(text, "SwapTotal"), Some(102_396 * 1024));
        assert_eq!(meminfo_bytes(text, "Swap"), None);
        assert_eq!(meminfo_bytes("MemTotal: lots kB", "MemTotal"), None);
    }

    #[test]
    fn stat_and_uptime() {
        let stat = "cpu  1 2 3 4\ncpu0 1 2 3 4\nintr 5\nctxt 9\nbtime 1795420800\nprocesses 77\n";
        assert_eq!(btime(stat), Some(1_795_420_800));
        assert_eq!(btime("cpu 1\n"), None);
        assert_eq!(uptime_s("7200.57 13991.20\n"), Some(7200));
        assert_eq!(uptime_s(""), None);
        assert_eq!(uptime_s("-3.0 1"), None);
    }

    /// Raspberry Pi 4 running 64-bit Raspberry Pi OS.
    const RPI4_CPUINFO: &str = "processor\t: 0\nBogoMIPS\t: 108.00\n\
        Features\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU part\t: 0xd08\n\n\
        processor\t: 1\nBogoMIPS\t: 108.00\n\n\
        Revision\t: c03114\nSerial\t\t: 10000000a1b2c3d4\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";

    #[test]
    fn cpuinfo_fields() {
        assert_eq!(
            cpuinfo_field(RPI4_CPUINFO, "Serial"),
            Some("10000000a1b2c3d4")
        );
        assert_eq!(
            cpuinfo_field(RPI4_CPUINFO, "Model"),
            Some("Raspberry Pi 4 Model B Rev 1.4")
        );
        assert_eq!(cpuinfo_field(RPI4_CPUINFO, "processor"), Some("0"));
        assert_eq!(cpuinfo_field(RPI4_CPUINFO, "Hardware"), None);
        assert_eq!(cpuinfo_field("Serial\t: \n", "Serial"), None);
    }

    #[test]
    fn proc_swaps() {
        let text = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
                    /dev/zram0                              partition\t1003516\t\t0\t\t100\n\
                    /var/swap\\040file                        file\t\t102396\t\t0\t\t-2\n\
                    /dev/dm-1\n";
        assert_eq!(
            swaps(text),
            [
                Swap {
                    filename: "/dev/zram0".into(),
                    kind: "partition".into()
                },
                Swap {
                    filename: "/var/swap file".into(),
                    kind: "file".into()
                },
            ]
        );
        assert!(swaps("Filename Type Size Used Priority\n").is_empty());
        assert!(swaps("").is_empty());
    }
}
