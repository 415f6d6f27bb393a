//! Two stations with test devices on 127.0.0.1 calling each other: `doorway demo`, and the
//! building blocks the integration tests and the benchmark use.

use crate::call::machine::State;
use crate::config::{Config, Contact, DevicesConfig, InputConfig, MediaConfig, SecurityConfig, StationConfig};
use crate::station::{self, Command, StationError, StationHandle, Status};
use serde::Serialize;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A port free for both UDP and TCP on 127.0.0.1.
pub fn free_sip_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind UDP on loopback");
        let port = udp.local_addr().expect("local address").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Media on 127.0.0.1 at these ports, both ways, Opus, unencrypted: what the media
/// tests and the hosting benchmark negotiate with.
pub fn loopback_media(video_port: u16, audio_port: u16) -> crate::call::sdp::LocalMedia {
    use crate::call::sdp::{AudioCodec, Direction, LocalMedia};
    LocalMedia {
        addr: std::net::Ipv4Addr::LOCALHOST.into(),
        video_port,
        audio_port,
        audio_codecs: vec![AudioCodec::Opus],
        direction: Direction::SendRecv,
        session_id: 1,
        version: 1,
        crypto: None,
    }
}

/// A loopback station config with test devices and the given contacts.
pub fn loopback_config(name: &str, port: u16, contacts: Vec<Contact>) -> Config {
    Config {
        station: StationConfig {
            name: name.into(),
            user: name.to_lowercase().replace(' ', "-"),
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            advertise: None,
            allow_unknown_callers: false,
            ring_timeout_secs: 30,
            incoming_ring_timeout_secs: 60,
            setup_timeout_secs: 3,
            media_timeout_secs: 5,
            control_socket: None,
            state_dir: None,
            ephemeral_state: true,
            quick_replies: crate::config::default_quick_replies(),
        },
        contacts,
        devices: DevicesConfig::default(),
        media: MediaConfig::default(),
        // Two stations in one process share the machine's input devices: neither reads them.
        input: InputConfig {
            backend: "none".into(),
            ..Default::default()
        },
        security: SecurityConfig {
            tls_port: free_sip_port(),
            ..Default::default()
        },
        groups: vec![],
        // Any free port, no redirect, not announced: several stations share the machine.
        web: crate::config::WebConfig {
            port: 0,
            redirect_port: 0,
            mdns: false,
            ..Default::default()
        },
        door: Default::default(),
        mqtt: Default::default(),
        account: Default::default(),
        rtsp: Default::default(),
    }
}

/// A contact entry for a loopback station.
pub fn contact(name: &str, port: u16) -> Contact {
    Contact {
        name: name.into(),
        uri: format!("sip:{}@127.0.0.1:{port}", name.to_lowercase().replace(' ', "-")),
        auto_answer: false,
        preview: false,
        key: None,
        fingerprint: None,
        tls_port: None,
        may_open_door: false,
    }
}

