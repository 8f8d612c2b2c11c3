//! Shared by the Rust benches (included with `#[path]`): one run of a command as the
//! kernel accounted it, the median of several, and the sizes asked on the command line.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the kernel accounted for one run of a command (and the children it waited for).
#[derive(Clone, Copy)]
pub struct Usage {
    pub wall: Duration,
    /// User and system time together.
    pub cpu: Duration,
    /// The system's share: the kernel's work (for a proof, mostly creating files).
    pub sys: Duration,
    pub max_rss_kib: u64,
}

pub fn measure(command: &mut Command) -> Usage {
    let start = Instant::now();
    // Reaped below by wait4, which std's Child::wait cannot replace: it gives no rusage.
    #[allow(clippy::zombie_processes)]
    let child = command.stdout(Stdio::null()).spawn().unwrap();
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
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
        max_rss_kib: usage.ru_maxrss as u64,
    }
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
