//! Home automation over MQTT with a real broker (Debian's Mosquitto, started by the test
//! with a password file) and its own clients: mosquitto_sub sees the Home Assistant
//! discovery messages, the ring event, the snapshot (a JPEG of the station's pattern)
//! and the call state; mosquitto_pub presses "Open door"; the broker restarts and the
//! station publishes everything again; a wrong password is reported, and the station
//! works on.

use crate::common;
use crate::common::mosquitto::{Broker, PASSWORD, USER};
use crate::common::{active, idle, tag_in_jpeg, Station, SERIAL};
use doorway::api::loopback as demo;
use doorway::config::{Config, DoorConfig, MqttConfig};
use doorway::station::Command;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

impl Broker {
    /// Over TLS only: a CA of the test's own (`ca.pem`) signs the broker's certificate
    /// for 127.0.0.1.
    fn start_tls(dir: &Path, port: u16) -> Broker {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca_params = ca_params_named("doorway test broker CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        // And a CA that signed nothing here, for a station that trusts the wrong one.
        let other_key = rcgen::KeyPair::generate().unwrap();
        let other = ca_params_named("another CA").self_signed(&other_key).unwrap();
        std::fs::write(dir.join("other-ca.pem"), other.pem()).unwrap();
        std::fs::write(dir.join("broker.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("broker-key.pem"), key.serialize_pem()).unwrap();
        Self::start_with(dir, port, true)
    }

    /// A mosquitto_sub on every topic, each message a line: retained flag, topic, payload
    /// in hex.
    fn subscribe(&self, name: &str) -> Subscriber {
        let file = self.dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&file).unwrap();
        let child = self
            .client("mosquitto_sub")
            .args(["-t", "#", "-F", "%r %t %x"])
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub (mosquitto-clients)");
        Subscriber { child, file }
    }

    fn publish(&self, topic: &str, message: &str) {
        let ok = self
            .client("mosquitto_pub")
            .args(["-t", topic, "-m", message])
            .status()
            .expect("mosquitto_pub");
        assert!(ok.success());
    }
}

fn ca_params_named(name: &str) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params
}

struct Subscriber {
    child: Child,
    file: PathBuf,
}

/// One message as mosquitto_sub printed it.
#[derive(Debug, Clone)]
struct Message {
    retained: bool,
    topic: String,
    payload: Vec<u8>,
}

impl Message {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or_default()
    }
}

