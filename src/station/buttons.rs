//! What keys and touches do to the station.

use super::Station;
use crate::call::machine::{Action, Event, State};
use crate::config::Config;
use std::time::{Duration, Instant};
use tracing::{info, warn};

impl Station {
    /// Speaker volume on the sound card's mixer where it has one (up to 100%; beyond,
    /// and on cards without one, the receive pipeline scales the samples), and the
    /// microphone mute.
    pub(super) fn apply_levels(&self) {
        let _step = self.watch.step("setting the speaker volume");
        self.call_media.apply_levels(self.devices.volume.as_ref());
    }

    /// Input that happened `at` (the kernel's event time).
    pub(super) fn on_input(&mut self, raw: crate::input::RawInput, at: Instant) {
        use crate::input::{InputAction, RawInput};
        use crate::ui::UiAction;
        let was_blank = !self.ui.is_on();
        if matches!(raw, RawInput::Key { .. } | RawInput::Touch { .. }) {
            self.wake();
            // Someone is at the station: they have seen the missed call and the messages.
            self.ui.missed_call_seen();
            self.messages.mark_read();
        }
        let action = match raw {
            // A doorbell key rings even on a dark screen.
            RawInput::Key { key, pressed } => self.ui.key(&key, pressed, at),
            // A touch on a dark screen only wakes it: the person could not see the buttons.
            RawInput::Touch { .. } if was_blank => None,
            RawInput::Touch { x, y } => {
                let hit = self.ui.button_at(x, y, self.config.devices.display_rotation);
                match hit {
                    Some(UiAction::Call(name)) => Some(InputAction::Call(name)),
                    Some(UiAction::Answer) => Some(InputAction::Answer),
                    Some(UiAction::Cancel | UiAction::Decline | UiAction::Hangup) => Some(InputAction::Hangup),
                    Some(UiAction::DoorOpen) => Some(InputAction::DoorOpen),
                    Some(UiAction::PairConfirm) => Some(InputAction::Answer),
                    Some(UiAction::PairDecline) => Some(InputAction::Hangup),
                    Some(UiAction::QuickReply(n)) => Some(InputAction::Reply(n)),
                    Some(UiAction::ShowNearby | UiAction::NearbyBack) => {
                        self.ui.set_browsing_nearby(hit == Some(UiAction::ShowNearby));
                        self.update_screen();
                        None
                    }
                    Some(UiAction::PairWith(code)) => {
                        self.ui.set_browsing_nearby(false);
                        Some(InputAction::Pair(code))
                    }
                    Some(UiAction::AddStation | UiAction::AddBack) => {
                        self.ui.set_picking(hit == Some(UiAction::AddStation));
                        self.update_screen();
                        None
                    }
                    None => None,
                }
            }
            RawInput::Added { path, name } => {
                info!(%path, %name, "input device ready");
                None
            }
            RawInput::Removed { path } => {
                warn!(%path, "input device removed");
                None
            }
        };
        if let Some(action) = action {
            self.on_action(action);
        }
    }

    /// A button's meaning depends on the call state: a contact's doorbell button calls it,
    /// answers a ringing call, and hangs up a call with that contact.
    fn on_action(&mut self, action: crate::input::InputAction) {
        use crate::input::InputAction;
        info!(?action, "button");
        // While a pairing code waits for this station's person, answer confirms it and
        // hang-up declines it.
        let pairing_answer = match action {
            InputAction::Answer => Some(true),
            InputAction::Hangup => Some(false),
            _ => None,
        };
        if pairing_answer.is_some_and(|confirmed| self.pairing_input(confirmed)) {
            self.update_screen();
            return;
        }
        match action {
            InputAction::Reply(n) => self.quick_reply(n),
            InputAction::Pair(name) => {
                let result = self.start_pairing_from_input(&name);
                if let Err(e) = result {
                    self.act(Action::Tell(e));
                }
            }
            InputAction::Call(name) => match self.machine.state() {
                State::Idle => {
                    if let Err(e) = self.dial(&name) {
                        self.act(Action::Tell(e));
                    }
                }
                State::Incoming { .. } => self.feed(Event::Answer),
                State::Outgoing { peer, .. } => {
                    if peer.contact.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(&name)) {
                        self.feed(Event::Hangup);
                    }
                }
                // In a call, another contact's button (or the picker) adds that station;
                // the button of one already in the call ends the call.
                State::Active { .. } => {
                    self.ui.set_picking(false);
                    if self.in_call(&name) {
                        self.feed(Event::Hangup);
                    } else if let Err(e) = self.dial(&name) {
                        self.act(Action::Tell(e));
                    }
                    self.update_screen();
                }
            },
            InputAction::Answer => self.feed(Event::Answer),
            InputAction::Hangup => self.feed(Event::Hangup),
            InputAction::VolumeUp | InputAction::VolumeDown => {
                let step = if action == InputAction::VolumeUp { 0.1 } else { -0.1 };
                let volume = self.call_media.turn_volume(step);
                self.apply_levels();
                self.act(Action::Tell(format!("speaker volume {:.0}%", volume * 100.0)));
            }
            InputAction::Mute => {
                let muted = self.call_media.toggle_mute();
                self.apply_levels();
                let state = if muted { "muted" } else { "on" };
                self.act(Action::Tell(format!("microphone {state}")));
            }
            InputAction::DoorOpen => {
                let _ = self.open_door(crate::api::Opener::Here);
            }
        }
        self.update_screen();
    }
}

pub(super) fn key_interpreter(config: &Config) -> crate::input::KeyInterpreter {
    use crate::input::InputAction;
    let parse = |map: &std::collections::BTreeMap<String, String>| {
        // Validated with the config: every entry parses.
        map.iter()
            .filter_map(|(k, a)| InputAction::parse(a).ok().map(|a| (k.clone(), a)))
            .collect()
    };
    let mut short: std::collections::HashMap<_, _> = parse(&config.input.keys);
    let mut long: std::collections::HashMap<_, _> = parse(&config.input.long_press);
    for c in &config.contacts {
        if let Some(key) = &c.key {
            short.insert(key.clone(), InputAction::Call(c.name.clone()));
            // Holding a contact's key pairs with it (unless the config gives it another use).
            long.entry(key.clone())
                .or_insert_with(|| InputAction::Pair(c.name.clone()));
        }
    }
    for g in &config.groups {
        if let Some(key) = &g.key {
            short.insert(key.clone(), InputAction::Call(g.name.clone()));
        }
    }
    crate::input::KeyInterpreter::new(
        short,
        long,
        Duration::from_millis(config.input.long_press_ms),
        Duration::from_millis(config.input.debounce_ms),
    )
}

/// "KEY_F1" → "F1": what is printed on the key.
pub(super) fn key_hint(key: &str) -> String {
    key.trim_start_matches("KEY_").trim_start_matches("BTN_").to_string()
}
