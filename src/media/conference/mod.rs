//! The media of a call this station hosts for two or three remote stations: each remote
//! hears the host and the others but not itself, and everyone sees one grid of the
//! host's camera and the remotes' pictures, composed once and encoded once.
//!
//! ```text
//!  leg k: UDP ─► RecvPipeline ─► video ─► Grid cell k+1 ─┐
//!                             └► sound ─► AudioMix leg k │
//!  camera ─────────────────────────────► Grid cell 0 ────┴► GridSender ─► tee ─► every leg
//!  microphone ─► AudioMix tick ─► speaker: every remote                     (SRTP per leg)
//!                            └──► leg k: host + other remotes ─► SendPipeline (audio) k
//! ```
//!
//! The legs' receive pipelines and audio send pipelines are those of a two-station call
//! with other device ends ([`ends`]); the grid and the mixes are plain Rust
//! ([`grid`], [`mix`]), so what each leg hears is checked without GStreamer.

pub mod ends;
pub mod grid;
pub mod mix;
pub mod video;

use super::keyframes::KeyframeSource;
use super::rate::RateTarget;
use super::recv::{Outlets, RecvPipeline};
use super::repair::RepairSource;
use super::resilience::LossFeedback;
use super::send::{SendPipeline, AUDIO_RATE};
use super::{MediaError, MediaSettings, VideoOut};
use crate::call::sdp::Negotiated;
use crate::device::{Camera, DeviceError, Devices, Microphone, Picture, PixelFormat, Shared, Speaker, VideoFormat};
use ends::{LegMicrophone, LegSpeaker};
use grid::Grid;
use gstreamer::prelude::*;
use mix::{AudioMix, CHUNK};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{info, info_span, warn};

/// Counts of a hosted call, per leg where it says so.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ConferenceStats {
    /// Grids composed and sent.
    pub grids_sent: u64,
    /// Frames decoded from each leg.
    pub frames_decoded: Vec<u64>,
    /// RTP packets received from each leg.
    pub packets_received: Vec<u64>,
    /// Milliseconds since each leg's last packet.
    pub ms_since_last_packet: Vec<Option<u64>>,
    /// Video packets sent again because each leg asked (NACK).
    pub video_packets_resent: Vec<u64>,
    /// Repairs of each leg's video received.
    pub video_repairs_received: Vec<u64>,
    /// The loss each leg's Opus encoder sends in-band FEC for, in percent (None where
    /// the leg did not ask for FEC).
    pub audio_fec_percent: Vec<Option<u32>>,
    /// The grid's video bitrate now, kbit/s: the worst leg's link sets it (None while
    /// no encoder follows the legs' reports).
    pub video_kbps: Option<u32>,
}

/// What carries one leg's reports to the host's encoders: its loss of sound to its
/// Opus encoder's FEC, its NACKs to its rtprtxsend, its reports to the grid's bitrate.
#[derive(Clone, Default)]
struct LegFeedback {
    loss: LossFeedback,
    repairs: RepairSource,
    rate: RateTarget,
}

/// The running media of a hosted call.
pub struct ConferenceMedia {
    stop: Arc<AtomicBool>,
    recv: Vec<Option<RecvPipeline>>,
    audio_send: Vec<Option<SendPipeline>>,
    grid_sender: Option<Arc<video::GridSender>>,
    threads: Vec<JoinHandle<()>>,
    grids_sent: Arc<AtomicU64>,
    keyframes: KeyframeSource,
    levels: Arc<Levels>,
    /// Where each leg's DTMF digits go.
    digits: Vec<crate::media::dtmf::DigitSlot>,
    /// Each leg's reports, to the host's encoders.
    feedback: Vec<LegFeedback>,
}

/// The host's speaker volume and microphone mute, read by the mixer every tick.
#[derive(Debug, Default)]
struct Levels {
    /// Speaker volume as f64 bits (1.0 = as received).
    volume_bits: AtomicU64,
    mic_muted: AtomicBool,
}

