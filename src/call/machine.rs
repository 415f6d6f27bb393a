//! The call state machine: one call at a time, events in, actions out, no I/O.
//!
//! It decides who may call, when to ring, preview or auto-answer, how glare (two stations
//! calling each other at once) resolves, and what each failure means to a person.

use super::sdp::{self, LocalMedia, Negotiated};
use serde::Serialize;

/// What we know about the other end of a call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerInfo {
    /// The contact's name when the peer is in our contact list.
    pub contact: Option<String>,
    /// The peer's SIP URI or address, for logs and the screen when it is not a contact.
    pub uri: String,
    /// IP address of the peer, used to recognise glare.
    pub ip: std::net::IpAddr,
    /// Answer without a key press.
    pub auto_answer: bool,
    /// Show the caller's video while ringing.
    pub preview: bool,
    /// The call goes over TLS with SRTP to the contact's pinned certificate.
    pub secure: bool,
}

impl PeerInfo {
    /// A short name for people: the contact name, else the URI.
    pub fn label(&self) -> &str {
        self.contact.as_deref().unwrap_or(&self.uri)
    }
}

/// Inputs to the machine. `call` is the SIP Call-ID.
#[derive(Debug, Clone)]
pub enum Event {
    /// A person asked to call `peer`; `call` is the Call-ID the INVITE will use.
    Dial {
        call: String,
        peer: PeerInfo,
        local: LocalMedia,
    },
    /// A person answered the ringing call.
    Answer,
    /// A person hung up, cancelled or declined, whatever the state.
    Hangup,
    /// An INVITE arrived.
    Incoming {
        call: String,
        peer: PeerInfo,
        offer: String,
        local: LocalMedia,
        allow_unknown: bool,
    },
    /// 180 or 183 arrived for our INVITE, with SDP for early media.
    Progress { call: String, early_sdp: Option<String> },
    /// 200 arrived for our INVITE.
    Answered { call: String, answer_sdp: String },
    /// Our INVITE failed: a final status, or none for timeout / transport failure.
    Failed {
        call: String,
        status: Option<u16>,
        reason: String,
    },
    /// The caller cancelled its INVITE; `elsewhere`: because someone else answered it
    /// (a ring group, a forking proxy).
    RemoteCancelled { call: String, elsewhere: bool },
    /// The other end sent BYE.
    RemoteEnded { call: String },
    /// We answered and the caller never confirmed (no ACK): the dialog is over.
    AckTimeout { call: String },
    /// No RTP from the peer for the media timeout.
    MediaTimeout { call: String },
    /// A re-INVITE or UPDATE in the established call: hold, resume, a new address or
    /// port, a stream added or removed. `offer` is its SDP, None when it has none.
    RemoteOffer { call: String, offer: Option<String> },
    /// A person put the call on hold.
    Hold,
    /// A person took the call off hold.
    Resume,
    /// The outcome of our re-INVITE: the answer, or the failure status (0: no response).
    OfferAnswered { call: String, answer: Result<String, u16> },
    /// The wait after a 491 is over: re-offer what we still want.
    RetryReoffer { call: String },
    /// An incoming call rang for the whole ring timeout without an answer (a caller that
    /// vanished without CANCEL rings no longer than this).
    RingTimeout { call: String },
}

/// Outputs of the machine, carried out by the user agent and the media layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send an INVITE with this offer.
    SendInvite {
        call: String,
        peer: PeerInfo,
        offer: String,
    },
    /// Send 180 (no SDP) or 183 with an early answer.
    SendRinging { call: String, early_answer: Option<String> },
    /// Send 200 with the answer.
    Accept { call: String, answer: String },
    /// Send a final error status to an INVITE.
    Reject { call: String, status: u16 },
    /// CANCEL our pending INVITE.
    Cancel { call: String },
    /// BYE an established call.
    Bye { call: String },
    /// Answer a re-INVITE or UPDATE: a status, and our SDP with a 2xx.
    RespondOffer {
        call: String,
        status: u16,
        sdp: Option<String>,
    },
    /// Send a re-INVITE with this offer (hold, resume).
    SendReoffer { call: String, offer: String },
    /// Both sides re-offered at once (491): feed [`Event::RetryReoffer`] after a random
    /// wait, 2.1 to 4 s when we placed the call (we own its Call-ID), else up to 2 s
    /// (RFC 3261 section 14.1).
    RetryReofferLater { call: String, we_placed_the_call: bool },
    /// Start or update media for a call.
    StartMedia { call: String, media: Negotiated },
    /// Stop the media of a call.
    StopMedia { call: String },
    /// Something a person should read (screen and log).
    Tell(String),
    /// A call from this peer rang out unanswered: a missed-call note that stays on the
    /// idle screen until someone is back at the station.
    Missed(String),
}

