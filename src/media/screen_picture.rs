//! Received pictures drawn straight into the display's buffer: the decoder's output
//! (I420 or whatever it gives) is converted to the screen's layout and scaled to its
//! place in one pass, written where the display scans it out. No picture is copied on
//! its way from the decoder to the screen.

use crate::device::{DrawInto, FrameMut, Picture, PixelFormat, VideoFormat};
use gstreamer as gst;
use gstreamer::glib::translate::from_glib_full;
use gstreamer::prelude::*;
use gstreamer_video as gst_video;
use std::sync::{Arc, Mutex};
use tracing::warn;

/// The converter of one stream of pictures, kept while their size and place stay.
#[derive(Default)]
pub struct ScreenConverter {
    current: Mutex<Option<(Key, gst_video::VideoConverter)>>,
}

/// What a converter is made for: the pictures' layout, the buffer's, and the place.
#[derive(Clone, PartialEq)]
struct Key {
    input: gst_video::VideoInfo,
    output: (u32, u32, usize),
    at: (i32, i32, i32, i32),
}

impl ScreenConverter {
    /// A converter for the pictures of one receive pipeline.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// `buffer` (decoded, described by `info`) as a picture for the screen.
    pub fn picture(self: &Arc<Self>, buffer: gst::Buffer, info: gst_video::VideoInfo) -> Picture {
        let format = VideoFormat {
            pixel: match info.format() {
                gst_video::VideoFormat::I420 => PixelFormat::I420,
                gst_video::VideoFormat::Nv12 => PixelFormat::Nv12,
                gst_video::VideoFormat::Yuy2 => PixelFormat::Yuy2,
                _ => PixelFormat::Bgrx,
            },
            width: info.width(),
            height: info.height(),
            fps: 0,
        };
        Picture::drawn_by(
            format,
            Decoded {
                buffer,
                info,
                converter: self.clone(),
            },
        )
    }
}

/// A decoded picture and the converter that puts it on the screen.
struct Decoded {
    buffer: gst::Buffer,
    info: gst_video::VideoInfo,
    converter: Arc<ScreenConverter>,
}

impl DrawInto for Decoded {
    fn draw_into(&self, to: &mut FrameMut<'_>, (x, y, w, h): (i32, i32, i32, i32)) -> bool {
        let inside = x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= to.width as i32 && y + h <= to.height as i32;
        if !inside || to.data.len() < to.stride * to.height as usize {
            return false;
        }
        let key = Key {
            input: self.info.clone(),
            output: (to.width, to.height, to.stride),
            at: (x, y, w, h),
        };
        let Ok(output) = gst_video::VideoInfo::builder(gst_video::VideoFormat::Bgrx, to.width, to.height)
            .stride(&[to.stride as i32])
            .fps(self.info.fps())
            .build()
        else {
            return false;
        };
        let mut current = self.converter.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_none_or(|(k, _)| *k != key) {
            match make_converter(&self.info, &output, key.at) {
                Ok(c) => *current = Some((key, c)),
                Err(e) => {
                    warn!(error = %e, "cannot convert the received pictures for the screen");
                    *current = None;
                    return false;
                }
            }
        }
        let Some((_, converter)) = current.as_ref() else {
            return false;
        };
        let Ok(src) = gst_video::VideoFrameRef::from_buffer_ref_readable(self.buffer.as_ref(), &self.info) else {
            return false;
        };
        // The display's buffer, lent to GStreamer for this conversion only: the wrapping
        // buffer is dropped before `to` is given back.
        let mut target = lend(to.data);
        let Some(target_ref) = target.get_mut() else {
            return false;
        };
        let Ok(mut dest) = gst_video::VideoFrameRef::from_buffer_ref_writable(target_ref, &output) else {
            return false;
        };
        converter.frame_ref(&src, &mut dest);
        true
    }

    fn to_bgrx(&self) -> Option<crate::device::VideoFrame> {
        let (w, h) = (self.info.width(), self.info.height());
        let stride = w as usize * 4;
        let mut data = vec![0u8; stride * h as usize];
        let mut to = FrameMut {
            width: w,
            height: h,
            stride,
            data: &mut data,
        };
        self.draw_into(&mut to, (0, 0, w as i32, h as i32))
            .then_some(crate::device::VideoFrame {
                format: VideoFormat {
                    pixel: PixelFormat::Bgrx,
                    width: w,
                    height: h,
                    fps: 0,
                },
                stride,
                data,
            })
    }
}

