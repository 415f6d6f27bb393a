//! Stations in a building with a SIP server: Kamailio (Debian's package, config in
//! tests/kamailio/) as registrar and proxy. Stations and baresip register with digest
//! authentication and call each other by address of record through it, with media
//! checked; one address of record on three stations rings all three, the first answer
//! wins; the server restarted forgets everyone and the stations notice and register
//! again; a wrong password is said on the screen and in `status`.

use crate::common;
use crate::common::baresip::{Baresip, BARESIP_TONE_HZ};
use crate::common::kamailio::{Kamailio, DOMAIN};
use crate::common::*;
use doorway::api::loopback::{free_sip_port, loopback_config};
use doorway::call::registration::RegistrationState;
use doorway::config::{AccountConfig, Config, Contact};
use doorway::station::{Command, Status};
use std::time::Duration;

/// A contact called by its address of record on the test domain.
fn aor_contact(name: &str, user: &str) -> Contact {
    let mut c = doorway::api::loopback::contact(name, 5060);
    c.uri = format!("sip:{user}@{DOMAIN}");
    c
}

/// A station registered as `user` with `password` at `server`.
fn station_config(name: &str, user: &str, password: &str, server: &Kamailio, contacts: Vec<Contact>) -> Config {
    let mut config = loopback_config(name, free_sip_port(), contacts);
    config.account = AccountConfig {
        registrar: Some(format!("sip:{DOMAIN}")),
        proxy: Some(server.proxy()),
        user: Some(user.into()),
        password: Some(password.into()),
        keepalive_seconds: 1,
        ..Default::default()
    };
    config
}

fn registered(s: &Status) -> bool {
    s.account.as_ref().is_some_and(|a| a.state.is_registered())
}

async fn wait_registered(station: &Station, server: &Kamailio) {
    let s = station.wait(15, registered).await;
    assert!(registered(&s), "{}: {:?}\n{}", s.station, s.account, server.log());
}

fn ringing_from(s: &Status, contact: &str) -> bool {
    matches!(&s.call, doorway::call::machine::State::Incoming { peer, .. } if peer.contact.as_deref() == Some(contact))
}

/// Both see and hear each other.
async fn assert_talking(a: &Station, b: &Station) {
    let both = |x: &Status, y: &Status| recognised(x, y) >= 20 && recognised(y, x) >= 20 && hears(x, y) && hears(y, x);
    let mut last = (a.status().await, b.status().await);
    for _ in 0..40 {
        if both(&last.0, &last.1) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        last = (a.status().await, b.status().await);
    }
    let brief = |s: &Status| {
        format!(
            "{}: tag {} tone {:?}, recognised {:?}, heard {:?}, decoded {}, screen {:?}",
            s.station,
            s.probes.own_tag,
            s.probes.own_tone_hz,
            s.probes.recognised,
            s.probes.tone_heard_hz,
            decoded(s),
            s.screen_message
        )
    };
    panic!("no media both ways:\n{}\n{}", brief(&last.0), brief(&last.1));
}

