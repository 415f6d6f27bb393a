//! The station's side of its web page: starting it (and its mDNS announcement), the
//! status it publishes, the line on the idle screen, and a config saved from the page.

use super::account::Account;
use super::{Command, Station};
use crate::call::registration::AccountStatus;
use crate::call::ua::UserAgent;
use crate::config::Config;
use crate::door::{DoorError, DoorLock, DoorStatus};
use crate::home::HomeLink;
use crate::media::rtsp::RtspServer;
use crate::security::identity::Identity;
use crate::web::{WebSettings, WebShared};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::{info, warn};

/// The running page.
pub(super) struct StationWeb {
    server: crate::web::Web,
    shared: WebShared,
    /// What people type: `https://front-door.local`.
    url: String,
    /// Keeps the mDNS announcement alive.
    _announcement: Option<crate::web::mdns::Announcement>,
}

/// The station's links to the outside: the web page, home automation, the RTSP stream, the
/// account on a SIP server and the door lock.
pub(super) struct Links {
    /// The web page, when it runs.
    web: Option<StationWeb>,
    /// The MQTT client for home automation, when a broker is configured.
    home: Option<HomeLink>,
    /// The camera as an RTSP stream, when enabled.
    rtsp: Option<RtspServer>,
    /// The account on a SIP server, when configured.
    account: Account,
    /// The door lock, when this station has one.
    door: Option<DoorLock>,
}

impl StationWeb {
    /// The idle screen's line: the address, and the setup code while no password is set.
    pub fn screen_line(&self) -> String {
        let mut auth = self.shared.auth.lock().unwrap();
        if let Some(code) = auth.unlock_code(std::time::Instant::now()) {
            return format!("{}  ·  web page locked: code {code}", self.url);
        }
        match auth.setup_code() {
            Some(code) => format!("{}  ·  web setup code {code}", self.url),
            None => self.url.clone(),
        }
    }
}

impl Links {
    /// The links the station started with.
    pub(super) fn new(
        web: Option<StationWeb>,
        home: Option<HomeLink>,
        rtsp: Option<RtspServer>,
        account: Account,
        door: Option<DoorLock>,
    ) -> Links {
        Links {
            web,
            home,
            rtsp,
            account,
            door,
        }
    }

    /// The web page's line on the idle screen, when the page runs.
    pub(super) fn web_line(&self) -> Option<String> {
        self.web.as_ref().map(StationWeb::screen_line)
    }

    /// The code that sets the web page's first password, while none is set.
    pub(super) fn web_setup_code(&self) -> Option<String> {
        self.web
            .as_ref()
            .and_then(|w| w.shared.auth.lock().unwrap().setup_code())
    }

    /// The code that unlocks the web page, while strangers' guesses keep it locked.
    pub(super) fn web_unlock_code(&self) -> Option<String> {
        self.web
            .as_ref()
            .and_then(|w| w.shared.auth.lock().unwrap().unlock_code(std::time::Instant::now()))
    }

    /// Stops the web page's server.
    pub(super) fn stop_web(&self) {
        if let Some(web) = &self.web {
            web.server.stop();
        }
    }

    /// Whether this station has a door lock of its own.
    pub(super) fn has_door(&self) -> bool {
        self.door.is_some()
    }

    /// Opens the door lock for `by`; None when this station has no lock.
    pub(super) fn open_door(&self, by: &str) -> Option<Result<(), DoorError>> {
        self.door.as_ref().map(|lock| lock.open(by))
    }

    /// The lock's state, for the status.
    pub(super) fn door_status(&self) -> Option<DoorStatus> {
        self.door.as_ref().map(DoorLock::status)
    }

    /// The lock `config` asks for, in place of the one there is: the old lock lets go of
    /// its relay first.
    pub(super) fn replace_door(&mut self, config: &Config) {
        self.door = None;
        self.door = super::door::lock_for(config);
    }

    /// Home automation hears of a ring (`incoming`: it rings here): where the ring's
    /// snapshot goes for it, when a broker is configured.
    pub(super) fn ring_at_home(&self, peer: &str, incoming: bool) -> Option<Box<dyn Fn(Vec<u8>) + Send>> {
        self.home.as_ref().map(|h| {
            h.ring(peer, incoming);
            Box::new(h.snapshot_sink()) as Box<dyn Fn(Vec<u8>) + Send>
        })
    }

    /// The MQTT client's state, for the status.
    pub(super) fn home_status(&self) -> Option<crate::home::MqttStatus> {
        self.home.as_ref().map(HomeLink::status)
    }

    /// The RTSP server's state, for the status.
    pub(super) fn rtsp_status(&self) -> Option<crate::media::rtsp::RtspStatus> {
        self.rtsp.as_ref().map(RtspServer::status)
    }

    /// What the SIP server last said of the registration, if anything.
    pub(super) fn account_status(&self) -> Option<&AccountStatus> {
        self.account.status()
    }

    /// The SIP server said `status` of the registration.
    pub(super) fn set_account_status(&mut self, status: AccountStatus) {
        self.account.set_status(status);
    }

    /// Registers anew with `config`'s account, the old registration removed first.
    pub(super) fn restart_account(&mut self, ua: &UserAgent, config: &Config) {
        self.account.restart(ua, config);
    }

    /// Unregisters (waiting briefly for the server).
    pub(super) async fn stop_account(&mut self) {
        self.account.stop().await;
    }
}

