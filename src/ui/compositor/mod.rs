//! The compositor: keeps the current [`Screen`], the last remote picture and the self
//! view, and draws them into the buffer the display shows next. Remote pictures arrive
//! on GStreamer's streaming thread; screen changes come from the station loop.
//!
//! Each remote picture is copied once, straight into the display's buffer, around the
//! overlay (texts, buttons, bands). The overlay is drawn once per change of screen or
//! message into a canvas of its own and copied into a display buffer only where that
//! buffer does not hold it yet. The last picture is kept by reference (the decoder's
//! buffer), not copied, for redraws between pictures.

use super::canvas::{Canvas, Rect, Rgb};
use super::{render_overlay, self_view_rect, shows_video, Screen, BACKGROUND};
use crate::base::clock::thread_cpu_ns;
use crate::base::copies::{self, Path};
use crate::device::{Display, FrameMut, FrameView, Picture, Shared, VideoFrame};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tracing::{debug, info};

/// Draws the screen for a display.
pub struct Compositor {
    display: Shared<dyn Display>,
    /// Everything but the pictures, drawn when the screen or its message changes.
    overlay: Canvas,
    /// Where the overlay covers the remote picture (all of the screen when none shows).
    covered: Arc<Vec<Rect>>,
    /// Where the remote picture sits under the overlay, while one shows.
    picture_at: Option<Rect>,
    /// The overlay's number; it changes with the overlay.
    generation: u64,
    /// The overlay must be drawn again before the next present.
    stale: bool,
    /// What the last presents drew, newest first.
    history: VecDeque<Drawn>,
    screen: Screen,
    message: Option<String>,
    /// The last remote picture, held by reference.
    remote: Option<Picture>,
    /// Our own camera, small, and the same scaled to where it is shown.
    self_view: Option<VideoFrame>,
    self_scaled: Option<(Rect, Canvas)>,
    /// When the last remote frame was drawn: while frames flow, each one draws the
    /// current overlay, so a new timer or message needs no drawing of its own.
    last_remote: Option<std::time::Instant>,
}

/// What one present drew into its buffer.
#[derive(Debug, Clone)]
struct Drawn {
    generation: u64,
    picture_at: Option<Rect>,
    self_at: Option<Rect>,
    /// What its overlay covered.
    covered: Arc<Vec<Rect>>,
}

/// Presents remembered: more than any display keeps buffers.
const HISTORY: usize = 4;

/// Frames closer together than this are "flowing".
const FLOWING: std::time::Duration = std::time::Duration::from_millis(250);

/// CPU time all compositors spent drawing, in nanoseconds (for the benchmark's parts):
/// for received pictures (on the receiving thread) and for screen changes.
static PICTURES_NS: AtomicU64 = AtomicU64::new(0);
static SCREENS_NS: AtomicU64 = AtomicU64::new(0);

/// CPU seconds the process's compositors have spent drawing and presenting screens:
/// for received pictures (on the thread that decodes them), and for everything else.
pub fn drawing_cpu_seconds() -> (f64, f64) {
    let s = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64 / 1e9;
    (s(&PICTURES_NS), s(&SCREENS_NS))
}

impl Compositor {
    /// A compositor for `display`, `width`x`height` pixels, showing `screen`.
    pub fn new(display: Shared<dyn Display>, width: u32, height: u32, screen: Screen) -> Self {
        let mut c = Self {
            display,
            overlay: Canvas::new(width, height),
            covered: Arc::default(),
            picture_at: None,
            generation: 0,
            stale: true,
            history: VecDeque::new(),
            screen,
            message: None,
            remote: None,
            self_view: None,
            self_scaled: None,
            last_remote: None,
        };
        c.compose();
        c
    }

    /// The screen being shown.
    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    /// The message shown across the screen, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Size of the screen.
    pub fn size(&self) -> (u32, u32) {
        (self.overlay.width, self.overlay.height)
    }

    /// Shows `screen` with `message`; draws only when something changed.
    pub fn set_screen(&mut self, screen: Screen, message: Option<String>) {
        if screen == self.screen && message == self.message {
            return;
        }
        if !shows_video(&screen) {
            self.remote = None;
            self.self_view = None;
            self.last_remote = None;
        }
        let changed = std::mem::discriminant(&screen) != std::mem::discriminant(&self.screen);
        self.screen = screen;
        self.message = message;
        self.stale = true;
        // The same screen with a new timer or message while the picture moves: the next
        // frame shows it. Drawing here would hold the station's loop for a frame.
        let flowing = self.last_remote.is_some_and(|t| t.elapsed() < FLOWING);
        if changed || !flowing {
            let started = thread_cpu_ns();
            self.compose();
            SCREENS_NS.fetch_add(thread_cpu_ns().saturating_sub(started), Ordering::Relaxed);
        }
        if changed {
            // What the person in front of the station sees, for the journal.
            info!(screen = self.screen.kind(), "screen shows");
        }
    }

