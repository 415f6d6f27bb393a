//! The station: one event loop that owns the call machine, the SIP user agent, the media
//! session and the devices. Everything reaches it as a message: SIP events, commands from
//! the control socket or the UI, and a one-second tick for timeouts.

use crate::call::machine::{Action, CallMachine, Event, State};
use crate::call::ua::{UaEvent, UaSettings, UserAgent};
use crate::config::Config;
use crate::device::{self, Devices};
use crate::media::{self, MediaSettings};
use crate::security::identity::Identity;
use crate::security::pins::PinStore;
use crate::ui::compositor::Compositor;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{debug, info, info_span, warn, Instrument};

mod account;
mod actions;
mod browser;
mod buttons;
mod door;
mod handle;
mod hosting;
mod message_log;
mod messages;
mod nearby;
mod pairing;
mod screen;
mod sip;
mod status;
mod visitors;
mod watch;
mod web;

pub use crate::api::{Command, SecurityStatus, StationError, StationHandle, Status};

use buttons::key_interpreter;
use screen::idle_screen;

/// The address we tell peers: configured, or the listen address, or the first
/// non-loopback interface address.
pub fn advertise_address(config: &Config) -> IpAddr {
    if let Some(ip) = config.station.advertise {
        return ip;
    }
    let listen = config.station.listen.ip();
    if !listen.is_unspecified() {
        return listen;
    }
    if_addrs::get_if_addrs()
        .ok()
        .and_then(|addrs| {
            addrs
                .into_iter()
                .find(|a| !a.is_loopback() && a.ip().is_ipv4())
                .map(|a| a.ip())
        })
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// The station's identity and pins: in the state directory, or in memory for the
/// demo's stations.
fn security_state(config: &Config) -> Result<(Identity, PinStore), StationError> {
    crate::security::tls::install_default_provider();
    if config.station.ephemeral_state {
        return Ok((Identity::ephemeral(&config.station.name)?, PinStore::in_memory()));
    }
    let dir = crate::security::state_dir(config);
    let identity = Identity::load_or_create(&dir, &config.station.name)?;
    info!(fingerprint = %identity.fingerprint, code = %identity.fingerprint.short_code(), "station identity");
    Ok((identity, PinStore::load(&dir)))
}

/// Opens devices, starts SIP, and runs the station loop on a thread of its own.
pub async fn start(config: Config) -> Result<(StationHandle, tokio::task::JoinHandle<()>), StationError> {
    start_with(config, None).await
}

/// As [`start`], for a station whose config lives in `config_file` (the web page's
/// Settings edit it).
pub async fn start_with(
    config: Config,
    config_file: Option<PathBuf>,
) -> Result<(StationHandle, tokio::task::JoinHandle<()>), StationError> {
    media::init()?;
    let codecs = media::codecs::probe(false).map_err(media::MediaError::from)?;
    media::codecs::warm_up(&codecs);
    let devices = device::open(&config)?;
    let advertise = advertise_address(&config);
    let (identity, pins) = security_state(&config)?;
    let messages = if config.station.ephemeral_state {
        message_log::MessageLog::in_memory()
    } else {
        message_log::MessageLog::load(&crate::security::state_dir(&config))
    };
    let locator = nearby::Locator::new(&config, &pins, identity.fingerprint);
    let pins = Arc::new(Mutex::new(pins));
    let admission = sip::AdmissionConfig::new(&config);
    let (ua_tx, ua_rx) = mpsc::unbounded_channel();
    let ua = UserAgent::start(
        UaSettings {
            listen: config.station.listen,
            advertise,
            user: config.station.user.clone(),
            display_name: crate::call::ua::quoted_display_name(&config.station.name),
            setup_timeout: Duration::from_secs(config.station.setup_timeout_secs),
            ring_timeout: Duration::from_secs(config.station.ring_timeout_secs),
            admission: sip::admission(&admission, pins.clone(), locator.clone()),
            tls: Some(crate::call::ua::TlsSettings {
                identity: identity.clone(),
                port: config.security.tls_port,
            }),
        },
        ua_tx,
    )
    .await?;
    let (commands, command_rx) = mpsc::unbounded_channel();
    // Weak: the loop still ends when every handle is gone.
    let own_commands = commands.downgrade();
    let loop_watch = crate::api::LoopWatch::start();
    let handle = StationHandle {
        commands,
        sip_addr: ua.local_addr(),
        uri: ua.uri(),
        watch: loop_watch.clone(),
    };
    let m = &config.media;
    let settings = MediaSettings {
        width: m.width,
        height: m.height,
        fps: m.fps,
        bitrate_kbps: m.video_bitrate_kbps,
        jitter_ms: m.jitter_ms,
        codecs,
        // The screen's size as the compositor lays it out (turned panels included).
        screen: Some(devices.display.lock().unwrap().size()),
        echo_probe: echo_probe_name(&config, ua.local_addr().port()),
    };
    let span = info_span!("station", name = %config.station.name);
    let visitors = Arc::new(Mutex::new(crate::web::visitors::VisitorLog::open(
        (!config.station.ephemeral_state).then(|| crate::security::state_dir(&config).join("visitors")),
        config.web.visitors_kept,
        u64::from(config.web.visitors_mb) * 1024 * 1024,
    )));
    let web = web::start_page(
        &config,
        config_file.clone(),
        &identity,
        handle.commands.downgrade(),
        advertise,
        visitors.clone(),
        loop_watch.clone(),
    )
    .instrument(span.clone())
    .await;
    let (width, height) = devices.display.lock().unwrap().size();
    let compositor = Arc::new(Mutex::new(Compositor::new(
        devices.display.clone(),
        width,
        height,
        idle_screen(&config, &messages, web.as_ref().map(web::StationWeb::screen_line), 0),
    )));
    let (input_tx, input_rx) = mpsc::unbounded_channel();
    if config.input.backend == "evdev" {
        let calibration =
            config
                .input
                .touch_calibration
                .map(|[min_x, max_x, min_y, max_y]| crate::input::Calibration {
                    min_x,
                    max_x,
                    min_y,
                    max_y,
                });
        crate::input::evdev::spawn(input_tx.clone(), calibration);
    }
    let door = door::lock_for(&config);
    let home = crate::home::HomeLink::start(&config, own_commands.clone()).unwrap_or_else(|e| {
        tracing::error!(error = %e, "home automation is off");
        None
    });
    let account = account::Account::start(&ua, &config);
    let rtsp = media::rtsp::start_configured(&config, &settings, &devices, advertise);
    let trust = pairing::Trust::new(identity, pins, admission);
    let sip_ports = (
        ua.local_addr().port(),
        ua.tls_port().unwrap_or(config.security.tls_port),
    );
    let nearby = nearby::Nearby::start(&config, locator, trust.fingerprint(), sip_ports, advertise);
    let station = Station {
        ui: screen::Ui::new(compositor, key_interpreter(&config), input_tx),
        idle_watch: watch::IdleWatch::default(),
        call_media: actions::CallMedia::new(settings, config.media.speaker_volume),
        browser: browser::BrowserSide::default(),
        trust,
        nearby,
        config_file,
        visitors: visitors::Visitors::new(visitors),
        links: web::Links::new(web, home, rtsp, account, door),
        own_commands,
        advertise,
        messages,
        config,
        ua,
        devices,
        machine: CallMachine::new(),
        state_since: Instant::now(),
        watch: loop_watch,
    };
    // The loop does blocking work (building pipelines, joining a call's teardown, device
    // locks). On a thread of its own it never holds one of the runtime's workers, so the
    // control socket, SIP and the web page go on answering while it works; the runtime's
    // timers and tasks are still its own through the handle.
    let runtime = tokio::runtime::Handle::current();
    // A task that lives as long as the runtime's tasks do: when the runtime shuts down it
    // is dropped, and the loop stops with it before the runtime's timers go away.
    let (alive, runtime_stopping) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _alive = alive;
        std::future::pending::<()>().await
    });
    let task = tokio::task::spawn_blocking(move || {
        runtime.block_on(async move {
            tokio::select! {
                biased;
                _ = runtime_stopping => {}
                () = station.run(ua_rx, command_rx, input_rx).instrument(span) => {}
            }
        })
    });
    Ok((handle, task))
}

