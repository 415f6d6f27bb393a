//! Station configuration: one TOML file, read with serde, checked by [`Config::validate`].
//!
//! Every error names the file, the line and the field, and says what is allowed, so that a
//! person at a door with a laptop can fix it without reading source code.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// The most members a ring group rings at once.
pub const MAX_GROUP: usize = 8;

/// Where `doorway run` looks for its configuration when no `--config` is given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/doorway/doorway.toml";

/// A configuration problem, located in the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{file}: cannot read the configuration: {source}")]
    Read {
        /// The file that was asked for.
        file: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The file was read but a value in it is wrong.
    #[error("{file}:{line}: {field}: {message}")]
    Invalid {
        /// The file the value is in.
        file: PathBuf,
        /// 1-based line of the value (or of the table that lacks it).
        line: usize,
        /// Dotted path of the field, e.g. `contact[1].uri`.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

/// The whole station configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Who this station is and how it listens.
    pub station: StationConfig,
    /// The people and stations that may be called (and, by default, who may call).
    #[serde(default, rename = "contact")]
    pub contacts: Vec<Contact>,
    /// Which device backend serves each device family.
    #[serde(default)]
    pub devices: DevicesConfig,
    /// Media settings.
    #[serde(default)]
    pub media: MediaConfig,
    /// Buttons and touch.
    #[serde(default)]
    pub input: InputConfig,
    /// Encryption and who may call without it.
    #[serde(default)]
    pub security: SecurityConfig,
    /// Ring groups: several contacts rung at once, the first to answer talks.
    #[serde(default, rename = "group")]
    pub groups: Vec<Group>,
    /// The station's web page.
    #[serde(default)]
    pub web: WebConfig,
    /// The door lock (a relay), if this station has one, and the digit that opens doors.
    #[serde(default)]
    pub door: DoorConfig,
    /// Home automation: a broker to publish the station to (Home Assistant).
    #[serde(default)]
    pub mqtt: MqttConfig,
    /// An account on a SIP server (registrar and proxy), for calls by address of record.
    #[serde(default)]
    pub account: AccountConfig,
    /// The camera as an RTSP stream (video recorders, Home Assistant).
    #[serde(default)]
    pub rtsp: RtspConfig,
    /// Finding neighbour stations on the LAN.
    #[serde(default)]
    pub discovery: DiscoveryConfig,
}

/// A ring group: pressing it rings every member at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Its name, on its button and the screens.
    pub name: String,
    /// Contact names, 2 to 8.
    pub members: Vec<String>,
    /// Its button: rings the group when idle (kernel key name, as for contacts).
    #[serde(default)]
    pub key: Option<String>,
}

/// Whether contacts that are not paired may call and be called without encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PlainCalls {
    /// Contacts without a pin call over UDP/TCP with plain RTP (a paired contact never
    /// does). A new installation can make its first call before anyone pairs.
    #[default]
    Allow,
    /// Only paired contacts, over TLS with SRTP.
    Refuse,
}

/// `[security]`: TLS and SRTP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// Calls without encryption with contacts that are not paired: `allow` or `refuse`.
    #[serde(default)]
    pub plain_calls: PlainCalls,
    /// TCP port for SIP over TLS (on the listen address).
    #[serde(default = "default_tls_port")]
    pub tls_port: u16,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            plain_calls: PlainCalls::Allow,
            tls_port: default_tls_port(),
        }
    }
}

fn default_tls_port() -> u16 {
    5061
}

/// Identity, SIP listener and call policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationConfig {
    /// Name shown on screens and sent as the SIP display name.
    pub name: String,
    /// SIP user part of this station's address (`sip:USER@host`).
    #[serde(default = "default_user")]
    pub user: String,
    /// Address and port SIP listens on, UDP and TCP alike.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Address other stations reach us at, written into Contact and SDP. Defaults to the
    /// listen address, or the first non-loopback address when listening on 0.0.0.0.
    #[serde(default)]
    pub advertise: Option<IpAddr>,
    /// Accept calls from addresses that are not in the contact list.
    #[serde(default)]
    pub allow_unknown_callers: bool,
    /// Seconds an outgoing call may ring before it is given up.
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_secs: u64,
    /// Seconds an incoming call rings here before it is turned away as missed (480), so a
    /// caller that vanished without CANCEL cannot keep the station ringing.
    #[serde(default = "default_incoming_ring_timeout")]
    pub incoming_ring_timeout_secs: u64,
    /// Seconds a peer has to answer an INVITE at all (100 Trying or any response) before
    /// it is reported unreachable.
    #[serde(default = "default_setup_timeout")]
    pub setup_timeout_secs: u64,
    /// Seconds without any RTP from the peer before an established call is ended.
    #[serde(default = "default_media_timeout")]
    pub media_timeout_secs: u64,
    /// Path of the control socket used by `doorway call|answer|hangup|status`.
    #[serde(default)]
    pub control_socket: Option<PathBuf>,
    /// Where the station keeps its key, certificate, pins and history: systemd's
    /// StateDirectory when unset (`/var/lib/doorway`).
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// Keep the identity and pins in memory only (the demo's stations); not a file setting.
    #[serde(skip)]
    pub ephemeral_state: bool,
    /// Texts a touch sends back: to the caller while ringing, to the other end in a
    /// call, to whoever wrote last between calls. At most 4, each up to 40 characters.
    #[serde(default = "default_quick_replies")]
    pub quick_replies: Vec<String>,
}

