//! Buttons and touch: what a key press or a touch means, decided without I/O.
//!
//! [`evdev`] reads the kernel's input devices and produces [`RawInput`]; [`KeyInterpreter`]
//! turns key presses into [`InputAction`]s (debounce, long press); [`touch_to_screen`]
//! maps a touch on the panel to a point on the (possibly rotated) screen, where the UI's
//! hit-testing finds the button.

pub mod evdev;

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What the kernel reported, per device, already decoded from the event stream.
#[derive(Debug, Clone, PartialEq)]
pub enum RawInput {
    /// A key went down or up (`KEY_F1`, `BTN_0`...).
    Key {
        /// Kernel key name.
        key: String,
        /// Down (true) or up.
        pressed: bool,
    },
    /// A finger touched the panel, at a position normalised to 0..=1 on each panel axis.
    Touch {
        /// Horizontal position, 0 = left edge of the panel.
        x: f32,
        /// Vertical position, 0 = top edge of the panel.
        y: f32,
    },
    /// An input device appeared.
    Added {
        /// Device node.
        path: String,
        /// Device name.
        name: String,
    },
    /// An input device went away.
    Removed {
        /// Device node.
        path: String,
    },
}

/// Input and when it happened: the kernel's timestamp of the event, so debouncing and
/// long presses measure the person's timing, not how late a busy station read the events.
pub type TimedInput = (RawInput, std::time::Instant);

/// The moment an event stamped `stamp` (wall clock, as evdev stamps events) happened,
/// on the monotonic clock; now when the stamp is in the future or implausibly old (the
/// wall clock was set meanwhile).
pub fn event_instant(stamp: std::time::SystemTime) -> std::time::Instant {
    let now = std::time::Instant::now();
    match std::time::SystemTime::now().duration_since(stamp) {
        Ok(age) if age < std::time::Duration::from_secs(5) => now.checked_sub(age).unwrap_or(now),
        _ => now,
    }
}

/// What a key or button does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputAction {
    /// The doorbell button of a contact: calls it when idle, answers when it (or anyone)
    /// rings here, hangs up a call with it.
    Call(String),
    /// Answer the ringing call.
    Answer,
    /// Hang up, cancel or decline.
    Hangup,
    /// Speaker louder.
    VolumeUp,
    /// Speaker quieter.
    VolumeDown,
    /// Microphone mute on/off.
    Mute,
    /// Open the door.
    DoorOpen,
    /// Pair with the named contact (a long press on its key).
    Pair(String),
    /// Send the quick reply with this index (0-based; `reply:1` in a key map is the
    /// first).
    Reply(usize),
}

/// Why a key map entry is wrong.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KeyMapError {
    /// Not a kernel key name.
    #[error(
        "{0:?} is not a key name; use the kernel's names such as KEY_F1, KEY_ENTER or BTN_0 (see `doorway devices`)"
    )]
    UnknownKey(String),
    /// Not an action.
    #[error("{0:?} is not an action; allowed: call:NAME, pair:NAME, reply:1 to reply:4, answer, hangup, volume_up, volume_down, mute, door_open")]
    UnknownAction(String),
}

impl InputAction {
    /// Parses a config action (`call:Kitchen`, `answer`, `hangup`, ...).
    pub fn parse(text: &str) -> Result<Self, KeyMapError> {
        if let Some(name) = text.strip_prefix("call:") {
            if !name.trim().is_empty() {
                return Ok(Self::Call(name.trim().to_string()));
            }
        }
        if let Some(n) = text.strip_prefix("reply:") {
            if let Ok(n @ 1..=4) = n.trim().parse::<usize>() {
                return Ok(Self::Reply(n - 1));
            }
        }
        if let Some(name) = text.strip_prefix("pair:") {
            if !name.trim().is_empty() {
                return Ok(Self::Pair(name.trim().to_string()));
            }
        }
        Ok(match text {
            "answer" => Self::Answer,
            "hangup" => Self::Hangup,
            "volume_up" => Self::VolumeUp,
            "volume_down" => Self::VolumeDown,
            "mute" => Self::Mute,
            "door_open" => Self::DoorOpen,
            _ => return Err(KeyMapError::UnknownAction(text.into())),
        })
    }
}

