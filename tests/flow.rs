//! The whole job, end to end: the three tier binaries as separate processes, driven over
//! HTTP the way a browser without JavaScript drives them.

mod support;

use futures::future::join_all;
use reqwest::StatusCode;
use sqlx::Connection as _;
use support::{Browser, Stack, pairs, valid_match};

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn a_player_records_edits_and_deletes_matches_and_finds_them_after_a_restart() {
    let mut stack = Stack::start().await;
    records_edits_and_deletes_matches_and_finds_them_after_a_restart(&mut stack).await;
}

/// The same flow with accounts on PostgreSQL and results on DynamoDB, for every tier.
#[tokio::test]
async fn the_whole_flow_runs_on_postgresql_and_dynamodb() {
    let Some(stores) = support::ProductionStores::create("flow").await else {
        return;
    };
    let mut stack = Stack::start_with(&stores.with(&[])).await;
    records_edits_and_deletes_matches_and_finds_them_after_a_restart(&mut stack).await;

    let mut database = sqlx::PgConnection::connect(&stores.database.url)
        .await
        .unwrap();
    let names: Vec<String> = sqlx::query_scalar("SELECT user_name FROM accounts")
        .fetch_all(&mut database)
        .await
        .unwrap();
    assert_eq!(names, ["Ann_Lee"], "the account is in PostgreSQL");
    for tier in ["app", "crud", "gateway"] {
        let dir = stack.root().join(tier);
        for file in ["credentials.db", "results.db"] {
            assert!(!dir.join(file).exists(), "{tier} opened a SQLite {file}");
        }
    }
}

/// Sign up, record a match of each game, edit one, delete one, sign out, restart every
/// tier, and find everything as it was left.
async fn records_edits_and_deletes_matches_and_finds_them_after_a_restart(stack: &mut Stack) {
    let browser = stack.browser();

    let home = browser.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("name=\"user_name\"") && home.body.contains("name=\"user_pass\""));

    let signed_up = browser.sign_up("Ann_Lee", PASSWORD).await;
    signed_up.assert_redirect_to("/games");
    let games = browser.follow(signed_up).await;
    assert_eq!(games.status, StatusCode::OK);
    for label in ["Apex Legends", "Fortnite", "Heroes of the Storm"] {
        assert!(games.body.contains(label), "game select lists {label}");
    }
    assert!(
        !games
            .headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().contains("Ann_Lee"))
    );

    browser.sign_out().await.assert_redirect_to("/");
    browser.get("/games").await.assert_redirect_to("/");
    browser
        .sign_in("ann_lee", PASSWORD)
        .await
        .assert_redirect_to("/games");

    for game in ["apex", "fortnite", "hots"] {
        let saved = browser.record(game, &pairs(&valid_match(game))).await;
        saved.assert_redirect_to(&format!("/games/{game}"));
        let table = browser.follow(saved).await;
        assert_eq!(table.status, StatusCode::OK, "{}", table.body);
        assert_eq!(
            support::match_ids_in(&table.body, game).len(),
            1,
            "{game} table shows the match"
        );
    }
    let apex_page = browser.get("/games/apex").await;
    assert!(apex_page.body.contains("Wraith") && apex_page.body.contains("18:05"));

    let apex_id = browser.match_ids("apex").await.remove(0);
    let mut edited = valid_match("apex");
    edited
        .iter_mut()
        .filter(|(k, _)| *k == "kills")
        .for_each(|(_, v)| *v = "13".into());
    let edit_page = format!("/games/apex/{apex_id}/edit");
    assert!(
        browser.get(&edit_page).await.body.contains("value=\"7\""),
        "the edit form shows stored values"
    );
    browser
        .submit(
            &edit_page,
            &format!("/games/apex/{apex_id}"),
            &pairs(&edited),
        )
        .await
        .assert_redirect_to("/games/apex");
    assert!(
        browser.get(&edit_page).await.body.contains("value=\"13\""),
        "the edit is stored"
    );

    let fortnite_id = browser.match_ids("fortnite").await.remove(0);
    let delete = format!("/games/fortnite/{fortnite_id}/delete");
    browser
        .submit(&delete, &delete, &[])
        .await
        .assert_redirect_to("/games/fortnite");
    assert!(browser.match_ids("fortnite").await.is_empty());

    browser.sign_out().await.assert_redirect_to("/");
    stack.restart().await;

    let again = stack.browser();
    again
        .sign_in("Ann_Lee", PASSWORD)
        .await
        .assert_redirect_to("/games");
    assert_eq!(again.match_ids("apex").await, vec![apex_id.clone()]);
    assert_eq!(again.match_ids("hots").await.len(), 1);
    assert!(again.match_ids("fortnite").await.is_empty());
    assert!(
        again
            .get(&format!("/games/apex/{apex_id}/edit"))
            .await
            .body
            .contains("value=\"13\"")
    );
}