/// A preset peer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// Name on the button and in logs; `doorway call NAME` uses it.
    pub name: String,
    /// SIP URI (`sip:kitchen@192.168.1.20:5060`) or plain `host:port`; with an
    /// `[account]`, also an address of record on its server (`sip:kitchen@flat12.example`).
    /// May be left out for a station found on the LAN (`station`, or a `fingerprint`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uri: String,
    /// The name the contact's station announces on the LAN (`[discovery]`): it is called
    /// wherever the network put it, with no address typed. Once the contact is paired
    /// (or has a `fingerprint`), its certificate finds it, whatever name it announces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station: Option<String>,
    /// Answer calls from this contact without a key press.
    #[serde(default)]
    pub auto_answer: bool,
    /// Show this contact's video while its call rings here (early media, RFC 3960).
    #[serde(default)]
    pub preview: bool,
    /// Key that calls this contact (its doorbell button), e.g. `KEY_F1` or `BTN_0`.
    #[serde(default)]
    pub key: Option<String>,
    /// The contact's certificate fingerprint (`SHA256:AB:CD:...`, as `doorway identity`
    /// prints it): its calls then go over TLS with SRTP, and only a station holding that
    /// certificate is taken for it. Pairing on the screens stores the same without an edit.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// The contact's SIP-over-TLS port when it is not 5061 (pairing learns it).
    #[serde(default)]
    pub tls_port: Option<u16>,
    /// This contact may open this station's door (by the DTMF digit in `[door]`); from
    /// anyone else the digit is ignored and logged.
    #[serde(default)]
    pub may_open_door: bool,
}

fn default_true() -> bool {
    true
}

fn default_user() -> String {
    "doorway".into()
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 5060))
}
fn default_ring_timeout() -> u64 {
    45
}
fn default_incoming_ring_timeout() -> u64 {
    60
}
fn default_setup_timeout() -> u64 {
    5
}
/// The quick replies a station offers when the config names none.
pub fn default_quick_replies() -> Vec<String> {
    vec!["Coming!".into(), "Please leave it at the door".into()]
}
fn default_media_timeout() -> u64 {
    10
}

impl Config {
    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates configuration text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|err| {
            let line = err.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            ConfigError::Invalid {
                file: path.to_owned(),
                line,
                field: field_from_toml_error(text, &err),
                message: err.message().trim().to_string(),
            }
        })?;
        config.validate().map_err(|problem| ConfigError::Invalid {
            file: path.to_owned(),
            line: locate(text, &problem.path),
            field: problem.path.join("."),
            message: problem.message,
        })?;
        Ok(config)
    }

    /// Finds a contact by name (case-insensitive).
    pub fn contact(&self, name: &str) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The ring group called `name` (case-insensitive).
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name.eq_ignore_ascii_case(name))
    }
}

mod devices;
pub use devices::{
    test_screen_size, DevicesConfig, InputConfig, MediaConfig, AUDIO_BACKENDS, AUDIO_CODECS, CAMERA_BACKENDS,
    DISPLAY_BACKENDS,
};
pub mod peer;
mod problem;
pub use problem::Problem;
use problem::{field_from_toml_error, line_of, locate};

mod validate;

mod door;
pub use door::DoorConfig;

mod account;
pub use account::{user_is_sane, AccountConfig, AccountTransport, Registrar};
mod credentials;
pub use credentials::Credentials;

mod web;
pub use web::WebConfig;

mod discovery;
pub use discovery::DiscoveryConfig;

mod home;
pub use home::{BrokerAddress, MqttConfig, RtspConfig};

#[cfg(test)]
mod tests;
