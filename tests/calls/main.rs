//! Calls between stations with real SIP and media on 127.0.0.1: two stations, changes to
//! a call, paired calls, text messages, ring groups, calls of four, SRTP, keyframes on
//! demand, echo cancelling, the door lock, a SIP server and interop with baresip.
//!
//! One test binary for these, so the suite links the crate once for them all; each
//! file below is one part of it. Tests that load both cores take `common::SERIAL`.

#[path = "../common/mod.rs"]
mod common;

mod baresip_interop;
mod call_changes;
mod conference_calls;
mod conference_media;
mod door_lock;
mod echo_cancellation;
mod loopback_calls;
mod media_start;
mod picture_loss;
mod registrar;
mod ring_groups;
mod secure_calls;
mod srtp_media;
mod stuck_devices;
mod text_messages;
