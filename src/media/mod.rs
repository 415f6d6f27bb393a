//! Media: GStreamer pipelines built in code for one call.
//!
//! A call's media is two pipelines: [`send::SendPipeline`] (devices → encoders → rtpbin →
//! UDP) and [`recv::RecvPipeline`] (UDP → rtpbin → decoders → devices). Keeping them apart
//! lets a door preview receive before it sends, and lets one side be rebuilt (a camera
//! that came back) without touching the other.

pub mod bridge;
pub mod codecs;
pub mod conference;
pub mod counters;
pub mod dtmf;
mod feed;
mod feedback;
mod inputs;
mod keyframes;
pub mod parts;
pub mod ports;
pub mod rate;
pub mod recv;
pub mod repair;
mod resilience;
pub mod ring;
pub mod rtp_filter;
pub mod rtsp;
pub mod screen_picture;
pub mod send;
pub mod srtp;
mod stats;
pub mod web_leg;

use crate::call::sdp::{Direction, Negotiated};
use crate::device::{DeviceError, Devices};
use gstreamer as gst;
use gstreamer::prelude::*;
pub use stats::MediaStats;
use std::sync::atomic::Ordering;
use tracing::{info, warn};

/// Media errors.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// GStreamer could not be initialised.
    #[error("GStreamer: {0}")]
    Init(String),
    /// A GStreamer element is not installed.
    #[error("GStreamer element {0:?} is not installed")]
    MissingElement(String),
    /// Elements could not be linked.
    #[error("cannot link media pipeline: {0}")]
    Link(String),
    /// A pipeline refused to start.
    #[error("cannot start the {0}")]
    Start(String),
    /// A device failed.
    #[error("device: {0}")]
    Device(DeviceError),
    /// A thread could not be started.
    #[error("cannot start a media thread: {0}")]
    Thread(String),
    /// No H.264 elements.
    #[error(transparent)]
    Codec(#[from] codecs::CodecError),
}

impl MediaError {
    fn link(e: impl std::fmt::Debug) -> Self {
        Self::Link(format!("{e:?}"))
    }
}

/// Initialises GStreamer once per process.
pub fn init() -> Result<(), MediaError> {
    crate::base::gst::init().map_err(|e| MediaError::Init(e.to_string()))
}

pub(crate) fn make(factory: &str, name: &str) -> Result<gst::Element, MediaError> {
    gst::ElementFactory::make(factory)
        .name(name)
        .build()
        .map_err(|_| MediaError::MissingElement(factory.into()))
}

/// Media parameters from the config and the codec probe.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Sent width.
    pub width: u32,
    /// Sent height.
    pub height: u32,
    /// Sent frame rate.
    pub fps: u32,
    /// H.264 bitrate.
    pub bitrate_kbps: u32,
    /// Jitter buffer latency.
    pub jitter_ms: u32,
    /// Chosen codec elements.
    pub codecs: codecs::CodecChoice,
    /// The screen remote pictures are scaled for (its width and height), if any: the
    /// receive pipeline delivers them at the size they are shown.
    pub screen: Option<(u32, u32)>,
    /// Name of this station's echo probe (webrtcechoprobe) when echo cancellation runs;
    /// unique per station, since the DSP finds its probe by name process-wide.
    pub echo_probe: Option<String>,
}

/// Where decoded remote video goes: the screen's [`crate::device::PictureSink`] (its
/// compositor), called on GStreamer's streaming thread for every frame.
pub type VideoOut = std::sync::Arc<dyn crate::device::PictureSink>;

/// Where small copies of our own camera go (the self view), a few times a second.
pub type SelfViewOut = std::sync::Arc<dyn Fn(crate::device::VideoFrame) + Send + Sync>;

/// The video and audio streams of `n` that run in a pipeline (`on`) whose direction
/// `wanted` accepts.
fn running(
    n: &Negotiated,
    on: bool,
    wanted: fn(Direction) -> bool,
) -> (Option<&crate::call::sdp::Stream>, Option<&crate::call::sdp::Stream>) {
    let keep = |s: &&crate::call::sdp::Stream| on && wanted(s.direction);
    (
        n.video.as_ref().map(|v| &v.rtp).filter(keep),
        n.audio.as_ref().map(|a| &a.rtp).filter(keep),
    )
}

/// Errors the pipelines reported since the last look.
#[derive(Debug, Default)]
pub struct PipelineErrors {
    /// From the send pipeline.
    pub send: Vec<String>,
    /// From the receive pipeline.
    pub recv: Vec<String>,
}

