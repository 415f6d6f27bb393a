//! SDP offer/answer (RFC 3264) for one H.264 video stream and one audio stream.
//!
//! Video: H.264 (RFC 6184), packetization-mode 1 preferred, mode 0 accepted; we always send
//! constrained baseline. Audio: Opus (RFC 7587), PCMU and PCMA, plus telephone-event
//! (RFC 4733). Parsing and writing go through the `sdp` crate; this module only decides.

use sdp::description::common::{Address, Attribute, ConnectionInformation};
use sdp::description::media::{MediaDescription, MediaName, RangedPort};
use sdp::description::session::{Origin, SessionDescription, TimeDescription, Timing};
use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

/// Why an SDP body cannot be used; [`SdpError::status`] gives the SIP answer.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SdpError {
    /// Not parseable as SDP at all.
    #[error("malformed SDP: {0}")]
    Malformed(String),
    /// Parseable, but no stream we can take (no common codec, no address).
    #[error("no acceptable media: {0}")]
    NotAcceptable(String),
}

impl SdpError {
    /// SIP status for a request carrying this SDP: 400 for garbage, 488 for no common codec.
    pub fn status(&self) -> u16 {
        match self {
            SdpError::Malformed(_) => 400,
            SdpError::NotAcceptable(_) => 488,
        }
    }
}

/// Audio codecs we can encode and decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum AudioCodec {
    /// Opus, 48 kHz.
    Opus,
    /// G.711 µ-law, 8 kHz.
    Pcmu,
    /// G.711 A-law, 8 kHz.
    Pcma,
}

impl AudioCodec {
    /// Parses a config name (`opus`, `pcmu`, `pcma`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "opus" => Some(Self::Opus),
            "pcmu" => Some(Self::Pcmu),
            "pcma" => Some(Self::Pcma),
            _ => None,
        }
    }
    fn static_pt(self) -> u8 {
        match self {
            Self::Opus => 111,
            Self::Pcmu => 0,
            Self::Pcma => 8,
        }
    }
    fn rtpmap(self) -> &'static str {
        match self {
            Self::Opus => "opus/48000/2",
            Self::Pcmu => "PCMU/8000",
            Self::Pcma => "PCMA/8000",
        }
    }
    /// RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        if self == Self::Opus {
            48000
        } else {
            8000
        }
    }
    fn matches(self, encoding: &str, pt: u8) -> bool {
        let enc = encoding.split('/').next().unwrap_or("").to_ascii_lowercase();
        match self {
            Self::Opus => enc == "opus",
            Self::Pcmu => enc == "pcmu" || (encoding.is_empty() && pt == 0),
            Self::Pcma => enc == "pcma" || (encoding.is_empty() && pt == 8),
        }
    }
}

/// Media direction, from our point of view once negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Direction {
    /// Both ways.
    SendRecv,
    /// We send only.
    SendOnly,
    /// We receive only.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }
    fn from_media(md: &MediaDescription, session: &SessionDescription) -> Self {
        for (name, dir) in [
            ("sendonly", Self::SendOnly),
            ("recvonly", Self::RecvOnly),
            ("inactive", Self::Inactive),
            ("sendrecv", Self::SendRecv),
        ] {
            if md.attribute(name).is_some() {
                return dir;
            }
        }
        for (name, dir) in [
            ("sendonly", Self::SendOnly),
            ("recvonly", Self::RecvOnly),
            ("inactive", Self::Inactive),
        ] {
            if session.has_attribute(name) {
                return dir;
            }
        }
        Self::SendRecv
    }
    /// The direction seen from the other end.
    pub fn reversed(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            d => d,
        }
    }
    /// What both `self` and `other` allow.
    pub fn intersect(self, other: Self) -> Self {
        let send = self.sends() && other.sends();
        let recv = self.receives() && other.receives();
        match (send, recv) {
            (true, true) => Self::SendRecv,
            (true, false) => Self::SendOnly,
            (false, true) => Self::RecvOnly,
            (false, false) => Self::Inactive,
        }
    }
    /// Whether media flows from us.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }
    /// Whether media flows to us.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }
}

/// What we can offer or accept.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalMedia {
    /// Address written into `c=`.
    pub addr: IpAddr,
    /// Local RTP port for video (RTCP on the next port).
    pub video_port: u16,
    /// Local RTP port for audio (RTCP on the next port).
    pub audio_port: u16,
    /// Audio codecs in order of preference.
    pub audio_codecs: Vec<AudioCodec>,
    /// The direction we want (RecvOnly for a door preview).
    pub direction: Direction,
    /// SDP session id (`o=` line), stable for the call.
    pub session_id: u64,
    /// SDP session version, bumped for every new description in the call.
    pub version: u64,
}

