//! Interop with baresip, a SIP client no one here wrote (Debian packages baresip-core and
//! baresip-ffmpeg): calls both ways with H.264 video and audio, checked from doorway's side
//! (frames decoded, tone heard) and from baresip's (its snapshot of the video it received
//! carries our pattern, its decoded-audio dump carries our tone, its log shows the call).

mod common;
#[path = "common/requires.rs"]
mod requires;

use common::*;
use doorway::device::probe;
use doorway::station::Command;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

const BARESIP_TONE_HZ: f64 = 440.0;

struct Baresip {
    child: Child,
    dir: tempfile::TempDir,
    sip_port: u16,
    ctrl_port: u16,
}

/// TLS and SRTP settings for baresip: its own certificate, ours as its CA, and SRTP
/// required on its account.
struct Secure {
    /// doorway's certificate (PEM), which baresip trusts.
    doorway_cert: String,
    /// SRTP required on baresip's account (`mediaenc=srtp-mand`); without it baresip
    /// offers plain RTP over TLS.
    srtp: bool,
}

impl Baresip {
    fn start() -> Baresip {
        Self::start_with(None, None)
    }

    /// baresip's SIP over TLS listens on its SIP port + 1.
    fn tls_port(&self) -> u16 {
        self.sip_port + 1
    }

    /// The fingerprint of baresip's certificate (made in its folder by `start_with`).
    fn fingerprint(&self) -> doorway::security::identity::Fingerprint {
        doorway::security::identity::Identity::read_certificate(&self.dir.path().join("identity")).unwrap()
    }

