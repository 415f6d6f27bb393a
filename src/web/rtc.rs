//! A browser leg's WebRTC transport (str0m, sans-IO, driven here by one task and one UDP
//! socket): the station is an ICE-lite endpoint on the LAN with DTLS-SRTP, H.264 and
//! Opus only. The browser's offer arrives over the logged-in HTTPS connection, so the
//! DTLS fingerprint in it (and in our answer) binds the media to that session.

use crate::api::LegCounts;
use crate::media::web_leg::Encoded;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use str0m::bwe::{Bitrate, BweKind};
use str0m::change::SdpOffer;
use str0m::format::Codec;
use str0m::media::{MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// The largest offer taken (a browser's is a few kilobytes).
pub const MAX_OFFER_BYTES: usize = 32 * 1024;
/// What the sound to the browser takes of the link, kbit/s (Opus at its default rate,
/// with its packets' headers): the rest is the picture's.
const SOUND_KBPS: u32 = 80;
/// The browser has this long to connect after the answer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a browser leg could not start.
#[derive(Debug, thiserror::Error)]
pub enum RtcLegError {
    /// The offer is not one we take.
    #[error("offer: {0}")]
    Offer(String),
    /// No UDP port for the media.
    #[error("UDP: {0}")]
    Socket(#[from] std::io::Error),
}

/// What the leg does with the browser's media and requests.
pub trait LegSink: Send + 'static {
    /// One Opus packet from the browser.
    fn audio(&mut self, opus: &[u8], at: Duration);
    /// One H.264 access unit from the browser (Annex B).
    fn video(&mut self, _access_unit: &[u8], _at: Duration) {}
    /// The browser lost our picture: send a keyframe.
    fn keyframe(&mut self);
    /// The leg is connected (true) or over (false).
    fn state(&mut self, _connected: bool) {}
    /// The link to the browser carries about `kbps` kbit/s now (the WebRTC stack's
    /// congestion controller, from the browser's transport-wide feedback).
    fn link_kbps(&mut self, _kbps: u32) {}
}

/// A leg accepted and ready to run.
pub struct Accepted {
    rtc: Rtc,
    socket: UdpSocket,
    /// The SDP answer for the browser.
    pub answer: String,
}

/// Takes the browser's offer: H.264 and Opus only, our host candidate on `ip`, and a
/// congestion controller that starts at, and looks for no more than, `video_kbps` plus
/// the sound. Call within a Tokio runtime (the socket is registered with it).
pub fn accept(offer: &str, ip: IpAddr, video_kbps: u32) -> Result<Accepted, RtcLegError> {
    if offer.len() > MAX_OFFER_BYTES {
        return Err(RtcLegError::Offer("too long".into()));
    }
    let offer = SdpOffer::from_sdp_string(offer).map_err(|e| RtcLegError::Offer(e.to_string()))?;
    let mut rtc = RtcConfig::new()
        .set_crypto_provider(std::sync::Arc::new(str0m_rust_crypto::default_provider()))
        .set_ice_lite(true)
        .clear_codecs()
        .enable_h264(true)
        .enable_opus(true, false)
        .set_stats_interval(Some(Duration::from_secs(1)))
        .enable_bwe(Some(Bitrate::kbps(u64::from(video_kbps + SOUND_KBPS))))
        .build(Instant::now());
    rtc.bwe()
        .set_desired_bitrate(Bitrate::kbps(u64::from(video_kbps + SOUND_KBPS)));
    let socket = std::net::UdpSocket::bind(SocketAddr::new(ip, 0))?;
    socket.set_nonblocking(true)?;
    let socket = UdpSocket::from_std(socket)?;
    let local = socket.local_addr()?;
    let candidate = Candidate::host(local, "udp").map_err(|e| RtcLegError::Offer(e.to_string()))?;
    rtc.add_local_candidate(candidate);
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| RtcLegError::Offer(e.to_string()))?;
    Ok(Accepted {
        rtc,
        socket,
        answer: answer.to_sdp_string(),
    })
}

struct Leg {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    video: Option<Mid>,
    audio: Option<Mid>,
    connected: bool,
    counts: LegCounts,
    /// When the first access unit was sent: until then the browser gets none without a
    /// keyframe first.
    started: Instant,
}

