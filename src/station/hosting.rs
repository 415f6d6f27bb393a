//! Hosting a call of several stations. While one remote is in the call its media is a
//! two-station [`crate::media::MediaSession`]; when a second leg's media starts, that gives way to a
//! [`ConferenceMedia`] of every leg (the grid and the mixes run here), rebuilt whenever
//! a leg joins, changes or leaves; when one remote is left, the call goes back to a
//! two-station session with it.

use super::Station;
use crate::call::machine::State;
use crate::call::sdp::Negotiated;
use crate::device::Devices;
use crate::media::conference::{ConferenceMedia, ConferenceStats};
use std::time::Instant;
use tracing::{info, warn};

/// The media of a hosted call and the legs it serves, in grid order.
pub(super) struct Hosted {
    media: ConferenceMedia,
    legs: Vec<(String, Negotiated)>,
    since: Instant,
}

impl Hosted {
    /// `media`, just started for `legs`.
    fn new(media: ConferenceMedia, legs: Vec<(String, Negotiated)>) -> Hosted {
        Hosted {
            media,
            legs,
            since: Instant::now(),
        }
    }

    /// Stops the media: the legs it served, in grid order.
    pub(super) fn stop(self, devices: &Devices) -> Vec<(String, Negotiated)> {
        self.media.stop(devices);
        self.legs
    }

    /// Speaker volume and microphone mute on the call's pipelines.
    pub(super) fn set_levels(&self, volume: f64, mic_muted: bool) {
        self.media.set_levels(volume, mic_muted);
    }

    /// The media's counts, for the status.
    pub(super) fn stats(&self) -> ConferenceStats {
        self.media.stats()
    }

    /// What each leg negotiated, in grid order.
    pub(super) fn negotiations(&self) -> impl Iterator<Item = &Negotiated> {
        self.legs.iter().map(|(_, n)| n)
    }
}

impl Station {
    /// The address a leg's SIP comes from (its media may come from there too).
    pub(super) fn leg_peer_ip(&self, call: &str) -> Option<std::net::IpAddr> {
        self.machine.legs().into_iter().find_map(|s| match s {
            State::Outgoing { call: c, peer, .. }
            | State::Incoming { call: c, peer, .. }
            | State::Active { call: c, peer, .. }
                if c == call =>
            {
                Some(peer.ip)
            }
            _ => None,
        })
    }

    /// Media for leg `call` of a hosted call: joins it (or takes its new negotiation).
    pub(super) fn host_leg(&mut self, call: String, mut negotiated: Negotiated) -> Result<(), String> {
        let _step = self.watch.step("starting a hosted call's media");
        negotiated.signalling_peer = self.leg_peer_ip(&call);
        let mut legs = self.call_media.stop_for_hosting(&self.devices);
        match legs.iter_mut().find(|(c, _)| *c == call) {
            Some(leg) => leg.1 = negotiated,
            None => legs.push((call, negotiated)),
        }
        self.start_hosted(legs)
    }

    /// Leg `call` left a hosted call: the others go on. False when the call is not
    /// hosted.
    pub(super) fn unhost_leg(&mut self, call: &str) -> bool {
        let Some(legs) = self.call_media.stop_hosted(&self.devices) else {
            return false;
        };
        // Legs that ended with it (a hang-up ends them all at once) go too.
        let legs: Vec<_> = legs
            .into_iter()
            .filter(|(c, _)| c != call && self.leg_peer_ip(c).is_some())
            .collect();
        let result = match legs.len() {
            0 => Ok(()),
            1 => {
                let (call, negotiated) = legs.into_iter().next().expect("one leg");
                info!(%call, "one station left in the call: back to a two-station call");
                self.call_media.serve(call);
                self.start_media(&negotiated)
            }
            _ => self.start_hosted(legs),
        };
        if let Err(e) = result {
            warn!(error = %e, "media of the remaining legs");
            self.ui.show_message(e);
        }
        true
    }

    fn start_hosted(&mut self, legs: Vec<(String, Negotiated)>) -> Result<(), String> {
        self.call_media.stop_ringing();
        let negotiated: Vec<Negotiated> = legs.iter().map(|(_, n)| n.clone()).collect();
        let media = ConferenceMedia::start(self.call_media.settings(), &negotiated, &self.devices, self.video_out())
            .map_err(|e| format!("media could not start: {e}"))?;
        info!(legs = legs.len(), "hosting the call");
        // A digit from any leg may open this station's door (the same rules as in a
        // call of two).
        for (k, (call, _)) in legs.iter().enumerate() {
            media.on_digit(k, self.digits_of(call));
        }
        self.call_media.host(Hosted::new(media, legs));
        self.apply_levels();
        Ok(())
    }

    /// The legs of a hosted call whose media stopped arriving (each leg ends on its
    /// own; a held leg may send nothing).
    pub(super) fn silent_hosted_legs(&self, limit_ms: u64) -> Vec<String> {
        let Some(hosted) = self.call_media.hosted() else {
            return vec![];
        };
        let stats = hosted.media.stats();
        let started = hosted.since.elapsed().as_millis() as u64;
        hosted
            .legs
            .iter()
            .zip(stats.ms_since_last_packet)
            .filter(|((call, n), silence)| {
                let receives = n.video.iter().any(|v| v.rtp.direction.receives())
                    || n.audio.iter().any(|a| a.rtp.direction.receives());
                let held = self
                    .machine
                    .legs()
                    .into_iter()
                    .any(|s| matches!(s, State::Active { call: c, held_by_peer: true, .. } if c == call));
                receives && !held && silence.unwrap_or(started) > limit_ms
            })
            .map(|((call, _), _)| call.clone())
            .collect()
    }

    /// Contacts that may join the call now, in config order: none while a group rings,
    /// a leg is not up yet, or the call is full.
    pub(super) fn can_add(&self) -> Vec<String> {
        if !self.machine.has_room() {
            return vec![];
        }
        let contacts = self.config.contacts.iter().map(|c| c.name.clone());
        contacts.filter(|name| !self.in_call(name)).collect()
    }

    /// Whether contact `name` is a leg of the call.
    pub(super) fn in_call(&self, name: &str) -> bool {
        self.machine.legs().into_iter().any(|s| match s {
            State::Outgoing { peer, .. } | State::Incoming { peer, .. } | State::Active { peer, .. } => {
                peer.contact.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(name))
            }
            State::Idle => false,
        })
    }

    /// Who the call is with, for the call screen: "Kitchen" or "Kitchen, Office".
    pub(super) fn participants(&self) -> String {
        let labels: Vec<&str> = self
            .machine
            .legs()
            .into_iter()
            .filter_map(|s| match s {
                State::Outgoing { peer, .. } | State::Incoming { peer, .. } | State::Active { peer, .. } => {
                    Some(peer.label())
                }
                State::Idle => None,
            })
            .collect();
        labels.join(", ")
    }

    /// Every leg of the call is encrypted.
    pub(super) fn call_is_secure(&self) -> bool {
        self.machine.legs().into_iter().all(|s| match s {
            State::Outgoing { peer, .. } | State::Incoming { peer, .. } | State::Active { peer, .. } => peer.secure,
            State::Idle => true,
        })
    }
}
