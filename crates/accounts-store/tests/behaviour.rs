//! One behaviour suite for the credentials store, run against every backend: SQLite on a
//! temp file, and PostgreSQL on a fresh database per test.
//!
//! PostgreSQL is found at `MATCHLOG_TEST_POSTGRES_URL` (default the local server). When it
//! does not answer, its tests fail and say what to start; `MATCHLOG_TEST_LOCAL_ONLY=1`
//! skips them, saying so.

use std::any::Any;
use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use accounts_store::{
    AccountStore, PostgresStore, SqliteStore, StoreError, StoreSettings, connect_with,
};
use shared::tokens::{random_token, token_digest, unix_now};
use shared::username::Username;
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _, Executor as _};
use uuid::Uuid;

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A store under test, the same store seen through its concrete type, and what to clean up.
struct Harness {
    store: Arc<dyn AccountStore>,
    backend: Backend,
    settings: StoreSettings,
}

enum Backend {
    Sqlite {
        store: SqliteStore,
        dir: PathBuf,
    },
    Postgres {
        store: PostgresStore,
        admin_url: String,
        database: String,
    },
}

fn settings(url: String) -> StoreSettings {
    StoreSettings {
        url,
        pool_size: 5,
        acquire_timeout: Duration::from_secs(5),
    }
}

impl Harness {
    async fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("matchlog-accounts-{}", Uuid::new_v4()));
        let url = format!("sqlite://{}?mode=rwc", dir.join("credentials.db").display());
        let settings = settings(url);
        let store = SqliteStore::connect(&settings).await.expect("open SQLite");
        Self {
            store: Arc::new(store.clone()),
            backend: Backend::Sqlite { store, dir },
            settings,
        }
    }

    /// `None` when the run is local-only; panics, saying what to start, when the server
    /// does not answer.
    async fn postgres() -> Option<Self> {
        if std::env::var("MATCHLOG_TEST_LOCAL_ONLY").is_ok_and(|v| v == "1") {
            eprintln!("skipped: MATCHLOG_TEST_LOCAL_ONLY=1, PostgreSQL suite not run");
            return None;
        }
        let admin_url = std::env::var("MATCHLOG_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string());
        let database = format!("matchlog_test_{}", Uuid::new_v4().simple());
        let mut admin = admin_connection(&admin_url).await;
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .await
            .expect("create a test database");
        admin.close().await.ok();
        let settings = settings(with_database(&admin_url, &database));
        let store = PostgresStore::connect(&settings)
            .await
            .expect("open the test database");
        Some(Self {
            store: Arc::new(store.clone()),
            backend: Backend::Postgres {
                store,
                admin_url,
                database,
            },
            settings,
        })
    }

    /// How many account rows hold this canonical name, read past the store's interface.
    async fn account_rows(&self, canonical: &str) -> i64 {
        let sql = "SELECT COUNT(*) FROM accounts WHERE canonical_name = ";
        match &self.backend {
            Backend::Sqlite { store, .. } => {
                sqlx::query_scalar(AssertSqlSafe(format!("{sql}?")))
                    .bind(canonical)
                    .fetch_one(store.pool())
                    .await
            }
            Backend::Postgres { store, .. } => {
                sqlx::query_scalar(AssertSqlSafe(format!("{sql}$1")))
                    .bind(canonical)
                    .fetch_one(store.pool())
                    .await
            }
        }
        .expect("count account rows")
    }

    /// A second store on the same database whose only pooled connection is held by the
    /// returned guard, with a short acquire timeout.
    async fn starved_store(&self) -> (Arc<dyn AccountStore>, Box<dyn Any + Send>) {
        let settings = StoreSettings {
            pool_size: 1,
            acquire_timeout: Duration::from_millis(200),
            ..self.settings.clone()
        };
        match &self.backend {
            Backend::Sqlite { .. } => {
                let store = SqliteStore::connect(&settings).await.unwrap();
                let held = store.pool().acquire().await.unwrap();
                (Arc::new(store), Box::new(held))
            }
            Backend::Postgres { .. } => {
                let store = PostgresStore::connect(&settings).await.unwrap();
                let held = store.pool().acquire().await.unwrap();
                (Arc::new(store), Box::new(held))
            }
        }
    }

    async fn finish(self) {
        drop(self.store);
        match self.backend {
            Backend::Sqlite { store, dir } => {
                store.pool().close().await;
                std::fs::remove_dir_all(dir).ok();
            }
            Backend::Postgres {
                store,
                admin_url,
                database,
            } => {
                store.pool().close().await;
                let mut admin = admin_connection(&admin_url).await;
                admin
                    .execute(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
                    )))
                    .await
                    .expect("drop the test database");
                admin.close().await.ok();
            }
        }
    }
}

