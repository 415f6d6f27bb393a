//! `doorway devices`: what this machine has, in the words a config needs.

use serde::Serialize;
use std::fmt;

/// Every device family's findings.
#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    /// V4L2 capture devices.
    pub cameras: Vec<super::v4l2::CameraInfo>,
    /// Sound cards.
    pub sound_cards: Vec<String>,
    /// ALSA PCM names.
    pub sound_devices: Vec<super::alsa::SoundDeviceInfo>,
    /// DRM connectors.
    pub displays: Vec<super::drm::ConnectorInfo>,
    /// Input devices.
    pub inputs: Vec<crate::input::evdev::InputDeviceInfo>,
}

/// Looks at every device family.
pub fn inventory() -> Inventory {
    Inventory {
        cameras: super::v4l2::list(),
        sound_cards: super::alsa::cards(),
        sound_devices: super::alsa::list(),
        displays: super::drm::list(),
        inputs: crate::input::evdev::list(),
    }
}

impl fmt::Display for Inventory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Cameras (devices.camera = \"v4l2:PATH\"):")?;
        if self.cameras.is_empty() {
            writeln!(
                f,
                "  none found: no /dev/video* capture device (USB camera unplugged, or the Pi camera needs libcamera)"
            )?;
        }
        for c in &self.cameras {
            writeln!(f, "  {} ({})", c.path.display(), c.name)?;
            for o in c.formats.iter().take(12) {
                let fps: Vec<String> = o.fps.iter().map(|r| r.to_string()).collect();
                writeln!(
                    f,
                    "    {} {}x{} @ {} fps",
                    o.pixel.gst_name(),
                    o.width,
                    o.height,
                    fps.join("/")
                )?;
            }
        }
        writeln!(f, "Sound (devices.microphone / devices.speaker = \"alsa:NAME\"):")?;
        if self.sound_cards.is_empty() {
            writeln!(f, "  no sound card found")?;
        }
        for c in &self.sound_cards {
            writeln!(f, "  card: {c}")?;
        }
        for d in self
            .sound_devices
            .iter()
            .filter(|d| d.name.starts_with("hw:") || d.name.starts_with("plughw:") || d.name == "default")
        {
            writeln!(
                f,
                "    {} - {} {}",
                d.name,
                d.description,
                d.direction.as_deref().unwrap_or("")
            )?;
        }
        writeln!(f, "Displays (devices.display = \"drm:CARD\"):")?;
        if self.displays.is_empty() {
            writeln!(f, "  none found: no /dev/dri/card* (no KMS driver loaded)")?;
        }
        for d in &self.displays {
            let state = if d.connected { "connected" } else { "not connected" };
            writeln!(
                f,
                "  {} {} ({state}, {} planes): {}",
                d.card.display(),
                d.name,
                d.planes,
                d.modes.join(" ")
            )?;
        }
        writeln!(f, "Input (key names for [input] keys and contact keys):")?;
        if self.inputs.is_empty() {
            writeln!(f, "  none found: no /dev/input/event* device")?;
        }
        for i in &self.inputs {
            writeln!(
                f,
                "  {} {} ({:?}): {}",
                i.path.display(),
                i.name,
                i.kind,
                i.keys.join(" ")
            )?;
        }
        Ok(())
    }
}
