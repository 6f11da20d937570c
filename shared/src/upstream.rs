//! The health-aware way one tier reaches another: a health view of `app`, `crud` and the
//! failover gateway, refreshed in the background, and the routing rules of the design.
//!
//! - Account calls go to `app` while it is up, else to the gateway.
//! - Result calls go to `crud` while both `crud` and `app` are up, else to the gateway:
//!   sessions are resolved on the account side, so a request that cannot be
//!   authenticated on the primary path must not reach the primary results path.
//! - A connection error marks an upstream down at once; so does a timeout, unless the tier
//!   still answers its liveness endpoint (alive and slow, as behind a queue of password
//!   hashes, is no reason to switch). Either way a safe call is retried on the other path
//!   within the same user request.
//! - Background probes need `leave_after` failures in a row to mark an upstream down and
//!   `return_after` successes in a row to bring it back, so a flapping tier does not
//!   move traffic back and forth.
//! - A tier that answers its readiness probe with "my store is down", or whose readiness
//!   check is stuck while its liveness answers, stays up for routing: the gateway shares
//!   that store, so moving traffic would not help.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Which side of the system a call is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Accounts,
    Results,
}

/// How the health view decides.
#[derive(Clone, Copy, Debug)]
pub struct HealthPolicy {
    pub probe_interval: Duration,
    pub probe_timeout: Duration,
    /// Probe failures in a row that take an upstream out of use.
    pub leave_after: u32,
    /// Probe successes in a row that bring it back.
    pub return_after: u32,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            probe_interval: Duration::from_millis(1000),
            probe_timeout: Duration::from_millis(1000),
            leave_after: 2,
            return_after: 3,
        }
    }
}

/// One upstream base URL and what the health view knows of it.
#[derive(Debug)]
pub struct Endpoint {
    pub name: &'static str,
    pub base_url: String,
    state: Mutex<Health>,
    switches: AtomicU64,
    account_calls: AtomicU64,
    result_calls: AtomicU64,
}

#[derive(Debug)]
struct Health {
    up: bool,
    failures: u32,
    successes: u32,
}

/// What a probe saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Ready, or alive with a dependency down that the other path shares.
    Alive,
    /// No answer, a timeout, or draining.
    Gone,
}

impl Endpoint {
    fn new(name: &'static str, base_url: &str) -> Self {
        Self {
            name,
            base_url: base_url.trim_end_matches('/').to_string(),
            // Optimistic at start: the first probe or call corrects it within a second.
            state: Mutex::new(Health {
                up: true,
                failures: 0,
                successes: 0,
            }),
            switches: AtomicU64::new(0),
            account_calls: AtomicU64::new(0),
            result_calls: AtomicU64::new(0),
        }
    }

    pub fn is_up(&self) -> bool {
        self.lock().up
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Health> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A call could not reach this upstream: out of use at once.
    pub fn mark_down(&self, reason: &str) {
        let mut health = self.lock();
        health.successes = 0;
        if health.up {
            health.up = false;
            self.switched(false, reason);
        }
    }

    /// Applies one background probe's outcome with hysteresis.
    pub fn record_probe(&self, probe: Probe, policy: &HealthPolicy) {
        let mut health = self.lock();
        match probe {
            Probe::Alive => {
                health.failures = 0;
                health.successes = health.successes.saturating_add(1);
                if !health.up && health.successes >= policy.return_after {
                    health.up = true;
                    self.switched(true, "readiness probes answer again");
                }
            }
            Probe::Gone => {
                health.successes = 0;
                health.failures = health.failures.saturating_add(1);
                if health.up && health.failures >= policy.leave_after {
                    health.up = false;
                    self.switched(false, "readiness probes fail");
                }
            }
        }
    }

    fn switched(&self, up: bool, reason: &str) {
        self.switches.fetch_add(1, Ordering::Relaxed);
        if up {
            tracing::info!(upstream = self.name, reason, "upstream back in use");
        } else {
            tracing::warn!(upstream = self.name, reason, "upstream out of use");
        }
    }

    /// Counts one call sent here, by side, so that the routing rules can be checked from
    /// outside (account calls must stay on `app` while only `crud` is down).
    pub(crate) fn count_call(&self, side: Side) {
        let counter = match side {
            Side::Accounts => &self.account_calls,
            Side::Results => &self.result_calls,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn status(&self) -> EndpointStatus {
        let account_calls = self.account_calls.load(Ordering::Relaxed);
        let result_calls = self.result_calls.load(Ordering::Relaxed);
        EndpointStatus {
            name: self.name,
            up: self.is_up(),
            switches: self.switches.load(Ordering::Relaxed),
            calls: account_calls + result_calls,
            account_calls,
            result_calls,
        }
    }
}

/// A snapshot for the `/health/upstreams` page and for tests.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct EndpointStatus {
    pub name: &'static str,
    pub up: bool,
    pub switches: u64,
    /// Calls sent here, both sides together.
    pub calls: u64,
    pub account_calls: u64,
    pub result_calls: u64,
}

/// The upstreams a tier calls. `app` is `None` in the `app` tier itself, which is up by
/// definition when it is the caller.
#[derive(Debug)]
pub struct Upstreams {
    pub app: Option<Endpoint>,
    pub crud: Endpoint,
    pub gateway: Endpoint,
    pub policy: HealthPolicy,
}

impl Upstreams {
    pub fn new(
        app_url: Option<&str>,
        crud_url: &str,
        gateway_url: &str,
        policy: HealthPolicy,
    ) -> Self {
        Self {
            app: app_url.map(|url| Endpoint::new("app", url)),
            crud: Endpoint::new("crud", crud_url),
            gateway: Endpoint::new("gateway", gateway_url),
            policy,
        }
    }

    fn app_up(&self) -> bool {
        self.app.as_ref().is_none_or(Endpoint::is_up)
    }

    /// The endpoints to try for a call, in order: the one the rules pick, then the other
    /// path. When neither looks up, the primary goes first (a probe may be stale).
    pub fn route(&self, side: Side) -> [&Endpoint; 2] {
        let primary = match side {
            Side::Accounts => self.app.as_ref().unwrap_or(&self.crud),
            Side::Results => &self.crud,
        };
        let primary_usable = match side {
            Side::Accounts => self.app_up(),
            Side::Results => self.crud.is_up() && self.app_up(),
        };
        if primary_usable || !self.gateway.is_up() {
            [primary, &self.gateway]
        } else {
            [&self.gateway, primary]
        }
    }

    pub fn endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.app.iter().chain([&self.crud, &self.gateway])
    }

    pub fn statuses(&self) -> Vec<EndpointStatus> {
        self.endpoints().map(Endpoint::status).collect()
    }

    /// Probes every upstream every `probe_interval`, until the last holder of the
    /// upstreams lets go of them.
    pub fn spawn_probes(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let http = reqwest::Client::new();
        let interval = self.policy.probe_interval;
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(upstreams) = weak.upgrade() else {
                    break;
                };
                let probes = upstreams.endpoints().map(|endpoint| async {
                    let probe = probe(&http, endpoint, upstreams.policy.probe_timeout).await;
                    endpoint.record_probe(probe, &upstreams.policy);
                });
                futures::future::join_all(probes).await;
            }
        });
    }
}

