//! SDP offer/answer (RFC 3264) for one H.264 video stream and one audio stream.
//!
//! Video: H.264 (RFC 6184), packetization-mode 1 preferred, mode 0 accepted; we always send
//! constrained baseline. Audio: Opus (RFC 7587), PCMU and PCMA, plus telephone-event
//! (RFC 4733). Parsing and writing go through the `sdp` crate; this module only decides.

use sdp::description::media::MediaDescription;
use std::net::{IpAddr, SocketAddr};

mod crypto;
mod direction;
mod remote;
mod write;
pub use crypto::{offers_srtp, LocalCrypto, SrtpSuite, StreamCrypto};
use crypto::{Kind, Refusal};
pub use direction::Direction;
use remote::{asks_for_pli, parse, pick_audio, pick_h264, pick_telephone_event, repairs, stream_addrs};
use write::{add_audio, add_dtmf, add_h264, add_rtx, media, rejected, session};

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
    /// Our SRTP keys when the call is secure: we then offer and accept only RTP/SAVP
    /// streams with keys (SDES, RFC 4568). None: plain RTP/AVP only.
    pub crypto: Option<LocalCrypto>,
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
    /// SRTP suite and keys when the stream is encrypted (RTP/SAVP); None for plain RTP.
    pub crypto: Option<StreamCrypto>,
}

impl Stream {
    fn new(
        (remote_rtp, remote_rtcp): (SocketAddr, SocketAddr),
        local_port: u16,
        (send_pt, recv_pt): (u8, u8),
        direction: Direction,
        crypto: Option<StreamCrypto>,
    ) -> Self {
        Self {
            remote_rtp,
            remote_rtcp,
            local_port,
            send_pt,
            recv_pt,
            direction,
            crypto,
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
    /// The other side takes picture loss indications (`a=rtcp-fb:PT nack pli`): while
    /// its picture cannot be decoded we ask it for a keyframe rather than wait for one.
    pub pli: bool,
    /// Retransmission (RFC 4585 generic NACK with RFC 4588 RTX), when the other side
    /// takes NACKs and has an RTX format for the H.264 one: a lost packet is asked for
    /// again and comes back in the RTX stream, rather than costing a keyframe.
    pub retransmission: Option<Retransmission>,
}

/// The RTX payload types of a video stream with retransmission (RFC 4588, SSRC
/// multiplexed: the repairs come on the stream's own port under an SSRC of their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Retransmission {
    /// The RTX payload type of the repairs we send.
    pub send_pt: u8,
    /// The RTX payload type of the repairs we receive.
    pub recv_pt: u8,
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
    /// Its clock rate: the audio codec's where the other side offers that, else the
    /// rate it has (many phones send 8000 beside Opus).
    pub dtmf_rate: Option<u32>,
    /// The other side asks for Opus in-band FEC (it can recover a lost packet from the
    /// next one).
    pub fec: bool,
}

/// The outcome of offer/answer: what media to run.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct Negotiated {
    /// Video, if accepted.
    pub video: Option<VideoStream>,
    /// Audio, if accepted.
    pub audio: Option<AudioStream>,
    /// Why the other side's video could not be used, when it offered or answered video
    /// and the call goes on without it: a person should know why there is no picture.
    pub video_refused: Option<String>,
    /// The address the other side's SIP comes from. Media may come from there too (a
    /// station with two interfaces writes one in its SDP and sends from the other), so
    /// the receive gate admits both. Set by the station, not by offer/answer.
    pub signalling_peer: Option<IpAddr>,
}

const H264_PT_MODE1: u8 = 96;
const H264_PT_MODE0: u8 = 97;
/// The RTX formats that repair each H.264 one.
const RTX_PT_MODE1: u8 = 98;
const RTX_PT_MODE0: u8 = 99;
/// telephone-event beside Opus (48 kHz) and beside G.711 (8 kHz): RFC 4733 section 2.1
/// wants the audio codec's clock rate.
const DTMF_PT_48K: u8 = 101;
const DTMF_PT_8K: u8 = 100;
const PROFILE_LEVEL_ID: &str = "42e01f";

