//! A TLS connection the station dials is checked like one it accepts. Pairing dials a
//! contact's TLS port with no pin, so whoever listens there may answer: here a stranger
//! does, and sends RFC 4475's invalid requests back over the connection Door opened.
//! Each gets its 400 as it would over UDP; the one whose framing is lost (a negative
//! Content-Length) also ends the connection; and Door goes on answering.

use super::sip_torture::aimed_at;
use crate::common::stranger::Stranger;
use crate::common::*;
use doorway::api::command::PairingCommand;
use doorway::api::loopback::{contact, free_sip_port, loopback_config};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Reads what arrives within `wait`, or until `enough` says it is enough.
async fn read_for<R: AsyncReadExt + Unpin>(
    read: &mut R,
    wait: Duration,
    enough: impl Fn(&str) -> bool,
) -> (String, bool) {
    let deadline = tokio::time::Instant::now() + wait;
    let (mut got, mut chunk) = (Vec::new(), vec![0u8; 8192]);
    loop {
        match tokio::time::timeout_at(deadline, read.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into(), true),
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), false),
        }
        let text = String::from_utf8_lossy(&got).to_string();
        if enough(&text) {
            return (text, false);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialed_tls_peer_gets_the_same_checks_as_an_accepted_one() {
    let _serial = SERIAL.lock().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stranger_port = listener.local_addr().unwrap().port();
    let pa = free_sip_port();
    let mut hall = contact("Hall", free_sip_port());
    hall.tls_port = Some(stranger_port);
    let door = Station::start(loopback_config("Door", pa, vec![hall])).await;

    let identity = doorway::security::identity::Identity::ephemeral("Stranger").unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(doorway::security::tls::server_config(&identity).unwrap());
    // Door starts pairing with "Hall", and so dials the stranger.
    let started = door.handle.pairing(|tx| PairingCommand::Start("Hall".into(), tx));
    let (started, accepted) = tokio::join!(started, async {
        let (tcp, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
            .await
            .expect("Door dials the contact's TLS port")
            .unwrap();
        acceptor.accept(tcp).await.expect("Door completes the handshake")
    });
    started.unwrap().unwrap();
    let mut tls = accepted;
    let (first, _) = read_for(&mut tls, Duration::from_secs(10), |t| t.contains("\r\n\r\n")).await;
    assert!(first.starts_with("MESSAGE "), "Door's pairing request: {first:?}");

    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc4475");
    let mut report = Vec::new();
    // The first two leave the framing whole: the connection goes on after each 400.
    for (tag, closes) in [("mismatch01", false), ("scalar02", false), ("ncl", true)] {
        let message = std::fs::read(data.join(format!("{tag}.dat"))).unwrap();
        tls.write_all(&aimed_at(&message, stranger_port, "TLS")).await.unwrap();
        let (answer, ended) = read_for(&mut tls, Duration::from_secs(5), |t| t.contains("SIP/2.0 400")).await;
        let status = answer.lines().find(|l| l.starts_with("SIP/2.0 ")).map(str::to_string);
        report.push(format!("{tag}: {status:?}, connection ended: {ended}"));
        assert!(
            status.as_deref().is_some_and(|s| s.starts_with("SIP/2.0 400")),
            "{}",
            report.join("\n")
        );
        if closes {
            let (_, ended) = read_for(&mut tls, Duration::from_secs(5), |_| false).await;
            assert!(
                ended,
                "framing was lost but Door kept the connection: {}",
                report.join("\n")
            );
        }
    }
    println!("{}", report.join("\n"));

    // Door is unharmed: it answers a stranger's OPTIONS and its own status.
    let probe = Stranger::new(pa);
    probe.send(
        probe
            .request("OPTIONS", "sip:door@127.0.0.1", "after-dialed", 1, None)
            .as_bytes(),
    );
    let answered = tokio::task::spawn_blocking(move || probe.final_status(Duration::from_secs(2)))
        .await
        .unwrap();
    assert!(
        answered.as_deref().is_some_and(|s| s.contains(" 200 ")),
        "OPTIONS afterwards: {answered:?}"
    );
    let status = tokio::time::timeout(Duration::from_secs(5), door.status()).await;
    assert!(status.is_ok(), "Door no longer answers");
    door.stop().await;
}
