//! The crud tier's JSON API, called in process through the whole router (`oneshot`), with
//! credentials minted the way `web` mints them.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use crud::CrudState;
use results_store::{DynamoStore, Inserted, ResultStore, StoreError, StoredMatch};
use serde_json::{Map, Value as Json, json};
use shared::auth::InternalKeys;
use shared::catalog::{Catalog, Game};
use shared::config::Config;
use shared::http::Lifecycle;
use shared::tokens::{KeyRing, mint_credential, unix_now};
use tower::ServiceExt as _;
use uuid::Uuid;

#[path = "../../crates/results-store/tests/support/dynalite.rs"]
mod dynalite_proxy;
#[path = "support/dynamodb.rs"]
mod dynamodb;

const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// The tier on a fresh SQLite file, and the key ring its credentials verify with.
struct TestApp {
    router: Router,
    keys: KeyRing,
    lifecycle: Lifecycle,
    dir: PathBuf,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a call answered: the status, the body as JSON (or `Null`), and the raw text.
struct Answer {
    status: StatusCode,
    json: Json,
    text: String,
}

impl Answer {
    fn code(&self) -> &str {
        self.json["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }
}

async fn app() -> TestApp {
    app_with(Catalog::builtin()).await
}

/// The tier on fresh DynamoDB tables (a unique prefix), or `None` when skipping on purpose.
async fn dynamodb_app(catalog: &'static Catalog) -> Option<TestApp> {
    let endpoint = dynamodb::endpoint()?;
    Some(dynamodb_app_at(&endpoint, catalog).await)
}

/// The same on dynalite, behind the proxy that replays the transactions it lacks.
async fn dynalite_app(catalog: &'static Catalog) -> Option<TestApp> {
    let endpoint = dynamodb::dynalite_endpoint()?;
    let proxy = dynalite_proxy::start(&endpoint).await;
    Some(dynamodb_app_at(&proxy, catalog).await)
}

async fn dynamodb_app_at(endpoint: &str, catalog: &'static Catalog) -> TestApp {
    let prefix = format!("api-{}-", Uuid::new_v4().simple());
    let store = DynamoStore::for_local_endpoint(endpoint, &prefix, catalog)
        .unwrap()
        .with_page_limit(3);
    store.create_tables().await.expect("create the test tables");
    app_on_store(Arc::new(store), catalog)
}

async fn app_with(catalog: &'static Catalog) -> TestApp {
    let dir = std::env::temp_dir().join(format!("matchlog-crud-{}", Uuid::new_v4()));
    let url = format!("sqlite://{}?mode=rwc", dir.join("results.db").display());
    let pairs = [
        ("MATCHLOG_DATA_DIR", dir.display().to_string()),
        ("MATCHLOG_RESULTS_DB", url),
        ("MATCHLOG_INTERNAL_KEY", KEY.to_string()),
        ("MATCHLOG_SESSION_KEY", KEY.to_string()),
    ];
    let config = Config::from_lookup(|name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    let store = results_store::connect_with_catalog(&config, catalog)
        .await
        .unwrap();
    let mut app = app_on_store(store, catalog);
    app.dir = dir;
    app
}

fn app_on_store(store: Arc<dyn ResultStore>, catalog: &'static Catalog) -> TestApp {
    let keys = KeyRing::generate();
    let lifecycle = Lifecycle::default();
    let state = CrudState {
        store,
        keys: InternalKeys(keys.clone()),
        catalog,
        lifecycle: lifecycle.clone(),
    };
    TestApp {
        router: crud::router(state),
        keys,
        lifecycle,
        dir: std::env::temp_dir().join(format!("matchlog-crud-none-{}", Uuid::new_v4())),
    }
}

impl TestApp {
    fn credential(&self, user: Uuid) -> String {
        format!(
            "Bearer {}",
            mint_credential(&self.keys, Some(user), unix_now())
        )
    }

    /// Sends a request with `authorization` (if any) and a raw JSON body (if any).
    async fn send(
        &self,
        method: Method,
        uri: &str,
        authorization: Option<String>,
        body: Option<String>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let body = match body {
            Some(text) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(text)
            }
            None => Body::empty(),
        };
        self.send_request(request.body(body).unwrap()).await
    }

    async fn send_request(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Json::Null);
        Answer { status, json, text }
    }

    async fn call(&self, method: Method, uri: &str, user: Uuid, body: Option<Json>) -> Answer {
        let body = body.map(|json| json.to_string());
        self.send(method, uri, Some(self.credential(user)), body)
            .await
    }

    async fn create(&self, user: Uuid, slug: &str, id: Uuid, fields: Json) -> Answer {
        let uri = format!("/v1/games/{slug}/matches");
        let body = json!({"id": id, "fields": fields});
        self.call(Method::POST, &uri, user, Some(body)).await
    }

    async fn create_ok(&self, user: Uuid, slug: &str, fields: Json) -> Uuid {
        let id = Uuid::new_v4();
        let answer = self.create(user, slug, id, fields).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        id
    }

    async fn list(&self, user: Uuid, slug: &str, query: &str) -> Answer {
        let uri = format!("/v1/games/{slug}/matches?{query}");
        self.call(Method::GET, &uri, user, None).await
    }

    async fn total(&self, user: Uuid, slug: &str) -> u64 {
        let answer = self.list(user, slug, "").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.json["total"].as_u64().unwrap()
    }
}

fn apex(date: &str, result: &str, legend: &str, kills: i64) -> Json {
    json!({
        "date": date, "mode": "trios", "result": result, "legend": legend,
        "kills": kills, "placement": 2, "damage": 1200, "time": "15:20",
        "teammates": ["Ann Lee"],
    })
}

fn hots() -> Json {
    json!({
        "date": "2026-11-01", "result": "win", "hero": "Li Li", "kills": 3, "deaths": 2,
        "assists": 11, "time": "21:30", "map": "Cursed Hollow",
    })
}

fn ids(answer: &Answer) -> Vec<Uuid> {
    answer.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// Every route with a path that would otherwise succeed for its owner.
fn every_route(id: Uuid) -> Vec<(Method, String, Option<String>)> {
    let create = json!({"id": Uuid::new_v4(), "fields": apex("2026-11-01", "win", "Wraith", 3)});
    let update = json!({"fields": apex("2026-11-02", "loss", "Loba", 1)});
    vec![
        (Method::GET, "/v1/games/apex/matches".into(), None),
        (
            Method::POST,
            "/v1/games/apex/matches".into(),
            Some(create.to_string()),
        ),
        (Method::GET, format!("/v1/games/apex/matches/{id}"), None),
        (
            Method::PUT,
            format!("/v1/games/apex/matches/{id}"),
            Some(update.to_string()),
        ),
        (Method::DELETE, format!("/v1/games/apex/matches/{id}"), None),
        (Method::DELETE, "/v1/matches".into(), None),
    ]
}

async fn every_route_refuses_a_missing_forged_or_expired_credential(app: TestApp) {
    let owner = Uuid::new_v4();
    let id = app
        .create_ok(owner, "apex", apex("2026-11-01", "win", "Wraith", 3))
        .await;
    let forged = mint_credential(&KeyRing::generate(), Some(owner), unix_now());
    let expired = mint_credential(&app.keys, Some(owner), unix_now() - 120);
    let for_nobody = mint_credential(&app.keys, None, unix_now());
    let bad_credentials = [
        None,
        Some(format!("Bearer {forged}")),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {for_nobody}")),
        Some("Bearer".into()),
        Some("Bearer not-a-credential".into()),
        Some(format!("Basic {owner}")),
        Some(owner.to_string()),
    ];
    for (method, uri, body) in every_route(id) {
        for credential in &bad_credentials {
            let answer = app
                .send(method.clone(), &uri, credential.clone(), body.clone())
                .await;
            assert_eq!(
                (answer.status, answer.code()),
                (StatusCode::UNAUTHORIZED, "unauthenticated"),
                "{method} {uri} with {credential:?}: {}",
                answer.text
            );
        }
    }
    let kept = app
        .call(
            Method::GET,
            &format!("/v1/games/apex/matches/{id}"),
            owner,
            None,
        )
        .await;
    assert_eq!(
        kept.status,
        StatusCode::OK,
        "nothing was changed or deleted"
    );
    assert_eq!(app.total(owner, "apex").await, 1, "nothing was created");
}

async fn another_user_cannot_list_the_first_users_matches(app: TestApp) {
    let (owner, other) = (Uuid::new_v4(), Uuid::new_v4());
    app.create_ok(owner, "apex", apex("2026-11-01", "win", "Wraith", 3))
        .await;
    let answer = app.list(other, "apex", "").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json["total"], 0);
    assert_eq!(answer.json["items"], json!([]));
    assert_eq!(answer.json["stats"]["matches"], 0);
}

async fn another_user_cannot_get_the_first_users_match(app: TestApp) {
    let (owner, other) = (Uuid::new_v4(), Uuid::new_v4());
    let id = app
        .create_ok(owner, "apex", apex("2026-11-01", "win", "Wraith", 3))
        .await;
    let uri = format!("/v1/games/apex/matches/{id}");
    let answer = app.call(Method::GET, &uri, other, None).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let missing = format!("/v1/games/apex/matches/{}", Uuid::new_v4());
    let for_missing = app.call(Method::GET, &missing, other, None).await;
    assert_eq!(
        answer.json, for_missing.json,
        "someone else's match looks missing"
    );
}

async fn another_user_cannot_update_the_first_users_match(app: TestApp) {
    let (owner, other) = (Uuid::new_v4(), Uuid::new_v4());
    let original = apex("2026-11-01", "win", "Wraith", 3);
    let id = app.create_ok(owner, "apex", original.clone()).await;
    let uri = format!("/v1/games/apex/matches/{id}");
    let update = json!({"fields": apex("2026-11-02", "loss", "Loba", 1)});
    let answer = app.call(Method::PUT, &uri, other, Some(update)).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let kept = app.call(Method::GET, &uri, owner, None).await;
    assert_eq!(kept.json["fields"], original);
}

async fn another_user_cannot_delete_the_first_users_match(app: TestApp) {
    let (owner, other) = (Uuid::new_v4(), Uuid::new_v4());
    let id = app
        .create_ok(owner, "apex", apex("2026-11-01", "win", "Wraith", 3))
        .await;
    let uri = format!("/v1/games/apex/matches/{id}");
    let answer = app.call(Method::DELETE, &uri, other, None).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let everything = app.call(Method::DELETE, "/v1/matches", other, None).await;
    assert_eq!(everything.status, StatusCode::NO_CONTENT);
    assert_eq!(app.total(owner, "apex").await, 1);
}

async fn another_user_cannot_take_over_an_id(app: TestApp) {
    let (owner, other) = (Uuid::new_v4(), Uuid::new_v4());
    let original = apex("2026-11-01", "win", "Wraith", 3);
    let id = app.create_ok(owner, "apex", original.clone()).await;
    let answer = app
        .create(other, "apex", id, apex("2026-11-02", "loss", "Loba", 1))
        .await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::CONFLICT, "id_taken")
    );
    assert_eq!(app.total(other, "apex").await, 0);
    let kept = app
        .call(
            Method::GET,
            &format!("/v1/games/apex/matches/{id}"),
            owner,
            None,
        )
        .await;
    assert_eq!(kept.json["fields"], original);
}

