//! The price of SRTP on its own, for `doorway bench`: one direction of a call's video
//! and audio packets (encoded by x264 and Opus at the call's settings), pushed at their
//! real rate through srtpenc → srtpdec with AEAD_AES_128_GCM (what paired stations
//! use), against the same packets pushed through nothing. Whole calls are too noisy on a
//! shared machine to show a difference of a few percent; this measures the work SRTP
//! adds to each station (one encryption of what it sends, one decryption of what it
//! receives) in a process doing nothing else.

use super::{cpu_seconds, failed, BenchError};
use doorway::call::sdp::SrtpSuite;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::time::{Duration, Instant};

/// RTP packets of one stream with the time each is due, from the stream's start.
struct Packets {
    caps: gst::Caps,
    packets: Vec<(Duration, gst::Buffer)>,
}

/// Encodes `seconds` of a test source with `chain` and keeps the RTP packets.
fn record(source: &str, chain: &str, seconds: u64) -> Result<Packets, BenchError> {
    let description = format!("{source} ! {chain} ! appsink name=sink sync=false");
    let pipeline = gst::parse::launch(&description)
        .map_err(failed)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| failed("not a pipeline"))?;
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| failed("no appsink"))?;
    pipeline.set_state(gst::State::Playing).map_err(failed)?;
    let mut packets = Vec::new();
    let mut caps = None;
    let limit = gst::ClockTime::from_seconds(seconds);
    while let Ok(sample) = sink.pull_sample() {
        if caps.is_none() {
            caps = sample.caps().map(|c| c.to_owned());
        }
        // Payloaders push lists of packets; a sample holds a buffer or a list.
        let mut buffers: Vec<gst::Buffer> = sample.buffer_owned().into_iter().collect();
        if let Some(list) = sample.buffer_list() {
            buffers.extend(list.iter_owned());
        }
        for buffer in buffers {
            let pts = buffer.pts().unwrap_or(gst::ClockTime::ZERO);
            packets.push((Duration::from_nanos(pts.nseconds()), buffer));
        }
        let first = packets.first().map(|(at, _)| *at).unwrap_or_default();
        if packets
            .last()
            .is_some_and(|(at, _)| *at - first > Duration::from_nanos(limit.nseconds()))
        {
            break;
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    let caps = caps.ok_or_else(|| failed("the encoder made no packets"))?;
    // Times from the stream's first packet (a payloader's may start at any offset).
    let first = packets.iter().map(|(at, _)| *at).min().unwrap_or_default();
    for (at, _) in &mut packets {
        *at -= first;
    }
    Ok(Packets { caps, packets })
}

/// A call's two streams, one direction.
fn call_packets(seconds: u64) -> Result<[Packets; 2], BenchError> {
    let video = record(
        &format!(
            "videotestsrc pattern=ball num-buffers={} ! video/x-raw,format=I420,width=640,height=360,framerate=30/1",
            seconds * 30 + 30
        ),
        "x264enc tune=zerolatency speed-preset=ultrafast bitrate=1500 key-int-max=30 aud=false \
         ! rtph264pay pt=96 config-interval=-1 mtu=1200",
        seconds,
    )?;
    let audio = record(
        &format!(
            "audiotestsrc num-buffers={} samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=1",
            seconds * 50 + 50
        ),
        "opusenc frame-size=20 ! rtpopuspay pt=111",
        seconds,
    )?;
    Ok([video, audio])
}

/// Pushes every stream's packets at their real rate through `srtpenc ! srtpdec` (or
/// straight to a sink), `rounds` times over; returns the CPU seconds it took.
fn push(streams: &[Packets; 2], encrypt: bool, rounds: u32) -> Result<f64, BenchError> {
    let pipeline = gst::Pipeline::new();
    let mut sources = Vec::new();
    let arrived = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    for (i, stream) in streams.iter().enumerate() {
        let src = gst_app::AppSrc::builder()
            .caps(&stream.caps)
            .format(gst::Format::Time)
            .is_live(true)
            .build();
        let sink = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .build()
            .map_err(failed)?;
        pipeline.add_many([src.upcast_ref(), &sink]).map_err(failed)?;
        if let Some(pad) = sink.static_pad("sink") {
            let arrived = arrived.clone();
            pad.add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                move |_, info| {
                    let n = match &info.data {
                        Some(gst::PadProbeData::BufferList(list)) => list.len() as u64,
                        _ => 1,
                    };
                    arrived.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                    gst::PadProbeReturn::Ok
                },
            );
        }
        if encrypt {
            let suite = SrtpSuite::AeadAes128Gcm;
            let key = vec![7u8 + i as u8; suite.key_len()];
            let enc = gst::ElementFactory::make("srtpenc").build().map_err(failed)?;
            doorway::media::srtp::configure_encoder(&enc, suite, &key);
            let dec = gst::ElementFactory::make("srtpdec").build().map_err(failed)?;
            let key_caps = doorway::media::srtp::key_caps_for(suite, &key);
            dec.connect("request-key", false, move |_| Some(key_caps.to_value()));
            pipeline.add_many([&enc, &dec]).map_err(failed)?;
            src.link_pads(Some("src"), &enc, Some("rtp_sink_0")).map_err(failed)?;
            enc.link_pads(Some("rtp_src_0"), &dec, Some("rtp_sink"))
                .map_err(failed)?;
            dec.link_pads(Some("rtp_src"), &sink, Some("sink")).map_err(failed)?;
        } else {
            src.link(&sink).map_err(failed)?;
        }
        sources.push(src);
    }
    pipeline.set_state(gst::State::Playing).map_err(failed)?;
    let _ = pipeline.state(gst::ClockTime::from_seconds(5));
    // One timeline of both streams' packets, in order.
    let mut timeline: Vec<(Duration, usize, &gst::Buffer)> = streams
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.packets.iter().map(move |(at, b)| (*at, i, b)))
        .collect();
    timeline.sort_by_key(|(at, _, _)| *at);
    let length = timeline.last().map(|(at, _, _)| *at).unwrap_or_default() + Duration::from_millis(33);
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let counts = streams.each_ref().map(|s| s.packets.len() as u32);
    for round in 0..rounds {
        for (at, i, buffer) in &timeline {
            let due = *at + length * round;
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait.min(Duration::from_secs(1)));
            }
            let mut buffer = (*buffer).copy();
            {
                let buffer = buffer.make_mut();
                buffer.set_pts(gst::ClockTime::from_nseconds(due.as_nanos() as u64));
                // Sequence numbers go on each round, as in a longer call: SRTP refuses
                // to send or take a packet index twice.
                if let Ok(mut map) = buffer.map_writable() {
                    if map.len() >= 4 {
                        let seq = u16::from_be_bytes([map[2], map[3]]).wrapping_add((round * counts[*i]) as u16);
                        map[2..4].copy_from_slice(&seq.to_be_bytes());
                    }
                }
            }
            if sources[*i].push_buffer(buffer).is_err() {
                return Err(failed("the SRTP pipeline stopped"));
            }
        }
    }
    let cpu = cpu_seconds() - cpu0;
    std::thread::sleep(Duration::from_millis(100));
    let _ = pipeline.set_state(gst::State::Null);
    // Every packet must have come through (decrypted, when encrypting): else the figure
    // would price less work than a call does.
    let pushed = timeline.len() as u64 * rounds as u64;
    let through = arrived.load(std::sync::atomic::Ordering::Relaxed);
    if through + 2 < pushed {
        return Err(failed(format!("only {through} of {pushed} packets came through SRTP")));
    }
    Ok(cpu)
}

/// CPU seconds per call-minute SRTP adds to a station: encrypting one direction and
/// decrypting the other is the same work as both ends of one direction.
pub fn srtp_cpu_per_call_minute(seconds: u64) -> Result<f64, BenchError> {
    let streams = call_packets(10)?;
    let rounds = (seconds / 10).max(1) as u32;
    // Alternate, as the whole-call cases do.
    let mut with = 0.0;
    let mut without = 0.0;
    for _ in 0..2 {
        without += push(&streams, false, rounds)?;
        with += push(&streams, true, rounds)?;
    }
    let minutes = 2.0 * rounds as f64 * 10.0 / 60.0;
    tracing::info!(with, without, minutes, "SRTP cost measured");
    Ok(((with - without) / minutes).max(0.0))
}
