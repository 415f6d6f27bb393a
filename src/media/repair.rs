//! Lost video packets sent again: generic NACK (RFC 4585 section 6.2.1) with RTX
//! (RFC 4588, SSRC-multiplexed: the repairs come on the stream's own port under a
//! payload type and SSRC of their own), when both sides' SDP have them
//! ([`crate::call::sdp::Retransmission`]).
//!
//! Receiving: the video's jitter buffer asks for what is missing (its
//! `do-retransmission`), rtpsession turns the requests into NACKs, and an rtprtxreceive
//! before the jitter buffers turns the repairs back into the packets they carry. A lost packet then costs
//! a round trip rather than a keyframe; PLI stays for what no repair saves.
//!
//! Sending: an rtprtxsend keeps the last second of sent packets. The other side's NACKs
//! reach our receive pipeline's RTP session (the one that hears its RTCP), and
//! [`RepairSource`] carries each asked-for packet across to the send pipeline's
//! rtprtxsend, as [`super::keyframes::KeyframeSource`] carries keyframe requests.

use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tracing::debug;

/// RTCP transport-layer feedback (RFC 4585 section 6.1) and its generic NACK format.
const RTPFB: u32 = 205;
const GENERIC_NACK: u32 = 1;
/// How long sent packets are kept to be sent again: a Wi-Fi's round trip many times
/// over; a repair later than the other side's jitter buffer waits is of no use.
const KEPT_MS: u32 = 1000;
/// And at most this many (a keyframe at a high rate is a few hundred).
const KEPT_PACKETS: u32 = 1000;
/// The most packets one NACK may ask for: what a peer asks beyond is not sent. Each of
/// its entries names up to 17; a sane one rarely needs more than a handful.
const MOST_PER_NACK: usize = 64;
/// The most packets sent again per second, whatever the other side asks, and the most
/// that as many as the stream sent over the last second may raise it to: repairs never
/// take more of the link than the stream itself (under a cap, where every repair is
/// another packet in the queue, they shrink with the stream's rate).
const MOST_PER_SECOND: u64 = 300;
/// The repairs allowed a second however few packets the stream sends (a still picture
/// sends a handful, and each one lost stops the picture).
const LEAST_PER_SECOND: u64 = 10;

/// The element names, for the media session to find them (a sender's is
/// [`sender_name`]).
const SENDER: &str = "rtxsend";
pub(super) const RECEIVER: &str = "rtxreceive";

/// The packets a generic NACK's FCI asks for (RFC 4585 section 6.2.1: entries of a
/// packet ID and a bitmask of the 16 after it), at most [`MOST_PER_NACK`].
pub fn nacked(fci: &[u8]) -> Vec<u16> {
    let mut asked = Vec::new();
    for entry in fci.chunks_exact(4) {
        let pid = u16::from_be_bytes([entry[0], entry[1]]);
        let blp = u16::from_be_bytes([entry[2], entry[3]]);
        asked.push(pid);
        asked.extend(
            (0..16)
                .filter(|bit| blp & (1 << bit) != 0)
                .map(|bit| pid.wrapping_add(bit + 1)),
        );
        if asked.len() >= MOST_PER_NACK {
            asked.truncate(MOST_PER_NACK);
            break;
        }
    }
    asked
}

/// Where the other side's NACKs go: the running send pipeline's rtprtxsend. Shared by
/// a media session, its receive pipeline (which hears the NACKs) and its send pipeline.
#[derive(Clone, Default)]
pub struct RepairSource {
    sender: Arc<Mutex<Option<gst::Element>>>,
    /// Packets sent again by senders this source no longer points at.
    sent_before: Arc<AtomicU64>,
    /// What may still be sent again this second.
    budget: Arc<Mutex<Budget>>,
    /// The stream's packets through the current sender so far (a pad probe counts them).
    stream_packets: Arc<AtomicU64>,
}

/// The repairs of one second: the second, the packets asked for in it, the stream's
/// count when it began, and the stream's packets a second before it.
#[derive(Default)]
struct Budget {
    second: u64,
    asked: u64,
    stream_then: u64,
    stream_last_second: u64,
}

