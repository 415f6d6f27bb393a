//! Malformed SIP sent to a running station: 400 where RFC 3261 says so (the request is
//! readable enough to answer), silence for what cannot be parsed, and a normal call after.

use crate::common::*;
use doorway::station::Command;
use std::net::UdpSocket;
use std::time::Duration;

fn request(method: &str, target: u16, from: u16, branch: &str, headers: &str, body: &str) -> String {
    format!(
        "{method} sip:hall@127.0.0.1:{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{from};branch=z9hG4bK{branch}\r\n\
         {headers}Max-Forwards: 70\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn headers(from: u16, call_id: &str, cseq: &str) -> String {
    format!(
        "From: <sip:tester@127.0.0.1:{from}>;tag=t1\r\nTo: <sip:hall@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\n"
    )
}

/// Sends `datagram` and returns the first final (non-1xx) status line received within 1 s.
fn exchange(socket: &UdpSocket, target: u16, datagram: &[u8]) -> Option<String> {
    socket.send_to(datagram, ("127.0.0.1", target)).unwrap();
    let mut buf = vec![0u8; 65536];
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            let status = text.lines().next().unwrap_or("").to_string();
            if !status.starts_with("SIP/2.0 1") {
                return Some(status);
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_or_silence_and_calls_still_work() {
    let _serial = SERIAL.lock().await;
    let (a, b) = pair(|_, _| {}).await;
    let target = b.handle.sip_addr.port();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let me = socket.local_addr().unwrap().port();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        (
            "truncated INVITE",
            request("INVITE", target, me, "a1", &headers(me, "c1", "1 INVITE"), sdp).as_bytes()[..90].to_vec(),
            None,
        ),
        (
            "binary noise",
            (0..1400u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect(),
            None,
        ),
        ("huge datagram", vec![b'A'; 60000], None),
        // A CRLF keep-alive ping (RFC 5626) gets its CRLF pong, nothing else.
        ("keep-alive ping", b"\r\n\r\n".to_vec(), Some("")),
        (
            "INVITE without From",
            request(
                "INVITE",
                target,
                me,
                "a2",
                "To: <sip:hall@127.0.0.1>\r\nCall-ID: c2\r\nCSeq: 1 INVITE\r\n",
                sdp,
            )
            .into_bytes(),
            Some("400"),
        ),
        (
            "INVITE without To",
            request(
                "INVITE",
                target,
                me,
                "a3",
                "From: <sip:t@127.0.0.1>;tag=x\r\nCall-ID: c3\r\nCSeq: 1 INVITE\r\n",
                sdp,
            )
            .into_bytes(),
            Some("400"),
        ),
        (
            "OPTIONS with CSeq of another method",
            request("OPTIONS", target, me, "a4", &headers(me, "c4", "1 INVITE"), "").into_bytes(),
            Some("400"),
        ),
        (
            "INVITE without Contact",
            request("INVITE", target, me, "a10", &headers(me, "c10", "1 INVITE"), sdp).into_bytes(),
            Some("400"),
        ),
        (
            "INVITE with garbage SDP",
            request(
                "INVITE",
                target,
                me,
                "a5",
                // From a contact (Door's address): a stranger is refused before its SDP is read.
                &format!(
                    "{}Contact: <sip:t@127.0.0.1:{me}>\r\nContent-Type: application/sdp\r\n",
                    headers(me, "c5", "1 INVITE").replace(
                        &format!("sip:tester@127.0.0.1:{me}"),
                        &format!("sip:door@127.0.0.1:{}", a.handle.sip_addr.port())
                    )
                ),
                "this is not sdp",
            )
            .into_bytes(),
            Some("400"),
        ),
        (
            "INVITE with a non-SDP body",
            request(
                "INVITE",
                target,
                me,
                "a6",
                &format!(
                    "{}Contact: <sip:t@127.0.0.1:{me}>\r\nContent-Type: text/plain\r\n",
                    headers(me, "c6", "1 INVITE")
                ),
                "hello",
            )
            .into_bytes(),
            Some("415"),
        ),
        (
            "INVITE without a body",
            request(
                "INVITE",
                target,
                me,
                "a7",
                &format!("{}Contact: <sip:t@127.0.0.1:{me}>\r\n", headers(me, "c7", "1 INVITE")),
                "",
            )
            .into_bytes(),
            Some("488"),
        ),
        (
            "BYE for no call",
            request("BYE", target, me, "a8", &headers(me, "c8", "2 BYE"), "").into_bytes(),
            Some("481"),
        ),
        (
            "well-formed OPTIONS",
            request("OPTIONS", target, me, "a9", &headers(me, "c9", "1 OPTIONS"), "").into_bytes(),
            Some("200"),
        ),
    ];
    let mut report = Vec::new();
    for (name, datagram, want) in &cases {
        let got = exchange(&socket, target, datagram);
        let ok = match want {
            None => got.is_none(),
            Some("") => got.as_deref() == Some(""),
            Some(code) => got
                .as_deref()
                .is_some_and(|s| s.starts_with(&format!("SIP/2.0 {code}"))),
        };
        report.push(format!(
            "{name}: want {want:?}, got {got:?} {}",
            if ok { "ok" } else { "WRONG" }
        ));
    }
    assert!(report.iter().all(|r| r.ends_with("ok")), "{}", report.join("\n"));
    // Unknown caller with a good INVITE is refused, not crashed on.
    assert!(idle(&b.status().await));

    // The station still places and takes a normal call.
    a.handle.call("Hall").await.unwrap().unwrap();
    b.wait(10, ringing).await;
    b.send(Command::Answer);
    let sa = a.wait(10, |s| active(s) && seen(s) >= 10).await;
    assert!(active(&sa));
    a.send(Command::Hangup);
    b.wait(2, idle).await;
    a.stop().await;
    b.stop().await;
}
