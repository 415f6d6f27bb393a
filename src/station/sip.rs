//! The station's side of SIP: placing calls, telling who calls, and turning the user
//! agent's events into call machine events.

use super::Station;
use crate::call::machine::{Action, Event, PeerInfo, State};
use crate::call::parse_peer;
use crate::call::sdp::{AudioCodec, Direction, LocalCrypto, LocalMedia};
use crate::call::ua::{Caller, UaEvent};
use crate::call::Peer;
use crate::config::{Config, Contact, Group, PlainCalls};
use crate::media;
use crate::security::pins::PinStore;
use std::sync::{Arc, Mutex};
use tracing::warn;

impl Station {
    pub(super) fn dial(&mut self, target: &str) -> Result<(), String> {
        self.check_own_address();
        if let Some(group) = self.config.group(target).cloned() {
            return self.dial_group(group);
        }
        let contact = self.config.contact(target).cloned();
        let peer = match &contact {
            Some(c) => self.reach(c).map_err(Unreachable::why)?,
            None => self
                .reach_address(target)
                .map_err(|e| format!("{target:?} is not a contact, and {}", e.why()))?,
        };
        let secure = peer.secure.is_some();
        let info = PeerInfo {
            contact: contact.as_ref().map(|c| c.name.clone()),
            uri: peer.uri.clone(),
            ip: peer.addr.ip(),
            auto_answer: false,
            preview: false,
            secure,
        };
        let local = self
            .local_media(secure)
            .ok_or("no free RTP ports in the configured range")?;
        let call = format!("{:032x}@doorway", rand::random::<u128>());
        self.feed(Event::Dial {
            call,
            peer: info,
            local,
        });
        Ok(())
    }

    /// Rings every member of `group` at once ([`Event::DialGroup`]); members that may
    /// not be called (not paired while plain calls are refused) are left out and named.
    fn dial_group(&mut self, group: Group) -> Result<(), String> {
        if self.machine.state() != &State::Idle {
            return Err("already in a call; hang up first".into());
        }
        let (mut members, mut left_out, mut taken) = (vec![], vec![], vec![]);
        for name in &group.members {
            let Some(contact) = self.config.contact(name).cloned() else {
                continue;
            };
            let peer = match self.reach(&contact) {
                Ok(peer) => peer,
                Err(Unreachable::NotPaired(_)) => {
                    left_out.push(contact.name.clone());
                    continue;
                }
                Err(e) => return Err(e.why()),
            };
            let secure = peer.secure.is_some();
            let local = self
                .local_media_avoiding(secure, &mut taken)
                .ok_or("no free RTP ports in the configured range")?;
            let info = PeerInfo {
                contact: Some(contact.name.clone()),
                uri: peer.uri.clone(),
                ip: peer.addr.ip(),
                auto_answer: false,
                preview: false,
                secure,
            };
            members.push((format!("{:032x}@doorway", rand::random::<u128>()), info, local));
        }
        if members.is_empty() {
            return Err(format!(
                "nobody in {} can be called: {} not paired, and plain calls are refused (security.plain_calls)",
                group.name,
                left_out.join(", ")
            ));
        }
        if !left_out.is_empty() {
            warn!(group = %group.name, left_out = ?left_out, "not paired: not rung (plain calls are refused)");
        }
        self.feed(Event::DialGroup {
            group: group.name,
            members,
        });
        Ok(())
    }

