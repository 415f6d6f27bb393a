//! The MQTT client task (rumqttc): connects with the station's user and password (TLS
//! for `mqtts://`), announces the station with a last will of `offline`, publishes rings,
//! snapshots and the call state, and takes "Open door" presses. A broker that is down
//! is retried with backoff (1 s doubling to 30 s); on each connection the discovery
//! messages, `online`, the call state and the last snapshot are published again.

use super::discovery::{ring_event, Topics, PRESS};
use crate::api::Command;
use crate::config::Config;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS, Transport};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, info_span, warn, Instrument};

/// Largest message taken from the broker: only "Open door" presses are subscribed to.
const MAX_INCOMING: usize = 4 * 1024;
/// Largest message sent: a snapshot.
const MAX_OUTGOING: usize = 2 * 1024 * 1024;
/// Rings and snapshots waiting for the task; more are dropped (the state is retained).
const QUEUE: usize = 16;

/// What the station tells the broker besides its state.
#[derive(Debug)]
enum HomeEvent {
    Ring { peer: String, incoming: bool },
    Snapshot(Vec<u8>),
}

pub use crate::api::MqttStatus;

/// The station's side of the MQTT client task. Dropping it publishes `offline` and
/// disconnects.
pub struct HomeLink {
    events: mpsc::Sender<HomeEvent>,
    call: watch::Sender<String>,
    status: Arc<Mutex<MqttStatus>>,
}

/// Why the client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// The password file could not be read.
    #[error("cannot read the MQTT password file {0}: {1}")]
    PasswordFile(std::path::PathBuf, std::io::Error),
    /// The CA file could not be read or holds no certificate.
    #[error("cannot use the MQTT CA file {0}: {1}")]
    CaFile(std::path::PathBuf, String),
}

impl HomeLink {
    /// Starts the client when `[mqtt] broker` is set; `commands` takes the "Open door"
    /// presses.
    pub fn start(config: &Config, commands: mpsc::WeakUnboundedSender<Command>) -> Result<Option<HomeLink>, HomeError> {
        let m = &config.mqtt;
        let Some(address) = m.address() else {
            return Ok(None);
        };
        let topics = Topics::new(&config.station.user, m.topic.as_deref(), &m.discovery_prefix);
        let mut options = MqttOptions::new(format!("doorway-{}", topics.node), address.host.clone(), address.port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            .set_max_packet_size(MAX_INCOMING, MAX_OUTGOING)
            .set_last_will(LastWill::new(topics.availability(), "offline", QoS::AtLeastOnce, true));
        if let Some(user) = &m.user {
            let password = m
                .credentials()
                .read_password()
                .map_err(|(file, e)| HomeError::PasswordFile(file, e))?
                .unwrap_or_default();
            options.set_credentials(user.clone(), password);
        }
        if address.tls {
            options.set_transport(Transport::tls_with_config(tls_config(m.ca_file.as_deref())?));
        }
        let (client, eventloop) = AsyncClient::new(options, 32);
        let (events, events_rx) = mpsc::channel(QUEUE);
        let (call, call_rx) = watch::channel("idle".to_string());
        let status = Arc::new(Mutex::new(MqttStatus {
            broker: m.broker.clone().unwrap_or_default(),
            ..Default::default()
        }));
        let task = Task {
            client,
            topics,
            station_name: config.station.name.clone(),
            status: status.clone(),
            commands,
            snapshot: None,
        };
        let span = info_span!("mqtt", broker = %status.lock().unwrap().broker);
        tokio::spawn(task.run(eventloop, events_rx, call_rx).instrument(span));
        Ok(Some(HomeLink { events, call, status }))
    }

    /// A ring began (in or out); `peer` is the other station.
    pub fn ring(&self, peer: &str, incoming: bool) {
        let _ = self.events.try_send(HomeEvent::Ring {
            peer: peer.to_string(),
            incoming,
        });
    }

    /// Where a ring's snapshot (JPEG) goes once taken, from any thread.
    pub fn snapshot_sink(&self) -> impl Fn(Vec<u8>) + Send + 'static {
        let events = self.events.clone();
        move |jpeg| {
            let _ = events.try_send(HomeEvent::Snapshot(jpeg));
        }
    }

    /// The call state in words; published when it changes.
    pub fn call_state(&self, words: &str) {
        self.call.send_if_modified(|now| {
            let changed = now != words;
            if changed {
                *now = words.to_string();
            }
            changed
        });
    }

    /// The connection now.
    pub fn status(&self) -> MqttStatus {
        self.status.lock().unwrap().clone()
    }
}

