//! A stranger on the LAN, as its own process: sends INVITEs from unknown callers,
//! OPTIONS and garbage datagrams at a station for a while, and prints what came back.
//!
//!     sip-flood HOST:PORT SECONDS RATE_PER_SECOND
//!
//! Prints one line: `sent N invite I options O garbage G; got 403 F, 200 K, other X`.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(target), Some(seconds), Some(rate)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: sip-flood HOST:PORT SECONDS RATE_PER_SECOND");
        std::process::exit(2);
    };
    let seconds: u64 = seconds.parse().expect("SECONDS");
    let rate: u64 = rate.parse().expect("RATE_PER_SECOND");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let me = socket.local_addr().unwrap().port();
    let gap = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let end = Instant::now() + Duration::from_secs(seconds);
    let (mut sent, mut kinds) = (0u64, [0u64; 3]);
    let mut replies: HashMap<String, u64> = HashMap::new();
    let mut buf = vec![0u8; 65536];
    let mut next = Instant::now();
    while Instant::now() < end {
        let kind = (sent % 3) as usize;
        let datagram = match kind {
            0 => request("INVITE", target, me, sent, true),
            1 => request("OPTIONS", target, me, sent, false),
            _ => (0..300u64).map(|i| (i * 2654435761 + sent * 40503) as u8).collect(),
        };
        let _ = socket.send_to(&datagram, target);
        sent += 1;
        kinds[kind] += 1;
        while let Ok((n, _)) = socket.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            let code = text.split_whitespace().nth(1).unwrap_or("?").to_string();
            if !code.starts_with('1') {
                *replies.entry(code).or_default() += 1;
            }
        }
        next += gap;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    while let Ok((n, _)) = socket.recv_from(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]);
        let code = text.split_whitespace().nth(1).unwrap_or("?").to_string();
        if !code.starts_with('1') {
            *replies.entry(code).or_default() += 1;
        }
    }
    let got = |c: &str| replies.get(c).copied().unwrap_or(0);
    let other: u64 = replies
        .iter()
        .filter(|(c, _)| *c != "403" && *c != "200")
        .map(|(_, n)| n)
        .sum();
    println!(
        "sent {sent} invite {} options {} garbage {}; got 403 {}, 200 {}, other {other}",
        kinds[0],
        kinds[1],
        kinds[2],
        got("403"),
        got("200")
    );
}

fn request(method: &str, target: &str, me: u16, n: u64, with_sdp: bool) -> Vec<u8> {
    let body = if with_sdp {
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    } else {
        ""
    };
    let content_type = if with_sdp {
        "Content-Type: application/sdp\r\n"
    } else {
        ""
    };
    format!(
        "{method} sip:station@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKflood{n}\r\n\
         From: <sip:stranger{n}@127.0.0.1:{me}>;tag=f{n}\r\nTo: <sip:station@{target}>\r\n\
         Call-ID: flood-{n}@127.0.0.1\r\nCSeq: 1 {method}\r\nContact: <sip:stranger@127.0.0.1:{me}>\r\n\
         Max-Forwards: 70\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
