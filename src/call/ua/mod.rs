//! The SIP user agent: rsipstack's endpoint, transaction and dialog layers over UDP and
//! TCP, turned into [`UaEvent`]s for the station and driven by its commands.
//!
//! rsipstack does RFC 3261 transactions (retransmission, timers, ACK, CANCEL matching) and
//! dialogs; this module adds what a door station needs on top: mapping by Call-ID,
//! setup and ring timeouts, OPTIONS answers, and 400 for requests that parse but lack what
//! SIP requires.

use super::Peer;
use rsipstack::dialog::dialog::{
    DialogState, DialogStateReceiver, DialogStateSender, TerminatedReason, TransactionHandle,
};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invitation::InviteOption;
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
use tracing::{debug, info, info_span, warn, Instrument};

mod incoming;
pub mod tcp_guard;

/// What the user agent reports to the station.
#[derive(Debug, Clone)]
pub enum UaEvent {
    /// A new INVITE.
    Incoming {
        /// Call-ID.
        call: String,
        /// The From URI.
        from_uri: String,
        /// Where the INVITE came from.
        source: IpAddr,
        /// The SDP offer.
        offer: String,
    },
    /// 180/183 for our INVITE.
    Progress {
        /// Call-ID.
        call: String,
        /// SDP of a 183, if any.
        early_sdp: Option<String>,
    },
    /// 2xx for our INVITE.
    Answered {
        /// Call-ID.
        call: String,
        /// SDP answer.
        answer_sdp: String,
    },
    /// A caller who may not ring this station was refused (403); at most one such
    /// event per source address every ten seconds.
    Refused {
        /// The From URI.
        from_uri: String,
        /// Where the INVITE came from.
        source: IpAddr,
    },
    /// Our INVITE ended without a call.
    Failed {
        /// Call-ID.
        call: String,
        /// Final status, or none for timeout or transport failure.
        status: Option<u16>,
        /// Reason text.
        reason: String,
    },
    /// The caller cancelled.
    Cancelled {
        /// Call-ID.
        call: String,
    },
    /// The dialog ended with a BYE.
    Ended {
        /// Call-ID.
        call: String,
    },
    /// A re-INVITE or UPDATE in an established call; answer with
    /// [`UserAgent::respond_offer`].
    RemoteOffer {
        /// Call-ID.
        call: String,
        /// Its SDP, if it carries one.
        offer: Option<String>,
    },
    /// The outcome of our re-INVITE: the answer SDP, or the failure status (0: none).
    OfferAnswered {
        /// Call-ID.
        call: String,
        /// Answer or status.
        answer: Result<String, u16>,
    },
    /// We answered, but the caller never confirmed with an ACK (RFC 3261 13.3.1.4); the
    /// dialog is over.
    NoAck {
        /// Call-ID.
        call: String,
    },
}

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
}

impl From<rsipstack::Error> for UaError {
    fn from(e: rsipstack::Error) -> Self {
        Self::Sip(Box::new(e))
    }
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
}

/// Decides from a caller's From URI and source address whether it may ring.
pub type AdmissionCheck = dyn Fn(&str, IpAddr) -> bool + Send + Sync;

/// Whether a caller (From URI, source address) may ring the station.
#[derive(Clone)]
pub struct Admission(pub Arc<AdmissionCheck>);

impl Admission {
    /// Everyone may ring.
    pub fn everyone() -> Self {
        Self(Arc::new(|_, _| true))
    }
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Admission")
    }
}

