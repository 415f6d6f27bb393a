//! A speaker or a camera that gets stuck in a call: its write or capture never returns,
//! as a driver that hangs without going away. The station goes on around it: the screen
//! says so, the status (and for the speaker the volume keys) answer, the call ends
//! normally, and the next calls ring, are answered, show pictures and end.

use crate::common::*;
use doorway::api::loopback::{contact, free_sip_port, loopback_config};
use doorway::input::RawInput;
use doorway::station::Command;
use std::time::Duration;

/// Door calls Hall, Hall rings and is told to answer.
async fn door_rings_and_hall_answers(door: &Station, hall: &Station, round: usize) {
    eprintln!("round {round}: calling");
    door.handle.call("Hall").await.unwrap().unwrap();
    let s = hall.wait(15, ringing).await;
    assert!(ringing(&s), "round {round}: Hall does not ring: {:?}", s.call);
    hall.send(Command::Answer);
}

/// Waits for `station`'s screen to say `words`.
async fn screen_says(station: &Station, words: &str, round: usize) {
    let says = |s: &doorway::station::Status| s.last_message.as_deref().is_some_and(|m| m.contains(words));
    let s = station.wait(10, says).await;
    assert!(
        says(&s),
        "round {round}: the screen does not say {words:?}: {:?}",
        s.last_message
    );
}

/// Door hangs up; both are idle again.
async fn door_hangs_up(door: &Station, hall: &Station, round: usize) {
    eprintln!("round {round}: hanging up");
    door.send(Command::Hangup);
    let s = hall.wait(10, idle).await;
    assert!(idle(&s), "round {round}: Hall is still in {:?}", s.call);
    door.wait(10, idle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_speaker_holds_neither_the_station_nor_the_next_call() {
    let _serial = SERIAL.lock().await;
    let (pa, pb) = (free_sip_port(), free_sip_port());
    let door = loopback_config("Door", pa, vec![contact("Hall", pb)]);
    let mut hall = loopback_config("Hall", pb, vec![contact("Door", pa)]);
    // Stuck after three seconds of sound: in the first call, whatever the ring took.
    hall.devices.test_speaker_stuck_after_ms = 3000;
    hall.input.keys.insert("KEY_F9".into(), "volume_up".into());
    let (a, b) = (Station::start(door).await, Station::start(hall).await);
    for round in 0..3 {
        door_rings_and_hall_answers(&a, &b, round).await;
        let s = b.wait(15, |s| active(s) && decoded(s) > 10).await;
        assert!(
            active(&s) && decoded(&s) > 10,
            "round {round}: {:?}, decoded {}",
            s.call,
            decoded(&s)
        );
        // The speaker gets stuck in the first call, and stays so.
        screen_says(&b, "speaker is stuck", round).await;
        // The volume keys go to the card's own control, not through the stuck speaker.
        for pressed in [true, false] {
            b.send(Command::Input(RawInput::Key {
                key: "KEY_F9".into(),
                pressed,
            }));
        }
        let s = b
            .wait(5, |s| s.last_message.as_deref().is_some_and(|m| m.contains("volume")))
            .await;
        assert!(
            s.last_message.as_deref().is_some_and(|m| m.contains("volume")),
            "round {round}: the volume key went unanswered: {:?}",
            s.last_message
        );
        door_hangs_up(&a, &b, round).await;
    }
    let status = tokio::time::timeout(Duration::from_secs(5), b.status()).await;
    assert!(status.is_ok(), "Hall no longer answers");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_camera_holds_neither_the_station_nor_the_next_call() {
    let _serial = SERIAL.lock().await;
    let (pa, pb) = (free_sip_port(), free_sip_port());
    let door = loopback_config("Door", pa, vec![contact("Hall", pb)]);
    let mut hall = loopback_config("Hall", pb, vec![contact("Door", pa)]);
    // Stuck after two seconds of pictures, in the first call, and for good.
    hall.devices.test_camera_stuck_after_ms = 2000;
    let (a, b) = (Station::start(door).await, Station::start(hall).await);
    for round in 0..3 {
        door_rings_and_hall_answers(&a, &b, round).await;
        let s = b.wait(15, active).await;
        assert!(active(&s), "round {round}: Hall does not answer: {:?}", s.call);
        screen_says(&b, "camera is not working", round).await;
        // Door keeps a live picture: Hall's placeholder, decoded as it comes.
        let before = decoded(&a.status().await);
        let s = a.wait(10, |s| decoded(s) > before + 20).await;
        assert!(
            decoded(&s) > before + 20,
            "round {round}: Door's picture froze at {} frames",
            decoded(&s)
        );
        door_hangs_up(&a, &b, round).await;
    }
    let status = tokio::time::timeout(Duration::from_secs(5), b.status()).await;
    assert!(status.is_ok(), "Hall no longer answers");
    a.stop().await;
    b.stop().await;
}
