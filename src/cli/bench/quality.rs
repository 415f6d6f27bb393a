//! Picture quality against CPU for x264enc settings: each setting encodes the same frames
//! at the call's bitrate, the stream is decoded, and every decoded frame is compared with
//! its source, so a low-power setting is seen not to trade picture quality away silently.
//!
//! Two scenes, held in memory: the station's pattern camera (mostly static bars and a
//! changing time code, easy for an encoder) and a moving, detailed synthetic scene
//! (panning grainy texture, striped discs in motion, fresh noise on every frame).
//!
//! Per setting and scene, two non-live pipelines in this process: `appsrc ! x264enc !
//! video/x-h264,profile=constrained-baseline (as in a call) ! appsink`, then the stream
//! through `appsrc ! avdec_h264 ! appsink`. CPU is the whole process's (getrusage, all
//! threads, so x264's slice threads count) from the first frame pushed to end of stream,
//! for encode and decode apart; it includes GStreamer's plumbing and, in the decode,
//! copying each decoded luma plane out. Nothing else should run in the process meanwhile;
//! the settings take turns and the lowest of [`ROUNDS`] runs is kept. Quality is the Y
//! plane's: PSNR and 8x8-block SSIM, frames matched by timestamp.

use super::scores::{psnr, ssim};
use super::{cpu_seconds, failed, BenchError};
use doorway::device::testdev::PatternCamera;
use doorway::device::{Camera, PixelFormat, VideoFormat};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;
use std::fmt;
use std::sync::{Arc, Mutex};

/// Runs per setting and scene; the lowest CPU is kept (the picture is the same each run).
pub const ROUNDS: usize = 5;

/// An x264enc configuration. Every one also gets tune=zerolatency, the call's bitrate,
/// key-int-max = fps, aud=false and threads=2, as `media::send::configure_encoder` sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderSetting {
    /// Label in the report.
    pub name: &'static str,
    /// x264enc's `trellis`, always set explicitly.
    pub trellis: bool,
    /// x264enc's `speed-preset`.
    pub preset: &'static str,
    /// x264enc's `option-string` (x264 `key=value` pairs joined by ':'), may be empty.
    pub extra: &'static str,
}

/// The settings compared. With a preset or tune set, x264enc does not apply its own
/// property defaults (trellis=true among them): the preset's trellis (off for ultrafast)
/// holds unless `trellis` is set. x264enc splits the option-string on ':', so x264's
/// `deblock=1:0:0` cannot be given; `deblock=0,0` turns the loop filter on, offsets 0.
pub fn candidates() -> Vec<EncoderSetting> {
    let setting = |name, trellis, preset, extra| EncoderSetting {
        name,
        trellis,
        preset,
        extra,
    };
    vec![
        setting("ultrafast, trellis on", true, "ultrafast", ""),
        setting("ultrafast, trellis off (chosen)", false, "ultrafast", ""),
        setting("ultrafast + deblock, trellis off", false, "ultrafast", "deblock=0,0"),
        setting("superfast, trellis off", false, "superfast", ""),
    ]
}

/// What one setting did with one scene.
#[derive(Debug, Clone)]
pub struct QualityFigures {
    /// The setting's name.
    pub setting: &'static str,
    /// The scene's name.
    pub scene: &'static str,
    /// Process CPU seconds of the encode per minute of video at the frame rate.
    pub encode_cpu_s_per_minute: f64,
    /// Process CPU seconds of encode and decode per minute of video at the frame rate.
    pub cpu_s_per_minute: f64,
    /// Mean Y-plane PSNR in dB ([`super::scores::MAX_PSNR`] for an identical frame).
    pub psnr_db: f64,
    /// Mean Y-plane SSIM over 8x8 blocks.
    pub ssim: f64,
    /// Bitrate the encoder produced, kbit/s.
    pub kbps_out: f64,
}

/// All settings on both scenes at one size and bitrate.
#[derive(Debug, Clone)]
pub struct QualityReport {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Frames per scene.
    pub frames: usize,
    /// Target bitrate, kbit/s.
    pub kbps: u32,
    /// One row per scene and setting.
    pub rows: Vec<QualityFigures>,
}

