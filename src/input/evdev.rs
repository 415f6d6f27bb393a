//! The evdev backend: finds keyboards, GPIO keys and touchscreens under /dev/input, reads
//! them, and notices devices that appear or vanish while the station runs.

use super::{event_instant, Calibration, RawInput, TimedInput};
use ::evdev::{AbsoluteAxisCode, Device, EventSummary, KeyCode, SynchronizationCode};
use serde::Serialize;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{info, info_span, warn, Instrument};

/// What a device is good for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// Reports touches (single or multitouch).
    Touchscreen,
    /// Reports keys or buttons.
    Keys,
    /// Neither (mouse, accelerometer, power button...).
    Other,
}

/// An input device found under /dev/input.
#[derive(Debug, Clone, Serialize)]
pub struct InputDeviceInfo {
    /// Device node.
    pub path: PathBuf,
    /// Name the driver gives.
    pub name: String,
    /// Keys or touch.
    pub kind: DeviceKind,
    /// Some of its keys, for writing the key map.
    pub keys: Vec<String>,
}

fn classify(device: &Device) -> DeviceKind {
    let abs = device.supported_absolute_axes();
    let has_abs = |a| abs.is_some_and(|s| s.contains(a));
    let keys = device.supported_keys();
    let touch = keys.is_some_and(|k| k.contains(KeyCode::BTN_TOUCH));
    if (has_abs(AbsoluteAxisCode::ABS_MT_POSITION_X) || has_abs(AbsoluteAxisCode::ABS_X)) && touch {
        DeviceKind::Touchscreen
    } else if keys.is_some_and(|k| k.iter().any(|k| k.code() < KeyCode::BTN_LEFT.code())) {
        // Keyboard keys and the BTN_0..BTN_9 that GPIO buttons use; mouse and joystick
        // buttons sit from BTN_LEFT up.
        DeviceKind::Keys
    } else {
        DeviceKind::Other
    }
}

/// Lists the input devices this process can open.
pub fn list() -> Vec<InputDeviceInfo> {
    let mut out: Vec<InputDeviceInfo> = ::evdev::enumerate()
        .map(|(path, device)| InputDeviceInfo {
            name: device.name().unwrap_or("unnamed").to_string(),
            kind: classify(&device),
            keys: device
                .supported_keys()
                .map(|k| k.iter().take(12).map(|k| format!("{k:?}")).collect())
                .unwrap_or_default(),
            path,
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn calibration(device: &Device) -> Option<Calibration> {
    let range = |mt, single| -> Option<(i32, i32)> {
        let axes: Vec<_> = device.get_absinfo().ok()?.collect();
        axes.iter()
            .find(|(a, _)| *a == mt)
            .or_else(|| axes.iter().find(|(a, _)| *a == single))
            .map(|(_, i)| (i.minimum(), i.maximum()))
    };
    let (min_x, max_x) = range(AbsoluteAxisCode::ABS_MT_POSITION_X, AbsoluteAxisCode::ABS_X)?;
    let (min_y, max_y) = range(AbsoluteAxisCode::ABS_MT_POSITION_Y, AbsoluteAxisCode::ABS_Y)?;
    Some(Calibration {
        min_x,
        max_x,
        min_y,
        max_y,
    })
}

/// Decodes one device's event stream: keys as they come, touches on the SYN_REPORT that
/// completes a new contact (multitouch protocol B slot 0, or BTN_TOUCH for single touch).
#[derive(Debug, Default)]
pub struct TouchTracker {
    x: i32,
    y: i32,
    slot: i32,
    contact_started: bool,
}

impl TouchTracker {
    /// Feeds one event; returns input when a key changed or a touch began.
    pub fn feed(&mut self, event: EventSummary, calibration: Option<&Calibration>) -> Option<RawInput> {
        match event {
            EventSummary::Key(_, KeyCode::BTN_TOUCH, value) => {
                self.contact_started |= value == 1;
                None
            }
            EventSummary::Key(_, key, value) if value == 0 || value == 1 => Some(RawInput::Key {
                key: format!("{key:?}"),
                pressed: value == 1,
            }),
            EventSummary::AbsoluteAxis(_, axis, value) => {
                match axis {
                    AbsoluteAxisCode::ABS_MT_SLOT => self.slot = value,
                    // Only the first finger presses buttons.
                    AbsoluteAxisCode::ABS_MT_TRACKING_ID if self.slot == 0 => self.contact_started |= value >= 0,
                    AbsoluteAxisCode::ABS_MT_POSITION_X if self.slot == 0 => self.x = value,
                    AbsoluteAxisCode::ABS_MT_POSITION_Y if self.slot == 0 => self.y = value,
                    AbsoluteAxisCode::ABS_X => self.x = value,
                    AbsoluteAxisCode::ABS_Y => self.y = value,
                    _ => {}
                }
                None
            }
            EventSummary::Synchronization(_, SynchronizationCode::SYN_REPORT, _) if self.contact_started => {
                self.contact_started = false;
                let (x, y) = calibration.map(|c| c.normalise(self.x, self.y))?;
                Some(RawInput::Touch { x, y })
            }
            _ => None,
        }
    }
}

/// Watches /dev/input: opens every key and touch device, and rescans every two seconds
/// for devices plugged in later. Events go to `out` until it closes.
pub fn spawn(out: mpsc::UnboundedSender<TimedInput>, calibration_override: Option<Calibration>) {
    tokio::spawn(
        async move {
            let open: Arc<Mutex<HashSet<PathBuf>>> = Arc::default();
            let mut reported_none = false;
            while !out.is_closed() {
                let mut found = 0;
                for (path, device) in ::evdev::enumerate() {
                    if classify(&device) == DeviceKind::Other {
                        continue;
                    }
                    found += 1;
                    if !open.lock().unwrap().insert(path.clone()) {
                        continue;
                    }
                    let name = device.name().unwrap_or("unnamed").to_string();
                    info!(path = %path.display(), %name, kind = ?classify(&device), "input device");
                    let _ = out.send((
                        RawInput::Added {
                            path: path.display().to_string(),
                            name,
                        },
                        std::time::Instant::now(),
                    ));
                    let cal = calibration_override.or_else(|| calibration(&device));
                    tokio::spawn(read_device(path, device, cal, out.clone(), open.clone()));
                }
                if found == 0 && !reported_none {
                    warn!("no key or touch input devices found in /dev/input; waiting for one to appear");
                    reported_none = true;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
        .instrument(info_span!("input")),
    );
}

async fn read_device(
    path: PathBuf,
    device: Device,
    calibration: Option<Calibration>,
    out: mpsc::UnboundedSender<TimedInput>,
    open: Arc<Mutex<HashSet<PathBuf>>>,
) {
    let span = info_span!("input", device = %path.display());
    async {
        let mut tracker = TouchTracker::default();
        match device.into_event_stream() {
            Ok(mut stream) => loop {
                match stream.next_event().await {
                    Ok(event) => {
                        if let Some(input) = tracker.feed(event.destructure(), calibration.as_ref()) {
                            if out.send((input, event_instant(event.timestamp()))).is_err() {
                                break;
                            }
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "input device gone");
                        break;
                    }
                }
            },
            Err(e) => warn!(error = %e, "cannot read input device"),
        }
        open.lock().unwrap().remove(&path);
        let _ = out.send((
            RawInput::Removed {
                path: path.display().to_string(),
            },
            std::time::Instant::now(),
        ));
    }
    .instrument(span)
    .await
}
