//! Interop with baresip, a SIP client no one here wrote (Debian packages baresip-core and
//! baresip-ffmpeg): calls both ways with H.264 video and audio, checked from doorway's side
//! (frames decoded, tone heard) and from baresip's (its snapshot of the video it received
//! carries our pattern, its decoded-audio dump carries our tone, its log shows the call).

use crate::common::baresip::{Baresip, Secure, BARESIP_TONE_HZ};
use crate::common::*;
use doorway::station::Command;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn hall_with_baresip_contact(bs: &Baresip, auto_answer: bool) -> doorway::config::Config {
    let mut contact = doorway::api::loopback::contact("Baresip", bs.sip_port);
    contact.uri = format!("sip:baresip@127.0.0.1:{}", bs.sip_port);
    contact.auto_answer = auto_answer;
    doorway::api::loopback::loopback_config("Hall", doorway::api::loopback::free_sip_port(), vec![contact])
}

fn assert_media_both_ways(bs: &Baresip, s: &doorway::station::Status) {
    assert!(
        decoded(s) >= 30,
        "doorway decoded only {} frames of baresip's video: {:?}\n{}",
        decoded(s),
        s.media,
        bs.log()
    );
    let heard = s
        .probes
        .tone_heard_hz
        .unwrap_or_else(|| panic!("doorway heard nothing: {:?} {:?}\n{}", s.probes, s.media, bs.log()));
    assert!((heard - BARESIP_TONE_HZ).abs() < 10.0, "doorway heard {heard} Hz");
    assert_eq!(
        bs.received_tag(),
        Some(s.probes.own_tag),
        "baresip's snapshot does not show doorway's pattern"
    );
}