/// Parameters of one negotiated RTP stream.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stream {
    /// Where to send RTP.
    pub remote_rtp: SocketAddr,
    /// Where to send RTCP.
    pub remote_rtcp: SocketAddr,
    /// Our RTP port (RTCP on the next one).
    pub local_port: u16,
    /// Payload type in packets we send.
    pub send_pt: u8,
    /// Payload type in packets we receive.
    pub recv_pt: u8,
    /// Direction from our point of view.
    pub direction: Direction,
}

impl Stream {
    fn new(
        (remote_rtp, remote_rtcp): (SocketAddr, SocketAddr),
        local_port: u16,
        send_pt: u8,
        recv_pt: u8,
        direction: Direction,
    ) -> Self {
        Self {
            remote_rtp,
            remote_rtcp,
            local_port,
            send_pt,
            recv_pt,
            direction,
        }
    }
}

/// Negotiated video stream.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VideoStream {
    /// RTP parameters.
    pub rtp: Stream,
    /// RFC 6184 packetization mode (0 or 1).
    pub packetization_mode: u8,
}

/// Negotiated audio stream.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AudioStream {
    /// RTP parameters.
    pub rtp: Stream,
    /// The codec.
    pub codec: AudioCodec,
    /// telephone-event payload type, when both sides have it.
    pub dtmf_pt: Option<u8>,
}

/// The outcome of offer/answer: what media to run.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct Negotiated {
    /// Video, if accepted.
    pub video: Option<VideoStream>,
    /// Audio, if accepted.
    pub audio: Option<AudioStream>,
}

const H264_PT_MODE1: u8 = 96;
const H264_PT_MODE0: u8 = 97;
const DTMF_PT: u8 = 101;
const PROFILE_LEVEL_ID: &str = "42e01f";

/// Writes our offer.
pub fn build_offer(local: &LocalMedia) -> String {
    let mut video = media("video", local.video_port, local.direction);
    for (pt, mode) in [(H264_PT_MODE1, 1), (H264_PT_MODE0, 0)] {
        video = add_h264(video, pt, mode);
    }
    let mut audio = media("audio", local.audio_port, local.direction);
    for codec in &local.audio_codecs {
        audio = add_audio(audio, *codec, codec.static_pt());
    }
    audio = add_dtmf(audio, DTMF_PT);
    session(local).with_media(video).with_media(audio).marshal()
}

/// Answers `offer`, returning our answer and the streams to run.
pub fn answer(offer: &str, local: &LocalMedia) -> Result<(String, Negotiated), SdpError> {
    let remote = parse(offer)?;
    let mut out = session(local);
    let mut negotiated = Negotiated::default();
    for md in &remote.media_descriptions {
        let kind = md.media_name.media.as_str();
        let remote_dir = Direction::from_media(md, &remote);
        let want = local.direction.intersect(remote_dir.reversed());
        let addr = stream_addrs(md, &remote);
        let port = md.media_name.port.value;
        let take_video = kind == "video" && negotiated.video.is_none();
        let take_audio = kind == "audio" && negotiated.audio.is_none();
        match (addr, port) {
            (Some((rtp, rtcp)), p) if p > 0 && take_video => {
                if let Some((pt, mode)) = pick_h264(md) {
                    negotiated.video = Some(VideoStream {
                        rtp: Stream::new((rtp, rtcp), local.video_port, pt, pt, want),
                        packetization_mode: mode,
                    });
                    out = out.with_media(add_h264(media("video", local.video_port, want), pt, mode));
                    continue;
                }
            }
            (Some((rtp, rtcp)), p) if p > 0 && take_audio => {
                if let Some((codec, pt)) = pick_audio(md, &local.audio_codecs) {
                    let dtmf_pt = find_rtpmap(md, |enc, _| {
                        enc.to_ascii_lowercase().starts_with("telephone-event/8000")
                    });
                    let mut answer_md = add_audio(media("audio", local.audio_port, want), codec, pt);
                    if let Some(dpt) = dtmf_pt {
                        answer_md = add_dtmf(answer_md, dpt);
                    }
                    negotiated.audio = Some(AudioStream {
                        rtp: Stream::new((rtp, rtcp), local.audio_port, pt, pt, want),
                        codec,
                        dtmf_pt,
                    });
                    out = out.with_media(answer_md);
                    continue;
                }
            }
            _ => {}
        }
        out = out.with_media(rejected(md));
    }
    if negotiated.video.is_none() && negotiated.audio.is_none() {
        return Err(SdpError::NotAcceptable(
            "the offer has no H.264 video or Opus/PCMU/PCMA audio stream with an address".into(),
        ));
    }
    Ok((out.marshal(), negotiated))
}

