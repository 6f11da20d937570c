//! The Lambda entry points against TCP. Each tier's router is built the way its binaries
//! build it, served on 127.0.0.1 and also fed API Gateway event documents through
//! `lambda::invoke`: REST API events (payload 1.0, behind the stage `prod`) and HTTP API
//! events (payload 2.0, stage `$default`). For each request the three answers must agree
//! on status, headers, cookies and body (PC-04, PC-05, PC-06).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use shared::config::Config;
use shared::http::Lifecycle;
use shared::tokens::{self, mint_credential, unix_now};

const SESSION_KEY: &str = "bGFtYmRhLXRlc3RzLXNlc3Npb24ta2V5LTAxMjM0NTY3ODk=";
const INTERNAL_KEY: &str = "bGFtYmRhLXRlc3RzLWludGVybmFsLWtleS0wMTIzNDU2Nzg5";
/// The signed-out CSRF token each test browser holds, as cookie and form field.
const CSRF: &str = "lambda-tests-csrf-token-0123456789";
/// Form values that break naive decoding: non-ASCII and `& = + %` inside one value.
const TRICKY: &str = "Åsa & Bo=1+2%";
const PASSWORD: &str = "Åsa & Bo=1+2% secret";
const API_HOST: &str = "abc123.execute-api.eu-west-1.amazonaws.com";

/// A tier's router, and the same router served over TCP.
#[derive(Clone)]
struct Tier {
    router: Router,
    url: String,
}

/// web, app and crud on SQLite stores in a fresh directory, with explicit keys.
struct Stack {
    web: Tier,
    app: Tier,
    crud: Tier,
    config: Config,
    data_dir: PathBuf,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

async fn listen() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

fn serve(listener: tokio::net::TcpListener, router: Router, url: String) -> Tier {
    let served = router.clone();
    tokio::spawn(async move {
        shared::http::serve_until(
            listener,
            served,
            Lifecycle::default(),
            std::future::pending(),
        )
        .await
    });
    Tier { router, url }
}

/// The settings every tier of a test stack shares, with `extra` on top.
fn config(data_dir: &std::path::Path, upstreams: [&str; 3], extra: &[(&str, &str)]) -> Config {
    let [app_url, crud_url, gateway_url] = upstreams;
    let mut pairs = vec![
        ("MATCHLOG_DATA_DIR", data_dir.display().to_string()),
        ("MATCHLOG_SESSION_KEY", SESSION_KEY.into()),
        ("MATCHLOG_INTERNAL_KEY", INTERNAL_KEY.into()),
        ("MATCHLOG_BCRYPT_COST", "4".into()),
        ("MATCHLOG_APP_URL", app_url.into()),
        ("MATCHLOG_CRUD_URL", crud_url.into()),
        ("MATCHLOG_GATEWAY_URL", gateway_url.into()),
        ("MATCHLOG_UPSTREAM_TIMEOUT_MS", "5000".into()),
    ];
    pairs.extend(extra.iter().map(|(name, value)| (*name, value.to_string())));
    Config::from_lookup(|name| {
        pairs
            .iter()
            .rev()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    })
    .expect("the test configuration is valid")
}

async fn stack() -> Stack {
    stack_with(&[]).await
}

async fn stack_with(extra: &[(&str, &str)]) -> Stack {
    let data_dir = std::env::temp_dir().join(format!("matchlog-lambda-{}", uuid::Uuid::new_v4()));
    let (app_listener, app_url) = listen().await;
    let (crud_listener, crud_url) = listen().await;
    let (web_listener, web_url) = listen().await;
    // No gateway here: a port that was free a moment ago, so a failover fails at once.
    let (gateway_listener, gateway_url) = listen().await;
    drop(gateway_listener);
    let config = config(&data_dir, [&app_url, &crud_url, &gateway_url], extra);
    config.ensure_data_dir().unwrap();
    let app = app::build(&config).await.expect("app builds");
    let crud = crud::build(&config).await.expect("crud builds");
    let web = web::build(&config).await.expect("web builds");
    Stack {
        app: serve(app_listener, app, app_url),
        crud: serve(crud_listener, crud, crud_url),
        web: serve(web_listener, web, web_url),
        config,
        data_dir,
    }
}

// ----- requests -----------------------------------------------------------------------

/// One request as a client sends it; the same value becomes a TCP request and two events.
#[derive(Clone, Debug)]
struct Call {
    method: &'static str,
    /// Path and query exactly as sent on the wire.
    target: String,
    headers: Vec<(String, String)>,
    cookies: Vec<String>,
    body: Option<Vec<u8>>,
    /// The events carry the body base64-encoded, as API Gateway does for form posts.
    base64: bool,
    /// The cookies go in separate `Cookie` headers, as HTTP/2 browsers send them.
    split_cookies: bool,
}

static CALLS: AtomicUsize = AtomicUsize::new(0);

impl Call {
    fn new(method: &'static str, target: &str) -> Self {
        // One request id for all three sends, so ids on pages and headers agree.
        let id = format!("lambda-case-{}", CALLS.fetch_add(1, Ordering::Relaxed));
        Self {
            method,
            target: target.into(),
            headers: vec![("x-request-id".into(), id)],
            cookies: Vec::new(),
            body: None,
            base64: false,
            split_cookies: false,
        }
    }

