//! Stations on one machine (127.0.0.1, test devices): their configs, contacts and media,
//! waiting on a station's status, and pairing two of them as two people would. The demo,
//! the benchmarks and the integration tests build their stations from these.

use super::{PairingCommand, StationError, StationHandle, Status};
use crate::call::machine::State;
use crate::config::{Config, Contact, DevicesConfig, InputConfig, MediaConfig, SecurityConfig, StationConfig};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::{Duration, Instant};

/// Why stations on one machine did not do what was asked of them.
#[derive(Debug, thiserror::Error)]
pub enum LoopbackError {
    /// A station failed.
    #[error(transparent)]
    Station(#[from] StationError),
    /// A station refused or the exchange went wrong.
    #[error("{0}")]
    Call(String),
}

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
pub async fn pair_stations(a: &StationHandle, b: &StationHandle, b_name: &str) -> Result<String, LoopbackError> {
    a.pairing(|tx| PairingCommand::Start(b_name.into(), tx))
        .await?
        .map_err(LoopbackError::Call)?;
    let code = |s: &Status| s.security.pairing.as_ref().and_then(|p| p.code.clone());
    let sa = wait_for(a, Duration::from_secs(10), |s| code(s).is_some()).await?;
    let sb = wait_for(b, Duration::from_secs(10), |s| code(s).is_some()).await?;
    let (ca, cb) = (code(&sa), code(&sb));
    let note = sa.security.pairing.as_ref().map(|p| p.note.clone()).unwrap_or_default();
    let (Some(ca), Some(cb)) = (ca, cb) else {
        return Err(LoopbackError::Call(format!("pairing did not reach the codes: {note}")));
    };
    if ca != cb {
        return Err(LoopbackError::Call(format!("the pairing codes differ: {ca} and {cb}")));
    }
    for station in [a, b] {
        station
            .pairing(|tx| PairingCommand::Decide(true, tx))
            .await?
            .map_err(LoopbackError::Call)?;
    }
    let paired = |s: &Status| s.security.paired.len() == 1;
    for station in [a, b] {
        let s = wait_for(station, Duration::from_secs(10), paired).await?;
        if !paired(&s) {
            return Err(LoopbackError::Call(format!("{} did not store the pairing", s.station)));
        }
    }
    Ok(ca)
}
