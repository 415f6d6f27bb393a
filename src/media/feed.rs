//! Feeding a pipeline from the camera and the microphone. A handle of the shared
//! camera or microphone hands each frame or chunk to the pipeline on the capture's own
//! thread (a subscription: no hand-off to a feeder thread of ours on the way); any
//! other source is read by a feeder thread. Either way a lost device is replaced by a
//! placeholder picture or silence until it returns, so the far end keeps a live call.

use super::send::{video_caps, AUDIO_RATE};
use crate::device::{Camera, DeviceError, Microphone, PixelFormat, Shared, VideoFormat, VideoFrame};
use gstreamer as gst;
use gstreamer_app as gst_app;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Audio capture chunk: 10 ms at 48 kHz mono.
const AUDIO_CHUNK: usize = 480;

/// How often a feeder whose device hands frames over itself looks for the stop.
const IDLE: Duration = Duration::from_millis(20);

/// A camera that hands over nothing for this long, not even an error, is stuck (a driver
/// hung inside a capture): the placeholder goes out instead. Longer than a USB camera
/// takes to deliver its first picture.
const SILENT_CAMERA: Duration = Duration::from_secs(3);

/// A frame the camera shared with us, as the bytes of a buffer (no copy).
struct SharedFrame(Arc<VideoFrame>);

impl AsRef<[u8]> for SharedFrame {
    fn as_ref(&self) -> &[u8] {
        &self.0.data
    }
}

/// A mid-grey frame sent while the camera is gone, so the far end keeps a live picture.
fn placeholder(format: VideoFormat) -> Vec<u8> {
    let (w, h) = (format.width as usize, format.height as usize);
    let mut data = vec![128u8; w * h * 3 / 2];
    data[..w * h].fill(90);
    data
}

/// Pushes one buffer; false when the pipeline is shutting down. A full queue drops its
/// oldest buffer (a slow encoder must not stall the camera or grow memory); GStreamer
/// 1.22's appsrc reports a dropped buffer as EOS, which is not the end of anything here.
fn push(src: &gst_app::AppSrc, buffer: gst::Buffer, stop: &AtomicBool) -> bool {
    match src.push_buffer(buffer) {
        Ok(_) | Err(gst::FlowError::Eos) => !stop.load(Ordering::SeqCst),
        Err(_) => false,
    }
}

/// What happens to each capture result on its way to the encoder.
struct VideoFeed {
    src: gst_app::AppSrc,
    wanted: VideoFormat,
    /// What the appsrc caps say now; a camera that comes back may deliver another format.
    caps_format: VideoFormat,
    lost_since: Option<Instant>,
    /// When the camera last delivered a picture, and when anything was last sent.
    last_picture: Instant,
    last_sent: Instant,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
    self_view: super::SelfViewOut,
}

