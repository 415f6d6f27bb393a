//! What the station puts on its screen.

use super::Station;
use crate::call::machine::State;
use crate::config::Config;
use crate::ui::{ContactButton, Screen};
use std::time::{Duration, Instant};
use tracing::{info, warn};

impl Station {
    /// Turns the screen on (if blanked) and restarts the blanking countdown.
    pub(super) fn wake(&mut self) {
        self.last_activity = Instant::now();
        if !self.screen_on {
            self.screen_on = true;
            if let Err(e) = self.devices.display.lock().unwrap().set_power(true) {
                warn!(error = %e, "cannot wake the screen");
            }
        }
    }

    pub(super) fn blank_when_quiet(&mut self) {
        let after = self.config.devices.screen_blank_secs;
        let quiet = self.last_activity.elapsed() >= Duration::from_secs(after);
        if after > 0 && quiet && self.screen_on && self.machine.state() == &State::Idle {
            self.screen_on = false;
            info!("blanking the screen");
            if let Err(e) = self.devices.display.lock().unwrap().set_power(false) {
                warn!(error = %e, "cannot blank the screen");
            }
        }
    }

    /// Puts the call state on the screen, with a recent message for the person at it.
    pub(super) fn update_screen(&self) {
        let screen = match self.machine.state() {
            State::Idle => self.pairing_screen().unwrap_or_else(|| idle_screen(&self.config)),
            State::Outgoing { peer, ringing, .. } => Screen::Calling {
                peer: peer.label().into(),
                ringing: *ringing,
            },
            State::Incoming { peer, .. } => Screen::Ringing {
                peer: peer.label().into(),
            },
            State::Active {
                peer,
                held_by_peer,
                held_by_us,
                ..
            } => Screen::InCall {
                // People should know whether the LAN can listen in.
                peer: if peer.secure {
                    format!("{} (encrypted)", peer.label())
                } else {
                    format!("{} (not encrypted)", peer.label())
                },
                on_hold: *held_by_peer || *held_by_us,
                seconds: self.state_since.elapsed().as_secs(),
                door_open: false,
            },
        };
        let recent = self.message_at.elapsed() < Duration::from_secs(15);
        // A recent event's message first; then, while idle, a missed call until someone
        // is back at the station; otherwise a lasting device problem.
        let idle = self.machine.state() == &State::Idle;
        let message = self
            .last_message
            .clone()
            .filter(|_| recent)
            .or_else(|| self.missed_call.clone().filter(|_| idle))
            .or_else(|| self.idle_watch.problem());
        self.compositor.lock().unwrap().set_screen(screen, message);
    }
}

pub(super) fn idle_screen(config: &Config) -> Screen {
    let contacts = config
        .contacts
        .iter()
        .map(|c| ContactButton {
            name: c.name.clone(),
            key_hint: c.key.as_deref().map(super::buttons::key_hint),
        })
        .collect();
    Screen::Idle {
        station: config.station.name.clone(),
        clock: clock_text(),
        contacts,
    }
}

/// Local time as HH:MM.
pub(super) fn clock_text() -> String {
    // SAFETY: time and localtime_r only write into the values we own.
    let tm = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        tm
    };
    format!("{:02}:{:02}", tm.tm_hour, tm.tm_min)
}
