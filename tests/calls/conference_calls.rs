//! Calls of up to four stations, whole stations on 127.0.0.1 with real SIP and media:
//! Hall calls Kitchen, then adds Office and Upstairs (`doorway call NAME` during the
//! call); each answers by itself. Hall hosts: every participant must see the other three
//! stations' patterns (the remotes in Hall's grid) and hear the other three tones but
//! not its own. Upstairs hangs up and the other three go on; a fifth station cannot
//! join; when Hall hangs up, the call ends for everyone. A plain SIP phone (baresip) takes
//! part as any station does.

use crate::common::baresip::{Baresip, BARESIP_TONE_HZ};
use crate::common::{active, idle, Station, SERIAL};
use doorway::api::loopback as demo;
use doorway::device::probe;
use doorway::input::RawInput;
use doorway::station::Status;
use doorway::ui::{Screen, UiAction};
use std::time::{Duration, Instant};

const HOST: &str = "Hall";
const REMOTES: [&str; 3] = ["Kitchen", "Office", "Upstairs"];

fn tone(name: &str) -> f64 {
    probe::station_tone_hz(name)
}

/// The tones among `candidates` that carry more than a tenth of what `s` played lately.
fn tones_heard(s: &Status, candidates: &[f64]) -> Vec<f64> {
    let (samples, rate) = &s.probes.recent_sound;
    if samples.len() < 12000 {
        return vec![];
    }
    let samples: Vec<f64> = samples.iter().map(|v| *v as f64).collect();
    candidates
        .iter()
        .copied()
        .filter(|hz| probe::tone_share(&samples, *rate as f64, *hz) > 0.1)
        .collect()
}

/// What `s` (station `me`) misses of the call with `others`: their pictures and tones,
/// or its own tone heard back.
fn missing(me: &str, s: &Status, others: &[&str]) -> Vec<String> {
    let all: Vec<f64> = std::iter::once(HOST).chain(REMOTES).map(tone).collect();
    let heard = tones_heard(s, &all);
    let mut out = vec![];
    for other in others {
        if s.probes
            .recognised
            .get(&probe::station_tag(other))
            .copied()
            .unwrap_or(0)
            == 0
        {
            out.push(format!("{me} does not see {other}"));
        }
        if !heard.contains(&tone(other)) {
            out.push(format!("{me} does not hear {other} (hears {heard:?})"));
        }
    }
    if heard.contains(&tone(me)) {
        out.push(format!("{me} hears itself"));
    }
    out
}

/// Everyone's misses with `present` remotes in the call (measured afresh).
async fn misses(host: &Station, remotes: &[(&str, Station)], present: &[&str]) -> Vec<String> {
    let mut out = missing(HOST, &host.status().await, present);
    for (name, station) in remotes.iter().filter(|(n, _)| present.contains(n)) {
        let others: Vec<&str> = std::iter::once(HOST)
            .chain(present.iter().copied().filter(|n| n != name))
            .collect();
        out.extend(missing(name, &station.status().await, &others));
    }
    out
}

