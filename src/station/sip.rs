//! The station's side of SIP: placing calls, telling who calls, and turning the user
//! agent's events into call machine events.

use super::Station;
use crate::call::machine::{Action, Event, PeerInfo, State};
use crate::call::parse_peer;
use crate::call::sdp::{AudioCodec, Direction, LocalMedia};
use crate::call::ua::UaEvent;
use crate::config::Config;
use crate::media;
use std::net::IpAddr;
use std::sync::Arc;
use tracing::warn;

impl Station {
    pub(super) fn dial(&mut self, target: &str) -> Result<(), String> {
        let (contact, uri) = match self.config.contact(target) {
            Some(c) => (Some(c.clone()), c.uri.clone()),
            None => (None, target.to_string()),
        };
        let peer = parse_peer(&uri).map_err(|e| format!("{target:?} is not a contact, and {e}"))?;
        let info = PeerInfo {
            contact: contact.as_ref().map(|c| c.name.clone()),
            uri: peer.uri.clone(),
            ip: peer.addr.ip(),
            auto_answer: false,
            preview: false,
        };
        let local = self.local_media().ok_or("no free RTP ports in the configured range")?;
        let call = format!("{:032x}@doorway", rand::random::<u128>());
        self.feed(Event::Dial {
            call,
            peer: info,
            local,
        });
        Ok(())
    }

    pub(super) fn local_media(&self) -> Option<LocalMedia> {
        let m = &self.config.media;
        let bind = self.config.station.listen.ip();
        let video = media::ports::allocate_pair(bind, m.rtp_port_min, m.rtp_port_max, &[])?;
        let audio = media::ports::allocate_pair(bind, m.rtp_port_min, m.rtp_port_max, &[video])?;
        Some(LocalMedia {
            addr: self.advertise,
            video_port: video,
            audio_port: audio,
            audio_codecs: m.audio_codecs.iter().filter_map(|c| AudioCodec::from_name(c)).collect(),
            direction: Direction::SendRecv,
            session_id: rand::random::<u32>() as u64,
            version: 1,
        })
    }

    /// Finds the contact an INVITE comes from ([`crate::call::identify`]).
    fn identify(&self, from_uri: &str, source: IpAddr) -> PeerInfo {
        let chosen = crate::call::identify::match_contact(&self.config.contacts, from_uri, source);
        PeerInfo {
            contact: chosen.map(|c| c.name.clone()),
            uri: from_uri.to_string(),
            ip: source,
            auto_answer: chosen.is_some_and(|c| c.auto_answer),
            preview: chosen.is_some_and(|c| c.preview),
        }
    }

    pub(super) fn on_sip(&mut self, event: UaEvent) {
        let event = match event {
            UaEvent::Incoming {
                call,
                from_uri,
                source,
                offer,
            } => {
                let peer = self.identify(&from_uri, source);
                let Some(local) = self.local_media() else {
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
            UaEvent::Refused { from_uri, source } => {
                // Said on the screen only between calls: a stranger must not be able to
                // cover a running call with banners.
                if self.machine.state() == &State::Idle {
                    let who = if from_uri.is_empty() {
                        source.to_string()
                    } else {
                        from_uri
                    };
                    self.act(Action::Tell(format!("refused a call from {who}: not a contact")));
                }
                return;
            }
            UaEvent::Progress { call, early_sdp } => Event::Progress { call, early_sdp },
            UaEvent::Answered { call, answer_sdp } => Event::Answered { call, answer_sdp },
            UaEvent::Failed { call, status, reason } => Event::Failed { call, status, reason },
            UaEvent::Cancelled { call } => Event::RemoteCancelled { call },
            UaEvent::Ended { call } => Event::RemoteEnded { call },
            UaEvent::NoAck { call } => Event::AckTimeout { call },
            UaEvent::RemoteOffer { call, offer } => Event::RemoteOffer { call, offer },
            UaEvent::OfferAnswered { call, answer } => Event::OfferAnswered { call, answer },
        };
        self.feed(event);
    }
}

/// Who may ring: contacts, or everyone when the config allows unknown callers.
pub(super) fn admission(config: &Config) -> crate::call::ua::Admission {
    if config.station.allow_unknown_callers {
        return crate::call::ua::Admission::everyone();
    }
    let contacts = config.contacts.clone();
    crate::call::ua::Admission(Arc::new(move |from, source| {
        crate::call::identify::match_contact(&contacts, from, source).is_some()
    }))
}
