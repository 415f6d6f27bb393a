//! One capture of the camera and of the microphone, shared by everyone who wants it: a
//! call, the RTSP stream, a browser watching, a visitor snapshot. Each user gets a
//! handle that is a [`Camera`] or [`Microphone`] of its own; the first handle opened
//! starts the device, the last one closed stops it, and every handle gets the frames
//! and samples of that one capture. So a call goes on untouched when an RTSP viewer
//! joins or leaves, and nobody opens a device twice.

use super::{Camera, DeviceError, FrameSink, Microphone, SampleSink, Shared, VideoFormat, VideoFrame};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tracing::info;

/// How long a handle waits for a frame or samples before saying so.
const WAIT: Duration = Duration::from_secs(2);
/// A lost device is opened again this often.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// The camera, shared.
#[derive(Clone)]
pub struct CameraHub {
    inner: Arc<CameraShared>,
}

struct CameraShared {
    camera: Shared<dyn Camera>,
    state: Mutex<CameraState>,
    fresh: Condvar,
    /// Handles that have each frame handed to them on the capture thread.
    subscribers: Mutex<Vec<(u64, FrameSink)>>,
}

#[derive(Default)]
struct CameraState {
    /// Handles open now.
    users: usize,
    /// What the device delivers, while it runs.
    format: Option<VideoFormat>,
    /// What the first user asked for (opened again with it when lost).
    wanted: Option<VideoFormat>,
    /// The newest frame or failure, and its number.
    latest: Option<Result<Arc<VideoFrame>, DeviceError>>,
    seq: u64,
    /// The capture thread is running (it stops when `users` falls to 0).
    capturing: bool,
    /// When the capture thread found no user left and began closing the device.
    closing_since: Option<Instant>,
    /// Numbers for subscriptions.
    next_subscription: u64,
}

impl CameraHub {
    /// Shares `camera`.
    pub fn new(camera: Shared<dyn Camera>) -> Self {
        Self {
            inner: Arc::new(CameraShared {
                camera,
                state: Mutex::default(),
                fresh: Condvar::new(),
                subscribers: Mutex::default(),
            }),
        }
    }

    /// A handle of one's own (closed until opened).
    pub fn handle(&self) -> Shared<dyn Camera> {
        Arc::new(Mutex::new(Box::new(CameraHandle {
            hub: self.inner.clone(),
            open: false,
            seen: 0,
            subscription: None,
        })))
    }

    /// Whether anyone holds the camera open now.
    pub fn in_use(&self) -> bool {
        self.inner.state.lock().unwrap().users > 0
    }

    /// Whether the camera is plugged in (None when the backend cannot tell). While a
    /// capture runs, its last frame tells.
    pub fn present(&self) -> Option<bool> {
        if let Ok(camera) = self.inner.camera.try_lock() {
            return camera.present();
        }
        let state = self.inner.state.lock().unwrap();
        Some(!matches!(&state.latest, Some(Err(e)) if !matches!(e, DeviceError::Temporary(_))))
    }
}

impl CameraShared {
    /// Captures while anyone holds a handle open, then closes the device.
    fn capture_loop(self: Arc<Self>) {
        let mut lost_at: Option<Instant> = None;
        loop {
            let wanted = {
                let mut state = self.state.lock().unwrap();
                if state.users == 0 {
                    state.closing_since = Some(Instant::now());
                    break;
                }
                state.wanted
            };
            if lost_at.is_some_and(|t| t.elapsed() >= REOPEN_EVERY) {
                lost_at = Some(Instant::now());
                if let Some(want) = wanted {
                    let reopened = self.camera.lock().unwrap().open(want);
                    if let Ok(format) = reopened {
                        info!("camera opened again");
                        self.state.lock().unwrap().format = Some(format);
                    }
                }
            }
            let captured = self.camera.lock().unwrap().capture();
            let failed = match &captured {
                Ok(_) => {
                    lost_at = None;
                    false
                }
                Err(DeviceError::Temporary(_)) => false,
                Err(_) => {
                    lost_at.get_or_insert_with(Instant::now);
                    true
                }
            };
            let captured = captured.map(Arc::new);
            {
                let mut state = self.state.lock().unwrap();
                state.latest = Some(captured.clone());
                state.seq += 1;
            }
            self.fresh.notify_all();
            // Subscribers get the frame here, on this thread, shared rather than copied.
            for (_, sink) in self.subscribers.lock().unwrap().iter_mut() {
                sink(captured.clone());
            }
            if failed {
                // A lost camera fails at once: do not spin.
                let fps = wanted.map(|w| w.fps.max(1)).unwrap_or(30);
                std::thread::sleep(Duration::from_millis(1000 / fps as u64));
            }
        }
        self.camera.lock().unwrap().close();
        let mut state = self.state.lock().unwrap();
        state.capturing = false;
        state.closing_since = None;
        state.format = None;
        state.latest = None;
        drop(state);
        // A handle opened while the device was closing waits for this.
        self.fresh.notify_all();
    }
}

