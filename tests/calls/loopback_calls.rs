//! Two doorway stations on 127.0.0.1 place real SIP calls with real RTP media.

use crate::common::*;
use doorway::call::machine::State;
use doorway::station::Command;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_carries_video_and_audio_both_ways_and_hangs_up_fast() {
    let _serial = SERIAL.lock().await;
    let (a, b) = pair(|_, _| {}).await;
    a.handle.call("Hall").await.unwrap().unwrap();
    b.wait(10, ringing).await;
    // The caller hears of it (180 Ringing) a moment later.
    a.wait(5, |s| matches!(s.call, State::Outgoing { ringing: true, .. }))
        .await;
    b.send(Command::Answer);
    a.wait(10, active).await;
    // Each side must decode at least 30 frames of the other's pattern and hear its tone.
    let enough = |s: &doorway::station::Status| s.probes.recognised.values().sum::<u64>() >= 45;
    let sa = a.wait(20, enough).await;
    let sb = b.wait(20, enough).await;
    assert!(recognised(&sa, &sb) >= 30, "Hall saw {:?}", sb.probes);
    assert!(recognised(&sb, &sa) >= 30, "Door saw {:?}", sa.probes);
    assert!(
        hears(&sa, &sb),
        "Hall heard {:?}, Door sent {:?}",
        sb.probes.tone_heard_hz,
        sa.probes.own_tone_hz
    );
    assert!(
        hears(&sb, &sa),
        "Door heard {:?}, Hall sent {:?}",
        sa.probes.tone_heard_hz,
        sb.probes.own_tone_hz
    );
    let media = sa.media.clone().unwrap();
    assert!(media.packets_received > 0 && media.frames_decoded > 0);
    // Hang up from the callee: both idle within 1 s.
    let t = Instant::now();
    b.send(Command::Hangup);
    a.wait(2, idle).await;
    b.wait(2, idle).await;
    assert!(t.elapsed() < Duration::from_secs(1), "teardown took {:?}", t.elapsed());
    // And again, hanging up from the caller this time.
    a.handle.call("Hall").await.unwrap().unwrap();
    b.wait(10, ringing).await;
    b.send(Command::Answer);
    a.wait(10, active).await;
    b.wait(10, active).await;
    let t = Instant::now();
    a.send(Command::Hangup);
    a.wait(2, idle).await;
    b.wait(2, idle).await;
    assert!(t.elapsed() < Duration::from_secs(1), "teardown took {:?}", t.elapsed());
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_callee_answers_486() {
    let _serial = SERIAL.lock().await;
    // A third station, Garage, calls Hall while Door is in a call with it; Hall knows both.
    let (pa, pb, pc) = (
        doorway::api::loopback::free_sip_port(),
        doorway::api::loopback::free_sip_port(),
        doorway::api::loopback::free_sip_port(),
    );
    let mut door = doorway::api::loopback::contact("Door", pa);
    door.auto_answer = true;
    let garage = doorway::api::loopback::contact("Garage", pc);
    let a = Station::start(doorway::api::loopback::loopback_config(
        "Door",
        pa,
        vec![doorway::api::loopback::contact("Hall", pb)],
    ))
    .await;
    let b = Station::start(doorway::api::loopback::loopback_config("Hall", pb, vec![door, garage])).await;
    let c = Station::start(doorway::api::loopback::loopback_config(
        "Garage",
        pc,
        vec![doorway::api::loopback::contact("Hall", pb)],
    ))
    .await;
    a.handle.call("Hall").await.unwrap().unwrap();
    b.wait(10, active).await;
    c.handle.call("Hall").await.unwrap().unwrap();
    let sc = c
        .wait(10, |s| s.last_message.as_deref().is_some_and(|m| m.contains("busy")))
        .await;
    assert!(idle(&sc), "{:?}", sc.call);
    assert!(sc.last_message.unwrap().contains("Hall is busy"));
    assert!(active(&b.status().await), "the running call is untouched");
    a.send(Command::Hangup);
    b.wait(2, idle).await;
    for s in [a, b, c] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_call_reports_603() {
    let _serial = SERIAL.lock().await;
    let (a, b) = pair(|_, _| {}).await;
    a.handle.call("Hall").await.unwrap().unwrap();
    b.wait(10, ringing).await;
    b.send(Command::Hangup);
    let sa = a.wait(5, |s| idle(s) && s.last_message.is_some()).await;
    assert!(sa.last_message.unwrap().contains("declined"));
    assert!(idle(&b.status().await));
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_ringing_stops_the_callee() {
    let _serial = SERIAL.lock().await;
    let (a, b) = pair(|_, _| {}).await;
    a.handle.call("Hall").await.unwrap().unwrap();
    b.wait(10, ringing).await;
    a.send(Command::Hangup);
    let sb = b.wait(5, idle).await;
    assert!(idle(&sb), "callee still {:?}", sb.call);
    assert!(sb.last_message.unwrap().contains("hung up"));
    assert!(idle(&a.status().await));
    // Both are ready for the next call.
    a.handle.call("Hall").await.unwrap().unwrap();
    b.wait(10, ringing).await;
    b.send(Command::Answer);
    a.wait(10, active).await;
    a.send(Command::Hangup);
    b.wait(2, idle).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_peer_fails_within_the_setup_timeout() {
    let _serial = SERIAL.lock().await;
    let dead = doorway::api::loopback::free_sip_port();
    let pa = doorway::api::loopback::free_sip_port();
    let a = Station::start(doorway::api::loopback::loopback_config(
        "Door",
        pa,
        vec![doorway::api::loopback::contact("Nobody", dead)],
    ))
    .await;
    let t = Instant::now();
    a.handle.call("Nobody").await.unwrap().unwrap();
    let sa = a.wait(10, |s| idle(s) && s.last_message.is_some()).await;
    let took = t.elapsed();
    let message = sa.last_message.unwrap();
    assert!(message.contains("Nobody is unreachable"), "{message}");
    // setup_timeout_secs is 3 in the loopback config.
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(5),
        "{took:?}"
    );
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_caller_is_refused_with_403() {
    let _serial = SERIAL.lock().await;
    let pb = doorway::api::loopback::free_sip_port();
    let b = Station::start(doorway::api::loopback::loopback_config("Hall", pb, vec![])).await;
    let pa = doorway::api::loopback::free_sip_port();
    let a = Station::start(doorway::api::loopback::loopback_config(
        "Door",
        pa,
        vec![doorway::api::loopback::contact("Hall", pb)],
    ))
    .await;
    a.handle.call("Hall").await.unwrap().unwrap();
    let sa = a.wait(5, |s| idle(s) && s.last_message.is_some()).await;
    assert!(sa.last_message.unwrap().contains("does not accept calls"));
    let sb = b.status().await;
    assert!(idle(&sb));
    assert!(sb.last_message.unwrap().contains("not a contact"));
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn door_preview_shows_the_caller_while_ringing() {
    let _serial = SERIAL.lock().await;
    let (a, b) = pair(|_, door| door.preview = true).await;
    a.handle.call("Hall").await.unwrap().unwrap();
    b.wait(10, ringing).await;
    // While it rings, Hall sees Door's camera; Door sees nothing of Hall.
    let sb = b.wait(10, |s| s.probes.recognised.values().sum::<u64>() >= 30).await;
    assert!(ringing(&sb), "{:?}", sb.call);
    let sa = a.status().await;
    assert!(recognised(&sa, &sb) >= 30, "{:?}", sb.probes);
    assert_eq!(seen(&sa), 0, "the caller must not see the callee before answering");
    // The picture does not silence the ring: Hall hears its chime, not yet Door's sound.
    let door_tone = sa.probes.own_tone_hz.expect("Door's test tone");
    let chime = |hz: f64| (540.0..=670.0).contains(&hz);
    let sb = b.wait(5, |s| s.probes.tone_heard_hz.is_some_and(chime)).await;
    assert!(ringing(&sb), "{:?}", sb.call);
    // Answering turns it into a two-way call, and Door is heard.
    b.send(Command::Answer);
    let sa = a.wait(10, |s| active(s) && seen(s) >= 30).await;
    assert!(recognised(&b.status().await, &sa) >= 30, "{:?}", sa.probes);
    let sb = b
        .wait(5, |s| {
            s.probes.tone_heard_hz.is_some_and(|hz| (hz - door_tone).abs() < 10.0)
        })
        .await;
    assert!(active(&sb));
    a.send(Command::Hangup);
    b.wait(2, idle).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_over_tcp_signalling() {
    let _serial = SERIAL.lock().await;
    let (a, b) = pair(|hall, _| {
        hall.uri.push_str(";transport=tcp");
        hall.auto_answer = false;
    })
    .await;
    a.handle.call("Hall").await.unwrap().unwrap();
    b.wait(10, ringing).await;
    b.send(Command::Answer);
    let sa = a.wait(10, |s| active(s) && seen(s) >= 30).await;
    assert!(active(&sa));
    a.send(Command::Hangup);
    b.wait(2, idle).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_lost_mid_call_ends_the_call_after_the_media_timeout() {
    let _serial = SERIAL.lock().await;
    // Hall runs as its own `doorway run` process so it can die the hard way (SIGKILL):
    // no BYE, no more RTP.
    let (pa, pb) = (
        doorway::api::loopback::free_sip_port(),
        doorway::api::loopback::free_sip_port(),
    );
    let mut hall = HallProcess::start(pa, pb).await;
    let a = Station::start(doorway::api::loopback::loopback_config(
        "Door",
        pa,
        vec![doorway::api::loopback::contact("Hall", pb)],
    ))
    .await;
    a.handle.call("Hall").await.unwrap().unwrap();
    let sa = a.wait(15, |s| active(s) && seen(s) > 10).await;
    assert!(active(&sa), "{:?} {:?}", sa.call, sa.last_message);
    hall.child.kill().unwrap();
    hall.child.wait().unwrap();
    let t = Instant::now();
    let sa = a.wait(15, idle).await;
    assert!(idle(&sa), "{:?}", sa.call);
    assert!(sa.last_message.unwrap().contains("lost the connection"));
    // media_timeout_secs is 5 in the loopback config.
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcmu_is_the_fallback_when_opus_is_not_offered() {
    let _serial = SERIAL.lock().await;
    let (pa, pb) = (
        doorway::api::loopback::free_sip_port(),
        doorway::api::loopback::free_sip_port(),
    );
    let mut old =
        doorway::api::loopback::loopback_config("Door", pa, vec![doorway::api::loopback::contact("Hall", pb)]);
    old.media.audio_codecs = vec!["pcmu".into()];
    let a = Station::start(old).await;
    let mut door = doorway::api::loopback::contact("Door", pa);
    door.auto_answer = true;
    let b = Station::start(doorway::api::loopback::loopback_config("Hall", pb, vec![door])).await;
    a.handle.call("Hall").await.unwrap().unwrap();
    let sb = b
        .wait(15, |s| active(s) && s.probes.tone_heard_hz.is_some() && seen(s) > 10)
        .await;
    let audio = sb.media.clone().unwrap().negotiated.unwrap().audio.unwrap();
    assert_eq!(audio.codec, doorway::call::sdp::AudioCodec::Pcmu);
    assert_eq!(audio.rtp.send_pt, 0);
    let sa = a.wait(10, |s| s.probes.tone_heard_hz.is_some()).await;
    assert!(hears(&sa, &sb) && hears(&sb, &sa), "{:?} / {:?}", sa.probes, sb.probes);
    a.send(Command::Hangup);
    b.wait(2, idle).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_press_calls_and_a_touch_answers() {
    use doorway::input::RawInput;
    let _serial = SERIAL.lock().await;
    let (a, b) = pair(|hall, _| hall.key = Some("KEY_F1".into())).await;
    let t = Instant::now();
    a.send(Command::Input(RawInput::Key {
        key: "KEY_F1".into(),
        pressed: true,
    }));
    a.send(Command::Input(RawInput::Key {
        key: "KEY_F1".into(),
        pressed: false,
    }));
    let sa = a.wait(1, |s| matches!(s.call, State::Outgoing { .. })).await;
    assert!(matches!(sa.call, State::Outgoing { .. }));
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "the screen reacted after {:?}",
        t.elapsed()
    );
    b.wait(10, ringing).await;
    // Touch the Answer button: bottom-left half of the screen.
    b.send(Command::Input(RawInput::Touch { x: 0.25, y: 0.9 }));
    let sb = b.wait(5, active).await;
    assert!(active(&sb), "{:?}", sb.call);
    a.wait(5, |s| active(s) && seen(s) >= 10).await;
    // The doorbell key again hangs up the call with that contact.
    a.send(Command::Input(RawInput::Key {
        key: "KEY_F1".into(),
        pressed: true,
    }));
    a.wait(2, idle).await;
    b.wait(2, idle).await;
    // A touch on an idle screen's contact button calls it.
    b.send(Command::Input(RawInput::Touch { x: 0.5, y: 0.6 }));
    a.wait(10, ringing).await;
    a.send(Command::Hangup);
    b.wait(5, idle).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_camera_sends_a_placeholder_and_keeps_the_audio() {
    let _serial = SERIAL.lock().await;
    let (pa, pb) = (
        doorway::api::loopback::free_sip_port(),
        doorway::api::loopback::free_sip_port(),
    );
    let mut door =
        doorway::api::loopback::loopback_config("Door", pa, vec![doorway::api::loopback::contact("Hall", pb)]);
    door.devices.camera = "v4l2:/dev/video-unplugged".into();
    let a = Station::start(door).await;
    let mut door_contact = doorway::api::loopback::contact("Door", pa);
    door_contact.auto_answer = true;
    let b = Station::start(doorway::api::loopback::loopback_config("Hall", pb, vec![door_contact])).await;
    a.handle.call("Hall").await.unwrap().unwrap();
    let sb = b
        .wait(15, |s| {
            active(s) && decoded(s) >= 30 && s.probes.tone_heard_hz.is_some()
        })
        .await;
    let sa = a.status().await;
    assert!(decoded(&sb) >= 30, "Hall got no placeholder picture: {:?}", sb.media);
    assert_eq!(seen(&sb), 0, "a placeholder is not Door's camera");
    assert!(hears(&sa, &sb), "Door's audio must keep flowing: {:?}", sb.probes);
    assert!(sa.media.unwrap().camera_failures > 0);
    let sa = a.wait(3, |s| s.last_message.is_some()).await;
    assert!(
        sa.last_message.unwrap().contains("camera is not working"),
        "Door's screen says why"
    );
    a.send(Command::Hangup);
    b.wait(2, idle).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callee_rings_and_caller_hears_ringback() {
    let _serial = SERIAL.lock().await;
    let (a, b) = pair(|_, _| {}).await;
    a.handle.call("Hall").await.unwrap().unwrap();
    b.wait(10, ringing).await;
    let near = |hz: Option<f64>, want: f64| hz.is_some_and(|h| (h - want).abs() < 10.0);
    let sb = b
        .wait(5, |s| {
            near(s.probes.tone_heard_hz, 660.0) || near(s.probes.tone_heard_hz, 550.0)
        })
        .await;
    assert!(
        near(sb.probes.tone_heard_hz, 660.0) || near(sb.probes.tone_heard_hz, 550.0),
        "Hall's speaker should ring: {:?}",
        sb.probes
    );
    let sa = a.wait(5, |s| near(s.probes.tone_heard_hz, 425.0)).await;
    assert!(
        near(sa.probes.tone_heard_hz, 425.0),
        "Door should hear ringback: {:?}",
        sa.probes
    );
    // Answering stops the ring: the speaker now plays the caller's tone.
    b.send(Command::Answer);
    let sb = b
        .wait(5, |s| {
            active(s) && near(s.probes.tone_heard_hz, sa.probes.own_tone_hz.unwrap())
        })
        .await;
    assert!(hears(&sa, &sb), "{:?}", sb.probes);
    a.send(Command::Hangup);
    b.wait(2, idle).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mute_and_volume_keys_change_what_is_heard() {
    use doorway::input::RawInput;
    let _serial = SERIAL.lock().await;
    let (pa, pb) = (
        doorway::api::loopback::free_sip_port(),
        doorway::api::loopback::free_sip_port(),
    );
    let mut door =
        doorway::api::loopback::loopback_config("Door", pa, vec![doorway::api::loopback::contact("Hall", pb)]);
    door.input.keys.insert("KEY_M".into(), "mute".into());
    door.input.keys.insert("KEY_VOLUMEDOWN".into(), "volume_down".into());
    let a = Station::start(door).await;
    let mut door_contact = doorway::api::loopback::contact("Door", pa);
    door_contact.auto_answer = true;
    let b = Station::start(doorway::api::loopback::loopback_config("Hall", pb, vec![door_contact])).await;
    a.handle.call("Hall").await.unwrap().unwrap();
    let sa = a.wait(10, |s| active(s) && s.probes.tone_heard_hz.is_some()).await;
    b.wait(10, |s| hears(&sa, s)).await;
    let press = |key: &str| {
        a.send(Command::Input(RawInput::Key {
            key: key.into(),
            pressed: true,
        }));
        a.send(Command::Input(RawInput::Key {
            key: key.into(),
            pressed: false,
        }));
    };
    press("KEY_M");
    let said = a.wait(2, |s| s.last_message.is_some()).await.last_message;
    assert!(said.as_deref().unwrap_or("").contains("microphone muted"), "{said:?}");
    let sb = b.wait(3, |s| s.probes.tone_heard_hz.is_none()).await;
    assert_eq!(sb.probes.tone_heard_hz, None, "Door is muted, Hall must hear silence");
    assert!(a.status().await.last_message.unwrap().contains("microphone muted"));
    press("KEY_M");
    let sb = b.wait(3, |s| hears(&sa, s)).await;
    assert!(hears(&sa, &sb), "unmuted again");
    // Turning Door's speaker all the way down silences Hall's tone at Door.
    for _ in 0..10 {
        press("KEY_VOLUMEDOWN");
        // Presses closer than the debounce time are one press.
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let sa2 = a.wait(3, |s| s.probes.tone_heard_hz.is_none()).await;
    assert_eq!(sa2.probes.tone_heard_hz, None);
    assert!(sa2.last_message.unwrap().contains("speaker volume 0%"));
    a.send(Command::Hangup);
    b.wait(2, idle).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_screen_blanks_when_quiet_and_wakes_on_touch_or_ring() {
    use doorway::input::RawInput;
    let _serial = SERIAL.lock().await;
    let (pa, pb) = (
        doorway::api::loopback::free_sip_port(),
        doorway::api::loopback::free_sip_port(),
    );
    let mut door =
        doorway::api::loopback::loopback_config("Door", pa, vec![doorway::api::loopback::contact("Hall", pb)]);
    door.devices.screen_blank_secs = 1;
    let a = Station::start(door).await;
    let b = Station::start(doorway::api::loopback::loopback_config(
        "Hall",
        pb,
        vec![doorway::api::loopback::contact("Door", pa)],
    ))
    .await;
    let sa = a.wait(4, |s| !s.screen_on).await;
    assert!(!sa.screen_on && sa.probes.screen_off, "blanked after a quiet second");
    // A touch where the Hall button is only wakes the screen: nobody could see the button.
    a.send(Command::Input(RawInput::Touch { x: 0.5, y: 0.6 }));
    let sa = a.wait(1, |s| s.screen_on).await;
    assert!(sa.screen_on && !sa.probes.screen_off);
    assert!(idle(&sa), "a touch on a dark screen must not call");
    a.wait(4, |s| !s.screen_on).await;
    // A call ringing here wakes it.
    b.handle.call("Door").await.unwrap().unwrap();
    let sa = a.wait(10, ringing).await;
    assert!(sa.screen_on, "a ringing station shows who is calling");
    a.send(Command::Hangup);
    b.wait(5, idle).await;
    a.stop().await;
    b.stop().await;
}
