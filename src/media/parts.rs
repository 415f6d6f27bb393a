//! Where a call's CPU goes, by part: the threads that run each part are named for it
//! (GStreamer names a streaming thread after its element and pad, and the threads a
//! codec starts take the name of the thread that started them), and the converter's
//! share of a decoding thread is timed on that thread. The benchmark reads the threads'
//! CPU from `/proc/self/task` before and after a measurement.

use gstreamer as gst;
use gstreamer::prelude::*;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Name of the thread that depayloads, decodes and shows the received video.
pub const VIDEO_RECEIVE: &str = "video-recv";
/// Name of the thread that depayloads, decodes and plays the received audio.
pub const AUDIO_RECEIVE: &str = "audio-recv";

use crate::base::clock::thread_cpu_ns;

/// Names the thread that carries `pad`'s data `name` before the first event or buffer
/// goes through (so the decoder's own threads, started at its first caps, take the
/// name too), and again whenever GStreamer gave the thread another task's name.
pub fn name_streaming_thread(pad: &gst::Pad, name: &'static str) {
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, _| {
            let mut now = [0u8; 16];
            // SAFETY: PR_GET_NAME writes at most 16 bytes into the buffer we own.
            unsafe { libc::prctl(libc::PR_GET_NAME, now.as_mut_ptr() as libc::c_ulong, 0, 0, 0) };
            if !now.starts_with(name.as_bytes()) || now.get(name.len()) != Some(&0) {
                if let Ok(c) = std::ffi::CString::new(name) {
                    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
                    unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr() as libc::c_ulong, 0, 0, 0) };
                }
            }
            gst::PadProbeReturn::Ok
        },
    );
}

/// CPU time spent converting and scaling received pictures for the screen, in
/// nanoseconds, all pipelines of the process together.
static CONVERTING_NS: AtomicU64 = AtomicU64::new(0);

/// CPU seconds spent converting and scaling received pictures for the screen.
pub fn converting_cpu_seconds() -> f64 {
    CONVERTING_NS.load(Ordering::Relaxed) as f64 / 1e9
}

thread_local! {
    static CONVERT_STARTED: Cell<u64> = const { Cell::new(0) };
}

/// Times `converter` (a synchronous transform: its output leaves on the thread its
/// input came in on) from each buffer in to the buffer out.
pub fn time_converter(converter: &gst::Element) {
    let (Some(sink), Some(src)) = (converter.static_pad("sink"), converter.static_pad("src")) else {
        return;
    };
    sink.add_probe(gst::PadProbeType::BUFFER, |_, _| {
        CONVERT_STARTED.with(|s| s.set(thread_cpu_ns()));
        gst::PadProbeReturn::Ok
    });
    src.add_probe(gst::PadProbeType::BUFFER, |_, _| {
        let started = CONVERT_STARTED.with(|s| s.replace(0));
        if started > 0 {
            CONVERTING_NS.fetch_add(thread_cpu_ns().saturating_sub(started), Ordering::Relaxed);
        }
        gst::PadProbeReturn::Ok
    });
}

/// CPU seconds of each thread of this process now, by thread id, with its name.
pub fn threads() -> HashMap<u32, (String, f64)> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else {
            continue;
        };
        let path = entry.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        // schedstat's first field: nanoseconds on a CPU.
        let cpu = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
            .map(|ns| ns / 1e9);
        if let Some(cpu) = cpu {
            out.insert(tid, (name.trim().to_string(), cpu));
        }
    }
    out
}

/// CPU seconds per thread name between two [`threads`] readings (threads that started
/// in between count from zero).
pub fn by_name(before: &HashMap<u32, (String, f64)>, after: &HashMap<u32, (String, f64)>) -> HashMap<String, f64> {
    let mut out: HashMap<String, f64> = HashMap::new();
    for (tid, (name, cpu)) in after {
        let start = before.get(tid).filter(|(n, _)| n == name).map_or(0.0, |(_, c)| *c);
        *out.entry(name.clone()).or_default() += (cpu - start).max(0.0);
    }
    out
}
