//! The `crud` and `crud-create-tables` binaries as separate processes, configured only by
//! environment variables and called through `shared::client::CrudClient`, as `web` does.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json, json};
use shared::api::NewMatch;
use shared::client::{CallContext, CrudClient, TierClient};
use shared::tokens::{Key, KeyRing};
use uuid::Uuid;

#[path = "../../crates/results-store/tests/support/dynalite.rs"]
mod dynalite_proxy;
#[path = "support/dynamodb.rs"]
mod dynamodb;

/// 32 zero bytes, base64: both tiers of a test share it.
const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// A crud process, stopped (by its own PID) and its data removed when dropped.
struct Tier {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Drop for Tier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_dir() -> PathBuf {
    std::env::temp_dir().join(format!("matchlog-crud-bin-{}", Uuid::new_v4()))
}

/// A command with a clean environment: only what the test sets, plus PATH.
fn command(binary: &str, env: &[(&str, String)]) -> Command {
    let mut command = Command::new(binary);
    command.env_clear();
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    command.env("RUST_LOG", "warn");
    command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    command
}

fn base_env(dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("MATCHLOG_DATA_DIR", dir.display().to_string()),
        ("MATCHLOG_INTERNAL_KEY", KEY.into()),
        ("MATCHLOG_SESSION_KEY", KEY.into()),
    ]
}

