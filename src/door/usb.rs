//! The common USB relay boards (LCUS type: a CH340 USB-serial chip and one to eight
//! relays) that take a 4-byte command at 9600 baud: `A0`, the relay number, `01` to
//! close or `00` to open, and the sum of the three bytes. The tty is opened for each
//! opening and closed after it, so a board plugged in again later just works, and held
//! exclusively while open (TIOCEXCL), so two programs do not drive it at once.

use super::{DoorError, Relay};
use std::io::Write;
use std::time::Duration;

/// Where the first USB-serial adapter appears.
pub const DEFAULT_TTY: &str = "/dev/ttyUSB0";

/// The command that closes (`true`) or opens relay `number` (1-based).
pub fn command(number: u8, closed: bool) -> [u8; 4] {
    let state = u8::from(closed);
    [0xA0, number, state, 0xA0u8.wrapping_add(number).wrapping_add(state)]
}

/// A relay on a USB relay board.
pub struct UsbRelay {
    tty: String,
    number: u8,
    port: Option<serialport::TTYPort>,
}

impl UsbRelay {
    /// Relay `number` (1-based) of the board on `tty`.
    pub fn new(tty: String, number: u8) -> Self {
        Self {
            tty,
            number,
            port: None,
        }
    }

    fn error(&self, e: serialport::Error) -> DoorError {
        match e.kind() {
            serialport::ErrorKind::Io(kind) => DoorError::from_io(&self.tty, std::io::Error::new(kind, e.description)),
            serialport::ErrorKind::NoDevice => {
                // serialport says NoDevice for a missing path and for a busy one alike.
                match std::fs::metadata(&self.tty) {
                    Err(io) => DoorError::from_io(&self.tty, io),
                    Ok(_) => DoorError::Busy {
                        device: self.tty.clone(),
                    },
                }
            }
            _ => DoorError::Failed {
                device: self.tty.clone(),
                message: e.description,
            },
        }
    }
}

impl Relay for UsbRelay {
    fn set(&mut self, closed: bool) -> Result<(), DoorError> {
        if self.port.is_none() {
            if let Err(e) = std::fs::metadata(&self.tty) {
                return Err(DoorError::from_io(&self.tty, e));
            }
            let port = serialport::new(&self.tty, 9600)
                .timeout(Duration::from_millis(500))
                .open_native()
                .map_err(|e| self.error(e))?;
            self.port = Some(port);
        }
        let port = self.port.as_mut().expect("opened above");
        let written = port
            .write_all(&command(self.number, closed))
            .and_then(|()| port.flush());
        if let Err(e) = written {
            self.port = None;
            return Err(DoorError::from_io(&self.tty, e));
        }
        if !closed {
            // Released: let go of the tty until the next opening.
            self.port = None;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("USB relay {} on {}", self.number, self.tty)
    }
}
