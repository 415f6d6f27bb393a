//! The libcamera backend for Raspberry Pi CSI camera modules, which V4L2 alone cannot
//! drive (the ISP needs libcamera): a small capture pipeline, libcamerasrc → NV12 →
//! appsink, whose frames feed the call like any other camera's.

use super::{Camera, DeviceError, PixelFormat, VideoFormat, VideoFrame};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use tracing::info;

/// A libcamera camera, the first one or the one named (`libcamera:NAME`).
pub struct LibcameraCamera {
    name: Option<String>,
    open: Option<(gst::Pipeline, gst_app::AppSink, VideoFormat)>,
}

impl LibcameraCamera {
    /// A camera; `name` as libcamera lists it (`cam --list`), or None for the first.
    pub fn new(name: Option<String>) -> Self {
        Self { name, open: None }
    }

    fn pipeline_error(pipeline: &gst::Pipeline) -> String {
        let bus = pipeline.bus();
        let msg =
            bus.and_then(|b| b.timed_pop_filtered(gst::ClockTime::from_mseconds(200), &[gst::MessageType::Error]));
        match msg.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Error(e)) => e.error().to_string(),
            _ => "libcamerasrc did not start".into(),
        }
    }
}

impl Camera for LibcameraCamera {
    fn open(&mut self, want: VideoFormat) -> Result<VideoFormat, DeviceError> {
        self.close();
        crate::base::gst::init().map_err(|e| DeviceError::Unsupported(e.to_string()))?;
        if gst::ElementFactory::find("libcamerasrc").is_none() {
            return Err(DeviceError::Missing(
                "libcamera camera: libcamerasrc is not installed (apt install gstreamer1.0-libcamera)".into(),
            ));
        }
        let format = VideoFormat {
            pixel: PixelFormat::Nv12,
            ..want
        };
        let build = || -> Result<(gst::Pipeline, gst_app::AppSink), gst::glib::BoolError> {
            let pipeline = gst::Pipeline::with_name("libcamera");
            let src = gst::ElementFactory::make("libcamerasrc").build()?;
            if let Some(name) = &self.name {
                src.set_property("camera-name", name);
            }
            let caps = gst::Caps::builder("video/x-raw")
                .field("format", "NV12")
                .field("width", format.width as i32)
                .field("height", format.height as i32)
                .field("framerate", gst::Fraction::new(format.fps as i32, 1))
                .build();
            let sink = gst_app::AppSink::builder()
                .caps(&caps)
                .max_buffers(2)
                .drop(true)
                .sync(false)
                .build();
            pipeline.add_many([&src, sink.upcast_ref()])?;
            src.link(&sink)?;
            Ok((pipeline, sink))
        };
        let (pipeline, sink) = build().map_err(|e| DeviceError::Unsupported(format!("libcamera camera: {e}")))?;
        let started = pipeline.set_state(gst::State::Playing).is_ok()
            && pipeline.state(gst::ClockTime::from_seconds(5)).0.is_ok();
        if !started {
            let why = Self::pipeline_error(&pipeline);
            let _ = pipeline.set_state(gst::State::Null);
            return Err(DeviceError::Missing(format!("libcamera camera: {why}")));
        }
        info!(?format, "libcamera camera open");
        self.open = Some((pipeline, sink, format));
        Ok(format)
    }

    fn capture(&mut self) -> Result<VideoFrame, DeviceError> {
        let (pipeline, sink, format) = self
            .open
            .as_ref()
            .ok_or_else(|| DeviceError::Lost("camera is not open".into()))?;
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(2)) else {
            if sink.is_eos() {
                let why = Self::pipeline_error(pipeline);
                self.close();
                return Err(DeviceError::Lost(format!("libcamera camera: {why}")));
            }
            return Err(DeviceError::Temporary("libcamera camera: no frame for 2 s".into()));
        };
        let buffer = sample
            .buffer()
            .ok_or_else(|| DeviceError::Temporary("empty sample".into()))?;
        let stride = sample
            .caps()
            .and_then(|c| gstreamer_video::VideoInfo::from_caps(c).ok())
            .map(|i| i.stride()[0] as usize)
            .unwrap_or(format.width as usize);
        let map = buffer
            .map_readable()
            .map_err(|e| DeviceError::Temporary(e.to_string()))?;
        Ok(VideoFrame {
            format: *format,
            stride,
            data: {
                crate::base::copies::count(crate::base::copies::Path::Send);
                map.as_slice().to_vec()
            },
        })
    }

    fn close(&mut self) {
        if let Some((pipeline, _, _)) = self.open.take() {
            let _ = pipeline.set_state(gst::State::Null);
        }
    }

    fn is_open(&self) -> bool {
        self.open.is_some()
    }
}

impl Drop for LibcameraCamera {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_camera_module_is_a_clear_error() {
        let mut camera = LibcameraCamera::new(None);
        let want = VideoFormat {
            pixel: PixelFormat::I420,
            width: 640,
            height: 360,
            fps: 30,
        };
        // This machine has no CSI camera (and maybe no libcamerasrc): either way, it says so.
        let err = camera.open(want).unwrap_err();
        assert!(matches!(err, DeviceError::Missing(_)), "{err:?}");
        assert!(err.to_string().contains("libcamera"), "{err}");
        assert!(matches!(camera.capture(), Err(DeviceError::Lost(_))));
    }
}
