//! Live views from the web page: the station's camera and microphone to a browser, the
//! browser's "Talk" to the speaker, over WebRTC. While one runs the screen says so.
//! A live view needs the devices, so it is refused during a call, and a call that starts
//! ends it.

use super::leg::BrowserLeg;
use crate::api::LiveViewStatus;
use crate::call::machine::State;
use crate::station::{Command, Station};
use tokio::sync::oneshot;
use tracing::{info, warn};

/// Browsers watching at once, at most.
pub const MAX_LIVE_VIEWS: usize = 2;

/// One browser watching.
pub(super) type LiveView = BrowserLeg;

impl Station {
    /// A browser's offer to watch: the answer, or why not.
    pub(in crate::station) fn start_live_view(
        &mut self,
        offer: String,
        reply: oneshot::Sender<Result<(u64, String), String>>,
    ) {
        let result = self.live_view(&offer);
        let _ = reply.send(result);
        self.update_screen();
    }

    fn live_view(&mut self, offer: &str) -> Result<(u64, String), String> {
        if self.machine.state() != &State::Idle || self.call_media.hosted().is_some() {
            return Err("the station is in a call".into());
        }
        if self.browser.live_views.len() >= MAX_LIVE_VIEWS {
            return Err(format!("{MAX_LIVE_VIEWS} browsers are watching already"));
        }
        let ends = self.own_ends(None);
        let (view, answer) = self.start_browser_leg(offer, ends, Command::WebLiveEnd)?;
        let id = view.id;
        info!(id, "watched from the web page");
        self.browser.live_views.push(view);
        Ok((id, answer))
    }

    /// Ends a live view (the browser left or asked).
    pub(in crate::station) fn end_live_view(&mut self, id: u64) {
        let before = self.browser.live_views.len();
        self.browser.live_views.retain(|v| v.id != id);
        if self.browser.live_views.len() != before {
            info!(id, "no longer watched from the web page");
            self.update_screen();
        }
    }

    /// A call starts: it takes the devices from any live view.
    pub(in crate::station) fn end_live_views_for_a_call(&mut self) {
        if !self.browser.live_views.is_empty() && self.machine.state() != &State::Idle {
            warn!("a call starts; the web page's live view ends");
            self.browser.live_views.clear();
        }
    }

    /// The live views, for the status.
    pub(in crate::station) fn live_view_status(&self) -> Vec<LiveViewStatus> {
        self.browser
            .live_views
            .iter()
            .map(|v| LiveViewStatus {
                id: v.id,
                counts: v.counts(),
                frames_sent: v.media.frames_sent.load(std::sync::atomic::Ordering::Relaxed),
                packets_played: v.media.packets_played.load(std::sync::atomic::Ordering::Relaxed),
                video_kbps: v.media.video_kbps(),
            })
            .collect()
    }
}
