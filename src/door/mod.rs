//! The door lock: "Open door" closes a relay for a configured time, then opens it again.
//!
//! One small trait ([`Relay`]) with three backends chosen by `[door] relay` in the
//! config: a GPIO line through the kernel's GPIO character device ([`gpio`]), the common
//! USB relay boards that take a 4-byte command over a serial port ([`usb`]), and a test
//! relay that keeps what it was told ([`TestRelay`]). [`DoorLock`] owns the relay on a
//! thread of its own and holds it closed for the configured time ([`Pulse`], sans-IO);
//! an "Open door" while it is open keeps it open for the full time from then.
//!
//! Who may open is the station's decision (a contact with `may_open_door`, the web page,
//! a key); this module only drives the relay, reports what went wrong in words a person
//! can act on, and releases the relay when the station stops.

pub mod gpio;
pub mod usb;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{info, info_span, warn};

pub use crate::config::DoorConfig;

/// Why the relay could not be driven.
#[derive(Debug, thiserror::Error)]
pub enum DoorError {
    /// The device is not there (unplugged, wrong path).
    #[error("the door relay {device} is missing ({source})")]
    Missing {
        /// The device path.
        device: String,
        /// What the kernel said.
        source: std::io::Error,
    },
    /// Another program holds the device or line.
    #[error("the door relay {device} is busy: another program holds it")]
    Busy {
        /// The device path.
        device: String,
    },
    /// The device is there but did not take the command.
    #[error("the door relay {device} failed: {message}")]
    Failed {
        /// The device path.
        device: String,
        /// What went wrong.
        message: String,
    },
    /// The lock's thread is gone (the station is stopping).
    #[error("the door lock is not running")]
    Stopped,
}

impl DoorError {
    /// Sorts an I/O error from opening `device` into missing, busy or failed.
    pub fn from_io(device: &str, e: std::io::Error) -> Self {
        let missing = e.kind() == std::io::ErrorKind::NotFound
            || matches!(e.raw_os_error(), Some(libc::ENODEV) | Some(libc::ENXIO));
        match e.raw_os_error() {
            _ if missing => Self::Missing {
                device: device.to_string(),
                source: e,
            },
            Some(libc::EBUSY) => Self::Busy {
                device: device.to_string(),
            },
            _ => Self::Failed {
                device: device.to_string(),
                message: e.to_string(),
            },
        }
    }
}

/// A relay that can be closed (the lock's strike energised: the door opens) and opened.
pub trait Relay: Send {
    /// Closes (`true`) or opens (`false`) the relay.
    fn set(&mut self, closed: bool) -> Result<(), DoorError>;
    /// What it is, for logs and `status` (`USB relay 1 on /dev/ttyUSB0`).
    fn describe(&self) -> String;
}

/// How long the relay stays closed, and whether it is due to open: the timing of a door
/// opening without I/O, so it is tested without waiting.
#[derive(Debug, Clone)]
pub struct Pulse {
    hold: Duration,
    until: Option<Instant>,
}

impl Pulse {
    /// A pulse that holds the relay closed for `hold`.
    pub fn new(hold: Duration) -> Self {
        Self { hold, until: None }
    }

    /// "Open door" at `now`: true when the relay must be closed now (it was open); an
    /// open door is held open for the full time from `now`.
    pub fn open(&mut self, now: Instant) -> bool {
        let was_open = self.until.is_some();
        self.until = Some(now + self.hold);
        !was_open
    }

    /// When the relay is due to open again, if it is closed.
    pub fn deadline(&self) -> Option<Instant> {
        self.until
    }

    /// True (once) when the relay must be opened at `now`.
    pub fn due(&mut self, now: Instant) -> bool {
        if self.until.is_some_and(|until| now >= until) {
            self.until = None;
            return true;
        }
        false
    }

    /// Whether the door is being held open.
    pub fn is_open(&self) -> bool {
        self.until.is_some()
    }
}

/// What the lock reports to the station.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DoorStatus {
    /// The relay, as [`Relay::describe`] says.
    pub relay: String,
    /// Whether the door is held open now.
    pub open: bool,
    /// Times it was opened since the station started.
    pub openings: u64,
    /// Who opened it last.
    pub last_opened_by: Option<String>,
    /// The last problem driving the relay, until a later opening worked.
    pub problem: Option<String>,
}

enum Request {
    Open {
        by: String,
        done: mpsc::Sender<Result<(), DoorError>>,
    },
}