#[tokio::test]
async fn bad_match_input_comes_back_at_the_field_with_values_kept_and_nothing_stored() {
    let stack = Stack::start().await;
    let browser = stack.browser();
    browser
        .sign_up("bad_input", PASSWORD)
        .await
        .assert_redirect_to("/games");
    let long_name = "x".repeat(300);
    let cases: [(&str, &str, &str, &str); 7] = [
        ("apex", "kills", "-1", "Kills must be between 0 and 60."),
        (
            "apex",
            "placement",
            "25",
            "Placement must be between 1 and 20 in trios.",
        ),
        (
            "hots",
            "hero",
            "Master Chief",
            "Choose a hero from the list.",
        ),
        (
            "fortnite",
            "date",
            "2999-01-01",
            "Date cannot be in the future.",
        ),
        ("hots", "map", "", "Map is required."),
        (
            "fortnite",
            "kills",
            "lots",
            "Eliminations must be a whole number.",
        ),
        (
            "apex",
            "teammates",
            &long_name,
            "is longer than 32 characters.",
        ),
    ];
    for (game, field, value, message) in cases {
        let mut values = valid_match(game);
        values
            .iter_mut()
            .filter(|(k, _)| *k == field)
            .for_each(|(_, v)| *v = value.to_string());
        let page = browser.record(game, &pairs(&values)).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{game}.{field}={value}:\n{}",
            page.body
        );
        assert!(
            page.body.contains(message),
            "{game}.{field}: message {message:?} missing:\n{}",
            page.body
        );
        if !value.is_empty() && !value.contains('x') {
            let kept = format!("value=\"{value}\"");
            assert!(
                page.body.contains(&kept),
                "{game}.{field}: the typed value is kept"
            );
        }
        assert!(
            page.body.contains("name=\"csrf\""),
            "the form can be sent again"
        );
    }
    let missing_field = browser
        .submit(
            "/games/apex/new",
            "/games/apex",
            &[("date", &support::today())],
        )
        .await;
    assert_eq!(missing_field.status, StatusCode::UNPROCESSABLE_ENTITY);
    for game in ["apex", "fortnite", "hots"] {
        assert!(
            browser.match_ids(game).await.is_empty(),
            "nothing stored for {game}"
        );
    }
}

/// PC-09: look-alike names share one canonical form; your own name in another case signs
/// you in.
#[tokio::test]
async fn look_alike_names_are_taken_and_case_does_not_matter_at_sign_in() {
    let stack = Stack::start().await;
    stack
        .browser()
        .sign_up("Alice", PASSWORD)
        .await
        .assert_redirect_to("/games");
    for variant in ["alice", "ALICE"] {
        let page = stack.browser().sign_up(variant, PASSWORD).await;
        assert!(
            page.body.contains("That name is taken."),
            "{variant}: {}",
            page.body
        );
    }
    stack
        .browser()
        .sign_up("\u{00C5}sa", PASSWORD)
        .await
        .assert_redirect_to("/games");
    let decomposed = stack.browser().sign_up("A\u{030A}sa", PASSWORD).await;
    assert!(decomposed.body.contains("That name is taken."));
    stack
        .browser()
        .sign_in("aLiCe", PASSWORD)
        .await
        .assert_redirect_to("/games");
    stack
        .browser()
        .sign_in("A\u{030A}SA", PASSWORD)
        .await
        .assert_redirect_to("/games");
}

