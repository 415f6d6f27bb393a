//! What a stranger on the LAN sends a running station: malformed SIP, RFC 4475's torture
//! messages, broken peers, and the fuzz corpus replayed.
//!
//! One test binary for these, so the suite links the crate once for them all; each
//! file below is one part of it. Tests that load both cores take `common::SERIAL`.

#[path = "../common/mod.rs"]
mod common;
#[path = "../fuzz/targets.rs"]
mod targets;

mod dialed_tls;
mod fuzz_corpus;
mod hostile_lan;
mod malformed_sip;
mod sip_torture;
