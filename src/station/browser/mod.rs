//! The browser side of the station: browsers watching the camera ([`live`]) and the
//! browser that answered a call ([`answer`]), each a WebRTC leg ([`leg`]).

mod answer;
mod leg;
mod live;

/// The browser side: browsers watching the camera and the browser that answered.
pub(in crate::station) struct BrowserSide {
    /// Browsers watching the camera.
    pub(in crate::station) live_views: Vec<live::LiveView>,
    pub(in crate::station) next_live_id: u64,
    /// The browser that answered the call, bridged to it.
    pub(in crate::station) web_answer: Option<answer::WebAnswer>,
    /// The ringing call was answered from the web page.
    pub(in crate::station) answered_from_web: bool,
}
