use super::*;
use crate::call::sdp::{build_offer, AudioCodec, Direction};

pub(super) fn local(port: u16) -> LocalMedia {
    LocalMedia {
        addr: "127.0.0.1".parse().unwrap(),
        video_port: port,
        audio_port: port + 2,
        audio_codecs: vec![AudioCodec::Opus, AudioCodec::Pcmu],
        direction: Direction::SendRecv,
        session_id: 7,
        version: 1,
        crypto: None,
    }
}

fn peer(contact: Option<&str>) -> PeerInfo {
    PeerInfo {
        contact: contact.map(String::from),
        uri: "sip:door@127.0.0.2:5060".into(),
        ip: "127.0.0.2".parse().unwrap(),
        auto_answer: false,
        preview: false,
        secure: false,
    }
}

fn offer() -> String {
    build_offer(&local(30000))
}

fn incoming(m: &mut CallMachine, call: &str, p: PeerInfo) -> Vec<Action> {
    m.handle(Event::Incoming {
        call: call.into(),
        peer: p,
        offer: offer(),
        local: local(20000),
        allow_unknown: false,
    })
}

fn has(actions: &[Action], pred: impl Fn(&Action) -> bool) -> bool {
    actions.iter().any(pred)
}

fn dial(m: &mut CallMachine, call: &str) -> Vec<Action> {
    m.handle(Event::Dial {
        call: call.into(),
        peer: peer(Some("Door")),
        local: local(10000),
    })
}

fn callee_answer() -> String {
    crate::call::sdp::answer(&build_offer(&local(10000)), &local(20000))
        .unwrap()
        .0
}

#[test]
fn outgoing_call_rings_is_answered_and_hung_up() {
    let mut m = CallMachine::new();
    let a = dial(&mut m, "c1");
    assert!(has(
        &a,
        |a| matches!(a, Action::SendInvite { call, offer, .. } if call == "c1" && offer.contains("H264"))
    ));
    m.handle(Event::Progress {
        call: "c1".into(),
        early_sdp: None,
    });
    assert!(matches!(m.state(), State::Outgoing { ringing: true, .. }));
    let a = m.handle(Event::Answered {
        call: "c1".into(),
        answer_sdp: callee_answer(),
    });
    assert!(has(&a, |a| matches!(a, Action::StartMedia { .. })));
    assert!(matches!(m.state(), State::Active { outgoing: true, .. }));
    let a = m.handle(Event::Hangup);
    assert_eq!(
        a,
        vec![
            Action::Bye { call: "c1".into() },
            Action::StopMedia { call: "c1".into() }
        ]
    );
    assert_eq!(m.state(), &State::Idle);
}

#[test]
fn incoming_call_rings_then_answered() {
    let mut m = CallMachine::new();
    let a = incoming(&mut m, "c2", peer(Some("Door")));
    assert!(has(&a, |a| matches!(a, Action::SendRinging { early_answer: None, .. })));
    assert!(matches!(m.state(), State::Incoming { .. }));
    let a = m.handle(Event::Answer);
    assert!(has(
        &a,
        |a| matches!(a, Action::Accept { answer, .. } if answer.contains("a=sendrecv"))
    ));
    assert!(has(&a, |a| matches!(a, Action::StartMedia { .. })));
    assert!(matches!(m.state(), State::Active { outgoing: false, .. }));
}

#[test]
fn unknown_caller_gets_403_unless_allowed() {
    let mut m = CallMachine::new();
    let a = incoming(&mut m, "c3", peer(None));
    assert!(has(&a, |a| matches!(a, Action::Reject { status: 403, .. })));
    assert_eq!(m.state(), &State::Idle);
    let a = m.handle(Event::Incoming {
        call: "c4".into(),
        peer: peer(None),
        offer: offer(),
        local: local(20000),
        allow_unknown: true,
    });
    assert!(has(&a, |a| matches!(a, Action::SendRinging { .. })));
}

#[test]
fn auto_answer_contact_is_answered_at_once() {
    let mut m = CallMachine::new();
    let mut p = peer(Some("Door"));
    p.auto_answer = true;
    let a = incoming(&mut m, "c5", p);
    assert!(has(&a, |a| matches!(a, Action::Accept { .. })));
    assert!(!has(&a, |a| matches!(a, Action::SendRinging { .. })));
    assert!(matches!(m.state(), State::Active { .. }));
}

#[test]
fn preview_sends_183_recvonly_and_answer_opens_both_ways() {
    let mut m = CallMachine::new();
    let mut p = peer(Some("Door"));
    p.preview = true;
    let a = incoming(&mut m, "c6", p);
    let early = a.iter().find_map(|a| match a {
        Action::SendRinging {
            early_answer: Some(sdp),
            ..
        } => Some(sdp.clone()),
        _ => None,
    });
    assert!(early.unwrap().contains("a=recvonly"));
    let preview_media = a.iter().find_map(|a| match a {
        Action::StartMedia { media, .. } => Some(media.clone()),
        _ => None,
    });
    assert_eq!(preview_media.unwrap().video.unwrap().rtp.direction, Direction::RecvOnly);
    let a = m.handle(Event::Answer);
    let full = a.iter().find_map(|a| match a {
        Action::StartMedia { media, .. } => Some(media.clone()),
        _ => None,
    });
    assert_eq!(full.unwrap().video.unwrap().rtp.direction, Direction::SendRecv);
}

