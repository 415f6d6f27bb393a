//! A call whose media cannot start is ended at once, with the reason on the screen, not
//! held in silence: nothing would ever arrive, so no media timeout would end it.

use crate::common::*;
use doorway::api::loopback as demo;
use doorway::station::Command;
use std::net::UdpSocket;

/// Door calls Hall, set up as `hall_set_up` says; returns both once Hall rings.
async fn door_rings_hall(hall_set_up: impl FnOnce(&mut doorway::config::Config)) -> (Station, Station) {
    let (door_port, hall_port) = (demo::free_sip_port(), demo::free_sip_port());
    let door = Station::start(demo::loopback_config(
        "Door",
        door_port,
        vec![demo::contact("Hall", hall_port)],
    ))
    .await;
    let mut hall_config = demo::loopback_config("Hall", hall_port, vec![demo::contact("Door", door_port)]);
    hall_set_up(&mut hall_config);
    let hall = Station::start(hall_config).await;
    door.handle.call("Hall").await.unwrap().unwrap();
    let rang = hall.wait(10, ringing).await;
    assert!(ringing(&rang), "{:?}", rang.call);
    (door, hall)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_media_cannot_start_is_ended_and_says_why() {
    let _serial = SERIAL.lock().await;
    // Hall's speaker is a sound card that is not there: its sound cannot start.
    let (door, hall) = door_rings_hall(|hall| hall.devices.speaker = "alsa:hw:CARD=Nowhere".into()).await;
    hall.send(Command::Answer);
    let s = hall
        .wait(5, |s| {
            idle(s) && s.last_message.as_deref().is_some_and(|m| m.contains("call ended"))
        })
        .await;
    assert!(idle(&s), "{:?} {:?}", s.call, s.last_message);
    let said = s.last_message.unwrap_or_default();
    assert!(said.starts_with("media could not start"), "{said}");
    // Door hears the hang-up (a BYE): its own media timeout (5 s) would say it lost the
    // connection instead. The bound is generous: a loaded machine starts Door's media
    // slowly, and the BYE is handled after that.
    let asked = std::time::Instant::now();
    let s = door.wait(20, idle).await;
    assert!(idle(&s), "{:?}", s.call);
    let said = s.last_message.unwrap_or_default();
    assert!(
        !said.contains("lost the connection"),
        "Door ended the call by its media timeout, not Hall's BYE, after {:?}: {said}",
        asked.elapsed()
    );
    hall.stop().await;
    door.stop().await;
}

/// The RTP ports a ringing call offered stay the station's until its media takes them:
/// another program (or another station on the host) cannot take them in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ports_offered_while_ringing_stay_the_stations() {
    let _serial = SERIAL.lock().await;
    // Hall's RTP ports: two pairs, both chosen when the call rings.
    let (door, hall) = door_rings_hall(|hall| {
        hall.media.rtp_port_min = 31600;
        hall.media.rtp_port_max = 31603;
    })
    .await;
    for port in 31600..=31603 {
        assert!(
            UdpSocket::bind(("127.0.0.1", port)).is_err(),
            "another program took port {port} while the call rang"
        );
    }
    hall.send(Command::Answer);
    let s = hall
        .wait(10, |s| {
            s.media
                .as_ref()
                .is_some_and(|m| m.frames_decoded > 0 && m.samples_played > 0)
        })
        .await;
    assert!(active(&s), "{:?} {:?}", s.call, s.last_message);
    hall.stop().await;
    door.stop().await;
}
