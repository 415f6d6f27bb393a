//! Trust among neighbours, in the same network namespaces as `neighbours.rs`: two
//! stations with no contacts pair from the list and call encrypted; a spoofer announcing
//! a paired station's name is listed apart and never called; a flood of 5,000 fake
//! stations leaves memory and the list bounded.

use super::neighbours::{call_with_pictures, lan_of, Expected, Neighbour};
use crate::common::printed;
use serde_json::Value;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `door` pairs with the station nearby named `name` from the list (`doorway pair
/// NAME`); both screens show the same code and both people confirm.
fn pair_from_the_list(door: &Neighbour, hall: &Neighbour, name: &str) {
    let pairing = std::process::Command::new(env!("CARGO_BIN_EXE_doorway"))
        .args(["pair", name, "--socket", door.socket.to_str().unwrap()])
        .env("DOORWAY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = |s: &Neighbour| s.status()["security"]["pairing"]["code"].as_str().map(str::to_string);
    let deadline = Instant::now() + Duration::from_secs(15);
    while code(door).is_none() || code(hall).is_none() {
        assert!(
            Instant::now() < deadline,
            "no code on both screens: {:#} / {:#}",
            door.status()["security"]["pairing"],
            hall.status()["security"]["pairing"]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(code(door), code(hall), "both screens show the same code");
    assert_eq!(hall.status()["security"]["pairing"]["contact"], door.name);
    for s in [&hall, &door] {
        let confirmed = crate::common::doorway_cli(&["pair-confirm", "--socket", s.socket.to_str().unwrap()]);
        assert!(confirmed.status.success(), "{}", printed(&confirmed));
    }
    let out = pairing.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", printed(&out));
}

/// Door calls its contact Hall, and Hall rings within 10 s.
fn calls_and_rings(door: &Neighbour, hall: &Neighbour) {
    let call = crate::common::doorway_cli(&["call", "Hall", "--socket", door.socket.to_str().unwrap()]);
    assert!(call.status.success(), "{}", printed(&call));
    let deadline = Instant::now() + Duration::from_secs(10);
    while hall.status()["call"]["state"] != "incoming" {
        assert!(
            Instant::now() < deadline,
            "Hall did not ring: {:#}",
            door.status()["call"]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Two stations with no contacts: Door pairs with Hall from the list by Hall's name,
/// both screens show the same code and both people confirm. Each becomes the other's
/// contact (written to its config file, on a free key), and Door's call to Hall is
/// encrypted, with pictures both ways.
#[test]
fn stations_with_no_contacts_pair_from_the_list_and_call_encrypted() {
    let (dir, lan) = lan_of("np", 2);
    let door = Neighbour::start(&lan, dir.path(), 1, "Front door", true);
    let hall = Neighbour::start(&lan, dir.path(), 2, "Hall", true);
    door.wait_for_listed(&hall, "10.77.0.2", 10);
    hall.wait_for_listed(&door, "10.77.0.1", 10);
    // With no contacts, each screen shows the stations nearby to pair with.
    for s in [&door, &hall] {
        assert_eq!(s.status()["screen"], "nearby", "{}", s.name);
    }
    pair_from_the_list(&door, &hall, "Hall");
    // Each is now the other's contact, paired, in its config file and on a free key.
    for (s, other) in [(&door, "Hall"), (&hall, "Front door")] {
        let file = std::fs::read_to_string(
            dir.path()
                .join(format!("{}.toml", s.name.to_lowercase().replace(' ', "-"))),
        )
        .unwrap();
        let config: toml::Table = toml::from_str(&file).unwrap();
        let contact = &config["contact"].as_array().unwrap()[0];
        assert_eq!(contact["name"].as_str(), Some(other), "{file}");
        assert_eq!(contact["station"].as_str(), Some(other), "{file}");
        assert_eq!(contact["key"].as_str(), Some("KEY_F1"), "{file}");
        let listed = s.status()["neighbours"].clone();
        assert_eq!(listed[0]["contact"], other, "{listed:#}");
        // The new contact's button is on the idle screen at once.
        let deadline = Instant::now() + Duration::from_secs(5);
        while s.status()["screen"] != "idle" {
            assert!(Instant::now() < deadline, "{}: {}", s.name, s.status()["screen"]);
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let paired = Expected {
        hall_on_door: "Hall",
        door_on_hall: "Front door",
        encrypted: true,
    };
    call_with_pictures(&door, &hall, &paired, 20);
}

/// Door is paired with Hall. A spoofer on the LAN announces itself as "Hall" with
/// another certificate: Door lists it as another station, not a contact, and Door's
/// calls to Hall go to Hall, never to it. With Hall gone, Door's call fails rather than
/// reach the spoofer.
#[test]
fn a_spoofer_announcing_a_paired_name_is_listed_apart_and_never_called() {
    let (dir, lan) = lan_of("ns", 3);
    let door = Neighbour::start(&lan, dir.path(), 1, "Front door", true);
    let mut hall = Neighbour::start(&lan, dir.path(), 2, "Hall", true);
    door.wait_for_listed(&hall, "10.77.0.2", 10);
    hall.wait_for_listed(&door, "10.77.0.1", 10);
    pair_from_the_list(&door, &hall, "Hall");
    let spoofer_dir = dir.path().join("spoofer");
    std::fs::create_dir(&spoofer_dir).unwrap();
    let spoofer = Neighbour::start(&lan, &spoofer_dir, 3, "Hall", true);
    door.wait_for_listed(&spoofer, "10.77.0.3", 10);
    let listed = door.status()["neighbours"].clone();
    let halls: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["name"] == "Hall")
        .collect();
    assert_eq!(halls.len(), 2, "{listed:#}");
    let spoofed = halls.iter().find(|n| n["address"] == "10.77.0.3").unwrap();
    assert_eq!(
        spoofed["contact"],
        Value::Null,
        "the spoofer is not the contact: {listed:#}"
    );
    let real = halls.iter().find(|n| n["address"] == "10.77.0.2").unwrap();
    assert_eq!(real["contact"], "Hall", "{listed:#}");
    assert_ne!(spoofed["fingerprint"], real["fingerprint"]);
    calls_and_rings(&door, &hall);
    assert_eq!(spoofer.status()["call"]["state"], "idle", "the spoofer never rings");
    let calling = door.status()["call"].clone();
    assert!(
        calling["peer"]["uri"]
            .as_str()
            .unwrap_or_default()
            .contains("10.77.0.2"),
        "Door calls Hall where Hall is: {calling:#}"
    );
    let hangup = crate::common::doorway_cli(&["hangup", "--socket", door.socket.to_str().unwrap()]);
    assert!(hangup.status.success(), "{}", printed(&hangup));
    // Hall is gone: Door's call to it fails, and the spoofer still never rings.
    let _ = hall.child.kill();
    let _ = hall.child.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    while door.status()["call"]["state"] != "idle" {
        assert!(Instant::now() < deadline, "the first call did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = crate::common::doorway_cli(&["call", "Hall", "--socket", door.socket.to_str().unwrap()]);
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        let calling = door.status()["call"].clone();
        let uri = calling["peer"]["uri"].as_str().unwrap_or_default().to_string();
        assert!(!uri.contains("10.77.0.3"), "Door never calls the spoofer: {calling:#}");
        assert_eq!(spoofer.status()["call"]["state"], "idle", "the spoofer never rings");
        std::thread::sleep(Duration::from_millis(200));
    }
}
/// Anonymous memory of process `pid`, in kB.
fn anon_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// A host on the LAN announces 5,000 fake stations, each with a certificate of its own
/// (mdns-sd, as a real station announces). Door's memory grows by under 10 MB, its list
/// stays bounded, its paired Hall keeps its place, and a call to Hall still rings it.
#[test]
fn five_thousand_fake_stations_leave_memory_bounded_and_the_list_usable() {
    const FAKES: u32 = 5000;
    let (dir, lan) = lan_of("nf", 3);
    let door = Neighbour::start(&lan, dir.path(), 1, "Front door", true);
    let hall = Neighbour::start(&lan, dir.path(), 2, "Hall", true);
    door.wait_for_listed(&hall, "10.77.0.2", 10);
    hall.wait_for_listed(&door, "10.77.0.1", 10);
    pair_from_the_list(&door, &hall, "Hall");
    std::thread::sleep(Duration::from_secs(1));
    let before = anon_kb(door.child.id());
    println!("Door's heap before the flood: {}", door.status()["heap"]);
    let flooding = std::sync::atomic::AtomicBool::new(true);
    let flooder = {
        let (lan, flooding) = (&lan, &flooding);
        std::thread::scope(|scope| {
            let flood = scope.spawn(move || {
                lan.enter_on_this_thread(3);
                let daemon = mdns_sd::ServiceDaemon::new().unwrap();
                for i in 0..FAKES {
                    let mut fingerprint = [7u8; 32];
                    fingerprint[..4].copy_from_slice(&i.to_be_bytes());
                    let fake = doorway::discovery::Announced {
                        name: format!("Fake {i}"),
                        user: format!("fake{i}"),
                        fingerprint: doorway::base::fingerprint::Fingerprint(fingerprint),
                        sip_port: 5060,
                        tls_port: 5061,
                    };
                    let properties = fake.properties();
                    let info = mdns_sd::ServiceInfo::new(
                        doorway::discovery::record::DOORWAY_SERVICE,
                        &fake.name,
                        &format!("fake{i}.local."),
                        "10.77.0.3",
                        5060,
                        &properties[..],
                    )
                    .unwrap();
                    // The daemon takes commands through a bounded channel: wait for room.
                    loop {
                        match daemon.register(info.clone()) {
                            Err(mdns_sd::Error::Again) => std::thread::sleep(Duration::from_millis(5)),
                            done => break done.unwrap(),
                        }
                    }
                }
                // Announced; held while Door is looked at.
                while flooding.load(std::sync::atomic::Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(100));
                }
                let _ = daemon.shutdown();
            });
            // Door hears the flood: its list fills, and stays full.
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let listed = door.status()["neighbours"].as_array().unwrap().len();
                if listed >= doorway::discovery::neighbours::MAX_NEIGHBOURS {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the flood did not reach Door: {listed} listed"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
            // The rest of the flood arrives (registering 5,000 takes a while), and Door
            // listens afresh once it has heard enough of it, to be flooded again by the
            // answers to its new query.
            std::thread::sleep(Duration::from_secs(15));
            let after = anon_kb(door.child.id());
            println!("Door's heap after the flood: {}", door.status()["heap"]);
            let asked = Instant::now();
            let listed = door.status()["neighbours"].clone();
            let answered_in = asked.elapsed();
            flooding.store(false, std::sync::atomic::Ordering::SeqCst);
            flood.join().unwrap();
            (before, after, listed, answered_in)
        })
    };
    let (before, after, listed, answered_in) = flooder;
    println!(
        "{FAKES} fake stations: Door's anonymous memory {:.1} -> {:.1} MB; {} listed; status in {} ms",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        listed.as_array().unwrap().len(),
        answered_in.as_millis()
    );
    assert!(after < before + 10 * 1024, "memory grew by {} kB", after - before);
    let log = std::fs::read_to_string(&door.log.0).unwrap();
    assert!(
        log.contains("a flood of station announcements"),
        "the flood reached the limit of what Door takes"
    );
    let entries = listed.as_array().unwrap();
    assert_eq!(entries.len(), doorway::discovery::neighbours::MAX_NEIGHBOURS, "bounded");
    assert!(
        entries.iter().any(|n| n["name"] == "Hall" && n["contact"] == "Hall"),
        "the paired station keeps its place: {listed:#}"
    );
    calls_and_rings(&door, &hall);
}
