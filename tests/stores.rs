//! The tiers on their production stores, as separate processes: PostgreSQL for accounts,
//! DynamoDB (moto) for results. Empty keys (PC-02), exact numbers (PC-03), a sign-in storm
//! on the gateway within a connection budget (PC-15), the embedded default under
//! concurrent writes (PC-20), and outages of each store while the tiers run.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::StatusCode;
use results_store::{DynamoStore, ResultStore as _, StoredMatch};
use serde_json::{Value as Json, json};
use shared::catalog::Catalog;
use shared::tokens::{Key, KeyRing, mint_credential, unix_now};
use sqlx::Connection as _;
use support::{Browser, Page, ProductionStores, Stack, Tier, pairs, valid_match};
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery";

// ---- calls to the JSON API of a tier, with a credential minted as web mints it ------------

/// One JSON answer from app, crud or the gateway.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    json: Json,
    text: String,
}

impl Answer {
    fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("<none>")
    }
}

/// Calls a tier's `/v1` routes acting for `user`.
struct Api {
    http: reqwest::Client,
    base: String,
    keys: KeyRing,
    user: Uuid,
}

impl Api {
    fn new(stack: &Stack, tier: Tier, user: Uuid) -> Api {
        let key = Key::from_bytes(stack.internal_key.clone()).expect("a 32-byte key");
        Api {
            http: reqwest::Client::new(),
            base: stack.url_of(tier).to_string(),
            keys: KeyRing::new(key, None),
            user,
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<String>) -> Answer {
        let credential = mint_credential(&self.keys, Some(self.user), unix_now());
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(credential)
            .timeout(Duration::from_secs(20));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("the tier answers");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Json::Null);
        Answer { status, json, text }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn total(&self, game: &str) -> u64 {
        let answer = self.get(&format!("/v1/games/{game}/matches")).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.json["total"].as_u64().expect("a total")
    }
}

/// An apex match for the JSON API, its values as JSON text so big numbers stay exact.
fn apex_json(id: &str, date: &str, damage: &str) -> String {
    format!(
        r#"{{"id":{id},"fields":{{"date":{date},"mode":"trios","result":"win","legend":"Wraith",
        "kills":3,"placement":2,"damage":{damage},"time":"12:00","teammates":[]}}}}"#
    )
}

fn quoted(text: &str) -> String {
    format!("\"{text}\"")
}

async fn ready_body(stack: &Stack, tier: Tier) -> (StatusCode, Json) {
    let response = reqwest::Client::new()
        .get(format!("{}/health/ready", stack.url_of(tier)))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("the tier answers its readiness probe");
    let status = response.status();
    (status, response.json().await.unwrap_or(Json::Null))
}

/// web's view of one upstream: whether it is in use, how often it switched, how many
/// calls it took.
async fn upstream(stack: &Stack, name: &str) -> (bool, u64, u64) {
    let statuses: Json = reqwest::get(format!("{}/health/upstreams", stack.web_url))
        .await
        .expect("web answers")
        .json()
        .await
        .expect("upstream statuses are JSON");
    let entry = statuses
        .as_array()
        .and_then(|all| all.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no upstream {name} in {statuses}"));
    (
        entry["up"].as_bool().unwrap(),
        entry["switches"].as_u64().unwrap(),
        entry["calls"].as_u64().unwrap(),
    )
}

async fn wait_until_ready(stack: &Stack, tier: Tier) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready_body(stack, tier).await.0 != StatusCode::OK {
        assert!(Instant::now() < deadline, "{tier:?} did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A user-facing page that says plainly the service cannot answer now, and no more.
fn assert_unavailable_page(page: &Page, what: &str) {
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}:\n{}",
        page.body
    );
    assert!(
        page.body.contains("Service unavailable") && page.body.contains("try again"),
        "{what}: not a clear error page:\n{}",
        page.body
    );
    for internal in [
        "sqlx",
        "PostgreSQL",
        "Dynamo",
        "dispatch",
        "pool timed",
        "127.0.0.1",
    ] {
        assert!(!page.body.contains(internal), "{what}: {internal:?} leaked");
    }
}

/// The id of the account named `canonical` in the test database.
async fn account_id(stores: &ProductionStores, canonical: &str) -> Uuid {
    let mut database = sqlx::PgConnection::connect(&stores.database.url)
        .await
        .unwrap();
    let id: String = sqlx::query_scalar("SELECT id::text FROM accounts WHERE canonical_name = $1")
        .bind(canonical)
        .fetch_one(&mut database)
        .await
        .expect("the account is stored");
    Uuid::parse_str(&id).unwrap()
}

fn env_of<'a>(stores: &'a ProductionStores, name: &str) -> &'a str {
    stores
        .env
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{name} is not set for the stores"))
}

