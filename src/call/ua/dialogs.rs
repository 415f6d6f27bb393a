//! Established dialogs: following their state (answers, re-INVITEs and UPDATEs, BYE,
//! a missing ACK) and changing them ourselves (re-INVITE for hold and resume).

use super::{sdp_type, UaError, UaEvent, UserAgent};
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TerminatedReason};
use rsipstack::sip::{Header, StatusCode};
use tracing::{debug, info};

impl UserAgent {
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
            if let Err(e) = ua.ensure_call_link(&call).await {
                debug!(error = %e, "no secure connection for the re-INVITE");
            }
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

    pub(super) async fn follow_dialogs(self, mut states: DialogStateReceiver) {
        // Until shutdown: the channel alone never closes (its sender lives in the dialog
        // layer this task keeps alive), and ending here frees the sockets.
        let cancel = self.inner.cancel.clone();
        while let Some(state) = tokio::select! {
            s = states.recv() => s,
            _ = cancel.cancelled() => None,
        } {
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
                DialogState::Message(id, request, handle) => {
                    let known = self.inner.dialogs.lock().unwrap().contains_key(&id.call_id);
                    if known {
                        self.on_dialog_text(id.call_id.clone(), &request, handle);
                    }
                    // Otherwise dropping the handle answers it.
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
                            let elsewhere = self.inner.elsewhere.take_theirs(&call);
                            self.emit(UaEvent::Cancelled { call, elsewhere });
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
