//! Carrying out the call machine's actions: SIP messages, media, ring tones, messages.

use super::hosting::Hosted;
use super::Station;
use crate::api::LoopWatch;
use crate::call::machine::{Action, Event, State};
use crate::call::parse_peer;
use crate::call::sdp::Negotiated;
use crate::config::MediaConfig;
use crate::device::Devices;
use crate::media::ring::{Ringer, Tone};
use crate::media::{self, MediaSession, MediaSettings, VideoOut};

/// How long a new call waits for the last one's media to let the devices go.
const TEARDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(3);
use std::sync::Arc;
use tracing::{info, info_span, warn};

/// The media of the call: its pipelines, the ring tone, the levels, and the camera's health
/// during the call.
pub(super) struct CallMedia {
    settings: MediaSettings,
    media: Option<MediaSession>,
    /// The Call-ID of the leg `media` serves.
    media_call: Option<String>,
    /// The media of a call this station hosts for several remotes (then `media` is
    /// None).
    hosted: Option<Hosted>,
    /// The last call's media being released in the background.
    teardown: Option<std::thread::JoinHandle<()>>,
    /// The ring tone playing, if any.
    ringer: Option<(Tone, Ringer)>,
    /// Speaker volume (1.0 = as received) and microphone mute, kept across calls.
    volume: f64,
    mic_muted: bool,
    /// Camera failures the media feeder had counted at the last tick, and whether the
    /// camera was failing then.
    camera_failures_seen: u64,
    camera_down: bool,
    /// The speaker was stuck when last looked at.
    speaker_down: bool,
}

impl CallMedia {
    /// No call's media yet: calls start theirs with `settings`, the speaker at `volume`.
    pub(super) fn new(settings: MediaSettings, volume: f64) -> CallMedia {
        CallMedia {
            settings,
            media: None,
            media_call: None,
            hosted: None,
            teardown: None,
            ringer: None,
            volume,
            mic_muted: false,
            camera_failures_seen: 0,
            camera_down: false,
            speaker_down: false,
        }
    }

    /// Speaker volume on the sound card's mixer where it has one (up to 100%; beyond,
    /// and on cards without one, the receive pipeline scales the samples), and the
    /// microphone mute, on the call's media.
    pub(super) fn apply_levels(&self, volume: Option<&crate::device::Shared<dyn crate::device::VolumeControl>>) {
        // The card's own control, never the speaker: a streaming thread may hold the
        // speaker while it writes, and a stuck card would hold it for good.
        let hardware = volume.is_some_and(|v| v.lock().unwrap().set(self.volume.min(1.0)).is_ok());
        let software = if hardware { self.volume.max(1.0) } else { self.volume };
        if let Some(session) = &self.media {
            session.set_levels(software, self.mic_muted);
        }
        if let Some(hosted) = &self.hosted {
            hosted.set_levels(software, self.mic_muted);
        }
    }

    /// What new media starts with: sizes, rates, codecs.
    pub(super) fn settings(&self) -> &MediaSettings {
        &self.settings
    }

    /// Takes the sizes, frame rate, bitrate and jitter buffer of `[media]` for the media
    /// started from now on.
    pub(super) fn configure(&mut self, m: &MediaConfig) {
        self.settings.width = m.width;
        self.settings.height = m.height;
        self.settings.fps = m.fps;
        self.settings.bitrate_kbps = m.video_bitrate_kbps;
        self.settings.jitter_ms = m.jitter_ms;
    }

    /// The speaker volume from now on (1.0 = as received); [`Self::apply_levels`] puts it
    /// on the speaker.
    pub(super) fn set_volume(&mut self, volume: f64) {
        self.volume = volume;
    }

    /// Turns the speaker volume by `step`, kept to tenths between 0 and 200%: the new
    /// volume.
    pub(super) fn turn_volume(&mut self, step: f64) -> f64 {
        self.volume = ((self.volume + step) * 10.0).round().clamp(0.0, 20.0) / 10.0;
        self.volume
    }

