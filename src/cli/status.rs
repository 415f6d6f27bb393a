//! `doorway status`: the running station's state for a person (or as JSON).

use anyhow::Context;
use doorway::control::{self, Request};
use std::path::Path;

/// The status of the station listening on `socket`, as JSON.
pub async fn fetch(socket: &Path) -> anyhow::Result<serde_json::Value> {
    // The station answers within STATUS_WITHIN, or says it is stuck; this bounds a
    // socket that accepts and then says nothing at all.
    let within = control::STATUS_WITHIN * 2;
    let reply = tokio::time::timeout(within, control::request(socket, &Request::Status))
        .await
        .with_context(|| format!("{}: no answer within {} s", socket.display(), within.as_secs()))?
        .context("is the station running?")?;
    reply.status.context(reply.error.unwrap_or_else(|| "no status".into()))
}

/// Prints the status of the station listening on `socket`.
pub async fn status(socket: &Path, json: bool) -> anyhow::Result<()> {
    let status = fetch(socket).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    let call = &status["call"];
    let state = call["state"].as_str().unwrap_or("?");
    let peer = call["peer"]["contact"]
        .as_str()
        .or(call["peer"]["uri"].as_str())
        .unwrap_or("");
    println!(
        "{} ({})",
        status["station"].as_str().unwrap_or("?"),
        status["uri"].as_str().unwrap_or("?")
    );
    let secure = if call["peer"]["secure"].as_bool() == Some(true) {
        ", encrypted"
    } else if call["peer"].is_object() {
        ", NOT encrypted"
    } else {
        ""
    };
    println!("call: {state} {peer} ({} s{secure})", status["seconds_in_state"]);
    if let Some(web) = status["web"].as_str() {
        match status["web_setup_code"].as_str() {
            Some(code) => println!("web page: {web} (first visit: setup code {code})"),
            None => println!("web page: {web}"),
        }
        if let Some(code) = status["web_unlock_code"].as_str() {
            println!("web page locked by wrong guesses from the network: unlock code {code}");
        }
    }
    if let Some(door) = status["door"].as_object() {
        let state = if door["open"] == true { "open" } else { "closed" };
        let by = door["last_opened_by"]
            .as_str()
            .map(|b| format!(", last opened by {b}"))
            .unwrap_or_default();
        let problem = door["problem"].as_str().map(|p| format!(" ({p})")).unwrap_or_default();
        println!("door: {} {state}{by}{problem}", door["relay"].as_str().unwrap_or("?"));
    }
    if let Some(mqtt) = status["mqtt"].as_object() {
        let state = match (mqtt["connected"] == true, mqtt["problem"].as_str()) {
            (true, _) => "connected".to_string(),
            (false, Some(p)) => format!("not connected: {p}"),
            (false, None) => "connecting".to_string(),
        };
        println!("mqtt: {} {state}", mqtt["broker"].as_str().unwrap_or("?"));
    }
    if let Some(account) = status["account"].as_object() {
        let aor = account["aor"].as_str().unwrap_or("?");
        let state = match account["state"].as_str() {
            Some("registered") => format!("registered (for {} s)", account["expires"]),
            Some("failed") => format!(
                "NOT registered: {} (next try in {} s)",
                account["reason"].as_str().unwrap_or("?"),
                account["retry_in"]
            ),
            _ => "registering".to_string(),
        };
        let server = account["server"]
            .as_str()
            .map(|s| format!(" at {s}"))
            .unwrap_or_default();
        println!("account: {aor}{server} {state}");
    }
    let security = &status["security"];
    println!(
        "identity: {} ({})",
        security["code"].as_str().unwrap_or("?"),
        security["fingerprint"].as_str().unwrap_or("?")
    );
    let paired: Vec<&str> = security["paired"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p[0].as_str()).collect())
        .unwrap_or_default();
    println!(
        "paired with: {}",
        if paired.is_empty() {
            "nobody yet".to_string()
        } else {
            paired.join(", ")
        }
    );
    if let Some(m) = status.get("media").filter(|m| !m.is_null()) {
        println!(
            "media: sent {} frames, received {} packets, decoded {} frames, played {} samples",
            m["frames_sent"], m["packets_received"], m["frames_decoded"], m["samples_played"]
        );
    }
    if let Some(c) = status.get("conference").filter(|c| !c.is_null()) {
        let legs = status["legs"].as_array().map_or(0, |l| l.len());
        println!(
            "hosting {} stations: {} grids sent, frames decoded per station {}",
            legs + 1,
            c["grids_sent"],
            c["frames_decoded"]
        );
    }
    if let Some(msg) = status["last_message"].as_str() {
        println!("last message: {msg}");
    }
    for m in status["unread_messages"].as_array().into_iter().flatten() {
        println!(
            "unread from {}: {}",
            m["peer"].as_str().unwrap_or("?"),
            m["text"].as_str().unwrap_or("")
        );
    }
    if let Some(problem) = status["device_problem"].as_str() {
        println!("device problem: {problem}");
    }
    Ok(())
}
