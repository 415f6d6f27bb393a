//! The SIP user agent: rsipstack's endpoint, transaction and dialog layers over UDP and
//! TCP, turned into [`UaEvent`]s for the station and driven by its commands.
//!
//! rsipstack does RFC 3261 transactions (retransmission, timers, ACK, CANCEL matching) and
//! dialogs; this module adds what a door station needs on top: mapping by Call-ID,
//! setup and ring timeouts, OPTIONS answers, and 400 for requests that parse but lack what
//! SIP requires.

use rsipstack::dialog::dialog::{DialogState, DialogStateSender, TransactionHandle};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Header, StatusCode};
use rsipstack::transport::tcp_listener::TcpListenerConnection;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipAddr, TransportLayer};
use rsipstack::EndpointBuilder;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, info_span, warn, Instrument};

mod account;
mod dialogs;
mod events;
mod incoming;
pub mod message;
mod outgoing;
pub mod reason;
pub mod secure;
mod stream_relay;
pub mod tcp_guard;
pub mod text;

use crate::security::identity::Fingerprint;
pub use account::AccountHandle;
pub use events::UaEvent;
pub use secure::{TlsDialError, TlsSettings};

/// Counts of the SIP state held, for `status` and for finding what a flood leaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SipStats {
    /// Transactions running.
    pub transactions: usize,
    /// Finished transactions kept to absorb retransmissions.
    pub finished_transactions: usize,
    /// Server INVITE transactions waiting for an ACK.
    pub waiting_ack: usize,
    /// Dialogs in rsipstack's dialog layer.
    pub dialogs: usize,
    /// Calls the user agent tracks by Call-ID.
    pub calls: usize,
    /// Inbound TCP connections open.
    pub tcp_connections: usize,
}

/// User agent errors.
#[derive(Debug, thiserror::Error)]
pub enum UaError {
    /// The SIP port could not be opened.
    #[error("cannot listen for SIP on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause (boxed: rsipstack's error is large).
        source: Box<rsipstack::Error>,
    },
    /// A request could not be built or sent.
    #[error("SIP: {0}")]
    Sip(Box<rsipstack::Error>),
    /// No such call.
    #[error("no call with Call-ID {0}")]
    NoCall(String),
    /// No TLS connection to the peer that holds the pinned certificate.
    #[error(transparent)]
    Tls(#[from] TlsDialError),
}

impl From<rsipstack::Error> for UaError {
    fn from(e: rsipstack::Error) -> Self {
        Self::Sip(Box::new(e))
    }
}

/// A station name as the inside of a SIP display name's quoted string (RFC 3261
/// quoted-pair for `"` and `\`); control characters, which the config refuses, are
/// dropped should one get through.
pub fn quoted_display_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Identity and timing of the user agent.
#[derive(Debug, Clone)]
pub struct UaSettings {
    /// Address to bind (UDP and TCP); port 0 picks a free port.
    pub listen: SocketAddr,
    /// Address peers reach us at.
    pub advertise: IpAddr,
    /// SIP user part.
    pub user: String,
    /// Display name.
    pub display_name: String,
    /// Time for a peer to send any response to our INVITE.
    pub setup_timeout: Duration,
    /// Time for a peer to answer.
    pub ring_timeout: Duration,
    /// Who may ring this station at all; everyone else gets 403 at once, without a
    /// dialog or a transaction kept for them (a flood of strangers costs nothing).
    pub admission: Admission,
    /// SIP over TLS, when the station has an identity.
    pub tls: Option<TlsSettings>,
}

/// Who sent a request, as far as the transport can tell.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// The From URI.
    pub from_uri: String,
    /// The source address.
    pub source: IpAddr,
    /// It came over TLS; the certificate the client presented, if it presented one.
    pub tls: Option<Option<Fingerprint>>,
    /// It came from the station's SIP server (the account's), whose word on who is
    /// calling counts.
    pub via_server: bool,
    /// Who the SIP server says is calling (P-Asserted-Identity, `sip:USER@HOST`); only
    /// taken from the server.
    pub asserted: Option<String>,
}

impl Caller {
    /// The certificate the caller proved it holds.
    pub fn certificate(&self) -> Option<Fingerprint> {
        self.tls.flatten()
    }
}

/// Decides whether a caller may ring; a refusal says why (for the log).
pub type AdmissionCheck = dyn Fn(&Caller) -> Result<(), String> + Send + Sync;

