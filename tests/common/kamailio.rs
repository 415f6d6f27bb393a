//! Kamailio (Debian's package), the SIP server of a building, run for a test with the
//! config kept in tests/kamailio/ and a user table the test gives: on 127.0.0.2, so that
//! requests from it are told apart from the stations' own on 127.0.0.1.
#![allow(dead_code)]

use super::requires;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The domain the config serves (`alias` in tests/kamailio/kamailio.cfg).
pub const DOMAIN: &str = "doorway.test";

pub struct Kamailio {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Where it listens (UDP and TCP).
    pub addr: SocketAddr,
}

impl Kamailio {
    /// Starts with `users` (name, password) in its table and waits until it answers.
    pub fn start(users: &[(&str, &str)]) -> Kamailio {
        requires::program("kamailio", "kamailio");
        let dir = tempfile::tempdir().unwrap();
        let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kamailio/kamailio.cfg");
        std::fs::copy(config, dir.path().join("kamailio.cfg")).unwrap();
        let table: String = users
            .iter()
            .map(|(user, password)| format!("\t$sht(users=>{user}) = \"{password}\";\n"))
            .collect();
        std::fs::write(
            dir.path().join("users.cfg"),
            format!("event_route[htable:mod-init] {{\n{table}}}\n"),
        )
        .unwrap();
        let mut k = Kamailio {
            child: None,
            dir,
            addr: SocketAddr::from((
                [127, 0, 0, 2],
                doorway::api::loopback::free_port_on([127, 0, 0, 2].into()),
            )),
        };
        k.run();
        k
    }

    fn run(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("kamailio.log"))
            .unwrap();
        let d = self.dir.path();
        let child = std::process::Command::new("kamailio")
            .arg("-f")
            .arg(d.join("kamailio.cfg"))
            .args(["-DD", "-E", "-n", "2", "-m", "32", "-M", "8"])
            .arg("-l")
            .arg(format!("udp:{}", self.addr))
            .arg("-l")
            .arg(format!("tcp:{}", self.addr))
            .arg("-Y")
            .arg(d)
            .arg("-P")
            .arg(d.join("kamailio.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            // Its own process group: stopping it stops its children too.
            .process_group(0)
            .spawn()
            .expect("kamailio starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.answers() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("kamailio did not start:\n{}", self.log());
    }

    /// Whether it answers an OPTIONS keepalive now.
    pub fn answers(&self) -> bool {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let port = socket.local_addr().unwrap().port();
        let request = format!(
            "OPTIONS sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{n:x}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag={n:x}\r\nTo: <sip:{DOMAIN}>\r\n\
             Call-ID: {n:x}@probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            n = rand::random::<u64>()
        );
        if socket.send_to(request.as_bytes(), self.addr).is_err() {
            return false;
        }
        let mut buf = [0u8; 2048];
        matches!(socket.recv_from(&mut buf), Ok((n, _)) if buf[..n].starts_with(b"SIP/2.0 200"))
    }

    /// Stops it (every registration it held is gone).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = child.id() as i32;
            // SAFETY: signals a process group we started.
            unsafe { libc::kill(-group, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // SAFETY: as above.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            let _ = child.wait();
        }
    }

    /// Stops it and starts it again on the same address, with an empty location table.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kamailio.log")).unwrap_or_default()
    }

    /// `proxy` for a station's `[account]`.
    pub fn proxy(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.stop();
    }
}
