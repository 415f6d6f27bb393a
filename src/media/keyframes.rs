//! Keyframes on demand, both ways: picture loss indications (PLI, RFC 4585 section
//! 6.3.1) and full intra requests (FIR, RFC 5104 section 4.3.1).
//!
//! Receiving: a decoder that lost the stream's first keyframe (it left before our receive
//! pipeline listened, or the LAN dropped it) shows nothing until the next one, and some
//! peers send one seldom (baresip: every 10 s). While packets arrive but no frame has
//! been decoded for a second, we ask the sender for one. GStreamer's rtpsession turns
//! the request into a PLI when the stream's caps say the peer takes them
//! (`rtcp-fb-nack-pli`, from its SDP).
//!
//! Sending: our receive pipeline's RTP session is the one that hears the peer's RTCP, but
//! the encoder runs in the send pipeline; [`KeyframeSource`] carries the request across,
//! at most one keyframe every half second whatever the peer sends.

use super::counters::RecvCounters;
use crate::device::probe::monotonic_ms;
use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tracing::debug;

/// RTCP payload-specific feedback (RFC 4585 section 6.1).
const PSFB: u32 = 206;
/// Its picture loss indication (RFC 4585) and full intra request (RFC 5104) formats.
const PLI: u32 = 1;
const FIR: u32 = 4;
/// Packets may arrive this long without a decoded frame before we ask for a keyframe;
/// also the least time between two requests.
const ASK_AFTER_MS: u64 = 1000;
/// The least time between two keyframes the peer makes us send.
const MIN_FORCED_MS: u64 = 500;

/// Where the other side's keyframe requests go: the running send pipeline's video
/// payloader (the request travels upstream from it to the encoder). Shared by a media
/// session, its receive pipeline (which hears the requests) and its send pipeline.
#[derive(Clone, Default)]
pub struct KeyframeSource {
    payloader: Arc<Mutex<Option<gst::Element>>>,
    last_forced_ms: Arc<AtomicU64>,
    forced: Arc<AtomicU64>,
}

impl KeyframeSource {
    /// Points requests at this payloader (None: nothing is sent).
    pub(super) fn set(&self, payloader: Option<gst::Element>) {
        *self.payloader.lock().unwrap_or_else(|e| e.into_inner()) = payloader;
    }

    /// The other side asked for a keyframe: make one, unless one was made very recently.
    pub(crate) fn request(&self) {
        let now = monotonic_ms();
        let last = self.last_forced_ms.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < MIN_FORCED_MS {
            return;
        }
        let payloader = self.payloader.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(payloader) = payloader else { return };
        self.last_forced_ms.store(now.max(1), Ordering::Relaxed);
        let event = gstreamer_video::UpstreamForceKeyUnitEvent::builder()
            .all_headers(true)
            .build();
        if payloader.send_event(event) {
            self.forced.fetch_add(1, Ordering::Relaxed);
            debug!("keyframe sent at the other side's request");
        }
    }

    /// Keyframes made at the other side's request so far.
    pub fn forced(&self) -> u64 {
        self.forced.load(Ordering::Relaxed)
    }
}

/// Sends the other side's PLI and FIR for the stream of rtpbin session `session` to
/// `source`.
pub(super) fn honour_requests(rtpbin: &gst::Element, session: u32, source: KeyframeSource) {
    super::feedback::on_feedback(rtpbin, session, move |heard| {
        if heard.kind == PSFB && matches!(heard.format, PLI | FIR) {
            source.request();
        }
    });
}

/// Asks the sender for a keyframe (upstream from `depay`'s sink pad to rtpsession) while
/// video packets arrive but no frame has been decoded for [`ASK_AFTER_MS`]. The
/// depayloader asks by itself when it sees packets go missing; both kinds of request
/// are counted in `counters`.
pub(super) fn ask_when_undecodable(depay: &gst::Element, counters: Arc<RecvCounters>) {
    let Some(pad) = depay.static_pad("sink") else {
        return;
    };
    let asked = counters.clone();
    pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
        if let Some(gst::PadProbeData::Event(event)) = &info.data {
            if gstreamer_video::UpstreamForceKeyUnitEvent::parse(event).is_ok() {
                asked.keyframes_asked.fetch_add(1, Ordering::Relaxed);
                debug!("asked the sender for a keyframe");
            }
        }
        gst::PadProbeReturn::Ok
    });
    // (frames decoded when last seen, when that count last moved, when we last asked)
    let state = Mutex::new((u64::MAX, 0u64, 0u64));
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, _| {
        let now = monotonic_ms();
        let decoded = counters.frames_decoded.load(Ordering::Relaxed);
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        let (seen, moved, asked_at) = &mut *s;
        if decoded != *seen {
            (*seen, *moved) = (decoded, now);
        } else if now.saturating_sub(*moved) >= ASK_AFTER_MS && now.saturating_sub(*asked_at) >= ASK_AFTER_MS {
            *asked_at = now;
            drop(s);
            let event = gstreamer_video::UpstreamForceKeyUnitEvent::builder()
                .all_headers(true)
                .build();
            pad.push_event(event);
        }
        gst::PadProbeReturn::Ok
    });
}
