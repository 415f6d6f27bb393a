//! The control socket: a unix socket in the runtime directory that `doorway call`,
//! `answer`, `hangup`, `status`, `pair` and `message` talk to. One JSON request per line, one JSON reply.

use crate::api::{Command, PairingCommand, StationHandle, TextCommand};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::{debug, info, warn};

/// A request to a running station.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Call a contact name or URI.
    Call {
        /// Contact name, SIP URI or address.
        target: String,
    },
    /// Answer the ringing call.
    Answer,
    /// Hang up, cancel or decline.
    Hangup,
    /// Put the call on hold.
    Hold,
    /// Take the call off hold.
    Resume,
    /// Report status.
    Status,
    /// Start pairing with a contact.
    Pair {
        /// Contact name.
        name: String,
    },
    /// The pairing code on screen matches (`true`) or not (`false`).
    PairDecision {
        /// Confirmed.
        confirmed: bool,
    },
    /// Forget a contact's pin.
    Unpair {
        /// Contact name.
        name: String,
    },
    /// Send a text message to a contact.
    Message {
        /// Contact name.
        to: String,
        /// The text.
        text: String,
    },
    /// Send a text message to whoever wrote last.
    Reply {
        /// The text.
        text: String,
    },
    /// Open the door: this station's lock, or ask the station in the call to.
    OpenDoor,
}

