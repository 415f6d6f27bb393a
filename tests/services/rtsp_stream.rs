//! The station's camera and microphone as an RTSP stream, read by GStreamer's own RTSP
//! client (rtspsrc, as video recorders and Home Assistant's stream component use one):
//! with the right credentials it decodes pictures carrying the station's pattern and
//! its tone; with wrong ones it is refused; a stream and a call at the same time both
//! get pictures from one opening of the camera, and the call goes on when the viewer
//! leaves.

use crate::common::requires;
use crate::common::*;
use doorway::api::loopback::{contact, free_sip_port, loopback_config};
use doorway::config::{Config, RtspConfig};
use doorway::device::probe;
use doorway::station::Command;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const USER: &str = "recorder";
const PASSWORD: &str = "a stream password";

fn with_stream(mut config: Config) -> Config {
    config.rtsp = RtspConfig {
        enabled: true,
        port: free_sip_port(),
        user: Some(USER.into()),
        password: Some(PASSWORD.into()),
        password_file: None,
    };
    config
}

/// What a viewer got so far.
#[derive(Default)]
struct Seen {
    tags: Vec<u16>,
    sound: Vec<i16>,
    error: Option<String>,
}

/// rtspsrc reading the stream over TCP, decoding its picture and its sound.
struct Viewer {
    pipeline: gst::Pipeline,
    seen: Arc<Mutex<Seen>>,
}

