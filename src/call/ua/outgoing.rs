//! Calls we place: the INVITE, its setup and ring timeouts, and how it ended.

use super::{UaError, UaEvent, UserAgent};
use crate::call::Peer;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use std::sync::Arc;
use tracing::{info, info_span, warn, Instrument};

impl UserAgent {
    /// Sends an INVITE with `offer` under Call-ID `call`; the outcome comes as events.
    /// A secure peer is dialed over TLS first, and only if it shows the pinned
    /// certificate does the INVITE go out (else the call fails with the reason).
    pub fn invite(&self, call: &str, peer: &Peer, offer: String) -> Result<(), UaError> {
        let Some((addr, pin)) = peer.secure else {
            return self.invite_now(call, peer, offer);
        };
        self.inner.dialing.lock().unwrap().insert(call.to_string());
        let (ua, call, peer) = (self.clone(), call.to_string(), peer.clone());
        let span = info_span!("call", id = %call, peer = %peer.uri);
        tokio::spawn(
            async move {
                let dialed = ua.ensure_tls(addr, Some(pin)).await;
                if !ua.inner.dialing.lock().unwrap().remove(&call) {
                    return; // cancelled meanwhile
                }
                let result = match dialed {
                    Ok(_) => {
                        ua.inner.secure_calls.lock().unwrap().insert(call.clone(), (addr, pin));
                        ua.invite_now(&call, &peer, offer).map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e.to_string()),
                };
                if let Err(reason) = result {
                    warn!(%reason, "secure call could not be placed");
                    ua.forget(&call);
                    ua.emit(UaEvent::Failed {
                        call,
                        status: None,
                        reason,
                    });
                }
            }
            .instrument(span),
        );
        Ok(())
    }

    fn invite_now(&self, call: &str, peer: &Peer, offer: String) -> Result<(), UaError> {
        let mut callee = rsipstack::sip::Uri::try_from(peer.uri.as_str())
            .map_err(|e| UaError::from(rsipstack::Error::Error(e.to_string())))?;
        if callee.auth.is_none() {
            callee.auth = Some(rsipstack::sip::Auth {
                user: "doorway".into(),
                password: None,
            });
        }
        let (transport, destination) = match peer.secure {
            Some((addr, _)) => (rsipstack::sip::Transport::Tls, addr),
            None if peer.tcp => (rsipstack::sip::Transport::Tcp, peer.addr),
            None => (rsipstack::sip::Transport::Udp, peer.addr),
        };
        if peer.secure.is_some() {
            // The Request-URI names the TLS listener too, so in-dialog requests from the
            // other side's view and ours agree on where this station is.
            callee.host_with_port = rsipstack::sip::HostWithPort::from(destination);
            callee
                .params
                .retain(|p| !matches!(p, rsipstack::sip::Param::Transport(_)));
            callee.params.push(rsipstack::sip::Param::Transport(transport));
        }
        let secure = peer.secure.is_some();
        let mut option = InviteOption {
            caller_display_name: Some(self.inner.settings.display_name.clone()),
            caller: self.contact_for(secure),
            callee,
            destination: Some(rsipstack::transport::SipAddr::new(transport, destination.into())),
            content_type: Some("application/sdp".into()),
            offer: Some(offer.into_bytes()),
            contact: self.contact_for(secure),
            call_id: Some(call.to_string()),
            ..Default::default()
        };
        if peer.proxied {
            // Through the SIP server: from our address of record, answering its
            // challenges, to wherever it is now (a proxy's address may change).
            let route = self.account_route().ok_or_else(|| {
                UaError::from(rsipstack::Error::Error(
                    "the SIP server has not been reached yet".into(),
                ))
            })?;
            let transport = if route.tcp {
                rsipstack::sip::Transport::Tcp
            } else {
                rsipstack::sip::Transport::Udp
            };
            option.caller = rsipstack::sip::Uri::try_from(route.aor.as_str())
                .map_err(|e| UaError::from(rsipstack::Error::Error(e.to_string())))?;
            option.credential = route.credential;
            option.destination = Some(rsipstack::transport::SipAddr::new(transport, route.server.into()));
            if route.tcp {
                option.contact.params.push(rsipstack::sip::Param::Transport(transport));
            }
        }
        // Listen for the first answer before the INVITE leaves: on a LAN the 100 and the
        // 183 can come back before `do_invite_async` returns, and an answer nobody
        // listened for would leave the call to fail as "no response".
        let responded = Arc::new(tokio::sync::Notify::new());
        self.inner
            .responded
            .lock()
            .unwrap()
            .insert(call.to_string(), responded.clone());
        let (dialog, handle) = match self
            .inner
            .layer
            .do_invite_async(option, self.inner.state_sender.clone())
        {
            Ok(sent) => sent,
            Err(e) => {
                self.inner.responded.lock().unwrap().remove(call);
                return Err(e.into());
            }
        };
        self.inner
            .dialogs
            .lock()
            .unwrap()
            .insert(call.to_string(), dialog.clone());
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
                if !self.inner.dialogs.lock().unwrap().contains_key(&call) {
                    // Given up (cancelled) while the answer was on its way: the station
                    // has no leg for it, so it is ended here, not reported. A dialog
                    // the SIP stack already ended for the same reason takes no BYE.
                    info!("answered after we gave the call up; hanging up");
                    if let Err(e) = dialog.bye().await {
                        warn!(error = %e, "cannot end a call answered after we gave it up");
                    }
                    return;
                }
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
}
