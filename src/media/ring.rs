//! Ring tones, synthesised (no files to ship or lose): a two-tone chime when a call rings
//! here, the European ringback (425 Hz, 1 s on, 4 s off) while our call rings there, and
//! a short rising blip, played once, when a text message arrives.

use crate::base::clock::lock_within;
use crate::device::{Shared, Speaker};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing::{debug, warn};

const RATE: u32 = 48000;
const CHUNK: usize = 960; // 20 ms

/// Which tone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Someone is at the door: ding-dong.
    Ringing,
    /// Our call rings at the other end.
    Ringback,
    /// A text message arrived: played once.
    Message,
}

impl Tone {
    /// Plays once and stops, rather than repeating until dropped.
    pub fn once(self) -> bool {
        self == Tone::Message
    }
}

/// (frequency Hz or 0 for silence, milliseconds) segments of one cycle.
pub fn cadence(tone: Tone) -> &'static [(f64, u32)] {
    match tone {
        Tone::Ringing => &[(660.0, 400), (550.0, 600), (0.0, 1500)],
        Tone::Ringback => &[(425.0, 1000), (0.0, 4000)],
        Tone::Message => &[(880.0, 120), (0.0, 60), (1320.0, 220), (0.0, 100)],
    }
}

/// Sample `n` of a cycle of `tone` (a cycle repeats forever).
pub fn sample(tone: Tone, n: u64) -> i16 {
    let segments = cadence(tone);
    let cycle: u64 = segments.iter().map(|(_, ms)| *ms as u64 * RATE as u64 / 1000).sum();
    let mut at = n % cycle;
    for (hz, ms) in segments {
        let len = *ms as u64 * RATE as u64 / 1000;
        if at < len {
            if *hz == 0.0 {
                return 0;
            }
            // A short fade at both ends avoids clicks.
            let fade = (at.min(len - at) as f64 / 240.0).min(1.0);
            let phase = std::f64::consts::TAU * hz * at as f64 / RATE as f64;
            return (phase.sin() * 8000.0 * fade) as i16;
        }
        at -= len;
    }
    0
}

/// A tone playing on the speaker until dropped.
pub struct Ringer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ringer {
    /// Starts playing `tone` on `speaker`.
    pub fn start(speaker: Shared<dyn Speaker>, tone: Tone) -> Ringer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ringer".into())
            .spawn(move || play(speaker, tone, flag))
            .map_err(|e| warn!(error = %e, "cannot start the ringer"))
            .ok();
        Ringer { stop, thread }
    }
}

/// How long stopping a tone waits for the speaker to let go.
const STOP_WAIT: Duration = Duration::from_secs(1);

impl Drop for Ringer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            // A stuck speaker holds the ringer in its write: the station goes on without it.
            if crate::base::clock::join_within(t, STOP_WAIT).is_err() {
                warn!("the ringer did not stop: the speaker is stuck");
            }
        }
    }
}

fn play(speaker: Shared<dyn Speaker>, tone: Tone, stop: Arc<AtomicBool>) {
    let Some(mut opening) = lock_within(&speaker, STOP_WAIT) else {
        warn!("cannot ring: the speaker is stuck");
        return;
    };
    if let Err(e) = opening.open(RATE, 1) {
        warn!(error = %e, "cannot ring: speaker unavailable");
        return;
    }
    drop(opening);
    let start = Instant::now();
    let cycle: u64 = cadence(tone)
        .iter()
        .map(|(_, ms)| *ms as u64 * RATE as u64 / 1000)
        .sum();
    let mut n = 0u64;
    let mut chunk = vec![0i16; CHUNK];
    let done = |n: u64| tone.once() && n >= cycle;
    while !stop.load(Ordering::SeqCst) && !done(n) {
        for (i, s) in chunk.iter_mut().enumerate() {
            *s = sample(tone, n + i as u64);
        }
        match lock_within(&speaker, Duration::from_millis(100)).map(|mut s| s.write(&chunk)) {
            Some(Ok(())) => {}
            Some(Err(e)) => debug!(error = %e, "ringer write failed"),
            None => debug!("speaker busy; a chunk of the tone skipped"),
        }
        n += CHUNK as u64;
        // Stay a chunk ahead of real time at most, whatever the speaker's buffering.
        let due = start + Duration::from_micros(n * 1_000_000 / RATE as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now() + Duration::from_millis(20)) {
            std::thread::sleep(wait);
        }
    }
    if let Some(mut s) = lock_within(&speaker, STOP_WAIT) {
        s.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::probe::estimate_tone;

    #[test]
    fn ringing_is_a_ding_dong_and_ringback_is_425_hz() {
        let ding: Vec<f64> = (0..9600).map(|n| sample(Tone::Ringing, n + 2400) as f64).collect();
        assert!((estimate_tone(&ding, RATE).unwrap() - 660.0).abs() < 3.0);
        let dong: Vec<f64> = (0..19200).map(|n| sample(Tone::Ringing, n + 21600) as f64).collect();
        assert!((estimate_tone(&dong, RATE).unwrap() - 550.0).abs() < 3.0);
        let back: Vec<f64> = (0..24000).map(|n| sample(Tone::Ringback, n + 12000) as f64).collect();
        assert!((estimate_tone(&back, RATE).unwrap() - 425.0).abs() < 3.0);
        let pause: Vec<f64> = (0..24000).map(|n| sample(Tone::Ringback, n + 60000) as f64).collect();
        assert_eq!(estimate_tone(&pause, RATE), None, "ringback pauses");
    }

    #[test]
    fn ringer_plays_until_dropped() {
        let speaker = crate::device::testdev::RecordingSpeaker::new();
        let probe = speaker.probe();
        let shared: Shared<dyn Speaker> = Arc::new(std::sync::Mutex::new(Box::new(speaker)));
        let ringer = Ringer::start(shared, Tone::Ringback);
        std::thread::sleep(Duration::from_millis(300));
        drop(ringer);
        let played = probe.lock().unwrap().samples;
        assert!(played >= 9600, "{played}");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(probe.lock().unwrap().samples, played, "silent once dropped");
        assert!((probe.lock().unwrap().tone_hz().unwrap() - 425.0).abs() < 5.0);
    }

    #[test]
    fn the_message_blip_plays_once() {
        let speaker = crate::device::testdev::RecordingSpeaker::new();
        let probe = speaker.probe();
        let shared: Shared<dyn Speaker> = Arc::new(std::sync::Mutex::new(Box::new(speaker)));
        let ringer = Ringer::start(shared, Tone::Message);
        std::thread::sleep(Duration::from_millis(900));
        let played = probe.lock().unwrap().samples;
        assert!((24000..=26000).contains(&played), "{played}");
        drop(ringer);
    }
}