    fn get(target: &str) -> Self {
        Self::new("GET", target)
    }

    fn form(target: &str, fields: &[(&str, &str)]) -> Self {
        let body: Vec<String> = fields
            .iter()
            .map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value)))
            .collect();
        let mut call =
            Self::new("POST", target).header("content-type", "application/x-www-form-urlencoded");
        call.body = Some(body.join("&").into_bytes());
        call.base64 = true;
        call
    }

    fn json(method: &'static str, target: &str, body: &Value) -> Self {
        let mut call = Self::new(method, target).header("content-type", "application/json");
        call.body = Some(body.to_string().into_bytes());
        call
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn cookie(mut self, pair: &str) -> Self {
        self.cookies.push(pair.into());
        self
    }

    /// A signed-out browser that has seen a form: it holds the CSRF cookie.
    fn with_csrf_cookie(self) -> Self {
        self.cookie(&format!("{}={CSRF}", web::CSRF_COOKIE))
    }

    fn credential(self, stack: &Stack, user: Option<uuid::Uuid>) -> Self {
        let token = mint_credential(&stack.config.internal_keys, user, unix_now());
        self.header("authorization", &format!("Bearer {token}"))
    }

    fn path_and_query(&self) -> (&str, &str) {
        self.target
            .split_once('?')
            .unwrap_or((self.target.as_str(), ""))
    }
}

/// Form encoding as a browser does it: space as `+`, everything else not unreserved as %XX.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The decoded name/value pairs of a query, as API Gateway hands a REST API's query over.
fn decode_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(name), form_decode(value))
        })
        .collect()
}

fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'+' => out.push(b' '),
            b'%' if at + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[at + 1..at + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                at += 2;
            }
            other => out.push(other),
        }
        at += 1;
    }
    String::from_utf8(out).unwrap()
}

// ----- the three ways in --------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Tcp,
    /// API Gateway REST API, payload 1.0, stage `prod`.
    Rest,
    /// API Gateway HTTP API, payload 2.0, stage `$default`.
    Http,
}

const EVENTS: [Via; 2] = [Via::Rest, Via::Http];

/// What came back, in a form the three ways can be compared in.
#[derive(Clone, Debug, PartialEq)]
struct Answer {
    status: u16,
    /// Lower-case names; repeated headers joined with ", ". Transport headers left out.
    headers: BTreeMap<String, String>,
    /// Each `Set-Cookie`, in order.
    cookies: Vec<String>,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("a text body")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    /// The value the response sets for cookie `name`.
    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.iter().find_map(|cookie| {
            let pair = cookie.split(';').next()?;
            let (key, value) = pair.split_once('=')?;
            (key == name).then(|| value.to_string())
        })
    }

    /// The same answer with each cookie's value blanked, for answers that set a fresh
    /// random token: names and attributes must still agree.
    fn masked(&self) -> Self {
        let mut masked = self.clone();
        for cookie in &mut masked.cookies {
            let (pair, attributes) = cookie.split_once(';').unwrap_or((cookie, ""));
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            *cookie = format!("{name}=…;{attributes}");
        }
        masked
    }
}

/// Headers that belong to one connection, not to the answer.
fn is_transport(name: &str) -> bool {
    matches!(
        name,
        "date" | "content-length" | "transfer-encoding" | "connection" | "keep-alive"
    )
}

async fn send(tier: &Tier, call: &Call, via: Via) -> Answer {
    match via {
        Via::Tcp => over_tcp(tier, call).await,
        Via::Rest => as_event(tier, rest_event(call)).await,
        Via::Http => as_event(tier, http_event(call)).await,
    }
}

/// The answers over TCP, as a REST event and as an HTTP API event, in that order.
async fn send_all(tier: &Tier, call: &Call) -> [Answer; 3] {
    [
        send(tier, call, Via::Tcp).await,
        send(tier, call, Via::Rest).await,
        send(tier, call, Via::Http).await,
    ]
}

/// Sends `call` all three ways and requires the same answer; returns it.
async fn same_everywhere(tier: &Tier, call: &Call) -> Answer {
    let [tcp, rest, http] = send_all(tier, call).await;
    assert_same(&tcp, &rest, Via::Rest, call);
    assert_same(&tcp, &http, Via::Http, call);
    tcp
}

fn assert_same(tcp: &Answer, event: &Answer, via: Via, call: &Call) {
    let what = format!("{} {} as a {via:?} event", call.method, call.target);
    assert_eq!(event.status, tcp.status, "status of {what}");
    assert_eq!(event.headers, tcp.headers, "headers of {what}");
    assert_eq!(event.cookies, tcp.cookies, "cookies of {what}");
    assert!(
        event.body == tcp.body,
        "body of {what}:\n--- tcp\n{}\n--- event\n{}",
        String::from_utf8_lossy(&tcp.body),
        String::from_utf8_lossy(&event.body)
    );
}

