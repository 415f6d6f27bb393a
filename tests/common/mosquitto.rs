//! Mosquitto (Debian's package), the MQTT broker of a home, run on a port of its own
//! with one user and a password file; for the home automation tests and the soak.
#![allow(dead_code)]

use super::requires;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

pub const USER: &str = "doorway";
pub const PASSWORD: &str = "a broker password";

/// Mosquitto on a port of its own, with one user.
pub struct Broker {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    /// Over TLS, with a certificate from `ca.pem` in `dir`.
    pub tls: bool,
}

impl Broker {
    pub fn start(dir: &Path, port: u16) -> Broker {
        Self::start_with(dir, port, false)
    }

    pub fn start_with(dir: &Path, port: u16, tls: bool) -> Broker {
        requires::program("mosquitto", "mosquitto");
        let passwords = dir.join("passwords");
        if !passwords.exists() {
            let ok = std::process::Command::new("mosquitto_passwd")
                .args(["-b", "-c"])
                .arg(&passwords)
                .args([USER, PASSWORD])
                .status()
                .expect("mosquitto_passwd (mosquitto)");
            assert!(ok.success());
        }
        let conf = dir.join("mosquitto.conf");
        let mut text = format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\npersistence false\n",
            passwords.display()
        );
        if tls {
            let d = dir.display();
            text.push_str(&format!(
                "cafile {d}/ca.pem\ncertfile {d}/broker.pem\nkeyfile {d}/broker-key.pem\n"
            ));
        }
        std::fs::write(&conf, text).unwrap();
        let log =
            std::fs::File::create(dir.join(format!("mosquitto-{}.log", Instant::now().elapsed().as_nanos()))).unwrap();
        let child = std::process::Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("mosquitto starts");
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "mosquitto did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker {
            child,
            port,
            dir: dir.to_owned(),
            tls,
        }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// One of Mosquitto's clients, logged in to this broker.
    pub fn client(&self, program: &str) -> std::process::Command {
        let mut command = std::process::Command::new(program);
        let port = self.port.to_string();
        command.args(["-h", "127.0.0.1", "-p", &port, "-u", USER, "-P", PASSWORD]);
        if self.tls {
            command.arg("--cafile").arg(self.dir.join("ca.pem"));
        }
        command
    }

    /// Stops it and starts it again on the same port: every client is cut off, as when
    /// the broker's machine restarts.
    pub fn restart(&mut self) {
        self.stop();
        let dir = self.dir.clone();
        *self = Broker::start_with(&dir, self.port, self.tls);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}
