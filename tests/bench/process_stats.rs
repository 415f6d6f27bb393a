//! What /proc says of a running process: its memory (resident, anonymous, file-backed),
//! CPU time, open file descriptors and threads.

/// One look at a process.
#[derive(Clone, Copy, Default, Debug)]
pub struct Sample {
    pub rss_kb: u64,
    /// Heap, stacks and other private memory: what a leak grows.
    pub anon_kb: u64,
    /// Mapped files (libraries, plugins) and shared memory.
    pub file_kb: u64,
    /// User and system time, in clock ticks.
    pub cpu_ticks: u64,
    pub fds: usize,
    pub threads: u64,
}

/// Reads `pid`'s figures; zeros for what cannot be read (a process that has ended).
pub fn sample(pid: u32) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of /proc/PID/stat, after the command in
    // parentheses (which may hold spaces).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<u64> = after.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    Sample {
        rss_kb: field("VmRSS:"),
        anon_kb: field("RssAnon:"),
        file_kb: field("RssFile:") + field("RssShmem:"),
        cpu_ticks: fields.get(11).unwrap_or(&0) + fields.get(12).unwrap_or(&0),
        fds,
        threads: field("Threads:"),
    }
}

/// Clock ticks per second, for [`Sample::cpu_ticks`].
pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Kilobytes as megabytes, for printing.
pub fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}
