use super::*;

fn local(direction: Direction) -> LocalMedia {
    LocalMedia {
        addr: "192.168.1.10".parse().unwrap(),
        video_port: 10000,
        audio_port: 10002,
        audio_codecs: vec![AudioCodec::Opus, AudioCodec::Pcmu],
        direction,
        session_id: 42,
        version: 1,
        crypto: None,
    }
}

const BARESIP_LIKE: &str = "v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n\
m=video 4002 RTP/AVP 100\r\na=rtpmap:100 H264/90000\r\na=fmtp:100 packetization-mode=0\r\na=sendrecv\r\n";

#[test]
fn offer_lists_h264_modes_opus_pcmu_and_dtmf() {
    let offer = build_offer(&local(Direction::SendRecv));
    assert!(offer.contains("m=video 10000 RTP/AVP 96 97 98 99"), "{offer}");
    assert!(offer.contains("a=fmtp:96 profile-level-id=42e01f;packetization-mode=1"));
    assert!(offer.contains("a=fmtp:97 profile-level-id=42e01f;packetization-mode=0"));
    assert!(offer.contains("m=audio 10002 RTP/AVP 111 0 101 100"), "{offer}");
    assert!(offer.contains("a=rtpmap:111 opus/48000/2"));
    assert!(offer.contains("a=rtpmap:101 telephone-event/48000"));
    assert!(offer.contains("a=rtpmap:100 telephone-event/8000"));
    assert!(offer.contains("c=IN IP4 192.168.1.10"));
}

#[test]
fn answering_our_own_offer_prefers_mode_1_and_opus() {
    let offer = build_offer(&local(Direction::SendRecv));
    let mut callee = local(Direction::SendRecv);
    (callee.video_port, callee.audio_port) = (20000, 20002);
    let (answer, n) = answer(&offer, &callee).unwrap();
    let v = n.video.unwrap();
    assert_eq!((v.rtp.send_pt, v.packetization_mode), (96, 1));
    assert_eq!(v.rtp.remote_rtp, "192.168.1.10:10000".parse().unwrap());
    assert_eq!(v.rtp.remote_rtcp.port(), 10001);
    assert_eq!(v.rtp.local_port, 20000);
    let a = n.audio.unwrap();
    assert_eq!((a.codec, a.rtp.send_pt, a.dtmf_pt), (AudioCodec::Opus, 111, Some(101)));
    assert!(answer.contains("m=video 20000 RTP/AVP 96 98\r\n"), "{answer}");
    assert!(answer.contains("m=audio 20002 RTP/AVP 111 101\r\n"), "{answer}");
    // And the offerer reads the answer back to the same streams.
    let back = apply_answer(&local(Direction::SendRecv), &answer).unwrap();
    assert_eq!(
        back.video.unwrap().rtp.remote_rtp,
        "192.168.1.10:20000".parse().unwrap()
    );
    assert_eq!(back.audio.unwrap().codec, AudioCodec::Opus);
}

#[test]
fn foreign_offer_with_mode_0_and_static_pcmu() {
    let (answer, n) = answer(BARESIP_LIKE, &local(Direction::SendRecv)).unwrap();
    let v = n.video.unwrap();
    assert_eq!((v.rtp.send_pt, v.rtp.recv_pt, v.packetization_mode), (100, 100, 0));
    let a = n.audio.unwrap();
    assert_eq!((a.codec, a.rtp.send_pt, a.dtmf_pt), (AudioCodec::Pcmu, 0, Some(101)));
    // Answer keeps the offer's m-line order: audio first.
    assert!(answer.find("m=audio").unwrap() < answer.find("m=video").unwrap());
}

#[test]
fn unsupported_video_is_rejected_with_port_zero_but_audio_kept() {
    let offer = BARESIP_LIKE
        .replace("H264/90000", "VP8/90000")
        .replace("a=fmtp:100 packetization-mode=0\r\n", "");
    let (answer, n) = answer(&offer, &local(Direction::SendRecv)).unwrap();
    assert!(n.video.is_none());
    assert!(n.audio.is_some());
    assert!(answer.contains("m=video 0 RTP/AVP 100"), "{answer}");
}