async fn settle(host: &Station, remotes: &[(&str, Station)], present: &[&str]) -> Vec<String> {
    for s in std::iter::once(host).chain(remotes.iter().map(|(_, s)| s)) {
        s.send(doorway::station::Command::ResetProbes);
    }
    let end = Instant::now() + Duration::from_secs(25);
    loop {
        let m = misses(host, remotes, present).await;
        if m.is_empty() || Instant::now() > end {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Touches the button for `action` on `screen` as the station shows it.
fn touch(s: &Station, screen: &Screen, action: UiAction) {
    let (w, h) = (s.config.media.width as i32, s.config.media.height as i32);
    let button = doorway::ui::buttons(screen, w, h)
        .into_iter()
        .find(|b| b.action == action)
        .unwrap_or_else(|| panic!("no {action:?} on {screen:?}"));
    let (x, y) = (button.rect.x + button.rect.w / 2, button.rect.y + button.rect.h / 2);
    s.send(doorway::station::Command::Input(RawInput::Touch {
        x: x as f32 / w as f32,
        y: y as f32 / h as f32,
    }));
}

fn legs(s: &Status) -> usize {
    s.legs.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_stations_in_one_call() {
    let _serial = SERIAL.lock().await;
    let host_port = demo::free_sip_port();
    let ports: Vec<u16> = REMOTES.iter().map(|_| demo::free_sip_port()).collect();
    let spare_port = demo::free_sip_port();
    let mut contacts: Vec<_> = REMOTES.iter().zip(&ports).map(|(n, p)| demo::contact(n, *p)).collect();
    contacts.push(demo::contact("Porch", spare_port));
    let host = Station::start(demo::loopback_config(HOST, host_port, contacts)).await;
    let mut remotes = vec![];
    for (name, port) in REMOTES.iter().zip(&ports) {
        let mut hall = demo::contact(HOST, host_port);
        hall.auto_answer = true;
        remotes.push((
            *name,
            Station::start(demo::loopback_config(name, *port, vec![hall])).await,
        ));
    }
    let mut porch_contact = demo::contact(HOST, host_port);
    porch_contact.auto_answer = true;
    let porch = Station::start(demo::loopback_config("Porch", spare_port, vec![porch_contact])).await;

    for (i, name) in REMOTES.iter().enumerate() {
        if i == 1 {
            // A person adds Office on the screen: "Add", then Office in the picker.
            let in_call = Screen::InCall {
                peer: String::new(),
                seconds: 0,
                on_hold: false,
                door_open: false,
                replies: host.config.station.quick_replies.clone(),
                can_add: true,
            };
            touch(&host, &in_call, UiAction::AddStation);
            let picker = Screen::AddToCall {
                contacts: vec!["Office".into(), "Upstairs".into(), "Porch".into()],
            };
            tokio::time::sleep(Duration::from_millis(300)).await;
            touch(&host, &picker, UiAction::Call("Office".into()));
        } else {
            host.handle.call(name).await.unwrap().unwrap();
        }
        let s = host
            .wait(15, |s| {
                legs(s) == i + 1
                    && s.legs
                        .iter()
                        .all(|l| matches!(l, doorway::call::machine::State::Active { .. }))
            })
            .await;
        assert_eq!(legs(&s), i + 1, "{name} joined: {:?} {:?}", s.legs, s.last_message);
    }
    let s = host.status().await;
    assert!(
        s.conference.is_some() && s.media.is_none(),
        "Hall hosts: {:?}",
        s.conference
    );
    let m = settle(&host, &remotes, &REMOTES).await;
    assert!(m.is_empty(), "{m:?}\nHall: {:?}", host.status().await.conference);

    // No room for a fifth.
    let refused = host.handle.call("Porch").await.unwrap();
    let s = host.status().await;
    assert!(
        refused.is_err() || s.last_message.as_deref().is_some_and(|m| m.contains("at most 4")),
        "{refused:?} {:?}",
        s.last_message
    );
    assert_eq!(legs(&s), 3);
    assert!(idle(&porch.status().await));

    // Upstairs leaves; the others go on.
    let (_, upstairs) = remotes.pop().unwrap();
    upstairs.send(doorway::station::Command::Hangup);
    upstairs.wait(5, idle).await;
    let s = host.wait(5, |s| legs(s) == 2).await;
    assert!(
        s.last_message
            .as_deref()
            .is_some_and(|m| m.contains("Upstairs left the call")),
        "{:?}",
        s.last_message
    );
    let m = settle(&host, &remotes, &REMOTES[..2]).await;
    assert!(m.is_empty(), "after Upstairs left: {m:?}");
    for (_, r) in &remotes {
        assert!(active(&r.status().await));
    }

    // The host hangs up: the call ends for everyone.
    host.send(doorway::station::Command::Hangup);
    host.wait(5, idle).await;
    for (name, r) in &remotes {
        let s = r.wait(5, idle).await;
        assert!(idle(&s), "{name}: {:?}", s.call);
    }
    for s in [host, upstairs, porch] {
        s.stop().await;
    }
    for (_, r) in remotes {
        r.stop().await;
    }
}

/// The share of `hz` in `samples` is a tenth of their energy or more.
fn carries(samples: &[f64], rate: u32, hz: f64) -> bool {
    probe::tone_share(samples, rate as f64, hz) > 0.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_sip_phone_takes_part() {
    let _serial = SERIAL.lock().await;
    let bs = Baresip::start();
    let (host_port, kitchen_port) = (demo::free_sip_port(), demo::free_sip_port());
    let mut phone = demo::contact("Baresip", bs.sip_port);
    phone.uri = format!("sip:baresip@127.0.0.1:{}", bs.sip_port);
    let host = Station::start(demo::loopback_config(
        HOST,
        host_port,
        vec![demo::contact("Kitchen", kitchen_port), phone],
    ))
    .await;
    let mut hall = demo::contact(HOST, host_port);
    hall.auto_answer = true;
    let kitchen = Station::start(demo::loopback_config("Kitchen", kitchen_port, vec![hall])).await;
    host.handle.call("Kitchen").await.unwrap().unwrap();
    host.wait(10, active).await;
    host.handle.call("Baresip").await.unwrap().unwrap();
    let s = host
        .wait(20, |s| {
            s.conference
                .as_ref()
                .is_some_and(|c| c.frames_decoded.iter().all(|f| *f > 30))
        })
        .await;
    assert_eq!(legs(&s), 2, "{:?} {:?}\n{}", s.legs, s.last_message, bs.log());

    // baresip sees Hall and Kitchen in the grid it receives.
    let mut cells = vec![];
    for _ in 0..10 {
        cells = bs.received_cells();
        if cells.contains(&probe::station_tag(HOST)) && cells.contains(&probe::station_tag("Kitchen")) {
            break;
        }
    }
    assert!(
        cells.contains(&probe::station_tag(HOST)) && cells.contains(&probe::station_tag("Kitchen")),
        "baresip's grid shows {cells:?}"
    );
    // Kitchen and Hall hear baresip's tone; Kitchen sees Hall.
    let candidates = [tone(HOST), tone("Kitchen"), BARESIP_TONE_HZ];
    let end = Instant::now() + Duration::from_secs(15);
    let (mut k, mut h);
    loop {
        k = kitchen.status().await;
        h = host.status().await;
        let (kh, hh) = (tones_heard(&k, &candidates), tones_heard(&h, &candidates));
        let done = kh.contains(&BARESIP_TONE_HZ) && kh.contains(&tone(HOST)) && hh.contains(&BARESIP_TONE_HZ);
        if done || Instant::now() > end {
            assert!(done, "Kitchen hears {kh:?}, Hall hears {hh:?}");
            assert!(
                !kh.contains(&tone("Kitchen")) && !hh.contains(&tone(HOST)),
                "{kh:?} {hh:?}"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        k.probes.recognised.contains_key(&probe::station_tag(HOST)),
        "{:?}",
        k.probes.recognised
    );

    // When the call ends, baresip's dump of what it heard: Hall and Kitchen, not itself.
    host.send(doorway::station::Command::Hangup);
    host.wait(5, idle).await;
    kitchen.wait(5, idle).await;
    let mut tail = None;
    for _ in 0..30 {
        // The file is there from the start; its samples come when the call ends.
        tail = bs
            .decoded_tail()
            .filter(|(samples, rate)| samples.len() >= *rate as usize / 2);
        if tail.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (samples, rate) = tail.expect("baresip's dump of what it heard");
    let share = |hz: f64| probe::tone_share(&samples, rate as f64, hz);
    assert!(
        carries(&samples, rate, tone(HOST)) && carries(&samples, rate, tone("Kitchen")),
        "baresip hears Hall {:.2}, Kitchen {:.2}, itself {:.2} ({} samples at {rate} Hz)",
        share(tone(HOST)),
        share(tone("Kitchen")),
        share(BARESIP_TONE_HZ),
        samples.len()
    );
    assert!(!carries(&samples, rate, BARESIP_TONE_HZ), "baresip hears itself");
    host.stop().await;
    kitchen.stop().await;
}
