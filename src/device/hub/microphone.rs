//! The microphone, shared: one capture, a handle per user (see [`super`]).

use super::{DeviceError, Microphone, SampleSink, Shared, REOPEN_EVERY, WAIT};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// The microphone, shared.
#[derive(Clone)]
pub struct MicrophoneHub {
    inner: Arc<MicShared>,
}

struct MicShared {
    microphone: Shared<dyn Microphone>,
    state: Mutex<MicState>,
    fresh: Condvar,
    /// Handles that have every chunk handed to them on the reading thread.
    subscribers: Mutex<Vec<(u64, SampleSink)>>,
}

#[derive(Default)]
struct MicState {
    /// Samples not yet read, per open handle.
    queues: HashMap<u64, VecDeque<i16>>,
    next_id: u64,
    /// Rate and channels the device was opened with.
    opened: Option<(u32, u16)>,
    /// The last failure and its number (each handle reports it once).
    failure: Option<(u64, DeviceError)>,
    failures: u64,
    reading: bool,
    /// When the reading thread found no user left and began closing the device.
    closing_since: Option<Instant>,
    /// Open handles that subscribed (they have no queue).
    subscribed: usize,
}

impl MicState {
    /// Whether no handle is open.
    fn unused(&self) -> bool {
        self.queues.is_empty() && self.subscribed == 0
    }
}

/// Samples read from the device at a time: 10 ms at 48 kHz mono (what a call reads).
pub(super) const CHUNK: usize = 480;

impl MicrophoneHub {
    /// Shares `microphone`.
    pub fn new(microphone: Shared<dyn Microphone>) -> Self {
        Self {
            inner: Arc::new(MicShared {
                microphone,
                state: Mutex::default(),
                fresh: Condvar::new(),
                subscribers: Mutex::default(),
            }),
        }
    }

    /// A handle of one's own (closed until opened).
    pub fn handle(&self) -> Shared<dyn Microphone> {
        Arc::new(Mutex::new(Box::new(MicHandle {
            hub: self.inner.clone(),
            id: None,
            failures_seen: 0,
        })))
    }
}

