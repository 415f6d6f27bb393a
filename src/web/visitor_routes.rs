//! The Visitors page's API: the list, each snapshot (to show or download), deleting one.

use super::session::{Authed, Changing};
use super::App;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/visitors", get(list))
        .route("/api/visitors/{id}", axum::routing::delete(delete))
        .route("/api/visitors/{id}/snapshot", get(snapshot))
}

async fn list(State(app): State<Arc<App>>, _: Authed) -> Json<Vec<super::visitors::Visit>> {
    Json(app.shared.visitors.lock().unwrap().list())
}

#[derive(Deserialize)]
struct SnapshotQuery {
    #[serde(default)]
    download: bool,
}

async fn snapshot(
    State(app): State<Arc<App>>,
    _: Authed,
    Path(id): Path<u64>,
    Query(q): Query<SnapshotQuery>,
) -> Response {
    let log = app.shared.visitors.clone();
    let jpeg = tokio::task::spawn_blocking(move || log.lock().unwrap().snapshot(id))
        .await
        .ok()
        .flatten();
    let Some(jpeg) = jpeg else {
        return (StatusCode::NOT_FOUND, "no such snapshot").into_response();
    };
    let disposition = if q.download {
        format!("attachment; filename=\"visitor-{id}.jpg\"")
    } else {
        "inline".to_string()
    };
    (
        [
            (header::CONTENT_TYPE, "image/jpeg".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        jpeg,
    )
        .into_response()
}

async fn delete(State(app): State<Arc<App>>, _: Changing, Path(id): Path<u64>) -> Response {
    let result = app.shared.visitors.lock().unwrap().delete(id);
    match result {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => (StatusCode::NOT_FOUND, "no such visit").into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
