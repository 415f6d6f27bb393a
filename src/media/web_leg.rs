//! The media of a browser leg (WebRTC): the camera encoded to H.264 constrained baseline
//! and the microphone to Opus, handed over as whole access units and packets for the
//! WebRTC stack to packetize and encrypt; the browser's Opus decoded to the speaker.
//! No RTP here: the WebRTC stack owns RTP, RTCP and SRTP towards the browser.

use super::keyframes::KeyframeSource;
use super::send::{feed_audio, feed_video, raw_audio_caps, AUDIO_RATE};
use super::{make, MediaError, MediaSettings};
use crate::device::{Camera, Microphone, Picture, PixelFormat, Shared, Speaker, VideoFormat};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{debug, info_span, warn};

/// Encoded media on its way to the browser.
#[derive(Debug)]
pub enum Encoded {
    /// One H.264 access unit (Annex B) and its presentation time.
    Video(Vec<u8>, Duration),
    /// One Opus packet (20 ms) and its presentation time.
    Audio(Vec<u8>, Duration),
}

/// Encoded media waiting for the WebRTC stack; when it falls behind, new media is dropped
/// rather than memory grown.
pub const OUT_QUEUE: usize = 64;

/// A browser leg's running pipelines.
pub struct WebLegMedia {
    send: gst::Pipeline,
    play: gst::Pipeline,
    play_src: gst_app::AppSrc,
    /// The browser's video, decoded to a picture pipe (a bridged call only).
    picture: Option<(gst::Pipeline, gst_app::AppSrc)>,
    stop: Arc<AtomicBool>,
    feeders: Vec<JoinHandle<()>>,
    keyframes: KeyframeSource,
    /// Frames the camera gave the encoder.
    pub frames_sent: Arc<AtomicU64>,
    /// Opus packets from the browser decoded to the speaker.
    pub packets_played: Arc<AtomicU64>,
    /// The configured video bitrate, the most the encoder is set to.
    configured_kbps: u32,
    /// The video bitrate the encoder is set to, once it follows the link (0 before).
    video_kbps: AtomicU32,
}

impl WebLegMedia {
    /// Starts capturing, encoding and playing. `video`: send the camera too;
    /// `picture_out`: where the browser's decoded pictures go.
    pub fn start(
        settings: &MediaSettings,
        video: bool,
        camera: Shared<dyn Camera>,
        microphone: Shared<dyn Microphone>,
        speaker: Shared<dyn Speaker>,
        out: tokio::sync::mpsc::Sender<Encoded>,
        picture_out: Option<PictureOut>,
    ) -> Result<Self, MediaError> {
        let send = gst::Pipeline::with_name("web-send");
        let stop = Arc::new(AtomicBool::new(false));
        let frames_sent = Arc::new(AtomicU64::new(0));
        let keyframes = KeyframeSource::default();
        let mut video_src = None;
        if video {
            let want = VideoFormat {
                pixel: PixelFormat::I420,
                width: settings.width,
                height: settings.height,
                fps: settings.fps,
            };
            let format = camera.lock().unwrap().open(want).unwrap_or_else(|e| {
                warn!(error = %e, "camera unavailable; the browser gets a placeholder picture");
                want
            });
            let (src, sink) = video_branch(&send, settings, format)?;
            keyframes.set(Some(sink.clone().upcast()));
            deliver(&sink, out.clone(), Encoded::Video);
            video_src = Some((src, format));
        }
        microphone
            .lock()
            .unwrap()
            .open(AUDIO_RATE, 1)
            .map_err(MediaError::Device)?;
        let (audio_src, audio_sink) = audio_branch(&send)?;
        deliver(&audio_sink, out, Encoded::Audio);
        let packets_played = Arc::new(AtomicU64::new(0));
        let (play, play_src) = play_pipeline(speaker.clone(), packets_played.clone())?;
        speaker
            .lock()
            .unwrap()
            .open(AUDIO_RATE, 1)
            .map_err(MediaError::Device)?;
        let picture = match picture_out {
            Some(pipe) => Some(picture_pipeline(settings, pipe)?),
            None => None,
        };
        for p in [Some(&send), Some(&play), picture.as_ref().map(|(p, _)| p)]
            .into_iter()
            .flatten()
        {
            p.set_state(gst::State::Playing)
                .map_err(|_| MediaError::Start("browser leg pipeline".into()))?;
        }
        let mut this = Self {
            send,
            play,
            play_src,
            picture,
            stop: stop.clone(),
            feeders: vec![],
            keyframes,
            frames_sent: frames_sent.clone(),
            packets_played,
            configured_kbps: settings.bitrate_kbps,
            video_kbps: AtomicU32::new(0),
        };
        if let Some((src, format)) = video_src {
            let (stop, sent) = (stop.clone(), frames_sent);
            let no_self_view: super::SelfViewOut = Arc::new(|_| {});
            this.feeders.push(spawn("web-camera", move || {
                let _span = info_span!("camera", leg = "web").entered();
                feed_video(src, camera, format, stop, sent, Arc::default(), no_self_view)
            })?);
        }
        this.feeders.push(spawn("web-microphone", move || {
            let _span = info_span!("microphone", leg = "web").entered();
            feed_audio(audio_src, microphone, stop)
        })?);
        Ok(this)
    }

