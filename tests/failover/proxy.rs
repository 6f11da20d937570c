//! Stand-ins for a misbehaving tier, run inside the test: an HTTP proxy in front of the
//! real `app` that can delay every answer or fail chosen readiness probes, and a listener
//! that accepts connections and never answers.

#![allow(dead_code)] // Shared by the failover tests and the failover benchmark, which use different parts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How the proxy treats what passes through it.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Forward as it comes.
    Pass,
    /// Forward, but answer each request only after this long.
    Delay(Duration),
    /// Forward, except readiness probes: probe number `n` (from 0) fails when
    /// `pattern[n % pattern.len()]` is false.
    Probes(Vec<bool>),
}

struct Shared {
    target: Mutex<Option<String>>,
    behaviour: Mutex<Behaviour>,
    probes: AtomicU64,
    http: reqwest::Client,
}

/// A proxy on a free loopback port; stops when dropped.
pub struct Proxy {
    pub url: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy with no target yet: until [`Proxy::target`] names one, readiness
    /// probes hear "alive, a dependency is missing" (which moves no traffic) and any other
    /// request gets a 503.
    pub async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let shared = Arc::new(Shared {
            target: Mutex::new(None),
            behaviour: Mutex::new(Behaviour::Pass),
            probes: AtomicU64::new(0),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("the proxy's client"),
        });
        let router = Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("the proxy serves");
        });
        Proxy { url, shared, task }
    }

    pub fn target(&self, base_url: &str) {
        *self.shared.target.lock().unwrap() = Some(base_url.trim_end_matches('/').into());
    }

    pub fn behave(&self, behaviour: Behaviour) {
        self.shared.probes.store(0, Ordering::SeqCst);
        *self.shared.behaviour.lock().unwrap() = behaviour;
    }

    /// Readiness probes seen since the last [`Proxy::behave`].
    pub fn probes(&self) -> u64 {
        self.shared.probes.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let is_probe = request.uri().path() == "/health/ready";
    let Some(target) = shared.target.lock().unwrap().clone() else {
        return not_yet(is_probe);
    };
    let behaviour = shared.behaviour.lock().unwrap().clone();
    match behaviour {
        Behaviour::Pass => {}
        Behaviour::Delay(delay) => tokio::time::sleep(delay).await,
        Behaviour::Probes(pattern) if is_probe => {
            let n = shared.probes.fetch_add(1, Ordering::SeqCst) as usize;
            if !pattern[n % pattern.len()] {
                // What a tier that is shutting down answers: gone for routing.
                let body = serde_json::json!({"status": "draining"});
                return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
            }
        }
        Behaviour::Probes(_) => {}
    }
    relay(&shared.http, &target, request).await
}

fn not_yet(is_probe: bool) -> Response {
    let body = if is_probe {
        serde_json::json!({"status": "unavailable", "reason": "proxy target not set"})
    } else {
        serde_json::json!({"error": {"code": "unavailable", "message": "not ready"}})
    };
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

/// Sends the request on to `target` and brings the answer back whole.
async fn relay(http: &reqwest::Client, target: &str, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let body = axum::body::to_bytes(body, 4 << 20)
        .await
        .unwrap_or_default();
    let sent = http
        .request(parts.method, format!("{target}{path}"))
        .headers(end_to_end(&parts.headers))
        .body(body)
        .send()
        .await;
    let Ok(answer) = sent else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let headers = end_to_end(answer.headers());
    let bytes = answer.bytes().await.unwrap_or_default();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The headers that belong to the message, not to one connection.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    for name in [
        "host",
        "connection",
        "content-length",
        "transfer-encoding",
        "keep-alive",
    ] {
        kept.remove(name);
    }
    kept
}

/// A listener that accepts every connection and never answers, holding each socket open.
pub struct Silent {
    task: JoinHandle<()>,
}

impl Silent {
    /// Binds `addr` (a port a killed tier just left) and starts swallowing connections.
    pub async fn bind(addr: &str) -> Silent {
        let listener = TcpListener::bind(addr)
            .await
            .unwrap_or_else(|err| panic!("bind {addr} for the silent listener: {err}"));
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        Silent { task }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP relay in front of a store (PostgreSQL) that can be cut: while cut, connections
/// are refused and those open are closed, as when the store's host goes away.
pub struct Cut {
    pub port: u16,
    target: String,
    open: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl Cut {
    /// Relays a free loopback port to `target` (`host:port`).
    pub async fn start(target: &str) -> Cut {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the relay");
        let cut = Cut {
            port: listener.local_addr().expect("relay address").port(),
            target: target.to_string(),
            open: Arc::new(Mutex::new(Vec::new())),
            accept: Mutex::new(None),
        };
        cut.serve(listener);
        cut
    }

    fn serve(&self, listener: TcpListener) {
        let target = self.target.clone();
        let open = Arc::clone(&self.open);
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let relay = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                open.lock().unwrap().push(relay.abort_handle());
            }
        });
        *self.accept.lock().unwrap() = Some(task);
    }

    /// Refuses new connections and closes every open one.
    pub fn cut(&self) {
        if let Some(task) = self.accept.lock().unwrap().take() {
            task.abort();
        }
        for relay in self.open.lock().unwrap().drain(..) {
            relay.abort();
        }
    }

    /// Takes connections again on the same port.
    pub async fn restore(&self) {
        // The aborted accept task lets go of the port as soon as it is dropped.
        for _ in 0..100 {
            if let Ok(listener) = TcpListener::bind(("127.0.0.1", self.port)).await {
                self.serve(listener);
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the relay's port {} stayed taken", self.port);
    }
}

impl Drop for Cut {
    fn drop(&mut self) {
        self.cut();
    }
}
