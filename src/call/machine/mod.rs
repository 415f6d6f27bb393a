//! The call state machine: one call at a time, made of legs (one dialog and one media
//! leg per remote), events in, actions out, no I/O.
//!
//! A leg follows one remote's dialog. The call decides what a leg's outcome
//! means for the rest: a ring group's first answer cancels the other members' legs
//! ("answered elsewhere"), and when every member failed the caller hears why; in a call
//! of several stations one leaving leaves the others talking, and hanging up here ends
//! every leg.

mod events;
mod leg;

use super::sdp::LocalMedia;
pub use events::{Action, Event, PeerInfo, State, MAX_GROUP, MAX_PARTICIPANTS};
use leg::Leg;

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
mod tests;

#[cfg(test)]
mod legs_tests;
