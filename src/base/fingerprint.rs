//! A certificate's SHA-256 fingerprint: what a pin holds, what a contact's config
//! names, and the short code people compare.

use sha2::{Digest, Sha256};
use std::fmt;

/// A SHA-256 certificate fingerprint.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of_der(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }

    /// Parses `SHA256:AB:CD:...` (64 hex digits, colons optional, any case).
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.trim();
        let rest = rest
            .strip_prefix("SHA256:")
            .or_else(|| rest.strip_prefix("sha256:"))
            .or_else(|| rest.strip_prefix("sha-256 "))?;
        let hex: String = rest.chars().filter(|c| *c != ':').collect();
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(out))
    }

    /// A short code a person can read out and compare: the first 40 bits in
    /// Crockford's base32, as `XXXX-XXXX`.
    pub fn short_code(&self) -> String {
        const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let bits = self.0[..5].iter().fold(0u64, |acc, b| (acc << 8) | *b as u64);
        let chars: Vec<char> = (0..8)
            .map(|i| ALPHABET[((bits >> (35 - 5 * i)) & 31) as usize] as char)
            .collect();
        format!(
            "{}-{}",
            chars[..4].iter().collect::<String>(),
            chars[4..].iter().collect::<String>()
        )
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SHA256:")?;
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.short_code())
    }
}