async fn admin_connection(admin_url: &str) -> sqlx::PgConnection {
    let options = sqlx::postgres::PgConnectOptions::from_str(admin_url)
        .expect("MATCHLOG_TEST_POSTGRES_URL is a postgres:// URL");
    let attempt = tokio::time::timeout(Duration::from_secs(5), options.connect()).await;
    match attempt {
        Ok(Ok(connection)) => connection,
        Ok(Err(err)) => panic!("{}: {err}", postgres_missing()),
        Err(_) => panic!("{}: no answer within 5 s", postgres_missing()),
    }
}

fn postgres_missing() -> String {
    "PostgreSQL did not answer at MATCHLOG_TEST_POSTGRES_URL (default \
     postgres://postgres@127.0.0.1:5432/postgres). Start a server there (for example \
     `pg_ctlcluster 15 main start`, or `docker compose up postgres`), point the variable at \
     one, or set MATCHLOG_TEST_LOCAL_ONLY=1 to run only the SQLite suite"
        .to_string()
}

/// `url` with its database name replaced by `database`, query string kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn name(text: &str) -> Username {
    Username::parse(text).unwrap()
}

/// A stand-in for a bcrypt hash: the store treats it as opaque text.
fn fake_hash(tag: &str) -> String {
    format!("$2b$04$fakehashfortests.{tag}")
}

// ---- behaviours ----------------------------------------------------------------------

async fn an_account_is_found_by_its_canonical_name(h: &Harness) {
    let id = Uuid::new_v4();
    let created = h
        .store
        .create_account(id, &name("Ann.Lee"), &fake_hash("ann"))
        .await
        .unwrap();
    assert_eq!(created.id, id);
    let found = h.store.find_account("ann.lee").await.unwrap().unwrap();
    assert_eq!(found, created);
    assert_eq!(found.user_name, "Ann.Lee", "the display form is kept");
    assert!((found.created_at - unix_now()).abs() < 60);
    assert!(h.store.find_account("Ann.Lee").await.unwrap().is_none());
    assert!(h.store.find_account("nobody").await.unwrap().is_none());
}