#[test]
fn nothing_usable_is_488_and_garbage_is_400() {
    let only_vp8 = "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
m=video 4002 RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\nm=audio 4000 RTP/AVP 18\r\n";
    assert_eq!(answer(only_vp8, &local(Direction::SendRecv)).unwrap_err().status(), 488);
    for garbage in ["", "hello", "v=0\r\nm=audio x RTP/AVP\r\n", "\u{0}\u{1}\u{2}"] {
        let err = answer(garbage, &local(Direction::SendRecv)).unwrap_err();
        assert!(matches!(err.status(), 400 | 488), "{garbage:?} gave {err:?}");
    }
    assert_eq!(
        answer("complete nonsense", &local(Direction::SendRecv))
            .unwrap_err()
            .status(),
        400
    );
}

#[test]
fn preview_answer_is_recvonly() {
    let offer = build_offer(&local(Direction::SendRecv));
    let (answer, n) = answer(&offer, &local(Direction::RecvOnly)).unwrap();
    assert_eq!(answer.matches("a=recvonly").count(), 2, "{answer}");
    assert_eq!(n.video.unwrap().rtp.direction, Direction::RecvOnly);
    // The caller reading it sends only.
    let caller = apply_answer(&local(Direction::SendRecv), &answer).unwrap();
    assert_eq!(caller.video.unwrap().rtp.direction, Direction::SendOnly);
}

#[test]
fn sendonly_offer_gets_recvonly_answer() {
    let offer = BARESIP_LIKE.replace("a=sendrecv", "a=sendonly");
    let (answer, n) = answer(&offer, &local(Direction::SendRecv)).unwrap();
    assert!(answer.contains("a=recvonly"));
    assert_eq!(n.audio.unwrap().rtp.direction, Direction::RecvOnly);
}

#[test]
fn answer_with_other_payload_numbers_sends_theirs_receives_ours() {
    let ours = local(Direction::SendRecv);
    let their_answer = "v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nt=0 0\r\n\
m=video 5000 RTP/AVP 120\r\nc=IN IP4 10.0.0.9\r\na=rtpmap:120 H264/90000\r\na=fmtp:120 packetization-mode=1\r\na=rtcp:6000\r\n\
m=audio 5002 RTP/AVP 109\r\nc=IN IP4 10.0.0.9\r\na=rtpmap:109 OPUS/48000/2\r\n";
    let n = apply_answer(&ours, their_answer).unwrap();
    let v = n.video.unwrap();
    assert_eq!((v.rtp.send_pt, v.rtp.recv_pt), (120, 96));
    assert_eq!(v.rtp.remote_rtcp, "10.0.0.9:6000".parse().unwrap());
    let a = n.audio.unwrap();
    assert_eq!((a.rtp.send_pt, a.rtp.recv_pt), (109, 111));
}

#[test]
fn bare_lf_line_endings_are_accepted() {
    let offer = BARESIP_LIKE.replace("\r\n", "\n");
    assert!(answer(&offer, &local(Direction::SendRecv)).is_ok());
}

#[test]
fn direction_algebra() {
    assert_eq!(Direction::SendRecv.intersect(Direction::RecvOnly), Direction::RecvOnly);
    assert_eq!(Direction::SendOnly.intersect(Direction::RecvOnly), Direction::Inactive);
    assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
}

fn offer_with(audio: &str, conn: &str) -> String {
    format!(
        "v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nc=IN {conn}\r\nt=0 0\r\n{audio}\
         m=video 4002 RTP/AVP 100\r\na=rtpmap:100 H264/90000\r\na=fmtp:100 packetization-mode=1\r\n"
    )
}

#[test]
fn payload_types_beyond_7_bits_are_not_formats() {
    // RTP's payload type field has 7 bits: 128..255 can never reach a payloader.
    let audio = "m=audio 4000 RTP/AVP 128 255\r\na=rtpmap:128 opus/48000/2\r\na=rtpmap:255 PCMU/8000\r\n";
    let (answer_text, n) = answer(&offer_with(audio, "IP4 10.0.0.5"), &local(Direction::SendRecv)).unwrap();
    assert!(n.audio.is_none());
    assert!(answer_text.contains("m=audio 0 "), "{answer_text}");
    let video_only = "v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
        m=video 4002 RTP/AVP 200\r\na=rtpmap:200 H264/90000\r\n";
    assert_eq!(
        answer(video_only, &local(Direction::SendRecv)).unwrap_err().status(),
        488
    );
}

