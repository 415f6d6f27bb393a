//! What the station puts on its screen.

use super::message_log::{MessageLog, KEPT};
use super::Station;
use crate::call::machine::{PeerInfo, State};
use crate::config::Config;
use crate::device::{Display, Shared};
use crate::input::KeyInterpreter;
use crate::ui::compositor::Compositor;
use crate::ui::{ContactButton, Screen};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// The screen and the keys: what is shown, since when, and what a touch means.
pub(super) struct Ui {
    compositor: Arc<Mutex<Compositor>>,
    screen_on: bool,
    /// Last call event, touch or key; the screen blanks after a quiet while.
    last_activity: Instant,
    /// When the last message was shown: it stays on the screen for a while after.
    message_at: Instant,
    /// The call screen shows the contacts that can join ("Add" was touched).
    picking: bool,
    /// The idle screen shows the stations nearby to pair with ("Nearby" was touched).
    browsing_nearby: bool,
    last_message: Option<String>,
    /// The note of a call that rang out unanswered.
    missed_call: Option<String>,
    keys: KeyInterpreter,
    /// Keeps the input channel open when no device backend holds a sender.
    _input_tx: tokio::sync::mpsc::UnboundedSender<crate::input::TimedInput>,
}

impl Ui {
    /// A lit screen drawn by `compositor`, its keys meaning what `keys` says. `input_tx`
    /// is kept so that the input channel stays open.
    pub(super) fn new(
        compositor: Arc<Mutex<Compositor>>,
        keys: KeyInterpreter,
        input_tx: tokio::sync::mpsc::UnboundedSender<crate::input::TimedInput>,
    ) -> Ui {
        Ui {
            compositor,
            screen_on: true,
            last_activity: Instant::now(),
            message_at: Instant::now(),
            picking: false,
            browsing_nearby: false,
            last_message: None,
            missed_call: None,
            keys,
            _input_tx: input_tx,
        }
    }

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

    /// Whether the screen is lit (not blanked).
    pub(super) fn is_on(&self) -> bool {
        self.screen_on
    }

    /// Shows `text` to the person at the station: the last message, on the screen for a
    /// while from now.
    pub(super) fn show_message(&mut self, text: String) {
        self.last_message = Some(text);
        self.message_at = Instant::now();
    }

    /// Forgets the last message: a new call's screen is its own.
    pub(super) fn clear_message(&mut self) {
        self.last_message = None;
    }

    /// The last message, for the status.
    pub(super) fn last_message(&self) -> Option<String> {
        self.last_message.clone()
    }

    /// Notes a call that rang out unanswered: the idle screen says so until someone is
    /// back at the station.
    pub(super) fn note_missed_call(&mut self, note: String) {
        self.missed_call = Some(note);
    }

    /// Someone is at the station: they have seen the missed call.
    pub(super) fn missed_call_seen(&mut self) {
        self.missed_call = None;
    }

    /// The note of a missed call not yet seen, for the status.
    pub(super) fn missed_call(&self) -> Option<String> {
        self.missed_call.clone()
    }

    /// Whether the call screen shows the contacts that can join instead of the call.
    pub(super) fn set_picking(&mut self, picking: bool) {
        self.picking = picking;
    }

    /// Whether the idle screen shows the stations nearby to pair with.
    pub(super) fn set_browsing_nearby(&mut self, browsing: bool) {
        self.browsing_nearby = browsing;
    }

    /// What a key going down or up `at` means, if anything (debounce and long presses
    /// are the key interpreter's).
    pub(super) fn key(&mut self, key: &str, pressed: bool, at: Instant) -> Option<crate::input::InputAction> {
        self.keys.key(key, pressed, at)
    }

    /// The keys mean what `keys` says from now on (a new config).
    pub(super) fn set_keys(&mut self, keys: KeyInterpreter) {
        self.keys = keys;
    }

    /// The button under a touch at `x`, `y` (0 to 1 across the panel) on the screen as
    /// shown, on a panel turned by `rotation` degrees.
    pub(super) fn button_at(&self, x: f32, y: f32, rotation: u32) -> Option<crate::ui::UiAction> {
        let compositor = self.compositor.lock().unwrap();
        let (w, h) = compositor.size();
        let (px, py) = crate::input::touch_to_screen(x, y, rotation, w, h);
        let hit = crate::ui::hit(compositor.screen(), w as i32, h as i32, px, py);
        info!(x = px, y = py, button = ?hit, "touch");
        hit
    }

    /// The message on the screen now, for the status.
    pub(super) fn screen_message(&self) -> Option<String> {
        self.compositor.lock().unwrap().message().map(str::to_string)
    }

    /// What the screen is about now ([`Screen::kind`]).
    pub(super) fn screen_kind(&self) -> &'static str {
        self.compositor.lock().unwrap().screen().kind()
    }

    /// The compositor that draws the screen, for whatever puts pictures on it (a call's
    /// media, a browser's picture) or reads the caller's picture from it (a snapshot).
    pub(super) fn compositor(&self) -> Arc<Mutex<Compositor>> {
        self.compositor.clone()
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
            State::Idle => self.pairing_screen().unwrap_or_else(|| {
                // Only where stations can be heard: with browsing off the list stays empty.
                let no_contacts =
                    self.config.contacts.is_empty() && self.config.groups.is_empty() && self.config.discovery.browse;
                let nearby = self.nearby_to_pair();
                match self.ui.browsing_nearby || no_contacts {
                    // A first boot shows the stations to pair with, not an empty screen.
                    true => Screen::Nearby {
                        stations: nearby,
                        can_go_back: !no_contacts,
                    },
                    false => idle_screen(&self.config, &self.messages, self.links.web_line(), nearby.len()),
                }
            }),
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
                door_open: !self.links.has_door(),
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
            .or_else(|| self.browser.watched().then(|| "Watched from the web page".to_string()))
            .or_else(|| self.idle_watch.problem())
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

/// The idle screen: name, clock, contacts, the last messages with quick replies to
/// whoever wrote last, `web_line` ([`super::web::StationWeb::screen_line`]) when the
/// web page runs, and a button for the `nearby` stations to pair with.
pub(super) fn idle_screen(config: &Config, log: &MessageLog, web_line: Option<String>, nearby: usize) -> Screen {
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
        web: web_line,
        nearby,
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
