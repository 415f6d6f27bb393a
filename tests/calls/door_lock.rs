//! The door lock: an indoor station asks the door station in its call to open (a DTMF
//! digit, RFC 4733, on the call's audio), the door station drives its USB relay board's
//! serial port (a pseudo-terminal here, read by the test as the board would), both
//! screens say so; a digit in a call that is not encrypted opens nothing unless the
//! door station allows it; a contact not allowed to open is ignored; baresip's digit
//! opens it when baresip is allowed.

use crate::common;
use crate::common::baresip::Baresip;
use crate::common::{active, idle, Station, SERIAL};
use doorway::api::loopback as demo;
use doorway::api::Opener;
use doorway::config::{Config, DoorConfig};
use doorway::station::Command;
use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CLOSE: [u8; 4] = [0xA0, 0x01, 0x01, 0xA2];
const OPEN: [u8; 4] = [0xA0, 0x01, 0x00, 0xA1];

/// A USB relay board as the test sees it: the far end of a pseudo-terminal whose tty
/// the station opens as the board's serial port. Each 4-byte command arrives with its time.
struct Board {
    tty: String,
    commands: mpsc::Receiver<([u8; 4], Instant)>,
    _master: std::sync::Arc<std::fs::File>,
    _tty: std::fs::File,
}

impl Board {
    fn new() -> Board {
        use std::os::fd::FromRawFd;
        let (mut master, mut slave) = (0, 0);
        let mut name = [0 as libc::c_char; 128];
        // SAFETY: openpty fills two descriptors and a NUL-terminated name.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                name.as_mut_ptr(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0);
        // The tty end stays open here too: with no tty end open, reading the master fails
        // (EIO) until the station opens it. SAFETY: the descriptor is ours.
        let slave = unsafe { std::fs::File::from_raw_fd(slave) };
        let tty = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        let master = std::sync::Arc::new(unsafe { std::fs::File::from_raw_fd(master) });
        let (tx, commands) = mpsc::channel();
        let reader = master.clone();
        std::thread::spawn(move || {
            let mut command = [0u8; 4];
            while (&*reader).read_exact(&mut command).is_ok() {
                if tx.send((command, Instant::now())).is_err() {
                    return;
                }
            }
        });
        Board {
            tty,
            commands,
            _master: master,
            _tty: slave,
        }
    }

    fn next(&self, secs: u64) -> Option<([u8; 4], Instant)> {
        self.commands.recv_timeout(Duration::from_secs(secs)).ok()
    }
}

fn door_config(port: u16, contacts: Vec<doorway::config::Contact>, board: &Board) -> Config {
    let mut door = demo::loopback_config("Door", port, contacts);
    door.door = DoorConfig {
        relay: Some("usb".into()),
        device: Some(board.tty.clone()),
        open_seconds: 1.0,
        ..Default::default()
    };
    door
}

