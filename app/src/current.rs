//! The signed-in account itself: `PUT /v1/accounts/current/password` changes the password
//! and `DELETE /v1/accounts/current` deletes the account with all its matches.
//!
//! Both act on the account of the session in `x-matchlog-session` and ask for the
//! password again, so a session left open on a shared computer is not enough. Password
//! attempts here spend the same per-account and per-client budget as sign-ins.

use std::collections::BTreeMap;

use accounts_store::{AccountRecord, SessionOwner};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, put};
use shared::api::{AccountDeletion, PasswordChange};
use shared::auth::Caller;
use shared::client::{CallContext, CallError};
use shared::http::RequestId;
use shared::tokens::{token_digest, unix_now};
use shared::username::{Password, canonical_form};

use crate::error::AppError;
use crate::json::JsonBody;
use crate::limits::forwarded_client;
use crate::sessions::session_token;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/accounts/current/password", put(change_password))
        .route("/v1/accounts/current", delete(delete_account))
}

/// Stores the new password and ends every other session of the account; the session
/// that asked stays signed in.
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(change): JsonBody<PasswordChange>,
) -> Result<StatusCode, AppError> {
    let (token, owner) = session_owner(&state, caller, &headers).await?;
    let new_password = Password::parse_new(&change.new_password).map_err(|err| {
        AppError::Invalid(BTreeMap::from([("new_password".into(), err.to_string())]))
    })?;
    let account = confirm_password(&state, &headers, &owner, change.current_password).await?;
    let hash = state.hasher.hash(new_password).await?;
    let found = state
        .store
        .set_password(account.id, &hash, &token_digest(&token))
        .await?;
    if !found {
        return Err(AppError::NoSession);
    }
    tracing::info!(user.id = %account.id, "password changed; other sessions ended");
    Ok(StatusCode::NO_CONTENT)
}

/// Removes the account's matches through `crud` first, then the account and its
/// sessions: if `crud` cannot be reached the account stays usable, and asking again
/// finishes the job (removing matches twice is harmless).
async fn delete_account(
    State(state): State<AppState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    JsonBody(deletion): JsonBody<AccountDeletion>,
) -> Result<StatusCode, AppError> {
    let (_token, owner) = session_owner(&state, caller, &headers).await?;
    let account = confirm_password(&state, &headers, &owner, deletion.password).await?;
    let crud = state.crud.as_ref().ok_or_else(|| {
        AppError::Results(CallError::Unavailable {
            tier: "crud",
            detail: "no results tier is configured in this process".into(),
        })
    })?;
    let context = CallContext {
        request_id: &request_id,
        user: Some(account.id),
    };
    crud.delete_all(context).await.map_err(AppError::Results)?;
    state.store.delete_account(account.id).await?;
    tracing::info!(user.id = %account.id, "account deleted with its matches and sessions");
    Ok(StatusCode::NO_CONTENT)
}

/// The live session named by the header, and its owner. A credential that acts for a
/// user must act for this one.
async fn session_owner(
    state: &AppState,
    caller: Caller,
    headers: &HeaderMap,
) -> Result<(String, SessionOwner), AppError> {
    let token = session_token(headers).ok_or(AppError::NoSession)?;
    let owner = state
        .store
        .resolve_session(&token_digest(token), unix_now())
        .await?
        .ok_or(AppError::NoSession)?;
    if caller.user.is_some_and(|user| user != owner.user_id) {
        return Err(AppError::NoSession);
    }
    Ok((token.to_string(), owner))
}

/// The account, once the password offered for it checks out, within the attempt limits.
async fn confirm_password(
    state: &AppState,
    headers: &HeaderMap,
    owner: &SessionOwner,
    offered: String,
) -> Result<AccountRecord, AppError> {
    state.limits.check_client(forwarded_client(headers))?;
    state
        .limits
        .check_account(&canonical_form(&owner.user_name))?;
    let account = state
        .store
        .account(owner.user_id)
        .await?
        .ok_or(AppError::NoSession)?;
    let stored = Some(account.password_hash.clone());
    if state
        .hasher
        .verify(Password::offered(&offered), stored)
        .await?
    {
        Ok(account)
    } else {
        Err(AppError::BadCredentials)
    }
}
