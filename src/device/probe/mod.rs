//! What the test devices put into media and read back out of it.
//!
//! Video: every test frame carries two rows of 32 large black/white blocks at the top (a
//! block code that survives H.264): row 0 is the capture time (tenths of a millisecond of the
//! monotonic clock), row 1 the 16-bit station tag and a 16-bit check. Below them, four
//! colour bars whose colours derive from the tag. A display recognises a frame as a
//! station's pattern when the code reads back with a valid check and the bars have the
//! tag's colours; the time code gives glass-to-glass latency.
//!
//! Audio: each station's test microphone plays a sine at its own frequency; the recording
//! speaker estimates the frequency it hears.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Number of blocks per code row.
pub const CODE_BITS: u32 = 32;
/// Latency samples kept for percentiles.
const LATENCY_WINDOW: usize = 4096;

pub use crate::base::clock::monotonic_ms;
use crate::base::clock::monotonic_us;

/// Time code units: tenths of a millisecond of CLOCK_MONOTONIC. 32 bits wrap after 4.9
/// days, far beyond any latency, and 0.1 ms keeps loopback latencies comparable.
pub fn time_code_now() -> u32 {
    (monotonic_us() / 100) as u32
}

fn fnv1a(text: &str) -> u32 {
    text.bytes()
        .fold(0x811c_9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193))
}

/// The 16-bit tag a station's test camera shows, derived from the station name.
pub fn station_tag(name: &str) -> u16 {
    (fnv1a(name) >> 8) as u16
}

/// The test tone of a station: 400 to 1580 Hz in 20 Hz steps, derived from the name.
pub fn station_tone_hz(name: &str) -> f64 {
    400.0 + 20.0 * (fnv1a(name) % 60) as f64
}

/// Check word over time code and tag, so random blocks do not read as a frame.
pub fn check_word(ms: u32, tag: u16) -> u16 {
    let mixed = (ms ^ (tag as u32) << 7).wrapping_mul(0x9e37_79b1);
    (mixed >> 16) as u16 ^ 0x5a5a
}

/// The four bar colours (RGB) of a tag.
pub fn palette(tag: u16) -> [[u8; 3]; 4] {
    let mut out = [[0u8; 3]; 4];
    let base = (tag as u32 * 7) % 360;
    for (i, c) in out.iter_mut().enumerate() {
        *c = hue_rgb((base + i as u32 * 90) % 360);
    }
    out
}

fn hue_rgb(hue: u32) -> [u8; 3] {
    // Saturated but not extreme colours, so chroma subsampling and codec ranges keep them.
    let (hi, lo) = (200u32, 40u32);
    let f = hue % 60;
    let rise = lo + (hi - lo) * f / 60;
    let fall = hi - (hi - lo) * f / 60;
    let [r, g, b] = match hue / 60 {
        0 => [hi, rise, lo],
        1 => [fall, hi, lo],
        2 => [lo, hi, rise],
        3 => [lo, fall, hi],
        4 => [rise, lo, hi],
        _ => [hi, lo, fall],
    };
    [r as u8, g as u8, b as u8]
}

/// Block size in pixels of the code for a frame `width` wide.
pub fn block_size(width: u32) -> u32 {
    (width / CODE_BITS).max(2)
}

/// What a frame decodes to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameCode {
    /// Capture time, [`time_code_now`] units.
    pub ms: u32,
    /// Station tag.
    pub tag: u16,
}

/// Reads the code and checks the bars of a BGRx frame.
pub fn read_bgrx(data: &[u8], width: u32, height: u32, stride: usize) -> Option<FrameCode> {
    let code = read_code(data, width, height, stride)?;
    let b = block_size(width) as usize;
    let bars_top = 2 * b;
    let bar_w = width as usize / 4;
    let bars = height as usize - bars_top;
    // At the bars' middle, or a little above it: the call screen's self view sits over
    // the lower right when it makes room for the "Add" button.
    let bars_match = |y: usize| {
        palette(code.tag).iter().enumerate().all(|(i, want)| {
            let x = i * bar_w + bar_w / 2;
            let p = &data[y * stride + x * 4..];
            let got = [p[2], p[1], p[0]];
            got.iter().zip(want).all(|(g, w)| (*g as i32 - *w as i32).abs() <= 48)
        })
    };
    (bars_match(bars_top + bars / 2) || bars_match(bars_top + bars * 2 / 5)).then_some(code)
}

/// Reads the code of a picture shown on a screen of `width`x`height`: filling it, or
/// letterboxed in it as the compositor places a 16:9 or 4:3 picture (centred, as large
/// as fits).
pub fn read_shown(data: &[u8], width: u32, height: u32, stride: usize) -> Option<FrameCode> {
    locate_shown(data, width, height, stride).map(|(code, _)| code)
}

