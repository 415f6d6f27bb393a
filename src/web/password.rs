//! The web page's password: an argon2id hash in `web-password` in the state directory
//! (mode 0600). The password itself is never stored or logged.
//!
//! A hash costs [`HASH_MEMORY_KIB`] of memory on purpose, so the web page makes at most
//! [`HASHES_AT_ONCE`] at a time ([`Hashing`]) and refuses the rest at once: the memory
//! hashing can take is bounded by their product, whatever strangers send.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Memory one hash takes (argon2id's m, the recommended minimum of RFC 9106's second
/// choice and OWASP: 19 MiB).
pub const HASH_MEMORY_KIB: u32 = 19 * 1024;
/// Passes over that memory (argon2id's t).
pub const HASH_PASSES: u32 = 2;
/// Hashes made at once by the web page; more are refused until one is done.
pub const HASHES_AT_ONCE: usize = 2;

/// The file beside the station's identity that holds the hash.
pub const FILE_NAME: &str = "web-password";

/// Shortest password accepted: the page is the door's remote control.
pub const MIN_LENGTH: usize = 8;
/// Longest password accepted (argon2 takes any length; a bound keeps the work bounded).
pub const MAX_LENGTH: usize = 256;

/// Why a password cannot be set or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too short or too long.
    #[error("the password must have {MIN_LENGTH} to {MAX_LENGTH} characters")]
    Length,
    /// The hash could not be made (should not happen with the default parameters).
    #[error("cannot hash the password: {0}")]
    Hash(String),
    /// The file could not be written.
    #[error("{file}: {source}")]
    Write {
        /// The hash file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The hash file in `state_dir`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE_NAME)
}

/// Checks a new password's length (in characters).
pub fn acceptable(password: &str) -> Result<(), PasswordError> {
    let n = password.chars().count();
    if (MIN_LENGTH..=MAX_LENGTH).contains(&n) {
        Ok(())
    } else {
        Err(PasswordError::Length)
    }
}

/// argon2id with this page's bounded parameters.
fn hasher() -> Argon2<'static> {
    let params = Params::new(HASH_MEMORY_KIB, HASH_PASSES, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Makes the PHC string (argon2id, [`HASH_MEMORY_KIB`], random salt) for `password`.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    acceptable(password)?;
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| PasswordError::Hash(e.to_string()))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `stored` (false for a damaged hash).
pub fn verify(stored: &str, password: &str) -> bool {
    if password.len() > MAX_LENGTH * 4 {
        return false;
    }
    match PasswordHash::new(stored) {
        // A stored hash asking for more memory than ours is not ours: never made.
        Ok(parsed) if memory_kib(&parsed).is_some_and(|m| m <= HASH_MEMORY_KIB) => {
            hasher().verify_password(password.as_bytes(), &parsed).is_ok()
        }
        _ => false,
    }
}

fn memory_kib(parsed: &PasswordHash<'_>) -> Option<u32> {
    parsed.params.get_decimal("m")
}

/// The permits to make a hash: at most [`HASHES_AT_ONCE`] at a time.
#[derive(Clone)]
pub struct Hashing(Arc<tokio::sync::Semaphore>);

impl Default for Hashing {
    fn default() -> Self {
        // A hash's blocks must go back to the system when freed (see the tuning).
        crate::base::heap::tune();
        Self(Arc::new(tokio::sync::Semaphore::new(HASHES_AT_ONCE)))
    }
}

impl Hashing {
    /// A permit, or None when [`HASHES_AT_ONCE`] hashes are being made.
    pub fn try_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }

    /// Runs `work` (a hash or its check) on a blocking thread while holding `permit`.
    pub async fn run<T: Send + 'static>(
        &self,
        permit: tokio::sync::OwnedSemaphorePermit,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .ok()
    }
}

/// Writes the hash of `password` to the state directory, atomically and readable by the
/// service only.
pub fn store(state_dir: &Path, password: &str) -> Result<(), PasswordError> {
    let hashed = hash(password)?;
    let file = path(state_dir);
    crate::base::durable::write_private(&file, format!("{hashed}\n").as_bytes())
        .map_err(|source| PasswordError::Write { file, source })
}

/// Removes the password: the next visitor needs the one-time code on the station's screen.
pub fn clear(state_dir: &Path) -> Result<(), PasswordError> {
    let file = path(state_dir);
    match std::fs::remove_file(&file) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(PasswordError::Write { file, source }),
    }
}

/// The stored hash, if a password is set (a file that cannot be read counts as none set
/// only when it is missing; any other error is reported by the caller's log).
pub fn load(state_dir: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(path(state_dir)) {
        Ok(text) => {
            let line = text.trim();
            Ok((!line.is_empty()).then(|| line.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_password_verifies_and_others_do_not() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        store(dir.path(), "open sesame").unwrap();
        let stored = load(dir.path()).unwrap().unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("open sesame"));
        assert!(verify(&stored, "open sesame"));
        assert!(!verify(&stored, "open sesam"));
        assert!(!verify("not a hash", "open sesame"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path(dir.path())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        clear(dir.path()).unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(matches!(hash("short"), Err(PasswordError::Length)));
        assert!(matches!(hash(&"x".repeat(MAX_LENGTH + 1)), Err(PasswordError::Length)));
    }
}