    /// The browser asked for a keyframe.
    pub fn keyframe(&self) {
        self.keyframes.request();
    }

    /// The link to the browser carries about `kbps` kbit/s for the picture now: the
    /// encoder follows, within the configured rate.
    pub fn follow_link(&self, kbps: u32) {
        let Some(encoder) = self.send.by_name("web-h264enc") else {
            return;
        };
        if let Some(set) = super::rate::follow_link(&encoder, kbps, self.configured_kbps) {
            if self.video_kbps.swap(set, Ordering::Relaxed) != set {
                debug!(kbps = set, "the browser's picture follows its link");
            }
        }
    }

    /// The video bitrate the encoder is set to, once it follows the browser's link.
    pub fn video_kbps(&self) -> Option<u32> {
        Some(self.video_kbps.load(Ordering::Relaxed)).filter(|k| *k > 0)
    }

    /// Keyframes made at the browser's request.
    pub fn keyframes_forced(&self) -> u64 {
        self.keyframes.forced()
    }

    /// Decodes one H.264 access unit from the browser (a bridged call).
    pub fn video_in(&self, access_unit: &[u8]) {
        if let Some((_, src)) = &self.picture {
            let _ = src.push_buffer(gst::Buffer::from_mut_slice(access_unit.to_vec()));
        }
    }

    /// Plays one Opus packet from the browser.
    pub fn play(&self, opus: &[u8], pts: Duration) {
        let mut buffer = gst::Buffer::from_mut_slice(opus.to_vec());
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds(pts.as_nanos() as u64));
        }
        let _ = self.play_src.push_buffer(buffer);
    }
}

impl Drop for WebLegMedia {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.send.set_state(gst::State::Null);
        let _ = self.play.set_state(gst::State::Null);
        if let Some((p, _)) = &self.picture {
            let _ = p.set_state(gst::State::Null);
        }
        for f in self.feeders.drain(..) {
            let _ = f.join();
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, MediaError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| MediaError::Thread(e.to_string()))
}

fn link_all(pipeline: &gst::Pipeline, elements: &[&gst::Element]) -> Result<(), MediaError> {
    pipeline.add_many(elements.iter().copied()).map_err(MediaError::link)?;
    gst::Element::link_many(elements.iter().copied()).map_err(MediaError::link)
}

