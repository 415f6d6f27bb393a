//! The pages and the API behind them. Pages are one embedded shell (`assets/app.html`)
//! whose script fetches what it shows from `/api/…`; only the login page and the
//! script and style sheet are served without a session, and none of them holds data.

use super::auth::Guess;
use super::session::{clear_cookie, set_cookie, Authed, Changing};
use super::App;
use crate::api::Command;
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
const LIVE_JS: &str = include_str!("assets/live.js");
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
        .route(
            "/assets/live.js",
            get(|| asset(LIVE_JS, "text/javascript; charset=utf-8")),
        )
        .route("/assets/style.css", get(|| asset(STYLE_CSS, "text/css; charset=utf-8")))
        .route("/api/access", get(access))
        .route("/api/login", post(login))
        .route("/api/setup", post(set_up))
        .route("/api/logout", post(log_out))
        .route("/api/password", post(change_password))
        .route("/api/session", get(session))
        .route("/api/status", get(status))
        .route("/api/events", get(events))
        .route("/api/hangup", post(hang_up))
        .route("/api/door/open", post(open_door))
        .route("/api/pair", post(pair))
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
    /// The unlock code from the station's screen, while the page is locked.
    #[serde(default)]
    code: Option<String>,
}

#[derive(Deserialize)]
struct SetupForm {
    code: String,
    password: String,
}

#[derive(Deserialize)]
struct PasswordForm {
    current: String,
    new: String,
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
            Json(serde_json::json!({ "error": "too many wrong guesses; wait a minute" })),
        )
            .into_response(),
        Guess::LockedOut => (
            StatusCode::TOO_MANY_REQUESTS,
            Json(serde_json::json!({
                "error": "too many wrong guesses from the network: type the code shown on the station's screen",
                "code_from_screen": true,
            })),
        )
            .into_response(),
        Guess::NotNow => (StatusCode::CONFLICT, "not now").into_response(),
    }
}

/// Every hash slot is taken: refused at once (the memory hashing takes stays bounded).
fn busy() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        "busy checking other passwords; try again in a moment",
    )
        .into_response()
}

/// A password guess that passed the limits (`begun`), with a hash slot to check it in;
/// or the answer: its refusal (logged as `what`), or "busy" with the guess withdrawn.
fn with_hash_slot(
    app: &App,
    from: std::net::IpAddr,
    what: &str,
    begun: Result<(super::auth::Attempt, String), Guess>,
) -> Result<(super::auth::Attempt, String, tokio::sync::OwnedSemaphorePermit), Box<Response>> {
    let (attempt, hash) = begun.map_err(|guess| {
        log_refusal(what, from, &guess);
        Box::new(guess_answer(guess))
    })?;
    match app.hashing.try_permit() {
        Some(permit) => Ok((attempt, hash, permit)),
        None => {
            app.shared.auth.lock().unwrap().withdraw(&attempt);
            Err(Box::new(busy()))
        }
    }
}

/// The hash could not be made (should not happen with fixed parameters).
fn not_hashed() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "cannot hash the password").into_response()
}

/// The password file could not be written./// The password file could not be written.
fn not_stored(e: &std::io::Error) -> Response {
    tracing::warn!(error = %e, "cannot store the web password");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("cannot store the password: {e}"),
    )
        .into_response()
}

/// Logs a refused guess with its address, never what was typed. Wrong guesses are
/// bounded by the limits, so each is a warning; refusals past them are not (a flood
/// would fill the journal), and the lock itself is logged once when it engages.
fn log_refusal(what: &str, from: std::net::IpAddr, guess: &Guess) {
    match guess {
        Guess::Wrong => tracing::warn!(%from, "wrong {what}"),
        Guess::TooMany => tracing::debug!(%from, "{what} refused: too many wrong guesses from this address"),
        Guess::LockedOut => tracing::debug!(%from, "{what} refused: the page is locked"),
        _ => {}
    }
}

async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(form): Json<LoginForm>,
) -> Response {
    let from = peer.ip();
    // The limits first: a refused guess costs nothing, not even a hash slot.
    let begun = app
        .shared
        .auth
        .lock()
        .unwrap()
        .begin_login(from, form.code.as_deref(), Instant::now());
    let (attempt, hash, permit) = match with_hash_slot(&app, from, "web password", begun) {
        Ok(let_through) => let_through,
        Err(answer) => return *answer,
    };
    // The check takes tens of milliseconds on purpose: off the async threads.
    let stored = hash.clone();
    let right = app
        .hashing
        .run(permit, move || super::password::verify(&stored, &form.password))
        .await
        .unwrap_or(false);
    let guess = app
        .shared
        .auth
        .lock()
        .unwrap()
        .login_checked(attempt, &hash, right, Instant::now());
    log_refusal("web password", from, &guess);
    guess_answer(guess)
}

