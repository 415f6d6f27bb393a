use super::*;
use ::evdev::{AbsoluteAxisCode, EventSummary, EventType, InputEvent, KeyCode, SynchronizationCode};

fn interpreter() -> KeyInterpreter {
    let short = HashMap::from([
        ("KEY_F1".to_string(), InputAction::Call("Kitchen".into())),
        ("KEY_ENTER".to_string(), InputAction::Answer),
    ]);
    let long = HashMap::from([("KEY_ENTER".to_string(), InputAction::Hangup)]);
    KeyInterpreter::new(short, long, Duration::from_millis(800), Duration::from_millis(30))
}

#[test]
fn keys_without_long_press_act_on_press() {
    let mut k = interpreter();
    let t = Instant::now();
    assert_eq!(k.key("KEY_F1", true, t), Some(InputAction::Call("Kitchen".into())));
    assert_eq!(
        k.key("KEY_F1", true, t + Duration::from_millis(200)),
        None,
        "auto-repeat is ignored"
    );
    assert_eq!(k.key("KEY_F1", false, t + Duration::from_millis(300)), None);
    assert_eq!(k.key("KEY_X", true, t), None, "unmapped keys do nothing");
}

#[test]
fn long_press_keys_act_on_release_by_duration() {
    let mut k = interpreter();
    let t = Instant::now();
    assert_eq!(k.key("KEY_ENTER", true, t), None);
    assert_eq!(
        k.key("KEY_ENTER", false, t + Duration::from_millis(100)),
        Some(InputAction::Answer)
    );
    let t2 = t + Duration::from_secs(1);
    k.key("KEY_ENTER", true, t2);
    assert_eq!(
        k.key("KEY_ENTER", false, t2 + Duration::from_millis(900)),
        Some(InputAction::Hangup)
    );
}

#[test]
fn bounce_after_release_is_ignored() {
    let mut k = interpreter();
    let t = Instant::now();
    k.key("KEY_F1", true, t);
    k.key("KEY_F1", false, t + Duration::from_millis(100));
    assert_eq!(k.key("KEY_F1", true, t + Duration::from_millis(110)), None);
    k.key("KEY_F1", false, t + Duration::from_millis(115));
    assert!(k.key("KEY_F1", true, t + Duration::from_millis(300)).is_some());
}

#[test]
fn actions_and_key_names_parse() {
    assert_eq!(
        InputAction::parse("call:Kitchen"),
        Ok(InputAction::Call("Kitchen".into()))
    );
    assert_eq!(InputAction::parse("volume_up"), Ok(InputAction::VolumeUp));
    assert!(matches!(
        InputAction::parse("call:"),
        Err(KeyMapError::UnknownAction(_))
    ));
    assert!(matches!(InputAction::parse("ring"), Err(KeyMapError::UnknownAction(_))));
    assert!(check_key_name("KEY_F1").is_ok());
    assert!(check_key_name("BTN_0").is_ok());
    assert!(matches!(check_key_name("F1"), Err(KeyMapError::UnknownKey(_))));
}

/// Where the display puts a UI point (0..=1) on a panel mounted rotated clockwise.
fn ui_to_panel(x: f32, y: f32, rotation: u32) -> (f32, f32) {
    match rotation {
        90 => (1.0 - y, x),
        180 => (1.0 - x, 1.0 - y),
        270 => (y, 1.0 - x),
        _ => (x, y),
    }
}

#[test]
fn touches_land_on_the_point_drawn_there_in_every_rotation() {
    for rotation in [0, 90, 180, 270] {
        for (ux, uy) in [(0.1, 0.2), (0.5, 0.5), (0.9, 0.75)] {
            let (px, py) = ui_to_panel(ux, uy, rotation);
            let (sx, sy) = touch_to_screen(px, py, rotation, 480, 800);
            assert!(
                (sx - (ux * 480.0) as i32).abs() <= 1,
                "rotation {rotation}: x {sx} for {ux}"
            );
            assert!(
                (sy - (uy * 800.0) as i32).abs() <= 1,
                "rotation {rotation}: y {sy} for {uy}"
            );
        }
    }
    assert_eq!(
        touch_to_screen(1.0, 1.0, 0, 640, 360),
        (639, 359),
        "edges stay on screen"
    );
}

#[test]
fn calibration_normalises_and_can_flip() {
    let c = Calibration {
        min_x: 0,
        max_x: 4095,
        min_y: 4095,
        max_y: 0,
    };
    let (x, y) = c.normalise(4095, 4095);
    assert_eq!((x, y), (1.0, 0.0));
    let (x, _) = c.normalise(-50, 0);
    assert_eq!(x, 0.0, "clamped");
}

fn ev(kind: EventType, code: u16, value: i32) -> EventSummary {
    InputEvent::new(kind.0, code, value).destructure()
}