/// Camera frames → H.264 access units: constrained baseline, byte-stream, parameter sets
/// before every keyframe (a browser joining late needs them).
fn video_branch(
    pipeline: &gst::Pipeline,
    settings: &MediaSettings,
    format: VideoFormat,
) -> Result<(gst_app::AppSrc, gst_app::AppSink), MediaError> {
    // The call's chain with packetization mode 1: WebRTC takes access units whole.
    let (src, encode) = super::send::h264_encode_chain("web-", settings, format, 1)?;
    let parse = make("h264parse", "web-h264parse")?;
    parse.set_property("config-interval", -1i32);
    let sink = gst_app::AppSink::builder()
        .name("web-video-out")
        .caps(
            &gst::Caps::builder("video/x-h264")
                .field("profile", "constrained-baseline")
                .field("stream-format", "byte-stream")
                .field("alignment", "au")
                .build(),
        )
        .sync(false)
        .max_buffers(4)
        .drop(true)
        .build();
    let mut elements: Vec<&gst::Element> = vec![src.upcast_ref()];
    elements.extend(encode.iter());
    elements.extend([&parse, sink.upcast_ref()]);
    link_all(pipeline, &elements)?;
    Ok((src, sink))
}

/// Microphone → Opus, 20 ms packets.
fn audio_branch(pipeline: &gst::Pipeline) -> Result<(gst_app::AppSrc, gst_app::AppSink), MediaError> {
    let src = gst_app::AppSrc::builder()
        .name("web-mic-src")
        .caps(&raw_audio_caps())
        .format(gst::Format::Time)
        .is_live(true)
        .do_timestamp(true)
        .max_buffers(10)
        .leaky_type(gst_app::AppLeakyType::Downstream)
        .build();
    let convert = make("audioconvert", "web-aconvert")?;
    let encoder = make("opusenc", "web-opusenc")?;
    encoder.set_property_from_str("frame-size", "20");
    let sink = gst_app::AppSink::builder()
        .name("web-audio-out")
        .sync(false)
        .max_buffers(16)
        .drop(true)
        .build();
    link_all(pipeline, &[src.upcast_ref(), &convert, &encoder, sink.upcast_ref()])?;
    Ok((src, sink))
}

