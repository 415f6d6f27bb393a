//! Calls: the SIP user agent glue ([`ua`]), the call state machine ([`machine`]), SDP
//! offer/answer ([`sdp`]), who a caller is ([`identify`]) and registration with a SIP
//! server ([`registration`]).
//!
//! [`machine`] and [`sdp`] are sans-IO: events in, actions out, tested without sockets.
//! [`ua`] drives rsipstack's transaction and dialog layers and turns their events into
//! machine events.

pub mod guard;
pub mod identify;
pub mod machine;
pub mod registration;
pub mod sdp;
pub mod sip_check;
pub mod ua;

pub use crate::config::peer::{parse_aor, parse_peer, Peer, PeerError};
