//! SRTP media end to end: two media sessions on 127.0.0.1 with test devices, keys
//! exchanged in SDP (SDES), the real send and receive pipelines with srtpenc/srtpdec.
//! Video goes over AEAD_AES_128_GCM and audio over AES_CM_128_HMAC_SHA1_32 (the offer's
//! audio keeps only that suite), so two suites run at once. A receiver holding the wrong
//! key must decode nothing, and its packets must not count as received media.

use doorway::call::sdp::{self, LocalCrypto, LocalMedia, Negotiated, SrtpSuite};
use doorway::device::{self, probe};
use doorway::media::{self, MediaSession, MediaSettings, MediaStats};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn local(video_port: u16, audio_port: u16) -> LocalMedia {
    LocalMedia {
        crypto: Some(LocalCrypto::fresh()),
        ..doorway::api::loopback::loopback_media(video_port, audio_port)
    }
}

/// The offer with its audio section's crypto lines cut down to AES_CM_128_HMAC_SHA1_32.
fn audio_only_cm32(offer: &str) -> String {
    let (video, audio) = offer.split_at(offer.find("m=audio").unwrap());
    let audio: String = audio
        .split_inclusive('\n')
        .filter(|l| !l.contains("AEAD_AES_128_GCM") && !l.contains("AES_CM_128_HMAC_SHA1_80"))
        .collect();
    format!("{video}{audio}")
}

/// Negotiates a secure call between `a` (offerer) and `b`: (a's streams, b's streams).
fn negotiate(a: &LocalMedia, b: &LocalMedia) -> (Negotiated, Negotiated) {
    let offer = audio_only_cm32(&sdp::build_offer(a));
    let (answer, b_media) = sdp::answer(&offer, b).unwrap();
    (sdp::apply_answer(a, &answer).unwrap(), b_media)
}

/// Counts decoded frames, and those that carry station `tag`'s pattern.
fn frame_counter(tag: u16) -> (media::VideoOut, Arc<AtomicU64>, Arc<AtomicU64>) {
    let (all, tagged) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (a, t) = (all.clone(), tagged.clone());
    let out: media::VideoOut = Arc::new(move |picture: device::Picture| {
        a.fetch_add(1, Ordering::Relaxed);
        let Some(frame) = picture.view() else { return };
        let f = frame.format;
        if probe::read_bgrx(frame.data, f.width, f.height, frame.stride).is_some_and(|c| c.tag == tag) {
            t.fetch_add(1, Ordering::Relaxed);
        }
    });
    (out, all, tagged)
}

