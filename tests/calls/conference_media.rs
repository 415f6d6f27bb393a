//! A call of four stations at the media layer, on 127.0.0.1 with test devices: Hall hosts
//! (its ConferenceMedia holds a leg to each of Kitchen, Office and Upstairs, which run
//! the ordinary two-station media session). Each station has its own camera pattern and
//! tone. Every participant must hear the other three tones and not its own, and see the
//! other three patterns (the remotes in the host's grid; the host all three remotes);
//! when one remote leaves, the others go on hearing and seeing each other.

use doorway::call::sdp::{self, LocalMedia, Negotiated};
use doorway::device::{self, probe, Devices};
use doorway::media::conference::{grid::Grid, ConferenceMedia};
use doorway::media::{self, MediaSession, MediaSettings};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HOST: &str = "Hall";

/// Both tests run real calls on two cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());
const REMOTES: [&str; 3] = ["Kitchen", "Office", "Upstairs"];

fn settings() -> MediaSettings {
    MediaSettings {
        width: 640,
        height: 360,
        fps: 15,
        bitrate_kbps: 1500,
        jitter_ms: 40,
        codecs: media::codecs::probe(true).unwrap(),
        screen: None,
        echo_probe: None,
    }
}

fn local(video_port: u16, audio_port: u16) -> LocalMedia {
    doorway::api::loopback::loopback_media(video_port, audio_port)
}

/// The tags seen in the last picture shown, whole frame or any grid cell.
type Seen = Arc<Mutex<BTreeSet<u16>>>;

fn tags_in(frame: device::FrameView<'_>) -> BTreeSet<u16> {
    let f = frame.format;
    let mut tags = BTreeSet::new();
    if let Some(code) = probe::read_bgrx(frame.data, f.width, f.height, frame.stride) {
        tags.insert(code.tag);
    }
    let grid = Grid::new(f.width, f.height);
    for cell in 0..4 {
        let (x, y, w, h) = grid.cell(cell);
        let rows = (y..y + h).filter_map(|row| frame.data.get(row * frame.stride + x * 4..)?.get(..w * 4));
        let pixels: Vec<u8> = rows.flatten().copied().collect();
        if let Some(code) = probe::read_bgrx(&pixels, w as u32, h as u32, w * 4) {
            tags.insert(code.tag);
        }
    }
    tags
}

/// A video sink that keeps the tags of recent pictures (a cell's code can miss a frame
/// to compression; a second of frames shows every participant).
fn watcher() -> (media::VideoOut, Seen) {
    let seen: Seen = Arc::default();
    let recent = Arc::new(Mutex::new(std::collections::VecDeque::<BTreeSet<u16>>::new()));
    let s = seen.clone();
    let out: media::VideoOut = Arc::new(move |picture: doorway::device::Picture| {
        let Some(frame) = picture.view() else { return };
        let mut r = recent.lock().unwrap();
        r.push_back(tags_in(frame));
        if r.len() > 15 {
            r.pop_front();
        }
        *s.lock().unwrap() = r.iter().flatten().copied().collect();
    });
    (out, seen)
}

/// The tones heard in the last half second (more than 10% of the energy each).
fn tones_heard(devices: &Devices, candidates: &[f64]) -> Vec<f64> {
    let speaker = devices.probes.speaker.as_ref().unwrap().lock().unwrap();
    let samples: Vec<f64> = speaker.recent.iter().map(|s| *s as f64).collect();
    if samples.len() < 12000 {
        return vec![];
    }
    candidates
        .iter()
        .copied()
        .filter(|hz| probe::tone_share(&samples, speaker.rate as f64, *hz) > 0.1)
        .collect()
}

fn tone(name: &str) -> f64 {
    probe::station_tone_hz(name)
}

fn tag(name: &str) -> u16 {
    probe::station_tag(name)
}

struct Remote {
    name: &'static str,
    devices: Devices,
    session: MediaSession,
    seen: Seen,
}