impl VideoFeed {
    /// Sends a frame, or the placeholder when the camera is lost; false once the
    /// pipeline stops taking them.
    fn send(&mut self, frame: Result<Arc<VideoFrame>, DeviceError>) -> bool {
        let frame = match frame {
            Ok(f) => {
                if self.lost_since.take().is_some() {
                    info!("camera is back");
                }
                self.last_picture = Instant::now();
                f
            }
            // A hiccup that lasts is no longer one.
            Err(DeviceError::Temporary(e)) if self.last_picture.elapsed() < SILENT_CAMERA => {
                warn!(error = %e, "camera hiccup");
                return !self.stop.load(Ordering::SeqCst);
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                self.lost_since.get_or_insert_with(|| {
                    warn!(error = %e, "camera lost; sending a placeholder until it returns");
                    Instant::now()
                });
                let format = VideoFormat {
                    pixel: PixelFormat::I420,
                    ..self.wanted
                };
                Arc::new(VideoFrame {
                    format,
                    stride: format.width as usize,
                    data: placeholder(format),
                })
            }
        };
        // A few self-view updates a second are plenty and cost little.
        if self.sent.load(Ordering::Relaxed).is_multiple_of(6) {
            let (w, h) = (frame.format.width / 4, frame.format.height / 4);
            if let Some(thumb) = crate::device::thumbnail_bgrx(&frame, w, h) {
                (self.self_view)(thumb);
            }
        }
        if frame.format != self.caps_format {
            // videoconvert and videoscale renegotiate behind the new caps.
            self.src.set_caps(Some(&video_caps(frame.format)));
            self.caps_format = frame.format;
        }
        let buffer = match Arc::try_unwrap(frame) {
            Ok(own) => gst::Buffer::from_mut_slice(own.data),
            Err(shared) => gst::Buffer::from_slice(SharedFrame(shared)),
        };
        if !push(&self.src, buffer, &self.stop) {
            return false;
        }
        self.last_sent = Instant::now();
        self.sent.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// For a camera that hands frames over itself: once it has been silent for
    /// [`SILENT_CAMERA`], one placeholder per frame interval.
    fn cover_silence(&mut self) {
        let interval = Duration::from_millis(1000 / self.wanted.fps.max(1) as u64);
        if self.last_picture.elapsed() >= SILENT_CAMERA && self.last_sent.elapsed() >= interval {
            let silent = self.last_picture.elapsed().as_secs();
            self.send(Err(DeviceError::Stuck(format!(
                "no picture from the camera for {silent} s"
            ))));
        }
    }
}

/// Feeds `src` from `camera` until `stop`: through a subscription when the camera
/// offers one, else by capturing here; closes the camera at the end.
pub(super) fn feed_video(
    src: gst_app::AppSrc,
    camera: Shared<dyn Camera>,
    wanted: VideoFormat,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
    self_view: super::SelfViewOut,
) {
    let feed = Arc::new(Mutex::new(VideoFeed {
        src,
        wanted,
        caps_format: wanted,
        lost_since: None,
        last_picture: Instant::now(),
        last_sent: Instant::now(),
        stop: stop.clone(),
        sent,
        failures,
        self_view,
    }));
    let subscriber = feed.clone();
    let subscribed = camera.lock().unwrap().subscribe(Box::new(move |frame| {
        subscriber.lock().unwrap_or_else(|e| e.into_inner()).send(frame);
    }));
    if subscribed {
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(IDLE);
            feed.lock().unwrap_or_else(|e| e.into_inner()).cover_silence();
        }
        camera.lock().unwrap().close();
        return;
    }
    let mut last_reopen = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let frame = camera.lock().unwrap().capture();
        let lost = matches!(&frame, Err(e) if !matches!(e, DeviceError::Temporary(_)));
        if lost {
            // A lost camera fails at once: placeholders at the frame rate, and a try
            // to open it again every second.
            std::thread::sleep(Duration::from_millis(1000 / wanted.fps.max(1) as u64));
            if last_reopen.elapsed() >= Duration::from_secs(1) {
                last_reopen = Instant::now();
                let _ = camera.lock().unwrap().open(wanted);
            }
        }
        if !feed.lock().unwrap_or_else(|e| e.into_inner()).send(frame.map(Arc::new)) {
            info!("video feeder stops");
            break;
        }
    }
    camera.lock().unwrap().close();
}

/// Samples as the bytes of a buffer (S16LE).
fn sample_buffer(samples: &[i16]) -> gst::Buffer {
    gst::Buffer::from_mut_slice(samples.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>())
}

/// Feeds `src` from `microphone` until `stop`, as [`feed_video`] does.
pub(super) fn feed_audio(src: gst_app::AppSrc, microphone: Shared<dyn Microphone>, stop: Arc<AtomicBool>) {
    let (to, stopping) = (src.clone(), stop.clone());
    let mut lost = false;
    let subscribed = microphone.lock().unwrap().subscribe(Box::new(move |chunk| match chunk {
        Ok(samples) => {
            if std::mem::take(&mut lost) {
                info!("microphone is back");
            }
            push(&to, sample_buffer(samples), &stopping);
        }
        Err(e) => {
            if !std::mem::replace(&mut lost, true) {
                warn!(error = %e, "microphone lost; sending silence until it returns");
            }
            // The shared microphone tries again every 20 ms: two chunks of silence.
            for _ in 0..2 {
                push(&to, sample_buffer(&[0; AUDIO_CHUNK]), &stopping);
            }
        }
    }));
    if subscribed {
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(IDLE);
        }
        microphone.lock().unwrap().close();
        return;
    }
    let mut samples = vec![0i16; AUDIO_CHUNK];
    let mut lost = false;
    let mut last_reopen = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let read = microphone.lock().unwrap().read(&mut samples);
        match read {
            Ok(_) => {
                if std::mem::take(&mut lost) {
                    info!("microphone is back");
                }
            }
            // An overrun was recovered: read again.
            Err(DeviceError::Temporary(_)) => continue,
            Err(e) => {
                if !lost {
                    warn!(error = %e, "microphone lost; sending silence until it returns");
                    lost = true;
                }
                samples.fill(0);
                std::thread::sleep(Duration::from_millis(10));
                if last_reopen.elapsed() >= Duration::from_secs(1) {
                    last_reopen = Instant::now();
                    let _ = microphone.lock().unwrap().open(AUDIO_RATE, 1);
                }
            }
        }
        if !push(&src, sample_buffer(&samples), &stop) {
            break;
        }
    }
    microphone.lock().unwrap().close();
}
