//! The pages against the real `app` and `crud` routers, served in-process on 127.0.0.1:0
//! with SQLite stores in a fresh temporary directory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, COOKIE};
use axum::http::{Request, StatusCode};
use uuid::Uuid;

use super::{Harness, Page, borrowed, config_with, fakes::Fake, form_body, today, valid_apex};

const PASSWORD: &str = "correct horse battery";

/// The three tiers; the data directory goes when the stack does.
struct Stack {
    web: Harness,
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

async fn stack() -> Stack {
    let data_dir = std::env::temp_dir().join(format!("matchlog-web-{}", Uuid::new_v4()));
    let (app_listener, app_url) = listen().await;
    let (crud_listener, crud_url) = listen().await;
    let extra = [
        ("MATCHLOG_DATA_DIR", data_dir.display().to_string()),
        ("MATCHLOG_BCRYPT_COST", "4".to_string()),
    ];
    let config = config_with(&app_url, &crud_url, false, &extra);
    config.ensure_data_dir().unwrap();
    let app = app::build(&config).await.expect("app builds");
    let crud = crud::build(&config).await.expect("crud builds");
    tokio::spawn(async move { axum::serve(app_listener, app).await });
    tokio::spawn(async move { axum::serve(crud_listener, crud).await });
    let web = Harness {
        router: web::build(&config).await.unwrap(),
        keys: config.session_keys.clone(),
        fake: Fake::default(),
    };
    Stack { web, data_dir }
}

/// A browser without JavaScript: keeps the cookies it is given, follows nothing itself.
struct Browser<'a> {
    web: &'a Harness,
    cookies: Mutex<BTreeMap<String, String>>,
}

impl<'a> Browser<'a> {
    fn new(web: &'a Harness) -> Self {
        Self {
            web,
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    fn cookie_header(&self) -> String {
        let cookies = self.cookies.lock().unwrap();
        let pairs: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.join("; ")
    }

    fn keep(&self, page: &Page) {
        let mut cookies = self.cookies.lock().unwrap();
        for set in page.set_cookies() {
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if set.contains("Max-Age=0") {
                cookies.remove(name);
            } else {
                cookies.insert(name.to_string(), value.to_string());
            }
        }
    }

    async fn get(&self, path: &str) -> Page {
        let page = self.web.get(path, &self.cookie_header()).await;
        self.keep(&page);
        page
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let request = Request::post(path)
            .header(COOKIE, self.cookie_header())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form_body(fields)))
            .unwrap();
        let page = self.web.send(request).await;
        self.keep(&page);
        page
    }

    /// Opens `form_page` and posts `fields` with its CSRF token to `action`.
    async fn submit(&self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(form_page).await.csrf();
        let mut fields = fields.to_vec();
        fields.push(("csrf", &csrf));
        self.post(action, &fields).await
    }

    async fn sign_up(&self, name: &str) -> Page {
        let fields = [("user_name", name), ("user_pass", PASSWORD)];
        self.submit("/signup", "/signup", &fields).await
    }

    async fn sign_in(&self, name: &str, password: &str) -> Page {
        let fields = [("user_name", name), ("user_pass", password)];
        self.submit("/", "/signin", &fields).await
    }
}