#[test]
fn unusable_addresses_get_488() {
    let audio = "m=audio 4000 RTP/AVP 0\r\n";
    for conn in [
        "IP4 0.0.0.0",
        "IP4 239.1.2.3",
        "IP4 255.255.255.255",
        "IP6 fe80::1",
        "IP4 not-an-ip",
    ] {
        let e = answer(&offer_with(audio, conn), &local(Direction::SendRecv)).unwrap_err();
        assert_eq!(e.status(), 488, "{conn}");
    }
}

#[test]
fn unusable_ports_are_refused() {
    // RTP on the last port has no next port for RTCP; an rtcp attribute of 0 is no port.
    for audio in [
        "m=audio 65535 RTP/AVP 0\r\n",
        "m=audio 4000 RTP/AVP 0\r\na=rtcp:0\r\n",
        "m=audio 4000 RTP/AVP 0\r\na=rtcp:70000\r\n",
    ] {
        let (_, n) = answer(&offer_with(audio, "IP4 10.0.0.5"), &local(Direction::SendRecv)).unwrap();
        assert!(n.audio.is_none(), "{audio}");
    }
    // A port beyond 16 bits does not even parse.
    let e = answer(
        &offer_with("m=audio 70000 RTP/AVP 0\r\n", "IP4 10.0.0.5"),
        &local(Direction::SendRecv),
    );
    assert_eq!(e.unwrap_err().status(), 400);
}

#[test]
fn telephone_event_follows_the_audio_clock_rate() {
    let both = "m=audio 4000 RTP/AVP 111 0 98 99\r\na=rtpmap:111 opus/48000/2\r\n\
        a=rtpmap:98 telephone-event/8000\r\na=rtpmap:99 telephone-event/48000\r\n";
    let (answer_text, n) = answer(&offer_with(both, "IP4 10.0.0.5"), &local(Direction::SendRecv)).unwrap();
    assert_eq!(n.audio.unwrap().dtmf_pt, Some(99));
    assert!(
        answer_text.contains("a=rtpmap:99 telephone-event/48000"),
        "{answer_text}"
    );
    assert!(!answer_text.contains("telephone-event/8000"), "{answer_text}");
    // Opus with only an 8 kHz telephone-event (baresip, many phones): taken at its own
    // clock, so their digits still open the door.
    let only_8k = "m=audio 4000 RTP/AVP 111 98\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:98 telephone-event/8000\r\n";
    let (answer_text, n) = answer(&offer_with(only_8k, "IP4 10.0.0.5"), &local(Direction::SendRecv)).unwrap();
    let audio = n.audio.unwrap();
    assert_eq!((audio.dtmf_pt, audio.dtmf_rate), (Some(98), Some(8000)));
    assert!(
        answer_text.contains("a=rtpmap:98 telephone-event/8000"),
        "{answer_text}"
    );
}

#[test]
fn refused_video_says_why() {
    let offer = "v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
        m=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\n";
    let (answer_text, n) = answer(offer, &local(Direction::SendRecv)).unwrap();
    assert!(n.video.is_none());
    assert!(n.video_refused.unwrap().contains("H.264"));
    assert!(answer_text.contains("m=video 0 "), "{answer_text}");
    // An answer that turns our video down says so too.
    let ours = build_offer(&local(Direction::SendRecv));
    let mut callee = local(Direction::SendRecv);
    callee.audio_port = 20002;
    let (reply, _) = answer(&ours, &callee).unwrap();
    let no_video = reply.replace("m=video 10000", "m=video 0");
    let n = apply_answer(&local(Direction::SendRecv), &no_video).unwrap();
    assert!(
        n.video.is_none() && n.video_refused.is_none(),
        "a declined stream is not a refusal"
    );
}

#[test]
fn huge_or_binary_bodies_are_malformed_and_printable() {
    let huge = format!("v=0\r\n{}", "a=x\r\n".repeat(10_000));
    assert_eq!(answer(&huge, &local(Direction::SendRecv)).unwrap_err().status(), 400);
    let binary = "v=0\r\n\u{1}\u{7f}\u{fffd}garbage\r\n";
    let e = answer(binary, &local(Direction::SendRecv)).unwrap_err();
    assert!(!e.to_string().chars().any(|c| c.is_control() || c == '\u{fffd}'), "{e}");
}

