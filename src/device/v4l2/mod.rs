//! The V4L2 camera backend (v4l crate): enumerate capture devices, choose the format
//! closest to what the call wants, apply controls, stream through mmap buffers, and
//! report a camera that vanished as `Lost` so the media feeder reopens it when it returns.

use super::{Camera, DeviceError, PixelFormat, VideoFormat, VideoFrame};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracing::{info, warn};
use v4l::buffer::Type;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::{Device, FourCC};

/// One format a camera offers: layout, size and frame rates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormatOption {
    /// Pixel layout (as GStreamer names it).
    #[serde(serialize_with = "pixel_name")]
    pub pixel: PixelFormat,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Frame rates offered at this size.
    pub fps: Vec<u32>,
}

fn pixel_name<S: serde::Serializer>(p: &PixelFormat, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(p.gst_name())
}

/// A capture device and its formats.
#[derive(Debug, Clone, Serialize)]
pub struct CameraInfo {
    /// Device node.
    pub path: PathBuf,
    /// Driver's card name.
    pub name: String,
    /// Formats we can use.
    pub formats: Vec<FormatOption>,
}

fn pixel_of(fourcc: FourCC) -> Option<PixelFormat> {
    match &fourcc.repr {
        b"YU12" => Some(PixelFormat::I420),
        b"NV12" => Some(PixelFormat::Nv12),
        b"YUYV" => Some(PixelFormat::Yuy2),
        b"MJPG" => Some(PixelFormat::Mjpeg),
        _ => None,
    }
}

fn fourcc_of(pixel: PixelFormat) -> FourCC {
    FourCC::new(match pixel {
        PixelFormat::I420 => b"YU12",
        PixelFormat::Nv12 => b"NV12",
        PixelFormat::Yuy2 => b"YUYV",
        PixelFormat::Mjpeg => b"MJPG",
        PixelFormat::Bgrx => b"XR24",
    })
}

/// Picks the best format for `want`: the size closest to it (a larger one beats a smaller
/// one of the same distance, since scaling down looks better), then the frame rate
/// closest to it, then the layout the encoder takes with least work.
pub fn select_format(options: &[FormatOption], want: VideoFormat) -> Option<VideoFormat> {
    let rank = |p: PixelFormat| match p {
        PixelFormat::I420 => 0,
        PixelFormat::Nv12 => 1,
        PixelFormat::Yuy2 => 2,
        PixelFormat::Mjpeg => 3,
        PixelFormat::Bgrx => 9,
    };
    options
        .iter()
        .filter(|o| o.pixel != PixelFormat::Bgrx)
        .flat_map(|o| {
            let fps = if o.fps.is_empty() {
                vec![want.fps]
            } else {
                o.fps.clone()
            };
            fps.into_iter().map(move |f| (o, f))
        })
        .min_by_key(|(o, fps)| {
            let dw = o.width as i64 - want.width as i64;
            let dh = o.height as i64 - want.height as i64;
            let smaller = i64::from(dw < 0 || dh < 0);
            let fps_penalty = (*fps as i64 - want.fps as i64).abs() * 2 + i64::from((*fps) < want.fps);
            (dw.abs() + dh.abs(), smaller, fps_penalty, rank(o.pixel))
        })
        .map(|(o, fps)| VideoFormat {
            pixel: o.pixel,
            width: o.width,
            height: o.height,
            fps,
        })
}

fn device_error(path: &Path, e: std::io::Error) -> DeviceError {
    let what = format!("camera {}: {e}", path.display());
    match e.raw_os_error() {
        Some(libc::ENOENT) => DeviceError::Missing(what),
        Some(libc::EAGAIN) | Some(libc::EINTR) => DeviceError::Temporary(what),
        Some(libc::EINVAL) => DeviceError::Unsupported(what),
        _ if e.kind() == std::io::ErrorKind::TimedOut => DeviceError::Temporary(what),
        _ => DeviceError::Lost(what),
    }
}

