//! baresip, a SIP client no one here wrote (Debian packages baresip-core and
//! baresip-ffmpeg), run for a test in a folder of its own: its config, account, log,
//! snapshots of the video it received and dumps of the audio it decoded.
#![allow(dead_code)]

use super::requires;
use doorway::device::probe;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

pub const BARESIP_TONE_HZ: f64 = 440.0;

pub struct Baresip {
    child: Child,
    pub dir: tempfile::TempDir,
    pub sip_port: u16,
    ctrl_port: u16,
}

/// TLS and SRTP settings for baresip: its own certificate, ours as its CA, and SRTP
/// required on its account.
pub struct Secure {
    /// doorway's certificate (PEM), which baresip trusts.
    pub doorway_cert: String,
    /// SRTP required on baresip's account (`mediaenc=srtp-mand`); without it baresip
    /// offers plain RTP over TLS.
    pub srtp: bool,
}

impl Baresip {
    pub fn start() -> Baresip {
        Self::start_with(None, None)
    }

    /// baresip's SIP over TLS listens on its SIP port + 1.
    pub fn tls_port(&self) -> u16 {
        self.sip_port + 1
    }

    /// The fingerprint of baresip's certificate (made in its folder by `start_with`).
    pub fn fingerprint(&self) -> doorway::security::identity::Fingerprint {
        doorway::security::identity::Identity::read_certificate(&self.dir.path().join("identity")).unwrap()
    }

    /// With `contact`, baresip has that one contact (the target of its `/message`) and a
    /// text console on `sip_port + 2` (its `cons` module), where it prints the messages
    /// it receives.
    pub fn start_with(secure: Option<Secure>, contact: Option<&str>) -> Baresip {
        Self::launch(secure, contact, None)
    }

    /// Registered as `user` (password `password`) at the SIP server `proxy` (IP:PORT)
    /// for `domain`, answering calls at once.
    pub fn start_registered(user: &str, password: &str, domain: &str, proxy: &str) -> Baresip {
        let account =
            format!("<sip:{user}@{domain}>;auth_pass={password};outbound=\"sip:{proxy}\";regint=600;answermode=auto");
        Self::launch(None, None, Some(account))
    }

    fn launch(secure: Option<Secure>, contact: Option<&str>, account: Option<String>) -> Baresip {
        requires::program("baresip", "baresip-core");
        assert!(
            Path::new("/usr/lib/baresip/modules/avcodec.so").exists(),
            "baresip's H.264 module is not installed: apt-get install baresip-ffmpeg (scripts/install-deps)"
        );
        let dir = tempfile::tempdir().unwrap();
        let (sip_port, ctrl_port) = (
            doorway::api::loopback::free_sip_port(),
            doorway::api::loopback::free_sip_port(),
        );
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
        let registered = account.is_some();
        let mut account = account.unwrap_or_else(|| "<sip:baresip@127.0.0.1>;regint=0;answermode=auto".to_string());
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
        if registered {
            // Its media address would be the machine's LAN one (the proxy is not the
            // peer it could pick an address by): keep it on loopback with the stations.
            config.push_str("net_interface 127.0.0.1\n");
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

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }

    /// Sends a command over ctrl_tcp (JSON in a netstring) and returns the reply.
    pub fn command(&self, command: &str, params: &str) -> String {
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
    pub fn received_tag(&self) -> Option<u16> {
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
    pub fn heard_tone(&self) -> Option<f64> {
        let (samples, rate) = self.decoded_tail()?;
        probe::estimate_tone(&samples, rate)
    }

    /// The last second of baresip's dump of the audio it decoded (written out when its
    /// call ends), first channel, and its rate.
    pub fn decoded_tail(&self) -> Option<(Vec<f64>, u32)> {
        let (samples, rate) = decoded_sound(self.dir.path())?;
        let tail = &samples[samples.len().saturating_sub(rate as usize)..];
        Some((tail.iter().copied().map(f64::from).collect(), rate))
    }

    /// The station tags in the cells of the grid baresip receives from a host.
    pub fn received_cells(&self) -> Vec<u16> {
        let path = self.dir.path().join("received-grid.png");
        self.command("snapshot_recv", &path.display().to_string());
        for _ in 0..40 {
            if let Some((bgrx, w, h)) = read_png_bgrx(&path) {
                let tags: Vec<u16> = probe::read_cells(&bgrx, w, h, w as usize * 4)
                    .iter()
                    .map(|c| c.tag)
                    .collect();
                if !tags.is_empty() {
                    return tags;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        vec![]
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_png_code(path: &PathBuf) -> Option<probe::FrameCode> {
    let (bgrx, w, h) = read_png_bgrx(path)?;
    probe::read_bgrx(&bgrx, w, h, w as usize * 4)
}

/// A PNG as BGRx pixels, with its width and height.
fn read_png_bgrx(path: &PathBuf) -> Option<(Vec<u8>, u32, u32)> {
    let file = std::fs::File::open(path).ok()?;
    let mut reader = png::Decoder::new(std::io::BufReader::new(file)).read_info().ok()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).ok()?;
    let channels = info.color_type.samples();
    let bgrx: Vec<u8> = buf[..info.buffer_size()]
        .chunks(channels)
        .flat_map(|p| [p[2], p[1], p[0], 255])
        .collect();
    Some((bgrx, info.width, info.height))
}

/// The sound a baresip with its sndfile module dumped as decoded in `folder` (its
/// `snd_path`): the first channel, and its rate.
pub fn decoded_sound(folder: &Path) -> Option<(Vec<i16>, u32)> {
    let wav = std::fs::read_dir(folder)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))?;
    let mut reader = hound::WavReader::open(&wav).ok()?;
    let spec = reader.spec();
    let samples = reader
        .samples::<i16>()
        .filter_map(Result::ok)
        .step_by(spec.channels as usize)
        .collect();
    Some((samples, spec.sample_rate))
}
