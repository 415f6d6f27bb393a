//! Fuzz target: see `check_sip_request` and `check_sip_stream` in ../targets.rs (the
//! same bytes as a datagram and as a TCP or TLS stream).
#![no_main]

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    targets::check_sip_request(data);
    targets::check_sip_stream(data);
});