/// Starts the page when the config asks for it. A page that cannot start is logged; the
/// station works on without it.
pub(super) async fn start_page(
    config: &Config,
    config_file: Option<PathBuf>,
    identity: &Identity,
    commands: mpsc::WeakUnboundedSender<Command>,
    advertise: IpAddr,
    visitors: Arc<std::sync::Mutex<crate::web::visitors::VisitorLog>>,
    loop_watch: crate::api::LoopWatch,
) -> Option<StationWeb> {
    let w = &config.web;
    if !w.enabled {
        return None;
    }
    let state_dir = (!config.station.ephemeral_state).then(|| crate::security::state_dir(config));
    let shared = WebShared::new(state_dir, visitors, loop_watch);
    let host_name = crate::web::host_name(&config.station.name);
    let settings = WebSettings {
        listen: config.station.listen.ip(),
        port: w.port,
        redirect_port: w.redirect_port,
        config_file,
        host_name: host_name.clone(),
    };
    let server = match crate::web::start(settings, identity, shared.clone(), commands).await {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "the web page cannot start; the station works on without it");
            return None;
        }
    };
    let port = server.addr.port();
    let announcement = if w.mdns {
        match crate::web::mdns::announce(&host_name, &config.station.name, advertise, port) {
            Ok(a) => Some(a),
            Err(e) => {
                warn!(error = %e, "cannot announce the station over mDNS");
                None
            }
        }
    } else {
        None
    };
    let host = match &announcement {
        Some(_) => format!("{host_name}.local"),
        None => match advertise {
            IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        },
    };
    let url = match port {
        443 => format!("https://{host}"),
        p => format!("https://{host}:{p}"),
    };
    info!(%url, "web page");
    Some(StationWeb {
        server,
        shared,
        url,
        _announcement: announcement,
    })
}

impl Station {
    /// Gives the web page the current status (each tick and after each call event).
    pub(super) fn publish_status(&self) {
        if let Some(home) = &self.links.home {
            home.call_state(&self.call_in_words());
        }
        if let Some(web) = &self.links.web {
            web.shared.status.send_replace(Some(Arc::new(self.status())));
        }
    }

    /// The page's address, for the status.
    pub(super) fn web_url(&self) -> Option<String> {
        self.links.web.as_ref().map(|w| w.url.clone())
    }

    /// Takes a config saved from the web page. What can change while running changes
    /// now (contacts and groups, keys, names, timeouts, media levels and sizes for the
    /// next call); the reply names the fields that need a restart.
    pub(super) fn apply_config(&mut self, new: Config) -> Vec<String> {
        let old = &self.config;
        let mut later = vec![];
        let mut differs = |field: &str, changed: bool| {
            if changed {
                later.push(field.to_string());
            }
        };
        differs("station.listen", old.station.listen != new.station.listen);
        differs("station.advertise", old.station.advertise != new.station.advertise);
        differs("station.user", old.station.user != new.station.user);
        // The name on the screen changes now; the one in our SIP requests at the next start.
        differs("station.name (in SIP)", old.station.name != new.station.name);
        differs(
            "station.ring_timeout_secs",
            old.station.ring_timeout_secs != new.station.ring_timeout_secs,
        );
        differs(
            "station.setup_timeout_secs",
            old.station.setup_timeout_secs != new.station.setup_timeout_secs,
        );
        differs(
            "station.control_socket",
            old.station.control_socket != new.station.control_socket,
        );
        differs("station.state_dir", old.station.state_dir != new.station.state_dir);
        differs("security.tls_port", old.security.tls_port != new.security.tls_port);
        differs("devices", format!("{:?}", old.devices) != format!("{:?}", new.devices));
        differs("input.backend", old.input.backend != new.input.backend);
        differs(
            "input.touch_calibration",
            old.input.touch_calibration != new.input.touch_calibration,
        );
        differs("media.rtp_port_min", old.media.rtp_port_min != new.media.rtp_port_min);
        differs("media.rtp_port_max", old.media.rtp_port_max != new.media.rtp_port_max);
        differs("web", format!("{:?}", old.web) != format!("{:?}", new.web));
        let caps = (new.web.visitors_kept, u64::from(new.web.visitors_mb) * 1024 * 1024);
        self.visitors.limit(caps.0, caps.1);
        let volume_changed = (old.media.speaker_volume - new.media.speaker_volume).abs() > f64::EPSILON;
        self.trust.admit_by(&new);
        self.ui.set_keys(super::buttons::key_interpreter(&new));
        self.apply_door(&new);
        self.apply_account(&new);
        if new.rtsp != self.config.rtsp {
            // The old server lets go of its port before the new one binds it.
            self.links.rtsp = None;
            self.links.rtsp =
                crate::media::rtsp::start_configured(&new, self.call_media.settings(), &self.devices, self.advertise);
        }
        if new.mqtt != self.config.mqtt || new.station.user != self.config.station.user {
            // The old client says offline and leaves before the new one connects.
            self.links.home = None;
            self.links.home = crate::home::HomeLink::start(&new, self.own_commands.clone()).unwrap_or_else(|e| {
                tracing::error!(error = %e, "home automation is off");
                None
            });
        }
        self.call_media.configure(&new.media);
        if volume_changed {
            self.call_media.set_volume(new.media.speaker_volume);
        }
        self.config = new;
        if volume_changed {
            self.apply_levels();
        }
        info!(at_next_start = ?later, "new configuration applied");
        self.update_screen();
        later
    }
}
