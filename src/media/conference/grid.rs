//! The picture a call of several stations shares: the host's camera and each remote's
//! picture side by side in a 2x2 grid, composed once (nearest-neighbour scaling into
//! each cell) and then encoded once for every leg.

use crate::device::{pixel_bgrx, FrameView, PixelFormat, VideoFormat};

/// Cells in the grid: the host and up to three remotes.
pub const CELLS: usize = 4;

/// A BGRx picture of `CELLS` cells.
#[derive(Debug, Clone)]
pub struct Grid {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl Grid {
    /// A black grid of this size (even sizes keep the cells aligned for I420).
    pub fn new(width: u32, height: u32) -> Self {
        let mut data = vec![0u8; width as usize * height as usize * 4];
        data.chunks_exact_mut(4).for_each(|p| p[3] = 255);
        Self { width, height, data }
    }

    /// Cell `cell`'s place: (x, y, width, height); cells run left to right, top to
    /// bottom.
    pub fn cell(&self, cell: usize) -> (usize, usize, usize, usize) {
        let (w, h) = (self.width as usize / 2, self.height as usize / 2);
        ((cell % 2) * w, (cell / 2 % 2) * h, w, h)
    }

    /// Scales `frame` into cell `cell`; false (cell unchanged) for a frame it cannot
    /// read (MJPEG, or an empty one).
    pub fn place(&mut self, cell: usize, frame: FrameView<'_>) -> bool {
        let (fw, fh) = (frame.format.width as usize, frame.format.height as usize);
        if cell >= CELLS || fw == 0 || fh == 0 || frame.format.pixel == PixelFormat::Mjpeg {
            return false;
        }
        let (x0, y0, w, h) = self.cell(cell);
        let stride = self.width as usize * 4;
        for y in 0..h {
            let row = &mut self.data[(y0 + y) * stride + x0 * 4..][..w * 4];
            for (x, out) in row.chunks_exact_mut(4).enumerate() {
                let px = pixel_bgrx(&frame, x * fw / w, y * fh / h).unwrap_or([0, 0, 0, 255]);
                out.copy_from_slice(&px);
            }
        }
        true
    }

    /// Blacks out cell `cell` (a leg that left, or has no picture).
    pub fn clear(&mut self, cell: usize) {
        if cell >= CELLS {
            return;
        }
        let (x0, y0, w, h) = self.cell(cell);
        let stride = self.width as usize * 4;
        for y in 0..h {
            let row = &mut self.data[(y0 + y) * stride + x0 * 4..][..w * 4];
            row.chunks_exact_mut(4).for_each(|p| p.copy_from_slice(&[0, 0, 0, 255]));
        }
    }

    /// A copy of the grid, to keep while the next one is composed.
    pub fn to_frame(&self) -> crate::device::VideoFrame {
        crate::device::VideoFrame {
            format: self.view().format,
            stride: self.width as usize * 4,
            data: self.data.clone(),
        }
    }

    /// The grid as a frame.
    pub fn view(&self) -> FrameView<'_> {
        FrameView {
            format: VideoFormat {
                pixel: PixelFormat::Bgrx,
                width: self.width,
                height: self.height,
                fps: 0,
            },
            stride: self.width as usize * 4,
            data: &self.data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(bgrx: [u8; 4], width: u32, height: u32) -> Vec<u8> {
        bgrx.repeat((width * height) as usize)
    }

    fn bgrx_view(data: &[u8], width: u32, height: u32) -> FrameView<'_> {
        FrameView {
            format: VideoFormat {
                pixel: PixelFormat::Bgrx,
                width,
                height,
                fps: 0,
            },
            stride: width as usize * 4,
            data,
        }
    }

    #[test]
    fn frames_land_scaled_in_their_cells() {
        let mut grid = Grid::new(64, 36);
        let red = solid([0, 0, 255, 255], 100, 50);
        let blue = solid([255, 0, 0, 255], 8, 8);
        assert!(grid.place(1, bgrx_view(&red, 100, 50)));
        assert!(grid.place(2, bgrx_view(&blue, 8, 8)));
        let v = grid.view();
        let at = |x: usize, y: usize| &v.data[y * v.stride + x * 4..][..3];
        assert_eq!(at(0, 0), [0, 0, 0], "cell 0 stays black");
        assert_eq!(at(32, 0), [0, 0, 255]);
        assert_eq!(at(63, 17), [0, 0, 255]);
        assert_eq!(at(0, 18), [255, 0, 0]);
        assert_eq!(at(32, 18), [0, 0, 0]);
        grid.clear(1);
        assert_eq!(grid.view().data[32 * 4..32 * 4 + 3], [0, 0, 0]);
    }

    #[test]
    fn i420_is_converted_and_mjpeg_refused() {
        let mut grid = Grid::new(16, 16);
        // Mid-grey I420: Y 126, U and V 128.
        let (w, h) = (8u32, 8u32);
        let mut i420 = vec![126u8; (w * h) as usize];
        i420.extend(vec![128u8; (w * h / 2) as usize]);
        let frame = FrameView {
            format: VideoFormat {
                pixel: PixelFormat::I420,
                width: w,
                height: h,
                fps: 0,
            },
            stride: w as usize,
            data: &i420,
        };
        assert!(grid.place(3, frame));
        let grey = grid.view().data[(8 * 16 + 8) * 4];
        assert!((125..=130).contains(&grey), "{grey}");
        let jpeg = FrameView {
            format: VideoFormat {
                pixel: PixelFormat::Mjpeg,
                ..frame.format
            },
            ..frame
        };
        assert!(!grid.place(0, jpeg));
        assert!(!grid.place(4, frame), "no fifth cell");
    }
}
