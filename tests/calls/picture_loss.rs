//! Keyframes on demand (RFC 4585 picture loss indications), with a plain GStreamer peer
//! on 127.0.0.1 beside the real media session:
//! - a peer that sends one keyframe and then only on request (as baresip nearly does:
//!   every 10 s), whose first keyframe went out before we listened: we ask, it sends one,
//!   the picture shows within seconds; the same peer without `a=rtcp-fb ... nack pli` in
//!   its SDP is not asked, and shows nothing in that time;
//! - a peer that asks us for a keyframe gets one.

use doorway::call::sdp::{self, Direction, LocalMedia, Negotiated};
use doorway::device;
use doorway::media::{self, MediaSession, MediaSettings};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn settings() -> MediaSettings {
    MediaSettings {
        width: 320,
        height: 180,
        fps: 15,
        bitrate_kbps: 500,
        jitter_ms: 20,
        codecs: media::codecs::probe(true).unwrap(),
        screen: None,
        echo_probe: None,
    }
}

fn local(video_port: u16, audio_port: u16, direction: Direction) -> LocalMedia {
    LocalMedia {
        direction,
        ..doorway::api::loopback::loopback_media(video_port, audio_port)
    }
}

/// Four free port pairs on 127.0.0.1: our video and audio, the peer's video and audio.
fn ports(from: u16) -> Vec<u16> {
    let lo = [127, 0, 0, 1].into();
    let mut taken = vec![];
    for _ in 0..4 {
        // The pipelines here bind them by number.
        let p = media::ports::free_pair(lo, from, from + 998, &taken).unwrap();
        taken.push(p);
    }
    taken
}

/// The peer's SDP: one H.264 video stream from `port`, with or without PLI feedback.
fn peer_sdp(port: u16, direction: &str, pli: bool) -> String {
    let feedback = if pli { "a=rtcp-fb:96 nack pli\r\n" } else { "" };
    format!(
        "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=peer\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=video {port} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
         a=fmtp:96 profile-level-id=42e01f;packetization-mode=1\r\n{feedback}a={direction}\r\n"
    )
}

/// A GStreamer pipeline from a launch line, playing.
fn launch(line: &str) -> gst::Element {
    let pipeline = gst::parse::launch(line).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    pipeline
}

/// A sender that makes one keyframe at the start and then only when asked (rtpsession
/// passes a received PLI upstream to the encoder as a keyframe request).
fn lazy_sender(from: u16, to: u16) -> gst::Element {
    launch(&format!(
        "rtpbin name=rtpbin \
         videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=180,framerate=15/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=100000 bitrate=300 option-string=scenecut=0 \
         ! video/x-h264,profile=constrained-baseline ! rtph264pay pt=96 config-interval=-1 mtu=1200 \
         ! rtpbin.send_rtp_sink_0 \
         rtpbin.send_rtp_src_0 ! udpsink host=127.0.0.1 port={to} sync=false async=false \
         rtpbin.send_rtcp_src_0 ! udpsink host=127.0.0.1 port={} sync=false async=false \
         udpsrc port={} reuse=false caps=application/x-rtcp ! rtpbin.recv_rtcp_sink_0",
        to + 1,
        from + 1
    ))
}

fn frame_counter() -> (media::VideoOut, Arc<AtomicU64>) {
    let frames = Arc::new(AtomicU64::new(0));
    let f = frames.clone();
    let out: media::VideoOut = Arc::new(move |_: device::Picture| {
        f.fetch_add(1, Ordering::Relaxed);
    });
    (out, frames)
}

