//! Small stand-ins for `app` and `crud`, speaking the wire contract of `shared::api`, served
//! on 127.0.0.1:0 so that web's pages can be driven in-process. Each counts the calls it
//! gets, so a test can show that a refused form never reached an upstream tier.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use shared::api::{
    Account, ApiError, Credentials, MatchList, MatchRecord, MatchUpdate, MonthCount, NewMatch,
    NewSession, SESSION_HEADER, SessionInfo, SortDir, Stats,
};
use uuid::Uuid;

pub const USER: &str = "ann";
pub const PASSWORD: &str = "right-pass-123";
pub const TAKEN: &str = "taken";

#[derive(Clone, Default)]
pub struct Fake {
    pub calls: Arc<AtomicUsize>,
    pub sessions: Arc<Mutex<HashSet<String>>>,
    pub matches: Arc<Mutex<Vec<MatchRecord>>>,
    pub user_id: Uuid,
}

impl Fake {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Opens a session as `app` would after a sign-in, returning its token.
    pub fn open_session(&self) -> String {
        let token = shared::tokens::random_token();
        self.sessions.lock().unwrap().insert(token.clone());
        token
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

/// Serves `app` and `crud` fakes; returns their base URLs.
pub async fn start(fake: &Fake) -> (String, String) {
    let app = Router::new()
        .route("/v1/accounts", post(sign_up))
        .route("/v1/sessions", post(sign_in))
        .route("/v1/sessions/current", get(session).delete(sign_out))
        .with_state(fake.clone());
    let crud = Router::new()
        .route("/v1/games/{game}/matches", get(list).post(create))
        .route(
            "/v1/games/{game}/matches/{id}",
            get(fetch).put(update).delete(remove),
        )
        .with_state(fake.clone());
    (serve(app).await, serve(crud).await)
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    ApiError::new(code, message).with_status(status)
}

async fn sign_up(State(fake): State<Fake>, Json(body): Json<Credentials>) -> Response {
    fake.count();
    if body.user_name.eq_ignore_ascii_case(TAKEN) {
        return refuse(StatusCode::CONFLICT, "name_taken", "That name is taken.");
    }
    if body.user_pass.len() < 10 {
        let fields = BTreeMap::from([(
            "user_pass".to_string(),
            "Use at least 10 characters.".to_string(),
        )]);
        return ApiError::invalid(fields).with_status(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let account = Account {
        user_id: Uuid::new_v4(),
        user_name: body.user_name,
    };
    (StatusCode::CREATED, Json(account)).into_response()
}

async fn sign_in(State(fake): State<Fake>, Json(body): Json<Credentials>) -> Response {
    fake.count();
    let known = body.user_name == USER || body.user_name.starts_with("new");
    if !known || !(body.user_pass == PASSWORD || body.user_name.starts_with("new")) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "Wrong user name or password.",
        );
    }
    let session = NewSession {
        token: fake.open_session(),
        user_id: fake.user_id,
        user_name: body.user_name,
        expires_at: shared::tokens::unix_now() + 86_400,
    };
    (StatusCode::CREATED, Json(session)).into_response()
}

fn session_token(headers: &HeaderMap) -> String {
    headers
        .get(SESSION_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn session(State(fake): State<Fake>, headers: HeaderMap) -> Response {
    fake.count();
    if !fake
        .sessions
        .lock()
        .unwrap()
        .contains(&session_token(&headers))
    {
        return refuse(StatusCode::UNAUTHORIZED, "no_session", "No such session.");
    }
    Json(SessionInfo {
        user_id: fake.user_id,
        user_name: USER.into(),
        expires_at: shared::tokens::unix_now() + 86_400,
    })
    .into_response()
}

async fn sign_out(State(fake): State<Fake>, headers: HeaderMap) -> StatusCode {
    fake.count();
    fake.sessions
        .lock()
        .unwrap()
        .remove(&session_token(&headers));
    StatusCode::NO_CONTENT
}

async fn list(
    State(fake): State<Fake>,
    Path(game): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    fake.count();
    if query
        .get("page")
        .is_some_and(|page| page.parse::<u32>().is_err())
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "The page must be a whole number from 1.",
        );
    }
    let items: Vec<MatchRecord> = fake
        .matches
        .lock()
        .unwrap()
        .iter()
        .filter(|record| record.game == game)
        .cloned()
        .collect();
    let wins = items
        .iter()
        .filter(|record| record.fields.get("result").and_then(|v| v.as_str()) == Some("win"))
        .count() as u64;
    let months = if items.is_empty() {
        Vec::new()
    } else {
        vec![MonthCount {
            month: "2026-11".into(),
            matches: items.len() as u64,
            wins,
        }]
    };
    let list = MatchList {
        total: items.len(),
        page: 1,
        per_page: 20,
        pages: 1,
        sort: query.get("sort").cloned().unwrap_or_else(|| "date".into()),
        dir: SortDir::Desc,
        filters: BTreeMap::new(),
        stats: Stats {
            matches: items.len() as u64,
            wins,
            months,
            ..Stats::default()
        },
        items,
    };
    Json(list).into_response()
}

async fn create(
    State(fake): State<Fake>,
    Path(game): Path<String>,
    Json(new): Json<NewMatch>,
) -> Response {
    fake.count();
    let record = MatchRecord {
        id: new.id,
        game,
        fields: new.fields,
        created_at: 0,
        updated_at: 0,
    };
    fake.matches.lock().unwrap().push(record.clone());
    (StatusCode::CREATED, Json(record)).into_response()
}

fn find(fake: &Fake, game: &str, id: &str) -> Option<MatchRecord> {
    fake.matches
        .lock()
        .unwrap()
        .iter()
        .find(|record| record.game == game && record.id.to_string() == id)
        .cloned()
}

fn not_found() -> Response {
    refuse(StatusCode::NOT_FOUND, "not_found", "No such match.")
}

async fn fetch(State(fake): State<Fake>, Path((game, id)): Path<(String, String)>) -> Response {
    fake.count();
    match find(&fake, &game, &id) {
        Some(record) => Json(record).into_response(),
        None => not_found(),
    }
}

async fn update(
    State(fake): State<Fake>,
    Path((game, id)): Path<(String, String)>,
    Json(update): Json<MatchUpdate>,
) -> Response {
    fake.count();
    let mut matches = fake.matches.lock().unwrap();
    let Some(record) = matches
        .iter_mut()
        .find(|record| record.game == game && record.id.to_string() == id)
    else {
        return not_found();
    };
    record.fields = update.fields;
    Json(record.clone()).into_response()
}

async fn remove(State(fake): State<Fake>, Path((game, id)): Path<(String, String)>) -> Response {
    fake.count();
    let mut matches = fake.matches.lock().unwrap();
    let before = matches.len();
    matches.retain(|record| !(record.game == game && record.id.to_string() == id));
    if matches.len() == before {
        return not_found();
    }
    StatusCode::NO_CONTENT.into_response()
}
