//! What each fuzz target does with one input, shared by the libFuzzer targets
//! (tests/fuzz/fuzz_targets/) and by the corpus replay in `cargo test`
//! (tests/hostile/fuzz_corpus.rs). Each function feeds the input to the code that meets it at
//! the station's boundary and asserts what must hold whatever the input: no panic, and
//! the properties the rest of the station relies on.

use doorway::call::guard::reject_reply;
use doorway::call::sdp::{self, AudioCodec, Direction, LocalCrypto, LocalMedia, Negotiated, SdpError};
use doorway::call::sip_check::stream::{Frame, Framer, MAX_MESSAGE};
use doorway::call::sip_check::{check, Verdict};
use doorway::config::{Config, ConfigError};
use doorway::media::rtp_filter::{is_rtcp, is_rtp, SsrcLock};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

/// The largest datagram the station reads (its SIP socket's buffer).
const DATAGRAM: usize = 65_535;

fn local(direction: Direction, crypto: Option<LocalCrypto>) -> LocalMedia {
    LocalMedia {
        addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
        video_port: 40_000,
        audio_port: 40_002,
        audio_codecs: vec![AudioCodec::Opus, AudioCodec::Pcmu, AudioCodec::Pcma],
        direction,
        session_id: 1,
        version: 1,
        crypto,
    }
}

/// Every value of a negotiated call that reaches a GStreamer property or a socket; and
/// a secure call's streams are all encrypted, a plain call's none.
fn assert_usable(negotiated: &Negotiated, secure: bool) {
    let streams = negotiated
        .video
        .iter()
        .map(|v| &v.rtp)
        .chain(negotiated.audio.iter().map(|a| &a.rtp));
    for rtp in streams {
        assert_eq!(rtp.crypto.is_some(), secure, "encryption: {rtp:?}");
        assert!(
            rtp.send_pt <= 127 && rtp.recv_pt <= 127,
            "payload type out of range: {rtp:?}"
        );
        for addr in [rtp.remote_rtp, rtp.remote_rtcp] {
            let ip = addr.ip();
            assert!(addr.port() != 0, "port 0 negotiated: {rtp:?}");
            assert!(!ip.is_multicast() && !ip.is_unspecified(), "unusable address: {rtp:?}");
        }
    }
    if let Some(video) = &negotiated.video {
        assert!(video.packetization_mode <= 1, "packetization mode: {video:?}");
    }
    if let Some(dtmf) = negotiated.audio.as_ref().and_then(|a| a.dtmf_pt) {
        assert!(dtmf <= 127, "telephone-event payload type {dtmf}");
    }
}

/// How many media sections the SDP parser finds (lines normalised to CRLF first, as the
/// station does).
fn media_sections(text: &str) -> usize {
    let normalised: String = text
        .lines()
        .map(|l| format!("{}\r\n", l.trim_end_matches('\r')))
        .collect();
    ::sdp::description::session::SessionDescription::unmarshal(&mut std::io::Cursor::new(normalised.as_bytes()))
        .map(|d| d.media_descriptions.len())
        .unwrap_or(0)
}

/// SDP as an offer (in an INVITE or re-INVITE) and as an answer (to our offer).
pub fn check_sdp(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let cases = [
        (Direction::SendRecv, None),
        (Direction::RecvOnly, None),
        (Direction::SendRecv, Some(LocalCrypto::fresh())),
    ];
    for (direction, crypto) in cases {
        let secure = crypto.is_some();
        let ours = local(direction, crypto);
        match sdp::answer(text, &ours) {
            Ok((answer, negotiated)) => {
                assert_usable(&negotiated, secure);
                // RFC 3264 section 6: one m= line in the answer for each in the offer.
                assert_eq!(media_sections(&answer), media_sections(text), "answer:\n{answer}");
                // What we answer must be an answer we would accept ourselves.
                sdp::apply_answer(&ours, &answer).expect("our own answer is usable SDP");
            }
            Err(err) => assert!(matches!(err.status(), 400 | 488), "{err}"),
        }
        match sdp::apply_answer(&ours, text) {
            Ok(negotiated) => assert_usable(&negotiated, secure),
            Err(SdpError::Malformed(why) | SdpError::NotAcceptable(why)) => {
                assert!(!why.chars().any(char::is_control), "unprintable reason: {why:?}")
            }
        }
    }
    let _ = sdp::is_hold(text);
    let _ = sdp::offers_srtp(text);
}

