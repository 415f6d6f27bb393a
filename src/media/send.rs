//! The send pipeline: camera and microphone → appsrc → encoders → RTP payloaders → rtpbin
//! → UDP (RTP and RTCP sender reports), through srtpenc when the stream is encrypted.

pub(super) use super::feed::{feed_audio, feed_video};
use super::{make, MediaError, MediaSettings};
use crate::call::sdp::{AudioCodec, AudioStream, VideoStream};
use crate::device::{Camera, Microphone, PixelFormat, Shared, VideoFormat};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use tracing::{info_span, warn};

/// Audio rate: 48 kHz mono.
pub const AUDIO_RATE: u32 = 48000;

/// A running send pipeline with its device feeder threads.
pub struct SendPipeline {
    pub(super) pipeline: gst::Pipeline,
    stop: Arc<AtomicBool>,
    feeders: Vec<JoinHandle<()>>,
    /// Frames pushed to the encoder.
    pub frames_sent: Arc<AtomicU64>,
    /// Frames the camera could not deliver (placeholder sent instead).
    pub camera_failures: Arc<AtomicU64>,
}

impl SendPipeline {
    /// Builds and starts sending the given streams.
    pub fn start(
        settings: &MediaSettings,
        video: Option<&VideoStream>,
        audio: Option<&AudioStream>,
        camera: Shared<dyn Camera>,
        microphone: Shared<dyn Microphone>,
        self_view: super::SelfViewOut,
    ) -> Result<Self, MediaError> {
        let pipeline = gst::Pipeline::with_name("send");
        let rtpbin = make("rtpbin", "rtpbin")?;
        pipeline.add(&rtpbin).map_err(MediaError::link)?;
        let stop = Arc::new(AtomicBool::new(false));
        let frames_sent = Arc::new(AtomicU64::new(0));
        let camera_failures = Arc::new(AtomicU64::new(0));
        let mut video_src = None;
        let mut audio_src = None;
        let mut video_format = None;
        if let Some(v) = video {
            let format = VideoFormat {
                pixel: PixelFormat::I420,
                width: settings.width,
                height: settings.height,
                fps: settings.fps,
            };
            // A camera missing at call start must not cost the call: send a placeholder
            // (and audio) and let the feeder reopen it.
            let format = camera.lock().unwrap().open(format).unwrap_or_else(|e| {
                warn!(error = %e, "camera unavailable; the call starts with a placeholder picture");
                format
            });
            video_src = Some(add_video_branch(&pipeline, &rtpbin, settings, v, format)?);
            video_format = Some(format);
        }
        if let Some(a) = audio {
            microphone
                .lock()
                .unwrap()
                .open(AUDIO_RATE, 1)
                .map_err(MediaError::Device)?;
            audio_src = Some(add_audio_branch(&pipeline, &rtpbin, a, settings.echo_probe.as_deref())?);
        }
        let mut this = Self {
            pipeline,
            stop,
            feeders: Vec::new(),
            frames_sent,
            camera_failures,
        };
        // Feed only once playing: appsrc timestamps buffers with the running clock.
        this.pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| MediaError::Start("send pipeline".into()))?;
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| MediaError::Thread(e.to_string()))
        };
        if let (Some(src), Some(format)) = (video_src, video_format) {
            let (stop, sent, failures) = (
                this.stop.clone(),
                this.frames_sent.clone(),
                this.camera_failures.clone(),
            );
            this.feeders.push(spawn(
                "camera",
                Box::new(move || {
                    let _span = info_span!("camera").entered();
                    feed_video(src, camera, format, stop, sent, failures, self_view)
                }),
            )?);
        }
        if let Some(src) = audio_src {
            let stop = this.stop.clone();
            this.feeders.push(spawn(
                "microphone",
                Box::new(move || {
                    let _span = info_span!("microphone").entered();
                    feed_audio(src, microphone, stop)
                }),
            )?);
        }
        Ok(this)
    }

    /// Stops the pipeline and the feeders.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.pipeline.set_state(gst::State::Null);
        for f in self.feeders.drain(..) {
            let _ = f.join();
        }
    }
}

