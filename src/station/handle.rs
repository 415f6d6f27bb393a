//! How the rest of the program talks to a running station: its commands, its handle,
//! and why it could not start.

use super::{door, messages, pairing, Status};
use crate::call::machine::Event;
use crate::config::Config;
use crate::{device, media};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Why a station could not start.
#[derive(Debug, thiserror::Error)]
pub enum StationError {
    /// SIP could not start.
    #[error(transparent)]
    Sip(#[from] crate::call::ua::UaError),
    /// Media could not start.
    #[error(transparent)]
    Media(#[from] media::MediaError),
    /// A device could not be opened.
    #[error("device: {0}")]
    Device(#[from] device::DeviceError),
    /// The station's key or certificate cannot be used.
    #[error("identity: {0}")]
    Identity(#[from] crate::security::identity::IdentityError),
    /// The station's loop has ended.
    #[error("the station is not running")]
    Stopped,
}

/// Commands to a running station.
#[derive(Debug)]
pub enum Command {
    /// Call a contact by name, or a SIP URI / address.
    Call(String, oneshot::Sender<Result<(), String>>),
    /// Answer the ringing call.
    Answer,
    /// Hang up, cancel or decline.
    Hangup,
    /// Put the call on hold.
    Hold,
    /// Take the call off hold.
    Resume,
    /// Report the status.
    Status(oneshot::Sender<Status>),
    /// Write the screen to a PNG file.
    Screenshot(PathBuf, oneshot::Sender<Result<(), String>>),
    /// Input as if from a device: scripted input for tests and remote buttons.
    Input(crate::input::RawInput),
    /// Start a new measurement window on the test devices' probes.
    ResetProbes,
    /// The station's own timer: offer again after a 491 (see the call machine).
    RetryReoffer(String),
    /// Pairing with a contact.
    Pairing(pairing::PairingCommand),
    /// Text messages.
    Text(messages::TextCommand),
    /// Use a new configuration (already checked and saved); the reply lists the fields
    /// that take effect only at the next start.
    ApplyConfig(Box<Config>, oneshot::Sender<Vec<String>>),
    /// A browser's WebRTC offer to watch the camera: its id and our answer, or why not.
    WebLive(String, oneshot::Sender<Result<(u64, String), String>>),
    /// A live view ends.
    WebLiveEnd(u64),
    /// A browser's WebRTC offer to answer the ringing call: its id and our answer.
    WebAnswer(String, oneshot::Sender<Result<(u64, String), String>>),
    /// The browser that answered left.
    WebAnswerEnd(u64),
    /// Open the door: this station's lock, or by asking the station in the call.
    OpenDoor(door::Opener, oneshot::Sender<Result<String, String>>),
    /// The station's own: a DTMF digit from the other side of a call.
    Digit(String, char),
    /// Hang up and stop.
    Shutdown,
}

impl Command {
    /// What the command is, in a word or two (for the log).
    pub(super) fn name(&self) -> &'static str {
        match self {
            Command::Call(..) => "call command",
            Command::Answer => "answer command",
            Command::Hangup => "hang-up command",
            Command::Hold | Command::Resume => "hold command",
            Command::Status(_) => "status command",
            Command::Screenshot(..) => "screenshot command",
            Command::Input(_) => "scripted input",
            Command::ResetProbes => "probe reset",
            Command::RetryReoffer(_) => "re-offer",
            Command::Pairing(_) => "pairing command",
            Command::Text(_) => "text message command",
            Command::ApplyConfig(..) => "new settings",
            Command::WebLive(..) | Command::WebLiveEnd(_) => "live view",
            Command::WebAnswer(..) | Command::WebAnswerEnd(_) => "answer from the web",
            Command::OpenDoor(..) => "door command",
            Command::Digit(..) => "DTMF digit",
            Command::Shutdown => "shutdown",
        }
    }
}

/// A handle to a running station.
#[derive(Clone)]
pub struct StationHandle {
    pub(super) commands: mpsc::UnboundedSender<Command>,
    /// The bound SIP address.
    pub sip_addr: SocketAddr,
    /// Our SIP URI.
    pub uri: String,
}

impl StationHandle {
    /// Sends a command.
    pub fn send(&self, command: Command) -> Result<(), StationError> {
        self.commands.send(command).map_err(|_| StationError::Stopped)
    }

    /// Places a call.
    pub async fn call(&self, target: &str) -> Result<Result<(), String>, StationError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Call(target.into(), tx))?;
        rx.await.map_err(|_| StationError::Stopped)
    }

    /// Fetches the status.
    pub async fn status(&self) -> Result<Status, StationError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Status(tx))?;
        rx.await.map_err(|_| StationError::Stopped)
    }

    /// Writes the screen as PNG.
    pub async fn screenshot(&self, path: PathBuf) -> Result<Result<(), String>, StationError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Screenshot(path, tx))?;
        rx.await.map_err(|_| StationError::Stopped)
    }
}

impl super::Station {
    /// Carries out a command from the control socket, the web page or the station itself.
    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            Command::Call(target, reply) => {
                let result = self.dial(&target);
                let _ = reply.send(result);
            }
            Command::Answer => self.feed(Event::Answer),
            Command::Hangup => self.feed(Event::Hangup),
            Command::Hold => self.feed(Event::Hold),
            Command::Resume => self.feed(Event::Resume),
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Screenshot(path, reply) => {
                let r = self
                    .devices
                    .display
                    .lock()
                    .unwrap()
                    .screenshot(&path)
                    .map_err(|e| e.to_string());
                let _ = reply.send(r);
            }
            Command::Input(raw) => self.on_input(raw, Instant::now()),
            Command::OpenDoor(by, reply) => {
                let _ = reply.send(self.open_door(by));
            }
            Command::Digit(call, digit) => self.on_digit(&call, digit),
            Command::ResetProbes => self.devices.probes.reset(),
            Command::RetryReoffer(call) => self.feed(Event::RetryReoffer { call }),
            Command::Pairing(c) => self.on_pairing_command(c),
            Command::Text(c) => self.on_text_command(c),
            Command::WebLive(offer, reply) => self.start_live_view(offer, reply),
            Command::WebLiveEnd(id) => self.end_live_view(id),
            Command::WebAnswer(offer, reply) => self.answer_from_web(offer, reply),
            Command::WebAnswerEnd(id) => self.end_web_answer(id),
            Command::ApplyConfig(config, reply) => {
                let later = self.apply_config(*config);
                let _ = reply.send(later);
            }
            Command::Shutdown => {}
        }
    }
}
