//! Accounts people can trust, checked across the real tier processes: sign-in that
//! reveals nothing (PC-08), attempt limits, replayed and expired cookies (PC-11),
//! cross-site posts (PC-12), oversized bodies (PC-13), rejection text (PC-14), keys from
//! the environment with rotation, the account page, and a matrix of every route tried
//! with every kind of bad credential. Where the credentials store matters a test runs on
//! SQLite and on PostgreSQL; where a path matters, on the primary tiers and on the
//! failover gateway (with `app` killed).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, ORIGIN, SET_COOKIE};
use shared::tokens::{Key, KeyRing, mint_credential, unix_now};
use support::{Browser, Page, Stack, Tier, field_value, pairs, valid_match};

const PASSWORD: &str = "correct horse battery";

// ---- helpers -----------------------------------------------------------------------------

/// Which credentials store a stack runs on.
#[derive(Clone, Copy, Debug)]
enum Store {
    Sqlite,
    Postgres,
}

/// A stack on `store` with `extra` settings; `None` when PostgreSQL is skipped on purpose.
async fn stack_on(store: Store, extra: &[(&str, &str)]) -> Option<(Stack, Option<String>)> {
    let mut settings: Vec<(&str, String)> =
        extra.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let database = match store {
        Store::Sqlite => None,
        Store::Postgres => {
            if std::env::var("MATCHLOG_TEST_LOCAL_ONLY").is_ok_and(|v| v == "1") {
                eprintln!("skipped: MATCHLOG_TEST_LOCAL_ONLY=1, PostgreSQL not used");
                return None;
            }
            let name = format!("matchlog_sec_{}", uuid::Uuid::new_v4().simple());
            psql(&format!("CREATE DATABASE {name}"));
            settings.push(("MATCHLOG_CREDENTIALS_DB", database_url(&name)));
            Some(name)
        }
    };
    let borrowed: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Some((Stack::start_with(&borrowed).await, database))
}

fn drop_database(database: Option<String>) {
    if let Some(name) = database {
        psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

fn admin_url() -> String {
    std::env::var("MATCHLOG_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn database_url(name: &str) -> String {
    let url = admin_url();
    let base = url.split('?').next().unwrap_or(&url);
    let cut = base
        .rfind('/')
        .filter(|&i| i > "postgres://".len())
        .unwrap_or(base.len());
    format!("{}/{name}", &base[..cut])
}

/// Runs one statement with `psql` on the test server; fails saying what to start.
fn psql(statement: &str) {
    let output = Command::new("psql")
        .arg("-w")
        .arg(admin_url())
        .args(["-qtAc", statement])
        .output()
        .expect("psql runs (install PostgreSQL's client, or set MATCHLOG_TEST_LOCAL_ONLY=1)");
    assert!(
        output.status.success(),
        "PostgreSQL at MATCHLOG_TEST_POSTGRES_URL refused {statement:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The session cookie's value that a response set.
fn session_cookie_of(page: &Page) -> String {
    page.headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("matchlog_session="))
        .and_then(|v| v.split(';').next())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("no session cookie set: {:?}", page.headers))
        .to_string()
}

/// The `Max-Age` of the session cookie that a response set.
fn cookie_max_age(page: &Page) -> i64 {
    page.headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with("matchlog_session="))
        .flat_map(|v| v.split(';'))
        .find_map(|part| part.trim().strip_prefix("Max-Age="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Max-Age on the session cookie: {:?}", page.headers))
}

/// A client that sends exactly the cookies it is given and follows no redirect.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn read(response: reqwest::Response) -> Page {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    Page {
        status,
        headers,
        body,
    }
}

/// GET `path` on web with only this session cookie.
async fn get_with_cookie(stack: &Stack, path: &str, cookie: &str) -> Page {
    let request = raw_client()
        .get(format!("{}{path}", stack.web_url))
        .header(COOKIE, format!("matchlog_session={cookie}"));
    read(request.send().await.unwrap()).await
}

/// POST a form to web with only this session cookie.
async fn post_with_cookie(
    stack: &Stack,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
    origin: Option<&str>,
) -> Page {
    let mut request = raw_client()
        .post(format!("{}{path}", stack.web_url))
        .form(form);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, format!("matchlog_session={cookie}"));
    }
    if let Some(origin) = origin {
        request = request
            .header(ORIGIN, origin)
            .header("sec-fetch-site", "cross-site");
    }
    read(request.send().await.unwrap()).await
}

fn assert_signed_out(page: &Page, what: &str) {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{what}: {}", page.body);
    let location = page.location().unwrap_or_default();
    assert!(
        location == "/" || location.starts_with("/?next="),
        "{what}: redirected to {location:?}"
    );
}

/// A browser with an account, signed in; returns the browser and its session cookie.
async fn signed_up(stack: &Stack, name: &str) -> (Browser, String) {
    let browser = stack.browser();
    let page = browser.sign_up(name, PASSWORD).await;
    page.assert_redirect_to("/games");
    let cookie = session_cookie_of(&page);
    (browser, cookie)
}

