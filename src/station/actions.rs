//! Carrying out the call machine's actions: SIP messages, media, ring tones, messages.

use super::Station;
use crate::call::machine::{Action, State};
use crate::call::parse_peer;
use crate::media::{self, MediaSession, VideoOut};
use std::sync::Arc;
use std::time::Instant;
use tracing::{info, info_span, warn};

/// The media of the call: its pipelines, the ring tone, the levels, and the camera's health
/// during the call.
pub(super) struct CallMedia {
    pub(super) settings: crate::media::MediaSettings,
    pub(super) media: Option<crate::media::MediaSession>,
    /// The Call-ID of the leg `media` serves.
    pub(super) media_call: Option<String>,
    /// The media of a call this station hosts for several remotes (then `media` is
    /// None).
    pub(super) hosted: Option<super::hosting::Hosted>,
    /// The last call's media being released in the background.
    pub(super) teardown: Option<std::thread::JoinHandle<()>>,
    /// The ring tone playing, if any.
    pub(super) ringer: Option<(crate::media::ring::Tone, crate::media::ring::Ringer)>,
    /// Speaker volume (1.0 = as received) and microphone mute, kept across calls.
    pub(super) volume: f64,
    pub(super) mic_muted: bool,
    /// Camera failures the media feeder had counted at the last tick, and whether the
    /// camera was failing then.
    pub(super) camera_failures_seen: u64,
    pub(super) camera_down: bool,
}

impl CallMedia {
    /// Speaker volume on the sound card's mixer where it has one (up to 100%; beyond,
    /// and on cards without one, the receive pipeline scales the samples), and the
    /// microphone mute, on the call's media.
    pub(super) fn apply_levels(&self, speaker: &crate::device::Shared<dyn crate::device::Speaker>) {
        let hardware = speaker.lock().unwrap().set_hardware_volume(self.volume.min(1.0));
        let software = if hardware { self.volume.max(1.0) } else { self.volume };
        if let Some(session) = &self.media {
            session.set_levels(software, self.mic_muted);
        }
        if let Some(hosted) = &self.hosted {
            hosted.media.set_levels(software, self.mic_muted);
        }
    }
}

