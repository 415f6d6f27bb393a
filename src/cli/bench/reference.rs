//! The benchmark's reference: what a plain GStreamer program does for the same call,
//! with none of the station around it (no SIP, no screen, no devices layer). Per side
//! one pipeline: the pattern camera through x264enc (the station's settings) and the
//! tone through Opus, into one rtpbin that sends RTP and RTCP over UDP; what the other
//! side sends comes back through the same rtpbin (its jitter buffer at the station's
//! latency), is decoded, converted and scaled to where it is shown on the screen, and
//! read by the same probes the test devices use.

use super::{failed, BenchError};
use doorway::device::probe::{self, DisplayProbe};
use doorway::device::testdev::{PatternCamera, RecordingSpeaker, ToneMicrophone};
use doorway::device::{Camera, Microphone, PixelFormat, Speaker, VideoFormat};
use doorway::media::{self, parts, MediaSettings};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One side of the reference call.
pub(super) struct ReferenceSide {
    pipeline: gst::Pipeline,
    /// Latencies read from the pictures shown.
    pub probe: Arc<Mutex<DisplayProbe>>,
    /// Pictures pushed to the encoder, and pictures decoded.
    pub frames_sent: Arc<AtomicU64>,
    pub frames_decoded: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    feeders: Vec<JoinHandle<()>>,
}

/// UDP ports of one side: video RTP, RTCP = +1; audio RTP, RTCP = +1.
#[derive(Clone, Copy)]
pub(super) struct Ports {
    pub video: u16,
    pub audio: u16,
}

impl Ports {
    /// Ports for both sides of a call. Each side's must differ from the other's: a probe
    /// lets go of the ports it found ([`media::ports::free_pair`]), so the second side's
    /// probe would find the first side's free again, and two receivers bound to one port
    /// (GStreamer binds with SO_REUSEADDR) split one stream between them.
    pub fn allocate_both() -> Result<(Self, Self), BenchError> {
        let mut taken = Vec::new();
        let mut pair = || {
            // The reference's pipelines bind them by number.
            let port = media::ports::free_pair([127, 0, 0, 1].into(), 26000, 26998, &taken)
                .ok_or_else(|| failed("no free port"))?;
            taken.push(port);
            Ok::<_, BenchError>(port)
        };
        let a = Self {
            video: pair()?,
            audio: pair()?,
        };
        let b = Self {
            video: pair()?,
            audio: pair()?,
        };
        Ok((a, b))
    }
}

fn description(settings: &MediaSettings, screen: (u32, u32), me: Ports, peer: Ports) -> String {
    let (w, h, fps) = (settings.width, settings.height, settings.fps);
    let (sw, sh) = media::screen_picture::fit_size(w as u64, h as u64, screen.0, screen.1);
    let send = |port: u16| format!("udpsink host=127.0.0.1 port={port} sync=false async=false");
    format!(
        "rtpbin name=rtpbin latency={jitter} drop-on-latency=true \
         appsrc name=camera-src is-live=true format=time do-timestamp=true max-buffers=2 max-bytes=0 \
           leaky-type=downstream caps=video/x-raw,format=I420,width={w},height={h},framerate={fps}/1 \
         ! videoconvertscale ! video/x-raw,format=I420,width={w},height={h} \
         ! {encoder} name=h264enc ! video/x-h264,profile=constrained-baseline \
         ! rtph264pay pt=96 config-interval=-1 mtu=1200 aggregate-mode=none ! rtpbin.send_rtp_sink_0 \
         rtpbin.send_rtp_src_0 ! {video_rtp} rtpbin.send_rtcp_src_0 ! {video_rtcp} \
         udpsrc port={my_video} caps=\"application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96\" \
           ! rtpbin.recv_rtp_sink_0 \
         udpsrc port={my_video_rtcp} caps=application/x-rtcp ! rtpbin.recv_rtcp_sink_0 \
         rtph264depay name=h264depay ! h264parse ! {decoder} \
         ! videoconvertscale name=vconvert ! video/x-raw,format=BGRx,width={sw},height={sh},pixel-aspect-ratio=1/1 \
         ! appsink name=video-out sync=false max-buffers=2 drop=true \
         appsrc name=mic-src is-live=true format=time do-timestamp=true max-buffers=10 leaky-type=downstream \
           caps=audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved \
         ! opusenc frame-size=20 audio-type=voice ! rtpopuspay pt=111 ! rtpbin.send_rtp_sink_1 \
         rtpbin.send_rtp_src_1 ! {audio_rtp} rtpbin.send_rtcp_src_1 ! {audio_rtcp} \
         udpsrc port={my_audio} caps=\"application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=111\" \
           ! rtpbin.recv_rtp_sink_1 \
         udpsrc port={my_audio_rtcp} caps=application/x-rtcp ! rtpbin.recv_rtcp_sink_1 \
         rtpopusdepay name=adepay ! opusdec ! audioconvert ! audioresample \
         ! appsink name=audio-out sync=false caps=audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved",
        jitter = settings.jitter_ms,
        encoder = settings.codecs.h264_encoder,
        decoder = settings.codecs.h264_decoder,
        video_rtp = send(peer.video),
        video_rtcp = send(peer.video + 1),
        audio_rtp = send(peer.audio),
        audio_rtcp = send(peer.audio + 1),
        my_video = me.video,
        my_video_rtcp = me.video + 1,
        my_audio = me.audio,
        my_audio_rtcp = me.audio + 1,
    )
}

fn element<T: IsA<gst::Element>>(pipeline: &gst::Pipeline, name: &str) -> Result<T, BenchError> {
    pipeline
        .by_name(name)
        .and_then(|e| e.downcast::<T>().ok())
        .ok_or_else(|| failed(format!("reference pipeline has no {name}")))
}