/// Where the station is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
// One value per station: boxing the call's data would save nothing worth the indirection.
#[allow(clippy::large_enum_variant)]
pub enum State {
    /// No call.
    Idle,
    /// Our INVITE is out.
    Outgoing {
        /// Call-ID.
        call: String,
        /// Who we call.
        peer: PeerInfo,
        /// The peer rings (180/183 seen).
        ringing: bool,
        #[serde(skip)]
        /// Our offer's media parameters.
        local: LocalMedia,
    },
    /// An INVITE rings here.
    Incoming {
        /// Call-ID.
        call: String,
        /// Who calls.
        peer: PeerInfo,
        /// The caller's video is shown while ringing.
        preview: bool,
        #[serde(skip)]
        /// The caller's offer.
        offer: String,
        #[serde(skip)]
        /// Our media parameters.
        local: LocalMedia,
    },
    /// Media flows.
    Active {
        /// Call-ID.
        call: String,
        /// The other end.
        peer: PeerInfo,
        /// We placed the call.
        outgoing: bool,
        /// Negotiated streams.
        media: Negotiated,
        /// The other end put the call on hold (its last offer sends nothing to us or
        /// takes nothing from us).
        held_by_peer: bool,
        /// We put the call on hold.
        held_by_us: bool,
        #[serde(skip)]
        /// Our ports and the version of our last description.
        local: LocalMedia,
        #[serde(skip)]
        /// Our last description (offer or answer), sent again when a re-INVITE has none.
        local_sdp: String,
        /// Our own re-INVITE (hold or resume) awaits its answer.
        offer_pending: bool,
    },
}

/// A call that just became active.
fn active(
    call: String,
    peer: PeerInfo,
    outgoing: bool,
    media: Negotiated,
    local: LocalMedia,
    local_sdp: String,
) -> State {
    State::Active {
        call,
        peer,
        outgoing,
        media,
        held_by_peer: false,
        held_by_us: false,
        local,
        local_sdp,
        offer_pending: false,
    }
}

/// The call state machine.
#[derive(Debug)]
pub struct CallMachine {
    state: State,
}

impl Default for CallMachine {
    fn default() -> Self {
        Self::new()
    }
}