async fn hang_up(a: &Station, b: &Station) {
    a.send(Command::Hangup);
    a.wait(5, idle).await;
    let s = b.wait(5, idle).await;
    assert!(idle(&s), "{:?}", s.call);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stations_and_baresip_call_each_other_by_address_of_record() {
    let _serial = SERIAL.lock().await;
    let server = Kamailio::start(&[("door", "door-secret"), ("hall", "hall-secret"), ("bob", "bob-secret")]);
    let bob = Baresip::start_registered("bob", "bob-secret", DOMAIN, &server.proxy());
    let mut door_config = station_config(
        "Door",
        "door",
        "door-secret",
        &server,
        vec![aor_contact("Hall", "hall"), aor_contact("Bob", "bob")],
    );
    let mut hall_config = station_config(
        "Hall",
        "hall",
        "hall-secret",
        &server,
        vec![aor_contact("Door", "door")],
    );
    // Beside the account, each knows the other directly too.
    let (door_port, hall_port) = (door_config.station.listen.port(), hall_config.station.listen.port());
    let direct = |name: &str, user: &str, port: u16| {
        let mut c = doorway::api::loopback::contact(name, port);
        c.uri = format!("sip:{user}@127.0.0.1:{port}");
        c
    };
    door_config.contacts.push(direct("Hall here", "hall", hall_port));
    hall_config.contacts.push(direct("Door here", "door", door_port));
    let door = Station::start(door_config).await;
    let hall = Station::start(hall_config).await;
    wait_registered(&door, &server).await;
    wait_registered(&hall, &server).await;
    for _ in 0..50 {
        if bob.log().contains("200 OK") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(bob.log().contains("200 OK"), "baresip did not register:\n{}", bob.log());

    // Door calls Hall by its address of record; Hall knows the caller by what the
    // server asserts (the INVITE comes from the server's address, not Door's).
    door.handle.call("Hall").await.unwrap().unwrap();
    let s = hall.wait(10, |s| ringing_from(s, "Door")).await;
    assert!(ringing_from(&s, "Door"), "{:?}\n{}", s.call, server.log());
    hall.send(Command::Answer);
    door.wait(10, active).await;
    assert_talking(&door, &hall).await;
    hang_up(&hall, &door).await;

    // A direct call beside the account: Hall knows Door by its address.
    door.handle.call("Hall here").await.unwrap().unwrap();
    let s = hall.wait(10, |s| ringing_from(s, "Door here")).await;
    assert!(ringing_from(&s, "Door here"), "{:?}", s.call);
    hall.send(Command::Answer);
    door.wait(10, active).await;
    hang_up(&door, &hall).await;

    // Door calls baresip; baresip answers by itself.
    door.handle.call("Bob").await.unwrap().unwrap();
    let s = door.wait(20, |s| active(s) && decoded(s) >= 30).await;
    assert!(decoded(&s) >= 30, "{:?} {:?}\n{}", s.call, s.media, bob.log());
    let s = door.wait(10, |s| s.probes.tone_heard_hz.is_some()).await;
    let heard = s.probes.tone_heard_hz.expect("Door hears baresip");
    assert!((heard - BARESIP_TONE_HZ).abs() < 10.0, "Door heard {heard} Hz");
    assert_eq!(
        bob.received_tag(),
        Some(s.probes.own_tag),
        "baresip does not show Door's pattern"
    );
    door.send(Command::Hangup);
    door.wait(5, idle).await;

    // And back: baresip dials Door's address of record; Door knows it as Bob.
    tokio::time::sleep(Duration::from_millis(500)).await;
    bob.command("dial", &format!("sip:door@{DOMAIN}"));
    let s = door.wait(10, |s| ringing_from(s, "Bob")).await;
    assert!(ringing_from(&s, "Bob"), "{:?}\n{}\n{}", s.call, bob.log(), server.log());
    door.send(Command::Answer);
    let s = door.wait(20, |s| active(s) && decoded(s) >= 30).await;
    assert!(decoded(&s) >= 30, "{:?} {:?}", s.call, s.media);
    door.send(Command::Hangup);
    door.wait(5, idle).await;

    door.stop().await;
    hall.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_of_record_on_three_stations_rings_all_three() {
    let _serial = SERIAL.lock().await;
    let server = Kamailio::start(&[("door", "door-secret"), ("flat", "flat-secret")]);
    let door = Station::start(station_config(
        "Door",
        "door",
        "door-secret",
        &server,
        vec![aor_contact("Flat", "flat")],
    ))
    .await;
    let mut flat = vec![];
    for name in ["Kitchen", "Bedroom", "Office"] {
        let station = Station::start(station_config(
            name,
            "flat",
            "flat-secret",
            &server,
            vec![aor_contact("Door", "door")],
        ))
        .await;
        wait_registered(&station, &server).await;
        flat.push(station);
    }
    wait_registered(&door, &server).await;

    door.handle.call("Flat").await.unwrap().unwrap();
    for station in &flat {
        let s = station.wait(10, |s| ringing_from(s, "Door")).await;
        assert!(
            ringing_from(&s, "Door"),
            "{} does not ring: {:?}\n{}",
            s.station,
            s.call,
            server.log()
        );
    }
    // The bedroom answers; the others stop ringing.
    flat[1].send(Command::Answer);
    door.wait(10, active).await;
    for i in [0, 2] {
        let s = flat[i].wait(10, idle).await;
        assert!(idle(&s), "{} still rings: {:?}", s.station, s.call);
        assert_eq!(
            s.missed_call, None,
            "{}: answered elsewhere is not a missed call",
            s.station
        );
    }
    assert_talking(&door, &flat[1]).await;
    hang_up(&door, &flat[1]).await;

    door.stop().await;
    for station in flat {
        station.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_noticed_and_a_wrong_password_is_shown() {
    let _serial = SERIAL.lock().await;
    let mut server = Kamailio::start(&[("door", "door-secret"), ("hall", "hall-secret")]);
    let door = Station::start(station_config(
        "Door",
        "door",
        "door-secret",
        &server,
        vec![aor_contact("Hall", "hall")],
    ))
    .await;
    let hall = Station::start(station_config(
        "Hall",
        "hall",
        "hall-secret",
        &server,
        vec![aor_contact("Door", "door")],
    ))
    .await;
    wait_registered(&door, &server).await;
    wait_registered(&hall, &server).await;

    // Only the server's word on who calls counts: a stranger on the LAN asserting Door's
    // identity is refused, and Hall does not ring.
    let stranger = common::stranger::Stranger::new(hall.handle.sip_addr.port());
    let invite = stranger
        .request(
            "INVITE",
            &format!("sip:door@{DOMAIN}"),
            "forged-identity",
            1,
            Some(&common::stranger::offer("m=audio 40000 RTP/AVP 0\r\n")),
        )
        .replace(
            "Max-Forwards: 70\r\n",
            &format!("Max-Forwards: 70\r\nP-Asserted-Identity: <sip:door@{DOMAIN}>\r\n"),
        );
    stranger.send(invite.as_bytes());
    let refused = stranger.final_status(Duration::from_secs(3));
    assert_eq!(refused.as_deref(), Some("SIP/2.0 403 Forbidden"));
    assert!(idle(&hall.status().await));

    // The server goes away: within the keepalive (1 s) and its wait, the station says so.
    server.stop();
    let lost = |s: &Status| {
        matches!(
            s.account.as_ref().map(|a| &a.state),
            Some(RegistrationState::Failed { .. })
        )
    };
    let s = door.wait(10, lost).await;
    assert!(lost(&s), "{:?}", s.account);
    assert!(
        s.screen_message
            .as_deref()
            .is_some_and(|m| m.starts_with("Not registered")),
        "{:?}",
        s.screen_message
    );
    // Back, with every registration forgotten: the stations register again within
    // their retry time (2, then 4 s) and calls go through.
    server.restart();
    wait_registered(&door, &server).await;
    wait_registered(&hall, &server).await;
    assert_eq!(door.status().await.screen_message, None);
    door.handle.call("Hall").await.unwrap().unwrap();
    let s = hall.wait(10, |s| ringing_from(s, "Door")).await;
    assert!(ringing_from(&s, "Door"), "{:?}\n{}", s.call, server.log());
    hall.send(Command::Answer);
    door.wait(10, active).await;
    hang_up(&door, &hall).await;
    door.stop().await;
    hall.stop().await;

    // A wrong password: on the screen and in status, and the station works on.
    let garage = Station::start(station_config("Garage", "hall", "not-the-password", &server, vec![])).await;
    let refused = |s: &Status| {
        matches!(s.account.as_ref().map(|a| &a.state),
            Some(RegistrationState::Failed { reason, .. }) if reason.contains("wrong user or password"))
    };
    let s = garage.wait(10, refused).await;
    assert!(refused(&s), "{:?}\n{}", s.account, server.log());
    let shown = s.screen_message.unwrap_or_default();
    assert!(shown.contains("wrong user or password for hall"), "{shown:?}");
    garage.stop().await;
}
