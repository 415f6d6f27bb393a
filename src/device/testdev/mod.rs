//! Test devices: always compiled, selected with `"test"` in the config. They exercise the
//! real media path (GStreamer encode, RTP, decode) with content that can be checked.

use super::probe::{self, DisplayProbe, SpeakerProbe};
use super::{Camera, DeviceError, Display, FrameMut, Microphone, PixelFormat, Speaker, VideoFormat, VideoFrame};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod tape;
pub use tape::{FileMicrophone, SpeakerTape};

/// Paces a producer to real time: `wait(n)` returns when `n` more units are due.
struct Pacer {
    start: Instant,
    produced: u64,
    per_second: u64,
}

impl Pacer {
    fn new(per_second: u64) -> Self {
        Self {
            start: Instant::now(),
            produced: 0,
            per_second: per_second.max(1),
        }
    }
    fn wait(&mut self, units: u64) {
        self.produced += units;
        let due = self.start + Duration::from_nanos(self.produced * 1_000_000_000 / self.per_second);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else if now - due > Duration::from_millis(500) {
            // Fell far behind (machine suspended, debugger): restart the clock, do not burst.
            self.start = now;
            self.produced = 0;
        }
    }
}

/// A camera that draws its station's bars and time code, I420.
pub struct PatternCamera {
    tag: u16,
    format: Option<VideoFormat>,
    pacer: Pacer,
    background: Vec<u8>,
    opens: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// How long the next open hangs, once.
    stall: std::time::Duration,
    /// After this many frames, every capture hangs for good.
    stuck_after_frames: Option<u64>,
    captured: u64,
}

impl PatternCamera {
    /// A camera showing `tag`'s pattern.
    pub fn new(tag: u16) -> Self {
        Self {
            tag,
            format: None,
            pacer: Pacer::new(30),
            background: Vec::new(),
            opens: Default::default(),
            stall: std::time::Duration::ZERO,
            stuck_after_frames: None,
            captured: 0,
        }
    }

    /// Makes it hang in capture, as a driver that stops delivering without going away,
    /// once it has delivered `pictures` (counted from its first capture, at 30 a second).
    pub fn stick_after(&mut self, pictures: std::time::Duration) {
        self.stuck_after_frames = Some(pictures.as_millis() as u64 * 30 / 1000);
    }

    /// Makes the first open hang for `stall`, as a driver that does not return would.
    pub fn stall_first_open(&mut self, stall: std::time::Duration) {
        self.stall = stall;
    }

    /// Counts the times it is opened.
    pub fn opens(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        self.opens.clone()
    }
}