/// Asks `GET /health/ready` and `GET /health/live` at once. A 200, or a 503 naming a
/// dependency, from readiness means the process is alive; "draining" means it is leaving.
/// When readiness gives no answer in time but liveness does, the process is alive and its
/// readiness check is stuck on a dependency (a store that stopped answering makes a pool
/// wait longer than the probe): the gateway shares that store, so that is no reason to
/// switch (PC-17). Silence on both means the process is gone.
async fn probe(http: &reqwest::Client, endpoint: &Endpoint, timeout: Duration) -> Probe {
    let ready = http
        .get(format!("{}/health/ready", endpoint.base_url))
        .timeout(timeout)
        .send();
    let (ready, live) = tokio::join!(ready, answers_live(http, endpoint, timeout));
    let Ok(response) = ready else {
        return if live { Probe::Alive } else { Probe::Gone };
    };
    if response.status().is_success() {
        return Probe::Alive;
    }
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    match body.get("status").and_then(|status| status.as_str()) {
        Some("unavailable") => Probe::Alive,
        Some(_) => Probe::Gone,
        // Not our readiness answer (a balancer's error page, say): trust liveness.
        None if live => Probe::Alive,
        None => Probe::Gone,
    }
}

/// Whether the process behind `endpoint` answers `GET /health/live` within `timeout`.
/// Liveness checks nothing but the process itself, so a slow store cannot hide it.
pub(crate) async fn answers_live(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    timeout: Duration,
) -> bool {
    http.get(format!("{}/health/live", endpoint.base_url))
        .timeout(timeout)
        .send()
        .await
        .is_ok_and(|response| response.status().is_success())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn upstreams() -> Upstreams {
        Upstreams::new(
            Some("http://a"),
            "http://c",
            "http://g",
            HealthPolicy::default(),
        )
    }

    fn names(route: [&Endpoint; 2]) -> [&'static str; 2] {
        [route[0].name, route[1].name]
    }

    #[test]
    fn healthy_primaries_take_their_own_traffic() {
        let u = upstreams();
        assert_eq!(names(u.route(Side::Accounts)), ["app", "gateway"]);
        assert_eq!(names(u.route(Side::Results)), ["crud", "gateway"]);
    }

    #[test]
    fn crud_down_moves_results_only() {
        let u = upstreams();
        u.crud.mark_down("test");
        assert_eq!(names(u.route(Side::Accounts)), ["app", "gateway"]);
        assert_eq!(names(u.route(Side::Results)), ["gateway", "crud"]);
    }

    #[test]
    fn app_down_moves_everything_to_the_gateway() {
        let u = upstreams();
        u.app.as_ref().unwrap().mark_down("test");
        assert_eq!(names(u.route(Side::Accounts)), ["gateway", "app"]);
        assert_eq!(names(u.route(Side::Results)), ["gateway", "crud"]);
    }

    #[test]
    fn with_the_gateway_down_too_the_primary_is_tried_first() {
        let u = upstreams();
        u.app.as_ref().unwrap().mark_down("test");
        u.gateway.mark_down("test");
        assert_eq!(names(u.route(Side::Accounts)), ["app", "gateway"]);
    }

    #[test]
    fn the_app_tier_itself_routes_results_to_crud() {
        let u = Upstreams::new(None, "http://c", "http://g", HealthPolicy::default());
        assert_eq!(names(u.route(Side::Results)), ["crud", "gateway"]);
    }

    #[test]
    fn calls_are_counted_per_side() {
        let endpoint = Endpoint::new("gateway", "http://g");
        endpoint.count_call(Side::Accounts);
        endpoint.count_call(Side::Accounts);
        endpoint.count_call(Side::Results);
        let status = endpoint.status();
        assert_eq!(
            (status.calls, status.account_calls, status.result_calls),
            (3, 2, 1)
        );
    }

    #[test]
    fn probes_need_k_failures_to_leave_and_m_successes_to_return() {
        let policy = HealthPolicy {
            leave_after: 2,
            return_after: 3,
            ..HealthPolicy::default()
        };
        let endpoint = Endpoint::new("app", "http://a");
        endpoint.record_probe(Probe::Gone, &policy);
        assert!(endpoint.is_up(), "one failed probe is not enough");
        endpoint.record_probe(Probe::Gone, &policy);
        assert!(!endpoint.is_up());
        for _ in 0..2 {
            endpoint.record_probe(Probe::Alive, &policy);
        }
        assert!(!endpoint.is_up(), "two successes are not enough");
        endpoint.record_probe(Probe::Alive, &policy);
        assert!(endpoint.is_up());
        assert_eq!(endpoint.status().switches, 2);
    }

    #[test]
    fn a_flapping_upstream_does_not_oscillate() {
        let policy = HealthPolicy {
            leave_after: 2,
            return_after: 3,
            ..HealthPolicy::default()
        };
        let endpoint = Endpoint::new("app", "http://a");
        for i in 0..20 {
            let probe = if i % 2 == 0 {
                Probe::Gone
            } else {
                Probe::Alive
            };
            endpoint.record_probe(probe, &policy);
        }
        assert!(endpoint.is_up());
        assert_eq!(
            endpoint.status().switches,
            0,
            "every other probe failing moves nothing"
        );
    }

    /// Serves `router` on a free loopback port and returns its base URL.
    pub(crate) async fn serve(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        url
    }

    /// A port that accepts connections and never answers, like a frozen process.
    pub(crate) async fn silent() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        url
    }

    fn ready_with(status: u16, body: serde_json::Value) -> axum::Router {
        let status = axum::http::StatusCode::from_u16(status).unwrap();
        axum::Router::new()
            .route(
                "/health/ready",
                axum::routing::get(move || {
                    let body = body.clone();
                    async move { (status, axum::Json(body)) }
                }),
            )
            .route("/health/live", axum::routing::get(|| async { "live" }))
    }

    async fn probe_of(url: &str) -> Probe {
        let endpoint = Endpoint::new("app", url);
        probe(
            &reqwest::Client::new(),
            &endpoint,
            Duration::from_millis(300),
        )
        .await
    }

    #[tokio::test]
    async fn a_ready_tier_and_one_whose_store_is_down_are_both_alive() {
        let ready = serve(ready_with(200, serde_json::json!({"status": "ready"}))).await;
        assert_eq!(probe_of(&ready).await, Probe::Alive);
        let store_down = serde_json::json!({"status": "unavailable", "reason": "store"});
        let store_down = serve(ready_with(503, store_down)).await;
        assert_eq!(probe_of(&store_down).await, Probe::Alive);
    }

    #[tokio::test]
    async fn a_draining_tier_is_gone() {
        let draining = serve(ready_with(503, serde_json::json!({"status": "draining"}))).await;
        assert_eq!(probe_of(&draining).await, Probe::Gone);
    }

    #[tokio::test]
    async fn a_tier_whose_readiness_hangs_on_its_store_but_which_is_alive_stays_alive() {
        let stuck = axum::Router::new()
            .route(
                "/health/ready",
                axum::routing::get(|| async {
                    // A pool waiting out its acquire timeout on a store that went away.
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "ready"
                }),
            )
            .route("/health/live", axum::routing::get(|| async { "live" }));
        let url = serve(stuck).await;
        let started = std::time::Instant::now();
        assert_eq!(probe_of(&url).await, Probe::Alive);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "bounded by the probe timeout"
        );
    }

    #[tokio::test]
    async fn a_silent_or_closed_port_is_gone() {
        assert_eq!(probe_of(&silent().await).await, Probe::Gone);
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", listener.local_addr().unwrap())
        };
        assert_eq!(probe_of(&closed).await, Probe::Gone);
    }
}
