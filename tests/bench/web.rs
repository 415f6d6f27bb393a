//! The web page's benchmark: answering the door from a real browser (headless Chromium
//! through chromedriver, as in tests/services/web_browser.rs).
//!
//!     cargo bench --bench web -- [--rounds 10] [--seconds 20]
//!
//! Prints the time from the Answer click to the first picture shown in the browser
//! (p50 and p95 over the rounds; target: p95 under 1 s on loopback), and the CPU the
//! stations' process spends per call-minute with the call answered from the browser,
//! beside the same call answered at the station (measured in the same run).

#[path = "../common/chrome.rs"]
#[allow(dead_code)]
mod chrome;

use doorway::api::loopback::{self as demo, wait_for};
use doorway::call::machine::State;
use doorway::station::{self, Command, StationHandle, Status};
use std::time::Duration;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

async fn wait(handle: &StationHandle, pred: impl Fn(&Status) -> bool) {
    wait_for(handle, Duration::from_secs(20), pred)
        .await
        .expect("the station runs");
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    if !chrome::available() {
        eprintln!("needs chromium and chromium-driver (scripts/install-deps)");
        std::process::exit(2);
    }
    let rounds = arg("--rounds", 10).max(1);
    let seconds = arg("--seconds", 20).max(5);
    let (pd, ph) = (demo::free_sip_port(), demo::free_sip_port());
    let (door, _td) = station::start(demo::loopback_config("Door", pd, vec![demo::contact("Hall", ph)]))
        .await
        .unwrap();
    let (hall, _th) = station::start(demo::loopback_config("Hall", ph, vec![demo::contact("Door", pd)]))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let browser = chrome::Chrome::start(&chrome::fakes(dir.path(), "Browser", 880.0, 412, 915)).await;
    let status = door.status().await.unwrap();
    let url = status.web.clone().unwrap();
    browser.goto(&format!("{url}/")).await;
    browser
        .wait_for("!document.querySelector('#setup').hidden", 10)
        .await
        .unwrap();
    browser
        .type_into("#setup input[name=code]", &status.web_setup_code.clone().unwrap())
        .await;
    browser.type_into("#setup input[name=password]", "bench password").await;
    browser.type_into("#setup input[name=again]", "bench password").await;
    browser.click("#setup button").await;
    browser.wait_for("location.pathname === '/'", 10).await.unwrap();

    let ringing = |s: &Status| matches!(s.call, State::Incoming { .. });
    let active = |s: &Status| matches!(s.call, State::Active { .. });
    let idle = |s: &Status| s.call == State::Idle;
    let mut first_frame_ms = vec![];
    for round in 0..rounds {
        hall.call("Door").await.unwrap().unwrap();
        wait(&door, ringing).await;
        browser.goto(&format!("{url}/")).await;
        browser
            .wait_for("!document.querySelector('#ring-answer').hidden", 10)
            .await
            .unwrap();
        browser
            .run(
                "sessionStorage.clicked = String(Date.now()); document.querySelector('#ring-answer').click(); return true;",
                vec![],
            )
            .await;
        let mut shown = None;
        for _ in 0..100 {
            let v = browser
                .run(
                    "const v = document.querySelector('#live-video');
                     if (!v || !v.dataset.firstFrame) return null;
                     return Number(v.dataset.firstFrame) - Number(sessionStorage.clicked);",
                    vec![],
                )
                .await;
            if let Some(ms) = v.as_f64() {
                shown = Some(ms);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let shown = shown.unwrap_or_else(|| panic!("round {round}: no picture in the browser"));
        first_frame_ms.push(shown);
        wait(&door, active).await;
        hall.send(Command::Hangup).unwrap();
        wait(&door, idle).await;
        wait(&hall, idle).await;
    }

    // CPU per call-minute: the call answered from the browser, then at the station.
    hall.call("Door").await.unwrap().unwrap();
    wait(&door, ringing).await;
    browser.goto(&format!("{url}/")).await;
    browser
        .wait_for("!document.querySelector('#ring-answer').hidden", 10)
        .await
        .unwrap();
    browser
        .run("document.querySelector('#ring-answer').click(); return true;", vec![])
        .await;
    wait(&door, |s| {
        active(s) && s.web_answer.as_ref().is_some_and(|w| w.frames_sent > 30)
    })
    .await;
    let before = cpu_seconds();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let from_web = (cpu_seconds() - before) * 60.0 / seconds as f64;
    hall.send(Command::Hangup).unwrap();
    wait(&door, idle).await;
    browser.goto(&format!("{url}/")).await;
    hall.call("Door").await.unwrap().unwrap();
    wait(&door, ringing).await;
    door.send(Command::Answer).unwrap();
    wait(&door, active).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = cpu_seconds();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let at_station = (cpu_seconds() - before) * 60.0 / seconds as f64;
    hall.send(Command::Hangup).unwrap();
    wait(&door, idle).await;

    let p50 = percentile(first_frame_ms.clone(), 0.5);
    let p95 = percentile(first_frame_ms.clone(), 0.95);
    println!("answer click to first picture in the browser, {rounds} rounds (loopback):");
    println!("  p50 {p50:.0} ms   p95 {p95:.0} ms   (target: p95 under 1000 ms)");
    println!(
        "  each: {:?}",
        first_frame_ms.iter().map(|v| *v as i64).collect::<Vec<_>>()
    );
    println!("CPU of the stations' process (Door and Hall) per call-minute, {seconds} s each:");
    println!("  answered at the station      {at_station:.1} s");
    println!(
        "  answered from the browser    {from_web:.1} s   (Door serves the browser: +{:.1} s)",
        from_web - at_station
    );
    println!("  (the browser itself is another process and not counted)");
    if p95 >= 1000.0 {
        std::process::exit(1);
    }
}
