//! The video bitrate follows the link: the other side's RTCP receiver reports say what
//! share of our video it lost (RFC 3550 section 6.4.1, "fraction lost"), and the
//! encoder's bitrate backs off when much is lost and climbs back while little is, the
//! loss-based half of Google Congestion Control (draft-ietf-rmcat-gcc-02 section 6):
//! over 10% lost, the rate is cut by half the loss; under 2%, it grows by 8% a report,
//! up to the configured rate, and no lower than a thirty-second of it. A capped link then
//! loses a burst when the cap bites, rather than a fifth of every picture for as long
//! as the call lasts.
//!
//! As in GCC, a cut starts from the rate the encoder really sends, not from its target:
//! a still doorstep at a target of 1500 kbit/s sends a tenth of that, and cutting the
//! target by a tenth a second would take twenty seconds to reach what the link carries.
//!
//! With feedback timing a receiver reports many times a second, so the loss is taken
//! from the reports' running counts over a second or more ([`ReportWindow`]), not from
//! each report's fraction of a handful of packets.
//!
//! The reports reach our receive pipeline's RTP session (the one that hears the other
//! side's RTCP); [`RateTarget`] carries the new rate to the send pipeline's encoder, as
//! [`super::keyframes::KeyframeSource`] carries keyframe requests. Under heavy loss the
//! other side sends only feedback (NACK, PLI) in packets that carry no report, so the
//! loss we measure of its video, each second, counts as a report too.

use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::debug;

/// RTCP sender and receiver reports (RFC 3550 section 6.4).
const SR: u8 = 200;
const RR: u8 = 201;
/// A report block's length.
const BLOCK: usize = 24;
/// Loss past which the rate backs off, and under which it grows, as RTCP's fraction
/// (of 256).
const BACK_OFF_OVER: u32 = 26; // 10%
const GROW_UNDER: u32 = 5; // 2%
/// How much the rate grows per report while little is lost, in percent.
const GROWTH_PERCENT: u32 = 8;
/// How often this side reports what it received.
const REPORT_EVERY_NS: u64 = 1_000_000_000;
/// The least rate, as a share of the configured one (47 kbit/s of the default 1500):
/// below it a picture is mush. With the sound's 80 kbit/s on the wire, a call then
/// needs about 150 kbit/s.
const FLOOR_DIVISOR: u32 = 32;
/// The shortest time over which the encoder's output is measured: a keyframe makes any
/// shorter window read high.
const MEASURE_OVER_MS: u128 = 1000;

/// What one RTCP report block says of a stream (RFC 3550 section 6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock {
    /// The stream reported on.
    pub ssrc: u32,
    /// Its packets lost since the reporter's last report, of 256.
    pub fraction_lost: u8,
    /// Its packets lost since the start (24 bits, signed: duplicates can make it
    /// negative).
    pub cumulative_lost: i32,
    /// The highest sequence number received, extended with the count of wraps.
    pub highest_seq: u32,
}

/// The report blocks of a compound RTCP packet. What does not parse ends the walk.
pub fn report_blocks(rtcp: &[u8]) -> Vec<ReportBlock> {
    let mut blocks = Vec::new();
    let mut rest = rtcp;
    while rest.len() >= 8 && rest[0] >> 6 == 2 {
        let count = (rest[0] & 0x1f) as usize;
        let kind = rest[1];
        let length = (u16::from_be_bytes([rest[2], rest[3]]) as usize + 1) * 4;
        let Some(packet) = rest.get(..length) else { break };
        let first = match kind {
            SR => Some(28),
            RR => Some(8),
            _ => None,
        };
        if let Some(first) = first {
            for block in packet.get(first..).unwrap_or_default().chunks_exact(BLOCK).take(count) {
                let word = |at: usize| u32::from_be_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]]);
                // The 24-bit count, sign-extended.
                let cumulative_lost = ((word(4) << 8) as i32) >> 8;
                blocks.push(ReportBlock {
                    ssrc: word(0),
                    fraction_lost: block[4],
                    cumulative_lost,
                    highest_seq: word(8),
                });
            }
        }
        rest = &rest[length..];
    }
    blocks
}

