//! A BGRx canvas (the layout DRM calls XRGB8888) with the few drawing operations the
//! station's screens need: rectangles, text in the embedded font, and scaled video.

use crate::device::FrameView;
use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use std::sync::OnceLock;

/// The embedded font (DejaVu Sans Bold; licence in assets/fonts/DejaVu-LICENSE).
static FONT_DATA: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// The font, read in place: ab_glyph reads a glyph's outline when it is first drawn. (A
/// rasteriser that parses every outline up front kept about 19 MB of the font's 6,000
/// glyphs in memory for the station's whole life.)
fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_DATA).expect("embedded font is valid"))
}

/// The scale at which the font's em square is `size` pixels (ab_glyph scales by the
/// font's height, ascent to descent, instead).
fn scale(size: f32) -> PxScale {
    let font = font();
    let per_em = font.units_per_em().unwrap_or(2048.0);
    PxScale::from(size * font.height_unscaled() / per_em)
}

/// A rasterised glyph: its coverage box relative to the pen on the baseline.
struct Glyph {
    left: i32,
    top: i32,
    width: usize,
    height: usize,
    advance: f32,
    coverage: Vec<u8>,
}

fn rasterize(ch: char, size: f32) -> Glyph {
    let font = font();
    let scaled = font.as_scaled(scale(size));
    let id = font.glyph_id(ch);
    let advance = scaled.h_advance(id);
    let glyph = id.with_scale_and_position(scaled.scale(), ab_glyph::point(0.0, 0.0));
    let Some(outline) = font.outline_glyph(glyph) else {
        // A space, or a character the font has no outline for.
        return Glyph {
            left: 0,
            top: 0,
            width: 0,
            height: 0,
            advance,
            coverage: Vec::new(),
        };
    };
    let bounds = outline.px_bounds();
    let (width, height) = (bounds.width() as usize, bounds.height() as usize);
    let mut coverage = vec![0u8; width * height];
    outline.draw(|x, y, c| {
        if let Some(v) = coverage.get_mut(y as usize * width + x as usize) {
            *v = (c.clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    });
    Glyph {
        left: bounds.min.x as i32,
        top: bounds.min.y as i32,
        width,
        height,
        advance,
        coverage,
    }
}

/// An RGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

pub use crate::base::rect::Rect;

/// A screen-sized BGRx buffer.
pub struct Canvas {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pixels, 4 bytes each, rows packed.
    pub data: Vec<u8>,
    /// Rasterised glyphs by character and size: overlays are redrawn with every video
    /// frame, and rasterising them each time would add to the call's latency.
    glyphs: std::collections::HashMap<(char, u32), Glyph>,
}

impl Canvas {
    /// A black canvas.
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            data: vec![0; width as usize * height as usize * 4],
            glyphs: Default::default(),
        }
    }

    /// The whole canvas as a rectangle.
    pub fn bounds(&self) -> Rect {
        Rect {
            x: 0,
            y: 0,
            w: self.width as i32,
            h: self.height as i32,
        }
    }

    fn clip(&self, r: Rect) -> (usize, usize, usize, usize) {
        let x0 = r.x.clamp(0, self.width as i32) as usize;
        let y0 = r.y.clamp(0, self.height as i32) as usize;
        let x1 = (r.x + r.w).clamp(0, self.width as i32) as usize;
        let y1 = (r.y + r.h).clamp(0, self.height as i32) as usize;
        (x0, y0, x1, y1)
    }

    /// Fills a rectangle.
    pub fn fill(&mut self, r: Rect, c: Rgb) {
        let (x0, y0, x1, y1) = self.clip(r);
        let px = [c.2, c.1, c.0, 255];
        let stride = self.width as usize * 4;
        for y in y0..y1 {
            for chunk in self.data[y * stride + x0 * 4..y * stride + x1 * 4].chunks_exact_mut(4) {
                chunk.copy_from_slice(&px);
            }
        }
    }

    /// Draws a one-colour frame of `thickness` pixels inside `r`.
    pub fn outline(&mut self, r: Rect, thickness: i32, c: Rgb) {
        let t = thickness;
        self.fill(Rect { h: t, ..r }, c);
        self.fill(
            Rect {
                y: r.y + r.h - t,
                h: t,
                ..r
            },
            c,
        );
        self.fill(Rect { w: t, ..r }, c);
        self.fill(
            Rect {
                x: r.x + r.w - t,
                w: t,
                ..r
            },
            c,
        );
    }

    /// Width in pixels of `text` at `size` px.
    pub fn text_width(text: &str, size: f32) -> i32 {
        let scaled = font().as_scaled(scale(size));
        text.chars()
            .map(|ch| scaled.h_advance(font().glyph_id(ch)))
            .sum::<f32>()
            .round() as i32
    }

    /// Draws `text` with its top-left at (x, y), `size` pixels high, blended onto the canvas.
    pub fn text(&mut self, x: i32, y: i32, text: &str, size: f32, c: Rgb) {
        let ascent = font().as_scaled(scale(size)).ascent();
        let baseline = (y as f32 + ascent).round() as i32;
        let mut pen = x as f32;
        let (width, height) = (self.width as i32, self.height as i32);
        let stride = self.width as usize * 4;
        let Canvas { data, glyphs, .. } = self;
        for ch in text.chars() {
            let g = glyphs
                .entry((ch, size.to_bits()))
                .or_insert_with(|| rasterize(ch, size));
            let gx = pen.round() as i32 + g.left;
            let gy = baseline + g.top;
            for row in 0..g.height {
                let py = gy + row as i32;
                if py < 0 || py >= height {
                    continue;
                }
                for col in 0..g.width {
                    let px = gx + col as i32;
                    let a = g.coverage[row * g.width + col] as u32;
                    if px < 0 || px >= width || a == 0 {
                        continue;
                    }
                    let i = py as usize * stride + px as usize * 4;
                    for (k, v) in [c.2, c.1, c.0].into_iter().enumerate() {
                        data[i + k] = ((v as u32 * a + data[i + k] as u32 * (255 - a)) / 255) as u8;
                    }
                }
            }
            pen += g.advance;
        }
    }

    /// Draws `text` centred in `r`.
    pub fn text_centred(&mut self, r: Rect, text: &str, size: f32, c: Rgb) {
        let w = Self::text_width(text, size);
        self.text(r.x + (r.w - w) / 2, r.y + (r.h - size as i32) / 2, text, size, c);
    }

    /// Draws a BGRx frame scaled (nearest neighbour) into `r`; a frame of the same size
    /// as `r` is copied row by row.
    pub fn blit(&mut self, frame: FrameView<'_>, r: Rect) {
        let (fw, fh) = (frame.format.width as usize, frame.format.height as usize);
        if fw == 0 || fh == 0 || r.w <= 0 || r.h <= 0 {
            return;
        }
        let (x0, y0, x1, y1) = self.clip(r);
        let stride = self.width as usize * 4;
        let same_size = r.w as usize == fw && r.h as usize == fh;
        for y in y0..y1 {
            let sy = if same_size {
                y - r.y as usize
            } else {
                (y - r.y as usize) * fh / r.h as usize
            };
            let src_row = &frame.data[sy * frame.stride..];
            let dst_row = &mut self.data[y * stride..(y + 1) * stride];
            if same_size {
                let sx0 = x0 - r.x as usize;
                dst_row[x0 * 4..x1 * 4].copy_from_slice(&src_row[sx0 * 4..(sx0 + x1 - x0) * 4]);
                continue;
            }
            for x in x0..x1 {
                let sx = (x - r.x as usize) * fw / r.w as usize;
                dst_row[x * 4..x * 4 + 4].copy_from_slice(&src_row[sx * 4..sx * 4 + 4]);
            }
        }
    }

    /// The canvas as a frame for a display.
    pub fn view(&self) -> FrameView<'_> {
        FrameView {
            format: crate::device::VideoFormat {
                pixel: crate::device::PixelFormat::Bgrx,
                width: self.width,
                height: self.height,
                fps: 0,
            },
            stride: self.width as usize * 4,
            data: &self.data,
        }
    }

    /// The pixel at (x, y) as RGB.
    pub fn pixel(&self, x: u32, y: u32) -> Rgb {
        let i = (y * self.width + x) as usize * 4;
        Rgb(self.data[i + 2], self.data[i + 1], self.data[i])
    }
}