async fn over_tcp(tier: &Tier, call: &Call) -> Answer {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let method = reqwest::Method::from_bytes(call.method.as_bytes()).unwrap();
    let mut request = client.request(method, format!("{}{}", tier.url, call.target));
    for (name, value) in &call.headers {
        request = request.header(name, value);
    }
    for cookie in cookie_headers(call) {
        request = request.header("cookie", cookie);
    }
    if let Some(body) = &call.body {
        request = request.body(body.clone());
    }
    let response = request.send().await.expect("the TCP request is answered");
    let mut answer = Answer {
        status: response.status().as_u16(),
        headers: BTreeMap::new(),
        cookies: Vec::new(),
        body: Vec::new(),
    };
    for (name, value) in response.headers() {
        let value = value.to_str().unwrap().to_string();
        add_header(&mut answer, name.as_str(), value);
    }
    answer.body = response.bytes().await.unwrap().to_vec();
    answer
}

fn add_header(answer: &mut Answer, name: &str, value: String) {
    let name = name.to_ascii_lowercase();
    if name == "set-cookie" {
        answer.cookies.push(value);
    } else if !is_transport(&name) {
        answer
            .headers
            .entry(name)
            .and_modify(|joined| *joined = format!("{joined}, {value}"))
            .or_insert(value);
    }
}

/// The `Cookie` header values the client sends: one, or one per cookie when split.
fn cookie_headers(call: &Call) -> Vec<String> {
    if call.cookies.is_empty() {
        Vec::new()
    } else if call.split_cookies {
        call.cookies.clone()
    } else {
        vec![call.cookies.join("; ")]
    }
}

fn event_body(call: &Call) -> Value {
    match &call.body {
        None => Value::Null,
        Some(bytes) if call.base64 => json!(STANDARD.encode(bytes)),
        Some(bytes) => json!(String::from_utf8(bytes.clone()).unwrap()),
    }
}

/// What API Gateway adds to every request it forwards.
fn gateway_headers() -> Vec<(String, String)> {
    [
        ("Host", API_HOST),
        ("X-Forwarded-For", "203.0.113.7"),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Proto", "https"),
        ("User-Agent", "Mozilla/5.0 (lambda tests)"),
    ]
    .iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect()
}

/// A REST API (payload 1.0) proxy event: `path` without the stage, the query only as
/// decoded parameters, each header in `headers` (its last value) and `multiValueHeaders`.
fn rest_event(call: &Call) -> Value {
    let (path, query) = call.path_and_query();
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let cookies = cookie_headers(call)
        .into_iter()
        .map(|c| ("Cookie".into(), c));
    for (name, value) in gateway_headers()
        .into_iter()
        .chain(call.headers.clone())
        .chain(cookies)
    {
        headers.entry(name).or_default().push(value);
    }
    let single: BTreeMap<&String, &String> = headers
        .iter()
        .map(|(name, values)| (name, values.last().unwrap()))
        .collect();
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in decode_query(query) {
        params.entry(name).or_default().push(value);
    }
    let last: BTreeMap<&String, &String> = params
        .iter()
        .map(|(name, values)| (name, values.last().unwrap()))
        .collect();
    let (single_query, multi_query) = if params.is_empty() {
        (Value::Null, Value::Null)
    } else {
        (json!(last), json!(params))
    };
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": call.method,
        "headers": single,
        "multiValueHeaders": headers,
        "queryStringParameters": single_query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": API_HOST,
            "domainPrefix": "abc123",
            "extendedRequestId": "Ab1CdEfGhIjKlMn=",
            "httpMethod": call.method,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "Mozilla/5.0 (lambda tests)"},
            "path": format!("/prod{path}"),
            "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "requestTime": "09/Apr/2026:12:34:56 +0000",
            "requestTimeEpoch": 1_775_738_096_000_i64,
            "resourceId": "1a2b3c",
            "resourcePath": "/{proxy+}",
            "stage": "prod"
        },
        "body": event_body(call),
        "isBase64Encoded": call.base64
    })
}

/// An HTTP API (payload 2.0) event on the `$default` stage: the raw query as sent, header
/// names in lower case with repeats joined by commas, and cookies only in `cookies`.
fn http_event(call: &Call) -> Value {
    http_event_on(call, "$default")
}

fn http_event_on(call: &Call, stage: &str) -> Value {
    let (path, query) = call.path_and_query();
    let raw_path = match stage {
        "$default" => path.to_string(),
        stage => format!("/{stage}{path}"),
    };
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in gateway_headers().into_iter().chain(call.headers.clone()) {
        headers
            .entry(name.to_ascii_lowercase())
            .and_modify(|joined| *joined = format!("{joined},{value}"))
            .or_insert(value);
    }
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in decode_query(query) {
        params
            .entry(name)
            .and_modify(|joined| *joined = format!("{joined},{value}"))
            .or_insert(value);
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": API_HOST,
            "domainPrefix": "abc123",
            "http": {
                "method": call.method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "Mozilla/5.0 (lambda tests)"
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": stage,
            "time": "09/Apr/2026:12:34:56 +0000",
            "timeEpoch": 1_775_738_096_000_i64
        },
        "isBase64Encoded": call.base64
    });
    if !params.is_empty() {
        event["queryStringParameters"] = json!(params);
    }
    if !call.cookies.is_empty() {
        event["cookies"] = json!(call.cookies);
    }
    if call.body.is_some() {
        event["body"] = event_body(call);
    }
    event
}

