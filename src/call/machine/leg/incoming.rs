//! Calls that come in: who may ring, glare with our own call, auto-answer, the door
//! preview, answering, and the end of ringing nobody answered.

use super::{active, no_picture_note, Leg};
use crate::call::machine::events::{Action, PeerInfo, State};
use crate::call::sdp::{self, Direction, LocalMedia};

impl Leg {
    pub(super) fn incoming(
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
            let peer_label = peer.label().to_string();
            self.state = active(call.clone(), peer, false, media.clone(), full, answer.clone());
            actions.push(Action::Accept {
                call: call.clone(),
                answer,
            });
            actions.extend(no_picture_note(&peer_label, &media));
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

    pub(super) fn answer(&mut self) -> Vec<Action> {
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
                let note = no_picture_note(peer.label(), &media);
                self.state = active(call.clone(), peer, false, media.clone(), full, answer.clone());
                let mut actions = vec![Action::Accept {
                    call: call.clone(),
                    answer,
                }];
                actions.extend(note);
                actions.push(Action::StartMedia { call, media });
                actions
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

    pub(super) fn ring_timeout(&mut self, id: String) -> Vec<Action> {
        let State::Incoming { call, peer, .. } = &self.state else {
            return vec![];
        };
        if *call != id {
            return vec![];
        }
        let label = peer.label().to_string();
        self.state = State::Idle;
        vec![
            // 480: nobody here took it; the caller tells its person "did not answer".
            Action::Reject {
                call: id.clone(),
                status: 480,
            },
            Action::StopMedia { call: id },
            Action::Missed(label),
        ]
    }
}
