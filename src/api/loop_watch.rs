//! Notices the station's loop stuck in one step (waiting on a device's lock, a driver
//! that does not return) and says which step: in the log, and to whoever asks for the
//! status meanwhile (the control socket, the web page), so a hung station can be told
//! from a slow one. systemd's watchdog restarts a loop that stays stuck; this only
//! names the place.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// A step that takes longer than this is reported.
pub const STUCK_AFTER: Duration = Duration::from_secs(5);
/// How often the watcher looks.
const LOOK_EVERY: Duration = Duration::from_millis(500);

/// Where the loop is: since when and in which step (the outermost, which the time
/// counts from), and in which step inside it now.
type Place = Option<(Instant, &'static str, &'static str)>;

/// Shared between the station's loop, which marks its steps, a watcher thread, and the
/// station's handle and web page, which ask where the loop is.
#[derive(Clone, Default)]
pub struct LoopWatch {
    place: Arc<Mutex<Place>>,
}

/// Marks a step until dropped; the step it was inside is current again afterwards.
pub struct Step {
    place: Arc<Mutex<Place>>,
    outer: Place,
}

impl LoopWatch {
    /// A watch with its watcher thread, which ends with the last handle.
    pub fn start() -> Self {
        let watch = Self::default();
        let place = Arc::downgrade(&watch.place);
        let spawned = std::thread::Builder::new().name("loop-watch".into()).spawn(move || {
            let mut reported: Option<Instant> = None;
            while let Some(place) = place.upgrade() {
                let now = *place.lock().unwrap_or_else(|e| e.into_inner());
                drop(place);
                reported = report(now, reported);
                std::thread::sleep(LOOK_EVERY);
            }
        });
        if let Err(e) = spawned {
            warn!(error = %e, "no thread to watch the station's loop");
        }
        watch
    }

    /// Marks `name` as the step running until the returned guard is dropped.
    pub fn step(&self, name: &'static str) -> Step {
        let mut place = self.place.lock().unwrap_or_else(|e| e.into_inner());
        let outer = *place;
        let (since, first) = outer.map_or_else(|| (Instant::now(), name), |(since, first, _)| (since, first));
        *place = Some((since, first, name));
        Step {
            place: self.place.clone(),
            outer,
        }
    }

    /// Where the loop has been stuck for [`STUCK_AFTER`] or more, in words; None while
    /// it goes on.
    pub fn stuck(&self) -> Option<String> {
        let (since, first, now) = self.now()?;
        let took = since.elapsed();
        (took >= STUCK_AFTER).then(|| in_words(first, now, took))
    }

    /// Where the loop is now, in words, however long it has been there.
    pub fn place(&self) -> Option<String> {
        let (since, first, now) = self.now()?;
        Some(in_words(first, now, since.elapsed()))
    }

    fn now(&self) -> Place {
        *self.place.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn in_words(first: &str, now: &str, took: Duration) -> String {
    let during = if first == now {
        String::new()
    } else {
        format!(" (during the {first})")
    };
    format!("\"{now}\"{during} for {} s", took.as_secs())
}

impl Drop for Step {
    fn drop(&mut self) {
        let mut place = self.place.lock().unwrap_or_else(|e| e.into_inner());
        let ended = *place;
        *place = self.outer;
        drop(place);
        if self.outer.is_none() {
            if let Some((since, first, _)) = ended {
                let took = since.elapsed();
                if took >= STUCK_AFTER {
                    info!(
                        step = first,
                        secs = took.as_secs_f64(),
                        "the station's loop is going again"
                    );
                }
            }
        }
    }
}

/// Warns once for a step stuck beyond [`STUCK_AFTER`]; the start of the step already
/// reported.
fn report(place: Place, reported: Option<Instant>) -> Option<Instant> {
    let (since, first, now) = place?;
    if since.elapsed() < STUCK_AFTER || reported == Some(since) {
        return reported;
    }
    warn!(
        step = first,
        inside = now,
        secs = since.elapsed().as_secs(),
        "the station's loop is stuck (status and controls wait meanwhile)"
    );
    Some(since)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_inside_another_keeps_the_outer_start_and_restores_its_name() {
        let watch = LoopWatch::default();
        let outer = watch.step("tick");
        let started = watch.place.lock().unwrap().unwrap().0;
        {
            let _inner = watch.step("update screen");
            let place = watch.place.lock().unwrap().unwrap();
            assert_eq!(place, (started, "tick", "update screen"));
        }
        assert_eq!(*watch.place.lock().unwrap(), Some((started, "tick", "tick")));
        drop(outer);
        assert_eq!(*watch.place.lock().unwrap(), None);
    }

    #[test]
    fn a_stuck_step_is_told_in_words_with_the_step_it_is_inside() {
        let watch = LoopWatch::default();
        assert_eq!(watch.stuck(), None);
        let _outer = watch.step("answer command");
        let _inner = watch.step("starting media");
        assert_eq!(watch.stuck(), None, "not stuck yet");
        let place = *watch.place.lock().unwrap();
        let (_, first, now) = place.unwrap();
        *watch.place.lock().unwrap() = Some((Instant::now() - STUCK_AFTER, first, now));
        let said = watch.stuck().unwrap();
        assert!(
            said.starts_with("\"starting media\" (during the answer command) for 5"),
            "{said}"
        );
    }

    #[test]
    fn a_stuck_step_is_reported_once() {
        let long_ago = Instant::now() - STUCK_AFTER - Duration::from_secs(1);
        let reported = report(Some((long_ago, "input", "update screen")), None);
        assert_eq!(reported, Some(long_ago));
        assert_eq!(report(Some((long_ago, "input", "update screen")), reported), reported);
        assert_eq!(report(Some((Instant::now(), "tick", "tick")), None), None);
        assert_eq!(report(None, reported), None);
    }
}
