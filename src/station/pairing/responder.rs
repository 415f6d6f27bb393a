//! The responder's side of pairing: a contact, or a station from the list of
//! neighbours, asks to pair over TLS; this station commits to its nonce, reveals it, and
//! takes the other person's decision ([`crate::security::pairing`] has the protocol).

use super::super::Station;
use super::{Role, Session};
use crate::call::ua::message::Replier;
use crate::call::ua::Caller;
use crate::security::pairing::{self, Decisions, Message, Stage};
use std::net::SocketAddr;
use std::time::Instant;
use tracing::{info, warn};

impl Station {
    /// A pairing message from another station (over TLS, with its certificate).
    pub(in crate::station) fn on_pairing_message(&mut self, caller: Caller, body: String, reply: Replier) {
        let Some(presented) = caller.certificate() else {
            return reply.send(403, None);
        };
        let Some(message) = Message::parse(&body) else {
            return reply.send(400, None);
        };
        let own = self.trust.identity.fingerprint;
        match message {
            Message::Start { tls_port, .. } => {
                if self.trust.pairing.as_ref().is_some_and(Session::open) {
                    return reply.send(486, None);
                }
                let located = self.located_config();
                let (contact, new_contact) = match crate::call::identify::match_contact(
                    &located.contacts,
                    &caller.from_uri,
                    caller.source,
                ) {
                    Some(c) if c.fingerprint.is_some() => return reply.send(403, None),
                    Some(c) => (c.name.clone(), None),
                    None => match self.neighbour_asking(presented) {
                        Some((name, new)) => (name, Some(new)),
                        None => {
                            warn!(from = %caller.from_uri, source = %caller.source, "pairing refused: not a contact, nor a station nearby");
                            return reply.send(403, None);
                        }
                    },
                };
                let nb = pairing::fresh_nonce();
                let answer = Message::Committed {
                    name: self.config.station.name.clone(),
                    tls_port: self.ua.tls_port().unwrap_or(0),
                    commitment: pairing::commitment(presented, own, &nb),
                };
                info!(%contact, "pairing: asked to pair");
                self.trust.pairing = Some(Session {
                    id: rand::random(),
                    contact: contact.clone(),
                    role: Role::Responder,
                    started: Instant::now(),
                    peer: Some(presented),
                    peer_tls: (tls_port != 0).then(|| SocketAddr::new(caller.source, tls_port)),
                    na: [0; 32],
                    nb,
                    code: None,
                    decisions: Decisions::default(),
                    stage: Stage::Connecting,
                    note: format!("{contact} wants to pair..."),
                    new_contact,
                });
                self.wake();
                reply.send(200, Some(answer.to_body()));
            }
            Message::Nonce { nonce } => {
                let session =
                    self.trust.pairing.as_mut().filter(|s| {
                        s.role == Role::Responder && s.stage == Stage::Connecting && s.peer == Some(presented)
                    });
                let (Some(s), Some(na)) = (session, pairing::parse_nonce(&nonce)) else {
                    return reply.send(481, None);
                };
                s.na = na;
                s.code = Some(pairing::code(presented, own, &s.na, &s.nb));
                s.stage = Stage::Comparing;
                s.note = format!("Does {} show the same code?", s.contact);
                reply.send(
                    200,
                    Some(
                        Message::Revealed {
                            nonce: pairing::to_hex(&s.nb),
                        }
                        .to_body(),
                    ),
                );
            }
            Message::Decision { confirmed } => {
                let session = self
                    .trust
                    .pairing
                    .as_mut()
                    .filter(|s| s.stage == Stage::Comparing && s.peer == Some(presented));
                let Some(s) = session else {
                    return reply.send(481, None);
                };
                s.decisions.remote = Some(confirmed);
                reply.send(200, None);
                self.settle_pairing();
            }
            Message::Committed { .. } | Message::Revealed { .. } => return reply.send(400, None),
        }
        self.update_screen();
    }
}