fn rgb_to_yuv([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (r, g, b) = (r as f64, g as f64, b as f64);
    let y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b;
    let u = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b;
    let v = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b;
    [y.round() as u8, u.round() as u8, v.round() as u8]
}

/// Draws the bars (no code rows) of `tag` into an I420 buffer.
fn draw_bars(tag: u16, w: usize, h: usize) -> Vec<u8> {
    let mut buf = vec![0u8; w * h * 3 / 2];
    let colours = probe::palette(tag).map(rgb_to_yuv);
    let bar_w = w / 4;
    let (y_plane, chroma) = buf.split_at_mut(w * h);
    let (u_plane, v_plane) = chroma.split_at_mut(w * h / 4);
    for y in 0..h {
        for x in 0..w {
            y_plane[y * w + x] = colours[(x / bar_w).min(3)][0];
        }
    }
    for y in 0..h / 2 {
        for x in 0..w / 2 {
            let c = colours[(2 * x / bar_w).min(3)];
            u_plane[y * w / 2 + x] = c[1];
            v_plane[y * w / 2 + x] = c[2];
        }
    }
    buf
}

/// Writes the two code rows into an I420 frame.
fn draw_code(buf: &mut [u8], w: usize, h: usize, ms: u32, tag: u16) {
    let b = probe::block_size(w as u32) as usize;
    let rows = [ms, (tag as u32) << 16 | probe::check_word(ms, tag) as u32];
    let (y_plane, chroma) = buf.split_at_mut(w * h);
    let (u_plane, v_plane) = chroma.split_at_mut(w * h / 4);
    for (r, bits) in rows.iter().enumerate() {
        for i in 0..probe::CODE_BITS as usize {
            let on = bits >> (probe::CODE_BITS as usize - 1 - i) & 1 == 1;
            let luma = if on { 235 } else { 16 };
            for y in r * b..(r + 1) * b {
                y_plane[y * w + i * b..y * w + (i + 1) * b].fill(luma);
            }
            for y in r * b / 2..(r + 1) * b / 2 {
                u_plane[y * w / 2 + i * b / 2..y * w / 2 + (i + 1) * b / 2].fill(128);
                v_plane[y * w / 2 + i * b / 2..y * w / 2 + (i + 1) * b / 2].fill(128);
            }
        }
    }
}

impl Camera for PatternCamera {
    fn open(&mut self, want: VideoFormat) -> Result<VideoFormat, DeviceError> {
        let format = VideoFormat {
            pixel: PixelFormat::I420,
            ..want
        };
        if !self.stall.is_zero() {
            tracing::warn!(secs = self.stall.as_secs(), "the test camera hangs in open, as asked");
            std::thread::sleep(std::mem::take(&mut self.stall));
        }
        self.opens.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.background = draw_bars(self.tag, format.width as usize, format.height as usize);
        self.pacer = Pacer::new(format.fps as u64);
        self.format = Some(format);
        Ok(format)
    }

    fn capture(&mut self) -> Result<VideoFrame, DeviceError> {
        let format = self
            .format
            .ok_or_else(|| DeviceError::Lost("pattern camera is not open".into()))?;
        if self.stuck_after_frames.is_some_and(|n| self.captured >= n) {
            tracing::warn!("test camera stuck: this capture never returns");
            loop {
                std::thread::park();
            }
        }
        self.captured += 1;
        self.pacer.wait(1);
        let (w, h) = (format.width as usize, format.height as usize);
        let mut data = self.background.clone();
        draw_code(&mut data, w, h, probe::time_code_now(), self.tag);
        Ok(VideoFrame {
            format,
            stride: w,
            data,
        })
    }

    fn close(&mut self) {
        self.format = None;
    }

    fn is_open(&self) -> bool {
        self.format.is_some()
    }
}

/// A microphone that plays a sine at a fixed frequency.
pub struct ToneMicrophone {
    hz: f64,
    rate: u32,
    channels: u16,
    phase: f64,
    pacer: Option<Pacer>,
}

impl ToneMicrophone {
    /// A microphone hearing a `hz` tone.
    pub fn new(hz: f64) -> Self {
        Self {
            hz,
            rate: 48000,
            channels: 1,
            phase: 0.0,
            pacer: None,
        }
    }
}

impl Microphone for ToneMicrophone {
    fn open(&mut self, rate: u32, channels: u16) -> Result<(), DeviceError> {
        self.rate = rate;
        self.channels = channels.max(1);
        self.pacer = Some(Pacer::new(rate as u64));
        Ok(())
    }

    fn read(&mut self, buf: &mut [i16]) -> Result<usize, DeviceError> {
        let pacer = self
            .pacer
            .as_mut()
            .ok_or_else(|| DeviceError::Lost("tone microphone is not open".into()))?;
        let step = std::f64::consts::TAU * self.hz / self.rate as f64;
        for frame in buf.chunks_mut(self.channels as usize) {
            let s = (self.phase.sin() * 9000.0) as i16;
            frame.fill(s);
            self.phase = (self.phase + step) % std::f64::consts::TAU;
        }
        pacer.wait((buf.len() / self.channels as usize) as u64);
        Ok(buf.len())
    }

    fn close(&mut self) {
        self.pacer = None;
    }
}

/// A speaker that keeps what it plays for [`SpeakerProbe`].
pub struct RecordingSpeaker {
    probe: Arc<Mutex<SpeakerProbe>>,
    channels: u16,
    /// Everything it plays, on a file, when it has one.
    tape: Option<SpeakerTape>,
    /// After this much sound, every write hangs for good.
    stuck_after: Option<std::time::Duration>,
}

impl Default for RecordingSpeaker {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordingSpeaker {
    /// A new speaker.
    pub fn new() -> Self {
        Self {
            probe: Arc::default(),
            channels: 1,
            tape: None,
            stuck_after: None,
        }
    }
    /// Writes everything it plays to `tape` too.
    pub fn record_to(&mut self, tape: SpeakerTape) {
        self.tape = Some(tape);
    }
    /// Makes it hang, as a driver that stops without going away, once it has played
    /// `sound` (counted from the first sample, at the rate it was opened with).
    pub fn stick_after(&mut self, sound: std::time::Duration) {
        self.stuck_after = Some(sound);
    }
    /// Its readings.
    pub fn probe(&self) -> Arc<Mutex<SpeakerProbe>> {
        self.probe.clone()
    }
}

impl Speaker for RecordingSpeaker {
    fn open(&mut self, rate: u32, channels: u16) -> Result<(), DeviceError> {
        self.channels = channels.max(1);
        self.probe.lock().unwrap().rate = rate;
        if let Some(tape) = &mut self.tape {
            tape.open(rate);
        }
        Ok(())
    }

    fn write(&mut self, samples: &[i16]) -> Result<(), DeviceError> {
        if let Some(after) = self.stuck_after {
            let played = {
                let p = self.probe.lock().unwrap();
                std::time::Duration::from_millis(p.samples * 1000 / p.rate.max(1) as u64)
            };
            if played >= after {
                tracing::warn!("test speaker stuck: this write never returns");
                loop {
                    std::thread::park();
                }
            }
        }
        if let Some(tape) = &mut self.tape {
            tape.play(samples.chunks(self.channels as usize).map(|f| f[0]))?;
        }
        let mut p = self.probe.lock().unwrap();
        let keep = (p.rate / 2).max(1) as usize;
        for frame in samples.chunks(self.channels as usize) {
            p.recent.push_back(frame[0]);
            p.samples += 1;
        }
        while p.recent.len() > keep {
            p.recent.pop_front();
        }
        Ok(())
    }

    fn close(&mut self) {}
}

/// A display that keeps what it shows in its own buffer (the one the screen is drawn
/// into, so keeping it costs no copy), reads the probe code, and writes PNG screenshots.
pub struct FrameKeepingDisplay {
    probe: Arc<Mutex<DisplayProbe>>,
    buffer: Vec<u8>,
    drawn: bool,
    size: (u32, u32),
}

impl FrameKeepingDisplay {
    /// A new, blank display of `width`x`height` pixels.
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            probe: Arc::default(),
            buffer: vec![0; width as usize * height as usize * 4],
            drawn: false,
            size: (width, height),
        }
    }
    /// Its readings.
    pub fn probe(&self) -> Arc<Mutex<DisplayProbe>> {
        self.probe.clone()
    }
}