async fn set_up(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(form): Json<SetupForm>,
) -> Response {
    let from = peer.ip();
    if let Err(e) = super::password::acceptable(&form.password) {
        return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
    }
    // Every check before the hash: a stranger's request costs no memory.
    let checked = app
        .shared
        .auth
        .lock()
        .unwrap()
        .begin_setup(from, &form.code, Instant::now());
    if let Err(guess) = checked {
        log_refusal("web setup code", from, &guess);
        return guess_answer(guess);
    }
    let Some(permit) = app.hashing.try_permit() else {
        return busy();
    };
    let password = form.password;
    let Some(Ok(new_hash)) = app.hashing.run(permit, move || super::password::hash(&password)).await else {
        return not_hashed();
    };
    let result = app.shared.auth.lock().unwrap().finish_setup(new_hash, Instant::now());
    match result {
        Ok(guess) => {
            if matches!(guess, Guess::Right { .. }) {
                tracing::info!(%from, "web password set");
            }
            guess_answer(guess)
        }
        Err(e) => not_stored(&e),
    }
}

/// A new password, given the current one: every other session ends, and this browser
/// gets a new session.
async fn change_password(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    _: Changing,
    Json(form): Json<PasswordForm>,
) -> Response {
    let from = peer.ip();
    if let Err(e) = super::password::acceptable(&form.new) {
        return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
    }
    let begun = app.shared.auth.lock().unwrap().begin_login(from, None, Instant::now());
    let (attempt, old_hash, permit) = match with_hash_slot(&app, from, "current web password", begun) {
        Ok(let_through) => let_through,
        Err(answer) => return *answer,
    };
    let stored = old_hash.clone();
    let (current, new) = (form.current, form.new);
    let work = move || {
        let right = super::password::verify(&stored, &current);
        let hashed = right.then(|| super::password::hash(&new));
        (right, hashed)
    };
    let Some((right, hashed)) = app.hashing.run(permit, work).await else {
        return not_hashed();
    };
    let new_hash = match hashed {
        Some(Ok(h)) => h,
        Some(Err(_)) => return not_hashed(),
        None => String::new(),
    };
    let result = app
        .shared
        .auth
        .lock()
        .unwrap()
        .change_password(attempt, &old_hash, right, new_hash, Instant::now());
    match result {
        Ok(guess) => {
            match &guess {
                Guess::Right { .. } => tracing::info!(%from, "web password changed; every other session ended"),
                other => log_refusal("current web password", from, other),
            }
            // The session is good; only the confirmation is wrong (401 would send the
            // page to its login).
            if guess == Guess::Wrong {
                return (StatusCode::FORBIDDEN, "the current password is wrong").into_response();
            }
            guess_answer(guess)
        }
        Err(e) => not_stored(&e),
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
        s.web_unlock_code = None;
    }
    serde_json::json!({
        "status": status,
        // The status above is the last one published; a stuck loop publishes none.
        "stuck": app.shared.loop_watch.stuck(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": app.started.elapsed().as_secs(),
    })
}

async fn status(State(app): State<Arc<App>>, _: Authed) -> Json<serde_json::Value> {
    Json(status_json(&app))
}

/// The status as server-sent events: one at once, then one per change, at most two a
/// second.
/// The stream ends within a second of its session (logout, a new password, idle time).
async fn events(State(app): State<Arc<App>>, authed: Authed) -> Response {
    let changes = tokio_stream::wrappers::WatchStream::new(app.shared.status.subscribe())
        .throttle(Duration::from_millis(500))
        .map(|_| true);
    let checks =
        tokio_stream::wrappers::IntervalStream::new(tokio::time::interval(Duration::from_secs(1))).map(|_| false);
    let app2 = app.clone();
    let stream = changes
        .merge(checks)
        .take_while(move |_| {
            app.shared
                .auth
                .lock()
                .unwrap()
                .session_open(&authed.token, Instant::now())
        })
        .filter(|changed| *changed)
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

/// What "Pair" on the page sends: a contact's name, or a station nearby by its name or
/// its short code.
#[derive(Deserialize)]
struct PairWith {
    name: String,
}

/// The longest name or code the page may send (a contact's name is at most 64).
const MAX_PAIR_NAME: usize = 100;

/// "Pair" from the page: starts pairing as `doorway pair NAME` does; both stations'
/// screens then show the code to compare, and a person confirms on each.
async fn pair(State(app): State<Arc<App>>, _: Changing, Json(with): Json<PairWith>) -> Response {
    if with.name.trim().is_empty() || with.name.len() > MAX_PAIR_NAME {
        return (StatusCode::BAD_REQUEST, "a contact's name or a station's code").into_response();
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let start = crate::api::PairingCommand::Start(with.name, tx);
    if !app.send(Command::Pairing(start)) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match rx.await {
        Ok(Ok(())) => Json(serde_json::json!({ "started": true })).into_response(),
        Ok(Err(why)) => (StatusCode::CONFLICT, Json(serde_json::json!({ "error": why }))).into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// "Open door" from the page: this station's lock, or the station's in the call.
async fn open_door(State(app): State<Arc<App>>, _: Changing) -> Response {
    let (tx, rx) = tokio::sync::oneshot::channel();
    if !app.send(Command::OpenDoor(crate::api::Opener::WebPage, tx)) {
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