struct Station {
    /// For the station's own timers (a retry after glare).
    own_commands: mpsc::WeakUnboundedSender<Command>,
    config: Config,
    advertise: IpAddr,
    /// The last text messages.
    messages: message_log::MessageLog,
    ua: UserAgent,
    devices: Devices,
    machine: CallMachine,
    state_since: Instant,
    /// Which step the loop is in, for a watcher that reports one stuck.
    watch: crate::api::LoopWatch,
    /// The screen and the keys: what is shown, since when, and what a touch means.
    ui: screen::Ui,
    /// Devices watched between calls, and when freed memory was last handed back.
    idle_watch: watch::IdleWatch,
    /// The media of the call: its pipelines, the ring tone, the levels, and the camera's
    /// health during the call.
    call_media: actions::CallMedia,
    /// The browser side: browsers watching the camera and the browser that answered.
    browser: browser::BrowserSide,
    /// Whom the station trusts: its identity, the pins of paired contacts, who may call,
    /// and a pairing under way.
    trust: pairing::Trust,
    /// The visitor log and the ring being logged.
    visitors: visitors::Visitors,
    /// The station's links to the outside: the web page, home automation, the RTSP stream,
    /// the account on a SIP server and the door lock.
    links: web::Links,
    /// Its announcement on the LAN and the neighbour stations heard.
    nearby: nearby::Nearby,
    /// The file the config came from: contacts paired from the list of neighbours are
    /// added to it. None for a config given in memory (the demo's stations).
    config_file: Option<PathBuf>,
}

