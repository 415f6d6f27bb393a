//! `doorway bench`: glass-to-glass latency and CPU cost of a loopback call with software
//! codecs, beside a same-work reference measured in the same run (a plain GStreamer
//! program doing the call's media and nothing else: [`reference`]), and the same call
//! between paired stations (TLS and SRTP) to price the encryption.
//!
//! All cases use the same pattern camera, tone, encoder settings and screen size, so
//! latency and CPU mean the same thing: capture → encode → RTP → decode → picture on
//! the screen, both ways, with Opus both ways and RTCP. CPU is split by part (encode,
//! decode, audio, composition, the rest) from the threads each part runs on, and our
//! own whole-picture copies are counted per frame.

use doorway::api::loopback::{self as demo, wait_for};
use doorway::base::copies;
use doorway::call::machine::State;
use doorway::device::probe;
use doorway::media::parts;
use doorway::station::{self, Command};
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

mod report;
pub use report::{BenchReport, CaseFigures, CpuParts};

/// Benchmark errors.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// GStreamer or the stations failed.
    #[error("{0}")]
    Failed(String),
}

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct BenchOptions {
    /// Seconds to measure each case (spread over the rounds).
    pub seconds: u64,
    /// Camera and sent picture size.
    pub size: (u32, u32),
    /// Screen size of both stations.
    pub screen: (u32, u32),
    /// Also measure the encoder settings' picture quality.
    pub quality: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            seconds: 20,
            size: (640, 360),
            screen: (1280, 800),
            quality: true,
        }
    }
}

mod srtp;

pub mod host;

mod reference;

pub mod quality;
mod scores;

fn cpu_seconds() -> f64 {
    let usage = rusage();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn rusage() -> libc::rusage {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage
}

/// Context switches of the whole process so far (voluntary and forced).
fn context_switches() -> u64 {
    let usage = rusage();
    (usage.ru_nvcsw + usage.ru_nivcsw) as u64
}

/// Everything read at the start and end of a measurement window.
struct Reading {
    cpu: f64,
    threads: HashMap<u32, (String, f64)>,
    converting: f64,
    drawing: (f64, f64),
    switches: u64,
    copies: [u64; 3],
    cover: u64,
}

impl Reading {
    fn now() -> Self {
        Self {
            cpu: cpu_seconds(),
            threads: parts::threads(),
            converting: parts::converting_cpu_seconds(),
            drawing: doorway::ui::compositor::drawing_cpu_seconds(),
            switches: context_switches(),
            copies: [copies::Path::Send, copies::Path::Receive, copies::Path::Overlay].map(copies::total),
            cover: copies::cover_pixels(),
        }
    }
}

/// One measurement window of a case: two sides, so per-station figures are halves.
struct Window {
    latencies: Vec<f64>,
    seconds: f64,
    cpu: f64,
    parts: CpuParts,
    switches: u64,
    copies: [u64; 3],
    cover: u64,
    frames_sent: u64,
    frames_shown: u64,
}

impl Window {
    fn between(start: &Reading, end: &Reading, seconds: f64, latencies: Vec<f64>, frames: (u64, u64)) -> Self {
        let names = parts::by_name(&start.threads, &end.threads);
        let sum = |f: &dyn Fn(&str) -> bool| names.iter().filter(|(n, _)| f(n)).map(|(_, c)| c).sum::<f64>();
        let cpu = end.cpu - start.cpu;
        let converting = end.converting - start.converting;
        let pictures = end.drawing.0 - start.drawing.0;
        let screens = end.drawing.1 - start.drawing.1;
        let encode = sum(&|n| n.starts_with("camera-src"));
        let decode = (sum(&|n| n == parts::VIDEO_RECEIVE) - converting - pictures).max(0.0);
        let audio = sum(&|n| n.starts_with("mic-src") || n == parts::AUDIO_RECEIVE || n == "microphone");
        let composition = converting + pictures + screens;
        Self {
            latencies,
            seconds,
            cpu,
            parts: CpuParts {
                encode,
                decode,
                audio,
                composition,
                rest: (cpu - encode - decode - audio - composition).max(0.0),
            },
            switches: end.switches - start.switches,
            copies: [0, 1, 2].map(|i| end.copies[i] - start.copies[i]),
            cover: end.cover - start.cover,
            frames_sent: frames.0,
            frames_shown: frames.1,
        }
    }
}

fn figures(windows: &[Window], screen: (u32, u32)) -> CaseFigures {
    let latencies: Vec<f64> = windows.iter().flat_map(|w| w.latencies.iter().copied()).collect();
    let seconds: f64 = windows.iter().map(|w| w.seconds).sum::<f64>().max(1.0);
    // Two stations (or two reference sides) per window: per station, per minute.
    let per_minute = |s: f64| s / 2.0 * 60.0 / seconds;
    let total = |f: &dyn Fn(&Window) -> f64| windows.iter().map(f).sum::<f64>();
    let sent = total(&|w| w.frames_sent as f64).max(1.0);
    let shown = total(&|w| w.frames_shown as f64).max(1.0);
    CaseFigures {
        p50_ms: probe::percentile(latencies.clone(), 50.0).unwrap_or(f64::NAN),
        p95_ms: probe::percentile(latencies.clone(), 95.0).unwrap_or(f64::NAN),
        frames: latencies.len(),
        cpu_s_per_call_minute: per_minute(total(&|w| w.cpu)),
        parts: CpuParts {
            encode: per_minute(total(&|w| w.parts.encode)),
            decode: per_minute(total(&|w| w.parts.decode)),
            audio: per_minute(total(&|w| w.parts.audio)),
            composition: per_minute(total(&|w| w.parts.composition)),
            rest: per_minute(total(&|w| w.parts.rest)),
        },
        switches_per_second: total(&|w| w.switches as f64) / 2.0 / seconds,
        send_copies_per_frame: total(&|w| w.copies[0] as f64) / sent,
        receive_copies_per_frame: total(&|w| w.copies[1] as f64) / shown,
        still_copies_per_second: total(&|w| w.copies[2] as f64) / 2.0 / seconds,
        cover_per_frame: total(&|w| w.cover as f64) / shown / (screen.0 as f64 * screen.1 as f64).max(1.0),
    }
}

/// Rounds per case; alternating the cases spreads the machine's noise over all.
const ROUNDS: u64 = 4;

fn failed(e: impl fmt::Display) -> BenchError {
    BenchError::Failed(e.to_string())
}

/// Runs every case for `options.seconds` each and returns the figures.
pub fn run(options: BenchOptions) -> Result<BenchReport, BenchError> {
    doorway::media::init().map_err(failed)?;
    let rt = tokio::runtime::Runtime::new().map_err(failed)?;
    let window = (options.seconds / ROUNDS).max(1);
    let settings = settings(options)?;
    let (mut reference_windows, mut doorway_windows, mut secured_windows) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        reference_windows.push(reference_call(&settings, options, window)?);
        // The two calls take turns going first, so neither always follows the other.
        for secured in [round % 2 == 1, round % 2 == 0] {
            let figures = rt.block_on(doorway_call(options, window, secured))?;
            if secured {
                secured_windows.push(figures);
            } else {
                doorway_windows.push(figures);
            }
        }
    }
    let srtp_cpu_s_per_call_minute = srtp::srtp_cpu_per_call_minute(options.seconds)?;
    let quality = if options.quality {
        let (w, h) = options.size;
        Some(quality::measure(w, h, settings.fps, settings.bitrate_kbps, 90)?)
    } else {
        None
    };
    Ok(BenchReport {
        options,
        encoder: settings.codecs.h264_encoder.clone(),
        decoder: settings.codecs.h264_decoder.clone(),
        bitrate_kbps: settings.bitrate_kbps,
        reference: figures(&reference_windows, options.screen),
        doorway: figures(&doorway_windows, options.screen),
        secured: figures(&secured_windows, options.screen),
        srtp_cpu_s_per_call_minute,
        quality,
    })
}

