//! "Call completed elsewhere" (RFC 3326 `Reason: SIP;cause=200`) on CANCEL, both ways:
//! a ring group's caller says it on the CANCELs to the members that did not answer,
//! and a station whose ringing is cancelled that way says "answered elsewhere" rather
//! than that the caller hung up. rsipstack builds CANCEL itself and hands a received one
//! to the INVITE's transaction, so this sits in its message inspector, which sees every
//! message on every transport.

use rsipstack::sip::{Header, Method, SipMessage};
use rsipstack::transaction::endpoint::MessageInspector;
use rsipstack::transport::SipAddr;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// The Reason a CANCEL carries when another member of a group answered.
pub const COMPLETED_ELSEWHERE: &str = "SIP;cause=200;text=\"Call completed elsewhere\"";
/// Call-IDs remembered each way; older ones are dropped (a stranger's CANCELs cannot
/// grow this).
const REMEMBERED: usize = 64;

/// Call-IDs cancelled because the call was completed elsewhere.
#[derive(Debug, Default, Clone)]
pub struct Elsewhere {
    /// Ours: our CANCEL for these carries the Reason.
    outgoing: Arc<Mutex<VecDeque<String>>>,
    /// Theirs: a CANCEL for these said so.
    incoming: Arc<Mutex<VecDeque<String>>>,
}

fn remember(list: &Mutex<VecDeque<String>>, call: &str) {
    let mut list = list.lock().unwrap();
    if !list.iter().any(|c| c == call) {
        if list.len() >= REMEMBERED {
            list.pop_front();
        }
        list.push_back(call.to_string());
    }
}

impl Elsewhere {
    /// Our CANCEL for `call` is to say the call was completed elsewhere.
    pub fn mark_ours(&self, call: &str) {
        remember(&self.outgoing, call);
    }

    /// Whether the other side cancelled `call` because it was answered elsewhere
    /// (forgotten once asked).
    pub fn take_theirs(&self, call: &str) -> bool {
        let mut list = self.incoming.lock().unwrap();
        match list.iter().position(|c| c == call) {
            Some(i) => {
                list.remove(i);
                true
            }
            None => false,
        }
    }

    /// The message inspector for rsipstack's endpoint.
    pub fn inspector(&self) -> Box<dyn MessageInspector> {
        Box::new(Inspector(self.clone()))
    }
}

/// Whether a Reason header value says "completed elsewhere" (protocol SIP, cause 200).
pub fn says_elsewhere(value: &str) -> bool {
    let mut parts = value.split(';').map(str::trim);
    let protocol_ok = parts.next().is_some_and(|p| p.eq_ignore_ascii_case("SIP"));
    protocol_ok
        && parts.any(|p| {
            p.split_once('=')
                .is_some_and(|(k, v)| k.trim().eq_ignore_ascii_case("cause") && v.trim() == "200")
        })
}

fn call_id(request: &rsipstack::sip::Request) -> Option<String> {
    request.headers.iter().find_map(|h| match h {
        Header::CallId(id) => Some(id.value().to_string()),
        _ => None,
    })
}

struct Inspector(Elsewhere);

impl MessageInspector for Inspector {
    fn before_send(&self, message: SipMessage, _: Option<&SipAddr>) -> SipMessage {
        let SipMessage::Request(mut request) = message else {
            return message;
        };
        if request.method == Method::Cancel {
            let ours = call_id(&request).is_some_and(|id| self.0.outgoing.lock().unwrap().contains(&id));
            let has_reason = request.headers.iter().any(|h| matches!(h, Header::Reason(_)));
            if ours && !has_reason {
                request.headers.push(Header::Reason(COMPLETED_ELSEWHERE.into()));
            }
        }
        SipMessage::Request(request)
    }

    fn after_received(&self, message: SipMessage, _: Option<&SipAddr>) -> SipMessage {
        if let SipMessage::Request(request) = &message {
            if request.method == Method::Cancel {
                let elsewhere = request.headers.iter().any(|h| match h {
                    Header::Reason(r) => says_elsewhere(r.value()),
                    Header::Other(name, value) => name.eq_ignore_ascii_case("reason") && says_elsewhere(value),
                    _ => false,
                });
                if let (true, Some(id)) = (elsewhere, call_id(request)) {
                    remember(&self.0.incoming, &id);
                }
            }
        }
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_reason_of_rfc_3326() {
        assert!(says_elsewhere(COMPLETED_ELSEWHERE));
        assert!(says_elsewhere("sip ; cause=200"));
        assert!(!says_elsewhere("SIP;cause=487"));
        assert!(!says_elsewhere("Q.850;cause=200"));
        assert!(!says_elsewhere("SIP;text=\"cause=200\""));
    }

    fn cancel(call: &str, reason: Option<&str>) -> SipMessage {
        let reason = reason.map(|r| format!("Reason: {r}\r\n")).unwrap_or_default();
        let text = format!(
            "CANCEL sip:hall@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
             From: <sip:door@127.0.0.1:5070>;tag=1\r\nTo: <sip:hall@127.0.0.1:5060>\r\nCall-ID: {call}\r\n\
             CSeq: 1 CANCEL\r\nMax-Forwards: 70\r\n{reason}Content-Length: 0\r\n\r\n"
        );
        SipMessage::try_from(text.as_str()).unwrap()
    }

    #[test]
    fn our_cancel_says_it_and_theirs_is_heard_once() {
        let elsewhere = Elsewhere::default();
        let inspector = elsewhere.inspector();
        elsewhere.mark_ours("a");
        let sent = inspector.before_send(cancel("a", None), None).to_string();
        assert!(sent.contains("Call completed elsewhere"), "{sent}");
        let other = inspector.before_send(cancel("b", None), None).to_string();
        assert!(!other.contains("elsewhere"), "{other}");

        inspector.after_received(cancel("c", Some(COMPLETED_ELSEWHERE)), None);
        inspector.after_received(cancel("d", Some("SIP;cause=487")), None);
        assert!(elsewhere.take_theirs("c"));
        assert!(!elsewhere.take_theirs("c"), "asked once");
        assert!(!elsewhere.take_theirs("d"));
    }

    #[test]
    fn a_flood_of_cancels_is_bounded() {
        let elsewhere = Elsewhere::default();
        let inspector = elsewhere.inspector();
        for n in 0..1000 {
            inspector.after_received(cancel(&format!("x{n}"), Some(COMPLETED_ELSEWHERE)), None);
        }
        assert_eq!(elsewhere.incoming.lock().unwrap().len(), REMEMBERED);
        assert!(elsewhere.take_theirs("x999"));
        assert!(!elsewhere.take_theirs("x0"));
    }
}
