//! SIP over TCP, bounded: our own accept loop in front of rsipstack's stream connections.
//!
//! rsipstack reads each connection until it goes quiet at the byte level, with two 64 kB
//! buffers each; a stranger could hold thousands open by sending a byte now and then.
//! Here every inbound connection:
//! - counts against a cap (in all and per source address); over it, it is closed at once;
//! - must deliver a complete request within [`HEADER_TIMEOUT`] of opening, and then one
//!   at least every [`IDLE_TIMEOUT`] (a peer that needs the connection later opens a new
//!   one, as RFC 3261 section 18 allows);
//! - is shut down (both directions) when it breaks a rule, through a duplicate of its
//!   socket, which ends rsipstack's read loop whatever the peer does.
//!
//! Each message on it is framed and checked before the stack reads it (see
//! [`super::stream_relay`]).
//!
//! Freed buffers go back to the system (malloc_trim) once connections close, so a flood
//! leaves no lasting footprint.

use crate::security::identity::Fingerprint;
use rsipstack::sip::Transport;
use rsipstack::transport::{SipAddr, TransportLayer};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Inbound connections at once, from everyone.
pub const MAX_CONNECTIONS: usize = 64;
/// Inbound connections at once from one address.
pub const MAX_PER_ADDRESS: usize = 8;
/// Time from opening to the first complete request.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time between complete requests before the connection is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

struct Tracked {
    socket: OwnedFd,
    opened: Instant,
    last_request: Option<Instant>,
    closing: bool,
    /// The certificate a TLS client presented.
    presented: Option<Fingerprint>,
}

impl Tracked {
    fn new(socket: OwnedFd) -> Self {
        Self {
            socket,
            opened: Instant::now(),
            last_request: None,
            closing: false,
            presented: None,
        }
    }
}

/// Inbound connections are TLS: each is handshaken (within [`HEADER_TIMEOUT`]) before
/// rsipstack sees it, and the client's certificate is remembered for the requests it
/// sends.
#[derive(Clone)]
pub struct TlsAccept {
    /// Our server side.
    pub acceptor: tokio_rustls::TlsAcceptor,
}

/// The table of inbound TCP connections; [`TcpGuard::saw_request`] is told of each
/// request that arrives on one.
#[derive(Clone, Default)]
pub struct TcpGuard {
    connections: Arc<Mutex<HashMap<SocketAddr, Tracked>>>,
}

/// What the rules say about one connection at `now`.
fn verdict(t: &Tracked, now: Instant) -> Option<&'static str> {
    match t.last_request {
        None if now.duration_since(t.opened) > HEADER_TIMEOUT => Some("no complete request in time"),
        Some(last) if now.duration_since(last) > IDLE_TIMEOUT => Some("idle"),
        _ => None,
    }
}

impl TcpGuard {
    /// Binds `local` and serves inbound TCP into `transport` until `cancel`.
    pub async fn listen(
        &self,
        local: SocketAddr,
        advertised: SipAddr,
        transport: TransportLayer,
        cancel: CancellationToken,
        tls: Option<TlsAccept>,
    ) -> std::io::Result<()> {
        let socket = if local.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(local)?;
        let listener = socket.listen(128)?;
        // Shared with the handshake tasks: the layer is cancelled when its last copy goes.
        let transport = Arc::new(transport);
        let guard = self.clone();
        let cancel_accept = cancel.clone();
        tokio::spawn(async move {
            let cancel = cancel_accept;
            loop {
                let accepted = tokio::select! {
                    _ = cancel.cancelled() => break,
                    a = listener.accept() => a,
                };
                match accepted {
                    Ok((stream, remote)) => guard.admit(stream, remote, &advertised, &transport, &cancel, tls.as_ref()),
                    Err(e) => {
                        // Out of file descriptors, most likely: wait rather than spin.
                        warn!(error = %e, "cannot accept a TCP connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        let guard = self.clone();
        let cancel_watch = cancel.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = cancel_watch.cancelled() => break,
                    _ = tick.tick() => guard.sweep(Instant::now()),
                }
            }
        });
        Ok(())
    }

    fn admit(
        &self,
        stream: tokio::net::TcpStream,
        remote: SocketAddr,
        local: &SipAddr,
        transport: &Arc<TransportLayer>,
        cancel: &CancellationToken,
        tls: Option<&TlsAccept>,
    ) {
        let mut table = self.connections.lock().unwrap();
        let from_there = table.keys().filter(|a| a.ip() == remote.ip()).count();
        if table.len() >= MAX_CONNECTIONS || from_there >= MAX_PER_ADDRESS {
            warn!(%remote, open = table.len(), from_there, "too many SIP TCP connections; refusing one");
            return;
        }
        let Ok(socket) = stream.as_fd().try_clone_to_owned() else {
            warn!(%remote, "cannot watch a TCP connection; refusing it");
            return;
        };
        let _ = stream.set_nodelay(true);
        table.insert(remote, Tracked::new(socket));
        drop(table);
        if let Some(tls) = tls {
            let (guard, acceptor) = (self.clone(), tls.acceptor.clone());
            let (local, transport, cancel) = (local.clone(), transport.clone(), cancel.child_token());
            tokio::spawn(async move {
                guard
                    .handshake(stream, remote, local, &transport, cancel, acceptor)
                    .await;
            });
            return;
        }
        let (guard, local, transport, cancel) = (self.clone(), local.clone(), transport.clone(), cancel.child_token());
        tokio::spawn(async move {
            match super::stream_relay::serve(stream, remote, local, Transport::Tcp, &transport, cancel).await {
                Ok(()) => debug!(%remote, "SIP TCP connection"),
                Err(e) => {
                    debug!(%remote, error = %e, "TCP connection failed at once");
                    guard.forget(remote);
                }
            }
        });
    }

    /// Completes the TLS handshake of an admitted connection and hands it to rsipstack;
    /// a handshake that fails or takes too long closes it.
    async fn handshake(
        &self,
        stream: tokio::net::TcpStream,
        remote: SocketAddr,
        local: SipAddr,
        transport: &TransportLayer,
        cancel: CancellationToken,
        acceptor: tokio_rustls::TlsAcceptor,
    ) {
        let tls = match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                debug!(%remote, error = %e, "TLS handshake failed");
                self.forget(remote);
                return;
            }
            Err(_) => {
                debug!(%remote, "TLS handshake took too long");
                self.forget(remote);
                return;
            }
        };
        let presented = crate::security::tls::peer_fingerprint(tls.get_ref().1.peer_certificates());
        if let Some(t) = self.connections.lock().unwrap().get_mut(&remote) {
            t.presented = presented;
        }
        match super::stream_relay::serve(tls, remote, local, Transport::Tls, transport, cancel).await {
            Ok(()) => debug!(%remote, certificate = ?presented, "SIP TLS connection"),
            Err(e) => {
                debug!(%remote, error = %e, "TLS connection failed at once");
                self.forget(remote);
            }
        }
    }

