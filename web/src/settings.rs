//! The account page: change the password, or delete the account with all its matches.
//!
//! Both forms ask for the password again and carry the session's CSRF token; `app` does
//! the work (and removes the matches through `crud` before the account).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shared::api::{AccountDeletion, PasswordChange};
use shared::client::CallError;

use crate::WebState;
use crate::account::see_other;
use crate::client_addr::ClientAddr;
use crate::error::WebError;
use crate::extract::{Form, QueryPairs};
use crate::session::{self, SessionCookie, SignedIn};
use crate::views::{Chrome, html};

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountView {
    pub chrome: Chrome,
    pub notice: Option<&'static str>,
    pub password: PasswordForm,
    pub delete_error: Option<String>,
}

/// What the password form shows next to its fields.
#[derive(Default)]
pub struct PasswordForm {
    pub current_error: Option<String>,
    pub new_error: Option<String>,
    pub form_error: Option<String>,
}

#[derive(Deserialize)]
pub struct PasswordFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

#[derive(Deserialize)]
pub struct DeleteFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

const WRONG_PASSWORD: &str = "That is not your current password.";

/// `GET /account`.
pub async fn show_account(user: SignedIn, query: QueryPairs) -> Result<Response, WebError> {
    let notice = match query.get("notice") {
        Some("password") => Some("Your password is changed. Every other session is signed out."),
        _ => None,
    };
    let view = AccountView {
        chrome: Chrome::signed_in(&user, "Your account", None),
        notice,
        password: PasswordForm::default(),
        delete_error: None,
    };
    Ok(html(&view)?.into_response())
}

/// `POST /account/password`: this session stays signed in, every other one ends.
pub async fn change_password(
    State(state): State<WebState>,
    cookie: SessionCookie,
    client: ClientAddr,
    Form(form): Form<PasswordFields>,
) -> Result<Response, WebError> {
    let user = state.authorize(cookie, &form.csrf).await?;
    let change = PasswordChange {
        current_password: form.current_password,
        new_password: form.new_password,
    };
    let client = client.header_value();
    let outcome = state
        .app
        .change_password(user.context(), &user.token, &change, client.as_deref())
        .await;
    let mut password = PasswordForm::default();
    match outcome {
        Ok(()) => return Ok(see_other("/account?notice=password", Vec::new())),
        Err(err) => match refusal_code(&err) {
            Some("bad_credentials") => password.current_error = Some(WRONG_PASSWORD.into()),
            Some("invalid") => {
                password.new_error = field_message(&err, "new_password");
                if password.new_error.is_none() {
                    password.form_error = Some("Some values are not valid.".into());
                }
            }
            _ => return Err(refused(err)),
        },
    }
    let view = AccountView {
        chrome: Chrome::signed_in(&user, "Your account", None),
        notice: None,
        password,
        delete_error: None,
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&view)?).into_response())
}

/// `POST /account/delete`: on success the browser is signed out and back at the start.
pub async fn delete_account(
    State(state): State<WebState>,
    cookie: SessionCookie,
    client: ClientAddr,
    Form(form): Form<DeleteFields>,
) -> Result<Response, WebError> {
    let user = state.authorize(cookie, &form.csrf).await?;
    let deletion = AccountDeletion {
        password: form.password,
    };
    let client = client.header_value();
    let outcome = state
        .app
        .delete_account(user.context(), &user.token, &deletion, client.as_deref())
        .await;
    let (status, message) = match outcome {
        Ok(()) => {
            tracing::info!(user.id = %user.user_id, "account deleted");
            return Ok(see_other("/", vec![session::clear_session_cookie()]));
        }
        Err(err) if refusal_code(&err) == Some("bad_credentials") => {
            (StatusCode::UNPROCESSABLE_ENTITY, WRONG_PASSWORD.to_string())
        }
        // `app` keeps the account when the matches cannot be removed yet.
        Err(CallError::Unavailable { .. }) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Your account was not deleted: your matches could not be removed just now. \
             Nothing is lost; try again in a minute."
                .to_string(),
        ),
        Err(err) => return Err(refused(err)),
    };
    let view = AccountView {
        chrome: Chrome::signed_in(&user, "Your account", None),
        notice: None,
        password: PasswordForm::default(),
        delete_error: Some(message),
    };
    Ok((status, html(&view)?).into_response())
}

fn refusal_code(err: &CallError) -> Option<&str> {
    err.refusal().map(|(_, error)| error.code.as_str())
}

fn field_message(err: &CallError, field: &str) -> Option<String> {
    err.refusal()
        .and_then(|(_, error)| error.fields.get(field).cloned())
}

/// Any other refusal: a session that ended meanwhile signs the browser out, too many
/// attempts shows the wait, the rest is our error page.
fn refused(err: CallError) -> WebError {
    match err.refusal() {
        Some((StatusCode::UNAUTHORIZED, _)) => WebError::SignInRequired {
            next: None,
            clear_cookie: true,
        },
        Some((StatusCode::TOO_MANY_REQUESTS, error)) => WebError::TooManyAttempts {
            retry_after_seconds: error.retry_after_seconds.unwrap_or(30),
        },
        _ => err.into(),
    }
}
