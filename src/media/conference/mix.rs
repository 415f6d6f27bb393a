//! The host's sound in a call of several stations, sans-IO: each remote hears the host
//! and the other remotes but never itself (a mix-minus per leg), and the host's speaker
//! plays every remote. Decoded audio goes in per leg as it arrives; every 10 ms tick of
//! the host's microphone takes one chunk of each and gives the mixes out.

use std::collections::VecDeque;

/// Samples per tick: 10 ms at 48 kHz mono.
pub const CHUNK: usize = 480;
/// Audio kept per leg before its oldest is dropped (120 ms): a leg whose packets burst in
/// after a stall must not grow memory, nor delay its sound for the rest of the call.
const MAX_BUFFERED: usize = CHUNK * 12;

/// One tick's mixes.
#[derive(Debug, Clone, PartialEq)]
pub struct Mixes {
    /// What the host's speaker plays: every remote.
    pub speaker: Vec<i16>,
    /// What each leg is sent, in leg order: the host and every other remote.
    pub legs: Vec<Vec<i16>>,
}

/// The audio waiting from each leg.
#[derive(Debug, Default)]
pub struct AudioMix {
    pending: Vec<VecDeque<i16>>,
    dropped: u64,
}

impl AudioMix {
    /// A mix of `legs` remotes.
    pub fn new(legs: usize) -> Self {
        Self {
            pending: vec![VecDeque::new(); legs],
            dropped: 0,
        }
    }

    /// Decoded audio from leg `leg` (48 kHz mono); unknown legs are ignored.
    pub fn push(&mut self, leg: usize, samples: &[i16]) {
        let Some(queue) = self.pending.get_mut(leg) else { return };
        queue.extend(samples);
        let excess = queue.len().saturating_sub(MAX_BUFFERED);
        queue.drain(..excess);
        self.dropped += excess as u64;
    }

    /// Samples dropped because a leg sent more than could be played.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// One tick: takes as many samples from each leg as the microphone gave (silence
    /// where a leg has none yet) and mixes.
    pub fn tick(&mut self, mic: &[i16]) -> Mixes {
        let n = mic.len();
        let remotes: Vec<Vec<i32>> = self
            .pending
            .iter_mut()
            .map(|q| {
                let take = q.len().min(n);
                let mut chunk: Vec<i32> = q.drain(..take).map(i32::from).collect();
                chunk.resize(n, 0);
                chunk
            })
            .collect();
        let all: Vec<i32> = (0..n).map(|i| remotes.iter().map(|r| r[i]).sum()).collect();
        let saturate = |v: i32| v.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
        Mixes {
            speaker: all.iter().map(|v| saturate(*v)).collect(),
            legs: remotes
                .iter()
                .map(|own| (0..n).map(|i| saturate(mic[i] as i32 + all[i] - own[i])).collect())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_leg_hears_everyone_but_itself() {
        let mut mix = AudioMix::new(3);
        mix.push(0, &[100; CHUNK]);
        mix.push(1, &[20; CHUNK]);
        mix.push(2, &[3; CHUNK]);
        let out = mix.tick(&[1000; CHUNK]);
        assert_eq!(out.speaker, vec![123; CHUNK]);
        assert_eq!(out.legs[0], vec![1023; CHUNK]);
        assert_eq!(out.legs[1], vec![1103; CHUNK]);
        assert_eq!(out.legs[2], vec![1120; CHUNK]);
    }

    #[test]
    fn a_silent_leg_is_silence_and_loud_ones_saturate() {
        let mut mix = AudioMix::new(2);
        mix.push(0, &[30000; 100]);
        let out = mix.tick(&[10000; CHUNK]);
        assert_eq!(out.speaker[..100], [30000; 100]);
        assert_eq!(out.speaker[100..], [0; CHUNK - 100]);
        assert_eq!(out.legs[1][0], i16::MAX, "saturates, does not wrap");
        assert_eq!(out.legs[0], vec![10000; CHUNK]);
    }

    #[test]
    fn a_burst_is_bounded_and_unknown_legs_ignored() {
        let mut mix = AudioMix::new(1);
        mix.push(0, &vec![1; MAX_BUFFERED + CHUNK]);
        mix.push(7, &[1; CHUNK]);
        assert_eq!(mix.dropped(), CHUNK as u64);
        for _ in 0..MAX_BUFFERED / CHUNK {
            assert_eq!(mix.tick(&[0; CHUNK]).speaker, vec![1; CHUNK]);
        }
        assert_eq!(mix.tick(&[0; CHUNK]).speaker, vec![0; CHUNK]);
    }
}
