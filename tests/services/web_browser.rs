//! The web page in a real browser (Debian's headless Chromium through chromedriver, its
//! camera a y4m of the pattern of a station called "Browser", its microphone a tone):
//! the first visit's code and password, the live view, and answering the door with
//! video and sound both ways, hung up from either side. Screenshots of each page at
//! phone size land in target/web-screenshots/.

use crate::common;
use crate::common::chrome::{fakes, Chrome};
use crate::common::requires;
use crate::common::{active, idle, ringing, Station};
use doorway::api::loopback as demo;
use doorway::device::probe::station_tag;
use std::path::PathBuf;
use std::time::Duration;

const BROWSER_TONE: f64 = 880.0;

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots")
}

fn page_url(status: &doorway::station::Status, path: &str) -> String {
    format!("{}{path}", status.web.as_deref().expect("the web page runs"))
}

/// The browser's RTCPeerConnection counts: video frames decoded, audio energy received.
const STATS: &str = "const done = arguments[arguments.length - 1];
    if (!live.pc) { done(null); return; }
    live.pc.getStats().then((report) => {
      let frames = 0, energy = 0;
      report.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded || 0;
        if (s.type === 'inbound-rtp' && s.kind === 'audio') energy = s.totalAudioEnergy || 0;
      });
      done({ frames, energy, state: live.pc.connectionState });
    });";

async fn browser_stats(chrome: &Chrome) -> serde_json::Value {
    chrome.run_async(STATS, vec![]).await
}