/// As [`read_shown`], with where the picture sits.
pub fn locate_shown(data: &[u8], width: u32, height: u32, stride: usize) -> Option<(FrameCode, Placement)> {
    let whole = Placement {
        offset: 0,
        width,
        height,
    };
    if let Some(code) = read_bgrx(data, width, height, stride) {
        return Some((code, whole));
    }
    let screen = crate::base::rect::Rect {
        x: 0,
        y: 0,
        w: width as i32,
        h: height as i32,
    };
    [(16, 9), (4, 3)].into_iter().find_map(|(aw, ah)| {
        let at = screen.fit(aw, ah);
        if at == screen {
            return None;
        }
        let placed = Placement {
            offset: at.y as usize * stride + at.x as usize * 4,
            width: at.w as u32,
            height: at.h as u32,
        };
        let code = read_bgrx(data.get(placed.offset..)?, placed.width, placed.height, stride)?;
        Some((code, placed))
    })
}

/// Reads the code rows alone (time code, tag and their check word) of a BGRx frame.
fn read_code(data: &[u8], width: u32, height: u32, stride: usize) -> Option<FrameCode> {
    let b = block_size(width) as usize;
    // The last row need not run a whole stride: a cell of a larger frame is read in place.
    let needed = stride * (height as usize).saturating_sub(1) + width as usize * 4;
    if height < 3 * b as u32 || stride < width as usize * 4 || data.len() < needed {
        return None;
    }
    let luma = |x: usize, y: usize| {
        let p = &data[y * stride + x * 4..];
        (p[0] as u32 + p[1] as u32 + p[2] as u32) / 3
    };
    let row = |r: usize| {
        (0..CODE_BITS as usize).fold(0u32, |acc, i| {
            // Mean of the block's inner quarter: edges blur under compression.
            let (x0, y0) = (i * b + b / 4, r * b + b / 4);
            let n = (b / 2).max(1);
            let sum: u32 = (0..n)
                .flat_map(|dy| (0..n).map(move |dx| (dx, dy)))
                .map(|(dx, dy)| luma(x0 + dx, y0 + dy))
                .sum();
            (acc << 1) | u32::from(sum / (n * n) as u32 > 128)
        })
    };
    let ms = row(0);
    let second = row(1);
    let (tag, check) = ((second >> 16) as u16, second as u16);
    (check == check_word(ms, tag)).then_some(FrameCode { ms, tag })
}

/// The codes in the four cells of a 2x2 grid picture (a call of several stations), in
/// cell order, skipping cells without one. The code rows alone: the call screen's
/// buttons cover the lower cells' bars.
pub fn read_cells(data: &[u8], width: u32, height: u32, stride: usize) -> Vec<FrameCode> {
    let (w, h) = (width as usize / 2, height as usize / 2);
    (0..4)
        .filter_map(|cell| {
            let start = (cell / 2) * h * stride + (cell % 2) * w * 4;
            read_code(data.get(start..)?, w as u32, h as u32, stride)
        })
        .collect()
}

/// Latency in ms of a frame captured at time code `code`, if plausible (under 10 s).
pub fn latency_ms(code: u32) -> Option<f64> {
    let ticks = time_code_now().wrapping_sub(code);
    (ticks < 100_000).then(|| ticks as f64 / 10.0)
}

/// Readings of the test display.
#[derive(Debug, Default)]
pub struct DisplayProbe {
    /// Frames shown.
    pub frames: u64,
    /// Frames recognised, per station tag.
    pub recognised: BTreeMap<u16, u64>,
    /// Recent glass-to-glass latencies in ms.
    pub latencies: VecDeque<f64>,
    last_code: Option<FrameCode>,
    /// The screen is blanked (DPMS off).
    pub screen_off: bool,
    /// When the last new camera frame was shown (monotonic ms).
    last_new_ms: Option<u64>,
    /// The picture's freezes: the last ones, as (from, to) in monotonic ms.
    pub freezes: VecDeque<(u64, u64)>,
    /// Where the last recognised picture sat and whose it was, for the fidelity of the
    /// frames after it (a damaged one may not be recognised).
    last_picture: Option<(Placement, u16)>,
    /// The fidelity of the frames shown since the first recognised one: the sum of
    /// their PSNRs in dB, and how many.
    pub psnr_sum_db: f64,
    /// See `psnr_sum_db`.
    pub psnr_frames: u64,
}

/// A picture that stays this long without a new frame is frozen (three frames at
/// 30 fps).
pub const FREEZE_MS: u64 = 100;
/// How many freezes are kept.
const FREEZES_KEPT: usize = 64;