/// Writes our offer.
pub fn build_offer(local: &LocalMedia) -> String {
    let mut video = media("video", local.video_port, local.direction);
    for (pt, mode) in [(H264_PT_MODE1, 1), (H264_PT_MODE0, 0)] {
        video = add_h264(video, pt, mode);
    }
    for (rtx, pt) in [(RTX_PT_MODE1, H264_PT_MODE1), (RTX_PT_MODE0, H264_PT_MODE0)] {
        video = add_rtx(video, rtx, pt);
    }
    let mut audio = media("audio", local.audio_port, local.direction);
    for codec in &local.audio_codecs {
        audio = add_audio(audio, *codec, codec.static_pt());
    }
    let codecs = &local.audio_codecs;
    if codecs.contains(&AudioCodec::Opus) {
        audio = add_dtmf(audio, DTMF_PT_48K, 48000);
    }
    if codecs.iter().any(|c| c.clock_rate() == 8000) {
        audio = add_dtmf(audio, DTMF_PT_8K, 8000);
    }
    if let Some(keys) = &local.crypto {
        video = secure(video, crypto::offer_lines(keys, Kind::Video));
        audio = secure(audio, crypto::offer_lines(keys, Kind::Audio));
    }
    session(local).with_media(video).with_media(audio).marshal()
}

/// Turns a section into RTP/SAVP with these `a=crypto` lines.
fn secure(mut md: MediaDescription, lines: Vec<String>) -> MediaDescription {
    md.media_name.protos = crypto::protos(true);
    for line in lines {
        md = md.with_value_attribute("crypto".into(), line);
    }
    md
}

/// Why nothing of the other side's description could be used, for a person: a security
/// mismatch if there was one, else `otherwise`.
fn nothing_usable(refused: Option<Refusal>, otherwise: &'static str) -> SdpError {
    SdpError::NotAcceptable(refused.map_or(otherwise, Refusal::why).into())
}

/// Why a video section was refused, for a person.
fn video_refusal(has_address: bool) -> String {
    if has_address {
        "it sends no H.264 video in a form we can decode".into()
    } else {
        "its video has no address we can send to".into()
    }
}

/// Answers `offer`, returning our answer and the streams to run.
pub fn answer(offer: &str, local: &LocalMedia) -> Result<(String, Negotiated), SdpError> {
    let remote = parse(offer)?;
    let mut out = session(local);
    let mut negotiated = Negotiated::default();
    let mut refused = None;
    for md in &remote.media_descriptions {
        let kind = md.media_name.media.as_str();
        let remote_dir = Direction::from_media(md, &remote);
        let want = local.direction.intersect(remote_dir.reversed());
        let addr = stream_addrs(md, &remote, local.addr);
        let take_video = kind == "video" && negotiated.video.is_none();
        let take_audio = kind == "audio" && negotiated.audio.is_none();
        // Port 0 in an offer: a stream the offerer declines; nothing to say.
        let declined = md.media_name.port.value == 0;
        let security = crypto::answer_stream(md, local.crypto.as_ref(), crypto_kind(kind));
        // The answer's a=crypto line (our own key) on an accepted stream, RTP/SAVP.
        let seal = |md: MediaDescription, s: &Option<crypto::Answered>| match s {
            Some(a) => secure(md, vec![crypto::answer_line(a)]),
            None => md,
        };
        match (addr, &security) {
            (Some((rtp, rtcp)), Ok(sec)) if take_video => {
                if let Some((pt, mode)) = pick_h264(md) {
                    let keys = sec.as_ref().map(|a| a.crypto.clone());
                    // Its RTX format, answered with the same number both ways.
                    let rtx = repairs(md, pt);
                    negotiated.video = Some(VideoStream {
                        rtp: Stream::new((rtp, rtcp), local.video_port, (pt, pt), want, keys),
                        packetization_mode: mode,
                        pli: asks_for_pli(md, pt),
                        retransmission: rtx.map(|rtx| Retransmission {
                            send_pt: rtx,
                            recv_pt: rtx,
                        }),
                    });
                    negotiated.video_refused = None;
                    let mut answer_md = add_h264(media("video", local.video_port, want), pt, mode);
                    if let Some(rtx) = rtx {
                        answer_md = add_rtx(answer_md, rtx, pt);
                    }
                    out = out.with_media(seal(answer_md, sec));
                    continue;
                }
            }
            (Some((rtp, rtcp)), Ok(sec)) if take_audio => {
                if let Some((codec, pt)) = pick_audio(md, &local.audio_codecs) {
                    let dtmf = pick_telephone_event(md, codec);
                    let mut answer_md = add_audio(media("audio", local.audio_port, want), codec, pt);
                    if let Some((dpt, rate)) = dtmf {
                        answer_md = add_dtmf(answer_md, dpt, rate);
                    }
                    let keys = sec.as_ref().map(|a| a.crypto.clone());
                    negotiated.audio = Some(AudioStream {
                        rtp: Stream::new((rtp, rtcp), local.audio_port, (pt, pt), want, keys),
                        codec,
                        dtmf_pt: dtmf.map(|(pt, _)| pt),
                        dtmf_rate: dtmf.map(|(_, rate)| rate),
                        fec: codec == AudioCodec::Opus && remote::asks_for_fec(md, pt),
                    });
                    out = out.with_media(seal(answer_md, sec));
                    continue;
                }
            }
            _ => {}
        }
        let refusal = security.err().filter(|_| (take_video || take_audio) && !declined);
        refused = refused.or(refusal);
        if take_video && !declined {
            let why = refusal.map_or_else(|| video_refusal(addr.is_some()), |r| r.why().into());
            negotiated.video_refused = Some(why);
        }
        out = out.with_media(rejected(md));
    }
    if negotiated.video.is_none() && negotiated.audio.is_none() {
        return Err(nothing_usable(
            refused,
            "the offer has no H.264 video or Opus/PCMU/PCMA audio stream with a usable address",
        ));
    }
    Ok((out.marshal(), negotiated))
}