/// The reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    /// Whether the request was carried out.
    pub ok: bool,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Status, for `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
}

/// Control socket errors.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The socket could not be created or reached.
    #[error("control socket {path}: {source}")]
    Io {
        /// Socket path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The station sent something unreadable.
    #[error("control socket {0}: unreadable reply")]
    BadReply(PathBuf),
}

/// How long `status` waits for a busy station's loop before saying where it is stuck (a
/// loop already known to be stuck is told at once).
pub const STATUS_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Where the control socket lives when the config does not say: systemd's
/// RuntimeDirectory, else the user's runtime directory, else /run/doorway for root.
pub fn default_socket_path() -> PathBuf {
    if let Ok(dir) = std::env::var("RUNTIME_DIRECTORY") {
        return PathBuf::from(dir).join("control.sock");
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return PathBuf::from("/run/doorway/control.sock");
    }
    match std::env::var("XDG_RUNTIME_DIR") {
        Ok(dir) => PathBuf::from(dir).join("doorway.sock"),
        Err(_) => PathBuf::from(format!("/tmp/doorway-{uid}.sock")),
    }
}

/// Removes the control socket at `path` when the station stops: only a socket, never a
/// file that took its place.
pub fn remove_socket(path: &Path) {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}

/// Listens on `path` and serves requests for `station` until the station stops.
pub async fn serve(path: &Path, station: StationHandle) -> Result<tokio::task::JoinHandle<()>, ControlError> {
    let io = |source| ControlError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // A socket left by a station that was killed would block the bind. Anything else
    // at that path is not ours to remove.
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a socket; choose another control_socket",
            )));
        }
        if UnixStream::connect(path).await.is_err() {
            let _ = std::fs::remove_file(path);
        }
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(io)?;
    info!(path = %path.display(), "control socket listening");
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let station = station.clone();
                    tokio::spawn(async move {
                        if let Err(e) = handle(stream, station).await {
                            debug!(error = %e, "control connection");
                        }
                    });
                }
                Err(e) => {
                    warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

async fn handle(stream: UnixStream, station: StationHandle) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        let reply = match serde_json::from_str::<Request>(&line) {
            Ok(request) => execute(request, &station).await,
            Err(e) => Reply {
                ok: false,
                error: Some(format!("bad request: {e}")),
                status: None,
            },
        };
        let mut text = serde_json::to_string(&reply).unwrap_or_else(|_| "{\"ok\":false}".into());
        text.push('\n');
        write.write_all(text.as_bytes()).await?;
    }
    Ok(())
}

/// Sends the station the command `make` builds around a reply channel, and waits for
/// the station's answer: what it did, or why not.
async fn ask(
    station: &StationHandle,
    make: impl FnOnce(tokio::sync::oneshot::Sender<Result<(), String>>) -> Command,
) -> Result<(), String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    station.send(make(tx)).map_err(|e| e.to_string())?;
    rx.await.unwrap_or_else(|_| Err("the station stopped".into()))
}

async fn execute(request: Request, station: &StationHandle) -> Reply {
    let failed = |e: String| Reply {
        ok: false,
        error: Some(e),
        status: None,
    };
    let done = Reply {
        ok: true,
        error: None,
        status: None,
    };
    match request {
        Request::Call { target } => match station.call(&target).await {
            Ok(Ok(())) => done,
            Ok(Err(e)) => failed(e),
            Err(e) => failed(e.to_string()),
        },
        Request::Answer => station
            .send(Command::Answer)
            .map(|_| done)
            .unwrap_or_else(|e| failed(e.to_string())),
        Request::Hangup | Request::Hold | Request::Resume => {
            let command = match request {
                Request::Hold => Command::Hold,
                Request::Resume => Command::Resume,
                _ => Command::Hangup,
            };
            station
                .send(command)
                .map(|_| done)
                .unwrap_or_else(|e| failed(e.to_string()))
        }
        Request::Pair { .. } | Request::PairDecision { .. } | Request::Unpair { .. } => {
            let outcome = ask(station, |tx| {
                Command::Pairing(match request {
                    Request::Pair { name } => PairingCommand::Start(name, tx),
                    Request::Unpair { name } => PairingCommand::Unpair(name, tx),
                    Request::PairDecision { confirmed } => PairingCommand::Decide(confirmed, tx),
                    _ => unreachable!("matched above"),
                })
            })
            .await;
            outcome.map(|_| done).unwrap_or_else(failed)
        }
        Request::Message { .. } | Request::Reply { .. } => {
            let outcome = ask(station, |reply| {
                Command::Text(match request {
                    Request::Message { to, text } => TextCommand::Send { to, text, reply },
                    Request::Reply { text } => TextCommand::Reply { text, reply },
                    _ => unreachable!("matched above"),
                })
            })
            .await;
            outcome.map(|_| done).unwrap_or_else(failed)
        }
        Request::OpenDoor => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let by = crate::api::Opener::Console;
            if let Err(e) = station.send(Command::OpenDoor(by, tx)) {
                return failed(e.to_string());
            }
            match rx.await.unwrap_or_else(|_| Err("the station stopped".into())) {
                Ok(what) => Reply {
                    ok: true,
                    error: None,
                    status: Some(serde_json::Value::String(what)),
                },
                Err(e) => failed(e),
            }
        }
        // A stuck station says so, and where, rather than leaving its caller waiting.
        Request::Status => match station.status_within(STATUS_WITHIN).await {
            Ok(s) => Reply {
                ok: true,
                error: None,
                status: serde_json::to_value(s).ok(),
            },
            Err(e) => failed(e.to_string()),
        },
    }
}

/// Sends one request to the station listening on `path`.
pub async fn request(path: &Path, request: &Request) -> Result<Reply, ControlError> {
    let io = |source| ControlError::Io {
        path: path.to_owned(),
        source,
    };
    let stream = UnixStream::connect(path).await.map_err(io)?;
    let (read, mut write) = stream.into_split();
    let mut text = serde_json::to_string(request).expect("requests serialise");
    text.push('\n');
    write.write_all(text.as_bytes()).await.map_err(io)?;
    let line = BufReader::new(read).lines().next_line().await.map_err(io)?;
    let line = line.ok_or_else(|| ControlError::BadReply(path.to_owned()))?;
    serde_json::from_str(&line).map_err(|_| ControlError::BadReply(path.to_owned()))
}
