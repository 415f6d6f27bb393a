//! Filling the visitor log: a ring (a call out when someone presses a button here, or a
//! call ringing in) saves a snapshot of this station's camera; how the ring ended is
//! written when it ends.

use super::Station;
use crate::call::machine::State;
use crate::device::{Camera, PixelFormat, Shared, VideoFormat, VideoFrame};
use crate::web::visitors::{Direction, Outcome, VisitorLog};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use tracing::{info, warn};

/// The ring being logged: its Call-ID, its entry, which way it rang.
pub(super) struct Visit {
    call: String,
    id: u64,
    direction: Direction,
    /// Cleared when the ring ends: the snapshot stops waiting for the caller's preview.
    ringing: Arc<AtomicBool>,
}

/// JPEG quality of snapshots: a face stays recognisable at a few tens of kilobytes.
const JPEG_QUALITY: u8 = 80;

/// The visitor log and the ring being logged.
pub(super) struct Visitors {
    /// The visitor log (shared with the web page).
    log: Arc<Mutex<VisitorLog>>,
    /// The ring being logged.
    visit: Option<Visit>,
}

impl Visitors {
    /// Fills `log`; no ring is being logged yet.
    pub(super) fn new(log: Arc<Mutex<VisitorLog>>) -> Visitors {
        Visitors { log, visit: None }
    }

    /// The log keeps at most `kept` rings and `bytes` of snapshots from now on; older
    /// ones go now.
    pub(super) fn limit(&self, kept: usize, bytes: u64) {
        if let Err(e) = self.log.lock().unwrap().set_caps(kept, bytes) {
            warn!(error = %e, "cannot trim the visitor log");
        }
    }

    /// The ring being logged ended with `outcome`: written to its entry, and its
    /// snapshot stops waiting for the caller's picture.
    fn end(&mut self, outcome: Outcome) {
        if let Some(v) = self.visit.take() {
            v.ringing.store(false, std::sync::atomic::Ordering::SeqCst);
            info!(call = %v.call, ?outcome, "ring logged");
            if let Err(e) = self.log.lock().unwrap().set_outcome(v.id, outcome) {
                warn!(error = %e, "cannot log how the ring ended");
            }
        }
    }
}

impl Station {
    /// After each call event: starts a log entry when a ring begins, and records the
    /// outcome when it ends. `local_hangup` says this station hung up (a decline when it
    /// rang here).
    pub(super) fn track_visit(&mut self, local_hangup: bool) {
        let state = self.machine.state().clone();
        match (&self.visitors.visit, &state) {
            (
                None,
                State::Incoming {
                    call, peer, preview, ..
                },
            ) => {
                // A caller that shows its picture while ringing (a door station): the
                // log keeps who rang, not this station's own view.
                let preview = *preview;
                self.start_visit(call, Direction::Incoming, peer.label(), preview)
            }
            (None, State::Outgoing { call, peer, .. }) => {
                let who = self.machine.group().unwrap_or(peer.label()).to_string();
                self.start_visit(call, Direction::Outgoing, &who, false)
            }
            (Some(_), State::Active { .. }) => {
                let outcome = if self.browser.take_answered_from_web() {
                    Outcome::AnsweredFromWeb
                } else {
                    Outcome::Answered
                };
                self.end_visit(outcome);
            }
            (Some(v), State::Idle) => {
                let outcome = if self.browser.take_answered_from_web() {
                    Outcome::AnsweredFromWeb
                } else if local_hangup && v.direction == Direction::Incoming {
                    Outcome::Declined
                } else {
                    Outcome::Missed
                };
                self.end_visit(outcome);
            }
            _ => {}
        }
    }