async fn as_event(tier: &Tier, event: Value) -> Answer {
    let is_rest = event.get("httpMethod").is_some();
    let response = lambda::invoke(tier.router.clone(), &event.to_string())
        .await
        .expect("the event is answered");
    if is_rest {
        from_rest_response(&response)
    } else {
        from_http_response(&response)
    }
}

fn from_rest_response(response: &Value) -> Answer {
    let mut answer = empty_answer(response);
    let single = response["headers"].as_object();
    assert!(
        single.is_none_or(|headers| headers.is_empty()),
        "a REST response keeps every header in multiValueHeaders: {response}"
    );
    let multi = response["multiValueHeaders"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (name, values) in multi {
        for value in values.as_array().unwrap() {
            add_header(&mut answer, &name, value.as_str().unwrap().to_string());
        }
    }
    answer.body = response_body(response, &answer);
    answer
}

fn from_http_response(response: &Value) -> Answer {
    let mut answer = empty_answer(response);
    let headers = response["headers"].as_object().cloned().unwrap_or_default();
    for (name, value) in headers {
        assert_ne!(
            name.to_ascii_lowercase(),
            "set-cookie",
            "a 2.0 response sets cookies through `cookies`: {response}"
        );
        add_header(&mut answer, &name, value.as_str().unwrap().to_string());
    }
    let cookies = response["cookies"].as_array().cloned().unwrap_or_default();
    answer.cookies = cookies
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    answer.body = response_body(response, &answer);
    answer
}

fn empty_answer(response: &Value) -> Answer {
    Answer {
        status: response["statusCode"].as_u64().expect("a status code") as u16,
        headers: BTreeMap::new(),
        cookies: Vec::new(),
        body: Vec::new(),
    }
}

/// The body as bytes. Text must come back as text: API Gateway passes a base64 body on
/// only when told the type is binary, so base64 text would reach the browser as it is.
fn response_body(response: &Value, answer: &Answer) -> Vec<u8> {
    let text = response["body"].as_str().unwrap_or_default();
    let base64 = response["isBase64Encoded"].as_bool().unwrap_or(false);
    let content_type = answer.header("content-type");
    let textual = content_type.starts_with("text/")
        || content_type.contains("json")
        || content_type.contains("xml");
    assert!(
        !(base64 && textual),
        "a {content_type} body came back base64: {response}"
    );
    if base64 {
        STANDARD.decode(text).expect("valid base64")
    } else {
        text.as_bytes().to_vec()
    }
}

// ----- reading pages ------------------------------------------------------------------

/// The value of the first input named `name`, with the HTML escapes undone.
fn field_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = start + html[start..].find('"')?;
    Some(unescape(&html[start..end]))
}

