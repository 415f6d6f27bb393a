//! Neighbours without addresses: stations as `doorway run` processes, each in a network
//! namespace of its own on a bridged LAN (tests/common/netns.rs), announce themselves
//! over mDNS and list each other by name, short code and address, with no contact and
//! no address in either config; a station with `announce = false` is not found. A
//! contact given by its station's name is called with no address, and still after that
//! station moves to a new address. `neighbours_trust.rs` pairs, spoofs and floods.

use crate::common::netns::Lan;
use crate::common::{printed, LogOnFailure};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A station process on host `n` of the LAN, named `name`, with no contacts.
pub struct Neighbour {
    pub name: &'static str,
    pub child: Child,
    pub socket: PathBuf,
    pub log: LogOnFailure,
}

impl Neighbour {
    pub fn start(lan: &Lan, dir: &Path, n: u8, name: &'static str, announce: bool) -> Neighbour {
        Self::start_with(lan, dir, n, name, announce, "")
    }

    /// As [`Self::start`], with `more` (contacts, say) at the end of its config.
    pub fn start_with(lan: &Lan, dir: &Path, n: u8, name: &'static str, announce: bool, more: &str) -> Neighbour {
        let id = name.to_lowercase().replace(' ', "-");
        let socket = dir.join(format!("{id}.sock"));
        let config = dir.join(format!("{id}.toml"));
        std::fs::write(
            &config,
            format!(
                "[station]\nname = \"{name}\"\nuser = \"{id}\"\nlisten = \"0.0.0.0:5060\"\ncontrol_socket = \"{}\"\n\
                 state_dir = \"{}\"\n\n[web]\nenabled = false\n\n[discovery]\nannounce = {announce}\n\n{more}",
                socket.display(),
                dir.join(&id).display(),
            ),
        )
        .unwrap();
        let log = dir.join(format!("{id}.log"));
        let shown = LogOnFailure(log.clone());
        let mut child = lan
            .command(n, env!("CARGO_BIN_EXE_doorway"))
            .args(["run", "--config"])
            .arg(&config)
            .env("DOORWAY_LOG", "info,doorway::discovery=debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("doorway run in a namespace");
        let started = Instant::now();
        while !socket.exists() {
            assert!(started.elapsed() < Duration::from_secs(30), "{name} did not start");
            assert!(matches!(child.try_wait(), Ok(None)), "{name} has exited");
            std::thread::sleep(Duration::from_millis(50));
        }
        Neighbour {
            name,
            child,
            socket,
            log: shown,
        }
    }

    pub fn status(&self) -> Value {
        crate::common::status_json(self.socket.to_str().unwrap())
    }

    /// Waits until this station lists `other` at `address`.
    pub fn wait_for_listed(&self, other: &Neighbour, address: &str, secs: u64) {
        let code = other.status()["security"]["code"].as_str().unwrap().to_string();
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.status()["neighbours"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| n["code"] == code.as_str() && n["address"] == address)
        {
            assert!(
                Instant::now() < deadline,
                "{} did not hear {} at {address} (it gives {}); it lists {:#}",
                self.name,
                other.name,
                other.status()["address"],
                self.status()["neighbours"]
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until this station lists `other`: its name, code and address; what it
    /// lists then.
    fn wait_for(&self, other: &Neighbour, address: &str, secs: u64) -> Value {
        let code = other.status()["security"]["code"].as_str().unwrap().to_string();
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let listed = self.status()["neighbours"].clone();
            // Listed with the address it was last heard at (an IPv6 answer may come
            // first, the IPv4 one a moment later).
            let found = listed
                .as_array()
                .into_iter()
                .flatten()
                .find(|n| n["code"] == code.as_str() && n["address"] == address);
            if let Some(n) = found {
                assert_eq!(n["name"], other.name, "{listed:#}");
                assert_eq!(n["contact"], Value::Null, "not a contact: {listed:#}");
                return listed;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not hear {} within {secs} s: {listed:#}",
                self.name,
                other.name
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Neighbour {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn stations_with_no_addresses_find_each_other_and_a_silent_one_is_not_found() {
    let (dir, lan) = lan_of("nb", 3);
    let door = Neighbour::start(&lan, dir.path(), 1, "Front door", true);
    let hall = Neighbour::start(&lan, dir.path(), 2, "Hall", true);
    let attic = Neighbour::start(&lan, dir.path(), 3, "Attic", false);
    let started = Instant::now();
    door.wait_for(&hall, "10.77.0.2", 10);
    let listed = hall.wait_for(&door, "10.77.0.1", 10);
    println!(
        "each listed the other {:.1} s after both started",
        started.elapsed().as_secs_f64()
    );
    // The silent station hears both, and neither lists it.
    attic.wait_for(&door, "10.77.0.1", 10);
    attic.wait_for(&hall, "10.77.0.2", 10);
    assert_eq!(listed.as_array().unwrap().len(), 1, "only Front door: {listed:#}");
    assert_eq!(door.status()["neighbours"].as_array().unwrap().len(), 1);
    let printed = printed(&crate::common::doorway_cli(&[
        "neighbours",
        "--socket",
        hall.socket.to_str().unwrap(),
    ]));
    assert!(
        printed.contains("Front door") && printed.contains("10.77.0.1") && printed.contains("not a contact"),
        "{printed}"
    );
}

/// Door and Hall, each knowing the other only by the name its station announces.
fn door_and_hall_by_name(lan: &Lan, dir: &Path) -> (Neighbour, Neighbour) {
    let door = Neighbour::start_with(
        lan,
        dir,
        1,
        "Front door",
        true,
        "[[contact]]\nname = \"Hall\"\nstation = \"Hall\"\n",
    );
    let hall = Neighbour::start_with(
        lan,
        dir,
        2,
        "Hall",
        true,
        "[[contact]]\nname = \"Door\"\nstation = \"Front door\"\nauto_answer = true\n",
    );
    (door, hall)
}

/// How each station knows the other in a call: Hall's contact name on Door, Door's on
/// Hall, and whether the call must be encrypted.
pub struct Expected<'a> {
    pub hall_on_door: &'a str,
    pub door_on_hall: &'a str,
    pub encrypted: bool,
}

/// Door calls Hall, Hall answers (by itself, or as a person does when it rings), and the
/// call carries pictures both ways, each side knowing who the other is as `expected`;
/// then Door hangs up.
pub fn call_with_pictures(door: &Neighbour, hall: &Neighbour, expected: &Expected, secs: u64) {
    let call = crate::common::doorway_cli(&["call", expected.hall_on_door, "--socket", door.socket.to_str().unwrap()]);
    assert!(call.status.success(), "{}", printed(&call));
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (d, h) = (door.status(), hall.status());
        if h["call"]["state"] == "incoming" {
            let _ = crate::common::doorway_cli(&["answer", "--socket", hall.socket.to_str().unwrap()]);
        }
        let frames = |s: &Value| s["media"]["frames_decoded"].as_u64().unwrap_or(0);
        if d["call"]["state"] == "active" && frames(&d) > 10 && frames(&h) > 10 {
            assert_eq!(d["call"]["peer"]["contact"], expected.hall_on_door, "{:#}", d["call"]);
            assert_eq!(h["call"]["peer"]["contact"], expected.door_on_hall, "{:#}", h["call"]);
            for s in [&d, &h] {
                assert_eq!(s["call"]["peer"]["secure"], expected.encrypted, "{:#}", s["call"]);
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no call with pictures: {:#} / {:#}",
            d["call"],
            h["call"]
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let hangup = crate::common::doorway_cli(&["hangup", "--socket", door.socket.to_str().unwrap()]);
    assert!(hangup.status.success(), "{}", printed(&hangup));
    let deadline = Instant::now() + Duration::from_secs(10);
    while door.status()["call"]["state"] != "idle" || hall.status()["call"]["state"] != "idle" {
        assert!(Instant::now() < deadline, "the call did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Door and Hall by name, as [`door_and_hall_by_name`] configures them.
const BY_NAME: Expected = Expected {
    hall_on_door: "Hall",
    door_on_hall: "Door",
    encrypted: false,
};

/// A LAN of `hosts` hosts (tests/common/netns.rs), tagged `tag`, and a folder for its
/// stations.
pub fn lan_of(tag: &str, hosts: u8) -> (tempfile::TempDir, Lan) {
    let dir = tempfile::tempdir().unwrap();
    let mut lan = Lan::new(tag);
    for n in 1..=hosts {
        lan.add_host(n);
    }
    (dir, lan)
}

/// Door knows Hall only by the name Hall's station announces: no address in either
/// config. Door calls it, and the call carries pictures both ways over the LAN.
#[test]
fn a_contact_given_by_its_station_name_is_called_with_no_address() {
    let (dir, lan) = lan_of("nc", 2);
    let (door, hall) = door_and_hall_by_name(&lan, dir.path());
    door.wait_for_listed(&hall, "10.77.0.2", 10);
    hall.wait_for_listed(&door, "10.77.0.1", 10);
    call_with_pictures(&door, &hall, &BY_NAME, 20);
}

/// Hall gets a new address (a new DHCP lease after a power cut), with no change to
/// either config: within 5 s Door calls it there, and each still knows the other.
#[test]
fn a_neighbour_that_moves_is_called_at_its_new_address_within_five_seconds() {
    let (dir, lan) = lan_of("nm", 2);
    let (door, hall) = door_and_hall_by_name(&lan, dir.path());
    door.wait_for_listed(&hall, "10.77.0.2", 10);
    hall.wait_for_listed(&door, "10.77.0.1", 10);
    call_with_pictures(&door, &hall, &BY_NAME, 20);
    lan.readdress(2, 2, 12);
    let moved = Instant::now();
    door.wait_for_listed(&hall, "10.77.0.12", 5);
    println!(
        "Door listed Hall at its new address {:.1} s after it moved",
        moved.elapsed().as_secs_f64()
    );
    call_with_pictures(&door, &hall, &BY_NAME, 20);
    assert!(
        hall.status()["address"] == "10.77.0.12",
        "Hall gives its new address: {}",
        hall.status()["address"]
    );
}