// ---- PC-02: empty strings in keys -----------------------------------------------------

/// What each bad request answered, to compare between backends.
type Outcomes = Vec<(String, u16, String)>;

/// PC-02 on one stack: empty and blank keys through crud, the gateway and web.
async fn empty_keys_are_refused_before_the_store(stack: &Stack) -> Outcomes {
    let mut outcomes = Vec::new();
    // Fixed, so the answers of two stacks compare equal; nothing is ever stored under it.
    let id = "7d4f0c3e-7a4b-4f7e-9a49-0c5a6f1b2d3e";
    let api_cases: Vec<(reqwest::Method, String, Option<String>)> = vec![
        (reqwest::Method::GET, "/v1/games//matches".into(), None),
        (
            reqwest::Method::POST,
            "/v1/games//matches".into(),
            Some(apex_json(&quoted(id), &quoted(&support::today()), "1")),
        ),
        (reqwest::Method::GET, "/v1/games/%20/matches".into(), None),
        (
            reqwest::Method::GET,
            "/v1/games/%20%20/matches".into(),
            None,
        ),
        (reqwest::Method::GET, "/v1/games/apex/matches/".into(), None),
        (
            reqwest::Method::GET,
            "/v1/games/apex/matches/%20".into(),
            None,
        ),
        (
            reqwest::Method::DELETE,
            format!("/v1/games//matches/{id}"),
            None,
        ),
        (
            reqwest::Method::POST,
            "/v1/games/apex/matches".into(),
            Some(apex_json(&quoted(""), &quoted(&support::today()), "1")),
        ),
        (
            reqwest::Method::POST,
            "/v1/games/apex/matches".into(),
            Some(apex_json(&quoted(id), &quoted(""), "1")),
        ),
        (
            reqwest::Method::POST,
            "/v1/games/apex/matches".into(),
            Some(apex_json(&quoted(id), &quoted("   "), "1")),
        ),
    ];
    let user = Uuid::new_v4();
    for tier in [Tier::Crud, Tier::Gateway] {
        let api = Api::new(stack, tier, user);
        for (method, path, body) in &api_cases {
            let answer = api.send(method.clone(), path, body.clone()).await;
            let what = format!("{tier:?} {method} {path}");
            assert!(
                [StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY]
                    .contains(&answer.status),
                "{what}: {} {}",
                answer.status,
                answer.text
            );
            let message = answer.json["error"]["message"].as_str().unwrap_or_default();
            assert!(!message.is_empty(), "{what}: no readable message");
            outcomes.push((what, answer.status.as_u16(), answer.code().to_string()));
        }
        assert_eq!(api.total("apex").await, 0, "{tier:?}: nothing was stored");
    }

    let browser = stack.browser();
    browser
        .sign_up("blank_keys", PASSWORD)
        .await
        .assert_redirect_to("/games");
    for path in [
        "/games//new",
        "/games/%20",
        "/games/%20/new",
        "/games/apex/%20/edit",
    ] {
        let page = browser.get(path).await;
        assert!(page.status.is_client_error(), "web {path}: {}", page.status);
        assert!(
            page.body.contains("<h1"),
            "web {path}: not a page:\n{}",
            page.body
        );
        outcomes.push((
            format!("web GET {path}"),
            page.status.as_u16(),
            String::new(),
        ));
    }
    for blank in ["", "   "] {
        let mut values = valid_match("apex");
        values
            .iter_mut()
            .filter(|(k, _)| *k == "date")
            .for_each(|(_, v)| *v = blank.to_string());
        let page = browser.record("apex", &pairs(&values)).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            page.body
        );
        assert!(page.body.contains("Date is required."), "{}", page.body);
        outcomes.push((format!("web POST date={blank:?}"), 422, String::new()));
    }
    assert!(browser.match_ids("apex").await.is_empty(), "nothing stored");
    outcomes
}

