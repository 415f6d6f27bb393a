//! Home automation: the station on an MQTT broker, as Home Assistant discovers it
//! ([`discovery`], sans-IO) with its doorbell, the last visitor's snapshot, an "Open
//! door" button and its call state, kept by a client task ([`mqtt`]) that reconnects
//! with backoff and republishes everything when the broker is back. The station works
//! on whatever the broker does.

pub mod discovery;
pub mod mqtt;

pub use mqtt::{HomeLink, MqttStatus};
