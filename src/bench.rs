//! `doorway bench`: glass-to-glass latency and CPU cost of a loopback call at 640x360@30
//! with software codecs, beside a plain reference pipeline measured in the same run
//! (pattern source → x264enc zerolatency → RTP/UDP → depay → avdec_h264 → sink, no SIP),
//! and the same call between paired stations (TLS and SRTP) to price the encryption.
//!
//! Both cases use the same pattern camera and time code, so latency means the same thing:
//! capture → encode → RTP → decode → frame handed to the display.

use crate::call::machine::State;
use crate::demo::{self, wait_for};
use crate::device::probe::{self, DisplayProbe};
use crate::device::testdev::PatternCamera;
use crate::device::{Camera, PixelFormat, VideoFormat};
use crate::station::{self, Command};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Benchmark errors.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// GStreamer or the stations failed.
    #[error("{0}")]
    Failed(String),
}

/// Figures of one case.
#[derive(Debug, Clone)]
pub struct CaseFigures {
    /// Latency p50 in ms.
    pub p50_ms: f64,
    /// Latency p95 in ms.
    pub p95_ms: f64,
    /// Frames measured.
    pub frames: usize,
    /// CPU seconds per minute of one station's call (one encode + one decode).
    pub cpu_s_per_call_minute: f64,
}

/// The benchmark result.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// The reference pipeline.
    pub reference: CaseFigures,
    /// A doorway call between stations that are not paired (plain RTP).
    pub doorway: CaseFigures,
    /// The same call between paired stations: SIP over TLS, SRTP media.
    pub secured: CaseFigures,
    /// CPU seconds per call-minute SRTP adds to a station, measured on its own.
    pub srtp_cpu_s_per_call_minute: f64,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "glass-to-glass, 640x360@30, x264enc + avdec_h264 on loopback")?;
        writeln!(
            f,
            "{:<10} {:>8} {:>8} {:>8} {:>22}",
            "case", "p50 ms", "p95 ms", "frames", "CPU s per call-minute"
        )?;
        for (name, c) in [
            ("reference", &self.reference),
            ("doorway", &self.doorway),
            ("secured", &self.secured),
        ] {
            writeln!(
                f,
                "{:<10} {:>8.1} {:>8.1} {:>8} {:>22.1}",
                name, c.p50_ms, c.p95_ms, c.frames, c.cpu_s_per_call_minute
            )?;
        }
        let ratio = self.doorway.p50_ms / self.reference.p50_ms.max(0.1);
        let cpu_ratio = self.doorway.cpu_s_per_call_minute / self.reference.cpu_s_per_call_minute.max(0.01);
        writeln!(
            f,
            "p50 ratio doorway/reference: {ratio:.2} (target <= 1.20), p50 {:.1} ms (target <= 100)",
            self.doorway.p50_ms
        )?;
        writeln!(
            f,
            "CPU ratio doorway/reference: {cpu_ratio:.2} (doorway also carries Opus audio both ways, RTCP and draws the screen)"
        )?;
        let whole = self.secured.cpu_s_per_call_minute / self.doorway.cpu_s_per_call_minute.max(0.01);
        writeln!(
            f,
            "CPU ratio secured/doorway: {whole:.3} (whole calls, SIP over TLS and SRTP beside the same plain call)"
        )?;
        let alone = self.srtp_cpu_s_per_call_minute;
        write!(
            f,
            "SRTP on its own (a call's packets through srtpenc and srtpdec, AEAD_AES_128_GCM): {alone:.3} CPU s per call-minute, \
             {:.1}% of the plain call (target <= 5%)",
            100.0 * alone / self.doorway.cpu_s_per_call_minute.max(0.01)
        )
    }
}

#[path = "bench_srtp.rs"]
mod srtp_cost;

#[path = "bench_host.rs"]
pub mod host;

fn cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Latency samples and CPU seconds of one measurement window; both cases run two
/// directions, so CPU per station is half the process's.
struct Window {
    latencies: Vec<f64>,
    cpu: f64,
    seconds: f64,
}

fn figures(windows: &[Window]) -> CaseFigures {
    let latencies: Vec<f64> = windows.iter().flat_map(|w| w.latencies.iter().copied()).collect();
    let (cpu, seconds): (f64, f64) = windows
        .iter()
        .map(|w| (w.cpu, w.seconds))
        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    CaseFigures {
        p50_ms: probe::percentile(latencies.clone(), 50.0).unwrap_or(f64::NAN),
        p95_ms: probe::percentile(latencies.clone(), 95.0).unwrap_or(f64::NAN),
        frames: latencies.len(),
        cpu_s_per_call_minute: cpu / 2.0 * 60.0 / seconds.max(1.0),
    }
}

/// Rounds per case; alternating the cases spreads the machine's noise over both.
const ROUNDS: u64 = 4;

fn failed(e: impl fmt::Display) -> BenchError {
    BenchError::Failed(e.to_string())
}

