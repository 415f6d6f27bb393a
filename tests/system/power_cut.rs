//! Power can go at any moment: Door runs as `doorway run` while three writers keep it
//! busy, and Door is killed with SIGKILL at a random moment, 200 times:
//! - Hall sends texts as fast as Door acknowledges them (a 200 to its MESSAGE);
//! - Hall rings Door and hangs up, again and again: Door logs each ring before it says it
//!   rings (the 180 Hall sees);
//! - the owner, logged in to Door's web page, saves the settings again and again, each
//!   time with another quick reply (acknowledged by the page's 200).
//!
//! After each cut, every file Door keeps parses (messages, visitor log, config, web
//! password: the next cut logs in with it), and everything acknowledged before the cut
//! is in it.

use crate::common::web::Browser;
use crate::common::*;
use doorway::api::loopback::{contact, free_sip_port, loopback_config};
use doorway::call::machine::State;
use doorway::station::Command as StationCommand;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const POWER_CUTS: usize = 200;
const PASSWORD: &str = "a door that loses power";

/// Door's config: SIP, its control socket, its state and its web page, as a board has.
/// `quick_reply` is the setting the owner changes.
fn door_config(dir: &Path, door_port: u16, hall_port: u16, tls_port: u16, quick_reply: u64) -> String {
    format!(
        "[station]\nname = \"Door\"\nuser = \"door\"\nlisten = \"127.0.0.1:{door_port}\"\n\
         control_socket = \"{dir}/door.sock\"\nstate_dir = \"{dir}\"\nquick_replies = [\"setting {quick_reply}\"]\n\n\
         [[contact]]\nname = \"Hall\"\nuri = \"sip:hall@127.0.0.1:{hall_port}\"\n\n\
         [security]\ntls_port = {tls_port}\n\n[web]\nport = 0\nredirect_port = 0\nmdns = false\n",
        dir = dir.display(),
    )
}

