//! The Live page's signalling: one offer/answer exchange over the logged-in HTTPS
//! connection (no STUN or TURN server: the LAN only), and ending a view.

use super::session::Changing;
use super::App;
use crate::api::Command;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/live", post(watch))
        .route("/api/live/{id}/end", post(end))
        .route("/api/answer", post(answer))
}

#[derive(Deserialize)]
struct Offer {
    sdp: String,
}

async fn watch(State(app): State<Arc<App>>, _: Changing, Json(offer): Json<Offer>) -> Response {
    exchange(&app, offer, Command::WebLive).await
}

/// Answers the ringing call with this browser.
async fn answer(State(app): State<Arc<App>>, _: Changing, Json(offer): Json<Offer>) -> Response {
    exchange(&app, offer, Command::WebAnswer).await
}

type Reply = tokio::sync::oneshot::Sender<Result<(u64, String), String>>;

async fn exchange(app: &App, offer: Offer, command: fn(String, Reply) -> Command) -> Response {
    if offer.sdp.len() > super::rtc::MAX_OFFER_BYTES {
        return (StatusCode::PAYLOAD_TOO_LARGE, "the offer is too long").into_response();
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    if !app.send(command(offer.sdp, tx)) {
        return (StatusCode::SERVICE_UNAVAILABLE, "the station is not running").into_response();
    }
    match rx.await {
        Ok(Ok((id, sdp))) => Json(serde_json::json!({ "id": id, "sdp": sdp })).into_response(),
        Ok(Err(why)) => (StatusCode::CONFLICT, why).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the station is not running").into_response(),
    }
}

async fn end(State(app): State<Arc<App>>, _: Changing, Path(id): Path<u64>) -> StatusCode {
    if app.send(Command::WebLiveEnd(id)) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}
