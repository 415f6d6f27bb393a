//! Peer addresses as the config writes them: a SIP URI or `host:port` to dial on the
//! LAN, and addresses of record called through a SIP server.

use std::net::SocketAddr;

/// Why a peer address could not be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PeerError {
    /// The text is neither a SIP URI nor `host:port`.
    #[error("{0:?} is not a SIP URI; write sip:user@192.168.1.20:5060 or 192.168.1.20:5060")]
    NotAUri(String),
    /// Only IP addresses can be dialed directly on a LAN without DNS.
    #[error(
        "{0:?}: the host must be an IP address, as in sip:kitchen@192.168.1.20:5060 (direct LAN dialing uses no DNS)"
    )]
    NotAnIp(String),
}

/// A dialable peer: its SIP URI as text and the address to send requests to.
#[derive(Debug, Clone, PartialEq)]
pub struct Peer {
    /// Normalised SIP URI, e.g. `sip:kitchen@192.168.1.20:5060`.
    pub uri: String,
    /// Where SIP requests go.
    pub addr: SocketAddr,
    /// Use TCP instead of UDP (`;transport=tcp`).
    pub tcp: bool,
    /// Call over TLS: the peer's TLS listener and the certificate it must hold (a pinned
    /// contact). Set by the station, not by [`parse_peer`].
    pub secure: Option<(SocketAddr, crate::base::fingerprint::Fingerprint)>,
    /// An address of record called through the station's SIP server (`addr` is the
    /// server's): the INVITE is from our address of record and answers its challenges.
    pub proxied: bool,
}

/// Parses a contact address: a SIP URI or `host:port` / `host` (port 5060).
pub fn parse_peer(text: &str) -> Result<Peer, PeerError> {
    let text = text.trim();
    let uri_text = if text.is_empty() || text.contains(char::is_whitespace) {
        return Err(PeerError::NotAUri(text.into()));
    } else if text.starts_with("sip:") {
        text.to_string()
    } else if text.contains(':') && !text.contains('@') && text.parse::<SocketAddr>().is_err() {
        return Err(PeerError::NotAUri(text.into()));
    } else {
        format!("sip:{text}")
    };
    let uri = rsipstack::sip::Uri::try_from(uri_text.as_str()).map_err(|_| PeerError::NotAUri(text.into()))?;
    let ip = match &uri.host_with_port.host {
        rsipstack::sip::Host::IpAddr(ip) => *ip,
        rsipstack::sip::Host::Domain(d) => d.to_string().parse().map_err(|_| PeerError::NotAnIp(text.into()))?,
    };
    let port = uri.host_with_port.port.as_ref().map(|p| p.value()).unwrap_or(5060);
    let tcp = uri_text.to_ascii_lowercase().contains("transport=tcp");
    Ok(Peer {
        uri: uri_text,
        addr: SocketAddr::new(ip, port),
        tcp,
        secure: None,
        proxied: false,
    })
}

/// An address of record, `sip:USER@DOMAIN` with a host name for its domain, normalised
/// (no port, no parameters, lower-case domain); `None` for anything else.
pub fn parse_aor(text: &str) -> Option<String> {
    let text = text.trim();
    let uri = rsipstack::sip::Uri::try_from(text).ok()?;
    if !text.starts_with("sip:") || !uri.params.is_empty() || !uri.headers.is_empty() {
        return None;
    }
    let user = uri.auth.as_ref().map(|a| a.user.to_string())?;
    let rsipstack::sip::Host::Domain(domain) = &uri.host_with_port.host else {
        return None;
    };
    let domain = domain.to_string().to_ascii_lowercase();
    let domain_ok = !domain.is_empty()
        && domain.parse::<std::net::IpAddr>().is_err()
        && domain.chars().all(|c| c.is_ascii_alphanumeric() || "-.".contains(c));
    (super::user_is_sane(&user) && domain_ok && uri.host_with_port.port.is_none())
        .then(|| format!("sip:{user}@{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uri_and_shorthand() {
        let p = parse_peer("sip:kitchen@127.0.0.1:5062").unwrap();
        assert_eq!(p.addr, "127.0.0.1:5062".parse().unwrap());
        assert!(!p.tcp);
        let p = parse_peer("10.0.0.7").unwrap();
        assert_eq!(p.addr, "10.0.0.7:5060".parse().unwrap());
        assert_eq!(p.uri, "sip:10.0.0.7");
        let p = parse_peer("10.0.0.7:5070").unwrap();
        assert_eq!(p.addr.port(), 5070);
        let p = parse_peer("sip:door@10.0.0.7:5070;transport=tcp").unwrap();
        assert!(p.tcp);
    }

    #[test]
    fn addresses_of_record() {
        assert_eq!(
            parse_aor(" sip:kitchen@Flat12.Example ").as_deref(),
            Some("sip:kitchen@flat12.example")
        );
        assert_eq!(parse_aor("sip:kitchen@10.0.0.2"), None);
        assert_eq!(parse_aor("sip:flat12.example"), None);
        assert_eq!(parse_aor("sip:kitchen@flat12.example:5070"), None);
        assert_eq!(parse_aor("sip:kit chen@flat12.example"), None);
        assert_eq!(parse_aor("sips:kitchen@flat12.example"), None);
    }

    #[test]
    fn rejects_garbage_and_names() {
        assert!(matches!(parse_peer("http://x"), Err(PeerError::NotAUri(_))));
        assert!(matches!(
            parse_peer("sip:door@frontdoor.lan"),
            Err(PeerError::NotAnIp(_))
        ));
    }
}
