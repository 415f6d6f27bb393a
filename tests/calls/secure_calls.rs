//! Paired stations: pairing on the screens, calls over TLS, and impostors refused.

use crate::common;
use crate::common::capture;
use crate::common::{active, idle, Station, SERIAL};
use doorway::api::loopback as demo;
use doorway::api::PairingCommand;
use doorway::config::Config;
use doorway::station::{Command, Status};
use std::time::Duration;

/// Door and Hall on loopback, each knowing the other's TLS port, not yet paired.
fn configs() -> (Config, Config) {
    let (pa, pb) = (demo::free_sip_port(), demo::free_sip_port());
    let mut door = demo::loopback_config("Door", pa, vec![]);
    let mut hall = demo::loopback_config("Hall", pb, vec![]);
    let mut to_hall = demo::contact("Hall", pb);
    to_hall.tls_port = Some(hall.security.tls_port);
    let mut to_door = demo::contact("Door", pa);
    to_door.tls_port = Some(door.security.tls_port);
    door.contacts = vec![to_hall];
    hall.contacts = vec![to_door];
    (door, hall)
}

async fn pairing_command(
    s: &Station,
    make: impl FnOnce(tokio::sync::oneshot::Sender<Result<(), String>>) -> PairingCommand,
) -> Result<(), String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    s.send(Command::Pairing(make(tx)));
    rx.await.expect("station answers")
}

fn stage(s: &Status) -> Option<String> {
    s.security
        .pairing
        .as_ref()
        .map(|p| serde_json::to_value(p.stage).unwrap().as_str().unwrap().to_string())
}

fn code(s: &Status) -> Option<String> {
    s.security.pairing.as_ref().and_then(|p| p.code.clone())
}

fn paired_with(s: &Status, name: &str) -> bool {
    s.security.paired.iter().any(|(n, _)| n == name)
}

/// Starts pairing on `a` and waits until both show a code; returns the codes.
async fn codes_on_both(a: &Station, b: &Station) -> (String, String) {
    pairing_command(a, |tx| PairingCommand::Start("Hall".into(), tx))
        .await
        .unwrap();
    let sa = a.wait(10, |s| code(s).is_some()).await;
    let sb = b.wait(10, |s| code(s).is_some()).await;
    (code(&sa).expect("a code on Door"), code(&sb).expect("a code on Hall"))
}

/// Rows `from..to` of a PNG screenshot, as RGB(A) bytes.
fn band(path: &std::path::Path, from: f32, to: f32) -> Vec<u8> {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let row = info.line_size;
    let h = info.height as f32;
    buf[(from * h) as usize * row..(to * h) as usize * row].to_vec()
}

/// Screenshots of both stations while they compare codes (kept in
/// target/test-screens): the code's band is the same picture on both, the title band
/// (each names the other station) is not.
async fn same_code_on_both_screens(a: &Station, b: &Station) {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-screens");
    std::fs::create_dir_all(&dir).unwrap();
    let (pa, pb) = (dir.join("pairing-door.png"), dir.join("pairing-hall.png"));
    a.handle.screenshot(pa.clone()).await.unwrap().unwrap();
    b.handle.screenshot(pb.clone()).await.unwrap().unwrap();
    // The code is drawn in the band from 1/4 to 5/12 of the height; the title above it.
    let (code_a, code_b) = (band(&pa, 0.25, 0.41), band(&pb, 0.25, 0.41));
    assert!(code_a.iter().any(|v| *v > 200), "no code drawn on Door's screen");
    assert!(code_a == code_b, "the two screens show different codes");
    assert!(
        band(&pa, 0.08, 0.24) != band(&pb, 0.08, 0.24),
        "each screen names the other station"
    );
}