fn unescape(text: &str) -> String {
    text.replace("&#34;", "\"")
        .replace("&#38;", "&")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Signs a new account up over TCP and returns its session cookie pair.
async fn sign_up(stack: &Stack, name: &str) -> String {
    let call = Call::form(
        "/signup",
        &[("user_name", name), ("user_pass", PASSWORD), ("csrf", CSRF)],
    )
    .with_csrf_cookie();
    let answer = send(&stack.web, &call, Via::Tcp).await;
    assert_eq!(answer.status, 303, "sign-up of {name}: {}", answer.text());
    let value = answer
        .cookie(web::SESSION_COOKIE)
        .expect("a session cookie");
    format!("{}={value}", web::SESSION_COOKIE)
}

/// The session's CSRF token, read from a signed-in form.
async fn session_csrf(stack: &Stack, session: &str) -> String {
    let page = send(
        &stack.web,
        &Call::get("/games/apex/new").cookie(session),
        Via::Tcp,
    )
    .await;
    field_value(&page.text(), "csrf").expect("a CSRF field")
}

fn user_of(stack: &Stack, session: &str) -> String {
    let value = session.split_once('=').unwrap().1;
    tokens::open_session(&stack.config.session_keys, value)
        .expect("a sealed session cookie")
        .to_string()
}

// ----- PC-04: query strings -----------------------------------------------------------

#[tokio::test]
async fn query_strings_reach_the_sign_in_page_decoded_as_over_tcp() {
    let stack = stack().await;
    let cases = [
        ("/?next=%2Fgames%3Fx%3D1", Some("/games?x=1")),
        ("/?next=/Ann%20Lee", Some("/Ann Lee")),
        ("/?next=/Ann+Lee", Some("/Ann Lee")),
        ("/?next=/a%2Bb", Some("/a+b")),
        ("/?next=/%C3%85sa", Some("/Åsa")),
        // Repeats: the last one counts, on every path.
        ("/?next=/x&next=/y", Some("/y")),
        // Off-site targets are dropped before the page is drawn.
        ("/?next=%2F%2Fevil.example%2F", None),
        ("/?next=https%3A%2F%2Fevil.example", None),
        ("/?next=%2F%5Cevil.example", None),
        // Queries the page does not read still leave it whole.
        ("/?q=Ann%20Lee", None),
        ("/?q=Ann+Lee", None),
        ("/?q=a%2Bb", None),
        ("/?q=%C3%85sa", None),
        ("/?tag=x&tag=y", None),
    ];
    for (target, next) in cases {
        let page = same_everywhere(&stack.web, &Call::get(target).with_csrf_cookie()).await;
        assert_eq!(page.status, 200, "{target}");
        assert_eq!(
            field_value(&page.text(), "next").as_deref(),
            next,
            "{target}"
        );
    }
}

#[tokio::test]
async fn a_sign_in_goes_where_next_says_only_when_it_stays_on_the_site() {
    let stack = stack().await;
    let cases = [
        ("/games?x=1", "/games?x=1"),
        (
            "/games/apex?legend=Mad%20Maggie",
            "/games/apex?legend=Mad%20Maggie",
        ),
        ("//evil.example/", "/games"),
        ("https://evil.example/", "/games"),
    ];
    for (case, (next, location)) in cases.into_iter().enumerate() {
        // An account per case: sign-in attempts per account are limited.
        let name = format!("Next_{case}");
        sign_up(&stack, &name).await;
        let call = Call::form(
            "/signin",
            &[
                ("user_name", &name),
                ("user_pass", PASSWORD),
                ("csrf", CSRF),
                ("next", next),
            ],
        )
        .with_csrf_cookie();
        let [tcp, rest, http] = send_all(&stack.web, &call).await;
        assert_eq!(tcp.status, 303, "{next}: {}", tcp.text());
        assert_eq!(tcp.header("location"), location, "{next}");
        // Each sign-in opens its own session: only the cookie values differ.
        assert_same(&tcp.masked(), &rest.masked(), Via::Rest, &call);
        assert_same(&tcp.masked(), &http.masked(), Via::Http, &call);
    }
}

#[tokio::test]
async fn crud_list_filters_see_the_same_decoded_values_as_over_tcp() {
    let stack = stack().await;
    let user = Some(uuid::Uuid::new_v4());
    let cases = [
        (
            "/v1/games/apex/matches?legend=Mad%20Maggie",
            200,
            Some(("legend", "Mad Maggie")),
        ),
        (
            "/v1/games/apex/matches?legend=Mad+Maggie",
            200,
            Some(("legend", "Mad Maggie")),
        ),
        (
            "/v1/games/apex/matches?legend=mad%20MAGGIE&sort=kills",
            200,
            Some(("legend", "Mad Maggie")),
        ),
        (
            "/v1/games/hots/matches?hero=L%C3%BAcio",
            200,
            Some(("hero", "Lúcio")),
        ),
        (
            "/v1/games/hots/matches?hero=D.Va&map=Alterac+Pass",
            200,
            Some(("map", "Alterac Pass")),
        ),
        ("/v1/games/apex/matches?legend=a%2Bb", 400, None),
        ("/v1/games/apex/matches?legend=Wraith&legend=Ash", 400, None),
        ("/v1/games/apex/matches?q=Ann%20Lee", 400, None),
        ("/v1/games/apex/matches?q=%C3%85sa", 400, None),
        ("/v1/games/apex/matches?tag=x&tag=y", 400, None),
    ];
    for (target, status, filter) in cases {
        let call = Call::get(target).credential(&stack, user);
        let answer = same_everywhere(&stack.crud, &call).await;
        assert_eq!(answer.status, status, "{target}: {}", answer.text());
        if let Some((name, value)) = filter {
            assert_eq!(answer.json()["filters"][name], value, "{target}");
        } else {
            assert!(answer.json()["error"]["message"].is_string(), "{target}");
        }
    }
}

#[tokio::test]
async fn the_results_page_filters_by_a_decoded_choice_on_every_path() {
    let stack = stack().await;
    let session = sign_up(&stack, "Filter_Bo").await;
    for target in [
        "/games/hots?hero=L%C3%BAcio",
        "/games/hots?hero=L%C3%BAcio&map=Alterac+Pass",
        "/games/apex?legend=Mad%20Maggie&sort=kills&dir=asc",
    ] {
        let page = same_everywhere(&stack.web, &Call::get(target).cookie(&session)).await;
        assert_eq!(page.status, 200, "{target}: {}", page.text());
    }
}

// ----- PC-05: base64 bodies -----------------------------------------------------------

#[tokio::test]
async fn a_base64_sign_up_stores_the_same_password_as_a_tcp_one() {
    let stack = stack().await;
    for (via, name) in [
        (Via::Tcp, "Åsa_tcp"),
        (Via::Rest, "Åsa_rest"),
        (Via::Http, "Åsa_http"),
    ] {
        let call = Call::form(
            "/signup",
            &[("user_name", name), ("user_pass", PASSWORD), ("csrf", CSRF)],
        )
        .with_csrf_cookie();
        let answer = send(&stack.web, &call, via).await;
        assert_eq!(answer.status, 303, "{via:?}: {}", answer.text());
        assert_eq!(answer.header("location"), "/games?notice=welcome");

        // The password was decoded byte for byte: it signs in over TCP.
        let sign_in = Call::form(
            "/signin",
            &[("user_name", name), ("user_pass", PASSWORD), ("csrf", CSRF)],
        )
        .with_csrf_cookie();
        let signed_in = send(&stack.web, &sign_in, Via::Tcp).await;
        assert_eq!(
            signed_in.status,
            303,
            "{name} signs in: {}",
            signed_in.text()
        );
        let wrong = Call::form(
            "/signin",
            &[
                ("user_name", name),
                ("user_pass", "Åsa & Bo=1 2% secret"),
                ("csrf", CSRF),
            ],
        )
        .with_csrf_cookie();
        assert_eq!(send(&stack.web, &wrong, Via::Tcp).await.status, 401);
    }
}

fn apex_match(csrf: &str) -> Vec<(&'static str, String)> {
    let today = time::OffsetDateTime::now_utc().date();
    vec![
        ("csrf", csrf.to_string()),
        ("date", today.to_string()),
        ("result", "win".into()),
        ("mode", "trios".into()),
        ("legend", "Wraith".into()),
        ("kills", "7".into()),
        ("placement", "1".into()),
        ("damage", "1450".into()),
        ("time", "18:05".into()),
        ("teammates", TRICKY.into()),
    ]
}

#[tokio::test]
async fn a_base64_match_form_is_stored_exactly_as_over_tcp() {
    let stack = stack().await;
    let session = sign_up(&stack, "Form_Cy").await;
    let csrf = session_csrf(&stack, &session).await;
    let values = apex_match(&csrf);
    let fields: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let call = Call::form("/games/apex", &fields).cookie(&session);
    let [tcp, rest, http] = send_all(&stack.web, &call).await;
    assert_eq!(tcp.status, 303, "{}", tcp.text());
    assert_same(&tcp, &rest, Via::Rest, &call);
    assert_same(&tcp, &http, Via::Http, &call);

    // Three matches, each with the teammate exactly as typed.
    let user: uuid::Uuid = {
        let token = user_of(&stack, &session);
        let info = send(
            &stack.app,
            &Call::get("/v1/sessions/current")
                .credential(&stack, None)
                .header("x-matchlog-session", &token),
            Via::Tcp,
        )
        .await
        .json();
        info["user_id"].as_str().unwrap().parse().unwrap()
    };
    let list = Call::get("/v1/games/apex/matches").credential(&stack, Some(user));
    let listing = same_everywhere(&stack.crud, &list).await.json();
    let items = listing["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{listing}");
    for item in items {
        assert_eq!(item["fields"]["teammates"], json!([TRICKY]), "{item}");
    }

    // The page lists them the same way on every path, escaped.
    let page = same_everywhere(&stack.web, &Call::get("/games/apex").cookie(&session)).await;
    assert_eq!(page.text().matches("Åsa &#38; Bo=1+2%").count(), 3);
}

#[tokio::test]
async fn static_files_and_pages_come_back_byte_identical_and_never_as_base64_text() {
    let stack = stack().await;
    let session = sign_up(&stack, "Static_Di").await;
    for (target, content_type) in [
        ("/static/style.css", "text/css; charset=utf-8"),
        ("/static/favicon.svg", "image/svg+xml"),
    ] {
        let call = Call::get(target).header("accept-encoding", "gzip, deflate, br");
        let answer = same_everywhere(&stack.web, &call).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("content-type"), content_type);
        assert!(!answer.body.is_empty());
    }
    let redirect = same_everywhere(&stack.web, &Call::get("/favicon.ico")).await;
    assert_eq!(redirect.header("location"), "/static/favicon.svg");

    let call = Call::get("/games")
        .header("accept-encoding", "gzip")
        .cookie(&session);
    let page = same_everywhere(&stack.web, &call).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), "no-store");
    assert!(page.text().contains("Static_Di"));
}

