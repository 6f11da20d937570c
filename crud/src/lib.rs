//! The crud tier: each player's match results per game over a JSON API, backed by the
//! results store. It sees no passwords and trusts only the credential between tiers.

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::Uri;
use axum::response::Response;
use axum::routing::get;
use results_store::ResultStore;
use shared::auth::InternalKeys;
use shared::catalog::{Catalog, Game};
use shared::config::Config;
use shared::http::{Lifecycle, live, ready_response, with_common_layers};
use tokio::net::TcpListener;

pub mod error;
mod extract;
mod listing;
mod matches;

pub use error::CrudError;

/// The largest request body taken. A match is well under a kilobyte; the cap sits far
/// below API Gateway's 10 MB and Lambda's 6 MB so that every path answers 413 itself.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// What every crud handler can reach.
#[derive(Clone)]
pub struct CrudState {
    pub store: Arc<dyn ResultStore>,
    pub keys: InternalKeys,
    pub catalog: &'static Catalog,
    pub lifecycle: Lifecycle,
}

impl FromRef<CrudState> for InternalKeys {
    fn from_ref(state: &CrudState) -> Self {
        state.keys.clone()
    }
}

impl CrudState {
    /// The game a path names. An empty slug is a malformed address, not an unknown game,
    /// and is refused before any store call (PC-02).
    fn game(&self, slug: &str) -> Result<&'static Game, CrudError> {
        if slug.trim().is_empty() {
            return Err(CrudError::BadPath("The game is missing from the address."));
        }
        self.catalog.game(slug).ok_or(CrudError::UnknownGame)
    }
}

/// The `/v1` routes alone, with no fallback, so that the failover gateway can merge them
/// with the app tier's routes (axum refuses to merge two routers that both have one).
/// Give the merged router [`fallback`] and [`method_not_allowed`].
pub fn api_routes(state: CrudState) -> Router {
    matches::router()
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// The whole tier for `state`: the API, health endpoints, our own 404 and 405 answers and
/// the layers every tier shares.
pub fn router(state: CrudState) -> Router {
    let health = Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(state.clone());
    let routes = api_routes(state)
        .merge(health)
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed);
    with_common_layers(routes, "crud")
}

/// Opens the results store that `config` selects and builds the tier's router.
pub async fn build(config: &Config) -> anyhow::Result<Router> {
    Ok(build_parts(config).await?.0)
}

async fn build_parts(config: &Config) -> anyhow::Result<(Router, Lifecycle)> {
    let lifecycle = Lifecycle::default();
    let state = state(config, lifecycle.clone()).await?;
    Ok((router(state), lifecycle))
}

/// The tier's state for `config`: opens the results store it selects, for the shipped
/// catalog. The failover gateway builds its result routes from this too.
pub async fn state(config: &Config, lifecycle: Lifecycle) -> anyhow::Result<CrudState> {
    let store = results_store::connect(config)
        .await
        .context("open the results store")?;
    Ok(CrudState {
        store,
        keys: InternalKeys(config.internal_keys.clone()),
        catalog: Catalog::builtin(),
        lifecycle,
    })
}

/// Serves the tier on `config.crud_addr` until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.crud_addr)
        .await
        .with_context(|| format!("listen for the crud tier on {}", config.crud_addr))?;
    serve_on(listener, config).await
}

/// Serves the tier on a listener that is already bound (tests bind port 0).
pub async fn serve_on(listener: TcpListener, config: Config) -> anyhow::Result<()> {
    let (router, lifecycle) = build_parts(&config).await?;
    let addr = listener.local_addr().context("read the crud address")?;
    tracing::info!(%addr, "crud tier listening");
    shared::http::serve(listener, router, lifecycle)
        .await
        .context("serve the crud tier")
}

/// Ready when the results store answers and the tier is not shutting down.
async fn ready(State(state): State<CrudState>) -> Response {
    let check = state.store.ping().await.map_err(|err| {
        tracing::warn!(error = %err, "readiness: results store does not answer");
        "store"
    });
    ready_response(&state.lifecycle, check)
}

/// The answer for a path no route takes. A path with an empty game or match id
/// (`/v1/games//matches`) never reaches a route, so it is told apart here (PC-02).
pub async fn fallback(uri: Uri) -> CrudError {
    let segments: Vec<&str> = uri.path().split('/').skip(1).collect();
    match segments.as_slice() {
        ["v1", "games", game, ..] if game.trim().is_empty() => {
            CrudError::BadPath("The game is missing from the address.")
        }
        ["v1", "games", _, "matches", id, ..] if id.trim().is_empty() => {
            CrudError::BadPath("The match id is missing from the address.")
        }
        _ => CrudError::NoRoute,
    }
}

/// The answer for a known path with a method it does not take.
pub async fn method_not_allowed() -> CrudError {
    CrudError::MethodNotAllowed
}
