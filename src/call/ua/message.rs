//! SIP MESSAGE (RFC 3428) outside dialogs: receiving and sending. It carries text
//! ([`super::text`]) and pairing ([`crate::security::pairing`]), which must come over
//! TLS: its bodies are bound to the certificates of the connection they travel on.

use super::{UaError, UaEvent, UserAgent};
use crate::security::identity::Fingerprint;
use rsipstack::sip::{Header, StatusCode};
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transaction::transaction::Transaction;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tracing::{debug, warn};

/// Content type of pairing bodies.
pub const PAIRING_TYPE: &str = "application/x-doorway-pairing+json";
/// The largest MESSAGE body taken.
pub const MAX_BODY: usize = 4096;
/// How long the station may take to answer a message. A text is answered once it is on
/// disk, and an SD card's flush can take seconds under load; this is still well inside
/// the 32 s a sender's transaction waits (RFC 3261 Timer F), so a station that never
/// answers still gets a 500 back to its sender rather than silence.
const ANSWER_TIME: Duration = Duration::from_secs(15);

/// The station's answer to a request: status and body.
pub type Answer = (u16, Option<String>);

/// Carries the station's answer back to the waiting transaction (once).
#[derive(Clone)]
pub struct Replier(Arc<Mutex<Option<oneshot::Sender<Answer>>>>);

impl Replier {
    /// A replier and the answer it will carry: what the station said, or 500 when it
    /// said nothing within [`ANSWER_TIME`].
    pub(super) fn new() -> (Replier, impl std::future::Future<Output = Answer>) {
        let (tx, rx) = oneshot::channel();
        let answer = async move {
            match tokio::time::timeout(ANSWER_TIME, rx).await {
                Ok(Ok(answer)) => answer,
                _ => (500, None),
            }
        };
        (Replier(Arc::new(Mutex::new(Some(tx)))), answer)
    }

    /// Answers; later calls do nothing.
    pub fn send(&self, status: u16, body: Option<String>) {
        if let Some(tx) = self.0.lock().unwrap().take() {
            let _ = tx.send((status, body));
        }
    }
}

impl std::fmt::Debug for Replier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Replier")
    }
}

/// The Content-Type of a request, lower case.
pub(super) fn content_type(request: &rsipstack::sip::Request) -> Option<String> {
    request.headers.iter().find_map(|h| match h {
        Header::ContentType(ct) => Some(ct.value().trim().to_ascii_lowercase()),
        _ => None,
    })
}

/// Content type of text messages.
pub const TEXT_TYPE: &str = "text/plain";

impl UserAgent {
    /// An out-of-dialog MESSAGE: text goes to the station ([`super::text`]), and so
    /// does pairing over TLS; anything else is refused.
    pub(super) fn on_message(&self, mut tx: Transaction) {
        let caller = self.caller(&tx);
        let kind = content_type(&tx.original).unwrap_or_default();
        if kind.starts_with(TEXT_TYPE) {
            return self.on_text(tx, caller, kind);
        }
        let refusal = if !kind.starts_with(PAIRING_TYPE) {
            Some((
                StatusCode::UnsupportedMediaType,
                "only text/plain and pairing messages are taken",
            ))
        } else if tx.original.body.len() > MAX_BODY {
            Some((StatusCode::Other(413, "Message Too Large".into()), "too large"))
        } else if caller.certificate().is_none() {
            Some((StatusCode::Forbidden, "pairing needs TLS with a certificate"))
        } else {
            None
        };
        if let Some((status, why)) = refusal {
            debug!(from = %caller.from_uri, source = %caller.source, why, "refused a MESSAGE");
            tokio::spawn(async move { tx.reply(status).await.ok() });
            return;
        }
        let body = String::from_utf8_lossy(&tx.original.body).into_owned();
        let (reply, answer) = Replier::new();
        self.emit(UaEvent::Pairing { caller, body, reply });
        tokio::spawn(async move {
            let (status, body) = answer.await;
            let headers = if body.is_some() {
                vec![Header::ContentType(PAIRING_TYPE.into())]
            } else {
                vec![]
            };
            tx.reply_with(StatusCode::from(status), headers, body.map(String::into_bytes))
                .await
                .ok();
        });
    }

    /// Sends a pairing MESSAGE to the station whose TLS listener is at `addr` (holding
    /// `pin`, or anyone when pairing starts) and returns its answer and the certificate it
    /// presented.
    pub async fn send_pairing(
        &self,
        addr: SocketAddr,
        pin: Option<Fingerprint>,
        body: String,
    ) -> Result<(Answer, Fingerprint), UaError> {
        let fingerprint = self.ensure_tls(addr, pin).await?;
        let answer = self
            .send_message(Route::Tls(addr), "doorway", PAIRING_TYPE, body)
            .await?;
        Ok((answer, fingerprint))
    }

