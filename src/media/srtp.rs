//! SRTP (RFC 3711) for a call's streams, through GStreamer's srtpenc and srtpdec
//! (libsrtp 2). Keys come from the SDP negotiation ([`crate::call::sdp::StreamCrypto`]):
//! we encrypt what we send, RTP and RTCP alike, with our key and decrypt what arrives
//! with the other side's.
//!
//! Send pipeline: rtpbin `send_rtp_src_N` → srtpenc `rtp_sink_0`/`rtp_src_0` → udpsink,
//! and `send_rtcp_src_N` → the same srtpenc's `rtcp_sink_0`/`rtcp_src_0` → udpsink.
//! Receive pipeline: gated udpsrc → srtpdec (`rtp_sink`, `rtcp_sink`; keys through its
//! `request-key` signal) → rtpbin, and its receiver reports → srtpenc → udpsink.
//! srtpdec drops what fails authentication or replays; the receive pipeline counts
//! packets (for the media timeout) after it, so only authenticated media keeps a call.

use super::{make, MediaError};
use crate::call::sdp::{SrtpSuite, Stream, StreamCrypto};
use gstreamer as gst;
use gstreamer::prelude::*;

/// Sets an srtpenc's ciphers and key for `suite` (the benchmark prices SRTP with it too).
pub fn configure_encoder(enc: &gst::Element, suite: SrtpSuite, key: &[u8]) {
    enc.set_property_from_str("rtp-cipher", suite.rtp_cipher());
    enc.set_property_from_str("rtp-auth", suite.rtp_auth());
    enc.set_property_from_str("rtcp-cipher", suite.rtcp_cipher());
    enc.set_property_from_str("rtcp-auth", suite.rtcp_auth());
    enc.set_property("key", gst::Buffer::from_slice(key.to_vec()));
}

/// An srtpenc, added to `pipeline`, that encrypts with our key.
pub(super) fn encoder(pipeline: &gst::Pipeline, name: &str, crypto: &StreamCrypto) -> Result<gst::Element, MediaError> {
    let enc = make("srtpenc", name)?;
    configure_encoder(&enc, crypto.suite, crypto.send_key());
    pipeline.add(&enc).map_err(MediaError::link)?;
    Ok(enc)
}

/// The caps srtpdec's `request-key` signal answers with: the other side's key and the
/// suite's ciphers.
fn key_caps(crypto: &StreamCrypto) -> gst::Caps {
    key_caps_for(crypto.suite, crypto.recv_key())
}

/// Key caps for `suite` and `key` (the benchmark's srtpdec takes them too).
pub fn key_caps_for(suite: SrtpSuite, key: &[u8]) -> gst::Caps {
    gst::Caps::builder("application/x-srtp")
        .field("srtp-key", gst::Buffer::from_slice(key.to_vec()))
        .field("srtp-cipher", suite.rtp_cipher())
        .field("srtp-auth", suite.rtp_auth())
        .field("srtcp-cipher", suite.rtcp_cipher())
        .field("srtcp-auth", suite.rtcp_auth())
        .build()
}

/// An srtpdec, added to `pipeline`, that decrypts with the other side's key: it asks for
/// a key for every new SSRC (a peer that restarted its sender), and gets the same one.
fn decoder(pipeline: &gst::Pipeline, name: &str, crypto: &StreamCrypto) -> Result<gst::Element, MediaError> {
    let dec = make("srtpdec", name)?;
    let caps = key_caps(crypto);
    dec.connect("request-key", false, move |_| Some(caps.to_value()));
    pipeline.add(&dec).map_err(MediaError::link)?;
    Ok(dec)
}

/// Packets srtpdec `dec` dropped: failed authentication, replayed, or no key.
pub(super) fn dropped(dec: &gst::Element) -> u64 {
    let stats = dec.property::<Option<gst::Structure>>("stats");
    stats
        .and_then(|s| s.get::<u32>("recv-drop-count").ok())
        .map_or(0, u64::from)
}