    fn start_visit(&mut self, call: &str, direction: Direction, peer: &str, caller_picture: bool) {
        // SAFETY: time has no preconditions.
        let now = unsafe { libc::time(std::ptr::null_mut()) }.max(0) as u64;
        let id = match self.visitors.log.lock().unwrap().add(now, direction, peer, &[]) {
            Ok(id) => id,
            Err(e) => {
                warn!(error = %e, "cannot log the ring");
                return;
            }
        };
        let ringing = Arc::new(AtomicBool::new(true));
        self.visitors.visit = Some(Visit {
            call: call.to_string(),
            id,
            direction,
            ringing: ringing.clone(),
        });
        let camera = self.devices.camera.handle();
        let settings = self.call_media.settings();
        let want = VideoFormat {
            pixel: PixelFormat::I420,
            width: settings.width,
            height: settings.height,
            fps: settings.fps,
        };
        let log = self.visitors.log.clone();
        let compositor = caller_picture.then(|| (self.ui.compositor(), ringing.clone()));
        // Home automation hears of the ring now, and gets its snapshot once taken.
        let home = self.links.ring_at_home(peer, direction == Direction::Incoming);
        // Opening a camera takes a moment: off the station's loop.
        let spawned = std::thread::Builder::new()
            .name("snapshot".into())
            .spawn(move || attach_snapshot(camera, want, compositor, (log, id), home));
        if let Err(e) = spawned {
            warn!(error = %e, "cannot take a snapshot");
        }
    }

    fn end_visit(&mut self, outcome: Outcome) {
        self.visitors.end(outcome);
    }
}

fn attach_snapshot(
    camera: Shared<dyn Camera>,
    want: VideoFormat,
    preview: Option<(Arc<Mutex<crate::ui::compositor::Compositor>>, Arc<AtomicBool>)>,
    (log, id): (Arc<Mutex<VisitorLog>>, u64),
    home: Option<Box<dyn Fn(Vec<u8>) + Send>>,
) {
    // The caller's preview while it rings: the newest picture a second after the first
    // (a decoder's first pictures may be patched together before a keyframe), or the
    // newest before the ring ended (answering rebuilds the decoder).
    let from_caller = preview.and_then(|(compositor, ringing)| {
        let mut kept: Option<(std::time::Instant, crate::device::VideoFrame)> = None;
        for _ in 0..60 {
            if !ringing.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            if let Some(p) = compositor.lock().unwrap().remote_picture() {
                let first = kept.as_ref().map_or_else(std::time::Instant::now, |(t, _)| *t);
                let settled = first.elapsed() >= std::time::Duration::from_secs(1);
                kept = Some((first, p));
                if settled {
                    break;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        kept.map(|(_, p)| p)
    });
    let jpeg = match from_caller {
        Some(frame) => jpeg(&frame),
        None => snapshot(&camera, want),
    };
    let Some(jpeg) = jpeg else {
        warn!("no snapshot: the camera gave no picture");
        return;
    };
    if let Err(e) = log.lock().unwrap().attach(id, &jpeg) {
        warn!(error = %e, "cannot keep the snapshot");
    }
    if let Some(home) = home {
        home(jpeg);
    }
}

/// One picture from the camera as JPEG: taken from a camera a call holds open, or by
/// opening it for a moment (a few frames, so that exposure settles).
pub(crate) fn snapshot(camera: &Shared<dyn Camera>, want: VideoFormat) -> Option<Vec<u8>> {
    let frame = {
        let mut cam = camera.lock().unwrap();
        if cam.is_open() {
            cam.capture().ok()?
        } else {
            cam.open(want).ok()?;
            let frame = (0..3).filter_map(|_| cam.capture().ok()).last();
            cam.close();
            frame?
        }
    };
    jpeg(&frame)
}

/// A frame as JPEG (MJPEG frames are JPEG already).
pub(crate) fn jpeg(frame: &VideoFrame) -> Option<Vec<u8>> {
    let f = frame.format;
    if f.pixel == PixelFormat::Mjpeg {
        return Some(frame.data.clone());
    }
    let (w, h) = (u16::try_from(f.width).ok()?, u16::try_from(f.height).ok()?);
    let bgrx;
    let (data, stride) = match f.pixel {
        PixelFormat::Bgrx => (&frame.data, frame.stride),
        _ => {
            bgrx = crate::device::thumbnail_bgrx(frame, f.width, f.height)?;
            (&bgrx.data, bgrx.stride)
        }
    };
    // Tightly packed rows for the encoder.
    let row = f.width as usize * 4;
    let packed: Vec<u8> = if stride == row {
        data.get(..row * f.height as usize)?.to_vec()
    } else {
        (0..f.height as usize)
            .flat_map(|y| data[y * stride..y * stride + row].iter().copied())
            .collect()
    };
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY)
        .encode(&packed, w, h, jpeg_encoder::ColorType::Bgra)
        .ok()?;
    Some(out)
}