async fn wait_stats(chrome: &Chrome, secs: u64, ok: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    for _ in 0..secs * 4 {
        last = browser_stats(chrome).await;
        if ok(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let page = chrome
        .run(
            "return location.href + ' | ' + (document.querySelector('#live-state') || {}).textContent",
            vec![],
        )
        .await;
    panic!("the browser's stats never got there: {last} ({page})");
}

#[tokio::test]
async fn a_browser_logs_in_watches_and_answers_the_door_with_video_and_sound() {
    requires::program(common::chrome::CHROMIUM, "chromium");
    requires::program(common::chrome::CHROMEDRIVER, "chromium-driver");
    let _serial = common::SERIAL.lock().await;
    let (pd, ph) = (demo::free_sip_port(), demo::free_sip_port());
    let dir = tempfile::tempdir().unwrap();
    // Door has a config file, for the Settings page.
    let door_config = demo::loopback_config("Door", pd, vec![demo::contact("Hall", ph)]);
    let file = dir.path().join("door.toml");
    std::fs::write(&file, toml::to_string(&door_config).unwrap()).unwrap();
    let (handle, task) = doorway::station::start_with(door_config.clone(), Some(file.clone()))
        .await
        .unwrap();
    let door = Station::from_parts(handle, door_config, task);
    let hall = Station::start(demo::loopback_config("Hall", ph, vec![demo::contact("Door", pd)])).await;
    let chrome = Chrome::start(&fakes(dir.path(), "Browser", BROWSER_TONE, 412, 915)).await;
    let status = door.status().await;

    // First visit: the code from the station's screen, then a password.
    chrome.goto(&page_url(&status, "/")).await;
    chrome
        .wait_for(
            "location.pathname === '/login' && !document.querySelector('#setup').hidden",
            10,
        )
        .await
        .expect("the login page asks for the code");
    let code = status.web_setup_code.clone().expect("a setup code");
    chrome.type_into("#setup input[name=code]", &code).await;
    chrome.type_into("#setup input[name=password]", "door password").await;
    chrome.type_into("#setup input[name=again]", "door password").await;
    chrome.screenshot(&shots().join("login.png")).await;
    chrome.click("#setup button").await;
    chrome
        .wait_for(
            "location.pathname === '/' && document.querySelector('#call').textContent === 'Idle'",
            10,
        )
        .await
        .expect("home shows the idle station");
    chrome.screenshot(&shots().join("home.png")).await;

    // Live: the station's camera in the browser; the station's screen says so.
    chrome.goto(&page_url(&status, "/live")).await;
    let live = wait_stats(&chrome, 20, |s| s["frames"].as_u64().unwrap_or(0) > 30).await;
    assert_eq!(live["state"], "connected");
    chrome.screenshot(&shots().join("live.png")).await;
    let watched = door.wait(5, |s| s.live_views.len() == 1).await;
    assert!(watched.last_message.is_none() || watched.live_views[0].frames_sent > 0);
    // The picture follows the link to the browser: the congestion controller's estimate,
    // from the browser's transport-wide feedback, reaches the encoder.
    let following = door
        .wait(10, |s| s.live_views.first().is_some_and(|v| v.video_kbps.is_some()))
        .await;
    println!(
        "the browser's picture at {:?} kbit/s",
        following.live_views[0].video_kbps
    );
    chrome.goto(&page_url(&status, "/")).await;
    door.wait(10, |s| s.live_views.is_empty()).await;

    for round in 0..2 {
        // Hall rings the door; the page shows it with an Answer button.
        hall.handle.call("Door").await.unwrap().unwrap();
        door.wait(10, ringing).await;
        chrome
            .wait_for(
                "!document.querySelector('#ring').hidden && !document.querySelector('#ring-answer').hidden",
                10,
            )
            .await
            .expect("the page shows the ring");
        if round == 0 {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            chrome.screenshot(&shots().join("ringing.png")).await;
        }
        chrome
            .run("document.querySelector('#ring-answer').click(); return true;", vec![])
            .await;
        door.wait(15, active).await;
        hall.wait(15, active).await;

        // Both ways: the browser decodes Hall's picture and hears it; Hall sees the
        // browser's pattern and hears its tone.
        let seen = wait_stats(&chrome, 20, |s| {
            s["frames"].as_u64().unwrap_or(0) > 30 && s["energy"].as_f64().unwrap_or(0.0) > 0.0
        })
        .await;
        assert_eq!(seen["state"], "connected", "{seen}");
        let browser_tag = station_tag("Browser");
        hall.send(doorway::station::Command::ResetProbes);
        hall.wait(20, |s| {
            s.probes.recognised.get(&browser_tag).copied().unwrap_or(0) > 10
                && s.probes
                    .tone_heard_hz
                    .is_some_and(|hz| (hz - BROWSER_TONE).abs() < 15.0)
        })
        .await;
        let door_status = door.status().await;
        let answer = door_status.web_answer.as_ref().expect("a browser leg");
        assert!(answer.frames_sent > 30, "{answer:?}");
        if round == 0 {
            chrome.screenshot(&shots().join("answered.png")).await;
            // The browser hangs up.
            chrome.click("#live-hangup").await;
        } else {
            // Hall hangs up: the browser's leg ends too.
            hall.send(doorway::station::Command::Hangup);
            wait_stats(&chrome, 15, |s| s.is_null() || s["state"] != "connected").await;
        }
        door.wait(10, idle).await;
        hall.wait(10, idle).await;
        assert!(door.status().await.web_answer.is_none());
        chrome.goto(&page_url(&status, "/")).await;
    }

    // Door's bell is pressed (Door calls Hall) and the browser answers the visitor:
    // Hall stops ringing, and the browser and Door talk directly.
    door.handle.call("Hall").await.unwrap().unwrap();
    hall.wait(10, ringing).await;
    chrome
        .wait_for(
            "document.querySelector('#ring-answer').textContent === 'Answer the door'",
            10,
        )
        .await
        .expect("the page offers to answer the door");
    chrome
        .run("document.querySelector('#ring-answer').click(); return true;", vec![])
        .await;
    hall.wait(10, idle).await;
    let seen = wait_stats(&chrome, 20, |s| {
        s["frames"].as_u64().unwrap_or(0) > 30 && s["energy"].as_f64().unwrap_or(0.0) > 0.0
    })
    .await;
    assert_eq!(seen["state"], "connected", "{seen}");
    door.send(doorway::station::Command::ResetProbes);
    let talking = door
        .wait(20, |s| {
            s.probes.recognised.get(&station_tag("Browser")).copied().unwrap_or(0) > 10
                && s.probes
                    .tone_heard_hz
                    .is_some_and(|hz| (hz - BROWSER_TONE).abs() < 15.0)
        })
        .await;
    assert!(talking.web_answer.as_ref().is_some_and(|w| w.call.is_none()));
    assert_eq!(talking.call, doorway::call::machine::State::Idle);
    chrome.click("#live-hangup").await;
    door.wait(10, |s| s.web_answer.is_none()).await;
    chrome.goto(&page_url(&status, "/")).await;

    // The visitor log and the settings, for the screenshots.
    chrome.goto(&page_url(&status, "/visitors")).await;
    chrome
        .wait_for("document.querySelectorAll('#visitor-list li').length === 3", 10)
        .await
        .expect("three rings logged");
    let outcomes = chrome
        .run(
            "return [...document.querySelectorAll('#visitor-list li')].map((li) => li.textContent)",
            vec![],
        )
        .await;
    assert!(outcomes.to_string().contains("answered from the web"), "{outcomes}");
    chrome.screenshot(&shots().join("visitors.png")).await;
    chrome.goto(&page_url(&status, "/settings")).await;
    chrome
        .wait_for("document.querySelectorAll('#settings-form fieldset').length > 3", 10)
        .await
        .expect("the settings form");
    chrome.screenshot(&shots().join("settings.png")).await;
    // A contact added in the form, saved, and at once in the file and the station.
    chrome
        .run(
            "document.querySelector('[data-kind=contact] > button').click(); return true;",
            vec![],
        )
        .await;
    chrome.type_into("[name='contact.1.name']", "Kitchen").await;
    chrome
        .type_into("[name='contact.1.uri']", "sip:kitchen@127.0.0.1:5999")
        .await;
    chrome
        .run(
            "document.querySelector('#settings-form > button').click(); return true;",
            vec![],
        )
        .await;
    chrome
        .wait_for(
            "document.querySelector('#settings-result').textContent.startsWith('Saved')",
            10,
        )
        .await
        .expect("saved from the form");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(
        saved.contains("Kitchen") && saved.find("[station]") < saved.find("[[contact]]"),
        "{saved}"
    );
    chrome.goto(&page_url(&status, "/log")).await;
    chrome
        .wait_for("document.querySelector('#log-lines').textContent.length > 0", 10)
        .await
        .ok();
    chrome.screenshot(&shots().join("log.png")).await;
    door.stop().await;
    hall.stop().await;
}