    /// With `contact`, baresip has that one contact (the target of its `/message`) and a
    /// text console on `sip_port + 2` (its `cons` module), where it prints the messages
    /// it receives.
    fn start_with(secure: Option<Secure>, contact: Option<&str>) -> Baresip {
        requires::program("baresip", "baresip-core");
        assert!(
            Path::new("/usr/lib/baresip/modules/avcodec.so").exists(),
            "baresip's H.264 module is not installed: apt-get install baresip-ffmpeg (scripts/install-deps)"
        );
        let dir = tempfile::tempdir().unwrap();
        let (sip_port, ctrl_port) = (doorway::demo::free_sip_port(), doorway::demo::free_sip_port());
        let config = format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{sip_port}\n\
             audio_player aubridge,nil\naudio_source ausine,{tone}\naudio_alert aubridge,nil\n\
             ausrc_srate 48000\nausrc_channels 2\nauplay_srate 48000\nauplay_channels 2\n\
             video_source fakevideo,nil\nvideo_display fakevideo,nil\nvideo_size 320x240\nvideo_fps 15\nvideo_bitrate 500000\n\
             snd_path {dir}\nctrl_tcp_listen 127.0.0.1:{ctrl_port}\nmodule_path /usr/lib/baresip/modules\n\
             module g711.so\nmodule opus.so\nmodule avcodec.so\nmodule ausine.so\nmodule aubridge.so\n\
             module fakevideo.so\nmodule sndfile.so\nmodule snapshot.so\nmodule ctrl_tcp.so\n\
             module_app account.so\nmodule_app menu.so\navcodec_h264enc libx264\navcodec_h264dec h264\n",
            tone = BARESIP_TONE_HZ as u32,
            dir = dir.path().display()
        );
        let mut config = config;
        let mut account = "<sip:baresip@127.0.0.1>;regint=0;answermode=auto".to_string();
        if let Some(secure) = secure {
            // baresip's own key and certificate, made the way a station makes its own.
            let own = dir.path().join("identity");
            let id = doorway::security::identity::Identity::load_or_create(&own, "baresip").unwrap();
            let key = std::fs::read_to_string(own.join(doorway::security::identity::KEY_FILE)).unwrap();
            std::fs::write(dir.path().join("cert.pem"), format!("{}{key}", id.cert_pem)).unwrap();
            std::fs::write(dir.path().join("ca.pem"), &secure.doorway_cert).unwrap();
            config.push_str(&format!(
                "sip_certificate {d}/cert.pem\nsip_cafile {d}/ca.pem\nmodule srtp.so\n",
                d = dir.path().display()
            ));
            if secure.srtp {
                account.push_str(";mediaenc=srtp-mand");
            }
        }
        if let Some(contact) = contact {
            config.push_str(&format!(
                "module_app contact.so\nmodule cons.so\ncons_listen 127.0.0.1:{}\n",
                sip_port + 2
            ));
            std::fs::write(dir.path().join("contacts"), format!("\"Hall\" <{contact}>\n")).unwrap();
        }
        std::fs::write(dir.path().join("config"), config).unwrap();
        std::fs::write(dir.path().join("accounts"), format!("{account}\n")).unwrap();
        let log = std::fs::File::create(dir.path().join("baresip.log")).unwrap();
        let child = std::process::Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("baresip starts");
        let b = Baresip {
            child,
            dir,
            sip_port,
            ctrl_port,
        };
        for _ in 0..100 {
            if b.log().contains("baresip is ready") {
                return b;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("baresip did not start:\n{}", b.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }

    /// Sends a command over ctrl_tcp (JSON in a netstring) and returns the reply.
    fn command(&self, command: &str, params: &str) -> String {
        let json = format!("{{\"command\":\"{command}\",\"params\":\"{params}\",\"token\":\"t\"}}");
        let mut stream = TcpStream::connect(("127.0.0.1", self.ctrl_port)).expect("baresip ctrl_tcp");
        stream
            .write_all(format!("{}:{},", json.len(), json).as_bytes())
            .unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = vec![0u8; 4096];
        let n = stream.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// Saves the video baresip received as PNG and reads our code from it.
    fn received_tag(&self) -> Option<u16> {
        let path = self.dir.path().join("received.png");
        self.command("snapshot_recv", &path.display().to_string());
        for _ in 0..40 {
            if let Some(code) = read_png_code(&path) {
                return Some(code.tag);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// The tone in baresip's dump of the audio it decoded.
    fn heard_tone(&self) -> Option<f64> {
        let wav = std::fs::read_dir(self.dir.path())
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))?;
        let mut reader = hound::WavReader::open(&wav).ok()?;
        let spec = reader.spec();
        let samples: Vec<f64> = reader
            .samples::<i16>()
            .filter_map(Result::ok)
            .step_by(spec.channels as usize)
            .map(f64::from)
            .collect();
        let tail = &samples[samples.len().saturating_sub(spec.sample_rate as usize)..];
        probe::estimate_tone(tail, spec.sample_rate)
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_png_code(path: &PathBuf) -> Option<probe::FrameCode> {
    let file = std::fs::File::open(path).ok()?;
    let mut reader = png::Decoder::new(std::io::BufReader::new(file)).read_info().ok()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).ok()?;
    let channels = info.color_type.samples();
    let bgrx: Vec<u8> = buf[..info.buffer_size()]
        .chunks(channels)
        .flat_map(|p| [p[2], p[1], p[0], 255])
        .collect();
    probe::read_bgrx(&bgrx, info.width, info.height, info.width as usize * 4)
}

fn hall_with_baresip_contact(bs: &Baresip, auto_answer: bool) -> doorway::config::Config {
    let mut contact = doorway::demo::contact("Baresip", bs.sip_port);
    contact.uri = format!("sip:baresip@127.0.0.1:{}", bs.sip_port);
    contact.auto_answer = auto_answer;
    doorway::demo::loopback_config("Hall", doorway::demo::free_sip_port(), vec![contact])
}

fn assert_media_both_ways(bs: &Baresip, s: &doorway::station::Status) {
    assert!(
        decoded(s) >= 30,
        "doorway decoded only {} frames of baresip's video: {:?}\n{}",
        decoded(s),
        s.media,
        bs.log()
    );
    let heard = s
        .probes
        .tone_heard_hz
        .unwrap_or_else(|| panic!("doorway heard nothing: {:?} {:?}\n{}", s.probes, s.media, bs.log()));
    assert!((heard - BARESIP_TONE_HZ).abs() < 10.0, "doorway heard {heard} Hz");
    assert_eq!(
        bs.received_tag(),
        Some(s.probes.own_tag),
        "baresip's snapshot does not show doorway's pattern"
    );
}

/// baresip finishes its audio dump when the call ends.
fn assert_baresip_heard(bs: &Baresip, s: &doorway::station::Status) {
    let sent = s.probes.own_tone_hz.unwrap();
    let mut tone = None;
    for _ in 0..20 {
        tone = bs.heard_tone();
        if tone.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let files: Vec<_> = std::fs::read_dir(bs.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    let tone = tone.unwrap_or_else(|| panic!("no tone in baresip's decoded audio; files: {files:?}"));
    assert!(
        (tone - sent).abs() / sent < 0.03,
        "baresip heard {tone} Hz, doorway sent {sent} Hz"
    );
}

/// doorway calls baresip, which answers; media is checked both ways, doorway hangs up,
/// and baresip must have heard doorway. Returns the status in the call.
async fn doorway_calls_and_hangs_up(hall: &Station, bs: &Baresip) -> doorway::station::Status {
    hall.handle.call("Baresip").await.unwrap().unwrap();
    let s = hall.wait(20, |s| active(s) && decoded(s) >= 45).await;
    assert!(active(&s), "{:?} {:?}\n{}", s.call, s.last_message, bs.log());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = hall.status().await;
    assert_media_both_ways(bs, &s);
    hall.send(Command::Hangup);
    hall.wait(2, idle).await;
    assert_baresip_heard(bs, &s);
    s
}

/// baresip dials `uri`; doorway rings and answers; media is checked both ways, baresip
/// hangs up, and baresip must have heard doorway. Returns the status in the call.
async fn baresip_calls_and_hangs_up(hall: &Station, bs: &Baresip, uri: &str) -> doorway::station::Status {
    let reply = bs.command("dial", uri);
    let s = hall.wait(10, ringing).await;
    assert!(
        ringing(&s),
        "doorway did not ring: {reply} {:?}\n{}",
        s.last_message,
        bs.log()
    );
    hall.send(Command::Answer);
    let s = hall.wait(20, |s| active(s) && decoded(s) >= 45).await;
    assert!(active(&s), "{:?}\n{}", s.call, bs.log());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = hall.status().await;
    assert_media_both_ways(bs, &s);
    bs.command("hangup", "");
    let after = hall.wait(3, idle).await;
    assert!(idle(&after), "baresip's BYE did not end the call");
    assert_baresip_heard(bs, &s);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doorway_calls_baresip() {
    let _serial = SERIAL.lock().await;
    let bs = Baresip::start();
    let hall = Station::start(hall_with_baresip_contact(&bs, false)).await;
    doorway_calls_and_hangs_up(&hall, &bs).await;
    let log = bs.log();
    assert!(log.contains("Call established") || log.contains("established"), "{log}");
    assert!(log.contains("H264"), "baresip did not use H.264:\n{log}");
    hall.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_calls_doorway() {
    let _serial = SERIAL.lock().await;
    let bs = Baresip::start();
    let hall = Station::start(hall_with_baresip_contact(&bs, false)).await;
    let uri = format!("sip:hall@127.0.0.1:{}", hall.handle.sip_addr.port());
    baresip_calls_and_hangs_up(&hall, &bs, &uri).await;
    let log = bs.log();
    assert!(log.contains("established"), "{log}");
    assert!(log.contains("H264"), "baresip did not use H.264:\n{log}");
    hall.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_and_resume_both_ways_with_baresip() {
    let _serial = SERIAL.lock().await;
    let bs = Baresip::start();
    let hall = Station::start(hall_with_baresip_contact(&bs, false)).await;
    hall.handle.call("Baresip").await.unwrap().unwrap();
    let s = hall.wait(20, |s| active(s) && decoded(s) >= 30).await;
    assert!(active(&s), "{:?} {:?}\n{}", s.call, s.last_message, bs.log());

    // baresip holds: doorway says so and keeps the call past its media timeout (5 s).
    let reply = bs.command("hold", "");
    let s = hall.wait(5, |s| holds(s) == Some((true, false))).await;
    assert_eq!(holds(&s), Some((true, false)), "{reply}\n{}", bs.log());
    tokio::time::sleep(Duration::from_secs(7)).await;
    let s = hall.status().await;
    assert_eq!(holds(&s), Some((true, false)), "{:?}", s.last_message);
    // ... and resumes: pictures and sound come again.
    bs.command("resume", "");
    let s = hall.wait(5, |s| holds(s) == Some((false, false))).await;
    let before = decoded(&s);
    let s = hall.wait(10, |s| decoded(s) >= before + 30).await;
    assert!(
        decoded(&s) >= before + 30,
        "no pictures after baresip resumed\n{}",
        bs.log()
    );

    // doorway holds: nobody sends, baresip is told so.
    hall.send(Command::Hold);
    let inactive = Some(doorway::call::sdp::Direction::Inactive);
    let s = hall
        .wait(5, |s| holds(s) == Some((false, true)) && video_direction(s) == inactive)
        .await;
    assert_eq!(video_direction(&s), inactive, "{:?}\n{}", s.last_message, bs.log());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held_frames = decoded(&hall.status().await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        decoded(&hall.status().await),
        held_frames,
        "pictures kept coming on hold"
    );
    // ... and resumes: media both ways again, checked on both sides.
    hall.send(Command::Resume);
    let s = hall.wait(5, |s| holds(s) == Some((false, false))).await;
    let before = decoded(&s);
    hall.send(Command::ResetProbes);
    let s = hall
        .wait(15, |s| decoded(s) >= before + 45 && s.probes.tone_heard_hz.is_some())
        .await;
    assert!(active(&s), "{:?}", s.last_message);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = hall.status().await;
    assert_media_both_ways(&bs, &s);
    hall.send(Command::Hangup);
    hall.wait(2, idle).await;
    hall.stop().await;
}

/// Hall with baresip pinned as a contact (its certificate's fingerprint in the config),
/// and baresip trusting Hall's certificate: calls go over TLS with SRTP.
async fn secure_hall_and_baresip(srtp: bool) -> (Station, Baresip, tempfile::TempDir) {
    let state = tempfile::tempdir().unwrap();
    let identity = doorway::security::identity::Identity::load_or_create(state.path(), "Hall").unwrap();
    let bs = Baresip::start_with(
        Some(Secure {
            doorway_cert: identity.cert_pem.clone(),
            srtp,
        }),
        None,
    );
    let auto_answer = false;
    let mut config = hall_with_baresip_contact(&bs, auto_answer);
    config.station.ephemeral_state = false;
    config.station.state_dir = Some(state.path().to_owned());
    config.contacts[0].fingerprint = Some(bs.fingerprint().to_string());
    config.contacts[0].tls_port = Some(bs.tls_port());
    (Station::start(config).await, bs, state)
}

fn assert_secure(s: &doorway::station::Status) {
    let doorway::call::machine::State::Active { peer, .. } = &s.call else {
        panic!("not in a call: {:?}", s.call);
    };
    assert!(peer.secure, "the call with baresip is not secure: {peer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doorway_calls_baresip_over_tls_with_srtp() {
    let _serial = SERIAL.lock().await;
    let (hall, bs, _state) = secure_hall_and_baresip(true).await;
    let s = doorway_calls_and_hangs_up(&hall, &bs).await;
    assert_secure(&s);
    let log = bs.log();
    assert!(
        log.to_ascii_lowercase().contains("srtp"),
        "baresip did not use SRTP:\n{log}"
    );
    hall.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_calls_doorway_over_tls_with_srtp() {
    let _serial = SERIAL.lock().await;
    let (hall, bs, _state) = secure_hall_and_baresip(true).await;
    let tls_port = hall.config.security.tls_port;
    let uri = format!("sip:hall@127.0.0.1:{tls_port};transport=tls");
    let s = baresip_calls_and_hangs_up(&hall, &bs, &uri).await;
    assert_secure(&s);
    hall.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_media_offered_to_a_secure_call_is_refused_with_488() {
    let _serial = SERIAL.lock().await;
    // baresip holds the pinned certificate and calls over TLS, but offers plain RTP.
    let (hall, bs, _state) = secure_hall_and_baresip(false).await;
    let tls_port = hall.config.security.tls_port;
    bs.command("dial", &format!("sip:hall@127.0.0.1:{tls_port};transport=tls"));
    let s = hall
        .wait(10, |s| {
            s.last_message.as_deref().is_some_and(|m| m.contains("unencrypted"))
        })
        .await;
    assert!(idle(&s), "doorway must not ring: {:?}", s.call);
    assert!(
        s.last_message
            .as_deref()
            .unwrap_or_default()
            .contains("unencrypted media to a secure call"),
        "{:?}\n{}",
        s.last_message,
        bs.log()
    );
    let mut log = bs.log();
    for _ in 0..40 {
        if log.contains("488") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        log = bs.log();
    }
    assert!(log.contains("488"), "baresip was not told 488:\n{log}");
    hall.stop().await;
}

/// baresip's text console (see `Baresip::start_with`): commands in, what it prints out.
struct Console(TcpStream);

impl Console {
    fn open(bs: &Baresip) -> Console {
        let stream = TcpStream::connect(("127.0.0.1", bs.sip_port + 2)).expect("baresip's console");
        stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        Console(stream)
    }

    fn command(&mut self, line: &str) {
        self.0.write_all(format!("{line}\n").as_bytes()).unwrap();
    }

    /// Reads what baresip prints until `want` shows up (or 5 s pass); returns it all.
    fn read_until(&mut self, want: &str) -> String {
        let mut seen = String::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 4096];
        while !seen.contains(want) && std::time::Instant::now() < deadline {
            if let Ok(n) = self.0.read(&mut buf) {
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
        seen
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_messages_both_ways_with_baresip() {
    let _serial = SERIAL.lock().await;
    let hall_port = doorway::demo::free_sip_port();
    let bs = Baresip::start_with(None, Some(&format!("sip:hall@127.0.0.1:{hall_port}")));
    let mut config = hall_with_baresip_contact(&bs, false);
    config.station.listen.set_port(hall_port);
    let hall = Station::start(config).await;
    let mut console = Console::open(&bs);
    console.command("/help");
    console.read_until("Message current contact");

    // doorway to baresip: baresip prints who sent it and the text.
    let (reply, rx) = tokio::sync::oneshot::channel();
    hall.send(Command::Text(doorway::station::messages::TextCommand::Send {
        to: "Baresip".into(),
        text: "Hello from Hall".into(),
        reply,
    }));
    rx.await.unwrap().expect("baresip takes the message");
    let printed = console.read_until("\"Hello from Hall\"");
    assert!(
        printed.contains(&format!("sip:hall@127.0.0.1:{hall_port}: \"Hello from Hall\"")),
        "{printed}"
    );

    // baresip to doorway: its current contact is Hall.
    console.command("/contact_next");
    console.read_until("Current contact");
    console.command("/message Hello from baresip");
    let s = hall
        .wait(10, |s| {
            s.messages
                .iter()
                .any(|m| m.incoming && m.peer == "Baresip" && m.text == "Hello from baresip")
        })
        .await;
    assert_eq!(s.unread_messages.len(), 1, "{:?}", s.messages);
    hall.stop().await;
}
