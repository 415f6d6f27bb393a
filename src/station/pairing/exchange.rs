//! The initiator's side of pairing on the wire: two exchanges with the other station
//! over TLS ([`crate::security::pairing`] has the protocol).

use crate::api::Exchange;
use crate::security::identity::Fingerprint;
use crate::security::pairing::{self, Message};
use std::net::SocketAddr;

/// The initiator's two exchanges: `start` (learn the responder's certificate and its
/// commitment), then `nonce` (learn its nonce, check the commitment).
pub(super) async fn exchange(
    ua: &crate::call::ua::UserAgent,
    addr: SocketAddr,
    own: Fingerprint,
    start: Message,
    na: [u8; 32],
) -> Result<Exchange, String> {
    let ((status, body), peer) = ua
        .send_pairing(addr, None, start.to_body())
        .await
        .map_err(|e| e.to_string())?;
    let refused = |status: u16| match status {
        403 => "the other station does not have this one as a contact".to_string(),
        486 => "the other station is pairing with someone else".to_string(),
        s => format!("the other station answered {s}"),
    };
    if status != 200 {
        return Err(refused(status));
    }
    let Some(Message::Committed {
        tls_port, commitment, ..
    }) = body.as_deref().and_then(Message::parse)
    else {
        return Err("the other station's answer is not readable".into());
    };
    let nonce = Message::Nonce {
        nonce: pairing::to_hex(&na),
    };
    let ((status, body), again) = ua
        .send_pairing(addr, Some(peer), nonce.to_body())
        .await
        .map_err(|e| e.to_string())?;
    if status != 200 || again != peer {
        return Err(refused(status));
    }
    let Some(Message::Revealed { nonce }) = body.as_deref().and_then(Message::parse) else {
        return Err("the other station's answer is not readable".into());
    };
    let nb = pairing::parse_nonce(&nonce).ok_or("the other station's answer is not readable")?;
    if pairing::commitment(own, peer, &nb) != commitment {
        return Err("the other station broke its commitment (someone is in the middle)".into());
    }
    Ok(Exchange { peer, nb, tls_port })
}