/// One user's view of the shared camera.
struct CameraHandle {
    hub: Arc<CameraShared>,
    open: bool,
    /// The number of the last frame this handle took.
    seen: u64,
    /// Its subscription, while frames are handed to it.
    subscription: Option<u64>,
}

impl Camera for CameraHandle {
    fn open(&mut self, want: VideoFormat) -> Result<VideoFormat, DeviceError> {
        let hub = &self.hub;
        let mut state = hub.state.lock().unwrap();
        if self.open {
            // Asked again (after a loss): the capture reopens the device itself.
            return Ok(state.format.unwrap_or(want));
        }
        // The last user's capture may still be closing the device: wait for that, but not
        // for a driver stuck in its close. A capture that has not begun closing is joined,
        // even one stuck inside a capture: its next frames are ours, and meanwhile the
        // user sends its placeholder.
        while let Some(since) = state.closing_since.filter(|_| state.capturing) {
            if since.elapsed() >= WAIT {
                return Err(DeviceError::Stuck("the camera did not finish closing".into()));
            }
            state = hub.fresh.wait_timeout(state, WAIT - since.elapsed()).unwrap().0;
        }
        if let Some(format) = state.format.filter(|_| state.capturing) {
            state.users += 1;
            self.open = true;
            self.seen = state.seq;
            return Ok(format);
        }
        // Opened under the state's lock: a driver that hangs in its open holds the next
        // user too (the station's loop watch then says where it is stuck).
        let format = hub.camera.lock().unwrap().open(want)?;
        state.users += 1;
        state.format = Some(format);
        state.wanted = Some(want);
        state.capturing = true;
        self.open = true;
        self.seen = state.seq;
        let shared = hub.clone();
        std::thread::Builder::new()
            .name("camera".into())
            .spawn(move || shared.capture_loop())
            .map_err(|e| DeviceError::Temporary(format!("cannot start the camera's capture: {e}")))?;
        Ok(format)
    }

    fn capture(&mut self) -> Result<VideoFrame, DeviceError> {
        if !self.open {
            // Opening failed (a camera missing when the call started): lost until a
            // later open finds it, so the user sends its placeholder meanwhile.
            return Err(DeviceError::Lost("the camera is not open".into()));
        }
        let hub = &self.hub;
        let mut state = hub.state.lock().unwrap();
        let deadline = Instant::now() + WAIT;
        while state.seq == self.seen {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(DeviceError::Temporary("no frame from the camera for 2 s".into()));
            }
            state = hub.fresh.wait_timeout(state, left).unwrap().0;
        }
        self.seen = state.seq;
        // The only user takes the frame itself; others each get a copy.
        let latest = if state.users == 1 {
            state.latest.take()
        } else {
            state.latest.clone()
        };
        drop(state);
        match latest {
            Some(Ok(frame)) => Ok(Arc::try_unwrap(frame).unwrap_or_else(|shared| {
                crate::base::copies::count(crate::base::copies::Path::Send);
                (*shared).clone()
            })),
            Some(Err(e)) => Err(e),
            None => Err(DeviceError::Temporary("the camera is closing".into())),
        }
    }

    fn close(&mut self) {
        if let Some(id) = self.subscription.take() {
            self.hub.subscribers.lock().unwrap().retain(|(s, _)| *s != id);
        }
        if std::mem::take(&mut self.open) {
            self.hub.state.lock().unwrap().users -= 1;
        }
    }

    fn is_open(&self) -> bool {
        self.open
    }

    fn present(&self) -> Option<bool> {
        self.hub.camera.try_lock().ok()?.present()
    }

    fn subscribe(&mut self, sink: FrameSink) -> bool {
        if !self.open || self.subscription.is_some() {
            return false;
        }
        let id = {
            let mut state = self.hub.state.lock().unwrap();
            state.next_subscription += 1;
            state.next_subscription
        };
        self.hub.subscribers.lock().unwrap().push((id, sink));
        self.subscription = Some(id);
        true
    }
}

impl Drop for CameraHandle {
    fn drop(&mut self) {
        self.close();
    }
}

mod microphone;
pub use microphone::MicrophoneHub;
#[cfg(test)]
use microphone::CHUNK;

#[cfg(test)]
mod tests;
