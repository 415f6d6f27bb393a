//! The emulated station: two door stations, each a QEMU machine with real kernel drivers
//! for its camera (vivid), sound card (snd-aloop), screen (bochs KMS) and buttons and
//! touchscreen (virtio keyboard, uinput multitouch), run the real doorway binary and call
//! each other over their own network. Each scenario is a user story checked the way a
//! person would check it: on the screens, on the speakers, with keys and touches.
//!
//! Screenshots, console and station logs: target/vm-artifacts/SCENARIO/{door,hall}/.
#[path = "vm/appliance.rs"]
mod appliance;
#[path = "vm/door_opening.rs"]
mod door_opening;
#[path = "vm/harness.rs"]
mod harness;
#[path = "vm/host.rs"]
mod host;
#[path = "vm/neighbours.rs"]
mod neighbours;
#[path = "common/requires.rs"]
mod requires;
#[path = "vm/screen.rs"]
mod screen;
#[path = "vm/station.rs"]
mod station;
#[path = "vm/station_config.rs"]
mod station_config;

use doorway::ui::{Screen, UiAction};
use screen::{Shot, ANSWER_GREEN, BACKGROUND, BUTTON_BLUE, HANGUP_RED, MESSAGE_AMBER, PLACEHOLDER_GREY};
use station::{AppliancePair, DoorSetup, Pair, Station};
use std::time::Instant;

/// Two machines use both cores: one scenario at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The idle screen: the station's background with a blue button per contact (not a
/// black screen, not a text console).
fn shows_idle(shot: &Shot) -> bool {
    shot.share((0.0, 0.0, 1.0, 0.25), BACKGROUND) > 0.5 && shot.share((0.0, 0.25, 1.0, 1.0), BUTTON_BLUE) > 0.5
}

/// The incoming-call screen: green answer and red decline buttons along the bottom.
fn shows_ringing(shot: &Shot) -> bool {
    shot.share((0.0, 0.8, 0.45, 0.95), ANSWER_GREEN) > 0.5 && shot.share((0.55, 0.8, 1.0, 0.95), HANGUP_RED) > 0.5
}

/// The call screen with the other station's camera: vivid's colour bars across the
/// middle and the red hang-up button.
fn shows_peer_camera(shot: &Shot) -> bool {
    shot.colour_bars() >= 6 && shot.share((0.4, 0.8, 0.6, 0.95), HANGUP_RED) > 0.5
}

/// The call screen with the grey picture a station sends while its camera is out.
fn shows_placeholder(shot: &Shot) -> bool {
    shot.colour_bars() == 0 && shot.share((0.0, 0.4, 0.6, 0.55), PLACEHOLDER_GREY) > 0.8
}

/// A message a person must read: the amber band.
fn shows_message(shot: &Shot) -> bool {
    shot.share_all(MESSAGE_AMBER) > 0.005
}

fn tone_near(tone: Option<f64>, hz: f64) -> bool {
    tone.is_some_and(|t| (t - hz).abs() < hz * 0.05)
}

/// The quick replies a station offers by default (on its ringing and call screens).
fn replies() -> Vec<String> {
    doorway::config::default_quick_replies()
}

/// Door presses its Hall button; Hall rings, and touches `action` on its ringing screen.
fn ring_hall_from_door(pair: &mut Pair, action: UiAction) {
    pair.door.guest.press_key("f1");
    pair.hall.wait_state(15.0, "incoming");
    let ringing = pair.hall.wait_screen(10.0, "ringing", shows_ringing);
    let screen = Screen::Ringing {
        peer: "Door".into(),
        replies: replies(),
    };
    pair.hall.touch_button(&ringing, &screen, action);
}

/// Door presses its Hall button; Hall rings and answers with a touch; both see each
/// other's camera. Returns once the call is up.
fn call_door_to_hall(pair: &mut Pair) {
    ring_hall_from_door(pair, UiAction::Answer);
    pair.hall.wait_state(15.0, "active");
    pair.door.wait_state(15.0, "active");
    pair.hall.wait_screen(30.0, "door camera", shows_peer_camera);
    pair.door.wait_screen(30.0, "hall camera", shows_peer_camera);
}

/// The station touches "Hang up" on its call screen.
fn touch_hang_up(station: &mut Station) {
    let shot = station.guest.screenshot("before-hang-up");
    let screen = Screen::InCall {
        peer: "Door".into(),
        seconds: 0,
        on_hold: false,
        door_open: false,
        replies: replies(),
        can_add: false,
    };
    station.touch_button(&shot, &screen, UiAction::Hangup);
}

