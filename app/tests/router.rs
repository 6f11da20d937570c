//! In-process checks of the app router with `oneshot`: credentials between tiers, the
//! sign-up, sign-in, session and sign-out flow, look-alike names, racing sign-ups, the one
//! answer for unknown users and wrong passwords, and refusals in our own error shape.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use accounts_store::{AccountRecord, AccountStore, SessionOwner, StoreError, StoreSettings};
use app::AppState;
use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::{Value, json};
use shared::api::SESSION_HEADER;
use shared::auth::InternalKeys;
use shared::http::Lifecycle;
use shared::tokens::{KeyRing, mint_credential, random_token, token_digest, unix_now};
use shared::username::Username;
use tower::ServiceExt as _;
use uuid::Uuid;

/// The router on a fresh SQLite file, with the keys that mint its callers' credentials.
struct TestApp {
    router: Router,
    keys: KeyRing,
    store: Arc<dyn AccountStore>,
    lifecycle: Lifecycle,
    dir: PathBuf,
}

impl TestApp {
    async fn new() -> Self {
        Self::with_hashing(4, 4).await
    }

    async fn with_hashing(cost: u32, concurrency: usize) -> Self {
        let dir = std::env::temp_dir().join(format!("matchlog-app-{}", Uuid::new_v4()));
        let settings = StoreSettings {
            url: format!("sqlite://{}?mode=rwc", dir.join("credentials.db").display()),
            pool_size: 5,
            acquire_timeout: Duration::from_secs(5),
        };
        let store = accounts_store::connect_with(&settings).await.unwrap();
        Self::on_store(store, cost, concurrency, dir).await
    }

    async fn on_store(
        store: Arc<dyn AccountStore>,
        cost: u32,
        concurrency: usize,
        dir: PathBuf,
    ) -> Self {
        let keys = KeyRing::generate();
        let lifecycle = Lifecycle::default();
        let state = AppState::new(
            store.clone(),
            InternalKeys(keys.clone()),
            cost,
            concurrency,
            lifecycle.clone(),
        )
        .await
        .unwrap();
        Self {
            router: app::router(state),
            keys,
            store,
            lifecycle,
            dir,
        }
    }

    fn credential(&self) -> String {
        format!("Bearer {}", mint_credential(&self.keys, None, unix_now()))
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        send(self.router.clone(), request).await
    }

    fn request(&self, method: Method, path: &str) -> axum::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, self.credential())
    }

    async fn post_json(&self, path: &str, body: Value) -> Reply {
        let request = self
            .request(Method::POST, path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(request).await
    }

    async fn sign_up(&self, name: &str, pass: &str) -> Reply {
        self.post_json("/v1/accounts", credentials(name, pass))
            .await
    }

    async fn sign_in(&self, name: &str, pass: &str) -> Reply {
        self.post_json("/v1/sessions", credentials(name, pass))
            .await
    }

    async fn session(&self, token: &str) -> Reply {
        let request = self
            .request(Method::GET, "/v1/sessions/current")
            .header(SESSION_HEADER, token)
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    async fn sign_out(&self, token: &str) -> Reply {
        let request = self
            .request(Method::DELETE, "/v1/sessions/current")
            .header(SESSION_HEADER, token)
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    async fn get(&self, path: &str) -> Reply {
        let request = Request::get(path).body(Body::empty()).unwrap();
        self.send(request).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn credentials(name: &str, pass: &str) -> Value {
    json!({"user_name": name, "user_pass": pass})
}

/// A response read whole.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.text))
    }

    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

async fn send(router: Router, request: Request<Body>) -> Reply {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        text: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// Words that would betray serde, axum, SQL or Rust internals in a body.
const INTERNAL_WORDS: &[&str] = &[
    "serde",
    "axum",
    "Json",
    "deserialize",
    "invalid type",
    "missing field",
    "expected",
    "line ",
    "column",
    "::",
    "sqlx",
    "SQL",
    "INSERT",
    "SELECT",
    "constraint",
    "accounts.",
];

fn assert_nothing_internal(reply: &Reply, case: &str) {
    for word in INTERNAL_WORDS {
        assert!(
            !reply.text.contains(word),
            "{case}: body mentions {word:?}: {}",
            reply.text
        );
    }
}

// ---- credentials between tiers -------------------------------------------------------

#[tokio::test]
async fn every_route_refuses_a_missing_forged_or_expired_credential() {
    let app = TestApp::new().await;
    let stranger = KeyRing::generate();
    let now = unix_now();
    let refused_credentials = [
        ("missing", None),
        ("not bearer", Some("Basic YWRtaW46YWRtaW4=".to_string())),
        ("garbage", Some("Bearer not-a-credential".to_string())),
        (
            "forged",
            Some(format!("Bearer {}", mint_credential(&stranger, None, now))),
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                mint_credential(&app.keys, None, now - 120)
            )),
        ),
    ];
    let routes = [
        (Method::POST, "/v1/accounts"),
        (Method::POST, "/v1/sessions"),
        (Method::GET, "/v1/sessions/current"),
        (Method::DELETE, "/v1/sessions/current"),
    ];
    for (method, path) in routes {
        for (case, authorization) in &refused_credentials {
            let mut request = Request::builder()
                .method(method.clone())
                .uri(path)
                .header(header::CONTENT_TYPE, "application/json")
                .header(SESSION_HEADER, random_token());
            if let Some(value) = authorization {
                request = request.header(header::AUTHORIZATION, value);
            }
            let body = Body::from(credentials("Mallory", "password123").to_string());
            let reply = app.send(request.body(body).unwrap()).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {case}"
            );
            assert_eq!(reply.code(), "unauthenticated", "{method} {path} {case}");
        }
    }
    assert!(
        app.store.find_account("mallory").await.unwrap().is_none(),
        "no refused sign-up was stored"
    );
}

#[tokio::test]
async fn a_forged_sign_out_does_not_end_the_session() {
    let app = TestApp::new().await;
    app.sign_up("Gail", "password123").await;
    let token = app.sign_in("Gail", "password123").await.json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let forged = mint_credential(&KeyRing::generate(), None, unix_now());
    let request = Request::delete("/v1/sessions/current")
        .header(header::AUTHORIZATION, format!("Bearer {forged}"))
        .header(SESSION_HEADER, &token)
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(request).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.session(&token).await.status, StatusCode::OK);
}