/// Dummy credentials and a fixed region: the SDK never looks for real ones, nor at the
/// instance metadata address.
fn dynamodb_env(endpoint: &str, prefix: &str) -> Vec<(&'static str, String)> {
    vec![
        ("MATCHLOG_RESULTS_DB", "dynamodb".into()),
        ("MATCHLOG_DYNAMODB_TABLE_PREFIX", prefix.into()),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

fn start_crud(dir: PathBuf, extra: &[(&'static str, String)]) -> Tier {
    let port = free_port();
    let mut env = base_env(&dir);
    env.push(("MATCHLOG_CRUD_ADDR", format!("127.0.0.1:{port}")));
    env.extend(extra.iter().cloned());
    let child = command(env!("CARGO_BIN_EXE_crud"), &env)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the crud binary");
    let tier = Tier {
        child,
        url: format!("http://127.0.0.1:{port}"),
        dir,
    };
    wait_ready(port);
    tier
}

/// Polls `/health/ready` until it answers 200.
fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ready_status(port).is_some_and(|status| status.starts_with("HTTP/1.1 200")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("crud on port {port} did not become ready");
}

fn ready_status(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let request = "GET /health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.lines().next().map(str::to_string)
}

fn client(url: &str) -> CrudClient {
    let key = Key::from_bytes(vec![0; 32]).unwrap();
    CrudClient(TierClient::new(
        "crud",
        url,
        KeyRing::new(key, None),
        Duration::from_secs(10),
    ))
}

fn yesterday() -> String {
    (time::OffsetDateTime::now_utc().date() - time::Duration::days(1)).to_string()
}

fn apex_fields(kills: i64) -> Map<String, Json> {
    let value = json!({
        "date": yesterday(), "mode": "duos", "result": "win", "legend": "Lifeline",
        "kills": kills, "placement": 1, "damage": 800, "time": "19:59", "teammates": [],
    });
    value.as_object().unwrap().clone()
}

/// Create, retry, read, list, delete all: the calls `web` and `app` make.
async fn exercise(url: &str) {
    let crud = client(url);
    let user = Uuid::new_v4();
    let context = CallContext {
        request_id: "binary-test",
        user: Some(user),
    };
    let new = NewMatch {
        id: Uuid::new_v4(),
        fields: apex_fields(6),
    };
    let created = crud.create(context, "apex", &new).await.expect("create");
    assert_eq!(created.fields["legend"], "Lifeline");
    let retried = crud.create(context, "apex", &new).await.expect("retry");
    assert_eq!(
        retried, created,
        "a retried create answers the stored match"
    );
    assert_eq!(crud.get(context, "apex", new.id).await.unwrap(), created);

    let someone_else = CallContext {
        request_id: "binary-test",
        user: Some(Uuid::new_v4()),
    };
    let refused = crud.get(someone_else, "apex", new.id).await.unwrap_err();
    let (status, error) = refused.refusal().expect("a refusal, not an outage");
    assert_eq!((status.as_u16(), error.code.as_str()), (404, "not_found"));

    let query = [("result".to_string(), "win".to_string())];
    let list = crud.list(context, "apex", &query).await.expect("list");
    assert_eq!((list.total, list.stats.wins), (1, 1));

    crud.delete_all(context).await.expect("delete all");
    let list = crud.list(context, "apex", &[]).await.unwrap();
    assert_eq!(list.total, 0);
}

#[tokio::test]
async fn the_crud_binary_serves_the_api_on_sqlite() {
    let tier = start_crud(temp_dir(), &[]);
    exercise(&tier.url).await;
}

#[test]
fn the_crud_binary_refuses_a_bad_configuration_and_names_the_variable() {
    let dir = temp_dir();
    let mut env = base_env(&dir);
    env.push(("MATCHLOG_CRUD_ADDR", "not-an-address".into()));
    let output = command(env!("CARGO_BIN_EXE_crud"), &env)
        .output()
        .expect("run the crud binary");
    let _ = std::fs::remove_dir_all(dir);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("MATCHLOG_CRUD_ADDR"), "{stderr}");
}

#[test]
fn create_tables_has_nothing_to_do_on_sqlite() {
    let dir = temp_dir();
    let output = run_create_tables(&base_env(&dir));
    let _ = std::fs::remove_dir_all(dir);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("nothing to do"));
}

fn run_create_tables(env: &[(&str, String)]) -> Output {
    command(env!("CARGO_BIN_EXE_crud-create-tables"), env)
        .output()
        .expect("run crud-create-tables")
}

#[tokio::test]
async fn create_tables_then_the_crud_binary_on_dynamodb() {
    if let Some(endpoint) = dynamodb::endpoint() {
        create_tables_then_serve(&endpoint).await;
    }
}

/// On dynalite a new table is CREATING before it is ACTIVE, as on AWS: the command must
/// wait for it. (The proxy replays the transactions dynalite lacks.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_tables_then_the_crud_binary_on_dynalite() {
    if let Some(endpoint) = dynamodb::dynalite_endpoint() {
        let proxy = dynalite_proxy::start(&endpoint).await;
        create_tables_then_serve(&proxy).await;
    }
}

async fn create_tables_then_serve(endpoint: &str) {
    let prefix = format!("bin-{}-", Uuid::new_v4().simple());
    let dir = temp_dir();
    let mut env = base_env(&dir);
    env.extend(dynamodb_env(endpoint, &prefix));

    let first = run_create_tables(&env);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    for slug in ["apex", "fortnite", "hots"] {
        assert!(
            stdout.contains(&format!("{prefix}{slug}: created")),
            "{stdout}"
        );
    }
    let again = run_create_tables(&env);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success());
    assert_eq!(stdout.matches(": exists").count(), 3, "{stdout}");

    let tier = start_crud(dir, &dynamodb_env(endpoint, &prefix));
    exercise(&tier.url).await;
}

#[tokio::test]
async fn the_crud_binary_is_not_ready_while_its_tables_are_missing() {
    let Some(endpoint) = dynamodb::endpoint() else {
        return;
    };
    let prefix = format!("missing-{}-", Uuid::new_v4().simple());
    let port = free_port();
    let dir = temp_dir();
    let mut env = base_env(&dir);
    env.extend(dynamodb_env(&endpoint, &prefix));
    env.push(("MATCHLOG_CRUD_ADDR", format!("127.0.0.1:{port}")));
    let child = command(env!("CARGO_BIN_EXE_crud"), &env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _tier = Tier {
        child,
        url: String::new(),
        dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = ready_status(port) {
            break status;
        }
        assert!(Instant::now() < deadline, "crud never answered");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.starts_with("HTTP/1.1 503"), "{status}");
}
