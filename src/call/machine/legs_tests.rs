//! Calls with several legs: ring groups and calls of up to four stations.

use super::tests::local;
use super::*;
use crate::call::sdp::{build_offer, Direction};

fn member(name: &str, n: u8) -> PeerInfo {
    PeerInfo {
        contact: Some(name.into()),
        uri: format!("sip:{}@127.0.0.{n}:5060", name.to_lowercase()),
        ip: format!("127.0.0.{n}").parse().unwrap(),
        auto_answer: false,
        preview: false,
        secure: false,
    }
}

fn answer_sdp() -> String {
    crate::call::sdp::answer(&build_offer(&local(10000)), &local(20000))
        .unwrap()
        .0
}

fn ring_everyone(m: &mut CallMachine) -> Vec<Action> {
    let members = ["Kitchen", "Office", "Upstairs"]
        .iter()
        .enumerate()
        .map(|(i, name)| (format!("g{i}"), member(name, i as u8 + 2), local(10000 + 10 * i as u16)))
        .collect();
    m.handle(Event::DialGroup {
        group: "Everyone".into(),
        members,
    })
}

fn answered(m: &mut CallMachine, call: &str) -> Vec<Action> {
    m.handle(Event::Answered {
        call: call.into(),
        answer_sdp: answer_sdp(),
    })
}

fn failed(m: &mut CallMachine, call: &str, status: Option<u16>) -> Vec<Action> {
    m.handle(Event::Failed {
        call: call.into(),
        status,
        reason: "Request Timeout".into(),
    })
}

#[test]
fn a_group_rings_every_member_and_the_first_answer_cancels_the_others_as_elsewhere() {
    let mut m = CallMachine::new();
    let a = ring_everyone(&mut m);
    let invites: Vec<_> = a
        .iter()
        .filter_map(|a| match a {
            Action::SendInvite { call, .. } => Some(call.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(invites, ["g0", "g1", "g2"]);
    assert_eq!(m.group(), Some("Everyone"));
    assert_eq!(m.legs().len(), 3);
    // Members ring; one shows our picture early (its door preview): not while three ring.
    let early = crate::call::sdp::answer(
        &build_offer(&local(10010)),
        &LocalMedia {
            direction: Direction::RecvOnly,
            ..local(20000)
        },
    )
    .unwrap()
    .0;
    let a = m.handle(Event::Progress {
        call: "g1".into(),
        early_sdp: Some(early),
    });
    assert!(!a.iter().any(|a| matches!(a, Action::StartMedia { .. })), "{a:?}");

    let a = answered(&mut m, "g1");
    assert!(a
        .iter()
        .any(|a| matches!(a, Action::StartMedia { call, .. } if call == "g1")));
    let cancelled: Vec<_> = a
        .iter()
        .filter_map(|a| match a {
            Action::CancelElsewhere { call } => Some(call.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(cancelled, ["g0", "g2"]);
    assert!(!a.iter().any(|a| matches!(a, Action::Cancel { .. })));
    assert_eq!(m.group(), None);
    assert_eq!(m.legs().len(), 1);
    assert!(matches!(m.state(), State::Active { call, .. } if call == "g1"));

    // A member that answered in the same moment is ended with BYE.
    let a = answered(&mut m, "g2");
    assert_eq!(a, vec![Action::Bye { call: "g2".into() }]);
    // Its refusal, too late, changes nothing.
    assert!(failed(&mut m, "g0", Some(487)).is_empty());
    assert!(matches!(m.state(), State::Active { call, .. } if call == "g1"));
}

#[test]
fn when_every_member_fails_the_caller_hears_why_once() {
    let mut m = CallMachine::new();
    ring_everyone(&mut m);
    let a = failed(&mut m, "g0", Some(486));
    assert!(!a.iter().any(|a| matches!(a, Action::Tell(_))), "{a:?}");
    let a = failed(&mut m, "g2", Some(603));
    assert!(!a.iter().any(|a| matches!(a, Action::Tell(_))), "{a:?}");
    assert_eq!(m.legs().len(), 1);
    let a = failed(&mut m, "g1", None);
    let told: Vec<_> = a
        .iter()
        .filter_map(|a| match a {
            Action::Tell(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    let t = &told[0];
    assert!(t.starts_with("nobody in Everyone took the call"), "{t}");
    assert!(
        t.contains("Kitchen is busy") && t.contains("Upstairs declined") && t.contains("Office is unreachable"),
        "{t}"
    );
    assert_eq!(m.state(), &State::Idle);
    assert_eq!(m.group(), None);
}

#[test]
fn hanging_up_a_ringing_group_cancels_every_member() {
    let mut m = CallMachine::new();
    ring_everyone(&mut m);
    let a = m.handle(Event::Hangup);
    let cancelled = a.iter().filter(|a| matches!(a, Action::Cancel { .. })).count();
    assert_eq!(cancelled, 3);
    assert_eq!(m.state(), &State::Idle);
    assert_eq!(m.group(), None);
}

#[test]
fn a_call_grows_to_four_stations_and_goes_on_when_one_leaves() {
    let mut m = CallMachine::new();
    for (i, name) in ["Kitchen", "Office", "Upstairs"].iter().enumerate() {
        let call = format!("c{i}");
        let a = m.handle(Event::Dial {
            call: call.clone(),
            peer: member(name, i as u8 + 2),
            local: local(10000 + 10 * i as u16),
        });
        assert!(
            a.iter().any(|a| matches!(a, Action::SendInvite { .. })),
            "{name}: {a:?}"
        );
        answered(&mut m, &call);
    }
    assert_eq!(m.legs().len(), 3);
    assert!(m.legs().iter().all(|l| matches!(l, State::Active { .. })));
    // A fifth station does not fit.
    let a = m.handle(Event::Dial {
        call: "c9".into(),
        peer: member("Garage", 9),
        local: local(10090),
    });
    assert_eq!(a, vec![Action::Tell("a call holds at most 4 stations".into())]);
    // Someone calling in meanwhile hears busy.
    let a = m.handle(Event::Incoming {
        call: "in".into(),
        peer: member("Garage", 9),
        offer: build_offer(&local(30000)),
        local: local(10100),
        allow_unknown: false,
    });
    assert_eq!(
        a,
        vec![Action::Reject {
            call: "in".into(),
            status: 486
        }]
    );

    // Office leaves: the others go on.
    let a = m.handle(Event::RemoteEnded { call: "c1".into() });
    assert!(a.contains(&Action::StopMedia { call: "c1".into() }));
    assert!(a.contains(&Action::Tell("Office left the call".into())));
    assert_eq!(m.legs().len(), 2);
    // Hanging up here ends it for everyone.
    let a = m.handle(Event::Hangup);
    let byes: Vec<_> = a
        .iter()
        .filter_map(|a| match a {
            Action::Bye { call } => Some(call.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(byes, ["c0", "c2"]);
    assert_eq!(m.state(), &State::Idle);
}

#[test]
fn nobody_is_added_while_a_call_still_rings() {
    let mut m = CallMachine::new();
    m.handle(Event::Dial {
        call: "c0".into(),
        peer: member("Kitchen", 2),
        local: local(10000),
    });
    let a = m.handle(Event::Dial {
        call: "c1".into(),
        peer: member("Office", 3),
        local: local(10010),
    });
    assert_eq!(a, vec![Action::Tell("already in a call; hang up first".into())]);
    assert_eq!(m.legs().len(), 1);
}
