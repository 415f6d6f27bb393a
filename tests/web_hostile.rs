//! The web page under attack from the LAN and from a logged-in person: floods of
//! password guesses, bodies sent a byte at a time, settings that reach outside the
//! station, streams that outlive their session. Each test failed before its fix.
//! (Strangers' addresses are loopback addresses: 127.0.0.0/8 is all this machine.)

mod common;

use common::web::Browser;
use common::Station;
use doorway::api::loopback as demo;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

const PASSWORD: &str = "the owner's password";

fn web_addr(status: &doorway::station::Status) -> SocketAddr {
    let url = status.web.as_deref().expect("the web page runs");
    url.trim_start_matches("https://").parse().expect("an address")
}

async fn browser_from(station: &Station, from: [u8; 4]) -> Browser {
    let status = station.status().await;
    let mut b = Browser::new(web_addr(&status), &status.security.fingerprint);
    b.from = Some(IpAddr::from(from));
    b
}

/// A station whose page has its password, and the owner's browser.
async fn station_with_password() -> (Station, Browser) {
    let station = Station::start(demo::loopback_config("Door", demo::free_sip_port(), vec![])).await;
    let mut owner = browser_from(&station, [127, 0, 0, 1]).await;
    let code = station.status().await.web_setup_code.expect("a setup code");
    assert_eq!(owner.set_up(&code, PASSWORD).await.status, 200);
    (station, owner)
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    kb / 1024.0
}

