//! Helpers for the integration tests: stations on 127.0.0.1 with test devices.
#![allow(dead_code)]

pub mod baresip;
pub mod capture;
pub mod chrome;
pub mod impair;
pub mod kamailio;
pub mod mosquitto;
pub mod netns;
pub mod requires;
pub mod stranger;
pub mod web;

use doorway::api::loopback::{self as demo, wait_for};
use doorway::api::TextCommand;
use doorway::call::machine::State;
use doorway::config::{Config, Contact};
use doorway::station::{self, Command, StationHandle, Status};
use std::time::Duration;

/// Calls with real media use both cores; run one test at a time within a test binary.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A running station and its config.
pub struct Station {
    pub handle: StationHandle,
    pub config: Config,
    task: tokio::task::JoinHandle<()>,
}

impl Station {
    pub async fn start(config: Config) -> Station {
        // RUST_LOG=doorway=debug shows the stations' logs beside a failing test's output.
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
        let (handle, task) = station::start(config.clone()).await.expect("station starts");
        Station { handle, config, task }
    }

    /// A station started some other way.
    pub fn from_parts(handle: StationHandle, config: Config, task: tokio::task::JoinHandle<()>) -> Station {
        Station { handle, config, task }
    }

    /// Starts a station on ports another station just released: its listeners close
    /// as their tasks see the shutdown, a moment after it stopped.
    pub async fn start_on_released_ports(config: Config) -> Station {
        let mut last = None;
        for _ in 0..50 {
            match station::start(config.clone()).await {
                Ok((handle, task)) => return Station { handle, config, task },
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the ports stay busy: {last:?}");
    }

    pub async fn status(&self) -> Status {
        self.handle.status().await.expect("status")
    }

    /// The status once `pred` holds, or the last one after `secs` seconds. A timeout
    /// is not a failure here (some tests wait to see that nothing happens), but it is
    /// said, so that a later failing assertion shows where the time went.
    pub async fn wait(&self, secs: u64, pred: impl Fn(&Status) -> bool) -> Status {
        let status = wait_for(&self.handle, Duration::from_secs(secs), &pred)
            .await
            .expect("status");
        if !pred(&status) {
            eprintln!(
                "{}: waited {secs} s and the condition did not hold; call: {:?}",
                self.config.station.name, status.call
            );
        }
        status
    }

    pub fn send(&self, c: Command) {
        self.handle.send(c).expect("station running");
    }

    /// A text command built around its reply channel; the station's answer (within 15 s).
    pub async fn text(
        &self,
        make: impl FnOnce(tokio::sync::oneshot::Sender<Result<(), String>>) -> TextCommand,
    ) -> Result<(), String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Command::Text(make(tx)));
        tokio::time::timeout(Duration::from_secs(15), rx)
            .await
            .expect("the station answers in time")
            .expect("the station answers")
    }

    /// Sends a text message to contact `to`: delivered, or why not.
    pub async fn send_text(&self, to: &str, body: &str) -> Result<(), String> {
        self.text(|reply| TextCommand::Send {
            to: to.into(),
            text: body.into(),
            reply,
        })
        .await
    }

