use super::*;
use crate::device::{DeviceError, PixelFormat, VideoFormat};
use crate::ui::render;
use std::path::Path as FilePath;
use std::sync::{Arc, Mutex};

/// A display with `buffers` buffers shown in turn (1: the test display's way, 2: a
/// page-flipping screen's), keeping what each present drew.
struct Buffers {
    size: (u32, u32),
    buffers: Vec<Vec<u8>>,
    drawn: Vec<bool>,
    next: usize,
    shown: Arc<Mutex<Vec<u8>>>,
}

impl Buffers {
    fn new(w: u32, h: u32, count: usize) -> (Self, Arc<Mutex<Vec<u8>>>) {
        let shown = Arc::new(Mutex::new(Vec::new()));
        let display = Self {
            size: (w, h),
            // Garbage in every buffer at first: nothing may rely on it.
            buffers: vec![vec![0x5a; (w * h * 4) as usize]; count],
            drawn: vec![false; count],
            next: 0,
            shown: shown.clone(),
        };
        (display, shown)
    }
}

impl Display for Buffers {
    fn present(&mut self, draw: &mut dyn FnMut(FrameMut<'_>, Option<u32>)) -> Result<(), DeviceError> {
        let i = self.next;
        let age = self.drawn[i].then_some(self.buffers.len() as u32);
        draw(
            FrameMut {
                width: self.size.0,
                height: self.size.1,
                stride: self.size.0 as usize * 4,
                data: &mut self.buffers[i],
            },
            age,
        );
        self.drawn[i] = true;
        *self.shown.lock().unwrap() = self.buffers[i].clone();
        self.next = (i + 1) % self.buffers.len();
        Ok(())
    }
    fn size(&self) -> (u32, u32) {
        self.size
    }
    fn set_power(&mut self, _: bool) -> Result<(), DeviceError> {
        Ok(())
    }
    fn screenshot(&self, _: &FilePath) -> Result<(), DeviceError> {
        Ok(())
    }
}

/// A BGRx picture whose every pixel differs from its neighbours.
fn picture(w: u32, h: u32, seed: u8) -> Picture {
    let data: Vec<u8> = (0..w * h)
        .flat_map(|i| [(i % 251) as u8 ^ seed, (i / 7 % 253) as u8, (i / 13 % 241) as u8, 255])
        .collect();
    let format = VideoFormat {
        pixel: PixelFormat::Bgrx,
        width: w,
        height: h,
        fps: 0,
    };
    Picture::new(format, w as usize * 4, data)
}

fn in_call(seconds: u64, can_add: bool) -> Screen {
    Screen::InCall {
        peer: "Front door (encrypted)".into(),
        seconds,
        on_hold: false,
        door_open: true,
        replies: vec!["Coming!".into()],
        can_add,
    }
}

/// What drawing everything from scratch gives.
fn expected(
    (w, h): (u32, u32),
    screen: &Screen,
    remote: Option<&Picture>,
    me: Option<&VideoFrame>,
    message: Option<&str>,
) -> Vec<u8> {
    let mut canvas = Canvas::new(w, h);
    render(
        &mut canvas,
        screen,
        remote.and_then(Picture::view),
        me.map(VideoFrame::view),
        message,
    );
    canvas.data
}

fn differing_pixels(a: &[u8], b: &[u8]) -> usize {
    a.chunks_exact(4).zip(b.chunks_exact(4)).filter(|(x, y)| x != y).count()
}

/// Drawing only what changed gives the same screen as drawing it all, whatever the
/// display's buffers held, through pictures, timers, messages, the self view and
/// screen changes, with one buffer and with two.
#[test]
fn drawing_only_what_changed_shows_the_same_screen() {
    let size = (320, 200);
    for buffers in [1, 2] {
        let (display, shown) = Buffers::new(size.0, size.1, buffers);
        let display: Shared<dyn Display> = Arc::new(Mutex::new(Box::new(display)));
        let mut c = Compositor::new(display, size.0, size.1, in_call(0, false));
        let me = VideoFrame {
            format: VideoFormat {
                pixel: PixelFormat::Bgrx,
                width: 40,
                height: 24,
                fps: 0,
            },
            stride: 160,
            data: (0..40 * 24 * 4).map(|i| (i * 7 % 256) as u8).collect(),
        };
        // Same size as shown (320x180 in 320x200), then a smaller picture scaled up.
        let steps: Vec<(Screen, Option<Picture>, bool, Option<&str>)> = vec![
            (in_call(1, false), Some(picture(320, 180, 1)), false, None),
            (in_call(1, false), Some(picture(320, 180, 2)), true, None),
            (in_call(2, false), Some(picture(320, 180, 3)), true, None),
            (
                in_call(2, false),
                Some(picture(320, 180, 4)),
                true,
                Some("Kitchen is busy"),
            ),
            (
                in_call(3, true),
                Some(picture(160, 90, 5)),
                true,
                Some("Kitchen is busy"),
            ),
            (in_call(3, true), Some(picture(160, 120, 6)), true, None),
            (in_call(4, false), Some(picture(320, 180, 7)), true, None),
            (in_call(4, false), Some(picture(320, 180, 8)), false, None),
        ];
        for (n, (screen, remote, with_me, message)) in steps.into_iter().enumerate() {
            c.set_screen(screen.clone(), message.map(str::to_string));
            if with_me {
                c.self_frame(me.clone());
            }
            if let Some(p) = remote.clone() {
                c.remote_frame(p);
            }
            let want = expected(size, &screen, remote.as_ref(), c.self_view.as_ref(), message);
            let got = shown.lock().unwrap().clone();
            assert_eq!(
                differing_pixels(&want, &got),
                0,
                "{buffers} buffer(s), step {n}: the screen differs from a full redraw"
            );
        }
        // Back to idle: the picture goes.
        let idle = Screen::Idle {
            station: "Hall".into(),
            clock: "12:00".into(),
            contacts: vec![],
            messages: vec![],
            replies: vec![],
            web: None,
            nearby: 0,
        };
        c.set_screen(idle.clone(), None);
        let want = expected(size, &idle, None, None, None);
        assert_eq!(differing_pixels(&want, &shown.lock().unwrap()), 0);
    }
}

/// The picture is drawn around what covers it: the spans left open in a row.
#[test]
fn open_spans_leave_out_what_covers_the_row() {
    let mut spans = Vec::new();
    let r = |x, w| Rect { x, y: 0, w, h: 10 };
    open_spans(&mut spans, 0, 100, 5, &[r(10, 20), r(50, 10)]);
    assert_eq!(spans, vec![(0, 10), (30, 50), (60, 100)]);
    open_spans(&mut spans, 0, 100, 20, &[r(10, 20)]);
    assert_eq!(spans, vec![(0, 100)], "a rectangle above the row covers nothing of it");
    open_spans(&mut spans, 0, 100, 5, &[r(-10, 200)]);
    assert!(spans.is_empty());
    open_spans(&mut spans, 0, 100, 5, &[r(0, 30), r(20, 30)]);
    assert_eq!(spans, vec![(50, 100)], "overlapping rectangles");
}
