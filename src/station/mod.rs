//! The station: one event loop that owns the call machine, the SIP user agent, the media
//! session and the devices. Everything reaches it as a message: SIP events, commands from
//! the control socket or the UI, and a one-second tick for timeouts.

use crate::call::machine::{Action, CallMachine, Event, State};
use crate::call::ua::{UaEvent, UaSettings, UserAgent};
use crate::config::Config;
use crate::device::{self, Devices};
use crate::media::{self, MediaSession, MediaSettings};
use crate::security::identity::Identity;
use crate::security::pins::PinStore;
use crate::ui::compositor::Compositor;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{info, info_span, warn, Instrument};

mod account;
mod actions;
mod browser_leg;
mod buttons;
mod door;
mod handle;
mod hosting;
mod message_log;
mod messages;
mod pairing;
mod screen;
mod sip;
mod stall;
mod status;
mod visitors;
mod watch;
mod web;
mod web_answer;
mod web_live;

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
            admission: sip::admission(&admission, pins.clone()),
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
    let handle = StationHandle {
        commands,
        sip_addr: ua.local_addr(),
        uri: ua.uri(),
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
        config_file,
        &identity,
        handle.commands.downgrade(),
        advertise,
        visitors.clone(),
    )
    .instrument(span.clone())
    .await;
    let (width, height) = devices.display.lock().unwrap().size();
    let compositor = Arc::new(Mutex::new(Compositor::new(
        devices.display.clone(),
        width,
        height,
        idle_screen(&config, &messages, web.as_ref()),
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
    let station = Station {
        rtsp,
        account,
        door,
        home,
        own_commands,
        last_activity: Instant::now(),
        screen_on: true,
        volume: config.media.speaker_volume,
        mic_muted: false,
        ringer: None,
        teardown: None,
        camera_failures_seen: 0,
        camera_down: false,
        idle_watch: watch::IdleWatch::default(),
        keys: key_interpreter(&config),
        _input_tx: input_tx,
        compositor,
        message_at: Instant::now(),
        advertise,
        identity,
        pins,
        admission,
        pairing: None,
        messages,
        config,
        ua,
        devices,
        settings,
        machine: CallMachine::new(),
        media: None,
        media_call: None,
        hosted: None,
        picking: false,
        last_message: None,
        missed_call: None,
        state_since: Instant::now(),
        web,
        visitors,
        visit: None,
        answered_from_web: false,
        watch: stall::LoopWatch::start(),
        live_views: vec![],
        next_live_id: 0,
        web_answer: None,
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
    /// The camera as an RTSP stream, when enabled.
    rtsp: Option<media::rtsp::RtspServer>,
    /// The account on a SIP server, when configured.
    account: account::Account,
    /// The door lock, when this station has one.
    door: Option<crate::door::DoorLock>,
    /// The MQTT client for home automation, when a broker is configured.
    home: Option<crate::home::HomeLink>,
    /// For the station's own timers (a retry after glare).
    own_commands: mpsc::WeakUnboundedSender<Command>,
    /// Last call event, touch or key; the screen blanks after a quiet while.
    last_activity: Instant,
    screen_on: bool,
    /// Speaker volume (1.0 = as received) and microphone mute, kept across calls.
    volume: f64,
    mic_muted: bool,
    /// The ring tone playing, if any.
    ringer: Option<(media::ring::Tone, media::ring::Ringer)>,
    /// The last call's media being released in the background.
    teardown: Option<std::thread::JoinHandle<()>>,
    /// Camera failures the media feeder had counted at the last tick, and whether the
    /// camera was failing then.
    camera_failures_seen: u64,
    camera_down: bool,
    /// Devices watched between calls.
    idle_watch: watch::IdleWatch,
    keys: crate::input::KeyInterpreter,
    /// Keeps the input channel open when no device backend holds a sender.
    _input_tx: mpsc::UnboundedSender<crate::input::TimedInput>,
    compositor: Arc<Mutex<Compositor>>,
    message_at: Instant,
    config: Config,
    advertise: IpAddr,
    /// Our key and certificate.
    identity: Identity,
    /// Paired contacts (shared with the user agent's admission check).
    pins: Arc<Mutex<PinStore>>,
    /// The config the user agent admits callers by.
    admission: sip::AdmissionConfig,
    /// A pairing under way.
    pairing: Option<pairing::Session>,
    /// The last text messages.
    messages: message_log::MessageLog,
    ua: UserAgent,
    devices: Devices,
    settings: MediaSettings,
    machine: CallMachine,
    media: Option<MediaSession>,
    /// The Call-ID of the leg `media` serves.
    media_call: Option<String>,
    /// The media of a call this station hosts for several remotes (then `media` is
    /// None).
    hosted: Option<hosting::Hosted>,
    /// The call screen shows the contacts that can join ("Add" was touched).
    picking: bool,
    last_message: Option<String>,
    /// The note of a call that rang out unanswered.
    missed_call: Option<String>,
    state_since: Instant,
    /// The web page, when it runs.
    web: Option<web::StationWeb>,
    /// The visitor log (shared with the web page).
    visitors: Arc<Mutex<crate::web::visitors::VisitorLog>>,
    /// The ring being logged.
    visit: Option<visitors::Visit>,
    /// The ringing call was answered from the web page.
    answered_from_web: bool,
    /// Browsers watching the camera.
    live_views: Vec<web_live::LiveView>,
    next_live_id: u64,
    /// The browser that answered the call, bridged to it.
    web_answer: Option<web_answer::WebAnswer>,
    /// Which step the loop is in, for a watcher that reports one stuck.
    watch: stall::LoopWatch,
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
        self.account.stop().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.ua.shutdown();
        if let Some(web) = &self.web {
            web.server.stop();
        }
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
                ..
            } => {
                let held = if *held_by_peer || *held_by_us { " (on hold)" } else { "" };
                format!("in a call with {}{held}", peer.label())
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
            self.last_message = None;
        }
        if std::mem::discriminant(self.machine.state()) != before {
            self.picking = false;
            self.wake();
            self.state_since = Instant::now();
            info!(state = ?self.machine.state(), "call state");
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
