//! The devices, the media and the input a station uses: which backends, sizes, rates
//! and levels.

use super::default_true;
use serde::{Deserialize, Serialize};

/// Buttons and touchscreen.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// `evdev` reads /dev/input (and picks up devices plugged in later); `none` ignores input.
    #[serde(default = "default_input_backend")]
    pub backend: String,
    /// Key name → action: `call:NAME`, `answer`, `hangup`, `volume_up`, `volume_down`,
    /// `mute`, `door_open`. Default: Enter answers, Escape hangs up.
    #[serde(default = "default_keys")]
    pub keys: std::collections::BTreeMap<String, String>,
    /// Key name → action when the key is held for `long_press_ms`. Default: holding
    /// Enter hangs up, so a one-key keypad can do everything.
    #[serde(default = "default_long_press_keys")]
    pub long_press: std::collections::BTreeMap<String, String>,
    /// How long a press must be to count as long.
    #[serde(default = "default_long_press")]
    pub long_press_ms: u64,
    /// Presses closer than this to the previous release are contact bounce.
    #[serde(default = "default_debounce")]
    pub debounce_ms: u64,
    /// Raw touch range `[min_x, max_x, min_y, max_y]` when the driver's is wrong; a
    /// reversed range flips that axis.
    #[serde(default)]
    pub touch_calibration: Option<[i32; 4]>,
}

impl Default for InputConfig {
    fn default() -> Self {
        Self {
            backend: default_input_backend(),
            keys: default_keys(),
            long_press: default_long_press_keys(),
            long_press_ms: default_long_press(),
            debounce_ms: default_debounce(),
            touch_calibration: None,
        }
    }
}

fn default_input_backend() -> String {
    "evdev".into()
}

fn default_keys() -> std::collections::BTreeMap<String, String> {
    [("KEY_ENTER", "answer"), ("KEY_ESC", "hangup")]
        .map(|(k, a)| (k.to_string(), a.to_string()))
        .into()
}

fn default_long_press_keys() -> std::collections::BTreeMap<String, String> {
    [("KEY_ENTER".to_string(), "hangup".to_string())].into()
}

fn default_long_press() -> u64 {
    800
}

fn default_debounce() -> u64 {
    30
}

/// Device backend per family: `"test"` selects the built-in test device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesConfig {
    /// Camera backend: `test`, `v4l2` (first camera), `v4l2:/dev/videoN`, or `libcamera`
    /// (`libcamera:NAME`) for Pi CSI camera modules.
    #[serde(default = "default_test")]
    pub camera: String,
    /// Microphone backend: `test`, `alsa` (ALSA's default) or `alsa:PCM` (`alsa:plughw:1,0`).
    #[serde(default = "default_test")]
    pub microphone: String,
    /// Speaker backend: `test`, `alsa` or `alsa:PCM`.
    #[serde(default = "default_test")]
    pub speaker: String,
    /// Display backend: `test` (the media size), `test:WIDTHxHEIGHT`, `drm` (first card
    /// with a screen) or `drm:/dev/dri/cardN`.
    #[serde(default = "default_test")]
    pub display: String,
    /// Tone frequency of the test microphone; derived from the station name when unset.
    #[serde(default)]
    pub test_tone_hz: Option<f64>,
    /// Seconds the test camera hangs the first time it is opened (0: it does not): a
    /// driver that does not return, to show the station answering while its loop waits.
    #[serde(default)]
    pub test_camera_stall_secs: u64,
    /// Milliseconds of sound after which the test speaker gets stuck for good (0: it
    /// does not): its write never returns, as a sound driver that hangs without going
    /// away, to show calls going on around it.
    #[serde(default)]
    pub test_speaker_stuck_after_ms: u64,
    /// Milliseconds of pictures after which the test camera gets stuck for good (0: it
    /// does not): its capture never returns, as a camera driver that stops delivering
    /// without going away.
    #[serde(default)]
    pub test_camera_stuck_after_ms: u64,
    /// A raw recording (signed 16-bit little-endian, mono, 48 kHz) the test microphone
    /// plays in a loop instead of its tone: speech, to measure how a call carries it.
    #[serde(default)]
    pub test_microphone_file: Option<std::path::PathBuf>,
    /// A file the test speaker writes everything it plays to, in the same format, with
    /// silence where it ran dry.
    #[serde(default)]
    pub test_speaker_file: Option<std::path::PathBuf>,
    /// Clockwise rotation of the screen (0, 90, 180, 270) for panels mounted turned.
    #[serde(default)]
    pub display_rotation: u32,
    /// Seconds without a call or a touch before the screen blanks (0 = never).
    #[serde(default = "default_blank")]
    pub screen_blank_secs: u64,
    /// V4L2 camera controls by name (as `doorway devices` lists them), e.g.
    /// `{ brightness = 10, power_line_frequency = 1, horizontal_flip = 1 }`.
    #[serde(default)]
    pub camera_controls: std::collections::BTreeMap<String, i64>,
}