    /// Mutes the microphone, or unmutes it: whether it is muted now.
    pub(super) fn toggle_mute(&mut self) -> bool {
        self.mic_muted = !self.mic_muted;
        self.mic_muted
    }

    /// The media session of a call with one other station, when one runs.
    pub(super) fn session(&self) -> Option<&MediaSession> {
        self.media.as_ref()
    }

    /// As [`Self::session`], to change it (rebuild a pipeline, read its errors).
    pub(super) fn session_mut(&mut self) -> Option<&mut MediaSession> {
        self.media.as_mut()
    }

    /// The session serves leg `call` from now on.
    pub(super) fn serve(&mut self, call: String) {
        self.media_call = Some(call);
    }

    /// Stops the session in the background on `devices`, once the last call's media has
    /// been released.
    pub(super) fn stop_session(&mut self, devices: &Devices, watch: &LoopWatch) {
        if let Some(m) = self.media.take() {
            // The next call says again what is wrong with its devices.
            self.speaker_down = false;
            self.finish_teardown(watch);
            self.teardown = Some(m.stop(devices));
        }
    }

    /// Waits for the last call's media to be released (the devices are free after), a
    /// few seconds at most: a device stuck in a call that never returns must not hold
    /// the station. True when it was released.
    pub(super) fn finish_teardown(&mut self, watch: &LoopWatch) -> bool {
        let Some(teardown) = self.teardown.take() else {
            return true;
        };
        let _step = watch.step("waiting for the last call's media to stop");
        match crate::base::clock::join_within(teardown, TEARDOWN_WAIT) {
            Ok(()) => true,
            Err(_stuck) => {
                warn!("the last call's media did not stop: a device is stuck; going on without it");
                false
            }
        }
    }

    /// Whether media for `call` makes (or keeps) this a hosted call: another leg's
    /// media runs already.
    pub(super) fn hosts(&self, call: &str) -> bool {
        self.hosted.is_some() || (self.media.is_some() && self.media_call.as_deref().is_some_and(|c| c != call))
    }

    /// The media of the call this station hosts for several remotes, if it hosts one.
    pub(super) fn hosted(&self) -> Option<&Hosted> {
        self.hosted.as_ref()
    }

    /// The call is hosted with `hosted` from now on.
    pub(super) fn host(&mut self, hosted: Hosted) {
        self.hosted = Some(hosted);
    }

    /// Stops the media of a hosted call: its legs, in grid order; None when no call is
    /// hosted.
    pub(super) fn stop_hosted(&mut self, devices: &Devices) -> Option<Vec<(String, Negotiated)>> {
        self.hosted.take().map(|h| h.stop(devices))
    }

    /// Stops the call's media, hosted or with one station (waiting for that one's
    /// pipelines): its legs, in grid order, for a hosted call's media to take them.
    pub(super) fn stop_for_hosting(&mut self, devices: &Devices) -> Vec<(String, Negotiated)> {
        if let Some(legs) = self.stop_hosted(devices) {
            return legs;
        }
        // The two-station session gives way; its leg keeps its place first.
        let first = self.media.take().map(|m| {
            let n = m.negotiated().clone();
            m.stop(devices).join().ok();
            n
        });
        let first_call = self.media_call.take();
        first_call.zip(first).into_iter().collect()
    }

