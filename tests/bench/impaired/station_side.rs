//! Two stations, `doorway run` in each namespace, calling over the impaired wire.

use super::{common, last_seconds, score, stop, talk, wired_lan, Case, Figures, Speech};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

struct Side {
    child: Child,
    socket: PathBuf,
    tape: PathBuf,
}

fn start(lan: &common::netns::Lan, dir: &Path, n: u8, name: &str, peer: &str, speech: &Speech) -> Side {
    let id = name.to_lowercase();
    let (socket, tape) = (dir.join(format!("{id}.sock")), dir.join(format!("{id}-heard.raw")));
    let config = dir.join(format!("{id}.toml"));
    let peer_n = 3 - n;
    std::fs::write(
        &config,
        format!(
            "[station]\nname = \"{name}\"\nuser = \"{id}\"\nlisten = \"10.77.0.{n}:5060\"\ncontrol_socket = \"{}\"\n\
             state_dir = \"{}\"\n\n[web]\nenabled = false\n\n[discovery]\nannounce = false\nbrowse = false\n\n\
             [devices]\ntest_microphone_file = \"{}\"\ntest_speaker_file = \"{}\"\n\n\
             [[contact]]\nname = \"{peer}\"\nuri = \"sip:{}@10.77.0.{peer_n}:5060\"\nauto_answer = true\n",
            socket.display(),
            dir.join(&id).display(),
            speech.raw48.display(),
            tape.display(),
            peer.to_lowercase(),
        ),
    )
    .unwrap();
    let child = lan
        .command(n, env!("CARGO_BIN_EXE_doorway"))
        .args(["run", "--config"])
        .arg(&config)
        .env("DOORWAY_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("{id}.log"))).unwrap())
        .spawn()
        .expect("doorway run in a namespace");
    let started = Instant::now();
    while !socket.exists() {
        assert!(started.elapsed() < Duration::from_secs(30), "{name} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Side { child, socket, tape }
}

impl Side {
    fn status(&self) -> Value {
        common::status_json(self.socket.to_str().unwrap())
    }
}

/// A call between two stations under `case`: its figures, and the share of media the
/// wire lost.
pub fn call(case: &Case, speech: &Speech, python: &Path, seconds: u64, dir: &Path) -> (Figures, f64) {
    let dir = dir.join(format!("doorway-{}", case.name.replace([' ', '%', '/'], "-")));
    std::fs::create_dir_all(&dir).unwrap();
    let (lan, wire) = wired_lan(case);
    let door = start(&lan, &dir, 1, "Door", "Hall", speech);
    let hall = start(&lan, &dir, 2, "Hall", "Door", speech);
    let call = common::doorway_cli(&["call", "Hall", "--socket", door.socket.to_str().unwrap()]);
    assert!(call.status.success(), "{}", common::printed(&call));
    let deadline = Instant::now() + Duration::from_secs(30);
    let frames = |s: &Value| s["media"]["frames_decoded"].as_u64().unwrap_or(0);
    while !{
        let (d, h) = (door.status(), hall.status());
        d["call"]["state"] == "active" && frames(&d) > 10 && frames(&h) > 10
    } {
        assert!(
            Instant::now() < deadline,
            "{}: no call with pictures in 30 s",
            case.name
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let before = [door.status(), hall.status()];
    let from = doorway::base::clock::monotonic_ms();
    let bytes_before = wire.counts.media_bytes.load(std::sync::atomic::Ordering::Relaxed);
    let outage_ended = talk(case, &wire, seconds);
    let bytes = wire.counts.media_bytes.load(std::sync::atomic::Ordering::Relaxed) - bytes_before;
    let (to, to_at) = (doorway::base::clock::monotonic_ms(), Instant::now());
    let statuses = [door.status(), hall.status()];
    let lost = wire.counts.lost_share();
    let tapes = [door.tape.clone(), hall.tape.clone()];
    stop(door.child);
    stop(hall.child);
    drop((wire, lan));
    let mut figures = Figures {
        // Each station's: half of both ways.
        sent_kbps: bytes * 8 / seconds / 1000 / 2,
        ..Figures::default()
    };
    for tape in &tapes {
        let (pesq, silent) = score(python, speech, &last_seconds(tape, seconds), seconds);
        figures.pesq += pesq / 2.0;
        figures.silent += silent / 2.0;
    }
    // The picture's freezes within the window, on both screens.
    let outage_end_ms = outage_ended.map(|at| to - to_at.saturating_duration_since(at).as_millis() as u64);
    for status in &statuses {
        for freeze in status["probes"]["freezes"].as_array().into_iter().flatten() {
            let (start, end) = (freeze[0].as_u64().unwrap_or(0), freeze[1].as_u64().unwrap_or(0));
            if end < from || start > to {
                continue;
            }
            let length = end - start.max(from);
            figures.longest_freeze_ms = figures.longest_freeze_ms.max(length);
            figures.frozen_ms += length;
            if let Some(ended) = outage_end_ms.filter(|e| start <= *e && end >= *e) {
                let back = end - ended;
                figures.recovery_ms = Some(figures.recovery_ms.map_or(back, |b| b.max(back)));
            }
        }
    }
    // A freeze still going on when the window closed (a picture never recognised again).
    for status in &statuses {
        let last = status["probes"]["last_new_picture_ms"].as_u64().unwrap_or(0).max(from);
        let length = to.saturating_sub(last);
        if length > doorway::device::probe::FREEZE_MS {
            figures.longest_freeze_ms = figures.longest_freeze_ms.max(length);
            figures.frozen_ms += length;
        }
    }
    if outage_end_ms.is_some() && figures.recovery_ms.is_none() {
        figures.recovery_ms = Some(0);
    }
    figures.frozen_ms /= 2;
    // The mean PSNR of the pictures shown in the window, both screens.
    let reading = |s: &Value| {
        let p = &s["probes"];
        (
            p["psnr_sum_db"].as_f64().unwrap_or(0.0),
            p["psnr_frames"].as_u64().unwrap_or(0),
        )
    };
    let (mut sum, mut frames) = (0.0, 0);
    for (after, before) in statuses.iter().zip(&before) {
        let ((sum_after, frames_after), (sum_before, frames_before)) = (reading(after), reading(before));
        sum += sum_after - sum_before;
        frames += frames_after.saturating_sub(frames_before);
    }
    figures.psnr_db = (frames > 0).then(|| sum / frames as f64);
    (figures, lost)
}
