//! Signing in, creating an account and signing out.
//!
//! The signed-out forms carry a CSRF token that must equal the `matchlog_csrf` cookie set
//! when the form was shown (a double-submit check); sign-out, shown within a session,
//! carries the session's own token.

use axum::extract::State;
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shared::api::{ApiError, Credentials};
use shared::client::{CallContext, CallError};
use shared::http::RequestId;
use shared::tokens;

use crate::WebState;
use crate::client_addr::ClientAddr;
use crate::error::WebError;
use crate::extract::{Form, QueryPairs};
use crate::session::{self, CookieState, read_csrf_cookie, read_session_cookie};
use crate::urls::local_next;
use crate::views::{Chrome, SignInView, SignUpView, html};

const WRONG_CREDENTIALS: &str = "Wrong user name or password.";

#[derive(Deserialize)]
pub struct AccountForm {
    user_name: String,
    user_pass: String,
    /// Missing is a refusal like a wrong one, not an unreadable form.
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `GET /`: the sign-in form, or the games page for a live session.
pub async fn show_sign_in(
    State(state): State<WebState>,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    query: QueryPairs,
) -> Result<Response, WebError> {
    let mut cookies = Vec::new();
    match read_session_cookie(&headers, &state.session_keys) {
        CookieState::Missing => {}
        CookieState::Invalid => cookies.push(session::clear_session_cookie()),
        CookieState::Token(token) => {
            let context = CallContext {
                request_id: &request_id,
                user: None,
            };
            match state.app.session(context, &token).await {
                Ok(_) => return Ok(see_other("/games", Vec::new())),
                Err(err) if is_status(&err, StatusCode::UNAUTHORIZED) => {
                    cookies.push(session::clear_session_cookie());
                }
                Err(err) => return Err(err.into()),
            }
        }
    }
    let csrf = signed_out_csrf(&state, &headers, &mut cookies);
    let view = SignInView {
        chrome: Chrome::signed_out("Sign in"),
        csrf,
        user_name: String::new(),
        error: None,
        next: query.get("next").and_then(local_next).map(str::to_string),
    };
    Ok(page(StatusCode::OK, html(&view)?, cookies))
}

/// `POST /signin`. The client's address goes to `app`, which limits attempts per address
/// as well as per account.
pub async fn sign_in(
    State(state): State<WebState>,
    RequestId(request_id): RequestId,
    client: ClientAddr,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Result<Response, WebError> {
    let csrf = check_signed_out_csrf(&headers, &form.csrf)?;
    let context = CallContext {
        request_id: &request_id,
        user: None,
    };
    let credentials = Credentials {
        user_name: form.user_name.clone(),
        user_pass: form.user_pass,
    };
    let client = client.header_value();
    match state
        .app
        .sign_in_from(context, &credentials, client.as_deref())
        .await
    {
        Ok(new_session) => {
            let cookie =
                session::session_cookie(&state.session_keys, &new_session, state.secure_cookies);
            let target = local_next(&form.next).unwrap_or("/games");
            Ok(see_other(target, vec![cookie]))
        }
        Err(CallError::Refused { status, error, .. })
            if status == StatusCode::TOO_MANY_REQUESTS =>
        {
            Err(WebError::TooManyAttempts {
                retry_after_seconds: error.retry_after_seconds.unwrap_or(30),
            })
        }
        // Unknown name, wrong password and an unusable name all read the same (PC-08).
        Err(err)
            if err
                .refusal()
                .is_some_and(|(status, _)| status.is_client_error()) =>
        {
            let view = SignInView {
                chrome: Chrome::signed_out("Sign in"),
                csrf,
                user_name: form.user_name,
                error: Some(WRONG_CREDENTIALS),
                next: local_next(&form.next).map(str::to_string),
            };
            Ok(page(StatusCode::UNAUTHORIZED, html(&view)?, Vec::new()))
        }
        Err(err) => Err(err.into()),
    }
}

/// `GET /signup`.
pub async fn show_sign_up(
    State(state): State<WebState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let mut cookies = Vec::new();
    let csrf = signed_out_csrf(&state, &headers, &mut cookies);
    let view = SignUpView {
        chrome: Chrome::signed_out("Create an account"),
        csrf,
        user_name: String::new(),
        name_error: None,
        pass_error: None,
        form_error: None,
    };
    Ok(page(StatusCode::OK, html(&view)?, cookies))
}

/// `POST /signup`: creates the account, then signs it in.
pub async fn sign_up(
    State(state): State<WebState>,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Result<Response, WebError> {
    let csrf = check_signed_out_csrf(&headers, &form.csrf)?;
    let context = CallContext {
        request_id: &request_id,
        user: None,
    };
    let credentials = Credentials {
        user_name: form.user_name.clone(),
        user_pass: form.user_pass,
    };
    match state.app.sign_up(context, &credentials).await {
        Ok(_account) => {}
        Err(CallError::Refused { status, error, .. }) if status.is_client_error() => {
            return sign_up_refused(csrf, form.user_name, &error);
        }
        Err(err) => return Err(err.into()),
    }
    let new_session = state.app.sign_in(context, &credentials).await?;
    let cookie = session::session_cookie(&state.session_keys, &new_session, state.secure_cookies);
    Ok(see_other("/games?notice=welcome", vec![cookie]))
}

/// The sign-up form again, with `app`'s reasons at their fields.
fn sign_up_refused(
    csrf: String,
    user_name: String,
    error: &ApiError,
) -> Result<Response, WebError> {
    let mut view = SignUpView {
        chrome: Chrome::signed_out("Create an account"),
        csrf,
        user_name,
        name_error: None,
        pass_error: None,
        form_error: None,
    };
    match error.code.as_str() {
        "name_taken" => view.name_error = Some("That name is taken.".into()),
        "invalid" => {
            view.name_error = error.fields.get("user_name").cloned();
            view.pass_error = error.fields.get("user_pass").cloned();
            if view.name_error.is_none() && view.pass_error.is_none() {
                view.form_error = Some(error.message.clone());
            }
        }
        _ => view.form_error = Some(error.message.clone()),
    }
    Ok(page(
        StatusCode::UNPROCESSABLE_ENTITY,
        html(&view)?,
        Vec::new(),
    ))
}

/// `POST /signout`: ends the session in `app` and forgets the cookie.
pub async fn sign_out(
    State(state): State<WebState>,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    let cleared = vec![session::clear_session_cookie()];
    let CookieState::Token(token) = read_session_cookie(&headers, &state.session_keys) else {
        return Ok(see_other("/", cleared));
    };
    if !tokens::check_session_csrf(&state.session_keys, &token, &form.csrf) {
        return Err(WebError::Forbidden);
    }
    let context = CallContext {
        request_id: &request_id,
        user: None,
    };
    match state.app.sign_out(context, &token).await {
        Ok(()) => {}
        Err(err) if is_status(&err, StatusCode::UNAUTHORIZED) => {}
        Err(err) => return Err(err.into()),
    }
    Ok(see_other("/", cleared))
}

/// The signed-out CSRF token: the browser's cookie, or a new one set with this answer.
fn signed_out_csrf(
    state: &WebState,
    headers: &HeaderMap,
    cookies: &mut Vec<HeaderValue>,
) -> String {
    if let Some(token) = read_csrf_cookie(headers) {
        return token;
    }
    let token = tokens::random_token();
    cookies.push(session::csrf_cookie(&token, state.secure_cookies));
    token
}

/// The cookie's token when the form echoed it, else a refusal.
fn check_signed_out_csrf(headers: &HeaderMap, submitted: &str) -> Result<String, WebError> {
    match read_csrf_cookie(headers) {
        Some(cookie) if tokens::secrets_equal(&cookie, submitted) => Ok(cookie),
        _ => Err(WebError::Forbidden),
    }
}

fn is_status(err: &CallError, wanted: StatusCode) -> bool {
    err.refusal().is_some_and(|(status, _)| status == wanted)
}

fn page(status: StatusCode, body: impl IntoResponse, cookies: Vec<HeaderValue>) -> Response {
    let mut response = (status, body).into_response();
    for cookie in cookies {
        session::set_cookie(response.headers_mut(), cookie);
    }
    response
}

/// A 303 to a local path, with cookies to set.
pub fn see_other(location: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    for cookie in cookies {
        session::set_cookie(response.headers_mut(), cookie);
    }
    response
}
