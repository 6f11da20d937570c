//! Test support: starts the real tier binaries as separate processes on free ports with
//! their own data directories, and drives them over HTTP the way a browser does.

#![allow(dead_code)] // Each test target uses a different part of this module.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION};

/// The tiers that run as their own processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    App,
    Crud,
    Gateway,
    Web,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::App, Tier::Crud, Tier::Gateway, Tier::Web];

    fn binary(self) -> &'static str {
        match self {
            Tier::App => "app",
            Tier::Crud => "crud",
            Tier::Gateway => "gateway",
            Tier::Web => "web",
        }
    }
}

/// A running matchlog: one process per tier.
pub struct Stack {
    root: PathBuf,
    env: Vec<(String, String)>,
    processes: Vec<(Tier, Child)>,
    pub web_url: String,
    pub app_url: String,
    pub crud_url: String,
    pub gateway_url: String,
    pub internal_key: Vec<u8>,
}

impl Stack {
    /// Starts every tier on the embedded SQLite stores.
    pub async fn start() -> Stack {
        Self::start_with(&[]).await
    }

    /// Starts every tier with extra environment variables (store URLs, say).
    pub async fn start_with(extra: &[(&str, &str)]) -> Stack {
        let root = std::env::temp_dir().join(format!("matchlog-stack-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&root).expect("create the stack's temp dir");
        let internal_key = random_key();
        let ports = [free_port(), free_port(), free_port(), free_port()];
        let url = |port: u16| format!("http://127.0.0.1:{port}");
        let mut env: Vec<(String, String)> = vec![
            (
                "MATCHLOG_WEB_ADDR".into(),
                format!("127.0.0.1:{}", ports[0]),
            ),
            (
                "MATCHLOG_APP_ADDR".into(),
                format!("127.0.0.1:{}", ports[1]),
            ),
            (
                "MATCHLOG_CRUD_ADDR".into(),
                format!("127.0.0.1:{}", ports[2]),
            ),
            (
                "MATCHLOG_GATEWAY_ADDR".into(),
                format!("127.0.0.1:{}", ports[3]),
            ),
            ("MATCHLOG_SESSION_KEY".into(), encode(&random_key())),
            ("MATCHLOG_INTERNAL_KEY".into(), encode(&internal_key)),
            ("MATCHLOG_BCRYPT_COST".into(), "4".into()),
            ("MATCHLOG_UPSTREAM_TIMEOUT_MS".into(), "5000".into()),
            ("RUST_LOG".into(), "warn".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            // The gateway serves the same stores as app and crud.
            (
                "MATCHLOG_CREDENTIALS_DB".into(),
                sqlite_url(&root.join("app/credentials.db")),
            ),
            (
                "MATCHLOG_RESULTS_DB".into(),
                sqlite_url(&root.join("crud/results.db")),
            ),
            // Quick health decisions, so failover tests take seconds.
            ("MATCHLOG_HEALTH_INTERVAL_MS".into(), "200".into()),
            ("MATCHLOG_HEALTH_TIMEOUT_MS".into(), "500".into()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut stack = Stack {
            root,
            env,
            processes: Vec::new(),
            web_url: url(ports[0]),
            app_url: url(ports[1]),
            crud_url: url(ports[2]),
            gateway_url: url(ports[3]),
            internal_key,
        };
        stack.launch_all().await;
        stack
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn url_of(&self, tier: Tier) -> &str {
        match tier {
            Tier::App => &self.app_url,
            Tier::Crud => &self.crud_url,
            Tier::Gateway => &self.gateway_url,
            Tier::Web => &self.web_url,
        }
    }

    /// A fresh browser pointed at the web tier.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.web_url)
    }

    /// Sets (or replaces) one environment variable for the tiers started from now on:
    /// a restart with new keys, say.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.retain(|(key, _)| key != name);
        self.env.push((name.to_string(), value.to_string()));
    }

    /// Removes an environment variable for the tiers started from now on.
    pub fn remove_env(&mut self, name: &str) {
        self.env.retain(|(key, _)| key != name);
    }

    /// Stops every tier and starts it again on the same ports, data and keys.
    pub async fn restart(&mut self) {
        self.stop_all();
        self.launch_all().await;
    }

    /// Sends `signal` (`KILL`, `TERM`, `STOP`, `CONT`) to one tier's process.
    pub fn signal(&mut self, tier: Tier, signal: &str) {
        let (_, child) = self
            .processes
            .iter_mut()
            .find(|(t, _)| *t == tier)
            .unwrap_or_else(|| panic!("the {tier:?} tier is not running"));
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {tier:?}");
    }

    /// Kills one tier at once, as a crash would.
    pub fn kill(&mut self, tier: Tier) {
        self.signal(tier, "KILL");
        self.reap(tier);
    }

    /// Waits for one tier's process to end and forgets it.
    pub fn reap(&mut self, tier: Tier) {
        if let Some(index) = self.processes.iter().position(|(t, _)| *t == tier) {
            let (_, mut child) = self.processes.remove(index);
            let _ = child.wait();
        }
    }

    /// Starts one tier again on its port and waits until it is ready.
    pub async fn start_tier(&mut self, tier: Tier) {
        let child = self.spawn(tier);
        self.processes.push((tier, child));
        self.wait_ready(tier).await;
    }

    pub fn stop_all(&mut self) {
        for (_, child) in &mut self.processes {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.processes.clear();
    }

    async fn launch_all(&mut self) {
        for tier in Tier::ALL {
            let child = self.spawn(tier);
            self.processes.push((tier, child));
        }
        for tier in Tier::ALL {
            self.wait_ready(tier).await;
        }
    }

    fn spawn(&self, tier: Tier) -> Child {
        let data_dir = self.root.join(tier.binary());
        std::fs::create_dir_all(&data_dir).expect("create a tier's data dir");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join(format!("{}.log", tier.binary())))
            .expect("open a tier's log file");
        Command::new(binary_path(tier.binary()))
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("MATCHLOG_DATA_DIR", &data_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| panic!("start the {} binary: {err}", tier.binary()))
    }

    async fn wait_ready(&mut self, tier: Tier) {
        let url = format!("{}/health/ready", self.url_of(tier));
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(response) = client.get(&url).send().await
                && response.status() == StatusCode::OK
            {
                return;
            }
            if let Some((_, child)) = self.processes.iter_mut().find(|(t, _)| *t == tier)
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "the {tier:?} tier exited with {status}:\n{}",
                    self.log_of(tier)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the {tier:?} tier was not ready within 30 s:\n{}",
            self.log_of(tier)
        );
    }

    /// What a tier has written to its log so far.
    pub fn log_of(&self, tier: Tier) -> String {
        std::fs::read_to_string(self.root.join(format!("{}.log", tier.binary())))
            .unwrap_or_default()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop_all();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// Where cargo put a workspace binary: next to the test binary's `deps` directory.
fn binary_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the tier binaries first (`cargo build --workspace --bins`)",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("read the port").port()
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

fn random_key() -> Vec<u8> {
    (0..32).map(|_| rand_byte()).collect()
}

fn rand_byte() -> u8 {
    uuid::Uuid::new_v4().as_bytes()[0]
}

fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A browser without JavaScript: keeps cookies, does not follow redirects by itself.
pub struct Browser {
    client: reqwest::Client,
    base: String,
}

/// One response, read whole.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    /// The hidden CSRF field of the first form on the page.
    pub fn csrf(&self) -> String {
        field_value(&self.body, "csrf")
            .unwrap_or_else(|| panic!("no csrf field on the page:\n{}", self.body))
    }

    pub fn assert_redirect_to(&self, prefix: &str) {
        assert!(
            self.status.is_redirection(),
            "expected a redirect, got {}:\n{}",
            self.status,
            self.body
        );
        let location = self.location().unwrap_or_default();
        assert!(
            location.starts_with(prefix),
            "redirected to {location:?}, expected {prefix:?}"
        );
    }
}

/// The `value` of the input named `name`, unescaped for the few entities forms produce.
pub fn field_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    let at = html.find(&needle)?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let value_at = tag.find("value=\"")? + "value=\"".len();
    let value = &tag[value_at..value_at + tag[value_at..].find('"')?];
    Some(
        value
            .replace("&#x2b;", "+")
            .replace("&#x3d;", "=")
            .replace("&#43;", "+")
            .replace("&#61;", "="),
    )
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("build the test browser");
        Browser {
            client,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        read(
            self.client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .expect("GET reaches web"),
        )
        .await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self.client.post(format!("{}{path}", self.base)).form(form);
        read(request.send().await.expect("POST reaches web")).await
    }

    /// Opens the page that shows a form, then posts `fields` and its CSRF token to `action`.
    pub async fn submit(&self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(form_page).await;
        assert_eq!(
            page.status,
            StatusCode::OK,
            "GET {form_page}:\n{}",
            page.body
        );
        let csrf = page.csrf();
        let mut form = fields.to_vec();
        form.push(("csrf", &csrf));
        self.post(action, &form).await
    }

    /// Follows a redirect like a browser after a form post.
    pub async fn follow(&self, page: Page) -> Page {
        match page.location() {
            Some(location) if page.status.is_redirection() => self.get(location).await,
            _ => page,
        }
    }

    pub async fn sign_up(&self, name: &str, password: &str) -> Page {
        self.submit(
            "/signup",
            "/signup",
            &[("user_name", name), ("user_pass", password)],
        )
        .await
    }

    pub async fn sign_in(&self, name: &str, password: &str) -> Page {
        self.submit(
            "/",
            "/signin",
            &[("user_name", name), ("user_pass", password)],
        )
        .await
    }

    pub async fn sign_out(&self) -> Page {
        self.submit("/games", "/signout", &[]).await
    }

    /// Records a match through the form and returns the response to the post.
    pub async fn record(&self, game: &str, fields: &[(&str, &str)]) -> Page {
        self.submit(
            &format!("/games/{game}/new"),
            &format!("/games/{game}"),
            fields,
        )
        .await
    }

    /// The ids of the matches listed on a game's page, in page order.
    pub async fn match_ids(&self, game: &str) -> Vec<String> {
        let page = self.get(&format!("/games/{game}?per_page=100")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        match_ids_in(&page.body, game)
    }
}

/// Match ids found in edit links (`/games/{game}/{id}/edit`).
pub fn match_ids_in(html: &str, game: &str) -> Vec<String> {
    let prefix = format!("/games/{game}/");
    let mut ids = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(&prefix) {
        rest = &rest[at + prefix.len()..];
        if let Some(id) = rest
            .get(..36)
            .filter(|id| uuid::Uuid::parse_str(id).is_ok())
            && rest[36..].starts_with("/edit")
            && !ids.iter().any(|known| known == id)
        {
            ids.push(id.to_string());
        }
    }
    ids
}

async fn read(response: reqwest::Response) -> Page {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.expect("read the body");
    Page {
        status,
        headers,
        body,
    }
}

/// Valid form values for one match of each game, dated today.
pub fn valid_match(game: &str) -> Vec<(&'static str, String)> {
    let today = today();
    let fields: Vec<(&str, &str)> = match game {
        "apex" => vec![
            ("mode", "trios"),
            ("result", "win"),
            ("legend", "Wraith"),
            ("kills", "7"),
            ("placement", "1"),
            ("damage", "1450"),
            ("time", "18:05"),
            ("teammates", "Ann, Bo"),
        ],
        "fortnite" => vec![
            ("result", "loss"),
            ("kills", "3"),
            ("placement", "42"),
            ("mode", "squads"),
            ("teammates", "Cy, Di, Ed"),
        ],
        "hots" => vec![
            ("result", "win"),
            ("hero", "Li Li"),
            ("kills", "4"),
            ("deaths", "2"),
            ("assists", "15"),
            ("time", "21:40"),
            ("map", "Cursed Hollow"),
        ],
        other => panic!("no sample match for {other}"),
    };
    let mut values: Vec<(&'static str, String)> = vec![("date", today)];
    values.extend(fields.into_iter().map(|(k, v)| (k, v.to_string())));
    values
}

pub fn today() -> String {
    let today = time::OffsetDateTime::now_utc().date();
    format!(
        "{:04}-{:02}-{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    )
}

/// Borrowed `(&str, &str)` pairs for `Browser::record`.
pub fn pairs<'a>(values: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    values.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

// ---- production stores: PostgreSQL and DynamoDB -----------------------------------------

/// Whether this run skips the PostgreSQL and DynamoDB tests on purpose.
pub fn local_only() -> bool {
    std::env::var("MATCHLOG_TEST_LOCAL_ONLY").is_ok_and(|v| v == "1")
}

/// The PostgreSQL server the run uses, as an admin URL on its `postgres` database.
pub fn postgres_admin_url() -> String {
    std::env::var("MATCHLOG_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// moto's DynamoDB API server that the run started; fails, saying what to start, when
/// it is not set or does not answer.
pub fn dynamodb_url() -> String {
    let Ok(url) = std::env::var("MATCHLOG_TEST_DYNAMODB_URL") else {
        panic!(
            "MATCHLOG_TEST_DYNAMODB_URL is not set. Start a DynamoDB API server \
             (.venv/bin/moto_server -H 127.0.0.1 -p PORT) and set it to \
             http://127.0.0.1:PORT, or run ./scripts/test, or set MATCHLOG_TEST_LOCAL_ONLY=1."
        );
    };
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let answers = host
        .parse::<std::net::SocketAddr>()
        .ok()
        .is_some_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
        });
    assert!(
        answers,
        "MATCHLOG_TEST_DYNAMODB_URL={url} does not answer: start moto there \
         (.venv/bin/moto_server -H 127.0.0.1 -p PORT) or run ./scripts/test"
    );
    url
}

/// A table prefix no other test uses, so tests on one DynamoDB server run in parallel.
pub fn fresh_table_prefix(tag: &str) -> String {
    format!("{tag}-{}-", uuid::Uuid::new_v4().simple())
}

/// A database of its own on a PostgreSQL server, dropped (connections and all) when the
/// value is dropped.
pub struct TestDatabase {
    pub name: String,
    /// The URL the tiers use.
    pub url: String,
    admin_url: String,
}

impl TestDatabase {
    /// Creates a fresh database on the server behind `admin_url`; fails, saying what to
    /// start, when the server does not answer.
    pub async fn create_on(admin_url: &str) -> TestDatabase {
        let name = format!("matchlog_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = admin_connection(admin_url).await;
        execute(&mut admin, &format!("CREATE DATABASE {name}")).await;
        TestDatabase {
            url: with_database(admin_url, &name),
            name,
            admin_url: admin_url.to_string(),
        }
    }

    /// A connection to the server's admin database, for looking at this one from outside.
    pub async fn admin(&self) -> sqlx::PgConnection {
        admin_connection(&self.admin_url).await
    }

    /// How many server connections are open to this database right now.
    pub async fn connections(&self) -> i64 {
        let mut admin = self.admin().await;
        sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1")
            .bind(&self.name)
            .fetch_one(&mut admin)
            .await
            .expect("count the connections to the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop cannot await; a thread of its own runs the statement on a small runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(async {
                let options = admin_url.parse::<sqlx::postgres::PgConnectOptions>().ok()?;
                let mut admin = sqlx::ConnectOptions::connect(&options).await.ok()?;
                sqlx::Executor::execute(&mut admin, sqlx::AssertSqlSafe(sql))
                    .await
                    .ok()
            })
        });
        let _ = dropped.join();
    }
}

async fn admin_connection(admin_url: &str) -> sqlx::PgConnection {
    let options: sqlx::postgres::PgConnectOptions = admin_url
        .parse()
        .expect("MATCHLOG_TEST_POSTGRES_URL is a postgres:// URL");
    let connect = sqlx::ConnectOptions::connect(&options);
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(connection)) => connection,
        outcome => panic!(
            "PostgreSQL did not answer at {admin_url} ({:?}). Start a server there, point \
             MATCHLOG_TEST_POSTGRES_URL at one, run ./scripts/test, or set \
             MATCHLOG_TEST_LOCAL_ONLY=1.",
            outcome.err().map(|_| "no answer within 5 s")
        ),
    }
}

async fn execute(connection: &mut sqlx::PgConnection, sql: &str) {
    sqlx::Executor::execute(connection, sqlx::AssertSqlSafe(sql.to_string()))
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

/// `url` with its database name replaced by `database`, query string kept.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{database}", &base[..path]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// The variables that put the tiers on DynamoDB at `endpoint` under `prefix`, with a
/// fixed region and dummy credentials, so the SDK never looks for real ones.
pub fn dynamodb_env(endpoint: &str, prefix: &str) -> Vec<(String, String)> {
    [
        ("MATCHLOG_RESULTS_DB", "dynamodb"),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint),
        ("MATCHLOG_DYNAMODB_TABLE_PREFIX", prefix),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Runs `crud-create-tables` with `env` (the DynamoDB variables) and checks it succeeded.
pub fn create_tables(env: &[(String, String)]) {
    let output = Command::new(binary_path("crud-create-tables"))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run crud-create-tables");
    assert!(
        output.status.success(),
        "crud-create-tables failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Accounts on a fresh PostgreSQL database, results in fresh DynamoDB tables on moto:
/// what a stack needs to run on the production stores.
pub struct ProductionStores {
    pub database: TestDatabase,
    pub env: Vec<(String, String)>,
}

impl ProductionStores {
    /// `None` when the run is local-only on purpose; otherwise fails, saying what to
    /// start, when a server is missing.
    pub async fn create(tag: &str) -> Option<ProductionStores> {
        if local_only() {
            eprintln!("skipped: MATCHLOG_TEST_LOCAL_ONLY=1, no PostgreSQL or DynamoDB run");
            return None;
        }
        let endpoint = dynamodb_url();
        Some(Self::create_with(&postgres_admin_url(), &endpoint, tag).await)
    }

    /// The same on the PostgreSQL server at `admin_url` and the DynamoDB API at `endpoint`.
    pub async fn create_with(admin_url: &str, endpoint: &str, tag: &str) -> ProductionStores {
        let database = TestDatabase::create_on(admin_url).await;
        let mut env = dynamodb_env(endpoint, &fresh_table_prefix(tag));
        create_tables(&env);
        env.push(("MATCHLOG_CREDENTIALS_DB".into(), database.url.clone()));
        ProductionStores { database, env }
    }

    /// The variables, borrowed as `Stack::start_with` takes them, plus `extra`.
    pub fn with<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut pairs: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.extend_from_slice(extra);
        pairs
    }
}

impl Stack {
    /// Starts one tier again on its port without waiting for it to be ready (it may be
    /// meant to start while its store is down).
    pub fn launch(&mut self, tier: Tier) {
        let child = self.spawn(tier);
        self.processes.push((tier, child));
    }
}
