//! What a person would see: checks on a station's screen as QEMU's `screendump` reads it
//! from the emulated graphics card's scanout.
use std::path::Path;

/// An RGB picture of a whole screen.
pub struct Shot {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

/// A colour and how far (per channel) a pixel may be from it.
#[derive(Clone, Copy, Debug)]
pub struct Colour(pub u8, pub u8, pub u8);

/// The kiosk UI's colours (src/ui/mod.rs).
pub const BACKGROUND: Colour = Colour(18, 22, 30);
pub const BUTTON_BLUE: Colour = Colour(30, 90, 160);
pub const ANSWER_GREEN: Colour = Colour(30, 150, 60);
pub const HANGUP_RED: Colour = Colour(190, 40, 40);
/// A station nearby, in the list of those that are not contacts yet.
pub const NEARBY_TEAL: Colour = Colour(20, 125, 135);
pub const MESSAGE_AMBER: Colour = Colour(200, 130, 20);
/// The grey picture a station sends while its camera is not working.
pub const PLACEHOLDER_GREY: Colour = Colour(86, 86, 86);

/// vivid's 75% colour bars, left to right.
const BARS: [Colour; 8] = [
    Colour(191, 191, 191),
    Colour(191, 191, 0),
    Colour(0, 191, 191),
    Colour(0, 191, 0),
    Colour(191, 0, 191),
    Colour(191, 0, 0),
    Colour(0, 0, 191),
    Colour(0, 0, 0),
];

impl Colour {
    fn near(self, p: &[u8], tolerance: i32) -> bool {
        (p[0] as i32 - self.0 as i32).abs() <= tolerance
            && (p[1] as i32 - self.1 as i32).abs() <= tolerance
            && (p[2] as i32 - self.2 as i32).abs() <= tolerance
    }
}

impl Shot {
    /// Parses QEMU's binary PPM (P6, maxval 255).
    pub fn from_ppm(data: &[u8]) -> Result<Shot, String> {
        let mut fields = Vec::new();
        let mut i = 0;
        while fields.len() < 4 {
            while i < data.len() && data[i].is_ascii_whitespace() {
                i += 1;
            }
            let start = i;
            while i < data.len() && !data[i].is_ascii_whitespace() {
                i += 1;
            }
            fields.push(String::from_utf8_lossy(&data[start..i]).to_string());
        }
        let (width, height): (usize, usize) = match (fields[0].as_str(), fields[1].parse(), fields[2].parse()) {
            ("P6", Ok(w), Ok(h)) if fields[3] == "255" => (w, h),
            _ => return Err(format!("not a P6 PPM: header {fields:?}")),
        };
        let pixels = data.get(i + 1..i + 1 + width * height * 3).ok_or("PPM is short")?;
        Ok(Shot {
            width,
            height,
            rgb: pixels.to_vec(),
        })
    }

    /// Writes the screenshot as PNG, for people reading a failed run.
    pub fn save_png(&self, path: &Path) {
        let file = std::io::BufWriter::new(std::fs::File::create(path).expect("create PNG"));
        let mut encoder = png::Encoder::new(file, self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("PNG header");
        writer.write_image_data(&self.rgb).expect("PNG data");
    }

    fn pixel(&self, x: usize, y: usize) -> &[u8] {
        let i = (y * self.width + x) * 3;
        &self.rgb[i..i + 3]
    }

    /// Share of pixels in the rectangle (fractions of the screen) that are `colour`.
    pub fn share(&self, (x0, y0, x1, y1): (f64, f64, f64, f64), colour: Colour) -> f64 {
        let (w, h) = (self.width as f64, self.height as f64);
        let (xa, xb) = ((x0 * w) as usize, ((x1 * w) as usize).min(self.width));
        let (ya, yb) = ((y0 * h) as usize, ((y1 * h) as usize).min(self.height));
        let (mut hits, mut all) = (0usize, 0usize);
        for y in (ya..yb).step_by(2) {
            for x in (xa..xb).step_by(2) {
                all += 1;
                hits += colour.near(self.pixel(x, y), 40) as usize;
            }
        }
        hits as f64 / all.max(1) as f64
    }

    /// Share of the whole screen that is `colour`.
    pub fn share_all(&self, colour: Colour) -> f64 {
        self.share((0.0, 0.0, 1.0, 1.0), colour)
    }

    /// How many of vivid's colour bars appear in order, left to right, along rows in the
    /// middle band of the screen (clear of the call overlays, the self view and vivid's
    /// own text). The worst row counts, so a half-decoded picture does not pass; 8 is the
    /// whole test pattern.
    pub fn colour_bars(&self) -> usize {
        let rows = [0.45, 0.50, 0.55];
        rows.iter()
            .map(|f| self.bars_on_row((f * self.height as f64) as usize))
            .min()
            .unwrap_or(0)
    }

    fn bars_on_row(&self, y: usize) -> usize {
        // Runs of one bar colour at least 3% of the screen wide.
        let min_run = self.width * 3 / 100;
        let mut runs: Vec<usize> = Vec::new();
        let (mut current, mut length) = (None, 0usize);
        for x in 0..self.width {
            let p = self.pixel(x, y);
            let bar = BARS.iter().position(|c| c.near(p, 50));
            if bar == current {
                length += 1;
            } else {
                current = bar;
                length = 1;
            }
            if let Some(b) = current {
                if length == min_run && runs.last() != Some(&b) {
                    runs.push(b);
                }
            }
        }
        // The longest stretch of consecutive bars in pattern order.
        let (mut best, mut streak) = (0, 0);
        for (i, b) in runs.iter().enumerate() {
            streak = if i > 0 && *b == runs[i - 1] + 1 { streak + 1 } else { 1 };
            best = best.max(streak);
        }
        best
    }
}
