//! A call over a bad Wi-Fi, the short form of `cargo bench --bench impaired`: two
//! stations in network namespaces joined by a wire that loses 5% of the media and
//! delays each packet by 0 to 60 ms (tests/common/impair.rs). The call goes on with
//! pictures both ways; each station conceals the sound it lost (its count in `doorway
//! status`), sends Opus in-band FEC for the loss it measures, and its audio jitter
//! buffer waits longer than on a clean LAN. The scores
//! are the bench's, not checked here.

use crate::common::impair::{Condition, Wire};
use crate::common::netns::Lan;
use crate::neighbours::Neighbour;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The wait the stations are configured with (the default), which they lengthen.
const CONFIGURED_WAIT_MS: u64 = 20;

/// Door calls Hall over a wire between two namespaces, and both have pictures.
struct Call {
    door: Neighbour,
    hall: Neighbour,
    wire: Wire,
    _lan: Lan,
    _dir: tempfile::TempDir,
}

impl Call {
    fn over(lan_name: &str, condition: Condition) -> Call {
        let dir = tempfile::tempdir().unwrap();
        let mut lan = Lan::new(lan_name);
        let (a, b) = (lan.add_tap_host(1), lan.add_tap_host(2));
        let wire = Wire::between(a, b, condition);
        let contact = |name: &str, n: u8, answers: bool| {
            format!(
                "[[contact]]\nname = \"{name}\"\nuri = \"sip:{}@10.77.0.{n}:5060\"\nauto_answer = {answers}\n",
                name.to_lowercase()
            )
        };
        let door = Neighbour::start_with(&lan, dir.path(), 1, "Door", false, &contact("Hall", 2, false));
        let hall = Neighbour::start_with(&lan, dir.path(), 2, "Hall", false, &contact("Door", 1, true));
        let call = crate::common::doorway_cli(&["call", "Hall", "--socket", door.socket.to_str().unwrap()]);
        assert!(call.status.success(), "{}", crate::common::printed(&call));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !{
            let (d, h) = (door.status(), hall.status());
            d["call"]["state"] == "active" && frames(&d) > 10 && frames(&h) > 10
        } {
            assert!(Instant::now() < deadline, "no call with pictures over the bad link");
            std::thread::sleep(Duration::from_millis(200));
        }
        Call {
            door,
            hall,
            wire,
            _lan: lan,
            _dir: dir,
        }
    }
}

fn frames(s: &Value) -> u64 {
    s["media"]["frames_decoded"].as_u64().unwrap_or(0)
}

#[test]
fn a_call_over_a_lossy_jittery_link_conceals_what_it_lost_and_waits_longer() {
    let call = Call::over(
        "bw",
        Condition {
            loss: 0.05,
            jitter_ms: 30,
            ..Condition::default()
        },
    );
    let (door, hall, wire) = (&call.door, &call.hall, &call.wire);
    let before = [frames(&door.status()), frames(&hall.status())];
    std::thread::sleep(Duration::from_secs(8));
    let lost = wire.counts.lost.load(std::sync::atomic::Ordering::Relaxed);
    assert!(lost > 0, "the wire lost nothing");
    for (station, before) in [door, hall].into_iter().zip(before) {
        let s = station.status();
        let m = &s["media"];
        println!(
            "{}: {} audio packets concealed, FEC for {}% loss, audio buffer {} ms, {} video packets lost, \
             {} asked for again, {} repairs received, {} sent again, {} pictures in 8 s",
            station.name,
            m["audio_packets_concealed"],
            m["audio_fec_percent"],
            m["audio_buffer_ms"],
            m["video_packets_lost"],
            m["video_packets_asked_again"],
            m["video_repairs_received"],
            m["video_packets_resent"],
            frames(&s) - before
        );
        for count in [
            "video_packets_asked_again",
            "video_repairs_received",
            "video_packets_resent",
        ] {
            assert!(
                m[count].as_u64().unwrap_or(0) > 0,
                "{}: no retransmission ({count}): {m:#}",
                station.name
            );
        }
        assert_eq!(s["call"]["state"], "active", "{}: the call did not hold", station.name);
        assert!(
            m["audio_packets_concealed"].as_u64().unwrap_or(0) > 0,
            "{}: no lost sound was concealed: {m:#}",
            station.name
        );
        assert!(
            m["audio_fec_percent"].as_u64().is_some_and(|p| p >= 3),
            "{}: no FEC sent for the loss: {m:#}",
            station.name
        );
        assert!(
            m["audio_buffer_ms"].as_u64().unwrap_or(0) > CONFIGURED_WAIT_MS,
            "{}: the jitter buffer did not adapt: {m:#}",
            station.name
        );
        assert!(frames(&s) > before + 30, "{}: the picture stopped: {m:#}", station.name);
    }
    println!("the wire lost {lost} media packets");
}

/// Under a cap below what the stations send, the loss each reports of the other's video
/// lowers the other's bitrate within seconds; when the cap goes, the bitrate climbs back
/// to the configured one.
#[test]
fn a_capped_link_lowers_the_video_bitrate_and_a_clear_one_brings_it_back() {
    let call = Call::over("bc", Condition::default());
    let kbps = |s: &Value| s["media"]["video_kbps"].as_u64();
    let configured = kbps(&call.door.status()).expect("Door's encoder follows no reports");
    call.wire.set(Condition {
        rate_kbps: Some(120),
        ..Condition::default()
    });
    let capped = Instant::now();
    let lowered = |station: &Neighbour| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let now = kbps(&station.status()).unwrap_or(configured);
            if now < configured / 2 {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "{}: still at {now} kbit/s under the cap",
                station.name
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    let (door_low, hall_low) = (lowered(&call.door), lowered(&call.hall));
    println!(
        "under a 120 kbit/s cap: Door at {door_low} and Hall at {hall_low} kbit/s of {configured} after {:.1} s",
        capped.elapsed().as_secs_f64()
    );
    call.wire.set(Condition::default());
    let cleared = Instant::now();
    let deadline = cleared + Duration::from_secs(60);
    while kbps(&call.door.status()) != Some(configured) || kbps(&call.hall.status()) != Some(configured) {
        assert!(
            Instant::now() < deadline,
            "the bitrate did not come back: Door {:?}, Hall {:?} of {configured}",
            kbps(&call.door.status()),
            kbps(&call.hall.status())
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    println!(
        "the cap gone: both back at {configured} kbit/s after {:.1} s",
        cleared.elapsed().as_secs_f64()
    );
    assert_eq!(call.door.status()["call"]["state"], "active");
}