    /// The RTP ports the call's legs use now: a hosted call lets go of them for a moment
    /// whenever a leg joins or leaves, and a new leg must not take them meanwhile.
    pub(super) fn ports_in_use(&self) -> Vec<u16> {
        let hosted = self.hosted.iter().flat_map(Hosted::negotiations);
        let pair = self.media.iter().map(|m| m.negotiated());
        hosted
            .chain(pair)
            .flat_map(|n| {
                let video = n.video.iter().map(|v| v.rtp.local_port);
                video
                    .chain(n.audio.iter().map(|a| a.rtp.local_port))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Plays `tone` on `speaker`; the tone before it stops first, letting go of the
    /// speaker.
    pub(super) fn ring(&mut self, tone: Tone, speaker: &crate::device::Shared<dyn crate::device::Speaker>) {
        self.ringer = None;
        self.ringer = Some((tone, Ringer::start(speaker.clone(), tone)));
    }

    /// Stops the ring tone, letting go of the speaker.
    pub(super) fn stop_ringing(&mut self) {
        self.ringer = None;
    }

    /// From the send pipeline's count of camera failures so far: whether the camera
    /// started (true) or stopped (false) failing since the last look; None when that did
    /// not change.
    /// Whether the speaker's state changed since last asked: Some(true) when it got
    /// stuck, Some(false) when it plays again.
    pub(super) fn speaker_stuck(&mut self, stuck: bool) -> Option<bool> {
        let news = (stuck != self.speaker_down).then_some(stuck);
        self.speaker_down = stuck;
        news
    }

    pub(super) fn camera_failing(&mut self, failures: u64) -> Option<bool> {
        let failing = failures > self.camera_failures_seen;
        let news = (failing != self.camera_down).then_some(failing);
        self.camera_down = failing;
        self.camera_failures_seen = failures;
        news
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
                            target.secure = contact.and_then(|c| self.trust.secure_target(&c, target.addr.ip()));
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
            Action::StartMedia { call, media } if self.call_media.hosts(&call) => self.host_leg(call, media),
            Action::StartMedia { call, media } => {
                self.call_media.media_call = Some(call.clone());
                let started = self.start_media(&media);
                self.listen_for_digits(&call);
                if let Err(why) = &started {
                    if self.call_media.session().is_none() {
                        // An answered call with no media would hold both stations in
                        // silence for good (nothing arrives, so no media timeout): end it
                        // and say why.
                        warn!(%call, error = %why, "ending a call whose media could not start");
                        self.feed(Event::Hangup);
                        self.act(Action::Tell(format!("{why}; call ended")));
                        return;
                    }
                }
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
                let devices = self.browser.bridge_devices().unwrap_or(&self.devices);
                self.call_media.stop_session(devices, &self.watch);
                self.web_answer_call_ended(&call);
                Ok(())
            }
            Action::Tell(message) => {
                let message = for_the_screen(&message);
                info!(%message, "for the user");
                self.ui.show_message(message);
                Ok(())
            }
            Action::Missed(label) => {
                let note = format!(
                    "missed call from {} at {}",
                    for_the_screen(&label),
                    super::screen::clock_text()
                );
                info!(%note, "for the user");
                self.ui.note_missed_call(note);
                Ok(())
            }
        };
        if let Err(e) = result {
            warn!(error = %e, "call action failed");
            self.ui.show_message(e);
        }
    }

    /// Rings while a call rings here and rings back while ours rings there, unless media
    /// already plays on the speaker (door preview, early media from the callee).
    pub(super) fn update_ringer(&mut self) {
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
        let compositor = self.ui.compositor();
        Arc::new(move |frame| compositor.lock().unwrap().self_frame(frame))
    }

    pub(super) fn video_out(&self) -> VideoOut {
        let screen: VideoOut = self.ui.compositor();
        // Answered from the web page: the caller's picture goes to the browser too.
        match self.browser.caller_picture() {
            Some(pipe) => Arc::new(crate::media::bridge::AlsoToBrowser { pipe, screen }),
            None => screen,
        }
    }

    /// Waits for the last call's media to be released (the devices are free after); a
    /// stuck device is said on the screen.
    pub(super) fn finish_teardown(&mut self) {
        if !self.call_media.finish_teardown(&self.watch) {
            self.act(Action::Tell(
                "a device is stuck (the speaker or camera did not let go); calls go on without it".into(),
            ));
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
            Some(session) => session.update(negotiated, self.browser.bridge_devices().unwrap_or(&self.devices)),
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