/// Reads the answer to our offer and returns the streams to run.
pub fn apply_answer(local: &LocalMedia, answer: &str) -> Result<Negotiated, SdpError> {
    let remote = parse(answer)?;
    let mut negotiated = Negotiated::default();
    let mut refused = None;
    for md in &remote.media_descriptions {
        let is_video = md.media_name.media == "video" && negotiated.video.is_none();
        let addr = stream_addrs(md, &remote, local.addr);
        let Some((rtp, rtcp)) = addr else {
            if is_video && md.media_name.port.value != 0 {
                negotiated.video_refused = Some(video_refusal(false));
            }
            continue;
        };
        let kind = md.media_name.media.as_str();
        let keys = match crypto::accept_answer(md, local.crypto.as_ref(), crypto_kind(kind)) {
            Ok(keys) => keys,
            Err(refusal) => {
                if is_video || (kind == "audio" && negotiated.audio.is_none()) {
                    refused = refused.or(Some(refusal));
                }
                if is_video {
                    negotiated.video_refused = Some(refusal.why().into());
                }
                continue;
            }
        };
        let direction = local.direction.intersect(Direction::from_media(md, &remote).reversed());
        match kind {
            "video" if negotiated.video.is_none() => match pick_h264(md) {
                Some((pt, mode)) => {
                    let (recv_pt, recv_rtx) = if mode == 1 {
                        (H264_PT_MODE1, RTX_PT_MODE1)
                    } else {
                        (H264_PT_MODE0, RTX_PT_MODE0)
                    };
                    negotiated.video = Some(VideoStream {
                        rtp: Stream::new((rtp, rtcp), local.video_port, (pt, recv_pt), direction, keys),
                        packetization_mode: mode,
                        pli: asks_for_pli(md, pt),
                        retransmission: repairs(md, pt).map(|send_pt| Retransmission {
                            send_pt,
                            recv_pt: recv_rtx,
                        }),
                    });
                    negotiated.video_refused = None;
                }
                None => negotiated.video_refused = Some(video_refusal(true)),
            },
            "audio" if negotiated.audio.is_none() => {
                if let Some((codec, pt)) = pick_audio(md, &local.audio_codecs) {
                    let pts = (pt, codec.static_pt());
                    let dtmf = pick_telephone_event(md, codec);
                    negotiated.audio = Some(AudioStream {
                        rtp: Stream::new((rtp, rtcp), local.audio_port, pts, direction, keys),
                        codec,
                        dtmf_pt: dtmf.map(|(pt, _)| pt),
                        dtmf_rate: dtmf.map(|(_, rate)| rate),
                        fec: codec == AudioCodec::Opus && remote::asks_for_fec(md, pt),
                    });
                }
            }
            _ => {}
        }
    }
    if negotiated.video.is_none() && negotiated.audio.is_none() {
        return Err(nothing_usable(refused, "the answer accepted no stream we offered"));
    }
    Ok(negotiated)
}

/// Which stream's keys a media section uses (anything but video is audio's).
fn crypto_kind(media: &str) -> Kind {
    if media == "video" {
        Kind::Video
    } else {
        Kind::Audio
    }
}

/// Whether an offer puts the call on hold (RFC 3264 section 8.4): every stream it keeps
/// is sendonly or inactive. Unreadable offers hold nothing.
pub fn is_hold(offer: &str) -> bool {
    let Ok(remote) = parse(offer) else {
        return false;
    };
    let mut kept = remote
        .media_descriptions
        .iter()
        .filter(|md| md.media_name.port.value != 0)
        .peekable();
    kept.peek().is_some() && kept.all(|md| !Direction::from_media(md, &remote).receives())
}

#[cfg(test)]
mod tests;
