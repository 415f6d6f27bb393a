//! The station as Home Assistant sees it over MQTT, without I/O: its topics, and the
//! retained discovery messages that make it a device with a doorbell event (`ring`),
//! an image of the last visitor, an "Open door" button and a call-state sensor.

use serde_json::{json, Value};

/// The station's topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Every station topic starts with this (`doorway/front-door`).
    pub base: String,
    /// Home Assistant's discovery prefix (`homeassistant`).
    pub discovery_prefix: String,
    /// The station's id in unique ids and discovery topics (its SIP user).
    pub node: String,
}

/// What an "Open door" button press carries.
pub const PRESS: &str = "PRESS";

impl Topics {
    /// Topics for the station whose SIP user is `user`, under `base` when given.
    pub fn new(user: &str, base: Option<&str>, discovery_prefix: &str) -> Self {
        let node: String = user
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        Self {
            base: base.map_or_else(|| format!("doorway/{node}"), str::to_string),
            discovery_prefix: discovery_prefix.to_string(),
            node,
        }
    }

    /// `online` while connected (retained); the broker sets `offline` (the last will).
    pub fn availability(&self) -> String {
        format!("{}/availability", self.base)
    }
    /// The call state, in words (retained).
    pub fn call(&self) -> String {
        format!("{}/call", self.base)
    }
    /// A ring: `{"event_type": "ring", ...}` (not retained: it happens once).
    pub fn ring(&self) -> String {
        format!("{}/ring", self.base)
    }
    /// The last visitor's snapshot, JPEG (retained).
    pub fn snapshot(&self) -> String {
        format!("{}/snapshot", self.base)
    }
    /// Where "Open door" presses arrive.
    pub fn open_door(&self) -> String {
        format!("{}/open_door", self.base)
    }

    /// The retained discovery messages: (topic, JSON payload).
    pub fn discovery(&self, station_name: &str, version: &str) -> Vec<(String, Value)> {
        let device = json!({
            "identifiers": [format!("doorway_{}", self.node)],
            "name": station_name,
            "manufacturer": "doorway",
            "model": "doorway station",
            "sw_version": version,
        });
        let entity = |component: &str, object: &str, name: &str, extra: Value| {
            let mut config = json!({
                "name": name,
                "unique_id": format!("doorway_{}_{object}", self.node),
                "availability_topic": self.availability(),
                "device": device.clone(),
            });
            if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
                config.extend(extra.clone());
            }
            let topic = format!(
                "{}/{component}/doorway_{}/{object}/config",
                self.discovery_prefix, self.node
            );
            (topic, config)
        };
        vec![
            entity(
                "event",
                "ring",
                "Doorbell",
                json!({ "state_topic": self.ring(), "event_types": ["ring"], "device_class": "doorbell" }),
            ),
            entity(
                "image",
                "snapshot",
                "Last visitor",
                json!({ "image_topic": self.snapshot(), "content_type": "image/jpeg" }),
            ),
            entity(
                "button",
                "open_door",
                "Open door",
                json!({ "command_topic": self.open_door(), "payload_press": PRESS, "icon": "mdi:door-open" }),
            ),
            entity(
                "sensor",
                "call",
                "Call",
                json!({ "state_topic": self.call(), "icon": "mdi:phone" }),
            ),
        ]
    }
}

/// The ring event's payload.
pub fn ring_event(peer: &str, incoming: bool) -> Value {
    json!({
        "event_type": "ring",
        "peer": peer,
        "direction": if incoming { "incoming" } else { "outgoing" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_discovery_name_the_station() {
        let t = Topics::new("front-door", None, "homeassistant");
        assert_eq!(t.base, "doorway/front_door");
        assert_eq!(t.open_door(), "doorway/front_door/open_door");
        let d = t.discovery("Front door", "0.1.0");
        let topics: Vec<&str> = d.iter().map(|(topic, _)| topic.as_str()).collect();
        assert_eq!(
            topics,
            [
                "homeassistant/event/doorway_front_door/ring/config",
                "homeassistant/image/doorway_front_door/snapshot/config",
                "homeassistant/button/doorway_front_door/open_door/config",
                "homeassistant/sensor/doorway_front_door/call/config",
            ]
        );
        let ring = &d[0].1;
        assert_eq!(ring["event_types"], json!(["ring"]));
        assert_eq!(ring["device_class"], "doorbell");
        assert_eq!(ring["availability_topic"], "doorway/front_door/availability");
        assert_eq!(ring["device"]["name"], "Front door");
        assert_eq!(d[1].1["image_topic"], "doorway/front_door/snapshot");
        assert_eq!(d[2].1["payload_press"], PRESS);
        let ids: std::collections::HashSet<_> = d.iter().map(|(_, c)| c["unique_id"].to_string()).collect();
        assert_eq!(ids.len(), 4, "unique ids differ");
        let own = Topics::new("hall", Some("home/hall-station"), "ha");
        assert_eq!(own.call(), "home/hall-station/call");
        assert!(own.discovery("Hall", "1")[0].0.starts_with("ha/event/doorway_hall/"));
    }
}