    pub async fn stop(self) {
        self.handle.send(Command::Shutdown).ok();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

pub fn ringing(s: &Status) -> bool {
    matches!(s.call, State::Incoming { .. })
}
pub fn active(s: &Status) -> bool {
    matches!(s.call, State::Active { .. })
}
pub fn idle(s: &Status) -> bool {
    s.call == State::Idle
}

/// Two stations, "Door" (a) and "Hall" (b), each a contact of the other; `tweak` edits
/// the contact entries (a's view of b, b's view of a) before start.
pub async fn pair(tweak: impl FnOnce(&mut Contact, &mut Contact)) -> (Station, Station) {
    let (pa, pb) = (demo::free_sip_port(), demo::free_sip_port());
    let (mut hall, mut door) = (demo::contact("Hall", pb), demo::contact("Door", pa));
    tweak(&mut hall, &mut door);
    let a = Station::start(demo::loopback_config("Door", pa, vec![hall])).await;
    let b = Station::start(demo::loopback_config("Hall", pb, vec![door])).await;
    (a, b)
}

/// Frames of `sender`'s pattern that `receiver` recognised.
pub fn recognised(sender: &Status, receiver: &Status) -> u64 {
    receiver
        .probes
        .recognised
        .get(&sender.probes.own_tag)
        .copied()
        .unwrap_or(0)
}

/// Whether `receiver` hears `sender`'s tone (within 3%).
pub fn hears(sender: &Status, receiver: &Status) -> bool {
    match (sender.probes.own_tone_hz, receiver.probes.tone_heard_hz) {
        (Some(s), Some(h)) => (s - h).abs() / s < 0.03,
        _ => false,
    }
}

/// Camera frames of any station this station recognised on its screen.
pub fn seen(s: &Status) -> u64 {
    s.probes.recognised.values().sum()
}

/// Video frames decoded in the current call.
pub fn decoded(s: &Status) -> u64 {
    s.media.as_ref().map(|m| m.frames_decoded).unwrap_or(0)
}

/// Hall run as its own `doorway run` process on `hall_port`, answering Door (on
/// `door_port`) at once: a station that can be killed the hard way or measured alone.
pub struct HallProcess {
    pub child: std::process::Child,
    pub config: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl HallProcess {
    /// Starts it and waits for its control socket (it is up once SIP listens).
    pub async fn start(door_port: u16, hall_port: u16) -> HallProcess {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("hall.toml");
        let socket = dir.path().join("hall.sock");
        std::fs::write(
            &config,
            format!(
                "[station]\nname = \"Hall\"\nuser = \"hall\"\nlisten = \"127.0.0.1:{hall_port}\"\n\
                 control_socket = \"{}\"\nstate_dir = \"{}\"\n\n[[contact]]\nname = \"Door\"\n\
                 uri = \"sip:door@127.0.0.1:{door_port}\"\nauto_answer = true\n\n[security]\ntls_port = {}\n",
                socket.display(),
                dir.path().display(),
                demo::free_sip_port(),
            ),
        )
        .unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_doorway"))
            .args(["run", "--config"])
            .arg(&config)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if socket.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        HallProcess {
            child,
            config,
            _dir: dir,
        }
    }
}

impl Drop for HallProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Who holds the call, from the status: (the peer, us); None outside a call.
pub fn holds(s: &Status) -> Option<(bool, bool)> {
    match &s.call {
        State::Active {
            held_by_peer,
            held_by_us,
            ..
        } => Some((*held_by_peer, *held_by_us)),
        _ => None,
    }
}

/// The negotiated direction of the call's video, from our side.
pub fn video_direction(s: &Status) -> Option<doorway::call::sdp::Direction> {
    s.media
        .as_ref()
        .and_then(|m| m.negotiated.as_ref()?.video.as_ref())
        .map(|v| v.rtp.direction)
}

/// The pattern tag in a JPEG snapshot.
pub fn tag_in_jpeg(jpeg: &[u8]) -> u16 {
    let mut decoder = jpeg_decoder::Decoder::new(jpeg);
    let rgb = decoder.decode().expect("a JPEG");
    let info = decoder.info().unwrap();
    let bgrx: Vec<u8> = rgb.chunks(3).flat_map(|p| [p[2], p[1], p[0], 255]).collect();
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    match doorway::device::probe::read_bgrx(&bgrx, w, h, w as usize * 4) {
        Some(code) => code.tag,
        None => {
            let kept = std::env::temp_dir().join("doorway-unreadable-snapshot.jpg");
            std::fs::write(&kept, jpeg).unwrap();
            panic!("no pattern code in the snapshot ({w}x{h}); kept as {}", kept.display());
        }
    }
}

/// Runs the `doorway` binary with `args` (its log at warn) and waits for it.
pub fn doorway_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_doorway"))
        .args(args)
        .env("DOORWAY_LOG", "warn")
        .output()
        .unwrap()
}

/// The status of the station behind control socket `socket`, as `doorway status --json`
/// prints it; Null when it does not answer.
pub fn status_json(socket: &str) -> serde_json::Value {
    serde_json::from_slice(&doorway_cli(&["status", "--json", "--socket", socket]).stdout).unwrap_or_default()
}

/// Writes the config of Door run as its own `doorway run` process: SIP on `door_port`,
/// its control socket and state in `dir`, and Hall on `hall_port` as its contact.
/// Returns the config's path and the control socket's.
pub fn door_process_config(
    dir: &std::path::Path,
    door_port: u16,
    hall_port: u16,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let socket = dir.join("door.sock");
    let config = dir.join("door.toml");
    std::fs::write(
        &config,
        format!(
            "[station]\nname = \"Door\"\nuser = \"door\"\nlisten = \"127.0.0.1:{door_port}\"\ncontrol_socket = \"{}\"\n\
             state_dir = \"{}\"\n\n[[contact]]\nname = \"Hall\"\nuri = \"sip:hall@127.0.0.1:{hall_port}\"\n\n\
             [security]\ntls_port = {}\n",
            socket.display(),
            dir.display(),
            demo::free_sip_port(),
        ),
    )
    .unwrap();
    (config, socket)
}

/// Prints the end of a station process's log when the test fails while it is alive,
/// so that a failure on a CI machine says what the station saw.
pub struct LogOnFailure(pub std::path::PathBuf);

impl Drop for LogOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let text = std::fs::read_to_string(&self.0).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(200)..];
            eprintln!(
                "---- the last {} lines of {} ----\n{}",
                tail.len(),
                self.0.display(),
                tail.join("\n")
            );
        }
    }
}

/// What a command printed, stdout then stderr.
pub fn printed(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
