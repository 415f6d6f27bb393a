//! Ring groups: a door station rings three stations at once; the first to answer talks,
//! the others stop ringing within a second and say it was answered elsewhere; when all
//! decline, the caller is told; when several answer at once, all but the first are hung
//! up.

use crate::common;
use crate::common::{active, idle, ringing, Station, SERIAL};
use doorway::api::loopback as demo;
use doorway::config::Group;
use doorway::station::{Command, Status};
use doorway::ui::canvas::{Canvas, Rgb};
use doorway::ui::{ContactButton, Screen};
use std::time::{Duration, Instant};

const MEMBERS: [&str; 3] = ["Kitchen", "Office", "Upstairs"];

/// Door with the group "Everyone" of three stations, and the three, each knowing Door.
async fn household() -> (Station, Vec<Station>) {
    let door_port = demo::free_sip_port();
    let ports: Vec<u16> = MEMBERS.iter().map(|_| demo::free_sip_port()).collect();
    let contacts = MEMBERS.iter().zip(&ports).map(|(n, p)| demo::contact(n, *p)).collect();
    let mut door = demo::loopback_config("Door", door_port, contacts);
    door.groups = vec![Group {
        name: "Everyone".into(),
        members: MEMBERS.iter().map(|m| m.to_string()).collect(),
        key: None,
    }];
    door.validate().expect("a valid group");
    let door = Station::start(door).await;
    let mut members = vec![];
    for (name, port) in MEMBERS.iter().zip(ports) {
        let config = demo::loopback_config(name, port, vec![demo::contact("Door", door_port)]);
        members.push(Station::start(config).await);
    }
    (door, members)
}

/// Polls until `pred` holds, every 20 ms: how long it took.
async fn time_until(s: &Station, limit: Duration, pred: impl Fn(&Status) -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if pred(&s.status().await) {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not within {limit:?}: {:?}", s.status().await.call);
}

/// The station's screenshot shows `message` in the banner of its idle screen: the
/// banner's rows are the same pixels as the idle screen drawn here with that message.
async fn banner_shows(s: &Station, message: &str) {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-screens");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "answered-elsewhere-{}.png",
        s.config.station.name.to_lowercase()
    ));
    s.handle.screenshot(path.clone()).await.unwrap().unwrap();
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut shot = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut shot).unwrap();
    let (w, h) = (info.width, info.height);
    let channels = info.line_size / w as usize;
    let mut expected = Canvas::new(w, h);
    let screen = Screen::Idle {
        station: s.config.station.name.clone(),
        clock: "00:00".into(),
        contacts: vec![ContactButton {
            name: "Door".into(),
            key_hint: None,
        }],
        messages: vec![],
        replies: vec![],
        web: None,
        nearby: 0,
    };
    doorway::ui::render(&mut expected, &screen, None, None, Some(message));
    // The banner band of an idle screen: from 3/20 of the height, a line of text high.
    let (from, to) = (h * 3 / 20, h * 3 / 20 + h / 14);
    let mut differ = 0;
    for y in from..to {
        for x in 0..w {
            let at = y as usize * info.line_size + x as usize * channels;
            let Rgb(r, g, b) = expected.pixel(x, y);
            if shot[at..at + 3] != [r, g, b] {
                differ += 1;
            }
        }
    }
    assert_eq!(
        differ,
        0,
        "{}: the banner is not {message:?} ({})",
        s.config.station.name,
        path.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_to_answer_talks_and_the_others_stop_ringing_answered_elsewhere() {
    let _serial = SERIAL.lock().await;
    let (door, members) = household().await;
    door.handle.call("Everyone").await.unwrap().unwrap();
    for m in &members {
        m.wait(10, ringing).await;
    }
    let sd = door.wait(5, |s| s.legs.len() == 3).await;
    assert_eq!(sd.group.as_deref(), Some("Everyone"));

    // Office answers; Kitchen and Upstairs stop ringing within a second.
    members[1].send(Command::Answer);
    let (kitchen, upstairs) = (&members[0], &members[2]);
    let stops = tokio::join!(
        time_until(kitchen, Duration::from_secs(3), idle),
        time_until(upstairs, Duration::from_secs(3), idle)
    );
    for took in [stops.0, stops.1] {
        assert!(took < Duration::from_secs(1), "still rang {took:?} after the answer");
    }
    for m in [kitchen, upstairs] {
        let s = m.status().await;
        assert_eq!(s.last_message.as_deref(), Some("Door's call was answered elsewhere"));
        assert_eq!(s.missed_call, None, "not a missed call");
        banner_shows(m, "Door's call was answered elsewhere").await;
    }

    // Door and Office talk, with pictures both ways.
    let sd = door.wait(10, |s| active(s) && common::decoded(s) > 10).await;
    assert_eq!(sd.legs.len(), 1);
    assert_eq!(sd.group, None);
    let so = members[1].wait(10, |s| active(s) && common::decoded(s) > 10).await;
    assert!(common::recognised(&sd, &so) > 0 || common::decoded(&so) > 10);
    door.send(Command::Hangup);
    members[1].wait(5, idle).await;
    for m in members {
        m.stop().await;
    }
    door.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_everyone_declines_the_caller_is_told() {
    let _serial = SERIAL.lock().await;
    let (door, members) = household().await;
    door.handle.call("Everyone").await.unwrap().unwrap();
    for m in &members {
        m.wait(10, ringing).await;
        m.send(Command::Hangup);
    }
    let sd = door
        .wait(10, |s| {
            idle(s) && s.last_message.as_deref().is_some_and(|m| m.contains("Everyone"))
        })
        .await;
    let told = sd.last_message.unwrap_or_default();
    assert!(told.starts_with("nobody in Everyone took the call"), "{told}");
    for name in MEMBERS {
        assert!(told.contains(&format!("{name} declined")), "{told}");
    }
    for m in members {
        m.stop().await;
    }
    door.stop().await;
}

/// Everyone answers at the same moment: the answers cross Door's CANCELs, so Door must
/// hang up on all but the first. Each round, one member talks with Door and the others
/// are idle within 1.5 s (without the hang-up they would sit in a call with nobody until
/// their media timeout, 5 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_that_answer_together_are_hung_up_but_one() {
    let _serial = SERIAL.lock().await;
    let (door, members) = household().await;
    for round in 0..3 {
        door.handle.call("Everyone").await.unwrap().unwrap();
        for m in &members {
            m.wait(10, ringing).await;
        }
        for m in &members {
            m.send(Command::Answer);
        }
        let sd = door.wait(10, active).await;
        assert!(active(&sd), "round {round}: Door is not in the call: {:?}", sd.call);
        let started = Instant::now();
        let talking = loop {
            let mut in_call = 0;
            for m in &members {
                in_call += usize::from(active(&m.status().await));
            }
            if in_call <= 1 {
                break in_call;
            }
            assert!(
                started.elapsed() < Duration::from_millis(1500),
                "round {round}: {in_call} members still in the call after {:?}",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(talking, 1, "round {round}: nobody talks with Door");
        assert_eq!(door.status().await.legs.len(), 1);
        door.send(Command::Hangup);
        door.wait(5, idle).await;
        for m in &members {
            m.wait(5, idle).await;
        }
    }
    for m in members {
        m.stop().await;
    }
    door.stop().await;
}
