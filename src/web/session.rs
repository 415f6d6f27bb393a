//! Request guards: [`Authed`] lets a request through only with a live session cookie;
//! [`Changing`] also wants the session's CSRF token in `X-CSRF-Token` and, when the
//! browser sends an Origin, our own.

use super::App;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Instant;

/// The session cookie's name.
pub const COOKIE: &str = "doorway_session";
/// The header a change carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A request from a logged-in browser.
pub struct Authed {
    /// The session's cookie token.
    pub token: String,
    /// The session's CSRF token.
    pub csrf: String,
}

/// A change (POST, PUT, DELETE) from a logged-in browser with the right CSRF token.
pub struct Changing(#[allow(dead_code)] pub Authed);

/// Why a request was refused.
pub enum Refused {
    /// No session: 401.
    NotLoggedIn,
    /// A change without the session's CSRF token, or from another origin: 403.
    Forged,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::NotLoggedIn => (StatusCode::UNAUTHORIZED, "log in first").into_response(),
            Refused::Forged => (StatusCode::FORBIDDEN, "the request's CSRF token or origin is wrong").into_response(),
        }
    }
}

/// The session token from the request's cookies.
fn cookie_token(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|v| v.len() <= 128)
}

impl FromRequestParts<Arc<App>> for Authed {
    type Rejection = Refused;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Refused> {
        let token = cookie_token(parts).ok_or(Refused::NotLoggedIn)?;
        let view = app
            .shared
            .auth
            .lock()
            .unwrap()
            .session(&token, Instant::now())
            .ok_or(Refused::NotLoggedIn)?;
        Ok(Authed { token, csrf: view.csrf })
    }
}

impl OptionalFromRequestParts<Arc<App>> for Authed {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Option<Self>, Self::Rejection> {
        Ok(<Authed as FromRequestParts<Arc<App>>>::from_request_parts(parts, app)
            .await
            .ok())
    }
}

impl FromRequestParts<Arc<App>> for Changing {
    type Rejection = Refused;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Refused> {
        let authed = <Authed as FromRequestParts<Arc<App>>>::from_request_parts(parts, app).await?;
        let given = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !super::guesses::same(given.as_bytes(), authed.csrf.as_bytes()) || !same_origin(parts) {
            return Err(Refused::Forged);
        }
        Ok(Changing(authed))
    }
}

/// A browser's Origin, when sent, must be this host (a page elsewhere on the LAN cannot
/// post to us with the person's cookie; SameSite=Strict says the same).
fn same_origin(parts: &Parts) -> bool {
    let Some(origin) = parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .strip_prefix("https://")
        .is_some_and(|o| o.eq_ignore_ascii_case(host))
}

/// The Set-Cookie value for a new session.
pub fn set_cookie(token: &str) -> String {
    format!("{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=1209600")
}

/// The Set-Cookie value that ends the session in the browser.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}