async fn a_created_match_reads_back_in_canonical_form(app: TestApp) {
    let user = Uuid::new_v4();
    let id = Uuid::new_v4();
    let mut sent = apex("2026-11-01", "WIN", "wraith", 3);
    sent["teammates"] = json!([" Ann Lee ", "bob"]);
    let created = app.create(user, "apex", id, sent).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.json["id"], json!(id));
    assert_eq!(created.json["game"], "apex");
    assert_eq!(created.json["fields"]["result"], "win");
    assert_eq!(created.json["fields"]["legend"], "Wraith");
    assert_eq!(
        created.json["fields"]["teammates"],
        json!(["Ann Lee", "bob"])
    );
    assert_eq!(created.json["created_at"], created.json["updated_at"]);

    let read = app
        .call(
            Method::GET,
            &format!("/v1/games/apex/matches/{id}"),
            user,
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json, created.json);
}

async fn a_retried_create_is_stored_once_and_answers_the_stored_match(app: TestApp) {
    let user = Uuid::new_v4();
    let id = Uuid::new_v4();
    let fields = apex("2026-11-01", "win", "Wraith", 3);
    let first = app.create(user, "apex", id, fields.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = app.create(user, "apex", id, fields).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.json, first.json);
    let changed = app
        .create(user, "apex", id, apex("2026-11-02", "loss", "Loba", 9))
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(changed.json, first.json, "the first stored values stand");
    assert_eq!(app.total(user, "apex").await, 1);
}