/// Polls `station` until `pred` holds on its status or `timeout` passes.
pub async fn wait_for(
    station: &StationHandle,
    timeout: Duration,
    pred: impl Fn(&Status) -> bool,
) -> Result<Status, StationError> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = station.status().await?;
        if pred(&status) || Instant::now() >= deadline {
            return Ok(status);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Is the station idle?
pub fn is_idle(s: &Status) -> bool {
    s.call == State::Idle
}

/// What one direction of a call carried.
#[derive(Debug, Clone, Serialize)]
pub struct DirectionReport {
    /// "A -> B".
    pub direction: String,
    /// Frames the receiver's display showed.
    pub frames_decoded: u64,
    /// Frames recognised as the sender's pattern.
    pub frames_recognised: u64,
    /// The receiver saw the sender's pattern at least 30 times.
    pub pattern_recognised: bool,
    /// The tone the receiver heard.
    pub tone_heard_hz: Option<f64>,
    /// The tone the sender played.
    pub tone_sent_hz: Option<f64>,
    /// Glass-to-glass latency p50.
    pub latency_p50_ms: Option<f64>,
    /// Glass-to-glass latency p95.
    pub latency_p95_ms: Option<f64>,
    /// How the media was protected on the way (the receiver's view), e.g.
    /// "SRTP AEAD_AES_128_GCM" or "unencrypted".
    pub encryption: Option<String>,
}

impl DirectionReport {
    /// Compares what `receiver` saw with what `sender` sent.
    pub fn between(label: &str, sender: &Status, receiver: &Status) -> Self {
        let recognised = receiver
            .probes
            .recognised
            .get(&sender.probes.own_tag)
            .copied()
            .unwrap_or(0);
        Self {
            direction: label.into(),
            frames_decoded: receiver.media.as_ref().map(|m| m.frames_decoded).unwrap_or(0),
            frames_recognised: recognised,
            pattern_recognised: recognised >= 30,
            tone_heard_hz: receiver.probes.tone_heard_hz,
            tone_sent_hz: sender.probes.own_tone_hz,
            latency_p50_ms: receiver.probes.latency_p50_ms,
            latency_p95_ms: receiver.probes.latency_p95_ms,
            encryption: receiver.media.as_ref().and_then(|m| m.encryption_received.clone()),
        }
    }

    /// Video recognised and the right tone heard (within 3%).
    pub fn media_flowed(&self) -> bool {
        let tone_ok = match (self.tone_heard_hz, self.tone_sent_hz) {
            (Some(h), Some(s)) => (h - s).abs() / s < 0.03,
            _ => false,
        };
        self.pattern_recognised && tone_ok
    }
}

/// The outcome of a demo call.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// Seconds from dialing to both sides in the call.
    pub setup_seconds: f64,
    /// Both directions.
    pub directions: Vec<DirectionReport>,
    /// Seconds from hang-up to both sides idle.
    pub teardown_seconds: f64,
    /// Screenshots written.
    pub screenshots: Vec<PathBuf>,
    /// Media statistics of each station just before hang-up.
    pub media: Vec<Option<crate::media::MediaStats>>,
    /// The code both stations showed when they paired.
    pub pairing_code: String,
    /// The call went over TLS between the paired certificates.
    pub secure: bool,
}

/// Two loopback stations that know each other, with each other's TLS port.
pub fn loopback_pair(a: &str, b: &str) -> (Config, Config) {
    let (pa, pb) = (free_sip_port(), free_sip_port());
    let mut a_cfg = loopback_config(a, pa, vec![]);
    let mut b_cfg = loopback_config(b, pb, vec![]);
    let mut to_b = contact(b, pb);
    to_b.tls_port = Some(b_cfg.security.tls_port);
    let mut to_a = contact(a, pa);
    to_a.tls_port = Some(a_cfg.security.tls_port);
    a_cfg.contacts = vec![to_b];
    b_cfg.contacts = vec![to_a];
    (a_cfg, b_cfg)
}

/// Pairs `a` with its contact `b_name` the way two people would: `a` starts, both show
/// the code, both confirm once the codes match. Returns the code.
pub async fn pair_stations(a: &StationHandle, b: &StationHandle, b_name: &str) -> Result<String, DemoError> {
    use crate::station::pairing::PairingCommand;
    a.pairing(|tx| PairingCommand::Start(b_name.into(), tx))
        .await?
        .map_err(DemoError::Call)?;
    let code = |s: &Status| s.security.pairing.as_ref().and_then(|p| p.code.clone());
    let sa = wait_for(a, Duration::from_secs(10), |s| code(s).is_some()).await?;
    let sb = wait_for(b, Duration::from_secs(10), |s| code(s).is_some()).await?;
    let (ca, cb) = (code(&sa), code(&sb));
    let note = sa.security.pairing.as_ref().map(|p| p.note.clone()).unwrap_or_default();
    let (Some(ca), Some(cb)) = (ca, cb) else {
        return Err(DemoError::Call(format!("pairing did not reach the codes: {note}")));
    };
    if ca != cb {
        return Err(DemoError::Call(format!("the pairing codes differ: {ca} and {cb}")));
    }
    for station in [a, b] {
        station
            .pairing(|tx| PairingCommand::Decide(true, tx))
            .await?
            .map_err(DemoError::Call)?;
    }
    let paired = |s: &Status| s.security.paired.len() == 1;
    for station in [a, b] {
        let s = wait_for(station, Duration::from_secs(10), paired).await?;
        if !paired(&s) {
            return Err(DemoError::Call(format!("{} did not store the pairing", s.station)));
        }
    }
    Ok(ca)
}