/// PC-10: ten sign-ups race for one name; the database's unique index decides.
#[tokio::test]
async fn racing_sign_ups_give_one_account_and_nine_name_taken_answers() {
    let stack = Stack::start().await;
    let browsers: Vec<Browser> = (0..10).map(|_| stack.browser()).collect();
    let forms: Vec<_> = join_all(browsers.iter().map(|b| b.get("/signup"))).await;
    let attempts = browsers
        .iter()
        .zip(&forms)
        .enumerate()
        .map(|(i, (browser, form))| {
            let csrf = form.csrf();
            async move {
                let password = format!("password-number-{i}");
                browser
                    .post(
                        "/signup",
                        &[
                            ("user_name", "racer"),
                            ("user_pass", &password),
                            ("csrf", &csrf),
                        ],
                    )
                    .await
            }
        });
    let pages = join_all(attempts).await;
    let won: Vec<usize> = (0..10)
        .filter(|i| pages[*i].status.is_redirection())
        .collect();
    assert_eq!(won.len(), 1, "exactly one sign-up succeeds");
    for (i, page) in pages.iter().enumerate().filter(|(i, _)| *i != won[0]) {
        assert!(
            page.status.is_client_error(),
            "attempt {i}: {}",
            page.status
        );
        assert!(
            page.body.contains("That name is taken."),
            "attempt {i}:\n{}",
            page.body
        );
    }
    let winner_password = format!("password-number-{}", won[0]);
    stack
        .browser()
        .sign_in("racer", &winner_password)
        .await
        .assert_redirect_to("/games");
    let loser_password = format!("password-number-{}", (won[0] + 1) % 10);
    assert!(
        !stack
            .browser()
            .sign_in("racer", &loser_password)
            .await
            .status
            .is_redirection()
    );
}

/// PC-20: the embedded default under concurrent sign-ups, result writes and reads.
#[tokio::test]
async fn sqlite_takes_concurrent_sign_ups_writes_and_reads_without_errors() {
    let stack = Stack::start().await;
    let players: Vec<Browser> = (0..20).map(|_| stack.browser()).collect();
    let sign_ups = players
        .iter()
        .enumerate()
        .map(|(i, browser)| async move { browser.sign_up(&format!("player{i}"), PASSWORD).await });
    for page in join_all(sign_ups).await {
        page.assert_redirect_to("/games");
    }
    let work = players.iter().enumerate().map(|(i, browser)| async move {
        let game = ["apex", "fortnite", "hots"][i % 3];
        let saved = browser.record(game, &pairs(&valid_match(game))).await;
        let listed = browser.get(&format!("/games/{game}")).await;
        (saved.status, listed.status)
    });
    for (saved, listed) in join_all(work).await {
        assert_eq!(saved, StatusCode::SEE_OTHER);
        assert_eq!(listed, StatusCode::OK);
    }
    for tier in support::Tier::ALL {
        assert!(
            !stack.log_of(tier).contains("database is locked"),
            "{tier:?} log mentions a locked database"
        );
    }
}

/// PC-14: rejections read as plain words, with no Rust or parser text.
#[tokio::test]
async fn rejections_carry_no_internal_text() {
    let stack = Stack::start().await;
    let browser = stack.browser();
    let form = browser.get("/").await;
    let csrf = form.csrf();
    let missing_password = browser
        .post("/signin", &[("user_name", "ann"), ("csrf", &csrf)])
        .await;
    let extra_field = browser
        .post(
            "/signin",
            &[
                ("user_name", "ann"),
                ("user_pass", "x"),
                ("csrf", &csrf),
                ("admin", "1"),
            ],
        )
        .await;
    browser.sign_up("pc14_user", PASSWORD).await;
    let bad_page = browser.get("/games/apex?page=abc").await;
    let plain_text = reqwest::Client::new()
        .post(format!("{}/signin", stack.web_url))
        .header("content-type", "text/plain")
        .body("user_name=ann")
        .send()
        .await
        .unwrap();
    let plain_status = plain_text.status();
    let plain_body = plain_text.text().await.unwrap();
    let json_wrong_type = reqwest::Client::new()
        .post(format!("{}/v1/accounts", stack.app_url))
        .json(&serde_json::json!({"user_name": 5, "user_pass": true}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let bodies = [
        missing_password.body.as_str(),
        extra_field.body.as_str(),
        bad_page.body.as_str(),
        plain_body.as_str(),
        json_wrong_type.as_str(),
    ];
    for body in bodies {
        for internal in [
            "serde",
            "axum::",
            "Failed to deserialize",
            "invalid type",
            "std::",
            "sqlx",
            "panicked",
        ] {
            assert!(!body.contains(internal), "{internal:?} leaked:\n{body}");
        }
    }
    assert!(plain_status.is_client_error());
    assert!(missing_password.status.is_client_error());
    assert!(bad_page.status.is_client_error() || bad_page.status == StatusCode::OK);
}