impl Station {
    async fn run(
        mut self,
        mut sip: mpsc::UnboundedReceiver<UaEvent>,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut input: mpsc::UnboundedReceiver<crate::input::TimedInput>,
    ) {
        info!(uri = %self.ua.uri(), "station ready");
        // The configured speaker volume, on the card's mixer where it has one.
        self.apply_levels();
        let mut watchdog_usec = 0;
        let watchdog = sd_notify::watchdog_enabled(false, &mut watchdog_usec);
        self.tell_systemd();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                Some(event) = sip.recv() => {
                    let _step = self.watch.step("SIP event");
                    self.on_sip(event);
                }
                Some((raw, at)) = input.recv() => {
                    let _step = self.watch.step("input");
                    self.on_input(raw, at);
                }
                command = commands.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(c) => {
                        let _step = self.watch.step(c.name());
                        self.on_command(c);
                    }
                },
                _ = tick.tick() => {
                    let step = self.watch.step("tick");
                    self.on_tick();
                    drop(step);
                    // From the loop itself, so a hung loop stops the pings and systemd restarts us.
                    if watchdog {
                        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
                    }
                }
            }
        }
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
        self.feed(Event::Hangup);
        self.finish_teardown();
        // Unregistering also gives the BYE or CANCEL a moment to leave before the
        // endpoint stops.
        self.links.stop_account().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.ua.shutdown();
        self.links.stop_web();
        info!("station stopped");
    }

    /// STATUS= line for `systemctl status`: the call state in words.
    fn tell_systemd(&self) {
        let status = self.call_in_words();
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Status(&status)]);
    }

    /// The call state in words: systemd's status line and home automation's sensor.
    fn call_in_words(&self) -> String {
        match self.machine.state() {
            State::Idle => "idle".to_string(),
            State::Outgoing { peer, .. } => format!("calling {}", peer.label()),
            State::Incoming { peer, .. } => format!("{} is calling", peer.label()),
            State::Active {
                peer,
                held_by_peer,
                held_by_us,
                media,
                ..
            } => {
                let held = if *held_by_peer || *held_by_us { " (on hold)" } else { "" };
                let streams = media
                    .video
                    .iter()
                    .map(|v| &v.rtp)
                    .chain(media.audio.iter().map(|a| &a.rtp));
                let secure = if streams.clone().count() > 0 && streams.clone().all(|s| s.crypto.is_some()) {
                    ", encrypted"
                } else {
                    ""
                };
                format!("in a call with {}{held}{secure}", peer.label())
            }
        }
    }

    fn on_tick(&mut self) {
        self.end_unanswered_ringing();
        self.pairing_tick();
        self.blank_when_quiet();
        let step = self.watch.step("watching devices");
        self.watch_devices_when_idle();
        drop(step);
        self.update_screen();
        let step = self.watch.step("watching media");
        self.watch_media();
        drop(step);
        self.return_freed_memory();
        self.follow_own_address();
        self.publish_status();
    }

    /// An incoming call rings no longer than the configured time, whether or not its
    /// caller is still there.
    fn end_unanswered_ringing(&mut self) {
        let limit = Duration::from_secs(self.config.station.incoming_ring_timeout_secs);
        if let State::Incoming { call, .. } = self.machine.state() {
            if self.state_since.elapsed() >= limit {
                info!(secs = limit.as_secs(), "nobody answered; the call stops ringing");
                let call = call.clone();
                self.feed(Event::RingTimeout { call });
            }
        }
    }

    pub(super) fn feed(&mut self, event: Event) {
        let local_hangup = matches!(event, Event::Hangup);
        if local_hangup && self.machine.state() == &State::Idle && self.hang_up_the_visitor() {
            return;
        }
        let was_idle = self.machine.state() == &State::Idle;
        let before = std::mem::discriminant(self.machine.state());
        let actions = self.machine.handle(event);
        if was_idle && self.machine.state() != &State::Idle {
            // A new call: the last one's message does not belong to it.
            self.ui.clear_message();
        }
        if std::mem::discriminant(self.machine.state()) != before {
            self.ui.set_picking(false);
            self.wake();
            self.state_since = Instant::now();
            // One line in words at info; the whole state (peer, media, descriptions) at
            // debug, where the log's redaction still hides the SDES keys in it.
            info!(call = %self.call_in_words(), "call state");
            debug!(state = ?self.machine.state(), "call state in full");
            self.tell_systemd();
            self.track_visit(local_hangup);
            self.end_live_views_for_a_call();
        }
        // Tearing pipelines down can take a moment on a slow board: show the new screen
        // first, unless media starts again in the same step.
        let restarts = actions.iter().any(|a| matches!(a, Action::StartMedia { .. }));
        let (stops, others): (Vec<Action>, Vec<Action>) = actions
            .into_iter()
            .partition(|a| !restarts && matches!(a, Action::StopMedia { .. }));
        for action in others {
            self.act(action);
        }
        self.update_ringer();
        self.update_screen();
        for action in stops {
            self.act(action);
        }
        self.publish_status();
    }
}

