//! Answering from the web page, the browser in place of a person at a station:
//!
//! - A call ringing here: the SIP leg's pipelines run as in any call, but their camera
//!   is the browser's picture, their microphone the browser's sound and their speaker
//!   goes to the browser; the browser leg sends the caller's picture and sound. The
//!   station's screen shows the caller and says the call was answered from the web.
//! - This station ringing out (its doorbell was pressed): the browser answers the
//!   visitor. The call out is cancelled (the called station stops ringing), and the
//!   browser and the station talk directly: the station's camera and microphone to the
//!   browser, the browser's picture on the station's screen and its sound on the speaker.

use super::leg::{BrowserLeg, LegEnds};
use crate::api::WebAnswerStatus;
use crate::call::machine::{Event, State};
use crate::device::hub::{CameraHub, MicrophoneHub};
use crate::device::{shared, Camera, Devices, Microphone, Speaker};
use crate::media::bridge::{FramePipe, PipeSpeaker};
use crate::media::conference::ends::LegMicrophone;
use crate::media::web_leg::PictureOut;
use crate::station::{Command, Station};
use std::sync::Arc;
use tokio::sync::oneshot;
use tracing::info;

/// The browser leg of a call answered from the web page.
pub(super) struct WebAnswer {
    leg: BrowserLeg,
    /// The SIP leg it is bridged to (none: the browser talks to this station's visitor).
    call: Option<String>,
    /// The caller's decoded picture, on its way to the browser (a bridged call).
    pub(super) caller_picture: Option<FramePipe>,
    /// The devices of the SIP leg's media (a bridged call).
    pub(super) devices: Option<Devices>,
}

impl Station {
    /// A browser's offer to answer the ringing call: our answer, or why not.
    pub(in crate::station) fn answer_from_web(
        &mut self,
        offer: String,
        reply: oneshot::Sender<Result<(u64, String), String>>,
    ) {
        let result = self.bridge_browser(&offer);
        let _ = reply.send(result);
    }

    fn bridge_browser(&mut self, offer: &str) -> Result<(u64, String), String> {
        if self.browser.web_answer.is_some() {
            return Err("already answered from the web".into());
        }
        let call = match self.machine.state() {
            State::Incoming { call, .. } => call.clone(),
            State::Outgoing { .. } if self.call_media.hosted().is_none() => return self.answer_the_visitor(offer),
            _ => return Err("nothing rings here now".into()),
        };
        self.browser.live_views.clear();
        let (caller_picture, browser_picture) = (FramePipe::default(), FramePipe::default());
        let (browser_sound, caller_sound) = (LegMicrophone::default(), LegMicrophone::default());
        let pipe = browser_picture.clone();
        let ends = LegEnds {
            camera: shared(Box::new(caller_picture.clone()) as Box<dyn Camera>),
            microphone: shared(Box::new(caller_sound.handle()) as Box<dyn Microphone>),
            speaker: shared(Box::new(PipeSpeaker(browser_sound.handle())) as Box<dyn Speaker>),
            pictures: Some(PictureOut::Camera(Arc::new(move |picture: crate::device::Picture| {
                if let Some(view) = picture.view() {
                    pipe.feed(view);
                }
            }))),
        };
        let (leg, answer) = self.start_browser_leg(offer, ends, Command::WebAnswerEnd)?;
        let id = leg.id;
        let devices = Devices {
            camera: CameraHub::new(shared(Box::new(browser_picture) as Box<dyn Camera>)),
            microphone: MicrophoneHub::new(shared(Box::new(browser_sound) as Box<dyn Microphone>)),
            speaker: shared(Box::new(PipeSpeaker(caller_sound)) as Box<dyn Speaker>),
            volume: None,
            display: self.devices.display.clone(),
            probes: self.devices.probes.clone(),
        };
        // Early media (a preview) runs on the station's own devices: start afresh on the
        // bridge's.
        self.call_media.stop_session(&self.devices, &self.watch);
        self.browser.web_answer = Some(WebAnswer {
            leg,
            call: Some(call),
            caller_picture: Some(caller_picture),
            devices: Some(devices),
        });
        info!(id, "answered from the web page");
        self.browser.answered_from_web = true;
        self.ui.show_message("Answered from the web page".into());
        self.feed(Event::Answer);
        Ok((id, answer))
    }

    /// This station rang out and the browser answers: the call out is cancelled and
    /// the browser talks with whoever stands here.
    fn answer_the_visitor(&mut self, offer: &str) -> Result<(u64, String), String> {
        self.browser.live_views.clear();
        let compositor = self.ui.compositor();
        let ends = self.own_ends(Some(Arc::new(move |frame| {
            compositor.lock().unwrap().remote_frame(frame)
        })));
        let (leg, answer) = self.start_browser_leg(offer, ends, Command::WebAnswerEnd)?;
        let id = leg.id;
        info!(id, "the visitor is answered from the web page");
        self.browser.answered_from_web = true;
        // The ring out stops: the called station is no longer needed.
        self.feed(Event::Hangup);
        self.call_media.stop_ringing();
        self.browser.web_answer = Some(WebAnswer {
            leg,
            call: None,
            caller_picture: None,
            devices: None,
        });
        self.ui.show_message("Answered from the web page".into());
        self.update_screen();
        Ok((id, answer))
    }

    /// The browser left: the call ends with it.
    pub(in crate::station) fn end_web_answer(&mut self, id: u64) {
        let Some(w) = self.browser.web_answer.as_ref().filter(|w| w.leg.id == id) else {
            return;
        };
        info!(id, "the browser that answered left; hanging up");
        if w.call.is_some() {
            self.feed(Event::Hangup);
        }
        self.browser.web_answer = None;
        self.update_screen();
    }

    /// Hang up pressed while the browser talks with this station's visitor.
    pub(in crate::station) fn hang_up_the_visitor(&mut self) -> bool {
        if self.browser.web_answer.as_ref().is_some_and(|w| w.call.is_none()) {
            info!("the web page's talk with the visitor ends");
            self.browser.web_answer = None;
            self.update_screen();
            return true;
        }
        false
    }

    /// The browser talking with this station's visitor, for the screen.
    pub(in crate::station) fn talking_with_the_web(&self) -> bool {
        self.browser.web_answer.as_ref().is_some_and(|w| w.call.is_none())
    }

    /// The devices of the current call's media: the bridge's when answered from the web.
    pub(in crate::station) fn call_devices(&self) -> &Devices {
        self.browser.bridge_devices().unwrap_or(&self.devices)
    }

    /// The call is over: so is its browser leg.
    pub(in crate::station) fn web_answer_call_ended(&mut self, call: &str) {
        if self
            .browser
            .web_answer
            .as_ref()
            .is_some_and(|w| w.call.as_deref() == Some(call))
        {
            self.browser.web_answer = None;
        }
    }

    /// For the status.
    pub(in crate::station) fn web_answer_status(&self) -> Option<WebAnswerStatus> {
        self.browser.web_answer.as_ref().map(|w| WebAnswerStatus {
            id: w.leg.id,
            call: w.call.clone(),
            counts: w.leg.counts(),
            frames_sent: w.leg.media.frames_sent.load(std::sync::atomic::Ordering::Relaxed),
            video_kbps: w.leg.media.video_kbps(),
        })
    }
}