impl Station {
    pub(super) fn act(&mut self, action: Action) {
        let span = info_span!("call", id = %super::action_call(&action));
        let _guard = span.enter();
        let result = match action {
            Action::SendInvite { call, peer, offer } => match crate::call::parse_aor(&peer.uri) {
                // An address of record: through the account's server.
                Some(aor) => self
                    .reach_through_server(peer.label(), aor)
                    .map_err(super::sip::Unreachable::why)
                    .and_then(|target| self.ua.invite(&call, &target, offer).map_err(|e| e.to_string())),
                None => match parse_peer(&peer.uri) {
                    Ok(mut target) => {
                        if peer.secure {
                            let contact = peer.contact.as_deref().and_then(|n| self.config.contact(n)).cloned();
                            target.secure = contact.and_then(|c| self.secure_target(&c, target.addr.ip()));
                        }
                        self.ua.invite(&call, &target, offer).map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e.to_string()),
                },
            },
            Action::SendRinging { call, early_answer } => {
                self.ua.ringing(&call, early_answer).map_err(|e| e.to_string())
            }
            Action::Accept { call, answer } => self.ua.accept(&call, answer).map_err(|e| e.to_string()),
            Action::Reject { call, status } => self.ua.reject(&call, status).map_err(|e| e.to_string()),
            Action::Cancel { call } => {
                let ua = self.ua.clone();
                tokio::spawn(async move { ua.cancel(&call).await.ok() });
                Ok(())
            }
            Action::CancelElsewhere { call } => {
                let ua = self.ua.clone();
                tokio::spawn(async move { ua.cancel_elsewhere(&call).await.ok() });
                Ok(())
            }
            Action::Bye { call } => {
                let ua = self.ua.clone();
                tokio::spawn(async move { ua.bye(&call).await.ok() });
                Ok(())
            }
            Action::RespondOffer { call, status, sdp } => {
                self.ua.respond_offer(&call, status, sdp).map_err(|e| e.to_string())
            }
            Action::SendReoffer { call, offer } => self.ua.reoffer(&call, offer).map_err(|e| e.to_string()),
            Action::RetryReofferLater {
                call,
                we_placed_the_call,
            } => {
                // RFC 3261 section 14.1: the Call-ID's owner waits 2.1 to 4 s, the other
                // side 0 to 2 s, so the two retries do not meet again.
                let ms = if we_placed_the_call {
                    rand::random_range(2100..4000)
                } else {
                    rand::random_range(0..2000)
                };
                info!(ms, "both sides changed the call at once; offering again later");
                let commands = self.own_commands.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    if let Some(commands) = commands.upgrade() {
                        let _ = commands.send(super::Command::RetryReoffer(call));
                    }
                });
                Ok(())
            }
            // Another leg's media beside ours: this station hosts the call.
            Action::StartMedia { call, media } if self.hosts(&call) => self.host_leg(call, media),
            Action::StartMedia { call, media } => {
                self.call_media.media_call = Some(call.clone());
                let started = self.start_media(&media);
                self.listen_for_digits(&call);
                started
            }
            Action::StopMedia { call } if self.unhost_leg(&call) => Ok(()),
            Action::StopMedia { call } if self.call_media.media_call.as_ref().is_some_and(|c| *c != call) => {
                // Another leg's (a ring group member that did not answer): ours goes on.
                Ok(())
            }
            Action::StopMedia { call } => {
                self.call_media.media_call = None;
                (self.call_media.camera_failures_seen, self.call_media.camera_down) = (0, false);
                if let Some(m) = self.call_media.media.take() {
                    self.finish_teardown();
                    self.call_media.teardown = Some(m.stop(self.call_devices()));
                }
                self.web_answer_call_ended(&call);
                Ok(())
            }
            Action::Tell(message) => {
                let message = for_the_screen(&message);
                info!(%message, "for the user");
                self.ui.last_message = Some(message);
                self.ui.message_at = Instant::now();
                Ok(())
            }
            Action::Missed(label) => {
                let note = format!(
                    "missed call from {} at {}",
                    for_the_screen(&label),
                    super::screen::clock_text()
                );
                info!(%note, "for the user");
                self.ui.missed_call = Some(note);
                Ok(())
            }
        };
        if let Err(e) = result {
            warn!(error = %e, "call action failed");
            self.ui.last_message = Some(e);
        }
    }

    /// Rings while a call rings here and rings back while ours rings there, unless media
    /// already plays on the speaker (door preview, early media from the callee).
    pub(super) fn update_ringer(&mut self) {
        use media::ring::{Ringer, Tone};
        // It rings until answered, early media or not: a door preview shows the visitor
        // while the chime plays, and the visitor's sound waits for the answer.
        let rings_there = self
            .machine
            .legs()
            .iter()
            .any(|l| matches!(l, State::Outgoing { ringing: true, .. }));
        let want = match self.machine.state() {
            State::Incoming { .. } => Some(Tone::Ringing),
            State::Outgoing { .. } if rings_there => Some(Tone::Ringback),
            // A message blip plays out between calls (it ends by itself).
            State::Idle if self.call_media.ringer.as_ref().is_some_and(|(t, _)| t.once()) => Some(Tone::Message),
            _ => None,
        };
        if self.call_media.ringer.as_ref().map(|(t, _)| *t) != want {
            // Stop the old tone (and release the speaker) before media or a new tone opens it.
            self.call_media.ringer = None;
            if want.is_some() {
                self.finish_teardown();
            }
            self.call_media.ringer = want.map(|tone| (tone, Ringer::start(self.devices.speaker.clone(), tone)));
        }
        if let Some(media) = &self.call_media.media {
            media.hold_remote_audio(want.is_some());
        }
    }

    pub(super) fn self_view(&self) -> media::SelfViewOut {
        let compositor = self.ui.compositor.clone();
        Arc::new(move |frame| compositor.lock().unwrap().self_frame(frame))
    }

    pub(super) fn video_out(&self) -> VideoOut {
        let screen: VideoOut = self.ui.compositor.clone();
        // Answered from the web page: the caller's picture goes to the browser too.
        match self.browser.web_answer.as_ref().and_then(|w| w.caller_picture.clone()) {
            Some(pipe) => Arc::new(crate::media::bridge::AlsoToBrowser { pipe, screen }),
            None => screen,
        }
    }

    /// Waits for the last call's media to be released (the devices are free after).
    pub(super) fn finish_teardown(&mut self) {
        if let Some(teardown) = self.call_media.teardown.take() {
            let _step = self.watch.step("waiting for the last call's media to stop");
            let _ = teardown.join();
        }
    }

    pub(super) fn start_media(&mut self, negotiated: &crate::call::sdp::Negotiated) -> Result<(), String> {
        self.finish_teardown();
        let _step = self.watch.step("starting media");
        let mut negotiated = negotiated.clone();
        negotiated.signalling_peer = match self.call_media.media_call.as_deref() {
            Some(call) => self.leg_peer_ip(call),
            None => None,
        };
        let negotiated = &negotiated;
        // Answered: the speaker is the call's now (early media leaves the ring playing).
        if !matches!(
            self.machine.state(),
            State::Incoming { .. } | State::Outgoing { ringing: true, .. }
        ) {
            self.call_media.ringer = None;
        }
        let result = match &mut self.call_media.media {
            Some(session) => {
                let devices = self
                    .browser
                    .web_answer
                    .as_ref()
                    .and_then(|w| w.devices.as_ref())
                    .unwrap_or(&self.devices);
                session.update(negotiated, devices)
            }
            None => MediaSession::start(
                &self.call_media.settings,
                negotiated,
                self.call_devices(),
                self.video_out(),
                self.self_view(),
            )
            .map(|s| {
                self.call_media.media = Some(s);
            }),
        };
        self.apply_levels();
        result.map_err(|e| format!("media could not start: {e}"))
    }
}

/// A message as a person may see it: no control characters or undecodable bytes (a
/// stranger's SDP or URI can carry them), at most 160 characters.
fn for_the_screen(text: &str) -> String {
    let mut out: String = text
        .chars()
        .filter(|c| !c.is_control() && *c != char::REPLACEMENT_CHARACTER)
        .take(160)
        .collect();
    if text.chars().count() > 160 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_for_the_screen_lose_control_characters_and_length() {
        assert_eq!(super::for_the_screen("a\u{1}b\u{fffd}c\nd"), "abcd");
        assert_eq!(super::for_the_screen("Küche ruft"), "Küche ruft");
        assert_eq!(super::for_the_screen(&"x".repeat(500)).chars().count(), 161);
    }
}