fn wait_until(secs: u64, done: impl Fn() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while !done() {
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Our media for the peer's offer `offer`, answered as `ours` (recvonly or sendonly).
fn answer_offer(offer: &str, ours: &LocalMedia) -> Negotiated {
    sdp::answer(offer, ours).unwrap().1
}

/// Starts the lazy sender, lets its only keyframe go by, then starts receiving: returns
/// the frames decoded within `secs` and our stats.
fn receive_late_from_lazy_sender(pli: bool, from: u16, secs: u64) -> (u64, media::MediaStats) {
    let p = ports(from);
    let negotiated = answer_offer(
        &peer_sdp(p[2], "sendonly", pli),
        &local(p[0], p[1], Direction::RecvOnly),
    );
    assert_eq!(negotiated.video.as_ref().unwrap().pli, pli);
    let sender = lazy_sender(p[2], p[0]);
    std::thread::sleep(Duration::from_millis(3000));
    let dev = device::open(&doorway::api::loopback::loopback_config("Viewer", 5060, vec![])).unwrap();
    let (out, frames) = frame_counter();
    let session = MediaSession::start(&settings(), &negotiated, &dev, out, Arc::new(|_| {})).unwrap();
    wait_until(secs, || frames.load(Ordering::Relaxed) >= 10);
    let result = (frames.load(Ordering::Relaxed), session.stats());
    session.stop(&dev).join().unwrap();
    sender.set_state(gst::State::Null).unwrap();
    result
}

#[test]
fn a_lost_first_keyframe_is_asked_for_again() {
    media::init().unwrap();
    // A peer without picture loss feedback in its SDP is not asked: nothing shown.
    let (frames, stats) = receive_late_from_lazy_sender(false, 27000, 4);
    assert!(stats.packets_received > 0, "{stats:?}");
    assert_eq!((frames, stats.keyframes_asked), (0, 0), "{stats:?}");

    // The same peer with it: asked, and the picture comes back.
    let (frames, stats) = receive_late_from_lazy_sender(true, 28000, 6);
    assert!(stats.packets_received > 0, "{stats:?}");
    assert!(stats.keyframes_asked >= 1, "{stats:?}");
    assert!(
        frames >= 10,
        "the picture came back after a request: {frames} frames, {stats:?}"
    );
}

#[test]
fn a_peer_that_asks_gets_a_keyframe() {
    media::init().unwrap();
    let p = ports(23000);
    // We offer (with our rtcp-fb line); the peer receives and answers with its own.
    // Both ways, as calls are: the peer's RTCP arrives where we receive.
    let ours = local(p[0], p[1], Direction::SendRecv);
    let offer = sdp::build_offer(&ours);
    assert!(offer.contains("a=rtcp-fb:96 nack pli"), "{offer}");
    let negotiated = sdp::apply_answer(&ours, &peer_sdp(p[2], "sendrecv", true)).unwrap();
    let peer = launch(&format!(
        "rtpbin name=rtpbin rtp-profile=avpf \
         udpsrc port={} reuse=false caps=\"application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96,rtcp-fb-nack-pli=true\" \
         ! rtpbin.recv_rtp_sink_0 \
         udpsrc port={} reuse=false caps=application/x-rtcp ! rtpbin.recv_rtcp_sink_0 \
         rtpbin. ! rtph264depay name=depay ! fakesink name=sink async=false \
         rtpbin.send_rtcp_src_0 ! udpsink host=127.0.0.1 port={} sync=false async=false",
        p[2],
        p[2] + 1,
        p[0] + 1
    ));
    let dev = device::open(&doorway::api::loopback::loopback_config("Door", 5060, vec![])).unwrap();
    let session = MediaSession::start(&settings(), &negotiated, &dev, Arc::new(|_| {}), Arc::new(|_| {})).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(session.stats().keyframes_forced, 0, "nobody asked yet");
    // The peer's depayloader asks upstream; its rtpsession sends a PLI to us.
    let bin = peer.clone().downcast::<gst::Bin>().unwrap();
    let depay = bin.by_name("depay").unwrap();
    let ask = gstreamer_video::UpstreamForceKeyUnitEvent::builder()
        .all_headers(true)
        .build();
    assert!(depay.static_pad("src").unwrap().send_event(ask));
    let forced = wait_until(3, || session.stats().keyframes_forced >= 1);
    let stats = session.stats();
    session.stop(&dev).join().unwrap();
    peer.set_state(gst::State::Null).unwrap();
    assert!(forced, "a PLI makes us send a keyframe: {stats:?}");
}
