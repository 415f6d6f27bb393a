use super::*;

#[test]
fn a_pulse_holds_the_door_for_its_time_and_an_opening_while_open_extends_it() {
    let t0 = Instant::now();
    let hold = Duration::from_secs(5);
    let mut pulse = Pulse::new(hold);
    assert!(!pulse.is_open());
    assert!(pulse.open(t0), "the relay closes on the first opening");
    assert!(!pulse.due(t0 + Duration::from_secs(4)));
    assert!(
        !pulse.open(t0 + Duration::from_secs(4)),
        "already closed: no second command"
    );
    assert_eq!(pulse.deadline(), Some(t0 + Duration::from_secs(9)));
    assert!(
        !pulse.due(t0 + Duration::from_secs(6)),
        "extended from the second opening"
    );
    assert!(pulse.due(t0 + Duration::from_secs(9)));
    assert!(!pulse.due(t0 + Duration::from_secs(10)), "opened once");
    assert!(!pulse.is_open());
}

#[test]
fn the_lock_closes_the_relay_then_opens_it_after_the_hold() {
    let relay = TestRelay::default();
    let lock = DoorLock::start(Box::new(relay.clone()), Duration::from_millis(300));
    let started = Instant::now();
    lock.open("Hall").unwrap();
    assert!(lock.status().open);
    std::thread::sleep(Duration::from_millis(700));
    let commands = relay.commands();
    assert_eq!(commands.iter().map(|c| c.1).collect::<Vec<_>>(), [true, false]);
    let held = commands[1].0 - commands[0].0;
    assert!(held >= Duration::from_millis(300), "held {held:?}");
    assert!(commands[0].0 - started < Duration::from_millis(200));
    let status = lock.status();
    assert!(!status.open);
    assert_eq!((status.openings, status.last_opened_by.as_deref()), (1, Some("Hall")));
}

#[test]
fn a_missing_relay_is_a_clear_error_and_the_next_opening_tries_again() {
    let relay = TestRelay::default();
    relay.set_missing(true);
    let lock = DoorLock::start(Box::new(relay.clone()), Duration::from_millis(100));
    let e = lock.open("web page").unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
    assert!(lock.status().problem.is_some());
    assert!(!lock.status().open);
    relay.set_missing(false);
    lock.open("web page").unwrap();
    assert_eq!(lock.status().problem, None);
}

#[test]
fn stopping_the_station_opens_a_closed_relay() {
    let relay = TestRelay::default();
    let lock = DoorLock::start(Box::new(relay.clone()), Duration::from_secs(60));
    lock.open("key").unwrap();
    drop(lock);
    assert_eq!(relay.commands().iter().map(|c| c.1).collect::<Vec<_>>(), [true, false]);
}

#[test]
fn usb_relay_commands_are_the_boards_four_bytes() {
    assert_eq!(usb::command(1, true), [0xA0, 0x01, 0x01, 0xA2]);
    assert_eq!(usb::command(1, false), [0xA0, 0x01, 0x00, 0xA1]);
    assert_eq!(usb::command(2, true), [0xA0, 0x02, 0x01, 0xA3]);
}

#[test]
fn a_usb_relay_that_is_not_plugged_in_says_so() {
    let mut relay = usb::UsbRelay::new("/dev/ttyUSB-not-here".into(), 1);
    let e = relay.set(true).unwrap_err();
    assert!(matches!(e, DoorError::Missing { .. }), "{e}");
    assert!(e.to_string().contains("/dev/ttyUSB-not-here"));
}

#[test]
fn a_gpio_chip_that_is_not_there_says_so() {
    let mut relay = gpio::GpioRelay::new("/dev/gpiochip-not-here".into(), 17, false);
    let e = relay.set(true).unwrap_err();
    assert!(matches!(e, DoorError::Missing { .. }), "{e}");
    assert_eq!(relay.describe(), "GPIO line 17 on /dev/gpiochip-not-here");
}

/// A pseudo-terminal: the relay writes to its tty end as to a USB-serial adapter's, the
/// test reads the other end as the board would.
fn pty() -> (std::fs::File, String) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: openpty writes two descriptors and a NUL-terminated name into our buffers.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            name.as_mut_ptr(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: both descriptors were just opened for us; the tty end is reopened by path.
    unsafe { libc::close(slave) };
    let path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    (unsafe { std::fs::File::from_raw_fd(master) }, path)
}

#[test]
fn a_usb_relay_board_gets_close_then_open_on_its_tty() {
    use std::io::Read;
    let (mut board, tty) = pty();
    let lock = DoorLock::start(Box::new(usb::UsbRelay::new(tty, 1)), Duration::from_millis(200));
    lock.open("Hall").unwrap();
    let mut got = [0u8; 8];
    board.read_exact(&mut got).unwrap();
    assert_eq!(got, [0xA0, 0x01, 0x01, 0xA2, 0xA0, 0x01, 0x00, 0xA1]);
}