/// The hall touches "Hang up"; how long until both screens are back to idle, from the
/// touch to the moment each station drew its idle screen (the stations' logs, on clocks
/// set from this machine's). Screenshots then confirm what the screens show.
fn hang_up_from_hall(pair: &mut Pair) -> f64 {
    touch_hang_up(&mut pair.hall);
    for station in [&mut pair.hall, &mut pair.door] {
        station.wait_state(5.0, "idle");
        station.wait_screen(5.0, "idle after hang-up", shows_idle);
    }
    let touched = pair
        .hall
        .logged(&["button=Some(Hangup)"], 0.0)
        .expect("the hall logged the touch");
    // Each guest keeps its own clock, set from this machine's at boot: the door's may
    // be a little behind the hall's. Its idle screen is the first after its call screen,
    // by its own clock; the delay is then at least zero.
    let idle_at = |station: &Station| {
        // The last call screen it logged (both are idle now): this call's.
        let mut in_call = None;
        while let Some(t) = station.logged(&["screen shows", "\"call\""], in_call.map_or(0.0, |t| t + 1e-6)) {
            in_call = Some(t);
        }
        let in_call = in_call.expect("call screen logged");
        let at = station
            .logged(&["screen shows", "idle"], in_call)
            .expect("idle screen logged");
        (at - touched).max(0.0)
    };
    let (hall, door) = (idle_at(&pair.hall), idle_at(&pair.door));
    println!("hang-up touched on the hall: idle screen on the hall after {hall:.2} s, on the door after {door:.2} s");
    hall.max(door)
}

fn report_boot(station: &Station) {
    println!(
        "{}: kernel start to doorway ready {:.1} s (kernel to userland {:.1} s, doorway start to ready {:.1} s)",
        station.name, station.ready_secs, station.guest.boot_secs, station.start_secs
    );
}

/// Scenario 1 and 6: both stations boot and show their idle screen with the other's
/// button; how long from kernel start until each reports ready. The door's speaker is a
/// sound card with a mixer (snd-dummy): its volume keys move the card's Master control.
/// Left alone, its screen goes dark, and a key wakes it.
#[test]
fn boot_shows_idle_screens_and_reports_ready_time() {
    let _serial = serial();
    let door = DoorSetup {
        speaker: Some("plughw:CARD=Dummy,DEV=0"),
        devices: "screen_blank_secs = 12",
        ..Default::default()
    };
    let mut pair = Pair::boot_with("1-boot", door);
    report_boot(&pair.door);
    report_boot(&pair.hall);
    for station in [&mut pair.door, &mut pair.hall] {
        assert_eq!(station.call_state(), "idle");
        station.wait_screen(20.0, "idle", shows_idle);
    }
    // speaker_volume = 1.0 by default: the card's full level; three steps down are 70%.
    assert_eq!(pair.door.mixer_percent("Dummy", "Master"), 100);
    for level in ["90%", "80%", "70%"] {
        pair.door.guest.press_key("volumedown");
        pair.door.wait_until(5.0, &format!("at {level} volume"), |s| {
            s["last_message"].as_str().is_some_and(|m| m.contains(level))
        });
    }
    let level = pair.door.mixer_percent("Dummy", "Master");
    assert!((68..=72).contains(&level), "Master at {level}%, not 70%");

    // Left alone, the door's screen goes dark (DPMS off; QEMU's VGA keeps showing its
    // last picture to screendump, so the station's word is taken for it); a key wakes it.
    pair.door.wait_until(25.0, "blanked", |s| s["screen_on"] == false);
    pair.door.guest.press_key("shift");
    pair.door.wait_until(5.0, "awake", |s| s["screen_on"] == true);
    pair.door.wait_screen(5.0, "idle after waking", shows_idle);
}

/// The door holds its Hall key: both screens show the same pairing code, and a touch on
/// "Same code: pair" on each pins the other.
fn pair_on_the_screens(pair: &mut Pair) {
    pair.door.guest.hold_key("f1", 1500);
    confirm_the_same_code(pair);
}

/// Both screens show the same pairing code, and a touch on "Same code: pair" on each
/// pins the other.
fn confirm_the_same_code(pair: &mut Pair) {
    let code = |s: &serde_json::Value| s["security"]["pairing"]["code"].as_str().map(String::from);
    let door = pair
        .door
        .wait_until(20.0, "showing a pairing code", |s| code(s).is_some());
    let hall = pair
        .hall
        .wait_until(20.0, "showing a pairing code", |s| code(s).is_some());
    assert_eq!(code(&door), code(&hall), "the two screens show different codes");
    let screen = Screen::Pairing {
        peer: String::new(),
        code: None,
        asking: true,
        note: String::new(),
    };
    for station in [&mut pair.door, &mut pair.hall] {
        let shot = station.guest.screenshot("pairing-code");
        station.touch_button(&shot, &screen, UiAction::PairConfirm);
    }
    for station in [&mut pair.door, &mut pair.hall] {
        let paired = station.wait_until(20.0, "paired", |s| {
            s["security"]["paired"].as_array().is_some_and(|p| !p.is_empty())
        });
        println!("{} paired: {}", station.name, paired["security"]["pairing"]["note"]);
    }
}

