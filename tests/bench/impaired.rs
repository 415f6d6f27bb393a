//! A call over a bad Wi-Fi, against baresip over the same one.
//!
//!     cargo bench --bench impaired -- [--seconds 24] [--only NAME]
//!
//! Two hosts in network namespaces joined by a wire a program impairs
//! (tests/common/impair.rs; needs root): the media loses, waits, overtakes and queues
//! as each condition says, while signalling passes untouched. In each condition two
//! stations call each other, each microphone playing the same speech (espeak-ng), each
//! speaker written to a tape in real time (silence where it ran dry); then two baresip
//! instances do the same, with their defaults (Opus, their jitter buffer, their loss
//! concealment) and the same speech, their decoded sound dumped by their sndfile module
//! (before their jitter buffer: its underruns are not counted against them).
//!
//! Sound is scored with wideband PESQ (ITU-T P.862.2, tests/tools/score_speech.py) and
//! the share of 20 ms windows of speech that arrive silent; pictures (the stations only)
//! by their longest freeze, total frozen time and, after the outage, the time to the
//! next new picture. One table, condition by condition; exits 1 when the station's
//! speech scores under baresip's in a lossy condition.
//!
//! Debian packages: espeak-ng, sox, python3-numpy, python3-venv, python3-dev, cython3
//! (scripts/install-deps); `pesq` from PyPI into target/pesq-venv on the first run.

#[path = "../common/mod.rs"]
mod common;

use common::impair::{Burst, Condition, Wire};
use common::netns::Lan;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One condition of the table.
struct Case {
    name: &'static str,
    condition: Condition,
    /// A 1 s outage halfway through.
    outage: bool,
    /// A loss the sound must hold up against as well as baresip's does.
    lossy: bool,
}

fn cases() -> Vec<Case> {
    let case = |name, condition, outage, lossy| Case {
        name,
        condition,
        outage,
        lossy,
    };
    let loss = |p| Condition {
        loss: p,
        ..Condition::default()
    };
    vec![
        case("clean", Condition::default(), false, false),
        case("1% loss", loss(0.01), false, true),
        case("5% loss", loss(0.05), false, true),
        case("10% loss", loss(0.10), false, true),
        case(
            "burst loss",
            Condition {
                // Mean bursts of 4 packets, bad 7% of the time: about 5% lost.
                burst: Some(Burst {
                    to_bad: 0.02,
                    to_good: 0.25,
                    loss_when_bad: 0.7,
                }),
                ..Condition::default()
            },
            false,
            true,
        ),
        case(
            "30 ms jitter",
            Condition {
                jitter_ms: 30,
                ..Condition::default()
            },
            false,
            false,
        ),
        case(
            "80 ms jitter",
            Condition {
                jitter_ms: 80,
                ..Condition::default()
            },
            false,
            false,
        ),
        case(
            "5% + 30 ms",
            Condition {
                loss: 0.05,
                jitter_ms: 30,
                ..Condition::default()
            },
            false,
            true,
        ),
        case("1 s outage", Condition::default(), true, false),
        case(
            "1 Mbit/s",
            Condition {
                rate_kbps: Some(1000),
                ..Condition::default()
            },
            false,
            false,
        ),
        // Under what the stations send with the test camera's mostly still picture
        // (about 230 kbit/s each): the link's queue overflows until they back off.
        case(
            "150 kbit/s",
            Condition {
                rate_kbps: Some(150),
                ..Condition::default()
            },
            false,
            false,
        ),
    ]
}

/// The speech both ends say: 48 kHz for the microphones (raw and WAV), 16 kHz for the
/// scorer.
struct Speech {
    raw48: PathBuf,
    wav48: PathBuf,
    raw16: PathBuf,
}

const WORDS: &str = "Hello, it is the postman. I have a parcel for number twelve. \
    Could you come down and sign for it, please? It is raining quite hard, \
    so I will wait under the porch. Thank you, and have a nice afternoon.";

