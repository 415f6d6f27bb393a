//! TLS for SIP between stations: rustls configurations that trust a certificate by its
//! pinned fingerprint, never by a CA.
//!
//! - As a server we ask every client for its certificate (mutual TLS) and take any that
//!   proves possession of its key in the handshake; who it is gets decided per request
//!   from its fingerprint ([`crate::call::identify`]). A client without a certificate is
//!   an unauthenticated caller, as over UDP.
//! - As a client we present our certificate and accept the server only when its
//!   fingerprint is the one pinned for the contact we dial; pairing dials with no pin
//!   and records what it saw.

use super::identity::{Fingerprint, Identity};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::sync::{Arc, Mutex};

/// The crypto provider all of doorway's TLS uses (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process's default rustls provider (rsipstack's own TLS code asks
/// for the default); harmless when one is already installed.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn algorithms() -> WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

/// Accepts any client certificate whose holder proves its key; asks every client for one.
#[derive(Debug)]
struct AnyClientCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The server side: our certificate, client certificates asked for.
pub fn server_config(identity: &Identity) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let key = identity.certified_key()?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(AnyClientCertificate {
            algorithms: algorithms(),
        }))
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(key)));
    Ok(Arc::new(config))
}

/// The web page's server side: our certificate, no client certificate asked for (a
/// browser would prompt for one), HTTP/1.1.
pub fn web_server_config(identity: &Identity) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let key = identity.certified_key()?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(key)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// What a client connection saw of the server's certificate.
#[derive(Debug, Default, Clone)]
pub struct Seen(Arc<Mutex<Option<Fingerprint>>>);

impl Seen {
    /// The fingerprint the server presented, once the handshake got that far.
    pub fn get(&self) -> Option<Fingerprint> {
        *self.0.lock().unwrap()
    }
}

/// Accepts the server whose certificate has the pinned fingerprint (any, when pairing).
#[derive(Debug)]
struct PinnedServer {
    pin: Option<Fingerprint>,
    seen: Seen,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of_der(end_entity);
        *self.seen.0.lock().unwrap() = Some(presented);
        match self.pin {
            Some(pin) if pin != presented => Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The client side for one connection: our certificate, the server checked against `pin`
/// (`None`: anyone, for pairing). What the server presented lands in the returned
/// [`Seen`].
pub fn client_config(
    identity: &Identity,
    pin: Option<Fingerprint>,
) -> Result<(Arc<rustls::ClientConfig>, Seen), rustls::Error> {
    let key = identity.certified_key()?;
    let seen = Seen::default();
    let verifier = PinnedServer {
        pin,
        seen: seen.clone(),
        algorithms: algorithms(),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(key)));
    Ok((Arc::new(config), seen))
}

/// The fingerprint of the certificate a TLS peer presented, if it presented one.
pub fn peer_fingerprint(certs: Option<&[CertificateDer<'_>]>) -> Option<Fingerprint> {
    certs.and_then(|c| c.first()).map(|c| Fingerprint::of_der(c))
}

/// A readable name for the negotiated cipher suite, e.g. `TLS13_AES_128_GCM_SHA256`.
pub fn suite_name(suite: Option<rustls::SupportedCipherSuite>) -> String {
    suite
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_else(|| "none".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn handshake(
        server: &Identity,
        client: &Identity,
        pin: Option<Fingerprint>,
    ) -> (Result<(), std::io::Error>, Seen, Option<Fingerprint>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config(server).unwrap());
        let accepting = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.ok()?;
            let seen = peer_fingerprint(tls.get_ref().1.peer_certificates());
            let mut byte = [0u8; 1];
            tls.read_exact(&mut byte).await.ok()?;
            seen
        });
        let (config, seen) = client_config(client, pin).unwrap();
        let connector = tokio_rustls::TlsConnector::from(config);
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("doorway.local").unwrap();
        let result = match connector.connect(name, tcp).await {
            Ok(mut tls) => tls.write_all(b"x").await.and(tls.flush().await),
            Err(e) => Err(e),
        };
        let server_saw = if result.is_ok() { accepting.await.unwrap() } else { None };
        (result, seen, server_saw)
    }

    #[tokio::test]
    async fn the_pinned_server_is_accepted_and_both_sides_learn_each_other() {
        install_default_provider();
        let (door, hall) = (
            Identity::ephemeral("Door").unwrap(),
            Identity::ephemeral("Hall").unwrap(),
        );
        let (result, seen, server_saw) = handshake(&hall, &door, Some(hall.fingerprint)).await;
        result.unwrap();
        assert_eq!(seen.get(), Some(hall.fingerprint));
        assert_eq!(server_saw, Some(door.fingerprint));
    }

    #[tokio::test]
    async fn another_certificate_is_refused_and_reported() {
        install_default_provider();
        let (door, hall, mallory) = (
            Identity::ephemeral("Door").unwrap(),
            Identity::ephemeral("Hall").unwrap(),
            Identity::ephemeral("Hall").unwrap(),
        );
        let (result, seen, _) = handshake(&mallory, &door, Some(hall.fingerprint)).await;
        assert!(result.is_err());
        assert_eq!(seen.get(), Some(mallory.fingerprint));
        // Pairing dials without a pin and learns who answered.
        let (result, seen, _) = handshake(&mallory, &door, None).await;
        result.unwrap();
        assert_eq!(seen.get(), Some(mallory.fingerprint));
    }
}
