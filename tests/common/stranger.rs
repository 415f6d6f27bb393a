//! A SIP peer written by hand for the tests that need to misbehave: a UDP socket that
//! sends whatever request text a test builds and reads what the station answers.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// A hand-driven SIP endpoint on 127.0.0.1.
pub struct Stranger {
    pub socket: UdpSocket,
    pub port: u16,
    target: u16,
}

impl Stranger {
    /// A socket on a free port aimed at the station on `target`.
    pub fn new(target: u16) -> Stranger {
        Self::bind(0, target)
    }

    /// A socket on `port` (0 for any), aimed at `target`.
    pub fn bind(port: u16, target: u16) -> Stranger {
        let socket = UdpSocket::bind(("127.0.0.1", port)).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let port = socket.local_addr().unwrap().port();
        Stranger { socket, port, target }
    }

    /// A request claiming to be `from` (a SIP URI), sent from this socket, with a Contact
    /// here, and an SDP body if given.
    pub fn request(&self, method: &str, from: &str, call_id: &str, cseq: u32, body: Option<&str>) -> String {
        let (me, target) = (self.port, self.target);
        let body = body.unwrap_or("");
        let content_type = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        format!(
            "{method} sip:station@127.0.0.1:{target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{call_id}{cseq}{method}\r\n\
             From: <{from}>;tag=s{call_id}\r\nTo: <sip:station@127.0.0.1:{target}>\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:stranger@127.0.0.1:{me}>\r\n\
             Max-Forwards: 70\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    /// Sends raw bytes to the station.
    pub fn send(&self, datagram: &[u8]) {
        self.socket.send_to(datagram, ("127.0.0.1", self.target)).unwrap();
    }

    /// Every message received within `wait`.
    pub fn receive_for(&self, wait: Duration) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.socket.recv_from(&mut buf) {
                out.push(String::from_utf8_lossy(&buf[..n]).to_string());
            }
        }
        out
    }

    /// The first final (non-1xx) response within `wait`: its status line.
    pub fn final_status(&self, wait: Duration) -> Option<String> {
        let mut buf = vec![0u8; 65536];
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.socket.recv_from(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                let status = text.lines().next().unwrap_or("").to_string();
                if status.starts_with("SIP/2.0 ") && !status.starts_with("SIP/2.0 1") {
                    return Some(status);
                }
            }
        }
        None
    }
}

/// An SDP offer from 127.0.0.1 with the given media lines.
pub fn offer(media: &str) -> String {
    format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n{media}")
}
