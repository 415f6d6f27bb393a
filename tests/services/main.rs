//! The station's services beside calls: the web page over HTTPS and in a real browser,
//! the RTSP stream and home automation over MQTT.
//!
//! One test binary for these, so the suite links the crate once for them all; each
//! file below is one part of it. Tests that load both cores take `common::SERIAL`.

#[path = "../common/mod.rs"]
mod common;

mod home_automation;
mod rtsp_stream;
mod secrets_in_logs;
mod web_browser;
mod web_page;
