//! Changes to an established call (RFC 3264 section 8, RFC 3311): the other side's
//! re-INVITE or UPDATE (hold, resume, a new address or port, a stream added or removed)
//! and our own re-INVITE for hold and resume, with glare answered by 491.

use super::{no_picture_note, Leg};
use crate::call::machine::events::{Action, State};
use crate::call::sdp::{self, Direction, LocalMedia};

/// Our direction: on hold nobody sends (the door camera and microphone go quiet, not
/// just the other side's), otherwise both ways.
fn wanted_direction(held_by_us: bool) -> Direction {
    if held_by_us {
        Direction::Inactive
    } else {
        Direction::SendRecv
    }
}

impl Leg {
    pub(super) fn remote_offer(&mut self, id: String, offer: Option<String>) -> Vec<Action> {
        let respond = |status: u16, sdp: Option<String>| Action::RespondOffer {
            call: id.clone(),
            status,
            sdp,
        };
        let State::Active {
            call,
            peer,
            media,
            held_by_peer,
            held_by_us,
            local,
            local_sdp,
            offer_pending,
            ..
        } = &mut self.state
        else {
            // Still setting up (an UPDATE in the early dialog): not yet.
            let status = if self.current_call() == Some(id.as_str()) {
                491
            } else {
                481
            };
            return vec![respond(status, None)];
        };
        if *call != id {
            return vec![respond(481, None)];
        }
        if *offer_pending {
            // Glare: both sides re-offer at once; ours is out, theirs waits (RFC 3261 14.2).
            return vec![respond(491, None)];
        }
        let Some(offer) = offer else {
            // A re-INVITE without SDP asks for our offer: the description we have.
            return vec![respond(200, Some(local_sdp.clone()))];
        };
        let mut ours = LocalMedia {
            direction: wanted_direction(*held_by_us),
            ..local.clone()
        };
        let (mut answer, negotiated) = match sdp::answer(&offer, &ours) {
            Ok(ok) => ok,
            // The call goes on as it was.
            Err(e) => {
                let label = peer.label();
                return vec![
                    respond(e.status(), None),
                    Action::Tell(format!("{label} asked to change the call in a way we cannot use: {e}")),
                ];
            }
        };
        if answer != *local_sdp {
            // A new description gets a new version (RFC 3264 section 8).
            ours.version += 1;
            answer = sdp::answer(&offer, &ours).map(|(a, _)| a).unwrap_or(answer);
        }
        let label = peer.label().to_string();
        let holds = sdp::is_hold(&offer);
        let mut actions = vec![respond(200, Some(answer.clone()))];
        match (*held_by_peer, holds) {
            (false, true) => actions.push(Action::Tell(format!("{label} put the call on hold"))),
            (true, false) => actions.push(Action::Tell(format!("{label} took the call off hold"))),
            _ => {}
        }
        if media.video.is_some() {
            // The picture was there and the new offer ends it.
            actions.extend(no_picture_note(&label, &negotiated));
        }
        *held_by_peer = holds;
        *local = ours;
        *local_sdp = answer;
        *media = negotiated.clone();
        actions.push(Action::StartMedia {
            call: id,
            media: negotiated,
        });
        actions
    }

    pub(super) fn retry_reoffer(&mut self, id: String) -> Vec<Action> {
        match &self.state {
            State::Active {
                call, offer_pending, ..
            } if *call == id && !offer_pending => self.offer_again(),
            _ => vec![],
        }
    }

    /// A re-INVITE offering what we want now: our hold, or the call as it was.
    fn offer_again(&mut self) -> Vec<Action> {
        let State::Active {
            call,
            held_by_us,
            local,
            local_sdp,
            offer_pending,
            ..
        } = &mut self.state
        else {
            return vec![];
        };
        local.direction = wanted_direction(*held_by_us);
        local.version += 1;
        let offer = sdp::build_offer(local);
        *offer_pending = true;
        *local_sdp = offer.clone();
        vec![Action::SendReoffer {
            call: call.clone(),
            offer,
        }]
    }

    pub(super) fn set_hold(&mut self, hold: bool) -> Vec<Action> {
        let State::Active {
            held_by_us,
            offer_pending,
            ..
        } = &mut self.state
        else {
            return vec![Action::Tell("no call to hold or resume".into())];
        };
        if *offer_pending {
            return vec![Action::Tell("the last hold or resume is still under way".into())];
        }
        if *held_by_us == hold {
            return vec![];
        }
        *held_by_us = hold;
        self.offer_again()
    }

    pub(super) fn offer_answered(&mut self, id: String, answer: Result<String, u16>) -> Vec<Action> {
        let State::Active {
            call,
            peer,
            outgoing,
            media,
            held_by_us,
            local,
            offer_pending,
            ..
        } = &mut self.state
        else {
            return vec![];
        };
        if *call != id || !*offer_pending {
            return vec![];
        }
        *offer_pending = false;
        if answer == Err(491) {
            // Glare: wait, answering their offer meanwhile, then offer again.
            return vec![Action::RetryReofferLater {
                call: id,
                we_placed_the_call: *outgoing,
            }];
        }
        let label = peer.label().to_string();
        let what = if *held_by_us { "hold" } else { "resume" };
        let failed = match answer.map(|a| sdp::apply_answer(local, &a)) {
            Ok(Ok(negotiated)) => {
                *media = negotiated.clone();
                return vec![Action::StartMedia {
                    call: id,
                    media: negotiated,
                }];
            }
            Ok(Err(e)) => format!("{label} answered our {what} with media we cannot use ({e})"),
            Err(0) => format!("{label} did not answer our {what}"),
            Err(status) => format!("{label} refused our {what} ({status})"),
        };
        // Nothing changed on the wire: back to how the call was.
        *held_by_us = !*held_by_us;
        local.direction = wanted_direction(*held_by_us);
        vec![Action::Tell(failed)]
    }
}
