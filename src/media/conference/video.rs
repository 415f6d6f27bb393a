//! The hosted call's picture on the wire: the grid goes into one encoder and one
//! payloader, and a tee after the payloader hands the same packets to every leg's RTP
//! session (each with its own SRTP key and RTCP). Slices are kept under the MTU so every
//! packet holds one whole NAL unit, which both packetization modes accept; a leg that
//! negotiated another payload type gets its packets relabelled. Each leg that asked for
//! repairs has an rtprtxsend of its own (its NACKs come on its own receive pipeline);
//! the one encoder goes at the rate of the worst leg.

use crate::call::sdp::VideoStream;
use crate::media::repair::{send_repairs, RepairedStream};
use crate::media::send::{configure_encoder, h264_payloader, send_through_session, video_appsrc};
use crate::media::{make, MediaError, MediaSettings};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

/// The payload type the payloader writes; legs that want another are relabelled.
const GRID_PT: u8 = 96;

/// The running fan-out pipeline.
pub struct GridSender {
    pub(super) pipeline: gst::Pipeline,
    pub(super) src: gst_app::AppSrc,
}

impl GridSender {
    /// Encodes `settings.width`x`settings.height` BGRx grids and sends them to every leg
    /// in `legs` (rtpbin session 2k for leg k).
    pub fn start(settings: &MediaSettings, legs: &[(usize, &VideoStream)]) -> Result<Self, MediaError> {
        let pipeline = gst::Pipeline::with_name("grid-send");
        let rtpbin = make("rtpbin", "rtpbin")?;
        let caps = gst::Caps::builder("video/x-raw")
            .field("format", "BGRx")
            .field("width", settings.width as i32)
            .field("height", settings.height as i32)
            .field("framerate", gst::Fraction::new(settings.fps as i32, 1))
            .build();
        let src = video_appsrc("grid-src", &caps);
        let convert = make("videoconvert", "vconvert")?;
        let raw_caps = make("capsfilter", "vrawcaps")?;
        raw_caps.set_property(
            "caps",
            gst::Caps::builder("video/x-raw").field("format", "I420").build(),
        );
        let encoder = make(&settings.codecs.h264_encoder, "h264enc")?;
        // Mode 0's rules (one NAL unit per packet) suit mode 1 receivers too.
        configure_encoder(&encoder, settings, 0);
        let (h264_caps, pay) = h264_payloader(GRID_PT)?;
        let tee = make("tee", "legs")?;
        tee.set_property("allow-not-linked", true);
        let elements = [src.upcast_ref(), &convert, &raw_caps, &encoder, &h264_caps, &pay, &tee];
        pipeline.add(&rtpbin).map_err(MediaError::link)?;
        pipeline.add_many(elements).map_err(MediaError::link)?;
        gst::Element::link_many(elements).map_err(MediaError::link)?;
        // Each leg that takes repairs gets its own rtprtxsend, before its session exists.
        let repaired: Vec<RepairedStream> = legs
            .iter()
            .filter_map(|(leg, video)| {
                Some(RepairedStream {
                    session: 2 * *leg as u32,
                    pt: video.rtp.send_pt,
                    rtx_pt: video.retransmission?.send_pt,
                })
            })
            .collect();
        if !repaired.is_empty() {
            send_repairs(&rtpbin, repaired);
        }
        for (leg, video) in legs {
            let session = 2 * *leg as u32;
            send_through_session(&pipeline, &rtpbin, &tee, session, &video.rtp)?;
            if video.rtp.send_pt != GRID_PT {
                relabel(&rtpbin, session, video.rtp.send_pt);
            }
        }
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| MediaError::Start("grid send pipeline".into()))?;
        Ok(Self { pipeline, src })
    }

    /// The payloader, where keyframe requests go.
    pub fn payloader(&self) -> Option<gst::Element> {
        self.pipeline.by_name("h264pay")
    }

    /// The encoder, whose bitrate follows the legs' reports.
    pub fn encoder(&self) -> Option<gst::Element> {
        self.pipeline.by_name("h264enc")
    }

    /// Leg `leg`'s rtprtxsend, where its NACKs go (None when it takes no repairs).
    pub fn repairs_of(&self, leg: usize) -> Option<gst::Element> {
        self.pipeline
            .by_name(&crate::media::repair::sender_name(2 * leg as u32))
    }

    /// Queues one composed grid for encoding (the oldest waiting one is dropped when the
    /// encoder falls behind).
    pub fn push(&self, bgrx: &[u8]) {
        let _ = self.src.push_buffer(gst::Buffer::from_slice(bgrx.to_vec()));
    }
}

impl Drop for GridSender {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Rewrites the payload type of packets entering rtpbin session `session`.
fn relabel(rtpbin: &gst::Element, session: u32, pt: u8) {
    let Some(pad) = rtpbin.static_pad(&format!("send_rtp_sink_{session}")) else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(gst::PadProbeData::Buffer(buffer)) = &mut info.data {
            let buffer = buffer.make_mut();
            if let Ok(mut map) = buffer.map_writable() {
                if map.len() >= 2 {
                    map[1] = (map[1] & 0x80) | (pt & 0x7f);
                }
            }
        }
        gst::PadProbeReturn::Ok
    });
}