// ----- PC-06: cookies -----------------------------------------------------------------

#[tokio::test]
async fn a_session_in_the_cookies_array_is_recognised_as_over_tcp() {
    let stack = stack().await;
    let session = sign_up(&stack, "Cookie_Ed").await;
    // A second cookie whose value holds `=` and base64 padding.
    let other = "prefs=dGhlbWU9ZGFyaw==";
    let call = Call::get("/games").cookie(other).cookie(&session);
    let page = same_everywhere(&stack.web, &call).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("Cookie_Ed"));

    // Without the session cookie every path sends the browser to sign in.
    let signed_out = same_everywhere(&stack.web, &Call::get("/games").cookie(other)).await;
    assert_eq!(signed_out.status, 303);
}

#[tokio::test]
async fn cookies_split_over_two_headers_all_arrive() {
    let stack = stack().await;
    let session = sign_up(&stack, "Split_Flo").await;
    // The session comes first: a REST event's single-valued `headers` holds only the last.
    let mut call = Call::get("/games")
        .cookie(&session)
        .cookie("prefs=dGhlbWU9ZGFyaw==");
    call.split_cookies = true;
    let page = same_everywhere(&stack.web, &call).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("Split_Flo"));
}

#[tokio::test]
async fn sign_out_through_an_event_ends_the_session_everywhere() {
    let stack = stack().await;
    for via in EVENTS {
        let session = sign_up(&stack, &format!("Out_{via:?}")).await;
        let csrf = session_csrf(&stack, &session).await;
        let out = Call::form("/signout", &[("csrf", &csrf)]).cookie(&session);
        let answer = send(&stack.web, &out, via).await;
        assert_eq!(answer.status, 303, "{via:?}: {}", answer.text());
        assert_eq!(answer.cookie(web::SESSION_COOKIE).as_deref(), Some(""));
        let replayed = Call::get("/games").cookie(&session);
        let after = same_everywhere(&stack.web, &replayed).await;
        assert_eq!(after.status, 303, "{via:?}: the old cookie is dead");
    }
}

