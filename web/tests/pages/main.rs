//! In-process tests of the web tier's pages: the whole router built by `web::build`, driven
//! with `oneshot`, its upstreams either small fakes on 127.0.0.1 or closed ports.

mod fakes;
mod stack;

use axum::Router;
use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, Request, StatusCode};
use fakes::{Fake, PASSWORD, TAKEN, USER};
use shared::config::Config;
use shared::tokens::{self, KeyRing};
use tower::ServiceExt as _;
use uuid::Uuid;

const KEY: &str = "c2Vzc2lvbi1rZXktZm9yLXdlYi10ZXN0cy0wMTIzNDU2Nzg5";
const INTERNAL_KEY: &str = "aW50ZXJuYWwta2V5LWZvci13ZWItdGVzdHMtMDEyMzQ1Njc4OQ";

/// Name-value pairs for form fields or request headers.
type Pairs<'a> = Vec<(&'a str, &'a str)>;

struct Harness {
    router: Router,
    fake: Fake,
    keys: KeyRing,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    /// The value of the first hidden CSRF field.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field");
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

fn config(app_url: &str, crud_url: &str, secure: bool) -> Config {
    config_with(app_url, crud_url, secure, &[])
}

fn config_with(app_url: &str, crud_url: &str, secure: bool, extra: &[(&str, String)]) -> Config {
    let mut pairs = vec![
        ("MATCHLOG_SESSION_KEY", KEY.to_string()),
        ("MATCHLOG_INTERNAL_KEY", INTERNAL_KEY.to_string()),
        ("MATCHLOG_APP_URL", app_url.to_string()),
        ("MATCHLOG_CRUD_URL", crud_url.to_string()),
        // No gateway in these tests: a closed port, so a failover attempt fails at once.
        ("MATCHLOG_GATEWAY_URL", closed_gateway_url()),
        ("MATCHLOG_UPSTREAM_TIMEOUT_MS", "2000".to_string()),
        ("MATCHLOG_SECURE_COOKIES", secure.to_string()),
    ];
    pairs.extend(extra.iter().cloned());
    Config::from_lookup(|name| {
        pairs
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    })
    .expect("test configuration is valid")
}

/// A web tier whose upstreams are the fakes.
async fn harness() -> Harness {
    harness_with(false).await
}

async fn harness_with(secure: bool) -> Harness {
    let fake = Fake {
        user_id: Uuid::new_v4(),
        ..Fake::default()
    };
    let (app_url, crud_url) = fakes::start(&fake).await;
    let config = config(&app_url, &crud_url, secure);
    Harness {
        router: web::build(&config).await.unwrap(),
        keys: config.session_keys.clone(),
        fake,
    }
}

fn closed_gateway_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    format!("http://{}", listener.local_addr().expect("read the port"))
}