/// The loss over a window of reports at least [`MEASURE_OVER_MS`] long: with feedback
/// timing a receiver reports many times a second, and one report's fraction then
/// covers a handful of packets.
#[derive(Debug, Default)]
pub struct ReportWindow {
    /// When the window opened, with the first report's counts.
    start: Option<(u64, ReportBlock)>,
}

impl ReportWindow {
    /// A report on our stream arrived at `now_ms`: the share lost since the window
    /// opened (of 256), once it is long enough; a new window then opens.
    pub fn add(&mut self, now_ms: u64, block: ReportBlock) -> Option<u8> {
        let Some((since, first)) = self.start else {
            self.start = Some((now_ms, block));
            return None;
        };
        if now_ms.saturating_sub(since) < MEASURE_OVER_MS as u64 {
            return None;
        }
        self.start = Some((now_ms, block));
        let expected = i64::from(block.highest_seq.wrapping_sub(first.highest_seq));
        if expected <= 0 || expected > i64::from(u16::MAX) {
            // Nothing new, or a reporter that started over.
            return None;
        }
        let lost = (i64::from(block.cumulative_lost) - i64::from(first.cumulative_lost)).clamp(0, expected);
        Some((lost * 256 / expected).min(255) as u8)
    }
}

/// The sans-IO controller: the rate now, and what a report makes of it.
#[derive(Debug, Clone, PartialEq)]
pub struct RateControl {
    most_kbps: u32,
    now_kbps: u32,
}

impl RateControl {
    /// Starts at the configured rate, which is also the most it sends.
    pub fn new(configured_kbps: u32) -> RateControl {
        RateControl {
            most_kbps: configured_kbps,
            now_kbps: configured_kbps,
        }
    }

    /// The rate now, kbit/s.
    pub fn kbps(&self) -> u32 {
        self.now_kbps
    }

    /// A report said `fraction_lost` (of 256) of our video was lost, while the encoder
    /// sent `sent_kbps` (None: not measured yet): the new rate, when it changed.
    pub fn on_report(&mut self, fraction_lost: u8, sent_kbps: Option<u32>) -> Option<u32> {
        let lost = u32::from(fraction_lost);
        let floor = (self.most_kbps / FLOOR_DIVISOR).max(1);
        let next = if lost > BACK_OFF_OVER {
            // rate × (1 − loss / 2), loss = lost / 256, from what is really sent.
            let from = sent_kbps.map_or(self.now_kbps, |sent| sent.min(self.now_kbps));
            from - from * lost / 512
        } else if lost < GROW_UNDER {
            self.now_kbps + (self.now_kbps * GROWTH_PERCENT / 100).max(1)
        } else {
            self.now_kbps
        }
        .clamp(floor, self.most_kbps);
        (next != self.now_kbps).then(|| {
            self.now_kbps = next;
            next
        })
    }
}

/// Where the rate goes: the running send pipeline's video encoder and payloader (whose
/// SSRC the reports name). Shared by a media session, its receive pipeline (which hears
/// the reports) and its send pipeline; in a hosted call, each leg has one and they share
/// the grid's encoder.
#[derive(Clone, Default)]
pub struct RateTarget {
    inner: Arc<Mutex<Option<Target>>>,
}

/// One video encoder and the rate each of its followers wants (one per call leg that
/// receives its stream): it goes at the least of them, as fast as the worst link.
struct Encoder {
    element: gst::Element,
    /// How the encoder's bitrate property counts: 1 for kbit/s, 1000 for bit/s.
    scale: u32,
    /// Bytes out of the encoder so far (a pad probe counts them).
    encoded_bytes: Arc<AtomicU64>,
    wanted: Mutex<Vec<u32>>,
}