impl DisplayProbe {
    /// Records one shown screen. A screen redrawn around the same camera frame (clock or
    /// timer tick) counts as shown but not as a new frame: its latency was taken already.
    pub fn record(&mut self, code: Option<FrameCode>) -> bool {
        self.frames += 1;
        if code.is_some() && code == self.last_code {
            return false;
        }
        self.last_code = code;
        if let Some(code) = code {
            let now = monotonic_ms();
            if let Some(last) = self.last_new_ms.filter(|last| now.saturating_sub(*last) > FREEZE_MS) {
                if self.freezes.len() == FREEZES_KEPT {
                    self.freezes.pop_front();
                }
                self.freezes.push_back((last, now));
            }
            self.last_new_ms = Some(now);
            *self.recognised.entry(code.tag).or_default() += 1;
            if let Some(latency) = latency_ms(code.ms) {
                if self.latencies.len() == LATENCY_WINDOW {
                    self.latencies.pop_front();
                }
                self.latencies.push_back(latency);
            }
        }
        true
    }

    /// Records the fidelity of a new screen (`shown`: where its picture was recognised,
    /// if it was): the bars' PSNR where the last recognised picture sat.
    pub fn record_fidelity(&mut self, screen: &[u8], stride: usize, shown: Option<(FrameCode, Placement)>) {
        if let Some((code, at)) = shown {
            self.last_picture = Some((at, code.tag));
        }
        let Some((at, tag)) = self.last_picture else { return };
        if let Some(db) = fidelity::bars_psnr(screen, stride, at, tag) {
            self.psnr_sum_db += db;
            self.psnr_frames += 1;
        }
    }

    /// Records the codes of a grid picture's cells: who is seen (their latency went
    /// through the host's grid, so it is not this call's).
    pub fn record_cells(&mut self, codes: &[FrameCode]) {
        for code in codes {
            *self.recognised.entry(code.tag).or_default() += 1;
        }
    }

    /// Latency percentile `p` (0..=100) in ms.
    pub fn latency_percentile(&self, p: f64) -> Option<f64> {
        percentile(self.latencies.iter().copied().collect(), p)
    }
}

/// Percentile `p` of `values` (nearest rank).
pub fn percentile(mut values: Vec<f64>, p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values.get(rank).copied()
}

/// Readings of the recording speaker.
#[derive(Debug, Default)]
pub struct SpeakerProbe {
    /// Samples played.
    pub samples: u64,
    /// Sample rate of the recording.
    pub rate: u32,
    /// The last half second played.
    pub recent: VecDeque<i16>,
}

impl SpeakerProbe {
    /// The dominant frequency of the last half second, if it is loud enough to be a tone.
    pub fn tone_hz(&self) -> Option<f64> {
        let samples: Vec<f64> = self.recent.iter().map(|s| *s as f64).collect();
        estimate_tone(&samples, self.rate)
    }
}

/// Frequency of a tone in `samples` by counting zero crossings; None for silence.
pub fn estimate_tone(samples: &[f64], rate: u32) -> Option<f64> {
    if samples.len() < 1000 || rate == 0 {
        return None;
    }
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    let rms = (samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / samples.len() as f64).sqrt();
    if rms < 300.0 {
        return None;
    }
    // Hysteresis of a tenth of the RMS keeps codec noise from adding crossings.
    let h = rms / 10.0;
    let mut above = samples[0] - mean > 0.0;
    let (mut first, mut last, mut count) = (None, 0usize, 0usize);
    for (i, s) in samples.iter().enumerate() {
        let v = s - mean;
        if !above && v > h {
            above = true;
            if first.is_none() {
                first = Some(i);
            } else {
                count += 1;
            }
            last = i;
        } else if above && v < -h {
            above = false;
        }
    }
    let first = first?;
    (count > 0).then(|| count as f64 * rate as f64 / (last - first) as f64)
}

/// The share of the energy of `samples` at `hz`, measured over 50 ms blocks (short
/// enough that a slightly wrong estimate of `hz` does not drift out of phase).
pub fn tone_share(samples: &[f64], rate: f64, hz: f64) -> f64 {
    let block = (rate / 20.0) as usize;
    let (mut at_tone, mut total) = (0.0, 0.0);
    for chunk in samples.chunks_exact(block) {
        let (mut re, mut im) = (0.0, 0.0);
        for (i, s) in chunk.iter().enumerate() {
            let phase = std::f64::consts::TAU * hz * i as f64 / rate;
            re += s * phase.cos();
            im += s * phase.sin();
        }
        at_tone += 2.0 * (re * re + im * im) / block as f64;
        total += chunk.iter().map(|s| s * s).sum::<f64>();
    }
    if total == 0.0 {
        0.0
    } else {
        at_tone / total
    }
}