impl RepairSource {
    /// Points NACKs at this rtprtxsend (None: nothing is sent again).
    pub(super) fn set(&self, sender: Option<gst::Element>) {
        let mut current = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = current.take() {
            self.sent_before.fetch_add(sent_by(&old), Ordering::Relaxed);
        }
        if let Some(pad) = sender.as_ref().and_then(|s| s.static_pad("sink")) {
            let counter = self.stream_packets.clone();
            pad.add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                move |_, info| {
                    let packets = match &info.data {
                        Some(gst::PadProbeData::BufferList(list)) => list.len() as u64,
                        _ => 1,
                    };
                    counter.fetch_add(packets, Ordering::Relaxed);
                    gst::PadProbeReturn::Ok
                },
            );
        }
        *current = sender;
    }

    /// The other side lost these packets of our stream `ssrc`: send them again, within
    /// the budget.
    fn resend(&self, ssrc: u32, seqnums: &[u16]) {
        let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(pad) = sender.and_then(|s| s.static_pad("src")) else {
            return;
        };
        let allowed = {
            let second = crate::device::probe::monotonic_ms() / 1000;
            let stream_now = self.stream_packets.load(Ordering::Relaxed);
            let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
            if budget.second != second {
                // The stream's packets a second since the budget was last renewed.
                let elapsed = second.saturating_sub(budget.second).max(1);
                let last = stream_now.saturating_sub(budget.stream_then) / elapsed;
                *budget = Budget {
                    second,
                    asked: 0,
                    stream_then: stream_now,
                    stream_last_second: last,
                };
            }
            let most = budget.stream_last_second.clamp(LEAST_PER_SECOND, MOST_PER_SECOND);
            let allowed = most.saturating_sub(budget.asked).min(seqnums.len() as u64) as usize;
            budget.asked += allowed as u64;
            allowed
        };
        for seqnum in &seqnums[..allowed] {
            let request = gst::Structure::builder("GstRTPRetransmissionRequest")
                .field("seqnum", *seqnum as u32)
                .field("ssrc", ssrc)
                .build();
            pad.send_event(gst::event::CustomUpstream::new(request));
        }
        debug!(
            ssrc,
            asked = seqnums.len(),
            allowed,
            "the other side asked for packets again"
        );
    }

    /// Packets sent again so far.
    pub fn sent(&self) -> u64 {
        let current = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        self.sent_before.load(Ordering::Relaxed) + current.as_ref().map_or(0, sent_by)
    }
}

fn sent_by(sender: &gst::Element) -> u64 {
    u64::from(sender.property::<u32>("num-rtx-packets"))
}

/// A bin for rtpbin's aux pads of `session`: `element` between `sink_N` and `src_N`.
fn aux_bin(element: gst::Element, session: u32) -> Option<gst::Bin> {
    let bin = gst::Bin::new();
    bin.add(&element).ok()?;
    for (inner, outer) in [("sink", format!("sink_{session}")), ("src", format!("src_{session}"))] {
        let target = element.static_pad(inner)?;
        let ghost = gst::GhostPad::builder_with_target(&target).ok()?.name(outer).build();
        bin.add_pad(&ghost).ok()?;
    }
    Some(bin)
}

/// Answers rtpbin's `signal` (`request-aux-sender` or `request-aux-receiver`) with a
/// bin around what `make` builds for the session asked about, or no element. One
/// handler per signal and rtpbin: the signal takes the last handler's answer.
fn answer_aux(rtpbin: &gst::Element, signal: &str, make: impl Fn(u32) -> Option<gst::Element> + Send + Sync + 'static) {
    rtpbin.connect(signal, false, move |args| {
        let session = args.get(1).and_then(|v| v.get::<u32>().ok());
        let bin = session
            .and_then(|session| aux_bin(make(session)?, session))
            .map(|bin| bin.upcast::<gst::Element>());
        Some(bin.to_value())
    });
}