// ----- several Set-Cookie headers in one answer ----------------------------------------

#[tokio::test]
async fn two_set_cookies_in_one_answer_reach_the_browser_on_every_path() {
    let stack = stack().await;
    let session = sign_up(&stack, "Two_Gus").await;
    let csrf = session_csrf(&stack, &session).await;
    let out = Call::form("/signout", &[("csrf", &csrf)]).cookie(&session);
    assert_eq!(send(&stack.web, &out, Via::Tcp).await.status, 303);

    // A stale session cookie and no CSRF cookie: the sign-in page clears the one and
    // sets the other.
    let call = Call::get("/").cookie(&session);
    let [tcp, rest, http] = send_all(&stack.web, &call).await;
    assert_eq!(tcp.status, 200);
    assert_eq!(tcp.cookies.len(), 2, "{:?}", tcp.cookies);
    assert_eq!(tcp.cookie(web::SESSION_COOKIE).as_deref(), Some(""));
    assert!(tcp.cookie(web::CSRF_COOKIE).is_some_and(|v| !v.is_empty()));
    // The CSRF token is fresh each time, so the cookie values are compared blank; and
    // the page carries that token, so its body only has to hold its own cookie's value.
    for (event, via) in [(rest, Via::Rest), (http, Via::Http)] {
        assert_eq!(event.masked().cookies, tcp.masked().cookies, "{via:?}");
        assert_eq!(event.status, tcp.status);
        assert_eq!(event.headers, tcp.headers, "{via:?}");
        let token = event.cookie(web::CSRF_COOKIE).unwrap();
        assert_eq!(field_value(&event.text(), "csrf"), Some(token), "{via:?}");
    }
}

// ----- the client address ----------------------------------------------------------------

#[tokio::test]
async fn sign_in_limits_count_an_events_source_address_as_tcp_counts_the_peer() {
    let stack = stack_with(&[("MATCHLOG_SIGNIN_CLIENT_BURST", "2")]).await;
    let attempt = |name: &str| {
        Call::form(
            "/signin",
            &[
                ("user_name", name),
                ("user_pass", "wrong password"),
                ("csrf", CSRF),
            ],
        )
        .with_csrf_cookie()
    };
    let from = |call: &Call, ip: &str| {
        let mut event = http_event(call);
        event["requestContext"]["http"]["sourceIp"] = json!(ip);
        event
    };
    // Over TCP every attempt comes from 127.0.0.1: the third is refused.
    let mut statuses = Vec::new();
    for name in ["Nobody_1", "Nobody_2", "Nobody_3"] {
        statuses.push(send(&stack.web, &attempt(name), Via::Tcp).await.status);
    }
    assert_eq!(statuses, [401, 401, 429]);

    // As events, API Gateway's sourceIp is the client: one address is refused the same way,
    // and another one is not held back by it.
    let mut statuses = Vec::new();
    for name in ["Nobody_4", "Nobody_5", "Nobody_6"] {
        let answer = as_event(&stack.web, from(&attempt(name), "198.51.100.4")).await;
        statuses.push(answer.status);
    }
    assert_eq!(statuses, [401, 401, 429]);
    let other = as_event(&stack.web, from(&attempt("Nobody_7"), "198.51.100.5")).await;
    assert_eq!(other.status, 401);
}

// ----- app and crud: the credential between tiers ----------------------------------------

#[tokio::test]
async fn app_and_crud_answer_a_credentialed_event_and_refuse_a_bare_one_alike() {
    let stack = stack().await;
    let session = sign_up(&stack, "Cred_Hal").await;
    let token = user_of(&stack, &session);

    let current = Call::get("/v1/sessions/current").header("x-matchlog-session", &token);
    let known = same_everywhere(&stack.app, &current.clone().credential(&stack, None)).await;
    assert_eq!(known.status, 200, "{}", known.text());
    assert_eq!(known.json()["user_name"], "Cred_Hal");
    let user: uuid::Uuid = known.json()["user_id"].as_str().unwrap().parse().unwrap();

    let list = Call::get("/v1/games/fortnite/matches");
    let listed = same_everywhere(&stack.crud, &list.clone().credential(&stack, Some(user))).await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert_eq!(listed.json()["total"], 0);

    for (tier, call) in [(&stack.app, current), (&stack.crud, list)] {
        let refused = same_everywhere(tier, &call).await;
        assert_eq!(refused.status, 401, "{}", refused.text());
        assert_eq!(refused.header("content-type"), "application/json");
        assert_eq!(refused.json()["error"]["code"], "unauthenticated");
    }

    // A JSON body sent plain (not base64) reaches the handler too.
    for (via, name) in [
        (Via::Tcp, "Json_Ivy"),
        (Via::Rest, "Json_Jo"),
        (Via::Http, "Json_Kit"),
    ] {
        let body = json!({"user_name": name, "user_pass": PASSWORD});
        let call = Call::json("POST", "/v1/accounts", &body).credential(&stack, None);
        let made = send(&stack.app, &call, via).await;
        assert_eq!(made.status, 201, "{via:?}: {}", made.text());
        assert_eq!(made.json()["user_name"], name);
    }
}

// ----- stages ----------------------------------------------------------------------------

