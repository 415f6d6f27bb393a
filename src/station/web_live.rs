//! Live views from the web page: the station's camera and microphone to a browser, the
//! browser's "Talk" to the speaker, over WebRTC. While one runs the screen says so.
//! A live view needs the devices, so it is refused during a call, and a call that starts
//! ends it.

use super::{Command, Station};
use crate::call::machine::State;
use crate::media::web_leg::{WebLegMedia, OUT_QUEUE};
use crate::web::rtc::{self, LegCounts, LegSink};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Browsers watching at once, at most.
pub const MAX_LIVE_VIEWS: usize = 2;

/// One browser watching.
pub(super) struct LiveView {
    id: u64,
    stop: CancellationToken,
    media: Arc<WebLegMedia>,
    counts: Arc<Mutex<LegCounts>>,
}

impl Drop for LiveView {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// What a live view's status shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LiveViewStatus {
    /// Its number.
    pub id: u64,
    /// Media counts.
    pub counts: LegCounts,
    /// Camera frames encoded for it.
    pub frames_sent: u64,
    /// Its Opus packets played on the speaker.
    pub packets_played: u64,
}

struct LiveSink {
    media: Arc<WebLegMedia>,
    id: u64,
    commands: mpsc::WeakUnboundedSender<Command>,
}

impl LegSink for LiveSink {
    fn audio(&mut self, opus: &[u8], at: Duration) {
        self.media.play(opus, at);
    }
    fn keyframe(&mut self) {
        self.media.keyframe();
    }
    fn state(&mut self, connected: bool) {
        if !connected {
            if let Some(c) = self.commands.upgrade() {
                let _ = c.send(Command::WebLiveEnd(self.id));
            }
        }
    }
}

impl Station {
    /// A browser's offer to watch: the answer, or why not.
    pub(super) fn start_live_view(&mut self, offer: String, reply: oneshot::Sender<Result<(u64, String), String>>) {
        let result = self.live_view(&offer);
        let _ = reply.send(result);
        self.update_screen();
    }

    fn live_view(&mut self, offer: &str) -> Result<(u64, String), String> {
        if self.machine.state() != &State::Idle || self.hosted.is_some() {
            return Err("the station is in a call".into());
        }
        if self.live_views.len() >= MAX_LIVE_VIEWS {
            return Err(format!("{MAX_LIVE_VIEWS} browsers are watching already"));
        }
        let accepted = rtc::accept(offer, self.web_media_ip()).map_err(|e| e.to_string())?;
        let answer = accepted.answer.clone();
        let (tx, rx) = mpsc::channel(OUT_QUEUE);
        let d = &self.devices;
        let media = WebLegMedia::start(
            &self.settings,
            true,
            d.camera.clone(),
            d.microphone.clone(),
            d.speaker.clone(),
            tx,
            None,
        )
        .map_err(|e| e.to_string())?;
        let media = Arc::new(media);
        self.next_live_id += 1;
        let id = self.next_live_id;
        let stop = CancellationToken::new();
        let counts = Arc::new(Mutex::new(LegCounts::default()));
        let sink = LiveSink {
            media: media.clone(),
            id,
            commands: self.own_commands.clone(),
        };
        tokio::spawn(rtc::run(accepted, rx, sink, stop.clone(), counts.clone()));
        info!(id, "watched from the web page");
        self.live_views.push(LiveView {
            id,
            stop,
            media,
            counts,
        });
        Ok((id, answer))
    }

    /// The address browsers send media to: the address we give peers (a station that
    /// listens on one address uses that one).
    fn web_media_ip(&self) -> std::net::IpAddr {
        self.advertise
    }

    /// Ends a live view (the browser left or asked).
    pub(super) fn end_live_view(&mut self, id: u64) {
        let before = self.live_views.len();
        self.live_views.retain(|v| v.id != id);
        if self.live_views.len() != before {
            info!(id, "no longer watched from the web page");
            self.update_screen();
        }
    }

    /// A call starts: it takes the devices from any live view.
    pub(super) fn end_live_views_for_a_call(&mut self) {
        if !self.live_views.is_empty() && self.machine.state() != &State::Idle {
            warn!("a call starts; the web page's live view ends");
            self.live_views.clear();
        }
    }

    /// The live views, for the status.
    pub(super) fn live_view_status(&self) -> Vec<LiveViewStatus> {
        self.live_views
            .iter()
            .map(|v| LiveViewStatus {
                id: v.id,
                counts: v.counts.lock().unwrap().clone(),
                frames_sent: v.media.frames_sent.load(std::sync::atomic::Ordering::Relaxed),
                packets_played: v.media.packets_played.load(std::sync::atomic::Ordering::Relaxed),
            })
            .collect()
    }
}
