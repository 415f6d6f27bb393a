//! Devices: one small trait per family, backends chosen by name in the config.
//!
//! Each backend reports errors as [`DeviceError`], classified the way an unattended
//! appliance needs: `Temporary` (retry the same handle), `Lost` (close and reopen when the
//! device comes back), `Missing` and `Unsupported` (tell the person what to fix).
//!
//! The test backends ([`testdev`]) are always compiled and selected with `"test"`. They feed
//! the real call path: the pattern camera stamps each frame with its station tag and a
//! capture time code that the test display reads back ([`probe`]).

pub mod alsa;
pub mod alsa_mixer;
pub mod drm;
pub mod hub;
pub mod inventory;
pub mod libcamera;
mod picture;
pub mod probe;
pub mod testdev;
pub mod v4l2;

pub use picture::{DrawInto, FrameMut, Picture, PictureSink};

use crate::config::Config;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A device failure.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum DeviceError {
    /// Try again with the same handle (xrun, EAGAIN).
    #[error("{0} (temporary)")]
    Temporary(String),
    /// The device went away; close it and reopen when it returns.
    #[error("{0} (device lost)")]
    Lost(String),
    /// The device takes nothing and reports no error: it is stuck.
    #[error("{0} (stuck)")]
    Stuck(String),
    /// The device does not exist.
    #[error("{0} (not found)")]
    Missing(String),
    /// The device cannot do what was asked (format, rate).
    #[error("{0} (unsupported)")]
    Unsupported(String),
}

/// Raw video layouts we move between devices and GStreamer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Planar YUV 4:2:0.
    I420,
    /// Packed YUV 4:2:2 (V4L2 YUYV).
    Yuy2,
    /// Semi-planar YUV 4:2:0.
    Nv12,
    /// 32-bit B,G,R,x: what displays scan out (DRM XRGB8888).
    Bgrx,
    /// Motion JPEG, one JPEG image per frame (USB cameras at high resolutions).
    Mjpeg,
}

impl PixelFormat {
    /// GStreamer caps format name.
    pub fn gst_name(self) -> &'static str {
        match self {
            Self::I420 => "I420",
            Self::Yuy2 => "YUY2",
            Self::Nv12 => "NV12",
            Self::Bgrx => "BGRx",
            Self::Mjpeg => "MJPEG",
        }
    }
}

/// A video format: layout, size and rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoFormat {
    /// Pixel layout.
    pub pixel: PixelFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
}

/// One captured or decoded picture. `stride` is bytes per row of the first plane.
#[derive(Debug, Clone)]
pub struct VideoFrame {
    /// Layout and size.
    pub format: VideoFormat,
    /// Bytes per row of the first plane.
    pub stride: usize,
    /// The pixels.
    pub data: Vec<u8>,
}

impl VideoFrame {
    /// The frame as a borrowed view.
    pub fn view(&self) -> FrameView<'_> {
        FrameView {
            format: self.format,
            stride: self.stride,
            data: &self.data,
        }
    }

    /// Keeps a copy of `frame` in `slot`, reusing its buffer when the size matches (this
    /// runs for every frame of a call).
    pub fn keep(slot: &mut Option<VideoFrame>, frame: FrameView<'_>) {
        match slot {
            Some(kept) if kept.data.len() == frame.data.len() => {
                kept.data.copy_from_slice(frame.data);
                kept.format = frame.format;
                kept.stride = frame.stride;
            }
            _ => {
                *slot = Some(VideoFrame {
                    format: frame.format,
                    stride: frame.stride,
                    data: frame.data.to_vec(),
                })
            }
        }
    }
}

/// A decoded picture borrowed from the decoder's buffer (no copy on the way to the screen).
#[derive(Debug, Clone, Copy)]
pub struct FrameView<'a> {
    /// Layout and size.
    pub format: VideoFormat,
    /// Bytes per row of the first plane.
    pub stride: usize,
    /// The pixels.
    pub data: &'a [u8],
}

