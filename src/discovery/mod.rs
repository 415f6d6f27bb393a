//! Neighbours without addresses: each station announces itself on the LAN with DNS-SD
//! over mDNS and lists the stations it hears, by certificate fingerprint, so that a
//! contact can be found by name or by its pin wherever DHCP put it.
//!
//! - [`record`]: what a station announces (TXT properties) and the checks on what it
//!   hears, without I/O.
//! - [`neighbours`]: the bounded list of stations heard, without I/O.
//! - [`lan`]: the announcement and the browse over mdns-sd.

pub mod lan;
pub mod neighbours;
pub mod record;

pub use lan::{Announce, Discovery, DiscoveryError};
pub use neighbours::{Found, Neighbour, Neighbours};
pub use record::Announced;
