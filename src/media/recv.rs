//! The receive pipeline: UDP → (srtpdec when the stream is encrypted) → rtpbin (jitter
//! buffer, RTCP receiver reports) → depayload → decode → appsink → display and speaker.

use super::counters::RecvCounters;
use super::keyframes::{self, KeyframeSource};
use super::{make, repair, rtp_filter, srtp, MediaError, MediaSettings};
use crate::call::sdp::{AudioCodec, AudioStream, VideoStream};
use crate::device::{Picture, PixelFormat, Shared, Speaker, VideoFormat};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tracing::{debug, info, warn};

/// Where what a receive pipeline decodes goes.
pub struct Outlets {
    /// Each decoded picture.
    pub video_out: super::VideoOut,
    /// The sound.
    pub speaker: Shared<dyn Speaker>,
    /// While set, the peer's sound is dropped rather than played.
    pub audio_held: Arc<std::sync::atomic::AtomicBool>,
    /// The other side's keyframe requests, for our send pipeline.
    pub keyframes: KeyframeSource,
    /// The DTMF digits the other side sends (RFC 4733 events).
    pub digits: super::dtmf::DigitSlot,
    /// The share of the other side's sound lost, for our send pipeline's Opus FEC.
    pub loss: super::resilience::LossFeedback,
    /// The other side's NACKs, for our send pipeline's retransmissions.
    pub repairs: super::repair::RepairSource,
    /// The other side's reports of our video, for our encoder's bitrate.
    pub rate: super::rate::RateTarget,
}

/// A running receive pipeline.
pub struct RecvPipeline {
    pub(super) pipeline: gst::Pipeline,
    /// Its counters.
    pub counters: Arc<RecvCounters>,
}