/// Scenario 2 and 3: the stations pair on their screens; then a key press at the door
/// rings the hall, a touch answers, and the call goes over TLS with SRTP; each sees the
/// other's camera and hears the other's microphone; the hall hangs up and both are back
/// to idle (the time is printed; the target on a board is under 2 s).
#[test]
fn button_call_touch_answer_then_hall_hangs_up() {
    let _serial = serial();
    // The door has a lock on a USB relay board, and the hall may open it.
    let door = DoorSetup {
        contact: "may_open_door = true",
        door: "[door]\nrelay = \"usb\"\ndevice = \"/dev/ttyUSB0\"\nopen_seconds = 2",
        ..Default::default()
    };
    let mut pair = Pair::boot_with("2-button-call", door);
    pair_on_the_screens(&mut pair);
    secure_call_with_tones(&mut pair);

    door_opening::open_the_door_from_the_hall(&mut pair);

    // The product's target is under 2 s on a board; under TCG the figure follows the
    // host's speed (0.8 to 2.8 s seen on different machines), so it is printed, and the
    // bound here only proves the BYE ended the call: the media timeout (6 s) did not.
    let took = hang_up_from_hall(&mut pair);
    assert!(took < 5.0, "both screens idle only after {took:.2} s");
}

/// The door's F1 key rings the hall, a touch answers, and the call goes over TLS with
/// SRTP: each sees the other's camera and hears the other's microphone.
fn secure_call_with_tones(pair: &mut Pair) {
    pair.door.play_into_microphone(700);
    pair.hall.play_into_microphone(1100);
    call_door_to_hall(pair);
    for station in [&mut pair.door, &mut pair.hall] {
        let s = station.status();
        assert_eq!(
            s["call"]["peer"]["secure"], true,
            "{}: not a secure call: {s:#}",
            station.name
        );
        let encryption = s["media"]["encryption_received"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            encryption.starts_with("SRTP"),
            "{}: media received {encryption:?}",
            station.name
        );
        println!("{}: signalling over TLS, media {encryption}", station.name);
    }
    let heard_at_hall = pair.hall.speaker_tone();
    let heard_at_door = pair.door.speaker_tone();
    assert!(
        tone_near(heard_at_hall, 700.0),
        "the hall hears {heard_at_hall:?} Hz, not the door's 700 Hz"
    );
    assert!(
        tone_near(heard_at_door, 1100.0),
        "the door hears {heard_at_door:?} Hz, not the hall's 1100 Hz"
    );
}

/// Scenario 4: the door's camera is pulled mid-call. The hall sees the grey placeholder
/// and still hears the door; the door's screen says its camera is not working. The camera
/// comes back and the hall sees it again, with no restart. Pulled again while idle, the
/// door's idle screen says so until it is back.
#[test]
fn camera_pulled_mid_call_and_plugged_back() {
    let _serial = serial();
    let mut pair = Pair::boot("4-camera-pulled");
    pair.door.play_into_microphone(700);
    call_door_to_hall(&mut pair);

    pair.door.set_camera_plugged(false);
    pair.hall.wait_screen(20.0, "placeholder", shows_placeholder);
    pair.door.wait_screen(20.0, "camera message", shows_message);
    let message = pair.door.status()["last_message"].as_str().unwrap_or("").to_string();
    assert!(message.contains("camera"), "the door says {message:?}");
    let heard = pair.hall.speaker_tone();
    assert!(
        tone_near(heard, 700.0),
        "with the camera out the hall hears {heard:?} Hz, not 700 Hz"
    );
    assert_eq!(pair.door.call_state(), "active", "the call goes on without the camera");

    pair.door.set_camera_plugged(true);
    pair.hall.wait_screen(30.0, "door camera again", shows_peer_camera);
    assert_eq!(pair.hall.call_state(), "active");

    // Pulled while idle: the door says so before anyone rings, and stops once it is back.
    hang_up_from_hall(&mut pair);
    pair.door.set_camera_plugged(false);
    let problem = |s: &serde_json::Value| s["device_problem"].as_str().unwrap_or("").contains("camera");
    pair.door.wait_until(10.0, "saying the camera is missing", problem);
    pair.door
        .wait_screen(10.0, "idle with camera message", |s| shows_idle(s) && shows_message(s));
    pair.door.set_camera_plugged(true);
    pair.door.wait_until(10.0, "over the camera problem", |s| !problem(s));
    assert!(
        pair.door.logged(&["camera unplugged"], 0.0).is_some(),
        "the journal says nothing"
    );
    assert!(
        pair.door.logged(&["camera plugged in"], 0.0).is_some(),
        "the journal says nothing"
    );
}

