//! Power-on to "neighbour listed": how long after a station's process starts it lists a
//! station already running on the LAN, and that station lists it.
//!
//!     cargo bench --bench neighbours -- [--runs 20]
//!
//! Two hosts in network namespaces on a bridged LAN (tests/common/netns.rs; needs root).
//! Hall runs throughout; Door is started `--runs` times, with the state it kept from the
//! run before (as a station powered on again), and stopped with SIGTERM (it says goodbye
//! on the LAN). Prints p50, p95 and the slowest run both ways; exits 1 when Door's p95 is
//! not under 3 s (the target).

#[path = "../common/mod.rs"]
mod common;

use common::netns::Lan;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const TARGET: Duration = Duration::from_secs(3);

/// A station process on host `n`.
struct Process {
    child: Child,
    socket: PathBuf,
}

impl Process {
    fn start(lan: &Lan, dir: &Path, n: u8, name: &str) -> Process {
        let id = name.to_lowercase();
        let socket = dir.join(format!("{id}.sock"));
        let config = dir.join(format!("{id}.toml"));
        std::fs::write(
            &config,
            format!(
                "[station]\nname = \"{name}\"\nuser = \"{id}\"\nlisten = \"0.0.0.0:5060\"\ncontrol_socket = \"{}\"\n\
                 state_dir = \"{}\"\n\n[web]\nenabled = false\n",
                socket.display(),
                dir.join(&id).display(),
            ),
        )
        .unwrap();
        let _ = std::fs::remove_file(&socket);
        let child = lan
            .command(n, env!("CARGO_BIN_EXE_doorway"))
            .args(["run", "--config"])
            .arg(&config)
            .env("DOORWAY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("{id}.log"))).unwrap())
            .spawn()
            .expect("doorway run in a namespace");
        Process { child, socket }
    }

    /// Whether this station lists a station named `name`; false until it answers.
    fn lists(&self, name: &str) -> bool {
        if !self.socket.exists() {
            return false;
        }
        let status = common::status_json(self.socket.to_str().unwrap());
        status["neighbours"]
            .as_array()
            .is_some_and(|list| list.iter().any(|n| n["name"] == name))
    }

    /// SIGTERM, as systemd stops it: it says goodbye on the LAN.
    fn stop(mut self) {
        // SAFETY: a signal to our own child, which has not been waited for.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `p`th percentile (0 to 100) of sorted `values`.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[((sorted.len() - 1) * p).div_ceil(100)]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(20)
        .max(1);
    let dir = tempfile::tempdir().unwrap();
    let mut lan = Lan::new("bn");
    lan.add_host(1);
    lan.add_host(2);
    let hall = Process::start(&lan, dir.path(), 2, "Hall");
    let (mut door_lists, mut hall_lists) = (vec![], vec![]);
    println!("power-on to neighbour listed, {runs} runs (Door started, Hall running):");
    for run in 1..=runs {
        // Hall has forgotten the Door of the run before (its goodbye).
        let forgotten = Instant::now();
        while hall.lists("Door") {
            assert!(
                forgotten.elapsed() < Duration::from_secs(10),
                "Hall still lists the stopped Door"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let started = Instant::now();
        let door = Process::start(&lan, dir.path(), 1, "Door");
        let (mut door_at, mut hall_at) = (None, None);
        while door_at.is_none() || hall_at.is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "run {run}: not listed within 30 s"
            );
            if door_at.is_none() && door.lists("Hall") {
                door_at = Some(started.elapsed());
            }
            if hall_at.is_none() && hall.lists("Door") {
                hall_at = Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let (d, h) = (door_at.unwrap(), hall_at.unwrap());
        println!(
            "  run {run:>2}: Door lists Hall after {:.2} s, Hall lists Door after {:.2} s",
            d.as_secs_f64(),
            h.as_secs_f64()
        );
        door_lists.push(d);
        hall_lists.push(h);
        door.stop();
    }
    door_lists.sort();
    hall_lists.sort();
    for (what, values) in [("Door lists Hall", &door_lists), ("Hall lists Door", &hall_lists)] {
        println!(
            "{what}: p50 {:.2} s, p95 {:.2} s, slowest {:.2} s",
            percentile(values, 50).as_secs_f64(),
            percentile(values, 95).as_secs_f64(),
            values.last().unwrap().as_secs_f64()
        );
    }
    let p95 = percentile(&door_lists, 95);
    let met = p95 < TARGET;
    match met {
        true => println!("target met: p95 under {} s", TARGET.as_secs()),
        false => println!(
            "past the target: p95 {:.2} s, not under {} s",
            p95.as_secs_f64(),
            TARGET.as_secs()
        ),
    }
    // Hall and the LAN go before the exit code is given.
    drop(hall);
    drop(lan);
    std::process::exit(i32::from(!met));
}
