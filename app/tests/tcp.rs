//! Black-box checks over TCP: the tier served by `serve_on` from a `Config`, called through
//! the same `AppClient` that `web` uses, on SQLite and on PostgreSQL; and the `app` binary
//! itself, which refuses a bad configuration and drains on SIGTERM.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use reqwest_free::http_get;
use shared::api::Credentials;
use shared::client::{AppClient, CallContext, CallError, TierClient};
use shared::config::Config;
use shared::tokens::KeyRing;
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _, Executor as _};
use uuid::Uuid;

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn temp_dir() -> PathBuf {
    std::env::temp_dir().join(format!("matchlog-app-tcp-{}", Uuid::new_v4()))
}

fn config(data_dir: &Path, credentials_db: Option<&str>) -> Config {
    let data_dir = data_dir.to_str().unwrap().to_string();
    Config::from_lookup(|name| match name {
        "MATCHLOG_DATA_DIR" => Some(data_dir.clone()),
        "MATCHLOG_BCRYPT_COST" => Some("4".into()),
        "MATCHLOG_CREDENTIALS_DB" => credentials_db.map(str::to_string),
        _ => None,
    })
    .unwrap()
}

/// Serves the tier on a free port; returns its base URL and the server task.
async fn start(config: Config) -> (String, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(app::serve_on(listener, config));
    (url, server)
}

fn client(url: &str, keys: KeyRing) -> AppClient {
    AppClient(TierClient::new("app", url, keys, Duration::from_secs(10)))
}

fn creds(name: &str, pass: &str) -> Credentials {
    Credentials {
        user_name: name.into(),
        user_pass: pass.into(),
    }
}

fn refusal_code(err: &CallError) -> (u16, String) {
    let (status, error) = err
        .refusal()
        .unwrap_or_else(|| panic!("expected a refusal, got {err:?}"));
    (status.as_u16(), error.code.clone())
}

/// The whole account flow as `web` performs it.
async fn the_account_flow_works_through_the_client(url: &str, keys: &KeyRing) {
    let app = client(url, keys.clone());
    let context = CallContext {
        request_id: "tcp-test",
        user: None,
    };
    let account = app
        .sign_up(context, &creds("Olga", "password123"))
        .await
        .unwrap();
    assert_eq!(account.user_name, "Olga");

    let taken = app
        .sign_up(context, &creds("OLGA", "password456"))
        .await
        .unwrap_err();
    assert_eq!(refusal_code(&taken), (409, "name_taken".into()));
    let wrong = app
        .sign_in(context, &creds("olga", "password456"))
        .await
        .err()
        .expect("a wrong password is refused");
    assert_eq!(refusal_code(&wrong), (401, "bad_credentials".into()));

    let session = app
        .sign_in(context, &creds("olga", "password123"))
        .await
        .unwrap();
    assert_eq!(session.user_id, account.user_id);
    let info = app.session(context, &session.token).await.unwrap();
    assert_eq!(info.user_id, account.user_id);
    assert_eq!(info.expires_at, session.expires_at);

    app.sign_out(context, &session.token).await.unwrap();
    let ended = app.session(context, &session.token).await.unwrap_err();
    assert_eq!(refusal_code(&ended), (401, "no_session".into()));

    let stranger = client(url, KeyRing::generate());
    let refused = stranger
        .sign_in(context, &creds("olga", "password123"))
        .await
        .err()
        .expect("a caller with other keys is refused");
    assert_eq!(refusal_code(&refused), (401, "unauthenticated".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_contract_holds_on_sqlite() {
    let dir = temp_dir();
    let config = config(&dir, None);
    let keys = config.internal_keys.clone();
    let (url, server) = start(config).await;
    the_account_flow_works_through_the_client(&url, &keys).await;
    server.abort();
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_contract_holds_on_postgres() {
    if std::env::var("MATCHLOG_TEST_LOCAL_ONLY").is_ok_and(|v| v == "1") {
        eprintln!("skipped: MATCHLOG_TEST_LOCAL_ONLY=1, PostgreSQL not used");
        return;
    }
    let admin_url = std::env::var("MATCHLOG_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string());
    let database = format!("matchlog_test_{}", Uuid::new_v4().simple());
    admin(&admin_url, &format!("CREATE DATABASE {database}")).await;

    let dir = temp_dir();
    let db_url = with_database(&admin_url, &database);
    let config = config(&dir, Some(&db_url));
    let keys = config.internal_keys.clone();
    let (url, server) = start(config).await;
    the_account_flow_works_through_the_client(&url, &keys).await;
    server.abort();
    // The aborted server's pool may still hold connections: FORCE ends them.
    admin(
        &admin_url,
        &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
    )
    .await;
    std::fs::remove_dir_all(dir).ok();
}

async fn admin(admin_url: &str, statement: &str) {
    let options = sqlx::postgres::PgConnectOptions::from_str(admin_url)
        .expect("MATCHLOG_TEST_POSTGRES_URL is a postgres:// URL");
    let connection = tokio::time::timeout(Duration::from_secs(5), options.connect()).await;
    let mut connection = match connection {
        Ok(Ok(connection)) => connection,
        _ => panic!(
            "PostgreSQL did not answer at MATCHLOG_TEST_POSTGRES_URL (default {DEFAULT_POSTGRES_URL}). \
             Start a server there, point the variable at one, or set \
             MATCHLOG_TEST_LOCAL_ONLY=1 to skip the PostgreSQL tests"
        ),
    };
    connection
        .execute(AssertSqlSafe(statement.to_string()))
        .await
        .unwrap();
    connection.close().await.ok();
}

/// `url` with its database name replaced, query string kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{}/{database}{query}", &base[..path])
}

// ---- the binary ----------------------------------------------------------------------

#[test]
fn the_binary_refuses_a_bad_configuration() {
    let dir = temp_dir();
    let output = Command::new(env!("CARGO_BIN_EXE_app"))
        .env("MATCHLOG_DATA_DIR", &dir)
        .env("MATCHLOG_BCRYPT_COST", "2")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("MATCHLOG_BCRYPT_COST"), "{stderr}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_binary_serves_and_drains_on_sigterm() {
    let dir = temp_dir();
    let addr = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_app"))
        .env("MATCHLOG_DATA_DIR", &dir)
        .env("MATCHLOG_APP_ADDR", addr.to_string())
        .env("MATCHLOG_BCRYPT_COST", "4")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        if let Some(answer) = http_get(addr, "/health/ready") {
            break answer;
        }
        assert!(Instant::now() < deadline, "the binary never answered");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");

    // Our own child, by its id.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait_with_timeout(&mut child, Duration::from_secs(15));
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    std::fs::remove_dir_all(dir).ok();
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn wait_with_timeout(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("the binary did not stop within {limit:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A tiny HTTP/1.1 client on std, enough for health probes.
mod reqwest_free {
    use super::*;

    /// The raw answer to `GET path`, or `None` when nothing listens yet.
    pub fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
        let mut stream =
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nhost: app\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        Some(answer)
    }
}