/// Starts Door and waits until its control socket answers; returns it with its status.
async fn start_door(config: &Path, socket: &Path) -> (Child, serde_json::Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_doorway"))
        .args(["run", "--config"])
        .arg(config)
        .env("DOORWAY_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..400 {
        let status = status_json(socket.to_str().unwrap());
        if status.is_object() {
            return (child, status);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("Door did not start");
}

/// The entries of a JSON list Door keeps (none when the file is not there yet); the
/// file must parse whenever it is there.
fn kept_list(path: &Path) -> Vec<serde_json::Value> {
    let Ok(bytes) = std::fs::read(path) else {
        return vec![];
    };
    let list: serde_json::Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{} does not parse after a power cut: {e}", path.display()));
    list.as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{} is not a list", path.display()))
}

/// The texts in Door's messages file.
fn kept_texts(state: &Path) -> Vec<String> {
    kept_list(&state.join("messages.json"))
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The rings in Door's visitor log, as (id, who).
fn kept_rings(state: &Path) -> Vec<(u64, String)> {
    kept_list(&state.join("visitors/index.json"))
        .iter()
        .map(|v| {
            (
                v["id"].as_u64().unwrap(),
                v["peer"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The quick reply the config file holds; the file must parse as a config.
fn kept_setting(config: &Path) -> u64 {
    let text = std::fs::read_to_string(config).unwrap();
    let parsed = doorway::config::Config::parse(&text, config)
        .unwrap_or_else(|e| panic!("the config does not parse after a power cut: {e}\n{text}"));
    let reply = parsed.station.quick_replies.first().cloned().unwrap_or_default();
    reply
        .strip_prefix("setting ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("an unexpected quick reply {reply:?}"))
}

/// A small generator of its own: the kill times differ from run to run, and the seed is
/// printed to repeat one.
fn random_below(seed: &mut u64, below: u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed % below
}

/// Saves the settings with quick reply `n`, counted in `next`, until `cut`; returns
/// the last one the page acknowledged.
async fn save_settings_until(
    mut owner: Browser,
    text: impl Fn(u64) -> String,
    next: Arc<AtomicU64>,
    cut: Arc<AtomicBool>,
) -> Option<u64> {
    let mut acknowledged = None;
    while !cut.load(Ordering::SeqCst) {
        let n = next.fetch_add(1, Ordering::SeqCst);
        let body = serde_json::json!({ "text": text(n) });
        let saved = owner.try_request("POST", "/api/config", Some(body), &[]).await;
        match saved {
            Ok(reply) if reply.status == 200 => acknowledged = Some(n),
            Ok(reply) => assert!(
                cut.load(Ordering::SeqCst),
                "a save was refused: {} {}",
                reply.status,
                reply.text()
            ),
            Err(_) => break,
        }
    }
    acknowledged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_acknowledged_survives_two_hundred_power_cuts() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_path_buf();
    let (pa, pb, tls_port) = (free_sip_port(), free_sip_port(), free_sip_port());
    let config = state.join("door.toml");
    let socket = state.join("door.sock");
    std::fs::write(&config, door_config(&state, pa, pb, tls_port, 0)).unwrap();
    let hall = Station::start(loopback_config("Hall", pb, vec![contact("Door", pa)])).await;
    let mut seed = std::process::id() as u64 * 0x9e37_79b9 + 1;
    eprintln!("power cut seed {seed}");
    let next_setting = Arc::new(AtomicU64::new(1));
    let (mut texts_total, mut written, mut rings_total, mut settings_total) = (0usize, 0usize, 0usize, 0usize);
    let mut setting_floor = 0u64;
    for cut in 0..POWER_CUTS {
        let rings_before = kept_rings(&state).last().map_or(0, |(id, _)| *id);
        let (mut door, status) = start_door(&config, &socket).await;
        let pid = door.id() as i32;
        let cut_now = Arc::new(AtomicBool::new(false));
        // Long enough for a login to the page and some saves; short enough that the cut
        // falls anywhere in the writing.
        let at = Duration::from_millis(5 + random_below(&mut seed, 400));
        let killer = {
            let cut_now = cut_now.clone();
            tokio::spawn(async move {
                tokio::time::sleep(at).await;
                // SAFETY: a signal to our own child, which has not been waited for yet.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                cut_now.store(true, Ordering::SeqCst);
            })
        };

        // The owner: set up once, then logged in after every start.
        let web = status["web"]
            .as_str()
            .and_then(|u| u.strip_prefix("https://"))
            .and_then(|a| a.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("no web address in {status}"));
        let settings = {
            let mut owner = Browser::new(web, status["security"]["fingerprint"].as_str().unwrap());
            let (cut_now, next) = (cut_now.clone(), next_setting.clone());
            let code = status["web_setup_code"].as_str().map(str::to_string);
            let state = state.clone();
            tokio::spawn(async move {
                let entered = match code {
                    Some(code) => {
                        owner
                            .try_request(
                                "POST",
                                "/api/setup",
                                Some(serde_json::json!({ "code": code, "password": PASSWORD })),
                                &[],
                            )
                            .await
                    }
                    None => {
                        owner
                            .try_request(
                                "POST",
                                "/api/login",
                                Some(serde_json::json!({ "password": PASSWORD })),
                                &[],
                            )
                            .await
                    }
                };
                match entered {
                    Ok(r) if r.status == 200 => owner.csrf = r.json()["csrf"].as_str().unwrap().to_string(),
                    Ok(r) => {
                        assert!(
                            cut_now.load(Ordering::SeqCst),
                            "the owner could not log in: {} {}",
                            r.status,
                            r.text()
                        );
                        return None;
                    }
                    Err(_) => return None,
                }
                let text = move |n| door_config(&state, pa, pb, tls_port, n);
                save_settings_until(owner, text, next, cut_now).await
            })
        };

        // Hall rings Door: a ring counts once Hall hears it ring.
        let mut rang = 0usize;
        let rings = async {
            while !cut_now.load(Ordering::SeqCst) && rang < 3 {
                if hall.handle.call("Door").await.ok().and_then(Result::ok).is_none() {
                    break;
                }
                let s = hall
                    .wait(2, |s| matches!(s.call, State::Outgoing { ringing: true, .. }))
                    .await;
                let heard = matches!(s.call, State::Outgoing { ringing: true, .. });
                hall.send(StationCommand::Hangup);
                hall.wait(5, idle).await;
                if !heard {
                    break;
                }
                rang += 1;
            }
        };
        // Hall's texts: fewer than the file keeps (20), so every acknowledged one must be in it.
        let mut acknowledged = Vec::new();
        let texts = async {
            while !cut_now.load(Ordering::SeqCst) && acknowledged.len() < 10 {
                let text = format!("cut {cut} message {written}");
                written += 1;
                let sent = tokio::time::timeout(Duration::from_millis(500), hall.send_text("Door", &text)).await;
                if matches!(sent, Ok(Ok(()))) {
                    acknowledged.push(text);
                }
            }
        };
        tokio::join!(rings, texts);
        let _ = killer.await;
        door.wait().unwrap();
        let saved = settings.await.unwrap();
        hall.send(StationCommand::Hangup);
        hall.wait(5, idle).await;

        // What a restart reads: whole, and with everything that was acknowledged.
        let kept = kept_texts(&state);
        for text in &acknowledged {
            assert!(
                kept.contains(text),
                "cut {cut}: {text:?} was acknowledged and lost; kept {kept:?}"
            );
        }
        let new_rings: Vec<_> = kept_rings(&state)
            .into_iter()
            .filter(|(id, _)| *id > rings_before)
            .collect();
        assert!(
            new_rings.len() >= rang && new_rings.iter().all(|(_, who)| who == "Hall"),
            "cut {cut}: Hall heard {rang} rings, the visitor log kept {new_rings:?}"
        );
        if let Some(n) = saved {
            setting_floor = n;
            settings_total += 1;
        }
        let setting = kept_setting(&config);
        assert!(
            setting >= setting_floor,
            "cut {cut}: the page acknowledged setting {setting_floor}, the file holds {setting}"
        );
        texts_total += acknowledged.len();
        rings_total += rang;
    }
    eprintln!(
        "{POWER_CUTS} power cuts: {written} texts written, {texts_total} acknowledged; {rings_total} rings heard; \
         {settings_total} cuts with saved settings; nothing acknowledged was lost"
    );
    assert!(
        texts_total > POWER_CUTS,
        "too few texts acknowledged to tell: {texts_total}"
    );
    assert!(
        rings_total > POWER_CUTS / 4,
        "too few rings heard to tell: {rings_total}"
    );
    assert!(
        settings_total > POWER_CUTS / 4,
        "too few settings saved to tell: {settings_total}"
    );
    hall.stop().await;
}
