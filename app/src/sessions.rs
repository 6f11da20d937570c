//! Sessions: sign-in (`POST /v1/sessions`), who holds a session
//! (`GET /v1/sessions/current`) and sign-out (`DELETE /v1/sessions/current`).
//!
//! The token goes to `web` once, at sign-in; the store keeps only its digest. The
//! lifetime (24 hours unless `MATCHLOG_SESSION_TTL_SECONDS` says otherwise) is enforced
//! here, whatever the cookie says. Sign-in attempts are limited (see `limits`).

use accounts_store::AccountRecord;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use shared::api::{Credentials, NewSession, SESSION_HEADER, SessionInfo};
use shared::auth::Caller;
use shared::tokens::{random_token, token_digest, unix_now};
use shared::username::{Password, Username};

use crate::error::AppError;
use crate::json::JsonBody;
use crate::limits::forwarded_client;
use crate::state::AppState;

/// How long a session lives, counted from sign-in, unless configured otherwise.
pub const SESSION_TTL_SECONDS: i64 = 24 * 60 * 60;

/// Longer than any token we issue; longer values are not looked up at all.
const MAX_TOKEN_CHARS: usize = 128;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/sessions", post(sign_in)).route(
        "/v1/sessions/current",
        axum::routing::get(current_session).delete(sign_out),
    )
}

/// Limited per client address and per account before any hash is checked; an unknown
/// name spends attempts exactly like a known one.
async fn sign_in(
    State(state): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
    JsonBody(credentials): JsonBody<Credentials>,
) -> Result<(StatusCode, Json<NewSession>), AppError> {
    state.limits.check_client(forwarded_client(&headers))?;
    if let Ok(name) = Username::parse(&credentials.user_name) {
        state.limits.check_account(name.canonical())?;
    }
    let account = find_account(&state, &credentials.user_name).await?;
    let stored_hash = account.as_ref().map(|a| a.password_hash.clone());
    let offered = Password::offered(&credentials.user_pass);
    // Checked against a real hash even for an unknown name, so both take as long.
    let verified = state.hasher.verify(offered, stored_hash).await?;
    let account = account
        .filter(|_| verified)
        .ok_or(AppError::BadCredentials)?;
    let session = open_session(&state, account).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// The account for a name typed at sign-in, compared in canonical form; a name that could
/// never have been registered finds none.
async fn find_account(state: &AppState, typed: &str) -> Result<Option<AccountRecord>, AppError> {
    let Ok(name) = Username::parse(typed) else {
        return Ok(None);
    };
    Ok(state.store.find_account(name.canonical()).await?)
}

async fn open_session(state: &AppState, account: AccountRecord) -> Result<NewSession, AppError> {
    let token = random_token();
    let expires_at = unix_now() + state.session_ttl_seconds;
    state
        .store
        .create_session(&token_digest(&token), account.id, expires_at)
        .await?;
    tracing::info!(user.id = %account.id, "signed in");
    Ok(NewSession {
        token,
        user_id: account.id,
        user_name: account.user_name,
        expires_at,
    })
}

async fn current_session(
    State(state): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
) -> Result<Json<SessionInfo>, AppError> {
    let token = session_token(&headers).ok_or(AppError::NoSession)?;
    let owner = state
        .store
        .resolve_session(&token_digest(token), unix_now())
        .await?
        .ok_or(AppError::NoSession)?;
    Ok(Json(SessionInfo {
        user_id: owner.user_id,
        user_name: owner.user_name,
        expires_at: owner.expires_at,
    }))
}

/// Ends the session everywhere at once; a session already gone is signed out all the same.
async fn sign_out(
    State(state): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    if let Some(token) = session_token(&headers) {
        state.store.delete_session(&token_digest(token)).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(SESSION_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|token| !token.is_empty() && token.len() <= MAX_TOKEN_CHARS)
}
