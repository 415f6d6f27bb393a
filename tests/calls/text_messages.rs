//! Text messages between stations: both ways, outside and inside a call, kept across a
//! restart; strangers, oversized and non-text messages refused.

use crate::common;
use crate::common::stranger::Stranger;
use crate::common::{active, idle, Station, SERIAL};
use doorway::api::loopback as demo;
use doorway::api::TextCommand;
use doorway::config::Config;
use doorway::input::RawInput;
use doorway::station::{Command, Status};
use doorway::ui::{Screen, UiAction};
use std::time::Duration;

/// Door and Hall on loopback, contacts of each other, keeping state in `dirs`.
fn configs(dirs: &(tempfile::TempDir, tempfile::TempDir)) -> (Config, Config) {
    let (pa, pb) = (demo::free_sip_port(), demo::free_sip_port());
    let mut door = demo::loopback_config("Door", pa, vec![demo::contact("Hall", pb)]);
    let mut hall = demo::loopback_config("Hall", pb, vec![demo::contact("Door", pa)]);
    for (config, dir) in [(&mut door, &dirs.0), (&mut hall, &dirs.1)] {
        config.station.ephemeral_state = false;
        config.station.state_dir = Some(dir.path().to_owned());
    }
    (door, hall)
}

/// Touches quick reply `n` on the station's call screen.
fn touch_quick_reply(s: &Station, n: usize) {
    let (w, h) = (s.config.media.width as i32, s.config.media.height as i32);
    let screen = Screen::InCall {
        peer: String::new(),
        seconds: 0,
        on_hold: false,
        door_open: false,
        replies: s.config.station.quick_replies.clone(),
        can_add: false,
    };
    let button = doorway::ui::buttons(&screen, w, h)
        .into_iter()
        .find(|b| b.action == UiAction::QuickReply(n))
        .expect("a quick reply button");
    let (x, y) = (button.rect.x + button.rect.w / 2, button.rect.y + button.rect.h / 2);
    s.send(Command::Input(RawInput::Touch {
        x: x as f32 / w as f32,
        y: y as f32 / h as f32,
    }));
}

fn got(s: &Status, from: &str, body: &str) -> bool {
    s.messages
        .iter()
        .any(|m| m.incoming && m.peer == from && m.text == body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_go_both_ways_in_and_out_of_calls_and_survive_a_restart() {
    let _serial = SERIAL.lock().await;
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (door, hall) = configs(&dirs);
    let (a, b) = (Station::start(door).await, Station::start(hall.clone()).await);

    // Outside a call: Door writes, Hall shows a banner and keeps it unread.
    a.send_text("Hall", "Parcel at the door").await.unwrap();
    let sb = b.wait(5, |s| got(s, "Door", "Parcel at the door")).await;
    assert_eq!(sb.unread_messages.len(), 1, "{:?}", sb.unread_messages);
    assert_eq!(sb.last_message.as_deref(), Some("Door: Parcel at the door"));
    assert!(sb.screen_on);
    // Hall's person replies to the last sender; Door has it, and its own sent message.
    b.text(|reply| TextCommand::Reply {
        text: "Coming! \u{1f6b6}".into(),
        reply,
    })
    .await
    .unwrap();
    let sa = a.wait(5, |s| got(s, "Hall", "Coming! \u{1f6b6}")).await;
    assert!(sa
        .messages
        .iter()
        .any(|m| !m.incoming && m.peer == "Hall" && m.text == "Parcel at the door"));
    // Someone touches Hall's screen: read.
    b.send(Command::Input(RawInput::Touch { x: 0.01, y: 0.01 }));
    b.wait(5, |s| s.unread_messages.is_empty()).await;

    // Inside a call, both ways; the first quick reply from Hall's call screen too.
    a.handle.call("Hall").await.unwrap().unwrap();
    b.wait(10, common::ringing).await;
    b.send(Command::Answer);
    a.wait(10, active).await;
    a.send_text("Hall", "Can you see me?").await.unwrap();
    b.wait(5, |s| got(s, "Door", "Can you see me?")).await;
    touch_quick_reply(&b, 0);
    a.wait(5, |s| got(s, "Hall", "Coming!")).await;
    b.send_text("Door", "Yes").await.unwrap();
    a.wait(5, |s| got(s, "Hall", "Yes")).await;
    a.send(Command::Hangup);
    b.wait(10, idle).await;

    // What a person cannot send gets a clear answer, and nothing is sent.
    let long = "x".repeat(801);
    let e = a.send_text("Hall", &long).await.unwrap_err();
    assert!(e.contains("801") && e.contains("800"), "{e}");
    let e = a.send_text("Kitchen", "hi").await.unwrap_err();
    assert!(e.contains("not a contact"), "{e}");
    let e = a.send_text("Hall", " \n ").await.unwrap_err();
    assert!(e.contains("empty"), "{e}");

    // Hall restarts: its messages are still there, read or not as they were.
    let before = b.status().await.messages;
    b.stop().await;
    let b = Station::start_on_released_ports(hall).await;
    let after = b.status().await;
    assert_eq!(after.messages, before);
    assert!(got(&after, "Door", "Parcel at the door"));
    a.stop().await;
    b.stop().await;
}

/// A MESSAGE from `stranger` claiming to be `from`, with this content type and body.
fn message(stranger: &Stranger, target: u16, from: &str, n: u32, content_type: &str, body: &[u8]) -> Vec<u8> {
    let me = stranger.port;
    let mut request = format!(
        "MESSAGE sip:hall@127.0.0.1:{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKmsg{n}\r\n\
         From: <{from}>;tag=m{n}\r\nTo: <sip:hall@127.0.0.1:{target}>\r\n\
         Call-ID: msg{n}@stranger\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_long_and_non_text_messages_are_refused() {
    let _serial = SERIAL.lock().await;
    let (pa, pb) = (demo::free_sip_port(), demo::free_sip_port());
    let hall = Station::start(demo::loopback_config("Hall", pb, vec![demo::contact("Door", pa)])).await;
    // Door's own port, so that its From and address are Door's.
    let door = Stranger::bind(pa, pb);
    let stranger = Stranger::new(pb);
    let mallory = format!("sip:mallory@127.0.0.1:{}", stranger.port);
    let door_uri = format!("sip:door@127.0.0.1:{pa}");
    let cases: [(&Stranger, &str, &str, Vec<u8>, &str); 5] = [
        (&stranger, &mallory, "text/plain", b"let me in".to_vec(), "403"),
        (&door, &door_uri, "text/plain", vec![b'a'; 801], "413"),
        (&door, &door_uri, "text/html", b"<b>hi</b>".to_vec(), "415"),
        (&door, &door_uri, "text/plain", b"\xff\xfe\xfd".to_vec(), "400"),
        (
            &door,
            &door_uri,
            "text/plain;charset=utf-8",
            b"Hello from Door".to_vec(),
            "200",
        ),
    ];
    for (n, (socket, from, kind, body, want)) in cases.iter().enumerate() {
        socket.send(&message(socket, pb, from, n as u32, kind, body));
        let status = socket.final_status(Duration::from_secs(5)).expect("an answer");
        assert!(status.starts_with(&format!("SIP/2.0 {want}")), "case {n}: {status}");
    }
    let s = hall.status().await;
    assert_eq!(s.messages.len(), 1, "only Door's text is kept: {:?}", s.messages);
    assert!(got(&s, "Door", "Hello from Door"));
    hall.stop().await;
}
