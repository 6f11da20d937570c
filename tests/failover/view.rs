//! Reading web's health view (`/health/upstreams`), waiting on it, and reading what web
//! logged about it.

#![allow(dead_code)] // Shared by the failover tests and the failover benchmark, which use different parts.

use std::time::{Duration, Instant};

use serde::Deserialize;

/// One upstream as web's `/health/upstreams` shows it.
#[derive(Clone, Debug, Deserialize)]
pub struct Upstream {
    pub name: String,
    pub up: bool,
    pub switches: u64,
    pub calls: u64,
    pub account_calls: u64,
    pub result_calls: u64,
}

/// The whole view at one moment.
#[derive(Clone, Debug)]
pub struct View {
    pub at: Instant,
    pub app: Upstream,
    pub crud: Upstream,
    pub gateway: Upstream,
}

/// What changed between two views.
#[derive(Clone, Debug)]
pub struct Traffic {
    pub app_accounts: u64,
    pub app_results: u64,
    pub crud_results: u64,
    pub crud_accounts: u64,
    pub gateway_accounts: u64,
    pub gateway_results: u64,
}

impl Traffic {
    pub fn gateway(&self) -> u64 {
        self.gateway_accounts + self.gateway_results
    }

    pub fn primaries(&self) -> u64 {
        self.app_accounts + self.app_results + self.crud_accounts + self.crud_results
    }
}

impl View {
    pub fn since(&self, earlier: &View) -> Traffic {
        Traffic {
            app_accounts: self.app.account_calls - earlier.app.account_calls,
            app_results: self.app.result_calls - earlier.app.result_calls,
            crud_results: self.crud.result_calls - earlier.crud.result_calls,
            crud_accounts: self.crud.account_calls - earlier.crud.account_calls,
            gateway_accounts: self.gateway.account_calls - earlier.gateway.account_calls,
            gateway_results: self.gateway.result_calls - earlier.gateway.result_calls,
        }
    }

    pub fn switches(&self) -> u64 {
        self.app.switches + self.crud.switches + self.gateway.switches
    }
}

/// Reads web's health view.
pub async fn view(web_url: &str) -> View {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("a plain client");
    let list: Vec<Upstream> = client
        .get(format!("{web_url}/health/upstreams"))
        .send()
        .await
        .expect("web answers /health/upstreams")
        .json()
        .await
        .expect("the health view is JSON");
    let pick = |name: &str| {
        list.iter()
            .find(|upstream| upstream.name == name)
            .unwrap_or_else(|| panic!("no {name} in the health view: {list:?}"))
            .clone()
    };
    View {
        at: Instant::now(),
        app: pick("app"),
        crud: pick("crud"),
        gateway: pick("gateway"),
    }
}

/// Polls the view every 50 ms until `done` holds; the view that met it, or a panic
/// naming `what` after `limit`.
pub async fn wait_for(
    web_url: &str,
    what: &str,
    limit: Duration,
    done: impl Fn(&View) -> bool,
) -> View {
    let start = Instant::now();
    loop {
        let now = view(web_url).await;
        if done(&now) {
            return now;
        }
        assert!(
            start.elapsed() < limit,
            "{what}: not within {limit:?}; the view: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The traffic over a window of `length` from now.
pub async fn window(web_url: &str, length: Duration) -> (View, Traffic) {
    let before = view(web_url).await;
    tokio::time::sleep(length).await;
    let after = view(web_url).await;
    let traffic = after.since(&before);
    (after, traffic)
}

/// Waits until traffic is back on the primaries: both up and a window of `length` in
/// which the gateway took no call while the primaries took some. Returns the time
/// from `since` to the start of that window; panics past `limit`.
pub async fn back_on_primaries(web_url: &str, since: Instant, limit: Duration) -> Duration {
    let length = Duration::from_millis(300);
    loop {
        let before = view(web_url).await;
        tokio::time::sleep(length).await;
        let after = view(web_url).await;
        let traffic = after.since(&before);
        let clean =
            before.app.up && before.crud.up && traffic.gateway() == 0 && traffic.primaries() > 0;
        let elapsed = before.at.saturating_duration_since(since);
        if clean {
            return elapsed;
        }
        assert!(
            elapsed < limit,
            "traffic not back on the primaries within {limit:?}: {after:?}, last window {traffic:?}"
        );
    }
}

/// How many times web logged `upstream <what>` (`out of use`, `back in use`) for `name`.
pub fn switches_logged(log: &str, name: &str, what: &str) -> usize {
    log.lines()
        .filter(|line| line.contains(&format!("upstream {what}")))
        .filter(|line| line.contains(&format!("upstream=\"{name}\"")))
        .count()
}

/// A log without its colour codes.
pub fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