struct Inner {
    settings: UaSettings,
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
            )
            .await
            .map_err(io_err)?;
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
        let endpoint = EndpointBuilder::new()
            .with_cancel_token(cancel.clone())
            .with_transport_layer(transport)
            .with_user_agent(concat!("doorway/", env!("CARGO_PKG_VERSION")))
            .build();
        let incoming = endpoint.incoming_transactions()?;
        let layer = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        let (state_sender, state_receiver) = layer.new_dialog_state_channel();
        let ua = UserAgent {
            inner: Arc::new(Inner {
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
        info!(%local, advertise = %ua.inner.settings.advertise, "SIP listening on UDP and TCP");
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
            tcp_connections: self.inner.tcp_guard.open_connections(),
        }
    }

    /// The bound SIP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// Our own SIP URI.
    pub fn uri(&self) -> String {
        let s = &self.inner.settings;
        format!("sip:{}@{}:{}", s.user, s.advertise, self.inner.local.port())
    }

    fn contact(&self) -> rsipstack::sip::Uri {
        rsipstack::sip::Uri::try_from(self.uri().as_str()).expect("own URI is valid")
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
    }

    /// Sends an INVITE with `offer` under Call-ID `call`; the outcome comes as events.
    pub fn invite(&self, call: &str, peer: &Peer, offer: String) -> Result<(), UaError> {
        let mut callee = rsipstack::sip::Uri::try_from(peer.uri.as_str())
            .map_err(|e| UaError::from(rsipstack::Error::Error(e.to_string())))?;
        if callee.auth.is_none() {
            callee.auth = Some(rsipstack::sip::Auth {
                user: "doorway".into(),
                password: None,
            });
        }
        let transport = if peer.tcp {
            rsipstack::sip::Transport::Tcp
        } else {
            rsipstack::sip::Transport::Udp
        };
        let option = InviteOption {
            caller_display_name: Some(self.inner.settings.display_name.clone()),
            caller: self.contact(),
            callee,
            destination: Some(rsipstack::transport::SipAddr::new(transport, peer.addr.into())),
            content_type: Some("application/sdp".into()),
            offer: Some(offer.into_bytes()),
            contact: self.contact(),
            call_id: Some(call.to_string()),
            ..Default::default()
        };
        let (dialog, handle) = self
            .inner
            .layer
            .do_invite_async(option, self.inner.state_sender.clone())?;
        let responded = Arc::new(tokio::sync::Notify::new());
        self.inner
            .dialogs
            .lock()
            .unwrap()
            .insert(call.to_string(), dialog.clone());
        self.inner
            .responded
            .lock()
            .unwrap()
            .insert(call.to_string(), responded.clone());
        let span = info_span!("call", id = %call, peer = %peer.uri);
        tokio::spawn(
            self.clone()
                .await_outcome(call.to_string(), dialog, handle, responded)
                .instrument(span),
        );
        Ok(())
    }

    async fn await_outcome(
        self,
        call: String,
        dialog: InviteDialog,
        mut handle: tokio::task::JoinHandle<rsipstack::dialog::invitation::InviteAsyncResult>,
        responded: Arc<tokio::sync::Notify>,
    ) {
        let (setup, ring) = (self.inner.settings.setup_timeout, self.inner.settings.ring_timeout);
        let first = tokio::select! {
            r = &mut handle => Some(r),
            _ = responded.notified() => None,
            _ = tokio::time::sleep(setup) => {
                handle.abort();
                self.forget(&call);
                let reason = format!("no response to our INVITE within {} s", setup.as_secs());
                warn!(%reason, "call setup failed");
                self.emit(UaEvent::Failed { call, status: None, reason });
                return;
            }
        };
        let result = match first {
            Some(r) => r,
            None => match tokio::time::timeout(ring, &mut handle).await {
                Ok(r) => r,
                Err(_) => {
                    info!("no answer within {} s, cancelling", ring.as_secs());
                    dialog.cancel().await.ok();
                    self.forget(&call);
                    self.emit(UaEvent::Failed {
                        call,
                        status: Some(480),
                        reason: "no answer".into(),
                    });
                    return;
                }
            },
        };
        let event = match result {
            Ok(Ok((_, Some(resp)))) if resp.status_code.kind() == rsipstack::sip::StatusCodeKind::Successful => {
                info!("answered");
                UaEvent::Answered {
                    call,
                    answer_sdp: String::from_utf8_lossy(&resp.body).into_owned(),
                }
            }
            Ok(Ok((_, Some(resp)))) => {
                self.forget(&call);
                info!(status = %resp.status_code, "call refused");
                UaEvent::Failed {
                    call,
                    status: Some(resp.status_code.code()),
                    // The phrase alone: the machine puts the code in front.
                    reason: resp.status_code.text().to_string(),
                }
            }
            Ok(Ok((_, None))) => {
                self.forget(&call);
                UaEvent::Failed {
                    call,
                    status: None,
                    reason: "no final response".into(),
                }
            }
            Ok(Err(e)) => {
                self.forget(&call);
                warn!(error = %e, "INVITE failed");
                UaEvent::Failed {
                    call,
                    status: None,
                    reason: e.to_string(),
                }
            }
            Err(e) => {
                self.forget(&call);
                UaEvent::Failed {
                    call,
                    status: None,
                    reason: e.to_string(),
                }
            }
        };
        self.emit(event);
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
        let dialog = self.dialog(call)?;
        self.forget(call);
        dialog.cancel().await?;
        Ok(())
    }

    /// Ends an established call with BYE.
    pub async fn bye(&self, call: &str) -> Result<(), UaError> {
        let dialog = self.dialog(call)?;
        // Answered but not yet ACKed: stop retransmitting the 200 the call no longer needs.
        if let Some(task) = self.inner.invite_tasks.lock().unwrap().remove(call) {
            task.abort();
        }
        self.forget(call);
        dialog.bye().await?;
        Ok(())
    }

    /// Answers the pending re-INVITE or UPDATE of `call`.
    pub fn respond_offer(&self, call: &str, status: u16, sdp: Option<String>) -> Result<(), UaError> {
        let handle = self
            .inner
            .offers
            .lock()
            .unwrap()
            .remove(call)
            .ok_or_else(|| UaError::NoCall(call.into()))?;
        let headers = sdp.as_ref().map(|_| vec![sdp_type()]);
        let body = sdp.map(String::into_bytes);
        tokio::spawn(async move {
            if handle.respond(StatusCode::from(status), headers, body).await.is_err() {
                debug!("the re-INVITE or UPDATE ended before our answer");
            }
        });
        Ok(())
    }

    /// Sends a re-INVITE with `offer` (hold, resume); the outcome comes as
    /// [`UaEvent::OfferAnswered`]. Glare (491) comes back as such: the call machine
    /// decides when to try again, and answers the other side's re-INVITE meanwhile.
    pub fn reoffer(&self, call: &str, offer: String) -> Result<(), UaError> {
        let dialog = self.dialog(call)?;
        let ua = self.clone();
        let call = call.to_string();
        tokio::spawn(async move {
            let result = dialog.reinvite(Some(vec![sdp_type()]), Some(offer.into_bytes())).await;
            let answer = match result {
                Ok(Some(resp)) if resp.status_code.kind() == rsipstack::sip::StatusCodeKind::Successful => {
                    Ok(String::from_utf8_lossy(&resp.body).into_owned())
                }
                Ok(Some(resp)) => Err(resp.status_code.code()),
                Ok(None) => Err(0),
                Err(e) => {
                    debug!(error = %e, "re-INVITE failed");
                    Err(0)
                }
            };
            ua.emit(UaEvent::OfferAnswered { call, answer });
        });
        Ok(())
    }

    /// Stops listening and ends all tasks.
    pub fn shutdown(&self) {
        self.inner.cancel.cancel();
    }

    async fn follow_dialogs(self, mut states: DialogStateReceiver) {
        while let Some(state) = states.recv().await {
            debug!(%state, "dialog state");
            match state {
                DialogState::Trying(id) => self.mark_responded(&id.call_id),
                DialogState::Early(id, resp) => {
                    let is_ours = self.inner.responded.lock().unwrap().contains_key(&id.call_id);
                    if is_ours {
                        self.mark_responded(&id.call_id);
                        let early_sdp =
                            (!resp.body.is_empty()).then(|| String::from_utf8_lossy(&resp.body).into_owned());
                        self.emit(UaEvent::Progress {
                            call: id.call_id.clone(),
                            early_sdp,
                        });
                    }
                }
                DialogState::Updated(id, request, handle) => {
                    let known = self.inner.dialogs.lock().unwrap().contains_key(&id.call_id);
                    if !known {
                        // Dropping the handle answers it (501).
                        continue;
                    }
                    let offer = offer_body(&request);
                    let call = id.call_id.clone();
                    self.inner.offers.lock().unwrap().insert(call.clone(), handle);
                    info!(%call, method = %request.method, with_sdp = offer.is_some(), "the other side changes the call");
                    self.emit(UaEvent::RemoteOffer { call, offer });
                }
                DialogState::Options(_, _, handle) => {
                    tokio::spawn(async move { handle.reply(StatusCode::OK).await.ok() });
                }
                DialogState::Terminated(id, reason) => {
                    self.inner.layer.remove_dialog(&id);
                    let known = self.inner.dialogs.lock().unwrap().contains_key(&id.call_id);
                    if !known {
                        continue;
                    }
                    let call = id.call_id.clone();
                    match reason {
                        TerminatedReason::UacCancel => {
                            self.forget(&call);
                            self.emit(UaEvent::Cancelled { call });
                        }
                        TerminatedReason::UacBye | TerminatedReason::UasBye => {
                            self.forget(&call);
                            self.emit(UaEvent::Ended { call });
                        }
                        TerminatedReason::Timeout => {
                            self.forget(&call);
                            self.emit(UaEvent::NoAck { call });
                        }
                        // Failures of our own INVITE are reported by await_outcome.
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }

    fn mark_responded(&self, call: &str) {
        if let Some(n) = self.inner.responded.lock().unwrap().get(call) {
            n.notify_one();
        }
    }
}

/// The SDP of a re-INVITE or UPDATE, if it has one (an UPDATE may only refresh the
/// session timer; a re-INVITE may ask for our offer).
fn offer_body(request: &rsipstack::sip::Request) -> Option<String> {
    if request.body.is_empty() {
        return None;
    }
    let is_sdp = request.headers.iter().any(|h| match h {
        Header::ContentType(ct) => ct.value().to_ascii_lowercase().starts_with("application/sdp"),
        _ => false,
    });
    // A body that is not SDP is handed on as garbage, which the answer refuses.
    Some(if is_sdp {
        String::from_utf8_lossy(&request.body).into_owned()
    } else {
        String::new()
    })
}

fn sdp_type() -> Header {
    Header::ContentType("application/sdp".into())
}