/// Hands each encoded buffer to the WebRTC stack's queue.
fn deliver(sink: &gst_app::AppSink, out: tokio::sync::mpsc::Sender<Encoded>, wrap: fn(Vec<u8>, Duration) -> Encoded) {
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(buffer) = sample.buffer() {
                    let pts = buffer
                        .pts()
                        .map_or(Duration::ZERO, |t| Duration::from_nanos(t.nseconds()));
                    if let Ok(map) = buffer.map_readable() {
                        if out.try_send(wrap(map.to_vec(), pts)).is_err() {
                            debug!("the browser leg falls behind; media dropped");
                        }
                    }
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
}

/// The browser's Opus → the speaker.
fn play_pipeline(
    speaker: Shared<dyn Speaker>,
    played: Arc<AtomicU64>,
) -> Result<(gst::Pipeline, gst_app::AppSrc), MediaError> {
    let pipeline = gst::Pipeline::with_name("web-play");
    let src = gst_app::AppSrc::builder()
        .name("web-opus-in")
        .caps(
            &gst::Caps::builder("audio/x-opus")
                .field("channel-mapping-family", 0i32)
                .field("channels", 2i32)
                .field("rate", 48000i32)
                .build(),
        )
        .format(gst::Format::Time)
        .is_live(true)
        .do_timestamp(true)
        .max_buffers(25)
        .leaky_type(gst_app::AppLeakyType::Downstream)
        .build();
    let decoder = make("opusdec", "web-opusdec")?;
    let convert = make("audioconvert", "web-play-convert")?;
    let resample = make("audioresample", "web-play-resample")?;
    let sink = gst_app::AppSink::builder()
        .name("web-speaker")
        .caps(&raw_audio_caps())
        .sync(false)
        .build();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(map) = sample.buffer().and_then(|b| b.map_readable().ok()) {
                    let samples: Vec<i16> = map.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
                    played.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = speaker.lock().unwrap().write(&samples) {
                        debug!(error = %e, "speaker refused the browser's sound");
                    }
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    link_all(
        &pipeline,
        &[src.upcast_ref(), &decoder, &convert, &resample, sink.upcast_ref()],
    )?;
    Ok((pipeline, src))
}

/// The browser's H.264 → pictures (for the other leg's camera, or the screen).
fn picture_pipeline(settings: &MediaSettings, out: PictureOut) -> Result<(gst::Pipeline, gst_app::AppSrc), MediaError> {
    let (pictures, on_screen) = match out {
        PictureOut::Camera(pictures) => (pictures, false),
        PictureOut::Screen(pictures) => (pictures, true),
    };
    let layout = if on_screen { "BGRx" } else { "I420" };
    let pipeline = gst::Pipeline::with_name("web-picture");
    let src = gst_app::AppSrc::builder()
        .name("web-h264-in")
        .caps(
            &gst::Caps::builder("video/x-h264")
                .field("stream-format", "byte-stream")
                .field("alignment", "au")
                .build(),
        )
        .format(gst::Format::Time)
        .is_live(true)
        .do_timestamp(true)
        .max_buffers(8)
        .leaky_type(gst_app::AppLeakyType::Downstream)
        .build();
    let parse = make("h264parse", "web-in-parse")?;
    let decoder = make(&settings.codecs.h264_decoder, "web-h264dec")?;
    let convert = make("videoconvertscale", "web-in-convert")?;
    let raw_caps = make("capsfilter", "web-in-caps")?;
    raw_caps.set_property(
        "caps",
        gst::Caps::builder("video/x-raw").field("format", layout).build(),
    );
    if let (true, Some(screen), Some(decoded)) = (on_screen, settings.screen, decoder.static_pad("src")) {
        super::screen_picture::fit_to_screen(&decoded, &raw_caps, screen);
    }
    let sink = gst_app::AppSink::builder()
        .name("web-picture-out")
        .caps(&gst::Caps::builder("video/x-raw").field("format", layout).build())
        .sync(false)
        .max_buffers(2)
        .drop(true)
        .build();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let info = sample
                    .caps()
                    .and_then(|c| gstreamer_video::VideoInfo::from_caps(c).ok());
                if let (Some(info), Some(buffer)) = (info, sample.buffer_owned()) {
                    if let Some(picture) = decoded_picture(&info, buffer, on_screen) {
                        pictures.show(picture);
                    }
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    link_all(
        &pipeline,
        &[
            src.upcast_ref(),
            &parse,
            &decoder,
            &convert,
            &raw_caps,
            sink.upcast_ref(),
        ],
    )?;
    Ok((pipeline, src))
}

/// Where the browser's decoded pictures go.
pub enum PictureOut {
    /// To a pipe another leg takes as its camera: I420 as decoded.
    Camera(super::VideoOut),
    /// To the station's screen: BGRx, scaled to where it is shown.
    Screen(super::VideoOut),
}

/// A decoded buffer as a picture, held rather than copied: BGRx for the screen, else
/// tightly packed I420 (decoders pad rows at some sizes; such frames are skipped).
fn decoded_picture(info: &gstreamer_video::VideoInfo, buffer: gst::Buffer, bgrx: bool) -> Option<Picture> {
    let (w, h, stride) = (info.width(), info.height(), info.stride()[0] as usize);
    let (pixel, size) = if bgrx {
        (PixelFormat::Bgrx, stride * h as usize)
    } else {
        (PixelFormat::I420, (w * h * 3 / 2) as usize)
    };
    if !bgrx && stride != w as usize {
        return None;
    }
    let map = buffer.into_mapped_buffer_readable().ok()?;
    if map.len() < size {
        return None;
    }
    let format = VideoFormat {
        pixel,
        width: w,
        height: h,
        fps: 0,
    };
    Some(Picture::new(format, stride, super::screen_picture::MappedPicture(map)))
}