// ---- the account and session flow ----------------------------------------------------

#[tokio::test]
async fn sign_up_sign_in_look_up_and_sign_out() {
    let app = TestApp::new().await;

    let created = app.sign_up("Ann.Lee", "correct horse").await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let account = created.json();
    assert_eq!(account["user_name"], "Ann.Lee");
    let user_id = account["user_id"].as_str().unwrap().to_string();
    assert!(!created.text.contains("correct horse"));

    let signed_in = app.sign_in("ann.lee", "correct horse").await;
    assert_eq!(signed_in.status, StatusCode::CREATED, "{}", signed_in.text);
    let session = signed_in.json();
    let token = session["token"].as_str().unwrap().to_string();
    assert!(token.len() >= 40, "a 256-bit token");
    assert_eq!(session["user_id"], user_id.as_str());
    assert_eq!(
        session["user_name"], "Ann.Lee",
        "the display form, not the typed one"
    );
    let expires_at = session["expires_at"].as_i64().unwrap();
    assert!((expires_at - (unix_now() + 86_400)).abs() <= 5, "24 hours");

    let current = app.session(&token).await;
    assert_eq!(current.status, StatusCode::OK);
    assert_eq!(
        current.json(),
        json!({"user_id": user_id, "user_name": "Ann.Lee", "expires_at": expires_at})
    );

    assert_eq!(app.sign_out(&token).await.status, StatusCode::NO_CONTENT);
    let after = app.session(&token).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.code(), "no_session");
    assert_eq!(
        app.sign_out(&token).await.status,
        StatusCode::NO_CONTENT,
        "signing out twice is fine"
    );
}

#[tokio::test]
async fn the_store_keeps_only_the_token_digest_and_the_24_hour_limit() {
    let app = TestApp::new().await;
    app.sign_up("Hal", "password123").await;
    let session = app.sign_in("Hal", "password123").await.json();
    let token = session["token"].as_str().unwrap();
    let expires_at = session["expires_at"].as_i64().unwrap();
    assert!(
        app.store
            .resolve_session(token, unix_now())
            .await
            .unwrap()
            .is_none()
    );
    let digest = token_digest(token);
    assert!(
        app.store
            .resolve_session(&digest, unix_now())
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        app.store
            .resolve_session(&digest, expires_at)
            .await
            .unwrap()
            .is_none(),
        "the server refuses the session once 24 hours have passed"
    );
}

#[tokio::test]
async fn unknown_expired_and_missing_sessions_are_refused() {
    let app = TestApp::new().await;
    let account = app.sign_up("Ivy", "password123").await.json();
    let user_id: Uuid = account["user_id"].as_str().unwrap().parse().unwrap();
    let expired = random_token();
    app.store
        .create_session(&token_digest(&expired), user_id, unix_now() - 1)
        .await
        .unwrap();

    for (case, token) in [
        ("unknown", random_token()),
        ("expired", expired),
        ("overlong", "x".repeat(5000)),
    ] {
        let reply = app.session(&token).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(reply.code(), "no_session", "{case}");
    }
    let without_header = Request::get("/v1/sessions/current")
        .header(header::AUTHORIZATION, app.credential())
        .body(Body::empty())
        .unwrap();
    let reply = app.send(without_header).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.code(), "no_session");
}

