//! A relay on a GPIO line (a Pi's header pins), through the kernel's GPIO character
//! device (uAPI v2, gpiocdev). The line is requested as an output at its inactive level
//! on the first command and held while the station runs, so nothing else drives it; the
//! kernel releases it when the request is dropped, on shutdown and after a crash alike.
//!
//! No kernel reachable by the tests has an emulated GPIO chip (gpio-sim and gpio-mockup
//! are not built in Debian's kernels, nor virtio-gpio), so this backend is proven only
//! through its [`super::Relay`] trait and [`super::Pulse`]; see the README.

use super::{DoorError, Relay};
use gpiocdev::line::Value;
use gpiocdev::Request;

/// The first GPIO chip: on a Pi, the header's pins.
pub const DEFAULT_CHIP: &str = "/dev/gpiochip0";

/// A relay on one GPIO line.
pub struct GpioRelay {
    chip: String,
    line: u32,
    active_low: bool,
    request: Option<Request>,
}

impl GpioRelay {
    /// The relay on `line` of `chip`; `active_low` for boards whose relay closes when
    /// the pin is driven low.
    pub fn new(chip: String, line: u32, active_low: bool) -> Self {
        Self {
            chip,
            line,
            active_low,
            request: None,
        }
    }

    fn request(&mut self) -> Result<&Request, DoorError> {
        if self.request.is_none() {
            if let Err(e) = std::fs::metadata(&self.chip) {
                return Err(DoorError::from_io(&self.chip, e));
            }
            let mut builder = Request::builder();
            builder
                .on_chip(&self.chip)
                .with_consumer("doorway door lock")
                .with_line(self.line)
                .as_output(Value::Inactive);
            if self.active_low {
                builder.as_active_low();
            }
            let request = builder.request().map_err(|e| self.error(e))?;
            self.request = Some(request);
        }
        Ok(self.request.as_ref().expect("requested above"))
    }

    fn error(&self, e: gpiocdev::Error) -> DoorError {
        let errno = match &e {
            gpiocdev::Error::Os(errno) => Some(errno.0),
            gpiocdev::Error::Uapi(_, gpiocdev_uapi_error) => {
                let text = gpiocdev_uapi_error.to_string();
                // The uAPI error carries the errno; EBUSY is the one a person can act on.
                text.contains("busy").then_some(libc::EBUSY)
            }
            _ => None,
        };
        match errno {
            Some(code) => DoorError::from_io(&self.chip, std::io::Error::from_raw_os_error(code)),
            None => DoorError::Failed {
                device: format!("{} line {}", self.chip, self.line),
                message: e.to_string(),
            },
        }
    }
}

impl Relay for GpioRelay {
    fn set(&mut self, closed: bool) -> Result<(), DoorError> {
        let value = if closed { Value::Active } else { Value::Inactive };
        let result = self.request()?.set_lone_value(value);
        result.map_err(|e| {
            // A chip that went away: ask the kernel afresh next time.
            self.request = None;
            self.error(e)
        })
    }

    fn describe(&self) -> String {
        let low = if self.active_low { ", active low" } else { "" };
        format!("GPIO line {} on {}{low}", self.line, self.chip)
    }
}