async fn the_list_sorts_filters_pages_and_counts(app: TestApp) {
    let user = Uuid::new_v4();
    let mut created = Vec::new();
    for fields in [
        apex("2026-11-03", "win", "Wraith", 7),
        apex("2026-11-05", "loss", "Loba", 2),
        apex("2026-10-20", "win", "Loba", 11),
        apex("2026-11-04", "loss", "Wraith", 0),
        apex("2026-09-01", "loss", "Wraith", 4),
    ] {
        created.push(app.create_ok(user, "apex", fields).await);
        // Creation times are in milliseconds; keep them distinct for `sort=created`.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let [a, b, c, d, e] = created[..] else {
        unreachable!("five matches")
    };

    let all = app.list(user, "apex", "").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    assert_eq!(ids(&all), [b, d, a, c, e], "newest date first by default");
    assert_eq!(
        (
            &all.json["sort"],
            &all.json["dir"],
            &all.json["total"],
            &all.json["pages"]
        ),
        (&json!("date"), &json!("desc"), &json!(5), &json!(1))
    );
    assert_eq!(all.json["stats"]["matches"], 5);
    assert_eq!(all.json["stats"]["wins"], 2);

    let by_kills = app.list(user, "apex", "sort=kills&dir=asc").await;
    assert_eq!(ids(&by_kills), [d, b, e, a, c]);
    let by_created = app.list(user, "apex", "sort=created&dir=asc").await;
    assert_eq!(ids(&by_created), [a, b, c, d, e]);
    let by_legend = app.list(user, "apex", "sort=legend&dir=desc").await;
    assert_eq!(ids(&by_legend)[..3].len(), 3);
    assert!(ids(&by_legend)[..3].iter().all(|id| [a, d, e].contains(id)));

    let wraith_losses = app.list(user, "apex", "legend=wraith&result=loss").await;
    assert_eq!(ids(&wraith_losses), [d, e]);
    assert_eq!(
        wraith_losses.json["filters"],
        json!({"legend": "Wraith", "result": "loss"})
    );
    assert_eq!(wraith_losses.json["stats"]["matches"], 2);
    assert_eq!(wraith_losses.json["stats"]["wins"], 0);

    let november = app
        .list(user, "apex", "from=2026-11-01&to=2026-11-04")
        .await;
    assert_eq!(ids(&november), [d, a]);

    let page_two = app.list(user, "apex", "per_page=2&page=2").await;
    assert_eq!(ids(&page_two), [a, c]);
    assert_eq!(
        (&page_two.json["total"], &page_two.json["pages"]),
        (&json!(5), &json!(3))
    );
    assert_eq!(
        page_two.json["stats"]["matches"], 5,
        "stats cover every page"
    );
    let past_the_end = app.list(user, "apex", "per_page=2&page=9").await;
    assert_eq!(past_the_end.status, StatusCode::OK);
    assert!(ids(&past_the_end).is_empty());

    let hots_list = app.list(user, "hots", "").await;
    assert_eq!(hots_list.json["total"], 0, "games are kept apart");
}

