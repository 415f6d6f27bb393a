//! RFC 4475's torture messages (tests/data/rfc4475/, with their index) sent to a running
//! station over UDP, TCP and TLS: the valid ones are handled (a final response; an INVITE rings),
//! the invalid ones get the status the RFC asks for and never ring, and the station
//! answers OPTIONS and places a normal call afterwards.
//!
//! Only the top Via's sent-by and transport are changed (to this test's socket and the
//! transport used), as a real client writes them; every other byte is the RFC's.

use crate::common::stranger::Stranger;
use crate::common::*;
use doorway::station::Command;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The message with its first Via's sent-by pointed at 127.0.0.1:`port`, and its
/// transport the one it is sent over (as a real client writes it).
pub(super) fn aimed_at(message: &[u8], port: u16, transport: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(message).to_string();
    let lines: Vec<&str> = text.split("\r\n").collect();
    let is_via = |l: &str| {
        let name = l.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        (name == "via" || name == "v") && !l.starts_with([' ', '\t'])
    };
    let Some(first) = lines.iter().position(|l| is_via(l)) else {
        return message.to_vec();
    };
    // The header with its folded continuation lines.
    let mut end = first + 1;
    while end < lines.len() && lines[end].starts_with([' ', '\t']) {
        end += 1;
    }
    let header = lines[first..end].join("\r\n");
    let after_colon = header.find(':').unwrap() + 1;
    let value = &header[after_colon..];
    // SIP / 2.0 / TRANSPORT, then the sent-by token.
    let slashes: Vec<usize> = value.match_indices('/').map(|(i, _)| i).collect();
    let Some(&last_slash) = slashes.get(1) else {
        return message.to_vec();
    };
    let rest = &value[last_slash + 1..];
    let transport_start = rest.len() - rest.trim_start().len();
    let transport_len = rest[transport_start..]
        .find(|c: char| c.is_whitespace())
        .unwrap_or(rest.len() - transport_start);
    let after_transport = &rest[transport_start + transport_len..];
    let host_start = after_transport.len() - after_transport.trim_start().len();
    let host_len = after_transport[host_start..]
        .find([';', ',', ' ', '\r', '\n', '\t'])
        .unwrap_or(after_transport.len() - host_start);
    let base = after_colon + last_slash + 1 + transport_start + transport_len + host_start;
    let mut new_header = header.clone();
    new_header.replace_range(base..base + host_len, &format!("127.0.0.1:{port}"));
    let transport_at = after_colon + last_slash + 1 + transport_start;
    new_header.replace_range(transport_at..transport_at + transport_len, transport);
    let mut out = lines[..first].join("\r\n");
    if first > 0 {
        out.push_str("\r\n");
    }
    out.push_str(&new_header);
    if end < lines.len() {
        out.push_str("\r\n");
        out.push_str(&lines[end..].join("\r\n"));
    }
    // Bodies may hold raw bytes: keep the original body as it was.
    let split = |b: &[u8]| b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    match (split(message), split(out.as_bytes())) {
        (Some(body_at), Some(new_body_at)) => {
            let mut bytes = out.as_bytes()[..new_body_at].to_vec();
            bytes.extend_from_slice(&message[body_at..]);
            bytes
        }
        _ => out.into_bytes(),
    }
}

/// What a door station (not a registrar, not a proxy) should answer, from the index's
/// expectation: the acceptable status codes, or none for "no response".
fn acceptable(tag: &str, method: &str, expected: &str) -> Vec<&'static str> {
    if method == "response" {
        return vec![];
    }
    match tag {
        // Valid requests a door station handles: any final answer, but an answer.
        "esc01" | "longreq" | "baddate" => vec!["ring"],
        // Its To has a tag: a dialog this station does not have (RFC 3261 12.2.2).
        "wsinv" => vec!["481"],
        // RFC 2543 style: no Contact, which RFC 3261 8.1.1.8 requires of an INVITE and
        // without which the station could not reach the caller to end the call.
        "inv2543" => vec!["400"],
        "lwsdisp" | "semiuri" | "transports" | "zeromf" | "trws" | "lwsstart" | "badbranch" => {
            vec!["200", "404", "400"]
        }
        "intmeth" | "esc02" | "mismatch02" => vec!["501", "405"],
        "escnull" | "dblreq" | "unksm2" | "regaut01" | "cparam01" | "cparam02" | "regescrt" | "regbadct"
        | "scalar02" => vec!["405", "400"],
        "mpart01" => vec!["405", "501", "415"],
        "badvers" => vec!["505"],
        "bext01" => vec!["420"],
        "unkscm" => vec!["416"],
        "novelsc" => vec!["416", "404"],
        "invut" => vec!["415"],
        "sdp01" => vec!["406", "400"],
        // The message ends without the blank line: unfinished, may go unanswered.
        "baddn" => vec!["400", "none"],
        _ if expected.starts_with("400") => vec!["400"],
        _ => vec!["any"],
    }
}

/// How a torture message reaches the station.
#[derive(Clone, Copy, Debug)]
enum Over {
    Udp,
    Tcp,
    Tls,
}

/// The first final status in what a stream carried back, if any.
fn first_final_status(bytes: &[u8]) -> Option<String> {
    String::from_utf8_lossy(bytes)
        .split("\r\n")
        .filter(|l| l.starts_with("SIP/2.0 "))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .find(|code| !code.starts_with('1'))
}

