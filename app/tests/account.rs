//! The account page's calls over TCP, through the same `AppClient` that `web` uses, on
//! SQLite and on PostgreSQL: changing the password, deleting the account with its matches
//! through a real `crud` tier, the attempt limits, and the configured session lifetime.

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::Duration;

use serde_json::json;
use shared::api::{AccountDeletion, Credentials, NewMatch, NewSession, PasswordChange};
use shared::client::{AppClient, CallContext, CallError, CrudClient, TierClient};
use shared::config::Config;
use shared::tokens::KeyRing;
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _, Executor as _};
use uuid::Uuid;

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const PASSWORD: &str = "correct horse";
const CONTEXT: CallContext<'static> = CallContext {
    request_id: "account-test",
    user: None,
};

/// Where the credentials live for one test.
enum Accounts {
    Sqlite,
    Postgres,
}

/// `app` and `crud` on free ports with their own stores; `crud` may be started late.
struct Tiers {
    dir: PathBuf,
    config: Config,
    app: AppClient,
    crud: CrudClient,
    servers: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    database: Option<(String, String)>,
}

impl Tiers {
    /// `None` when PostgreSQL is asked for on a local-only run.
    async fn start(accounts: Accounts, extra: &[(&str, &str)], crud_now: bool) -> Option<Self> {
        let dir = std::env::temp_dir().join(format!("matchlog-app-account-{}", Uuid::new_v4()));
        let database = match accounts {
            Accounts::Sqlite => None,
            Accounts::Postgres => Some(postgres_database().await?),
        };
        let mut vars: Vec<(String, String)> = vec![
            ("MATCHLOG_DATA_DIR".into(), dir.display().to_string()),
            ("MATCHLOG_BCRYPT_COST".into(), "4".into()),
            (
                "MATCHLOG_APP_ADDR".into(),
                format!("127.0.0.1:{}", free_port()),
            ),
            (
                "MATCHLOG_CRUD_ADDR".into(),
                format!("127.0.0.1:{}", free_port()),
            ),
            // Nothing listens there: deletion has only `crud` to reach.
            (
                "MATCHLOG_GATEWAY_ADDR".into(),
                format!("127.0.0.1:{}", free_port()),
            ),
            ("MATCHLOG_HEALTH_INTERVAL_MS".into(), "100".into()),
        ];
        if let Some((url, _)) = &database {
            vars.push(("MATCHLOG_CREDENTIALS_DB".into(), url.clone()));
        }
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = Config::from_lookup(|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .unwrap();
        let timeout = Duration::from_secs(10);
        let keys = config.internal_keys.clone();
        let mut tiers = Tiers {
            app: AppClient(TierClient::new(
                "app",
                &config.app_url,
                keys.clone(),
                timeout,
            )),
            crud: CrudClient(TierClient::new("crud", &config.crud_url, keys, timeout)),
            servers: Vec::new(),
            database,
            dir,
            config,
        };
        let listener = tokio::net::TcpListener::bind(tiers.config.app_addr)
            .await
            .unwrap();
        tiers
            .servers
            .push(tokio::spawn(app::serve_on(listener, tiers.config.clone())));
        if crud_now {
            tiers.start_crud().await;
        }
        tiers.wait_ready(&tiers.config.app_url.clone()).await;
        Some(tiers)
    }

    async fn start_crud(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.config.crud_addr)
            .await
            .unwrap();
        self.servers
            .push(tokio::spawn(crud::serve_on(listener, self.config.clone())));
        self.wait_ready(&self.config.crud_url.clone()).await;
    }

