use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/doorway/doorway.toml"))
}

fn invalid(text: &str) -> (usize, String, String) {
    match parse(text) {
        Err(ConfigError::Invalid {
            line, field, message, ..
        }) => (line, field, message),
        other => panic!("expected an invalid config, got {other:?}"),
    }
}

const GOOD: &str = r#"
[station]
name = "Front door"

[[contact]]
name = "Kitchen"
uri = "sip:kitchen@192.168.1.20:5060"
auto_answer = true

[[contact]]
name = "Garage"
uri = "192.168.1.30"
"#;

#[test]
fn minimal_config_gets_defaults() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.station.listen, "0.0.0.0:5060".parse().unwrap());
    assert_eq!(c.station.user, "doorway");
    assert!(!c.station.allow_unknown_callers);
    assert_eq!(c.contacts.len(), 2);
    assert!(c.contacts[0].auto_answer && !c.contacts[1].auto_answer);
    assert_eq!(c.devices.camera, "test");
    assert_eq!(
        (c.media.width, c.media.height, c.media.fps, c.media.jitter_ms),
        (640, 360, 30, 20)
    );
    assert_eq!(c.contact("kitchen").unwrap().name, "Kitchen");
}

#[test]
fn unknown_key_names_line_and_field() {
    let text = GOOD.replace("auto_answer = true", "auto_answer = true\nring_tone = \"bell\"");
    let (line, field, message) = invalid(&text);
    assert_eq!(line, 9);
    assert_eq!(field, "contact.0.ring_tone");
    assert!(message.contains("unknown field"), "{message}");
}

#[test]
fn wrong_type_names_line() {
    let text = GOOD.replace("auto_answer = true", "auto_answer = \"yes\"");
    let (line, field, _) = invalid(&text);
    assert_eq!((line, field.as_str()), (8, "contact.0.auto_answer"));
}

#[test]
fn bad_contact_uri_names_its_line() {
    let text = GOOD.replace("uri = \"192.168.1.30\"", "uri = \"garage.local:5060\"");
    let (line, field, message) = invalid(&text);
    assert_eq!((line, field.as_str()), (12, "contact.1.uri"));
    assert!(
        message.contains("IP address") || message.contains("SIP URI"),
        "{message}"
    );
}

#[test]
fn duplicate_contact_names_are_refused() {
    let text = GOOD.replace("name = \"Garage\"", "name = \"kitchen\"");
    let (line, field, _) = invalid(&text);
    assert_eq!((line, field.as_str()), (11, "contact.1.name"));
}

#[test]
fn unknown_device_backend_lists_allowed() {
    let text = format!("{GOOD}\n[devices]\ncamera = \"webcam\"\n");
    let (line, field, message) = invalid(&text);
    assert_eq!(field, "devices.camera");
    assert_eq!(line, 15);
    assert!(message.contains("allowed: test"), "{message}");
}

#[test]
fn missing_station_name_is_reported() {
    let (_, field, message) = invalid("[station]\nuser = \"door\"\n");
    assert!(
        field.contains("station") || message.contains("name"),
        "{field}: {message}"
    );
}

#[test]
fn media_ranges_are_checked() {
    for (key, value) in [
        ("fps", "0"),
        ("width", "641"),
        ("jitter_ms", "5000"),
        ("audio_codecs", "[\"g729\"]"),
    ] {
        let text = format!("{GOOD}\n[media]\n{key} = {value}\n");
        let (line, field, _) = invalid(&text);
        assert_eq!(field, format!("media.{key}"));
        assert_eq!(line, 15);
    }
}

#[test]
fn unreadable_file_says_so() {
    let err = Config::load(Path::new("/nonexistent/doorway.toml")).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().contains("/nonexistent/doorway.toml"));
}

#[test]
fn key_maps_are_checked() {
    let text = format!("{GOOD}\n[input]\nkeys = {{ KEY_F1 = \"call:Kitchen\", KEY_ENTER = \"answer\" }}\nlong_press = {{ KEY_ENTER = \"hangup\" }}\n");
    let c = parse(&text).unwrap();
    assert_eq!(c.input.keys.len(), 2);
    for (bad, word) in [
        ("keys = { F1 = \"answer\" }", "not a key name"),
        ("keys = { KEY_F1 = \"ring\" }", "not an action"),
        ("keys = { KEY_F1 = \"call:Nobody\" }", "no contact or group is named"),
        ("backend = \"usb\"", "allowed: evdev, none"),
    ] {
        let (line, field, message) = invalid(&format!("{GOOD}\n[input]\n{bad}\n"));
        assert_eq!(line, 15, "{bad}");
        assert!(field.starts_with("input."), "{field}");
        assert!(message.contains(word), "{bad}: {message}");
    }
    let text = GOOD.replace("auto_answer = true", "auto_answer = true\nkey = \"F2\"");
    let (line, field, _) = invalid(&text);
    assert_eq!((line, field.as_str()), (9, "contact.0.key"));
}

#[test]
fn quick_replies_are_short_single_lines() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.station.quick_replies, default_quick_replies());
    let text = "[station]\nname = \"Door\"\nquick_replies = [\"Coming!\",\n  \"line one\\nline two\"]\n";
    let (line, field, message) = invalid(text);
    assert_eq!((line, field.as_str()), (4, "station.quick_replies.1"), "{message}");
    let text = "[station]\nname = \"Door\"\nquick_replies = [\"a\", \"b\", \"c\", \"d\", \"e\"]\n";
    let (_, field, message) = invalid(text);
    assert_eq!(field, "station.quick_replies");
    assert!(message.contains("at most 4"), "{message}");
    let text = "[station]\nname = \"Door\"\nquick_replies = []\n";
    assert!(parse(text).unwrap().station.quick_replies.is_empty());
}