impl ReferenceSide {
    /// Starts one side, showing `tag`'s pattern and sending a tone of `hz`.
    pub fn start(
        settings: &MediaSettings,
        screen: (u32, u32),
        (me, peer): (Ports, Ports),
        tag: u16,
        hz: f64,
    ) -> Result<Self, BenchError> {
        let pipeline = gst::parse::launch(&description(settings, screen, me, peer))
            .map_err(failed)?
            .downcast::<gst::Pipeline>()
            .map_err(|_| failed("not a pipeline"))?;
        media::send::configure_encoder(&element::<gst::Element>(&pipeline, "h264enc")?, settings, 1);
        // The same parts as a station's, named and timed the same way.
        for (depay, name) in [("h264depay", parts::VIDEO_RECEIVE), ("adepay", parts::AUDIO_RECEIVE)] {
            if let Some(pad) = element::<gst::Element>(&pipeline, depay)?.static_pad("sink") {
                parts::name_streaming_thread(&pad, name);
            }
        }
        parts::time_converter(&element::<gst::Element>(&pipeline, "vconvert")?);
        // What arrives in session 0 is video, in session 1 audio.
        let depays = [
            element::<gst::Element>(&pipeline, "h264depay")?,
            element::<gst::Element>(&pipeline, "adepay")?,
        ];
        element::<gst::Element>(&pipeline, "rtpbin")?.connect_pad_added(move |_, pad| {
            let name = pad.name();
            let depay = match name.as_str() {
                n if n.starts_with("recv_rtp_src_0_") => &depays[0],
                n if n.starts_with("recv_rtp_src_1_") => &depays[1],
                _ => return,
            };
            if let Some(sink) = depay.static_pad("sink").filter(|s| !s.is_linked()) {
                let _ = pad.link(&sink);
            }
        });
        let probe = Arc::new(Mutex::new(DisplayProbe::default()));
        let frames_decoded = Arc::new(AtomicU64::new(0));
        let (p, decoded) = (probe.clone(), frames_decoded.clone());
        element::<gst_app::AppSink>(&pipeline, "video-out")?.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let (Some(buffer), Some(caps)) = (sample.buffer(), sample.caps()) {
                        if let (Ok(info), Ok(map)) =
                            (gstreamer_video::VideoInfo::from_caps(caps), buffer.map_readable())
                        {
                            let code = probe::read_bgrx(
                                map.as_slice(),
                                info.width(),
                                info.height(),
                                info.stride()[0] as usize,
                            );
                            p.lock().unwrap().record(code);
                            decoded.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        let speaker = Arc::new(Mutex::new(RecordingSpeaker::new()));
        speaker
            .lock()
            .unwrap()
            .open(media::send::AUDIO_RATE, 1)
            .map_err(failed)?;
        element::<gst_app::AppSink>(&pipeline, "audio-out")?.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(map) = sample.buffer().and_then(|b| b.map_readable().ok()) {
                        let samples: Vec<i16> = map.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
                        let _ = speaker.lock().unwrap().write(&samples);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        pipeline.set_state(gst::State::Playing).map_err(failed)?;
        let mut side = Self {
            pipeline,
            probe,
            frames_sent: Arc::default(),
            frames_decoded,
            stop: Arc::default(),
            feeders: Vec::new(),
        };
        side.feed(settings, tag, hz)?;
        Ok(side)
    }

    /// The camera and microphone threads, as a station has them.
    fn feed(&mut self, settings: &MediaSettings, tag: u16, hz: f64) -> Result<(), BenchError> {
        let video: gst_app::AppSrc = element(&self.pipeline, "camera-src")?;
        let audio: gst_app::AppSrc = element(&self.pipeline, "mic-src")?;
        let format = VideoFormat {
            pixel: PixelFormat::I420,
            width: settings.width,
            height: settings.height,
            fps: settings.fps,
        };
        let (stop, sent) = (self.stop.clone(), self.frames_sent.clone());
        let camera = move || {
            let mut camera = PatternCamera::new(tag);
            if camera.open(format).is_err() {
                return;
            }
            while !stop.load(Ordering::SeqCst) {
                let Ok(frame) = camera.capture() else { break };
                // A full queue drops its oldest (reported as EOS by GStreamer 1.22).
                match video.push_buffer(gst::Buffer::from_mut_slice(frame.data)) {
                    Ok(_) | Err(gst::FlowError::Eos) => {}
                    Err(_) => break,
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
        };
        let stop = self.stop.clone();
        let microphone = move || {
            let mut microphone = ToneMicrophone::new(hz);
            if microphone.open(media::send::AUDIO_RATE, 1).is_err() {
                return;
            }
            let mut samples = vec![0i16; 480];
            while !stop.load(Ordering::SeqCst) {
                if microphone.read(&mut samples).is_err() {
                    break;
                }
                let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
                match audio.push_buffer(gst::Buffer::from_mut_slice(bytes)) {
                    Ok(_) | Err(gst::FlowError::Eos) => {}
                    Err(_) => break,
                }
            }
        };
        for (name, f) in [
            ("camera", Box::new(camera) as Box<dyn FnOnce() + Send>),
            ("microphone", Box::new(microphone)),
        ] {
            let thread = std::thread::Builder::new().name(name.into()).spawn(f).map_err(failed)?;
            self.feeders.push(thread);
        }
        Ok(())
    }

    /// Stops the side.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.pipeline.set_state(gst::State::Null);
        for f in self.feeders.drain(..) {
            let _ = f.join();
        }
    }
}
