//! Failover under chaos: the real tier binaries as separate processes, a steady mixed load
//! through `web`, and tiers killed, frozen, stopped and brought back underneath it.
//! Checked from outside: every answer the load got, the stored matches, and web's health
//! view (`/health/upstreams`: who is up, switches, calls per upstream and side).

mod support;

#[path = "failover/load.rs"]
mod load;
#[path = "failover/view.rs"]
mod view;

use std::time::{Duration, Instant};

use load::{Load, PlayerLog};
use support::{Stack, Tier};
use view::{back_on_primaries, wait_for, window};

/// How long traffic may take to come back to a primary once it answers again.
const RETURN_LIMIT: Duration = Duration::from_secs(5);

/// Settings for the chaos stack: a short call timeout so a frozen tier costs a request
/// about a second, and the health decisions logged.
const CHAOS_ENV: &[(&str, &str)] = &[
    ("MATCHLOG_UPSTREAM_TIMEOUT_MS", "1000"),
    ("RUST_LOG", "warn,shared::upstream=info"),
    // Every simulated browser signs in from 127.0.0.1, often: lift the guessing brakes.
    ("MATCHLOG_SIGNIN_ACCOUNT_BURST", "1000"),
    ("MATCHLOG_SIGNIN_CLIENT_BURST", "1000"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_steady_load_kills_and_a_freeze_lose_no_request_and_traffic_comes_back() {
    let mut stack = Stack::start_with(CHAOS_ENV).await;
    let web = stack.web_url.clone();
    let load = Load::start(&stack, 4, Duration::from_millis(20)).await;
    back_on_primaries(&web, Instant::now(), RETURN_LIMIT).await;

    app_killed_moves_everything_to_the_gateway(&mut stack).await;
    crud_killed_moves_only_results(&mut stack).await;
    both_killed_and_crud_back_first_keeps_everything_on_the_gateway(&mut stack).await;
    app_frozen_moves_everything_to_the_gateway(&mut stack).await;

    let sent = load.sent();
    let logs = load.stop().await;
    assert_no_failures(&logs, sent);
    assert_every_match_stored_once(&stack, &logs).await;
}

async fn app_killed_moves_everything_to_the_gateway(stack: &mut Stack) {
    let web = stack.web_url.clone();
    stack.kill(Tier::App);
    wait_for(&web, "app marked down", Duration::from_secs(3), |v| {
        !v.app.up
    })
    .await;
    let (_, traffic) = window(&web, Duration::from_secs(1)).await;
    assert_eq!(
        traffic.primaries(),
        0,
        "app down: nothing on app or crud: {traffic:?}"
    );
    assert!(
        traffic.gateway_accounts > 0 && traffic.gateway_results > 0,
        "{traffic:?}"
    );

    stack.start_tier(Tier::App).await;
    let back = back_on_primaries(&web, Instant::now(), RETURN_LIMIT).await;
    eprintln!("app killed: traffic back on the primaries {back:?} after app returned");
}

async fn crud_killed_moves_only_results(stack: &mut Stack) {
    let web = stack.web_url.clone();
    stack.kill(Tier::Crud);
    wait_for(&web, "crud marked down", Duration::from_secs(3), |v| {
        !v.crud.up
    })
    .await;
    let (view, traffic) = window(&web, Duration::from_secs(1)).await;
    assert!(view.app.up, "app stays in use while only crud is down");
    assert!(
        traffic.app_accounts > 0,
        "account calls stay on app: {traffic:?}"
    );
    assert_eq!(
        traffic.gateway_accounts, 0,
        "no account call on the gateway: {traffic:?}"
    );
    assert_eq!(
        traffic.crud_results, 0,
        "nothing on the dead crud: {traffic:?}"
    );
    assert!(
        traffic.gateway_results > 0,
        "results on the gateway: {traffic:?}"
    );

    stack.start_tier(Tier::Crud).await;
    let back = back_on_primaries(&web, Instant::now(), RETURN_LIMIT).await;
    eprintln!("crud killed: traffic back on the primaries {back:?} after crud returned");
}

async fn both_killed_and_crud_back_first_keeps_everything_on_the_gateway(stack: &mut Stack) {
    let web = stack.web_url.clone();
    stack.kill(Tier::App);
    stack.kill(Tier::Crud);
    wait_for(
        &web,
        "app and crud marked down",
        Duration::from_secs(3),
        |v| !v.app.up && !v.crud.up,
    )
    .await;
    let (_, traffic) = window(&web, Duration::from_secs(1)).await;
    assert_eq!(traffic.primaries(), 0, "both down: {traffic:?}");
    assert!(
        traffic.gateway_accounts > 0 && traffic.gateway_results > 0,
        "{traffic:?}"
    );

    // crud alone back: sessions are still resolved on the gateway, so results stay there.
    stack.start_tier(Tier::Crud).await;
    wait_for(&web, "crud back in the view", RETURN_LIMIT, |v| v.crud.up).await;
    let (view, traffic) = window(&web, Duration::from_secs(1)).await;
    assert!(!view.app.up);
    assert_eq!(
        traffic.primaries(),
        0,
        "app still down: everything on the gateway: {traffic:?}"
    );

    stack.start_tier(Tier::App).await;
    let back = back_on_primaries(&web, Instant::now(), RETURN_LIMIT).await;
    eprintln!("both killed: traffic back on the primaries {back:?} after app returned");
}

async fn app_frozen_moves_everything_to_the_gateway(stack: &mut Stack) {
    let web = stack.web_url.clone();
    stack.signal(Tier::App, "STOP");
    wait_for(
        &web,
        "frozen app marked down",
        Duration::from_secs(3),
        |v| !v.app.up,
    )
    .await;
    let (_, traffic) = window(&web, Duration::from_secs(1)).await;
    assert_eq!(traffic.primaries(), 0, "app frozen: {traffic:?}");
    assert!(traffic.gateway() > 0, "{traffic:?}");

    stack.signal(Tier::App, "CONT");
    let back = back_on_primaries(&web, Instant::now(), RETURN_LIMIT).await;
    eprintln!("app frozen: traffic back on the primaries {back:?} after app thawed");
}

fn assert_no_failures(logs: &[PlayerLog], sent: u64) {
    let failures: Vec<&String> = logs.iter().flat_map(|log| &log.failures).collect();
    for log in logs {
        eprintln!("{}: slowest step {:?}", log.name, log.slowest);
    }
    eprintln!("load: {sent} requests sent, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "requests failed under chaos:\n{failures:#?}"
    );
    assert!(sent > 200, "the load was steady: {sent} requests");
}

/// Every match web said it saved is stored exactly once, and no other match is stored.
async fn assert_every_match_stored_once(stack: &Stack, logs: &[PlayerLog]) {
    for log in logs {
        let stored = load::stored_matches(stack, &stack.gateway_url, log).await;
        for marker in &log.created {
            assert_eq!(stored.count(marker), 1, "{}: match {marker}", log.name);
        }
        let mut ids = stored.ids.clone();
        ids.sort();
        ids.dedup();
        assert_eq!(
            ids.len(),
            stored.ids.len(),
            "{}: an id listed twice",
            log.name
        );
        assert_eq!(
            stored.ids.len(),
            log.created.len() + 1,
            "{}: the matches created under load and the one edited",
            log.name
        );
        if let Some(kills) = &log.last_kills {
            assert_eq!(
                stored.edited_kills.as_deref(),
                Some(kills.as_str()),
                "{}",
                log.name
            );
        }
    }
}
