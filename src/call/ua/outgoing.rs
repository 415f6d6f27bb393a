//! Calls we place: the INVITE, its setup and ring timeouts, and how it ended.

use super::{UaError, UaEvent, UserAgent};
use crate::call::Peer;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use std::sync::Arc;
use tracing::{info, info_span, warn, Instrument};

impl UserAgent {
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
}
