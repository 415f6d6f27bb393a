//! The call state machine: one call at a time, events in, actions out, no I/O.
//!
//! It decides who may call, when to ring, preview or auto-answer, how glare (two stations
//! calling each other at once) resolves, and what each failure means to a person.

use super::sdp::{self, Direction, LocalMedia, Negotiated};
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
    /// The caller cancelled its INVITE.
    RemoteCancelled { call: String },
    /// The other end sent BYE, or the dialog ended without one (ACK timeout).
    RemoteEnded { call: String },
    /// No RTP from the peer for the media timeout.
    MediaTimeout { call: String },
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
    /// Start or update media for a call.
    StartMedia { call: String, media: Negotiated },
    /// Stop the media of a call.
    StopMedia { call: String },
    /// Something a person should read (screen and log).
    Tell(String),
}

/// Where the station is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
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
    },
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
            Event::RemoteCancelled { call } => self.remote_gone(call, "the caller hung up"),
            Event::RemoteEnded { call } => self.remote_gone(call, "call ended by the other side"),
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

    fn incoming(
        &mut self,
        call: String,
        peer: PeerInfo,
        offer: String,
        local: LocalMedia,
        allow_unknown: bool,
    ) -> Vec<Action> {
        if peer.contact.is_none() && !allow_unknown {
            return vec![
                Action::Reject { call, status: 403 },
                Action::Tell(format!("refused a call from {}: not a contact", peer.uri)),
            ];
        }
        let mut actions = Vec::new();
        if let State::Outgoing {
            call: ours,
            peer: callee,
            ..
        } = &self.state
        {
            let same_peer = callee.ip == peer.ip || (callee.contact.is_some() && callee.contact == peer.contact);
            // Glare: both ends called each other. Both sides compare the two Call-IDs the
            // same way; the call with the smaller Call-ID survives and is answered at once,
            // since both people asked for it.
            if same_peer && call < *ours {
                actions.push(Action::Cancel { call: ours.clone() });
                actions.push(Action::StopMedia { call: ours.clone() });
                self.state = State::Idle;
                let mut peer = peer;
                peer.auto_answer = true;
                actions.extend(self.incoming(call, peer, offer, local, allow_unknown));
                return actions;
            }
        }
        if self.state != State::Idle {
            return vec![Action::Reject { call, status: 486 }];
        }
        let full = LocalMedia {
            direction: Direction::SendRecv,
            ..local.clone()
        };
        let (answer, media) = match sdp::answer(&offer, &full) {
            Ok(ok) => ok,
            Err(e) => {
                return vec![
                    Action::Reject {
                        call,
                        status: e.status(),
                    },
                    Action::Tell(format!("refused a call from {}: {e}", peer.label())),
                ]
            }
        };
        if peer.auto_answer {
            self.state = State::Active {
                call: call.clone(),
                peer,
                outgoing: false,
                media: media.clone(),
            };
            actions.push(Action::Accept {
                call: call.clone(),
                answer,
            });
            actions.push(Action::StartMedia { call, media });
            return actions;
        }
        let preview = peer.preview;
        if preview {
            let recv_only = LocalMedia {
                direction: Direction::RecvOnly,
                ..local.clone()
            };
            // The full answer above already proved the offer usable.
            if let Ok((early, early_media)) = sdp::answer(&offer, &recv_only) {
                actions.push(Action::SendRinging {
                    call: call.clone(),
                    early_answer: Some(early),
                });
                actions.push(Action::StartMedia {
                    call: call.clone(),
                    media: early_media,
                });
            }
        } else {
            actions.push(Action::SendRinging {
                call: call.clone(),
                early_answer: None,
            });
        }
        self.state = State::Incoming {
            call,
            peer,
            preview,
            offer,
            local,
        };
        actions
    }

    fn answer(&mut self) -> Vec<Action> {
        let State::Incoming {
            call,
            peer,
            offer,
            local,
            ..
        } = &self.state
        else {
            return vec![Action::Tell("no call to answer".into())];
        };
        let full = LocalMedia {
            direction: Direction::SendRecv,
            version: local.version + 1,
            ..local.clone()
        };
        match sdp::answer(offer, &full) {
            Ok((answer, media)) => {
                let (call, peer) = (call.clone(), peer.clone());
                self.state = State::Active {
                    call: call.clone(),
                    peer,
                    outgoing: false,
                    media: media.clone(),
                };
                vec![
                    Action::Accept {
                        call: call.clone(),
                        answer,
                    },
                    Action::StartMedia { call, media },
                ]
            }
            Err(e) => {
                let call = call.clone();
                self.state = State::Idle;
                vec![
                    Action::Reject {
                        call: call.clone(),
                        status: e.status(),
                    },
                    Action::StopMedia { call },
                ]
            }
        }
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
                let peer = peer.clone();
                self.state = State::Active {
                    call: id.clone(),
                    peer,
                    outgoing: true,
                    media: media.clone(),
                };
                vec![Action::StartMedia { call: id, media }]
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

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
