//! The station's web page over real HTTPS: who may see what, the visitor log, settings.
//! (Answering from a browser is proven in a real browser by tests/services/web_browser.rs.)

use crate::common;
use crate::common::web::{plain, Browser};
use crate::common::{active, idle, tag_in_jpeg, Station};
use doorway::api::loopback as demo;
use doorway::station::{Command, Status};
use std::net::SocketAddr;
use std::time::Duration;

fn web_addr(status: &Status) -> SocketAddr {
    let url = status.web.as_deref().expect("the web page runs");
    url.trim_start_matches("https://").parse().expect("an address")
}

async fn browser_for(station: &Station) -> Browser {
    let status = station.status().await;
    Browser::new(web_addr(&status), &status.security.fingerprint)
}

/// A browser that went through the first visit with the code from the screen.
async fn logged_in(station: &Station, password: &str) -> Browser {
    let mut b = browser_for(station).await;
    let code = station
        .status()
        .await
        .web_setup_code
        .expect("a setup code before the first visit");
    assert_eq!(b.set_up(&code, password).await.status, 200);
    b
}

const PAGES: &[&str] = &["/", "/visitors", "/live", "/settings", "/log"];
const READS: &[&str] = &[
    "/api/session",
    "/api/status",
    "/api/events",
    "/api/log",
    "/api/config",
    "/api/config/download",
    "/api/visitors",
    "/api/visitors/1/snapshot",
];
const CHANGES: &[(&str, &str)] = &[
    ("POST", "/api/hangup"),
    ("POST", "/api/door/open"),
    ("POST", "/api/pair"),
    ("POST", "/api/logout"),
    ("POST", "/api/config"),
    ("DELETE", "/api/visitors/1"),
];

#[tokio::test]
async fn strangers_see_and_change_nothing() {
    let _serial = common::SERIAL.lock().await;
    let station = Station::start(demo::loopback_config("Door", demo::free_sip_port(), vec![])).await;
    let mut stranger = browser_for(&station).await;
    for page in PAGES {
        let r = stranger.request("GET", page, None).await;
        assert_eq!((r.status, r.header("location")), (303, "/login"), "{page}");
    }
    for path in READS {
        let r = stranger.request("GET", path, None).await;
        assert_eq!(r.status, 401, "{path}: {}", r.text());
    }
    for (method, path) in CHANGES {
        let r = stranger.request(method, path, Some(serde_json::json!({}))).await;
        assert_eq!(r.status, 401, "{method} {path}");
    }
    // The login page itself holds nothing; a forged cookie is nobody.
    assert_eq!(stranger.request("GET", "/login", None).await.status, 200);
    stranger.cookie = Some("doorway_session=forged".into());
    assert_eq!(stranger.request("GET", "/api/status", None).await.status, 401);
    stranger.cookie = None;

    // Plain HTTP on the HTTPS port is sent to HTTPS.
    let addr = stranger.addr;
    let r = plain(addr, "/visitors").await;
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        format!("https://doorway.local:{}/visitors", addr.port())
    );

    // Before a password exists, logging in is not possible, and a wrong code is refused.
    assert_eq!(stranger.log_in("anything at all").await.status, 409);
    assert_eq!(stranger.set_up("0000-0000", "a good password").await.status, 401);

    // The person at the station sets up the page; their session works...
    let mut owner = logged_in(&station, "a good password").await;
    assert!(station.status().await.web_setup_code.is_none(), "the code is used up");
    let r = owner.request("GET", "/api/status", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"]["station"], "Door");
    assert!(
        r.json()["status"]["web_setup_code"].is_null(),
        "the page never shows the code"
    );
    let cookie = r.header("set-cookie").to_string();
    assert!(cookie.is_empty(), "the session cookie is set once, at login");
    let events = owner.request("GET", "/api/events", None).await;
    assert_eq!(events.header("content-type"), "text/event-stream");
    assert!(events.text().starts_with("data: {"), "{}", events.text());

    // ...but not a change without its CSRF token, or with another's, or from elsewhere.
    let csrf = owner.csrf.clone();
    owner.csrf = "wrong".into();
    assert_eq!(owner.request("POST", "/api/hangup", None).await.status, 403);
    owner.csrf.clear();
    assert_eq!(owner.request("POST", "/api/hangup", None).await.status, 403);
    owner.csrf = csrf.clone();
    let r = owner
        .request_with("POST", "/api/hangup", None, &[("origin", "https://evil.example")])
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(owner.request("POST", "/api/hangup", None).await.status, 204);
    // "Open door" with no lock here and no call: the page is told why.
    owner.csrf = "wrong".into();
    assert_eq!(owner.request("POST", "/api/door/open", None).await.status, 403);
    owner.csrf = csrf.clone();
    let r = owner.request("POST", "/api/door/open", None).await;
    assert_eq!(r.status, 409);
    assert!(r.text().contains("no door lock here"), "{}", r.text());

    // Guessing: five wrong guesses from one address (the wrong setup code above was the
    // first), then even the right password is refused for a minute.
    let mut guesser = browser_for(&station).await;
    for _ in 0..4 {
        assert_eq!(guesser.log_in("not the password").await.status, 401);
    }
    let r = guesser.log_in("a good password").await;
    assert_eq!(r.status, 429, "the sixth try in a minute is refused");
    assert!(guesser.cookie.is_none());

    // Logging out ends the session.
    let set = owner.request("POST", "/api/logout", None).await;
    assert_eq!(set.status, 204);
    assert!(set.header("set-cookie").contains("Max-Age=0"));
    owner.cookie = Some(owner.cookie.clone().unwrap_or_default());
    assert_eq!(owner.request("GET", "/api/status", None).await.status, 401);
    station.stop().await;
}