    fn forget(&self, remote: SocketAddr) {
        self.connections.lock().unwrap().remove(&remote);
    }

    /// The certificate the client at `remote` presented, if it is an inbound TLS
    /// connection that presented one.
    pub fn presented(&self, remote: SocketAddr) -> Option<Fingerprint> {
        self.connections.lock().unwrap().get(&remote).and_then(|t| t.presented)
    }

    /// A request arrived from `remote` (any transport; only tracked TCP peers count).
    pub fn saw_request(&self, remote: SocketAddr) {
        if let Some(t) = self.connections.lock().unwrap().get_mut(&remote) {
            t.last_request = Some(Instant::now());
        }
    }

    /// Inbound connections open now.
    pub fn open_connections(&self) -> usize {
        self.connections.lock().unwrap().len()
    }

    /// Closes connections that broke a rule, forgets those that are gone.
    fn sweep(&self, now: Instant) {
        let mut table = self.connections.lock().unwrap();
        let before = table.len();
        table.retain(|remote, t| {
            if t.closing || peer_gone(&t.socket) {
                // Ours is the last reference once rsipstack has let go: dropping it frees
                // the socket.
                return false;
            }
            if let Some(why) = verdict(t, now) {
                info!(%remote, why, "closing a SIP TCP connection");
                shut_down(&t.socket);
                t.closing = true;
            }
            true
        });
        if table.len() < before {
            drop(table);
            crate::base::heap::return_freed();
        }
    }
}

/// Whether the connection is over: the peer closed it, or it failed.
fn peer_gone(socket: &OwnedFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd for a socket we own, no wait.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n > 0 && pfd.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

/// Shuts both directions of the socket: rsipstack's pending read returns at once.
fn shut_down(socket: &OwnedFd) {
    // SAFETY: shutdown on a socket descriptor we own; errors (already closed) are moot.
    unsafe {
        libc::shutdown(socket.as_raw_fd(), libc::SHUT_RDWR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked(opened: Instant, last_request: Option<Instant>) -> Tracked {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        Tracked {
            socket: a.into(),
            opened,
            last_request,
            closing: false,
            presented: None,
        }
    }

    #[test]
    fn a_connection_must_send_a_request_soon_and_then_keep_sending() {
        let t0 = Instant::now();
        let fresh = tracked(t0, None);
        assert_eq!(verdict(&fresh, t0 + Duration::from_secs(5)), None);
        assert!(verdict(&fresh, t0 + HEADER_TIMEOUT + Duration::from_secs(1)).is_some());
        let busy = tracked(t0, Some(t0 + Duration::from_secs(30)));
        assert_eq!(verdict(&busy, t0 + Duration::from_secs(80)), None);
        assert!(verdict(
            &busy,
            t0 + Duration::from_secs(30) + IDLE_TIMEOUT + Duration::from_secs(1)
        )
        .is_some());
    }

    #[test]
    fn a_closed_peer_is_noticed() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let a: OwnedFd = a.into();
        assert!(!peer_gone(&a));
        drop(b);
        assert!(peer_gone(&a));
    }
}