#[tokio::test]
async fn bad_list_queries_get_a_plain_400() {
    let app = app().await;
    let user = Uuid::new_v4();
    for query in [
        "page=abc",
        "page=0",
        "per_page=500",
        "sort=colour",
        "dir=sideways",
        "legend=Master%20Chief",
        "kills=3",
        "from=tomorrow",
        "nonsense=1",
        "page=1&page=2",
    ] {
        let answer = app.list(user, "apex", query).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::BAD_REQUEST, "invalid_query"),
            "{query}: {}",
            answer.text
        );
        let message = answer.json["error"]["message"].as_str().unwrap();
        assert!(!message.is_empty() && !message.contains("::"), "{message}");
    }
}

async fn an_update_replaces_the_values_and_keeps_the_creation_time(app: TestApp) {
    let user = Uuid::new_v4();
    let id = app
        .create_ok(user, "apex", apex("2026-11-01", "win", "Wraith", 3))
        .await;
    let uri = format!("/v1/games/apex/matches/{id}");
    let before = app.call(Method::GET, &uri, user, None).await;
    let changed = apex("2026-11-02", "loss", "Loba", 1);
    let update = json!({"fields": changed});
    let answer = app.call(Method::PUT, &uri, user, Some(update)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json["fields"], changed);
    assert_eq!(answer.json["created_at"], before.json["created_at"]);
    assert!(answer.json["updated_at"].as_i64() >= before.json["updated_at"].as_i64());
    let read = app.call(Method::GET, &uri, user, None).await;
    assert_eq!(read.json, answer.json);

    let invalid = json!({"fields": apex("2026-11-02", "loss", "Loba", -4)});
    let refused = app.call(Method::PUT, &uri, user, Some(invalid)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.json["error"]["fields"]["kills"].is_string());
    let still = app.call(Method::GET, &uri, user, None).await;
    assert_eq!(still.json, answer.json, "a refused update changes nothing");

    let missing = format!("/v1/games/apex/matches/{}", Uuid::new_v4());
    let update = json!({"fields": apex("2026-11-02", "loss", "Loba", 1)});
    let answer = app.call(Method::PUT, &missing, user, Some(update)).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
}

