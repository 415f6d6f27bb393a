//! Scenario 2's door opening: in a call, the hall touches "Open door", and the door's
//! relay board closes and opens again; each step between the touch and the relay is
//! looked for in both stations' logs, so a failure says where it stopped.

use super::station::{Pair, Station};
use super::{replies, shows_message};
use doorway::ui::{Screen, UiAction};
use std::time::Instant;

/// In the call, the hall touches "Open door": the digit goes to the door over SRTP, and
/// the door's relay board (QEMU's USB-serial adapter, through the guest's ftdi_sio
/// driver) gets the close command, then the open command 2 s later. Both screens say so.
pub fn open_the_door_from_the_hall(pair: &mut Pair) {
    // The board is on the door's USB bus from boot: its tty is there before anyone rings.
    pair.door.wait_for_device(30.0, "/dev/ttyUSB0");
    let mut board = pair.door.guest.relay_board();
    let shot = pair.hall.guest.screenshot("before-open-door");
    let screen = Screen::InCall {
        peer: "Door".into(),
        seconds: 0,
        on_hold: false,
        door_open: true,
        replies: replies(),
        can_add: false,
    };
    pair.hall.touch_button(&shot, &screen, UiAction::DoorOpen);
    let touched = Instant::now();
    let commands = board.commands(2, std::time::Duration::from_secs(30));
    if commands.len() < 2 {
        panic!(
            "the relay board got {commands:?} within 30 s of the touch; on the way:\n{}",
            door_opening_steps(pair)
        );
    }
    println!(
        "open door touched on the hall; on the way: {}",
        door_opening_steps(pair).replace('\n', "; ")
    );
    assert_eq!(commands[0].0, [0xA0, 0x01, 0x01, 0xA2], "close relay 1");
    assert_eq!(commands[1].0, [0xA0, 0x01, 0x00, 0xA1], "open relay 1");
    let held = commands[1].1.duration_since(commands[0].1).as_secs_f64();
    println!(
        "relay closed {:.2} s after the touch (as this machine saw it), held {held:.2} s",
        commands[0].1.duration_since(touched).as_secs_f64()
    );
    assert!((1.8..4.0).contains(&held), "held for {held:.2} s, not 2 s");
    // Hall's banner first: it shows for 15 s, and each status read below takes seconds
    // in an emulated machine.
    pair.hall.wait_screen(10.0, "door opened message", shows_message);
    let door = pair.door.wait_until(5.0, "door opened", |s| s["door"]["openings"] == 1);
    assert_eq!(door["door"]["last_opened_by"], "Hall");
    assert_eq!(door["door"]["relay"], "USB relay 1 on /dev/ttyUSB0");
    pair.door
        .wait_until(5.0, "says who opened", |s| s["last_message"] == "Door opened by Hall");
    pair.hall.wait_until(10.0, "told the door opened", |s| {
        s["messages"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["text"] == "Door opened"))
    });
}

/// What the stations logged between the hall's touch on "Open door" and the door's
/// relay, step by step, each with its time after the touch: where a failed opening
/// stopped, and the ends of both logs.
fn door_opening_steps(pair: &Pair) -> String {
    let touched = pair.hall.logged(&["touch", "button=Some(DoorOpen)"], 0.0);
    let Some(touched) = touched else {
        return format!(
            "the hall saw no touch on its Open door button\n{}",
            pair.hall.guest.last_words()
        );
    };
    let steps: [(&Station, &str, &[&str]); 3] = [
        (
            &pair.hall,
            "the hall sent the door-opening digit",
            &["asked the other station to open its door"],
        ),
        (&pair.door, "the digit reached the door", &["DTMF digit received"]),
        (&pair.door, "the door drove its relay", &["door opened"]),
    ];
    let mut lines = vec!["the hall saw the touch on Open door: yes".to_string()];
    for (station, what, words) in steps {
        let seen = station.logged(words, touched - 0.5).map_or("no".to_string(), |at| {
            format!("yes, {:.2} s after the touch", at - touched)
        });
        lines.push(format!("{what}: {seen}"));
    }
    if let Some(at) = pair.door.logged(&["the door could not be opened"], touched - 0.5) {
        lines.push(format!(
            "the door could not drive its relay, {:.2} s after the touch",
            at - touched
        ));
    }
    if lines.iter().any(|l| l.ends_with(": no") || l.contains("could not")) {
        lines.push(pair.hall.guest.last_words());
        lines.push(pair.door.guest.last_words());
    }
    lines.join("\n")
}
