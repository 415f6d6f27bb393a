//! A station whose loop is stuck still answers: Hall runs as `doorway run` with a test
//! camera that hangs 30 s the first time it opens. Hall answers a call from Door and its
//! loop hangs in "starting media". Meanwhile `doorway status` says so within 10 s, a
//! stranger's OPTIONS gets its 200 and the web page's status loads and names the step.
//! Afterwards Hall goes on: the next call carries pictures.

use crate::common::stranger::Stranger;
use crate::common::web::Browser;
use crate::common::*;
use doorway::api::loopback::{contact, free_sip_port, loopback_config};
use std::process::Command;
use std::time::{Duration, Instant};

const STALL_SECS: u64 = 30;

/// Waits until the station behind `socket` rings.
async fn ringing_at(socket: &str) {
    for _ in 0..200 {
        if status_json(socket)["call"]["state"] == "incoming" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{socket} did not ring");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_loop_still_answers_status_options_and_the_web_page() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (free_sip_port(), free_sip_port());
    let socket = dir.path().join("hall.sock");
    let config = dir.path().join("hall.toml");
    std::fs::write(
        &config,
        format!(
            "[station]\nname = \"Hall\"\nuser = \"hall\"\nlisten = \"127.0.0.1:{pb}\"\ncontrol_socket = \"{}\"\n\
             state_dir = \"{}\"\n\n[[contact]]\nname = \"Door\"\nuri = \"sip:door@127.0.0.1:{pa}\"\n\n\
             [security]\ntls_port = {}\n\n[web]\nport = 0\nredirect_port = 0\nmdns = false\n\n\
             [devices]\ntest_camera_stall_secs = {STALL_SECS}\n",
            socket.display(),
            dir.path().display(),
            free_sip_port(),
        ),
    )
    .unwrap();
    let log = dir.path().join("hall.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_doorway"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env("DOORWAY_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let hall_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let s = socket.to_str().unwrap();
    let mut before = serde_json::Value::Null;
    for _ in 0..200 {
        before = status_json(s);
        if before["call"]["state"] == "idle" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(before["call"]["state"], "idle", "Hall did not start: {}", hall_log());

    // The owner sets the page's password while all is well.
    let web: std::net::SocketAddr = before["web"]
        .as_str()
        .and_then(|u| u.strip_prefix("https://"))
        .and_then(|a| a.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no web address in {before}"));
    let mut owner = Browser::new(web, before["security"]["fingerprint"].as_str().unwrap());
    let code = before["web_setup_code"].as_str().expect("a setup code").to_string();
    assert_eq!(owner.set_up(&code, "a long door password").await.status, 200);

    let door = Station::start(loopback_config("Door", pa, vec![contact("Hall", pb)])).await;
    door.handle.call("Hall").await.unwrap().unwrap();
    ringing_at(s).await;
    assert!(doorway_cli(&["answer", "--socket", s]).status.success());
    // The answer goes to the loop, which now hangs in the camera's open.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let asked = Instant::now();
    let out = doorway_cli(&["status", "--socket", s]);
    let took = asked.elapsed();
    println!("status during the stall, after {took:?}: {}", printed(&out));
    assert!(took < Duration::from_secs(10), "status took {took:?}");
    assert!(
        !out.status.success(),
        "a stuck loop cannot give a status: {}",
        printed(&out)
    );
    assert!(printed(&out).contains("starting media"), "{}", printed(&out));

    let stranger = Stranger::new(pb);
    stranger.send(
        stranger
            .request("OPTIONS", "sip:probe@127.0.0.1", "stuck-options", 1, None)
            .as_bytes(),
    );
    let answer = stranger.final_status(Duration::from_secs(2));
    assert!(
        answer.as_deref().is_some_and(|a| a.starts_with("SIP/2.0 200")),
        "OPTIONS during the stall: {answer:?}"
    );

    let page = owner.request("GET", "/api/status", None).await;
    assert_eq!(page.status, 200, "{}", page.text());
    let stuck = page.json()["stuck"].as_str().unwrap_or_default().to_string();
    assert!(stuck.contains("starting media"), "the page's status: {}", page.text());
    let stalled_at = Instant::now();

    // Afterwards the station goes on: its status comes back and the next call works.
    let mut after = serde_json::Value::Null;
    while stalled_at.elapsed() < Duration::from_secs(STALL_SECS + 30) {
        after = status_json(s);
        if after["call"]["state"] == "idle" {
            break;
        }
        if after["call"]["state"] == "active" {
            door.send(doorway::station::Command::Hangup);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(after["call"]["state"], "idle", "Hall did not come back: {}", hall_log());
    assert!(hall_log().contains("the station's loop is stuck"), "{}", hall_log());
    door.wait(10, idle).await;
    door.handle.call("Hall").await.unwrap().unwrap();
    ringing_at(s).await;
    assert!(doorway_cli(&["answer", "--socket", s]).status.success());
    let st = door.wait(15, |st| active(st) && seen(st) >= 30).await;
    assert!(
        seen(&st) >= 30,
        "the call after the stall carried no pictures: {}",
        hall_log()
    );
    door.send(doorway::station::Command::Hangup);
    door.wait(5, idle).await;

    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    door.stop().await;
}
