//! `[mqtt]`: the home automation broker (Home Assistant's MQTT integration).

use super::Problem;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[mqtt]`: a broker to publish the station to; unset `broker` turns it off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://HOST[:PORT]` (1883) or `mqtts://HOST[:PORT]` (TLS, 8883).
    #[serde(default)]
    pub broker: Option<String>,
    /// User name on the broker.
    #[serde(default)]
    pub user: Option<String>,
    /// Password on the broker (or `password_file`, readable by the service only).
    #[serde(default)]
    pub password: Option<String>,
    /// A file holding the password (its first line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// For `mqtts://`: the CA certificate (PEM) the broker's certificate is signed by;
    /// the system's CAs when unset.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The station's topics start with this (`doorway/<station user>` by default).
    #[serde(default)]
    pub topic: Option<String>,
    /// Home Assistant's discovery prefix.
    #[serde(default = "default_discovery_prefix")]
    pub discovery_prefix: String,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            broker: None,
            user: None,
            password: None,
            password_file: None,
            ca_file: None,
            topic: None,
            discovery_prefix: default_discovery_prefix(),
        }
    }
}

/// Where a broker is, from `broker`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Over TLS.
    pub tls: bool,
}

impl MqttConfig {
    /// The user and password the section gives.
    pub fn credentials(&self) -> super::Credentials<'_> {
        super::Credentials {
            section: "mqtt",
            user: self.user.as_deref(),
            password: self.password.as_deref(),
            password_file: self.password_file.as_deref(),
        }
    }

    /// The broker's address, when one is configured and well formed.
    pub fn address(&self) -> Option<BrokerAddress> {
        let text = self.broker.as_deref()?;
        let (tls, rest) = if let Some(rest) = text.strip_prefix("mqtts://") {
            (true, rest)
        } else {
            (false, text.strip_prefix("mqtt://")?)
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                (host, port.parse::<u16>().ok().filter(|p| *p != 0)?)
            }
            _ => (rest, if tls { 8883 } else { 1883 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let sane = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c));
        sane.then(|| BrokerAddress {
            host: host.to_string(),
            port,
            tls,
        })
    }

    /// Checks the values serde cannot.
    pub(super) fn validate(&self) -> Result<(), Problem> {
        let problem = |f: &str, m: &str| Err(Problem::new(&["mqtt", f], m));
        if self.broker.is_some() && self.address().is_none() {
            return problem(
                "broker",
                "allowed: mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (TLS), e.g. mqtt://192.168.1.5",
            );
        }
        self.credentials().check()?;
        if self.credentials().has_password() && self.user.is_none() {
            return problem("user", "a password needs its user name");
        }
        if let Some(topic) = &self.topic {
            if !topic_is_sane(topic) {
                return problem(
                    "topic",
                    "allowed: letters, digits, '-', '_' and '/' between levels (no wildcards, no leading '/')",
                );
            }
        }
        if !topic_is_sane(&self.discovery_prefix) {
            return problem("discovery_prefix", "allowed: letters, digits, '-', '_' and '/'");
        }
        Ok(())
    }
}

/// `[rtsp]`: the camera and microphone as an RTSP stream for video recorders and Home
/// Assistant, behind digest authentication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtspConfig {
    /// Serve `rtsp://<station>:<port>/live`.
    #[serde(default)]
    pub enabled: bool,
    /// TCP port (8554 by default; 0 picks a free one).
    #[serde(default = "default_rtsp_port")]
    pub port: u16,
    /// The user name viewers log in with.
    #[serde(default)]
    pub user: Option<String>,
    /// Its password (or `password_file`, readable by the service only).
    #[serde(default)]
    pub password: Option<String>,
    /// A file holding the password (its first line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

impl Default for RtspConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            port: default_rtsp_port(),
            user: None,
            password: None,
            password_file: None,
        }
    }
}

impl RtspConfig {
    /// The user and password the section gives.
    pub fn credentials(&self) -> super::Credentials<'_> {
        super::Credentials {
            section: "rtsp",
            user: self.user.as_deref(),
            password: self.password.as_deref(),
            password_file: self.password_file.as_deref(),
        }
    }

    /// Checks the values serde cannot.
    pub(super) fn validate(&self) -> Result<(), Problem> {
        let problem = |f: &str, m: &str| Err(Problem::new(&["rtsp", f], m));
        self.credentials().check()?;
        if !self.enabled {
            return Ok(());
        }
        match &self.user {
            None => {
                return problem(
                    "user",
                    "the stream needs a user name (nobody watches without logging in)",
                )
            }
            Some(u) if !super::user_is_sane(u) => {
                return problem("user", "allowed: 1 to 64 letters, digits and - _ . ! ~ * ' ( ) +")
            }
            Some(_) => {}
        }
        if !self.credentials().has_password() {
            return problem("password", "the stream needs a password or a password_file");
        }
        if self.password.as_deref().is_some_and(|p| p.len() < 8) {
            return problem("password", "at least 8 characters");
        }
        Ok(())
    }
}

fn default_rtsp_port() -> u16 {
    8554
}

fn topic_is_sane(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 100
        && topic
            .split('/')
            .all(|level| !level.is_empty() && level.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)))
}

fn default_discovery_prefix() -> String {
    "homeassistant".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_addresses() {
        let at = |b: &str| {
            MqttConfig {
                broker: Some(b.into()),
                ..Default::default()
            }
            .address()
        };
        let addr = |host: &str, port, tls| {
            Some(BrokerAddress {
                host: host.into(),
                port,
                tls,
            })
        };
        assert_eq!(at("mqtt://192.168.1.5"), addr("192.168.1.5", 1883, false));
        assert_eq!(at("mqtts://broker.lan:8884/"), addr("broker.lan", 8884, true));
        assert_eq!(at("mqtts://ha.local"), addr("ha.local", 8883, true));
        assert_eq!(at("mqtt://[fd00::5]:1884"), addr("fd00::5", 1884, false));
        for bad in [
            "192.168.1.5",
            "http://x",
            "mqtt://",
            "mqtt://host:0",
            "mqtt://host:x",
            "mqtt://a b",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }
}
