//! What the station puts on its screen.

use super::message_log::{MessageLog, KEPT};
use super::Station;
use crate::call::machine::{PeerInfo, State};
use crate::config::Config;
use crate::device::{Display, Shared};
use crate::ui::{ContactButton, Screen};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// The screen and the keys: what is shown, since when, and what a touch means.
pub(super) struct Ui {
    pub(super) compositor: std::sync::Arc<std::sync::Mutex<crate::ui::compositor::Compositor>>,
    pub(super) screen_on: bool,
    /// Last call event, touch or key; the screen blanks after a quiet while.
    pub(super) last_activity: Instant,
    pub(super) message_at: Instant,
    /// The call screen shows the contacts that can join ("Add" was touched).
    pub(super) picking: bool,
    pub(super) last_message: Option<String>,
    /// The note of a call that rang out unanswered.
    pub(super) missed_call: Option<String>,
    pub(super) keys: crate::input::KeyInterpreter,
    /// Keeps the input channel open when no device backend holds a sender.
    pub(super) _input_tx: tokio::sync::mpsc::UnboundedSender<crate::input::TimedInput>,
    /// Devices watched between calls.
    pub(super) idle_watch: super::watch::IdleWatch,
}

impl Ui {
    /// Turns the screen on (if blanked) and restarts the blanking countdown.
    fn wake(&mut self, display: &Shared<dyn Display>) {
        self.last_activity = Instant::now();
        if !self.screen_on {
            self.screen_on = true;
            if let Err(e) = display.lock().unwrap().set_power(true) {
                warn!(error = %e, "cannot wake the screen");
            }
        }
    }

    /// Blanks the screen after `after_secs` without a call event, touch or key, while
    /// the station is `idle` (0: never).
    fn blank_when_quiet(&mut self, after_secs: u64, idle: bool, display: &Shared<dyn Display>) {
        let quiet = self.last_activity.elapsed() >= Duration::from_secs(after_secs);
        if after_secs > 0 && quiet && self.screen_on && idle {
            self.screen_on = false;
            info!("blanking the screen");
            if let Err(e) = display.lock().unwrap().set_power(false) {
                warn!(error = %e, "cannot blank the screen");
            }
        }
    }
}

impl Station {
    /// Turns the screen on (if blanked) and restarts the blanking countdown.
    pub(super) fn wake(&mut self) {
        self.ui.wake(&self.devices.display);
    }

    pub(super) fn blank_when_quiet(&mut self) {
        let idle = self.machine.state() == &State::Idle;
        self.ui
            .blank_when_quiet(self.config.devices.screen_blank_secs, idle, &self.devices.display);
    }

    /// Puts the call state on the screen, with a recent message for the person at it.
    pub(super) fn update_screen(&self) {
        let _step = self.watch.step("updating the screen");
        let screen = match self.machine.state() {
            State::Idle if self.talking_with_the_web() => Screen::InCall {
                peer: "the web page".into(),
                seconds: self.state_since.elapsed().as_secs(),
                on_hold: false,
                door_open: false,
                replies: vec![],
                can_add: false,
            },
            State::Idle => self
                .pairing_screen()
                .unwrap_or_else(|| idle_screen(&self.config, &self.messages, self.links.web.as_ref())),
            State::Outgoing { peer, ringing, .. } => Screen::Calling {
                // A ring group is called by its name until a member answers.
                peer: self.machine.group().unwrap_or(peer.label()).into(),
                ringing: self
                    .machine
                    .legs()
                    .iter()
                    .any(|l| matches!(l, State::Outgoing { ringing: true, .. }))
                    || *ringing,
            },
            State::Incoming { peer, .. } => Screen::Ringing {
                peer: peer.label().into(),
                replies: self.replies_for(peer),
            },
            State::Active { .. } if self.ui.picking => Screen::AddToCall {
                contacts: self.can_add(),
            },
            State::Active {
                peer,
                held_by_peer,
                held_by_us,
                ..
            } => Screen::InCall {
                // People should know whether the LAN can listen in.
                peer: format!(
                    "{} ({})",
                    self.participants(),
                    if self.call_is_secure() {
                        "encrypted"
                    } else {
                        "not encrypted"
                    }
                ),
                on_hold: *held_by_peer || *held_by_us,
                seconds: self.state_since.elapsed().as_secs(),
                // An indoor station (no lock of its own) asks the other side to open.
                door_open: self.links.door.is_none(),
                replies: self.replies_for(peer),
                can_add: !self.can_add().is_empty(),
            },
        };
        let recent = self.ui.message_at.elapsed() < Duration::from_secs(15);
        // A recent event's message first; then, while idle, a missed call until someone
        // is back at the station; otherwise a lasting device problem.
        let idle = self.machine.state() == &State::Idle;
        let message = self
            .ui
            .last_message
            .clone()
            .filter(|_| recent)
            .or_else(|| self.ui.missed_call.clone().filter(|_| idle))
            // Privacy: whoever stands here sees that the camera is watched.
            .or_else(|| (!self.browser.live_views.is_empty()).then(|| "Watched from the web page".to_string()))
            .or_else(|| self.ui.idle_watch.problem())
            .or_else(|| self.account_problem().filter(|_| idle));
        self.ui.compositor.lock().unwrap().set_screen(screen, message);
    }
}

impl Station {
    /// Quick replies offered to a call's other end: only a contact can be written to.
    fn replies_for(&self, peer: &PeerInfo) -> Vec<String> {
        match peer.contact {
            Some(_) => self.config.station.quick_replies.clone(),
            None => vec![],
        }
    }
}

/// The idle screen: name, clock, contacts, and the last messages with quick replies to
/// whoever wrote last.
pub(super) fn idle_screen(config: &Config, log: &MessageLog, web: Option<&super::web::StationWeb>) -> Screen {
    // Contacts, then ring groups: a button each.
    let contacts = config
        .contacts
        .iter()
        .map(|c| (&c.name, &c.key))
        .chain(config.groups.iter().map(|g| (&g.name, &g.key)))
        .map(|(name, key)| ContactButton {
            name: name.clone(),
            key_hint: key.as_deref().map(super::buttons::key_hint),
        })
        .collect();
    let messages = log
        .newest(KEPT)
        .iter()
        .map(|m| {
            let arrow = if m.incoming { "" } else { "to " };
            format!("{} {arrow}{}: {}", clock_at(m.at), m.peer, m.text)
        })
        .collect();
    let replies = match log.last_sender() {
        Some(_) => config.station.quick_replies.clone(),
        None => vec![],
    };
    Screen::Idle {
        station: config.station.name.clone(),
        clock: clock_text(),
        contacts,
        messages,
        replies,
        web: web.map(super::web::StationWeb::screen_line),
    }
}

/// Local time as HH:MM.
pub(super) fn clock_text() -> String {
    // SAFETY: time has no preconditions.
    clock_at(unsafe { libc::time(std::ptr::null_mut()) } as u64)
}

/// A time in seconds since 1970 as local HH:MM.
fn clock_at(secs: u64) -> String {
    let at = secs as libc::time_t;
    // SAFETY: localtime_r only writes into the value we own.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&at, &mut tm);
        tm
    };
    format!("{:02}:{:02}", tm.tm_hour, tm.tm_min)
}