async fn open_door(s: &Station) -> Result<String, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    s.send(Command::OpenDoor(Opener::Console, tx));
    rx.await.expect("the station answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hall_opens_the_door_that_rang_and_a_contact_not_allowed_cannot() {
    let _serial = SERIAL.lock().await;
    let board = Board::new();
    let (pd, ph, pg) = (demo::free_sip_port(), demo::free_sip_port(), demo::free_sip_port());
    let mut hall_contact = demo::contact("Hall", ph);
    hall_contact.may_open_door = true;
    let garden_contact = demo::contact("Garden", pg);
    let door = Station::start(door_config(pd, vec![hall_contact, garden_contact], &board)).await;
    let hall = Station::start(demo::loopback_config("Hall", ph, vec![demo::contact("Door", pd)])).await;
    let garden = Station::start(demo::loopback_config("Garden", pg, vec![demo::contact("Door", pd)])).await;

    // The doorbell: Door calls Hall, Hall answers; they hear each other.
    door.handle.call("Hall").await.unwrap().unwrap();
    hall.wait(10, common::ringing).await;
    hall.send(Command::Answer);
    let door_status = door
        .wait(15, |s| {
            active(s) && s.media.as_ref().is_some_and(|m| m.packets_received > 50)
        })
        .await;
    assert!(door_status.door.as_ref().is_some_and(|d| d.openings == 0 && !d.open));
    hall.wait(10, active).await;

    // The call is not encrypted (they are not paired): a digit in it could be forged by
    // anyone on the LAN, so it opens nothing, and Door's screen says why.
    assert_eq!(open_door(&hall).await.unwrap(), "Asked Door to open the door");
    door.wait(5, |s| {
        s.last_message.as_deref().is_some_and(|m| m.contains("not encrypted"))
    })
    .await;
    assert_eq!(board.next(2), None, "a plain call's digit opened the door");
    // With [door] open_from_plain_calls (applied while running, as from the web page):
    let mut config = door.config.clone();
    config.door.open_from_plain_calls = true;
    let (tx, rx) = tokio::sync::oneshot::channel();
    door.send(Command::ApplyConfig(Box::new(config), tx));
    rx.await.unwrap();

    // Hall's "Open door": the digit goes to Door, which closes the relay for 1 s.
    let asked = open_door(&hall).await.expect("Hall asks Door");
    assert_eq!(asked, "Asked Door to open the door");
    let (first, closed_at) = board.next(5).expect("the board gets a command");
    assert_eq!(first, CLOSE);
    let (second, opened_at) = board.next(5).expect("the board gets the second command");
    assert_eq!(second, OPEN);
    let held = opened_at - closed_at;
    assert!(
        held >= Duration::from_millis(950) && held < Duration::from_millis(2500),
        "held {held:?}"
    );
    let door_status = door.wait(5, |s| s.door.as_ref().is_some_and(|d| d.openings == 1)).await;
    let lock = door_status.door.unwrap();
    assert_eq!(lock.last_opened_by.as_deref(), Some("Hall"));
    assert!(!lock.open);
    assert!(door_status.last_message.is_some());
    door.wait(5, |s| s.last_message.as_deref() == Some("Door opened by Hall"))
        .await;
    // Hall's screen says it too: Door tells it in the call.
    hall.wait(5, |s| {
        s.messages
            .iter()
            .any(|m| m.incoming && m.peer == "Door" && m.text == "Door opened")
    })
    .await;
    hall.send(Command::Hangup);
    door.wait(10, idle).await;

    // Garden is a contact of Door but may not open it: its digit is ignored.
    garden.handle.call("Door").await.unwrap().unwrap();
    door.wait(10, common::ringing).await;
    door.send(Command::Answer);
    garden
        .wait(15, |s| {
            active(s) && s.media.as_ref().is_some_and(|m| m.packets_received > 50)
        })
        .await;
    assert_eq!(open_door(&garden).await.unwrap(), "Asked Door to open the door");
    assert_eq!(board.next(3), None, "the relay was not touched");
    let door_status = door.status().await;
    assert_eq!(door_status.door.unwrap().openings, 1);
    garden.send(Command::Hangup);
    door.wait(10, idle).await;

    // Door's own "Open door" (its web page, a key, the console) opens its lock at once.
    assert_eq!(open_door(&door).await.unwrap(), "Door opened");
    assert_eq!(board.next(3).map(|c| c.0), Some(CLOSE));
    assert_eq!(board.next(3).map(|c| c.0), Some(OPEN));
    // Without a call, a station without a lock has no one to ask.
    assert!(open_door(&hall).await.unwrap_err().contains("no door lock here"));

    // In a call of three that Door hosts, Hall's digit opens the door as well.
    door.handle.call("Hall").await.unwrap().unwrap();
    hall.wait(10, common::ringing).await;
    hall.send(Command::Answer);
    door.wait(15, active).await;
    door.handle.call("Garden").await.unwrap().unwrap();
    garden.wait(10, common::ringing).await;
    garden.send(Command::Answer);
    let hosting = |s: &doorway::station::Status| {
        s.conference
            .as_ref()
            .is_some_and(|c| c.packets_received.len() == 2 && c.packets_received.iter().all(|p| *p > 50))
    };
    let s = door.wait(20, hosting).await;
    assert!(hosting(&s), "{:?} {:?}", s.legs, s.conference);
    assert_eq!(open_door(&hall).await.unwrap(), "Asked Door to open the door");
    assert_eq!(
        board.next(5).map(|c| c.0),
        Some(CLOSE),
        "a hosted leg's digit opens the door"
    );
    assert_eq!(board.next(5).map(|c| c.0), Some(OPEN));
    door.wait(5, |s| {
        s.door
            .as_ref()
            .is_some_and(|d| d.last_opened_by.as_deref() == Some("Hall"))
    })
    .await;
    door.send(Command::Hangup);
    door.wait(10, idle).await;
    for s in [door, hall, garden] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_relay_board_is_said_on_the_screen_and_the_next_opening_works() {
    let _serial = SERIAL.lock().await;
    let mut config = demo::loopback_config("Door", demo::free_sip_port(), vec![]);
    config.door = DoorConfig {
        relay: Some("usb".into()),
        device: Some("/dev/ttyUSB-unplugged".into()),
        ..Default::default()
    };
    let door = Station::start(config).await;
    let e = open_door(&door).await.unwrap_err();
    assert!(e.contains("/dev/ttyUSB-unplugged is missing"), "{e}");
    let status = door.status().await;
    assert!(status.last_message.unwrap().starts_with("The door did not open:"));
    assert!(status.door.unwrap().problem.unwrap().contains("missing"));
    door.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_sip_phones_digit_opens_the_door_when_it_may() {
    let _serial = SERIAL.lock().await;
    let board = Board::new();
    let baresip = Baresip::start();
    let mut contact = demo::contact("Phone", baresip.sip_port);
    contact.uri = format!("sip:baresip@127.0.0.1:{}", baresip.sip_port);
    contact.may_open_door = true;
    let mut config = door_config(demo::free_sip_port(), vec![contact], &board);
    // A plain SIP phone over UDP: its digits count only by this choice.
    config.door.open_from_plain_calls = true;
    let door = Station::start(config).await;
    // Door calls the phone (baresip answers by itself), the phone presses #.
    door.handle.call("Phone").await.unwrap().unwrap();
    door.wait(15, |s| {
        active(s) && s.media.as_ref().is_some_and(|m| m.packets_received > 50)
    })
    .await;
    let reply = baresip.command("sndcode", "#");
    assert!(!reply.is_empty(), "baresip took the command");
    let Some((first, _)) = board.next(5) else {
        let audio = door
            .status()
            .await
            .media
            .and_then(|m| m.negotiated)
            .and_then(|n| n.audio);
        panic!("no relay command; audio {audio:?}; baresip:\n{}", baresip.log())
    };
    assert_eq!(first, CLOSE);
    assert_eq!(board.next(5).map(|c| c.0), Some(OPEN));
    let status = door.status().await;
    assert_eq!(status.door.unwrap().last_opened_by.as_deref(), Some("Phone"));
    door.send(Command::Hangup);
    door.stop().await;
}
