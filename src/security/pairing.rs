//! Pairing by numeric comparison, sans-IO: two stations agree on each other's
//! certificates, and a person at each checks that both screens show the same 6-digit code.
//!
//! The messages travel over a TLS connection between the two certificates being paired,
//! so both sides know both fingerprints (`a` = the initiator's, `b` = the responder's).
//! A man in the middle holds other certificates and would have to make both codes match;
//! the responder commits to its nonce before it sees the initiator's (as Bluetooth's
//! numeric comparison does), so the middle cannot search for certificates or nonces
//! that do: it has one chance in a million.
//!
//! 1. initiator → responder `start` (its name and TLS port); the answer carries the
//!    responder's name, TLS port and commitment `H("commit", b, a, nb)`.
//! 2. initiator → responder `nonce` with `na`; the answer carries `nb`, which the
//!    initiator checks against the commitment.
//! 3. Both show `code(a, b, na, nb)`; a person confirms or declines on each station, and
//!    each station tells the other its decision (`decision`). A station pins the other only
//!    when both people confirmed; a decline, a mismatch or a timeout pins nothing.

use super::identity::Fingerprint;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How long a pairing may take from start to both decisions.
pub const PAIRING_TIMEOUT: Duration = Duration::from_secs(90);

/// A pairing message body (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Message {
    /// The initiator starts.
    Start {
        /// Its station name.
        name: String,
        /// Its SIP-over-TLS port.
        tls_port: u16,
    },
    /// The responder's answer to `start`.
    Committed {
        /// Its station name.
        name: String,
        /// Its SIP-over-TLS port.
        tls_port: u16,
        /// `H("commit", b, a, nb)`, hex.
        commitment: String,
    },
    /// The initiator's nonce.
    Nonce {
        /// `na`, hex.
        nonce: String,
    },
    /// The responder's nonce, answering `nonce`.
    Revealed {
        /// `nb`, hex.
        nonce: String,
    },
    /// A person's decision on one station.
    Decision {
        /// Confirmed (the codes matched) or declined.
        confirmed: bool,
    },
}

impl Message {
    /// Parses a body from the network (bounded by the caller; unknown fields refused).
    pub fn parse(body: &str) -> Option<Self> {
        serde_json::from_str(body).ok()
    }

    /// The body to send.
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("pairing messages serialise")
    }
}

/// A 32-byte random nonce.
pub fn fresh_nonce() -> [u8; 32] {
    rand::random()
}

/// Lower-case hex, as nonces and commitments travel.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a 32-byte hex value.
pub fn parse_nonce(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The responder's commitment to `nb`.
pub fn commitment(a: Fingerprint, b: Fingerprint, nb: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"doorway pairing commitment v1");
    h.update(b.0);
    h.update(a.0);
    h.update(nb);
    to_hex(&h.finalize())
}

/// The 6-digit code both screens show.
pub fn code(a: Fingerprint, b: Fingerprint, na: &[u8; 32], nb: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(b"doorway pairing code v1");
    h.update(a.0);
    h.update(b.0);
    h.update(na);
    h.update(nb);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % 1_000_000
}

/// The code as people read it: `123 456`.
pub fn show_code(code: u32) -> String {
    format!("{:03} {:03}", code / 1000, code % 1000)
}

/// Where a pairing stands on one station.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Messages are being exchanged.
    Connecting,
    /// The code is on screen; waiting for the people.
    Comparing,
    /// Both confirmed: the pin is stored.
    Paired,
    /// Nothing was pinned.
    Failed,
}

/// Both people's decisions so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decisions {
    /// The person at this station.
    pub local: Option<bool>,
    /// The person at the other station.
    pub remote: Option<bool>,
}

impl Decisions {
    /// Pin when both confirmed; give up when either declined; else wait.
    pub fn outcome(&self) -> Option<bool> {
        match (self.local, self.remote) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(n: u8) -> Fingerprint {
        Fingerprint([n; 32])
    }

    #[test]
    fn both_sides_compute_the_same_code_and_a_middle_does_not() {
        let (na, nb) = (fresh_nonce(), fresh_nonce());
        let ours = code(fp(1), fp(2), &na, &nb);
        assert_eq!(ours, code(fp(1), fp(2), &na, &nb));
        assert!(ours < 1_000_000);
        // Each half of a man in the middle sees another certificate: other codes (one
        // chance in a million of a clash; these fixed values do not clash).
        let left = code(fp(1), fp(9), &na, &nb);
        let right = code(fp(9), fp(2), &na, &nb);
        assert_ne!(ours, left);
        assert_ne!(ours, right);
        assert_eq!(show_code(1234), "001 234");
    }

    #[test]
    fn the_commitment_binds_the_nonce() {
        let nb = fresh_nonce();
        let c = commitment(fp(1), fp(2), &nb);
        assert_eq!(c, commitment(fp(1), fp(2), &nb));
        assert_ne!(c, commitment(fp(1), fp(2), &fresh_nonce()));
        assert_ne!(c, commitment(fp(1), fp(3), &nb));
    }

    #[test]
    fn messages_round_trip_and_garbage_is_refused() {
        let m = Message::Start {
            name: "Door".into(),
            tls_port: 5061,
        };
        assert_eq!(Message::parse(&m.to_body()), Some(m));
        assert_eq!(Message::parse("{\"step\":\"start\"}"), None);
        assert_eq!(Message::parse("\u{0}"), None);
        assert_eq!(parse_nonce(&to_hex(&[7u8; 32])), Some([7u8; 32]));
        assert_eq!(parse_nonce("zz"), None);
        assert_eq!(parse_nonce(&"é".repeat(32)), None);
    }

    #[test]
    fn only_two_confirmations_pin() {
        let mut d = Decisions::default();
        assert_eq!(d.outcome(), None);
        d.local = Some(true);
        assert_eq!(d.outcome(), None);
        d.remote = Some(false);
        assert_eq!(d.outcome(), Some(false));
        d.remote = Some(true);
        assert_eq!(d.outcome(), Some(true));
    }
}
