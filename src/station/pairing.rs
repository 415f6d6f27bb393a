//! Pairing on the station: `doorway pair NAME` (or a long press on the contact's key, or
//! a touch on a station nearby) starts it, both screens show the code, a person confirms
//! or declines on each, and the pin is stored only when both confirmed
//! ([`crate::security::pairing`] has the protocol). The other station's side is in
//! `responder.rs`; stations from the list of neighbours become contacts in `listed.rs`.

use super::sip::AdmissionConfig;
use super::{Command, Station};
use crate::api::{Exchange, PairingCommand, PairingStatus};
use crate::call::identify::Recognised;
use crate::call::machine::Action;
use crate::call::ua::Caller;
use crate::config::{Config, Contact};
use crate::security::identity::{Fingerprint, Identity};
use crate::security::pairing::{self, Decisions, Message, Stage};
use crate::security::pins::{pin_for, tls_port, Pin, PinStore};
use exchange::exchange;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::{info, warn};

mod exchange;
mod listed;
mod responder;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Initiator,
    Responder,
}

/// One pairing under way (or just finished, for the screen and `status`).
#[derive(Debug)]
pub struct Session {
    id: u64,
    contact: String,
    role: Role,
    started: Instant,
    peer: Option<Fingerprint>,
    peer_tls: Option<SocketAddr>,
    na: [u8; 32],
    nb: [u8; 32],
    code: Option<u32>,
    decisions: Decisions,
    stage: Stage,
    note: String,
    /// A station from the list of neighbours, not yet a contact: what it becomes.
    new_contact: Option<listed::NewContact>,
}

/// Whom the station trusts: its identity, the pins of paired contacts, who may call, and a
/// pairing under way.
pub(super) struct Trust {
    /// Our key and certificate.
    identity: Identity,
    /// Paired contacts (shared with the user agent's admission check).
    pins: Arc<Mutex<PinStore>>,
    /// The config the user agent admits callers by.
    admission: AdmissionConfig,
    /// A pairing under way.
    pairing: Option<Session>,
}

impl Trust {
    /// Trust in `identity`, the contacts paired in `pins`, and callers admitted by
    /// `admission` (the user agent shares the last two); no pairing under way.
    pub(super) fn new(identity: Identity, pins: Arc<Mutex<PinStore>>, admission: AdmissionConfig) -> Trust {
        Trust {
            identity,
            pins,
            admission,
            pairing: None,
        }
    }

    /// Our certificate's fingerprint.
    pub(super) fn fingerprint(&self) -> Fingerprint {
        self.identity.fingerprint
    }

    /// `f` with the pins held (paired contacts).
    pub(super) fn with_pins<T>(&self, f: impl FnOnce(&PinStore) -> T) -> T {
        f(&self.pins.lock().unwrap())
    }

    /// The contacts of `config` whose certificate we know (paired, or pinned in the
    /// config), with that certificate's fingerprint.
    pub(super) fn pinned(&self, config: &Config) -> Vec<(Fingerprint, String)> {
        let pins = self.pins.lock().unwrap();
        config
            .contacts
            .iter()
            .filter_map(|c| pin_for(c, &pins).map(|(f, _)| (f, c.name.clone())))
            .collect()
    }

    /// The user agent admits callers by `config` from now on.
    pub(super) fn admit_by(&self, config: &Config) {
        self.admission.replace(config);
    }

    /// Who `caller` is by `config` and the pins ([`crate::call::identify::recognise`]).
    pub(super) fn recognise<'c>(&self, config: &'c Config, caller: &Caller) -> Result<Recognised<'c>, String> {
        crate::call::identify::recognise(config, &self.pins.lock().unwrap(), caller)
    }

    /// Where a pinned contact takes secure calls and the certificate it must show: its
    /// address with the TLS port from the config, else from pairing, else 5061.
    pub(super) fn secure_target(&self, contact: &Contact, ip: IpAddr) -> Option<(SocketAddr, Fingerprint)> {
        let pins = self.pins.lock().unwrap();
        let (pin, _) = pin_for(contact, &pins)?;
        Some((SocketAddr::new(ip, tls_port(contact, &pins)), pin))
    }

    /// Whether a pairing is under way, or just ended and still said on the screen.
    pub(super) fn is_pairing(&self) -> bool {
        self.pairing.is_some()
    }
}

impl Session {
    /// For `status` and the screen.
    pub fn status(&self) -> PairingStatus {
        PairingStatus {
            contact: self.contact.clone(),
            stage: self.stage,
            code: self.code.map(pairing::show_code),
            note: self.note.clone(),
        }
    }

    fn open(&self) -> bool {
        matches!(self.stage, Stage::Connecting | Stage::Comparing)
    }
}

impl Station {
    pub(super) fn on_pairing_command(&mut self, command: PairingCommand) {
        match command {
            PairingCommand::Start(name, reply) => {
                let _ = reply.send(self.start_pairing(&name));
            }
            PairingCommand::Decide(confirmed, reply) => {
                let _ = reply.send(self.decide_pairing(confirmed));
            }
            PairingCommand::Unpair(name, reply) => {
                let _ = reply.send(self.unpair(&name));
            }
            PairingCommand::Exchanged(id, result) => self.exchanged(id, result),
        }
        self.update_screen();
    }