#[tokio::test]
async fn pc02_empty_keys_get_the_same_readable_answer_on_sqlite_and_dynamodb() {
    let sqlite = {
        let stack = Stack::start().await;
        empty_keys_are_refused_before_the_store(&stack).await
    };
    let Some(stores) = ProductionStores::create("pc02").await else {
        return;
    };
    let stack = Stack::start_with(&stores.with(&[])).await;
    let dynamodb = empty_keys_are_refused_before_the_store(&stack).await;
    assert_eq!(sqlite, dynamodb, "the same answers on both backends");
}

// ---- PC-03: number precision on DynamoDB ------------------------------------------------

/// Matches written straight into the store, as data the catalog's limits no longer cover
/// would be (the store decodes stored values without limits).
async fn store_apex_with_damage(stores: &ProductionStores, user: Uuid, damage: &[&str]) {
    let store = DynamoStore::for_local_endpoint(
        env_of(stores, "AWS_ENDPOINT_URL_DYNAMODB"),
        env_of(stores, "MATCHLOG_DYNAMODB_TABLE_PREFIX"),
        Catalog::builtin(),
    )
    .unwrap();
    let game = Catalog::builtin().game("apex").unwrap();
    for (n, text) in damage.iter().enumerate() {
        let fields = json!({
            "date": support::today(), "mode": "trios", "result": "win", "legend": "Wraith",
            "kills": 3, "placement": 2, "damage": serde_json::from_str::<Json>(text).unwrap(),
            "time": "12:00", "teammates": [],
        });
        let fields = fields.as_object().unwrap().clone();
        let record = StoredMatch::new(Uuid::new_v4(), user, fields, 1_000 + n as i64);
        store.insert(game, &record).await.expect("store a match");
    }
}

#[tokio::test]
async fn pc03_big_numbers_read_back_exactly_on_the_page_and_through_the_api_on_dynamodb() {
    let Some(stores) = ProductionStores::create("pc03").await else {
        return;
    };
    let stack = Stack::start_with(&stores.with(&[])).await;
    let browser = stack.browser();
    browser
        .sign_up("Big_Numbers", PASSWORD)
        .await
        .assert_redirect_to("/games");
    let user = account_id(&stores, "big_numbers").await;
    let (big, neighbour) = ("9007199254740993", "9007199254740992");
    store_apex_with_damage(&stores, user, &[big, neighbour]).await;

    let page = browser
        .get("/games/apex?sort=damage&dir=asc&per_page=100")
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let at = |needle: &str| {
        page.body
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} is not on the page"))
    };
    assert!(at(neighbour) < at(big), "sorted next to its neighbour");

    for tier in [Tier::Crud, Tier::Gateway] {
        let api = Api::new(&stack, tier, user);
        let list = api.get("/v1/games/apex/matches?sort=damage&dir=desc").await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.text);
        let first = list.text.find(&format!("\"damage\":{big}"));
        let second = list.text.find(&format!("\"damage\":{neighbour}"));
        assert!(
            first.is_some() && first < second,
            "{tier:?}: exact and in order: {}",
            list.text
        );
        let id = list.json["items"][0]["id"].as_str().unwrap();
        let one = api.get(&format!("/v1/games/apex/matches/{id}")).await;
        assert!(
            one.text.contains(&format!("\"damage\":{big}")),
            "{}",
            one.text
        );

        let forty = "9".repeat(40);
        let body = apex_json(
            &quoted(&Uuid::new_v4().to_string()),
            &quoted(&support::today()),
            &forty,
        );
        let refused = api
            .send(reqwest::Method::POST, "/v1/games/apex/matches", Some(body))
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            refused.text
        );
        assert!(refused.json["error"]["fields"]["damage"].is_string());
    }

    let mut values = valid_match("apex");
    values
        .iter_mut()
        .filter(|(k, _)| *k == "damage")
        .for_each(|(_, v)| *v = "9".repeat(40));
    let page = browser.record("apex", &pairs(&values)).await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Damage must be between 0 and 20000."),
        "{}",
        page.body
    );
    assert_eq!(
        browser.match_ids("apex").await.len(),
        2,
        "nothing more stored"
    );
}

