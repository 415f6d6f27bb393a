//! The ALSA backend (alsa crate): capture and playback of 16-bit samples with short
//! periods (about 10 ms) for low latency, recovery from xruns, and `Lost` for a sound
//! card that went away, so the media feeders reopen it when it returns.

use super::{DeviceError, Microphone, Speaker};
use alsa::pcm::{Access, Format, HwParams, PCM};
use alsa::{Direction, ValueOr};
use serde::Serialize;
use tracing::{info, warn};

/// A sound card and its PCM devices.
#[derive(Debug, Clone, Serialize)]
pub struct SoundDeviceInfo {
    /// PCM name to put in the config (`hw:CARD=Loopback,DEV=0`, `default`...).
    pub name: String,
    /// What ALSA says it is.
    pub description: String,
    /// "Input", "Output" or both (None).
    pub direction: Option<String>,
}

/// Lists cards and PCM names ALSA knows.
pub fn list() -> Vec<SoundDeviceInfo> {
    let Ok(hints) = alsa::device_name::HintIter::new_str(None, "pcm") else {
        return vec![];
    };
    hints
        .filter_map(|h| {
            Some(SoundDeviceInfo {
                name: h.name?,
                description: h.desc.unwrap_or_default().replace('\n', " "),
                direction: h.direction.map(|d| format!("{d:?}")),
            })
        })
        .collect()
}

/// Names of the sound cards present.
pub fn cards() -> Vec<String> {
    alsa::card::Iter::new()
        .filter_map(|c| c.ok())
        .map(|c| {
            c.get_longname()
                .or_else(|_| c.get_name())
                .unwrap_or_else(|_| "unnamed card".into())
        })
        .collect()
}

fn classify(device: &str, e: alsa::Error) -> DeviceError {
    let what = format!("sound device {device}: {e}");
    match e.errno() {
        libc::EPIPE | libc::ESTRPIPE | libc::EAGAIN | libc::EINTR => DeviceError::Temporary(what),
        libc::ENOENT => DeviceError::Missing(what),
        libc::EINVAL => DeviceError::Unsupported(what),
        _ => DeviceError::Lost(what),
    }
}

/// An open PCM with the channel count the hardware accepted.
struct OpenPcm {
    pcm: PCM,
    channels: usize,
}

/// How long a write waits for room on a card that takes nothing before it is called
/// stuck (a healthy card frees a 10 ms period every 10 ms).
const STUCK_AFTER_MS: u32 = 300;
/// How long closing a speaker waits for what it holds to play out.
const DRAIN_MS: u64 = 250;

fn open_pcm(device: &str, dir: Direction, rate: u32, channels: u16) -> Result<OpenPcm, DeviceError> {
    let err = |e| classify(device, e);
    // Playback never blocks: a card that stops taking sound without going away must not
    // hold the thread that writes (and the speaker's lock) for the kernel's 10 s.
    let pcm = PCM::new(device, dir, dir == Direction::Playback).map_err(err)?;
    let got_channels;
    {
        let hw = HwParams::any(&pcm).map_err(err)?;
        hw.set_access(Access::RWInterleaved).map_err(err)?;
        hw.set_format(Format::s16()).map_err(err)?;
        // Many cards only do stereo; we up- or down-mix ourselves.
        got_channels = hw.set_channels_near(channels as u32).map_err(err)?;
        let got_rate = hw.set_rate_near(rate, ValueOr::Nearest).map_err(err)?;
        if got_rate != rate {
            return Err(DeviceError::Unsupported(format!(
                "sound device {device} cannot run at {rate} Hz (offers {got_rate} Hz)"
            )));
        }
        // About 10 ms periods and four of them: low latency with room for a busy CPU.
        hw.set_period_size_near((rate / 100) as alsa::pcm::Frames, ValueOr::Nearest)
            .map_err(err)?;
        hw.set_buffer_size_near((rate / 25) as alsa::pcm::Frames).map_err(err)?;
        pcm.hw_params(&hw).map_err(err)?;
    }
    pcm.prepare().map_err(err)?;
    info!(%device, ?dir, rate, channels = got_channels, "sound device open");
    Ok(OpenPcm {
        pcm,
        channels: got_channels as usize,
    })
}