impl Viewer {
    fn start(url: &str, user: &str, password: &str) -> Viewer {
        requires::gst_element("rtspsrc", "gstreamer1.0-plugins-good");
        let _ = gst::init();
        let line = format!(
            "rtspsrc name=src location={url} user-id={user} user-pw=\"{password}\" protocols=tcp latency=200 \
             src. ! rtph264depay ! avdec_h264 ! videoconvert ! video/x-raw,format=BGRx ! appsink name=video sync=false \
             src. ! rtpopusdepay ! opusdec ! audioconvert ! audioresample \
             ! audio/x-raw,format=S16LE,channels=1,rate=48000 ! appsink name=audio sync=false"
        );
        let pipeline = gst::parse::launch(&line)
            .expect("the viewer's pipeline")
            .downcast::<gst::Pipeline>()
            .unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let sink = |name: &str| pipeline.by_name(name).unwrap().downcast::<gst_app::AppSink>().unwrap();
        let frames = seen.clone();
        sink("video").set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let info = gstreamer_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
                    let map = sample.buffer().unwrap().map_readable().unwrap();
                    let stride = info.stride()[0] as usize;
                    if let Some(code) = probe::read_bgrx(&map, info.width(), info.height(), stride) {
                        frames.lock().unwrap().tags.push(code.tag);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        let sound = seen.clone();
        sink("audio").set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let map = sample.buffer().unwrap().map_readable().unwrap();
                    let mut seen = sound.lock().unwrap();
                    seen.sound
                        .extend(map.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])));
                    let over = seen.sound.len().saturating_sub(48_000);
                    seen.sound.drain(..over);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        let errors = seen.clone();
        let bus = pipeline.bus().unwrap();
        bus.set_sync_handler(move |_, message| {
            if let gst::MessageView::Error(e) = message.view() {
                let text = format!("{} ({:?})", e.error(), e.debug());
                errors.lock().unwrap().error.get_or_insert(text);
            }
            gst::BusSyncReply::Drop
        });
        pipeline.set_state(gst::State::Playing).expect("the viewer plays");
        Viewer { pipeline, seen }
    }

    /// Pictures carrying `tag` so far.
    fn pictures_of(&self, tag: u16) -> usize {
        self.seen.lock().unwrap().tags.iter().filter(|t| **t == tag).count()
    }

    async fn wait_pictures(&self, tag: u16, count: usize, secs: u64) -> usize {
        let until = Instant::now() + Duration::from_secs(secs);
        while self.pictures_of(tag) < count && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.pictures_of(tag)
    }

    fn tone(&self) -> Option<f64> {
        let seen = self.seen.lock().unwrap();
        let samples: Vec<f64> = seen.sound.iter().map(|s| f64::from(*s)).collect();
        (samples.len() >= 24_000).then(|| probe::estimate_tone(&samples, 48_000))?
    }

    fn error(&self) -> Option<String> {
        self.seen.lock().unwrap().error.clone()
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn stream_url(s: &doorway::station::Status) -> String {
    s.rtsp.as_ref().expect("the stream runs").url.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_password_a_viewer_sees_and_hears_the_station_and_without_it_nothing() {
    let _serial = SERIAL.lock().await;
    let door = Station::start(with_stream(loopback_config("Door", free_sip_port(), vec![]))).await;
    let s = door.status().await;
    let (url, tag, tone) = (stream_url(&s), s.probes.own_tag, s.probes.own_tone_hz.unwrap());

    let intruder = Viewer::start(&url, USER, "not the password");
    let until = Instant::now() + Duration::from_secs(10);
    while intruder.error().is_none() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = intruder.error().expect("a wrong password is refused");
    assert!(refused.contains("Unauthorized") || refused.contains("401"), "{refused}");
    assert_eq!(intruder.seen.lock().unwrap().tags.len(), 0);
    drop(intruder);

    let viewer = Viewer::start(&url, USER, PASSWORD);
    let pictures = viewer.wait_pictures(tag, 30, 20).await;
    assert!(
        pictures >= 30,
        "{pictures} pictures of the station; {:?}",
        viewer.error()
    );
    let until = Instant::now() + Duration::from_secs(5);
    while viewer.tone().is_none_or(|hz| (hz - tone).abs() / tone > 0.03) && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let heard = viewer.tone().expect("the viewer hears the station");
    assert!(
        (heard - tone).abs() / tone < 0.03,
        "heard {heard} Hz, the station's tone is {tone} Hz"
    );
    assert_eq!(door.status().await.rtsp.unwrap().viewers, 1);
    drop(viewer);

    // A stranger opening connections without a word is held to a few at a time; once
    // they are gone, a viewer is welcome again.
    let addr = url.trim_start_matches("rtsp://").trim_end_matches("/live").to_string();
    let strangers: Vec<_> = (0..40)
        .filter_map(|_| std::net::TcpStream::connect(&addr).ok())
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = door.status().await.rtsp.unwrap().viewers;
    assert!(held <= 16, "{held} connections held");
    drop(strangers);
    let s = door.wait(5, |s| s.rtsp.as_ref().is_some_and(|r| r.viewers == 0)).await;
    assert_eq!(s.rtsp.unwrap().viewers, 0);
    let viewer = Viewer::start(&url, USER, PASSWORD);
    assert!(viewer.wait_pictures(tag, 10, 20).await >= 10, "{:?}", viewer.error());
    drop(viewer);
    door.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_and_the_stream_share_one_capture_of_the_camera() {
    let _serial = SERIAL.lock().await;
    let (pd, ph) = (free_sip_port(), free_sip_port());
    let door = Station::start(with_stream(loopback_config("Door", pd, vec![contact("Hall", ph)]))).await;
    let hall = Station::start(loopback_config("Hall", ph, vec![contact("Door", pd)])).await;
    let ds = door.status().await;
    let (url, tag) = (stream_url(&ds), ds.probes.own_tag);

    // A viewer first, then a call: the call joins the capture the stream started.
    let viewer = Viewer::start(&url, USER, PASSWORD);
    assert!(viewer.wait_pictures(tag, 10, 20).await >= 10, "{:?}", viewer.error());
    door.handle.call("Hall").await.unwrap().unwrap();
    hall.wait(10, ringing).await;
    hall.send(Command::Answer);
    let s = hall.wait(15, |s| recognised(&ds, s) >= 30).await;
    assert!(recognised(&ds, &s) >= 30, "Hall sees Door: {:?}", s.probes.recognised);
    let before = viewer.pictures_of(tag);
    assert!(
        viewer.wait_pictures(tag, before + 30, 10).await >= before + 30,
        "the stream goes on during the call"
    );
    assert_eq!(
        door.status().await.probes.camera_opens,
        1,
        "one opening of the camera for both"
    );

    // The viewer leaves; the call goes on.
    drop(viewer);
    let seen = recognised(&ds, &hall.status().await);
    let s = hall.wait(10, |s| recognised(&ds, s) >= seen + 60).await;
    assert!(active(&s) && recognised(&ds, &s) >= seen + 60);
    door.send(Command::Hangup);
    door.wait(5, idle).await;
    door.stop().await;
    hall.stop().await;
}