impl RecvPipeline {
    /// Builds and starts receiving the given streams. While `audio_held` is set the
    /// peer's sound is dropped, not played: a door preview shows the visitor's picture
    /// while the ring tone has the speaker.
    pub fn start(
        settings: &MediaSettings,
        video: Option<&VideoStream>,
        audio: Option<&AudioStream>,
        outlets: Outlets,
        signalling_peer: Option<IpAddr>,
    ) -> Result<Self, MediaError> {
        let Outlets {
            video_out,
            speaker,
            audio_held,
            keyframes,
            digits,
            loss,
            repairs,
            rate,
        } = outlets;
        let pipeline = gst::Pipeline::with_name("recv");
        let rtpbin = make("rtpbin", "rtpbin")?;
        rtpbin.set_property("latency", settings.jitter_ms);
        rtpbin.set_property("drop-on-latency", true);
        let counters = Arc::new(RecvCounters::default());
        let repaired = video.is_some_and(|v| v.retransmission.is_some());
        let feedback = (loss, rate.clone());
        super::resilience::watch(&rtpbin, (settings.jitter_ms, repaired), counters.clone(), feedback);
        if video.is_some_and(|v| v.pli || v.retransmission.is_some()) {
            // Feedback profile timing: a keyframe request goes out at once, not with the
            // next regular report seconds later.
            rtpbin.set_property_from_str("rtp-profile", "avpf");
        }
        pipeline.add(&rtpbin).map_err(MediaError::link)?;
        let mut video_sink = None;
        let mut audio_sink = None;
        if let Some(v) = video {
            let mut caps = gst::Caps::builder("application/x-rtp")
                .field("media", "video")
                .field("clock-rate", 90000i32)
                .field("encoding-name", "H264")
                .field("payload", v.rtp.recv_pt as i32);
            if v.pli {
                // rtpsession sends PLI when the field is there, whatever its value.
                caps = caps.field("rtcp-fb-nack-pli", true);
            }
            let caps = caps.build();
            let payloads = rtp_filter::Payloads {
                repairs: v.retransmission.map(|r| r.recv_pt),
                ..rtp_filter::Payloads::only(v.rtp.recv_pt)
            };
            if let Some(r) = v.retransmission {
                repair::receive_repairs(&rtpbin, 0, v.rtp.recv_pt, r.recv_pt);
            }
            super::inputs::add_udp_inputs(
                &pipeline,
                &rtpbin,
                0,
                (&v.rtp, payloads),
                signalling_peer,
                caps,
                &counters,
            )?;
            keyframes::honour_requests(&rtpbin, 0, keyframes);
            repair::honour_nacks(&rtpbin, 0, repairs);
            super::rate::follow_reports(&rtpbin, 0, rate);
            if v.pli || v.retransmission.is_some() {
                super::feedback::prompt_feedback(&rtpbin, 0);
            }
            video_sink = Some(add_video_chain(&pipeline, settings, video_out, &counters, v.pli)?);
        }
        if let Some(a) = audio {
            // Built on the station's loop: a speaker still held by a write that never
            // returned (a stuck card) is not waited for; the call goes on without sound.
            match crate::base::clock::lock_within(&speaker, std::time::Duration::from_millis(500)) {
                Some(mut speaker) => speaker.open(super::send::AUDIO_RATE, 1).map_err(MediaError::Device)?,
                None => {
                    warn!("the speaker is stuck; this call has no sound");
                    counters.speaker_stuck.store(true, Ordering::Relaxed);
                }
            }
            let (name, rate) = match a.codec {
                AudioCodec::Opus => ("OPUS", 48000),
                AudioCodec::Pcmu => ("PCMU", 8000),
                AudioCodec::Pcma => ("PCMA", 8000),
            };
            let caps = gst::Caps::builder("application/x-rtp")
                .field("media", "audio")
                .field("clock-rate", rate)
                .field("encoding-name", name)
                .field("payload", a.rtp.recv_pt as i32)
                .build();
            let payloads = rtp_filter::Payloads {
                events: a.dtmf_pt,
                ..rtp_filter::Payloads::only(a.rtp.recv_pt)
            };
            super::inputs::add_udp_inputs(
                &pipeline,
                &rtpbin,
                1,
                (&a.rtp, payloads),
                signalling_peer,
                caps,
                &counters,
            )?;
            // Telephone events are read and dropped on their way into rtpbin (after
            // srtpdec when encrypted): the audio decoder never sees them.
            let feeding = rtpbin.static_pad("recv_rtp_sink_1").and_then(|p| p.peer());
            if let (Some(pt), Some(pad)) = (a.dtmf_pt, feeding) {
                super::dtmf::tap(&pad, pt, digits);
            }
            audio_sink = Some(add_audio_chain(
                &pipeline,
                a.codec,
                speaker,
                &counters,
                audio_held,
                settings.echo_probe.as_deref(),
            )?);
        }
        rtpbin.connect_pad_added(move |_, pad| {
            let name = pad.name();
            let target = if name.starts_with("recv_rtp_src_0_") {
                video_sink.as_ref()
            } else if name.starts_with("recv_rtp_src_1_") {
                audio_sink.as_ref()
            } else {
                None
            };
            if let Some(sink) = target.and_then(|e| e.static_pad("sink")) {
                if sink.is_linked() {
                    // A new SSRC on the same session (peer restarted its sender): switch to it.
                    if let Some(old) = sink.peer() {
                        let _ = old.unlink(&sink);
                    }
                }
                if let Err(e) = pad.link(&sink) {
                    warn!(pad = %name, error = ?e, "cannot link received stream");
                } else {
                    debug!(pad = %name, "receiving stream");
                }
            }
        });
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| MediaError::Start("receive pipeline (RTP port busy?)".into()))?;
        Ok(Self { pipeline, counters })
    }

    /// Stops the pipeline.
    pub fn stop(self) {}

    /// Packets srtpdec dropped (failed authentication, replayed) since this pipeline
    /// started.
    pub fn srtp_dropped(&self) -> u64 {
        (0..2)
            .filter_map(|session| self.pipeline.by_name(&format!("srtpdec{session}")))
            .map(|dec| srtp::dropped(&dec))
            .sum()
    }
}

