//! SIP over TCP and TLS, checked like datagrams before the stack sees it: on the
//! connections we accept and on the TLS connections we dial.
//!
//! rsipstack reads a stream connection itself and drops it without an answer at the
//! first message it cannot parse; its lenient parser would also accept what the UDP
//! guard refuses. So a connection's bytes (after TLS, for TLS) are read here:
//! [`Framer`] cuts them into messages, each gets [`first_look`] as a datagram does, and
//! what passes is written into a loopback TCP pair whose inner end the stack reads as
//! the connection, under the real peer's address. The stack's answers flow back the
//! same way. A refused message gets its answer and the connection goes on; when
//! framing is lost the message gets a 400 where its head allows and the connection
//! closes.

use crate::call::guard::{first_look, FirstLook};
use crate::call::sip_check::stream::{Frame, Framer, Lost, MAX_MESSAGE};
use rsipstack::sip::Transport;
use rsipstack::transport::stream::StreamConnectionInner;
use rsipstack::transport::tcp::TcpConnection;
use rsipstack::transport::{SipAddr, SipConnection, TransportLayer};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// After the peer stops sending, how long its answers may still flow back.
const LINGER: Duration = Duration::from_secs(1);

/// Hands the connection `outer` with `remote` (plain TCP, or TLS already handshaken,
/// as `kind` says; accepted or dialed) to `transport` behind the checks.
pub(super) async fn serve<S>(
    outer: S,
    remote: SocketAddr,
    local: SipAddr,
    kind: Transport,
    transport: &TransportLayer,
    cancel: CancellationToken,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (ours, theirs) = loopback_pair().await?;
    let (read_half, write_half) = tokio::io::split(theirs);
    let peer = SipAddr::new(kind, remote.into());
    let cancel_flow = cancel.clone();
    let connection = TcpConnection {
        inner: Arc::new(StreamConnectionInner::new(local, peer, read_half, write_half)),
        cancel_token: Some(cancel),
    };
    transport.add_connection(SipConnection::Tcp(connection));
    tokio::spawn(pump(outer, ours, remote, cancel_flow));
    Ok(())
}

/// Two connected TCP streams on 127.0.0.1, checked to be each other's ends.
async fn loopback_pair() -> std::io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let ours = TcpStream::connect(listener.local_addr()?).await?;
    let expected = ours.local_addr()?;
    let accept = async {
        loop {
            let (theirs, from) = listener.accept().await?;
            // Another local process may have raced to the port: not ours, dropped.
            if from == expected {
                return Ok::<_, std::io::Error>(theirs);
            }
        }
    };
    let theirs = tokio::time::timeout(Duration::from_secs(2), accept)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "loopback pair"))??;
    let _ = ours.set_nodelay(true);
    let _ = theirs.set_nodelay(true);
    Ok((ours, theirs))
}

type Shared<W> = Arc<tokio::sync::Mutex<W>>;

/// Moves checked messages in and answers out until either side ends. `flow` is the
/// connection's token: cancelled as soon as the peer stops sending, so that no new
/// request is sent on it (a request of ours then opens a new connection) while the
/// answers already on their way may still go out.
async fn pump<S>(outer: S, inner: TcpStream, remote: SocketAddr, flow: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (outer_read, outer_write) = tokio::io::split(outer);
    let outer_write: Shared<_> = Arc::new(tokio::sync::Mutex::new(outer_write));
    let (inner_read, inner_write) = inner.into_split();
    let answers = tokio::spawn(answers_out(inner_read, outer_write.clone()));
    tokio::select! {
        _ = requests_in(outer_read, inner_write, outer_write.clone(), remote, flow) => {}
        // The stack closed the connection: nothing more is read from the peer.
        _ = answers => {}
    }
    debug!(%remote, "SIP stream connection ended");
}

/// The stack's messages to the peer.
async fn answers_out<W>(mut inner_read: tokio::net::tcp::OwnedReadHalf, outer_write: Shared<W>)
where
    W: AsyncWrite + Unpin,
{
    let mut chunk = vec![0u8; 16 * 1024];
    while let Ok(n) = inner_read.read(&mut chunk).await {
        if n == 0 || outer_write.lock().await.write_all(&chunk[..n]).await.is_err() {
            break;
        }
    }
    let _ = outer_write.lock().await.shutdown().await;
}

/// The peer's messages, framed and checked, to the stack.
async fn requests_in<R, W>(
    mut outer_read: R,
    mut inner_write: tokio::net::tcp::OwnedWriteHalf,
    outer_write: Shared<W>,
    remote: SocketAddr,
    flow: CancellationToken,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut framer = Framer::default();
    let mut chunk = vec![0u8; 16 * 1024];
    let lost = 'read: loop {
        let n = match outer_read.read(&mut chunk).await {
            Ok(0) | Err(_) => break framer.finish(),
            Ok(n) => n,
        };
        framer.push(&chunk[..n]);
        loop {
            let bytes = match framer.next_frame() {
                Ok(None) => break,
                Ok(Some(Frame::Ping)) => b"\r\n\r\n".to_vec(),
                Ok(Some(Frame::Message(message))) => match first_look(&message, MAX_MESSAGE) {
                    FirstLook::Pass(bytes) => bytes,
                    FirstLook::Refuse { response, why } => {
                        warn!(%remote, problem = %why, "SIP request refused before the stack");
                        if outer_write.lock().await.write_all(response.as_bytes()).await.is_err() {
                            break 'read None;
                        }
                        continue;
                    }
                    FirstLook::Drop => continue,
                },
                Err(lost) => break 'read Some(lost),
            };
            if inner_write.write_all(&bytes).await.is_err() {
                break 'read None;
            }
        }
    };
    flow.cancel();
    match lost {
        Some(lost) => {
            refuse_and_close(&lost, &outer_write, remote).await;
            let _ = inner_write.shutdown().await;
        }
        None => {
            // The peer is done sending (or gone): its last answers may still come.
            tokio::time::sleep(LINGER).await;
            let _ = inner_write.shutdown().await;
            std::future::pending::<()>().await;
        }
    }
}

/// Framing is lost: answer the message that broke it, where its head says how, and
/// close the connection.
async fn refuse_and_close<W: AsyncWrite + Unpin>(lost: &Lost, outer_write: &Shared<W>, remote: SocketAddr) {
    warn!(%remote, problem = lost.why, "SIP stream framing lost; closing the connection");
    let mut out = outer_write.lock().await;
    if let Some(response) = lost
        .head
        .as_deref()
        .and_then(|head| crate::call::sip_check::refusal(head, 400, lost.why))
    {
        let _ = out.write_all(response.as_bytes()).await;
    }
    let _ = out.shutdown().await;
}
