//! One leg of a call: the dialog with one remote, from INVITE (ours or theirs) to its
//! end. Who may call, when to ring, preview or auto-answer, how glare (two stations
//! calling each other at once) resolves, and what each failure means to a person; hold,
//! resume and re-INVITE are in [`update`].

use super::events::{Action, Event, PeerInfo, State};
use crate::call::sdp::{self, LocalMedia, Negotiated};

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

/// One remote's side of a call: its dialog from INVITE to BYE. Events for its
/// Call-ID come in, actions go out; [`super::CallMachine`] decides what a leg's outcome
/// means for the whole call.
#[derive(Debug, Default)]
pub(super) struct Leg {
    pub(super) state: State,
}

impl Leg {
    /// Call-ID of this leg's dialog, if it has one.
    pub(super) fn current_call(&self) -> Option<&str> {
        match &self.state {
            State::Idle => None,
            State::Outgoing { call, .. } | State::Incoming { call, .. } | State::Active { call, .. } => Some(call),
        }
    }

    fn is_current(&self, id: &str) -> bool {
        self.current_call() == Some(id)
    }

    /// Feeds one event, returns what to do.
    pub(super) fn handle(&mut self, event: Event) -> Vec<Action> {
        match event {
            Event::Dial { call, peer, local } => self.dial(call, peer, local),
            // The call hands each leg its own Dial.
            Event::DialGroup { .. } => vec![],
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

    pub(super) fn peer_label(&self) -> String {
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

mod incoming;
mod update;
