//! Test sound from and to files, for measuring speech through a call: a microphone that
//! plays a recording in a loop, and a tape that the test speaker writes what it plays
//! to, with silence where it ran dry, as a sound card plays silence when it underruns.

use super::super::{DeviceError, Microphone};
use super::Pacer;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The longest recording the microphone plays: 10 minutes at 48 kHz.
const MAX_SAMPLES: usize = 48_000 * 600;

/// A microphone that plays a raw recording (signed 16-bit little-endian, mono, 48 kHz)
/// over and over.
pub struct FileMicrophone {
    path: PathBuf,
    samples: Vec<i16>,
    at: usize,
    channels: u16,
    pacer: Option<Pacer>,
}

impl FileMicrophone {
    /// A microphone that will play `path` once opened.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            samples: Vec::new(),
            at: 0,
            channels: 1,
            pacer: None,
        }
    }
}

impl Microphone for FileMicrophone {
    fn open(&mut self, rate: u32, channels: u16) -> Result<(), DeviceError> {
        if rate != 48_000 {
            return Err(DeviceError::Unsupported(format!(
                "the file microphone plays 48 kHz, not {rate} Hz"
            )));
        }
        if self.samples.is_empty() {
            let bytes =
                std::fs::read(&self.path).map_err(|e| DeviceError::Lost(format!("{}: {e}", self.path.display())))?;
            self.samples = bytes
                .chunks_exact(2)
                .take(MAX_SAMPLES)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
            if self.samples.is_empty() {
                return Err(DeviceError::Lost(format!("{}: no sound in it", self.path.display())));
            }
        }
        self.channels = channels.max(1);
        self.pacer = Some(Pacer::new(rate as u64));
        Ok(())
    }

    fn read(&mut self, buf: &mut [i16]) -> Result<usize, DeviceError> {
        let pacer = self
            .pacer
            .as_mut()
            .ok_or_else(|| DeviceError::Lost("file microphone is not open".into()))?;
        for frame in buf.chunks_mut(self.channels as usize) {
            frame.fill(self.samples[self.at]);
            self.at = (self.at + 1) % self.samples.len();
        }
        pacer.wait((buf.len() / self.channels as usize) as u64);
        Ok(buf.len())
    }

    fn close(&mut self) {
        self.pacer = None;
    }
}

/// What a test speaker played, on a file: first channel, at the rate it was opened
/// with, in real time. When sound comes later than the card would have played the
/// last of it (past `slack`), the gap is written as silence.
pub struct SpeakerTape {
    file: BufWriter<File>,
    started: Option<Instant>,
    rate: u32,
    written: u64,
}

/// How far the tape may run dry before the gap counts as silence: a sound card's
/// buffer.
const SLACK_MS: u64 = 60;

impl SpeakerTape {
    /// A tape on `path`, emptied first.
    pub fn create(path: &Path) -> Result<Self, DeviceError> {
        let file = File::create(path).map_err(|e| DeviceError::Lost(format!("{}: {e}", path.display())))?;
        Ok(Self {
            file: BufWriter::new(file),
            started: None,
            rate: 48_000,
            written: 0,
        })
    }

    /// The speaker was opened at `rate`.
    pub fn open(&mut self, rate: u32) {
        self.rate = rate.max(1);
    }

    /// Sound played now: the first channel of `frames`.
    pub fn play(&mut self, first_channel: impl Iterator<Item = i16>) -> Result<(), DeviceError> {
        let started = *self.started.get_or_insert_with(Instant::now);
        let due = started.elapsed().as_micros() as u64 * self.rate as u64 / 1_000_000;
        let slack = SLACK_MS * self.rate as u64 / 1000;
        let lost = |e: std::io::Error| DeviceError::Lost(format!("speaker tape: {e}"));
        if due > self.written + slack {
            let gap = due - self.written;
            for _ in 0..gap {
                self.file.write_all(&0i16.to_le_bytes()).map_err(lost)?;
            }
            self.written += gap;
        }
        for s in first_channel {
            self.file.write_all(&s.to_le_bytes()).map_err(lost)?;
            self.written += 1;
        }
        self.file.flush().map_err(lost)
    }
}
