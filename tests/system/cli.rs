//! The `doorway` binary: config checking with exit code 2, and a running station driven
//! through its control socket by `doorway call|answer|hangup|status`.

use crate::common::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn check_config_accepts_the_example() {
    let out = doorway_cli(&["check-config", "doorway.example.toml"]);
    assert!(out.status.success(), "{}", printed(&out));
    assert!(printed(&out).contains("ok"));
}

#[test]
fn check_config_names_file_line_and_field_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[station]\nname = \"Door\"\n\n[[contact]]\nname = \"Hall\"\nuri = \"not a uri\"\n",
    )
    .unwrap();
    let out = doorway_cli(&["check-config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", printed(&out));
    let msg = printed(&out);
    assert!(msg.contains(&format!("{}:6: contact.0.uri:", path.display())), "{msg}");
    assert!(msg.contains("sip:"), "the message says what is allowed: {msg}");

    std::fs::write(&path, "[station]\nname = \"Door\"\ncolour = \"red\"\n").unwrap();
    let out = doorway_cli(&["check-config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        printed(&out).contains(":3: station.colour: unknown field"),
        "{}",
        printed(&out)
    );

    let out = doorway_cli(&["check-config", "/nonexistent.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(printed(&out).contains("/nonexistent.toml"));
    let out = doorway_cli(&["run", "--config", "/nonexistent.toml"]);
    assert_eq!(out.status.code(), Some(2), "run refuses a bad config the same way");
}

#[test]
fn control_commands_without_a_station_say_so() {
    let out = doorway_cli(&["status", "--socket", "/nonexistent/doorway.sock"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(printed(&out).contains("is the station running?"), "{}", printed(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_and_control_a_station_from_the_command_line() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (
        doorway::api::loopback::free_sip_port(),
        doorway::api::loopback::free_sip_port(),
    );
    let (config, socket) = door_process_config(dir.path(), pa, pb);
    // Logging everything, to show that the station's key never reaches the log.
    let log = dir.path().join("door.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_doorway"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env("DOORWAY_LOG", "debug,rsipstack=debug")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let _log_on_failure = LogOnFailure(log.clone());
    let hall = Station::start(doorway::api::loopback::loopback_config(
        "Hall",
        pb,
        vec![doorway::api::loopback::contact("Door", pa)],
    ))
    .await;
    for _ in 0..100 {
        if socket.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = socket.to_str().unwrap();
    let out = doorway_cli(&["status", "--socket", s]);
    assert!(out.status.success(), "{}", printed(&out));
    assert!(printed(&out).contains("call: idle"), "{}", printed(&out));

    // Its identity: made at first start in the state directory, the key readable only
    // by the station's user, the same fingerprint from the station and from the file.
    use std::os::unix::fs::PermissionsExt;
    let key = dir.path().join(doorway::security::identity::KEY_FILE);
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let out = doorway_cli(&["identity", "--config", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", printed(&out));
    let identity_said = printed(&out);
    let json: serde_json::Value =
        serde_json::from_slice(&doorway_cli(&["status", "--json", "--socket", s]).stdout).unwrap();
    let fingerprint = json["security"]["fingerprint"].as_str().unwrap();
    assert!(identity_said.contains(fingerprint), "{identity_said}");
    assert!(
        identity_said.contains(json["security"]["code"].as_str().unwrap()),
        "{identity_said}"
    );
    let from_file = doorway::security::identity::Identity::read_certificate(dir.path()).unwrap();
    assert_eq!(from_file.to_string(), fingerprint);
    let out = doorway_cli(&["devices", "--config", config.to_str().unwrap()]);
    assert!(printed(&out).contains(fingerprint), "{}", printed(&out));
    // The key itself is in no output.
    let key_text = std::fs::read_to_string(&key).unwrap();
    let key_body = key_text.lines().nth(1).unwrap().to_string();
    let key_body = key_body.as_str();
    assert!(!identity_said.contains(key_body) && !printed(&out).contains("PRIVATE"));

    let out = doorway_cli(&["call", "Nobody", "--socket", s]);
    assert_eq!(out.status.code(), Some(1));
    assert!(printed(&out).contains("not a contact"), "{}", printed(&out));

    let out = doorway_cli(&["call", "Hall", "--socket", s]);
    assert!(out.status.success(), "{}", printed(&out));
    hall.wait(10, ringing).await;
    hall.send(doorway::station::Command::Answer);
    hall.wait(10, |st| active(st) && seen(st) >= 30).await;
    let out = doorway_cli(&["status", "--json", "--socket", s]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["call"]["state"], "active");
    assert!(json["media"]["frames_decoded"].as_u64().unwrap() > 0, "{json}");
    assert!(json["media"]["packets_received"].as_u64().unwrap() > 0);

    let out = doorway_cli(&["hangup", "--socket", s]);
    assert!(out.status.success());
    hall.wait(2, idle).await;

    // An incoming call answered from the command line.
    hall.handle.call("Door").await.unwrap().unwrap();
    for _ in 0..100 {
        if printed(&doorway_cli(&["status", "--socket", s])).contains("call: incoming") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(doorway_cli(&["answer", "--socket", s]).status.success());
    let st = hall.wait(10, active).await;
    assert!(active(&st));
    hall.send(doorway::station::Command::Hangup);

    // SIGTERM: clean exit, socket removed.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!socket.exists());
    hall.stop().await;
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("station identity"), "the log is empty?");
    assert!(
        !logged.contains(key_body) && !logged.contains("PRIVATE KEY"),
        "the key was logged"
    );
}

#[test]
fn devices_lists_every_family_and_says_what_is_missing() {
    let out = doorway_cli(&["devices"]);
    assert!(out.status.success(), "{}", printed(&out));
    let t = printed(&out);
    for family in ["Cameras", "Sound", "Displays", "Input"] {
        assert!(t.contains(family), "{family} missing from:\n{t}");
    }
    let json: serde_json::Value = serde_json::from_slice(&doorway_cli(&["devices", "--json"]).stdout).unwrap();
    let cameras = json["cameras"].as_array().unwrap();
    // Whatever this machine has, the text agrees with the JSON.
    assert_eq!(cameras.is_empty(), t.contains("no /dev/video* capture device"), "{t}");
}
