//! One behaviour suite for the results store, run against every backend: a backend is
//! done when every test here passes on it.

use std::sync::Arc;

use results_store::{DynamoStore, Inserted, ResultStore, StoredMatch};
use serde_json::{Map, Value as Json, json};
use shared::catalog::{Catalog, Game};
use shared::config::Config;
use uuid::Uuid;

#[path = "support/dynalite.rs"]
mod dynalite_proxy;

/// A store under test plus whatever must be cleaned up after it.
struct Backend {
    store: Arc<dyn ResultStore>,
    cleanup: Option<std::path::PathBuf>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(dir) = self.cleanup.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

fn config_with(pairs: &[(&str, String)]) -> Config {
    let mut all: Vec<(String, String)> = vec![
        ("MATCHLOG_INTERNAL_KEY".into(), KEY.into()),
        ("MATCHLOG_SESSION_KEY".into(), KEY.into()),
        ("MATCHLOG_DB_POOL_SIZE".into(), "5".into()),
    ];
    all.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())));
    Config::from_lookup(|name| all.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        .expect("test configuration is valid")
}

async fn sqlite() -> Option<Backend> {
    let dir = std::env::temp_dir().join(format!("matchlog-results-{}", Uuid::new_v4()));
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.join("nested/results.db").display()
    );
    let config = config_with(&[
        ("MATCHLOG_DATA_DIR", dir.display().to_string()),
        ("MATCHLOG_RESULTS_DB", url),
    ]);
    let store = results_store::connect(&config)
        .await
        .expect("open SQLite results store");
    Some(Backend {
        store,
        cleanup: Some(dir),
    })
}

/// A fresh set of tables (a unique prefix) on moto's DynamoDB API server.
async fn dynamodb() -> Option<Backend> {
    dynamodb_on(Server::Moto).await
}

/// The same on dynalite, which is stricter than moto where AWS is: unused expression
/// values are refused, a new table is not ACTIVE at once, and a `Limit` that ends exactly
/// at the last item still hands back a `LastEvaluatedKey` (an empty last page).
async fn dynalite() -> Option<Backend> {
    dynamodb_on(Server::Dynalite).await
}

async fn dynamodb_on(server: Server) -> Option<Backend> {
    let mut endpoint = server.endpoint().await?;
    if let Server::Dynalite = server {
        endpoint = dynalite_proxy::start(&endpoint).await;
    }
    let prefix = format!("test-{}-", Uuid::new_v4().simple());
    let store = DynamoStore::for_local_endpoint(&endpoint, &prefix, Catalog::builtin())
        .expect("the catalog suits the DynamoDB store")
        // Small pages, so every listing here spans several and must follow LastEvaluatedKey.
        .with_page_limit(4);
    let created = store.create_tables().await.expect("create the test tables");
    assert_eq!(created.len(), Catalog::builtin().games().len());
    Some(Backend {
        store: Arc::new(store),
        cleanup: None,
    })
}

/// A DynamoDB API server that the test run started.
#[derive(Clone, Copy, Debug)]
enum Server {
    Moto,
    Dynalite,
}

impl Server {
    fn variable(self) -> &'static str {
        match self {
            Server::Moto => "MATCHLOG_TEST_DYNAMODB_URL",
            Server::Dynalite => "MATCHLOG_TEST_DYNALITE_URL",
        }
    }

    fn how_to_start(self) -> &'static str {
        match self {
            Server::Moto => ".venv/bin/moto_server -H 127.0.0.1 -p PORT",
            Server::Dynalite => {
                "npm install --prefix target/test-services/dynalite dynalite, then \
                 target/test-services/dynalite/node_modules/.bin/dynalite --host 127.0.0.1 \
                 --port PORT --createTableMs 0"
            }
        }
    }

    /// The server's URL. Missing or silent, the test fails and says what to start, unless
    /// `MATCHLOG_TEST_LOCAL_ONLY=1` asks to skip it on purpose.
    async fn endpoint(self) -> Option<String> {
        let local_only = std::env::var("MATCHLOG_TEST_LOCAL_ONLY").is_ok_and(|v| v == "1");
        let variable = self.variable();
        let url = std::env::var(variable).ok();
        match url {
            Some(url) if answers(&url).await => Some(url),
            _ if local_only => {
                eprintln!("{self:?} suite skipped: MATCHLOG_TEST_LOCAL_ONLY=1");
                None
            }
            Some(url) => panic!(
                "{variable}={url} does not answer. Start the server ({}), or run \
                 ./scripts/test, or set MATCHLOG_TEST_LOCAL_ONLY=1 to skip the DynamoDB suites.",
                self.how_to_start()
            ),
            None => panic!(
                "{variable} is not set. Start the server ({}) and set it to \
                 http://127.0.0.1:PORT, or run ./scripts/test, or set \
                 MATCHLOG_TEST_LOCAL_ONLY=1 to skip the DynamoDB suites.",
                self.how_to_start()
            ),
        }
    }
}