/// Video and audio parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// Sent video width in pixels.
    #[serde(default = "default_width")]
    pub width: u32,
    /// Sent video height in pixels.
    #[serde(default = "default_height")]
    pub height: u32,
    /// Sent video frame rate.
    #[serde(default = "default_fps")]
    pub fps: u32,
    /// H.264 target bitrate in kbit/s.
    #[serde(default = "default_bitrate")]
    pub video_bitrate_kbps: u32,
    /// Jitter buffer latency in milliseconds (LAN default: 20).
    #[serde(default = "default_jitter")]
    pub jitter_ms: u32,
    /// Audio codecs offered, in order of preference: `opus`, `pcmu`, `pcma`.
    #[serde(default = "default_audio_codecs")]
    pub audio_codecs: Vec<String>,
    /// Lowest RTP port to use (even).
    #[serde(default = "default_rtp_min")]
    pub rtp_port_min: u16,
    /// Highest RTP port to use.
    #[serde(default = "default_rtp_max")]
    pub rtp_port_max: u16,
    /// Cancel the speaker's echo in the microphone (webrtcdsp) when both are ALSA devices.
    #[serde(default = "default_true")]
    pub echo_cancellation: bool,
    /// Speaker volume at start, 0.0 to 2.0 (1.0 = as received); keys change it.
    #[serde(default = "default_volume")]
    pub speaker_volume: f64,
}

fn default_blank() -> u64 {
    300
}

fn default_volume() -> f64 {
    1.0
}

fn default_test() -> String {
    "test".into()
}

fn default_width() -> u32 {
    640
}

fn default_height() -> u32 {
    360
}

fn default_fps() -> u32 {
    30
}

fn default_bitrate() -> u32 {
    1500
}

fn default_jitter() -> u32 {
    20
}

fn default_audio_codecs() -> Vec<String> {
    vec!["opus".into(), "pcmu".into()]
}

fn default_rtp_min() -> u16 {
    10000
}

fn default_rtp_max() -> u16 {
    20000
}

impl Default for DevicesConfig {
    fn default() -> Self {
        Self {
            camera: default_test(),
            microphone: default_test(),
            speaker: default_test(),
            display: default_test(),
            test_tone_hz: None,
            test_camera_stall_secs: 0,
            test_speaker_stuck_after_ms: 0,
            test_camera_stuck_after_ms: 0,
            test_microphone_file: None,
            test_speaker_file: None,
            display_rotation: 0,
            screen_blank_secs: default_blank(),
            camera_controls: Default::default(),
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            width: default_width(),
            height: default_height(),
            fps: default_fps(),
            video_bitrate_kbps: default_bitrate(),
            jitter_ms: default_jitter(),
            audio_codecs: default_audio_codecs(),
            rtp_port_min: default_rtp_min(),
            rtp_port_max: default_rtp_max(),
            echo_cancellation: true,
            speaker_volume: default_volume(),
        }
    }
}

/// Device backends this build can open, per family.
pub const CAMERA_BACKENDS: &[&str] = &["test", "v4l2", "libcamera"];

/// Audio backends this build can open (microphone and speaker).
pub const AUDIO_BACKENDS: &[&str] = &["test", "alsa"];

/// Display backends this build can open.
pub const DISPLAY_BACKENDS: &[&str] = &["test", "drm"];

/// The size of a test display given as `test:WIDTHxHEIGHT` (`test` alone takes the
/// media size); None when `display` is not such a value or its size is out of range.
pub fn test_screen_size(display: &str) -> Option<(u32, u32)> {
    let (w, h) = display.strip_prefix("test:")?.split_once('x')?;
    let (w, h) = (w.parse::<u32>().ok()?, h.parse::<u32>().ok()?);
    ((64..=3840).contains(&w) && (64..=2160).contains(&h)).then_some((w, h))
}

/// Audio codec names accepted in `media.audio_codecs`.
pub const AUDIO_CODECS: &[&str] = &["opus", "pcmu", "pcma"];