fn read_frames(
    open: &OpenPcm,
    device: &str,
    scratch: &mut Vec<i16>,
    buf: &mut [i16],
    want_channels: usize,
) -> Result<usize, DeviceError> {
    let frames = buf.len() / want_channels;
    scratch.resize(frames * open.channels, 0);
    let io = open.pcm.io_i16().map_err(|e| classify(device, e))?;
    match io.readi(scratch) {
        Ok(n) => {
            // Keep the first channel of each frame, copied to every wanted channel.
            for (i, frame) in scratch.chunks(open.channels).take(n).enumerate() {
                buf[i * want_channels..(i + 1) * want_channels].fill(frame[0]);
            }
            Ok(n * want_channels)
        }
        Err(e) => {
            // An overrun: recover in place; the caller reads again.
            if open.pcm.try_recover(e, true).is_ok() {
                warn!(%device, "capture overrun recovered");
                return Err(DeviceError::Temporary(format!("{device}: overrun")));
            }
            Err(classify(device, e))
        }
    }
}

/// Plays `samples`, waiting at most `wait_ms` for room each time the card is full.
fn write_frames(
    open: &OpenPcm,
    device: &str,
    scratch: &mut Vec<i16>,
    samples: &[i16],
    in_channels: usize,
    wait_ms: u32,
) -> Result<(), DeviceError> {
    scratch.clear();
    for frame in samples.chunks(in_channels) {
        for c in 0..open.channels {
            scratch.push(frame[c.min(frame.len() - 1)]);
        }
    }
    let io = open.pcm.io_i16().map_err(|e| classify(device, e))?;
    let (mut done, mut recoveries) = (0, 0);
    while done < scratch.len() {
        match io.writei(&scratch[done..]) {
            Ok(frames) => done += frames * open.channels,
            Err(e) if e.errno() == libc::EAGAIN => match open.pcm.wait(Some(wait_ms)) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(DeviceError::Stuck(format!(
                        "sound device {device} takes no sound (nothing played for {wait_ms} ms)"
                    )))
                }
                Err(e) => return Err(classify(device, e)),
            },
            // An underrun (the far end's audio came late): recover and carry on.
            Err(e) if recoveries < 3 && open.pcm.try_recover(e, true).is_ok() => recoveries += 1,
            Err(e) => return Err(classify(device, e)),
        }
    }
    Ok(())
}

/// An ALSA capture device.
pub struct AlsaMicrophone {
    device: String,
    open: Option<OpenPcm>,
    want_channels: usize,
    scratch: Vec<i16>,
}

impl AlsaMicrophone {
    /// Capture from `device` (`default`, `hw:1,0`, `plughw:CARD=Loopback,DEV=1`...).
    pub fn new(device: &str) -> Self {
        Self {
            device: device.into(),
            open: None,
            want_channels: 1,
            scratch: Vec::new(),
        }
    }
}

impl Microphone for AlsaMicrophone {
    fn open(&mut self, rate: u32, channels: u16) -> Result<(), DeviceError> {
        self.open = None;
        self.want_channels = channels.max(1) as usize;
        self.open = Some(open_pcm(&self.device, Direction::Capture, rate, channels)?);
        Ok(())
    }

    fn read(&mut self, buf: &mut [i16]) -> Result<usize, DeviceError> {
        let (device, scratch, channels) = (&self.device, &mut self.scratch, self.want_channels);
        with_open_pcm(&mut self.open, device, |pcm| {
            read_frames(pcm, device, scratch, buf, channels)
        })
    }

    fn close(&mut self) {
        self.open = None;
    }
}

