//! What the receive side counts, read by status, the stall watch and the benchmark.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of the receive side.
#[derive(Debug, Default)]
pub struct RecvCounters {
    /// RTP packets received (video and audio); for encrypted streams, those that passed
    /// SRTP authentication.
    pub packets: AtomicU64,
    /// RTCP packets received (sender and receiver reports); for encrypted streams, those
    /// that passed SRTCP authentication.
    pub rtcp: AtomicU64,
    /// When the last RTP packet arrived, [`crate::device::probe::monotonic_ms`].
    pub last_packet_ms: AtomicU64,
    /// Video frames decoded and handed to the display.
    pub frames_decoded: AtomicU64,
    /// Audio samples handed to the speaker.
    pub samples_played: AtomicU64,
    /// Datagrams dropped at the gate: not from the peer, or not RTP/RTCP of the call.
    pub dropped: AtomicU64,
    /// Keyframes we asked the sender for (PLI) because its picture could not be decoded.
    pub keyframes_asked: AtomicU64,
}

impl RecvCounters {
    /// Takes over the counts of a pipeline this one replaces.
    pub fn carry_over(&self, before: &RecvCounters) {
        for (to, from) in [
            (&self.packets, &before.packets),
            (&self.rtcp, &before.rtcp),
            (&self.last_packet_ms, &before.last_packet_ms),
            (&self.frames_decoded, &before.frames_decoded),
            (&self.samples_played, &before.samples_played),
            (&self.dropped, &before.dropped),
            (&self.keyframes_asked, &before.keyframes_asked),
        ] {
            to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
}
