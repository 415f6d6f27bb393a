//! `doorway devices` (what this machine has, for writing the config) and `doorway
//! neighbours` (the stations a running station hears on the LAN).

use doorway::config::Config;
use std::path::Path;

/// Lists the cameras, sound devices, displays and input devices, and the station's
/// identity when its config (at `config`) and state can be read.
pub fn devices(config: &Path, json: bool) -> anyhow::Result<()> {
    let inventory = doorway::device::inventory::inventory();
    // The identity, when the station has made one (it does at first start).
    let identity = Config::load(config)
        .ok()
        .map(|c| doorway::security::identity::Identity::read_certificate(&doorway::security::state_dir(&c)));
    if json {
        let mut value = serde_json::to_value(&inventory).expect("inventory serialises");
        if let Some(Ok(f)) = &identity {
            value["identity"] = serde_json::json!({ "fingerprint": f.to_string(), "code": f.short_code() });
        }
        println!("{}", serde_json::to_string_pretty(&value).expect("JSON serialises"));
    } else {
        print!("{inventory}");
        match identity {
            Some(Ok(f)) => println!("identity: {} ({f})", f.short_code()),
            Some(Err(e)) => println!("identity: {e}"),
            None => println!("identity: no readable config at {}", config.display()),
        }
    }
    Ok(())
}

/// Prints the stations the station listening on `socket` hears on the LAN.
pub async fn neighbours(socket: &Path, json: bool) -> anyhow::Result<()> {
    let status = super::status::fetch(socket).await?;
    let list = status["neighbours"].as_array().cloned().unwrap_or_default();
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if list.is_empty() {
        println!("no station heard on the LAN yet");
        return Ok(());
    }
    for n in &list {
        let who = match n["contact"].as_str() {
            Some(contact) => format!("contact {contact} (its certificate)"),
            None => "not a contact".to_string(),
        };
        println!(
            "{:<24} {}  {:<16} heard {} s ago  {who}",
            n["name"].as_str().unwrap_or("?"),
            n["code"].as_str().unwrap_or("?"),
            n["address"].as_str().unwrap_or("-"),
            n["seconds_ago"]
        );
    }
    Ok(())
}