impl ConferenceMedia {
    /// Starts the media of `legs` (each remote's negotiation, in grid order; at most
    /// three). `video_out` shows the grid on the host's own screen.
    pub fn start(
        settings: &MediaSettings,
        legs: &[Negotiated],
        devices: &Devices,
        video_out: VideoOut,
    ) -> Result<Self, MediaError> {
        let legs = &legs[..legs.len().min(grid::CELLS - 1)];
        let stop = Arc::new(AtomicBool::new(false));
        let grid = Arc::new(Mutex::new(Grid::new(settings.width & !1, settings.height & !1)));
        let mix = Arc::new(Mutex::new(AudioMix::new(legs.len())));
        let keyframes = KeyframeSource::default();
        let mut this = Self {
            stop: stop.clone(),
            recv: Vec::new(),
            audio_send: Vec::new(),
            grid_sender: None,
            threads: Vec::new(),
            grids_sent: Arc::new(AtomicU64::new(0)),
            keyframes: keyframes.clone(),
            levels: Arc::new(Levels {
                volume_bits: AtomicU64::new(1.0f64.to_bits()),
                mic_muted: AtomicBool::new(false),
            }),
            digits: Vec::new(),
            feedback: vec![LegFeedback::default(); legs.len()],
        };
        // The legs' pictures go into the grid, as BGRx bytes, not to the screen.
        let into_grid = MediaSettings {
            screen: None,
            ..settings.clone()
        };
        let mut leg_mics = Vec::new();
        for (k, n) in legs.iter().enumerate() {
            let _span = info_span!("leg", leg = k).entered();
            let v = n.video.as_ref().filter(|v| v.rtp.direction.receives());
            let a = n.audio.as_ref().filter(|a| a.rtp.direction.receives());
            let cell = grid.clone();
            let outlets = Outlets {
                video_out: Arc::new(move |picture: Picture| {
                    if let Some(view) = picture.view() {
                        cell.lock().unwrap_or_else(|e| e.into_inner()).place(k + 1, view);
                    }
                }),
                speaker: Arc::new(Mutex::new(Box::new(LegSpeaker {
                    leg: k,
                    mix: mix.clone(),
                }))),
                audio_held: Default::default(),
                keyframes: keyframes.clone(),
                digits: Default::default(),
                loss: this.feedback[k].loss.clone(),
                repairs: this.feedback[k].repairs.clone(),
                rate: this.feedback[k].rate.clone(),
            };
            this.digits.push(outlets.digits.clone());
            let recv = (v.is_some() || a.is_some())
                .then(|| RecvPipeline::start(&into_grid, v, a, outlets, n.signalling_peer))
                .transpose()?;
            this.recv.push(recv);
            let mic = LegMicrophone::default();
            let sent = n.audio.as_ref().filter(|a| a.rtp.direction.sends());
            let send = match sent {
                Some(a) => {
                    let reader: Shared<dyn Microphone> = Arc::new(Mutex::new(Box::new(mic.handle())));
                    let no_camera: Shared<dyn Camera> = devices.camera.handle();
                    let send = SendPipeline::start(settings, None, Some(a), no_camera, reader, Arc::new(|_| {}))?;
                    let fec_encoder = send.pipeline.by_name("aenc").filter(|_| a.fec);
                    this.feedback[k].loss.set_encoder(fec_encoder);
                    Some(send)
                }
                None => None,
            };
            this.audio_send.push(send);
            leg_mics.push(mic);
        }
        let sending: Vec<_> = legs
            .iter()
            .enumerate()
            .filter_map(|(k, n)| Some((k, n.video.as_ref().filter(|v| v.rtp.direction.sends())?)))
            .collect();
        if !sending.is_empty() {
            let sender = Arc::new(video::GridSender::start(settings, &sending)?);
            keyframes.set(sender.payloader());
            for (k, _) in &sending {
                this.feedback[*k].repairs.set(sender.repairs_of(*k));
            }
            let rates: Vec<RateTarget> = sending.iter().map(|(k, _)| this.feedback[*k].rate.clone()).collect();
            RateTarget::share(&rates, sender.encoder().zip(sender.payloader()), settings.bitrate_kbps);
            this.grid_sender = Some(sender);
        }
        this.spawn_mixer(devices, mix, leg_mics)?;
        this.spawn_camera(settings, devices, grid, video_out)?;
        info!(legs = legs.len(), "hosting a call of {} stations", legs.len() + 1);
        Ok(this)
    }

    fn spawn(&mut self, name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), MediaError> {
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .map_err(|e| MediaError::Thread(e.to_string()))?;
        self.threads.push(handle);
        Ok(())
    }

    /// The mixer runs on the host's microphone: every 10 ms chunk it reads is one tick.
    fn spawn_mixer(
        &mut self,
        devices: &Devices,
        mix: Arc<Mutex<AudioMix>>,
        legs: Vec<LegMicrophone>,
    ) -> Result<(), MediaError> {
        let (microphone, speaker) = (devices.microphone.handle(), devices.speaker.clone());
        microphone
            .lock()
            .unwrap()
            .open(AUDIO_RATE, 1)
            .map_err(MediaError::Device)?;
        speaker
            .lock()
            .unwrap()
            .open(AUDIO_RATE, 1)
            .map_err(MediaError::Device)?;
        let (stop, levels) = (self.stop.clone(), self.levels.clone());
        self.spawn("mixer", move || {
            let _span = info_span!("mixer").entered();
            mix_until(&stop, &levels, microphone, speaker, mix, legs)
        })
    }

    /// Sends leg `leg`'s DTMF digits to `out` from now on.
    pub fn on_digit(&self, leg: usize, out: crate::media::dtmf::DigitOut) {
        if let Some(slot) = self.digits.get(leg) {
            *slot.lock().unwrap() = Some(out);
        }
    }

    /// Sets the speaker volume (1.0 = as received) and the microphone mute.
    pub fn set_levels(&self, volume: f64, mic_muted: bool) {
        self.levels.volume_bits.store(volume.to_bits(), Ordering::Relaxed);
        self.levels.mic_muted.store(mic_muted, Ordering::Relaxed);
    }

