//! The host's side of the emulated station: what a scenario checks on this machine
//! before it starts (no guest of an earlier one left, what else keeps the machine busy),
//! the helper the guests need, and the relay board at the end of a guest's USB-serial
//! adapter.
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The repository, which the guest sees at the same path.
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The guest's touchscreen injector (tests/vm/touchscreen.rs, an example of this
/// package), built here when a lone test binary runs without it.
pub fn touchscreen_helper() -> &'static Path {
    static HELPER: OnceLock<PathBuf> = OnceLock::new();
    HELPER.get_or_init(|| {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_doorway"));
        let helper = bin.parent().unwrap().join("examples/vm-touchscreen");
        if !helper.exists() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let profile = bin.parent().unwrap().file_name().unwrap().to_string_lossy().to_string();
            let mut build = Command::new(&cargo);
            build.current_dir(repo()).args(["build", "--example", "vm-touchscreen"]);
            if profile == "release" {
                build.arg("--release");
            }
            let built = build.status().is_ok_and(|s| s.success());
            assert!(
                built && helper.exists(),
                "the emulated touchscreen {} is missing and could not be built: run `cargo build --example vm-touchscreen`",
                helper.display()
            );
        }
        helper
    })
}

/// Guests of an earlier scenario (of this run or another) that are still running: their
/// QEMU processes, which boot from this repository's target/. None may be left: a
/// scenario starts on a machine that runs only its own two guests.
pub fn stray_guests() -> Vec<String> {
    let marker = repo().join("target").display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .filter_map(|e| {
            let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (cmdline.starts_with("qemu-system") && cmdline.contains(&marker))
                .then(|| format!("pid {pid}: {}", cmdline.chars().take(200).collect::<String>()))
        })
        .collect()
}

/// The machine's load and the processes that used the most CPU in the last second,
/// printed at the start of a scenario: what else was running when a step was slow.
pub fn machine_load() -> String {
    let ticks = |pid: &str| -> Option<(String, u64)> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (name, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let used = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some((name.to_string(), used))
    };
    let sample = || -> std::collections::HashMap<String, (String, u64)> {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let pid = e.ok()?.file_name().to_str()?.to_string();
                pid.parse::<u32>().ok()?;
                Some((pid.clone(), ticks(&pid)?))
            })
            .collect()
    };
    let before = sample();
    std::thread::sleep(Duration::from_secs(1));
    let mut busy: Vec<(u64, String)> = sample()
        .into_iter()
        .filter_map(|(pid, (name, used))| {
            // A process born within the second counts all it used.
            let was = before.get(&pid).map_or(0, |b| b.1);
            let delta = used.saturating_sub(was);
            (delta > 5).then(|| (delta, format!("{name} ({pid}) {delta}%")))
        })
        .collect();
    busy.sort_by_key(|b| std::cmp::Reverse(b.0));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let busy: Vec<String> = busy.into_iter().take(8).map(|b| b.1).collect();
    format!(
        "load average {}; busy in the last second: {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        if busy.is_empty() {
            "nothing".to_string()
        } else {
            busy.join(", ")
        }
    )
}

/// What a USB relay board reads from its serial line: 4-byte commands.
pub struct RelayBoard {
    stream: UnixStream,
    bytes: Vec<u8>,
}

impl RelayBoard {
    /// The board on the far end of `stream`.
    pub fn new(stream: UnixStream) -> Self {
        Self { stream, bytes: vec![] }
    }

    /// Reads until `count` commands have come or `within` has passed; each with the
    /// moment it arrived.
    pub fn commands(&mut self, count: usize, within: Duration) -> Vec<(Vec<u8>, Instant)> {
        use std::io::Read;
        let deadline = Instant::now() + within;
        let mut commands = vec![];
        while commands.len() < count && Instant::now() < deadline {
            let mut buf = [0u8; 16];
            if let Ok(n @ 1..) = self.stream.read(&mut buf) {
                self.bytes.extend_from_slice(&buf[..n]);
                while self.bytes.len() >= 4 {
                    commands.push((self.bytes.drain(..4).collect(), Instant::now()));
                }
            }
        }
        commands
    }
}
