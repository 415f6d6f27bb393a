//! What a station says of itself on the LAN (DNS-SD TXT properties, RFC 6763 section 6),
//! without I/O: written from the station's own config and identity, and read back from
//! whatever a neighbour (or a stranger) announced, checked like any input from the
//! network.

use crate::base::fingerprint::Fingerprint;

/// The DNS-SD service type every station announces and browses for.
pub const DOORWAY_SERVICE: &str = "_doorway._tcp.local.";
/// SIP over UDP (RFC 3263's service names), for SIP phones that browse.
pub const SIP_SERVICE: &str = "_sip._udp.local.";
/// SIP over TLS.
pub const SIPS_SERVICE: &str = "_sips._tcp.local.";

/// The version of these properties; a station skips announcements of another.
pub const RECORD_VERSION: &str = "1";

/// Longest station name taken from the LAN, in characters (the config allows no more).
pub const MAX_NAME: usize = 64;
/// Longest SIP user taken from the LAN.
pub const MAX_USER: usize = 64;

/// A station as it announces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    /// Its name, as on its screen ("Front door").
    pub name: String,
    /// Its SIP user (`sip:USER@address`).
    pub user: String,
    /// Its certificate's fingerprint: who it is, whatever it is called.
    pub fingerprint: Fingerprint,
    /// Its SIP port (UDP and TCP).
    pub sip_port: u16,
    /// Its SIP-over-TLS port.
    pub tls_port: u16,
}

/// Why an announcement is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// A property is missing.
    #[error("no {0}")]
    Missing(&'static str),
    /// A property is not what it must be.
    #[error("a bad {0}")]
    Bad(&'static str),
    /// Another version of these properties.
    #[error("version {0}, not {RECORD_VERSION}")]
    Version(String),
}

impl Announced {
    /// The TXT properties that say this: `v`, `name`, `user`, `fp` (64 hex digits),
    /// `code` (the short code people compare) and `tls` (the TLS port).
    pub fn properties(&self) -> Vec<(&'static str, String)> {
        let hex: String = self.fingerprint.0.iter().map(|b| format!("{b:02x}")).collect();
        vec![
            ("v", RECORD_VERSION.to_string()),
            ("name", self.name.clone()),
            ("user", self.user.clone()),
            ("fp", hex),
            ("code", self.fingerprint.short_code()),
            ("tls", self.tls_port.to_string()),
        ]
    }

    /// Reads an announcement: `property` gives a TXT property's value by key, and
    /// `sip_port` is the SRV record's port. Everything is checked: the name and user
    /// are short and printable, the fingerprint is 32 bytes and the code matches it.
    pub fn parse<'a>(property: impl Fn(&str) -> Option<&'a str>, sip_port: u16) -> Result<Self, RecordError> {
        let get = |key: &'static str| property(key).ok_or(RecordError::Missing(key));
        let version = get("v")?;
        if version != RECORD_VERSION {
            return Err(RecordError::Version(printable(version, 8).unwrap_or_default()));
        }
        let name = printable(get("name")?, MAX_NAME).ok_or(RecordError::Bad("name"))?;
        let user = get("user")?;
        let user_ok = !user.is_empty()
            && user.len() <= MAX_USER
            && user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.!~*'()&=+$,;?/".contains(c));
        if !user_ok {
            return Err(RecordError::Bad("user"));
        }
        let fingerprint = Fingerprint::parse(&format!("SHA256:{}", get("fp")?)).ok_or(RecordError::Bad("fp"))?;
        if get("code")? != fingerprint.short_code() {
            return Err(RecordError::Bad("code"));
        }
        let tls_port = get("tls")?.parse::<u16>().ok().filter(|p| *p > 0);
        let tls_port = tls_port.ok_or(RecordError::Bad("tls"))?;
        if sip_port == 0 {
            return Err(RecordError::Bad("port"));
        }
        Ok(Self {
            name,
            user: user.to_string(),
            fingerprint,
            sip_port,
            tls_port,
        })
    }
}

/// `text` when it is a name a person may be shown: not empty, at most `max`
/// characters, no control characters, trimmed.
fn printable(text: &str, max: usize) -> Option<String> {
    let text = text.trim();
    let ok = !text.is_empty()
        && text.chars().count() <= max
        && !text.chars().any(|c| c.is_control() || c == char::REPLACEMENT_CHARACTER);
    ok.then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn kitchen() -> Announced {
        Announced {
            name: "Kitchen".into(),
            user: "kitchen".into(),
            fingerprint: Fingerprint([7; 32]),
            sip_port: 5060,
            tls_port: 5061,
        }
    }

    fn read(props: &HashMap<&str, String>, port: u16) -> Result<Announced, RecordError> {
        Announced::parse(|k| props.get(k).map(String::as_str), port)
    }

    #[test]
    fn what_is_announced_reads_back_the_same() {
        let props: HashMap<&str, String> = kitchen().properties().into_iter().collect();
        assert_eq!(read(&props, 5060), Ok(kitchen()));
        // Each value fits one DNS character-string (255 bytes with its key).
        assert!(kitchen().properties().iter().all(|(k, v)| k.len() + 1 + v.len() <= 255));
    }

    #[test]
    fn a_stranger_s_bad_values_are_refused_by_name() {
        let good: HashMap<&str, String> = kitchen().properties().into_iter().collect();
        let with = |key: &'static str, value: &str| {
            let mut p = good.clone();
            p.insert(key, value.to_string());
            read(&p, 5060)
        };
        assert_eq!(with("v", "2"), Err(RecordError::Version("2".into())));
        assert_eq!(with("name", ""), Err(RecordError::Bad("name")));
        assert_eq!(with("name", "a\u{1b}[2Jb"), Err(RecordError::Bad("name")));
        assert_eq!(with("name", &"x".repeat(65)), Err(RecordError::Bad("name")));
        assert_eq!(with("user", "kit chen"), Err(RecordError::Bad("user")));
        assert_eq!(with("user", "a@b"), Err(RecordError::Bad("user")));
        assert_eq!(with("fp", "abcd"), Err(RecordError::Bad("fp")));
        assert_eq!(with("fp", &"g".repeat(64)), Err(RecordError::Bad("fp")));
        // A code that is not the fingerprint's: a record patched by hand, or a lie.
        assert_eq!(with("code", "0000-0000"), Err(RecordError::Bad("code")));
        assert_eq!(with("tls", "0"), Err(RecordError::Bad("tls")));
        assert_eq!(with("tls", "70000"), Err(RecordError::Bad("tls")));
        assert_eq!(read(&good, 0), Err(RecordError::Bad("port")));
        let mut missing = good.clone();
        missing.remove("fp");
        assert_eq!(read(&missing, 5060), Err(RecordError::Missing("fp")));
    }

    #[test]
    fn names_are_trimmed_and_may_be_any_language() {
        let mut props: HashMap<&str, String> = kitchen().properties().into_iter().collect();
        props.insert("name", "  Küche oben ".into());
        assert_eq!(read(&props, 5060).unwrap().name, "Küche oben");
    }
}
