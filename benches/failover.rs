//! What one crash of `app` costs under load: the real tier binaries as processes, browsers
//! through `web`, `app` killed once. Prints the requests sent, the calls retried on the
//! gateway, the requests that failed, and how long until the gateway carried all
//! traffic. A measurement, not a test: it asserts nothing.
//!
//! `cargo build --release --workspace --bins && cargo bench --bench failover`
//! (`MATCHLOG_BENCH_BROWSERS` sets the number of browsers, 8 by default).

#[path = "../tests/support.rs"]
mod support;

#[path = "../tests/failover/load.rs"]
mod load;
#[path = "../tests/failover/view.rs"]
mod view;

use std::time::{Duration, Instant};

use support::{Stack, Tier};

/// How long the load runs before the kill, and after it.
const WARM_UP: Duration = Duration::from_secs(3);
const AFTER: Duration = Duration::from_secs(3);

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let browsers = std::env::var("MATCHLOG_BENCH_BROWSERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(8);
    let mut stack = Stack::start_with(&[
        ("MATCHLOG_SIGNIN_ACCOUNT_BURST", "100000"),
        ("MATCHLOG_SIGNIN_CLIENT_BURST", "100000"),
    ])
    .await;
    let web = stack.web_url.clone();
    let load = load::Load::start(&stack, browsers, Duration::from_millis(10)).await;
    tokio::time::sleep(WARM_UP).await;

    let log_start = stack.log_of(Tier::Web).len();
    let sent_before = load.sent();
    let failed_before = load.failed();
    let before = view::view(&web).await;
    let killed = Instant::now();
    let killed_at = time::OffsetDateTime::now_utc();
    stack.kill(Tier::App);
    let last_primary_call = watch(&web, before, killed, AFTER).await;
    let sent = load.sent() - sent_before;
    let failed = load.failed() - failed_before;
    let logs = load.stop().await;
    let log = view::plain(&stack.log_of(Tier::Web)[log_start..]);
    let retried = log
        .lines()
        .filter(|line| line.contains("retrying a call on the other path"))
        .count();
    let marked_down = log
        .lines()
        .find(|line| line.contains("upstream out of use") && line.contains("upstream=\"app\""))
        .and_then(logged_at)
        .map(|at| at - killed_at);

    println!("failover benchmark: one kill of app under load ({browsers} browsers)");
    println!("  requests sent in the {AFTER:?} from the kill: {sent}");
    println!("  calls retried on the gateway:         {retried}");
    println!("  requests failed:                      {failed}");
    match marked_down {
        Some(after) => {
            let ms = after.whole_microseconds() as f64 / 1000.0;
            println!("  app out of use (web's log) after:     {ms:.1} ms");
        }
        None => println!("  app out of use (web's log) after:     not logged"),
    }
    let ms = last_primary_call.as_secs_f64() * 1000.0;
    println!("  gateway carried all traffic after:    at most {ms:.1} ms");
    for failure in logs.iter().flat_map(|log| &log.failures) {
        println!("  failure: {failure}");
    }
}

/// Reads web's health view every 10 ms for `length` after the kill, and gives the time
/// of the last view that showed a new call on `app` or `crud` (every call after it went
/// to the gateway). The kill and `before` are a moment apart, so this errs long.
async fn watch(web: &str, before: view::View, killed: Instant, length: Duration) -> Duration {
    let mut previous = before;
    let mut last_primary_call = Duration::ZERO;
    while killed.elapsed() < length {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = view::view(web).await;
        if now.since(&previous).primaries() > 0 {
            last_primary_call = now.at - killed;
        }
        previous = now;
    }
    last_primary_call
}

/// The timestamp at the start of a log line (RFC 3339, UTC).
fn logged_at(line: &str) -> Option<time::OffsetDateTime> {
    let stamp = line.split_whitespace().next()?;
    time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339).ok()
}
