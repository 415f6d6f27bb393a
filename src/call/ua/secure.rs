//! SIP over TLS: our listener (through the TCP guard, with client certificates
//! remembered per connection) and our own dialing, which checks the server's
//! certificate against the contact's pin before rsipstack may use the connection. Both
//! kinds of connection reach the stack through [`super::stream_relay`]'s checks.
//!
//! rsipstack would dial TLS itself with a CA check, which a LAN of self-signed stations
//! cannot pass; so every request we originate towards a TLS peer is preceded by
//! [`UserAgent::ensure_tls`], which reuses a live connection we dialed with the same pin
//! or dials a new one and adds it to the transport layer (newest wins there).

use super::{tcp_guard, UaError, UserAgent};
use crate::security::identity::{Fingerprint, Identity};
use rsipstack::transport::{SipAddr, TransportLayer};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// What a station needs to speak TLS.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// Our key and certificate.
    pub identity: Identity,
    /// TCP port for SIP over TLS (0: any free one).
    pub port: u16,
}

/// Why a TLS connection to a peer could not be made.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum TlsDialError {
    /// The peer presented another certificate than the pinned one.
    #[error("it presented another certificate ({presented}) than the one paired with ({expected})")]
    WrongCertificate {
        /// The pin.
        expected: Fingerprint,
        /// What the peer showed.
        presented: Fingerprint,
    },
    /// No TLS connection could be made (nothing listening, a handshake failure, a timeout).
    #[error("no secure connection to {addr}: {why}")]
    Unreachable {
        /// Where we dialed.
        addr: SocketAddr,
        /// Why it failed.
        why: String,
    },
    /// This station has no TLS (no identity).
    #[error("this station has no certificate to call securely with")]
    NoIdentity,
}

pub(super) struct Dialed {
    token: CancellationToken,
    fingerprint: Fingerprint,
}

/// Connections we dialed, by the peer's address.
#[derive(Default)]
pub(super) struct DialedLinks(Mutex<HashMap<SocketAddr, Dialed>>);

impl UserAgent {
    /// Our SIP URI for TLS (`;transport=tls` on the TLS port), if we speak TLS.
    pub fn tls_uri(&self) -> Option<String> {
        let port = self.inner.tls_port?;
        let s = &self.inner.settings;
        Some(format!("sip:{}@{}:{};transport=tls", s.user, self.advertise(), port))
    }

    /// The TLS port we listen on.
    pub fn tls_port(&self) -> Option<u16> {
        self.inner.tls_port
    }

    /// The certificate presented by the peer at `remote` on a TLS connection: one it
    /// opened to us, or one we dialed.
    pub(super) fn presented(&self, remote: SocketAddr) -> Option<Fingerprint> {
        if let Some(f) = self.inner.tls_guard.presented(remote) {
            return Some(f);
        }
        let dialed = self.inner.dialed.0.lock().unwrap();
        dialed
            .get(&remote)
            .filter(|d| !d.token.is_cancelled())
            .map(|d| d.fingerprint)
    }