/// The stations' configuration for the bench.
fn station_config(options: BenchOptions, a: &str, b: &str) -> (doorway::config::Config, doorway::config::Config) {
    let (mut a_cfg, mut b_cfg) = demo::loopback_pair(a, b);
    b_cfg.contacts[0].auto_answer = true;
    for c in [&mut a_cfg, &mut b_cfg] {
        (c.media.width, c.media.height) = options.size;
        c.devices.display = format!("test:{}x{}", options.screen.0, options.screen.1);
    }
    (a_cfg, b_cfg)
}

/// The media settings the stations run with (same codecs, same encoder settings), for
/// the reference.
fn settings(options: BenchOptions) -> Result<doorway::media::MediaSettings, BenchError> {
    let (config, _) = station_config(options, "Bench A", "Bench B");
    let m = &config.media;
    Ok(doorway::media::MediaSettings {
        width: m.width,
        height: m.height,
        fps: m.fps,
        bitrate_kbps: m.video_bitrate_kbps,
        jitter_ms: m.jitter_ms,
        codecs: doorway::media::codecs::probe(true).map_err(failed)?,
        screen: Some(options.screen),
        echo_probe: None,
    })
}

/// How long a call may take to show its first picture before the run fails (encoders
/// start slowly on a busy machine).
const FIRST_PICTURE_WITHIN: Duration = Duration::from_secs(30);