impl Encoder {
    fn new(element: gst::Element, followers: usize, configured_kbps: u32) -> Option<Encoder> {
        let scale = bitrate_scale(&element)?;
        let encoded_bytes = Arc::new(AtomicU64::new(0));
        let counter = encoded_bytes.clone();
        element
            .static_pad("src")?
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(buffer) = info.buffer() {
                    counter.fetch_add(buffer.size() as u64, Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            });
        Some(Encoder {
            element,
            scale,
            encoded_bytes,
            wanted: Mutex::new(vec![configured_kbps; followers]),
        })
    }

    /// The rate the encoder is set to: the least any follower wants.
    fn kbps(&self) -> u32 {
        let wanted = self.wanted.lock().unwrap_or_else(|e| e.into_inner());
        wanted.iter().copied().min().unwrap_or(0)
    }

    /// Follower `slot` wants `kbps` now. One lock over the change and the setting, so
    /// two legs' reports at once cannot leave the encoder at a rate already replaced.
    fn want(&self, slot: usize, kbps: u32) {
        let mut wanted = self.wanted.lock().unwrap_or_else(|e| e.into_inner());
        let before = wanted.iter().copied().min();
        if let Some(w) = wanted.get_mut(slot) {
            *w = kbps;
        }
        let now = wanted.iter().copied().min();
        if let Some(now) = now.filter(|now| Some(*now) != before) {
            self.element.set_property("bitrate", now * self.scale);
        }
    }
}

/// How `encoder`'s bitrate property counts: 1 for kbit/s, 1000 for bit/s (None: an
/// encoder whose rate is not changed while it runs, such as a hardware encoder's
/// controls, which keep the configured rate).
fn bitrate_scale(encoder: &gst::Element) -> Option<u32> {
    match encoder.factory()?.name().as_str() {
        "x264enc" => Some(1),
        "openh264enc" => Some(1000),
        _ => None,
    }
}

/// Sets `encoder` to what a link of `link_kbps` carries, within the configured rate and
/// the floor; the rate it is set to (None: it keeps the configured one).
pub(super) fn follow_link(encoder: &gst::Element, link_kbps: u32, configured_kbps: u32) -> Option<u32> {
    let scale = bitrate_scale(encoder)?;
    let kbps = link_kbps.clamp((configured_kbps / FLOOR_DIVISOR).max(1), configured_kbps.max(1));
    if encoder.property::<u32>("bitrate") != kbps * scale {
        encoder.set_property("bitrate", kbps * scale);
    }
    Some(kbps)
}

struct Target {
    encoder: Arc<Encoder>,
    /// This follower's place in the encoder's list.
    slot: usize,
    payloader: gst::Element,
    control: RateControl,
    /// The start of the window the encoder's rate is measured over, and its bytes then.
    window: (Instant, u64),
    /// What the encoder sent over the last whole window, kbit/s.
    sent_kbps: Option<u32>,
    /// The other side's reports of our stream.
    reports: ReportWindow,
}

impl RateTarget {
    /// Points the rate at this encoder and payloader (None: nothing follows the
    /// reports), starting at `configured_kbps`.
    pub(super) fn set(&self, sending: Option<(gst::Element, gst::Element)>, configured_kbps: u32) {
        Self::share(std::slice::from_ref(self), sending, configured_kbps);
    }

    /// Points every one of `targets` at one encoder and payloader, which goes at the
    /// least rate any of them wants (None: nothing follows the reports).
    pub(super) fn share(targets: &[RateTarget], sending: Option<(gst::Element, gst::Element)>, configured_kbps: u32) {
        let encoder = sending.and_then(|(encoder, payloader)| {
            Some((
                Arc::new(Encoder::new(encoder, targets.len(), configured_kbps)?),
                payloader,
            ))
        });
        for (slot, target) in targets.iter().enumerate() {
            let new = encoder.as_ref().map(|(encoder, payloader)| Target {
                encoder: encoder.clone(),
                slot,
                payloader: payloader.clone(),
                control: RateControl::new(configured_kbps),
                window: (Instant::now(), 0),
                sent_kbps: None,
                reports: ReportWindow::default(),
            });
            *target.inner.lock().unwrap_or_else(|e| e.into_inner()) = new;
        }
    }