/// A converter from `input` into the rectangle `at` of `output`, with the scaling the
/// `videoconvertscale` element uses by default (bilinear, chroma linear), leaving the
/// rest of the buffer alone.
fn make_converter(
    input: &gst_video::VideoInfo,
    output: &gst_video::VideoInfo,
    (x, y, w, h): (i32, i32, i32, i32),
) -> Result<gst_video::VideoConverter, gst::glib::BoolError> {
    let mut config = gst_video::VideoConverterConfig::new();
    config.set_resampler_method(gst_video::VideoResamplerMethod::Linear);
    config.set_chroma_resampler_method(gst_video::VideoResamplerMethod::Linear);
    config.set_dest_x(x);
    config.set_dest_y(y);
    config.set_dest_width(Some(w));
    config.set_dest_height(Some(h));
    config.set_fill_border(false);
    config.set_threads(1);
    gst_video::VideoConverter::new(input, output, Some(config))
}

/// A GStreamer buffer over `data`, which it neither owns nor frees.
fn lend(data: &mut [u8]) -> gst::Buffer {
    // SAFETY: the memory wraps `data` without a free function; the caller drops the
    // buffer (and so the memory) while `data` is still borrowed, and nothing else
    // keeps a reference to it (the converter only reads and writes through it).
    unsafe {
        let memory = gst::ffi::gst_memory_new_wrapped(
            0,
            data.as_mut_ptr() as gst::glib::ffi::gpointer,
            data.len(),
            0,
            data.len(),
            std::ptr::null_mut(),
            None,
        );
        let mut buffer = gst::Buffer::new();
        if let Some(b) = buffer.get_mut() {
            b.append_memory(from_glib_full(memory));
        }
        buffer
    }
}

/// A decoded picture's buffer, mapped for reading for as long as it is held.
pub(crate) struct MappedPicture(pub(crate) gst::buffer::MappedBuffer<gst::buffer::Readable>);

impl AsRef<[u8]> for MappedPicture {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// Largest screen side a picture is scaled for; a bigger setting is a mistake.
const MAX_SCREEN_SIDE: u32 = 8192;

/// Whenever the decoder says what size its pictures are, asks the converter for the
/// size they take on a `screen` (aspect kept, as large as fits). The size comes from
/// the sender's stream: only its ratio is used, and the result is bounded by the screen.
pub(crate) fn fit_to_screen(decoded: &gst::Pad, raw_caps: &gst::Element, screen: (u32, u32)) {
    let (sw, sh) = (screen.0.min(MAX_SCREEN_SIDE), screen.1.min(MAX_SCREEN_SIDE));
    let raw_caps = raw_caps.clone();
    decoded.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        let Some(gst::PadProbeData::Event(event)) = &info.data else {
            return gst::PadProbeReturn::Ok;
        };
        let gst::EventView::Caps(caps) = event.view() else {
            return gst::PadProbeReturn::Ok;
        };
        let Ok(video) = gstreamer_video::VideoInfo::from_caps(caps.caps()) else {
            return gst::PadProbeReturn::Ok;
        };
        let par = video.par();
        let shown_width = video.width() as u64 * par.numer().max(1) as u64 / par.denom().max(1) as u64;
        let (w, h) = fit_size(shown_width, video.height() as u64, sw, sh);
        if w > 0 && h > 0 {
            raw_caps.set_property(
                "caps",
                gst::Caps::builder("video/x-raw")
                    .field("format", "BGRx")
                    .field("width", w as i32)
                    .field("height", h as i32)
                    .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
                    .build(),
            );
        }
        gst::PadProbeReturn::Ok
    });
}

/// The largest even size of aspect `aw:ah` within `sw`x`sh` (0x0 for an empty aspect).
pub fn fit_size(aw: u64, ah: u64, sw: u32, sh: u32) -> (u32, u32) {
    if aw == 0 || ah == 0 {
        return (0, 0);
    }
    let (sw64, sh64) = (sw as u64, sh as u64);
    let (w, h) = if sw64 * ah <= sh64 * aw {
        (sw64, sw64 * ah / aw)
    } else {
        (sh64 * aw / ah, sh64)
    };
    ((w as u32) & !1, (h as u32) & !1)
}
