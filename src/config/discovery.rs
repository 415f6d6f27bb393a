//! `[discovery]`: finding neighbour stations on the LAN with no address typed.

use serde::{Deserialize, Serialize};

/// `[discovery]`: DNS-SD over mDNS. The station says who it is (name, SIP user,
/// certificate fingerprint and short code, ports) and nothing about its contacts or
/// calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// Announce this station so that neighbours find it by name or pin.
    #[serde(default = "super::default_true")]
    pub announce: bool,
    /// Listen for neighbours' announcements.
    #[serde(default = "super::default_true")]
    pub browse: bool,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            announce: true,
            browse: true,
        }
    }
}