async fn answers(url: &str) -> bool {
    let host = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    let connect = tokio::net::TcpStream::connect(host.to_string());
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), connect).await,
        Ok(Ok(_))
    )
}

fn game(slug: &str) -> &'static Game {
    Catalog::builtin().game(slug).unwrap()
}

fn fields(value: Json) -> Map<String, Json> {
    match value {
        Json::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn apex(date: &str, kills: i64) -> Map<String, Json> {
    fields(json!({
        "date": date, "mode": "trios", "result": "win", "legend": "Wraith",
        "kills": kills, "placement": 1, "damage": 900, "time": "12:00",
        "teammates": ["Ann Lee", "bob"],
    }))
}

fn hots(date: &str, result: &str) -> Map<String, Json> {
    fields(json!({
        "date": date, "result": result, "hero": "Li Li", "kills": 3, "deaths": 2,
        "assists": 11, "time": "21:30", "map": "Cursed Hollow",
    }))
}

async fn insert(
    store: &dyn ResultStore,
    game: &Game,
    user: Uuid,
    fields: Map<String, Json>,
    at: i64,
) -> StoredMatch {
    let record = StoredMatch::new(Uuid::new_v4(), user, fields, at);
    let outcome = store.insert(game, &record).await.expect("insert");
    assert_eq!(outcome, Inserted::Created);
    record
}

mod suite {
    use super::*;

    pub async fn inserted_match_reads_back_unchanged(store: Arc<dyn ResultStore>) {
        let user = Uuid::new_v4();
        let record = insert(&*store, game("apex"), user, apex("2026-11-01", 4), 1_000).await;
        let read = store.get(game("apex"), user, record.id).await.unwrap();
        assert_eq!(read, Some(record.clone()));
        let other_game = store.get(game("hots"), user, record.id).await.unwrap();
        assert_eq!(other_game, None, "a match lives in its own game only");
    }

    pub async fn retried_insert_is_stored_once(store: Arc<dyn ResultStore>) {
        let user = Uuid::new_v4();
        let first = insert(&*store, game("apex"), user, apex("2026-11-01", 4), 1_000).await;
        let mut retry = first.clone();
        retry.fields = apex("2026-11-02", 9);
        retry.created_at = 2_000;
        let outcome = store.insert(game("apex"), &retry).await.unwrap();
        assert_eq!(outcome, Inserted::AlreadyExists(first.clone()));
        assert_eq!(store.list(game("apex"), user).await.unwrap(), [first]);
    }

    pub async fn an_id_of_another_user_is_taken(store: Arc<dyn ResultStore>) {
        let (owner, thief) = (Uuid::new_v4(), Uuid::new_v4());
        let first = insert(&*store, game("apex"), owner, apex("2026-11-01", 4), 1_000).await;
        let mut copy = first.clone();
        copy.user_id = thief;
        let outcome = store.insert(game("apex"), &copy).await.unwrap();
        assert_eq!(outcome, Inserted::IdTaken);
        assert!(store.list(game("apex"), thief).await.unwrap().is_empty());
        let kept = store.get(game("apex"), owner, first.id).await.unwrap();
        assert_eq!(kept, Some(first));
    }

    pub async fn another_user_cannot_get_update_or_delete(store: Arc<dyn ResultStore>) {
        let (owner, other) = (Uuid::new_v4(), Uuid::new_v4());
        let record = insert(
            &*store,
            game("hots"),
            owner,
            hots("2026-11-01", "win"),
            1_000,
        )
        .await;
        let g = game("hots");

        assert_eq!(store.get(g, other, record.id).await.unwrap(), None);
        let changed = hots("2026-11-01", "loss");
        let update = store.update(g, other, record.id, &changed, 5_000);
        assert_eq!(update.await.unwrap(), None);
        assert!(!store.delete(g, other, record.id).await.unwrap());
        assert!(store.list(g, other).await.unwrap().is_empty());
        store.delete_all(other).await.unwrap();

        let kept = store.get(g, owner, record.id).await.unwrap();
        assert_eq!(kept, Some(record), "the owner's match is untouched");
    }

    pub async fn update_replaces_values_and_keeps_creation_time(store: Arc<dyn ResultStore>) {
        let user = Uuid::new_v4();
        let record = insert(
            &*store,
            game("hots"),
            user,
            hots("2026-11-01", "win"),
            1_000,
        )
        .await;
        // `result`, `time` and `map` are DynamoDB reserved words (PC-01).
        let mut changed = hots("2026-11-01", "loss");
        changed.insert("time".into(), json!("25:00"));
        changed.insert("map".into(), json!("Towers of Doom"));
        let updated = store
            .update(game("hots"), user, record.id, &changed, 5_000)
            .await
            .unwrap()
            .expect("the owner may update");
        assert_eq!(updated.fields, changed);
        assert_eq!((updated.created_at, updated.updated_at), (1_000, 5_000));
        assert_eq!(updated.user_id, user);
        let read = store.get(game("hots"), user, record.id).await.unwrap();
        assert_eq!(read, Some(updated));
    }

    pub async fn update_can_drop_an_optional_field_and_move_the_date(store: Arc<dyn ResultStore>) {
        let user = Uuid::new_v4();
        let older = insert(&*store, game("apex"), user, apex("2026-10-01", 1), 1_000).await;
        let newer = insert(&*store, game("apex"), user, apex("2026-11-01", 2), 2_000).await;
        let mut moved = apex("2026-12-01", 1);
        moved.remove("teammates");
        let updated = store
            .update(game("apex"), user, older.id, &moved, 3_000)
            .await
            .unwrap()
            .unwrap();
        assert!(!updated.fields.contains_key("teammates"));
        let ids: Vec<Uuid> = ids(&store.list(game("apex"), user).await.unwrap());
        assert_eq!(ids, [older.id, newer.id], "the moved match now sorts first");
        let read = store
            .get(game("apex"), user, older.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.fields, moved);
        assert_eq!(read.created_at, 1_000);
    }

    pub async fn update_of_a_missing_match_changes_nothing(store: Arc<dyn ResultStore>) {
        let user = Uuid::new_v4();
        let missing = Uuid::new_v4();
        let values = apex("2026-11-01", 1);
        let update = store.update(game("apex"), user, missing, &values, 1);
        assert_eq!(update.await.unwrap(), None);
        assert_eq!(store.get(game("apex"), user, missing).await.unwrap(), None);
        assert!(store.list(game("apex"), user).await.unwrap().is_empty());
    }

    pub async fn delete_removes_only_that_match(store: Arc<dyn ResultStore>) {
        let user = Uuid::new_v4();
        let gone = insert(&*store, game("apex"), user, apex("2026-11-01", 1), 1_000).await;
        let kept = insert(&*store, game("apex"), user, apex("2026-11-02", 2), 2_000).await;
        assert!(store.delete(game("apex"), user, gone.id).await.unwrap());
        assert!(!store.delete(game("apex"), user, gone.id).await.unwrap());
        assert_eq!(store.get(game("apex"), user, gone.id).await.unwrap(), None);
        assert_eq!(store.list(game("apex"), user).await.unwrap(), [kept]);
        // A deleted id may be used again by anyone: it is simply new.
        let reuse = StoredMatch::new(gone.id, Uuid::new_v4(), apex("2026-11-03", 3), 3_000);
        assert_eq!(
            store.insert(game("apex"), &reuse).await.unwrap(),
            Inserted::Created
        );
    }

    pub async fn list_is_newest_date_first_then_newest_created(store: Arc<dyn ResultStore>) {
        let user = Uuid::new_v4();
        let g = game("apex");
        let a = insert(&*store, g, user, apex("2026-11-01", 1), 3_000).await;
        let b = insert(&*store, g, user, apex("2026-11-03", 1), 1_000).await;
        let c = insert(&*store, g, user, apex("2026-11-01", 1), 5_000).await;
        let d = insert(&*store, g, user, apex("2025-01-31", 1), 9_000).await;
        let e = insert(&*store, g, user, apex("2026-11-03", 1), 2_000).await;
        insert(&*store, g, Uuid::new_v4(), apex("2026-11-02", 1), 1_000).await;
        insert(
            &*store,
            game("fortnite"),
            user,
            fortnite("2026-11-02"),
            1_000,
        )
        .await;

        let listed = store.list(g, user).await.unwrap();
        assert_eq!(ids(&listed), [e.id, b.id, c.id, a.id, d.id]);
    }

    pub async fn a_long_listing_returns_every_match(store: Arc<dyn ResultStore>) {
        let user = Uuid::new_v4();
        let g = game("apex");
        let mut expected = Vec::new();
        for day in 1..=23 {
            let date = format!("2026-10-{day:02}");
            expected.push(insert(&*store, g, user, apex(&date, day), i64::from(day as i32)).await);
        }
        expected.reverse();
        let listed = store.list(g, user).await.unwrap();
        assert_eq!(ids(&listed), ids(&expected));
    }

    pub async fn big_numbers_round_trip_exactly(store: Arc<dyn ResultStore>) {
        let user = Uuid::new_v4();
        let g = game("apex");
        let mut values = Vec::new();
        for text in [
            "9007199254740993",
            "9007199254740992",
            "9223372036854775807",
        ] {
            let number: Json = serde_json::from_str(text).unwrap();
            let mut f = apex("2026-11-01", 1);
            f.insert("damage".into(), number);
            values.push((text, insert(&*store, g, user, f, 1_000).await.id));
        }
        for (text, id) in &values {
            let read = store.get(g, user, *id).await.unwrap().unwrap();
            assert_eq!(read.fields["damage"].to_string(), *text);
        }
        let listed = store.list(g, user).await.unwrap();
        let mut read: Vec<i64> = listed
            .iter()
            .map(|m| m.fields["damage"].as_i64().expect("still an integer"))
            .collect();
        read.sort();
        assert_eq!(
            read,
            [9_007_199_254_740_992, 9_007_199_254_740_993, i64::MAX],
            "neighbours stay distinct and in order"
        );
    }

    pub async fn delete_all_empties_every_game_of_that_user_only(store: Arc<dyn ResultStore>) {
        let (user, other) = (Uuid::new_v4(), Uuid::new_v4());
        for day in 1..=4 {
            let date = format!("2026-11-{day:02}");
            insert(&*store, game("apex"), user, apex(&date, 1), 1_000).await;
        }
        insert(
            &*store,
            game("hots"),
            user,
            hots("2026-11-01", "win"),
            1_000,
        )
        .await;
        insert(
            &*store,
            game("fortnite"),
            user,
            fortnite("2026-11-01"),
            1_000,
        )
        .await;
        let kept = insert(
            &*store,
            game("hots"),
            other,
            hots("2026-11-01", "win"),
            1_000,
        )
        .await;

        store.delete_all(user).await.unwrap();
        for slug in ["apex", "hots", "fortnite"] {
            assert!(
                store.list(game(slug), user).await.unwrap().is_empty(),
                "{slug}"
            );
        }
        assert_eq!(store.list(game("hots"), other).await.unwrap(), [kept]);
        store
            .delete_all(user)
            .await
            .expect("deleting nothing is fine");
    }

    pub async fn concurrent_writes_and_reads_all_succeed(store: Arc<dyn ResultStore>) {
        let user = Uuid::new_v4();
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..20 {
            let store = store.clone();
            tasks.spawn(async move {
                let g = game("apex");
                let date = format!("2026-11-{:02}", n % 28 + 1);
                let record = StoredMatch::new(Uuid::new_v4(), user, apex(&date, n), n);
                store.insert(g, &record).await?;
                let mut changed = record.fields.clone();
                changed.insert("kills".into(), json!(n + 1));
                store.update(g, user, record.id, &changed, n + 1).await?;
                store.list(g, user).await?;
                store.get(g, user, record.id).await
            });
        }
        while let Some(outcome) = tasks.join_next().await {
            let read = outcome
                .expect("task ran")
                .expect("no store error under load");
            assert!(read.is_some());
        }
        assert_eq!(store.list(game("apex"), user).await.unwrap().len(), 20);
    }

    /// PC-01: `date`, `time`, `map`, `result` and the other catalog fields are DynamoDB
    /// reserved words or may become ones. Every game's every field goes through a
    /// conditional put, a read with a projection, an update in place (`SET` and `REMOVE`),
    /// an update that moves the match (a new sort key, from the date), a query, a delete.
    pub async fn every_catalog_field_passes_through_every_expression(store: Arc<dyn ResultStore>) {
        let user = Uuid::new_v4();
        let full = [
            ("apex", apex("2026-11-01", 4)),
            ("fortnite", fortnite_with_teammates("2026-11-01")),
            ("hots", hots("2026-11-01", "win")),
        ];
        for (slug, fields) in full {
            let g = game(slug);
            let names: Vec<&str> = g.fields.iter().map(|f| f.name.as_str()).collect();
            let mut keys: Vec<&str> = fields.keys().map(String::as_str).collect();
            keys.sort_unstable();
            let mut expected = names.clone();
            expected.sort_unstable();
            assert_eq!(keys, expected, "{slug}: the sample sets every field");

            let record = insert(&*store, g, user, fields.clone(), 1_000).await;
            let read = store.get(g, user, record.id).await.unwrap();
            assert_eq!(read.map(|m| m.fields), Some(fields.clone()), "{slug}");

            let mut in_place = fields.clone();
            in_place.insert("result".into(), json!("loss"));
            if let Some(optional) = g.fields.iter().find(|f| f.optional) {
                in_place.remove(&optional.name);
            }
            let updated = store.update(g, user, record.id, &in_place, 2_000).await;
            assert_eq!(updated.unwrap().map(|m| m.fields), Some(in_place.clone()));

            let mut moved = fields.clone();
            moved.insert("date".into(), json!("2026-11-20"));
            let updated = store.update(g, user, record.id, &moved, 3_000).await;
            assert_eq!(updated.unwrap().map(|m| m.fields), Some(moved.clone()));

            let listed = store.list(g, user).await.unwrap();
            assert_eq!(listed.len(), 1, "{slug}");
            assert_eq!(listed[0].fields, moved, "{slug}");
            assert!(store.delete(g, user, record.id).await.unwrap(), "{slug}");
        }
    }

    pub async fn ping_answers(store: Arc<dyn ResultStore>) {
        store.ping().await.expect("a live store answers");
    }
}

fn fortnite(date: &str) -> Map<String, Json> {
    fields(json!({
        "date": date, "result": "loss", "kills": 2, "placement": 14, "mode": "duos",
        "teammates": [],
    }))
}

fn fortnite_with_teammates(date: &str) -> Map<String, Json> {
    let mut fields = fortnite(date);
    fields.insert("teammates".into(), json!(["Cy", "Di"]));
    fields
}

fn ids(records: &[StoredMatch]) -> Vec<Uuid> {
    records.iter().map(|m| m.id).collect()
}

/// One `#[tokio::test]` per suite function for a backend opened by `$open`.
macro_rules! run_suite {
    ($open:path) => {
        run_suite!(@tests $open;
            inserted_match_reads_back_unchanged,
            retried_insert_is_stored_once,
            an_id_of_another_user_is_taken,
            another_user_cannot_get_update_or_delete,
            update_replaces_values_and_keeps_creation_time,
            update_can_drop_an_optional_field_and_move_the_date,
            update_of_a_missing_match_changes_nothing,
            delete_removes_only_that_match,
            list_is_newest_date_first_then_newest_created,
            a_long_listing_returns_every_match,
            big_numbers_round_trip_exactly,
            delete_all_empties_every_game_of_that_user_only,
            concurrent_writes_and_reads_all_succeed,
            every_catalog_field_passes_through_every_expression,
            ping_answers,
        );
    };
    (@tests $open:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                if let Some(backend) = $open().await {
                    crate::suite::$name(backend.store.clone()).await;
                }
            }
        )*
    };
}