impl Subscriber {
    fn messages(&self) -> Vec<Message> {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, ' ');
                let retained = parts.next()? == "1";
                let topic = parts.next()?.to_string();
                let hex = parts.next().unwrap_or("");
                let payload = (0..hex.len() / 2)
                    .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                    .collect();
                Some(Message {
                    retained,
                    topic,
                    payload,
                })
            })
            .collect()
    }

    /// Waits for a message on `topic` that `pred` accepts.
    async fn wait(&self, secs: u64, topic: &str, pred: impl Fn(&Message) -> bool) -> Message {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(m) = self.messages().into_iter().find(|m| m.topic == topic && pred(m)) {
                return m;
            }
            assert!(
                Instant::now() < until,
                "no such message on {topic}; got: {:?}",
                self.messages().iter().map(|m| (&m.topic, m.text())).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn door_config(port: u16, broker_port: u16, hall_port: u16, password_file: &Path) -> Config {
    let mut door = demo::loopback_config("Door", port, vec![demo::contact("Hall", hall_port)]);
    door.door = DoorConfig {
        relay: Some("test".into()),
        ..Default::default()
    };
    door.mqtt = MqttConfig {
        broker: Some(format!("mqtt://127.0.0.1:{broker_port}")),
        user: Some(USER.into()),
        password_file: Some(password_file.to_owned()),
        ..Default::default()
    };
    door
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_sees_the_doorbell_its_snapshot_and_call_and_opens_the_door() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let broker_port = demo::free_sip_port();
    let mut broker = Broker::start(dir.path(), broker_port);
    let sub = broker.subscribe("first");
    let password_file = dir.path().join("mqtt-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    let (pd, ph) = (demo::free_sip_port(), demo::free_sip_port());
    let door = Station::start(door_config(pd, broker_port, ph, &password_file)).await;
    let hall = Station::start(demo::loopback_config("Hall", ph, vec![demo::contact("Door", pd)])).await;

    // Discovery: the station as a device with its four entities (retained: checked on
    // the second subscriber, which comes after them).
    for (component, object) in [
        ("event", "ring"),
        ("image", "snapshot"),
        ("button", "open_door"),
        ("sensor", "call"),
    ] {
        let topic = format!("homeassistant/{component}/doorway_door/{object}/config");
        let config = sub.wait(10, &topic, |_| true).await.json();
        assert_eq!(config["device"]["name"], "Door", "{topic}");
        assert_eq!(config["availability_topic"], "doorway/door/availability");
    }
    sub.wait(5, "doorway/door/availability", |m| m.text() == "online").await;
    sub.wait(5, "doorway/door/call", |m| m.text() == "idle").await;
    assert!(door.status().await.mqtt.unwrap().connected);

    // The doorbell: a ring event, then the snapshot of Door's camera, and the call state.
    let door_tag = door.status().await.probes.own_tag;
    door.handle.call("Hall").await.unwrap().unwrap();
    let ring = sub.wait(10, "doorway/door/ring", |_| true).await;
    assert!(!ring.retained);
    assert_eq!(ring.json()["event_type"], "ring");
    assert_eq!(ring.json()["peer"], "Hall");
    sub.wait(5, "doorway/door/call", |m| m.text() == "calling Hall").await;
    let snapshot = sub.wait(10, "doorway/door/snapshot", |_| true).await;
    assert_eq!(
        tag_in_jpeg(&snapshot.payload),
        door_tag,
        "the snapshot is Door's camera"
    );
    hall.wait(10, common::ringing).await;
    hall.send(Command::Answer);
    door.wait(10, active).await;
    sub.wait(5, "doorway/door/call", |m| m.text() == "in a call with Hall")
        .await;
    hall.send(Command::Hangup);
    door.wait(10, idle).await;
    let idle_again = |m: &Message| m.text() == "idle";
    let until = Instant::now() + Duration::from_secs(5);
    while sub
        .messages()
        .iter()
        .filter(|m| m.topic == "doorway/door/call" && idle_again(m))
        .count()
        < 2
    {
        assert!(Instant::now() < until, "the call state did not go back to idle");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Home Assistant's "Open door" button: the lock opens; other payloads do nothing.
    broker.publish("doorway/door/open_door", "something else");
    broker.publish("doorway/door/open_door", "PRESS");
    let s = door.wait(5, |s| s.door.as_ref().is_some_and(|d| d.openings > 0)).await;
    let lock = s.door.unwrap();
    assert_eq!(
        (lock.openings, lock.last_opened_by.as_deref()),
        (1, Some("home automation"))
    );

    // The broker goes away: the station works on and says so; back, it publishes its
    // discovery, availability, call state and the last snapshot again (the new broker
    // kept nothing).
    drop(sub);
    broker.stop();
    door.wait(10, |s| {
        s.mqtt.as_ref().is_some_and(|m| !m.connected && m.problem.is_some())
    })
    .await;
    door.handle.call("Hall").await.unwrap().unwrap();
    hall.wait(10, common::ringing).await;
    hall.send(Command::Hangup);
    door.wait(10, idle).await;
    let down_at = Instant::now();
    let broker = Broker::start(dir.path(), broker_port);
    door.wait(20, |s| s.mqtt.as_ref().is_some_and(|m| m.connected)).await;
    println!(
        "back on the broker {:.1} s after it restarted",
        down_at.elapsed().as_secs_f64()
    );
    let sub = broker.subscribe("after-restart");
    sub.wait(5, "doorway/door/availability", |m| m.retained && m.text() == "online")
        .await;
    sub.wait(5, "doorway/door/call", |m| m.retained && m.text() == "idle")
        .await;
    sub.wait(5, "homeassistant/event/doorway_door/ring/config", |m| m.retained)
        .await;
    let snapshot = sub.wait(5, "doorway/door/snapshot", |m| m.retained).await;
    assert_eq!(tag_in_jpeg(&snapshot.payload), door_tag);

    // Stopping: the station says offline.
    door.stop().await;
    sub.wait(5, "doorway/door/availability", |m| m.text() == "offline")
        .await;
    hall.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_broker_password_is_reported_and_the_station_works_on() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let broker_port = demo::free_sip_port();
    let _broker = Broker::start(dir.path(), broker_port);
    let password_file = dir.path().join("wrong");
    std::fs::write(&password_file, "not the password\n").unwrap();
    let (pd, ph) = (demo::free_sip_port(), demo::free_sip_port());
    let door = Station::start(door_config(pd, broker_port, ph, &password_file)).await;
    let s = door
        .wait(10, |s| s.mqtt.as_ref().is_some_and(|m| m.problem.is_some()))
        .await;
    let mqtt = s.mqtt.unwrap();
    assert!(!mqtt.connected);
    let problem = mqtt.problem.unwrap();
    assert!(problem.contains("refused the user name or password"), "{problem}");
    assert!(idle(&door.status().await));
    door.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_broker_must_show_a_certificate_from_the_configured_ca() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let broker_port = demo::free_sip_port();
    let broker = Broker::start_tls(dir.path(), broker_port);
    let sub = broker.subscribe("tls");
    let password_file = dir.path().join("mqtt-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    let (pd, ph) = (demo::free_sip_port(), demo::free_sip_port());
    let mut config = door_config(pd, broker_port, ph, &password_file);
    config.mqtt.broker = Some(format!("mqtts://127.0.0.1:{broker_port}"));
    config.mqtt.ca_file = Some(dir.path().join("ca.pem"));
    let door = Station::start(config.clone()).await;
    sub.wait(10, "doorway/door/availability", |m| m.text() == "online")
        .await;
    assert!(door.status().await.mqtt.unwrap().connected);
    door.stop().await;

    // Trusting another CA, the station refuses this broker and says so.
    config.mqtt.ca_file = Some(dir.path().join("other-ca.pem"));
    // The same SIP ports the first station just let go of.
    let door = Station::start_on_released_ports(config).await;
    let s = door
        .wait(10, |s| s.mqtt.as_ref().is_some_and(|m| m.problem.is_some()))
        .await;
    let mqtt = s.mqtt.unwrap();
    assert!(!mqtt.connected);
    let problem = mqtt.problem.unwrap();
    assert!(problem.to_lowercase().contains("certificate"), "{problem}");
    door.stop().await;
}