impl PipelineErrors {
    /// Every message, send side first.
    pub fn all(self) -> Vec<String> {
        self.send.into_iter().chain(self.recv).collect()
    }
}

/// The media of one call.
pub struct MediaSession {
    settings: MediaSettings,
    negotiated: Negotiated,
    send: Option<send::SendPipeline>,
    recv: Option<recv::RecvPipeline>,
    video_out: VideoOut,
    self_view: SelfViewOut,
    started_ms: u64,
    /// SRTP packets dropped by receive pipelines this session replaced.
    srtp_dropped_before: u64,
    /// Audio and video packets lost by receive pipelines this session replaced.
    lost_before: (u64, u64),
    /// The peer's sound is held back while the call still rings (shared with the receive
    /// pipeline, whichever is running).
    audio_held: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Carries the other side's keyframe requests from the receive pipeline to the send
    /// pipeline, whichever are running.
    keyframes: keyframes::KeyframeSource,
    /// Where the other side's DTMF digits go, whichever receive pipeline runs.
    digits: dtmf::DigitSlot,
    /// Carries the loss of the other side's sound to our Opus encoder's FEC.
    loss: resilience::LossFeedback,
    /// Carries the other side's NACKs to our send pipeline's retransmissions.
    repairs: repair::RepairSource,
    /// Carries the other side's reports of our video to our encoder's bitrate.
    rate: rate::RateTarget,
}

impl MediaSession {
    /// Starts what `negotiated` asks for.
    pub fn start(
        settings: &MediaSettings,
        negotiated: &Negotiated,
        devices: &Devices,
        video_out: VideoOut,
        self_view: SelfViewOut,
    ) -> Result<Self, MediaError> {
        let mut session = Self {
            settings: settings.clone(),
            negotiated: Negotiated::default(),
            send: None,
            recv: None,
            video_out,
            self_view,
            started_ms: crate::device::probe::monotonic_ms(),
            srtp_dropped_before: 0,
            lost_before: (0, 0),
            audio_held: Default::default(),
            keyframes: Default::default(),
            digits: Default::default(),
            loss: Default::default(),
            repairs: Default::default(),
            rate: Default::default(),
        };
        session.update(negotiated, devices)?;
        // Silence counts from when the pipelines run: starting them can take a while on
        // a slow machine, and no packet could have arrived before.
        session.started_ms = crate::device::probe::monotonic_ms();
        Ok(session)
    }

    /// Moves to a new negotiation (early media → answered): rebuilds only the side whose
    /// parameters changed.
    pub fn update(&mut self, negotiated: &Negotiated, devices: &Devices) -> Result<(), MediaError> {
        let sending = |n: &Negotiated| {
            (
                n.video.as_ref().filter(|v| v.rtp.direction.sends()).cloned(),
                n.audio.as_ref().filter(|a| a.rtp.direction.sends()).cloned(),
            )
        };
        let receiving = |n: &Negotiated| {
            (
                // The peer's address too: the gate admits only it, and RTCP reports go to it.
                // The keys too: new ones (a re-INVITE) need a new srtpdec.
                n.video.as_ref().filter(|v| v.rtp.direction.receives()).map(|v| {
                    (
                        v.rtp.local_port,
                        v.rtp.recv_pt,
                        v.rtp.remote_rtp,
                        v.rtp.remote_rtcp,
                        (v.rtp.crypto.clone(), v.retransmission),
                    )
                }),
                n.audio.as_ref().filter(|a| a.rtp.direction.receives()).map(|a| {
                    (
                        a.rtp.local_port,
                        (a.rtp.recv_pt, a.dtmf_pt),
                        a.codec,
                        a.rtp.remote_rtp,
                        a.rtp.remote_rtcp,
                        a.rtp.crypto.clone(),
                    )
                }),
            )
        };
        // Receive first: the peer's first keyframe should find us listening.
        if receiving(negotiated) != receiving(&self.negotiated) || self.recv.is_none() {
            self.start_recv(negotiated, devices)?;
        }
        if sending(negotiated) != sending(&self.negotiated) || self.send.is_none() {
            self.keyframes.set(None);
            self.loss.set_encoder(None);
            self.repairs.set(None);
            self.rate.set(None, self.settings.bitrate_kbps);
            if let Some(old) = self.send.take() {
                old.stop();
            }
            let (v, a) = sending(negotiated);
            if v.is_some() || a.is_some() {
                self.send = Some(send::SendPipeline::start(
                    &self.settings,
                    v.as_ref(),
                    a.as_ref(),
                    devices.camera.handle(),
                    devices.microphone.handle(),
                    self.self_view.clone(),
                )?);
                let by_name = |name: &str| self.send.as_ref().and_then(|s| s.pipeline.by_name(name));
                self.keyframes.set(by_name("h264pay"));
                self.repairs.set(by_name(&repair::sender_name(0)));
                self.rate
                    .set(by_name("h264enc").zip(by_name("h264pay")), self.settings.bitrate_kbps);
                let fec = a.as_ref().is_some_and(|a| a.fec);
                self.loss.set_encoder(
                    self.send
                        .as_ref()
                        .and_then(|s| s.pipeline.by_name("aenc"))
                        .filter(|_| fec),
                );
                info!(video = v.is_some(), audio = a.is_some(), "sending media");
            }
        }
        if *negotiated != self.negotiated {
            // A new negotiation (resumed from hold, a new address) starts the silence
            // count afresh: the peer may have sent nothing while it held the call.
            self.started_ms = crate::device::probe::monotonic_ms();
        }
        self.negotiated = negotiated.clone();
        Ok(())
    }

