//! The device ends of a hosted call's legs: a leg's receive pipeline plays into the mix
//! rather than the speaker ([`LegSpeaker`]), and its send pipeline records its mix-minus
//! rather than the microphone ([`LegMicrophone`]). The send and receive pipelines stay
//! those of a two-station call.

use super::mix::AudioMix;
use crate::device::{DeviceError, Microphone, Speaker};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Leg `leg`'s decoded sound, into the mix.
pub struct LegSpeaker {
    pub(super) leg: usize,
    pub(super) mix: Arc<Mutex<AudioMix>>,
}

impl Speaker for LegSpeaker {
    fn open(&mut self, _rate: u32, _channels: u16) -> Result<(), DeviceError> {
        Ok(())
    }

    fn write(&mut self, samples: &[i16]) -> Result<(), DeviceError> {
        self.mix
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.leg, samples);
        Ok(())
    }

    fn close(&mut self) {}
}

/// Most a leg's mix-minus may queue (200 ms) when its encoder falls behind.
const MAX_QUEUED: usize = 9600;
/// How long a read waits for the mixer before it gives silence: the mixer runs on the
/// host's microphone, and a stalled one must not stall the legs' pipelines for good.
const READ_WAIT: Duration = Duration::from_millis(100);

/// What one leg is sent: the mixer fills it every tick, the leg's send pipeline reads.
#[derive(Default)]
pub struct LegMicrophone {
    queue: Arc<(Mutex<VecDeque<i16>>, Condvar)>,
}

impl LegMicrophone {
    /// Another handle on the same queue (the mixer keeps one, the pipeline the other).
    pub fn handle(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }

    /// The mixer's side: a tick's mix-minus for this leg.
    pub fn feed(&self, samples: &[i16]) {
        let (lock, ready) = &*self.queue;
        let mut q = lock.lock().unwrap_or_else(|e| e.into_inner());
        q.extend(samples);
        let excess = q.len().saturating_sub(MAX_QUEUED);
        q.drain(..excess);
        ready.notify_all();
    }
}

impl Microphone for LegMicrophone {
    fn open(&mut self, _rate: u32, _channels: u16) -> Result<(), DeviceError> {
        Ok(())
    }

    fn read(&mut self, buf: &mut [i16]) -> Result<usize, DeviceError> {
        let (lock, ready) = &*self.queue;
        let q = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (mut q, _) = ready
            .wait_timeout_while(q, READ_WAIT, |q| q.len() < buf.len())
            .unwrap_or_else(|e| e.into_inner());
        let take = q.len().min(buf.len());
        for (out, s) in buf.iter_mut().zip(q.drain(..take)) {
            *out = s;
        }
        buf[take..].fill(0);
        Ok(buf.len())
    }

    fn close(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leg_microphone_gives_what_was_fed_then_silence() {
        let mic = LegMicrophone::default();
        let mut reader = mic.handle();
        mic.feed(&[5; 480]);
        let mut buf = [1i16; 480];
        reader.read(&mut buf).unwrap();
        assert_eq!(buf, [5; 480]);
        let started = std::time::Instant::now();
        reader.read(&mut buf).unwrap();
        assert_eq!(buf, [0; 480], "nothing fed: silence after a short wait");
        assert!(started.elapsed() >= READ_WAIT);
        mic.feed(&vec![1; MAX_QUEUED * 2]);
        assert_eq!(mic.queue.0.lock().unwrap().len(), MAX_QUEUED);
    }
}
