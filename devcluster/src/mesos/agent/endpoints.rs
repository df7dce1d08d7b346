//! The agent's read-only JSON endpoint `/state`, also under its libprocess
//! ID as `/slave(1)/state` (a real agent is libprocess process `slave(1)`
//! and its delegate, so both paths answer). The core takes a snapshot of
//! itself; [`state_view`](super::state_view) turns it into Mesos' JSON.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use tokio::sync::{mpsc, oneshot};

use super::core::Input;
use super::state_view::{state_json, AgentContext};
use crate::mesos::endpoint::{ok_json, Query};

#[derive(Clone)]
struct Shared {
    core: mpsc::UnboundedSender<Input>,
    context: Arc<AgentContext>,
}

/// The router of the agent's read-only endpoints.
pub fn router(core: mpsc::UnboundedSender<Input>, context: AgentContext) -> Router {
    Router::new()
        .route("/state", any(state))
        .route("/slave(1)/state", any(state))
        .with_state(Shared {
            core,
            context: Arc::new(context),
        })
}

async fn state(State(shared): State<Shared>, uri: Uri) -> Response {
    let (reply, answer) = oneshot::channel();
    let snapshot = match shared.core.send(Input::Snapshot(reply)) {
        Ok(()) => answer.await.ok(),
        Err(_) => None,
    };
    let Some(snapshot) = snapshot else {
        // The core is gone (the agent is stopping); Mesos answers 503
        // while it cannot serve state.
        return (StatusCode::SERVICE_UNAVAILABLE, "Agent is not running").into_response();
    };
    let query = Query::of(&uri);
    ok_json(&state_json(&snapshot, &shared.context), query.get("jsonp"))
}
