//! Pictures passed on without copies: [`Picture`] (held by reference, or drawing
//! itself), and [`FrameMut`], the display buffer it is drawn into.

use super::{FrameView, VideoFormat, VideoFrame};
use std::sync::Arc;

/// The buffer a display shows next, lent to whoever draws the screen: BGRx rows of
/// `stride` bytes.
pub struct FrameMut<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per row.
    pub stride: usize,
    /// The pixels.
    pub data: &'a mut [u8],
}

impl FrameMut<'_> {
    /// Copies `frame` (BGRx) in, row by row, as much as fits.
    pub fn copy_from(&mut self, frame: FrameView<'_>) {
        let rows = (frame.format.height.min(self.height)) as usize;
        let bytes = (frame.format.width.min(self.width)) as usize * 4;
        for y in 0..rows {
            self.data[y * self.stride..y * self.stride + bytes]
                .copy_from_slice(&frame.data[y * frame.stride..y * frame.stride + bytes]);
        }
    }
}

/// A picture that can be kept and passed on without copying its pixels: a decoded
/// buffer of the pipeline's, or a frame of our own.
#[derive(Clone)]
pub struct Picture {
    /// Layout and size.
    pub format: VideoFormat,
    /// Bytes per row of the first plane (0 for a picture that draws itself).
    pub stride: usize,
    pixels: Pixels,
}

#[derive(Clone)]
enum Pixels {
    /// Bytes in `format`.
    Bytes(Arc<dyn AsRef<[u8]> + Send + Sync>),
    /// A picture in a layout of the decoder's that converts itself where it is drawn.
    Drawn(Arc<dyn DrawInto>),
}

/// A picture that draws itself into a display's buffer, converting and scaling as it
/// goes (so it is not copied first).
pub trait DrawInto: Send + Sync {
    /// Draws the picture into the rectangle `(x, y, width, height)` of `to`, scaled to
    /// it; false when it cannot (the rectangle is outside `to`, the layout is unknown).
    fn draw_into(&self, to: &mut FrameMut<'_>, at: (i32, i32, i32, i32)) -> bool;
    /// The picture as BGRx at its own size.
    fn to_bgrx(&self) -> Option<VideoFrame>;
}

impl Picture {
    /// A picture over `pixels`, held (not copied) for as long as anyone keeps it.
    pub fn new(format: VideoFormat, stride: usize, pixels: impl AsRef<[u8]> + Send + Sync + 'static) -> Self {
        Self {
            format,
            stride,
            pixels: Pixels::Bytes(Arc::new(pixels)),
        }
    }

    /// A picture that draws itself.
    pub fn drawn_by(format: VideoFormat, drawer: impl DrawInto + 'static) -> Self {
        Self {
            format,
            stride: 0,
            pixels: Pixels::Drawn(Arc::new(drawer)),
        }
    }

    /// A frame of our own, moved in.
    pub fn from_frame(frame: VideoFrame) -> Self {
        Self::new(frame.format, frame.stride, frame.data)
    }

    /// The picture's bytes as a view, when it has bytes of its own (not for a picture
    /// that draws itself).
    pub fn view(&self) -> Option<FrameView<'_>> {
        match &self.pixels {
            Pixels::Bytes(bytes) => Some(FrameView {
                format: self.format,
                stride: self.stride,
                data: (**bytes).as_ref(),
            }),
            Pixels::Drawn(_) => None,
        }
    }

    /// What draws the picture, when it draws itself.
    pub fn drawer(&self) -> Option<&dyn DrawInto> {
        match &self.pixels {
            Pixels::Drawn(d) => Some(d.as_ref()),
            Pixels::Bytes(_) => None,
        }
    }

    /// A copy to keep beyond the call (a snapshot): BGRx for a picture that draws
    /// itself, else its bytes as they are.
    pub fn to_frame(&self) -> Option<VideoFrame> {
        match (&self.pixels, self.view()) {
            (Pixels::Drawn(d), _) => d.to_bgrx(),
            (_, Some(view)) => Some(VideoFrame {
                format: self.format,
                stride: self.stride,
                data: view.data.to_vec(),
            }),
            _ => None,
        }
    }
}

impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Picture")
            .field("format", &self.format)
            .field("stride", &self.stride)
            .finish()
    }
}

/// Where decoded pictures go, one at a time on the decoding thread: the screen provides
/// it (its compositor shows them), and so can anything that passes them on. The picture
/// may be kept without copying it.
pub trait PictureSink: Send + Sync {
    /// Takes one picture.
    fn show(&self, picture: Picture);
}

/// A function taking pictures is a sink too (a test's counter, a grid cell).
impl<F: Fn(Picture) + Send + Sync> PictureSink for F {
    fn show(&self, picture: Picture) {
        self(picture)
    }
}