async fn a_deleted_match_is_gone(app: TestApp) {
    let user = Uuid::new_v4();
    let id = app
        .create_ok(user, "apex", apex("2026-11-01", "win", "Wraith", 3))
        .await;
    let kept = app
        .create_ok(user, "apex", apex("2026-11-02", "win", "Wraith", 3))
        .await;
    let uri = format!("/v1/games/apex/matches/{id}");
    let answer = app.call(Method::DELETE, &uri, user, None).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(answer.text.is_empty());
    let read = app.call(Method::GET, &uri, user, None).await;
    assert_eq!(read.status, StatusCode::NOT_FOUND);
    let again = app.call(Method::DELETE, &uri, user, None).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert_eq!(ids(&app.list(user, "apex", "").await), [kept]);
}

async fn deleting_everything_empties_every_game_of_that_user_only(app: TestApp) {
    let (user, other) = (Uuid::new_v4(), Uuid::new_v4());
    app.create_ok(user, "apex", apex("2026-11-01", "win", "Wraith", 3))
        .await;
    app.create_ok(user, "hots", hots()).await;
    app.create_ok(other, "hots", hots()).await;
    let answer = app.call(Method::DELETE, "/v1/matches", user, None).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(app.total(user, "apex").await, 0);
    assert_eq!(app.total(user, "hots").await, 0);
    assert_eq!(app.total(other, "hots").await, 1);
}

async fn invalid_values_are_refused_with_a_message_per_field_and_nothing_stored(app: TestApp) {
    let user = Uuid::new_v4();
    let future = (time::OffsetDateTime::now_utc().date() + time::Duration::days(5)).to_string();
    let long_name = "x".repeat(300);
    let forty_digits = "1".repeat(40);
    let valid_apex = apex("2026-11-01", "win", "Wraith", 3).to_string();
    let valid_hots = hots().to_string();
    // (game, field at fault, raw JSON of the fields, what the case is)
    let cases: Vec<(&str, &str, String, &str)> = vec![
        (
            "apex",
            "kills",
            with(&valid_apex, "kills", "-1"),
            "negative kills",
        ),
        (
            "apex",
            "placement",
            with(&valid_apex, "placement", "25"),
            "placement past trios' 20",
        ),
        (
            "hots",
            "hero",
            with(&valid_hots, "hero", "\"Master Chief\""),
            "unknown hero",
        ),
        (
            "apex",
            "date",
            with(&valid_apex, "date", &format!("\"{future}\"")),
            "future date",
        ),
        (
            "apex",
            "kills",
            without(&valid_apex, "kills"),
            "missing field",
        ),
        (
            "apex",
            "kills",
            with(&valid_apex, "kills", "\"seven\""),
            "text in a number",
        ),
        (
            "apex",
            "teammates",
            with(&valid_apex, "teammates", &format!("[\"{long_name}\"]")),
            "300-character teammate",
        ),
        (
            "apex",
            "kills",
            with(&valid_apex, "kills", &forty_digits),
            "40-digit number",
        ),
        (
            "apex",
            "damage",
            with(&valid_apex, "damage", "1.5"),
            "fraction",
        ),
        (
            "apex",
            "date",
            with(&valid_apex, "date", "\"\""),
            "empty date (PC-02)",
        ),
        (
            "apex",
            "date",
            with(&valid_apex, "date", "\"   \""),
            "blank date (PC-02)",
        ),
        (
            "apex",
            "surprise",
            with(&valid_apex, "surprise", "1"),
            "unknown field",
        ),
    ];
    for (slug, field, fields, what) in cases {
        let body = format!("{{\"id\":\"{}\",\"fields\":{fields}}}", Uuid::new_v4());
        let uri = format!("/v1/games/{slug}/matches");
        let answer = app
            .send(Method::POST, &uri, Some(app.credential(user)), Some(body))
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            "{what}: {}",
            answer.text
        );
        let message = &answer.json["error"]["fields"][field];
        assert!(
            message.is_string(),
            "{what}: no message at {field}: {}",
            answer.text
        );
    }
    assert_eq!(app.total(user, "apex").await, 0);
    assert_eq!(app.total(user, "hots").await, 0);
}

