//! Calls over a poor link (the far end of a home's Wi-Fi): what the receive side does
//! about late and lost packets, and what it tells the send side.
//!
//! - Lost packets are reported to the decoders (rtpbin `do-lost`): Opus conceals each
//!   one (its PLC) or recovers it from the next packet's in-band FEC.
//! - Each jitter buffer waits as long as the link's jitter needs, within bounds: the
//!   configured wait on a clean LAN, up to [`MAX_BUFFER_MS`] on a bad one. A packet that
//!   comes too late to be played lengthens the wait at once; the wait shrinks back
//!   slowly while the link is calm.
//! - The share of the other side's sound we lose sets how much in-band FEC our Opus
//!   encoder sends, when the other side asked for FEC: a home Wi-Fi loses about as much
//!   both ways. (The other side's RTCP receiver reports say it exactly, but they are
//!   about our sender, which lives in the send pipeline, and reach only the receive
//!   pipeline's RTP session, which keeps no report about a sender it does not own.)

use super::counters::RecvCounters;
use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::debug;

/// The longest a jitter buffer waits: past it, a conversation feels like a radio link.
pub const MAX_BUFFER_MS: u32 = 120;
/// The longest the video jitter buffer waits when lost packets are sent again: long
/// enough for a repair to come back over a bad Wi-Fi (a round trip after the loss was
/// noticed), which saves a frozen picture. The picture may then lag the sound by up to
/// this less the sound's wait, on a bad link only.
pub const MAX_REPAIRED_VIDEO_MS: u32 = 250;
/// How often the jitter buffers are looked at.
const TICK: Duration = Duration::from_millis(250);
/// How much a late packet lengthens the wait, and how fast a calm link shortens it
/// (per tick).
const LONGER_MS: u32 = 20;
const SHORTER_MS: u32 = 2;
/// The least expected loss FEC is sent for once the other side asked for it: a Wi-Fi
/// loses packets before any has been measured.
const FEC_FLOOR_PERCENT: u32 = 3;

/// Carries the loss of sound the receive pipeline measures to the send pipeline's Opus
/// encoder (which sends FEC for it), whichever run.
#[derive(Clone, Default)]
pub struct LossFeedback {
    encoder: Arc<Mutex<Option<gst::Element>>>,
    measured_percent: Arc<AtomicU32>,
}

impl LossFeedback {
    /// The Opus encoder that sends FEC (None: no encoder does). It starts at what was
    /// last measured.
    pub(super) fn set_encoder(&self, encoder: Option<gst::Element>) {
        if let Some(e) = &encoder {
            set_expected_loss(e, self.measured_percent.load(Ordering::Relaxed));
        }
        *self.encoder.lock().unwrap_or_else(|e| e.into_inner()) = encoder;
    }

    fn measured(&self, percent: u32) {
        if self.measured_percent.swap(percent, Ordering::Relaxed) == percent {
            return;
        }
        if let Some(e) = self.encoder.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            set_expected_loss(e, percent);
            debug!(
                percent,
                "this share of the other side's sound is lost: as much FEC is sent"
            );
        }
    }

    /// The loss the Opus encoder's FEC is set for now, in percent (None while no
    /// encoder sends FEC).
    pub fn fec_percent(&self) -> Option<u32> {
        let encoder = self.encoder.lock().unwrap_or_else(|e| e.into_inner());
        encoder
            .as_ref()
            .map(|e| e.property::<i32>("packet-loss-percentage").max(0) as u32)
    }
}

fn set_expected_loss(encoder: &gst::Element, percent: u32) {
    encoder.set_property("packet-loss-percentage", percent.clamp(FEC_FLOOR_PERCENT, 30) as i32);
}