#[test]
fn ring_groups_name_contacts() {
    let good =
        format!("{GOOD}\n[[group]]\nname = \"Everyone\"\nmembers = [\"Kitchen\", \"Garage\"]\nkey = \"KEY_F5\"\n");
    let c = parse(&good).unwrap();
    assert_eq!(c.group("everyone").unwrap().members.len(), 2);
    let text = good.replace("\"Garage\"]", "\"Cellar\"]");
    let (line, field, message) = invalid(&text);
    assert_eq!(field, "group.0.members.1", "{message}");
    assert_eq!(line, 16);
    assert!(message.contains("Cellar"), "{message}");
    let (_, field, message) = invalid(&good.replace("\"Kitchen\", \"Garage\"", "\"Kitchen\""));
    assert_eq!(field, "group.0.members");
    assert!(message.contains("2 to 8"), "{message}");
    let (_, field, _) = invalid(&good.replace("name = \"Everyone\"", "name = \"kitchen\""));
    assert_eq!(field, "group.0.name");
    let keyed = format!("{good}\n[input]\nkeys = {{ KEY_F6 = \"call:Everyone\" }}\n");
    assert!(parse(&keyed).is_ok());
}

#[test]
fn door_lock_settings_are_checked() {
    let c = parse(GOOD).unwrap();
    assert_eq!((c.door.relay.as_deref(), c.door.digit()), (None, '#'));
    let door = |body: &str| format!("{GOOD}\n[door]\n{body}\n");
    for (body, field, says) in [
        ("relay = \"relay-board\"", "door.relay", "allowed: \"gpio\", \"usb\""),
        ("relay = \"gpio\"", "door.line", "needs its line"),
        ("relay = \"usb\"\ndevice = \"ttyUSB0\"", "door.device", "/dev/ttyUSB0"),
        (
            "relay = \"usb\"\ndevice = \"/dev/../tmp/x\"",
            "door.device",
            "/dev/ttyUSB0",
        ),
        ("relay_number = 9", "door.relay_number", "1 to 8"),
        ("open_seconds = 0", "door.open_seconds", "0.2 to 60"),
        ("digit = \"##\"", "door.digit", "one DTMF digit"),
        ("digit = \"x\"", "door.digit", "one DTMF digit"),
    ] {
        let (line, f, message) = invalid(&door(body));
        assert_eq!(f, field, "{body}");
        assert!(message.contains(says), "{body}: {message}");
        assert!(line > GOOD.lines().count(), "{body}: line {line}");
    }
    let ok = parse(&door(
        "relay = \"gpio\"\nline = 17\nactive_low = true\nopen_seconds = 2.5\ndigit = \"*\"",
    ))
    .unwrap();
    assert_eq!((ok.door.line, ok.door.digit()), (Some(17), '*'));
    assert_eq!(ok.door.hold(), std::time::Duration::from_millis(2500));
}

#[test]
fn addresses_of_record_need_an_account() {
    let aor = GOOD.replace("sip:kitchen@192.168.1.20:5060", "sip:kitchen@flat12.example");
    let (line, field, message) = invalid(&aor);
    assert_eq!((line, field.as_str()), (7, "contact.0.uri"));
    assert!(message.contains("with an [account]"), "{message}");
    let account = "\n[account]\nregistrar = \"sip:flat12.example\"\nproxy = \"192.168.1.10:5060\"\nuser = \"door\"\n";
    let c = parse(&format!("{aor}{account}")).unwrap();
    assert_eq!(c.account.aor().as_deref(), Some("sip:door@flat12.example"));
    assert_eq!(c.account.transport, AccountTransport::Udp);
    let (line, field, message) = invalid(&format!("{aor}{}", account.replace("192.168.1.10:5060", "pbx.lan")));
    assert_eq!(field, "account.proxy");
    assert_eq!(line, aor.lines().count() + 4, "{message}");
    let (_, field, _) = invalid(&format!("{aor}{account}transport = \"tls\"\n"));
    assert_eq!(field, "account.transport");
    let bad_aor = aor.replace("sip:kitchen@flat12.example", "sip:kitchen@flat12.example:5070");
    let (_, field, message) = invalid(&format!("{bad_aor}{account}"));
    assert_eq!(field, "contact.0.uri");
    assert!(message.contains("sip:USER@DOMAIN"), "{message}");
}

#[test]
fn strings_that_reach_sip_are_one_line_and_bounded() {
    let with_name = |name: &str| GOOD.replace("name = \"Front door\"", &format!("name = {name:?}"));
    let (_, field, message) = invalid(&with_name("Pen door\"\r\nX-Injected: yes"));
    assert_eq!(field, "station.name");
    assert!(message.contains("one line"), "{message}");
    let (_, field, message) = invalid(&with_name(&"x".repeat(65)));
    assert_eq!(
        (field.as_str(), message.as_str()),
        ("station.name", "at most 64 characters")
    );
    let (_, field, _) = invalid(&GOOD.replace("name = \"Kitchen\"", "name = \"Kit\\u0000chen\""));
    assert_eq!(field, "contact.0.name");
    // Quotes are fine in a name: they are escaped where the name becomes a display name.
    let quoted = parse(&with_name("The \"big\" door")).unwrap();
    assert_eq!(
        crate::call::ua::quoted_display_name(&quoted.station.name),
        "The \\\"big\\\" door"
    );
}
