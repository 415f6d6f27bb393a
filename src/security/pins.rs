//! Pins made by pairing, kept in the state directory (`pins.toml`), apart from the
//! config: a config import or an upgrade leaves them alone, and a pin never changes
//! without a person pairing again.
//!
//! A contact's pin is the `fingerprint` written in its config entry when there is one
//! (a person wrote it on purpose), else the pin pairing stored here.

use super::identity::Fingerprint;
use crate::config::{Config, Contact};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tracing::warn;

/// File name of the pin store in the state directory.
pub const PINS_FILE: &str = "pins.toml";

/// One paired contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pin {
    /// The contact's name, as in the config.
    pub name: String,
    /// Its certificate's fingerprint.
    pub fingerprint: Fingerprint,
    /// The TLS port it told us during pairing.
    #[serde(default)]
    pub tls_port: Option<u16>,
    /// When it was paired (seconds since 1970).
    #[serde(default)]
    pub paired_at: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct PinFile {
    #[serde(default, rename = "pin")]
    pins: Vec<Pin>,
}

/// Why the pin store could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct PinError {
    path: PathBuf,
    source: std::io::Error,
}

/// The pins in a state directory.
#[derive(Debug, Clone, Default)]
pub struct PinStore {
    path: Option<PathBuf>,
    pins: Vec<Pin>,
}

impl PinStore {
    /// Reads `dir/pins.toml`; a missing file is no pins, an unreadable one is reported
    /// and kept (it is not overwritten until a person pairs or unpairs).
    pub fn load(dir: &Path) -> Self {
        let path = dir.join(PINS_FILE);
        let pins = match std::fs::read_to_string(&path) {
            Ok(text) => match toml::from_str::<PinFile>(&text) {
                Ok(file) => file.pins,
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "cannot read the paired stations; none are trusted until this is mended");
                    Vec::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot read the paired stations");
                Vec::new()
            }
        };
        Self { path: Some(path), pins }
    }

    /// A store that lives in memory only.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// The pin pairing stored for `name`.
    pub fn get(&self, name: &str) -> Option<&Pin> {
        self.pins.iter().find(|p| p.name == name)
    }

    /// All pins.
    pub fn all(&self) -> &[Pin] {
        &self.pins
    }

    /// Stores (or replaces) the pin for `pin.name` and writes the file.
    pub fn insert(&mut self, pin: Pin) -> Result<(), PinError> {
        self.pins.retain(|p| p.name != pin.name);
        self.pins.push(pin);
        self.save()
    }

    /// Forgets the pin for `name`; whether there was one.
    pub fn remove(&mut self, name: &str) -> Result<bool, PinError> {
        let before = self.pins.len();
        self.pins.retain(|p| p.name != name);
        if self.pins.len() == before {
            return Ok(false);
        }
        self.save().map(|_| true)
    }

    fn save(&self) -> Result<(), PinError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let err = |source| PinError {
            path: path.clone(),
            source,
        };
        let text = toml::to_string(&PinFile {
            pins: self.pins.clone(),
        })
        .map_err(|e| err(std::io::Error::other(e)))?;
        let header = "# Stations paired with this one (doorway pair / unpair). Written by doorway.\n";
        crate::base::durable::write_private(path, format!("{header}{text}").as_bytes()).map_err(err)
    }
}

/// How a contact's certificate is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PinSource {
    /// Written in the config.
    Config,
    /// Stored by pairing.
    Paired,
}

/// The pin that holds for `contact`: the config's fingerprint, else the paired one.
pub fn pin_for(contact: &Contact, store: &PinStore) -> Option<(Fingerprint, PinSource)> {
    if let Some(text) = &contact.fingerprint {
        // Validated when the config was loaded.
        return Fingerprint::parse(text).map(|f| (f, PinSource::Config));
    }
    store.get(&contact.name).map(|p| (p.fingerprint, PinSource::Paired))
}

/// SIP-over-TLS port when a contact does not say (RFC 3261's default for sips).
pub const DEFAULT_TLS_PORT: u16 = 5061;

/// Where `contact` takes SIP over TLS: the config's `tls_port`, else the port pairing
/// learned, else 5061.
pub fn tls_port(contact: &Contact, store: &PinStore) -> u16 {
    contact
        .tls_port
        .or_else(|| store.get(&contact.name).and_then(|p| p.tls_port))
        .unwrap_or(DEFAULT_TLS_PORT)
}

/// The contact pinned to `fingerprint`, if any.
pub fn contact_with_pin<'a>(config: &'a Config, store: &PinStore, fingerprint: Fingerprint) -> Option<&'a Contact> {
    config
        .contacts
        .iter()
        .find(|c| pin_for(c, store).is_some_and(|(f, _)| f == fingerprint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::identity::Identity;

    #[test]
    fn pins_survive_a_reload_and_can_be_removed() {
        let dir = tempfile::tempdir().unwrap();
        let fp = Identity::ephemeral("Hall").unwrap().fingerprint;
        let mut store = PinStore::load(dir.path());
        assert!(store.get("Hall").is_none());
        store
            .insert(Pin {
                name: "Hall".into(),
                fingerprint: fp,
                tls_port: Some(5061),
                paired_at: 1,
            })
            .unwrap();
        let again = PinStore::load(dir.path());
        assert_eq!(again.get("Hall").unwrap().fingerprint, fp);
        let mut again = again;
        assert!(again.remove("Hall").unwrap());
        assert!(!again.remove("Hall").unwrap());
        assert!(PinStore::load(dir.path()).get("Hall").is_none());
    }

    #[test]
    fn a_broken_file_trusts_nobody() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PINS_FILE), "[[pin]]\nname = 3\n").unwrap();
        assert!(PinStore::load(dir.path()).all().is_empty());
    }
}