/// Writes `message` on `stream`, half-closes it (a message cut short by the RFC is then
/// known to end there), and reads for `wait` or until a final status arrives.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, message: &[u8], wait: Duration) -> Option<String> {
    stream.write_all(message).await.ok()?;
    let _ = stream.shutdown().await;
    let deadline = tokio::time::Instant::now() + wait;
    let (mut got, mut chunk) = (Vec::new(), vec![0u8; 8192]);
    while first_final_status(&got).is_none() {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    first_final_status(&got)
}

/// Sends one message over `over`, on a socket or connection of its own (answers to one,
/// such as retransmitted 603s, cannot pass for answers to the next), and returns the
/// final status the station answered within 700 ms.
async fn final_status(over: Over, message: &[u8], sip_port: u16, tls_port: u16) -> Option<String> {
    let wait = Duration::from_millis(700);
    match over {
        Over::Udp => {
            let tester = Stranger::new(sip_port);
            tester.send(&aimed_at(message, tester.port, "UDP"));
            let status = tokio::task::spawn_blocking(move || tester.final_status(wait))
                .await
                .unwrap();
            status.map(|s| s.split_whitespace().nth(1).unwrap_or("?").to_string())
        }
        Over::Tcp => {
            let tcp = TcpStream::connect(("127.0.0.1", sip_port)).await.unwrap();
            let aimed = aimed_at(message, tcp.local_addr().unwrap().port(), "TCP");
            exchange(tcp, &aimed, wait).await
        }
        Over::Tls => {
            let tcp = TcpStream::connect(("127.0.0.1", tls_port)).await.unwrap();
            let aimed = aimed_at(message, tcp.local_addr().unwrap().port(), "TLS");
            let me = doorway::security::identity::Identity::ephemeral("Tester").unwrap();
            let (config, _) = doorway::security::tls::client_config(&me, None).unwrap();
            let name = rustls::pki_types::ServerName::try_from("doorway.local").unwrap();
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .unwrap();
            exchange(tls, &aimed, wait).await
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc4475_torture_messages_over_udp_tcp_and_tls() {
    let _serial = SERIAL.lock().await;
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc4475");
    let index = std::fs::read_to_string(data.join("index.tsv")).unwrap();
    let mut report = Vec::new();
    // A station per transport: the same message sent again over another transport
    // would be a retransmission of the first (same branch) to the same station.
    for over in [Over::Udp, Over::Tcp, Over::Tls] {
        let pb = doorway::api::loopback::free_sip_port();
        let mut config = doorway::api::loopback::loopback_config("Hall", pb, vec![]);
        // Anyone may ring: a valid INVITE must ring, an invalid one must not.
        config.station.allow_unknown_callers = true;
        let tls_port = config.security.tls_port;
        let b = Station::start(config).await;
        for line in index.lines().filter(|l| !l.trim().is_empty()) {
            let fields: Vec<&str> = line.split('\t').collect();
            let (tag, method, expected) = (fields[0], fields[3], fields[4]);
            let message = std::fs::read(data.join(format!("{tag}.dat"))).unwrap();
            // Connections linger a moment after the peer is done; stay under the
            // station's cap per address.
            let room = doorway::call::ua::tcp_guard::MAX_PER_ADDRESS - 2;
            b.wait(10, |s| s.sip.tcp_connections < room).await;
            let status = final_status(over, &message, pb, tls_port).await;
            let s = b.status().await;
            let rang = ringing(&s);
            let want = acceptable(tag, method, expected);
            let ok = if want.contains(&"ring") {
                rang
            } else if want.is_empty() {
                status.is_none() && !rang
            } else {
                !rang
                    && match &status {
                        Some(code) => want.contains(&"any") || want.contains(&code.as_str()),
                        None => want.contains(&"none"),
                    }
            };
            report.push(format!(
                "{over:?} {tag:<11} want {want:?} got {status:?}{} {}",
                if rang { " and rang" } else { "" },
                if ok { "ok" } else { "WRONG" }
            ));
            if rang {
                b.send(Command::Hangup);
                b.wait(3, idle).await;
            }
        }
        // Still a working station.
        let probe = Stranger::new(pb).request("OPTIONS", "sip:probe@127.0.0.1", "after-torture", 1, None);
        let status = final_status(over, probe.as_bytes(), pb, tls_port).await;
        report.push(format!(
            "{over:?} OPTIONS afterwards got {status:?} {}",
            if status.as_deref() == Some("200") {
                "ok"
            } else {
                "WRONG"
            }
        ));
        b.stop().await;
    }
    println!("{}", report.join("\n"));
    let wrong: Vec<&String> = report.iter().filter(|r| r.ends_with("WRONG")).collect();
    assert!(wrong.is_empty(), "{}", report.join("\n"));
}

#[test]
fn only_the_top_via_is_aimed() {
    let message = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP t1.example.com;branch=z9hG4bKx\r\n\
Via: SIP/2.0/UDP t2.example.com;branch=z9hG4bKy\r\nContent-Length: 0\r\n\r\n";
    let out = String::from_utf8(aimed_at(message, 4000, "TCP")).unwrap();
    assert!(
        out.contains("Via: SIP/2.0/TCP 127.0.0.1:4000;branch=z9hG4bKx\r\n"),
        "{out}"
    );
    assert!(out.contains("Via: SIP/2.0/UDP t2.example.com;branch=z9hG4bKy"));
    let folded = b"INVITE sip:a@b SIP/2.0\r\nVia  : SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw\r\n\r\n";
    let out = String::from_utf8(aimed_at(folded, 4000, "UDP")).unwrap();
    assert!(out.contains("    127.0.0.1:4000;branch=390skdjuw"), "{out}");
}
