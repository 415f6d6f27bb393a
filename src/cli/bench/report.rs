//! The benchmark's figures and how they are printed.

use super::BenchOptions;
use std::fmt;

/// CPU seconds per call-minute of one station, by part.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuParts {
    /// Conversion of the camera's picture, H.264 encode, RTP payloading and sending:
    /// the camera source's streaming thread and the encoder's own threads.
    pub encode: f64,
    /// Receiving, jitter buffer, depayloading and H.264 decode: the thread that takes
    /// the received video, and the decoder's threads, less what it spends converting
    /// and drawing for the screen.
    pub decode: f64,
    /// Opus both ways: the microphone's threads, its source's streaming thread and the
    /// thread that takes the received audio.
    pub audio: f64,
    /// Conversion and scaling for the screen, and drawing the screen (timed where it
    /// runs).
    pub composition: f64,
    /// Everything else: capture (the test camera's drawing included), UDP receive,
    /// RTCP, SIP, the station's loop.
    pub rest: f64,
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
    /// CPU seconds per minute of one station's call (one encode + one decode, Opus
    /// both ways, the screen).
    pub cpu_s_per_call_minute: f64,
    /// The same by part.
    pub parts: CpuParts,
    /// Context switches per second of one station.
    pub switches_per_second: f64,
    /// Whole-picture copies our code made per frame sent, camera to wire.
    pub send_copies_per_frame: f64,
    /// Whole-picture copies our code made per frame shown, wire to screen.
    pub receive_copies_per_frame: f64,
    /// Copies of the screen's still parts into a display buffer, per second per
    /// station (when the screen changes, not per picture).
    pub still_copies_per_second: f64,
    /// The still parts copied back over each picture (the buttons and bands that cover
    /// it), as a share of the screen.
    pub cover_per_frame: f64,
}

/// The benchmark result.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// What was measured.
    pub options: BenchOptions,
    /// H.264 elements used by all cases.
    pub encoder: String,
    /// H.264 decoder.
    pub decoder: String,
    /// Video bitrate.
    pub bitrate_kbps: u32,
    /// The same-work reference: a plain GStreamer program doing the call's media.
    pub reference: CaseFigures,
    /// A doorway call between stations that are not paired (plain RTP).
    pub doorway: CaseFigures,
    /// The same call between paired stations: SIP over TLS, SRTP media.
    pub secured: CaseFigures,
    /// CPU seconds per call-minute SRTP adds to a station, measured on its own.
    pub srtp_cpu_s_per_call_minute: f64,
    /// Picture quality and encode CPU of x264 settings, when measured.
    pub quality: Option<super::quality::QualityReport>,
}

impl BenchReport {
    /// Doorway's CPU per call-minute over the reference's.
    pub fn cpu_ratio(&self) -> f64 {
        self.doorway.cpu_s_per_call_minute / self.reference.cpu_s_per_call_minute.max(0.01)
    }

    /// Doorway's median latency over the reference's.
    pub fn latency_ratio(&self) -> f64 {
        self.doorway.p50_ms / self.reference.p50_ms.max(0.1)
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(
            f,
            "a loopback call: camera {}x{}@30, screen {}x{}, {} {} kbit/s + {}, Opus both ways, rtpbin with RTCP",
            o.size.0, o.size.1, o.screen.0, o.screen.1, self.encoder, self.bitrate_kbps, self.decoder
        )?;
        writeln!(
            f,
            "reference: the same media in a plain GStreamer pipeline per side (same test camera, tone, encoder \
             settings, jitter buffer, pictures converted and scaled to the screen); no SIP, no screen drawing"
        )?;
        writeln!(
            f,
            "{:<10} {:>7} {:>7} {:>7} {:>9} | {:>7} {:>7} {:>6} {:>8} {:>6} | {:>9}",
            "case",
            "p50 ms",
            "p95 ms",
            "frames",
            "CPU s/min",
            "encode",
            "decode",
            "audio",
            "compose",
            "rest",
            "switch/s"
        )?;
        for (name, c) in [
            ("reference", &self.reference),
            ("doorway", &self.doorway),
            ("secured", &self.secured),
        ] {
            let p = &c.parts;
            writeln!(
                f,
                "{:<10} {:>7.1} {:>7.1} {:>7} {:>9.2} | {:>7.2} {:>7.2} {:>6.2} {:>8.2} {:>6.2} | {:>9.0}",
                name,
                c.p50_ms,
                c.p95_ms,
                c.frames,
                c.cpu_s_per_call_minute,
                p.encode,
                p.decode,
                p.audio,
                p.composition,
                p.rest,
                c.switches_per_second
            )?;
        }
        writeln!(f, "(CPU: seconds per minute of one station's call, by part; switch/s: context switches per second of one station)")?;
        writeln!(
            f,
            "CPU ratio doorway/reference: {:.2} (target <= 1.15); p50 ratio: {:.2} (target <= 1.20), p50 {:.1} ms (target <= 100)",
            self.cpu_ratio(),
            self.latency_ratio(),
            self.doorway.p50_ms
        )?;
        let d = &self.doorway;
        writeln!(
            f,
            "whole-picture copies per frame (doorway): camera to wire {:.2}, wire to screen {:.2} (target <= 1 each); \
             buttons and bands copied back over each picture: {:.0}% of the screen; the whole screen's still parts \
             copied {:.1} times a second",
            d.send_copies_per_frame,
            d.receive_copies_per_frame,
            100.0 * d.cover_per_frame,
            d.still_copies_per_second
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
        )?;
        if let Some(q) = &self.quality {
            write!(f, "\n{q}")?;
        }
        Ok(())
    }
}