/// Sets up a receive pipeline's `rtpbin` for a poor link: losses reported to the
/// decoders, and a watch on its jitter buffers (for as long as the rtpbin lives) that
/// adapts their waits from `min_ms` up and passes the share of sound lost over the last
/// seconds to `feedback`.
pub(super) fn watch(
    rtpbin: &gst::Element,
    (min_ms, repairs): (u32, bool),
    counters: Arc<RecvCounters>,
    (feedback, rate): (LossFeedback, super::rate::RateTarget),
) {
    rtpbin.set_property("do-lost", true);
    let buffers: Arc<Mutex<NewBuffers>> = Arc::default();
    let found = buffers.clone();
    rtpbin.connect("new-jitterbuffer", false, move |args| {
        let buffer = args.get(1).and_then(|v| v.get::<gst::Element>().ok());
        let session = args.get(2).and_then(|v| v.get::<u32>().ok());
        if let (Some(buffer), Some(session)) = (buffer, session) {
            found
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((session, buffer.downgrade()));
        }
        None
    });
    let rtpbin = rtpbin.downgrade();
    let spawned = std::thread::Builder::new().name("link-watch".into()).spawn(move || {
        let mut waits: Vec<(glib::WeakRef<gst::Element>, Adaptive)> = Vec::new();
        let (mut sound_loss, mut video_loss) = (RecentLoss::default(), RecentLoss::default());
        let mut ticks = 0u32;
        while let Some(bin) = rtpbin.upgrade() {
            for (session, buffer) in buffers.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
                let max_ms = if session == 0 && repairs {
                    MAX_REPAIRED_VIDEO_MS
                } else {
                    MAX_BUFFER_MS
                };
                waits.push((buffer, Adaptive::new(session, min_ms, max_ms)));
            }
            waits.retain(|(buffer, _)| buffer.upgrade().is_some());
            let (mut lost, mut pushed) = ([0u64; 2], [0u64; 2]);
            let mut asked_again = 0;
            for (buffer, adaptive) in &mut waits {
                let Some(buffer) = buffer.upgrade() else { continue };
                let stats = buffer.property::<gst::Structure>("stats");
                let field = |name: &str| stats.get::<u64>(name).unwrap_or(0);
                lost[adaptive.session.min(1) as usize] += field("num-lost");
                if adaptive.session == 0 {
                    asked_again += field("rtx-count");
                }
                pushed[adaptive.session.min(1) as usize] += field("num-pushed");
                let (jitter_ms, repair_ms) = (field("avg-jitter") / 1_000_000, field("rtx-rtt") / 1_000_000);
                if let Some(wait) = adaptive.next(field("num-late"), (jitter_ms, repair_ms)) {
                    buffer.set_property("latency", wait);
                }
                if adaptive.session == 1 {
                    counters.audio_buffer_ms.store(adaptive.wait as u64, Ordering::Relaxed);
                }
            }
            counters.video_lost.fetch_max(lost[0], Ordering::Relaxed);
            counters.video_asked_again.fetch_max(asked_again, Ordering::Relaxed);
            let repairs = bin
                .downcast_ref::<gst::Bin>()
                .and_then(|b| b.by_name(super::repair::RECEIVER));
            if let Some(repairs) = repairs {
                let received = repairs.property::<u32>("num-rtx-assoc-packets");
                counters.video_repairs.fetch_max(u64::from(received), Ordering::Relaxed);
            }
            counters.audio_lost.fetch_max(lost[1], Ordering::Relaxed);
            if let Some(percent) = sound_loss.add(lost[1], pushed[1]) {
                feedback.measured(percent);
            }
            ticks += 1;
            // Once a second, as a receiver report would say it.
            if let Some(percent) = video_loss.add(lost[0], pushed[0]).filter(|_| ticks.is_multiple_of(4)) {
                rate.measured_loss(percent);
            }
            drop(bin);
            std::thread::sleep(TICK);
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot watch the link; jitter buffers keep their wait");
    }
}

/// Jitter buffers rtpbin made since the watch last looked, with their session.
type NewBuffers = Vec<(u32, glib::WeakRef<gst::Element>)>;

/// One jitter buffer's wait.
struct Adaptive {
    session: u32,
    min_ms: u32,
    max_ms: u32,
    wait: u32,
    late_before: u64,
}

impl Adaptive {
    fn new(session: u32, min_ms: u32, max_ms: u32) -> Self {
        Self {
            session,
            min_ms,
            max_ms: max_ms.max(min_ms),
            wait: min_ms,
            late_before: 0,
        }
    }

    /// The wait after this tick, when it changed: `late`, the packets that came too
    /// late so far; `jitter_ms`, the RFC 3550 interarrival jitter; `repair_ms`, where
    /// lost packets are sent again, the round trip a repair takes (0 elsewhere).
    fn next(&mut self, late: u64, (jitter_ms, repair_ms): (u64, u64)) -> Option<u32> {
        let came_late = late > self.late_before;
        self.late_before = late;
        // Packets spread over about three times the interarrival jitter; a repair comes
        // a round trip after its packet was missed, which itself takes about the jitter
        // again to notice.
        let repair = if repair_ms > 0 { repair_ms + jitter_ms } else { 0 };
        let needed = jitter_ms.saturating_mul(3).saturating_add(repair).min(u32::MAX as u64) as u32;
        let needed = needed.clamp(self.min_ms, self.max_ms);
        let wait = if came_late {
            (self.wait + LONGER_MS).max(needed)
        } else {
            self.wait.saturating_sub(SHORTER_MS).max(needed)
        }
        .clamp(self.min_ms, self.max_ms);
        (wait != self.wait).then(|| {
            self.wait = wait;
            wait
        })
    }
}

/// How many ticks the loss of sound is measured over (2 s).
const LOSS_WINDOW: usize = 8;

/// The share of packets lost over the last [`LOSS_WINDOW`] ticks, from a jitter
/// buffer's running counts.
#[derive(Default)]
struct RecentLoss {
    /// (lost, pushed) at each of the last ticks, oldest first.
    counts: std::collections::VecDeque<(u64, u64)>,
}

impl RecentLoss {
    /// This tick's running counts; the share lost over the window, in percent, once the
    /// window is full.
    fn add(&mut self, lost: u64, pushed: u64) -> Option<u32> {
        if self.counts.back().is_some_and(|(l, p)| lost < *l || pushed < *p) {
            // A new jitter buffer (a rebuilt pipeline) counts from zero again.
            self.counts.clear();
        }
        self.counts.push_back((lost, pushed));
        if self.counts.len() <= LOSS_WINDOW {
            return None;
        }
        let (lost_then, pushed_then) = self.counts.pop_front()?;
        let (lost, pushed) = (lost - lost_then, pushed - pushed_then);
        Some(((lost * 100) / (lost + pushed).max(1)) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loss_of_sound_is_measured_over_the_last_two_seconds() {
        let mut loss = RecentLoss::default();
        for tick in 0..LOSS_WINDOW as u64 {
            assert_eq!(loss.add(0, tick * 12), None, "not a whole window yet");
        }
        // From now on, of every 10 packets a tick, 9 arrive and 1 is lost.
        let (mut lost, mut pushed) = (0, (LOSS_WINDOW as u64 - 1) * 12);
        let mut last = None;
        for _ in 0..2 * LOSS_WINDOW {
            pushed += 9;
            lost += 1;
            last = loss.add(lost, pushed);
        }
        assert_eq!(last, Some(10));
        assert_eq!(loss.add(0, 5), None, "a new jitter buffer starts a new window");
    }

    #[test]
    fn a_late_packet_lengthens_the_wait_and_a_calm_link_shortens_it_slowly() {
        let mut a = Adaptive::new(1, 20, MAX_BUFFER_MS);
        assert_eq!(a.next(0, (1, 0)), None, "a clean LAN keeps the configured wait");
        assert_eq!(a.next(1, (1, 0)), Some(40));
        assert_eq!(a.next(3, (1, 0)), Some(60));
        assert_eq!(a.next(3, (1, 0)), Some(58));
        for _ in 0..100 {
            a.next(3, (1, 0));
        }
        assert_eq!(a.wait, 20, "back to the configured wait");
    }

    #[test]
    fn a_repaired_video_stream_waits_for_its_repairs_within_its_own_bound() {
        let mut a = Adaptive::new(0, 20, MAX_REPAIRED_VIDEO_MS);
        assert_eq!(a.next(0, (1, 0)), None, "no repair yet: the configured wait");
        assert_eq!(
            a.next(0, (20, 80)),
            Some(160),
            "three jitters, and a round trip after a jitter"
        );
        assert_eq!(a.next(0, (100, 300)), Some(MAX_REPAIRED_VIDEO_MS));
    }

    #[test]
    fn the_wait_follows_the_jitter_within_bounds() {
        let mut a = Adaptive::new(1, 20, MAX_BUFFER_MS);
        assert_eq!(a.next(0, (15, 0)), Some(45));
        assert_eq!(a.next(0, (200, 0)), Some(MAX_BUFFER_MS));
        for late in 1..10 {
            a.next(late, (200, 0));
        }
        assert_eq!(a.wait, MAX_BUFFER_MS);
    }
}
