//! `[account]`: the station's account on a SIP server (a registrar and proxy such as
//! Kamailio), for buildings where stations are called by address of record.

use super::Problem;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// How the station talks to its SIP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountTransport {
    /// SIP over UDP (what most servers take).
    #[default]
    Udp,
    /// SIP over TCP: the server's requests cannot come from a forged address.
    Tcp,
}

/// `[account]`: registration with a SIP server; unset `registrar` turns it off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// The server's URI, `sip:flat12.example` or `sip:192.168.1.10:5060`; its host is
    /// the domain of the station's address of record (`sip:USER@DOMAIN`).
    #[serde(default)]
    pub registrar: Option<String>,
    /// Where requests go, `IP:PORT`, when the registrar's name is not in the LAN's DNS
    /// (the usual case for a building's own domain). Calls coming from this address are
    /// taken as from the server.
    #[serde(default)]
    pub proxy: Option<String>,
    /// The station's user on the server (`USER` in `sip:USER@DOMAIN`).
    #[serde(default)]
    pub user: Option<String>,
    /// Its password (or `password_file`, readable by the service only).
    #[serde(default)]
    pub password: Option<String>,
    /// A file holding the password (its first line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// `udp` or `tcp`.
    #[serde(default)]
    pub transport: AccountTransport,
    /// Registration lifetime asked for, in seconds; the station renews at 3/4 of what
    /// the server grants.
    #[serde(default = "default_expires")]
    pub expires: u32,
    /// How often the station checks that the server is still there (SIP OPTIONS), in
    /// seconds: a server that restarted forgets registrations, so the station registers
    /// again as soon as it answers after a silence.
    #[serde(default = "default_keepalive")]
    pub keepalive_seconds: u32,
}

impl Default for AccountConfig {
    fn default() -> Self {
        Self {
            registrar: None,
            proxy: None,
            user: None,
            password: None,
            password_file: None,
            transport: AccountTransport::default(),
            expires: default_expires(),
            keepalive_seconds: default_keepalive(),
        }
    }
}

/// A registrar URI taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registrar {
    /// The domain of the address of record (host name or IP address as written).
    pub domain: String,
    /// The port written in the URI, if any.
    pub port: Option<u16>,
}

impl AccountConfig {
    /// The account's user and password.
    pub fn credentials(&self) -> super::Credentials<'_> {
        super::Credentials {
            section: "account",
            user: self.user.as_deref(),
            password: self.password.as_deref(),
            password_file: self.password_file.as_deref(),
        }
    }

    /// Whether an account is configured.
    pub fn enabled(&self) -> bool {
        self.registrar.is_some()
    }

    /// The registrar's domain and port, when configured and well formed.
    pub fn registrar(&self) -> Option<Registrar> {
        let text = self.registrar.as_deref()?.trim();
        let uri = rsipstack::sip::Uri::try_from(text).ok()?;
        if !text.starts_with("sip:") || uri.auth.is_some() {
            return None;
        }
        let domain = uri.host_with_port.host.to_string();
        let sane = !domain.is_empty()
            && domain.len() <= 253
            && domain.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
        sane.then(|| Registrar {
            domain,
            port: uri.host_with_port.port.as_ref().map(|p| p.value()),
        })
    }

    /// The proxy address, when set and well formed.
    pub fn proxy_addr(&self) -> Option<SocketAddr> {
        self.proxy.as_deref()?.trim().parse().ok()
    }

    /// The station's address of record, `sip:USER@DOMAIN`.
    pub fn aor(&self) -> Option<String> {
        Some(format!("sip:{}@{}", self.user.as_deref()?, self.registrar()?.domain))
    }

    /// Checks the values serde cannot.
    pub(super) fn validate(&self) -> Result<(), Problem> {
        let problem = |f: &str, m: &str| Err(Problem::new(&["account", f], m));
        if !self.enabled() {
            let set = self.proxy.is_some() || self.user.is_some() || self.password.is_some();
            if set {
                return problem("registrar", "the account needs its registrar, e.g. sip:flat12.example");
            }
            return Ok(());
        }
        if self.registrar().is_none() {
            return problem(
                "registrar",
                "allowed: a SIP URI without a user, e.g. sip:flat12.example or sip:192.168.1.10:5060",
            );
        }
        if self.proxy.is_some() && self.proxy_addr().is_none() {
            return problem("proxy", "allowed: IP:PORT, e.g. 192.168.1.10:5060");
        }
        match self.user.as_deref() {
            None => return problem("user", "the account needs its user name"),
            Some(u) if !user_is_sane(u) => {
                return problem(
                    "user",
                    "allowed: 1 to 64 letters, digits and - _ . ! ~ * ' ( ) + (the user part of a SIP URI)",
                )
            }
            Some(_) => {}
        }
        self.credentials().check()?;
        if !(60..=86_400).contains(&self.expires) {
            return problem("expires", "allowed: 60 to 86400 seconds");
        }
        if !(1..=3600).contains(&self.keepalive_seconds) {
            return problem("keepalive_seconds", "allowed: 1 to 3600 seconds");
        }
        Ok(())
    }
}

/// The user part of a SIP URI, kept to characters that need no escaping.
pub fn user_is_sane(user: &str) -> bool {
    (1..=64).contains(&user.len())
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.!~*'()+".contains(c))
}

fn default_expires() -> u32 {
    600
}

fn default_keepalive() -> u32 {
    30
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(registrar: &str) -> AccountConfig {
        AccountConfig {
            registrar: Some(registrar.into()),
            user: Some("door".into()),
            ..Default::default()
        }
    }

    #[test]
    fn registrar_and_aor() {
        let a = account("sip:flat12.example");
        assert_eq!(
            a.registrar(),
            Some(Registrar {
                domain: "flat12.example".into(),
                port: None
            })
        );
        assert_eq!(a.aor().as_deref(), Some("sip:door@flat12.example"));
        let a = account("sip:192.168.1.10:5070");
        assert_eq!(a.registrar().unwrap().port, Some(5070));
        assert!(a.validate().is_ok());
    }

    #[test]
    fn bad_values_are_named() {
        let field = |a: &AccountConfig| a.validate().unwrap_err().path.join(".");
        assert_eq!(field(&account("flat12.example")), "account.registrar");
        assert_eq!(field(&account("sip:someone@flat12.example")), "account.registrar");
        let mut a = account("sip:flat12.example");
        a.user = Some("door bell".into());
        assert_eq!(field(&a), "account.user");
        let mut a = account("sip:flat12.example");
        a.proxy = Some("kamailio.lan".into());
        assert_eq!(field(&a), "account.proxy");
        let mut a = account("sip:flat12.example");
        a.expires = 5;
        assert_eq!(field(&a), "account.expires");
        let a = AccountConfig {
            user: Some("door".into()),
            ..Default::default()
        };
        assert_eq!(field(&a), "account.registrar");
    }
}