/// Runs both cases for `seconds` each and returns the figures.
pub fn run(seconds: u64) -> Result<BenchReport, BenchError> {
    crate::media::init().map_err(failed)?;
    let rt = tokio::runtime::Runtime::new().map_err(failed)?;
    let window = (seconds / ROUNDS).max(1);
    let (mut reference_windows, mut doorway_windows, mut secured_windows) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        reference_windows.push(reference(window)?);
        // The two calls take turns going first, so neither always follows the other.
        for secured in [round % 2 == 1, round % 2 == 0] {
            let figures = rt.block_on(doorway_call(window, secured))?;
            if secured {
                secured_windows.push(figures);
            } else {
                doorway_windows.push(figures);
            }
        }
    }
    let srtp_cpu_s_per_call_minute = srtp_cost::srtp_cpu_per_call_minute(seconds)?;
    Ok(BenchReport {
        reference: figures(&reference_windows),
        doorway: figures(&doorway_windows),
        secured: figures(&secured_windows),
        srtp_cpu_s_per_call_minute,
    })
}

/// A call has two directions, so the reference runs two one-way pipelines at once: the
/// machine carries the same number of encoders and decoders in both cases.
fn reference(seconds: u64) -> Result<Window, BenchError> {
    let directions = [
        ReferencePipeline::start("reference A")?,
        ReferencePipeline::start("reference B")?,
    ];
    std::thread::sleep(Duration::from_secs(2));
    for d in &directions {
        d.probe.lock().unwrap().latencies.clear();
    }
    let cpu0 = cpu_seconds();
    std::thread::sleep(Duration::from_secs(seconds));
    let cpu = cpu_seconds() - cpu0;
    let latencies: Vec<f64> = directions
        .iter()
        .flat_map(|d| d.probe.lock().unwrap().latencies.clone())
        .collect();
    for d in directions {
        d.stop();
    }
    Ok(Window {
        latencies,
        cpu,
        seconds: seconds as f64,
    })
}

struct ReferencePipeline {
    pipeline: gst::Pipeline,
    probe: Arc<Mutex<DisplayProbe>>,
    stop: Arc<AtomicBool>,
    feeder: std::thread::JoinHandle<()>,
}

impl ReferencePipeline {
    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.pipeline.set_state(gst::State::Null);
        let _ = self.feeder.join();
    }

    fn start(name: &str) -> Result<Self, BenchError> {
        let port = crate::media::ports::allocate_pair([127, 0, 0, 1].into(), 40000, 40998, &[])
            .ok_or_else(|| failed("no free port"))?;
        let description = format!(
            "appsrc name=src is-live=true format=time do-timestamp=true \
           caps=video/x-raw,format=I420,width=640,height=360,framerate=30/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=1500 key-int-max=30 aud=false \
         ! rtph264pay pt=96 config-interval=-1 ! udpsink host=127.0.0.1 port={port} sync=false async=false \
         udpsrc port={port} caps=application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96 \
         ! rtph264depay ! avdec_h264 ! videoconvert ! appsink name=sink sync=false caps=video/x-raw,format=BGRx"
        );
        let pipeline = gst::parse::launch(&description)
            .map_err(failed)?
            .downcast::<gst::Pipeline>()
            .map_err(|_| failed("not a pipeline"))?;
        let src = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| failed("no appsrc"))?;
        let sink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| failed("no appsink"))?;
        let probe = Arc::new(Mutex::new(DisplayProbe::default()));
        let p = probe.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let (Some(buffer), Some(caps)) = (sample.buffer(), sample.caps()) {
                        if let (Ok(info), Ok(map)) =
                            (gstreamer_video::VideoInfo::from_caps(caps), buffer.map_readable())
                        {
                            let code = probe::read_bgrx(
                                map.as_slice(),
                                info.width(),
                                info.height(),
                                info.stride()[0] as usize,
                            );
                            p.lock().unwrap().record(code);
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        pipeline.set_state(gst::State::Playing).map_err(failed)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_feeder = stop.clone();
        let tag = probe::station_tag(name);
        let feeder = std::thread::spawn(move || {
            let mut camera = PatternCamera::new(tag);
            let format = VideoFormat {
                pixel: PixelFormat::I420,
                width: 640,
                height: 360,
                fps: 30,
            };
            if camera.open(format).is_err() {
                return;
            }
            while !stop_feeder.load(Ordering::SeqCst) {
                let Ok(frame) = camera.capture() else { break };
                if src.push_buffer(gst::Buffer::from_mut_slice(frame.data)).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            pipeline,
            probe,
            stop,
            feeder,
        })
    }
}

/// A call between two stations; `secured`: paired first, so it goes over TLS with SRTP.
async fn doorway_call(seconds: u64, secured: bool) -> Result<Window, BenchError> {
    let (a_cfg, mut b_cfg) = demo::loopback_pair("Bench A", "Bench B");
    b_cfg.contacts[0].auto_answer = true;
    let (a, ta) = station::start(a_cfg).await.map_err(failed)?;
    let (b, tb) = station::start(b_cfg).await.map_err(failed)?;
    if secured {
        demo::pair_stations(&a, &b, "Bench B").await.map_err(failed)?;
    }
    a.call("Bench B").await.map_err(failed)?.map_err(failed)?;
    let active = |s: &station::Status| matches!(s.call, State::Active { .. });
    wait_for(&a, Duration::from_secs(10), active).await.map_err(failed)?;
    wait_for(&b, Duration::from_secs(10), active).await.map_err(failed)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    a.send(Command::ResetProbes).map_err(failed)?;
    b.send(Command::ResetProbes).map_err(failed)?;
    let cpu0 = cpu_seconds();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = cpu_seconds() - cpu0;
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
    a.send(Command::Shutdown).ok();
    b.send(Command::Shutdown).ok();
    let _ = (ta.await, tb.await);
    Ok(Window {
        latencies,
        cpu,
        seconds: seconds as f64,
    })
}