/// Runs two stations, pairs them, calls from A to B over TLS and SRTP, answers on B,
/// holds for `seconds`, hangs up.
pub async fn run(seconds: u64, screenshot_dir: Option<PathBuf>) -> Result<DemoReport, DemoError> {
    let (a_cfg, b_cfg) = loopback_pair("Front door", "Kitchen");
    let (a, _ta) = station::start(a_cfg).await?;
    let (b, _tb) = station::start(b_cfg).await?;
    let mut shots = Screenshots {
        dir: screenshot_dir,
        taken: Vec::new(),
    };
    shots.take(&a, "front-door-idle.png").await?;
    let pairing_code = pair_stations(&a, &b, "Kitchen").await?;
    let t0 = Instant::now();
    a.call("Kitchen").await?.map_err(DemoError::Call)?;
    let ringing = wait_for(&b, Duration::from_secs(10), |s| {
        matches!(s.call, State::Incoming { .. })
    })
    .await?;
    if !matches!(ringing.call, State::Incoming { .. }) {
        let a_status = a.status().await?;
        return Err(DemoError::Call(format!(
            "Kitchen never rang; Front door says: {}",
            a_status.last_message.unwrap_or_else(|| "nothing".into())
        )));
    }
    shots.take(&b, "kitchen-ringing.png").await?;
    b.send(Command::Answer)?;
    let active = |s: &Status| matches!(s.call, State::Active { .. });
    wait_for(&a, Duration::from_secs(10), active).await?;
    wait_for(&b, Duration::from_secs(10), active).await?;
    let setup_seconds = t0.elapsed().as_secs_f64();
    let secure = match a.status().await?.call {
        State::Active { peer, .. } => peer.secure,
        _ => false,
    };
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    shots.take(&a, "front-door-call.png").await?;
    shots.take(&b, "kitchen-call.png").await?;
    let screenshots = shots.taken;
    let (sa, sb) = (a.status().await?, b.status().await?);
    let t1 = Instant::now();
    a.send(Command::Hangup)?;
    wait_for(&a, Duration::from_secs(5), is_idle).await?;
    wait_for(&b, Duration::from_secs(5), is_idle).await?;
    let teardown_seconds = t1.elapsed().as_secs_f64();
    a.send(Command::Shutdown)?;
    b.send(Command::Shutdown)?;
    Ok(DemoReport {
        setup_seconds,
        directions: vec![
            DirectionReport::between("Front door -> Kitchen", &sa, &sb),
            DirectionReport::between("Kitchen -> Front door", &sb, &sa),
        ],
        teardown_seconds,
        screenshots,
        media: vec![sa.media.clone(), sb.media.clone()],
        pairing_code,
        secure,
    })
}

/// Screenshots of the demo, when a folder was given.
struct Screenshots {
    dir: Option<PathBuf>,
    taken: Vec<PathBuf>,
}

impl Screenshots {
    async fn take(&mut self, station: &StationHandle, name: &str) -> Result<(), DemoError> {
        let Some(dir) = &self.dir else { return Ok(()) };
        std::fs::create_dir_all(dir).map_err(|e| DemoError::Call(format!("{}: {e}", dir.display())))?;
        let path = dir.join(name);
        station.screenshot(path.clone()).await?.map_err(DemoError::Call)?;
        self.taken.push(path);
        Ok(())
    }
}

/// Why the demo call did not work.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A station failed.
    #[error(transparent)]
    Station(#[from] StationError),
    /// The call did not go as planned.
    #[error("{0}")]
    Call(String),
}