#[tokio::test]
async fn a_player_signs_up_records_a_match_and_signs_out_for_good() {
    let stack = stack().await;
    let ann = Browser::new(&stack.web);
    let made = ann.sign_up("Ann_Lee").await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    assert_eq!(made.location(), "/games?notice=welcome");
    let games = ann.get(made.location()).await;
    assert!(games.body.contains("Signed in as <strong>Ann_Lee</strong>"));

    let today = today();
    let mut values = valid_apex(&today);
    values[8].1 = "<b>Bo</b>, Cy".into();
    let saved = ann
        .submit("/games/apex/new", "/games/apex", &borrowed(&values))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let table = ann.get(saved.location()).await;
    assert!(table.body.contains("Match saved."));
    assert!(table.body.contains("Wraith") && table.body.contains("18:05"));
    assert!(!table.body.contains("<b>Bo</b>"), "stored text is escaped");
    assert!(table.body.contains("<svg"), "the month chart is drawn");

    let copied = ann.cookie_header();
    let out = ann.submit("/games", "/signout", &[]).await;
    assert_eq!(out.location(), "/");
    let replayed = stack.web.get("/games", &copied).await;
    assert_eq!(
        replayed.status,
        StatusCode::SEE_OTHER,
        "PC-11: a copied cookie is dead"
    );
    assert_eq!(replayed.location(), "/?next=%2Fgames");

    let back = Browser::new(&stack.web);
    assert_eq!(back.sign_in("ann_lee", PASSWORD).await.location(), "/games");
}

#[tokio::test]
async fn an_unknown_name_and_a_wrong_password_get_the_same_page() {
    let stack = stack().await;
    Browser::new(&stack.web).sign_up("known_user").await;
    let attempt = |name: &'static str| {
        let web = &stack.web;
        async move {
            let browser = Browser::new(web);
            browser.get("/").await;
            let page = browser.sign_in(name, "not-the-password").await;
            (page.status, page.body.replace(name, "NAME"), {
                let mut names: Vec<String> = page.headers.keys().map(|k| k.to_string()).collect();
                names.sort();
                names
            })
        }
    };
    let unknown = attempt("nobody_here").await;
    let wrong = attempt("known_user").await;
    assert_eq!(unknown.0, StatusCode::UNAUTHORIZED);
    assert!(unknown.1.contains("Wrong user name or password."));
    let strip = |body: &str| {
        // The CSRF token differs between browsers; everything else must match.
        let at = body.find("name=\"csrf\" value=\"").unwrap();
        let end = at + body[at..].find("\">").unwrap();
        format!("{}{}", &body[..at], &body[end..])
    };
    assert_eq!(strip(&unknown.1), strip(&wrong.1));
    assert_eq!(unknown.2, wrong.2);
}

#[tokio::test]
async fn a_taken_name_in_another_case_is_shown_at_the_field() {
    let stack = stack().await;
    Browser::new(&stack.web).sign_up("Alice").await;
    let page = Browser::new(&stack.web).sign_up("ALICE").await;
    assert!(page.status.is_client_error());
    assert!(page.body.contains("That name is taken."));
    assert!(page.body.contains("value=\"ALICE\""));
    assert!(!page.body.contains(PASSWORD));
}

#[tokio::test]
async fn nobody_sees_or_changes_another_players_match() {
    let stack = stack().await;
    let ann = Browser::new(&stack.web);
    ann.sign_up("ann_owner").await;
    let today = today();
    let values = valid_apex(&today);
    ann.submit("/games/apex/new", "/games/apex", &borrowed(&values))
        .await;
    let table = ann.get("/games/apex").await;
    let at = table.body.find("/edit\"").unwrap();
    let id = &table.body[at - 36..at];
    Uuid::parse_str(id).unwrap();

    let eve = Browser::new(&stack.web);
    eve.sign_up("eve_other").await;
    for path in [
        format!("/games/apex/{id}/edit"),
        format!("/games/apex/{id}/delete"),
    ] {
        assert_eq!(eve.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let csrf = eve.get("/games").await.csrf();
    let mut fields = borrowed(&values);
    fields.push(("csrf", &csrf));
    let edit = eve.post(&format!("/games/apex/{id}"), &fields).await;
    assert_eq!(edit.status, StatusCode::NOT_FOUND);
    let delete = eve
        .post(&format!("/games/apex/{id}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(delete.status, StatusCode::NOT_FOUND);
    assert!(
        eve.get("/games/apex")
            .await
            .body
            .contains("You have not recorded any")
    );
    assert!(
        ann.get("/games/apex").await.body.contains(id),
        "ann's match is still there"
    );
}
