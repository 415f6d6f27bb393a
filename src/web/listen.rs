//! Accepting web connections from a LAN that is not friendly: at most
//! [`MAX_CONNECTIONS`] at once and [`MAX_PER_ADDRESS`] from one address, 10 s to say
//! anything and to finish the TLS handshake, 10 s to send a request's headers. The HTTPS
//! port also answers plain HTTP, with a redirect to HTTPS only.

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Connections open at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Connections open at once from one address (a browser opens about six).
pub const MAX_PER_ADDRESS: usize = 16;
/// Time to send the first byte, to finish the TLS handshake, and to send headers.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

#[derive(Default)]
struct Counts {
    all: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Holds one connection's place in the counts until dropped.
struct Place {
    counts: Arc<Mutex<Counts>>,
    from: IpAddr,
}

impl Place {
    fn take(counts: &Arc<Mutex<Counts>>, from: IpAddr) -> Option<Place> {
        let mut c = counts.lock().unwrap();
        let mine = c.by_address.get(&from).copied().unwrap_or(0);
        if c.all >= MAX_CONNECTIONS || mine >= MAX_PER_ADDRESS {
            return None;
        }
        c.all += 1;
        *c.by_address.entry(from).or_default() += 1;
        Some(Place {
            counts: counts.clone(),
            from,
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap();
        c.all -= 1;
        if let Some(n) = c.by_address.get_mut(&self.from) {
            *n -= 1;
            if *n == 0 {
                c.by_address.remove(&self.from);
            }
        }
    }
}

/// Accepts connections until `stop`: TLS ones go to `app`, plain ones to `plain`.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    plain: Router,
    stop: CancellationToken,
) {
    let counts = Arc::new(Mutex::new(Counts::default()));
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "web accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Some(place) = Place::take(&counts, peer.ip()) else {
            tracing::debug!(%peer, "web connection refused: too many open");
            continue;
        };
        let (acceptor, app, plain, stop) = (acceptor.clone(), app.clone(), plain.clone(), stop.clone());
        tokio::spawn(async move {
            let _place = place;
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = connection(stream, peer, acceptor, app, plain) => {}
            }
        });
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    plain: Router,
) {
    let _ = stream.set_nodelay(true);
    let mut first = [0u8; 1];
    let is_tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await {
        Ok(Ok(1)) => first[0] == TLS_HANDSHAKE,
        _ => return,
    };
    match acceptor {
        Some(acceptor) if is_tls => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => http(tls, peer, app).await,
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "web TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "web TLS handshake timed out"),
        },
        _ => http(stream, peer, plain).await,
    }
}

async fn http<S>(stream: S, peer: SocketAddr, app: Router)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request.map(axum::body::Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT)
        .max_buf_size(64 * 1024);
    if let Err(e) = builder.serve_connection(TokioIo::new(stream), service).await {
        tracing::debug!(%peer, error = %e, "web connection ended");
    }
}

/// Answers every plain HTTP request with a redirect to the same path over HTTPS.
pub fn redirect_router(https_port: u16) -> Router {
    Router::new().fallback(move |headers: HeaderMap, uri: Uri| async move { redirect(&headers, &uri, https_port) })
}

fn redirect(headers: &HeaderMap, uri: &Uri, https_port: u16) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(host_only)
        .unwrap_or("localhost");
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = format!("https://{host}{port}{path}");
    (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, location)]).into_response()
}

/// The host part of a Host header, if it is a plain name or address (a stranger's Host
/// must not put anything else into our Location header).
fn host_only(host: &str) -> Option<&str> {
    let name = if host.starts_with('[') {
        &host[..=host.find(']')?]
    } else {
        host.split(':').next()?
    };
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':');
    (!name.is_empty() && name.len() <= 253 && name.chars().all(fine)).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_the_host_and_path_and_drop_odd_hosts() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "front-door.local:80".parse().unwrap());
        let uri: Uri = "/visitors?x=1".parse().unwrap();
        let r = redirect(&headers, &uri, 443);
        assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(r.headers()[header::LOCATION], "https://front-door.local/visitors?x=1");
        let r = redirect(&headers, &uri, 8443);
        assert_eq!(
            r.headers()[header::LOCATION],
            "https://front-door.local:8443/visitors?x=1"
        );
        headers.insert(header::HOST, "evil.example/@x".parse().unwrap());
        assert_eq!(
            redirect(&headers, &uri, 443).headers()[header::LOCATION],
            "https://localhost/visitors?x=1"
        );
        headers.insert(header::HOST, "[fe80::1]:80".parse().unwrap());
        assert_eq!(
            redirect(&headers, &uri, 443).headers()[header::LOCATION],
            "https://[fe80::1]/visitors?x=1"
        );
    }

    #[test]
    fn places_are_capped_per_address_and_in_all() {
        let counts = Arc::new(Mutex::new(Counts::default()));
        let a = IpAddr::from([10, 0, 0, 1]);
        let held: Vec<_> = (0..MAX_PER_ADDRESS).map(|_| Place::take(&counts, a).unwrap()).collect();
        assert!(Place::take(&counts, a).is_none());
        drop(held);
        assert!(Place::take(&counts, a).is_some());
        let many: Vec<_> = (0..MAX_CONNECTIONS)
            .filter_map(|i| Place::take(&counts, IpAddr::from([10, 0, 1, i as u8])))
            .collect();
        assert_eq!(many.len(), MAX_CONNECTIONS);
        assert!(Place::take(&counts, IpAddr::from([10, 0, 2, 1])).is_none());
    }
}