// ---- PC-15: a sign-in storm on the gateway, within a connection budget -------------------

const POOL: i64 = 4;

/// Samples the connections to the test database until told to stop; returns the most seen.
fn sample_connections(
    stores: &ProductionStores,
    ignore_pid: Option<i32>,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<i64>,
) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let name = stores.database.name.clone();
    let admin_url = support::postgres_admin_url();
    let sampler = tokio::spawn(async move {
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        let mut most = 0;
        while stopped.try_recv().is_err() {
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> $2",
            )
            .bind(&name)
            .bind(ignore_pid.unwrap_or(0))
            .fetch_one(&mut admin)
            .await
            .unwrap();
            most = most.max(count);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        most
    });
    (stop, sampler)
}

/// Signs in `browser` (its form fetched first) and times the post.
async fn timed_sign_in(browser: &Browser, name: &str) -> (Page, Duration) {
    let form = browser.get("/").await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = form.csrf();
    let started = Instant::now();
    let page = browser
        .post(
            "/signin",
            &[
                ("user_name", name),
                ("user_pass", PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    (page, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pc15_a_sign_in_storm_on_the_gateway_stays_within_the_pool_and_never_hangs() {
    let Some(stores) = ProductionStores::create("pc15").await else {
        return;
    };
    let pool = POOL.to_string();
    let settings = [
        ("MATCHLOG_DB_POOL_SIZE", pool.as_str()),
        // Shorter than web's readiness probe timeout, so a starved pool still answers
        // readiness ("store unavailable") before the probe gives up on the gateway.
        ("MATCHLOG_DB_ACQUIRE_TIMEOUT_MS", "300"),
        // The storm is about connections, not the brakes on password guessing.
        ("MATCHLOG_SIGNIN_ACCOUNT_BURST", "1000"),
        ("MATCHLOG_SIGNIN_CLIENT_BURST", "1000"),
    ];
    let mut stack = Stack::start_with(&stores.with(&settings)).await;
    let names: Vec<String> = (0..10).map(|i| format!("storm{i}")).collect();
    for name in &names {
        stack
            .browser()
            .sign_up(name, PASSWORD)
            .await
            .assert_redirect_to("/games");
    }

    stack.kill(Tier::App);
    let deadline = Instant::now() + Duration::from_secs(10);
    while upstream(&stack, "app").await.0 {
        assert!(Instant::now() < deadline, "web never noticed app was gone");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, _, gateway_calls) = upstream(&stack, "gateway").await;

    // 200 sign-ins at once, all on the gateway.
    let browsers: Vec<Browser> = (0..200).map(|_| stack.browser()).collect();
    let (stop, sampler) = sample_connections(&stores, None);
    let storm = browsers
        .iter()
        .enumerate()
        .map(|(i, browser)| timed_sign_in(browser, &names[i % names.len()]));
    let answers = join_all(storm).await;
    stop.send(()).unwrap();
    let most = sampler.await.unwrap();
    assert!(most <= POOL, "{most} connections for a pool of {POOL}");

    let mut signed_in = 0;
    for (page, took) in &answers {
        assert!(took < &Duration::from_secs(10), "a sign-in took {took:?}");
        if page.status.is_redirection() {
            page.assert_redirect_to("/games");
            signed_in += 1;
        } else {
            assert_unavailable_page(page, "a sign-in in the storm");
        }
    }
    assert!(signed_in > 0, "no sign-in got through");
    let (_, _, after) = upstream(&stack, "gateway").await;
    assert!(
        after >= gateway_calls + 200,
        "the storm went to the gateway"
    );
    eprintln!("storm: {signed_in}/200 signed in, at most {most} connections");

    starved_pool_answers_503_quickly(&stack, &stores, &names).await;
}

/// Holds a lock that every sign-in needs, so the pool's connections are all taken by
/// sign-ins waiting on it: the sign-ins after them cannot get a connection in time.
async fn starved_pool_answers_503_quickly(
    stack: &Stack,
    stores: &ProductionStores,
    names: &[String],
) {
    let mut locker = sqlx::PgConnection::connect(&stores.database.url)
        .await
        .unwrap();
    let locker_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut locker)
        .await
        .unwrap();
    let mut lock = locker.begin().await.unwrap();
    sqlx::query("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();

    let (stop, sampler) = sample_connections(stores, Some(locker_pid));
    let browsers: Vec<Browser> = (0..12).map(|_| stack.browser()).collect();
    let attempts = browsers
        .iter()
        .enumerate()
        .map(|(i, browser)| timed_sign_in(browser, &names[i % names.len()]));
    let release = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        lock.commit().await.unwrap();
    };
    let (answers, ()) = tokio::join!(join_all(attempts), release);
    stop.send(()).unwrap();
    let most = sampler.await.unwrap();
    assert!(most <= POOL, "{most} connections for a pool of {POOL}");

    let refused: Vec<&Duration> = answers
        .iter()
        .filter(|(page, _)| !page.status.is_redirection())
        .map(|(page, took)| {
            assert_unavailable_page(page, "a sign-in with the pool starved");
            took
        })
        .collect();
    assert!(
        !refused.is_empty(),
        "with every connection waiting, some sign-in must be refused"
    );
    eprintln!(
        "starved pool: {} of {} sign-ins answered 503",
        refused.len(),
        answers.len()
    );
    for took in refused {
        assert!(took < &Duration::from_secs(2), "a 503 took {took:?}");
    }
    for (page, took) in &answers {
        assert!(took < &Duration::from_secs(8), "{}: {took:?}", page.status);
    }
}

// ---- PC-20: the embedded default under concurrent writes --------------------------------

#[tokio::test]
async fn pc20_sqlite_runs_in_wal_mode_and_never_reports_a_locked_database() {
    let stack = Stack::start().await;
    let players: Vec<Browser> = (0..20).map(|_| stack.browser()).collect();
    let work = players.iter().enumerate().map(|(i, browser)| async move {
        let signed_up = browser.sign_up(&format!("writer{i}"), PASSWORD).await;
        let game = ["apex", "fortnite", "hots"][i % 3];
        let saved = browser.record(game, &pairs(&valid_match(game))).await;
        let listed = browser.get(&format!("/games/{game}")).await;
        (signed_up.status, saved.status, listed.status)
    });
    for statuses in join_all(work).await {
        assert_eq!(
            statuses,
            (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER, StatusCode::OK)
        );
    }
    for (tier, file) in [
        (Tier::App, "app/credentials.db"),
        (Tier::Crud, "crud/results.db"),
    ] {
        let path: PathBuf = stack.root().join(file);
        let url = format!("sqlite://{}", path.display());
        let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut connection)
            .await
            .unwrap();
        assert_eq!(mode, "wal", "{file}");
        let log = stack.log_of(tier);
        assert!(!log.contains("database is locked"), "{tier:?}: {log}");
        assert!(!log.contains(" 500 "), "{tier:?}: {log}");
    }
}

// ---- outages -------------------------------------------------------------------------

/// A PostgreSQL cluster of this test's own on a free port, to stop and start at will.
struct PrivateCluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
}

impl PrivateCluster {
    fn start() -> PrivateCluster {
        let dir = std::env::temp_dir().join(format!("matchlog-pg-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let cluster = PrivateCluster {
            port: support::free_port(),
            bin: postgres_bin_dir(),
            dir,
        };
        if is_root() {
            run(Command::new("chown").arg("postgres").arg(&cluster.dir));
        }
        run(cluster
            .as_postgres("initdb")
            .arg("-D")
            .arg(cluster.dir.join("data"))
            .args(["-A", "trust", "-U", "postgres"]));
        cluster.resume();
        cluster
    }

    fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) on the same port and data.
    fn resume(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        run(self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "-o", &options, "start"]));
    }

    /// Stops the server at once, as an outage would: clients are disconnected.
    fn stop(&self) {
        run(self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"]));
    }

    /// `tool` from the server's binaries, run as the `postgres` user when we are root
    /// (PostgreSQL refuses to run as root).
    fn as_postgres(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        let mut command = if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        };
        command.stdin(Stdio::null());
        command
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Debian keeps the server binaries out of PATH, under /usr/lib/postgresql/<version>/bin.
fn postgres_bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| Some(e.ok()?.path().join("bin")))
                .collect()
        })
        .unwrap_or_default();
    versions.retain(|dir| dir.join("initdb").exists());
    versions.sort_by_key(|dir| {
        let version = dir.parent().and_then(|v| v.file_name()).unwrap_or_default();
        version.to_string_lossy().parse::<u32>().unwrap_or(0)
    });
    versions.pop().unwrap_or_else(|| {
        panic!(
            "no PostgreSQL server binaries under /usr/lib/postgresql: apt-get install postgresql"
        )
    })
}