#[tokio::test]
async fn the_session_cookie_is_secure_http_only_and_same_site() {
    let _serial = common::SERIAL.lock().await;
    let station = Station::start(demo::loopback_config("Door", demo::free_sip_port(), vec![])).await;
    let mut b = browser_for(&station).await;
    let code = station.status().await.web_setup_code.unwrap();
    let r = b.set_up(&code, "short").await;
    assert_eq!(r.status, 400, "a short password is refused");
    let r = b.set_up(&code, "long enough password").await;
    let cookie = r.header("set-cookie");
    for part in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let page = b.request("GET", "/", None).await;
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(page.text().contains("/assets/app.js"));
    station.stop().await;
}

/// Door rings Hall three times with a log that keeps two: each ring leaves a snapshot
/// of Door's camera, its outcome, and the oldest goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_leaves_a_snapshot_of_the_callers_pattern() {
    let _serial = common::SERIAL.lock().await;
    let (pa, pb) = (demo::free_sip_port(), demo::free_sip_port());
    let mut door_config = demo::loopback_config("Door", pa, vec![demo::contact("Hall", pb)]);
    door_config.web.visitors_kept = 2;
    let door = Station::start(door_config).await;
    // Hall shows Door's picture while it rings: its log keeps Door's picture too.
    let mut door_contact = demo::contact("Door", pa);
    door_contact.preview = true;
    let hall = Station::start(demo::loopback_config("Hall", pb, vec![door_contact])).await;
    let door_tag = door.status().await.probes.own_tag;
    let mut b = logged_in(&door, "front door password").await;

    // 1: Hall answers. 2: Hall declines. 3: nobody answers (Door gives up).
    for round in 0..3 {
        door.handle.call("Hall").await.unwrap().unwrap();
        hall.wait(10, common::ringing).await;
        // Hall shows Door's preview (and its log keeps it) before anything else happens.
        hall.send(Command::ResetProbes);
        hall.wait(10, |s| s.probes.recognised.get(&door_tag).copied().unwrap_or(0) > 3)
            .await;
        match round {
            0 => {
                hall.send(Command::Answer);
                door.wait(10, active).await;
                door.send(Command::Hangup);
            }
            1 => {
                let (h, d) = (hall.status().await, door.status().await);
                assert!(
                    common::ringing(&h),
                    "Hall stopped ringing before it could decline: Hall {:?} ({:?}), Door {:?} ({:?})",
                    h.call,
                    h.last_message,
                    d.call,
                    d.last_message
                );
                hall.send(Command::Hangup)
            }
            _ => door.send(Command::Hangup),
        }
        door.wait(10, idle).await;
        hall.wait(10, idle).await;
    }
    let list = with_snapshots(&mut b, 2).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "the cap keeps two: {list:?}");
    assert_eq!(list[0]["id"], 3, "newest first");
    assert_eq!(list[1]["id"], 2);
    for v in list {
        assert_eq!(v["direction"], "outgoing");
        assert_eq!(v["peer"], "Hall");
        // Door's side cannot tell a decline from no answer: both are not answered.
        assert_eq!(v["outcome"], "missed", "{v}");
    }
    assert_eq!(
        b.request("GET", "/api/visitors/1/snapshot", None).await.status,
        404,
        "the oldest went"
    );

    // Hall's log has the other side: answered, declined, missed.
    let mut hb = logged_in(&hall, "hall password").await;
    let hall_list = with_snapshots(&mut hb, 3).await;
    let outcomes: Vec<&str> = hall_list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        vec!["missed", "declined", "answered"],
        "Hall's log: {hall_list:#}"
    );

    // Door's snapshot is a JPEG of its own pattern camera (the visitor at Door); Hall's is
    // Door's picture as it rang (its preview).
    let shot = b.request("GET", "/api/visitors/3/snapshot", None).await;
    assert_eq!(shot.header("content-type"), "image/jpeg");
    assert_eq!(tag_in_jpeg(&shot.body), door_tag, "Door's camera, not another's");
    for id in 1..=3 {
        let shot = hb.request("GET", &format!("/api/visitors/{id}/snapshot"), None).await;
        assert_eq!(tag_in_jpeg(&shot.body), door_tag, "Hall keeps who rang: ring {id}");
    }
    let download = b.request("GET", "/api/visitors/3/snapshot?download=true", None).await;
    assert!(download.header("content-disposition").starts_with("attachment"));

    // Deleting one.
    assert_eq!(b.request("DELETE", "/api/visitors/3", None).await.status, 204);
    assert_eq!(b.request("DELETE", "/api/visitors/3", None).await.status, 404);
    let list = b.request("GET", "/api/visitors", None).await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    door.stop().await;
    hall.stop().await;
}

