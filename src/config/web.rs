//! `[web]`: the station's web page.

use serde::{Deserialize, Serialize};

/// `[web]`: the station's web page (HTTPS with the station's certificate).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Serve the page.
    #[serde(default = "super::default_true")]
    pub enabled: bool,
    /// HTTPS port on the listen address (443, which doorway.service may bind through
    /// CAP_NET_BIND_SERVICE; 0 picks a free port).
    #[serde(default = "default_web_port")]
    pub port: u16,
    /// Plain HTTP port that only redirects to HTTPS (0: none).
    #[serde(default = "default_redirect_port")]
    pub redirect_port: u16,
    /// Announce the station over mDNS as `<name>.local` and as an HTTPS service.
    #[serde(default = "super::default_true")]
    pub mdns: bool,
    /// Visitor log: snapshots kept, at most.
    #[serde(default = "default_visitors_kept")]
    pub visitors_kept: usize,
    /// Visitor log: megabytes of snapshots kept, at most.
    #[serde(default = "default_visitors_mb")]
    pub visitors_mb: u32,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            port: default_web_port(),
            redirect_port: default_redirect_port(),
            mdns: true,
            visitors_kept: default_visitors_kept(),
            visitors_mb: default_visitors_mb(),
        }
    }
}

fn default_web_port() -> u16 {
    443
}
fn default_redirect_port() -> u16 {
    80
}
fn default_visitors_kept() -> usize {
    200
}
fn default_visitors_mb() -> u32 {
    50
}
