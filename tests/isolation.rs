//! Nobody sees anyone else's results, and no tier trusts a caller without a credential
//! from `web`: the real binaries as separate processes.

mod support;

use reqwest::StatusCode;
use shared::tokens::{KeyRing, mint_credential, unix_now};
use support::{Browser, Stack, pairs, valid_match};

const PASSWORD: &str = "correct horse battery";

/// Ann records one Apex match; returns her browser and the match id.
async fn ann_with_a_match(stack: &Stack) -> (Browser, String) {
    let ann = stack.browser();
    ann.sign_up("ann", PASSWORD)
        .await
        .assert_redirect_to("/games");
    ann.record("apex", &pairs(&valid_match("apex")))
        .await
        .assert_redirect_to("/games/apex");
    let id = ann.match_ids("apex").await.remove(0);
    (ann, id)
}

async fn bob(stack: &Stack) -> Browser {
    let bob = stack.browser();
    bob.sign_up("bob", PASSWORD)
        .await
        .assert_redirect_to("/games");
    bob
}

#[tokio::test]
async fn another_user_cannot_list_open_edit_or_delete_a_match() {
    let stack = Stack::start().await;
    let (ann, id) = ann_with_a_match(&stack).await;
    let bob = bob(&stack).await;

    let listing = bob.get("/games/apex").await;
    assert_eq!(listing.status, StatusCode::OK);
    assert!(!listing.body.contains(&id), "Bob's table shows Ann's match");

    let edit_form = bob.get(&format!("/games/apex/{id}/edit")).await;
    assert_eq!(edit_form.status, StatusCode::NOT_FOUND);
    let delete_form = bob.get(&format!("/games/apex/{id}/delete")).await;
    assert_eq!(delete_form.status, StatusCode::NOT_FOUND);

    let mut changed = valid_match("apex");
    changed
        .iter_mut()
        .filter(|(k, _)| *k == "kills")
        .for_each(|(_, v)| *v = "59".into());
    let update = bob
        .submit(
            "/games/apex/new",
            &format!("/games/apex/{id}"),
            &pairs(&changed),
        )
        .await;
    assert_eq!(update.status, StatusCode::NOT_FOUND, "{}", update.body);
    let delete = bob
        .submit("/games/apex/new", &format!("/games/apex/{id}/delete"), &[])
        .await;
    assert_eq!(delete.status, StatusCode::NOT_FOUND, "{}", delete.body);

    let ann_edit = ann.get(&format!("/games/apex/{id}/edit")).await;
    assert_eq!(ann_edit.status, StatusCode::OK);
    assert!(
        ann_edit.body.contains("value=\"7\""),
        "Ann's match is unchanged"
    );
    assert_eq!(ann.match_ids("apex").await, vec![id]);
}

#[tokio::test]
async fn crud_gives_a_user_only_their_own_matches_even_with_a_valid_credential() {
    let stack = Stack::start().await;
    let (_ann, id) = ann_with_a_match(&stack).await;
    let keys = keys_of(&stack);
    let stranger = mint_credential(&keys, Some(uuid::Uuid::new_v4()), unix_now());
    let client = reqwest::Client::new();
    let url = format!("{}/v1/games/apex/matches/{id}", stack.crud_url);
    let get = client
        .get(&url)
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::NOT_FOUND);
    let delete = client
        .delete(&url)
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::NOT_FOUND);
    let list = client
        .get(format!("{}/v1/games/apex/matches", stack.crud_url))
        .bearer_auth(&stranger)
        .send()
        .await;
    let list: serde_json::Value = list.unwrap().json().await.unwrap();
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn a_hand_made_or_altered_cookie_is_signed_out() {
    let stack = Stack::start().await;
    let (ann, _id) = ann_with_a_match(&stack).await;
    let real = ann.get("/games").await;
    assert_eq!(real.status, StatusCode::OK);

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for cookie in [
        "matchlog_session=ann",
        "matchlog_session=",
        "matchlog_session=abc.def",
        "user=ann",
    ] {
        let response = client
            .get(format!("{}/games", stack.web_url))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_redirection(),
            "{cookie}: {}",
            response.status()
        );
        let location = response.headers()["location"].to_str().unwrap();
        assert!(
            location.starts_with('/') && !location.starts_with("/games"),
            "{cookie} went to {location}"
        );
    }
}

#[tokio::test]
async fn direct_calls_to_app_and_crud_without_a_valid_credential_get_401() {
    let stack = Stack::start().await;
    let client = reqwest::Client::new();
    let other_keys = KeyRing::generate();
    let forged = mint_credential(&other_keys, Some(uuid::Uuid::new_v4()), unix_now());
    let expired = mint_credential(
        &keys_of(&stack),
        Some(uuid::Uuid::new_v4()),
        unix_now() - 3600,
    );
    let mut altered = mint_credential(&keys_of(&stack), None, unix_now());
    altered.insert(
        2,
        if altered.as_bytes()[2] == b'A' {
            'B'
        } else {
            'A'
        },
    );
    let id = uuid::Uuid::new_v4();
    let calls: Vec<(reqwest::Method, String)> = vec![
        (
            reqwest::Method::POST,
            format!("{}/v1/accounts", stack.app_url),
        ),
        (
            reqwest::Method::POST,
            format!("{}/v1/sessions", stack.app_url),
        ),
        (
            reqwest::Method::GET,
            format!("{}/v1/sessions/current", stack.app_url),
        ),
        (
            reqwest::Method::DELETE,
            format!("{}/v1/sessions/current", stack.app_url),
        ),
        (
            reqwest::Method::GET,
            format!("{}/v1/games/apex/matches", stack.crud_url),
        ),
        (
            reqwest::Method::POST,
            format!("{}/v1/games/apex/matches", stack.crud_url),
        ),
        (
            reqwest::Method::GET,
            format!("{}/v1/games/apex/matches/{id}", stack.crud_url),
        ),
        (
            reqwest::Method::PUT,
            format!("{}/v1/games/apex/matches/{id}", stack.crud_url),
        ),
        (
            reqwest::Method::DELETE,
            format!("{}/v1/games/apex/matches/{id}", stack.crud_url),
        ),
        (
            reqwest::Method::DELETE,
            format!("{}/v1/matches", stack.crud_url),
        ),
    ];
    for (method, url) in calls {
        for credential in [None, Some(&forged), Some(&expired), Some(&altered)] {
            let mut request = client
                .request(method.clone(), &url)
                .json(&serde_json::json!({}));
            if let Some(token) = credential {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {url} with {credential:?}"
            );
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthenticated");
        }
    }
}

fn keys_of(stack: &Stack) -> KeyRing {
    let key = shared::tokens::Key::from_bytes(stack.internal_key.clone()).expect("a 32-byte key");
    KeyRing::new(key, None)
}
