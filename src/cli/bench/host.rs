//! `doorway bench --host`: what hosting costs. The host's media runs in this process with
//! the test camera and microphone at 640x360@30; each remote is a separate
//! `gst-launch-1.0` process sending H.264 (x264enc, 640x360@30) and Opus to it and
//! taking what it sends, so this process's CPU is the host's alone. A two-station call
//! (one MediaSession) and a four-station call (a ConferenceMedia of three legs: three
//! decodes, the grid, one encode, three Opus encodes) take turns.

use super::{cpu_seconds, failed, BenchError};
use doorway::call::sdp::{self, LocalMedia, Negotiated};
use doorway::device::{self, Devices};
use doorway::media::conference::ConferenceMedia;
use doorway::media::{self, MediaSession, MediaSettings};
use std::fmt;
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// Host CPU per call-minute of a two-station and a four-station call.
#[derive(Debug, Clone)]
pub struct HostReport {
    /// One remote: the host sends and receives one call.
    pub two_stations: f64,
    /// Three remotes: the host mixes, composes the grid and sends to all.
    pub four_stations: f64,
    /// Grids composed per second in the four-station call.
    pub grid_fps: f64,
}

impl fmt::Display for HostReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "hosting, 640x360@30, x264enc + avdec_h264 + Opus; remotes in their own processes"
        )?;
        writeln!(f, "{:<16} {:>28}", "call", "host CPU s per call-minute")?;
        writeln!(f, "{:<16} {:>28.1}", "two stations", self.two_stations)?;
        writeln!(f, "{:<16} {:>28.1}", "four stations", self.four_stations)?;
        write!(
            f,
            "ratio four/two: {:.2}; grids composed per second: {:.1}",
            self.four_stations / self.two_stations.max(0.01),
            self.grid_fps
        )
    }
}

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;
const FPS: u32 = 30;
const LOOPBACK: [u8; 4] = [127, 0, 0, 1];

fn settings() -> Result<MediaSettings, BenchError> {
    Ok(MediaSettings {
        width: WIDTH,
        height: HEIGHT,
        fps: FPS,
        bitrate_kbps: 1000,
        jitter_ms: 40,
        codecs: media::codecs::probe(true).map_err(failed)?,
        screen: None,
        echo_probe: None,
    })
}

fn local(video_port: u16, audio_port: u16) -> LocalMedia {
    doorway::api::loopback::loopback_media(video_port, audio_port)
}

/// A remote station made of GStreamer alone, in its own process.
struct Remote {
    child: Child,
}