/// Runs the leg until the browser goes, `stop` is cancelled, or it never connects.
/// `outgoing` carries our encoded media; `sink` gets the browser's.
pub async fn run(
    accepted: Accepted,
    mut outgoing: mpsc::Receiver<Encoded>,
    mut sink: impl LegSink,
    stop: CancellationToken,
    counts: std::sync::Arc<std::sync::Mutex<LegCounts>>,
) {
    let local = match accepted.socket.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    let mut leg = Leg {
        rtc: accepted.rtc,
        socket: accepted.socket,
        local,
        video: None,
        audio: None,
        connected: false,
        counts: LegCounts::default(),
        started: Instant::now(),
    };
    let mut buf = vec![0u8; 2048];
    loop {
        let deadline = match leg.drive(&mut sink).await {
            Some(d) => d,
            None => break,
        };
        *counts.lock().unwrap() = leg.counts.clone();
        if !leg.connected && leg.started.elapsed() > CONNECT_TIMEOUT {
            info!("the browser did not connect");
            break;
        }
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline.max(Instant::now())));
        tokio::select! {
            _ = stop.cancelled() => {
                leg.rtc.disconnect();
                let _ = leg.drive(&mut sink).await;
                break;
            }
            received = leg.socket.recv_from(&mut buf) => {
                let Ok((n, source)) = received else { continue };
                let Ok(contents) = buf[..n].try_into() else { continue };
                let input = Input::Receive(Instant::now(), Receive {
                    proto: Protocol::Udp,
                    source,
                    destination: leg.local,
                    contents,
                });
                if let Err(e) = leg.rtc.handle_input(input) {
                    debug!(error = %e, %source, "browser datagram refused");
                }
            }
            media = outgoing.recv() => match media {
                Some(m) => leg.write(m),
                None => break,
            },
            _ = sleep => {
                if let Err(e) = leg.rtc.handle_input(Input::Timeout(Instant::now())) {
                    warn!(error = %e, "browser leg failed");
                    break;
                }
            }
        }
    }
    sink.state(false);
    info!(counts = ?leg.counts, "browser leg over");
}

impl Leg {
    /// Sends what str0m has to send and handles its events; the time it wants to be
    /// woken, or None when the leg is over.
    async fn drive(&mut self, sink: &mut impl LegSink) -> Option<Instant> {
        loop {
            if !self.rtc.is_alive() {
                return None;
            }
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => return Some(t),
                Ok(Output::Transmit(t)) => {
                    let _ = self.socket.send_to(&t.contents, t.destination).await;
                }
                Ok(Output::Event(e)) => {
                    if !self.on_event(e, sink) {
                        return None;
                    }
                }
                Err(e) => {
                    warn!(error = %e, "browser leg failed");
                    return None;
                }
            }
        }
    }

    fn on_event(&mut self, event: Event, sink: &mut impl LegSink) -> bool {
        match event {
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                info!("the browser left");
                return false;
            }
            Event::Connected => {
                info!("browser connected");
                self.connected = true;
                sink.state(true);
                sink.keyframe();
            }
            Event::MediaAdded(m) => match m.kind {
                MediaKind::Video => self.video = Some(m.mid),
                MediaKind::Audio => self.audio = Some(m.mid),
            },
            Event::MediaData(data) => {
                let at = Duration::from_secs_f64(data.time.as_seconds().max(0.0));
                if Some(data.mid) == self.audio {
                    self.counts.audio_received += 1;
                    sink.audio(&data.data, at);
                } else if Some(data.mid) == self.video {
                    self.counts.video_received += 1;
                    sink.video(&data.data, at);
                }
            }
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. } | BweKind::Remb { estimate, .. }) => {
                let kbps = (estimate.as_u64() / 1000).min(u64::from(u32::MAX)) as u32;
                sink.link_kbps(kbps.saturating_sub(SOUND_KBPS));
            }
            Event::KeyframeRequest(_) => {
                self.counts.keyframes_asked += 1;
                sink.keyframe();
            }
            _ => {}
        }
        true
    }

    /// Hands one encoded unit to str0m for the browser.
    fn write(&mut self, media: Encoded) {
        if !self.connected {
            return;
        }
        let (mid, codec, data, time) = match media {
            Encoded::Video(data, pts) => (
                self.video,
                Codec::H264,
                data,
                MediaTime::from_90khz(pts.as_nanos() as u64 * 9 / 100_000),
            ),
            Encoded::Audio(data, pts) => (
                self.audio,
                Codec::Opus,
                data,
                MediaTime::new(
                    pts.as_nanos() as u64 * 48 / 1_000_000,
                    str0m::media::Frequency::FORTY_EIGHT_KHZ,
                ),
            ),
        };
        let Some(mid) = mid else { return };
        let Some(writer) = self.rtc.writer(mid) else { return };
        // Constrained baseline with packetization mode 1: what our encoder makes.
        let pt = writer
            .payload_params()
            .filter(|p| p.spec().codec == codec)
            .max_by_key(|p| {
                let f = p.spec().format;
                (f.packetization_mode == Some(1)) as u8 * 2
                    + (f.profile_level_id.map(|id| id >> 8) == Some(0x42e0)) as u8
            })
            .map(|p| p.pt());
        let Some(pt) = pt else { return };
        let is_video = codec == Codec::H264;
        match writer.write(pt, Instant::now(), time, data) {
            Ok(()) if is_video => self.counts.video_sent += 1,
            Ok(()) => self.counts.audio_sent += 1,
            Err(e) => debug!(error = %e, "media not written to the browser"),
        }
    }
}