/// Checks that `key` is a kernel key name.
pub fn check_key_name(key: &str) -> Result<(), KeyMapError> {
    key.parse::<::evdev::KeyCode>()
        .map(|_| ())
        .map_err(|_| KeyMapError::UnknownKey(key.into()))
}

/// Key presses to actions, with debounce and long press.
#[derive(Debug)]
pub struct KeyInterpreter {
    short: HashMap<String, InputAction>,
    long: HashMap<String, InputAction>,
    long_press: Duration,
    debounce: Duration,
    down_since: HashMap<String, Instant>,
    last_up: HashMap<String, Instant>,
}

impl KeyInterpreter {
    /// `short` and `long` map key names to actions.
    pub fn new(
        short: HashMap<String, InputAction>,
        long: HashMap<String, InputAction>,
        long_press: Duration,
        debounce: Duration,
    ) -> Self {
        Self {
            short,
            long,
            long_press,
            debounce,
            down_since: HashMap::new(),
            last_up: HashMap::new(),
        }
    }

    /// Feeds a key event at time `now`; returns the action it triggers, if any.
    ///
    /// A key without a long-press action acts when it goes down, so the screen reacts at
    /// once; a key with one acts when it comes up, short or long by how long it was held.
    pub fn key(&mut self, key: &str, pressed: bool, now: Instant) -> Option<InputAction> {
        if pressed {
            // Contact bounce: a new press right after a release is the same press.
            if self
                .last_up
                .get(key)
                .is_some_and(|t| now.duration_since(*t) < self.debounce)
            {
                return None;
            }
            if self.down_since.contains_key(key) {
                return None; // auto-repeat
            }
            self.down_since.insert(key.to_string(), now);
            if !self.long.contains_key(key) {
                return self.short.get(key).cloned();
            }
            None
        } else {
            self.last_up.insert(key.to_string(), now);
            let since = self.down_since.remove(key)?;
            let long = self.long.get(key)?;
            if now.duration_since(since) >= self.long_press {
                Some(long.clone())
            } else {
                self.short.get(key).cloned()
            }
        }
    }
}

/// Touch calibration: the raw range the panel reports on each axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Raw x at the left edge.
    pub min_x: i32,
    /// Raw x at the right edge.
    pub max_x: i32,
    /// Raw y at the top edge.
    pub min_y: i32,
    /// Raw y at the bottom edge.
    pub max_y: i32,
}

impl Calibration {
    /// Raw position to 0..=1 on each axis, clamped (a reversed range flips the axis).
    pub fn normalise(&self, x: i32, y: i32) -> (f32, f32) {
        let n = |v: i32, lo: i32, hi: i32| {
            if hi == lo {
                0.0
            } else {
                ((v - lo) as f32 / (hi - lo) as f32).clamp(0.0, 1.0)
            }
        };
        (n(x, self.min_x, self.max_x), n(y, self.min_y, self.max_y))
    }
}

/// Maps a touch at (x, y) in 0..=1 panel coordinates to a pixel of the screen as the UI
/// lays it out (`width`x`height`), for a panel mounted rotated by `rotation` degrees
/// clockwise (the UI is drawn rotated by the same amount).
pub fn touch_to_screen(x: f32, y: f32, rotation: u32, width: u32, height: u32) -> (i32, i32) {
    let (ux, uy) = match rotation % 360 {
        90 => (y, 1.0 - x),
        180 => (1.0 - x, 1.0 - y),
        270 => (1.0 - y, x),
        _ => (x, y),
    };
    let px = (ux * width as f32).min(width as f32 - 1.0).max(0.0) as i32;
    let py = (uy * height as f32).min(height as f32 - 1.0).max(0.0) as i32;
    (px, py)
}

#[cfg(test)]
mod tests;