    /// A decoded remote picture: drawn straight away and kept (by reference) for
    /// redraws between pictures.
    pub fn remote_frame(&mut self, picture: Picture) {
        let started = thread_cpu_ns();
        self.remote = Some(picture);
        self.last_remote = Some(std::time::Instant::now());
        self.compose();
        PICTURES_NS.fetch_add(thread_cpu_ns().saturating_sub(started), Ordering::Relaxed);
    }

    /// A copy of the last remote picture, while pictures flow (a ringing caller's
    /// preview, for the visitor log).
    pub fn remote_picture(&self) -> Option<VideoFrame> {
        let flowing = self.last_remote.is_some_and(|t| t.elapsed() < FLOWING);
        self.remote.as_ref().filter(|_| flowing).and_then(Picture::to_frame)
    }

    /// Our own camera, small, BGRx: shown at the next redraw.
    pub fn self_frame(&mut self, frame: VideoFrame) {
        self.self_view = Some(frame);
        self.self_scaled = None;
    }

    /// Draws the overlay again if the screen, its message or the picture's place
    /// changed.
    fn refresh_overlay(&mut self, picture_at: Option<Rect>) {
        if !self.stale && picture_at == self.picture_at {
            return;
        }
        let background = if picture_at.is_some() { Rgb(0, 0, 0) } else { BACKGROUND };
        let bounds = self.overlay.bounds();
        self.overlay.fill(bounds, background);
        self.covered = Arc::new(render_overlay(
            &mut self.overlay,
            &self.screen,
            picture_at.is_some(),
            self.message.as_deref(),
        ));
        self.picture_at = picture_at;
        self.generation += 1;
        self.stale = false;
    }

    /// Scales our camera to where it goes on this screen, if it shows there; returns
    /// that place.
    fn scale_self_view(&mut self) -> Option<Rect> {
        let (w, h) = (self.overlay.width as i32, self.overlay.height as i32);
        let me = self.self_view.as_ref()?;
        let at = self_view_rect(&self.screen, w, h)?.fit(me.format.width, me.format.height);
        if self.self_scaled.as_ref().is_none_or(|(r, _)| *r != at) {
            let mut scaled = Canvas::new(at.w.max(0) as u32, at.h.max(0) as u32);
            let whole = scaled.bounds();
            scaled.blit(me.view(), whole);
            self.self_scaled = Some((at, scaled));
        }
        Some(at)
    }

    fn compose(&mut self) {
        let remote = self.remote.clone().filter(|_| shows_video(&self.screen));
        let bounds = self.overlay.bounds();
        let picture_at = remote.as_ref().map(|p| bounds.fit(p.format.width, p.format.height));
        self.refresh_overlay(picture_at);
        let generation = self.generation;
        let self_at = self.scale_self_view();
        let self_view = self_at.and(self.self_scaled.as_ref()).map(|(r, c)| (*r, c.view()));
        let (overlay, covered, history) = (&self.overlay, &self.covered, &self.history);
        let mut draw = |mut buffer: FrameMut<'_>, age: Option<u32>| {
            let before = age.and_then(|a| history.get(a.checked_sub(1)? as usize));
            match before {
                Some(d) if d.generation == generation => {}
                // Same place for the picture: only what the overlay covers, now or then,
                // changes (the picture, drawn next, covers the rest of its place).
                Some(d) if picture_at.is_some() && d.picture_at == picture_at => {
                    for r in covered.iter().chain(d.covered.iter()) {
                        copy_rect(&mut buffer, overlay.view(), *r);
                    }
                }
                _ => {
                    copies::count(Path::Overlay);
                    buffer.copy_from(overlay.view());
                }
            }
            // Where our camera was and is no longer: what lies under it.
            if let Some(old) = before.and_then(|d| d.self_at).filter(|r| Some(*r) != self_at) {
                copy_rect(&mut buffer, overlay.view(), old);
            }
            if let (Some(picture), Some(at)) = (&remote, picture_at) {
                match (picture.drawer(), picture.view()) {
                    // Converted and scaled by the picture itself, straight into the
                    // buffer: what covers it goes back on top.
                    (Some(drawer), _) => {
                        if drawer.draw_into(&mut buffer, (at.x, at.y, at.w, at.h)) {
                            for r in covered.iter().filter_map(|r| r.intersection(&at)) {
                                copy_rect(&mut buffer, overlay.view(), r);
                                copies::count_cover((r.w as u64) * (r.h as u64));
                            }
                        }
                    }
                    (None, Some(view)) => {
                        let mut over: Vec<Rect> = covered.to_vec();
                        over.extend(self_at);
                        copies::count(Path::Receive);
                        draw_around(&mut buffer, view, at, &over);
                    }
                    (None, None) => {}
                }
            }
            if let Some((at, me)) = self_view {
                draw_around(&mut buffer, me, at, covered);
            }
        };
        let shown = self.display.lock().unwrap().present(&mut draw);
        if let Err(e) = shown {
            debug!(error = %e, "display refused the screen");
        }
        self.history.push_front(Drawn {
            generation,
            picture_at,
            self_at,
            covered: self.covered.clone(),
        });
        self.history.truncate(HISTORY);
    }
}