    /// How to reach `contact`: its address, and over TLS with its pin when paired. A
    /// contact that is not paired cannot be reached while plain calls are refused.
    pub(super) fn reach(&self, contact: &Contact) -> Result<Peer, Unreachable> {
        // Found on the LAN (by its certificate, or the name its station announces), it
        // is called where it is now; otherwise at its configured address.
        let located = self.locate(contact).map_err(Unreachable::NotHeard)?;
        if located.is_none() {
            if contact.uri.trim().is_empty() {
                return Err(Unreachable::NotHeard(format!(
                    "{} is not heard on the LAN (is its station on, with [discovery] announce?)",
                    contact.name
                )));
            }
            if let Some(aor) = crate::call::parse_aor(&contact.uri) {
                return self.reach_through_server(&contact.name, aor);
            }
        }
        let uri = located.as_ref().map_or(contact.uri.as_str(), |l| l.uri.as_str());
        let mut peer = parse_peer(uri).map_err(|e| Unreachable::BadAddress(format!("{}: {e}", contact.name)))?;
        peer.secure = self
            .trust
            .secure_target(contact, peer.addr.ip())
            .map(|(at, pin)| match &located {
                Some(l) => (std::net::SocketAddr::new(at.ip(), l.tls_port), pin),
                None => (at, pin),
            });
        if peer.secure.is_none() && self.config.security.plain_calls == PlainCalls::Refuse {
            return Err(Unreachable::NotPaired(contact.name.clone()));
        }
        Ok(peer)
    }

    /// How to reach a SIP URI or address that is not a contact (never paired).
    fn reach_address(&self, uri: &str) -> Result<Peer, Unreachable> {
        if let Some(aor) = crate::call::parse_aor(uri).filter(|_| self.config.account.enabled()) {
            return self.reach_through_server(uri, aor);
        }
        let peer = parse_peer(uri).map_err(|e| Unreachable::BadAddress(e.to_string()))?;
        if self.config.security.plain_calls == PlainCalls::Refuse {
            return Err(Unreachable::NotPaired(uri.to_string()));
        }
        Ok(peer)
    }

    /// Ports and codecs for a new call; with fresh SRTP keys when it is to be encrypted.
    pub(super) fn local_media(&self, encrypted: bool) -> Option<LocalMedia> {
        self.local_media_avoiding(encrypted, &mut self.call_media.ports_in_use())
    }

    /// [`Self::local_media`] on ports not in `taken`, which then holds them too (the
    /// legs of one call each get their own).
    fn local_media_avoiding(&self, encrypted: bool, taken: &mut Vec<u16>) -> Option<LocalMedia> {
        let m = &self.config.media;
        let bind = self.config.station.listen.ip();
        let video = media::ports::allocate_pair(bind, m.rtp_port_min, m.rtp_port_max, taken)?;
        taken.push(video);
        let audio = media::ports::allocate_pair(bind, m.rtp_port_min, m.rtp_port_max, taken)?;
        taken.push(audio);
        Some(LocalMedia {
            addr: self.advertise,
            video_port: video,
            audio_port: audio,
            audio_codecs: m.audio_codecs.iter().filter_map(|c| AudioCodec::from_name(c)).collect(),
            direction: Direction::SendRecv,
            session_id: rand::random::<u32>() as u64,
            version: 1,
            crypto: encrypted.then(LocalCrypto::fresh),
        })
    }

    /// Finds the contact an INVITE comes from ([`crate::call::identify::recognise`]);
    /// `None` when it may not ring after all (a pin changed since it was admitted).
    fn identify(&self, caller: &Caller) -> Option<PeerInfo> {
        let config = self.located_config();
        let recognised = self.trust.recognise(&config, caller).ok()?;
        let chosen = recognised.contact;
        Some(PeerInfo {
            contact: chosen.map(|c| c.name.clone()),
            // Through the SIP server, the caller is who the server says.
            uri: caller.asserted.clone().unwrap_or_else(|| caller.from_uri.clone()),
            ip: caller.source,
            auto_answer: chosen.is_some_and(|c| c.auto_answer),
            preview: chosen.is_some_and(|c| c.preview),
            secure: recognised.secure,
        })
    }

