//! Privacy between stations: each station's own identity ([`identity`]), the pins that
//! say which certificate a contact holds ([`pins`]), TLS that trusts by pin ([`tls`]) and
//! pairing by comparing a code on both screens ([`pairing`]).

pub mod identity;
pub mod pairing;
pub mod pins;
pub mod tls;

use crate::config::Config;
use std::path::{Path, PathBuf};

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

/// Replaces `path` with `bytes`, readable by the service only (mode 0600). See
/// [`replace_file`].
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace_file(path, bytes, 0o600)
}

/// Replaces `path` with `bytes`, with permissions `mode`: written to a file beside it
/// (made with only the owner's part of `mode`, so never readable by others for a
/// moment), synced, renamed over it, and the directory synced. A power cut leaves the
/// old file or the new one, never half of one, and once this returns the new one
/// survives. Creates the directory if needed.
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = PathBuf::from(temporary);
    // A temporary file a crash left behind is not ours to append to.
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode & 0o700)
        .open(&temporary)?;
    file.write_all(bytes)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    sync_directory_of(path)
}

/// Syncs the directory holding `path`: a rename is on disk only once its directory is.
pub fn sync_directory_of(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::File::open(dir)?.sync_all(),
        _ => std::fs::File::open(".")?.sync_all(),
    }
}