fn run(command: &mut Command) {
    let output = command.output().expect("run a PostgreSQL tool");
    assert!(
        output.status.success(),
        "{command:?}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// moto's server from the repository's `.venv`, on a port of this test's own.
struct Moto {
    child: Option<Child>,
    port: u16,
}

impl Moto {
    fn start() -> Moto {
        let mut moto = Moto {
            child: None,
            port: support::free_port(),
        };
        moto.resume();
        moto
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn resume(&mut self) {
        let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
        assert!(
            binary.exists(),
            "{} is missing: run ./scripts/test once (it installs moto into .venv)",
            binary.display()
        );
        let child = Command::new(binary)
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends `signal` (`STOP`, `CONT`) to the server.
    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("moto is running");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} moto");
    }

    /// Kills the server, as a crash would (its in-memory tables go with it).
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What web's health view said before an outage.
struct Before {
    app_switches: u64,
    crud_switches: u64,
    gateway_calls: u64,
}

impl Before {
    async fn read(stack: &Stack) -> Before {
        Before {
            app_switches: upstream(stack, "app").await.1,
            crud_switches: upstream(stack, "crud").await.1,
            gateway_calls: upstream(stack, "gateway").await.2,
        }
    }
}

/// While a store is down: the error page, readiness, and no failover to the gateway.
async fn assert_outage_is_reported_without_failover(
    stack: &Stack,
    tier: Tier,
    pages: &[Page],
    before: Before,
) {
    for (i, page) in pages.iter().enumerate() {
        assert_unavailable_page(page, &format!("request {i} during the outage"));
    }
    for probed in [tier, Tier::Gateway] {
        let (status, body) = ready_body(stack, probed).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{probed:?}: {body}"
        );
        assert_eq!(
            body,
            json!({"status": "unavailable", "reason": "store"}),
            "{probed:?}"
        );
    }
    // Several probe rounds: the tier answers, so it stays in use.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let switches = [("app", before.app_switches), ("crud", before.crud_switches)];
    for (name, switches) in switches {
        let (up, now, _) = upstream(stack, name).await;
        assert!(up, "web took {name} out of use for a store outage");
        assert_eq!(now, switches, "{name} switched");
    }
    let (_, _, calls) = upstream(stack, "gateway").await;
    assert_eq!(calls, before.gateway_calls, "nothing went to the gateway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_outage_gives_an_error_page_no_failover_and_nothing_half_written() {
    if support::local_only() {
        return;
    }
    let cluster = PrivateCluster::start();
    let stores =
        ProductionStores::create_with(&cluster.admin_url(), &support::dynamodb_url(), "pg-out")
            .await;
    let settings = [("MATCHLOG_DB_ACQUIRE_TIMEOUT_MS", "500")];
    let mut stack = Stack::start_with(&stores.with(&settings)).await;
    let ann = stack.browser();
    ann.sign_up("Ann", PASSWORD)
        .await
        .assert_redirect_to("/games");
    ann.record("apex", &pairs(&valid_match("apex")))
        .await
        .assert_redirect_to("/games/apex");

    let mut new_match = valid_match("apex");
    new_match.push(("csrf", ann.get("/games/apex/new").await.csrf()));
    let bo = stack.browser();
    let sign_up_csrf = bo.get("/signup").await.csrf();

    let before = Before::read(&stack).await;
    cluster.stop();
    let started = Instant::now();
    let sign_up = [
        ("user_name", "Bobby"),
        ("user_pass", PASSWORD),
        ("csrf", sign_up_csrf.as_str()),
    ];
    let pages = vec![
        ann.get("/games").await,
        ann.get("/games/apex").await,
        ann.post("/games/apex", &pairs(&new_match)).await,
        bo.post("/signup", &sign_up).await,
    ];
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_outage_is_reported_without_failover(&stack, Tier::App, &pages, before).await;

    // app also starts while its database is down: alive, not ready, for the store's sake.
    stack.kill(Tier::App);
    stack.launch(Tier::App);
    let deadline = Instant::now() + Duration::from_secs(20);
    let not_ready = loop {
        if let Ok(response) = reqwest::get(format!("{}/health/ready", stack.app_url)).await {
            break (
                response.status(),
                response.json::<Json>().await.unwrap_or_default(),
            );
        }
        assert!(
            Instant::now() < deadline,
            "app did not start without its database"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let unavailable = json!({"status": "unavailable", "reason": "store"});
    assert_eq!(not_ready, (StatusCode::SERVICE_UNAVAILABLE, unavailable));

    cluster.resume();
    wait_until_ready(&stack, Tier::App).await;
    assert_eq!(
        ann.match_ids("apex").await.len(),
        1,
        "Ann's match is still there"
    );
    ann.record("hots", &pairs(&valid_match("hots")))
        .await
        .assert_redirect_to("/games/hots");
    // Bobby's sign-up failed: the name is free again, or the account is whole.
    let again = stack.browser().sign_up("Bobby", PASSWORD).await;
    if !again.status.is_redirection() {
        assert!(again.body.contains("That name is taken."), "{}", again.body);
        stack
            .browser()
            .sign_in("Bobby", PASSWORD)
            .await
            .assert_redirect_to("/games");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamodb_outage_gives_an_error_page_no_failover_and_nothing_half_written() {
    if support::local_only() {
        return;
    }
    let mut moto = Moto::start();
    let stores =
        ProductionStores::create_with(&support::postgres_admin_url(), &moto.url(), "ddb-out").await;
    let stack = Stack::start_with(&stores.with(&[])).await;
    let ann = stack.browser();
    ann.sign_up("Ann", PASSWORD)
        .await
        .assert_redirect_to("/games");
    ann.record("apex", &pairs(&valid_match("apex")))
        .await
        .assert_redirect_to("/games/apex");
    let form = ann.get("/games/fortnite/new").await;

    let before = Before::read(&stack).await;
    moto.kill();
    let started = Instant::now();
    let mut failed_write = valid_match("fortnite");
    failed_write.push(("csrf", form.csrf()));
    let pages = vec![
        ann.get("/games/apex").await,
        ann.post("/games/fortnite", &pairs(&failed_write)).await,
    ];
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_outage_is_reported_without_failover(&stack, Tier::Crud, &pages, before).await;

    // moto keeps its tables in memory: back, it is empty, and the tables are made again
    // as an operator would.
    moto.resume();
    support::create_tables(&stores.env);
    wait_until_ready(&stack, Tier::Crud).await;
    assert!(
        ann.match_ids("fortnite").await.is_empty(),
        "the failed write is absent"
    );
    ann.record("fortnite", &pairs(&valid_match("fortnite")))
        .await
        .assert_redirect_to("/games/fortnite");
    assert_eq!(ann.match_ids("fortnite").await.len(), 1);
    assert_eq!(ann.match_ids("apex").await.len(), 0, "moto came back empty");
}

/// A DynamoDB endpoint that takes connections and never answers (moto frozen with
/// SIGSTOP, as a network black hole looks): crud gives up before web does, so web shows
/// the error page instead of failing over. Thawed, moto still has its tables, and the
/// write that was cut off is either wholly there or absent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_dynamodb_gives_an_error_page_no_failover_and_nothing_half_written() {
    if support::local_only() {
        return;
    }
    let moto = Moto::start();
    let stores =
        ProductionStores::create_with(&support::postgres_admin_url(), &moto.url(), "ddb-hang")
            .await;
    let stack = Stack::start_with(&stores.with(&[])).await;
    let ann = stack.browser();
    ann.sign_up("Ann", PASSWORD)
        .await
        .assert_redirect_to("/games");
    ann.record("apex", &pairs(&valid_match("apex")))
        .await
        .assert_redirect_to("/games/apex");
    let form = ann.get("/games/hots/new").await;
    let mut cut_off = valid_match("hots");
    cut_off.push(("csrf", form.csrf()));

    let before = Before::read(&stack).await;
    moto.signal("STOP");
    let started = Instant::now();
    let pages = vec![
        ann.get("/games/apex").await,
        ann.post("/games/hots", &pairs(&cut_off)).await,
    ];
    let took = started.elapsed();
    let outcome = std::panic::AssertUnwindSafe(assert_outage_is_reported_without_failover(
        &stack,
        Tier::Crud,
        &pages,
        before,
    ));
    let outcome = futures::FutureExt::catch_unwind(outcome).await;
    moto.signal("CONT");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    assert!(took < Duration::from_secs(12), "{took:?}");

    wait_until_ready(&stack, Tier::Crud).await;
    assert_eq!(
        ann.match_ids("apex").await.len(),
        1,
        "the tables kept their data"
    );
    let hots = ann.match_ids("hots").await;
    assert!(hots.len() <= 1, "{hots:?}");
    if let Some(id) = hots.first() {
        let edit = ann.get(&format!("/games/hots/{id}/edit")).await;
        assert_eq!(edit.status, StatusCode::OK);
        for (field, value) in valid_match("hots") {
            let shown = support::field_value(&edit.body, field);
            assert!(
                shown.as_deref() == Some(value.as_str()) || edit.body.contains(&value),
                "{field} of the cut-off write is not whole:\n{}",
                edit.body
            );
        }
    }
    ann.record("hots", &pairs(&valid_match("hots")))
        .await
        .assert_redirect_to("/games/hots");
    assert_eq!(ann.match_ids("hots").await.len(), hots.len() + 1);
}
