//! GStreamer, initialised once per process before any element is made.

/// Initialises GStreamer (idempotent).
pub fn init() -> Result<(), gstreamer::glib::Error> {
    gstreamer::init()
}