fn wait_until(secs: u64, done: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !done() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Two ends of an encrypted call on free port pairs in `range`: their ports, their
/// negotiated streams, small media settings, and test devices named `names`.
struct SecureEnds {
    ports: Vec<u16>,
    a_media: Negotiated,
    b_media: Negotiated,
    settings: MediaSettings,
    a_dev: device::Devices,
    b_dev: device::Devices,
}

fn secure_ends(range: (u16, u16), names: (&str, &str)) -> SecureEnds {
    media::init().unwrap();
    let lo = [127, 0, 0, 1].into();
    let ports: Vec<u16> = (0..4)
        .scan(vec![], |taken: &mut Vec<u16>, _| {
            let p = media::ports::allocate_pair(lo, range.0, range.1, taken).unwrap();
            taken.push(p);
            Some(p)
        })
        .collect();
    let (a_media, b_media) = negotiate(&local(ports[0], ports[1]), &local(ports[2], ports[3]));
    let settings = MediaSettings {
        width: 320,
        height: 180,
        fps: 15,
        bitrate_kbps: 500,
        jitter_ms: 20,
        codecs: media::codecs::probe(true).unwrap(),
        screen: None,
        echo_probe: None,
    };
    let config = |name: &str| doorway::api::loopback::loopback_config(name, 5060, vec![]);
    SecureEnds {
        ports,
        a_media,
        b_media,
        settings,
        a_dev: device::open(&config(names.0)).unwrap(),
        b_dev: device::open(&config(names.1)).unwrap(),
    }
}

#[test]
fn encrypted_media_decodes_and_a_wrong_key_decodes_nothing() {
    let SecureEnds {
        ports,
        a_media,
        b_media,
        settings,
        a_dev,
        b_dev,
    } = secure_ends((24000, 24998), ("Secure A", "Secure B"));
    for n in [&a_media, &b_media] {
        let (v, a) = (n.video.as_ref().unwrap(), n.audio.as_ref().unwrap());
        assert_eq!(v.rtp.crypto.as_ref().unwrap().suite, SrtpSuite::AeadAes128Gcm);
        assert_eq!(a.rtp.crypto.as_ref().unwrap().suite, SrtpSuite::AesCm128HmacSha1_32);
    }
    let no_self: media::SelfViewOut = Arc::new(|_| {});
    let (a_out, _, a_saw_b) = frame_counter(b_dev.probes.tag);
    let (b_out, _, b_saw_a) = frame_counter(a_dev.probes.tag);
    let a = MediaSession::start(&settings, &a_media, &a_dev, a_out, no_self.clone()).unwrap();
    let b = MediaSession::start(&settings, &b_media, &b_dev, b_out, no_self.clone()).unwrap();
    let heard = |d: &device::Devices| d.probes.report().tone_heard_hz;
    wait_until(8, || {
        a_saw_b.load(Ordering::Relaxed) > 5
            && b_saw_a.load(Ordering::Relaxed) > 5
            && heard(&a_dev).is_some()
            && heard(&b_dev).is_some()
    });
    let errors: Vec<String> = a.poll_errors().all().into_iter().chain(b.poll_errors().all()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(
        b_saw_a.load(Ordering::Relaxed) > 5,
        "B decodes A's picture: {:?}",
        b.stats()
    );
    assert!(
        a_saw_b.load(Ordering::Relaxed) > 5,
        "A decodes B's picture: {:?}",
        a.stats()
    );
    for (listener, speaker) in [(&b_dev, &a_dev), (&a_dev, &b_dev)] {
        let got = heard(listener).expect("each side hears the other's tone");
        let sent = speaker.probes.tone_hz.unwrap();
        assert!((got - sent).abs() / sent < 0.03, "heard {got}, sent {sent}");
    }
    let expected = "video: SRTP AEAD_AES_128_GCM, audio: SRTP AES_CM_128_HMAC_SHA1_32";
    // SRTCP both ways: sender and receiver reports of both streams arrive (rtpbin sends
    // its first ones a few seconds in) and none fails authentication.
    wait_until(8, || a.stats().rtcp_received >= 4 && b.stats().rtcp_received >= 4);
    for s in [a.stats(), b.stats()] {
        assert_eq!(s.encryption_sent.as_deref(), Some(expected), "{s:?}");
        assert_eq!(s.encryption_received.as_deref(), Some(expected), "{s:?}");
        assert!(s.packets_received > 0 && s.rtcp_received >= 4, "{s:?}");
        assert_eq!(s.packets_unauthenticated, 0, "{s:?}");
    }
    let a_sent_before = a.stats().frames_sent;
    b.stop(&b_dev).join().unwrap();

    // B's ports, B's devices, A still sending: a receiver with keys of another call.
    let (_, other) = negotiate(&local(ports[0], ports[1]), &local(ports[2], ports[3]));
    let mut wrong = b_media.clone();
    wrong.video.as_mut().unwrap().rtp.crypto = other.video.unwrap().rtp.crypto;
    wrong.audio.as_mut().unwrap().rtp.crypto = other.audio.unwrap().rtp.crypto;
    assert_ne!(wrong, b_media);
    let (c_out, c_frames, _) = frame_counter(a_dev.probes.tag);
    let c = MediaSession::start(&settings, &wrong, &b_dev, c_out, no_self).unwrap();
    let stats = || -> MediaStats { c.stats() };
    wait_until(4, || stats().packets_unauthenticated > 50);
    std::thread::sleep(Duration::from_millis(500));
    let s = stats();
    assert!(a.stats().frames_sent > a_sent_before, "A kept sending");
    assert!(s.packets_unauthenticated > 50, "srtpdec refused A's packets: {s:?}");
    assert_eq!(c_frames.load(Ordering::Relaxed), 0, "{s:?}");
    assert_eq!((s.frames_decoded, s.samples_played), (0, 0), "{s:?}");
    assert_eq!(s.packets_received, 0, "unauthenticated packets are not media: {s:?}");
    assert!(c.silence_ms() >= 1000, "the media timeout still runs: {s:?}");
    c.stop(&b_dev).join().unwrap();
    a.stop(&a_dev).join().unwrap();
}

/// Plain RTP with an SSRC of its own, `pt`, to 127.0.0.1:`port`, about 500 packets a
/// second until `stop`: what a LAN host that found a call's ports can send.
fn spoof(port: u16, pt: u8, stop: Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut sent = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let seq = (sent as u16).to_be_bytes();
            let ts = (sent as u32 * 90).to_be_bytes();
            let mut packet = vec![
                0x80, pt, seq[0], seq[1], ts[0], ts[1], ts[2], ts[3], 0x5e, 0xed, 0x5e, 0xed,
            ];
            packet.extend(std::iter::repeat_n(0xa5u8, 160));
            let _ = socket.send_to(&packet, ("127.0.0.1", port));
            sent += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        sent
    })
}