/// Whether a caller may ring the station.
#[derive(Clone)]
pub struct Admission(pub Arc<AdmissionCheck>);

impl Admission {
    /// Everyone may ring.
    pub fn everyone() -> Self {
        Self(Arc::new(|_| Ok(())))
    }
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Admission")
    }
}

struct Inner {
    settings: UaSettings,
    /// The address we give in our URIs: the settings' at first, then wherever the
    /// station finds itself after its address changes ([`UserAgent::set_advertise`]).
    advertise: Mutex<IpAddr>,
    local: SocketAddr,
    layer: Arc<DialogLayer>,
    state_sender: DialogStateSender,
    dialogs: Mutex<HashMap<String, InviteDialog>>,
    /// The tasks serving incoming INVITE transactions (they retransmit our 2xx until
    /// the ACK); a BYE before the ACK stops them.
    invite_tasks: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    responded: Mutex<HashMap<String, Arc<tokio::sync::Notify>>>,
    /// When each source address was last reported as refused.
    refused_reported: Mutex<HashMap<IpAddr, std::time::Instant>>,
    /// Re-INVITEs and UPDATEs awaiting our answer, by Call-ID.
    offers: Mutex<HashMap<String, TransactionHandle>>,
    events: mpsc::UnboundedSender<UaEvent>,
    cancel: CancellationToken,
    tcp_guard: tcp_guard::TcpGuard,
    /// Inbound TLS connections (their own caps, and the certificates they presented).
    tls_guard: tcp_guard::TcpGuard,
    tls_port: Option<u16>,
    /// TLS connections we dialed.
    dialed: secure::DialedLinks,
    /// Secure calls: where the peer's TLS listener is and the certificate it must hold.
    secure_calls: Mutex<HashMap<String, (SocketAddr, Fingerprint)>>,
    /// Outgoing secure calls still dialing TLS (a cancel before the INVITE went out).
    dialing: Mutex<std::collections::HashSet<String>>,
    /// CANCELs that say (or said) the call was completed elsewhere.
    elsewhere: reason::Elsewhere,
    /// The transport layer, for adding the connections we dial.
    transport: TransportLayer,
    /// The account on a SIP server, once its server has been found.
    account: Mutex<Option<account::AccountRoute>>,
}

/// A running SIP user agent. Cheap to clone; stops when [`UserAgent::shutdown`] is called.
#[derive(Clone)]
pub struct UserAgent {
    inner: Arc<Inner>,
}