mod on_sqlite {
    run_suite!(crate::sqlite);
}

mod on_dynamodb {
    run_suite!(crate::dynamodb);
}

mod on_dynalite {
    run_suite!(crate::dynalite);
}

/// The proxy in front of dynalite replays transactions; dynalite must still see, and
/// refuse, what AWS refuses inside one (here an expression value that nothing uses).
#[tokio::test]
async fn dynalite_checks_the_expressions_inside_a_transaction() {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
    use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

    let Some(endpoint) = Server::Dynalite.endpoint().await else {
        return;
    };
    let proxy = dynalite_proxy::start(&endpoint).await;
    let prefix = format!("strict-{}-", Uuid::new_v4().simple());
    let store = DynamoStore::for_local_endpoint(&proxy, &prefix, Catalog::builtin()).unwrap();
    store.create_tables().await.unwrap();
    let config = aws_sdk_dynamodb::config::Builder::new()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "test",
        ))
        .endpoint_url(&proxy)
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let put = |unused_value: bool| {
        let mut put = Put::builder()
            .table_name(format!("{prefix}apex"))
            .item("user_id", AttributeValue::S("u".into()))
            .item("sk", AttributeValue::S(Uuid::new_v4().to_string()))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", "user_id");
        if unused_value {
            put = put.expression_attribute_values(":unused", AttributeValue::S("x".into()));
        }
        TransactWriteItem::builder()
            .put(put.build().unwrap())
            .build()
    };

    let refused = client
        .transact_write_items()
        .transact_items(put(true))
        .send()
        .await
        .expect_err("an unused expression value is refused");
    assert_eq!(refused.code(), Some("ValidationException"), "{refused:?}");
    client
        .transact_write_items()
        .transact_items(put(false))
        .send()
        .await
        .expect("the same put without it goes through");
}
