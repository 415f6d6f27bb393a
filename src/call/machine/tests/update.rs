//! Re-INVITE, UPDATE, hold and resume in an established call.

use super::*;
use crate::call::sdp::Negotiated;

/// An established call we placed: Door (us, ports 10000) with the callee at 20000.
fn established() -> CallMachine {
    let mut m = CallMachine::new();
    dial(&mut m, "c1");
    m.handle(Event::Answered {
        call: "c1".into(),
        answer_sdp: callee_answer(),
    });
    assert!(matches!(m.state(), State::Active { .. }));
    m
}

/// The callee's re-offer with `direction`, version `version`, video on `video_port`.
fn reoffer(direction: Direction, version: u64, video_port: u16) -> String {
    let mut callee = local(20000);
    (callee.direction, callee.version, callee.video_port) = (direction, version, video_port);
    build_offer(&callee)
}

fn held(m: &CallMachine) -> (bool, bool) {
    match m.state() {
        State::Active {
            held_by_peer,
            held_by_us,
            ..
        } => (*held_by_peer, *held_by_us),
        s => panic!("not in a call: {s:?}"),
    }
}

fn respond_status(a: &[Action]) -> Option<(u16, Option<String>)> {
    a.iter().find_map(|a| match a {
        Action::RespondOffer { status, sdp, .. } => Some((*status, sdp.clone())),
        _ => None,
    })
}

fn started(a: &[Action]) -> Option<Negotiated> {
    a.iter().find_map(|a| match a {
        Action::StartMedia { media, .. } => Some(media.clone()),
        _ => None,
    })
}

#[test]
fn the_peer_holds_and_resumes() {
    let mut m = established();
    let a = m.handle(Event::RemoteOffer {
        call: "c1".into(),
        offer: Some(reoffer(Direction::SendOnly, 2, 20000)),
    });
    let (status, sdp) = respond_status(&a).unwrap();
    assert_eq!(status, 200);
    assert!(sdp.unwrap().contains("a=recvonly"));
    assert!(has(
        &a,
        |a| matches!(a, Action::Tell(t) if t.contains("put the call on hold"))
    ));
    let media = started(&a).unwrap();
    assert_eq!(media.video.unwrap().rtp.direction, Direction::RecvOnly);
    assert_eq!(held(&m), (true, false));

    let a = m.handle(Event::RemoteOffer {
        call: "c1".into(),
        offer: Some(reoffer(Direction::SendRecv, 3, 20000)),
    });
    assert_eq!(respond_status(&a).unwrap().0, 200);
    assert!(has(&a, |a| matches!(a, Action::Tell(t) if t.contains("off hold"))));
    assert_eq!(started(&a).unwrap().video.unwrap().rtp.direction, Direction::SendRecv);
    assert_eq!(held(&m), (false, false));
}

#[test]
fn a_new_address_or_port_moves_the_media() {
    let mut m = established();
    let a = m.handle(Event::RemoteOffer {
        call: "c1".into(),
        offer: Some(reoffer(Direction::SendRecv, 2, 20400)),
    });
    let video = started(&a).unwrap().video.unwrap();
    assert_eq!(video.rtp.remote_rtp.port(), 20400);
    // Our answer keeps our own ports.
    assert!(respond_status(&a).unwrap().1.unwrap().contains("m=video 10000 "));
}

#[test]
fn a_reinvite_without_sdp_gets_our_description_and_an_unchanged_one_keeps_its_version() {
    let mut m = established();
    let a = m.handle(Event::RemoteOffer {
        call: "c1".into(),
        offer: None,
    });
    let (status, sdp) = respond_status(&a).unwrap();
    assert_eq!(status, 200);
    assert_eq!(sdp.unwrap(), build_offer(&local(10000)));
    assert!(started(&a).is_none());
}

#[test]
fn an_unusable_reoffer_is_refused_and_the_call_goes_on() {
    let mut m = established();
    let a = m.handle(Event::RemoteOffer {
        call: "c1".into(),
        offer: Some("garbage".into()),
    });
    assert_eq!(respond_status(&a).unwrap().0, 400);
    assert!(started(&a).is_none());
    assert!(matches!(m.state(), State::Active { .. }));
    let a = m.handle(Event::RemoteOffer {
        call: "other".into(),
        offer: None,
    });
    assert_eq!(respond_status(&a).unwrap().0, 481);
}

#[test]
fn we_hold_and_resume_and_glare_gets_491() {
    let mut m = established();
    let a = m.handle(Event::Hold);
    let offer = a
        .iter()
        .find_map(|a| match a {
            Action::SendReoffer { offer, .. } => Some(offer.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        offer.contains("a=inactive") && offer.contains("o=doorway 7 2 "),
        "{offer}"
    );
    assert_eq!(held(&m), (false, true));
    // Their re-offer while ours is out.
    let a = m.handle(Event::RemoteOffer {
        call: "c1".into(),
        offer: Some(reoffer(Direction::SendRecv, 2, 20000)),
    });
    assert_eq!(respond_status(&a).unwrap().0, 491);
    // Their answer to our hold.
    let (answer, _) = crate::call::sdp::answer(&offer, &local(20000)).unwrap();
    let a = m.handle(Event::OfferAnswered {
        call: "c1".into(),
        answer: Ok(answer),
    });
    let media = started(&a).unwrap();
    assert_eq!(media.video.unwrap().rtp.direction, Direction::Inactive);
    // Their re-offer while we hold: we keep holding.
    let a = m.handle(Event::RemoteOffer {
        call: "c1".into(),
        offer: Some(reoffer(Direction::SendRecv, 3, 20000)),
    });
    assert!(respond_status(&a).unwrap().1.unwrap().contains("a=inactive"));
    let a = m.handle(Event::Resume);
    assert!(has(
        &a,
        |a| matches!(a, Action::SendReoffer { offer, .. } if offer.contains("a=sendrecv"))
    ));
}

#[test]
fn a_refused_hold_leaves_the_call_as_it_was() {
    let mut m = established();
    m.handle(Event::Hold);
    let a = m.handle(Event::OfferAnswered {
        call: "c1".into(),
        answer: Err(488),
    });
    assert!(has(
        &a,
        |a| matches!(a, Action::Tell(t) if t.contains("refused our hold"))
    ));
    assert_eq!(held(&m), (false, false));
    // And a hold can be tried again.
    assert!(has(&m.handle(Event::Hold), |a| matches!(a, Action::SendReoffer { .. })));
}

#[test]
fn a_491_waits_and_offers_again_answering_the_other_side_meanwhile() {
    let mut m = established();
    m.handle(Event::Hold);
    let a = m.handle(Event::OfferAnswered {
        call: "c1".into(),
        answer: Err(491),
    });
    assert!(has(&a, |a| matches!(
        a,
        Action::RetryReofferLater {
            we_placed_the_call: true,
            ..
        }
    )));
    // Still wanted, no longer pending: their offer is answered, with our hold in it.
    assert_eq!(held(&m), (false, true));
    let a = m.handle(Event::RemoteOffer {
        call: "c1".into(),
        offer: Some(reoffer(Direction::SendRecv, 2, 20000)),
    });
    let (status, sdp) = respond_status(&a).unwrap();
    assert_eq!(status, 200);
    assert!(sdp.unwrap().contains("a=inactive"));
    // The wait is over: the hold goes out again.
    let a = m.handle(Event::RetryReoffer { call: "c1".into() });
    assert!(has(
        &a,
        |a| matches!(a, Action::SendReoffer { offer, .. } if offer.contains("a=inactive"))
    ));
}
