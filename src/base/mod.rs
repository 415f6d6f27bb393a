//! The lowest layer: what every other part shares and that needs nothing of theirs.
//! Rectangles ([`rect`]), the monotonic clock and bounded waits ([`clock`]), counts of whole-picture
//! copies ([`copies`]), the heap's figures ([`heap`]), GStreamer's initialisation ([`gst`]), certificate fingerprints
//! ([`fingerprint`]), text made safe to show ([`text`]), secrets taken out of log
//! lines ([`redact`]) and files that survive a power cut ([`durable`]).

pub mod clock;
pub mod copies;
pub mod durable;
pub mod fingerprint;
pub mod gst;
pub mod heap;
pub mod rect;
pub mod redact;
pub mod text;