impl Drop for SendPipeline {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A udpsink to `addr`, added to `pipeline`; it never waits for the clock.
pub(super) fn udp_sink(pipeline: &gst::Pipeline, addr: std::net::SocketAddr) -> Result<gst::Element, MediaError> {
    let sink = gst::ElementFactory::make("udpsink")
        .property("host", addr.ip().to_string())
        .property("port", addr.port() as i32)
        .property("sync", false)
        .property("async", false)
        .build()
        .map_err(|_| MediaError::MissingElement("udpsink".into()))?;
    pipeline.add(&sink).map_err(MediaError::link)?;
    Ok(sink)
}

fn add_video_branch(
    pipeline: &gst::Pipeline,
    rtpbin: &gst::Element,
    settings: &MediaSettings,
    v: &VideoStream,
    format: VideoFormat,
) -> Result<gst_app::AppSrc, MediaError> {
    let (src, encode) = h264_encode_chain("", settings, format, v.packetization_mode)?;
    let (h264_caps, pay) = h264_payloader(v.rtp.send_pt)?;
    if let Some(r) = v.retransmission {
        let stream = super::repair::RepairedStream {
            session: 0,
            pt: v.rtp.send_pt,
            rtx_pt: r.send_pt,
        };
        super::repair::send_repairs(rtpbin, vec![stream]);
    }
    let mut elements: Vec<&gst::Element> = vec![src.upcast_ref()];
    elements.extend(encode.iter());
    elements.extend([&h264_caps, &pay]);
    add_to_session(pipeline, rtpbin, &elements, 0, &v.rtp)?;
    Ok(src)
}

/// Camera frames to H.264, the one chain calls and browser legs send through: the
/// camera's appsrc, a JPEG decoder for MJPEG cameras (an identity keeps the chain the
/// same shape for raw formats), conversion and scaling to I420 at the sent size, and the
/// encoder. `prefix` keeps the element names of several chains in one process apart.
/// Returns the appsrc and the elements after it, in order, not yet added or linked.
pub(super) fn h264_encode_chain(
    prefix: &str,
    settings: &MediaSettings,
    format: VideoFormat,
    packetization_mode: u8,
) -> Result<(gst_app::AppSrc, Vec<gst::Element>), MediaError> {
    let named = |name: &str| format!("{prefix}{name}");
    let src = video_appsrc(&named("camera-src"), &video_caps(format));
    let decoder = if format.pixel == PixelFormat::Mjpeg {
        "jpegdec"
    } else {
        "identity"
    };
    let decode = make(decoder, &named("camdecode"))?;
    let convert = make("videoconvert", &named("vconvert"))?;
    let scale = make("videoscale", &named("vscale"))?;
    let raw_caps = make("capsfilter", &named("vrawcaps"))?;
    raw_caps.set_property(
        "caps",
        gst::Caps::builder("video/x-raw")
            .field("format", "I420")
            .field("width", settings.width as i32)
            .field("height", settings.height as i32)
            .build(),
    );
    let encoder = make(&settings.codecs.h264_encoder, &named("h264enc"))?;
    configure_encoder(&encoder, settings, packetization_mode);
    Ok((src, vec![decode, convert, scale, raw_caps, encoder]))
}

/// What follows the H.264 encoder: a caps filter holding it to constrained baseline (what
/// we offer) and the payloader, which sends the parameter sets with every keyframe and
/// one NAL unit per packet under a LAN-safe MTU.
pub(super) fn h264_payloader(pt: u8) -> Result<(gst::Element, gst::Element), MediaError> {
    let h264_caps = make("capsfilter", "h264caps")?;
    h264_caps.set_property(
        "caps",
        gst::Caps::builder("video/x-h264")
            .field("profile", "constrained-baseline")
            .build(),
    );
    let pay = make("rtph264pay", "h264pay")?;
    pay.set_property("pt", pt as u32);
    pay.set_property("config-interval", -1i32);
    pay.set_property("mtu", 1200u32);
    pay.set_property_from_str("aggregate-mode", "none");
    Ok((h264_caps, pay))
}

/// A live source of raw pictures in `caps`, timestamped as they come, that keeps at most
/// two waiting and drops the oldest when the encoder falls behind.
pub(super) fn video_appsrc(name: &str, caps: &gst::Caps) -> gst_app::AppSrc {
    gst_app::AppSrc::builder()
        .name(name)
        .caps(caps)
        .is_live(true)
        .format(gst::Format::Time)
        .do_timestamp(true)
        .max_buffers(2)
        // Bound by frames, not bytes: one 720p frame is larger than the default byte cap.
        .max_bytes(0)
        .leaky_type(gst_app::AppLeakyType::Downstream)
        .build()
}

/// Adds and links a branch (source first, RTP payloader last) and sends its RTP and RTCP
/// through rtpbin session `session` to the peer.
fn add_to_session(
    pipeline: &gst::Pipeline,
    rtpbin: &gst::Element,
    elements: &[&gst::Element],
    session: u32,
    stream: &crate::call::sdp::Stream,
) -> Result<(), MediaError> {
    pipeline.add_many(elements).map_err(MediaError::link)?;
    gst::Element::link_many(elements).map_err(MediaError::link)?;
    let pay = elements.last().expect("a branch ends in a payloader");
    send_through_session(pipeline, rtpbin, pay, session, stream)
}

/// Sends what `from` puts out (RTP; a tee gives a new branch) through rtpbin session
/// `session` to the peer of `stream`, with its RTCP, through srtpenc when it is
/// encrypted.
pub(super) fn send_through_session(
    pipeline: &gst::Pipeline,
    rtpbin: &gst::Element,
    from: &gst::Element,
    session: u32,
    stream: &crate::call::sdp::Stream,
) -> Result<(), MediaError> {
    let link = |src: &gst::Element, from: String, to: &gst::Element, into: String| {
        src.link_pads(Some(&from), to, Some(&into)).map_err(MediaError::link)
    };
    from.link_pads(None, rtpbin, Some(&format!("send_rtp_sink_{session}")))
        .map_err(MediaError::link)?;
    let (rtp_out, rtcp_out) = (
        udp_sink(pipeline, stream.remote_rtp)?,
        udp_sink(pipeline, stream.remote_rtcp)?,
    );
    let (rtp_src, rtcp_src) = (format!("send_rtp_src_{session}"), format!("send_rtcp_src_{session}"));
    let Some(crypto) = &stream.crypto else {
        link(rtpbin, rtp_src, &rtp_out, "sink".into())?;
        return link(rtpbin, rtcp_src, &rtcp_out, "sink".into());
    };
    // SRTP and SRTCP: both through one srtpenc with our key for this stream.
    let enc = super::srtp::encoder(pipeline, &format!("srtpenc{session}"), crypto)?;
    link(rtpbin, rtp_src, &enc, "rtp_sink_0".into())?;
    link(&enc, "rtp_src_0".into(), &rtp_out, "sink".into())?;
    link(rtpbin, rtcp_src, &enc, "rtcp_sink_0".into())?;
    link(&enc, "rtcp_src_0".into(), &rtcp_out, "sink".into())
}

/// Sets the H.264 encoder's bitrate, keyframe interval and low-latency options for a call
/// (the benchmark's reference pipeline takes the same settings).
pub fn configure_encoder(encoder: &gst::Element, settings: &MediaSettings, packetization_mode: u8) {
    let kbps = settings.bitrate_kbps;
    match settings.codecs.h264_encoder.as_str() {
        "x264enc" => {
            encoder.set_property_from_str("tune", "zerolatency");
            encoder.set_property_from_str("speed-preset", "ultrafast");
            encoder.set_property("bitrate", kbps);
            encoder.set_property("key-int-max", settings.fps);
            encoder.set_property("aud", false);
            encoder.set_property("threads", 2u32);
            // GStreamer's x264enc turns trellis quantisation on over the preset; at a
            // call's bitrate it buys little picture for much CPU (the bench shows both).
            encoder.set_property("trellis", false);
            if packetization_mode == 0 {
                // Mode 0 sends one NAL unit per packet: keep slices under the MTU.
                encoder.set_property("option-string", "slice-max-size=1100");
            }
        }
        "openh264enc" => {
            encoder.set_property("bitrate", kbps * 1000);
            encoder.set_property("gop-size", settings.fps);
            encoder.set_property_from_str("complexity", "low");
            encoder.set_property_from_str("usage-type", "camera");
        }
        "v4l2h264enc" => {
            let controls = format!(
                "controls,video_bitrate={},h264_i_frame_period={}",
                kbps * 1000,
                settings.fps
            );
            if let Ok(s) = controls.parse::<gst::Structure>() {
                encoder.set_property("extra-controls", s);
            }
        }
        _ => {}
    }
}

/// The raw audio we move between devices and GStreamer: S16LE, 48 kHz, mono.
pub fn raw_audio_caps() -> gst::Caps {
    gst::Caps::builder("audio/x-raw")
        .field("format", "S16LE")
        .field("rate", AUDIO_RATE as i32)
        .field("channels", 1i32)
        .field("layout", "interleaved")
        .build()
}

fn add_audio_branch(
    pipeline: &gst::Pipeline,
    rtpbin: &gst::Element,
    a: &AudioStream,
    echo_probe: Option<&str>,
) -> Result<gst_app::AppSrc, MediaError> {
    let caps = raw_audio_caps();
    let src = gst_app::AppSrc::builder()
        .name("mic-src")
        .caps(&caps)
        .is_live(true)
        .format(gst::Format::Time)
        .do_timestamp(true)
        .max_buffers(10)
        .leaky_type(gst_app::AppLeakyType::Downstream)
        .build();
    let convert = make("audioconvert", "aconvert")?;
    let resample = make("audioresample", "aresample")?;
    let (encoder, payloader) = match a.codec {
        AudioCodec::Opus => ("opusenc", "rtpopuspay"),
        AudioCodec::Pcmu => ("mulawenc", "rtppcmupay"),
        AudioCodec::Pcma => ("alawenc", "rtppcmapay"),
    };
    let encoder = make(encoder, "aenc")?;
    if a.codec == AudioCodec::Opus {
        encoder.set_property_from_str("frame-size", "20");
        encoder.set_property_from_str("audio-type", "voice");
        // In-band FEC when the other side asked for it (its SDP's useinbandfec=1); how
        // much follows the loss of its sound we measure (`resilience::LossFeedback`).
        encoder.set_property("inband-fec", a.fec);
    }
    let pay = make(payloader, "apay")?;
    pay.set_property("pt", a.rtp.send_pt as u32);
    let mute = make("volume", "mic-volume")?;
    // Echo cancellation (with noise suppression and gain control) against what the
    // speaker plays, as webrtcechoprobe in the receive pipeline hears it.
    let dsp = match echo_probe {
        Some(probe) => {
            let dsp = make("webrtcdsp", "aec")?;
            dsp.set_property("probe", probe);
            dsp
        }
        None => make("identity", "no-aec")?,
    };
    let elements = [src.upcast_ref(), &dsp, &mute, &convert, &resample, &encoder, &pay];
    let Some(dtmf_pt) = a.dtmf_pt else {
        add_to_session(pipeline, rtpbin, &elements, 1, &a.rtp)?;
        return Ok(src);
    };
    // Telephone events share the stream: the payloader and the event source into one mux.
    pipeline.add_many(elements).map_err(MediaError::link)?;
    gst::Element::link_many(elements).map_err(MediaError::link)?;
    let clock_rate = a
        .dtmf_rate
        .unwrap_or(if a.codec == AudioCodec::Opus { 48_000 } else { 8_000 });
    let mux = super::dtmf::add_sender(pipeline, &pay, dtmf_pt, clock_rate)?;
    send_through_session(pipeline, rtpbin, &mux, 1, &a.rtp)?;
    Ok(src)
}

/// Caps for frames in `format`.
pub(super) fn video_caps(format: VideoFormat) -> gst::Caps {
    match format.pixel {
        PixelFormat::Mjpeg => gst::Caps::builder("image/jpeg"),
        raw => gst::Caps::builder("video/x-raw").field("format", raw.gst_name()),
    }
    .field("width", format.width as i32)
    .field("height", format.height as i32)
    .field("framerate", gst::Fraction::new(format.fps as i32, 1))
    .build()
}
