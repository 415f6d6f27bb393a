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

/// The RTCP bandwidth of a stream with feedback, bit/s (absolute: rtpsession takes a
/// value of 1 or more as one). Under feedback timing (RFC 4585 section 3.5.2) a receiver
/// may send one early packet between two regular ones, and the regular interval
/// follows the RTCP bandwidth. rtpsession estimates a receive-only session's bandwidth
/// at its floor of 64 kbit/s, which gives 2.4 kbit/s to receivers' reports and a
/// regular packet every 0.4 s: a second lost packet in that time waits for it, past
/// what the video's jitter buffer waits for its repair. At this rate a receiver's
/// regular reports come every 75 ms or so (about 90 bytes each: 10 kbit/s, under 1%
/// of a call's video), and nearly every NACK goes out early (measured at 5% loss: 11
/// to 19 of 170 to 200 waited for a regular report, against 230 of 260 before).
const FEEDBACK_RTCP_BITS_PER_SECOND: f64 = 40_000.0;

/// Gives rtpbin session `session` (the receive pipeline's video) the RTCP bandwidth
/// its NACKs and PLIs need to go out while they are of use.
pub(super) fn prompt_feedback(rtpbin: &gst::Element, session: u32) {
    if let Some(rtp_session) = rtp_session(rtpbin, session) {
        if rtp_session.has_property("rtcp-fraction") {
            rtp_session.set_property("rtcp-fraction", FEEDBACK_RTCP_BITS_PER_SECOND);
        }
    }
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