/// Copies `r` of `from` (the same size as `to`) into `to`.
fn copy_rect(to: &mut FrameMut<'_>, from: FrameView<'_>, r: Rect) {
    let (x0, y0) = (r.x.max(0) as usize, r.y.max(0) as usize);
    let x1 = ((r.x + r.w).max(0) as usize).min(to.width as usize);
    let y1 = ((r.y + r.h).max(0) as usize).min(to.height as usize);
    if x0 >= x1 {
        return;
    }
    for y in y0..y1 {
        let (d, s) = (y * to.stride, y * from.stride);
        to.data[d + x0 * 4..d + x1 * 4].copy_from_slice(&from.data[s + x0 * 4..s + x1 * 4]);
    }
}

/// Draws `picture` (BGRx) into `at` of `to`, except where `over` covers it: row by row
/// when the sizes match, nearest neighbour otherwise.
fn draw_around(to: &mut FrameMut<'_>, picture: FrameView<'_>, at: Rect, over: &[Rect]) {
    let (fw, fh) = (picture.format.width as usize, picture.format.height as usize);
    if fw == 0 || fh == 0 || at.w <= 0 || at.h <= 0 {
        return;
    }
    let same_size = at.w as usize == fw && at.h as usize == fh;
    let x0 = at.x.clamp(0, to.width as i32);
    let x1 = (at.x + at.w).clamp(0, to.width as i32);
    let y0 = at.y.clamp(0, to.height as i32);
    let y1 = (at.y + at.h).clamp(0, to.height as i32);
    let mut spans = Vec::with_capacity(8);
    for y in y0..y1 {
        open_spans(&mut spans, x0, x1, y, over);
        let sy = (y - at.y) as usize;
        let sy = if same_size { sy } else { sy * fh / at.h as usize };
        let src = &picture.data[sy * picture.stride..];
        let dst = &mut to.data[y as usize * to.stride..];
        for &(a, b) in &spans {
            let (a, b) = (a as usize, b as usize);
            let sx = a - at.x as usize;
            if same_size {
                dst[a * 4..b * 4].copy_from_slice(&src[sx * 4..(sx + b - a) * 4]);
                continue;
            }
            for x in a..b {
                let sx = (x - at.x as usize) * fw / at.w as usize;
                dst[x * 4..x * 4 + 4].copy_from_slice(&src[sx * 4..sx * 4 + 4]);
            }
        }
    }
}

/// The parts of row `y` between `x0` and `x1` that no rectangle of `over` covers.
fn open_spans(spans: &mut Vec<(i32, i32)>, x0: i32, x1: i32, y: i32, over: &[Rect]) {
    spans.clear();
    spans.push((x0, x1));
    for r in over.iter().filter(|r| y >= r.y && y < r.y + r.h) {
        let (cut0, cut1) = (r.x, r.x + r.w);
        let mut i = 0;
        while i < spans.len() {
            let (a, b) = spans[i];
            if cut1 <= a || cut0 >= b {
                i += 1;
                continue;
            }
            spans.remove(i);
            if cut1 < b {
                spans.insert(i, (cut1, b));
            }
            if cut0 > a {
                spans.insert(i, (a, cut0));
                i += 1;
            }
        }
    }
}

/// The screen takes the call's pictures straight from the decoder.
impl crate::device::PictureSink for std::sync::Mutex<Compositor> {
    fn show(&self, picture: Picture) {
        self.lock().unwrap_or_else(|e| e.into_inner()).remote_frame(picture)
    }
}

#[cfg(test)]
mod tests;
