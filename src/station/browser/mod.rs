//! The browser side of the station: browsers watching the camera ([`live`]) and the
//! browser that answered a call ([`answer`]), each a WebRTC leg ([`leg`]).

mod answer;
mod leg;
mod live;

/// The browser side: browsers watching the camera and the browser that answered.
#[derive(Default)]
pub(in crate::station) struct BrowserSide {
    /// Browsers watching the camera.
    live_views: Vec<live::LiveView>,
    next_live_id: u64,
    /// The browser that answered the call, bridged to it.
    web_answer: Option<answer::WebAnswer>,
    /// The ringing call was answered from the web page.
    answered_from_web: bool,
}

impl BrowserSide {
    /// Whether a browser watches the camera (whoever stands at the station is told).
    pub(in crate::station) fn watched(&self) -> bool {
        !self.live_views.is_empty()
    }

    /// The devices of a call answered from the web page: the SIP leg's media uses them
    /// in place of the station's own. None when no call is bridged to a browser.
    pub(in crate::station) fn bridge_devices(&self) -> Option<&crate::device::Devices> {
        self.web_answer.as_ref().and_then(|w| w.devices.as_ref())
    }

    /// Where the caller's picture goes to the browser that answered, when one did.
    pub(in crate::station) fn caller_picture(&self) -> Option<crate::media::bridge::FramePipe> {
        self.web_answer.as_ref().and_then(|w| w.caller_picture.clone())
    }

    /// Whether the ring that just ended was answered from the web page; the next ring
    /// starts unanswered.
    pub(in crate::station) fn take_answered_from_web(&mut self) -> bool {
        std::mem::take(&mut self.answered_from_web)
    }
}