/// A host on the LAN sends plain RTP with its own SSRC into an encrypted call's ports,
/// from the peer's address, before the peer's first packet and all through the call:
/// the receiver still shows the peer's picture and plays its sound, because a stream
/// follows an SSRC only among packets that authenticated.
#[test]
fn forged_plain_rtp_cannot_take_an_encrypted_stream() {
    let SecureEnds {
        a_media,
        b_media,
        settings,
        a_dev,
        b_dev,
        ..
    } = secure_ends((25000, 25998), ("Spoofed A", "Spoofed B"));
    let no_self: media::SelfViewOut = Arc::new(|_| {});
    let (a_out, _, _) = frame_counter(b_dev.probes.tag);
    let (b_out, _, b_saw_a) = frame_counter(a_dev.probes.tag);
    let (video, audio) = (b_media.video.as_ref().unwrap(), b_media.audio.as_ref().unwrap());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spoofers = [
        spoof(video.rtp.local_port, video.rtp.recv_pt, stop.clone()),
        spoof(audio.rtp.local_port, audio.rtp.recv_pt, stop.clone()),
    ];
    // B listens first and hears only the forger for a while.
    let b = MediaSession::start(&settings, &b_media, &b_dev, b_out, no_self.clone()).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let a = MediaSession::start(&settings, &a_media, &a_dev, a_out, no_self).unwrap();
    let heard = || b_dev.probes.report().tone_heard_hz;
    wait_until(10, || b_saw_a.load(Ordering::Relaxed) > 20 && heard().is_some());
    stop.store(true, Ordering::Relaxed);
    let forged: u64 = spoofers.into_iter().map(|s| s.join().unwrap()).sum();
    let s = b.stats();
    assert!(forged > 500, "the forger sent {forged} packets");
    assert!(s.packets_unauthenticated > 100, "srtpdec refused the forgeries: {s:?}");
    assert!(
        b_saw_a.load(Ordering::Relaxed) > 20,
        "B shows A's picture through the forgeries: {s:?}"
    );
    let sent = a_dev.probes.tone_hz.unwrap();
    let got = heard().expect("B hears A's tone through the forgeries");
    assert!((got - sent).abs() / sent < 0.03, "heard {got}, sent {sent}");
    b.stop(&b_dev).join().unwrap();
    a.stop(&a_dev).join().unwrap();
}