#[tokio::test]
async fn a_name_in_another_case_or_composition_is_taken() {
    let app = TestApp::new().await;
    assert_eq!(
        app.sign_up("Alice", "password123").await.status,
        StatusCode::CREATED
    );
    for variant in ["alice", "ALICE", " Alice "] {
        let reply = app.sign_up(variant, "password456").await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{variant}");
        assert_eq!(reply.code(), "name_taken", "{variant}");
    }
    assert_eq!(
        app.sign_up("\u{00C5}sa", "password123").await.status,
        StatusCode::CREATED
    );
    let decomposed = app.sign_up("A\u{030A}sa", "password456").await;
    assert_eq!(decomposed.status, StatusCode::CONFLICT);
    assert_eq!(decomposed.code(), "name_taken");

    let own_name_other_case = app.sign_in("aLiCe", "password123").await;
    assert_eq!(own_name_other_case.status, StatusCode::CREATED);
    assert_eq!(own_name_other_case.json()["user_name"], "Alice");
    let decomposed_sign_in = app.sign_in("a\u{030A}SA", "password123").await;
    assert_eq!(decomposed_sign_in.status, StatusCode::CREATED);
}

#[tokio::test]
async fn unknown_names_and_wrong_passwords_get_one_answer() {
    let app = TestApp::new().await;
    app.sign_up("Jo.Known", "password123").await;
    let wrong_password = app.sign_in("Jo.Known", "password999").await;
    let unknown_name = app.sign_in("Nobody.Here", "password123").await;
    let impossible_name = app.sign_in("no one", "password123").await;
    let overlong_password = app.sign_in("Jo.Known", &"p".repeat(300)).await;

    assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong_password.json(),
        json!({"error": {"code": "bad_credentials", "message": "Wrong user name or password."}})
    );
    for (case, reply) in [
        ("unknown name", &unknown_name),
        ("impossible name", &impossible_name),
        ("overlong password", &overlong_password),
    ] {
        assert_eq!(reply.status, wrong_password.status, "{case}");
        assert_eq!(reply.text, wrong_password.text, "{case}");
        assert_eq!(header_names(reply), header_names(&wrong_password), "{case}");
    }
}