#[test]
fn multitouch_protocol_b_first_finger_is_a_touch() {
    let cal = Calibration {
        min_x: 0,
        max_x: 1000,
        min_y: 0,
        max_y: 1000,
    };
    let mut t = evdev::TouchTracker::default();
    let abs = |a: AbsoluteAxisCode, v| ev(EventType::ABSOLUTE, a.0, v);
    let syn = || ev(EventType::SYNCHRONIZATION, SynchronizationCode::SYN_REPORT.0, 0);
    assert_eq!(t.feed(abs(AbsoluteAxisCode::ABS_MT_SLOT, 0), Some(&cal)), None);
    t.feed(abs(AbsoluteAxisCode::ABS_MT_TRACKING_ID, 7), Some(&cal));
    t.feed(abs(AbsoluteAxisCode::ABS_MT_POSITION_X, 250), Some(&cal));
    t.feed(abs(AbsoluteAxisCode::ABS_MT_POSITION_Y, 750), Some(&cal));
    assert_eq!(t.feed(syn(), Some(&cal)), Some(RawInput::Touch { x: 0.25, y: 0.75 }));
    // Moving the same finger is not a new touch; lifting it is not either.
    t.feed(abs(AbsoluteAxisCode::ABS_MT_POSITION_X, 300), Some(&cal));
    assert_eq!(t.feed(syn(), Some(&cal)), None);
    t.feed(abs(AbsoluteAxisCode::ABS_MT_TRACKING_ID, -1), Some(&cal));
    assert_eq!(t.feed(syn(), Some(&cal)), None);
    // A second finger in slot 1 does not press buttons.
    t.feed(abs(AbsoluteAxisCode::ABS_MT_SLOT, 1), Some(&cal));
    t.feed(abs(AbsoluteAxisCode::ABS_MT_TRACKING_ID, 8), Some(&cal));
    assert_eq!(t.feed(syn(), Some(&cal)), None);
}

#[test]
fn single_touch_and_keys() {
    let cal = Calibration {
        min_x: 0,
        max_x: 100,
        min_y: 0,
        max_y: 100,
    };
    let mut t = evdev::TouchTracker::default();
    t.feed(ev(EventType::ABSOLUTE, AbsoluteAxisCode::ABS_X.0, 50), Some(&cal));
    t.feed(ev(EventType::ABSOLUTE, AbsoluteAxisCode::ABS_Y.0, 10), Some(&cal));
    t.feed(ev(EventType::KEY, KeyCode::BTN_TOUCH.0, 1), Some(&cal));
    let syn = ev(EventType::SYNCHRONIZATION, SynchronizationCode::SYN_REPORT.0, 0);
    assert_eq!(t.feed(syn, Some(&cal)), Some(RawInput::Touch { x: 0.5, y: 0.1 }));
    let key = t.feed(ev(EventType::KEY, KeyCode::KEY_F1.0, 1), None);
    assert_eq!(
        key,
        Some(RawInput::Key {
            key: "KEY_F1".into(),
            pressed: true
        })
    );
    assert_eq!(
        t.feed(ev(EventType::KEY, KeyCode::KEY_F1.0, 2), None),
        None,
        "auto-repeat value 2"
    );
}

#[test]
fn event_times_come_from_the_kernel_stamp() {
    use std::time::{Duration, Instant, SystemTime};
    // Read late: a release and the next press stamped 80 ms apart stay 80 ms apart, so a
    // busy station does not take the second press for contact bounce.
    let now = Instant::now();
    let at = event_instant(SystemTime::now() - Duration::from_millis(100));
    let age = now.saturating_duration_since(at);
    assert!(
        age >= Duration::from_millis(90) && age < Duration::from_millis(200),
        "{age:?}"
    );
    // A stamp from the future or from before the clock was set counts as now.
    for stamp in [
        SystemTime::now() + Duration::from_secs(60),
        SystemTime::now() - Duration::from_secs(3600),
    ] {
        assert!(event_instant(stamp) >= now);
    }
    let mut keys = KeyInterpreter::new(
        [("KEY_VOLUMEDOWN".to_string(), InputAction::VolumeDown)].into(),
        Default::default(),
        Duration::from_millis(800),
        Duration::from_millis(30),
    );
    let t0 = now;
    assert_eq!(keys.key("KEY_VOLUMEDOWN", true, t0), Some(InputAction::VolumeDown));
    assert_eq!(keys.key("KEY_VOLUMEDOWN", false, t0 + Duration::from_millis(80)), None);
    assert_eq!(
        keys.key("KEY_VOLUMEDOWN", true, t0 + Duration::from_millis(160)),
        Some(InputAction::VolumeDown)
    );
}