#[test]
fn picture_loss_feedback_is_offered_and_recognised() {
    let ours = build_offer(&local(Direction::SendRecv));
    assert!(
        ours.contains("a=rtcp-fb:96 nack pli") && ours.contains("a=rtcp-fb:97 nack pli"),
        "{ours}"
    );
    let (reply, n) = answer(&ours, &local(Direction::SendRecv)).unwrap();
    assert!(n.video.unwrap().pli);
    assert!(
        apply_answer(&local(Direction::SendRecv), &reply)
            .unwrap()
            .video
            .unwrap()
            .pli
    );
    let video = |feedback: &str| {
        format!(
            "v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
             m=video 4002 RTP/AVP 100\r\na=rtpmap:100 H264/90000\r\n\
             a=fmtp:100 packetization-mode=1\r\n{feedback}"
        )
    };
    let pli = |feedback: &str| {
        let (_, n) = answer(&video(feedback), &local(Direction::SendRecv)).unwrap();
        n.video.unwrap().pli
    };
    assert!(pli("a=rtcp-fb:* nack pli\r\n"), "baresip writes a wildcard");
    assert!(pli("a=rtcp-fb:100 NACK PLI\r\n"));
    assert!(!pli(""));
    assert!(!pli("a=rtcp-fb:101 nack pli\r\n"), "another format's feedback");
    assert!(!pli("a=rtcp-fb:100 nack\r\n"), "NACK alone is retransmission, not PLI");
    assert!(!pli("a=rtcp-fb:100 nack pli sli\r\n"));
}

#[test]
fn retransmission_is_offered_and_taken_only_with_nack_and_rtx() {
    let ours = build_offer(&local(Direction::SendRecv));
    for line in [
        "a=rtpmap:98 rtx/90000",
        "a=fmtp:98 apt=96",
        "a=rtpmap:99 rtx/90000",
        "a=fmtp:99 apt=97",
        "a=rtcp-fb:96 nack\r\n",
        "a=rtcp-fb:97 nack\r\n",
    ] {
        assert!(ours.contains(line), "{line} in {ours}");
    }
    // Our own offer: RTX both ways, and the answer says so for the chosen format only.
    let (reply, n) = answer(&ours, &local(Direction::SendRecv)).unwrap();
    let rtx = Retransmission {
        send_pt: 98,
        recv_pt: 98,
    };
    assert_eq!(n.video.unwrap().retransmission, Some(rtx));
    assert!(reply.contains("m=video 10000 RTP/AVP 96 98\r\n"), "{reply}");
    assert!(reply.contains("a=fmtp:98 apt=96") && reply.contains("a=rtcp-fb:96 nack\r\n"));
    let back = apply_answer(&local(Direction::SendRecv), &reply).unwrap();
    assert_eq!(back.video.unwrap().retransmission, Some(rtx));

    let video = |lines: &str| {
        format!(
            "v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
             m=video 4002 RTP/AVP 100 120\r\na=rtpmap:100 H264/90000\r\n\
             a=fmtp:100 packetization-mode=1\r\n{lines}"
        )
    };
    let taken = |lines: &str| {
        let (reply, n) = answer(&video(lines), &local(Direction::SendRecv)).unwrap();
        let rtx = n.video.unwrap().retransmission;
        assert_eq!(rtx.is_some(), reply.contains("rtx/90000"), "{reply}");
        rtx
    };
    let rtx = "a=rtpmap:120 rtx/90000\r\na=fmtp:120 apt=100\r\n";
    assert_eq!(
        taken(&format!("{rtx}a=rtcp-fb:100 nack\r\n")),
        Some(Retransmission {
            send_pt: 120,
            recv_pt: 120
        })
    );
    assert!(taken(&format!("{rtx}a=rtcp-fb:* nack\r\n")).is_some(), "a wildcard");
    assert!(taken(rtx).is_none(), "RTX but no NACK");
    assert!(
        taken("a=rtcp-fb:* nack\r\na=rtcp-fb:* nack pli\r\n").is_none(),
        "baresip: NACK, no RTX"
    );
    assert!(
        taken("a=rtpmap:120 rtx/90000\r\na=fmtp:120 apt=101\r\na=rtcp-fb:100 nack\r\n").is_none(),
        "RTX for another format"
    );
    assert!(
        taken("a=rtpmap:120 rtx/90000\r\na=fmtp:120 apt=x\r\na=rtcp-fb:100 nack\r\n").is_none(),
        "a garbled apt"
    );
}
