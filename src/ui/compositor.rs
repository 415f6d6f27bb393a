//! The compositor: keeps the current [`Screen`], the last remote picture and the self
//! view, draws them together and hands the result to the display. Remote frames arrive on
//! GStreamer's streaming thread; screen changes come from the station loop.

use super::canvas::Canvas;
use super::{render, Screen};
use crate::device::{Display, FrameView, Shared, VideoFrame};
use tracing::{debug, info};

/// Draws the screen for a display.
pub struct Compositor {
    display: Shared<dyn Display>,
    canvas: Canvas,
    screen: Screen,
    message: Option<String>,
    remote: Option<VideoFrame>,
    self_view: Option<VideoFrame>,
    /// When the last remote frame was drawn: while frames flow, each one draws the
    /// current overlay, so a new timer or message needs no drawing of its own.
    last_remote: Option<std::time::Instant>,
}

/// Frames closer together than this are "flowing".
const FLOWING: std::time::Duration = std::time::Duration::from_millis(250);

impl Compositor {
    /// A compositor for `display`, `width`x`height` pixels, showing `screen`.
    pub fn new(display: Shared<dyn Display>, width: u32, height: u32, screen: Screen) -> Self {
        let mut c = Self {
            display,
            canvas: Canvas::new(width, height),
            screen,
            message: None,
            remote: None,
            self_view: None,
            last_remote: None,
        };
        c.redraw();
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
        (self.canvas.width, self.canvas.height)
    }

    /// Shows `screen` with `message`; redraws only when something changed.
    pub fn set_screen(&mut self, screen: Screen, message: Option<String>) {
        if screen == self.screen && message == self.message {
            return;
        }
        let video_screen = |s: &Screen| matches!(s, Screen::Ringing { .. } | Screen::InCall { .. });
        if !video_screen(&screen) {
            self.remote = None;
            self.self_view = None;
            self.last_remote = None;
        }
        let changed = std::mem::discriminant(&screen) != std::mem::discriminant(&self.screen);
        self.screen = screen;
        self.message = message;
        // The same screen with a new timer or message while the picture moves: the next
        // frame shows it. Drawing here would hold the station's loop for a whole frame
        // (hundreds of milliseconds on a slow board) and delay its SIP.
        let flowing = self.last_remote.is_some_and(|t| t.elapsed() < FLOWING);
        if changed || !flowing {
            self.redraw();
        }
        if changed {
            // What the person in front of the station sees, for the journal.
            info!(screen = self.screen.kind(), "screen shows");
        }
    }

    /// A decoded remote frame: draw it straight away, then keep a copy for redraws
    /// between frames (clock, timer, state changes).
    pub fn remote_frame(&mut self, frame: FrameView<'_>) {
        self.draw(Some(frame));
        self.last_remote = Some(std::time::Instant::now());
        VideoFrame::keep(&mut self.remote, frame);
    }

    /// A copy of the last remote picture, while pictures flow (a ringing caller's
    /// preview, for the visitor log).
    pub fn remote_picture(&self) -> Option<VideoFrame> {
        let flowing = self.last_remote.is_some_and(|t| t.elapsed() < FLOWING);
        self.remote.clone().filter(|_| flowing)
    }

    /// Our own camera, small, BGRx: shown at the next redraw.
    pub fn self_frame(&mut self, frame: VideoFrame) {
        self.self_view = Some(frame);
    }

    fn redraw(&mut self) {
        let remote = self.remote.take();
        self.draw(remote.as_ref().map(VideoFrame::view));
        self.remote = remote;
    }

    fn draw(&mut self, remote: Option<FrameView<'_>>) {
        let started = std::time::Instant::now();
        let self_view = self.self_view.as_ref().map(VideoFrame::view);
        render(
            &mut self.canvas,
            &self.screen,
            remote,
            self_view,
            self.message.as_deref(),
        );
        let drawn = started.elapsed();
        self.show();
        debug!(
            draw_ms = drawn.as_millis() as u64,
            show_ms = (started.elapsed() - drawn).as_millis() as u64,
            "screen drawn"
        );
    }

    fn show(&self) {
        if let Err(e) = self.display.lock().unwrap().show(self.canvas.view()) {
            debug!(error = %e, "display refused the screen");
        }
    }
}
