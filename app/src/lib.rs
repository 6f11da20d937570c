//! The `app` tier: accounts and sessions over a JSON API, behind the credential that
//! `web` (or the gateway) attaches to every call.
//!
//! The same router serves a TCP listener ([`run`], [`serve_on`]), the failover gateway
//! (which merges [`api_routes`] with crud's) and in-process tests.

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::Response;
use shared::api::ApiError;
use shared::auth::InternalKeys;
use shared::client::{CrudClient, TierClient};
use shared::config::Config;
use shared::http::{Lifecycle, with_common_layers};
use shared::upstream::{Side, Upstreams};
use tokio::net::TcpListener;

mod accounts;
mod current;
pub mod error;
pub mod hashing;
mod health;
mod json;
pub mod limits;
pub mod sessions;
pub mod state;

pub use error::AppError;
pub use state::AppState;

/// The largest request body the app tier reads: credentials are a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Only the `/v1` routes, with their state: what the gateway merges with crud's routes.
pub fn api_routes(state: AppState) -> Router {
    Router::new()
        .merge(accounts::router())
        .merge(current::router())
        .merge(sessions::router())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The whole tier for `state`: API, health endpoints, a JSON 404, and the common layers.
pub fn router(state: AppState) -> Router {
    let health = health::router().with_state(state.clone());
    let routes = api_routes(state).merge(health).fallback(not_found);
    with_common_layers(routes, "app")
}

/// Opens the credentials store named by `config` and builds the tier's router.
pub async fn build(config: &Config) -> anyhow::Result<Router> {
    build_with(config, Lifecycle::default()).await
}

async fn build_with(config: &Config, lifecycle: Lifecycle) -> anyhow::Result<Router> {
    Ok(router(state(config, lifecycle).await?))
}

/// Opens the credentials store named by `config` and prepares the handlers' state; the
/// gateway builds its account routes from this too.
pub async fn state(config: &Config, lifecycle: Lifecycle) -> anyhow::Result<AppState> {
    let store = accounts_store::connect(config)
        .await
        .context("open the credentials store")?;
    let keys = InternalKeys(config.internal_keys.clone());
    let state = AppState::new(
        store,
        keys,
        config.bcrypt_cost,
        config.hash_concurrency,
        lifecycle,
    )
    .await
    .context("prepare password hashing")?;
    Ok(state
        .with_crud(crud_client(config))
        .with_limits(limits::SignInLimits::new(
            config.signin_account_burst,
            config.signin_client_burst,
        ))
        .with_session_ttl(config.session_ttl_seconds))
}

/// `crud`, or the gateway when `crud` is down, through the same health view and routing
/// rules that `web` uses; the probes run in the background.
fn crud_client(config: &Config) -> CrudClient {
    let upstreams = Arc::new(Upstreams::new(
        None,
        &config.crud_url,
        &config.gateway_url,
        config.health,
    ));
    upstreams.spawn_probes();
    CrudClient(TierClient::routed(
        upstreams,
        Side::Results,
        config.internal_keys.clone(),
        config.upstream_timeout,
    ))
}

/// Listens on `config.app_addr` and serves until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.app_addr)
        .await
        .with_context(|| format!("listen on {}", config.app_addr))?;
    serve_on(listener, config).await
}

/// Serves on a listener bound by the caller (tests bind port 0 and read the port back).
pub async fn serve_on(listener: TcpListener, config: Config) -> anyhow::Result<()> {
    let lifecycle = Lifecycle::default();
    let router = build_with(&config, lifecycle.clone()).await?;
    let addr = listener
        .local_addr()
        .context("read the listening address")?;
    tracing::info!(%addr, "app tier listening");
    shared::http::serve(listener, router, lifecycle)
        .await
        .context("serve the app tier")
}

async fn not_found() -> Response {
    ApiError::new("not_found", "There is nothing at this address.")
        .with_status(StatusCode::NOT_FOUND)
}
