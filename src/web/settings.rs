//! The Settings page's API: the config file as a form's data and as text, saved only
//! after the same checks as `doorway check-config` (an error names its field), written
//! atomically, and applied by the running station.

use super::session::{Authed, Changing};
use super::{settings_guard, App};
use crate::api::Command;
use crate::config::{Config, ConfigError};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/config", get(read).post(save))
        .route("/api/config/download", get(download))
}

fn no_file() -> Response {
    (StatusCode::NOT_FOUND, "this station runs without a config file").into_response()
}

async fn read(State(app): State<Arc<App>>, _: Authed) -> Response {
    let Some(path) = &app.config_file else {
        return no_file();
    };
    let text = match tokio::fs::read_to_string(path).await {
        Ok(t) => t,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{}: {e}", path.display())).into_response(),
    };
    // Passwords never go to the page (see settings_guard).
    let shown = settings_guard::masked_text(&text).unwrap_or_else(|| masked_lines(&text));
    match Config::parse(&text, path) {
        Ok(config) => Json(serde_json::json!({
            "file": path.display().to_string(),
            "text": shown,
            "config": settings_guard::masked(config),
        }))
        .into_response(),
        Err(e) => Json(serde_json::json!({
            "file": path.display().to_string(),
            "text": shown,
            "problem": e.to_string(),
        }))
        .into_response(),
    }
}

/// A file that is not TOML cannot be masked field by field: every line that sets a
/// password is masked whole.
fn masked_lines(text: &str) -> String {
    text.lines()
        .map(|line| {
            let key = line.trim_start().split('=').next().unwrap_or("").trim();
            if key == "password" {
                format!("password = \"{}\"", settings_guard::MASK)
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn download(State(app): State<Arc<App>>, _: Authed) -> Response {
    let Some(path) = &app.config_file else {
        return no_file();
    };
    match tokio::fs::read(path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/toml"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"doorway.toml\""),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// A save: the form's values (as the GET's `config`), or the whole file as text.
#[derive(Deserialize)]
struct Save {
    #[serde(default)]
    config: Option<serde_json::Value>,
    #[serde(default)]
    text: Option<String>,
}

/// What is wrong with a save, for the page to show at the field.
fn refused(status: StatusCode, field: &str, line: usize, message: String) -> Response {
    (
        status,
        Json(serde_json::json!({ "field": field, "line": line, "message": message })),
    )
        .into_response()
}

async fn save(State(app): State<Arc<App>>, _: Changing, Json(save): Json<Save>) -> Response {
    let Some(path) = app.config_file.clone() else {
        return no_file();
    };
    let from_form = save.text.is_none();
    // The file being replaced: its passwords stand for masked ones, and its paths are
    // the appliance's.
    let current = tokio::fs::read_to_string(&path)
        .await
        .ok()
        .and_then(|t| Config::parse(&t, &path).ok());
    let text = match (save.text, save.config) {
        (Some(text), _) => settings_guard::unmask_text(&text, current.as_ref()).unwrap_or(text),
        (None, Some(values)) => match toml::to_string(&without_nulls(values)) {
            Ok(t) => t,
            Err(e) => return refused(StatusCode::UNPROCESSABLE_ENTITY, "", 0, e.to_string()),
        },
        (None, None) => return refused(StatusCode::BAD_REQUEST, "", 0, "nothing to save".into()),
    };
    // The same checks as `doorway check-config`, against the file's own name.
    let mut config = match Config::parse(&text, &path) {
        Ok(c) => c,
        Err(ConfigError::Invalid {
            line, field, message, ..
        }) => return refused(StatusCode::UNPROCESSABLE_ENTITY, &field, line, message),
        Err(e) => return refused(StatusCode::UNPROCESSABLE_ENTITY, "", 0, e.to_string()),
    };
    settings_guard::unmask(&mut config, current.as_ref());
    if let Err(no) = settings_guard::allowed(current.as_ref(), &config, &path) {
        return refused(StatusCode::UNPROCESSABLE_ENTITY, &no.field, 0, no.message);
    }
    // The form's values come in a map's order; the file keeps the config's own order.
    let text = match from_form {
        true => toml::to_string(&config).unwrap_or(text),
        false => text,
    };
    if let Err(e) = write_atomically(&path, text.as_bytes()).await {
        tracing::warn!(file = %path.display(), error = %e, "cannot save the config from the web page");
        return refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "",
            0,
            format!("{}: cannot save: {e}", path.display()),
        );
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    if !app.send(Command::ApplyConfig(Box::new(config), tx)) {
        return (StatusCode::SERVICE_UNAVAILABLE, "the station is not running").into_response();
    }
    match rx.await {
        Ok(at_restart) => {
            tracing::info!(file = %path.display(), "config saved from the web page");
            Json(serde_json::json!({ "saved": true, "at_next_start": at_restart })).into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the station is not running").into_response(),
    }
}

/// TOML has no null: an empty form field means "not set".
fn without_nulls(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().filter(|v| !v.is_null()).map(without_nulls).collect()),
        other => other,
    }
}

/// Replaces the file through a temporary one beside it, keeping its permissions (0600
/// for a new file): [`crate::base::durable::replace_file`], off the runtime.
async fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let path = path.to_path_buf();
    let bytes = bytes.to_vec();
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).map_or(0o600, |m| m.permissions().mode() & 0o7777);
        crate::base::durable::replace_file(&path, &bytes, mode)
    })
    .await
    .map_err(std::io::Error::other)?
}