/// Door starts pairing with Hall, and both people confirm; returns once both pinned.
async fn pair_confirmed(a: &Station, b: &Station) {
    codes_on_both(a, b).await;
    for s in [a, b] {
        pairing_command(s, |tx| PairingCommand::Decide(true, tx)).await.unwrap();
    }
    assert!(paired_with(&a.wait(10, |s| paired_with(s, "Hall")).await, "Hall"));
    assert!(paired_with(&b.wait(10, |s| paired_with(s, "Door")).await, "Door"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paired_stations_call_over_tls_and_a_decline_pins_nothing() {
    let _serial = SERIAL.lock().await;
    let (door, hall) = configs();
    let (a, b) = (Station::start(door).await, Station::start(hall).await);

    // Declined on one station: nobody is paired, and both say so.
    let (ca, cb) = codes_on_both(&a, &b).await;
    assert_eq!(ca, cb, "both screens show the same code");
    assert_eq!(ca.len(), 7, "{ca}");
    pairing_command(&b, |tx| PairingCommand::Decide(false, tx))
        .await
        .unwrap();
    let sa = a.wait(10, |s| stage(s).as_deref() == Some("failed")).await;
    assert_eq!(stage(&sa).as_deref(), Some("failed"));
    assert!(
        sa.security.pairing.as_ref().unwrap().note.contains("declined"),
        "{:?}",
        sa.security.pairing
    );
    assert!(!paired_with(&sa, "Hall") && !paired_with(&b.status().await, "Door"));

    // Confirmed on both: both pin, and the call goes over TLS.
    let (ca, cb) = codes_on_both(&a, &b).await;
    assert_eq!(ca, cb);
    same_code_on_both_screens(&a, &b).await;
    pairing_command(&a, |tx| PairingCommand::Decide(true, tx))
        .await
        .unwrap();
    pairing_command(&b, |tx| PairingCommand::Decide(true, tx))
        .await
        .unwrap();
    let sa = a.wait(10, |s| paired_with(s, "Hall")).await;
    let sb = b.wait(10, |s| paired_with(s, "Door")).await;
    assert!(
        paired_with(&sa, "Hall") && paired_with(&sb, "Door"),
        "{:?} {:?}",
        sa.security,
        sb.security
    );

    a.handle.call("Hall").await.unwrap().unwrap();
    b.wait(10, common::ringing).await;
    b.send(Command::Answer);
    let sa = a.wait(10, active).await;
    let sb = b.wait(10, active).await;
    for s in [&sa, &sb] {
        let doorway::call::machine::State::Active { peer, .. } = &s.call else {
            panic!("not in a call: {:?}", s.call)
        };
        assert!(peer.secure, "{} sees an insecure call: {peer:?}", s.station);
    }
    let sb = b.wait(10, |s| common::decoded(s) > 10).await;
    assert!(common::decoded(&sb) > 10, "Hall decoded {}", common::decoded(&sb));
    a.send(Command::Hangup);
    b.wait(10, idle).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impostor_with_the_right_address_but_another_certificate_is_refused() {
    let _serial = SERIAL.lock().await;
    let (door, hall) = configs();
    let (a, b) = (Station::start(door).await, Station::start(hall).await);
    pair_confirmed(&a, &b).await;
    // Paired, messages go over TLS like the calls.
    a.send_text("Hall", "Paired now").await.unwrap();
    let sb = b.wait(5, |s| s.messages.iter().any(|m| m.text == "Paired now")).await;
    assert_eq!(sb.messages[0].peer, "Door");
    let hall_config = b.config.clone();
    b.stop().await;

    // Mallory: same name, user, address and ports as Hall, its own certificate.
    let mallory = Station::start_on_released_ports(hall_config).await;
    // Calling Door over plain SIP as Hall: refused, Hall is paired.
    mallory.handle.call("Door").await.unwrap().unwrap();
    let sm = mallory.wait(10, idle).await;
    assert!(idle(&sm));
    let sa = a
        .wait(5, |s| s.last_message.as_deref().is_some_and(|m| m.contains("Hall")))
        .await;
    assert!(idle(&sa), "Door must not ring: {:?}", sa.call);
    assert!(
        sa.last_message
            .as_deref()
            .unwrap_or_default()
            .contains("without its certificate"),
        "{:?}",
        sa.last_message
    );
    // Door calling "Hall" reaches Mallory's TLS port, which shows another certificate:
    // the call fails before any INVITE is sent, and says why.
    call_refused_for_its_certificate(&a).await;
    assert!(idle(&mallory.status().await), "Mallory never rang");
    // Nor does a message get through, either way.
    let e = mallory.send_text("Door", "Open up, it's Hall").await.unwrap_err();
    assert!(e.contains("403"), "{e}");
    let e = a.send_text("Hall", "Who are you?").await.unwrap_err();
    assert!(e.contains("certificate"), "{e}");
    assert!(a.status().await.messages.iter().all(|m| !m.incoming));
    assert!(mallory.status().await.messages.is_empty());
    a.stop().await;
    mallory.stop().await;
}

/// `a` calls Hall and the call fails before any INVITE: the far end showed another
/// certificate than Hall's pin, and the screen says so.
async fn call_refused_for_its_certificate(a: &Station) {
    a.handle.call("Hall").await.unwrap().unwrap();
    let sa = a
        .wait(10, |s| {
            idle(s) && s.last_message.as_deref().is_some_and(|m| m.contains("certificate"))
        })
        .await;
    let message = sa.last_message.unwrap_or_default();
    assert!(message.contains("another certificate"), "{message:?}");
}

/// Door and Hall pinned to each other in their configs (`fingerprint = ...`), with
/// identities in state directories of their own.
fn pinned_in_config(tweak: impl FnOnce(&mut Config, &mut Config)) -> (Config, Config, [tempfile::TempDir; 2]) {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (mut door, mut hall) = configs();
    for (config, dir) in [(&mut door, &dirs[0]), (&mut hall, &dirs[1])] {
        config.station.ephemeral_state = false;
        config.station.state_dir = Some(dir.path().to_owned());
    }
    let door_id = doorway::security::identity::Identity::load_or_create(dirs[0].path(), "Door").unwrap();
    let hall_id = doorway::security::identity::Identity::load_or_create(dirs[1].path(), "Hall").unwrap();
    door.contacts[0].fingerprint = Some(hall_id.fingerprint.to_string());
    hall.contacts[0].fingerprint = Some(door_id.fingerprint.to_string());
    door.validate().unwrap();
    tweak(&mut door, &mut hall);
    (door, hall, dirs)
}

fn secure_peer(s: &Status) -> bool {
    match &s.call {
        doorway::call::machine::State::Active { peer, .. }
        | doorway::call::machine::State::Incoming { peer, .. }
        | doorway::call::machine::State::Outgoing { peer, .. } => peer.secure,
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_calls_keep_preview_auto_answer_decline_cancel_and_hold() {
    let _serial = SERIAL.lock().await;
    let (door, hall, _dirs) = pinned_in_config(|_, hall| hall.contacts[0].preview = true);
    let (a, b) = (Station::start(door).await, Station::start(hall).await);

    // Cancel while it rings, with the visitor's picture on Hall's screen meanwhile.
    a.handle.call("Hall").await.unwrap().unwrap();
    let sb = b.wait(10, |s| common::ringing(s) && common::decoded(s) > 5).await;
    assert!(common::ringing(&sb) && secure_peer(&sb), "{:?}", sb.call);
    assert!(
        common::decoded(&sb) > 5,
        "no preview over TLS: {}",
        common::decoded(&sb)
    );
    a.send(Command::Hangup);
    assert!(idle(&b.wait(5, idle).await));

    // Declined.
    a.handle.call("Hall").await.unwrap().unwrap();
    b.wait(10, common::ringing).await;
    b.send(Command::Hangup);
    let sa = a.wait(10, idle).await;
    assert!(idle(&sa));

    // Answered, held and resumed (re-INVITEs over TLS), hung up by the callee.
    a.handle.call("Hall").await.unwrap().unwrap();
    b.wait(10, common::ringing).await;
    b.send(Command::Answer);
    let sa = a.wait(10, active).await;
    assert!(secure_peer(&sa));
    a.send(Command::Hold);
    let held = b.wait(10, |s| common::holds(s) == Some((true, false))).await;
    assert_eq!(common::holds(&held), Some((true, false)));
    // Door's own hold is complete once its re-INVITE's answer is in.
    let settled = |s: &Status| {
        matches!(
            s.call,
            doorway::call::machine::State::Active {
                held_by_us: true,
                offer_pending: false,
                ..
            }
        )
    };
    assert!(settled(&a.wait(10, settled).await), "Door's hold never completed");
    a.send(Command::Resume);
    b.wait(10, |s| common::holds(s) == Some((false, false))).await;
    let before = common::decoded(&b.status().await);
    let sb = b.wait(10, |s| common::decoded(s) > before + 20).await;
    assert!(
        common::decoded(&sb) > before + 20,
        "the picture did not come back after resume: {:?}",
        sb.media
    );
    b.send(Command::Hangup);
    assert!(idle(&a.wait(10, idle).await));
    a.stop().await;
    b.stop().await;

    // Auto-answer, after a restart: the identities in the state directories are kept.
    let (door, hall, _dirs2) = pinned_in_config(|_, hall| hall.contacts[0].auto_answer = true);
    let (a, b) = (Station::start(door).await, Station::start(hall).await);
    a.handle.call("Hall").await.unwrap().unwrap();
    let sa = a.wait(10, active).await;
    assert!(active(&sa) && secure_peer(&sa));
    a.send(Command::Hangup);
    b.wait(10, idle).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_survive_a_restart_and_unpairing_ends_them() {
    let _serial = SERIAL.lock().await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (mut door, mut hall) = configs();
    for (config, dir) in [(&mut door, &dirs[0]), (&mut hall, &dirs[1])] {
        config.station.ephemeral_state = false;
        config.station.state_dir = Some(dir.path().to_owned());
    }
    let (a, b) = (Station::start(door.clone()).await, Station::start(hall.clone()).await);
    pair_confirmed(&a, &b).await;
    let fingerprint = a.status().await.security.fingerprint;
    a.stop().await;
    let a = Station::start_on_released_ports(door.clone()).await;
    let sa = a.status().await;
    assert_eq!(sa.security.fingerprint, fingerprint, "the identity is kept");
    assert!(paired_with(&sa, "Hall"), "the pin is kept: {:?}", sa.security.paired);
    a.handle.call("Hall").await.unwrap().unwrap();
    let sb = b.wait(10, common::ringing).await;
    assert!(secure_peer(&sb));
    a.send(Command::Hangup);
    b.wait(10, idle).await;

    assert_eq!(
        pairing_command(&a, |tx| PairingCommand::Unpair("Hall".into(), tx)).await,
        Ok(())
    );
    assert!(!paired_with(&a.status().await, "Hall"));
    assert!(pairing_command(&a, |tx| PairingCommand::Unpair("Hall".into(), tx))
        .await
        .is_err());
    a.stop().await;
    b.stop().await;
}

/// Listens on loopback during two seconds of a call from `a` to `b` and returns what an
/// eavesdropper recovers from the packets to `b`: pattern tags and the tone.
async fn eavesdrop(a: &Station, b: &Station) -> (Vec<u16>, Option<f64>, usize) {
    a.handle.call("Hall").await.unwrap().unwrap();
    b.wait(10, common::ringing).await;
    b.send(Command::Answer);
    let sb = b.wait(10, |s| active(s) && common::decoded(s) > 10).await;
    let negotiated = sb.media.as_ref().and_then(|m| m.negotiated.clone()).expect("media");
    let video = negotiated.video.expect("video");
    let audio = negotiated.audio.expect("audio");
    let capture = capture::Capture::start();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let video_packets = capture.finish(video.rtp.local_port);
    let capture = capture::Capture::start();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let audio_packets = capture.finish(audio.rtp.local_port);
    a.send(Command::Hangup);
    b.wait(10, idle).await;
    let count = video_packets.len() + audio_packets.len();
    let (vpt, apt) = (video.rtp.recv_pt, audio.rtp.recv_pt);
    let tags = tokio::task::spawn_blocking(move || capture::pattern_tags(&video_packets, vpt))
        .await
        .unwrap();
    let tone = tokio::task::spawn_blocking(move || capture::opus_tone(&audio_packets, apt))
        .await
        .unwrap();
    (tags, tone, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_picture_and_sound_of_a_paired_call_cannot_be_recovered_from_the_wire() {
    let _serial = SERIAL.lock().await;
    let (door, hall) = configs();
    let (a, b) = (Station::start(door).await, Station::start(hall).await);
    let door_tag = a.status().await.probes.own_tag;
    let door_tone = a.status().await.probes.own_tone_hz.unwrap();

    // Before pairing: a plain call, and the eavesdropper sees and hears Door.
    let (tags, tone, count) = eavesdrop(&a, &b).await;
    assert!(count > 100, "the capture saw {count} packets");
    assert!(
        tags.iter().filter(|t| **t == door_tag).count() > 10,
        "plain video not decoded from the wire: {tags:?}"
    );
    let tone = tone.expect("plain audio decoded from the wire");
    assert!(
        (tone - door_tone).abs() / door_tone < 0.03,
        "heard {tone} Hz, Door sends {door_tone} Hz"
    );

    // Paired: the same call over TLS and SRTP gives nothing back.
    pair_confirmed(&a, &b).await;
    let (tags, tone, count) = eavesdrop(&a, &b).await;
    assert!(count > 100, "the capture saw {count} packets");
    assert!(tags.is_empty(), "pictures decoded from an encrypted call: {tags:?}");
    assert!(
        tone.is_none_or(|t| (t - door_tone).abs() / door_tone > 0.03),
        "Door's tone heard on the wire: {tone:?}"
    );
    a.stop().await;
    b.stop().await;
}

/// A man in the middle: accepts TLS on its own port with its own certificate and relays
/// everything to `target` over a TLS connection of its own.
async fn relay(target: std::net::SocketAddr) -> u16 {
    let mallory = doorway::security::identity::Identity::ephemeral("Mallory").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(doorway::security::tls::server_config(&mallory).unwrap());
    let (client, _) = doorway::security::tls::client_config(&mallory, None).unwrap();
    let connector = tokio_rustls::TlsConnector::from(client);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, connector) = (acceptor.clone(), connector.clone());
            tokio::spawn(async move {
                let Ok(mut inside) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(tcp) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let name = rustls::pki_types::ServerName::try_from("doorway.local").unwrap();
                let Ok(mut outside) = connector.connect(name, tcp).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut inside, &mut outside).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_man_in_the_middle_is_caught_pairing_and_cannot_join_a_paired_call() {
    let _serial = SERIAL.lock().await;
    // Pairing through the relay: each station sees the relay's certificate. The answering
    // station's commitment names its own view, so the one that started finds it broken
    // and says someone is in the middle; the other shows a code nobody can match, and
    // its person declines. Nothing is pinned.
    let (mut door, hall) = configs();
    let hall_tls = std::net::SocketAddr::from(([127, 0, 0, 1], hall.security.tls_port));
    door.contacts[0].tls_port = Some(relay(hall_tls).await);
    let (a, b) = (Station::start(door).await, Station::start(hall).await);
    pairing_command(&a, |tx| PairingCommand::Start("Hall".into(), tx))
        .await
        .unwrap();
    let sa = a.wait(10, |s| stage(s).as_deref() == Some("failed")).await;
    let note = sa.security.pairing.as_ref().map(|p| p.note.clone()).unwrap_or_default();
    assert!(note.contains("in the middle"), "{note}");
    assert!(code(&sa).is_none(), "Door showed a code: {:?}", code(&sa));
    let sb = b.wait(10, |s| code(s).is_some()).await;
    assert!(code(&sb).is_some());
    pairing_command(&b, |tx| PairingCommand::Decide(false, tx))
        .await
        .unwrap();
    assert!(!paired_with(&a.status().await, "Hall"));
    assert!(!paired_with(&b.status().await, "Door"));
    a.stop().await;
    b.stop().await;

    // Pinned stations: a call through the relay fails at its certificate, before any
    // INVITE, and Hall never rings.
    let (mut door, hall, _dirs) = pinned_in_config(|_, _| {});
    let hall_tls = std::net::SocketAddr::from(([127, 0, 0, 1], hall.security.tls_port));
    door.contacts[0].tls_port = Some(relay(hall_tls).await);
    let (a, b) = (Station::start(door).await, Station::start(hall).await);
    call_refused_for_its_certificate(&a).await;
    assert!(idle(&b.status().await), "Hall rang through the relay");
    a.stop().await;
    b.stop().await;
}
