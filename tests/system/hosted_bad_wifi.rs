//! A hosted call over a bad Wi-Fi: a host's grid goes to a remote station across a wire
//! that loses 5% of the media (tests/common/impair.rs), each in a network namespace of
//! its own. The host sends the lost packets of its grid again when the remote asks (an
//! rtprtxsend per leg), sends in-band FEC for the sound the leg loses, and when the
//! wire is capped the grid's one encoder backs off to what the link carries.

use crate::common::impair::{Condition, Wire};
use crate::common::netns::Lan;
use doorway::call::sdp::{self, LocalMedia, Negotiated};
use doorway::device;
use doorway::media::conference::ConferenceMedia;
use doorway::media::{self, MediaSession, MediaSettings};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CONFIGURED_KBPS: u32 = 1500;

fn settings() -> MediaSettings {
    MediaSettings {
        width: 640,
        height: 360,
        fps: 15,
        bitrate_kbps: CONFIGURED_KBPS,
        jitter_ms: 20,
        codecs: media::codecs::probe(true).unwrap(),
        screen: None,
        echo_probe: None,
    }
}

/// Media at host `n`'s address, on ports the wire impairs (10000-20000).
fn local(n: u8) -> LocalMedia {
    LocalMedia {
        addr: Ipv4Addr::new(10, 77, 0, n).into(),
        video_port: 12000 + 100 * u16::from(n),
        audio_port: 12002 + 100 * u16::from(n),
        ..doorway::api::loopback::loopback_media(0, 0)
    }
}

fn wait_for<T>(what: &str, secs: u64, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what} within {secs} s");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_hosted_call_repairs_its_grid_over_a_lossy_link_and_follows_a_capped_one() {
    media::init().unwrap();
    let mut lan = Lan::new("hb");
    let (a, b) = (lan.add_tap_host(1), lan.add_tap_host(2));
    let lossy = Condition {
        loss: 0.05,
        ..Condition::default()
    };
    let wire = Wire::between(a, b, lossy);
    let (host_local, remote_local) = (local(1), local(2));
    let offer = sdp::build_offer(&host_local);
    let (answer, remote_media) = sdp::answer(&offer, &remote_local).unwrap();
    let leg: Negotiated = sdp::apply_answer(&host_local, &answer).unwrap();
    assert!(
        leg.video.as_ref().is_some_and(|v| v.retransmission.is_some()),
        "the leg negotiated no retransmission: {leg:?}"
    );
    let settings = settings();
    let open = |name: &str| device::open(&doorway::api::loopback::loopback_config(name, 5060, vec![])).unwrap();
    let done = AtomicBool::new(false);
    let remote_stats = Mutex::new(None);
    std::thread::scope(|scope| {
        // The remote: an ordinary two-station media session, on host 2.
        scope.spawn(|| {
            lan.enter_on_this_thread(2);
            let devices = open("Kitchen");
            let session =
                MediaSession::start(&settings, &remote_media, &devices, Arc::new(|_| {}), Arc::new(|_| {})).unwrap();
            while !done.load(Ordering::SeqCst) {
                *remote_stats.lock().unwrap() = Some(session.stats());
                std::thread::sleep(Duration::from_millis(100));
            }
            session.stop(&devices).join().unwrap();
        });
        // The host, on host 1 (this thread's sockets are made there).
        lan.enter_on_this_thread(1);
        let host = open("Hall");
        let conference =
            ConferenceMedia::start(&settings, std::slice::from_ref(&leg), &host, Arc::new(|_| {})).unwrap();
        let remote = || remote_stats.lock().unwrap().clone().unwrap_or_default();
        wait_for("the remote decodes the grid", 20, || {
            (remote().frames_decoded > 10).then_some(())
        });
        let resent = wait_for("the host sends lost packets again", 20, || {
            let s = conference.stats();
            (s.video_packets_resent[0] > 0 && remote().video_repairs_received > 0).then_some(s)
        });
        let fec = resent.audio_fec_percent[0];
        assert!(fec.is_some_and(|p| p >= 3), "no FEC for the leg's loss: {resent:?}");
        println!(
            "5% loss: the host sent {} packets again, the remote took {} repairs, FEC for {}% loss",
            resent.video_packets_resent[0],
            remote().video_repairs_received,
            fec.unwrap_or(0)
        );

        wire.set(Condition {
            rate_kbps: Some(120),
            ..Condition::default()
        });
        let capped = Instant::now();
        let low = wait_for("the grid's bitrate backs off under a 120 kbit/s cap", 30, || {
            conference.stats().video_kbps.filter(|k| *k < CONFIGURED_KBPS / 2)
        });
        println!(
            "under a 120 kbit/s cap: the grid at {low} kbit/s of {CONFIGURED_KBPS} after {:.1} s",
            capped.elapsed().as_secs_f64()
        );
        let frames = remote().frames_decoded;
        wire.set(Condition::default());
        wait_for("pictures again once the cap goes", 20, || {
            (remote().frames_decoded > frames + 30).then_some(())
        });
        conference.stop(&host);
        done.store(true, Ordering::SeqCst);
    });
}
