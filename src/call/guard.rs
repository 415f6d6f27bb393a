//! The guard in front of the stack, for every transport: each request datagram (and
//! each message framed on a TCP or TLS stream, see `ua::stream_relay`) first goes
//! through [`super::sip_check`]; then requests that parse but lack the headers RFC 3261
//! section 8.1.1 makes mandatory are answered 400 here, because the stack above cannot
//! even form a transaction for them and would drop them without a word. Everything else
//! passes through; datagrams that are not SIP at all are left for the stack to discard.

use rsipstack::sip::{Header, SipMessage};
use std::net::SocketAddr;
use tracing::warn;

/// The UDP socket rsipstack reads from, with the guard in front.
pub struct GuardedUdpSocket {
    inner: tokio::net::UdpSocket,
}

impl GuardedUdpSocket {
    /// Wraps a bound socket.
    pub fn new(inner: tokio::net::UdpSocket) -> Self {
        Self { inner }
    }
}

/// What the guard makes of one request, datagram or framed stream message.
#[derive(Debug, PartialEq)]
pub enum FirstLook {
    /// Pass these bytes to the stack (the message, or its plain rewrite).
    Pass(Vec<u8>),
    /// Answer with `response` and drop the message.
    Refuse {
        /// The response text.
        response: String,
        /// Why, for the log.
        why: String,
    },
    /// Drop it without a word (it could not be rewritten into `room` bytes).
    Drop,
}

/// The same checks for every transport: [`super::sip_check`], then the mandatory headers.
/// `room` is the most bytes a rewrite may take.
pub fn first_look(message: &[u8], room: usize) -> FirstLook {
    let bytes = match super::sip_check::check(message) {
        super::sip_check::Verdict::Pass => message.to_vec(),
        super::sip_check::Verdict::Rewrite(plain) if plain.len() <= room => plain,
        super::sip_check::Verdict::Rewrite(_) => return FirstLook::Drop,
        super::sip_check::Verdict::Reply { response, why } => return FirstLook::Refuse { response, why },
    };
    match reject_reply(&bytes) {
        None => FirstLook::Pass(bytes),
        Some((response, why)) => FirstLook::Refuse {
            response,
            why: why.to_string(),
        },
    }
}

#[async_trait::async_trait]
impl rsipstack::platform::net::UdpSocket for GuardedUdpSocket {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.inner.recv_from(buf).await?;
            match first_look(&buf[..n], buf.len()) {
                FirstLook::Pass(bytes) => {
                    buf[..bytes.len()].copy_from_slice(&bytes);
                    return Ok((bytes.len(), from));
                }
                FirstLook::Refuse { response, why } => {
                    warn!(%from, problem = %why, "SIP request refused before the stack");
                    let _ = self.inner.send_to(response.as_bytes(), from).await;
                }
                FirstLook::Drop => {}
            }
        }
    }

    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> rsipstack::Result<usize> {
        Ok(self.inner.send_to(buf, addr).await?)
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.inner.local_addr()?)
    }
}

/// For a request missing mandatory headers, the 400 to send back and why.
pub fn reject_reply(datagram: &[u8]) -> Option<(String, &'static str)> {
    let Ok(SipMessage::Request(req)) = SipMessage::try_from(datagram) else {
        return None;
    };
    if req.method == rsipstack::sip::Method::Ack {
        return None; // ACK is never answered.
    }
    let has = |f: fn(&Header) -> bool| req.headers.iter().any(f);
    if !has(|h| matches!(h, Header::Via(_))) {
        return None; // Nowhere to send a response.
    }
    let missing = if !has(|h| matches!(h, Header::From(_))) {
        "missing From header"
    } else if !has(|h| matches!(h, Header::To(_))) {
        "missing To header"
    } else if !has(|h| matches!(h, Header::CallId(_))) {
        "missing Call-ID header"
    } else if !has(|h| matches!(h, Header::CSeq(_))) {
        "missing CSeq header"
    } else if req.method == rsipstack::sip::Method::Invite && !has(|h| matches!(h, Header::Contact(_))) {
        "INVITE without Contact header"
    } else {
        return None;
    };
    let mut reply = String::from("SIP/2.0 400 Bad Request\r\n");
    for h in req.headers.iter() {
        if matches!(
            h,
            Header::Via(_) | Header::From(_) | Header::To(_) | Header::CallId(_) | Header::CSeq(_)
        ) {
            reply.push_str(&format!("{h}\r\n"));
        }
    }
    reply.push_str(&format!(
        "Warning: 399 doorway \"{missing}\"\r\nContent-Length: 0\r\n\r\n"
    ));
    Some((reply, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &str = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx\r\n\
From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: abc\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn complete_requests_and_non_sip_pass() {
        assert!(reject_reply(OPTIONS.as_bytes()).is_none());
        assert!(reject_reply(b"\x00\x01garbage").is_none());
        assert!(reject_reply(b"SIP/2.0 200 OK\r\n\r\n").is_none());
    }

    #[test]
    fn missing_headers_get_400_with_the_request_identity() {
        let no_from = OPTIONS.replace("From: <sip:b@127.0.0.1>;tag=1\r\n", "");
        let (reply, why) = reject_reply(no_from.as_bytes()).unwrap();
        assert_eq!(why, "missing From header");
        assert!(reply.starts_with("SIP/2.0 400 Bad Request\r\n"));
        assert!(
            reply.contains("branch=z9hG4bKx") && reply.contains("Call-ID: abc") && reply.contains("CSeq: 1 OPTIONS")
        );
        let no_cseq = OPTIONS.replace("CSeq: 1 OPTIONS\r\n", "");
        assert_eq!(reject_reply(no_cseq.as_bytes()).unwrap().1, "missing CSeq header");
        let invite = OPTIONS.replace("OPTIONS", "INVITE");
        assert_eq!(
            reject_reply(invite.as_bytes()).unwrap().1,
            "INVITE without Contact header"
        );
    }
}