impl Display for FrameKeepingDisplay {
    fn present(&mut self, draw: &mut dyn FnMut(FrameMut<'_>, Option<u32>)) -> Result<(), DeviceError> {
        let (w, h) = self.size;
        let stride = w as usize * 4;
        draw(
            FrameMut {
                width: w,
                height: h,
                stride,
                data: &mut self.buffer,
            },
            self.drawn.then_some(1),
        );
        self.drawn = true;
        // What a camera pointed at the screen would read.
        let shown = probe::locate_shown(&self.buffer, w, h, stride);
        let code = shown.map(|(code, _)| code);
        let mut p = self.probe.lock().unwrap();
        if p.record(code) {
            p.record_fidelity(&self.buffer, stride, shown);
        }
        if code.is_none() {
            // A call of several stations shows a grid: who is in its cells.
            p.record_cells(&probe::read_cells(&self.buffer, w, h, stride));
        }
        Ok(())
    }

    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn set_power(&mut self, on: bool) -> Result<(), DeviceError> {
        self.probe.lock().unwrap().screen_off = !on;
        Ok(())
    }

    fn screenshot(&self, path: &Path) -> Result<(), DeviceError> {
        let (w, h) = (self.size.0 as usize, self.size.1 as usize);
        let (w, h, rgb) = if self.drawn {
            let mut rgb = Vec::with_capacity(w * h * 3);
            for p in self.buffer.chunks_exact(4) {
                rgb.extend_from_slice(&[p[2], p[1], p[0]]);
            }
            (w, h, rgb)
        } else {
            (320, 180, vec![0u8; 320 * 180 * 3])
        };
        write_png(path, w as u32, h as u32, &rgb)
            .map_err(|e| DeviceError::Temporary(format!("screenshot {}: {e}", path.display())))
    }
}

fn write_png(path: &Path, w: u32, h: u32, rgb: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(rgb)?;
    Ok(())
}

#[cfg(test)]
mod tests;
