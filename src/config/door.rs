//! `[door]`: the door lock's relay, how long it holds the door open, and the DTMF digit
//! that asks a station to open its door.

use super::Problem;
use serde::{Deserialize, Serialize};

/// `[door]`: this station's door lock, if it has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoorConfig {
    /// The lock's relay: `gpio` (a GPIO line), `usb` (a USB relay board on a serial
    /// port) or `test`. Unset: this station has no lock, and its "Open door" asks the
    /// station in the call to open its door (by `digit`).
    #[serde(default)]
    pub relay: Option<String>,
    /// The relay's device: the GPIO chip (`/dev/gpiochip0`) or the board's serial port
    /// (`/dev/ttyUSB0`).
    #[serde(default)]
    pub device: Option<String>,
    /// The GPIO line (the chip's line offset; on a Pi, the BCM pin number).
    #[serde(default)]
    pub line: Option<u32>,
    /// The relay lets the door open when the line is driven low.
    #[serde(default)]
    pub active_low: bool,
    /// Which relay of a USB board (1 to 8).
    #[serde(default = "default_relay_number")]
    pub relay_number: u8,
    /// How long the door is held open, in seconds (0.2 to 60).
    #[serde(default = "default_open_seconds")]
    pub open_seconds: f64,
    /// The DTMF digit that opens the door: sent by "Open door" to the station in the
    /// call, and taken from a contact with `may_open_door` when this station has a lock.
    #[serde(default = "default_digit")]
    pub digit: String,
    /// Take the digit in calls that are not encrypted too. Off by default: a plain
    /// call's RTP can be forged by anyone on the LAN who knows the call's ports, and a
    /// forged digit must not open the door. Paired contacts' calls are encrypted.
    #[serde(default)]
    pub open_from_plain_calls: bool,
}

impl Default for DoorConfig {
    fn default() -> Self {
        Self {
            relay: None,
            device: None,
            line: None,
            active_low: false,
            relay_number: default_relay_number(),
            open_seconds: default_open_seconds(),
            digit: default_digit(),
            open_from_plain_calls: false,
        }
    }
}

impl DoorConfig {
    /// The digit as a character (checked by validation).
    pub fn digit(&self) -> char {
        self.digit.chars().next().unwrap_or('#')
    }

    /// How long the door is held open.
    pub fn hold(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.open_seconds.clamp(0.2, 60.0))
    }

    /// Checks the values serde cannot.
    pub(super) fn validate(&self) -> Result<(), Problem> {
        let problem = |f: &str, m: &str| Err(Problem::new(&["door", f], m));
        match self.relay.as_deref() {
            None | Some("usb") | Some("test") => {}
            Some("gpio") if self.line.is_none() => {
                return problem(
                    "line",
                    "a GPIO relay needs its line: the chip's line offset (on a Pi, the BCM pin number)",
                )
            }
            Some("gpio") => {}
            Some(_) => return problem("relay", "allowed: \"gpio\", \"usb\" or \"test\" (or no relay)"),
        }
        if let Some(device) = &self.device {
            // Judged as written and without ".." or "." parts: /dev/../tmp/x is not a
            // device path.
            let plain = std::path::Path::new(device)
                .components()
                .all(|c| matches!(c, std::path::Component::RootDir | std::path::Component::Normal(_)));
            if !device.starts_with("/dev/") || !plain || device.contains("//") {
                return problem(
                    "device",
                    "allowed: a device path such as /dev/ttyUSB0 or /dev/gpiochip0",
                );
            }
        }
        if !(1..=8).contains(&self.relay_number) {
            return problem("relay_number", "allowed: 1 to 8");
        }
        if !(0.2..=60.0).contains(&self.open_seconds) {
            return problem("open_seconds", "allowed: 0.2 to 60 seconds");
        }
        let mut chars = self.digit.chars();
        let one = chars.next().filter(|c| "0123456789*#ABCD".contains(*c));
        if one.is_none() || chars.next().is_some() {
            return problem("digit", "allowed: one DTMF digit: 0-9, *, #, A-D");
        }
        Ok(())
    }
}

fn default_relay_number() -> u8 {
    1
}
fn default_open_seconds() -> f64 {
    5.0
}
fn default_digit() -> String {
    "#".into()
}
