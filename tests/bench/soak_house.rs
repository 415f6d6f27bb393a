//! The household of the day-long soak: three station processes (`doorway run` with test
//! devices) and the servers a home has, Kamailio as Door's registrar and Mosquitto as
//! its home automation broker; and what each part of the day does to them.

use crate::common::chrome::{self, Chrome};
use crate::common::kamailio::{Kamailio, DOMAIN};
use crate::common::mosquitto::{self, Broker};
use crate::process_stats::{self, Sample};
use doorway::api::loopback::{contact, free_sip_port, loopback_config};
use doorway::config::{AccountConfig, Config, Group, MqttConfig, RtspConfig};
use gstreamer as gst;
use gstreamer::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ACCOUNT_PASSWORD: &str = "a registrar password";
const WEB_PASSWORD: &str = "a day at the door";
const RTSP_USER: &str = "recorder";
const RTSP_PASSWORD: &str = "a stream password";

/// What went wrong in one part of the day, in words.
pub type Failed = Result<(), String>;

/// A `doorway run` process with its config file and log.
pub struct Process {
    pub name: &'static str,
    child: Child,
    config: PathBuf,
    log: PathBuf,
}

impl Process {
    /// Writes `config` to NAME.toml in `dir`, runs `before` with that file (to set
    /// things up as an installer would), and starts the station.
    fn start(dir: &Path, name: &'static str, config: &Config, before: impl FnOnce(&Path) -> Failed) -> Process {
        let file = dir.join(format!("{name}.toml"));
        std::fs::write(&file, toml::to_string(config).expect("a config as TOML")).expect("write a config");
        let ready = before(&file);
        assert!(ready.is_ok(), "{name}: {ready:?}");
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_doorway"))
            .args(["run", "--config"])
            .arg(&file)
            .stderr(std::fs::File::create(&log).expect("a station log"))
            .stdout(Stdio::null())
            .spawn()
            .expect("start doorway run");
        let socket = config.station.control_socket.clone().expect("a control socket");
        let started = Instant::now();
        while !socket.exists() {
            assert!(started.elapsed() < Duration::from_secs(30), "{name} did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Process {
            name,
            child,
            config: file,
            log,
        }
    }

    /// `doorway ARGS --config FILE`.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_doorway"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .expect("run the doorway command line")
    }

    /// `doorway ARGS`, or what it said when it failed.
    pub fn run(&self, args: &[&str]) -> Failed {
        let out = self.cli(args);
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "{}: `doorway {}` failed: {}",
            self.name,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }

    pub fn status(&self) -> Value {
        serde_json::from_slice(&self.cli(&["status", "--json"]).stdout).unwrap_or_default()
    }

    /// Polls the status until `pred` holds, for `secs` at most.
    pub fn wait(&self, secs: u64, what: &str, pred: impl Fn(&Value) -> bool) -> Failed {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let status = self.status();
            if pred(&status) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{}: not {what} within {secs} s; call {}",
                    self.name, status["call"]
                ));
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Its figures now: /proc's, and the runtime's tasks from its status.
    pub fn figures(&self) -> Figures {
        let status = self.status();
        Figures {
            proc: process_stats::sample(self.child.id()),
            tasks: status["tasks"].as_u64().unwrap_or(0),
            heap_in_use_kb: status["heap"]["in_use_kb"].as_u64().unwrap_or(0),
            heap_free_kb: status["heap"]["free_kb"].as_u64().unwrap_or(0),
        }
    }

    /// The last lines of its log, for a failure's report.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A station's figures at one moment.
#[derive(Clone, Copy, Default, Debug)]
pub struct Figures {
    pub proc: Sample,
    pub tasks: u64,
    /// The allocator's memory in use (what a leak grows) and freed but held, from the
    /// station's status.
    pub heap_in_use_kb: u64,
    pub heap_free_kb: u64,
}

pub fn is_idle(s: &Value) -> bool {
    s["call"]["state"] == "idle"
}

pub fn is_active(s: &Value) -> bool {
    s["call"]["state"] == "active"
}

fn frames(s: &Value) -> u64 {
    s["media"]["frames_decoded"].as_u64().unwrap_or(0)
}

/// Door, Hall and Kitchen, with Door's registrar and broker.
pub struct Household {
    pub door: Process,
    pub hall: Process,
    pub kitchen: Process,
    pub registrar: Kamailio,
    pub broker: Broker,
    runtime: tokio::runtime::Runtime,
    fakes: chrome::Fakes,
    dir: PathBuf,
}