/// TLS to the broker, trusting the CA in `ca_file` or else the system's CAs.
fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rumqttc::TlsConfiguration, HomeError> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    crate::security::tls::install_default_provider();
    let file = ca_file.unwrap_or(std::path::Path::new("/etc/ssl/certs/ca-certificates.crt"));
    let bad = |why: String| HomeError::CaFile(file.to_owned(), why);
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(file).map_err(|e| bad(e.to_string()))?;
    for cert in certs {
        roots
            .add(cert.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(rumqttc::TlsConfiguration::Rustls(Arc::new(config)))
}

/// A connection error as a person can act on it.
fn in_words(e: &rumqttc::ConnectionError) -> String {
    use rumqttc::ConnectReturnCode as Code;
    match e {
        rumqttc::ConnectionError::ConnectionRefused(Code::BadUserNamePassword | Code::NotAuthorized) => {
            "the broker refused the user name or password ([mqtt] user, password)".into()
        }
        rumqttc::ConnectionError::ConnectionRefused(code) => format!("the broker refused the connection ({code:?})"),
        other => other.to_string(),
    }
}

struct Task {
    client: AsyncClient,
    topics: Topics,
    station_name: String,
    status: Arc<Mutex<MqttStatus>>,
    commands: mpsc::WeakUnboundedSender<Command>,
    /// The last ring's snapshot, published again on each connection.
    snapshot: Option<Vec<u8>>,
}

impl Task {
    async fn run(
        mut self,
        mut eventloop: rumqttc::EventLoop,
        mut events: mpsc::Receiver<HomeEvent>,
        mut call: watch::Receiver<String>,
    ) {
        let mut backoff = Duration::from_secs(1);
        let mut retry_at: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                polled = eventloop.poll(), if retry_at.is_none() => match polled {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        backoff = Duration::from_secs(1);
                        self.connected(&call.borrow().clone());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => self.incoming(&p.topic, &p.payload),
                    Ok(_) => {}
                    Err(e) => {
                        let was_connected = self.set_status(false, Some(in_words(&e)));
                        if was_connected {
                            warn!(error = %e, "lost the MQTT broker; retrying");
                        } else {
                            debug!(error = %e, retry_in = ?backoff, "MQTT broker unreachable");
                        }
                        retry_at = Some(tokio::time::Instant::now() + backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                    }
                },
                _ = tokio::time::sleep_until(retry_at.unwrap_or_else(tokio::time::Instant::now)), if retry_at.is_some() => {
                    retry_at = None;
                }
                event = events.recv() => match event {
                    Some(HomeEvent::Ring { peer, incoming }) => {
                        self.publish(self.topics.ring(), false, ring_event(&peer, incoming).to_string().into_bytes());
                    }
                    Some(HomeEvent::Snapshot(jpeg)) => {
                        self.publish(self.topics.snapshot(), true, jpeg.clone());
                        self.snapshot = Some(jpeg);
                    }
                    // The station stopped: say so, and leave.
                    None => break,
                },
                changed = call.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let words = call.borrow_and_update().clone();
                    self.publish(self.topics.call(), true, words.into_bytes());
                }
            }
        }
        self.publish(self.topics.availability(), true, b"offline".to_vec());
        let _ = self.client.try_disconnect();
        // Let the last messages and the disconnect go out.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while eventloop.poll().await.is_ok() {}
        })
        .await;
    }

    /// Returns whether it was connected before.
    fn set_status(&self, connected: bool, problem: Option<String>) -> bool {
        let mut s = self.status.lock().unwrap();
        let was = s.connected;
        s.connected = connected;
        s.problem = problem;
        was
    }

    fn connected(&mut self, call: &str) {
        self.set_status(true, None);
        info!("connected to the MQTT broker");
        let version = env!("CARGO_PKG_VERSION");
        for (topic, config) in self.topics.discovery(&self.station_name, version) {
            self.publish(topic, true, config.to_string().into_bytes());
        }
        self.publish(self.topics.availability(), true, b"online".to_vec());
        self.publish(self.topics.call(), true, call.as_bytes().to_vec());
        if let Some(jpeg) = self.snapshot.clone() {
            self.publish(self.topics.snapshot(), true, jpeg);
        }
        if let Err(e) = self.client.try_subscribe(self.topics.open_door(), QoS::AtLeastOnce) {
            warn!(error = %e, "cannot subscribe to the Open door button");
        }
    }

    fn publish(&self, topic: String, retain: bool, payload: Vec<u8>) {
        // Never waits: with the broker gone, what does not fit is dropped (the state is
        // published again on the next connection).
        if let Err(e) = self.client.try_publish(topic, QoS::AtLeastOnce, retain, payload) {
            debug!(error = %e, "MQTT message dropped");
        }
    }

    fn incoming(&self, topic: &str, payload: &[u8]) {
        if topic != self.topics.open_door() {
            return;
        }
        if payload != PRESS.as_bytes() {
            warn!(
                bytes = payload.len(),
                "ignored an Open door message that is not a press"
            );
            return;
        }
        let Some(commands) = self.commands.upgrade() else {
            return;
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let opener = crate::api::Opener::HomeAutomation;
        if commands.send(Command::OpenDoor(opener, tx)).is_err() {
            return;
        }
        tokio::spawn(
            async move {
                match rx.await {
                    Ok(Ok(done)) => info!(%done, "Open door from home automation"),
                    Ok(Err(why)) => warn!(%why, "Open door from home automation did nothing"),
                    Err(_) => {}
                }
            }
            .in_current_span(),
        );
    }
}