    /// Sends a MESSAGE outside any dialog to `user` at `route` and waits for its final
    /// answer. Over TLS the connection must already be up ([`UserAgent::ensure_tls`]): it
    /// is the one that proved the certificate.
    pub(super) async fn send_message(
        &self,
        route: Route,
        user: &str,
        content_type: &str,
        body: String,
    ) -> Result<Answer, UaError> {
        let sip_err = |e: String| UaError::Sip(Box::new(rsipstack::Error::Error(e)));
        let (addr, transport, secure) = match route {
            Route::Udp(a) => (a, rsipstack::sip::Transport::Udp, false),
            Route::Tcp(a) => (a, rsipstack::sip::Transport::Tcp, false),
            Route::Tls(a) => (a, rsipstack::sip::Transport::Tls, true),
        };
        let suffix = match transport {
            rsipstack::sip::Transport::Udp => "",
            rsipstack::sip::Transport::Tcp => ";transport=tcp",
            _ => ";transport=tls",
        };
        let target = format!("sip:{user}@{addr}{suffix}");
        let target = rsipstack::sip::Uri::try_from(target.as_str()).map_err(|e| sip_err(e.to_string()))?;
        let own = self.contact_for(secure);
        // The From names us by user and address only: over TLS our contacts' view of us
        // has our SIP port, not the TLS one.
        let s = &self.inner.settings;
        let from_text = if secure {
            format!("sip:{}@{}", s.user, self.advertise())
        } else {
            format!("sip:{}@{}:{}", s.user, self.advertise(), self.inner.local.port())
        };
        let from_uri = rsipstack::sip::Uri::try_from(from_text.as_str()).map_err(|e| sip_err(e.to_string()))?;
        let from = rsipstack::sip::typed::From {
            display_name: Some(s.display_name.clone()).filter(|_| !s.display_name.is_empty()),
            uri: from_uri,
            params: vec![rsipstack::sip::Param::Tag(
                format!("{:08x}", rand::random::<u32>()).into(),
            )],
        };
        let destination = rsipstack::transport::SipAddr::new(transport, addr.into());
        let mut headers = vec![Header::ContentType(content_type.into())];
        headers.push(Header::Contact(format!("<{own}>").into()));
        let request = OutOfDialog {
            method: rsipstack::sip::Method::Message,
            target,
            from,
            destination,
            headers,
            body: body.into_bytes(),
        };
        // Timer F is 32 s; a person waiting for "sent" should not wait that long.
        match self.request_out_of_dialog(request, Duration::from_secs(8)).await? {
            Some(answer) => Ok(answer),
            None => {
                warn!(%addr, "no answer to a message");
                Err(sip_err("no answer to the message in time".into()))
            }
        }
    }

    /// Sends a request outside any dialog and waits up to `wait` for its final answer
    /// (status and body); `None` when none came in time.
    pub(super) async fn request_out_of_dialog(
        &self,
        request: OutOfDialog,
        wait: Duration,
    ) -> Result<Option<Answer>, UaError> {
        let endpoint = &self.inner.layer.endpoint;
        let transport = request.destination.r#type.unwrap_or(rsipstack::sip::Transport::Udp);
        let listens = endpoint.transport_layer.get_listen_addrs();
        let via_addr = listens.iter().find(|a| a.r#type == Some(transport)).cloned();
        let via = endpoint.get_via(via_addr, None)?;
        let to = rsipstack::sip::typed::To {
            display_name: None,
            uri: request.target.clone(),
            params: vec![],
        };
        let mut message = endpoint.make_request(request.method, request.target, via, request.from, to, 1, None);
        message.headers.extend(request.headers);
        message.body = request.body;
        message
            .headers
            .unique_push(Header::ContentLength((message.body.len() as u32).into()));
        let key = TransactionKey::from_request(&message, TransactionRole::Client)?;
        let mut tx = Transaction::new_client(key, message, endpoint.clone(), None);
        tx.destination = Some(request.destination);
        tx.send().await?;
        let waited = tokio::time::timeout(wait, async {
            while let Some(message) = tx.receive().await {
                if let rsipstack::sip::SipMessage::Response(resp) = message {
                    let code = resp.status_code.code();
                    if code >= 200 {
                        let body = (!resp.body.is_empty()).then(|| String::from_utf8_lossy(&resp.body).into_owned());
                        return Some((code, body));
                    }
                }
            }
            None
        })
        .await;
        Ok(waited.ok().flatten())
    }
}

/// A request outside any dialog: who it is for, from, where it goes, and what it says.
pub(super) struct OutOfDialog {
    /// The method.
    pub method: rsipstack::sip::Method,
    /// Request-URI and To.
    pub target: rsipstack::sip::Uri,
    /// From, with its tag.
    pub from: rsipstack::sip::typed::From,
    /// Where it is sent, and over what.
    pub destination: rsipstack::transport::SipAddr,
    /// Further headers.
    pub headers: Vec<Header>,
    /// The body.
    pub body: Vec<u8>,
}

/// How a MESSAGE outside a dialog travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Over UDP to this address.
    Udp(SocketAddr),
    /// Over TCP to this address.
    Tcp(SocketAddr),
    /// Over the TLS connection to this address (already dialed, so pinned).
    Tls(SocketAddr),
}