impl MicShared {
    fn read_loop(self: Arc<Self>) {
        let mut chunk = vec![0i16; CHUNK];
        let mut lost_at: Option<Instant> = None;
        loop {
            let opened = {
                let mut state = self.state.lock().unwrap();
                if state.unused() {
                    state.closing_since = Some(Instant::now());
                    break;
                }
                state.opened
            };
            if lost_at.is_some_and(|t| t.elapsed() >= REOPEN_EVERY) {
                lost_at = Some(Instant::now());
                if let Some((rate, channels)) = opened {
                    let reopened = self.microphone.lock().unwrap().open(rate, channels);
                    if reopened.is_ok() {
                        info!("microphone opened again");
                        lost_at = None;
                    }
                }
            }
            let read = self.microphone.lock().unwrap().read(&mut chunk);
            // Subscribers get the chunk here, on this thread.
            for (_, sink) in self.subscribers.lock().unwrap().iter_mut() {
                match &read {
                    Ok(n) => sink(Ok(&chunk[..(*n).min(CHUNK)])),
                    Err(DeviceError::Temporary(_)) => {}
                    Err(e) => sink(Err(e.clone())),
                }
            }
            let mut state = self.state.lock().unwrap();
            match read {
                Ok(n) => {
                    lost_at = None;
                    // At most a second queued per user: one that stopped reading must
                    // not hold the others' memory.
                    let cap = opened.map(|(r, c)| r as usize * c as usize).unwrap_or(48_000);
                    for queue in state.queues.values_mut() {
                        queue.extend(&chunk[..n.min(CHUNK)]);
                        let over = queue.len().saturating_sub(cap);
                        queue.drain(..over);
                    }
                }
                Err(DeviceError::Temporary(_)) => {}
                Err(e) => {
                    if lost_at.is_none() {
                        warn!(error = %e, "microphone lost");
                    }
                    lost_at.get_or_insert_with(Instant::now);
                    state.failures += 1;
                    state.failure = Some((state.failures, e));
                }
            }
            drop(state);
            self.fresh.notify_all();
            if lost_at.is_some() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.microphone.lock().unwrap().close();
        let mut state = self.state.lock().unwrap();
        state.reading = false;
        state.closing_since = None;
        state.opened = None;
        drop(state);
        self.fresh.notify_all();
    }
}

/// One user's view of the shared microphone.
struct MicHandle {
    hub: Arc<MicShared>,
    /// Its queue, while open.
    id: Option<u64>,
    failures_seen: u64,
}

impl Microphone for MicHandle {
    fn open(&mut self, rate: u32, channels: u16) -> Result<(), DeviceError> {
        let hub = &self.hub;
        let mut state = hub.state.lock().unwrap();
        if self.id.is_some() {
            return Ok(());
        }
        // As the camera's hub does: a reading that is closing is waited for, one that is
        // not (even one stuck inside a read) is joined, and a driver stuck in its close
        // is not waited for. A reading nobody uses any more at another rate is waited
        // for too, to open afresh at this one.
        let asked = Instant::now();
        loop {
            let other_rate = state.reading && state.unused() && state.opened != Some((rate, channels));
            let since = match state.closing_since.filter(|_| state.reading) {
                Some(since) => since,
                None if other_rate => asked,
                None => break,
            };
            if since.elapsed() >= WAIT {
                return Err(DeviceError::Stuck("the microphone did not finish closing".into()));
            }
            state = hub.fresh.wait_timeout(state, WAIT - since.elapsed()).unwrap().0;
        }
        match state.opened.filter(|_| state.reading) {
            Some(opened) if opened != (rate, channels) => {
                return Err(DeviceError::Unsupported(format!(
                    "the microphone runs at {} Hz, {} channels for another user",
                    opened.0, opened.1
                )));
            }
            Some(_) => {}
            None => {
                hub.microphone.lock().unwrap().open(rate, channels)?;
                state.opened = Some((rate, channels));
                state.reading = true;
                let shared = hub.clone();
                std::thread::Builder::new()
                    .name("microphone".into())
                    .spawn(move || shared.read_loop())
                    .map_err(|e| DeviceError::Temporary(format!("cannot start the microphone: {e}")))?;
            }
        }
        let id = state.next_id;
        state.next_id += 1;
        state.queues.insert(id, VecDeque::new());
        self.failures_seen = state.failures;
        self.id = Some(id);
        Ok(())
    }

    fn read(&mut self, buf: &mut [i16]) -> Result<usize, DeviceError> {
        let Some(id) = self.id else {
            return Err(DeviceError::Lost("the microphone is not open".into()));
        };
        let hub = &self.hub;
        let mut state = hub.state.lock().unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some((n, e)) = &state.failure {
                if *n > self.failures_seen {
                    self.failures_seen = *n;
                    return Err(e.clone());
                }
            }
            let Some(queue) = state.queues.get_mut(&id) else {
                return Err(DeviceError::Unsupported(
                    "this handle's samples go to its subscriber".into(),
                ));
            };
            if queue.len() >= buf.len() {
                let wanted = buf.len();
                for (out, sample) in buf.iter_mut().zip(queue.drain(..wanted)) {
                    *out = sample;
                }
                return Ok(buf.len());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(DeviceError::Temporary("no sound from the microphone for 2 s".into()));
            }
            state = hub.fresh.wait_timeout(state, left).unwrap().0;
        }
    }

    fn close(&mut self) {
        let Some(id) = self.id.take() else { return };
        self.hub.subscribers.lock().unwrap().retain(|(s, _)| *s != id);
        let mut state = self.hub.state.lock().unwrap();
        // An open handle without a queue is a subscribed one.
        if state.queues.remove(&id).is_none() {
            state.subscribed -= 1;
        }
    }

    fn subscribe(&mut self, sink: SampleSink) -> bool {
        let Some(id) = self.id else { return false };
        {
            let mut state = self.hub.state.lock().unwrap();
            // Its samples go to the sink now, not to a queue.
            if state.queues.remove(&id).is_none() {
                return false;
            }
            state.subscribed += 1;
        }
        self.hub.subscribers.lock().unwrap().push((id, sink));
        true
    }
}

impl Drop for MicHandle {
    fn drop(&mut self) {
        self.close();
    }
}
