//! The soak benchmark: a long loopback call between two station processes (`doorway run`
//! with test devices), printing each station's memory and CPU every minute.
//!
//!     cargo bench --bench soak -- [--minutes 30] [--interval-secs 60]
//!
//! Targets (issue: hardened station): a station's RSS grows by less than 5 MB after the
//! first minute, and stays at or under 60 MB in a call. The breakdown (anonymous memory,
//! mapped files, heap arenas) shows where it goes. Exits 1 when a target is missed.
//!
//!     cargo bench --bench soak -- --day [--calls 500]
//!
//! A day at a door in about an hour instead: see `soak_day.rs`.

#[path = "../common/mod.rs"]
mod common;
mod process_stats;
mod soak_day;
mod soak_house;

use soak_day as day;

use process_stats::{mb, sample as memory, ticks_per_second, Sample as Memory};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const GROWTH_LIMIT_MB: f64 = 5.0;
const IN_CALL_LIMIT_MB: f64 = 60.0;

struct StationProcess {
    name: &'static str,
    child: Child,
    config: PathBuf,
}

impl StationProcess {
    fn start(dir: &Path, name: &'static str, port: u16, peer: &str, peer_port: u16, answers: bool) -> Self {
        let config = dir.join(format!("{name}.toml"));
        let socket = dir.join(format!("{name}.sock"));
        std::fs::write(
            &config,
            format!(
                "[station]\nname = \"{name}\"\nuser = \"{}\"\nlisten = \"127.0.0.1:{port}\"\n\
                 control_socket = \"{}\"\nstate_dir = \"{}\"\n\n[[contact]]\nname = \"{peer}\"\n\
                 uri = \"sip:{}@127.0.0.1:{peer_port}\"\nauto_answer = {answers}\n\n[security]\ntls_port = {}\n",
                name.to_lowercase(),
                socket.display(),
                dir.join(name.to_lowercase()).display(),
                peer.to_lowercase(),
                doorway::api::loopback::free_sip_port(),
            ),
        )
        .expect("write a station config");
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("station log");
        let child = Command::new(env!("CARGO_BIN_EXE_doorway"))
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stderr(log)
            .stdout(Stdio::null())
            .spawn()
            .expect("start doorway run");
        let started = Instant::now();
        while !socket.exists() && started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(50));
        }
        StationProcess { name, child, config }
    }

    fn control(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_doorway"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .expect("run the doorway CLI")
    }

    fn status(&self) -> Value {
        serde_json::from_slice(&self.control(&["status", "--json"]).stdout).unwrap_or_default()
    }
}

impl Drop for StationProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn in_call(status: &Value) -> bool {
    status["call"]["state"] == "active"
}

fn frames(status: &Value) -> u64 {
    status["media"]["frames_decoded"].as_u64().unwrap_or(0)
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--day") {
        std::process::exit(day::run(&args));
    }
    let minutes = arg(&args, "--minutes", 30);
    let interval = Duration::from_secs(arg(&args, "--interval-secs", 60).max(1));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (door_port, hall_port) = (
        doorway::api::loopback::free_sip_port(),
        doorway::api::loopback::free_sip_port(),
    );
    let hall = StationProcess::start(dir.path(), "Hall", hall_port, "Door", door_port, true);
    let door = StationProcess::start(dir.path(), "Door", door_port, "Hall", hall_port, false);
    let idle = [memory(door.child.id()), memory(hall.child.id())];
    let calling = door.control(&["call", "Hall"]);
    assert!(
        calling.status.success(),
        "call failed: {}",
        String::from_utf8_lossy(&calling.stderr)
    );
    let started = Instant::now();
    while !(in_call(&door.status()) && frames(&door.status()) > 30) {
        assert!(started.elapsed() < Duration::from_secs(30), "the call did not start");
        std::thread::sleep(Duration::from_millis(200));
    }

    let tick = ticks_per_second();
    println!("soak: a loopback call of {minutes} min between two `doorway run` processes (test devices)");
    for (s, m) in [(&door, idle[0]), (&hall, idle[1])] {
        println!("{} idle before the call: RSS {:.1} MB", s.name, mb(m.rss_kb));
    }
    println!(
        "{:>6} {:<5} {:>8} {:>8} {:>8} {:>14} {:>8}",
        "minute", "who", "RSS MB", "anon MB", "files MB", "CPU s/minute", "frames"
    );
    let mut first = [Memory::default(); 2];
    let mut last = [memory(door.child.id()), memory(hall.child.id())];
    let mut peak = [0u64; 2];
    let call_start = Instant::now();
    let steps = (minutes * 60).div_ceil(interval.as_secs()).max(1);
    let mut dropped = false;
    for step in 1..=steps {
        std::thread::sleep((interval * step as u32).saturating_sub(call_start.elapsed()));
        for (i, s) in [&door, &hall].into_iter().enumerate() {
            let now = memory(s.child.id());
            let status = s.status();
            if !in_call(&status) {
                dropped = true;
            }
            let cpu = (now.cpu_ticks - last[i].cpu_ticks) as f64 / tick;
            let per_minute = cpu * 60.0 / interval.as_secs_f64();
            println!(
                "{:>6.1} {:<5} {:>8.1} {:>8.1} {:>8.1} {:>14.2} {:>8}",
                call_start.elapsed().as_secs_f64() / 60.0,
                s.name,
                mb(now.rss_kb),
                mb(now.anon_kb),
                mb(now.file_kb),
                per_minute,
                frames(&status)
            );
            if step == 1 {
                first[i] = now;
            }
            peak[i] = peak[i].max(now.rss_kb);
            last[i] = now;
        }
        if dropped {
            break;
        }
    }
    let _ = door.control(&["hangup"]);

    let mut missed = dropped;
    if dropped {
        println!("the call ended before the soak did (logs in {})", dir.path().display());
    }
    for (i, s) in [&door, &hall].into_iter().enumerate() {
        let growth = mb(last[i].rss_kb) - mb(first[i].rss_kb);
        let peak_mb = mb(peak[i]);
        println!(
            "{}: RSS after the first minute {:.1} MB, at the end {:.1} MB (growth {:+.1} MB, target < {GROWTH_LIMIT_MB}), \
             peak in the call {:.1} MB (target <= {IN_CALL_LIMIT_MB})",
            s.name,
            mb(first[i].rss_kb),
            mb(last[i].rss_kb),
            growth,
            peak_mb
        );
        missed |= growth >= GROWTH_LIMIT_MB || peak_mb > IN_CALL_LIMIT_MB;
    }
    // exit() skips destructors: stop both stations first.
    drop((door, hall));
    if missed {
        std::process::exit(1);
    }
}