/// Signs in a fresh browser and returns the session cookie.
async fn fresh_session(stack: &Stack, name: &str, password: &str) -> (Browser, String) {
    let browser = stack.browser();
    let page = browser.sign_in(name, password).await;
    page.assert_redirect_to("/games");
    let cookie = session_cookie_of(&page);
    (browser, cookie)
}

/// Signs in from a browser that still sends `stale` as its session cookie: it opens the
/// sign-in page (which sets the CSRF cookie) and posts the form, as a browser would.
async fn sign_in_holding(stack: &Stack, stale: &str, name: &str, password: &str) -> Page {
    let client = raw_client();
    let form_page = client
        .get(format!("{}/", stack.web_url))
        .header(COOKIE, format!("matchlog_session={stale}"))
        .send()
        .await
        .unwrap();
    let form_page = read(form_page).await;
    assert_eq!(form_page.status, StatusCode::OK, "{}", form_page.body);
    let csrf_cookie = form_page
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("matchlog_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("the sign-in page sets the CSRF cookie")
        .to_string();
    let csrf = form_page.csrf();
    let response = client
        .post(format!("{}/signin", stack.web_url))
        .header(
            COOKIE,
            format!("matchlog_session={stale}; matchlog_csrf={csrf_cookie}"),
        )
        .form(&[
            ("user_name", name),
            ("user_pass", password),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    read(response).await
}

/// Moves all traffic to the gateway: `app` is gone, so web's client fails over at once.
async fn kill_app(stack: &mut Stack) {
    stack.kill(Tier::App);
    // One page view lets web notice; the background probes confirm it shortly after.
    let _ = stack.browser().get("/").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
}

fn key_text(key: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key)
}

fn random_key() -> Vec<u8> {
    Key::generate().bytes().to_vec()
}

/// The texts of axum, serde and Rust that must never reach a client (PC-14).
fn assert_no_internal_text(body: &str, what: &str) {
    for leak in [
        "serde",
        "invalid type",
        "missing field",
        "unknown field",
        "Failed to deserialize",
        "Failed to parse",
        "expected ",
        "::",
        "panicked",
        "sqlx",
        "SQLITE",
        "governor",
        "Content-Type header",
    ] {
        assert!(!body.contains(leak), "{what}: {leak:?} leaked in:\n{body}");
    }
}

/// The headers every page carries: a content security policy without inline script that
/// forbids framing, nosniff, and a strict referrer policy.
fn assert_security_headers(page: &Page) {
    let header = |name: &str| {
        page.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let csp = header("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains("script-src 'none'") || !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(
        ["same-origin", "no-referrer", "strict-origin"]
            .contains(&header("referrer-policy").as_str()),
        "{}",
        header("referrer-policy")
    );
}

// ---- PC-08: sign-in that reveals nothing -----------------------------------------------

/// The body with the CSRF token and the typed name replaced, and the headers that may
/// differ (cookie values, request ids, dates) left out.
fn normalised(page: &Page, typed: &str) -> (StatusCode, Vec<(String, String)>, String) {
    let csrf = field_value(&page.body, "csrf").unwrap_or_default();
    let body = page.body.replace(&csrf, "CSRF").replace(typed, "NAME");
    let mut headers: Vec<(String, String)> = page
        .headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "x-request-id" | "date"))
        .map(|(name, value)| {
            let value = value.to_str().unwrap_or_default();
            let value = if name == SET_COOKIE {
                value.split_once('=').map_or("", |(n, _)| n).to_string()
            } else {
                value.to_string()
            };
            (name.to_string(), value)
        })
        .collect();
    headers.sort();
    (page.status, headers, body)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

async fn sign_in_reveals_nothing(store: Store) {
    let limits = [
        ("MATCHLOG_BCRYPT_COST", "10"),
        ("MATCHLOG_SIGNIN_ACCOUNT_BURST", "1000"),
        ("MATCHLOG_SIGNIN_CLIENT_BURST", "1000"),
    ];
    let Some((mut stack, database)) = stack_on(store, &limits).await else {
        return;
    };
    // Names of one length, so that even the echoed form has the same size.
    let (known, unknown) = ("known_user", "nobody_usr");
    signed_up(&stack, known).await;
    let browser = stack.browser();
    let csrf = browser.get("/").await.csrf();
    let mut answers = Vec::new();
    let (mut known_times, mut unknown_times) = (Vec::new(), Vec::new());
    for round in 0..40 {
        let name = if round % 2 == 0 { unknown } else { known };
        let form = [
            ("user_name", name),
            ("user_pass", "wrong password!"),
            ("csrf", csrf.as_str()),
        ];
        let started = Instant::now();
        let page = browser.post("/signin", &form).await;
        let took = started.elapsed();
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
        answers.push((name, normalised(&page, name)));
        if name == known {
            known_times.push(took);
        } else {
            unknown_times.push(took);
        }
    }
    let first = &answers[0].1;
    for (name, answer) in &answers {
        assert_eq!(answer, first, "the answer for {name} differs");
    }
    assert!(first.2.contains("Wrong user name or password."));
    let (k, u) = (median(known_times), median(unknown_times));
    let (slow, fast) = if k > u { (k, u) } else { (u, k) };
    assert!(
        slow < fast * 2,
        "median sign-in times differ by more than 2x: known {k:?}, unknown {u:?}"
    );
    assert!(
        fast > Duration::from_millis(10),
        "a cost-10 hash was checked for both: {fast:?}"
    );

    // The failover path answers in the very same way.
    kill_app(&mut stack).await;
    for name in [unknown, known, unknown, known] {
        let form = [
            ("user_name", name),
            ("user_pass", "wrong password!"),
            ("csrf", csrf.as_str()),
        ];
        let page = browser.post("/signin", &form).await;
        assert_eq!(&normalised(&page, name), first, "gateway: {name}");
    }
    drop(stack);
    drop_database(database);
}

#[tokio::test]
async fn sign_in_reveals_nothing_on_sqlite() {
    sign_in_reveals_nothing(Store::Sqlite).await;
}

#[tokio::test]
async fn sign_in_reveals_nothing_on_postgres() {
    sign_in_reveals_nothing(Store::Postgres).await;
}

// ---- brute-force brakes ------------------------------------------------------------------

#[tokio::test]
async fn too_many_wrong_passwords_get_a_friendly_wait_page_on_every_path() {
    let limits = [("MATCHLOG_SIGNIN_ACCOUNT_BURST", "3")];
    let (mut stack, _) = stack_on(Store::Sqlite, &limits).await.unwrap();
    signed_up(&stack, "target_user").await; // spends one attempt
    let browser = stack.browser();
    for _ in 0..2 {
        let page = browser.sign_in("target_user", "guess guess").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    let limited = browser.sign_in("target_user", PASSWORD).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    let wait: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    assert!(
        limited.body.contains("Too many attempts"),
        "{}",
        limited.body
    );
    assert!(limited.body.contains("seconds"), "{}", limited.body);
    assert_security_headers(&limited);
    assert_no_internal_text(&limited.body, "429 page");
    // Another account is not held up.
    signed_up(&stack, "other_user").await;

    // On the gateway the limit is counted again (per process), and answers the same way.
    kill_app(&mut stack).await;
    for _ in 0..3 {
        browser.sign_in("target_user", "guess guess").await;
    }
    let limited = browser.sign_in("target_user", PASSWORD).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert!(limited.headers.contains_key("retry-after"));
}

// ---- PC-11: replayed and expired cookies ---------------------------------------------

async fn replayed_and_expired_cookies_are_signed_out(store: Store) {
    let ttl = [("MATCHLOG_SESSION_TTL_SECONDS", "5")];
    let Some((mut stack, database)) = stack_on(store, &ttl).await else {
        return;
    };
    signed_up(&stack, "replay_me").await;
    for path in ["primary", "gateway"] {
        if path == "gateway" {
            kill_app(&mut stack).await;
        }
        // Sign in, copy the cookie, sign out, send the copy.
        // The cookie itself says when the session ends, as app configured it.
        let signed_in = stack.browser().sign_in("replay_me", PASSWORD).await;
        let max_age = cookie_max_age(&signed_in);
        assert!((3..=5).contains(&max_age), "{path}: Max-Age={max_age}");
        let (browser, copy) = fresh_session(&stack, "replay_me", PASSWORD).await;
        assert_eq!(
            get_with_cookie(&stack, "/games", &copy).await.status,
            StatusCode::OK
        );
        browser.sign_out().await.assert_redirect_to("/");
        let replayed = get_with_cookie(&stack, "/games", &copy).await;
        assert_signed_out(&replayed, &format!("{path}: replayed cookie"));

        // A cookie past the session's lifetime, kept by a client that ignores Max-Age.
        let (_browser, old) = fresh_session(&stack, "replay_me", PASSWORD).await;
        tokio::time::sleep(Duration::from_millis(6100)).await;
        let expired = get_with_cookie(&stack, "/games", &old).await;
        assert_signed_out(&expired, &format!("{path}: expired cookie"));
        let post = post_with_cookie(&stack, "/signout", Some(&old), &[("csrf", "x")], None).await;
        assert_eq!(post.status, StatusCode::FORBIDDEN, "{path}: a stale csrf");

        // Sign-in works from a clean browser and from one holding a stale cookie.
        fresh_session(&stack, "replay_me", PASSWORD).await;
        for stale in [&copy, &old] {
            let page = sign_in_holding(&stack, stale, "replay_me", PASSWORD).await;
            page.assert_redirect_to("/games");
            let renewed = session_cookie_of(&page);
            assert_ne!(&renewed, stale, "{path}: a new session");
            let games = get_with_cookie(&stack, "/games", &renewed).await;
            assert_eq!(games.status, StatusCode::OK, "{path}");
        }
    }
    drop(stack);
    drop_database(database);
}

#[tokio::test]
async fn replayed_and_expired_cookies_are_signed_out_on_sqlite() {
    replayed_and_expired_cookies_are_signed_out(Store::Sqlite).await;
}

#[tokio::test]
async fn replayed_and_expired_cookies_are_signed_out_on_postgres() {
    replayed_and_expired_cookies_are_signed_out(Store::Postgres).await;
}

// ---- PC-12: cross-site posts --------------------------------------------------------

#[tokio::test]
async fn cross_site_posts_are_refused_and_change_nothing_on_every_path() {
    let mut stack = Stack::start().await;
    let (browser, cookie) = signed_up(&stack, "victim").await;
    let evil = Some("http://evil.example");
    for path in ["primary", "gateway"] {
        if path == "gateway" {
            kill_app(&mut stack).await;
        }
        let stored_before = browser.match_ids("apex").await;
        let csrf = browser.get("/games").await.csrf();
        let values = valid_match("apex");
        let mut form = pairs(&values);
        let attacks: Vec<(&str, Vec<(&str, &str)>)> = vec![
            ("/games/apex", {
                form.push(("csrf", "guessed"));
                form.clone()
            }),
            (
                "/account/password",
                vec![
                    ("current_password", PASSWORD),
                    ("new_password", "attacker password"),
                    ("csrf", "guessed"),
                ],
            ),
            (
                "/account/delete",
                vec![("password", PASSWORD), ("csrf", "")],
            ),
            ("/signout", vec![("csrf", "")]),
        ];
        for (action, fields) in &attacks {
            // An auto-submitted form from another site, by a browser that sends cookies.
            let page = post_with_cookie(&stack, action, Some(&cookie), fields, evil).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{path} {action}");
            // Even with the real token, another site's post is refused by its origin.
            let mut with_token = fields.clone();
            with_token.retain(|(k, _)| *k != "csrf");
            with_token.push(("csrf", &csrf));
            let page = post_with_cookie(&stack, action, Some(&cookie), &with_token, evil).await;
            assert_eq!(
                page.status,
                StatusCode::FORBIDDEN,
                "{path} {action} + token"
            );
        }
        assert_eq!(
            browser.match_ids("apex").await,
            stored_before,
            "{path}: no match stored"
        );
        assert_eq!(
            browser.get("/games").await.status,
            StatusCode::OK,
            "{path}: still in"
        );
        fresh_session(&stack, "victim", PASSWORD).await;
        // The same forms from our own pages work.
        let saved = browser.record("apex", &pairs(&valid_match("apex"))).await;
        saved.assert_redirect_to("/games/apex");
    }
}

// ---- the account page --------------------------------------------------------------------

async fn the_account_page_changes_the_password_and_deletes_everything(store: Store) {
    let Some((mut stack, database)) = stack_on(store, &[]).await else {
        return;
    };
    for path in ["primary", "gateway"] {
        if path == "gateway" {
            kill_app(&mut stack).await;
        }
        let name = format!("owner_{path}");
        let (browser, _) = signed_up(&stack, &name).await;
        let (elsewhere, _) = fresh_session(&stack, &name, PASSWORD).await;
        for game in ["apex", "hots"] {
            browser
                .record(game, &pairs(&valid_match(game)))
                .await
                .assert_redirect_to(&format!("/games/{game}"));
        }
        let games = browser.get("/games").await;
        assert!(
            games.body.contains("href=\"/account\""),
            "the header links the page"
        );
        let account = browser.get("/account").await;
        assert_eq!(account.status, StatusCode::OK, "{}", account.body);

        let wrong = browser
            .submit(
                "/account",
                "/account/password",
                &[
                    ("current_password", "not it at all"),
                    ("new_password", "new password 1"),
                ],
            )
            .await;
        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            wrong.body.contains("not your current password"),
            "{}",
            wrong.body
        );
        let short = browser
            .submit(
                "/account",
                "/account/password",
                &[("current_password", PASSWORD), ("new_password", "short")],
            )
            .await;
        assert!(
            short.body.contains("at least 8 characters"),
            "{}",
            short.body
        );
        let changed = browser
            .submit(
                "/account",
                "/account/password",
                &[
                    ("current_password", PASSWORD),
                    ("new_password", "new password 1"),
                ],
            )
            .await;
        changed.assert_redirect_to("/account?notice=password");
        assert!(
            browser
                .follow(changed)
                .await
                .body
                .contains("password is changed")
        );
        assert_eq!(
            browser.get("/games").await.status,
            StatusCode::OK,
            "still signed in"
        );
        elsewhere.get("/games").await.assert_redirect_to("/");
        assert_eq!(
            stack.browser().sign_in(&name, PASSWORD).await.status,
            StatusCode::UNAUTHORIZED
        );

        let refused = browser
            .submit("/account", "/account/delete", &[("password", PASSWORD)])
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(browser.match_ids("apex").await.len(), 1, "nothing deleted");
        let deleted = browser
            .submit(
                "/account",
                "/account/delete",
                &[("password", "new password 1")],
            )
            .await;
        deleted.assert_redirect_to("/");
        browser.get("/games").await.assert_redirect_to("/");
        let again = stack.browser();
        assert_eq!(
            again.sign_in(&name, "new password 1").await.status,
            StatusCode::UNAUTHORIZED
        );
        again
            .sign_up(&name, PASSWORD)
            .await
            .assert_redirect_to("/games");
        for game in ["apex", "hots"] {
            assert!(again.match_ids(game).await.is_empty(), "{path} {game}");
        }
    }
    drop(stack);
    drop_database(database);
}

#[tokio::test]
async fn the_account_page_works_on_sqlite() {
    the_account_page_changes_the_password_and_deletes_everything(Store::Sqlite).await;
}

#[tokio::test]
async fn the_account_page_works_on_postgres() {
    the_account_page_changes_the_password_and_deletes_everything(Store::Postgres).await;
}

// ---- PC-13 and PC-14: oversized bodies and rejection text ----------------------------

#[tokio::test]
async fn oversized_bodies_get_a_clean_413_on_every_tier() {
    const LAMBDA_PAYLOAD_CAP: usize = 6 * 1024 * 1024;
    // Below Lambda's 6 MB (and so API Gateway's 10 MB): our 413 answers first.
    const { assert!(app::MAX_BODY_BYTES < LAMBDA_PAYLOAD_CAP) };
    const { assert!(crud::BODY_LIMIT < LAMBDA_PAYLOAD_CAP) };

    let stack = Stack::start().await;
    let browser = stack.browser();
    let csrf = browser.get("/").await.csrf();
    for size in [3 * 1024 * 1024, 1900 * 1024] {
        let filler = "x".repeat(size);
        let page = browser
            .post(
                "/signin",
                &[("user_name", "a"), ("user_pass", &filler), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE, "{size}");
        assert!(
            page.body.contains("Form too large"),
            "our page: {}",
            page.body
        );
    }

    let keys = KeyRing::new(Key::from_bytes(stack.internal_key.clone()).unwrap(), None);
    let user = uuid::Uuid::new_v4();
    let credential = mint_credential(&keys, Some(user), unix_now());
    let big = format!(
        "{{\"id\":\"{}\",\"fields\":{{\"map\":\"{}\"}}}}",
        uuid::Uuid::new_v4(),
        "y".repeat(2_500_000)
    );
    for tier in [Tier::Crud, Tier::Gateway, Tier::App] {
        let path = if tier == Tier::App {
            "/v1/sessions"
        } else {
            "/v1/games/hots/matches"
        };
        let response = raw_client()
            .post(format!("{}{path}", stack.url_of(tier)))
            .bearer_auth(&credential)
            .header(CONTENT_TYPE, "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap_or_else(|err| panic!("{tier:?}: the connection failed: {err}"));
        let page = read(response).await;
        assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE, "{tier:?}");
        let body: serde_json::Value = serde_json::from_str(&page.body).unwrap();
        assert_eq!(body["error"]["code"], "too_large", "{tier:?}");
    }
}

#[tokio::test]
async fn rejections_say_nothing_internal_on_every_tier() {
    let stack = Stack::start().await;
    let (browser, _) = signed_up(&stack, "plain_text").await;
    let anon = stack.browser();
    let csrf = anon.get("/").await.csrf();

    let missing = anon
        .post("/signin", &[("user_name", "x"), ("csrf", &csrf)])
        .await;
    for page in [
        &missing,
        &browser.get("/account").await,
        &anon.get("/nowhere").await,
    ] {
        assert_security_headers(page);
    }
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_no_internal_text(&missing.body, "sign-in without the password");
    let extra = anon
        .post(
            "/signin",
            &[
                ("user_name", "x"),
                ("user_pass", "y"),
                ("csrf", &csrf),
                ("admin", "1"),
            ],
        )
        .await;
    assert!(extra.status.is_client_error(), "{}", extra.status);
    assert_no_internal_text(&extra.body, "sign-in with an extra field");
    let page = browser.get("/games/apex?page=abc").await;
    assert_no_internal_text(&page.body, "?page=abc");
    let echoed = browser
        .get("/games/apex?legend=%3Cscript%3Ealert(1)%3C/script%3E")
        .await;
    assert!(
        !echoed.body.contains("<script>alert(1)"),
        "echoed input is escaped"
    );
    let text = raw_client()
        .post(format!("{}/signin", stack.web_url))
        .header(CONTENT_TYPE, "text/plain")
        .body("user_name=x&user_pass=y")
        .send()
        .await
        .unwrap();
    let text = read(text).await;
    assert!(text.status.is_client_error());
    assert_no_internal_text(&text.body, "web text/plain");

    let keys = KeyRing::new(Key::from_bytes(stack.internal_key.clone()).unwrap(), None);
    let credential = mint_credential(&keys, Some(uuid::Uuid::new_v4()), unix_now());
    let cases: [(Tier, &str, &str, &str); 8] = [
        (
            Tier::App,
            "/v1/sessions",
            "application/json",
            r#"{"user_name":1,"user_pass":[]}"#,
        ),
        (Tier::App, "/v1/sessions", "text/plain", "user_name=x"),
        (Tier::App, "/v1/accounts", "application/json", "{not json"),
        (
            Tier::Crud,
            "/v1/games/apex/matches",
            "application/json",
            r#"{"id":5}"#,
        ),
        (Tier::Crud, "/v1/games/apex/matches", "text/plain", "hello"),
        (
            Tier::Crud,
            "/v1/games/apex/matches?page=abc",
            "application/json",
            "{}",
        ),
        (
            Tier::Gateway,
            "/v1/sessions",
            "application/json",
            r#"{"user_name":true}"#,
        ),
        (
            Tier::Gateway,
            "/v1/games/apex/matches",
            "application/json",
            r#"{"fields":"x"}"#,
        ),
    ];
    for (tier, path, content_type, body) in cases {
        let response = raw_client()
            .post(format!("{}{path}", stack.url_of(tier)))
            .bearer_auth(&credential)
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let page = read(response).await;
        assert!(
            page.status.is_client_error(),
            "{tier:?} {path}: {}",
            page.status
        );
        let json: serde_json::Value = serde_json::from_str(&page.body)
            .unwrap_or_else(|_| panic!("{tier:?} {path}: not our JSON: {}", page.body));
        assert!(json["error"]["code"].is_string(), "{tier:?} {path}");
        assert_no_internal_text(&page.body, &format!("{tier:?} {path} {content_type}"));
    }
    let list = raw_client()
        .get(format!("{}/v1/games/apex/matches?page=abc", stack.crud_url))
        .bearer_auth(&credential)
        .send()
        .await
        .unwrap();
    let list = read(list).await;
    assert_eq!(list.status, StatusCode::BAD_REQUEST);
    assert_no_internal_text(&list.body, "crud ?page=abc");
}

// ---- keys from the environment, with rotation --------------------------------------

#[test]
fn production_refuses_to_start_without_keys() {
    for binary in ["app", "crud", "gateway", "web"] {
        let dir = std::env::temp_dir().join(format!("matchlog-nokeys-{}", uuid::Uuid::new_v4()));
        let output = Command::new(binary_path(binary))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MATCHLOG_ENV", "production")
            .env("MATCHLOG_DATA_DIR", &dir)
            .env("MATCHLOG_WEB_ADDR", "127.0.0.1:0")
            .env("MATCHLOG_APP_ADDR", "127.0.0.1:0")
            .env("MATCHLOG_CRUD_ADDR", "127.0.0.1:0")
            .env("MATCHLOG_GATEWAY_ADDR", "127.0.0.1:0")
            .output()
            .expect("run the binary");
        assert!(!output.status.success(), "{binary} started without keys");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(
            said.contains("MATCHLOG_SESSION_KEY") || said.contains("MATCHLOG_INTERNAL_KEY"),
            "{binary} names the missing key: {said}"
        );
        assert!(
            !dir.join("keys").exists(),
            "{binary} generated no key file in production"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}

fn binary_path(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().and_then(|p| p.parent()).unwrap().join(name);
    assert!(
        path.exists(),
        "build the binaries first: {}",
        path.display()
    );
    path
}

#[tokio::test]
async fn a_key_rotation_signs_nobody_out_and_retiring_the_old_key_does() {
    let (old_session, old_internal) = (random_key(), random_key());
    let (new_session, new_internal) = (random_key(), random_key());
    let mut stack = Stack::start_with(&[
        ("MATCHLOG_SESSION_KEY", &key_text(&old_session)),
        ("MATCHLOG_INTERNAL_KEY", &key_text(&old_internal)),
    ])
    .await;
    let (_browser, cookie) = signed_up(&stack, "rotating").await;
    assert_eq!(
        get_with_cookie(&stack, "/games", &cookie).await.status,
        StatusCode::OK
    );

    // Rotation: the new keys sign, the old ones still verify.
    stack.set_env("MATCHLOG_SESSION_KEY", &key_text(&new_session));
    stack.set_env("MATCHLOG_SESSION_KEY_PREVIOUS", &key_text(&old_session));
    stack.set_env("MATCHLOG_INTERNAL_KEY", &key_text(&new_internal));
    stack.set_env("MATCHLOG_INTERNAL_KEY_PREVIOUS", &key_text(&old_internal));
    stack.restart().await;
    let page = get_with_cookie(&stack, "/games", &cookie).await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "still signed in after the rotation"
    );
    // Forms shown before the rotation still post: the CSRF token verifies too.
    let csrf = field_value(&page.body, "csrf").unwrap();
    let (_fresh, new_cookie) = fresh_session(&stack, "rotating", PASSWORD).await;
    let old_keys = KeyRing::new(Key::from_bytes(old_internal.clone()).unwrap(), None);
    let old_credential = mint_credential(&old_keys, None, unix_now());
    assert_eq!(
        credential_verdict(&stack, &old_credential).await,
        "no_session",
        "a credential under the previous internal key still verifies"
    );

    // Retiring the old keys: what they sealed no longer opens.
    stack.remove_env("MATCHLOG_SESSION_KEY_PREVIOUS");
    stack.remove_env("MATCHLOG_INTERNAL_KEY_PREVIOUS");
    stack.restart().await;
    assert_signed_out(
        &get_with_cookie(&stack, "/games", &cookie).await,
        "a cookie sealed by the retired key",
    );
    let signout =
        post_with_cookie(&stack, "/signout", Some(&cookie), &[("csrf", &csrf)], None).await;
    assert_signed_out(&signout, "sign-out with the retired cookie");
    assert_eq!(
        get_with_cookie(&stack, "/games", &new_cookie).await.status,
        StatusCode::OK,
        "a cookie sealed by the new key stays valid"
    );
    assert_eq!(
        credential_verdict(&stack, &old_credential).await,
        "unauthenticated",
        "a credential under the retired internal key is refused"
    );
}

/// What app says to a session lookup without a session: `no_session` once the
/// credential verifies, `unauthenticated` when it does not.
async fn credential_verdict(stack: &Stack, credential: &str) -> String {
    let response = raw_client()
        .get(format!("{}/v1/sessions/current", stack.app_url))
        .bearer_auth(credential)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

// ---- the matrix: every route, every kind of bad credential --------------------------

/// Every page and form of web that needs a session, with Ann's match id filled in.
/// (`GET /games/apex/{id}` only redirects to the edit page, for anyone: it reads nothing.)
fn web_routes(id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GET", "/games".into()),
        ("GET", "/games/apex".into()),
        ("GET", "/games/apex/new".into()),
        ("GET", format!("/games/apex/{id}/edit")),
        ("GET", format!("/games/apex/{id}/delete")),
        ("GET", "/account".into()),
        ("POST", "/games/apex".into()),
        ("POST", format!("/games/apex/{id}")),
        ("POST", format!("/games/apex/{id}/delete")),
        ("POST", "/account/password".into()),
        ("POST", "/account/delete".into()),
        ("POST", "/signout".into()),
    ]
}

/// Every `/v1` route of app and crud (the gateway serves both sets).
fn api_routes(id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("POST", "/v1/accounts".into()),
        ("POST", "/v1/sessions".into()),
        ("GET", "/v1/sessions/current".into()),
        ("DELETE", "/v1/sessions/current".into()),
        ("PUT", "/v1/accounts/current/password".into()),
        ("DELETE", "/v1/accounts/current".into()),
        ("GET", "/v1/games/apex/matches".into()),
        ("POST", "/v1/games/apex/matches".into()),
        ("GET", format!("/v1/games/apex/matches/{id}")),
        ("PUT", format!("/v1/games/apex/matches/{id}")),
        ("DELETE", format!("/v1/games/apex/matches/{id}")),
        ("DELETE", "/v1/matches".into()),
    ]
}

/// Sends one web route with a cookie (or none) and a form holding `csrf` and valid values.
async fn try_web(
    stack: &Stack,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    csrf: &str,
) -> Page {
    let values = valid_match("apex");
    let mut form = pairs(&values);
    form.extend([
        ("csrf", csrf),
        ("current_password", PASSWORD),
        ("new_password", "taken over!"),
        ("password", PASSWORD),
    ]);
    if method == "GET" {
        let mut request = raw_client().get(format!("{}{path}", stack.web_url));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, format!("matchlog_session={cookie}"));
        }
        read(request.send().await.unwrap()).await
    } else {
        post_with_cookie(stack, path, cookie, &form, None).await
    }
}

async fn every_route_refuses_every_bad_credential(store: Store) {
    let ttl = [("MATCHLOG_SESSION_TTL_SECONDS", "4")];
    let Some((stack, database)) = stack_on(store, &ttl).await else {
        return;
    };
    let (ann, _) = signed_up(&stack, "ann_matrix").await;
    ann.record("apex", &pairs(&valid_match("apex")))
        .await
        .assert_redirect_to("/games/apex");
    let ann_id = ann.match_ids("apex").await.remove(0);
    let ann_edit = ann.get(&format!("/games/apex/{ann_id}/edit")).await.body;

    // The kinds of bad session, each with the CSRF token its own pages would carry.
    let (expired_browser, expired) = fresh_session(&stack, "ann_matrix", PASSWORD).await;
    let expired_csrf = expired_browser.get("/games").await.csrf();
    let (ended_browser, ended) = fresh_session(&stack, "ann_matrix", PASSWORD).await;
    let ended_csrf = ended_browser.get("/games").await.csrf();
    ended_browser.sign_out().await;
    let mut altered = expired.clone().into_bytes();
    altered[5] = if altered[5] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    tokio::time::sleep(Duration::from_millis(4500)).await;

    let bad: [(&str, Option<&str>, &str); 4] = [
        ("no session", None, ""),
        ("an expired session", Some(&expired), &expired_csrf),
        ("a signed-out session", Some(&ended), &ended_csrf),
        ("an altered cookie", Some(&altered), &expired_csrf),
    ];
    assert_web_refuses(&stack, &ann_id, &bad, "primary").await;
    // Bob's own session on Ann's match: not found, whatever the method. (Signed up only
    // now: sessions here live four seconds.)
    let (bob, bob_cookie) = signed_up(&stack, "bob_matrix").await;
    let bob_csrf = bob.get("/games").await.csrf();
    for (method, path) in web_routes(&ann_id) {
        if !path.contains(&ann_id) {
            continue;
        }
        let page = try_web(&stack, method, &path, Some(&bob_cookie), &bob_csrf).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "Bob: {method} {path}");
    }

    // Direct calls: no credential, a forged one, an expired one; and Bob's credential.
    let keys = KeyRing::new(Key::from_bytes(stack.internal_key.clone()).unwrap(), None);
    let forged = mint_credential(&KeyRing::generate(), None, unix_now());
    let stale = mint_credential(&keys, None, unix_now() - 3600);
    for tier in [Tier::App, Tier::Crud, Tier::Gateway] {
        for (method, path) in api_routes(&ann_id) {
            let served_by_tier = match tier {
                Tier::App => !path.contains("/games/") && path != "/v1/matches",
                Tier::Crud => path.contains("/games/") || path == "/v1/matches",
                _ => true,
            };
            if !served_by_tier {
                continue;
            }
            for credential in [None, Some(&forged), Some(&stale)] {
                let mut request = raw_client()
                    .request(
                        method.parse().unwrap(),
                        format!("{}{path}", stack.url_of(tier)),
                    )
                    .header(CONTENT_TYPE, "application/json")
                    .body(r#"{"user_name":"ann_matrix","user_pass":"correct horse battery"}"#);
                if let Some(credential) = credential {
                    request = request.bearer_auth(credential);
                }
                let status = request.send().await.unwrap().status();
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{tier:?} {method} {path}");
            }
        }
        if tier != Tier::App {
            let bob_id = bob_user_id(&stack, &bob_cookie).await;
            let as_bob = mint_credential(&keys, Some(bob_id), unix_now());
            for method in ["GET", "PUT", "DELETE"] {
                let response = raw_client()
                    .request(
                        method.parse().unwrap(),
                        format!("{}/v1/games/apex/matches/{ann_id}", stack.url_of(tier)),
                    )
                    .bearer_auth(&as_bob)
                    .header(CONTENT_TYPE, "application/json")
                    .body(valid_apex_update())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    response.status(),
                    StatusCode::NOT_FOUND,
                    "{tier:?} {method}"
                );
            }
        }
    }

    // The same pages and forms with every request on the failover gateway.
    let mut stack = stack;
    kill_app(&mut stack).await;
    assert_web_refuses(&stack, &ann_id, &bad, "gateway").await;

    // Nothing changed: Ann's match, her password and her session are as they were.
    let (ann_again, _) = fresh_session(&stack, "ann_matrix", PASSWORD).await;
    assert_eq!(ann_again.match_ids("apex").await, vec![ann_id.clone()]);
    let edit = ann_again
        .get(&format!("/games/apex/{ann_id}/edit"))
        .await
        .body;
    assert_eq!(
        strip_csrf(&edit),
        strip_csrf(&ann_edit),
        "Ann's match is unchanged"
    );
    assert_eq!(
        ann_again.get("/games").await.status,
        StatusCode::OK,
        "Ann signs in with her own password"
    );
    let (bob_again, _) = fresh_session(&stack, "bob_matrix", PASSWORD).await;
    assert!(bob_again.match_ids("apex").await.is_empty());
    drop(stack);
    drop_database(database);
}

