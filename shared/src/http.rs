//! HTTP plumbing every tier shares: request ids, the request span, panics turned into a
//! plain 500, health endpoints and graceful shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId as TowerRequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::api::{ApiError, REQUEST_ID_HEADER};

/// Wraps a tier's router with the layers every tier has. `tier` names it in logs.
pub fn with_common_layers(router: Router, tier: &'static str) -> Router {
    let header = HeaderName::from_static(REQUEST_ID_HEADER);
    router
        .layer(CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                tracing::error!("a handler panicked");
                ApiError::new("internal", "Something went wrong on our side.")
                    .with_status(StatusCode::INTERNAL_SERVER_ERROR)
            },
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(move |request: &Request| {
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str);
                let request_id = request
                    .headers()
                    .get(REQUEST_ID_HEADER)
                    .and_then(|v| v.to_str().ok());
                tracing::info_span!(
                    "request",
                    tier,
                    method = %request.method(),
                    route = route.unwrap_or_else(|| request.uri().path()),
                    request_id = request_id.unwrap_or(""),
                    user.id = tracing::field::Empty,
                )
            }),
        )
        .layer(PropagateRequestIdLayer::new(header.clone()))
        .layer(SetRequestIdLayer::new(header, KeepOrMakeRequestId))
}

/// Makes a UUID request id where a request has none, and replaces one that is not a short
/// token (it is shown on error pages and written into logs).
#[derive(Clone, Copy, Default)]
struct KeepOrMakeRequestId;

impl MakeRequestId for KeepOrMakeRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<TowerRequestId> {
        let id = uuid::Uuid::new_v4().to_string();
        HeaderValue::from_str(&id).ok().map(TowerRequestId::new)
    }
}

/// Whether an incoming request id may be kept as it is.
pub fn is_acceptable_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The request id of the current request, for forwarding and for error pages.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let id = parts
            .headers
            .get(REQUEST_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .filter(|id| is_acceptable_request_id(id))
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Ok(RequestId(id))
    }
}

/// Whether this process has begun to shut down; readiness turns false at once.
#[derive(Clone, Debug, Default)]
pub struct Lifecycle {
    draining: Arc<AtomicBool>,
}

impl Lifecycle {
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}

/// `GET /health/live`: the process answers. Never checks dependencies.
pub async fn live() -> &'static str {
    "live"
}

/// The answer of `GET /health/ready` for a dependency check's outcome:
/// `{"status": "ready"}` with 200, or 503 with `draining` or the failed dependency
/// (`{"status": "unavailable", "reason": "store"}`). Callers tell a tier that is gone
/// (no answer) from one whose store is down (this answer), because only the first is
/// worth a failover: the gateway shares the stores.
pub fn ready_response(lifecycle: &Lifecycle, check: Result<(), &'static str>) -> Response {
    let (status, body) = match (lifecycle.is_draining(), check) {
        (true, _) => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"status": "draining"}),
        ),
        (false, Ok(())) => (StatusCode::OK, serde_json::json!({"status": "ready"})),
        (false, Err(reason)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"status": "unavailable", "reason": reason}),
        ),
    };
    (status, axum::Json(body)).into_response()
}

/// Serves `router` on `listener` until SIGTERM or Ctrl-C, then stops taking new
/// connections, marks the tier not ready and lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    lifecycle: Lifecycle,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            lifecycle.start_draining();
            tracing::info!("shutting down: finishing requests in flight");
        })
        .await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