impl fmt::Display for QualityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (w, h, fps, n, kbps) = (self.width, self.height, self.fps, self.frames, self.kbps);
        writeln!(
            f,
            "x264enc (zerolatency, constrained baseline, threads=2) at {kbps} kbit/s, {w}x{h}@{fps}, {n} frames a \
             scene, avdec_h264: Y PSNR and 8x8 SSIM against the source, process CPU s per minute of video"
        )?;
        let head =
            "scene           setting                           enc s/min enc+dec s/min  PSNR dB    SSIM kbit/s out";
        writeln!(f, "{head}")?;
        for r in &self.rows {
            let (enc, all) = (r.encode_cpu_s_per_minute, r.cpu_s_per_minute);
            let (scene, setting, psnr, ssim, out) = (r.scene, r.setting, r.psnr_db, r.ssim, r.kbps_out);
            writeln!(
                f,
                "{scene:<15} {setting:<33} {enc:>9.2} {all:>13.2} {psnr:>8.2} {ssim:>7.4} {out:>10.0}"
            )?;
        }
        Ok(())
    }
}

/// Measures every [`candidates`] setting on both scenes: `frames` frames of `width`x`height`
/// (even) at `fps`, encoded at `kbps` kbit/s. Takes `frames / fps` seconds of pattern
/// camera capture (it paces to real time) and a few seconds per setting.
pub fn measure(width: u32, height: u32, fps: u32, kbps: u32, frames: usize) -> Result<QualityReport, BenchError> {
    doorway::media::init().map_err(failed)?;
    if !width.is_multiple_of(2) || !height.is_multiple_of(2) || fps == 0 || frames == 0 {
        return Err(failed("quality: even width and height, fps and frames > 0 needed"));
    }
    let (w, h) = (width as usize, height as usize);
    let raw_caps = gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, width, height)
        .fps(gst::Fraction::new(fps as i32, 1))
        .build()
        .and_then(|info| info.to_caps())
        .map_err(failed)?;
    let seconds = frames as f64 / fps as f64;
    let per_minute = |cpu: f64| cpu * 60.0 / seconds;
    let mut rows = Vec::new();
    for scene in ["pattern camera", "moving scene"] {
        let pictures = match scene {
            "pattern camera" => pattern_frames(width, height, fps, frames)?,
            _ => moving_frames(w, h, frames),
        };
        let mut source = Vec::with_capacity(frames);
        for (i, data) in pictures.into_iter().enumerate() {
            let mut buffer = gst::Buffer::from_mut_slice(data);
            let b = buffer
                .get_mut()
                .ok_or_else(|| failed("quality: a new buffer is shared"))?;
            b.set_pts(frame_time(i, fps));
            b.set_duration(frame_time(i + 1, fps) - frame_time(i, fps));
            source.push(buffer);
        }
        let settings = candidates();
        let mut cpu = vec![(f64::MAX, f64::MAX); settings.len()];
        let mut quality = vec![(0.0, 0.0, 0.0); settings.len()];
        for round in 0..ROUNDS {
            for (i, setting) in settings.iter().enumerate() {
                let (stream, caps, encode_cpu) = encode(setting, &raw_caps, fps, kbps, &source)?;
                let (planes, decode_cpu) = decode(&caps, &stream, fps, w, h)?;
                cpu[i] = (cpu[i].0.min(encode_cpu), cpu[i].1.min(decode_cpu));
                if round == 0 {
                    let (psnr_db, ssim) = compare(&source, &planes, w, h)?;
                    let bytes: usize = stream.iter().map(|b| b.size()).sum();
                    quality[i] = (psnr_db, ssim, bytes as f64 * 8.0 / seconds / 1000.0);
                }
            }
        }
        for ((setting, (enc, dec)), (psnr_db, ssim, kbps_out)) in settings.iter().zip(cpu).zip(quality) {
            let (encode_cpu_s_per_minute, cpu_s_per_minute) = (per_minute(enc), per_minute(enc + dec));
            let setting = setting.name;
            rows.push(QualityFigures {
                setting,
                scene,
                encode_cpu_s_per_minute,
                cpu_s_per_minute,
                psnr_db,
                ssim,
                kbps_out,
            });
        }
    }
    Ok(QualityReport {
        width,
        height,
        fps,
        frames,
        kbps,
        rows,
    })
}