fn header_names(reply: &Reply) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = reply
        .headers
        .iter()
        .filter(|(name, _)| *name != "x-request-id" && *name != header::DATE)
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_string()))
        .collect();
    headers.sort();
    headers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_sign_ups_for_one_name_have_one_winner() {
    let app = TestApp::new().await;
    let attempts: Vec<_> = (0..10)
        .map(|i| {
            let router = app.router.clone();
            let password = format!("password-{i}");
            let request = app
                .request(Method::POST, "/v1/accounts")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(credentials("Racer", &password).to_string()))
                .unwrap();
            tokio::spawn(async move { (password, send(router, request).await) })
        })
        .collect();
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    for attempt in attempts {
        let (password, reply) = attempt.await.unwrap();
        match reply.status {
            StatusCode::CREATED => winners.push(password),
            StatusCode::CONFLICT => {
                assert_eq!(reply.code(), "name_taken");
                losers.push(password);
            }
            other => panic!("a racing sign-up got {other}: {}", reply.text),
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(losers.len(), 9);
    assert_eq!(
        app.sign_in("racer", &winners[0]).await.status,
        StatusCode::CREATED
    );
    for loser in &losers {
        assert_eq!(
            app.sign_in("racer", loser).await.status,
            StatusCode::UNAUTHORIZED,
            "the stored hash is the winner's"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_sign_ups_and_sign_ins_all_succeed_on_sqlite() {
    let app = TestApp::new().await;
    let users: Vec<_> = (0..20)
        .map(|i| {
            let router = app.router.clone();
            let credential = app.credential();
            tokio::spawn(async move {
                let name = format!("player{i}");
                let post = |path: &str| {
                    Request::post(path)
                        .header(header::AUTHORIZATION, &credential)
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(Body::from(credentials(&name, "password123").to_string()))
                        .unwrap()
                };
                let signed_up = send(router.clone(), post("/v1/accounts")).await;
                let signed_in = send(router, post("/v1/sessions")).await;
                (signed_up.status, signed_in.status, signed_in.text)
            })
        })
        .collect();
    for user in users {
        let (signed_up, signed_in, text) = user.await.unwrap();
        assert_eq!(signed_up, StatusCode::CREATED);
        assert_eq!(signed_in, StatusCode::CREATED, "{text}");
    }
}

// ---- bad input -----------------------------------------------------------------------

#[tokio::test]
async fn bad_sign_up_values_are_named_by_field() {
    let app = TestApp::new().await;
    let cases = [
        ("ab", "password123", vec!["user_name"]),
        ("ann lee", "password123", vec!["user_name"]),
        ("<script>", "password123", vec!["user_name"]),
        ("", "", vec!["user_name", "user_pass"]),
        ("Kim", "short", vec!["user_pass"]),
        ("Kim", &"é".repeat(40), vec!["user_pass"]),
    ];
    for (name, pass, fields) in cases {
        let reply = app.sign_up(name, pass).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
        let body = reply.json();
        assert_eq!(body["error"]["code"], "invalid", "{name:?}");
        let named: Vec<&str> = body["error"]["fields"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(named, fields, "{name:?}");
        assert!(!reply.text.contains("<script>"), "input is not echoed");
    }
    assert!(app.store.find_account("kim").await.unwrap().is_none());
}

#[tokio::test]
async fn unreadable_bodies_get_our_error_shape_and_no_internal_text() {
    let app = TestApp::new().await;
    let json_type = Some("application/json");
    let cases: Vec<(&str, Option<&str>, String, StatusCode)> = vec![
        (
            "missing password",
            json_type,
            json!({"user_name": "Lou"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "password as a number",
            json_type,
            json!({"user_name": "Lou", "user_pass": 12345678}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "array instead of object",
            json_type,
            "[1,2]".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "not JSON",
            json_type,
            "user_name=Lou".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "cut short",
            json_type,
            "{\"user_name\":".into(),
            StatusCode::BAD_REQUEST,
        ),
        ("empty", json_type, String::new(), StatusCode::BAD_REQUEST),
        (
            "text/plain",
            Some("text/plain"),
            credentials("Lou", "password123").to_string(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "no content type",
            None,
            credentials("Lou", "password123").to_string(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "too large",
            json_type,
            credentials("Lou", &"p".repeat(100_000)).to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for path in ["/v1/accounts", "/v1/sessions"] {
        for (case, content_type, body, status) in &cases {
            let mut request = app.request(Method::POST, path);
            if let Some(content_type) = content_type {
                request = request.header(header::CONTENT_TYPE, *content_type);
            }
            let reply = app
                .send(request.body(Body::from(body.clone())).unwrap())
                .await;
            assert_eq!(reply.status, *status, "{path} {case}: {}", reply.text);
            let error = &reply.json()["error"];
            assert!(error["code"].is_string(), "{path} {case}");
            assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
            assert_eq!(
                reply.headers[header::CONTENT_TYPE],
                "application/json",
                "{path} {case}"
            );
            assert_nothing_internal(&reply, &format!("{path} {case}"));
            assert!(!reply.text.contains("12345678"), "the body is not echoed");
        }
    }
}

#[tokio::test]
async fn an_unknown_address_is_a_json_404() {
    let app = TestApp::new().await;
    let reply = app.get("/v1/nothing-here").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.code(), "not_found");
}

// ---- health and store failures -------------------------------------------------------

#[tokio::test]
async fn liveness_and_readiness_answer_and_readiness_drains() {
    let app = TestApp::new().await;
    assert_eq!(app.get("/health/live").await.status, StatusCode::OK);
    assert_eq!(app.get("/health/ready").await.status, StatusCode::OK);
    app.lifecycle.start_draining();
    assert_eq!(
        app.get("/health/ready").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(app.get("/health/live").await.status, StatusCode::OK);
}

/// A store whose every call fails the same way.
struct BrokenStore {
    unavailable: bool,
}

impl BrokenStore {
    fn fail(&self) -> StoreError {
        let source = "connection to 10.9.8.7 refused; SELECT password_hash FROM accounts".into();
        if self.unavailable {
            StoreError::Unavailable {
                action: "look up an account",
                source,
            }
        } else {
            StoreError::Internal {
                action: "look up an account",
                source,
            }
        }
    }
}

#[async_trait]
impl AccountStore for BrokenStore {
    async fn create_account(
        &self,
        _: Uuid,
        _: &Username,
        _: &str,
    ) -> Result<AccountRecord, StoreError> {
        Err(self.fail())
    }
    async fn find_account(&self, _: &str) -> Result<Option<AccountRecord>, StoreError> {
        Err(self.fail())
    }
    async fn account(&self, _: Uuid) -> Result<Option<AccountRecord>, StoreError> {
        Err(self.fail())
    }
    async fn set_password(&self, _: Uuid, _: &str, _: &str) -> Result<bool, StoreError> {
        Err(self.fail())
    }
    async fn create_session(&self, _: &str, _: Uuid, _: i64) -> Result<(), StoreError> {
        Err(self.fail())
    }
    async fn resolve_session(&self, _: &str, _: i64) -> Result<Option<SessionOwner>, StoreError> {
        Err(self.fail())
    }
    async fn delete_session(&self, _: &str) -> Result<(), StoreError> {
        Err(self.fail())
    }
    async fn delete_other_sessions(&self, _: Uuid, _: &str) -> Result<u64, StoreError> {
        Err(self.fail())
    }
    async fn delete_account(&self, _: Uuid) -> Result<bool, StoreError> {
        Err(self.fail())
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Err(self.fail())
    }
}

#[tokio::test]
async fn store_failures_answer_503_or_500_with_a_generic_body() {
    for (unavailable, status, code) in [
        (true, StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (false, StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    ] {
        let dir = std::env::temp_dir().join(format!("matchlog-app-{}", Uuid::new_v4()));
        let store = Arc::new(BrokenStore { unavailable });
        let app = TestApp::on_store(store, 4, 2, dir).await;
        let replies = [
            app.sign_up("Max", "password123").await,
            app.sign_in("Max", "password123").await,
            app.session(&random_token()).await,
            app.sign_out(&random_token()).await,
        ];
        for reply in &replies {
            assert_eq!(reply.status, status, "{}", reply.text);
            assert_eq!(reply.code(), code);
            assert!(
                reply.headers.contains_key("x-request-id"),
                "the id to quote"
            );
            assert!(!reply.text.contains("10.9.8.7"));
            assert!(!reply.text.contains("password_hash"));
            assert_nothing_internal(reply, code);
        }
        let ready = app.get("/health/ready").await;
        assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!ready.text.contains("10.9.8.7"));
        assert_eq!(app.get("/health/live").await.status, StatusCode::OK);
    }
}

// ---- hashing stays off the async workers ---------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_answers_fast_while_many_hashes_run() {
    // As many hashes at once as async workers: run on the workers, they would hold both
    // and liveness would wait about one hash. The cost is raised until one hash takes at
    // least 150 ms on this machine.
    let (cost, one_hash) = cost_for_slow_hashes(Duration::from_millis(150)).await;
    let app = TestApp::with_hashing(cost, 2).await;
    app.sign_up("Nia", "password123").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, app.router.clone()).into_future());

    // Probed from a plain thread, as a load balancer would: nothing in this runtime
    // helps the probe along.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = std::thread::spawn({
        let stop = stop.clone();
        move || probe_liveness_until(addr, &stop)
    });
    let sign_ins: Vec<_> = (0..6)
        .map(|_| {
            let router = app.router.clone();
            let request = app
                .request(Method::POST, "/v1/sessions")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(credentials("Nia", "password123").to_string()))
                .unwrap();
            tokio::spawn(async move { send(router, request).await.status })
        })
        .collect();
    for sign_in in sign_ins {
        assert_eq!(sign_in.await.unwrap(), StatusCode::CREATED);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (probes, slowest) = tokio::task::spawn_blocking(move || prober.join().unwrap())
        .await
        .unwrap();
    server.abort();
    assert!(probes >= 5, "only {probes} probes ran");
    assert!(
        slowest < one_hash / 2,
        "liveness took {slowest:?}; one hash takes {one_hash:?}"
    );
}

/// Polls `GET /health/live` every 10 ms until `stop`; returns the count and the slowest.
fn probe_liveness_until(
    addr: std::net::SocketAddr,
    stop: &std::sync::atomic::AtomicBool,
) -> (u32, Duration) {
    use std::io::{Read as _, Write as _};
    let mut probes = 0;
    let mut slowest = Duration::ZERO;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let started = Instant::now();
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /health/live HTTP/1.1\r\nhost: app\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        slowest = slowest.max(started.elapsed());
        probes += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    (probes, slowest)
}

/// The lowest bcrypt cost from 10 up whose hash takes at least `floor`, and that time.
async fn cost_for_slow_hashes(floor: Duration) -> (u32, Duration) {
    let mut cost = 10;
    loop {
        let started = Instant::now();
        app::hashing::Hasher::new(cost, 1).await.unwrap();
        let took = started.elapsed();
        if took >= floor || cost == 16 {
            return (cost, took);
        }
        cost += 1;
    }
}
