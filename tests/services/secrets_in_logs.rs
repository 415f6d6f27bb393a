//! No secret reaches the log at any level: a station that logs everything (trace, its
//! own lines and every crate's) pairs, makes an encrypted call, registers with a
//! password at a SIP server, logs in to an MQTT broker and is set up and logged in to
//! from the web page. Neither its stderr nor the web page's Log page holds any password,
//! key, cookie or token it used.

use crate::common::kamailio::{Kamailio, DOMAIN};
use crate::common::mosquitto::{Broker, PASSWORD as BROKER_PASSWORD, USER as BROKER_USER};
use crate::common::web::Browser;
use crate::common::{active, doorway_cli, idle, printed, status_json, Station};
use doorway::api::loopback::{contact, free_sip_port, loopback_config};
use doorway::api::PairingCommand;
use doorway::station::Command;
use serde_json::Value;
use std::time::{Duration, Instant};

const ACCOUNT_PASSWORD: &str = "an account password";
const WEB_PASSWORD: &str = "a web page password";

async fn wait_status(socket: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let s = status_json(socket);
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < until, "Door: {what}: {s:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_secret_reaches_the_log_at_trace() {
    let _serial = crate::common::SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let kamailio = Kamailio::start(&[("door", ACCOUNT_PASSWORD)]);
    let mqtt = free_sip_port();
    let mut broker = Broker::start(dir.path(), mqtt);
    let (door_port, hall_port, door_tls) = (free_sip_port(), free_sip_port(), free_sip_port());
    let mut to_door = contact("Door", door_port);
    to_door.tls_port = Some(door_tls);
    let hall_config = loopback_config("Hall", hall_port, vec![to_door]);
    let socket = dir.path().join("door.sock");
    let s = socket.to_str().unwrap().to_string();
    let config = dir.path().join("door.toml");
    std::fs::write(
        &config,
        format!(
            "[station]\nname = \"Door\"\nuser = \"door\"\nlisten = \"127.0.0.1:{door_port}\"\n\
             control_socket = \"{s}\"\nstate_dir = \"{state}\"\n\n\
             [[contact]]\nname = \"Hall\"\nuri = \"sip:hall@127.0.0.1:{hall_port}\"\ntls_port = {hall_tls}\n\n\
             [security]\ntls_port = {tls}\n\n\
             [web]\nport = {web}\nredirect_port = 0\nmdns = false\n\n\
             [mqtt]\nbroker = \"mqtt://127.0.0.1:{mqtt}\"\nuser = \"{BROKER_USER}\"\npassword = \"{BROKER_PASSWORD}\"\n\n\
             [account]\nregistrar = \"sip:{DOMAIN}\"\nproxy = \"{proxy}\"\nuser = \"door\"\n\
             password = \"{ACCOUNT_PASSWORD}\"\n",
            state = dir.path().display(),
            tls = door_tls,
            hall_tls = hall_config.security.tls_port,
            web = free_sip_port(),
            proxy = kamailio.proxy(),
        ),
    )
    .unwrap();
    let log = dir.path().join("door.log");
    let mut door = std::process::Command::new(env!("CARGO_BIN_EXE_doorway"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env("DOORWAY_LOG", "trace")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let hall = Station::start(hall_config).await;

    // Registered with its password, logged in to the broker with its own.
    wait_status(&s, "registered", |j| j["account"]["state"] == "registered").await;
    wait_status(&s, "on the broker", |j| j["mqtt"]["connected"] == true).await;

    // Paired: the pairing exchange and its nonces.
    // `doorway pair` waits until both people confirmed.
    let pair_args = [
        "pair".to_string(),
        "Hall".to_string(),
        "--socket".to_string(),
        s.clone(),
    ];
    let pairing = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_doorway"))
            .args(pair_args)
            .output()
            .unwrap()
    });
    let code = |j: &Value| j["security"]["pairing"]["code"].as_str().map(str::to_string);
    wait_status(&s, "a pairing code", |j| code(j).is_some()).await;
    hall.wait(10, |st| st.security.pairing.as_ref().is_some_and(|p| p.code.is_some()))
        .await;
    hall.handle
        .pairing(|tx| PairingCommand::Decide(true, tx))
        .await
        .unwrap()
        .unwrap();
    let out = doorway_cli(&["pair-confirm", "--socket", &s]);
    assert!(out.status.success(), "{}", printed(&out));
    let out = pairing.await.unwrap();
    assert!(out.status.success(), "{}", printed(&out));
    wait_status(&s, "paired", |j| {
        j["security"]["paired"].as_array().is_some_and(|p| p.len() == 1)
    })
    .await;

    // An encrypted call: SDES keys in both descriptions.
    let (tx, rx) = tokio::sync::oneshot::channel();
    hall.send(Command::Call("Door".into(), tx));
    rx.await.unwrap().expect("Hall calls Door");
    wait_status(&s, "ringing", |j| j["call"]["state"] == "incoming").await;
    let out = doorway_cli(&["answer", "--socket", &s]);
    assert!(out.status.success(), "{}", printed(&out));
    let talking = hall.wait(10, active).await;
    assert!(active(&talking), "{talking:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    hall.send(Command::Hangup);
    hall.wait(10, idle).await;

    // The web page: set up with the screen's code, logged out, logged in again.
    let j = status_json(&s);
    let addr = j["web"]
        .as_str()
        .unwrap()
        .trim_start_matches("https://")
        .parse()
        .unwrap();
    let mut browser = Browser::new(addr, j["security"]["fingerprint"].as_str().unwrap());
    let setup = j["web_setup_code"].as_str().expect("a setup code").to_string();
    assert_eq!(browser.set_up(&setup, WEB_PASSWORD).await.status, 200);
    let first_cookie = browser.cookie.clone().expect("a session cookie");
    assert_eq!(browser.request("POST", "/api/logout", None).await.status, 204);
    browser.cookie = None;
    assert_eq!(browser.log_in(WEB_PASSWORD).await.status, 200);
    let web_log = browser.request("GET", "/api/log", None).await;
    assert_eq!(web_log.status, 200);

    unsafe { libc::kill(door.id() as i32, libc::SIGTERM) };
    let _ = door.wait();
    hall.stop().await;
    broker.stop();
    drop(kamailio);

    let stderr = std::fs::read_to_string(&log).unwrap();
    let cookie_value = |c: &str| c.split(';').next().unwrap().split('=').nth(1).unwrap_or(c).to_string();
    let secrets = [
        ("the account password", ACCOUNT_PASSWORD.to_string()),
        ("the broker password", BROKER_PASSWORD.to_string()),
        ("the web page password", WEB_PASSWORD.to_string()),
        ("the first session cookie", cookie_value(&first_cookie)),
        ("the session cookie", cookie_value(browser.cookie.as_deref().unwrap())),
        ("the CSRF token", browser.csrf.clone()),
    ];
    let key = regex::Regex::new(r"inline:[A-Za-z0-9+/]{16}").unwrap();
    let digest = regex::Regex::new(r#"response\\?="?\\?"?[0-9a-f]{32}"#).unwrap();
    for (place, text) in [("stderr", stderr.as_str()), ("the web page's Log", &web_log.text())] {
        for (name, secret) in &secrets {
            assert!(
                !secret.is_empty() && !text.contains(secret.as_str()),
                "{name} in {place}"
            );
        }
        assert!(!key.is_match(text), "an SDES key in {place}: {:?}", key.find(text));
        assert!(
            !digest.is_match(text),
            "a digest response in {place}: {:?}",
            digest.find(text)
        );
        assert!(!text.contains("$argon2"), "a password hash in {place}");
        assert!(!text.contains("PRIVATE KEY-----\n"), "a private key in {place}");
    }
    // It did log everything: the descriptions with their (hidden) keys, and the SIP.
    assert!(
        stderr.contains("TRACE"),
        "no trace lines: {}",
        &stderr[..stderr.len().min(2000)]
    );
    assert!(stderr.contains("inline:<redacted>"), "no SDES line was logged at all");
    assert!(stderr.lines().count() > 500, "{} lines", stderr.lines().count());
}
