//! Requests that arrive outside a dialog: new INVITEs, OPTIONS, stray BYE and CANCEL,
//! and the checks that turn malformed ones into 400/415/488.

use super::{UaEvent, UserAgent};
use rsipstack::dialog::dialog::Dialog;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use std::net::IpAddr;
use tracing::{debug, info, warn};

impl UserAgent {
    pub(super) async fn serve_incoming(self, mut incoming: rsipstack::transaction::TransactionReceiver) {
        // Until shutdown (see follow_dialogs).
        let cancel = self.inner.cancel.clone();
        while let Some(mut tx) = tokio::select! {
            tx = incoming.recv() => tx,
            _ = cancel.cancelled() => None,
        } {
            // A complete request: the connection it came on is in use (see tcp_guard).
            if let Some(remote) = tx
                .connection
                .as_ref()
                .filter(|c| {
                    matches!(
                        c,
                        rsipstack::transport::SipConnection::Tcp(_) | rsipstack::transport::SipConnection::Tls(_)
                    )
                })
                .and_then(|c| c.get_remote_addr())
                .and_then(|a| a.get_socketaddr().ok())
            {
                self.inner.tcp_guard.saw_request(remote);
                self.inner.tls_guard.saw_request(remote);
            }
            if let Some(Dialog::Invite(mut dialog)) = self.inner.layer.match_dialog(&tx) {
                tokio::spawn(async move {
                    if let Err(e) = dialog.handle(&mut tx).await {
                        debug!(error = %e, "in-dialog request");
                    }
                });
                continue;
            }
            if let Err((status, problem)) = check_request(&tx) {
                warn!(method = %tx.original.method, %problem, %status, "refused a malformed request");
                let warning = Header::Other("Warning".into(), format!("399 doorway \"{problem}\""));
                tx.reply_with(status, vec![warning], None).await.ok();
                continue;
            }
            match tx.original.method {
                Method::Invite => match (self.inner.settings.admission.0)(&self.caller(&tx)) {
                    Ok(()) => self.new_invite(tx),
                    Err(why) => self.refuse_stranger(tx, why).await,
                },
                Method::Message => self.on_message(tx),
                Method::Options => {
                    let headers = vec![
                        Header::Allow("INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, MESSAGE".into()),
                        Header::Accept("application/sdp".into()),
                    ];
                    tx.reply_with(StatusCode::OK, headers, None).await.ok();
                }
                Method::Ack => {}
                Method::Bye | Method::Cancel => {
                    tx.reply(StatusCode::CallTransactionDoesNotExist).await.ok();
                }
                _ => {
                    tx.reply(StatusCode::MethodNotAllowed).await.ok();
                }
            }
        }
    }