    async fn wait_ready(&self, url: &str) {
        let http = reqwest::Client::new();
        for _ in 0..200 {
            let ready = http.get(format!("{url}/health/ready")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{url} did not become ready");
    }

    async fn sign_up_and_in(&self, name: &str) -> NewSession {
        self.app
            .sign_up(CONTEXT, &creds(name, PASSWORD))
            .await
            .unwrap();
        self.sign_in(name, PASSWORD).await.unwrap()
    }

    async fn sign_in(&self, name: &str, password: &str) -> Result<NewSession, CallError> {
        self.app.sign_in(CONTEXT, &creds(name, password)).await
    }

    async fn is_live(&self, token: &str) -> bool {
        match self.app.session(CONTEXT, token).await {
            Ok(_) => true,
            Err(err) if status(&err) == 401 => false,
            Err(err) => panic!("unexpected {err:?}"),
        }
    }

    async fn change(&self, token: &str, current: &str, new: &str) -> Result<(), CallError> {
        let change = PasswordChange {
            current_password: current.into(),
            new_password: new.into(),
        };
        self.app
            .change_password(CONTEXT, token, &change, None)
            .await
    }

    async fn delete(&self, token: &str, password: &str) -> Result<(), CallError> {
        let deletion = AccountDeletion {
            password: password.into(),
        };
        self.app
            .delete_account(CONTEXT, token, &deletion, None)
            .await
    }

    async fn record(&self, user: Uuid, game: &str) {
        let fields = match game {
            "hots" => json!({"date": "2024-01-02", "result": "win", "hero": "Li Li", "kills": 1,
                "deaths": 2, "assists": 3, "time": "20:00", "map": "Cursed Hollow"}),
            _ => json!({"date": "2024-01-02", "result": "loss", "kills": 3, "placement": 40,
                "mode": "squads", "teammates": []}),
        };
        let new = NewMatch {
            id: Uuid::now_v7(),
            fields: fields.as_object().unwrap().clone(),
        };
        self.crud.create(acting(user), game, &new).await.unwrap();
    }

    async fn count(&self, user: Uuid, game: &str) -> usize {
        self.crud.list(acting(user), game, &[]).await.unwrap().total
    }

    async fn finish(self) {
        for server in &self.servers {
            server.abort();
        }
        if let Some((_, database)) = &self.database {
            admin(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).await;
        }
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// The refusal of a call that must not succeed.
trait Refused {
    fn refused(self) -> CallError;
}

impl<T> Refused for Result<T, CallError> {
    fn refused(self) -> CallError {
        match self {
            Ok(_) => panic!("the call succeeded but must be refused"),
            Err(err) => err,
        }
    }
}

fn acting(user: Uuid) -> CallContext<'static> {
    CallContext {
        request_id: "account-test",
        user: Some(user),
    }
}

fn creds(name: &str, pass: &str) -> Credentials {
    Credentials {
        user_name: name.into(),
        user_pass: pass.into(),
    }
}

fn status(err: &CallError) -> u16 {
    match err {
        CallError::Refused { status, .. } => status.as_u16(),
        CallError::Unavailable { .. } => 0,
    }
}

fn code(err: &CallError) -> String {
    err.refusal()
        .map(|(_, error)| error.code.clone())
        .unwrap_or_else(|| format!("unavailable: {err}"))
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn admin_url() -> String {
    std::env::var("MATCHLOG_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into())
}

/// A fresh database's URL and name, or `None` on a local-only run.
async fn postgres_database() -> Option<(String, String)> {
    if std::env::var("MATCHLOG_TEST_LOCAL_ONLY").is_ok_and(|v| v == "1") {
        eprintln!("skipped: MATCHLOG_TEST_LOCAL_ONLY=1, PostgreSQL not used");
        return None;
    }
    let database = format!("matchlog_test_{}", Uuid::new_v4().simple());
    admin(&format!("CREATE DATABASE {database}")).await;
    let url = admin_url();
    let (base, _) = url.split_once('?').unwrap_or((&url, ""));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    Some((format!("{}/{database}", &base[..path]), database))
}

async fn admin(statement: &str) {
    let options = sqlx::postgres::PgConnectOptions::from_str(&admin_url())
        .expect("MATCHLOG_TEST_POSTGRES_URL is a postgres:// URL");
    let connection = tokio::time::timeout(Duration::from_secs(5), options.connect()).await;
    let Ok(Ok(mut connection)) = connection else {
        panic!(
            "PostgreSQL did not answer at MATCHLOG_TEST_POSTGRES_URL (default \
             {DEFAULT_POSTGRES_URL}); start one or set MATCHLOG_TEST_LOCAL_ONLY=1"
        );
    };
    connection
        .execute(AssertSqlSafe(statement.to_string()))
        .await
        .unwrap();
    connection.close().await.ok();
}

// ---- behaviours, each run on both credential stores -----------------------------------

async fn a_password_change_keeps_this_session_and_ends_the_others(accounts: Accounts) {
    let Some(t) = Tiers::start(accounts, &[], true).await else {
        return;
    };
    let here = t.sign_up_and_in("Petra").await;
    let elsewhere = t.sign_in("petra", PASSWORD).await.unwrap();
    let other_user = t.sign_up_and_in("Quinn").await;

    let wrong = t
        .change(&here.token, "not my password", "new password 1")
        .await;
    assert_eq!(code(&wrong.refused()), "bad_credentials");
    let short = t.change(&here.token, PASSWORD, "short").await.refused();
    assert_eq!((status(&short), code(&short)), (422, "invalid".to_string()));
    assert!(t.is_live(&elsewhere.token).await, "refusals change nothing");

    t.change(&here.token, PASSWORD, "new password 1")
        .await
        .unwrap();
    assert!(t.is_live(&here.token).await, "the asking session stays");
    assert!(
        !t.is_live(&elsewhere.token).await,
        "the other session ended"
    );
    assert!(
        t.is_live(&other_user.token).await,
        "another user is untouched"
    );
    let old = t.sign_in("Petra", PASSWORD).await.refused();
    assert_eq!(code(&old), "bad_credentials");
    t.sign_in("PETRA", "new password 1").await.unwrap();
    t.sign_in("quinn", PASSWORD).await.unwrap();

    let gone = t.change(&elsewhere.token, "new password 1", "xxxxxxxxxx");
    assert_eq!(code(&gone.await.refused()), "no_session");
    t.finish().await;
}

async fn deleting_an_account_removes_its_matches_sessions_and_name(accounts: Accounts) {
    let Some(t) = Tiers::start(accounts, &[], true).await else {
        return;
    };
    let rosa = t.sign_up_and_in("Rosa").await;
    let second = t.sign_in("rosa", PASSWORD).await.unwrap();
    let sam = t.sign_up_and_in("Sam").await;
    for game in ["fortnite", "hots", "fortnite"] {
        t.record(rosa.user_id, game).await;
    }
    t.record(sam.user_id, "fortnite").await;

    let wrong = t.delete(&rosa.token, "not my password").await.refused();
    assert_eq!(
        (status(&wrong), code(&wrong)),
        (401, "bad_credentials".into())
    );
    assert_eq!(
        t.count(rosa.user_id, "fortnite").await,
        2,
        "nothing removed"
    );

    t.delete(&rosa.token, PASSWORD).await.unwrap();
    assert!(!t.is_live(&rosa.token).await);
    assert!(!t.is_live(&second.token).await);
    assert_eq!(t.count(rosa.user_id, "fortnite").await, 0);
    assert_eq!(t.count(rosa.user_id, "hots").await, 0);
    assert_eq!(
        t.count(sam.user_id, "fortnite").await,
        1,
        "others keep theirs"
    );
    assert!(t.is_live(&sam.token).await);
    assert_eq!(
        code(&t.sign_in("rosa", PASSWORD).await.refused()),
        "bad_credentials"
    );
    let again = t.sign_up_and_in("ROSA").await;
    assert_ne!(again.user_id, rosa.user_id, "the name is free again");
    assert_eq!(t.count(again.user_id, "fortnite").await, 0);
    t.finish().await;
}

async fn a_deletion_that_cannot_reach_crud_keeps_the_account_and_a_retry_finishes(
    accounts: Accounts,
) {
    let Some(mut t) = Tiers::start(accounts, &[], false).await else {
        return;
    };
    let tia = t.sign_up_and_in("Tia").await;
    let refused = t.delete(&tia.token, PASSWORD).await.refused();
    // A 503 in our shape reaches the caller as "unavailable", with our own sentence.
    assert!(
        matches!(&refused, CallError::Unavailable { detail, .. } if detail.contains("account was kept")),
        "{refused:?}"
    );
    assert!(t.is_live(&tia.token).await, "the account stays usable");
    t.sign_in("tia", PASSWORD).await.unwrap();

    t.start_crud().await;
    t.record(tia.user_id, "hots").await;
    t.delete(&tia.token, PASSWORD).await.unwrap();
    assert!(!t.is_live(&tia.token).await);
    assert_eq!(t.count(tia.user_id, "hots").await, 0);
    t.finish().await;
}

async fn password_attempts_are_limited_per_account_and_per_client(accounts: Accounts) {
    let limits = [
        ("MATCHLOG_SIGNIN_ACCOUNT_BURST", "3"),
        ("MATCHLOG_SIGNIN_CLIENT_BURST", "6"),
    ];
    let Some(t) = Tiers::start(accounts, &limits, true).await else {
        return;
    };
    let uma = t.sign_up_and_in("Uma").await; // one attempt spent
    for _ in 0..2 {
        let wrong = t.sign_in("uma", "wrong password").await.refused();
        assert_eq!(code(&wrong), "bad_credentials");
    }
    let limited = t.sign_in("UMA", PASSWORD).await.refused();
    let (status_code, error) = limited.refusal().unwrap();
    assert_eq!(status_code.as_u16(), 429);
    assert_eq!(error.code, "too_many_attempts");
    let wait = error.retry_after_seconds.expect("a wait is given");
    assert!((1..=30).contains(&wait), "{wait}");
    assert!(!error.message.contains("governor"));
    let change = t.change(&uma.token, PASSWORD, "another password").await;
    assert_eq!(code(&change.refused()), "too_many_attempts", "same budget");
    // An unknown name is limited exactly like a known one (nothing to learn from it).
    for _ in 0..3 {
        t.sign_in("nobody_here", "wrong password").await.refused();
    }
    assert_eq!(
        code(&t.sign_in("nobody_here", "wrong password").await.refused()),
        "too_many_attempts"
    );
    // A client address forwarded by `web` has a budget of its own across names.
    let app = &t.app;
    let from = |n: usize| async move {
        let name = format!("spray{n}");
        app.sign_in_from(CONTEXT, &creds(&name, "guess guess"), Some("198.51.100.4"))
            .await
            .refused()
    };
    for n in 0..6 {
        assert_eq!(code(&from(n).await), "bad_credentials", "attempt {n}");
    }
    assert_eq!(code(&from(6).await), "too_many_attempts");
    let elsewhere = t
        .app
        .sign_in_from(
            CONTEXT,
            &creds("fresh_name", "guess guess"),
            Some("198.51.100.5"),
        )
        .await
        .refused();
    assert_eq!(code(&elsewhere), "bad_credentials");
    t.finish().await;
}

async fn a_session_ends_after_the_configured_lifetime(accounts: Accounts) {
    let ttl = [("MATCHLOG_SESSION_TTL_SECONDS", "2")];
    let Some(t) = Tiers::start(accounts, &ttl, true).await else {
        return;
    };
    let vic = t.sign_up_and_in("Vic").await;
    assert!(t.is_live(&vic.token).await);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert!(!t.is_live(&vic.token).await, "expired on the server");
    let change = t.change(&vic.token, PASSWORD, "another password").await;
    assert_eq!(code(&change.refused()), "no_session");
    t.finish().await;
}

async fn the_account_routes_refuse_without_a_session_or_credential(accounts: Accounts) {
    let Some(t) = Tiers::start(accounts, &[], true).await else {
        return;
    };
    let wes = t.sign_up_and_in("Wes").await;
    let xan = t.sign_up_and_in("Xan").await;
    for token in [
        "",
        "not-a-token",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let change = t.change(token, PASSWORD, "another password").await;
        assert_eq!(code(&change.refused()), "no_session", "{token:?}");
        let delete = t.delete(token, PASSWORD).await;
        assert_eq!(code(&delete.refused()), "no_session", "{token:?}");
    }
    // A credential acting for Xan cannot use Wes's session.
    let as_xan = CallContext {
        request_id: "account-test",
        user: Some(xan.user_id),
    };
    let deletion = AccountDeletion {
        password: PASSWORD.into(),
    };
    let crossed = t
        .app
        .delete_account(as_xan, &wes.token, &deletion, None)
        .await;
    assert_eq!(code(&crossed.refused()), "no_session");
    // Without the internal key nothing is looked at.
    let stranger = AppClient(TierClient::new(
        "app",
        &t.config.app_url,
        KeyRing::generate(),
        Duration::from_secs(5),
    ));
    let refused = stranger
        .delete_account(CONTEXT, &wes.token, &deletion, None)
        .await;
    assert_eq!(code(&refused.refused()), "unauthenticated");
    assert!(t.is_live(&wes.token).await && t.is_live(&xan.token).await);
    t.finish().await;
}

macro_rules! on_both_stores {
    ($($behaviour:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    super::$behaviour(super::Accounts::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    super::$behaviour(super::Accounts::Postgres).await;
                }
            )*
        }
    };
}

on_both_stores!(
    a_password_change_keeps_this_session_and_ends_the_others,
    deleting_an_account_removes_its_matches_sessions_and_name,
    a_deletion_that_cannot_reach_crud_keeps_the_account_and_a_retry_finishes,
    password_attempts_are_limited_per_account_and_per_client,
    a_session_ends_after_the_configured_lifetime,
    the_account_routes_refuse_without_a_session_or_credential,
);