/// The door's USB speaker is pulled out mid-call: the call goes on (pictures both ways,
/// the hall still hears the door), and the door plays again once it is plugged back.
#[test]
fn speaker_pulled_mid_call_and_plugged_back() {
    let _serial = serial();
    let door = DoorSetup {
        speaker: Some("plughw:CARD=Audio,DEV=0"),
        ..Default::default()
    };
    let mut pair = Pair::boot_with("4b-speaker-pulled", door);
    pair.door.play_into_microphone(700);
    call_door_to_hall(&mut pair);

    pair.door.guest.unplug_usb_speaker();
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while pair.door.logged(&["speaker lost"], 0.0).is_none() {
        assert!(
            Instant::now() < deadline,
            "the door did not notice its speaker gone; see its station.log"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    assert_eq!(pair.door.call_state(), "active", "the call goes on without the speaker");
    pair.hall
        .wait_screen(10.0, "door camera without door speaker", shows_peer_camera);
    let heard = pair.hall.speaker_tone();
    assert!(
        tone_near(heard, 700.0),
        "the hall hears {heard:?} Hz, not the door's 700 Hz"
    );

    pair.door.guest.plug_usb_speaker();
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while pair.door.logged(&["speaker is back"], 0.0).is_none() {
        assert!(
            Instant::now() < deadline,
            "the door never reopened its USB speaker; see its station.log"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert_eq!(pair.door.call_state(), "active");
}

/// Scenario 5: the hall drops off the network mid-call. The door ends the call within its
/// media timeout, says so on its screen, and rings the hall again once it is back.
#[test]
fn peer_lost_mid_call_then_next_call_works() {
    let _serial = serial();
    let mut pair = Pair::boot("5-peer-lost");
    call_door_to_hall(&mut pair);

    let cut = Instant::now();
    pair.hall.guest.set_link(false);
    // media_timeout_secs = 6 in the stations' config, plus the time to notice and tidy up.
    pair.door.wait_state(12.0, "idle");
    println!(
        "door ended the call {:.1} s after the hall's cable was pulled",
        cut.elapsed().as_secs_f64()
    );
    pair.door
        .wait_screen(10.0, "idle with message", |s| shows_idle(s) && shows_message(s));
    let message = pair.door.status()["last_message"].as_str().unwrap_or("").to_string();
    assert!(message.contains("lost the connection"), "the door says {message:?}");

    pair.hall.guest.set_link(true);
    pair.hall.wait_state(15.0, "idle");
    ring_hall_from_door(&mut pair, UiAction::Decline);
    pair.door.wait_state(10.0, "idle");
    pair.hall.wait_state(10.0, "idle");
}

/// Scenario 6: the appliance image, as flashed, boots through systemd to doorway's READY
/// (the time is printed), takes its config from the config disk (a Pi's boot partition)
/// and shows its idle screen; the hall rings it, Enter answers, each sees the other's
/// camera, and the hall hangs up. This proves the unit, its hardening and the boot path
/// on the real image.
#[test]
fn appliance_image_boots_to_ready_and_takes_a_call() {
    let _serial = serial();
    let mut pair = AppliancePair::boot("6-appliance-image");
    println!(
        "appliance image: kernel start to doorway READY (systemd: Started doorway.service) {:.1} s",
        pair.door_ready_secs
    );
    report_boot(&pair.hall);
    pair.door.wait_screen(30.0, "idle", shows_idle);

    pair.hall.guest.press_key("f1");
    pair.door.wait_screen(20.0, "ringing", shows_ringing);
    pair.door.press_key("ret");
    pair.hall.wait_state(15.0, "active");
    pair.door.wait_screen(30.0, "hall camera", shows_peer_camera);
    pair.hall.wait_screen(30.0, "door camera", shows_peer_camera);

    touch_hang_up(&mut pair.hall);
    pair.door.wait_screen(10.0, "idle after hang-up", shows_idle);

    let disk = pair.door.dir.join("config-disk.img");
    drop(pair);
    let files = appliance::config_disk_files(&disk);
    assert!(
        files.contains("doorway.toml.applied"),
        "the boot partition's doorway.toml was not taken: {files}"
    );
}