fn frame_time(i: usize, fps: u32) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(i as u64 * 1_000_000_000 / fps as u64)
}

/// `time` as running time in `sample`'s segment (x264enc offsets its output by 1000 h).
fn running_time(sample: &gst::Sample, time: Option<gst::ClockTime>) -> Option<gst::ClockTime> {
    sample
        .segment()?
        .downcast_ref::<gst::ClockTime>()?
        .to_running_time(time?)
}

/// Runs `launch` (`appsrc name=src ! … ! appsink name=sink`) over `buffers` of `caps`,
/// handing each sample to `take`: the process's CPU seconds from first push to end of stream.
fn run(
    launch: &str,
    caps: &gst::Caps,
    buffers: &[gst::Buffer],
    take: impl FnMut(gst::Sample) + Send + 'static,
) -> Result<f64, BenchError> {
    let pipeline = gst::parse::launch(launch).map_err(failed)?;
    let pipeline = pipeline
        .downcast::<gst::Pipeline>()
        .map_err(|_| failed("quality: not a pipeline"))?;
    let named = |name| {
        pipeline
            .by_name(name)
            .ok_or_else(|| failed(format!("quality: no {name}")))
    };
    let src = named("src")?
        .downcast::<gst_app::AppSrc>()
        .map_err(|_| failed("quality: src"))?;
    let sink = named("sink")?
        .downcast::<gst_app::AppSink>()
        .map_err(|_| failed("quality: sink"))?;
    src.set_caps(Some(caps));
    let take = Mutex::new(take);
    let callbacks = gst_app::AppSinkCallbacks::builder().new_sample(move |s| {
        let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
        (take.lock().map_err(|_| gst::FlowError::Error)?)(sample);
        Ok(gst::FlowSuccess::Ok)
    });
    sink.set_callbacks(callbacks.build());
    pipeline.set_state(gst::State::Playing).map_err(failed)?;
    let start = cpu_seconds();
    for buffer in buffers {
        if src.push_buffer(buffer.clone()).is_err() {
            break; // the bus says why
        }
    }
    let _ = src.end_of_stream();
    let bus = pipeline
        .bus()
        .ok_or_else(|| failed("quality: a pipeline without a bus"))?;
    let until = [gst::MessageType::Eos, gst::MessageType::Error];
    let message = bus.timed_pop_filtered(gst::ClockTime::from_seconds(600), &until);
    let cpu = cpu_seconds() - start;
    let _ = pipeline.set_state(gst::State::Null);
    match message.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Eos(_)) => Ok(cpu),
        Some(gst::MessageView::Error(e)) => Err(failed(format!("quality: {}", e.error()))),
        _ => Err(failed("quality: the pipeline did not finish")),
    }
}

type Encoded = (Vec<gst::Buffer>, Option<gst::Caps>);
/// Decoded Y planes by frame index.
type Planes = Vec<Option<Vec<u8>>>;
/// A decoded frame's index and Y plane.
type Luma = (u64, Vec<u8>);

/// Encodes `source` with setting `s`: the stream (timestamps as the source's), its caps and
/// the CPU seconds.
fn encode(
    s: &EncoderSetting,
    caps: &gst::Caps,
    fps: u32,
    kbps: u32,
    source: &[gst::Buffer],
) -> Result<(Vec<gst::Buffer>, gst::Caps, f64), BenchError> {
    let launch = format!(
        "appsrc name=src format=time block=true max-bytes=0 max-buffers=4 ! x264enc tune=zerolatency \
         speed-preset={} bitrate={kbps} key-int-max={fps} aud=false threads=2 trellis={} option-string=\"{}\" ! \
         video/x-h264,profile=constrained-baseline,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false",
        s.preset, s.trellis, s.extra
    );
    let out: Arc<Mutex<Encoded>> = Default::default();
    let taken = out.clone();
    let cpu = run(&launch, caps, source, move |sample| {
        let (Ok(mut o), Some(mut buffer)) = (taken.lock(), sample.buffer_owned()) else {
            return;
        };
        let (pts, dts) = (running_time(&sample, buffer.pts()), running_time(&sample, buffer.dts()));
        let b = buffer.make_mut();
        b.set_pts(pts);
        b.set_dts(dts);
        o.0.push(buffer);
        if o.1.is_none() {
            o.1 = sample.caps_owned();
        }
    })?;
    let (stream, caps) = std::mem::take(&mut *out.lock().map_err(failed)?);
    Ok((
        stream,
        caps.ok_or_else(|| failed("quality: x264enc gave nothing"))?,
        cpu,
    ))
}

