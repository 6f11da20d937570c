//! HTTP plumbing every tier shares: request ids, the request span, panics turned into a
//! plain 500, health endpoints and graceful shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt as _;
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
        .layer(axum::middleware::map_request(drop_unacceptable_request_id))
}

/// An incoming request id is kept only if it is a short token; anything else is replaced,
/// so the id in logs, on error pages and in forwarded calls is always the same one.
async fn drop_unacceptable_request_id(mut request: Request) -> Request {
    let acceptable = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .is_some_and(is_acceptable_request_id);
    if !acceptable {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
    request
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

/// How long a keep-alive connection may sit idle before we close it. Above the 60 s
/// idle timeout of an AWS load balancer, so the balancer always closes first and never
/// sends a request into a connection we are closing (which it would answer with a 502).
/// Also the most a client may take to send a request's headers.
pub const KEEP_ALIVE_IDLE: Duration = Duration::from_secs(75);

/// The most time requests in flight get to finish after a shutdown signal.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until SIGTERM or Ctrl-C (see [`serve_until`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    lifecycle: Lifecycle,
) -> std::io::Result<()> {
    serve_until(listener, router, lifecycle, shutdown_signal()).await
}

/// Serves `router` on `listener` until `shutdown` resolves; then marks the tier not ready,
/// stops taking connections (callers see a refused connection at once and move to
/// another path), lets requests in flight finish for up to [`DRAIN_LIMIT`], and returns.
pub async fn serve_until(
    listener: TcpListener,
    router: Router,
    lifecycle: Lifecycle,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with_idle(listener, router, lifecycle, shutdown, KEEP_ALIVE_IDLE).await
}

async fn serve_with_idle(
    listener: TcpListener,
    router: Router,
    lifecycle: Lifecycle,
    shutdown: impl Future<Output = ()>,
    idle: Duration,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(idle)
        .keep_alive(true);
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // The peer address goes with each request, as axum's `ConnectInfo`, so that `web`
        // can tell which client a sign-in attempt came from.
        let service = TowerToHyperService::new(router.clone().map_request(
            move |request: Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }

    lifecycle.start_draining();
    drop(listener);
    tracing::info!(
        in_flight = connections.count(),
        "shutting down: finishing requests in flight"
    );
    if tokio::time::timeout(DRAIN_LIMIT, connections.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the drain limit; stopping anyway");
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;

    use super::*;

    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_millis(400)).await;
        "done"
    }

    fn test_router(lifecycle: &Lifecycle) -> Router {
        let lifecycle = lifecycle.clone();
        Router::new()
            .route("/slow", get(slow))
            .route("/fast", get(|| async { "fast" }))
            .route(
                "/health/ready",
                get(move || async move { ready_response(&lifecycle, Ok(())) }),
            )
    }

    async fn exchange(stream: &mut TcpStream, path: &str) -> String {
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buffer = vec![0; 4096];
        let read = stream.read(&mut buffer).await.unwrap();
        String::from_utf8_lossy(&buffer[..read]).into_owned()
    }

    #[tokio::test]
    async fn request_ids_are_kept_when_acceptable_and_replaced_otherwise() {
        let router = with_common_layers(Router::new().route("/", get(|| async { "ok" })), "test");
        for (sent, kept) in [
            ("abc-123", true),
            ("<script>alert(1)</script>", false),
            ("", false),
        ] {
            let request = axum::http::Request::get("/")
                .header(REQUEST_ID_HEADER, sent)
                .body(Body::empty())
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            let id = response.headers()[REQUEST_ID_HEADER]
                .to_str()
                .unwrap()
                .to_string();
            assert_eq!(id == sent, kept, "{sent:?} came back as {id:?}");
            assert!(is_acceptable_request_id(&id));
        }
    }

    #[test]
    fn idle_connections_outlive_the_load_balancers_idle_timeout() {
        assert!(KEEP_ALIVE_IDLE > Duration::from_secs(60));
    }

    #[tokio::test]
    async fn an_idle_keep_alive_connection_is_closed_only_after_the_idle_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let lifecycle = Lifecycle::default();
        let server = serve_with_idle(
            listener,
            test_router(&lifecycle),
            lifecycle.clone(),
            std::future::pending(),
            Duration::from_millis(500),
        );
        tokio::spawn(server);

        let mut stream = TcpStream::connect(addr).await.unwrap();
        assert!(exchange(&mut stream, "/fast").await.contains("fast"));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            exchange(&mut stream, "/fast").await.contains("fast"),
            "kept alive within the timeout"
        );
        tokio::time::sleep(Duration::from_millis(900)).await;
        let mut buffer = [0; 16];
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "closed after the timeout: {read:?}"
        );
    }

    #[tokio::test]
    async fn shutdown_finishes_requests_in_flight_and_refuses_new_connections() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let lifecycle = Lifecycle::default();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_until(
            listener,
            test_router(&lifecycle),
            lifecycle.clone(),
            async {
                let _ = stopped.await;
            },
        ));

        let mut in_flight = TcpStream::connect(addr).await.unwrap();
        let request = tokio::spawn(async move { exchange(&mut in_flight, "/slow").await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;

        assert!(lifecycle.is_draining(), "readiness turns false at once");
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "no new connections while draining"
        );
        let answer = request.await.unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.contains("done"),
            "{answer}"
        );
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}
