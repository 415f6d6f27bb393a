//! Changing an established call between two stations: hold and resume by re-INVITE,
//! and both sides re-offering at once (glare, 491 and a retry).

use crate::common::*;
use doorway::station::{Command, Status};
use std::time::Duration;

async fn in_a_call() -> (Station, Station) {
    let (a, b) = pair(|_, door| door.auto_answer = true).await;
    a.handle.call("Hall").await.unwrap().unwrap();
    let sb = b.wait(15, |s| active(s) && decoded(s) >= 20).await;
    assert!(active(&sb), "{:?}", sb.last_message);
    a.wait(10, |s| decoded(s) >= 20).await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_outlasts_the_media_timeout_and_resume_brings_the_picture_back() {
    let _serial = SERIAL.lock().await;
    let (a, b) = in_a_call().await;
    a.send(Command::Hold);
    let inactive = Some(doorway::call::sdp::Direction::Inactive);
    let sa = a
        .wait(5, |s| holds(s) == Some((false, true)) && video_direction(s) == inactive)
        .await;
    assert_eq!(video_direction(&sa), inactive);
    let sb = b.wait(5, |s| holds(s) == Some((true, false))).await;
    assert!(sb.last_message.unwrap_or_default().contains("on hold"));
    // Longer than the media timeout (5 s): nobody sends, the call stays.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let (sa, sb) = (a.status().await, b.status().await);
    assert!(
        active(&sa) && active(&sb),
        "{:?} / {:?}",
        sa.last_message,
        sb.last_message
    );
    let frozen = decoded(&sb);
    a.send(Command::Resume);
    let sb = b
        .wait(10, |s| holds(s) == Some((false, false)) && decoded(s) >= frozen + 30)
        .await;
    assert!(decoded(&sb) >= frozen + 30, "no pictures after the resume");
    let sa = a.wait(10, |s| holds(s) == Some((false, false))).await;
    assert_eq!(video_direction(&sa), Some(doorway::call::sdp::Direction::SendRecv));
    a.send(Command::Hangup);
    b.wait(5, idle).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_holding_at_once_settles_after_a_491() {
    let _serial = SERIAL.lock().await;
    let (a, b) = in_a_call().await;
    // Both re-INVITE at the same moment: each answers the other's with 491 and retries
    // after RFC 3261's random wait (2.1 to 4 s).
    a.send(Command::Hold);
    b.send(Command::Hold);
    let both_held = |s: &Status| holds(s) == Some((true, true));
    let (sa, sb) = (a.wait(15, both_held).await, b.wait(15, both_held).await);
    assert!(both_held(&sa) && both_held(&sb), "{:?} / {:?}", sa.call, sb.call);
    assert!(active(&sa) && active(&sb));
    a.send(Command::Hangup);
    b.wait(5, idle).await;
    a.stop().await;
    b.stop().await;
}
