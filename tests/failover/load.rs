//! Steady mixed load through `web`, as several signed-in browsers: page views, sign-ins,
//! new matches and edits, with every answer checked and every failure kept.

#![allow(dead_code)] // Shared by the failover tests and the failover benchmark, which use different parts.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt as _;
use reqwest::StatusCode;
use shared::api::Credentials;
use shared::client::{AppClient, CallContext, CrudClient, TierClient};
use shared::tokens::{Key, KeyRing};
use tokio::task::JoinHandle;

use crate::support::{Browser, Page, Stack, pairs, valid_match};

pub const PASSWORD: &str = "steady load password";

/// Games the players take turns on; both have a list of names to carry a marker.
const GAMES: [&str; 2] = ["apex", "fortnite"];

/// One signed-in browser with a match of its own to edit.
pub struct Player {
    pub name: String,
    pub game: &'static str,
    browser: Browser,
    edit_id: String,
}

/// What one player did and saw while the load ran.
#[derive(Debug, Default)]
pub struct PlayerLog {
    pub name: String,
    pub game: &'static str,
    pub edit_id: String,
    /// Markers of the matches that web said it saved, one per create.
    pub created: Vec<String>,
    /// The kills value of the last edit that web said it saved.
    pub last_kills: Option<String>,
    pub failures: Vec<String>,
    /// The longest step (one or a few requests), and which.
    pub slowest: (Duration, u64),
}

/// The load while it runs: players in their own tasks until [`Load::stop`].
pub struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<PlayerLog>>,
}

impl Load {
    /// Signs up `players` browsers (each with one match to edit) and starts them, each
    /// pausing `pause` between requests.
    pub async fn start(stack: &Stack, players: usize, pause: Duration) -> Load {
        let mut ready = Vec::new();
        for index in 0..players {
            ready.push(Player::sign_up(stack, index).await);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let tasks = ready
            .into_iter()
            .map(|player| {
                let counters = Counters {
                    stop: Arc::clone(&stop),
                    sent: Arc::clone(&sent),
                    failed: Arc::clone(&failed),
                };
                tokio::spawn(player.run(counters, pause))
            })
            .collect();
        Load {
            stop,
            sent,
            failed,
            tasks,
        }
    }

    /// Requests sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Requests that got a wrong answer so far.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Stops every player after its current step and returns what each saw.
    pub async fn stop(self) -> Vec<PlayerLog> {
        self.stop.store(true, Ordering::Relaxed);
        let mut logs = Vec::new();
        for task in self.tasks {
            logs.push(task.await.expect("a player task ends"));
        }
        logs
    }
}

/// What the players share.
struct Counters {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl Player {
    async fn sign_up(stack: &Stack, index: usize) -> Player {
        let name = format!(
            "load{index}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let game = GAMES[index % GAMES.len()];
        let browser = stack.browser();
        browser
            .sign_up(&name, PASSWORD)
            .await
            .assert_redirect_to("/games");
        browser
            .record(game, &pairs(&valid_match(game)))
            .await
            .assert_redirect_to(&format!("/games/{game}"));
        let edit_id = browser.match_ids(game).await.remove(0);
        Player {
            name,
            game,
            browser,
            edit_id,
        }
    }

    async fn run(self, counters: Counters, pause: Duration) -> PlayerLog {
        let mut log = PlayerLog {
            name: self.name.clone(),
            game: self.game,
            edit_id: self.edit_id.clone(),
            ..PlayerLog::default()
        };
        let mut step = 0u64;
        while !counters.stop.load(Ordering::Relaxed) {
            let started = std::time::Instant::now();
            let outcome = AssertUnwindSafe(self.step(step, &counters, &mut log))
                .catch_unwind()
                .await;
            if started.elapsed() > log.slowest.0 {
                log.slowest = (started.elapsed(), step);
            }
            let failure = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(failure)) => Some(failure),
                Err(_) => Some(format!("step {step}: a request did not reach web")),
            };
            if let Some(failure) = failure {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                log.failures.push(format!("{}: {failure}", self.name));
            }
            step += 1;
            tokio::time::sleep(pause).await;
        }
        log
    }