/// One SIP datagram through the UDP guard, as the station's socket sees it.
pub fn check_sip_request(data: &[u8]) {
    if data.len() > DATAGRAM {
        return;
    }
    let passed = match check(data) {
        Verdict::Pass => data.to_vec(),
        Verdict::Rewrite(plain) => {
            // A rewrite unfolds lines and spells compact header names in full ("e:" is
            // "Content-Encoding:", 15 bytes more): at most that much longer per line.
            // (The guard drops a rewrite that no longer fits the socket's buffer.)
            let lines = data.split(|b| *b == b'\n').count();
            assert!(
                plain.len() <= data.len() + 15 * lines,
                "a rewrite that grows more than compact names explain: {} -> {}",
                data.len(),
                plain.len()
            );
            plain
        }
        Verdict::Reply { response, why } => {
            assert!(response.starts_with("SIP/2.0 "), "reply: {response:?}");
            assert!(response.ends_with("\r\n\r\n"), "reply: {response:?}");
            assert!(!why.is_empty());
            return;
        }
    };
    if let Some((reply, why)) = reject_reply(&passed) {
        assert!(reply.starts_with("SIP/2.0 400 "), "{why}: {reply:?}");
    }
}

/// The same bytes as a TCP or TLS stream: whole, cut at a point the input chooses, and
/// byte by byte. Each way gives the same messages (or loses framing at the same
/// place), every message is within the limit, and each one gets the datagram checks.
pub fn check_sip_stream(data: &[u8]) {
    fn frames(chunks: &mut dyn Iterator<Item = &[u8]>) -> (Vec<Frame>, bool) {
        let mut framer = Framer::default();
        let mut out = Vec::new();
        for chunk in chunks {
            framer.push(chunk);
            loop {
                match framer.next_frame() {
                    Ok(Some(frame)) => out.push(frame),
                    Ok(None) => break,
                    Err(lost) => {
                        assert!(!lost.why.is_empty());
                        assert_eq!(framer.pending(), 0, "lost framing keeps no bytes");
                        return (out, true);
                    }
                }
            }
            assert!(
                framer.pending() <= MAX_MESSAGE + chunk.len(),
                "the framer holds too much"
            );
        }
        (out, false)
    }
    if data.len() > 4 * MAX_MESSAGE {
        return;
    }
    let cut = data.first().map(|b| *b as usize * data.len() / 256).unwrap_or(0);
    let whole = frames(&mut std::iter::once(data));
    let halves = frames(&mut [&data[..cut], &data[cut..]].into_iter());
    assert_eq!(whole, halves, "cut at {cut}");
    if data.len() <= 4096 {
        let bytes = frames(&mut data.chunks(1));
        assert_eq!(whole, bytes, "byte by byte");
    }
    for frame in &whole.0 {
        if let Frame::Message(message) = frame {
            assert!(message.len() <= MAX_MESSAGE);
            check_sip_request(message);
        }
    }
}

/// One datagram at a call's RTP or RTCP port, then as a stream of SSRCs.
pub fn check_rtp_gate(data: &[u8]) {
    for pt in [0u8, 96, 111, 127] {
        if is_rtp(data, pt) {
            assert!(data.len() >= 12 && data[1] & 0x7f == pt);
        }
    }
    if is_rtcp(data) {
        assert!(data.len() >= 8 && (200..=206).contains(&data[1]));
    }
    // Read the input as (ssrc, milliseconds later) pairs: a held SSRC is never taken over
    // while it keeps talking, and any SSRC gets in after a second of silence.
    let mut lock = SsrcLock::default();
    let mut now = 0u64;
    let mut held: Option<(u32, u64)> = None;
    for chunk in data.chunks_exact(6) {
        let ssrc = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        now += u16::from_be_bytes([chunk[4], chunk[5]]) as u64;
        let admitted = lock.admit(ssrc, now);
        match held {
            Some((h, last)) if h != ssrc && now - last < 1000 => assert!(!admitted),
            _ => assert!(admitted),
        }
        if admitted {
            held = Some((ssrc, now));
        }
    }
}

/// Configuration text, as `doorway --config` reads it.
pub fn check_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, Path::new("fuzz.toml")) {
        Ok(config) => {
            // A valid config names each contact once (validation's promise).
            for contact in &config.contacts {
                assert!(config.contact(&contact.name).is_some());
            }
        }
        Err(ConfigError::Invalid {
            line, field, message, ..
        }) => {
            let lines = text.lines().count().max(1);
            assert!(
                line >= 1 && line <= lines + 1,
                "line {line} of {lines} ({field}: {message})"
            );
            assert!(!message.is_empty());
        }
        Err(ConfigError::Read { .. }) => unreachable!("parse reads no file"),
    }
}
