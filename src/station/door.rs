//! "Open door" at the station: a station with a lock (`[door] relay`) opens it; one
//! without (an indoor unit) asks the station in its call to open, by the DTMF digit. A
//! digit received in a call opens this station's lock only when it comes from a contact
//! with `may_open_door`; from anyone else it is ignored and logged.

use super::{Command, Station};
use crate::api::Opener;
use crate::call::machine::{Action, State};
use crate::door::DoorLock;
use tracing::{info, warn};

/// The lock `config` asks for, or None when the station has none.
pub(super) fn lock_for(config: &crate::config::Config) -> Option<DoorLock> {
    let relay = crate::door::relay_from_config(&config.door)?;
    Some(DoorLock::start(relay, config.door.hold()))
}

impl Station {
    /// "Open door" from a key, the screen, the web page or the console. Returns what
    /// happened in words, or why nothing did.
    pub(super) fn open_door(&mut self, by: Opener) -> Result<String, String> {
        if let Some(opened) = self.links.open_door(by.label()) {
            let result = opened.map(|()| "Door opened".to_string()).map_err(|e| e.to_string());
            self.tell_door(&result);
            return result;
        }
        let digit = self.config.door.digit();
        let peer = match self.machine.state() {
            State::Active { peer, .. } => peer.label(),
            _ => {
                let why = "no door lock here, and no call to ask a door station to open".to_string();
                self.act(Action::Tell(why.clone()));
                return Err(why);
            }
        };
        let sent = self.call_media.session().is_some_and(|m| m.send_digit(digit));
        let result = if sent {
            info!(%peer, %digit, by = by.label(), "asked the other station to open its door");
            Ok(format!("Asked {peer} to open the door"))
        } else {
            Err(format!(
                "{peer} takes no door-opening digits (no telephone events in this call)"
            ))
        };
        self.tell_door(&result);
        result
    }

    fn tell_door(&mut self, result: &Result<String, String>) {
        let text = match result {
            Ok(done) => done.clone(),
            Err(why) => format!("The door did not open: {why}"),
        };
        self.act(Action::Tell(text));
    }

    /// Sends the other side's digits of the call `call` to the station's loop.
    pub(super) fn listen_for_digits(&self, call: &str) {
        if let Some(media) = self.call_media.session() {
            media.on_digit(self.digits_of(call));
        }
    }

    /// Where the digits of leg `call` go: to the station's loop, as its commands.
    pub(super) fn digits_of(&self, call: &str) -> crate::media::dtmf::DigitOut {
        let own = self.own_commands.clone();
        let call = call.to_string();
        std::sync::Arc::new(move |digit| {
            if let Some(own) = own.upgrade() {
                let _ = own.send(Command::Digit(call.clone(), digit));
            }
        })
    }

    /// A DTMF digit from the other side of `call`.
    pub(super) fn on_digit(&mut self, call: &str, digit: char) {
        let leg = self.machine.legs().into_iter().find_map(|leg| match leg {
            State::Active { call: c, peer, .. } if c == call => Some((peer.contact.clone(), peer.secure)),
            _ => None,
        });
        let Some((contact, secure)) = leg else { return };
        let who = contact
            .clone()
            .unwrap_or_else(|| "a caller who is not a contact".into());
        if !self.links.has_door() || digit != self.config.door.digit() {
            info!(%who, %digit, "DTMF digit (no door to open by it)");
            return;
        }
        let allowed = contact
            .as_deref()
            .and_then(|name| self.config.contact(name))
            .is_some_and(|c| c.may_open_door);
        if !allowed {
            warn!(%who, %digit, "door-opening digit ignored: this contact may not open the door (may_open_door)");
            return;
        }
        if !secure && !self.config.door.open_from_plain_calls {
            warn!(%who, %digit, "door-opening digit ignored: the call is not encrypted (pair with the contact, or [door] open_from_plain_calls)");
            self.act(Action::Tell(format!(
                "{who} asked to open the door in a call that is not encrypted: pair the stations first"
            )));
            return;
        }
        let result = self
            .links
            .open_door(&who)
            .map(|opened| opened.map_err(|e| e.to_string()))
            .unwrap_or(Err("no lock".into()));
        let shown = result.clone().map(|()| format!("Door opened by {who}"));
        self.tell_door(&shown);
        // The other side's screen says so too.
        let feedback = match &result {
            Ok(()) => "Door opened".to_string(),
            Err(why) => format!("The door did not open: {why}"),
        };
        if let Some(name) = contact {
            self.send_text(name, feedback, None);
        }
    }

    /// Applies a changed `[door]`: the old lock lets go of its relay first.
    pub(super) fn apply_door(&mut self, new: &crate::config::Config) {
        if self.config.door != new.door {
            self.links.replace_door(new);
        }
    }
}