/// The visitor list once its newest `n` rings have their snapshots (taken beside the
/// call, they may come a moment after it ended).
async fn with_snapshots(b: &mut Browser, n: usize) -> serde_json::Value {
    let mut list = serde_json::Value::Null;
    for _ in 0..100 {
        list = b.request("GET", "/api/visitors", None).await.json();
        let items = list.as_array().unwrap();
        if items.len() >= n && items[..n].iter().all(|v| v["bytes"].as_u64().unwrap_or(0) > 0) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("snapshots missing: {list}");
}

#[tokio::test]
async fn settings_refuse_a_bad_value_and_apply_a_good_one_without_a_restart() {
    let _serial = common::SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("door.toml");
    let (pa, pb) = (demo::free_sip_port(), demo::free_sip_port());
    let config = demo::loopback_config("Door", pa, vec![]);
    std::fs::write(&file, toml::to_string(&config).unwrap()).unwrap();
    let before = std::fs::read_to_string(&file).unwrap();
    let (handle, task) = doorway::station::start_with(config.clone(), Some(file.clone()))
        .await
        .unwrap();
    let door = common::Station::from_parts(handle, config, task);
    let hall = Station::start(demo::loopback_config("Hall", pb, vec![demo::contact("Door", pa)])).await;
    let mut b = logged_in(&door, "settings password").await;

    let current = b.request("GET", "/api/config", None).await.json();
    assert_eq!(current["file"], file.display().to_string());
    let mut form = current["config"].clone();

    // A bad value: refused at its field, the file and the running station unchanged.
    form["media"]["fps"] = serde_json::json!(1000);
    let r = b
        .request("POST", "/api/config", Some(serde_json::json!({ "config": form })))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["field"], "media.fps");
    assert!(r.json()["message"].as_str().unwrap().contains("1 to 60"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    let bad_text = b
        .request(
            "POST",
            "/api/config",
            Some(serde_json::json!({ "text": "[station]\nname = 5\n" })),
        )
        .await;
    assert_eq!(bad_text.status, 422);
    assert_eq!(bad_text.json()["field"], "station.name");
    assert!(door.handle.call("Hall").await.unwrap().is_err(), "no Hall contact yet");

    // A good one: a new contact, usable at once.
    form["media"]["fps"] = serde_json::json!(30);
    form["contact"] = serde_json::json!([{
        "name": "Hall", "uri": format!("sip:hall@127.0.0.1:{pb}"), "auto_answer": false, "preview": false,
        "key": null, "fingerprint": null, "tls_port": null,
    }]);
    let r = b
        .request("POST", "/api/config", Some(serde_json::json!({ "config": form })))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["at_next_start"], serde_json::json!([]));
    let saved = doorway::config::Config::load(&file).expect("the saved file passes check-config");
    assert_eq!(saved.contacts[0].name, "Hall");
    door.handle
        .call("Hall")
        .await
        .unwrap()
        .expect("the new contact is called without a restart");
    hall.wait(10, common::ringing).await;
    door.send(Command::Hangup);
    door.wait(10, idle).await;

    // A change that needs a restart says so.
    form["security"]["tls_port"] = serde_json::json!(demo::free_sip_port());
    let r = b
        .request("POST", "/api/config", Some(serde_json::json!({ "config": form })))
        .await;
    assert_eq!(r.json()["at_next_start"], serde_json::json!(["security.tls_port"]));
    let download = b.request("GET", "/api/config/download", None).await;
    assert_eq!(download.text(), std::fs::read_to_string(&file).unwrap());
    door.stop().await;
    hall.stop().await;
}

/// "Pair" on the page starts the same pairing as `doorway pair`: with a contact by name,
/// both screens show the code. A name that is neither a contact nor a station nearby
/// is refused with why, and a name too long is refused before it reaches the station.
#[tokio::test]
async fn the_owner_starts_pairing_from_the_page() {
    let _serial = common::SERIAL.lock().await;
    let (door_port, hall_port) = (demo::free_sip_port(), demo::free_sip_port());
    let (mut door, mut hall) = (
        demo::loopback_config("Door", door_port, vec![]),
        demo::loopback_config("Hall", hall_port, vec![]),
    );
    // Each knows where the other takes TLS.
    let (mut to_hall, mut to_door) = (demo::contact("Hall", hall_port), demo::contact("Door", door_port));
    to_hall.tls_port = Some(hall.security.tls_port);
    to_door.tls_port = Some(door.security.tls_port);
    door.contacts = vec![to_hall];
    hall.contacts = vec![to_door];
    let (door, hall) = (Station::start(door).await, Station::start(hall).await);
    let mut owner = logged_in(&door, "a good password").await;
    let r = owner
        .request("POST", "/api/pair", Some(serde_json::json!({ "name": "Nobody" })))
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap_or_default()
            .contains("neither a contact nor a station nearby"),
        "{}",
        r.text()
    );
    let long = "x".repeat(101);
    let r = owner
        .request("POST", "/api/pair", Some(serde_json::json!({ "name": long })))
        .await;
    assert_eq!(r.status, 400);
    let r = owner
        .request("POST", "/api/pair", Some(serde_json::json!({ "name": "Hall" })))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let code = |s: &Status| s.security.pairing.as_ref().and_then(|p| p.code.clone());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (d, h) = (door.status().await, hall.status().await);
        if let (Some(a), Some(b)) = (code(&d), code(&h)) {
            assert_eq!(a, b, "both screens show the same code");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no code on both screens: {:?} / {:?}",
            d.security.pairing,
            h.security.pairing
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
