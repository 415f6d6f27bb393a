//! The call state machine: one call at a time, made of legs (one dialog and one media
//! leg per remote), events in, actions out, no I/O.
//!
//! A [`super::leg`] follows one remote's dialog. The call decides what a leg's outcome
//! means for the rest: a ring group's first answer cancels the other members' legs
//! ("answered elsewhere"), and when every member failed the caller hears why; in a call
//! of several stations one leaving leaves the others talking, and hanging up here ends
//! every leg.

use super::leg::Leg;
use super::sdp::{LocalMedia, Negotiated};
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
    /// A person rang a ring group: one INVITE per member, at once; the first to answer
    /// gets the call.
    DialGroup {
        /// The group's name, for the screen.
        group: String,
        /// Per member: the Call-ID its INVITE will use, who, and our media for it.
        members: Vec<(String, PeerInfo, LocalMedia)>,
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
    /// CANCEL our pending INVITE because another member of the group answered
    /// (RFC 3326 Reason, cause 200).
    CancelElsewhere { call: String },
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

/// Where a leg of the call is; for the whole call, where its first leg is.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
// One value per station: boxing the call's data would save nothing worth the indirection.
#[allow(clippy::large_enum_variant)]
pub enum State {
    /// No call.
    #[default]
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

/// The most stations in one call, this one included.
pub const MAX_PARTICIPANTS: usize = 4;
/// The most members a ring group rings at once.
pub const MAX_GROUP: usize = 8;

/// The call state machine: the legs of the current call, if any.
#[derive(Debug, Default)]
pub struct CallMachine {
    legs: Vec<Leg>,
    /// The ring group whose members ring, until one answers.
    group: Option<String>,
    /// Why members of the ring group did not take the call, for the caller.
    group_outcomes: Vec<String>,
}

const IDLE: State = State::Idle;

impl CallMachine {
    /// A machine with no call.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where the call is: its first leg's state, or idle.
    pub fn state(&self) -> &State {
        self.legs.first().map(|l| &l.state).unwrap_or(&IDLE)
    }

    /// Every leg's state, first leg first.
    pub fn legs(&self) -> Vec<&State> {
        self.legs.iter().map(|l| &l.state).collect()
    }

    /// The ring group that rings, until a member answers.
    pub fn group(&self) -> Option<&str> {
        self.group.as_deref()
    }

    /// Call-ID of the first leg, if any.
    pub fn current_call(&self) -> Option<&str> {
        self.legs.first().and_then(|l| l.current_call())
    }

    fn leg_of(&self, call: &str) -> Option<usize> {
        self.legs.iter().position(|l| l.current_call() == Some(call))
    }

    /// Another station may join: every leg is up, no group rings, and there is room.
    pub fn has_room(&self) -> bool {
        !self.legs.is_empty()
            && self.group.is_none()
            && self.legs.len() < MAX_PARTICIPANTS - 1
            && self.legs.iter().all(|l| matches!(l.state, State::Active { .. }))
    }

    /// Feeds one event, returns what to do.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let actions = match event {
            Event::Dial { call, peer, local } => {
                if self.legs.is_empty() || self.has_room() {
                    self.new_leg(Event::Dial { call, peer, local })
                } else if self.legs.iter().all(|l| matches!(l.state, State::Active { .. })) {
                    vec![Action::Tell(format!(
                        "a call holds at most {MAX_PARTICIPANTS} stations"
                    ))]
                } else {
                    vec![Action::Tell("already in a call; hang up first".into())]
                }
            }
            Event::DialGroup { group, members } => self.dial_group(group, members),
            Event::Answer => match self.legs.iter().position(|l| matches!(l.state, State::Incoming { .. })) {
                Some(i) => self.legs[i].handle(Event::Answer),
                None => vec![Action::Tell("no call to answer".into())],
            },
            Event::Hangup => {
                self.group = None;
                self.legs.iter_mut().flat_map(|l| l.handle(Event::Hangup)).collect()
            }
            Event::Hold | Event::Resume => {
                let hold = matches!(event, Event::Hold);
                self.legs
                    .iter_mut()
                    .flat_map(|l| l.handle(if hold { Event::Hold } else { Event::Resume }))
                    .collect()
            }
            Event::Incoming { .. } if self.legs.len() <= 1 => match self.legs.first_mut() {
                // One leg decides itself: busy, or glare with our own call to the caller.
                Some(leg) => leg.handle(event),
                None => self.new_leg(event),
            },
            Event::Incoming {
                call,
                peer,
                allow_unknown,
                ..
            } => {
                let status = if peer.contact.is_none() && !allow_unknown {
                    403
                } else {
                    486
                };
                vec![Action::Reject { call, status }]
            }
            event => self.leg_event(event),
        };
        self.legs.retain(|l| l.state != State::Idle);
        if self.legs.is_empty() {
            self.group = None;
        }
        actions
    }

    fn new_leg(&mut self, event: Event) -> Vec<Action> {
        let mut leg = Leg::default();
        let actions = leg.handle(event);
        self.legs.push(leg);
        actions
    }

    fn dial_group(&mut self, group: String, members: Vec<(String, PeerInfo, LocalMedia)>) -> Vec<Action> {
        if !self.legs.is_empty() {
            return vec![Action::Tell("already in a call; hang up first".into())];
        }
        if members.is_empty() || members.len() > MAX_GROUP {
            return vec![Action::Tell(format!("{group} has no one to ring"))];
        }
        self.group = Some(group);
        self.group_outcomes.clear();
        members
            .into_iter()
            .flat_map(|(call, peer, local)| self.new_leg(Event::Dial { call, peer, local }))
            .collect()
    }

    /// An event about one leg's dialog: the leg acts, then the call weighs the outcome.
    fn leg_event(&mut self, event: Event) -> Vec<Action> {
        let Some(call) = event_call(&event).map(str::to_string) else {
            return vec![];
        };
        let Some(i) = self.leg_of(&call) else {
            // Not a leg of this call (a late answer to a call given up): an idle leg
            // says what to do with it, such as BYE for a 2xx.
            return Leg::default().handle(event);
        };
        let was_ringing_out = matches!(self.legs[i].state, State::Outgoing { .. });
        let label = self.legs[i].peer_label();
        let mut actions = self.legs[i].handle(event);
        let now = &self.legs[i].state;
        if self.group.is_some() {
            if was_ringing_out && matches!(now, State::Active { .. }) {
                // The first answer wins: the others stop ringing at once, before our
                // media starts (which can take a while on a small board).
                self.group = None;
                let winner = self.legs.swap_remove(i);
                let mut cancels = vec![];
                for other in self.legs.drain(..) {
                    if let Some(call) = other.current_call() {
                        cancels.push(Action::CancelElsewhere { call: call.into() });
                        cancels.push(Action::StopMedia { call: call.into() });
                    }
                }
                cancels.append(&mut actions);
                actions = cancels;
                self.legs.push(winner);
            } else if *now == State::Idle {
                // One member did not take it: tell the caller only once all have not.
                let (tells, rest): (Vec<Action>, Vec<Action>) =
                    actions.into_iter().partition(|a| matches!(a, Action::Tell(_)));
                actions = rest;
                self.group_outcomes.extend(tells.into_iter().filter_map(|a| match a {
                    Action::Tell(t) => Some(t),
                    _ => None,
                }));
                let left = self.legs.iter().filter(|l| l.state != State::Idle).count();
                if left == 0 {
                    let group = self.group.take().unwrap_or_default();
                    let why = self.group_outcomes.join("; ");
                    actions.push(Action::Tell(format!("nobody in {group} took the call: {why}")));
                }
            } else if matches!(now, State::Outgoing { .. }) {
                // Early media from several members at once has nowhere to go: the
                // members ring without our picture until one answers.
                actions.retain(|a| !matches!(a, Action::StartMedia { .. }));
            }
        } else if self.legs.len() > 1 && *now == State::Idle {
            // One station left a call of several: the others go on.
            for a in actions.iter_mut() {
                if let Action::Tell(t) = a {
                    *t = format!("{label} left the call");
                }
            }
        }
        actions
    }
}

/// The Call-ID an event is about, for events about one dialog.
fn event_call(event: &Event) -> Option<&str> {
    match event {
        Event::Progress { call, .. }
        | Event::Answered { call, .. }
        | Event::Failed { call, .. }
        | Event::RemoteCancelled { call, .. }
        | Event::RemoteEnded { call }
        | Event::AckTimeout { call }
        | Event::MediaTimeout { call }
        | Event::RemoteOffer { call, .. }
        | Event::OfferAnswered { call, .. }
        | Event::RetryReoffer { call }
        | Event::RingTimeout { call } => Some(call),
        Event::Dial { .. }
        | Event::DialGroup { .. }
        | Event::Answer
        | Event::Hangup
        | Event::Incoming { .. }
        | Event::Hold
        | Event::Resume => None,
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "machine_legs_tests.rs"]
mod legs_tests;
