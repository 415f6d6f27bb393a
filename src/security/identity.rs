//! The station's own identity: an ECDSA P-256 key pair and a self-signed certificate,
//! created at first start in the state directory and never replaced afterwards.
//!
//! Peers recognise a station by the SHA-256 fingerprint of this certificate (pinning),
//! not by a CA: a LAN has none, and a pin needs none. The certificate never expires
//! (rcgen's default validity runs to the year 4096) and its dates are not checked
//! against a pin, so a Pi that boots without a real-time clock still proves itself.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use tracing::{info, warn};

/// File name of the private key in the state directory (mode 0600).
pub const KEY_FILE: &str = "identity-key.pem";
/// File name of the certificate in the state directory.
pub const CERT_FILE: &str = "identity-cert.pem";

/// Why the identity could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A file is there but unusable; it is left as it is (an identity is never replaced
    /// behind a person's back: paired stations would stop trusting this one).
    #[error("{path}: {why}; move it away to create a new identity (paired stations must then pair again)")]
    Unusable {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// No identity exists yet.
    #[error("no identity in {0} yet: the station creates it when it first starts")]
    Missing(PathBuf),
}

pub use crate::base::fingerprint::Fingerprint;

impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).ok_or_else(|| serde::de::Error::custom("not a SHA256:... fingerprint"))
    }
}

/// The station's key and certificate, in PEM and DER.
#[derive(Clone)]
pub struct Identity {
    /// Certificate, PEM.
    pub cert_pem: String,
    /// Certificate, DER.
    pub cert_der: Vec<u8>,
    /// Private key (PKCS#8), PEM. Never logged: [`Identity`]'s Debug leaves it out.
    key_pem: String,
    /// The certificate's fingerprint.
    pub fingerprint: Fingerprint,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint.to_string())
            .finish_non_exhaustive()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IdentityError + '_ {
    move |source| IdentityError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Identity {
    /// Our certificate chain and key, checked to belong together.
    pub fn certified_key(&self) -> Result<std::sync::Arc<rustls::sign::CertifiedKey>, rustls::Error> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let cert = CertificateDer::from(self.cert_der.clone());
        let key = PrivateKeyDer::from_pem_slice(self.key_pem().as_bytes())
            .map_err(|e| rustls::Error::General(format!("private key: {e}")))?;
        let provider = rustls::crypto::ring::default_provider();
        Ok(std::sync::Arc::new(rustls::sign::CertifiedKey::from_der(
            vec![cert],
            key,
            &provider,
        )?))
    }

    /// The private key in PEM, for the TLS configuration only.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Loads the identity from `dir`, creating it on first start. `name` goes into the
    /// certificate's subject, for people reading it with other tools.
    pub fn load_or_create(dir: &Path, name: &str) -> Result<Self, IdentityError> {
        let key_path = dir.join(KEY_FILE);
        let cert_path = dir.join(CERT_FILE);
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let key_pem = match std::fs::read_to_string(&key_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = rcgen::KeyPair::generate().map_err(|e| IdentityError::Unusable {
                    path: key_path.clone(),
                    why: format!("cannot create a key: {e}"),
                })?;
                let pem = key.serialize_pem();
                write_new(&key_path, pem.as_bytes(), 0o600)?;
                info!(path = %key_path.display(), "created the station's key");
                pem
            }
            Err(e) => return Err(io(&key_path)(e)),
        };
        let key = rcgen::KeyPair::from_pem(&key_pem).map_err(|e| IdentityError::Unusable {
            path: key_path.clone(),
            why: format!("not a private key in PEM: {e}"),
        })?;
        let cert_pem = match std::fs::read_to_string(&cert_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pem = self_signed(&key, name, &cert_path)?;
                write_new(&cert_path, pem.as_bytes(), 0o644)?;
                info!(path = %cert_path.display(), "created the station's certificate");
                pem
            }
            Err(e) => return Err(io(&cert_path)(e)),
        };
        let identity = Self::from_pem(cert_pem, key_pem, &cert_path)?;
        if let Err(e) = identity.certified_key() {
            return Err(IdentityError::Unusable {
                path: cert_path,
                why: format!(
                    "the certificate is not usable with the key in {}: {e}",
                    key_path.display()
                ),
            });
        }
        Ok(identity)
    }

    /// Reads the certificate alone (for `doorway identity` without a running station).
    pub fn read_certificate(dir: &Path) -> Result<Fingerprint, IdentityError> {
        let path = dir.join(CERT_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(IdentityError::Missing(dir.into())),
            Err(e) => return Err(io(&path)(e)),
        };
        Ok(Self::cert_der_from_pem(&text, &path)?.1)
    }

    fn cert_der_from_pem(text: &str, path: &Path) -> Result<(Vec<u8>, Fingerprint), IdentityError> {
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::CertificateDer::from_pem_slice(text.as_bytes()).map_err(|e| {
            IdentityError::Unusable {
                path: path.to_owned(),
                why: format!("not a certificate in PEM: {e}"),
            }
        })?;
        let fingerprint = Fingerprint::of_der(&der);
        Ok((der.to_vec(), fingerprint))
    }

    fn from_pem(cert_pem: String, key_pem: String, cert_path: &Path) -> Result<Self, IdentityError> {
        let (cert_der, fingerprint) = Self::cert_der_from_pem(&cert_pem, cert_path)?;
        Ok(Self {
            cert_pem,
            cert_der,
            key_pem,
            fingerprint,
        })
    }

    /// A fresh identity that lives only in memory (the demo's and tests' stations that
    /// are given no state directory of their own still speak TLS).
    pub fn ephemeral(name: &str) -> Result<Self, IdentityError> {
        let path = PathBuf::from("(memory)");
        let key = rcgen::KeyPair::generate().map_err(|e| IdentityError::Unusable {
            path: path.clone(),
            why: format!("cannot create a key: {e}"),
        })?;
        let cert_pem = self_signed(&key, name, &path)?;
        Self::from_pem(cert_pem, key.serialize_pem(), &path)
    }
}

