//! Scenario 8: two new stations, with no contact and no address in either config, find
//! each other on their network, pair from the list on their screens, and call.

use super::screen::{Shot, NEARBY_TEAL};
use super::station::{Pair, Station};
use doorway::ui::{NearbyStation, Screen, UiAction};
use serde_json::Value;
use std::time::Instant;

/// The list of stations nearby: teal buttons below the title.
fn shows_nearby(shot: &Shot) -> bool {
    shot.share((0.0, 0.3, 1.0, 0.9), NEARBY_TEAL) > 0.5
}

/// Waits until `station` lists `name` nearby, not as a contact; returns its entry.
fn wait_listed(station: &mut Station, name: &str, secs: f64) -> Value {
    let listed = |s: &Value| {
        s["neighbours"]
            .as_array()
            .and_then(|list| list.iter().find(|n| n["name"] == name).cloned())
    };
    let status = station.wait_until(secs, &format!("listing {name} nearby"), |s| listed(s).is_some());
    let entry = listed(&status).expect("listed");
    assert_eq!(entry["contact"], Value::Null, "{name} is not a contact yet: {entry:#}");
    entry
}

#[test]
fn new_stations_find_each_other_pair_from_the_list_and_call() {
    let _serial = super::serial();
    let mut pair = Pair::boot_strangers("8-neighbours");
    let booted = Instant::now();
    // A first boot with no contact shows the stations nearby, not an empty screen.
    let hall = wait_listed(&mut pair.door, "Hall", 30.0);
    wait_listed(&mut pair.hall, "Door", 30.0);
    println!(
        "both list each other {:.1} s after both were ready",
        booted.elapsed().as_secs_f64()
    );
    let code = hall["code"].as_str().expect("a short code").to_string();
    for station in [&mut pair.door, &mut pair.hall] {
        station.wait_until(10.0, "showing the stations nearby", |s| s["screen"] == "nearby");
    }
    let shot = pair.door.wait_screen(10.0, "the list of stations nearby", shows_nearby);
    let list = Screen::Nearby {
        stations: vec![NearbyStation {
            name: "Hall".into(),
            code: code.clone(),
        }],
        can_go_back: false,
    };
    // The door's owner touches "Hall": both screens show one code, both confirm.
    pair.door.touch_button(&shot, &list, UiAction::PairWith(code));
    super::confirm_the_same_code(&mut pair);
    println!("paired {:.1} s after both were ready", booted.elapsed().as_secs_f64());
    // Each is now the other's contact, written to its config, on its first key; the
    // idle screen shows it at once.
    for (station, other) in [(&mut pair.door, "Hall"), (&mut pair.hall, "Door")] {
        station.wait_screen(20.0, "idle with the new contact", super::shows_idle);
        let config = std::fs::read_to_string(station.guest.dir.join("station.toml")).expect("its config");
        assert!(
            config.contains(&format!("name = \"{other}\"")) && config.contains("KEY_F1"),
            "{}: {other} is not in the config on F1:\n{config}",
            station.name
        );
        assert!(
            !config.contains("10.0.0."),
            "{}: an address was written to the config:\n{config}",
            station.name
        );
    }
    super::secure_call_with_tones(&mut pair);
    let took = super::hang_up_from_hall(&mut pair);
    assert!(took < 5.0, "both screens idle only after {took:.2} s");
}