fn run(command: &mut Command) {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn speech(dir: &Path) -> Speech {
    common::requires::program("espeak-ng", "espeak-ng");
    common::requires::program("sox", "sox");
    let spoken = dir.join("spoken.wav");
    run(Command::new("espeak-ng")
        .args(["-s", "150", "-w"])
        .arg(&spoken)
        .arg(WORDS));
    let s = Speech {
        raw48: dir.join("speech48.raw"),
        wav48: dir.join("speech48.wav"),
        raw16: dir.join("speech16.raw"),
    };
    let raw = ["-t", "raw", "-e", "signed", "-b", "16", "-c", "1"];
    // About -20 dBFS, as a voice a metre from the microphone.
    for (rate, out) in [("48000", &s.raw48), ("16000", &s.raw16)] {
        run(Command::new("sox")
            .arg(&spoken)
            .args(["-r", rate])
            .args(raw)
            .arg(out)
            .args(["norm", "-6"]));
    }
    // baresip's file source stops at the end: ten times over is longer than any call.
    let mut repeated = Command::new("sox");
    for _ in 0..10 {
        repeated.args(["-r", "48000"]).args(raw).arg(&s.raw48);
    }
    run(repeated.arg("-b").arg("16").arg(&s.wav48));
    s
}

/// The scorer's Python, with `pesq` installed on first use.
fn scorer() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pesq-venv");
    let python = venv.join("bin/python");
    let has_pesq = |p: &Path| {
        Command::new(p)
            .args(["-c", "import pesq, numpy"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has_pesq(&python) {
        // Debian's Python, with its numpy: the venv builds pesq against them.
        run(Command::new("/usr/bin/python3")
            .args(["-m", "venv", "--system-site-packages"])
            .arg(&venv));
        run(Command::new(venv.join("bin/pip")).args(["install", "-q", "--no-build-isolation", "pesq==0.0.4"]));
    }
    python
}

/// PESQ-WB and the share of silent speech windows of `received` (48 kHz raw).
fn score(python: &Path, speech: &Speech, received: &Path, seconds: u64) -> (f64, f64) {
    let received16 = received.with_extension("16k.raw");
    let raw = ["-t", "raw", "-e", "signed", "-b", "16", "-c", "1"];
    run(Command::new("sox")
        .args(["-r", "48000"])
        .args(raw)
        .arg(received)
        .args(["-r", "16000"])
        .args(raw)
        .arg(&received16));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tools/score_speech.py");
    let out = Command::new(python)
        .arg(script)
        .arg(&speech.raw16)
        .arg(&received16)
        .args(["--skip", "0", "--seconds", &seconds.to_string()])
        .output()
        .expect("the scorer runs");
    let result: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("the scorer said: {}", String::from_utf8_lossy(&out.stderr)));
    (
        result["pesq"].as_f64().unwrap(),
        result["silent_share"].as_f64().unwrap(),
    )
}

/// Figures of one call in one condition.
#[derive(Default)]
struct Figures {
    pesq: f64,
    silent: f64,
    longest_freeze_ms: u64,
    frozen_ms: u64,
    /// After the outage: its end to the next new picture.
    recovery_ms: Option<u64>,
    /// What one side sent, in kbit/s (IP and UDP headers included).
    sent_kbps: u64,
    /// The pictures' fidelity: their colour bars' mean PSNR in dB, both screens.
    psnr_db: Option<f64>,
}

#[path = "impaired/baresip_side.rs"]
mod baresip_side;
#[path = "impaired/station_side.rs"]
mod station_side;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let seconds: u64 = value("--seconds").and_then(|s| s.parse().ok()).unwrap_or(24);
    let only = value("--only");
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("impaired: needs root (network namespaces and TAP devices)");
        std::process::exit(2);
    }
    let dir = tempfile::tempdir().unwrap();
    let speech = speech(dir.path());
    let python = scorer();
    println!("speech through a call: {seconds} s measured per call, both directions scored; PESQ-WB (1 to 4.64)");
    println!(
        "{:<13} | {:>6} {:>6} {:>6} | {:>7} {:>7} {:>6} {:>5} {:>6} | {:>6} {:>6} {:>6} | {:>6}",
        "condition",
        "PESQ",
        "silent",
        "lost",
        "freeze",
        "frozen",
        "back",
        "PSNR",
        "kbit/s",
        "baresip",
        "silent",
        "lost",
        "ratio"
    );
    let mut failed = Vec::new();
    for case in cases() {
        if only.as_deref().is_some_and(|o| !case.name.contains(o)) {
            continue;
        }
        let ours = station_side::call(&case, &speech, &python, seconds, dir.path());
        let theirs = baresip_side::call(&case, &speech, &python, seconds, dir.path());
        let ratio = ours.0.pesq / theirs.0.pesq.max(1.0);
        println!(
            "{:<13} | {:>6.2} {:>5.1}% {:>5.1}% | {:>5} ms {:>4} ms {:>6} {:>5} {:>6} | {:>6.2} {:>5.1}% {:>5.1}% | {:>6.2}",
            case.name,
            ours.0.pesq,
            ours.0.silent * 100.0,
            ours.1 * 100.0,
            ours.0.longest_freeze_ms,
            ours.0.frozen_ms,
            ours.0.recovery_ms.map_or("-".into(), |ms| format!("{ms} ms")),
            ours.0.psnr_db.map_or("-".into(), |db| format!("{db:.1}")),
            ours.0.sent_kbps,
            theirs.0.pesq,
            theirs.0.silent * 100.0,
            theirs.1 * 100.0,
            ratio,
        );
        if case.lossy && ours.0.pesq < theirs.0.pesq {
            failed.push(case.name);
        }
    }
    println!("(lost: media packets the wire lost; freeze: the longest time the picture stood still; back: outage end to the next new picture; PSNR: the pictures' colour bars against the camera's, mean dB; kbit/s: what one station sent)");
    if !failed.is_empty() {
        println!("the station's speech scored under baresip's in: {}", failed.join(", "));
        std::process::exit(1);
    }
}