/// Runs `io` on the open PCM; a device that is gone is forgotten, so the caller's next
/// `open` starts afresh.
fn with_open_pcm<T>(
    open: &mut Option<OpenPcm>,
    device: &str,
    io: impl FnOnce(&OpenPcm) -> Result<T, DeviceError>,
) -> Result<T, DeviceError> {
    let pcm = open
        .as_ref()
        .ok_or_else(|| DeviceError::Lost(format!("{device} is not open")))?;
    let result = io(pcm);
    if matches!(result, Err(DeviceError::Lost(_))) {
        *open = None;
    }
    result
}

/// An ALSA playback device.
pub struct AlsaSpeaker {
    device: String,
    open: Option<OpenPcm>,
    in_channels: usize,
    scratch: Vec<i16>,
    /// The last write found the card stuck: the next ones do not wait for it again.
    stuck: bool,
}

impl AlsaSpeaker {
    /// Play to `device`.
    pub fn new(device: &str) -> Self {
        Self {
            device: device.into(),
            open: None,
            in_channels: 1,
            scratch: Vec::new(),
            stuck: false,
        }
    }
}

impl Speaker for AlsaSpeaker {
    fn open(&mut self, rate: u32, channels: u16) -> Result<(), DeviceError> {
        self.open = None;
        self.in_channels = channels.max(1) as usize;
        self.open = Some(open_pcm(&self.device, Direction::Playback, rate, channels)?);
        Ok(())
    }

    fn write(&mut self, samples: &[i16]) -> Result<(), DeviceError> {
        let (device, scratch, channels) = (&self.device, &mut self.scratch, self.in_channels);
        let wait_ms = if self.stuck { 0 } else { STUCK_AFTER_MS };
        let result = with_open_pcm(&mut self.open, device, |pcm| {
            write_frames(pcm, device, scratch, samples, channels, wait_ms)
        });
        self.stuck = matches!(result, Err(DeviceError::Stuck(_)));
        result
    }

    fn close(&mut self) {
        let Some(open) = self.open.take() else { return };
        // Non-blocking, drain starts the play-out and returns; what a stuck card still
        // holds is dropped when the PCM closes.
        if !self.stuck && open.pcm.drain().is_err() {
            let deadline = std::time::Instant::now() + std::time::Duration::from_millis(DRAIN_MS);
            while open.pcm.state() == alsa::pcm::State::Draining && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        self.stuck = false;
    }

    fn volume_control(&mut self) -> Option<Box<dyn super::VolumeControl>> {
        Some(Box::new(AlsaVolume {
            device: self.device.clone(),
            found: None,
        }))
    }
}

/// The volume control of the card an ALSA speaker plays on, looked up when first set
/// and again after it failed (a card that went away and came back).
struct AlsaVolume {
    device: String,
    found: Option<super::alsa_mixer::HardwareVolume>,
}

impl super::VolumeControl for AlsaVolume {
    fn set(&mut self, level: f64) -> Result<(), DeviceError> {
        if self.found.is_none() {
            self.found = super::alsa_mixer::HardwareVolume::find(&self.device);
        }
        let Some(control) = &self.found else {
            return Err(DeviceError::Unsupported(format!("{}: no volume control", self.device)));
        };
        let result = control.set(level);
        if let Err(e) = &result {
            warn!(device = %self.device, control = control.control(), error = %e, "cannot set the speaker volume");
            self.found = None;
        }
        result.map_err(|e| classify(&self.device, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_sound_device_is_reported_not_panicked() {
        let mut mic = AlsaMicrophone::new("hw:CARD=NoSuchCard,DEV=0");
        let err = mic.open(48000, 1).unwrap_err();
        assert!(err.to_string().contains("NoSuchCard"), "{err}");
        let mut buf = [0i16; 480];
        assert!(
            matches!(mic.read(&mut buf), Err(DeviceError::Lost(_))),
            "reading a closed device"
        );
        let mut speaker = AlsaSpeaker::new("hw:CARD=NoSuchCard,DEV=0");
        assert!(speaker.open(48000, 1).is_err());
        assert!(matches!(speaker.write(&buf), Err(DeviceError::Lost(_))));
    }
}