/// Decodes `stream`: each frame's Y plane (`w`x`h`, tight) by frame index, and the CPU
/// seconds.
fn decode(caps: &gst::Caps, stream: &[gst::Buffer], fps: u32, w: usize, h: usize) -> Result<(Planes, f64), BenchError> {
    let launch =
        "appsrc name=src format=time block=true ! avdec_h264 ! video/x-raw,format=I420 ! appsink name=sink sync=false";
    let out: Arc<Mutex<Vec<Luma>>> = Default::default();
    let taken = out.clone();
    let cpu = run(launch, caps, stream, move |sample| {
        if let (Some(picture), Ok(mut o)) = (luma(&sample, fps, w, h), taken.lock()) {
            o.push(picture);
        }
    })?;
    let mut planes = vec![None; stream.len()];
    for (index, y) in std::mem::take(&mut *out.lock().map_err(failed)?) {
        if let Some(slot) = planes.get_mut(index as usize) {
            *slot = Some(y);
        }
    }
    Ok((planes, cpu))
}

/// A decoded sample's frame index and Y plane (`w`x`h`, tight).
fn luma(sample: &gst::Sample, fps: u32, w: usize, h: usize) -> Option<Luma> {
    let (buffer, info) = (sample.buffer()?, gst_video::VideoInfo::from_caps(sample.caps()?).ok()?);
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).ok()?;
    let (plane, stride) = (frame.plane_data(0).ok()?, frame.plane_stride()[0] as usize);
    if (frame.width() as usize) < w || (frame.height() as usize) < h {
        return None;
    }
    let y = (0..h)
        .flat_map(|row| &plane[row * stride..row * stride + w])
        .copied()
        .collect();
    let pts = running_time(sample, buffer.pts())?;
    Some(((pts.nseconds() * fps as u64 + 500_000_000) / 1_000_000_000, y))
}

/// Mean Y PSNR and SSIM of the decoded `planes` against `source`; every frame must be back.
fn compare(source: &[gst::Buffer], planes: &Planes, w: usize, h: usize) -> Result<(f64, f64), BenchError> {
    let (mut psnr_sum, mut ssim_sum) = (0.0, 0.0);
    for (i, buffer) in source.iter().enumerate() {
        let Some(decoded) = planes.get(i).and_then(|p| p.as_ref()) else {
            let back = planes.iter().flatten().count();
            return Err(failed(format!(
                "quality: frame {i} did not come back ({back} of {} did)",
                source.len()
            )));
        };
        let map = buffer.map_readable().map_err(failed)?;
        psnr_sum += psnr(&map[..w * h], decoded);
        ssim_sum += ssim(&map[..w * h], decoded, w, h);
    }
    let n = source.len().max(1) as f64;
    Ok((psnr_sum / n, ssim_sum / n))
}

/// `frames` I420 frames of the pattern camera, captured in real time.
fn pattern_frames(width: u32, height: u32, fps: u32, frames: usize) -> Result<Vec<Vec<u8>>, BenchError> {
    let mut camera = PatternCamera::new(1);
    let want = VideoFormat {
        pixel: PixelFormat::I420,
        width,
        height,
        fps,
    };
    let got = camera.open(want).map_err(failed)?;
    let size = width as usize * height as usize * 3 / 2;
    let frames: Result<Vec<_>, _> = (0..frames).map(|_| camera.capture().map_err(failed)).collect();
    camera.close();
    let frames = frames?;
    if got != want
        || frames
            .iter()
            .any(|f| f.stride != width as usize || f.data.len() != size)
    {
        return Err(failed("quality: the pattern camera gave another layout"));
    }
    Ok(frames.into_iter().map(|f| f.data).collect())
}

/// A fixed-seed linear congruential generator (Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
}