impl Household {
    pub fn start(dir: &Path) -> Household {
        let registrar = Kamailio::start(&[("door", ACCOUNT_PASSWORD)]);
        let broker = Broker::start(dir, free_sip_port());
        let ports = [free_sip_port(), free_sip_port(), free_sip_port()];
        let answering = |name: &str, port| {
            let mut c = contact(name, port);
            c.auto_answer = true;
            c
        };
        let mut door = loopback_config(
            "Door",
            ports[0],
            vec![contact("Hall", ports[1]), contact("Kitchen", ports[2])],
        );
        door.groups = vec![Group {
            name: "Upstairs".into(),
            members: vec!["Hall".into(), "Kitchen".into()],
            key: None,
        }];
        door.account = AccountConfig {
            registrar: Some(format!("sip:{DOMAIN}")),
            proxy: Some(registrar.proxy()),
            user: Some("door".into()),
            password: Some(ACCOUNT_PASSWORD.into()),
            keepalive_seconds: 5,
            ..Default::default()
        };
        let broker_password = dir.join("broker-password");
        std::fs::write(&broker_password, format!("{}\n", mosquitto::PASSWORD)).unwrap();
        door.mqtt = MqttConfig {
            broker: Some(format!("mqtt://127.0.0.1:{}", broker.port)),
            user: Some(mosquitto::USER.into()),
            password_file: Some(broker_password),
            ..Default::default()
        };
        door.rtsp = RtspConfig {
            enabled: true,
            port: free_sip_port(),
            user: Some(RTSP_USER.into()),
            password: Some(RTSP_PASSWORD.into()),
            password_file: None,
        };
        let hall = loopback_config("Hall", ports[1], vec![answering("Door", ports[0])]);
        let kitchen = loopback_config("Kitchen", ports[2], vec![answering("Door", ports[0])]);
        let mut configs = [door, hall, kitchen];
        for config in &mut configs {
            // Kept on disk as on a board: messages, the visitor log, the web password.
            let name = config.station.name.to_lowercase();
            config.station.state_dir = Some(dir.join(&name));
            config.station.ephemeral_state = false;
            config.station.control_socket = Some(dir.join(format!("{name}.sock")));
        }
        // On a LAN each station is a machine of its own; here three share one, so each
        // takes RTP ports from a range of its own (a port one probes free, another could
        // bind before the first's pipeline does).
        for (i, config) in configs.iter_mut().enumerate() {
            let base = 20000 + 2000 * i as u16;
            config.media.rtp_port_min = base;
            config.media.rtp_port_max = base + 1998;
        }
        let [door, hall, kitchen] = configs;
        let door = Process::start(dir, "Door", &door, password_for_the_web);
        let hall = Process::start(dir, "Hall", &hall, |_| Ok(()));
        let kitchen = Process::start(dir, "Kitchen", &kitchen, |_| Ok(()));
        Household {
            door,
            hall,
            kitchen,
            registrar,
            broker,
            runtime: tokio::runtime::Runtime::new().expect("a runtime for the browser"),
            fakes: chrome::fakes(dir, "Browser", 880.0, 412, 915),
            dir: dir.to_owned(),
        }
    }

    pub fn stations(&self) -> [&Process; 3] {
        [&self.door, &self.hall, &self.kitchen]
    }

    /// Where the stations' logs and state are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Call `n` of the day: to Hall, Kitchen (one in five) or the ring group (one in
    /// ten); one in ten held and resumed; hung up by Door or, every other call, by the
    /// station that answered. Both ends must see pictures before it ends.
    pub fn call(&self, n: u64, talk: Duration) -> Failed {
        let (to, callee) = match n % 10 {
            0 => ("Upstairs", None),
            5 => ("Kitchen", Some(&self.kitchen)),
            _ => ("Hall", Some(&self.hall)),
        };
        self.door.run(&["call", to])?;
        let flowing = |s: &Value| is_active(s) && frames(s) > 10;
        self.door.wait(20, "in a call with pictures", flowing)?;
        if let Some(callee) = callee {
            callee.wait(10, "in a call with pictures", flowing)?;
        }
        if n % 10 == 3 {
            self.door.run(&["hold"])?;
            self.door
                .wait(5, "on hold", |s| is_active(s) && s["call"]["held_by_us"] == true)?;
            std::thread::sleep(Duration::from_secs(1));
            self.door.run(&["resume"])?;
            self.door
                .wait(5, "off hold", |s| is_active(s) && s["call"]["held_by_us"] == false)?;
        }
        std::thread::sleep(talk);
        match callee {
            Some(callee) if n % 2 == 1 => callee.run(&["hangup"])?,
            _ => self.door.run(&["hangup"])?,
        }
        for s in self.stations() {
            s.wait(10, "idle after the hang-up", is_idle)?;
        }
        Ok(())
    }

    /// A text message from Door to Hall, delivered.
    pub fn text(&self, n: u64) -> Failed {
        self.door.run(&["message", "Hall", &format!("text {n} of the day")])
    }

