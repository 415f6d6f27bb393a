//! Devices and media watched from the station's tick. Between calls: a camera unplugged
//! while the station is idle is noticed and said (in the journal and on the idle screen)
//! before anyone rings, and noticed again when it comes back. During a call: media
//! errors, a camera that stopped delivering (the send pipeline sends a placeholder and
//! reopens it), and a peer that stopped sending (the media timeout).

use super::Station;
use crate::call::machine::{Action, Event, State};
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// How often the idle check looks: a stat of a device node, cheap.
const EVERY: Duration = Duration::from_secs(2);

/// How often memory freed since the last look is handed back to the system.
const TRIM_EVERY: Duration = Duration::from_secs(10);

/// What the idle watch knows.
#[derive(Debug, Default)]
pub(super) struct IdleWatch {
    checked: Option<Instant>,
    camera_present: Option<bool>,
    trimmed: Option<Instant>,
}

impl IdleWatch {
    /// A lasting problem a person should see on the idle screen.
    pub(super) fn problem(&self) -> Option<String> {
        (self.camera_present == Some(false)).then(|| "the camera is not connected".to_string())
    }
}

impl Station {
    /// Hands heap memory that bursts freed (a flood of requests, a finished call) back
    /// to the system: glibc keeps freed memory in its per-thread arenas otherwise, and a
    /// station that runs for months should not carry a stranger's burst for good.
    pub(super) fn return_freed_memory(&mut self) {
        if self.idle_watch.trimmed.is_some_and(|t| t.elapsed() < TRIM_EVERY) {
            return;
        }
        self.idle_watch.trimmed = Some(Instant::now());
        crate::base::heap::return_freed();
    }

    /// Looks at the camera every couple of seconds while no call uses it.
    pub(super) fn watch_devices_when_idle(&mut self) {
        if self.call_media.session().is_some() || self.idle_watch.checked.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        self.idle_watch.checked = Some(Instant::now());
        let present = self.devices.camera.present();
        let before = self.idle_watch.camera_present;
        match (before, present) {
            (Some(true) | None, Some(false)) => {
                warn!("camera unplugged or missing; calls will send a placeholder picture until it is back");
            }
            (Some(false), Some(true)) => info!("camera plugged in"),
            _ => {}
        }
        self.idle_watch.camera_present = present;
    }

    /// Says what goes wrong with the call's media, and ends a call whose peer went silent.
    pub(super) fn watch_media(&mut self) {
        let limit = self.config.station.media_timeout_secs * 1000;
        for call in self.silent_hosted_legs(limit) {
            warn!(%call, "no media from this leg");
            self.feed(Event::MediaTimeout { call });
        }
        let Some(session) = self.call_media.session_mut() else {
            return;
        };
        let errors = session.poll_errors();
        let stats = session.stats();
        let (camera_failures, speaker_stuck) = (stats.camera_failures, stats.speaker_stuck);
        if !errors.recv.is_empty() {
            // What the peer sends could not be decoded: start receiving afresh, the call
            // goes on (the media timeout still ends it if nothing good comes).
            for e in &errors.recv {
                warn!(error = %e, "receive pipeline failed");
            }
            if let Err(e) = session.rebuild_recv(self.browser.bridge_devices().unwrap_or(&self.devices)) {
                error!(error = %e, "cannot rebuild the receive pipeline");
                self.act(Action::Tell(format!("media problem: {e}")));
            }
        }
        for e in errors.send {
            error!(error = %e, "media error");
            self.act(Action::Tell(format!("media problem: {e}")));
        }
        match self.call_media.speaker_stuck(speaker_stuck) {
            Some(true) => self.act(Action::Tell(
                "the speaker is stuck: no sound plays; the call goes on".into(),
            )),
            Some(false) => info!("the speaker plays again"),
            None => {}
        }
        // Say it once per outage, not once per placeholder frame.
        match self.call_media.camera_failing(camera_failures) {
            Some(true) => self.act(Action::Tell(
                "the camera is not working; the other side sees a placeholder".into(),
            )),
            Some(false) => info!("camera works again"),
            None => {}
        }
        let Some(session) = self.call_media.session() else {
            return;
        };
        let limit = self.config.station.media_timeout_secs * 1000;
        if let State::Active { call, held_by_peer, .. } = self.machine.state() {
            // A peer that holds the call may send nothing, whatever its SDP says.
            if !held_by_peer && session.receiving() && session.silence_ms() > limit {
                warn!(silence_ms = session.silence_ms(), "no media from the peer");
                let call = call.clone();
                self.feed(Event::MediaTimeout { call });
            }
        }
    }
}
