//! The lowest layer: what every other part shares and that needs nothing of theirs.
//! Rectangles ([`rect`]), the monotonic clock ([`clock`]), counts of whole-picture
//! copies ([`copies`]), GStreamer's initialisation ([`gst`]), certificate fingerprints
//! ([`fingerprint`]) and text made safe to show ([`text`]).

pub mod clock;
pub mod copies;
pub mod fingerprint;
pub mod gst;
pub mod rect;
pub mod text;