    /// A real browser logs in to Door's web page and watches the camera live until it
    /// has decoded 30 frames; then it leaves, and Door counts no viewer.
    pub fn web_visit(&self) -> Failed {
        let url = self.door.status()["web"]
            .as_str()
            .ok_or("Door has no web page")?
            .to_string();
        self.runtime.block_on(async {
            let browser = Chrome::start(&self.fakes).await;
            browser.goto(&format!("{url}/")).await;
            let login = "location.pathname === '/login' && !document.querySelector('#login').hidden";
            browser
                .wait_for(login, 15)
                .await
                .map_err(|e| format!("no login form: {e}"))?;
            browser.type_into("#login input[name=password]", WEB_PASSWORD).await;
            browser.click("#login button").await;
            browser
                .wait_for("location.pathname === '/'", 15)
                .await
                .map_err(|e| format!("the login did not get in: {e}"))?;
            browser.goto(&format!("{url}/live")).await;
            let decoded = "const done = arguments[arguments.length - 1];
                if (typeof live === 'undefined' || !live.pc) { done(0); return; }
                live.pc.getStats().then((report) => {
                  let frames = 0;
                  report.forEach((s) => {
                    if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded || 0;
                  });
                  done(frames);
                });";
            let started = Instant::now();
            while browser.run_async(decoded, vec![]).await.as_u64().unwrap_or(0) < 30 {
                if started.elapsed() > Duration::from_secs(20) {
                    return Err("the live view decoded under 30 frames in 20 s".to_string());
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            browser.goto(&format!("{url}/")).await;
            Ok(())
        })?;
        self.door.wait(15, "without live viewers", |s| {
            s["live_views"].as_array().is_some_and(|v| v.is_empty())
        })
    }

    /// An RTSP viewer (rtspsrc over TCP, as recorders use) takes 20 pictures of Door's
    /// stream and its sound, and leaves; Door counts no viewer after.
    pub fn rtsp_view(&self) -> Failed {
        let url = self.door.status()["rtsp"]["url"]
            .as_str()
            .ok_or("Door has no RTSP stream")?
            .to_string();
        gst::init().map_err(|e| e.to_string())?;
        let line = format!(
            "rtspsrc name=src location={url} user-id={RTSP_USER} user-pw=\"{RTSP_PASSWORD}\" protocols=tcp \
             latency=200 src. ! rtph264depay ! fakesink name=pictures signal-handoffs=true sync=false \
             src. ! rtpopusdepay ! fakesink sync=false"
        );
        let pipeline = gst::parse::launch(&line)
            .map_err(|e| e.to_string())?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "not a pipeline")?;
        let pictures = Arc::new(AtomicU64::new(0));
        let counted = pictures.clone();
        pipeline
            .by_name("pictures")
            .ok_or("no picture sink")?
            .connect("handoff", false, move |_| {
                counted.fetch_add(1, Ordering::Relaxed);
                None
            });
        pipeline.set_state(gst::State::Playing).map_err(|e| e.to_string())?;
        let started = Instant::now();
        while pictures.load(Ordering::Relaxed) < 20 && started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let got = pictures.load(Ordering::Relaxed);
        let _ = pipeline.set_state(gst::State::Null);
        if got < 20 {
            return Err(format!("the RTSP viewer got {got} pictures in 20 s"));
        }
        self.door
            .wait(15, "without RTSP viewers", |s| s["rtsp"]["viewers"] == 0)
    }

    /// The broker goes away: Door notices; it comes back: Door connects again.
    pub fn restart_broker(&mut self) -> Failed {
        self.broker.stop();
        self.door
            .wait(30, "told the broker is gone", |s| s["mqtt"]["connected"] == false)?;
        self.broker.restart();
        self.door
            .wait(60, "connected to the broker again", |s| s["mqtt"]["connected"] == true)
    }

    /// The registrar goes away, forgetting every registration: Door notices; it comes
    /// back: Door registers again.
    pub fn restart_registrar(&mut self) -> Failed {
        self.registrar.stop();
        self.door
            .wait(30, "told the registrar is gone", |s| s["account"]["state"] == "failed")?;
        self.registrar.restart();
        self.door
            .wait(60, "registered again", |s| s["account"]["state"] == "registered")
    }

    /// All three idle, no viewer on Door, and 40 s of rest: a runtime's idle threads
    /// retire after 10 s, and a finished SIP transaction over UDP lingers for 32 s
    /// (RFC 3261 timer D) to absorb retransmissions. Figures that can be compared over
    /// the day.
    pub fn at_rest(&self) -> Result<[Figures; 3], String> {
        for s in self.stations() {
            s.wait(30, "idle", is_idle)?;
        }
        self.door.wait(30, "without viewers", |s| {
            s["live_views"].as_array().is_some_and(|v| v.is_empty()) && s["rtsp"]["viewers"] == 0
        })?;
        std::thread::sleep(Duration::from_secs(40));
        Ok(self.stations().map(Process::figures))
    }
}

/// Sets the web page's password in the station's state, as `doorway web-password` does
/// from a terminal.
fn password_for_the_web(config: &Path) -> Failed {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_doorway"))
        .args(["web-password", "--config"])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    writeln!(stdin, "{WEB_PASSWORD}").map_err(|e| e.to_string())?;
    drop(stdin);
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("web-password: {}", String::from_utf8_lossy(&out.stderr)))
    }
}
