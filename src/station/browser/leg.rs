//! One browser leg, whatever it is for (a live view, a call answered from the web page,
//! a visitor answered from it): the WebRTC transport task and the media pipelines
//! behind it, ended together when dropped.

use crate::api::LegCounts;
use crate::device::{Camera, Microphone, Shared, Speaker};
use crate::media::web_leg::{WebLegMedia, OUT_QUEUE};
use crate::media::VideoOut;
use crate::station::{Command, Station};
use crate::web::rtc::{self, LegSink};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A running browser leg.
pub(super) struct BrowserLeg {
    pub(super) id: u64,
    stop: CancellationToken,
    pub(super) media: Arc<WebLegMedia>,
    counts: Arc<Mutex<LegCounts>>,
}

impl BrowserLeg {
    /// Its media counts so far.
    pub(super) fn counts(&self) -> LegCounts {
        self.counts.lock().unwrap().clone()
    }
}

impl Drop for BrowserLeg {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The devices a browser leg sends from and plays to.
pub(super) struct LegEnds {
    pub(super) camera: Shared<dyn Camera>,
    pub(super) microphone: Shared<dyn Microphone>,
    pub(super) speaker: Shared<dyn Speaker>,
    /// Where the browser's pictures go (none: they are not decoded).
    pub(super) pictures: Option<crate::media::web_leg::PictureOut>,
}

/// Hands the browser's media to the pipelines and tells the station when it leaves.
struct Sink {
    media: Arc<WebLegMedia>,
    id: u64,
    commands: mpsc::WeakUnboundedSender<Command>,
    ended: fn(u64) -> Command,
}

impl LegSink for Sink {
    fn audio(&mut self, opus: &[u8], at: Duration) {
        self.media.play(opus, at);
    }
    fn video(&mut self, access_unit: &[u8], _at: Duration) {
        self.media.video_in(access_unit);
    }
    fn keyframe(&mut self) {
        self.media.keyframe();
    }
    fn link_kbps(&mut self, kbps: u32) {
        self.media.follow_link(kbps);
    }
    fn state(&mut self, connected: bool) {
        if !connected {
            if let Some(c) = self.commands.upgrade() {
                let _ = c.send((self.ended)(self.id));
            }
        }
    }
}

impl Station {
    /// Takes a browser's offer and starts its leg; `ended` is the command the station
    /// gets when the browser leaves. The leg and our SDP answer.
    pub(super) fn start_browser_leg(
        &mut self,
        offer: &str,
        ends: LegEnds,
        ended: fn(u64) -> Command,
    ) -> Result<(BrowserLeg, String), String> {
        let accepted =
            rtc::accept(offer, self.advertise, self.call_media.settings().bitrate_kbps).map_err(|e| e.to_string())?;
        let answer = accepted.answer.clone();
        let (tx, rx) = mpsc::channel(OUT_QUEUE);
        let media = WebLegMedia::start(
            self.call_media.settings(),
            true,
            ends.camera,
            ends.microphone,
            ends.speaker,
            tx,
            ends.pictures,
        )
        .map_err(|e| e.to_string())?;
        let media = Arc::new(media);
        self.browser.next_live_id += 1;
        let id = self.browser.next_live_id;
        let stop = CancellationToken::new();
        let counts = Arc::new(Mutex::new(LegCounts::default()));
        let sink = Sink {
            media: media.clone(),
            id,
            commands: self.own_commands.clone(),
            ended,
        };
        tokio::spawn(rtc::run(accepted, rx, sink, stop.clone(), counts.clone()));
        Ok((
            BrowserLeg {
                id,
                stop,
                media,
                counts,
            },
            answer,
        ))
    }

    /// The station's own devices, for a browser that talks with whoever stands here.
    pub(super) fn own_ends(&self, pictures: Option<VideoOut>) -> LegEnds {
        let pictures = pictures.map(crate::media::web_leg::PictureOut::Screen);
        let d = &self.devices;
        LegEnds {
            camera: d.camera.handle(),
            microphone: d.microphone.handle(),
            speaker: d.speaker.clone(),
            pictures,
        }
    }
}