fn reference_call(
    settings: &doorway::media::MediaSettings,
    options: BenchOptions,
    seconds: u64,
) -> Result<Window, BenchError> {
    let (a, b) = reference::Ports::allocate_both()?;
    let sides = [
        reference::ReferenceSide::start(settings, options.screen, (a, b), probe::station_tag("Bench A"), 880.0)?,
        reference::ReferenceSide::start(settings, options.screen, (b, a), probe::station_tag("Bench B"), 1020.0)?,
    ];
    // Measured from when pictures flow both ways: on a busy machine the encoders take
    // seconds to start.
    // A decoded picture is not enough: the first ones after a lost packet are smeared
    // until the next keyframe, and their code cannot be read.
    let flowing = Instant::now();
    while sides.iter().any(|s| s.probe.lock().unwrap().latencies.is_empty()) {
        if flowing.elapsed() > FIRST_PICTURE_WITHIN {
            let seen = reference_figures(&sides);
            for side in sides {
                side.stop();
            }
            return Err(failed(format!(
                "the reference call showed no readable picture within {} s ({seen})",
                FIRST_PICTURE_WITHIN.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    for side in &sides {
        side.probe.lock().unwrap().latencies.clear();
    }
    let count = |sides: &[reference::ReferenceSide; 2]| {
        let load = |f: &dyn Fn(&reference::ReferenceSide) -> u64| sides.iter().map(f).sum::<u64>();
        (
            load(&|s| s.frames_sent.load(std::sync::atomic::Ordering::Relaxed)),
            load(&|s| s.frames_decoded.load(std::sync::atomic::Ordering::Relaxed)),
        )
    };
    let (start, frames0) = (Reading::now(), count(&sides));
    std::thread::sleep(Duration::from_secs(seconds));
    let (end, frames1) = (Reading::now(), count(&sides));
    let latencies: Vec<f64> = sides
        .iter()
        .flat_map(|s| s.probe.lock().unwrap().latencies.clone())
        .collect();
    let seen = reference_figures(&sides);
    for side in sides {
        side.stop();
    }
    if latencies.is_empty() {
        return Err(failed(format!(
            "the reference call's pictures stopped while measured ({seen})"
        )));
    }
    let frames = (frames1.0 - frames0.0, frames1.1 - frames0.1);
    Ok(Window::between(&start, &end, seconds as f64, latencies, frames))
}

/// What each side of the reference has sent, decoded and read, for a failure's message.
fn reference_figures(sides: &[reference::ReferenceSide; 2]) -> String {
    let side = |s: &reference::ReferenceSide| {
        let probe = s.probe.lock().unwrap();
        format!(
            "sent {}, decoded {}, read {}",
            s.frames_sent.load(std::sync::atomic::Ordering::Relaxed),
            s.frames_decoded.load(std::sync::atomic::Ordering::Relaxed),
            probe.recognised.values().sum::<u64>()
        )
    };
    format!("A {}; B {}", side(&sides[0]), side(&sides[1]))
}

/// A call between two stations; `secured`: paired first, so it goes over TLS with SRTP.
async fn doorway_call(options: BenchOptions, seconds: u64, secured: bool) -> Result<Window, BenchError> {
    let (a_cfg, b_cfg) = station_config(options, "Bench A", "Bench B");
    let (a, ta) = station::start(a_cfg).await.map_err(failed)?;
    let (b, tb) = station::start(b_cfg).await.map_err(failed)?;
    if secured {
        demo::pair_stations(&a, &b, "Bench B").await.map_err(failed)?;
    }
    a.call("Bench B").await.map_err(failed)?.map_err(failed)?;
    let active = |s: &station::Status| matches!(s.call, State::Active { .. });
    wait_for(&a, Duration::from_secs(10), active).await.map_err(failed)?;
    wait_for(&b, Duration::from_secs(10), active).await.map_err(failed)?;
    // Measured from when pictures flow both ways, as the reference is.
    let decoding = |s: &station::Status| !s.probes.latencies.is_empty();
    wait_for(&a, FIRST_PICTURE_WITHIN, decoding).await.map_err(failed)?;
    wait_for(&b, FIRST_PICTURE_WITHIN, decoding).await.map_err(failed)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    a.send(Command::ResetProbes).map_err(failed)?;
    b.send(Command::ResetProbes).map_err(failed)?;
    let frames = |s: &[&station::Status]| {
        let media = |f: &dyn Fn(&doorway::media::MediaStats) -> u64| {
            s.iter().filter_map(|s| s.media.as_ref()).map(f).sum::<u64>()
        };
        (media(&|m| m.frames_sent), media(&|m| m.frames_decoded))
    };
    let before = (a.status().await.map_err(failed)?, b.status().await.map_err(failed)?);
    let start = Reading::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let end = Reading::now();
    let (sa, sb) = (a.status().await.map_err(failed)?, b.status().await.map_err(failed)?);
    let mut latencies = sa.probes.latencies.clone();
    latencies.extend(sb.probes.latencies.iter());
    if !matches!(sa.call, State::Active { .. }) || latencies.is_empty() {
        return Err(failed("the benchmark call did not carry video"));
    }
    let encrypted = sa
        .media
        .as_ref()
        .and_then(|m| m.encryption_received.as_deref())
        .is_some_and(|e| e.starts_with("SRTP"));
    if encrypted != secured {
        return Err(failed(format!(
            "the {} call's media was {}",
            if secured { "secured" } else { "plain" },
            if encrypted { "encrypted" } else { "not encrypted" }
        )));
    }
    let (f0, f1) = (frames(&[&before.0, &before.1]), frames(&[&sa, &sb]));
    a.send(Command::Shutdown).ok();
    b.send(Command::Shutdown).ok();
    let _ = (ta.await, tb.await);
    let frames = (f1.0 - f0.0, f1.1 - f0.1);
    Ok(Window::between(&start, &end, seconds as f64, latencies, frames))
}

#[cfg(test)]
mod tests;
