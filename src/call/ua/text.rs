//! Text messages (RFC 3428 MESSAGE with `text/plain` in UTF-8), outside calls and inside
//! them. The body is checked here, at the boundary; who may send is the station's call
//! (it answers through a [`Replier`]).

use super::message::{content_type, Answer, Replier, Route};
use super::{Caller, UaError, UaEvent, UserAgent};
use rsipstack::dialog::dialog::TransactionHandle;
use rsipstack::sip::{Header, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use tracing::debug;

pub use super::message::TEXT_TYPE;
/// The longest text taken or sent, in bytes of UTF-8. RFC 3428 asks for MESSAGE to stay
/// under 1300 bytes where it may travel over UDP; the headers need the rest.
pub const MAX_TEXT: usize = 800;

/// Where a text came from.
#[derive(Debug, Clone, PartialEq)]
pub enum TextFrom {
    /// Outside any call: the sender as the transport tells it.
    Caller(Caller),
    /// Inside this call (Call-ID): the call's other end.
    Call(String),
}

/// Why a text message's body was refused: the status and its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// SIP status.
    pub status: u16,
    /// For the log and the Warning header.
    pub why: &'static str,
}

/// Checks a MESSAGE body of content type `kind` (lower case, parameters included) and
/// returns the text as a person should see it: one line, control characters gone.
pub fn check_text(kind: &str, body: &[u8]) -> Result<String, Refusal> {
    let refuse = |status, why| Err(Refusal { status, why });
    let mut parts = kind.split(';').map(str::trim);
    if parts.next() != Some(TEXT_TYPE) {
        return refuse(415, "only text/plain is taken");
    }
    for param in parts {
        if let Some(charset) = param.strip_prefix("charset=") {
            let charset = charset.trim_matches('"');
            if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("us-ascii") {
                return refuse(415, "only UTF-8 text is taken");
            }
        }
    }
    if body.len() > MAX_TEXT {
        return refuse(413, "the message is longer than 800 bytes");
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return refuse(400, "the text is not UTF-8");
    };
    let text = clean_text(text);
    if text.is_empty() {
        return refuse(400, "the message is empty");
    }
    Ok(text)
}

pub use crate::base::text::clean_text;

fn warning(why: &str) -> Header {
    Header::Other("Warning".into(), format!("399 doorway \"{why}\""))
}

impl UserAgent {
    /// A text MESSAGE outside a dialog: checked here, then the station decides.
    pub(super) fn on_text(&self, mut tx: Transaction, caller: Caller, kind: String) {
        match check_text(&kind, &tx.original.body) {
            Err(refusal) => {
                debug!(from = %caller.from_uri, source = %caller.source, why = refusal.why, "refused a text message");
                tokio::spawn(async move {
                    tx.reply_with(status(refusal.status), vec![warning(refusal.why)], None)
                        .await
                        .ok()
                });
            }
            Ok(text) => {
                let (reply, answer) = Replier::new();
                self.emit(UaEvent::Text {
                    from: TextFrom::Caller(caller),
                    text,
                    reply,
                });
                tokio::spawn(async move {
                    let (code, _) = answer.await;
                    tx.reply(status(code)).await.ok();
                });
            }
        }
    }

    /// A MESSAGE inside the dialog of `call`.
    pub(super) fn on_dialog_text(&self, call: String, request: &rsipstack::sip::Request, handle: TransactionHandle) {
        let kind = content_type(request).unwrap_or_default();
        match check_text(&kind, &request.body) {
            Err(refusal) => {
                debug!(%call, why = refusal.why, "refused a text message in a call");
                tokio::spawn(async move {
                    handle
                        .respond(status(refusal.status), Some(vec![warning(refusal.why)]), None)
                        .await
                        .ok()
                });
            }
            Ok(text) => {
                let (reply, answer) = Replier::new();
                self.emit(UaEvent::Text {
                    from: TextFrom::Call(call),
                    text,
                    reply,
                });
                tokio::spawn(async move {
                    let (code, _) = answer.await;
                    handle.respond(status(code), None, None).await.ok();
                });
            }
        }
    }

    /// Sends `text` (already checked by [`check_text`] rules on our side) inside the call
    /// `call` when it is up, else outside any dialog to `user` at `route`. Returns the
    /// final status the other side answered.
    pub async fn send_text(&self, call: Option<&str>, route: Route, user: &str, text: &str) -> Result<u16, UaError> {
        let kind = format!("{TEXT_TYPE};charset=utf-8");
        if let Some((call, dialog)) = call.and_then(|c| Some((c, self.dialog(c).ok()?))) {
            if let Err(e) = self.ensure_call_link(call).await {
                debug!(error = %e, "no secure connection for the message");
            }
            let response = dialog
                .message(
                    Some(vec![Header::ContentType(kind.clone().into())]),
                    Some(text.as_bytes().to_vec()),
                )
                .await?;
            // None: the call is not confirmed yet (it still rings); outside it then.
            if let Some(response) = response {
                return Ok(response.status_code.code());
            }
        }
        let (code, _): Answer = self.send_message(route, user, &kind, text.to_string()).await?;
        Ok(code)
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_plain_utf8_text_and_cleans_it() {
        assert_eq!(check_text("text/plain", b"Coming!").unwrap(), "Coming!");
        assert_eq!(
            check_text(
                "text/plain;charset=utf-8",
                "Gr\u{fc}\u{df}e\r\n  aus\tK\u{f6}ln".as_bytes()
            )
            .unwrap(),
            "Gr\u{fc}\u{df}e aus K\u{f6}ln"
        );
        assert_eq!(check_text("text/plain; charset=\"UTF-8\"", b"x").unwrap(), "x");
        assert_eq!(
            check_text("text/plain", b"\x1b[2Jhi\x07 \xe2\x80\xaeevil").unwrap(),
            "[2Jhi evil"
        );
    }

    #[test]
    fn refuses_what_is_not_a_short_utf8_text() {
        let status = |kind: &str, body: &[u8]| check_text(kind, body).unwrap_err().status;
        assert_eq!(status("text/html", b"<b>x</b>"), 415);
        assert_eq!(status("text/plain;charset=iso-8859-1", b"x"), 415);
        assert_eq!(status("text/plain", &[b'a'; MAX_TEXT + 1]), 413);
        assert_eq!(check_text("text/plain", &[b'a'; MAX_TEXT]).unwrap().len(), MAX_TEXT);
        assert_eq!(status("text/plain", b"\xff\xfe"), 400);
        assert_eq!(status("text/plain", b" \r\n\t"), 400);
        assert_eq!(status("text/plain", b""), 400);
    }
}