    fn contact_tls_addr(&self, name: &str) -> Result<(String, SocketAddr), String> {
        // A contact found on the LAN is where it was heard.
        let located = self.located_config();
        let contact = located
            .contact(name)
            .ok_or_else(|| format!("{name:?} is not a contact"))?
            .clone();
        if contact.fingerprint.is_some() {
            return Err(format!(
                "{}'s certificate is written in the config (fingerprint); change it there",
                contact.name
            ));
        }
        let ip = crate::call::parse_peer(&contact.uri)
            .map_err(|e| e.to_string())?
            .addr
            .ip();
        let port = crate::security::pins::tls_port(&contact, &self.trust.pins.lock().unwrap());
        Ok((contact.name, SocketAddr::new(ip, port)))
    }

    /// A long press on a contact's key: pairing, between calls only.
    pub(super) fn start_pairing_from_input(&mut self, name: &str) -> Result<(), String> {
        if self.machine.state() != &crate::call::machine::State::Idle {
            return Err("pairing waits until the call is over".into());
        }
        self.start_pairing(name)
    }

    fn start_pairing(&mut self, name: &str) -> Result<(), String> {
        if self.trust.pairing.as_ref().is_some_and(Session::open) {
            return Err("a pairing is already under way".into());
        }
        let (contact, addr, new_contact) = match self.config.contact(name) {
            Some(_) => {
                let (contact, addr) = self.contact_tls_addr(name)?;
                (contact, addr, None)
            }
            None => {
                let (contact, addr, new) = self.neighbour_to_pair(name)?;
                (contact, addr, Some(new))
            }
        };
        let id = rand::random();
        let na = pairing::fresh_nonce();
        info!(%contact, %addr, "pairing: starting");
        self.trust.pairing = Some(Session {
            id,
            contact: contact.clone(),
            role: Role::Initiator,
            started: Instant::now(),
            peer: None,
            peer_tls: Some(addr),
            na,
            nb: [0; 32],
            code: None,
            decisions: Decisions::default(),
            stage: Stage::Connecting,
            note: format!("Connecting to {contact}..."),
            new_contact,
        });
        self.wake();
        let (ua, commands) = (self.ua.clone(), self.own_commands.clone());
        let start = Message::Start {
            name: self.config.station.name.clone(),
            tls_port: ua.tls_port().unwrap_or(0),
        };
        let own = self.trust.identity.fingerprint;
        tokio::spawn(async move {
            let result = exchange(&ua, addr, own, start, na).await;
            if let Some(c) = commands.upgrade() {
                let _ = c.send(Command::Pairing(PairingCommand::Exchanged(id, result)));
            }
        });
        Ok(())
    }

    fn exchanged(&mut self, id: u64, result: Result<Exchange, String>) {
        let own = self.trust.identity.fingerprint;
        let Some(s) = self.trust.pairing.as_mut().filter(|s| s.id == id && s.open()) else {
            return;
        };
        let result = result.and_then(|x| match &s.new_contact {
            Some(new) if new.announced != x.peer => Err(format!(
                "the station that answered holds another certificate than {} announced",
                s.contact
            )),
            _ => Ok(x),
        });
        match result {
            Ok(x) => {
                s.peer = Some(x.peer);
                s.nb = x.nb;
                if let Some(addr) = s.peer_tls {
                    s.peer_tls = Some(SocketAddr::new(addr.ip(), x.tls_port));
                }
                s.code = Some(pairing::code(own, x.peer, &s.na, &s.nb));
                s.stage = Stage::Comparing;
                s.note = format!("Does {} show the same code?", s.contact);
                info!(contact = %s.contact, "pairing: comparing codes");
            }
            Err(why) => {
                warn!(contact = %s.contact, %why, "pairing failed");
                s.stage = Stage::Failed;
                s.note = format!("Pairing with {} failed: {why}. Nothing was paired.", s.contact);
                let note = s.note.clone();
                self.act(Action::Tell(note));
            }
        }
    }

    fn decide_pairing(&mut self, confirmed: bool) -> Result<(), String> {
        let s = self
            .trust
            .pairing
            .as_mut()
            .filter(|s| s.stage == Stage::Comparing)
            .ok_or("no pairing code is on screen")?;
        s.decisions.local = Some(confirmed);
        if let (Some(pin), Some(addr)) = (s.peer, s.peer_tls) {
            let ua = self.ua.clone();
            let body = Message::Decision { confirmed }.to_body();
            tokio::spawn(async move {
                if let Err(e) = ua.send_pairing(addr, Some(pin), body).await {
                    warn!(error = %e, "pairing: could not tell the other station");
                }
            });
        }
        self.settle_pairing();
        Ok(())
    }