/// Reads the answer to our offer and returns the streams to run.
pub fn apply_answer(local: &LocalMedia, answer: &str) -> Result<Negotiated, SdpError> {
    let remote = parse(answer)?;
    let mut negotiated = Negotiated::default();
    for md in &remote.media_descriptions {
        let Some((rtp, rtcp)) = stream_addrs(md, &remote) else {
            continue;
        };
        if md.media_name.port.value <= 0 {
            continue;
        }
        let direction = local.direction.intersect(Direction::from_media(md, &remote).reversed());
        match md.media_name.media.as_str() {
            "video" if negotiated.video.is_none() => {
                if let Some((pt, mode)) = pick_h264(md) {
                    let recv_pt = if mode == 1 { H264_PT_MODE1 } else { H264_PT_MODE0 };
                    negotiated.video = Some(VideoStream {
                        rtp: Stream::new((rtp, rtcp), local.video_port, pt, recv_pt, direction),
                        packetization_mode: mode,
                    });
                }
            }
            "audio" if negotiated.audio.is_none() => {
                if let Some((codec, pt)) = pick_audio(md, &local.audio_codecs) {
                    let dtmf_pt = find_rtpmap(md, |enc, _| {
                        enc.to_ascii_lowercase().starts_with("telephone-event/8000")
                    });
                    negotiated.audio = Some(AudioStream {
                        rtp: Stream::new((rtp, rtcp), local.audio_port, pt, codec.static_pt(), direction),
                        codec,
                        dtmf_pt,
                    });
                }
            }
            _ => {}
        }
    }
    if negotiated.video.is_none() && negotiated.audio.is_none() {
        return Err(SdpError::NotAcceptable(
            "the answer accepted no stream we offered".into(),
        ));
    }
    Ok(negotiated)
}

fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    if text.trim().is_empty() {
        return Err(SdpError::Malformed("empty body".into()));
    }
    // Some peers end lines with a bare LF; the parser wants CRLF.
    let normalised: String = text
        .lines()
        .map(|l| format!("{}\r\n", l.trim_end_matches('\r')))
        .collect();
    SessionDescription::unmarshal(&mut Cursor::new(normalised.as_bytes()))
        .map_err(|e| SdpError::Malformed(e.to_string()))
}

fn session(local: &LocalMedia) -> SessionDescription {
    let (addr_type, addr) = ip_fields(local.addr);
    SessionDescription {
        origin: Origin {
            username: "doorway".into(),
            session_id: local.session_id,
            session_version: local.version,
            network_type: "IN".into(),
            address_type: addr_type.into(),
            unicast_address: addr.clone(),
        },
        session_name: "doorway".into(),
        connection_information: Some(ConnectionInformation {
            network_type: "IN".into(),
            address_type: addr_type.into(),
            address: Some(Address {
                address: addr,
                ttl: None,
                range: None,
            }),
        }),
        time_descriptions: vec![TimeDescription {
            timing: Timing {
                start_time: 0,
                stop_time: 0,
            },
            repeat_times: vec![],
        }],
        ..Default::default()
    }
}

fn ip_fields(ip: IpAddr) -> (&'static str, String) {
    match ip {
        IpAddr::V4(v4) => ("IP4", v4.to_string()),
        IpAddr::V6(v6) => ("IP6", v6.to_string()),
    }
}

fn media(kind: &str, port: u16, direction: Direction) -> MediaDescription {
    MediaDescription {
        media_name: MediaName {
            media: kind.into(),
            port: RangedPort {
                value: port as isize,
                range: None,
            },
            protos: vec!["RTP".into(), "AVP".into()],
            formats: vec![],
        },
        media_title: None,
        connection_information: None,
        bandwidth: vec![],
        encryption_key: None,
        attributes: vec![Attribute::new(direction.attr().into(), None)],
    }
}