/// A port nobody listens on: bind one, read it, let it go.
async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// A web tier whose upstreams cannot be reached.
async fn offline() -> Harness {
    let config = config(&closed_port_url().await, &closed_port_url().await, false);
    Harness {
        router: web::build(&config).await.unwrap(),
        keys: config.session_keys.clone(),
        fake: Fake::default(),
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Harness {
    async fn send(&self, request: Request<Body>) -> Page {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Page {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn get(&self, path: &str, cookie: &str) -> Page {
        let request = Request::get(path)
            .header(COOKIE, cookie)
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    async fn post(&self, path: &str, cookie: &str, fields: &[(&str, &str)]) -> Page {
        self.post_with(path, cookie, fields, &[]).await
    }

    async fn post_with(
        &self,
        path: &str,
        cookie: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut request = Request::post(path)
            .header(COOKIE, cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("host", "localhost");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Body::from(form_body(fields))).unwrap())
            .await
    }

    /// A cookie header for a live session of the fake `app`, and that session's CSRF token.
    fn signed_in(&self) -> (String, String) {
        let token = self.fake.open_session();
        let cookie = format!(
            "{}={}",
            web::SESSION_COOKIE,
            tokens::seal_session(&self.keys, &token)
        );
        (cookie, tokens::csrf_for_session(&self.keys, &token))
    }
}

fn csrf_cookie(token: &str) -> String {
    format!("{}={token}", web::CSRF_COOKIE)
}

fn assert_no_internal_text(body: &str) {
    for internal in [
        "serde",
        "axum",
        "Failed to",
        "invalid type",
        "missing field",
        "std::",
        "reqwest",
        "Form<",
        "127.0.0.1",
    ] {
        assert!(!body.contains(internal), "{internal:?} leaked:\n{body}");
    }
}

fn valid_apex(today: &str) -> Vec<(&'static str, String)> {
    [
        ("date", today),
        ("mode", "trios"),
        ("result", "win"),
        ("legend", "Wraith"),
        ("kills", "7"),
        ("placement", "1"),
        ("damage", "1450"),
        ("time", "18:05"),
        ("teammates", "Ann, Bo"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

fn today() -> String {
    let today = time::OffsetDateTime::now_utc().date();
    format!(
        "{:04}-{:02}-{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    )
}

fn borrowed<'a>(values: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    values.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn signed_out_requests_to_every_page_past_sign_in_go_to_the_sign_in_page() {
    let web = offline().await;
    let id = Uuid::now_v7();
    let pages = [
        "/games".to_string(),
        "/games/apex".to_string(),
        "/games/apex?sort=kills&dir=asc".to_string(),
        "/games/apex/new".to_string(),
        format!("/games/apex/{id}/edit"),
        format!("/games/apex/{id}/delete"),
    ];
    for path in &pages {
        let page = web.get(path, "").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        let expected = format!("/?next={}", encode(path));
        assert_eq!(page.location(), expected, "{path}");
    }
    let posts = [
        "/games/apex".to_string(),
        format!("/games/apex/{id}"),
        format!("/games/apex/{id}/delete"),
    ];
    for path in &posts {
        let page = web.post(path, "", &[("csrf", "x")]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), "/", "{path}");
    }
}

#[tokio::test]
async fn an_altered_or_foreign_cookie_is_treated_as_signed_out_without_asking_app() {
    // Upstreams are closed ports: asking them would answer 503, not a redirect.
    let web = offline().await;
    let sealed = tokens::seal_session(&web.keys, &tokens::random_token());
    let mut altered = sealed.clone().into_bytes();
    altered[5] = if altered[5] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let foreign = tokens::seal_session(&KeyRing::generate(), &tokens::random_token());
    for value in [altered.as_str(), foreign.as_str(), "admin", "ann"] {
        let cookie = format!("{}={value}", web::SESSION_COOKIE);
        let page = web.get("/games/apex", &cookie).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{value}");
        assert_eq!(page.location(), "/?next=%2Fgames%2Fapex");
        let cleared = page
            .set_cookie(web::SESSION_COOKIE)
            .expect("the cookie is cleared");
        assert!(cleared.contains("Max-Age=0"), "{cleared}");

        let home = web.get("/", &cookie).await;
        assert_eq!(
            home.status,
            StatusCode::OK,
            "a stale cookie still shows the sign-in form"
        );
        assert!(home.body.contains("name=\"user_pass\""));
        assert!(
            home.set_cookie(web::SESSION_COOKIE)
                .unwrap()
                .contains("Max-Age=0")
        );
    }
}

#[tokio::test]
async fn an_ended_session_signs_the_browser_out_and_remembers_the_page() {
    let web = harness().await;
    let (cookie, _) = web.signed_in();
    web.fake.sessions.lock().unwrap().clear();
    let page = web.get("/games/hots?result=win", &cookie).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/?next=%2Fgames%2Fhots%3Fresult%3Dwin");
    assert!(
        page.set_cookie(web::SESSION_COOKIE)
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn signed_out_forms_set_a_csrf_cookie_and_refuse_posts_without_it() {
    let web = harness().await;
    let home = web.get("/", "").await;
    assert_eq!(home.status, StatusCode::OK);
    let set = home
        .set_cookie(web::CSRF_COOKIE)
        .expect("a csrf cookie is set");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    let token = home.csrf();
    assert!(set.starts_with(&format!("{}={token};", web::CSRF_COOKIE)));

    let again = web.get("/signup", &csrf_cookie(&token)).await;
    assert_eq!(again.csrf(), token, "an existing token is reused");
    assert!(again.set_cookie(web::CSRF_COOKIE).is_none());

    let credentials = [("user_name", USER), ("user_pass", PASSWORD)];
    // (case, cookie header, extra form fields, extra request headers)
    let cases: [(&str, String, Pairs, Pairs); 6] = [
        ("no field", csrf_cookie(&token), vec![], vec![]),
        ("no cookie", String::new(), vec![("csrf", &token)], vec![]),
        (
            "wrong field",
            csrf_cookie(&token),
            vec![("csrf", "forged")],
            vec![],
        ),
        (
            "cross-site origin",
            csrf_cookie(&token),
            vec![("csrf", &token)],
            vec![("origin", "https://evil.example")],
        ),
        (
            "null origin",
            csrf_cookie(&token),
            vec![("csrf", &token)],
            vec![("origin", "null")],
        ),
        (
            "cross-site fetch",
            csrf_cookie(&token),
            vec![("csrf", &token)],
            vec![("sec-fetch-site", "cross-site")],
        ),
    ];
    for (case, cookie, extra, headers) in &cases {
        let mut fields = credentials.to_vec();
        fields.extend(extra.iter().copied());
        for path in ["/signin", "/signup"] {
            let page = web.post_with(path, cookie, &fields, headers).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{case} {path}");
            assert!(
                page.body.contains("This form has expired or came from another site. Go back, reload and try again."),
                "{case}: {}",
                page.body
            );
            assert!(page.set_cookie(web::SESSION_COOKIE).is_none());
        }
    }
    assert_eq!(web.fake.calls(), 0, "no refused form reached app");

    let mut fields = credentials.to_vec();
    fields.push(("csrf", &token));
    let same_origin = [
        ("origin", "http://localhost"),
        ("sec-fetch-site", "same-origin"),
    ];
    let page = web
        .post_with("/signin", &csrf_cookie(&token), &fields, &same_origin)
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

#[tokio::test]
async fn signed_in_forms_refuse_a_missing_or_wrong_token_before_any_upstream_call() {
    let web = harness().await;
    let (cookie, csrf) = web.signed_in();
    let other_session_csrf = tokens::csrf_for_session(&web.keys, &tokens::random_token());
    let id = Uuid::now_v7().to_string();
    let edit = format!("/games/apex/{id}");
    let delete = format!("/games/apex/{id}/delete");
    let today = today();
    let values = valid_apex(&today);
    for path in ["/games/apex", edit.as_str(), delete.as_str(), "/signout"] {
        for token in ["", "forged", other_session_csrf.as_str()] {
            let mut fields = borrowed(&values);
            if !token.is_empty() {
                fields.push(("csrf", token));
            }
            let page = web.post(path, &cookie, &fields).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{path} with {token:?}");
        }
        let mut fields = borrowed(&values);
        fields.push(("csrf", &csrf));
        let cross = web
            .post_with(
                path,
                &cookie,
                &fields,
                &[("origin", "https://evil.example")],
            )
            .await;
        assert_eq!(cross.status, StatusCode::FORBIDDEN, "{path} cross-site");
    }
    assert_eq!(web.fake.calls(), 0, "no refused form reached app or crud");
    assert!(web.fake.matches.lock().unwrap().is_empty());
}

#[tokio::test]
async fn sign_in_follows_only_local_next_paths() {
    let web = harness().await;
    let shown = web.get("/?next=%2Fgames%3Fx%3D1", "").await;
    assert!(
        shown.body.contains("name=\"next\" value=\"/games?x=1\""),
        "{}",
        shown.body
    );
    for evil in ["%2F%2Fevil.example", "https%3A%2F%2Fx", "%2F%5Cevil"] {
        let page = web.get(&format!("/?next={evil}"), "").await;
        assert!(
            !page.body.contains("name=\"next\""),
            "{evil} is not offered"
        );
    }
    let token = shown.csrf();
    let cases = [
        ("//evil.example", "/games"),
        ("https://x", "/games"),
        ("/\\evil", "/games"),
        ("", "/games"),
        ("/games?x=1", "/games?x=1"),
        ("/games/hots", "/games/hots"),
    ];
    for (next, expected) in cases {
        let fields = [
            ("user_name", USER),
            ("user_pass", PASSWORD),
            ("csrf", &token),
            ("next", next),
        ];
        let page = web.post("/signin", &csrf_cookie(&token), &fields).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{next}");
        assert_eq!(page.location(), expected, "{next}");
    }
}

#[tokio::test]
async fn the_session_cookie_is_sealed_opaque_and_carries_the_agreed_attributes() {
    for secure in [false, true] {
        let web = harness_with(secure).await;
        let token = web.get("/", "").await.csrf();
        let fields = [
            ("user_name", USER),
            ("user_pass", PASSWORD),
            ("csrf", &token),
        ];
        let page = web.post("/signin", &csrf_cookie(&token), &fields).await;
        assert_eq!(page.location(), "/games");
        let cookie = page.set_cookie(web::SESSION_COOKIE).unwrap();
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
        }
        // The cookie ends when app's session does, 24 hours on; a second may have
        // passed between app opening the session and web setting the cookie.
        assert!(
            cookie.contains("Max-Age=86400") || cookie.contains("Max-Age=86399"),
            "{cookie}"
        );
        assert_eq!(cookie.contains("Secure"), secure, "{cookie}");
        assert!(!cookie.contains(USER), "the cookie carries no user name");
        let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
        assert!(tokens::open_session(&web.keys, value).is_some());

        let games = web
            .get("/games", &format!("{}={value}", web::SESSION_COOKIE))
            .await;
        assert_eq!(games.status, StatusCode::OK);
        assert!(games.body.contains("Apex Legends") && games.body.contains("Heroes of the Storm"));
    }
}

#[tokio::test]
async fn a_failed_sign_in_keeps_the_name_escaped_and_reads_the_same_for_any_reason() {
    let web = harness().await;
    let token = web.get("/", "").await.csrf();
    let attempt = |name: &'static str, pass: &'static str| {
        let token = token.clone();
        let web = &web;
        async move {
            let fields = [("user_name", name), ("user_pass", pass), ("csrf", &token)];
            web.post("/signin", &csrf_cookie(&token), &fields).await
        }
    };
    let hostile = attempt("<script>alert(1)</script>", "whatever").await;
    assert_eq!(hostile.status, StatusCode::UNAUTHORIZED);
    assert!(hostile.body.contains("Wrong user name or password."));
    assert!(
        hostile
            .body
            .contains("value=\"&#60;script&#62;alert(1)&#60;/script&#62;\"")
            || hostile.body.contains("&lt;script&gt;"),
        "{}",
        hostile.body
    );
    assert!(!hostile.body.contains("<script>"));
    assert!(
        !hostile.body.contains("whatever"),
        "the password is never echoed"
    );

    let unknown = attempt("nobody", "wrong-pass").await;
    let wrong = attempt(USER, "wrong-pass").await;
    assert_eq!(unknown.status, wrong.status);
    let strip = |page: &Page| page.body.replace("nobody", USER);
    assert_eq!(strip(&unknown), strip(&wrong));
    let names = |page: &Page| {
        let mut names: Vec<String> = page
            .headers
            .keys()
            .map(|k| k.to_string())
            .filter(|k| k != "x-request-id")
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&unknown), names(&wrong));
}

#[tokio::test]
async fn sign_up_signs_in_and_shows_refusals_at_their_fields() {
    let web = harness().await;
    let token = web.get("/signup", "").await.csrf();
    let cookie = csrf_cookie(&token);
    let post = |name: &'static str, pass: &'static str| {
        let web = &web;
        let cookie = cookie.clone();
        let token = token.clone();
        async move {
            let fields = [("user_name", name), ("user_pass", pass), ("csrf", &token)];
            web.post("/signup", &cookie, &fields).await
        }
    };
    let taken = post(TAKEN, "long-enough-pass").await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(taken.body.contains("That name is taken."));
    assert!(taken.body.contains(&format!("value=\"{TAKEN}\"")));
    assert!(!taken.body.contains("long-enough-pass"));

    let short = post("new<b>", "short").await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.body.contains("Use at least 10 characters."));
    assert!(!short.body.contains("new<b>") && !short.body.contains("value=\"short\""));

    let made = post("newcomer", "long-enough-pass").await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    assert_eq!(made.location(), "/games?notice=welcome");
    let session = made.set_cookie(web::SESSION_COOKIE).unwrap();
    let session = session.split(';').next().unwrap();
    let games = web.get(made.location(), session).await;
    assert!(games.body.contains("Your account is ready."));
}

#[tokio::test]
async fn a_match_is_recorded_listed_edited_and_deleted_through_the_forms() {
    let web = harness().await;
    let (cookie, csrf) = web.signed_in();

    let empty = web.get("/games/apex", &cookie).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(
        empty
            .body
            .contains("You have not recorded any Apex Legends matches yet.")
    );
    assert!(
        empty
            .body
            .contains("<title>Apex Legends results · matchlog</title>")
    );

    let form = web.get("/games/apex/new", &cookie).await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(form.csrf(), csrf);
    for expected in [
        "<label for=\"f-kills\">Kills</label>",
        "type=\"number\"",
        "<datalist id=\"o-legend\">",
        "type=\"radio\" name=\"result\" value=\"win\"",
        "placeholder=\"12:34\"",
        &format!("value=\"{}\"", today()),
        "value=\"trios\"",
    ] {
        assert!(
            form.body.contains(expected),
            "{expected} missing:\n{}",
            form.body
        );
    }

    let today = today();
    let values = valid_apex(&today);
    let mut fields = borrowed(&values);
    fields.push(("csrf", &csrf));
    let saved = web.post("/games/apex", &cookie, &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(saved.location(), "/games/apex?notice=saved");
    let id = web.fake.matches.lock().unwrap()[0].id;
    assert_eq!(id.get_version_num(), 7, "web chooses a time-ordered id");

    let table = web.get(saved.location(), &cookie).await;
    for expected in [
        "Match saved.",
        "Wraith",
        "18:05",
        "Ann, Bo",
        "<svg",
        "href=\"/games/apex?sort=kills&#38;dir=desc\"",
        &format!("/games/apex/{id}/edit"),
        &format!("/games/apex/{id}/delete"),
    ] {
        assert!(
            table.body.contains(expected),
            "{expected} missing:\n{}",
            table.body
        );
    }

    let edit = web.get(&format!("/games/apex/{id}/edit"), &cookie).await;
    assert!(edit.body.contains("value=\"7\"") && edit.body.contains("value=\"18:05\""));
    let mut changed = valid_apex(&today);
    changed[4].1 = "13".into();
    let mut fields = borrowed(&changed);
    fields.push(("csrf", &csrf));
    let updated = web
        .post(&format!("/games/apex/{id}"), &cookie, &fields)
        .await;
    assert_eq!(updated.location(), "/games/apex?notice=updated");
    assert!(
        web.get(&format!("/games/apex/{id}/edit"), &cookie)
            .await
            .body
            .contains("value=\"13\"")
    );

    let confirm = web.get(&format!("/games/apex/{id}/delete"), &cookie).await;
    assert!(confirm.body.contains("Delete this Apex Legends match?"));
    let deleted = web
        .post(
            &format!("/games/apex/{id}/delete"),
            &cookie,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(deleted.location(), "/games/apex?notice=deleted");
    assert!(web.fake.matches.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_bad_match_comes_back_escaped_at_its_field_and_nothing_is_stored() {
    let web = harness().await;
    let (cookie, csrf) = web.signed_in();
    let today = today();
    let mut values = valid_apex(&today);
    values[3].1 = "<script>alert(1)</script>".into();
    values[4].1 = "-1".into();
    let mut fields = borrowed(&values);
    fields.push(("csrf", &csrf));
    let page = web.post("/games/apex", &cookie, &fields).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("Choose a legend from the list."));
    assert!(page.body.contains("Kills must be between 0 and 60."));
    assert!(page.body.contains("value=\"-1\""), "typed values are kept");
    assert!(!page.body.contains("<script>"), "{}", page.body);
    assert!(page.body.contains("&#60;script&#62;") || page.body.contains("&lt;script&gt;"));
    assert!(web.fake.matches.lock().unwrap().is_empty());
}

#[tokio::test]
async fn unknown_games_and_matches_are_our_404_page_with_the_request_id() {
    let web = harness().await;
    let (cookie, _) = web.signed_in();
    let someone_elses = Uuid::now_v7();
    for path in [
        "/games/chess".to_string(),
        "/games/chess/new".to_string(),
        "/games/apex/not-a-uuid/edit".to_string(),
        format!("/games/apex/{someone_elses}/edit"),
        format!("/games/apex/{someone_elses}/delete"),
        "/nowhere".to_string(),
    ] {
        let page = web.get(&path, &cookie).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.body.contains("Page not found"), "{path}");
        let id = page.headers.get("x-request-id").unwrap().to_str().unwrap();
        assert!(
            page.body.contains(id),
            "{path}: the page shows the request id"
        );
    }
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_503_page_naming_the_service_and_the_request() {
    let web = offline().await;
    let cookie = format!(
        "{}={}",
        web::SESSION_COOKIE,
        tokens::seal_session(&web.keys, &tokens::random_token())
    );
    let request = Request::get("/games")
        .header(COOKIE, &cookie)
        .header("x-request-id", "trace-me-123")
        .body(Body::empty())
        .unwrap();
    let page = web.send(request).await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.body.contains(
            "matchlog cannot reach its account service right now; try again in a minute."
        )
    );
    assert!(page.body.contains("trace-me-123"));
    assert_no_internal_text(&page.body);
}

#[tokio::test]
async fn crud_refusing_a_query_shows_its_plain_message_on_the_page() {
    let web = harness().await;
    let (cookie, _) = web.signed_in();
    let page = web.get("/games/apex?page=abc", &cookie).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body
            .contains("The page must be a whole number from 1.")
    );
    assert!(page.body.contains("Apex Legends results"));
    assert_no_internal_text(&page.body);
}

#[tokio::test]
async fn unreadable_forms_get_our_400_page() {
    let web = harness().await;
    let token = web.get("/", "").await.csrf();
    let cookie = csrf_cookie(&token);
    let missing = web
        .post("/signin", &cookie, &[("user_name", USER), ("csrf", &token)])
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(
        missing
            .body
            .contains("The form arrived incomplete or garbled.")
    );
    assert_no_internal_text(&missing.body);

    let plain = Request::post("/signin")
        .header(COOKIE, &cookie)
        .header(CONTENT_TYPE, "text/plain")
        .body(Body::from("user_name=ann"))
        .unwrap();
    let plain = web.send(plain).await;
    assert_eq!(plain.status, StatusCode::BAD_REQUEST);
    assert_no_internal_text(&plain.body);

    let bad_encoding = Request::post("/signin")
        .header(COOKIE, &cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(vec![b'u', b'=', 0xff, 0xfe]))
        .unwrap();
    let bad_encoding = web.send(bad_encoding).await;
    assert_eq!(bad_encoding.status, StatusCode::BAD_REQUEST);
    assert_no_internal_text(&bad_encoding.body);
    assert_eq!(web.fake.calls(), 0);
}

#[tokio::test]
async fn an_oversized_form_gets_our_413_page() {
    let web = harness().await;
    for size in [1_900_000, 3 * 1024 * 1024] {
        let big = format!("user_name={}", "a".repeat(size));
        let request = Request::post("/signin")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("content-length", big.len())
            .body(Body::from(big))
            .unwrap();
        let page = web.send(request).await;
        assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE, "{size} bytes");
        assert!(page.body.contains("Form too large"));
    }
    // Without a declared length the limit still holds while the body is read.
    let chunks = unsized_body(200 * 1024);
    let request = Request::post("/signin")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(chunks)
        .unwrap();
    let page = web.send(request).await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(page.body.contains("Form too large"));
    assert_eq!(web.fake.calls(), 0);
}

/// A body of `size` bytes whose length is not known up front.
fn unsized_body(size: usize) -> Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..size / 1024).map(|_| Ok(vec![b'a'; 1024])).collect();
    Body::from_stream(futures::stream::iter(chunks))
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let web = harness().await;
    let (cookie, _) = web.signed_in();
    let pages = [
        web.get("/", "").await,
        web.get("/games", &cookie).await,
        web.get("/static/style.css", "").await,
        web.get("/static/favicon.svg", "").await,
        web.get("/nowhere", "").await,
        web.post("/signin", "", &[]).await,
        web.get("/health/live", "").await,
    ];
    for page in &pages {
        let header = |name: &str| {
            page.headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        assert_eq!(
            header("content-security-policy").as_deref(),
            Some(
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
            )
        );
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(header("referrer-policy").as_deref(), Some("same-origin"));
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"));
    }
    assert!(
        pages[2].headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(pages[2].body.contains(".table-wrap"));
}

#[tokio::test]
async fn pages_carry_no_inline_script_or_style() {
    let web = harness().await;
    let (cookie, csrf) = web.signed_in();
    let today = today();
    let values = valid_apex(&today);
    let mut fields = borrowed(&values);
    fields.push(("csrf", &csrf));
    web.post("/games/apex", &cookie, &fields).await;
    for path in [
        "/games",
        "/games/apex",
        "/games/apex/new",
        "/games/hots/new",
    ] {
        let page = web.get(path, &cookie).await;
        for forbidden in ["<script", "style=", "<style", "onclick", "javascript:"] {
            assert!(!page.body.contains(forbidden), "{path} has {forbidden}");
        }
        assert!(
            page.body.contains("action=\"/signout\""),
            "{path} has the sign-out button"
        );
    }
    for path in ["/", "/signup"] {
        let page = web.get(path, "").await;
        assert!(!page.body.contains("<script") && !page.body.contains("style="));
    }
}

#[tokio::test]
async fn signing_out_ends_the_session_in_app_and_clears_the_cookie() {
    let web = harness().await;
    let (cookie, csrf) = web.signed_in();
    let page = web.post("/signout", &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/");
    assert!(
        page.set_cookie(web::SESSION_COOKIE)
            .unwrap()
            .contains("Max-Age=0")
    );
    assert!(web.fake.sessions.lock().unwrap().is_empty());
    let replayed = web.get("/games", &cookie).await;
    assert_eq!(
        replayed.status,
        StatusCode::SEE_OTHER,
        "a copied cookie is dead"
    );
}

#[tokio::test]
async fn stray_gets_land_on_a_page_and_pages_are_not_cached() {
    let web = offline().await;
    let signin = web.get("/signin", "").await;
    assert_eq!(signin.status, StatusCode::SEE_OTHER);
    assert_eq!(signin.location(), "/");
    let id = Uuid::now_v7();
    let one = web.get(&format!("/games/apex/{id}"), "").await;
    assert_eq!(one.location(), format!("/games/apex/{id}/edit"));
    let unknown = web.get(&format!("/games/%2F%2Fevil/{id}"), "").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let page = web.get("/", "").await;
    assert_eq!(page.headers["cache-control"], "no-store");
    let style = web.get("/static/style.css", "").await;
    assert_eq!(style.headers["cache-control"], "public, max-age=3600");
    let not_allowed = web
        .send(Request::delete("/games").body(Body::empty()).unwrap())
        .await;
    assert_eq!(not_allowed.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        not_allowed
            .body
            .contains("This page does not take that kind of request.")
    );
}
