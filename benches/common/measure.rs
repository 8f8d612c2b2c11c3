//! Shared by the Rust benches (included with `#[path]`): one run of a command as the
//! kernel accounted it, the median of several, and the sizes asked on the command line.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One run of a command (with the processes under it).
#[derive(Clone, Copy)]
pub struct Usage {
    pub wall: Duration,
    /// User and system time together.
    pub cpu: Duration,
    /// The system's share: the kernel's work (for a proof, mostly creating files).
    pub sys: Duration,
    pub max_rss_kib: u64,
}

/// Runs `command` to its end: its wall and CPU time from the kernel's accounting, and its
/// peak RSS from the kernel's high-water marks of it and the processes under it, read
/// every 2 ms while it runs. Not the rusage's `ru_maxrss`: a child spawned from this
/// process starts from this process's own peak there (the exec records the high-water
/// mark of the memory it replaces), so a bench that had grown would lend it its size.
pub fn measure(command: &mut Command) -> Usage {
    let start = Instant::now();
    // Reaped below by wait4, which std's Child::wait cannot replace: it gives no rusage.
    #[allow(clippy::zombie_processes)]
    let child = command.stdout(Stdio::null()).spawn().unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (done, pid) = (done.clone(), child.id());
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(tree_peak_kib(pid));
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        })
    };
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let max_rss_kib = watcher.join().unwrap();
    assert_eq!(pid, child.id() as i32);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{command:?} failed ({status})"
    );
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Usage {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        sys: tv(usage.ru_stime),
        max_rss_kib,
    }
}

/// The largest VmHWM of a running process and of the processes under it (0 once gone).
fn tree_peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let own = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .map(tree_peak_kib)
        .fold(own, u64::max)
}

pub fn median(mut runs: Vec<Usage>) -> Usage {
    runs.sort_by_key(|u| u.wall);
    let mut m = runs[runs.len() / 2];
    m.max_rss_kib = runs.iter().map(|u| u.max_rss_kib).max().unwrap();
    m
}

/// The numbers given after `--` (`cargo bench --bench NAME -- 500 5000`), else `default`.
pub fn sizes(default: &[usize]) -> Vec<usize> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if sizes.is_empty() {
        default.to_vec()
    } else {
        sizes
    }
}
