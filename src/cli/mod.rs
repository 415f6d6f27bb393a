//! The `doorway` command line: run a station, check a config, talk to a running station,
//! run the demo and the benchmark. Exit codes: 0 ok, 1 failure, 2 bad configuration.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use doorway::config::{Config, ConfigError, DEFAULT_CONFIG_PATH};
use doorway::control::{self, Request};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod bench;
mod demo;
mod devices;
mod status;
mod web;

#[derive(Parser)]
#[command(name = "doorway", version, about = "LAN video intercom and doorbell station")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a station.
    Run {
        /// Configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Validate a configuration file; exit 2 when it is wrong.
    CheckConfig {
        /// Configuration file.
        file: PathBuf,
    },
    /// Call a contact by name, or a SIP URI / address.
    Call {
        /// Contact name or URI.
        target: String,
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// Answer the ringing call.
    Answer {
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// Hang up, cancel or decline.
    Hangup {
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// Open the door: this station's lock (`[door] relay`), or, on a station without
    /// one, ask the station in the call to open its door (by the DTMF digit).
    OpenDoor {
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// Put the call on hold: nobody sends pictures or sound until `resume`.
    Hold {
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// Take the call off hold.
    Resume {
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// Show the call state and media statistics.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// Set the web page's password (read from the terminal or one line of stdin), or
    /// clear it so that the station's screen shows a one-time code for the next visit.
    WebPassword {
        /// Configuration of the station (to find its state directory).
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Clear the password instead of setting one.
        #[arg(long)]
        clear: bool,
    },
    /// Print this station's certificate fingerprint and short code.
    Identity {
        /// Configuration of the station (to find its state directory).
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Pair with a contact, or with a station nearby (it then becomes a contact): both
    /// screens show a code to compare.
    Pair {
        /// A contact's name, or a station from `doorway neighbours`: its name or its code.
        name: String,
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// The pairing code on screen matches the other station's: pair.
    PairConfirm {
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// The pairing code on screen does not match, or pairing is not wanted.
    PairDecline {
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// Forget a paired contact's certificate (pair again after replacing a station).
    Unpair {
        /// Contact name.
        name: String,
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// Send a text message to a contact (delivered, or the reason it was not).
    Message {
        /// Contact name.
        name: String,
        /// The text (several words are joined with spaces).
        #[arg(required = true)]
        text: Vec<String>,
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// Send a text message to whoever wrote to this station last.
    Reply {
        /// The text (several words are joined with spaces).
        #[arg(required = true)]
        text: Vec<String>,
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// List cameras, sound devices, displays and input devices, for writing the config,
    /// and the station's identity.
    Devices {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Configuration of the station (to find its identity).
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// The stations heard on the LAN (DNS-SD): name, short code, address, and the
    /// contact each is when its certificate is one this station knows.
    Neighbours {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// Two stations on 127.0.0.1 call each other with test devices.
    Demo {
        /// How long to keep the call up.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Write each station's screen as PNG here before hanging up.
        #[arg(long)]
        screenshots: Option<PathBuf>,
    },
    /// Glass-to-glass latency and CPU benchmark against a same-work reference pipeline.
    Bench {
        /// Seconds to measure each case.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Camera and sent picture size, WIDTHxHEIGHT.
        #[arg(long, default_value = "640x360", value_parser = parse_size)]
        size: (u32, u32),
        /// Screen size of the stations, WIDTHxHEIGHT (1280x800: the official 7" panel).
        #[arg(long, default_value = "1280x800", value_parser = parse_size)]
        screen: (u32, u32),
        /// Skip measuring the encoder settings' picture quality.
        #[arg(long)]
        no_quality: bool,
        /// Measure what hosting costs instead: the host's CPU in a four-station call
        /// beside a two-station call.
        #[arg(long)]
        host: bool,
    },
}

#[derive(clap::Args)]
struct SocketArgs {
    /// Control socket of the running station.
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Configuration of the running station (to find its control socket).
    #[arg(long)]
    config: Option<PathBuf>,
}

impl SocketArgs {
    fn path(&self) -> PathBuf {
        if let Some(p) = &self.socket {
            return p.clone();
        }
        let config = self.config.clone().unwrap_or_else(|| DEFAULT_CONFIG_PATH.into());
        Config::load(&config)
            .ok()
            .and_then(|c| c.station.control_socket)
            .unwrap_or_else(control::default_socket_path)
    }
}

/// Runs the command the arguments name.
pub fn main() -> ExitCode {
    use doorway::base::redact::Redacting;
    doorway::base::heap::tune();
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let filter =
        || tracing_subscriber::EnvFilter::try_from_env("DOORWAY_LOG").unwrap_or_else(|_| "info,rsipstack=warn".into());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                // Every line, at every level, goes through the redaction of secrets.
                .with_writer(Redacting(std::io::stderr))
                // Colour codes only for a terminal: the journal and log files get plain text.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_filter(filter()),
        )
        // The web page's Log: the station's own lines, other crates' warnings.
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(Redacting(doorway::web::logbuf::global().clone()))
                .with_ansi(false)
                .with_filter(tracing_subscriber::EnvFilter::new("warn,doorway=info")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::CheckConfig { file } => return check_config(&file),
        Cmd::Run { config: file } => match Config::load(&file) {
            Ok(config) => runtime().block_on(run(config, file)),
            Err(e) => return config_error(e),
        },
        Cmd::Call { target, socket } => runtime().block_on(simple(&socket.path(), Request::Call { target })),
        Cmd::Answer { socket } => runtime().block_on(simple(&socket.path(), Request::Answer)),
        Cmd::Hangup { socket } => runtime().block_on(simple(&socket.path(), Request::Hangup)),
        Cmd::Hold { socket } => runtime().block_on(simple(&socket.path(), Request::Hold)),
        Cmd::OpenDoor { socket } => runtime().block_on(open_door(&socket.path())),
        Cmd::Resume { socket } => runtime().block_on(simple(&socket.path(), Request::Resume)),
        Cmd::Status { json, socket } => runtime().block_on(status::status(&socket.path(), json)),
        Cmd::Identity { config } => identity(&config),
        Cmd::WebPassword { config, clear } => web::web_password(&config, clear),
        Cmd::Pair { name, socket } => runtime().block_on(pair(&socket.path(), name)),
        Cmd::PairConfirm { socket } => {
            runtime().block_on(simple(&socket.path(), Request::PairDecision { confirmed: true }))
        }
        Cmd::PairDecline { socket } => {
            runtime().block_on(simple(&socket.path(), Request::PairDecision { confirmed: false }))
        }
        Cmd::Unpair { name, socket } => runtime().block_on(simple(&socket.path(), Request::Unpair { name })),
        Cmd::Message { name, text, socket } => {
            let request = Request::Message {
                to: name.clone(),
                text: text.join(" "),
            };
            runtime().block_on(async {
                simple(&socket.path(), request).await?;
                println!("delivered to {name}");
                Ok(())
            })
        }
        Cmd::Reply { text, socket } => runtime().block_on(async {
            simple(&socket.path(), Request::Reply { text: text.join(" ") }).await?;
            println!("delivered");
            Ok(())
        }),
        Cmd::Devices { json, config } => devices::devices(&config, json),
        Cmd::Neighbours { json, socket } => runtime().block_on(devices::neighbours(&socket.path(), json)),
        Cmd::Demo { seconds, screenshots } => runtime().block_on(demo(seconds, screenshots)),
        Cmd::Bench {
            seconds, host: true, ..
        } => bench::host::run(seconds)
            .map(|report| println!("{report}"))
            .context("benchmark failed"),
        Cmd::Bench {
            seconds,
            size,
            screen,
            no_quality,
            host: false,
        } => bench::run(bench::BenchOptions {
            seconds,
            size,
            screen,
            quality: !no_quality,
        })
        .map(|report| println!("{report}"))
        .context("benchmark failed"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("doorway: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("tokio runtime")
}

fn config_error(e: ConfigError) -> ExitCode {
    eprintln!("doorway: {e}");
    ExitCode::from(2)
}

fn check_config(file: &Path) -> ExitCode {
    match Config::load(file) {
        Ok(c) => {
            println!(
                "{}: ok (station {:?}, {} contacts)",
                file.display(),
                c.station.name,
                c.contacts.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => config_error(e),
    }
}

async fn run(config: Config, file: PathBuf) -> anyhow::Result<()> {
    let socket = config
        .station
        .control_socket
        .clone()
        .unwrap_or_else(control::default_socket_path);
    let (station, task) = doorway::station::start_with(config, Some(file))
        .await
        .context("station could not start")?;
    control::serve(&socket, station.clone()).await?;
    // SIP listens, devices are open, the control socket is up: tell systemd (Type=notify).
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    station.send(doorway::station::Command::Shutdown).ok();
    task.await.ok();
    control::remove_socket(&socket);
    Ok(())
}

/// The station's fingerprint: from the running station, else from its certificate file.
fn identity(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path).ok();
    let socket = config
        .as_ref()
        .and_then(|c| c.station.control_socket.clone())
        .unwrap_or_else(control::default_socket_path);
    let from_station = runtime()
        .block_on(control::request(&socket, &Request::Status))
        .ok()
        .and_then(|r| r.status)
        .map(|s| s["security"]["fingerprint"].as_str().unwrap_or_default().to_string())
        .filter(|f| !f.is_empty());
    let fingerprint = match from_station {
        Some(text) => doorway::security::identity::Fingerprint::parse(&text)
            .context("the station sent an unreadable fingerprint")?,
        None => {
            let config = config.with_context(|| format!("cannot read {}", config_path.display()))?;
            doorway::security::identity::Identity::read_certificate(&doorway::security::state_dir(&config))?
        }
    };
    println!("fingerprint = \"{fingerprint}\"");
    println!("code: {}", fingerprint.short_code());
    Ok(())
}

/// Starts pairing and follows it until it ends, printing the code.
async fn pair(socket: &Path, name: String) -> anyhow::Result<()> {
    simple(socket, Request::Pair { name }).await?;
    let mut shown = false;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let reply = control::request(socket, &Request::Status).await?;
        let status = reply.status.context("no status")?;
        let pairing = &status["security"]["pairing"];
        if pairing.is_null() {
            bail!("the pairing was dropped");
        }
        let stage = pairing["stage"].as_str().unwrap_or_default();
        if let (false, Some(code)) = (shown, pairing["code"].as_str()) {
            println!(
                "code {code}: confirm on both stations (screen, key, or doorway pair-confirm) if they show the same"
            );
            shown = true;
        }
        match stage {
            "paired" => {
                println!("{}", pairing["note"].as_str().unwrap_or("paired"));
                return Ok(());
            }
            "failed" => bail!("{}", pairing["note"].as_str().unwrap_or("pairing failed")),
            _ => {}
        }
    }
}

async fn simple(socket: &Path, request: Request) -> anyhow::Result<()> {
    let reply = control::request(socket, &request)
        .await
        .context("is the station running?")?;
    if !reply.ok {
        bail!("{}", reply.error.unwrap_or_else(|| "refused".into()));
    }
    Ok(())
}

async fn open_door(socket: &Path) -> anyhow::Result<()> {
    let reply = control::request(socket, &Request::OpenDoor)
        .await
        .context("is the station running?")?;
    if !reply.ok {
        bail!("{}", reply.error.unwrap_or_else(|| "refused".into()));
    }
    // What happened, in words: "Door opened", or "Asked Door to open the door".
    println!("{}", reply.status.as_ref().and_then(|s| s.as_str()).unwrap_or("done"));
    Ok(())
}

async fn demo(seconds: u64, screenshots: Option<PathBuf>) -> anyhow::Result<()> {
    let report = demo::run(seconds, screenshots).await.context("demo call failed")?;
    println!(
        "paired Front door and Kitchen: both screens showed code {}",
        report.pairing_code
    );
    println!(
        "call set up in {:.2} s, torn down in {:.2} s; signalling: {}",
        report.setup_seconds,
        report.teardown_seconds,
        if report.secure {
            "SIP over TLS between the paired certificates"
        } else {
            "plain SIP (NOT encrypted)"
        }
    );
    for d in &report.directions {
        println!(
            "{}: {} frames decoded, pattern recognised: {} ({} frames), tone heard: {}, glass-to-glass p50/p95: {}/{} ms",
            d.direction,
            d.frames_decoded,
            if d.pattern_recognised { "yes" } else { "no" },
            d.frames_recognised,
            d.tone_heard_hz.map(|h| format!("{h:.0} Hz (sent {:.0} Hz)", d.tone_sent_hz.unwrap_or(0.0))).unwrap_or("none".into()),
            d.latency_p50_ms.map(|v| format!("{v:.0}")).unwrap_or("-".into()),
            d.latency_p95_ms.map(|v| format!("{v:.0}")).unwrap_or("-".into()),
        );
        println!(
            "{}: media {}",
            d.direction,
            match d.encryption.as_deref() {
                Some(e) if e.starts_with("SRTP") => format!("encrypted ({e})"),
                Some(e) => e.to_string(),
                None => "not received".into(),
            }
        );
    }
    for s in &report.screenshots {
        println!("screenshot: {}", s.display());
    }
    if !report.directions.iter().all(|d| d.media_flowed()) {
        bail!("media did not flow both ways");
    }
    Ok(())
}

/// `WIDTHxHEIGHT` with an even width of 160 to 1920 and an even height of 120 to 1200.
fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{text:?}: expected WIDTHxHEIGHT, e.g. 1280x720 (even, 160x120 to 1920x1200)");
    let (w, h) = text.split_once('x').ok_or_else(bad)?;
    let (w, h) = (
        w.parse::<u32>().map_err(|_| bad())?,
        h.parse::<u32>().map_err(|_| bad())?,
    );
    let fits = (160..=1920).contains(&w) && (120..=1200).contains(&h) && w % 2 == 0 && h % 2 == 0;
    fits.then_some((w, h)).ok_or_else(bad)
}
