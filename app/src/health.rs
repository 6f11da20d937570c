//! Liveness (the process answers) and readiness (the credentials store answers and the
//! process is not draining), kept apart so a store outage is not mistaken for a dead tier.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use shared::http::{live, ready_response};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
}

async fn ready(State(state): State<AppState>) -> Response {
    let check = match state.store.ping().await {
        Ok(()) => Ok(()),
        Err(err) => {
            tracing::warn!(error = %err, "not ready: the credentials store does not answer");
            Err("store")
        }
    };
    ready_response(&state.lifecycle, check)
}