fn self_signed(key: &rcgen::KeyPair, name: &str, path: &Path) -> Result<String, IdentityError> {
    let unusable = |e: rcgen::Error| IdentityError::Unusable {
        path: path.to_owned(),
        why: format!("cannot create a certificate: {e}"),
    };
    let mut params = rcgen::CertificateParams::new(vec!["doorway.local".to_string()]).map_err(unusable)?;
    let mut subject = rcgen::DistinguishedName::new();
    // A name from the config: printable and short, as X.509 wants.
    let common: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    subject.push(rcgen::DnType::CommonName, format!("doorway {common}"));
    params.distinguished_name = subject;
    Ok(params.self_signed(key).map_err(unusable)?.pem())
}

/// Writes a file that must not exist yet, with `mode`, through a temporary name, so a
/// crash leaves either nothing or the whole file.
fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<(), IdentityError> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(&tmp))?;
    file.write_all(data).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    drop(file);
    if path.exists() {
        // Someone else created it meanwhile: theirs stays.
        warn!(path = %path.display(), "identity file appeared while creating it; keeping it");
        let _ = std::fs::remove_file(&tmp);
        return Ok(());
    }
    std::fs::rename(&tmp, path).map_err(io(path))?;
    crate::base::durable::sync_directory_of(path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = Identity::load_or_create(dir.path(), "Door").unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = Identity::load_or_create(dir.path(), "Door renamed").unwrap();
        assert_eq!(first.fingerprint, again.fingerprint);
        assert_eq!(Identity::read_certificate(dir.path()).unwrap(), first.fingerprint);
        assert!(!format!("{first:?}").contains("PRIVATE"));
    }

    #[test]
    fn a_broken_key_is_reported_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "garbage").unwrap();
        let err = Identity::load_or_create(dir.path(), "Door").unwrap_err();
        assert!(err.to_string().contains(KEY_FILE), "{err}");
        assert_eq!(std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap(), "garbage");
    }

    #[test]
    fn a_certificate_for_another_key_is_refused() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        Identity::load_or_create(a.path(), "A").unwrap();
        Identity::load_or_create(b.path(), "B").unwrap();
        std::fs::copy(b.path().join(CERT_FILE), a.path().join(CERT_FILE)).unwrap();
        assert!(Identity::load_or_create(a.path(), "A").is_err());
    }

    #[test]
    fn fingerprints_print_and_parse() {
        let id = Identity::ephemeral("Door").unwrap();
        let text = id.fingerprint.to_string();
        assert!(text.starts_with("SHA256:") && text.len() == 7 + 95, "{text}");
        assert_eq!(Fingerprint::parse(&text), Some(id.fingerprint));
        assert_eq!(
            Fingerprint::parse(
                &text
                    .replace(':', "")
                    .replacen("SHA256", "SHA256:", 1)
                    .to_lowercase()
                    .replacen("sha256", "SHA256", 1)
            ),
            Some(id.fingerprint)
        );
        assert_eq!(Fingerprint::parse("SHA256:AB"), None);
        assert_eq!(Fingerprint::parse("MD5:AB"), None);
        let code = id.fingerprint.short_code();
        assert_eq!(code.len(), 9);
        assert_eq!(&code[4..5], "-");
    }
}
