//! The echo-cancelling audio path (webrtcdsp in the send pipeline, webrtcechoprobe in the
//! receive pipeline) builds, negotiates and carries audio. Cancelling a real echo needs a
//! real speaker and microphone in one box; the emulated station tests that.

use doorway::call::sdp::{self, LocalMedia};
use doorway::device;
use doorway::media::{self, MediaSession, MediaSettings};
use std::sync::Arc;
use std::time::Duration;

fn local(video_port: u16, audio_port: u16) -> LocalMedia {
    doorway::api::loopback::loopback_media(video_port, audio_port)
}

#[test]
fn audio_flows_through_the_echo_canceller() {
    media::init().unwrap();
    let lo = [127, 0, 0, 1].into();
    let ports: Vec<u16> = (0..4)
        .scan(vec![], |taken: &mut Vec<u16>, _| {
            let p = media::ports::allocate_pair(lo, 22000, 22998, taken).unwrap();
            taken.push(p);
            Some(p)
        })
        .collect();
    let (a_local, b_local) = (local(ports[0], ports[1]), local(ports[2], ports[3]));
    let (answer, b_media) = sdp::answer(&sdp::build_offer(&a_local), &b_local).unwrap();
    let a_media = sdp::apply_answer(&a_local, &answer).unwrap();
    let codecs = media::codecs::probe(true).unwrap();
    let settings = |probe: &str| MediaSettings {
        width: 320,
        height: 180,
        fps: 15,
        bitrate_kbps: 500,
        jitter_ms: 20,
        codecs: codecs.clone(),
        screen: None,
        echo_probe: Some(probe.into()),
    };
    let config = |name: &str| doorway::api::loopback::loopback_config(name, 5060, vec![]);
    let (a_dev, b_dev) = (
        device::open(&config("Echo A")).unwrap(),
        device::open(&config("Echo B")).unwrap(),
    );
    let none: media::VideoOut = Arc::new(|_| {});
    let no_self: media::SelfViewOut = Arc::new(|_| {});
    let a = MediaSession::start(&settings("probe-a"), &a_media, &a_dev, none.clone(), no_self.clone()).unwrap();
    let b = MediaSession::start(&settings("probe-b"), &b_media, &b_dev, none, no_self).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let errors: Vec<String> = a.poll_errors().all().into_iter().chain(b.poll_errors().all()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let heard = b_dev
        .probes
        .report()
        .tone_heard_hz
        .expect("B hears A through the echo canceller");
    let sent = a_dev.probes.tone_hz.unwrap();
    assert!((heard - sent).abs() / sent < 0.03, "heard {heard}, sent {sent}");
    assert!(a_dev.probes.report().tone_heard_hz.is_some(), "A hears B");
    a.stop(&a_dev);
    b.stop(&b_dev);
}