    /// Pins, or gives up, once the decisions say so.
    fn settle_pairing(&mut self) {
        let Some(s) = self.trust.pairing.as_mut().filter(|s| s.stage == Stage::Comparing) else {
            return;
        };
        match s.decisions.outcome() {
            None => {
                if s.decisions.local == Some(true) {
                    s.note = format!("Confirm on {} too", s.contact);
                }
            }
            Some(true) => {
                let pin = Pin {
                    name: s.contact.clone(),
                    fingerprint: s.peer.expect("a compared session knows its peer"),
                    tls_port: s.peer_tls.map(|a| a.port()),
                    paired_at: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0),
                };
                let contact = s.contact.clone();
                let new_contact = s.new_contact.take();
                let stored = self
                    .trust
                    .pins
                    .lock()
                    .unwrap()
                    .insert(pin.clone())
                    .map_err(|e| e.to_string());
                // A station from the list becomes a contact (the pin is stored under its
                // name first, so that it is paired the moment it is a contact).
                let stored = stored.and_then(|()| match &new_contact {
                    Some(new) => self.add_paired_neighbour(&contact, new),
                    None => Ok(()),
                });
                let s = self.trust.pairing.as_mut().expect("the session settled above");
                match stored {
                    Ok(()) => {
                        info!(%contact, fingerprint = %pin.fingerprint, "paired");
                        s.stage = Stage::Paired;
                        s.note = format!("Paired with {contact}: calls are now encrypted");
                    }
                    Err(e) => {
                        warn!(%contact, error = %e, "cannot store the pairing");
                        if new_contact.is_some() {
                            let _ = self.trust.pins.lock().unwrap().remove(&contact);
                        }
                        let s = self.trust.pairing.as_mut().expect("the session settled above");
                        s.stage = Stage::Failed;
                        s.note = format!("Pairing with {contact} could not be stored: {e}");
                    }
                }
                let note = self.trust.pairing.as_ref().map(|s| s.note.clone()).unwrap_or_default();
                self.act(Action::Tell(note));
            }
            Some(false) => {
                let by = if s.decisions.local == Some(false) {
                    "here".to_string()
                } else {
                    format!("on {}", s.contact)
                };
                s.stage = Stage::Failed;
                s.note = format!("Pairing with {} declined {by}. Nothing was paired.", s.contact);
                info!(contact = %s.contact, %by, "pairing declined");
                let note = s.note.clone();
                self.act(Action::Tell(note));
            }
        }
    }

    fn unpair(&mut self, name: &str) -> Result<(), String> {
        let contact = self
            .config
            .contact(name)
            .ok_or_else(|| format!("{name:?} is not a contact"))?
            .name
            .clone();
        let removed = self
            .trust
            .pins
            .lock()
            .unwrap()
            .remove(&contact)
            .map_err(|e| e.to_string())?;
        if !removed {
            return Err(format!("{contact} is not paired"));
        }
        info!(%contact, "unpaired");
        self.act(Action::Tell(format!("Unpaired {contact}")));
        Ok(())
    }

    /// Ends a pairing nobody finished in time; clears a finished one from the screen.
    pub(super) fn pairing_tick(&mut self) {
        let Some(s) = self.trust.pairing.as_mut() else {
            return;
        };
        let age = s.started.elapsed();
        if s.open() && age > pairing::PAIRING_TIMEOUT {
            s.stage = Stage::Failed;
            s.note = format!("Pairing with {} timed out. Nothing was paired.", s.contact);
            warn!(contact = %s.contact, "pairing timed out");
            let note = s.note.clone();
            self.act(Action::Tell(note));
            self.update_screen();
        } else if !s.open() && age > pairing::PAIRING_TIMEOUT * 2 {
            self.trust.pairing = None;
        }
    }
}

impl Station {
    pub(super) fn security_status(&self) -> super::SecurityStatus {
        let pins = self.trust.pins.lock().unwrap();
        super::SecurityStatus {
            fingerprint: self.trust.identity.fingerprint.to_string(),
            code: self.trust.identity.fingerprint.short_code(),
            tls_uri: self.ua.tls_uri(),
            paired: self
                .config
                .contacts
                .iter()
                .filter_map(|c| crate::security::pins::pin_for(c, &pins).map(|(_, from)| (c.name.clone(), from)))
                .collect(),
            pairing: self.trust.pairing.as_ref().map(Session::status),
        }
    }

    /// The pairing screen, while one is under way or just ended.
    pub(super) fn pairing_screen(&self) -> Option<crate::ui::Screen> {
        // A finished pairing leaves its outcome as the screen's message instead.
        let s = self.trust.pairing.as_ref().filter(|s| s.open())?;
        Some(crate::ui::Screen::Pairing {
            peer: s.contact.clone(),
            code: s.code.map(pairing::show_code),
            asking: s.stage == Stage::Comparing && s.decisions.local.is_none(),
            note: s.note.clone(),
        })
    }

    /// A key or touch while a code is on screen: confirm or decline.
    pub(super) fn pairing_input(&mut self, confirmed: bool) -> bool {
        if !self
            .trust
            .pairing
            .as_ref()
            .is_some_and(|s| s.stage == Stage::Comparing && s.decisions.local.is_none())
        {
            return false;
        }
        if let Err(e) = self.decide_pairing(confirmed) {
            warn!(error = %e, "pairing decision");
        }
        true
    }
}