    fn start_recv(&mut self, negotiated: &Negotiated, devices: &Devices) -> Result<(), MediaError> {
        // The old pipeline lets go of the ports before the new one binds them; its counts
        // carry over (the media timeout counts from the last packet, not the rebuild).
        let old = self.recv.take();
        self.srtp_dropped_before += old.as_ref().map_or(0, |r| r.srtp_dropped());
        if let Some(c) = old.as_ref().map(|r| &r.counters) {
            self.lost_before.0 += c.audio_lost.load(Ordering::Relaxed);
            self.lost_before.1 += c.video_lost.load(Ordering::Relaxed);
        }
        let before = old.map(|r| r.counters.clone());
        let v = negotiated.video.as_ref().filter(|v| v.rtp.direction.receives());
        let a = negotiated.audio.as_ref().filter(|a| a.rtp.direction.receives());
        if v.is_some() || a.is_some() {
            let recv = recv::RecvPipeline::start(
                &self.settings,
                v,
                a,
                recv::Outlets {
                    video_out: self.video_out.clone(),
                    speaker: devices.speaker.clone(),
                    audio_held: self.audio_held.clone(),
                    keyframes: self.keyframes.clone(),
                    digits: self.digits.clone(),
                    loss: self.loss.clone(),
                    repairs: self.repairs.clone(),
                    rate: self.rate.clone(),
                },
                negotiated.signalling_peer,
            )?;
            if let Some(before) = before {
                recv.counters.carry_over(&before);
            }
            self.recv = Some(recv);
            info!(video = v.is_some(), audio = a.is_some(), "receiving media");
        }
        Ok(())
    }

    /// Rebuilds the receive pipeline after it failed (a stream it could not decode),
    /// keeping the call: the next keyframe and audio packet start it again.
    pub fn rebuild_recv(&mut self, devices: &Devices) -> Result<(), MediaError> {
        let negotiated = self.negotiated.clone();
        warn!("rebuilding the receive pipeline");
        self.start_recv(&negotiated, devices)
    }

    /// Sends the other side's DTMF digits to `out` from now on.
    pub fn on_digit(&self, out: dtmf::DigitOut) {
        *self.digits.lock().unwrap() = Some(out);
    }

    /// Sends `digit` as a telephone event (RFC 4733) on the call's audio; false when the
    /// call has none (the other side did not offer telephone events, or no audio).
    pub fn send_digit(&self, digit: char) -> bool {
        self.send.as_ref().is_some_and(|s| dtmf::send(&s.pipeline, digit))
    }

    /// What the session runs, as last negotiated.
    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// Milliseconds since media last arrived (or since the session started, if never).
    pub fn silence_ms(&self) -> u64 {
        let now = crate::device::probe::monotonic_ms();
        let last = self
            .recv
            .as_ref()
            .map(|r| r.counters.last_packet_ms.load(Ordering::Relaxed))
            .unwrap_or(0);
        now.saturating_sub(last.max(self.started_ms))
    }

    /// Whether this session expects to receive anything.
    pub fn receiving(&self) -> bool {
        self.recv.is_some()
    }