    /// The video bitrate the encoder is set to now (None while no encoder follows).
    pub fn kbps(&self) -> Option<u32> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.as_ref().map(|t| t.encoder.kbps())
    }

    /// The share of the other side's video we lost over the last seconds, in percent:
    /// a home Wi-Fi loses about as much both ways, and the other side's own reports
    /// come only between its feedback (rtpsession puts no report blocks in the early
    /// packets that carry NACKs and PLIs, and under heavy loss those are all it sends).
    pub(super) fn measured_loss(&self, percent: u32) {
        let lost = (percent.min(100) * 256 / 100).min(255) as u8;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(target) = inner.as_mut() {
            target.follow(lost);
        }
    }

    fn on_rtcp(&self, rtcp: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(target) = inner.as_mut() else { return };
        let ours = target
            .payloader
            .property::<Option<gst::Structure>>("stats")
            .and_then(|s| s.get::<u32>("ssrc").ok());
        let now_ms = crate::base::clock::monotonic_ms();
        for block in report_blocks(rtcp) {
            if Some(block.ssrc) != ours {
                continue;
            }
            if let Some(lost) = target.reports.add(now_ms, block) {
                target.follow(lost);
            }
        }
    }
}

impl Target {
    fn follow(&mut self, lost: u8) {
        self.measure();
        if let Some(kbps) = self.control.on_report(lost, self.sent_kbps) {
            debug!(
                kbps,
                lost_of_256 = lost,
                sent_kbps = self.sent_kbps,
                "the video bitrate follows the link"
            );
            self.encoder.want(self.slot, kbps);
        }
    }

    /// Closes the window the encoder's rate is measured over once it is long enough.
    fn measure(&mut self) {
        let (since, bytes_then) = self.window;
        let elapsed_ms = since.elapsed().as_millis();
        if elapsed_ms < MEASURE_OVER_MS {
            return;
        }
        let bytes = self.encoder.encoded_bytes.load(Ordering::Relaxed);
        let kbps = (bytes.saturating_sub(bytes_then) as u128 * 8 / elapsed_ms).min(u32::MAX as u128);
        self.sent_kbps = Some(kbps as u32);
        self.window = (Instant::now(), bytes);
    }
}

