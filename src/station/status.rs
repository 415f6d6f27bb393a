//! What `doorway status` shows: the call, media, devices, SIP state held, security and
//! text messages.

use super::{message_log, pairing, Station};
use crate::call::machine::State;
use crate::device::probe::ProbeReport;
use crate::media::conference::ConferenceStats;
use crate::media::{codecs::CodecChoice, MediaStats};
use serde::Serialize;

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
    pub unread_messages: Vec<message_log::TextMessage>,
    /// The last text messages both ways, oldest first.
    pub messages: Vec<message_log::TextMessage>,
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
    pub live_views: Vec<super::web_live::LiveViewStatus>,
    /// The browser leg of a call answered from the web page.
    pub web_answer: Option<super::web_answer::WebAnswerStatus>,
    /// The door lock, when this station has one: its relay, whether the door is held
    /// open, who opened it last and the last problem.
    pub door: Option<crate::door::DoorStatus>,
    /// The home automation broker's connection, when one is configured.
    pub mqtt: Option<crate::home::MqttStatus>,
    /// The account on a SIP server, once it has tried to register.
    pub account: Option<crate::call::registration::AccountStatus>,
    /// The RTSP stream, when it runs.
    pub rtsp: Option<crate::media::rtsp::RtspStatus>,
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
    pub pairing: Option<pairing::PairingStatus>,
}

impl Station {
    pub(super) fn status(&self) -> Status {
        Status {
            station: self.config.station.name.clone(),
            uri: self.ua.uri(),
            call: self.machine.state().clone(),
            legs: self.machine.legs().into_iter().cloned().collect(),
            group: self.machine.group().map(str::to_string),
            seconds_in_state: self.state_since.elapsed().as_secs(),
            media: self.media.as_ref().map(|m| m.stats()),
            conference: self.hosted.as_ref().map(|h| h.media.stats()),
            probes: self.devices.probes.report(),
            codecs: self.settings.codecs.clone(),
            last_message: self.last_message.clone(),
            screen_message: self.compositor.lock().unwrap().message().map(str::to_string),
            screen_on: self.screen_on,
            device_problem: self.idle_watch.problem(),
            missed_call: self.missed_call.clone(),
            sip: self.ua.stats(),
            security: self.security_status(),
            unread_messages: self.messages.unread(),
            messages: self.messages.all(),
            address: self.advertise.to_string(),
            web: self.web_url(),
            web_setup_code: self
                .web
                .as_ref()
                .and_then(|w| w.shared.auth.lock().unwrap().setup_code()),
            web_unlock_code: self
                .web
                .as_ref()
                .and_then(|w| w.shared.auth.lock().unwrap().unlock_code(std::time::Instant::now())),
            live_views: self.live_view_status(),
            web_answer: self.web_answer_status(),
            door: self.door.as_ref().map(|d| d.status()),
            mqtt: self.home.as_ref().map(|h| h.status()),
            account: self.account.status.clone(),
            rtsp: self.rtsp.as_ref().map(|r| r.status()),
        }
    }
}