/// `object` (JSON text) with `key` set to the raw JSON `value`.
fn with(object: &str, key: &str, value: &str) -> String {
    let mut map: Map<String, Json> = serde_json::from_str(object).unwrap();
    map.insert(key.into(), json!("__placeholder__"));
    serde_json::to_string(&map)
        .unwrap()
        .replace("\"__placeholder__\"", value)
}

fn without(object: &str, key: &str) -> String {
    let mut map: Map<String, Json> = serde_json::from_str(object).unwrap();
    map.remove(key);
    serde_json::to_string(&map).unwrap()
}

fn builtin() -> &'static Catalog {
    Catalog::builtin()
}

/// A catalog with a whole-number field as wide as the store can hold, for PC-03.
fn wide_catalog() -> &'static Catalog {
    let text = r#"{"games":[{"slug":"wide","label":"Wide","released":"2020-01-01","fields":[
        {"name":"date","label":"Date","kind":"date"},
        {"name":"score","label":"Score","kind":"whole",
         "min":-9223372036854775808,"max":9223372036854775807}]}]}"#;
    Box::leak(Box::new(Catalog::from_json(text).unwrap()))
}

async fn big_numbers_round_trip_exactly_and_sort_in_order(app: TestApp) {
    let user = Uuid::new_v4();
    let mut created = Vec::new();
    for score in ["9007199254740993", "9007199254740992", "9007199254740994"] {
        let id = Uuid::new_v4();
        let body = format!(r#"{{"id":"{id}","fields":{{"date":"2026-11-01","score":{score}}}}}"#);
        let answer = app
            .send(
                Method::POST,
                "/v1/games/wide/matches",
                Some(app.credential(user)),
                Some(body),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        assert!(
            answer.text.contains(&format!("\"score\":{score}")),
            "{}",
            answer.text
        );
        created.push((id, score));
    }
    let (id, score) = created[0];
    let read = app
        .call(
            Method::GET,
            &format!("/v1/games/wide/matches/{id}"),
            user,
            None,
        )
        .await;
    assert!(
        read.text.contains(&format!("\"score\":{score}")),
        "{}",
        read.text
    );

    let ascending = app.list(user, "wide", "sort=score&dir=asc").await;
    assert_eq!(ids(&ascending), [created[1].0, created[0].0, created[2].0]);
    let position = |needle: &str| ascending.text.find(needle).unwrap();
    assert!(position("9007199254740992") < position("9007199254740993"));
    let descending = app.list(user, "wide", "sort=score&dir=desc").await;
    assert_eq!(ids(&descending), [created[2].0, created[0].0, created[1].0]);
    let total = &ascending.json["stats"]["totals"][0];
    assert_eq!(total["field"], "score");
    assert_eq!(
        total["sum"],
        json!(27_021_597_764_222_979_i64),
        "summed without f64"
    );

    let forty = format!(
        r#"{{"id":"{}","fields":{{"date":"2026-11-01","score":{}}}}}"#,
        Uuid::new_v4(),
        "9".repeat(40)
    );
    let refused = app
        .send(
            Method::POST,
            "/v1/games/wide/matches",
            Some(app.credential(user)),
            Some(forty),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    assert!(refused.json["error"]["fields"]["score"].is_string());
}

#[tokio::test]
async fn bad_paths_get_a_readable_answer_before_any_store_call() {
    let store = Arc::new(CountingStore::default());
    let app = app_on_store(store.clone(), Catalog::builtin());
    let user = Uuid::new_v4();
    let cases = [
        (
            Method::GET,
            "/v1/games//matches",
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            Method::POST,
            "/v1/games//matches",
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            Method::GET,
            "/v1/games/%20/matches",
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            Method::GET,
            "/v1/games/apex/matches/",
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            Method::GET,
            "/v1/games/apex/matches/%20",
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            Method::DELETE,
            "/v1/games//matches/x",
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            Method::GET,
            "/v1/games/chess/matches",
            StatusCode::NOT_FOUND,
            "unknown_game",
        ),
        (
            Method::GET,
            "/v1/games/APEX/matches",
            StatusCode::NOT_FOUND,
            "unknown_game",
        ),
        (
            Method::GET,
            "/v1/games/apex/matches/not-a-uuid",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::PUT,
            "/v1/games/apex/matches/12345",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::DELETE,
            "/v1/games/apex/matches/%FF",
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            Method::GET,
            "/v1/nothing-here",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::PATCH,
            "/v1/games/apex/matches",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (method, uri, status, code) in cases {
        let body = matches!(method, Method::POST | Method::PUT).then(
            || json!({"id": Uuid::new_v4(), "fields": apex("2026-11-01", "win", "Wraith", 3)}),
        );
        let answer = app.call(method.clone(), uri, user, body).await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{method} {uri}: {}",
            answer.text
        );
        assert!(
            answer.json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    assert_eq!(store.calls(), 0, "no bad path reached the store");
}

#[tokio::test]
async fn unreadable_bodies_get_our_error_shape_without_parser_text() {
    let app = app().await;
    let user = Uuid::new_v4();
    let credential = || Some(app.credential(user));
    let uri = "/v1/games/apex/matches";
    let cases = [
        ("{\"id\":", StatusCode::BAD_REQUEST, "invalid_json"),
        ("[1, 2]", StatusCode::BAD_REQUEST, "invalid_json"),
        (
            "{\"id\": 5, \"fields\": {}}",
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "{\"id\": \"not-a-uuid\", \"fields\": {}}",
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        ("{\"fields\": {}}", StatusCode::BAD_REQUEST, "invalid_json"),
        (
            "{\"id\": \"7d4f0c3e-7a4b-4f7e-9a49-0c5a6f1b2d3e\", \"fields\": \"x\"}",
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
    ];
    for (body, status, code) in cases {
        let answer = app
            .send(Method::POST, uri, credential(), Some(body.into()))
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{body}: {}",
            answer.text
        );
        assert_no_internal_text(&answer.text);
    }

    let plain = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::AUTHORIZATION, app.credential(user))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("id=1"))
        .unwrap();
    let answer = app.send_request(plain).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    assert_no_internal_text(&answer.text);

    let padding = "x".repeat(2_500_000);
    let huge = json!({"id": Uuid::new_v4(), "fields": {"teammates": [padding]}}).to_string();
    let answer = app.send(Method::POST, uri, credential(), Some(huge)).await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        "PC-13"
    );
    assert_no_internal_text(&answer.text);
    assert_eq!(app.total(user, "apex").await, 0);
}

fn assert_no_internal_text(text: &str) {
    for word in [
        "serde",
        "Failed to",
        "line ",
        "column",
        "::",
        "expected",
        "invalid type",
    ] {
        assert!(!text.contains(word), "{word:?} leaked: {text}");
    }
}

#[tokio::test]
async fn store_failures_answer_generic_errors() {
    let app = app_on_store(Arc::new(BrokenStore), Catalog::builtin());
    let user = Uuid::new_v4();
    let busy = app.list(user, "apex", "").await;
    assert_eq!(
        (busy.status, busy.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    );
    let uri = format!("/v1/games/apex/matches/{}", Uuid::new_v4());
    let broken = app.call(Method::GET, &uri, user, None).await;
    assert_eq!(
        (broken.status, broken.code()),
        (StatusCode::INTERNAL_SERVER_ERROR, "internal")
    );
    for answer in [&busy, &broken] {
        assert!(!answer.text.contains("SECRET"), "{}", answer.text);
        assert!(!answer.text.contains("sqlite"), "{}", answer.text);
    }
    let ready = app.send(Method::GET, "/health/ready", None, None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json["status"], "unavailable");
}

async fn health_tells_live_from_ready_and_draining(app: TestApp) {
    let live = app.send(Method::GET, "/health/live", None, None).await;
    assert_eq!(live.status, StatusCode::OK);
    let ready = app.send(Method::GET, "/health/ready", None, None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json["status"], "ready");
    app.lifecycle.start_draining();
    let draining = app.send(Method::GET, "/health/ready", None, None).await;
    assert_eq!(draining.status, StatusCode::SERVICE_UNAVAILABLE);
    let still_live = app.send(Method::GET, "/health/live", None, None).await;
    assert_eq!(still_live.status, StatusCode::OK);
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let app = app().await;
    let request = Request::builder()
        .uri("/health/live")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
}

/// Counts calls and answers every one as empty, to show that bad paths never reach it.
#[derive(Default)]
struct CountingStore(std::sync::atomic::AtomicUsize);

impl CountingStore {
    fn calls(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn count(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait]
impl ResultStore for CountingStore {
    async fn insert(&self, _: &Game, _: &StoredMatch) -> Result<Inserted, StoreError> {
        self.count();
        Ok(Inserted::Created)
    }
    async fn get(&self, _: &Game, _: Uuid, _: Uuid) -> Result<Option<StoredMatch>, StoreError> {
        self.count();
        Ok(None)
    }
    async fn update(
        &self,
        _: &Game,
        _: Uuid,
        _: Uuid,
        _: &Map<String, Json>,
        _: i64,
    ) -> Result<Option<StoredMatch>, StoreError> {
        self.count();
        Ok(None)
    }
    async fn delete(&self, _: &Game, _: Uuid, _: Uuid) -> Result<bool, StoreError> {
        self.count();
        Ok(false)
    }
    async fn list(&self, _: &Game, _: Uuid) -> Result<Vec<StoredMatch>, StoreError> {
        self.count();
        Ok(Vec::new())
    }
    async fn delete_all(&self, _: Uuid) -> Result<(), StoreError> {
        self.count();
        Ok(())
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Fails every call, with internal detail that must never reach a client.
struct BrokenStore;

#[async_trait]
impl ResultStore for BrokenStore {
    async fn insert(&self, _: &Game, _: &StoredMatch) -> Result<Inserted, StoreError> {
        Err(StoreError::Internal("sqlite SECRET".into()))
    }
    async fn get(&self, _: &Game, _: Uuid, _: Uuid) -> Result<Option<StoredMatch>, StoreError> {
        Err(StoreError::Internal("sqlite SECRET table matches".into()))
    }
    async fn update(
        &self,
        _: &Game,
        _: Uuid,
        _: Uuid,
        _: &Map<String, Json>,
        _: i64,
    ) -> Result<Option<StoredMatch>, StoreError> {
        Err(StoreError::Internal("sqlite SECRET".into()))
    }
    async fn delete(&self, _: &Game, _: Uuid, _: Uuid) -> Result<bool, StoreError> {
        Err(StoreError::Internal("sqlite SECRET".into()))
    }
    async fn list(&self, _: &Game, _: Uuid) -> Result<Vec<StoredMatch>, StoreError> {
        Err(StoreError::Unavailable(
            "sqlite SECRET pool timed out".into(),
        ))
    }
    async fn delete_all(&self, _: Uuid) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("sqlite SECRET".into()))
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("sqlite SECRET".into()))
    }
}

/// Runs each listed check on a fresh SQLite file and on fresh DynamoDB tables, on moto
/// and on dynalite.
macro_rules! on_every_backend {
    ($($name:ident => $catalog:expr),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    crate::$name(crate::app_with($catalog).await).await;
                }
            )*
        }

        mod on_dynamodb {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(app) = crate::dynamodb_app($catalog).await {
                        crate::$name(app).await;
                    }
                }
            )*
        }

        mod on_dynalite {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(app) = crate::dynalite_app($catalog).await {
                        crate::$name(app).await;
                    }
                }
            )*
        }
    };
}

on_every_backend! {
    every_route_refuses_a_missing_forged_or_expired_credential => crate::builtin(),
    another_user_cannot_list_the_first_users_matches => crate::builtin(),
    another_user_cannot_get_the_first_users_match => crate::builtin(),
    another_user_cannot_update_the_first_users_match => crate::builtin(),
    another_user_cannot_delete_the_first_users_match => crate::builtin(),
    another_user_cannot_take_over_an_id => crate::builtin(),
    a_created_match_reads_back_in_canonical_form => crate::builtin(),
    a_retried_create_is_stored_once_and_answers_the_stored_match => crate::builtin(),
    the_list_sorts_filters_pages_and_counts => crate::builtin(),
    an_update_replaces_the_values_and_keeps_the_creation_time => crate::builtin(),
    a_deleted_match_is_gone => crate::builtin(),
    deleting_everything_empties_every_game_of_that_user_only => crate::builtin(),
    invalid_values_are_refused_with_a_message_per_field_and_nothing_stored => crate::builtin(),
    health_tells_live_from_ready_and_draining => crate::builtin(),
    big_numbers_round_trip_exactly_and_sort_in_order => crate::wide_catalog(),
}
