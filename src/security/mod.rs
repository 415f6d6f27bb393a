//! Privacy between stations: each station's own identity ([`identity`]), the pins that
//! say which certificate a contact holds ([`pins`]), TLS that trusts by pin ([`tls`]) and
//! pairing by comparing a code on both screens ([`pairing`]).

pub mod identity;
pub mod pairing;
pub mod pins;
pub mod tls;

use crate::config::Config;
use std::path::PathBuf;

/// The state directory: the config's `state_dir`, else systemd's StateDirectory, else
/// `/var/lib/doorway` for root, else `$XDG_STATE_HOME/doorway` (`~/.local/state/doorway`).
pub fn state_dir(config: &Config) -> PathBuf {
    if let Some(dir) = &config.station.state_dir {
        return dir.clone();
    }
    if let Ok(dir) = std::env::var("STATE_DIRECTORY") {
        // systemd may list several, separated by colons; ours is the first.
        if let Some(first) = dir.split(':').next().filter(|d| !d.is_empty()) {
            return PathBuf::from(first);
        }
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/doorway");
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("doorway")
}