/// A complete, valid update of an apex match: only ownership can refuse it.
fn valid_apex_update() -> String {
    serde_json::json!({"fields": {
        "date": support::today(), "mode": "trios", "result": "win", "legend": "Wraith",
        "kills": 60, "placement": 1, "damage": 1450, "time": "18:05", "teammates": ["Ann"]
    }})
    .to_string()
}

/// Every web route, tried with each bad session, is refused: a 403 or back to sign-in.
async fn assert_web_refuses(
    stack: &Stack,
    ann_id: &str,
    bad: &[(&str, Option<&str>, &str)],
    path_name: &str,
) {
    for (kind, cookie, csrf) in bad {
        for (method, path) in web_routes(ann_id) {
            let page = try_web(stack, method, &path, *cookie, csrf).await;
            let refused = page.status == StatusCode::FORBIDDEN
                || (page.status == StatusCode::SEE_OTHER
                    && page
                        .location()
                        .is_some_and(|l| l == "/" || l.starts_with("/?next=")));
            assert!(
                refused,
                "{path_name}, {kind}: {method} {path} answered {} {:?}",
                page.status,
                page.location()
            );
        }
    }
}

fn strip_csrf(html: &str) -> String {
    let csrf = field_value(html, "csrf").unwrap_or_default();
    html.replace(&csrf, "")
}

/// Bob's user id, read from app as web would.
async fn bob_user_id(stack: &Stack, _cookie: &str) -> uuid::Uuid {
    let keys = KeyRing::new(Key::from_bytes(stack.internal_key.clone()).unwrap(), None);
    let credential = mint_credential(&keys, None, unix_now());
    let response = raw_client()
        .post(format!("{}/v1/sessions", stack.gateway_url))
        .bearer_auth(credential)
        .json(&serde_json::json!({"user_name": "bob_matrix", "user_pass": PASSWORD}))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    body["user_id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn every_route_refuses_every_bad_credential_on_sqlite() {
    every_route_refuses_every_bad_credential(Store::Sqlite).await;
}

#[tokio::test]
async fn every_route_refuses_every_bad_credential_on_postgres() {
    every_route_refuses_every_bad_credential(Store::Postgres).await;
}
