//! What can be asked of a running station, and the handle to ask it with.

use super::status::Status;
use crate::config::Config;
use crate::security::identity::Fingerprint;
use crate::{device, media};
use std::net::SocketAddr;
use std::path::PathBuf;
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
    /// The station's loop is stuck in one step (where, in words) and could not answer.
    #[error("the station's loop is stuck in {0}; it answers again when that step ends")]
    Stuck(String),
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
    Pairing(PairingCommand),
    /// Text messages.
    Text(TextCommand),
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
    OpenDoor(Opener, oneshot::Sender<Result<String, String>>),
    /// The station's own: a DTMF digit from the other side of a call.
    Digit(String, char),
    /// Hang up and stop.
    Shutdown,
}

impl Command {
    /// What the command is, in a word or two (for the log).
    pub fn name(&self) -> &'static str {
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
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    /// The bound SIP address.
    pub sip_addr: SocketAddr,
    /// Our SIP URI.
    pub uri: String,
    /// Where the station's loop is, for an answer when it is stuck.
    pub(crate) watch: super::LoopWatch,
}

impl StationHandle {
    /// Where the station's loop is stuck, in words, when it has been in one step for
    /// [`super::loop_watch::STUCK_AFTER`] or more.
    pub fn stuck(&self) -> Option<String> {
        self.watch.stuck()
    }

    /// The status within `limit`: at once [`StationError::Stuck`] when the loop is
    /// known to be stuck, else the status, or `Stuck` when the loop does not answer in
    /// time. For whoever must answer a person (the control socket), not wait for them.
    pub async fn status_within(&self, limit: std::time::Duration) -> Result<Status, StationError> {
        if let Some(place) = self.stuck() {
            return Err(StationError::Stuck(place));
        }
        match tokio::time::timeout(limit, self.status()).await {
            Ok(result) => result,
            Err(_) => Err(StationError::Stuck(
                self.watch
                    .place()
                    .unwrap_or_else(|| "a step that has ended since".into()),
            )),
        }
    }

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

    /// Sends a pairing command built around its reply channel and waits for the answer.
    pub async fn pairing(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<(), String>>) -> PairingCommand,
    ) -> Result<Result<(), String>, StationError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Pairing(make(tx)))?;
        rx.await.map_err(|_| StationError::Stopped)
    }
}

/// Who asks to open the door, for the log and the screen.
#[derive(Debug, Clone)]
pub enum Opener {
    /// A key or the screen's button here.
    Here,
    /// The web page.
    WebPage,
    /// The control socket (`doorway open-door`).
    Console,
    /// Home automation: the "Open door" button over MQTT.
    HomeAutomation,
}

impl Opener {
    /// Who it is, for the log and the screen.
    pub fn label(&self) -> &'static str {
        match self {
            Opener::Here => "the station's button",
            Opener::WebPage => "the web page",
            Opener::Console => "the console",
            Opener::HomeAutomation => "home automation",
        }
    }
}

/// Pairing requests to the station.
#[derive(Debug)]
pub enum PairingCommand {
    /// Start pairing with a contact.
    Start(String, oneshot::Sender<Result<(), String>>),
    /// The person's decision on the code shown.
    Decide(bool, oneshot::Sender<Result<(), String>>),
    /// Forget a contact's pin.
    Unpair(String, oneshot::Sender<Result<(), String>>),
    /// The initiator's exchange finished (from its task).
    Exchanged(u64, Result<Exchange, String>),
}

/// What the initiator learned from the responder.
#[derive(Debug)]
pub struct Exchange {
    pub(crate) peer: Fingerprint,
    pub(crate) nb: [u8; 32],
    pub(crate) tls_port: u16,
}

/// Text commands to a running station.
#[derive(Debug)]
pub enum TextCommand {
    /// Send a text to a contact; the answer comes once the contact took it or not.
    Send {
        /// Contact name.
        to: String,
        /// The text.
        text: String,
        /// Delivered, or why not.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Send a text to whoever wrote to us last.
    Reply {
        /// The text.
        text: String,
        /// Delivered, or why not.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The station's own: how a send ended.
    Sent {
        /// Contact name.
        to: String,
        /// The text.
        text: String,
        /// Delivered, or why not.
        result: Result<(), String>,
        /// Where the person who sent it waits, if anyone does.
        reply: Option<oneshot::Sender<Result<(), String>>>,
    },
}