#[tokio::test]
async fn a_named_http_api_stage_and_a_rest_stage_both_leave_the_routes_path() {
    let stack = stack().await;
    let call = Call::get("/?next=%2Fgames%3Fx%3D1").with_csrf_cookie();
    let tcp = send(&stack.web, &call, Via::Tcp).await;
    let staged = as_event(&stack.web, http_event_on(&call, "prod")).await;
    assert_same(&tcp, &staged, Via::Http, &call);
    // The REST events of every other test carry the stage `prod` in requestContext.path.
    let rest = rest_event(&call);
    assert_eq!(rest["requestContext"]["path"], "/prod/");
    assert_eq!(rest["requestContext"]["stage"], "prod");
}

// ----- the binaries under a Lambda runtime ----------------------------------------------

/// What the stand-in Runtime API saw the function send back.
#[derive(Debug)]
enum Reported {
    Response(Value),
    Error(String),
}

/// A stand-in for the Lambda Runtime API on 127.0.0.1: it hands out `event` once, then
/// keeps the next poll waiting, and reports what the function posts back.
async fn runtime_api(event: Value) -> (String, tokio::sync::mpsc::Receiver<Reported>) {
    use axum::routing::{get, post};
    let (report, reports) = tokio::sync::mpsc::channel(4);
    let handed_out = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let next = move || {
        let handed_out = handed_out.clone();
        let event = event.clone();
        async move {
            if handed_out.swap(true, Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            let deadline = (unix_now() + 60) * 1000;
            (
                [
                    ("lambda-runtime-aws-request-id", "req-1".to_string()),
                    ("lambda-runtime-deadline-ms", deadline.to_string()),
                    (
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:eu-west-1:123456789012:function:matchlog".into(),
                    ),
                ],
                axum::Json(event),
            )
        }
    };
    let on_response = report.clone();
    let on_error = report.clone();
    let router = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(move |body: String| async move {
                let _ = on_response
                    .send(Reported::Response(serde_json::from_str(&body).unwrap()))
                    .await;
                axum::http::StatusCode::ACCEPTED
            }),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(move |body: String| async move {
                let _ = on_error.send(Reported::Error(body)).await;
                axum::http::StatusCode::ACCEPTED
            }),
        )
        .route(
            "/2018-06-01/runtime/init/error",
            post(move |body: String| async move {
                let _ = report.send(Reported::Error(body)).await;
                axum::http::StatusCode::ACCEPTED
            }),
        );
    let (listener, url) = listen().await;
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url.trim_start_matches("http://").to_string(), reports)
}

/// A binary of this workspace; `cargo build --workspace --bins` must have run.
fn binary(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let path = deps.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// Runs a Lambda binary against the stand-in Runtime API for one event, and returns the
/// response it posted.
async fn run_binary(stack: &Stack, name: &str, event: Value) -> Value {
    let (api, mut reports) = runtime_api(event).await;
    let data_dir = stack.data_dir.join(name);
    let mut child = tokio::process::Command::new(binary(name))
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("MATCHLOG_DATA_DIR", &data_dir)
        .env("MATCHLOG_SESSION_KEY", SESSION_KEY)
        .env("MATCHLOG_INTERNAL_KEY", INTERNAL_KEY)
        .env("MATCHLOG_APP_URL", &stack.app.url)
        .env("MATCHLOG_CRUD_URL", &stack.crud.url)
        .env("MATCHLOG_GATEWAY_URL", &stack.crud.url)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let reported = tokio::time::timeout(std::time::Duration::from_secs(60), reports.recv())
        .await
        .unwrap_or_else(|_| panic!("{name} answered no event within a minute"));
    child.kill().await.expect("stop the binary");
    match reported {
        Some(Reported::Response(response)) => response,
        Some(Reported::Error(body)) => panic!("{name} reported an error: {body}"),
        None => panic!("{name} reported nothing"),
    }
}

#[tokio::test]
async fn each_lambda_binary_answers_an_event_as_the_adapter_does() {
    let stack = stack().await;
    let cases = [
        (
            "web-lambda",
            &stack.web,
            http_event(&Call::get("/static/favicon.svg")),
        ),
        (
            "app-lambda",
            &stack.app,
            rest_event(&Call::get("/v1/sessions/current")),
        ),
        (
            "crud-lambda",
            &stack.crud,
            http_event(&Call::get("/health/live")),
        ),
    ];
    for (name, tier, event) in cases {
        let from_binary = run_binary(&stack, name, event.clone()).await;
        let in_process = lambda::invoke(tier.router.clone(), &event.to_string())
            .await
            .unwrap();
        assert_eq!(
            from_binary["statusCode"], in_process["statusCode"],
            "{name}"
        );
        assert_eq!(from_binary["body"], in_process["body"], "{name}");
        for field in ["headers", "multiValueHeaders", "cookies", "isBase64Encoded"] {
            let mut seen = from_binary[field].clone();
            let mut expected = in_process[field].clone();
            // Request ids are made per request when the event brings none.
            for map in [&mut seen, &mut expected] {
                if let Some(map) = map.as_object_mut() {
                    map.remove("x-request-id");
                }
            }
            assert_eq!(seen, expected, "{name}: {field}");
        }
    }
}