fn wait_until(secs: u64, done: impl Fn() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while !done() {
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// What each party should perceive: (who, tags expected, tones expected, own tone).
fn expectations(host_seen: &Seen, host: &Devices, remotes: &[Remote]) -> Vec<String> {
    let all_tones: Vec<f64> = std::iter::once(HOST).chain(REMOTES).map(tone).collect();
    let mut missing = Vec::new();
    let mut check = |who: &str, seen: &Seen, devices: &Devices, others: Vec<&str>| {
        let seen = seen.lock().unwrap().clone();
        let heard = tones_heard(devices, &all_tones);
        for other in &others {
            if !seen.contains(&tag(other)) {
                missing.push(format!("{who} does not see {other} (sees {seen:?})"));
            }
            if !heard.contains(&tone(other)) {
                missing.push(format!("{who} does not hear {other} (hears {heard:?})"));
            }
        }
        if heard.contains(&tone(who)) {
            missing.push(format!("{who} hears itself"));
        }
    };
    let present: Vec<&str> = remotes.iter().map(|r| r.name).collect();
    check(HOST, host_seen, host, present.clone());
    for r in remotes {
        let others = std::iter::once(HOST)
            .chain(present.iter().copied().filter(|n| *n != r.name))
            .collect();
        check(r.name, &r.seen, &r.devices, others);
    }
    missing
}

#[test]
fn four_stations_hear_and_see_each_other_and_go_on_when_one_leaves() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    media::init().unwrap();
    let tones: BTreeSet<u64> = std::iter::once(HOST).chain(REMOTES).map(|n| tone(n) as u64).collect();
    assert_eq!(tones.len(), 4, "four distinct tones");
    // RTP pairs from the same slots as the other tests' SIP ports (four ports each, one
    // counter for the whole binary): a range of this test's own could hand out a port
    // another test in this binary has just picked for a station, before it binds it.
    let pair = doorway::api::loopback::free_sip_port;
    let settings = settings();
    let open = |name: &str| device::open(&doorway::api::loopback::loopback_config(name, 5060, vec![])).unwrap();
    let host = open(HOST);
    let mut host_legs: Vec<Negotiated> = vec![];
    let mut remotes = vec![];
    for name in REMOTES {
        let (ours, theirs) = (local(pair(), pair()), local(pair(), pair()));
        let offer = sdp::build_offer(&ours);
        let (answer, their_media) = sdp::answer(&offer, &theirs).unwrap();
        host_legs.push(sdp::apply_answer(&ours, &answer).unwrap());
        let devices = open(name);
        let (out, seen) = watcher();
        let session = MediaSession::start(&settings, &their_media, &devices, out, Arc::new(|_| {})).unwrap();
        remotes.push(Remote {
            name,
            devices,
            session,
            seen,
        });
    }
    let (host_out, host_seen) = watcher();
    let conference = ConferenceMedia::start(&settings, &host_legs, &host, host_out).unwrap();
    let all_well = || expectations(&host_seen, &host, &remotes).is_empty();
    wait_until(20, all_well);
    let missing = expectations(&host_seen, &host, &remotes);
    assert!(missing.is_empty(), "{missing:?}\n{:?}", conference.stats());

    // Upstairs leaves: its leg goes; the rest go on with the grid of those still there.
    let gone = remotes.pop().unwrap();
    gone.session.stop(&gone.devices).join().unwrap();
    conference.stop(&host);
    let host_seen_after = {
        let (out, seen) = watcher();
        let _still = ConferenceMedia::start(&settings, &host_legs[..2], &host, out).unwrap();
        for r in &remotes {
            r.seen.lock().unwrap().clear();
        }
        wait_until(20, || expectations(&seen, &host, &remotes).is_empty());
        let missing = expectations(&seen, &host, &remotes);
        assert!(missing.is_empty(), "after Upstairs left: {missing:?}");
        let seen = seen.lock().unwrap().clone();
        seen
    };
    assert!(!host_seen_after.contains(&tag("Upstairs")), "{host_seen_after:?}");
    for r in remotes {
        r.session.stop(&r.devices).join().unwrap();
    }
}