async fn racing_creates_with_one_name_have_one_winner(h: &Harness) {
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = h.store.clone();
            tokio::spawn(async move {
                let hash = fake_hash(&format!("racer{i}"));
                let outcome = store
                    .create_account(Uuid::new_v4(), &name("Racer"), &hash)
                    .await;
                (hash, outcome)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut taken = 0;
    for task in tasks {
        match task.await.unwrap() {
            (hash, Ok(_)) => winners.push(hash),
            (_, Err(StoreError::NameTaken)) => taken += 1,
            (_, Err(other)) => panic!("a racing create failed otherwise: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one create wins");
    assert_eq!(taken, 9);
    assert_eq!(h.account_rows("racer").await, 1);
    let stored = h.store.find_account("racer").await.unwrap().unwrap();
    assert_eq!(
        stored.password_hash, winners[0],
        "the row holds the winner's hash"
    );
}

async fn look_alike_names_are_taken(h: &Harness) {
    let store = &h.store;
    store
        .create_account(Uuid::new_v4(), &name("Alice"), &fake_hash("a"))
        .await
        .unwrap();
    for variant in ["alice", "ALICE", "ａｌｉｃｅ"] {
        let outcome = store
            .create_account(Uuid::new_v4(), &name(variant), &fake_hash("b"))
            .await;
        assert!(
            matches!(outcome, Err(StoreError::NameTaken)),
            "{variant}: {outcome:?}"
        );
    }
    store
        .create_account(Uuid::new_v4(), &name("\u{00C5}sa"), &fake_hash("c"))
        .await
        .unwrap();
    let decomposed = store
        .create_account(Uuid::new_v4(), &name("A\u{030A}sa"), &fake_hash("d"))
        .await;
    assert!(
        matches!(decomposed, Err(StoreError::NameTaken)),
        "{decomposed:?}"
    );
    let found = store
        .find_account(name("ALICE").canonical())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.user_name, "Alice");
    assert_eq!(h.account_rows("alice").await, 1);
}

async fn a_session_resolves_until_it_expires(h: &Harness) {
    let user = h
        .store
        .create_account(Uuid::new_v4(), &name("Bob"), &fake_hash("bob"))
        .await
        .unwrap();
    let now = unix_now();
    let digest = token_digest(&random_token());
    let expires_at = now + 100;
    h.store
        .create_session(&digest, user.id, expires_at)
        .await
        .unwrap();
    let owner = h
        .store
        .resolve_session(&digest, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.user_id, user.id);
    assert_eq!(owner.user_name, "Bob");
    assert_eq!(owner.expires_at, expires_at);
    assert!(
        h.store
            .resolve_session(&digest, expires_at - 1)
            .await
            .unwrap()
            .is_some()
    );
    for later in [expires_at, expires_at + 1, now + 86_400 * 2] {
        assert!(
            h.store
                .resolve_session(&digest, later)
                .await
                .unwrap()
                .is_none(),
            "still resolves at {later}"
        );
    }
    let unknown = token_digest(&random_token());
    assert!(
        h.store
            .resolve_session(&unknown, now)
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_deleted_session_no_longer_resolves(h: &Harness) {
    let user = h
        .store
        .create_account(Uuid::new_v4(), &name("Cleo"), &fake_hash("cleo"))
        .await
        .unwrap();
    let now = unix_now();
    let ended = token_digest(&random_token());
    let kept = token_digest(&random_token());
    for digest in [&ended, &kept] {
        h.store
            .create_session(digest, user.id, now + 600)
            .await
            .unwrap();
    }
    h.store.delete_session(&ended).await.unwrap();
    assert!(
        h.store
            .resolve_session(&ended, now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(h.store.resolve_session(&kept, now).await.unwrap().is_some());
    h.store
        .delete_session(&ended)
        .await
        .expect("ending a session twice is not an error");
}

async fn other_sessions_end_and_one_is_kept(h: &Harness) {
    let store = &h.store;
    let dana = store
        .create_account(Uuid::new_v4(), &name("Dana"), &fake_hash("dana"))
        .await
        .unwrap();
    let eve = store
        .create_account(Uuid::new_v4(), &name("Eve"), &fake_hash("eve"))
        .await
        .unwrap();
    let now = unix_now();
    let dana_sessions: Vec<String> = (0..3).map(|_| token_digest(&random_token())).collect();
    for digest in &dana_sessions {
        store
            .create_session(digest, dana.id, now + 600)
            .await
            .unwrap();
    }
    let eve_session = token_digest(&random_token());
    store
        .create_session(&eve_session, eve.id, now + 600)
        .await
        .unwrap();

    let ended = store
        .delete_other_sessions(dana.id, &dana_sessions[1])
        .await
        .unwrap();
    assert_eq!(ended, 2);
    for (i, digest) in dana_sessions.iter().enumerate() {
        let live = store.resolve_session(digest, now).await.unwrap().is_some();
        assert_eq!(live, i == 1, "session {i}");
    }
    assert!(
        store
            .resolve_session(&eve_session, now)
            .await
            .unwrap()
            .is_some()
    );
}

async fn deleting_an_account_ends_its_sessions(h: &Harness) {
    let store = &h.store;
    let fay = store
        .create_account(Uuid::new_v4(), &name("Fay"), &fake_hash("fay"))
        .await
        .unwrap();
    let now = unix_now();
    let digest = token_digest(&random_token());
    store
        .create_session(&digest, fay.id, now + 600)
        .await
        .unwrap();

    assert!(store.delete_account(fay.id).await.unwrap());
    assert!(store.resolve_session(&digest, now).await.unwrap().is_none());
    assert!(store.find_account("fay").await.unwrap().is_none());
    assert!(!store.delete_account(fay.id).await.unwrap(), "already gone");
    store
        .create_account(Uuid::new_v4(), &name("FAY"), &fake_hash("fay2"))
        .await
        .expect("a deleted account's name is free again");
}

async fn a_new_password_replaces_the_hash_and_ends_the_other_sessions(h: &Harness) {
    let store = &h.store;
    let gus = store
        .create_account(Uuid::new_v4(), &name("Gus"), &fake_hash("gus"))
        .await
        .unwrap();
    let hal = store
        .create_account(Uuid::new_v4(), &name("Hal"), &fake_hash("hal"))
        .await
        .unwrap();
    let now = unix_now();
    let digests: Vec<String> = (0..3).map(|_| token_digest(&random_token())).collect();
    for digest in &digests {
        store
            .create_session(digest, gus.id, now + 600)
            .await
            .unwrap();
    }
    let hal_session = token_digest(&random_token());
    store
        .create_session(&hal_session, hal.id, now + 600)
        .await
        .unwrap();

    let new_hash = fake_hash("gus-new");
    assert!(
        store
            .set_password(gus.id, &new_hash, &digests[0])
            .await
            .unwrap()
    );
    let stored = store.account(gus.id).await.unwrap().expect("found by id");
    assert_eq!(stored.password_hash, new_hash);
    assert_eq!(stored.user_name, "Gus");
    for (i, digest) in digests.iter().enumerate() {
        let live = store.resolve_session(digest, now).await.unwrap().is_some();
        assert_eq!(live, i == 0, "session {i}");
    }
    assert!(
        store
            .resolve_session(&hal_session, now)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.account(hal.id).await.unwrap().unwrap().password_hash,
        fake_hash("hal"),
        "another account keeps its hash"
    );
    assert!(
        !store
            .set_password(Uuid::new_v4(), &new_hash, "x")
            .await
            .unwrap()
    );
    assert!(store.account(Uuid::new_v4()).await.unwrap().is_none());
}

async fn a_session_for_no_account_is_refused(h: &Harness) {
    let outcome = h
        .store
        .create_session(
            &token_digest(&random_token()),
            Uuid::new_v4(),
            unix_now() + 60,
        )
        .await;
    assert!(
        matches!(outcome, Err(StoreError::Internal { .. })),
        "{outcome:?}"
    );
}

async fn concurrent_writes_all_succeed(h: &Harness) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = h.store.clone();
            tokio::spawn(async move {
                let user = store
                    .create_account(Uuid::new_v4(), &name(&format!("writer{i}")), "hash")
                    .await?;
                let digest = token_digest(&random_token());
                store
                    .create_session(&digest, user.id, unix_now() + 600)
                    .await?;
                store.delete_other_sessions(user.id, &digest).await?;
                Ok::<_, StoreError>(digest)
            })
        })
        .collect();
    let mut digests = HashSet::new();
    for task in tasks {
        let digest = task
            .await
            .unwrap()
            .unwrap_or_else(|err| panic!("a concurrent write failed: {err:?}"));
        digests.insert(digest);
    }
    assert_eq!(digests.len(), 20);
    for digest in &digests {
        assert!(
            h.store
                .resolve_session(digest, unix_now())
                .await
                .unwrap()
                .is_some()
        );
    }
}

async fn the_store_answers_a_ping(h: &Harness) {
    h.store.ping().await.unwrap();
}

async fn a_starved_pool_is_unavailable_quickly(h: &Harness) {
    let (store, held) = h.starved_store().await;
    let started = Instant::now();
    let outcome = store.ping().await;
    assert!(
        matches!(outcome, Err(StoreError::Unavailable { .. })),
        "{outcome:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let lookup = store.find_account("anyone").await;
    assert!(
        matches!(lookup, Err(StoreError::Unavailable { .. })),
        "{lookup:?}"
    );
    drop(held);
    store
        .ping()
        .await
        .expect("answers again once a connection is free");
}

/// Runs each behaviour on every backend, one test per pair.
macro_rules! on_every_backend {
    ($($behaviour:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $behaviour() {
                    let harness = super::Harness::sqlite().await;
                    super::$behaviour(&harness).await;
                    harness.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $behaviour() {
                    let Some(harness) = super::Harness::postgres().await else {
                        return;
                    };
                    super::$behaviour(&harness).await;
                    harness.finish().await;
                }
            )*
        }
    };
}

on_every_backend!(
    an_account_is_found_by_its_canonical_name,
    racing_creates_with_one_name_have_one_winner,
    look_alike_names_are_taken,
    a_session_resolves_until_it_expires,
    a_deleted_session_no_longer_resolves,
    other_sessions_end_and_one_is_kept,
    deleting_an_account_ends_its_sessions,
    a_new_password_replaces_the_hash_and_ends_the_other_sessions,
    a_session_for_no_account_is_refused,
    concurrent_writes_all_succeed,
    the_store_answers_a_ping,
    a_starved_pool_is_unavailable_quickly,
);

// ---- backend selection ---------------------------------------------------------------

#[tokio::test]
async fn the_url_picks_the_backend() {
    let dir = std::env::temp_dir().join(format!("matchlog-accounts-{}", Uuid::new_v4()));
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.join("nested/credentials.db").display()
    );
    let store = connect_with(&settings(url))
        .await
        .expect("a sqlite: URL opens SQLite");
    store.ping().await.unwrap();
    assert!(
        dir.join("nested/credentials.db").exists(),
        "the directory is created"
    );
    std::fs::remove_dir_all(&dir).ok();

    let outcome = connect_with(&settings("mysql://localhost/x".into())).await;
    assert!(matches!(outcome, Err(StoreError::Internal { .. })));
}

#[tokio::test]
async fn a_config_opens_its_credentials_store() {
    let dir = std::env::temp_dir().join(format!("matchlog-accounts-{}", Uuid::new_v4()));
    let data_dir = dir.to_str().unwrap().to_string();
    let config = shared::config::Config::from_lookup(|variable| match variable {
        "MATCHLOG_DATA_DIR" => Some(data_dir.clone()),
        _ => None,
    })
    .unwrap();
    let store = accounts_store::connect(&config).await.unwrap();
    store.ping().await.unwrap();
    assert!(dir.join("credentials.db").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_postgres_server_that_refuses_is_unavailable_without_stopping_the_start() {
    // A port that was just ours and is now closed: the connection is refused at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let settings = StoreSettings {
        acquire_timeout: Duration::from_millis(500),
        ..settings(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
    };
    // The tier may start before its database: the store opens, and says it is unavailable.
    let store = connect_with(&settings)
        .await
        .expect("a database that does not answer yet is no reason to refuse to start");
    let started = Instant::now();
    let ping = store.ping().await;
    assert!(
        matches!(ping, Err(StoreError::Unavailable { .. })),
        "{ping:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let lookup = store.find_account("anyone").await;
    assert!(
        matches!(lookup, Err(StoreError::Unavailable { .. })),
        "{lookup:?}"
    );
}

#[test]
fn test_database_urls_keep_everything_but_the_name() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
        "postgres://postgres@127.0.0.1:5432/t1"
    );
    assert_eq!(
        with_database("postgres://u:p@db:5432/main?sslmode=disable", "t2"),
        "postgres://u:p@db:5432/t2?sslmode=disable"
    );
    assert_eq!(with_database("postgres://db", "t3"), "postgres://db/t3");
}

/// Readiness must answer before a probe gives up (1 s by default), so a ping does not wait
/// out a long acquire timeout when every connection is busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_ping_answers_within_its_budget_when_the_pool_is_starved() {
    let Some(harness) = Harness::postgres().await else {
        return;
    };
    let settings = StoreSettings {
        pool_size: 1,
        acquire_timeout: Duration::from_secs(10),
        ..harness.settings.clone()
    };
    let store = PostgresStore::connect(&settings).await.unwrap();
    let held = store.pool().acquire().await.unwrap();
    let started = Instant::now();
    let outcome = store.ping().await;
    assert!(
        matches!(outcome, Err(StoreError::Unavailable { .. })),
        "{outcome:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    drop(held);
    store
        .ping()
        .await
        .expect("answers once a connection is free");
    store.pool().close().await;
    harness.finish().await;
}
