//! The web page under attack, measured: a station process, strangers on many loopback
//! addresses flooding it with setup and login guesses and holding connections with
//! bodies sent a byte at a time, and the owner logging in meanwhile, as they would: with
//! the password, and with the code from the station's screen if the page says it is
//! locked.
//!
//!     cargo bench --bench hostile_web -- [--seconds 20] [--addresses 16]
//!
//! Prints the station's RSS (before, peak, after) and CPU, the requests answered, and
//! the owner's login time. Goals: RSS within 50 MB of where it started, the owner in
//! within 2 s, and never locked out.

#[path = "../common/web.rs"]
#[allow(dead_code)]
mod web;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use web::Browser;

const PASSWORD: &str = "the owner's password";

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// RSS in MB and CPU seconds of process `pid`.
fn usage(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or(vec![], |(_, r)| r.split_whitespace().collect());
    let ticks: f64 = fields.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (rss_kb / 1024.0, ticks / 100.0)
}

fn status(socket: &std::path::Path) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_doorway"))
        .args(["status", "--json", "--socket"])
        .arg(socket)
        .output()
        .expect("doorway status");
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

struct Station {
    child: std::process::Child,
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Station {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_station() -> (Station, SocketAddr, String) {
    let dir = tempfile::tempdir().unwrap();
    let (config, socket) = (dir.path().join("door.toml"), dir.path().join("door.sock"));
    std::fs::write(
        &config,
        format!(
            "[station]\nname = \"Door\"\nuser = \"door\"\nlisten = \"127.0.0.1:{}\"\ncontrol_socket = \"{}\"\n\
             state_dir = \"{}\"\n\n[security]\ntls_port = {}\n\n[web]\nport = {}\nredirect_port = 0\n",
            doorway::api::loopback::free_sip_port(),
            socket.display(),
            dir.path().display(),
            doorway::api::loopback::free_sip_port(),
            doorway::api::loopback::free_sip_port(),
        ),
    )
    .unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_doorway"))
        .args(["run", "--config"])
        .arg(&config)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let station = Station {
        child,
        socket,
        _dir: dir,
    };
    for _ in 0..400 {
        let s = status(&station.socket);
        if let (Some(url), Some(fp)) = (s["web"].as_str(), s["security"]["fingerprint"].as_str()) {
            // The page names itself door.local:PORT; it listens on the SIP address.
            let port: u16 = url
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("the page's port");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            return (station, addr, fp.to_string());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the station never showed its web page");
}

fn browser(addr: SocketAddr, fingerprint: &str, from: [u8; 4]) -> Browser {
    let mut b = Browser::new(addr, fingerprint);
    b.from = Some(IpAddr::from(from));
    b
}

/// The owner logs in the way a person would; the time it took, and whether the screen's
/// code was needed.
async fn owner_logs_in(addr: SocketAddr, fingerprint: &str, socket: &std::path::Path, from: [u8; 4]) -> (f64, bool) {
    let started = Instant::now();
    let mut owner = browser(addr, fingerprint, from);
    let mut body = serde_json::json!({ "password": PASSWORD });
    let mut used_code = false;
    for _ in 0..20 {
        match owner.try_request("POST", "/api/login", Some(body.clone()), &[]).await {
            Ok(r) if r.status == 200 => return (started.elapsed().as_secs_f64(), used_code),
            Ok(r) if r.status == 429 && r.text().contains("code_from_screen") => {
                // Read off the station's screen (its status says what the screen shows).
                let code = status(socket)["web_unlock_code"].as_str().map(String::from);
                body["code"] = serde_json::json!(code);
                used_code = true;
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("the owner could not log in");
}

#[tokio::main]
async fn main() {
    let seconds = arg("--seconds", 20).max(5);
    let addresses = arg("--addresses", 16).clamp(2, 200) as u8;
    let (station, addr, fingerprint) = start_station().await;
    let pid = station.child.id();
    // The person at the station sets the password first.
    let code = status(&station.socket)["web_setup_code"].as_str().unwrap().to_string();
    let mut owner = browser(addr, &fingerprint, [127, 0, 0, 1]);
    assert_eq!(owner.set_up(&code, PASSWORD).await.status, 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_before, cpu_before) = usage(pid);

    let until = Instant::now() + Duration::from_secs(seconds);
    let mut flooders = vec![];
    for a in 0..addresses {
        for c in 0..4 {
            let mut b = browser(addr, &fingerprint, [127, 0, 3, a + 1]);
            flooders.push(tokio::spawn(async move {
                let mut answers = std::collections::BTreeMap::<u16, u32>::new();
                while Instant::now() < until {
                    let (path, body) = if c % 2 == 0 {
                        (
                            "/api/setup",
                            serde_json::json!({ "code": "1234-5678", "password": "abcdefgh1" }),
                        )
                    } else {
                        ("/api/login", serde_json::json!({ "password": "a stranger's guess" }))
                    };
                    match b.try_request("POST", path, Some(body), &[]).await {
                        Ok(r) => *answers.entry(r.status).or_default() += 1,
                        Err(_) => *answers.entry(0).or_default() += 1,
                    }
                }
                answers
            }));
        }
    }
    // Slow bodies from four more addresses, sixteen connections each.
    let mut slow = vec![];
    for a in 0..4u8 {
        let b = browser(addr, &fingerprint, [127, 0, 4, a + 1]);
        for _ in 0..16 {
            if let Ok(mut s) = b.connect().await {
                let head = "POST /api/login HTTP/1.1\r\nHost: doorway.local\r\nContent-Type: application/json\r\n\
                            Content-Length: 100000\r\n\r\n{";
                if s.write_all(head.as_bytes()).await.is_ok() {
                    slow.push(s);
                }
            }
        }
    }
    let drip = tokio::spawn(async move {
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let mut still = vec![];
            for mut s in slow {
                if s.write_all(b" ").await.is_ok() {
                    still.push(s);
                }
            }
            slow = still;
        }
    });
    let mut peak = rss_before;
    let mut logins = vec![];
    let mut needed_code = 0;
    let mut turn = 0u8;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(2)).await;
        peak = peak.max(usage(pid).0);
        turn += 1;
        let (took, used_code) = owner_logs_in(addr, &fingerprint, &station.socket, [127, 0, 5, turn]).await;
        logins.push(took);
        needed_code += usize::from(used_code);
        peak = peak.max(usage(pid).0);
    }
    let mut answers = std::collections::BTreeMap::<u16, u32>::new();
    for f in flooders {
        for (status, n) in f.await.unwrap() {
            *answers.entry(status).or_default() += n;
        }
    }
    drip.await.unwrap();
    let (rss_during, cpu_after) = usage(pid);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss_after, _) = usage(pid);
    logins.sort_by(f64::total_cmp);
    let worst = logins.last().copied().unwrap_or(f64::NAN);
    println!("hostile web page: {seconds} s, {addresses} flooding addresses x 4 connections, 64 slow bodies");
    println!("  answers to strangers (0 = connection refused or closed): {answers:?}");
    println!(
        "  station RSS: {rss_before:.1} MB before, {peak:.1} MB peak, {rss_during:.1} MB at the end, {rss_after:.1} MB 3 s later (growth {:.1} MB; goal under 50)",
        peak - rss_before
    );
    println!(
        "  station CPU: {:.2} s over {seconds} s ({:.0}% of one core)",
        cpu_after - cpu_before,
        (cpu_after - cpu_before) / seconds as f64 * 100.0
    );
    println!(
        "  owner logins during the attack: {}, median {:.2} s, worst {worst:.2} s (goal under 2 s), {needed_code} with the screen's code",
        logins.len(),
        logins[logins.len() / 2]
    );
}
