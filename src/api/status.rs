//! What a running station reports: `doorway status`, the web page's status and home
//! automation read the same [`Status`].

use crate::call::machine::State;
use crate::device::probe::ProbeReport;
use crate::media::conference::ConferenceStats;
use crate::media::{codecs::CodecChoice, MediaStats};
use crate::security::pairing::Stage;
use serde::{Deserialize, Serialize};

/// What `doorway status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Station name.
    pub station: String,
    /// Our SIP URI.
    pub uri: String,
    /// Call state.
    pub call: State,
    /// Every leg of the call (one per remote station), first leg first; `call` is the
    /// first.
    pub legs: Vec<State>,
    /// The ring group whose members ring, until one answers.
    pub group: Option<String>,
    /// Seconds in the current state.
    pub seconds_in_state: u64,
    /// Media statistics of the current call (with one remote station).
    pub media: Option<MediaStats>,
    /// Media counts of a call this station hosts for several remotes, per leg in the
    /// order of `legs`' hosted ones.
    pub conference: Option<ConferenceStats>,
    /// Readings of the test devices.
    pub probes: ProbeReport,
    /// Codec elements in use.
    pub codecs: CodecChoice,
    /// The last message for people.
    pub last_message: Option<String>,
    /// What the screen is about: idle, nearby (the stations to pair with), calling,
    /// ringing, call, add or pairing.
    pub screen: &'static str,
    /// The message the screen shows now (an event's, a missed call, a lasting problem).
    pub screen_message: Option<String>,
    /// The screen is on (not blanked).
    pub screen_on: bool,
    /// A lasting device problem the idle screen shows (a camera not connected).
    pub device_problem: Option<String>,
    /// The last call that rang out unanswered, until someone is back at the station.
    pub missed_call: Option<String>,
    /// SIP state held now (transactions, dialogs, TCP connections).
    pub sip: crate::call::ua::SipStats,
    /// This station's certificate and who it is paired with.
    pub security: SecurityStatus,
    /// Text messages nobody at the station has seen yet, oldest first.
    pub unread_messages: Vec<TextMessage>,
    /// The last text messages both ways, oldest first.
    pub messages: Vec<TextMessage>,
    /// The address we give peers.
    pub address: String,
    /// The web page's address, when it runs.
    pub web: Option<String>,
    /// The web page's one-time setup code while no password is set (for the local
    /// console; the page itself never shows it).
    pub web_setup_code: Option<String>,
    /// The code that lets the person at the station into a web page locked by many
    /// wrong guesses (for the screen and the local console; never on the page).
    pub web_unlock_code: Option<String>,
    /// Browsers watching the camera from the web page.
    pub live_views: Vec<LiveViewStatus>,
    /// The browser leg of a call answered from the web page.
    pub web_answer: Option<WebAnswerStatus>,
    /// The door lock, when this station has one: its relay, whether the door is held
    /// open, who opened it last and the last problem.
    pub door: Option<crate::door::DoorStatus>,
    /// The home automation broker's connection, when one is configured.
    pub mqtt: Option<MqttStatus>,
    /// The account on a SIP server, once it has tried to register.
    pub account: Option<crate::call::registration::AccountStatus>,
    /// The RTSP stream, when it runs.
    pub rtsp: Option<crate::media::rtsp::RtspStatus>,
    /// Stations heard on the LAN (DNS-SD), by name.
    pub neighbours: Vec<NeighbourStatus>,
    /// Tasks alive in the station's runtime: at rest, a count that must not grow over
    /// months (the soak checks it).
    pub tasks: usize,
    /// The heap: memory in use and memory freed but held. At rest, in use must not grow
    /// over months (the soak checks it).
    pub heap: crate::base::heap::HeapFigures,
}

/// A station heard on the LAN.
#[derive(Debug, Clone, Serialize)]
pub struct NeighbourStatus {
    /// The name it announces.
    pub name: String,
    /// Its SIP user.
    pub user: String,
    /// The short code of its certificate, as its screen shows it.
    pub code: String,
    /// Its certificate's fingerprint.
    pub fingerprint: String,
    /// Where it was last heard.
    pub address: Option<std::net::IpAddr>,
    /// Its SIP port.
    pub sip_port: u16,
    /// Its SIP-over-TLS port.
    pub tls_port: u16,
    /// Seconds since it was last heard.
    pub seconds_ago: u64,
    /// The contact whose certificate it holds (paired, or pinned in the config): only
    /// then is it that contact, whatever name it announces.
    pub contact: Option<String>,
}

/// This station's identity, its pins and a pairing under way.
#[derive(Debug, Clone, Serialize)]
pub struct SecurityStatus {
    /// SHA-256 fingerprint of our certificate.
    pub fingerprint: String,
    /// Its short code, for people to compare.
    pub code: String,
    /// Our SIP-over-TLS URI.
    pub tls_uri: Option<String>,
    /// Contacts with a pin, and where the pin comes from.
    pub paired: Vec<(String, crate::security::pins::PinSource)>,
    /// The pairing under way or just finished.
    pub pairing: Option<PairingStatus>,
}

/// What `status` shows of a pairing.
#[derive(Debug, Clone, Serialize)]
pub struct PairingStatus {
    /// The contact.
    pub contact: String,
    /// Where it stands.
    pub stage: Stage,
    /// The code on screen, once known.
    pub code: Option<String>,
    /// What a person is told.
    pub note: String,
}

/// One text message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextMessage {
    /// When it arrived or was delivered, in seconds since 1970 (UTC).
    pub at: u64,
    /// The contact it came from or went to.
    pub peer: String,
    /// It came to us.
    pub incoming: bool,
    /// The text, one line.
    pub text: String,
    /// Nobody has been at the station since it arrived.
    #[serde(default)]
    pub unread: bool,
}

/// What a live view's status shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LiveViewStatus {
    /// Its number.
    pub id: u64,
    /// Media counts.
    pub counts: LegCounts,
    /// Camera frames encoded for it.
    pub frames_sent: u64,
    /// Its Opus packets played on the speaker.
    pub packets_played: u64,
    /// The video bitrate its encoder is set to, kbit/s: it follows what the link to the
    /// browser carries (None until the first estimate).
    pub video_kbps: Option<u32>,
}

/// What a web-answered call's status shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WebAnswerStatus {
    /// The browser leg's number.
    pub id: u64,
    /// The SIP leg's Call-ID (none: the browser talks to this station's visitor).
    pub call: Option<String>,
    /// Media counts of the browser leg.
    pub counts: LegCounts,
    /// Pictures of the caller encoded for the browser.
    pub frames_sent: u64,
    /// The video bitrate its encoder is set to, kbit/s: it follows what the link to the
    /// browser carries (None until the first estimate).
    pub video_kbps: Option<u32>,
}

/// Counts of a running leg, for the status.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct LegCounts {
    /// Access units and packets sent.
    pub video_sent: u64,
    /// Opus packets sent.
    pub audio_sent: u64,
    /// Opus packets received.
    pub audio_received: u64,
    /// H.264 access units received.
    pub video_received: u64,
    /// Keyframes the browser asked for.
    pub keyframes_asked: u64,
}

/// The home automation broker's connection as `doorway status` shows it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MqttStatus {
    /// The broker, as configured.
    pub broker: String,
    /// Connected now.
    pub connected: bool,
    /// Why not, when not.
    pub problem: Option<String>,
}
