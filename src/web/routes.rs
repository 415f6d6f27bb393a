//! The pages and the API behind them. Pages are one embedded shell (`assets/app.html`)
//! whose script fetches what it shows from `/api/…`; only the login page and the
//! script and style sheet are served without a session, and none of them holds data.

use super::auth::Guess;
use super::session::{clear_cookie, set_cookie, Authed, Changing};
use super::App;
use crate::station::Command;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;

const APP_HTML: &str = include_str!("assets/app.html");
const LOGIN_HTML: &str = include_str!("assets/login.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// The largest request body taken (a config file is a few kilobytes).
pub const MAX_BODY: usize = 256 * 1024;

/// Every route of the HTTPS side.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/visitors", get(page))
        .route("/live", get(page))
        .route("/settings", get(page))
        .route("/log", get(page))
        .route("/login", get(login_page))
        .route(
            "/assets/app.js",
            get(|| asset(APP_JS, "text/javascript; charset=utf-8")),
        )
        .route("/assets/style.css", get(|| asset(STYLE_CSS, "text/css; charset=utf-8")))
        .route("/api/access", get(access))
        .route("/api/login", post(login))
        .route("/api/setup", post(set_up))
        .route("/api/logout", post(log_out))
        .route("/api/session", get(session))
        .route("/api/status", get(status))
        .route("/api/events", get(events))
        .route("/api/hangup", post(hang_up))
        .route("/api/door/open", post(open_door))
        .route("/api/log", get(log_lines))
        .merge(super::settings::routes())
        .merge(super::visitor_routes::routes())
        .merge(super::live_routes::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(safety_headers))
        .with_state(app)
}

/// Headers on every answer: nothing from elsewhere, no framing, nothing cached.
async fn safety_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "no-referrer");
    set(h, "cache-control", "no-store");
    set(h, "strict-transport-security", "max-age=31536000");
    response
}

async fn asset(body: &'static str, kind: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

fn html(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

async fn page(authed: Option<Authed>) -> Response {
    match authed {
        Some(_) => html(APP_HTML),
        None => Redirect::to("/login").into_response(),
    }
}

async fn login_page() -> Response {
    html(LOGIN_HTML)
}

/// Whether the first visit's setup is due (all a stranger learns).
async fn access(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    let setup = app.shared.auth.lock().unwrap().password_hash().is_none();
    Json(serde_json::json!({ "setup": setup }))
}

#[derive(Deserialize)]
struct LoginForm {
    password: String,
}

#[derive(Deserialize)]
struct SetupForm {
    code: String,
    password: String,
}

fn guess_answer(guess: Guess) -> Response {
    match guess {
        Guess::Right { token, csrf } => (
            [(header::SET_COOKIE, set_cookie(&token))],
            Json(serde_json::json!({ "csrf": csrf })),
        )
            .into_response(),
        Guess::Wrong => (StatusCode::UNAUTHORIZED, "wrong").into_response(),
        Guess::TooMany => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "60")],
            "too many wrong guesses; wait a minute",
        )
            .into_response(),
        Guess::NotNow => (StatusCode::CONFLICT, "not now").into_response(),
    }
}

async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(form): Json<LoginForm>,
) -> Response {
    let from = peer.ip();
    let hash = {
        let mut auth = app.shared.auth.lock().unwrap();
        if !auth.may_guess(from, Instant::now()) {
            return guess_answer(Guess::TooMany);
        }
        match auth.password_hash() {
            Some(h) => h,
            None => return guess_answer(Guess::NotNow),
        }
    };
    // The hash check takes tens of milliseconds on purpose: off the async threads.
    let stored = hash.clone();
    let right = tokio::task::spawn_blocking(move || super::password::verify(&stored, &form.password))
        .await
        .unwrap_or(false);
    let guess = app
        .shared
        .auth
        .lock()
        .unwrap()
        .login_checked(from, &hash, right, Instant::now());
    if guess == Guess::Wrong {
        tracing::warn!(%from, "wrong web password");
    }
    guess_answer(guess)
}

async fn set_up(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(form): Json<SetupForm>,
) -> Response {
    if let Err(e) = super::password::acceptable(&form.password) {
        return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
    }
    let new_hash = match tokio::task::spawn_blocking(move || super::password::hash(&form.password)).await {
        Ok(Ok(h)) => h,
        _ => return (StatusCode::INTERNAL_SERVER_ERROR, "cannot hash the password").into_response(),
    };
    let result = app
        .shared
        .auth
        .lock()
        .unwrap()
        .set_up(peer.ip(), &form.code, new_hash, Instant::now());
    match result {
        Ok(guess) => {
            if matches!(guess, Guess::Right { .. }) {
                tracing::info!(from = %peer.ip(), "web password set");
            }
            guess_answer(guess)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot store the web password");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot store the password: {e}"),
            )
                .into_response()
        }
    }
}

async fn log_out(State(app): State<Arc<App>>, Changing(authed): Changing) -> Response {
    app.shared.auth.lock().unwrap().log_out(&authed.token);
    ([(header::SET_COOKIE, clear_cookie())], StatusCode::NO_CONTENT).into_response()
}

async fn session(authed: Authed) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "csrf": authed.csrf }))
}

fn status_json(app: &App) -> serde_json::Value {
    let mut status = app.shared.status.borrow().as_deref().cloned();
    if let Some(s) = &mut status {
        // The code belongs on the station's screen only.
        s.web_setup_code = None;
    }
    serde_json::json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": app.started.elapsed().as_secs(),
    })
}

async fn status(State(app): State<Arc<App>>, _: Authed) -> Json<serde_json::Value> {
    Json(status_json(&app))
}

/// The status as server-sent events: one at once, then one per change, at most two a
/// second.
async fn events(State(app): State<Arc<App>>, _: Authed) -> Response {
    let changes = tokio_stream::wrappers::WatchStream::new(app.shared.status.subscribe());
    let app2 = app.clone();
    let stream = changes
        .throttle(Duration::from_millis(500))
        .map(move |_| Event::default().json_data(status_json(&app2)));
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

async fn hang_up(State(app): State<Arc<App>>, _: Changing) -> StatusCode {
    if app.send(Command::Hangup) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// "Open door" from the page: this station's lock, or the station's in the call.
async fn open_door(State(app): State<Arc<App>>, _: Changing) -> Response {
    let (tx, rx) = tokio::sync::oneshot::channel();
    if !app.send(Command::OpenDoor(crate::station::door::Opener::WebPage, tx)) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match rx.await {
        Ok(Ok(done)) => Json(serde_json::json!({ "done": done })).into_response(),
        Ok(Err(why)) => (StatusCode::CONFLICT, Json(serde_json::json!({ "error": why }))).into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn log_lines(_: Authed) -> Json<Vec<String>> {
    Json(super::logbuf::global().lines())
}
