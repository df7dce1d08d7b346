//! The status page's HTTP routes (see the module docs of [`super`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};

use super::{html, Board};

/// The routes, over a board; merged into the framework's HTTP router.
pub fn router(board: Arc<Board>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/status", get(page))
        .route("/status/body", get(body))
        .route("/status.json", get(json))
        .with_state(board)
}

fn now() -> crate::core::Instant {
    crate::core::Instant::now()
}

/// The page changes every step: no cache may keep it.
const NO_STORE: [(header::HeaderName, &str); 1] = [(header::CACHE_CONTROL, "no-store")];

async fn page(State(board): State<Arc<Board>>) -> impl IntoResponse {
    board.fresh().await;
    (NO_STORE, Html(html::page(&board.snapshot(now()))))
}

async fn body(State(board): State<Arc<Board>>) -> impl IntoResponse {
    board.fresh().await;
    (NO_STORE, Html(html::body(&board.snapshot(now()))))
}

async fn json(State(board): State<Arc<Board>>) -> impl IntoResponse {
    board.fresh().await;
    (NO_STORE, Json(board.snapshot(now())))
}