/// Passes the other side's reports on the stream of rtpbin session `session` (the
/// receive pipeline's, which hears them) to `target`.
pub(super) fn follow_reports(rtpbin: &gst::Element, session: u32, target: RateTarget) {
    let Some(rtp_session) = super::feedback::rtp_session(rtpbin, session) else {
        return;
    };
    // Our own reports go out every second too (rtpsession's default is 5 s): the other
    // side's rate follows them as ours follows its. (This holds without feedback
    // timing; with it, [`super::feedback::prompt_feedback`] sets them far more often.)
    if rtp_session.has_property("rtcp-min-interval") {
        rtp_session.set_property("rtcp-min-interval", REPORT_EVERY_NS);
    }
    rtp_session.connect("on-receiving-rtcp", false, move |args| {
        let buffer = args.get(1).and_then(|v| v.get::<Option<gst::Buffer>>().ok()).flatten();
        if let Some(map) = buffer.as_ref().and_then(|b| b.map_readable().ok()) {
            target.on_rtcp(&map);
        }
        None
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(ssrc: u32, lost: u8) -> Vec<u8> {
        let mut b = ssrc.to_be_bytes().to_vec();
        b.push(lost);
        b.extend_from_slice(&[0; 19]);
        b
    }

    fn fractions(rtcp: &[u8]) -> Vec<(u32, u8)> {
        report_blocks(rtcp).iter().map(|b| (b.ssrc, b.fraction_lost)).collect()
    }

    fn report(cumulative_lost: i32, highest_seq: u32) -> ReportBlock {
        ReportBlock {
            ssrc: 7,
            fraction_lost: 0,
            cumulative_lost,
            highest_seq,
        }
    }

    #[test]
    fn report_blocks_are_read_from_sender_and_receiver_reports() {
        // An RR with two blocks, then an SR with one, then an SDES that has none.
        let mut rtcp = vec![0x82, RR, 0, 13, 0, 0, 0, 9];
        rtcp.extend(block(7, 25));
        rtcp.extend(block(8, 0));
        rtcp.extend_from_slice(&[0x81, SR, 0, 12, 0, 0, 0, 9]);
        rtcp.extend_from_slice(&[0; 20]);
        rtcp.extend(block(7, 128));
        rtcp.extend_from_slice(&[0x81, 202, 0, 1, 0, 0, 0, 9]);
        assert_eq!(fractions(&rtcp), vec![(7, 25), (8, 0), (7, 128)]);
    }

    #[test]
    fn what_does_not_parse_yields_nothing_more() {
        assert!(report_blocks(b"junk").is_empty());
        // A count of 31 blocks in a packet that holds one.
        let mut rtcp = vec![0x9f, RR, 0, 7, 0, 0, 0, 9];
        rtcp.extend(block(7, 25));
        assert_eq!(fractions(&rtcp), vec![(7, 25)]);
        // A length past the datagram.
        assert!(report_blocks(&[0x81, RR, 0, 200, 0, 0, 0, 9]).is_empty());
    }

    #[test]
    fn a_block_carries_the_cumulative_loss_and_the_highest_sequence_number() {
        let mut rtcp = vec![0x81, RR, 0, 7, 0, 0, 0, 9];
        rtcp.extend_from_slice(&[0, 0, 0, 7, 64, 0xff, 0xff, 0xfe, 0, 1, 0, 5]);
        rtcp.extend_from_slice(&[0; 12]);
        let block = report_blocks(&rtcp)[0];
        assert_eq!(
            (block.fraction_lost, block.cumulative_lost, block.highest_seq),
            (64, -2, 65541)
        );
    }

    #[test]
    fn the_loss_is_taken_over_a_second_of_reports() {
        let mut window = ReportWindow::default();
        assert_eq!(window.add(0, report(10, 1000)), None, "the window opens");
        assert_eq!(window.add(300, report(12, 1010)), None, "too short a window");
        assert_eq!(window.add(1000, report(20, 1100)), Some(25), "10 of 100: 10%");
        assert_eq!(window.add(2000, report(20, 1200)), Some(0));
        assert_eq!(window.add(3000, report(20, 1200)), None, "nothing new was expected");
        assert_eq!(window.add(4000, report(0, 5)), None, "the reporter started over");
        assert_eq!(window.add(5000, report(0, 105)), Some(0));
    }

    #[test]
    fn the_rate_backs_off_under_loss_and_climbs_back_when_it_clears() {
        let mut rate = RateControl::new(800);
        assert_eq!(rate.on_report(0, None), None, "at the configured rate already");
        assert_eq!(rate.on_report(64, None), Some(700), "25% lost: an eighth less");
        assert_eq!(
            rate.on_report(64, Some(900)),
            Some(613),
            "from the target when more is sent"
        );
        assert_eq!(rate.on_report(13, None), None, "5% lost: held");
        for _ in 0..50 {
            rate.on_report(255, None);
        }
        assert_eq!(rate.kbps(), 25, "never under a thirty-second of the configured rate");
        let mut reports = 0;
        while rate.on_report(0, None).is_some() {
            reports += 1;
        }
        assert_eq!(rate.kbps(), 800, "back to the configured rate");
        assert!(reports < 50, "within {reports} reports");
    }

    #[test]
    fn a_cut_starts_from_what_the_encoder_really_sends() {
        // A still picture: the target is 1500 kbit/s, the encoder sends 200.
        let mut rate = RateControl::new(1500);
        assert_eq!(rate.on_report(64, Some(200)), Some(175), "an eighth under what is sent");
        assert_eq!(rate.on_report(64, Some(170)), Some(149));
        assert_eq!(rate.on_report(255, Some(10)), Some(46), "not under the floor");
        // Little lost: it grows from the target again, whatever is sent.
        assert_eq!(rate.on_report(0, Some(20)), Some(49));
    }
}
