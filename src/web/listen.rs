//! Accepting web connections from a LAN that is not friendly: at most
//! [`MAX_CONNECTIONS`] at once and [`MAX_PER_ADDRESS`] from one address, 10 s to say
//! anything and to finish the TLS handshake, 10 s to send a request's headers and
//! [`REQUEST_TIMEOUT`] for a whole request, its body included. When every place is
//! taken, a newcomer's address takes the oldest connection of the address holding the
//! most: a few addresses cannot lock everyone else out. The HTTPS port also answers
//! plain HTTP, with a redirect to HTTPS only.

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
/// Time for a whole request, from its headers to the answer's start (a body sent a byte
/// at a time is cut off here). An event stream's answer goes on after it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// One open connection: when it came, and how to close it.
struct Open {
    id: u64,
    evict: CancellationToken,
}

#[derive(Default)]
struct Counts {
    all: usize,
    next_id: u64,
    /// Each address's connections, oldest first.
    by_address: HashMap<IpAddr, Vec<Open>>,
}

impl Counts {
    /// Closes the oldest connection of the address holding the most, if it holds more
    /// than `from` would after its new one.
    fn evict_for(&mut self, from: IpAddr) -> bool {
        let mine = self.by_address.get(&from).map_or(0, Vec::len);
        let Some((&heaviest, held)) = self
            .by_address
            .iter()
            .filter(|(a, _)| **a != from)
            .max_by_key(|(_, open)| open.len())
        else {
            return false;
        };
        if held.len() <= mine + 1 {
            return false;
        }
        let open = self.by_address.get_mut(&heaviest).expect("found above");
        let oldest = open.remove(0);
        if open.is_empty() {
            self.by_address.remove(&heaviest);
        }
        self.all -= 1;
        oldest.evict.cancel();
        tracing::debug!(address = %heaviest, "web connection closed to make room for another address");
        true
    }
}

/// Holds one connection's place in the counts until dropped.
struct Place {
    counts: Arc<Mutex<Counts>>,
    from: IpAddr,
    id: u64,
    /// Cancelled when another address takes this place.
    evicted: CancellationToken,
}

impl Place {
    fn take(counts: &Arc<Mutex<Counts>>, from: IpAddr) -> Option<Place> {
        let mut c = counts.lock().unwrap();
        let mine = c.by_address.get(&from).map_or(0, Vec::len);
        if mine >= MAX_PER_ADDRESS {
            return None;
        }
        if c.all >= MAX_CONNECTIONS && !c.evict_for(from) {
            return None;
        }
        c.all += 1;
        c.next_id += 1;
        let id = c.next_id;
        let evicted = CancellationToken::new();
        c.by_address.entry(from).or_default().push(Open {
            id,
            evict: evicted.clone(),
        });
        Some(Place {
            counts: counts.clone(),
            from,
            id,
            evicted,
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap();
        let Some(open) = c.by_address.get_mut(&self.from) else {
            return; // evicted: already out of the counts
        };
        let Some(i) = open.iter().position(|o| o.id == self.id) else {
            return;
        };
        open.remove(i);
        if open.is_empty() {
            c.by_address.remove(&self.from);
        }
        c.all -= 1;
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
            let evicted = place.evicted.clone();
            let _place = place;
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = evicted.cancelled() => {}
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
        let answer = app.clone().oneshot(request.map(axum::body::Body::new));
        async move {
            match tokio::time::timeout(REQUEST_TIMEOUT, answer).await {
                Ok(answered) => answered,
                Err(_) => {
                    tracing::debug!(%peer, "web request took too long; closed");
                    let mut late = (StatusCode::REQUEST_TIMEOUT, "the request took too long").into_response();
                    late.headers_mut()
                        .insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
                    Ok(late)
                }
            }
        }
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
        // One each: nobody holds more than a newcomer would.
        assert!(Place::take(&counts, IpAddr::from([10, 0, 2, 1])).is_none());
    }

    #[test]
    fn a_full_house_of_few_addresses_makes_room_for_a_new_one() {
        let counts = Arc::new(Mutex::new(Counts::default()));
        let hogs: Vec<IpAddr> = (1..=4).map(|i| IpAddr::from([10, 0, 0, i])).collect();
        let held: Vec<Place> = hogs
            .iter()
            .flat_map(|a| {
                (0..MAX_PER_ADDRESS)
                    .map(|_| Place::take(&counts, *a).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(counts.lock().unwrap().all, MAX_CONNECTIONS);
        let newcomer = Place::take(&counts, IpAddr::from([10, 0, 9, 9])).expect("room made");
        let evicted: Vec<&Place> = held.iter().filter(|p| p.evicted.is_cancelled()).collect();
        assert_eq!(evicted.len(), 1, "one hog connection closed");
        assert_eq!(counts.lock().unwrap().all, MAX_CONNECTIONS);
        drop(held);
        drop(newcomer);
        let c = counts.lock().unwrap();
        assert_eq!((c.all, c.by_address.len()), (0, 0), "every place given back once");
    }
}