/// The station's door lock: a relay on its own thread, held closed for the configured time
/// on each opening. Dropping it opens the relay and releases the device.
pub struct DoorLock {
    requests: Option<mpsc::Sender<Request>>,
    status: Arc<Mutex<DoorStatus>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DoorLock {
    /// Starts the lock with `relay`, holding it closed for `hold` on each opening.
    pub fn start(relay: Box<dyn Relay>, hold: Duration) -> Self {
        let status = Arc::new(Mutex::new(DoorStatus {
            relay: relay.describe(),
            ..Default::default()
        }));
        let (requests, incoming) = mpsc::channel();
        let shared = status.clone();
        let thread = std::thread::Builder::new()
            .name("door-lock".into())
            .spawn(move || run(relay, Pulse::new(hold), incoming, shared))
            .expect("a thread for the door lock");
        Self {
            requests: Some(requests),
            status,
            thread: Some(thread),
        }
    }

    /// Opens the door (closes the relay for the configured time); `by` says who, for the
    /// log. Returns once the relay took the command, or why it did not.
    pub fn open(&self, by: &str) -> Result<(), DoorError> {
        let (done, result) = mpsc::channel();
        let request = Request::Open {
            by: by.to_string(),
            done,
        };
        let sent = self.requests.as_ref().map(|r| r.send(request));
        if !matches!(sent, Some(Ok(()))) {
            return Err(DoorError::Stopped);
        }
        // A serial write or a GPIO ioctl takes milliseconds; a device that hangs must
        // not hang the station with it.
        result
            .recv_timeout(Duration::from_secs(2))
            .unwrap_or(Err(DoorError::Stopped))
    }

    /// What the lock reports now.
    pub fn status(&self) -> DoorStatus {
        self.status.lock().unwrap().clone()
    }
}

impl Drop for DoorLock {
    fn drop(&mut self) {
        // The thread opens the relay and drops it when its channel closes.
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(mut relay: Box<dyn Relay>, mut pulse: Pulse, requests: mpsc::Receiver<Request>, status: Arc<Mutex<DoorStatus>>) {
    let span = info_span!("door", relay = %relay.describe());
    let _guard = span.enter();
    loop {
        let next = match pulse.deadline() {
            Some(until) => requests.recv_timeout(until.saturating_duration_since(Instant::now())),
            None => requests.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match next {
            Ok(Request::Open { by, done }) => {
                let close_now = pulse.open(Instant::now());
                let result = if close_now { relay.set(true) } else { Ok(()) };
                let mut s = status.lock().unwrap();
                match &result {
                    Ok(()) => {
                        info!(%by, "door opened");
                        s.openings += 1;
                        s.last_opened_by = Some(by);
                        s.problem = None;
                    }
                    Err(e) => {
                        warn!(%by, error = %e, "the door could not be opened");
                        // Nothing is held: the next opening tries the relay afresh.
                        pulse = Pulse::new(pulse.hold);
                        s.problem = Some(e.to_string());
                    }
                }
                s.open = pulse.is_open();
                drop(s);
                let _ = done.send(result);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                if pulse.is_open() {
                    release(relay.as_mut(), &status);
                }
                return;
            }
        }
        if pulse.due(Instant::now()) {
            release(relay.as_mut(), &status);
        }
    }
}

fn release(relay: &mut dyn Relay, status: &Mutex<DoorStatus>) {
    let mut s = status.lock().unwrap();
    s.open = false;
    if let Err(e) = relay.set(false) {
        // A relay left closed keeps the door open: say so loudly.
        warn!(error = %e, "the door relay could not be released");
        s.problem = Some(e.to_string());
    } else {
        info!("door closed again");
    }
}

/// The test relay: keeps each command with its time, and can be told to fail like a
/// missing device.
#[derive(Clone, Default)]
pub struct TestRelay {
    log: Arc<Mutex<Vec<(Instant, bool)>>>,
    missing: Arc<std::sync::atomic::AtomicBool>,
}

impl TestRelay {
    /// The commands so far: (when, closed).
    pub fn commands(&self) -> Vec<(Instant, bool)> {
        self.log.lock().unwrap().clone()
    }

    /// From now on, behaves as an unplugged device (or a present one again).
    pub fn set_missing(&self, missing: bool) {
        self.missing.store(missing, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Relay for TestRelay {
    fn set(&mut self, closed: bool) -> Result<(), DoorError> {
        if self.missing.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(DoorError::from_io(
                "test",
                std::io::Error::from_raw_os_error(libc::ENODEV),
            ));
        }
        self.log.lock().unwrap().push((Instant::now(), closed));
        Ok(())
    }

    fn describe(&self) -> String {
        "test relay".into()
    }
}

/// The relay `[door]` names, or None when this station has no lock. Opening a device
/// that is not there yet is not an error here: each opening tries it, and the first
/// problem is reported by [`check`].
pub fn relay_from_config(door: &DoorConfig) -> Option<Box<dyn Relay>> {
    match door.relay.as_deref()? {
        "gpio" => Some(Box::new(gpio::GpioRelay::new(
            door.device.clone().unwrap_or_else(|| gpio::DEFAULT_CHIP.into()),
            door.line.unwrap_or(0),
            door.active_low,
        ))),
        "usb" => Some(Box::new(usb::UsbRelay::new(
            door.device.clone().unwrap_or_else(|| usb::DEFAULT_TTY.into()),
            door.relay_number,
        ))),
        _ => Some(Box::new(TestRelay::default())),
    }
}

#[cfg(test)]
mod tests;
