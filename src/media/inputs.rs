//! A receive session's network end: the call's RTP and RTCP sockets as udpsrcs, each
//! behind the gate ([`super::rtp_filter`]), into rtpbin directly or through srtpdec,
//! and the udpsink that takes our receiver reports back to the other side.

use super::counters::RecvCounters;
use super::{rtp_filter, srtp, MediaError};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A bound socket as udpsrc takes it (it closes it when the pipeline stops).
fn gio_socket(socket: std::net::UdpSocket) -> Result<gio::Socket, MediaError> {
    gio::Socket::from_fd(std::os::fd::OwnedFd::from(socket)).map_err(MediaError::link)
}

/// Adds session `session`'s network end for `stream` to `pipeline` and links it into
/// `rtpbin`: only what the gate admits of `payloads` from the peer (or the address its
/// SIP comes from) gets in, counted in `counters`.
pub(super) fn add_udp_inputs(
    pipeline: &gst::Pipeline,
    rtpbin: &gst::Element,
    session: u32,
    (stream, payloads): (&crate::call::sdp::Stream, rtp_filter::Payloads),
    signalling_peer: Option<IpAddr>,
    caps: gst::Caps,
    counters: &Arc<RecvCounters>,
) -> Result<(), MediaError> {
    let port = stream.local_port;
    let secure = stream.crypto.as_ref();
    let (caps, rtcp_caps) = match secure {
        Some(_) => (srtp::srtp_caps(&caps), "application/x-srtcp"),
        None => (caps, "application/x-rtcp"),
    };
    // The sockets held since the port was offered, when this is the call's first
    // pipeline; a rebuilt one binds the port again.
    let (rtp_socket, rtcp_socket) = match super::ports::take_held(port) {
        Some((rtp, rtcp)) => (Some(gio_socket(rtp)?), Some(gio_socket(rtcp)?)),
        None => (None, None),
    };
    let rtp = gst::ElementFactory::make("udpsrc")
        .property("port", port as i32)
        .property("caps", caps)
        .property("reuse", false)
        .property_if_some("socket", rtp_socket)
        .build()
        .map_err(|_| MediaError::MissingElement("udpsrc".into()))?;
    let rtcp = gst::ElementFactory::make("udpsrc")
        .property("port", port as i32 + 1)
        .property("caps", gst::Caps::new_empty_simple(rtcp_caps))
        .property("reuse", false)
        .property_if_some("socket", rtcp_socket)
        .build()
        .map_err(|_| MediaError::MissingElement("udpsrc".into()))?;
    pipeline.add_many([&rtp, &rtcp]).map_err(MediaError::link)?;
    // Receiver reports go back to the sender's RTCP port.
    let rtcp_out = super::send::udp_sink(pipeline, stream.remote_rtcp)?;
    let peer: Vec<IpAddr> = std::iter::once(stream.remote_rtp.ip()).chain(signalling_peer).collect();
    let dropped = |c: Arc<RecvCounters>| {
        move || {
            c.dropped.fetch_add(1, Ordering::Relaxed);
        }
    };
    let c = counters.clone();
    let arrived = move || {
        c.packets.fetch_add(1, Ordering::Relaxed);
        c.last_packet_ms
            .store(crate::device::probe::monotonic_ms(), Ordering::Relaxed);
    };
    if let Some(pad) = rtp.static_pad("src") {
        // SRTP keeps the RTP header in the clear: the gate checks it all the same. Its
        // packets count once srtpdec has authenticated them, below.
        let (expect, arrived) = match secure {
            Some(_) => (rtp_filter::Expect::Srtp(payloads), None),
            None => (rtp_filter::Expect::Rtp(payloads), Some(arrived.clone())),
        };
        let accepted = move || arrived.iter().for_each(|f| f());
        rtp_filter::install(&pad, peer.clone(), expect, accepted, dropped(counters.clone()));
    }
    let c = counters.clone();
    let rtcp_arrived = move || {
        c.rtcp.fetch_add(1, Ordering::Relaxed);
    };
    if let Some(pad) = rtcp.static_pad("src") {
        let arrived = secure.is_none().then(|| rtcp_arrived.clone());
        let accepted = move || arrived.iter().for_each(|f| f());
        rtp_filter::install(
            &pad,
            peer,
            rtp_filter::Expect::Rtcp,
            accepted,
            dropped(counters.clone()),
        );
    }
    let Some(crypto) = secure else {
        let link = |src: &gst::Element, from: &str, to: &gst::Element, into: &str| {
            src.link_pads(Some(from), to, Some(into)).map_err(MediaError::link)
        };
        link(&rtp, "src", rtpbin, &format!("recv_rtp_sink_{session}"))?;
        link(&rtcp, "src", rtpbin, &format!("recv_rtcp_sink_{session}"))?;
        return link(rtpbin, &format!("send_rtcp_src_{session}"), &rtcp_out, "sink");
    };
    let inputs = srtp::Inputs {
        rtp,
        rtcp,
        rtcp_out,
        session,
        payloads,
    };
    srtp::link_receive(
        pipeline,
        rtpbin,
        inputs,
        crypto,
        Box::new(arrived),
        Box::new(rtcp_arrived),
    )
}