impl Remote {
    /// Sends to the host's `host_video`/`host_audio` ports from its own `video`/`audio`
    /// ports' neighbourhood, and swallows what arrives on `video` and `audio`.
    fn start(n: &Negotiated, video: u16, audio: u16, tone_hz: u32) -> Result<Self, BenchError> {
        let (v, a) = (n.video.as_ref(), n.audio.as_ref());
        let (Some(v), Some(a)) = (v, a) else {
            return Err(failed("the benchmark call has no video or audio"));
        };
        let line = format!(
            "videotestsrc is-live=true pattern=ball ! video/x-raw,width={WIDTH},height={HEIGHT},framerate={FPS}/1 \
             ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={FPS} bitrate=1000 \
             ! video/x-h264,profile=constrained-baseline ! rtph264pay pt={} config-interval=-1 mtu=1200 \
             ! udpsink host=127.0.0.1 port={} sync=false \
             audiotestsrc is-live=true freq={tone_hz} samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=1 \
             ! opusenc frame-size=20 ! rtpopuspay pt={} ! udpsink host=127.0.0.1 port={} sync=false \
             udpsrc port={video} ! fakesink sync=false udpsrc port={audio} ! fakesink sync=false",
            v.rtp.send_pt,
            v.rtp.remote_rtp.port(),
            a.rtp.send_pt,
            a.rtp.remote_rtp.port()
        );
        // The remote sends what the host receives: from its side, the host's ports.
        let child = Command::new("gst-launch-1.0")
            .arg("-q")
            .args(line.split_whitespace())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| failed(format!("gst-launch-1.0: {e}")))?;
        Ok(Self { child })
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The host's view of `remotes` legs and the remotes themselves.
fn legs(remotes: usize, taken: &mut Vec<u16>) -> Result<(Vec<Negotiated>, Vec<Remote>), BenchError> {
    let mut pair = || {
        // The remotes' processes and the host's pipelines bind them by number.
        let p = media::ports::free_pair(IpAddr::from(LOOPBACK), 25000, 25998, taken)
            .ok_or_else(|| failed("no free ports"))?;
        taken.push(p);
        Ok::<u16, BenchError>(p)
    };
    let (mut host_legs, mut procs) = (vec![], vec![]);
    for i in 0..remotes {
        let ours = local(pair()?, pair()?);
        let theirs = local(pair()?, pair()?);
        let (answer, their_view) = sdp::answer(&sdp::build_offer(&ours), &theirs).map_err(failed)?;
        // From the remote's side, "remote" is the host: it sends there.
        procs.push(Remote::start(
            &their_view,
            theirs.video_port,
            theirs.audio_port,
            500 + 200 * i as u32,
        )?);
        host_legs.push(sdp::apply_answer(&ours, &answer).map_err(failed)?);
    }
    Ok((host_legs, procs))
}

/// Host CPU seconds per call-minute with `remotes` remotes, measured over `seconds`;
/// also the grids composed per second when hosting.
fn measure(devices: &Devices, remotes: usize, seconds: u64) -> Result<(f64, f64), BenchError> {
    let settings = settings()?;
    let (host_legs, _remotes) = legs(remotes, &mut vec![])?;
    let no_screen: media::VideoOut = Arc::new(|_| {});
    let warm = Duration::from_secs(2);
    if remotes == 1 {
        let session =
            MediaSession::start(&settings, &host_legs[0], devices, no_screen, Arc::new(|_| {})).map_err(failed)?;
        std::thread::sleep(warm);
        let cpu0 = cpu_seconds();
        std::thread::sleep(Duration::from_secs(seconds));
        let cpu = cpu_seconds() - cpu0;
        let decoded = session.stats().frames_decoded;
        session.stop(devices).join().ok();
        if decoded == 0 {
            return Err(failed("the two-station call decoded no video"));
        }
        return Ok((cpu * 60.0 / seconds as f64, 0.0));
    }
    let conference = ConferenceMedia::start(&settings, &host_legs, devices, no_screen).map_err(failed)?;
    std::thread::sleep(warm);
    let (cpu0, grids0) = (cpu_seconds(), conference.stats().grids_sent);
    std::thread::sleep(Duration::from_secs(seconds));
    let cpu = cpu_seconds() - cpu0;
    let stats = conference.stats();
    conference.stop(devices);
    if stats.frames_decoded.contains(&0) {
        return Err(failed(format!("a leg decoded no video: {stats:?}")));
    }
    let fps = (stats.grids_sent - grids0) as f64 / seconds as f64;
    Ok((cpu * 60.0 / seconds as f64, fps))
}

/// Runs both calls, taking turns, for `seconds` each in all.
pub fn run(seconds: u64) -> Result<HostReport, BenchError> {
    media::init().map_err(failed)?;
    let config = doorway::api::loopback::loopback_config("Bench host", 5060, vec![]);
    let devices = device::open(&config).map_err(failed)?;
    let rounds = 2;
    let window = (seconds / rounds).max(1);
    let (mut two, mut four, mut fps) = (0.0, 0.0, 0.0);
    for _ in 0..rounds {
        two += measure(&devices, 1, window)?.0;
        let (cpu, grid_fps) = measure(&devices, 3, window)?;
        four += cpu;
        fps += grid_fps;
    }
    let n = rounds as f64;
    Ok(HostReport {
        two_stations: two / n,
        four_stations: four / n,
        grid_fps: fps / n,
    })
}