    /// Who sent `tx`: From URI, source address, and over TLS the certificate.
    pub(super) fn caller(&self, tx: &Transaction) -> super::Caller {
        let (from_uri, source) = caller(tx);
        let tls = tx
            .connection
            .as_ref()
            .and_then(|c| c.get_remote_addr())
            // Inbound TLS reaches the stack relayed (see stream_relay), as a TCP
            // connection whose peer address says TLS.
            .filter(|a| a.r#type == Some(rsipstack::sip::Transport::Tls))
            .and_then(|a| a.get_socketaddr().ok())
            .map(|remote| self.presented(remote));
        // Only the account's server may say who is calling; anyone else's
        // P-Asserted-Identity is ignored (RFC 3325 trusts it within a trust domain only).
        let via_server = self.account_server() == Some(source);
        let asserted = via_server
            .then(|| tx.original.p_asserted_identity_header())
            .flatten()
            .and_then(|h| crate::call::registration::asserted_identity(h.value()));
        super::Caller {
            from_uri,
            source,
            tls,
            via_server,
            asserted,
        }
    }

    /// 403 without keeping anything: no dialog, and the transaction is dropped before it
    /// holds a response (a stranger's retransmission gets another 403 the same way).
    async fn refuse_stranger(&self, tx: Transaction, why: String) {
        let (from_uri, source) = caller(&tx);
        let mut request = tx.original.clone();
        if let Ok(to) = request.to_header() {
            if to.tag().ok().flatten().is_none() {
                let tagged = to.clone().with_tag(format!("{:08x}", rand::random::<u32>()).into());
                request.headers.unique_push(tagged.into());
            }
        }
        let response = tx.endpoint_inner.make_response(&request, StatusCode::Forbidden, None);
        if let Some(connection) = &tx.connection {
            if let Err(e) = connection.send(response.into(), tx.destination.as_ref()).await {
                debug!(error = %e, "could not send 403");
            }
        }
        let now = std::time::Instant::now();
        let mut reported = self.inner.refused_reported.lock().unwrap();
        let due = reported
            .get(&source)
            .is_none_or(|t| now.duration_since(*t) >= std::time::Duration::from_secs(10));
        if due {
            // Bounded: one entry per address heard from in the last ten seconds.
            reported.retain(|_, t| now.duration_since(*t) < std::time::Duration::from_secs(10));
            reported.insert(source, now);
            drop(reported);
            warn!(from = %from_uri, %source, %why, "refused a call");
            self.emit(UaEvent::Refused { from_uri, source, why });
        } else {
            debug!(from = %from_uri, %source, %why, "refused a call");
        }
    }

    fn new_invite(&self, mut tx: Transaction) {
        // A To tag names a dialog; none of ours matched it (RFC 3261 section 12.2.2).
        let to_tag = tx.original.to_header().ok().and_then(|t| t.tag().ok().flatten());
        if to_tag.is_some() {
            debug!("INVITE for a dialog we do not have");
            tokio::spawn(async move { tx.reply(StatusCode::CallTransactionDoesNotExist).await.ok() });
            return;
        }
        let call = tx
            .original
            .call_id_header()
            .map(|c| c.value().to_string())
            .unwrap_or_default();
        let caller = self.caller(&tx);
        let (from_uri, source, tls) = (caller.from_uri.clone(), caller.source, caller.tls);
        let offer = String::from_utf8_lossy(&tx.original.body).into_owned();
        // A secure call: requests we send in it go to the caller's TLS listener (its
        // Contact), which must hold the certificate it presented now.
        if let Some(Some(certificate)) = tls {
            if let Some(addr) = contact_addr(&tx) {
                self.inner
                    .secure_calls
                    .lock()
                    .unwrap()
                    .insert(call.clone(), (addr, certificate));
            }
        }
        let dialog = match self.inner.layer.get_or_create_server_invite(
            &tx,
            self.inner.state_sender.clone(),
            None,
            Some(self.contact_for(tls.is_some())),
        ) {
            Ok(d) => d,
            Err(e) => {
                warn!(error = %e, "cannot create dialog for INVITE");
                tokio::spawn(async move { tx.reply(StatusCode::ServerInternalError).await.ok() });
                return;
            }
        };
        self.inner.dialogs.lock().unwrap().insert(call.clone(), dialog.clone());
        info!(%call, from = %from_uri, %source, "incoming INVITE");
        self.emit(UaEvent::Incoming {
            call: call.clone(),
            caller,
            offer,
        });
        let mut dialog = dialog;
        let task = tokio::spawn(async move {
            if let Err(e) = dialog.handle(&mut tx).await {
                debug!(error = %e, "INVITE transaction ended");
            }
        });
        self.inner
            .invite_tasks
            .lock()
            .unwrap()
            .insert(call, task.abort_handle());
    }
}

/// The address in a request's Contact header (where its sender takes requests).
fn contact_addr(tx: &Transaction) -> Option<std::net::SocketAddr> {
    use rsipstack::sip::prelude::ToTypedHeader;
    let contact = tx.original.contact_header().ok()?.typed().ok()?;
    let ip = match &contact.uri.host_with_port.host {
        rsipstack::sip::Host::IpAddr(ip) => ip.to_owned(),
        rsipstack::sip::Host::Domain(d) => d.to_string().parse().ok()?,
    };
    let port = contact
        .uri
        .host_with_port
        .port
        .as_ref()
        .map(|p| p.value())
        .unwrap_or(5061);
    Some(std::net::SocketAddr::new(ip, port))
}

/// The From URI of a request and the address it came from.
fn caller(tx: &Transaction) -> (String, IpAddr) {
    let from_uri = tx
        .original
        .from_header()
        .ok()
        .and_then(|f| f.uri().ok())
        .map(|u| u.to_string())
        .unwrap_or_default();
    let source = tx
        .connection
        .as_ref()
        .and_then(|c| c.get_remote_addr())
        .and_then(|a| a.get_socketaddr().ok())
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    (from_uri, source)
}

/// What RFC 3261 section 8.2 requires before a request can be processed: the headers that
/// make it routable and matchable (else 400), and for INVITE an SDP offer (else 415/488).
fn check_request(tx: &Transaction) -> Result<(), (StatusCode, String)> {
    let req = &tx.original;
    let bad = |why: &str| (StatusCode::BadRequest, why.to_string());
    req.from_header()
        .map_err(|_| bad("missing From header"))?
        .uri()
        .map_err(|_| bad("unparseable From header"))?;
    req.to_header()
        .map_err(|_| bad("missing To header"))?
        .uri()
        .map_err(|_| bad("unparseable To header"))?;
    req.call_id_header().map_err(|_| bad("missing Call-ID header"))?;
    let cseq = req.cseq_header().map_err(|_| bad("missing CSeq header"))?;
    let method = cseq.method().map_err(|_| bad("unparseable CSeq header"))?;
    if method != req.method && !(req.method == Method::Ack || req.method == Method::Cancel) {
        return Err(bad("CSeq method does not match the request method"));
    }
    if req.method == Method::Invite {
        let content_type = req.headers.iter().find_map(|h| match h {
            Header::ContentType(ct) => Some(ct.value().to_ascii_lowercase()),
            _ => None,
        });
        if let Some(ct) = content_type {
            if !ct.starts_with("application/sdp") {
                return Err((
                    StatusCode::UnsupportedMediaType,
                    format!("body type {ct} is not application/sdp"),
                ));
            }
        }
        if req.body.is_empty() {
            return Err((
                StatusCode::NotAcceptableHere,
                "INVITE without an SDP offer is not supported".into(),
            ));
        }
    }
    Ok(())
}