impl Drop for RecvPipeline {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Calls `deliver` with every sample that reaches `sink`, on the streaming thread.
fn on_each_sample(sink: &gst_app::AppSink, deliver: impl Fn(&gst::Sample) + Send + Sync + 'static) {
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                deliver(&sample);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
}

/// Adds and links a decode chain; returns its first element (linked to rtpbin later).
fn add_chain(pipeline: &gst::Pipeline, elements: &[&gst::Element]) -> Result<gst::Element, MediaError> {
    pipeline.add_many(elements).map_err(MediaError::link)?;
    gst::Element::link_many(elements).map_err(MediaError::link)?;
    Ok(elements[0].clone())
}

fn add_video_chain(
    pipeline: &gst::Pipeline,
    settings: &MediaSettings,
    video_out: super::VideoOut,
    counters: &Arc<RecvCounters>,
    pli: bool,
) -> Result<gst::Element, MediaError> {
    let depay = make("rtph264depay", "h264depay")?;
    if let Some(pad) = depay.static_pad("sink") {
        super::parts::name_streaming_thread(&pad, super::parts::VIDEO_RECEIVE);
    }
    depay.set_property("request-keyframe", true);
    if pli {
        keyframes::ask_when_undecodable(&depay, counters.clone());
    }
    let parse = make("h264parse", "h264parse")?;
    let decoder = make(&settings.codecs.h264_decoder, "h264dec")?;
    if settings.screen.is_some() {
        // For the screen the decoder's pictures go on as they are: the compositor
        // converts and scales each one straight into the display's buffer.
        let sink = picture_sink(counters, video_out, None);
        return add_chain(pipeline, &[&depay, &parse, &decoder, sink.upcast_ref()]);
    }
    // Elsewhere (a hosted call's grid) one pass converts them to BGRx.
    let convert = make("videoconvertscale", "vconvert")?;
    super::parts::time_converter(&convert);
    let raw_caps = make("capsfilter", "bgrxcaps")?;
    raw_caps.set_property(
        "caps",
        gst::Caps::builder("video/x-raw").field("format", "BGRx").build(),
    );
    let sink = picture_sink(counters, video_out, Some("BGRx"));
    add_chain(
        pipeline,
        &[&depay, &parse, &decoder, &convert, &raw_caps, sink.upcast_ref()],
    )
}

/// The appsink that hands each decoded picture on, held rather than copied: as it
/// came from the decoder (for the screen, `layout` None) or in `layout` as bytes.
fn picture_sink(counters: &Arc<RecvCounters>, video_out: super::VideoOut, layout: Option<&str>) -> gst_app::AppSink {
    let caps = match layout {
        Some(layout) => gst::Caps::builder("video/x-raw").field("format", layout).build(),
        None => gst::Caps::builder("video/x-raw").build(),
    };
    let sink = gst_app::AppSink::builder()
        .name("video-out")
        .caps(&caps)
        .sync(false)
        .max_buffers(2)
        .drop(true)
        .build();
    let c = counters.clone();
    let converter = super::screen_picture::ScreenConverter::new();
    let bytes = layout.is_some();
    on_each_sample(&sink, move |sample| {
        let (Some(buffer), Some(caps)) = (sample.buffer_owned(), sample.caps()) else {
            return;
        };
        let Ok(info) = gstreamer_video::VideoInfo::from_caps(caps) else {
            return;
        };
        if buffer.size() < info.size() {
            return;
        }
        c.frames_decoded.fetch_add(1, Ordering::Relaxed);
        if !bytes {
            video_out.show(converter.picture(buffer, info));
            return;
        }
        let Ok(map) = buffer.into_mapped_buffer_readable() else {
            return;
        };
        let format = VideoFormat {
            pixel: PixelFormat::Bgrx,
            width: info.width(),
            height: info.height(),
            fps: 0,
        };
        video_out.show(Picture::new(
            format,
            info.stride()[0] as usize,
            super::screen_picture::MappedPicture(map),
        ));
    });
    sink
}

fn add_audio_chain(
    pipeline: &gst::Pipeline,
    codec: AudioCodec,
    speaker: Shared<dyn Speaker>,
    counters: &Arc<RecvCounters>,
    held: Arc<std::sync::atomic::AtomicBool>,
    echo_probe: Option<&str>,
) -> Result<gst::Element, MediaError> {
    let (depay, decoder) = match codec {
        AudioCodec::Opus => ("rtpopusdepay", "opusdec"),
        AudioCodec::Pcmu => ("rtppcmudepay", "mulawdec"),
        AudioCodec::Pcma => ("rtppcmadepay", "alawdec"),
    };
    let depay = make(depay, "adepay")?;
    if let Some(pad) = depay.static_pad("sink") {
        super::parts::name_streaming_thread(&pad, super::parts::AUDIO_RECEIVE);
    }
    let decoder = make(decoder, "adec")?;
    if codec == AudioCodec::Opus {
        // A lost packet (rtpbin reports each one) is recovered from the next packet's
        // FEC when it carries some, else concealed.
        decoder.set_property("plc", true);
        decoder.set_property("use-inband-fec", true);
    }
    let convert = make("audioconvert", "aconvert")?;
    let resample = make("audioresample", "aresample")?;
    let sink = gst_app::AppSink::builder()
        .name("audio-out")
        .caps(&super::send::raw_audio_caps())
        .sync(false)
        .build();
    let c = counters.clone();
    let last_reopen = AtomicU64::new(0);
    let lost = std::sync::atomic::AtomicBool::new(false);
    on_each_sample(&sink, move |sample| {
        let stuck = &c.speaker_stuck;
        if held.load(Ordering::Relaxed) {
            return;
        }
        let Some(buffer) = sample.buffer() else { return };
        let Ok(map) = buffer.map_readable() else { return };
        let samples: Vec<i16> = map.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
        c.samples_played.fetch_add(samples.len() as u64, Ordering::Relaxed);
        // A speaker held by a write that never returned (a stuck card) is not waited
        // for: these samples are dropped, and the pipeline can still stop.
        let mut speaker = match speaker.try_lock() {
            Ok(speaker) => speaker,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                if !stuck.swap(true, Ordering::Relaxed) {
                    warn!("the speaker is busy or stuck; sound is dropped until it is free");
                }
                return;
            }
        };
        c.speaker_write_since_ms
            .store(crate::device::probe::monotonic_ms().max(1), Ordering::Relaxed);
        let written = speaker.write(&samples);
        c.speaker_write_since_ms.store(0, Ordering::Relaxed);
        if let Err(e) = written {
            if matches!(e, crate::device::DeviceError::Stuck(_)) && !stuck.swap(true, Ordering::Relaxed) {
                warn!(error = %e, "the speaker is stuck; sound is dropped until it takes it again");
            }
            debug!(error = %e, "speaker refused samples");
            // A speaker that went away is reopened, at most once a second.
            let now = crate::device::probe::monotonic_ms();
            if matches!(e, crate::device::DeviceError::Lost(_))
                && now.saturating_sub(last_reopen.load(Ordering::Relaxed)) >= 1000
            {
                if !lost.swap(true, Ordering::Relaxed) {
                    warn!(error = %e, "speaker lost; the call goes on, reopening it every second");
                }
                last_reopen.store(now, Ordering::Relaxed);
                if speaker.open(super::send::AUDIO_RATE, 1).is_ok() {
                    lost.store(false, Ordering::Relaxed);
                    info!("speaker is back");
                }
            }
        } else if stuck.swap(false, Ordering::Relaxed) {
            info!("the speaker takes sound again");
        }
    });
    let volume = make("volume", "speaker-volume")?;
    let probe = match echo_probe {
        Some(name) => make("webrtcechoprobe", name)?,
        None => make("identity", "no-echo-probe")?,
    };
    add_chain(
        pipeline,
        &[
            &depay,
            &decoder,
            &convert,
            &resample,
            &volume,
            &probe,
            sink.upcast_ref(),
        ],
    )
}
