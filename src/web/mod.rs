//! The station's web page: HTTPS with the station's own certificate, a login, live
//! status, the visitor log, settings and the recent log.
//!
//! - [`listen`]: accepting connections (TLS, or plain HTTP that only redirects), with
//!   caps per address and in all and timeouts.
//! - [`auth`]: the one-time setup code, the password, sessions and CSRF tokens;
//!   [`guesses`]: the limits on guesses and the unlock code for the screen (both
//!   sans-IO); [`password`]: the argon2 hash file and the bound on hashes at once.
//! - [`routes`]: the pages and the API behind them; the assets are embedded.
//! - [`logbuf`]: the last log lines, for the Log page.

pub mod auth;
pub mod guesses;
pub mod listen;
mod live_routes;
pub mod logbuf;
pub mod mdns;
pub mod password;
mod routes;
pub mod rtc;
mod session;
mod settings;
pub mod settings_guard;
mod visitor_routes;
pub mod visitors;

use crate::api::{Command, Status};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Why the web page could not start (the station runs on without it).
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The port could not be bound.
    #[error("cannot listen on {addr}: {source}{hint}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
        /// What to do about it.
        hint: &'static str,
    },
    /// The certificate could not be used.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// What the web server needs from the station.
pub struct WebSettings {
    /// Address to listen on (the SIP listen address's IP).
    pub listen: IpAddr,
    /// HTTPS port (0: any free port, for tests).
    pub port: u16,
    /// Plain HTTP port that only redirects to HTTPS (0: none).
    pub redirect_port: u16,
    /// The config file the Settings page edits (none: read-only settings).
    pub config_file: Option<PathBuf>,
    /// Where the station's address is announced (`front-door.local`).
    pub host_name: String,
}

/// The station's side of the web page: the shared access state (for the setup code on
/// the screen) and the status the page shows.
#[derive(Clone)]
pub struct WebShared {
    /// Who may use the page.
    pub auth: Arc<Mutex<auth::Auth>>,
    /// The station's status, published by the station loop.
    pub status: watch::Sender<Option<Arc<Status>>>,
    /// The visitor log the station fills.
    pub visitors: Arc<Mutex<visitors::VisitorLog>>,
    /// Where the station's loop is: the page says when it is stuck.
    pub loop_watch: crate::api::LoopWatch,
}

impl WebShared {
    /// Access kept in `state_dir` (or in memory), the station's visitor log, and where its
    /// loop is.
    pub fn new(
        state_dir: Option<PathBuf>,
        visitors: Arc<Mutex<visitors::VisitorLog>>,
        loop_watch: crate::api::LoopWatch,
    ) -> Self {
        Self {
            auth: Arc::new(Mutex::new(auth::Auth::new(state_dir))),
            status: watch::channel(None).0,
            visitors,
            loop_watch,
        }
    }
}

/// A running web server.
pub struct Web {
    /// The HTTPS address bound.
    pub addr: SocketAddr,
    /// The redirecting HTTP address bound, if any.
    pub redirect_addr: Option<SocketAddr>,
    stop: CancellationToken,
}

impl Web {
    /// Stops accepting and closes every connection.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// What the request handlers share.
pub(crate) struct App {
    pub shared: WebShared,
    /// Commands to the station; weak, so the web page does not keep a stopped station
    /// alive.
    pub station: mpsc::WeakUnboundedSender<Command>,
    pub config_file: Option<PathBuf>,
    pub started: Instant,
    /// The permits to make a password hash (bounded memory).
    pub hashing: password::Hashing,
}

impl App {
    /// Sends a command to the station.
    pub fn send(&self, command: Command) -> bool {
        self.station.upgrade().is_some_and(|s| s.send(command).is_ok())
    }
}

/// Binds the ports and serves the page until stopped.
pub async fn start(
    settings: WebSettings,
    identity: &crate::security::identity::Identity,
    shared: WebShared,
    station: mpsc::WeakUnboundedSender<Command>,
) -> Result<Web, WebError> {
    let tls = crate::security::tls::web_server_config(identity)?;
    let addr = SocketAddr::new(settings.listen, settings.port);
    let listener = bind(addr).await?;
    let addr = listener
        .local_addr()
        .map_err(|source| WebError::Bind { addr, source, hint: "" })?;
    let redirect = match settings.redirect_port {
        0 => None,
        port => {
            let at = SocketAddr::new(settings.listen, port);
            match bind(at).await {
                Ok(l) => Some(l),
                Err(e) => {
                    // The page works without it; people just type https://.
                    tracing::warn!(error = %e, "no plain HTTP redirect");
                    None
                }
            }
        }
    };
    let redirect_addr = redirect.as_ref().and_then(|l| l.local_addr().ok());
    let stop = CancellationToken::new();
    let app = Arc::new(App {
        shared,
        station,
        config_file: settings.config_file,
        started: Instant::now(),
        hashing: password::Hashing::default(),
    });
    let router = routes::router(app.clone());
    let redirect_router = listen::redirect_router(addr.port());
    tokio::spawn(listen::serve(
        listener,
        Some(tls),
        router,
        redirect_router.clone(),
        stop.clone(),
    ));
    if let Some(l) = redirect {
        tokio::spawn(listen::serve(
            l,
            None,
            redirect_router.clone(),
            redirect_router,
            stop.clone(),
        ));
    }
    tracing::info!(%addr, host = %settings.host_name, "web page ready");
    Ok(Web {
        addr,
        redirect_addr,
        stop,
    })
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, WebError> {
    tokio::net::TcpListener::bind(addr).await.map_err(|source| {
        let hint = if source.kind() == std::io::ErrorKind::PermissionDenied {
            " (ports below 1024 need CAP_NET_BIND_SERVICE, which doorway.service grants; \
             set [web] port = 8443 to run as a user)"
        } else {
            ""
        };
        WebError::Bind { addr, source, hint }
    })
}

/// The name announced over mDNS: the station's name in lower case, letters and digits
/// with dashes between words ("Front Door" → `front-door`).
pub fn host_name(station: &str) -> String {
    let mut out = String::new();
    for c in station.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    let out: String = out.chars().take(63).collect();
    if out.is_empty() {
        "doorway".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_names_are_dns_labels() {
        assert_eq!(super::host_name("Front Door"), "front-door");
        assert_eq!(super::host_name("  Flat 12 / Hall!"), "flat-12-hall");
        assert_eq!(super::host_name("Küche"), "k-che");
        assert_eq!(super::host_name("!!!"), "doorway");
    }
}