    /// The grid is composed at the camera's pace: each captured frame takes cell 0 and
    /// the grid as it stands goes out, to the legs and to the host's screen.
    fn spawn_camera(
        &mut self,
        settings: &MediaSettings,
        devices: &Devices,
        grid: Arc<Mutex<Grid>>,
        video_out: VideoOut,
    ) -> Result<(), MediaError> {
        let camera = devices.camera.handle();
        let want = VideoFormat {
            pixel: PixelFormat::I420,
            width: settings.width,
            height: settings.height,
            fps: settings.fps,
        };
        if let Err(e) = camera.lock().unwrap().open(want) {
            warn!(error = %e, "camera unavailable; its cell stays dark");
        }
        let (stop, sender, sent) = (self.stop.clone(), self.grid_sender.clone(), self.grids_sent.clone());
        let pause = Duration::from_millis(1000 / settings.fps.max(1) as u64);
        self.spawn("grid", move || {
            let _span = info_span!("grid").entered();
            while !stop.load(Ordering::SeqCst) {
                match camera.lock().unwrap().capture() {
                    Ok(frame) => {
                        if !grid.lock().unwrap_or_else(|e| e.into_inner()).place(0, frame.view()) {
                            warn!("the camera's frames cannot go in the grid (MJPEG)");
                        }
                    }
                    Err(DeviceError::Temporary(_)) => continue,
                    Err(_) => std::thread::sleep(pause),
                }
                let g = grid.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(sender) = &sender {
                    sender.push(g.view().data);
                }
                // The host's screen keeps the grid while the next one is composed.
                video_out.show(Picture::from_frame(g.to_frame()));
                sent.fetch_add(1, Ordering::Relaxed);
            }
            camera.lock().unwrap().close();
        })
    }

    /// Current counts.
    pub fn stats(&self) -> ConferenceStats {
        let count = |f: &dyn Fn(&RecvPipeline) -> u64| -> Vec<u64> {
            self.recv.iter().map(|r| r.as_ref().map_or(0, f)).collect()
        };
        ConferenceStats {
            grids_sent: self.grids_sent.load(Ordering::Relaxed),
            frames_decoded: count(&|r| r.counters.frames_decoded.load(Ordering::Relaxed)),
            packets_received: count(&|r| r.counters.packets.load(Ordering::Relaxed)),
            ms_since_last_packet: self
                .recv
                .iter()
                .map(|r| {
                    let last = r.as_ref()?.counters.last_packet_ms.load(Ordering::Relaxed);
                    (last > 0).then(|| crate::device::probe::monotonic_ms().saturating_sub(last))
                })
                .collect(),
            video_packets_resent: self.feedback.iter().map(|f| f.repairs.sent()).collect(),
            video_repairs_received: count(&|r| r.counters.video_repairs.load(Ordering::Relaxed)),
            audio_fec_percent: self.feedback.iter().map(|f| f.loss.fec_percent()).collect(),
            video_kbps: self.feedback.iter().find_map(|f| f.rate.kbps()),
        }
    }

    /// Stops everything and releases the devices.
    pub fn stop(mut self, devices: &Devices) {
        // The mixer's microphone handle closes as its thread ends.
        self.shutdown();
        devices.speaker.lock().unwrap().close();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.keyframes.set(None);
        for leg in &self.feedback {
            leg.loss.set_encoder(None);
            leg.repairs.set(None);
            leg.rate.set(None, 0);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        for s in self.audio_send.drain(..).flatten() {
            s.stop();
        }
        self.recv.clear();
        self.grid_sender = None;
    }
}

impl Drop for ConferenceMedia {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn mix_until(
    stop: &AtomicBool,
    levels: &Levels,
    microphone: Shared<dyn Microphone>,
    speaker: Shared<dyn Speaker>,
    mix: Arc<Mutex<AudioMix>>,
    legs: Vec<LegMicrophone>,
) {
    let mut chunk = vec![0i16; CHUNK];
    let mut lost = false;
    while !stop.load(Ordering::SeqCst) {
        match microphone.lock().unwrap().read(&mut chunk) {
            Ok(_) => lost = false,
            Err(DeviceError::Temporary(_)) => continue,
            Err(e) => {
                if !std::mem::replace(&mut lost, true) {
                    warn!(error = %e, "microphone lost; the others still hear each other");
                }
                chunk.fill(0);
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if levels.mic_muted.load(Ordering::Relaxed) {
            chunk.fill(0);
        }
        let mut mixes = mix.lock().unwrap_or_else(|e| e.into_inner()).tick(&chunk);
        let volume = f64::from_bits(levels.volume_bits.load(Ordering::Relaxed));
        if volume != 1.0 {
            for s in mixes.speaker.iter_mut() {
                *s = (*s as f64 * volume).clamp(i16::MIN as f64, i16::MAX as f64) as i16;
            }
        }
        if let Err(e) = speaker.lock().unwrap().write(&mixes.speaker) {
            warn!(error = %e, "speaker write failed");
        }
        for (leg, samples) in legs.iter().zip(&mixes.legs) {
            leg.feed(samples);
        }
    }
}
