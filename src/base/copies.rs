//! Counts of whole-picture copies our code makes on a call's two paths, so the
//! benchmark can say how many copies each frame costs (the codecs' own work is not
//! counted: it is the same in any program). Every place that copies a whole picture
//! calls [`count`]; a relaxed atomic add is all it costs.

use std::sync::atomic::{AtomicU64, Ordering};

/// Which way the picture goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Camera to wire: capture, hand-over to the encoder.
    Send,
    /// Wire to screen: decoded picture to the buffer the display shows.
    Receive,
    /// The screen's still parts (texts, buttons, bars), copied whole into a display
    /// buffer that does not hold them yet: when the screen changes, not per picture.
    Overlay,
}

static SEND: AtomicU64 = AtomicU64::new(0);
static RECEIVE: AtomicU64 = AtomicU64::new(0);
static OVERLAY: AtomicU64 = AtomicU64::new(0);

fn counter(path: Path) -> &'static AtomicU64 {
    match path {
        Path::Send => &SEND,
        Path::Receive => &RECEIVE,
        Path::Overlay => &OVERLAY,
    }
}

/// One whole picture was copied on `path`.
pub fn count(path: Path) {
    counter(path).fetch_add(1, Ordering::Relaxed);
}

/// Copies on `path` since the process started (take differences).
pub fn total(path: Path) -> u64 {
    counter(path).load(Ordering::Relaxed)
}

static COVER_PIXELS: AtomicU64 = AtomicU64::new(0);

/// `pixels` of the screen's still parts were copied back over a picture (the buttons
/// and bands that cover it; the picture was drawn under them).
pub fn count_cover(pixels: u64) {
    COVER_PIXELS.fetch_add(pixels, Ordering::Relaxed);
}

/// Pixels copied back over pictures since the process started.
pub fn cover_pixels() -> u64 {
    COVER_PIXELS.load(Ordering::Relaxed)
}