#[test]
fn caller_sends_early_media_on_183() {
    let mut m = CallMachine::new();
    dial(&mut m, "c7");
    let mut preview = local(20000);
    preview.direction = Direction::RecvOnly;
    let early = crate::call::sdp::answer(&build_offer(&local(10000)), &preview)
        .unwrap()
        .0;
    let a = m.handle(Event::Progress {
        call: "c7".into(),
        early_sdp: Some(early),
    });
    let media = a.iter().find_map(|a| match a {
        Action::StartMedia { media, .. } => Some(media.clone()),
        _ => None,
    });
    assert_eq!(media.unwrap().video.unwrap().rtp.direction, Direction::SendOnly);
}

#[test]
fn second_caller_gets_busy() {
    let mut m = CallMachine::new();
    incoming(&mut m, "c8", peer(Some("Door")));
    let mut other = peer(Some("Garage"));
    other.ip = "127.0.0.3".parse().unwrap();
    let a = incoming(&mut m, "c9", other);
    assert_eq!(
        a,
        vec![Action::Reject {
            call: "c9".into(),
            status: 486
        }]
    );
    assert!(matches!(m.state(), State::Incoming { call, .. } if call == "c8"));
}

#[test]
fn decline_sends_603() {
    let mut m = CallMachine::new();
    incoming(&mut m, "c10", peer(Some("Door")));
    let a = m.handle(Event::Hangup);
    assert!(has(&a, |a| matches!(a, Action::Reject { status: 603, .. })));
    assert_eq!(m.state(), &State::Idle);
}

#[test]
fn cancel_while_ringing_and_late_200_gets_bye() {
    let mut m = CallMachine::new();
    dial(&mut m, "c11");
    m.handle(Event::Progress {
        call: "c11".into(),
        early_sdp: None,
    });
    let a = m.handle(Event::Hangup);
    assert!(has(&a, |a| matches!(a, Action::Cancel { .. })));
    assert_eq!(m.state(), &State::Idle);
    // The callee answered before our CANCEL arrived.
    let a = m.handle(Event::Answered {
        call: "c11".into(),
        answer_sdp: callee_answer(),
    });
    assert_eq!(a, vec![Action::Bye { call: "c11".into() }]);
    // The 487 for the cancelled INVITE changes nothing.
    assert!(m
        .handle(Event::Failed {
            call: "c11".into(),
            status: Some(487),
            reason: String::new()
        })
        .is_empty());
}

#[test]
fn caller_cancelling_stops_the_ringing() {
    let mut m = CallMachine::new();
    incoming(&mut m, "c12", peer(Some("Door")));
    let a = m.handle(Event::RemoteCancelled {
        call: "c12".into(),
        elsewhere: false,
    });
    assert!(has(&a, |a| matches!(a, Action::StopMedia { .. })));
    assert_eq!(m.state(), &State::Idle);
}

#[test]
fn a_call_answered_elsewhere_is_said_so_and_not_missed() {
    let mut m = CallMachine::new();
    incoming(&mut m, "c12e", peer(Some("Door")));
    let a = m.handle(Event::RemoteCancelled {
        call: "c12e".into(),
        elsewhere: true,
    });
    assert!(has(&a, |a| matches!(a, Action::StopMedia { .. })));
    assert!(has(
        &a,
        |a| matches!(a, Action::Tell(t) if t == "Door's call was answered elsewhere")
    ));
    assert!(!has(&a, |a| matches!(a, Action::Missed(_))));
    assert_eq!(m.state(), &State::Idle);
}

#[test]
fn bye_during_setup_ends_the_call() {
    let mut m = CallMachine::new();
    let mut p = peer(Some("Door"));
    p.auto_answer = true;
    incoming(&mut m, "c13", p);
    // BYE before our 200 was ACKed.
    let a = m.handle(Event::RemoteEnded { call: "c13".into() });
    assert!(has(&a, |a| matches!(a, Action::StopMedia { .. })));
    assert_eq!(m.state(), &State::Idle);
}

#[test]
fn glare_keeps_the_smaller_call_id_on_both_sides() {
    // Station X calls with "a-call", station Y calls with "b-call" at the same moment.
    let mut x = CallMachine::new();
    let mut y = CallMachine::new();
    dial(&mut x, "a-call");
    dial(&mut y, "b-call");
    // X receives Y's INVITE: Y's Call-ID is larger, X keeps its own and says busy.
    let ax = incoming(&mut x, "b-call", peer(Some("Door")));
    assert_eq!(
        ax,
        vec![Action::Reject {
            call: "b-call".into(),
            status: 486
        }]
    );
    // Y receives X's INVITE: X's is smaller, Y drops its own and answers X's at once.
    let ay = incoming(&mut y, "a-call", peer(Some("Door")));
    assert!(has(&ay, |a| matches!(a, Action::Cancel { call } if call == "b-call")));
    assert!(has(
        &ay,
        |a| matches!(a, Action::Accept { call, .. } if call == "a-call")
    ));
    assert!(matches!(y.state(), State::Active { call, .. } if call == "a-call"));
    // Y's own INVITE then fails at X with 486; Y is unaffected.
    assert!(y
        .handle(Event::Failed {
            call: "b-call".into(),
            status: Some(486),
            reason: String::new()
        })
        .is_empty());
}