    /// One step of the cycle: a page view, a results page, a new match, an edit, and
    /// every other cycle a sign-out and sign-in.
    async fn step(
        &self,
        step: u64,
        counters: &Counters,
        log: &mut PlayerLog,
    ) -> Result<(), String> {
        let sent = |n| counters.sent.fetch_add(n, Ordering::Relaxed);
        match step % 5 {
            0 => {
                sent(1);
                expect_ok("GET /games", &self.browser.get("/games").await)
            }
            1 => {
                sent(1);
                let path = format!("/games/{}", self.game);
                expect_ok(&format!("GET {path}"), &self.browser.get(&path).await)
            }
            2 => {
                let marker = format!("m{step}");
                let mut values = valid_match(self.game);
                set(&mut values, "teammates", &marker);
                sent(2);
                let form = format!("/games/{}/new", self.game);
                let action = format!("/games/{}", self.game);
                self.submit(&form, &action, &pairs(&values)).await?;
                log.created.push(marker);
                Ok(())
            }
            3 => {
                let kills = (step % 50).to_string();
                let mut values = valid_match(self.game);
                set(&mut values, "kills", &kills);
                sent(2);
                let form = format!("/games/{}/{}/edit", self.game, self.edit_id);
                let action = format!("/games/{}/{}", self.game, self.edit_id);
                self.submit(&form, &action, &pairs(&values)).await?;
                log.last_kills = Some(kills);
                Ok(())
            }
            _ if step % 10 == 4 => {
                sent(4);
                self.submit("/games", "/signout", &[]).await?;
                self.submit(
                    "/",
                    "/signin",
                    &[("user_name", &self.name), ("user_pass", PASSWORD)],
                )
                .await
            }
            _ => {
                // The sign-in page sends a signed-in browser on to its games.
                sent(1);
                let page = self.browser.get("/").await;
                if page.status == StatusCode::SEE_OTHER && page.location() == Some("/games") {
                    return Ok(());
                }
                expect_ok("GET /", &page)
            }
        }
    }

    /// Opens a form page, posts it with its CSRF token, and expects the redirect a
    /// successful post gives.
    async fn submit(
        &self,
        form: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Result<(), String> {
        let page = self.browser.get(form).await;
        expect_ok(&format!("GET {form}"), &page)?;
        let csrf = crate::support::field_value(&page.body, "csrf")
            .ok_or_else(|| format!("GET {form}: no csrf field"))?;
        let mut form_fields = fields.to_vec();
        form_fields.push(("csrf", &csrf));
        let answer = self.browser.post(action, &form_fields).await;
        if answer.status == StatusCode::SEE_OTHER {
            return Ok(());
        }
        Err(describe(&format!("POST {action}"), &answer))
    }
}

fn expect_ok(what: &str, page: &Page) -> Result<(), String> {
    if page.status == StatusCode::OK {
        Ok(())
    } else {
        Err(describe(what, page))
    }
}

fn describe(what: &str, page: &Page) -> String {
    format!("{what}: {} {}", page.status, title(&page.body))
}

/// An error page's title, which says what went wrong.
fn title(body: &str) -> &str {
    let Some(start) = body.find("<title>") else {
        return "";
    };
    let rest = &body[start + "<title>".len()..];
    &rest[..rest.find("</title>").unwrap_or(rest.len())]
}

fn set(values: &mut [(&'static str, String)], name: &str, value: &str) {
    for (key, stored) in values.iter_mut() {
        if *key == name {
            *stored = value.to_string();
        }
    }
}

/// The stored matches of one player, read through the API of `base_url` (the gateway
/// serves the results routes on the same store as `crud`).
pub async fn stored_matches(stack: &Stack, base_url: &str, log: &PlayerLog) -> StoredMatches {
    let keys = KeyRing::new(
        Key::from_bytes(stack.internal_key.clone()).expect("the stack's internal key"),
        None,
    );
    let timeout = Duration::from_secs(10);
    let app = AppClient(TierClient::new("app", base_url, keys.clone(), timeout));
    let crud = CrudClient(TierClient::new("crud", base_url, keys, timeout));
    let anonymous = CallContext {
        request_id: "failover-check",
        user: None,
    };
    let credentials = Credentials {
        user_name: log.name.clone(),
        user_pass: PASSWORD.into(),
    };
    let session = app
        .sign_in(anonymous, &credentials)
        .await
        .expect("the player signs in through the API");
    let context = CallContext {
        request_id: "failover-check",
        user: Some(session.user_id),
    };
    let mut stored = StoredMatches::default();
    let mut page = 1;
    loop {
        let query = [
            ("per_page".to_string(), "100".to_string()),
            ("page".to_string(), page.to_string()),
        ];
        let list = crud
            .list(context, log.game, &query)
            .await
            .expect("the player's matches list through the API");
        for item in &list.items {
            stored.ids.push(item.id.to_string());
            let teammates = item.fields.get("teammates").map(ToString::to_string);
            *stored
                .by_marker
                .entry(teammates.unwrap_or_default())
                .or_default() += 1;
            if item.id.to_string() == log.edit_id {
                stored.edited_kills = item.fields.get("kills").map(|kills| {
                    kills
                        .as_str()
                        .map_or_else(|| kills.to_string(), str::to_string)
                });
            }
        }
        if page >= list.pages {
            return stored;
        }
        page += 1;
    }
}

/// What the store holds for one player.
#[derive(Debug, Default)]
pub struct StoredMatches {
    pub ids: Vec<String>,
    /// How many matches carry each teammates value (as JSON text).
    pub by_marker: BTreeMap<String, usize>,
    pub edited_kills: Option<String>,
}

impl StoredMatches {
    /// How many stored matches carry `marker` as their only teammate.
    pub fn count(&self, marker: &str) -> usize {
        self.by_marker
            .iter()
            .filter(|(teammates, _)| teammates.contains(&format!("\"{marker}\"")))
            .map(|(_, count)| count)
            .sum()
    }
}
