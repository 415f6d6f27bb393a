//! A flood from a stranger during a call: while Door and Hall talk, a third process
//! (tests/tools/sip_flood.rs) sends hundreds of INVITEs from unknown callers, OPTIONS and
//! garbage datagrams a second at Hall. The call's pictures keep coming, strangers get
//! 403, OPTIONS stays answered quickly, and Hall's memory comes back down afterwards.

mod common;

use common::stranger::Stranger;
use common::*;
use doorway::station::Command;
use std::time::{Duration, Instant};

const FLOOD_SECS: u64 = 20;
const FLOOD_RATE: u64 = 300;

/// Resident memory of process `pid` in kB.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// The SIP state a station process holds, from `doorway status --json`.
fn sip_state(config: &std::path::Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_doorway"))
        .args(["status", "--json", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    status["sip"].to_string()
}

/// Sends OPTIONS to the station and returns how long the 200 took.
fn options_round_trip(probe: &Stranger, n: u32) -> Option<Duration> {
    let request = probe.request("OPTIONS", "sip:probe@127.0.0.1", &format!("probe-{n}"), 1, None);
    let started = Instant::now();
    probe.send(request.as_bytes());
    let status = probe.final_status(Duration::from_secs(1))?;
    status.starts_with("SIP/2.0 200").then(|| started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_during_a_call_leaves_the_call_and_the_memory_alone() {
    let _serial = SERIAL.lock().await;
    let (pa, pb) = (
        doorway::api::loopback::free_sip_port(),
        doorway::api::loopback::free_sip_port(),
    );
    let hall = HallProcess::start(pa, pb).await;
    let config = hall.config.clone();
    let door = Station::start(doorway::api::loopback::loopback_config(
        "Door",
        pa,
        vec![doorway::api::loopback::contact("Hall", pb)],
    ))
    .await;
    door.handle.call("Hall").await.unwrap().unwrap();
    let s = door.wait(15, |s| active(s) && decoded(s) > 30).await;
    assert!(active(&s), "{:?}", s.last_message);
    // Let the call settle before the reference reading.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_before = rss_kb(hall.child.id());
    let decoded_before = decoded(&door.status().await);

    let flood_bin = std::path::Path::new(env!("CARGO_BIN_EXE_doorway"))
        .parent()
        .unwrap()
        .join("examples/sip-flood");
    let flood = std::process::Command::new(&flood_bin)
        .args([
            format!("127.0.0.1:{pb}"),
            FLOOD_SECS.to_string(),
            FLOOD_RATE.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (cargo test builds it)", flood_bin.display()));

    // Meanwhile: OPTIONS round trips from someone else, and the call's pictures.
    let probe = Stranger::new(pb);
    let mut round_trips = Vec::new();
    let mut unanswered = 0;
    let mut decoded_seen = vec![decoded_before];
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(FLOOD_SECS) {
        match options_round_trip(&probe, n) {
            Some(t) => round_trips.push(t),
            None => unanswered += 1,
        }
        n += 1;
        if n % 5 == 0 {
            decoded_seen.push(decoded(&door.status().await));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let report = flood.wait_with_output().unwrap();
    let flood_line = String::from_utf8_lossy(&report.stdout).trim().to_string();
    let rss_during = rss_kb(hall.child.id());
    let sip_during = sip_state(&config);
    let s = door.status().await;
    assert!(active(&s), "the call ended: {:?}", s.last_message);

    // Memory: the flood's transactions expire (Timer H, 32 s), then the figure returns.
    let mut rss_after = rss_kb(hall.child.id());
    let deadline = Instant::now() + Duration::from_secs(45);
    while rss_after as f64 > rss_before as f64 * 1.10 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_after = rss_kb(hall.child.id());
    }
    round_trips.sort();
    let p95 = round_trips
        .get(round_trips.len() * 95 / 100)
        .copied()
        .unwrap_or_default();
    let worst = round_trips.last().copied().unwrap_or_default();
    println!(
        "flood: {flood_line}\nOPTIONS: {} answered, {unanswered} unanswered, p95 {p95:?}, worst {worst:?}\n\
         frames decoded at Door every second: {decoded_seen:?}\n\
         Hall RSS: before {rss_before} kB, during {rss_during} kB, after {rss_after} kB\n\
         Hall SIP state: after the flood {sip_during}, at the end {}",
        round_trips.len(),
        sip_state(&config)
    );
    assert!(flood_line.contains("got 403"), "{flood_line}");
    let forbidden: u64 = flood_line
        .split("got 403 ")
        .nth(1)
        .and_then(|r| r.split(',').next()?.trim().parse().ok())
        .unwrap_or(0);
    assert!(forbidden * 10 >= FLOOD_SECS * FLOOD_RATE / 3 * 9, "{flood_line}");
    assert_eq!(unanswered, 0, "OPTIONS went unanswered during the flood");
    assert!(p95 <= Duration::from_millis(100), "OPTIONS p95 {p95:?}");
    // Pictures kept arriving through every second of the flood.
    assert!(
        decoded_seen.windows(2).all(|w| w[1] > w[0]),
        "the picture stalled: {decoded_seen:?}"
    );
    assert!(
        rss_after as f64 <= rss_before as f64 * 1.10,
        "RSS {rss_before} kB before, {rss_after} kB after"
    );
    door.send(Command::Hangup);
    door.wait(5, idle).await;
    door.stop().await;
}