#[test]
fn failures_are_told_in_plain_words() {
    for (status, words) in [
        (Some(486), "busy"),
        (Some(603), "declined"),
        (Some(403), "does not accept"),
        (Some(480), "did not answer"),
        (None, "unreachable"),
    ] {
        let mut m = CallMachine::new();
        dial(&mut m, "c14");
        let a = m.handle(Event::Failed {
            call: "c14".into(),
            status,
            reason: "no response".into(),
        });
        assert!(
            has(&a, |a| matches!(a, Action::Tell(t) if t.contains(words))),
            "{status:?}: {a:?}"
        );
        assert_eq!(m.state(), &State::Idle);
    }
}

#[test]
fn bad_offers_are_refused_with_the_sdp_status() {
    let mut m = CallMachine::new();
    let a = m.handle(Event::Incoming {
        call: "c15".into(),
        peer: peer(Some("Door")),
        offer: "garbage".into(),
        local: local(20000),
        allow_unknown: false,
    });
    assert!(has(&a, |a| matches!(a, Action::Reject { status: 400, .. })));
    assert_eq!(m.state(), &State::Idle);
}

#[test]
fn media_timeout_hangs_up() {
    let mut m = CallMachine::new();
    dial(&mut m, "c16");
    m.handle(Event::Answered {
        call: "c16".into(),
        answer_sdp: callee_answer(),
    });
    let a = m.handle(Event::MediaTimeout { call: "c16".into() });
    assert!(has(&a, |a| matches!(a, Action::Bye { .. })));
    assert!(has(
        &a,
        |a| matches!(a, Action::Tell(t) if t.contains("lost the connection"))
    ));
    assert_eq!(m.state(), &State::Idle);
}

#[test]
fn stale_events_for_other_calls_are_ignored() {
    let mut m = CallMachine::new();
    dial(&mut m, "c17");
    assert!(m.handle(Event::RemoteEnded { call: "old".into() }).is_empty());
    assert!(m
        .handle(Event::Failed {
            call: "old".into(),
            status: Some(486),
            reason: String::new()
        })
        .is_empty());
    assert!(matches!(m.state(), State::Outgoing { .. }));
}

#[test]
fn unanswered_ringing_ends_as_missed() {
    let mut m = CallMachine::new();
    incoming(&mut m, "c20", peer(Some("Door")));
    assert!(m.handle(Event::RingTimeout { call: "other".into() }).is_empty());
    let a = m.handle(Event::RingTimeout { call: "c20".into() });
    assert!(has(&a, |a| matches!(a, Action::Reject { status: 480, .. })));
    assert!(has(&a, |a| matches!(a, Action::Missed(who) if who == "Door")));
    assert_eq!(m.state(), &State::Idle);
}

#[test]
fn a_missing_ack_is_not_told_as_a_hang_up() {
    let mut m = CallMachine::new();
    let mut p = peer(Some("Door"));
    p.auto_answer = true;
    incoming(&mut m, "c21", p);
    let a = m.handle(Event::AckTimeout { call: "c21".into() });
    assert!(has(
        &a,
        |a| matches!(a, Action::Tell(t) if t.contains("never confirmed"))
    ));
    assert!(!has(
        &a,
        |a| matches!(a, Action::Tell(t) if t.contains("ended by the other side"))
    ));
}

#[test]
fn a_failure_status_is_told_once() {
    let mut m = CallMachine::new();
    dial(&mut m, "c22");
    let a = m.handle(Event::Failed {
        call: "c22".into(),
        status: Some(503),
        reason: "Service Unavailable".into(),
    });
    assert!(has(
        &a,
        |a| matches!(a, Action::Tell(t) if t == "call to Door failed: 503 Service Unavailable")
    ));
}

#[test]
fn a_caller_without_common_video_is_told_why_there_is_no_picture() {
    let mut m = CallMachine::new();
    let mut p = peer(Some("Door"));
    p.auto_answer = true;
    let audio_only_video_vp8 = "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n\
        m=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\n";
    let a = m.handle(Event::Incoming {
        call: "c23".into(),
        peer: p,
        offer: audio_only_video_vp8.into(),
        local: local(20000),
        allow_unknown: false,
    });
    assert!(has(&a, |a| matches!(a, Action::Accept { .. })));
    assert!(has(
        &a,
        |a| matches!(a, Action::Tell(t) if t.contains("no picture from Door"))
    ));
}

mod update;
