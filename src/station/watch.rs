//! Devices watched between calls: a camera unplugged while the station is idle is
//! noticed and said (in the journal and on the idle screen) before anyone rings, and
//! noticed again when it comes back. During a call the send pipeline watches the camera
//! itself (placeholder, reopen).

use super::Station;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// How often the idle check looks: a stat of a device node, cheap.
const EVERY: Duration = Duration::from_secs(2);

/// What the idle watch knows.
#[derive(Debug, Default)]
pub(super) struct IdleWatch {
    checked: Option<Instant>,
    camera_present: Option<bool>,
}

impl IdleWatch {
    /// A lasting problem a person should see on the idle screen.
    pub(super) fn problem(&self) -> Option<String> {
        (self.camera_present == Some(false)).then(|| "the camera is not connected".to_string())
    }
}

impl Station {
    /// Looks at the camera every couple of seconds while no call uses it.
    pub(super) fn watch_devices_when_idle(&mut self) {
        if self.media.is_some() || self.idle_watch.checked.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        self.idle_watch.checked = Some(Instant::now());
        let Ok(camera) = self.devices.camera.try_lock() else {
            return;
        };
        let present = camera.present();
        drop(camera);
        let before = self.idle_watch.camera_present;
        match (before, present) {
            (Some(true) | None, Some(false)) => {
                warn!("camera unplugged or missing; calls will send a placeholder picture until it is back");
            }
            (Some(false), Some(true)) => info!("camera plugged in"),
            _ => {}
        }
        self.idle_watch.camera_present = present;
    }
}
