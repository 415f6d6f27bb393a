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

/// A port free for both UDP and TCP on 127.0.0.1, for a station's SIP, TLS or web
/// listener.
///
/// The port is probed here and bound later by the station, so it must not be one the
/// kernel can hand to any other socket in between. Ports come from 20000-32767: above
/// the station's RTP range (10000-20000 by default) and below the kernel's ephemeral
/// ports (32768 and up by default), where a socket bound to port 0 (an RTP socket, a
/// capture, an outgoing TCP connection) would land. A process-wide counter keeps the
/// stations of one test binary apart, and the process id spreads binaries that run
/// side by side over the range. Ports are multiples of four, so the three above each
/// stay free for listeners that take them by convention (baresip's TLS and WebSocket
/// listeners on its SIP port + 1 and + 2).
pub fn free_sip_port() -> u16 {
    free_port_on(std::net::Ipv4Addr::LOCALHOST)
}

/// A port free for both UDP and TCP on `ip`, from the same range and counter as
/// [`free_sip_port`].
pub fn free_port_on(ip: std::net::Ipv4Addr) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    let last = ephemeral_low().clamp(FIRST + 1000, 32_768) - 1;
    let slots = (last - FIRST + 1) / 4;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % slots,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..slots {
        let port = (FIRST + 4 * (NEXT.fetch_add(1, Ordering::SeqCst) % slots)) as u16;
        let udp = UdpSocket::bind((ip, port));
        if udp.is_ok() && TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}-{last} on {ip}");
}

/// The first of the kernel's ephemeral ports (`ip_local_port_range`).
fn ephemeral_low() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
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
        // Several stations share the machine's one multicast group: tests of discovery
        // turn it on in network namespaces of their own.
        discovery: crate::config::DiscoveryConfig {
            announce: false,
            browse: false,
        },
    }
}

/// A contact entry for a loopback station.
pub fn contact(name: &str, port: u16) -> Contact {
    Contact {
        name: name.into(),
        uri: format!("sip:{}@127.0.0.1:{port}", name.to_lowercase().replace(' ', "-")),
        station: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_ports_are_distinct_and_outside_rtp_and_ephemeral_ports() {
        let ports: Vec<u16> = (0..50).map(|_| free_sip_port()).collect();
        let mut unique = ports.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ports.len(), "a port was handed out twice: {ports:?}");
        let ephemeral = ephemeral_low();
        for port in ports {
            assert!(port >= 20_000 && u32::from(port) < ephemeral.max(21_000), "{port}");
        }
    }
}