    /// Reports and clears pipeline errors: the send side's messages, and whether the
    /// receive side failed (its messages are logged; see [`MediaSession::rebuild_recv`]).
    pub fn poll_errors(&self) -> PipelineErrors {
        let drain = |p: &gst::Pipeline| {
            let mut out = Vec::new();
            let Some(bus) = p.bus() else { return out };
            while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Warning]) {
                match msg.view() {
                    gst::MessageView::Error(e) => out.push(format!("{}: {}", p.name(), e.error())),
                    gst::MessageView::Warning(w) => {
                        warn!(pipeline = %p.name(), warning = %w.error(), "media warning")
                    }
                    _ => {}
                }
            }
            out
        };
        PipelineErrors {
            send: self.send.iter().flat_map(|s| drain(&s.pipeline)).collect(),
            recv: self.recv.iter().flat_map(|r| drain(&r.pipeline)).collect(),
        }
    }

    /// Current statistics.
    pub fn stats(&self) -> MediaStats {
        let mut s = MediaStats {
            negotiated: Some(self.negotiated.clone()),
            ..Default::default()
        };
        if let Some(send) = &self.send {
            s.frames_sent = send.frames_sent.load(Ordering::Relaxed);
            s.camera_failures = send.camera_failures.load(Ordering::Relaxed);
        }
        if let Some(recv) = &self.recv {
            let c = &recv.counters;
            s.packets_received = c.packets.load(Ordering::Relaxed);
            s.frames_decoded = c.frames_decoded.load(Ordering::Relaxed);
            s.samples_played = c.samples_played.load(Ordering::Relaxed);
            s.speaker_stuck = c.speaker_stuck();
            s.packets_dropped = c.dropped.load(Ordering::Relaxed);
            s.rtcp_received = c.rtcp.load(Ordering::Relaxed);
            let last = c.last_packet_ms.load(Ordering::Relaxed);
            s.ms_since_last_packet = (last > 0).then(|| crate::device::probe::monotonic_ms().saturating_sub(last));
            s.packets_unauthenticated = recv.srtp_dropped();
            s.keyframes_asked = c.keyframes_asked.load(Ordering::Relaxed);
            s.audio_packets_concealed = self.lost_before.0 + c.audio_lost.load(Ordering::Relaxed);
            s.video_packets_lost = self.lost_before.1 + c.video_lost.load(Ordering::Relaxed);
            s.video_packets_asked_again = c.video_asked_again.load(Ordering::Relaxed);
            s.video_repairs_received = c.video_repairs.load(Ordering::Relaxed);
            s.audio_buffer_ms = c.audio_buffer_ms.load(Ordering::Relaxed);
        }
        s.keyframes_forced = self.keyframes.forced();
        s.video_packets_resent = self.repairs.sent();
        s.video_kbps = self.rate.kbps();
        s.audio_fec_percent = self.loss.fec_percent();
        s.packets_unauthenticated += self.srtp_dropped_before;
        // What the running pipelines do, stream by stream.
        let (v, a) = running(&self.negotiated, self.send.is_some(), Direction::sends);
        s.encryption_sent = srtp::describe(v, a);
        let (v, a) = running(&self.negotiated, self.recv.is_some(), Direction::receives);
        s.encryption_received = srtp::describe(v, a);
        s
    }

    /// Sets speaker volume (1.0 = as received) and microphone mute on the running call.
    pub fn set_levels(&self, volume: f64, mic_muted: bool) {
        if let Some(v) = self.recv.as_ref().and_then(|r| r.pipeline.by_name("speaker-volume")) {
            v.set_property("volume", volume);
        }
        if let Some(m) = self.send.as_ref().and_then(|s| s.pipeline.by_name("mic-volume")) {
            m.set_property("mute", mic_muted);
        }
    }

    /// Holds the peer's sound back (while the call rings) or plays it.
    pub fn hold_remote_audio(&self, hold: bool) {
        self.audio_held.store(hold, Ordering::Relaxed);
    }

    /// Stops both pipelines and releases the devices, on a thread of its own so the
    /// station stays responsive meanwhile; join the handle before the speaker, camera or
    /// microphone is used again.
    pub fn stop(mut self, devices: &Devices) -> std::thread::JoinHandle<()> {
        let speaker = devices.speaker.clone();
        let stop = move || {
            self.keyframes.set(None);
            self.repairs.set(None);
            self.rate.set(None, 0);
            if let Some(s) = self.send.take() {
                s.stop();
            }
            drop(self.recv.take());
            match crate::base::clock::lock_within(&speaker, std::time::Duration::from_secs(1)) {
                Some(mut speaker) => speaker.close(),
                None => warn!("the speaker is stuck; left as it is"),
            }
        };
        std::thread::Builder::new()
            .name("media-teardown".into())
            .spawn(stop)
            .unwrap_or_else(|e| {
                warn!(error = %e, "no thread for the media teardown");
                std::thread::spawn(|| {})
            })
    }
}
