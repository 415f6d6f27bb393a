//! The other side's RTCP feedback (RFC 4585) as our receive pipeline's RTP session hears
//! it: the session that receives its RTCP, whichever part of ours it is about.

use gstreamer as gst;
use gstreamer::prelude::*;

/// One feedback message: its RTCP type and format, the SSRC it is about, and its FCI.
pub(super) struct Feedback {
    pub(super) kind: u32,
    pub(super) format: u32,
    pub(super) media_ssrc: u32,
    pub(super) fci: Option<gst::Buffer>,
}

/// The RTP session object of rtpbin session `session`.
pub(super) fn rtp_session(rtpbin: &gst::Element, session: u32) -> Option<gst::glib::Object> {
    rtpbin.emit_by_name::<Option<gst::glib::Object>>("get-internal-session", &[&session])
}

/// Calls `heard` with every feedback message rtpbin session `session` receives.
pub(super) fn on_feedback(rtpbin: &gst::Element, session: u32, heard: impl Fn(Feedback) + Send + Sync + 'static) {
    let Some(rtp_session) = rtp_session(rtpbin, session) else {
        return;
    };
    rtp_session.connect("on-feedback-rtcp", false, move |args| {
        let number = |i: usize| args.get(i).and_then(|v| v.get::<u32>().ok()).unwrap_or(0);
        heard(Feedback {
            kind: number(1),
            format: number(2),
            media_ssrc: number(4),
            fci: args.get(5).and_then(|v| v.get::<Option<gst::Buffer>>().ok()).flatten(),
        });
        None
    });
}