/// A receive session's network ends: the gated udpsrcs and the udpsink that takes our
/// receiver reports to the other side.
pub(super) struct Inputs {
    pub(super) rtp: gst::Element,
    pub(super) rtcp: gst::Element,
    pub(super) rtcp_out: gst::Element,
    /// rtpbin's session number (0 video, 1 audio).
    pub(super) session: u32,
    /// The stream's payload types.
    pub(super) payloads: super::rtp_filter::Payloads,
}

/// Puts SRTP between a receive session's network ends and rtpbin: udpsrc → srtpdec →
/// `recv_rtp_sink_N`/`recv_rtcp_sink_N`, and `send_rtcp_src_N` → srtpenc → udpsink.
/// `on_rtp` and `on_rtcp` run for every packet that srtpdec let through.
pub(super) fn link_receive(
    pipeline: &gst::Pipeline,
    rtpbin: &gst::Element,
    inputs: Inputs,
    crypto: &StreamCrypto,
    on_rtp: Box<dyn Fn() + Send + Sync>,
    on_rtcp: Box<dyn Fn() + Send + Sync>,
) -> Result<(), MediaError> {
    let link = |src: &gst::Element, from: &str, to: &gst::Element, into: &str| {
        src.link_pads(Some(from), to, Some(into)).map_err(MediaError::link)
    };
    let n = inputs.session;
    let dec = decoder(pipeline, &format!("srtpdec{n}"), crypto)?;
    link(&inputs.rtp, "src", &dec, "rtp_sink")?;
    link(&dec, "rtp_src", rtpbin, &format!("recv_rtp_sink_{n}"))?;
    link(&inputs.rtcp, "src", &dec, "rtcp_sink")?;
    link(&dec, "rtcp_src", rtpbin, &format!("recv_rtcp_sink_{n}"))?;
    // Authenticated RTP follows one SSRC here, after srtpdec, not at the network gate.
    if let Some(pad) = dec.static_pad("rtp_src") {
        super::rtp_filter::follow_one_ssrc(&pad, inputs.payloads, on_rtp);
    }
    if let Some(pad) = dec.static_pad("rtcp_src") {
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, _| {
                on_rtcp();
                gst::PadProbeReturn::Ok
            },
        );
    }
    // Our receiver reports are encrypted with our own key, as our sender reports are.
    let enc = encoder(pipeline, &format!("srtpenc-rr{n}"), crypto)?;
    link(rtpbin, &format!("send_rtcp_src_{n}"), &enc, "rtcp_sink_0")?;
    link(&enc, "rtcp_src_0", &inputs.rtcp_out, "sink")
}

/// Caps a udpsrc of an SRTP stream announces: its RTP caps under the SRTP name.
pub(super) fn srtp_caps(rtp: &gst::Caps) -> gst::Caps {
    let mut caps = rtp.clone();
    if let Some(s) = caps.make_mut().structure_mut(0) {
        s.set_name("application/x-srtp");
    }
    caps
}

/// How a direction's running streams are protected, for a person and `status --json`:
/// `"SRTP AEAD_AES_128_GCM"` when every stream uses that suite, `"unencrypted"` when
/// none is encrypted, `"video: ..., audio: ..."` when they differ; None when no stream
/// runs that way.
pub fn describe<'a>(video: Option<&'a Stream>, audio: Option<&'a Stream>) -> Option<String> {
    let name = |s: &Stream| match s.crypto.as_ref().map(|c| c.suite) {
        Some(suite) => suite_label(suite),
        None => "unencrypted".to_string(),
    };
    match (video.map(name), audio.map(name)) {
        (None, None) => None,
        (Some(one), None) | (None, Some(one)) => Some(one),
        (Some(v), Some(a)) if v == a => Some(v),
        (Some(v), Some(a)) => Some(format!("video: {v}, audio: {a}")),
    }
}

fn suite_label(suite: SrtpSuite) -> String {
    format!("SRTP {suite}")
}