    pub(super) fn on_sip(&mut self, event: UaEvent) {
        let event = match event {
            UaEvent::Incoming { call, caller, offer } => {
                self.check_own_address();
                let Some(peer) = self.identify(&caller) else {
                    let _ = self.ua.reject(&call, 403);
                    return;
                };
                // A paired contact's call must be encrypted (a plain offer gets 488 from the
                // answer); anyone else's is when it offers SRTP.
                let encrypted = peer.secure || crate::call::sdp::offers_srtp(&offer);
                let Some(local) = self.local_media(encrypted) else {
                    warn!("no free RTP ports; refusing the call");
                    let _ = self.ua.reject(&call, 503);
                    return;
                };
                let allow_unknown = self.config.station.allow_unknown_callers;
                Event::Incoming {
                    call,
                    peer,
                    offer,
                    local,
                    allow_unknown,
                }
            }
            UaEvent::Refused { from_uri, source, why } => {
                // Said on the screen only between calls: a stranger must not be able to
                // cover a running call with banners.
                if self.machine.state() == &State::Idle {
                    let who = if from_uri.is_empty() {
                        source.to_string()
                    } else {
                        from_uri
                    };
                    self.act(Action::Tell(format!("refused a call from {who}: {why}")));
                }
                return;
            }
            UaEvent::Pairing { caller, body, reply } => {
                self.on_pairing_message(caller, body, reply);
                return;
            }
            UaEvent::Text { from, text, reply } => {
                self.on_text(from, text, reply);
                return;
            }
            UaEvent::Account(status) => {
                self.on_account(status);
                return;
            }
            UaEvent::Progress { call, early_sdp } => Event::Progress { call, early_sdp },
            UaEvent::Answered { call, answer_sdp } => Event::Answered { call, answer_sdp },
            UaEvent::Failed { call, status, reason } => Event::Failed { call, status, reason },
            UaEvent::Cancelled { call, elsewhere } => Event::RemoteCancelled { call, elsewhere },
            UaEvent::Ended { call } => Event::RemoteEnded { call },
            UaEvent::NoAck { call } => Event::AckTimeout { call },
            UaEvent::RemoteOffer { call, offer } => Event::RemoteOffer { call, offer },
            UaEvent::OfferAnswered { call, answer } => Event::OfferAnswered { call, answer },
        };
        self.feed(event);
    }
}

/// Who may ring: contacts (paired ones only with their certificate), or everyone when
/// the config allows unknown callers. Contacts found on the LAN are taken at the address
/// they were last heard at, the moment they are heard.
pub(super) fn admission(
    config: &AdmissionConfig,
    pins: Arc<Mutex<PinStore>>,
    locator: Arc<super::nearby::Locator>,
) -> crate::call::ua::Admission {
    let config = config.clone();
    crate::call::ua::Admission(Arc::new(move |caller| {
        let config = config.0.lock().unwrap().clone();
        let pins = pins.lock().unwrap();
        let located = locator.located(&config, &pins);
        crate::call::identify::recognise(&located, &pins, caller).map(|_| ())
    }))
}

/// The contacts the user agent admits callers by, replaced when a new config is applied.
#[derive(Clone)]
pub(super) struct AdmissionConfig(Arc<Mutex<Arc<Config>>>);

impl AdmissionConfig {
    pub(super) fn new(config: &Config) -> Self {
        Self(Arc::new(Mutex::new(Arc::new(config.clone()))))
    }

    pub(super) fn replace(&self, config: &Config) {
        *self.0.lock().unwrap() = Arc::new(config.clone());
    }
}

/// Why a contact cannot be called or written to.
#[derive(Debug)]
pub(super) enum Unreachable {
    /// Its address is not one we can use.
    BadAddress(String),
    /// It has no address of its own and is not found on the LAN: why.
    NotHeard(String),
    /// It is not paired, and plain calls are refused.
    NotPaired(String),
}

impl Unreachable {
    /// For a person.
    pub(super) fn why(self) -> String {
        match self {
            Self::BadAddress(e) | Self::NotHeard(e) => e,
            Self::NotPaired(name) => format!(
                "{name} is not paired, and plain calls and messages are refused (security.plain_calls); pair first: doorway pair NAME"
            ),
        }
    }
}
