//! SIP MESSAGE (RFC 3428) outside dialogs. Today it carries pairing
//! ([`crate::security::pairing`]), which must come over TLS: its bodies are bound to the
//! certificates of the connection they travel on.

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
/// How long the station may take to answer a pairing message.
const ANSWER_TIME: Duration = Duration::from_secs(5);

/// The station's answer to a request: status and body.
pub type Answer = (u16, Option<String>);

/// Carries the station's answer back to the waiting transaction (once).
#[derive(Clone)]
pub struct Replier(Arc<Mutex<Option<oneshot::Sender<Answer>>>>);

impl Replier {
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

fn content_type(tx: &Transaction) -> Option<String> {
    tx.original.headers.iter().find_map(|h| match h {
        Header::ContentType(ct) => Some(ct.value().trim().to_ascii_lowercase()),
        _ => None,
    })
}

impl UserAgent {
    /// An out-of-dialog MESSAGE: pairing over TLS goes to the station; anything else is
    /// refused for now.
    pub(super) fn on_message(&self, mut tx: Transaction) {
        let caller = self.caller(&tx);
        let kind = content_type(&tx).unwrap_or_default();
        let refusal = if !kind.starts_with(PAIRING_TYPE) {
            Some((StatusCode::UnsupportedMediaType, "only pairing messages are taken"))
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
        let (reply_tx, reply_rx) = oneshot::channel();
        self.emit(UaEvent::Pairing {
            caller,
            body,
            reply: Replier(Arc::new(Mutex::new(Some(reply_tx)))),
        });
        tokio::spawn(async move {
            let (status, body) = match tokio::time::timeout(ANSWER_TIME, reply_rx).await {
                Ok(Ok(answer)) => answer,
                _ => (500, None),
            };
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
        let sip_err = |e: String| UaError::Sip(Box::new(rsipstack::Error::Error(e)));
        let fingerprint = self.ensure_tls(addr, pin).await?;
        let endpoint = &self.inner.layer.endpoint;
        let target = format!("sip:doorway@{};transport=tls", addr);
        let target = rsipstack::sip::Uri::try_from(target.as_str()).map_err(|e| sip_err(e.to_string()))?;
        let own = self.contact_for(true);
        // The From names us by user and address only (our contacts' view of us has our
        // SIP port, not this TLS port).
        let s = &self.inner.settings;
        let from_uri = rsipstack::sip::Uri::try_from(format!("sip:{}@{}", s.user, s.advertise).as_str())
            .map_err(|e| sip_err(e.to_string()))?;
        let from = rsipstack::sip::typed::From {
            display_name: None,
            uri: from_uri,
            params: vec![rsipstack::sip::Param::Tag(
                format!("{:08x}", rand::random::<u32>()).into(),
            )],
        };
        let to = rsipstack::sip::typed::To {
            display_name: None,
            uri: target.clone(),
            params: vec![],
        };
        let destination = rsipstack::transport::SipAddr::new(rsipstack::sip::Transport::Tls, addr.into());
        let listens = endpoint.transport_layer.get_listen_addrs();
        let via_addr = listens
            .iter()
            .find(|a| a.r#type == Some(rsipstack::sip::Transport::Tls))
            .cloned();
        let via = endpoint.get_via(via_addr, None)?;
        let mut request = endpoint.make_request(rsipstack::sip::Method::Message, target, via, from, to, 1, None);
        request.headers.push(Header::ContentType(PAIRING_TYPE.into()));
        request.headers.push(Header::Contact(format!("<{own}>").into()));
        request.body = body.into_bytes();
        request
            .headers
            .unique_push(Header::ContentLength((request.body.len() as u32).into()));
        let key = TransactionKey::from_request(&request, TransactionRole::Client)?;
        let mut tx = Transaction::new_client(key, request, endpoint.clone(), None);
        tx.destination = Some(destination);
        tx.send().await?;
        let waited = tokio::time::timeout(Duration::from_secs(8), async {
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
        match waited {
            Ok(Some(answer)) => Ok((answer, fingerprint)),
            Ok(None) => Err(sip_err("no answer to the pairing message".into())),
            Err(_) => {
                warn!(%addr, "no answer to a pairing message");
                Err(sip_err("no answer to the pairing message in time".into()))
            }
        }
    }
}