/// A fresh LAN of two hosts joined by an impaired wire.
fn wired_lan(case: &Case) -> (Lan, Wire) {
    let mut lan = Lan::new("imp");
    let (a, b) = (lan.add_tap_host(1), lan.add_tap_host(2));
    // The stations' call and baresip's meet the same draws: a condition's seed is its
    // name's.
    let seed = case
        .name
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let wire = Wire::seeded(a, b, case.condition, seed);
    (lan, wire)
}

/// Waits `seconds`, with the 1 s outage halfway when the case has one; returns when
/// the outage ended.
fn talk(case: &Case, wire: &Wire, seconds: u64) -> Option<Instant> {
    if !case.outage {
        std::thread::sleep(Duration::from_secs(seconds));
        return None;
    }
    std::thread::sleep(Duration::from_secs(seconds / 2));
    wire.outage(Duration::from_secs(1));
    let ended = Instant::now() + Duration::from_secs(1);
    std::thread::sleep(Duration::from_secs(seconds - seconds / 2));
    Some(ended)
}

/// The last `seconds` of a raw 48 kHz recording, less its last 300 ms (the call
/// ending), on a file of its own.
fn last_seconds(recording: &Path, seconds: u64) -> PathBuf {
    let bytes = std::fs::read(recording).unwrap_or_default();
    let (keep, tail) = (seconds as usize * 96_000, 300 * 96);
    let end = bytes.len().saturating_sub(tail) & !1;
    let cut = recording.with_extension("cut.raw");
    std::fs::write(&cut, &bytes[end.saturating_sub(keep)..end]).unwrap();
    cut
}

/// Kills a child and waits for it.
fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}