impl UserAgent {
    /// Binds UDP and TCP, starts the endpoint, and reports events on `events`.
    pub async fn start(settings: UaSettings, events: mpsc::UnboundedSender<UaEvent>) -> Result<Self, UaError> {
        let cancel = CancellationToken::new();
        let transport = TransportLayer::new(cancel.clone());
        let addr = settings.listen;
        let io_err = |e: std::io::Error| UaError::Listen {
            addr,
            source: Box::new(e.into()),
        };
        let socket = tokio::net::UdpSocket::bind(addr).await.map_err(io_err)?;
        let local = SocketAddr::new(addr.ip(), socket.local_addr().map_err(io_err)?.port());
        let external = SocketAddr::new(settings.advertise, local.port());
        let udp = UdpConnection::from_socket(
            Arc::new(super::guard::GuardedUdpSocket::new(socket)),
            Some(external),
            Some(cancel.child_token()),
        )
        .await
        .map_err(|source| UaError::Listen {
            addr,
            source: Box::new(source),
        })?;
        transport.add_transport(udp.into());
        // Inbound TCP goes through our guard (caps and timeouts). rsipstack still needs a
        // TCP listener of its own to put our TCP address in Via headers: it gets one on a
        // loopback port nobody on the LAN can reach, advertising the real address.
        let tcp_guard = tcp_guard::TcpGuard::default();
        let advertised_tcp = SipAddr::new(rsipstack::sip::Transport::Tcp, external.into());
        tcp_guard
            .listen(
                local,
                advertised_tcp,
                // The same layer (it is two shared fields), kept for adding connections.
                TransportLayer {
                    outbound: transport.outbound.clone(),
                    inner: transport.inner.clone(),
                },
                cancel.child_token(),
                None,
            )
            .await
            .map_err(io_err)?;
        let tls_guard = tcp_guard::TcpGuard::default();
        let tls_port = match &settings.tls {
            Some(tls) => Some(secure::start_tls(tls, &transport, &tls_guard, local, external, &cancel).await?),
            None => None,
        };
        let loopback = SocketAddr::new(
            if local.is_ipv4() {
                IpAddr::from([127, 0, 0, 1])
            } else {
                IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
            },
            0,
        );
        let tcp = TcpListenerConnection::new(loopback, Some(external))
            .await
            .map_err(|source| UaError::Listen {
                addr: local,
                source: Box::new(source),
            })?;
        transport.add_transport(tcp.into());
        let own_transport = TransportLayer {
            outbound: transport.outbound.clone(),
            inner: transport.inner.clone(),
        };
        let elsewhere = reason::Elsewhere::default();
        let endpoint = EndpointBuilder::new()
            .with_inspector(elsewhere.inspector())
            .with_cancel_token(cancel.clone())
            .with_transport_layer(transport)
            .with_user_agent(concat!("doorway/", env!("CARGO_PKG_VERSION")))
            .build();
        let incoming = endpoint.incoming_transactions()?;
        let layer = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        let (state_sender, state_receiver) = layer.new_dialog_state_channel();
        let ua = UserAgent {
            inner: Arc::new(Inner {
                advertise: Mutex::new(settings.advertise),
                settings,
                local,
                layer,
                state_sender,
                dialogs: Mutex::default(),
                invite_tasks: Mutex::default(),
                responded: Mutex::default(),
                offers: Mutex::default(),
                refused_reported: Mutex::default(),
                events,
                cancel: cancel.clone(),
                tcp_guard,
                tls_guard,
                tls_port,
                dialed: Default::default(),
                secure_calls: Mutex::default(),
                dialing: Mutex::default(),
                elsewhere,
                transport: own_transport,
                account: Mutex::default(),
            }),
        };
        let span = info_span!("sip", port = local.port());
        let endpoint_inner = endpoint.inner.clone();
        tokio::spawn(
            async move {
                if let Err(e) = endpoint_inner.serve().await {
                    warn!(error = %e, "SIP endpoint stopped");
                }
            }
            .instrument(span.clone()),
        );
        tokio::spawn(ua.clone().serve_incoming(incoming).instrument(span.clone()));
        tokio::spawn(ua.clone().follow_dialogs(state_receiver).instrument(span));
        match tls_port {
            Some(port) => {
                info!(%local, tls_port = port, advertise = %ua.inner.settings.advertise, "SIP listening on UDP, TCP and TLS")
            }
            None => info!(%local, advertise = %ua.inner.settings.advertise, "SIP listening on UDP and TCP"),
        }
        Ok(ua)
    }

    /// How much SIP state the user agent holds now: what a flood would grow.
    pub fn stats(&self) -> SipStats {
        let endpoint = self.inner.layer.endpoint.get_stats();
        SipStats {
            transactions: endpoint.running_transactions,
            finished_transactions: endpoint.finished_transactions,
            waiting_ack: endpoint.waiting_ack,
            dialogs: self.inner.layer.len(),
            calls: self.inner.dialogs.lock().unwrap().len(),
            tcp_connections: self.inner.tcp_guard.open_connections() + self.inner.tls_guard.open_connections(),
        }
    }

    /// The bound SIP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// Our own SIP URI.
    pub fn uri(&self) -> String {
        let s = &self.inner.settings;
        format!("sip:{}@{}:{}", s.user, self.advertise(), self.inner.local.port())
    }

    /// The address we give in our URIs.
    pub fn advertise(&self) -> IpAddr {
        *self.inner.advertise.lock().unwrap()
    }

    /// Gives `address` in our URIs from now on: the station's address changed (a new
    /// DHCP lease). Peers answer requests where they came from, so the transports'
    /// own Via addresses may stay as they were.
    pub fn set_advertise(&self, address: IpAddr) {
        *self.inner.advertise.lock().unwrap() = address;
    }

    fn contact(&self) -> rsipstack::sip::Uri {
        rsipstack::sip::Uri::try_from(self.uri().as_str()).expect("own URI is valid")
    }

    /// Our Contact for a call: the TLS URI for a secure one.
    fn contact_for(&self, secure: bool) -> rsipstack::sip::Uri {
        match self.tls_uri().filter(|_| secure) {
            Some(uri) => rsipstack::sip::Uri::try_from(uri.as_str()).expect("own URI is valid"),
            None => self.contact(),
        }
    }