impl CallMachine {
    /// A machine with no call.
    pub fn new() -> Self {
        Self { state: State::Idle }
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Call-ID of the current call, if any.
    pub fn current_call(&self) -> Option<&str> {
        match &self.state {
            State::Idle => None,
            State::Outgoing { call, .. } | State::Incoming { call, .. } | State::Active { call, .. } => Some(call),
        }
    }

    fn is_current(&self, id: &str) -> bool {
        self.current_call() == Some(id)
    }

    /// Feeds one event, returns what to do.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        match event {
            Event::Dial { call, peer, local } => self.dial(call, peer, local),
            Event::Answer => self.answer(),
            Event::Hangup => self.hangup(),
            Event::Incoming {
                call,
                peer,
                offer,
                local,
                allow_unknown,
            } => self.incoming(call, peer, offer, local, allow_unknown),
            Event::Progress { call, early_sdp } => self.progress(call, early_sdp),
            Event::Answered { call, answer_sdp } => self.answered(call, answer_sdp),
            Event::Failed { call, status, reason } => self.failed(call, status, reason),
            Event::RemoteCancelled { call, elsewhere: false } => self.remote_gone(call, "the caller hung up"),
            Event::RemoteCancelled { call, elsewhere: true } => {
                let why = format!("{}'s call was answered elsewhere", self.peer_label());
                self.remote_gone(call, &why)
            }
            Event::RemoteEnded { call } => self.remote_gone(call, "call ended by the other side"),
            Event::AckTimeout { call } => {
                self.remote_gone(call, "the other side never confirmed the call (no ACK); call ended")
            }
            Event::RingTimeout { call } => self.ring_timeout(call),
            Event::RemoteOffer { call, offer } => self.remote_offer(call, offer),
            Event::Hold => self.set_hold(true),
            Event::Resume => self.set_hold(false),
            Event::OfferAnswered { call, answer } => self.offer_answered(call, answer),
            Event::RetryReoffer { call } => self.retry_reoffer(call),
            Event::MediaTimeout { call } => {
                if !self.is_current(&call) {
                    return vec![];
                }
                let label = self.peer_label();
                self.state = State::Idle;
                vec![
                    Action::Bye { call: call.clone() },
                    Action::StopMedia { call },
                    Action::Tell(format!("lost the connection to {label}; call ended")),
                ]
            }
        }
    }

    fn peer_label(&self) -> String {
        match &self.state {
            State::Outgoing { peer, .. } | State::Incoming { peer, .. } | State::Active { peer, .. } => {
                peer.label().to_string()
            }
            State::Idle => String::new(),
        }
    }

    fn dial(&mut self, call: String, peer: PeerInfo, local: LocalMedia) -> Vec<Action> {
        if self.state != State::Idle {
            return vec![Action::Tell("already in a call; hang up first".into())];
        }
        let offer = sdp::build_offer(&local);
        self.state = State::Outgoing {
            call: call.clone(),
            peer: peer.clone(),
            ringing: false,
            local,
        };
        vec![Action::SendInvite { call, peer, offer }]
    }

    fn hangup(&mut self) -> Vec<Action> {
        let state = std::mem::replace(&mut self.state, State::Idle);
        match state {
            State::Idle => vec![],
            State::Outgoing { call, .. } => vec![Action::Cancel { call: call.clone() }, Action::StopMedia { call }],
            State::Incoming { call, .. } => {
                vec![
                    Action::Reject {
                        call: call.clone(),
                        status: 603,
                    },
                    Action::StopMedia { call },
                ]
            }
            State::Active { call, .. } => vec![Action::Bye { call: call.clone() }, Action::StopMedia { call }],
        }
    }

    fn progress(&mut self, id: String, early_sdp: Option<String>) -> Vec<Action> {
        let State::Outgoing {
            call, ringing, local, ..
        } = &mut self.state
        else {
            return vec![];
        };
        if *call != id {
            return vec![];
        }
        *ringing = true;
        let mut actions = vec![];
        if let Some(media) = early_sdp.and_then(|s| sdp::apply_answer(local, &s).ok()) {
            actions.push(Action::StartMedia { call: id, media });
        }
        actions
    }

    fn answered(&mut self, id: String, answer_sdp: String) -> Vec<Action> {
        let State::Outgoing { call, peer, local, .. } = &self.state else {
            // A 200 for a call we gave up (cancel raced the answer): end it.
            return vec![Action::Bye { call: id }];
        };
        if *call != id {
            return vec![Action::Bye { call: id }];
        }
        match sdp::apply_answer(local, &answer_sdp) {
            Ok(media) => {
                let (peer, local) = (peer.clone(), local.clone());
                let mut actions = no_picture_note(peer.label(), &media);
                let offer = sdp::build_offer(&local);
                self.state = active(id.clone(), peer, true, media.clone(), local, offer);
                actions.push(Action::StartMedia { call: id, media });
                actions
            }
            Err(e) => {
                let label = peer.label().to_string();
                self.state = State::Idle;
                vec![
                    Action::Bye { call: id.clone() },
                    Action::StopMedia { call: id },
                    Action::Tell(format!("{label} answered with media we cannot use ({e}); call ended")),
                ]
            }
        }
    }

    fn failed(&mut self, id: String, status: Option<u16>, reason: String) -> Vec<Action> {
        let State::Outgoing { call, peer, .. } = &self.state else {
            return vec![];
        };
        if *call != id {
            return vec![];
        }
        let label = peer.label().to_string();
        let message = match status {
            Some(486) | Some(600) => format!("{label} is busy"),
            Some(603) => format!("{label} declined the call"),
            Some(403) => format!("{label} does not accept calls from this station"),
            Some(480) | Some(408) => format!("{label} did not answer"),
            Some(487) => format!("call to {label} cancelled"),
            Some(488) | Some(415) => format!("{label} cannot handle our audio/video formats"),
            Some(code) => format!("call to {label} failed: {code} {reason}"),
            None => format!("{label} is unreachable: {reason}"),
        };
        self.state = State::Idle;
        vec![Action::StopMedia { call: id }, Action::Tell(message)]
    }

    fn remote_gone(&mut self, id: String, why: &str) -> Vec<Action> {
        if !self.is_current(&id) || matches!(self.state, State::Outgoing { .. }) {
            return vec![];
        }
        self.state = State::Idle;
        vec![Action::StopMedia { call: id }, Action::Tell(why.to_string())]
    }
}

/// Tells a person why a call that goes on has no picture from the other side.
fn no_picture_note(label: &str, media: &Negotiated) -> Vec<Action> {
    match (&media.video, &media.video_refused) {
        (None, Some(why)) => vec![Action::Tell(format!(
            "no picture from {label}: {why}; the call is sound only"
        ))],
        _ => vec![],
    }
}

#[path = "machine_incoming.rs"]
mod incoming;
#[path = "machine_update.rs"]
mod update;

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