/// Probes of one station's test devices, shared with the station for `status`.
#[derive(Debug, Clone, Default)]
pub struct Probes {
    /// This station's own tag (what its camera shows).
    pub tag: u16,
    /// This station's own test tone.
    pub tone_hz: Option<f64>,
    /// The test display's readings.
    pub display: Option<Arc<Mutex<DisplayProbe>>>,
    /// The recording speaker's readings.
    pub speaker: Option<Arc<Mutex<SpeakerProbe>>>,
    /// How often the pattern camera was opened (its users share one capture).
    pub camera_opens: Option<Arc<std::sync::atomic::AtomicU64>>,
}

/// A snapshot of the probes for status output.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProbeReport {
    /// Our own tag.
    pub own_tag: u16,
    /// Our own tone.
    pub own_tone_hz: Option<f64>,
    /// Frames the display showed.
    pub frames_shown: u64,
    /// Frames recognised per tag.
    pub recognised: BTreeMap<u16, u64>,
    /// Latency p50 in ms.
    pub latency_p50_ms: Option<f64>,
    /// Latency p95 in ms.
    pub latency_p95_ms: Option<f64>,
    /// Samples the speaker played.
    pub samples_played: u64,
    /// Tone heard now.
    pub tone_heard_hz: Option<f64>,
    /// The test display is blanked.
    pub screen_off: bool,
    /// How often the pattern camera was opened since the station started.
    pub camera_opens: u64,
    /// The latency samples behind the percentiles (not serialised: thousands of them).
    #[serde(skip)]
    pub latencies: Vec<f64>,
    /// The picture's last freezes (longer than [`FREEZE_MS`]): from and to, in
    /// monotonic ms.
    pub freezes: Vec<(u64, u64)>,
    /// The fidelity of the pictures shown: the sum of their bars' PSNR in dB
    /// ([`fidelity::bars_psnr`]) and how many; a mean over a window is the difference
    /// of two readings.
    pub psnr_sum_db: f64,
    /// See `psnr_sum_db`.
    pub psnr_frames: u64,
    /// When the last new picture was recognised on the display (monotonic ms): a
    /// freeze still going on began then.
    pub last_new_picture_ms: Option<u64>,
    /// The last half second the speaker played and its rate (not serialised), for tests
    /// that listen for several tones at once.
    #[serde(skip)]
    pub recent_sound: (Vec<i16>, u32),
}

impl Probes {
    /// Forgets what was measured so far (start of a measurement window).
    pub fn reset(&self) {
        if let Some(d) = &self.display {
            let mut d = d.lock().unwrap();
            *d = DisplayProbe {
                screen_off: d.screen_off,
                ..DisplayProbe::default()
            };
        }
        if let Some(s) = &self.speaker {
            let mut s = s.lock().unwrap();
            s.samples = 0;
            s.recent.clear();
        }
    }

    /// Takes a snapshot.
    pub fn report(&self) -> ProbeReport {
        let mut r = ProbeReport {
            own_tag: self.tag,
            own_tone_hz: self.tone_hz,
            frames_shown: 0,
            recognised: BTreeMap::new(),
            latency_p50_ms: None,
            latency_p95_ms: None,
            samples_played: 0,
            tone_heard_hz: None,
            screen_off: false,
            camera_opens: self
                .camera_opens
                .as_ref()
                .map_or(0, |n| n.load(std::sync::atomic::Ordering::Relaxed)),
            latencies: Vec::new(),
            freezes: Vec::new(),
            psnr_sum_db: 0.0,
            psnr_frames: 0,
            last_new_picture_ms: None,
            recent_sound: (Vec::new(), 0),
        };
        if let Some(d) = &self.display {
            let d = d.lock().unwrap();
            r.frames_shown = d.frames;
            r.recognised = d.recognised.clone();
            r.latency_p50_ms = d.latency_percentile(50.0);
            r.latency_p95_ms = d.latency_percentile(95.0);
            r.latencies = d.latencies.iter().copied().collect();
            r.freezes = d.freezes.iter().copied().collect();
            (r.psnr_sum_db, r.psnr_frames) = (d.psnr_sum_db, d.psnr_frames);
            r.last_new_picture_ms = d.last_new_ms;
            r.screen_off = d.screen_off;
        }
        if let Some(s) = &self.speaker {
            let s = s.lock().unwrap();
            r.samples_played = s.samples;
            r.tone_heard_hz = s.tone_hz();
            r.recent_sound = (s.recent.iter().copied().collect(), s.rate);
        }
        r
    }
}

pub mod fidelity;
pub use fidelity::Placement;

#[cfg(test)]
mod tests;