/// baresip finishes its audio dump when the call ends.
fn assert_baresip_heard(bs: &Baresip, s: &doorway::station::Status) {
    let sent = s.probes.own_tone_hz.unwrap();
    let mut tone = None;
    for _ in 0..20 {
        tone = bs.heard_tone();
        if tone.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let files: Vec<_> = std::fs::read_dir(bs.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    let tone = tone.unwrap_or_else(|| panic!("no tone in baresip's decoded audio; files: {files:?}"));
    assert!(
        (tone - sent).abs() / sent < 0.03,
        "baresip heard {tone} Hz, doorway sent {sent} Hz"
    );
}

/// doorway calls baresip, which answers; media is checked both ways, doorway hangs up,
/// and baresip must have heard doorway. Returns the status in the call.
async fn doorway_calls_and_hangs_up(hall: &Station, bs: &Baresip) -> doorway::station::Status {
    hall.handle.call("Baresip").await.unwrap().unwrap();
    let s = hall.wait(20, |s| active(s) && decoded(s) >= 45).await;
    assert!(active(&s), "{:?} {:?}\n{}", s.call, s.last_message, bs.log());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = hall.status().await;
    assert_media_both_ways(bs, &s);
    hall.send(Command::Hangup);
    hall.wait(2, idle).await;
    assert_baresip_heard(bs, &s);
    s
}

/// baresip dials `uri`; doorway rings and answers; media is checked both ways, baresip
/// hangs up, and baresip must have heard doorway. Returns the status in the call.
async fn baresip_calls_and_hangs_up(hall: &Station, bs: &Baresip, uri: &str) -> doorway::station::Status {
    let reply = bs.command("dial", uri);
    let s = hall.wait(10, ringing).await;
    assert!(
        ringing(&s),
        "doorway did not ring: {reply} {:?}\n{}",
        s.last_message,
        bs.log()
    );
    hall.send(Command::Answer);
    let s = hall.wait(20, |s| active(s) && decoded(s) >= 45).await;
    assert!(active(&s), "{:?}\n{}", s.call, bs.log());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = hall.status().await;
    assert_media_both_ways(bs, &s);
    bs.command("hangup", "");
    let after = hall.wait(3, idle).await;
    assert!(idle(&after), "baresip's BYE did not end the call");
    assert_baresip_heard(bs, &s);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doorway_calls_baresip() {
    let _serial = SERIAL.lock().await;
    let bs = Baresip::start();
    let hall = Station::start(hall_with_baresip_contact(&bs, false)).await;
    doorway_calls_and_hangs_up(&hall, &bs).await;
    let log = bs.log();
    assert!(log.contains("Call established") || log.contains("established"), "{log}");
    assert!(log.contains("H264"), "baresip did not use H.264:\n{log}");
    hall.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_calls_doorway() {
    let _serial = SERIAL.lock().await;
    let bs = Baresip::start();
    let hall = Station::start(hall_with_baresip_contact(&bs, false)).await;
    let uri = format!("sip:hall@127.0.0.1:{}", hall.handle.sip_addr.port());
    baresip_calls_and_hangs_up(&hall, &bs, &uri).await;
    let log = bs.log();
    assert!(log.contains("established"), "{log}");
    assert!(log.contains("H264"), "baresip did not use H.264:\n{log}");
    hall.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_and_resume_both_ways_with_baresip() {
    let _serial = SERIAL.lock().await;
    let bs = Baresip::start();
    let hall = Station::start(hall_with_baresip_contact(&bs, false)).await;
    hall.handle.call("Baresip").await.unwrap().unwrap();
    let s = hall.wait(20, |s| active(s) && decoded(s) >= 30).await;
    assert!(active(&s), "{:?} {:?}\n{}", s.call, s.last_message, bs.log());

    // baresip holds: doorway says so and keeps the call past its media timeout (5 s).
    let reply = bs.command("hold", "");
    let s = hall.wait(5, |s| holds(s) == Some((true, false))).await;
    assert_eq!(holds(&s), Some((true, false)), "{reply}\n{}", bs.log());
    tokio::time::sleep(Duration::from_secs(7)).await;
    let s = hall.status().await;
    assert_eq!(holds(&s), Some((true, false)), "{:?}", s.last_message);
    // ... and resumes: pictures and sound come again.
    bs.command("resume", "");
    let s = hall.wait(5, |s| holds(s) == Some((false, false))).await;
    let before = decoded(&s);
    let s = hall.wait(10, |s| decoded(s) >= before + 30).await;
    assert!(
        decoded(&s) >= before + 30,
        "no pictures after baresip resumed\n{}",
        bs.log()
    );

    // doorway holds: nobody sends, baresip is told so.
    hall.send(Command::Hold);
    let inactive = Some(doorway::call::sdp::Direction::Inactive);
    let s = hall
        .wait(5, |s| holds(s) == Some((false, true)) && video_direction(s) == inactive)
        .await;
    assert_eq!(video_direction(&s), inactive, "{:?}\n{}", s.last_message, bs.log());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held_frames = decoded(&hall.status().await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        decoded(&hall.status().await),
        held_frames,
        "pictures kept coming on hold"
    );
    // ... and resumes: media both ways again, checked on both sides.
    hall.send(Command::Resume);
    let s = hall.wait(5, |s| holds(s) == Some((false, false))).await;
    let before = decoded(&s);
    hall.send(Command::ResetProbes);
    let s = hall
        .wait(15, |s| decoded(s) >= before + 45 && s.probes.tone_heard_hz.is_some())
        .await;
    assert!(active(&s), "{:?}", s.last_message);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = hall.status().await;
    assert_media_both_ways(&bs, &s);
    hall.send(Command::Hangup);
    hall.wait(2, idle).await;
    hall.stop().await;
}

/// Hall with baresip pinned as a contact (its certificate's fingerprint in the config),
/// and baresip trusting Hall's certificate: calls go over TLS with SRTP.
async fn secure_hall_and_baresip(srtp: bool) -> (Station, Baresip, tempfile::TempDir) {
    let state = tempfile::tempdir().unwrap();
    let identity = doorway::security::identity::Identity::load_or_create(state.path(), "Hall").unwrap();
    let bs = Baresip::start_with(
        Some(Secure {
            doorway_cert: identity.cert_pem.clone(),
            srtp,
        }),
        None,
    );
    let auto_answer = false;
    let mut config = hall_with_baresip_contact(&bs, auto_answer);
    config.station.ephemeral_state = false;
    config.station.state_dir = Some(state.path().to_owned());
    config.contacts[0].fingerprint = Some(bs.fingerprint().to_string());
    config.contacts[0].tls_port = Some(bs.tls_port());
    (Station::start(config).await, bs, state)
}

fn assert_secure(s: &doorway::station::Status) {
    let doorway::call::machine::State::Active { peer, .. } = &s.call else {
        panic!("not in a call: {:?}", s.call);
    };
    assert!(peer.secure, "the call with baresip is not secure: {peer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doorway_calls_baresip_over_tls_with_srtp() {
    let _serial = SERIAL.lock().await;
    let (hall, bs, _state) = secure_hall_and_baresip(true).await;
    let s = doorway_calls_and_hangs_up(&hall, &bs).await;
    assert_secure(&s);
    let log = bs.log();
    assert!(
        log.to_ascii_lowercase().contains("srtp"),
        "baresip did not use SRTP:\n{log}"
    );
    hall.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_calls_doorway_over_tls_with_srtp() {
    let _serial = SERIAL.lock().await;
    let (hall, bs, _state) = secure_hall_and_baresip(true).await;
    let tls_port = hall.config.security.tls_port;
    let uri = format!("sip:hall@127.0.0.1:{tls_port};transport=tls");
    let s = baresip_calls_and_hangs_up(&hall, &bs, &uri).await;
    assert_secure(&s);
    hall.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_media_offered_to_a_secure_call_is_refused_with_488() {
    let _serial = SERIAL.lock().await;
    // baresip holds the pinned certificate and calls over TLS, but offers plain RTP.
    let (hall, bs, _state) = secure_hall_and_baresip(false).await;
    let tls_port = hall.config.security.tls_port;
    bs.command("dial", &format!("sip:hall@127.0.0.1:{tls_port};transport=tls"));
    let s = hall
        .wait(10, |s| {
            s.last_message.as_deref().is_some_and(|m| m.contains("unencrypted"))
        })
        .await;
    assert!(idle(&s), "doorway must not ring: {:?}", s.call);
    assert!(
        s.last_message
            .as_deref()
            .unwrap_or_default()
            .contains("unencrypted media to a secure call"),
        "{:?}\n{}",
        s.last_message,
        bs.log()
    );
    let mut log = bs.log();
    for _ in 0..40 {
        if log.contains("488") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        log = bs.log();
    }
    assert!(log.contains("488"), "baresip was not told 488:\n{log}");
    hall.stop().await;
}

/// baresip's text console (see `Baresip::start_with`): commands in, what it prints out.
struct Console(TcpStream);

impl Console {
    fn open(bs: &Baresip) -> Console {
        let stream = TcpStream::connect(("127.0.0.1", bs.sip_port + 2)).expect("baresip's console");
        stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        Console(stream)
    }

    fn command(&mut self, line: &str) {
        self.0.write_all(format!("{line}\n").as_bytes()).unwrap();
    }

    /// Reads what baresip prints until `want` shows up (or 5 s pass); returns it all.
    fn read_until(&mut self, want: &str) -> String {
        let mut seen = String::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 4096];
        while !seen.contains(want) && std::time::Instant::now() < deadline {
            if let Ok(n) = self.0.read(&mut buf) {
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
        seen
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_messages_both_ways_with_baresip() {
    let _serial = SERIAL.lock().await;
    let hall_port = doorway::api::loopback::free_sip_port();
    let bs = Baresip::start_with(None, Some(&format!("sip:hall@127.0.0.1:{hall_port}")));
    let mut config = hall_with_baresip_contact(&bs, false);
    config.station.listen.set_port(hall_port);
    let hall = Station::start(config).await;
    let mut console = Console::open(&bs);
    console.command("/help");
    console.read_until("Message current contact");

    // doorway to baresip: baresip prints who sent it and the text.
    let (reply, rx) = tokio::sync::oneshot::channel();
    hall.send(Command::Text(doorway::api::TextCommand::Send {
        to: "Baresip".into(),
        text: "Hello from Hall".into(),
        reply,
    }));
    rx.await.unwrap().expect("baresip takes the message");
    let printed = console.read_until("\"Hello from Hall\"");
    assert!(
        printed.contains(&format!("sip:hall@127.0.0.1:{hall_port}: \"Hello from Hall\"")),
        "{printed}"
    );

    // baresip to doorway: its current contact is Hall.
    console.command("/contact_next");
    console.read_until("Current contact");
    console.command("/message Hello from baresip");
    let s = hall
        .wait(10, |s| {
            s.messages
                .iter()
                .any(|m| m.incoming && m.peer == "Baresip" && m.text == "Hello from baresip")
        })
        .await;
    assert_eq!(s.unread_messages.len(), 1, "{:?}", s.messages);
    hall.stop().await;
}