/// Video source.
pub trait Camera: Send {
    /// Opens the device with the format closest to `want`; returns the format it delivers.
    fn open(&mut self, want: VideoFormat) -> Result<VideoFormat, DeviceError>;
    /// Blocks until the next frame.
    fn capture(&mut self) -> Result<VideoFrame, DeviceError>;
    /// Releases the device.
    fn close(&mut self);
    /// Whether it is open now (a call's feeder holds it): a snapshot then takes a
    /// frame instead of opening it.
    fn is_open(&self) -> bool;
    /// Whether the camera is plugged in, checked cheaply (no opening); None when the
    /// backend cannot tell.
    fn present(&self) -> Option<bool> {
        None
    }
    /// Has each frame (or failure) handed to `sink` on the capture's own thread, from
    /// now until closed, instead of being asked for with [`Camera::capture`]: one
    /// thread hand-off less per frame. False when the camera cannot (only an open
    /// handle of the shared camera can).
    fn subscribe(&mut self, sink: FrameSink) -> bool {
        let _ = sink;
        false
    }
}

/// Where a subscribed camera's frames go: each frame, shared (not copied) with any
/// other user, or why there is none.
pub type FrameSink = Box<dyn FnMut(Result<Arc<VideoFrame>, DeviceError>) + Send>;

/// Where a subscribed microphone's samples go: every chunk read, or why there is none.
pub type SampleSink = Box<dyn FnMut(Result<&[i16], DeviceError>) + Send>;

/// Audio source: 16-bit signed interleaved samples.
pub trait Microphone: Send {
    /// Opens the device at `rate` Hz with `channels` channels.
    fn open(&mut self, rate: u32, channels: u16) -> Result<(), DeviceError>;
    /// Blocks until `buf` is full; returns the number of samples written.
    fn read(&mut self, buf: &mut [i16]) -> Result<usize, DeviceError>;
    /// Releases the device.
    fn close(&mut self);
    /// Has every chunk read handed to `sink` on the reading thread, from now until
    /// closed, instead of being asked for with [`Microphone::read`]. False when the
    /// microphone cannot (only an open handle of the shared microphone can).
    fn subscribe(&mut self, sink: SampleSink) -> bool {
        let _ = sink;
        false
    }
}

/// Audio sink: 16-bit signed interleaved samples.
pub trait Speaker: Send {
    /// Opens the device at `rate` Hz with `channels` channels.
    fn open(&mut self, rate: u32, channels: u16) -> Result<(), DeviceError>;
    /// Plays `samples`.
    fn write(&mut self, samples: &[i16]) -> Result<(), DeviceError>;
    /// Releases the device.
    fn close(&mut self);
    /// The device's own volume control, as a handle of its own: a streaming thread may
    /// hold the speaker while it writes, and the volume must not wait for it. None when
    /// it has none (the caller then scales the samples).
    fn volume_control(&mut self) -> Option<Box<dyn VolumeControl>> {
        None
    }
}

/// A sound card's volume control, set without the speaker.
pub trait VolumeControl: Send {
    /// Sets the level, 0.0 to 1.0.
    fn set(&mut self, level: f64) -> Result<(), DeviceError>;
}