    /// Makes sure a TLS connection to `addr` exists whose server holds `pin` (any
    /// certificate when `pin` is none, as pairing needs); returns the certificate it
    /// presented.
    pub async fn ensure_tls(&self, addr: SocketAddr, pin: Option<Fingerprint>) -> Result<Fingerprint, TlsDialError> {
        {
            let dialed = self.inner.dialed.0.lock().unwrap();
            if let Some(d) = dialed.get(&addr) {
                if !d.token.is_cancelled() && pin.is_none_or(|p| p == d.fingerprint) {
                    return Ok(d.fingerprint);
                }
            }
        }
        let identity = self
            .inner
            .settings
            .tls
            .as_ref()
            .ok_or(TlsDialError::NoIdentity)?
            .identity
            .clone();
        let unreachable = |why: String| TlsDialError::Unreachable { addr, why };
        let (config, seen) =
            crate::security::tls::client_config(&identity, pin).map_err(|e| unreachable(e.to_string()))?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let timeout = self.inner.settings.setup_timeout.max(Duration::from_secs(2));
        let tcp = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| unreachable("no answer".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let name = rustls::pki_types::ServerName::try_from("doorway.local").expect("a valid name");
        let tls = match tokio::time::timeout(timeout, connector.connect(name, tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                return Err(match (pin, seen.get()) {
                    (Some(expected), Some(presented)) if expected != presented => {
                        warn!(%addr, %expected, %presented, "refused a TLS peer: another certificate than the pinned one");
                        TlsDialError::WrongCertificate { expected, presented }
                    }
                    _ => unreachable(e.to_string()),
                });
            }
            Err(_) => return Err(unreachable("the TLS handshake took too long".into())),
        };
        let fingerprint = seen.get().ok_or_else(|| unreachable("no certificate".into()))?;
        let suite = crate::security::tls::suite_name(tls.get_ref().1.negotiated_cipher_suite());
        let token = self.inner.cancel.child_token();
        // What the peer sends back on it (answers, and its requests in our dialogs) is
        // framed and checked as on the connections we accept: a pin proves who the peer
        // is, not that its messages are sound, and pairing dials with no pin at all.
        let local = tls.get_ref().0.local_addr().map_err(|e| unreachable(e.to_string()))?;
        let tls_kind = rsipstack::sip::Transport::Tls;
        super::stream_relay::serve(
            tls,
            addr,
            SipAddr::new(tls_kind, local.into()),
            tls_kind,
            &self.inner.transport,
            token.clone(),
        )
        .await
        .map_err(|e| unreachable(e.to_string()))?;
        info!(%addr, certificate = %fingerprint.short_code(), %suite, "TLS connection");
        let mut dialed = self.inner.dialed.0.lock().unwrap();
        // Bounded: connections that are gone are dropped here.
        dialed.retain(|_, d| !d.token.is_cancelled());
        if let Some(old) = dialed.insert(addr, Dialed { token, fingerprint }) {
            debug!(%addr, "replaced an older TLS connection");
            old.token.cancel();
        }
        Ok(fingerprint)
    }

    /// Before an in-dialog request of `call`: the TLS connection to its peer, when the
    /// call is secure.
    pub(super) async fn ensure_call_link(&self, call: &str) -> Result<(), UaError> {
        let target = self.inner.secure_calls.lock().unwrap().get(call).copied();
        if let Some((addr, pin)) = target {
            self.ensure_tls(addr, Some(pin)).await?;
        }
        Ok(())
    }
}

/// Listens for SIP over TLS on the listen address's `tls.port`, through the guard.
pub(super) async fn start_tls(
    tls: &TlsSettings,
    transport: &TransportLayer,
    guard: &tcp_guard::TcpGuard,
    local: SocketAddr,
    external: SocketAddr,
    cancel: &CancellationToken,
) -> Result<u16, UaError> {
    let addr = SocketAddr::new(local.ip(), tls.port);
    let failed = |why: String| UaError::Listen {
        addr,
        source: Box::new(rsipstack::Error::Error(why)),
    };
    let server = crate::security::tls::server_config(&tls.identity).map_err(|e| failed(e.to_string()))?;
    // Port 0: find a free one first, so the advertised address can name it.
    let port = if tls.port == 0 {
        std::net::TcpListener::bind(addr)
            .and_then(|l| l.local_addr())
            .map_err(|e| failed(e.to_string()))?
            .port()
    } else {
        tls.port
    };
    let bind = SocketAddr::new(local.ip(), port);
    let advertised = SocketAddr::new(external.ip(), port);
    guard
        .listen(
            bind,
            SipAddr::new(rsipstack::sip::Transport::Tls, advertised.into()),
            TransportLayer {
                outbound: transport.outbound.clone(),
                inner: transport.inner.clone(),
            },
            cancel.child_token(),
            Some(tcp_guard::TlsAccept {
                acceptor: tokio_rustls::TlsAcceptor::from(server),
            }),
        )
        .await
        .map_err(|e| UaError::Listen {
            addr: bind,
            source: Box::new(e.into()),
        })?;
    // As for TCP: rsipstack needs a TLS listener of its own to write our TLS address in
    // Via headers; it gets one on loopback, advertising the real address.
    let loopback = SocketAddr::new(
        if local.is_ipv4() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
        },
        0,
    );
    let config = rsipstack::transport::tls::TlsConfig {
        cert: Some(tls.identity.cert_pem.clone().into_bytes()),
        key: Some(tls.identity.key_pem().as_bytes().to_vec()),
        ..Default::default()
    };
    let listener = rsipstack::transport::tls::TlsListenerConnection::new(loopback, Some(advertised), config)
        .await
        .map_err(|e| failed(e.to_string()))?;
    transport.add_transport(listener.into());
    Ok(port)
}
