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
    /// The speaker takes no sound now (stuck, or held by a write that never returned).
    pub speaker_stuck: std::sync::atomic::AtomicBool,
    /// When the write to the speaker in progress began ([`crate::device::probe::monotonic_ms`]),
    /// 0 when none is: a write that never returns shows here.
    pub speaker_write_since_ms: AtomicU64,
    /// Audio packets that never came in time, each concealed by the decoder (Opus loss
    /// concealment, or recovered from the next packet's in-band FEC): this pipeline's
    /// own count (its jitter buffers count from zero; the media session adds the counts
    /// of the pipelines it replaced).
    pub audio_lost: AtomicU64,
    /// Video packets that never came in time: this pipeline's own count.
    pub video_lost: AtomicU64,
    /// Video packets asked for again (NACK): this pipeline's own count.
    pub video_asked_again: AtomicU64,
    /// Repairs of video packets received (RTX, each taken back to the packet it
    /// carries): this pipeline's own count.
    pub video_repairs: AtomicU64,
    /// How long the audio jitter buffer waits now, in ms (it adapts to the jitter).
    pub audio_buffer_ms: AtomicU64,
}

/// A write to the speaker that has not returned after this long means it is stuck.
const SPEAKER_WRITE_STUCK_MS: u64 = 1000;

impl RecvCounters {
    /// Whether the speaker takes no sound now.
    pub fn speaker_stuck(&self) -> bool {
        let since = self.speaker_write_since_ms.load(Ordering::Relaxed);
        self.speaker_stuck.load(Ordering::Relaxed)
            || (since > 0 && crate::device::probe::monotonic_ms().saturating_sub(since) > SPEAKER_WRITE_STUCK_MS)
    }
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
