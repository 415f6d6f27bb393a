//! A real browser for the web page's tests: Debian's headless Chromium driven through
//! chromedriver (W3C WebDriver over HTTP on loopback), its camera and microphone fed
//! from files: a y4m of doorway's pattern camera and a WAV tone, so the station's probes
//! recognise what the browser sends.

use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether the browser is installed (Debian packages chromium and chromium-driver).
pub fn available() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

/// A browser session.
pub struct Chrome {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

/// What the browser's camera and microphone play, and its window.
pub struct Fakes {
    pub y4m: PathBuf,
    pub wav: PathBuf,
    pub width: u32,
    pub height: u32,
}

impl Chrome {
    /// Starts chromedriver and a headless Chromium session.
    pub async fn start(fakes: &Fakes) -> Chrome {
        // Outside the ephemeral range: the browser's own connections cannot take it.
        let port = doorway::api::loopback::free_sip_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: dropping the session kills chromedriver and every
            // browser process it started, even when the session could not be closed.
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let profile = tempfile::tempdir().unwrap();
        let mut chrome = Chrome {
            driver,
            addr,
            session: String::new(),
            _profile: profile,
        };
        let until = Instant::now() + Duration::from_secs(20);
        while chrome.call("GET", "/status", None).await.is_none() {
            assert!(Instant::now() < until, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = vec![
            "--headless=new".to_string(),
            // chromedriver talks to the browser over a pipe, not a DevTools port on
            // "localhost": a machine without /etc/hosts (a minimal root filesystem)
            // cannot resolve that name, and the session fails with "unable to connect to
            // renderer".
            "--remote-debugging-pipe".into(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--ignore-certificate-errors".into(),
            "--use-fake-ui-for-media-stream".into(),
            "--use-fake-device-for-media-stream".into(),
            format!("--use-file-for-fake-video-capture={}", fakes.y4m.display()),
            format!("--use-file-for-fake-audio-capture={}", fakes.wav.display()),
            "--autoplay-policy=no-user-gesture-required".into(),
            // The station answers on 127.0.0.1 in tests: let WebRTC use loopback.
            "--allow-loopback-in-peer-connection".into(),
            format!("--window-size={},{}", fakes.width, fakes.height),
            format!("--user-data-dir={}", chrome._profile.path().display()),
        ];
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "acceptInsecureCerts": true,
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": args,
                    // A phone's viewport at one pixel per CSS pixel, so the page lays
                    // out (and is screenshot) as on a phone, not at a desktop's minimum.
                    "mobileEmulation": { "deviceMetrics": {
                        "width": fakes.width, "height": fakes.height, "pixelRatio": 1,
                    }},
                },
            }}
        });
        let reply = chrome.call("POST", "/session", Some(caps)).await.expect("a session");
        chrome.session = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver made no session: {reply}"))
            .to_string();
        chrome
            .command("POST", "timeouts", json!({ "script": 30_000, "pageLoad": 30_000 }))
            .await;
        chrome
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Option<Value> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.ok()?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .ok()?;
        tokio::spawn(connection);
        let bytes = body.map(|b| serde_json::to_vec(&b).unwrap()).unwrap_or_default();
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", format!("127.0.0.1:{}", self.addr.port()))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(hyper::body::Bytes::from(bytes)))
            .unwrap();
        let response = sender.send_request(request).await.ok()?;
        let body = response.into_body().collect().await.ok()?.to_bytes();
        serde_json::from_slice(&body).ok()
    }

    /// A WebDriver command on this session; its `value`.
    pub async fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let body = (method != "GET" && method != "DELETE").then_some(body);
        let reply = self
            .call(method, &format!("/session/{}/{path}", self.session), body)
            .await
            .unwrap_or_else(|| panic!("chromedriver answered nothing to {path}"));
        reply["value"].clone()
    }

    /// Opens a page.
    pub async fn goto(&self, url: &str) {
        self.command("POST", "url", json!({ "url": url })).await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub async fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.command("POST", "execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// Runs an async script: it ends by calling `arguments[arguments.length - 1](value)`.
    pub async fn run_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.command("POST", "execute/async", json!({ "script": script, "args": args }))
            .await
    }

    /// Waits until the expression `condition` is true in the page; its last value.
    pub async fn wait_for(&self, condition: &str, secs: u64) -> Result<Value, Value> {
        let until = Instant::now() + Duration::from_secs(secs);
        let script = format!("try {{ return ({condition}); }} catch (e) {{ return null; }}");
        loop {
            let v = self.run(&script, vec![]).await;
            if v.as_bool() == Some(true) || (v.is_object() && !v.as_object().unwrap().is_empty()) {
                return Ok(v);
            }
            if Instant::now() > until {
                return Err(v);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Clicks the element `css` finds.
    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.command("POST", &format!("element/{id}/click"), json!({})).await;
    }

    /// Types `text` into the element `css` finds.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.command("POST", &format!("element/{id}/value"), json!({ "text": text }))
            .await;
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .command("POST", "element", json!({ "using": "css selector", "value": css }))
            .await;
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string()
    }

    /// A screenshot of the window as PNG.
    pub async fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let shot = self.command("GET", "screenshot", Value::Null).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().expect("a screenshot"))
            .unwrap();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }
}

impl Chrome {
    /// Ends the WebDriver session so chromedriver closes the browser itself. Blocking, as
    /// it runs from `drop`, where no runtime may be left.
    fn end_session(&self) {
        use std::io::{Read, Write};
        if self.session.is_empty() {
            return;
        }
        let Ok(mut tcp) = std::net::TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)) else {
            return;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
        let request = format!(
            "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.session,
            self.addr.port()
        );
        if tcp.write_all(request.as_bytes()).is_ok() {
            let mut reply = Vec::new();
            let _ = tcp.read_to_end(&mut reply);
        }
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        self.end_session();
        // Whatever is left of the group (the driver, a browser that did not close).
        if let Ok(group) = i32::try_from(self.driver.id()) {
            // SAFETY: kill(2) with a negative pid signals the process group we created.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let _ = self.driver.wait();
    }
}

/// Writes `seconds` of doorway's pattern camera for a station named `name` as y4m
/// (Chromium loops it), and a tone of `hz` as a 48 kHz WAV.
pub fn fakes(dir: &Path, name: &str, hz: f64, width: u32, height: u32) -> Fakes {
    use doorway::device::{Camera, PixelFormat, VideoFormat};
    let y4m = dir.join("camera.y4m");
    let wav = dir.join("microphone.wav");
    let fps = 15;
    let mut camera = doorway::device::testdev::PatternCamera::new(doorway::device::probe::station_tag(name));
    camera
        .open(VideoFormat {
            pixel: PixelFormat::I420,
            width: 640,
            height: 360,
            fps,
        })
        .unwrap();
    let mut out = format!("YUV4MPEG2 W640 H360 F{fps}:1 Ip A1:1 C420jpeg\n").into_bytes();
    for _ in 0..fps * 2 {
        out.extend_from_slice(b"FRAME\n");
        out.extend_from_slice(&camera.capture().unwrap().data);
    }
    std::fs::write(&y4m, out).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    for i in 0..48_000 * 4 {
        let s = (i as f64 * hz * 2.0 * std::f64::consts::PI / 48_000.0).sin() * 12_000.0;
        w.write_sample(s as i16).unwrap();
    }
    w.finalize().unwrap();
    Fakes {
        y4m,
        wav,
        width,
        height,
    }
}
