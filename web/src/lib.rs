//! The browser-facing tier: pages, forms, the session cookie, CSRF checks and static files.
//!
//! `web` stores nothing itself: accounts and sessions live behind `app`, results behind
//! `crud`, and both are reached only through the shared tier clients.

mod account;
mod assets;
mod chart;
mod client_addr;
mod error;
mod extract;
mod guard;
mod matches;
mod results;
mod session;
mod settings;
mod urls;
mod views;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};
use shared::catalog::Catalog;
use shared::client::{AppClient, CrudClient, TierClient};
use shared::config::Config;
use shared::http::{Lifecycle, live, ready_response};
use shared::tokens::KeyRing;
use shared::upstream::{Side, Upstreams};
use tokio::net::TcpListener;

pub use error::WebError;
pub use session::{CSRF_COOKIE, SESSION_COOKIE};
pub use urls::local_next;

/// Everything a page handler needs: the upstream clients, the cookie keys and the catalog.
#[derive(Clone, Debug)]
pub struct WebState {
    pub app: AppClient,
    pub crud: CrudClient,
    pub session_keys: KeyRing,
    pub secure_cookies: bool,
    pub catalog: &'static Catalog,
    pub lifecycle: Lifecycle,
    pub upstreams: Arc<Upstreams>,
    /// Whether the client address is the last `X-Forwarded-For` hop (see `client_addr`).
    pub trust_forwarded_for: bool,
}

impl WebState {
    /// Clients that follow the failover rules between `app`, `crud` and the gateway, with
    /// the health view refreshed in the background (so no page view waits on a probe).
    pub fn new(config: &Config) -> Self {
        let upstreams = Arc::new(Upstreams::new(
            Some(&config.app_url),
            &config.crud_url,
            &config.gateway_url,
            config.health,
        ));
        upstreams.spawn_probes();
        let client = |side| {
            TierClient::routed(
                Arc::clone(&upstreams),
                side,
                config.internal_keys.clone(),
                config.upstream_timeout,
            )
        };
        Self {
            app: AppClient(client(Side::Accounts)),
            crud: CrudClient(client(Side::Results)),
            upstreams: Arc::clone(&upstreams),
            session_keys: config.session_keys.clone(),
            secure_cookies: config.secure_cookies,
            catalog: Catalog::builtin(),
            lifecycle: Lifecycle::default(),
            trust_forwarded_for: config.trust_forwarded_for,
        }
    }
}

/// The pages and form posts, with the checks every form post passes and our error pages.
pub fn routes(state: WebState) -> Router {
    let pages = Router::new()
        .route("/", get(account::show_sign_in))
        // A reload or a bookmark of the sign-in action lands on the form.
        .route(
            "/signin",
            get(|| async { Redirect::to("/") }).post(account::sign_in),
        )
        .route("/signup", get(account::show_sign_up).post(account::sign_up))
        .route("/signout", post(account::sign_out))
        .route("/account", get(settings::show_account))
        .route("/account/password", post(settings::change_password))
        .route("/account/delete", post(settings::delete_account))
        .route("/games", get(results::list_games))
        .route(
            "/games/{game}",
            get(results::show_results).post(matches::create_match),
        )
        .route("/games/{game}/new", get(matches::new_match))
        .route(
            "/games/{game}/{id}",
            get(matches::show_match).post(matches::update_match),
        )
        .route("/games/{game}/{id}/edit", get(matches::edit_match))
        .route(
            "/games/{game}/{id}/delete",
            get(matches::confirm_delete).post(matches::delete_match),
        )
        .fallback(error::not_found)
        .with_state(state);
    guard::protect(pages)
}

/// The whole tier: pages, static files, health endpoints and the layers every tier has.
pub async fn build(config: &Config) -> anyhow::Result<Router> {
    let (router, _lifecycle) = assemble(config);
    Ok(router)
}

fn assemble(config: &Config) -> (Router, Lifecycle) {
    let state = WebState::new(config);
    let lifecycle = state.lifecycle.clone();
    let ready_lifecycle = lifecycle.clone();
    let upstreams = Arc::clone(&state.upstreams);
    let router = Router::new()
        .merge(routes(state))
        .merge(assets::router())
        .route("/health/live", get(live))
        .route(
            "/health/ready",
            // `web` keeps no store; it is ready while it is not draining. Upstream health is
            // the failover client's business, not a reason to leave the load balancer.
            get(move || async move { ready_response(&ready_lifecycle, Ok(())) }),
        )
        // Which upstream is in use, how often each switched and how many calls each took.
        .route(
            "/health/upstreams",
            get(move || async move { Json(upstreams.statuses()) }),
        );
    let router = guard::security_headers(router);
    (shared::http::with_common_layers(router, "web"), lifecycle)
}

/// Binds `config.web_addr` and serves until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.web_addr).await?;
    serve_on(listener, config).await
}

/// Serves on a listener bound by the caller (tests bind port 0 and read the real one back).
pub async fn serve_on(listener: TcpListener, config: Config) -> anyhow::Result<()> {
    let (router, lifecycle) = assemble(&config);
    tracing::info!(addr = %listener.local_addr()?, "web listening");
    shared::http::serve(listener, router, lifecycle).await?;
    Ok(())
}