    fn emit(&self, event: UaEvent) {
        // The station may already be gone at shutdown; nothing to tell then.
        let _ = self.inner.events.send(event);
    }

    fn dialog(&self, call: &str) -> Result<InviteDialog, UaError> {
        self.inner
            .dialogs
            .lock()
            .unwrap()
            .get(call)
            .cloned()
            .ok_or_else(|| UaError::NoCall(call.into()))
    }

    fn forget(&self, call: &str) {
        self.inner.dialogs.lock().unwrap().remove(call);
        // A final response still retransmits until its ACK: let that task finish.
        self.inner.invite_tasks.lock().unwrap().remove(call);
        self.inner.responded.lock().unwrap().remove(call);
        self.inner.offers.lock().unwrap().remove(call);
        self.inner.secure_calls.lock().unwrap().remove(call);
        self.inner.dialing.lock().unwrap().remove(call);
    }

    /// Sends 180 Ringing, or 183 with an early-media answer.
    pub fn ringing(&self, call: &str, early_answer: Option<String>) -> Result<(), UaError> {
        let headers = early_answer.as_ref().map(|_| vec![sdp_type()]);
        self.dialog(call)?
            .ringing(headers, early_answer.map(String::into_bytes))?;
        Ok(())
    }

    /// Answers with 200 and our SDP.
    pub fn accept(&self, call: &str, answer: String) -> Result<(), UaError> {
        self.dialog(call)?
            .accept(Some(vec![sdp_type()]), Some(answer.into_bytes()))?;
        Ok(())
    }

    /// Refuses an INVITE with `status` (403, 486, 488, 603...).
    pub fn reject(&self, call: &str, status: u16) -> Result<(), UaError> {
        let dialog = self.dialog(call)?;
        dialog.reject(Some(StatusCode::from(status)), None)?;
        self.forget(call);
        Ok(())
    }

    /// Cancels our pending INVITE.
    pub async fn cancel(&self, call: &str) -> Result<(), UaError> {
        if self.inner.dialing.lock().unwrap().remove(call) {
            // Still dialing TLS: the INVITE will not be sent.
            return Ok(());
        }
        let dialog = self.dialog(call)?;
        self.forget(call);
        if matches!(dialog.state(), DialogState::Confirmed(..)) {
            // The answer came first (a ring group's members answering together): a
            // CANCEL would do nothing, and the other side would sit in a call nobody
            // is in until its media timeout. End it (RFC 3261 section 9.1).
            info!(%call, "answered before our CANCEL left; hanging up");
            dialog.bye().await?;
            return Ok(());
        }
        dialog.cancel().await?;
        Ok(())
    }

    /// CANCELs our pending INVITE saying the call was answered elsewhere (a ring group's
    /// other members).
    pub async fn cancel_elsewhere(&self, call: &str) -> Result<(), UaError> {
        self.inner.elsewhere.mark_ours(call);
        self.cancel(call).await
    }

    /// Ends an established call with BYE.
    pub async fn bye(&self, call: &str) -> Result<(), UaError> {
        let dialog = self.dialog(call)?;
        if let Err(e) = self.ensure_call_link(call).await {
            warn!(%call, error = %e, "cannot reach the peer to hang up");
        }
        // Answered but not yet ACKed: wait for the ACK, or for our 200 to time out, as
        // RFC 3261 section 15 asks of the callee. A BYE sent at once can overtake the 200
        // (which its transaction sends on its own task): the caller answers it 481, takes
        // the 200 afterwards, and sits in a call nobody is in until its media timeout.
        let deadline = tokio::time::Instant::now() + ACK_WAIT;
        while dialog.state().waiting_ack() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The 200 no longer needs retransmitting.
        if let Some(task) = self.inner.invite_tasks.lock().unwrap().remove(call) {
            task.abort();
        }
        self.forget(call);
        dialog.bye().await?;
        Ok(())
    }

    /// Stops listening and ends all tasks.
    pub fn shutdown(&self) {
        self.inner.cancel.cancel();
    }
}

/// Longest wait for the ACK of our 200 before hanging up: RFC 3261's timer H (64·T1),
/// after which the server transaction gives up on it.
const ACK_WAIT: Duration = Duration::from_secs(32);

fn sdp_type() -> Header {
    Header::ContentType("application/sdp".into())
}