/// Strangers on `addresses` send setup and login requests as fast as they can, over
/// `connections` connections each, for `secs`; the answers by status code.
async fn flood(station: &Station, addresses: &[[u8; 4]], connections: usize, secs: u64) -> Vec<u16> {
    let until = Instant::now() + Duration::from_secs(secs);
    let mut tasks = vec![];
    for (i, from) in addresses.iter().enumerate() {
        for c in 0..connections {
            let mut b = browser_from(station, *from).await;
            let setup = (i + c) % 2 == 0;
            tasks.push(tokio::spawn(async move {
                let mut answers = vec![];
                while Instant::now() < until {
                    let (path, body) = if setup {
                        (
                            "/api/setup",
                            serde_json::json!({ "code": "1234-5678", "password": "abcdefgh1" }),
                        )
                    } else {
                        ("/api/login", serde_json::json!({ "password": "guess guess" }))
                    };
                    match b.try_request("POST", path, Some(body), &[]).await {
                        Ok(r) => answers.push(r.status),
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
                answers
            }));
        }
    }
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_guesses_costs_no_memory_and_the_owner_still_gets_in() {
    let _serial = common::SERIAL.lock().await;
    let (station, _) = station_with_password().await;
    let before = rss_mb();
    let answers = flood(&station, &[[127, 0, 0, 2], [127, 0, 0, 3]], 16, 5).await;
    let grown = rss_mb() - before;
    let hashed = answers.iter().filter(|s| **s == 401).count();
    println!(
        "{} requests: {hashed} checked (401), {} refused (409/429/503); RSS grew {grown:.1} MB",
        answers.len(),
        answers.len() - hashed
    );
    assert!(
        hashed <= 2 * doorway::web::auth::GUESSES_PER_ADDRESS,
        "only the guesses within the limit are checked: {hashed}"
    );
    assert!(grown < 50.0, "RSS grew {grown:.1} MB");
    let mut owner = browser_from(&station, [127, 0, 0, 9]).await;
    let started = Instant::now();
    assert_eq!(owner.log_in(PASSWORD).await.status, 200);
    println!(
        "the owner logged in after the flood in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    station.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_sent_together_are_counted_before_their_hashes() {
    let _serial = common::SERIAL.lock().await;
    let (station, _) = station_with_password().await;
    let mut tasks = vec![];
    for _ in 0..16 {
        let mut b = browser_from(&station, [127, 0, 0, 4]).await;
        tasks.push(tokio::spawn(async move { b.log_in("not the password").await.status }));
    }
    let mut answers = vec![];
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let checked = answers.iter().filter(|s| **s == 401).count();
    assert!(
        checked <= doorway::web::auth::GUESSES_PER_ADDRESS,
        "{checked} of 16 checked: {answers:?}"
    );
    assert!(answers.iter().all(|s| [401, 429, 503].contains(s)), "{answers:?}");
    station.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_cannot_lock_out_the_person_at_the_station() {
    let _serial = common::SERIAL.lock().await;
    let station = Station::start(demo::loopback_config("Door", demo::free_sip_port(), vec![])).await;
    let code = station.status().await.web_setup_code.unwrap();
    // Wrong codes from many addresses, past the limit for all of them together.
    for i in 0..doorway::web::auth::GUESSES_IN_ALL {
        let mut b = browser_from(&station, [127, 0, 1, i as u8 + 1]).await;
        assert_eq!(b.set_up("0000-0000", "a stranger's password").await.status, 401);
    }
    let mut owner = browser_from(&station, [127, 0, 0, 5]).await;
    let locked = owner.set_up(&code, PASSWORD).await;
    assert_eq!(locked.status, 429);
    assert_eq!(locked.json()["code_from_screen"], true, "{}", locked.text());
    // The screen now shows the unlock code, and it lets the owner in.
    let status = station.status().await;
    let unlock = status.web_unlock_code.expect("an unlock code for the screen");
    assert_eq!(owner.set_up(&unlock, PASSWORD).await.status, 200);
    let shown = owner.request("GET", "/api/status", None).await.json();
    assert!(shown["status"]["web_unlock_code"].is_null(), "the page never shows it");
    station.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_sent_a_byte_at_a_time_do_not_lock_everyone_out() {
    let _serial = common::SERIAL.lock().await;
    let (station, _) = station_with_password().await;
    // 4 addresses, 16 connections each: every place taken by a slow body.
    let mut slow = vec![];
    for i in 0..4u8 {
        let b = browser_from(&station, [127, 0, 2, i + 1]).await;
        for _ in 0..doorway::web::listen::MAX_PER_ADDRESS {
            let mut stream = b.connect().await.unwrap();
            let head = "POST /api/login HTTP/1.1\r\nHost: doorway.local\r\nContent-Type: application/json\r\n\
                        Content-Length: 100000\r\n\r\n{";
            stream.write_all(head.as_bytes()).await.unwrap();
            stream.flush().await.unwrap();
            slow.push(stream);
        }
    }
    let dripping = tokio::spawn(async move {
        let started = Instant::now();
        let mut open = slow;
        // A byte every 2 s, for as long as the station keeps each one.
        while !open.is_empty() && started.elapsed() < Duration::from_secs(40) {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let mut still = vec![];
            for mut s in open {
                if s.write_all(b" ").await.is_ok() && s.flush().await.is_ok() {
                    still.push(s);
                }
            }
            open = still;
        }
        (open.len(), started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut owner = browser_from(&station, [127, 0, 0, 6]).await;
    let started = Instant::now();
    assert_eq!(owner.log_in(PASSWORD).await.status, 200);
    let took = started.elapsed().as_secs_f64();
    println!("the owner logged in in {took:.2} s with every place held by a slow body");
    assert!(took < 2.0, "{took:.2} s");
    // Each slow request is cut off at the request time limit.
    let (left, after) = dripping.await.unwrap();
    assert_eq!(left, 0, "{left} slow bodies still open after {after:?}");
    station.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_ends_with_its_session() {
    use http_body_util::BodyExt;
    let _serial = common::SERIAL.lock().await;
    let (station, mut owner) = station_with_password().await;
    let stream = owner.connect().await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get("/api/events")
        .header("host", "doorway.local")
        .header("cookie", owner.cookie.clone().unwrap())
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .unwrap();
    let mut events = sender.send_request(request).await.unwrap().into_body();
    let first = events.frame().await.unwrap().unwrap();
    assert!(first.data_ref().is_some_and(|d| d.starts_with(b"data: {")));
    assert_eq!(owner.request("POST", "/api/logout", None).await.status, 204);
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match events.frame().await {
                None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream went on after logout");
    station.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_needs_the_old_one_and_ends_every_other_session() {
    let _serial = common::SERIAL.lock().await;
    let (station, mut owner) = station_with_password().await;
    let mut other = browser_from(&station, [127, 0, 0, 7]).await;
    assert_eq!(other.log_in(PASSWORD).await.status, 200);
    let change = |current: &str| serde_json::json!({ "current": current, "new": "a brand new password" });
    let r = owner.request("POST", "/api/password", Some(change("wrong"))).await;
    assert_eq!(r.status, 403);
    let r = owner.request("POST", "/api/password", Some(change(PASSWORD))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    owner.csrf = r.json()["csrf"].as_str().unwrap().to_string();
    assert_eq!(owner.request("GET", "/api/status", None).await.status, 200);
    assert_eq!(other.request("GET", "/api/status", None).await.status, 401);
    assert_eq!(other.log_in(PASSWORD).await.status, 401);
    assert_eq!(other.log_in("a brand new password").await.status, 200);
    station.stop().await;
}

/// A station run from a config file in its own directory, with a state directory of
/// its own, and the owner logged in.
async fn station_with_file() -> (tempfile::TempDir, std::path::PathBuf, Station, Browser) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("etc/doorway.toml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let mut config = demo::loopback_config("Door", demo::free_sip_port(), vec![]);
    config.station.ephemeral_state = false;
    config.station.state_dir = Some(dir.path().join("state"));
    config.station.control_socket = Some(dir.path().join("doorway.sock"));
    config.mqtt.user = Some("door".into());
    config.mqtt.password = Some("broker secret".into());
    std::fs::write(&file, toml::to_string(&config).unwrap()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (handle, task) = doorway::station::start_with(config.clone(), Some(file.clone()))
        .await
        .unwrap();
    let station = Station::from_parts(handle, config, task);
    let mut owner = browser_from(&station, [127, 0, 0, 1]).await;
    let code = station.status().await.web_setup_code.unwrap();
    assert_eq!(owner.set_up(&code, PASSWORD).await.status, 200);
    (dir, file, station, owner)
}

async fn save(owner: &mut Browser, form: &serde_json::Value) -> common::web::Reply {
    owner
        .request("POST", "/api/config", Some(serde_json::json!({ "config": form })))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_stay_inside_the_station_and_never_show_a_password() {
    let _serial = common::SERIAL.lock().await;
    let (dir, file, station, mut owner) = station_with_file().await;
    let current = owner.request("GET", "/api/config", None).await.json();
    let text = current["text"].as_str().unwrap();
    assert!(!text.contains("broker secret"), "{text}");
    assert_eq!(
        current["config"]["mqtt"]["password"],
        doorway::web::settings_guard::MASK
    );

    // Saved back as shown: the password stays what it was.
    let form = current["config"].clone();
    assert_eq!(save(&mut owner, &form).await.status, 200);
    let saved = doorway::config::Config::load(&file).unwrap();
    assert_eq!(saved.mqtt.password.as_deref(), Some("broker secret"));

    // The page's password hash, the system's files: not a password file.
    let mut named = form.clone();
    named["mqtt"]["password"] = serde_json::Value::Null;
    for target in [dir.path().join("state/web-password"), "/etc/shadow".into()] {
        named["mqtt"]["password_file"] = serde_json::json!(target);
        let r = save(&mut owner, &named).await;
        assert_eq!(r.status, 422, "{}: {}", target.display(), r.text());
        assert_eq!(r.json()["field"], "mqtt.password_file");
    }
    // The appliance's paths are not the page's.
    for (field, value) in [("control_socket", "/tmp/some-file"), ("state_dir", "/tmp")] {
        let mut moved = form.clone();
        moved["station"][field] = serde_json::json!(value);
        let r = save(&mut owner, &moved).await;
        assert_eq!(r.status, 422, "{field}");
        assert_eq!(r.json()["field"], format!("station.{field}"));
    }
    // A name that would add SIP header lines.
    let mut injected = form.clone();
    injected["station"]["name"] = serde_json::json!("Pen door\"\r\nX-Injected: yes");
    let r = save(&mut owner, &injected).await;
    assert_eq!((r.status, r.json()["field"].as_str()), (422, Some("station.name")));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a save keeps the file's own mode");
    station.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_socket_never_replaces_or_removes_a_file() {
    let _serial = common::SERIAL.lock().await;
    let station = Station::start(demo::loopback_config("Door", demo::free_sip_port(), vec![])).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "mine").unwrap();
    let refused = doorway::control::serve(&file, station.handle.clone()).await;
    assert!(refused.is_err(), "a regular file is not a socket to replace");
    doorway::control::remove_socket(&file);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
    station.stop().await;
}