fn formats(device: &Device) -> std::io::Result<Vec<FormatOption>> {
    let mut out = Vec::new();
    for desc in device.enum_formats()? {
        let Some(pixel) = pixel_of(desc.fourcc) else { continue };
        for size in device.enum_framesizes(desc.fourcc)? {
            for d in size.size.to_discrete() {
                let fps = device
                    .enum_frameintervals(desc.fourcc, d.width, d.height)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|i| match i.interval {
                        v4l::frameinterval::FrameIntervalEnum::Discrete(f) if f.numerator > 0 => {
                            Some(f.denominator / f.numerator)
                        }
                        _ => None,
                    })
                    .collect();
                out.push(FormatOption {
                    pixel,
                    width: d.width,
                    height: d.height,
                    fps,
                });
            }
        }
    }
    Ok(out)
}

fn is_capture(device: &Device) -> bool {
    device
        .query_caps()
        .is_ok_and(|c| c.capabilities.contains(v4l::capability::Flags::VIDEO_CAPTURE))
}

/// Lists the video capture devices.
pub fn list() -> Vec<CameraInfo> {
    let mut out: Vec<CameraInfo> = v4l::context::enum_devices()
        .into_iter()
        .filter_map(|node| {
            let device = Device::with_path(node.path()).ok()?;
            let caps = device.query_caps().ok()?;
            is_capture(&device).then(|| CameraInfo {
                path: node.path().to_owned(),
                name: caps.card,
                formats: formats(&device).unwrap_or_default(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// A V4L2 camera; `path` None means the first capture device found at open time.
pub struct V4l2Camera {
    path: Option<PathBuf>,
    controls: Vec<(String, i64)>,
    open: Option<Open>,
}

struct Open {
    path: PathBuf,
    stream: Stream<'static>,
    format: VideoFormat,
    stride: usize,
    _device: Device,
}

impl V4l2Camera {
    /// A camera at `path` (or the first one) with `controls` (name → value) to apply.
    pub fn new(path: Option<PathBuf>, controls: Vec<(String, i64)>) -> Self {
        Self {
            path,
            controls,
            open: None,
        }
    }

    fn apply_controls(&self, device: &Device, path: &Path) {
        let Ok(available) = device.query_controls() else { return };
        let norm = |s: &str| s.to_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "_");
        for (name, value) in &self.controls {
            match available.iter().find(|d| norm(&d.name) == norm(name)) {
                Some(d) => {
                    let control = v4l::control::Control {
                        id: d.id,
                        value: v4l::control::Value::Integer(*value),
                    };
                    if let Err(e) = device.set_control(control) {
                        warn!(camera = %path.display(), control = %name, error = %e, "cannot set camera control");
                    }
                }
                None => warn!(camera = %path.display(), control = %name, "camera has no such control"),
            }
        }
    }
}

impl Camera for V4l2Camera {
    fn open(&mut self, want: VideoFormat) -> Result<VideoFormat, DeviceError> {
        self.open = None;
        let path = match &self.path {
            Some(p) => p.clone(),
            None => list()
                .into_iter()
                .next()
                .map(|c| c.path)
                .ok_or_else(|| DeviceError::Missing("no V4L2 camera found".into()))?,
        };
        let err = |e| device_error(&path, e);
        let device = Device::with_path(&path).map_err(err)?;
        if !is_capture(&device) {
            return Err(DeviceError::Unsupported(format!(
                "{} is not a video capture device",
                path.display()
            )));
        }
        let options = formats(&device).map_err(err)?;
        let chosen = select_format(&options, want).ok_or_else(|| {
            DeviceError::Unsupported(format!("{} offers no YUYV, NV12, I420 or MJPEG format", path.display()))
        })?;
        let mut fmt = device.format().map_err(err)?;
        fmt.width = chosen.width;
        fmt.height = chosen.height;
        fmt.fourcc = fourcc_of(chosen.pixel);
        // The current format's row length would carry over and is a request too (a
        // driver may honour a larger one): let the driver pick it for the new format.
        fmt.stride = 0;
        fmt.size = 0;
        let fmt = device.set_format(&fmt).map_err(err)?;
        let _ = device.set_params(&v4l::video::capture::Parameters::with_fps(chosen.fps));
        self.apply_controls(&device, &path);
        let mut stream = Stream::with_buffers(&device, Type::VideoCapture, 4).map_err(err)?;
        // A camera that stops delivering (unplugged, hung) must not block the feeder forever.
        stream.set_timeout(Duration::from_secs(2));
        // Drivers may adjust what was asked for: describe frames by what the driver says
        // it delivers, never by the request.
        let pixel = pixel_of(fmt.fourcc).ok_or_else(|| {
            DeviceError::Unsupported(format!(
                "{} was asked for {:?} and delivers {} instead",
                path.display(),
                chosen.pixel,
                fmt.fourcc
            ))
        })?;
        if pixel != chosen.pixel {
            warn!(camera = %path.display(), wanted = ?chosen.pixel, got = ?pixel, "camera chose another pixel format");
        }
        let format = VideoFormat {
            pixel,
            width: fmt.width,
            height: fmt.height,
            fps: chosen.fps,
        };
        info!(camera = %path.display(), ?format, "camera open");
        self.open = Some(Open {
            path,
            stream,
            format,
            stride: fmt.stride as usize,
            _device: device,
        });
        Ok(format)
    }

    fn capture(&mut self) -> Result<VideoFrame, DeviceError> {
        let open = self
            .open
            .as_mut()
            .ok_or_else(|| DeviceError::Lost("camera is not open".into()))?;
        match open.stream.next() {
            Ok((data, meta)) => {
                let used = (meta.bytesused as usize).min(data.len());
                let used = if used == 0 { data.len() } else { used };
                let (data, stride) = tightly_packed(&data[..used], open.format, open.stride);
                Ok(VideoFrame {
                    format: open.format,
                    stride,
                    data,
                })
            }
            Err(e) => {
                let e = device_error(&open.path, e);
                if matches!(e, DeviceError::Lost(_)) {
                    self.open = None;
                }
                Err(e)
            }
        }
    }

    fn close(&mut self) {
        self.open = None;
    }

    fn is_open(&self) -> bool {
        self.open.is_some()
    }

    fn present(&self) -> Option<bool> {
        Some(match &self.path {
            Some(path) => path.exists(),
            // "The first camera": any video device node.
            None => std::fs::read_dir("/dev").is_ok_and(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("video"))
            }),
        })
    }
}

/// Rows of each plane of a frame: (rows, bytes of picture per row, bytes per row in the
/// driver's buffer), for a first plane `stride` bytes wide.
fn planes(format: VideoFormat, stride: usize) -> Vec<(usize, usize, usize)> {
    let (w, h) = (format.width as usize, format.height as usize);
    match format.pixel {
        PixelFormat::Yuy2 => vec![(h, w * 2, stride)],
        PixelFormat::Bgrx => vec![(h, w * 4, stride)],
        PixelFormat::I420 => vec![(h, w, stride), (h / 2, w / 2, stride / 2), (h / 2, w / 2, stride / 2)],
        PixelFormat::Nv12 => vec![(h, w, stride), (h / 2, w, stride)],
        PixelFormat::Mjpeg => vec![],
    }
}

/// The frame without the padding some drivers put at the end of each row (the rest of
/// the pipeline takes tightly packed frames); its data and first-plane stride.
pub(crate) fn tightly_packed(data: &[u8], format: VideoFormat, stride: usize) -> (Vec<u8>, usize) {
    // The one copy on the way to the encoder: out of the driver's buffer, which goes
    // back to the driver at once.
    crate::base::copies::count(crate::base::copies::Path::Send);
    let planes = planes(format, stride);
    let tight = planes.first().map_or(0, |p| p.1);
    if planes.is_empty() || stride <= tight {
        return (data.to_vec(), stride.max(tight));
    }
    let mut out = Vec::with_capacity(planes.iter().map(|(rows, width, _)| rows * width).sum());
    let mut offset = 0;
    for (rows, width, padded) in planes {
        for row in 0..rows {
            let start = offset + row * padded;
            match data.get(start..start + width) {
                Some(bytes) => out.extend_from_slice(bytes),
                None => out.resize(out.len() + width, 0),
            }
        }
        offset += rows * padded;
    }
    (out, tight)
}

#[cfg(test)]
mod tests;