/// `pt` → `rtx_pt`, as rtprtxsend and rtprtxreceive take it.
fn payload_map(pt: u8, rtx_pt: u8) -> gst::Structure {
    gst::Structure::builder("application/x-rtp-pt-map")
        .field(pt.to_string(), rtx_pt as u32)
        .build()
}

/// The rtprtxsend of rtpbin session `session`, by name.
pub(super) fn sender_name(session: u32) -> String {
    format!("{SENDER}{session}")
}

/// One stream whose lost packets are sent again: its rtpbin session, its payload type
/// and the payload type its repairs go out as.
#[derive(Debug, Clone, Copy)]
pub(super) struct RepairedStream {
    pub(super) session: u32,
    pub(super) pt: u8,
    pub(super) rtx_pt: u8,
}

/// Sends repairs of each of `streams` when asked through [`RepairSource`] (the send
/// pipeline's rtpbin, before it starts): an rtprtxsend named [`sender_name`] per session.
pub(super) fn send_repairs(rtpbin: &gst::Element, streams: Vec<RepairedStream>) {
    answer_aux(rtpbin, "request-aux-sender", move |session| {
        let stream = streams.iter().find(|s| s.session == session)?;
        gst::ElementFactory::make("rtprtxsend")
            .name(sender_name(session))
            .property("payload-type-map", payload_map(stream.pt, stream.rtx_pt))
            .property("max-size-time", KEPT_MS)
            .property("max-size-packets", KEPT_PACKETS)
            .build()
            .ok()
    });
}

/// Asks for session `session`'s lost packets of payload type `pt` again and takes their
/// repairs as `rtx_pt` (the receive pipeline's rtpbin, before it starts).
pub(super) fn receive_repairs(rtpbin: &gst::Element, session: u32, pt: u8, rtx_pt: u8) {
    // The video's jitter buffer only: rtpbin's own property would make the sound's wait
    // for repairs that never come, and play silence meanwhile.
    rtpbin.connect("new-jitterbuffer", false, move |args| {
        let buffer = args.get(1).and_then(|v| v.get::<gst::Element>().ok());
        if args.get(2).and_then(|v| v.get::<u32>().ok()) == Some(session) {
            if let Some(buffer) = buffer {
                buffer.set_property("do-retransmission", true);
            }
        }
        None
    });
    answer_aux(rtpbin, "request-aux-receiver", move |asked| {
        if asked != session {
            return None;
        }
        gst::ElementFactory::make("rtprtxreceive")
            .name(RECEIVER)
            .property("payload-type-map", payload_map(pt, rtx_pt))
            .build()
            .ok()
    });
}

/// Sends the other side's NACKs for the stream of rtpbin session `session` (the receive
/// pipeline's, which hears them) to `source`.
pub(super) fn honour_nacks(rtpbin: &gst::Element, session: u32, source: RepairSource) {
    super::feedback::on_feedback(rtpbin, session, move |heard| {
        if heard.kind != RTPFB || heard.format != GENERIC_NACK {
            return;
        }
        if let Some(map) = heard.fci.as_ref().and_then(|fci| fci.map_readable().ok()) {
            source.resend(heard.media_ssrc, &nacked(&map));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nack_names_its_packet_and_the_ones_its_mask_sets() {
        // 100, then bits 0 and 15: 101 and 116; then 65535 wrapping to 0.
        let fci = [0, 100, 0x80, 0x01, 0xff, 0xff, 0x00, 0x01];
        assert_eq!(nacked(&fci), vec![100, 101, 116, 65535, 0]);
        assert!(nacked(&[]).is_empty());
        assert!(nacked(&[0, 7, 0]).is_empty(), "a cut entry asks for nothing");
    }

    #[test]
    fn one_nack_asks_for_at_most_so_many() {
        let fci: Vec<u8> = (0..300u16)
            .flat_map(|i| [(i >> 8) as u8, i as u8, 0xff, 0xff])
            .collect();
        assert_eq!(nacked(&fci).len(), MOST_PER_NACK);
    }
}
