//! What `doorway status` says of a call's media.

use crate::call::sdp::Negotiated;
use serde::Serialize;

/// Media statistics for `status`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MediaStats {
    /// Streams as negotiated.
    pub negotiated: Option<Negotiated>,
    /// Frames pushed into the encoder.
    pub frames_sent: u64,
    /// Camera failures during the call.
    pub camera_failures: u64,
    /// RTP packets received.
    pub packets_received: u64,
    /// Frames decoded.
    pub frames_decoded: u64,
    /// Audio samples played.
    pub samples_played: u64,
    /// The speaker takes no sound now: it is stuck.
    pub speaker_stuck: bool,
    /// Milliseconds since the last RTP packet, if any arrived.
    pub ms_since_last_packet: Option<u64>,
    /// Datagrams dropped at the receive gate (not from the peer, or not the call's RTP).
    pub packets_dropped: u64,
    /// RTCP packets received (for encrypted streams, those that passed authentication).
    pub rtcp_received: u64,
    /// Encrypted packets that failed SRTP/SRTCP authentication (or were replayed) and
    /// were dropped; they do not count as received.
    pub packets_unauthenticated: u64,
    /// How the media we send is protected: `"SRTP AEAD_AES_128_GCM"` (or another
    /// suite), `"unencrypted"`, or per stream when video and audio differ
    /// ([`srtp::describe`]); None while nothing is sent.
    pub encryption_sent: Option<String>,
    /// How the media we receive is protected, in the same words; None while nothing is
    /// received.
    pub encryption_received: Option<String>,
    /// Keyframes we asked the other side for (picture loss indications) while its
    /// picture could not be decoded.
    pub keyframes_asked: u64,
    /// Keyframes we sent because the other side asked (PLI or FIR).
    pub keyframes_forced: u64,
    /// Audio packets that never came in time; the decoder concealed each one (or
    /// recovered it from the next packet's in-band FEC).
    pub audio_packets_concealed: u64,
    /// Video packets that never came in time.
    pub video_packets_lost: u64,
    /// Video packets we asked the other side to send again (NACK).
    pub video_packets_asked_again: u64,
    /// Repairs (RTX) of video packets received.
    pub video_repairs_received: u64,
    /// Video packets we sent again because the other side asked.
    pub video_packets_resent: u64,
    /// The bitrate our video encoder is set to now, kbit/s: it follows the loss the
    /// other side reports (None while no encoder follows it).
    pub video_kbps: Option<u32>,
    /// How long the audio jitter buffer waits now, in ms: it adapts to the link.
    pub audio_buffer_ms: u64,
    /// The loss our Opus encoder's in-band FEC is set for now, in percent (None when
    /// the other side did not ask for FEC).
    pub audio_fec_percent: Option<u32>,
}