fn with_format(mut md: MediaDescription, pt: u8, rtpmap: &str, fmtp: Option<&str>) -> MediaDescription {
    md.media_name.formats.push(pt.to_string());
    md = md.with_value_attribute("rtpmap".into(), format!("{pt} {rtpmap}"));
    if let Some(fmtp) = fmtp {
        md = md.with_value_attribute("fmtp".into(), format!("{pt} {fmtp}"));
    }
    md
}

fn add_h264(md: MediaDescription, pt: u8, mode: u8) -> MediaDescription {
    let fmtp = format!("profile-level-id={PROFILE_LEVEL_ID};packetization-mode={mode}");
    with_format(md, pt, "H264/90000", Some(&fmtp))
}

fn add_audio(md: MediaDescription, codec: AudioCodec, pt: u8) -> MediaDescription {
    let fmtp = (codec == AudioCodec::Opus).then_some("useinbandfec=1;stereo=0");
    with_format(md, pt, codec.rtpmap(), fmtp)
}

fn add_dtmf(md: MediaDescription, pt: u8) -> MediaDescription {
    with_format(md, pt, "telephone-event/8000", Some("0-15"))
}

fn rejected(md: &MediaDescription) -> MediaDescription {
    let mut out = media(&md.media_name.media, 0, Direction::Inactive);
    out.media_name.protos = md.media_name.protos.clone();
    out.media_name.formats = md.media_name.formats.iter().take(1).cloned().collect();
    if out.media_name.formats.is_empty() {
        out.media_name.formats.push("0".into());
    }
    out
}

/// RTP and RTCP destinations of a media section (media `c=` wins over session `c=`).
fn stream_addrs(md: &MediaDescription, s: &SessionDescription) -> Option<(SocketAddr, SocketAddr)> {
    let conn = md
        .connection_information
        .as_ref()
        .or(s.connection_information.as_ref())?;
    let ip: IpAddr = conn.address.as_ref()?.address.split('/').next()?.parse().ok()?;
    let port = u16::try_from(md.media_name.port.value).ok()?;
    let rtcp_port = md
        .attribute("rtcp")
        .flatten()
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(port.wrapping_add(1));
    Some((SocketAddr::new(ip, port), SocketAddr::new(ip, rtcp_port)))
}

/// `a=rtpmap` entries of a media section as (pt, encoding) in `m=` order; static types
/// without rtpmap get an empty encoding.
fn formats(md: &MediaDescription) -> Vec<(u8, String)> {
    md.media_name
        .formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .map(|pt| {
            let enc = md
                .attributes
                .iter()
                .filter(|a| a.key == "rtpmap")
                .filter_map(|a| a.value.as_deref()?.split_once(' '))
                .find(|(p, _)| p.trim().parse::<u8>().ok() == Some(pt))
                .map(|(_, e)| e.trim().to_string())
                .unwrap_or_default();
            (pt, enc)
        })
        .collect()
}

fn find_rtpmap(md: &MediaDescription, want: impl Fn(&str, u8) -> bool) -> Option<u8> {
    formats(md)
        .into_iter()
        .find(|(pt, enc)| want(enc, *pt))
        .map(|(pt, _)| pt)
}

fn fmtp(md: &MediaDescription, pt: u8) -> String {
    md.attributes
        .iter()
        .filter(|a| a.key == "fmtp")
        .filter_map(|a| a.value.as_deref()?.split_once(' '))
        .find(|(p, _)| p.trim().parse::<u8>().ok() == Some(pt))
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

fn packetization_mode(fmtp: &str) -> u8 {
    fmtp.split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("packetization-mode"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// First H.264 format with packetization-mode 1, else the first with mode 0.
fn pick_h264(md: &MediaDescription) -> Option<(u8, u8)> {
    let h264: Vec<(u8, u8)> = formats(md)
        .into_iter()
        .filter(|(_, enc)| enc.to_ascii_lowercase().starts_with("h264/90000"))
        .map(|(pt, _)| (pt, packetization_mode(&fmtp(md, pt))))
        .collect();
    h264.iter()
        .find(|(_, m)| *m == 1)
        .or_else(|| h264.iter().find(|(_, m)| *m == 0))
        .copied()
}

/// Our most preferred audio codec that the section offers.
fn pick_audio(md: &MediaDescription, ours: &[AudioCodec]) -> Option<(AudioCodec, u8)> {
    let offered = formats(md);
    ours.iter().find_map(|codec| {
        offered
            .iter()
            .find(|(pt, enc)| codec.matches(enc, *pt))
            .map(|(pt, _)| (*codec, *pt))
    })
}

#[cfg(test)]
#[path = "sdp_tests.rs"]
mod tests;