/// Screen: shows what the compositor drew (BGRx frames of the screen's size).
pub trait Display: Send {
    /// Draws the next screen and shows it: `draw` gets the buffer the display scans out
    /// next (BGRx, the display's size), so a picture is drawn once, straight where it is
    /// shown. Its second argument says what the buffer already holds: `Some(n)` what was
    /// drawn `n` presents ago (1: the screen shown now), `None` nothing known. A display
    /// nobody can see may skip `draw`.
    fn present(&mut self, draw: &mut dyn FnMut(FrameMut<'_>, Option<u32>)) -> Result<(), DeviceError>;
    /// Shows one whole picture (BGRx, the display's size), copied into the next buffer.
    fn show(&mut self, frame: FrameView<'_>) -> Result<(), DeviceError> {
        if frame.format.pixel != PixelFormat::Bgrx {
            return Err(DeviceError::Unsupported("a display takes BGRx frames".into()));
        }
        self.present(&mut |mut buffer, _| buffer.copy_from(frame))
    }
    /// Size of the screen in pixels.
    fn size(&self) -> (u32, u32);
    /// Turns the screen's backlight/signal on or off (DPMS) to save power and the panel.
    fn set_power(&mut self, on: bool) -> Result<(), DeviceError>;
    /// Writes what the screen shows now as PNG.
    fn screenshot(&self, path: &Path) -> Result<(), DeviceError>;
}

/// Shared handle to a device: media threads take it for the length of a call.
pub type Shared<T> = Arc<Mutex<Box<T>>>;

/// The devices of one station.
pub struct Devices {
    /// Video source, shared: each user takes a handle of its own.
    pub camera: hub::CameraHub,
    /// Audio source, shared likewise.
    pub microphone: hub::MicrophoneHub,
    /// Audio sink.
    pub speaker: Shared<dyn Speaker>,
    /// The speaker's own volume control, when it has one.
    pub volume: Option<Shared<dyn VolumeControl>>,
    /// Screen.
    pub display: Shared<dyn Display>,
    /// Readings of the test devices, when test devices are in use.
    pub probes: probe::Probes,
}

/// The display of a station whose screen could not be opened: calls still work.
struct Headless {
    size: (u32, u32),
}

impl Display for Headless {
    fn present(&mut self, _: &mut dyn FnMut(FrameMut<'_>, Option<u32>)) -> Result<(), DeviceError> {
        // Nobody sees it: nothing is drawn.
        Ok(())
    }
    fn size(&self) -> (u32, u32) {
        self.size
    }
    fn set_power(&mut self, _: bool) -> Result<(), DeviceError> {
        Ok(())
    }
    fn screenshot(&self, path: &Path) -> Result<(), DeviceError> {
        Err(DeviceError::Missing(format!(
            "{}: this station has no screen",
            path.display()
        )))
    }
}

/// A device shared between the station and its media threads.
pub fn shared<T: ?Sized>(b: Box<T>) -> Shared<T> {
    Arc::new(Mutex::new(b))
}

/// `alsa` → ALSA's default device, `alsa:NAME` → NAME.
fn alsa_name(config: &str) -> &str {
    config.strip_prefix("alsa:").unwrap_or("default")
}

fn controls(d: &crate::config::DevicesConfig) -> Vec<(String, i64)> {
    d.camera_controls.iter().map(|(k, v)| (k.clone(), *v)).collect()
}

/// Opens the backends named in the config. Names were checked by `Config::validate`.
pub fn open(config: &Config) -> Result<Devices, DeviceError> {
    let d = &config.devices;
    let tag = probe::station_tag(&config.station.name);
    let mut probes = probe::Probes {
        tag,
        ..Default::default()
    };
    let camera: Box<dyn Camera> = match d.camera.as_str() {
        "test" => {
            let mut camera = testdev::PatternCamera::new(tag);
            camera.stall_first_open(std::time::Duration::from_secs(d.test_camera_stall_secs));
            if d.test_camera_stuck_after_ms > 0 {
                camera.stick_after(std::time::Duration::from_millis(d.test_camera_stuck_after_ms));
            }
            probes.camera_opens = Some(camera.opens());
            Box::new(camera)
        }
        "v4l2" => Box::new(v4l2::V4l2Camera::new(None, controls(d))),
        "libcamera" => Box::new(libcamera::LibcameraCamera::new(None)),
        other if other.starts_with("libcamera:") => Box::new(libcamera::LibcameraCamera::new(Some(other[10..].into()))),
        other if other.starts_with("v4l2:") => Box::new(v4l2::V4l2Camera::new(Some(other[5..].into()), controls(d))),
        other => return Err(DeviceError::Unsupported(format!("camera backend {other:?}"))),
    };
    let microphone: Box<dyn Microphone> = match d.microphone.as_str() {
        "test" => match &d.test_microphone_file {
            Some(path) => Box::new(testdev::FileMicrophone::new(path)),
            None => {
                let hz = d
                    .test_tone_hz
                    .unwrap_or_else(|| probe::station_tone_hz(&config.station.name));
                probes.tone_hz = Some(hz);
                Box::new(testdev::ToneMicrophone::new(hz))
            }
        },
        other if other == "alsa" || other.starts_with("alsa:") => Box::new(alsa::AlsaMicrophone::new(alsa_name(other))),
        other => return Err(DeviceError::Unsupported(format!("microphone backend {other:?}"))),
    };
    let speaker: Box<dyn Speaker> = match d.speaker.as_str() {
        "test" => {
            let mut s = testdev::RecordingSpeaker::new();
            if let Some(path) = &d.test_speaker_file {
                s.record_to(testdev::SpeakerTape::create(path)?);
            }
            if d.test_speaker_stuck_after_ms > 0 {
                s.stick_after(std::time::Duration::from_millis(d.test_speaker_stuck_after_ms));
            }
            probes.speaker = Some(s.probe());
            Box::new(s)
        }
        other if other == "alsa" || other.starts_with("alsa:") => Box::new(alsa::AlsaSpeaker::new(alsa_name(other))),
        other => return Err(DeviceError::Unsupported(format!("speaker backend {other:?}"))),
    };
    let display: Box<dyn Display> = match d.display.as_str() {
        other if other == "drm" || other.starts_with("drm:") => {
            let card = other.strip_prefix("drm:").map(Path::new);
            match drm::DrmDisplay::open(card, None, d.display_rotation) {
                Ok(display) => Box::new(display),
                Err(e) => {
                    // A station without a screen still rings and talks: keep it running.
                    tracing::error!(error = %e, "no screen; running without one");
                    Box::new(Headless {
                        size: (config.media.width, config.media.height),
                    })
                }
            }
        }
        other if other == "test" || other.starts_with("test:") => {
            let (w, h) = crate::config::test_screen_size(other).unwrap_or((config.media.width, config.media.height));
            let disp = testdev::FrameKeepingDisplay::new(w, h);
            probes.display = Some(disp.probe());
            Box::new(disp)
        }
        other => return Err(DeviceError::Unsupported(format!("display backend {other:?}"))),
    };
    let mut speaker = speaker;
    let volume = speaker.volume_control().map(shared);
    Ok(Devices {
        camera: hub::CameraHub::new(shared(camera)),
        microphone: hub::MicrophoneHub::new(shared(microphone)),
        speaker: shared(speaker),
        volume,
        display: shared(display),
        probes,
    })
}

/// The pixel at (`x`, `y`) of a raw frame as BGRx (BT.601 for YUV layouts); None for
/// MJPEG or a position outside the data.
pub fn pixel_bgrx(frame: &FrameView<'_>, x: usize, y: usize) -> Option<[u8; 4]> {
    let (fw, fh) = (frame.format.width as usize, frame.format.height as usize);
    let d = frame.data;
    let (luma, u, v) = match frame.format.pixel {
        PixelFormat::Bgrx => {
            let p = y * frame.stride.max(fw * 4) + x * 4;
            let px = d.get(p..p + 4)?;
            return Some([px[0], px[1], px[2], 255]);
        }
        PixelFormat::I420 => {
            let (u0, v0) = (fw * fh, fw * fh + fw * fh / 4);
            let c = (y / 2) * (fw / 2) + x / 2;
            (*d.get(y * fw + x)?, *d.get(u0 + c)?, *d.get(v0 + c)?)
        }
        PixelFormat::Nv12 => {
            let c = fw * fh + (y / 2) * fw + (x / 2) * 2;
            (*d.get(y * fw + x)?, *d.get(c)?, *d.get(c + 1)?)
        }
        PixelFormat::Yuy2 => {
            let p = y * frame.stride.max(fw * 2) + (x / 2) * 4;
            (*d.get(p + (x % 2) * 2)?, *d.get(p + 1)?, *d.get(p + 3)?)
        }
        PixelFormat::Mjpeg => return None,
    };
    let (c, d, e) = (luma as f32 - 16.0, u as f32 - 128.0, v as f32 - 128.0);
    let clamp = |v: f32| v.clamp(0.0, 255.0) as u8;
    Some([
        clamp(1.164 * c + 2.017 * d),
        clamp(1.164 * c - 0.392 * d - 0.813 * e),
        clamp(1.164 * c + 1.596 * e),
        255,
    ])
}

/// A small BGRx copy of a camera frame (nearest neighbour), for the self view. Raw YUV
/// layouts only; BGRx and MJPEG frames give None.
pub fn thumbnail_bgrx(frame: &VideoFrame, width: u32, height: u32) -> Option<VideoFrame> {
    let (fw, fh) = (frame.format.width as usize, frame.format.height as usize);
    let (w, h) = (width as usize, height as usize);
    if fw == 0 || fh == 0 || w == 0 || h == 0 || matches!(frame.format.pixel, PixelFormat::Bgrx | PixelFormat::Mjpeg) {
        return None;
    }
    let view = frame.view();
    let mut data = Vec::with_capacity(w * h * 4);
    for y in 0..h {
        for x in 0..w {
            data.extend_from_slice(&pixel_bgrx(&view, x * fw / w, y * fh / h)?);
        }
    }
    Some(VideoFrame {
        format: VideoFormat {
            pixel: PixelFormat::Bgrx,
            width,
            height,
            fps: 0,
        },
        stride: w * 4,
        data,
    })
}
