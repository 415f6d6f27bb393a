//! Codec element choice: probe the GStreamer registry once at start, hardware first.

use tracing::info;

/// Chosen H.264 elements.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CodecChoice {
    /// H.264 encoder element.
    pub h264_encoder: String,
    /// H.264 decoder element.
    pub h264_decoder: String,
}

/// Encoders in order of preference: the V4L2 stateful hardware encoder (Pi 4 and older),
/// then software. A Pi 5 has no H.264 encoder block, so software is a first-class path.
pub const ENCODERS: &[&str] = &["v4l2h264enc", "x264enc", "openh264enc"];
/// Decoders in order of preference.
pub const DECODERS: &[&str] = &["v4l2h264dec", "avdec_h264", "openh264dec"];

/// Errors of codec probing.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// No usable element of a kind.
    #[error("no H.264 {kind} found (looked for {looked}); install gstreamer1.0-plugins-ugly (x264enc) and gstreamer1.0-libav (avdec_h264)")]
    Missing {
        /// encoder or decoder.
        kind: &'static str,
        /// The names tried.
        looked: String,
    },
}

fn first_available(names: &[&str], exclude: &[String]) -> Option<String> {
    names
        .iter()
        .filter(|n| !exclude.iter().any(|e| e == *n))
        .find(|n| gstreamer::ElementFactory::find(n).is_some())
        .map(|s| s.to_string())
}

/// Picks the best available encoder and decoder; `software_only` skips hardware elements
/// (used by the benchmark and when the hardware element fails to start).
pub fn probe(software_only: bool) -> Result<CodecChoice, CodecError> {
    let exclude: Vec<String> = if software_only {
        vec!["v4l2h264enc".into(), "v4l2h264dec".into()]
    } else {
        vec![]
    };
    let h264_encoder = first_available(ENCODERS, &exclude).ok_or_else(|| CodecError::Missing {
        kind: "encoder",
        looked: ENCODERS.join(", "),
    })?;
    let h264_decoder = first_available(DECODERS, &exclude).ok_or_else(|| CodecError::Missing {
        kind: "decoder",
        looked: DECODERS.join(", "),
    })?;
    let hardware = h264_encoder.starts_with("v4l2") || h264_decoder.starts_with("v4l2");
    info!(encoder = %h264_encoder, decoder = %h264_decoder, hardware, "H.264 elements chosen");
    Ok(CodecChoice {
        h264_encoder,
        h264_decoder,
    })
}

/// Elements every call builds, besides the chosen H.264 pair.
const CALL_ELEMENTS: &[&str] = &[
    "rtpbin",
    "udpsrc",
    "udpsink",
    "appsrc",
    "appsink",
    "videoconvert",
    "videoscale",
    "jpegdec",
    "rtph264pay",
    "rtph264depay",
    "audioconvert",
    "audioresample",
    "volume",
    "opusenc",
    "opusdec",
    "rtpopuspay",
    "rtpopusdepay",
    "mulawenc",
    "mulawdec",
    "webrtcdsp",
    "webrtcechoprobe",
];

/// Loads the plugins and libraries of every element a call uses, so the first call after
/// boot does not wait for them (libav alone pulls in dozens of shared libraries: seconds
/// on a slow SD card). It runs before the station says it is ready: loading a plugin
/// holds GStreamer's registry, which would stall SIP and the UI if a call came meanwhile.
pub fn warm_up(choice: &CodecChoice) {
    let started = std::time::Instant::now();
    let names = CALL_ELEMENTS
        .iter()
        .copied()
        .chain([choice.h264_encoder.as_str(), choice.h264_decoder.as_str()]);
    // Creating an element loads its plugin; it opens no device until it starts.
    let missing: Vec<&str> = names
        .filter(|n| gstreamer::ElementFactory::make(n).build().is_err())
        .collect();
    info!(
        ms = started.elapsed().as_millis() as u64,
        ?missing,
        "media elements loaded"
    );
}