/// Echo cancellation runs when asked for, both audio devices are real (a test tone is
/// not an echo), and webrtcdsp is installed.
fn echo_probe_name(config: &Config, sip_port: u16) -> Option<String> {
    let d = &config.devices;
    let real = |b: &str| b == "alsa" || b.starts_with("alsa:");
    if !config.media.echo_cancellation || !real(&d.microphone) || !real(&d.speaker) {
        return None;
    }
    if gstreamer::ElementFactory::find("webrtcdsp").is_none() {
        warn!("echo cancellation needs webrtcdsp (gstreamer1.0-plugins-bad); running without it");
        return None;
    }
    Some(format!("echo-probe-{sip_port}"))
}

fn action_call(action: &Action) -> &str {
    match action {
        Action::SendInvite { call, .. }
        | Action::SendRinging { call, .. }
        | Action::Accept { call, .. }
        | Action::Reject { call, .. }
        | Action::Cancel { call }
        | Action::CancelElsewhere { call }
        | Action::Bye { call }
        | Action::StartMedia { call, .. }
        | Action::RespondOffer { call, .. }
        | Action::SendReoffer { call, .. }
        | Action::RetryReofferLater { call, .. }
        | Action::StopMedia { call } => call,
        Action::Tell(_) | Action::Missed(_) => "",
    }
}
