//! The failover gateway: the `app` and `crud` routers behind one entry point, on the same
//! stores. Locally it is one process; on AWS, API Gateway routes the same paths to the
//! two Lambda functions. It holds no logic of its own.

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use shared::config::Config;
use shared::http::{Lifecycle, live, ready_response, with_common_layers};
use tokio::net::TcpListener;

/// What the gateway's readiness depends on: both tiers' states.
#[derive(Clone)]
struct Parts {
    app: app::AppState,
    crud: crud::CrudState,
    lifecycle: Lifecycle,
}

/// The gateway's router for two prepared states.
pub fn router(app: app::AppState, crud: crud::CrudState, lifecycle: Lifecycle) -> Router {
    let parts = Parts {
        app: app.clone(),
        crud: crud.clone(),
        lifecycle,
    };
    let health = Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(parts);
    let routes = app::api_routes(app)
        .merge(crud::api_routes(crud))
        .merge(health)
        .fallback(crud::fallback)
        .method_not_allowed_fallback(crud::method_not_allowed);
    with_common_layers(routes, "gateway")
}

/// Opens both stores named by `config` and builds the gateway.
pub async fn build(config: &Config, lifecycle: Lifecycle) -> anyhow::Result<Router> {
    let app = app::state(config, lifecycle.clone())
        .await
        .context("prepare the account routes")?;
    let crud = crud::state(config, lifecycle.clone())
        .await
        .context("prepare the result routes")?;
    Ok(router(app, crud, lifecycle))
}

/// Listens on `config.gateway_addr` and serves until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.gateway_addr)
        .await
        .with_context(|| format!("listen for the gateway on {}", config.gateway_addr))?;
    serve_on(listener, config).await
}

/// Serves on a listener bound by the caller.
pub async fn serve_on(listener: TcpListener, config: Config) -> anyhow::Result<()> {
    let lifecycle = Lifecycle::default();
    let router = build(&config, lifecycle.clone()).await?;
    let addr = listener.local_addr().context("read the gateway address")?;
    tracing::info!(%addr, "gateway listening");
    shared::http::serve(listener, router, lifecycle)
        .await
        .context("serve the gateway")
}

/// Ready when both stores answer: the gateway stands in for both tiers.
async fn ready(State(parts): State<Parts>) -> Response {
    let accounts = parts.app.store.ping().await;
    let results = parts.crud.store.ping().await;
    let check = match (accounts, results) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(err), _) => {
            tracing::warn!(error = %err, "readiness: credentials store does not answer");
            Err("store")
        }
        (_, Err(err)) => {
            tracing::warn!(error = %err, "readiness: results store does not answer");
            Err("store")
        }
    };
    ready_response(&parts.lifecycle, check)
}