/// `frames` I420 frames of a deterministic scene with real work for an encoder: a grainy
/// brick texture on a gradient panning 2 px a frame, four striped discs bouncing about,
/// and fresh ±2 noise on every pixel of every frame.
fn moving_frames(w: usize, h: usize, frames: usize) -> Vec<Vec<u8>> {
    let mut rng = Lcg(0x00d0_0a4e);
    let tw = w + 2 * frames;
    let mut texture = Vec::with_capacity(tw * h);
    for (y, x) in (0..h).flat_map(|y| (0..tw).map(move |x| (y, x))) {
        let shifted = x + (y / 16 % 2) * 16;
        let v = 40 + 120 * y / h + (shifted / 32 + y / 16) % 2 * 24 + (rng.next() % 32) as usize;
        let mortar = y % 16 == 0 || shifted % 32 == 0;
        texture.push(if mortar { v / 2 } else { v }.clamp(16, 235) as u8);
    }
    let bounce = |start: i64, v: i64, t: i64, lo: i64, hi: i64| {
        let (span, p) = ((hi - lo).max(1), start - lo + v * t);
        lo + (span - (p.rem_euclid(2 * span) - span).abs())
    };
    let (wi, hi) = (w as i64, h as i64);
    // radius, start x, start y, vx, vy, u, v
    let discs = [
        (hi / 6, wi / 4, hi / 3, 5, 3, 90, 200),
        (hi / 8, wi / 2, hi / 2, -7, 4, 200, 110),
        (hi / 10, 3 * wi / 4, hi / 4, 3, -6, 60, 80),
        (hi / 12, wi / 3, 3 * hi / 4, -4, 2, 170, 170),
    ];
    let mut out = Vec::with_capacity(frames);
    for f in 0..frames {
        let mut frame = vec![0u8; w * h * 3 / 2];
        let (ys, chroma) = frame.split_at_mut(w * h);
        let (us, vs) = chroma.split_at_mut(w * h / 4);
        for y in 0..h {
            ys[y * w..(y + 1) * w].copy_from_slice(&texture[y * tw + 2 * f..y * tw + 2 * f + w]);
        }
        for i in 0..w * h / 4 {
            let (x, y) = (i % (w / 2), i / (w / 2));
            (us[i], vs[i]) = ((108 + 40 * x / w) as u8, (108 + 40 * y / h) as u8);
        }
        for &(r, x0, y0, vx, vy, u, v) in &discs {
            let (cx, cy) = (bounce(x0, vx, f as i64, r, wi - r), bounce(y0, vy, f as i64, r, hi - r));
            for (y, x) in (cy - r..cy + r).flat_map(|y| (cx - r..cx + r).map(move |x| (y, x))) {
                let (dx, dy, xu, yu) = (x - cx, y - cy, x as usize, y as usize);
                if dx * dx + dy * dy > r * r || x < 0 || y < 0 || x >= wi || y >= hi {
                    continue;
                }
                ys[yu * w + xu] = if (dx + 2 * dy).rem_euclid(12) < 6 { 210 } else { 60 };
                if xu % 2 == 0 && yu % 2 == 0 {
                    (us[yu / 2 * w / 2 + xu / 2], vs[yu / 2 * w / 2 + xu / 2]) = (u, v);
                }
            }
        }
        for p in ys.iter_mut() {
            *p = (*p as i32 + (rng.next() % 5) as i32 - 2).clamp(16, 235) as u8;
        }
        out.push(frame);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_planes_score_perfectly() {
        let plane: Vec<u8> = (0..64 * 48).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(psnr(&plane, &plane), super::super::scores::MAX_PSNR);
        assert!((ssim(&plane, &plane, 64, 48) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn known_noise_gives_the_analytic_psnr() {
        let mut rng = Lcg(7);
        let a: Vec<u8> = (0..64 * 48).map(|_| 60 + (rng.next() % 128) as u8).collect();
        let b: Vec<u8> = a
            .iter()
            .map(|&p| if rng.next().is_multiple_of(2) { p + 3 } else { p - 3 })
            .collect();
        let analytic = 10.0 * (255.0f64 * 255.0 / 9.0).log10(); // MSE 9
        assert!((psnr(&a, &b) - analytic).abs() < 0.1, "{} vs {analytic}", psnr(&a, &b));
        let s = ssim(&a, &b, 64, 48);
        assert!(s > 0.9 && s < 1.0, "{s}");
    }
}
