//! Power can go at any moment: Door runs as `doorway run` while Hall writes to it as fast
//! as Door acknowledges, and Door is killed with SIGKILL at a random moment, 200 times.
//! After each restart Door's messages file parses and holds every message Door
//! acknowledged (a 200 to Hall's MESSAGE) before it was killed.

use crate::common::*;
use doorway::api::loopback::{contact, free_sip_port, loopback_config};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const POWER_CUTS: usize = 200;

/// Starts Door and waits until its control socket answers.
async fn start_door(config: &Path, socket: &Path) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_doorway"))
        .args(["run", "--config"])
        .arg(config)
        .env("DOORWAY_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..400 {
        if status_json(socket.to_str().unwrap()).is_object() {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("Door did not start");
}

/// The texts in Door's messages file; the file must parse whenever it is there.
fn kept_texts(state: &Path) -> Vec<String> {
    let Ok(bytes) = std::fs::read(state.join("messages.json")) else {
        return vec![];
    };
    let list: serde_json::Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("messages.json does not parse after a power cut: {e}"));
    list.as_array()
        .expect("a list of messages")
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_two_hundred_power_cuts() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (free_sip_port(), free_sip_port());
    let (config, socket) = door_process_config(dir.path(), pa, pb);
    let hall = Station::start(loopback_config("Hall", pb, vec![contact("Door", pa)])).await;
    // A small generator of its own: the kill times differ from run to run, and the
    // seed is printed to repeat one.
    let mut seed = std::process::id() as u64 * 0x9e37_79b9 + 1;
    eprintln!("power cut seed {seed}");
    let mut next = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let (mut acknowledged_total, mut written) = (0usize, 0usize);
    for cut in 0..POWER_CUTS {
        let mut door = start_door(&config, &socket).await;
        let pid = door.id() as i32;
        let at = Duration::from_millis(5 + next(120));
        let killer = tokio::spawn(async move {
            tokio::time::sleep(at).await;
            // SAFETY: a signal to our own child, which has not been waited for yet.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        });
        let mut acknowledged = Vec::new();
        // Fewer than the file keeps (20), so every acknowledged one must be in it.
        while !killer.is_finished() && acknowledged.len() < 10 {
            let text = format!("cut {cut} message {written}");
            written += 1;
            let sent = tokio::time::timeout(Duration::from_millis(500), hall.send_text("Door", &text)).await;
            if matches!(sent, Ok(Ok(()))) {
                acknowledged.push(text);
            }
        }
        let _ = killer.await;
        door.wait().unwrap();
        // What a restart reads: whole, and with everything that was acknowledged.
        let kept = kept_texts(dir.path());
        for text in &acknowledged {
            assert!(
                kept.contains(text),
                "cut {cut}: {text:?} was acknowledged and lost; kept {kept:?}"
            );
        }
        acknowledged_total += acknowledged.len();
    }
    eprintln!("{POWER_CUTS} power cuts, {written} messages written, {acknowledged_total} acknowledged, none lost");
    assert!(
        acknowledged_total > POWER_CUTS,
        "too few messages acknowledged to tell: {acknowledged_total}"
    );
    hall.stop().await;
}
